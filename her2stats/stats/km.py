"""Kaplan-Meier estimate (Greenwood variance, log / log-log / plain intervals, median survival with
its interval) and the log-rank test, on the Python engine (numpy) and the R engine
(``survival::survfit`` / ``survdiff``); tests hold the two to 1e-9.

References
----------
Kaplan EL, Meier P (1958) JASA 53:457-481. Greenwood M (1926). Mantel N (1966) Cancer Chemother
Rep 50:163-170. Brookmeyer R, Crowley J (1982) Biometrics 38:29-41.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from ..engine import resolve_engine
from ..errors import InputError
from ..results import Result
from ._core import renamed_args
from ._survdata import group_codes, survival_frame

__all__ = ["kaplan_meier", "KaplanMeierResult", "logrank_test", "LogrankResult", "km_ci", "km_table"]


# =========================================================================== Kaplan-Meier
def _km_table(t: np.ndarray, e: np.ndarray) -> pd.DataFrame:
    """Kaplan-Meier estimate at every distinct time (events and censorings), as survfit."""
    times, inv = np.unique(t, return_inverse=True)
    n_event = np.bincount(inv, weights=e, minlength=len(times))
    n_total = np.bincount(inv, minlength=len(times)).astype(float)
    n_censor = n_total - n_event
    n_risk = len(t) - np.concatenate([[0.0], np.cumsum(n_total)[:-1]])
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = 1 - n_event / n_risk
        surv = np.cumprod(factor)
        # Greenwood: var(log S) = sum d / (n (n - d)); survfit's std.err is this, on the log scale
        inc = np.where(n_event > 0, n_event / (n_risk * (n_risk - n_event)), 0.0)
        std_err = np.sqrt(np.cumsum(inc))
    return pd.DataFrame({"time": times, "n_risk": n_risk, "n_event": n_event, "n_censor": n_censor,
                         "survival": surv, "std_err": std_err})


def _km_ci(surv: np.ndarray, std_err: np.ndarray, conf_type: str, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise CI exactly as survival::survfit (conf.type 'log', 'log-log', 'plain')."""
    z = sps.norm.ppf(0.5 + level / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        if conf_type == "log":
            lo = np.where(surv > 0, np.exp(np.log(surv) - z * std_err), np.nan)
            hi = np.where(surv > 0, np.minimum(np.exp(np.log(surv) + z * std_err), 1.0), np.nan)
        elif conf_type == "log-log":
            ok = (surv > 0) & (surv < 1)
            ll = np.log(-np.log(surv))
            se2 = std_err / np.log(surv)
            lo = np.where(ok, np.exp(-np.exp(ll - z * se2)), np.nan)
            hi = np.where(ok, np.exp(-np.exp(ll + z * se2)), np.nan)
        elif conf_type == "plain":
            lo = np.maximum(surv - z * std_err * surv, 0.0)
            hi = np.minimum(surv + z * std_err * surv, 1.0)
        else:
            raise InputError(f"conf_type must be 'log', 'log-log' or 'plain', got {conf_type!r}")
    # survfit leaves the CI at 1 before the first event (std.err 0)
    zero = std_err == 0
    lo = np.where(zero & (surv == 1), 1.0, lo)
    hi = np.where(zero & (surv == 1), 1.0, hi)
    return lo, hi


def _findq(x: np.ndarray, y: np.ndarray, p: float, tol: float = math.sqrt(np.finfo(float).eps)) -> float:
    """survival:::findq: the p-quantile of a step function, averaging over flat stretches at p."""
    yv = y[~np.isnan(y)]
    if yv.size == 0 or np.max(yv) < p:
        return float("nan")
    xmax = x[-1]
    keep = ~pd.Series(y).duplicated().to_numpy()
    x, y = x[keep], y[keep]
    n = len(y)
    idx = np.arange(1, n + 1)

    def approx_const_right(xs: np.ndarray) -> float:
        ok = ~np.isnan(xs)
        xs_, id_ = xs[ok], idx[ok]
        j = int(np.searchsorted(xs_, p, side="left"))
        if j == len(xs_) or (j == 0 and xs_[0] != p):
            return float("nan")
        return float(id_[j])

    i1, i2 = approx_const_right(y + tol), approx_const_right(y - tol)
    if math.isnan(i1) or math.isnan(i2):
        return float("nan")
    quant = (x[int(i1) - 1] + x[int(i2) - 1]) / 2
    if not np.isnan(y[-1]) and abs(p - y[-1]) < tol:
        quant = (x[int(i1) - 1] + xmax) / 2
    return float(quant)


def _km_median(table: pd.DataFrame, p: float = 0.5) -> tuple[float, float, float]:
    x = np.concatenate([[0.0], table["time"].to_numpy()])
    q = _findq(x, np.concatenate([[0.0], 1 - table["survival"].to_numpy()]), p)
    # the lower band falls to 0.5 first: it gives the lower limit of the median
    lo = _findq(x, np.concatenate([[0.0], 1 - table["ci_low"].to_numpy()]), p)
    hi = _findq(x, np.concatenate([[0.0], 1 - table["ci_high"].to_numpy()]), p)
    return q, lo, hi


@dataclass(frozen=True, repr=False)
class LogrankResult(Result):
    """k-sample log-rank test (survival::survdiff, rho = 0)."""

    statistic: float
    df: int
    p_value: float
    table: pd.DataFrame  # group, n, observed, expected, (O-E)^2/E, (O-E)^2/V
    n: int
    n_excluded: int
    engine: str
    method: str = "log-rank (Mantel-Haenszel)"

    def to_frame(self) -> pd.DataFrame:
        out = self.table.copy()
        out["chisq"] = self.statistic
        out["df"] = self.df
        out["p_value"] = self.p_value
        return out


def _logrank_numpy(t: np.ndarray, e: np.ndarray, g: np.ndarray, k: int) -> tuple[float, int, np.ndarray, np.ndarray, np.ndarray]:
    """Observed, expected and the variance matrix of O - E over distinct event times."""
    times = np.unique(t[e == 1])
    # at-risk counts per group at each event time: n_gt = #{t_i >= time, g_i = g}
    order = np.argsort(t, kind="mergesort")
    ts, gs, es = t[order], g[order], e[order]
    n = len(t)
    first = np.searchsorted(ts, times, side="left")
    onehot = np.zeros((n, k))
    onehot[np.arange(n), gs] = 1.0
    rev_cum = np.cumsum(onehot[::-1], axis=0)[::-1]  # rows i: counts of (i..n-1) per group
    n_risk_g = rev_cum[first]  # (m, k)
    d_g = np.zeros((len(times), k))
    tidx = np.searchsorted(times, ts[es == 1])
    np.add.at(d_g, (tidx, gs[es == 1]), 1.0)
    n_risk = n_risk_g.sum(axis=1)
    d = d_g.sum(axis=1)
    obs = d_g.sum(axis=0)
    exp_ = (n_risk_g * (d / n_risk)[:, None]).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.where(n_risk > 1, d * (n_risk - d) / (n_risk ** 2 * (n_risk - 1)), 0.0)
    frac = n_risk_g  # (m, k) at-risk counts per group
    V = np.diag((c[:, None] * frac * n_risk[:, None]).sum(axis=0)) - np.einsum("m,mi,mj->ij", c, frac, frac)
    diff = obs - exp_
    # generalized inverse over the first k-1 groups (survdiff drops one row/column)
    Vs = V[: k - 1, : k - 1]
    stat = float(diff[: k - 1] @ np.linalg.solve(Vs, diff[: k - 1])) if k > 1 else 0.0
    return stat, k - 1, obs, exp_, V


def logrank_test(df: pd.DataFrame, duration: str, event: str, group: str, engine: str | None = None) -> LogrankResult:
    """Log-rank test comparing survival between k >= 2 groups (``survival::survdiff`` parity).

    With ``O_g``, ``E_g`` the observed and expected events of group g (expected under a common
    hazard: ``E_g = sum_t d_t n_gt / n_t``) and ``V`` the hypergeometric covariance
    ``V_gh = sum_t d_t (n_t - d_t) / (n_t^2 (n_t - 1)) n_gt (n_t delta_gh - n_ht)``, the
    statistic is ``(O - E)' V^- (O - E)`` on ``k - 1`` df.

    Groups with no events are allowed (their O = 0 still informs the test); a single group is
    refused. Reference: Mantel (1966); Peto & Peto (1972).

    Examples
    --------
    >>> lung = pd.read_csv("tests/data/lung.csv").assign(dead=lambda d: d.status - 1)
    >>> round(logrank_test(lung, "time", "dead", "sex").statistic, 1)   # R: survdiff -> Chisq= 10.3
    10.3
    """
    sub, t, e, n_excl = survival_frame(df, duration, event, [group], function="logrank_test")
    codes, levels = group_codes(sub[group], group)
    eng = resolve_engine(engine)
    if eng == "r":
        from .. import r_bridge

        r_bridge.require("survival")
        out = r_bridge.call("h2s_logrank", time=t, event=e, group=codes.astype(int) + 1)
        obs = np.asarray(out["observed"], float)
        exp_ = np.asarray(out["expected"], float)
        V = np.asarray(out["var"], float).reshape(len(levels), len(levels))
        stat, dof = float(out["chisq"]), len(levels) - 1
    else:
        stat, dof, obs, exp_, V = _logrank_numpy(t, e, codes, len(levels))
    table = pd.DataFrame({
        "group": levels, "n": np.bincount(codes, minlength=len(levels)), "observed": obs, "expected": exp_,
        "(O-E)^2/E": (obs - exp_) ** 2 / exp_, "(O-E)^2/V": (obs - exp_) ** 2 / np.diag(V),
    })
    return LogrankResult(statistic=stat, df=dof, p_value=float(sps.chi2.sf(stat, dof)), table=table,
                         n=len(sub), n_excluded=n_excl, engine=eng)


@dataclass(frozen=True, repr=False)
class KaplanMeierResult(Result):
    """Kaplan-Meier curves (one per group) with pointwise CIs and median survival with CI."""

    table: pd.DataFrame      # group, time, n_risk, n_event, n_censor, survival, std_err, ci_low, ci_high
    medians: pd.DataFrame    # group, n, events, median, ci_low, ci_high
    conf_type: str
    level: float
    group: str | None
    n: int
    n_excluded: int
    engine: str
    logrank: LogrankResult | None = None
    method: str = "Kaplan-Meier (Greenwood)"

    def to_frame(self) -> pd.DataFrame:
        return self.medians

    def survival_at(self, times: Sequence[float]) -> pd.DataFrame:
        """Survival (and CI) at given times per group (right-continuous step function)."""
        rows = []
        for g, tab in self.table.groupby("group", sort=False, dropna=False):
            tt = tab["time"].to_numpy()
            for x in np.atleast_1d(np.asarray(times, float)):
                j = np.searchsorted(tt, x, side="right") - 1
                k = np.searchsorted(tt, x, side="left")   # at risk at x: follow-up >= x
                n_risk = float(tab["n_risk"].iloc[k]) if k < len(tab) else 0.0
                if j < 0:
                    rows.append({"group": g, "time": x, "survival": 1.0, "ci_low": 1.0, "ci_high": 1.0, "n_risk": n_risk})
                else:
                    r = tab.iloc[j]
                    rows.append({"group": g, "time": x, "survival": r["survival"], "ci_low": r["ci_low"],
                                 "ci_high": r["ci_high"], "n_risk": n_risk})
        return pd.DataFrame(rows)

    def plot(self, ax: Any = None, risk_table: bool = True, ci: bool = True, risk_times: Sequence[float] | None = None,
             xlabel: str = "Time", ylabel: str = "Survival probability") -> Any:
        """Step curves with CI bands, censoring ticks, the log-rank p in the panel and an
        optional number-at-risk table under the axis. Returns the survival Axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6.5, 4.8 if risk_table else 4))
        groups = list(dict.fromkeys(self.table["group"].tolist()))
        colors = plt.rcParams["axes.prop_cycle"].by_key().get("color", ["C0", "C1", "C2"])
        tmax = float(self.table["time"].max())
        for i, g in enumerate(groups):
            tab = self.table[self.table["group"] == g]
            c = colors[i % len(colors)]
            x = np.concatenate([[0.0], tab["time"].to_numpy()])
            y = np.concatenate([[1.0], tab["survival"].to_numpy()])
            label = "all" if g is None or (isinstance(g, float) and np.isnan(g)) else f"{self.group}={g}"
            ax.step(x, y, where="post", color=c, label=label)
            if ci:
                lo = np.concatenate([[1.0], tab["ci_low"].to_numpy()])
                hi = np.concatenate([[1.0], tab["ci_high"].to_numpy()])
                ax.fill_between(x, lo, hi, step="post", color=c, alpha=0.15, linewidth=0)
            cens = tab[tab["n_censor"] > 0]
            ax.plot(cens["time"], cens["survival"], "|", color=c, markersize=6)
        ax.set_ylim(0, 1.02)
        ax.set_xlim(0, tmax * 1.02)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if self.group is not None:
            ax.legend(loc="upper right", frameon=False)
        if self.logrank is not None:
            p = self.logrank.p_value
            ptxt = "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
            ax.text(0.03, 0.05, f"log-rank {ptxt}", transform=ax.transAxes)
        if risk_table:
            ticks = np.asarray(risk_times, float) if risk_times is not None else ax.get_xticks()
            ticks = ticks[(ticks >= 0) & (ticks <= tmax * 1.02)]
            at = self.survival_at(ticks)
            ax.set_xticks(ticks)
            lines = []
            for g in groups:
                sub = at[at["group"] == g] if g is not None else at
                lines.append((str(g) if self.group is not None else "all", sub["n_risk"].astype(int).tolist()))
            for row, (lab, counts) in enumerate(lines):
                y = -0.22 - 0.07 * row
                ax.text(-0.02, y, lab, transform=ax.transAxes, ha="right", va="center", fontsize=8)
                for x, cnt in zip(ticks, counts):
                    ax.text(x, y, str(cnt), transform=ax.get_xaxis_transform(), ha="center", va="center",
                            fontsize=8)
            ax.text(-0.02, -0.15, "At risk", transform=ax.transAxes, ha="right", va="center", fontsize=8,
                    fontweight="bold")
            ax.figure.subplots_adjust(bottom=0.18 + 0.07 * len(lines))
        return ax


@renamed_args(conf_level="level")
def kaplan_meier(df: pd.DataFrame, duration: str, event: str, group: str | None = None, conf_type: str = "log",
                 level: float = 0.95, engine: str | None = None) -> KaplanMeierResult:
    """Kaplan-Meier survival curves with Greenwood CIs and median survival (``survfit`` parity).

    ``S(t) = prod_{t_j <= t} (1 - d_j / n_j)``; ``se(log S) = sqrt(sum d_j / (n_j (n_j - d_j)))``
    (survfit's ``std.err``). ``conf_type`` "log" (survfit's default): ``S exp(+-z se)``;
    "log-log": ``S^exp(+-z se / log S)``; "plain": ``S (1 +- z se)``. The median and its CI are
    the first times at which ``S``, the upper and the lower band reach 0.5, averaging over a flat
    stretch exactly at 0.5 (``quantile.survfit``). With ``group``, the log-rank test is attached.

    Examples
    --------
    >>> lung = pd.read_csv("tests/data/lung.csv").assign(dead=lambda d: d.status - 1)
    >>> kaplan_meier(lung, "time", "dead", "sex").medians[["group", "median", "ci_low", "ci_high"]]
    ... # R: survfit(Surv(time, status) ~ sex, lung): 270 (212-310) and 426 (348-550)
    """
    if conf_type not in ("log", "log-log", "plain"):
        raise InputError(f"conf_type must be 'log', 'log-log' or 'plain', got {conf_type!r}")
    if not 0 < level < 1:
        raise InputError(f"level must be in (0, 1), got {level!r}")
    sub, t, e, n_excl = survival_frame(df, duration, event, [group] if group else [], function="kaplan_meier")
    eng = resolve_engine(engine)
    if group is not None:
        codes, levels = group_codes(sub[group], group)
    else:
        codes, levels = np.zeros(len(t), dtype=int), [None]
    tables, med_rows = [], []
    if eng == "r":
        from .. import r_bridge

        r_bridge.require("survival")
        out = r_bridge.call("h2s_kaplan_meier", time=t, event=e, group=codes.astype(int) + 1,
                            conf_type=conf_type, conf_level=level)
        tab = out["table"]
        med = out["medians"]
        for gi, lev in enumerate(levels):
            part = tab[tab["group"] == gi + 1].drop(columns="group").reset_index(drop=True)
            part.insert(0, "group", lev)
            tables.append(part)
            m = med[med["group"] == gi + 1].iloc[0]
            med_rows.append({"group": lev, "n": int(m["n"]), "events": int(m["events"]), "median": m["median"],
                             "ci_low": m["ci_low"], "ci_high": m["ci_high"]})
    else:
        for gi, lev in enumerate(levels):
            mask = codes == gi
            part = _km_table(t[mask], e[mask])
            part["ci_low"], part["ci_high"] = _km_ci(part["survival"].to_numpy(), part["std_err"].to_numpy(),
                                                  conf_type, level)
            part.insert(0, "group", lev)
            tables.append(part)
            q, lo, hi = _km_median(part)
            med_rows.append({"group": lev, "n": int(mask.sum()), "events": int(e[mask].sum()), "median": q,
                             "ci_low": lo, "ci_high": hi})
    table = pd.concat(tables, ignore_index=True)
    medians = pd.DataFrame(med_rows)
    lr = logrank_test(sub, duration, event, group, engine=eng) if group is not None else None
    return KaplanMeierResult(table=table, medians=medians, conf_type=conf_type, level=level, group=group,
                             n=len(sub), n_excluded=n_excl, engine=eng, logrank=lr)


# Helpers the other time-to-event modules use, under public names
km_ci = _km_ci
km_table = _km_table
