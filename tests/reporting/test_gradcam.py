"""Grad-CAM of the Deep Score: the pipeline's weights on the pooled CNN features are recovered
exactly (and a pipeline that is not affine is refused), the one-logit head gives Grad-CAM, and for
a score linear in average-pooled features Grad-CAM equals the class activation map (Zhou et al.
2016) up to its scale."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from her2stats.errors import InputError
from her2stats.reporting.gradcam import _score_head, deep_score_weights, pick_gradcam_patients


def _features(n=60, p=12, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, p)), columns=[f"f{j:02d}" for j in range(p)],
                     index=[f"P{i}" for i in range(n)])
    y = (X["f01"] - X["f03"] + rng.normal(0, 1, n) > 0).astype(int)
    return X, y


def test_weights_of_a_selection_plus_deep_score_pipeline():
    from sklearn.pipeline import Pipeline

    from her2stats.models import DeepScore
    from her2stats.selection import CorrelationFilter, UnivariateFilter

    X, y = _features()
    pipe = Pipeline([("univariate", UnivariateFilter(test="t", alpha=0.2)), ("correlation", CorrelationFilter(0.9)),
                     ("deepscore", DeepScore())]).fit(X, y)
    a, w = deep_score_weights(pipe, X)
    ds = pipe.named_steps["deepscore"]
    kept = list(ds.coef_.index)
    expect = pd.Series(0.0, index=X.columns)
    expect[kept] = ds.coef_.to_numpy()
    np.testing.assert_allclose(w, expect.to_numpy(), atol=1e-8)   # unit steps of an affine map: exact
    assert a == pytest.approx(ds.intercept_, abs=1e-8)
    np.testing.assert_allclose(a + X.to_numpy() @ w, pipe.decision_function(X), atol=1e-8)


def test_non_affine_pipeline_is_refused():
    from sklearn.ensemble import RandomForestClassifier

    X, y = _features()

    class Forest:
        def __init__(self):
            self.m = RandomForestClassifier(n_estimators=20, random_state=0).fit(X, y)

        def decision_function(self, Z):
            return self.m.predict_proba(Z)[:, 1]

    with pytest.raises(InputError, match="not an affine function"):
        deep_score_weights(Forest(), X)


def test_pick_clearest_cases():
    s = pd.Series([2.0, 0.5, -1.0, -3.0, 1.5, -0.2], index=list("abcdef"))
    y = pd.Series([1, 1, 0, 0, 1, 0], index=s.index)
    assert pick_gradcam_patients(s, y, 4) == ["a", "e", "d", "c"]
    assert pick_gradcam_patients(s, y, 3) == ["a", "d", "c"]


def test_score_head_gradcam_equals_cam():
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    from her2stats.models import grad_cam

    class Tiny(torch.nn.Module):  # timm-like: forward_features -> map, forward_head -> pooled features
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.conv = torch.nn.Conv2d(3, 8, 3, stride=4, padding=1)

        def forward_features(self, x):
            return torch.relu(self.conv(x))

        def forward_head(self, fmap):
            return fmap.mean(dim=(2, 3))

    backbone = Tiny().eval()
    rng = np.random.default_rng(1)
    w = rng.normal(size=8)
    head = _score_head(backbone, w)
    x = torch.as_tensor(rng.normal(size=(1, 3, 32, 32)).astype(np.float32))
    heat = grad_cam(head, x)
    with torch.no_grad():
        fmap = backbone.forward_features(x)
        cam = torch.relu((torch.as_tensor(w, dtype=torch.float32).view(1, -1, 1, 1) * fmap).sum(1, keepdim=True))
        cam = F.interpolate(cam, size=(32, 32), mode="bilinear", align_corners=False)[0, 0].numpy()
    assert cam.max() > 0
    np.testing.assert_allclose(heat, cam / cam.max(), atol=1e-5)
    # the head's logit is the Deep Score's linear part on the pooled features
    with torch.no_grad():
        logit = head.forward_head(head.forward_features(x))
    assert float(logit[0, 0]) == pytest.approx(float(fmap.mean(dim=(2, 3))[0].numpy() @ w), rel=1e-5)


def test_gradcam_leaves_the_shared_frozen_backbone_in_eval_mode():
    """Regression: the score head wraps the process-wide cached backbone; a head created in training
    mode made grad_cam 'restore' training mode on that backbone, and every later extraction in the
    process ran batch norm on batch statistics (features silently wrong, depending on neighbours)."""
    torch = pytest.importorskip("torch")

    from her2stats.models import grad_cam

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.conv = torch.nn.Conv2d(3, 8, 3, stride=4, padding=1)
            self.bn = torch.nn.BatchNorm2d(8)

        def forward_features(self, x):
            return torch.relu(self.bn(self.conv(x)))

        def forward_head(self, fmap):
            return fmap.mean(dim=(2, 3))

    backbone = Tiny().eval()
    head = _score_head(backbone, np.ones(8))
    assert not head.training
    grad_cam(head, torch.zeros(1, 3, 32, 32))
    assert not backbone.training and not backbone.bn.training


def test_extraction_runs_in_eval_mode_even_if_the_cached_network_was_switched(tmp_path):
    """The extractor's forward pass puts a cached network found in training mode back in eval mode,
    so one row's features never depend on its batch neighbours."""
    torch = pytest.importorskip("torch")

    from her2stats.features.extractor import _forward

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
            self.bn = torch.nn.BatchNorm2d(4)

        def forward(self, x):
            return self.bn(self.conv(x)).mean(dim=(2, 3))

    rows = np.random.default_rng(0).normal(size=(3, 3, 8, 8)).astype(np.float32)
    ref = _forward(Net().eval(), rows, 4, "cpu", "fp32")
    switched = Net().train()
    got = _forward(switched, rows, 4, "cpu", "fp32")
    assert not switched.training
    np.testing.assert_array_equal(got, ref)
