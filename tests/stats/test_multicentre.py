"""Multicentre validation (issue 22): random-effects pooling against metafor and the published
BCG example, per-centre measures against pROC / rms val.prob / glm, the random-effects
calibration model against lme4, subgroup heterogeneity, and internal-external cross-validation.

Tolerances: closed forms (DeLong, O:E, Brier, net benefit, Q) 1e-9 or better; iterative fits
(REML tau^2 by Fisher scoring to a change below 1e-12 on both sides; calibration intercept and
slope by Newton / glm with epsilon 1e-14, restarted at the estimate) 1e-9 relative on every
per-centre and pooled number, far inside the 1e-6 asked for; rms val.prob's slope (its own lrm
tolerance) 1e-7; the Laplace GLMM against lme4 (bobyqa with rhoend = 1e-10, tolPwrss = 1e-12, after a
bobyqa and a Nelder-Mead start): 1e-6 absolute on the fixed effects, variance parameters, curves
and deviance and 1e-4 relative on lme4's finite-difference-Hessian covariance in a regular fit;
in singular fits (variance parameters on the boundary) the Python deviance is at or below lme4's
and the numbers agree to 3e-5 (covariance 2e-3 relative), lme4 stopping short on the boundary.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

import her2stats as h2
from her2stats.errors import InputError
from her2stats.stats.multicentre import (clustered_calibration, internal_external_cv, pool_random_effects,
                                         subgroup_performance, validate_by_centre)


# --------------------------------------------------------------------------- data
@pytest.fixture(scope="module")
def bcg(test_data_dir):
    d = pd.read_csv(test_data_dir / "dat_bcg.csv")
    yi = np.log((d.tpos / (d.tpos + d.tneg)) / (d.cpos / (d.cpos + d.cneg)))
    vi = 1 / d.tpos - 1 / (d.tpos + d.tneg) + 1 / d.cpos - 1 / (d.cpos + d.cneg)
    return yi.to_numpy(), vi.to_numpy(), d.author.tolist()


@pytest.fixture(scope="module")
def demo():
    """Demo cohort with a fixed (not fitted) risk score: validation, not apparent performance."""
    df = h2.load_demo()
    lp = -4.2 + 0.03 * df.age + 0.05 * df.ki67 - 0.5 * (df.er == "positive") + 0.02 * df.tumor_size_mm
    df = df.assign(p=1 / (1 + np.exp(-lp)), y=df.her2_positive.astype(int))
    return df


def _sim_clustered(seed: int = 11, K: int = 12, n: int = 90, tau0: float = 0.5, tau1: float = 0.3):
    """Clustered predictions with centre-specific miscalibration (intercept and slope)."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(K), n)
    L = rng.normal(-0.6, 1.1, K * n)
    a = rng.normal(0, tau0, K)
    b = rng.normal(0, tau1, K)
    y = (rng.uniform(size=K * n) < 1 / (1 + np.exp(-(0.2 + a[g] + (0.8 + b[g]) * L)))).astype(int)
    return y, 1 / (1 + np.exp(-L)), np.array([f"c{k:02d}" for k in g])


# --------------------------------------------------------------------------- pooling
def test_pool_reproduces_published_bcg_example(bcg):
    """Viechtbauer (2010, J Stat Softw 36(3)): REML tau^2 = 0.3132, mu = -0.7145, I^2 = 92.22%,
    Q(12) = 152.2330 (printed to 4 decimals)."""
    yi, vi, lab = bcg
    res = pool_random_effects(yi, vi, labels=lab, engine="python")
    assert res.tau2 == pytest.approx(0.3132, abs=5e-5)
    assert res.estimate == pytest.approx(-0.7145, abs=5e-5)
    assert res.i2 == pytest.approx(92.22, abs=5e-3)
    assert res.q == pytest.approx(152.2330, abs=5e-5)
    assert res.k == 13
    assert res.studies["weight"].sum() == pytest.approx(100.0)


@pytest.mark.r
@pytest.mark.parametrize("pi_type", ["metafor", "riley"])
def test_pool_matches_metafor(bcg, pi_type):
    yi, vi, _ = bcg
    py = pool_random_effects(yi, vi, transform="exp", pi_type=pi_type, engine="python")
    r = pool_random_effects(yi, vi, transform="exp", pi_type=pi_type, engine="r")
    for k in ("estimate", "se", "ci_low", "ci_high", "pi_low", "pi_high", "tau2", "i2", "q", "q_p"):
        assert getattr(py, k) == pytest.approx(getattr(r, k), rel=1e-9, abs=1e-12), k
    # metafor's own numbers for the KH interval (rma(..., test="knha"), predict): exp scale
    assert r.ci_low == pytest.approx(math.exp(-1.10844371369), rel=1e-9)
    assert py.pi_high > py.ci_high


