"""Bad inputs of the whole-pipeline validation (pipeline_bootstrap, pipeline_cv) and of the
sklearn wrapper of fit_lrm (LRMClassifier, both engines)."""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.pipeline import make_pipeline

from her2stats.errors import InputError
from her2stats.models.lrm import LRMClassifier
from her2stats.selection import UnivariateFilter
from her2stats.stats.pipeline_validation import pipeline_bootstrap, pipeline_cv

from ._case import Case


def _data(n: int = 60, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"age": rng.normal(55, 10, n), "ki67": rng.normal(20, 8, n), "size": rng.normal(25, 6, n)},
                     index=[f"P{i:03d}" for i in range(n)])
    y = (rng.random(n) < 1 / (1 + np.exp(-(X["ki67"] - 20) / 8))).astype(int).to_numpy()
    return X, y


def _lrm():
    return LRMClassifier(engine="python")


class _BatchScaler(TransformerMixin, BaseEstimator):
    """Standardises with the rows it transforms (learns from evaluation rows)."""

    def fit(self, X, y=None):
        self.fitted_ = True
        return self

    def transform(self, X):
        return (X - X.mean()) / X.std()


class _NoDuplicates(ClassifierMixin, BaseEstimator):
    """A classifier that refuses repeated patients: every bootstrap refit fails."""

    def fit(self, X, y):
        if X.index.has_duplicates:
            raise ValueError("repeated patient ids in the training rows")
        self.classes_ = np.array([0, 1])
        self.rate_ = float(np.mean(y))
        return self

    def predict_proba(self, X):
        return np.column_stack([np.full(len(X), 1 - self.rate_), np.full(len(X), self.rate_)])


class _NeedsP000(ClassifierMixin, BaseEstimator):
    """Fails whenever patient P000 is not among the training rows (about 37% of resamples)."""

    def fit(self, X, y):
        if "P000" not in set(X.index):
            raise ValueError("P000 missing from the training rows")
        self.model_ = LRMClassifier(engine="python").fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X):
        return self.model_.predict_proba(X)


def _unseeded_forest():
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=5, max_depth=2)


def _prefitted(_):
    X, y = _data()
    pipeline_bootstrap(make_pipeline(UnivariateFilter(alpha=0.5).fit(X, y), _lrm()), X, y, n_boot=5, seed=1)


def _y_missing(_):
    X, y = _data()
    y = y.astype(float)
    y[7] = np.nan
    pipeline_bootstrap(_lrm(), X, y, n_boot=5, seed=1)


def _y_three(_):
    X, y = _data()
    y = y.copy()
    y[:5] = 2
    pipeline_bootstrap(_lrm(), X, y, n_boot=5, seed=1)


def _y_labels(_):
    X, y = _data()
    pipeline_bootstrap(_lrm(), X, np.where(y == 1, "HER2+", "HER2-"), n_boot=5, seed=1)


def _short_y(_):
    X, y = _data()
    pipeline_bootstrap(_lrm(), X, y[:-3], n_boot=5, seed=1)


def _call(**kw):
    def run(_):
        X, y = _data()
        pipeline_bootstrap(kw.pop("pipeline", _lrm()), X, y, **{"n_boot": 5, "seed": 1, **kw})

    return run


def _cv(**kw):
    def run(_):
        X, y = _data()
        pipeline_cv(_lrm(), X, y, **{"n_repeats": 1, "seed": 1, **kw})

    return run


def _cv_few_events(_):
    X, y = _data()
    y = np.zeros(len(y), dtype=int)
    y[:3] = 1
    pipeline_cv(_lrm(), X, y, n_splits=5, n_repeats=1, seed=1)


def _dup_columns(_):
    X, y = _data()
    X.columns = ["age", "age", "size"]
    pipeline_cv(_lrm(), X, y, n_splits=3, n_repeats=1, seed=1)


