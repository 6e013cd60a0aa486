"""ROC/AUC/DeLong: Python engine against independent references, R (pROC) parity, bad input.

Tolerances: 1e-12 against brute-force definitions, 1e-9 Python vs pROC for closed forms;
bootstrap and permutation results within 4 Monte-Carlo standard errors of the two runs' difference.
"""
from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from her2stats.errors import InputError
from her2stats.stats import roc as R


# --------------------------------------------------------------------------- data
def _sim(n=160, seed=0, ties=True, shift=0.8):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(int)
    s1 = rng.normal(size=n) + shift * y
    s2 = 0.6 * s1 + rng.normal(size=n) * 0.8 + 0.3 * y
    if ties:
        s1, s2 = np.round(s1, 1), np.round(s2, 1)
    return y, s1, s2


def _brute_auc_and_var(y, s):
    """DeLong et al. (1988) by the O(n^2) definition."""
    pos, neg = s[y == 1], s[y == 0]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    var = v10.var(ddof=1) / len(pos) + v01.var(ddof=1) / len(neg)
    return psi.mean(), var, v10, v01


def _mc_tol(boot_sd, b, level=0.95, k=4.0):
    """4 SE of the difference of two independent percentile estimates (normal approximation)."""
    a = (1 - level) / 2
    se_q = math.sqrt(a * (1 - a) / b) / sps.norm.pdf(sps.norm.ppf(a)) * boot_sd
    return k * math.sqrt(2) * se_q


# --------------------------------------------------------------------------- Python engine
def test_auc_equals_mann_whitney_and_delong_matches_definition():
    y, s, _ = _sim()
    r = R.roc_auc(y, s, engine="python")
    u = sps.mannwhitneyu(s[y == 1], s[y == 0]).statistic
    auc, var, _, _ = _brute_auc_and_var(y, s)
    assert r.auc == pytest.approx(u / ((y == 1).sum() * (y == 0).sum()), abs=1e-12)
    assert r.auc == pytest.approx(auc, abs=1e-12)
    assert r.se == pytest.approx(math.sqrt(var), abs=1e-12)
    z = sps.norm.ppf(0.975)
    assert r.ci_low == pytest.approx(auc - z * math.sqrt(var), abs=1e-12)
    assert r.p_value == pytest.approx(2 * sps.norm.sf((auc - 0.5) / math.sqrt(var)), rel=1e-9)


def test_paired_delong_matches_definition():
    y, s1, s2 = _sim(seed=3)
    a1, _, x1, y1 = _brute_auc_and_var(y, s1)
    a2, _, x2, y2 = _brute_auc_and_var(y, s2)
    cov = np.cov(np.vstack([x1, x2])) / len(x1) + np.cov(np.vstack([y1, y2])) / len(y1)
    z = (a1 - a2) / math.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    t = R.roc_test(y, s1, s2, engine="python")
    assert t.statistic == pytest.approx(z, abs=1e-10)
    assert t.p_value == pytest.approx(2 * sps.norm.sf(abs(z)), abs=1e-12)
    assert t.difference == pytest.approx(a1 - a2, abs=1e-12)


def test_direction_auto_follows_proc_median_rule():
    y, s, _ = _sim(seed=4)
    r_up = R.roc_auc(y, s, engine="python")
    r_down = R.roc_auc(y, -s, engine="python")
    assert r_up.direction == "<" and r_down.direction == ">"
    assert r_up.auc == pytest.approx(r_down.auc, abs=1e-12)
    forced = R.roc_auc(y, -s, direction="<", engine="python")
    assert forced.auc == pytest.approx(1 - r_up.auc, abs=1e-12)


def test_fast_bootstrap_auc_equals_direct_auc_of_the_resample():
    y, s, _ = _sim(seed=5)
    pos, neg = s[y == 1], s[y == 0]
    fast = R._FastAUC(pos, neg)
    rng = np.random.default_rng(1)
    for _ in range(20):
        ip, ineg = rng.integers(0, len(pos), len(pos)), rng.integers(0, len(neg), len(neg))
        yy = np.r_[np.ones(len(ip), int), np.zeros(len(ineg), int)]
        direct = _brute_auc_and_var(yy, np.r_[pos[ip], neg[ineg]])[0]
        assert fast.auc(ip, ineg) == pytest.approx(direct, abs=1e-12)


def test_bootstrap_ci_reproducible_and_independent_of_scheduler():
    y, s, _ = _sim(seed=6)
    a = R.roc_auc(y, s, ci="bootstrap", n_boot=500, seed=11, engine="python")
    b = R.roc_auc(y, s, ci="bootstrap", n_boot=500, seed=11, scheduler="threads", engine="python")
    c = R.roc_auc(y, s, ci="bootstrap", n_boot=500, seed=12, engine="python")
    assert (a.ci_low, a.ci_high) == (b.ci_low, b.ci_high)
    assert (a.ci_low, a.ci_high) != (c.ci_low, c.ci_high)
    assert a.ci_low < a.auc < a.ci_high


def test_roc_curve_matches_proc_printed_example():
    # pROC 1.18: roc(c(0,0,1,1,1), c(5,4,3,3,1), direction=">") prints these rows
    r = R.roc_curve([0, 0, 1, 1, 1], [5, 4, 3, 3, 1], direction=">", engine="python")
    np.testing.assert_allclose(r.thresholds, [np.inf, 4.5, 3.5, 2.0, -np.inf])
    np.testing.assert_allclose(r.sensitivity, [1, 1, 1, 1 / 3, 0])
    np.testing.assert_allclose(r.specificity, [0, 0.5, 1, 1, 1])
    up = R.roc_curve([0, 0, 1, 1, 1], [1, 2, 3, 3, 5], engine="python")
    np.testing.assert_allclose(up.thresholds, [-np.inf, 1.5, 2.5, 4.0, np.inf])
    assert R.youden([0, 0, 1, 1, 1], [1, 2, 3, 3, 5], engine="python").threshold == 2.5


def test_roc_curve_plot_returns_axes():
    import matplotlib

    matplotlib.use("Agg")
    y, s, _ = _sim(seed=7)
    ax = R.roc_curve(y, s, engine="python").plot()
    assert ax.get_xlabel() == "1 - specificity"


