"""LASSO logistic selection: Python engine vs glmnet (R) on the same folds, and optimality checks.

Reference data: glmnet's documented ``BinomialExample`` (100 x 30). Tolerances: lambda path 1e-10
(closed form), coefficients / CV deviance 1e-6 (iterative fits; glmnet run with thresh = 1e-14),
selected feature sets and chosen lambda indices identical.
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from sklearn.base import clone
from sklearn.pipeline import make_pipeline

from her2stats.errors import InputError
from her2stats.models import DeepScore
from her2stats.selection import LassoSelector, lasso_cv, make_foldid
from her2stats.selection._lasso_cd import _cd_covariance
from her2stats.selection.lasso import _choose_lambdas


@pytest.fixture(scope="module")
def binomial_example():
    from her2stats import r_bridge

    r_bridge.require("glmnet")
    data = r_bridge.r_eval("local({ data(BinomialExample, package = 'glmnet'); BinomialExample })")
    X = pd.DataFrame(np.asarray(data["x"], dtype=float), columns=[f"V{j + 1}" for j in range(30)])
    y = np.asarray(data["y"], dtype=int)
    return X, y


@pytest.fixture(scope="module")
def signal_data():
    rng = np.random.default_rng(1)
    n, p = 120, 15
    X = pd.DataFrame(rng.normal(size=(n, p)) * rng.uniform(0.5, 3.0, size=p), columns=[f"f{j:02d}" for j in range(p)])
    z = (X - X.mean()) / X.std()
    eta = 1.2 * z["f00"] - 0.9 * z["f01"] + 0.5 * z["f02"]
    y = (rng.uniform(size=n) < expit(eta)).astype(int)
    return X, y


def _max_kkt_residual(Xv, y, res):
    """Largest |gradient - lambda*sign(beta)| over the active coefficients of the whole path."""
    Z = (Xv - Xv.mean(axis=0)) / Xv.std(axis=0)
    worst = 0.0
    for k, lam in enumerate(res.lambdas):
        beta = res.coef.iloc[:, k].to_numpy()
        grad = Z.T @ (y - expit(res.intercepts[k] + Xv @ beta)) / len(y)
        active = beta != 0
        if active.any():
            worst = max(worst, float(np.max(np.abs(grad[active] - lam * np.sign(beta[active])))))
    return worst


@pytest.mark.r
def test_python_engine_matches_glmnet_on_binomial_example(binomial_example):
    X, y = binomial_example
    folds = make_foldid(y, cv=10, seed=1)
    py = lasso_cv(X, y, foldid=folds, engine="python")
    r = lasso_cv(X, y, foldid=folds, engine="r", tol=1e-14)
    assert len(py.lambdas) == len(r.lambdas)  # same early stop of the path (glmnet's fdev/devmax rules)
    np.testing.assert_allclose(py.lambdas, r.lambdas, rtol=1e-10)
    # Up to lambda.min (the part of the path any selection uses) coefficients agree to 1e-6.
    # Further down, coefficients are large and the likelihood flat: glmnet (even at thresh=1e-14)
    # stops with KKT residuals ~1e-8, the Python solver at ~1e-13 (checked below), which moves
    # coefficients (of size up to ~11) by up to 1.7e-4 there; the tail is compared to 5e-4.
    head = max(py.index_min, py.index_1se) + 1
    np.testing.assert_allclose(py.coef.to_numpy()[:, :head], r.coef.to_numpy()[:, :head], atol=1e-6)
    np.testing.assert_allclose(py.intercepts[:head], r.intercepts[:head], atol=1e-6)
    np.testing.assert_allclose(py.coef.to_numpy(), r.coef.to_numpy(), atol=5e-4)
    assert _max_kkt_residual(X.to_numpy(), y, py) < 1e-10
    assert _max_kkt_residual(X.to_numpy(), y, r) < 1e-7
    np.testing.assert_allclose(py.dev_ratio, r.dev_ratio, atol=1e-7)
    # the CV curve inherits the same accuracy split (fold fits are LASSO paths too)
    np.testing.assert_allclose(py.cvm[:head], r.cvm[:head], atol=1e-6)
    np.testing.assert_allclose(py.cvsd[:head], r.cvsd[:head], atol=1e-6)
    np.testing.assert_allclose(py.cvm, r.cvm, atol=5e-4)
    np.testing.assert_allclose(py.cvsd, r.cvsd, atol=5e-4)
    assert (py.index_min, py.index_1se) == (r.index_min, r.index_1se)
    for rule in ("min", "1se"):
        assert list(py.selected(rule).index) == list(r.selected(rule).index)
    np.testing.assert_array_equal(py.nzero, r.nzero)


@pytest.mark.r
def test_lambda_rules_equal_glmnets_own_choice(binomial_example):
    """_choose_lambdas applied to glmnet's CV curve gives cv.glmnet's lambda.min / lambda.1se, and
    glmnet at its default thresh (1e-7) selects the same features as the exact Python fit."""
    from her2stats import r_bridge

    X, y = binomial_example
    folds = make_foldid(y, cv=5, seed=7)
    raw = r_bridge.call("h2s_lasso_cv", x=X.to_numpy(), y=y, foldid=folds, nlambda=100, lambda_min_ratio=1e-4,
                        standardize=True, thresh=1e-7, maxit=100000)
    lam = np.asarray(raw["lambda"])[: len(raw["cvm"])]
    imin, i1se = _choose_lambdas(lam, np.asarray(raw["cvm"]), np.asarray(raw["cvsd"]))
    assert lam[imin] == raw["lambda_min"] and lam[i1se] == raw["lambda_1se"]
    py = lasso_cv(X, y, foldid=folds, engine="python")
    r_default = lasso_cv(X, y, foldid=folds, engine="r")
    assert list(py.selected("1se").index) == list(r_default.selected("1se").index)
    assert list(py.selected("min").index) == list(r_default.selected("min").index)
    # the transformer: same folds from the same seed, so both engines keep the same columns
    sel_py = LassoSelector(cv=5, seed=7, engine="python").fit(X, y)
    sel_r = LassoSelector(cv=5, seed=7, engine="r").fit(X, y)
    assert list(sel_py.get_feature_names_out()) == list(sel_r.get_feature_names_out())
    np.testing.assert_allclose(sel_py.coef_, sel_r.coef_, atol=1e-4)  # glmnet at thresh 1e-7


def test_python_path_satisfies_kkt_conditions(signal_data):
    """Optimality without R: on standardised features the gradient of the mean log-likelihood is
    lambda * sign(beta_j) for non-zero beta_j and at most lambda in absolute value otherwise."""
    X, y = signal_data
    res = lasso_cv(X, y, cv=5, seed=0, engine="python")
    Xv = X.to_numpy()
    sd = Xv.std(axis=0)
    for k in range(0, len(res.lambdas), 7):
        lam = res.lambdas[k]
        beta = res.coef.iloc[:, k].to_numpy()
        eta = res.intercepts[k] + Xv @ beta
        grad = ((Xv - Xv.mean(axis=0)) / sd).T @ (y - expit(eta)) / len(y)
        active = beta != 0
        np.testing.assert_allclose(grad[active], lam * np.sign(beta[active]), atol=1e-8)
        assert np.all(np.abs(grad[~active]) <= lam * (1 + 1e-8))
        assert abs(np.sum(y - expit(eta))) < 1e-8  # unpenalised intercept: score equation holds
    # the true signal features are selected, noise mostly not
    chosen = set(res.selected("1se").index)
    assert {"f00", "f01"} <= chosen
    assert res.nzero[res.index_1se] <= res.nzero[res.index_min]


@pytest.mark.parametrize("n, s", [(50, 8), (40, 30), (10, 25)])  # last: singular G (more columns than rows)
def test_quadratic_subproblem_solver_is_optimal(n, s):
    """The compiled coordinate descent on the IRLS quadratic model (covariance updates, exact
    solve on the support once its signs settle) reaches the subproblem's optimum: its KKT
    conditions hold (intercept column unpenalised) and, where the optimum is unique, it equals
    the solution of the stationarity equations on the support found."""
    rng = np.random.default_rng(n + s)
    A = np.column_stack([np.ones(n), rng.normal(size=(n, s - 1))])
    w = rng.uniform(0.05, 0.25, size=n)
    G = A.T @ (A * w[:, None]) / n
    c = A.T @ (w * rng.normal(size=n)) / n
    lam = 0.3 * np.max(np.abs(c[1:]))
    theta = np.zeros(s)
    grad = c.copy()
    passes = _cd_covariance(G, grad, theta, lam, 1e-13, 100_000)
    assert passes > 0
    np.testing.assert_allclose(grad, c - G @ theta, atol=1e-12)   # the maintained gradient is exact
    nz = np.flatnonzero(theta[1:] != 0) + 1
    assert abs(grad[0]) < 1e-9
    np.testing.assert_allclose(grad[nz], lam * np.sign(theta[nz]), atol=1e-9)
    assert np.all(np.abs(np.delete(grad, np.r_[0, nz])) <= lam * (1 + 1e-9))
    if n > s:  # a unique optimum: the stationarity equations on the support give it
        sup = np.r_[0, nz]
        exact = np.linalg.solve(G[np.ix_(sup, sup)], c[sup] - lam * np.r_[0.0, np.sign(theta[nz])])
        np.testing.assert_allclose(theta[sup], exact, atol=1e-9)


def test_lasso_selector_pipeline_and_reproducibility(signal_data):
    X, y = signal_data
    sel = LassoSelector(cv=5, lambda_rule="min", seed=3, nlambda=40, engine="python").fit(X, y)
    again = LassoSelector(cv=5, lambda_rule="min", seed=3, nlambda=40, engine="python").fit(X, y)
    np.testing.assert_array_equal(sel.support_, again.support_)
    out = sel.transform(X)
    assert list(out.columns) == list(sel.coef_.index) == list(sel.get_feature_names_out())
    assert sel.n_selected_ == out.shape[1] > 0
    assert sel.lambda_ == sel.cv_result_.lambda_min
    pipe = make_pipeline(LassoSelector(cv=5, seed=0, nlambda=40, engine="python"), DeepScore()).fit(X, y)
    scores = pipe.transform(X)
    assert list(scores.columns) == ["deep_score"] and scores.index.equals(X.index)
    clone(pipe)
    frame = sel.cv_result_.to_frame()
    assert set(frame["rule"]) >= {"min"} and (frame["cvup"] >= frame["cvm"]).all()
    ax = sel.cv_result_.plot()
    assert ax.get_xlabel() == "log(lambda)"


def test_lasso_bad_input(signal_data):
    X, y = signal_data
    with pytest.raises(InputError, match="lambda_rule"):
        LassoSelector(lambda_rule="2se").fit(X, y)
    with pytest.raises(InputError, match="foldid has 3 labels"):
        lasso_cv(X, y, foldid=[1, 2, 3])
    with pytest.raises(InputError, match="at least 3 folds"):
        lasso_cv(X, y, foldid=np.arange(len(y)) % 2)
    with pytest.raises(InputError, match="fewer than cv"):
        lasso_cv(X.iloc[:12], np.r_[np.ones(2), np.zeros(10)], cv=5)
    with pytest.raises(InputError, match="lambda_min_ratio"):
        lasso_cv(X, y, lambda_min_ratio=2.0)
    with pytest.raises(InputError, match="engine"):
        lasso_cv(X, y, engine="matlab")
