"""Base class of the column-selecting transformers.

A selector learns a boolean ``support_`` over the training columns in ``fit`` and applies it in
``transform``. DataFrames come back as DataFrames with the kept columns (selected by name, so a
test frame with reordered columns still works); arrays come back as arrays. ``report_`` is a
per-feature DataFrame (the statistic that decided, kept or not, and why) for the methods section.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ..errors import InputError
from ._validation import as_feature_frame


class FeatureSelector(TransformerMixin, BaseEstimator):
    """Shared ``transform`` / ``get_support`` / ``get_feature_names_out`` of her2stats selectors."""

    def _set_input(self, frame: pd.DataFrame) -> None:
        self.feature_names_in_ = np.asarray(frame.columns, dtype=object)
        self.n_features_in_ = frame.shape[1]

    def get_support(self, indices: bool = False) -> np.ndarray:
        """Boolean mask (or integer indices) of the kept training columns."""
        check_is_fitted(self, "support_")
        return np.flatnonzero(self.support_) if indices else self.support_.copy()

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "support_")
        return np.asarray(self.feature_names_in_[self.support_], dtype=object)

    def transform(self, X: Any) -> Any:
        """Keep the selected columns of ``X`` (a DataFrame by name, an array by position)."""
        check_is_fitted(self, "support_")
        keep = list(self.get_feature_names_out())
        if isinstance(X, pd.DataFrame):
            by_name = {str(c): c for c in X.columns}
            missing = [c for c in keep if c not in by_name]
            if missing:
                raise InputError(
                    f"{type(self).__name__}: X lacks column(s) {missing[:5]} that were selected in fit; "
                    "transform needs the same feature columns as the training data"
                )
            return X.loc[:, [by_name[c] for c in keep]]
        arr = np.asarray(X)
        if arr.ndim != 2 or arr.shape[1] != self.n_features_in_:
            raise InputError(
                f"{type(self).__name__}: X has shape {arr.shape}, but {self.n_features_in_} feature columns were "
                "seen in fit"
            )
        return arr[:, self.support_]

    @staticmethod
    def _frame(X: Any) -> pd.DataFrame:
        return as_feature_frame(X)
