"""Internal-external cross-validation of a demo-like pipeline on Dask (issue 22, item 7).

The pipeline: clinical variables of ``her2stats.load_demo()`` (imputation, scaling, one-hot
coding), LASSO selection (10-fold inner CV) and a logistic regression, refitted in each of the 3
leave-one-centre-out folds; then per-centre validation and random-effects pooling.

Prints, from one run: in-process time; 1-worker and 2-worker LocalCluster times (best of 3); the
speed-up of 2 workers over 1 (3 folds on 2 workers: at most 1.5x) and the overhead of 1 worker
over in-process. The in-process run is limited to one BLAS/OpenMP thread, as Dask workers are
(distributed sets OMP/MKL/OPENBLAS_NUM_THREADS=1), so the comparison is of schedulers, not of
thread counts. Results are checked to be identical across schedulers.
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


def run(df, scheduler=None):
    from her2stats.stats.multicentre import internal_external_cv

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return internal_external_cv(df, make_pipeline(), "her2_positive", "center", features=NUMERIC + CATEGORICAL,
                                    thresholds=[0.2], n_boot=500, seed=1, scheduler=scheduler, engine="python")


def best_of(fn, k=3):
    best, out = float("inf"), None
    for _ in range(k):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    from dask.distributed import Client
    from threadpoolctl import threadpool_limits

    import her2stats as h2
    from her2stats.features import local_cluster

    df = h2.load_demo()
    with threadpool_limits(1):
        run(df)  # warm-up: imports, numba compilation
        t_seq, ref = best_of(lambda: run(df))
    times = {}
    for workers in (1, 2):
        with local_cluster(workers, silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
            run(df, client)  # warm-up: worker imports
            times[workers], got = best_of(lambda: run(df, client))
        assert np.array_equal(got.predictions.p.to_numpy(), ref.predictions.p.to_numpy()), "predictions differ"
        assert got.pooled.equals(ref.pooled), "pooled estimates differ"
    fold_s = ref.folds.seconds.sum()
    print(f"IECV, demo cohort (n={len(df)}), {len(ref.folds)} centres, LASSO (10-fold) + logistic; "
          f"fold fits {fold_s:.2f} s in process")
    print(f"  in process          {t_seq:7.2f} s")
    print(f"  dask, 1 worker      {times[1]:7.2f} s   overhead vs in process: {100 * (times[1] / t_seq - 1):+.1f}%")
    print(f"  dask, 2 workers     {times[2]:7.2f} s   speed-up over 1 worker: {times[1] / times[2]:.2f}x "
          f"(3 folds on 2 workers: at most 1.5x)")
    print("  predictions and pooled estimates identical across schedulers: yes")
    print(ref.pooled[["estimate", "ci_low", "ci_high", "pi_low", "pi_high", "k"]].round(3).to_string())


if __name__ == "__main__":
    main()
