"""Multiple imputation of missing predictors: fitted on development data, applied to new cohorts.

Complete-case analysis discards every patient with one missing value (a third of the Duke HER2
cohort) and is biased whenever missingness depends on the outcome. Multiple imputation by chained
equations (MICE; van Buuren & Groothuis-Oudshoorn 2011) replaces each missing value ``m`` times
by draws from its predictive distribution; a model is fitted on each completed data set and the
``m`` answers are combined by Rubin's rules.

* :class:`MiceImputer` -- ``MiceImputer(m=20, method=..., outcome="her2", seed=0).fit(dev)``
  imputes the development cohort (the outcome is a predictor in every imputation model, as it
  must be for the later model not to be biased towards the null: Moons et al. 2006);
  ``.transform(test)`` imputes a test cohort **from the development fit only, without the
  outcome** (see "New cohorts" below). Methods per variable type, as R's ``mice``: ``pmm``
  (numeric), ``logreg`` (two values: 0/1 numbers, booleans, two labels), ``polyreg`` (unordered
  categories), ``polr`` (ordered categories); ``norm`` on request.
* :func:`pool` -- Rubin's rules for any per-imputation estimates with variances (Barnard-Rubin
  degrees of freedom, ``riv``, ``lambda``, ``fmi`` as ``mice::pool``).
* :func:`fit_lrm_mi` -- :func:`~her2stats.fit_lrm` on each completed data set, pooled
  (coefficients, odds ratios, CIs on ``t`` with Barnard-Rubin df); the pooled model predicts.
* :func:`performance_mi` -- a model's AUC (pooled on the logit scale), calibration slope,
  intercept and calibration-in-the-large, Brier score and net benefit on each completed data set
  of a cohort, pooled by Rubin's rules.
* :func:`validate_mi` -- bootstrap-then-impute optimism correction (Schomaker & Heumann 2018):
  every bootstrap resample of the *incomplete* development data is imputed anew and the model
  refitted, so the optimism includes the imputation.

New cohorts
-----------
``transform`` never refits anything on the new rows and never reads their outcome. For the
``j``-th imputation it takes the ``j``-th completed development data set ``D_j`` (fixed) and runs
the chained equations over the new rows alone: each variable missing among them is regressed on
the other variables -- **the outcome is not among the predictors** -- over all development rows
of ``D_j`` (observed and imputed values: the imputed values carry the outcome's information, so
these outcome-free models are not distorted when development missingness depended on the
outcome); the parameters are drawn afresh from that fit's posterior at every iteration (``pmm``
matches against the development rows' predicted means and takes a development row's value).
New rows only *receive* values: they enter no fit, no donor pool, no augmentation statistic and
no starting value (starting values are draws from ``D_j``). The outcome column of the new data,
when present, is copied through untouched. ``engine="r"`` does the same with ``mice`` itself:
``mice(rbind(D_j, new), ignore = <new rows>, m = 1)`` with the outcome left out of the data.
(R's ``mice`` computes the pseudo-observations of ``logreg``/``polyreg``/``polr`` from every row,
ignored ones included -- a small contribution of the new rows that the Python engine does not
have.)

Engines
-------
``engine="python"`` implements mice's methods (:mod:`her2stats.stats._mice`) with one seeded
random stream per chain (``SeedSequence(seed)``, so chains may run on any ``scheduler`` with the
same result); ``engine="r"`` runs ``mice::mice`` (R package ``mice``, Debian ``r-cran-mice``).
Their random streams differ, so their imputations agree in distribution, not draw by draw
(tests hold them within Monte-Carlo error). Pooling is closed form: :func:`pool` and
:func:`fit_lrm_mi` agree with ``mice::pool`` / ``mice::pool.scalar`` to 1e-9 on the same
per-imputation estimates.

References
----------
Rubin DB. Multiple Imputation for Nonresponse in Surveys. Wiley 1987. Barnard J, Rubin DB.
Small-sample degrees of freedom with multiple imputation. Biometrika 1999;86:948-955.
van Buuren S, Groothuis-Oudshoorn K. mice: Multivariate Imputation by Chained Equations in R.
J Stat Softw 2011;45(3). van Buuren S. Flexible Imputation of Missing Data, 2nd ed. CRC 2018.
Moons KGM, Donders RART, Stijnen T, Harrell FE. Using the outcome for imputation of missing
predictor values was preferred. J Clin Epidemiol 2006;59:1092-1101. Marshall A, Altman DG,
Holder RL, Royston P. Combining estimates of interest in prognostic modelling studies after
multiple imputation. BMC Med Res Methodol 2009;9:57. Schomaker M, Heumann C. Bootstrap inference
when using multiple imputation. Stat Med 2018;37:2252-2266. Wahl S, Boulesteix AL, Zierer A,
Thorand B, van de Wiel MA. Assessment of predictive performance in incomplete data by combining
internal validation and multiple imputation. BMC Med Res Methodol 2016;16:144.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from ..engine import resolve_engine
from ..errors import ConvergenceError, InputError, find_stack_level
from ..resampling import bootstrap_indices, map_tasks, run_replicates
from ..results import Result
from . import _core
from ._mice import METHODS, VarSpec, run_chain, run_new_rows
from ._names import check_column_names
from ._core import check_level, expit

__all__ = ["MiceImputer", "MultipleImputation", "PooledEstimates", "PooledLogisticModel", "PooledPerformance",
           "MIValidationResult", "pool", "fit_lrm_mi", "performance_mi", "validate_mi"]

_MAXCAT = 50  # mice's limit on the categories of a variable it imputes (maxcat)
_DEFAULT_METHOD = {"numeric": "pmm", "binary": "logreg", "categorical": "polyreg", "ordered": "polr"}
_METHOD_WORDS = {
    "pmm": "predictive mean matching", "norm": "Bayesian linear regression", "logreg": "logistic regression",
    "polyreg": "multinomial logistic regression", "polr": "proportional-odds regression",
}


def _check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


# =========================================================================== variables
def _variable_spec(name: str, s: pd.Series, method: str | None) -> VarSpec:
    """How a column is coded and imputed (see the module notes for the types)."""
    dtype = s.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        raise InputError(f"column '{name}' holds dates (dtype {dtype}); convert it to a number (e.g. days) "
                         "before imputing")
    obs = s.dropna()
    if obs.empty:
        raise InputError(f"column '{name}' has no observed value: it cannot be imputed; drop it")
    if isinstance(dtype, pd.CategoricalDtype):
        cats = tuple(dtype.categories)
        present = [c for c in cats if (obs == c).any()]
        restore = {"type": "category", "categories": cats, "ordered": bool(dtype.ordered)}
        if len(present) == 1:
            kind = "constant"
        elif len(cats) == 2:
            kind = "binary"
        else:
            kind = "ordered" if dtype.ordered else "categorical"
        levels = cats
    elif pd.api.types.is_bool_dtype(dtype) or (dtype == object and obs.map(type).eq(bool).all()):
        levels = (False, True)
        restore = {"type": "bool", "dtype": dtype}
        kind = "constant" if obs.nunique() == 1 else "binary"
    elif pd.api.types.is_numeric_dtype(dtype):
        vals = np.unique(obs.to_numpy(dtype=float))
        restore = {"type": "numeric", "dtype": dtype}
        if np.isinf(vals).any():
            raise InputError(f"column '{name}' has infinite values; they cannot be imputed around")
        if len(vals) == 1:
            kind, levels = "constant", (float(vals[0]),)
        elif len(vals) == 2:
            kind, levels = "binary", (float(vals[0]), float(vals[1]))
        else:
            kind, levels = "numeric", ()
    else:
        _core.refuse_numeric_strays(s.to_frame(name), [name], "MiceImputer")
        uniq = list(pd.unique(obs))
        levels = tuple(sorted(uniq, key=str))
        restore = {"type": "object"}
        if len(levels) > _MAXCAT:
            raise InputError(f"column '{name}' has {len(levels)} distinct text values (more than {_MAXCAT}); an "
                             "identifier or free text cannot be imputed -- leave it out of `columns`")
        kind = "constant" if len(levels) == 1 else "binary" if len(levels) == 2 else "categorical"
    if kind == "constant":
        return VarSpec(name, "constant", levels if kind != "constant" else (obs.iloc[0],), "", restore)
    chosen = _DEFAULT_METHOD[kind] if method is None else method
    allowed = [m for m, kinds in METHODS.items() if kind in kinds] + (["pmm"] if kind in ("binary", "ordered") else [])
    if chosen not in allowed:
        raise InputError(f"method {chosen!r} cannot impute column '{name}' ({kind}"
                         f"{'' if kind == 'numeric' else f', levels {list(levels)[:6]}'}); "
                         f"use one of {sorted(set(allowed))}")
    return VarSpec(name, kind, levels, chosen, restore)


def _encode(s: pd.Series, spec: VarSpec, where: str) -> np.ndarray:
    """Values (numeric) or level codes (0-based) with NaN where missing; unknown levels refused."""
    miss = s.isna().to_numpy()
    if spec.kind == "numeric":
        return _core.as_numeric(s, f"column '{spec.name}'")
    if spec.kind == "constant":
        out = np.zeros(len(s))
        out[miss] = np.nan
        return out
    out = np.full(len(s), np.nan)
    if isinstance(s.dtype, pd.CategoricalDtype) and tuple(s.cat.categories) == tuple(spec.levels):
        codes = s.cat.codes.to_numpy()
        out[codes >= 0] = codes[codes >= 0]
        return out
    vals = s.to_numpy(dtype=object)
    lookup = {lev: i for i, lev in enumerate(spec.levels)}
    bad = []
    for r in np.flatnonzero(~miss):
        v = vals[r]
        try:
            code = lookup.get(v)
        except TypeError:  # unhashable
            code = None
        if code is None:
            for lev, i in lookup.items():
                try:
                    if bool(v == lev):
                        code = i
                        break
                except (TypeError, ValueError):
                    continue
        if code is None:
            bad.append(v)
        else:
            out[r] = code
    if bad:
        shown = list(dict.fromkeys(bad))[:5]
        raise InputError(f"{where}: column '{spec.name}' has value(s) {shown} not seen in the development data "
                         f"(levels {list(spec.levels)[:10]}); new categories cannot be imputed from the development "
                         "fit")
    return out


def _decode(codes: np.ndarray, original: pd.Series, spec: VarSpec) -> pd.Series:
    """A completed column in the original column's type."""
    r = spec.restore
    idx = original.index
    if spec.kind == "constant":
        val = spec.levels[0]
        return original.where(original.notna(), val) if r.get("type") != "category" else \
            original.fillna(val)
    if spec.kind == "numeric":
        dtype = r.get("dtype")
        out = pd.Series(codes, index=idx, name=original.name)
        if dtype is not None and pd.api.types.is_integer_dtype(dtype):
            return out.round().astype(dtype)
        return out.astype(dtype) if dtype is not None and pd.api.types.is_float_dtype(dtype) else out
    lev = np.asarray(codes, dtype=int)
    values = [spec.levels[k] for k in lev]
    if r["type"] == "category":
        return pd.Series(pd.Categorical(values, categories=list(r["categories"]), ordered=r["ordered"]),
                         index=idx, name=original.name)
    if r["type"] == "bool":
        dtype = r.get("dtype")
        out = pd.Series(values, index=idx, name=original.name)
        return out.astype(bool) if dtype is not None and pd.api.types.is_bool_dtype(dtype) else out
    if r["type"] == "numeric":
        dtype = r.get("dtype")
        out = pd.Series(np.asarray(values, dtype=float), index=idx, name=original.name)
        if dtype is not None and pd.api.types.is_integer_dtype(dtype):
            return out.round().astype(dtype)
        return out
    return pd.Series(values, index=idx, name=original.name, dtype=object)


