"""Timing of the selection steps against their R anchors, in one process.

Run:  .venv/bin/python benchmarks/bench_selection.py [--quick]

Prints seconds and the ratio python / R (below 1 = faster than R) for
* LASSO-logistic CV path (Python engine vs glmnet::cv.glmnet on the same folds),
* univariate t-tests over seed-000-sized deep feature tables (vs R's t.test in sapply),
and the time of CorrelationFilter on 2,048 ResNet-sized features (no R anchor: caret's
findCorrelation is not installed).
"""
from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd


def timed(fn, repeat=1):
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main(quick: bool = False) -> None:
    from her2stats import r_bridge
    from her2stats.selection import CorrelationFilter, UnivariateFilter, lasso_cv, make_foldid

    r_bridge.require("glmnet")
    r_bridge.r_eval("1")  # start R outside the timings
    rng = np.random.default_rng(0)
    shapes = [(200, 50), (150, 300)] if quick else [(200, 50), (300, 200), (150, 600)]
    print(f"{'step':<34}{'python s':>10}{'R s':>10}{'py/R':>8}")
    for n, p in shapes:
        X = pd.DataFrame(rng.normal(size=(n, p)))
        eta = X.iloc[:, :5].to_numpy() @ np.array([1.0, -0.8, 0.6, 0.4, -0.3])
        y = (rng.uniform(size=n) < 1 / (1 + np.exp(-eta))).astype(int)
        folds = make_foldid(y, 10, 0)
        t_py, res_py = timed(lambda: lasso_cv(X, y, foldid=folds, engine="python"))
        t_r, res_r = timed(lambda: lasso_cv(X, y, foldid=folds, engine="r"))
        same = list(res_py.selected("1se").index) == list(res_r.selected("1se").index)
        print(f"{f'lasso_cv n={n} p={p} (same set: {same})':<34}{t_py:>10.2f}{t_r:>10.2f}{t_py / t_r:>8.2f}")
    n, p = (600, 512) if quick else (2400, 2048)
    X = rng.normal(size=(n, p))
    y = rng.integers(0, 2, n)
    frame = pd.DataFrame(X)
    t_py, _ = timed(lambda: UnivariateFilter(test="t").fit(frame, y), repeat=3)
    r_bridge.assign("h2s_bench_X", X)
    r_bridge.assign("h2s_bench_y", y)
    t_r, _ = timed(lambda: r_bridge.r_eval(
        "sapply(seq_len(ncol(h2s_bench_X)), function(j) t.test(h2s_bench_X[h2s_bench_y == 1, j], "
        "h2s_bench_X[h2s_bench_y == 0, j], var.equal = TRUE)$p.value)"))
    print(f"{f't-tests n={n} p={p}':<34}{t_py:>10.2f}{t_r:>10.2f}{t_py / t_r:>8.2f}")
    t_c, f = timed(lambda: CorrelationFilter(0.8).fit(frame, y))
    print(f"{f'CorrelationFilter n={n} p={p}':<34}{t_c:>10.2f}{'-':>10}{'-':>8}")


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
