"""Column names a model can use, and coefficient labels that say one thing each.

Any text is a valid column name: spaces, quotes, backticks, newlines, unicode, leading digits
(``ER status``, ``ki-67``, ``1st``, ``T2.size``). R never sees these names (the bridge sends
generated ones, :func:`her2stats.r_bridge.safe_names`), so the only names refused are those that
make the answer ambiguous: a non-text label (``0`` and ``"0"`` print alike), an empty name, a
column that appears twice in the data, and coefficient labels that collide (a covariate called
``Intercept``, or a column ``grade=2`` next to the level ``2`` of ``grade``).
"""
from __future__ import annotations

from collections import Counter
from typing import Any, Iterable, Sequence

import pandas as pd

from ..errors import InputError


def check_column_names(df: pd.DataFrame, columns: Sequence[Any], where: str) -> None:
    """Raise :class:`InputError` unless every name in ``columns`` is non-empty text found at most
    once among ``df``'s columns (missing columns are left to the caller's own message)."""
    counts = Counter(df.columns) if isinstance(df, pd.DataFrame) else Counter()
    for name in columns:
        if not isinstance(name, str):
            raise InputError(f"{where}: column names must be text; {name!r} is of type {type(name).__name__}. "
                             "Rename the columns (e.g. df.columns = df.columns.astype(str)).")
        if not name.strip():
            raise InputError(f"{where}: a column has an empty name ({name!r}); give it a name.")
        if counts.get(name, 0) > 1:
            raise InputError(f"{where}: column {name!r} appears {counts[name]} times in the data; "
                             "rename or drop the copies.")


def check_unique_labels(labels: Iterable[str], where: str) -> None:
    """Raise :class:`InputError` when two coefficients of a model would carry the same label."""
    counts = Counter(labels)
    dup = [lab for lab, k in counts.items() if k > 1]
    if dup:
        raise InputError(f"{where}: coefficient label(s) {dup} would name two different coefficients (a column "
                         "name equals 'Intercept', another column's 'name=level' label or a spline column "
                         "'name''); rename the column.")
