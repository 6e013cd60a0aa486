"""Ordinal (proportional-odds) logistic model for HER2 zero < low < positive, and its evaluation.

HER2 is read as an ordered three-level outcome (IHC 0 -> zero, 1+/2+ ISH- -> low, 3+/ISH+ ->
positive; see :func:`her2stats.data.derive_her2_class`). The cumulative logit model in rms's
``orm``/``lrm`` parametrisation is

    logit P(Y >= y_j | x) = alpha_j + x'beta,    j = 2, ..., K,

so a positive ``beta`` moves a patient towards the higher classes and ``exp(beta)`` is the
common odds ratio for "this class or higher" (McCullagh, J R Stat Soc B 1980;42:109-42; Harrell,
Regression Modeling Strategies 2015, ch. 13). Class probabilities are differences of adjacent
cumulative probabilities, ``P(Y = y_j) = P(Y >= y_j) - P(Y >= y_{j+1})``.

Engines
-------
* ``engine="python"``: maximum likelihood by Newton-Raphson with the analytic score and
  information matrix and step halving -- the algorithm of ``rms::orm.fit``. (statsmodels'
  ``OrderedModel`` maximises the same likelihood with numerical derivatives: on 1,681 rows its
  Newton fit took 13 s and reported non-convergence, and BFGS stops ~1e-6 short of the maximum;
  it serves as an independent cross-check in the tests instead of as the engine.)
* ``engine="r"``: ``rms::orm(eps = 1e-12)``; the fit stays in R (``OrdinalModel.r_fit``).

Evaluation of a fitted (frozen) model on any cohort -- no refitting -- is
:func:`evaluate_ordinal`: Hand & Till multiclass AUC and one-vs-rest AUCs with CIs
(:func:`her2stats.stats.roc.multiclass_auc`) and per-class one-vs-rest calibration (calibration
intercept, slope, ICI/E50/E90/Emax and flexible curves with bootstrap CIs,
:func:`her2stats.stats.calibration.calibration_hierarchy`). The HER2-low vs HER2-zero
sub-problem of seeds 002 and 004 is :func:`low_vs_zero_subset` / :func:`fit_low_vs_zero`.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from ..engine import resolve_engine
from ..errors import ConvergenceError, InputError, find_stack_level
from ..results import Result
from . import _core
from ._core import renamed_args, expit
from ._names import check_column_names, check_unique_labels
from .design import build_design, check_r_names, parse_formula, r_design
from .models import formula_text
from ..schedulers import check_scheduler
from .models import (LogisticModel, Term, as_levels, r_formula, r_model_data, build_terms, design_matrix,
                     fit_lrm)

__all__ = ["OrdinalModel", "OrdinalCalibrationResult", "OrdinalEvaluation", "LowVsZeroData", "fit_ordinal",
           "ordinal_calibration", "evaluate_ordinal", "low_vs_zero_subset", "fit_low_vs_zero"]

#: HER2 classes in their clinical order (as her2stats.data.her2.HER2_CLASS_LEVELS)
HER2_ORDER = ("zero", "low", "positive")


# =========================================================================== likelihood
def _cumulative_parts(codes: np.ndarray, X: np.ndarray, alpha: np.ndarray, beta: np.ndarray):
    """Per-subject upper/lower cumulative probabilities of the observed class and their densities."""
    K1 = len(alpha)
    xb = X @ beta if X.shape[1] else np.zeros(len(codes))
    # alpha index of the observed class's upper bound P(Y >= y_k) is k-1 (k >= 1); lower bound k
    has_u = codes >= 1
    has_l = codes <= K1 - 1
    eta_u = np.where(has_u, alpha[np.clip(codes - 1, 0, K1 - 1)] + xb, np.inf)
    eta_l = np.where(has_l, alpha[np.clip(codes, 0, K1 - 1)] + xb, -np.inf)
    Fu = np.where(has_u, expit(eta_u), 1.0)
    Fl = np.where(has_l, expit(eta_l), 0.0)
    return has_u, has_l, Fu, Fl


def _loglik(codes: np.ndarray, X: np.ndarray, theta: np.ndarray, K1: int) -> float:
    _, _, Fu, Fl = _cumulative_parts(codes, X, theta[:K1], theta[K1:])
    P = Fu - Fl
    if np.any(P <= 0):
        return -np.inf
    return float(np.sum(np.log(P)))


def _score_info(codes: np.ndarray, X: np.ndarray, theta: np.ndarray, K1: int):
    """Analytic score vector and observed information matrix of the cumulative logit likelihood."""
    n, p = X.shape
    has_u, has_l, Fu, Fl = _cumulative_parts(codes, X, theta[:K1], theta[K1:])
    P = Fu - Fl
    fu = np.where(has_u, Fu * (1 - Fu), 0.0)
    fl = np.where(has_l, Fl * (1 - Fl), 0.0)
    dfu = np.where(has_u, fu * (1 - 2 * Fu), 0.0)  # derivative of the logistic density
    dfl = np.where(has_l, fl * (1 - 2 * Fl), 0.0)
    # E_u / E_l: d eta / d theta of the upper and lower linear predictors
    Eu = np.zeros((n, K1 + p))
    El = np.zeros((n, K1 + p))
    rows = np.arange(n)
    Eu[rows[has_u], codes[has_u] - 1] = 1.0
    El[rows[has_l], codes[has_l]] = 1.0
    Eu[:, K1:] = X * has_u[:, None]
    El[:, K1:] = X * has_l[:, None]
    D = fu[:, None] * Eu - fl[:, None] * El  # dP / d theta
    score = (D / P[:, None]).sum(axis=0)
    hess = (Eu * (dfu / P)[:, None]).T @ Eu - (El * (dfl / P)[:, None]).T @ El - (D / P[:, None]).T @ (D / P[:, None])
    return score, -hess


def _newton_ordinal(codes: np.ndarray, X: np.ndarray, K: int, maxit: int = 50, tol: float = 1e-9):
    """Newton-Raphson with step halving from the null model (as rms::orm.fit)."""
    K1 = K - 1
    props = np.array([(codes >= j).mean() for j in range(1, K)])
    theta = np.concatenate([np.log(props / (1 - props)), np.zeros(X.shape[1])])
    ll = _loglik(codes, X, theta, K1)
    converged = False
    for _ in range(maxit):
        score, info = _score_info(codes, X, theta, K1)
        if np.max(np.abs(score)) < tol * max(1.0, len(codes) / 100):
            converged = True
            break
        try:
            step = np.linalg.solve(info, score)
        except np.linalg.LinAlgError:
            break
        t = 1.0
        for _half in range(30):
            cand = theta + t * step
            ll_c = _loglik(codes, X, cand, K1)
            if ll_c >= ll - 1e-12 and np.all(np.diff(cand[:K1]) < 0):
                break
            t /= 2
        else:
            break
        theta, ll = cand, ll_c
    score, info = _score_info(codes, X, theta, K1)
    converged = converged or np.max(np.abs(score)) < tol * max(1.0, len(codes) / 100)
    return theta, info, ll, converged


# =========================================================================== model
@dataclass(frozen=True, repr=False)
class OrdinalModel(Result):
    """A fitted proportional-odds model (rms ``orm`` parametrisation).

    Attributes
    ----------
    levels : outcome classes from lowest to highest (e.g. ``("zero", "low", "positive")``).
    intercepts : Series ``y>=low``, ``y>=positive`` (``alpha_j`` of ``logit P(Y >= y_j)``).
    coefficients : Series of ``beta`` indexed by design column (rms names, e.g. ``grade=3``).
    vcov : DataFrame, inverse information matrix of (intercepts, coefficients).
    terms : the design (levels, spline knots) learnt from the fitting data.
    data : complete-case rows used in the fit; ``codes`` their class index (0 = lowest).
    n_per_class : subjects per class; ``n_excluded`` rows dropped for missing values
        (``excluded_by_column`` by column).
    stats : -2 log L (null, model), Model L.R., d.f., P, AIC.
    """

    outcome: str
    covariates: tuple[str, ...]
    levels: tuple[str, ...]
    terms: tuple[Term, ...]
    intercepts: pd.Series
    coefficients: pd.Series
    vcov: pd.DataFrame
    data: pd.DataFrame
    codes: np.ndarray
    n: int
    n_per_class: dict
    n_excluded: int
    excluded_by_column: dict
    stats: dict
    formula: str
    engine: str
    method: str = "proportional odds (cumulative logit), Newton-Raphson"
    r_fit: Any = field(default=None, compare=False)
    #: the parsed formula of a ``fit_ordinal(formula=...)`` fit (None for the keyword interface)
    design_formula: Any = field(default=None, compare=False)

    # ------------------------------------------------------------------ prediction
    def linear_predictor(self, df: pd.DataFrame | None = None) -> np.ndarray:
        """``x'beta`` (without intercepts) for ``df`` or the fitting data; NaN where a predictor is missing."""
        d = self.data if df is None else df
        X = design_matrix(d, self.terms)
        return X @ self.coefficients.to_numpy() if X.shape[1] else np.zeros(len(d))

    def cumulative_proba(self, df: pd.DataFrame | None = None) -> pd.DataFrame:
        """``P(Y >= y_j)`` for j = 2..K, one column per intercept."""
        xb = self.linear_predictor(df)
        cum = expit(self.intercepts.to_numpy()[None, :] + xb[:, None])
        return pd.DataFrame(cum, columns=list(self.intercepts.index))

    def predict_proba(self, df: pd.DataFrame | None = None) -> pd.DataFrame:
        """Per-class probabilities ``P(Y = y_j)`` (columns named by the classes; rows sum to 1)."""
        cum = self.cumulative_proba(df).to_numpy()
        n = cum.shape[0]
        upper = np.column_stack([np.ones(n), cum])
        lower = np.column_stack([cum, np.zeros(n)])
        out = pd.DataFrame(upper - lower, columns=list(self.levels))
        if df is not None:
            out.index = df.index
        return out

    def conditional_proba(self, df: pd.DataFrame | None = None, event: str = "low", reference: str = "zero") -> np.ndarray:
        """``P(Y = event | Y in {event, reference})``: the ordinal model's score for a two-class
        sub-problem (e.g. HER2-low vs zero), ``p_event / (p_event + p_reference)``."""
        for lev in (event, reference):
            if lev not in self.levels:
                raise InputError(f"class {lev!r} is not an outcome level of this model {list(self.levels)}")
        p = self.predict_proba(df)
        return (p[event] / (p[event] + p[reference])).to_numpy()

    @property
    def params(self) -> pd.Series:
        return pd.concat([self.intercepts, self.coefficients])

    @property
    def standard_errors(self) -> pd.Series:
        return pd.Series(np.sqrt(np.diag(self.vcov.to_numpy())), index=self.params.index)

    def to_frame(self) -> pd.DataFrame:
        est = self.params
        se = self.standard_errors
        z = est / se
        zq = sps.norm.ppf(0.975)
        out = pd.DataFrame({"coef": est, "se": se, "z": z, "p": 2 * sps.norm.sf(np.abs(z)),
                            "OR": np.exp(est), "OR_low": np.exp(est - zq * se), "OR_high": np.exp(est + zq * se)})
        out.loc[self.intercepts.index, ["OR", "OR_low", "OR_high"]] = np.nan  # intercepts are log-odds, not ORs
        return out

    def _title(self) -> str:
        extra = f", {self.n_excluded} rows excluded for missing values" if self.n_excluded else ""
        counts = ", ".join(f"{k}={v}" for k, v in self.n_per_class.items())
        return (f"OrdinalModel {self.formula} (engine={self.engine}; n={self.n}: {counts}{extra}; "
                f"LR chi2={self.stats['Model L.R.']:.2f} on {self.stats['d.f.']} df)")


