"""External validation of frozen (published) prediction models, without refitting.

A model published as coefficients -- including restricted cubic splines in rms's parametrisation
with their knots -- or a set of predictions is applied to a new cohort as is:

* :func:`frozen_lrm` rebuilds a logistic model from its published coefficients;
* :func:`validate_external` measures discrimination (C with DeLong CI), calibration (the
  ``val.prob`` indices and the Van Calster hierarchy with bootstrap CIs) and fits the two
  recalibrations that keep the model frozen: intercept-only (calibration-in-the-large,
  ``logit p* = a + lp``) and logistic (``logit p* = a + b lp``);
* :func:`validate_external_cox` validates a Cox model at a time horizon from its linear
  predictor and the published baseline survival ``S0(t)``: predicted risk
  ``1 - S0(t)^exp(lp - center)``, observed risk by Kaplan-Meier (overall O/E and by risk group),
  calibration slope (Cox regression on lp) and Harrell's C.

References
----------
Steyerberg EW. Clinical Prediction Models, 2nd ed. Springer 2019, ch. 19-20 (updating).
Van Calster B, et al. J Clin Epidemiol 2016;74:167-176. Royston P, Altman DG. External validation
of a Cox prognostic model: principles and methods. BMC Med Res Methodol 2013;13:33.
DeLong ER, DeLong DM, Clarke-Pearson DL. Biometrics 1988;44:837-845.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.stats import norm

from ..engine import resolve_engine
from ..errors import InputError
from ..results import Result
from .calibration import (CalibrationHierarchyResult, ValProbResult, recal_intercept, recalibrate,
                          calibration_hierarchy, check_probabilities, val_prob)
from . import _core
from ._core import expit, renamed_args, z_value
from .models import Term, binary_outcome, design_matrix
from ..schedulers import check_scheduler

__all__ = ["frozen_lrm", "FrozenLogisticModel", "validate_external", "ExternalValidationResult",
           "validate_external_cox", "ExternalCoxValidationResult", "delong_auc_ci"]


# --------------------------------------------------------------------------- frozen model
@dataclass(frozen=True, repr=False)
class FrozenLogisticModel(Result):
    """A logistic model defined by published coefficients (nothing is estimated from data)."""

    coefficients: pd.Series
    terms: tuple[Term, ...]
    source: str = "published coefficients"
    engine: str = "python"
    method: str = "frozen logistic model"

    def design(self, df: pd.DataFrame) -> np.ndarray:
        return np.column_stack([np.ones(len(df)), design_matrix(df, self.terms)])

    def linear_predictor(self, df: pd.DataFrame) -> np.ndarray:
        return self.design(df) @ self.coefficients.to_numpy()

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        return expit(self.linear_predictor(df))

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"coef": self.coefficients, "OR": np.exp(self.coefficients)})


_PRIME = re.compile(r"^(.*?)('+)$")


def frozen_lrm(coefficients: Mapping[str, float] | pd.Series, knots: Mapping[str, Sequence[float]] | None = None,
               levels: Mapping[str, Sequence[Any]] | None = None, source: str = "published coefficients"
               ) -> FrozenLogisticModel:
    """Rebuild a published logistic model from its coefficients (rms naming).

    Names: ``Intercept`` (or ``(Intercept)``); ``x`` for a linear term; ``x``, ``x'``, ``x''``...
    for a restricted cubic spline with ``knots[x]`` (rms parametrisation, see
    :func:`~her2stats.stats.models.rcs_basis`; k knots give k-1 coefficients); ``x=level`` for a
    dummy of a categorical predictor, whose full level list (reference first) is ``levels[x]``.
    Booleans are the levels ``FALSE``/``TRUE``.

    Examples
    --------
    >>> m = frozen_lrm({"Intercept": -1.2, "age": 0.03, "race=black": 0.8},
    ...                levels={"race": ["white", "black", "other"]})   # doctest: +SKIP
    """
    coefs = pd.Series(coefficients, dtype=float)
    knots = {k: [float(v) for v in vs] for k, vs in (knots or {}).items()}
    levels = {k: [str(v) if not isinstance(v, bool) else ("TRUE" if v else "FALSE") for v in vs]
              for k, vs in (levels or {}).items()}
    names = list(coefs.index)
    icpt = [n for n in names if n in ("Intercept", "(Intercept)")]
    if len(icpt) != 1:
        raise InputError(f"the coefficients need exactly one 'Intercept', got names {names}")
    order: list[str] = []
    spline_cols: dict[str, list[str]] = {}
    cat_cols: dict[str, dict[str, str]] = {}
    for n in names:
        if n == icpt[0]:
            continue
        if "=" in n:
            var, lev = n.split("=", 1)
            cat_cols.setdefault(var, {})[lev] = n
            if var not in order:
                order.append(var)
            continue
        m = _PRIME.match(n)
        var = m.group(1) if m else n
        spline_cols.setdefault(var, []).append(n)
        if var not in order:
            order.append(var)
    terms, ordered_names = [], [icpt[0]]
    for var in order:
        if var in cat_cols:
            if var not in levels:
                raise InputError(f"categorical predictor '{var}': give levels={{'{var}': [reference, ...]}} "
                                 f"(the coefficients name levels {list(cat_cols[var])})")
            levs = levels[var]
            missing = [lv for lv in cat_cols[var] if lv not in levs]
            if missing:
                raise InputError(f"levels {missing} of '{var}' have coefficients but are not in levels['{var}'] = {levs}")
            cols = []
            for lv in levs[1:]:
                if lv not in cat_cols[var]:
                    raise InputError(f"level '{lv}' of '{var}' has no coefficient '{var}={lv}' "
                                     f"(only the reference level '{levs[0]}' may lack one)")
                cols.append(f"{var}={lv}")
            terms.append(Term(var, "categorical", tuple(cols), levels=tuple(levs)))
            ordered_names += cols
            continue
        cols = spline_cols[var]
        if len(cols) == 1 and cols[0] == var and var not in knots:
            terms.append(Term(var, "linear", (var,)))
            ordered_names.append(var)
            continue
        if var not in knots:
            raise InputError(f"'{var}' has spline coefficients {cols}: give its knots, knots={{'{var}': [...]}}")
        k = len(knots[var])
        expected = [var + "'" * j for j in range(k - 1)]
        if sorted(cols, key=len) != expected:
            raise InputError(f"'{var}' with {k} knots needs coefficients {expected}, got {cols}")
        terms.append(Term(var, "rcs", tuple(expected), knots=tuple(knots[var])))
        ordered_names += expected
    return FrozenLogisticModel(coefficients=coefs[ordered_names].rename({icpt[0]: "Intercept"}), terms=tuple(terms),
                               source=source)


# --------------------------------------------------------------------------- DeLong
@renamed_args(conf_level="level")
def delong_auc_ci(y: np.ndarray, score: np.ndarray, level: float = 0.95) -> tuple[float, float, float, float]:
    """AUC with DeLong's variance: (auc, se, ci_low, ci_high); limits clipped to [0, 1] as pROC.

    Controls are expected below cases (direction "<"); the placements come from
    :func:`her2stats.stats.roc._delong_placements` (one implementation of DeLong in the package).
    """
    from .roc import delong_placements, delong_var

    y = np.asarray(y, float)
    s = np.asarray(score, float)
    auc, v10, v01 = delong_placements(y, s)
    se = float(np.sqrt(delong_var(v10, v01)))
    z = z_value(level)
    return float(auc), se, float(max(0.0, auc - z * se)), float(min(1.0, auc + z * se))


# --------------------------------------------------------------------------- validation
@dataclass(frozen=True, repr=False)
class ExternalValidationResult(Result):
    """External validation of a frozen logistic model (or of predictions)."""

    _renamed: ClassVar[Mapping[str, str]] = {"auc_lower": "auc_ci_low", "auc_upper": "auc_ci_high"}

    n: int
    n_events: int
    n_excluded: int
    auc: float
    auc_se: float
    auc_ci_low: float
    auc_ci_high: float
    val_prob: ValProbResult
    hierarchy: CalibrationHierarchyResult | None
    recalibration: pd.DataFrame
    level: float
    engine: str
    model: Any = field(repr=False, compare=False, default=None)
    method: str = "external validation (frozen model, no refitting)"

    def to_frame(self) -> pd.DataFrame:
        rows = {"C (AUC)": self.auc, "C ci_low": self.auc_ci_low, "C ci_high": self.auc_ci_high,
                "calibration intercept (slope=1)": self.recalibration.loc["intercept-only", "intercept"],
                "calibration slope": self.recalibration.loc["logistic", "slope"],
                "Brier": self.val_prob.Brier, "Eavg (ICI)": self.val_prob.Eavg, "E90": self.val_prob.E90,
                "Emax": self.val_prob.Emax, "Spiegelhalter z": self.val_prob.S_z}
        return pd.DataFrame({"value": rows})

    def recalibrated(self, method: str = "logistic") -> FrozenLogisticModel:
        """The frozen model with its intercept (``"intercept-only"``) or intercept and all
        coefficients scaled (``"logistic"``) updated: ``a + b * lp``. Needs a model, not predictions."""
        if self.model is None:
            raise InputError("recalibrated() needs the model; this validation used predictions only")
        if method not in self.recalibration.index:
            raise InputError(f"method must be 'intercept-only' or 'logistic', got {method!r}")
        a, b = self.recalibration.loc[method, ["intercept", "slope"]]
        coefs = self.model.coefficients * b
        coefs["Intercept"] = coefs["Intercept"] + a
        return FrozenLogisticModel(coefficients=coefs, terms=tuple(self.model.terms),
                                   source=f"{method} recalibration of a frozen model (a={a:.4g}, b={b:.4g})")

    def predict_recalibrated(self, prob: Any, method: str = "logistic") -> np.ndarray:
        """Recalibrated probabilities ``expit(a + b logit p)`` for predictions of the frozen model."""
        p = np.asarray(prob, float)
        a, b = self.recalibration.loc[method, ["intercept", "slope"]]
        return expit(a + b * np.log(p / (1 - p)))


@renamed_args(conf_level="level", B="n_boot")
def validate_external(model: Any = None, data: pd.DataFrame | None = None, outcome: str | None = None,
                      y: Any = None, prob: Any = None, n_boot: int = 1000, seed: int | None = 0,
                      level: float = 0.95, hierarchy: bool = True, scheduler: Any = None,
                      engine: str | None = None, event: Any = None) -> ExternalValidationResult:
    """Validate a frozen logistic model on an external cohort, or predictions alone.

    Give ``model`` (``frozen_lrm`` or a ``LogisticModel``) with ``data`` and ``outcome``, or ``y``
    and ``prob``. Nothing is refitted: with ``lp = logit p``,

    * discrimination: C (AUC) with DeLong's standard error;
    * calibration: ``val_prob`` indices (intercept and slope of ``logit P = a + b lp``, Eavg/E90/Emax,
      Brier, Spiegelhalter z) and, when ``hierarchy``, the calibration hierarchy with bootstrap CIs;
    * recalibration: intercept-only ``a`` of ``logit P = a + offset(lp)`` and logistic ``(a, b)``;
      ``.recalibrated(method)`` returns the updated frozen model.

    Rows with missing predictors or outcome are excluded, counted in ``n_excluded`` and announced
    (DroppedRowsWarning). ``event`` names the outcome label coded 1 when the outcome holds labels.
    """
    check_scheduler(scheduler)  # refused alike on both engines, even where R resamples
    engine = resolve_engine(engine)
    n_excl = 0
    if model is not None:
        if data is None or outcome is None:
            raise InputError("validate_external(model=...) needs data= and outcome=")
        if outcome not in data.columns:
            raise InputError(f"outcome column '{outcome}' is not in the data")
        cols = [outcome, *[t.name for t in model.terms]]
        missing = [c for c in cols if c not in data.columns]
        if missing:
            raise InputError(f"the external data lack the model's predictors {missing}")
        y_all, _ = binary_outcome(data[outcome], outcome, event=event)
        _core.refuse_numeric_strays(data, [t.name for t in model.terms if t.kind != "categorical"], "validate_external")
        na = data[cols].isna()
        keep = ~na.any(axis=1)
        n_excl = int((~keep).sum())
        _core.announce_dropped("validate_external", n_excl, len(data), {c: int(v) for c, v in na.sum().items()})
        sub = data.loc[keep]
        yy = y_all[keep.to_numpy()]
        p = model.predict(sub)
    else:
        if y is None or prob is None:
            raise InputError("give model=, data= and outcome=, or y= and prob=")
        yy, p, n_excl = check_probabilities(y, prob, event=event, function="validate_external")
    yy, p, n_excl2 = check_probabilities(yy, p, function="validate_external")
    vp = val_prob(yy, p, engine=engine)
    fin = (p > 0) & (p < 1)
    L = np.log(p[fin] / (1 - p[fin]))
    if engine == "r":  # pROC's DeLong interval and glm recalibration fits
        from .. import r_bridge
        from .roc import roc_auc

        r_auc = roc_auc(yy, p, ci="delong", level=level, direction="<", engine="r")
        auc, se, lo, hi = r_auc.auc, r_auc.se, r_auc.ci_low, r_auc.ci_high
        out = r_bridge.call("h2s_recalibration", y=yy[fin].astype(float), L=L)
        a1, a, b = (float(np.asarray(out[k], dtype=float).ravel()[0]) for k in ("intercept_only", "intercept", "slope"))
    else:
        auc, se, lo, hi = delong_auc_ci(yy, p, level)
        a1 = recal_intercept(L, yy[fin])
        a, b, _, _ = recalibrate(L, yy[fin])
    recal = pd.DataFrame({"intercept": [a1, a], "slope": [1.0, b]}, index=["intercept-only", "logistic"])
    hier = (calibration_hierarchy(y=yy, prob=p, n_boot=n_boot, seed=seed, level=level, scheduler=scheduler,
                                  engine=engine) if hierarchy else None)
    return ExternalValidationResult(n=len(yy), n_events=int(yy.sum()), n_excluded=n_excl + n_excl2, auc=auc,
                                    auc_se=se, auc_ci_low=lo, auc_ci_high=hi, val_prob=vp, hierarchy=hier,
                                    recalibration=recal, level=level, engine=engine, model=model)


# --------------------------------------------------------------------------- Cox at a horizon
@dataclass(frozen=True, repr=False)
class ExternalCoxValidationResult(Result):
    """External validation of a frozen Cox model at a time horizon."""

    _renamed: ClassVar[Mapping[str, str]] = {"oe_lower": "oe_ci_low", "oe_upper": "oe_ci_high"}

    horizon: float
    n: int
    n_events: int
    n_excluded: int
    observed_risk: float
    expected_risk: float
    oe_ratio: float
    oe_ci_low: float
    oe_ci_high: float
    calibration_slope: float
    slope_se: float
    c_index: float
    groups: pd.DataFrame
    level: float
    engine: str = "python"
    method: str = "frozen Cox model at a horizon (Royston & Altman 2013)"

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"value": {"horizon": self.horizon, "observed risk (KM)": self.observed_risk,
                                       "expected risk": self.expected_risk, "O/E": self.oe_ratio,
                                       "O/E ci_low": self.oe_ci_low, "O/E ci_high": self.oe_ci_high,
                                       "calibration slope": self.calibration_slope, "Harrell C": self.c_index}})

    def plot(self, ax=None):
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(4.5, 4.5))
        g = self.groups
        ax.plot([0, 1], [0, 1], color="0.7", ls="--", lw=1)
        ax.errorbar(g["expected"], g["observed"], yerr=[g["observed"] - g["ci_low"], g["ci_high"] - g["observed"]],
                    fmt="o", color="k", ms=4, lw=0.8)
        top = float(np.nanmax([g["expected"].max(), g["ci_high"].max()])) * 1.05
        ax.set(xlim=(0, top), ylim=(0, top), xlabel=f"Predicted risk at t={self.horizon:g}",
               ylabel="Observed risk (Kaplan-Meier)")
        return ax


def _km_at(t: np.ndarray, e: np.ndarray, h: float) -> tuple[float, float]:
    """Kaplan-Meier survival at h and its Greenwood standard error."""
    order = np.argsort(t, kind="stable")
    t, e = t[order], e[order]
    times = np.unique(t[(e == 1) & (t <= h)])
    s, gw = 1.0, 0.0
    for u in times:
        at_risk = np.sum(t >= u)
        d = np.sum((t == u) & (e == 1))
        s *= 1 - d / at_risk
        if at_risk > d:
            gw += d / (at_risk * (at_risk - d))
    return s, s * np.sqrt(gw)


@renamed_args(conf_level="level")
def validate_external_cox(data: pd.DataFrame, duration: str, event: str, horizon: float,
                          baseline_survival: float, lp: Any = None, coefficients: Mapping[str, float] | None = None,
                          levels: Mapping[str, Sequence[Any]] | None = None, lp_center: float = 0.0,
                          groups: int = 5, level: float = 0.95) -> ExternalCoxValidationResult:
    """Validate a published Cox model at ``horizon`` without refitting.

    Predicted risk ``F_i = 1 - S0(h)^exp(lp_i - lp_center)`` where ``baseline_survival`` is the
    published ``S0(h)`` (at ``lp = lp_center``; 0 for an uncentred baseline). ``lp`` is given, or
    computed from ``coefficients`` (numeric names, ``x=level`` dummies with ``levels``).

    * mean calibration: observed risk ``1 - KM(h)`` over expected ``mean F`` (O/E) with a CI from
      the Greenwood variance (log scale, expected treated as fixed);
    * calibration slope: coefficient of ``lp`` in a Cox model of the external data (ideal 1);
    * discrimination: Harrell's C of ``lp`` (lifelines ``concordance_index``);
    * by risk group (quantiles of F): KM observed risk with CI against mean predicted risk.
    """
    for c in (duration, event):
        if c not in data.columns:
            raise InputError(f"column '{c}' is not in the data")
    if not 0 < baseline_survival < 1:
        raise InputError(f"baseline_survival must be the published S0(horizon) in (0, 1), got {baseline_survival}")
    if horizon <= 0:
        raise InputError(f"horizon must be positive, got {horizon}")
    if lp is None:
        if coefficients is None:
            raise InputError("give lp= (linear predictor per row) or coefficients=")
        coefs = dict(coefficients)
        coefs.setdefault("Intercept", 0.0)
        frozen = frozen_lrm(coefs, levels=levels)
        lp_all = frozen.linear_predictor(data)
    else:
        lp_all = np.asarray(lp, float)
        if len(lp_all) != len(data):
            raise InputError(f"lp has {len(lp_all)} values but the data have {len(data)} rows")
    t = _core.as_numeric(data[duration], duration)
    e = _core.as_numeric(data[event], event)
    keep = ~np.isnan(t) & ~np.isnan(e) & ~np.isnan(lp_all)
    n_excl = int((~keep).sum())
    _core.announce_dropped("validate_external_cox", n_excl, len(data),
                           {duration: int(np.isnan(t).sum()), event: int(np.isnan(e).sum()),
                            "lp": int(np.isnan(lp_all).sum())})
    t, e, lpk = t[keep], e[keep], lp_all[keep]
    if (t <= 0).any():
        raise InputError(f"'{duration}' must be positive; {int((t <= 0).sum())} value(s) are <= 0")
    if not set(np.unique(e)) <= {0.0, 1.0}:
        raise InputError(f"'{event}' must be coded 0/1, found {sorted(set(np.unique(e)))[:10]}")
    if e.sum() == 0:
        raise InputError(f"no events in '{event}': the model cannot be validated")
    risk = 1 - baseline_survival ** np.exp(lpk - lp_center)
    s, se_s = _km_at(t, e, horizon)
    obs = 1 - s
    exp_ = float(risk.mean())
    z = z_value(level)
    oe = obs / exp_
    se_log = se_s / obs if obs > 0 else np.nan
    from statsmodels.duration.hazard_regression import PHReg

    ph = PHReg(t, lpk[:, None], status=e, ties="efron").fit()
    from lifelines.utils import concordance_index

    cidx = float(concordance_index(t, -lpk, e))
    qs = np.quantile(risk, np.linspace(0, 1, groups + 1))
    gi = np.clip(np.searchsorted(qs, risk, side="left") - 1, 0, groups - 1)
    rows = []
    for g in range(groups):
        m = gi == g
        if not m.any():
            continue
        sg, seg = _km_at(t[m], e[m], horizon)
        rows.append({"group": g + 1, "n": int(m.sum()), "events": int(e[m].sum()), "expected": float(risk[m].mean()),
                     "observed": 1 - sg, "ci_low": max(0.0, 1 - sg - z * seg), "ci_high": min(1.0, 1 - sg + z * seg)})
    return ExternalCoxValidationResult(
        horizon=float(horizon), n=len(t), n_events=int(e.sum()), n_excluded=n_excl, observed_risk=obs,
        expected_risk=exp_, oe_ratio=oe, oe_ci_low=float(oe * np.exp(-z * se_log)), oe_ci_high=float(oe * np.exp(z * se_log)),
        calibration_slope=float(ph.params[0]), slope_se=float(ph.bse[0]), c_index=cidx, groups=pd.DataFrame(rows),
        level=level)