def test_unpaired_delong_is_welch_type():
    y, s1, s2 = _sim(seed=8)
    ya, yb = y[:80], y[80:]
    t = R.roc_test(ya, s1[:80], s2[80:], y2=yb, engine="python")
    assert not t.paired and t.statistic_name == "D"
    v1 = R.roc_auc(ya, s1[:80], engine="python").se ** 2
    v2 = R.roc_auc(yb, s2[80:], engine="python").se ** 2
    assert t.statistic == pytest.approx(t.difference / math.sqrt(v1 + v2), abs=1e-12)
    assert t.df == pytest.approx((v1 + v2) ** 2 / (v1 ** 2 / 79 + v2 ** 2 / 79), rel=1e-12)
    with pytest.raises(InputError, match="paired=True"):
        R.roc_test(ya, s1[:80], s2[80:], y2=yb, paired=True)


def test_compare_aucs_adjusts_p_values():
    y, s1, s2 = _sim(seed=9)
    s3 = s1 + np.random.default_rng(0).normal(size=len(y))
    out = R.compare_aucs(y, {"a": s1, "b": s2, "c": s3}, p_adjust="holm", engine="python")
    assert len(out.models) == 3 and len(out.pairs) == 3
    p = np.sort(out.pairs["p_value"].to_numpy())
    holm = np.minimum(1, np.maximum.accumulate(p * np.array([3, 2, 1])))
    np.testing.assert_allclose(np.sort(out.pairs["p_adjusted"].to_numpy()), holm, rtol=1e-12)
    single = R.roc_test(y, s1, s2, engine="python")
    row = out.pairs.query("model1 == 'a' and model2 == 'b'").iloc[0]
    assert row["p_value"] == pytest.approx(single.p_value, abs=1e-12)


def test_multiclass_hand_till_against_definition():
    rng = np.random.default_rng(2)
    labels = rng.choice(["zero", "low", "pos"], size=150)
    logits = rng.normal(size=(150, 3)) + np.stack([labels == k for k in ("zero", "low", "pos")], axis=1) * 1.0
    probs = pd.DataFrame(np.exp(logits) / np.exp(logits).sum(1, keepdims=True), columns=["zero", "low", "pos"])
    res = R.multiclass_auc(labels, probs, engine="python", n_boot=200, seed=1)
    cls = list(probs.columns)
    total = []
    for i in range(3):
        for j in range(i + 1, 3):
            def a(k, l):  # P(p_k(class k) > p_k(class l))
                pk, pl = probs.values[labels == cls[k], k], probs.values[labels == cls[l], k]
                return ((pk[:, None] > pl[None, :]) + 0.5 * (pk[:, None] == pl[None, :])).mean()
            total.append((a(i, j) + a(j, i)) / 2)
    assert res.auc == pytest.approx(np.mean(total), abs=1e-12)
    assert len(res.one_vs_rest) == 3 and res.ci_low < res.auc < res.ci_high


def test_exact_ci_reproduces_medcalc_and_hanley_reproduces_hanley_mcneil():
    assert tuple(round(v, 3) for v in R.auc_ci_from_summary(928 / 1102, 19, 29)) == (0.708, 0.931)
    assert R.auc_ci_from_summary(928 / 1102, 48) == R.auc_ci_from_summary(928 / 1102, 19, 29)
    # At A = 0.5 the Hanley-McNeil variance is the exact null variance of U/(mn) without ties,
    # (m + n + 1) / (12 m n) (Mann & Whitney 1947)
    m, n = 19, 29
    assert R.hanley_se(0.5, m, n) ** 2 == pytest.approx((m + n + 1) / (12 * m * n), rel=1e-12)
    lo, hi = R.auc_ci_from_summary(0.8, m, n, method="hanley")
    assert (lo + hi) / 2 == pytest.approx(0.8, abs=1e-12)


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("y, msg", [
    ([0, 1, 2, 1, 0], "coded 0/1"),
    (["a", "b", "a", "b", "a"], "coded 0/1"),
    ([1, 1, 1, 1, 1], "at least 1 positive and 1 negative"),
])
def test_bad_outcomes(y, msg):
    with pytest.raises(InputError, match=msg):
        R.roc_auc(y, [0.1, 0.4, 0.3, 0.8, 0.2], ci="exact", engine="python")


def test_missing_scores_raise_with_count_and_positions_or_drop_with_count():
    y = [0, 1, 0, 1, 0, 1, 0, 1]
    s = [0.1, np.nan, 0.3, 0.8, np.nan, 0.9, 0.2, 0.7]
    with pytest.raises(InputError, match=r"2 row\(s\).*\[1, 4\].*na='drop'"):
        R.roc_auc(y, s, engine="python")
    r = R.roc_auc(y, s, na="drop", engine="python")
    assert r.n_dropped == 2 and r.n_pos + r.n_neg == 6


def test_length_constant_and_single_member_groups():
    with pytest.raises(InputError, match="aligned"):
        R.roc_auc([0, 1, 0], [0.1, 0.2], engine="python")
    with pytest.raises(InputError, match="constant"):
        R.roc_auc([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5], engine="python")
    with pytest.raises(InputError, match="at least 2 cases and 2 controls"):
        R.roc_auc([0, 0, 0, 1], [0.1, 0.2, 0.3, 0.9], engine="python")
    assert R.roc_auc([0, 0, 0, 1], [0.1, 0.2, 0.3, 0.9], ci="exact", engine="python").auc == 1.0
    with pytest.raises(InputError, match="infinite"):
        R.roc_auc([0, 1, 0, 1], [0.1, np.inf, 0.2, 0.3], engine="python")
    with pytest.raises(InputError, match="ci must be"):
        R.roc_auc([0, 1, 0, 1], [0.1, 0.4, 0.2, 0.3], ci="wald", engine="python")


def test_categorical_outcome_uses_second_category_as_case():
    # only an *ordered* Categorical says which category is higher; an unordered one may just be
    # sorted (pd.Categorical(["HER2+", "HER2-"]) would make HER2- the case), so it needs event=
    y = pd.Categorical(["neg", "pos", "neg", "pos", "neg"], categories=["neg", "pos"], ordered=True)
    s = [0.1, 0.9, 0.3, 0.7, 0.2]
    assert R.roc_auc(y, s, ci="exact", engine="python").auc == 1.0
    unordered = pd.Categorical(["neg", "pos", "neg", "pos", "neg"], categories=["neg", "pos"])
    with pytest.raises(InputError, match="event="):
        R.roc_auc(unordered, s, ci="exact", engine="python")
    assert R.roc_auc(unordered, s, ci="exact", event="pos", engine="python").auc == 1.0


