"""pROC's documented aSAH example (pROC 1.18 help pages / README), both engines.

Published values (printed by pROC, see tests/data/README_roc.md for the data's origin):
``roc(aSAH$outcome, aSAH$s100b)``: AUC 0.7314, 95% CI 0.6301-0.8326 (DeLong);
``roc.test(roc(s100b), roc(ndka))``: Z = 1.3908, p-value = 0.1643, 95% CI of the difference
-0.04887061 to 0.28769174; ``coords(roc(s100b), "best")``: threshold 0.205, specificity 0.8055556,
sensitivity 0.6341463. Tolerance: half a unit in the last printed digit.
"""
from __future__ import annotations

import math

import pandas as pd
import pytest

from her2stats.stats import roc as R


@pytest.fixture(scope="module")
def asah(test_data_dir):
    df = pd.read_csv(test_data_dir / "aSAH.csv")
    df["poor"] = (df["outcome"] == "Poor").astype(int)
    return df


ENGINES = ["python", pytest.param("r", marks=pytest.mark.r)]


@pytest.mark.parametrize("engine", ENGINES)
def test_s100b_auc_and_delong_ci(asah, engine):
    r = R.roc_auc(asah.poor, asah.s100b, engine=engine)
    assert (r.n_pos, r.n_neg, r.direction) == (41, 72, "<")
    assert r.auc == pytest.approx(0.7314, abs=5e-5)
    assert r.ci_low == pytest.approx(0.6301, abs=5e-5)
    assert r.ci_high == pytest.approx(0.8326, abs=5e-5)


@pytest.mark.parametrize("engine", ENGINES)
def test_paired_delong_s100b_vs_ndka(asah, engine):
    t = R.roc_test(asah.poor, asah.s100b, asah.ndka, engine=engine)
    assert t.statistic == pytest.approx(1.3908, abs=5e-5)
    assert t.p_value == pytest.approx(0.1643, abs=5e-5)
    assert t.auc2 == pytest.approx(0.6119580, abs=5e-8)
    assert (t.ci_low, t.ci_high) == pytest.approx((-0.04887061, 0.28769174), abs=5e-9)


@pytest.mark.parametrize("engine", ENGINES)
def test_best_youden_threshold(asah, engine):
    b = R.youden(asah.poor, asah.s100b, engine=engine)
    assert b.threshold == pytest.approx(0.205, abs=5e-4)
    assert (b.specificity, b.sensitivity) == pytest.approx((0.8055556, 0.6341463), abs=5e-8)


# =========================================================================== issue 20
# Values from pROC's own test suite on aSAH (github.com/xrobin/pROC, tests/testthat/test-auc.R,
# test-var.R, test-cov.R, test-roc.test.R, test-power.roc.test.R, test-multiclass.R), where
# r.wfns = roc(aSAH$outcome, aSAH$wfns) and so on. Tolerances: the digits printed there (15
# significant digits: 1e-12; power/sample-size values: pROC's own 1e-6 relative).
# Sample sizes of Obuchowski, Lieber & Wians, Clin Chem 2004;50:1118-25, Table 4 (one-sided test,
# alpha 0.05, power 0.9, at least 10 subjects per group), as pROC's test encodes them (with its
# two corrections of the printed table: 340 and 202).

import numpy as np  # noqa: E402

import her2stats as h2  # noqa: E402


def _wfns(asah):
    return asah.wfns.astype(float)   # an ordered factor 1..5 in R; pROC reads its codes


PARTIAL = [  # (score, partial, focus, correct, pROC value)
    ("wfns", (1, .9), "specificity", False, 0.0334417344173442),
    ("wfns", (.9, .8), "specificity", False, 0.0598373983739837),
    ("wfns", (.5, 0), "specificity", False, 0.488134475939354),
    ("ndka", (1, .9), "specificity", False, 0.0107046070460705),
    ("ndka", (.9, .8), "specificity", False, 0.0277777777777778),
    ("wfns", (1, .9), "sensitivity", False, 0.0400999322493225),
    ("wfns", (.9, .8), "sensitivity", False, 0.0609953703703703),
    ("ndka", (.5, 0), "sensitivity", False, 0.428523035230352),
    ("wfns", (1, .9), "specificity", True, 0.649693339038653),
    ("wfns", (.5, 0), "specificity", True, 0.952537903757416),
    ("ndka", (.9, .8), "specificity", True, 0.575163398692811),
    ("wfns", (1, .9), "sensitivity", True, 0.68473648552275),
    ("ndka", (.9, .8), "sensitivity", True, 0.554439662043679),
    ("ndka", (.5, 0), "sensitivity", True, 0.714092140921409),
    ("wfns", (1, 0), "sensitivity", True, 0.823678861788618),
]


@pytest.mark.parametrize("engine", ENGINES)
def test_partial_auc_values_of_proc_test_suite(asah, engine):
    for name, part, focus, corr, want in PARTIAL:
        score = _wfns(asah) if name == "wfns" else asah[name]
        r = R.roc_auc(asah.poor, score, partial=part, focus=focus, correct=corr, ci="bootstrap", n_boot=100, seed=1,
                      engine=engine)
        assert r.auc == pytest.approx(want, abs=1e-12), (name, part, focus, corr)
    # pROC: NA with a warning when the corrected partial AUC is below the diagonal
    with pytest.warns(UserWarning, match="below the diagonal"):
        r = R.roc_auc(asah.poor, asah.ndka, partial=(1, .9), focus="sensitivity", correct=True, ci="bootstrap",
                      n_boot=100, seed=1, engine=engine)
    assert np.isnan(r.auc)


