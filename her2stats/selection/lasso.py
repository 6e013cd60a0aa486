"""LASSO logistic regression with glmnet's path and cross-validation rules.

The Python engine re-implements what ``glmnet::cv.glmnet(family = "binomial", alpha = 1)`` does,
so that the two engines select the same features on the same fold assignment:

* features standardised with the population SD (divisor n), intercept unpenalised;
* objective ``-(1/n) * loglik(b0, b) + lambda * ||b||_1``;
* lambda path ``lambda_max * ratio^(k/(nlambda-1))``, ``lambda_max = max_j |z_j' (y - ybar)| / n``,
  ``ratio = 0.01`` when n < p else ``1e-4``; the path stops early as glmnet's does (after the
  5th lambda, when the deviance ratio gains < 1e-5 or exceeds 0.999);
* each fold is fitted on its own (early-stopped) lambda path and its coefficients are linearly
  interpolated at the full-data lambdas (cv.glmnet's ``alignment = "lambda"``); the CV error is
  the binomial deviance with probabilities clipped to [1e-5, 1 - 1e-5], averaged within folds
  and then across folds weighted by fold size; ``cvsd = sqrt(weighted var of fold means / (K - 1))``;
* ``lambda.min`` is the largest lambda attaining the minimum CV deviance, ``lambda.1se`` the
  largest lambda whose CV deviance is within one SE of that minimum.

The solver (:mod:`._lasso_cd`, compiled) is glmnet's: coordinate descent inside a proximal
Newton (IRLS) loop, warm starts along the path, sequential strong rules and a KKT check on every
feature; covariance updates while the working set is small, naive (residual) updates when it is
large. It stops when every KKT condition holds to ``tol`` (1e-10 in the gradient of the
standardised problem), so its solution is the optimum to that precision rather than glmnet's
``thresh``-accurate one; at small lambda (large coefficients, flat likelihood) the two differ by
up to ~1e-4 in the coefficients while both satisfy the KKT conditions to their tolerance
(tests/test_selection_lasso.py).

One deviation from glmnet's defaults: when ``lambda_min_ratio`` is not given, the ratio is
chosen from the full data's n and p and used for the fold fits too (glmnet would decide per
fold); both engines receive the same explicit ratio, so their results agree.

Reference: Friedman J, Hastie T, Tibshirani R. Regularization paths for generalized linear models
via coordinate descent. J Stat Softw 2010;33(1):1-22.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.model_selection import StratifiedKFold

from .. import engine as _engine
from ..errors import ConvergenceError, InputError
from ..results import Result
from ._base import FeatureSelector
from ._validation import as_binary_outcome, as_feature_frame

# glmnet.control() defaults that shape the path and the CV error
_FDEV = 1e-5      # stop when the deviance ratio gains less than this
_DEVMAX = 0.999   # ... or exceeds this
_MNLAM = 5        # ... but never before the 5th lambda
_CV_PROB_MIN = 1e-5  # cv.lognet clips probabilities to [1e-5, 1 - 1e-5]
_W_MIN = 1e-9     # floor on IRLS weights p(1-p) (glmnet's pmin)


# --------------------------------------------------------------------------- solver
def _fit_path(Z: np.ndarray, y: np.ndarray, lambdas: np.ndarray, *, tol: float, max_iter: int,
              early_stop: bool) -> dict[str, Any]:
    """LASSO-logistic path on standardised ``Z`` (columns of zeros never enter), by the compiled
    solver of :mod:`._lasso_cd` (warm starts, strong rules, proximal Newton with coordinate
    descent, KKT check on every feature)."""
    from ._lasso_cd import lasso_logistic_path

    n, p = Z.shape
    Zt = np.ascontiguousarray(Z.T)
    # covariance updates while the weighted Gram matrix of the working set (n |W|^2 / 2) costs
    # less than the naive passes it replaces (about n |W| each, tens of passes per fit)
    cov_max = 64
    a0, beta, dev_ratio, null_dev, n_fit, status, at = lasso_logistic_path(
        Zt, np.ascontiguousarray(y, dtype=float), np.ascontiguousarray(lambdas, dtype=float), float(tol),
        int(max_iter), bool(early_stop), _FDEV, _DEVMAX, _MNLAM, _W_MIN, cov_max, 100_000,
        np.zeros((len(lambdas), 4), dtype=np.int64))
    if status == 1:
        raise ConvergenceError(
            f"LASSO logistic fit did not converge in {max_iter} Newton steps at lambda={lambdas[at]:.4g} "
            "(near-complete separation?); raise max_iter or shorten the path (lambda_min_ratio)")
    if status == 2:
        raise ConvergenceError(f"LASSO coordinate descent did not converge at lambda={lambdas[at]:.4g}; "
                               "increase max_iter or tol")
    return {"a0": a0[:n_fit].copy(), "beta": np.ascontiguousarray(beta[:n_fit].T), "dev_ratio": dev_ratio[:n_fit].copy(),
            "null_dev": float(null_dev)}


def _standardise(X: np.ndarray, standardize: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mu = X.mean(axis=0)
    sd = np.sqrt(((X - mu) ** 2).mean(axis=0)) if standardize else np.ones(X.shape[1])
    scale = np.where(sd > 0, sd, 1.0)
    Z = (X - mu) / scale
    Z[:, sd == 0] = 0.0  # constant columns can never enter (glmnet excludes them too)
    return np.ascontiguousarray(Z), mu, scale


def _lambda_sequence(Z: np.ndarray, y: np.ndarray, nlambda: int, ratio: float) -> np.ndarray:
    lam_max = float(np.max(np.abs(Z.T @ (y - y.mean())))) / len(y)
    if lam_max <= 0:
        raise InputError("no feature varies with the outcome (all columns constant?); LASSO cannot start")
    return np.exp(np.linspace(np.log(lam_max), np.log(lam_max * ratio), nlambda))


def _interpolate_path(path_lambdas: np.ndarray, a0: np.ndarray, beta: np.ndarray, s: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients at lambdas ``s`` by glmnet's ``lambda.interp``: linear in lambda between the
    path's neighbours, clamped to the path's first and last solutions outside its range."""
    if len(path_lambdas) == 1:
        return np.repeat(a0, len(s)), np.repeat(beta, len(s), axis=1)
    first, last = path_lambdas[0], path_lambdas[-1]
    frac_path = (first - path_lambdas) / (first - last)
    sfrac = np.clip((first - s) / (first - last), frac_path.min(), frac_path.max())
    coord = np.interp(sfrac, frac_path, np.arange(1, len(path_lambdas) + 1))
    left = np.floor(coord).astype(int) - 1
    right = np.ceil(coord).astype(int) - 1
    denom = frac_path[left] - frac_path[right]
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = (sfrac - frac_path[right]) / denom
    frac = np.where((left == right) | (np.abs(denom) < np.finfo(float).eps), 1.0, frac)
    a_at = a0[left] * frac + a0[right] * (1.0 - frac)
    b_at = beta[:, left] * frac + beta[:, right] * (1.0 - frac)
    return a_at, b_at


