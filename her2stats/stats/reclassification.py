"""Reclassification: net reclassification improvement (continuous and categorical) and integrated
discrimination improvement of a new risk model over an old one, for a binary outcome and at a
survival horizon.

Binary outcome (:func:`reclassification`): ``engine="r"`` calls ``Hmisc::improveProb``;
``engine="python"`` computes the same closed forms; tests hold them to 1e-9.

At a horizon (:func:`reclassification_at_horizon`): the outcome "event by time t" is unknown for
subjects censored before t. Each subject is weighted by the inverse probability of being
uncensored (IPCW, Kaplan-Meier estimate of the censoring distribution), the idea of Uno et al.
(2013, survIDINRI): events by t weigh ``1/G(T_i-)``, subjects still event-free at t weigh
``1/G(t)``, subjects censored before t weigh 0. Every proportion and mean of the binary
definitions is then a weighted one. CIs come from a seeded bootstrap of subjects (G re-estimated
in every replicate).

References
----------
Pencina MJ, D'Agostino RB Sr, D'Agostino RB Jr, Vasan RS (2008) Stat Med 27:157-172.
Pencina MJ, D'Agostino RB Sr, Steyerberg EW (2011) Stat Med 30:11-21 (continuous NRI, survival).
Uno H, Tian L, Cai T, Kohane IS, Wei LJ (2013) Stat Med 32:2430-2442 (IPCW, survIDINRI).
Harrell FE, ``Hmisc::improveProb`` (variances of the NRI components and of the IDI).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from ..engine import resolve_engine
from ..errors import InputError, find_stack_level
from ..results import Result
from . import _core, _survdata, _tte
from ._core import z_value
from ..schedulers import check_scheduler

__all__ = ["reclassification", "reclassification_at_horizon", "ReclassificationResult", "NRIResult", "IDIResult"]

_COMPONENTS = ("overall", "events", "non-events")


# =========================================================================== results
@dataclass(frozen=True, repr=False)
class NRIResult(Result):
    """Net reclassification improvement: overall, among events, among non-events.

    ``estimate``, ``se``, ``ci_low``, ``ci_high``, ``p_value`` are length-3 tuples in the order
    overall, events, non-events. ``up_events`` etc. are the (weighted) proportions moving up or
    down. For the categorical NRI ``table_events`` / ``table_nonevents`` cross old (rows) and new
    (columns) risk categories (IPCW-weighted counts at a horizon).
    """

    kind: str                                   # "continuous" | "categorical"
    estimate: tuple[float, float, float]
    se: tuple[float, float, float]
    ci_low: tuple[float, float, float]
    ci_high: tuple[float, float, float]
    p_value: tuple[float, float, float]
    up_events: float
    down_events: float
    up_nonevents: float
    down_nonevents: float
    level: float
    cutoffs: tuple[float, ...] = ()
    table_events: pd.DataFrame | None = None
    table_nonevents: pd.DataFrame | None = None
    method: str = ""

    @property
    def nri(self) -> float:
        return self.estimate[0]

    @property
    def nri_events(self) -> float:
        return self.estimate[1]

    @property
    def nri_nonevents(self) -> float:
        return self.estimate[2]

    def to_frame(self) -> pd.DataFrame:
        name = "NRI (continuous)" if self.kind == "continuous" else f"NRI (categories {list(self.cutoffs)})"
        return pd.DataFrame({"index": name, "component": _COMPONENTS, "estimate": self.estimate, "se": self.se,
                             "z": np.asarray(self.estimate) / np.asarray(self.se), "p_value": self.p_value,
                             "ci_low": self.ci_low, "ci_high": self.ci_high})


@dataclass(frozen=True, repr=False)
class IDIResult(Result):
    """Integrated discrimination improvement: the change in the discrimination slope (mean risk
    of events minus mean risk of non-events), ``improve_sens - (-improve_spec)``."""

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    p_value: float
    improve_sens: float          # mean change of predicted risk among events
    improve_spec: float          # minus the mean change among non-events
    slope_old: float
    slope_new: float
    level: float
    method: str = ""

    @property
    def idi(self) -> float:
        return self.estimate

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{"index": "IDI", "component": "overall", "estimate": self.estimate, "se": self.se,
                              "z": self.estimate / self.se, "p_value": self.p_value, "ci_low": self.ci_low,
                              "ci_high": self.ci_high}])


@dataclass(frozen=True, repr=False)
class ReclassificationResult(Result):
    """NRI (continuous and, with cut-offs, categorical) and IDI of ``p_new`` over ``p_old``."""

    nri_continuous: NRIResult
    nri: NRIResult | None
    idi: IDIResult
    n: int
    n_events: int
    n_nonevents: int
    n_excluded: int
    level: float
    engine: str
    method: str
    horizon: float | None = None
    n_censored_before: int = 0
    n_boot: int | None = None
    seed: int | None = None
    n_failed: int = 0
    _points: pd.DataFrame | None = field(default=None, compare=False)

    def to_frame(self) -> pd.DataFrame:
        parts = [self.nri_continuous.to_frame()]
        if self.nri is not None:
            parts.append(self.nri.to_frame())
        parts.append(self.idi.to_frame())
        return pd.concat(parts, ignore_index=True)

    def plot(self, ax: Any = None) -> Any:
        """Old vs new predicted risk, events and non-events in two colours, cut-offs as lines."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 5))
        pts = self._points
        if pts is not None:
            for lab, col, name in ((0, "C0", "non-events"), (1, "C3", "events")):
                s = pts[pts["y"] == lab]
                ax.scatter(s["p_old"], s["p_new"], s=8, alpha=0.5, color=col, label=name)
        ax.plot([0, 1], [0, 1], color="grey", linewidth=0.8)
        for c in (self.nri.cutoffs if self.nri is not None else ()):
            ax.axvline(c, color="k", linestyle=":", linewidth=0.8)
            ax.axhline(c, color="k", linestyle=":", linewidth=0.8)
        ax.set_xlabel("Old model risk")
        ax.set_ylabel("New model risk")
        ax.legend(frameon=False, loc="upper left")
        return ax