def _outcome_levels(s: pd.Series, name: str, levels: Sequence[Any] | None) -> tuple[str, ...]:
    present = {str(v) for v in s.dropna()}
    if levels is not None:
        lv = tuple(str(v) for v in levels)
        unknown = sorted(present - set(lv))
        if unknown:
            raise InputError(f"outcome '{name}' has values {unknown} that are not in levels={list(lv)}")
    elif isinstance(s.dtype, pd.CategoricalDtype) and s.cat.ordered:
        lv = tuple(str(c) for c in s.cat.categories)
    elif present <= set(HER2_ORDER):
        lv = HER2_ORDER
    elif pd.api.types.is_numeric_dtype(s.dtype):
        lv = tuple(str(v) for v in sorted(pd.unique(s.dropna())))
    else:
        raise InputError(f"outcome '{name}' has unordered values {sorted(present)[:10]}; give their order with "
                         "levels=[lowest, ..., highest] or make the column an ordered Categorical")
    lv = tuple(v for v in lv if v in present)
    if len(lv) < 3:
        raise InputError(f"outcome '{name}' has {len(lv)} class(es) present {list(lv)}; an ordinal model needs >= 3 "
                         "(for two classes use fit_lrm)")
    return lv


def _outcome_strings(s: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(s.dtype) and not isinstance(s.dtype, pd.CategoricalDtype):
        return s.map(lambda v: None if pd.isna(v) else str(v))
    return s.astype(object).map(lambda v: None if pd.isna(v) else str(v))


def fit_ordinal(df: pd.DataFrame, outcome: str = "her2_class", covariates: Sequence[str] = (),
                rcs: Mapping[str, Any] | None = None, levels: Sequence[Any] | None = None,
                engine: str | None = None, formula: str | None = None) -> OrdinalModel:
    """Fit a proportional-odds (cumulative logit) model, e.g. HER2 zero < low < positive.

    ``logit P(Y >= y_j | x) = alpha_j + x'beta`` (j = 2..K), maximum likelihood; the variance is
    the inverse of the analytic information matrix. The design (dummy coding against the first
    level, rms restricted cubic splines with ``rcs``) is the one of :func:`fit_lrm`.

    Parameters
    ----------
    df : training data (fit on development data only; evaluate elsewhere with
        :func:`evaluate_ordinal`).
    outcome : ordered outcome column. Its order comes from ``levels``, else from an ordered
        Categorical, else HER2's ``zero < low < positive``, else numeric order.
    covariates : predictor columns (numeric linear; categorical/string/bool dummies).
    rcs : ``{"age": 4}`` or explicit knots, as in :func:`fit_lrm`.
    engine : "python" (Newton-Raphson, analytic derivatives), "r" (``rms::orm``) or None.
    formula : instead of ``outcome``/``covariates``/``rcs``, a model formula parsed in Python, as
        in :func:`~her2stats.stats.models.fit_lrm` (``"her2_class ~ rcs(age, 4) + er * grade"``;
        ``rcs``, ``pol``, ``catg``, ``*`` and ``:`` in rms's parametrisation).

    Rows with a missing outcome or covariate are excluded, counted in ``n_excluded`` and
    announced with a warning.

    Raises
    ------
    ConvergenceError on both engines, before fitting: exactly collinear covariates (naming the
    aliased columns), or complete / quasi-complete separation -- a covariate or level whose rows
    all fall in the classes above (or below) some cut, alone or in combination -- decided by
    Konis's linear program on the stacked binary rows ``1{Y >= y_j}`` (see :mod:`._fitcheck`).

    References
    ----------
    McCullagh P. Regression models for ordinal data. J R Stat Soc B 1980;42:109-42.
    Harrell FE. Regression Modeling Strategies, 2nd ed. Springer 2015, ch. 13-15.

    Examples
    --------
    Venables & Ripley (2002, p. 205), ``MASS::housing`` expanded by ``Freq``; ``rms::orm`` and
    ``MASS::polr`` give Infl=High 1.2888 and the intercepts 0.4961 / -0.6907 (polr's zeta with
    the opposite sign):

    >>> m = fit_ordinal(housing, "Sat", ["Infl", "Type", "Cont"], levels=["Low", "Medium", "High"])  # doctest: +SKIP
    >>> round(m.coefficients["Infl=High"], 4)  # doctest: +SKIP
    1.2888
    """
    engine = resolve_engine(engine)
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"fit_ordinal needs a pandas DataFrame, got {type(df).__name__}")
    parsed = None
    if formula is not None:
        parsed = parse_formula(formula, where="fit_ordinal")
        if (covariates and len(covariates)) or rcs or outcome not in ("her2_class", parsed.response):
            raise InputError("fit_ordinal: give either formula= or outcome/covariates/rcs, not both")
        outcome, covariates = parsed.response, list(parsed.covariates)
    covariates = [covariates] if isinstance(covariates, str) else list(covariates)
    if not covariates:
        raise InputError("fit_ordinal needs at least one covariate")
    check_column_names(df, [outcome, *covariates], "fit_ordinal")
    missing = [c for c in [outcome, *covariates] if c not in df.columns]
    if missing:
        raise InputError(f"columns {missing} are not in the data (available: {list(df.columns)[:20]})")
    if outcome in covariates:
        raise InputError(f"outcome '{outcome}' is also listed as a covariate")
    if len(set(covariates)) != len(covariates):
        raise InputError(f"covariates listed twice: {sorted({c for c in covariates if covariates.count(c) > 1})}")
    lv = _outcome_levels(df[outcome], outcome, levels)
    cols = [outcome, *covariates]
    na = df[cols].isna()
    keep = ~na.any(axis=1)
    n_excluded = int((~keep).sum())
    excluded_by = {c: int(v) for c, v in na.sum().items() if v}
    _core.refuse_numeric_strays(df, covariates, "fit_ordinal")
    _core.announce_dropped("fit_ordinal", n_excluded, len(df), excluded_by)
    data = df.loc[keep, cols].reset_index(drop=True)
    for c in covariates:
        if pd.api.types.is_bool_dtype(data[c].dtype):
            data[c] = pd.Categorical(as_levels(data[c]), categories=["FALSE", "TRUE"])
    ystr = _outcome_strings(data[outcome])
    codes = ystr.map({v: i for i, v in enumerate(lv)}).to_numpy(dtype=int)
    counts = {v: int((codes == i).sum()) for i, v in enumerate(lv)}
    terms = build_design(data, parsed, "fit_ordinal") if parsed is not None else build_terms(data, covariates, rcs)
    X = design_matrix(data, terms)
    beta_names = [c for t in terms for c in t.columns]
    alpha_names = [f"y>={v}" for v in lv[1:]]
    names = alpha_names + beta_names
    check_unique_labels(names, "fit_ordinal")
    from ._fitcheck import check_ordinal
    from .models import column_labels

    # rank and separation (Konis's LP on the stacked cumulative-logit rows) on both engines, before fitting
    check_ordinal(X, codes, len(lv), column_labels(terms), "fit_ordinal (proportional-odds model)")
    K1 = len(lv) - 1
    formula = r_formula(outcome, terms).replace("`", "") if parsed is None else formula_text(outcome, terms)
    r_fit = None
    if engine == "python":
        theta, info, ll, converged = _newton_ordinal(codes, X, len(lv))
        if not converged:
            raise ConvergenceError("fit_ordinal: Newton-Raphson did not reach the maximum of the likelihood although "
                                   "it exists (no separation, full rank); rescale the covariates and refit")
        vcov = np.linalg.inv(info)
    else:
        theta, vcov, r_fit = _fit_orm_r(data, outcome, lv, terms, names, spec=parsed is not None)
        ll = _loglik(codes, X, theta, K1)
    props = np.array([(codes >= j).mean() for j in range(1, len(lv))])
    ll0 = _loglik(codes, np.zeros((len(codes), 0)), np.log(props / (1 - props)), K1)
    lr = 2 * (ll - ll0)
    dfree = X.shape[1]
    stats = {"Obs": len(codes), "-2LL null": -2 * ll0, "-2LL": -2 * ll, "Model L.R.": lr, "d.f.": dfree,
             "P": float(sps.chi2.sf(lr, dfree)), "AIC": -2 * ll + 2 * len(theta)}
    return OrdinalModel(
        outcome=outcome, covariates=tuple(covariates), levels=lv, terms=tuple(terms),
        intercepts=pd.Series(theta[:K1], index=alpha_names), coefficients=pd.Series(theta[K1:], index=beta_names),
        vcov=pd.DataFrame(vcov, index=names, columns=names), data=data, codes=codes, n=len(codes),
        n_per_class=counts, n_excluded=n_excluded, excluded_by_column=excluded_by, stats=stats, formula=formula,
        engine=engine, r_fit=r_fit, design_formula=parsed,
        method="rms::orm" if engine == "r" else "proportional odds (cumulative logit), Newton-Raphson",
    )