# --------------------------------------------------------------------------- R parity
@pytest.mark.r
def test_r_parity_auc_delong_curve_youden():
    y, s, _ = _sim(seed=21)
    for direction in ("auto", ">"):
        py = R.roc_auc(y, s, direction=direction, engine="python")
        rr = R.roc_auc(y, s, direction=direction, engine="r")
        for k in ("auc", "ci_low", "ci_high", "se", "p_value"):
            assert getattr(py, k) == pytest.approx(getattr(rr, k), abs=1e-9), k
        assert py.direction == rr.direction
        cp, cr = R.roc_curve(y, s, direction=direction, engine="python"), R.roc_curve(y, s, direction=direction, engine="r")
        np.testing.assert_allclose(cp.thresholds, cr.thresholds, atol=1e-12)
        np.testing.assert_allclose(cp.sensitivity, cr.sensitivity, atol=1e-12)
        np.testing.assert_allclose(cp.specificity, cr.specificity, atol=1e-12)
        yp, yr = R.youden(y, s, direction=direction, engine="python"), R.youden(y, s, direction=direction, engine="r")
        assert yp.tied_thresholds == pytest.approx(yr.tied_thresholds, abs=1e-12)
        assert (yp.sensitivity, yp.specificity) == pytest.approx((yr.sensitivity, yr.specificity), abs=1e-12)


@pytest.mark.r
@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:.*different direction")
def test_r_parity_roc_test_delong_paired_unpaired_and_venkatraman_statistic():
    y, s1, s2 = _sim(seed=22)
    for kw in ({}, {"y2": y[::-1].copy(), "paired": False}):
        py = R.roc_test(y, s1, s2, engine="python", **kw)
        rr = R.roc_test(y, s1, s2, engine="r", **kw)
        for k in ("statistic", "p_value", "auc1", "auc2", "ci_low", "ci_high"):
            assert getattr(py, k) == pytest.approx(getattr(rr, k), abs=1e-9), k
    for kw in ({}, {"y2": y[::-1].copy(), "paired": False}):
        py = R.roc_test(y, s1, s2, method="venkatraman", n_boot=1000, seed=1, engine="python", **kw)
        rr = R.roc_test(y, s1, s2, method="venkatraman", n_boot=1000, seed=1, engine="r", **kw)
        assert py.statistic == pytest.approx(rr.statistic, abs=1e-9)
        p = (py.p_value + rr.p_value) / 2
        assert abs(py.p_value - rr.p_value) <= 4 * math.sqrt(2 * max(p * (1 - p), 0.01) / 1000)


@pytest.mark.r
@pytest.mark.slow
def test_r_parity_bootstrap_within_monte_carlo_error():
    y, s, s2 = _sim(seed=23)
    b = 2000
    py = R.roc_auc(y, s, ci="bootstrap", n_boot=b, seed=5, engine="python")
    rr = R.roc_auc(y, s, ci="bootstrap", n_boot=b, seed=5, engine="r")
    sd = float(np.std(R._boot_aucs(*_oriented(y, s), 2000, 1, None), ddof=1))
    tol = _mc_tol(sd, b)
    assert abs(py.ci_low - rr.ci_low) < tol and abs(py.ci_high - rr.ci_high) < tol
    tp = R.roc_test(y, s, s2, method="bootstrap", n_boot=b, seed=5, engine="python")
    tr = R.roc_test(y, s, s2, method="bootstrap", n_boot=b, seed=5, engine="r")
    # D = diff / sd(diffs): the sd of a bootstrap sd estimate is about sd / sqrt(2B)
    assert abs(tp.statistic - tr.statistic) < 4 * math.sqrt(2) * abs(tp.statistic) / math.sqrt(2 * b) + 1e-9


def _oriented(y, s):
    d = R.resolve_direction(np.asarray(y), np.asarray(s, float))
    return np.asarray(y), R._oriented(np.asarray(s, float), d)


@pytest.mark.r
def test_r_parity_multiclass_auc():
    rng = np.random.default_rng(3)
    labels = rng.choice(["HER2-0", "HER2-low", "HER2-pos"], size=120)
    raw = np.round(rng.random((120, 3)) + 0.4 * np.stack([labels == k for k in ("HER2-0", "HER2-low", "HER2-pos")], 1), 2)
    probs = pd.DataFrame(raw / raw.sum(1, keepdims=True), columns=["HER2-0", "HER2-low", "HER2-pos"])
    py = R.multiclass_auc(labels, probs, engine="python")
    rr = R.multiclass_auc(labels, probs, engine="r")
    assert py.auc == pytest.approx(rr.auc, abs=1e-9)
    np.testing.assert_allclose(py.pairs["auc"].to_numpy(), rr.pairs["auc"].to_numpy(), atol=1e-9)
    np.testing.assert_allclose(py.one_vs_rest["ci_low"].to_numpy(), rr.one_vs_rest["ci_low"].to_numpy(), atol=1e-9)


# =========================================================================== issue 20: what pROC offers
# Independent references: the partial area by dense numerical integration of the ROC polygon, the
# operating points by hand on a small curve, Obuchowski's f and g as numerical derivatives of the
# binormal (partial) area, scipy's normal tail areas for one-sided p-values. R parity: 1e-9 for
# closed forms; bootstraps within 4 Monte-Carlo SE of the difference of two percentile estimates
# (_mc_tol, plus one step of 1/n for quantities that move in steps of 1/n_cases or 1/n_controls).
from her2stats.stats import roc_power as PW  # noqa: E402
from her2stats.stats import roc_smooth as SM  # noqa: E402
from her2stats.stats import roc_variance as V  # noqa: E402


def _polygon_area(se, sp, lo, hi, focus="specificity", n=1001):
    """Area under the piecewise-linear ROC polygon over [lo, hi]: the midpoint rule on cells whose
    edges include every vertex, exact for a function linear within each cell."""
    x, yv = (sp, se) if focus == "specificity" else (se[::-1], sp[::-1])
    ux = np.unique(x)
    # between consecutive distinct x the path runs from the last point at ux[k] to the first at ux[k+1]
    y_from = np.array([yv[np.flatnonzero(x == v)[-1]] for v in ux])
    y_to = np.array([yv[np.flatnonzero(x == v)[0]] for v in ux])
    edges = np.union1d(np.linspace(lo, hi, n), ux[(ux > lo) & (ux < hi)])
    mid = (edges[1:] + edges[:-1]) / 2
    k = np.searchsorted(ux, mid, "right") - 1
    t = (mid - ux[k]) / (ux[k + 1] - ux[k])
    g = y_from[k] + t * (y_to[k + 1] - y_from[k])
    return float(np.sum(g * np.diff(edges)))


