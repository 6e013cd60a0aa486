"""Performance of survival predictions at given times (issue 11 item 7).

* :func:`time_dependent_auc` - cumulative/dynamic AUC(t) with inverse-probability-of-censoring
  weights (Uno et al. 2007): cases ``T_i <= t, delta_i = 1`` weighted ``1 / G(T_i)``, controls
  ``T_j > t``; ``AUC(t) = sum_ij w_i [I(r_i > r_j) + I(r_i = r_j)/2] / (sum_i w_i * #controls)``.
* :func:`time_dependent_brier` / integrated Brier score (Graf et al. 1999):
  ``BS(t) = mean( S_i(t)^2 I(T_i <= t, delta_i = 1) / G(T_i) + (1 - S_i(t))^2 I(T_i > t) / G(t) )``;
  IBS = trapezoidal integral of BS over the given times divided by their range (scikit-survival).
* :func:`uno_concordance` - Uno's C (Uno et al. 2011): Harrell's pairs weighted by ``G(T_i)^-2``,
  restricted to earlier times ``<= tau``. Harrell's C with its infinitesimal-jackknife SE is
  :func:`her2stats.stats.survival.concordance_index`.
* :func:`calibration_at_horizon` - predicted risk by ``horizon`` against Kaplan-Meier observed risk
  in groups of predicted risk, with the observed/expected ratio.

``G`` is the Kaplan-Meier estimate of the censoring distribution on the analysed data (events
precede censorings at tied times). Two conventions exist for where ``G`` is read at an event
time, and the anchors differ: ``g_limit="left"`` uses ``G(T_i-)`` as ``riskRegression::Score``
and ``survival::concordance(timewt = "n/G2")`` (the default here, so engine="r" and "python"
agree); ``g_limit="right"`` uses ``G(T_i)`` as scikit-survival. They differ only when a
censoring shares a time with an event (on survival::lung, by ~1e-4 in AUC).

CIs: engine="r" reports riskRegression's influence-function SEs (AUC, Brier); for Uno's C both
engines give survival's infinitesimal-jackknife SE; engine="python" reports percentile bootstrap CIs
(``n_boot`` replicates through :func:`her2stats.resampling.run_replicates`, the censoring
distribution re-estimated in each replicate) with the bootstrap SD as ``se``.

References
----------
Uno H, Cai T, Tian L, Wei LJ (2007) JASA 102:527-537. Uno H et al. (2011) Stat Med 30:1105-1117.
Graf E et al. (1999) Stat Med 18:2529-2545. Blanche P et al. (2013) Stat Med 32:5381-5397.
Austin PC, Harrell FE, van Klaveren D (2020) Stat Med 39:2714-2742 (calibration at a horizon).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from ..engine import resolve_engine
from ..errors import InputError, find_stack_level
from ..resampling import bootstrap_indices, run_replicates
from ..results import Result
from . import _core
from ._core import renamed_args, z_value
from ._survdata import check_time_event
from .concordance import concordance_counts, concordance_numpy
from .km import km_ci, km_table
from ..schedulers import check_scheduler

__all__ = ["time_dependent_auc", "time_dependent_brier", "uno_concordance", "calibration_at_horizon", "TimeDependentAUC",
           "BrierResult", "UnoCResult", "HorizonCalibration"]


# --------------------------------------------------------------------------- helpers
def _inputs(time: Any, event: Any, *others: Any, names: Sequence[str] = (),
            constant: Sequence[str] = ()) -> tuple[np.ndarray, ...]:
    """Validated (time, event, *others), paired row by row (pandas inputs by index label).
    Names in ``constant`` are refused when every value is the same (a score that ranks nobody)."""
    pairs = _core.align(("time", time), ("event", event), *zip(names, others))
    time, event, others = pairs[0], pairs[1], pairs[2:]
    t_raw, e_raw = np.asarray(time), np.asarray(event)
    n = len(t_raw)
    if pd.isna(t_raw).any() or pd.isna(e_raw).any():
        raise InputError("time/event contain missing values; drop those rows first (and report how many)")
    t, e = check_time_event(t_raw, e_raw, "time", "event")
    out = [t, e]
    for name, x in zip(names, others):
        if np.ndim(x) <= 1:
            arr = _core.as_numeric(x, name)
        else:
            try:
                arr = np.asarray(x, dtype=float)
            except (TypeError, ValueError):
                raise InputError(f"{name} must be numeric") from None
        if arr.shape[0] != n:
            raise InputError(f"{name} has {arr.shape[0]} rows but time has {n}")
        if np.isnan(arr).any():
            raise InputError(f"{name} has missing values; drop those rows first (and report how many)")
        if name in constant and arr.size and np.all(arr == arr.flat[0]):
            raise InputError(f"{name} is constant (every value is {arr.flat[0]!r}): it ranks nobody, so the "
                             "concordance / AUC is 0.5 by construction and has no sampling variance")
        out.append(arr)
    return tuple(out)


def _times(times: Any, t: np.ndarray, e: np.ndarray) -> np.ndarray:
    tt = np.atleast_1d(np.asarray(times, dtype=float))
    if tt.size == 0 or np.any(~np.isfinite(tt)) or np.any(tt <= 0):
        raise InputError(f"times must be positive and finite, got {tt.tolist()}")
    for x in tt:
        if not ((t <= x) & (e == 1)).any():
            raise InputError(f"no events at or before time {x}: AUC/Brier at that time are undefined; choose a later time")
        if not (t > x).any():
            raise InputError(f"nobody is followed beyond time {x} (max follow-up {t.max()}); choose an earlier time")
    return tt


def _censoring_km(t: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan-Meier of the censoring times; at a time with both, events leave the risk set first."""
    ut, inv = np.unique(t, return_inverse=True)
    n_tot = np.bincount(inv, minlength=len(ut))
    n_ev = np.bincount(inv, weights=e, minlength=len(ut))
    n_cens = n_tot - n_ev
    at_risk = len(t) - np.concatenate([[0], np.cumsum(n_tot)[:-1]]) - n_ev
    with np.errstate(divide="ignore", invalid="ignore"):
        G = np.cumprod(np.where(n_cens > 0, 1 - n_cens / at_risk, 1.0))
    return ut, G


