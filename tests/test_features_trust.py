"""Feature extraction on real-world disks and schedulers (trust issue, item 9).

* Features do not depend on batch composition: sequential, threads and processes runs are
  bit-identical at the default ``batch_size`` (32), whatever the partitions.
* The cache survives what disks do: a folder where an entry file should be, a complete but
  read-only cache (read, never written, one warning), a full disk (one warning with the number
  of entries not cached). Computed features are never lost and never differ.
"""
from __future__ import annotations

import errno
import os
import warnings

import numpy as np
import pandas as pd
import pytest

from her2stats.errors import CacheError
from her2stats.features import DeepFeatureExtractor, FeatureCache, cache_key
from her2stats.features import cache as cache_mod

torch = pytest.importorskip("torch")
pytest.importorskip("timm")
pytestmark = pytest.mark.deep

SMALL = dict(backbone="resnet18", pretrained=False, input_size=64, margin=None, normalize="none", progress=False,
             device="cpu")


def _pngs(folder, n, seed=5):
    from PIL import Image as PILImage

    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        PILImage.fromarray((rng.random((40, 52)) * 255).astype(np.uint8)).save(folder / f"u{i:02d}.png")
        rows.append({"patient_id": f"u{i:02d}", "sequence": "us", "image_path": str(folder / f"u{i:02d}.png")})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------- batch invariance
def test_a_slice_output_does_not_depend_on_its_batch_neighbours():
    """The default backbone and batch size: one slice at different positions among different
    neighbours, and in a batch of its own, gives the same bits."""
    from her2stats.features.backbones import resolve_weights
    from her2stats.features.extractor import _forward, get_model

    model = get_model(resolve_weights("efficientnet_lite0", True), "avg", "cpu")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3, 224, 224)).astype(np.float32)
    a = _forward(model, x[:32], 32, "cpu", "fp32")
    b = _forward(model, x[8:40][::-1].copy(), 32, "cpu", "fp32")  # x[39], ..., x[8]: new neighbours and positions
    alone = _forward(model, x[20:21], 32, "cpu", "fp32")  # padded with zero rows
    assert a.shape == (32, 1280) and alone.shape == (1, 1280)
    np.testing.assert_array_equal(a[8:32], b[::-1][:24])
    np.testing.assert_array_equal(a[20], alone[0])
    # with one thread (as in a Dask process worker) the same bits again
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = _forward(model, x[12:30], 32, "cpu", "fp32")
    finally:
        torch.set_num_threads(threads)
    np.testing.assert_array_equal(one, a[12:30])


@pytest.mark.slow
def test_sequential_threads_and_processes_are_bit_identical(tmp_path):
    """40 cases at the default batch size (32) and backbone: one run in process (batches of 32
    and 8 rows), threads in partitions of 7 cases, Dask processes (one torch thread each) in
    partitions of 13. Before fixed-shape batches these differed by up to 4.3e-6."""
    cases = _pngs(tmp_path, 40)
    kw = dict(backbone="efficientnet_lite0", pretrained=True, margin=None, normalize="none", progress=False,
              device="cpu")
    assert DeepFeatureExtractor().batch_size == 32
    seq = DeepFeatureExtractor(**kw).fit_transform(cases)
    thr = DeepFeatureExtractor(scheduler="threads", partition_size=7, **kw).fit_transform(cases)
    thr_default = DeepFeatureExtractor(scheduler="threads", **kw).fit_transform(cases)
    proc = DeepFeatureExtractor(scheduler="processes", partition_size=13, **kw).fit_transform(cases)
    for other in (thr, thr_default, proc):
        pd.testing.assert_index_equal(other.index, seq.index)
        np.testing.assert_array_equal(other.to_numpy(), seq.to_numpy())
    # and the cache written by the processes run serves the sequential run unchanged
    cached = DeepFeatureExtractor(cache_dir=tmp_path / "c", scheduler="processes", partition_size=13, **kw)
    cached.fit_transform(cases)
    again = DeepFeatureExtractor(cache_dir=tmp_path / "c", **kw)
    np.testing.assert_array_equal(again.fit_transform(cases).to_numpy(), seq.to_numpy())
    assert again.cache_stats_["hits"] == 40


def test_threads_with_tiny_partitions_equal_sequential_bits(tmp_path):
    cases = _pngs(tmp_path, 9)
    seq = DeepFeatureExtractor(batch_size=4, **SMALL).fit_transform(cases)
    thr = DeepFeatureExtractor(batch_size=4, scheduler="threads", partition_size=1, **SMALL).fit_transform(cases)
    np.testing.assert_array_equal(thr.to_numpy(), seq.to_numpy())


# ------------------------------------------------------------------------- the cache on real disks
def _not_cached_warnings(caught):
    return [w for w in caught if issubclass(w.category, RuntimeWarning) and "not cached" in str(w.message)]


