"""A run whose every case is in the feature cache imports neither torch nor timm (seconds of a
study run): timm's facts for the cache key (input size, mean, std, own pooling) are remembered per
timm version, CUDA is ruled out from the device nodes, and the features are those of the first run."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from her2stats.features.backbones import data_config
from her2stats.features.timm_facts import TIMM_FACTS_FILE, timm_facts
from her2stats.features.extractor import _no_gpu_devices

pytest.importorskip("torch")
timm = pytest.importorskip("timm")
pytestmark = pytest.mark.deep

_SCRIPT = textwrap.dedent("""
    import sys, numpy as np, pandas as pd
    from her2stats.imaging import Image, write_nifti
    from her2stats.features import DeepFeatureExtractor
    folder = sys.argv[1]
    rng = np.random.default_rng(7)
    rows = []
    for i in range(2):
        arr = rng.normal(0, 1, (4, 40, 40)).astype(np.float32)
        arr[1:3, 12:28, 14:30] += 3 + i
        mask = np.zeros(arr.shape, np.float32)
        mask[1:3, 15:25, 16:26] = 1
        ip = write_nifti(Image(arr, (0.8, 0.8, 3.0)), f"{folder}/P{i}.nii.gz")
        mp = write_nifti(Image(mask, (0.8, 0.8, 3.0)), f"{folder}/P{i}_mask.nii.gz")
        rows.append({"patient_id": f"P{i}", "sequence": "dce", "image_path": str(ip), "mask_path": str(mp)})
    fx = DeepFeatureExtractor("efficientnet_lite0", pretrained=True, margin=5, k=1, progress=False,
                              cache_dir=f"{folder}/cache", device="cpu" if sys.argv[2] == "cpu" else "auto")
    X = fx.fit_transform(pd.DataFrame(rows))
    np.save(f"{folder}/X_{sys.argv[3]}.npy", X.to_numpy())
    print(fx.cache_stats_["hits"], "torch" in sys.modules, "timm" in sys.modules)
""")


def test_timm_facts_are_timm_s_and_remembered(tmp_path, monkeypatch):
    monkeypatch.setenv("HER2STATS_CACHE", str(tmp_path))
    from her2stats.features.timm_facts import meta_model as _meta_model

    facts = timm_facts("resnet18")
    cfg = timm.models.get_pretrained_cfg("resnet18").to_dict()
    assert facts["input_size"] == cfg["input_size"][-1]
    assert tuple(facts["mean"]) == tuple(cfg["mean"]) and tuple(facts["std"]) == tuple(cfg["std"])
    pool = _meta_model("resnet18").global_pool
    assert facts["pooling"] == getattr(pool, "pool_type", pool)
    assert data_config("resnet18") == {"input_size": facts["input_size"], "mean": tuple(cfg["mean"]),
                                       "std": tuple(cfg["std"])}
    memo = json.loads((tmp_path / TIMM_FACTS_FILE).read_text())
    assert memo == {f"resnet18|timm={timm.__version__}": facts}
    # an unknown name raises and is never remembered
    from her2stats.errors import InputError

    with pytest.raises(InputError, match="unknown timm backbone"):
        timm_facts("resnet_does_not_exist")
    assert list(json.loads((tmp_path / TIMM_FACTS_FILE).read_text())) == [f"resnet18|timm={timm.__version__}"]
    # a corrupt memo is read as empty and rewritten
    (tmp_path / TIMM_FACTS_FILE).write_text("{not json")
    assert timm_facts("resnet18") == facts


def test_all_cached_run_imports_no_torch(tmp_path):
    from her2stats.features.backbones import offline_lite0_path

    if offline_lite0_path() is None:
        pytest.skip("the offline EfficientNet-Lite0 weights package is not installed")
    env = dict(os.environ, HER2STATS_CACHE=str(tmp_path / "h2s"))
    script = tmp_path / "extract.py"
    script.write_text(_SCRIPT)

    def run(tag: str) -> list[str]:
        out = subprocess.run([sys.executable, str(script), str(tmp_path), "auto", tag], capture_output=True,
                             text=True, env=env, timeout=600)
        assert out.returncode == 0, out.stderr[-3000:]
        return out.stdout.split()

    first = run("first")
    assert first[0] == "0" and first[1] == "True"  # computed: torch needed
    second = run("second")
    assert second[0] == "2"  # both cases from the cache
    if _no_gpu_devices():  # with a GPU node, "auto" asks torch whether CUDA works
        assert second[1:] == ["False", "False"]
    np.testing.assert_array_equal(np.load(tmp_path / "X_first.npy"), np.load(tmp_path / "X_second.npy"))
