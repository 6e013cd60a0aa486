"""Dask scaling of the whole-pipeline bootstrap: 200 refits of the demo pipeline.

The pipeline is the demo study's development chain (univariate t-test screen -> correlation
filter -> LASSO with 5-fold CV -> Deep Score logistic model) on the demo cohort's clinical and
imaging-descriptor table (``her2stats.load_demo()``, one-hot coded, levels held by fewer than 20
patients left out), so it needs no image features. Prints the in-process time, the 1-worker and
2-worker times on :func:`her2stats.schedulers.local_cluster`, and the ratios: 2 workers vs 1 (target >= 1.7x) and 1 worker vs in-process (target within 10%). The
in-process run is limited to one BLAS/OpenMP thread, as Dask workers are (distributed sets
OMP/MKL/OPENBLAS_NUM_THREADS=1), so the comparison is of schedulers, not of thread counts. Results
are checked to be bit-identical across the three runs. Best of ``--repeats`` runs per setting,
the in-process anchor interleaved with the 1-worker runs; the load average is printed before and
after, since other processes on the machine distort the ratios.

    python benchmarks/bench_pipeline_bootstrap.py [--n-boot 200] [--repeats 3]
"""
from __future__ import annotations

import argparse
import logging
import os
import time
import warnings

import numpy as np
import pandas as pd

NUM = ["age", "ki67", "tumor_size_mm", "adc"]
CAT = ["menopause", "er", "pr", "hr", "grade", "histology", "t_stage", "n_stage", "birads_shape", "birads_margin",
       "echo_pattern", "enhancement_pattern", "t2_signal"]


def demo_design() -> tuple[pd.DataFrame, np.ndarray]:
    import her2stats as h2

    df = h2.load_demo()
    X = pd.get_dummies(df[NUM + CAT], columns=CAT, drop_first=True, dtype=float)
    # levels held by fewer than 20 patients are left out (they separate the outcome in resamples)
    dummies = [c for c in X.columns if c not in NUM]
    rare = [c for c in dummies if min(X[c].sum(), len(X) - X[c].sum()) < 20]
    X = X.drop(columns=rare)
    X.index = df["patient_id"].astype(str)
    return X, df["her2_positive"].astype(int).to_numpy()


def demo_pipeline():
    from sklearn.pipeline import Pipeline

    from her2stats.models import DeepScore
    from her2stats.selection import CorrelationFilter, LassoSelector, UnivariateFilter

    return Pipeline([("univariate", UnivariateFilter(test="t", alpha=0.05)),
                     ("correlation", CorrelationFilter(threshold=0.8)),
                     ("lasso", LassoSelector(cv=5, lambda_rule="1se", engine="python", seed=1)),
                     ("deepscore", DeepScore())])


def _worker_cpu(client) -> float:
    """CPU seconds used so far by all worker processes."""
    return float(sum(client.run(time.process_time).values()))


def main() -> None:
    from dask.distributed import Client
    from threadpoolctl import threadpool_limits

    from her2stats.schedulers import local_cluster
    from her2stats.stats.pipeline_validation import pipeline_bootstrap

    ap = argparse.ArgumentParser()
    ap.add_argument("--n-boot", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3, help="best of this many runs per setting")
    args = ap.parse_args()
    X, y = demo_design()
    warnings.simplefilter("ignore", UserWarning)  # failed refits (separation) are counted in the result
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    times = {"in-process": float("inf"), 1: float("inf"), 2: float("inf")}
    cpu: dict = {}

    def in_process():
        with threadpool_limits(1):
            t0, c0 = time.perf_counter(), time.process_time()
            out = pipeline_bootstrap(demo_pipeline(), X, y, n_boot=args.n_boot, seed=1)
            wall = time.perf_counter() - t0
        if wall < times["in-process"]:
            times["in-process"], cpu["in-process"] = wall, time.process_time() - c0
        return out

    with threadpool_limits(1):
        pipeline_bootstrap(demo_pipeline(), X, y, n_boot=2, seed=0)  # warm-up (numba, imports)
    ref = None
    for workers in (1, 2):
        with local_cluster(n_workers=workers, silence_logs=logging.ERROR) as c, Client(c) as client:
            pipeline_bootstrap(demo_pipeline(), X, y, n_boot=2, seed=0, scheduler=client)  # warm the workers
            for _ in range(args.repeats):
                if workers == 1:  # the anchor interleaved with the 1-worker runs: a load change hits both
                    ref = in_process()
                w0, t0, c0 = _worker_cpu(client), time.perf_counter(), time.process_time()
                got = pipeline_bootstrap(demo_pipeline(), X, y, n_boot=args.n_boot, seed=1, scheduler=client)
                wall = time.perf_counter() - t0
                if wall < times[workers]:
                    times[workers] = wall
                    cpu[workers] = (_worker_cpu(client) - w0, time.process_time() - c0)
        assert np.array_equal(got.predictions, ref.predictions), "predictions differ between schedulers"
        pd.testing.assert_frame_equal(got.to_frame(), ref.to_frame(), check_exact=True)
    print(f"best of {args.repeats} runs per setting, on her2stats.schedulers.local_cluster")
    print(f"whole-pipeline bootstrap, {args.n_boot} refits of {' -> '.join(n for n, _ in demo_pipeline().steps)}, "
          f"n={len(y)}, {X.shape[1]} candidate features ({ref.n_failed} refits failed, counted)")
    print(f"  in-process          {times['in-process']:7.2f} s")
    print(f"  dask, 1 worker      {times[1]:7.2f} s   vs in-process: {100 * (times[1] / times['in-process'] - 1):+.1f}% "
          "(target within 10%)")
    print(f"  dask, 2 workers     {times[2]:7.2f} s   speed-up over 1 worker: {times[1] / times[2]:.2f}x (target >= 1.7x)")
    print(f"  CPU seconds (less sensitive to other load): in-process {cpu['in-process']:.1f}; 1 worker "
          f"{cpu[1][0]:.1f} in the worker + {cpu[1][1]:.1f} in the client/scheduler process "
          f"({100 * (sum(cpu[1]) / cpu['in-process'] - 1):+.1f}%); 2 workers {cpu[2][0]:.1f} + {cpu[2][1]:.1f}")
    print("  results bit-identical across schedulers: yes")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