# =========================================================================== result
@dataclass(frozen=True, repr=False)
class MultipleImputation(Result):
    """``m`` completed copies of a data set (iterate, index or ``len`` like a list of DataFrames).

    Attributes
    ----------
    datasets : the completed DataFrames (index and columns of the input; columns the imputer did
        not use are copied untouched).
    missing : boolean DataFrame, True where a value was imputed (the imputer's columns).
    methods : column -> method (``""``: complete, nothing imputed).
    outcome : the outcome column; ``outcome_used``: whether it was a predictor of the imputation
        models (True for the development data, False for new cohorts, whose outcome is never read).
    role : ``"development"`` or ``"new data"``.
    logged_events : predictors left out of an imputation model (constant or collinear), as mice's
        ``loggedEvents``.
    """

    datasets: tuple = field(compare=False)
    missing: pd.DataFrame = field(compare=False)
    methods: dict
    m: int
    maxit: int
    seed: Any
    engine: str
    outcome: str | None
    outcome_used: bool
    role: str
    n: int
    logged_events: tuple = ()
    method: str = "multiple imputation by chained equations (MICE)"

    def __len__(self) -> int:
        return len(self.datasets)

    def __iter__(self):
        return iter(self.datasets)

    def __getitem__(self, j: int) -> pd.DataFrame:
        return self.datasets[j]

    def complete(self, j: int) -> pd.DataFrame:
        """The ``j``-th completed data set (0-based; mice's ``complete(imp, j + 1)``)."""
        return self.datasets[j]

    def long(self) -> pd.DataFrame:
        """All completed data sets stacked, with ``.imp`` (1..m) and ``.id`` (the row label) first,
        as ``mice::complete(imp, "long")``."""
        parts = []
        for j, d in enumerate(self.datasets, start=1):
            parts.append(d.assign(**{".imp": j, ".id": d.index}).reset_index(drop=True))
        out = pd.concat(parts, ignore_index=True)
        return out[[".imp", ".id", *[c for c in out.columns if c not in (".imp", ".id")]]]

    @property
    def n_imputed(self) -> dict:
        """Column -> number of imputed values."""
        return {c: int(v) for c, v in self.missing.sum().items()}

    @property
    def n_incomplete_rows(self) -> int:
        """Rows with at least one imputed value (those complete-case analysis would drop)."""
        return int(self.missing.any(axis=1).sum())

    def to_frame(self) -> pd.DataFrame:
        rows = []
        for c in self.missing.columns:
            mask = self.missing[c].to_numpy()
            first = self.datasets[0][c]
            numeric = pd.api.types.is_numeric_dtype(first.dtype) and not pd.api.types.is_bool_dtype(first.dtype)
            obs_mean = imp_mean = np.nan
            if numeric:
                obs_mean = float(first[~mask].mean()) if (~mask).any() else np.nan
                if mask.any():
                    imp_mean = float(np.mean([d[c].to_numpy(dtype=float)[mask].mean() for d in self.datasets]))
            rows.append({"variable": c, "method": self.methods.get(c, ""), "n_missing": int(mask.sum()),
                         "pct_missing": 100.0 * mask.mean() if len(mask) else np.nan,
                         "observed_mean": obs_mean, "imputed_mean": imp_mean})
        return pd.DataFrame(rows).set_index("variable")

    def _title(self) -> str:
        return (f"MultipleImputation ({self.role}, m={self.m}, maxit={self.maxit}, engine={self.engine}; "
                f"{self.n_incomplete_rows} of {self.n} rows had a missing value; outcome "
                f"{'used' if self.outcome_used else 'not used'} as a predictor)")

    def plot(self, variables: Sequence[str] | None = None, ax=None):
        """Observed (blue) and imputed (red) values of numeric (more than two-valued) variables per imputation, as
        ``mice::stripplot`` (imputation 0 = the observed data)."""
        import matplotlib.pyplot as plt

        cols = [c for c in (variables or self.missing.columns)
                if self.missing[c].any() and self.methods.get(c) in ("pmm", "norm")
                and pd.api.types.is_numeric_dtype(self.datasets[0][c].dtype)
                and self.datasets[0][c].nunique() > 2]
        if not cols:
            raise InputError("plot: no numeric variable with imputed values")
        if ax is None:
            _, axes = plt.subplots(1, len(cols), figsize=(3.2 * len(cols), 3), squeeze=False)
            axes = axes[0]
        else:
            axes = np.atleast_1d(ax)
        rng = np.random.default_rng(0)
        for a, c in zip(axes, cols):
            mask = self.missing[c].to_numpy()
            obs = self.datasets[0][c].to_numpy(dtype=float)[~mask]
            a.scatter(rng.uniform(-0.15, 0.15, len(obs)), obs, s=4, color="tab:blue", alpha=0.5)
            for j, d in enumerate(self.datasets, start=1):
                v = d[c].to_numpy(dtype=float)[mask]
                a.scatter(j + rng.uniform(-0.15, 0.15, len(v)), v, s=6, color="tab:red", alpha=0.7)
            a.set(title=str(c), xlabel="imputation (0 = observed)")
        return axes


# =========================================================================== the imputer
def _outcome_codes(df: pd.DataFrame, outcome: str, event: Any, where: str) -> np.ndarray:
    codes = _core.binary_outcome(df[outcome], outcome, event=event).codes
    miss = np.isnan(codes)
    if miss.any():
        raise InputError(
            f"{where}: the outcome '{outcome}' is missing in {int(miss.sum())} row(s) (positions "
            f"{_core.positions(miss)}); rows without an outcome cannot inform a prediction model -- drop them "
            "(and report the number) before imputing the predictors")
    return codes