@pytest.mark.r
def test_pool_boundary_tau2_zero_and_two_studies():
    """tau^2 truncated at 0 (homogeneous studies) and k = 2 (t with 1 df) agree with metafor."""
    yi = np.array([0.10, 0.12, 0.09, 0.11])
    vi = np.array([0.04, 0.05, 0.03, 0.06])
    for y, v in ((yi, vi), (yi[:2], vi[:2])):
        py = pool_random_effects(y, v, engine="python")
        r = pool_random_effects(y, v, engine="r")
        assert py.tau2 == 0.0 and r.tau2 == pytest.approx(0.0, abs=1e-12)
        for k in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high", "i2", "q", "q_p"):
            assert getattr(py, k) == pytest.approx(getattr(r, k), rel=1e-9, abs=1e-12), k


def test_pool_formulas_by_hand(bcg):
    """Knapp-Hartung SE and the prediction interval from their definitions at the REML tau^2."""
    from scipy import stats

    yi, vi, _ = bcg
    res = pool_random_effects(yi, vi, engine="python")
    w = 1 / (vi + res.tau2)
    mu = np.sum(w * yi) / w.sum()
    se = math.sqrt(np.sum(w * (yi - mu) ** 2) / ((len(yi) - 1) * w.sum()))
    t = stats.t.ppf(0.975, len(yi) - 1)
    assert res.estimate == pytest.approx(mu, rel=1e-12)
    assert res.ci_low == pytest.approx(mu - t * se, rel=1e-12)
    assert res.pi_high == pytest.approx(mu + t * math.sqrt(se ** 2 + res.tau2), rel=1e-12)
    # REML score equation tr(P) = y'PPy holds at the estimate
    P = np.diag(w) - np.outer(w, w) / w.sum()
    assert np.trace(P) == pytest.approx(yi @ P @ P @ yi, rel=1e-9)


# --------------------------------------------------------------------------- validate_by_centre
def test_per_centre_measures_by_definition(demo):
    res = validate_by_centre(demo.y, demo.p, demo.center, thresholds=[0.2, 0.3], n_boot=200, seed=3,
                             engine="python")
    pc = res.per_centre.set_index("centre")
    assert list(pc.index) == ["A", "B", "C"]
    for c, d in demo.groupby("center", observed=True):
        n, o = len(d), int(d.y.sum())
        assert pc.loc[c, "n"] == n and pc.loc[c, "events"] == o
        assert pc.loc[c, "oe"] == pytest.approx(o / d.p.sum(), rel=1e-12)
        se = math.sqrt(1 / o - 1 / n)
        assert pc.loc[c, "oe_ci_high"] == pytest.approx(o / d.p.sum() * math.exp(1.959963984540054 * se), rel=1e-12)
        assert pc.loc[c, "brier"] == pytest.approx(np.mean((d.p - d.y) ** 2), rel=1e-12)
        tp = np.mean((d.p >= 0.2) & (d.y == 1))
        fp = np.mean((d.p >= 0.2) & (d.y == 0))
        assert pc.loc[c, "net_benefit@0.2"] == pytest.approx(tp - fp * 0.25, abs=1e-12)
        assert pc.loc[c, "ici_ci_low"] <= pc.loc[c, "ici"] <= pc.loc[c, "ici_ci_high"]
    assert set(res.pooled.index) == {"auc", "oe", "intercept", "slope", "brier", "net_benefit@0.2", "net_benefit@0.3"}
    assert (res.pooled["k"] == 3).all()
    # the AUC pool uses logit(AUC) with the delta-method DeLong variance
    est = res.estimates[res.estimates.measure == "auc"]
    a = pc["auc"].to_numpy()
    assert np.allclose(est.yi, np.log(a / (1 - a)), rtol=1e-12)
    direct = pool_random_effects(est.yi, est.vi, transform="expit", engine="python")
    assert res.pooled.loc["auc", "estimate"] == pytest.approx(direct.estimate, rel=1e-12)
    assert res.pooled.loc["auc", "pi_low"] == pytest.approx(direct.pi_low, rel=1e-12)


