"""Bad inputs of network training (NetworkClassifier, FoldEnsembleClassifier, augmentation, inputs),
intermediate-layer features, the chi-square / mutual-information / feature-cluster / stepwise
selectors, ICC comparison, DCE motion correction, intensity histograms and the seed figures.
Engine-free rows run once (``engines=(None,)``); the p-value stepwise of logistic_table runs on
both engines."""
from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

import her2stats as h2
from her2stats.errors import InputError

from ._case import Case

NONE = (None,)
_DATA = Path(__file__).resolve().parents[1] / "data"

FAKE = pd.DataFrame({"patient_id": [f"p{i}" for i in range(8)], "image_path": [f"/nope/p{i}.nii.gz" for i in range(8)],
                     "mask_path": [None] * 8})
Y = np.array([0, 1] * 4)
TINY = dict(backbone="test_resnet", pretrained=False, size=32, margin=5, epochs=1, batch_size=4)


@functools.lru_cache(maxsize=1)
def _demo():
    cases = h2.demo_images(root=tempfile.mkdtemp(prefix="h2s_bad_training_"), n=8)
    c = cases[cases["sequence"] == "DCE_post1"].reset_index(drop=True)
    return c, np.array([0, 1, 0, 1, 0, 1, 0, 1])


@functools.lru_cache(maxsize=1)
def _png() -> pd.DataFrame:
    from PIL import Image as PILImage

    folder = Path(tempfile.mkdtemp(prefix="h2s_bad_png_"))
    PILImage.fromarray(np.zeros((20, 20), np.uint8) + 7).save(folder / "us.png")
    return pd.DataFrame({"patient_id": ["u1"], "image_path": [str(folder / "us.png")], "mask_path": [None]})


def _net(**kw):
    from her2stats.training import NetworkClassifier

    return NetworkClassifier(**{**TINY, **kw})


def _fit(X=None, y=None, **kw):
    return _net(**kw).fit(FAKE if X is None else X, Y if y is None else y)


def _fit_demo(**kw):
    c, y = _demo()
    return _net(**kw).fit(c, y)


def _ens(estimator="net", y=None, **kw):
    from her2stats.training import FoldEnsembleClassifier

    est = _net() if estimator == "net" else estimator
    return FoldEnsembleClassifier(est, **kw).fit(FAKE, Y if y is None else y)


def _aug(**kw):
    from her2stats.training import Augmentation

    return Augmentation(**kw)


def _inputs(**kw):
    from her2stats.training import load_inputs

    args = dict(mode="2d", size=32, margin=None)
    args.update(kw)
    return load_inputs(_png(), **args)


def _fx(**kw):
    from her2stats.features import DeepFeatureExtractor

    c, _ = _demo()
    return DeepFeatureExtractor(**{"backbone": "test_resnet", "pretrained": False, "progress": False, **kw}).fit(c)


def _sel_data():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(40, 4)), columns=["a", "b", "c", "d"])
    y = (X["a"] + rng.normal(size=40) > 0).astype(int).to_numpy()
    return X, y


def _sel(cls, X=None, **kw):
    import her2stats.selection as sel

    Xd, y = _sel_data()
    return getattr(sel, cls)(**kw).fit(Xd if X is None else X, y)


def _bw():
    return pd.read_csv(_DATA / "birthwt.csv")


def _step(e, **kw):
    args = dict(univariable=False, stepwise="both", criterion="p", engine=e)
    args.update(kw)
    return h2.logistic_table(_bw(), "low", ["age", "lwt", "smoke"], **args)


def _vol():
    from her2stats.imaging import Image

    return Image(np.random.default_rng(0).normal(size=(6, 12, 12)).astype(np.float32), spacing=(1.0, 1.0, 2.0))


def _motion(phases=None, **kw):
    from her2stats.imaging import correct_motion

    return correct_motion({"pre": _vol(), "post": _vol()} if phases is None else phases, **kw)


def _hist(**kw):
    from her2stats.imaging import intensity_histograms

    c, _ = _demo()
    return intensity_histograms(c.assign(center="A"), **{"group": "center", **kw})


def _fig(name, *args, **kw):
    from her2stats.reporting import figures

    return getattr(figures, name)(*args, **kw)


