"""LASSO logistic selection: Python engine vs glmnet (R) on the same folds, and optimality checks.

Reference data: glmnet's documented ``BinomialExample`` (100 x 30) and simulated designs.

Default mode (both engines at glmnet's thresh = 1e-7): lambda path 1e-10 (closed form), same path
length, same selected sets and lambda indices, coefficients within the thresh-derived bound below
and -- because the Python engine runs glmnet's own iteration -- to rounding (1e-9), CV curve 1e-9.

Thresh-derived tolerance: glmnet stops coordinate descent when no update moves a coefficient by
``xv_j d_j^2 >= thresh * dev0`` (``dev0`` half the mean null deviance, ``xv_j = mean(p(1-p) z_j^2)``),
so its last steps are below ``sqrt(thresh * dev0 / xv_j)`` on the standardised scale (~1e-3 at
thresh = 1e-7; divided by the feature's SD on the original scale): the resolution of its stopping
rule, within which an implementation of the same rule must agree. It is not a bound on the
distance to the optimum where the problem is ill-conditioned: the KKT-certified solution lies
within it up to lambda.min on BinomialExample (0.13 of it) but up to 14 times outside it on the
flat tail of the path (coefficients ~10, glmnet's answer good to ~0.1 there).

KKT-certified mode (Python ``kkt_tol=1e-10``, glmnet at thresh = 1e-14): every KKT residual of the
Python path <= 1e-10, coefficients / CV deviance 1e-6 up to lambda.min, 5e-4 on the flat tail.
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
from her2stats.selection.lasso import _choose_lambdas, _fit_path, _standardise

THRESH = 1e-7  # glmnet's default thresh, both engines' default tol


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


def _thresh_tolerance(Xv, y, res, thresh=THRESH):
    """Per coefficient and lambda, ``sqrt(thresh * dev0 / xv_j) / sd_j``: how far apart two solutions
    that both meet glmnet's stopping rule may lie (see the module docstring)."""
    mu, sd = Xv.mean(axis=0), Xv.std(axis=0)
    Z = (Xv - mu) / sd
    ybar = y.mean()
    dev0 = -(ybar * np.log(ybar) + (1 - ybar) * np.log(1 - ybar))
    tol = np.empty(res.coef.shape)
    for k in range(len(res.lambdas)):
        prob = expit(res.intercepts[k] + Xv @ res.coef.iloc[:, k].to_numpy())
        xv = (prob * (1 - prob)) @ Z**2 / len(y)
        tol[:, k] = np.sqrt(thresh * dev0 / xv) / sd
    return tol


@pytest.mark.r
def test_python_engine_reproduces_glmnet_at_its_thresh(binomial_example):
    """Both engines at glmnet's default thresh: the same path and selections, coefficients within
    the thresh-derived bound, and in fact equal to rounding (the same iteration)."""
    X, y = binomial_example
    folds = make_foldid(y, cv=10, seed=1)
    py = lasso_cv(X, y, foldid=folds, engine="python")
    r = lasso_cv(X, y, foldid=folds, engine="r")
    assert len(py.lambdas) == len(r.lambdas)  # glmnet's early stop, read on the same deviances
    np.testing.assert_allclose(py.lambdas, r.lambdas, rtol=1e-10)
    assert (py.index_min, py.index_1se) == (r.index_min, r.index_1se)
    for rule in ("min", "1se"):
        assert list(py.selected(rule).index) == list(r.selected(rule).index)
    np.testing.assert_array_equal(py.nzero, r.nzero)
    diff = np.abs(py.coef.to_numpy() - r.coef.to_numpy())
    bound = _thresh_tolerance(X.to_numpy(), y, r)
    assert np.all(diff <= bound), float(np.max(diff / bound))
    # an independent solver (the KKT-certified mode) meets the bound where selection happens
    exact = lasso_cv(X, y, foldid=folds, engine="python", kkt_tol=1e-10)
    head = max(r.index_min, r.index_1se) + 1
    assert np.all(np.abs(exact.coef.to_numpy() - r.coef.to_numpy())[:, :head] <= bound[:, :head])
    # same updates in the same order with the same stopping tests: only summation order differs
    np.testing.assert_allclose(py.coef.to_numpy(), r.coef.to_numpy(), atol=1e-9)
    np.testing.assert_allclose(py.intercepts, r.intercepts, atol=1e-9)
    np.testing.assert_allclose(py.dev_ratio, r.dev_ratio, atol=1e-9)
    np.testing.assert_allclose(py.null_deviance, r.null_deviance, rtol=1e-12)
    np.testing.assert_allclose(py.cvm, r.cvm, atol=1e-9)
    np.testing.assert_allclose(py.cvsd, r.cvsd, atol=1e-9)