def _r_frame(data: pd.DataFrame, outcome: str | None, levels: Sequence[str], terms: Sequence[Term]
             ) -> tuple[pd.DataFrame, list[str], dict]:
    """Generated names and level codes for R (``models._r_model_data``); the outcome becomes the
    ordered factor ``y`` whose levels are the codes of ``levels``."""
    from .. import r_bridge

    y = None
    if outcome is not None:
        codes = pd.Categorical(_outcome_strings(data[outcome]), categories=list(levels)).codes
        y = r_bridge.coded_factor(codes, len(levels), ordered=True)
    return r_model_data(data, terms, y)


def _fit_orm_r(data: pd.DataFrame, outcome: str, levels: Sequence[str], terms: Sequence[Term], names: list[str],
               spec: bool = False):
    from .. import r_bridge

    r_bridge.require("rms")
    if spec:  # a formula fit: generated names and a design spec (design.r_design), names checked
        codes = pd.Categorical(_outcome_strings(data[outcome]), categories=list(levels)).codes
        rdata, dspec, expected = r_design(data, terms, r_bridge.coded_factor(codes, len(levels), ordered=True))
        raw = r_bridge.call("h2s_orm_fit_spec", rdata, dspec, convert=False)
    else:
        rdata, safe, knots = _r_frame(data, outcome, levels, terms)
        raw = r_bridge.call("h2s_orm_fit", rdata, safe, knots, convert=False)
    info = r_bridge.call("h2s_orm_info", raw)
    if spec:
        check_r_names(list(info["names"])[len(levels) - 1:], expected, "fit_ordinal")
    if info["fail"]:
        raise ConvergenceError("fit_ordinal: rms::orm failed to converge although the likelihood has a finite maximum "
                               "(no separation, full rank); rescale the covariates and refit")
    coef = np.atleast_1d(np.asarray(info["coefficients"], float))
    if len(coef) != len(names):
        raise ConvergenceError(f"rms::orm returned {len(coef)} coefficients, expected {len(names)} "
                               "(a column was dropped as singular)")
    return coef, np.atleast_2d(np.asarray(info["var"], float)), raw