@pytest.mark.parametrize("focus", ["specificity", "sensitivity"])
def test_partial_auc_is_the_polygon_area_and_mcclish_standardises_it(focus):
    y, s, _ = _sim(seed=30)
    d = R.resolve_direction(y, s)
    se, sp = R._sesp(R._oriented(s, d)[y == 1], R._oriented(s, d)[y == 0])
    for lo, hi in [(0.8, 1.0), (0.83, 0.87), (0.1, 0.55), (0.0, 1.0)]:
        got = R._partial_auc(se, sp, (hi, lo), focus)
        assert got == pytest.approx(_polygon_area(se, sp, lo, hi, focus), abs=1e-12)
        mn, mx = (1 - hi + 1 - lo) * (hi - lo) / 2, hi - lo
        assert R._partial_auc(se, sp, (hi, lo), focus, correct=True) == pytest.approx(
            (1 + (got - mn) / (mx - mn)) / 2, abs=1e-12)
    full = R.roc_auc(y, s, engine="python").auc
    assert R._partial_auc(se, sp, (1.0, 0.0), focus) == pytest.approx(full, abs=1e-12)


def test_sesp_points_equal_the_thresholded_curve():
    for seed in (31, 32):
        y, s, _ = _sim(seed=seed)
        for d in ("<", ">"):
            _, se, sp = R._curve_points(y, s, d)
            o = R._oriented(s, d)
            se2, sp2 = R._sesp(o[y == 1], o[y == 0])
            np.testing.assert_array_equal(se, se2)
            np.testing.assert_array_equal(sp, sp2)


def test_partial_auc_refuses_delong_and_bad_bounds_and_warns_below_diagonal():
    y, s, _ = _sim(seed=33)
    with pytest.raises(InputError, match="ci='bootstrap'"):
        R.roc_auc(y, s, partial=(0.8, 1), engine="python")
    for bad in [(0.8,), (0.8, 1.2), (0.9, 0.9), ("a", 1)]:
        with pytest.raises(InputError, match="partial"):
            R.roc_auc(y, s, partial=bad, ci="bootstrap", engine="python")
    with pytest.raises(InputError, match="focus"):
        R.roc_auc(y, s, partial=(0.8, 1), focus="se", ci="bootstrap", engine="python")
    with pytest.warns(UserWarning, match="below the diagonal"):
        r = R.roc_auc(y, -s, direction="<", partial=(0.8, 1), correct=True, ci="bootstrap", n_boot=200, seed=1,
                      engine="python")
    assert math.isnan(r.auc) and r.quantity.startswith("partial AUC")


def test_partial_auc_bootstrap_ci_seeded_and_scheduler_independent():
    y, s, _ = _sim(seed=34)
    kw = dict(partial=(0.8, 1), ci="bootstrap", n_boot=300, seed=3, engine="python")
    a, b = R.roc_auc(y, s, **kw), R.roc_auc(y, s, scheduler="threads", **kw)
    assert (a.ci_low, a.ci_high) == (b.ci_low, b.ci_high) and a.ci_low < a.auc < a.ci_high
    assert math.isnan(a.se) and "partial AUC (specificity 0.8-1)" == a.quantity


def test_coords_interpolation_and_achievable_reading_by_hand():
    # cases 3, 4, 5, 6; controls 1, 2, 3.5, 7: curve (sp rising) in pROC order
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    s = np.array([3, 4, 5, 6, 1, 2, 3.5, 7], float)
    _, se, sp = R._curve_points(y, s, "<")
    np.testing.assert_allclose(sp, [0, .25, .5, .5, .75, .75, .75, .75, 1])
    np.testing.assert_allclose(se, [1, 1, 1, .75, .75, .5, .25, 0, 0])
    # sp = 0.5 is hit twice: pROC keeps the first (best sensitivity) -> 1; sp = 0.6 lies between
    # (0.5, 0.75) and (0.75, 0.75) -> 0.75; sp = 0.9 between (0.75, 0) and (1, 0) -> 0
    np.testing.assert_allclose(R._coords_at(se, sp, [0.5, 0.6, 0.9], "specificity"), [1, 0.75, 0])
    # se = 0.75 hit twice (sp 0.5 and 0.75): the last, best specificity -> 0.75; se = 0.6 between
    # (0.75, 0.75) and (0.5, 0.75) -> 0.75; se = 0.9 between (1, 0.5) and (0.75, 0.5) -> 0.5
    np.testing.assert_allclose(R._coords_at(se, sp, [0.75, 0.6, 0.9], "sensitivity"), [0.75, 0.75, 0.5])
    # interpolation across a diagonal step: sp 0.125 between (0, 1) and (0.25, 1) -> 1
    y2 = np.array([1, 1, 0, 0])
    _, se2, sp2 = R._curve_points(y2, np.array([1.0, 2.0, 1.0, 0.0]), "<")
    v = R._coords_at(se2, sp2, [0.75], "specificity")[0]
    k = np.flatnonzero(sp2 > 0.75)[0]
    frac = (0.75 - sp2[k]) / (sp2[k - 1] - sp2[k])
    assert v == pytest.approx(se2[k] + frac * (se2[k - 1] - se2[k]), abs=1e-15)
    r = R.sensitivity_at(y, s, specificity=[0.6, 0.9], reading="achievable", ci=None, engine="python")
    t = r.to_frame()
    np.testing.assert_allclose(t["sensitivity"], [0.75, 0.0])
    np.testing.assert_allclose(t["specificity_achieved"], [0.75, 1.0])


def test_sensitivity_at_readings_agree_with_choose_threshold_and_bracket():
    from her2stats.stats.diagnostics import choose_threshold

    y, s, _ = _sim(seed=35, ties=False)
    for spec in (0.8, 0.9, 0.95):
        ach = R.sensitivity_at(y, s, specificity=spec, reading="achievable", ci=None, engine="python").table.iloc[0]
        rule = choose_threshold(y, s, rule=("specificity", spec), engine="python")
        assert ach["threshold"] == rule.value and ach["sensitivity"] == rule.sensitivity
        interp = R.sensitivity_at(y, s, specificity=spec, ci=None, engine="python").table.iloc[0]
        assert interp["sensitivity"] >= ach["sensitivity"] and "interpolated" in interp["reading"]
    sp_at = R.specificity_at(y, s, sensitivity=0.9, reading="achievable", ci=None, engine="python").table.iloc[0]
    assert sp_at["specificity"] == choose_threshold(y, s, rule=("sensitivity", 0.9), engine="python").specificity