@pytest.mark.r
def test_per_centre_matches_proc_and_val_prob(demo):
    """Python per-centre numbers against pROC (ci.auc DeLong) and rms::val.prob (slope), 1e-9 / 1e-7."""
    from her2stats import r_bridge

    res = validate_by_centre(demo.y, demo.p, demo.center, n_boot=50, seed=1, engine="python")
    pc = res.per_centre.set_index("centre")
    for c, d in demo.groupby("center", observed=True):
        a = r_bridge.call("h2s_roc_auc", y=d.y.to_numpy(np.int32), score=d.p.to_numpy(), direction="<",
                          ci_method="delong", level=0.95)
        assert pc.loc[c, "auc"] == pytest.approx(a["auc"], abs=1e-12)
        assert pc.loc[c, "auc_ci_low"] == pytest.approx(a["ci_low"], abs=1e-9)
        assert pc.loc[c, "auc_ci_high"] == pytest.approx(a["ci_high"], abs=1e-9)
        v = r_bridge.call("h2s_val_prob", d.p.to_numpy(), d.y.to_numpy(np.int32))
        assert pc.loc[c, "slope"] == pytest.approx(v["stats"]["Slope"], abs=1e-7)
        assert pc.loc[c, "brier"] == pytest.approx(v["stats"]["Brier"], abs=1e-12)
        # ICI = val.prob's Eavg (mean |p - lowess calibration curve|)
        assert pc.loc[c, "ici"] == pytest.approx(v["stats"]["Eavg"], abs=1e-9)


@pytest.mark.r
def test_validate_by_centre_engines_agree(demo):
    kw = dict(thresholds=[0.15, 0.3], n_boot=100, seed=7)
    py = validate_by_centre(demo.y, demo.p, demo.center, engine="python", **kw)
    r = validate_by_centre(demo.y, demo.p, demo.center, engine="r", **kw)
    assert py.engine == "python" and r.engine == "r"
    num = py.per_centre.select_dtypes("number").columns
    pd.testing.assert_frame_equal(py.per_centre[num], r.per_centre[num], rtol=1e-9, atol=1e-11)
    cols = ["estimate", "ci_low", "ci_high", "pi_low", "pi_high", "tau2", "q", "q_p", "k"]
    pd.testing.assert_frame_equal(py.pooled[cols], r.pooled[cols], rtol=1e-9, atol=1e-11)
    assert np.allclose(py.pooled["i2"], r.pooled["i2"], rtol=1e-9, atol=1e-9)


def _with_small_centres(demo: pd.DataFrame) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    d1 = pd.DataFrame({"center": "D", "y": 0, "p": rng.uniform(0.05, 0.5, 20)})       # one class
    d2 = pd.DataFrame({"center": "E", "y": [1, 1, 1] + [0] * 27, "p": rng.uniform(0.05, 0.6, 30)})  # 3 events
    out = pd.concat([demo[["center", "y", "p"]].astype({"center": str}), d1, d2], ignore_index=True)
    return out


@pytest.mark.parametrize("engine", ["python", pytest.param("r", marks=pytest.mark.r)])
def test_small_centres_reported_and_left_out(demo, engine):
    d = _with_small_centres(demo)
    with pytest.warns(UserWarning, match="2 centre\\(s\\) left out of the pooled estimates") as rec:
        res = validate_by_centre(d.y, d.p, d.center, min_events=5, n_boot=50, seed=1, engine=engine)
    msg = " ".join(str(w.message) for w in rec)
    assert "D: one outcome class only" in msg and "E: fewer than min_events=5" in msg
    pc = res.per_centre.set_index("centre")
    assert list(pc.index) == ["A", "B", "C", "D", "E"]
    assert pc.loc[["A", "B", "C"], "pooled"].all() and not pc.loc["D", "pooled"] and not pc.loc["E", "pooled"]
    assert pc.loc["D", "n"] == 20 and pc.loc["D", "events"] == 0 and np.isnan(pc.loc["D", "auc"])
    assert np.isfinite(pc.loc["E", "auc"])  # reported, not pooled
    assert (res.pooled["k"] == 3).all()
    ref = validate_by_centre(demo.y, demo.p, demo.center.astype(str), n_boot=50, seed=1, engine=engine)
    pd.testing.assert_frame_equal(res.pooled, ref.pooled)