def _simulated(n, p, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    eta = X[:, :5] @ np.array([1.0, -0.8, 0.6, 0.4, -0.3])
    y = (rng.uniform(size=n) < expit(eta)).astype(int)
    return pd.DataFrame(X, columns=[f"x{j}" for j in range(p)]), y


@pytest.mark.r
@pytest.mark.parametrize("n, p, seed", [(200, 50, 0), (150, 600, 2)])
def test_path_length_and_passes_equal_glmnets(n, p, seed):
    """glmnet stops the path when the deviance ratio gains < 1e-5, read on its thresh-accurate
    deviances: a solver converged further (KKT to 1e-10) stopped the n = 200, p = 50 path after 78
    lambdas where glmnet stops after 73. The default engine reads the same deviances, so it stops
    where glmnet stops; it makes the same number of coordinate-descent passes (glmnet's npasses)."""
    from her2stats import r_bridge

    X, y = _simulated(n, p, seed)
    ratio = 0.01 if n < p else 1e-4
    Zt, mu, sd = _standardise(X.to_numpy().T, True)
    r_bridge.require("glmnet")
    r_bridge.assign("h2s_test_x", X.to_numpy())
    r_bridge.assign("h2s_test_y", y.astype(float))
    fit = r_bridge.r_eval(f"local({{ f <- glmnet::glmnet(h2s_test_x, h2s_test_y, family = 'binomial', "
                          f"lambda.min.ratio = {ratio}); list(lambda = f$lambda, npasses = f$npasses, "
                          f"beta = as.matrix(f$beta), dev = f$dev.ratio) }})")
    from her2stats.selection import _lasso_cd
    from her2stats.selection.lasso import _BIG, _DEVMAX, _EPS, _FDEV, _MNLAM, _PMIN

    ju = np.ones(p, dtype=bool)
    out = _lasso_cd.lognet_path(Zt, y.astype(float), ju, 100, ratio, THRESH, 100_000,
                                _MNLAM, _FDEV, _DEVMAX, _EPS, _PMIN, _BIG, np.zeros((100, 6), dtype=np.int64))
    n_fit, passes = out[5], out[6]
    lam_r = np.asarray(fit["lambda"])
    assert n_fit == len(lam_r) and passes == int(np.asarray(fit["npasses"]).ravel()[0])
    path = _fit_path(Zt, y, 100, ratio, tol=THRESH, kkt_tol=None, max_iter=100_000)
    np.testing.assert_allclose(path["lambda"], lam_r, rtol=1e-10)
    np.testing.assert_allclose(path["beta"] / sd[:, None], np.asarray(fit["beta"]).reshape(p, -1), atol=1e-9)
    np.testing.assert_allclose(path["dev_ratio"], np.asarray(fit["dev"]), atol=1e-9)
    # the KKT-certified mode solves the same lambdas (same length), not its own early stop, which
    # (applied to its more exact deviances) would end elsewhere
    exact = _fit_path(Zt, y, 100, ratio, tol=THRESH, kkt_tol=1e-10, max_iter=100_000)
    np.testing.assert_array_equal(exact["lambda"], path["lambda"])
    if (n, p) == (200, 50):
        all_100 = lam_r[1] * (ratio ** (1 / 99)) ** np.arange(-1.0, 99.0)
        own_stop = _lasso_cd.lasso_logistic_path(
            Zt, y.astype(float), all_100, 1e-10, 100, True, _FDEV, _DEVMAX, _MNLAM, _PMIN,
            64, 100_000, np.zeros((100, 4), dtype=np.int64))
        assert (len(lam_r), own_stop[4]) == (73, 78)


@pytest.mark.r
def test_kkt_mode_matches_glmnet_at_tight_thresh(binomial_example):
    X, y = binomial_example
    folds = make_foldid(y, cv=10, seed=1)
    # the path (lambdas, length) of glmnet at thresh = 1e-14, each lambda solved to KKT 1e-10
    py = lasso_cv(X, y, foldid=folds, engine="python", tol=1e-14, kkt_tol=1e-10)
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
    at the default thresh (1e-7) both engines, and the KKT-certified Python fit, select the same
    features."""
    from her2stats import r_bridge

    X, y = binomial_example
    folds = make_foldid(y, cv=5, seed=7)
    raw = r_bridge.call("h2s_lasso_cv", x=X.to_numpy(), y=y, foldid=folds, nlambda=100, lambda_min_ratio=1e-4,
                        standardize=True, thresh=1e-7, maxit=100000)
    lam = np.asarray(raw["lambda"])[: len(raw["cvm"])]
    imin, i1se = _choose_lambdas(lam, np.asarray(raw["cvm"]), np.asarray(raw["cvsd"]))
    assert lam[imin] == raw["lambda_min"] and lam[i1se] == raw["lambda_1se"]
    py = lasso_cv(X, y, foldid=folds, engine="python")
    exact = lasso_cv(X, y, foldid=folds, engine="python", kkt_tol=1e-10)
    r_default = lasso_cv(X, y, foldid=folds, engine="r")
    for rule in ("1se", "min"):
        assert list(py.selected(rule).index) == list(r_default.selected(rule).index)
        assert list(exact.selected(rule).index) == list(r_default.selected(rule).index)
    # the transformer: same folds from the same seed, so both engines keep the same columns
    sel_py = LassoSelector(cv=5, seed=7, engine="python").fit(X, y)
    sel_r = LassoSelector(cv=5, seed=7, engine="r").fit(X, y)
    assert list(sel_py.get_feature_names_out()) == list(sel_r.get_feature_names_out())
    np.testing.assert_allclose(sel_py.coef_, sel_r.coef_, atol=1e-9)  # the same iteration, to rounding
    assert "KKT conditions to 1e-10" in exact.method


def test_python_path_satisfies_kkt_conditions(signal_data):
    """Optimality without R (KKT-certified mode): on standardised features the gradient of the mean
    log-likelihood is lambda * sign(beta_j) for non-zero beta_j and at most lambda in absolute value
    otherwise."""
    X, y = signal_data
    res = lasso_cv(X, y, cv=5, seed=0, engine="python", kkt_tol=1e-10)
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
