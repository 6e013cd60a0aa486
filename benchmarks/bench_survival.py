"""Survival / DCA timings: Python engine vs R engine in the same process (ratios < 1 = Python faster).

    .venv/bin/python benchmarks/bench_survival.py [--n 2400] [--p 10]

Simulated Cox data (n patients, p numeric covariates, ~70% events); each timing is the best of 3
after a warm-up call (R start-up excluded).
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from her2stats.stats.dca import decision_curve
from her2stats.stats.survival import concordance_index, cox, fit_cph, kaplan_meier, logrank_test
from her2stats.stats.survival_metrics import time_dependent_auc, uno_concordance


def best_of(fn, k: int = 3) -> float:
    fn()
    times = []
    for _ in range(k):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2400)
    ap.add_argument("--p", type=int, default=10)
    args = ap.parse_args()
    rng = np.random.default_rng(1)
    X = rng.normal(size=(args.n, args.p))
    lp = X @ rng.normal(0, 0.3, args.p)
    t_event = rng.exponential(np.exp(-lp))
    t_cens = rng.exponential(np.median(t_event) * 2.5, args.n)
    df = pd.DataFrame(X, columns=[f"x{i}" for i in range(args.p)])
    df["time"] = np.round(np.minimum(t_event, t_cens) * 365) + 1.0
    df["event"] = (t_event <= t_cens).astype(int)
    df["grp"] = rng.integers(0, 3, args.n)
    covs = [f"x{i}" for i in range(args.p)]
    cases = {
        "fit_cph": lambda e: fit_cph(df, "time", "event", covs, engine=e),
        "cox (fit + C + summary)": lambda e: cox(df, "time", "event", covs, engine=e),
        "kaplan_meier 3 groups": lambda e: kaplan_meier(df, "time", "event", "grp", engine=e),
        "logrank 3 groups": lambda e: logrank_test(df, "time", "event", "grp", engine=e),
        "concordance_index": lambda e: concordance_index(df["time"], df["event"], lp, engine=e),
        "time_dependent_auc x3": lambda e: time_dependent_auc(df["time"], df["event"], lp, [100, 200, 300], engine=e),
        "uno_c": lambda e: uno_concordance(df["time"], df["event"], lp, engine=e),
        "decision_curve 99 thr": lambda e: decision_curve(df["event"], {"m": 1 / (1 + np.exp(-lp))}, engine=e),
    }
    print(f"n={args.n}, p={args.p}, events={int(df['event'].sum())}")
    print(f"{'procedure':28s} {'python s':>9s} {'R s':>9s} {'ratio':>7s}")
    for name, fn in cases.items():
        tp = best_of(lambda: fn("python"))
        tr = best_of(lambda: fn("r"))
        print(f"{name:28s} {tp:9.4f} {tr:9.4f} {tp / tr:7.2f}")
    t0 = time.perf_counter()
    decision_curve(df["event"], {"m": 1 / (1 + np.exp(-lp))}, n_boot=1000, seed=1, engine="python")
    print(f"decision_curve n_boot=1000 (python only): {time.perf_counter() - t0:.2f} s")


if __name__ == "__main__":
    main()
