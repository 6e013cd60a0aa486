"""Logistic mixed model with a correlated random intercept and slope, fitted by the Laplace
approximation exactly as ``lme4::glmer(y ~ x + (1 + x | g), family = binomial, nAGQ = 1)``.

Model: ``logit P(y_ij = 1) = b0 + b1 x_ij + c0_j + c1_j x_ij`` with ``(c0_j, c1_j) ~ N(0, S)``.
lme4's parametrisation: ``c_j = T u_j`` with spherical ``u_j ~ N(0, I)`` and ``T`` lower
triangular, ``theta = (T11, T21, T22)`` (``T11, T22 >= 0``), so ``S = T T'``.

For given (theta, beta) the conditional modes ``u*`` minimise the penalised deviance
``sum_i d_i(u) + |u|^2`` (``d_i`` the Bernoulli deviance residuals), found per centre by Newton
steps (penalised IRLS; each centre is a 2x2 problem). The Laplace approximation of the deviance is

    D(theta, beta) = sum_i d_i(u*) + |u*|^2 + sum_j log det(A_j' W_j A_j + I)

with ``A_j = Z_j T`` (``Z_j = [1, x]`` for centre j's rows) and ``W_j = diag(mu (1 - mu))`` at u*
(lme4: ``ldL2 + sqrL + devResid``). (theta, beta) minimise D jointly (lme4's second stage). The
covariance of the fixed effects is lme4's: ``2 H^{-1}`` restricted to beta, with ``H`` the
central finite-difference Hessian of D over (theta, beta) at the optimum (step 1e-4, lme4's
``deriv12``); when that matrix is not positive definite, lme4's fallback from the penalised
least-squares factor (``RX``) is used.

Reference: Bates D, Maechler M, Bolker B, Walker S. Fitting linear mixed-effects models using
lme4. J Stat Softw 2015;67(1). Section 5 of the lme4 vignette "lmer" describes PIRLS and the
Laplace approximation for GLMMs.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from ..errors import ConvergenceError
from ._core import expit


@dataclass
class GlmmFit:
    beta: np.ndarray          # (2,) fixed intercept and slope
    vcov: np.ndarray          # (2, 2) covariance of beta
    theta: np.ndarray         # (3,) lme4's relative covariance factor
    sigma: np.ndarray         # (2, 2) random-effects covariance S = T T'
    ranef: np.ndarray         # (K, 2) conditional modes c_j = T u_j
    deviance: float           # -2 log-likelihood (Laplace)
    singular: bool            # a diagonal element of T below 1e-4 (lme4's isSingular)
    vcov_source: str          # "hessian" or "RX"
    n_iter: int


class _Problem:
    def __init__(self, y: np.ndarray, x: np.ndarray, g: np.ndarray, K: int):
        self.y, self.x, self.g, self.K = y, x, g, K
        self.u = np.zeros((K, 2))

    def _parts(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t1, t2, t3 = theta
        return t1 + t2 * self.x, t3 * self.x      # rows of Z T

    def modes(self, theta: np.ndarray, beta: np.ndarray, tol: float = 1e-12, maxit: int = 200
              ) -> tuple[float, np.ndarray, tuple]:
        """Conditional modes u* by penalised IRLS; returns (Laplace deviance, u*, pieces)."""
        y, g, K = self.y, self.g, self.K
        a0, a1 = self._parts(theta)
        ef = beta[0] + beta[1] * self.x
        u = self.u.copy()
        if not np.all(np.isfinite(u)):
            u = np.zeros((K, 2))

        def pdev(uu: np.ndarray) -> float:
            eta = ef + a0 * uu[g, 0] + a1 * uu[g, 1]
            return float(2.0 * np.sum(np.logaddexp(0.0, eta) - y * eta) + np.sum(uu * uu))

        cur = pdev(u)
        for _ in range(maxit):
            eta = ef + a0 * u[g, 0] + a1 * u[g, 1]
            mu = expit(eta)
            w = mu * (1.0 - mu)
            r = y - mu
            g0 = np.bincount(g, a0 * r, K) - u[:, 0]
            g1 = np.bincount(g, a1 * r, K) - u[:, 1]
            h00 = np.bincount(g, w * a0 * a0, K) + 1.0
            h01 = np.bincount(g, w * a0 * a1, K)
            h11 = np.bincount(g, w * a1 * a1, K) + 1.0
            det = h00 * h11 - h01 * h01
            step = np.column_stack([(h11 * g0 - h01 * g1) / det, (h00 * g1 - h01 * g0) / det])
            new = u + step
            val = pdev(new)
            halvings = 0
            while not val <= cur + 1e-12 * abs(cur) and halvings < 40:
                step = step / 2.0
                new = u + step
                val = pdev(new)
                halvings += 1
            u, cur = new, val
            if np.max(np.abs(step)) < tol:
                break
        eta = ef + a0 * u[g, 0] + a1 * u[g, 1]
        mu = expit(eta)
        w = mu * (1.0 - mu)
        h00 = np.bincount(g, w * a0 * a0, K) + 1.0
        h01 = np.bincount(g, w * a0 * a1, K)
        h11 = np.bincount(g, w * a1 * a1, K) + 1.0
        dev = 2.0 * np.sum(np.logaddexp(0.0, eta) - y * eta)
        value = float(dev + np.sum(u * u) + np.sum(np.log(h00 * h11 - h01 * h01)))
        return value, u, (w, a0, a1, h00, h01, h11)

    def deviance(self, par: np.ndarray) -> float:
        value, u, _ = self.modes(par[:3], par[3:])
        if np.isfinite(value):
            self.u = u  # warm start of the next evaluation (the mode is unique: D is unaffected)
        return value

    def gradient(self, par: np.ndarray, h: float = 1e-5) -> np.ndarray:
        out = np.empty(len(par))
        for i in range(len(par)):
            e = np.zeros(len(par))
            e[i] = h
            out[i] = (self.deviance(par + e) - self.deviance(par - e)) / (2.0 * h)
        return out

    def hessian(self, par: np.ndarray, delta: float = 1e-4, free: np.ndarray | None = None) -> np.ndarray:
        """Central finite differences as lme4's ``deriv12`` (no bounds)."""
        idx = np.arange(len(par)) if free is None else np.flatnonzero(free)
        f0 = self.deviance(par)
        m = len(idx)
        H = np.empty((m, m))

        def shifted(*moves: tuple[int, float]) -> float:
            q = par.copy()
            for i, d in moves:
                q[i] += d
            return self.deviance(q)

        for a, j in enumerate(idx):
            fadd = shifted((j, delta))
            fsub = shifted((j, -delta))
            H[a, a] = (fadd - 2.0 * f0 + fsub) / delta ** 2
            for b in range(a):
                i = idx[b]
                H[a, b] = H[b, a] = (shifted((i, delta), (j, delta)) - shifted((i, delta), (j, -delta))
                                     - shifted((i, -delta), (j, delta)) + shifted((i, -delta), (j, -delta))
                                     ) / (4.0 * delta ** 2)
        return H

    def vcov_rx(self, par: np.ndarray) -> np.ndarray:
        """lme4's fallback: the inverse Schur complement of the penalised weighted cross-products."""
        _, _, (w, a0, a1, h00, h01, h11) = self.modes(par[:3], par[3:])
        g, K, x = self.g, self.K, self.x
        XtWX = np.array([[w.sum(), (w * x).sum()], [(w * x).sum(), (w * x * x).sum()]])
        # per centre: C_j = A_j' W_j X_j (2x2), correction C_j' H_j^{-1} C_j
        c00 = np.bincount(g, w * a0, K)
        c01 = np.bincount(g, w * a0 * x, K)
        c10 = np.bincount(g, w * a1, K)
        c11 = np.bincount(g, w * a1 * x, K)
        corr = np.zeros((2, 2))
        for j in range(K):
            C = np.array([[c00[j], c01[j]], [c10[j], c11[j]]])
            Hj = np.array([[h00[j], h01[j]], [h01[j], h11[j]]])
            corr += C.T @ np.linalg.solve(Hj, C)
        return np.linalg.inv(XtWX - corr)


