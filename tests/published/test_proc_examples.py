"""pROC's documented aSAH example (pROC 1.18 help pages / README), both engines.

Published values (printed by pROC, see tests/data/README_roc.md for the data's origin):
``roc(aSAH$outcome, aSAH$s100b)``: AUC 0.7314, 95% CI 0.6301-0.8326 (DeLong);
``roc.test(roc(s100b), roc(ndka))``: Z = 1.3908, p-value = 0.1643, 95% CI of the difference
-0.04887061 to 0.28769174; ``coords(roc(s100b), "best")``: threshold 0.205, specificity 0.8055556,
sensitivity 0.6341463. Tolerance: half a unit in the last printed digit.
"""
from __future__ import annotations

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
