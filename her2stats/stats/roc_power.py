"""Power and sample size of ROC studies (pROC ``power.roc.test``; Obuchowski's method).

All designs solve one normal-theory equation (Obuchowski & McClish, Stat Med 1997;16:1529-42;
Obuchowski, Lieber & Wians, Clin Chem 2004;50:1118-25)::

    n_cases = (z_alpha sqrt(V0) + z_beta sqrt(VA))^2 / delta^2,
    power   = Phi((|delta| sqrt(n_cases) - z_alpha sqrt(V0)) / sqrt(VA)),

with ``z_alpha`` the upper ``alpha/2`` (two-sided) or ``alpha`` (one-sided) normal quantile,
``delta`` the difference to detect and ``V0``/``VA`` ``n_cases`` times the variance of the
estimate under the null and under the alternative; ``n_controls = ratio x n_cases``.

* **One AUC against a reference** (``auc=0.8``; pROC ``power.roc.test(auc=)``): ``delta = auc -
  reference`` and ``V(theta) = 0.0099 exp(-A^2/2) [(5 A^2 + 8) + (A^2 + 8)/ratio]`` with
  ``A = 1.414 qnorm(theta)`` (binormal, equal variances); ``V0 = V(reference)``, ``VA = V(auc)``.
  pROC tests against 0.5 only (``V0 = 0.0792 (1 + 1/ratio)``); another reference value is a
  her2stats addition that uses the same variance function.
* **Two curves from binormal parameters** (``params=dict(A1=, B1=, A2=, B2=, rn=, ra=, delta=)``,
  optionally ``FPR11, FPR12, FPR21, FPR22`` for partial areas; pROC's list form): ``VA = V1 + V2
  - 2 C12``, ``V0 = 2 V1 - 2 C12`` from Obuchowski's binormal variance and covariance
  (:mod:`her2stats.stats.roc_variance`); ``rn``/``ra`` are the correlations of the two tests'
  scores among controls and cases, 0 for **independent** curves (different patients).
* **Two AUCs** (``auc=(0.85, 0.75)``, ``r_cases=``, ``r_controls=``): the parameter form with
  ``A_i = sqrt(2) qnorm(auc_i)``, ``B_i = 1`` (binormal with equal variances) and ``delta =
  auc1 - auc2``; ``r_cases = r_controls = 0`` (the default) for independent curves.
* **From data** (``y=, score1=[, score2=]``; pROC ``power.roc.test(roc1[, roc2])``): one curve --
  its AUC and case/control ratio in the one-AUC formula; two paired curves -- ``V1, V2, C12``
  estimated by ``method`` (``"delong"``, ``"bootstrap"`` or ``"obuchowski"``, see
  :func:`~her2stats.stats.roc_variance.auc_cov`) times the data's ``n_cases``, ``delta`` the
  observed difference. Without ``power`` the power at the data's size is returned; with it, the
  number of cases needed.

Give exactly one of ``power`` (-> the number of cases) or ``n_cases``/``n_controls`` (-> the
power). ``alternative`` is ``"two.sided"`` or ``"one.sided"``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd
from scipy import stats as sps

from ..engine import resolve_engine
from ..errors import InputError
from ..results import Result
from .roc_variance import auc_cov, obuchowski_cov, obuchowski_var, obuchowski_var_theta
from ..schedulers import check_scheduler

__all__ = ["PowerResult", "power_roc_test"]

_PARAMS = ("A1", "B1", "A2", "B2", "rn", "ra", "delta")
_FPRS = ("FPR11", "FPR12", "FPR21", "FPR22")


@dataclass(frozen=True, repr=False)
class PowerResult(Result):
    """Power of an ROC study, or the number of cases (and controls) it needs.

    ``n_cases``/``n_controls`` are the exact solutions (fractional, as pROC); round them up:
    ``n_cases_needed``, ``n_controls_needed``.
    """

    n_cases: float
    n_controls: float
    power: float
    alpha: float
    alternative: str
    design: str
    solved_for: str
    method: str
    engine: str
    auc1: float = float("nan")
    auc2: float = float("nan")
    reference: float = float("nan")
    delta: float = float("nan")

    @property
    def n_cases_needed(self) -> int:
        return int(math.ceil(self.n_cases - 1e-9))

    @property
    def n_controls_needed(self) -> int:
        return int(math.ceil(self.n_controls - 1e-9))

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{
            "design": self.design, "solved_for": self.solved_for, "n_cases": self.n_cases,
            "n_controls": self.n_controls, "n_cases_needed": self.n_cases_needed,
            "n_controls_needed": self.n_controls_needed, "power": self.power, "alpha": self.alpha,
            "alternative": self.alternative, "auc1": self.auc1, "auc2": self.auc2, "reference": self.reference,
            "delta": self.delta, "method": self.method, "engine": self.engine,
        }])


def _prob(v: Any, name: str, open_: bool = True) -> float:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)) or \
            not math.isfinite(float(v)) or not (0 < float(v) < 1):
        raise InputError(f"{name} must be a number strictly between 0 and 1, got {v!r}")
    return float(v)


def _count(v: Any, name: str) -> float | None:
    if v is None:
        return None
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)) or \
            not math.isfinite(float(v)) or float(v) <= 0:
        raise InputError(f"{name} must be a positive number, got {v!r}")
    return float(v)


def _solve(v0: float, va: float, delta: float, z_alpha: float, n_cases: float | None, power: float | None
           ) -> tuple[float, float]:
    """(n_cases, power): one of them given (pROC solve.nd / solve.zbeta)."""
    if va < 0 or v0 < 0:
        raise InputError(f"the variances of the design are negative (V0 = {v0:.4g}, VA = {va:.4g}): the correlations "
                         "or binormal parameters are not a valid design")
    if power is not None:
        if delta == 0:
            raise InputError("the difference to detect is 0: no sample size gives power above alpha")
        n = (z_alpha * math.sqrt(v0) + sps.norm.ppf(power) * math.sqrt(va)) ** 2 / delta ** 2
        return float(n), power
    zb = (math.sqrt(n_cases * delta ** 2) - z_alpha * math.sqrt(v0)) / math.sqrt(va)
    return n_cases, float(sps.norm.cdf(zb))


def power_roc_test(auc: Any = None, reference: float = 0.5, *, y: Any = None, score1: Any = None, score2: Any = None,
                   params: Mapping[str, float] | None = None, n_cases: float | None = None,
                   n_controls: float | None = None, ratio: float | None = None, power: float | None = None,
                   alpha: float = 0.05, alternative: str = "two.sided", method: str = "delong",
                   r_cases: float = 0.0, r_controls: float = 0.0, n_boot: int = 2000, seed: Any = 0,
                   direction: str = "auto", na: str = "raise", scheduler: Any = None, engine: str | None = None,
                   event: Any = None) -> PowerResult:
    """Power of an ROC study, or the number of cases it needs (pROC ``power.roc.test``).

    See the module notes for the designs and formulas. ``ratio`` is the number of controls per
    case (pROC's ``kappa``; default 1, or the data's ratio); with ``n_cases`` and ``n_controls``
    both given it is their ratio.

    Examples
    --------
    pROC's documentation examples, ``power.roc.test(auc = 0.8, ncases = 41, ncontrols = 72)`` and
    ``power.roc.test(auc = 0.8, power = 0.9)`` (16.62 cases and as many controls):

    >>> round(power_roc_test(0.8, n_cases=41, n_controls=72, engine="python").power, 6)
    0.999951
    >>> r = power_roc_test(0.8, power=0.9, engine="python")
    >>> round(r.n_cases, 2), r.n_cases_needed, r.n_controls_needed
    (16.62, 17, 17)
    """
    check_scheduler(scheduler)  # refused alike on both engines, even where R resamples
    if alternative not in ("two.sided", "one.sided"):
        raise InputError(f"alternative must be 'two.sided' or 'one.sided', got {alternative!r}")
    alpha = _prob(alpha, "alpha")
    if power is not None:
        power = _prob(power, "power")
    n_cases, n_controls, ratio = _count(n_cases, "n_cases"), _count(n_controls, "n_controls"), _count(ratio, "ratio")
    eng = resolve_engine(engine)
    z_alpha = float(sps.norm.ppf(1 - (alpha / 2 if alternative == "two.sided" else alpha)))
    from_data = y is not None or score1 is not None or score2 is not None
    modes = [auc is not None, params is not None, from_data]
    if sum(modes) != 1:
        raise InputError("give exactly one design: auc=<AUC> (one curve) or auc=(AUC1, AUC2), params=dict(A1=, B1=, "
                         "A2=, B2=, rn=, ra=, delta=), or data (y=, score1=[, score2=])")
    if from_data:
        if y is None or score1 is None:
            raise InputError("a design from data needs y= and score1= (and score2= for two paired curves)")
        if n_cases is not None or n_controls is not None:
            raise InputError("a design from data takes its size from the data: give power= for the number of cases "
                             "needed, or nothing for the power at the data's size")
        return _from_data(y, score1, score2, power, ratio, alpha, alternative, z_alpha, method, n_boot, seed,
                          direction, na, scheduler, eng, event)
    if (power is None) == (n_cases is None and n_controls is None):
        raise InputError("give either power= (to get the number of cases) or n_cases=/n_controls= (to get the power), "
                         "not both and not neither")
    if n_cases is not None and n_controls is not None:
        if ratio is not None:
            raise InputError("ratio is n_controls / n_cases: give two of n_cases, n_controls and ratio, not all three")
        ratio = n_controls / n_cases
    ratio = 1.0 if ratio is None else ratio
    if n_cases is None and n_controls is not None:
        n_cases = n_controls / ratio
    two = params is not None or (not np.isscalar(auc) and auc is not None)
    if two:
        pars = _params(auc, params, r_cases, r_controls)
        if eng == "r":
            out = _r_power("h2s_power_params", params=pars, ncases=n_cases, kappa=ratio, sig_level=alpha,
                           power=power, alternative=alternative)
            n_cases_, power_ = float(out["ncases"]), float(out["power"])
        else:
            fprs1 = (pars["FPR11"], pars["FPR12"]) if "FPR11" in pars else None
            fprs2 = (pars["FPR21"], pars["FPR22"]) if "FPR21" in pars else None
            v1 = obuchowski_var(pars["A1"], pars["B1"], ratio, fprs1)
            v2 = obuchowski_var(pars["A2"], pars["B2"], ratio, fprs2)
            c12 = obuchowski_cov(pars["A1"], pars["B1"], pars["A2"], pars["B2"], pars["rn"], pars["ra"], ratio,
                                 fprs1, fprs2)
            n_cases_, power_ = _solve(2 * v1 - 2 * c12, v1 + v2 - 2 * c12, pars["delta"], z_alpha, n_cases, power)
        independent = pars["rn"] == 0 and pars["ra"] == 0
        a1, a2 = (float(auc[0]), float(auc[1])) if params is None else (float("nan"), float("nan"))
        return PowerResult(n_cases=n_cases_, n_controls=ratio * n_cases_, power=power_, alpha=alpha,
                           alternative=alternative, design="two independent curves" if independent
                           else "two correlated curves", solved_for="n" if power is not None else "power",
                           method="obuchowski (binormal parameters)", engine=eng, auc1=a1, auc2=a2,
                           delta=float(pars["delta"]))
    theta = _prob(auc, "auc")
    ref = _prob(reference, "reference")
    if theta == ref:
        raise InputError(f"auc equals the reference value ({ref:g}): there is no difference to detect")
    if eng == "r":
        out = _r_power("h2s_power_one", auc=theta, reference=ref, ncases=n_cases, kappa=ratio, sig_level=alpha,
                       power=power, alternative=alternative)
        n_cases_, power_ = float(out["ncases"]), float(out["power"])
    else:
        v0 = 0.0792 * (1 + 1 / ratio) if ref == 0.5 else obuchowski_var_theta(ref, ratio)
        n_cases_, power_ = _solve(v0, obuchowski_var_theta(theta, ratio), theta - ref, z_alpha, n_cases, power)
    return PowerResult(n_cases=n_cases_, n_controls=ratio * n_cases_, power=power_, alpha=alpha,
                       alternative=alternative, design=f"one AUC vs {ref:g}",
                       solved_for="n" if power is not None else "power", method="obuchowski (AUC)", engine=eng,
                       auc1=theta, reference=ref, delta=theta - ref)


def _params(auc: Any, params: Mapping[str, float] | None, r_cases: Any, r_controls: Any) -> dict[str, float]:
    if params is None:
        try:
            a1, a2 = (_prob(v, "auc") for v in auc)
        except (TypeError, ValueError):
            raise InputError(f"auc must be one AUC or a pair (AUC1, AUC2), got {auc!r}") from None
        rc = _corr(r_cases, "r_cases")
        rn = _corr(r_controls, "r_controls")
        return {"A1": math.sqrt(2) * float(sps.norm.ppf(a1)), "B1": 1.0, "A2": math.sqrt(2) * float(sps.norm.ppf(a2)),
                "B2": 1.0, "rn": rn, "ra": rc, "delta": a1 - a2}
    if not isinstance(params, Mapping):
        raise InputError(f"params must be a dict with keys {list(_PARAMS)}, got {type(params).__name__}")
    missing = [k for k in _PARAMS if k not in params]
    unknown = [k for k in params if k not in _PARAMS + _FPRS]
    if missing or unknown:
        raise InputError(f"params must have the keys {list(_PARAMS)} (and optionally {list(_FPRS)}); "
                         f"missing {missing}, unknown {unknown}")
    out = {}
    for k, v in params.items():
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)) or \
                not math.isfinite(float(v)):
            raise InputError(f"params['{k}'] must be a finite number, got {v!r}")
        out[k] = float(v)
    fp = [k for k in _FPRS if k in out]
    if fp and len(fp) != 4:
        raise InputError(f"partial areas need all of {list(_FPRS)}; got {fp}")
    for k in ("rn", "ra"):
        _corr(out[k], f"params['{k}']")
    return out


def _corr(v: Any, name: str) -> float:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)) or \
            not (-1 <= float(v) <= 1):
        raise InputError(f"{name} must be a correlation in [-1, 1], got {v!r}")
    return float(v)


def _r_power(fname: str, **kwargs: Any) -> Any:
    from .. import r_bridge

    r_bridge.require("pROC")
    return r_bridge.call(fname, **{k.replace("sig_level", "sig__level"): v for k, v in kwargs.items()})


def _from_data(y, score1, score2, power, ratio, alpha, alternative, z_alpha, method, n_boot, seed, direction, na,
               scheduler, eng, event) -> PowerResult:
    from .roc import clean_scores as _clean
    from .roc import delong_placements as _delong_placements
    from .roc import oriented as _oriented
    from .roc import resolve_direction

    if score2 is None:
        c = _clean(y, {"score1": score1}, na, min_per_class=2, event=event, function="power_roc_test")
        yy, s = c.y, c.scores["score1"]
        m, n = int(yy.sum()), int(len(yy) - yy.sum())
        d = resolve_direction(yy, s, direction)
        theta = _delong_placements(yy, _oriented(s, d))[0]
        kappa = (n / m) if ratio is None else ratio
        if theta == 0.5:
            raise InputError("the AUC of the data is 0.5: there is no difference to detect")
        if eng == "r":
            out = _r_power("h2s_power_roc", y=yy.astype(np.int32), score1=s, score2=None, direction=direction,
                           sig_level=alpha, power=power, kappa=kappa, alternative=alternative, method=method,
                           n_boot=int(n_boot), seed=None if seed is None else int(seed))
            n_cases_, power_, theta = float(out["ncases"]), float(out["power"]), float(out["auc1"])
        else:
            n_cases_, power_ = _solve(0.0792 * (1 + 1 / kappa), obuchowski_var_theta(theta, kappa), theta - 0.5,
                                      z_alpha, None if power is not None else float(m), power)
        return PowerResult(n_cases=n_cases_, n_controls=kappa * n_cases_ if power is not None else float(n),
                           power=power_, alpha=alpha, alternative=alternative, design="one AUC vs 0.5 (from data)",
                           solved_for="n" if power is not None else "power", method="obuchowski (AUC)", engine=eng,
                           auc1=theta, reference=0.5, delta=theta - 0.5)
    if eng == "r":
        from .roc import check_direction as _check_direction
        from .roc import clean_scores as _clean

        if method not in ("delong", "bootstrap", "obuchowski"):
            raise InputError(f"method must be one of ('delong', 'bootstrap', 'obuchowski'), got {method!r}")
        _check_direction(direction)
        c = _clean(y, {"score1": score1, "score2": score2}, na, min_per_class=2, event=event,
                   function="power_roc_test")
        m, n = int(c.y.sum()), int(len(c.y) - c.y.sum())
        kappa = (n / m) if ratio is None else ratio
        out = _r_power("h2s_power_roc", y=c.y.astype(np.int32), score1=c.scores["score1"], score2=c.scores["score2"],
                       direction=direction, sig_level=alpha, power=power, kappa=kappa, alternative=alternative,
                       method=method, n_boot=int(n_boot), seed=None if seed is None else int(seed))
        n_cases_, power_ = float(out["ncases"]), float(out["power"])
        a1, a2 = float(out["auc1"]), float(out["auc2"])
    else:
        cv = auc_cov(y, score1, score2, method=method, n_boot=n_boot, seed=seed, direction=direction, na=na,
                     scheduler=scheduler, engine=eng, event=event)
        m, n = cv.n_pos, cv.n_neg
        kappa = (n / m) if ratio is None else ratio
        v1, v2, c12 = cv.var1 * m, cv.var2 * m, cv.covariance * m
        n_cases_, power_ = _solve(2 * v1 - 2 * c12, v1 + v2 - 2 * c12, cv.auc1 - cv.auc2, z_alpha,
                                  None if power is not None else float(m), power)
        a1, a2 = cv.auc1, cv.auc2
    return PowerResult(n_cases=n_cases_, n_controls=kappa * n_cases_ if power is not None else float(n), power=power_,
                       alpha=alpha, alternative=alternative, design="two paired curves (from data)",
                       solved_for="n" if power is not None else "power", method=method, engine=eng, auc1=a1,
                       auc2=a2, delta=a1 - a2)