# =========================================================================== inputs
def _vector(x: Any, name: str) -> pd.Series:
    if isinstance(x, pd.DataFrame):
        raise InputError(f"{name} must be a vector (Series or array), got a DataFrame")
    s = x.reset_index(drop=True) if isinstance(x, pd.Series) else pd.Series(np.asarray(x) if np.ndim(x) else [x])
    if s.ndim != 1:
        raise InputError(f"{name} must be one-dimensional")
    return s


def _risk(s: pd.Series, name: str, function: str) -> np.ndarray:
    v = pd.to_numeric(s, errors="coerce")
    bad = s[v.isna() & s.notna()]
    if len(bad):
        raise InputError(f"{function}: {name} must hold predicted probabilities; found non-numeric value(s) "
                         f"{sorted(map(str, pd.unique(bad)))[:5]}")
    a = v.to_numpy(dtype=float)
    out = a[~np.isnan(a) & ((a < 0) | (a > 1))]
    if out.size:
        raise InputError(f"{function}: {name} must be predicted probabilities in [0, 1]; found {out.size} value(s) outside "
                         f"(e.g. {out[0]!r}). Pass risks, not linear predictors or scores.")
    return a


def _cutoffs(cutoffs: Any, function: str) -> tuple[float, ...] | None:
    if cutoffs is None:
        return None
    c = np.atleast_1d(np.asarray(cutoffs, dtype=float))
    if c.size == 0:
        raise InputError(f"{function}: cutoffs must hold at least one risk threshold (or be None)")
    if np.any(~np.isfinite(c)) or np.any((c <= 0) | (c >= 1)):
        raise InputError(f"{function}: cutoffs must be risks strictly between 0 and 1, got {c.tolist()}")
    if np.any(np.diff(c) <= 0):
        raise InputError(f"{function}: cutoffs must be strictly increasing, got {c.tolist()}")
    return tuple(float(v) for v in c)


def _categories(p: np.ndarray, cutoffs: Sequence[float]) -> np.ndarray:
    """Risk category 0..k: the number of cut-offs at or below the risk (a risk equal to a cut-off
    belongs to the higher category)."""
    return np.searchsorted(np.asarray(cutoffs), p, side="right")


