"""Binary logistic model objects (``fit_lrm``) that feed nomogram, calibrate and validate.

One fit feeds every later step, as one ``rms::lrm(x=TRUE, y=TRUE)`` fit feeds ``nomogram``,
``calibrate`` and ``validate`` in R. The design follows rms's parametrisation exactly, so that
coefficients, points and validation indices can be compared with rms number by number:

* numeric predictors enter linearly (column ``age``);
* ``rcs={"age": 4}`` expands a predictor into a restricted cubic spline with rms's default knot
  quantiles (Harrell 2015, Table 2.3) and rms's normalisation by ``(t_k - t_1)^(2/3)`` (columns
  ``age``, ``age'``, ``age''``); explicit knots may be given as a list;
* categorical / string / boolean predictors are dummy coded against their first level
  (columns ``race=black``...); booleans become the levels ``FALSE``/``TRUE`` as in R.

The Python engine maximises the likelihood by Newton-Raphson (the same algorithm as
``rms::lrm.fit``); ``engine="r"`` fits ``rms::lrm`` through the bridge and keeps the R fit in R
(``LogisticModel.r_fit``) for R-engine nomograms, calibration and validation. Whether the
maximum exists is decided before either engine fits, by the rank of the design and Konis's
linear program for separation (:mod:`._fitcheck`); ``firth=True`` fits Firth's penalised
likelihood instead (:mod:`._firth`, R ``brglm2``).

References
----------
Harrell FE. Regression Modeling Strategies, 2nd ed. Springer 2015 (ch. 2.4 splines, ch. 10-11).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..engine import resolve_engine
from ..errors import ConvergenceError, InputError
from ..results import Result
from . import _core
from ._core import expit, gini_md
from ._names import check_column_names, check_unique_labels

__all__ = ["fit_lrm", "LogisticModel", "Term", "rcs_knots", "rcs_basis", "newton_logistic",
           "newton_logistic_batch", "refit_logistic_batch", "binned_c_index", "concordance_c"]

from .design import (Term, as_levels, build_terms, design_matrix,  # noqa: F401 (re-exported)
                      is_categorical as _is_categorical, levels_of as _levels_of, rcs_basis, rcs_knots)
from .design import ParsedFormula, build_design, check_r_names, parse_formula, r_design


def binary_outcome(y: Any, name: str = "y", event: Any = None) -> tuple[np.ndarray, tuple[Any, Any]]:
    """0/1 float array from a binary outcome; returns (y, (level0, level1)). Missing stays NaN.

    The event follows the package's one rule (:func:`her2stats.stats._core.binary_outcome`): 0/1,
    bool, an ordered Categorical, a data-dictionary variable, or ``event=``; never sorted labels.
    """
    out = _core.binary_outcome(y, name, event=event)
    return out.codes, out.levels


# --------------------------------------------------------------------------- fitting
def newton_logistic(X: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None,
                    offset: np.ndarray | None = None, init: np.ndarray | None = None,
                    maxit: int = 30, tol: float = 1e-10) -> tuple[np.ndarray, np.ndarray, bool]:
    """Maximum-likelihood logistic regression by Newton-Raphson with step halving.

    ``X`` includes the intercept column. Returns (beta, information matrix, converged).
    Converged means the largest absolute score is below ``tol`` times ``max(1, n)``.
    """
    n, p = X.shape
    w = np.ones(n) if weights is None else np.asarray(weights, float)
    off = 0.0 if offset is None else offset
    beta = np.zeros(p) if init is None else np.asarray(init, float).copy()

    def loglik(b: np.ndarray) -> float:
        eta = X @ b + off
        return float(np.sum(w * (y * eta - np.logaddexp(0, eta))))

    ll = loglik(beta)
    info = np.eye(p)
    for _ in range(maxit):
        eta = X @ beta + off
        mu = expit(eta)
        score = X.T @ (w * (y - mu))
        info = (X * (w * mu * (1 - mu))[:, None]).T @ X
        try:
            step = np.linalg.solve(info, score)
        except np.linalg.LinAlgError:
            return beta, info, False
        if np.max(np.abs(score)) < tol * max(1.0, w.sum()) and np.max(np.abs(step)) < 1e-6 * (1 + np.max(np.abs(beta))):
            return beta, info, True
        for _half in range(30):
            new = beta + step
            ll_new = loglik(new)
            if np.isfinite(ll_new) and ll_new >= ll - 1e-12 * abs(ll):
                break
            step = step / 2
        beta, ll = new, ll_new
    eta = X @ beta + off
    mu = expit(eta)
    score = X.T @ (w * (y - mu))
    info = (X * (w * mu * (1 - mu))[:, None]).T @ X
    try:
        last_step = np.max(np.abs(np.linalg.solve(info, score)))
    except np.linalg.LinAlgError:
        return beta, info, False
    return beta, info, bool(np.max(np.abs(score)) < 1e-6 * max(1.0, w.sum()) and last_step < 1e-4 * (1 + np.max(np.abs(beta))))


def newton_logistic_batch(X: np.ndarray, y: np.ndarray, W: np.ndarray, maxit: int = 25,
                          tol: float = 1e-6, init: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """B logistic fits at once: the same ``X`` (with intercept) and ``y``, one row of case weights each.

    Bootstrap samples are frequency weights (``W[b] = bincount(indices_b)``), so the B refits of
    a bootstrap share one design matrix and the Hessians of all replicates come from one matrix
    product ``(W * mu(1-mu)) @ [x_i x_i^T]``. Returns (beta (B, p), ok (B,)); ``ok`` is False for
    fits that did not converge (Newton steps that do not vanish: under separation the likelihood
    has no maximum and the steps never shrink), have a singular information matrix, or -- when a
    converged fit puts a fitted probability within ``EXTREME_PROB`` of 0 or 1 -- whose resample
    the exact linear-programming check finds separated (rms keeps such fits when its
    log-likelihood criterion is met; we count them as failed). :func:`refit_logistic_batch`
    also says why each failed refit failed.
    """
    n, p = X.shape
    B = W.shape[0]
    iu, ju = np.triu_indices(p)
    XX = X[:, iu] * X[:, ju]  # the p(p+1)/2 distinct products x_i x_j (the Hessian is symmetric)
    beta = np.zeros((B, p)) if init is None else np.tile(init, (B, 1))
    active = np.ones(B, dtype=bool)
    ok = np.zeros(B, dtype=bool)
    H = np.empty((B, p, p))
    for _ in range(maxit):
        idx = np.flatnonzero(active)
        if not len(idx):
            break
        b = beta[idx]
        Wi = W[idx]
        mu = expit(b @ X.T)
        score = (Wi * (y - mu)) @ X
        h = (Wi * mu * (1 - mu)) @ XX
        Hi = H[: len(idx)]
        Hi[:, iu, ju] = h
        Hi[:, ju, iu] = h
        try:
            step = np.linalg.solve(Hi, score[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:
            step = np.full((len(idx), p), np.nan)
            for k, (Hk, sk) in enumerate(zip(Hi, score)):
                try:
                    step[k] = np.linalg.solve(Hk, sk)
                except np.linalg.LinAlgError:
                    pass
        finite = np.isfinite(step).all(axis=1)
        bad = ~finite | (np.abs(b + np.nan_to_num(step)).max(axis=1) > 1e6)
        beta[idx[~bad]] = b[~bad] + step[~bad]
        # converged = a vanishing Newton step (then the score, H times the step, vanishes too;
        # the step just applied leaves an error of order step^2). Under separation the score
        # vanishes but the steps stay near 1 forever, so those fits never count as converged.
        done = ~bad & (np.max(np.abs(step), axis=1) < tol * (1 + np.max(np.abs(b), axis=1)))
        ok[idx[done]] = True
        active[idx[done | bad]] = False
    ok &= np.isfinite(beta).all(axis=1)
    # A converged Newton fit is a stationary point of the log-likelihood, which under separation
    # has none -- unless fitted probabilities underflow to exactly 0/1 and take the score with
    # them. Such fits are decided by the exact check (Konis's LP) on the resample's rows.
    from ._fitcheck import EXTREME_PROB, logistic_separation

    for k in np.flatnonzero(ok):
        sel = W[k] > 0
        mu = expit(X[sel] @ beta[k])
        if np.min(np.minimum(mu, 1 - mu)) < EXTREME_PROB and \
                logistic_separation(X[sel][:, 1:], y[sel], name_columns=False) is not None:
            ok[k] = False
    return beta, ok


def refit_logistic_batch(X: np.ndarray, y: np.ndarray, W: np.ndarray, init: np.ndarray | None = None,
                         firth: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap refits (one row of frequency weights per resample) and the status of each.

    Returns (beta (B, p), status (B,)) with status codes of :mod:`._fitcheck`: ``OK``,
    ``SEPARATED`` (the resample has no finite maximum-likelihood estimate), ``SINGULAR`` (a design
    column is constant or collinear in the resample) or ``NOT_CONVERGED``. ``firth=True`` refits
    by Firth's penalised likelihood (finite under separation), one resample at a time.
    """
    from ._fitcheck import NOT_CONVERGED, OK, SINGULAR, aliased_columns, refit_status

    B = W.shape[0]
    if firth:
        from ._firth import firth_logistic

        beta = np.full((B, X.shape[1]), np.nan)
        status = np.full(B, OK)
        for k in range(B):
            sel = W[k] > 0
            if aliased_columns(X[sel][:, 1:]):
                status[k] = SINGULAR
                continue
            b, _, conv = firth_logistic(X[sel], y[sel], weights=W[k, sel], init=init)
            beta[k] = b
            if not conv:
                status[k] = NOT_CONVERGED
        return beta, status
    beta, ok = newton_logistic_batch(X, y, W, init=init)
    status = np.full(B, OK)
    for k in np.flatnonzero(~ok):
        status[k] = refit_status(X, y, W[k])
        if status[k] == NOT_CONVERGED:
            # the likelihood has a finite maximum: the batch's plain Newton steps missed it, the
            # step-halving fit of fit_lrm finds it
            sel = W[k] > 0
            b, _, conv = newton_logistic(X[sel], y[sel], weights=W[k, sel], init=init, maxit=200)
            if conv:
                beta[k], status[k] = b, OK
    return beta, status


