"""Internal-external cross-validation of the demo pipeline over its 3 centres on Dask (issue 22,
item 7; issue 16).

``--pipeline demo`` (default): the demo study's development chain (univariate t-test screen ->
correlation filter -> LASSO 5-fold CV -> Deep Score) on the demo cohort's clinical and
imaging-descriptor design of ``bench_pipeline_bootstrap.py``. ``--pipeline clinical``: clinical
variables (imputation, scaling, one-hot coding), LASSO (10-fold inner CV) and a logistic
regression. Either is refitted in each of the 3 leave-one-centre-out folds; then per-centre
validation, the ICI bootstrap (``--n-boot``) and random-effects pooling.

Prints, from one run: the load average before and after; in-process time; 1-worker and 2-worker
LocalCluster times (best of ``--repeats``); the overhead of 1 worker over in-process (target
within 10%) and the speed-up of 2 workers over 1 (3 folds on 2 workers: at most 1.5x for the fold
fits). The in-process run is limited to one BLAS/OpenMP thread, as Dask workers are (distributed
sets OMP/MKL/OPENBLAS_NUM_THREADS=1), so the comparison is of schedulers, not of thread counts.
Results are checked to be identical across schedulers.

    python benchmarks/bench_iecv.py [--pipeline demo|clinical] [--repeats 3] [--n-boot 500]
"""
from __future__ import annotations

import logging
import time
import warnings

import numpy as np


def make_pipeline():
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from her2stats.selection import LassoSelector

    pre = ColumnTransformer(
        [("num", Pipeline([("impute", SimpleImputer()), ("scale", StandardScaler())]), NUMERIC),
         ("cat", OneHotEncoder(drop="first", handle_unknown="ignore", sparse_output=False), CATEGORICAL)],
        verbose_feature_names_out=False).set_output(transform="pandas")
    return Pipeline([("pre", pre), ("lasso", LassoSelector(cv=10, lambda_rule="min", engine="python", seed=1)),
                     ("model", LogisticRegression(C=1e4, max_iter=5000))])


NUMERIC = ["age", "ki67", "tumor_size_mm", "adc"]
CATEGORICAL = ["menopause", "er", "pr", "grade", "histology", "t_stage", "n_stage", "birads_shape",
               "birads_margin", "enhancement_pattern", "t2_signal"]


def demo_data():
    """(data, features, pipeline factory) of ``--pipeline demo``: the design of
    bench_pipeline_bootstrap.py with the outcome and the centre."""
    import sys
    from pathlib import Path

    import her2stats as h2

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_pipeline_bootstrap import demo_design, demo_pipeline

    X, y = demo_design()
    df = h2.load_demo()
    data = X.assign(her2_positive=y, center=df["center"].astype(str).to_numpy())
    return data, list(X.columns), demo_pipeline


def run(df, features, factory, n_boot, scheduler=None):
    from her2stats.stats.multicentre import internal_external_cv

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return internal_external_cv(df, factory(), "her2_positive", "center", features=features,
                                    thresholds=[0.2], n_boot=n_boot, seed=1, scheduler=scheduler, engine="python")


def best_of(fn, k=3):
    best, out = float("inf"), None
    for _ in range(k):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    import argparse
    import os

    from dask.distributed import Client
    from threadpoolctl import threadpool_limits

    import her2stats as h2
    from her2stats.features import local_cluster

    ap = argparse.ArgumentParser()
    ap.add_argument("--pipeline", choices=["demo", "clinical"], default="demo")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--n-boot", type=int, default=500, help="ICI bootstrap replicates")
    args = ap.parse_args()
    if args.pipeline == "demo":
        df, features, factory = demo_data()
        what = "t-test screen -> correlation filter -> LASSO (5-fold) -> Deep Score"
    else:
        df, features, factory = h2.load_demo(), NUMERIC + CATEGORICAL, make_pipeline
        what = "clinical, LASSO (10-fold) + logistic"
    load0 = os.getloadavg()
    with threadpool_limits(1):
        run(df, features, factory, args.n_boot)  # warm-up: imports, numba compilation
        t_seq, ref = best_of(lambda: run(df, features, factory, args.n_boot), args.repeats)
    times = {}
    for workers in (1, 2):
        with local_cluster(workers, silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
            run(df, features, factory, args.n_boot, client)  # warm-up: worker imports
            times[workers], got = best_of(lambda: run(df, features, factory, args.n_boot, client), args.repeats)
        assert np.array_equal(got.predictions.p.to_numpy(), ref.predictions.p.to_numpy()), "predictions differ"
        assert got.pooled.equals(ref.pooled), "pooled estimates differ"
    fold_s = ref.folds.seconds.sum()
    print(f"IECV, demo cohort (n={len(df)}), {len(ref.folds)} centres, {what}; ICI bootstrap {args.n_boot}; "
          f"fold fits {fold_s:.2f} s in process; best of {args.repeats}")
    print(f"load average (1/5/15 min) before {'/'.join(f'{x:.1f}' for x in load0)}, after "
          f"{'/'.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    print(f"  in process          {t_seq:7.2f} s")
    print(f"  dask, 1 worker      {times[1]:7.2f} s   vs in process: {100 * (times[1] / t_seq - 1):+.1f}% "
          "(target within 10%)")
    print(f"  dask, 2 workers     {times[2]:7.2f} s   speed-up over 1 worker: {times[1] / times[2]:.2f}x "
          f"(3 folds on 2 workers: at most 1.5x)")
    print("  predictions and pooled estimates identical across schedulers: yes")
    print(ref.pooled[["estimate", "ci_low", "ci_high", "pi_low", "pi_high", "k"]].round(3).to_string())


if __name__ == "__main__":
    main()
