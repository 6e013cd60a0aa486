"""Seed 001, Tables 1-3: every categorical P is recomputed from the printed counts.

The table rule of her2stats (chi-square with Yates' correction on 2x2 tables unless an expected
count is < 5, then Fisher's exact test; R's chisq.test/fisher.test) reproduces 23 of the 25
printed P-values to the printed 3 decimals; the other two (Table 1 HER2 status, Table 3 No of
lesions) are the uncorrected chi-square. The source table and row of each case are in
data/seed001_tables.csv.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from her2stats.stats import htest
from her2stats.stats.tables import table_one_from_summary

DATA = Path(__file__).parent / "data" / "seed001_tables.csv"


def _cases():
    df = pd.read_csv(DATA, comment="#")
    df["key"] = df["source"] + " / " + df["variable"]
    cases = []
    for key, rows in df.groupby("key", sort=False):
        head = rows.iloc[0]
        counts = {r.level: [int(r.train), int(r.test)] for r in rows.itertuples()}
        cases.append(pytest.param(head["variable"], counts, float(head["published_p"]), head["method"], id=key))
    return cases


CASES = _cases()


def test_seed_text_is_the_source(seeds_dir):
    assert (seeds_dir / "001_2cf1bf6205c200af.txt").is_file()


def test_case_file_is_complete():
    assert len(CASES) == 25
    df = pd.read_csv(DATA, comment="#")
    # every variable's counts add up to the cohort sizes printed in the header (149 train, 48 test)
    sums = df.assign(key=df.source + df.variable).groupby("key")[["train", "test"]].sum()
    assert (sums["train"] == 149).all() and (sums["test"] == 48).all()


@pytest.mark.parametrize("variable, counts, published, method", CASES)
def test_printed_p_reproduced(variable, counts, published, method):
    if method == "auto":
        t = table_one_from_summary(["Train", "Test"], {variable: counts}, engine="python")
        p = float(t.p_values()[variable])
    else:
        p = htest.chi2_test(np.array(list(counts.values())), yates=False, engine="python").p_value
    assert p == pytest.approx(published, abs=0.0005 + 1e-12)


def test_rule_counts():
    auto = [c for c in CASES if c.values[3] == "auto"]
    assert len(auto) == 23
    # and Yates matters: without it, the 2x2 rows would not reproduce
    variable, counts, published, _ = CASES[0].values
    assert htest.chi2_test(np.array(list(counts.values())), yates=False).p_value != pytest.approx(published, abs=0.0005)


@pytest.mark.r
def test_same_with_r_engine():
    for case in CASES:
        variable, counts, published, method = case.values
        if method == "auto":
            t = table_one_from_summary(["Train", "Test"], {variable: counts}, engine="r")
            assert float(t.p_values()[variable]) == pytest.approx(published, abs=0.0005 + 1e-12)