def _G_at(ut: np.ndarray, G: np.ndarray, x: np.ndarray, left: bool) -> np.ndarray:
    j = np.searchsorted(ut, x, side="left" if left else "right") - 1
    return np.where(j >= 0, G[np.maximum(j, 0)], 1.0)


def _check_limit(g_limit: str, eng: str) -> bool:
    if g_limit not in ("left", "right"):
        raise InputError(f"g_limit must be 'left' (riskRegression/survival) or 'right' (scikit-survival), got {g_limit!r}")
    if eng == "r" and g_limit != "left":
        raise InputError("engine='r' (riskRegression/survival) reads G at T_i-: use g_limit='left' or engine='python'")
    return g_limit == "left"


def _auc_at(t, e, r, times, left) -> np.ndarray:
    ut, G = _censoring_km(t, e)
    out = np.empty(len(times))
    for k, tau in enumerate(times):
        case = (t <= tau) & (e == 1)
        ctrl = t > tau
        if not case.any() or not ctrl.any():
            out[k] = np.nan
            continue
        w = 1.0 / _G_at(ut, G, t[case], left)
        rc, rj = r[case], np.sort(r[ctrl])
        # pairs won and tied by each case against all controls, via sorted control scores
        below = np.searchsorted(rj, rc, side="left")
        ties = np.searchsorted(rj, rc, side="right") - below
        out[k] = float(np.sum(w * (below + 0.5 * ties)) / (w.sum() * ctrl.sum()))
    return out


def _brier_at(t, e, S, times, left) -> np.ndarray:
    ut, G = _censoring_km(t, e)
    g_t = _G_at(ut, G, times, left=False)  # controls: G(t), the same under both conventions
    g_y = _G_at(ut, G, t, left)
    out = np.empty(len(times))
    for k, tau in enumerate(times):
        case = (t <= tau) & (e == 1)
        ctrl = t > tau
        with np.errstate(divide="ignore"):
            out[k] = float(np.mean(np.where(case, S[:, k] ** 2 / g_y, 0.0)
                                   + np.where(ctrl, (1 - S[:, k]) ** 2 / g_t[k], 0.0)))
    return out


def _uno_weights(t, e, tau, left) -> np.ndarray:
    """Time weight ``1/G(T_i)^2`` of each event at or before ``tau`` (0 elsewhere)."""
    ut, G = _censoring_km(t, e)
    use = e == 1
    if tau is not None:
        use &= t <= tau
    tw = np.zeros(len(t))
    tw[use] = 1.0 / _G_at(ut, G, t[use], left) ** 2
    return tw