def _cat_labels(cutoffs: Sequence[float]) -> list[str]:
    edges = [0.0, *cutoffs, 1.0]
    return [f"[{edges[i]:g}, {edges[i + 1]:g}" + ("]" if i == len(cutoffs) else ")") for i in range(len(edges) - 1)]


# =========================================================================== estimators
def _weighted_parts(y: np.ndarray, w: np.ndarray, up: np.ndarray, down: np.ndarray) -> np.ndarray:
    """Weighted up/down proportions among events and non-events: (pup_ev, pdown_ev, pup_ne, pdown_ne)."""
    ev, ne = y == 1, y == 0
    we, wn = w[ev].sum(), w[ne].sum()
    return np.array([w[ev & up].sum() / we, w[ev & down].sum() / we, w[ne & up].sum() / wn, w[ne & down].sum() / wn])


def _stats(y: np.ndarray, w: np.ndarray, p_old: np.ndarray, p_new: np.ndarray,
           cutoffs: tuple[float, ...] | None) -> np.ndarray:
    """Point estimates (IPCW-weighted; w = 1 for a binary outcome):
    [nri, nri_ev, nri_ne, cat_nri, cat_ev, cat_ne, idi, improve_sens, improve_spec, slope_old, slope_new,
     pup_ev, pdown_ev, pup_ne, pdown_ne, cat_pup_ev, cat_pdown_ev, cat_pup_ne, cat_pdown_ne]."""
    d = p_new - p_old
    out = np.full(19, np.nan)
    ev, ne = y == 1, y == 0
    if w[ev].sum() <= 0 or w[ne].sum() <= 0:
        return out
    parts = _weighted_parts(y, w, d > 0, d < 0)
    out[0:3] = [parts[0] - parts[1] - (parts[2] - parts[3]), parts[0] - parts[1], parts[3] - parts[2]]
    out[11:15] = parts
    if cutoffs is not None:
        co, cn = _categories(p_old, cutoffs), _categories(p_new, cutoffs)
        cp = _weighted_parts(y, w, cn > co, cn < co)
        out[3:6] = [cp[0] - cp[1] - (cp[2] - cp[3]), cp[0] - cp[1], cp[3] - cp[2]]
        out[15:19] = cp
    mean = lambda v, m: float(np.sum(w[m] * v[m]) / np.sum(w[m]))  # noqa: E731
    sens, spec = mean(d, ev), -mean(d, ne)
    out[6:11] = [sens + spec, sens, spec, mean(p_old, ev) - mean(p_old, ne), mean(p_new, ev) - mean(p_new, ne)]
    return out


def _hmisc_se(y: np.ndarray, p_old: np.ndarray, p_new: np.ndarray, cutoffs: tuple[float, ...] | None
              ) -> np.ndarray:
    """Standard errors of Hmisc::improveProb: for a component with n subjects of whom u moved up and
    v down, var = (u + v)/n^2 - (u - v)^2/n^3 (multinomial); var(IDI) = var(d|events)/n_e +
    var(d|non-events)/n_ne (sample variances). Returned in the order of _stats' first 7."""
    ev, ne = y == 1, y == 0
    na, nb = ev.sum(), ne.sum()

    def comp(up: np.ndarray, down: np.ndarray) -> tuple[float, float, float]:
        ue, de, un, dn = up[ev].sum(), down[ev].sum(), up[ne].sum(), down[ne].sum()
        ve = (ue + de) / na ** 2 - (ue - de) ** 2 / na ** 3
        vn = (dn + un) / nb ** 2 - (dn - un) ** 2 / nb ** 3
        return np.sqrt(ve + vn), np.sqrt(ve), np.sqrt(vn)

    d = p_new - p_old
    out = np.full(7, np.nan)
    out[0:3] = comp(d > 0, d < 0)
    if cutoffs is not None:
        co, cn = _categories(p_old, cutoffs), _categories(p_new, cutoffs)
        out[3:6] = comp(cn > co, cn < co)
    out[6] = np.sqrt(np.var(d[ev], ddof=1) / na + np.var(d[ne], ddof=1) / nb)
    return out


