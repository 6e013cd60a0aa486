"""Seed 002, TABLES 1 and 2 (training sets: HER2-positive vs -negative, HER2-low vs -zero):
consistency of the printed Benjamini-Hochberg (FDR) adjusted p-values with the p-values derivable
from the printed counts.

The FDR family has 31 comparisons; 3 are Wilcoxon tests on continuous variables whose data are
not printed (tumour diameter, EER, ADCmin), so their raw p-values are unknown. BH-adjusted values
are non-decreasing in every raw p-value, so each printed adjusted p must lie between BH with the
unknowns set to 0 and BH with them set to 1 (R's ``p.adjust(p, "BH", n = 31)``), up to the
printed rounding (0.005). Every derivable row must also satisfy adjusted >= raw.

Findings recorded in data/seed002_table1_training.csv: all 31 rows are consistent when the
categorical rows follow the usual rule (chi-square with Yates on 2x2, Fisher when an expected
count < 5) and Age uses Student's t-test, except that Regional N category is consistent only with
the chi-square test (the rule's Fisher p gives adjusted >= 0.61 vs the printed 0.51), and Age is
not consistent with Welch's t-test (R's t.test default). Table 2: the same holds with TIC by
chi-square, except Molecular subtype, whose printed "FDR-adjusted" 0.005 is the raw chi-square p
(0.0049): adjusted over 31 tests it is at least 0.025 (an audit finding).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from her2stats.stats import htest
from her2stats.stats.tables import table_one_from_summary

DATA_DIR = Path(__file__).parent / "data"
FAMILY = 31
ROUND = 0.005 + 1e-12


@dataclass(frozen=True)
class Case:
    name: str
    file: str
    n_pos: int
    n_neg: int
    inconsistent: frozenset  # rows whose printed value is not a BH-adjusted p of the counts


CASES = [
    Case("table1", "seed002_table1_training.csv", 128, 485, frozenset()),
    Case("table2", "seed002_table2_training.csv", 369, 125, frozenset({"Molecular subtype"})),
]


@pytest.fixture(params=CASES, ids=[c.name for c in CASES])
def case(request) -> Case:
    return request.param


def _load(case: Case):
    df = pd.read_csv(DATA_DIR / case.file, comment="#", dtype={"level": str})
    heads = df.groupby("variable", sort=False).first()
    return df, heads


def _raw_p(case: Case, method_override=None):
    """Raw p per variable in table order (NaN when not derivable)."""
    df, heads = _load(case)
    out = {}
    for var, head in heads.iterrows():
        method = (method_override or {}).get(var, head["method"])
        rows = df[df.variable == var]
        if head["kind"] == "categorical":
            table = rows[["pos", "neg"]].to_numpy(float)
            if method == "auto":
                t = table_one_from_summary(["pos", "neg"], {var: dict(zip(rows.level, table.tolist()))}, engine="python")
                out[var] = float(t.p_values()[var])
            elif method == "chi2":
                out[var] = htest.chi2_test(table[table.sum(axis=1) > 0], yates=True).p_value
            else:
                raise AssertionError(method)
        elif head["kind"] == "continuous_mean_sd":
            mean = rows[rows.level == "mean"].iloc[0]
            sd = rows[rows.level == "sd"].iloc[0]
            out[var] = htest.ttest_from_summary(mean.pos, sd.pos, case.n_pos, mean.neg, sd.neg, case.n_neg,
                                                equal_var=(method == "student")).p_value
        else:
            out[var] = np.nan
    return pd.Series(out), heads


def _consistent(raw: pd.Series, heads: pd.DataFrame) -> pd.Series:
    """Printed adjusted p within [BH with unknown raw p = 0, BH with unknown raw p = 1] +- rounding."""
    p = raw.to_numpy()
    low = htest.p_adjust(np.where(np.isnan(p), 0.0, p), "fdr_bh")
    high = htest.p_adjust(np.where(np.isnan(p), 1.0, p), "fdr_bh")
    printed = heads["published_adj_p"].to_numpy(float)
    upper = (heads["bound"] == "upper").to_numpy()
    ok = np.where(upper, low < 0.001, (printed >= low - ROUND) & (printed <= high + ROUND))
    return pd.Series(ok, index=raw.index)


def test_seed_text_is_the_source(seeds_dir):
    assert (seeds_dir / "002_176959aa879c17ed.txt").is_file()


def test_case_file(case):
    df, heads = _load(case)
    assert len(heads) == FAMILY
    cat = df[df.kind == "categorical"]
    sums = cat.groupby("variable")[["pos", "neg"]].sum()
    assert (sums["pos"] == case.n_pos).all() and (sums["neg"] == case.n_neg).all()  # counts add up to the group sizes
    assert (heads["kind"] == "continuous_median").sum() == 3


def test_adjusted_not_below_raw(case):
    raw, heads = _raw_p(case)
    printed = heads["published_adj_p"]
    derivable = raw.notna()
    upper = heads["bound"] == "upper"
    assert (raw[derivable & upper] < 0.001).all()
    assert (printed[derivable & ~upper] + ROUND >= raw[derivable & ~upper]).all()


def test_printed_fdr_consistent_with_counts(case):
    raw, heads = _raw_p(case)
    ok = _consistent(raw, heads)
    assert set(ok[~ok].index) == case.inconsistent, f"inconsistent rows: {list(ok[~ok].index)}"
    if "Molecular subtype" in case.inconsistent:  # the printed value is the raw p
        assert raw["Molecular subtype"] == pytest.approx(0.005, abs=ROUND)


def test_table_one_from_summary_family_size_matches_upper_bound(case):
    raw, heads = _raw_p(case)
    df, _ = _load(case)
    categorical = {}
    for var, head in heads.iterrows():
        if head["kind"] == "categorical" and head["method"] == "auto":
            rows = df[df.variable == var]
            categorical[var] = dict(zip(rows.level, rows[["pos", "neg"]].to_numpy(int).tolist()))
    age = df[df.variable == "Age"]
    t = table_one_from_summary(["HER2-positive", "HER2-negative"], categorical,
                               {"Age": {"mean": age.iloc[0][["pos", "neg"]].astype(float).tolist(),
                                        "sd": age.iloc[1][["pos", "neg"]].astype(float).tolist(), "n": [case.n_pos, case.n_neg]}},
                               p_adjust="fdr_bh", p_adjust_n=FAMILY, engine="python")
    got = t.tests.set_index("variable")["p_adjusted"]
    # same as R's p.adjust(p, "BH", n = 31) over these p-values
    expected = htest.p_adjust(raw[got.index].to_numpy(), "fdr_bh", n=FAMILY)
    np.testing.assert_allclose(got.to_numpy(), expected, atol=1e-12)
    assert any("31 comparisons" in f for f in t.footnotes)


def test_recorded_discrepancies(case):
    overridden = "Regional N category" if case.name == "table1" else "TIC"
    raw, heads = _raw_p(case, method_override={overridden: "auto"})
    assert not _consistent(raw, heads)[overridden]  # Fisher (the rule) does not fit the print; chi-square does
    if case.name == "table1":
        raw, heads = _raw_p(case, method_override={"Age": "welch"})
        assert not _consistent(raw, heads)["Age"]  # Welch does not fit; Student does
