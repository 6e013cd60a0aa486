"""Competing risks: Aalen-Johansen cumulative incidence with CIs, Gray's test, Fine-Gray regression.

Both engines compute the same estimators: ``engine="r"`` calls ``cmprsk`` (``cuminc``, ``crr``)
through :mod:`her2stats.r_bridge`; ``engine="python"`` is written here with numpy. The tests hold
them to 1e-9 (cumulative incidence and its variance), 1e-6 (Gray's statistic, ``crr``
coefficients and standard errors) on ``survival::mgus2``.

Event coding: one column holds the failure type. Rows whose value equals ``censored`` (default
0) are censored; every other value is a cause, in sorted order (category order for a categorical
column). Nothing is guessed for regression: :func:`fine_gray` needs the ``cause`` of interest.

References
----------
Aalen OO, Johansen S (1978) Scand J Stat 5:141-150. Gray RJ (1988) Ann Stat 16:1141-1154.
Fine JP, Gray RJ (1999) JASA 94:496-509. Pintilie M (2006) *Competing Risks: A Practical
Perspective*, Wiley (log(-log) CIs). Gray RJ, ``cmprsk`` 2.2 (Fortran ``cinc``, ``crstm``, ``crr``).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from ..engine import resolve_engine
from ..errors import ConvergenceError, InputError, find_stack_level
from ..results import Result
from . import _core, _survdata, _tte
from ._core import z_value

__all__ = [
    "cumulative_incidence", "CumulativeIncidenceResult", "gray_test", "GrayTestResult", "fine_gray",
    "FineGrayResult",
]


# =========================================================================== event coding
def _cr_events(values: pd.Series, name: str, censored: Any, function: str) -> tuple[np.ndarray, list[Any]]:
    """Codes 0 (censored) and 1..m (causes, in order) of a failure-type column; the causes."""
    s = pd.Series(values)
    if isinstance(s.dtype, pd.CategoricalDtype):
        levels = [c for c in s.cat.categories if (s == c).any()]
    else:
        levels = sorted(pd.unique(s).tolist(), key=lambda v: (str(type(v)), v))

    def same(a: Any, b: Any) -> bool:
        try:
            return bool(a == b) or (isinstance(a, (int, float, np.number)) and isinstance(b, (int, float, np.number))
                                    and float(a) == float(b))
        except (TypeError, ValueError):
            return False

    cens_levels = [v for v in levels if same(v, censored)]
    causes = [v for v in levels if not same(v, censored)]
    if not cens_levels:
        warnings.warn(f"{function}: no row of event column '{name}' has the censoring value {censored!r}, so every row "
                      f"is an observed failure (values found: {[str(v) for v in levels][:10]}); pass censored=... if "
                      "censoring is coded differently", UserWarning, stacklevel=find_stack_level())
    if not causes:
        raise InputError(f"{function}: event column '{name}' has no failures: every row has the censoring value "
                         f"{censored!r}")
    lookup = {v: i + 1 for i, v in enumerate(causes)}
    codes = np.array([0 if same(v, censored) else lookup[v] for v in s], dtype=int)
    return codes, causes


def _prepare(df: pd.DataFrame, duration: str, event: str, extra: Sequence[str | None], censored: Any,
             function: str) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, list[Any], int]:
    cols = [duration, event, *[c for c in extra if c is not None]]
    sub, n_drop = _survdata.complete_cases(df, cols, function)
    t = _survdata.durations(sub[duration], duration, function, sub.index)
    codes, causes = _cr_events(sub[event], event, censored, function)
    return sub, t, codes, causes, n_drop


# =========================================================================== cumulative incidence
def _cinc(t: np.ndarray, status: np.ndarray, cause: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Aalen-Johansen CIF of ``cause`` and Gray's (cmprsk ``cinc``) variance at its jump times.

    With ``n_j`` at risk, ``d1_j`` failures of the cause, ``d2_j`` of other causes at time ``t_j``,
    ``S(t_j-)`` the all-cause Kaplan-Meier before ``t_j``: ``F(t) = sum_{t_j <= t} S(t_j-) d1_j / n_j``.
    The variance is the delta-method (Aalen-type) estimator of Gray's ``cinc``:
    ``V(t) = v1 + F(t)^2 v3 - 2 F(t) v2`` where, over event times ``t_j <= t``,
    ``v_k += b^2 w, a b w, a^2 w`` with ``w = S(t_j-)^2 c d / n_j^2``, ``c = 1 - (d - 1)/(n_j - 1)``
    (ties), ``a = 1/S(t_j)``; ``b = F(t_j)/S(t_j)`` for the ``d = d2_j`` other-cause failures and
    ``b = 1 + a F(t_j)`` for the ``d = d1_j`` failures of the cause. It is evaluated at the jumps of
    ``F`` (and carried between them), as cmprsk does.
    """
    times, inv = np.unique(t, return_inverse=True)
    d_all = np.bincount(inv, weights=(status > 0).astype(float), minlength=len(times))
    d1 = np.bincount(inv, weights=(status == cause).astype(float), minlength=len(times))
    d2 = d_all - d1
    n_tot = np.bincount(inv, minlength=len(times)).astype(float)
    rs = len(t) - np.concatenate([[0.0], np.cumsum(n_tot)[:-1]])
    s_after = np.cumprod(1 - d_all / rs)
    s_before = np.concatenate([[1.0], s_after[:-1]])
    F = np.cumsum(s_before * d1 / rs)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(s_after > 0, 1 / s_after, 0.0)
        # other-cause failures (only while S(t_j) > 0)
        c2 = np.where(d2 > 1, 1 - (d2 - 1) / (rs - 1), 1.0)
        w2 = np.where((d2 > 0) & (s_after > 0), s_before ** 2 * c2 * d2 / rs ** 2, 0.0)
        b2 = F * a
        c1 = np.where(d1 > 1, 1 - (d1 - 1) / (rs - 1), 1.0)
        w1 = np.where(d1 > 0, s_before ** 2 * c1 * d1 / rs ** 2, 0.0)
        b1 = 1 + a * F
    v1 = np.cumsum(b2 ** 2 * w2 + b1 ** 2 * w1)
    v2 = np.cumsum(a * b2 * w2 + a * b1 * w1)
    v3 = np.cumsum(a ** 2 * w2 + a ** 2 * w1)
    jump = d1 > 0
    var = v1 + F ** 2 * v3 - 2 * F * v2
    return times[jump], F[jump], var[jump]