def test_measure_not_estimable_left_out_of_that_pool_only(demo):
    """A centre whose predictions separate the outcomes: AUC = 1 and no slope -> both pools drop it."""
    rng = np.random.default_rng(2)
    sep = pd.DataFrame({"center": "S", "y": [0] * 30 + [1] * 10,
                        "p": np.r_[rng.uniform(0.05, 0.3, 30), rng.uniform(0.4, 0.9, 10)]})
    d = pd.concat([demo[["center", "y", "p"]].astype({"center": str}), sep], ignore_index=True)
    with pytest.warns(UserWarning, match="S left out"):
        res = validate_by_centre(d.y, d.p, d.center, n_boot=50, seed=1, engine="python")
    assert res.per_centre.set_index("centre").loc["S", "auc"] == 1.0
    assert res.pooled.loc["auc", "k"] == 3 and res.pooled.loc["slope", "k"] == 3 and res.pooled.loc["oe", "k"] == 4
    assert "separates" in res.per_centre.set_index("centre").loc["S", "note"]


def test_bootstrap_ici_seeded_and_scheduler_free(demo):
    a = validate_by_centre(demo.y, demo.p, demo.center, n_boot=150, seed=11, engine="python")
    b = validate_by_centre(demo.y, demo.p, demo.center, n_boot=150, seed=11, engine="python", scheduler="threads")
    pd.testing.assert_frame_equal(a.per_centre, b.per_centre)


