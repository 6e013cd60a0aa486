"""Proportional-odds fit (fit_ordinal) at n=2,400, p=10, 3 classes: Python engine vs rms::orm.

No numeric target in issue 11; this records the cost of the Python engine relative to the R
anchor in the same process, and the coefficient agreement. Run:
    .venv/bin/python benchmarks/bench_ordinal.py [--n 2400] [--reps 5]

The R time is measured inside R (``system.time`` around ``orm``), so data conversion through the
bridge is not charged to rms; the Python time is the whole ``fit_ordinal`` call.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd


def simulate(n: int, p: int = 10, seed: int = 2024) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    lp = X @ np.linspace(-0.6, 0.6, p)
    u = rng.logistic(size=n) + lp
    y = np.digitize(u, [-0.5, 0.7])  # 0 / 1 / 2
    df = pd.DataFrame(X, columns=[f"x{j + 1}" for j in range(p)])
    df["her2_class"] = pd.Categorical(np.array(["zero", "low", "positive"])[y], categories=["zero", "low", "positive"],
                                      ordered=True)
    return df


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2400)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    from her2stats import r_bridge
    from her2stats.stats.ordinal import fit_ordinal

    df = simulate(args.n)
    covs = [c for c in df.columns if c.startswith("x")]
    fit_ordinal(df, covariates=covs, engine="python")  # warm-up
    t = time.perf_counter()
    for _ in range(args.reps):
        mp = fit_ordinal(df, covariates=covs, engine="python")
    py = (time.perf_counter() - t) / args.reps
    mr = fit_ordinal(df, covariates=covs, engine="r")
    r_bridge.r_eval("suppressPackageStartupMessages(library(rms))")
    r_bridge.call("assign", ".h2s_bench_df", df.assign(her2_class=df["her2_class"]), envir=r_bridge.r_eval("globalenv()"))
    formula = "her2_class ~ " + " + ".join(covs)
    r_time = float(r_bridge.r_eval(
        f"system.time(for (i in 1:{args.reps}) rms::orm({formula}, data = .h2s_bench_df, eps = 1e-12, maxit = 50L))"
        "[['elapsed']]")) / args.reps
    diff = float(np.max(np.abs(mp.params.to_numpy() - mr.params.to_numpy())))
    print(f"n={args.n}, p={len(covs)}: python {py * 1000:.1f} ms, rms::orm {r_time * 1000:.1f} ms, "
          f"ratio python/R = {py / r_time:.2f}; max |coef difference| = {diff:.2e}")


if __name__ == "__main__":
    main()
