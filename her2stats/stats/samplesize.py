"""Minimum sample size for developing a binary-outcome prediction model (Riley et al. 2020).

Three criteria (R package pmsampsize, ``type = "b"``):

1. small overfitting — expected uniform shrinkage ``S`` (default 0.9):

   .. math:: n_1 = \\frac{p}{(S-1)\\ln(1 - R^2_{CS}/S)}

2. small optimism in the apparent Nagelkerke R² (difference ``delta``, default 0.05):
   :math:`S_2 = R^2_{CS} / (R^2_{CS} + \\delta\\, \\max R^2_{CS})`, with
   :math:`\\max R^2_{CS} = 1 - \\exp(2[\\phi\\ln\\phi + (1-\\phi)\\ln(1-\\phi)])`, and
   :math:`n_2` as :math:`n_1` with :math:`S_2`;
3. precise overall risk (margin of error ``moe``, default 0.05):
   :math:`n_3 = (z_{0.975}/\\mathrm{moe})^2\\,\\phi(1-\\phi)`.

Each criterion's n is rounded up; the minimum sample size is the largest, with
:math:`\\lceil n\\phi\\rceil` events and EPP = nφ/p. When criterion 2 binds, the shrinkage
expected at that n is :math:`S_2` (pmsampsize reports the same).

References
----------
Riley RD, Ensor J, Snell KIE, et al. (2020). Calculating the sample size required for developing
a clinical prediction model. BMJ 368:m441. Riley RD, Snell KIE, Ensor J, et al. (2019). Minimum
sample size for developing a multivariable prediction model: Part II — binary and time-to-event
outcomes. Stat Med 38:1276-1296. Ensor J, Martin EC, Riley RD. pmsampsize (R/Stata package).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd
from scipy import stats

from ..errors import InputError
from ..results import Result

__all__ = ["SampleSizeResult", "riley_sample_size", "max_r2_cs"]


def max_r2_cs(prevalence: float) -> float:
    """Largest Cox-Snell R² attainable with outcome prevalence φ: 1 - exp(2 lnL_null / n)."""
    phi = prevalence
    return 1.0 - math.exp(2.0 * (phi * math.log(phi) + (1 - phi) * math.log(1 - phi)))


@dataclass(frozen=True, repr=False)
class SampleSizeResult(Result):
    """Riley et al. (2020) minimum sample size: per-criterion table and the binding result."""

    table: pd.DataFrame = field(compare=False)
    n: int
    events: int
    epp: float
    shrinkage: float
    binding: str
    r2_cs: float
    prevalence: float
    parameters: int
    method: str = "Riley et al. (2020) minimum sample size, binary outcome (pmsampsize type 'b')"

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()


def riley_sample_size(parameters: int, prevalence: float, r2_cs: float | None = None,
                      r2_nagelkerke: float | None = None, shrinkage: float = 0.9, delta: float = 0.05,
                      moe: float = 0.05) -> SampleSizeResult:
    """Minimum sample size for developing a logistic prediction model (Riley et al. 2020).

    Parameters
    ----------
    parameters : int
        Candidate predictor parameters (degrees of freedom, not variables: a 3-level factor
        counts 2, a spline with 4 knots 3).
    prevalence : float
        Anticipated outcome proportion φ in the development population.
    r2_cs : float, optional
        Anticipated Cox-Snell R² of the model (e.g. from an existing model:
        1 - exp(-LR/n)). Give this or ``r2_nagelkerke``.
    r2_nagelkerke : float, optional
        Anticipated Nagelkerke R²; converted as R²_CS = R²_N × max R²_CS.
    shrinkage : float
        Target expected uniform shrinkage (criterion 1).
    delta : float
        Acceptable difference between apparent and adjusted Nagelkerke R² (criterion 2).
    moe : float
        Margin of error for the overall risk (criterion 3).

    Returns
    -------
    SampleSizeResult

    Examples
    --------
    Riley et al. (2020), BMJ, binary example (pmsampsize(type = "b", rsquared = 0.288,
    parameters = 24, prevalence = 0.174)): criteria 623 / 662 / 221 -> n = 662, 116 events,
    EPP 4.8 (tested).
    """
    if not (0 < prevalence < 1):
        raise InputError(f"prevalence must lie in (0, 1), got {prevalence}")
    if int(parameters) != parameters or parameters < 1:
        raise InputError(f"parameters must be a positive integer, got {parameters}")
    if (r2_cs is None) == (r2_nagelkerke is None):
        raise InputError("give exactly one of r2_cs or r2_nagelkerke")
    max_r2 = max_r2_cs(prevalence)
    if r2_nagelkerke is not None:
        if not (0 < r2_nagelkerke < 1):
            raise InputError(f"r2_nagelkerke must lie in (0, 1), got {r2_nagelkerke}")
        r2_cs = r2_nagelkerke * max_r2
    if not (0 < r2_cs < max_r2):
        raise InputError(f"r2_cs must lie in (0, max R2_CS = {max_r2:.4f}) for prevalence {prevalence}, got {r2_cs}")
    if not (0 < shrinkage < 1):
        raise InputError(f"shrinkage must lie in (0, 1), got {shrinkage}")
    if r2_cs >= shrinkage:
        raise InputError(f"r2_cs ({r2_cs}) must be below the target shrinkage ({shrinkage})")

    def n_for(s: float) -> int:
        return math.ceil(parameters / ((s - 1) * math.log(1 - r2_cs / s)))

    s2 = r2_cs / (r2_cs + delta * max_r2)
    n1 = n_for(shrinkage)
    n2 = n_for(s2)
    z = stats.norm.ppf(0.975)
    n3 = math.ceil((z / moe) ** 2 * prevalence * (1 - prevalence))
    rows = [
        ("Criterion 1: shrinkage", n1, shrinkage),
        ("Criterion 2: R2 optimism", n2, s2),
        ("Criterion 3: overall risk", n3, math.nan),
    ]
    table = pd.DataFrame([{"criterion": c, "n": n, "shrinkage": s, "events": n * prevalence,
                           "epp": n * prevalence / parameters} for c, n, s in rows])
    best = max(range(3), key=lambda i: (rows[i][1], -i))
    n_final = rows[best][1]
    # expected shrinkage at the final n: the binding criterion's S, or (criterion 3 binding) the S
    # that criterion 1's formula gives at n3, i.e. the root of (S - 1) ln(1 - R2/S) = p / n
    if best < 2:
        s_final = rows[best][2]
    else:
        from scipy.optimize import brentq

        s_final = brentq(lambda s_: (s_ - 1) * math.log(1 - r2_cs / s_) - parameters / n_final,
                         r2_cs * (1 + 1e-12), 1 - 1e-12, xtol=1e-14)
    final = pd.DataFrame([{"criterion": "Final", "n": n_final, "shrinkage": s_final,
                           "events": n_final * prevalence, "epp": n_final * prevalence / parameters}])
    table = pd.concat([table, final], ignore_index=True)
    return SampleSizeResult(table=table, n=int(n_final), events=int(math.ceil(n_final * prevalence)),
                            epp=float(n_final * prevalence / parameters), shrinkage=float(s_final),
                            binding=rows[best][0], r2_cs=float(r2_cs), prevalence=float(prevalence),
                            parameters=int(parameters))
