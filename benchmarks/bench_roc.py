"""ROC benchmarks: her2stats' Python engine vs pROC on the same data, in one process.

Targets (issue 4, tightened by issue 25): paired DeLong at n = 1e6 <= 0.2x pROC's time with Z
identical to 1e-12, next to the floor of the method (two argsorts of the same scores, printed);
bootstrap AUC CI (2,000 replicates, n = 1,000) <= 0.5x pROC. pROC is timed inside R with
system.time (no bridge cost); the Python side is timed end to end through the public functions
(input checks included). Python and R runs alternate (best of ``--repeats``) so a change of load
on a shared machine hits both; the load average is printed.

Run: .venv/bin/python benchmarks/bench_roc.py [--n-delong 1000000] [--repeats 3]
"""
from __future__ import annotations

import argparse
import time

import numpy as np


def _data(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(np.int32)
    s1 = rng.normal(size=n) + 0.8 * y
    s2 = 0.6 * s1 + 0.8 * rng.normal(size=n) + 0.3 * y
    return y, np.round(s1, 3), np.round(s2, 3)   # rounded: ties, as real scores have


def _best_py(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _best_r(code: str, repeats: int) -> float:
    from her2stats import r_bridge

    return min(float(r_bridge.r_eval(f"system.time({code})[['elapsed']]")) for _ in range(repeats))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-delong", type=int, default=1_000_000)
    ap.add_argument("--n-boot-data", type=int, default=1_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    from her2stats import r_bridge
    from her2stats.stats.roc import roc_auc, roc_test

    r_bridge.require("pROC")
    rows = []

    y, s1, s2 = _data(args.n_delong)
    r_bridge.assign("by", y)
    r_bridge.assign("bs1", s1)
    r_bridge.assign("bs2", s2)
    r_code = ("pROC::roc.test(pROC::roc(by, bs1, levels = c(0, 1), direction = '<', quiet = TRUE), "
              "pROC::roc(by, bs2, levels = c(0, 1), direction = '<', quiet = TRUE), method = 'delong')")
    roc_test(y, s1, s2, direction="<", engine="python")  # compiled kernels loaded outside the timings
    t_r = t_py = t_sort = float("inf")
    for _ in range(args.repeats):
        t_r = min(t_r, _best_r(r_code, 1))
        t_py = min(t_py, _best_py(lambda: roc_test(y, s1, s2, direction="<", engine="python"), 1))
        t_sort = min(t_sort, _best_py(lambda: (np.argsort(s1), np.argsort(s2)), 1))
    z_py = roc_test(y, s1, s2, direction="<", engine="python").statistic
    z_r = float(r_bridge.r_eval(f"unname({r_code}$statistic)"))
    rows.append((f"paired DeLong, n={args.n_delong:,}", t_py, t_r, 0.2, abs(z_py - z_r) / abs(z_r)))

    y, s1, _ = _data(args.n_boot_data, seed=1)
    r_bridge.assign("cy", y)
    r_bridge.assign("cs", s1)
    r_code = ("pROC::ci.auc(pROC::roc(cy, cs, levels = c(0, 1), direction = '<', quiet = TRUE), "
              "method = 'bootstrap', boot.n = 2000, progress = 'none')")
    t_r = _best_r(r_code, 1)
    t_py = _best_py(lambda: roc_auc(y, s1, ci="bootstrap", n_boot=2000, seed=1, engine="python"), args.repeats)
    rows.append((f"bootstrap AUC CI, B=2000, n={args.n_boot_data:,}", t_py, t_r, 0.5, float("nan")))

    import os

    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'benchmark':<40} {'python s':>10} {'pROC s':>10} {'ratio':>8} {'target':>8}  ok   rel. diff of Z")
    for name, tp, tr, target, diff in rows:
        ratio = tp / tr
        print(f"{name:<40} {tp:>10.3f} {tr:>10.3f} {ratio:>8.3f} {'<=' + str(target):>8}  "
              f"{'yes' if ratio <= target else 'NO ':<4} {diff:.2e}")
    print(f"floor: np.argsort of the two score vectors (n={args.n_delong:,}) {t_sort:.3f} s = {t_sort / t_r:.3f}x pROC; "
          f"paired DeLong = {rows[0][1] / t_sort:.2f}x the floor")


if __name__ == "__main__":
    main()
