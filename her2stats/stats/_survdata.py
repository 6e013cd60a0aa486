"""Input checks shared by every survival and time-to-event module (:mod:`.km`, :mod:`.cox`,
:mod:`.concordance`, the time-to-event metrics, competing risks, RMST, reclassification at a
horizon): columns present and safely named, complete cases with the dropped rows announced,
durations strictly positive, events coded 0/1, grouping columns with their level order. Messages
start with the calling function's name when it is given.

Private module (the public modules import it); the names are public so that no module imports
another's private helpers.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..errors import InputError
from . import _core
from ._names import check_column_names

__all__ = ["check_columns", "complete_cases", "durations", "binary_events", "check_time_event", "survival_frame",
           "group_codes"]


def _prefix(function: str | None) -> str:
    return f"{function}: " if function else ""


def check_columns(df: Any, columns: Sequence[str], function: str | None = None) -> None:
    """``df`` is a DataFrame holding every name in ``columns`` once (safe text names, none listed twice)."""
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"{_prefix(function)}expected a pandas DataFrame, got {type(df).__name__}")
    check_column_names(df, columns, function or "survival")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputError(f"{_prefix(function)}column(s) {missing} not found; available columns: "
                         f"{list(df.columns)[:30]}")
    dup = [c for c in columns if list(columns).count(c) > 1]
    if dup:
        raise InputError(f"{_prefix(function)}column(s) {sorted(set(dup))} named twice among the analysis columns")


def complete_cases(df: pd.DataFrame, columns: Sequence[str], function: str) -> tuple[pd.DataFrame, int]:
    """Rows complete on ``columns`` (announced with a DroppedRowsWarning when some are dropped) and
    the number dropped."""
    check_columns(df, columns, function)
    na = df[list(columns)].isna()
    keep = ~na.to_numpy().any(axis=1)
    n_drop = int((~keep).sum())
    if n_drop == 0:
        return df, 0
    _core.announce_dropped(function, n_drop, len(df), {c: int(v) for c, v in na.sum().items()})
    sub = df.loc[keep]
    if len(sub) == 0:
        raise InputError(f"{_prefix(function)}no complete rows left in columns {list(columns)} (all {len(df)} rows "
                         "have a missing value)")
    return sub, n_drop


def durations(values: Any, name: str = "duration", function: str | None = None,
              index: Sequence[Any] | None = None) -> np.ndarray:
    """Follow-up times: numeric (numeric strings read as numbers, stray text refused), finite,
    strictly positive."""
    raw = values.to_numpy() if isinstance(values, pd.Series) else np.asarray(values)
    if raw.dtype == bool:
        raise InputError(f"{_prefix(function)}duration column '{name}' must hold follow-up times, got booleans")
    if raw.dtype.kind in "iuf":  # numbers already: no parsing
        t = raw.astype(float, copy=False)
    else:
        t = _core.as_numeric(pd.Series(raw, index=None if index is None else list(index)),
                             f"{_prefix(function)}duration column '{name}'", allow_inf=True)
    bad = np.flatnonzero(~np.isfinite(t) | (t <= 0))
    if bad.size:
        idx = list(range(len(t))) if index is None else list(index)
        raise InputError(
            f"{_prefix(function)}duration column '{name}' must be strictly positive and finite; {bad.size} row(s) "
            f"are not (first: row {idx[bad[0]]!r} = {t[bad[0]]!r}). Zero or negative follow-up usually means a date "
            "subtraction error; fix the data (or add a small offset only if the study protocol says so)."
        )
    return t


def binary_events(values: Any, name: str = "event", function: str | None = None) -> np.ndarray:
    """0/1 (or boolean) event indicator as int; a 1/2 coding is refused with a hint."""
    e_raw = values.to_numpy() if isinstance(values, pd.Series) else np.asarray(values)
    if e_raw.dtype == bool:
        return e_raw.astype(int)
    if e_raw.dtype.kind in "iuf":  # numbers already: no parsing
        ef = e_raw.astype(float, copy=False)
    else:
        parsed = pd.to_numeric(pd.Series(e_raw), errors="coerce")
        if parsed.isna().any():
            raise InputError(f"{_prefix(function)}event column '{name}' must be coded 0 = censored / 1 = event (or "
                             f"boolean); found values "
                             f"{sorted(map(str, pd.unique(pd.Series(e_raw)[parsed.isna().to_numpy()])))[:5]}")
        ef = parsed.to_numpy(dtype=float)
    values_set = set(np.unique(ef).tolist())
    if not values_set <= {0.0, 1.0}:
        hint = ""
        if values_set <= {1.0, 2.0}:
            hint = (f" It looks coded 1 = censored / 2 = event (as survival::lung's status): pass "
                    f"df.assign({name}=df['{name}'] - 1).")
        raise InputError(f"{_prefix(function)}event column '{name}' must be coded 0 = censored / 1 = event; found "
                         f"values {sorted(values_set)}.{hint}")
    return ef.astype(int)


def check_time_event(time: Any, event: Any, duration: str = "duration", event_name: str = "event",
                     index: Sequence[Any] | None = None, function: str | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Validated durations (> 0, float) and events (0/1, int) with at least one event."""
    t = durations(time, duration, function, index)
    e = binary_events(event, event_name, function)
    if e.sum() == 0:
        raise InputError(f"{_prefix(function)}event column '{event_name}' has no events (all censored): nothing to "
                         "estimate")
    return t, e


def survival_frame(df: pd.DataFrame, duration: str, event: str, columns: Sequence[str] = (),
                    function: str = "survival", numeric: Sequence[str] = ()
                    ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, int]:
    """Complete cases on (duration, event, *columns); validated times/events; rows excluded (and
    announced with a DroppedRowsWarning). ``numeric``: columns refused when they are numbers with
    stray strings (covariates)."""
    used = [duration, event, *[c for c in columns if c not in (duration, event)]]
    check_columns(df, used)
    _core.refuse_numeric_strays(df, [duration, event, *numeric], function)
    sub, n_excluded = complete_cases(df, used, function)
    t, e = check_time_event(sub[duration].to_numpy(), sub[event].to_numpy(), duration, event, sub.index)
    return sub, t, e, n_excluded


def group_codes(values: pd.Series, name: str, function: str | None = None, min_levels: int = 2
                ) -> tuple[np.ndarray, list[Any]]:
    """Integer codes 0..k-1 and the ordered levels of a grouping column (category order, else sorted)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        cat = values.cat.remove_unused_categories()
        levels = list(cat.cat.categories)
        codes = cat.cat.codes.to_numpy().astype(int)
    else:
        levels = sorted(pd.unique(values).tolist(), key=lambda v: (str(type(v)), v))
        lookup = {v: i for i, v in enumerate(levels)}
        codes = np.array([lookup[v] for v in values], dtype=int)
    if len(levels) < min_levels:
        raise InputError(f"{_prefix(function)}group column '{name}' has a single level ({levels[0]!r} only): a "
                         "comparison needs at least two groups")
    return codes, levels
