"""HER2 class and status from IHC and ISH (ASCO/CAP 2018/2023 rule table)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from her2stats.data import derive_her2_class, derive_her2_status
from her2stats.errors import InputError

# (IHC, ISH, class, status) -- every combination of the rule table in her2stats/data/her2.py
TABLE = [
    ("0", None, "zero", "negative"),
    ("0", "negative", "zero", "negative"),
    ("0", "positive", "positive", "positive"),  # ISH-amplified decides (discordant, counted)
    ("1+", None, "low", "negative"),
    ("1+", "negative", "low", "negative"),
    ("1+", "positive", "positive", "positive"),
    ("2+", "negative", "low", "negative"),
    ("2+", "positive", "positive", "positive"),
    ("2+", None, None, None),  # ISH pending: missing, counted
    ("3+", None, "positive", "positive"),
    ("3+", "negative", "positive", "positive"),
    ("3+", "positive", "positive", "positive"),
    (None, "positive", "positive", "positive"),
    (None, "negative", None, "negative"),
    (None, None, None, None),
]


def _norm(values):
    return [None if pd.isna(v) else v for v in values]


def test_rule_table():
    ihc, ish, cls, status = zip(*TABLE)
    assert _norm(derive_her2_class(list(ihc), list(ish))) == list(cls)
    assert _norm(derive_her2_status(list(ihc), list(ish))) == list(status)


def test_counts_report_missing_and_discordant():
    ihc, ish, _, _ = zip(*TABLE)
    counts = derive_her2_class(list(ihc), list(ish)).attrs["counts"]
    assert counts == {"n": 15, "zero": 2, "low": 3, "positive": 7, "missing_class": 3, "ihc2_missing_ish": 1,
                      "missing_ihc": 3, "discordant_ihc0_1_ish_positive": 2, "discordant_ihc3_ish_negative": 1}


def test_ihc_only_keeps_class_for_discordant_cases():
    cls = derive_her2_class(["0", "1+", "3+"], ["positive", "positive", "negative"], ish_overrides_ihc=False)
    assert _norm(cls) == ["zero", "low", "positive"]
    status = derive_her2_status(["0", "1+"], ["positive", "positive"], ish_overrides_ihc=False)
    assert _norm(status) == ["negative", "negative"]


def test_result_is_ordered_categorical_on_input_index():
    df = pd.DataFrame({"her2_ihc": ["3+", "0", "1+"], "her2_ish": [None, None, None]}, index=[10, 20, 30])
    cls = derive_her2_class(df)
    assert list(cls.index) == [10, 20, 30]
    assert cls.cat.ordered and list(cls.cat.categories) == ["zero", "low", "positive"]
    assert list(cls.cat.codes) == [2, 0, 1]
    assert (cls < "positive").tolist() == [False, True, True]  # ordered comparisons work


def test_accepts_numeric_and_spelled_inputs():
    cls = derive_her2_class([0, 1, 2, 3, "2+"], ["neg", None, "Amplified", np.nan, "not amplified"])
    assert _norm(cls) == ["zero", "low", "positive", "positive", "low"]


def test_bad_values_name_column_value_and_rows():
    with pytest.raises(InputError, match=r"her2_ihc.*'4\+'.*rows \[1\]"):
        derive_her2_class(["0", "4+"], [None, None])
    with pytest.raises(InputError, match=r"her2_ish.*'equivocal'"):
        derive_her2_class(["2+"], ["equivocal"])
    with pytest.raises(InputError, match="one ISH result"):
        derive_her2_class(["2+", "0"], ["negative"])
    with pytest.raises(InputError, match="her2_ihc"):
        derive_her2_class(pd.DataFrame({"ihc": ["0"]}))
