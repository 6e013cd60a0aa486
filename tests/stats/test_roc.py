"""ROC/AUC/DeLong: Python engine against independent references, R (pROC) parity, bad input.

Tolerances: 1e-12 against brute-force definitions, 1e-9 Python vs pROC for closed forms;
bootstrap and permutation results within 4 Monte-Carlo standard errors of the two runs' difference.
"""
from __future__ import annotations

import math

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
