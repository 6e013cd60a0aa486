"""SHAP summaries (exact linear formula, tree additivity, pipelines) and Grad-CAM on a tiny
randomly initialised timm CNN (shape, normalisation, ROI mask, response to the input only;
no claim about what a trained network would highlight)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from her2stats.errors import InputError
from her2stats.models import DeepScore, grad_cam, overlay_heatmap, shap_summary
from her2stats.selection import UnivariateFilter

# shap's colour module uses matplotlib calls that matplotlib plans to deprecate (not ours)
pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(41)
    n = 120
    X = pd.DataFrame(rng.normal(size=(n, 5)), columns=["size", "edema", "washout", "noise1", "noise2"],
                     index=[f"P{i}" for i in range(n)])
    y = (rng.uniform(size=n) < expit(1.5 * X["size"] - X["washout"])).astype(int)
    return X, y


def test_linear_shap_is_coef_times_centred_value(data):
    X, y = data
    ds = DeepScore().fit(X, y)
    s = shap_summary(ds, X, max_background=len(X))  # whole set as background: mean is exact
    assert s.method == "LinearExplainer" and s.output == "log-odds"
    expected = (X - X.mean()) * ds.coef_
    np.testing.assert_allclose(s.values.to_numpy(), expected.to_numpy(), atol=1e-10)
    # additivity on the log-odds scale
    np.testing.assert_allclose(s.base_value + s.values.sum(axis=1), ds.decision_function(X), atol=1e-10)
    top = s.to_frame()
    assert top.index[0] == "size" and list(top["rank"]) == [1, 2, 3, 4, 5]
    assert s.plot().get_yticklabels()[0].get_text() != ""
    assert s.plot(kind="bar") is not None


def test_tree_shap_additivity_and_importance(data):
    X, y = data
    rf = RandomForestClassifier(n_estimators=50, max_depth=4, random_state=0).fit(X, y)
    s = shap_summary(rf, X)
    assert s.method == "TreeExplainer" and s.output == "probability"
    np.testing.assert_allclose(s.base_value + s.values.sum(axis=1), rf.predict_proba(X)[:, 1], atol=1e-8)
    assert set(s.to_frame().index[:2]) == {"size", "washout"}


def test_one_step_pipeline_is_explained_as_its_estimator(data):
    # the model zoo refits a model without preprocessing as Pipeline([("model", est)]): the random
    # forest inside must get TreeExplainer (exact), not the permutation fallback
    from sklearn.pipeline import Pipeline

    X, y = data
    rf = RandomForestClassifier(n_estimators=30, max_depth=3, random_state=1).fit(X, y)
    pipe = Pipeline([("model", RandomForestClassifier(n_estimators=30, max_depth=3, random_state=1))]).fit(X, y)
    bare, wrapped = shap_summary(rf, X, background=X), shap_summary(pipe, X, background=X)
    assert bare.method == wrapped.method == "TreeExplainer"
    assert wrapped.output == "probability" and wrapped.base_value == bare.base_value
    pd.testing.assert_frame_equal(wrapped.values, bare.values, check_exact=True)
    pd.testing.assert_frame_equal(wrapped.data, bare.data, check_exact=True)
    np.testing.assert_allclose(wrapped.base_value + wrapped.values.sum(axis=1), pipe.predict_proba(X)[:, 1], atol=1e-8)
    # a one-step pipeline of a linear model: LinearExplainer, as for the bare model
    lin = shap_summary(Pipeline([("model", LogisticRegression())]).fit(X, y), X, background=X)
    assert lin.method == "LinearExplainer"


def test_pipeline_is_explained_on_selected_features(data):
    X, y = data
    pipe = make_pipeline(UnivariateFilter(alpha=0.01), StandardScaler().set_output(transform="pandas"),
                         LogisticRegression()).fit(X, y)
    s = shap_summary(pipe, X, background=X)
    kept = list(pipe[0].get_feature_names_out())
    assert list(s.values.columns) == kept and s.values.index.equals(X.index)
    lin = pipe[-1].decision_function(pipe[:-1].transform(X))
    np.testing.assert_allclose(s.base_value + s.values.sum(axis=1), lin, atol=1e-8)


def test_permutation_fallback_is_additive(data):
    from sklearn.neighbors import KNeighborsClassifier

    X, y = data
    knn = KNeighborsClassifier(n_neighbors=15).fit(X.to_numpy(), y)
    s = shap_summary(knn, X.iloc[:4], background=X, max_background=20)
    assert s.method.startswith("permutation")
    np.testing.assert_allclose(s.base_value + s.values.sum(axis=1), knn.predict_proba(X.iloc[:4].to_numpy())[:, 1],
                               atol=1e-8)


class _LinearProbability:
    """A model whose P(event) is linear in x: its Shapley values are known in closed form."""

    def predict_proba(self, data):
        f = 0.5 + 0.1 * data[:, 0] - 0.05 * data[:, 1]
        return np.column_stack([1 - f, f])


def test_permutation_shapley_exact_for_linear_output(data):
    X, _ = data
    s = shap_summary(_LinearProbability(), X.iloc[:6], background=X, max_background=len(X))
    bg_mean = X.mean().to_numpy()
    expected = np.zeros((6, X.shape[1]))
    expected[:, 0] = 0.1 * (X.iloc[:6, 0] - bg_mean[0])
    expected[:, 1] = -0.05 * (X.iloc[:6, 1] - bg_mean[1])
    np.testing.assert_allclose(s.values.to_numpy(), expected, atol=1e-12)


# --------------------------------------------------------------------------- Grad-CAM
@pytest.fixture(scope="module")
def tiny_cnn():
    torch = pytest.importorskip("torch")
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    return timm.create_model("test_resnet", pretrained=False, num_classes=2).eval()


@pytest.mark.deep
@pytest.mark.slow
def test_grad_cam_shape_normalisation_and_response(tiny_cnn):
    import torch

    gen = torch.Generator().manual_seed(1)
    image = torch.randn(3, 64, 64, generator=gen)
    heat = grad_cam(tiny_cnn, image)
    assert heat.shape == (64, 64) and heat.dtype == np.float32
    assert heat.min() >= 0.0 and np.isclose(heat.max(), 1.0)
    # deterministic, and different inputs give different maps
    np.testing.assert_array_equal(heat, grad_cam(tiny_cnn, image))
    other = image.clone()
    other[:, :32, :32] += 3.0
    assert np.abs(grad_cam(tiny_cnn, other) - heat).mean() > 1e-3
    # a 2-D grayscale array is accepted and the model's train/eval state is restored
    tiny_cnn.train()
    gray = grad_cam(tiny_cnn, image[0].numpy(), target_class=1)
    assert gray.shape == (64, 64) and tiny_cnn.training
    tiny_cnn.eval()
    ax = overlay_heatmap(image[0].numpy(), gray)
    assert ax is not None


@pytest.mark.deep
def test_grad_cam_roi_mask_and_errors(tiny_cnn):
    import timm
    import torch

    image = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    mask = np.zeros((64, 64), dtype=bool)
    mask[16:48, 20:44] = True
    heat = grad_cam(tiny_cnn, image, mask=mask)
    assert np.all(heat[~mask] == 0) and np.isclose(heat[mask].max(), 1.0)
    with pytest.raises(InputError, match="empty"):
        grad_cam(tiny_cnn, image, mask=np.zeros((64, 64)))
    with pytest.raises(InputError, match="mask shape"):
        grad_cam(tiny_cnn, image, mask=np.ones((32, 32)))
    with pytest.raises(InputError, match="target_class"):
        grad_cam(tiny_cnn, image, target_class=5)
    with pytest.raises(InputError, match="NaN"):
        grad_cam(tiny_cnn, torch.full((3, 64, 64), float("nan")))
    vit = timm.create_model("test_vit", pretrained=False, num_classes=2)
    size = vit.pretrained_cfg.get("input_size", (3, 160, 160))[-1]
    with pytest.raises(InputError, match="needs a CNN"):
        grad_cam(vit, torch.randn(3, size, size))
