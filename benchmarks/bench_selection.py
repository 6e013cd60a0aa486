"""Timing of the selection steps against their R anchors, in one process.

Run:  .venv/bin/python benchmarks/bench_selection.py [--quick] [--repeats 3] [--repeats-big 3] [--tol 1e-7]
      [--kkt-tol 1e-10] [--no-big]

Prints seconds and the ratio python / R (below 1 = faster than R) for
* LASSO-logistic CV path (Python engine vs glmnet::cv.glmnet on the same folds, both at glmnet's
  thresh unless --tol; --kkt-tol times the Python engine's KKT-certified mode instead) at
  n = 200-300, p = 50-600 and at n = 2,400, p = 2,048 (a deep-feature matrix), best of 3 with the
  engines alternating, with whether both engines select the same features at lambda.min and
  lambda.1se, fit paths of the same length, and how far their coefficients and CV curves are
  apart; wall-clock and CPU seconds are both printed (the CPU ratio is the one a busy shared
  machine does not distort: both engines are single-threaded), with the load average;
* the cost of the first call in a fresh process: compiling the numba kernels (empty cache) and
  loading them from the cache (every later process);
* univariate t-tests over seed-000-sized deep feature tables (vs R's t.test in sapply),
and the time of CorrelationFilter on 2,048 ResNet-sized features (no R anchor: caret's
findCorrelation is not installed).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def timed(fn, repeat=1):
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _clock(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - w0, time.process_time() - c0, out


_FIRST_CALL = r"""
import time, numpy as np
from her2stats.selection import lasso_cv
import numba
rng = np.random.default_rng(0)
X = rng.normal(size=(60, 8)); y = (X[:, 0] + rng.normal(size=60) > 0).astype(int)
t0 = time.perf_counter()
lasso_cv(X, y, cv=3, engine="python")
t1 = time.perf_counter()
lasso_cv(X, y, cv=3, engine="python")
print(t1 - t0, time.perf_counter() - t1)
"""


def first_call_times() -> tuple[float, float, float]:
    """(cold: compile, warm: load from cache, a second call) seconds of a tiny lasso_cv in a fresh
    process, imports excluded."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    with tempfile.TemporaryDirectory() as cache:
        out = subprocess.run([sys.executable, "-c", _FIRST_CALL], env=dict(env, NUMBA_CACHE_DIR=cache),
                             capture_output=True, text=True, check=True).stdout.split()
        cold = float(out[0])
        out = subprocess.run([sys.executable, "-c", _FIRST_CALL], env=dict(env, NUMBA_CACHE_DIR=cache),
                             capture_output=True, text=True, check=True).stdout.split()
    return cold, float(out[0]), float(out[1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--repeats-big", type=int, default=3)
    ap.add_argument("--tol", type=float, default=None, help="glmnet's thresh, both engines (default 1e-7)")
    ap.add_argument("--kkt-tol", type=float, default=None, help="time the Python engine's KKT-certified mode")
    ap.add_argument("--no-big", action="store_true", help="skip n = 2,400, p = 2,048 (minutes on R)")
    args = ap.parse_args()
    from her2stats import r_bridge
    from her2stats.selection import CorrelationFilter, UnivariateFilter, lasso_cv, make_foldid

    r_bridge.require("glmnet")
    r_bridge.r_eval("1")  # start R outside the timings
    cold, warm, again = first_call_times()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"first lasso_cv in a fresh process (imports excluded): {cold:.1f} s compiling the kernels (empty "
          f"numba cache), {warm:.2f} s loading them from the cache; a second call {again:.3f} s")
    rng = np.random.default_rng(0)
    shapes = [(200, 50), (150, 300)] if args.quick else [(200, 50), (300, 200), (150, 600)]
    if not args.no_big:
        shapes.append((600, 512) if args.quick else (2400, 2048))
    print(f"{'step':<24}{'py wall':>9}{'R wall':>9}{'py/R':>7}{'py cpu':>9}{'R cpu':>9}{'py/R':>7}  same set, path "
          "length, max |coef diff| / |cvm diff|, load average")
    for n, p in shapes:
        X = pd.DataFrame(rng.normal(size=(n, p)))
        if p >= 1000:
            y = rng.integers(0, 2, n)   # a deep-feature matrix against a noise outcome: long path
        else:
            eta = X.iloc[:, :5].to_numpy() @ np.array([1.0, -0.8, 0.6, 0.4, -0.3])
            y = (rng.uniform(size=n) < 1 / (1 + np.exp(-eta))).astype(int)
        folds = make_foldid(y, 10, 0)
        reps = args.repeats_big if p >= 1000 else args.repeats
        best = {"py": (np.inf, np.inf), "r": (np.inf, np.inf)}
        res = {}
        for _ in range(reps):
            for eng in ("python", "r"):
                kkt = args.kkt_tol if eng == "python" else None
                w, c, res[eng] = _clock(lambda: lasso_cv(X, y, foldid=folds, engine=eng, tol=args.tol, kkt_tol=kkt))
                key = "py" if eng == "python" else "r"
                best[key] = (min(best[key][0], w), min(best[key][1], c))
        a, b = res["python"], res["r"]
        same = all(list(a.selected(rule).index) == list(b.selected(rule).index) for rule in ("min", "1se"))
        (pw, pc), (rw, rc) = best["py"], best["r"]
        if len(a.lambdas) == len(b.lambdas):
            gap = (f"{np.max(np.abs(a.coef.to_numpy() - b.coef.to_numpy())):.1e} / "
                   f"{np.max(np.abs(a.cvm - b.cvm)):.1e}")
        else:
            gap = "-"
        print(f"{f'lasso_cv n={n} p={p}':<24}{pw:>9.2f}{rw:>9.2f}{pw / rw:>7.2f}{pc:>9.2f}{rc:>9.2f}{pc / rc:>7.2f}  "
              f"{'yes' if same else 'NO'}, {len(a.lambdas)} vs {len(b.lambdas)} lambdas, {gap}, "
              f"{os.getloadavg()[0]:.1f}")
    n, p = (600, 512) if args.quick else (2400, 2048)
    X = rng.normal(size=(n, p))
    y = rng.integers(0, 2, n)
    frame = pd.DataFrame(X)
    t_py, _ = timed(lambda: UnivariateFilter(test="t").fit(frame, y), repeat=3)
    r_bridge.assign("h2s_bench_X", X)
    r_bridge.assign("h2s_bench_y", y)
    t_r, _ = timed(lambda: r_bridge.r_eval(
        "sapply(seq_len(ncol(h2s_bench_X)), function(j) t.test(h2s_bench_X[h2s_bench_y == 1, j], "
        "h2s_bench_X[h2s_bench_y == 0, j], var.equal = TRUE)$p.value)"))
    print(f"{f't-tests n={n} p={p}':<24}{t_py:>9.2f}{t_r:>9.2f}{t_py / t_r:>7.2f}")
    t_c, f = timed(lambda: CorrelationFilter(0.8).fit(frame, y))
    print(f"{f'CorrelationFilter n={n} p={p}':<24}{t_c:>9.2f}{'-':>9}{'-':>7}")


if __name__ == "__main__":
    main()
