"""DeepScore: logistic linear predictor vs R's glm (coefficients and SEs to 1e-6), clinical
table integration, and failure modes (separation, too many features, missing cases)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from sklearn.pipeline import make_pipeline

from her2stats.errors import ConvergenceError, InputError
from her2stats.models import DeepScore
from her2stats.selection import UnivariateFilter


@pytest.fixture(scope="module")
def deep_data():
    rng = np.random.default_rng(21)
    n = 150
    X = pd.DataFrame(rng.normal(size=(n, 4)), columns=["resnet50_t2_0001", "resnet50_t2_0002", "vit_dce_0010", "noise"],
                     index=[f"P{i:04d}" for i in range(n)])
    eta = -0.3 + 1.1 * X.iloc[:, 0] - 0.7 * X.iloc[:, 1] + 0.4 * X.iloc[:, 2]
    y = pd.Series((rng.uniform(size=n) < expit(eta)).astype(int), index=X.index, name="her2")
    return X, y


@pytest.mark.r
def test_deep_score_matches_r_glm(deep_data):
    from her2stats import r_bridge

    X, y = deep_data
    ds = DeepScore().fit(X, y)
    frame = X.assign(her2=y.to_numpy())
    r_bridge.assign("h2s_test_df", frame.reset_index(drop=True))
    ref = r_bridge.r_eval("local({ f <- glm(her2 ~ ., data = h2s_test_df, family = binomial, "
                          "control = glm.control(epsilon = 1e-14, maxit = 100)); "
                          "s <- summary(f)$coefficients; list(est = unname(s[, 1]), se = unname(s[, 2]), "
                          "lp = unname(predict(f, type = 'link'))) })")
    table = ds.coefficients()
    np.testing.assert_allclose(table["estimate"], ref["est"], atol=1e-6)
    np.testing.assert_allclose(table["se"], ref["se"], atol=1e-6)
    np.testing.assert_allclose(ds.decision_function(X), ref["lp"], atol=1e-6)


def test_deep_score_is_the_linear_predictor(deep_data):
    X, y = deep_data
    ds = DeepScore(column="deep_score").fit(X, y)
    manual = ds.intercept_ + X.to_numpy() @ ds.coef_.to_numpy()
    np.testing.assert_allclose(ds.decision_function(X), manual, rtol=1e-12)
    np.testing.assert_allclose(ds.predict_proba(X)[:, 1], expit(manual), rtol=1e-12)
    scores = ds.transform(X)
    assert list(scores.columns) == ["deep_score"] and scores.index.equals(X.index)
    # ML score equation: residuals sum to zero and are orthogonal to every feature
    resid = y.to_numpy() - expit(manual)
    assert abs(resid.sum()) < 1e-8
    np.testing.assert_allclose(X.to_numpy().T @ resid, 0, atol=1e-8)
    assert ds.formula().startswith("deep_score = ")
    assert set(ds.predict(X)) <= {0, 1}


def test_add_to_clinical_table_matches_by_case_id(deep_data):
    X, y = deep_data
    ds = DeepScore().fit(X, y)
    clinical = pd.DataFrame({"age": np.arange(len(X)) % 50 + 30}, index=X.index[::-1])  # other order
    out = ds.add_to(clinical, X)
    assert "deep_score" in out.columns and "deep_score" not in clinical.columns
    np.testing.assert_allclose(out["deep_score"].to_numpy(), ds.transform(X).loc[clinical.index, "deep_score"])
    with pytest.raises(InputError, match=r"1 clinical case\(s\) have no deep features.*P9999"):
        ds.add_to(pd.concat([clinical, pd.DataFrame({"age": [40]}, index=["P9999"])]), X)
    with pytest.raises(InputError, match="already has a column"):
        ds.add_to(out, X)


def test_deep_score_after_selection_in_pipeline(deep_data):
    X, y = deep_data
    pipe = make_pipeline(UnivariateFilter(alpha=0.01), DeepScore()).fit(X, y)
    assert "noise" not in pipe[-1].coef_.index
    assert pipe.predict_proba(X).shape == (len(X), 2)


def test_zero_features_gives_intercept_only_score(deep_data):
    X, y = deep_data
    ds = DeepScore().fit(X.iloc[:, :0], y)
    prevalence = y.mean()
    np.testing.assert_allclose(ds.decision_function(X.iloc[:, :0]), np.log(prevalence / (1 - prevalence)), rtol=1e-10)


def test_separation_and_dimension_errors(deep_data):
    X, y = deep_data
    separated = X.assign(leak=np.where(y == 1, 5.0, -5.0) + np.linspace(0, 0.1, len(y)))
    with pytest.raises(ConvergenceError, match="separates"):
        DeepScore().fit(separated, y)
    wide = pd.DataFrame(np.random.default_rng(0).normal(size=(20, 25)))
    with pytest.raises(InputError, match="select features first"):
        DeepScore().fit(wide, np.r_[np.ones(10), np.zeros(10)])
    ds = DeepScore().fit(X, y)
    with pytest.raises(InputError, match="lacks feature"):
        ds.decision_function(X.drop(columns=["noise"]))


def test_ridge_deep_score_matches_sklearn_and_survives_separation(deep_data):
    from sklearn.linear_model import LogisticRegression

    X, y = deep_data
    ds = DeepScore(penalty="l2", C=0.5).fit(X, y)
    ref = LogisticRegression(C=0.5, tol=1e-12, max_iter=10_000).fit(X, y)  # l2 on coefficients only
    np.testing.assert_allclose(ds.coef_.to_numpy(), ref.coef_[0], atol=1e-6)
    np.testing.assert_allclose(ds.intercept_, ref.intercept_[0], atol=1e-6)
    separated = X.assign(leak=np.where(y == 1, 5.0, -5.0) + np.linspace(0, 0.1, len(y)))
    finite = DeepScore(penalty="l2", C=1.0).fit(separated, y)
    assert np.isfinite(finite.coef_).all() and finite.coef_["leak"] > 0
    with pytest.raises(InputError, match="penalty"):
        DeepScore(penalty="l1").fit(X, y)
    with pytest.raises(InputError, match="C must be positive"):
        DeepScore(penalty="l2", C=0).fit(X, y)
