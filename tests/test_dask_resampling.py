"""Seeded chunks give bit-identical bootstrap output on 1 or 2 Dask workers (issue: scale-out)."""
from __future__ import annotations

import numpy as np
import pytest

from her2stats.resampling import run_replicates

pytestmark = pytest.mark.slow


def _auc_boot(y, s):
    from scipy.stats import rankdata

    def fn(rng, n):
        out = np.empty(n)
        for b in range(n):
            idx = rng.integers(0, len(y), size=len(y))
            yy, ss = y[idx], s[idx]
            n1 = yy.sum()
            n0 = len(yy) - n1
            r = rankdata(ss)
            out[b] = (r[yy == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)
        return out

    return fn


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 300)
    s = y * 0.8 + rng.normal(size=300)
    return y, s


def test_one_vs_two_workers_bit_identical(data):
    from dask.distributed import Client, LocalCluster

    y, s = data
    ref = run_replicates(_auc_boot(y, s), 400, seed=11)
    for n_workers in (1, 2):
        with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
                Client(cluster) as client:
            got = run_replicates(_auc_boot(y, s), 400, seed=11, scheduler=client)
        np.testing.assert_array_equal(got, ref)
    # the address form works too
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        got = run_replicates(_auc_boot(y, s), 400, seed=11, scheduler=cluster.scheduler_address)
    np.testing.assert_array_equal(got, ref)


def test_processes_scheduler_matches(data):
    y, s = data
    ref = run_replicates(_auc_boot(y, s), 200, seed=3)
    np.testing.assert_array_equal(run_replicates(_auc_boot(y, s), 200, seed=3, scheduler="processes"), ref)


class _DiesOnce:
    """A work function whose first call kills the worker process running it (a crashed node)."""

    def __init__(self, inner, marker):
        self.inner = inner
        self.marker = str(marker)

    def __call__(self, rng, n):
        import os

        try:
            fd = os.open(self.marker, os.O_CREAT | os.O_EXCL)  # only the first caller gets here
        except FileExistsError:
            return self.inner(rng, n)
        os.close(fd)
        os._exit(1)


def test_tasks_of_a_killed_worker_are_rerun(data, tmp_path):
    from dask.distributed import Client, LocalCluster

    y, s = data
    ref = run_replicates(_auc_boot(y, s), 300, seed=5)
    fn = _DiesOnce(_auc_boot(y, s), tmp_path / "died")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        got = run_replicates(fn, 300, seed=5, scheduler=client)
    assert (tmp_path / "died").exists()  # a worker really died mid-run
    np.testing.assert_array_equal(got, ref)  # its chunk was recomputed elsewhere, same seed, same numbers