def test_forest_plot(demo):
    import matplotlib

    matplotlib.use("Agg")
    res = validate_by_centre(demo.y, demo.p, demo.center, thresholds=[0.2], n_boot=50, seed=1, engine="python")
    fig = res.plot(measures=("auc", "oe", "slope", "net_benefit@0.2"))
    assert len(fig.axes) == 4
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels[:3] == ["A", "B", "C"] and labels[-1].startswith("Pooled")
    with pytest.raises(InputError, match="unknown measure"):
        res.plot(measures=("nri",))
    est = res.estimates[res.estimates.measure == "oe"]
    ax = pool_random_effects(est.yi, est.vi, labels=est.centre, transform="exp", engine="python").plot()
    assert [t.get_text() for t in ax.get_yticklabels()][:3] == ["A", "B", "C"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ax = clustered_calibration(demo.y, demo.p, demo.center, engine="python").plot()
    assert ax.get_xlabel() == "Predicted probability"
    ax = subgroup_performance(demo.y, demo.p, demo[["menopause"]], n_boot=20, seed=1, engine="python").plot("slope")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["menopause: pre (n=176)", "menopause: post (n=224)"]
    import matplotlib.pyplot as plt

    plt.close("all")


# --------------------------------------------------------------------------- clustered calibration
@pytest.mark.r
def test_clustered_calibration_matches_lme4():
    y, p, g = _sim_clustered()
    py = clustered_calibration(y, p, g, engine="python")
    r = clustered_calibration(y, p, g, engine="r")
    assert not py.singular and not r.singular
    assert py.deviance == pytest.approx(r.deviance, abs=1e-6)
    np.testing.assert_allclose(py.fixed["estimate"], r.fixed["estimate"], atol=1e-6)
    np.testing.assert_allclose(py.theta, r.theta, atol=1e-6)
    np.testing.assert_allclose(py.sigma, r.sigma, atol=1e-6)
    np.testing.assert_allclose(py.vcov, r.vcov, rtol=1e-4)
    np.testing.assert_allclose(py.per_centre[["intercept", "slope"]], r.per_centre[["intercept", "slope"]], atol=1e-5)
    for col in ("observed", "ci_low", "ci_high", "pi_low", "pi_high"):
        np.testing.assert_allclose(py.curve[col], r.curve[col], atol=1e-6)
    assert (py.curve.pi_low <= py.curve.ci_low).all() and (py.curve.pi_high >= py.curve.ci_high).all()


@pytest.mark.r
@pytest.mark.parametrize(("scenario", "atol", "v_rtol"), [((3, 5, 200, 0.2, 0.0), 1e-6, 1e-4),
                                                          ((6, 3, 150, 0.4, 0.2), 3e-5, 2e-3)])
def test_clustered_calibration_singular_fits_against_lme4(scenario, atol, v_rtol):
    """Variance parameters on the boundary. Scenario 1: lme4 with bobyqa alone stops at a point of
    deviance 1187.672; Nelder-Mead (and the Python fit) reach 1186.619 -- the R engine starts both
    optimizers and keeps the lower. Scenario 2 (3 centres): lme4's bobyqa stops ~1.5e-6 short of
    the minimum on the boundary, so its estimates agree to 3e-5 only; the Python deviance is lower."""
    y, p, g = _sim_clustered(*scenario)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        py = clustered_calibration(y, p, g, engine="python")
        r = clustered_calibration(y, p, g, engine="r")
    assert py.singular and r.singular
    assert py.deviance <= r.deviance + 1e-9 and py.deviance == pytest.approx(r.deviance, abs=1e-5)
    np.testing.assert_allclose(py.fixed["estimate"], r.fixed["estimate"], atol=atol)
    np.testing.assert_allclose(py.sigma, r.sigma, atol=atol)
    np.testing.assert_allclose(py.vcov, r.vcov, rtol=v_rtol)
    np.testing.assert_allclose(py.curve["pi_high"], r.curve["pi_high"], atol=atol)
    if scenario[0] == 3:
        assert py.deviance == pytest.approx(1186.6189403, abs=1e-6)


def test_clustered_calibration_recovers_truth():
    """Large simulated study: fixed effects near the truth (0.2, 0.8) and the SDs near (0.5, 0.3)."""
    y, p, g = _sim_clustered(seed=3, K=40, n=250)
    res = clustered_calibration(y, p, g, engine="python")
    est = res.fixed["estimate"]
    assert abs(est.iloc[0] - 0.2) < 3 * res.fixed["se"].iloc[0] and abs(est.iloc[1] - 0.8) < 3 * res.fixed["se"].iloc[1]
    sd = res.random["estimate"]
    assert 0.3 < sd.iloc[0] < 0.75 and 0.15 < sd.iloc[1] < 0.45
    assert len(res.per_centre) == 40 and set(res.centre_curves["centre"].unique()) == set(res.per_centre.centre)


def test_clustered_calibration_singular_fit_warns(demo):
    """Three demo centres with a well-calibrated score: the random effects collapse to 0."""
    with pytest.warns(UserWarning, match="singular fit"):
        res = clustered_calibration(demo.y, demo.p, demo.center, engine="python")
    assert res.singular
    np.testing.assert_allclose(res.curve.pi_low, res.curve.ci_low, atol=1e-6)


@pytest.mark.r
def test_clustered_calibration_singular_engines_agree(demo):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        py = clustered_calibration(demo.y, demo.p, demo.center, engine="python")
        r = clustered_calibration(demo.y, demo.p, demo.center, engine="r")
    np.testing.assert_allclose(py.fixed["estimate"], r.fixed["estimate"], atol=1e-5)
    assert py.deviance == pytest.approx(r.deviance, abs=1e-6)
    np.testing.assert_allclose(py.vcov, r.vcov, rtol=1e-4)


# --------------------------------------------------------------------------- subgroups
def test_subgroups_heterogeneity_by_hand(demo):
    from scipy import stats

    res = subgroup_performance(demo.y, demo.p, demo[["menopause", "field_strength"]], thresholds=[0.2],
                               n_boot=50, seed=1, engine="python")
    t = res.table
    assert list(t.variable.unique()) == ["menopause", "field_strength"]
    assert list(t[t.variable == "menopause"].subgroup) == ["pre", "post"]
    # Q for two subgroups = (y1 - y2)^2 / (v1 + v2)
    for var in ("menopause", "field_strength"):
        sub = t[t.variable == var]
        direct = validate_by_centre(demo.y, demo.p, demo[var], thresholds=[0.2], n_boot=50, seed=1, engine="python")
        e = direct.estimates[direct.estimates.measure == "auc"]
        q = (e.yi.iloc[0] - e.yi.iloc[1]) ** 2 / (e.vi.iloc[0] + e.vi.iloc[1])
        row = res.heterogeneity[(res.heterogeneity.variable == var) & (res.heterogeneity.measure == "auc")].iloc[0]
        assert row.q == pytest.approx(q, rel=1e-12) and row.p_value == pytest.approx(stats.chi2.sf(q, 1), rel=1e-12)
        assert np.allclose(sub.auc, direct.per_centre.auc, rtol=1e-12)
    adj = h2.p_adjust(res.heterogeneity.p_value.to_numpy(), method="holm")
    np.testing.assert_allclose(res.heterogeneity.p_adjusted, adj, rtol=1e-12)


@pytest.mark.r
def test_subgroups_engines_agree(demo):
    kw = dict(thresholds=[0.2], n_boot=50, seed=1, p_adjust="fdr_bh")
    groups = {"menopause": demo.menopause, "manufacturer": demo.manufacturer, "grade": demo.grade}
    py = subgroup_performance(demo.y, demo.p, groups, engine="python", **kw)
    r = subgroup_performance(demo.y, demo.p, groups, engine="r", **kw)
    num = py.table.select_dtypes("number").columns
    pd.testing.assert_frame_equal(py.table[num], r.table[num], rtol=1e-9, atol=1e-11)
    for c in ("q", "df", "p_value", "p_adjusted", "k"):
        np.testing.assert_allclose(py.heterogeneity[c].astype(float), r.heterogeneity[c].astype(float), rtol=1e-9)


def test_subgroup_banded_age_and_missing_values(demo):
    age_band = pd.cut(demo.age, [0, 50, 65, 120], labels=["<50", "50-64", ">=65"])
    age_band = age_band.astype(object).where(demo.index % 25 != 0, None)  # some missing bands
    with pytest.warns(UserWarning, match="16 row\\(s\\) with a missing value"):
        res = subgroup_performance(demo.y, demo.p, {"age": age_band}, n_boot=50, seed=1, engine="python")
    assert res.table.n.sum() == len(demo) - 16
    assert list(res.table.subgroup) == ["50-64", "<50", ">=65"]  # text labels sorted as text


# --------------------------------------------------------------------------- internal-external CV
class _RecordingLogistic:
    """Callable pipeline: logistic regression on two predictors; records the training centres."""

    def __init__(self):
        self.seen: list[tuple[frozenset, frozenset]] = []

    def __call__(self, train: pd.DataFrame, valid: pd.DataFrame) -> np.ndarray:
        from her2stats.stats.models import newton_logistic

        self.seen.append((frozenset(train.center), frozenset(valid.center)))
        X = np.column_stack([np.ones(len(train)), train.ki67, train.tumor_size_mm])
        b, _, ok = newton_logistic(X, train.y.to_numpy(float))
        assert ok
        Xv = np.column_stack([np.ones(len(valid)), valid.ki67, valid.tumor_size_mm])
        return 1 / (1 + np.exp(-(Xv @ b)))


def test_iecv_never_trains_on_the_held_out_centre(demo):
    pipe = _RecordingLogistic()
    d = demo[["center", "y", "ki67", "tumor_size_mm"]]
    res = internal_external_cv(d, pipe, "y", "center", n_boot=50, seed=1, engine="python")
    assert len(pipe.seen) == 3
    for train, valid in pipe.seen:
        assert len(valid) == 1 and not (train & valid) and len(train) == 2
    assert list(res.folds.held_out) == ["A", "B", "C"]
    assert (res.folds.n_train + res.folds.n_valid == len(d)).all()
    # same numbers as validating hand-made leave-one-centre-out predictions
    p = pd.Series(np.nan, index=d.index)
    for c in ("A", "B", "C"):
        p[d.center == c] = _RecordingLogistic()(d[d.center != c], d[d.center == c])
    ref = validate_by_centre(d.y, p, d.center, n_boot=50, seed=1, engine="python")
    pd.testing.assert_frame_equal(res.pooled, ref.pooled)
    assert np.allclose(res.predictions.p, p)


def _sklearn_pipeline():
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from her2stats.selection import UnivariateFilter

    pre = ColumnTransformer([("num", StandardScaler(), ["age", "ki67", "tumor_size_mm", "adc"]),
                             ("cat", OneHotEncoder(drop="first", sparse_output=False, handle_unknown="ignore"),
                              ["er", "pr", "grade", "t_stage"])],
                            verbose_feature_names_out=False).set_output(transform="pandas")
    return Pipeline([("pre", pre), ("select", UnivariateFilter(test="t", alpha=0.2)),
                     ("lr", LogisticRegression(C=1.0, max_iter=2000))])


def test_iecv_sklearn_pipeline_refits_selection_and_is_scheduler_free(demo):
    feats = ["age", "ki67", "tumor_size_mm", "adc", "er", "pr", "grade", "t_stage"]
    d = demo[feats + ["center", "her2_positive"]]
    a = internal_external_cv(d, _sklearn_pipeline(), "her2_positive", "center", features=feats, thresholds=[0.2],
                             n_boot=50, seed=2, engine="python")
    b = internal_external_cv(d, _sklearn_pipeline(), "her2_positive", "center", features=feats, thresholds=[0.2],
                             n_boot=50, seed=2, engine="python", scheduler="threads")
    pd.testing.assert_frame_equal(a.predictions, b.predictions)
    pd.testing.assert_frame_equal(a.pooled, b.pooled)
    # each fold's prediction equals a pipeline fitted on the other centres only
    from sklearn.base import clone

    for c in ("A", "B", "C"):
        tr, va = d[d.center != c], d[d.center == c]
        m = clone(_sklearn_pipeline()).fit(tr[feats], tr.her2_positive.astype(int))
        np.testing.assert_allclose(a.predictions.p[va.index], m.predict_proba(va[feats])[:, 1], rtol=1e-12)
    assert a.features == tuple(feats)


@pytest.mark.slow
def test_iecv_on_dask_workers_bit_identical(demo):
    from dask.distributed import Client

    from her2stats.features import local_cluster

    feats = ["age", "ki67", "tumor_size_mm", "adc", "er", "pr", "grade", "t_stage"]
    d = demo[feats + ["center", "her2_positive"]]
    ref = internal_external_cv(d, _sklearn_pipeline(), "her2_positive", "center", features=feats, n_boot=50, seed=2,
                               engine="python")
    with local_cluster(2) as cluster, Client(cluster) as client:
        got = internal_external_cv(d, _sklearn_pipeline(), "her2_positive", "center", features=feats, n_boot=50,
                                   seed=2, engine="python", scheduler=client)
    pd.testing.assert_frame_equal(ref.predictions, got.predictions)
    pd.testing.assert_frame_equal(ref.per_centre, got.per_centre)


@pytest.mark.parametrize("engine", ["python", pytest.param("r", marks=pytest.mark.r)])
def test_iecv_fold_warnings_are_reported(demo, engine):
    def noisy(train, valid):
        warnings.warn("model did not converge", RuntimeWarning)
        return np.full(len(valid), train.y.mean())

    d = demo[["center", "y"]]
    with pytest.warns(UserWarning, match="fitting without centre 'A': RuntimeWarning: model did not converge"):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*constant predictions.*")
            warnings.filterwarnings("ignore", message="pooled auc")
            res = internal_external_cv(d, noisy, "y", "center", n_boot=20, seed=1, engine=engine)
    assert res.folds.warnings.str.contains("did not converge").all()
    # a constant prediction has no AUC: reported, left out of the AUC pool, not silently 0.5
    assert res.per_centre.auc.isna().all() and np.isnan(res.pooled.loc["auc", "estimate"])
    assert res.per_centre.note.str.contains("constant predictions").all()
    # ICI of a constant prediction: |p - event rate| (the lowess smooth of tied x is the mean)
    for c, g in res.predictions.groupby("centre", observed=True):
        ici = res.per_centre.set_index("centre").loc[c, "ici"]
        assert ici == pytest.approx(abs(g.p.iloc[0] - g.y.mean()), abs=1e-12)


class _CountingFit:
    """A deterministic estimator that counts its fits and warns once per fit."""

    fits = 0

    def __init__(self, c: float = 1.0):
        self.c = c

    def get_params(self, deep=True):
        return {"c": self.c}

    def set_params(self, **params):
        for k, v in params.items():
            setattr(self, k, v)
        return self

    def fit(self, X, y):
        type(self).fits += 1
        warnings.warn(f"fitted on {len(y)} rows", UserWarning)
        self.mean_ = float(np.mean(y)) * self.c
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X):
        return np.column_stack([np.full(len(X), 1 - self.mean_), np.full(len(X), self.mean_)])