def _tables(y: np.ndarray, w: np.ndarray, p_old: np.ndarray, p_new: np.ndarray, cutoffs: tuple[float, ...]
            ) -> tuple[pd.DataFrame, pd.DataFrame]:
    labels = _cat_labels(cutoffs)
    k = len(labels)
    co, cn = _categories(p_old, cutoffs), _categories(p_new, cutoffs)
    out = []
    for grp in (1, 0):
        m = y == grp
        tab = np.zeros((k, k))
        np.add.at(tab, (co[m], cn[m]), w[m])
        out.append(pd.DataFrame(tab, index=pd.Index(labels, name="old"), columns=pd.Index(labels, name="new")))
    return out[0], out[1]


def _build(est: np.ndarray, se: np.ndarray, ci: np.ndarray, p: np.ndarray, level: float,
           cutoffs: tuple[float, ...] | None, tables: tuple[pd.DataFrame, pd.DataFrame] | None,
           method: str) -> tuple[NRIResult, NRIResult | None, IDIResult]:
    t3 = lambda a, i: tuple(float(x) for x in a[i:i + 3])  # noqa: E731
    cont = NRIResult(kind="continuous", estimate=t3(est, 0), se=t3(se, 0), ci_low=t3(ci[0], 0), ci_high=t3(ci[1], 0),
                     p_value=t3(p, 0), up_events=float(est[11]), down_events=float(est[12]),
                     up_nonevents=float(est[13]), down_nonevents=float(est[14]), level=level, method=method)
    cat = None
    if cutoffs is not None:
        cat = NRIResult(kind="categorical", estimate=t3(est, 3), se=t3(se, 3), ci_low=t3(ci[0], 3),
                        ci_high=t3(ci[1], 3), p_value=t3(p, 3), up_events=float(est[15]), down_events=float(est[16]),
                        up_nonevents=float(est[17]), down_nonevents=float(est[18]), level=level, cutoffs=cutoffs,
                        table_events=tables[0], table_nonevents=tables[1], method=method)
    idi = IDIResult(estimate=float(est[6]), se=float(se[6]), ci_low=float(ci[0][6]), ci_high=float(ci[1][6]),
                    p_value=float(p[6]), improve_sens=float(est[7]), improve_spec=float(est[8]),
                    slope_old=float(est[9]), slope_new=float(est[10]), level=level, method=method)
    return cont, cat, idi


def _complete(function: str, named: Sequence[tuple[str, pd.Series]]) -> tuple[list[pd.Series], int]:
    lens = {name: len(s) for name, s in named}
    if len(set(lens.values())) != 1:
        raise InputError(f"{function}: inputs must have the same length, got {lens}")
    na = pd.DataFrame({name: s.isna().to_numpy() for name, s in named})
    keep = ~na.any(axis=1).to_numpy()
    n_drop = int((~keep).sum())
    _core.announce_dropped(function, n_drop, len(keep), {c: int(v) for c, v in na.sum().items()})
    if keep.sum() == 0:
        raise InputError(f"{function}: no complete rows (every row has a missing value)")
    return [s[keep].reset_index(drop=True) for _, s in named], n_drop


def _binary_y(s: pd.Series, name: str, function: str, event: Any = None) -> np.ndarray:
    """0/1 codes by the statistics core's one rule (0/1, bool, an ordered Categorical, or labels with
    ``event=``); both classes must be present."""
    y = _core.binary_outcome(s, name, event=event).codes.astype(int)
    if y.sum() == 0 or y.sum() == len(y):
        raise InputError(f"{function}: {name} has {'no events' if y.sum() == 0 else 'no non-events'}: "
                         "reclassification compares events with non-events")
    return y


