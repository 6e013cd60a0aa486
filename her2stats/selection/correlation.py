"""Redundancy filter: drop one member of every highly correlated feature pair (seed 003: Pearson
|r| > 0.8 with greedy recursive deletion)."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import InputError
from ._base import FeatureSelector
from ._validation import as_binary_outcome


def _correlation_matrix(values: np.ndarray, method: str) -> np.ndarray:
    if method == "spearman":
        values = stats.rankdata(values, axis=0)
    centred = values - values.mean(axis=0)
    norms = np.sqrt((centred ** 2).sum(axis=0))
    with np.errstate(divide="ignore", invalid="ignore"):
        unit = centred / norms
    return unit.T @ unit


class CorrelationFilter(FeatureSelector):
    r"""Greedy removal of redundant features: of each pair with :math:`|r| >` ``threshold`` keep the
    one more associated with the outcome.

    Features are visited in decreasing univariate association with ``y``,
    :math:`|r(x_j, y)|` with the same ``method`` (for a binary outcome the Pearson version is the
    point-biserial correlation, a monotone function of the two-sample t statistic; the Spearman
    version is a monotone function of the Mann-Whitney AUC). A feature is kept unless its
    correlation with an already-kept feature exceeds ``threshold`` in absolute value; so of
    every correlated pair the member with the lower association is dropped, except when the
    stronger member was itself dropped earlier (it then no longer blocks anything): the
    "greedy recursive deletion" of seed 003. Ties in association keep the earlier column.

    Parameters
    ----------
    threshold : absolute correlation above which two features count as redundant (0 < t < 1).
    method : ``"pearson"`` or ``"spearman"``.

    Attributes
    ----------
    association_ : Series, |r(feature, y)| on the training data.
    report_ : DataFrame per feature: association, kept, dropped_for (the kept feature it
        correlates with), r (that correlation).

    Constant training columns are dropped (their correlation is undefined) and reported.
    """

    def __init__(self, threshold: float = 0.8, method: str = "pearson"):
        self.threshold = threshold
        self.method = method

    def fit(self, X: Any, y: Any = None) -> "CorrelationFilter":
        if self.method not in ("pearson", "spearman"):
            raise InputError(f"method must be 'pearson' or 'spearman', got {self.method!r}")
        if not 0.0 < float(self.threshold) < 1.0:
            raise InputError(f"threshold must be in (0, 1), got {self.threshold!r}")
        frame = self._frame(X)
        yv = as_binary_outcome(y, len(frame), what="y (needed to rank features by association)")
        self._set_input(frame)
        values = frame.to_numpy()
        constant = values.std(axis=0) == 0
        both = np.column_stack([values, yv])
        corr = _correlation_matrix(both, self.method)
        assoc = np.abs(corr[:-1, -1])
        assoc[constant] = np.nan
        corr = np.abs(corr[:-1, :-1])
        order = np.argsort(-np.nan_to_num(assoc, nan=-1.0), kind="stable")
        kept = np.zeros(frame.shape[1], dtype=bool)
        dropped_for = np.full(frame.shape[1], None, dtype=object)
        r_with = np.full(frame.shape[1], np.nan)
        names = np.asarray(frame.columns, dtype=object)
        for j in order:
            if constant[j]:
                dropped_for[j] = "(constant in training data)"
                continue
            kept_idx = np.flatnonzero(kept)
            if len(kept_idx):
                rj = corr[j, kept_idx]
                worst = int(np.argmax(rj))
                if rj[worst] > self.threshold:
                    dropped_for[j] = names[kept_idx[worst]]
                    r_with[j] = rj[worst]
                    continue
            kept[j] = True
        self.association_ = pd.Series(assoc, index=frame.columns, name="association")
        self.support_ = kept
        self.report_ = pd.DataFrame({"feature": names, "association": assoc, "kept": kept,
                                     "dropped_for": dropped_for, "r": r_with})
        return self
