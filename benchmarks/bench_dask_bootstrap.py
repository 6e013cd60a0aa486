"""Dask scaling of a 10,000-replicate bootstrap (AUC, n = 5,000; about 5 s in process).

Prints: in-process time; 1-worker and 2-worker times on :func:`her2stats.schedulers.local_cluster`
(Dask's LocalCluster without the nanny's ``MALLOC_TRIM_THRESHOLD_``, which slows numpy's large
temporaries in the workers); the speed-up of 2 workers over
1 and the overhead with 1 worker (goal <= 10%), split into the scheduler's share (wall time over
the summed compute time of the tasks) and the worker computing slower than the driver. Results
are checked to be bit-identical.

Each setting is timed ``--repeats`` times, the in-process anchor interleaved with the cluster
runs (so a change of load on a shared machine hits both), and the best run kept. The load
average is printed: the speed-up cannot exceed the number of free cores.

Run: .venv/bin/python benchmarks/bench_dask_bootstrap.py [--repeats 3] [--n-boot 10000]
"""
from __future__ import annotations

import argparse
import logging
import os
import time

import numpy as np
from scipy.stats import rankdata

from her2stats.resampling import run_replicates


def auc_boot(y, s):
    def fn(rng, n):
        out = np.empty(n)
        for b in range(n):
            idx = rng.integers(0, len(y), size=len(y))
            yy, ss = y[idx], s[idx]
            n1 = yy.sum()
            r = rankdata(ss)
            out[b] = (r[yy == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * (len(yy) - n1))
        return out

    return fn


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--n-boot", type=int, default=10000, help="bootstrap replicates (100 per chunk)")
    args = ap.parse_args()
    from dask.distributed import Client, get_task_stream

    from her2stats.schedulers import local_cluster

    logging.getLogger("distributed").setLevel(logging.ERROR)
    rng = np.random.default_rng(1)
    n = 5000  # a job of a few seconds: the overhead goal is about real work, not start-up
    y = rng.integers(0, 2, n)
    s = y * 0.7 + rng.normal(size=n)
    fn = auc_boot(y, s)
    B = args.n_boot
    load0 = os.getloadavg()[0]
    ref = run_replicates(fn, B, seed=5, chunk_size=100)
    t_seq = float("inf")
    times, compute = {}, {}
    for workers in (1, 2):
        with local_cluster(n_workers=workers, silence_logs=logging.ERROR) as c, Client(c) as client:
            run_replicates(fn, 100, seed=0, scheduler=client)  # warm-up: ship the function once
            times[workers] = compute[workers] = float("inf")
            for _ in range(args.repeats):
                if workers == 1:
                    t0 = time.perf_counter()
                    run_replicates(fn, B, seed=5, chunk_size=100)
                    t_seq = min(t_seq, time.perf_counter() - t0)
                with get_task_stream(client=client) as stream:
                    t0 = time.perf_counter()
                    got = run_replicates(fn, B, seed=5, chunk_size=100, scheduler=client)
                    wall = time.perf_counter() - t0
                if wall < times[workers]:
                    times[workers] = wall
                    compute[workers] = sum(x["stop"] - x["start"] for d in stream.data for x in d["startstops"]
                                           if x["action"] == "compute")
            assert np.array_equal(got, ref), "results differ between schedulers"
    print(f"bootstrap AUC, B={B}, n={len(y)}; best of {args.repeats}; load average {load0:.1f} -> "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"  in-process          {t_seq:7.2f} s")
    print(f"  dask, 1 worker      {times[1]:7.2f} s   overhead vs in-process: {100 * (times[1] / t_seq - 1):+.1f}% "
          f"(goal <= 10%): scheduler {100 * (times[1] / compute[1] - 1):+.1f}%, worker compute "
          f"{100 * (compute[1] / t_seq - 1):+.1f}%")
    print(f"  dask, 2 workers     {times[2]:7.2f} s   speed-up over 1 worker: {times[1] / times[2]:.2f}x (goal >= 1.7x)")
    print("  results bit-identical across schedulers: yes")


if __name__ == "__main__":
    main()