def test_operating_point_bootstrap_seeded_scheduler_independent_and_checked():
    y, s, _ = _sim(seed=36)
    kw = dict(specificity=[0.8, 0.9], n_boot=300, seed=4, engine="python")
    a, b = R.sensitivity_at(y, s, **kw), R.sensitivity_at(y, s, scheduler="threads", **kw)
    pd.testing.assert_frame_equal(a.table, b.table)
    assert (a.table["ci_low"] <= a.table["sensitivity"]).all() and (a.table["sensitivity"] <= a.table["ci_high"]).all()
    for bad in (1.5, [0.8, np.nan], "0.9", []):
        with pytest.raises(InputError, match="specificity must be"):
            R.sensitivity_at(y, s, specificity=bad, engine="python")
    with pytest.raises(InputError, match="reading"):
        R.sensitivity_at(y, s, reading="exact", engine="python")


@pytest.mark.slow
def test_bootstraps_identical_on_one_or_two_dask_workers():
    from dask.distributed import Client, LocalCluster

    y, s1, s2 = _sim(seed=37)
    out = []
    for workers in (1, 2):
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as lc, \
                Client(lc) as client:
            out.append((
                R.sensitivity_at(y, s1, specificity=0.9, n_boot=300, seed=5, scheduler=client, engine="python").table,
                R.roc_test(y, s1, s2, method="bootstrap", partial=(0.8, 1), n_boot=300, seed=5, scheduler=client,
                           engine="python").ci_low,
                V.auc_var(y, s1, method="bootstrap", n_boot=300, seed=5, scheduler=client, engine="python").variance,
            ))
    pd.testing.assert_frame_equal(out[0][0], out[1][0])
    assert out[0][1:] == out[1][1:]


def test_roc_test_one_sided_p_values():
    y, s1, s2 = _sim(seed=38)
    two = R.roc_test(y, s1, s2, engine="python")
    gt = R.roc_test(y, s1, s2, alternative="greater", engine="python")
    lt = R.roc_test(y, s1, s2, alternative="less", engine="python")
    assert gt.p_value == pytest.approx(sps.norm.sf(two.statistic), abs=1e-15)
    assert gt.p_value + lt.p_value == pytest.approx(1.0, abs=1e-14)
    assert two.p_value == pytest.approx(2 * min(gt.p_value, lt.p_value), abs=1e-14)
    up = R.roc_test(y[:80], s1[:80], s2[80:], y2=y[80:], alternative="greater", engine="python")
    assert up.p_value == pytest.approx(sps.t.sf(up.statistic, up.df), abs=1e-15)
    with pytest.raises(InputError, match="two-sided"):
        R.roc_test(y, s1, s2, method="venkatraman", alternative="less", engine="python")
    with pytest.raises(InputError, match="alternative"):
        R.roc_test(y, s1, s2, alternative="two-sided", engine="python")


def test_roc_test_at_a_fixed_point_names_and_refusals():
    y, s1, s2 = _sim(seed=39)
    t = R.roc_test(y, s1, s2, method="sensitivity", specificity=0.9, n_boot=300, seed=1, engine="python")
    se1 = R.sensitivity_at(y, s1, specificity=0.9, ci=None, engine="python").estimate[0]
    se2 = R.sensitivity_at(y, s2, specificity=0.9, ci=None, engine="python").estimate[0]
    assert (t.estimate1, t.estimate2, t.difference) == pytest.approx((se1, se2, se1 - se2), abs=1e-15)
    assert t.quantity == "sensitivity at specificity 0.9" and t.ci_low < t.difference < t.ci_high
    assert t.auc1 == pytest.approx(R.roc_auc(y, s1, engine="python").auc, abs=1e-15)
    with pytest.raises(InputError, match="pROC names its tests the other way round"):
        R.roc_test(y, s1, s2, method="specificity", specificity=0.9, engine="python")
    with pytest.raises(InputError, match="needs sensitivity="):
        R.roc_test(y, s1, s2, method="specificity", engine="python")
    with pytest.raises(InputError, match="partial"):
        R.roc_test(y, s1, s2, partial=(0.8, 1), engine="python")
    with pytest.raises(InputError, match="fix an operating point"):
        R.roc_test(y, s1, s2, specificity=0.9, engine="python")


def test_unpaired_test_of_paired_looking_data_warns_and_text_predictors_are_refused():
    y, s1, s2 = _sim(seed=40)
    with pytest.warns(UserWarning, match="seem to be paired"):
        R.roc_test(y, s1, s2, paired=False, engine="python")
    with pytest.warns(UserWarning, match="seem to be paired"):
        R.roc_test(y, s1, s2, y2=y.copy(), engine="python")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        R.roc_test(y[:80], s1[:80], s2[80:], y2=y[80:], engine="python")
    as_text = [f"{v:.2f}" for v in s1]
    for fn in (lambda: R.roc_auc(y, as_text, engine="python"), lambda: R.roc_curve(y, as_text, engine="python"),
               lambda: R.roc_test(y, s1, pd.Series(as_text), engine="python")):
        with pytest.raises(InputError, match="text value"):
            fn()


def test_auc_var_and_cov_delong_agree_with_roc_auc_and_roc_test():
    y, s1, s2 = _sim(seed=41)
    v = V.auc_var(y, s1, engine="python")
    assert v.variance == pytest.approx(R.roc_auc(y, s1, engine="python").se ** 2, abs=1e-15)
    c = V.auc_cov(y, s1, s2, engine="python")
    t = R.roc_test(y, s1, s2, engine="python")
    assert c.var_difference == pytest.approx((t.difference / t.statistic) ** 2, rel=1e-10)
    _, _, a10, a01 = _brute_auc_and_var(y, s1)
    _, _, b10, b01 = _brute_auc_and_var(y, s2)
    assert c.covariance == pytest.approx(np.cov(a10, b10)[0, 1] / len(a10) + np.cov(a01, b01)[0, 1] / len(a01),
                                         abs=1e-15)
    with pytest.raises(InputError, match="partial AUC"):
        V.auc_var(y, s1, method="delong", partial=(0.8, 1), engine="python")
    with pytest.raises(InputError, match="method='obuchowski' is not offered for a partial AUC"):
        V.auc_var(y, s1, method="obuchowski", partial=(0.8, 1), engine="python")


