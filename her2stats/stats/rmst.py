"""Restricted mean survival time (RMST) per group, with differences and ratios between groups.

``engine="r"`` takes each group's RMST and standard error from ``survival``
(``summary(survfit(...), rmean = tau)$table``) and forms the contrasts in R from Uno et al.'s
(2014) formulas; ``engine="python"`` computes everything here from the Kaplan-Meier estimate.
The tests hold the two to 1e-9 and check the RMST and its SE against ``survival`` on
``survival::lung`` and the pbc trial data (survRM2's example).

References
----------
Irwin JO (1949) J Hyg 47:188. Royston P, Parmar MKB (2013) BMC Med Res Methodol 13:152.
Uno H, Claggett B, Tian L et al. (2014) Moving beyond the hazard ratio in quantifying the
between-group difference in survival analysis. J Clin Oncol 32:2380-2385 (survRM2).
Therneau TM, ``survival`` 3.5 (``survmean``: the restricted mean and its standard error).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from ..engine import resolve_engine
from ..errors import InputError, find_stack_level
from ..results import Result
from . import _core, _survdata, _tte
from ._core import z_value

__all__ = ["rmst", "RMSTResult"]


def _rmst_numpy(t: np.ndarray, e: np.ndarray, tau: float) -> tuple[float, float]:
    """RMST = integral_0^tau S(t) dt of the Kaplan-Meier step function, and its variance
    ``sum_{t_j <= tau} A_j^2 d_j / (n_j (n_j - d_j))`` with ``A_j = integral_{t_j}^tau S`` (the
    Greenwood plug-in; 0 where ``n_j = d_j``), as ``survival``'s ``survmean`` and survRM2."""
    times, inv = np.unique(t, return_inverse=True)
    d = np.bincount(inv, weights=e, minlength=len(times))
    tot = np.bincount(inv, minlength=len(times)).astype(float)
    n = len(t) - np.concatenate([[0.0], np.cumsum(tot)[:-1]])
    surv = np.cumprod(1 - d / n)
    keep = times <= tau
    tt = np.append(times[keep], tau)
    ss = np.append(surv[keep], surv[keep][-1] if keep.any() else 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        hh = np.where(n[keep] - d[keep] == 0, 0.0, d[keep] / (n[keep] * (n[keep] - d[keep])))
    rect = np.diff(np.concatenate([[0.0], tt])) * np.concatenate([[1.0], ss[:-1]])
    area_after = np.cumsum(rect[1:][::-1])[::-1]          # integral from t_j to tau, t_j <= tau
    var = float(np.sum(area_after ** 2 * hh))
    return float(rect.sum()), var


@dataclass(frozen=True, repr=False)
class RMSTResult(Result):
    """RMST (and restricted mean time lost, RMTL = tau - RMST) per group, and contrasts of each
    group with the reference: RMST difference, RMST ratio, RMTL ratio (Uno et al. 2014)."""

    groups: pd.DataFrame       # group, n, events, rmst, se, ci_low, ci_high, rmtl, rmtl_ci_low, rmtl_ci_high
    contrasts: pd.DataFrame    # contrast, group, reference, estimate, se, ci_low, ci_high, p_value
    tau: float
    tau_source: str            # "given" or "default: smallest of the groups' largest follow-up times"
    level: float
    reference: Any
    group: str | None
    duration: str
    event: str
    n: int
    n_excluded: int
    engine: str
    km: pd.DataFrame           # group, time, survival (Kaplan-Meier steps, for plotting)
    method: str = "RMST (Kaplan-Meier area, Greenwood plug-in SE; Uno et al. 2014 contrasts)"

    def to_frame(self) -> pd.DataFrame:
        g = self.groups.assign(quantity="RMST").rename(columns={"rmst": "estimate"})
        g = g[["quantity", "group", "estimate", "se", "ci_low", "ci_high"]]
        c = self.contrasts.rename(columns={"contrast": "quantity"})
        c = c.assign(group=c["group"].astype(str) + " vs " + c["reference"].astype(str))
        out = pd.concat([g, c[["quantity", "group", "estimate", "se", "ci_low", "ci_high", "p_value"]]],
                        ignore_index=True)
        out.insert(0, "tau", self.tau)
        return out

    def plot(self, ax: Any = None, xlabel: str = "Time", ylabel: str = "Survival probability") -> Any:
        """Kaplan-Meier curves with the area up to tau (the RMST) shaded; tau marked."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6.5, 4))
        colors = plt.rcParams["axes.prop_cycle"].by_key().get("color", ["C0", "C1"])
        for i, (g, tab) in enumerate(self.km.groupby("group", sort=False, dropna=False)):
            x = np.concatenate([[0.0], tab["time"].to_numpy()])
            y = np.concatenate([[1.0], tab["survival"].to_numpy()])
            c = colors[i % len(colors)]
            row = self.groups.iloc[i]
            lab = (f"{self.group}={g}: " if self.group else "") + f"RMST {row['rmst']:.3g}"
            ax.step(x, y, where="post", color=c, label=lab)
            inside = x <= self.tau
            xs = np.append(x[inside], self.tau)
            ys = np.append(y[inside], y[inside][-1])
            ax.fill_between(xs, 0, ys, step="post", color=c, alpha=0.12, linewidth=0)
        ax.axvline(self.tau, color="grey", linestyle="--", linewidth=0.8)
        ax.text(self.tau, 1.01, f" tau = {self.tau:g}", fontsize=8, va="bottom")
        ax.set_ylim(0, 1.05)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.legend(loc="lower left", frameon=False, fontsize=8)
        return ax


def rmst(df: pd.DataFrame, duration: str, event: str, group: str | None = None, tau: float | None = None,
         level: float = 0.95, reference: Any = None, engine: str | None = None) -> RMSTResult:
    """Restricted mean survival time up to ``tau`` per group, with difference and ratio CIs.

    ``RMST(tau) = integral_0^tau S(t) dt`` of each group's Kaplan-Meier curve; its variance is
    ``sum_{t_j <= tau} (integral_{t_j}^tau S)^2 d_j / (n_j (n_j - d_j))`` (``survival``'s
    ``print(survfit, rmean = tau)`` and survRM2). The CI is ``RMST +- z se``. Every other group is
    contrasted with ``reference`` (default: the first level) as in Uno et al. (2014):

    * difference ``RMST_g - RMST_ref``, se ``sqrt(v_g + v_ref)``, Wald CI and p;
    * ratio ``RMST_g / RMST_ref``, CI ``exp(log ratio +- z sqrt(v_g/RMST_g^2 + v_ref/RMST_ref^2))``;
    * RMTL ratio, the same on the restricted mean time lost ``tau - RMST``.

    ``tau`` defaults to the smallest of the groups' largest follow-up times (announced with a
    warning), the longest horizon over which every group's curve is estimated; a ``tau`` beyond
    it is refused. Rows with missing values are dropped with a warning naming the columns.

    Examples
    --------
    >>> lung = pd.read_csv("tests/data/lung.csv").assign(dead=lambda d: d.status - 1)
    >>> rmst(lung, "time", "dead", group="sex", tau=365).groups[["group", "rmst", "se"]]
    ... # R: print(survfit(Surv(time, status) ~ sex, lung), rmean = 365)
    """
    level = _core.check_level(level)
    cols = [duration, event] + ([group] if group is not None else [])
    sub, n_drop = _survdata.complete_cases(df, cols, "rmst")
    t = _survdata.durations(sub[duration], duration, "rmst", sub.index)
    e = _survdata.binary_events(sub[event], event, "rmst")
    if group is not None:
        codes, levels = _survdata.group_codes(sub[group], group, "rmst")
    else:
        codes, levels = np.zeros(len(t), dtype=int), [None]
    if reference is not None and group is None:
        raise InputError("rmst: reference needs a group column")
    if reference is None:
        ref = 0
    else:
        hits = [i for i, lv in enumerate(levels) if lv == reference or str(lv) == str(reference)]
        if not hits:
            raise InputError(f"rmst: reference {reference!r} is not a level of group column '{group}' "
                             f"(levels: {[str(v) for v in levels]})")
        ref = hits[0]
    last = {lv: float(t[codes == i].max()) for i, lv in enumerate(levels)}
    limit = min(last.values())
    short = min(last, key=last.get)
    if tau is None:
        tau_val, source = limit, "default: smallest of the groups' largest follow-up times"
        where = f" (group '{short}')" if group is not None else ""
        warnings.warn(f"rmst: tau not given; using tau = {limit:g}, the largest follow-up time{where} that every group "
                      "reaches. Pass tau= to fix the horizon in advance.", UserWarning, stacklevel=find_stack_level())
    else:
        try:
            tau_val = float(tau)
        except (TypeError, ValueError):
            raise InputError(f"rmst: tau must be a number, got {tau!r}") from None
        if not np.isfinite(tau_val) or tau_val <= 0:
            raise InputError(f"rmst: tau must be a positive finite time, got {tau!r}")
        if tau_val > limit:
            who = f"group '{short}' of '{group}'" if group is not None else "the data"
            raise InputError(f"rmst: tau = {tau_val:g} is beyond the data: follow-up in {who} ends at {limit:g}, so its "
                             f"survival curve is unknown after that. Choose tau <= {limit:g}.")
        source = "given"
    eng = resolve_engine(engine)
    z = z_value(level)
    if eng == "r":
        from .. import r_bridge

        r_bridge.require("survival")
        out = r_bridge.call("h2s_rmst", time=t, event=e.astype(int), group=codes.astype(int) + 1, tau=tau_val,
                            reference=int(ref) + 1, level=level)
        est = np.atleast_1d(np.asarray(out["rmst"], dtype=float))
        var = np.atleast_1d(np.asarray(out["se"], dtype=float)) ** 2
        con = out.get("contrasts")
    else:
        est, var = np.empty(len(levels)), np.empty(len(levels))
        for i in range(len(levels)):
            est[i], var[i] = _rmst_numpy(t[codes == i], e[codes == i], tau_val)
        con = None
    se = np.sqrt(var)
    rmtl = tau_val - est
    groups = pd.DataFrame({
        "group": levels, "n": np.bincount(codes, minlength=len(levels)),
        "events": np.bincount(codes, weights=e, minlength=len(levels)).astype(int), "rmst": est, "se": se,
        "ci_low": est - z * se, "ci_high": est + z * se, "rmtl": rmtl, "rmtl_ci_low": rmtl - z * se,
        "rmtl_ci_high": rmtl + z * se})
    rows = []
    if eng == "python":
        for i in range(len(levels)):
            if i == ref:
                continue
            d = est[i] - est[ref]
            sd = np.sqrt(var[i] + var[ref])
            lr = np.log(est[i] / est[ref])
            slr = np.sqrt(var[i] / est[i] ** 2 + var[ref] / est[ref] ** 2)
            with np.errstate(divide="ignore", invalid="ignore"):
                ll = np.log(rmtl[i] / rmtl[ref])
                sll = np.sqrt(var[i] / rmtl[i] ** 2 + var[ref] / rmtl[ref] ** 2)
            for name, val, s_, lo, hi, p in (
                    ("RMST difference", d, sd, d - z * sd, d + z * sd, 2 * sps.norm.sf(abs(d) / sd)),
                    ("RMST ratio", np.exp(lr), slr, np.exp(lr - z * slr), np.exp(lr + z * slr),
                     2 * sps.norm.sf(abs(lr) / slr)),
                    ("RMTL ratio", np.exp(ll), sll, np.exp(ll - z * sll), np.exp(ll + z * sll),
                     2 * sps.norm.sf(abs(ll) / sll))):
                rows.append({"contrast": name, "group": levels[i], "reference": levels[ref], "estimate": val,
                             "se": s_, "ci_low": lo, "ci_high": hi, "p_value": p})
    elif con is not None:
        c = pd.DataFrame(con)
        names = {1: "RMST difference", 2: "RMST ratio", 3: "RMTL ratio"}
        for _, r in c.iterrows():
            rows.append({"contrast": names[int(r["kind"])], "group": levels[int(r["group"]) - 1],
                         "reference": levels[ref], "estimate": r["estimate"], "se": r["se"], "ci_low": r["ci_low"],
                         "ci_high": r["ci_high"], "p_value": r["p_value"]})
    contrasts = pd.DataFrame(rows, columns=["contrast", "group", "reference", "estimate", "se", "ci_low", "ci_high",
                                            "p_value"])
    km_parts = []
    for i, lv in enumerate(levels):
        times, surv = _tte.km_step(t[codes == i], e[codes == i].astype(float))
        km_parts.append(pd.DataFrame({"group": [lv] * len(times), "time": times, "survival": surv}))
    return RMSTResult(groups=groups, contrasts=contrasts, tau=tau_val, tau_source=source, level=level,
                      reference=levels[ref] if group is not None else None, group=group, duration=duration,
                      event=event, n=len(t), n_excluded=n_drop, engine=eng, km=pd.concat(km_parts, ignore_index=True))
