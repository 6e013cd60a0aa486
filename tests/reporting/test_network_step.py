"""The trained-network study step (``networks:``, :mod:`her2stats.reporting.network_step`) on
small hand-made states in fast mode: out-of-fold development predictions on the study's folds, the
final network's predictions of every patient, evaluation beside the other models (ROC, DeLong,
numbers.json keys), training curves and Grad-CAM files; no fold network ever reads or
early-stops on a held-out patient (every image read is recorded); same seed, same predictions;
bad config values name their key."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from her2stats.errors import ConfigError, InputError
from her2stats.reporting.config import load_config


REPO = Path(__file__).resolve().parents[2]
SEEDS = REPO / "reports" / "seeds"
COVS = ["age", "er", "ki67"]


def _busi_config(**net):
    return load_config({"name": "net", "engine": "python", "base_dir": SEEDS,
                        "cohort": {"source": "csv", "path": "busi_cohort.csv", "outcome": "malignant",
                                   "exclude_predictors": ["pathology"]},
                        "splits": {"by": "random", "internal_fraction": 0.25, "seed": 1},
                        "networks": [{"name": "cnn", "images": "busi_images.csv", "sequences": ["US"], "margin": None,
                                      "augmentation": {"flip_h": 0.5, "brightness": 0.1},
                                      "fast": {"epochs": 1, "input_size": 48}, **net}],
                        "validation": {"n_boot": 10, "calibrate_n_boot": 10, "seed": 3},
                        "report": {"figure_formats": ["png"], "gradcam_patients": 2}})


def _busi_state(cfg, outdir=None, per_class=6):
    """BUSI cohort cut to ``per_class`` patients per class and split, folds made by the crossval stage."""
    pytest.importorskip("timm")
    from her2stats.reporting.study import new_state, stage_cohort, stage_crossval, stage_features

    st = stage_cohort(new_state(cfg, fast=True, outdir=outdir))
    st.cohort = st.cohort.loc[st.cohort.groupby(["cohort_split", "_y"]).head(per_class).index]
    return stage_crossval(stage_features(st))


def _demo_state(outdir=None, **net):
    """Demo cohort: 24 development patients (centres A/B) and 12 external (centre C), a clinical
    model, and a 2-D network on the DCE ROI."""
    pytest.importorskip("timm")
    from her2stats.data import load_demo
    from her2stats.reporting.study import new_state, stage_crossval, stage_models, stage_selection

    cfg = load_config({"name": "net_demo", "engine": "python",
                       "cohort": {"source": "demo", "outcome": "her2_positive",
                                  "exclude_predictors": ["her2_status", "her2_class", "her2_ish", "her2_ihc", "subtype"]},
                       "splits": {"by": "center", "train": ["A", "B"], "external": ["C"], "internal_fraction": 0.0},
                       "clinical": {"covariates": COVS},
                       "networks": [{"name": "cnn", "sequences": ["DCE_post1"], "margin": 5,
                                     "augmentation": "seed003", "fast": {"epochs": 1, "input_size": 48}, **net}],
                       "validation": {"n_boot": 10, "calibrate_n_boot": 10, "seed": 2},
                       "report": {"figure_formats": ["png"], "gradcam_patients": 2}})
    df = load_demo()
    df = df[df[COVS].notna().all(axis=1)]
    df = df.assign(cohort_split=np.where(df["center"].astype(str) == "C", "external", "development"))
    df = df.groupby(["cohort_split", "her2_positive"], observed=True).head(6).reset_index(drop=True)
    dev = df[df["cohort_split"] == "development"]
    extra = load_demo()
    extra = extra[extra[COVS].notna().all(axis=1) & (extra["center"].astype(str) != "C")
                  & ~extra["patient_id"].isin(dev["patient_id"])]
    extra = extra.groupby("her2_positive").head(6).assign(cohort_split="development")
    df = pd.concat([df, extra], ignore_index=True)
    df["_y"] = df["her2_positive"].astype(int)
    st = new_state(cfg, fast=True, outdir=outdir)
    st.cohort, st.cohorts = df, ["development", "external"]
    return stage_crossval(stage_models(stage_selection(st)))


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    import matplotlib

    matplotlib.use("Agg")
    from her2stats.reporting.study import stage_evaluation, stage_networks

    out = tmp_path_factory.mktemp("network_step")
    (out / "figures").mkdir(exist_ok=True)
    (out / "tables").mkdir(exist_ok=True)
    st = _demo_state(outdir=out)
    st = stage_networks(st)
    return stage_evaluation(st)


@pytest.mark.slow
@pytest.mark.deep
def test_network_stage_gives_out_of_fold_and_test_predictions(demo_run):
    st = demo_run
    dev, ext = st.part("development"), st.part("external")
    assert len(dev) == 24 and len(st.folds) == 3
    oof = st.dev_probs["cnn"]
    assert list(oof.index) == list(dev.index) and np.isfinite(oof.to_numpy()).all()
    assert st.dev_method["cnn"] == "cross-validated"
    p = st.probs["cnn"]
    assert list(p.index) == list(st.cohort.index) and ((p > 0) & (p < 1)).all()
    # the held-out predictions are not the final (apparent) network's: a different model per fold
    assert not np.allclose(oof.to_numpy(), p[dev.index].to_numpy())
    model = st.models["cnn"]
    assert type(model).__name__ == "NetworkClassifier"
    np.testing.assert_allclose(model.predict_proba(_cases(st, ext))[:, 1], p[ext.index].to_numpy(), atol=1e-5)
    fits = st.results["network/cnn"]["fits"]
    assert [f["fold"] for f in fits] == [1, 2, 3, "final"]


def _cases(st, part):
    from her2stats.reporting.network_step import network_cases

    return network_cases(st, st.config.networks[0]).loc[part.index].reset_index(drop=True)


@pytest.mark.slow
@pytest.mark.deep
def test_network_is_evaluated_like_every_model(demo_run):
    from her2stats.stats.roc import roc_auc

    st = demo_run
    n = st.numbers
    dev, ext = st.part("development"), st.part("external")
    a = roc_auc(ext["_y"].to_numpy(), st.probs["cnn"][ext.index].to_numpy(), ci="delong",
                direction=st.directions["cnn"], engine="python")
    assert n["auc/cnn/external"] == pytest.approx(a.auc, abs=1e-12)
    a_cv = roc_auc(dev["_y"].to_numpy(), st.dev_probs["cnn"].to_numpy(), ci="delong", direction=st.directions["cnn"],
                   engine="python")
    assert n["auc/cnn/development"] == pytest.approx(a_cv.auc, abs=1e-12) == n["auc_cv/cnn/development"]
    assert "auc_apparent/cnn/development" in n
    assert ("cnn", "external") in st.perf and ("cnn", "development") in st.perf
    for c in ("development", "external"):
        assert any(k.startswith("delong_p/") and "cnn" in k and k.endswith(f"/{c}") for k in n), c
    assert "cnn" in set(st.predictions["model"])
    assert "cnn" in st.tables["performance"].to_frame().to_string()


@pytest.mark.slow
@pytest.mark.deep
def test_network_stage_writes_curves_and_figures(demo_run):
    st = demo_run
    curves = pd.read_csv(st.outdir / "features" / "cnn_curves.csv")
    assert set(curves["fold"].astype(str)) == {"1", "2", "3", "final"}
    assert {"epoch", "train_loss", "val_loss", "val_auc", "kept"} <= set(curves.columns)
    assert curves.groupby("fold")["kept"].sum().eq(1).all()
    assert st.figures["training_curves_cnn"].is_file()
    assert st.figures["gradcam_cnn"].is_file() and st.results["gradcam/cnn"]["cohort"] == "external"


@pytest.mark.slow
@pytest.mark.deep
def test_no_fold_network_sees_its_held_out_patients(monkeypatch):
    """Every image any network reads is recorded with the fit that read it: a fold network's fit
    (training, early stopping, the kept checkpoint) reads its training patients only, and its inner
    validation split is a part of them; a fold layout that puts held-out patients into training is
    caught by the same check."""
    from her2stats.reporting.study import stage_networks
    from her2stats.training import NetworkClassifier
    from her2stats.training import inputs as inputs_mod

    reads: list[tuple[int, str]] = []
    current = {"fit": -1}
    orig_read, orig_fit = inputs_mod.read_case, NetworkClassifier.fit
    fit_calls = {"n": 0}

    def read_case(image_path, mask_path, patient_id, expect_ndim):
        reads.append((current["fit"], str(patient_id)))
        return orig_read(image_path, mask_path, patient_id, expect_ndim)

    def fit(self, X, y=None):
        current["fit"] = fit_calls["n"]
        fit_calls["n"] += 1
        try:
            return orig_fit(self, X, y)
        finally:
            current["fit"] = -1

    monkeypatch.setattr(inputs_mod, "read_case", read_case)
    monkeypatch.setattr(NetworkClassifier, "fit", fit)

    def leaks(st) -> list[int]:
        ids = st.cohort[st.config.cohort.id_column].astype(str)
        dev_ids = ids[st.development.index].to_numpy()
        bad = []
        for k, (_, test) in enumerate(st.folds):
            read = {pid for f, pid in reads if f == k}
            held_out = set(dev_ids[test])
            rec = st.results["network/cnn"]["fits"][k]
            assert set(rec["val_ids"]) <= read and set(rec["train_ids"]) <= read
            if read & held_out or (set(rec["train_ids"]) | set(rec["val_ids"])) & held_out:
                bad.append(k + 1)
        return bad

    st = stage_networks(_busi_state(_busi_config()))
    assert fit_calls["n"] == len(st.folds) + 1 and len(st.folds) == 3
    assert leaks(st) == []
    final = {pid for f, pid in reads if f == len(st.folds)}
    assert final == set(st.development[st.config.cohort.id_column].astype(str))  # the final fit: development only

    # the check catches a leaky fold layout: fold 1 trained on every development patient
    reads.clear()
    fit_calls["n"] = 0
    st2 = _busi_state(_busi_config())
    everyone = np.arange(len(st2.development))
    st2.folds = [(everyone, st2.folds[0][1])] + st2.folds[1:]
    st2 = stage_networks(st2)
    assert leaks(st2) == [1]


@pytest.mark.slow
@pytest.mark.deep
def test_same_seed_same_out_of_fold_predictions():
    from her2stats.reporting.study import stage_networks

    a = stage_networks(_busi_state(_busi_config(), per_class=5))
    b = stage_networks(_busi_state(_busi_config(), per_class=5))
    np.testing.assert_array_equal(a.dev_probs["cnn"].to_numpy(), b.dev_probs["cnn"].to_numpy())
    np.testing.assert_array_equal(a.probs["cnn"].to_numpy(), b.probs["cnn"].to_numpy())


@pytest.mark.slow
@pytest.mark.deep
def test_fold_ensemble_averages_the_study_fold_networks():
    """fold_ensemble: the final model is the study's fold networks averaged (no extra fit); their
    out-of-fold predictions are the development figures."""
    from her2stats.reporting.study import stage_networks

    st = stage_networks(_busi_state(_busi_config(fold_ensemble=4), per_class=5))
    model = st.models["cnn"]
    assert type(model).__name__ == "FoldEnsembleClassifier" and len(model.estimators_) == len(st.folds) == 3
    assert [f["fold"] for f in st.results["network/cnn"]["fits"]] == [1, 2, 3]
    np.testing.assert_array_equal(model.oof_proba_, st.dev_probs["cnn"].to_numpy())
    cases = _cases(st, st.part("internal"))
    mean = np.mean([m.predict_proba(cases)[:, 1] for m in model.estimators_], axis=0)
    # float32 convolutions batched differently (all patients vs the internal ones) differ by ~1e-6
    np.testing.assert_allclose(st.probs["cnn"][st.part("internal").index].to_numpy(), mean, atol=1e-5)
    assert any("fold ensemble averages 3 fold networks" in n for n in st.notes)  # fast mode: 3 folds, not 4


@pytest.mark.slow
@pytest.mark.deep
def test_a_failed_fold_is_a_note_not_a_silent_drop(monkeypatch):
    from her2stats.reporting.study import stage_networks
    from her2stats.training import NetworkClassifier

    orig = NetworkClassifier.fit
    calls = {"n": 0}

    def fit(self, X, y=None):
        calls["n"] += 1
        if calls["n"] == 2:
            raise InputError("simulated failure")
        return orig(self, X, y)

    monkeypatch.setattr(NetworkClassifier, "fit", fit)
    st = stage_networks(_busi_state(_busi_config(), per_class=5))
    oof = st.dev_probs["cnn"]
    _, test = st.folds[1]
    assert oof.iloc[test].isna().all() and oof.drop(oof.index[test]).notna().all()
    assert any("fold 2 of 3 could not be trained" in n and "simulated failure" in n for n in st.notes)


@pytest.mark.slow
@pytest.mark.deep
def test_a_patient_without_an_image_is_an_error_naming_the_network():
    from her2stats.reporting.network_step import network_cases

    st = _busi_state(_busi_config(), per_class=3)
    st.cohort.loc[st.cohort.index[0], "patient_id"] = "no_such_patient"
    with pytest.raises(InputError, match=r"networks\[cnn\]: 1 of 12 analysed patient\(s\) have no image"):
        network_cases(st, st.config.networks[0])


@pytest.mark.parametrize("net,msg", [
    ({"epochs": 0}, r"networks\.0\.epochs: Input should be greater than or equal to 1"),
    ({"freeze": "backbones"}, r"networks\.0\.freeze: .*did you mean 'backbone'"),
    ({"input": "3d"}, r"networks\.0: .*a 3-D input needs a 3-D network"),
    ({"backbone": "r3d_18"}, r"networks\.0: .*a 3-D network needs input: 3d"),
    ({"augmentation": {"flipx": 0.5}}, r"networks\.0\.augmentation: .*unknown augmentation field"),
    ({"augmentation": "heavy"}, r"networks\.0\.augmentation: "),
    ({"class_weights": "balance"}, r"networks\.0\.class_weights"),
    ({"sequences": ["T1", "T2"]}, r"networks\.0\.sequences"),
    ({"name": "My net"}, r"networks\.0\.name: .*lower-case"),
    ({"name": "deep_score"}, r"networks\.0\.name: .*already uses"),
    ({"name": "rf"}, r"model-zoo names"),
    ({"lr": 0}, r"networks\.0\.lr: Input should be greater than 0"),
    ({"validation_size": 0}, r"networks\.0\.validation_size"),
    ({"fast": {"input_size": 8}}, r"networks\.0\.fast\.input_size"),
    ({"epoch": 3}, r"networks\.0\.epoch: unknown key; did you mean 'epochs'"),
])
def test_bad_network_config_values_name_the_key(net, msg):
    with pytest.raises(ConfigError, match=msg):
        load_config({"name": "x", "networks": [{"name": "cnn", **net}]})


def test_fold_ensemble_must_match_the_zoo_folds_and_names_must_differ():
    with pytest.raises(ConfigError, match=r"fold_ensemble \(4\) must equal zoo\.cv \(5\)"):
        load_config({"name": "x", "zoo": {"cv": 5}, "networks": [{"name": "cnn", "fold_ensemble": 4}]})
    with pytest.raises(ConfigError, match="used twice"):
        load_config({"name": "x", "networks": [{"name": "cnn"}, {"name": "cnn"}]})
    cfg = load_config({"name": "x", "networks": [{"name": "cnn", "fold_ensemble": 4}],
                       "splits": {"by": "random"},
                       "survival": {"duration": "rfs_time", "event": "rfs_event", "predicted_by": "cnn"}})
    assert cfg.survival.predicted_by == "cnn"  # a network is a model survival.predicted_by may name


def test_study_folds_follow_fold_ensemble_without_a_zoo():
    from her2stats.reporting.study import _n_folds, new_state

    cfg = load_config({"name": "x", "networks": [{"name": "cnn", "fold_ensemble": 4}]})
    assert _n_folds(new_state(cfg, engine="python")) == 4
    assert _n_folds(new_state(cfg, engine="python", fast=True)) == 3


@pytest.mark.slow
@pytest.mark.deep
def test_3d_network_fold_ensemble_on_demo_volumes(tmp_path):
    """Seed 001's MRI arm shape: a 3-D ResNet-18 on the DCE ROI volume (16^3 here), the study's fold
    networks averaged; Grad-CAM as slice panels of the 3-D map."""
    import matplotlib

    matplotlib.use("Agg")
    from her2stats.reporting.study import stage_networks

    (tmp_path / "figures").mkdir()
    st = _demo_state(outdir=tmp_path, backbone="r3d_18", pretrained=False, input="3d", fold_ensemble=4,
                     augmentation={"flip_h": 0.5, "flip_depth": 0.5}, fast={"epochs": 1, "input_size": 16})
    st = stage_networks(st)
    model = st.models["cnn"]
    assert type(model).__name__ == "FoldEnsembleClassifier" and len(model.estimators_) == 3
    assert model.estimators_[0].history_.weights == "random"
    assert np.isfinite(st.dev_probs["cnn"].to_numpy()).all()
    assert st.figures["training_curves_cnn"].is_file()
    assert st.figures["gradcam_cnn_1"].is_file() and st.figures["gradcam_cnn_2"].is_file()
    assert "3D input" in " ".join(st.notes)


@pytest.mark.slow
@pytest.mark.deep
def test_seed001_trains_its_network_end_to_end_fast(tmp_path):
    """seed001.yaml through the runner in fast mode: the fine-tuned network beside the frozen Deep
    Score, both in the performance and DeLong tables, numbers.json and the figures (about 45 s on
    the loaded 2-core machine, 12 s of it the network)."""
    import json

    import matplotlib

    matplotlib.use("Agg")
    from her2stats.reporting.study import run_study

    res = run_study(SEEDS / "seed001.yaml", fast=True, outdir=tmp_path / "seed001")
    numbers = json.loads((res.outdir / "numbers.json").read_text())
    for c in ("development", "internal"):
        assert 0 <= numbers[f"auc/cnn_us/{c}"] <= 1 and 0 <= numbers[f"auc/deep_score/{c}"] <= 1
        assert numbers[f"delong_p/deep_score~cnn_us/{c}"] is not None
    assert "auc_apparent/cnn_us/development" in numbers
    assert res.results["development_method"]["cnn_us"] == "cross-validated"
    cv = pd.read_csv(res.outdir / "predictions_cv.csv")
    assert cv.loc[cv["model"] == "cnn_us", "prob"].notna().all()
    assert set(cv.loc[cv["model"] == "cnn_us", "fold"]) == {1, 2, 3}
    assert "Fine-tuned CNN (US)" in res.tables["performance"].to_frame().to_string()  # label: of cnn_us
    assert "Fine-tuned CNN (US)" in res.tables["delong"].to_frame().to_string()
    assert (res.outdir / "features" / "cnn_us_curves.csv").is_file()
    for name in ("training_curves_cnn_us", "gradcam_cnn_us", "roc_internal"):
        assert res.figures[name].is_file(), name
    assert "cnn_us: efficientnet_lite0" in res.methods


@pytest.mark.slow
@pytest.mark.deep
def test_seed001_mri_trains_the_3d_fold_ensemble_end_to_end_fast(tmp_path):
    """seed001_mri.yaml (seed 001's DL-MRI arm on the demo volumes) through the runner in fast mode:
    the 3-D ResNet-18 at the fast input size (16^3), its fold networks averaged, evaluated with
    out-of-fold development figures, and the 3-D Grad-CAM slice panels written (about 55 s on the
    loaded 2-core machine)."""
    import json

    import matplotlib

    matplotlib.use("Agg")
    from her2stats.reporting.study import run_study

    res = run_study(SEEDS / "seed001_mri.yaml", fast=True, outdir=tmp_path / "mri")
    cfg = res.config
    net = cfg.networks[0]
    assert (net.input, net.backbone, net.fold_ensemble, net.input_size, net.fast.input_size) == \
        ("3d", "r3d_18", 4, 96, 16)
    numbers = json.loads((res.outdir / "numbers.json").read_text())
    assert numbers["network_input_size/cnn_mri"] == 16
    for c in ("development", "internal"):
        assert 0 <= numbers[f"auc/cnn_mri/{c}"] <= 1
    assert res.results["development_method"]["cnn_mri"] == "cross-validated"
    assert type(res.results["network/cnn_mri"]["fits"]) is list and res.results["network/cnn_mri"]["fold_ensemble"]
    for name in ("training_curves_cnn_mri", "gradcam_cnn_mri_1", "gradcam_cnn_mri_2"):
        assert res.figures[name].is_file(), name
    assert "3D input of 16\u00d716\u00d716 voxels; fast mode: 1 epoch(s) at this size instead of 60 epochs at 96" \
        in res.methods