@pytest.mark.parametrize("engine", ENGINES)
def test_var_cov_and_one_sided_tests_of_proc_test_suite(asah, engine):
    w, n, s = _wfns(asah), asah.ndka, asah.s100b
    for score, want in ((w, 0.00146991470882363), (n, 0.0031908105493913), (s, 0.00266868245717244)):
        assert h2.auc_var(asah.poor, score, engine=engine).variance == pytest.approx(want, abs=1e-15)
    for a, b, want in ((w, n, -0.000532967856762438), (n, s, -0.000756164938056579), (s, w, 0.00119615567376754)):
        assert h2.auc_cov(asah.poor, a, b, engine=engine).covariance == pytest.approx(want, abs=1e-15)
    assert R.roc_test(asah.poor, w, s, alternative="greater", engine=engine).p_value == pytest.approx(
        0.0135878911145941, abs=1e-12)
    assert R.roc_test(asah.poor, w, s, alternative="less", engine=engine).p_value == pytest.approx(
        0.986412108885406, abs=1e-12)
    with pytest.warns(UserWarning, match="seem to be paired"):
        up = R.roc_test(asah.poor, w, s, paired=False, alternative="greater", engine=engine)
    assert (up.statistic, up.p_value) == pytest.approx((1.43490640926908, 0.076412689404398), abs=1e-12)
    # direction ">": the same one-sided p-values (pROC's test with -wfns, -s100b)
    assert R.roc_test(asah.poor, -w, -s, alternative="greater", engine=engine).p_value == pytest.approx(
        0.0135878911145941, abs=1e-12)


@pytest.mark.parametrize("engine", ENGINES)
def test_power_values_of_proc_test_suite(asah, engine):
    P = h2.power_roc_test
    y, w = asah.poor, _wfns(asah)
    close = lambda got, want: got == pytest.approx(want, rel=1e-6)  # noqa: E731
    assert close(P(y=y, score1=asah.s100b, engine=engine).power, 0.9904833)
    assert close(P(0.73, n_cases=41, n_controls=72, engine=engine).power, 0.9897453)
    auc = R.roc_auc(y, asah.s100b, engine="python").auc
    r = P(auc, power=0.95, ratio=1.7, engine=engine)
    assert close(r.n_cases, 29.29764) and close(r.n_controls, 49.806)
    r = P(y=y, score1=asah.s100b, power=0.9, engine=engine)
    assert close(r.n_cases, 23.5598674) and close(r.n_controls, 41.3734257)
    assert close(P(y=y, score1=asah.s100b, power=0.9, ratio=1, engine=engine).n_cases, 29.5697422)
    assert close(P(y=y, score1=asah.ndka, score2=w, engine=engine).power, 0.7131594)
    r = P(y=y, score1=asah.ndka, score2=w, power=0.9, engine=engine)
    assert close(r.n_cases, 64.77777) and close(r.n_controls, 113.7561)
    r = P(y=y, score1=asah.s100b, score2=asah.ndka, power=0.9, engine=engine)
    assert close(r.n_cases, 213.117677) and close(r.n_controls, 374.255432)
    ob = dict(A1=2.6, B1=1, A2=1.9, B2=1, rn=0.6, ra=0.6, FPR11=0, FPR12=0.2, FPR21=0, FPR22=0.2, delta=0.037)
    assert close(P(params=ob, power=0.8, engine=engine).n_cases, 107.0238)
    assert close(P(params=ob, n_cases=107, engine=engine).power, 0.7999286)


def test_obuchowski_2004_table_4_sample_sizes():
    kappas = (0.25, 0.5, 1, 2, 4)
    thetas = (0.6, 0.7, 0.8, 0.9, 0.95)
    controls = [[84, 20, 10, 10, 10], [101, 25, 10, 10, 10], [135, 33, 14, 10, 10], [203, 50, 21, 20, 20],
                [340, 84, 40, 40, 40]]
    cases = [[334, 80, 40, 40, 40], [202, 49, 20, 20, 20], [135, 33, 14, 10, 10], [102, 25, 11, 10, 10],
             [85, 21, 10, 10, 10]]
    for i, kappa in enumerate(kappas):
        for j, theta in enumerate(thetas):
            r = h2.power_roc_test(theta, power=0.9, ratio=kappa, alternative="one.sided", engine="python")
            n_ca, n_co = math.ceil(r.n_cases), math.ceil(r.n_controls)
            assert max(10, (10 if n_ca < 10 else 0) * kappa, n_co) == controls[i][j], (kappa, theta)
            assert max(10, (10 if n_co < 10 else 0) / kappa, n_ca) == cases[i][j], (kappa, theta)


@pytest.mark.parametrize("engine", ENGINES)
def test_multiclass_one_score_values_of_proc_test_suite(asah, engine):
    # multiclass.roc(aSAH$gos6, aSAH$s100b): gos6 has levels 1..5 and no patient at level 2
    for direction, want, dirs in (("auto", 0.6539999352, ["<", ">", ">", ">", ">", ">"]),
                                  ("<", 0.3487473175, ["<"] * 6), (">", 0.6512526825, [">"] * 6)):
        with pytest.warns(UserWarning, match=r"no observation for class\(es\) \[2\]"):
            r = h2.multiclass_auc(asah.gos6, asah.s100b, levels=[1, 2, 3, 4, 5], direction=direction, engine=engine)
        assert r.auc == pytest.approx(want, abs=5e-11) and list(r.pairs["direction"]) == dirs
        assert len(r.pairs) == 6
