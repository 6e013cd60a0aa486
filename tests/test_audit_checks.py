"""Unit tests of the audit checks: rounding rules, GRIM/GRIMMER (against brute force), p-value
candidates (against R), AUC CI method detection, confusion-matrix recovery, HR/CI/p consistency."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats as sps

from her2stats.audit import checks
from her2stats.audit.schema import parse_printed as P


# ----------------------------------------------------------------------------- printed numbers
@pytest.mark.parametrize("text, value, decimals, relation, percent", [
    ("0.761", 0.761, 3, "=", False),
    ("<0.001", 0.001, 3, "<", False),
    ("≤ 0.05", 0.05, 2, "<=", False),
    ("89.5%", 89.5, 1, "=", True),
    ("1,286", 1286.0, 0, "=", False),
    ("0.50", 0.5, 2, "=", False),
    (0.5, 0.5, 1, "=", False),
    (12, 12.0, 0, "=", False),
    ("1e-4", 1e-4, 4, "=", False),
])
def test_parse_printed(text, value, decimals, relation, percent):
    p = P(text)
    assert p.value == pytest.approx(value, abs=1e-15)
    assert (p.decimals, p.relation, p.percent) == (decimals, relation, percent)


@pytest.mark.parametrize("bad", ["abc", "", "1.2.3", None, True, float("nan")])
def test_parse_printed_rejects(bad):
    with pytest.raises(ValueError):
        P(bad)


def test_rounding_rules_boundaries():
    assert checks.matches(0.7605, P("0.761")) == "round"
    assert checks.matches(0.76049, P("0.761")) is None
    assert checks.matches(0.76151, P("0.761")) is None
    assert checks.matches(0.0009, P("<0.001")) == "round"
    assert checks.matches(0.001, P("<0.001")) is None
    # 38/48 = 0.79167 prints as 0.791 only when digits are cut off
    assert checks.matches(38 / 48, P("0.791")) is None
    assert checks.matches(38 / 48, P("0.791"), ("round", "truncate")) == "truncate"
    # 15/19 = 78.947% prints as "78.90%" only as a zero-padded one-decimal value
    assert checks.matches(15 / 19, P("78.90%"), ("round", "truncate"), scale=100) is None
    assert checks.matches(15 / 19, P("78.90%"), ("round", "padded"), scale=100) == "padded"
    assert checks.matches(15 / 19, P("78.9%"), ("round", "padded"), scale=100) == "round"


def test_largest_remainder_reproduces_forced_column():
    # seed 002 Table 1, training, Regional N category, HER2-negative (n = 485): printed total 100.00
    counts = [282, 175, 21, 7]
    lr = checks.largest_remainder(counts, 485, 2)
    assert lr.tolist() == [58.15, 36.08, 4.33, 1.44]
    assert round(sum(lr), 6) == 100.0
    plain = [round(100 * c / 485, 2) for c in counts]
    assert plain[0] == 58.14  # ordinary rounding does not give the printed 58.15


# ----------------------------------------------------------------------------- GRIM / GRIMMER
def _attainable(n: int, lo: int, hi: int, d: int):
    """Every (mean, SD) printed to d decimals that n integers in [lo, hi] can give (brute force)."""
    means, pairs = set(), set()
    for xs in itertools.combinations_with_replacement(range(lo, hi + 1), n):
        m = sum(xs) / n
        s = float(np.std(xs, ddof=1))
        means.add(round(m, d))
        pairs.add((round(m, d), round(s, d)))
    return means, pairs


def test_grim_matches_brute_force():
    n, d = 7, 2
    means, _ = _attainable(n, 1, 5, d)
    for k in range(100, 501):
        v = k / 100
        rec, sums = checks.grim_mean(P(f"{v:.2f}"), n, 1.0, ("round",), group="g")
        assert (rec["verdict"] == "reproduced") == (round(v, 2) in means), v
        assert rec["verdict"] in ("reproduced", "not reproduced")


def test_grim_published_example_and_uninformative():
    # Brown & Heathers (2017): a mean of 5.19 from 28 integer responses is impossible
    rec, _ = checks.grim_mean(P("5.19"), 28, 1.0, ("round",), group="g")
    assert rec["verdict"] == "not reproduced"
    assert "145/28" in rec["note"] and "146/28" in rec["note"]
    rec, _ = checks.grim_mean(P("5.18"), 28, 1.0, ("round",), group="g")
    assert rec["verdict"] == "reproduced" and rec["recomputed"] == pytest.approx(145 / 28)
    rec, _ = checks.grim_mean(P("5.19"), 128, 1.0, ("round",), group="g")
    assert rec["verdict"] == "not derivable"


def test_grimmer_never_rejects_attainable_pairs_and_catches_impossible_ones():
    n, d = 5, 2
    _, pairs = _attainable(n, 1, 7, d)
    rejected = 0
    tried = 0
    for m in sorted({p[0] for p in pairs}):
        rec, sums = checks.grim_mean(P(f"{m:.2f}"), n, 1.0, ("round",), group="g")
        assert rec["verdict"] == "reproduced"
        for k in range(0, 301):
            sd = k / 100
            r = checks.grimmer_sd(P(f"{m:.2f}"), P(f"{sd:.2f}"), n, 1.0, sums, group="g")
            if (m, sd) in pairs:
                assert r["verdict"] == "reproduced", (m, sd)  # sound: never flags a real pair
            else:
                tried += 1
                rejected += r["verdict"] == "not reproduced"
    assert rejected / tried > 0.8  # and it catches most impossible SDs at this n


def test_median_granularity():
    # printed without decimals every median prints as some integer: nothing to check
    assert checks.median_granularity(P("21"), 48, 1.0, ("round",), group="g")["verdict"] == "not derivable"
    assert checks.median_granularity(P("21.0"), 48, 1.0, ("round",), group="g")["verdict"] == "reproduced"
    assert checks.median_granularity(P("21.5"), 48, 1.0, ("round",), group="g")["verdict"] == "reproduced"
    assert checks.median_granularity(P("21.5"), 49, 1.0, ("round",), group="g")["verdict"] == "not reproduced"
    assert checks.median_granularity(P("16.75"), 48, 1.0, ("round",), group="g")["verdict"] == "not reproduced"


# ----------------------------------------------------------------------------- p-value candidates
def test_count_candidates_2x2_values():
    cands, notes = checks.count_test_candidates(np.array([[78, 27], [71, 21]]))
    assert cands["chi-square (Yates)"] == pytest.approx(0.7605224, abs=1e-6)
    # the z-test of proportions is the square root of the 2x2 chi-square test
    assert cands["z-test of proportions"] == pytest.approx(cands["chi-square (no Yates)"], abs=1e-12)
    assert cands["z-test of proportions (continuity)"] == pytest.approx(cands["chi-square (Yates)"], abs=1e-12)
    assert not notes


def test_count_candidates_drop_empty_level_and_skip_large_fisher():
    cands, notes = checks.count_test_candidates(np.array([[3, 5, 0], [7, 2, 0]]).T)
    assert "1 all-zero level(s) dropped" in notes[0]
    assert set(cands) >= {"chi-square (Yates)", "Fisher exact"}
    big = np.array([[25, 16, 43, 16, 12, 16], [156, 46, 153, 46, 37, 47]]).T
    cands, notes = checks.count_test_candidates(big)
    assert "Fisher exact (r x c)" not in cands and "not run" in notes[0]


@pytest.mark.r
def test_count_candidates_match_R():
    from her2stats import r_bridge

    tables = {"2x2": [[20, 9], [129, 39]], "4x2": [[134, 38], [7, 5], [5, 3], [3, 2]]}
    for name, t in tables.items():
        arr = np.array(t, dtype=float)
        cands, _ = checks.count_test_candidates(arr)
        flat = ", ".join(str(int(v)) for v in arr.flatten())
        r_chi = r_bridge.r_eval(f"suppressWarnings(chisq.test(matrix(c({flat}), ncol = 2, byrow = TRUE)))$p.value")
        r_chi_raw = r_bridge.r_eval(
            f"suppressWarnings(chisq.test(matrix(c({flat}), ncol = 2, byrow = TRUE), correct = FALSE))$p.value")
        r_fisher = r_bridge.r_eval(f"fisher.test(matrix(c({flat}), ncol = 2, byrow = TRUE))$p.value")
        if name == "2x2":
            assert cands["chi-square (Yates)"] == pytest.approx(float(np.ravel(r_chi)[0]), abs=1e-9)
            assert cands["chi-square (no Yates)"] == pytest.approx(float(np.ravel(r_chi_raw)[0]), abs=1e-9)
            assert cands["Fisher exact"] == pytest.approx(float(np.ravel(r_fisher)[0]), abs=1e-9)
        else:
            assert cands["chi-square"] == pytest.approx(float(np.ravel(r_chi_raw)[0]), abs=1e-9)
            assert cands["Fisher exact (r x c)"] == pytest.approx(float(np.ravel(r_fisher)[0]), abs=1e-7)


def test_summary_candidate_range_contains_every_consistent_input():
    rng = np.random.default_rng(8)
    means, sds, ns = [P("2.7"), P("2.5")], [P("1.1"), P("1.0")], [60, 55]
    c = checks.summary_test_candidates(means, sds, ns)
    for name, eq in (("Student t", True), ("Welch t", False)):
        point, lo, hi = c[name]
        assert lo <= point <= hi
        for _ in range(300):
            m1, m2 = rng.uniform(2.65, 2.75), rng.uniform(2.45, 2.55)
            s1, s2 = rng.uniform(1.05, 1.15), rng.uniform(0.95, 1.05)
            p = sps.ttest_ind_from_stats(m1, s1, 60, m2, s2, 55, equal_var=eq).pvalue
            assert lo - 1e-12 <= p <= hi + 1e-12


def test_check_p_reproduced_not_reproduced_and_adjusted():
    cands = {"chi-square (Yates)": (0.7605, 0.7605, 0.7605), "Fisher exact": (0.7398, 0.7398, 0.7398)}
    rec = checks.check_p(P("0.761"), cands, ("round",))
    assert rec["verdict"] == "reproduced" and rec["method"] == "chi-square (Yates)"
    rec = checks.check_p(P("0.891"), cands, ("round",))
    assert rec["verdict"] == "not reproduced"
    assert rec["closest_candidate"] == "chi-square (Yates)" and "Fisher exact 0.7398" in rec["note"]
    # an adjusted p may exceed the raw p, but never fall below it
    assert checks.check_p(P("0.90"), cands, ("round",), p_adjust="fdr_bh")["verdict"] == "not derivable"
    assert checks.check_p(P("0.50"), cands, ("round",), p_adjust="fdr_bh")["verdict"] == "not reproduced"
    assert checks.check_p(P("0.5"), {}, ("round",))["verdict"] == "not derivable"


# ----------------------------------------------------------------------------- AUC
def test_auc_ci_method_detection():
    from her2stats.stats.roc import auc_ci_from_summary

    n_pos, n_neg = 40, 60
    a = 1900 / (2 * n_pos * n_neg)  # a lattice AUC
    for method, label in (("hanley", "Hanley-McNeil"), ("exact", "exact binomial (Clopper-Pearson)")):
        lo, hi = auc_ci_from_summary(a, n_pos, n_neg, method=method)
        recs = checks.check_auc_ci(P(f"{a:.3f}"), (P(f"{lo:.3f}"), P(f"{hi:.3f}")), n_pos, n_neg, 0.95, ("round",))
        assert [r["verdict"] for r in recs] == ["not derivable", "reproduced", "reproduced"]
        assert recs[1]["method"].startswith(label)
    # a DeLong CI that neither summary method gives is "not derivable", not "not reproduced"
    recs = checks.check_auc_ci(P("0.800"), (P("0.600"), P("0.950")), n_pos, n_neg, 0.95, ("round",), "DeLong")
    assert [r["verdict"] for r in recs[1:]] == ["not derivable", "not derivable"]
    # so is one whose method is not stated (it may be DeLong or a bootstrap) ...
    recs = checks.check_auc_ci(P("0.800"), (P("0.600"), P("0.950")), n_pos, n_neg, 0.95, ("round",))
    assert [r["verdict"] for r in recs[1:]] == ["not derivable", "not derivable"]
    assert "method not stated" in recs[1]["note"]
    # ... but a stated summary method that does not give it is "not reproduced"
    recs = checks.check_auc_ci(P("0.800"), (P("0.600"), P("0.950")), n_pos, n_neg, 0.95, ("round",), "exact binomial")
    assert [r["verdict"] for r in recs[1:]] == ["not reproduced", "not reproduced"]
    # with only the total n, the exact binomial interval (which needs only n) is tried
    lo, hi = auc_ci_from_summary(0.868, 329)
    recs = checks.check_auc_ci(P("0.868"), (P(f"{lo:.3f}"), P(f"{hi:.3f}")), 329, None, 0.95, ("round",))
    assert [r["verdict"] for r in recs[1:]] == ["reproduced", "reproduced"] and "split not printed" in recs[1]["method"]


def test_auc_comparison_implied_correlation():
    from her2stats.stats.roc import hanley_se

    a1, a2, n_pos, n_neg, r = 0.85, 0.75, 30, 50, 0.4
    se1, se2 = hanley_se(a1, n_pos, n_neg), hanley_se(a2, n_pos, n_neg)
    p = 2 * sps.norm.sf(0.1 / math.sqrt(se1 ** 2 + se2 ** 2 - 2 * r * se1 * se2))
    rec = checks.check_auc_comparison(P("0.85"), P("0.75"), n_pos, n_neg, P(f"{p:.4f}"), True, ("round",))
    assert rec["verdict"] == "not derivable"
    assert "r = 0.40" in rec["note"]
    # a p larger than even perfectly anti-correlated AUCs allow (SE_diff <= se1 + se2) is impossible
    rec = checks.check_auc_comparison(P("0.95"), P("0.60"), n_pos, n_neg, P("0.40"), True, ("round",))
    assert rec["verdict"] == "not reproduced" and "outside [-1, 1]" in rec["note"]


# ----------------------------------------------------------------------------- rates
def test_recover_confusion_matrix_unique():
    # TP=30, FN=10, FP=12, TN=48
    printed = {"sensitivity": P("75.0%"), "specificity": P("80.0%"), "ppv": P("0.714"), "npv": P("0.828"),
               "accuracy": P("0.780")}
    recs = checks.recover_confusion(40, 60, printed, ("round",))
    assert all(r["verdict"] == "reproduced" for r in recs)
    assert "TP=30, FN=10, FP=12, TN=48" in recs[0]["method"] and recs[0]["note"] == "unique best matrix"
    printed["npv"] = P("0.900")  # inconsistent with every matrix that fits the rest
    recs = {r["quantity"]: r for r in checks.recover_confusion(40, 60, printed, ("round",))}
    assert recs["npv"]["verdict"] == "not reproduced"
    assert recs["npv"]["closest_value"] == pytest.approx(48 / 58)


# ----------------------------------------------------------------------------- HR / OR
def test_ratio_ci_and_p_consistency():
    se, est = 0.3, 2.0
    lo, hi = est * math.exp(-1.959964 * se), est * math.exp(1.959964 * se)
    p = 2 * sps.norm.sf(math.log(est) / se)
    recs = checks.check_ratio("OR", P("2.00"), (P(f"{lo:.2f}"), P(f"{hi:.2f}")), P(f"{p:.3f}"), 0.95, ("round",))
    assert [r["verdict"] for r in recs] == ["reproduced", "reproduced"]
    recs = checks.check_ratio("OR", P("2.00"), (P(f"{lo:.2f}"), P(f"{hi:.2f}")), P("0.300"), 0.95, ("round",))
    assert recs[1]["verdict"] == "not reproduced"
    assert recs[1]["recomputed"] == pytest.approx(p, abs=2e-3)
    recs = checks.check_ratio("HR", P("3.00"), (P(f"{lo:.2f}"), P(f"{hi:.2f}")), None, 0.95, ("round",))
    assert recs[0]["verdict"] == "not reproduced"


# ----------------------------------------------------------------------------- fair p verdicts
def test_p_printed_as_zero_reads_at_the_printed_precision():
    q, note = checks.zero_p_precision(P("0"), 3)
    assert q.interval[1] == pytest.approx(0.0005) and "p < 0.0005" in note
    q, note = checks.zero_p_precision(P("0.000"), None)
    assert q.interval[1] == pytest.approx(0.0005) and "its printed precision" in note
    assert checks.zero_p_precision(P("0.031"), 3) == (P("0.031"), "")
    # "0" with 3-decimal precision: 0.0004 reproduces it, 0.003 does not (p < 0.5 would accept both)
    q, _ = checks.zero_p_precision(P("0"), 3)
    assert checks.matches(0.0004, q) == "round" and checks.matches(0.003, q) is None


def test_rank_test_bounds_make_an_unmatched_p_not_derivable_or_impossible():
    means, sds = [P("10.1"), P("12.0")], [P("2.0"), P("2.1")]
    cands = checks.summary_test_candidates(means, sds, [30, 30])
    rank = checks.rank_note([30, 30])
    rec = checks.check_p(P("0.40"), cands, ("round",), rank=rank)   # t-tests give ~0.0006
    assert rec["verdict"] == "not derivable" and "Mann-Whitney test on 30 + 30 values" in rec["note"]
    # 3 + 3 values: no rank test gives p < 0.025 (R: wilcox.test(rep(0, 3), rep(1, 3), correct = FALSE))
    small = checks.summary_test_candidates(means, sds, [3, 3])
    rec = checks.check_p(P("0.001"), small, ("round",), rank=checks.rank_note([3, 3]))
    assert rec["verdict"] == "not reproduced" and "below what any rank test can give" in rec["note"]
    assert checks.check_p(P("0.001"), {}, ("round",), rank=checks.rank_note([3, 3]))["verdict"] == "not reproduced"


@pytest.mark.parametrize("method", ["fdr_bh", "bonferroni", "holm"])
def test_adjusted_bounds_bracket_every_family_consistent_with_the_raw_bounds(method):
    """Draw raw p-values inside their bounds: every adjusted p falls inside the computed bounds."""
    from her2stats.stats.htest import p_adjust

    rng = np.random.default_rng(7)
    for _ in range(30):
        m = int(rng.integers(3, 12))
        lo = rng.uniform(0, 0.5, m) ** 2
        hi = np.minimum(1.0, lo + rng.uniform(0, 0.6, m) * (rng.uniform(size=m) < 0.6))
        bounds = checks.adjusted_bounds(list(zip(lo, hi)), method, m + 2)
        for _ in range(40):
            raw = np.concatenate([rng.uniform(lo, hi), rng.uniform(0, 1, 2)])
            adj = p_adjust(raw, method=method)[:m]
            for a, (b_lo, b_hi) in zip(adj, bounds):
                assert b_lo - 1e-12 <= a <= b_hi + 1e-12


def test_adjusted_family_exact_when_every_raw_p_is_derivable():
    from her2stats.stats.htest import p_adjust

    raw = [0.01, 0.04, 0.03, 0.5]
    bounds = checks.adjusted_bounds([(r, r) for r in raw], "fdr_bh")
    np.testing.assert_allclose([b[0] for b in bounds], p_adjust(raw, "fdr_bh"), atol=1e-15)
    np.testing.assert_allclose([b[0] for b in bounds], [b[1] for b in bounds], atol=1e-15)


# ----------------------------------------------------------------------------- more consistency checks
def test_interval_problems():
    assert checks.interval_problems(P("0.80"), (P("0.70"), P("0.90")), (0, 1)) == []
    assert "outside its CI" in checks.interval_problems(P("0.95"), (P("0.70"), P("0.90")), (0, 1))[0]
    assert "outside [0, 1]" in checks.interval_problems(P("0.95"), (P("0.90"), P("1.02")), (0, 1))[0]
    assert "above upper bound" in checks.interval_problems(None, (P("0.95"), P("0.80")), None)[0]
    # rounding is allowed for: 0.905 may print as "0.91" while its upper bound prints "0.90"
    assert checks.interval_problems(P("0.91"), (P("0.80"), P("0.90")), (0, 1)) == []
    recs = checks.ci_plausibility("C-index", P("0.95"), (P("0.70"), P("0.90")), (0, 1))
    assert [r["verdict"] for r in recs] == ["not reproduced", "not reproduced"]


def test_pooled_mean_and_sd_of_an_all_column_match_the_data():
    rng = np.random.default_rng(3)
    for _ in range(20):
        a, b = rng.normal(50, 10, 37), rng.normal(55, 12, 21)
        allv = np.concatenate([a, b])
        fmt = lambda x: P(f"{x:.2f}")  # noqa: E731
        recs = checks.check_pooled_mean_sd([fmt(a.mean()), fmt(b.mean())], [fmt(a.std(ddof=1)), fmt(b.std(ddof=1))],
                                           [37, 21], fmt(allv.mean()), fmt(allv.std(ddof=1)), ("round",))
        assert [r["verdict"] for r in recs] == ["reproduced", "reproduced"]
    recs = checks.check_pooled_mean_sd([P("50.00"), P("55.00")], [P("10.00"), P("12.00")], [37, 21],
                                       P("53.00"), P("9.00"), ("round",))
    assert [r["verdict"] for r in recs] == ["not reproduced", "not reproduced"]


def test_difference_within_rounding():
    assert checks.check_difference(P("0.22"), P("0.84"), P("0.62"), ("round",))["verdict"] == "reproduced"
    rec = checks.check_difference(P("0.14"), P("0.67"), P("0.51"), ("round",))
    assert rec["verdict"] == "not reproduced" and rec["recomputed"] == pytest.approx(0.16)
    # "0.10" from 0.845 - 0.754 = 0.091? the printed inputs allow differences in [0.08, 0.10]
    assert checks.check_difference(P("0.10"), P("0.84"), P("0.75"), ("round",))["verdict"] == "reproduced"


def test_accuracy_lies_between_sensitivity_and_specificity():
    ok = checks.accuracy_between({"accuracy": P("0.901"), "sensitivity": P("0.870"), "specificity": P("0.946")})
    assert ok["verdict"] == "not derivable" and "consistent" in ok["method"]
    bad = checks.accuracy_between({"accuracy": P("0.95"), "sensitivity": P("0.87"), "specificity": P("0.90")})
    assert bad["verdict"] == "not reproduced" and bad["note"].startswith("impossible")


def test_feasible_splits_match_brute_force():
    # sensitivity 60%, specificity 73.9% of n = 61: only 15 positives (9/15, 34/46) fit
    printed = {"sensitivity": P("60%"), "specificity": P("73.9%")}
    assert checks.feasible_splits(61, printed, ("round",)) == [15]
    brute = [k for k in range(1, 61) if any(round(100 * tp / k) == 60 for tp in range(k + 1))
             and any(round(1000 * tn / (61 - k)) == 739 for tn in range(61 - k + 1))]
    assert brute == [15]
    recs, splits = checks.recover_confusion_any_split(61, printed, ("round",))
    assert splits == [15] and all(r["verdict"] == "reproduced" for r in recs)


def test_printed_confusion_matrix_and_cohort_size():
    recs = checks.check_confusion_counts(19, 11, 9, 24, {"sensitivity": P("63.3%")}, ("round",), n=61)
    by = {r["quantity"]: r for r in recs}
    assert by["sensitivity"]["verdict"] == "reproduced"
    assert by["cases (TP+FN+FP+TN)"]["verdict"] == "not reproduced" and by["cases (TP+FN+FP+TN)"]["recomputed"] == 63


def test_metric_cis_from_counts_and_plausibility():
    from her2stats.stats.diagnostics import binomial_ci

    lo, hi = binomial_ci(17, 19, method="exact")
    recs = checks.check_metric_cis({"sensitivity": (P(f"{lo[0]:.3f}"), P(f"{hi[0]:.3f}"))}, {"sensitivity": P("0.895")},
                                   (17, 2, 6, 23), 0.95, ("round",), None)
    assert [r["verdict"] for r in recs] == ["reproduced", "reproduced"] and "Clopper-Pearson" in recs[0]["method"]
    recs = checks.check_metric_cis({"sensitivity": (P("0.50"), P("0.80"))}, {"sensitivity": P("0.895")},
                                   None, 0.95, ("round",), "bootstrap")
    assert [r["verdict"] for r in recs] == ["not reproduced", "not reproduced"]
    recs = checks.check_metric_cis({"sensitivity": (P("0.70"), P("0.97"))}, {"sensitivity": P("0.895")},
                                   None, 0.95, ("round",), "bootstrap")
    assert [r["verdict"] for r in recs] == ["not derivable", "not derivable"]


def test_c_statistic_and_calibration_plausibility():
    recs = checks.check_c_statistic(P("0.79"), (P("0.65"), P("0.93")))
    assert [r["verdict"] for r in recs] == ["not derivable"] * 3 and recs[0]["flag"] == ""
    assert checks.check_c_statistic(P("1.20"), None)[0]["verdict"] == "not reproduced"
    assert checks.check_c_statistic(P("0.41"), None)[0]["flag"].startswith("implausible")
    from her2stats.audit.schema import CalibrationRow

    stat = 7.2
    p = sps.chi2.sf(stat, 8)
    row = CalibrationRow(kind="calibration", row="cal", slope="0.92", slope_ci=("0.71", "1.13"),
                         hl_statistic=f"{stat:.2f}", hl_p=f"{p:.3f}")
    by = {r["quantity"]: r for r in checks.check_calibration(row, ("round",))}
    assert by["HL p"]["verdict"] == "reproduced" and "8 df" in by["HL p"]["method"]
    assert by["calibration slope"]["verdict"] == "not derivable" and by["calibration slope"]["flag"] == ""
    row = CalibrationRow(kind="calibration", row="cal", slope="-0.10", hl_statistic="0.071")
    by = {r["quantity"]: r for r in checks.check_calibration(row, ("round",))}
    assert by["calibration slope"]["verdict"] == "not reproduced"
    assert by["HL statistic"]["flag"].startswith("implausible")


def test_ratio_p_that_fits_a_90_percent_interval_is_noted():
    # seed 003, Table 2, multivariable PR: OR 0.343 (0.151-0.778), p = 0.032
    recs = checks.check_ratio("OR", P("0.343"), (P("0.151"), P("0.778")), P("0.032"), 0.95, ("round",))
    assert recs[1]["verdict"] == "not reproduced" and "90% interval" in recs[1]["note"]
    assert recs[1]["recomputed"] == pytest.approx(0.0105, abs=2e-4)