def _loglog_ci(est: np.ndarray, var: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise CI on the log(-log) scale (Pintilie 2006): ``F^exp(+-z se / (F log F))``."""
    z = z_value(level)
    se = np.sqrt(np.maximum(var, 0.0))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        k = z * se / (est * np.log(est))
        lo = est ** np.exp(-k)
        hi = est ** np.exp(k)
    flat = (est <= 0) | (est >= 1) | (se == 0)
    lo = np.where(flat, est, lo)
    hi = np.where(flat, est, hi)
    return lo, hi


def _gray_stratum(t: np.ndarray, m: np.ndarray, g: np.ndarray, ng: int, rho: float) -> tuple[np.ndarray, np.ndarray]:
    """Score ``s`` (first ng-1 groups) and its variance for one stratum (Gray 1988; cmprsk ``crst``).

    ``m``: 0 censored, 1 cause of interest, 2 other cause; ``g``: groups 0..ng-1.
    """
    order = np.argsort(t, kind="mergesort")
    t, m, g = t[order], m[order], g[order]
    times, start = np.unique(t, return_index=True)
    stop = np.append(start[1:], len(t))
    ng1 = ng - 1
    rs = np.bincount(g, minlength=ng).astype(float)
    f1m = np.zeros(ng)
    f1 = np.zeros(ng)
    skmm = np.ones(ng)
    skm = np.ones(ng)
    v3 = np.zeros(ng)
    v2 = np.zeros((ng1, ng))
    c = np.zeros((ng, ng))
    s = np.zeros(ng1)
    v = np.zeros((ng1, ng1))
    fm = 0.0
    f = 0.0
    for lo, hi in zip(start, stop):
        gg, mm = g[lo:hi], m[lo:hi]
        d1 = np.bincount(gg[mm == 1], minlength=ng).astype(float)
        d2 = np.bincount(gg[mm == 2], minlength=ng).astype(float)
        nd1, nd2 = d1.sum(), d2.sum()
        if nd1 > 0 or nd2 > 0:
            at = rs > 0
            skmm_ = np.where(at, skmm, 1.0)   # groups with nobody at risk take no part
            skm = np.where(at, skmm * (rs - d1 - d2) / np.where(at, rs, 1.0), skm)
            f1 = np.where(at, f1m + skmm * d1 / np.where(at, rs, 1.0), f1)
            u = np.where(at, rs / skmm_, 0.0)
            tr = u.sum()
            tq = np.where(at, rs * (1 - f1m) / skmm_, 0.0).sum()
            f = fm + nd1 / tr
            fb = (1 - fm) ** rho
            a = fb * (np.diag(u) - np.outer(u, u) / tr)
            c += a * nd1 / (tr * (1 - fm))
            s += np.where(at[:ng1], fb * (d1[:ng1] - nd1 * rs[:ng1] * (1 - f1m[:ng1]) / (skmm_[:ng1] * tq)), 0.0)
            if nd1 > 0:
                for k in np.flatnonzero(at):
                    t4 = 1 - (1 - f) / skm[k] if skm[k] > 0 else 1.0
                    t5 = 1 - (nd1 - 1) / (tr * skmm[k] - 1) if nd1 > 1 else 1.0
                    t3 = t5 * skmm[k] * nd1 / (tr * rs[k])
                    v3[k] += t4 * t4 * t3
                    t1 = a[:ng1, k] - t4 * c[:ng1, k]
                    v2[:, k] += t1 * t4 * t3
                    v += t3 * np.outer(t1, t1)
            if nd2 > 0:
                for k in np.flatnonzero((skm > 0) & (d2 > 0)):
                    t4 = (1 - f) / skm[k]
                    t5 = 1 - (d2[k] - 1) / (rs[k] - 1) if d2[k] > 1 else 1.0
                    t3 = t5 * skmm[k] ** 2 * d2[k] / rs[k] ** 2
                    v3[k] += t4 * t4 * t3
                    t1 = t4 * c[:ng1, k]
                    v2[:, k] -= t1 * t4 * t3
                    v += t3 * np.outer(t1, t1)
        rs -= np.bincount(gg, minlength=ng)
        fm = f
        f1m = f1.copy()
        skmm = skm.copy()
    cc = c[:ng1, :]
    v += (cc * v3) @ cc.T + cc @ v2.T + v2 @ cc.T
    return s, v


def _gray_numpy(t: np.ndarray, status: np.ndarray, cause: int, g: np.ndarray, ng: int, strata: np.ndarray,
                rho: float) -> float:
    m = np.where(status == 0, 0, np.where(status == cause, 1, 2))
    s = np.zeros(ng - 1)
    v = np.zeros((ng - 1, ng - 1))
    for st in np.unique(strata):
        sel = strata == st
        s_k, v_k = _gray_stratum(t[sel], m[sel], g[sel], ng, rho)
        s += s_k
        v += v_k
    if np.linalg.matrix_rank(v) < ng - 1:
        return float("nan")
    return float(s @ np.linalg.solve(v, s))


@dataclass(frozen=True, repr=False)
class GrayTestResult(Result):
    """Gray's k-sample test of equal cumulative incidence, one row per cause (``cmprsk::cuminc``)."""

    table: pd.DataFrame      # cause, statistic, df, p_value
    group: str
    rho: float
    n: int
    n_excluded: int
    engine: str
    strata: str | None = None
    method: str = "Gray's test"

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()


@dataclass(frozen=True, repr=False)
class CumulativeIncidenceResult(Result):
    """Aalen-Johansen cumulative incidence per group and cause, with variance and log(-log) CIs.

    ``table`` has one row at time 0 and one per jump of each curve (``cmprsk::cuminc``'s corners),
    columns group, cause, time, estimate, variance, std_err, ci_low, ci_high. ``max_time`` gives the
    largest follow-up time per group (the curves are defined up to it; ``at`` returns NaN beyond).
    """

    table: pd.DataFrame
    causes: tuple[Any, ...]
    groups: tuple[Any, ...]
    max_time: pd.Series
    risk_set: pd.DataFrame       # group, time, n_risk at each distinct follow-up time
    level: float
    censored: Any
    duration: str
    event: str
    group: str | None
    n: int
    n_excluded: int
    engine: str
    gray: GrayTestResult | None = None
    method: str = "Aalen-Johansen (cmprsk variance, log(-log) CI)"

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def at(self, times: Sequence[float]) -> pd.DataFrame:
        """Estimates and variances at given times (``cmprsk::timepoints``): the step function's
        value at ``t``; NaN beyond the group's largest follow-up time."""
        ts = np.atleast_1d(np.asarray(times, dtype=float))
        rows = []
        for (g, c), tab in self.table.groupby(["group", "cause"], sort=False, dropna=False):
            tt = tab["time"].to_numpy()
            tmax = float(self.max_time.loc[g]) if g in self.max_time.index else float(self.max_time.iloc[0])
            for x in ts:
                j = int(np.searchsorted(tt, x, side="right")) - 1
                if x > tmax or j < 0:
                    vals = dict.fromkeys(("estimate", "variance", "std_err", "ci_low", "ci_high"), np.nan)
                    if j < 0 and x <= tmax:
                        vals = {"estimate": 0.0, "variance": 0.0, "std_err": 0.0, "ci_low": 0.0, "ci_high": 0.0}
                else:
                    r = tab.iloc[j]
                    vals = {k: float(r[k]) for k in ("estimate", "variance", "std_err", "ci_low", "ci_high")}
                rows.append({"group": g, "cause": c, "time": x, **vals})
        return pd.DataFrame(rows)

    def plot(self, ax: Any = None, causes: Sequence[Any] | None = None, ci: bool = True, risk_table: bool = True,
             risk_times: Sequence[float] | None = None, xlabel: str = "Time",
             ylabel: str = "Cumulative incidence") -> Any:
        """Step curves (one colour per group, one line style per cause) with CI bands, Gray's p in
        the panel, and a number-at-risk table under the axis. Returns the Axes."""
        import matplotlib.pyplot as plt

        causes = list(self.causes) if causes is None else list(causes)
        bad = [c for c in causes if c not in self.causes]
        if bad:
            raise InputError(f"plot: cause(s) {bad} not among {list(self.causes)}")
        if ax is None:
            _, ax = plt.subplots(figsize=(6.5, 4.8 if risk_table else 4))
        colors = plt.rcParams["axes.prop_cycle"].by_key().get("color", ["C0", "C1", "C2"])
        styles = ["-", "--", ":", "-."]
        tmax_all = float(self.max_time.max())
        for gi, g in enumerate(self.groups):
            for ci_, c in enumerate(causes):
                tab = self.table[(self.table["group"] == g) & (self.table["cause"] == c)] if g is not None else \
                    self.table[self.table["cause"] == c]
                tmax = float(self.max_time.loc[g]) if g in self.max_time.index else tmax_all
                x = np.append(tab["time"].to_numpy(), tmax)
                y = np.append(tab["estimate"].to_numpy(), tab["estimate"].iloc[-1])
                label = (f"{self.group}={g}, " if self.group is not None else "") + f"{self.event}={c}"
                ax.step(x, y, where="post", color=colors[gi % len(colors)], linestyle=styles[ci_ % len(styles)],
                        label=label)
                if ci:
                    lo = np.append(tab["ci_low"].to_numpy(), tab["ci_low"].iloc[-1])
                    hi = np.append(tab["ci_high"].to_numpy(), tab["ci_high"].iloc[-1])
                    ax.fill_between(x, lo, hi, step="post", color=colors[gi % len(colors)], alpha=0.12, linewidth=0)
        ax.set_ylim(0, 1.02)
        ax.set_xlim(0, tmax_all * 1.02)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.legend(loc="upper left", frameon=False, fontsize=8)
        if self.gray is not None:
            txt = []
            for _, r in self.gray.table.iterrows():
                if r["cause"] in causes:
                    p = r["p_value"]
                    txt.append(f"{self.event}={r['cause']}: Gray " + ("p < 0.001" if p < 0.001 else f"p = {p:.3f}"))
            ax.text(0.97, 0.05, "\n".join(txt), transform=ax.transAxes, ha="right", fontsize=8)
        if risk_table:
            ticks = np.asarray(risk_times, float) if risk_times is not None else ax.get_xticks()
            ticks = ticks[(ticks >= 0) & (ticks <= tmax_all * 1.02)]
            ax.set_xticks(ticks)
            for row, g in enumerate(self.groups):
                rs = self.risk_set[self.risk_set["group"] == g] if g is not None else self.risk_set
                tt, nr = rs["time"].to_numpy(), rs["n_risk"].to_numpy()
                counts = [int(nr[k]) if (k := int(np.searchsorted(tt, x, side="left"))) < len(tt) else 0 for x in ticks]
                y = -0.22 - 0.07 * row
                ax.text(-0.02, y, str(g) if g is not None else "all", transform=ax.transAxes, ha="right", va="center",
                        fontsize=8)
                for x, cnt in zip(ticks, counts):
                    ax.text(x, y, str(cnt), transform=ax.get_xaxis_transform(), ha="center", va="center", fontsize=8)
            ax.text(-0.02, -0.15, "At risk", transform=ax.transAxes, ha="right", va="center", fontsize=8,
                    fontweight="bold")
            ax.figure.subplots_adjust(bottom=0.18 + 0.07 * len(self.groups))
        return ax


def _risk_set(t: np.ndarray, codes: np.ndarray, levels: list[Any]) -> pd.DataFrame:
    parts = []
    for gi, lev in enumerate(levels):
        tt = t[codes == gi]
        times, counts = np.unique(tt, return_counts=True)
        n_risk = len(tt) - np.concatenate([[0], np.cumsum(counts)[:-1]])
        parts.append(pd.DataFrame({"group": [lev] * len(times), "time": times, "n_risk": n_risk}))
    return pd.concat(parts, ignore_index=True)


def _gray_table(stats: Sequence[float], causes: Sequence[Any], ng: int) -> pd.DataFrame:
    stat = np.asarray(stats, dtype=float)
    stat = np.where(stat < 0, np.nan, stat)  # cmprsk codes a singular variance as -1
    return pd.DataFrame({"cause": list(causes), "statistic": stat, "df": ng - 1,
                         "p_value": sps.chi2.sf(stat, ng - 1)})


def cumulative_incidence(df: pd.DataFrame, duration: str, event: str, group: str | None = None,
                         strata: str | None = None, censored: Any = 0, level: float = 0.95, rho: float = 0.0,
                         engine: str | None = None) -> CumulativeIncidenceResult:
    """Cumulative incidence of every cause (Aalen-Johansen), per group, with Gray's test
    (``cmprsk::cuminc`` parity).

    ``F_k(t) = sum_{t_j <= t} S(t_j-) d_kj / n_j`` with ``S`` the all-cause Kaplan-Meier estimate.
    The variance is cmprsk's (Gray's delta-method/Aalen estimator, see :func:`_cinc`), evaluated
    at the jumps of ``F_k``. cmprsk itself gives no interval: the ``level`` CI here is the log(-log)
    transform recommended by Pintilie (2006) and used by tidycmprsk,
    ``F^exp(+-z se / (F log F))``, which stays inside (0, 1).

    With ``group``, Gray's test of equal cumulative incidence across groups is run for every
    cause (``rho`` is the power of the weight ``(1 - F(t-))^rho``; ``strata`` gives a stratified
    test); it is in ``.gray``.

    Parameters
    ----------
    df : data with one row per subject.
    duration : follow-up time column (> 0).
    event : failure-type column; ``censored`` marks censored rows, every other value is a cause.
    group : optional grouping column (curves per group and Gray's test).
    strata : optional stratification column for Gray's test.
    level : confidence level of the pointwise CIs.
    engine : "r" (cmprsk) or "python".

    Examples
    --------
    >>> m = pd.read_csv("tests/data/mgus2.csv")
    >>> m = m.assign(etime=np.where(m.pstat == 0, m.futime, m.ptime),
    ...              event=np.where(m.pstat == 0, 2 * m.death, 1))
    >>> ci = cumulative_incidence(m, "etime", "event", group="sex")
    >>> ci.gray.table.round(4)      # R: cuminc(etime, event, sex)$Tests -> 1.1945, 11.6513
    """
    level = _core.check_level(level)
    if group is not None and group == strata:
        raise InputError("cumulative_incidence: group and strata must be different columns")
    if strata is not None and group is None:
        raise InputError("cumulative_incidence: strata only stratify Gray's test, which needs a group")
    sub, t, status, causes, n_drop = _prepare(df, duration, event, [group, strata], censored, "cumulative_incidence")
    if group is not None:
        gcodes, glevels = _survdata.group_codes(sub[group], group, "cumulative_incidence")
    else:
        gcodes, glevels = np.zeros(len(t), dtype=int), [None]
    scodes = _survdata.group_codes(sub[strata], strata, "cumulative_incidence", min_levels=1)[0] if strata else \
        np.zeros(len(t), dtype=int)
    eng = resolve_engine(engine)
    ng = len(glevels)
    rows = []
    if eng == "r":
        from .. import r_bridge

        r_bridge.require("cmprsk")
        out = r_bridge.call("h2s_cuminc", time=t, status=status.astype(int), group=gcodes.astype(int) + 1,
                            strata=scodes.astype(int) + 1, rho=float(rho))
        curves = out["curves"]
        for gi, lev in enumerate(glevels):
            for ci_, cause in enumerate(causes):
                key = f"{gi + 1} {ci_ + 1}"
                cur = curves.get(key) if isinstance(curves, dict) else None
                if cur is None:
                    x, f, v = np.array([]), np.array([]), np.array([])
                else:
                    x, f, v = (np.atleast_1d(np.asarray(cur[k], dtype=float)) for k in ("time", "est", "var"))
                    # cmprsk's corners: (0,0), then (t_j, F_{j-1}), (t_j, F_j) ..., (t_max, F_last)
                    x, f, v = x[2:-1:2], f[2:-1:2], v[2:-1:2]
                rows.append((lev, cause, x, f, v))
        stats = np.atleast_1d(np.asarray(out["stat"], dtype=float)) if ng > 1 else None
    else:
        for gi, lev in enumerate(glevels):
            sel = gcodes == gi
            for ci_, cause in enumerate(causes):
                x, f, v = _cinc(t[sel], status[sel], ci_ + 1)
                rows.append((lev, cause, x, f, v))
        stats = [_gray_numpy(t, status, ci_ + 1, gcodes, ng, scodes, float(rho)) for ci_ in range(len(causes))] \
            if ng > 1 else None
    parts = []
    for lev, cause, x, f, v in rows:
        x = np.concatenate([[0.0], x])
        f = np.concatenate([[0.0], f])
        v = np.concatenate([[0.0], v])
        lo, hi = _loglog_ci(f, v, level)
        parts.append(pd.DataFrame({"group": [lev] * len(x), "cause": [cause] * len(x), "time": x, "estimate": f,
                                   "variance": v, "std_err": np.sqrt(np.maximum(v, 0)), "ci_low": lo, "ci_high": hi}))
    table = pd.concat(parts, ignore_index=True)
    max_time = pd.Series({lev: float(t[gcodes == gi].max()) for gi, lev in enumerate(glevels)})
    gray = None
    if stats is not None:
        gray = GrayTestResult(table=_gray_table(stats, causes, ng), group=group, rho=float(rho), n=len(t),
                              n_excluded=n_drop, engine=eng, strata=strata)
    return CumulativeIncidenceResult(
        table=table, causes=tuple(causes), groups=tuple(glevels), max_time=max_time,
        risk_set=_risk_set(t, gcodes, glevels), level=level, censored=censored, duration=duration, event=event,
        group=group, n=len(t), n_excluded=n_drop, engine=eng, gray=gray)


def gray_test(df: pd.DataFrame, duration: str, event: str, group: str, strata: str | None = None,
              censored: Any = 0, rho: float = 0.0, engine: str | None = None) -> GrayTestResult:
    """Gray's (1988) test of equal cumulative incidence across groups, for every cause
    (``cmprsk::cuminc(...)$Tests``).

    The score compares each group's subdistribution hazard with the pooled one, weighted by
    ``(1 - F(t-))^rho``; its variance is Gray's estimator (cmprsk ``crstm``). The statistic
    ``s' V^-1 s`` is chi-square with ``k - 1`` df; ``strata`` sums score and variance over strata.
    """
    res = cumulative_incidence(df, duration, event, group=group, strata=strata, censored=censored, rho=rho,
                               engine=engine)
    return res.gray


# =========================================================================== Fine-Gray regression
def _censoring_km(t: np.ndarray, status: np.ndarray, cg: np.ndarray, ncg: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Kaplan-Meier of the censoring distribution per censoring group: (times, G)."""
    out = []
    for k in range(ncg):
        sel = cg == k
        out.append(_tte.km_step(t[sel], (status[sel] == 0).astype(float)))
    return out


def _g_left(times: np.ndarray, G: np.ndarray, at: np.ndarray) -> np.ndarray:
    """G(t-) of one censoring group; 0 beyond the group's last follow-up time (where its censoring
    distribution is unknown), as cmprsk::crr's interpolation does."""
    return np.where(at > times[-1], 0.0, _tte.step_left(times, G, at))


class _FGData:
    """Sorted data, censoring weights and the risk-set sums of Fine & Gray's weighted score."""

    def __init__(self, t: np.ndarray, status: np.ndarray, X: np.ndarray, cg: np.ndarray, cause: int):
        order = np.argsort(t, kind="mergesort")
        self.t, self.X, self.cg = t[order], X[order], cg[order]
        st = status[order]
        self.eps = np.where(st == 0, 0, np.where(st == cause, 1, 2))
        self.n, self.p = X.shape
        # one censoring group in fine_gray; several work for the point estimate, but cmprsk's
        # variance with crr(cengroup = ...) differs from psi below, so the option is not offered
        self.ncg = int(cg.max()) + 1 if len(cg) else 1
        self.G = _censoring_km(self.t, self.eps, self.cg, self.ncg)
        self.ftimes, self.d = np.unique(self.t[self.eps == 1], return_counts=True)
        self.d = self.d.astype(float)
        self.first = np.searchsorted(self.t, self.ftimes, side="left")      # risk set: t_j >= s_f
        # G_k(s_f-) for every censoring group k: (ncg, m)
        self.G_f = np.array([_g_left(gt, gv, self.ftimes) for gt, gv in self.G])
        # G_{g_j}(t_j-) for each subject
        self.G_j = np.empty(self.n)
        for k, (gt, gv) in enumerate(self.G):
            sel = self.cg == k
            self.G_j[sel] = _g_left(gt, gv, self.t[sel])
        self.comp = self.eps == 2
        self.sum_x_fail = np.zeros((len(self.ftimes), self.p))
        fidx = np.searchsorted(self.ftimes, self.t[self.eps == 1])
        np.add.at(self.sum_x_fail, fidx, self.X[self.eps == 1])
        self.fidx_of_fail = fidx

    def sums(self, beta: np.ndarray, second: bool = True) -> dict[str, Any]:
        X = self.X
        e = np.exp(X @ beta)
        rc = lambda a: np.cumsum(a[::-1], axis=0)[::-1]  # noqa: E731 - reverse cumulative sums
        pad = lambda a: np.concatenate([a, np.zeros((1,) + a.shape[1:])], axis=0)  # noqa: E731
        S0 = pad(rc(e))[self.first]
        S1 = pad(rc(e[:, None] * X))[self.first]
        XX = X[:, :, None] * X[:, None, :]
        S2 = pad(rc(e[:, None, None] * XX))[self.first] if second else None
        # competing-event subjects still in the risk set after their event: weight G(s-)/G(t_j-)
        C = []
        for k in range(self.ncg):
            sel = self.comp & (self.cg == k)
            with np.errstate(divide="ignore", invalid="ignore"):
                wj = np.where(sel, e / self.G_j, 0.0)
            last = self.first  # subjects with t_j < s_f are those before index first
            c0 = np.concatenate([[0.0], np.cumsum(wj)])[last]
            c1 = np.concatenate([np.zeros((1, self.p)), np.cumsum(wj[:, None] * X, axis=0)])[last]
            gk = self.G_f[k]
            S0 = S0 + gk * c0
            S1 = S1 + gk[:, None] * c1
            if second:
                c2 = np.concatenate([np.zeros((1, self.p, self.p)), np.cumsum(wj[:, None, None] * XX, axis=0)])[last]
                S2 = S2 + gk[:, None, None] * c2
            C.append((c0, c1))
        return {"e": e, "S0": S0, "S1": S1, "S2": S2, "C": C}

    def loglik_score_info(self, beta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, dict[str, Any]]:
        s = self.sums(beta)
        xb_fail = (self.X @ beta)[self.eps == 1].sum()
        with np.errstate(divide="ignore"):
            loglik = float(xb_fail - (self.d * np.log(s["S0"])).sum())
        xbar = s["S1"] / s["S0"][:, None]
        score = self.sum_x_fail.sum(axis=0) - (self.d[:, None] * xbar).sum(axis=0)
        cov = s["S2"] / s["S0"][:, None, None] - xbar[:, :, None] * xbar[:, None, :]
        info = (self.d[:, None, None] * cov).sum(axis=0)
        s["xbar"] = xbar
        return loglik, score, info, s

    def loglik(self, beta: np.ndarray) -> float:
        s = self.sums(beta, second=False)
        with np.errstate(divide="ignore"):
            return float((self.X @ beta)[self.eps == 1].sum() - (self.d * np.log(s["S0"])).sum())

    def robust_middle(self, beta: np.ndarray, s: dict[str, Any]) -> np.ndarray:
        """sum_i (eta_i + psi_i)(eta_i + psi_i)': Fine & Gray's (1999) variance with the censoring
        distribution's estimation accounted for (cmprsk ``crrvv``)."""
        X, e, t = self.X, s["e"], self.t
        S0, xbar = s["S0"], s["xbar"]
        dl = self.d / S0                                  # d Lambda_1(s_f)
        # eta: dN part
        eta = np.zeros((self.n, self.p))
        fail = self.eps == 1
        eta[fail] = X[fail] - xbar[self.fidx_of_fail]
        # -(x_i - xbar_f) w_i(s_f) e_i dLambda(s_f), s_f <= t_i: x_i A(t_i) - B(t_i)
        A = np.cumsum(dl)
        B = np.cumsum(dl[:, None] * xbar, axis=0)
        k_le = np.searchsorted(self.ftimes, t, side="right") - 1
        A_i = np.where(k_le >= 0, A[np.clip(k_le, 0, None)], 0.0)
        B_i = np.where((k_le >= 0)[:, None], B[np.clip(k_le, 0, None)], 0.0)
        eta -= e[:, None] * (X * A_i[:, None] - B_i)
        # competing events: s_f > t_i with weight G(s_f-)/G(t_i-)
        k_gt = np.searchsorted(self.ftimes, t, side="right")   # first failure time > t_i
        for k in range(self.ncg):
            sel = self.comp & (self.cg == k)
            if not sel.any():
                continue
            gk = self.G_f[k]
            Ag = np.concatenate([np.cumsum((dl * gk)[::-1])[::-1], [0.0]])
            Bg = np.concatenate([np.cumsum((dl * gk)[::-1, None] * xbar[::-1], axis=0)[::-1], np.zeros((1, self.p))])
            idx = k_gt[sel]
            eta[sel] -= (e[sel] / self.G_j[sel])[:, None] * (X[sel] * Ag[idx][:, None] - Bg[idx])
        # psi: censoring martingale part, at censoring times u (per censoring group)
        psi = np.zeros((self.n, self.p))
        cens = self.eps == 0
        if cens.any():
            u_times = np.unique(t[cens])
            # q(u) = sum_g [E1_g(u) R_g(u) - E0_g(u) Q_g(u)], s_f >= u, competing t_j < u
            f_ge = np.searchsorted(self.ftimes, u_times, side="left")
            q = np.zeros((len(u_times), self.p))
            j_lt = np.searchsorted(t, u_times, side="left")
            for k in range(self.ncg):
                gk = self.G_f[k]
                R = np.concatenate([np.cumsum((dl * gk)[::-1])[::-1], [0.0]])[f_ge]
                Q = np.concatenate([np.cumsum((dl * gk)[::-1, None] * xbar[::-1], axis=0)[::-1],
                                    np.zeros((1, self.p))])[f_ge]
                c0, c1 = s["C"][k]
                sel = self.comp & (self.cg == k)
                with np.errstate(divide="ignore", invalid="ignore"):
                    wj = np.where(sel, e / self.G_j, 0.0)
                E0 = np.concatenate([[0.0], np.cumsum(wj)])[j_lt]
                E1 = np.concatenate([np.zeros((1, self.p)), np.cumsum(wj[:, None] * X, axis=0)])[j_lt]
                q += E1 * R[:, None] - E0[:, None] * Q
            for k in range(self.ncg):
                ing = self.cg == k
                tg = t[ing]
                # at-risk count pi_g(u) and censorings c_g(u) at each censoring time u
                pi = len(tg) - np.searchsorted(np.sort(tg), u_times, side="left")
                cg_u = np.array([np.sum((t == u) & cens & ing) for u in u_times], dtype=float)
                with np.errstate(divide="ignore", invalid="ignore"):
                    jump = np.where((cg_u > 0)[:, None], -q * (cg_u / pi ** 2)[:, None], 0.0)
                cum = np.cumsum(jump, axis=0)
                # psi_i = sum_{u <= t_i} jump(u) + I(censored) q(t_i) / pi(t_i)
                ku = np.searchsorted(u_times, tg, side="right") - 1
                part = np.where((ku >= 0)[:, None], cum[np.clip(ku, 0, None)], 0.0)
                ci_ = cens[ing]
                uk = np.searchsorted(u_times, tg[ci_])
                add = np.zeros_like(part)
                add[ci_] = q[uk] / pi[uk][:, None]
                psi[ing] = part + add
        r = eta + psi
        return r.T @ r


def _fit_fg_numpy(t: np.ndarray, status: np.ndarray, X: np.ndarray, cg: np.ndarray, cause: int,
                  max_iter: int = 50, tol: float = 1e-10) -> dict[str, Any]:
    data = _FGData(t, status, X, cg, cause)
    p = X.shape[1]
    beta = np.zeros(p)
    loglik0 = data.loglik(beta)
    loglik, score, info, s = data.loglik_score_info(beta)
    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        try:
            step = np.linalg.solve(info, score)
        except np.linalg.LinAlgError:
            raise ConvergenceError("fine_gray: the information matrix is singular (collinear covariates, or a covariate "
                                   "constant among the subjects at risk)") from None
        halvings = 0
        while True:
            new = beta + step
            ll_new = data.loglik(new)
            if np.isfinite(ll_new) and ll_new >= loglik - 1e-12 * max(1.0, abs(loglik)):
                break
            step = step / 2
            halvings += 1
            if halvings > 30:
                raise ConvergenceError("fine_gray: the partial likelihood could not be increased (step halving failed)")
        beta = new
        loglik, score, info, s = data.loglik_score_info(beta)
        if np.max(np.abs(step)) < tol * max(1.0, np.max(np.abs(beta))):
            converged = True
            break
    if not converged:
        raise ConvergenceError(f"fine_gray: Newton-Raphson did not converge in {max_iter} iterations; the largest step "
                               f"was {np.max(np.abs(step)):.3g} (a subdistribution hazard ratio may be 0 or infinite: "
                               "check for a covariate level without failures of the cause)")
    info_inv = np.linalg.inv(info)
    middle = data.robust_middle(beta, s)
    var = info_inv @ middle @ info_inv
    base = np.cumsum(data.d / s["S0"])
    return {"coef": beta, "var": var, "loglik": loglik, "loglik_null": loglik0, "converged": converged,
            "n_iter": n_iter, "info": info, "base_time": data.ftimes, "base_cumhaz": base}


@dataclass(frozen=True, repr=False)
class FineGrayResult(Result):
    """Fine-Gray proportional subdistribution hazards model (``cmprsk::crr``)."""

    summary: pd.DataFrame       # term, coef, shr, se, z, p_value, ci_low, ci_high
    coef: np.ndarray
    vcov: np.ndarray
    columns: tuple[str, ...]
    covariates: tuple[str, ...]
    cause: Any
    censored: Any
    loglik: float
    loglik_null: float
    n: int
    n_events: int
    n_competing: int
    n_censored: int
    n_excluded: int
    converged: bool
    level: float
    engine: str
    baseline: pd.DataFrame      # time, cumhaz (Breslow-type baseline cumulative subdistribution hazard)
    terms: tuple[Any, ...] = ()
    method: str = "Fine-Gray (cmprsk::crr, censoring-adjusted robust variance)"

    @property
    def lr_statistic(self) -> float:
        """Pseudo likelihood-ratio statistic ``2 (l(beta) - l(0))`` (summary.crr's ``logtest``)."""
        return 2 * (self.loglik - self.loglik_null)

    def to_frame(self) -> pd.DataFrame:
        return self.summary.copy()

    def predict_cif(self, df: pd.DataFrame, times: Sequence[float]) -> np.ndarray:
        """Predicted cumulative incidence ``1 - exp(-Lambda_1(t) exp(x'beta))`` (``predict.crr``),
        an (n rows x len(times)) array; the baseline is a step function of the failure times."""
        from .models import design_matrix

        X = design_matrix(df, self.terms)
        if np.isnan(X).any():
            raise InputError("predict_cif: missing values in the covariates of the new data")
        lp = X @ self.coef
        bt, bh = self.baseline["time"].to_numpy(), self.baseline["cumhaz"].to_numpy()
        H = _tte.step_right(bt, bh, np.asarray(times, dtype=float), start=0.0)
        return 1 - np.exp(-np.exp(lp)[:, None] * H[None, :])

    def plot(self, ax: Any = None) -> Any:
        """Forest plot of the subdistribution hazard ratios with their CIs (log axis)."""
        import matplotlib.pyplot as plt

        s = self.summary
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 0.5 + 0.4 * len(s)))
        y = np.arange(len(s))[::-1]
        ax.errorbar(s["shr"], y, xerr=[s["shr"] - s["ci_low"], s["ci_high"] - s["shr"]], fmt="s", color="k",
                    capsize=3)
        ax.axvline(1.0, color="grey", linestyle="--", linewidth=0.8)
        ax.set_xscale("log")
        ax.set_yticks(y)
        ax.set_yticklabels(s["term"])
        ax.set_xlabel(f"Subdistribution hazard ratio ({self.level:.0%} CI)")
        return ax