class MiceImputer:
    """Multiple imputation by chained equations, fitted on development data, applied to new data.

    Parameters
    ----------
    m : number of imputations (completed data sets), >= 2.
    method : ``{column: method}`` overriding the default per type: ``"pmm"`` (numeric; also 0/1
        and ordered codes), ``"norm"`` (numeric), ``"logreg"`` (two values), ``"polyreg"``
        (categories), ``"polr"`` (ordered categories).
    outcome : the binary outcome column: a predictor in every development imputation model (it is
        never imputed: rows without it are refused) and never read in new data.
    event : the outcome's event label when it is not 0/1, bool or a known variable.
    columns : the variables that are imputed and predict each other (default: every column but the
        outcome); other columns are carried through untouched.
    maxit : iterations of the chained equations (mice's default 5).
    donors : donors of predictive mean matching (mice's default 5).
    seed : int (or SeedSequence); chain ``j`` draws from the ``j``-th child of ``SeedSequence(seed)``.
    scheduler : where the ``m`` chains run (:func:`her2stats.resampling.map_tasks`); the result does
        not depend on it.
    engine : ``"python"`` or ``"r"`` (``mice::mice(..., seed = seed)``: with an integer seed the
        development imputations are exactly those of ``mice(data, m, method, maxit, seed = seed)``
        in R with the outcome as the last column).

    After :meth:`fit`, ``imputations_`` holds the development data's :class:`MultipleImputation`;
    :meth:`transform` imputes new data from it without refitting on the new rows and without
    their outcome (module notes, "New cohorts").

    Examples
    --------
    >>> imp = MiceImputer(m=20, outcome="her2_positive", seed=1).fit(dev)          # doctest: +SKIP
    >>> dev_sets = imp.imputations_                                               # doctest: +SKIP
    >>> test_sets = imp.transform(test)                                           # doctest: +SKIP
    >>> model = fit_lrm_mi(dev_sets, "her2_positive", ["age", "grade", "er"])       # doctest: +SKIP
    >>> performance_mi(model, test_sets).to_frame()                               # doctest: +SKIP

    Compare with R: ``mice(dev, m = 20, method = c(age = "pmm", grade = "polr", er = "logreg"),
    seed = 1)``; the pooled estimates agree within Monte-Carlo error.
    """

    def __init__(self, m: int = 20, method: Mapping[str, str] | None = None, outcome: str | None = None,
                 event: Any = None, columns: Sequence[str] | None = None, maxit: int = 5, donors: int = 5,
                 seed: Any = 0, scheduler: Any = None, engine: str | None = None):
        self.m = m
        self.method = method
        self.outcome = outcome
        self.event = event
        self.columns = columns
        self.maxit = maxit
        self.donors = donors
        self.seed = seed
        self.scheduler = scheduler
        self.engine = engine

    def get_params(self, deep: bool = True) -> dict:
        return {k: getattr(self, k) for k in ("m", "method", "outcome", "event", "columns", "maxit", "donors",
                                              "seed", "scheduler", "engine")}

    def set_params(self, **params: Any) -> "MiceImputer":
        for k, v in params.items():
            if k not in self.get_params():
                raise InputError(f"MiceImputer has no parameter {k!r}")
            setattr(self, k, v)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items() if v is not None)
        return f"MiceImputer({args})"

    # ------------------------------------------------------------------ checks
    def _check(self, data: Any) -> tuple[list[str], str]:
        if not isinstance(data, pd.DataFrame):
            raise InputError(f"MiceImputer needs a pandas DataFrame, got {type(data).__name__}")
        _check_int(self.m, "m (number of imputations)", 2)
        _check_int(self.maxit, "maxit", 1)
        _check_int(self.donors, "donors", 1)
        engine = resolve_engine(self.engine)
        if self.outcome is not None:
            check_column_names(data, [self.outcome], "MiceImputer")
            if self.outcome not in data.columns:
                raise InputError(f"MiceImputer: outcome column '{self.outcome}' is not in the data "
                                 f"(columns: {list(data.columns)[:20]})")
        if self.columns is None:
            cols = [c for c in data.columns if c != self.outcome]
        elif isinstance(self.columns, str):
            cols = [self.columns]
        else:
            cols = list(self.columns)
        check_column_names(data, cols, "MiceImputer")
        absent = [c for c in cols if c not in data.columns]
        if absent:
            raise InputError(f"MiceImputer: column(s) {absent} are not in the data "
                             f"(columns: {list(data.columns)[:20]})")
        if self.outcome is not None and self.outcome in cols:
            raise InputError(f"MiceImputer: the outcome '{self.outcome}' is also listed in columns; it is a predictor "
                             "of the development imputations by itself and is never imputed")
        if len(cols) < 1:
            raise InputError("MiceImputer needs at least one column to impute")
        if self.method is not None:
            if not isinstance(self.method, Mapping):
                raise InputError(f"method must be a dict {{column: method}}, got {self.method!r}")
            unknown = [k for k in self.method if k not in cols]
            if unknown:
                raise InputError(f"method names column(s) {unknown} that are not imputed (columns: {cols[:20]})")
            bad = {k: v for k, v in self.method.items() if v not in METHODS}
            if bad:
                raise InputError(f"unknown imputation method(s) {bad}; use one of {sorted(METHODS)}")
        return cols, engine

    # ------------------------------------------------------------------ fit
    def fit(self, data: pd.DataFrame) -> "MiceImputer":
        """Impute the development data ``m`` times (``imputations_``) and keep what new data need."""
        cols, engine = self._check(data)
        if len(data) < 3:
            raise InputError(f"MiceImputer needs at least 3 rows, got {len(data)}")
        y = None if self.outcome is None else _outcome_codes(data, self.outcome, self.event, "MiceImputer.fit")
        methods = dict(self.method or {})
        specs = [_variable_spec(c, data[c], methods.get(c)) for c in cols]
        Z0 = np.column_stack([_encode(data[c], s, "MiceImputer.fit") for c, s in zip(cols, specs)])
        miss = np.isnan(Z0)
        seed_root = self.seed if isinstance(self.seed, np.random.SeedSequence) else np.random.SeedSequence(self.seed)
        fit_ss, new_ss = _branches(seed_root)
        logged: list[str] = []
        if engine == "python":
            chains = _children(fit_ss, int(self.m))
            runner = _ChainRunner(Z0, specs, y, int(self.maxit), int(self.donors))
            results = map_tasks(runner, chains, scheduler=self.scheduler)
            states = [r[0] for r in results]
            for j, r in enumerate(results, start=1):
                logged += [f"imputation {j}, iteration {it}: {name}: left out predictor(s) {', '.join(dropped)} "
                           "(constant, collinear or correlated >= 0.99 with it)" for it, name, dropped in r[1]]
        else:
            r_seed = (int(self.seed) % (2 ** 31 - 1) if isinstance(self.seed, (int, np.integer))
                      and not isinstance(self.seed, bool) else _r_seed(fit_ss))
            states, logged = _mice_r(Z0, specs, y, int(self.m), int(self.maxit), int(self.donors), r_seed)
        if logged:
            warnings.warn(f"MiceImputer: {len(logged)} logged event(s): predictors left out of imputation models "
                          f"(constant or collinear), e.g. {logged[0]!r}; all are in imputations_.logged_events",
                          UserWarning, stacklevel=find_stack_level())
        self.engine_ = engine
        self.columns_ = cols
        self.specs_ = specs
        self._states = states
        self._new_ss = new_ss
        self.imputations_ = _assemble(data, cols, specs, states, miss, engine=engine, m=int(self.m),
                                      maxit=int(self.maxit), seed=self.seed, outcome=self.outcome,
                                      outcome_used=self.outcome is not None, role="development", logged=logged)
        return self

    def fit_transform(self, data: pd.DataFrame) -> MultipleImputation:
        """:meth:`fit`, then the development imputations (``imputations_``)."""
        return self.fit(data).imputations_

    # ------------------------------------------------------------------ new data
    def transform(self, data: pd.DataFrame) -> MultipleImputation:
        """Impute new rows (a test cohort) from the development fit, without their outcome.

        Each of the ``m`` completed data sets of the new rows comes from the matching completed
        development data set (module notes, "New cohorts"). Nothing is refitted on the new rows;
        the outcome column, if present, is copied through and never read.
        """
        if not hasattr(self, "_states"):
            raise InputError("MiceImputer.transform: the imputer is not fitted; call fit(development data) first")
        if not isinstance(data, pd.DataFrame):
            raise InputError(f"MiceImputer.transform needs a pandas DataFrame, got {type(data).__name__}")
        cols, specs = self.columns_, self.specs_
        absent = [c for c in cols if c not in data.columns]
        if absent:
            raise InputError(f"MiceImputer.transform: column(s) {absent} used by the imputer are not in the new data")
        check_column_names(data, cols, "MiceImputer.transform")
        for c, s in zip(cols, specs):
            if s.kind == "numeric" and not pd.api.types.is_numeric_dtype(data[c].dtype):
                _core.refuse_numeric_strays(data, [c], "MiceImputer.transform")
        Z0 = np.column_stack([_encode(data[c], s, "MiceImputer.transform") for c, s in zip(cols, specs)])
        miss = np.isnan(Z0)
        # constant variables: the one development value
        for j, s in enumerate(specs):
            if s.kind == "constant":
                Z0[miss[:, j], j] = 0.0
        needs = [specs[j].name for j in range(len(specs)) if miss[:, j].any() and not specs[j].method
                 and specs[j].kind != "constant"]
        if needs:
            raise InputError(f"MiceImputer.transform: column(s) {needs} have missing values in the new data but no "
                             "imputation method")
        if self.engine_ == "python":
            chains = _children(self._new_ss, len(self._states))
            runner = _NewRowsRunner(Z0, specs, int(self.maxit), int(self.donors))
            states = map_tasks(runner, list(zip(self._states, chains)), scheduler=self.scheduler)
        else:
            states = _mice_r_new(self._states, Z0, specs, int(self.maxit), int(self.donors), self._new_ss)
        return _assemble(data, cols, specs, states, miss, engine=self.engine_, m=len(states), maxit=int(self.maxit),
                         seed=self.seed, outcome=self.outcome, outcome_used=False, role="new data", logged=[])


