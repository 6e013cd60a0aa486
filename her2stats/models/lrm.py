"""``fit_lrm`` as an sklearn classifier, so a logistic model on fixed covariates can be the last
step of a Pipeline (and be refitted inside :func:`~her2stats.stats.pipeline_validation.pipeline_bootstrap`).
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from ..errors import InputError

__all__ = ["LRMClassifier"]

_OUTCOME = "__outcome__"


class LRMClassifier(ClassifierMixin, BaseEstimator):
    """Binary logistic regression in rms's parametrisation (:func:`her2stats.fit_lrm`) as an
    sklearn estimator.

    ``logit P(y = event | x) = b0 + sum_j b_j x_j`` with the design of ``fit_lrm`` (numeric
    predictors linear, ``rcs`` splines with rms knots, categorical predictors dummy coded against
    their first level). The event is the second of the two sorted outcome labels (the second
    category of a categorical outcome), as in ``fit_lrm``; ``classes_`` lists both.

    Parameters
    ----------
    covariates : columns of ``X`` to use; None (default) uses every column of ``X``.
    rcs : restricted cubic splines, as in ``fit_lrm`` (``{"age": 4}``); knots are learnt from the
        training rows of each fit.
    engine : "python" (Newton-Raphson) or "r" (``rms::lrm``), or None (package default).

    Attributes
    ----------
    model_ : the :class:`~her2stats.stats.models.LogisticModel` of the last fit.
    coef_ : Series of coefficients (design columns, without the intercept); ``intercept_``.
    feature_names_in_ : the covariates used.

    Rows with a missing outcome or covariate are refused (an InputError names the column):
    inside a resampling loop a silently smaller fit would not line up with its predictions.
    """

    def __init__(self, covariates: Sequence[str] | None = None, rcs: Mapping[str, Any] | None = None,
                 engine: str | None = None):
        self.covariates = covariates
        self.rcs = rcs
        self.engine = engine

    def _covariates(self, X: pd.DataFrame) -> list[str]:
        covs = list(X.columns) if self.covariates is None else (
            [self.covariates] if isinstance(self.covariates, str) else list(self.covariates))
        missing = [c for c in covs if c not in X.columns]
        if missing:
            raise InputError(f"LRMClassifier: X lacks covariate column(s) {missing[:5]} (columns: {list(X.columns)[:20]})")
        return covs

    @staticmethod
    def _frame(X: Any) -> pd.DataFrame:
        if isinstance(X, pd.DataFrame):
            return X
        arr = np.asarray(X)
        if arr.ndim != 2:
            raise InputError(f"LRMClassifier needs 2-D X (patients x covariates), got shape {arr.shape}")
        return pd.DataFrame(arr, columns=[f"x{j}" for j in range(arr.shape[1])])

    def fit(self, X: Any, y: Any) -> "LRMClassifier":
        from ..stats.models import fit_lrm

        frame = self._frame(X)
        covs = self._covariates(frame)
        yy = y.reset_index(drop=True) if isinstance(y, pd.Series) else pd.Series(np.asarray(y).ravel())
        if len(yy) != len(frame):
            raise InputError(f"LRMClassifier: y has {len(yy)} values but X has {len(frame)} rows")
        if yy.isna().any():
            raise InputError(f"LRMClassifier: y has {int(yy.isna().sum())} missing value(s); exclude those patients "
                             "explicitly before fitting")
        na = frame[covs].isna().sum()
        if na.any():
            col = na.index[na.to_numpy() > 0][0]
            raise InputError(f"LRMClassifier: covariate {col!r} has {int(na[col])} missing value(s); impute inside the "
                             "pipeline or exclude those patients explicitly")
        if _OUTCOME in covs:
            raise InputError(f"LRMClassifier: a covariate may not be named {_OUTCOME!r}")
        data = frame[covs].reset_index(drop=True).copy()
        data[_OUTCOME] = yy.to_numpy() if not isinstance(yy.dtype, pd.CategoricalDtype) else yy.array
        model = fit_lrm(data, _OUTCOME, covs, rcs=self.rcs, engine=self.engine)
        self.model_ = model
        self.classes_ = np.asarray(model.outcome_levels, dtype=object)
        if all(isinstance(c, (int, float, np.integer, np.floating)) and not isinstance(c, bool) for c in self.classes_):
            self.classes_ = np.asarray(model.outcome_levels)
        self.feature_names_in_ = np.asarray(covs, dtype=object)
        self.n_features_in_ = len(covs)
        self.intercept_ = float(model.coefficients.iloc[0])
        self.coef_ = model.coefficients.iloc[1:].rename("coef")
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """Linear predictor ``X beta`` (log-odds of the event)."""
        check_is_fitted(self, "model_")
        frame = self._frame(X)
        covs = list(self.feature_names_in_)
        missing = [c for c in covs if c not in frame.columns]
        if missing:
            raise InputError(f"LRMClassifier: X lacks covariate column(s) {missing[:5]} seen in fit")
        return self.model_.linear_predictor(frame[covs].reset_index(drop=True))

    def predict_proba(self, X: Any) -> np.ndarray:
        p = 1.0 / (1.0 + np.exp(-np.clip(self.decision_function(X), -700, 700)))
        return np.column_stack([1 - p, p])

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[(self.decision_function(X) > 0).astype(int)]

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "model_")
        return np.asarray(self.feature_names_in_, dtype=object)