def test_obuchowski_f_and_g_are_the_derivatives_of_the_binormal_area():
    from scipy import integrate

    def area(a, b, fpr=None):
        if fpr is None:
            return sps.norm.cdf(a / math.sqrt(1 + b * b))
        return integrate.quad(lambda x: sps.norm.cdf(a + b * sps.norm.ppf(x)), fpr[1], fpr[0], epsabs=1e-13)[0]

    # partial bounds as pROC orders them, (upper, lower) false-positive rate: f and g are the
    # derivatives of the area between them (the order flips both signs; variances use squares)
    h = 1e-5
    for a, b, fpr in [(1.2, 0.9, None), (0.6, 1.4, None), (1.2, 0.9, (0.2, 0.0)), (2.6, 1.0, (0.3, 0.05))]:
        f, g = V._f_g(a, b, fpr)
        assert f == pytest.approx((area(a + h, b, fpr) - area(a - h, b, fpr)) / (2 * h), rel=1e-6, abs=1e-9)
        assert g == pytest.approx((area(a, b + h, fpr) - area(a, b - h, fpr)) / (2 * h), rel=1e-6, abs=1e-9)
    # equal-variance binormal (B = 1): the AUC-only variance is the same formula with Obuchowski's
    # rounded constants (1.414 for sqrt(2), 0.0099 for 1/(32 pi)), so they agree to < 1%
    for theta, kappa in ((0.8, 1.7), (0.65, 0.5), (0.9, 3.0)):
        a = math.sqrt(2) * sps.norm.ppf(theta)
        assert V.obuchowski_var_theta(theta, kappa) == pytest.approx(V.obuchowski_var(a, 1.0, kappa), rel=1e-2)


def test_power_formulas_invert_and_match_pROC_documented_values():
    # pROC 1.18 help/tests: auc 0.8, 41 cases, 72 controls -> power 0.99995; power 0.9 -> 16.62 cases
    assert PW.power_roc_test(0.8, n_cases=41, n_controls=72, engine="python").power == pytest.approx(0.9999509834,
                                                                                                   abs=1e-9)
    for kw in [dict(auc=0.75), dict(auc=0.85, reference=0.7, ratio=2.0), dict(auc=(0.85, 0.75), r_cases=0.5,
                                                                              r_controls=0.4),
               dict(params=dict(A1=1.2, B1=0.9, A2=0.8, B2=1.1, rn=0.3, ra=0.4, delta=0.08))]:
        n = PW.power_roc_test(power=0.8, engine="python", **kw).n_cases
        back = PW.power_roc_test(n_cases=n, engine="python", **{k: v for k, v in kw.items()})
        assert back.power == pytest.approx(0.8, abs=1e-12)
    # the one-AUC design against 0.5 is the general reference design at 0.5
    a = PW.power_roc_test(0.8, n_cases=30, ratio=1.5, engine="python").power
    b = PW._solve(V.obuchowski_var_theta(0.5, 1.5), V.obuchowski_var_theta(0.8, 1.5), 0.3,
                  sps.norm.ppf(0.975), 30.0, None)[1]
    assert a == pytest.approx(b, abs=1e-12)
    # two AUCs with B = 1 are the binormal-parameter design
    pa = PW.power_roc_test((0.85, 0.75), n_cases=80, engine="python").power
    pb = PW.power_roc_test(params=dict(A1=math.sqrt(2) * sps.norm.ppf(0.85), B1=1, A2=math.sqrt(2) *
                                       sps.norm.ppf(0.75), B2=1, rn=0, ra=0, delta=0.1), n_cases=80,
                           engine="python").power
    assert pa == pytest.approx(pb, abs=1e-15)
    with pytest.raises(InputError, match="either power="):
        PW.power_roc_test(0.8, engine="python")
    with pytest.raises(InputError, match="exactly one design"):
        PW.power_roc_test(engine="python", power=0.8)
    with pytest.raises(InputError, match="missing"):
        PW.power_roc_test(params=dict(A1=1), power=0.8, engine="python")


def test_smoothed_curves_binormal_area_and_density_against_definitions():
    y, s, _ = _sim(seed=42, ties=False)
    b = R.roc_curve(y, s, smooth="binormal", n_points=20001, engine="python")
    # the trapezoidal area of a fine binormal curve converges to pnorm(a / sqrt(1 + b^2))
    assert SM.trapezoid_auc(b.sensitivity, b.specificity) == pytest.approx(b.auc, abs=2e-6)
    assert b.method == "binormal" and np.isnan(b.thresholds).all()
    d = R.roc_curve(y, s, smooth="density", engine="python")
    assert 0.5 < d.auc < 1 and d.smoothing["bandwidth"] == pytest.approx(SM.bw_nrd0(s), abs=1e-15)
    # R's density(): a Gaussian kernel density, binned -- close to the exact kernel sum on the grid
    x = np.sort(np.asarray(s[y == 0]))
    bw = SM.bw_nrd0(x)
    grid = np.linspace(x.min() - 3 * bw, x.max() + 3 * bw, 512)
    exact = sps.norm.pdf((grid[:, None] - x[None, :]) / bw).mean(axis=1) / bw
    assert np.abs(SM.r_density(x, bw, 512, grid[0], grid[-1]) - exact).max() < 2e-3
    with pytest.raises(InputError, match="smooth"):
        R.roc_curve(y, s, smooth="loess", engine="python")
    with pytest.raises(InputError, match="cannot be smoothed"):
        R.roc_curve([0, 0, 1, 1], [1, 2, 3, 4], smooth="binormal", engine="python")


def test_multiclass_one_score_is_the_mean_pairwise_auc_in_the_given_order():
    rng = np.random.default_rng(43)
    lab = rng.choice(["zero", "low", "pos"], size=150)
    sc = rng.normal(size=150) + 0.4 * (lab == "low") + 0.9 * (lab == "pos")
    order = ["zero", "low", "pos"]
    r = R.multiclass_auc(lab, sc, levels=order, direction="<", n_boot=200, seed=2, engine="python")
    manual = [R.roc_auc((lab[np.isin(lab, [a, b])] == b).astype(int), sc[np.isin(lab, [a, b])], direction="<",
                        engine="python").auc for a, b in combinations(order, 2)]
    assert r.auc == pytest.approx(np.mean(manual), abs=1e-15) and r.method == "univariate"
    assert list(r.pairs["pair"]) == ["zero/low", "zero/pos", "low/pos"] and r.ci_low < r.auc < r.ci_high
    with pytest.raises(InputError, match="no order is known"):
        R.multiclass_auc(lab, sc, engine="python")
    with pytest.warns(UserWarning, match="no observation"):
        R.multiclass_auc(lab, sc, levels=["zero", "mid", "low", "pos"], engine="python")