def _branches(root: np.random.SeedSequence) -> tuple[np.random.SeedSequence, np.random.SeedSequence]:
    """Two fixed, independent seed branches (development chains, new data) of ``root``."""
    return (np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, 0)),
            np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, 1)))


def _children(ss: np.random.SeedSequence, k: int) -> list[np.random.SeedSequence]:
    """The first ``k`` children of ``ss``, the same at every call (``spawn`` would continue)."""
    return [np.random.SeedSequence(ss.entropy, spawn_key=(*ss.spawn_key, j)) for j in range(k)]


def _r_seed(ss: np.random.SeedSequence) -> int:
    return int(ss.generate_state(1, dtype=np.uint32)[0] % (2 ** 31 - 1))


class _ChainRunner:
    """One development chain per SeedSequence (picklable for Dask)."""

    def __init__(self, Z0, specs, y, maxit, donors):
        self.Z0, self.specs, self.y, self.maxit, self.donors = Z0, specs, y, maxit, donors

    def __call__(self, ss: np.random.SeedSequence):
        log: list = []
        Z = run_chain(self.Z0, self.specs, self.y, self.maxit, self.donors, np.random.default_rng(ss), log)
        return Z, log


class _NewRowsRunner:
    def __init__(self, Z0, specs, maxit, donors):
        self.Z0, self.specs, self.maxit, self.donors = Z0, specs, maxit, donors

    def __call__(self, item):
        Zdev, ss = item
        return run_new_rows(Zdev, self.Z0, self.specs, self.maxit, self.donors, np.random.default_rng(ss))


def _assemble(data: pd.DataFrame, cols: list[str], specs: list[VarSpec], states: list[np.ndarray],
              miss: np.ndarray, **meta: Any) -> MultipleImputation:
    datasets = []
    for Z in states:
        d = data.copy()
        for j, (c, s) in enumerate(zip(cols, specs)):
            if miss[:, j].any():
                d[c] = _decode(Z[:, j], data[c], s).array  # by position: the index may repeat labels
        datasets.append(d)
    missing = pd.DataFrame(miss, index=data.index, columns=cols)
    methods = {c: (s.method if miss[:, j].any() else "") if s.kind != "constant" else
               ("constant" if miss[:, j].any() else "") for j, (c, s) in enumerate(zip(cols, specs))}
    return MultipleImputation(datasets=tuple(datasets), missing=missing, methods=methods, m=meta["m"],
                              maxit=meta["maxit"], seed=meta["seed"], engine=meta["engine"], outcome=meta["outcome"],
                              outcome_used=meta["outcome_used"], role=meta["role"], n=len(data),
                              logged_events=tuple(meta["logged"]))


# --------------------------------------------------------------------------- R engine
def _r_frame(Z: np.ndarray, specs: list[VarSpec], y: np.ndarray | None) -> tuple[pd.DataFrame, list[int]]:
    """What R sees: model variables under v1..vk (levels as codes l1..lK), the outcome as y."""
    from .. import r_bridge

    used = [j for j, s in enumerate(specs) if s.kind != "constant"]
    names = r_bridge.safe_names(len(used))
    cols: dict[str, Any] = {}
    for v, j in zip(names, used):
        s = specs[j]
        if s.kind == "numeric":
            cols[v] = Z[:, j].astype(float)
        else:
            cols[v] = r_bridge.coded_factor(Z[:, j], len(s.levels), ordered=s.kind == "ordered")
    if y is not None:
        cols["y"] = np.asarray(y, float)
    return pd.DataFrame(cols), used


def _from_r(frames: list[pd.DataFrame], specs: list[VarSpec], used: list[int], Z0: np.ndarray,
            rows: slice | None = None) -> list[np.ndarray]:
    states = []
    for fr in frames:
        Z = Z0.copy()
        for k, j in enumerate(used):
            col = fr.iloc[:, k]
            if specs[j].kind == "numeric":
                vals = np.asarray(col, dtype=float)
            else:
                vals = np.array([np.nan if pd.isna(v) else float(int(str(v)[1:]) - 1) for v in np.asarray(col, object)])
            Z[:, j] = vals if rows is None else vals[rows]
        states.append(Z)
    return states


def _mice_r(Z0, specs, y, m, maxit, donors, seed) -> tuple[list[np.ndarray], list[str]]:
    from .. import r_bridge

    r_bridge.require("mice")
    frame, used = _r_frame(Z0, specs, y)
    miss = np.isnan(Z0)
    method = [specs[j].method if miss[:, j].any() else "" for j in used] + ([""] if y is not None else [])
    out = r_bridge.call("h2s_mice", frame, method, int(m), int(maxit), int(seed), donors=int(donors))
    states = _from_r(out["datasets"], specs, used, Z0)
    logged = []
    if out.get("logged") is not None:
        lg = out["logged"]
        import re

        names = {f"v{k + 1}": specs[j].name for k, j in enumerate(used)}

        def named(x: str) -> str:  # v3 -> its column; v3l2 (a level's indicator) -> column=level
            mt = re.fullmatch(r"(v\d+)(?:l(\d+))?", x.strip())
            if not mt or mt.group(1) not in names:
                return "the outcome" if x.strip() == "y" else x.strip()
            name = names[mt.group(1)]
            if mt.group(2):
                spec = specs[used[int(mt.group(1)[1:]) - 1]]
                return f"{name}={spec.levels[int(mt.group(2)) - 1]}"
            return name

        for _, row in lg.iterrows():
            out_names = ", ".join(named(x) for x in str(row["out"]).split(","))
            if int(row["it"]) == 0:  # mice's checks before imputing (constant or collinear columns)
                logged.append(f"before imputing: mice left out {out_names} ({row['meth']})")
            else:
                logged.append(f"imputation {int(row['im'])}, iteration {int(row['it'])}: {named(str(row['dep']))}: "
                              f"mice left out predictor(s) {out_names}")
    return states, logged


def _mice_r_new(dev_states, Z0, specs, maxit, donors, new_ss) -> list[np.ndarray]:
    from .. import r_bridge

    r_bridge.require("mice")
    n_dev = dev_states[0].shape[0]
    miss = np.isnan(Z0)
    out_states = []
    for Zdev, ss in zip(dev_states, _children(new_ss, len(dev_states))):
        Zall = np.vstack([Zdev, Z0])
        frame, used = _r_frame(Zall, specs, None)
        method = [specs[j].method if miss[:, j].any() else "" for j in used]
        ignore = np.r_[np.zeros(n_dev, bool), np.ones(len(Z0), bool)]
        out = r_bridge.call("h2s_mice", frame, method, 1, int(maxit), _r_seed(ss), donors=int(donors),
                            ignore=ignore.tolist())
        out_states += _from_r(out["datasets"], specs, used, Z0, rows=slice(n_dev, None))
    return out_states


# =========================================================================== Rubin's rules
def barnard_rubin_df(m: int, b: np.ndarray, t: np.ndarray, dfcom: float) -> np.ndarray:
    """Barnard & Rubin (1999) degrees of freedom, as ``mice:::barnard.rubin``:
    ``lambda = (1 + 1/m) b / t`` (at least 1e-4), ``df_old = (m - 1) / lambda^2``,
    ``df_obs = (dfcom + 1) / (dfcom + 3) dfcom (1 - lambda)``, ``df = df_old df_obs / (df_old + df_obs)``
    (``df_old`` when ``dfcom`` is infinite)."""
    b = np.asarray(b, float)
    t = np.asarray(t, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        lam = (1 + 1 / m) * b / t
    lam = np.where(lam < 1e-4, 1e-4, lam)
    dfold = (m - 1) / lam ** 2
    if not np.isfinite(dfcom):
        return dfold
    dfobs = (dfcom + 1) / (dfcom + 3) * dfcom * (1 - lam)
    return dfold * dfobs / (dfold + dfobs)


def rubin(Q: np.ndarray, U: np.ndarray, dfcom: float = math.inf) -> dict[str, np.ndarray]:
    """Rubin's rules for ``m`` x ``k`` estimates ``Q`` with variances ``U``.

    ``qbar = mean(Q)``, ``ubar = mean(U)``, ``b = var(Q)`` (ddof 1), ``t = ubar + (1 + 1/m) b``,
    ``riv = (1 + 1/m) b / ubar``, ``lambda = (1 + 1/m) b / t``, Barnard-Rubin ``df`` and
    ``fmi = (riv + 2 / (df + 3)) / (riv + 1)`` (``mice::pool``, rule ``rubin1987``).
    """
    Q = np.asarray(Q, float)
    U = np.asarray(U, float)
    Q = Q[:, None] if Q.ndim == 1 else Q
    U = U[:, None] if U.ndim == 1 else U
    m = Q.shape[0]
    qbar = Q.mean(0)
    ubar = U.mean(0)
    b = Q.var(0, ddof=1)
    t = ubar + (1 + 1 / m) * b
    with np.errstate(invalid="ignore", divide="ignore"):
        riv = (1 + 1 / m) * b / ubar
        lam = (1 + 1 / m) * b / t
    df = barnard_rubin_df(m, b, t, dfcom)
    with np.errstate(invalid="ignore", divide="ignore"):
        fmi = (riv + 2 / (df + 3)) / (riv + 1)
    return {"qbar": qbar, "ubar": ubar, "b": b, "t": t, "df": df, "riv": riv, "lambda": lam, "fmi": fmi,
            "dfcom": np.full(len(qbar), float(dfcom))}


@dataclass(frozen=True, repr=False)
class PooledEstimates(Result):
    """Estimates pooled by Rubin's rules; ``table`` has one row per parameter: estimate, se
    (``sqrt(t)``), statistic, df (Barnard-Rubin), p_value, ci_low, ci_high (``estimate -/+
    t_df se``), ubar, b, t, dfcom, riv, lambda, fmi."""

    table: pd.DataFrame
    m: int
    level: float
    engine: str
    method: str = "Rubin's rules (Barnard-Rubin df)"

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    @property
    def estimate(self) -> pd.Series:
        return self.table["estimate"]


def _pooled_table(r: Mapping[str, np.ndarray], names: Sequence[str], level: float) -> pd.DataFrame:
    se = np.sqrt(r["t"])
    with np.errstate(invalid="ignore", divide="ignore"):
        stat = r["qbar"] / se
        q = sps.t.ppf(1 - (1 - level) / 2, r["df"])
        p = 2 * sps.t.sf(np.abs(stat), r["df"])
    return pd.DataFrame({"estimate": r["qbar"], "se": se, "statistic": stat, "df": r["df"], "p_value": p,
                         "ci_low": r["qbar"] - q * se, "ci_high": r["qbar"] + q * se, "ubar": r["ubar"],
                         "b": r["b"], "t": r["t"], "dfcom": r["dfcom"], "riv": r["riv"], "lambda": r["lambda"],
                         "fmi": r["fmi"]}, index=list(names))


def _as_matrix(x: Any, name: str) -> tuple[np.ndarray, list[str] | None]:
    if isinstance(x, pd.DataFrame):
        return x.to_numpy(dtype=float), [str(c) for c in x.columns]
    if isinstance(x, (list, tuple)) and x and all(isinstance(v, pd.Series) for v in x):
        names = list(x[0].index)
        if any(list(v.index) != names for v in x):
            raise InputError(f"pool: the {name} of the imputations name different parameters")
        return np.vstack([v.to_numpy(dtype=float) for v in x]), [str(n) for n in names]
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"pool: {name} must be numbers (one row per imputation)") from None
    return arr, None


