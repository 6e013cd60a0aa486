"""Seed 001 (US + MRI deep learning for HER2, test cohort n = 48) performance paragraph.

tests/data/seed001_performance.csv records each model's printed AUC, 95% CI, sensitivity,
specificity, PPV, NPV, accuracy and F1 with their source paragraph, the 2x2 counts the printed
rates imply (19 HER2-positive, 29 HER2-negative), and the AUC's pair count k (AUC = k / (2 x 19 x 29)).
Checks: the MedCalc exact binomial CI (``ci="exact"``, n = 48) reproduces every printed AUC CI
to 3 decimals, and every printed rate is reproduced from the counts to 3 decimals (+-0.0005),
except the two values listed in ``printed_discrepancy`` (a truncated accuracy and an F1 that the
counts put 0.0008 lower), checked at +-0.001.
"""
from __future__ import annotations

import pandas as pd
import pytest

from her2stats.stats.diagnostics import diagnostic_metrics_from_counts
from her2stats.stats.roc import auc_ci_from_summary


@pytest.fixture(scope="module")
def table(test_data_dir):
    return pd.read_csv(test_data_dir / "seed001_performance.csv", keep_default_na=False)


def test_auc_exact_binomial_ci_reproduces_printed_ci(table):
    for row in table.itertuples():
        auc = row.auc_pairs_numerator / (2 * row.n_pos * row.n_neg)
        assert round(auc, 3) == pytest.approx(row.auc_printed, abs=1e-9), row.model
        lo, hi = auc_ci_from_summary(auc, row.n_pos, row.n_neg, method="exact")
        assert (round(lo, 3), round(hi, 3)) == pytest.approx((row.ci_low_printed, row.ci_high_printed), abs=1e-9), row.model


def test_auc_ci_from_printed_auc_alone_is_within_rounding(table):
    # the auditor only has the printed AUC: its exact CI must land within 0.002 of the printed one
    for row in table.itertuples():
        lo, hi = auc_ci_from_summary(row.auc_printed, row.n_pos + row.n_neg)
        assert abs(lo - row.ci_low_printed) < 2e-3 and abs(hi - row.ci_high_printed) < 2e-3, row.model


def test_rates_from_counts_reproduce_printed_values(table):
    for row in table.itertuples():
        res = diagnostic_metrics_from_counts(int(row.tp), int(row.fp), int(row.tn), int(row.fn), engine="python")
        assert res.tp + res.fn == row.n_pos and res.fp + res.tn == row.n_neg
        for metric in ("sensitivity", "specificity", "ppv", "npv", "accuracy", "f1"):
            printed = getattr(row, f"{metric}_printed")
            tol = 1e-3 if row.printed_discrepancy.startswith(metric) else 5e-4
            assert res[metric] == pytest.approx(printed, abs=tol), (row.model, metric)