def fit_random_slope_logistic(y: np.ndarray, x: np.ndarray, g: np.ndarray, K: int,
                              beta_start: np.ndarray) -> GlmmFit:
    """Laplace ML fit of ``y ~ x + (1 + x | g)`` (see the module docstring).

    ``g`` holds centre codes 0..K-1. Bound-constrained quasi-Newton (L-BFGS-B, central-difference
    gradients) from lme4's start theta = (1, 0, 1) and from theta = (0.1, 0, 0.1), both with the
    fixed effects of the ordinary logistic fit (``beta_start``); the lower deviance is kept and
    polished by Newton steps on the parameters off the boundary.
    """
    prob = _Problem(np.asarray(y, float), np.asarray(x, float), np.asarray(g, np.intp), int(K))
    bounds = [(0.0, None), (None, None), (0.0, None), (None, None), (None, None)]
    # two starts (lme4's theta = (1, 0, 1) and small variances): with few centres the deviance
    # can have a boundary point where a local search stops; the lower deviance is kept
    best = None
    for theta0 in ((1.0, 0.0, 1.0), (0.1, 0.0, 0.1)):
        prob.u = np.zeros((int(K), 2))
        x0 = np.r_[theta0, np.asarray(beta_start, float)]
        res = minimize(prob.deviance, x0, jac=prob.gradient, method="L-BFGS-B", bounds=bounds,
                       options={"ftol": 1e-15, "gtol": 1e-9, "maxiter": 2000, "maxfun": 20000})
        if np.isfinite(res.fun) and (best is None or res.fun < best.fun):
            best = res
    if best is None:
        raise ConvergenceError("the random-effects calibration model could not be fitted (non-finite deviance)")
    res = best
    par = np.asarray(res.x, float)
    # Newton polish on the parameters not held at a bound (the optimum to ~1e-9, well inside
    # the tolerance at which lme4's bobyqa stops)
    n_iter = int(res.nit)
    for _ in range(30):
        free = np.ones(5, dtype=bool)
        free[0] = par[0] > 1e-8
        free[2] = par[2] > 1e-8
        grad = prob.gradient(par)[free]
        H = prob.hessian(par, free=free)
        try:
            step = np.linalg.solve(H, grad)
        except np.linalg.LinAlgError:
            break
        if not np.all(np.isfinite(step)) or np.any(np.linalg.eigvalsh(H) <= 0):
            break
        f0 = prob.deviance(par)
        t = 1.0
        while t > 1e-6:
            cand = par.copy()
            cand[free] -= t * step
            cand[0] = max(cand[0], 0.0)
            cand[2] = max(cand[2], 0.0)
            if prob.deviance(cand) <= f0 + 1e-12 * abs(f0):
                break
            t /= 2.0
        else:
            break
        par = cand
        n_iter += 1
        # finite-difference gradients carry ~1e-8 of rounding noise: steps below 1e-8 are noise
        if np.max(np.abs(t * step)) < 1e-8:
            break
    dev = prob.deviance(par)
    theta, beta = par[:3], par[3:]
    T = np.array([[theta[0], 0.0], [theta[1], theta[2]]])
    _, u, _ = prob.modes(theta, beta)
    ranef = u @ T.T
    H = prob.hessian(par)
    vcov, source = None, "hessian"
    try:
        Vh = np.linalg.inv(H)
        Vh = (Vh + Vh.T)[3:, 3:]
        if np.all(np.isfinite(Vh)) and np.all(np.linalg.eigvalsh(Vh) > 0):
            vcov = Vh
    except np.linalg.LinAlgError:
        pass
    if vcov is None:
        vcov, source = prob.vcov_rx(par), "RX"
    return GlmmFit(beta=beta.copy(), vcov=vcov, theta=theta.copy(), sigma=T @ T.T, ranef=ranef, deviance=dev,
                   singular=bool(theta[0] < 1e-4 or theta[2] < 1e-4), vcov_source=source, n_iter=n_iter)
