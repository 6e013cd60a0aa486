"""Input checks shared by the selection transformers.

Every transformer accepts a pandas DataFrame (column names are kept) or a 2-D array (columns
are named ``x0, x1, ...`` as sklearn does). Non-numeric columns, missing or infinite values and
a non-binary outcome are refused with an :class:`~her2stats.errors.InputError` that names the
column or value: a selection step must never drop rows or columns silently.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError


def as_feature_frame(X: Any, what: str = "X") -> pd.DataFrame:
    """Return ``X`` as a numeric float DataFrame with string column names, or raise InputError."""
    if isinstance(X, pd.DataFrame):
        frame = X
    else:
        arr = np.asarray(X)
        if arr.ndim != 2:
            raise InputError(f"{what} must be 2-D (patients x features), got an array of shape {arr.shape}")
        frame = pd.DataFrame(arr, columns=[f"x{j}" for j in range(arr.shape[1])])
    if frame.shape[1] == 0:
        raise InputError(f"{what} has no feature columns")
    names = [str(c) for c in frame.columns]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise InputError(f"{what} has duplicated feature names {dup[:5]}; make column names unique")
    # one dtype per column from frame.dtypes: frame[c] builds a Series per column, which costs
    # seconds over the thousands of image features a pipeline checks at every fit and transform
    bad = [c for c, dt in zip(frame.columns, frame.dtypes) if not (pd.api.types.is_numeric_dtype(dt)
                                                                   or pd.api.types.is_bool_dtype(dt))]
    if bad:
        raise InputError(
            f"{what} column(s) {[str(c) for c in bad[:5]]} are not numeric; encode them (e.g. one-hot) "
            "before feature selection"
        )
    values = frame.to_numpy(dtype=float, na_value=np.nan)
    finite = np.isfinite(values)
    if not finite.all():
        rows, cols = np.nonzero(~finite)
        col = names[cols[0]]
        row = frame.index[rows[0]]
        raise InputError(
            f"{what} column {col!r} has a missing or infinite value at row {row!r} "
            f"({int((~finite).sum())} such cells in all); impute inside the pipeline or exclude those "
            "patients explicitly before selection"
        )
    out = pd.DataFrame(values, index=frame.index, columns=names)
    return out


def as_binary_outcome(y: Any, n: int, what: str = "y", event: Any = None, index: Any = None) -> np.ndarray:
    """Return ``y`` as a 0/1 float array of length ``n``.

    The event follows the statistics core's one rule: 0/1, booleans, an ordered two-category
    Categorical, a data-dictionary variable (``her2_status``) or ``event=``; other labels raise an
    InputError (the event is never guessed by sorting labels). A pandas ``y`` is paired with the
    feature rows by index label when ``index`` (the features' index) is given.
    """
    from ..stats import _core

    if y is None:
        raise InputError(f"{what} (the binary outcome, e.g. HER2-positive = 1) is required by this step")
    if isinstance(y, pd.Series) and index is not None:
        y = _core.align(("X", pd.Series(np.zeros(len(index)), index=index)), (what, y))[1]
    if not isinstance(y, (pd.Series, pd.Categorical)):
        y = np.asarray(y)
        if y.ndim != 1:
            y = y.ravel()
    if len(y) != n:
        raise InputError(f"{what} has {len(y)} values but X has {n} rows")
    levels = pd.unique(pd.Series(np.asarray(y, dtype=object)).dropna())
    if len(levels) > 2:
        raise InputError(
            f"{what} must have exactly two classes (e.g. HER2-negative=0 / positive=1), got levels {list(levels)[:5]}"
        )
    codes = _core.binary_outcome(y, what, event=event).codes
    if np.isnan(codes).any():
        idx = int(np.flatnonzero(np.isnan(codes))[0])
        raise InputError(f"{what} has a missing outcome at position {idx}; exclude that patient explicitly")
    if len(np.unique(codes)) != 2:
        raise InputError(
            f"{what} must have exactly two classes (e.g. HER2-negative=0 / positive=1), got only {np.unique(codes).tolist()}"
        )
    return codes
