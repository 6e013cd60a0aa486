"""Is a regression fit possible at all? Rank of the design, separation, monotone likelihood.

Every model function of the statistics layer asks these questions of its design *before* it
fits, on either engine, so both engines give the same verdict and raise the same
:class:`~her2stats.errors.ConvergenceError` naming the columns at fault:

* **Exact collinearity** (:func:`aliased_columns`, :func:`check_rank`): column ``j`` is aliased
  when it lies in the span of the intercept and the columns before it, judged on the centred
  columns by a relative tolerance (``REL_TOL = 1e-7``, the tolerance of R's ``qr``), in column
  order -- the columns R's ``lm``/``glm`` report as ``NA`` and ``rms`` as "singular".
* **Separation** in binary and cumulative logit models (:func:`logistic_separation`,
  :func:`ordinal_separation`): the maximum-likelihood estimate is finite if and only if no
  direction ``b != 0`` satisfies ``(2y_i - 1) x_i'b >= 0`` for every row (Albert & Anderson
  1984; Silvapulle 1981). The linear program of Konis (2007, the ``safeBinaryRegression`` /
  ``detectseparation`` check) decides this exactly: maximise ``sum_i t_i`` subject to
  ``0 <= t_i <= (2y_i - 1) x_i'b``, ``t_i <= 1``, ``b`` free. Its optimum is the number of rows a
  separating direction puts strictly on their side (fitted probability -> 0 or 1): 0 means the
  MLE exists; all rows is complete separation, some rows quasi-complete separation. A
  proportional-odds model is a stack of binary rows ``1{Y >= y_j}`` with one intercept per cut.
* **Monotone likelihood** in the Cox model (:func:`cox_monotone_likelihood`): the partial
  likelihood increases without bound along ``d`` if and only if at every event time each
  subject who fails has the largest ``x'd`` of the risk set (Bryson & Johnson 1981); the same
  kind of linear program (a running maximum over the nested risk sets keeps it linear in size)
  decides it.

The columns named are a minimal set whose sub-model is still separated: columns are dropped one
at a time (smallest standardised component of the separating direction first) while the
separation persists. Dropping columns can only remove separation, never create it, so a full
model that passes these checks has no separated or aliased sub-model (stepwise searches need no
further checks).

References
----------
Albert A, Anderson JA. On the existence of maximum likelihood estimates in logistic regression
models. Biometrika 1984;71:1-10.
Konis K. Linear programming algorithms for detecting separated data in binary logistic
regression models. DPhil thesis, University of Oxford, 2007.
Bryson MC, Johnson ME. The incidence of monotone likelihood in the Cox model. Technometrics
1981;23:381-383.
Heinze G, Schemper M. A solution to the problem of monotone likelihood in Cox regression.
Biometrics 2001;57:114-119.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ..errors import ConvergenceError

#: relative tolerance of the rank decision (R's ``qr(tol = 1e-07)``)
REL_TOL = 1e-7
#: a fitted probability this close to 0 or 1 makes a converged refit worth the exact check
EXTREME_PROB = 1e-9


# =========================================================================== rank
def aliased_columns(X: np.ndarray, intercept: bool = True, tol: float = REL_TOL) -> list[tuple[int, tuple[int, ...]]]:
    """Columns of ``X`` (no intercept column) that are linear combinations of earlier ones.

    Greedy in column order after the (implicit) intercept, as R's pivoting QR: column ``j`` is
    aliased when the part of it orthogonal to the intercept and the kept earlier columns has a
    norm below ``tol`` times the norm of the centred column (the model does not depend on a
    column's location, so neither does the verdict; a column is constant when its centred norm
    is rounding error, 1e-12 of its norm). Returns ``(j, involved)`` pairs,
    ``involved`` being the earlier columns with a non-zero weight in the combination (empty: the
    column is constant).
    """
    X = np.asarray(X, dtype=float)
    n, p = X.shape
    basis: list[np.ndarray] = []
    kept: list[int] = []
    out: list[tuple[int, tuple[int, ...]]] = []
    Xc = X - X.mean(axis=0) if intercept else X
    if n > p > 0 and np.all(np.isfinite(Xc)):
        # fast path, one QR (compiled Gram-Schmidt): |R_jj| is the norm of column j's part
        # orthogonal to ALL earlier columns, never more than its part orthogonal to the kept ones (a
        # subspace), so when every |R_jj| clears the tolerance (with a margin for rounding) nothing
        # is aliased
        scales = np.linalg.norm(Xc, axis=0)
        if np.all(scales > 1e-12 * np.maximum(np.linalg.norm(X, axis=0), 1e-300)):
            from ._kernels import residual_norms

            if np.all(residual_norms(np.ascontiguousarray(Xc.T)) > 2.0 * tol * scales):
                return out
    for j in range(p):
        v = Xc[:, j]
        scale = float(np.linalg.norm(v))
        if scale <= 1e-12 * max(float(np.linalg.norm(X[:, j])), 1e-300):  # constant up to rounding
            out.append((j, ()))
            continue
        r = v.copy()
        for _ in range(2):  # Gram-Schmidt twice: exact to rounding
            for q in basis:
                r -= (q @ r) * q
        rn = float(np.linalg.norm(r))
        if rn <= tol * scale:
            K = Xc[:, kept]
            coef, *_ = np.linalg.lstsq(K, v, rcond=None)
            weight = np.abs(coef) * np.linalg.norm(K, axis=0) / scale
            out.append((j, tuple(kept[k] for k in np.flatnonzero(weight > 1e-6))))
        else:
            basis.append(r / rn)
            kept.append(j)
    return out


def check_rank(X: np.ndarray, labels: Sequence[str], what: str, intercept: bool = True,
               rows: str = "") -> None:
    """Raise :class:`ConvergenceError` naming the aliased columns when ``[1, X]`` is rank deficient.

    ``labels`` describe the columns of ``X`` for people (``'age'``, ``level 'b' of 'race'``).
    """
    al = aliased_columns(X, intercept=intercept)
    if not al:
        return
    parts = []
    for j, inv in al:
        if inv:
            parts.append(f"{labels[j]} is a linear combination of {_join([labels[k] for k in inv])}"
                         f"{' (plus a constant)' if intercept else ''}")
        else:
            parts.append(f"{labels[j]} is constant{rows}")
    names = _join([labels[j] for j, _ in al])
    raise ConvergenceError(
        f"{what}: the design matrix is singular (exact collinearity, rank {X.shape[1] - len(al)} of "
        f"{X.shape[1]} columns): {'; '.join(parts)}. "
        f"The coefficient of {names} is not identifiable (R: NA / rms: 'singular information matrix'); "
        "drop the aliased column(s) or merge the levels.")


# =========================================================================== separation
@dataclass(frozen=True)
class Separation:
    """A design on which the likelihood has no maximum.

    kind : "complete", "quasi-complete" (logistic / ordinal) or "monotone" (Cox).
    columns : a minimal set of design columns (indices into ``X`` without intercepts) whose
        sub-model is still separated -- the covariates to name.
    n_rows : rows (logistic, ordinal: binary rows of the stack) a separating direction sends to
        a fitted probability of 0 or 1 / Cox: strict inequalities along the direction.
    n : rows in all.
    direction : separating direction on the columns of ``X`` (standardised scale).
    """

    kind: str
    columns: tuple[int, ...]
    n_rows: int
    n: int
    direction: np.ndarray


def _standardise(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=float)
    if not X.shape[1]:
        return X
    Xc = X - X.mean(axis=0)
    sd = np.sqrt((Xc ** 2).mean(axis=0))
    sd[sd == 0] = 1.0
    return Xc / sd


def _max_strict(A_ineq, n_free: int, n_slack: int):
    """Maximise the sum of slacks ``s`` in [0, 1] subject to ``A_ineq @ [v; s] <= 0`` (``v`` free).

    Returns (optimum, s, v) or None when the solver gives no answer.
    """
    from scipy.optimize import linprog

    c = np.concatenate([np.zeros(n_free), -np.ones(n_slack)])
    bounds = [(None, None)] * n_free + [(0.0, 1.0)] * n_slack
    res = linprog(c, A_ub=A_ineq, b_ub=np.zeros(A_ineq.shape[0]), bounds=bounds, method="highs")
    if res.status != 0 or res.x is None:
        return None
    return -float(res.fun), res.x[n_free:], res.x[:n_free]


def _binary_lp(A: np.ndarray):
    """Konis's LP on rows ``a_i = (2y_i - 1) x_i``: max sum t, t_i <= a_i'b, 0 <= t <= 1."""
    from scipy import sparse

    m, p = A.shape
    M = sparse.hstack([sparse.csr_matrix(-A), sparse.identity(m, format="csr")], format="csr")
    return _max_strict(M, p, m)


def _minimal_columns(cols: list[int], weight: np.ndarray, separated: Callable[[list[int]], bool]) -> tuple[int, ...]:
    """Drop columns (smallest weight first) while the sub-model stays separated."""
    current = list(cols)
    for j in sorted(cols, key=lambda k: weight[k]):
        trial = [k for k in current if k != j]
        if trial and separated(trial):
            current = trial
    return tuple(current)


def _stack_binary(Xs: np.ndarray, z: np.ndarray, n_intercepts: int, cut: np.ndarray | None) -> np.ndarray:
    """Rows ``(2z-1) * [intercept indicator(s), x]`` of the separation LP."""
    m = len(z)
    icol = np.zeros((m, n_intercepts))
    icol[np.arange(m), 0 if cut is None else cut] = 1.0
    return (2 * z - 1)[:, None] * np.column_stack([icol, Xs])


def _separation(Xs: np.ndarray, z: np.ndarray, n_intercepts: int, cut: np.ndarray | None,
                name_columns: bool = True) -> Separation | None:
    p = Xs.shape[1]
    sol = _binary_lp(_stack_binary(Xs, z, n_intercepts, cut))
    if sol is None or sol[0] < 0.5:
        return None
    value, t, b = sol
    n_rows = int(np.sum(t > 0.5))
    kind = "complete" if n_rows == len(z) else "quasi-complete"
    beta = b[n_intercepts:]
    cols = list(range(p))
    if name_columns and p > 1:
        def sep(sub: list[int]) -> bool:
            s = _binary_lp(_stack_binary(Xs[:, sub], z, n_intercepts, cut))
            return s is not None and s[0] >= 0.5

        cols = list(_minimal_columns(cols, np.abs(beta), sep))
    return Separation(kind=kind, columns=tuple(cols), n_rows=n_rows, n=len(z), direction=beta)


def logistic_separation(X: np.ndarray, y: np.ndarray, name_columns: bool = True) -> Separation | None:
    """Separation of a binary logistic model ``logit P(y=1) = b0 + X b`` (``X`` without intercept)."""
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    return _separation(_standardise(X), y, 1, None, name_columns)


def ordinal_separation(X: np.ndarray, codes: np.ndarray, K: int, name_columns: bool = True) -> Separation | None:
    """Separation of a cumulative logit model ``logit P(Y >= j) = a_j + X b`` (classes 0..K-1).

    The likelihood's directions of recession are those of the stacked binary model with rows
    ``(1{Y_i >= j}, cut j, x_i)``, j = 1..K-1 (every class present), so Konis's LP decides it.
    """
    X = np.asarray(X, dtype=float)
    codes = np.asarray(codes, dtype=int)
    n = len(codes)
    cuts = np.repeat(np.arange(K - 1)[None, :], n, axis=0).ravel()
    rows = np.repeat(np.arange(n), K - 1)
    z = (codes[rows] >= cuts + 1).astype(float)
    return _separation(_standardise(X)[rows], z, K - 1, cuts, name_columns)


def _cox_lp(t: np.ndarray, e: np.ndarray, Xs: np.ndarray):
    """LP for monotone partial likelihood: max sum of strict slacks (see module docstring)."""
    from scipy import sparse

    ev_times = np.unique(t[e == 1])
    m = len(ev_times)
    at_risk = t >= ev_times[0]
    tt, ee, XX = t[at_risk], e[at_risk], Xs[at_risk]
    block = np.searchsorted(ev_times, tt, side="right") - 1
    p = XX.shape[1]
    nonev = np.flatnonzero(ee == 0)
    evr = np.flatnonzero(ee == 1)
    n_free = p + m
    n_slack = len(nonev) + max(m - 1, 0)
    # rows: non-events  x_l'd - g_j + s_l <= 0;  events  x_i'd - g_j <= 0 and g_j - x_i'd <= 0;
    # chain  g_{j+1} - g_j + c_j <= 0  (g_j: running maximum of x'd over the risk set at t_(j))
    sign = np.concatenate([np.ones(len(nonev)), np.ones(len(evr)), -np.ones(len(evr))])
    who = np.concatenate([nonev, evr, evr])
    nr = len(who)
    r_x = np.repeat(np.arange(nr), p)
    c_x = np.tile(np.arange(p), nr)
    v_x = (sign[:, None] * XX[who]).ravel()
    r_g, c_g, v_g = np.arange(nr), p + block[who], -sign
    r_s, c_s = np.arange(len(nonev)), n_free + np.arange(len(nonev))
    ch = np.arange(max(m - 1, 0))
    r_c = nr + np.concatenate([ch, ch, ch])
    c_c = np.concatenate([p + ch + 1, p + ch, n_free + len(nonev) + ch])
    v_c = np.concatenate([np.ones(len(ch)), -np.ones(len(ch)), np.ones(len(ch))])
    rows = np.concatenate([r_x, r_g, r_s, r_c])
    cols = np.concatenate([c_x, c_g, c_s, c_c])
    vals = np.concatenate([v_x, v_g, np.ones(len(nonev)), v_c])
    r = nr + len(ch)
    A = sparse.csr_matrix((vals, (rows, cols)), shape=(r, n_free + n_slack))
    return _max_strict(A, n_free, n_slack)


def cox_monotone_likelihood(time: np.ndarray, event: np.ndarray, X: np.ndarray,
                            name_columns: bool = True) -> Separation | None:
    """Monotone partial likelihood of a Cox model with design ``X`` (Breslow or Efron ties)."""
    t = np.asarray(time, dtype=float)
    e = np.asarray(event, dtype=float)
    if not np.any(e == 1):
        return None
    Xs = _standardise(X)
    sol = _cox_lp(t, e, Xs)
    if sol is None or sol[0] < 0.5:
        return None
    value, s, v = sol
    p = Xs.shape[1]
    d = v[:p]
    cols = list(range(p))
    if name_columns and p > 1:
        def sep(sub: list[int]) -> bool:
            r = _cox_lp(t, e, Xs[:, sub])
            return r is not None and r[0] >= 0.5

        cols = list(_minimal_columns(cols, np.abs(d), sep))
    return Separation(kind="monotone", columns=tuple(cols), n_rows=int(np.sum(s > 0.5)), n=len(t), direction=d)


def separates_1d(x: np.ndarray, y: np.ndarray) -> bool:
    """Does one score separate a 0/1 outcome (completely or at a tie)? The logistic regression on
    it (e.g. the recalibration ``logit P = a + b lp``) then has no finite maximum."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    x0, x1 = x[y == 0], x[y == 1]
    if not len(x0) or not len(x1):
        return False
    return bool(x0.max() <= x1.min() or x1.max() <= x0.min())


