"""Harrell's concordance index with the infinitesimal-jackknife standard error of
``survival::concordance`` (Python engine in numpy, R engine ``survival::concordance``; 1e-9).

References
----------
Harrell FE et al. (1982) JAMA 247:2543-2546. Therneau TM, Atkinson EJ (2023) *Concordance*,
vignette of the survival package.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from ..engine import resolve_engine
from ..errors import InputError
from ..results import Result
from . import _core
from ._core import renamed_args
from ._survdata import check_time_event

__all__ = ["concordance_index", "ConcordanceResult", "concordance_counts", "concordance_numpy"]


# =========================================================================== concordance
@dataclass(frozen=True, repr=False)
class ConcordanceResult(Result):
    """Harrell's C with the infinitesimal-jackknife standard error of ``survival::concordance``."""

    concordance: float
    se: float
    ci_low: float
    ci_high: float
    concordant: float
    discordant: float
    tied_x: float
    tied_y: float
    tied_xy: float
    n: int
    engine: str
    level: float = 0.95
    method: str = "Harrell"

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{"C": self.concordance, "se": self.se, "ci_low": self.ci_low, "ci_high": self.ci_high,
                              "concordant": self.concordant, "discordant": self.discordant, "tied_x": self.tied_x,
                              "tied_y": self.tied_y, "tied_xy": self.tied_xy, "n": self.n}])


def _concordance_counts(t: np.ndarray, e: np.ndarray, risk: np.ndarray, chunk: int | None = None,
                        event_weight: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Pair counts (concordant, discordant, tied.x, tied.y, tied.xy) and per-observation
    influence counts, as survival's ``concordance3`` for unweighted right-censored data.

    A pair (i, j) with an event at t_i is comparable when t_j > t_i, or t_j == t_i and j is
    censored (a censoring at t is at risk beyond a death at t). Higher risk with the earlier
    event is concordant. Two deaths at the same time are tied.y (tied.xy when the risks tie too).
    ``event_weight`` (per observation, applied at the earlier event of a pair) gives survival's
    time weights, e.g. ``1/G^2`` for Uno's C.

    O(n log n): two sweeps over the sorted times with a Fenwick tree over the ranks of ``risk``
    (:func:`._kernels.concordance_pairs`), as survival does; ``chunk`` is accepted for
    compatibility and unused (no n x n block is ever formed).
    """
    from ._kernels import concordance_pairs

    t = np.ascontiguousarray(t, dtype=float)
    ev = np.ascontiguousarray(e, dtype=np.int64)
    uniq, rank = np.unique(np.asarray(risk, dtype=float), return_inverse=True)
    w = np.ones(len(t)) if event_weight is None else np.ascontiguousarray(event_weight, dtype=float)
    order = np.argsort(t, kind="stable")
    return concordance_pairs(order, t, ev, rank.astype(np.int64).ravel(), len(uniq), w)


def _concordance_numpy(t: np.ndarray, e: np.ndarray, risk: np.ndarray, event_weight: np.ndarray | None = None,
                       strata: np.ndarray | None = None) -> dict[str, float]:
    """C and its IJ variance; with ``strata`` (integer codes) only pairs within a stratum count, as
    ``survival::concordance`` of a stratified model (pair counts summed over strata, one Somers' D)."""
    if strata is None:
        counts, infl = _concordance_counts(t, e, risk, event_weight=event_weight)
    else:
        strata = np.asarray(strata)
        counts = np.zeros(5)
        infl = np.zeros((len(t), 5))
        for k in np.unique(strata):
            r = np.flatnonzero(strata == k)
            if not np.any(np.asarray(e)[r] == 1):
                continue
            c_k, i_k = _concordance_counts(np.asarray(t)[r], np.asarray(e)[r], np.asarray(risk)[r],
                                           event_weight=None if event_weight is None else np.asarray(event_weight)[r])
            counts = counts + np.asarray(c_k, float)
            infl[r] = i_k
    npair = counts[:3].sum()
    if npair == 0:
        raise InputError("no comparable pairs: concordance is undefined")
    somer = (counts[0] - counts[1]) / npair
    dfbeta = (infl[:, 0] - infl[:, 1]) / npair - (somer / npair) * infl[:, :3].sum(axis=1)
    return {"concordance": (somer + 1) / 2, "var": float(np.sum(dfbeta ** 2)) / 4, "count": counts}


@renamed_args(conf_level="level")
def concordance_index(time: Any, event: Any, score: Any, score_type: str = "risk", level: float = 0.95,
                      engine: str | None = None) -> ConcordanceResult:
    """Harrell's concordance index with its infinitesimal-jackknife SE (``survival::concordance``).

    ``C = (concordant + tied.x / 2) / (concordant + discordant + tied.x)`` over comparable pairs
    (the shorter time is an event). The variance is ``sum_i dfbeta_i^2 / 4`` with
    ``dfbeta_i = (c_i - d_i)/N - (D/N^2)(c_i + d_i + t_i)`` (Somers' D = 2C - 1, per-subject pair
    counts c, d, t), survival's default ``std.err``; the CI is ``C +- z se``.

    Parameters
    ----------
    time, event : follow-up (> 0) and 0/1 event indicator.
    score : a risk score (higher = earlier event, e.g. a Cox linear predictor) for
        ``score_type="risk"``; a predicted survival time or probability for ``"survival"``.

    Examples
    --------
    >>> # R: concordance(Surv(time, status) ~ age, lung, reverse = TRUE)
    >>> concordance_index(lung.time, lung.status - 1, lung.age).concordance
    """
    if score_type not in ("risk", "survival"):
        raise InputError(f"score_type must be 'risk' or 'survival', got {score_type!r}")
    time, event, score = _core.align(("time", time), ("event", event), ("score", score))
    t_raw, e_raw = np.asarray(time), np.asarray(event)
    s = _core.as_numeric(score, "score")
    if np.isnan(s).any() or pd.isna(t_raw).any() or pd.isna(e_raw).any():
        raise InputError("time, event and score must not contain missing values (drop those rows first and "
                         "report how many)")
    t, e = check_time_event(t_raw, e_raw, "time", "event")
    if np.all(s == s[0]):
        raise InputError(f"score is constant (every value is {s[0]!r}): it ranks nobody, so the concordance is 0.5 "
                         "by construction and has no sampling variance")
    ev_t = t[e == 1]
    if not ((ev_t < t.max()).any() or np.isin(ev_t, t[e == 0]).any()):
        raise InputError("no comparable pairs (no event precedes another follow-up time): concordance is undefined")
    risk = s if score_type == "risk" else -s
    eng = resolve_engine(engine)
    if eng == "r":
        from .. import r_bridge

        r_bridge.require("survival")
        out = r_bridge.call("h2s_concordance", time=t, event=e, score=risk)
        c, var, counts = float(out["concordance"]), float(out["var"]), np.asarray(out["count"], float)
    else:
        out = _concordance_numpy(t, e, risk)
        c, var, counts = out["concordance"], out["var"], out["count"]
    se = math.sqrt(var)
    z = sps.norm.ppf(0.5 + level / 2)
    return ConcordanceResult(concordance=c, se=se, ci_low=c - z * se, ci_high=c + z * se, concordant=counts[0],
                             discordant=counts[1], tied_x=counts[2], tied_y=counts[3], tied_xy=counts[4], n=len(t),
                             engine=eng, level=level)


# Helpers the other time-to-event modules use, under public names
concordance_counts = _concordance_counts
concordance_numpy = _concordance_numpy