def test_a_folder_where_an_entry_file_should_be(tmp_path):
    cases = _pngs(tmp_path, 3)
    ref = DeepFeatureExtractor(**SMALL).fit_transform(cases)
    fx = DeepFeatureExtractor(cache_dir=tmp_path / "c", **SMALL)
    fx.fit_transform(cases)
    keys = list(fx.case_log_["key"])
    cache = FeatureCache(tmp_path / "c")
    # entry 0: its metadata file replaced by a folder; entry 1: its array file replaced by a folder
    meta0 = cache._paths(keys[0])[1]
    meta0.unlink()
    (meta0 / "something").mkdir(parents=True)
    npy1, meta1 = cache._paths(keys[1])
    npy1.unlink()
    meta1.unlink()
    npy1.mkdir()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        X = fx.transform(cases)
    np.testing.assert_array_equal(X.to_numpy(), ref.to_numpy())
    assert fx.cache_stats_["hits"] == 1 and fx.cache_stats_["misses"] == 2 and fx.cache_stats_["not_cached"] == 2
    msgs = _not_cached_warnings(caught)
    assert len(msgs) == 1, [str(w.message) for w in caught]
    text = str(msgs[0].message)
    assert "2 entries were not cached" in text and "folder" in text and str(tmp_path / "c") in text
    assert (meta0 / "something").is_dir() and npy1.is_dir()  # never deleted: not ours
    assert not any(p.name.endswith(".tmp") for p in (tmp_path / "c").rglob("*"))
    # a file where an entry's folder should be
    shard = cache._paths(keys[2])[0].parent
    for p in shard.iterdir():
        p.unlink()
    shard.rmdir()
    shard.write_text("not a folder")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        X = fx.transform(cases)
    np.testing.assert_array_equal(X.to_numpy(), ref.to_numpy())
    assert fx.cache_stats_["not_cached"] == 3 and len(_not_cached_warnings(caught)) == 1


@pytest.fixture
def read_only(monkeypatch):
    """Make a folder refuse writes: chmod for ordinary users; for root (whom permissions do not
    stop) every write under it is refused with EACCES, as a read-only mount would."""
    folders = []

    def make(folder):
        folders.append(folder)
        for p in [folder, *folder.rglob("*")]:
            p.chmod(p.stat().st_mode & ~0o222)
        if os.geteuid() == 0:
            real = cache_mod._write_file

            def refuse(path, data):
                if any(str(path).startswith(str(f)) for f in folders):
                    raise PermissionError(errno.EACCES, "Permission denied", str(path))
                return real(path, data)

            monkeypatch.setattr(cache_mod, "_write_file", refuse)

    yield make
    for folder in folders:
        for p in [folder, *folder.rglob("*")]:
            p.chmod(p.stat().st_mode | 0o200)


def test_a_complete_read_only_cache_is_read_and_never_written(tmp_path, read_only):
    cases = _pngs(tmp_path, 4)
    fx = DeepFeatureExtractor(cache_dir=tmp_path / "c", **SMALL)
    X = fx.fit_transform(cases.iloc[:3])
    read_only(tmp_path / "c")
    cache = FeatureCache(tmp_path / "c")
    assert cache.read_only
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        X2 = fx.transform(cases.iloc[:3])
    assert fx.cache_stats_ == {"hits": 3, "misses": 0, "corrupt": 0, "writes": 0, "not_cached": 0}
    assert not _not_cached_warnings(caught)  # complete: nothing to write, nothing to say
    np.testing.assert_array_equal(X2.to_numpy(), X.to_numpy())
    # one case more: computed and returned, not cached, one warning saying so
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        X3 = fx.transform(cases)
    assert fx.cache_stats_["hits"] == 3 and fx.cache_stats_["not_cached"] == 1
    msgs = _not_cached_warnings(caught)
    assert len(msgs) == 1 and "1 entry was not cached" in str(msgs[0].message)
    assert "read-only" in str(msgs[0].message)
    np.testing.assert_array_equal(X3.to_numpy()[:3], X.to_numpy())
    assert len(FeatureCache(tmp_path / "c").keys()) == 3


def test_a_full_disk_warns_once_with_the_number_not_cached(tmp_path, monkeypatch):
    cases = _pngs(tmp_path, 6)
    ref = DeepFeatureExtractor(**SMALL).fit_transform(cases)
    real = cache_mod._write_file
    calls = {"n": 0}

    def full(path, data):
        if path.name.startswith(".probe"):
            return real(path, data)  # an empty file still fits on a full disk
        calls["n"] += 1
        if calls["n"] > 4:  # the first two entries (array + metadata) fit, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, data)

    monkeypatch.setattr(cache_mod, "_write_file", full)
    fx = DeepFeatureExtractor(cache_dir=tmp_path / "c", **SMALL)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        X = fx.fit_transform(cases)
    np.testing.assert_array_equal(X.to_numpy(), ref.to_numpy())
    assert fx.cache_stats_["writes"] == 2 and fx.cache_stats_["not_cached"] == 4
    msgs = _not_cached_warnings(caught)
    assert len(msgs) == 1, [str(w.message) for w in msgs]
    assert "4 entries were not cached" in str(msgs[0].message) and "disk is full" in str(msgs[0].message)
    assert calls["n"] == 5  # after the first refusal no further write is tried
    assert not any(p.name.endswith(".tmp") for p in (tmp_path / "c").rglob("*"))
    monkeypatch.setattr(cache_mod, "_write_file", real)
    fx.transform(cases)  # space again: the missing entries are written, the others read
    assert fx.cache_stats_["hits"] == 2 and fx.cache_stats_["writes"] == 4


def test_feature_cache_direct_use(tmp_path, monkeypatch):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(CacheError, match="afile.*is a file, not a folder"):
        FeatureCache(tmp_path / "afile")
    cache = FeatureCache(tmp_path / "c")
    key = cache_key({"x": 1})

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(cache_mod, "_write_file", full)
    with pytest.warns(RuntimeWarning, match="disk is full"):
        assert cache.put(key, np.ones(3)) is False
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once per reason
        assert cache.put(cache_key({"x": 2}), np.ones(3)) is False
    assert cache.not_cached == {"the disk is full": 2} and cache.stats["not_cached"] == 2
    assert cache.get(key) is None