def concordance_c(p: np.ndarray, y: np.ndarray) -> float:
    """Exact C index (Mann-Whitney AUC, ties count 1/2), as ``Hmisc::somers2``."""
    from scipy.stats import rankdata

    p = np.asarray(p, float)
    y = np.asarray(y, float)
    n1 = y.sum()
    n0 = len(y) - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    r = rankdata(p)
    return float((r[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def binned_c_index(p: np.ndarray, y: np.ndarray, bins: int = 5000) -> float:
    """C index as ``rms::lrm.fit`` computes it: probabilities grouped in ``bins`` equal-width bins.

    rms 6.x's Fortran (``lrmfit.f``, ``gcorr``) puts each predicted probability in bin
    ``int(bins*p + 1)`` and counts pairs in the same bin as ties; this is the ``C``/``Dxy`` that
    ``lrm`` and ``val.prob`` print. It differs from the exact C (``concordance_c``) in the 4th
    decimal at most and exists here only for parity with rms output.
    """
    p = np.asarray(p, float)
    y = np.asarray(y, float)
    b = np.floor(bins * p + 1.0).astype(np.int64)
    return concordance_c(b.astype(float), y)


# --------------------------------------------------------------------------- model
@dataclass(frozen=True, repr=False)
class LogisticModel(Result):
    """A fitted binary logistic model (rms ``lrm`` parametrisation).

    Attributes
    ----------
    coefficients : Series indexed ``Intercept``, then design columns (rms names).
    vcov : DataFrame, inverse information matrix.
    terms : the design (levels, spline knots) learnt from the fitting data.
    data : the complete-case rows used in the fit (outcome + covariates).
    y : 0/1 outcome of ``data``; ``outcome_levels`` (level coded 0, level coded 1).
    n_excluded : rows dropped for missing values; ``excluded_by_column`` says which columns.
    stats : rms-style summary (Obs, events, Model L.R., d.f., P, C, Dxy, R2, Brier, g, gp).
    r_fit : the rms fit kept in R (engine="r", maximum likelihood), else None.
    firth : True for a Firth-penalised fit (the likelihood-based stats are evaluated at it).
    """

    outcome: str
    covariates: tuple[str, ...]
    terms: tuple[Term, ...]
    coefficients: pd.Series
    vcov: pd.DataFrame
    data: pd.DataFrame
    y: np.ndarray
    outcome_levels: tuple[Any, Any]
    n: int
    n_events: int
    n_excluded: int
    excluded_by_column: dict
    deviance: float
    null_deviance: float
    stats: dict
    formula: str
    engine: str
    method: str = "lrm (maximum likelihood, Newton-Raphson)"
    r_fit: Any = field(default=None, compare=False)
    #: fitted by Firth's penalised likelihood (``fit_lrm(firth=True)``)
    firth: bool = False
    #: the parsed formula of a ``fit_lrm(formula=...)`` fit (None for the keyword interface)
    design_formula: ParsedFormula | None = field(default=None, compare=False)

    # ------------------------------------------------------------------ prediction
    def design(self, df: pd.DataFrame | None = None) -> np.ndarray:
        """Design matrix with the intercept column (for ``df`` or the fitting data)."""
        d = self.data if df is None else df
        X = design_matrix(d, self.terms)
        return np.column_stack([np.ones(len(d)), X])

    def linear_predictor(self, df: pd.DataFrame | None = None) -> np.ndarray:
        """``X beta`` for new data (rows with missing predictors give NaN)."""
        return self.design(df) @ self.coefficients.to_numpy()

    def predict(self, df: pd.DataFrame | None = None) -> np.ndarray:
        """Predicted probability of ``outcome == outcome_levels[1]``."""
        return expit(self.linear_predictor(df))

    @property
    def params(self) -> pd.Series:
        return self.coefficients

    @property
    def standard_errors(self) -> pd.Series:
        return pd.Series(np.sqrt(np.diag(self.vcov.to_numpy())), index=self.coefficients.index)

    def to_frame(self) -> pd.DataFrame:
        from scipy.stats import norm

        se = self.standard_errors
        z = self.coefficients / se
        return pd.DataFrame({"coef": self.coefficients, "se": se, "z": z, "p": 2 * norm.sf(np.abs(z)),
                             "OR": np.exp(self.coefficients)})

    def _title(self) -> str:
        extra = f", {self.n_excluded} rows excluded for missing values" if self.n_excluded else ""
        return (f"LogisticModel {self.formula} (engine={self.engine}; n={self.n}, events={self.n_events}"
                f"{extra}; C={self.stats['C']:.3f}, R2={self.stats['R2']:.3f})")


def _model_stats(X: np.ndarray, y: np.ndarray, beta: np.ndarray) -> dict:
    from scipy.stats import chi2

    n = len(y)
    lp = X @ beta
    p = expit(lp)
    ll = float(np.sum(y * lp - np.logaddexp(0, lp)))
    ybar = y.mean()
    ll0 = float(n * (ybar * np.log(ybar) + (1 - ybar) * np.log(1 - ybar)))
    lr = 2 * (ll - ll0)
    df = X.shape[1] - 1
    c = concordance_c(p, y)
    return {
        "Obs": n, "Events": int(y.sum()), "Model L.R.": lr, "d.f.": df,
        "P": float(chi2.sf(lr, df)) if df > 0 else 1.0,
        "C": c, "Dxy": 2 * c - 1,
        "R2": (1 - np.exp(-lr / n)) / (1 - np.exp(2 * ll0 / n)),
        "Brier": float(np.mean((p - y) ** 2)), "g": gini_md(lp), "gp": gini_md(p),
        "deviance": -2 * ll, "null_deviance": -2 * ll0,
    }


def formula_text(outcome: str, terms: Sequence[Term]) -> str:
    """The model formula for display (knots written out, interactions as ``a:b``)."""
    def one(t: Term) -> str:
        if t.kind == "rcs":
            return f"rcs({t.name}, c({', '.join(repr(round(k, 10)) for k in t.knots)}))"
        if t.kind == "pol":
            return f"pol({t.name}, {t.degree})"
        if t.kind == "catg":
            return f"catg({t.name})"
        if t.kind == "interaction":
            return ":".join(one(c) for c in t.components)
        return t.name

    return f"{outcome} ~ " + " + ".join(one(t) for t in terms)


def r_formula(outcome: str, terms: Sequence[Term]) -> str:
    """The model formula as an R user would write it (for display; R itself is never given it:
    :func:`r_model_data` sends generated names)."""
    parts = []
    for t in terms:
        name = f"`{t.name}`"
        if t.kind == "rcs":
            parts.append(f"rcs({name}, c({', '.join(format(k, '.17g') for k in t.knots)}))")
        else:
            parts.append(name)
    return f"`{outcome}` ~ " + " + ".join(parts)


def fit_lrm(df: pd.DataFrame, outcome: str | None = None, covariates: Sequence[str] | None = None,
            rcs: Mapping[str, Any] | None = None, engine: str | None = None, firth: bool = False, event: Any = None,
            formula: str | None = None) -> LogisticModel:
    """Fit a binary logistic regression model in rms's parametrisation.

    ``logit P(Y=1 | x) = b0 + sum_j b_j x_j``; a spline term ``rcs(x, k)`` contributes
    ``b_1 x + sum_{j=1}^{k-2} b_{j+1} S_j(x)`` with rms's restricted cubic spline basis (see
    :func:`rcs_basis`). Coefficients maximise the log-likelihood (Newton-Raphson); the
    variance is the inverse information matrix.

    Parameters
    ----------
    df : data frame holding ``outcome`` and ``covariates``.
    outcome : binary column: 0/1, bool, an ordered two-category Categorical (the higher category is
        the event) or a data-dictionary variable (``her2_status``: ``positive``); any other labels
        need ``event=``.
    covariates : predictor columns. Numeric -> linear; categorical/string/bool -> dummies against
        the first level (booleans: ``FALSE``/``TRUE``).
    rcs : ``{"age": 4}`` (number of knots, rms default quantiles) or ``{"age": [40, 50, 60]}``
        (explicit knots). Knots are learnt from ``df`` only (fit on training data).
    engine : "python", "r" (``rms::lrm(x=TRUE, y=TRUE)``, kept in R for nomogram/calibrate/
        validate) or None (package default).
    firth : fit by Firth's penalised likelihood ``l(b) + 1/2 log det I(b)`` instead of maximum
        likelihood (finite estimates under separation; Heinze & Schemper 2002). Python: Newton-
        Raphson on the modified score (:mod:`._firth`); R: ``brglm2::brglmFit(type = "AS_mean")``,
        which for the logit link is Firth's estimate. The variance is ``I(b)^-1``. Bootstrap
        validation and calibration of a Firth model refit by Firth (Python engine; rms has no
        Firth refit, so ``engine="r"`` refuses them).
    event : the value of ``outcome`` modelled as 1 (e.g. ``event="HER2+"``).
    formula : instead of ``outcome``/``covariates``/``rcs``, a model formula parsed in Python
        (:func:`her2stats.stats.design.parse_formula`; never evaluated, never sent to R):
        ``"her2_positive ~ rcs(age, 4) + er * grade + ki67"`` with ``rcs(x, k)`` (rms's default
        knot quantiles) or ``rcs(x, c(t1, ..., tk))``, ``pol(x, d)``, ``catg(x)``, ``*`` and ``:``
        interactions in rms's parametrisation (coefficients named as rms names them, e.g.
        ``er * grade=2``). Names that are not R identifiers go in backticks.

    Rows with missing outcome or covariates are excluded; their number is stored in
    ``n_excluded`` (and by column in ``excluded_by_column``) and announced with a warning.

    Raises
    ------
    InputError for missing columns, a non-binary outcome, constant covariates;
    ConvergenceError, on both engines and before either fits, for an exactly collinear design
    (naming the aliased columns) and for complete or quasi-complete separation (Konis's linear
    program, naming a minimal set of separating columns; see :mod:`._fitcheck`), and when the
    likelihood's finite maximum is not reached.

    Examples
    --------
    MASS::birthwt as in Venables & Ripley (2002, p. 195); R gives the same coefficients
    (``rms::lrm(low ~ age + lwt + race + smoke + ptd + ht + ui + ftv)``, intercept 0.82302):

    >>> m = fit_lrm(bwt, "low", ["age", "lwt", "race", "smoke", "ptd", "ht", "ui", "ftv"])  # doctest: +SKIP
    >>> round(m.coefficients["Intercept"], 5)  # doctest: +SKIP
    0.82302
    """
    engine = resolve_engine(engine)
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"fit_lrm needs a pandas DataFrame, got {type(df).__name__}")
    parsed = None
    if formula is not None:
        if outcome is not None or covariates is not None or rcs:
            raise InputError("fit_lrm: give either formula= or outcome/covariates/rcs, not both")
        parsed = parse_formula(formula, where="fit_lrm")
        outcome, covariates = parsed.response, list(parsed.covariates)
    elif outcome is None or covariates is None:
        raise InputError("fit_lrm needs outcome= and covariates=, or formula=")
    if isinstance(covariates, str):
        covariates = [covariates]
    covariates = list(covariates)
    if not covariates:
        raise InputError("fit_lrm needs at least one covariate")
    check_column_names(df, [outcome, *covariates], "fit_lrm")
    missing = [c for c in [outcome, *covariates] if c not in df.columns]
    if missing:
        raise InputError(f"columns {missing} are not in the data (available: {list(df.columns)[:20]})")
    if outcome in covariates:
        raise InputError(f"outcome '{outcome}' is also listed as a covariate")
    if len(set(covariates)) != len(covariates):
        raise InputError(f"covariates listed twice: {sorted({c for c in covariates if covariates.count(c) > 1})}")
    cols = [outcome, *covariates]
    y_all, levels = binary_outcome(df[outcome], outcome, event=event)
    _core.refuse_numeric_strays(df, covariates, "fit_lrm")
    na = df[cols].isna()
    keep = ~na.any(axis=1)
    n_excluded = int((~keep).sum())
    excluded_by = {c: int(v) for c, v in na.sum().items() if v}
    _core.announce_dropped("fit_lrm", n_excluded, len(df), excluded_by)
    data = df.loc[keep, cols].reset_index(drop=True)
    for c in covariates:
        if pd.api.types.is_bool_dtype(data[c].dtype):
            data[c] = pd.Categorical(as_levels(data[c]), categories=["FALSE", "TRUE"])
    y = y_all[keep.to_numpy()]
    if y.sum() < 1 or y.sum() > len(y) - 1:
        raise InputError(f"outcome '{outcome}' has a single value in the complete cases")
    terms = build_design(data, parsed, "fit_lrm") if parsed is not None else build_terms(data, covariates, rcs)
    X = np.column_stack([np.ones(len(data)), design_matrix(data, terms)])
    names = ["Intercept"] + [c for t in terms for c in t.columns]
    check_unique_labels(names, "fit_lrm")
    from ._fitcheck import check_logistic, check_rank

    labels = column_labels(terms)
    if firth:
        check_rank(X[:, 1:], labels, "fit_lrm")
    else:
        check_logistic(X[:, 1:], y, labels, "fit_lrm (logistic regression)")
    formula = formula_text(outcome, terms)
    r_fit = None
    if firth:
        beta, vcov = fit_firth(X, y, engine, "fit_lrm")
    elif engine == "python":
        beta, info, converged = newton_logistic(X, y, maxit=200)
        if not converged:
            raise ConvergenceError(
                "fit_lrm: Newton-Raphson did not reach the maximum of the likelihood in 200 iterations although "
                "the maximum exists (no separation, full rank); largest coefficient "
                f"{names[int(np.argmax(np.abs(beta)))]!r}. "
                "Rescale the covariates (e.g. age in decades) and refit.")
        vcov = np.linalg.inv(info)
    elif parsed is not None:
        beta, vcov, r_fit = fit_lrm_r_spec(data, terms, names, y)
    else:
        beta, vcov, r_fit = _fit_lrm_r(data, outcome, levels, terms, names, X, y)
    stats = _model_stats(X, y, beta)
    return LogisticModel(
        outcome=outcome, covariates=tuple(covariates), terms=tuple(terms),
        coefficients=pd.Series(beta, index=names), vcov=pd.DataFrame(vcov, index=names, columns=names),
        data=data, y=y, outcome_levels=levels, n=len(y), n_events=int(y.sum()), n_excluded=n_excluded,
        excluded_by_column=excluded_by, deviance=stats["deviance"], null_deviance=stats["null_deviance"],
        stats={k: v for k, v in stats.items() if k not in ("deviance", "null_deviance")},
        formula=formula, engine=engine, r_fit=r_fit, firth=bool(firth), design_formula=parsed,
        method=(("brglm2::brglmFit (Firth, AS_mean)" if engine == "r" else "Firth penalised likelihood")
                if firth else "rms::lrm" if engine == "r" else "lrm (maximum likelihood, Newton-Raphson)"),
    )


def column_labels(terms: Sequence[Term]) -> list[str]:
    """Design columns described for people (see :func:`her2stats.stats.design.column_labels`)."""
    from .design import column_labels as _labels

    return _labels(terms)


def fit_firth(X: np.ndarray, y: np.ndarray, engine: str, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Firth estimate and variance ``I(b)^-1`` on either engine (``X`` with intercept column)."""
    if engine == "python":
        from ._firth import firth_logistic

        beta, info, converged = firth_logistic(X, y)
        vcov = np.linalg.inv(info) if converged else None
    else:
        from .. import r_bridge

        r_bridge.require("brglm2")
        out = r_bridge.call("h2s_firth_logistic", np.asarray(X, float), np.asarray(y, float))
        beta = np.atleast_1d(np.asarray(out["coef"], float))
        vcov = np.atleast_2d(np.asarray(out["var"], float))
        converged = bool(out["converged"]) and np.isfinite(beta).all()
    if not converged:
        raise ConvergenceError(f"{what}: Firth's penalised likelihood did not converge")
    return beta, vcov


def r_model_data(data: pd.DataFrame, terms: Sequence[Term], y: Any = None) -> tuple[pd.DataFrame, list[str], dict]:
    """What R sees of a model: term i under the generated name ``v<i>`` (categorical levels as the
    codes ``l1..lm`` in ``Term.levels`` order), the outcome (when given) as ``y``, and the spline
    knots by generated name. Coefficients come back in term order, so nothing is parsed back."""
    from .. import r_bridge

    safe = r_bridge.safe_names(len(terms))
    cols: dict[str, Any] = {} if y is None else {"y": y}
    knots: dict[str, list[float]] = {}
    for v, t in zip(safe, terms):
        if t.kind == "categorical":
            vals = as_levels(data[t.name])
            codes = pd.Categorical(vals, categories=list(t.levels)).codes
            cols[v] = r_bridge.coded_factor(codes, len(t.levels))
        else:
            cols[v] = pd.to_numeric(data[t.name]).to_numpy(dtype=float)
            if t.kind == "rcs":
                knots[v] = [float(k) for k in t.knots]
    return pd.DataFrame(cols, index=range(len(data))), safe, knots


def _fit_lrm_r(data: pd.DataFrame, outcome: str, levels: tuple, terms: Sequence[Term], names: list[str],
               X: np.ndarray, y: np.ndarray):
    from .. import r_bridge

    r_bridge.require("rms")
    rdata, safe, knots = r_model_data(data, terms, y.astype(int))
    raw = r_bridge.call("h2s_lrm_fit", rdata, safe, knots, convert=False)
    info = r_bridge.call("h2s_lrm_info", raw)
    if info["fail"]:
        raise ConvergenceError("fit_lrm: rms::lrm failed to converge although the likelihood has a finite "
                               "maximum (no separation, full rank); rescale the covariates and refit")
    coef = np.atleast_1d(np.asarray(info["coefficients"], float))
    vcov = np.atleast_2d(np.asarray(info["var"], float))
    if len(coef) != len(names):
        raise ConvergenceError(f"rms::lrm returned {len(coef)} coefficients, expected {len(names)} "
                               "(a column was dropped as singular)")
    return coef, vcov, raw


def fit_lrm_r_spec(data: pd.DataFrame, terms: Sequence[Term], names: list[str], y: np.ndarray):
    """``rms::lrm`` on the design of a formula fit: R receives generated names and a design spec
    (:func:`her2stats.stats.design.r_design`), and its coefficient names are checked against the
    design's columns before they are used."""
    from .. import r_bridge

    r_bridge.require("rms")
    rdata, spec, expected = r_design(data, terms, y.astype(int))
    raw = r_bridge.call("h2s_lrm_fit_spec", rdata, spec, convert=False)
    info = r_bridge.call("h2s_lrm_info", raw)
    if info["fail"]:
        raise ConvergenceError("fit_lrm: rms::lrm failed to converge although the likelihood has a finite "
                               "maximum (no separation, full rank); rescale the covariates and refit")
    check_r_names(list(info["names"]), ["Intercept", *expected], "fit_lrm")
    coef = np.atleast_1d(np.asarray(info["coefficients"], float))
    vcov = np.atleast_2d(np.asarray(info["var"], float))
    if len(coef) != len(names):
        raise ConvergenceError(f"rms::lrm returned {len(coef)} coefficients, expected {len(names)} "
                               "(a column was dropped as singular)")
    return coef, vcov, raw