def pool(estimates: Any, variances: Any, dfcom: float = math.inf, level: float = 0.95,
         names: Sequence[str] | None = None, engine: str | None = None) -> PooledEstimates:
    """Pool per-imputation estimates by Rubin's rules (``mice::pool`` / ``mice::pool.scalar``).

    ``qbar = (1/m) sum Q_j``; ``T = ubar + (1 + 1/m) B`` with ``ubar`` the mean within-imputation
    variance and ``B`` the between-imputation variance of the ``Q_j``; intervals
    ``qbar -/+ t_{df, 1-a/2} sqrt(T)`` on Barnard & Rubin's (1999) degrees of freedom (``dfcom``:
    the complete-data degrees of freedom, ``n - p`` for a regression; infinite for large-sample
    statistics); ``riv``, ``lambda`` and ``fmi`` as mice.

    Parameters
    ----------
    estimates : ``m`` values, an ``m`` x ``k`` array, a DataFrame (columns = parameters) or a list
        of ``m`` Series (index = parameters).
    variances : the squared standard errors in the same shape, or ``m`` covariance matrices
        (``m`` x ``k`` x ``k``; their diagonals are used).
    dfcom : complete-data degrees of freedom (> 0 or ``inf``).
    level : confidence level of ``ci_low``/``ci_high``.
    names : parameter names (default: from the inputs, else ``q1..qk``).
    engine : ``"python"`` or ``"r"`` (``mice::pool.scalar`` per parameter).

    Examples
    --------
    Compare with R: ``mice::pool.scalar(Q, U, n = dfcom, k = 0)`` gives the same ``qbar``, ``t``,
    ``df``, ``r`` (riv) and ``fmi`` to 1e-12.
    """
    level = check_level(level)
    eng = resolve_engine(engine)
    Q, qn = _as_matrix(estimates, "estimates")
    U, _ = _as_matrix(variances, "variances")
    if Q.ndim == 1:
        Q = Q[:, None]
    if U.ndim == 3:
        U = np.diagonal(U, axis1=1, axis2=2)
    if U.ndim == 1:
        U = U[:, None]
    if Q.shape != U.shape:
        raise InputError(f"pool: estimates have shape {Q.shape} but variances {U.shape}; give one variance per "
                         "estimate (one row per imputation)")
    m = Q.shape[0]
    if m < 2:
        raise InputError(f"pool needs at least 2 imputations, got {m}")
    if not np.all(np.isfinite(Q)) or not np.all(np.isfinite(U)):
        raise InputError("pool: estimates and variances must be finite numbers (an imputation's fit failed?)")
    if np.any(U < 0):
        raise InputError("pool: variances must be >= 0 (pass squared standard errors)")
    if isinstance(dfcom, bool) or not isinstance(dfcom, (int, float, np.integer, np.floating)) or \
            np.isnan(dfcom) or dfcom <= 0:
        raise InputError(f"pool: dfcom must be a positive number or inf, got {dfcom!r}")
    names = list(names) if names is not None else (qn or [f"q{i + 1}" for i in range(Q.shape[1])])
    if len(names) != Q.shape[1]:
        raise InputError(f"pool: {len(names)} names for {Q.shape[1]} parameters")
    if eng == "r":
        from .. import r_bridge

        r_bridge.require("mice")
        out = r_bridge.call("h2s_pool_scalar", Q, U, n=float(dfcom), k=0)
        r = {k: np.atleast_1d(np.asarray(out[k], float)) for k in ("qbar", "ubar", "b", "t", "df", "riv", "fmi")}
        with np.errstate(invalid="ignore", divide="ignore"):
            r["lambda"] = (1 + 1 / m) * r["b"] / r["t"]
        r["dfcom"] = np.full(Q.shape[1], float(dfcom))
    else:
        r = rubin(Q, U, float(dfcom))
    return PooledEstimates(table=_pooled_table(r, names, level), m=m, level=level, engine=eng)


# =========================================================================== pooled logistic model
def _datasets(imputations: Any, where: str) -> list[pd.DataFrame]:
    if isinstance(imputations, MultipleImputation):
        ds = list(imputations.datasets)
    elif isinstance(imputations, (list, tuple)) and all(isinstance(d, pd.DataFrame) for d in imputations):
        ds = list(imputations)
    else:
        raise InputError(f"{where} needs a MultipleImputation (MiceImputer) or a list of completed DataFrames, got "
                         f"{type(imputations).__name__}")
    if len(ds) < 2:
        raise InputError(f"{where} needs at least 2 completed data sets, got {len(ds)}")
    n = {len(d) for d in ds}
    if len(n) != 1:
        raise InputError(f"{where}: the completed data sets have different numbers of rows {sorted(n)}")
    return ds


def _check_complete(ds: list[pd.DataFrame], columns: Sequence[str], where: str) -> None:
    for j, d in enumerate(ds, start=1):
        absent = [c for c in columns if c not in d.columns]
        if absent:
            raise InputError(f"{where}: column(s) {absent} are not in completed data set {j}")
        na = d[list(columns)].isna().sum()
        na = na[na > 0]
        if len(na):
            detail = ", ".join(f"'{k}' ({int(v)})" for k, v in na.items())
            raise InputError(f"{where}: completed data set {j} still has missing values in {detail}; pass completed "
                             "data sets (MiceImputer.fit_transform) -- pooling fits with dropped rows is not valid")


@dataclass(frozen=True, repr=False)
class PooledLogisticModel(Result):
    """A logistic model fitted on each completed data set and pooled by Rubin's rules.

    ``coefficients`` (the pooled model: ``qbar``) predict; ``table`` holds, per coefficient, the
    pooled estimate, se, statistic, Barnard-Rubin df, p_value, ci_low/ci_high, the odds ratio with
    ``or_ci_low``/``or_ci_high`` and the pooling quantities (ubar, b, t, dfcom, riv, lambda, fmi);
    ``vcov`` is the total covariance ``Ubar + (1 + 1/m) B``; ``fits`` the per-imputation
    :class:`~her2stats.stats.models.LogisticModel` objects.
    """

    outcome: str
    covariates: tuple
    terms: tuple
    coefficients: pd.Series
    table: pd.DataFrame
    vcov: pd.DataFrame
    m: int
    n: int
    n_events: int
    dfcom: float
    level: float
    engine: str
    outcome_levels: tuple
    fits: tuple = field(default=(), compare=False)
    method: str = "logistic regression on each imputation, pooled by Rubin's rules"

    def design(self, df: pd.DataFrame) -> np.ndarray:
        from .models import design_matrix

        return np.column_stack([np.ones(len(df)), design_matrix(df, self.terms)])

    def linear_predictor(self, df: pd.DataFrame) -> np.ndarray:
        """``X qbar`` (NaN where a predictor is missing: impute new data with ``MiceImputer.transform``)."""
        return self.design(df) @ self.coefficients.to_numpy()

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        """Predicted probability of the event under the pooled coefficients."""
        return 1.0 / (1.0 + np.exp(-self.linear_predictor(df)))

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def _title(self) -> str:
        return (f"PooledLogisticModel {self.outcome} ~ {' + '.join(self.covariates)} (m={self.m}, n={self.n}, "
                f"events={self.n_events}, engine={self.engine})")