def _uno_c(t, e, r, tau, left) -> float:
    """Uno's C: comparable pairs (later times, or the same time and censored) weighted by the
    earlier event's ``1/G^2``; O(n log n) through the Fenwick-tree pair counts."""
    counts, _ = concordance_counts(t, e, r, event_weight=_uno_weights(t, e, tau, left))
    den = counts[:3].sum()
    if den == 0:
        raise InputError("no comparable pairs for Uno's C (no events before tau with later follow-up)")
    return float((counts[0] + 0.5 * counts[2]) / den)


def _boot(fn, n: int, n_boot: int, seed, scheduler, width: int) -> np.ndarray:
    def chunk(rng: np.random.Generator, m: int) -> np.ndarray:
        out = np.full((m, width), np.nan)
        for b in range(m):
            idx = bootstrap_indices(rng, n)
            try:
                out[b] = fn(idx)
            except (InputError, ZeroDivisionError, FloatingPointError):
                pass  # an impossible replicate (e.g. no events): counted as failed
        return out

    return run_replicates(chunk, int(n_boot), seed=seed, scheduler=scheduler, desc="survival metrics")


def _percentile(boot: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    failed = int(np.isnan(boot).any(axis=1).sum())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = _core.percentile_interval(boot, level, axis=0, skip_nan=True)
        sd = np.nanstd(boot, axis=0, ddof=1)
    return lo, hi, sd, failed


# --------------------------------------------------------------------------- results
@dataclass(frozen=True, repr=False)
class TimeDependentAUC(Result):
    """Cumulative/dynamic AUC(t) per time with CI."""

    table: pd.DataFrame  # time, auc, se, ci_low, ci_high, n_cases, n_controls
    mean_auc: float      # AUC(t) averaged over the KM event distribution (scikit-survival's mean_auc)
    n: int
    n_boot: int
    n_boot_failed: int
    g_limit: str
    engine: str
    level: float = 0.95
    method: str = "cumulative/dynamic IPCW (Uno 2007)"

    def to_frame(self) -> pd.DataFrame:
        return self.table

    def plot(self, ax: Any = None) -> Any:
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.5))
        tab = self.table
        ax.plot(tab["time"], tab["auc"], "o-", color="C0")
        if tab["ci_low"].notna().any():
            ax.fill_between(tab["time"], tab["ci_low"], tab["ci_high"], color="C0", alpha=0.15, linewidth=0)
        ax.axhline(0.5, color="grey", linestyle="--", linewidth=1)
        ax.set_xlabel("Time")
        ax.set_ylabel("AUC(t)")
        ax.set_ylim(0.4, 1.0)
        return ax


@dataclass(frozen=True, repr=False)
class BrierResult(Result):
    """IPCW Brier score per time (with CI) and the integrated Brier score."""

    table: pd.DataFrame  # time, brier, se, ci_low, ci_high
    integrated: float | None
    n: int
    n_boot: int
    n_boot_failed: int
    g_limit: str
    engine: str
    level: float = 0.95
    method: str = "IPCW Brier score (Graf 1999)"

    def to_frame(self) -> pd.DataFrame:
        return self.table


@dataclass(frozen=True, repr=False)
class UnoCResult(Result):
    """Uno's IPCW concordance with CI."""

    concordance: float
    se: float
    ci_low: float
    ci_high: float
    tau: float | None
    n: int
    n_boot: int
    n_boot_failed: int
    g_limit: str
    engine: str
    level: float = 0.95
    method: str = "Uno (IPCW, G^-2 weights)"

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{"C": self.concordance, "se": self.se, "ci_low": self.ci_low, "ci_high": self.ci_high,
                              "tau": self.tau, "n": self.n}])


