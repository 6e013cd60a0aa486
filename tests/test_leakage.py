"""Leakage: every learnt step must be fitted on training patients only.

1. On pure-noise deep features (1,000 features, 100 patients) univariate selection done on all
   patients before CV gives an optimistic cross-validated AUC (the classic error), while the same
   selection inside a her2stats Pipeline / fit_zoo gives AUC ~0.5. If the pipeline leaked, the
   "honest" AUC would jump to the leaky level and the band assertions would fail.
2. A spy transformer placed in fit_zoo's preprocessing (before LassoSelector and DeepScore)
   records the patients each fit sees: every fit excludes a whole outer test fold, the fold
   being predicted was never seen by the fitted chain, and transform never gets labels.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline

from her2stats.models import DeepScore, fit_zoo
from her2stats.selection import CorrelationFilter, ICCFilter, LassoSelector, UnivariateFilter


def _noise_cohort(seed: int, n: int = 100, p: int = 1000):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, p)), columns=[f"resnet50_{j:04d}" for j in range(p)],
                     index=[f"P{seed}_{i:03d}" for i in range(n)])
    y = np.r_[np.ones(n // 2), np.zeros(n // 2)].astype(int)
    rng.shuffle(y)
    return X, y


def _selector():
    return UnivariateFilter(test="t", alpha=0.005, min_features=5)


@pytest.mark.slow
def test_selection_outside_cv_is_optimistic_inside_is_not():
    leaky, honest = [], []
    for seed in range(4):
        X, y = _noise_cohort(seed)
        cv = StratifiedKFold(5, shuffle=True, random_state=0)
        # WRONG: features chosen with every patient's label, then "validated" by CV
        chosen = _selector().fit(X, y).transform(X)
        p_leaky = cross_val_predict(LogisticRegression(), chosen, y, cv=cv, method="predict_proba")[:, 1]
        leaky.append(roc_auc_score(y, p_leaky))
        # RIGHT: selection is a pipeline step, refitted inside every training fold
        pipe = make_pipeline(_selector(), CorrelationFilter(0.8), LogisticRegression())
        p_honest = cross_val_predict(pipe, X, y, cv=cv, method="predict_proba")[:, 1]
        honest.append(roc_auc_score(y, p_honest))
    leaky, honest = np.array(leaky), np.array(honest)
    # measured: leaky 0.79-0.86, honest 0.40-0.66 (null CV AUC has SD ~0.06-0.1 at n=100)
    assert leaky.mean() > 0.75 and leaky.min() > 0.7
    assert np.all((honest > 0.25) & (honest < 0.75))
    assert 0.35 < honest.mean() < 0.65
    assert leaky.mean() - honest.mean() > 0.2


def test_fit_zoo_on_noise_is_near_chance():
    X, y = _noise_cohort(7, n=90, p=400)
    res = fit_zoo(X, y, models=["lr"], cv=3, inner_cv=2, seed=0, preprocess=[_selector()],
                  param_grids={"lr": {"C": [1.0]}}, refit=False)
    auc = res.to_frame().loc["lr", "auc_oof"]
    assert 0.25 < auc < 0.75
    # the same selection done before fit_zoo is optimistic on the same data
    chosen = _selector().fit(X, y).transform(X)
    leaky = fit_zoo(chosen, y, models=["lr"], cv=3, inner_cv=2, seed=0, param_grids={"lr": {"C": [1.0]}}, refit=False)
    assert leaky.to_frame().loc["lr", "auc_oof"] > auc + 0.15


class _Spy(TransformerMixin, BaseEstimator):
    """Pass-through transformer that logs which patients (index labels) it is fitted on and
    which it transforms, into a shared log (clones share it through the class)."""

    log: list = []

    def fit(self, X, y=None):
        assert y is not None and len(y) == len(X)
        self.fit_rows_ = frozenset(X.index)
        _Spy.log.append(("fit", self.fit_rows_, None))
        return self

    def transform(self, X, y=None):
        assert y is None, "transform must never receive labels"
        _Spy.log.append(("transform", frozenset(X.index), self.fit_rows_))
        return X


def test_preprocessing_never_sees_the_outer_test_fold():
    rng = np.random.default_rng(3)
    X = pd.DataFrame(rng.normal(size=(60, 5)), columns=list("abcde"), index=[f"P{i:02d}" for i in range(60)])
    y = (X["a"] + rng.normal(size=60) > 0).astype(int).to_numpy()
    _Spy.log = []
    # the seed-000 chain: (spy) -> LASSO selection -> Deep Score logistic model
    res = fit_zoo(X, y, models={"deep_score": (DeepScore(), {})}, cv=3, inner_cv=2, seed=1,
                  preprocess=[_Spy(), LassoSelector(cv=3, nlambda=20, lambda_rule="min", engine="python")], refit=False)
    assert res.to_frame().loc["deep_score", "auc_oof"] > 0.7  # the chain works on real signal
    test_folds = [frozenset(X.index[res.folds == k]) for k in (1, 2, 3)]
    fits = [rows for kind, rows, _ in _Spy.log if kind == "fit"]
    assert len(fits) == 3 * (2 + 1)  # per outer fold: 2 inner fits + the refit on the outer training rows
    for rows in fits:
        # every fit excluded (at least) one whole outer test fold: the one it predicts
        assert any(rows.isdisjoint(fold) for fold in test_folds)
    # when an outer test fold is transformed, the transformer was fitted without any of it
    outer_transforms = [(rows, fitted) for kind, rows, fitted in _Spy.log if kind == "transform" and rows in test_folds]
    assert len(outer_transforms) == 3
    for rows, fitted in outer_transforms:
        assert rows.isdisjoint(fitted)


def test_icc_filter_ignores_labels():
    rng = np.random.default_rng(9)
    values = rng.normal(size=(20, 1, 4)) + rng.normal(size=(20, 2, 4)) * np.array([0.1, 0.1, 1.0, 1.0])
    a = ICCFilter(0.8).fit(values, y=np.arange(20) % 2)
    b = ICCFilter(0.8).fit(values, y=1 - np.arange(20) % 2)
    np.testing.assert_array_equal(a.support_, b.support_)
