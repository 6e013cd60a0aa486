"""HER2 status and HER2 class from IHC score and ISH result (ASCO/CAP 2018/2023).

Rules (Wolff et al., J Clin Oncol 2018;36:2105-22; ASCO/CAP HER2 update 2023, Wolff et al.,
Arch Pathol Lab Med 2023;147:993-1000; HER2-low as in DESTINY-Breast04, Modi et al., NEJM 2022):

==========  ==============  ===========  ==========================================
IHC         ISH             her2_class   her2_status
==========  ==============  ===========  ==========================================
3+          any / missing   positive     positive
2+          positive        positive     positive
2+          negative        low          negative
2+          missing         missing      missing (counted: ISH pending / not done)
1+          negative/miss.  low          negative
0           negative/miss.  zero         negative
0 or 1+     positive        positive     positive (ISH amplification decides; counted
                                                    as discordant; ``ish_overrides_ihc=False``
                                                    keeps the IHC-based class instead)
missing     positive        positive     positive
missing     negative        missing      negative (status known, class needs IHC)
missing     missing         missing      missing
==========  ==============  ===========  ==========================================

>>> import pandas as pd
>>> from her2stats.data import derive_her2_class
>>> derive_her2_class(["0", "1+", "2+", "2+", "3+"], [None, None, "negative", "positive", None]).tolist()
['zero', 'low', 'low', 'positive', 'positive']
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..errors import InputError
from .dictionary import load_dictionary

HER2_CLASS_LEVELS = ("zero", "low", "positive")
HER2_CLASS_DTYPE = pd.CategoricalDtype(list(HER2_CLASS_LEVELS), ordered=True)
HER2_STATUS_DTYPE = pd.CategoricalDtype(["negative", "positive"], ordered=False)


def as_levels(values: Any, variable: str, index: pd.Index | None) -> pd.Series:
    """Map raw IHC/ISH values onto dictionary levels; unknown values raise InputError with row ids."""
    var = load_dictionary()[variable]
    s = values if isinstance(values, pd.Series) else pd.Series(list(values) if not np.isscalar(values) else [values], index=index)
    missing = s.isna()
    mapped = s.where(missing, s.map(lambda v: var.level_of(v) if not pd.isna(v) else None))
    bad = ~missing & mapped.isna()
    if bad.any():
        rows = list(s.index[bad][:10])
        raise InputError(
            f"column {variable!r} has values {sorted(set(map(str, s[bad])))} that are not HER2 {variable.split('_')[1].upper()} "
            f"results (rows {rows}); allowed: {list(var.levels)}")
    return mapped.astype(object).where(~missing, None)


def _inputs(df_or_ihc: Any, ish: Any) -> tuple[pd.Series, pd.Series]:
    if isinstance(df_or_ihc, pd.DataFrame):
        if ish is not None:
            raise InputError("pass either a DataFrame with columns her2_ihc/her2_ish, or ihc and ish sequences, not both")
        if "her2_ihc" not in df_or_ihc.columns:
            raise InputError(f"column 'her2_ihc' not in the DataFrame (columns: {list(df_or_ihc.columns)[:20]})")
        ihc_raw = df_or_ihc["her2_ihc"]
        ish_raw = df_or_ihc["her2_ish"] if "her2_ish" in df_or_ihc.columns else pd.Series(None, index=df_or_ihc.index, dtype=object)
    else:
        ihc_raw = df_or_ihc if isinstance(df_or_ihc, pd.Series) else pd.Series(list(df_or_ihc), dtype=object)
        if ish is None:
            ish_raw = pd.Series(None, index=ihc_raw.index, dtype=object)
        else:
            ish_raw = ish if isinstance(ish, pd.Series) else pd.Series(list(ish), dtype=object)
        if len(ish_raw) != len(ihc_raw):
            raise InputError(f"ihc has {len(ihc_raw)} values but ish has {len(ish_raw)}; pass one ISH result (or None) per IHC score")
        ish_raw = pd.Series(ish_raw.to_numpy(dtype=object), index=ihc_raw.index)
    return as_levels(ihc_raw.astype(object), "her2_ihc", ihc_raw.index), as_levels(ish_raw.astype(object), "her2_ish", ihc_raw.index)


def classify_her2(ihc: pd.Series, ish: pd.Series, ish_overrides_ihc: bool) -> tuple[pd.Series, pd.Series, dict[str, int]]:
    cls = pd.Series(None, index=ihc.index, dtype=object)
    status = pd.Series(None, index=ihc.index, dtype=object)
    ish_pos, ish_neg = ish.eq("positive"), ish.eq("negative")
    ihc0, ihc1, ihc2, ihc3 = (ihc.eq(level) for level in ("0", "1+", "2+", "3+"))
    no_ihc = ihc.isna()

    cls[ihc0], cls[ihc1] = "zero", "low"
    cls[ihc2 & ish_neg] = "low"
    cls[ihc2 & ish_pos] = "positive"
    cls[ihc3] = "positive"
    discordant_low = (ihc0 | ihc1) & ish_pos
    if ish_overrides_ihc:
        cls[discordant_low] = "positive"
    cls[no_ihc & ish_pos] = "positive"

    status[cls.eq("zero") | cls.eq("low")] = "negative"
    status[cls.eq("positive")] = "positive"
    status[no_ihc & ish_neg] = "negative"
    if not ish_overrides_ihc:
        status[discordant_low] = "negative"

    counts = {
        "n": int(len(ihc)),
        "zero": int(cls.eq("zero").sum()),
        "low": int(cls.eq("low").sum()),
        "positive": int(cls.eq("positive").sum()),
        "missing_class": int(cls.isna().sum()),
        "ihc2_missing_ish": int((ihc2 & ish.isna()).sum()),
        "missing_ihc": int(no_ihc.sum()),
        "discordant_ihc0_1_ish_positive": int(discordant_low.sum()),
        "discordant_ihc3_ish_negative": int((ihc3 & ish_neg).sum()),
    }
    return cls, status, counts


def derive_her2_class(df_or_ihc: Any, ish: Sequence[Any] | pd.Series | None = None, *,
                      ish_overrides_ihc: bool = True) -> pd.Series:
    """Three-level HER2 class (zero < low < positive) from IHC score and ISH result.

    Parameters
    ----------
    df_or_ihc : DataFrame with ``her2_ihc`` (and optionally ``her2_ish``) columns, or a sequence /
        Series of IHC scores (``"0"``, ``"1+"``, ``"2+"``, ``"3+"``; ``0..3`` and ``"3"`` are accepted).
    ish : ISH results (``"negative"``/``"positive"``/missing), one per IHC score; only with a sequence.
    ish_overrides_ihc : an ISH-amplified tumour with IHC 0/1+ is HER2-positive (ASCO/CAP: ISH group 1
        is positive). False keeps the IHC class (zero/low) for those rare discordant cases.

    Returns
    -------
    pandas.Series
        Ordered categorical ``her2_class`` on the input's index. ``series.attrs["counts"]`` holds the
        tallies: zero, low, positive, missing_class, ihc2_missing_ish (IHC 2+ without ISH: missing class,
        never guessed), missing_ihc and the discordant cases.

    Notes
    -----
    The rule table is in this module's docstring. R equivalent (base R, for a parity check)::

        cls <- ifelse(ihc == "3+" | ish %in% "positive", "positive",
               ifelse(ihc == "0", "zero", ifelse(ihc == "1+" | ish %in% "negative", "low", NA)))

    Raises
    ------
    InputError
        A value that is not an IHC score / ISH result (names the column, values and rows).
    """
    ihc, ish_s = _inputs(df_or_ihc, ish)
    cls, _, counts = classify_her2(ihc, ish_s, ish_overrides_ihc)
    out = pd.Series(pd.Categorical(cls, dtype=HER2_CLASS_DTYPE), index=ihc.index, name="her2_class")
    out.attrs["counts"] = counts
    return out


def derive_her2_status(df_or_ihc: Any, ish: Sequence[Any] | pd.Series | None = None, *,
                       ish_overrides_ihc: bool = True) -> pd.Series:
    """Binary HER2 status (negative/positive) from IHC and ISH; see :func:`derive_her2_class`.

    Unlike the class, the status is known when IHC is missing but ISH is negative (negative), and
    when IHC is 0/1+ without ISH (negative). IHC 2+ with missing ISH stays missing (counted in
    ``attrs["counts"]``).
    """
    ihc, ish_s = _inputs(df_or_ihc, ish)
    _, status, counts = classify_her2(ihc, ish_s, ish_overrides_ihc)
    out = pd.Series(pd.Categorical(status, dtype=HER2_STATUS_DTYPE), index=ihc.index, name="her2_status")
    out.attrs["counts"] = {"n": counts["n"], "negative": int(status.eq("negative").sum()),
                           "positive": int(status.eq("positive").sum()), "missing_status": int(status.isna().sum()),
                           "ihc2_missing_ish": counts["ihc2_missing_ish"]}
    return out


def her2_positive_from_status(status: pd.Series) -> pd.Series:
    """0/1 nullable integer outcome ``her2_positive`` from ``her2_status``."""
    values = status.astype(object).map({"negative": 0, "positive": 1})
    return pd.Series(pd.array(values.where(status.notna(), None), dtype="Int64"), index=status.index, name="her2_positive")
