"""Step functions shared by the time-to-event modules (competing risks, RMST, reclassification at a
horizon): the Kaplan-Meier estimate and its evaluation as a left- or right-continuous step function.
Their input checks live in :mod:`._survdata` with every other survival module's.

Private: the public modules import it; nothing outside ``her2stats.stats`` should.
"""
from __future__ import annotations

import numpy as np


def km_step(t: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan-Meier estimate as (distinct times, S at those times); ``d`` = 1 for the 'event' whose
    survival is estimated (for a censoring distribution pass ``d = 1 - event``)."""
    times, inv = np.unique(t, return_inverse=True)
    n_event = np.bincount(inv, weights=d, minlength=len(times))
    n_total = np.bincount(inv, minlength=len(times)).astype(float)
    n_risk = len(t) - np.concatenate([[0.0], np.cumsum(n_total)[:-1]])
    with np.errstate(divide="ignore", invalid="ignore"):
        surv = np.cumprod(np.where(n_risk > 0, 1 - n_event / n_risk, 1.0))
    return times, surv


def step_left(times: np.ndarray, values: np.ndarray, at: np.ndarray, start: float = 1.0) -> np.ndarray:
    """Value of a right-continuous step function just before ``at`` (its left limit)."""
    j = np.searchsorted(times, at, side="left") - 1
    return np.where(j >= 0, values[np.clip(j, 0, None)], start)


def step_right(times: np.ndarray, values: np.ndarray, at: np.ndarray, start: float = 1.0) -> np.ndarray:
    """Value of a right-continuous step function at ``at``."""
    j = np.searchsorted(times, at, side="right") - 1
    return np.where(j >= 0, values[np.clip(j, 0, None)], start)