def test_fitted_clone_fits_once_per_input_and_repeats_its_warnings(monkeypatch):
    """IECV fits the image pipeline twice per fold on the same patients (Deep Score, combined
    model): fitted_clone fits it once; other parameters, rows, values or outcomes are fitted afresh,
    and each caller sees the fit's warnings."""
    from her2stats.stats import multicentre as mc

    monkeypatch.setattr(mc, "_FITTED", {})
    _CountingFit.fits = 0
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=40), "b": rng.normal(size=40)})
    y = (rng.random(40) < 0.4).astype(int)
    with pytest.warns(UserWarning, match="fitted on 40 rows"):
        first = mc.fitted_clone(_CountingFit(), X, y)
    with pytest.warns(UserWarning, match="fitted on 40 rows"):  # a hit still warns
        again = mc.fitted_clone(_CountingFit(), X.copy(), y.copy())
    assert again is first and _CountingFit.fits == 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        other_param = mc.fitted_clone(_CountingFit(c=0.5), X, y)
        X2 = X.copy()
        X2.iloc[0, 0] += 1e-12
        other_x = mc.fitted_clone(_CountingFit(), X2, y)
        y2 = y.copy()
        y2[0] = 1 - y2[0]
        other_y = mc.fitted_clone(_CountingFit(), X, y2)
        fewer = mc.fitted_clone(_CountingFit(), X.iloc[:30], y[:30])
    assert _CountingFit.fits == 5
    assert other_param.mean_ == pytest.approx(first.mean_ * 0.5) and other_y.mean_ != first.mean_
    assert len({id(e) for e in (first, other_param, other_x, other_y, fewer)}) == 5
    assert len(mc._FITTED) <= mc._FITTED_SIZE