def r_predict_proba(model: OrdinalModel, df: pd.DataFrame) -> np.ndarray:
    """Per-class probabilities from R's ``predict(orm_fit, type = "fitted.ind")`` (R-engine fits only;
    used to check :meth:`OrdinalModel.predict_proba`)."""
    if model.r_fit is None:
        raise InputError("r_predict_proba needs a model fitted with engine='r'")
    from .. import r_bridge

    cols = list(model.covariates)
    if model.design_formula is not None:
        newdata = r_design(df[cols].reset_index(drop=True), model.terms)[0]
    else:
        newdata = _r_frame(df[cols], None, model.levels, model.terms)[0]
    return np.asarray(r_bridge.call("h2s_orm_predict", model.r_fit, newdata))


# =========================================================================== evaluation
_CAL_ROWS = ("observed - expected rate", "O/E ratio", "calibration intercept", "calibration slope", "ICI", "E50",
             "E90", "Emax")


@dataclass(frozen=True, repr=False)
class OrdinalCalibrationResult(Result):
    """One-vs-rest calibration of each class's predicted probability (bootstrap percentile CIs).

    ``table``: class, measure, estimate, ci_low, ci_high, ideal. ``curves``: flexible (lowess)
    calibration curve per class with its bootstrap band. ``per_class`` keeps the full
    :class:`~her2stats.stats.calibration.CalibrationHierarchyResult` of every class.
    """

    table: pd.DataFrame
    curves: pd.DataFrame
    per_class: dict
    classes: tuple
    n_boot: int
    level: float
    n: int
    engine: str
    method: str = "one-vs-rest calibration hierarchy (Van Calster 2016)"

    def to_frame(self) -> pd.DataFrame:
        return self.table

    def plot(self, ax: Any = None) -> Any:
        """Flexible calibration curve of each class (predicted vs observed proportion)."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(4.5, 4.5))
        ax.plot([0, 1], [0, 1], color="0.7", ls="--", lw=1, label="Ideal")
        for cl in self.classes:
            c = self.curves[self.curves["class"] == cl]
            line, = ax.plot(c["predicted"], c["observed"], lw=1.5, label=f"{cl}")
            ax.fill_between(c["predicted"], c["ci_low"], c["ci_high"], color=line.get_color(), alpha=0.15, lw=0)
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="Predicted probability of the class",
               ylabel="Observed proportion in the class")
        ax.legend(loc="lower right", frameon=False, fontsize=8)
        return ax


def _labels_and_probs(y: Any, probs: Any) -> tuple[np.ndarray, pd.DataFrame]:
    if not isinstance(probs, pd.DataFrame):
        raise InputError("probs must be a DataFrame with one column of predicted probabilities per class, "
                         "named by the class labels (e.g. OrdinalModel.predict_proba)")
    if len(y) == len(probs):
        y, probs = _core.align(("y", y), ("probs", probs))
    labels = pd.Series(np.asarray(y.to_numpy() if isinstance(y, (pd.Series, pd.Index)) else y, dtype=object))
    if len(labels) != len(probs):
        raise InputError(f"y has {len(labels)} values but probs has {len(probs)} rows")
    miss = labels.isna().to_numpy() | probs.isna().any(axis=1).to_numpy()
    if miss.any():
        pos = np.flatnonzero(miss)[:10].tolist()
        raise InputError(f"{int(miss.sum())} row(s) have a missing class or probability (positions {pos}); "
                         "drop them first and report the count")
    labels = labels.map(str).to_numpy(dtype=object)
    classes = [str(c) for c in probs.columns]
    unknown = sorted(set(labels) - set(classes))
    if unknown:
        raise InputError(f"y has classes {unknown} with no column in probs (columns: {classes})")
    P = probs.to_numpy(dtype=float)
    if (P < 0).any() or (P > 1).any():
        raise InputError("probs must lie in [0, 1]")
    sums = P.sum(axis=1)
    if np.max(np.abs(sums - 1)) > 1e-6:
        bad = int(np.argmax(np.abs(sums - 1)))
        raise InputError(f"predicted class probabilities must sum to 1 in each row; row {bad} sums to {sums[bad]:.6g}")
    return labels, pd.DataFrame(P, columns=classes)


@renamed_args(conf_level="level", B="n_boot")
def ordinal_calibration(y: Any, probs: pd.DataFrame, n_boot: int = 200, seed: int | None = 0, level: float = 0.95,
                        scheduler: Any = None, engine: str | None = None) -> OrdinalCalibrationResult:
    """Per-class (one-vs-rest) calibration of multiclass predicted probabilities.

    For each class k the predicted probability ``p_k`` is validated against ``1[y = k]`` through
    the calibration hierarchy of Van Calster et al. (J Clin Epidemiol 2016;74:167-76): mean
    calibration (O - E, O/E, calibration intercept ``a`` of ``logit P(y=k) = a + offset(logit p_k)``),
    weak calibration (slope ``b`` of ``logit P(y=k) = a + b logit p_k``), and the lowess
    flexible curve with ICI/E50/E90/Emax (Austin & Steyerberg, Stat Med 2019;38:4051-65).
    CIs are bootstrap percentile intervals (``n_boot`` resamples of (y, p) pairs via
    :func:`her2stats.resampling.run_replicates`; class k uses the k-th child of
    ``SeedSequence(seed)``, so the result does not depend on ``scheduler``'s worker count).
    Predictions are validated as given: nothing is refitted. Van Hoorde et al. (Stat Med
    2014;33:2585-96) describe this one-vs-rest view as the practical summary of multinomial
    calibration.
    """
    check_scheduler(scheduler)  # refused alike on both engines, even where R resamples
    from .calibration import calibration_hierarchy

    eng = resolve_engine(engine)
    labels, P = _labels_and_probs(y, probs)
    classes = tuple(P.columns)
    counts = {cl: int((labels == cl).sum()) for cl in classes}
    small = {k: v for k, v in counts.items() if v < 2 or v > len(labels) - 2}
    if small:
        raise InputError(f"every class needs at least 2 subjects in and out of it for calibration; counts {counts}")
    children = _core.child_seeds(seed, len(classes))
    rows, curves, per_class = [], [], {}
    for cl, ss in zip(classes, children):
        p = np.clip(P[cl].to_numpy(), 1e-12, 1 - 1e-12)  # a class probability of exactly 0/1 has no logit
        res = calibration_hierarchy(y=(labels == cl).astype(float), prob=p, n_boot=n_boot, seed=ss, level=level,
                                    scheduler=scheduler, engine=eng)
        per_class[cl] = res
        t = res.table.loc[list(_CAL_ROWS)]
        rows.append(pd.DataFrame({"class": cl, "measure": t.index, "estimate": t["estimate"].to_numpy(),
                                  "ci_low": t["ci_low"].to_numpy(), "ci_high": t["ci_high"].to_numpy(),
                                  "ideal": t["ideal"].to_numpy(), "n_class": counts[cl]}))
        curves.append(res.curve.assign(**{"class": cl}))
    return OrdinalCalibrationResult(table=pd.concat(rows, ignore_index=True),
                                    curves=pd.concat(curves, ignore_index=True)[["class", "predicted", "observed",
                                                                                 "ci_low", "ci_high"]],
                                    per_class=per_class, classes=classes, n_boot=int(n_boot), level=level,
                                    n=len(labels), engine=eng)


@dataclass(frozen=True, repr=False)
class OrdinalEvaluation(Result):
    """Discrimination and per-class calibration of a frozen multiclass/ordinal model on one cohort."""

    discrimination: Any  # MulticlassAUCResult
    calibration: OrdinalCalibrationResult
    probabilities: pd.DataFrame
    n: int
    n_excluded: int
    cohort: str
    engine: str
    method: str = "Hand-Till + one-vs-rest AUC, one-vs-rest calibration"

    def to_frame(self) -> pd.DataFrame:
        d = self.discrimination.to_frame()
        disc = pd.DataFrame({"class": ["all"] + list(d["class"].iloc[1:]),
                             "measure": ["Hand-Till AUC"] + ["one-vs-rest AUC"] * (len(d) - 1),
                             "estimate": d["auc"].to_numpy(), "ci_low": d["ci_low"].to_numpy(),
                             "ci_high": d["ci_high"].to_numpy()})
        cal = self.calibration.table[["class", "measure", "estimate", "ci_low", "ci_high"]]
        out = pd.concat([disc, cal], ignore_index=True)
        out.insert(0, "cohort", self.cohort)
        return out

    def plot(self, ax: Any = None) -> Any:
        return self.calibration.plot(ax=ax)


@renamed_args(conf_level="level", B="n_boot_calibration")
def evaluate_ordinal(model: OrdinalModel, df: pd.DataFrame | None = None, cohort: str = "apparent",
                     ci: str = "delong", n_boot: int = 0, n_boot_calibration: int = 200, seed: int | None = 0,
                     level: float = 0.95, scheduler: Any = None, engine: str | None = None) -> OrdinalEvaluation:
    """Evaluate a fitted (frozen) ordinal model on a cohort: multiclass discrimination + per-class calibration.

    * Hand & Till (2001) multiclass AUC (``pROC::multiclass.roc``) with an optional stratified
      bootstrap CI (``n_boot``), and each class's one-vs-rest AUC with ``ci`` (DeLong by default)
      -- :func:`her2stats.stats.roc.multiclass_auc`;
    * one-vs-rest calibration intercept, slope, ICI/E50/E90/Emax and curves with ``n_boot_calibration`` bootstrap
      resamples -- :func:`ordinal_calibration`.

    ``df=None`` evaluates the fitting data (apparent performance, optimistic); pass the internal
    or external cohort to validate the model without refitting. Rows of ``df`` with a missing
    outcome or predictor are excluded and counted (``n_excluded``).
    """
    check_scheduler(scheduler)  # refused alike on both engines, even where R resamples
    from .roc import multiclass_auc

    if not isinstance(model, OrdinalModel):
        raise InputError(f"evaluate_ordinal needs an OrdinalModel (from fit_ordinal), got {type(model).__name__}")
    eng = resolve_engine(engine)
    if df is None:
        data, n_excl = model.data, 0
    else:
        cols = [model.outcome, *model.covariates]
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise InputError(f"columns {missing} needed to evaluate the model are not in the data")
        na = df[cols].isna()
        keep = ~na.any(axis=1)
        n_excl = int((~keep).sum())
        _core.announce_dropped(f"evaluate_ordinal (cohort '{cohort}')", n_excl, len(df),
                               {c: int(v) for c, v in na.sum().items()})
        data = df.loc[keep].reset_index(drop=True)
    labels = _outcome_strings(data[model.outcome]).to_numpy(dtype=object)
    unknown = sorted(set(labels) - set(model.levels))
    if unknown:
        raise InputError(f"cohort '{cohort}' has outcome values {unknown} unknown to the model {list(model.levels)}")
    probs = model.predict_proba(data).reset_index(drop=True)
    seeds = _core.child_seeds(seed, 2)
    disc = multiclass_auc(labels, probs, ci=ci, level=level, n_boot=n_boot,
                          seed=None if seeds[0] is None else _core.r_seed(seeds[0]),
                          scheduler=scheduler, engine=eng)
    cal = ordinal_calibration(labels, probs, n_boot=n_boot_calibration, seed=None if seeds[1] is None else int(seeds[1].generate_state(1)[0]),
                              level=level, scheduler=scheduler, engine=eng)
    return OrdinalEvaluation(discrimination=disc, calibration=cal, probabilities=probs, n=len(labels),
                             n_excluded=n_excl, cohort=cohort, engine=eng)


# =========================================================================== HER2-low vs zero
@dataclass(frozen=True, repr=False)
class LowVsZeroData(Result):
    """The HER2-low vs HER2-zero sub-cohort with its exclusions counted.

    ``data`` holds the rows whose class is ``event`` or ``reference`` plus a 0/1 column
    ``binary_outcome`` (1 = event); ``n_other`` rows of other classes (HER2-positive) and
    ``n_missing`` rows with no class were left out.
    """

    data: pd.DataFrame
    binary_outcome: str
    event: str
    reference: str
    n_event: int
    n_reference: int
    n_other: int
    n_missing: int
    method: str = "sub-cohort"

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{"event": self.event, "reference": self.reference, "n_event": self.n_event,
                              "n_reference": self.n_reference, "n_excluded_other_class": self.n_other,
                              "n_excluded_missing_class": self.n_missing}])


def low_vs_zero_subset(df: pd.DataFrame, outcome: str = "her2_class", event: str = "low", reference: str = "zero",
                       binary_outcome: str = "her2_low") -> LowVsZeroData:
    """Rows of HER2-low and HER2-zero tumours with a 0/1 outcome (1 = low), as in seeds 002 and 004.

    HER2-positive rows and rows with a missing class are excluded and counted, never dropped
    silently. Apply it to each cohort separately (training, internal, external) so the
    sub-problem keeps the original split.
    """
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"low_vs_zero_subset needs a pandas DataFrame, got {type(df).__name__}")
    if outcome not in df.columns:
        raise InputError(f"column '{outcome}' is not in the data (available: {list(df.columns)[:20]})")
    if binary_outcome in df.columns:
        raise InputError(f"column '{binary_outcome}' already exists; choose another binary_outcome name")
    s = _outcome_strings(df[outcome])
    present = set(s.dropna())
    for lev in (event, reference):
        if lev not in present:
            raise InputError(f"outcome '{outcome}' has no rows of class {lev!r} (classes present: {sorted(present)})")
    is_event, is_ref = s.eq(event).to_numpy(), s.eq(reference).to_numpy()
    n_missing = int(s.isna().sum())
    n_other = int(len(s) - is_event.sum() - is_ref.sum() - n_missing)
    keep = is_event | is_ref
    data = df.loc[keep].copy()
    data[binary_outcome] = is_event[keep].astype(int)
    return LowVsZeroData(data=data, binary_outcome=binary_outcome, event=event, reference=reference,
                         n_event=int(is_event.sum()), n_reference=int(is_ref.sum()), n_other=n_other,
                         n_missing=n_missing)


def fit_low_vs_zero(df: pd.DataFrame, covariates: Sequence[str], outcome: str = "her2_class",
                    rcs: Mapping[str, Any] | None = None, engine: str | None = None) -> LogisticModel:
    """Binary logistic model (rms ``lrm``) of HER2-low (1) vs HER2-zero (0) on the low/zero rows of ``df``.

    A thin composition of :func:`low_vs_zero_subset` and :func:`fit_lrm`; the counts of
    excluded HER2-positive / unclassified rows are announced in a warning. Fit on the training
    cohort only; score other cohorts with ``model.predict(low_vs_zero_subset(cohort).data)``.
    An ordinal model's own score for this sub-problem is :meth:`OrdinalModel.conditional_proba`.
    """
    sub = low_vs_zero_subset(df, outcome=outcome)
    if sub.n_other or sub.n_missing:
        warnings.warn(f"fit_low_vs_zero: {sub.n_other} row(s) of other HER2 classes and {sub.n_missing} with no class "
                      f"left out; fitting on {sub.n_event} low + {sub.n_reference} zero", UserWarning, stacklevel=find_stack_level())
    return fit_lrm(sub.data, sub.binary_outcome, covariates, rcs=rcs, engine=engine)
