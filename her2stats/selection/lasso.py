"""LASSO logistic regression with glmnet's path and cross-validation rules.

The Python engine re-implements what ``glmnet::cv.glmnet(family = "binomial", alpha = 1)`` does,
so that the two engines select the same features on the same fold assignment:

* features standardised with the population SD (divisor n), intercept unpenalised;
* objective ``-(1/n) * loglik(b0, b) + lambda * ||b||_1``;
* lambda path ``lambda_max * alf^k`` (repeated multiplication, ``alf = max(1e-6, ratio)^(1/(nlambda-1))``,
  the first value reported as ``exp(2 log lambda_2 - log lambda_3)`` as glmnet's ``fix.lam`` does),
  ``lambda_max = max_j |z_j' (y - ybar)| / n``, ``ratio = 0.01`` when n < p else ``1e-4``; the
  path stops early as glmnet's does (from the 5th lambda on, when the deviance ratio gains
  < 1e-5 or exceeds 0.999);
* each fold is fitted on its own (early-stopped) lambda path and its coefficients are linearly
  interpolated at the full-data lambdas (cv.glmnet's ``alignment = "lambda"``); the CV error is
  the binomial deviance with probabilities clipped to [1e-5, 1 - 1e-5], averaged within folds
  and then across folds weighted by fold size; ``cvsd = sqrt(weighted var of fold means / (K - 1))``;
* ``lambda.min`` is the largest lambda attaining the minimum CV deviance, ``lambda.1se`` the
  largest lambda whose CV deviance is within one SE of that minimum.

The solver (:func:`._lasso_cd.lognet_path`, compiled) is glmnet's ``lognet`` itself (two classes,
Newton): the same lambdas, strong rule, coordinate-descent passes (strong set, then the ever-active
set, in the same order), the same convergence tests -- a pass ends the coordinate descent when no
update moved the objective by ``xv_j d_j^2 >= thresh * dev0``, a Newton step ends the loop when no
coefficient moved by that much over the whole step, then the KKT check outside the strong set --
and the same early stop of the path. Its iterates are therefore glmnet's up to floating-point
rounding (dot products summed in a different order): on the test data the two engines agree to
~1e-13 in coefficients and CV deviance and make the same number of passes. ``tol`` is glmnet's
``thresh`` (default 1e-7) on both engines. ``kkt_tol`` (Python only) re-solves the same path until
every KKT condition holds to ``kkt_tol`` (a certified optimum). Up to lambda.min the two agree
within glmnet's stopping resolution; on the flat tail of the path (large coefficients, near
separation) glmnet's thresh-accurate answer can be ~0.1 away from the optimum in coefficients
(measured on BinomialExample and simulated designs), while the selected sets agree.

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
_PMIN = 1e-9      # probabilities clipped to [pmin, 1 - pmin] (pmin)
_EPS = 1e-6       # smallest lambda ratio (eps)
_BIG = 9.9e35     # the 'infinite' first lambda (big)
_W_MIN = _PMIN    # KKT-precise solver: floor on IRLS weights p(1-p)
_NEWTON_MAX = 100  # KKT-precise solver: Newton steps per lambda
_THRESH = 1e-7    # glmnet's default thresh
_MAXIT = 100_000  # glmnet's default maxit


# --------------------------------------------------------------------------- solver
_BLAS: list[Any] = []


def _blas_controller() -> Any:
    """One threadpoolctl controller per process (building one scans the loaded libraries: ~1-3 ms,
    a few percent of a small lasso_cv)."""
    if not _BLAS:
        from threadpoolctl import ThreadpoolController

        _BLAS.append(ThreadpoolController())
    return _BLAS[0]


def _fix_first(lam: np.ndarray) -> np.ndarray:
    """glmnet's ``fix.lam``: the first lambda (fitted as 'infinite') reported as
    ``exp(2 log lambda_2 - log lambda_3)``."""
    lam = np.array(lam, dtype=float)
    if len(lam) > 2:
        lam[0] = np.exp(2.0 * np.log(lam[1]) - np.log(lam[2]))
    return lam


def _fit_path(Zt: np.ndarray, y: np.ndarray, nlambda: int, ratio: float, *, tol: float, kkt_tol: float | None,
              max_iter: int) -> dict[str, Any]:
    """LASSO-logistic path on standardised features ``Zt`` (features x patients, C order; rows of
    zeros never enter).

    Default: glmnet's own algorithm, convergence rule (``thresh = tol``) and early stop of the path,
    by the compiled :func:`._lasso_cd.lognet_path`. With ``kkt_tol``: the lambdas of that same path
    (same values, same length) re-solved until every KKT condition holds to ``kkt_tol``
    (:func:`._lasso_cd.lasso_logistic_path`); the path length stays glmnet's because its stopping
    rule (deviance-ratio gain < 1e-5) reads deviances computed at glmnet's precision."""
    from . import _lasso_cd

    yf = np.ascontiguousarray(y, dtype=float)
    ju = np.any(Zt != 0.0, axis=1)   # constant columns (standardised to zeros) never enter, as glmnet's ju
    stats = np.zeros((nlambda, 6), dtype=np.int64)
    a0, beta, dev_ratio, alm, null_dev, n_fit, _, status = _lasso_cd.lognet_path(
        Zt, yf, ju, int(nlambda), float(ratio), float(tol), int(max_iter), _MNLAM, _FDEV, _DEVMAX, _EPS,
        _PMIN, _BIG, stats)
    if status != 0:
        raise ConvergenceError(
            f"LASSO coordinate descent used its {max_iter} passes (max_iter, glmnet's maxit) before "
            f"converging at lambda index {n_fit + 1} of the path; raise max_iter or shorten the path "
            "(lambda_min_ratio)")
    lambdas = _fix_first(alm[:n_fit])
    if kkt_tol is None:
        return {"lambda": lambdas, "a0": a0[:n_fit].copy(), "beta": np.ascontiguousarray(beta[:n_fit].T),
                "dev_ratio": dev_ratio[:n_fit].copy(), "null_dev": float(null_dev)}
    a0, beta, dev_ratio, null_dev, n_fit, status, at = _lasso_cd.lasso_logistic_path(
        Zt, yf, lambdas, float(kkt_tol), _NEWTON_MAX, False, _FDEV, _DEVMAX, _MNLAM, _W_MIN, 64, int(max_iter),
        np.zeros((len(lambdas), 4), dtype=np.int64))
    if status == 1:
        raise ConvergenceError(
            f"LASSO logistic fit did not converge in {_NEWTON_MAX} Newton steps at lambda={lambdas[at]:.4g} "
            "(near-complete separation?); shorten the path (lambda_min_ratio) or drop kkt_tol")
    if status == 2:
        raise ConvergenceError(f"LASSO coordinate descent did not converge at lambda={lambdas[at]:.4g} in "
                               f"{max_iter} passes; raise max_iter or kkt_tol")
    return {"lambda": lambdas, "a0": a0.copy(), "beta": np.ascontiguousarray(beta.T), "dev_ratio": dev_ratio.copy(),
            "null_dev": float(null_dev)}