# --------------------------------------------------------------------------- issue 20: R parity
@pytest.mark.r
def test_r_parity_partial_auc_and_operating_points():
    y, s, _ = _sim(seed=50)
    for part, focus, corr in [((0.8, 1), "specificity", False), ((0.8, 1), "specificity", True),
                              ((0.9, 0.6), "sensitivity", True)]:
        py = R.roc_auc(y, s, partial=part, focus=focus, correct=corr, ci="bootstrap", n_boot=100, seed=1,
                       engine="python")
        rr = R.roc_auc(y, s, partial=part, focus=focus, correct=corr, ci="bootstrap", n_boot=100, seed=1, engine="r")
        assert py.auc == pytest.approx(rr.auc, abs=1e-12)
    for reading in ("interpolated", "achievable"):
        for fn, arg in ((R.sensitivity_at, "specificity"), (R.specificity_at, "sensitivity")):
            for direction in ("auto", ">"):
                kw = {arg: [0.5, 0.8, 0.9, 0.95], "reading": reading, "ci": None, "direction": direction}
                py, rr = fn(y, s, engine="python", **kw).table, fn(y, s, engine="r", **kw).table
                other = "sensitivity" if arg == "specificity" else "specificity"
                np.testing.assert_allclose(py[other], rr[other], atol=1e-12)
                np.testing.assert_allclose(py["threshold"], rr["threshold"], atol=1e-12, equal_nan=True)
                np.testing.assert_allclose(py[f"{arg}_achieved"], rr[f"{arg}_achieved"], atol=1e-12)


@pytest.mark.r
def test_r_loop_reproduces_proc_ci_se_exactly():
    from her2stats import r_bridge

    y, s, _ = _sim(seed=51)
    common = dict(y=y.astype(np.int32), score=s, x=[0.8, 0.9], given="specificity", direction="auto", level=0.95,
                  n_boot=200, seed=9)
    proc = r_bridge.call("h2s_coords_at", ci=True, **common)
    loop = r_bridge.call("h2s_coords_at_boot", reading="interpolated", **common)
    np.testing.assert_allclose(proc["ci_low"], loop["ci_low"], atol=1e-15)
    np.testing.assert_allclose(proc["ci_high"], loop["ci_high"], atol=1e-15)


@pytest.mark.r
@pytest.mark.slow
def test_r_parity_operating_point_bootstrap_within_monte_carlo_error():
    y, s, _ = _sim(seed=52)
    b = 2000
    step = 1 / min(int(y.sum()), int((1 - y).sum()))
    for reading in ("interpolated", "achievable"):
        for fn, arg in ((R.sensitivity_at, "specificity"), (R.specificity_at, "sensitivity")):
            kw = {arg: [0.8, 0.9], "reading": reading, "n_boot": b, "seed": 3}
            py, rr = fn(y, s, engine="python", **kw).table, fn(y, s, engine="r", **kw).table
            for i in range(2):
                sd = (py.loc[i, "ci_high"] - py.loc[i, "ci_low"]) / 3.92
                tol = _mc_tol(sd, b) + step
                for k in ("ci_low", "ci_high"):
                    assert abs(py.loc[i, k] - rr.loc[i, k]) <= tol, (reading, arg, i, k)


@pytest.mark.r
@pytest.mark.slow
def test_r_parity_roc_test_fixed_point_partial_and_alternatives():
    from her2stats import r_bridge

    y, s1, s2 = _sim(seed=53)
    b = 2000
    for kw in (dict(method="delong", alternative="greater"), dict(method="delong", alternative="less")):
        for extra in ({}, {"y2": y[::-1].copy(), "paired": False}):
            t2 = s2 if not extra else s2[::-1].copy()   # unpaired: another cohort's (y2, score2)
            py = R.roc_test(y, s1, t2, engine="python", **kw, **extra)
            rr = R.roc_test(y, s1, t2, engine="r", **kw, **extra)
            assert (py.statistic, py.p_value) == pytest.approx((rr.statistic, rr.p_value), abs=1e-9)
    for kw in (dict(method="sensitivity", specificity=0.9), dict(method="specificity", sensitivity=0.8),
               dict(method="bootstrap", partial=(0.8, 1), correct=True)):
        for extra in ({}, {"y2": y[::-1].copy(), "paired": False}):
            t2 = s2 if not extra else s2[::-1].copy()
            py = R.roc_test(y, s1, t2, n_boot=b, seed=2, engine="python", **kw, **extra)
            rr = R.roc_test(y, s1, t2, n_boot=b, seed=2, engine="r", **kw, **extra)
            assert (py.estimate1, py.estimate2) == pytest.approx((rr.estimate1, rr.estimate2), abs=1e-12)
            # D = diff / sd(boot diffs): the sd of a bootstrap sd estimate is about sd / sqrt(2B)
            assert abs(py.statistic - rr.statistic) < 4 * math.sqrt(2) * abs(py.statistic) / math.sqrt(2 * b) + 1e-9
            sd = abs(py.difference / py.statistic)
            step = 1 / min(int(y.sum()), int((1 - y).sum())) if "partial" not in kw else 0.0
            for k in ("ci_low", "ci_high"):
                assert abs(getattr(py, k) - getattr(rr, k)) <= _mc_tol(sd, b) + step, (kw, extra, k)
    # the R engine's CI comes from pROC's own replicates: their SD reproduces pROC's statistic
    out = r_bridge.call("h2s_roc_test", y=y.astype(np.int32), score1=s1, score2=s2, paired=True,
                        method="specificity", specificity=0.9, n_boot=300, seed=4)
    assert out["sd_diffs"] == pytest.approx((out["estimate1"] - out["estimate2"]) / out["statistic"], rel=1e-12)


@pytest.mark.r
def test_r_parity_auc_var_cov_closed_forms_and_smoothing():
    y, s1, s2 = _sim(seed=54)
    for method in ("delong", "obuchowski"):
        py, rr = V.auc_var(y, s1, method=method, engine="python"), V.auc_var(y, s1, method=method, engine="r")
        assert py.variance == pytest.approx(rr.variance, rel=1e-9)
        py, rr = V.auc_cov(y, s1, s2, method=method, engine="python"), V.auc_cov(y, s1, s2, method=method, engine="r")
        for k in ("covariance", "var1", "var2"):
            assert getattr(py, k) == pytest.approx(getattr(rr, k), rel=1e-9), (method, k)
    for smooth in ("binormal", "density"):
        for direction in ("auto", ">"):
            py = R.roc_curve(y, s1, smooth=smooth, direction=direction, engine="python")
            rr = R.roc_curve(y, s1, smooth=smooth, direction=direction, engine="r")
            assert py.auc == pytest.approx(rr.auc, abs=1e-9)
            np.testing.assert_allclose(py.sensitivity, rr.sensitivity, atol=1e-9)
            np.testing.assert_allclose(py.specificity, rr.specificity, atol=1e-9)
    d = R.roc_curve(y, s1, smooth="density", bw=0.25, n_points=100, engine="python")
    assert d.auc == pytest.approx(R.roc_curve(y, s1, smooth="density", bw=0.25, n_points=100, engine="r").auc,
                                  abs=1e-9)


