"""Variance of an AUC and covariance of two paired AUCs (pROC ``var`` and ``cov``).

Three methods, as pROC 1.18:

* ``"delong"`` -- from the placement values (DeLong, DeLong & Clarke-Pearson, Biometrics
  1988;44:837-45): ``Var = s^2(V10)/n_cases + s^2(V01)/n_controls`` and
  ``Cov = cov(V10_1, V10_2)/n_cases + cov(V01_1, V01_2)/n_controls``. Whole AUCs only.
* ``"bootstrap"`` -- the sample variance (covariance) of ``n_boot`` stratified bootstrap
  replicates of the (partial) AUC, with the same resampled subjects for both scores.
* ``"obuchowski"`` -- Obuchowski's closed forms under the binormal model (Obuchowski &
  McClish, Stat Med 1997;16:1529-42; Obuchowski, Radiology 1994) with the binormal ``A``, ``B`` of
  each curve from pROC's binormal smoothing (``qnorm(Sp) = A + B qnorm(Se)``), ``kappa =
  n_controls / n_cases``, and for the covariance the Pearson correlations of the two scores
  among cases (``ra``) and among controls (``rn``)::

      V(A, B)   = [f^2 (1 + B^2/kappa + A^2/2) + g^2 B^2 (1 + kappa) / (2 kappa)] / n_cases
      f = exp(-A^2 / (2 (1 + B^2))) / sqrt(2 pi (1 + B^2)),   g = -f A B / (1 + B^2)

  pROC also offers it for partial AUCs over specificities, but plugs the coefficients of its
  regression of ``qnorm(Sp)`` on ``qnorm(Se)`` into the partial-area formulas, which are written
  for the binormal parameters of ``qnorm(Se)`` on ``qnorm(1 - Sp)``: on simulated binormal data
  its partial-AUC variance is 100-400 times smaller than the bootstrap variance (the standard
  parameters, ``a = -A/B``, ``b = -1/B``, give values near the bootstrap). her2stats therefore
  refuses ``method="obuchowski"`` for a partial AUC on both engines; use the bootstrap. (For the
  whole AUC the two parameterisations give close values, and her2stats follows pROC.)

:func:`her2stats.stats.roc_power.power_roc_test` uses these for two-curve sample sizes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..engine import resolve_engine
from ..errors import InputError, find_stack_level
from ..resampling import run_replicates
from ..results import Result
from .roc import FastAUC as _FastAUC
from .roc import check_direction as _check_direction
from .roc import check_partial as _check_partial
from .roc import clean_scores as _clean
from .roc import delong_placements as _delong_placements
from .roc import delong_var as _delong_var
from .roc import oriented as _oriented
from .roc import partial_auc as _partial_auc
from .roc import resolve_direction
from .roc import sesp as _sesp
from .roc import stratified_draw as _stratified_draw
from .roc_smooth import binormal_fit
from ..schedulers import check_scheduler

__all__ = ["AUCVarianceResult", "AUCCovarianceResult", "auc_var", "auc_cov"]

_METHODS = ("delong", "bootstrap", "obuchowski")


# =========================================================================== Obuchowski's formulas
def _f_g(a: float, b: float, fpr: tuple[float, float] | None) -> tuple[float, float]:
    """The derivatives ``f = dAUC/dA`` and ``g = dAUC/dB`` of the (partial) binormal area."""
    from scipy import stats as sps

    e1 = math.exp(-a * a / (2 * (1 + b * b)))
    e2 = 1 + b * b
    if fpr is None:
        return e1 / math.sqrt(2 * math.pi * e2), -e1 * a * b / math.sqrt(2 * math.pi * e2 ** 3)
    c1, c2 = (float((sps.norm.ppf(v) + a * b / e2) * math.sqrt(e2)) for v in fpr)
    e3 = float(sps.norm.cdf(c1) - sps.norm.cdf(c2))
    e4 = math.exp(-c1 * c1 / 2) - math.exp(-c2 * c2 / 2)
    f = e1 / math.sqrt(2 * math.pi * e2) * e3
    g = e1 / (2 * math.pi * e2) * (-e4) - a * b * e1 / math.sqrt(2 * math.pi * e2 ** 3) * e3
    return f, g


def obuchowski_var(a: float, b: float, kappa: float, fpr: tuple[float, float] | None = None) -> float:
    """``n_cases x Var(AUC)`` of a binormal curve (pROC ``var.params.obuchowski``)."""
    f, g = _f_g(a, b, fpr)
    return float(f * f * (1 + b * b / kappa + a * a / 2) + g * g * b * b * (1 + kappa) / (2 * kappa))


def obuchowski_cov(a1: float, b1: float, a2: float, b2: float, rn: float, ra: float, kappa: float,
                   fpr1: tuple[float, float] | None = None, fpr2: tuple[float, float] | None = None) -> float:
    """``n_cases x Cov(AUC1, AUC2)`` of two binormal curves on the same subjects (pROC
    ``cov.params.obuchowski``)."""
    f1, g1 = _f_g(a1, b1, fpr1)
    f2, g2 = _f_g(a2, b2, fpr2)
    return float(f1 * f2 * (ra + rn * b1 * b2 / kappa + ra * ra * a1 * a2 / 2)
            + g1 * g2 * (b1 * b2 * (rn * rn + kappa * ra * ra) / (2 * kappa))
            + f1 * g2 * (ra * ra * a1 * b2 / 2) + f2 * g1 * (ra * ra * a2 * b1 / 2))


def obuchowski_var_theta(theta: float, kappa: float) -> float:
    """``n_cases x Var(AUC)`` from the AUC alone (binormal with equal variances; Obuchowski 1994,
    with pROC's constants ``A = 1.414 qnorm(theta)``, ``0.0099 exp(-A^2/2)``)."""
    from scipy import stats as sps

    a = float(sps.norm.ppf(theta)) * 1.414
    return 0.0099 * math.exp(-a * a / 2) * ((5 * a * a + 8) + (a * a + 8) / kappa)


def _fpr(part: tuple[float, float] | None) -> tuple[float, float] | None:
    """The false-positive-rate band of a specificity band (upper, lower) -> (1 - lower, 1 - upper)."""
    return None if part is None else (1 - part[1], 1 - part[0])


# =========================================================================== results
def _quantity(part: tuple[float, float] | None, focus: str, correct: bool) -> str:
    if part is None:
        return "AUC"
    return f"partial AUC ({focus} {part[1]:g}-{part[0]:g}{', McClish-corrected' if correct else ''})"


@dataclass(frozen=True, repr=False)
class AUCVarianceResult(Result):
    """Variance of one (partial) AUC (pROC ``var``); ``se`` is its square root."""

    variance: float
    auc: float
    method: str
    n_pos: int
    n_neg: int
    direction: str
    engine: str
    quantity: str = "AUC"
    n_boot: int | None = None
    n_dropped: int = 0

    @property
    def se(self) -> float:
        return math.sqrt(self.variance) if self.variance >= 0 else float("nan")

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{"quantity": self.quantity, "auc": self.auc, "variance": self.variance, "se": self.se,
                              "method": self.method, "n_boot": self.n_boot, "n_pos": self.n_pos,
                              "n_neg": self.n_neg, "direction": self.direction, "engine": self.engine}])