def _standardise(Xt: np.ndarray, standardize: bool, owned: bool = False
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features x patients ``Xt`` centred (and, with ``standardize``, scaled by the population SD),
    C-ordered, one contiguous row per feature (the solver's layout): in place when ``owned`` (a
    copy the caller made), else in a new array; a constant feature (all values equal, glmnet's
    ``chkvars`` test) becomes zeros and never enters."""
    if owned and Xt.flags.c_contiguous and Xt.dtype == np.float64:
        Zt = Xt
    else:
        Zt = np.array(Xt, dtype=float, order="C")
    const = np.all(Zt == Zt[:, :1], axis=1)
    mu = Zt.mean(axis=1)
    Zt -= mu[:, None]
    if standardize:
        sd = np.sqrt(np.einsum("ij,ij->i", Zt, Zt) / Zt.shape[1])
        scale = np.where(const | (sd <= 0), 1.0, sd)
        Zt /= scale[:, None]
    else:
        scale = np.ones(Zt.shape[0])
    Zt[const] = 0.0
    return Zt, mu, scale


def _check_start(Zt: np.ndarray, y: np.ndarray) -> None:
    if not np.any(Zt @ (y - y.mean())):
        raise InputError("no feature varies with the outcome (all columns constant?); LASSO cannot start")


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
                     standardize: bool, tol: float, kkt_tol: float | None, max_iter: int) -> dict[str, Any]:
    Xt = np.ascontiguousarray(X.T)   # features x patients, C order: fold rows are then cheap gathers
    Zt, mu, scale = _standardise(Xt, standardize)
    _check_start(Zt, y)
    full = _fit_path(Zt, y, nlambda, ratio, tol=tol, kkt_tol=kkt_tol, max_iter=max_iter)
    del Zt
    lambdas = full["lambda"]
    folds = np.unique(foldid)
    fold_means = np.empty((len(folds), len(lambdas)))
    fold_weights = np.empty(len(folds))
    for i, f in enumerate(folds):
        test = foldid == f
        Zf, muf, scalef = _standardise(np.compress(~test, Xt, axis=1), standardize, owned=True)
        _check_start(Zf, y[~test])
        # cv.glmnet (alignment = "lambda") fits each fold on its own lambda path and predicts at the
        # full-data lambdas by linear interpolation of the coefficients (predict.glmnet, s = lambda)
        path = _fit_path(Zf, y[~test], nlambda, ratio, tol=tol, kkt_tol=kkt_tol, max_iter=max_iter)
        b_orig = path["beta"] / scalef[:, None]
        a_orig = path["a0"] - muf @ b_orig
        a_at, b_at = _interpolate_path(path["lambda"], a_orig, b_orig, lambdas)
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
             event: Any = None, kkt_tol: float | None = None) -> LassoCVResult:
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
    nlambda, lambda_min_ratio, standardize : as glmnet (ratio None -> 0.01 if n < p else 1e-4;
        ratios below 1e-6 act as 1e-6, as in glmnet).
    tol : glmnet's ``thresh`` on both engines (default 1e-7, glmnet's): coordinate descent stops
        when no coefficient update in a pass lowers the objective by ``xv_j d_j^2 >= tol * dev0``
        (``dev0`` = null deviance / 2n, ``xv_j`` the coordinate's weighted variance), and the
        Newton loop when no coefficient moved by that much over a whole step. The Python engine
        runs glmnet's algorithm itself, so its answers are glmnet's to rounding, not only to
        ``tol``.
    max_iter : glmnet's ``maxit``: coordinate-descent passes over the whole path (default 1e5).
    engine : ``"python"``, ``"r"`` (glmnet via r/glmnet.R) or None (package default).
    kkt_tol : Python engine only: solve every lambda of the (same) path until each KKT condition of
        the standardised problem holds to ``kkt_tol`` -- ``|z_j'(y - p)/n - lambda sign(b_j)|`` for
        non-zero, ``|z_j'(y - p)/n| - lambda`` for zero coefficients, ``|mean(y - p)|`` -- a
        certified optimum (e.g. 1e-10) instead of glmnet's ``thresh``-accurate one; slower.

    Returns
    -------
    LassoCVResult

    Examples
    --------
    >>> res_py = lasso_cv(X, y, foldid=folds, engine="python")            # doctest: +SKIP
    >>> res_r = lasso_cv(X, y, foldid=folds, engine="r")                  # doctest: +SKIP
    >>> np.allclose(res_py.lambdas, res_r.lambdas)   # same path; same selected set  # doctest: +SKIP
    True
    >>> exact = lasso_cv(X, y, foldid=folds, engine="python", kkt_tol=1e-10)  # doctest: +SKIP
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
    tol = _THRESH if tol is None else tol
    if isinstance(tol, bool) or not isinstance(tol, (int, float, np.number)) or not 0.0 < float(tol) < 1.0:
        raise InputError(f"tol (glmnet's thresh) must be a number in (0, 1), got {tol!r}")
    max_iter = _MAXIT if max_iter is None else max_iter
    if not isinstance(max_iter, (int, np.integer)) or isinstance(max_iter, bool) or max_iter < 1:
        raise InputError(f"max_iter (glmnet's maxit, passes over the path) must be a positive integer, got {max_iter!r}")
    if kkt_tol is not None:
        if eng != "python":
            raise InputError("kkt_tol is the Python engine's KKT-certified mode; glmnet (engine='r') stops by "
                             "its thresh only: pass tol, or engine='python' with kkt_tol")
        if isinstance(kkt_tol, bool) or not isinstance(kkt_tol, (int, float, np.number)) or not float(kkt_tol) > 0.0:
            raise InputError(f"kkt_tol must be a positive number, got {kkt_tol!r}")
        kkt_tol = float(kkt_tol)
    Xv = frame.to_numpy(dtype=float)
    if eng == "python":
        # single-threaded like glmnet (the fold predictions and the KKT-precise solver's small
        # solves only lose to BLAS threads: measured 7x slower with 2 OpenBLAS threads on a busy
        # 2-core machine)
        with _blas_controller().limit(limits=1, user_api="blas"):
            out = _python_lasso_cv(Xv, yv, foldid, int(nlambda), ratio, bool(standardize), float(tol), kkt_tol,
                                   int(max_iter))
    else:
        out = _r_lasso_cv(Xv, yv, foldid, int(nlambda), ratio, bool(standardize), float(tol), int(max_iter))
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
        method=("LASSO logistic (glmnet rules), CV binomial deviance" if kkt_tol is None else
                f"LASSO logistic (glmnet path, KKT conditions to {kkt_tol:g}), CV binomial deviance"),
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
    nlambda, lambda_min_ratio, standardize, tol, max_iter, kkt_tol : passed to :func:`lasso_cv`.
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
                 max_iter: int | None = None, seed: int | None = 0, event: Any = None,
                 kkt_tol: float | None = None):
        self.event = event
        self.kkt_tol = kkt_tol
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
                       engine=self.engine, event=self.event, kkt_tol=self.kkt_tol)
        idx = res.index_min if self.lambda_rule == "min" else res.index_1se
        coef = res.coef.iloc[:, idx].to_numpy()
        self.cv_result_ = res
        self.lambda_ = float(res.lambdas[idx])
        self.support_ = coef != 0.0
        self.coef_ = pd.Series(coef[self.support_], index=list(frame.columns[self.support_]), name="coef")
        self.n_selected_ = int(self.support_.sum())
        self.report_ = pd.DataFrame({"feature": list(frame.columns), "coef": coef, "kept": self.support_})
        return self
