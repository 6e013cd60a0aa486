"""Decision curve analysis: net benefit of prediction models, with bootstrap uncertainty.

Net benefit at threshold probability ``p_t`` (Vickers & Elkin 2006)::

    NB(p_t) = TP/n - FP/n * p_t / (1 - p_t) - harm

where a patient is test-positive when the predicted risk is ``>= p_t`` (as ``dcurves``).
Treat-all: ``NB = pi - (1 - pi) p_t / (1 - p_t)`` with prevalence ``pi``; treat-none: 0.
Standardized net benefit is ``NB / pi`` (Kerr et al. 2016) and the net interventions avoided per
100 patients ``100 (NB - NB_all) / (p_t / (1 - p_t))``.

Time-to-event version (:func:`decision_curve_survival`, Vickers et al. 2008): at horizon ``t*``
the event probability among test positives is ``1 - KM_pos(t*)``, so
``TP/n = (1 - KM_pos(t*)) P(test+)`` and ``FP/n = KM_pos(t*) P(test+)``; prevalence ``1 - KM(t*)``.

Uncertainty (issue 11.5): nonparametric bootstrap of patients (not stratified: the prevalence
varies between replicates, as it would between samples of the target population) through :func:`her2stats.resampling.run_replicates` gives percentile CI bands for each
strategy, the CI of the net-benefit difference between two models and, at each threshold, the
proportion of replicates in which a model beats both treat-all and treat-none ("probability of
being beneficial", Wynants et al. 2018; Kerr et al. 2019).

References
----------
Vickers AJ, Elkin EB (2006) Med Decis Making 26:565-574. Vickers AJ et al. (2008) BMC Med Inform
Decis Mak 8:53. Kerr KF et al. (2016) Med Decis Making 36:14-20. Wynants L et al. (2018) Stat Med
37:3990. Sjoberg DD, dcurves (R/Python).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from ..engine import resolve_engine
from ..errors import InputError, find_stack_level
from ..resampling import bootstrap_indices, run_replicates
from ..results import Result
from . import _core
from ._core import renamed_args
from ..schedulers import check_scheduler

__all__ = ["decision_curve", "decision_curve_survival", "DecisionCurve", "net_benefit"]

_RESERVED = ("all", "none")


# --------------------------------------------------------------------------- core formulas
def _rates_binary(y: np.ndarray, p: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(tp/n, fp/n, test-positive/n) at each threshold; positive when p >= threshold."""
    n = len(y)
    p1 = np.sort(p[y == 1])
    p0 = np.sort(p[y == 0])
    tp = len(p1) - np.searchsorted(p1, thresholds, side="left")
    fp = len(p0) - np.searchsorted(p0, thresholds, side="left")
    return tp / n, fp / n, (tp + fp) / n


def net_benefit(y: Any, prob: Any, thresholds: Any, harm: float = 0.0) -> np.ndarray:
    """Net benefit ``TP/n - FP/n * p_t/(1-p_t) - harm`` of one model at each threshold."""
    y = np.asarray(y, dtype=float)
    prob = np.asarray(prob, dtype=float)
    th = np.asarray(thresholds, dtype=float)
    tp, fp, _ = _rates_binary(y, prob, th)
    return tp - fp * th / (1 - th) - harm


def _km_at(t: np.ndarray, e: np.ndarray, horizon: float) -> float:
    """Kaplan-Meier survival at ``horizon`` (NaN when follow-up ends before it)."""
    if len(t) == 0:
        return float("nan")
    if t.max() < horizon:
        return float("nan")
    times, inv = np.unique(t, return_inverse=True)
    d = np.bincount(inv, weights=e, minlength=len(times))
    tot = np.bincount(inv, minlength=len(times))
    at_risk = len(t) - np.concatenate([[0], np.cumsum(tot)[:-1]])
    s = np.cumprod(1 - d / at_risk)
    j = np.searchsorted(times, horizon, side="right") - 1
    return 1.0 if j < 0 else float(s[j])