@dataclass(frozen=True, repr=False)
class HorizonCalibration(Result):
    """Predicted vs Kaplan-Meier observed risk by ``horizon`` within groups of predicted risk."""

    table: pd.DataFrame   # group, n, events, predicted, observed, ci_low, ci_high
    horizon: float
    observed_overall: float
    expected_overall: float
    oe_ratio: float
    n: int
    method: str = "grouped Kaplan-Meier calibration"

    def to_frame(self) -> pd.DataFrame:
        return self.table

    def plot(self, ax: Any = None) -> Any:
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(4.5, 4.5))
        tab = self.table
        ax.errorbar(tab["predicted"], tab["observed"],
                    yerr=[tab["observed"] - tab["ci_low"], tab["ci_high"] - tab["observed"]], fmt="o", color="C0",
                    capsize=3)
        top = max(1e-3, float(np.nanmax(tab[["predicted", "ci_high"]].to_numpy())) * 1.05)
        ax.plot([0, top], [0, top], color="grey", linestyle="--", linewidth=1)
        ax.set_xlim(0, top)
        ax.set_ylim(0, top)
        ax.set_xlabel(f"Predicted risk by t = {self.horizon:g}")
        ax.set_ylabel("Observed risk (Kaplan-Meier)")
        return ax


# --------------------------------------------------------------------------- public API
@renamed_args(conf_level="level")
def time_dependent_auc(time: Any, event: Any, risk: Any, times: Sequence[float], n_boot: int = 0,
                       seed: int | None = 0, level: float = 0.95, g_limit: str = "left",
                       scheduler: Any = None, engine: str | None = None) -> TimeDependentAUC:
    """Cumulative/dynamic time-dependent AUC with IPCW (Uno 2007) at each of ``times``.

    ``risk`` is a time-independent risk score (higher = earlier event, e.g. a Cox linear
    predictor). engine="r": ``riskRegression::Score(metrics = "auc", cens.model = "km")`` with its
    influence-function CI; engine="python": numpy, percentile bootstrap CI with ``n_boot``.

    Examples
    --------
    >>> time_dependent_auc(d.time, d.dead, lp, times=[180, 365, 540]).table
    ... # riskRegression::Score: 0.6980, 0.6474, 0.6663; g_limit="right" gives scikit-survival's
    """
    check_scheduler(scheduler)  # refused alike on both engines, even where R resamples
    t, e, r = _inputs(time, event, risk, names=["risk"], constant=["risk"])
    tt = _times(times, t, e)
    eng = resolve_engine(engine)
    left = _check_limit(g_limit, eng)
    n_boot = _core.check_n_boot(n_boot, optional=True)
    n_cases = [int(((t <= x) & (e == 1)).sum()) for x in tt]
    n_ctrl = [int((t > x).sum()) for x in tt]
    failed = 0
    if eng == "r":
        from .. import r_bridge

        r_bridge.require("riskRegression", "survival")
        out = r_bridge.call("h2s_td_auc", time=t, event=e, risk=r, times=tt, conf_level=level)
        # one time point comes back from R as a scalar: keep one value per time
        auc, se = np.atleast_1d(np.asarray(out["auc"], float)), np.atleast_1d(np.asarray(out["se"], float))
        lo, hi = np.atleast_1d(np.asarray(out["ci_low"], float)), np.atleast_1d(np.asarray(out["ci_high"], float))
    else:
        auc = _auc_at(t, e, r, tt, left)
        se = lo = hi = np.full(len(tt), np.nan)
        if n_boot:
            boot = _boot(lambda idx: _auc_at(t[idx], e[idx], r[idx], tt, left), len(t), n_boot, seed, scheduler, len(tt))
            lo, hi, se, failed = _percentile(boot, level)
    mean_auc = _mean_auc(t, e, tt, auc)
    table = pd.DataFrame({"time": tt, "auc": auc, "se": se, "ci_low": lo, "ci_high": hi, "n_cases": n_cases,
                          "n_controls": n_ctrl})
    return TimeDependentAUC(table=table, mean_auc=mean_auc, n=len(t), n_boot=n_boot if eng == "python" else 0,
                            n_boot_failed=failed, g_limit=g_limit, engine=eng, level=level)


def _mean_auc(t, e, tt, auc) -> float:
    """AUC(t) weighted by the KM event-time distribution over ``times`` (scikit-survival)."""
    if len(tt) == 1:
        return float(auc[0])
    km = km_table(t, e)
    j = np.searchsorted(km["time"].to_numpy(), tt, side="right") - 1
    s = np.where(j >= 0, km["survival"].to_numpy()[np.maximum(j, 0)], 1.0)
    d = -np.diff(np.concatenate([[1.0], s]))
    return float((auc * d).sum() / (1 - s[-1]))


