"""Survival analysis: Kaplan-Meier, log-rank, Cox proportional hazards, Harrell's C.

The procedures live in one module per idea, and this module re-exports them (it is the import path
older code and the package's lazy namespace use):

* :mod:`her2stats.stats.km` -- :func:`kaplan_meier`, :func:`logrank_test`;
* :mod:`her2stats.stats.cox` -- :func:`fit_cph`, :func:`cox` (hazard ratios, PH test);
* :mod:`her2stats.stats.concordance` -- :func:`concordance_index`;
* :mod:`her2stats.stats._survdata` -- the input checks they share.

Defined here: :func:`check_ratio_ci_p` (does a published ratio agree with its CI and p-value?).

Input rules shared by every function (see :func:`her2stats.stats._survdata.survival_frame`):

* ``duration`` must be numeric and strictly positive (a zero or negative follow-up time is a data
  error, usually a date subtraction gone wrong);
* ``event`` must be 0/1 (or boolean). ``survival::lung``'s 1/2 coding is refused with a hint;
* rows with a missing value in any column the analysis uses are excluded, counted in
  ``n_excluded`` and shown in every result.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from ..errors import InputError
from ..results import Result
from ._core import renamed_args
from .concordance import ConcordanceResult, concordance_index
from .cox import CoxModel, CoxResult, PHTestResult, cox, fit_cph
from .km import KaplanMeierResult, LogrankResult, kaplan_meier, logrank_test

__all__ = [
    "fit_cph", "CoxModel", "kaplan_meier", "KaplanMeierResult", "logrank_test", "LogrankResult",
    "cox", "CoxResult", "PHTestResult", "concordance_index", "ConcordanceResult", "check_ratio_ci_p",
    "RatioCIConsistency",
]


# =========================================================================== ratio/CI/p check
@dataclass(frozen=True, repr=False)
class RatioCIConsistency(Result):
    """Whether a published ratio, its CI and its p-value agree under the log-normal (Wald) model."""

    ratio: float
    ci_low: float
    ci_high: float
    p_reported: float
    level: float
    se_log: float
    ratio_from_ci: float
    p_from_ci: float
    p_interval: tuple[float, float]
    ratio_consistent: bool
    p_consistent: bool
    method: str = "log-normal Wald"

    @property
    def consistent(self) -> bool:
        return self.ratio_consistent and self.p_consistent

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{
            "ratio": self.ratio, "ci_low": self.ci_low, "ci_high": self.ci_high, "p_reported": self.p_reported,
            "ratio_from_ci": self.ratio_from_ci, "se_log": self.se_log, "p_from_ci": self.p_from_ci,
            "p_min": self.p_interval[0], "p_max": self.p_interval[1],
            "ratio_consistent": self.ratio_consistent, "p_consistent": self.p_consistent,
        }])


@renamed_args(lower="ci_low", upper="ci_high")
def check_ratio_ci_p(ratio: float, ci_low: float, ci_high: float, p: float, level: float = 0.95,
                     decimals: int | None = None, p_decimals: int | None = None) -> RatioCIConsistency:
    """Check that a reported ratio (HR, OR, RR), its CI and its p-value agree.

    Under the Wald model on the log scale, ``log(ci_high) - log(ci_low) = 2 z se`` and the ratio is
    the geometric mean of the limits; ``p = 2 (1 - Phi(|log ratio| / se))``. Rounding of the
    printed numbers is propagated: every combination of the limits +- half a unit in the last
    printed digit gives an interval of p-values, and the reported p must fall in it (after
    rounding to ``p_decimals``). The ratio must lie within rounding of ``sqrt(ci_low * ci_high)``.

    Parameters
    ----------
    ratio, ci_low, ci_high : printed ratio and CI limits (all > 0).
    p : printed p-value.
    level : confidence level of the interval.
    decimals : decimals printed for ratio/limits (inferred from the numbers when None; pass it
        when trailing zeros were dropped, e.g. 0.79 printed for 0.790).
    p_decimals : decimals printed for p (inferred when None).

    Examples
    --------
    Seed 004 (DLR score, DFS Cox model): HR 0.175, 95% CI 0.038-0.792, P = 0.024

    >>> check_ratio_ci_p(0.175, 0.038, 0.792, 0.024).consistent
    True
    """
    for name, v in (("ratio", ratio), ("ci_low", ci_low), ("ci_high", ci_high)):
        if not (isinstance(v, (int, float, np.floating, np.integer)) and v > 0 and math.isfinite(v)):
            raise InputError(f"{name} must be a positive finite number, got {v!r}")
    if not ci_low <= ratio <= ci_high:
        raise InputError(f"ratio {ratio} is not inside its CI [{ci_low}, {ci_high}]")
    if not 0 < p <= 1:
        raise InputError(f"p must be in (0, 1], got {p!r}")

    def _dec(x: float) -> int:
        s = repr(float(x))
        if "e" in s:
            return 10
        return max(len(s.split(".")[1].rstrip("0")) if "." in s else 0, 0)

    d = decimals if decimals is not None else max(_dec(ratio), _dec(ci_low), _dec(ci_high))
    pd_ = p_decimals if p_decimals is not None else _dec(p)
    z = sps.norm.ppf(0.5 + level / 2)
    half = 0.5 * 10.0 ** (-d)
    se = (math.log(ci_high) - math.log(ci_low)) / (2 * z)
    center = math.sqrt(ci_low * ci_high)
    p_center = 2 * sps.norm.sf(abs(math.log(ratio)) / se)
    ps = []
    ratios_from_ci = []
    for lo in (max(ci_low - half, 1e-12), ci_low + half):
        for hi in (ci_high - half, ci_high + half):
            if hi <= lo:
                continue
            s = (math.log(hi) - math.log(lo)) / (2 * z)
            ratios_from_ci.append(math.sqrt(lo * hi))
            for r in (max(ratio - half, 1e-12), ratio + half):
                ps.append(2 * sps.norm.sf(abs(math.log(r)) / s))
            # the ratio implied by the limits themselves
            ps.append(2 * sps.norm.sf(abs(math.log(math.sqrt(lo * hi))) / s))
    p_lo, p_hi = min(ps), max(ps)
    p_half = 0.5 * 10.0 ** (-pd_)
    p_ok = (p_lo - p_half) <= p <= (p_hi + p_half)
    r_ok = (min(ratios_from_ci) - half) <= ratio <= (max(ratios_from_ci) + half)
    return RatioCIConsistency(ratio=float(ratio), ci_low=float(ci_low), ci_high=float(ci_high), p_reported=float(p),
                              level=level, se_log=se, ratio_from_ci=center, p_from_ci=p_center,
                              p_interval=(p_lo, p_hi), ratio_consistent=bool(r_ok), p_consistent=bool(p_ok))
