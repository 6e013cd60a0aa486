"""lrm + calibrate(B=1000) at n=2,400, p=10: Python engine vs rms in the same process.

Target (issue 5): Python time <= 0.2 x rms time, with the bias-corrected curve inside the
Monte-Carlo error of rms's. Run:  .venv/bin/python benchmarks/bench_calibrate.py [--B 1000]

The R time is measured inside R (``system.time`` around ``lrm`` + ``calibrate``), so data
conversion through the bridge is not charged to rms. The Python time includes everything
(fit, 1,000 refits, 2,000 lowess curves); numba's compiled lowess is loaded from its cache
(a first run in a fresh checkout compiles it once, ~5 s, reported separately).
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd


def simulate(n: int = 2400, p: int = 10, seed: int = 2024) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    beta = np.linspace(-0.8, 0.8, p)
    y = (rng.random(n) < 1 / (1 + np.exp(-(-0.5 + X @ beta)))).astype(int)
    df = pd.DataFrame(X, columns=[f"x{j + 1}" for j in range(p)])
    df["y"] = y
    return df


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--B", type=int, default=1000)
    ap.add_argument("--n", type=int, default=2400)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    from her2stats import r_bridge
    from her2stats.stats.calibration import calibrate
    from her2stats.stats.models import fit_lrm
    from her2stats.stats._lowess import lowess

    df = simulate(args.n)
    covs = [c for c in df.columns if c != "y"]
    t0 = time.perf_counter()
    lowess(np.random.rand(50), np.random.rand(50))  # load (or compile) the numba kernel
    t_jit = time.perf_counter() - t0

    # ---- rms (timed inside R)
    r_bridge.assign("h2s_bench_df", df)
    r_code = f"""
      suppressPackageStartupMessages(library(rms))
      set.seed({args.seed})
      h2s_bench_t <- system.time({{
        f <- lrm(y ~ {' + '.join(covs)}, data = h2s_bench_df, x = TRUE, y = TRUE)
        h2s_bench_cal <- calibrate(f, B = {args.B})
      }})[["elapsed"]]
      list(t = h2s_bench_t, predy = h2s_bench_cal[, "predy"], corrected = h2s_bench_cal[, "calibrated.corrected"])
    """
    r_out = r_bridge.r_eval(r_code)
    t_r = float(r_out["t"])

    # ---- Python engine
    for scheduler in (None, "threads"):
        t0 = time.perf_counter()
        m = fit_lrm(df, "y", covs, engine="python")
        c = calibrate(m, n_boot=args.B, seed=args.seed, engine="python", scheduler=scheduler)
        t_py = time.perf_counter() - t0
        ok = ~np.isnan(c.bias_corrected + np.asarray(r_out["corrected"], float))
        diff = c.bias_corrected[ok] - np.asarray(r_out["corrected"], float)[ok]
        z = diff / (np.sqrt(2) * c.optimism_mcse[ok])
        print(f"scheduler={scheduler!s:8} python {t_py:6.2f} s   rms {t_r:6.2f} s   ratio {t_py / t_r:5.3f} "
              f"(target <= 0.2)   max |corrected diff| {np.abs(diff).max():.4f}   max |z| {np.abs(z).max():.2f} "
              f"(MC error: |z| < 4.5 expected)   failed fits py={c.n_failed}")
    print(f"n={args.n}, p={len(covs)}, B={args.B}, cores={os.cpu_count()}, numba kernel load/compile {t_jit:.2f} s")


if __name__ == "__main__":
    main()
