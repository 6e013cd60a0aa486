"""Cox proportional hazards: the fitted model (:func:`fit_cph`, Breslow or Efron ties, optional
Firth penalty), the analysis (:func:`cox`: hazard ratios, likelihood-ratio test, Harrell's C,
``cox.zph`` test of proportional hazards, stepwise selection). Python engine in numpy (Newton-Raphson
on the partial likelihood), R engine ``survival::coxph``; tests hold the two to 1e-6.

References
----------
Cox DR (1972) JRSS-B 34:187-220. Efron B (1977) JASA 72:557-565. Breslow NE (1974) Biometrics
30:89-99. Firth D (1993) Biometrika 80:27-38; Heinze G, Schemper M (2001) Biometrics 57:114-119.
Grambsch PM, Therneau TM (1994) Biometrika 81:515-526. Therneau TM, Grambsch PM (2000)
*Modeling Survival Data*. Springer.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from ..engine import resolve_engine
from ..errors import ConvergenceError, EmptyModelError, InputError
from ..results import Result
from . import _core
from ._core import renamed_args
from ._names import check_unique_labels
from ._survdata import check_columns, survival_frame
from .concordance import ConcordanceResult, concordance_numpy
from .km import km_table

__all__ = ["fit_cph", "CoxModel", "cox", "CoxResult", "PHTestResult", "r_covariates"]

_Z975 = sps.norm.ppf(0.975)


# =========================================================================== Cox model (numpy)
@dataclass(frozen=True)
class _Design:
    """How covariates become design columns (same coding for both engines and for new data)."""

    covariates: tuple[str, ...]
    columns: tuple[str, ...]
    terms: tuple[tuple[str, tuple[int, ...]], ...]   # term -> indices of its design columns
    levels: dict[str, list[Any]]                      # categorical covariate -> levels (first = reference)

    def matrix(self, df: pd.DataFrame) -> np.ndarray:
        check_columns(df, self.covariates)
        cols = []
        for cov in self.covariates:
            s = df[cov]
            if cov in self.levels:
                levels = self.levels[cov]
                vals = s.astype(object).to_numpy()
                known = set(map(_key, levels))
                bad = [v for v in pd.unique(vals) if not pd.isna(v) and _key(v) not in known]
                if bad:
                    raise InputError(f"column '{cov}' has level(s) {bad} not seen when the model was fitted "
                                     f"(levels: {levels})")
                for lev in levels[1:]:
                    cols.append(np.array([np.nan if pd.isna(v) else float(_key(v) == _key(lev)) for v in vals]))
            elif pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
                cols.append(s.to_numpy(dtype=float, na_value=np.nan))
            else:
                cols.append(pd.to_numeric(s, errors="raise").to_numpy(dtype=float))
        return np.column_stack(cols) if cols else np.zeros((len(df), 0))


def _key(v: Any) -> Any:
    """Comparable key for a level (1 and 1.0 and '1' stay distinct only by type family)."""
    if isinstance(v, (np.integer, np.floating)):
        v = v.item()
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def _is_categorical(s: pd.Series) -> bool:
    return (isinstance(s.dtype, pd.CategoricalDtype) or s.dtype == object or pd.api.types.is_string_dtype(s.dtype)
            or pd.api.types.is_bool_dtype(s.dtype))


def _make_design(df: pd.DataFrame, covariates: Sequence[str], event: np.ndarray) -> _Design:
    if isinstance(covariates, str):
        covariates = [covariates]
    covariates = tuple(covariates)
    if not covariates:
        raise InputError("covariates must name at least one column")
    if len(set(covariates)) != len(covariates):
        raise InputError(f"covariates contain duplicates: {list(covariates)}")
    columns: list[str] = []
    terms = []
    levels: dict[str, list[Any]] = {}
    for cov in covariates:
        s = df[cov]
        if _is_categorical(s):
            if isinstance(s.dtype, pd.CategoricalDtype):
                levs = [c for c in s.cat.categories if (s == c).any()]
            elif pd.api.types.is_bool_dtype(s.dtype):
                levs = [lv for lv in (False, True) if (s == lv).any()]
            else:
                levs = sorted(pd.unique(s).tolist(), key=str)
            if len(levs) < 2:
                raise InputError(f"covariate '{cov}' has a single level ({levs!r}) in the analysed rows: "
                                 "it carries no information; drop it")
            levels[cov] = levs
            start = len(columns)
            columns += [f"{cov}={lev}" for lev in levs[1:]]
            terms.append((cov, tuple(range(start, len(columns)))))
        else:
            if not pd.api.types.is_numeric_dtype(s.dtype):
                raise InputError(f"covariate '{cov}' has dtype {s.dtype}, neither numeric nor categorical")
            v = s.to_numpy()
            if not (v != v[0]).any():   # constant (no missing values here); cheaper than nunique
                raise InputError(f"covariate '{cov}' is constant ({s.iloc[0]!r}) in the analysed rows; drop it")
            terms.append((cov, (len(columns),)))
            columns.append(cov)
    check_unique_labels(columns, "Cox model")
    return _Design(covariates=covariates, columns=tuple(columns), terms=tuple(terms), levels=levels)


class _CoxData:
    """Sorted data and risk-set machinery for the partial likelihood (Breslow or Efron ties).

    Rows are sorted by time with the deaths first at each time, so the deaths at the k-th
    event time are the contiguous rows ``first[k] .. first[k] + d[k] - 1`` and the risk set is
    every row from ``first[k]`` on. Each death is one term of the likelihood (a "slot"): at
    event time k the l-th of its d deaths (l = 0..d-1) has the Efron fraction ``f = l/d``
    (Breslow: 0). Every sum over risk sets is a reverse cumulative sum read at ``first``.
    """

    def __init__(self, t: np.ndarray, e: np.ndarray, X: np.ndarray, ties: str):
        order = np.lexsort((-e, t))  # by time; deaths before censorings at equal time
        self.t, self.e, self.X = t[order], e[order].astype(float), X[order]
        self.order = order
        self.ties = ties
        self.mean = self.X.mean(axis=0)  # centring for stability (coxph centres too)
        self.Xc = np.ascontiguousarray(self.X - self.mean)
        ev_times, self.d = np.unique(self.t[self.e == 1], return_counts=True)
        self.event_times = ev_times
        self.first = np.searchsorted(self.t, ev_times, side="left")  # start of the risk set
        self.ev_idx = np.searchsorted(ev_times, self.t[self.e == 1])  # event -> its event time
        self.ev_rows = np.flatnonzero(self.e == 1)
        # slots: one per death, in row order (grouped by event time)
        slot_l = self.ev_rows - self.first[self.ev_idx]   # l = 0..d-1 within the event time
        self.frac = slot_l / self.d[self.ev_idx] if ties == "efron" else np.zeros(len(self.ev_rows))
        self.x_dead = self.Xc[self.ev_rows]
        self.sum_x_dead = self.x_dead.sum(axis=0)
        self.slot_start = np.searchsorted(self.ev_rows, self.first)   # first death of each event time
        self.e_int = e[order].astype(np.int64)

    def terms(self, beta: np.ndarray, need_info: bool = True, per_time: bool = False) -> dict[str, Any]:
        """Log partial likelihood, score, information (and, with ``per_time``, the per-event-time
        score ``score_t`` and information ``V_t`` that cox.zph needs) at ``beta``.

        Without ``per_time`` one compiled backward sweep (:func:`._kernels.cox_terms`) does it. With
        it, the same sums vectorised over the slots: ``info = sum_slots [(S2_k - f D2_k)/den - mu
        mu']`` uses ``sum_k a_k S2_k = Xc' diag(w A) Xc`` with ``A_j = sum_{k: first_k <= j} a_k``
        (the Efron correction ``sum_k b_k D2_k`` a weighted sum over the deaths' rows).
        """
        Xc = self.Xc
        n, p = Xc.shape
        if not per_time:   # the fit's hot path: one compiled sweep (survival's coxfit6 algorithm)
            from ._kernels import cox_terms

            loglik, score, info = cox_terms(self.t, self.e_int, Xc, np.ascontiguousarray(beta, dtype=float),
                                            self.ties == "efron", bool(need_info))
            out = {"loglik": float(loglik), "score": score}
            if need_info:
                out["info"] = info
            return out
        eta = Xc @ beta
        w = np.exp(eta)
        wX = w[:, None] * Xc
        k_of = self.ev_idx
        S0 = np.cumsum(w[::-1])[::-1][self.first]
        S1 = np.cumsum(wX[::-1], axis=0)[::-1][self.first]
        rows, starts = self.ev_rows, self.slot_start
        D0 = np.add.reduceat(w[rows], starts)
        D1 = np.add.reduceat(wX[rows], starts, axis=0)
        f = self.frac
        den = S0[k_of] - f * D0[k_of]
        mu = (S1[k_of] - f[:, None] * D1[k_of]) / den[:, None]
        loglik = float(eta[rows].sum() - np.log(den).sum())
        score = self.sum_x_dead - mu.sum(axis=0)
        out: dict[str, Any] = {"loglik": loglik, "score": score, "w": w}
        if need_info:
            inv = 1.0 / den
            a = np.bincount(k_of, weights=inv, minlength=len(S0))        # sum_l 1/den per event time
            A = np.zeros(n)
            A[self.first] = a                                            # event times are distinct
            A = np.cumsum(A)
            row_w = w * A
            row_w[rows] -= w[rows] * np.bincount(k_of, weights=f * inv, minlength=len(S0))[k_of]
            out["info"] = Xc.T @ (row_w[:, None] * Xc) - mu.T @ mu
        if per_time:
            m = len(self.event_times)
            score_t = np.add.reduceat(self.x_dead - mu, starts, axis=0)
            S2 = np.cumsum((wX[:, :, None] * Xc[:, None, :])[::-1], axis=0)[::-1][self.first]
            xe = self.x_dead
            D2 = np.add.reduceat(w[rows, None, None] * (xe[:, :, None] * xe[:, None, :]),
                                 starts, axis=0)
            slot = (S2[k_of] - f[:, None, None] * D2[k_of]) / den[:, None, None] - mu[:, :, None] * mu[:, None, :]
            V_t = np.zeros((m, p, p))
            np.add.at(V_t, k_of, slot)
            out["score_t"], out["V_t"] = score_t, V_t
        return out


class _StrataCoxData:
    """Stratified partial likelihood: one :class:`_CoxData` per stratum (risk sets never cross
    strata), log-likelihood, score and information summed over the strata. ``strata`` holds integer
    codes 0..k-1 per row; a stratum without events contributes nothing (its rows are kept for the
    baseline hazard, which is then 0 there)."""

    def __init__(self, t: np.ndarray, e: np.ndarray, X: np.ndarray, ties: str, strata: np.ndarray):
        self.t, self.e, self.X, self.ties = t, np.asarray(e, float), X, ties
        self.strata = np.asarray(strata, dtype=int)
        self.n_strata = int(self.strata.max()) + 1 if len(self.strata) else 0
        self.rows = [np.flatnonzero(self.strata == k) for k in range(self.n_strata)]
        self.parts = [(k, _CoxData(t[r], e[r], X[r], ties)) for k, r in enumerate(self.rows) if np.any(e[r] == 1)]

    def terms(self, beta: np.ndarray, need_info: bool = True, per_time: bool = False) -> dict[str, Any]:
        p = self.X.shape[1]
        out: dict[str, Any] = {"loglik": 0.0, "score": np.zeros(p)}
        if need_info:
            out["info"] = np.zeros((p, p))
        for _, cd in self.parts:
            part = cd.terms(beta, need_info=need_info, per_time=per_time)
            out["loglik"] += part["loglik"]
            out["score"] = out["score"] + part["score"]
            if need_info:
                out["info"] = out["info"] + part["info"]
        return out


def _cox_data(t: np.ndarray, e: np.ndarray, X: np.ndarray, ties: str, strata: np.ndarray | None = None):
    """Partial-likelihood machinery, stratified when ``strata`` (integer codes) is given."""
    return _CoxData(t, e, X, ties) if strata is None else _StrataCoxData(t, e, X, ties, strata)


def _fit_cox_numpy(t: np.ndarray, e: np.ndarray, X: np.ndarray, ties: str = "efron", max_iter: int = 50,
                   tol: float = 1e-12, strata: np.ndarray | None = None) -> dict[str, Any]:
    """Newton-Raphson with step halving on the centred partial likelihood (summed over strata)."""
    cd = _cox_data(t, e, X, ties, strata)
    p = X.shape[1]
    beta = np.zeros(p)
    cur = cd.terms(beta)
    loglik0 = cur["loglik"]
    converged = False
    for _ in range(max_iter):
        try:
            step = np.linalg.solve(cur["info"], cur["score"])
        except np.linalg.LinAlgError:
            raise ConvergenceError("Cox information matrix is singular: covariates are collinear") from None
        new_beta = beta + step
        new = cd.terms(new_beta)
        halvings = 0
        while (not np.isfinite(new["loglik"]) or new["loglik"] < cur["loglik"] - 1e-10) and halvings < 30:
            step /= 2
            new_beta = beta + step
            new = cd.terms(new_beta)
            halvings += 1
        done = np.max(np.abs(new_beta - beta)) < tol or abs(new["loglik"] - cur["loglik"]) < tol * (1 + abs(cur["loglik"]))
        beta, cur = new_beta, new
        if done:
            converged = True
            break
    if not converged or not np.all(np.isfinite(beta)):
        # monotone likelihood and collinearity are refused before fitting (_fitcheck.check_cox)
        raise ConvergenceError(
            f"Cox model: Newton-Raphson did not reach the maximum of the partial likelihood in {max_iter} iterations "
            "although it exists (no monotone likelihood, full rank); rescale the covariates and refit")
    vcov = np.linalg.inv(cur["info"])
    return {"beta": beta, "vcov": vcov, "loglik": cur["loglik"], "loglik0": loglik0, "cd": cd, "terms": cur}


def _firth_penalty_grad(cd: _CoxData, beta: np.ndarray, M: np.ndarray) -> np.ndarray:
    """Gradient of ``1/2 log det I(b)`` for the Breslow / Efron information, ``M = I(b)^-1``.

    ``I = sum_terms A2/A0 - A1 A1'/A0^2`` over the (tie-corrected) risk-set sums ``A_k`` of
    ``w x^(k)``, and ``dA0/db = A1``, ``dA1/db = A2``, ``dA2/db_r = A3_r``, so
    ``tr(M dI/db_r) = sum_terms [T_r/A0 - tr(M A2) A1_r/A0^2 - 2 (A2 M A1)_r/A0^2
    + 2 (A1'M A1) A1_r/A0^3]`` with ``T_r = sum w (x'M x) x_r`` (the only third-order sum needed).
    """
    Xc = cd.Xc
    p = Xc.shape[1]
    w = np.exp(Xc @ beta)
    q = np.einsum("ij,jk,ik->i", Xc, M, Xc)
    m = len(cd.event_times)
    rc = lambda a: np.cumsum(a[::-1], axis=0)[::-1]  # noqa: E731 - reverse cumulative sums
    S0 = rc(w)[cd.first]
    S1 = rc(w[:, None] * Xc)[cd.first]
    S2 = rc(w[:, None, None] * (Xc[:, :, None] * Xc[:, None, :]))[cd.first]
    ST = rc((w * q)[:, None] * Xc)[cd.first]
    ev, xe = cd.ev_rows, Xc[cd.ev_rows]
    we = w[ev]
    D0 = np.bincount(cd.ev_idx, weights=we, minlength=m)
    D1 = np.zeros((m, p))
    D2 = np.zeros((m, p, p))
    DT = np.zeros((m, p))
    np.add.at(D1, cd.ev_idx, we[:, None] * xe)
    np.add.at(D2, cd.ev_idx, we[:, None, None] * (xe[:, :, None] * xe[:, None, :]))
    np.add.at(DT, cd.ev_idx, (we * q[ev])[:, None] * xe)
    g = np.zeros(p)
    for l in range(int(cd.d.max())):
        act = cd.d > l
        f = (np.where(act, l / cd.d, 0.0) if cd.ties == "efron" else np.zeros(m))[act]
        A0 = S0[act] - f * D0[act]
        A1 = S1[act] - f[:, None] * D1[act]
        A2 = S2[act] - f[:, None, None] * D2[act]
        AT = ST[act] - f[:, None] * DT[act]
        MA1 = A1 @ M
        trMA2 = np.einsum("tjk,jk->t", A2, M)
        A1MA1 = np.sum(MA1 * A1, axis=1)
        A2MA1 = np.einsum("tjk,tk->tj", A2, MA1)
        g += np.sum(AT / A0[:, None] - trMA2[:, None] * A1 / A0[:, None] ** 2 - 2 * A2MA1 / A0[:, None] ** 2
                    + 2 * A1MA1[:, None] * A1 / A0[:, None] ** 3, axis=0)
    return 0.5 * g


def _fit_cox_firth_numpy(t: np.ndarray, e: np.ndarray, X: np.ndarray, ties: str = "efron", max_iter: int = 100,
                         tol: float = 1e-9) -> dict[str, Any]:
    """Firth's penalised partial likelihood ``l(b) + 1/2 log det I(b)`` (Heinze & Schemper 2001):
    Newton-Raphson on the modified score ``U + d/db 1/2 log det I`` with ``I`` as the Hessian
    (as ``coxphf``), step halving on the penalised likelihood; finite under monotone likelihood."""
    cd = _CoxData(t, e, X, ties)
    p = X.shape[1]

    def penalised(b):
        cur = cd.terms(b)
        sign, logdet = np.linalg.slogdet(cur["info"])
        return cur, (cur["loglik"] + 0.5 * logdet if sign > 0 else -np.inf)

    beta = np.zeros(p)
    cur, pl = penalised(beta)
    pl0 = pl
    converged = False
    for _ in range(max_iter):
        try:
            M = np.linalg.inv(cur["info"])
        except np.linalg.LinAlgError:
            break
        ustar = cur["score"] + _firth_penalty_grad(cd, beta, M)
        step = M @ ustar
        if np.max(np.abs(ustar)) < tol * max(1.0, len(t) / 100) and np.max(np.abs(step)) < 1e-8:
            converged = True
            break
        big = np.max(np.abs(step))
        if big > 5:  # coxphf's maxstep
            step = step * (5 / big)
        for _half in range(40):
            new_beta = beta + step
            new, pl_new = penalised(new_beta)
            if np.isfinite(pl_new) and pl_new >= pl - 1e-12 * max(1.0, abs(pl)):
                break
            step = step / 2
        beta, cur, pl = new_beta, new, pl_new
    if not converged:
        raise ConvergenceError(f"Cox model: Firth's penalised partial likelihood did not converge in {max_iter} iterations")
    return {"beta": beta, "vcov": np.linalg.inv(cur["info"]), "loglik": pl, "loglik0": pl0, "cd": cd, "terms": cur}


def _baseline_cumhaz(cd: _CoxData, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative baseline hazard at x = 0 (uncentred) at each event time; Efron or Breslow
    increments as ``survfit.coxph`` (``ctype`` follows the ties method)."""
    lp_c = cd.Xc @ beta
    w = np.exp(lp_c)
    rc = np.cumsum(w[::-1])[::-1]
    S0 = rc[cd.first]
    D0 = np.bincount(cd.ev_idx, weights=w[cd.ev_rows], minlength=len(cd.event_times))
    inc = np.zeros(len(cd.event_times))
    for l in range(int(cd.d.max())):
        active = cd.d > l
        f = np.where(active, l / cd.d, 0.0) if cd.ties == "efron" else np.zeros(len(cd.d))
        inc[active] += 1.0 / (S0 - f * D0)[active]
    # hazard for the centred covariates -> x = 0: multiply by exp(-mean'beta)
    H = np.cumsum(inc) * math.exp(-float(cd.mean @ beta))
    return cd.event_times, H


@dataclass(frozen=True, repr=False)
class CoxModel(Result):
    """A fitted Cox model that feeds nomograms, calibration and predictions.

    ``params`` are log hazard ratios named ``covariate`` (numeric) or ``covariate=level``
    (categorical, vs the first level), the rms naming. ``r_fit`` is the ``rms::cph`` fit (x, y
    and surv kept) for engine="r", else None.
    """

    data: pd.DataFrame
    duration: str
    event: str
    covariates: tuple[str, ...]
    params: pd.Series
    vcov: pd.DataFrame
    loglik: float
    loglik_null: float
    n: int
    n_events: int
    n_excluded: int
    ties: str
    engine: str
    r_fit: Any = field(default=None, compare=False)
    design: _Design = field(default=None, compare=False)
    method: str = "Cox proportional hazards"
    #: fitted by Firth's penalised partial likelihood (``loglik``/``loglik_null`` are then penalised)
    firth: bool = False
    #: stratification columns (``strata(...)`` / ``strat(...)``): one baseline hazard per stratum
    strata: tuple[str, ...] = ()
    #: the strata, in code order: one tuple of values (one per strata column) each
    strata_levels: tuple[tuple[Any, ...], ...] = ()

    @property
    def se(self) -> pd.Series:
        return pd.Series(np.sqrt(np.diag(self.vcov.to_numpy())), index=self.params.index)

    def to_frame(self) -> pd.DataFrame:
        se = self.se
        z = self.params / se
        return pd.DataFrame({"coef": self.params, "se": se, "HR": np.exp(self.params),
                             "ci_low": np.exp(self.params - _Z975 * se), "ci_high": np.exp(self.params + _Z975 * se),
                             "z": z, "p_value": 2 * sps.norm.sf(np.abs(z))})

    def linear_predictor(self, df: pd.DataFrame) -> np.ndarray:
        """``x'beta`` (uncentred) for new rows."""
        return self.design.matrix(df) @ self.params.to_numpy()

    def _cumhaz(self) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """Baseline cumulative hazard per stratum code (0 when unstratified)."""
        cached = self.__dict__.get("_cumhaz_cache")
        if cached is None:
            sub = self.data
            t = sub[self.duration].to_numpy(float)
            e = sub[self.event].to_numpy().astype(int)
            X = self.design.matrix(sub)
            beta = self.params.to_numpy()
            if not self.strata:
                cached = {0: _baseline_cumhaz(_CoxData(t, e, X, self.ties), beta)}
            else:
                codes, _ = strata_codes(sub, self.strata, self.strata_levels)
                cached = {}
                for k in range(len(self.strata_levels)):
                    r = codes == k
                    cached[k] = (_baseline_cumhaz(_CoxData(t[r], e[r], X[r], self.ties), beta) if e[r].any()
                                 else (np.zeros(0), np.zeros(0)))
            object.__setattr__(self, "_cumhaz_cache", cached)
        return cached

    def _stratum_code(self, stratum: Any) -> int:
        if not self.strata:
            if stratum is not None:
                raise InputError("baseline_survival: the model is not stratified; stratum must be None")
            return 0
        if stratum is None:
            raise InputError(f"baseline_survival: the model is stratified by {list(self.strata)}; name the stratum "
                             f"(one of {[lv[0] if len(lv) == 1 else lv for lv in self.strata_levels]})")
        key = tuple(map(_key, stratum if isinstance(stratum, tuple) else (stratum,)))
        for k, lv in enumerate(self.strata_levels):
            if tuple(map(_key, lv)) == key:
                return k
        raise InputError(f"stratum {stratum!r} was not among the fitted strata "
                         f"{[lv[0] if len(lv) == 1 else lv for lv in self.strata_levels]}")

    def baseline_cumhaz(self, times: Sequence[float], stratum: Any = None) -> np.ndarray:
        """Cumulative baseline hazard ``H0(t)`` at covariates x = 0 (``-log S0(t)``, without the
        underflow of ``S0`` when x = 0 lies far from the data, e.g. with interaction terms); a
        stratified model has one per stratum (``stratum`` as in :meth:`baseline_survival`)."""
        et, H = self._cumhaz()[self._stratum_code(stratum)]
        tt = np.atleast_1d(np.asarray(times, float))
        j = np.searchsorted(et, tt, side="right") - 1
        return np.where(j >= 0, H[np.maximum(j, 0)] if len(H) else 0.0, 0.0)

    def baseline_survival(self, times: Sequence[float], stratum: Any = None) -> np.ndarray:
        """Baseline survival ``S0(t)`` at covariates x = 0, so ``S(t | x) = S0(t)^exp(x'beta)``.

        Efron (or Breslow) baseline hazard as ``survival::basehaz(coxph_fit, centered = FALSE)``;
        a stratified model has one per stratum (``stratum``: the stratum's value, a tuple of values
        when several columns stratify).
        """
        et, H = self._cumhaz()[self._stratum_code(stratum)]
        tt = np.atleast_1d(np.asarray(times, float))
        j = np.searchsorted(et, tt, side="right") - 1
        Ht = np.where(j >= 0, H[np.maximum(j, 0)] if len(H) else 0.0, 0.0)
        return np.exp(-Ht)

    def predict_survival(self, df: pd.DataFrame, times: Sequence[float]) -> np.ndarray:
        """``S(t | x)`` for each row of ``df`` (rows) at each time (columns); a stratified model
        reads each row's stratum from its strata columns."""
        lp = self.linear_predictor(df)
        if not self.strata:
            s0 = self.baseline_survival(times)
            return s0[None, :] ** np.exp(lp)[:, None]
        check_columns(df, self.strata)
        codes, _ = strata_codes(df, self.strata, self.strata_levels)
        out = np.empty((len(df), len(np.atleast_1d(times))))
        for k, lv in enumerate(self.strata_levels):
            r = codes == k
            if r.any():
                out[r] = self.baseline_survival(times, lv)[None, :] ** np.exp(lp[r])[:, None]
        return out


def strata_codes(df: pd.DataFrame, strata: Sequence[str], levels: Sequence[tuple[Any, ...]] | None = None
                 ) -> tuple[np.ndarray, tuple[tuple[Any, ...], ...]]:
    """Integer stratum code per row for the combination of the ``strata`` columns, and the strata
    in code order (sorted, categories in their order). With ``levels`` (a fitted model's), a row in
    a stratum not among them raises InputError."""
    cols = [df[c] for c in strata]
    keys = list(zip(*[[_key(v) for v in c.astype(object).to_numpy()] for c in cols]))
    if levels is None:
        def order(col: pd.Series, v: Any) -> Any:
            if isinstance(col.dtype, pd.CategoricalDtype):
                return list(col.cat.categories).index(v) if v in list(col.cat.categories) else -1
            return (str(type(v)), v)
        uniq = sorted(set(keys), key=lambda k: tuple(order(c, v) for c, v in zip(cols, k)))
        levels = tuple(tuple(k) for k in uniq)
    lookup = {tuple(map(_key, lv)): i for i, lv in enumerate(levels)}
    codes = np.array([lookup.get(k, -1) for k in keys], dtype=int)
    if (codes < 0).any():
        bad = keys[int(np.flatnonzero(codes < 0)[0])]
        raise InputError(f"strata column(s) {list(strata)}: stratum {bad!r} was not seen when the model was fitted "
                         f"(strata: {list(levels)})")
    return codes, tuple(levels)


def _design_labels(design: _Design) -> list[str]:
    """Design columns described for people: ``'age'``, ``level 'b' of 'grp'``."""
    out = []
    for cov, cols in design.terms:
        if cov in design.levels:
            out += [f"level {lev!r} of {cov!r}" for lev in design.levels[cov][1:]]
        else:
            out.append(repr(cov))
    return out


def _check_strata(strata: Any, covariates: Sequence[str], duration: str, event: str, function: str) -> tuple[str, ...]:
    if strata is None:
        return ()
    if isinstance(strata, str):
        strata = [strata]
    strata = tuple(strata)
    if not all(isinstance(c, str) for c in strata):
        raise InputError(f"{function}: strata must be column names, got {list(strata)!r}")
    if len(set(strata)) != len(strata):
        raise InputError(f"{function}: strata contain duplicates: {list(strata)}")
    both = [c for c in strata if c in covariates or c in (duration, event)]
    if both:
        raise InputError(f"{function}: column(s) {both} are given as strata and as covariate/duration/event; a "
                         "stratification column has no coefficient")
    return strata


def _cox_prepare(df, duration, event, covariates, what="Cox model", firth=False, function="cox", strata=()):
    """Complete cases, design and fit checks; with ``strata``, also the stratum codes and levels."""
    if isinstance(covariates, str):
        covariates = [covariates]
    sub, t, e, n_excl = survival_frame(df, duration, event, [*covariates, *strata], function=function,
                                        numeric=list(covariates))
    design = _make_design(sub, covariates, e)
    codes, levels = strata_codes(sub, strata) if strata else (None, ())
    # exact collinearity and (unless Firth) monotone likelihood, judged on the full design for both
    # engines (a stepwise search only visits sub-models, which inherit a clean verdict). The
    # monotone-likelihood verdict is for an unstratified model; a stratified fit relies on its
    # convergence check instead
    from ._fitcheck import check_cox

    check_cox(t, e, design.matrix(sub), _design_labels(design), what, firth=firth or bool(strata))
    return sub, t, e, n_excl, design, (codes, levels)


def _firth_cox_r(t: np.ndarray, e: np.ndarray, X: np.ndarray, ties: str) -> dict[str, Any]:
    """R engine of Firth's Cox model: survival's partial likelihood, information and score
    residuals at each iterate (``r/survival.R``), the penalty's gradient by central differences."""
    from .. import r_bridge

    r_bridge.require("survival")
    out = r_bridge.call("h2s_firth_cox", np.asarray(t, float), np.asarray(e, float), np.asarray(X, float), ties)
    if not bool(out["converged"]):
        raise ConvergenceError("Cox model: Firth's penalised partial likelihood did not converge (R engine)")
    p = X.shape[1]
    return {"beta": np.atleast_1d(np.asarray(out["coef"], float)),
            "vcov": np.asarray(out["var"], float).reshape(p, p),
            "loglik": float(out["loglik"]), "loglik0": float(out["loglik0"])}


def _r_covariates(sub: pd.DataFrame, design: _Design) -> dict[str, Any]:
    """The design's covariates as R sees them: the i-th under the generated name ``v<i>``, a
    categorical one as a factor of level codes ``l1..lm`` in the design's level order (so the
    coefficient order matches and no name or level text reaches R)."""
    from .. import r_bridge

    cols: dict[str, Any] = {}
    for v, cov in zip(r_bridge.safe_names(len(design.covariates)), design.covariates):
        if cov in design.levels:
            pos = {_key(lev): i for i, lev in enumerate(design.levels[cov])}
            codes = [-1 if pd.isna(x) else pos.get(_key(x), -1) for x in sub[cov]]
            cols[v] = r_bridge.coded_factor(codes, len(design.levels[cov]))
        else:
            cols[v] = sub[cov].to_numpy(dtype=float)
    return cols


def _r_frame(sub: pd.DataFrame, duration: str, event: str, design: _Design, t: np.ndarray, e: np.ndarray,
             strata: tuple[np.ndarray | None, tuple] = (None, ())) -> pd.DataFrame:
    """Data for R: ``h2s_time``, ``h2s_event``, the covariates under generated names and, for a
    stratified model, ``h2s_strata``: the stratum codes as a factor of levels l1..lk."""
    frame = pd.DataFrame({"h2s_time": t, "h2s_event": e.astype(int), **_r_covariates(sub, design)})
    codes, levels = strata
    if codes is not None:
        from .. import r_bridge

        frame["h2s_strata"] = r_bridge.coded_factor(list(codes), len(levels))
    return frame


def _r_unsafe(design: _Design, names: Any) -> list[str]:
    """Covariate names for R's generated names (``v2`` -> the design's 2nd covariate)."""
    from .. import r_bridge

    back = dict(zip(r_bridge.safe_names(len(design.covariates)), design.covariates))
    return [back.get(str(n), str(n)) for n in np.atleast_1d(names if names is not None else [])]


def fit_cph(df: pd.DataFrame, duration: str | None = None, event: str | None = None,
            covariates: Sequence[str] | None = None, ties: str = "efron",
            engine: str | None = None, firth: bool = False, formula: str | None = None,
            strata: Sequence[str] | None = None) -> CoxModel:
    """Fit a Cox proportional hazards model (``rms::cph`` or the numpy engine).

    Maximises the partial likelihood
    ``l(b) = sum_j [ sum_{i in D_j} x_i'b - sum_{l=0}^{d_j-1} log(sum_{R_j} e^{x'b} - l/d_j sum_{D_j} e^{x'b}) ]``
    (Efron ties; Breslow drops the ``l/d_j`` term) by Newton-Raphson. Categorical covariates are
    dummy-coded against their first level (category order, else sorted).

    Before either engine fits, an exactly collinear design (naming the aliased columns) and a
    monotone likelihood -- a covariate or level along which every event has the largest
    ``x'b`` of its risk set, e.g. a level without events, so that a hazard ratio is 0 or
    infinite -- raise :class:`~her2stats.errors.ConvergenceError` naming the covariates
    (:mod:`._fitcheck`). ``firth=True`` maximises Firth's penalised partial likelihood
    ``l(b) + 1/2 log det I(b)`` instead (Heinze & Schemper 2001; finite under monotone
    likelihood), with variance ``I(b)^-1``; ``loglik``/``loglik_null`` are then penalised. The
    R engine evaluates survival's partial likelihood, information and score residuals and
    differentiates the penalty numerically (``coxphf`` is not in Debian); ``r_fit`` is None.

    ``formula="Surv(time, event) ~ rcs(age, 4) + er * grade"`` replaces ``duration``, ``event``
    and ``covariates``: parsed in Python (:func:`her2stats.stats.design.parse_formula`; never
    sent to R), with ``rcs``, ``pol``, ``catg``, ``*`` and ``:`` in rms's parametrisation
    (coefficients named as ``rms::cph`` names them). A formula of plain columns gives the
    keyword fit; ``strat(x)`` in a formula of plain columns is ``strata=["x"]``.

    ``strata`` (column names) fits the stratified model ``l(b) = sum_s l_s(b)``: each stratum (each
    combination of the strata columns' values) has its own risk sets and its own baseline hazard,
    the coefficients are shared (``coxph(Surv(t, e) ~ x + strata(s))``, rms ``strat(s)``;
    Therneau & Grambsch 2000, sec. 3.3). Rows with a missing stratum are excluded and counted.
    ``baseline_survival(times, stratum=...)`` and ``predict_survival`` use the row's stratum.

    Examples
    --------
    >>> lung = pd.read_csv("tests/data/lung.csv").assign(dead=lambda d: d.status - 1)
    >>> m = fit_cph(lung, "time", "dead", ["age", "sex"], engine="python")
    >>> m.params.round(4).tolist()   # R: coef(coxph(Surv(time, status) ~ age + sex, lung))
    [0.017, -0.5132]
    """
    if ties not in ("efron", "breslow"):
        raise InputError(f"ties must be 'efron' or 'breslow', got {ties!r}")
    if formula is not None or duration is None or event is None or covariates is None:
        if strata is not None:
            raise InputError("fit_cph: with formula=, stratify by strat(...) in the formula, not strata=")
        return _fit_cph_formula(df, formula, duration, event, covariates, ties, engine, firth)
    cov_list = [covariates] if isinstance(covariates, str) else list(covariates)
    strata = _check_strata(strata, cov_list, duration, event, "fit_cph")
    if firth and strata:
        raise InputError("fit_cph: firth=True with strata is not available; fit the stratified model by maximum "
                         "likelihood or drop the strata")
    sub, t, e, n_excl, design, strat = _cox_prepare(df, duration, event, covariates, "fit_cph (Cox model)",
                                                    firth=firth, function="fit_cph", strata=strata)
    return _fit_cph_design(sub, t, e, n_excl, design, duration, event, ties, resolve_engine(engine), firth,
                           strata=strata, strat=strat)


def _fit_cph_design(sub, t, e, n_excl, design, duration, event, ties, eng, firth=False, strata=(),
                    strat=(None, ())) -> CoxModel:
    """fit_cph on prepared rows and a design that passed (or is a sub-model of one that passed) the checks."""
    names = list(design.columns)
    r_fit = None
    codes, levels = strat
    if firth:
        fit = (_firth_cox_r if eng == "r" else _fit_cox_firth_numpy)(t, e, design.matrix(sub), ties)
        beta, vcov, loglik, loglik0 = fit["beta"], fit["vcov"], fit["loglik"], fit["loglik0"]
    elif eng == "r":
        from .. import r_bridge

        r_bridge.require("rms", "survival")
        rdf = _r_frame(sub, duration, event, design, t, e, strat)
        r_fit = r_bridge.call("h2s_fit_cph", rdf, r_bridge.safe_names(len(design.covariates)), ties,
                              codes is not None, convert=False)
        out = r_bridge.call("h2s_cph_summary", r_fit)
        beta = np.asarray(out["coef"], float)
        vcov = np.asarray(out["var"], float).reshape(len(names), len(names))
        loglik, loglik0 = float(out["loglik"][1]), float(out["loglik"][0])
        if len(beta) != len(names):
            raise InputError(f"R returned {len(beta)} coefficients for design columns {names}")
    else:
        fit = _fit_cox_numpy(t, e, design.matrix(sub), ties, strata=codes)
        beta, vcov, loglik, loglik0 = fit["beta"], fit["vcov"], fit["loglik"], fit["loglik0"]
    return _cox_model(sub, t, e, n_excl, design, duration, event, ties, eng, firth, r_fit,
                      (beta, vcov, loglik, loglik0), strata, levels)


def _cox_model(sub, t, e, n_excl, design, duration, event, ties, eng, firth, r_fit, fit, strata=(),
               levels=()) -> CoxModel:
    """The CoxModel of a fit ``(beta, vcov, loglik, loglik0)`` on the rows ``sub`` (keyword and formula paths)."""
    beta, vcov, loglik, loglik0 = fit
    names = list(design.columns)
    data = sub.copy()
    data[duration] = t
    data[event] = e
    return CoxModel(data=data, duration=duration, event=event, covariates=design.covariates,
                    params=pd.Series(beta, index=names), vcov=pd.DataFrame(vcov, index=names, columns=names),
                    loglik=loglik, loglik_null=loglik0, n=len(sub), n_events=int(e.sum()), n_excluded=n_excl,
                    ties=ties, engine=eng, r_fit=r_fit, design=design, firth=bool(firth),
                    strata=tuple(strata), strata_levels=tuple(levels),
                    method="Cox proportional hazards, Firth's penalised partial likelihood" if firth
                    else "Cox proportional hazards, stratified" if strata else "Cox proportional hazards")


# =========================================================================== cox()
@dataclass(frozen=True, repr=False)
class PHTestResult(Result):
    """Test of proportional hazards per term and globally (``survival::cox.zph``, transform="km")."""

    table: pd.DataFrame   # term, chisq, df, p_value (last row GLOBAL)
    transform: str
    engine: str
    method: str = "Grambsch-Therneau score test"
    #: scaled Schoenfeld residuals, one row per event: ``time``, ``g`` (the transformed time) and
    #: one column per design column, ``beta_j + d (V r_i)_j`` (``cox.zph``'s ``y``)
    residuals: pd.DataFrame | None = field(default=None, compare=False, repr=False)

    @property
    def global_p(self) -> float:
        return float(self.table.loc[self.table["term"] == "GLOBAL", "p_value"].iloc[0])

    def to_frame(self) -> pd.DataFrame:
        return self.table

    def plot(self, columns: Sequence[str] | None = None, df: int = 4, axes: Any = None, level: float = 0.95) -> Any:
        """Scaled Schoenfeld residuals against transformed time, one panel per design column
        (``plot.cox.zph``): the points, a natural cubic spline smooth with ``df`` degrees of freedom
        (least squares, as ``plot.cox.zph``'s ``ns(x, df)``) and its pointwise ``level`` band. A
        flat smooth means a constant coefficient (proportional hazards); a trend shows how the
        log hazard ratio changes with time. The x axis is labelled in the original time units."""
        import matplotlib.pyplot as plt

        if self.residuals is None:
            raise InputError("ph_test result has no residuals to plot")
        res = self.residuals
        cols = [c for c in res.columns if c not in ("time", "g")] if columns is None else list(columns)
        bad = [c for c in cols if c not in res.columns]
        if bad:
            raise InputError(f"plot: column(s) {bad} are not among the residual columns "
                             f"{[c for c in res.columns if c not in ('time', 'g')]}")
        if axes is None:
            _, axes = plt.subplots(1, len(cols), figsize=(4.2 * len(cols), 3.6), squeeze=False)
            axes = axes[0]
        axes = np.atleast_1d(axes)
        g = res["g"].to_numpy(float)
        grid = np.linspace(g.min(), g.max(), 100)
        basis = _ns_basis(g, df)
        z = _core.z_value(level)
        for ax, c in zip(axes, cols):
            y = res[c].to_numpy(float)
            coef, *_ = np.linalg.lstsq(basis, y, rcond=None)
            resid = y - basis @ coef
            sigma2 = float(resid @ resid) / max(len(y) - basis.shape[1], 1)
            cov = sigma2 * np.linalg.pinv(basis.T @ basis)
            bg = _ns_basis(grid, df, knots_from=g)
            fit = bg @ coef
            se = np.sqrt(np.einsum("ij,jk,ik->i", bg, cov, bg))
            ax.scatter(g, y, s=8, color="0.45")
            ax.plot(grid, fit, color="k", lw=1.5)
            ax.plot(grid, fit - z * se, color="k", lw=0.8, ls="--")
            ax.plot(grid, fit + z * se, color="k", lw=0.8, ls="--")
            ax.axhline(0.0, color="0.8", lw=0.8)
            row = self.table[self.table["term"] == c]
            ttl = f"{c}" + (f" (p = {float(row['p_value'].iloc[0]):.3g})" if len(row) else "")
            ax.set_title(ttl, fontsize=9)
            ax.set_ylabel(f"Beta(t) for {c}")
            ticks = np.quantile(g, [0, 0.25, 0.5, 0.75, 1])
            order = np.argsort(g)
            labels = np.interp(ticks, g[order], res["time"].to_numpy(float)[order])
            ax.set_xticks(ticks)
            ax.set_xticklabels([f"{v:.3g}" for v in labels])
            ax.set_xlabel(f"Time ({self.transform} scale)")
        return axes


def _ns_basis(x: np.ndarray, df: int, knots_from: np.ndarray | None = None) -> np.ndarray:
    """Natural cubic spline basis with an intercept, ``df`` columns, interior knots at quantiles of
    the data and boundary knots at its range (the truncated-power form of a restricted cubic spline)."""
    ref = np.asarray(x if knots_from is None else knots_from, float)
    x = np.asarray(x, float)
    nk = max(df, 2)
    knots = np.quantile(ref, np.linspace(0, 1, nk))
    if len(np.unique(knots)) < nk:
        knots = np.linspace(ref.min(), ref.max(), nk)
    k_last, k_prev = knots[-1], knots[-2]
    cube = lambda v: np.maximum(v, 0.0) ** 3  # noqa: E731
    cols = [np.ones_like(x), x]
    for kj in knots[:-2]:
        cols.append((cube(x - kj) - cube(x - k_prev) * (k_last - kj) / (k_last - k_prev)
                     + cube(x - k_last) * (k_prev - kj) / (k_last - k_prev)) / (k_last - knots[0]) ** 2)
    return np.column_stack(cols)


@dataclass(frozen=True, repr=False)
class CoxResult(Result):
    """Cox model report: HR table, concordance with CI, AIC, likelihood-ratio test, PH test."""

    summary: pd.DataFrame
    concordance: ConcordanceResult
    aic: float
    loglik: float
    loglik_null: float
    lr_statistic: float
    lr_df: int
    lr_p_value: float
    n: int
    n_events: int
    n_excluded: int
    covariates: tuple[str, ...]
    steps: pd.DataFrame | None
    ties: str
    engine: str
    model: CoxModel = field(compare=False, default=None)
    method: str = "Cox proportional hazards"

    def to_frame(self) -> pd.DataFrame:
        return self.summary

    def ph_test(self, transform: str = "km") -> PHTestResult:
        """Schoenfeld-residual score test of proportional hazards (cox.zph, survival >= 3.0).

        For each term, the score test of ``theta = 0`` in ``beta(t) = beta + theta g(t)`` at the
        fitted beta, with ``g`` = 1 - KM(t-) centred over event times (``transform="km"``),
        using the full information matrix of (beta, theta); the global test frees all thetas.
        """
        if transform not in ("km", "identity", "rank", "log"):
            raise InputError(f"transform must be 'km', 'identity', 'rank' or 'log', got {transform!r}")
        m = self.model
        if getattr(m, "firth", False):
            raise InputError("ph_test: the Schoenfeld score test assumes the maximum-likelihood fit; a Firth-penalised "
                             "Cox model (firth=True) has no such test here")
        if self.engine == "r":
            from .. import r_bridge

            out = r_bridge.call("h2s_cox_zph", m.r_fit, transform)
            tab = pd.DataFrame({"term": _r_unsafe(m.design, out["term"]), "chisq": np.asarray(out["chisq"], float),
                                "df": np.asarray(out["df"], int), "p_value": np.asarray(out["p"], float)})
            y = np.asarray(out["y"], float).reshape(-1, len(m.design.columns), order="F")
            residuals = pd.DataFrame(y, columns=list(m.design.columns))
            residuals.insert(0, "g", np.asarray(out["x"], float))
            residuals.insert(0, "time", np.asarray(out["time"], float))
            return PHTestResult(table=tab, transform=transform, engine="r", residuals=residuals)
        table, residuals = _cox_zph_numpy(m, transform)
        return PHTestResult(table=table, transform=transform, engine="python", residuals=residuals)

    def plot(self, ax: Any = None) -> Any:
        """Forest plot of hazard ratios with 95% CIs (log axis)."""
        import matplotlib.pyplot as plt

        s = self.summary
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 0.45 * len(s) + 1.2))
        y = np.arange(len(s))[::-1]
        ax.errorbar(s["HR"], y, xerr=[s["HR"] - s["ci_low"], s["ci_high"] - s["HR"]], fmt="s", color="k", capsize=3)
        ax.axvline(1, color="grey", linestyle="--", linewidth=1)
        ax.set_xscale("log")
        ax.set_yticks(y)
        ax.set_yticklabels(s["term"])
        ax.set_xlabel("Hazard ratio (95% CI)")
        ax.set_title(f"C = {self.concordance.concordance:.3f}, AIC = {self.aic:.2f}", fontsize=9)
        return ax


def _cox_zph_numpy(model: CoxModel, transform: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    sub = model.data
    t = sub[model.duration].to_numpy(float)
    e = sub[model.event].to_numpy().astype(int)
    X = model.design.matrix(sub)
    beta = model.params.to_numpy()
    p = X.shape[1]
    # per event time (within each stratum): score and information contributions
    if model.strata:
        codes, _ = strata_codes(sub, model.strata, model.strata_levels)
        parts = [_CoxData(t[codes == k], e[codes == k], X[codes == k], model.ties)
                 for k in range(len(model.strata_levels)) if e[codes == k].any()]
    else:
        parts = [_CoxData(t, e, X, model.ties)]
    per = [cd.terms(beta, per_time=True) for cd in parts]
    event_times = np.concatenate([cd.event_times for cd in parts])
    d = np.concatenate([cd.d for cd in parts])
    # g(t) at each distinct event time (the transform uses all rows, as cox.zph)
    if transform == "km":
        km = km_table(t, e)
        # 1 - S(t-) : the KM just before t
        j = np.searchsorted(km["time"].to_numpy(), event_times, side="left")
        s_prev = np.concatenate([[1.0], km["survival"].to_numpy()])[j]
        g_t = 1 - s_prev
    elif transform == "identity":
        g_t = event_times.astype(float)
    elif transform == "log":
        g_t = np.log(event_times)
    else:
        ranks = sps.rankdata(t)  # rank(times) over all observations, as cox.zph
        lookup = dict(zip(t, ranks))
        g_t = np.array([lookup[x] for x in event_times])
    g_raw = g_t
    g_t = g_t - np.sum(g_t * d) / d.sum()   # centre over events (tied deaths counted each)
    V_t = np.concatenate([r["V_t"] for r in per])
    score_t = np.concatenate([r["score_t"] for r in per])
    # Schoenfeld residuals per death, x_i - (mean of the tie-corrected risk-set means at its time)
    res_parts = []
    for cd, r in zip(parts, per):
        mu_bar = (np.add.reduceat(cd.x_dead, cd.slot_start, axis=0) - r["score_t"]) / cd.d[:, None]
        res_parts.append(cd.x_dead - mu_bar[cd.ev_idx])
    schoen = np.concatenate(res_parts)
    scaled = schoen @ (model.vcov.to_numpy() * d.sum()) + beta
    residuals = pd.DataFrame(scaled, columns=list(model.design.columns))
    residuals.insert(0, "g", np.repeat(g_raw, d))
    residuals.insert(0, "time", np.repeat(event_times, d))
    # in time order within each stratum, strata in code order (as cox.zph)
    I11 = V_t.sum(axis=0)
    I12 = np.einsum("m,mij->ij", g_t, V_t)
    I22 = np.einsum("m,mij->ij", g_t ** 2, V_t)
    imat = np.block([[I11, I12], [I12, I22]])
    u = np.concatenate([np.zeros(p), (g_t[:, None] * score_t).sum(axis=0)])
    rows = []
    for name, cols in model.design.terms:
        kk = list(range(p)) + [p + c for c in cols]
        sub_i = imat[np.ix_(kk, kk)]
        uu = u[kk]
        stat = float(uu @ np.linalg.solve(sub_i, uu))
        rows.append({"term": name, "chisq": stat, "df": len(cols), "p_value": float(sps.chi2.sf(stat, len(cols)))})
    stat = float(u @ np.linalg.solve(imat, u))
    rows.append({"term": "GLOBAL", "chisq": stat, "df": p, "p_value": float(sps.chi2.sf(stat, p))})
    return pd.DataFrame(rows), residuals


def _stepwise_numpy(sub, t, e, covariates, direction, ties) -> tuple[list[str], pd.DataFrame]:
    """AIC stepwise over terms as R's ``step()``: start from the full model; each step tries
    dropping each term (and, for "both", re-adding each dropped term) and keeps the best AIC."""
    full = list(covariates)

    def aic_of(covs: list[str]) -> float:
        if not covs:
            cd = _CoxData(t, e, np.zeros((len(t), 0)), ties)
            return -2 * _null_loglik(cd)
        design = _make_design(sub, covs, e)
        fit = _fit_cox_numpy(t, e, design.matrix(sub), ties)
        return -2 * fit["loglik"] + 2 * len(fit["beta"])

    current = list(full)
    cur_aic = aic_of(current)
    history = [{"step": "start", "term": "", "aic": cur_aic}]
    while True:
        candidates = []
        for c in current:
            covs = [x for x in current if x != c]
            candidates.append((aic_of(covs), f"- {c}", covs))
        if direction == "both":
            for c in full:
                if c not in current:
                    covs = [x for x in full if x in current or x == c]
                    candidates.append((aic_of(covs), f"+ {c}", covs))
        if not candidates:
            break
        best = min(candidates, key=lambda r: r[0])
        if best[0] >= cur_aic - 1e-12:
            break
        cur_aic, current = best[0], best[2]
        history.append({"step": best[1][0], "term": best[1][2:], "aic": cur_aic})
    if not current:
        raise EmptyModelError("stepwise selection removed every covariate (the null model has the lowest AIC); "
                         "there is nothing to report as a Cox model")
    return current, pd.DataFrame(history)


def _null_loglik(cd: _CoxData) -> float:
    return cd.terms(np.zeros(cd.X.shape[1]), need_info=False)["loglik"] if cd.X.shape[1] else \
        _CoxData(cd.t, cd.e, np.zeros((len(cd.t), 1)), cd.ties).terms(np.zeros(1), need_info=False)["loglik"]


@renamed_args(conf_level="level")
def cox(df: pd.DataFrame, duration: str, event: str, covariates: Sequence[str], stepwise: str | None = None,
        ties: str = "efron", level: float = 0.95, engine: str | None = None, firth: bool = False,
        strata: Sequence[str] | None = None) -> CoxResult:
    """Cox regression report: hazard ratios with CIs and Wald p-values, Harrell's C with CI,
    AIC, likelihood-ratio test and (via ``.ph_test()``) the cox.zph proportional-hazards test.

    ``stepwise="both"`` or ``"backward"`` selects terms by AIC = -2 log L + 2k starting from
    the full model, as ``step(coxph(...))`` (a factor enters or leaves as a whole), the
    procedure of seed 004. HR = exp(b), CI = exp(b +- z se), p = 2 (1 - Phi(|b/se|)).

    Monotone likelihood and exact collinearity raise ConvergenceError on both engines before
    fitting (see :func:`fit_cph`); ``firth=True`` fits Firth's penalised partial likelihood
    (Wald CIs from ``I(b)^-1``, penalised likelihood-ratio test, no AIC, no stepwise).

    ``strata`` fits the stratified model (see :func:`fit_cph`); Harrell's C then counts only pairs
    within a stratum, as ``survival::concordance`` of a stratified ``coxph`` fit, and the PH test
    runs within strata (``cox.zph``).

    Examples
    --------
    >>> lung = pd.read_csv("tests/data/lung.csv").assign(dead=lambda d: d.status - 1)
    >>> res = cox(lung, "time", "dead", ["age", "sex", "ph.ecog"])
    >>> res.summary.round(3)       # R: summary(coxph(Surv(time, status) ~ age + sex + ph.ecog, lung))
    ... # sex HR 0.575 (0.414-0.799), p = 0.000986; ph.ecog HR 1.590 (1.273-1.986); C = 0.637
    """
    if stepwise not in (None, "both", "backward"):
        raise InputError(f"stepwise must be None, 'both' or 'backward', got {stepwise!r}")
    if ties not in ("efron", "breslow"):
        raise InputError(f"ties must be 'efron' or 'breslow', got {ties!r}")
    if isinstance(covariates, str):
        covariates = [covariates]
    if firth and stepwise is not None:
        raise InputError("cox: firth=True with stepwise selection is not available (the AIC of a penalised fit is "
                         "not the one R's step() uses); select on a maximum-likelihood model first")
    strata = _check_strata(strata, list(covariates), duration, event, "cox")
    if strata and (firth or stepwise is not None):
        raise InputError("cox: strata with firth=True or stepwise selection is not available; fit the stratified "
                         "model by maximum likelihood on the chosen covariates")
    sub, t, e, n_excl, design, strat = _cox_prepare(df, duration, event, covariates, "cox (Cox model)", firth=firth,
                                                    strata=strata)
    eng = resolve_engine(engine)
    steps = None
    selected = list(covariates)
    if stepwise is not None:
        if eng == "r":
            from .. import r_bridge

            rdf = _r_frame(sub, duration, event, design, t, e)
            out = r_bridge.call("h2s_cox_step", rdf, r_bridge.safe_names(len(design.covariates)), ties, stepwise)
            kept = set(_r_unsafe(design, out["selected"]))
            selected = [c for c in covariates if c in kept]
            steps = pd.DataFrame({"step": np.atleast_1d(out["step"]),
                                  "term": [t if t == "" else _r_unsafe(design, [t])[0] for t in np.atleast_1d(out["term"])],
                                  "aic": np.atleast_1d(out["aic"])})
            if not selected:
                raise EmptyModelError("stepwise selection removed every covariate (the null model has the lowest AIC)")
        else:
            selected, steps = _stepwise_numpy(sub, t, e, covariates, stepwise, ties)
    zc = sps.norm.ppf(0.5 + level / 2)
    if firth:
        model = _fit_cph_design(sub, t, e, n_excl, design, duration, event, ties, eng, firth=True)
        beta, se = model.params, model.se
        loglik, loglik0 = model.loglik, model.loglik_null
        lp = model.design.matrix(sub) @ beta.to_numpy()
        if eng == "r":
            from .. import r_bridge

            cc = r_bridge.call("h2s_concordance", t, e.astype(float), lp)
            conc_c, conc_var, counts = float(cc["concordance"]), float(cc["var"]), np.asarray(cc["count"], float)
        else:
            cc = concordance_numpy(t, e, lp)
            conc_c, conc_var, counts = cc["concordance"], cc["var"], cc["count"]
        aic = float("nan")   # not defined for a penalised fit
        model = CoxModel(**{**{f: getattr(model, f) for f in model.__dataclass_fields__}, "n_excluded": n_excl})
    elif eng == "r":
        from .. import r_bridge

        design = _make_design(sub, selected, e)
        rdf = _r_frame(sub, duration, event, design, t, e, strat)
        r_fit = r_bridge.call("h2s_fit_cph", rdf, r_bridge.safe_names(len(design.covariates)), ties,
                              bool(strata), convert=False)
        out = r_bridge.call("h2s_coxph_summary", r_fit)
        names = list(design.columns)
        beta = pd.Series(np.asarray(out["coef"], float), index=names)
        se = pd.Series(np.asarray(out["se"], float), index=names)
        vcov = np.asarray(out["var"], float).reshape(len(names), len(names))
        loglik0, loglik = (float(x) for x in np.asarray(out["loglik"], float))
        data = sub.copy()
        data[duration] = t
        data[event] = e
        model = CoxModel(data=data, duration=duration, event=event, covariates=design.covariates, params=beta,
                         vcov=pd.DataFrame(vcov, index=names, columns=names), loglik=loglik, loglik_null=loglik0,
                         n=len(sub), n_events=int(e.sum()), n_excluded=n_excl, ties=ties, engine="r",
                         r_fit=r_fit, design=design, strata=strata, strata_levels=strat[1],
                         method="Cox proportional hazards, stratified" if strata else "Cox proportional hazards")
        conc_c, conc_var = float(out["concordance"]), float(out["concordance_var"])
        counts = np.asarray(out["count"], float)
        aic = float(out["aic"])
    else:
        design = _make_design(sub, selected, e)   # the full design passed the checks; this is a sub-model
        model = _fit_cph_design(sub, t, e, n_excl, design, duration, event, ties, "python", strata=strata,
                                strat=strat)
        beta, se = model.params, model.se
        loglik, loglik0 = model.loglik, model.loglik_null
        lp = model.design.matrix(sub) @ beta.to_numpy()
        cc = concordance_numpy(t, e, lp, strata=strat[0])
        conc_c, conc_var, counts = cc["concordance"], cc["var"], cc["count"]
        aic = -2 * loglik + 2 * len(beta)
        model = CoxModel(**{**{f: getattr(model, f) for f in model.__dataclass_fields__}, "n_excluded": n_excl})
    z = beta / se
    summary = pd.DataFrame({
        "term": beta.index, "covariate": [_term_of(model.design, c) for c in beta.index],
        "coef": beta.to_numpy(), "se": se.to_numpy(), "HR": np.exp(beta.to_numpy()),
        "ci_low": np.exp(beta.to_numpy() - zc * se.to_numpy()), "ci_high": np.exp(beta.to_numpy() + zc * se.to_numpy()),
        "z": z.to_numpy(), "p_value": 2 * sps.norm.sf(np.abs(z.to_numpy())),
        "reference": [_reference_of(model.design, c) for c in beta.index],
    })
    conc_se = math.sqrt(conc_var)
    conc = ConcordanceResult(concordance=conc_c, se=conc_se, ci_low=conc_c - zc * conc_se, ci_high=conc_c + zc * conc_se,
                             concordant=counts[0], discordant=counts[1], tied_x=counts[2], tied_y=counts[3],
                             tied_xy=counts[4], n=len(sub), engine=eng, level=level)
    lr = 2 * (loglik - loglik0)
    return CoxResult(summary=summary, concordance=conc, aic=aic, loglik=loglik, loglik_null=loglik0, lr_statistic=lr,
                     lr_df=len(beta), lr_p_value=float(sps.chi2.sf(lr, len(beta))), n=len(sub),
                     n_events=int(e.sum()), n_excluded=n_excl, covariates=tuple(selected), steps=steps, ties=ties,
                     engine=eng, model=model,
                     method="Cox proportional hazards, Firth's penalised partial likelihood" if firth
                     else "Cox proportional hazards, stratified" if strata else "Cox proportional hazards")


def _term_of(design: _Design, column: str) -> str:
    for name, cols in design.terms:
        if column in [design.columns[c] for c in cols]:
            return name
    return column


def _reference_of(design: _Design, column: str) -> str | None:
    term = _term_of(design, column)
    if term in design.levels:
        return str(design.levels[term][0])
    return None


# Helper the nomogram uses, under a public name
r_covariates = _r_covariates


# =========================================================================== formula interface
def _fit_cph_formula(df, formula, duration, event, covariates, ties, engine, firth) -> CoxModel:
    """``fit_cph(formula=...)``: the design layer's terms (splines, polynomials, interactions), fitted
    by the same numpy partial likelihood or by ``rms::cph`` on a design spec of generated names."""
    from .design import FormulaDesign, build_design, check_r_names, column_labels, parse_formula, r_design

    if formula is None:
        raise InputError("fit_cph needs duration=, event= and covariates=, or formula='Surv(time, event) ~ ...'")
    if duration is not None or event is not None or covariates is not None:
        raise InputError("fit_cph: give either formula= or duration/event/covariates, not both")
    parsed = parse_formula(formula, survival=True, where="fit_cph")
    duration, event = parsed.response
    covs = list(parsed.covariates)
    eng = resolve_engine(engine)
    plain = not parsed.has_interactions and all(parsed.variables[v].kind == "auto" for v in covs)
    if parsed.strata:
        # strat() of plain columns is fit_cph's strata= (stratified partial likelihood)
        if not plain:
            raise InputError(f"fit_cph: strat({', '.join(parsed.strata)}) with splines, polynomials, catg() or "
                             "interactions is not available yet; stratify a model of plain columns")
        return fit_cph(df, duration, event, covs, ties=ties, engine=eng, firth=firth, strata=list(parsed.strata))
    if plain:
        return fit_cph(df, duration, event, covs, ties=ties, engine=eng, firth=firth)  # the keyword fit
    sub, t, e, n_excl = survival_frame(df, duration, event, covs, function="fit_cph", numeric=covs)
    sub = sub.reset_index(drop=True)
    terms = build_design(sub, parsed, "fit_cph")
    design = FormulaDesign(tuple(terms))
    names = list(design.columns)
    check_unique_labels(names, "fit_cph")
    X = design.matrix(sub)
    from ._fitcheck import check_cox

    check_cox(t, e, X, column_labels(terms), "fit_cph (Cox model)", firth=firth)
    r_fit = None
    if firth:
        fit = (_firth_cox_r if eng == "r" else _fit_cox_firth_numpy)(t, e, X, ties)
        beta, vcov, loglik, loglik0 = fit["beta"], fit["vcov"], fit["loglik"], fit["loglik0"]
    elif eng == "r":
        from .. import r_bridge

        r_bridge.require("rms", "survival")
        rdata, spec, expected = r_design(sub, terms, extra={"h2s_time": t, "h2s_event": e.astype(int)})
        r_fit = r_bridge.call("h2s_cph_fit_spec", rdata, spec, [], ties, convert=False)
        check_r_names(list(r_bridge.call("h2s_cph_names", r_fit)), expected, "fit_cph")
        out = r_bridge.call("h2s_cph_summary", r_fit)
        beta = np.asarray(out["coef"], float)
        vcov = np.asarray(out["var"], float).reshape(len(names), len(names))
        loglik, loglik0 = float(out["loglik"][1]), float(out["loglik"][0])
    else:
        fit = _fit_cox_numpy(t, e, X, ties)
        beta, vcov, loglik, loglik0 = fit["beta"], fit["vcov"], fit["loglik"], fit["loglik0"]
    return _cox_model(sub, t, e, n_excl, design, duration, event, ties, eng, firth, r_fit,
                      (beta, vcov, loglik, loglik0))


# Helpers the Cox validation module uses, under public names
cox_data = _cox_data
fit_cox_numpy = _fit_cox_numpy
baseline_cumhaz = _baseline_cumhaz
r_frame = _r_frame
check_strata = _check_strata
prepare_cox = _cox_prepare
