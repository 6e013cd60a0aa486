"""validate_cohort: errors name column, values and rows; coercions and exclusions are counted."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from her2stats.data import ValidationReport, validate_cohort
from her2stats.errors import InputError


def _cohort(**changes) -> pd.DataFrame:
    df = pd.DataFrame({
        "patient_id": ["P1", "P2", "P3", "P4", "P5", "P6"],
        "center": ["A", "A", "B", "B", "C", "C"],
        "age": [45, 61, 38, 70, 52, 49],
        "er": ["positive", "negative", "positive", "positive", "negative", "positive"],
        "pr": ["positive", "negative", "negative", "positive", "negative", "negative"],
        "her2_ihc": ["3+", "0", "1+", "2+", "2+", "0"],
        "her2_ish": [None, None, None, "positive", "negative", None],
        "grade": ["3", "2", "1", "3", "2", "2"],
        "rfs_time": [400.0, 1200.0, 800.0, 95.0, 2000.0, 1500.0],
        "rfs_event": [1, 0, 0, 1, 0, 0],
        "notes": ["a", "b", "c", "d", "e", "f"],
    })
    for col, value in changes.items():
        df[col] = value
    return df


def test_clean_cohort_types_and_derivations():
    clean, report = validate_cohort(_cohort(), outcome="her2_positive")
    assert isinstance(report, ValidationReport)
    assert report.n_input == report.n_output == 6 and report.excluded.empty
    assert clean["her2_positive"].tolist() == [1, 0, 0, 1, 0, 0] and str(clean["her2_positive"].dtype) == "Int64"
    assert clean["her2_class"].tolist() == ["positive", "zero", "low", "positive", "low", "zero"]
    assert clean["her2_class"].cat.ordered and clean["grade"].cat.ordered
    assert clean["hr"].tolist() == ["positive", "negative", "positive", "positive", "negative", "positive"]
    assert {"her2_class", "her2_status", "her2_positive", "hr"} <= set(report.derived)
    assert report.not_in_dictionary == ("notes",)
    assert clean["notes"].tolist() == list("abcdef")  # unknown columns pass through unchanged
    frame = report.to_frame()
    assert {"derived", "not_in_dictionary", "rows"} <= set(frame["action"])


def test_wrong_level_names_column_value_and_row_ids():
    df = _cohort(grade=["3", "2", "4", "3", "2", "G5"])
    with pytest.raises(InputError) as exc:
        validate_cohort(df)
    msg = str(exc.value)
    assert "'grade'" in msg and "'4'" in msg and "'G5'" in msg
    assert "rows [2, 5]" in msg and "'P3'" in msg and "'P6'" in msg


def test_several_bad_columns_are_reported_together():
    df = _cohort(er=["positive", "maybe", "positive", "positive", "negative", "positive"],
                 her2_ihc=["3+", "0", "1+", "5+", "2+", "0"])
    with pytest.raises(InputError) as exc:
        validate_cohort(df)
    assert "'er'" in str(exc.value) and "'maybe'" in str(exc.value)
    assert "'her2_ihc'" in str(exc.value) and "'5+'" in str(exc.value)


@pytest.mark.parametrize("bad", [0.0, -12.0])
def test_non_positive_survival_times_are_errors(bad):
    df = _cohort(rfs_time=[400.0, bad, 800.0, 95.0, 2000.0, 1500.0])
    with pytest.raises(InputError, match=r"'rfs_time'.*must be > 0.*rows \[1\].*'P2'"):
        validate_cohort(df)


def test_event_must_be_zero_one():
    with pytest.raises(InputError, match=r"'rfs_event'.*not 0/1.*'2'"):
        validate_cohort(_cohort(rfs_event=[1, 0, 2, 1, 0, 0]))


def test_non_binary_outcome_is_an_error():
    df = _cohort(response=[0, 1, 2, 1, 0, 1])
    with pytest.raises(InputError, match=r"outcome 'response' must be binary 0/1; found values \['2'\].*rows \[2\]"):
        validate_cohort(df, outcome="response")
    with pytest.raises(InputError, match="single value"):
        validate_cohort(_cohort(response=[1] * 6), outcome="response")


def test_duplicated_and_missing_ids_are_errors():
    with pytest.raises(InputError, match=r"duplicated identifiers \['P1'\].*rows \[0, 3\]"):
        validate_cohort(_cohort(patient_id=["P1", "P2", "P3", "P1", "P5", "P6"]))
    with pytest.raises(InputError, match=r"missing identifiers.*rows \[4\]"):
        validate_cohort(_cohort(patient_id=["P1", "P2", "P3", "P4", None, "P6"]))


def test_wrong_type_and_out_of_range_numbers_are_errors():
    with pytest.raises(InputError, match=r"'age'.*not a number.*'forty'"):
        validate_cohort(_cohort(age=[45, "forty", 38, 70, 52, 49]))
    with pytest.raises(InputError, match=r"'age'.*plausible range.*'250'"):
        validate_cohort(_cohort(age=[45, 250, 38, 70, 52, 49]))


def test_coercions_are_counted():
    df = _cohort(er=["Pos", "neg", "positive", "POS", "negative", "positive"],
                 her2_ihc=[3, 0, "1+", "2+", "2+", 0], rfs_event=["yes", "no", 0, 1, 0, 0],
                 age=["45", 61, 38, 70, 52, 49])
    clean, report = validate_cohort(df)
    c = report.coerced.set_index(["column", "original"])["n"]
    assert c[("er", "Pos")] == 1 and c[("er", "POS")] == 1 and c[("er", "neg")] == 1
    assert c[("her2_ihc", "3")] == 1 and ("her2_ihc", "0") not in c.index  # 0 -> "0" is only a type change
    assert c[("rfs_event", "yes")] == 1 and c[("age", "45")] == 1
    assert ("er", "positive") not in c.index  # canonical values are not coercions
    assert clean["er"].tolist()[:2] == ["positive", "negative"] and clean["age"].iloc[0] == 45.0


def test_missing_outcome_and_required_rows_are_excluded_and_counted():
    df = _cohort(her2_ish=[None, None, None, None, None, None], grade=["3", None, "1", "3", "2", "2"])
    clean, report = validate_cohort(df, outcome="her2_positive", required=["grade"])
    # P4 and P5 are IHC 2+ without ISH: HER2 unknown -> excluded; P2 lacks grade -> excluded
    assert clean["patient_id"].tolist() == ["P1", "P3", "P6"]
    assert report.n_excluded == 3
    counts = report.exclusion_counts()
    assert counts["missing outcome her2_positive"] == 2 and counts["missing required variable grade"] == 1
    assert report.her2_counts["ihc2_missing_ish"] == 2
    assert set(report.excluded["patient_id"]) == {"P2", "P4", "P5"}


def test_policy_override_exclude_and_missing():
    df = _cohort(grade=["3", "2", "9", "3", "2", "2"])
    clean, report = validate_cohort(df, on_invalid={"grade": "exclude"})
    assert "P3" not in clean["patient_id"].tolist() and report.exclusion_counts().iloc[0] == 1
    clean, report = validate_cohort(df, on_invalid={"grade": "missing"})
    assert clean["grade"].isna().tolist() == [False, False, True, False, False, False]
    assert report.set_missing.iloc[0].to_dict() == {"column": "grade", "original": "9", "n": 1}
    with pytest.raises(InputError, match="use 'error', 'exclude' or 'missing'"):
        validate_cohort(df, on_invalid={"grade": "ignore"})


def test_derived_column_contradicting_sources_is_an_error():
    df = _cohort(her2_status=["positive", "positive", "negative", "positive", "negative", "negative"])
    with pytest.raises(InputError, match=r"'her2_status' contradicts its sources.*rows \[1\]"):
        validate_cohort(df)


def test_missing_required_column_and_bad_input():
    with pytest.raises(InputError, match=r"required columns \['ki67'\]"):
        validate_cohort(_cohort(), required=["ki67"])
    with pytest.raises(InputError, match="DataFrame"):
        validate_cohort([1, 2, 3])
    with pytest.raises(InputError, match="no rows"):
        validate_cohort(pd.DataFrame({"patient_id": []}))


def test_her2_status_only_table_gets_outcome():
    df = pd.DataFrame({"patient_id": ["a", "b", "c"], "her2_status": ["pos", "negative", np.nan]})
    clean, report = validate_cohort(df, outcome="her2_positive")
    assert clean["her2_positive"].tolist() == [1, 0] and report.n_excluded == 1


def test_survival_pair_must_be_complete():
    with pytest.raises(InputError, match=r"'rfs_time'/'rfs_event': one of the pair is missing.*rows \[3\]"):
        validate_cohort(_cohort(rfs_event=[1, 0, 0, None, 0, 0]))


def test_tnm_prefixes_are_coerced():
    clean, report = validate_cohort(_cohort(t_stage=["pT1c", "T2", "ypT3", "cT4b", "1", "T1mi"],
                                            n_stage=["pN0", "N1a", "ypN2", "N3c", "0", "cN1"]))
    assert clean["t_stage"].tolist() == ["T1", "T2", "T3", "T4", "T1", "T1"]
    assert clean["n_stage"].tolist() == ["N0", "N1", "N2", "N3", "N0", "N1"]
    assert set(report.coerced["column"]) >= {"t_stage", "n_stage"}
    with pytest.raises(InputError, match="'t_stage'"):
        validate_cohort(_cohort(t_stage=["N1", "T2", "T3", "T4", "T1", "T1"]))
