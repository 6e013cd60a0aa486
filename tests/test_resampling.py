from __future__ import annotations

import numpy as np
import pytest

from her2stats.errors import InputError
from her2stats.resampling import bootstrap_indices, replicate_chunks, run_replicates


def _mean_boot(x):
    def fn(rng, n):
        idx = rng.integers(0, len(x), size=(n, len(x)))
        return x[idx].mean(axis=1)

    return fn


def test_same_seed_same_result_any_scheduler():
    x = np.random.default_rng(0).normal(size=200)
    a = run_replicates(_mean_boot(x), 1000, seed=42)
    b = run_replicates(_mean_boot(x), 1000, seed=42, scheduler="threads")
    c = run_replicates(_mean_boot(x), 1000, seed=42, scheduler="synchronous")
    assert a.shape == (1000,)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    d = run_replicates(_mean_boot(x), 1000, seed=43)
    assert not np.array_equal(a, d)
    # bootstrap SE of the mean close to SD/sqrt(n) (Monte-Carlo tolerance ~ 5% at B=1000)
    assert a.std() == pytest.approx(x.std() / np.sqrt(len(x)), rel=0.1)


def test_chunks_cover_B_exactly():
    chunks = replicate_chunks(1001, seed=1, chunk_size=100)
    assert sum(n for n, _ in chunks) == 1001 and len(chunks) == 11


def test_bad_B():
    with pytest.raises(InputError, match="n_boot .* got 0"):
        run_replicates(lambda rng, n: np.zeros(n), 0, seed=1)


def test_stratified_indices_keep_stratum_sizes():
    rng = np.random.default_rng(3)
    y = np.array([0] * 30 + [1] * 10)
    idx = bootstrap_indices(rng, len(y), strata=y)
    assert (y[idx] == 1).sum() == 10 and (y[idx] == 0).sum() == 30
