"""Survival analysis: Kaplan-Meier, log-rank, Cox proportional hazards, Harrell's C.

Each procedure has a Python engine (numpy, written here so every number is under our control)
and an R engine (``survival`` / ``rms`` through :mod:`her2stats.r_bridge`); tests hold the two
to 1e-9 for closed forms (Kaplan-Meier, log-rank, concordance) and 1e-6 for iterative fits (Cox).

Input rules shared by every function (see :func:`_survival_frame`):

* ``duration`` must be numeric and strictly positive (a zero or negative follow-up time is a data
  error, usually a date subtraction gone wrong);
* ``event`` must be 0/1 (or boolean). ``survival::lung``'s 1/2 coding is refused with a hint;
* rows with a missing value in any column the analysis uses are excluded, counted in
  ``n_excluded`` and shown in every result.

References
----------
Kaplan EL, Meier P (1958) JASA 53:457-481. Greenwood M (1926). Mantel N (1966) Cancer Chemother
Rep 50:163-170. Cox DR (1972) JRSS-B 34:187-220. Efron B (1977) JASA 72:557-565. Grambsch PM,
Therneau TM (1994) Biometrika 81:515-526. Harrell FE et al. (1982) JAMA 247:2543-2546.
Therneau TM, Grambsch PM (2000) *Modeling Survival Data*. Springer.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from ..engine import resolve_engine
from ..errors import ConvergenceError, InputError
from ..results import Result
from . import _core
from ._core import renamed_args
from ._names import check_column_names, check_unique_labels

__all__ = [
    "fit_cph", "CoxModel", "kaplan_meier", "KaplanMeierResult", "logrank_test", "LogrankResult",
    "cox", "CoxResult", "PHTestResult", "concordance_index", "ConcordanceResult", "check_ratio_ci_p",
    "RatioCIConsistency",
]

_Z975 = sps.norm.ppf(0.975)


# =========================================================================== input checks
def _check_columns(df: Any, columns: Sequence[str]) -> None:
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"expected a pandas DataFrame, got {type(df).__name__}")
    check_column_names(df, columns, "survival")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputError(f"column(s) {missing} not found; available columns: {list(df.columns)}")


def _check_time_event(time: np.ndarray, event: np.ndarray, duration: str = "duration",
                      event_name: str = "event", index: Sequence[Any] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Validate durations (> 0) and events (0/1); return float times and int events."""
    index = list(range(len(time))) if index is None else list(index)
    t = _core.as_numeric(pd.Series(np.asarray(time), index=index), f"duration column '{duration}'", allow_inf=True)
    bad = np.flatnonzero(~np.isfinite(t) | (t <= 0))
    if bad.size:
        raise InputError(
            f"duration column '{duration}' must be strictly positive and finite; {bad.size} row(s) are not "
            f"(first: row {index[bad[0]]!r} = {t[bad[0]]!r}). Zero or negative follow-up usually means a date "
            "subtraction error; fix the data (or add a small offset only if the study protocol says so)."
        )
    e_raw = np.asarray(event)
    if e_raw.dtype == bool:
        e = e_raw.astype(int)
    else:
        try:
            ef = np.asarray(e_raw, dtype=float)
        except (TypeError, ValueError):
            raise InputError(f"event column '{event_name}' must be coded 0 = censored / 1 = event (or boolean), got "
                             f"values such as {sorted(map(str, pd.unique(pd.Series(e_raw, dtype=object))))[:5]}") from None
        values = set(np.unique(ef).tolist())
        if not values <= {0.0, 1.0}:
            hint = ""
            if values <= {1.0, 2.0}:
                hint = (f" It looks coded 1 = censored / 2 = event (as survival::lung's status): pass "
                        f"df.assign({event_name}=df['{event_name}'] - 1).")
            raise InputError(f"event column '{event_name}' must be coded 0 = censored / 1 = event; found values "
                             f"{sorted(values)}.{hint}")
        e = ef.astype(int)
    if e.sum() == 0:
        raise InputError(f"event column '{event_name}' has no events (all censored): nothing to estimate")
    return t, e


def _survival_frame(df: pd.DataFrame, duration: str, event: str, columns: Sequence[str] = (),
                    function: str = "survival", numeric: Sequence[str] = ()
                    ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, int]:
    """Complete cases on (duration, event, *columns); validated times/events; rows excluded (and
    announced with a DroppedRowsWarning). ``numeric``: columns refused when they are numbers with
    stray strings (covariates)."""
    used = [duration, event, *[c for c in columns if c not in (duration, event)]]
    _check_columns(df, used)
    _core.refuse_numeric_strays(df, [duration, event, *numeric], function)
    sub = df[used]
    na = sub.isna()
    keep = ~na.any(axis=1).to_numpy()
    n_excluded = int((~keep).sum())
    _core.announce_dropped(function, n_excluded, len(df), {c: int(v) for c, v in na.sum().items()})
    sub = df.loc[keep]
    if len(sub) == 0:
        raise InputError(f"no complete rows left in columns {used} (all {len(df)} rows have a missing value)")
    t, e = _check_time_event(sub[duration].to_numpy(), sub[event].to_numpy(), duration, event, sub.index)
    return sub, t, e, n_excluded


