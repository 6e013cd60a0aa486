"""Intermediate-layer deep features: DeepFeatureExtractor(layer=...) pools the named layer or stage,
matches a hand-written forward pass, picks the ViT token pooling automatically, and keys the
cache by layer (the final features' keys are unchanged)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

from her2stats.errors import InputError  # noqa: E402
from her2stats.features import DeepFeatureExtractor, list_layers  # noqa: E402
from her2stats.features.layers import default_pooling, layer_model, resolve_layer  # noqa: E402

pytestmark = pytest.mark.deep


def _model(name):
    torch.manual_seed(0)
    return timm.create_model(name, pretrained=False, num_classes=0).eval()


def test_cnn_layer_is_the_pooled_stage_output():
    m = _model("test_resnet")
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        h = m.maxpool(m.act1(m.bn1(m.conv1(x))))
        l2 = m.layer2(m.layer1(h))
        l4 = m.layer4(m.layer3(l2))
        got2 = layer_model(m, "layer2", "avg")(x)
        got_max = layer_model(m, "layer2", "max")(x)
        got4 = layer_model(m, resolve_layer("test_resnet", -1), "avgmax")(x)
    torch.testing.assert_close(got2, l2.mean(dim=(2, 3)), rtol=0, atol=0)
    torch.testing.assert_close(got_max, l2.amax(dim=(2, 3)), rtol=0, atol=0)
    torch.testing.assert_close(got4, 0.5 * (l4.mean(dim=(2, 3)) + l4.amax(dim=(2, 3))), rtol=0, atol=0)
    assert resolve_layer("test_resnet", 2) == "layer2" and resolve_layer("test_resnet", None) is None
    assert "layer4" in list_layers("test_resnet")
    with pytest.raises(InputError, match="out of range"):
        resolve_layer("test_resnet", 7)
    with pytest.raises(InputError, match="no layer"):
        resolve_layer("test_resnet", "layer9")


def test_vit_pooling_is_chosen_automatically():
    m = _model("test_vit")
    size = m.pretrained_cfg["input_size"][-1]
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(2))
    assert default_pooling("test_vit", None) == "token"          # final features: the class token
    assert default_pooling("test_vit", "blocks.1") == "avg"      # intermediate block: patch-token mean
    assert default_pooling("test_resnet", None) == "avg"
    with torch.no_grad():
        t = m.norm_pre(m.patch_drop(m._pos_embed(m.patch_embed(x))))
        for blk in m.blocks[:2]:
            t = blk(t)
        got = layer_model(m, "blocks.1", "avg")(x)
        cls = layer_model(m, "blocks.1", "token")(x)
    n_prefix = m.num_prefix_tokens
    torch.testing.assert_close(got, t[:, n_prefix:].mean(dim=1), rtol=0, atol=0)
    torch.testing.assert_close(cls, t[:, 0], rtol=0, atol=0)


@pytest.mark.slow
def test_extractor_layer_columns_and_cache_keys(tmp_path):
    import her2stats as h2

    cases = h2.demo_images(root=tmp_path / "img", n=2)
    c = cases[cases["sequence"] == "T2"]
    kw = dict(pretrained=False, margin=5, on_border="clip", input_size=64, progress=False, cache_dir=tmp_path / "cache")
    final = DeepFeatureExtractor("test_resnet", **kw)
    X0 = final.fit_transform(c)
    assert X0.shape == (2, 96) and X0.columns[0] == "test_resnet_T2_0001"
    cfg = final._config()
    assert "layer" not in cfg["key_params"] and cfg["key_params"]["pooling"] == "avg"
    fx = DeepFeatureExtractor("test_resnet", layer="layer2", **kw)
    X2 = fx.fit_transform(c)
    assert X2.shape == (2, 48) and X2.columns[0] == "test_resnet@layer2_T2_0001"
    assert fx.cache_stats_["misses"] == 2                        # a new layer is a new cache entry
    again = DeepFeatureExtractor("test_resnet", layer="layer2", **kw)
    pd.testing.assert_frame_equal(again.fit_transform(c), X2)
    assert again.cache_stats_["hits"] == 2
    assert not set(fx.case_log_["key"]) & set(final.case_log_["key"])
    vit = DeepFeatureExtractor("test_vit", layer=2, **dict(kw, input_size=None, cache_dir=None))
    assert vit.fit_transform(c).columns[0] == "test_vit@blocks.2_T2_0001"
    with pytest.raises(InputError, match="class token"):
        DeepFeatureExtractor("test_resnet", pooling="token", **kw).fit(c)
    with pytest.raises(InputError, match="no layer"):
        DeepFeatureExtractor("test_resnet", layer="head.nope", **kw).fit(c)
