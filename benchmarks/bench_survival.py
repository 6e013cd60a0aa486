"""Survival / DCA timings: Python engine vs R in the same process (ratios < 1 = Python faster).

    .venv/bin/python benchmarks/bench_survival.py [--n 2400 100000] [--p 10] [--repeats 3]

Simulated Cox data (n patients, p numeric covariates, ~60% events, tied times); for every
procedure the Python engine and the R engine (through the bridge, as users call it) alternate,
best of ``--repeats`` after a warm-up call (R start-up and the loading of compiled kernels
excluded). The Cox fits are also compared with ``survival::coxph`` and the concordances with
``survival::concordance`` run inside R on data already there (``system.time``, no bridge cost):
the strict anchors of issue 25. Both engines' Cox functions run the same fit checks (rank,
monotone likelihood) in Python before fitting. The load average is printed.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd

from her2stats.stats.dca import decision_curve
from her2stats.stats.survival import concordance_index, cox, fit_cph, kaplan_meier, logrank_test
from her2stats.stats.survival_metrics import time_dependent_auc, uno_concordance


def _once(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _interleaved(fn_py, fn_r, repeats: int) -> tuple[float, float]:
    fn_py()
    fn_r()
    tp = tr = float("inf")
    for _ in range(repeats):
        tp = min(tp, _once(fn_py))
        tr = min(tr, _once(fn_r))
    return tp, tr


def _r_time(code: str) -> float:
    from her2stats import r_bridge

    return float(r_bridge.r_eval(f"system.time({code})[['elapsed']]"))


def run(n: int, p: int, repeats: int, slow_extras: bool) -> None:
    from her2stats import r_bridge

    rng = np.random.default_rng(1)
    X = rng.normal(size=(n, p))
    lp = X @ rng.normal(0, 0.3, p)
    t_event = rng.exponential(np.exp(-lp))
    t_cens = rng.exponential(np.median(t_event) * 2.5, n)
    df = pd.DataFrame(X, columns=[f"x{i}" for i in range(p)])
    df["time"] = np.round(np.minimum(t_event, t_cens) * 365) + 1.0
    df["event"] = (t_event <= t_cens).astype(int)
    df["grp"] = rng.integers(0, 3, n)
    covs = [f"x{i}" for i in range(p)]
    r_bridge.require("survival")
    r_bridge.assign("h2s_bt", df["time"].to_numpy())
    r_bridge.assign("h2s_be", df["event"].to_numpy().astype(float))
    r_bridge.assign("h2s_bX", X)
    r_bridge.assign("h2s_blp", lp)
    cases = {
        "fit_cph efron": lambda e: fit_cph(df, "time", "event", covs, engine=e),
        "fit_cph breslow": lambda e: fit_cph(df, "time", "event", covs, ties="breslow", engine=e),
        "cox (fit + C + summary)": lambda e: cox(df, "time", "event", covs, engine=e),
        "kaplan_meier 3 groups": lambda e: kaplan_meier(df, "time", "event", "grp", engine=e),
        "logrank 3 groups": lambda e: logrank_test(df, "time", "event", "grp", engine=e),
        "concordance_index": lambda e: concordance_index(df["time"], df["event"], lp, engine=e),
        "time_dependent_auc x3": lambda e: time_dependent_auc(df["time"], df["event"], lp, [100, 200, 300], engine=e),
        "uno_c": lambda e: uno_concordance(df["time"], df["event"], lp, engine=e),
        "decision_curve 99 thr": lambda e: decision_curve(df["event"], {"m": 1 / (1 + np.exp(-lp))}, engine=e),
    }
    pure_r = {  # the same computation inside R, data already there
        "fit_cph efron": "survival::coxph(survival::Surv(h2s_bt, h2s_be) ~ h2s_bX, ties = 'efron')",
        "fit_cph breslow": "survival::coxph(survival::Surv(h2s_bt, h2s_be) ~ h2s_bX, ties = 'breslow')",
        "cox (fit + C + summary)": "local({f <- survival::coxph(survival::Surv(h2s_bt, h2s_be) ~ h2s_bX); "
                                   "s <- summary(f); survival::concordance(f); stats::AIC(f)})",
        "concordance_index": "survival::concordance(survival::Surv(h2s_bt, h2s_be) ~ h2s_blp, reverse = TRUE)",
        "uno_c": "survival::concordance(survival::Surv(h2s_bt, h2s_be) ~ h2s_blp, reverse = TRUE, timewt = 'n/G2')",
    }
    print(f"n={n:,}, p={p}, events={int(df['event'].sum()):,}; load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores; best of {repeats}")
    print(f"{'procedure':28s} {'python s':>9s} {'R eng. s':>9s} {'ratio':>7s} {'R alone s':>10s} {'ratio':>7s}")
    for name, fn in cases.items():
        tp, tr = _interleaved(lambda: fn("python"), lambda: fn("r"), repeats)
        extra = ""
        if name in pure_r:
            ta = min(_r_time(pure_r[name]) for _ in range(repeats))
            extra = f" {ta:10.4f} {tp / max(ta, 1e-3):7.2f}"
        print(f"{name:28s} {tp:9.4f} {tr:9.4f} {tp / tr:7.2f}{extra}")
    if slow_extras:
        t0 = time.perf_counter()
        decision_curve(df["event"], {"m": 1 / (1 + np.exp(-lp))}, n_boot=1000, seed=1, engine="python")
        print(f"decision_curve n_boot=1000 (python only): {time.perf_counter() - t0:.2f} s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, nargs="+", default=[2400, 100_000])
    ap.add_argument("--p", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    for n in args.n:
        run(n, args.p, args.repeats, slow_extras=n <= 10_000)
        print()


if __name__ == "__main__":
    main()