def _lrm_missing(engine):
    X, y = _data()
    X.loc["P004", "age"] = np.nan
    LRMClassifier(engine=engine).fit(X, y)


def _lrm_unknown(engine):
    X, y = _data()
    LRMClassifier(covariates=["age", "grade"], engine=engine).fit(X, y)


def _bad_plot(_):
    X, y = _data()
    pipeline_bootstrap(_lrm(), X, y, n_boot=3, seed=1).plot("forest")


_NO = (None,)
CASES = [
    Case("pipeline_bootstrap/step fitted beforehand", _prefitted, InputError, ("univariatefilter", "already fitted"),
         engines=_NO),
    Case("pipeline_bootstrap/not an estimator", _call(pipeline=lambda X, y: None), InputError,
         ("sklearn estimator",), engines=_NO),
    Case("pipeline_bootstrap/no predict_proba", _call(pipeline=UnivariateFilter()), InputError, ("predict_proba",),
         engines=_NO),
    Case("pipeline_bootstrap/missing outcome", _y_missing, InputError, ("missing", "position 7"), engines=_NO),
    Case("pipeline_bootstrap/three outcome classes", _y_three, InputError, ("binary", "3 distinct values"), engines=_NO),
    Case("pipeline_bootstrap/two labels without event", _y_labels, InputError, ("HER2+", "event="), engines=_NO),
    Case("pipeline_bootstrap/X and y lengths differ", _short_y, InputError, ("57", "60", "pair up"), engines=_NO),
    Case("pipeline_bootstrap/n_boot zero", _call(n_boot=0), InputError, ("n_boot", "positive integer"), engines=_NO),
    Case("pipeline_bootstrap/unknown method", _call(method="0.632"), InputError, ("method", "0.632"), engines=_NO),
    Case("pipeline_bootstrap/level as percent", _call(level=95), InputError, ("level", "95"), engines=_NO),
    Case("pipeline_bootstrap/threshold above 1", _call(threshold=1.5), InputError, ("threshold", "1.5"), engines=_NO),
    Case("pipeline_bootstrap/event not in y", _call(event="positive"), InputError, ("event", "'positive'"),
         engines=_NO),
    Case("pipeline_bootstrap/dca threshold of 1", _call(dca_thresholds=[0.1, 1.0]), InputError, ("dca_thresholds",),
         engines=_NO),
    Case("pipeline_bootstrap/step learns from the rows it transforms",
         _call(pipeline=make_pipeline(_BatchScaler(), _lrm())), InputError, ("changes with the other patients",),
         engines=_NO),
    Case("pipeline_bootstrap/every refit fails", _call(pipeline=_NoDuplicates()), InputError,
         ("every refit", "repeated patient ids"), engines=_NO),
    Case("pipeline_bootstrap/some refits fail", _call(pipeline=_NeedsP000(), n_boot=20), None,
         ("refits failed", "P000 missing"), warning=UserWarning, engines=_NO),
    Case("pipeline_bootstrap/unseeded random step", _call(pipeline=_unseeded_forest(), n_boot=3), None,
         ("random_state", "not reproducible"), warning=UserWarning, engines=_NO),
    Case("pipeline_bootstrap/unknown plot kind", _bad_plot, InputError, ("kind", "forest"), engines=_NO),
    Case("pipeline_cv/one fold", _cv(n_splits=1), InputError, ("n_splits", "at least 2"), engines=_NO),
    Case("pipeline_cv/fewer events than folds", _cv_few_events, InputError, ("n_splits=5", "events=3"), engines=_NO),
    Case("pipeline_cv/duplicated column names", _dup_columns, InputError, ("duplicated", "age"), engines=_NO),
    Case("LRMClassifier/missing covariate value", _lrm_missing, InputError, ("'age'", "1 missing")),
    Case("LRMClassifier/unknown covariate", _lrm_unknown, InputError, ("grade", "lacks covariate")),
]