@renamed_args(conf_level="level")
def time_dependent_brier(time: Any, event: Any, surv_prob: Any, times: Sequence[float], n_boot: int = 0,
                seed: int | None = 0, level: float = 0.95, g_limit: str = "left", scheduler: Any = None,
                engine: str | None = None) -> BrierResult:
    """IPCW Brier score of predicted survival probabilities at ``times`` and, with two or more
    times, the integrated Brier score (trapezoid over ``times`` / their range, as scikit-survival).

    ``surv_prob``: array (n, len(times)) of predicted P(T > t) (e.g.
    ``CoxModel.predict_survival(df, times)``). engine="r": ``riskRegression::Score(metrics =
    "brier")`` with influence-function CIs.
    """
    check_scheduler(scheduler)  # refused alike on both engines, even where R resamples
    t, e, S = _inputs(time, event, surv_prob, names=["surv_prob"])
    tt = _times(times, t, e)
    S = S.reshape(len(t), -1)
    if S.shape[1] != len(tt):
        raise InputError(f"surv_prob has {S.shape[1]} column(s) but {len(tt)} time(s) were given")
    if S.min() < 0 or S.max() > 1:
        raise InputError(f"surv_prob must be survival probabilities in [0, 1]; found [{S.min():.4g}, {S.max():.4g}]")
    eng = resolve_engine(engine)
    left = _check_limit(g_limit, eng)
    n_boot = _core.check_n_boot(n_boot, optional=True)
    failed = 0
    if eng == "r":
        from .. import r_bridge

        r_bridge.require("riskRegression", "survival")
        out = r_bridge.call("h2s_td_brier", time=t, event=e, risk=1 - S, times=tt, conf_level=level)
        # one time point comes back from R as a scalar: keep one value per time
        bs, se = np.atleast_1d(np.asarray(out["brier"], float)), np.atleast_1d(np.asarray(out["se"], float))
        lo, hi = np.atleast_1d(np.asarray(out["ci_low"], float)), np.atleast_1d(np.asarray(out["ci_high"], float))
    else:
        bs = _brier_at(t, e, S, tt, left)
        se = lo = hi = np.full(len(tt), np.nan)
        if n_boot:
            boot = _boot(lambda idx: _brier_at(t[idx], e[idx], S[idx], tt, left), len(t), n_boot, seed, scheduler,
                         len(tt))
            lo, hi, se, failed = _percentile(boot, level)
    ibs = float(np.trapezoid(bs, tt) / (tt[-1] - tt[0])) if len(tt) >= 2 else None
    table = pd.DataFrame({"time": tt, "brier": bs, "se": se, "ci_low": lo, "ci_high": hi})
    return BrierResult(table=table, integrated=ibs, n=len(t), n_boot=n_boot if eng == "python" else 0,
                       n_boot_failed=failed, g_limit=g_limit, engine=eng, level=level)


@renamed_args(conf_level="level")
def uno_concordance(time: Any, event: Any, risk: Any, tau: float | None = None, n_boot: int = 0, seed: int | None = 0,
          level: float = 0.95, g_limit: str = "left", scheduler: Any = None, engine: str | None = None) -> UnoCResult:
    """Uno's concordance: Harrell's comparable pairs weighted by ``G(T_i)^-2``, with events
    after ``tau`` ignored (``survival::concordance(timewt = "n/G2", ymax = tau)``).

    Both engines report survival's infinitesimal-jackknife SE (pair counts weighted by the time
    weights; the estimated G treated as fixed) and the Wald CI ``C +- z se``; with ``n_boot`` the
    Python engine reports a percentile bootstrap CI (G re-estimated per replicate) and the
    bootstrap SD instead.
    """
    check_scheduler(scheduler)  # refused alike on both engines, even where R resamples
    t, e, r = _inputs(time, event, risk, names=["risk"], constant=["risk"])
    eng = resolve_engine(engine)
    left = _check_limit(g_limit, eng)
    n_boot = _core.check_n_boot(n_boot, optional=True)
    if tau is not None and not (tau > 0 and ((t <= tau) & (e == 1)).any()):
        raise InputError(f"tau={tau!r} leaves no events at or before it")
    z = z_value(level)
    failed = 0
    if eng == "r":
        from .. import r_bridge

        r_bridge.require("survival")
        out = r_bridge.call("h2s_uno_c", time=t, event=e, risk=r, tau=tau)
        c, se = float(out["concordance"]), math.sqrt(float(out["var"]))
        lo, hi = c - z * se, c + z * se
    else:
        # survival's infinitesimal-jackknife variance with pair weights 1/G(T_i)^2 (0 after tau)
        ut, G = _censoring_km(t, e)
        g_ev = _G_at(ut, G, t[e == 1], left)
        if np.any(g_ev <= 0):
            raise InputError("the censoring survival G is 0 at an event time (everyone left is censored "
                             "there); use g_limit='left' or set tau before that time")
        ij = concordance_numpy(t, e, r, event_weight=_uno_weights(t, e, tau, left))
        cnt = ij["count"]
        c = float((cnt[0] + 0.5 * cnt[2]) / cnt[:3].sum())
        se = math.sqrt(ij["var"])
        lo, hi = c - z * se, c + z * se
        if n_boot:
            boot = _boot(lambda idx: np.array([_uno_c(t[idx], e[idx], r[idx], tau, left)]), len(t), n_boot, seed,
                         scheduler, 1)
            lo_a, hi_a, sd_a, failed = _percentile(boot, level)
            lo, hi, se = float(lo_a[0]), float(hi_a[0]), float(sd_a[0])
    return UnoCResult(concordance=c, se=se, ci_low=lo, ci_high=hi, tau=tau, n=len(t), n_boot=n_boot if eng == "python" else 0,
                      n_boot_failed=failed, g_limit=g_limit, engine=eng, level=level)