@dataclass(frozen=True, repr=False)
class AUCCovarianceResult(Result):
    """Covariance of two paired (partial) AUCs (pROC ``cov``), with both variances by the same
    method (for the bootstrap, from the same replicates) and the correlation they imply."""

    covariance: float
    var1: float
    var2: float
    auc1: float
    auc2: float
    method: str
    n_pos: int
    n_neg: int
    direction1: str
    direction2: str
    engine: str
    quantity: str = "AUC"
    n_boot: int | None = None
    n_dropped: int = 0

    @property
    def correlation(self) -> float:
        den = math.sqrt(self.var1 * self.var2) if self.var1 > 0 and self.var2 > 0 else float("nan")
        return self.covariance / den

    @property
    def var_difference(self) -> float:
        """``Var(AUC1 - AUC2) = var1 + var2 - 2 cov``."""
        return self.var1 + self.var2 - 2 * self.covariance

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{"quantity": self.quantity, "auc1": self.auc1, "auc2": self.auc2,
                              "covariance": self.covariance, "var1": self.var1, "var2": self.var2,
                              "correlation": self.correlation, "var_difference": self.var_difference,
                              "method": self.method, "n_boot": self.n_boot, "n_pos": self.n_pos,
                              "n_neg": self.n_neg, "engine": self.engine}])


# =========================================================================== checks
def _check(method: str, part: tuple[float, float] | None, focus: str, correct: bool, n_boot: Any) -> None:
    if method not in _METHODS:
        raise InputError(f"method must be one of {_METHODS}, got {method!r}")
    if method == "delong" and part is not None:
        raise InputError("DeLong's variance is not defined for a partial AUC (pROC refuses it too): use "
                         "method='bootstrap' or 'obuchowski'")
    if method == "obuchowski" and part is not None:
        raise InputError("method='obuchowski' is not offered for a partial AUC: pROC's version plugs the wrong "
                         "binormal parameters into the partial-area formulas (100-400 times too small against the "
                         "bootstrap on binormal data; see her2stats.stats.roc_variance). Use method='bootstrap'")
    if method == "bootstrap" and (not isinstance(n_boot, (int, np.integer)) or isinstance(n_boot, bool)
                                  or n_boot < 100):
        raise InputError(f"n_boot must be an integer >= 100, got {n_boot!r}")