CASES = [
    # ---------------------------------------------------------------- NetworkClassifier: cases and outcome
    Case("NetworkClassifier/cases-not-a-table", lambda e: _fit(X=np.zeros((8, 3))), InputError,
         ("DataFrame", "patient_id"), engines=NONE),
    Case("NetworkClassifier/no-image-path-column", lambda e: _fit(X=FAKE.drop(columns="image_path")), InputError,
         ("image_path",), engines=NONE),
    Case("NetworkClassifier/patient-with-two-images",
         lambda e: _fit(X=pd.concat([FAKE, FAKE.iloc[:1].assign(image_path="/nope/T2.nii.gz")]), y=np.r_[Y, 0]),
         InputError, ("p0", "different images"), engines=NONE),
    Case("NetworkClassifier/patient-with-two-outcomes",
         lambda e: _fit(X=pd.concat([FAKE, FAKE.iloc[:1]]), y=np.r_[Y, 1]),
         InputError, ("p0", "different outcomes"), engines=NONE),
    Case("NetworkClassifier/missing-image-path", lambda e: _fit(X=FAKE.assign(image_path=[None] + ["x"] * 7)),
         InputError, ("p0", "no image_path"), engines=NONE),
    Case("NetworkClassifier/image-file-missing", lambda e: _fit(), InputError, ("/nope/p0.nii.gz",), engines=NONE),
    Case("NetworkClassifier/y-length", lambda e: _fit(y=Y[:5]), InputError, ("5 values", "8 cases"), engines=NONE),
    Case("NetworkClassifier/y-one-class", lambda e: _fit(y=np.zeros(8)), InputError, ("two classes",), engines=NONE),
    Case("NetworkClassifier/y-missing", lambda e: _fit(y=np.r_[np.nan, Y[1:]]), InputError, ("missing", "position 0"),
         engines=NONE),
    Case("NetworkClassifier/y-series-other-labels", lambda e: _fit(y=pd.Series(Y, index=FAKE.index + 100)),
         InputError, ("index", "never by position"), engines=NONE),
    Case("NetworkClassifier/labels-without-event", lambda e: _fit(y=np.array(["HER2+", "HER2-"] * 4)), InputError,
         ("event=", "HER2+"), engines=NONE),
    Case("FoldEnsembleClassifier/labels-without-event", lambda e: _ens(n_splits=2, y=np.array(["pos", "neg"] * 4)),
         InputError, ("event=",), engines=NONE),
    Case("NetworkClassifier/one-case-per-class", lambda e: _fit(X=FAKE.iloc[:3], y=np.array([0, 1, 1])), InputError,
         ("at least 2",), engines=NONE),
    # ---------------------------------------------------------------- NetworkClassifier: parameters
    Case("NetworkClassifier/freeze-unknown", lambda e: _fit(freeze="half"), InputError, ("freeze", "half"),
         engines=NONE),
    Case("NetworkClassifier/input-unknown", lambda e: _fit(input="4d"), InputError, ("input", "4d"), engines=NONE),
    Case("NetworkClassifier/3d-network-2d-input", lambda e: _fit(backbone="r3d_18"), InputError, ("3-D", "r3d_18"),
         engines=NONE),
    Case("NetworkClassifier/2d-network-3d-input", lambda e: _fit(input="3d"), InputError, ("3-D",), engines=NONE),
    Case("NetworkClassifier/r3d-no-offline-weights", lambda e: _fit(backbone="r3d_18", input="3d", pretrained=True),
         InputError, ("Kinetics", "pretrained=False"), engines=NONE),
    Case("NetworkClassifier/unknown-backbone", lambda e: _fit(backbone="resnet5O"), InputError,
         ("unknown timm backbone", "resnet5O"), engines=NONE),
    Case("NetworkClassifier/checkpoint-missing", lambda e: _fit(pretrained="/nope/w.pth"), InputError,
         ("/nope/w.pth", "not found"), engines=NONE),
    Case("NetworkClassifier/epochs-zero", lambda e: _fit(epochs=0), InputError, ("epochs", "positive"), engines=NONE),
    Case("NetworkClassifier/lr-negative", lambda e: _fit(lr=-1e-3), InputError, ("lr",), engines=NONE),
    Case("NetworkClassifier/validation-size", lambda e: _fit(validation_size=0.95), InputError, ("validation_size",),
         engines=NONE),
    Case("NetworkClassifier/early-stopping-without-validation",
         lambda e: _fit(validation_size=0, early_stopping=3), InputError, ("validation_size", "early_stopping"),
         engines=NONE),
    Case("NetworkClassifier/early-stopping-not-integer", lambda e: _fit(early_stopping=2.5), InputError,
         ("early_stopping", "patience"), engines=NONE),
    Case("NetworkClassifier/monitor-unknown", lambda e: _fit(monitor="accuracy"), InputError, ("monitor",),
         engines=NONE),
    Case("NetworkClassifier/channel-norm-unknown", lambda e: _fit(channel_norm="batch"), InputError,
         ("channel_norm",), engines=NONE),
    Case("NetworkClassifier/mixup-negative", lambda e: _fit(mixup=-0.2), InputError, ("mixup", "Beta"), engines=NONE),
    Case("NetworkClassifier/size-too-small", lambda e: _fit(size=4), InputError, ("size", "16"), engines=NONE),
    Case("NetworkClassifier/lr_schedule-unknown", lambda e: _fit(lr_schedule="step"), InputError, ("lr_schedule",),
         engines=NONE),
    Case("NetworkClassifier/tune-untunable", lambda e: _fit(tune={"backbone": ["a", "b"]}), InputError,
         ("tune", "backbone"), engines=NONE),
    Case("NetworkClassifier/tune-empty-list", lambda e: _fit(tune={"lr": []}), InputError, ("tune", "lr"),
         engines=NONE),
    Case("NetworkClassifier/augmentation-preset", lambda e: _fit(augmentation="heavy"), InputError,
         ("preset", "heavy"), engines=NONE),
    Case("NetworkClassifier/class-weights-keys", lambda e: _fit_demo(class_weights={"neg": 1, "pos": 3}), InputError,
         ("class_weights", "classes"), engines=NONE),
    Case("NetworkClassifier/class-weights-word", lambda e: _fit_demo(class_weights="auto"), InputError,
         ("class_weights", "auto"), engines=NONE),
    Case("NetworkClassifier/last-k-too-large", lambda e: _fit_demo(freeze="all-but-last-k", last_k=9), InputError,
         ("last_k", "layer4"), engines=NONE),
    Case("NetworkClassifier/inner-split-takes-a-class", lambda e: _fit_demo(validation_size=0.88), InputError,
         ("inner validation split", "class"), engines=NONE),
    Case("NetworkClassifier/not-fitted", lambda e: _net().predict_proba(FAKE), Exception, ("not fitted",),
         engines=NONE),
    # ---------------------------------------------------------------- inputs and augmentation
    Case("load_inputs/25d-on-2d-image", lambda e: _inputs(mode="2.5d"), InputError, ("2.5d", "3-D", "us.png"),
         engines=NONE),
    Case("load_inputs/3d-on-2d-image", lambda e: _inputs(mode="3d"), InputError, ("3d", "us.png"), engines=NONE),
    Case("load_inputs/intensity-unknown", lambda e: _inputs(intensity="minmax"), InputError, ("intensity",),
         engines=NONE),
    Case("Augmentation/probability-above-1", lambda e: _aug(flip_h=1.5), InputError, ("flip_h", "probability"),
         engines=NONE),
    Case("Augmentation/negative-rotation", lambda e: _aug(rotate=-10), InputError, ("rotate",), engines=NONE),
    Case("Augmentation/scale-reversed", lambda e: _aug(scale=(1.2, 0.8)), InputError, ("scale",), engines=NONE),
    Case("Augmentation/unknown-field", lambda e: _fit(augmentation={"flip": 0.5}), InputError,
         ("unknown augmentation field", "flip"), engines=NONE),
    # ---------------------------------------------------------------- FoldEnsembleClassifier
    Case("FoldEnsembleClassifier/no-estimator", lambda e: _ens(estimator=None), InputError, ("predict_proba",),
         engines=NONE),
    Case("FoldEnsembleClassifier/one-fold", lambda e: _ens(n_splits=1), InputError, ("n_splits",), engines=NONE),
    Case("FoldEnsembleClassifier/too-few-per-class", lambda e: _ens(n_splits=5), InputError, ("5-fold", "at least 5"),
         engines=NONE),
    # ---------------------------------------------------------------- intermediate-layer features
    Case("DeepFeatureExtractor/layer-unknown", lambda e: _fx(layer="layer9"), InputError, ("no layer", "layer9"),
         engines=NONE),
    Case("DeepFeatureExtractor/layer-out-of-range", lambda e: _fx(layer=12), InputError, ("out of range",),
         engines=NONE),
    Case("DeepFeatureExtractor/layer-wrong-type", lambda e: _fx(layer=1.5), InputError, ("layer",), engines=NONE),
    Case("DeepFeatureExtractor/token-pooling-on-cnn", lambda e: _fx(pooling="token"), InputError, ("class token",),
         engines=NONE),
    Case("DeepFeatureExtractor/pooling-unknown", lambda e: _fx(pooling="mean"), InputError, ("pooling", "mean"),
         engines=NONE),
    # ---------------------------------------------------------------- selectors
    Case("ChiSquareFilter/method-unknown", lambda e: _sel("ChiSquareFilter", method="exact"), InputError,
         ("method", "exact"), engines=NONE),
    Case("ChiSquareFilter/one-bin", lambda e: _sel("ChiSquareFilter", bins=1), InputError, ("bins",), engines=NONE),
    Case("ChiSquareFilter/neither-k-nor-alpha", lambda e: _sel("ChiSquareFilter", alpha=None), InputError,
         ("give k",), engines=NONE),
    Case("ChiSquareFilter/k-zero", lambda e: _sel("ChiSquareFilter", k=0), InputError, ("k",), engines=NONE),
    Case("ChiSquareFilter/missing-value", lambda e: _sel("ChiSquareFilter", X=_sel_data()[0].assign(b=np.nan)),
         InputError, ("'b'", "missing"), engines=NONE),
    Case("MutualInfoFilter/k-zero", lambda e: _sel("MutualInfoFilter", k=0), InputError, ("k",), engines=NONE),
    Case("MutualInfoFilter/neighbours-zero", lambda e: _sel("MutualInfoFilter", n_neighbors=0), InputError,
         ("n_neighbors",), engines=NONE),
    Case("MutualInfoFilter/discrete-unknown", lambda e: _sel("MutualInfoFilter", discrete=["z"]), InputError,
         ("'z'",), engines=NONE),
    Case("FeatureClusterFilter/one-cluster", lambda e: _sel("FeatureClusterFilter", n_clusters=1), InputError,
         ("n_clusters",), engines=NONE),
    Case("FeatureClusterFilter/too-few-features", lambda e: _sel("FeatureClusterFilter", n_clusters=5), InputError,
         ("4 non-constant", "5 clusters"), engines=NONE),
    Case("ICCFilter/comparison-unknown",
         lambda e: h2.ICCFilter(comparison="=>").fit(np.random.default_rng(0).normal(size=(5, 2, 3))), InputError,
         ("comparison", "=>"), engines=NONE),
    Case("LogisticStepwiseSelector/prefilter-p", lambda e: _sel("LogisticStepwiseSelector", prefilter_p=2),
         InputError, ("prefilter_p",), engines=NONE),
    Case("LogisticStepwiseSelector/direction", lambda e: _sel("LogisticStepwiseSelector", direction="sideways"),
         InputError, ("direction", "sideways"), engines=NONE),
    Case("logistic_table/p-enter-above-p-remove", lambda e: _step(e, p_enter=0.2, p_remove=0.1), InputError,
         ("p_enter", "p_remove")),
    Case("logistic_table/p-test-unknown", lambda e: _step(e, test="f"), InputError, ("test", "'f'")),
    Case("logistic_table/p-threshold-out-of-range", lambda e: _step(e, p_enter=0.0), InputError, ("p_enter",)),
    Case("logistic_table/criterion-unknown", lambda e: _step(e, criterion="pvalue"), InputError,
         ("criterion", "pvalue")),
    # ---------------------------------------------------------------- motion correction and histograms
    Case("correct_motion/one-phase", lambda e: _motion({"pre": _vol()}), InputError, ("at least two",),
         engines=NONE),
    Case("correct_motion/reference-unknown", lambda e: _motion(reference="post2"), InputError, ("post2",),
         engines=NONE),
    Case("correct_motion/transform-unknown", lambda e: _motion(transform="bspline"), InputError,
         ("transform", "bspline"), engines=NONE),
    Case("correct_motion/phase-file-missing", lambda e: _motion({"pre": _vol(), "post": "/nope/post.nii.gz"}),
         InputError, ("/nope/post.nii.gz",), engines=NONE),
    Case("intensity_histograms/group-missing", lambda e: _hist(group="scanner"), InputError, ("scanner",),
         engines=NONE),
    Case("intensity_histograms/region-unknown", lambda e: _hist(region="breast"), InputError, ("region",),
         engines=NONE),
    # ---------------------------------------------------------------- figures
    Case("icc_figure/comparison", lambda e: _fig("icc_figure", pd.Series([0.5, 0.9]), comparison="=>"), InputError,
         ("comparison",), engines=NONE),
    Case("icc_figure/empty", lambda e: _fig("icc_figure", pd.Series([np.nan])), InputError, ("no ICC values",),
         engines=NONE),
    Case("gradcam_slices_figure/grid-mismatch", lambda e: _fig("gradcam_slices_figure", np.zeros((4, 8, 8)),
                                                               np.zeros((4, 8, 9))), InputError, ("(4, 8, 9)",),
         engines=NONE),
    Case("training_curves_figure/not-a-history", lambda e: _fig("training_curves_figure", ["x"]), InputError,
         ("TrainingHistory",), engines=NONE),
    Case("harmonization_figure/batch-length", lambda e: _fig("harmonization_figure", pd.DataFrame({"a": [1.0, 2.0]}),
                                                             pd.DataFrame({"a": [1.0, 2.0]}), ["s1"]), InputError,
         ("1 values", "2 rows"), engines=NONE),
]