@renamed_args(conf_level="level")
def calibration_at_horizon(time: Any, event: Any, predicted_risk: Any, horizon: float, groups: int = 10,
                           level: float = 0.95) -> HorizonCalibration:
    """Calibration of predicted risk by ``horizon``: patients are cut into ``groups`` quantile
    groups of predicted risk; within each, mean predicted risk vs the Kaplan-Meier observed risk
    ``1 - S(horizon)`` (log CI, survfit's default). ``oe_ratio`` = overall KM risk / mean
    predicted risk. ``predicted_risk`` = 1 - predicted survival at ``horizon``.
    """
    t, e, p = _inputs(time, event, predicted_risk, names=["predicted_risk"])
    if p.min() < 0 or p.max() > 1:
        raise InputError(f"predicted_risk must be in [0, 1]; found [{p.min():.4g}, {p.max():.4g}]")
    if not horizon > 0 or t.max() < horizon:
        raise InputError(f"horizon must be positive and within follow-up (max {t.max()}), got {horizon!r}")
    if not isinstance(groups, (int, np.integer)) or groups < 1:
        raise InputError(f"groups must be a positive integer, got {groups!r}")
    n_distinct = len(np.unique(p))
    g = min(int(groups), n_distinct)
    if g < groups:
        warnings.warn(f"only {n_distinct} distinct predicted risks: using {g} groups instead of {groups}",
                      UserWarning, stacklevel=find_stack_level())
    codes = pd.qcut(pd.Series(p).rank(method="first"), g, labels=False).to_numpy()
    rows = []
    for k in range(g):
        m = codes == k
        tab = km_table(t[m], e[m])
        lo, hi = km_ci(tab["survival"].to_numpy(), tab["std_err"].to_numpy(), "log", level)
        j = np.searchsorted(tab["time"].to_numpy(), horizon, side="right") - 1
        if j < 0:
            s, sl, sh = 1.0, 1.0, 1.0
        elif tab["time"].iloc[-1] < horizon and tab["survival"].iloc[-1] > 0:
            s = sl = sh = float("nan")   # follow-up in this group ends before the horizon
        else:
            s, sl, sh = float(tab["survival"].iloc[j]), float(lo[j]), float(hi[j])
        rows.append({"group": k + 1, "n": int(m.sum()), "events": int(e[m].sum()), "predicted": float(p[m].mean()),
                     "observed": 1 - s, "ci_low": 1 - sh, "ci_high": 1 - sl})
    tab_all = km_table(t, e)
    j = np.searchsorted(tab_all["time"].to_numpy(), horizon, side="right") - 1
    observed = 1 - (float(tab_all["survival"].iloc[j]) if j >= 0 else 1.0)
    expected = float(p.mean())
    return HorizonCalibration(table=pd.DataFrame(rows), horizon=float(horizon), observed_overall=observed,
                              expected_overall=expected, oe_ratio=observed / expected if expected > 0 else float("nan"),
                              n=len(t))