def test_fitted_clone_on_a_thread_fits_without_recording_warnings(monkeypatch):
    """On a thread (the "threads" scheduler) fitted_clone neither caches nor records warnings
    (catch_warnings is not thread-safe): each call fits, and its warnings pass as they come."""
    from concurrent.futures import ThreadPoolExecutor

    from her2stats.stats import multicentre as mc

    monkeypatch.setattr(mc, "_FITTED", {})
    _CountingFit.fits = 0
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"a": rng.normal(size=30)})
    y = (rng.random(30) < 0.5).astype(int)
    with pytest.warns(UserWarning, match="fitted on 30 rows") as seen:
        with ThreadPoolExecutor(max_workers=1) as pool:
            fits = [pool.submit(mc.fitted_clone, _CountingFit(), X, y).result() for _ in range(2)]
    assert _CountingFit.fits == 2 and fits[0] is not fits[1] and not mc._FITTED
    assert len([w for w in seen if "fitted on 30 rows" in str(w.message)]) == 2


def test_iecv_deep_and_combined_share_the_fold_fit(monkeypatch):
    """internal_external_cv with an sklearn pipeline and a CombinedFitter over the same features
    fits the pipeline once per fold, and the predictions equal those of fresh fits."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from her2stats.reporting.sections_centre import CombinedFitter
    from her2stats.stats import multicentre as mc

    rng = np.random.default_rng(4)
    n = 240
    d = pd.DataFrame({"centre": np.repeat(["A", "B", "C"], n // 3), "f1": rng.normal(size=n), "f2": rng.normal(size=n),
                      "age": rng.normal(60, 8, size=n)})
    d["y"] = (rng.random(n) < 1 / (1 + np.exp(-(d.f1 - 0.5 * d.f2)))).astype(int)
    pipe = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())])
    fits = []
    real = mc.fitted_clone

    def spy(estimator, X, y):
        before = len(mc._FITTED)
        out = real(estimator, X, y)
        fits.append(len(mc._FITTED) > before)
        return out

    monkeypatch.setattr(mc, "_FITTED", {})
    monkeypatch.setattr(mc, "fitted_clone", spy)
    kw = dict(y="y", centre="centre", n_boot=20, seed=1, engine="python")
    deep = internal_external_cv(d, pipe, features=["f1", "f2"], **kw)
    comb = internal_external_cv(d, CombinedFitter("y", ["age"], pipeline=pipe, features=["f1", "f2"], engine="python",
                                                  score="s"), **kw)
    assert fits == [True, True, True, False, False, False]  # the combined model's folds reuse the fits
    monkeypatch.setattr(mc, "_FITTED", {})
    fresh = internal_external_cv(d, CombinedFitter("y", ["age"], pipeline=pipe, features=["f1", "f2"], engine="python",
                                                   score="s"), **kw)
    assert np.array_equal(comb.predictions["p"].to_numpy(), fresh.predictions["p"].to_numpy())
    assert len(deep.predictions) == n


def test_ici_bootstrap_draws_as_bootstrap_indices(demo):
    """The ICI bootstrap finds each group's outcome strata once; its resamples, hence its limits,
    are exactly those of bootstrap_indices(rng, n, strata=y) drawn per replicate."""
    from her2stats.resampling import bootstrap_indices, run_replicates
    from her2stats.stats import multicentre as mc

    y, p = np.asarray(demo.y, dtype=float), np.asarray(demo.p, dtype=float)
    codes, _ = pd.factorize(pd.Series(demo.center))
    groups = sorted(set(codes))
    lo, hi = mc._ici_bootstrap(y, p, codes, groups, 120, 5, None, 0.95)
    parts = [(y[codes == k], p[codes == k]) for k in groups]

    def reference(rng, m):
        out = np.full((m, len(parts)), np.nan)
        for b in range(m):
            for j, (yy, pp) in enumerate(parts):
                idx = bootstrap_indices(rng, len(yy), strata=yy)
                out[b, j] = mc._ici(pp[idx], yy[idx])
        return out

    reps = run_replicates(reference, 120, seed=5)
    a = (1 - 0.95) / 2  # as _ici_bootstrap writes it (not exactly 0.025)
    assert np.array_equal(lo, np.quantile(reps, a, axis=0)) and np.array_equal(hi, np.quantile(reps, 1 - a, axis=0))