# =========================================================================== public: binary
def reclassification(y: Any, p_old: Any, p_new: Any, cutoffs: Sequence[float] | None = None, level: float = 0.95,
                     engine: str | None = None, event: Any = None) -> ReclassificationResult:
    """NRI and IDI of a new risk model over an old one for a binary outcome (``Hmisc::improveProb``).

    With ``d = p_new - p_old``, among events (e) and non-events (ne), ``up``/``down`` the
    proportions with ``d > 0`` / ``d < 0``:

    * continuous NRI (Pencina 2011) ``(up_e - down_e) + (down_ne - up_ne)``, with its event and
      non-event components; each component's variance is ``(u + v)/n^2 - (u - v)^2/n^3`` (u, v
      counts up and down), as ``improveProb``;
    * categorical NRI (Pencina 2008) with ``cutoffs``: the same with "up" meaning a move to a higher
      risk category (category = number of cut-offs at or below the risk), and the
      reclassification tables of events and non-events;
    * IDI ``mean(d | e) - mean(d | ne)`` (the change in the discrimination slope), variance
      ``var(d | e)/n_e + var(d | ne)/n_ne``.

    CIs are ``estimate +- z se`` at ``level``; p-values two-sided from ``z = estimate/se``.
    ``engine="r"`` runs ``Hmisc::improveProb`` (the categorical NRI as improveProb on the risk
    categories scaled to [0, 1], which leaves its NRI parts unchanged).
    """
    level = _core.check_level(level)
    cut = _cutoffs(cutoffs, "reclassification")
    (ys, po, pn), n_drop = _complete("reclassification", [("y", _vector(y, "y")), ("p_old", _vector(p_old, "p_old")),
                                                          ("p_new", _vector(p_new, "p_new"))])
    yv = _binary_y(ys, "y", "reclassification", event)
    a, b = _risk(po, "p_old", "reclassification"), _risk(pn, "p_new", "reclassification")
    eng = resolve_engine(engine)
    w = np.ones(len(yv))
    est = _stats(yv, w, a, b, cut)
    if eng == "r":
        from .. import r_bridge

        r_bridge.require("Hmisc")
        out = r_bridge.call("h2s_improve_prob", y=yv.astype(int), p_old=a, p_new=b,
                            cutoffs=list(cut) if cut is not None else None)
        est = est.copy()
        est[[0, 1, 2, 6, 7, 8]] = [out["nri"], out["nri_ev"], out["nri_ne"], out["idi"], out["sens"], out["spec"]]
        est[11:15] = [out["pup_ev"], out["pdown_ev"], out["pup_ne"], out["pdown_ne"]]
        se = np.full(7, np.nan)
        se[[0, 1, 2, 6]] = [out["se_nri"], out["se_nri_ev"], out["se_nri_ne"], out["se_idi"]]
        if cut is not None:
            est[[3, 4, 5]] = [out["cat_nri"], out["cat_nri_ev"], out["cat_nri_ne"]]
            est[15:19] = [out["cat_pup_ev"], out["cat_pdown_ev"], out["cat_pup_ne"], out["cat_pdown_ne"]]
            se[[3, 4, 5]] = [out["cat_se_nri"], out["cat_se_nri_ev"], out["cat_se_nri_ne"]]
            k = len(cut) + 1
            labels = _cat_labels(cut)
            tabs = tuple(pd.DataFrame(np.asarray(out[key], float).reshape(k, k, order="F"),
                                      index=pd.Index(labels, name="old"), columns=pd.Index(labels, name="new"))
                         for key in ("table_events", "table_nonevents"))
        else:
            tabs = None
    else:
        se = _hmisc_se(yv, a, b, cut)
        tabs = _tables(yv, w, a, b, cut) if cut is not None else None
    z = z_value(level)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 2 * sps.norm.sf(np.abs(est[:7] / se))
    ci = (est[:7] - z * se, est[:7] + z * se)
    ci = (np.concatenate([ci[0], np.full(12, np.nan)]), np.concatenate([ci[1], np.full(12, np.nan)]))
    cont, cat, idi = _build(est, se, ci, p, level, cut, tabs, "asymptotic (Hmisc::improveProb variances)")
    return ReclassificationResult(nri_continuous=cont, nri=cat, idi=idi, n=len(yv), n_events=int(yv.sum()),
                                  n_nonevents=int(len(yv) - yv.sum()), n_excluded=n_drop, level=level, engine=eng,
                                  method="binary outcome",
                                  _points=pd.DataFrame({"y": yv, "p_old": a, "p_new": b}))


