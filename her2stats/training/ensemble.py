"""k-fold cross-validation with fold-model averaging: :class:`FoldEnsembleClassifier`.

Seed 004: "We performed 10-fold cross-validation on Dataset 1. Using the same features and model
parameters, the trained models were applied to Dataset 2. For the same patient in Dataset 2, we
averaged the prediction results obtained using the 10 models as the final prediction result."

``fit(X, y)`` splits the development cases into ``n_splits`` stratified folds (seeded; grouped by
``patient_id`` when a case table repeats a patient, as a bootstrap resample does), fits one
clone of ``estimator`` per fold on the other folds, and predicts the held-out fold with it: the
out-of-fold probabilities ``oof_proba_`` are the honest cross-validated predictions of the
development cohort (every case predicted by a model that never saw it). ``predict_proba`` on new
cases (validation, external) is the mean of the ``n_splits`` fold models' probabilities. Any
sklearn classifier works (seed 004 step one used logistic regression); with a
:class:`~her2stats.training.NetworkClassifier` each fold model does its own early stopping on an
inner split of its own training folds, so the held-out fold never chooses its checkpoint.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone

from ..errors import InputError


def _rows(X: Any, idx: np.ndarray) -> Any:
    return X.iloc[idx] if isinstance(X, (pd.DataFrame, pd.Series)) else np.asarray(X)[idx]


class FoldEnsembleClassifier(ClassifierMixin, BaseEstimator):
    """Fit one model per CV fold; out-of-fold predictions for the development cases, the average
    of the fold models for new cases.

    Parameters
    ----------
    estimator : any sklearn classifier with ``predict_proba`` (a Pipeline, a NetworkClassifier...).
    n_splits : number of folds (seed 004: 10; seed 001: 4).
    seed : seed of the stratified fold assignment.
    event : the outcome value coded 1 when ``y`` is not 0/1 or bool (never guessed from label order).

    Attributes
    ----------
    estimators_ : the fitted fold models.
    folds_ : fold number (0..n_splits-1) of each development case (the fold it was held out in).
    oof_proba_ : out-of-fold probability of the event for each development case.
    cv_auc_ : AUC of ``oof_proba_`` (pooled over folds); fold_aucs_ : AUC within each fold.
    classes_ : ``[reference, event]`` outcome labels.
    """

    def __init__(self, estimator: Any = None, n_splits: int = 10, seed: int = 0, event: Any = None):
        self.estimator = estimator
        self.n_splits = n_splits
        self.seed = seed
        self.event = event

    def fit(self, X: Any, y: Any) -> "FoldEnsembleClassifier":
        from sklearn.model_selection import StratifiedKFold

        if self.estimator is None or not hasattr(self.estimator, "predict_proba"):
            raise InputError("FoldEnsembleClassifier needs an estimator with predict_proba (e.g. NetworkClassifier(), "
                             "a LogisticRegression or a Pipeline)")
        k = self.n_splits
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
            raise InputError(f"n_splits must be an integer >= 2, got {k!r}")
        from ..stats import _core

        n = len(X)
        if isinstance(y, pd.Series) and isinstance(X, (pd.DataFrame, pd.Series)):
            y = _core.align(("X", pd.Series(np.zeros(n), index=X.index)), ("y", y))[1]
        arr = np.asarray(y.to_numpy() if isinstance(y, pd.Series) else y).ravel()
        if len(arr) != n:
            raise InputError(f"y has {len(arr)} values but X has {n} rows")
        if pd.isna(arr).any():
            raise InputError("y has missing outcomes; exclude those cases explicitly")
        values = pd.unique(pd.Series(arr, dtype=object))
        if len(values) != 2:
            raise InputError(f"y must have exactly two classes, got {list(values)[:5]}")
        coded = _core.binary_outcome(arr, "y", event=self.event)
        classes = np.asarray([coded.reference, coded.event])
        yb = coded.codes.astype(int)
        counts = [int((yb == c).sum()) for c in (0, 1)]
        if min(counts) < k:
            raise InputError(f"{k}-fold stratified CV needs at least {k} cases of each class; class counts "
                             f"{dict(zip(map(str, classes), counts))}")
        folds = np.full(n, -1)
        oof = np.full(n, np.nan)
        estimators = []
        groups = None
        if isinstance(X, pd.DataFrame) and "patient_id" in X.columns and X["patient_id"].duplicated().any():
            groups = X["patient_id"].astype(str).to_numpy()   # copies of a case stay in one fold
        if groups is None:
            splits = StratifiedKFold(n_splits=k, shuffle=True, random_state=int(self.seed)).split(np.zeros(n), yb)
        else:
            from sklearn.model_selection import StratifiedGroupKFold

            splits = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=int(self.seed)).split(
                np.zeros(n), yb, groups)
        for f, (tr, te) in enumerate(splits):
            y_tr = arr[tr] if not isinstance(y, pd.Series) else y.iloc[tr]
            est = clone(self.estimator).fit(_rows(X, tr), y_tr)
            proba = np.asarray(est.predict_proba(_rows(X, te)))
            oof[te] = proba[:, self._event_column(est, classes)]
            folds[te] = f
            estimators.append(est)
        return self.set_fold_models(estimators, folds, oof, classes, yb)

    def set_fold_models(self, estimators: list, folds: np.ndarray, oof: np.ndarray, classes: Any,
                        y: np.ndarray) -> "FoldEnsembleClassifier":
        """This ensemble, fitted, from fold models fitted elsewhere: ``estimators[f]`` trained without
        the rows of fold ``f`` (``folds``: each development row's fold, 0..k-1), ``oof`` their
        out-of-fold probabilities, ``y`` the 0/1 outcomes (``fit`` ends here; the study runner's
        network step builds its fold ensemble from the networks of the study's own folds)."""
        from .inputs import binary_auc as _auc

        folds, oof, yb = np.asarray(folds), np.asarray(oof, dtype=float), np.asarray(y).astype(float)
        self.estimators_ = list(estimators)
        self.folds_ = folds
        self.oof_proba_ = oof
        self.classes_ = np.asarray(classes)
        self.fold_aucs_ = np.asarray([_auc(yb[folds == f], oof[folds == f]) for f in range(len(self.estimators_))])
        self.cv_auc_ = _auc(yb, oof)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Mean of the fold models' probabilities (seed 004's averaging)."""
        if not hasattr(self, "estimators_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("this FoldEnsembleClassifier is not fitted yet")
        ps = [np.asarray(est.predict_proba(X))[:, self._event_column(est, self.classes_)] for est in self.estimators_]
        p = np.mean(ps, axis=0)
        return np.column_stack([1 - p, p])

    @staticmethod
    def _event_column(est: Any, classes: np.ndarray) -> int:
        """The column of ``est.predict_proba`` that holds the event's probability."""
        labels = list(getattr(est, "classes_", classes))
        hits = [i for i, c in enumerate(labels) if c == classes[1] or str(c) == str(classes[1])]
        if not hits:
            raise InputError(f"the fold model's classes {labels} do not include the event {classes[1]!r}")
        return hits[0]

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[(self.predict_proba(X)[:, 1] >= 0.5).astype(int)]

    @property
    def histories_(self) -> list[Any]:
        """Training curves of the fold networks (NetworkClassifier fold models only)."""
        return [getattr(e, "history_", None) for e in self.estimators_]
