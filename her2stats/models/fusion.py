"""Fusion of feature blocks or model outputs.

* Early fusion: concatenate feature blocks (radiomics, deep features, clinical) per patient
  before selection and modelling (seed 003's "pre-fusion" of 64 DL + 1,561 Rad features).
* Late fusion: average the predicted probabilities of models trained on separate blocks
  (seed 004's DLR model: mean of the radiomics and the deep-semantic model's probabilities).
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.validation import check_is_fitted

from ..errors import InputError
from ..selection._validation import as_binary_outcome


def early_fusion(blocks: Mapping[str, pd.DataFrame], prefix: bool = True) -> pd.DataFrame:
    """Concatenate feature blocks column-wise, matching patients on the index (case id).

    Parameters
    ----------
    blocks : ``{"rad": radiomics_df, "deep": deep_df, ...}``, each indexed by case id.
    prefix : prefix column names with ``"<block>__"`` so names stay unique and traceable.

    Every block must hold exactly the same cases; an InputError names the cases missing from a
    block (fusing on the intersection would drop patients silently).
    """
    if not blocks:
        raise InputError("early_fusion needs at least one feature block")
    names = list(blocks)
    first = blocks[names[0]]
    parts = []
    for name in names:
        block = blocks[name]
        if not isinstance(block, pd.DataFrame):
            raise InputError(f"block {name!r} must be a DataFrame indexed by case id")
        if block.index.has_duplicates:
            raise InputError(f"block {name!r} has duplicated case ids, e.g. {block.index[block.index.duplicated()][0]!r}")
        only_first = first.index.difference(block.index)
        only_this = block.index.difference(first.index)
        if len(only_first) or len(only_this):
            raise InputError(
                f"block {name!r} and block {names[0]!r} hold different cases: missing from {name!r}: "
                f"{list(only_first[:5])}, missing from {names[0]!r}: {list(only_this[:5])}; align the blocks first"
            )
        part = block.reindex(first.index)
        if prefix:
            part = part.add_prefix(f"{name}__")
        parts.append(part)
    fused = pd.concat(parts, axis=1)
    if fused.columns.has_duplicates:
        dup = fused.columns[fused.columns.duplicated()][0]
        raise InputError(f"column {dup!r} occurs in more than one block; use prefix=True")
    return fused


def late_fusion(probabilities: Mapping[str, Any] | pd.DataFrame, weights: Mapping[str, float] | Sequence[float] | None = None
                ) -> pd.Series:
    r"""Average predicted probabilities across models (seed 004), optionally weighted.

    .. math:: \hat p_i = \sum_m w_m \hat p_{im} / \sum_m w_m

    Parameters
    ----------
    probabilities : DataFrame (patients x models) or mapping model -> probabilities (Series
        aligned on the index, or arrays of equal length).
    weights : per-model weights (default equal).
    """
    if isinstance(probabilities, pd.DataFrame):
        table = probabilities
    else:
        if not probabilities:
            raise InputError("late_fusion needs at least one model's probabilities")
        lengths = {k: len(v) for k, v in probabilities.items()}
        if len(set(lengths.values())) != 1:
            raise InputError(f"the models' probability vectors differ in length: {lengths}")
        series = {k: (v if isinstance(v, pd.Series) else pd.Series(np.asarray(v, dtype=float)))
                  for k, v in probabilities.items()}
        indexes = [s.index for s in series.values()]
        if any(not idx.equals(indexes[0]) for idx in indexes[1:]):
            if any(set(idx) != set(indexes[0]) for idx in indexes[1:]):
                raise InputError("the models' probabilities are indexed by different cases; align them first")
        table = pd.DataFrame(series)
    values = table.to_numpy(dtype=float)
    if np.isnan(values).any():
        col = table.columns[np.isnan(values).any(axis=0)][0]
        raise InputError(f"model {col!r} has missing probabilities")
    if (values < 0).any() or (values > 1).any():
        col = table.columns[((values < 0) | (values > 1)).any(axis=0)][0]
        raise InputError(f"model {col!r} has values outside [0, 1]; pass probabilities, not scores")
    if weights is None:
        w = np.ones(table.shape[1])
    elif isinstance(weights, Mapping):
        missing = [c for c in table.columns if c not in weights]
        if missing:
            raise InputError(f"weights lack model(s) {missing}")
        w = np.array([float(weights[c]) for c in table.columns])
    else:
        w = np.asarray(weights, dtype=float)
        if len(w) != table.shape[1]:
            raise InputError(f"{len(w)} weights for {table.shape[1]} models")
    if (w < 0).any() or w.sum() <= 0:
        raise InputError("weights must be non-negative with a positive sum")
    return pd.Series(values @ w / w.sum(), index=table.index, name="fused_probability")


class LateFusionClassifier(ClassifierMixin, BaseEstimator):
    """Fit one model per feature block and average their probabilities (seed 004's DLR model).

    Parameters
    ----------
    estimators : list of ``(name, estimator, columns)``; ``columns`` is the list of column
        names (or a callable ``frame -> list``) the estimator sees. Estimators may be whole
        Pipelines with their own selection steps; each is cloned and fitted on the training
        data only.
    weights : optional per-estimator weights for the average.

    Attributes
    ----------
    estimators_ : dict name -> fitted estimator.
    """

    def __init__(self, estimators: Sequence[tuple[str, Any, Any]], weights: Sequence[float] | None = None):
        self.estimators = estimators
        self.weights = weights

    def _columns(self, spec: Any, X: pd.DataFrame) -> list[Any]:
        cols = list(spec(X)) if callable(spec) else list(spec)
        missing = [c for c in cols if c not in X.columns]
        if missing:
            raise InputError(f"LateFusionClassifier: X lacks column(s) {missing[:5]}")
        if not cols:
            raise InputError("LateFusionClassifier: an estimator was given no columns")
        return cols

    def fit(self, X: pd.DataFrame, y: Any) -> "LateFusionClassifier":
        if not isinstance(X, pd.DataFrame):
            raise InputError("LateFusionClassifier needs X as a DataFrame (blocks are chosen by column name)")
        if not self.estimators:
            raise InputError("LateFusionClassifier needs at least one (name, estimator, columns) entry")
        names = [e[0] for e in self.estimators]
        if len(set(names)) != len(names):
            raise InputError(f"estimator names must be unique, got {names}")
        if self.weights is not None and len(self.weights) != len(self.estimators):
            raise InputError(f"{len(self.weights)} weights for {len(self.estimators)} estimators")
        yv = as_binary_outcome(y, len(X)).astype(int)
        labels = np.asarray(y.to_numpy() if isinstance(y, pd.Series) else y).ravel()
        self.classes_ = np.unique(labels)
        self.estimators_ = {}
        self.columns_ = {}
        for name, est, spec in self.estimators:
            cols = self._columns(spec, X)
            self.columns_[name] = cols
            self.estimators_[name] = clone(est).fit(X[cols], yv)
        return self

    def predict_proba_by_model(self, X: pd.DataFrame) -> pd.DataFrame:
        """Each member's P(event), one column per estimator."""
        check_is_fitted(self, "estimators_")
        return pd.DataFrame({name: est.predict_proba(X[self.columns_[name]])[:, 1]
                             for name, est in self.estimators_.items()}, index=X.index)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        fused = late_fusion(self.predict_proba_by_model(X), self.weights).to_numpy()
        return np.column_stack([1 - fused, fused])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.classes_[(self.predict_proba(X)[:, 1] > 0.5).astype(int)]
