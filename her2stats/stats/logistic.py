"""Odds-ratio tables from logistic regression: univariable and multivariable, with stepwise selection.

:func:`logistic_table` fits, for a binary outcome, one model per covariate (univariable) and one
model with all covariates (multivariable), optionally reduced by stepwise AIC/BIC selection as
R's ``step()`` does it, and reports odds ratios with 95% Wald CIs (profile-likelihood CIs on
request) and Wald p-values, one row per numeric covariate and per non-reference level of a
categorical covariate.

Engines: ``"r"`` fits ``glm(family = binomial)`` and ``step()`` in R; ``"python"`` fits the same
models by IRLS (statsmodels GLM) and replays ``step()``'s algorithm. Coefficients, SEs and
p-values agree to 1e-6 (tested), and so do the selected terms.

Perfect or quasi-complete separation (a level with no events or no non-events, a covariate that
splits the outcome, or a combination that does) is never reported as a silent infinite odds ratio,
and exactly collinear covariates never as an arbitrary one: before either engine fits, the design
is checked (rank with a relative tolerance; Konis's linear program for separation, see
:mod:`._fitcheck`) and :class:`~her2stats.errors.ConvergenceError` names the covariates and
levels at fault. ``firth=True`` fits Firth's penalised likelihood instead (finite estimates
under separation): Python's own Newton-Raphson on the modified score, R ``brglm2``
(``type = "AS_mean"``).

References
----------
Hosmer DW, Lemeshow S, Sturdivant RX (2013). Applied Logistic Regression, 3rd ed. Wiley.
Venables WN, Ripley BD (2002). Modern Applied Statistics with S (``stepAIC``/``step``).
Albert A, Anderson JA (1984). On the existence of maximum likelihood estimates in logistic
regression models. Biometrika 71:1-10.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..engine import resolve_engine
from ..errors import ConvergenceError, InputError, find_stack_level
from ..results import Result
from . import _core
from ._core import z_value
from ._names import check_column_names
from .design import treatment_columns

__all__ = ["LogisticTable", "logistic_table"]


# =========================================================================== design
@dataclass
class _Term:
    name: str  # user's column name
    safe: str  # name sent to R (v1, v2, ...)
    kind: str  # "numeric" | "categorical"
    levels: list  # categorical levels, reference first
    columns: list  # display labels of design columns (level names or "")


def _prepare(df: pd.DataFrame, outcome: str, covariates: Sequence[str], event: Any) -> tuple:
    if not isinstance(df, pd.DataFrame):
        raise InputError("logistic_table needs a pandas DataFrame")
    covariates = list(covariates)
    if not covariates:
        raise InputError("logistic_table needs at least one covariate")
    check_column_names(df, [outcome, *covariates], "logistic_table")
    for col in [outcome, *covariates]:
        if col not in df.columns:
            raise InputError(f"logistic_table: column {col!r} not in the data (columns: {list(df.columns)[:20]})")
    if outcome in covariates:
        raise InputError(f"logistic_table: the outcome {outcome!r} cannot also be a covariate")
    if len(set(covariates)) != len(covariates):
        raise InputError(f"logistic_table: duplicated covariates {covariates}")
    yser = df[outcome]
    levels = pd.unique(yser.dropna())
    if len(levels) != 2:
        raise InputError(f"logistic_table: outcome {outcome!r} must have exactly 2 distinct values, "
                         f"found {len(levels)}: {list(levels)[:10]}")
    # the event by the package's one rule (0/1, bool, ordered Categorical, data dictionary, event=)
    positive = _core.binary_outcome(yser, outcome, event=event).event
    _core.refuse_numeric_strays(df, covariates, "logistic_table")
    terms = []
    for i, cov in enumerate(covariates, start=1):
        col = df[cov]
        if pd.api.types.is_bool_dtype(col):
            col = col.astype(float)
        if isinstance(col.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(col):
            lv = list(col.cat.categories) if isinstance(col.dtype, pd.CategoricalDtype) else sorted(pd.unique(col.dropna()), key=str)
            terms.append(_Term(cov, f"v{i}", "categorical", lv, []))
        else:
            terms.append(_Term(cov, f"v{i}", "numeric", [], [""]))
    return terms, positive


def _design(data: pd.DataFrame, terms: list[_Term]) -> tuple[np.ndarray, list[tuple[str, str, str]]]:
    """Intercept + treatment-coded columns; labels (variable, level, R coefficient name)."""
    cols = [np.ones(len(data))]
    labels = [("(Intercept)", "", "(Intercept)")]
    for t in terms:
        if t.kind == "numeric":
            cols.append(data[t.name].to_numpy(dtype=float))
            labels.append((t.name, "", t.safe))
        else:
            cols += list(treatment_columns(data[t.name], t.levels).T)
            labels += [(t.name, str(lev), f"{t.safe}{lev}") for lev in t.levels[1:]]
    return np.column_stack(cols), labels


def _used_levels(data: pd.DataFrame, terms: list[_Term]) -> list[_Term]:
    """Drop levels absent from the analysed rows (R's glm would give NA coefficients for them)."""
    out = []
    for t in terms:
        if t.kind == "categorical":
            present = set(pd.unique(data[t.name]))
            lv = [x for x in t.levels if x in present]
            if len(lv) < 2:
                raise InputError(f"logistic_table: covariate {t.name!r} has a single level ({lv}) in the analysed rows")
            out.append(_Term(t.name, t.safe, t.kind, lv, [str(x) for x in lv[1:]]))
        else:
            if np.ptp(data[t.name].to_numpy(dtype=float)) == 0:
                raise InputError(f"logistic_table: covariate {t.name!r} is constant in the analysed rows")
            out.append(t)
    return out


def _check_design(data: pd.DataFrame, y: np.ndarray, terms: list[_Term], firth: bool) -> None:
    """Rank and (unless Firth) separation of the design, on both engines, before fitting.

    A stepwise search only visits sub-models of this design, which can be neither separated nor
    collinear when the full design is not."""
    from ._fitcheck import check_logistic, check_rank

    x, labels = _design(data, terms)
    names = [f"level {lev!r} of {var!r}" if lev else repr(var) for var, lev, _ in labels[1:]]
    if firth:
        check_rank(x[:, 1:], names, "logistic_table")
    else:
        check_logistic(x[:, 1:], y, names, "logistic_table")


# =========================================================================== fitting (python)
@dataclass
class _Fit:
    coef: pd.DataFrame  # name, variable, level, estimate, se, z, p (+ profile_low/high)
    deviance: float
    aic: float
    n: int
    terms: list[str]
    model: Any
    path: list | None = None


def _firth_fit(data: pd.DataFrame, y: np.ndarray, terms: list[_Term], engine: str) -> _Fit:
    """Firth-penalised fit (Wald SE from ``I(b)^-1``, as logistf/brglm2) on either engine."""
    from types import SimpleNamespace

    from .models import fit_firth

    x, labels = _design(data, terms)
    params, vcov = fit_firth(x, y, engine, "logistic_table")
    bse = np.sqrt(np.diag(vcov))
    eta = x @ params
    dev = float(-2 * np.sum(y * eta - np.logaddexp(0, eta)))
    z = params / bse
    coef = pd.DataFrame({"name": [lab[2] for lab in labels], "variable": [lab[0] for lab in labels],
                         "level": [lab[1] for lab in labels], "estimate": params, "se": bse, "z": z,
                         "p": 2 * stats.norm.sf(np.abs(z))})
    model = SimpleNamespace(params=params, cov_params=vcov, deviance=dev, method="Firth penalised likelihood")
    return _Fit(coef=coef, deviance=dev, aic=dev + 2 * x.shape[1], n=len(y), terms=[t.name for t in terms], model=model)


def _py_fit(data: pd.DataFrame, y: np.ndarray, terms: list[_Term], profile: bool, level: float) -> _Fit:
    import statsmodels.api as sm

    x, labels = _design(data, terms)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = sm.GLM(y, x, family=sm.families.Binomial())
        res = model.fit(tol=1e-10, maxiter=100)  # tighter than R's 1e-8 so parity holds at 1e-6
    params, bse = np.asarray(res.params), np.asarray(res.bse)
    _check_fit(params, labels, bool(res.converged))
    z = params / bse
    coef = pd.DataFrame({"name": [lab[2] for lab in labels], "variable": [lab[0] for lab in labels],
                         "level": [lab[1] for lab in labels], "estimate": params, "se": bse, "z": z,
                         "p": 2 * stats.norm.sf(np.abs(z))})
    if profile:
        lo, hi = _profile_ci(x, y, params, float(res.deviance), level)
        coef["profile_low"], coef["profile_high"] = lo, hi
    n = len(y)
    return _Fit(coef=coef, deviance=float(res.deviance), aic=float(res.deviance + 2 * x.shape[1]), n=n,
                terms=[t.name for t in terms], model=res)


def _check_fit(params, labels, converged: bool) -> None:
    """The design passed the rank and separation checks, so the maximum exists: only a fit that
    failed to reach it is left to report."""
    if not converged or not np.all(np.isfinite(params)):
        worst = [labels[i][0] + (f" [{labels[i][1]}]" if labels[i][1] else "")
                 for i in np.argsort(-np.abs(np.nan_to_num(params, nan=np.inf)))[:3] if i > 0]
        raise ConvergenceError(
            "logistic_table: the fit did not converge although the likelihood has a finite maximum (no separation, "
            f"full rank); largest coefficients: {', '.join(worst)}. Rescale the covariates and refit.")


def _profile_ci(x: np.ndarray, y: np.ndarray, params: np.ndarray, dev: float, level: float):
    """Profile-likelihood CI: the values of beta_j where the deviance with beta_j fixed (the others
    re-fitted, beta_j * x_j as offset) exceeds the minimum by the chi-square(1) quantile."""
    import statsmodels.api as sm
    from scipy.optimize import brentq

    crit = stats.chi2.ppf(level, 1)
    lows, highs = [], []
    for j in range(x.shape[1]):
        others = np.delete(x, j, axis=1)

        def excess(b, j=j, others=others):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fit = sm.GLM(y, others, family=sm.families.Binomial(), offset=b * x[:, j]).fit(tol=1e-10, maxiter=100)
            return fit.deviance - dev - crit

        bounds = []
        se_guess = max(abs(params[j]) * 0.1, 1e-3)
        for sign in (-1, 1):
            step = se_guess
            far = params[j] + sign * step
            tries = 0
            while excess(far) < 0 and tries < 60:
                step *= 2
                far = params[j] + sign * step
                tries += 1
            bounds.append(brentq(excess, min(params[j], far), max(params[j], far), xtol=1e-10) if tries < 60 else np.nan)
        lows.append(bounds[0])
        highs.append(bounds[1])
    return np.array(lows), np.array(highs)


def _aic(data, y, terms, k) -> tuple[float, int]:
    import statsmodels.api as sm

    x, _ = _design(data, terms)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = sm.GLM(y, x, family=sm.families.Binomial()).fit(tol=1e-10, maxiter=100)
    return float(res.deviance + k * x.shape[1]), x.shape[1]


def _py_step(data, y, terms: list[_Term], direction: str, k: float) -> tuple[list[_Term], list[dict]]:
    """R's ``step()`` for main-effects glm: at each step compare the current model (``<none>``
    first), every single-term drop (backward/both) and every single-term addition (forward/both) by
    deviance + k * edf; move to the best unless ``<none>`` is best (ties keep the current model,
    as R's stable ``order``)."""
    full = list(terms)
    current = [] if direction == "forward" else list(terms)
    cur_aic, _ = _aic(data, y, current, k)
    path = [{"step": 0, "change": "", "criterion": cur_aic}]
    step = 0
    while True:
        candidates = [("", current, cur_aic)]
        if direction in ("backward", "both"):
            for t in current:
                reduced = [u for u in current if u is not t]
                candidates.append((f"- {t.name}", reduced, _aic(data, y, reduced, k)[0]))
        if direction in ("forward", "both"):
            for t in full:
                if t not in current:
                    grown = current + [t]
                    candidates.append((f"+ {t.name}", grown, _aic(data, y, grown, k)[0]))
        best = min(range(len(candidates)), key=lambda i: (candidates[i][2], i))
        if best == 0:
            break
        change, new_terms, new_aic = candidates[best]
        if new_aic >= cur_aic + 1e-7:
            break
        step += 1
        current, cur_aic = new_terms, new_aic
        path.append({"step": step, "change": change, "criterion": cur_aic})
    return current, path


def _glm(data, y, terms):
    import statsmodels.api as sm

    x, _ = _design(data, terms)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # statsmodels stops on the deviance change, which is quadratic in the coefficients' error:
        # a covariate on a large scale (weight in pounds) keeps ~1e-6 relative error in Wald statistics
        # at 1e-10 or 1e-12; 1e-14 (R: epsilon = 1e-14) gives the maximum to ~1e-10
        return sm.GLM(y, x, family=sm.families.Binomial()).fit(tol=1e-14, maxiter=100), x


def _term_columns(terms: list[_Term], term: _Term) -> np.ndarray:
    """Positions of ``term``'s columns in the design of ``terms`` (intercept first)."""
    start = 1
    for t in terms:
        width = 1 if t.kind == "numeric" else len(t.levels) - 1
        if t is term:
            return np.arange(start, start + width)
        start += width
    raise KeyError(term.name)


def _step_test(data, y, small: list[_Term], large: list[_Term], term: _Term, test: str) -> tuple[float, int, float]:
    """Statistic, df and p-value for ``term``: model ``small`` (without it) vs ``large`` (with it).

    ``lr``: deviance(small) - deviance(large); ``score`` (Rao): ``U' I^-1 U`` with the score
    ``U = X'(y - mu)`` and information ``I = X' W X`` of the large design at the small model's
    fit (the score of the small model's own columns is zero there); ``wald``: ``b' V^-1 b`` over
    the term's coefficients in the large model. Chi-square with df = the term's columns."""
    fit_large, x_large = _glm(data, y, large)
    idx = _term_columns(large, term)
    df = len(idx)
    if test == "lr":
        fit_small, _ = _glm(data, y, small)
        stat = float(fit_small.deviance - fit_large.deviance)
    elif test == "score":
        fit_small, x_small = _glm(data, y, small)
        mu = np.asarray(fit_small.fittedvalues)
        u = x_large.T @ (y - mu)
        info = x_large.T @ (x_large * (mu * (1 - mu))[:, None])
        stat = float(u @ np.linalg.solve(info, u))
    else:
        b = np.asarray(fit_large.params)[idx]
        v = np.asarray(fit_large.cov_params())[np.ix_(idx, idx)]
        stat = float(b @ np.linalg.solve(v, b))
    return stat, df, float(stats.chi2.sf(max(stat, 0.0), df))


def _py_step_p(data, y, terms: list[_Term], direction: str, p_enter: float, p_remove: float,
               test: str) -> tuple[list[_Term], list[dict]]:
    """Stepwise selection by p-values (entry if p < p_enter, removal if p > p_remove).

    ``forward``: from the intercept-only model, add the term with the smallest entry p-value while
    it is below ``p_enter``. ``backward``: from the full model, remove the term with the largest
    p-value while it exceeds ``p_remove``. ``both``: forward steps, each followed by removals of
    terms whose p-value has risen above ``p_remove``. Ties keep the earlier term (covariate order
    for entries, model order for removals), as the R engine's ``which.min``/``which.max``."""
    current = [] if direction == "forward" else list(terms)
    path = [{"step": 0, "change": "", "criterion": _aic(data, y, current, 2.0)[0], "statistic": np.nan,
             "df": np.nan, "p_value": np.nan}]
    seen = {frozenset(t.name for t in current)}

    def record(change, stat, df, p):
        path.append({"step": len(path), "change": change, "criterion": _aic(data, y, current, 2.0)[0],
                     "statistic": stat, "df": df, "p_value": p})

    while True:
        changed = False
        if direction in ("forward", "both"):
            cand = [t for t in terms if t not in current]
            if cand:
                res = [_step_test(data, y, current, current + [t], t, test) for t in cand]
                j = int(np.argmin([r[2] for r in res]))
                if res[j][2] < p_enter:
                    current = current + [cand[j]]
                    record(f"+ {cand[j].name}", *res[j])
                    changed = True
        if direction in ("backward", "both"):
            while current:
                res = [_step_test(data, y, [u for u in current if u is not t], current, t, test) for t in current]
                j = int(np.argmax([r[2] for r in res]))
                if res[j][2] > p_remove:
                    gone = current[j]
                    current = [u for u in current if u is not gone]
                    record(f"- {gone.name}", *res[j])
                    changed = True
                else:
                    break
        if not changed:
            break
        key = frozenset(t.name for t in current)
        if key in seen:
            raise ConvergenceError("stepwise selection cycles (a model was visited twice); use p_enter < p_remove")
        seen.add(key)
    return current, path


def _r_step_p(data, y, terms: list[_Term], direction: str, p_enter: float, p_remove: float,
              test: str) -> tuple[list[_Term], list[dict]]:
    from .. import r_bridge

    out = r_bridge.call("h2s_logistic_step_p", data=_r_frame(data, y, terms), terms=[t.safe for t in terms],
                        direction=direction, p_enter=float(p_enter), p_remove=float(p_remove), test=test)
    by_safe = {t.safe: t for t in terms}
    chosen = [] if out["terms"] is None else [by_safe[str(v)] for v in np.atleast_1d(out["terms"])]
    st = out["steps"]
    path = []
    for i, (ch, stat, df, p, aic) in enumerate(zip(st["change"], st["statistic"], st["df"], st["p"], st["aic"])):
        sign, _, safe = str(ch).strip().partition(" ")
        path.append({"step": i, "change": f"{sign} {by_safe[safe].name}" if safe else "", "criterion": float(aic),
                     "statistic": float(stat), "df": float(df), "p_value": float(p)})
    return chosen, path


# =========================================================================== fitting (R)
def _r_frame(data: pd.DataFrame, y: np.ndarray, terms: list[_Term]) -> pd.DataFrame:
    """What R sees: ``y``, each term under its generated name (v1..), levels as codes (l1..)."""
    from .. import r_bridge

    out = {"y": y.astype(float)}
    for t in terms:
        if t.kind == "numeric":
            out[t.safe] = data[t.name].to_numpy(dtype=float)
        else:
            codes = pd.Categorical(data[t.name].to_numpy(), categories=t.levels).codes
            out[t.safe] = r_bridge.coded_factor(codes, len(t.levels))
    return pd.DataFrame(out)


def _r_fit(data, y, terms: list[_Term], direction: str, k: float, profile: bool, level: float) -> _Fit:
    from .. import r_bridge

    # R sees generated names (v1..) and level codes (l1..): glm names a level's coefficient
    # "v3l2", which maps back to the design label by position, never by the level's text
    frame = _r_frame(data, y, terms)
    model = r_bridge.call("h2s_logistic_fit", data=frame, terms=[t.safe for t in terms],
                          direction=direction, k=float(k), convert=False)
    out = r_bridge.call("h2s_logistic_summary", model, profile=bool(profile), level=float(level))
    selected_safe = [] if out["terms"] is None else [str(s) for s in np.atleast_1d(out["terms"])]
    by_safe = {t.safe: t for t in terms}
    selected = [by_safe[s] for s in selected_safe]
    _, labels = _design(data, selected)
    r_names = ["(Intercept)"]
    for t in selected:
        r_names += [t.safe] if t.kind == "numeric" else [f"{t.safe}{c}" for c in r_bridge.level_codes(len(t.levels))[1:]]
    coef = out["coef"]
    got = list(coef["name"])
    missing = [lab[2] for lab, rn in zip(labels, r_names) if rn not in got]
    if missing:
        raise ConvergenceError(f"R's glm returned no estimate for {missing} (aliased/collinear covariates)")
    lookup = dict(zip(r_names, labels))
    coef["name"] = [lookup[nm][2] for nm in got]
    coef.insert(1, "variable", [lookup[nm][0] for nm in got])
    coef.insert(2, "level", [lookup[nm][1] for nm in got])
    params = coef["estimate"].to_numpy(dtype=float)
    _check_fit(params, labels, bool(out["converged"]))
    path = None
    if out.get("steps") is not None:
        st = out["steps"]
        names_back = {t.safe: t.name for t in terms}
        changes = []
        for ch in st["change"]:
            ch = str(ch).strip()
            sign, _, safe = ch.partition(" ")
            changes.append(f"{sign} {names_back.get(safe, safe)}" if safe else "")
        path = [{"step": i, "change": c, "criterion": float(a)} for i, (c, a) in enumerate(zip(changes, st["criterion"]))]
    return _Fit(coef=coef, deviance=float(out["deviance"]), aic=float(out["aic"]), n=len(y),
                terms=[t.name for t in selected], model=model, path=path)


# =========================================================================== result
@dataclass(frozen=True, repr=False)
class LogisticTable(Result):
    """Univariable and multivariable odds ratios.

    Attributes
    ----------
    frame : DataFrame
        One row per numeric covariate / non-reference level: ``variable``, ``level``,
        ``reference``, then ``uni_or``, ``uni_ci_low``, ``uni_ci_high``, ``uni_p``, ``uni_n`` and
        ``multi_or``, ``multi_ci_low``, ``multi_ci_high``, ``multi_p`` (NaN when not selected).
    univariable, multivariable : DataFrame
        Coefficient tables (log-odds ``estimate``, ``se``, ``z``, ``p``, ``or``, CI) per model.
    model : object
        The final multivariable fit (statsmodels GLMResults, or the R glm object for engine "r")
        for later nomograms and calibration.
    selected : tuple of str
        Covariates in the final multivariable model.
    steps : DataFrame
        Stepwise path (step, change, AIC/BIC of the model after the step; with ``criterion="p"`` also
        the test ``statistic``, ``df`` and ``p_value`` of the term entered or removed); empty without
        stepwise selection.
    """

    frame: pd.DataFrame = field(compare=False)
    univariable: pd.DataFrame | None = field(compare=False)
    multivariable: pd.DataFrame | None = field(compare=False)
    model: Any = field(compare=False)
    outcome: str
    positive: Any
    selected: tuple
    n: int
    n_events: int
    n_excluded: int
    ci_method: str
    stepwise: str | None
    criterion: str
    steps: pd.DataFrame = field(compare=False)
    footnotes: tuple
    engine: str
    method: str = "Logistic regression (binomial GLM)"

    def to_frame(self) -> pd.DataFrame:
        return self.frame.copy()


def _with_or(fit: _Fit, z: float, ci: str) -> pd.DataFrame:
    c = fit.coef.copy()
    c["or"] = np.exp(c["estimate"])
    if ci == "profile":
        c["ci_low"], c["ci_high"] = np.exp(c["profile_low"]), np.exp(c["profile_high"])
    else:
        c["ci_low"] = np.exp(c["estimate"] - z * c["se"])
        c["ci_high"] = np.exp(c["estimate"] + z * c["se"])
    c["n"] = fit.n
    return c


def logistic_table(df: pd.DataFrame, outcome: str, covariates: Sequence[str], univariable: bool = True,
                   multivariable: bool = True, stepwise: str | None = None, criterion: str = "aic",
                   ci: str = "wald", level: float = 0.95, positive: Any = None,
                   engine: str | None = None, firth: bool = False, event: Any = None,
                   p_enter: float = 0.05, p_remove: float = 0.10, test: str = "lr") -> LogisticTable:
    r"""Odds-ratio table of a binary outcome: univariable and multivariable logistic regression.

    .. math:: \operatorname{logit} P(Y=1\mid x) = \beta_0 + \sum_j \beta_j x_j,\qquad
              \mathrm{OR}_j = e^{\beta_j},\quad
              \text{95\% CI (Wald)} = e^{\beta_j \pm z_{0.975}\,\mathrm{SE}(\beta_j)}

    Parameters
    ----------
    df : DataFrame
    outcome : str
        Binary column: 0/1, bool, an ordered two-category Categorical (the higher category is the
        event) or a data-dictionary variable (``her2_status``: ``positive``); other labels need
        ``event=`` (never guessed from their order).
    covariates : list of str
        Numeric columns enter linearly; non-numeric/categorical ones are treatment-coded against
        their first level (categorical order, else sorted) — the reference is shown per row.
    univariable, multivariable : bool
    stepwise : {None, "backward", "forward", "both"}
        R ``step()`` on the multivariable model (backward/both start from the full model,
        forward from the intercept-only model), by ``criterion``.
    criterion : {"aic", "bic", "p"}
        ``k = 2`` or ``k = log(n)`` in deviance + k * edf; or ``"p"``: entry and removal by
        p-values (seed 002's "stepwise regression"): a term enters when its ``test`` p-value is
        below ``p_enter`` (the smallest first) and leaves when it rises above ``p_remove`` (the
        largest first); R's ``step()`` cannot do this, so both engines run the same algorithm
        (R with ``glm``/``anova``, Python with statsmodels), see :func:`_py_step_p`.
    p_enter, p_remove : p-value thresholds of ``criterion="p"`` (SPSS defaults 0.05 and 0.10;
        ``p_enter <= p_remove`` so that a term just entered is not removed again).
    test : ``"lr"`` (likelihood ratio), ``"score"`` (Rao, as SPSS uses for entry) or ``"wald"``:
        the test of one term (all its coefficients) for ``criterion="p"``.
    ci : {"wald", "profile"}
        Wald (default, stated in the footnotes) or profile likelihood (R ``confint``; R's
        profile is spline-interpolated, so the engines agree to ~1e-3 there).
    level : float
    event : optional
        The outcome value coded 1 (e.g. ``event="HER2+"``).
    positive : optional
        Deprecated alias of ``event``.
    engine : {"r", "python", None}
    firth : bool
        Firth's penalised likelihood (``l(b) + 1/2 log det I(b)``; finite odds ratios under
        separation, Heinze & Schemper 2002) with Wald CIs from ``I(b)^-1``; R: ``brglm2``
        (``type = "AS_mean"``). Not with ``stepwise`` (the AIC of a penalised fit is not R's) or
        ``ci="profile"``.

    Raises
    ------
    ConvergenceError
        On both engines, before fitting: exactly collinear covariates (naming the aliased
        columns) or, without ``firth``, complete / quasi-complete separation (naming a minimal
        set of separating covariates or levels).

    Notes
    -----
    Univariable models use each covariate's complete cases; the multivariable model (and the
    stepwise search, whose row set must not change) uses complete cases on all covariates. The
    excluded rows are counted (``n_excluded``) and reported in the footnotes.

    Examples
    --------
    R parity: ``glm(her2 ~ age + er, family = binomial, data = d)`` ->
    ``exp(coef(fit))`` equals ``logistic_table(d, "her2", ["age", "er"]).multivariable["or"]`` to 1e-6.
    """
    if stepwise not in (None, "backward", "forward", "both"):
        raise InputError(f"stepwise must be None, 'backward', 'forward' or 'both', got {stepwise!r}")
    if criterion not in ("aic", "bic", "p"):
        raise InputError(f"criterion must be 'aic', 'bic' or 'p', got {criterion!r}")
    if criterion == "p":
        if test not in ("lr", "score", "wald"):
            raise InputError(f"test must be 'lr', 'score' or 'wald', got {test!r}")
        for name, v in (("p_enter", p_enter), ("p_remove", p_remove)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < float(v) <= 1:
                raise InputError(f"{name} must be a p-value threshold in (0, 1], got {v!r}")
        if p_enter > p_remove:
            raise InputError(f"p_enter ({p_enter}) must not exceed p_remove ({p_remove}): a term could enter and "
                             f"leave again forever")
    if ci not in ("wald", "profile"):
        raise InputError(f"ci must be 'wald' or 'profile', got {ci!r}")
    if not (univariable or multivariable):
        raise InputError("logistic_table: ask for univariable and/or multivariable models")
    if firth and stepwise:
        raise InputError("logistic_table: firth=True with stepwise selection is not available (the AIC of a "
                         "penalised fit is not the one R's step() uses); select on a maximum-likelihood model first")
    if firth and ci == "profile":
        raise InputError("logistic_table: ci='profile' is not available with firth=True (Wald intervals from the "
                         "inverse information are reported)")
    if positive is not None:
        warnings.warn("logistic_table(positive=...) is deprecated; use event=", DeprecationWarning, stacklevel=find_stack_level())
        if event is None:
            event = positive
        if outcome in getattr(df, "columns", ()) and not any(_core.matches(v, positive) for v in pd.unique(df[outcome].dropna())):
            raise InputError(f"logistic_table: positive={positive!r} is not a value of {outcome!r} "
                             f"({list(pd.unique(df[outcome].dropna()))[:10]})")
    terms, positive = _prepare(df, outcome, covariates, event)
    engine = resolve_engine(engine)
    z = z_value(level)
    profile = ci == "profile"
    footnotes = []

    def fit(data, chosen, direction="none", k=2.0):
        y = (data[outcome] == positive).to_numpy(dtype=float)
        used = _used_levels(data, chosen)
        if y.sum() == 0 or y.sum() == len(y):
            raise InputError(f"logistic_table: outcome {outcome!r} has a single class in the analysed rows")
        _check_design(data, y, used, firth)
        if firth:
            return _firth_fit(data, y, used, engine), None
        path_p = None
        if criterion == "p" and direction != "none":
            step_p = _r_step_p if engine == "r" else _py_step_p
            used, path_p = step_p(data, y, used, direction, float(p_enter), float(p_remove), test)
            direction = "none"
        if engine == "r":
            res = _r_fit(data, y, used, direction, k, profile, level)
            return res, (path_p if path_p is not None else res.path)
        if direction == "none":
            return _py_fit(data, y, used, profile, level), path_p
        selected, path = _py_step(data, y, used, direction, k)
        return _py_fit(data, y, selected, profile, level), path

    uni_frames = []
    if univariable:
        for t in terms:
            data = df.loc[df[outcome].notna() & df[t.name].notna()]
            res, _ = fit(data, [t])
            uni_frames.append(_with_or(res, z, ci))
    uni = pd.concat(uni_frames, ignore_index=True) if uni_frames else None
    if uni is not None:
        uni = uni[uni["name"] != "(Intercept)"].reset_index(drop=True)

    complete = df[outcome].notna()
    for t in terms:
        complete &= df[t.name].notna()
    n_excluded = int((~complete).sum())
    _core.announce_dropped("logistic_table", n_excluded, len(df),
                           {c: int(df[c].isna().sum()) for c in [outcome, *[t.name for t in terms]]})
    data_mv = df.loc[complete]
    multi = None
    model = None
    selected = tuple(t.name for t in terms)
    steps = pd.DataFrame(columns=["step", "change", "criterion"])
    if multivariable:
        k = math.log(int(complete.sum())) if criterion == "bic" else 2.0
        res, path = fit(data_mv, terms, stepwise or "none", k)
        multi = _with_or(res, z, ci)
        model = res.model
        selected = tuple(res.terms)
        if path is not None:
            steps = pd.DataFrame(path)
        if stepwise and criterion == "p":
            footnotes.append(f"Multivariable model selected by {stepwise} stepwise selection on p-values "
                             f"({ {'lr': 'likelihood-ratio', 'score': 'score', 'wald': 'Wald'}[test]} test; entry "
                             f"p < {p_enter}, removal p > {p_remove}); kept: {', '.join(selected) if selected else 'none'}.")
        elif stepwise:
            footnotes.append(f"Multivariable model selected by {stepwise} stepwise {criterion.upper()} (R step()); "
                             f"kept: {', '.join(selected) if selected else 'none'}.")
    footnotes.append(f"OR: odds ratio of {outcome} = {positive!r}; {int(level * 100)}% CI by "
                     f"{'Wald' if ci == 'wald' else 'profile likelihood'}; p: Wald test.")
    if firth:
        footnotes.append("Estimates by Firth's penalised likelihood (Heinze & Schemper 2002); SE from the inverse "
                         "information at the estimate.")
    if n_excluded:
        footnotes.append(f"{n_excluded} row(s) with a missing outcome or covariate excluded from the multivariable model.")

    # display frame: one row per numeric covariate / non-reference level
    rows = []
    for t in terms:
        levels = [("", "")] if t.kind == "numeric" else [(str(lev), str(t.levels[0])) for lev in t.levels[1:]]
        for lev, ref in levels:
            row = {"variable": t.name, "level": lev, "reference": ref}
            for prefix, tab in (("uni", uni), ("multi", multi)):
                if tab is None:
                    continue
                hit = tab[(tab["variable"] == t.name) & (tab["level"] == lev)]
                if len(hit):
                    h = hit.iloc[0]
                    row.update({f"{prefix}_or": h["or"], f"{prefix}_ci_low": h["ci_low"],
                                f"{prefix}_ci_high": h["ci_high"], f"{prefix}_p": h["p"]})
                    if prefix == "uni":
                        row["uni_n"] = int(h["n"])
                else:
                    row.update({f"{prefix}_or": np.nan, f"{prefix}_ci_low": np.nan,
                                f"{prefix}_ci_high": np.nan, f"{prefix}_p": np.nan})
            rows.append(row)
    y_all = (data_mv[outcome] == positive)
    return LogisticTable(frame=pd.DataFrame(rows), univariable=uni, multivariable=multi, model=model,
                         outcome=outcome, positive=positive, selected=selected, n=int(complete.sum()),
                         n_events=int(y_all.sum()), n_excluded=n_excluded, ci_method=ci, stepwise=stepwise,
                         criterion=criterion, steps=steps, footnotes=tuple(footnotes), engine=engine,
                         method="Logistic regression, Firth's penalised likelihood" if firth
                         else "Logistic regression (binomial GLM)")