def _area(so: np.ndarray, y: np.ndarray, part, focus, correct) -> float:
    if part is None:
        return _delong_placements(y, so)[0]
    return _partial_auc(*_sesp(so[y == 1], so[y == 0]), part, focus, correct)


def _replicates(y: np.ndarray, scores: list[np.ndarray], part, focus, correct, n_boot: int, seed: Any,
                scheduler: Any) -> np.ndarray:
    """(n_boot, k) AUCs (or partial AUCs) of stratified resamples shared by the k oriented scores."""
    pos = [s[y == 1] for s in scores]
    neg = [s[y == 0] for s in scores]
    fast = [_FastAUC(p, q) for p, q in zip(pos, neg)] if part is None else None

    def fn(rng: np.random.Generator, k: int) -> np.ndarray:
        out = np.empty((k, len(scores)))
        for b in range(k):
            ip, ineg = _stratified_draw(rng, len(pos[0]), len(neg[0]))
            for j in range(len(scores)):
                if fast is not None:
                    out[b, j] = fast[j].auc(ip, ineg)
                else:
                    out[b, j] = _partial_auc(*_sesp(pos[j][ip], neg[j][ineg]), part, focus, correct,
                                             allow_invalid=True)
        return out

    return run_replicates(fn, n_boot, seed=seed, scheduler=scheduler, desc="bootstrap AUC variance")


# =========================================================================== public API
def auc_var(y: Any, score: Any, method: str = "delong", partial: Any = None, focus: str = "specificity",
            correct: bool = False, n_boot: int = 2000, seed: Any = 0, direction: str = "auto", na: str = "raise",
            scheduler: Any = None, engine: str | None = None, event: Any = None) -> AUCVarianceResult:
    """Variance of the AUC (or partial AUC) by DeLong, the bootstrap or Obuchowski (pROC ``var``).

    See the module notes for the formulas. ``partial``/``focus``/``correct`` as in
    :func:`her2stats.stats.roc.roc_auc`. ``engine="r"`` calls ``pROC::var`` (bootstrap with
    ``seed`` set in R: within Monte-Carlo error of the Python engine).

    Examples
    --------
    >>> auc_var(asah.poor, asah.s100b, method="obuchowski").variance   # doctest: +SKIP
    """
    check_scheduler(scheduler)  # refused alike on both engines, even where R resamples
    part = _check_partial(partial, focus, correct)
    _check(method, part, focus, bool(correct), n_boot)
    _check_direction(direction)
    eng = resolve_engine(engine)
    c = _clean(y, {"score": score}, na, min_per_class=2, event=event, function="auc_var")
    yy, s = c.y, c.scores["score"]
    n_pos, n_neg = int(yy.sum()), int(len(yy) - yy.sum())
    d = resolve_direction(yy, s, direction)
    so = _oriented(s, d)
    if method == "obuchowski":
        binormal_fit(*_sesp(so[yy == 1], so[yy == 0]))   # an unsmoothable curve is refused on both engines
    if eng == "r":
        from .. import r_bridge

        r_bridge.require("pROC")
        extra = {} if part is None else {"partial": list(part), "focus": focus, "correct": bool(correct)}
        out = r_bridge.call("h2s_auc_var", y=yy.astype(np.int32), score=s, direction=direction, method=method,
                            n_boot=int(n_boot), seed=None if seed is None else int(seed), **extra)
        auc, var = float(out["auc"]), float(out["variance"])
        d = "<" if out["direction_lt"] == 1 else ">"
    else:
        auc = _area(so, yy, part, focus, bool(correct))
        if method == "delong":
            var = _delong_var(*_delong_placements(yy, so)[1:])
        elif method == "obuchowski":
            a, b = binormal_fit(*_sesp(so[yy == 1], so[yy == 0]))
            var = obuchowski_var(a, b, n_neg / n_pos, _fpr(part)) / n_pos
        else:
            reps = _replicates(yy, [so], part, focus, bool(correct), int(n_boot), seed, scheduler)[:, 0]
            reps = reps[~np.isnan(reps)]
            var = float(np.var(reps, ddof=1))
    return AUCVarianceResult(variance=float(var), auc=float(auc), method=method, n_pos=n_pos, n_neg=n_neg,
                             direction=d, engine=eng, quantity=_quantity(part, focus, bool(correct)),
                             n_boot=int(n_boot) if method == "bootstrap" else None, n_dropped=c.n_dropped)


