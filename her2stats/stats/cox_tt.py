"""Cox models with time-varying coefficients: ``beta_j(t) = beta_j + gamma_j g(t)`` for chosen
covariates, the usual remedy when the proportional-hazards test fails for them
(``coxph(Surv(t, e) ~ x + tt(x), tt = function(x, t, ...) x * g(t))``).

``g`` is ``log(t)`` (a hazard ratio that drifts log-linearly with time) or a step ``1{t > c}``
(one hazard ratio before ``c``, another after: the ``survSplit`` analysis at one cut point). The
time-dependent covariate ``x g(t)`` is evaluated at each event time for every subject at risk, so
the partial likelihood is

``l(b) = sum_k [ sum_{i in D_k} z_i(t_k)'b - sum_{l<d_k} log( sum_{R_k} e^{z(t_k)'b} - l/d_k sum_{D_k} e^{z(t_k)'b} ) ]``

(Efron; Breslow without the ``l/d_k`` terms), maximised by Newton-Raphson. The Python engine
evaluates it event time by event time (numpy); the R engine is ``survival::coxph`` with ``tt()``
on the design columns under generated names. Tests hold the two to 1e-6.

References
----------
Therneau TM, Crowson C, Atkinson E (2023) *Using Time Dependent Covariates and Time Dependent
Coefficients in the Cox Model*, vignette of the survival package, sec. 4. Therneau TM, Grambsch PM
(2000) *Modeling Survival Data*, sec. 6.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from ..engine import resolve_engine
from ..errors import ConvergenceError, InputError
from ..results import Result
from . import _core
from .cox import check_strata, prepare_cox, r_frame

__all__ = ["cox_tt", "CoxTTResult"]


@dataclass(frozen=True, repr=False)
class CoxTTResult(Result):
    """Cox model with time-varying coefficients: the time-fixed terms and, per ``tt`` covariate, its
    interaction with ``g(t)`` (term ``"<column>:log(t)"`` or ``"<column>:t>c"``)."""

    summary: pd.DataFrame      # term, coef, se, HR, ci_low, ci_high, z, p_value
    tt: dict[str, Any]
    loglik: float
    loglik_null: float
    lr_statistic: float
    lr_df: int
    lr_p_value: float
    n: int
    n_events: int
    n_excluded: int
    ties: str
    level: float
    engine: str
    strata: tuple[str, ...] = ()
    vcov: pd.DataFrame = field(default=None, compare=False, repr=False)
    method: str = "Cox model with time-varying coefficients (tt)"

    def to_frame(self) -> pd.DataFrame:
        return self.summary

    def hazard_ratio_at(self, column: str, times: Sequence[float]) -> pd.DataFrame:
        """``exp(beta + gamma g(t))`` of a design column with a time-varying coefficient, with its
        Wald CI (``var = V_bb + g^2 V_gg + 2 g V_bg``), at each of ``times``."""
        tt_term = next((t for t in self.summary["term"] if t.startswith(f"{column}:")), None)
        if tt_term is None:
            raise InputError(f"hazard_ratio_at: {column!r} has no time-varying coefficient "
                             f"(terms: {list(self.summary['term'])})")
        kind = self.tt[self.summary.set_index("term").loc[tt_term, "covariate"]]
        tt_ = np.asarray(times, float)
        g = _g(kind, tt_)
        s = self.summary.set_index("term")
        b, c = s.loc[column, "coef"], s.loc[tt_term, "coef"]
        V = self.vcov
        var = V.loc[column, column] + g ** 2 * V.loc[tt_term, tt_term] + 2 * g * V.loc[column, tt_term]
        est = b + c * g
        z = _core.z_value(self.level)
        se = np.sqrt(var)
        return pd.DataFrame({"time": tt_, "HR": np.exp(est), "ci_low": np.exp(est - z * se),
                             "ci_high": np.exp(est + z * se)})


def _g(kind: Any, t: np.ndarray) -> np.ndarray:
    return np.log(t) if kind == "log" else (t > float(kind)).astype(float)


def _check_tt(tt: Any, covariates: Sequence[str]) -> dict[str, Any]:
    if not isinstance(tt, Mapping) or not tt:
        raise InputError("cox_tt: tt must map covariates to 'log' (beta(t) = b + c log t) or a cut time c "
                         "(beta(t) = b + c 1{t > c}), e.g. {'er': 'log'}")
    out = {}
    for col, kind in tt.items():
        if col not in covariates:
            raise InputError(f"cox_tt: tt names {col!r}, which is not among the covariates {list(covariates)}")
        if isinstance(kind, str):
            if kind != "log":
                raise InputError(f"cox_tt: tt[{col!r}] must be 'log' or a cut time, got {kind!r}")
        elif isinstance(kind, bool) or not isinstance(kind, (int, float, np.integer, np.floating)) \
                or not np.isfinite(kind) or kind <= 0:
            raise InputError(f"cox_tt: tt[{col!r}] must be 'log' or a positive cut time, got {kind!r}")
        out[col] = kind if isinstance(kind, str) else float(kind)
    return out


def _tt_terms(t, e, X, Gcols, kinds, ties, strata, beta, need_info=True):
    """Log partial likelihood, score and information with time-varying columns
    ``X[:, j] g_j(t_k)`` appended for j in ``Gcols``, event time by event time (within strata)."""
    p = X.shape[1] + len(Gcols)
    loglik, score, info = 0.0, np.zeros(p), np.zeros((p, p))
    groups = [np.arange(len(t))] if strata is None else [np.flatnonzero(strata == k) for k in np.unique(strata)]
    for rows in groups:
        ts, es, Xs = t[rows], e[rows], X[rows]
        for tk in np.unique(ts[es == 1]):
            risk = ts >= tk
            dead = risk & (ts == tk) & (es == 1)
            g = np.array([_g(k, np.array([tk]))[0] for k in kinds])
            Z = np.hstack([Xs[risk], Xs[risk][:, Gcols] * g])
            dz = dead[risk]
            eta = Z @ beta
            shift = eta.max()
            w = np.exp(eta - shift)
            S0, S1 = w.sum(), w @ Z
            S2 = (Z * w[:, None]).T @ Z
            Zd, wd = Z[dz], w[dz]
            D0, D1 = wd.sum(), wd @ Zd
            D2 = (Zd * wd[:, None]).T @ Zd
            d = int(dz.sum())
            loglik += float(eta[dz].sum())
            score += Zd.sum(axis=0)
            for l_ in range(d):
                f = l_ / d if ties == "efron" else 0.0
                den = S0 - f * D0
                mu = (S1 - f * D1) / den
                loglik -= np.log(den) + shift
                score -= mu
                if need_info:
                    info += (S2 - f * D2) / den - np.outer(mu, mu)
    return loglik, score, info


def _fit_tt_numpy(t, e, X, Gcols, kinds, ties, strata, max_iter=50, tol=1e-10):
    p = X.shape[1] + len(Gcols)
    beta = np.zeros(p)
    ll, sc, inf = _tt_terms(t, e, X, Gcols, kinds, ties, strata, beta)
    ll0 = ll
    for _ in range(max_iter):
        try:
            step = np.linalg.solve(inf, sc)
        except np.linalg.LinAlgError:
            raise ConvergenceError("cox_tt: the information matrix is singular (collinear terms)") from None
        for _half in range(30):
            nb = beta + step
            nll, nsc, ninf = _tt_terms(t, e, X, Gcols, kinds, ties, strata, nb)
            if np.isfinite(nll) and nll >= ll - 1e-10:
                break
            step = step / 2
        done = abs(nll - ll) < tol * (1 + abs(ll)) or np.max(np.abs(nb - beta)) < 1e-10
        beta, ll, sc, inf = nb, nll, nsc, ninf
        if done:
            return beta, np.linalg.inv(inf), ll, ll0
    raise ConvergenceError(f"cox_tt: Newton-Raphson did not converge in {max_iter} iterations")


def cox_tt(df: pd.DataFrame, duration: str, event: str, covariates: Sequence[str], tt: Mapping[str, Any],
           strata: Sequence[str] | None = None, ties: str = "efron", level: float = 0.95,
           engine: str | None = None) -> CoxTTResult:
    """Cox model where the covariates named in ``tt`` get a time-varying coefficient.

    ``tt={"er": "log"}`` fits ``beta(t) = b + c log(t)`` for ER (a numeric covariate or a
    two-level categorical one, its dummy column); ``tt={"er": 730}`` fits a step: ``b`` before
    day 730 and ``b + c`` after. The row ``"<column>:log(t)"`` (``"<column>:t>730"``) is ``c``: a
    test of ``c = 0`` is a test of proportional hazards for that covariate, and
    :meth:`CoxTTResult.hazard_ratio_at` gives the hazard ratio at chosen times. ``strata`` as in
    :func:`~her2stats.stats.cox.fit_cph`. Rows with missing values are excluded and announced.
    R: ``coxph(Surv(t, e) ~ x + tt(x), tt = function(x, t, ...) x * log(t))``.

    Examples
    --------
    >>> lung = pd.read_csv("tests/data/lung.csv").assign(dead=lambda d: d.status - 1)
    >>> cox_tt(lung, "time", "dead", ["age", "ph.ecog"], tt={"ph.ecog": "log"}).summary
    """
    if ties not in ("efron", "breslow"):
        raise InputError(f"ties must be 'efron' or 'breslow', got {ties!r}")
    level = _core.check_level(level)
    covariates = [covariates] if isinstance(covariates, str) else list(covariates)
    tt = _check_tt(tt, covariates)
    strata = check_strata(strata, covariates, duration, event, "cox_tt")
    sub, t, e, n_excl, design, (codes, levels) = prepare_cox(df, duration, event, covariates, "cox_tt (Cox model)",
                                                             function="cox_tt", strata=strata)
    Gcols, kinds, tt_names, tt_cov = [], [], [], []
    for col, kind in tt.items():
        idx = dict(design.terms)[col]
        if len(idx) != 1:
            raise InputError(f"cox_tt: tt covariate {col!r} has {len(idx)} design columns; a time-varying "
                             "coefficient needs a numeric or two-level covariate")
        Gcols.append(idx[0])
        kinds.append(kind)
        tt_names.append(f"{design.columns[idx[0]]}:" + ("log(t)" if kind == "log" else f"t>{kind:g}"))
        tt_cov.append(col)
    X = design.matrix(sub)
    eng = resolve_engine(engine)
    names = list(design.columns) + tt_names
    if eng == "r":
        from .. import r_bridge

        r_bridge.require("survival")
        rdf = r_frame(sub, duration, event, design, t, e, (codes, levels))
        cols = r_bridge.safe_names(X.shape[1], prefix="x")
        rd = pd.DataFrame({"h2s_time": rdf["h2s_time"], "h2s_event": rdf["h2s_event"],
                           **{c: X[:, j] for j, c in enumerate(cols)}})
        if codes is not None:
            rd["h2s_strata"] = rdf["h2s_strata"]
        out = r_bridge.call("h2s_coxph_tt", rd, cols, [cols[j] for j in Gcols],
                            ["log" if k == "log" else "step" for k in kinds],
                            [0.0 if k == "log" else float(k) for k in kinds], ties, codes is not None)
        beta = np.asarray(out["coef"], float)
        vcov = np.asarray(out["var"], float).reshape(len(names), len(names))
        loglik0, loglik = (float(x) for x in np.asarray(out["loglik"], float))
    else:
        beta, vcov, loglik, loglik0 = _fit_tt_numpy(t, e.astype(int), X, Gcols, kinds, ties, codes)
    se = np.sqrt(np.diag(vcov))
    z = _core.z_value(level)
    covs = [next(c for c, cols in design.terms if j in cols) for j in range(X.shape[1])] + tt_cov
    summary = pd.DataFrame({"term": names, "covariate": covs, "coef": beta, "se": se, "HR": np.exp(beta),
                            "ci_low": np.exp(beta - z * se), "ci_high": np.exp(beta + z * se), "z": beta / se,
                            "p_value": 2 * sps.norm.sf(np.abs(beta / se)),
                            "reference": [str(design.levels[c][0]) if c in design.levels else None for c in covs]})
    lr = 2 * (loglik - loglik0)
    return CoxTTResult(summary=summary, tt=dict(tt), loglik=loglik, loglik_null=loglik0, lr_statistic=lr,
                       lr_df=len(beta), lr_p_value=float(sps.chi2.sf(lr, len(beta))), n=len(sub),
                       n_events=int(e.sum()), n_excluded=n_excl, ties=ties, level=level, engine=eng,
                       strata=tuple(strata), vcov=pd.DataFrame(vcov, index=names, columns=names))
