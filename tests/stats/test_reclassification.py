"""NRI and IDI (binary outcome and at a survival horizon).

References:
* ``Hmisc::improveProb`` printed by R 4.2.2 / Hmisc 4.8 on MASS::birthwt (tests/data/birthwt.csv)
  for ``glm(low ~ age + lwt)`` (old) vs ``glm(low ~ age + lwt + smoke + ptl + ht + ui)`` (new),
  and on the risk categories ``findInterval(p, c(.2, .4))`` scaled to [0, 1] — hard-coded;
* the same through the bridge (``@pytest.mark.r``) to 1e-9;
* at a horizon: a hand computation of the IPCW weights on 8 subjects, the identity
  ``sum of event weights / n = 1 - KM(t)``, and the reduction to the binary estimates when nobody
  is censored before t; the R engine (survfit-based weights in r/reclassification.R) on the same
  bootstrap resamples to 1e-9.
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from her2stats.errors import InputError
from her2stats.stats.reclassification import reclassification, reclassification_at_horizon


def _logit_fit(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    X = np.column_stack([np.ones(len(y)), X])
    b = np.zeros(X.shape[1])
    for _ in range(50):
        p = 1 / (1 + np.exp(-X @ b))
        step = np.linalg.solve(X.T @ (X * (p * (1 - p))[:, None]), X.T @ (y - p))
        b += step
        if np.abs(step).max() < 1e-13:
            break
    return 1 / (1 + np.exp(-X @ b))


@pytest.fixture(scope="module")
def bw(test_data_dir):
    d = pd.read_csv(test_data_dir / "birthwt.csv")
    y = d["low"].to_numpy()
    p0 = _logit_fit(d[["age", "lwt"]].to_numpy(float), y)
    p1 = _logit_fit(d[["age", "lwt", "smoke", "ptl", "ht", "ui"]].to_numpy(float), y)
    return y, p0, p1


@pytest.fixture(scope="module")
def lung_risks(test_data_dir):
    d = pd.read_csv(test_data_dir / "lung.csv").dropna(subset=["ph.ecog"]).reset_index(drop=True)
    old = 1 / (1 + np.exp(-(-3 + 0.03 * d["age"])))
    new = 1 / (1 + np.exp(-(-3 + 0.03 * d["age"] + 0.5 * d["ph.ecog"] - 0.5 * (d["sex"] - 1))))
    return d["time"].to_numpy(float), (d["status"] - 1).to_numpy(), old.to_numpy(), new.to_numpy()


# --------------------------------------------------------------------------- Hmisc printout
def test_binary_matches_improveprob_printout(bw):
    y, p0, p1 = bw
    res = reclassification(y, p0, p1, cutoffs=[0.2, 0.4], engine="python")
    c = res.nri_continuous
    assert c.estimate == pytest.approx((0.68161669, 0.05084746, 0.63076923), abs=5e-9)
    assert c.se == pytest.approx((0.14675524, 0.13002050, 0.06805711), abs=5e-9)
    assert c.p_value[0] == pytest.approx(3.407666e-06, rel=1e-6)
    assert c.ci_low == pytest.approx((0.3939817, -0.2039880, 0.4973797), abs=5e-8)
    assert (c.up_events, c.up_nonevents, c.down_events, c.down_nonevents) == pytest.approx(
        (0.5254237, 0.1846154, 0.4745763, 0.8153846), abs=5e-8)
    i = res.idi
    assert (i.estimate, i.se, i.ci_low, i.ci_high) == pytest.approx((9.504376e-02, 2.439080e-02, 4.723867e-02,
                                                                     1.428489e-01), abs=5e-8)
    assert (i.improve_sens, i.improve_spec) == pytest.approx((0.06537402, 0.02966975), abs=5e-9)
    assert i.slope_new - i.slope_old == pytest.approx(i.estimate, abs=1e-15)
    k = res.nri
    assert k.estimate == pytest.approx((0.3740548, 0.1355932, 0.2384615), abs=5e-8)
    assert k.se == pytest.approx((0.09634122, 0.08113539, 0.05194882), abs=5e-9)
    assert (k.up_events, k.up_nonevents, k.down_events, k.down_nonevents) == pytest.approx(
        (0.27118644, 0.08461538, 0.13559322, 0.32307692), abs=5e-9)
    assert (res.n_events, res.n_nonevents) == (59, 130)


def test_categorical_tables_and_pencina_formula(bw):
    y, p0, p1 = bw
    k = reclassification(y, p0, p1, cutoffs=[0.2, 0.4], engine="python").nri
    te, tn = k.table_events.to_numpy(), k.table_nonevents.to_numpy()
    assert te.sum() == 59 and tn.sum() == 130
    up_e, down_e = np.triu(te, 1).sum(), np.tril(te, -1).sum()
    up_n, down_n = np.triu(tn, 1).sum(), np.tril(tn, -1).sum()
    # Pencina et al. (2008): NRI = (up_e - down_e)/n_e - (up_ne - down_ne)/n_ne, from the tables
    assert k.nri == pytest.approx((up_e - down_e) / 59 - (up_n - down_n) / 130, abs=1e-15)
    assert list(k.table_events.columns) == ["[0, 0.2)", "[0.2, 0.4)", "[0.4, 1]"]


def test_risk_on_a_cutoff_goes_up():
    y = np.array([1, 1, 0, 0, 1, 0])
    old = np.array([0.1, 0.15, 0.1, 0.3, 0.2, 0.5])
    new = np.array([0.2, 0.1, 0.1, 0.3, 0.19, 0.5])   # 0.1 -> 0.2 (on the cut-off): up
    k = reclassification(y, old, new, cutoffs=[0.2], engine="python").nri
    assert (k.up_events, k.down_events) == (pytest.approx(1 / 3), pytest.approx(1 / 3))


def test_bad_inputs(bw):
    y, p0, p1 = bw
    with pytest.raises(InputError, match="p_new must be predicted probabilities in \\[0, 1\\]"):
        reclassification(y, p0, p1 * 3, engine="python")
    with pytest.raises(InputError, match="cutoffs must be strictly increasing"):
        reclassification(y, p0, p1, cutoffs=[0.4, 0.2], engine="python")
    with pytest.raises(InputError, match="y must be coded 0/1 \\(1 = event\\)"):
        reclassification(y + 1, p0, p1, engine="python")
    with pytest.raises(InputError, match="same length"):
        reclassification(y[:-1], p0, p1, engine="python")
    p = p1.copy()
    p[[3, 7]] = np.nan
    with pytest.warns(UserWarning, match=r"reclassification: dropped 2 of 189 rows with missing values in 'p_new' \(2\)"):
        res = reclassification(y, p0, p, engine="python")
    assert res.n == 187 and res.n_excluded == 2


# --------------------------------------------------------------------------- horizon
def test_horizon_hand_computation():
    """8 subjects, horizon 5. Censoring KM G (censorings at 2 and 6): G(t) = 1 before 2, then
    1 - 1/7 = 6/7 (7 at risk at time 2), then 6/7 * (1 - 1/2) = 3/7 at 6 (2 at risk).
    Events by 5: times 1, 3, 4 -> weights 1/G(1-) = 1, 1/G(3-) = 7/6, 1/G(4-) = 7/6.
    Event-free at 5: times 6 (censored), 8, and 5.5 (event after 5) -> weight 1/G(5) = 7/6.
    Censored before 5: time 2 -> weight 0."""
    t = np.array([1.0, 2.0, 3.0, 4.0, 5.5, 6.0, 7.0, 8.0])
    e = np.array([1, 0, 1, 1, 1, 0, 1, 0])
    old = np.array([0.2, 0.5, 0.3, 0.6, 0.4, 0.1, 0.3, 0.2])
    new = np.array([0.3, 0.1, 0.2, 0.7, 0.3, 0.2, 0.35, 0.1])
    res = reclassification_at_horizon(t, e, old, new, horizon=5, n_boot=50, seed=1, engine="python")
    w_ev = np.array([1.0, 7 / 6, 7 / 6])            # subjects 1, 3, 4 (ups: 1 and 4; down: 3)
    d_ev = np.array([0.1, -0.1, 0.1])
    up_e = (w_ev[0] + w_ev[2]) / w_ev.sum()
    down_e = w_ev[1] / w_ev.sum()
    d_ne = np.array([-0.1, 0.1, 0.05, -0.1])         # 5.5, 6, 7, 8: equal weights
    up_n, down_n = 2 / 4, 2 / 4
    c = res.nri_continuous
    assert c.nri_events == pytest.approx(up_e - down_e, abs=1e-14)
    assert c.nri_nonevents == pytest.approx(down_n - up_n, abs=1e-14)
    assert res.idi.estimate == pytest.approx((w_ev @ d_ev) / w_ev.sum() - d_ne.mean(), abs=1e-14)
    assert (res.n_events, res.n_nonevents, res.n_censored_before) == (3, 4, 1)


def test_horizon_event_weights_reproduce_km(lung_risks):
    """Satten & Datta (2001): with distinct times, IPCW with the Kaplan-Meier censoring weights
    reproduces the Kaplan-Meier estimate exactly (ties are broken here without changing the order)."""
    from her2stats.stats.reclassification import _ipcw
    from her2stats.stats.survival import kaplan_meier

    t, e, _, _ = lung_risks
    t = t + 1e-4 * np.arange(len(t)) / len(t)
    y, w = _ipcw(t, e, 365.0)
    km = kaplan_meier(pd.DataFrame({"t": t, "e": e}), "t", "e", engine="python").survival_at([365.0])
    assert w[y == 1].sum() / len(t) == pytest.approx(1 - km["survival"].iloc[0], abs=1e-12)
    assert w[y == 0].sum() / len(t) == pytest.approx(km["survival"].iloc[0], abs=1e-12)


def test_horizon_without_early_censoring_equals_binary(bw):
    y, p0, p1 = bw
    t = np.where(y == 1, 1.0 + np.arange(len(y)) % 5, 10.0 + np.arange(len(y)) % 3)   # events by 6, others after
    e = np.where(y == 1, 1, np.arange(len(y)) % 2)                                    # censoring only after 6
    h = reclassification_at_horizon(t, e, p0, p1, horizon=6, cutoffs=[0.2, 0.4], n_boot=20, seed=2, engine="python")
    b = reclassification(y, p0, p1, cutoffs=[0.2, 0.4], engine="python")
    assert h.nri_continuous.estimate == pytest.approx(b.nri_continuous.estimate, abs=1e-14)
    assert h.nri.estimate == pytest.approx(b.nri.estimate, abs=1e-14)
    assert h.idi.estimate == pytest.approx(b.idi.estimate, abs=1e-14)
    assert h.nri.table_events.to_numpy() == pytest.approx(b.nri.table_events.to_numpy(), abs=1e-12)


def test_horizon_bootstrap_seeded_and_worker_independent(lung_risks):
    t, e, old, new = lung_risks
    a = reclassification_at_horizon(t, e, old, new, horizon=365, n_boot=120, seed=11, engine="python")
    b = reclassification_at_horizon(t, e, old, new, horizon=365, n_boot=120, seed=11, engine="python",
                                    scheduler="threads")
    assert a.to_frame().equals(b.to_frame())
    c = reclassification_at_horizon(t, e, old, new, horizon=365, n_boot=120, seed=12, engine="python")
    assert c.idi.se != a.idi.se
    assert a.idi.ci_low < a.idi.estimate < a.idi.ci_high


def test_horizon_bad_inputs(lung_risks):
    t, e, old, new = lung_risks
    with pytest.raises(InputError, match="nobody is followed event-free beyond the horizon 2000"):
        reclassification_at_horizon(t, e, old, new, horizon=2000, engine="python")
    with pytest.raises(InputError, match="n_boot must be an integer >= 10"):
        reclassification_at_horizon(t, e, old, new, horizon=300, n_boot=5, engine="python")
    with pytest.raises(InputError, match="event column 'event' must be coded 0 = censored / 1 = event"):
        reclassification_at_horizon(t, e + 1, old, new, horizon=300, engine="python")


def test_plot_draws(bw):
    y, p0, p1 = bw
    ax = reclassification(y, p0, p1, cutoffs=[0.2, 0.4], engine="python").plot()
    assert len(ax.collections) == 2
    import matplotlib.pyplot as plt

    plt.close("all")


# --------------------------------------------------------------------------- R parity
@pytest.mark.r
@pytest.mark.parametrize("cutoffs", [None, [0.2, 0.4], [0.1, 0.25, 0.5]])
def test_binary_parity_with_hmisc(bw, cutoffs):
    y, p0, p1 = bw
    p = reclassification(y, p0, p1, cutoffs=cutoffs, engine="python").to_frame()
    r = reclassification(y, p0, p1, cutoffs=cutoffs, engine="r").to_frame()
    for col in ("estimate", "se", "z", "p_value", "ci_low", "ci_high"):
        assert p[col].to_numpy() == pytest.approx(r[col].to_numpy(), abs=1e-9), col


@pytest.mark.r
@pytest.mark.parametrize(("horizon", "cutoffs"), [(365.0, [0.3, 0.6]), (180.0, None), (500.0, [0.5])])
def test_horizon_parity(lung_risks, horizon, cutoffs):
    t, e, old, new = lung_risks
    p = reclassification_at_horizon(t, e, old, new, horizon=horizon, cutoffs=cutoffs, n_boot=100, seed=5,
                                    engine="python")
    r = reclassification_at_horizon(t, e, old, new, horizon=horizon, cutoffs=cutoffs, n_boot=100, seed=5, engine="r")
    pf, rf = p.to_frame(), r.to_frame()
    for col in ("estimate", "se", "p_value", "ci_low", "ci_high"):
        assert pf[col].to_numpy() == pytest.approx(rf[col].to_numpy(), abs=1e-9), col
    if cutoffs is not None:
        assert p.nri.table_events.to_numpy() == pytest.approx(r.nri.table_events.to_numpy(), abs=1e-9)
