"""Input handling shared by the time-to-event modules added for issue 19 (competing risks, RMST,
reclassification at a horizon): column checks, complete cases with the dropped rows announced,
follow-up times, group codes, and the Kaplan-Meier estimate evaluated as a step function.

Private: the public modules import it; nothing outside ``her2stats.stats`` should. Dropped rows are
announced, and the confidence level checked, by the statistics core (``_core``).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..errors import InputError
from ._core import announce_dropped


def check_columns(df: Any, columns: Sequence[str], function: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"{function}: expected a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputError(f"{function}: column(s) {missing} not found; available columns: {list(df.columns)[:30]}")
    dup = [c for c in columns if list(columns).count(c) > 1]
    if dup:
        raise InputError(f"{function}: column(s) {sorted(set(dup))} named twice among the analysis columns")


def complete_cases(df: pd.DataFrame, columns: Sequence[str], function: str
                   ) -> tuple[pd.DataFrame, int]:
    """Rows complete on ``columns`` (announced when some are dropped) and the number dropped."""
    check_columns(df, columns, function)
    na = df[list(columns)].isna()
    keep = ~na.any(axis=1).to_numpy()
    n_drop = int((~keep).sum())
    announce_dropped(function, n_drop, len(df), {c: int(v) for c, v in na.sum().items()})
    sub = df.loc[keep]
    if len(sub) == 0:
        raise InputError(f"{function}: no complete rows left in columns {list(columns)} (all {len(df)} rows have a "
                         "missing value)")
    return sub, n_drop


def durations(values: Any, name: str, function: str, index: Sequence[Any] | None = None) -> np.ndarray:
    """Follow-up times: numeric, finite, strictly positive."""
    s = pd.Series(values)
    if pd.api.types.is_bool_dtype(s.dtype):
        raise InputError(f"{function}: duration column '{name}' must hold follow-up times, got booleans")
    if not pd.api.types.is_numeric_dtype(s.dtype):
        conv = pd.to_numeric(s, errors="coerce")
        bad = s[conv.isna() & s.notna()]
        if len(bad) == 0:
            s = conv
    if not pd.api.types.is_numeric_dtype(s.dtype):
        raise InputError(f"{function}: duration column '{name}' must be numeric; found non-numeric value(s) "
                         f"{sorted(map(str, pd.unique(bad)))[:5]}")
    t = s.to_numpy(dtype=float)
    idx = list(range(len(t))) if index is None else list(index)
    bad = np.flatnonzero(~np.isfinite(t) | (t <= 0))
    if bad.size:
        raise InputError(f"{function}: duration column '{name}' must be strictly positive and finite; {bad.size} row(s) "
                         f"are not (first: row {idx[bad[0]]!r} = {t[bad[0]]!r}). Zero or negative follow-up usually "
                         "means a date subtraction error.")
    return t


def binary_events(values: Any, name: str, function: str) -> np.ndarray:
    """0/1 (or boolean) event indicator; 1/2 coding refused with a hint."""
    s = pd.Series(values)
    if pd.api.types.is_bool_dtype(s.dtype):
        return s.to_numpy(dtype=int)
    ef = pd.to_numeric(s, errors="coerce")
    if ef.isna().any():
        raise InputError(f"{function}: event column '{name}' must be coded 0 = censored / 1 = event (or boolean); found "
                         f"values {sorted(map(str, pd.unique(s[ef.isna()])))[:5]}")
    vals = set(np.unique(ef.to_numpy(dtype=float)).tolist())
    if not vals <= {0.0, 1.0}:
        hint = ""
        if vals <= {1.0, 2.0}:
            hint = (f" It looks coded 1 = censored / 2 = event (as survival::lung's status): pass "
                    f"df.assign({name}=df['{name}'] - 1).")
        raise InputError(f"{function}: event column '{name}' must be coded 0 = censored / 1 = event; found values "
                         f"{sorted(vals)}.{hint}")
    return ef.to_numpy(dtype=int)


def group_codes(values: pd.Series, name: str, function: str, min_levels: int = 2) -> tuple[np.ndarray, list[Any]]:
    """Integer codes 0..k-1 and the levels of a grouping column (category order, else sorted)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        cat = values.cat.remove_unused_categories()
        levels = list(cat.cat.categories)
        codes = cat.cat.codes.to_numpy().astype(int)
    else:
        levels = sorted(pd.unique(values).tolist(), key=lambda v: (str(type(v)), v))
        lookup = {v: i for i, v in enumerate(levels)}
        codes = np.array([lookup[v] for v in values], dtype=int)
    if len(levels) < min_levels:
        raise InputError(f"{function}: group column '{name}' has a single level ({levels[0]!r} only): a comparison "
                         "needs at least two groups")
    return codes, levels


def km_step(t: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan-Meier estimate as (distinct times, S at those times); ``d`` = 1 for the 'event' whose
    survival is estimated (for a censoring distribution pass ``d = 1 - event``)."""
    times, inv = np.unique(t, return_inverse=True)
    n_event = np.bincount(inv, weights=d, minlength=len(times))
    n_total = np.bincount(inv, minlength=len(times)).astype(float)
    n_risk = len(t) - np.concatenate([[0.0], np.cumsum(n_total)[:-1]])
    with np.errstate(divide="ignore", invalid="ignore"):
        surv = np.cumprod(np.where(n_risk > 0, 1 - n_event / n_risk, 1.0))
    return times, surv


def step_left(times: np.ndarray, values: np.ndarray, at: np.ndarray, start: float = 1.0) -> np.ndarray:
    """Value of a right-continuous step function just before ``at`` (its left limit)."""
    j = np.searchsorted(times, at, side="left") - 1
    return np.where(j >= 0, values[np.clip(j, 0, None)], start)


def step_right(times: np.ndarray, values: np.ndarray, at: np.ndarray, start: float = 1.0) -> np.ndarray:
    """Value of a right-continuous step function at ``at``."""
    j = np.searchsorted(times, at, side="right") - 1
    return np.where(j >= 0, values[np.clip(j, 0, None)], start)
