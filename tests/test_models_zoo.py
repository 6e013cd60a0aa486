"""Model zoo (nested stratified CV) and fusion (early concatenation, late probability averaging)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from her2stats.errors import InputError
from her2stats.models import DEFAULT_MODELS, LateFusionClassifier, early_fusion, fit_zoo, late_fusion
from her2stats.selection import UnivariateFilter


@pytest.fixture(scope="module")
def cohort():
    rng = np.random.default_rng(31)
    n = 90
    X = pd.DataFrame(rng.normal(size=(n, 6)), columns=[f"f{j}" for j in range(6)], index=[f"P{i:03d}" for i in range(n)])
    y = pd.Series((rng.uniform(size=n) < expit(1.5 * X["f0"] - 1.0 * X["f1"])).astype(int), index=X.index)
    return X, y


def test_zoo_out_of_fold_probabilities_are_honest_and_reproducible(cohort):
    X, y = cohort
    small = {"lr": {"C": [0.1, 1.0]}, "dt": {"max_depth": [2, 3]}, "knn": {"n_neighbors": [5, 11]}}
    res = fit_zoo(X, y, models=["lr", "dt", "knn"], cv=3, inner_cv=2, seed=5, param_grids=small)
    assert list(res.oof.columns) == ["lr", "dt", "knn"] and res.oof.index.equals(X.index)
    assert not res.oof.isna().any().any()
    assert sorted(np.unique(res.folds)) == [1, 2, 3]
    assert all(len(v) == 3 for v in res.best_params.values())
    table = res.to_frame()
    assert table.loc["lr", "auc_oof"] > 0.75
    assert np.isclose(table.loc["lr", "auc_oof"], roc_auc_score(y, res.oof["lr"]))
    again = fit_zoo(X, y, models=["dt"], cv=3, inner_cv=2, seed=5, param_grids=small, refit=False)
    pd.testing.assert_series_equal(res.oof["dt"], again.oof["dt"])
    assert again.refit == {}
    # refit models are fitted pipelines usable on new patients
    assert res.refit["lr"].predict_proba(X.iloc[:5]).shape == (5, 2)
    assert res.plot().get_xlabel() == "1 - specificity"


def test_zoo_oof_equals_manual_nested_cv(cohort):
    """The definition, spelled out: outer stratified folds, inner grid search on the outer
    training rows only, probabilities on the outer test rows."""
    X, y = cohort
    res = fit_zoo(X, y, models=["lr"], cv=3, inner_cv=2, seed=2, preprocess=[UnivariateFilter(alpha=0.2)],
                  param_grids={"lr": {"C": [0.1, 1.0]}}, refit=False)
    manual = np.empty(len(y))
    outer = StratifiedKFold(3, shuffle=True, random_state=2)
    for k, (tr, te) in enumerate(outer.split(X, y), start=1):
        pipe = Pipeline([("pre0_univariatefilter", UnivariateFilter(alpha=0.2)), ("scale", StandardScaler()),
                         ("model", LogisticRegression(max_iter=5000))])
        search = GridSearchCV(pipe, {"model__C": [0.1, 1.0]},
                              cv=StratifiedKFold(2, shuffle=True, random_state=2 + k), scoring="roc_auc")
        search.fit(X.iloc[tr], y.iloc[tr].to_numpy())
        manual[te] = search.predict_proba(X.iloc[te])[:, 1]
    np.testing.assert_allclose(res.oof["lr"].to_numpy(), manual, rtol=1e-12)


@pytest.mark.slow
def test_every_default_model_runs(cohort):
    X, y = cohort
    one_point = {"lr": {"C": [1.0]}, "svm": {"estimator__C": [1.0]}, "knn": {"n_neighbors": [7]},
                 "dt": {"max_depth": [3]}, "mlp": {"alpha": [0.1]}, "rf": {"max_depth": [3]}, "et": {"max_depth": [3]},
                 "xgb": {"max_depth": [2]}, "lgbm": {"num_leaves": [4]}}
    res = fit_zoo(X, y, cv=2, inner_cv=2, seed=0, param_grids=one_point, refit=False)
    assert list(res.oof.columns) == list(DEFAULT_MODELS)
    assert not res.oof.isna().any().any()
    assert ((res.oof >= 0) & (res.oof <= 1)).all().all()
    assert (res.to_frame()["auc_oof"] > 0.6).all()


def test_zoo_custom_models_and_errors(cohort):
    X, y = cohort
    res = fit_zoo(X, y, models={"ridge": (LogisticRegression(max_iter=1000), {"C": [1.0]}, True)}, cv=3, inner_cv=2)
    assert list(res.oof.columns) == ["ridge"] and res.refit_params["ridge"] == {"C": 1.0}
    with pytest.raises(InputError, match="unknown model 'gbm'"):
        fit_zoo(X, y, models=["gbm"])
    with pytest.raises(InputError, match="fewer than cv"):
        fit_zoo(X.iloc[:8], np.r_[np.ones(2), np.zeros(6)], models=["lr"], cv=3)
    with pytest.raises(InputError, match="inner_cv"):
        fit_zoo(X, y, models=["lr"], inner_cv=1)


# --------------------------------------------------------------------------- fusion
def test_early_fusion_concatenates_by_case_id():
    rad = pd.DataFrame({"glcm": [1.0, 2.0, 3.0]}, index=["a", "b", "c"])
    deep = pd.DataFrame({"pca0": [0.1, 0.2, 0.3], "pca1": [1, 2, 3]}, index=["c", "a", "b"])
    fused = early_fusion({"rad": rad, "deep": deep})
    assert list(fused.columns) == ["rad__glcm", "deep__pca0", "deep__pca1"]
    assert list(fused.index) == ["a", "b", "c"]
    assert fused.loc["c", "deep__pca0"] == 0.1
    with pytest.raises(InputError, match=r"missing from 'deep': \['c'\]"):
        early_fusion({"rad": rad, "deep": deep.drop(index="c")})
    with pytest.raises(InputError, match="more than one block"):
        early_fusion({"a": rad, "b": rad}, prefix=False)


def test_late_fusion_averages_probabilities():
    p = pd.DataFrame({"rad": [0.2, 0.8, 0.5], "dsfr": [0.4, 0.6, 0.1]}, index=["a", "b", "c"])
    np.testing.assert_allclose(late_fusion(p), [0.3, 0.7, 0.3])
    np.testing.assert_allclose(late_fusion(p, weights={"rad": 3, "dsfr": 1}), [0.25, 0.75, 0.4])
    np.testing.assert_allclose(late_fusion({"m1": np.array([0.1, 0.9]), "m2": np.array([0.3, 0.5])}), [0.2, 0.7])
    with pytest.raises(InputError, match="outside"):
        late_fusion(p.assign(rad=[2.0, 0.1, 0.1]))
    with pytest.raises(InputError, match="missing"):
        late_fusion(p.assign(dsfr=[np.nan, 0.1, 0.1]))
    with pytest.raises(InputError, match="differ in length"):
        late_fusion({"m1": [0.1, 0.2], "m2": [0.1]})


def test_late_fusion_classifier_equals_manual_average(cohort):
    X, y = cohort
    clf = LateFusionClassifier([("rad", LogisticRegression(), ["f0", "f2"]), ("deep", LogisticRegression(), ["f1", "f3"])])
    clf.fit(X.iloc[:60], y.iloc[:60])
    m1 = LogisticRegression().fit(X.iloc[:60][["f0", "f2"]], y.iloc[:60])
    m2 = LogisticRegression().fit(X.iloc[:60][["f1", "f3"]], y.iloc[:60])
    expected = (m1.predict_proba(X.iloc[60:][["f0", "f2"]])[:, 1] + m2.predict_proba(X.iloc[60:][["f1", "f3"]])[:, 1]) / 2
    np.testing.assert_allclose(clf.predict_proba(X.iloc[60:])[:, 1], expected, rtol=1e-12)
    assert list(clf.predict_proba_by_model(X.iloc[60:]).columns) == ["rad", "deep"]
    from sklearn.base import clone

    twin = clone(clf).fit(X.iloc[:60], y.iloc[:60])  # sklearn clone/get_params round-trip
    np.testing.assert_allclose(twin.predict_proba(X.iloc[60:]), clf.predict_proba(X.iloc[60:]), rtol=1e-12)
    with pytest.raises(InputError, match="lacks column"):
        LateFusionClassifier([("rad", LogisticRegression(), ["zz"])]).fit(X, y)


def test_fold_features_refit_a_learnt_column_inside_each_outer_fold():
    """A column learnt on every patient (here: the outcome itself, the extreme of leakage) makes the
    out-of-fold AUC perfect; ``fold_features`` gives each outer fold the column as learnt on its own
    training patients (here: no information), and the out-of-fold AUC falls to chance."""
    rng = np.random.default_rng(11)
    n = 120
    y = rng.binomial(1, 0.5, size=n)
    X = pd.DataFrame({"noise": rng.normal(size=n), "learnt": y + 0.01 * rng.normal(size=n)})
    calls = []

    def fold_features(k, train):
        calls.append((k, np.sort(train)))
        r = np.random.default_rng(100 + k)
        return X.assign(learnt=r.normal(size=n))

    leaky = fit_zoo(X, y, models=["lr"], cv=3, inner_cv=2, seed=4, refit=False)
    honest = fit_zoo(X, y, models=["lr"], cv=3, inner_cv=2, seed=4, refit=False, fold_features=fold_features)
    assert leaky.to_frame().loc["lr", "auc_oof"] > 0.99
    assert honest.to_frame().loc["lr", "auc_oof"] < 0.7
    expected = [np.sort(tr) for tr, _ in StratifiedKFold(3, shuffle=True, random_state=4).split(np.zeros(n), y)]
    assert [k for k, _ in calls] == [1, 2, 3]
    assert all(np.array_equal(a, b) for (_, a), b in zip(calls, expected))
