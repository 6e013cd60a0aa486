"""Table 1 variable types (issue 17): a two-valued numeric column (``multifocal`` coded 0/1) is
categorical by default; ``type=`` overrides per variable; both engines give the same table."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from her2stats.errors import InputError
from her2stats.stats.tables import table_one


@pytest.fixture(scope="module")
def cohort():
    rng = np.random.default_rng(5)
    n = 150
    her2 = rng.choice(["negative", "positive"], n, p=[0.6, 0.4])
    df = pd.DataFrame({
        "her2": her2,
        "multifocal": (rng.random(n) < np.where(her2 == "positive", 0.45, 0.25)).astype(int),
        "age": rng.normal(52, 10, n),
        "ki67": rng.lognormal(3, 0.5, n),
        "nodes": rng.poisson(1.5, n).astype(float),
    })
    df.loc[[3, 9], "multifocal"] = np.nan  # float column with missing values: levels 0.0 / 1.0
    return df


def test_two_valued_numeric_column_is_categorical_by_default(cohort):
    t = table_one(cohort, "her2", engine="python")
    tests = t.tests.set_index("variable")
    assert tests.loc["multifocal", "kind"] == "categorical"
    assert tests.loc["multifocal", "test"] == "Chi-square (Yates)"
    frame = t.to_frame()
    levels = list(frame.loc[(frame.variable == "multifocal") & (frame.level != ""), "level"])
    assert levels == ["0", "1"]  # whole floats shown as integers, numeric order
    pos = cohort.her2 == "positive"
    n1 = int(((cohort.multifocal == 1) & pos).sum())
    row = frame[(frame.variable == "multifocal") & (frame.level == "1")].iloc[0]
    assert row["positive"].startswith(f"{n1} (")
    assert any("Numeric variables with two values (multifocal) are categorical" in f for f in t.footnotes)
    # the same counts as declaring it categorical
    u = table_one(cohort, "her2", categorical=["multifocal"], engine="python").tests.set_index("variable")
    assert u.loc["multifocal", "p_value"] == tests.loc["multifocal", "p_value"]
    # a count with more values stays continuous
    assert tests.loc["nodes", "kind"] == "continuous"


def test_type_overrides_per_variable(cohort):
    t = table_one(cohort, "her2", type={"multifocal": "continuous", "ki67": "normal", "age": "nonnormal",
                                        "nodes": "categorical"}, engine="python")
    tests = t.tests.set_index("variable")
    assert tests.loc["multifocal", "kind"] == "continuous"
    assert tests.loc["ki67", "summary"] == "mean ± SD" and tests.loc["ki67", "test"] == "Student t-test"
    assert tests.loc["age", "summary"] == "median (Q1, Q3)" and tests.loc["age", "test"] == "Mann-Whitney U"
    assert tests.loc["nodes", "kind"] == "categorical"
    frame = t.to_frame()
    assert list(frame.loc[(frame.variable == "nodes") & (frame.level != ""), "level"])[:3] == ["0", "1", "2"]
    assert not any("two values" in f for f in t.footnotes)


def test_type_errors_name_the_variable(cohort):
    with pytest.raises(InputError, match="type of 'age' must be one of"):
        table_one(cohort, "her2", type={"age": "ordinal"})
    with pytest.raises(InputError, match="type names 'size'"):
        table_one(cohort, "her2", type={"size": "continuous"})
    with pytest.raises(InputError, match=r"type=\{'her2x': 'continuous'\} needs numbers"):
        table_one(cohort.assign(her2x=cohort.her2), "her2", variables=["her2x"], type={"her2x": "continuous"})
    with pytest.raises(InputError, match="listed in categorical= but type"):
        table_one(cohort, "her2", categorical=["age"], type={"age": "normal"})


@pytest.mark.r
def test_both_engines_give_the_same_table(cohort):
    kw = dict(type={"ki67": "nonnormal"}, p_adjust="holm", smd=True)
    a = table_one(cohort, "her2", engine="python", **kw)
    b = table_one(cohort, "her2", engine="r", **kw)
    pd.testing.assert_frame_equal(a.to_frame().drop(columns=["p_value", "p_adjusted"]),
                                  b.to_frame().drop(columns=["p_value", "p_adjusted"]))
    np.testing.assert_allclose(a.tests["p_value"], b.tests["p_value"], rtol=1e-9)
    assert list(a.tests["test"]) == list(b.tests["test"])
