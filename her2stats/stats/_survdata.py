"""Input checks shared by the survival modules (:mod:`.km`, :mod:`.cox`, :mod:`.concordance` and
the time-to-event metrics): columns present and safely named, complete cases with the dropped rows
announced, durations strictly positive, events coded 0/1, grouping columns with their level order.

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

__all__ = ["check_columns", "check_time_event", "survival_frame", "group_labels"]


def check_columns(df: Any, columns: Sequence[str]) -> None:
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"expected a pandas DataFrame, got {type(df).__name__}")
    check_column_names(df, columns, "survival")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputError(f"column(s) {missing} not found; available columns: {list(df.columns)}")


def check_time_event(time: np.ndarray, event: np.ndarray, duration: str = "duration",
                      event_name: str = "event", index: Sequence[Any] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Validate durations (> 0) and events (0/1); return float times and int events."""
    index = list(range(len(time))) if index is None else list(index)
    t = _core.as_numeric(pd.Series(np.asarray(time), index=index), f"duration column '{duration}'", allow_inf=True)
    bad = np.flatnonzero(~np.isfinite(t) | (t <= 0))
    if bad.size:
        raise InputError(
            f"duration column '{duration}' must be strictly positive and finite; {bad.size} row(s) are not "
            f"(first: row {index[bad[0]]!r} = {t[bad[0]]!r}). Zero or negative follow-up usually means a date "
            "subtraction error; fix the data (or add a small offset only if the study protocol says so)."
        )
    e_raw = np.asarray(event)
    if e_raw.dtype == bool:
        e = e_raw.astype(int)
    else:
        try:
            ef = np.asarray(e_raw, dtype=float)
        except (TypeError, ValueError):
            raise InputError(f"event column '{event_name}' must be coded 0 = censored / 1 = event (or boolean), got "
                             f"values such as {sorted(map(str, pd.unique(pd.Series(e_raw, dtype=object))))[:5]}") from None
        values = set(np.unique(ef).tolist())
        if not values <= {0.0, 1.0}:
            hint = ""
            if values <= {1.0, 2.0}:
                hint = (f" It looks coded 1 = censored / 2 = event (as survival::lung's status): pass "
                        f"df.assign({event_name}=df['{event_name}'] - 1).")
            raise InputError(f"event column '{event_name}' must be coded 0 = censored / 1 = event; found values "
                             f"{sorted(values)}.{hint}")
        e = ef.astype(int)
    if e.sum() == 0:
        raise InputError(f"event column '{event_name}' has no events (all censored): nothing to estimate")
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
    sub = df[used]
    na = sub.isna()
    keep = ~na.any(axis=1).to_numpy()
    n_excluded = int((~keep).sum())
    _core.announce_dropped(function, n_excluded, len(df), {c: int(v) for c, v in na.sum().items()})
    sub = df.loc[keep]
    if len(sub) == 0:
        raise InputError(f"no complete rows left in columns {used} (all {len(df)} rows have a missing value)")
    t, e = check_time_event(sub[duration].to_numpy(), sub[event].to_numpy(), duration, event, sub.index)
    return sub, t, e, n_excluded


def group_labels(values: pd.Series, name: str) -> tuple[np.ndarray, list[Any]]:
    """Integer codes and ordered levels of a grouping column (category order, else sorted)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        cat = values.cat.remove_unused_categories()
        levels = list(cat.cat.categories)
        codes = cat.cat.codes.to_numpy()
    else:
        levels = sorted(pd.unique(values).tolist(), key=lambda v: (str(type(v)), v))
        lookup = {v: i for i, v in enumerate(levels)}
        codes = np.array([lookup[v] for v in values], dtype=int)
    if len(levels) < 2:
        raise InputError(f"group column '{name}' has a single level ({levels[0]!r} only): a comparison needs "
                         "at least two groups")
    return codes, levels
