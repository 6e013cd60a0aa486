"""The numerical engine of multiple imputation by chained equations (Python engine of
:mod:`her2stats.stats.imputation`).

The univariate methods follow R's ``mice`` 3.15 (van Buuren & Groothuis-Oudshoorn 2011), so that
the two engines draw from the same distributions (their random streams differ):

* ``pmm`` -- predictive mean matching (``mice.impute.pmm``, ``matchtype = 1``): a Bayesian linear
  regression of the variable on the predictors over the rows where it is observed
  (``.norm.draw``: least squares by QR, ``sigma* = sqrt(RSS / chi2(n - p))``,
  ``beta* = beta_hat + sigma* L z`` with ``L L' = (X'X)^-1``); the predicted means of the observed
  rows under ``beta_hat`` and of the rows to impute under ``beta*`` are matched, and each missing
  value takes the observed value of one of its ``donors`` (5) nearest observed rows, drawn at
  random (ties broken at random).
* ``norm`` -- Bayesian linear regression: ``x beta* + sigma* e``.
* ``logreg`` -- logistic regression on the observed rows augmented with White, Daniel & Royston's
  (2010) pseudo-observations (``mice:::augment``: at each predictor's mean +/- SD/2, one per
  category, total weight ``(p + 1)``), ``beta* = beta_hat + L z`` with ``L L'`` the inverse
  information; the value is 1 when ``u <= expit(x beta*)``.
* ``polyreg`` -- multinomial logistic regression (``nnet::multinom`` in mice) on the augmented
  rows; ``polr`` -- proportional-odds model (``MASS::polr`` in mice), falling back to ``polyreg``
  when it fails, as mice does. The category is drawn from the predicted probabilities with one
  uniform number per row (``1 + sum(u > cumsum(p))``). Unlike mice, whose ``polyreg`` and
  ``polr`` impute from the maximum-likelihood fit, the parameters are first drawn from their
  normal approximation ``N(theta_hat, I(theta_hat)^-1)``, as ``logreg`` does, so every method is
  a proper imputation in Rubin's sense (the difference shrinks with the number of observed rows).

Before each fit, predictors that are (nearly) constant, correlate >= 0.99 with the variable or are
(nearly) linearly dependent are left out, as ``mice:::remove.lindep`` does (with the correlation
matrix recomputed after each removal; mice 3.15 reuses the first one).

References
----------
van Buuren S, Groothuis-Oudshoorn K. mice: Multivariate Imputation by Chained Equations in R.
J Stat Softw 2011;45(3). van Buuren S. Flexible Imputation of Missing Data, 2nd ed. CRC 2018
(sec. 3.4 predictive mean matching, 3.6 categorical data). White IR, Daniel R, Royston P.
Avoiding bias due to perfect prediction in multiple imputation of incomplete categorical
variables. Comput Stat Data Anal 2010;54:2267-2275.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._core import expit

__all__ = ["VarSpec", "design", "design_labels", "remove_lindep", "augment", "impute_pmm", "impute_norm",
           "impute_logreg",
           "impute_polyreg", "impute_polr", "impute_one", "run_chain", "run_new_rows", "METHODS"]

#: the univariate methods and the variable kinds each may impute
METHODS = {
    "pmm": ("numeric",),
    "norm": ("numeric",),
    "logreg": ("binary",),
    "polyreg": ("binary", "categorical", "ordered"),
    "polr": ("ordered",),
}


@dataclass(frozen=True)
class VarSpec:
    """One variable of the imputation: how it is coded and imputed.

    ``kind``: ``numeric`` (values), ``binary`` / ``categorical`` / ``ordered`` (codes ``0..K-1``
    into ``levels``) or ``constant`` (one observed value: imputed by it, no model).
    """

    name: str
    kind: str
    levels: tuple = ()
    method: str = ""
    restore: dict = field(default_factory=dict, compare=False)

    @property
    def n_columns(self) -> int:
        """Columns this variable takes in a design matrix when it is a predictor."""
        if self.kind in ("numeric", "binary"):
            return 1
        if self.kind in ("categorical", "ordered"):
            return max(len(self.levels) - 1, 0)
        return 0


# --------------------------------------------------------------------------- design
def design(Z: np.ndarray, specs: list[VarSpec], predictors: list[int], outcome: np.ndarray | None = None
           ) -> np.ndarray:
    """Design matrix (without intercept) of the predictor variables ``predictors`` of state ``Z``:
    numeric and binary variables one column each, a K-level categorical K-1 indicator columns
    (reference: the first level); the outcome (0/1) last when given."""
    cols: list[np.ndarray] = []
    for j in predictors:
        s = specs[j]
        z = Z[:, j]
        if s.kind in ("numeric", "binary"):
            cols.append(z[:, None])
        elif s.kind in ("categorical", "ordered"):
            K = len(s.levels)
            if K > 1:
                cols.append((z[:, None] == np.arange(1, K)[None, :]).astype(float))
    if outcome is not None:
        cols.append(np.asarray(outcome, float)[:, None])
    if not cols:
        return np.zeros((Z.shape[0], 0))
    return np.hstack(cols)


def design_labels(specs: list[VarSpec], predictors: list[int], outcome: bool = False) -> list[str]:
    """Names of the columns of :func:`design` (``grade=3`` for a level's indicator)."""
    out: list[str] = []
    for j in predictors:
        s = specs[j]
        if s.kind in ("numeric", "binary"):
            out.append(s.name)
        elif s.kind in ("categorical", "ordered"):
            out += [f"{s.name}={lev}" for lev in s.levels[1:]]
    return out + (["the outcome"] if outcome else [])


def remove_lindep(X: np.ndarray, y: np.ndarray, eps: float = 1e-4, maxcor: float = 0.99) -> np.ndarray:
    """Which predictor columns to keep (``mice:::remove.lindep``) on the fitting rows ``X``, ``y``.

    None when ``var(y) < eps``; columns with variance <= ``eps`` or correlation with ``y`` >= ``maxcor``
    are dropped; then, while the smallest eigenvalue of the predictors' correlation matrix is below
    ``eps`` times the largest, the column loading most on the smallest eigenvector is dropped.
    """
    q = X.shape[1]
    if q == 0:
        return np.zeros(0, dtype=bool)
    if len(y) < 2 or np.var(y, ddof=1) < eps:
        return np.zeros(q, dtype=bool)
    var = np.var(X, axis=0, ddof=1)
    keep = var > eps
    if keep.any():
        Xc = X[:, keep] - X[:, keep].mean(0)
        yc = y - y.mean()
        with np.errstate(invalid="ignore", divide="ignore"):
            cor = (Xc * yc[:, None]).sum(0) / np.sqrt((Xc ** 2).sum(0) * (yc ** 2).sum())
        hi = ~(cor < maxcor)
        idx = np.flatnonzero(keep)
        keep[idx[hi]] = False
    while keep.sum() > 1:
        idx = np.flatnonzero(keep)
        with np.errstate(invalid="ignore", divide="ignore"):
            cx = np.corrcoef(X[:, idx], rowvar=False)
        vals, vecs = np.linalg.eigh(cx)
        if vals[0] / vals[-1] >= eps:
            break
        keep[idx[int(np.argmax(np.abs(vecs[:, 0])))]] = False
    return keep


def augment(x: np.ndarray, categories: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pseudo-observations of ``mice:::augment`` (White, Daniel & Royston 2010).

    For each of the ``p`` predictors and each of the ``k`` categories, two rows at the predictors'
    means with that predictor moved by +/- SD/2 (within its range), each with weight
    ``(p + 1) / (2 p k)``. ``x`` holds the rows the statistics are taken over (the development
    rows). Returns (x_aug, y_aug, w_aug) -- the extra rows only.
    """
    p = x.shape[1]
    k = len(categories)
    if p == 0 or k == 0:
        return np.zeros((0, p)), np.zeros(0), np.zeros(0)
    mean = x.mean(0)
    sd = x.std(0, ddof=1) if len(x) > 1 else np.zeros(p)
    nr = 2 * p * k
    d = np.tile(mean, (nr, 1))
    sign = np.tile([0.5, -0.5], k)
    for j in range(p):
        d[2 * k * j: 2 * k * (j + 1), j] += sign * sd[j]
    d = np.minimum(np.maximum(d, x.min(0)), x.max(0))
    e = np.tile(np.repeat(categories, 2), p).astype(float)
    return d, e, np.full(nr, (p + 1) / nr)


# --------------------------------------------------------------------------- linear (pmm, norm)
def _sym(a: np.ndarray) -> np.ndarray:
    return (a + a.T) / 2


def _chol_lower(v: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.cholesky(_sym(v))
    except np.linalg.LinAlgError:
        w, U = np.linalg.eigh(_sym(v))
        return U * np.sqrt(np.clip(w, 0, None))


def norm_fit(y: np.ndarray, X1: np.ndarray, ridge: float = 1e-5) -> tuple[np.ndarray, np.ndarray, float, int]:
    """Least squares of ``y`` on ``X1`` (with intercept): (coef, (X'X)^-1, RSS, df) as
    ``mice:::estimice`` (a ridge ``ridge * diag(X'X)`` only when X'X is singular). Solved through
    the Cholesky factor of X'X (the same numbers as mice's QR for the well-conditioned designs left
    by :func:`remove_lindep`, and much faster on a busy machine than LAPACK's QR)."""
    n, p = X1.shape
    df = max(n - p, 1)
    xtx = X1.T @ X1
    xty = X1.T @ y
    try:
        d = np.abs(np.diag(np.linalg.cholesky(xtx)))
        if d.min() <= 1e-7 * d.max():
            raise np.linalg.LinAlgError("nearly singular")
        v = np.linalg.inv(xtx)
        coef = v @ xty
    except np.linalg.LinAlgError:  # (nearly) collinear: mice applies a ridge penalty
        v = np.linalg.pinv(xtx + np.diag(ridge * np.diag(xtx)))
        coef = v @ xty
    resid = y - X1 @ coef
    return coef, v, float(resid @ resid), df


def norm_draw(fit: tuple, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """(beta*, sigma*) of ``mice:::.norm.draw``: sigma* = sqrt(RSS / chi2(df)), beta* = coef + sigma* L z."""
    coef, v, rss, df = fit
    sigma = float(np.sqrt(rss / rng.chisquare(df)))
    beta = coef + (_chol_lower(v) @ rng.standard_normal(len(coef))) * sigma
    return beta, sigma


def match_donors(yhat_obs: np.ndarray, yhat_mis: np.ndarray, donors: int, rng: np.random.Generator) -> np.ndarray:
    """For each target, the index of one of its ``donors`` nearest observed rows, drawn at random
    (``mice:::matchindex``: the donors are shuffled before sorting, so ties are broken at random)."""
    n1 = len(yhat_obs)
    n0 = len(yhat_mis)
    k = int(min(max(donors, 1), n1))
    perm = rng.permutation(n1)
    order = perm[np.argsort(yhat_obs[perm], kind="stable")]
    ys = yhat_obs[order]
    width = min(2 * k, n1)
    pos = np.searchsorted(ys, yhat_mis)
    start = np.clip(pos - k, 0, n1 - width)
    win = start[:, None] + np.arange(width)[None, :]
    dist = np.abs(ys[win] - yhat_mis[:, None])
    nearest = np.argsort(dist, axis=1, kind="stable")[:, :k]
    pick = nearest[np.arange(n0), rng.integers(0, k, size=n0)]
    return order[win[np.arange(n0), pick]]


def impute_pmm(y_obs: np.ndarray, X_obs: np.ndarray, X_mis: np.ndarray, rng: np.random.Generator,
               donors: int = 5, fit: tuple | None = None) -> np.ndarray:
    """Predictive mean matching (``mice.impute.pmm``, matchtype 1). ``X_*`` without intercept."""
    X1o = np.column_stack([np.ones(len(X_obs)), X_obs])
    X1m = np.column_stack([np.ones(len(X_mis)), X_mis])
    fit = norm_fit(y_obs, X1o) if fit is None else fit
    beta, _ = norm_draw(fit, rng)
    idx = match_donors(X1o @ fit[0], X1m @ beta, donors, rng)
    return y_obs[idx]


def impute_norm(y_obs: np.ndarray, X_obs: np.ndarray, X_mis: np.ndarray, rng: np.random.Generator,
                fit: tuple | None = None) -> np.ndarray:
    """Bayesian linear regression (``mice.impute.norm``)."""
    X1o = np.column_stack([np.ones(len(X_obs)), X_obs])
    X1m = np.column_stack([np.ones(len(X_mis)), X_mis])
    fit = norm_fit(y_obs, X1o) if fit is None else fit
    beta, sigma = norm_draw(fit, rng)
    return X1m @ beta + rng.standard_normal(len(X_mis)) * sigma


# --------------------------------------------------------------------------- categorical
def _halving_step(nll: Any, x: np.ndarray, step: np.ndarray, cur: float) -> tuple[np.ndarray, float]:
    """One damped Newton step: halve the step (at most 30 times) until the negative log-likelihood
    ``nll`` does not rise; returns the new point and the last value evaluated."""
    t = 1.0
    for _h in range(30):
        new = nll(x + t * step)
        if np.isfinite(new) and new <= cur + 1e-12 * abs(cur):
            break
        t /= 2
    return x + t * step, new


def logistic_fit(X1: np.ndarray, y: np.ndarray, w: np.ndarray, maxit: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """Weighted logistic regression by Newton-Raphson with step halving (``glm.fit``'s maximum):
    (beta, inverse information)."""
    p = X1.shape[1]
    beta = np.zeros(p)

    def nll(b):
        eta = X1 @ b
        return float(np.sum(w * (np.logaddexp(0, eta) - y * eta)))

    cur = nll(beta)
    H = np.eye(p)
    for _ in range(maxit):
        mu = expit(X1 @ beta)
        g = X1.T @ (w * (y - mu))
        H = (X1 * (w * mu * (1 - mu))[:, None]).T @ X1
        try:
            step = np.linalg.solve(H + 1e-12 * np.eye(p), g)
        except np.linalg.LinAlgError:
            break
        beta, new = _halving_step(nll, beta, step, cur)
        done = abs(cur - new) / (abs(new) + 0.1) < 1e-10
        cur = new
        if done:
            break
    mu = expit(X1 @ beta)
    H = (X1 * (w * mu * (1 - mu))[:, None]).T @ X1
    return beta, _inverse(H)


def _inverse(H: np.ndarray) -> np.ndarray:
    try:
        np.linalg.cholesky(_sym(H))
        return np.linalg.inv(_sym(H))
    except np.linalg.LinAlgError:
        return np.linalg.pinv(_sym(H))


def _with_augmentation(codes_obs: np.ndarray, x_obs: np.ndarray, x_all: np.ndarray, categories: np.ndarray):
    xa, ya, wa = augment(x_all, categories)
    X = np.vstack([x_obs, xa])
    y = np.concatenate([codes_obs, ya])
    w = np.concatenate([np.ones(len(codes_obs)), wa])
    return X, y, w


def impute_logreg(codes_obs: np.ndarray, X_obs: np.ndarray, X_mis: np.ndarray, X_all: np.ndarray,
                  rng: np.random.Generator, fit: tuple | None = None) -> np.ndarray:
    """Logistic regression imputation of a 0/1 variable (``mice.impute.logreg``, augmented)."""
    if fit is None:
        fit = logreg_fit(codes_obs, X_obs, X_all)
    beta_hat, V = fit
    beta = beta_hat + _chol_lower(V) @ rng.standard_normal(len(beta_hat))
    p = expit(np.column_stack([np.ones(len(X_mis)), X_mis]) @ beta)
    return (rng.random(len(X_mis)) <= p).astype(float)


def logreg_fit(codes_obs: np.ndarray, X_obs: np.ndarray, X_all: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    cats = np.unique(codes_obs)
    X, y, w = _with_augmentation(codes_obs, X_obs, X_all, cats)
    return logistic_fit(np.column_stack([np.ones(len(X)), X]), y, w)


def multinom_fit(X1: np.ndarray, y: np.ndarray, w: np.ndarray, K: int, maxit: int = 100
                 ) -> tuple[np.ndarray, np.ndarray, bool]:
    """Weighted multinomial logistic regression (baseline category 0) by Newton-Raphson:
    (theta flattened as ``(K-1) x p`` blocks, inverse information, converged)."""
    n, p = X1.shape
    K1 = K - 1
    Y = (y[:, None] == np.arange(1, K)[None, :]).astype(float)
    theta = np.zeros(K1 * p)

    def probs(th):
        eta = X1 @ th.reshape(K1, p).T
        top = np.maximum(eta.max(1, keepdims=True), 0)
        ex = np.exp(eta - top)
        den = np.exp(-top) + ex.sum(1, keepdims=True)
        return ex / den, np.log(den) + top[:, 0, None]

    def nll(th):
        eta = X1 @ th.reshape(K1, p).T
        _, lse = probs(th)
        return float(np.sum(w * (lse[:, 0] - (Y * eta).sum(1))))

    cur = nll(theta)
    converged = False
    H = np.eye(K1 * p)
    for _ in range(maxit):
        P, _ = probs(theta)
        g = ((w[:, None] * (Y - P)).T @ X1).reshape(-1)
        H = np.empty((K1 * p, K1 * p))
        for a in range(K1):
            for b in range(a, K1):
                wab = w * P[:, a] * ((1.0 if a == b else 0.0) - P[:, b])
                blk = (X1 * wab[:, None]).T @ X1
                H[a * p:(a + 1) * p, b * p:(b + 1) * p] = blk
                H[b * p:(b + 1) * p, a * p:(a + 1) * p] = blk.T
        try:
            step = np.linalg.solve(H + 1e-10 * np.eye(len(H)), g)
        except np.linalg.LinAlgError:
            break
        theta, new = _halving_step(nll, theta, step, cur)
        done = abs(cur - new) / (abs(new) + 0.1) < 1e-10
        cur = new
        if done:
            converged = True
            break
    P, _ = probs(theta)
    H = np.empty((K1 * p, K1 * p))
    for a in range(K1):
        for b in range(a, K1):
            wab = w * P[:, a] * ((1.0 if a == b else 0.0) - P[:, b])
            blk = (X1 * wab[:, None]).T @ X1
            H[a * p:(a + 1) * p, b * p:(b + 1) * p] = blk
            H[b * p:(b + 1) * p, a * p:(a + 1) * p] = blk.T
    return theta, _inverse(H), converged


def _multinom_probs(X1: np.ndarray, theta: np.ndarray, K: int) -> np.ndarray:
    p = X1.shape[1]
    eta = np.column_stack([np.zeros(len(X1)), X1 @ theta.reshape(K - 1, p).T])
    eta -= eta.max(1, keepdims=True)
    ex = np.exp(eta)
    return ex / ex.sum(1, keepdims=True)


def _draw_category(P: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    u = rng.random(len(P))
    return (u[:, None] > np.cumsum(P, axis=1)).sum(1).clip(0, P.shape[1] - 1)


def polyreg_fit(codes_obs: np.ndarray, X_obs: np.ndarray, X_all: np.ndarray, present: np.ndarray):
    """Fit of ``polyreg`` on the categories ``present`` (re-indexed 0..k-1)."""
    k = len(present)
    lookup = {c: i for i, c in enumerate(present)}
    yk = np.array([lookup[c] for c in codes_obs], dtype=float)
    X, y, w = _with_augmentation(yk, X_obs, X_all, np.arange(k, dtype=float))
    theta, V, _ = multinom_fit(np.column_stack([np.ones(len(X)), X]), y, w, k)
    return theta, V


def impute_polyreg(codes_obs: np.ndarray, X_obs: np.ndarray, X_mis: np.ndarray, X_all: np.ndarray,
                   present: np.ndarray, rng: np.random.Generator, fit: tuple | None = None) -> np.ndarray:
    """Multinomial logistic imputation (``mice.impute.polyreg``) with a parameter draw."""
    if len(present) == 1:
        return np.full(len(X_mis), float(present[0]))
    theta, V = polyreg_fit(codes_obs, X_obs, X_all, present) if fit is None else fit
    th = theta + _chol_lower(V) @ rng.standard_normal(len(theta))
    P = _multinom_probs(np.column_stack([np.ones(len(X_mis)), X_mis]), th, len(present))
    return present[_draw_category(P, rng)].astype(float)


def polr_fit(X: np.ndarray, y: np.ndarray, w: np.ndarray, K: int, maxit: int = 100
             ) -> tuple[np.ndarray, np.ndarray, bool]:
    """Weighted proportional-odds model ``logit P(Y <= k) = zeta_k - x b`` (MASS::polr's
    parametrisation) by Newton-Raphson: (theta = [zeta_1..zeta_{K-1}, b], inverse information,
    converged)."""
    n, p = X.shape
    K1 = K - 1
    yi = y.astype(int)
    cum = np.array([np.sum(w[yi <= k]) for k in range(K1)]) / w.sum()
    cum = np.clip(cum, 1e-4, 1 - 1e-4)
    theta = np.concatenate([np.log(cum / (1 - cum)), np.zeros(p)])
    if np.any(np.diff(theta[:K1]) <= 0):
        theta[:K1] = np.linspace(-1, 1, K1)
    rows = np.arange(n)
    # design of u = zeta_y - eta and l = zeta_{y-1} - eta in theta
    Du = np.zeros((n, K1 + p))
    Dl = np.zeros((n, K1 + p))
    has_u = yi < K1
    has_l = yi > 0
    Du[rows[has_u], yi[has_u]] = 1.0
    Dl[rows[has_l], yi[has_l] - 1] = 1.0
    Du[:, K1:] = -X
    Dl[:, K1:] = -X

    def parts(th):
        zeta, b = th[:K1], th[K1:]
        if K1 > 1 and np.any(np.diff(zeta) <= 0):
            return None
        eta = X @ b
        u = np.where(has_u, zeta[np.minimum(yi, K1 - 1)] - eta, np.inf)
        lo = np.where(has_l, zeta[np.maximum(yi - 1, 0)] - eta, -np.inf)
        Fu = np.where(has_u, expit(u), 1.0)
        Fl = np.where(has_l, expit(lo), 0.0)
        pr = Fu - Fl
        if np.any(pr <= 0):
            return None
        return u, lo, Fu, Fl, pr

    def nll(th):
        pt = parts(th)
        if pt is None:
            return np.inf
        return float(-np.sum(w * np.log(pt[4])))

    def grad_hess(th):
        u, lo, Fu, Fl, pr = parts(th)
        fu = np.where(has_u, Fu * (1 - Fu), 0.0)
        fl = np.where(has_l, Fl * (1 - Fl), 0.0)
        hu = np.where(has_u, fu * (1 - 2 * Fu), 0.0)
        hl = np.where(has_l, fl * (1 - 2 * Fl), 0.0)
        s = (Du * (fu / pr)[:, None] - Dl * (fl / pr)[:, None])
        g = (w[:, None] * s).sum(0)
        Hn = ((Du * (w * hu / pr)[:, None]).T @ Du - (Dl * (w * hl / pr)[:, None]).T @ Dl
              - (s * w[:, None]).T @ s)
        return g, -Hn

    cur = nll(theta)
    converged = False
    info = np.eye(K1 + p)
    for _ in range(maxit):
        g, info = grad_hess(theta)
        try:
            step = np.linalg.solve(info + 1e-10 * np.eye(len(info)), g)
        except np.linalg.LinAlgError:
            break
        t = 1.0
        new = np.inf
        for _h in range(40):
            new = nll(theta + t * step)
            if np.isfinite(new) and new <= cur + 1e-12 * abs(cur):
                break
            t /= 2
        if not np.isfinite(new):
            break
        theta = theta + t * step
        done = abs(cur - new) / (abs(new) + 0.1) < 1e-10
        cur = new
        if done:
            converged = True
            break
    if not np.isfinite(cur):
        return theta, info, False
    _, info = grad_hess(theta)
    return theta, _inverse(info), converged


def _polr_probs(X: np.ndarray, theta: np.ndarray, K: int) -> np.ndarray:
    K1 = K - 1
    zeta, b = np.sort(theta[:K1]), theta[K1:]
    eta = X @ b
    F = expit(zeta[None, :] - eta[:, None])
    F = np.column_stack([np.zeros(len(X)), F, np.ones(len(X))])
    return np.clip(np.diff(F, axis=1), 0, None)


def impute_polr(codes_obs: np.ndarray, X_obs: np.ndarray, X_mis: np.ndarray, X_all: np.ndarray,
                present: np.ndarray, rng: np.random.Generator, fit: tuple | None = None) -> np.ndarray:
    """Proportional-odds imputation (``mice.impute.polr``) with a parameter draw; ``polyreg``
    when the proportional-odds fit fails (as mice)."""
    if len(present) == 1:
        return np.full(len(X_mis), float(present[0]))
    if fit is None:
        fit = polr_fit_aug(codes_obs, X_obs, X_all, present)
    if fit[0] == "polyreg":
        return impute_polyreg(codes_obs, X_obs, X_mis, X_all, present, rng, fit=fit[1])
    theta, V = fit[1]
    th = theta + _chol_lower(V) @ rng.standard_normal(len(theta))
    P = _polr_probs(X_mis, th, len(present))
    return present[_draw_category(P, rng)].astype(float)


def polr_fit_aug(codes_obs: np.ndarray, X_obs: np.ndarray, X_all: np.ndarray, present: np.ndarray):
    """("polr", (theta, V)) or, when the proportional-odds fit fails, ("polyreg", fit)."""
    k = len(present)
    lookup = {c: i for i, c in enumerate(present)}
    yk = np.array([lookup[c] for c in codes_obs], dtype=float)
    X, y, w = _with_augmentation(yk, X_obs, X_all, np.arange(k, dtype=float))
    theta, V, ok = polr_fit(X, y, w, k)
    if ok and np.all(np.isfinite(theta)) and np.all(np.isfinite(V)):
        return ("polr", (theta, V))
    return ("polyreg", polyreg_fit(codes_obs, X_obs, X_all, present))


# --------------------------------------------------------------------------- one variable
def impute_one(spec: VarSpec, y_fit: np.ndarray, X_fit: np.ndarray, X_new: np.ndarray, X_all: np.ndarray,
               rng: np.random.Generator, donors: int, cache: dict | None = None, key: Any = None) -> np.ndarray:
    """Impute ``len(X_new)`` values of ``spec`` from a model fitted on (``y_fit``, ``X_fit``).

    ``X_all``: the rows the augmentation statistics are taken over. ``cache`` (dict) keeps fits
    under ``key`` when the fitting rows do not change between calls (new rows of a frozen
    development data set); the parameter draw is new at every call.
    """
    m = spec.method
    cached = None if cache is None else cache.get(key)
    if m in ("pmm", "norm"):
        fit = cached
        if fit is None:
            fit = norm_fit(y_fit, np.column_stack([np.ones(len(X_fit)), X_fit]))
        if cache is not None:
            cache[key] = fit
        if m == "pmm":
            return impute_pmm(y_fit, X_fit, X_new, rng, donors=donors, fit=fit)
        return impute_norm(y_fit, X_fit, X_new, rng, fit=fit)
    present = np.unique(y_fit)
    if m == "logreg":
        if len(present) == 1:
            return np.full(len(X_new), float(present[0]))
        fit = cached if cached is not None else logreg_fit(y_fit, X_fit, X_all)
        if cache is not None:
            cache[key] = fit
        return impute_logreg(y_fit, X_fit, X_new, X_all, rng, fit=fit)
    if m == "polyreg":
        if len(present) == 1:
            return np.full(len(X_new), float(present[0]))
        fit = cached if cached is not None else polyreg_fit(y_fit, X_fit, X_all, present)
        if cache is not None:
            cache[key] = fit
        return impute_polyreg(y_fit, X_fit, X_new, X_all, present, rng, fit=fit)
    if m == "polr":
        if len(present) == 1:
            return np.full(len(X_new), float(present[0]))
        fit = cached if cached is not None else polr_fit_aug(y_fit, X_fit, X_all, present)
        if cache is not None:
            cache[key] = fit
        return impute_polr(y_fit, X_fit, X_new, X_all, present, rng, fit=fit)
    raise ValueError(f"unknown imputation method {m!r}")


def _initial(Z: np.ndarray, miss: np.ndarray, source: np.ndarray, j: int, rng: np.random.Generator) -> None:
    """``mice.impute.sample``: missing values start as draws from the observed values."""
    k = int(miss[:, j].sum())
    if k:
        obs = source[~np.isnan(source)]
        Z[miss[:, j], j] = rng.choice(obs, size=k, replace=True)


def run_chain(Z0: np.ndarray, specs: list[VarSpec], outcome: np.ndarray | None, maxit: int, donors: int,
              rng: np.random.Generator, log: list | None = None) -> np.ndarray:
    """One chain of MICE on development rows: returns the completed state after ``maxit`` iterations.

    ``Z0``: codes/values with NaN where missing; ``outcome`` (0/1, complete) enters every
    variable's imputation model as a predictor. Visit order: the columns with missing values, left
    to right (mice's default). Each variable is regressed on all other variables (and the outcome)
    over the rows where it is observed; its missing values are replaced at once.
    """
    Z = Z0.copy()
    miss = np.isnan(Z0)
    visit = [j for j, s in enumerate(specs) if miss[:, j].any() and s.method]
    for j in visit:
        _initial(Z, miss, Z0[:, j], j, rng)
    p = len(specs)
    for it in range(maxit):
        for j in visit:
            others = [i for i in range(p) if i != j and specs[i].kind != "constant"]
            X = design(Z, specs, others, outcome)
            obs = ~miss[:, j]
            keep = remove_lindep(X[obs], Z[obs, j])
            if log is not None and not keep.all() and it == 0:
                labels = design_labels(specs, others, outcome is not None)
                log.append((it + 1, specs[j].name, [lab for lab, k in zip(labels, keep) if not k]))
            Xk = X[:, keep]
            Z[miss[:, j], j] = impute_one(specs[j], Z[obs, j], Xk[obs], Xk[miss[:, j]], Xk, rng, donors)
    return Z


def run_new_rows(Zdev: np.ndarray, Znew0: np.ndarray, specs: list[VarSpec], maxit: int, donors: int,
                 rng: np.random.Generator) -> np.ndarray:
    """Impute new rows (a test cohort) from one completed development data set ``Zdev``.

    The chained equations run over the new rows only: each variable missing among them is
    regressed, **without the outcome**, on the other variables over all development rows of
    ``Zdev`` (observed and imputed values; the development data are complete and fixed, so the
    fit is computed once and only the parameter draw is renewed at each iteration). New rows never
    enter a fit, a donor pool, an augmentation statistic or a starting value: they only receive
    values. Starting values are draws from the development values (mice.impute.sample).
    """
    Z = Znew0.copy()
    miss = np.isnan(Znew0)
    visit = [j for j, s in enumerate(specs) if miss[:, j].any() and s.kind != "constant"]
    for j in visit:
        _initial(Z, miss, Zdev[:, j], j, rng)
    p = len(specs)
    cache: dict = {}
    Xdev: dict[int, np.ndarray] = {}
    keeps: dict[int, np.ndarray] = {}
    for _it in range(maxit):
        for j in visit:
            others = [i for i in range(p) if i != j and specs[i].kind != "constant"]
            if j not in Xdev:
                X = design(Zdev, specs, others)
                keeps[j] = remove_lindep(X, Zdev[:, j])
                Xdev[j] = X[:, keeps[j]]
            Xn = design(Z, specs, others)[:, keeps[j]]
            rows = miss[:, j]
            Z[rows, j] = impute_one(specs[j], Zdev[:, j], Xdev[j], Xn[rows], Xdev[j], rng, donors,
                                    cache=cache, key=j)
    return Z