# =========================================================================== messages
def _join(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def separation_error(sep: Separation, labels: Sequence[str], what: str, X: np.ndarray | None = None,
                     outcome: np.ndarray | None = None, remedy: str = "") -> ConvergenceError:
    """The error raised for a separated design, naming ``labels`` of ``sep.columns``.

    With ``X`` and a 0/1 ``outcome`` (logistic: y; Cox: the event indicator), a single binary
    column (a level) is described by what its rows contain.
    """
    names = [labels[j] for j in sep.columns]
    detail = ""
    if X is not None and outcome is not None and len(sep.columns) == 1:
        x = np.asarray(X, dtype=float)[:, sep.columns[0]]
        if set(np.unique(x)) <= {0.0, 1.0}:
            sel = x == 1
            k, r = int(np.asarray(outcome)[sel].sum()), int(sel.sum())
            rows = f"its {r} rows" if names[0].startswith("level ") else f"the {r} rows where it is 1"
            if sep.kind == "monotone":
                detail = f" ({k} event{'' if k == 1 else 's'} among {rows})"
            elif k == 0:
                detail = f" (none of {rows} is an event)"
            elif k == r:
                detail = f" (all of {rows} are events)"
    subject = names[0] if len(names) == 1 else "the combination of " + _join(names)
    if sep.kind == "monotone":
        head = (f"{what}: monotone likelihood -- {subject}{detail} orders the events perfectly within their risk sets, "
                f"so the partial likelihood has no maximum and the hazard ratio{'s' if len(names) > 1 else ''} "
                "would be 0 or infinite")
    else:
        share = ("every row" if sep.kind == "complete" else f"{sep.n_rows} of {sep.n} rows")
        head = (f"{what}: {sep.kind} separation -- {subject}{detail} separates the outcome (the model can fit "
                f"{share} with probability 0 or 1), so the maximum-likelihood "
                f"estimate{'s are' if len(names) > 1 else ' is'} infinite")
    plural = "s" if len(names) > 1 else ""
    return ConvergenceError(f"{head}. Merge the level(s), drop or categorise the covariate{plural}{remedy}.")


def check_logistic(X: np.ndarray, y: np.ndarray, labels: Sequence[str], what: str = "logistic regression") -> None:
    """Rank and separation checks of a binary logistic design (``X`` without intercept)."""
    check_rank(X, labels, what)
    sep = logistic_separation(X, y)
    if sep is not None:
        raise separation_error(sep, labels, what, X, y, ", or use Firth's penalised likelihood (firth=True)")


def check_ordinal(X: np.ndarray, codes: np.ndarray, K: int, labels: Sequence[str],
                  what: str = "proportional-odds model") -> None:
    """Rank and separation checks of a cumulative logit design (``X`` without intercepts)."""
    check_rank(X, labels, what)
    sep = ordinal_separation(X, codes, K)
    if sep is not None:
        raise separation_error(sep, labels, what)


def check_cox(time: np.ndarray, event: np.ndarray, X: np.ndarray, labels: Sequence[str],
              what: str = "Cox model", firth: bool = False) -> None:
    """Rank (on the rows at risk at some event time) and monotone-likelihood checks of a Cox design."""
    t = np.asarray(time, dtype=float)
    e = np.asarray(event, dtype=float)
    if np.any(e == 1):
        at_risk = t >= t[e == 1].min()
        check_rank(np.asarray(X, dtype=float)[at_risk], labels, what,
                   rows=" among the subjects at risk at an event time")
    if firth:
        return
    from ._kernels import cox_mle_is_finite

    if cox_mle_is_finite(t, e, X):   # Newton reaches a finite maximum: no monotone likelihood, no LP needed
        return
    sep = cox_monotone_likelihood(t, e, X)
    if sep is not None:
        raise separation_error(sep, labels, what, X, e, ", or use Firth's penalised partial likelihood (firth=True)")


# =========================================================================== bootstrap refits
#: refit status codes (bootstrap): usable, separated resample, singular design, no convergence
OK, SEPARATED, SINGULAR, NOT_CONVERGED = 0, 1, 2, 3
STATUS_WORDS = {SEPARATED: "separated resample(s) (no finite maximum-likelihood estimate)",
                SINGULAR: "singular design(s) in the resample (a column constant or collinear there)",
                NOT_CONVERGED: "did not converge"}


def refit_status(X: np.ndarray, y: np.ndarray, w: np.ndarray) -> int:
    """Why a logistic refit on the rows with weight ``w > 0`` has no usable estimate.

    ``X`` includes the intercept column. Returns SINGULAR, SEPARATED or NOT_CONVERGED (the
    likelihood has a finite maximum that Newton's method did not reach).
    """
    keep = np.asarray(w) > 0
    Xk, yk = X[keep][:, 1:], y[keep]
    if aliased_columns(Xk):
        return SINGULAR
    if logistic_separation(Xk, yk, name_columns=False) is not None:
        return SEPARATED
    return NOT_CONVERGED


def failure_summary(status: np.ndarray) -> str:
    """'3 (2 separated resample ..., 1 no convergence)' for the warnings of bootstrap functions."""
    status = np.asarray(status)
    parts = [f"{int(np.sum(status == code))} {word}" for code, word in STATUS_WORDS.items() if np.any(status == code)]
    return "; ".join(parts)
