"""Restricted mean survival time on survival::lung and the pbc trial (survRM2's example data).

References:
* ``print(survfit(Surv(time, status) ~ sex, lung), rmean = 365)`` printed by R 4.2.2 /
  survival 3.5-3: rmean 241.49509 (se 10.358226) and 297.46541 (se 10.791324) — hard-coded;
* Uno et al. (2014) / the survRM2 vignette: pbc randomised patients (312), years, tau = 10,
  "the difference in RMST was -0.137 years" (D-penicillamine minus placebo);
* without censoring the RMST is the sample mean of min(T, tau) (closed form);
* the R engine (survival + the same contrast formulas in r/rmst.R) through the bridge.
Tolerances: 1e-9 against R on the same data; printed precision for hard-coded values.
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from her2stats.errors import InputError
from her2stats.stats.rmst import rmst


@pytest.fixture(scope="module")
def lung(test_data_dir):
    return pd.read_csv(test_data_dir / "lung.csv").assign(dead=lambda d: d["status"] - 1)


@pytest.fixture(scope="module")
def pbc(test_data_dir):
    """survRM2::rmst2.sample.data(): the 312 randomised pbc patients, years, death = event."""
    d = pd.read_csv(test_data_dir / "pbc.csv").iloc[:312]
    return pd.DataFrame({"time": d["time"] / 365.25, "status": (d["status"] == 2).astype(int),
                         "arm": (d["trt"] == 1).astype(int)})


def test_lung_matches_survival_printout(lung):
    res = rmst(lung, "time", "dead", group="sex", tau=365, engine="python")
    g = res.groups.set_index("group")
    assert g["rmst"].to_numpy() == pytest.approx([241.49509, 297.46541], abs=5e-6)
    assert g["se"].to_numpy() == pytest.approx([10.358226, 10.791324], abs=5e-7)
    assert g["n"].tolist() == [138, 90] and g["events"].tolist() == [112, 53]
    c = res.contrasts.set_index("contrast")
    d = 297.46541 - 241.49509
    assert c.loc["RMST difference", "estimate"] == pytest.approx(d, abs=1e-5)
    assert c.loc["RMST difference", "se"] == pytest.approx(np.hypot(10.358226, 10.791324), abs=1e-6)
    assert c.loc["RMTL ratio", "estimate"] == pytest.approx((365 - 297.46541) / (365 - 241.49509), abs=1e-7)


def test_pbc_matches_survrm2_vignette(pbc):
    res = rmst(pbc, "time", "status", group="arm", tau=10, reference=0, engine="python")
    c = res.contrasts.set_index("contrast")
    assert round(c.loc["RMST difference", "estimate"], 3) == -0.137
    assert len(pbc) == 312 and res.groups["n"].tolist() == [154, 158]


def test_no_censoring_is_mean_of_truncated_times():
    rng = np.random.default_rng(7)
    t = rng.exponential(5, 60).round(2) + 0.01
    df = pd.DataFrame({"t": t, "e": 1, "g": np.repeat(["a", "b"], 30)})
    res = rmst(df, "t", "e", group="g", tau=4.0, engine="python").groups
    for lv, r in res.set_index("group").iterrows():
        assert r["rmst"] == pytest.approx(np.minimum(t[df.g == lv], 4.0).mean(), rel=1e-12)


def test_contrast_formulas(lung):
    res = rmst(lung, "time", "dead", group="sex", tau=500, level=0.9, engine="python")
    g = res.groups.set_index("group")
    (m1, s1), (m2, s2) = g.loc[1, ["rmst", "se"]], g.loc[2, ["rmst", "se"]]
    c = res.contrasts.set_index("contrast")
    z = 1.6448536269514722
    slr = np.sqrt(s1 ** 2 / m1 ** 2 + s2 ** 2 / m2 ** 2)
    assert c.loc["RMST ratio", "estimate"] == pytest.approx(m2 / m1, rel=1e-12)
    assert c.loc["RMST ratio", "ci_low"] == pytest.approx(m2 / m1 * np.exp(-z * slr), rel=1e-12)
    assert g.loc[1, "ci_high"] == pytest.approx(m1 + z * s1, rel=1e-12)
    assert g.loc[1, "rmtl"] == pytest.approx(500 - m1, rel=1e-12)


def test_default_tau_is_announced(lung):
    with pytest.warns(UserWarning, match=r"tau not given; using tau = 965"):
        res = rmst(lung, "time", "dead", group="sex", engine="python")
    assert res.tau == 965.0 and res.tau_source.startswith("default")


def test_tau_beyond_data_is_refused(lung):
    with pytest.raises(InputError, match=r"tau = 1000 is beyond the data: follow-up in group '2' of 'sex' ends at 965"):
        rmst(lung, "time", "dead", group="sex", tau=1000, engine="python")
    with pytest.raises(InputError, match="tau must be a positive finite time"):
        rmst(lung, "time", "dead", tau=-1, engine="python")
    with pytest.raises(InputError, match="reference 'x' is not a level of group column 'sex'"):
        rmst(lung, "time", "dead", group="sex", tau=300, reference="x", engine="python")


def test_dropped_rows_announced(lung):
    with pytest.warns(UserWarning, match=r"rmst: dropped 1 of 228 rows with missing values in 'ph.ecog' \(1\)"):
        res = rmst(lung, "time", "dead", group="ph.ecog", tau=100, engine="python")
    assert res.n_excluded == 1 and res.n == 227


def test_plot_and_frame(lung):
    res = rmst(lung, "time", "dead", group="sex", tau=365, engine="python")
    ax = res.plot()
    assert any("tau = 365" in t.get_text() for t in ax.texts)
    f = res.to_frame()
    assert f["quantity"].tolist() == ["RMST", "RMST", "RMST difference", "RMST ratio", "RMTL ratio"]
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.mark.r
@pytest.mark.parametrize(("kw"), [dict(group="sex", tau=365), dict(group="sex", tau=310.0), dict(tau=700),
                                  dict(group="sex", tau=965, reference=2), dict(group="ph.ecog", tau=200, level=0.9)])
def test_r_parity_lung(lung, kw):
    d = lung[lung["ph.ecog"] < 3] if kw.get("group") == "ph.ecog" else lung
    p = rmst(d, "time", "dead", engine="python", **kw)
    r = rmst(d, "time", "dead", engine="r", **kw)
    for col in ("rmst", "se", "ci_low", "ci_high", "rmtl"):
        assert p.groups[col].to_numpy() == pytest.approx(r.groups[col].to_numpy(), abs=1e-9), col
    assert len(p.contrasts) == len(r.contrasts)
    for col in ("estimate", "se", "ci_low", "ci_high", "p_value"):
        assert p.contrasts[col].to_numpy() == pytest.approx(r.contrasts[col].to_numpy(), abs=1e-9), col


@pytest.mark.r
def test_r_parity_pbc(pbc):
    p = rmst(pbc, "time", "status", group="arm", tau=10, engine="python")
    r = rmst(pbc, "time", "status", group="arm", tau=10, engine="r")
    assert p.groups["rmst"].to_numpy() == pytest.approx(r.groups["rmst"].to_numpy(), abs=1e-9)
    assert p.groups["se"].to_numpy() == pytest.approx(r.groups["se"].to_numpy(), abs=1e-9)
