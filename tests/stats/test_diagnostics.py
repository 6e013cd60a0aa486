"""Diagnostic accuracy and threshold discipline.

References: statsmodels ``proportion_confint`` ("beta" = Clopper-Pearson, "wilson") at 1e-12;
R ``binom.test`` / ``prop.test(correct=FALSE)`` at 1e-9; pROC ``ci.coords`` within Monte-Carlo
error (4 SE of the difference of two percentile estimates).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.proportion import proportion_confint

from her2stats.errors import InputError
from her2stats.stats import diagnostics as D


def _sim(n=200, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(int)
    s = np.round(1 / (1 + np.exp(-(rng.normal(size=n) + 1.2 * y - 0.5))), 2)
    return y, s


def test_counts_metrics_and_exact_wilson_intervals_match_statsmodels():
    r = D.diagnostic_metrics_from_counts(17, 6, 23, 2, ci="exact", engine="python")
    t = r.table.set_index("metric")
    assert t.loc["sensitivity", "estimate"] == pytest.approx(17 / 19)
    assert t.loc["f1", "estimate"] == pytest.approx(34 / 42)
    assert math.isnan(t.loc["f1", "ci_low"]) and "bootstrap" in t.loc["f1", "note"]
    for metric, (x, n) in {"sensitivity": (17, 19), "specificity": (23, 29), "ppv": (17, 23),
                           "npv": (23, 25), "accuracy": (40, 48)}.items():
        lo, hi = proportion_confint(x, n, alpha=0.05, method="beta")
        assert (t.loc[metric, "ci_low"], t.loc[metric, "ci_high"]) == pytest.approx((lo, hi), abs=1e-12)
    w = D.diagnostic_metrics_from_counts(17, 6, 23, 2, ci="wilson", engine="python").table.set_index("metric")
    lo, hi = proportion_confint(17, 19, alpha=0.05, method="wilson")
    assert (w.loc["sensitivity", "ci_low"], w.loc["sensitivity", "ci_high"]) == pytest.approx((lo, hi), abs=1e-12)


def test_edge_counts_give_closed_intervals_and_zero_denominators_nan():
    r = D.diagnostic_metrics_from_counts(12, 0, 29, 7, engine="python").table.set_index("metric")
    assert r.loc["specificity", "ci_high"] == 1.0 and r.loc["ppv", "estimate"] == 1.0
    z = D.diagnostic_metrics_from_counts(0, 0, 10, 5, engine="python").table.set_index("metric")
    assert math.isnan(z.loc["ppv", "estimate"]) and "zero denominator" in z.loc["ppv", "note"]
    with pytest.raises(InputError, match="non-negative integer"):
        D.diagnostic_metrics_from_counts(-1, 0, 3, 4)


def test_bootstrap_from_counts_is_seeded_and_brackets_estimate():
    a = D.diagnostic_metrics_from_counts(17, 6, 23, 2, ci="bootstrap", n_boot=500, seed=1, engine="python")
    b = D.diagnostic_metrics_from_counts(17, 6, 23, 2, ci="bootstrap", n_boot=500, seed=1, engine="python",
                                         scheduler="threads")
    assert a.table.equals(b.table)
    t = a.table.set_index("metric")
    assert t.loc["f1", "ci_low"] < t.loc["f1", "estimate"] < t.loc["f1", "ci_high"]


def test_threshold_rule_is_chosen_on_development_and_carried():
    y, s = _sim(seed=1)
    dev, test = slice(0, 120), slice(120, 200)
    rule = D.choose_threshold(y[dev], s[dev], rule="youden")
    from her2stats.stats.roc import youden

    assert rule.value == youden(y[dev], s[dev], engine="python").threshold
    out = D.diagnostic_metrics(y[test], s[test], threshold=rule, role="test", engine="python")
    assert out.threshold == rule.value
    assert "chosen on development cohort" in out.to_frame()["threshold_source"].iloc[0]
    pred = (s[test] >= rule.value).astype(int)
    assert out.tp == int(((pred == 1) & (y[test] == 1)).sum())


def test_youden_on_a_test_cohort_is_refused_or_labelled():
    y, s = _sim(seed=2)
    with pytest.raises(InputError, match="re-optimise the cut-off on this test cohort"):
        D.diagnostic_metrics(y, s, threshold="youden", role="test", engine="python")
    out = D.diagnostic_metrics(y, s, threshold="youden", role="test", recompute_on_test=True, engine="python")
    assert "re-optimised on this test cohort" in out.to_frame()["threshold_source"].iloc[0]
    with pytest.raises(InputError, match="give threshold="):
        D.diagnostic_metrics(y, s, engine="python")


def test_sensitivity_and_specificity_rules_meet_their_targets():
    y, s = _sim(seed=3)
    for kind in ("sensitivity", "specificity"):
        rule = D.choose_threshold(y, s, rule=(kind, 0.9))
        got = rule.sensitivity if kind == "sensitivity" else rule.specificity
        assert got >= 0.9
        res = D.diagnostic_metrics(y, s, threshold=rule, engine="python")
        assert res[kind] == pytest.approx(got, abs=1e-12)
    with pytest.raises(InputError, match="rule must be"):
        D.choose_threshold(y, s, rule="max_accuracy")


def test_reoptimised_bootstrap_is_wider_than_fixed_threshold_bootstrap():
    y, s = _sim(seed=4, n=120)
    fixed = D.diagnostic_metrics(y, s, threshold="youden", ci="bootstrap", n_boot=1000, seed=2, engine="python")
    reopt = D.diagnostic_metrics(y, s, threshold="youden", ci="bootstrap", reoptimise=True, n_boot=1000, seed=2,
                                 engine="python")
    width = lambda r, m: float(np.diff(r.table.set_index("metric").loc[m, ["ci_low", "ci_high"]].to_numpy())[0])
    assert width(reopt, "sensitivity") > width(fixed, "sensitivity")
    assert reopt.reoptimised and "re-selected" in reopt.threshold_source
    with pytest.raises(InputError, match="reoptimise"):
        D.diagnostic_metrics(y, s, threshold=0.5, ci="bootstrap", reoptimise=True, engine="python")


def test_binary_predictions_and_bad_input():
    y = np.array([1, 1, 0, 0, 1, 0])
    r = D.diagnostic_metrics(y, [1, 0, 0, 1, 1, 0], engine="python")
    assert (r.tp, r.fp, r.tn, r.fn) == (2, 1, 2, 1)
    allneg = D.diagnostic_metrics(y, [0, 0, 0, 0, 0, 0], engine="python")
    assert allneg.tp == 0 and math.isnan(allneg["ppv"])
    with pytest.raises(InputError, match="2 row"):
        D.diagnostic_metrics(y, [0.1, np.nan, 0.3, np.nan, 0.9, 0.2], threshold=0.5, engine="python")
    r = D.diagnostic_metrics(y, [0.1, np.nan, 0.3, np.nan, 0.9, 0.2], threshold=0.5, na="drop", engine="python")
    assert r.n_dropped == 2
    with pytest.raises(InputError, match="explicit direction"):
        D.diagnostic_metrics(y, [0.1, 0.4, 0.3, 0.2, 0.9, 0.2], threshold=0.5, direction="auto")


@pytest.mark.r
def test_r_parity_binomial_intervals():
    for method in ("exact", "wilson"):
        py = D.binomial_ci([0, 3, 17, 29], [19, 19, 19, 29], method=method, engine="python")
        rr = D.binomial_ci([0, 3, 17, 29], [19, 19, 19, 29], method=method, engine="r")
        np.testing.assert_allclose(py[0], rr[0], atol=1e-9)
        np.testing.assert_allclose(py[1], rr[1], atol=1e-9)


@pytest.mark.r
def test_r_parity_ci_coords_best_within_monte_carlo_error():
    y, s = _sim(seed=5, n=150)
    b = 2000
    py = D.diagnostic_metrics(y, s, threshold="youden", ci="bootstrap", reoptimise=True, n_boot=b, seed=7,
                              engine="python").table.set_index("metric")
    rr = D.diagnostic_metrics(y, s, threshold="youden", ci="bootstrap", reoptimise=True, n_boot=b, seed=7,
                              engine="r").table.set_index("metric")
    for m in ("sensitivity", "specificity", "accuracy"):
        # the percentile's MC SE, with the bootstrap SD approximated by the CI width / 3.92
        sd = (py.loc[m, "ci_high"] - py.loc[m, "ci_low"]) / 3.92
        se_q = math.sqrt(0.025 * 0.975 / b) / sps.norm.pdf(sps.norm.ppf(0.025)) * sd
        # resampled proportions are discrete (steps of 1/n_class): allow one step as well
        step = 1 / min(int(y.sum()), int((1 - y).sum()))
        for k in ("ci_low", "ci_high"):
            assert abs(py.loc[m, k] - rr.loc[m, k]) <= 4 * math.sqrt(2) * se_q + step, (m, k)


@pytest.mark.r
def test_r_parity_ci_coords_fixed_threshold_within_monte_carlo_error():
    y, s = _sim(seed=6, n=150)
    b = 1000
    kw = dict(threshold=0.45, ci="bootstrap", n_boot=b, seed=3)
    py = D.diagnostic_metrics(y, s, engine="python", **kw).table.set_index("metric")
    rr = D.diagnostic_metrics(y, s, engine="r", **kw).table.set_index("metric")
    assert py["estimate"].equals(rr["estimate"])
    for m in ("sensitivity", "specificity", "ppv", "npv", "accuracy"):
        sd = (py.loc[m, "ci_high"] - py.loc[m, "ci_low"]) / 3.92
        se_q = math.sqrt(0.025 * 0.975 / b) / sps.norm.pdf(sps.norm.ppf(0.025)) * sd
        step = 1 / min(int(y.sum()), int((1 - y).sum()))
        for k in ("ci_low", "ci_high"):
            assert abs(py.loc[m, k] - rr.loc[m, k]) <= 4 * math.sqrt(2) * se_q + step, (m, k)


# =========================================================================== issue 20
# Likelihood ratios and DOR: statsmodels' Table2x2 (log-method risk-ratio and Woolf odds-ratio
# intervals, an independent implementation) at 1e-12; R engine 1e-9 relative. Threshold rules:
# brute force over the curve points; pROC coords(x="best", best.method, best.weights) at 1e-12.
@pytest.mark.parametrize("counts", [(17, 6, 23, 2), (40, 10, 90, 15), (5, 1, 30, 9)])
def test_likelihood_ratios_and_dor_match_statsmodels_log_intervals(counts):
    from statsmodels.stats.contingency_tables import Table2x2

    tp, fp, tn, fn = counts
    t = D.diagnostic_metrics_from_counts(*counts, engine="python").table.set_index("metric")
    se, sp = tp / (tp + fn), tn / (tn + fp)
    assert t.loc["lr_pos", "estimate"] == pytest.approx(se / (1 - sp), rel=1e-12)
    assert t.loc["lr_neg", "estimate"] == pytest.approx((1 - se) / sp, rel=1e-12)
    assert t.loc["dor", "estimate"] == pytest.approx(tp * tn / (fp * fn), rel=1e-12)
    refs = {"lr_pos": Table2x2(np.array([[tp, fn], [fp, tn]])).riskratio_confint(),
            "lr_neg": Table2x2(np.array([[fn, tp], [tn, fp]])).riskratio_confint(),
            "dor": Table2x2(np.array([[tp, fn], [fp, tn]])).oddsratio_confint()}
    for k, (lo, hi) in refs.items():
        assert (t.loc[k, "ci_low"], t.loc[k, "ci_high"]) == pytest.approx((lo, hi), rel=1e-12), k
    # whatever the ci of the proportions, the ratios keep the log method
    b = D.diagnostic_metrics_from_counts(*counts, ci="wilson", engine="python").table.set_index("metric")
    assert b.loc["lr_pos", "ci_low"] == t.loc["lr_pos", "ci_low"] and "log" in b.loc["dor", "ci_method"]


def test_likelihood_ratio_zero_cells_are_labelled_not_corrected():
    t = D.diagnostic_metrics_from_counts(12, 0, 29, 7, engine="python").table.set_index("metric")
    assert t.loc["lr_pos", "estimate"] == np.inf and math.isnan(t.loc["lr_pos", "ci_low"])
    assert "zero cell" in t.loc["lr_pos", "note"] and "zero cell" in t.loc["dor", "note"]
    assert t.loc["lr_neg", "estimate"] == pytest.approx(7 / 19, rel=1e-12) and t.loc["lr_neg", "note"] == ""
    assert D.diagnostic_metrics_from_counts(0, 0, 10, 5, engine="python")["lr_pos"] != D.diagnostic_metrics_from_counts(
        0, 0, 10, 5, engine="python")["lr_pos"]   # 0/0: NaN


def test_closest_topleft_and_weighted_rules_maximise_their_criteria():
    y, s = _sim(seed=7, n=160)
    from her2stats.stats.roc import _curve_points, resolve_direction

    d = resolve_direction(y, s)
    t, se, sp = _curve_points(y, s, d)
    for rule, cost, prev in [("closest_topleft", 1.0, 0.5), ("youden", 2.0, 0.3), ("closest_topleft", 0.5, 0.2)]:
        r_w = (1 - prev) / (cost * prev)
        crit = se + r_w * sp if rule == "youden" else -((1 - se) ** 2 + r_w * (1 - sp) ** 2)
        best = np.flatnonzero(crit == crit.max())[0]
        got = D.choose_threshold(y, s, rule=rule, cost=cost, prevalence=prev, engine="python")
        assert (got.value, got.sensitivity, got.specificity) == (t[best], se[best], sp[best])
        assert got.rule.startswith(rule) and ("cost" in got.rule) == ((cost, prev) != (1.0, 0.5))
    # a false negative twice as costly pushes the cut-off toward sensitivity
    plain = D.choose_threshold(y, s, rule="youden", engine="python")
    costly = D.choose_threshold(y, s, rule="youden", cost=4.0, engine="python")
    assert costly.sensitivity >= plain.sensitivity
    for bad in (dict(cost=0), dict(cost=-1), dict(prevalence=1.0), dict(prevalence=0), dict(cost="2")):
        with pytest.raises(InputError, match="cost|prevalence"):
            D.choose_threshold(y, s, engine="python", **bad)


def test_text_predictor_refused_in_diagnostics():
    y, s = _sim(seed=8, n=40)
    with pytest.raises(InputError, match="text value"):
        D.diagnostic_metrics(y, [str(v) for v in s], threshold=0.5, engine="python")
    with pytest.raises(InputError, match="text value"):
        D.choose_threshold(y, [str(v) for v in s], engine="python")


@pytest.mark.r
def test_r_parity_threshold_rules_and_likelihood_ratios():
    y, s = _sim(seed=9, n=160)
    for rule, cost, prev in [("youden", 1.0, 0.5), ("closest_topleft", 1.0, 0.5), ("youden", 2.0, 0.3),
                             ("closest_topleft", 0.5, 0.2), (("specificity", 0.9), 1.0, 0.5),
                             (("sensitivity", 0.8), 1.0, 0.5)]:
        for direction in ("auto", ">"):
            py = D.choose_threshold(y, s, rule=rule, cost=cost, prevalence=prev, direction=direction, engine="python")
            rr = D.choose_threshold(y, s, rule=rule, cost=cost, prevalence=prev, direction=direction, engine="r")
            assert (py.value, py.sensitivity, py.specificity, py.direction) == pytest.approx(
                (rr.value, rr.sensitivity, rr.specificity, rr.direction), abs=1e-12), (rule, direction)
    for counts in ((17, 6, 23, 2), (12, 0, 29, 7), (40, 10, 90, 15)):
        py = D.diagnostic_metrics_from_counts(*counts, engine="python").table.set_index("metric")
        rr = D.diagnostic_metrics_from_counts(*counts, engine="r").table.set_index("metric")
        for k in ("lr_pos", "lr_neg", "dor"):
            np.testing.assert_allclose(py.loc[k, ["ci_low", "ci_high"]].to_numpy(float),
                                       rr.loc[k, ["ci_low", "ci_high"]].to_numpy(float), rtol=1e-9, equal_nan=True)
