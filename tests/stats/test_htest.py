"""Hypothesis tests: R parity (chisq.test, fisher.test, t.test, wilcox.test, kruskal.test,
oneway.test, shapiro.test, ks.test, prop.test, p.adjust) and published R-documentation values.

Tolerances: 1e-9 absolute on p-values and statistics (closed forms) unless stated; Shapiro-Wilk
1e-8 (scipy's and R's ports of Royston's AS R94 differ in the last digits). The 2x2 conditional
MLE odds ratio and its CI are roots found at R's loose uniroot tolerance (eps^0.25); her2stats runs
R's zeroin itself, so they agree with R to 1e-9 relative (scipy's tighter root differs in the 4th digit).
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from her2stats.errors import InputError
from her2stats.stats import htest as h

TOL = 1e-9

TABLES = [
    [[12, 15], [8, 13]],
    [[3, 1], [1, 3]],
    [[0, 5], [6, 2]],
    [[3, 2, 1], [1, 4, 7], [5, 6, 2]],
    [[10, 3, 5, 2], [4, 9, 2, 8]],
    [[20, 15, 10], [5, 12, 18], [3, 9, 14], [7, 2, 11]],
]

# R's ?sleep data (t.test example)
SLEEP1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
SLEEP2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]


def _r(code):
    from her2stats import r_bridge

    return r_bridge.r_eval(code)


def _rvec(x):
    return "c(" + ", ".join(repr(float(v)) for v in np.ravel(x)) + ")"


# --------------------------------------------------------------------------- published values
def test_chisq_r_documentation_example():
    # ?chisq.test: M <- as.table(rbind(c(762, 327, 468), c(484, 239, 477))) -> X-squared = 30.07, df = 2, p = 2.954e-07
    res = h.chi2_test([[762, 327, 468], [484, 239, 477]])
    assert res.statistic == pytest.approx(30.0701, abs=5e-5)
    assert res.df == 2
    assert res.p_value == pytest.approx(2.954e-07, rel=1e-3)
    assert "Yates" not in res.method  # Yates applies to 2x2 tables only


def test_fisher_r_documentation_examples():
    # ?fisher.test TeaTasting: p = 0.4857, odds ratio 6.408309, CI 0.2117329 - 621.9337
    tea = h.fisher_test([[3, 1], [1, 3]])
    assert tea.p_value == pytest.approx(0.4857142857, abs=1e-9)
    assert tea.estimate == pytest.approx(6.408309, rel=1e-6)
    assert tea.ci_low == pytest.approx(0.2117329, rel=1e-6)
    assert tea.ci_high == pytest.approx(621.9337, rel=1e-6)
    # ?fisher.test Job satisfaction (4 x 4): p-value = 0.7827
    job = np.array([[1, 2, 1, 0], [3, 3, 6, 1], [10, 10, 14, 9], [6, 7, 12, 11]]).T
    assert h.fisher_test(job).p_value == pytest.approx(0.7827, abs=5e-5)


def test_ttest_sleep_documentation_values():
    # ?t.test: t = -1.8608, df = 17.776, p-value = 0.07939; CI -3.3654832 0.2054832
    res = h.ttest(SLEEP1, SLEEP2)
    assert res.method == "Welch Two Sample t-test"
    assert res.statistic == pytest.approx(-1.860813, abs=1e-6)
    assert res.df == pytest.approx(17.77647, abs=1e-5)
    assert res.p_value == pytest.approx(0.07939414, abs=1e-8)
    assert res.ci_low == pytest.approx(-3.3654832, abs=1e-7)
    student = h.ttest(SLEEP1, SLEEP2, equal_var=True)
    assert student.df == 18 and student.method == "Two Sample t-test"


def test_summary_tests_match_raw_data_tests():
    rng = np.random.default_rng(4)
    x, y, z = rng.normal(0, 1, 25), rng.normal(0.6, 2, 31), rng.normal(0.2, 1.5, 12)
    for ev in (True, False):
        a = h.ttest(x, y, equal_var=ev)
        b = h.ttest_from_summary(x.mean(), x.std(ddof=1), 25, y.mean(), y.std(ddof=1), 31, equal_var=ev)
        assert a.p_value == pytest.approx(b.p_value, abs=1e-14)
        ref = stats.ttest_ind(x, y, equal_var=ev)
        assert b.p_value == pytest.approx(ref.pvalue, abs=TOL)
    f = h.anova_from_summary([s.mean() for s in (x, y, z)], [s.std(ddof=1) for s in (x, y, z)], [25, 31, 12])
    assert f.p_value == pytest.approx(stats.f_oneway(x, y, z).pvalue, abs=TOL)
    assert f.df == (2.0, 65.0)


def test_p_adjust_hand_computed():
    p = [0.01, 0.04, 0.03, 0.2]
    np.testing.assert_allclose(h.p_adjust(p, "bonferroni"), [0.04, 0.16, 0.12, 0.8])
    np.testing.assert_allclose(h.p_adjust(p, "holm"), [0.04, 0.09, 0.09, 0.2])
    np.testing.assert_allclose(h.p_adjust(p, "fdr_bh"), [0.04, 0.05333333333, 0.05333333333, 0.2])
    # a larger family than the printed p-values (n=) only raises adjusted values
    assert np.all(h.p_adjust(p, "fdr_bh", n=10) >= h.p_adjust(p, "fdr_bh"))
    out = h.p_adjust([0.01, np.nan, 0.02], "fdr_bh")
    assert np.isnan(out[1]) and out[0] == pytest.approx(0.02)


def test_wilcox_exact_distribution_against_enumeration():
    # exact null of U for m=4, n=3 by brute-force enumeration of rank subsets
    from itertools import combinations

    m, n = 4, 3
    us = [sum(c) - m * (m + 1) // 2 for c in combinations(range(1, m + n + 1), m)]
    counts = np.bincount(us, minlength=m * n + 1)
    np.testing.assert_allclose(h._wilcox_cdf(m, n), np.cumsum(counts) / counts.sum(), atol=1e-15)


def test_prop_ztest_equals_chi2_on_2x2():
    a = h.prop_ztest(15, 50, 25, 50, continuity=True)
    b = h.chi2_test([[15, 35], [25, 25]], yates=True)
    assert a.p_value == pytest.approx(b.p_value, abs=1e-12)
    a = h.prop_ztest(15, 50, 25, 50, continuity=False)
    b = h.chi2_test([[15, 35], [25, 25]], yates=False)
    assert a.statistic == pytest.approx(b.statistic, abs=1e-12)


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("table, match", [
    ([[0, 0], [3, 4]], "all-zero row"),
    ([[1, -1], [3, 4]], "negative"),
    ([[1, np.nan], [3, 4]], "missing"),
    ([[1, 2, 3]], "at least 2 rows"),
])
def test_contingency_bad_input(table, match):
    with pytest.raises(InputError, match=match):
        h.chi2_test(table)


def test_raw_bad_input():
    with pytest.raises(InputError, match="missing"):
        h.ttest([1, 2, np.nan], [1, 2, 3])
    with pytest.raises(InputError, match="identical"):
        h.normality([1, 1, 1, 1])
    with pytest.raises(InputError, match="at least 2 groups"):
        h.kruskal([[1, 2, 3]])
    with pytest.raises(InputError, match="method"):
        h.p_adjust([0.1], "sidak")
    with pytest.raises(InputError, match="n=2"):
        h.p_adjust([0.1, 0.2, 0.3], n=2)


def test_result_frame_and_repr():
    res = h.chi2_test(TABLES[0])
    frame = res.to_frame()
    assert list(frame.columns[:3]) == ["method", "statistic", "df"]
    assert "TestResult" in repr(res)
    assert "expected count < 5" not in " ".join(res.notes)
    assert h.chi2_test([[1, 5], [6, 2]]).notes  # expected count below 5 flagged


# --------------------------------------------------------------------------- R parity
@pytest.mark.r
@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize("yates", [True, False])
def test_chi2_parity_r(table, yates):
    a, b = h.chi2_test(table, yates=yates), h.chi2_test(table, yates=yates, engine="r")
    assert a.statistic == pytest.approx(b.statistic, abs=TOL)
    assert a.p_value == pytest.approx(b.p_value, abs=TOL)
    assert a.df == b.df and a.method == b.method


@pytest.mark.r
@pytest.mark.parametrize("table", TABLES + [
    [[12, 30, 41, 55, 62], [9, 25, 20, 24, 22]],  # 2 x 5, n = 300
    [[1, 0, 2], [0, 3, 0], [4, 0, 1], [0, 2, 2]],
    [[20, 3], [4, 30]],
    [[5, 0], [0, 5]],
])
def test_fisher_parity_r(table):
    a, b = h.fisher_test(table), h.fisher_test(table, engine="r")
    assert a.p_value == pytest.approx(b.p_value, abs=TOL, rel=1e-9)
    if np.shape(table) == (2, 2):
        for attr in ("estimate", "ci_low", "ci_high"):
            assert getattr(a, attr) == pytest.approx(getattr(b, attr), rel=1e-9, abs=1e-12)


@pytest.mark.r
def test_ttest_wilcox_parity_r():
    rng = np.random.default_rng(11)
    samples = [
        (rng.normal(size=20), rng.normal(0.5, 2, size=25)),  # exact Wilcoxon
        (np.round(rng.normal(size=20)), np.round(rng.normal(size=25))),  # ties -> normal approx
        (rng.normal(size=60), rng.normal(size=30)),  # n >= 50 -> normal approx
        (rng.normal(size=49), rng.normal(size=49)),  # largest exact case
    ]
    for x, y in samples:
        for ev in (True, False):
            a, b = h.ttest(x, y, equal_var=ev), h.ttest(x, y, equal_var=ev, engine="r")
            for attr in ("statistic", "df", "p_value", "estimate", "ci_low", "ci_high"):
                assert getattr(a, attr) == pytest.approx(getattr(b, attr), abs=TOL)
        for correct in (True, False):
            a = h.mannwhitney(x, y, correct=correct)
            b = h.mannwhitney(x, y, correct=correct, engine="r")
            assert a.statistic == b.statistic and a.method == b.method
            assert a.p_value == pytest.approx(b.p_value, abs=TOL)
    x, y = samples[2]
    a, b = h.mannwhitney(x, y, exact=True), h.mannwhitney(x, y, exact=True, engine="r")
    assert a.p_value == pytest.approx(b.p_value, abs=TOL) and "exact" in a.method


@pytest.mark.r
def test_kruskal_anova_parity_r():
    rng = np.random.default_rng(5)
    groups = [rng.normal(size=20), rng.normal(0.5, 2, size=25), np.round(rng.normal(1, 1, size=10))]
    for f in (h.kruskal, h.anova):
        a, b = f(groups), f(groups, engine="r")
        assert a.statistic == pytest.approx(b.statistic, abs=TOL)
        assert a.p_value == pytest.approx(b.p_value, abs=TOL)
    # ?kruskal.test: kruskal.test(Ozone ~ Month, data = airquality): chi-squared = 29.267, df = 4, p = 6.901e-06
    oz = _r("airquality$Ozone[!is.na(airquality$Ozone)]")
    month = _r("airquality$Month[!is.na(airquality$Ozone)]")
    res = h.kruskal(oz, month)
    assert res.statistic == pytest.approx(29.267, abs=5e-4)
    assert res.p_value == pytest.approx(6.901e-06, rel=1e-3)


@pytest.mark.r
def test_normality_parity_r():
    rng = np.random.default_rng(9)
    for x in (rng.normal(size=30), rng.exponential(size=150), np.round(rng.normal(size=50), 1)):
        a, b = h.normality(x, "shapiro"), h.normality(x, "shapiro", engine="r")
        assert a.p_value == pytest.approx(b.p_value, abs=1e-8)
        a, b = h.normality(x, "ks"), h.normality(x, "ks", engine="r")
        assert a.statistic == pytest.approx(b.statistic, abs=TOL)
        assert a.p_value == pytest.approx(b.p_value, abs=TOL)


@pytest.mark.r
def test_prop_ztest_parity_r():
    for x1, n1, x2, n2 in [(15, 50, 25, 50), (3, 40, 9, 35), (30, 31, 20, 40)]:
        for correct in (True, False):
            a = h.prop_ztest(x1, n1, x2, n2, continuity=correct)
            tt = f"prop.test(c({x1}, {x2}), c({n1}, {n2}), correct = {str(correct).upper()})"
            assert a.p_value == pytest.approx(_r(f"suppressWarnings({tt})$p.value"), abs=TOL)
            ci = _r(f"suppressWarnings({tt})$conf.int")
            assert [a.ci_low, a.ci_high] == pytest.approx(list(ci), abs=TOL)


@pytest.mark.r
def test_summary_ttest_parity_r():
    # R t.test on data built to have exactly the printed mean/SD/n
    m1, s1, n1, m2, s2, n2 = 52.3, 10.1, 48, 49.8, 12.6, 61
    def make(m, s, n):
        z = np.linspace(-1, 1, n)
        return m + s * (z - z.mean()) / z.std(ddof=1)
    for ev in (True, False):
        a = h.ttest_from_summary(m1, s1, n1, m2, s2, n2, equal_var=ev)
        b = h.ttest(make(m1, s1, n1), make(m2, s2, n2), equal_var=ev, engine="r")
        assert a.p_value == pytest.approx(b.p_value, abs=TOL)


@pytest.mark.r
def test_p_adjust_parity_r():
    from her2stats import r_bridge

    rng = np.random.default_rng(2)
    p = np.r_[rng.uniform(size=12) ** 3, np.nan, 0.5, 0.5]
    for ours, theirs in [("bonferroni", "bonferroni"), ("holm", "holm"), ("fdr_bh", "BH"),
                         ("hochberg", "hochberg"), ("fdr_by", "BY")]:
        for n in (None, 20):
            r = r_bridge.call("h2s_p_adjust", p=p, method=theirs, n=n)
            np.testing.assert_allclose(h.p_adjust(p, ours, n=n), r, atol=1e-15, equal_nan=True)


def test_fisher_monte_carlo_and_size_guard(monkeypatch):
    table = [[3, 1, 2, 0], [1, 4, 0, 2]]
    exact = h.fisher_test(table)
    mc = h.fisher_test(table, simulate=True, B=4000, seed=1)
    se = np.sqrt(exact.p_value * (1 - exact.p_value) / 4000)
    assert abs(mc.p_value - exact.p_value) < 4 * se  # Monte-Carlo-error-based tolerance
    assert mc.p_value == h.fisher_test(table, simulate=True, B=4000, seed=1).p_value  # seeded
    assert "simulated" in mc.method
    # a table beyond the exact budget: Monte Carlo when simulate="auto", a clear error when False
    monkeypatch.setattr(h, "_FISHER_MAX_ENTRIES", 50)
    big = [[12, 30, 41, 55, 62], [9, 25, 20, 24, 22], [5, 6, 7, 8, 9]]
    assert "simulated" in h.fisher_test(big, B=500).method
    with pytest.raises(InputError, match="too large"):
        h.fisher_test(big, simulate=False)


# ----------------------------------------------------------------------------- rank-test p range
@pytest.mark.parametrize("ns", [(3, 3), (5, 8), (12, 30), (60, 70), (4, 5, 6)])
def test_rank_test_p_range_never_beaten_by_data(ns):
    """No data of these group sizes gives a smaller rank-test p than the bound (brute force over
    random and extreme data, both continuity settings, exact and approximate)."""
    low, high = h.rank_test_p_range(ns)
    assert high == 1.0 and 0 < low < 1
    rng = np.random.default_rng(3)
    n = sum(ns)
    for trial in range(200):
        if trial % 3 == 0:   # separated groups, with or without ties inside each group
            vals = [np.full(k, float(i)) if trial % 2 else i * 1000.0 + np.arange(k) for i, k in enumerate(ns)]
        else:                # random data on a coarse grid (many ties)
            vals = [np.floor(rng.normal(i, 1 + trial % 5, size=k)) for i, k in enumerate(ns)]
        if np.ptp(np.concatenate(vals)) == 0:
            continue
        if len(ns) == 2:
            for correct in (True, False):
                p = h.mannwhitney(vals[0], vals[1], correct=correct).p_value
                assert p >= low * (1 - 1e-12), (trial, p, low)
        else:
            assert h.kruskal(vals).p_value >= low * (1 - 1e-12)
    assert n >= 3


@pytest.mark.r
@pytest.mark.parametrize("ns", [(3, 3), (5, 8), (12, 30), (60, 70), (4, 5, 6)])
def test_rank_test_p_range_parity_r(ns):
    """The bound is attained: R's wilcox.test / kruskal.test on separated, within-group-tied data
    (and, for two small groups, R's exact test on separated untied data) give exactly it."""
    low, _ = h.rank_test_p_range(ns)
    groups = ", ".join(f"rep({i}, {k})" for i, k in enumerate(ns))
    if len(ns) == 2:
        tied = float(np.ravel(_r(f"suppressWarnings(wilcox.test({groups}, correct = FALSE)$p.value)"))[0])
        exact = float(np.ravel(_r(f"wilcox.test(1:{ns[0]}, {ns[0]} + 1:{ns[1]}, exact = TRUE)$p.value"))[0])
        assert low == pytest.approx(min(tied, exact), rel=1e-9, abs=1e-300)
    else:
        kw = float(np.ravel(_r(f"kruskal.test(list({groups}))$p.value"))[0])
        assert low == pytest.approx(kw, rel=1e-9)


def test_rank_test_p_range_rejects_bad_sizes():
    with pytest.raises(InputError, match="2 groups"):
        h.rank_test_p_range([5])
    with pytest.raises(InputError, match="size >= 1"):
        h.rank_test_p_range([5, 0])