def auc_cov(y: Any, score1: Any, score2: Any, method: str = "delong", partial: Any = None, focus: str = "specificity",
            correct: bool = False, n_boot: int = 2000, seed: Any = 0, direction: str = "auto", na: str = "raise",
            scheduler: Any = None, engine: str | None = None, event: Any = None) -> AUCCovarianceResult:
    """Covariance of the AUCs (or partial AUCs) of two scores on the same subjects (pROC ``cov``).

    Both variances come with it, by the same method, so ``var_difference`` and ``correlation``
    follow. Each score's direction is resolved on its own (``direction="auto"``, pROC's median
    rule); DeLong and Obuchowski warn, as pROC, when the two directions differ. The Obuchowski
    correlations ``ra``, ``rn`` are those of the raw scores, as pROC computes them.
    """
    check_scheduler(scheduler)  # refused alike on both engines, even where R resamples
    part = _check_partial(partial, focus, correct)
    _check(method, part, focus, bool(correct), n_boot)
    _check_direction(direction)
    eng = resolve_engine(engine)
    c = _clean(y, {"score1": score1, "score2": score2}, na, min_per_class=2, event=event, function="auc_cov")
    yy, s1, s2 = c.y, c.scores["score1"], c.scores["score2"]
    n_pos, n_neg = int(yy.sum()), int(len(yy) - yy.sum())
    d1, d2 = resolve_direction(yy, s1, direction), resolve_direction(yy, s2, direction)
    o1, o2 = _oriented(s1, d1), _oriented(s2, d2)
    if d1 != d2 and method != "bootstrap":
        import warnings

        warnings.warn(f"auc_cov: the two ROC curves have different directions ({d1!r} vs {d2!r}); the {method} "
                      "covariance should not be applied to them (as pROC warns); fix `direction`", UserWarning,
                      stacklevel=find_stack_level())
    if method == "obuchowski":
        for o in (o1, o2):
            binormal_fit(*_sesp(o[yy == 1], o[yy == 0]))
    if eng == "r":
        from .. import r_bridge

        r_bridge.require("pROC")
        extra = {} if part is None else {"partial": list(part), "focus": focus, "correct": bool(correct)}
        import warnings

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*different direction.*")
            out = r_bridge.call("h2s_auc_cov", y=yy.astype(np.int32), score1=s1, score2=s2, direction=direction,
                                method=method, n_boot=int(n_boot), seed=None if seed is None else int(seed), **extra)
        cov, v1, v2 = float(out["covariance"]), float(out["var1"]), float(out["var2"])
        a1, a2 = float(out["auc1"]), float(out["auc2"])
    else:
        a1, a2 = _area(o1, yy, part, focus, bool(correct)), _area(o2, yy, part, focus, bool(correct))
        if method == "delong":
            _, x1, y1 = _delong_placements(yy, o1)
            _, x2, y2 = _delong_placements(yy, o2)
            cov = float(np.cov(x1, x2)[0, 1] / n_pos + np.cov(y1, y2)[0, 1] / n_neg)
            v1, v2 = _delong_var(x1, y1), _delong_var(x2, y2)
        elif method == "obuchowski":
            ab1 = binormal_fit(*_sesp(o1[yy == 1], o1[yy == 0]))
            ab2 = binormal_fit(*_sesp(o2[yy == 1], o2[yy == 0]))
            kappa = n_neg / n_pos
            ra = float(np.corrcoef(s1[yy == 1], s2[yy == 1])[0, 1])
            rn = float(np.corrcoef(s1[yy == 0], s2[yy == 0])[0, 1])
            cov = obuchowski_cov(*ab1, *ab2, rn, ra, kappa, _fpr(part), _fpr(part)) / n_pos
            v1 = obuchowski_var(*ab1, kappa, _fpr(part)) / n_pos
            v2 = obuchowski_var(*ab2, kappa, _fpr(part)) / n_pos
        else:
            reps = _replicates(yy, [o1, o2], part, focus, bool(correct), int(n_boot), seed, scheduler)
            reps = reps[~np.isnan(reps).any(axis=1)]
            m = np.cov(reps[:, 0], reps[:, 1])
            cov, v1, v2 = float(m[0, 1]), float(m[0, 0]), float(m[1, 1])
    return AUCCovarianceResult(covariance=cov, var1=v1, var2=v2, auc1=float(a1), auc2=float(a2), method=method,
                               n_pos=n_pos, n_neg=n_neg, direction1=d1, direction2=d2, engine=eng,
                               quantity=_quantity(part, focus, bool(correct)),
                               n_boot=int(n_boot) if method == "bootstrap" else None, n_dropped=c.n_dropped)