# =========================================================================== public: horizon
def _ipcw(t: np.ndarray, e: np.ndarray, horizon: float) -> tuple[np.ndarray, np.ndarray]:
    """Outcome by the horizon (1 event, 0 event-free, -1 censored before) and IPCW weights:
    ``1/G(T_i-)`` for events by t, ``1/G(t)`` for subjects event-free at t, 0 otherwise; G is the
    Kaplan-Meier estimate of the censoring distribution (censoring at an event time counted after
    the event)."""
    gt, gs = _tte.km_step(t, 1.0 - e)
    y = np.where((t <= horizon) & (e == 1), 1, np.where(t > horizon, 0, -1))
    w = np.zeros(len(t))
    ev = y == 1
    with np.errstate(divide="ignore"):
        w[ev] = 1.0 / _tte.step_left(gt, gs, t[ev])
        w[y == 0] = 1.0 / _tte.step_right(gt, gs, np.array([horizon]))[0]
    return y, w


def reclassification_at_horizon(time: Any, event: Any, p_old: Any, p_new: Any, horizon: float,
                                cutoffs: Sequence[float] | None = None, level: float = 0.95, n_boot: int = 1000,
                                seed: int | None = 0, scheduler: Any = None,
                                engine: str | None = None) -> ReclassificationResult:
    """NRI and IDI at a survival horizon ``t`` with censoring handled by IPCW weights.

    ``p_old`` and ``p_new`` are predicted risks of an event by ``horizon``. Subjects with an event
    by ``t`` are the events (weight ``1/G(T_i-)``), subjects event-free at ``t`` the non-events
    (weight ``1/G(t)``), subjects censored before ``t`` carry weight 0 (their outcome is unknown);
    ``G`` is the Kaplan-Meier estimate of the censoring distribution (Uno et al. 2013's
    survIDINRI idea). The weighted proportion of events equals ``1 - KM(t)``. Every quantity of
    :func:`reclassification` is then computed with these weights: the up/down proportions of the
    continuous and categorical NRI, the mean risk changes of the IDI, the reclassification tables
    (weighted counts: estimated numbers of events and non-events).

    Without censoring before ``t`` all weights are equal and the estimates are those of
    :func:`reclassification` with ``y = 1{T <= t}``.

    Uncertainty: ``n_boot`` bootstrap resamples of subjects (seeded, chunked with
    :mod:`her2stats.resampling`, so identical on 1 or N workers), re-estimating G each time;
    ``se`` is the bootstrap SD, the CI the percentile interval at ``level``, the p-value two-sided
    from ``estimate / se``. Resamples without events or without non-events are counted in
    ``n_failed`` and left out.
    """
    check_scheduler(scheduler)  # refused alike on both engines, even where R resamples
    from ..resampling import bootstrap_indices, run_replicates

    level = _core.check_level(level)
    cut = _cutoffs(cutoffs, "reclassification_at_horizon")
    n_boot = _core.check_n_boot(n_boot, minimum=10, why="a bootstrap standard error (reclassification_at_horizon)")
    try:
        h = float(horizon)
    except (TypeError, ValueError):
        raise InputError(f"reclassification_at_horizon: horizon must be a time, got {horizon!r}") from None
    (ts, es, po, pn), n_drop = _complete("reclassification_at_horizon", [
        ("time", _vector(time, "time")), ("event", _vector(event, "event")), ("p_old", _vector(p_old, "p_old")),
        ("p_new", _vector(p_new, "p_new"))])
    t = _survdata.durations(ts, "time", "reclassification_at_horizon")
    e = _survdata.binary_events(es, "event", "reclassification_at_horizon")
    a, b = _risk(po, "p_old", "reclassification_at_horizon"), _risk(pn, "p_new", "reclassification_at_horizon")
    if not np.isfinite(h) or h <= 0:
        raise InputError(f"reclassification_at_horizon: horizon must be a positive time, got {horizon!r}")
    y, w = _ipcw(t, e, h)
    if not (y == 1).any():
        raise InputError(f"reclassification_at_horizon: no events by the horizon {h:g} (first event at "
                         f"{t[e == 1].min() if e.any() else float('nan'):g})")
    if not (y == 0).any():
        raise InputError(f"reclassification_at_horizon: nobody is followed event-free beyond the horizon {h:g} "
                         f"(largest follow-up {t.max():g}); choose an earlier horizon")
    n = len(t)
    eng = resolve_engine(engine)

    def draw(rng: np.random.Generator, k: int) -> np.ndarray:
        return np.stack([bootstrap_indices(rng, n) for _ in range(k)])

    if eng == "r":
        from .. import r_bridge

        r_bridge.require("survival")
        idx = run_replicates(draw, int(n_boot), seed=seed, scheduler=scheduler)
        out = r_bridge.call("h2s_reclass_horizon", time=t, event=e.astype(int), p_old=a, p_new=b, horizon=h,
                            cutoffs=list(cut) if cut is not None else None, index=(idx + 1).astype(float))
        est = np.asarray(out["estimate"], dtype=float)
        boots = np.asarray(out["boot"], dtype=float).reshape(int(n_boot), -1, order="F")
        k = len(cut) + 1 if cut is not None else 0
        tabs = None
        if cut is not None:
            labels = _cat_labels(cut)
            tabs = tuple(pd.DataFrame(np.asarray(out[key], float).reshape(k, k, order="F"),
                                      index=pd.Index(labels, name="old"), columns=pd.Index(labels, name="new"))
                         for key in ("table_events", "table_nonevents"))
    else:
        est = _stats(y, w, a, b, cut)

        def one(rng: np.random.Generator, k: int) -> np.ndarray:
            res = np.empty((k, 19))
            for r in range(k):
                ii = bootstrap_indices(rng, n)
                yy, ww = _ipcw(t[ii], e[ii], h)
                res[r] = _stats(yy, ww, a[ii], b[ii], cut)
            return res

        boots = run_replicates(one, int(n_boot), seed=seed, scheduler=scheduler)
        tabs = _tables(y, w, a, b, cut) if cut is not None else None
    ok = ~np.isnan(boots[:, 0])
    n_failed = int((~ok).sum())
    if ok.sum() < 10:
        raise InputError(f"reclassification_at_horizon: only {int(ok.sum())} of {n_boot} bootstrap resamples had both "
                         "events and non-events by the horizon")
    if n_failed:
        warnings.warn(f"reclassification_at_horizon: {n_failed} of {n_boot} bootstrap resamples had no events or no "
                      "non-events by the horizon and were left out", UserWarning, stacklevel=find_stack_level())
    bt = boots[ok][:, :7]
    cols = ~np.isnan(bt).all(axis=0)          # the categorical NRI is NaN without cut-offs
    se, lo, hi = np.full(7, np.nan), np.full(7, np.nan), np.full(7, np.nan)
    alpha = 1 - level
    se[cols] = bt[:, cols].std(axis=0, ddof=1)
    lo[cols] = np.quantile(bt[:, cols], alpha / 2, axis=0)
    hi[cols] = np.quantile(bt[:, cols], 1 - alpha / 2, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 2 * sps.norm.sf(np.abs(est[:7] / se))
    ci = (np.concatenate([lo, np.full(12, np.nan)]), np.concatenate([hi, np.full(12, np.nan)]))
    cont, cat, idi = _build(est, se, ci, p, level, cut, tabs, f"IPCW at t = {h:g}, bootstrap (n_boot = {n_boot})")
    return ReclassificationResult(
        nri_continuous=cont, nri=cat, idi=idi, n=n, n_events=int((y == 1).sum()), n_nonevents=int((y == 0).sum()),
        n_excluded=n_drop, level=level, engine=eng, method=f"IPCW at horizon {h:g}", horizon=h,
        n_censored_before=int((y == -1).sum()), n_boot=int(n_boot), seed=seed, n_failed=n_failed,
        _points=pd.DataFrame({"y": y, "p_old": a, "p_new": b})[y >= 0])