def _cv_deviance(y: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """Per-observation binomial deviance as cv.glmnet computes it (probabilities clipped)."""
    prob = np.clip(expit(eta), _CV_PROB_MIN, 1.0 - _CV_PROB_MIN)
    return -2.0 * (y[:, None] * np.log(prob) + (1.0 - y[:, None]) * np.log(1.0 - prob))


def _python_lasso_cv(X: np.ndarray, y: np.ndarray, foldid: np.ndarray, nlambda: int, ratio: float,
                     standardize: bool, tol: float, max_iter: int) -> dict[str, Any]:
    Z, mu, scale = _standardise(X, standardize)
    lambdas = _lambda_sequence(Z, y, nlambda, ratio)
    full = _fit_path(Z, y, lambdas, tol=tol, max_iter=max_iter, early_stop=True)
    lambdas = lambdas[: len(full["a0"])]
    folds = np.unique(foldid)
    fold_means = np.empty((len(folds), len(lambdas)))
    fold_weights = np.empty(len(folds))
    for i, f in enumerate(folds):
        test = foldid == f
        Zt, mut, scalet = _standardise(X[~test], standardize)
        # cv.glmnet (alignment = "lambda") fits each fold on its own lambda path and predicts at the
        # full-data lambdas by linear interpolation of the coefficients (predict.glmnet, s = lambda)
        fold_lambdas = _lambda_sequence(Zt, y[~test], nlambda, ratio)
        path = _fit_path(Zt, y[~test], fold_lambdas, tol=tol, max_iter=max_iter, early_stop=True)
        b_orig = path["beta"] / scalet[:, None]
        a_orig = path["a0"] - mut @ b_orig
        a_at, b_at = _interpolate_path(fold_lambdas[: len(a_orig)], a_orig, b_orig, lambdas)
        eta = a_at[None, :] + X[test] @ b_at
        fold_means[i] = _cv_deviance(y[test], eta).mean(axis=0)
        fold_weights[i] = test.sum()
    cvm = fold_weights @ fold_means / fold_weights.sum()
    cvsd = np.sqrt((fold_weights @ (fold_means - cvm) ** 2) / fold_weights.sum() / (len(folds) - 1))
    beta = full["beta"] / scale[:, None]
    a0 = full["a0"] - mu @ beta
    return {"lambda": lambdas, "cvm": cvm, "cvsd": cvsd, "a0": a0, "beta": beta,
            "dev_ratio": full["dev_ratio"], "null_dev": full["null_dev"]}


def _choose_lambdas(lambdas: np.ndarray, cvm: np.ndarray, cvsd: np.ndarray) -> tuple[int, int]:
    """Indices of lambda.min and lambda.1se exactly as glmnet's getOptcv.glmnet."""
    idmin = int(np.flatnonzero(cvm <= np.min(cvm))[np.argmax(lambdas[cvm <= np.min(cvm)])])
    bound = cvm[idmin] + cvsd[idmin]
    within = np.flatnonzero(cvm <= bound)
    id1se = int(within[np.argmax(lambdas[within])])
    return idmin, id1se


def _r_lasso_cv(X: np.ndarray, y: np.ndarray, foldid: np.ndarray, nlambda: int, ratio: float,
                standardize: bool, tol: float, max_iter: int) -> dict[str, Any]:
    from .. import r_bridge

    r_bridge.require("glmnet")
    out = r_bridge.call("h2s_lasso_cv", x=X, y=y.astype(int), foldid=foldid.astype(int), nlambda=int(nlambda),
                        lambda_min_ratio=float(ratio), standardize=bool(standardize), thresh=float(tol),
                        maxit=int(max_iter))
    beta = np.asarray(out["beta"], dtype=float).reshape(X.shape[1], -1)
    return {"lambda": np.atleast_1d(np.asarray(out["lambda"], float)), "cvm": np.atleast_1d(np.asarray(out["cvm"], float)),
            "cvsd": np.atleast_1d(np.asarray(out["cvsd"], float)), "a0": np.atleast_1d(np.asarray(out["a0"], float)),
            "beta": beta, "dev_ratio": np.atleast_1d(np.asarray(out["dev_ratio"], float)),
            "null_dev": float(out["null_dev"])}


# --------------------------------------------------------------------------- public API
def make_foldid(y: Any, cv: int = 10, seed: int | None = 0) -> np.ndarray:
    """Stratified fold labels 1..cv (the ``foldid`` both engines use, so they see the same folds)."""
    y = np.asarray(y)
    if not isinstance(cv, (int, np.integer)) or cv < 3:
        raise InputError(f"cv must be an integer >= 3 (cv.glmnet's minimum), got {cv!r}")
    counts = np.unique(y, return_counts=True)[1]
    if counts.min() < cv:
        raise InputError(
            f"the smaller outcome class has {counts.min()} patients, fewer than cv={cv} folds; lower cv"
        )
    foldid = np.empty(len(y), dtype=int)
    splitter = StratifiedKFold(n_splits=int(cv), shuffle=True, random_state=seed)
    for k, (_, test) in enumerate(splitter.split(np.zeros(len(y)), y)):
        foldid[test] = k + 1
    return foldid


@dataclass(frozen=True, repr=False)
class LassoCVResult(Result):
    """Cross-validated LASSO-logistic path (what ``cv.glmnet`` returns)."""

    lambdas: np.ndarray
    cvm: np.ndarray
    cvsd: np.ndarray
    nzero: np.ndarray
    intercepts: np.ndarray
    coef: pd.DataFrame  # features x lambdas, original scale
    dev_ratio: np.ndarray
    null_deviance: float
    lambda_min: float
    lambda_1se: float
    index_min: int
    index_1se: int
    foldid: np.ndarray
    n: int
    n_events: int
    engine: str
    method: str = "LASSO logistic (glmnet rules), CV binomial deviance"

    def to_frame(self) -> pd.DataFrame:
        """One row per lambda: lambda, CV deviance +- SE, non-zero count, deviance ratio."""
        frame = pd.DataFrame({
            "lambda": self.lambdas, "log_lambda": np.log(self.lambdas), "cvm": self.cvm, "cvsd": self.cvsd,
            "cvup": self.cvm + self.cvsd, "cvlo": self.cvm - self.cvsd, "nzero": self.nzero,
            "dev_ratio": self.dev_ratio,
        })
        frame["rule"] = ""
        frame.loc[self.index_min, "rule"] = "min"
        frame.loc[self.index_1se, "rule"] = ("1se" if self.index_1se != self.index_min else "min,1se")
        return frame

    def selected(self, lambda_rule: str = "1se") -> pd.Series:
        """Non-zero coefficients (original scale) at ``lambda.min`` or ``lambda.1se``."""
        idx = {"min": self.index_min, "1se": self.index_1se}.get(lambda_rule)
        if idx is None:
            raise InputError(f"lambda_rule must be 'min' or '1se', got {lambda_rule!r}")
        col = self.coef.iloc[:, idx]
        return col[col != 0.0]

    def plot(self, ax: Any = None) -> Any:
        """CV deviance against log(lambda) with +-1 SE bars and both chosen lambdas (as plot.cv.glmnet)."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.5))
        loglam = np.log(self.lambdas)
        ax.errorbar(loglam, self.cvm, yerr=self.cvsd, fmt="o", ms=3, color="tab:red", ecolor="0.6", capsize=2)
        ax.axvline(np.log(self.lambda_min), ls="--", color="0.3", lw=0.8)
        ax.axvline(np.log(self.lambda_1se), ls=":", color="0.3", lw=0.8)
        ax.set_xlabel("log(lambda)")
        ax.set_ylabel("binomial deviance (CV)")
        ax.set_title(f"{self.n} patients, {self.coef.shape[0]} features ({self.engine})")
        return ax


def lasso_cv(X: Any, y: Any, cv: int = 10, foldid: Any = None, nlambda: int = 100,
             lambda_min_ratio: float | None = None, standardize: bool = True, tol: float | None = None,
             max_iter: int | None = None, seed: int | None = 0, engine: str | None = None,
             event: Any = None) -> LassoCVResult:
    r"""Cross-validated LASSO logistic regression (``glmnet::cv.glmnet``, binomial, alpha = 1).

    Minimises :math:`-\frac1n \sum_i [y_i\eta_i - \log(1+e^{\eta_i})] + \lambda \sum_j |\beta_j|`
    with :math:`\eta_i = \beta_0 + x_i^\top\beta` on standardised features, along glmnet's
    lambda path, and picks ``lambda.min`` / ``lambda.1se`` from the K-fold binomial deviance
    (Friedman, Hastie & Tibshirani, J Stat Softw 2010;33:1-22).

    Parameters
    ----------
    X : DataFrame or 2-D array (patients x features), numeric, no missing values.
    y : binary outcome: 0/1, bool, an ordered Categorical or a data-dictionary variable; other
        labels need ``event=`` (the label coded 1; never guessed by sorting).
    cv : number of folds when ``foldid`` is not given (stratified, seeded by ``seed``).
    foldid : fold label per patient (1..K); both engines use exactly these folds.
    nlambda, lambda_min_ratio, standardize : as glmnet (ratio None -> 0.01 if n < p else 1e-4).
    tol : convergence tolerance. Python: largest violation of the KKT conditions of the
        standardised problem, ``|z_j'(y - p)/n - lambda sign(b_j)|`` (default 1e-10). R: glmnet's
        ``thresh`` (default 1e-7, glmnet's own default).
    max_iter : Python: Newton steps per lambda (default 100); R: glmnet's ``maxit`` (1e5).
    engine : ``"python"``, ``"r"`` (glmnet via r/glmnet.R) or None (package default).

    Returns
    -------
    LassoCVResult

    Examples
    --------
    >>> res_py = lasso_cv(X, y, foldid=folds, engine="python")            # doctest: +SKIP
    >>> res_r = lasso_cv(X, y, foldid=folds, engine="r", tol=1e-12)       # doctest: +SKIP
    >>> np.allclose(res_py.lambdas, res_r.lambdas)   # same path; same selected set  # doctest: +SKIP
    True
    """
    eng = _engine.resolve_engine(engine)
    frame = as_feature_frame(X)
    yv = as_binary_outcome(y, len(frame), event=event, index=X.index if isinstance(X, pd.DataFrame) else None)
    n, p = frame.shape
    if foldid is None:
        foldid = make_foldid(yv, cv, seed)
    else:
        foldid = np.asarray(foldid)
        if len(foldid) != n:
            raise InputError(f"foldid has {len(foldid)} labels but X has {n} rows")
        if pd.isna(foldid).any():
            raise InputError("foldid has missing labels")
        uniq = np.unique(foldid)
        if len(uniq) < 3:
            raise InputError(f"foldid must define at least 3 folds (cv.glmnet's minimum), got {len(uniq)}")
        # relabel to 1..K in sorted order (R needs consecutive integers)
        foldid = np.searchsorted(uniq, foldid) + 1
    if not isinstance(nlambda, (int, np.integer)) or nlambda < 2:
        raise InputError(f"nlambda must be an integer >= 2, got {nlambda!r}")
    ratio = (0.01 if n < p else 1e-4) if lambda_min_ratio is None else float(lambda_min_ratio)
    if not 0.0 < ratio < 1.0:
        raise InputError(f"lambda_min_ratio must be in (0, 1), got {lambda_min_ratio!r}")
    Xv = frame.to_numpy()
    if eng == "python":
        from threadpoolctl import threadpool_limits

        # thousands of small (<= a few hundred) linear solves: BLAS threads only add
        # synchronisation (measured 7x slower with 2 OpenBLAS threads on a busy 2-core machine)
        with threadpool_limits(limits=1, user_api="blas"):
            out = _python_lasso_cv(Xv, yv, foldid, int(nlambda), ratio, bool(standardize),
                                   1e-10 if tol is None else float(tol), 100 if max_iter is None else int(max_iter))
    else:
        out = _r_lasso_cv(Xv, yv, foldid, int(nlambda), ratio, bool(standardize),
                          1e-7 if tol is None else float(tol), 100_000 if max_iter is None else int(max_iter))
    nl = len(out["cvm"])  # cv.glmnet drops lambdas whose CV SE is undefined
    lambdas = out["lambda"][:nl]
    beta = out["beta"][:, :nl]
    idmin, id1se = _choose_lambdas(lambdas, out["cvm"], out["cvsd"])
    coef = pd.DataFrame(beta, index=list(frame.columns), columns=[f"s{k}" for k in range(nl)])
    return LassoCVResult(
        lambdas=lambdas, cvm=out["cvm"], cvsd=out["cvsd"], nzero=(beta != 0).sum(axis=0),
        intercepts=out["a0"][:nl], coef=coef, dev_ratio=out["dev_ratio"][:nl], null_deviance=out["null_dev"],
        lambda_min=float(lambdas[idmin]), lambda_1se=float(lambdas[id1se]), index_min=idmin, index_1se=id1se,
        foldid=foldid, n=n, n_events=int(yv.sum()), engine=eng,
    )


class LassoSelector(FeatureSelector):
    """Keep the features with non-zero LASSO-logistic coefficients at ``lambda.min`` or ``lambda.1se``.

    Fits :func:`lasso_cv` on the training data only (inner K-fold CV on the training rows), so in a
    Pipeline evaluated by an outer CV the selection never sees test patients. Seed 000/002/003 use
    this step after ICC / univariate / correlation filtering.

    Parameters
    ----------
    cv : inner folds (stratified, seeded by ``seed``).
    lambda_rule : ``"1se"`` (sparser, glmnet's recommendation) or ``"min"``.
    engine : ``"python"``, ``"r"`` (glmnet) or None (package default); both engines see the same
        fold assignment and select the same features (tests/test_selection_lasso.py).
    nlambda, lambda_min_ratio, standardize, tol, max_iter : passed to :func:`lasso_cv`.
    seed : fold assignment seed.
    event : the outcome label coded 1 when ``y`` holds labels (see :func:`lasso_cv`).

    Attributes
    ----------
    cv_result_ : LassoCVResult of the fit.
    coef_ : Series of the selected features' coefficients (original scale) at the chosen lambda.
    support_ : boolean mask over the input columns.
    report_ : per-feature DataFrame (coefficient, kept).

    Notes
    -----
    When no feature has a non-zero coefficient at the chosen lambda (common on noise with
    ``"1se"``), the selector keeps zero columns; :class:`her2stats.models.DeepScore` then falls back
    to the intercept-only model (constant score). ``n_selected_`` records the count.
    """

    def __init__(self, cv: int = 10, lambda_rule: str = "1se", engine: str | None = None, nlambda: int = 100,
                 lambda_min_ratio: float | None = None, standardize: bool = True, tol: float | None = None,
                 max_iter: int | None = None, seed: int | None = 0, event: Any = None):
        self.event = event
        self.cv = cv
        self.lambda_rule = lambda_rule
        self.engine = engine
        self.nlambda = nlambda
        self.lambda_min_ratio = lambda_min_ratio
        self.standardize = standardize
        self.tol = tol
        self.max_iter = max_iter
        self.seed = seed

    def fit(self, X: Any, y: Any = None) -> "LassoSelector":
        if self.lambda_rule not in ("min", "1se"):
            raise InputError(f"lambda_rule must be 'min' or '1se', got {self.lambda_rule!r}")
        frame = self._frame(X)
        self._set_input(frame)
        if isinstance(y, pd.Series) and not isinstance(X, pd.DataFrame):
            y = y.reset_index(drop=True)  # an array X has no index: y pairs with it by position
        res = lasso_cv(frame, y, cv=self.cv, nlambda=self.nlambda, lambda_min_ratio=self.lambda_min_ratio,
                       standardize=self.standardize, tol=self.tol, max_iter=self.max_iter, seed=self.seed,
                       engine=self.engine, event=self.event)
        idx = res.index_min if self.lambda_rule == "min" else res.index_1se
        coef = res.coef.iloc[:, idx].to_numpy()
        self.cv_result_ = res
        self.lambda_ = float(res.lambdas[idx])
        self.support_ = coef != 0.0
        self.coef_ = pd.Series(coef[self.support_], index=list(frame.columns[self.support_]), name="coef")
        self.n_selected_ = int(self.support_.sum())
        self.report_ = pd.DataFrame({"feature": list(frame.columns), "coef": coef, "kept": self.support_})
        return self