def fit_lrm_mi(imputations: Any, outcome: str, covariates: Sequence[str], rcs: Mapping[str, Any] | None = None,
               event: Any = None, level: float = 0.95, engine: str | None = None) -> PooledLogisticModel:
    """Fit :func:`~her2stats.fit_lrm` on each completed data set and pool by Rubin's rules.

    The pooled model is ``qbar``, the mean of the ``m`` coefficient vectors; its covariance
    ``T = Ubar + (1 + 1/m) B`` (``Ubar``: mean of the per-fit inverse information matrices, ``B``:
    covariance of the coefficient vectors); per coefficient, ``se = sqrt(T_kk)``, Barnard-Rubin df
    with ``dfcom = n - p`` (as ``mice::pool`` takes ``df.residual`` of a ``glm``), a t interval and
    the odds ratio ``exp(qbar)`` with ``exp`` of the interval.

    Spline knots (``rcs={"age": 4}``) are placed once on the values of all completed data sets
    stacked, so every imputation's model has the same terms; categorical levels must be the same in
    every data set.

    Parameters
    ----------
    imputations : :class:`MultipleImputation` or a list of completed DataFrames (no missing value in
        ``outcome`` or ``covariates``).
    outcome, covariates, rcs, event : as :func:`~her2stats.fit_lrm`.
    level : confidence level.
    engine : ``"python"`` or ``"r"`` (each fit by ``rms::lrm``; pooled by
        ``mice::pool(as.mira(<glm fits>))`` on the same design).

    Examples
    --------
    Compare with R: ``fits <- lapply(datasets, function(d) glm(y ~ ., binomial, data = d));
    summary(pool(as.mira(fits)))`` -- the same estimates, SEs, df and fmi (1e-9 given the fits,
    1e-6 through the two fitters).
    """
    from .models import fit_lrm, rcs_knots

    level = check_level(level)
    eng = resolve_engine(engine)
    ds = _datasets(imputations, "fit_lrm_mi")
    if isinstance(covariates, str):
        covariates = [covariates]
    covariates = list(covariates)
    if not covariates:
        raise InputError("fit_lrm_mi needs at least one covariate")
    _check_complete(ds, [outcome, *covariates], "fit_lrm_mi")
    knots = None
    if rcs:
        bad = [k for k in rcs if k not in covariates]
        if bad:
            raise InputError(f"rcs names {bad} are not among the covariates {covariates}")
        knots = {}
        for name, spec in rcs.items():
            if np.isscalar(spec):
                stacked = pd.concat([d[name] for d in ds], ignore_index=True)
                knots[name] = [float(k) for k in rcs_knots(pd.to_numeric(stacked), int(spec), name=name)]
            else:
                knots[name] = [float(k) for k in spec]
    fits = [fit_lrm(d, outcome, covariates, rcs=knots, engine=eng, event=event) for d in ds]
    names = list(fits[0].coefficients.index)
    for j, f in enumerate(fits[1:], start=2):
        if list(f.coefficients.index) != names:
            raise InputError(f"fit_lrm_mi: completed data set {j} gives the coefficients {list(f.coefficients.index)}, "
                             f"data set 1 gives {names} (a category absent from one imputation?); the fits cannot "
                             "be pooled")
    m = len(fits)
    Q = np.vstack([f.coefficients.to_numpy() for f in fits])
    V = np.stack([f.vcov.to_numpy() for f in fits])
    U = np.diagonal(V, axis1=1, axis2=2)
    n = fits[0].n
    k = Q.shape[1]
    dfcom = float(max(n - k, 1))
    if eng == "r":
        from .. import r_bridge

        r_bridge.require("mice")
        frames = []
        for f in fits:
            X = f.design()[:, 1:]
            fr = pd.DataFrame(X, columns=r_bridge.safe_names(X.shape[1]))
            fr.insert(0, "y", f.y.astype(float))
            frames.append(fr)
        out = r_bridge.call("h2s_mi_pool_glm", frames, level=level)
        table = pd.DataFrame({c: np.atleast_1d(np.asarray(out[c], float)) for c in
                              ("estimate", "se", "statistic", "df", "p_value", "ci_low", "ci_high", "ubar", "b", "t",
                               "dfcom", "riv", "lambda", "fmi")}, index=names)
    else:
        table = _pooled_table(rubin(Q, U, dfcom), names, level)
    table["odds_ratio"] = np.exp(table["estimate"])
    table["or_ci_low"] = np.exp(table["ci_low"])
    table["or_ci_high"] = np.exp(table["ci_high"])
    B = np.cov(Q, rowvar=False, ddof=1).reshape(k, k)
    T = V.mean(0) + (1 + 1 / m) * B
    return PooledLogisticModel(
        outcome=outcome, covariates=tuple(covariates), terms=fits[0].terms,
        coefficients=pd.Series(table["estimate"].to_numpy(), index=names), table=table,
        vcov=pd.DataFrame(T, index=names, columns=names), m=m, n=n, n_events=fits[0].n_events, dfcom=dfcom,
        level=level, engine=eng, outcome_levels=fits[0].outcome_levels, fits=tuple(fits),
        method="rms::lrm on each imputation, mice::pool" if eng == "r" else
        "logistic regression on each imputation, Rubin's rules")


# =========================================================================== pooled performance
@dataclass(frozen=True, repr=False)
class PooledPerformance(Result):
    """A model's performance on each completed data set of a cohort, pooled by Rubin's rules.

    ``table``: one row per measure -- ``auc`` (pooled on the logit scale and transformed back:
    ``estimate``, ``ci_low``, ``ci_high`` are AUCs, ``se``/``df``/``fmi`` belong to the logit
    scale, as column ``scale`` says), ``calibration_slope`` and ``calibration_intercept`` (logistic
    recalibration ``logit P = a + b lp``), ``citl`` (calibration-in-the-large, ``logit P = a +
    offset(lp)``), ``brier`` and ``net_benefit`` at each threshold (column ``threshold``).
    ``per_imputation``: the measures on each completed data set.
    """

    table: pd.DataFrame
    per_imputation: pd.DataFrame
    m: int
    n: int
    n_events: int
    level: float
    engine: str
    method: str = "per-imputation performance pooled by Rubin's rules (AUC on the logit scale)"

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def value(self, measure: str, threshold: float | None = None) -> float:
        t = self.table[self.table["measure"] == measure]
        if threshold is not None:
            t = t[np.isclose(t["threshold"].astype(float), threshold)]
        if t.empty:
            raise InputError(f"no pooled measure {measure!r}" + (f" at threshold {threshold}" if threshold else ""))
        return float(t["estimate"].iloc[0])


def _predictions(model: Any, d: pd.DataFrame, where: str) -> np.ndarray:
    if isinstance(model, str):
        if model not in d.columns:
            raise InputError(f"{where}: prediction column '{model}' is not in the completed data")
        p = _core.as_numeric(d[model], f"column '{model}'")
    elif hasattr(model, "predict") and not isinstance(model, type):
        p = np.asarray(model.predict(d), float)
    elif callable(model):
        p = np.asarray(model(d), float)
    else:
        raise InputError(f"{where}: model must be a fitted model with .predict(df), a function of a DataFrame or "
                         f"the name of a column of probabilities, got {type(model).__name__}")
    if p.ndim != 1 or len(p) != len(d):
        raise InputError(f"{where}: the model gave {p.shape} predictions for {len(d)} rows")
    if np.isnan(p).any():
        raise InputError(f"{where}: {int(np.isnan(p).sum())} prediction(s) are NaN (missing predictors left in the "
                         "completed data?)")
    if np.any((p <= 0) | (p >= 1)):
        raise InputError(f"{where}: predictions must lie strictly between 0 and 1 (a probability model)")
    return p