def _group_labels(values: pd.Series, name: str) -> tuple[np.ndarray, list[Any]]:
    """Integer codes and ordered levels of a grouping column (category order, else sorted)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        cat = values.cat.remove_unused_categories()
        levels = list(cat.cat.categories)
        codes = cat.cat.codes.to_numpy()
    else:
        levels = sorted(pd.unique(values).tolist(), key=lambda v: (str(type(v)), v))
        lookup = {v: i for i, v in enumerate(levels)}
        codes = np.array([lookup[v] for v in values], dtype=int)
    if len(levels) < 2:
        raise InputError(f"group column '{name}' has a single level ({levels[0]!r} only): a comparison needs "
                         "at least two groups")
    return codes, levels


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
    sub, t, e, n_excl = _survival_frame(df, duration, event, [group], function="logrank_test")
    codes, levels = _group_labels(sub[group], group)
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
    sub, t, e, n_excl = _survival_frame(df, duration, event, [group] if group else [], function="kaplan_meier")
    eng = resolve_engine(engine)
    if group is not None:
        codes, levels = _group_labels(sub[group], group)
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


# =========================================================================== Cox model (numpy)
@dataclass(frozen=True)
class _Design:
    """How covariates become design columns (same coding for both engines and for new data)."""

    covariates: tuple[str, ...]
    columns: tuple[str, ...]
    terms: tuple[tuple[str, tuple[int, ...]], ...]   # term -> indices of its design columns
    levels: dict[str, list[Any]]                      # categorical covariate -> levels (first = reference)

    def matrix(self, df: pd.DataFrame) -> np.ndarray:
        _check_columns(df, self.covariates)
        cols = []
        for cov in self.covariates:
            s = df[cov]
            if cov in self.levels:
                levels = self.levels[cov]
                vals = s.astype(object).to_numpy()
                known = set(map(_key, levels))
                bad = [v for v in pd.unique(vals) if not pd.isna(v) and _key(v) not in known]
                if bad:
                    raise InputError(f"column '{cov}' has level(s) {bad} not seen when the model was fitted "
                                     f"(levels: {levels})")
                for lev in levels[1:]:
                    cols.append(np.array([np.nan if pd.isna(v) else float(_key(v) == _key(lev)) for v in vals]))
            else:
                cols.append(pd.to_numeric(s, errors="raise").to_numpy(dtype=float))
        return np.column_stack(cols) if cols else np.zeros((len(df), 0))


def _key(v: Any) -> Any:
    """Comparable key for a level (1 and 1.0 and '1' stay distinct only by type family)."""
    if isinstance(v, (np.integer, np.floating)):
        v = v.item()
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def _is_categorical(s: pd.Series) -> bool:
    return (isinstance(s.dtype, pd.CategoricalDtype) or s.dtype == object or pd.api.types.is_string_dtype(s.dtype)
            or pd.api.types.is_bool_dtype(s.dtype))


def _make_design(df: pd.DataFrame, covariates: Sequence[str], event: np.ndarray) -> _Design:
    if isinstance(covariates, str):
        covariates = [covariates]
    covariates = tuple(covariates)
    if not covariates:
        raise InputError("covariates must name at least one column")
    if len(set(covariates)) != len(covariates):
        raise InputError(f"covariates contain duplicates: {list(covariates)}")
    columns: list[str] = []
    terms = []
    levels: dict[str, list[Any]] = {}
    for cov in covariates:
        s = df[cov]
        if _is_categorical(s):
            if isinstance(s.dtype, pd.CategoricalDtype):
                levs = [c for c in s.cat.categories if (s == c).any()]
            elif pd.api.types.is_bool_dtype(s.dtype):
                levs = [lv for lv in (False, True) if (s == lv).any()]
            else:
                levs = sorted(pd.unique(s).tolist(), key=str)
            if len(levs) < 2:
                raise InputError(f"covariate '{cov}' has a single level ({levs!r}) in the analysed rows: "
                                 "it carries no information; drop it")
            levels[cov] = levs
            start = len(columns)
            columns += [f"{cov}={lev}" for lev in levs[1:]]
            terms.append((cov, tuple(range(start, len(columns)))))
        else:
            if not pd.api.types.is_numeric_dtype(s.dtype):
                raise InputError(f"covariate '{cov}' has dtype {s.dtype}, neither numeric nor categorical")
            if not (s != s.iloc[0]).any():   # constant (no missing values here); cheaper than nunique
                raise InputError(f"covariate '{cov}' is constant ({s.iloc[0]!r}) in the analysed rows; drop it")
            terms.append((cov, (len(columns),)))
            columns.append(cov)
    check_unique_labels(columns, "Cox model")
    return _Design(covariates=covariates, columns=tuple(columns), terms=tuple(terms), levels=levels)


class _CoxData:
    """Sorted data and risk-set machinery for the partial likelihood (Breslow or Efron ties).

    Rows are sorted by time with the deaths first at each time, so the deaths at the k-th
    event time are the contiguous rows ``first[k] .. first[k] + d[k] - 1`` and the risk set is
    every row from ``first[k]`` on. Each death is one term of the likelihood (a "slot"): at
    event time k the l-th of its d deaths (l = 0..d-1) has the Efron fraction ``f = l/d``
    (Breslow: 0). Every sum over risk sets is a reverse cumulative sum read at ``first``.
    """

    def __init__(self, t: np.ndarray, e: np.ndarray, X: np.ndarray, ties: str):
        order = np.lexsort((-e, t))  # by time; deaths before censorings at equal time
        self.t, self.e, self.X = t[order], e[order].astype(float), X[order]
        self.order = order
        self.ties = ties
        self.mean = self.X.mean(axis=0)  # centring for stability (coxph centres too)
        self.Xc = np.ascontiguousarray(self.X - self.mean)
        ev_times, self.d = np.unique(self.t[self.e == 1], return_counts=True)
        self.event_times = ev_times
        self.first = np.searchsorted(self.t, ev_times, side="left")  # start of the risk set
        self.ev_idx = np.searchsorted(ev_times, self.t[self.e == 1])  # event -> its event time
        self.ev_rows = np.flatnonzero(self.e == 1)
        # slots: one per death, in row order (grouped by event time)
        slot_l = self.ev_rows - self.first[self.ev_idx]   # l = 0..d-1 within the event time
        self.frac = slot_l / self.d[self.ev_idx] if ties == "efron" else np.zeros(len(self.ev_rows))
        self.x_dead = self.Xc[self.ev_rows]
        self.sum_x_dead = self.x_dead.sum(axis=0)
        self.slot_start = np.searchsorted(self.ev_rows, self.first)   # first death of each event time
        self.e_int = e[order].astype(np.int64)

    def terms(self, beta: np.ndarray, need_info: bool = True, per_time: bool = False) -> dict[str, Any]:
        """Log partial likelihood, score, information (and, with ``per_time``, the per-event-time
        score ``score_t`` and information ``V_t`` that cox.zph needs) at ``beta``.

        Without ``per_time`` one compiled backward sweep (:func:`._kernels.cox_terms`) does it. With
        it, the same sums vectorised over the slots: ``info = sum_slots [(S2_k - f D2_k)/den - mu
        mu']`` uses ``sum_k a_k S2_k = Xc' diag(w A) Xc`` with ``A_j = sum_{k: first_k <= j} a_k``
        (the Efron correction ``sum_k b_k D2_k`` a weighted sum over the deaths' rows).
        """
        Xc = self.Xc
        n, p = Xc.shape
        if not per_time:   # the fit's hot path: one compiled sweep (survival's coxfit6 algorithm)
            from ._kernels import cox_terms

            loglik, score, info = cox_terms(self.t, self.e_int, Xc, np.ascontiguousarray(beta, dtype=float),
                                            self.ties == "efron", bool(need_info))
            out = {"loglik": float(loglik), "score": score}
            if need_info:
                out["info"] = info
            return out
        eta = Xc @ beta
        w = np.exp(eta)
        wX = w[:, None] * Xc
        k_of = self.ev_idx
        S0 = np.cumsum(w[::-1])[::-1][self.first]
        S1 = np.cumsum(wX[::-1], axis=0)[::-1][self.first]
        rows, starts = self.ev_rows, self.slot_start
        D0 = np.add.reduceat(w[rows], starts)
        D1 = np.add.reduceat(wX[rows], starts, axis=0)
        f = self.frac
        den = S0[k_of] - f * D0[k_of]
        mu = (S1[k_of] - f[:, None] * D1[k_of]) / den[:, None]
        loglik = float(eta[rows].sum() - np.log(den).sum())
        score = self.sum_x_dead - mu.sum(axis=0)
        out: dict[str, Any] = {"loglik": loglik, "score": score, "w": w}
        if need_info:
            inv = 1.0 / den
            a = np.bincount(k_of, weights=inv, minlength=len(S0))        # sum_l 1/den per event time
            A = np.zeros(n)
            A[self.first] = a                                            # event times are distinct
            A = np.cumsum(A)
            row_w = w * A
            row_w[rows] -= w[rows] * np.bincount(k_of, weights=f * inv, minlength=len(S0))[k_of]
            out["info"] = Xc.T @ (row_w[:, None] * Xc) - mu.T @ mu
        if per_time:
            m = len(self.event_times)
            score_t = np.add.reduceat(self.x_dead - mu, starts, axis=0)
            S2 = np.cumsum((wX[:, :, None] * Xc[:, None, :])[::-1], axis=0)[::-1][self.first]
            xe = self.x_dead
            D2 = np.add.reduceat(w[rows, None, None] * (xe[:, :, None] * xe[:, None, :]),
                                 starts, axis=0)
            slot = (S2[k_of] - f[:, None, None] * D2[k_of]) / den[:, None, None] - mu[:, :, None] * mu[:, None, :]
            V_t = np.zeros((m, p, p))
            np.add.at(V_t, k_of, slot)
            out["score_t"], out["V_t"] = score_t, V_t
        return out


def _fit_cox_numpy(t: np.ndarray, e: np.ndarray, X: np.ndarray, ties: str = "efron", max_iter: int = 50,
                   tol: float = 1e-12) -> dict[str, Any]:
    """Newton-Raphson with step halving on the centred partial likelihood."""
    cd = _CoxData(t, e, X, ties)
    p = X.shape[1]
    beta = np.zeros(p)
    cur = cd.terms(beta)
    loglik0 = cur["loglik"]
    converged = False
    for _ in range(max_iter):
        try:
            step = np.linalg.solve(cur["info"], cur["score"])
        except np.linalg.LinAlgError:
            raise ConvergenceError("Cox information matrix is singular: covariates are collinear") from None
        new_beta = beta + step
        new = cd.terms(new_beta)
        halvings = 0
        while (not np.isfinite(new["loglik"]) or new["loglik"] < cur["loglik"] - 1e-10) and halvings < 30:
            step /= 2
            new_beta = beta + step
            new = cd.terms(new_beta)
            halvings += 1
        done = np.max(np.abs(new_beta - beta)) < tol or abs(new["loglik"] - cur["loglik"]) < tol * (1 + abs(cur["loglik"]))
        beta, cur = new_beta, new
        if done:
            converged = True
            break
    if not converged or not np.all(np.isfinite(beta)):
        # monotone likelihood and collinearity are refused before fitting (_fitcheck.check_cox)
        raise ConvergenceError(
            f"Cox model: Newton-Raphson did not reach the maximum of the partial likelihood in {max_iter} iterations "
            "although it exists (no monotone likelihood, full rank); rescale the covariates and refit")
    vcov = np.linalg.inv(cur["info"])
    return {"beta": beta, "vcov": vcov, "loglik": cur["loglik"], "loglik0": loglik0, "cd": cd, "terms": cur}


def _firth_penalty_grad(cd: _CoxData, beta: np.ndarray, M: np.ndarray) -> np.ndarray:
    """Gradient of ``1/2 log det I(b)`` for the Breslow / Efron information, ``M = I(b)^-1``.

    ``I = sum_terms A2/A0 - A1 A1'/A0^2`` over the (tie-corrected) risk-set sums ``A_k`` of
    ``w x^(k)``, and ``dA0/db = A1``, ``dA1/db = A2``, ``dA2/db_r = A3_r``, so
    ``tr(M dI/db_r) = sum_terms [T_r/A0 - tr(M A2) A1_r/A0^2 - 2 (A2 M A1)_r/A0^2
    + 2 (A1'M A1) A1_r/A0^3]`` with ``T_r = sum w (x'M x) x_r`` (the only third-order sum needed).
    """
    Xc = cd.Xc
    p = Xc.shape[1]
    w = np.exp(Xc @ beta)
    q = np.einsum("ij,jk,ik->i", Xc, M, Xc)
    m = len(cd.event_times)
    rc = lambda a: np.cumsum(a[::-1], axis=0)[::-1]  # noqa: E731 - reverse cumulative sums
    S0 = rc(w)[cd.first]
    S1 = rc(w[:, None] * Xc)[cd.first]
    S2 = rc(w[:, None, None] * (Xc[:, :, None] * Xc[:, None, :]))[cd.first]
    ST = rc((w * q)[:, None] * Xc)[cd.first]
    ev, xe = cd.ev_rows, Xc[cd.ev_rows]
    we = w[ev]
    D0 = np.bincount(cd.ev_idx, weights=we, minlength=m)
    D1 = np.zeros((m, p))
    D2 = np.zeros((m, p, p))
    DT = np.zeros((m, p))
    np.add.at(D1, cd.ev_idx, we[:, None] * xe)
    np.add.at(D2, cd.ev_idx, we[:, None, None] * (xe[:, :, None] * xe[:, None, :]))
    np.add.at(DT, cd.ev_idx, (we * q[ev])[:, None] * xe)
    g = np.zeros(p)
    for l in range(int(cd.d.max())):
        act = cd.d > l
        f = (np.where(act, l / cd.d, 0.0) if cd.ties == "efron" else np.zeros(m))[act]
        A0 = S0[act] - f * D0[act]
        A1 = S1[act] - f[:, None] * D1[act]
        A2 = S2[act] - f[:, None, None] * D2[act]
        AT = ST[act] - f[:, None] * DT[act]
        MA1 = A1 @ M
        trMA2 = np.einsum("tjk,jk->t", A2, M)
        A1MA1 = np.sum(MA1 * A1, axis=1)
        A2MA1 = np.einsum("tjk,tk->tj", A2, MA1)
        g += np.sum(AT / A0[:, None] - trMA2[:, None] * A1 / A0[:, None] ** 2 - 2 * A2MA1 / A0[:, None] ** 2
                    + 2 * A1MA1[:, None] * A1 / A0[:, None] ** 3, axis=0)
    return 0.5 * g


def _fit_cox_firth_numpy(t: np.ndarray, e: np.ndarray, X: np.ndarray, ties: str = "efron", max_iter: int = 100,
                         tol: float = 1e-9) -> dict[str, Any]:
    """Firth's penalised partial likelihood ``l(b) + 1/2 log det I(b)`` (Heinze & Schemper 2001):
    Newton-Raphson on the modified score ``U + d/db 1/2 log det I`` with ``I`` as the Hessian
    (as ``coxphf``), step halving on the penalised likelihood; finite under monotone likelihood."""
    cd = _CoxData(t, e, X, ties)
    p = X.shape[1]

    def penalised(b):
        cur = cd.terms(b)
        sign, logdet = np.linalg.slogdet(cur["info"])
        return cur, (cur["loglik"] + 0.5 * logdet if sign > 0 else -np.inf)

    beta = np.zeros(p)
    cur, pl = penalised(beta)
    pl0 = pl
    converged = False
    for _ in range(max_iter):
        try:
            M = np.linalg.inv(cur["info"])
        except np.linalg.LinAlgError:
            break
        ustar = cur["score"] + _firth_penalty_grad(cd, beta, M)
        step = M @ ustar
        if np.max(np.abs(ustar)) < tol * max(1.0, len(t) / 100) and np.max(np.abs(step)) < 1e-8:
            converged = True
            break
        big = np.max(np.abs(step))
        if big > 5:  # coxphf's maxstep
            step = step * (5 / big)
        for _half in range(40):
            new_beta = beta + step
            new, pl_new = penalised(new_beta)
            if np.isfinite(pl_new) and pl_new >= pl - 1e-12 * max(1.0, abs(pl)):
                break
            step = step / 2
        beta, cur, pl = new_beta, new, pl_new
    if not converged:
        raise ConvergenceError(f"Cox model: Firth's penalised partial likelihood did not converge in {max_iter} iterations")
    return {"beta": beta, "vcov": np.linalg.inv(cur["info"]), "loglik": pl, "loglik0": pl0, "cd": cd, "terms": cur}


def _baseline_cumhaz(cd: _CoxData, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative baseline hazard at x = 0 (uncentred) at each event time; Efron or Breslow
    increments as ``survfit.coxph`` (``ctype`` follows the ties method)."""
    lp_c = cd.Xc @ beta
    w = np.exp(lp_c)
    rc = np.cumsum(w[::-1])[::-1]
    S0 = rc[cd.first]
    D0 = np.bincount(cd.ev_idx, weights=w[cd.ev_rows], minlength=len(cd.event_times))
    inc = np.zeros(len(cd.event_times))
    for l in range(int(cd.d.max())):
        active = cd.d > l
        f = np.where(active, l / cd.d, 0.0) if cd.ties == "efron" else np.zeros(len(cd.d))
        inc[active] += 1.0 / (S0 - f * D0)[active]
    # hazard for the centred covariates -> x = 0: multiply by exp(-mean'beta)
    H = np.cumsum(inc) * math.exp(-float(cd.mean @ beta))
    return cd.event_times, H


@dataclass(frozen=True, repr=False)
class CoxModel(Result):
    """A fitted Cox model that feeds nomograms, calibration and predictions.

    ``params`` are log hazard ratios named ``covariate`` (numeric) or ``covariate=level``
    (categorical, vs the first level), the rms naming. ``r_fit`` is the ``rms::cph`` fit (x, y
    and surv kept) for engine="r", else None.
    """

    data: pd.DataFrame
    duration: str
    event: str
    covariates: tuple[str, ...]
    params: pd.Series
    vcov: pd.DataFrame
    loglik: float
    loglik_null: float
    n: int
    n_events: int
    n_excluded: int
    ties: str
    engine: str
    r_fit: Any = field(default=None, compare=False)
    design: _Design = field(default=None, compare=False)
    method: str = "Cox proportional hazards"
    #: fitted by Firth's penalised partial likelihood (``loglik``/``loglik_null`` are then penalised)
    firth: bool = False

    @property
    def se(self) -> pd.Series:
        return pd.Series(np.sqrt(np.diag(self.vcov.to_numpy())), index=self.params.index)

    def to_frame(self) -> pd.DataFrame:
        se = self.se
        z = self.params / se
        return pd.DataFrame({"coef": self.params, "se": se, "HR": np.exp(self.params),
                             "ci_low": np.exp(self.params - _Z975 * se), "ci_high": np.exp(self.params + _Z975 * se),
                             "z": z, "p_value": 2 * sps.norm.sf(np.abs(z))})

    def linear_predictor(self, df: pd.DataFrame) -> np.ndarray:
        """``x'beta`` (uncentred) for new rows."""
        return self.design.matrix(df) @ self.params.to_numpy()

    def _cumhaz(self) -> tuple[np.ndarray, np.ndarray]:
        cached = self.__dict__.get("_cumhaz_cache")
        if cached is None:
            sub = self.data
            t = sub[self.duration].to_numpy(float)
            e = sub[self.event].to_numpy().astype(int)
            cd = _CoxData(t, e, self.design.matrix(sub), self.ties)
            cached = _baseline_cumhaz(cd, self.params.to_numpy())
            object.__setattr__(self, "_cumhaz_cache", cached)
        return cached

    def baseline_survival(self, times: Sequence[float]) -> np.ndarray:
        """Baseline survival ``S0(t)`` at covariates x = 0, so ``S(t | x) = S0(t)^exp(x'beta)``.

        Efron (or Breslow) baseline hazard as ``survival::basehaz(coxph_fit, centered = FALSE)``.
        """
        et, H = self._cumhaz()
        tt = np.atleast_1d(np.asarray(times, float))
        j = np.searchsorted(et, tt, side="right") - 1
        Ht = np.where(j >= 0, H[np.maximum(j, 0)], 0.0)
        return np.exp(-Ht)

    def predict_survival(self, df: pd.DataFrame, times: Sequence[float]) -> np.ndarray:
        """``S(t | x)`` for each row of ``df`` (rows) at each time (columns)."""
        s0 = self.baseline_survival(times)
        lp = self.linear_predictor(df)
        return s0[None, :] ** np.exp(lp)[:, None]


def _design_labels(design: _Design) -> list[str]:
    """Design columns described for people: ``'age'``, ``level 'b' of 'grp'``."""
    out = []
    for cov, cols in design.terms:
        if cov in design.levels:
            out += [f"level {lev!r} of {cov!r}" for lev in design.levels[cov][1:]]
        else:
            out.append(repr(cov))
    return out


def _cox_prepare(df, duration, event, covariates, what="Cox model", firth=False, function="cox"):
    if isinstance(covariates, str):
        covariates = [covariates]
    sub, t, e, n_excl = _survival_frame(df, duration, event, list(covariates), function=function,
                                        numeric=list(covariates))
    design = _make_design(sub, covariates, e)
    # exact collinearity and (unless Firth) monotone likelihood, judged on the full design for both
    # engines (a stepwise search only visits sub-models, which inherit a clean verdict)
    from ._fitcheck import check_cox

    check_cox(t, e, design.matrix(sub), _design_labels(design), what, firth=firth)
    return sub, t, e, n_excl, design


def _firth_cox_r(t: np.ndarray, e: np.ndarray, X: np.ndarray, ties: str) -> dict[str, Any]:
    """R engine of Firth's Cox model: survival's partial likelihood, information and score
    residuals at each iterate (``r/survival.R``), the penalty's gradient by central differences."""
    from .. import r_bridge

    r_bridge.require("survival")
    out = r_bridge.call("h2s_firth_cox", np.asarray(t, float), np.asarray(e, float), np.asarray(X, float), ties)
    if not bool(out["converged"]):
        raise ConvergenceError("Cox model: Firth's penalised partial likelihood did not converge (R engine)")
    p = X.shape[1]
    return {"beta": np.atleast_1d(np.asarray(out["coef"], float)),
            "vcov": np.asarray(out["var"], float).reshape(p, p),
            "loglik": float(out["loglik"]), "loglik0": float(out["loglik0"])}


def _r_covariates(sub: pd.DataFrame, design: _Design) -> dict[str, Any]:
    """The design's covariates as R sees them: the i-th under the generated name ``v<i>``, a
    categorical one as a factor of level codes ``l1..lm`` in the design's level order (so the
    coefficient order matches and no name or level text reaches R)."""
    from .. import r_bridge

    cols: dict[str, Any] = {}
    for v, cov in zip(r_bridge.safe_names(len(design.covariates)), design.covariates):
        if cov in design.levels:
            pos = {_key(lev): i for i, lev in enumerate(design.levels[cov])}
            codes = [-1 if pd.isna(x) else pos.get(_key(x), -1) for x in sub[cov]]
            cols[v] = r_bridge.coded_factor(codes, len(design.levels[cov]))
        else:
            cols[v] = sub[cov].to_numpy(dtype=float)
    return cols


def _r_frame(sub: pd.DataFrame, duration: str, event: str, design: _Design, t: np.ndarray, e: np.ndarray) -> pd.DataFrame:
    """Data for R: ``h2s_time``, ``h2s_event`` and the covariates under generated names."""
    return pd.DataFrame({"h2s_time": t, "h2s_event": e.astype(int), **_r_covariates(sub, design)})


def _r_unsafe(design: _Design, names: Any) -> list[str]:
    """Covariate names for R's generated names (``v2`` -> the design's 2nd covariate)."""
    from .. import r_bridge

    back = dict(zip(r_bridge.safe_names(len(design.covariates)), design.covariates))
    return [back.get(str(n), str(n)) for n in np.atleast_1d(names if names is not None else [])]


def fit_cph(df: pd.DataFrame, duration: str, event: str, covariates: Sequence[str], ties: str = "efron",
            engine: str | None = None, firth: bool = False) -> CoxModel:
    """Fit a Cox proportional hazards model (``rms::cph`` or the numpy engine).

    Maximises the partial likelihood
    ``l(b) = sum_j [ sum_{i in D_j} x_i'b - sum_{l=0}^{d_j-1} log(sum_{R_j} e^{x'b} - l/d_j sum_{D_j} e^{x'b}) ]``
    (Efron ties; Breslow drops the ``l/d_j`` term) by Newton-Raphson. Categorical covariates are
    dummy-coded against their first level (category order, else sorted).

    Before either engine fits, an exactly collinear design (naming the aliased columns) and a
    monotone likelihood -- a covariate or level along which every event has the largest
    ``x'b`` of its risk set, e.g. a level without events, so that a hazard ratio is 0 or
    infinite -- raise :class:`~her2stats.errors.ConvergenceError` naming the covariates
    (:mod:`._fitcheck`). ``firth=True`` maximises Firth's penalised partial likelihood
    ``l(b) + 1/2 log det I(b)`` instead (Heinze & Schemper 2001; finite under monotone
    likelihood), with variance ``I(b)^-1``; ``loglik``/``loglik_null`` are then penalised. The
    R engine evaluates survival's partial likelihood, information and score residuals and
    differentiates the penalty numerically (``coxphf`` is not in Debian); ``r_fit`` is None.

    Examples
    --------
    >>> lung = pd.read_csv("tests/data/lung.csv").assign(dead=lambda d: d.status - 1)
    >>> m = fit_cph(lung, "time", "dead", ["age", "sex"], engine="python")
    >>> m.params.round(4).tolist()   # R: coef(coxph(Surv(time, status) ~ age + sex, lung))
    [0.017, -0.5132]
    """
    if ties not in ("efron", "breslow"):
        raise InputError(f"ties must be 'efron' or 'breslow', got {ties!r}")
    sub, t, e, n_excl, design = _cox_prepare(df, duration, event, covariates, "fit_cph (Cox model)", firth=firth,
                                              function="fit_cph")
    return _fit_cph_design(sub, t, e, n_excl, design, duration, event, ties, resolve_engine(engine), firth)


def _fit_cph_design(sub, t, e, n_excl, design, duration, event, ties, eng, firth=False) -> CoxModel:
    """fit_cph on prepared rows and a design that passed (or is a sub-model of one that passed) the checks."""
    names = list(design.columns)
    r_fit = None
    if firth:
        fit = (_firth_cox_r if eng == "r" else _fit_cox_firth_numpy)(t, e, design.matrix(sub), ties)
        beta, vcov, loglik, loglik0 = fit["beta"], fit["vcov"], fit["loglik"], fit["loglik0"]
    elif eng == "r":
        from .. import r_bridge

        r_bridge.require("rms", "survival")
        rdf = _r_frame(sub, duration, event, design, t, e)
        r_fit = r_bridge.call("h2s_fit_cph", rdf, r_bridge.safe_names(len(design.covariates)), ties, convert=False)
        out = r_bridge.call("h2s_cph_summary", r_fit)
        beta = np.asarray(out["coef"], float)
        vcov = np.asarray(out["var"], float).reshape(len(names), len(names))
        loglik, loglik0 = float(out["loglik"][1]), float(out["loglik"][0])
        if len(beta) != len(names):
            raise InputError(f"R returned {len(beta)} coefficients for design columns {names}")
    else:
        fit = _fit_cox_numpy(t, e, design.matrix(sub), ties)
        beta, vcov, loglik, loglik0 = fit["beta"], fit["vcov"], fit["loglik"], fit["loglik0"]
    data = sub.copy()
    data[duration] = t
    data[event] = e
    return CoxModel(data=data, duration=duration, event=event, covariates=design.covariates,
                    params=pd.Series(beta, index=names), vcov=pd.DataFrame(vcov, index=names, columns=names),
                    loglik=loglik, loglik_null=loglik0, n=len(sub), n_events=int(e.sum()), n_excluded=n_excl,
                    ties=ties, engine=eng, r_fit=r_fit, design=design, firth=bool(firth),
                    method="Cox proportional hazards, Firth's penalised partial likelihood" if firth
                    else "Cox proportional hazards")


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


def _concordance_numpy(t: np.ndarray, e: np.ndarray, risk: np.ndarray, event_weight: np.ndarray | None = None
                       ) -> dict[str, float]:
    counts, infl = _concordance_counts(t, e, risk, event_weight=event_weight)
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
    t, e = _check_time_event(t_raw, e_raw, "time", "event")
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


# =========================================================================== cox()
@dataclass(frozen=True, repr=False)
class PHTestResult(Result):
    """Test of proportional hazards per term and globally (``survival::cox.zph``, transform="km")."""

    table: pd.DataFrame   # term, chisq, df, p_value (last row GLOBAL)
    transform: str
    engine: str
    method: str = "Grambsch-Therneau score test"

    @property
    def global_p(self) -> float:
        return float(self.table.loc[self.table["term"] == "GLOBAL", "p_value"].iloc[0])

    def to_frame(self) -> pd.DataFrame:
        return self.table


@dataclass(frozen=True, repr=False)
class CoxResult(Result):
    """Cox model report: HR table, concordance with CI, AIC, likelihood-ratio test, PH test."""

    summary: pd.DataFrame
    concordance: ConcordanceResult
    aic: float
    loglik: float
    loglik_null: float
    lr_statistic: float
    lr_df: int
    lr_p_value: float
    n: int
    n_events: int
    n_excluded: int
    covariates: tuple[str, ...]
    steps: pd.DataFrame | None
    ties: str
    engine: str
    model: CoxModel = field(compare=False, default=None)
    method: str = "Cox proportional hazards"

    def to_frame(self) -> pd.DataFrame:
        return self.summary

    def ph_test(self, transform: str = "km") -> PHTestResult:
        """Schoenfeld-residual score test of proportional hazards (cox.zph, survival >= 3.0).

        For each term, the score test of ``theta = 0`` in ``beta(t) = beta + theta g(t)`` at the
        fitted beta, with ``g`` = 1 - KM(t-) centred over event times (``transform="km"``),
        using the full information matrix of (beta, theta); the global test frees all thetas.
        """
        if transform not in ("km", "identity", "rank", "log"):
            raise InputError(f"transform must be 'km', 'identity', 'rank' or 'log', got {transform!r}")
        m = self.model
        if getattr(m, "firth", False):
            raise InputError("ph_test: the Schoenfeld score test assumes the maximum-likelihood fit; a Firth-penalised "
                             "Cox model (firth=True) has no such test here")
        if self.engine == "r":
            from .. import r_bridge

            out = r_bridge.call("h2s_cox_zph", m.r_fit, transform)
            tab = pd.DataFrame({"term": _r_unsafe(m.design, out["term"]), "chisq": np.asarray(out["chisq"], float),
                                "df": np.asarray(out["df"], int), "p_value": np.asarray(out["p"], float)})
            return PHTestResult(table=tab, transform=transform, engine="r")
        return PHTestResult(table=_cox_zph_numpy(m, transform), transform=transform, engine="python")

    def plot(self, ax: Any = None) -> Any:
        """Forest plot of hazard ratios with 95% CIs (log axis)."""
        import matplotlib.pyplot as plt

        s = self.summary
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 0.45 * len(s) + 1.2))
        y = np.arange(len(s))[::-1]
        ax.errorbar(s["HR"], y, xerr=[s["HR"] - s["ci_low"], s["ci_high"] - s["HR"]], fmt="s", color="k", capsize=3)
        ax.axvline(1, color="grey", linestyle="--", linewidth=1)
        ax.set_xscale("log")
        ax.set_yticks(y)
        ax.set_yticklabels(s["term"])
        ax.set_xlabel("Hazard ratio (95% CI)")
        ax.set_title(f"C = {self.concordance.concordance:.3f}, AIC = {self.aic:.2f}", fontsize=9)
        return ax


def _cox_zph_numpy(model: CoxModel, transform: str) -> pd.DataFrame:
    sub = model.data
    t = sub[model.duration].to_numpy(float)
    e = sub[model.event].to_numpy().astype(int)
    X = model.design.matrix(sub)
    beta = model.params.to_numpy()
    cd = _CoxData(t, e, X, model.ties)
    terms = cd.terms(beta, per_time=True)
    p = X.shape[1]
    # g(t) at each distinct event time
    if transform == "km":
        km = _km_table(t, e)
        # 1 - S(t-) : the KM just before t
        j = np.searchsorted(km["time"].to_numpy(), cd.event_times, side="left")
        s_prev = np.concatenate([[1.0], km["survival"].to_numpy()])[j]
        g_t = 1 - s_prev
    elif transform == "identity":
        g_t = cd.event_times.astype(float)
    elif transform == "log":
        g_t = np.log(cd.event_times)
    else:
        ranks = sps.rankdata(t)  # rank(times) over all observations, as cox.zph
        lookup = dict(zip(t, ranks))
        g_t = np.array([lookup[x] for x in cd.event_times])
    g_t = g_t - np.sum(g_t * cd.d) / cd.d.sum()   # centre over events (tied deaths counted each)
    V_t, score_t = terms["V_t"], terms["score_t"]
    I11 = V_t.sum(axis=0)
    I12 = np.einsum("m,mij->ij", g_t, V_t)
    I22 = np.einsum("m,mij->ij", g_t ** 2, V_t)
    imat = np.block([[I11, I12], [I12, I22]])
    u = np.concatenate([np.zeros(p), (g_t[:, None] * score_t).sum(axis=0)])
    rows = []
    for name, cols in model.design.terms:
        kk = list(range(p)) + [p + c for c in cols]
        sub_i = imat[np.ix_(kk, kk)]
        uu = u[kk]
        stat = float(uu @ np.linalg.solve(sub_i, uu))
        rows.append({"term": name, "chisq": stat, "df": len(cols), "p_value": float(sps.chi2.sf(stat, len(cols)))})
    stat = float(u @ np.linalg.solve(imat, u))
    rows.append({"term": "GLOBAL", "chisq": stat, "df": p, "p_value": float(sps.chi2.sf(stat, p))})
    return pd.DataFrame(rows)


def _stepwise_numpy(sub, t, e, covariates, direction, ties) -> tuple[list[str], pd.DataFrame]:
    """AIC stepwise over terms as R's ``step()``: start from the full model; each step tries
    dropping each term (and, for "both", re-adding each dropped term) and keeps the best AIC."""
    full = list(covariates)

    def aic_of(covs: list[str]) -> float:
        if not covs:
            cd = _CoxData(t, e, np.zeros((len(t), 0)), ties)
            return -2 * _null_loglik(cd)
        design = _make_design(sub, covs, e)
        fit = _fit_cox_numpy(t, e, design.matrix(sub), ties)
        return -2 * fit["loglik"] + 2 * len(fit["beta"])

    current = list(full)
    cur_aic = aic_of(current)
    history = [{"step": "start", "term": "", "aic": cur_aic}]
    while True:
        candidates = []
        for c in current:
            covs = [x for x in current if x != c]
            candidates.append((aic_of(covs), f"- {c}", covs))
        if direction == "both":
            for c in full:
                if c not in current:
                    covs = [x for x in full if x in current or x == c]
                    candidates.append((aic_of(covs), f"+ {c}", covs))
        if not candidates:
            break
        best = min(candidates, key=lambda r: r[0])
        if best[0] >= cur_aic - 1e-12:
            break
        cur_aic, current = best[0], best[2]
        history.append({"step": best[1][0], "term": best[1][2:], "aic": cur_aic})
    if not current:
        raise InputError("stepwise selection removed every covariate (the null model has the lowest AIC); "
                         "there is nothing to report as a Cox model")
    return current, pd.DataFrame(history)


def _null_loglik(cd: _CoxData) -> float:
    return cd.terms(np.zeros(cd.X.shape[1]), need_info=False)["loglik"] if cd.X.shape[1] else \
        _CoxData(cd.t, cd.e, np.zeros((len(cd.t), 1)), cd.ties).terms(np.zeros(1), need_info=False)["loglik"]


@renamed_args(conf_level="level")
def cox(df: pd.DataFrame, duration: str, event: str, covariates: Sequence[str], stepwise: str | None = None,
        ties: str = "efron", level: float = 0.95, engine: str | None = None, firth: bool = False) -> CoxResult:
    """Cox regression report: hazard ratios with CIs and Wald p-values, Harrell's C with CI,
    AIC, likelihood-ratio test and (via ``.ph_test()``) the cox.zph proportional-hazards test.

    ``stepwise="both"`` or ``"backward"`` selects terms by AIC = -2 log L + 2k starting from
    the full model, as ``step(coxph(...))`` (a factor enters or leaves as a whole), the
    procedure of seed 004. HR = exp(b), CI = exp(b +- z se), p = 2 (1 - Phi(|b/se|)).

    Monotone likelihood and exact collinearity raise ConvergenceError on both engines before
    fitting (see :func:`fit_cph`); ``firth=True`` fits Firth's penalised partial likelihood
    (Wald CIs from ``I(b)^-1``, penalised likelihood-ratio test, no AIC, no stepwise).

    Examples
    --------
    >>> lung = pd.read_csv("tests/data/lung.csv").assign(dead=lambda d: d.status - 1)
    >>> res = cox(lung, "time", "dead", ["age", "sex", "ph.ecog"])
    >>> res.summary.round(3)       # R: summary(coxph(Surv(time, status) ~ age + sex + ph.ecog, lung))
    ... # sex HR 0.575 (0.414-0.799), p = 0.000986; ph.ecog HR 1.590 (1.273-1.986); C = 0.637
    """
    if stepwise not in (None, "both", "backward"):
        raise InputError(f"stepwise must be None, 'both' or 'backward', got {stepwise!r}")
    if ties not in ("efron", "breslow"):
        raise InputError(f"ties must be 'efron' or 'breslow', got {ties!r}")
    if isinstance(covariates, str):
        covariates = [covariates]
    if firth and stepwise is not None:
        raise InputError("cox: firth=True with stepwise selection is not available (the AIC of a penalised fit is "
                         "not the one R's step() uses); select on a maximum-likelihood model first")
    sub, t, e, n_excl, design = _cox_prepare(df, duration, event, covariates, "cox (Cox model)", firth=firth)
    eng = resolve_engine(engine)
    steps = None
    selected = list(covariates)
    if stepwise is not None:
        if eng == "r":
            from .. import r_bridge

            rdf = _r_frame(sub, duration, event, design, t, e)
            out = r_bridge.call("h2s_cox_step", rdf, r_bridge.safe_names(len(design.covariates)), ties, stepwise)
            kept = set(_r_unsafe(design, out["selected"]))
            selected = [c for c in covariates if c in kept]
            steps = pd.DataFrame({"step": np.atleast_1d(out["step"]),
                                  "term": [t if t == "" else _r_unsafe(design, [t])[0] for t in np.atleast_1d(out["term"])],
                                  "aic": np.atleast_1d(out["aic"])})
            if not selected:
                raise InputError("stepwise selection removed every covariate (the null model has the lowest AIC)")
        else:
            selected, steps = _stepwise_numpy(sub, t, e, covariates, stepwise, ties)
    zc = sps.norm.ppf(0.5 + level / 2)
    if firth:
        model = _fit_cph_design(sub, t, e, n_excl, design, duration, event, ties, eng, firth=True)
        beta, se = model.params, model.se
        loglik, loglik0 = model.loglik, model.loglik_null
        lp = model.design.matrix(sub) @ beta.to_numpy()
        if eng == "r":
            from .. import r_bridge

            cc = r_bridge.call("h2s_concordance", t, e.astype(float), lp)
            conc_c, conc_var, counts = float(cc["concordance"]), float(cc["var"]), np.asarray(cc["count"], float)
        else:
            cc = _concordance_numpy(t, e, lp)
            conc_c, conc_var, counts = cc["concordance"], cc["var"], cc["count"]
        aic = float("nan")   # not defined for a penalised fit
        model = CoxModel(**{**{f: getattr(model, f) for f in model.__dataclass_fields__}, "n_excluded": n_excl})
    elif eng == "r":
        from .. import r_bridge

        design = _make_design(sub, selected, e)
        rdf = _r_frame(sub, duration, event, design, t, e)
        r_fit = r_bridge.call("h2s_fit_cph", rdf, r_bridge.safe_names(len(design.covariates)), ties, convert=False)
        out = r_bridge.call("h2s_coxph_summary", r_fit)
        names = list(design.columns)
        beta = pd.Series(np.asarray(out["coef"], float), index=names)
        se = pd.Series(np.asarray(out["se"], float), index=names)
        vcov = np.asarray(out["var"], float).reshape(len(names), len(names))
        loglik0, loglik = (float(x) for x in np.asarray(out["loglik"], float))
        data = sub.copy()
        data[duration] = t
        data[event] = e
        model = CoxModel(data=data, duration=duration, event=event, covariates=design.covariates, params=beta,
                         vcov=pd.DataFrame(vcov, index=names, columns=names), loglik=loglik, loglik_null=loglik0,
                         n=len(sub), n_events=int(e.sum()), n_excluded=n_excl, ties=ties, engine="r",
                         r_fit=r_fit, design=design)
        conc_c, conc_var = float(out["concordance"]), float(out["concordance_var"])
        counts = np.asarray(out["count"], float)
        aic = float(out["aic"])
    else:
        design = _make_design(sub, selected, e)   # the full design passed the checks; this is a sub-model
        model = _fit_cph_design(sub, t, e, n_excl, design, duration, event, ties, "python")
        beta, se = model.params, model.se
        loglik, loglik0 = model.loglik, model.loglik_null
        lp = model.design.matrix(sub) @ beta.to_numpy()
        cc = _concordance_numpy(t, e, lp)
        conc_c, conc_var, counts = cc["concordance"], cc["var"], cc["count"]
        aic = -2 * loglik + 2 * len(beta)
        model = CoxModel(**{**{f: getattr(model, f) for f in model.__dataclass_fields__}, "n_excluded": n_excl})
    z = beta / se
    summary = pd.DataFrame({
        "term": beta.index, "covariate": [_term_of(model.design, c) for c in beta.index],
        "coef": beta.to_numpy(), "se": se.to_numpy(), "HR": np.exp(beta.to_numpy()),
        "ci_low": np.exp(beta.to_numpy() - zc * se.to_numpy()), "ci_high": np.exp(beta.to_numpy() + zc * se.to_numpy()),
        "z": z.to_numpy(), "p_value": 2 * sps.norm.sf(np.abs(z.to_numpy())),
        "reference": [_reference_of(model.design, c) for c in beta.index],
    })
    conc_se = math.sqrt(conc_var)
    conc = ConcordanceResult(concordance=conc_c, se=conc_se, ci_low=conc_c - zc * conc_se, ci_high=conc_c + zc * conc_se,
                             concordant=counts[0], discordant=counts[1], tied_x=counts[2], tied_y=counts[3],
                             tied_xy=counts[4], n=len(sub), engine=eng, level=level)
    lr = 2 * (loglik - loglik0)
    return CoxResult(summary=summary, concordance=conc, aic=aic, loglik=loglik, loglik_null=loglik0, lr_statistic=lr,
                     lr_df=len(beta), lr_p_value=float(sps.chi2.sf(lr, len(beta))), n=len(sub),
                     n_events=int(e.sum()), n_excluded=n_excl, covariates=tuple(selected), steps=steps, ties=ties,
                     engine=eng, model=model,
                     method="Cox proportional hazards, Firth's penalised partial likelihood" if firth
                     else "Cox proportional hazards")


def _term_of(design: _Design, column: str) -> str:
    for name, cols in design.terms:
        if column in [design.columns[c] for c in cols]:
            return name
    return column


def _reference_of(design: _Design, column: str) -> str | None:
    term = _term_of(design, column)
    if term in design.levels:
        return str(design.levels[term][0])
    return None


# Helpers the other time-to-event modules use, under public names (no module imports another's
# private names); the definitions above stay where they are
check_time_event = _check_time_event
concordance_counts = _concordance_counts
concordance_numpy = _concordance_numpy
km_ci = _km_ci
km_table = _km_table
r_covariates = _r_covariates
