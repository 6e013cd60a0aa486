"""Table 1: rules, numbers, R-engine parity (1e-9), SMD formulas, bad input."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from her2stats.errors import InputError
from her2stats.stats import htest
from her2stats.stats.tables import smd_categorical, smd_continuous, table_one, table_one_from_summary


@pytest.fixture(scope="module")
def cohort():
    rng = np.random.default_rng(0)
    n = 160
    her2 = rng.choice(["negative", "positive"], n, p=[0.65, 0.35])
    df = pd.DataFrame({
        "her2": her2,
        "age": rng.normal(52, 10, n) + (her2 == "positive") * 2,
        "size_cm": rng.lognormal(0.7, 0.5, n),
        "er": np.where(rng.uniform(size=n) < np.where(her2 == "positive", 0.5, 0.8), "pos", "neg"),
        "grade": rng.choice([1, 2, 3], n, p=[0.1, 0.5, 0.4]),
        "rare": rng.choice(["a", "b", "c"], n, p=[0.9, 0.07, 0.03]),
    })
    df.loc[[2, 7], "age"] = np.nan
    df.loc[11, "er"] = None
    return df


def _tests(t):
    return t.tests.set_index("variable")


def test_auto_rules_and_numbers(cohort):
    t = table_one(cohort, "her2", categorical=["grade"], engine="python")
    tests = _tests(t)
    pos, neg = (cohort["her2"] == "positive"), (cohort["her2"] == "negative")
    # age is normal in both groups -> Student t-test on the non-missing values
    age = cohort["age"]
    assert tests.loc["age", "test"] == "Student t-test"
    ref = stats.ttest_ind(age[neg].dropna(), age[pos].dropna(), equal_var=True)
    assert tests.loc["age", "p_value"] == pytest.approx(ref.pvalue, abs=1e-12)
    assert tests.loc["age", "missing"] == (int(age[neg].isna().sum()), int(age[pos].isna().sum()))
    # log-normal size -> Mann-Whitney (R wilcox.test rules)
    assert tests.loc["size_cm", "test"] == "Mann-Whitney U"
    mw = htest.mannwhitney(cohort.loc[neg, "size_cm"], cohort.loc[pos, "size_cm"])
    assert tests.loc["size_cm", "p_value"] == pytest.approx(mw.p_value, abs=1e-15)
    # 2x2 with large expected counts -> chi-square with Yates
    assert tests.loc["er", "test"] == "Chi-square (Yates)"
    # a level with expected count < 5 -> Fisher
    assert tests.loc["rare", "test"] == "Fisher's exact"
    assert tests.loc["grade", "test"] == "Chi-square"
    assert t.groups == ("negative", "positive") and sum(t.n) == len(cohort)
    frame = t.to_frame()
    assert list(frame.columns[:4]) == ["variable", "level", "negative", "positive"]
    er_rows = frame[(frame.variable == "er") & (frame.level != "")]
    n_neg_er = int(((cohort.er == "neg") & neg).sum())
    assert er_rows.iloc[0]["negative"].startswith(f"{n_neg_er} (")
    assert any("Yates" in f for f in t.footnotes) and any("Student" in f for f in t.footnotes)


def test_forced_choices_and_adjustment(cohort):
    t = table_one(cohort, "her2", variables=["age", "size_cm", "er"], nonnormal=["age"], welch=True,
                  categorical_test="chi2", yates=False, p_adjust="fdr_bh", engine="python")
    tests = _tests(t)
    assert tests.loc["age", "test"] == "Mann-Whitney U"
    assert tests.loc["size_cm", "test"] == "Welch t-test"
    assert tests.loc["er", "test"] == "Chi-square"
    np.testing.assert_allclose(tests["p_adjusted"], htest.p_adjust(tests["p_value"], "fdr_bh"), atol=1e-15)
    assert any("Benjamini-Hochberg" in f and "3 comparisons" in f for f in t.footnotes)
    ks = table_one(cohort, "her2", variables=["age"], normality_test="ks", engine="python")
    assert any("Kolmogorov" in f for f in ks.footnotes)


def test_three_groups(cohort):
    t = table_one(cohort, "grade", variables=["age", "size_cm", "er"], nonnormal=["size_cm"], engine="python")
    tests = _tests(t)
    assert tests.loc["age", "test"] == "ANOVA"
    assert tests.loc["size_cm", "test"] == "Kruskal-Wallis"
    samples = [cohort.loc[cohort.grade == g, "size_cm"] for g in (1, 2, 3)]
    assert tests.loc["size_cm", "p_value"] == pytest.approx(stats.kruskal(*samples).pvalue, abs=1e-12)


def test_smd_formulas(cohort):
    assert smd_continuous(1.0, 1.0, 0.0, 1.0) == 1.0
    p1, p2 = 0.3, 0.5
    binary = smd_categorical([1 - p1, p1], [1 - p2, p2])
    assert binary == pytest.approx(abs(p1 - p2) / np.sqrt((p1 * (1 - p1) + p2 * (1 - p2)) / 2), abs=1e-12)
    # the multi-level SMD does not depend on which level is dropped (Mahalanobis form)
    a, b = np.array([0.2, 0.5, 0.3]), np.array([0.4, 0.4, 0.2])
    assert smd_categorical(a, b) == pytest.approx(smd_categorical(a[[2, 0, 1]], b[[2, 0, 1]]), abs=1e-12)
    t = table_one(cohort, "her2", variables=["age", "er"], smd=True, engine="python")
    tests = _tests(t)
    pos, neg = cohort.her2 == "positive", cohort.her2 == "negative"
    x, y = cohort.loc[neg, "age"].dropna(), cohort.loc[pos, "age"].dropna()
    assert tests.loc["age", "smd"] == pytest.approx(abs(smd_continuous(x.mean(), x.std(), y.mean(), y.std())), abs=1e-12)


def test_missing_group_and_bad_input(cohort):
    df = cohort.copy()
    df.loc[0, "her2"] = None
    t = table_one(df, "her2", variables=["age"], engine="python")
    assert t.n_excluded == 1 and sum(t.n) == len(df) - 1
    with pytest.raises(InputError, match="'nope'"):
        table_one(df, "nope")
    with pytest.raises(InputError, match="not in the data"):
        table_one(df, "her2", variables=["age", "weight"])
    with pytest.raises(InputError, match="need >= 2"):
        table_one(df.assign(g="x"), "g", variables=["age"])
    with pytest.raises(InputError, match="fewer than 2 members"):
        table_one(df.assign(g=["x"] + ["y"] * (len(df) - 1)), "g", variables=["age"])
    with pytest.raises(InputError, match="method"):
        table_one(df, "her2", variables=["age"], p_adjust="sidak")


def test_from_summary_matches_raw(cohort):
    pos, neg = cohort.her2 == "positive", cohort.her2 == "negative"
    er_counts = {lev: [int(((cohort.er == lev) & neg).sum()), int(((cohort.er == lev) & pos).sum())] for lev in ("neg", "pos")}
    x, y = cohort.loc[neg, "age"].dropna(), cohort.loc[pos, "age"].dropna()
    t = table_one_from_summary(["negative", "positive"], {"er": er_counts},
                               {"age": {"mean": [x.mean(), y.mean()], "sd": [x.std(), y.std()], "n": [x.size, y.size]},
                                "size": {"median": [2.0, 2.2], "q1": [1.5, 1.7], "q3": [2.9, 3.0]}},
                               p_adjust="fdr_bh", p_adjust_n=5, engine="python")
    raw = _tests(table_one(cohort, "her2", variables=["age", "er"], nonnormal=False, engine="python"))
    ours = _tests(t)
    for var in ("age", "er"):
        assert ours.loc[var, "p_value"] == pytest.approx(raw.loc[var, "p_value"], abs=1e-12)
    assert np.isnan(ours.loc["size", "p_value"]) and "rank test" in ours.loc["size", "note"]
    assert ours.loc["er", "p_adjusted"] >= ours.loc["er", "p_value"]
    with pytest.raises(InputError, match="2 counts"):
        table_one_from_summary(["a", "b"], {"x": {"l1": [1, 2, 3]}})


@pytest.mark.r
def test_r_engine_parity(cohort):
    a = table_one(cohort, "her2", categorical=["grade"], p_adjust="holm", engine="python").tests
    b = table_one(cohort, "her2", categorical=["grade"], p_adjust="holm", engine="r").tests
    assert list(a["test"]) == list(b["test"])
    np.testing.assert_allclose(a["p_value"], b["p_value"], atol=1e-9)
    np.testing.assert_allclose(a["p_adjusted"], b["p_adjusted"], atol=1e-9)