def performance_mi(model: Any, imputations: Any, outcome: str | None = None,
                   thresholds: Sequence[float] | None = None, event: Any = None, level: float = 0.95,
                   engine: str | None = None) -> PooledPerformance:
    """AUC, calibration, Brier score and net benefit of a model on a multiply imputed cohort.

    On each completed data set ``j``: the predictions ``p_j`` of ``model``; the AUC with its
    DeLong variance (:func:`~her2stats.roc_auc`, ``direction="<"``: higher risk, more cases);
    ``logit P(y) = a + b logit p_j`` (slope ``b``, intercept ``a``) and ``logit P(y) = a +
    offset(logit p_j)`` (calibration-in-the-large) with their model-based variances; the Brier
    score ``mean((y - p)^2)`` and the net benefit ``NB(t) = mean(c_i)``,
    ``c_i = y_i [p_i >= t] - (1 - y_i) [p_i >= t] t / (1 - t)`` (Vickers & Elkin 2006), each with
    the variance of a mean ``var(c) / n``. Each measure is pooled by Rubin's rules (:func:`pool`);
    the AUC on the logit scale, ``logit(AUC_j)`` with variance ``var_j / (AUC_j (1 - AUC_j))^2``
    (Marshall et al. 2009), transformed back. ``dfcom`` is ``n - 2`` for the slope and intercept,
    ``n - 1`` for calibration-in-the-large, infinite otherwise.

    Parameters
    ----------
    model : a fitted model with ``.predict(df)`` (:class:`PooledLogisticModel`,
        :class:`~her2stats.stats.models.LogisticModel`, ``frozen_lrm``), a function of a DataFrame
        returning probabilities, or the name of a column of probabilities in the completed data.
    imputations : the cohort's :class:`MultipleImputation` (for a test cohort: ``MiceImputer.transform``).
    outcome : outcome column (default: ``model.outcome``); it must be complete.
    thresholds : risk thresholds of the net benefit (none by default).
    engine : ``"python"`` or ``"r"`` (pROC AUC and DeLong variance, ``glm`` recalibration,
        ``mice::pool.scalar``).
    """
    from .roc import roc_auc

    level = check_level(level)
    eng = resolve_engine(engine)
    ds = _datasets(imputations, "performance_mi")
    if outcome is None:
        outcome = getattr(model, "outcome", None)
        if outcome is None:
            raise InputError("performance_mi: pass outcome= (the model does not name its outcome)")
    if not isinstance(outcome, str) or outcome not in ds[0].columns:
        raise InputError(f"performance_mi: outcome column {outcome!r} is not in the completed data")
    th = np.asarray([] if thresholds is None else list(thresholds), dtype=float)
    if th.size and (np.any(~np.isfinite(th)) or np.any((th <= 0) | (th >= 1))):
        raise InputError(f"performance_mi: thresholds must lie strictly between 0 and 1, got {list(th)}")
    rows = []
    n = len(ds[0])
    n_events = 0
    for j, d in enumerate(ds, start=1):
        y = _outcome_codes(d, outcome, event, "performance_mi")
        n_events = int(y.sum())
        p = _predictions(model, d, "performance_mi")
        a = roc_auc(y, p, direction="<", engine=eng)
        rec = {"auc": a.auc, "auc_var": a.se ** 2}
        lp = np.log(p / (1 - p))
        if eng == "r":
            from .. import r_bridge

            out = r_bridge.call("h2s_mi_perf", y.astype(float), p, thresholds=th if th.size else None)
            for key in ("slope", "intercept", "citl", "brier"):
                rec[key] = float(out[key])
                rec[key + "_var"] = float(out[key + "_var"])
            nb = np.atleast_1d(np.asarray(out["nb"], float)) if th.size else np.zeros(0)
            nbv = np.atleast_1d(np.asarray(out["nb_var"], float)) if th.size else np.zeros(0)
        else:
            from .models import newton_logistic

            X = np.column_stack([np.ones(n), lp])
            beta, info, ok = newton_logistic(X, y, maxit=100, tol=1e-12)
            b0, info0, ok0 = newton_logistic(np.ones((n, 1)), y, offset=lp, maxit=100, tol=1e-12)
            if not (ok and ok0):
                raise ConvergenceError(f"performance_mi: the recalibration fit did not converge on completed data "
                                       f"set {j} (the predictions separate the outcomes?)")
            V = np.linalg.inv(info)
            rec.update(slope=beta[1], slope_var=V[1, 1], intercept=beta[0], intercept_var=V[0, 0],
                       citl=b0[0], citl_var=1.0 / info0[0, 0])
            bs = (y - p) ** 2
            rec.update(brier=bs.mean(), brier_var=bs.var(ddof=1) / n)
            nb = np.empty(len(th))
            nbv = np.empty(len(th))
            for i, t in enumerate(th):
                pos = p >= t
                c = y * pos - (1 - y) * pos * t / (1 - t)
                nb[i], nbv[i] = c.mean(), c.var(ddof=1) / n
        for i, t in enumerate(th):
            rec[f"nb_{i}"] = nb[i]
            rec[f"nb_{i}_var"] = nbv[i]
        rows.append(rec)
    per = pd.DataFrame(rows, index=pd.RangeIndex(1, len(ds) + 1, name="imputation"))
    auc = per["auc"].to_numpy()
    if np.any((auc <= 0) | (auc >= 1)):
        raise InputError("performance_mi: an AUC of 0 or 1 on a completed data set cannot be pooled on the logit "
                         "scale (perfect separation)")
    specs = [("auc", None, np.log(auc / (1 - auc)), per["auc_var"].to_numpy() / (auc * (1 - auc)) ** 2, math.inf,
              "logit"),
             ("calibration_slope", None, per["slope"], per["slope_var"], float(n - 2), "identity"),
             ("calibration_intercept", None, per["intercept"], per["intercept_var"], float(n - 2), "identity"),
             ("citl", None, per["citl"], per["citl_var"], float(n - 1), "identity"),
             ("brier", None, per["brier"], per["brier_var"], math.inf, "identity")]
    specs += [("net_benefit", float(t), per[f"nb_{i}"], per[f"nb_{i}_var"], math.inf, "identity")
              for i, t in enumerate(th)]
    out_rows = []
    for name, t, q, u, dfc, scale in specs:
        q = np.asarray(q, float)
        u = np.asarray(u, float)
        if np.all(u == 0) and np.ptp(q) == 0:  # e.g. net benefit where nobody is test-positive
            r = {"estimate": q[0], "se": 0.0, "df": np.inf, "ci_low": q[0], "ci_high": q[0], "fmi": 0.0,
                 "riv": 0.0, "lambda": 0.0}
        else:
            tab = pool(q, u, dfcom=dfc, level=level, names=[name], engine=eng).table.iloc[0]
            r = {k: float(tab[k]) for k in ("estimate", "se", "df", "ci_low", "ci_high", "fmi", "riv", "lambda")}
        if scale == "logit":
            for k in ("estimate", "ci_low", "ci_high"):
                r[k] = float(1 / (1 + math.exp(-r[k])))
        out_rows.append({"measure": name, "threshold": np.nan if t is None else t, **r, "scale": scale})
    table = pd.DataFrame(out_rows)[["measure", "threshold", "estimate", "ci_low", "ci_high", "se", "df", "riv",
                                    "lambda", "fmi", "scale"]]
    return PooledPerformance(table=table, per_imputation=per, m=len(ds), n=n, n_events=n_events, level=level,
                             engine=eng)


# =========================================================================== bootstrap-then-impute
@dataclass(frozen=True, repr=False)
class MIValidationResult(Result):
    """Bootstrap-then-impute optimism correction (Schomaker & Heumann 2018; Wahl et al. 2016).

    ``table``: rows AUC, slope, intercept, citl, Brier, ICI (the indices of
    :func:`~her2stats.pipeline_bootstrap`); columns index_orig (the pooled model on the imputed
    development data), training, test, optimism, index_corrected, n (replicates used),
    optimism_mcse, ci_low, ci_high (location-shifted bootstrap percentile interval of the
    corrected index, Noma et al. 2021). ``model``: the pooled model of the development data.
    """

    table: pd.DataFrame
    model: PooledLogisticModel = field(compare=False)
    m: int
    m_boot: int
    n_boot: int
    n_failed: int
    seed: Any
    n: int
    level: float
    engine: str = "python"
    method: str = "bootstrap-then-impute optimism correction (Schomaker & Heumann 2018)"

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def corrected(self, index: str) -> float:
        return float(self.table.loc[index, "index_corrected"])

    def _title(self) -> str:
        return (f"MIValidationResult (n_boot={self.n_boot}, failed={self.n_failed}, m={self.m} imputations of the "
                f"development data, m_boot={self.m_boot} per resample, n={self.n}; CI {self.level:.0%})")

    def methods_text(self) -> str:
        return (f"Internal validation accounted for the imputation (bootstrap-then-impute; Schomaker & Heumann "
                f"2018): each of {self.n_boot} bootstrap resamples of the development data, missing values included, "
                f"was imputed {self.m_boot} times by chained equations with the same imputation models, the model "
                "was refitted on each imputed resample and the fits pooled; its performance on the imputed "
                f"resample minus its performance on the {self.m} imputations of the original development data "
                "estimated the optimism, which was subtracted from the apparent performance of the pooled model "
                f"({self.n_failed} of {self.n_boot} resamples failed and were left out). Confidence intervals: "
                "location-shifted bootstrap percentile intervals (Noma et al. 2021).")