def _rates_survival(t: np.ndarray, e: np.ndarray, p: np.ndarray, thresholds: np.ndarray, horizon: float
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = len(t)
    tp = np.empty(len(thresholds))
    fp = np.empty(len(thresholds))
    pos = np.empty(len(thresholds))
    for k, th in enumerate(thresholds):
        mask = p >= th
        pos[k] = mask.sum() / n
        if not mask.any():
            tp[k] = fp[k] = 0.0
            continue
        s = _km_at(t[mask], e[mask], horizon)
        tp[k] = (1 - s) * pos[k]
        fp[k] = s * pos[k]
    return tp, fp, pos


# --------------------------------------------------------------------------- result
@dataclass(frozen=True, repr=False)
class DecisionCurve(Result):
    """Net benefit of each strategy across thresholds (tidy ``table``), with optional
    bootstrap bands. ``strategies`` lists the models first, then "all" and "none"."""

    table: pd.DataFrame
    prevalence: float
    n: int
    thresholds: np.ndarray
    strategies: tuple[str, ...]
    harm: dict[str, float]
    n_boot: int
    level: float
    engine: str
    horizon: float | None = None
    n_boot_failed: int = 0
    boot: np.ndarray | None = field(default=None, compare=False)  # (B, strategies, thresholds)
    method: str = "decision curve (net benefit)"

    def to_frame(self) -> pd.DataFrame:
        return self.table

    def _nb(self, strategy: str) -> np.ndarray:
        if strategy not in self.strategies:
            raise InputError(f"unknown strategy {strategy!r}; available: {list(self.strategies)}")
        return self.table.loc[self.table["strategy"] == strategy, "net_benefit"].to_numpy()

    def useful_intervals(self, strategy: str) -> list[tuple[float, float]]:
        """All contiguous threshold runs where ``strategy`` beats both treat-all and treat-none."""
        if strategy in _RESERVED:
            raise InputError(f"useful_range compares a model with 'all' and 'none'; got {strategy!r}")
        nb = self._nb(strategy)
        better = (nb > self._nb("all")) & (nb > 0)
        runs, start = [], None
        for k, b in enumerate(better):
            if b and start is None:
                start = k
            if (not b or k == len(better) - 1) and start is not None:
                end = k if b else k - 1
                runs.append((float(self.thresholds[start]), float(self.thresholds[end])))
                start = None
        return runs

    def useful_range(self, strategy: str) -> tuple[float, float] | None:
        """Threshold range (lowest, highest grid threshold) where the model's net benefit
        exceeds both treat-all and treat-none, as seed 002 reports it. When the beneficial
        thresholds are not contiguous, the longest run is returned with a warning (see
        :meth:`useful_intervals`); None when the model is never beneficial."""
        runs = self.useful_intervals(strategy)
        if not runs:
            return None
        if len(runs) > 1:
            warnings.warn(f"{strategy!r} is beneficial on {len(runs)} separate threshold runs {runs}; "
                          "returning the longest", UserWarning, stacklevel=find_stack_level())
        th = self.thresholds

        def n_points(run: tuple[float, float]) -> int:
            return int(((th >= run[0]) & (th <= run[1])).sum())

        return max(runs, key=n_points)

    def difference(self, a: str, b: str) -> pd.DataFrame:
        """Net-benefit difference ``NB_a - NB_b`` per threshold with a percentile bootstrap CI
        and the proportion of replicates in which ``a`` is better (needs ``n_boot > 0``)."""
        if self.boot is None:
            raise InputError("difference() needs bootstrap replicates: call decision_curve(..., n_boot=1000)")
        ia, ib = self.strategies.index(a) if a in self.strategies else None, \
            self.strategies.index(b) if b in self.strategies else None
        if ia is None or ib is None:
            raise InputError(f"unknown strategy in ({a!r}, {b!r}); available: {list(self.strategies)}")
        d = self.boot[:, ia, :] - self.boot[:, ib, :]
        alpha = (1 - self.level) / 2
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            lo, hi = np.nanquantile(d, [alpha, 1 - alpha], axis=0)
            p_better = np.nanmean(d > 0, axis=0)
        return pd.DataFrame({"threshold": self.thresholds, "difference": self._nb(a) - self._nb(b),
                             "ci_low": lo, "ci_high": hi, "p_better": p_better})

    def plot(self, ax: Any = None, ci: bool = True, ylim: tuple[float, float] | None = None,
             standardized: bool = False) -> Any:
        """Net benefit (or standardized net benefit) against threshold; bands when bootstrapped."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        col = "standardized_net_benefit" if standardized else "net_benefit"
        for k, s in enumerate(self.strategies):
            part = self.table[self.table["strategy"] == s]
            style = {"all": {"color": "0.5", "lw": 1}, "none": {"color": "k", "lw": 1}}.get(s, {"color": f"C{k}", "lw": 1.6})
            ax.plot(part["threshold"], part[col], label=s, **style)
            if ci and self.boot is not None and s not in _RESERVED and not standardized:
                ax.fill_between(part["threshold"], part["nb_ci_low"], part["nb_ci_high"], color=style["color"], alpha=0.15,
                                linewidth=0)
        top = max(self.table.loc[self.table["strategy"] != "none", col].max(), 0.01)
        # treat-all dives far below zero at high thresholds; clip the axis to the useful region
        ax.set_ylim(ylim if ylim is not None else (-0.1 * top, top * 1.1))
        ax.set_xlim(float(self.thresholds.min()), float(self.thresholds.max()))
        ax.set_xlabel("Threshold probability")
        ax.set_ylabel("Standardized net benefit" if standardized else "Net benefit")
        ax.legend(frameon=False)
        return ax


# --------------------------------------------------------------------------- checks
def _check_thresholds(thresholds: Any) -> np.ndarray:
    th = np.asarray(thresholds, dtype=float).ravel()
    if th.size == 0:
        raise InputError("thresholds is empty")
    if np.any(~np.isfinite(th)) or np.any(th <= 0) or np.any(th >= 1):
        raise InputError(f"thresholds must lie strictly between 0 and 1 (p_t/(1-p_t) is undefined at 0 and 1); "
                         f"got min {th.min()}, max {th.max()}")
    if np.any(np.diff(th) <= 0):
        raise InputError("thresholds must be strictly increasing")
    return th


def _check_probs(probs: Mapping[str, Any], n: int) -> dict[str, np.ndarray]:
    if not isinstance(probs, Mapping) or not probs:
        raise InputError("probs must be a non-empty dict {model name: predicted probabilities}")
    out = {}
    for name, p in probs.items():
        if name in _RESERVED:
            raise InputError(f"model name {name!r} is reserved for the treat-{name} strategy; rename it")
        arr = _core.as_numeric(p, f"probs[{name!r}]")
        if arr.size != n:
            raise InputError(f"probs[{name!r}] has {arr.size} values but the outcome has {n}")
        if np.isnan(arr).any():
            raise InputError(f"probs[{name!r}] has {int(np.isnan(arr).sum())} missing value(s); drop those patients "
                             "from every input first (and report them)")
        if arr.min() < 0 or arr.max() > 1:
            raise InputError(f"probs[{name!r}] must be probabilities in [0, 1]; found range "
                             f"[{arr.min():.4g}, {arr.max():.4g}] (convert scores with a calibrated model first)")
        if not str(name).strip():
            raise InputError(f"model name {name!r} is empty; give every model a name")
        if str(name) in out:
            raise InputError(f"two models are both named {str(name)!r} once written as text; rename one")
        out[str(name)] = arr
    return out


def _check_binary(y: Any, event: Any = None) -> np.ndarray:
    f = _core.binary_outcome(y, "y", event=event).codes
    if np.isnan(f).any():
        raise InputError(f"y has {int(np.isnan(f).sum())} missing value(s); drop them first (and report them)")
    vals = set(np.unique(f).tolist())
    if len(vals) < 2:
        raise InputError(f"y has a single class ({sorted(vals)}): net benefit needs events and non-events")
    return f


def _harm_dict(harm: float | Mapping[str, float], names: list[str]) -> dict[str, float]:
    if isinstance(harm, Mapping):
        unknown = set(harm) - set(names)
        if unknown:
            raise InputError(f"harm names {sorted(unknown)} are not models in probs ({names})")
        h = {n: float(harm.get(n, 0.0)) for n in names}
    else:
        h = {n: float(harm) for n in names}
    if any(not math.isfinite(v) or v < 0 for v in h.values()):
        raise InputError(f"harm must be finite and >= 0, got {h}")
    return h


def _assemble(thresholds, names, harm, tp, fp, pos, prevalence) -> pd.DataFrame:
    """tp/fp/pos: dict strategy -> arrays; builds the tidy frame incl. all/none."""
    odds = thresholds / (1 - thresholds)
    nb_all = tp["all"] - fp["all"] * odds
    rows = []
    for s in [*names, "all", "none"]:
        nb = tp[s] - fp[s] * odds - harm.get(s, 0.0)
        rows.append(pd.DataFrame({
            "threshold": thresholds, "strategy": s, "net_benefit": nb,
            "standardized_net_benefit": nb / prevalence if prevalence > 0 else np.nan,
            "interventions_avoided_per_100": 100 * (nb - nb_all) / odds,
            "tp_rate": tp[s], "fp_rate": fp[s], "test_pos_rate": pos[s], "harm": harm.get(s, 0.0),
        }))
    return pd.concat(rows, ignore_index=True)


def _boot_bands(table: pd.DataFrame, boot: np.ndarray, strategies: tuple[str, ...], level: float) -> pd.DataFrame:
    alpha = (1 - level) / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = np.nanquantile(boot, [alpha, 1 - alpha], axis=0)   # (S, T)
        best_ref = np.maximum(boot[:, strategies.index("all"), :], 0.0)
        p_benef = np.nanmean(boot > best_ref[:, None, :], axis=0)     # (S, T)
    table = table.copy()
    T = boot.shape[2]
    table["nb_ci_low"] = np.concatenate([lo[k] for k in range(len(strategies))])
    table["nb_ci_high"] = np.concatenate([hi[k] for k in range(len(strategies))])
    pb = np.concatenate([p_benef[k] if s not in _RESERVED else np.full(T, np.nan) for k, s in enumerate(strategies)])
    table["p_beneficial"] = pb
    return table


# --------------------------------------------------------------------------- public API
@renamed_args(conf_level="level")
def decision_curve(y: Any, probs: Mapping[str, Any], thresholds: Any = np.arange(0.01, 1, 0.01),
                   harm: float | Mapping[str, float] = 0.0, n_boot: int = 0, seed: int | None = 0,
                   level: float = 0.95, scheduler: Any = None, engine: str | None = None,
                   event: Any = None) -> DecisionCurve:
    """Decision curve analysis for a binary outcome (``dcurves::dca`` parity).

    Parameters
    ----------
    y : binary outcome (0/1, bool, ordered Categorical, data-dictionary variable; other labels
        need ``event=``).
    probs : ``{model name: predicted probability}`` (each in [0, 1], same length as y; pandas
        inputs are paired with ``y`` by index label).
    thresholds : threshold probabilities, strictly inside (0, 1) and increasing.
    harm : harm of the test, subtracted from each model's net benefit (scalar or per model).
    n_boot : bootstrap replicates for CI bands, differences and P(beneficial) (0 = none).
        Patients are resampled without stratification, so the treat-all curve has a band too.
    seed, scheduler : passed to :func:`~her2stats.resampling.run_replicates`.
    engine : "python" (numpy) or "r" (``r/dca.R``; ``dcurves::dca`` when the R package is
        installed). The bootstrap always runs in Python.

    Returns
    -------
    DecisionCurve
        ``table`` columns: threshold, strategy, net_benefit, standardized_net_benefit,
        interventions_avoided_per_100, tp_rate, fp_rate, test_pos_rate, harm (+ nb_ci_low,
        nb_ci_high, p_beneficial with ``n_boot``).

    Examples
    --------
    >>> res = decision_curve(y, {"nomogram": p}, thresholds=[0.1, 0.2, 0.3])
    >>> res.useful_range("nomogram")
    ... # equals dcurves.dca(df, "y", ["nomogram"]) (Python) and dcurves::dca (R)
    """
    check_scheduler(scheduler)  # refused alike on both engines, even where R resamples
    if isinstance(probs, Mapping) and probs:
        aligned = _core.align(("y", y), *((f"probs[{k!r}]", v) for k, v in probs.items()))
        y, probs = aligned[0], dict(zip(probs, aligned[1:]))
    yv = _check_binary(y, event)
    pr = _check_probs(probs, len(yv))
    th = _check_thresholds(thresholds)
    names = list(pr)
    hz = _harm_dict(harm, names)
    n_boot = _core.check_n_boot(n_boot, optional=True)
    eng = resolve_engine(engine)
    n = len(yv)
    prevalence = float(yv.mean())
    tp, fp, pos = {}, {}, {}
    if eng == "r":
        from .. import r_bridge

        mat = np.column_stack([pr[k] for k in names])
        # the model names stay here: R labels the strategies m1..mk (a name never reaches R)
        safe = r_bridge.safe_names(len(names), prefix="m")
        out = r_bridge.call("h2s_dca", y=yv.astype(int), probs=mat, names=safe, thresholds=th)
        for s, rs in zip([*names, "all", "none"], [*safe, "all", "none"]):
            part = out[out["strategy"] == rs].sort_values("threshold")
            tp[s], fp[s], pos[s] = (part[c].to_numpy(float) for c in ("tp_rate", "fp_rate", "test_pos_rate"))
    else:
        for s in names:
            tp[s], fp[s], pos[s] = _rates_binary(yv, pr[s], th)
        tp["all"], fp["all"], pos["all"] = (np.full(len(th), prevalence), np.full(len(th), 1 - prevalence),
                                            np.ones(len(th)))
        tp["none"] = fp["none"] = pos["none"] = np.zeros(len(th))
    table = _assemble(th, names, hz, tp, fp, pos, prevalence)
    strategies = tuple([*names, "all", "none"])
    boot = None
    failed = 0
    if n_boot:
        boot = _bootstrap_net_benefit(
            n, np.column_stack([pr[k] for k in names]), np.array([hz[k] for k in names]), th,
            rates=lambda idx, p: _rates_binary(yv[idx], p, th), prevalence_of=lambda idx: yv[idx].mean(),
            n_boot=n_boot, seed=seed, scheduler=scheduler)
        table = _boot_bands(table, boot, strategies, level)
    return DecisionCurve(table=table, prevalence=prevalence, n=n, thresholds=th, strategies=strategies, harm=hz,
                         n_boot=int(n_boot), level=level, engine=eng, boot=boot, n_boot_failed=failed)


def _bootstrap_net_benefit(n: int, P: np.ndarray, harms: np.ndarray, th: np.ndarray,
                           rates: Callable[[np.ndarray, np.ndarray], tuple],
                           prevalence_of: Callable[[np.ndarray], float],
                           n_boot: int, seed: Any, scheduler: Any) -> np.ndarray:
    """Bootstrap net benefit, shape (B, models + 2, thresholds): the models (columns of ``P``),
    then treat-all and treat-none. ``rates(idx, p)`` gives the (TP, FP, ...) rates of one
    resample and ``prevalence_of(idx)`` its prevalence; binary and time-to-event curves differ only
    in these two."""
    odds = th / (1 - th)
    n_models = P.shape[1]

    def one_chunk(rng: np.random.Generator, m: int) -> np.ndarray:
        res = np.empty((m, n_models + 2, len(th)))
        for b in range(m):
            idx = bootstrap_indices(rng, n)
            prev = prevalence_of(idx)
            for k in range(n_models):
                tpb, fpb, _ = rates(idx, P[idx, k])
                res[b, k] = tpb - fpb * odds - harms[k]
            res[b, -2] = prev - (1 - prev) * odds
            res[b, -1] = 0.0
        return res

    return run_replicates(one_chunk, int(n_boot), seed=seed, scheduler=scheduler, desc="decision curve")


@renamed_args(conf_level="level")
def decision_curve_survival(time: Any, event: Any, probs: Mapping[str, Any], horizon: float,
                            thresholds: Any = np.arange(0.01, 1, 0.01), harm: float | Mapping[str, float] = 0.0,
                            n_boot: int = 0, seed: int | None = 0, level: float = 0.95,
                            scheduler: Any = None) -> DecisionCurve:
    """Decision curve at a time horizon for right-censored outcomes (Kaplan-Meier based, as
    ``dcurves`` time-to-event). ``probs`` are predicted probabilities of an event by ``horizon``.

    Where the test-positive group's follow-up ends before ``horizon`` its net benefit is NaN
    (dcurves reports it missing too). Python engine only.
    """
    from ._survdata import check_time_event

    if isinstance(probs, Mapping) and probs:
        aligned = _core.align(("time", time), ("event", event), *((f"probs[{k!r}]", v) for k, v in probs.items()))
        time, event, probs = aligned[0], aligned[1], dict(zip(probs, aligned[2:]))
    t_raw, e_raw = np.asarray(time), np.asarray(event)
    if len(t_raw) != len(e_raw):
        raise InputError(f"time and event lengths differ ({len(t_raw)} vs {len(e_raw)})")
    if pd.isna(t_raw).any() or pd.isna(e_raw).any():
        raise InputError("time/event contain missing values; drop those patients first (and report them)")
    t, e = check_time_event(t_raw, e_raw, "time", "event")
    if not (isinstance(horizon, (int, float, np.integer, np.floating)) and horizon > 0):
        raise InputError(f"horizon must be a positive time, got {horizon!r}")
    if t.max() < horizon:
        raise InputError(f"horizon {horizon} is beyond the longest follow-up ({t.max()}); choose an earlier one")
    pr = _check_probs(probs, len(t))
    th = _check_thresholds(thresholds)
    names = list(pr)
    hz = _harm_dict(harm, names)
    n = len(t)
    prevalence = 1 - _km_at(t, e, horizon)
    tp, fp, pos = {}, {}, {}
    for s in names:
        tp[s], fp[s], pos[s] = _rates_survival(t, e, pr[s], th, horizon)
    tp["all"], fp["all"], pos["all"] = np.full(len(th), prevalence), np.full(len(th), 1 - prevalence), np.ones(len(th))
    tp["none"] = fp["none"] = pos["none"] = np.zeros(len(th))
    table = _assemble(th, names, hz, tp, fp, pos, prevalence)
    strategies = tuple([*names, "all", "none"])
    boot = None
    if n_boot:
        boot = _bootstrap_net_benefit(
            n, np.column_stack([pr[k] for k in names]), np.array([hz[k] for k in names]), th,
            rates=lambda idx, p: _rates_survival(t[idx], e[idx], p, th, horizon),
            prevalence_of=lambda idx: 1 - _km_at(t[idx], e[idx], horizon),
            n_boot=n_boot, seed=seed, scheduler=scheduler)
        table = _boot_bands(table, boot, strategies, level)
    return DecisionCurve(table=table, prevalence=prevalence, n=n, thresholds=th, strategies=strategies, harm=hz,
                         n_boot=int(n_boot), level=level, engine="python", horizon=float(horizon), boot=boot,
                         method="decision curve at a horizon (Kaplan-Meier)")