@pytest.mark.r
@pytest.mark.slow
def test_r_parity_auc_var_cov_bootstrap_within_monte_carlo_error():
    y, s1, s2 = _sim(seed=55)
    b = 2000
    for part in (None, (0.8, 1)):
        py = V.auc_cov(y, s1, s2, method="bootstrap", partial=part, n_boot=b, seed=1, engine="python")
        rr = V.auc_cov(y, s1, s2, method="bootstrap", partial=part, n_boot=b, seed=1, engine="r")
        # the sampling SD of a sample variance (covariance) of B normal replicates: var * sqrt(2/(B-1))
        for k in ("var1", "var2"):
            assert abs(getattr(py, k) - getattr(rr, k)) <= 4 * math.sqrt(2) * getattr(py, k) * math.sqrt(2 / (b - 1))
        sd_cov = math.sqrt((py.var1 * py.var2 + py.covariance ** 2) / (b - 1))
        assert abs(py.covariance - rr.covariance) <= 4 * math.sqrt(2) * sd_cov
    for corr in (False, True):
        kw = dict(partial=(0.8, 1), correct=corr, ci="bootstrap", n_boot=b, seed=6)
        py, rr = R.roc_auc(y, s1, engine="python", **kw), R.roc_auc(y, s1, engine="r", **kw)
        sd = (py.ci_high - py.ci_low) / 3.92
        assert abs(py.ci_low - rr.ci_low) <= _mc_tol(sd, b) and abs(py.ci_high - rr.ci_high) <= _mc_tol(sd, b)


@pytest.mark.r
def test_r_parity_power_designs():
    for kw in [dict(auc=0.8, n_cases=41, n_controls=72), dict(auc=0.8, power=0.9), dict(auc=0.8, power=0.9, ratio=2.5),
               dict(auc=0.75, n_cases=30, alternative="one.sided"), dict(auc=0.85, reference=0.7, power=0.8),
               dict(auc=0.85, reference=0.7, n_cases=50, ratio=2), dict(auc=(0.85, 0.75), power=0.8),
               dict(auc=(0.85, 0.75), n_cases=100, ratio=1.5, r_cases=0.5, r_controls=0.4),
               dict(params=dict(A1=1.2, B1=0.9, A2=0.8, B2=1.1, rn=0.3, ra=0.4, delta=0.03, FPR11=0, FPR12=0.2,
                                FPR21=0, FPR22=0.2), n_cases=200)]:
        py, rr = PW.power_roc_test(engine="python", **kw), PW.power_roc_test(engine="r", **kw)
        assert (py.n_cases, py.power) == pytest.approx((rr.n_cases, rr.power), rel=1e-9), kw
    y, s1, s2 = _sim(seed=56)
    for kw in (dict(), dict(power=0.9), dict(score2=s2), dict(score2=s2, power=0.8, ratio=1.0),
               dict(score2=s2, method="obuchowski")):
        py = PW.power_roc_test(y=y, score1=s1, engine="python", **kw)
        rr = PW.power_roc_test(y=y, score1=s1, engine="r", **kw)
        assert (py.n_cases, py.n_controls, py.power) == pytest.approx((rr.n_cases, rr.n_controls, rr.power),
                                                                      rel=1e-9), kw


@pytest.mark.r
def test_r_parity_multiclass_one_score():
    rng = np.random.default_rng(57)
    lab = rng.choice(["HER2-0", "HER2-low", "HER2-pos"], size=140)
    sc = np.round(rng.normal(size=140) + 0.5 * (lab == "HER2-low") - 0.3 * (lab == "HER2-pos"), 1)
    y = pd.Categorical(lab, categories=["HER2-0", "HER2-low", "HER2-pos"], ordered=True)
    for d in ("auto", "<", ">"):
        py, rr = R.multiclass_auc(y, sc, direction=d, engine="python"), R.multiclass_auc(y, sc, direction=d, engine="r")
        assert py.auc == pytest.approx(rr.auc, abs=1e-12)
        np.testing.assert_allclose(py.pairs["auc"], rr.pairs["auc"], atol=1e-12)
        assert list(py.pairs["direction"]) == list(rr.pairs["direction"])
        np.testing.assert_allclose(py.pairs["ci_low"], rr.pairs["ci_low"], atol=1e-9)


@pytest.mark.r
def test_sensitivity_band_equals_proc_ci_se_bit_for_bit():
    """sensitivity_at(engine="r") reads every resampled curve at all targets at once
    (.h2s_ci_se_stratified in r/roc.R) instead of calling coords() per replicate: on data with and
    without ties, both directions, one or many targets, and a perfectly separating score (whose
    warning is kept), the limits are identical to pROC::ci.se's after the same set.seed."""
    from her2stats import r_bridge

    out = r_bridge.r_eval("""local({
      xs <- round(seq(0, 1, length.out = 41), 10)
      set.seed(21); same <- 0L; n_cmp <- 0L; warned <- 0L
      for (k in 1:60) {
        n <- c(12, 30, 80, 200)[1 + k %% 4]
        y <- rbinom(n, 1, 0.25 + (k %% 5) / 15); if (sum(y) < 2 || sum(1 - y) < 2) next
        s <- rnorm(n) + y * ((k %% 7) / 2 - 1)
        if (k %% 3 == 0) s <- round(s, 1)
        if (k %% 10 == 0) s <- as.numeric(y) + rnorm(n, sd = .01)
        r <- h2s_roc_fit(y, s, c("<", ">", "auto")[1 + k %% 3])
        x <- if (k %% 4 == 0) c(0.8, 0.9) else xs
        w1 <- character(); w2 <- character()
        set.seed(k); a <- withCallingHandlers(pROC::ci.se(r, specificities = x, conf.level = .95, boot.n = 100,
                                                          boot.stratified = TRUE, progress = "none"),
          warning = function(w) { w1 <<- c(w1, conditionMessage(w)); invokeRestart("muffleWarning") })
        set.seed(k); b <- withCallingHandlers(.h2s_ci_se_stratified(r, x, .95, 100),
          warning = function(w) { w2 <<- c(w2, conditionMessage(w)); invokeRestart("muffleWarning") })
        n_cmp <- n_cmp + 1L; warned <- warned + (length(w1) > 0)
        same <- same + (identical(unname(as.numeric(a)), unname(as.numeric(b))) && identical(w1, w2))
      }
      c(n_cmp, same, warned)
    })""")
    n_cmp, same, warned = (int(v) for v in np.asarray(out).ravel())
    assert n_cmp > 50 and same == n_cmp and warned >= 1