def fine_gray(df: pd.DataFrame, duration: str, event: str, covariates: Sequence[str], cause: Any,
              censored: Any = 0, level: float = 0.95, engine: str | None = None) -> FineGrayResult:
    """Fine-Gray regression of the subdistribution hazard of ``cause`` (``cmprsk::crr`` parity).

    The subjects who failed from a competing cause stay in the risk set after their failure with
    weight ``G(s-)/G(t_j-)``, ``G`` the Kaplan-Meier estimate of the censoring distribution. The
    weighted partial likelihood (Breslow ties)
    ``sum_f [x_f' b - d_f log sum_j w_j(s_f) exp(x_j' b)]`` is maximised by Newton-Raphson; the
    variance is Fine & Gray's sandwich ``I^-1 (sum_i (eta_i + psi_i)(eta_i + psi_i)') I^-1``, where
    ``psi_i`` accounts for the estimation of ``G``. ``exp(coef)`` is the subdistribution hazard
    ratio (sHR), with a Wald CI at ``level`` and a two-sided Wald p-value, as ``summary.crr``.

    Covariates may be numeric or categorical (treatment coding, first level = reference).
    The same estimate comes from ``survival::finegray`` + a weighted ``coxph`` with Breslow ties
    (tested); only the variance differs (``coxph``'s robust variance ignores the estimation of G).

    Examples
    --------
    >>> fg = fine_gray(m, "etime", "event", ["age", "sex"], cause=1)
    >>> fg.summary[["term", "coef", "se"]]   # R: crr(etime, event, cbind(age, sex == "M"), failcode = 1)
    """
    from .models import build_terms, design_matrix

    level = _core.check_level(level)
    if isinstance(covariates, str):
        covariates = [covariates]
    covariates = list(covariates)
    if not covariates:
        raise InputError("fine_gray: covariates must name at least one column")
    for c in covariates:
        if c in (duration, event):
            raise InputError(f"fine_gray: '{c}' is the duration or event column and cannot be a covariate")
    if len(set(covariates)) != len(covariates):
        raise InputError(f"fine_gray: covariates listed twice: {sorted({c for c in covariates if covariates.count(c) > 1})}")
    sub, t, status, causes, n_drop = _prepare(df, duration, event, covariates, censored, "fine_gray")
    matches = [i for i, c in enumerate(causes) if c == cause or (isinstance(c, (int, float, np.number))
                                                                  and isinstance(cause, (int, float, np.number))
                                                                  and float(c) == float(cause))]
    if not matches:
        raise InputError(f"fine_gray: cause {cause!r} is not a value of event column '{event}' (causes found: "
                         f"{[str(c) for c in causes]}; censored = {censored!r})")
    code = matches[0] + 1
    n_events = int((status == code).sum())
    if n_events == 0:  # pragma: no cover - a cause present is a cause with failures
        raise InputError(f"fine_gray: no failures of cause {cause!r}")
    terms = build_terms(sub, covariates, None)
    X = design_matrix(sub, terms)
    names = [c for tm in terms for c in tm.columns]
    if np.linalg.matrix_rank(X - X.mean(axis=0)) < X.shape[1]:
        raise InputError(f"fine_gray: the design columns {names} are collinear (one is a combination of the others)")
    for tm in terms:
        if tm.kind == "categorical":
            vals = sub[tm.name].astype(str).to_numpy() if not pd.api.types.is_bool_dtype(sub[tm.name].dtype) else \
                np.where(sub[tm.name].to_numpy(), "TRUE", "FALSE")
            for lev in tm.levels:
                if not ((vals == str(lev)) & (status == code)).any():
                    raise InputError(f"fine_gray: covariate '{tm.name}' level {lev!r} has no failures of cause "
                                     f"{cause!r}: its subdistribution hazard ratio is 0 or infinite. Merge the level "
                                     "with a neighbour or drop the covariate.")
    cg = np.zeros(len(t), dtype=int)  # one censoring distribution (crr's cengroup is not offered)
    eng = resolve_engine(engine)
    if eng == "r":
        from .. import r_bridge

        r_bridge.require("cmprsk")
        out = r_bridge.call("h2s_crr", time=t, status=status.astype(int), X=np.asarray(X, dtype=float),
                            cengroup=cg.astype(int) + 1, failcode=int(code))
        coef = np.atleast_1d(np.asarray(out["coef"], dtype=float))
        var = np.asarray(out["var"], dtype=float).reshape(len(coef), len(coef))
        loglik, loglik0 = float(out["loglik"]), float(out["loglik_null"])
        converged = bool(out["converged"])
        if not converged:
            raise ConvergenceError("fine_gray: cmprsk::crr did not converge (a subdistribution hazard ratio may be 0 "
                                   "or infinite)")
        base = pd.DataFrame({"time": np.atleast_1d(np.asarray(out["uftime"], dtype=float)),
                             "cumhaz": np.cumsum(np.atleast_1d(np.asarray(out["bfitj"], dtype=float)))})
    else:
        fit = _fit_fg_numpy(t, status, np.asarray(X, dtype=float), cg, code)
        coef, var, loglik, loglik0 = fit["coef"], fit["var"], fit["loglik"], fit["loglik_null"]
        converged = fit["converged"]
        base = pd.DataFrame({"time": fit["base_time"], "cumhaz": fit["base_cumhaz"]})
    se = np.sqrt(np.diag(var))
    z = coef / se
    zq = z_value(level)
    summary = pd.DataFrame({"term": names, "coef": coef, "shr": np.exp(coef), "se": se, "z": z,
                            "p_value": 2 * sps.norm.sf(np.abs(z)), "ci_low": np.exp(coef - zq * se),
                            "ci_high": np.exp(coef + zq * se)})
    return FineGrayResult(
        summary=summary, coef=coef, vcov=var, columns=tuple(names), covariates=tuple(covariates), cause=cause,
        censored=censored, loglik=loglik, loglik_null=loglik0, n=len(t), n_events=n_events,
        n_competing=int(((status > 0) & (status != code)).sum()), n_censored=int((status == 0).sum()),
        n_excluded=n_drop, converged=converged, level=level, engine=eng, baseline=base, terms=tuple(terms))