class _BootMI:
    """One chunk of bootstrap-then-impute replicates (picklable for Dask)."""

    def __init__(self, data, outcome, covariates, terms, y, imputer_params, test_designs, m_boot, event):
        self.data, self.outcome, self.covariates, self.terms = data, outcome, covariates, terms
        self.y, self.params, self.test_designs, self.m_boot, self.event = y, imputer_params, test_designs, m_boot, event

    def __call__(self, rng: np.random.Generator, k: int) -> np.ndarray:
        from ._fitcheck import OK
        from .models import design_matrix, refit_logistic_batch
        from .pipeline_validation import INDICES, performance_indices

        n = len(self.data)
        q = len(INDICES)
        out = np.full((k, 2 * q + 1), np.nan)
        for r in range(k):
            idx = bootstrap_indices(rng, n)
            boot = self.data.iloc[idx].reset_index(drop=True)
            yb = self.y[idx]
            child = int(rng.integers(0, 2 ** 63 - 1))
            status = OK
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    imp = MiceImputer(**{**self.params, "m": self.m_boot, "seed": child, "scheduler": None,
                                         "engine": "python"}).fit(boot).imputations_
            except (InputError, np.linalg.LinAlgError, ValueError):
                out[r, -1] = 99
                continue
            betas, designs = [], []
            for d in imp:
                try:
                    X = np.column_stack([np.ones(n), design_matrix(d, self.terms)])
                except InputError:
                    status = 98
                    break
                b, st = refit_logistic_batch(X, yb, np.ones((1, n)))
                if st[0] != OK:
                    status = int(st[0])
                    break
                betas.append(b[0])
                designs.append(X)
            if status != OK:
                out[r, -1] = status
                continue
            beta = np.mean(betas, axis=0)
            train = np.nanmean([performance_indices(expit(X @ beta), yb) for X in designs], axis=0)
            test = np.nanmean([performance_indices(expit(X @ beta), self.y) for X in self.test_designs], axis=0)
            out[r, :q] = train
            out[r, q:2 * q] = test
            out[r, -1] = OK
        return out



def _fitted_on(imputer: MiceImputer, data: pd.DataFrame) -> bool:
    """Whether ``imputer`` was fitted on exactly these rows (same index, observed values and gaps)."""
    mi = getattr(imputer, "imputations_", None)
    if mi is None or mi.n != len(data) or not mi.datasets[0].index.equals(data.index):
        return False
    for c in [*imputer.columns_, imputer.outcome]:
        if c is None:
            continue
        if c not in data.columns:
            return False
        obs = data[c].notna().to_numpy()
        if c in mi.missing.columns and not np.array_equal(~obs, mi.missing[c].to_numpy()):
            return False
        if not mi.datasets[0][c][obs].equals(data[c][obs]):
            return False
    return True


def validate_mi(data: pd.DataFrame, outcome: str, covariates: Sequence[str], imputer: MiceImputer | None = None,
                rcs: Mapping[str, Any] | None = None, event: Any = None, m_boot: int = 5, n_boot: int = 200,
                seed: Any = 0, level: float = 0.95, scheduler: Any = None, progress: bool = False,
                chunk_size: int = 5) -> MIValidationResult:
    """Bootstrap optimism correction of a logistic model fitted on multiply imputed data
    (bootstrap-then-impute, Schomaker & Heumann 2018), which ``rms::validate`` cannot do.

    1. The development data are imputed ``m`` times (``imputer``, the outcome a predictor) and the
       model fitted on each and pooled (:func:`fit_lrm_mi`); its apparent indices are the means, over
       the ``m`` completed data sets, of the indices of the pooled predictions (``index_orig``).
    2. Each of ``n_boot`` bootstrap resamples of the **incomplete** data is imputed ``m_boot`` times
       by a new :class:`MiceImputer` with the same settings (fitted on the resample, so the
       imputation is inside the resampling); the model is refitted on each imputed resample and
       the fits pooled. Training = the mean of its indices on the imputed resamples; test = the
       mean of its indices on the ``m`` imputations of the original data (step 1), as Wahl et al.
       (2016) evaluate "Boot MI". optimism = mean(training - test); index_corrected =
       index_orig - optimism (Efron-Gong, as :func:`~her2stats.validate`).

    The indices are those of :func:`~her2stats.pipeline_bootstrap` (AUC, calibration slope and
    intercept, calibration-in-the-large, Brier, ICI); CIs are location-shifted percentile intervals
    (Noma et al. 2021: the training values for AUC, Brier and ICI, the test values for the slope,
    intercept and citl, shifted to the corrected estimate). A replicate whose imputation or any
    refit fails (separation, a level absent from the resample) is left out and counted in
    ``n_failed`` (announced). Replicates run in seeded chunks of ``chunk_size``
    (:func:`~her2stats.resampling.run_replicates`), so the result is identical on 1 or N workers.

    Parameters
    ----------
    data : development data with missing predictors (outcome complete); auxiliary columns the
        imputer uses may be included.
    outcome, covariates, rcs, event : the model (as :func:`~her2stats.fit_lrm`).
    imputer : a :class:`MiceImputer` giving ``m``, methods, ``maxit``, ``donors``, ``columns`` and the
        seed of step 1 (default ``MiceImputer(m=20, outcome=outcome, engine="python")``). When it is
        already fitted on ``data`` its development imputations are used as they are; otherwise a
        copy is fitted. The resamples are always imputed on the Python engine (mice through the
        bridge would serialise them).
    m_boot : imputations per bootstrap resample (Schomaker & Heumann: a few suffice).
    n_boot, seed, level, scheduler, progress : as :func:`~her2stats.validate`.
    chunk_size : replicates per seeded task (part of the random stream: keep it to reproduce).
    """
    from .pipeline_validation import INDICES, performance_indices

    if not isinstance(data, pd.DataFrame):
        raise InputError(f"validate_mi needs a pandas DataFrame, got {type(data).__name__}")
    n_boot = _check_int(n_boot, "n_boot", 1)
    m_boot = _check_int(m_boot, "m_boot", 2)
    chunk_size = _check_int(chunk_size, "chunk_size", 1)
    level = check_level(level)
    if isinstance(covariates, str):
        covariates = [covariates]
    covariates = list(covariates)
    check_column_names(data, [outcome, *covariates], "validate_mi")
    absent = [c for c in [outcome, *covariates] if c not in data.columns]
    if absent:
        raise InputError(f"validate_mi: column(s) {absent} are not in the data (columns: {list(data.columns)[:20]})")
    if imputer is None:
        imputer = MiceImputer(m=20, outcome=outcome, event=event, engine="python")
    if not isinstance(imputer, MiceImputer):
        raise InputError(f"imputer must be a MiceImputer, got {type(imputer).__name__}")
    if imputer.outcome != outcome:
        raise InputError(f"validate_mi: the imputer's outcome is {imputer.outcome!r}, the model's {outcome!r}; the "
                         "development imputations must use the model's outcome as a predictor")
    y = _outcome_codes(data, outcome, event, "validate_mi")
    params = imputer.get_params()
    imp = imputer if _fitted_on(imputer, data) else MiceImputer(**params).fit(data)
    cols = imp.columns_
    notimp = [c for c in covariates if c not in cols]
    if notimp:
        raise InputError(f"validate_mi: covariate(s) {notimp} are not among the imputer's columns {cols[:20]}")
    model = fit_lrm_mi(imp.imputations_, outcome, covariates, rcs=rcs, event=event, level=level, engine="python")
    from .models import design_matrix

    designs = [np.column_stack([np.ones(len(d)), design_matrix(d, model.terms)]) for d in imp.imputations_]
    beta = model.coefficients.to_numpy()
    index_orig = np.nanmean([performance_indices(expit(X @ beta), y) for X in designs], axis=0)
    data_r = data.reset_index(drop=True)
    data_r.attrs = {}  # metadata would be deep-copied with every resample
    boot_params = {**params, "scheduler": None, "engine": "python"}  # a Client is not shipped to the workers
    work = _BootMI(data_r, outcome, covariates, model.terms, y, boot_params, designs, m_boot, event)
    reps = run_replicates(work, n_boot, seed=seed, scheduler=scheduler, chunk_size=chunk_size, progress=progress,
                          desc="validate_mi")
    q = len(INDICES)
    status = reps[:, -1].astype(int)
    good = (status == 0) & np.isfinite(reps[:, :2 * q]).all(axis=1)
    n_failed = int((~good).sum())
    if not good.any():
        raise ConvergenceError(f"validate_mi: every one of the {n_boot} bootstrap replicates failed (imputation or "
                               "refit); validation is impossible")
    if n_failed:
        warnings.warn(f"validate_mi: {n_failed} of {n_boot} bootstrap replicates failed (a refit that separates, a "
                      "category absent from the resample, or an imputation that could not be fitted) and are left "
                      f"out of the averages (n_failed={n_failed})", UserWarning, stacklevel=find_stack_level())
    train = reps[good, :q]
    test = reps[good, q:2 * q]
    optimism = (train - test).mean(0)
    corrected = index_orig - optimism
    k = int(good.sum())
    mcse = (train - test).std(0, ddof=1) / np.sqrt(k) if k > 1 else np.full(q, np.nan)
    alpha = 1 - level
    lo = np.empty(q)
    hi = np.empty(q)
    for i, name in enumerate(INDICES):
        dist = test[:, i] if name in ("slope", "intercept", "citl") else train[:, i]
        a, b = np.quantile(dist, [alpha / 2, 1 - alpha / 2])
        lo[i], hi[i] = corrected[i] + a - dist.mean(), corrected[i] + b - dist.mean()
    table = pd.DataFrame({"index_orig": index_orig, "training": train.mean(0), "test": test.mean(0),
                          "optimism": optimism, "index_corrected": corrected, "n": float(k), "optimism_mcse": mcse,
                          "ci_low": lo, "ci_high": hi}, index=list(INDICES))
    return MIValidationResult(table=table, model=model, m=int(imputer.m), m_boot=m_boot, n_boot=n_boot,
                              n_failed=n_failed, seed=seed, n=len(data), level=level)
