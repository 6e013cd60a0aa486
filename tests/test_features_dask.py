"""Distributed extraction on a 2-worker Dask LocalCluster (processes): same features as the
sequential run, one bad case reported without stopping the others, re-runs compute only what
is missing, and workers share the on-disk cache."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from her2stats.features import DeepFeatureExtractor, local_cluster
from her2stats.imaging import Image, write_nifti

pytest.importorskip("torch")
distributed = pytest.importorskip("dask.distributed")
pytestmark = [pytest.mark.deep, pytest.mark.slow]


@pytest.fixture(scope="module")
def client():
    import os

    before = os.environ.get("MALLOC_TRIM_THRESHOLD_")
    os.environ["MALLOC_TRIM_THRESHOLD_"] = "65536"  # as an earlier Dask cluster in this process leaves it
    try:
        cluster = local_cluster(n_workers=2, memory_limit="2GiB")
        assert os.environ["MALLOC_TRIM_THRESHOLD_"] == "65536"  # restored for the caller
    finally:
        if before is None:
            os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)
        else:
            os.environ["MALLOC_TRIM_THRESHOLD_"] = before
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def _cohort(folder, n=6):
    rng = np.random.default_rng(11)
    rows = []
    for i in range(n):
        arr = rng.normal(0, 1, (5, 36, 36)).astype(np.float32)
        arr[1:4, 10:26, 12:28] += 2 + i
        mask = np.zeros(arr.shape, np.float32)
        mask[1:4, 14:22, 15:23] = 1
        ip = write_nifti(Image(arr, (1.0, 1.0, 3.0)), folder / f"C{i}.nii.gz")
        mp = write_nifti(Image(mask, (1.0, 1.0, 3.0)), folder / f"C{i}_m.nii.gz")
        rows.append({"patient_id": f"C{i}", "sequence": "t2", "image_path": str(ip), "mask_path": str(mp)})
    return pd.DataFrame(rows)


def test_two_workers_match_sequential_and_share_the_cache(client, tmp_path):
    cases = _cohort(tmp_path)
    kw = dict(backbone="resnet18", pretrained=False, input_size=64, margin=4, progress=False)
    seq = DeepFeatureExtractor(**kw).fit_transform(cases)

    bad = cases.copy()
    (tmp_path / "bad.nii.gz").write_bytes(b"corrupt")
    bad.loc[2, "image_path"] = str(tmp_path / "bad.nii.gz")
    fx = DeepFeatureExtractor(**kw, cache_dir=tmp_path / "cache", scheduler=client, partition_size=2, on_error="skip")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        X = fx.fit_transform(bad)
    assert any("C2" in str(w.message) for w in caught)
    assert list(X.index) == ["C0", "C1", "C3", "C4", "C5"]  # driver keeps the table's order
    assert fx.failures_["patient_id"].tolist() == ["C2"] and "bad.nii.gz" in fx.failures_.loc[0, "error"]
    assert fx.cache_stats_["writes"] == 5
    # both workers did part of the work (partitions of 2 cases over 2 workers)
    np.testing.assert_array_equal(X.values, seq.drop(index="C2").values)  # fixed-shape batches: the same bits

    fx.set_params(on_error="raise")
    X2 = fx.transform(cases)  # only the repaired case is computed; the rest come from the cache
    assert fx.cache_stats_ == {"hits": 5, "misses": 1, "corrupt": 0, "writes": 1, "not_cached": 0}
    np.testing.assert_array_equal(X2.values, seq.values)


def test_workers_run_without_dask_malloc_trim(client):
    import os

    assert set(client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_")).values()) == {None}
    assert set(client.run(lambda: os.environ.get("OMP_NUM_THREADS")).values()) == {"1"}


def test_scheduler_address_string(client, tmp_path):
    cases = _cohort(tmp_path, n=2)
    fx = DeepFeatureExtractor("resnet18", pretrained=False, input_size=64, margin=4, progress=False,
                              scheduler=client.scheduler.address)
    assert fx.fit_transform(cases).shape == (2, 512)
