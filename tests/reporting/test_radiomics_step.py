"""Radiomic features as an image-model extractor of the study runner (``image_models: extractor:
radiomics``), the early fusion of deep and radiomic features (``extractor: [deep, radiomics]``,
selection steps restricted to one block), the ``icc`` selection step on imaging.icc's second
segmentation, and the path where pyradiomics is not installed (the model is left out with a note).
Leakage: every selection step of a fused model is fitted on the fold's training patients only (a
check that fails on a leaky fold layout)."""
from __future__ import annotations

import builtins

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, TransformerMixin, clone

from her2stats.errors import ConfigError
from her2stats.reporting import image_models as IM
from her2stats.reporting.config import load_config
from her2stats.reporting.study import new_state

BASE = {"name": "rad", "engine": "python",
        "cohort": {"source": "demo", "outcome": "her2_positive",
                   "exclude_predictors": ["her2_status", "her2_class", "her2_ish", "her2_ihc", "subtype"]},
        "splits": {"by": "center", "train": ["A", "B"], "external": ["C"], "internal_fraction": 0.0, "seed": 1},
        "validation": {"seed": 3}}
IMAGING = {"images": "demo", "sequences": ["T2", "DCE_post1"], "fast_patients": 60,
           "univariate_alpha": 0.001, "correlation_threshold": 0.8, "lasso_cv": 3}


def _cfg(**extra):
    return load_config({**BASE, **extra})


def _state(extra: dict, n: int = 90, seed: int = 0):
    """A state as the earlier stages leave it: n development + 40 external patients, 3 folds."""
    from sklearn.model_selection import StratifiedKFold

    rng = np.random.default_rng(seed)
    m = n + 40
    df = pd.DataFrame({"patient_id": [f"P{i:03d}" for i in range(m)],
                       "cohort_split": ["development"] * n + ["external"] * 40,
                       "_y": rng.integers(0, 2, m)})
    st = new_state(_cfg(**extra))
    st.cohort, st.cohorts = df, ["development", "external"]
    st.folds = list(StratifiedKFold(3, shuffle=True, random_state=1).split(np.zeros(n), df["_y"].to_numpy()[:n]))
    return st

ICC = {"threshold": 0.5, "comparison": ">", "second_segmentation": {"dilate": 1}}


# ------------------------------------------------------------------------------------ config
@pytest.mark.parametrize("model, msg", [
    ({"name": "r", "extractor": "radiomics", "layer": 3}, "layer set the deep extractor"),
    ({"name": "r", "extractor": "deep", "radiomics": {"bin_width": 10}}, "radiomics settings are given"),
    ({"name": "r", "extractor": ["deep", "deep"]}, "once each"),
    ({"name": "r", "extractor": "radiomics", "selection": [{"step": "pca", "block": "deep"}]}, "early-fused"),
    ({"name": "r", "extractor": ["deep", "radiomics"], "selection": [{"step": "lasso"}, {"step": "icc"}]},
     "icc step must be the first"),
    ({"name": "r", "extractor": "radiomics", "radiomics": {"feature_classes": ["shape2D"]}}, "needs force_2d"),
    ({"name": "r", "extractor": "radiomics", "radiomics": {"image_types": ["LoG"]}}, "needs radiomics.log_sigma"),
    ({"name": "r", "extractor": "radiomics", "radiomics": {"feature_classes": ["glcmm"]}}, "did you mean 'glcm'"),
    ({"name": "r", "extractor": "radiomics", "radiomics": {"binwidth": 10}}, "binwidth"),
    ({"name": "r", "extractor": "radiomics", "selection": [{"step": "icc"}]}, "add imaging.icc"),
    ({"name": "r", "selection": [{"step": "icc", "alpha": 0.1}]}, "takes threshold, comparison, kind; not alpha"),
])
def test_config_refuses_what_the_radiomics_step_cannot_run(model, msg):
    with pytest.raises(ConfigError, match=msg):
        _cfg(imaging=IMAGING, image_models=[model])


def test_radiomics_settings_default_to_pyradiomics_and_map_to_its_names():
    spec = _cfg(imaging=IMAGING, image_models=[{"name": "r", "extractor": "radiomics"}]).image_models[0]
    assert spec.sources == ["radiomics"]
    assert spec.radiomics.extractor_params() == {
        "settings": {"binWidth": 25.0}, "image_types": {"Original": {}},
        "feature_classes": ["firstorder", "shape", "glcm", "glrlm", "glszm", "gldm", "ngtdm"]}
    spec = _cfg(imaging=IMAGING, image_models=[{"name": "r", "extractor": ["deep", "radiomics"], "radiomics": {
        "bin_width": 10, "force_2d": True, "image_types": ["Original", "LoG"], "log_sigma": [1, 2],
        "resampled_spacing": [1, 1, 3]}}]).image_models[0]
    p = spec.radiomics.extractor_params()
    assert p["settings"] == {"binWidth": 10.0, "force2D": True, "force2Ddimension": 0,
                             "resampledPixelSpacing": [1.0, 1.0, 3.0]}
    assert p["image_types"] == {"Original": {}, "LoG": {"sigma": [1.0, 2.0]}}
    text = spec.radiomics.describe()
    assert "fixed bin width 10" in text and "force2D" in text and "LoG sigma 1, 2 mm" in text


def test_icc_step_builds_the_paired_icc_filter_with_the_config_values():
    imaging = {**IMAGING, "icc": ICC}
    spec = _cfg(imaging=imaging, image_models=[{"name": "r", "extractor": "radiomics", "selection": [
        {"step": "icc", "threshold": 0.75, "comparison": ">", "kind": "ICC3,1"}, {"step": "lasso"}]}]).image_models[0]
    icc = IM.image_model_pipeline(spec, "python", seed=0).named_steps["icc"].step
    assert type(icc).__name__ == "PairedICCFilter"
    assert (icc.threshold, icc.comparison, icc.kind) == (0.75, ">", "ICC3,1")
    spec = _cfg(imaging=imaging, image_models=[{"name": "r", "selection": [{"step": "icc"}]}]).image_models[0]
    icc = IM.image_model_pipeline(spec, "python", seed=0).named_steps["icc"].step
    assert (icc.threshold, icc.comparison, icc.kind) == (0.9, ">=", "ICC2,1")  # imaging.icc's defaults


# ------------------------------------------------------------------------------------ block steps
def test_a_block_step_runs_on_its_block_and_passes_the_others_through():
    from her2stats.selection import make_pca

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(40, 6)), columns=[f"deep__f{i}" for i in range(4)] + ["radiomics__a", "radiomics__b"])
    step = IM.OnBlock(make_pca(2), "deep").fit(X.iloc[:30])
    out = step.transform(X)
    assert list(out.columns[-2:]) == ["radiomics__a", "radiomics__b"] and out.shape == (40, 4)
    assert all(c.startswith("deep__") for c in out.columns[:2])
    pd.testing.assert_frame_equal(out[["radiomics__a", "radiomics__b"]], X[["radiomics__a", "radiomics__b"]])
    ref = clone(make_pca(2)).fit(X.iloc[:30, :4]).transform(X.iloc[:, :4])  # PCA of the deep block, first 30 rows
    np.testing.assert_allclose(out.iloc[:, :2].to_numpy(), np.asarray(ref), atol=1e-10)


class Spy(TransformerMixin, BaseEstimator):
    """Wraps a real selection step and logs the rows it is fitted on."""

    log: list = []

    def __init__(self, step=None, name=""):
        self.step = step
        self.name = name

    def fit(self, X, y=None):
        Spy.log.append((self.name, frozenset(X.index)))
        self.step_ = clone(self.step).fit(X, y)
        return self

    def transform(self, X):
        return self.step_.transform(X)


@pytest.fixture
def fused(monkeypatch):
    """A fused deep + radiomic feature table (synthetic values, real fusion, selection steps and
    classifier), every selection step spied on."""
    Spy.log = []
    real_selector = IM._selector

    def features(state, spec):
        from her2stats.models import early_fusion

        ids = state.cohort["patient_id"].astype(str).to_numpy()
        rng = np.random.default_rng(1)
        y = state.cohort["_y"].to_numpy()
        deep = pd.DataFrame(rng.normal(size=(len(ids), 30)) + 0.8 * y[:, None] * (np.arange(30) < 3), index=ids)
        rad = pd.DataFrame(rng.normal(size=(len(ids), 12)) + 0.8 * y[:, None] * (np.arange(12) < 2), index=ids)
        return early_fusion({"deep": deep.add_prefix("f"), "radiomics": rad.add_prefix("r")})

    monkeypatch.setattr(IM, "_features", features)
    monkeypatch.setattr(IM, "_selector", lambda st, engine, seed: Spy(real_selector(st, engine, seed), st.step))


FUSED = {"imaging": IMAGING, "image_models": [{"name": "dlr", "extractor": ["deep", "radiomics"], "selection": [
    {"step": "pca", "n_components": 5, "block": "deep"}, {"step": "univariate", "alpha": 0.2},
    {"step": "lasso", "cv": 3, "lambda_rule": "min"}]}]}


def _fold_leaks(state) -> list[str]:
    """Selection steps of a fold refit whose rows include a patient of that fold's test part."""
    n_steps = 3
    fits = Spy.log[n_steps:]  # the first n_steps fits: the final model on all development patients
    ids = state.development["patient_id"].astype(str).to_numpy()
    bad = []
    for i, (_, test) in enumerate(state.folds):
        for name, rows in fits[i * n_steps:(i + 1) * n_steps]:
            if rows & set(ids[test]):
                bad.append(f"fold {i + 1}: {name}")
    return bad


def test_fused_model_selects_inside_every_fold(fused):
    st = IM.stage_image_models(_state(FUSED))
    assert [n for n, _ in Spy.log] == ["pca", "univariate", "lasso"] * 4
    assert Spy.log[0][1] == frozenset(st.development["patient_id"])
    for (train, _), (name, rows) in zip(st.folds, Spy.log[3::3]):
        assert rows == frozenset(st.development["patient_id"].iloc[train])
    assert _fold_leaks(st) == []
    assert st.dev_probs["dlr"].notna().all()
    rep = st.results["image_models"].reports["dlr"]
    assert rep.loc[0].to_dict() == {"step": "pca", "features_in": 42, "features_out": 17}  # 5 components + 12 radiomic
    assert "pca (of the deep features) -> univariate -> lasso" in st.results["image_models"].methods


def test_the_fold_check_fails_on_a_leaky_layout(fused):
    st = _state(FUSED)
    everyone = np.arange(len(st.development))
    st.folds = [(everyone, test) for _, test in st.folds]  # each fold's training part holds its test rows
    st = IM.stage_image_models(st)
    assert len(_fold_leaks(st)) == 3 * len(st.folds)


# ------------------------------------------------------------------------------------ no pyradiomics
def test_without_pyradiomics_the_model_and_its_fusion_are_left_out_with_a_note(monkeypatch):
    real_import = builtins.__import__

    def no_radiomics(name, *args, **kwargs):
        if name == "radiomics" or name.startswith("radiomics."):
            raise ImportError("No module named 'radiomics'")
        return real_import(name, *args, **kwargs)

    def features(state, spec):
        assert spec.sources == ["deep"], "the radiomics model must not reach extraction"
        ids = state.cohort["patient_id"].astype(str)
        return pd.DataFrame(np.random.default_rng(0).normal(size=(len(ids), 4)), index=ids.to_numpy())

    monkeypatch.setattr(builtins, "__import__", no_radiomics)
    monkeypatch.setattr(IM, "_features", features)
    extra = {"imaging": IMAGING, "image_models": [{"name": "deep1", "penalty": "l2"},
                                                  {"name": "rad", "extractor": "radiomics"}],
             "fusion": {"late": [{"name": "dlr", "models": ["rad", "deep1"]}]}}
    st = IM.stage_fusion(IM.stage_image_models(_state(extra)))
    assert "deep1" in st.probs and "rad" not in st.probs and "dlr" not in st.probs
    assert set(st.left_out) == {"rad", "dlr"}
    assert st.left_out["rad"].startswith("its radiomic features need pyradiomics, which is not installed")
    assert any(n.startswith("rad: its radiomic features need pyradiomics") and "--no-build-isolation pyradiomics==3.0.1"
               in n and "left out of the evaluation" in n for n in st.notes)
    assert any(n.startswith("dlr: the fusion is not fitted: its member(s) rad") for n in st.notes)
    assert "rad (radiomic features: not computed, pyradiomics is not installed)" in st.results["image_models"].methods


def test_nonfinite_radiomic_features_are_dropped_with_a_note():
    st = _state({"imaging": IMAGING, "image_models": [{"name": "rad", "extractor": "radiomics"}]})
    spec = st.config.image_models[0]
    X = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [1.0, np.nan, 2.0], "c": [np.inf, 1.0, 2.0]})
    out = IM._drop_nonfinite(st, spec, X, "radiomics")
    assert list(out.columns) == ["a"]
    assert st.numbers["features/rad/nonfinite_dropped"] == 2.0
    assert any("2 radiomics feature(s) had a NaN or infinite value for 2 analysed patient(s)" in n and "b, c" in n
               for n in st.notes)


# ------------------------------------------------------------------------------------ real images
@pytest.mark.slow
@pytest.mark.deep
def test_radiomics_and_fused_models_on_demo_images(tmp_path):
    """Fast mode on demo images: the radiomics model's features equal RadiomicsExtractor on the same
    rows (and are cache hits for the fused model), its ICC step compares them with the dilated
    mask's, the out-of-fold predictions equal the pipeline refitted by hand on a fold's training
    rows, and the methods name pyradiomics' version and settings."""
    pytest.importorskip("radiomics")
    pytest.importorskip("torch")
    from her2stats.features import RadiomicsExtractor
    from her2stats.reporting.study import new_state, stage_cohort, stage_crossval, stage_features, stage_models

    imaging = {**IMAGING, "sequences": ["DCE_post1"], "fast_patients": 60,
               "icc": ICC}
    cfg = _cfg(imaging=imaging, image_models=[
        {"name": "rad", "extractor": "radiomics", "radiomics": {"force_2d": True},
         "selection": [{"step": "icc", "threshold": 0.75}, {"step": "correlation", "threshold": 0.8},
                       {"step": "univariate", "alpha": 0.2}, {"step": "lasso", "cv": 3, "lambda_rule": "min"}]},
        {"name": "dlr", "extractor": ["deep", "radiomics"], "radiomics": {"force_2d": True},
         "selection": [{"step": "pca", "n_components": 8, "block": "deep"}, {"step": "correlation", "threshold": 0.8},
                       {"step": "univariate", "alpha": 0.2}, {"step": "lasso", "cv": 3, "lambda_rule": "min"}]}])
    st = new_state(cfg, fast=True, outdir=tmp_path / "out")
    for stage in (stage_cohort, stage_features, stage_models, stage_crossval, IM.stage_image_models):
        st = stage(st)
    n = len(st.cohort)
    assert st.numbers["features/rad/n_extracted"] == 107
    assert st.numbers["features/dlr/radiomics/cache_hits"] == n and st.numbers["features/dlr/deep/cache_hits"] == n
    assert st.numbers["features/dlr/n_extracted"] == 1280 + 107
    assert 0 < st.numbers["features/rad/after_icc"] < 107 and 0 < st.numbers["features/rad/icc_median"] < 1
    for m in ("rad", "dlr"):
        assert st.probs[m].notna().all() and st.dev_probs[m].notna().all(), (m, st.notes)
    # the radiomics block is RadiomicsExtractor on the same rows (and the same settings)
    index = st.deep["index"]
    direct = RadiomicsExtractor(settings={"binWidth": 25.0, "force2D": True, "force2Ddimension": 0}).fit_transform(
        index[index["patient_id"].isin(set(st.cohort["patient_id"].astype(str)))])
    X = IM._features(st, cfg.image_models[0])
    first = [c for c in X.columns if not c.endswith("~seg2")]
    assert len(first) == 107 and len(X.columns) == 2 * 107
    np.testing.assert_allclose(X[first].to_numpy(), direct.loc[X.index, first].to_numpy(), rtol=1e-12)
    # out-of-fold predictions: the whole pipeline (ICC filter included) refitted on the fold's training rows
    pos = np.flatnonzero((st.cohort["cohort_split"] == "development").to_numpy())
    dev = st.development
    pipe = IM.image_model_pipeline(cfg.image_models[0], "python", cfg.validation.seed, fast=True)
    train, test = st.folds[1]
    refit = clone(pipe).fit(X.iloc[pos].iloc[train], dev["_y"].to_numpy()[train])
    np.testing.assert_allclose(st.dev_probs["rad"].iloc[test].to_numpy(),
                               refit.predict_proba(X.iloc[pos].iloc[test])[:, 1], atol=1e-12)
    methods = st.results["image_models"].methods
    assert "pyradiomics 3.0.1 features of the ROI (fixed bin width 25" in methods and "force2D" in methods
    assert "concatenated (early fusion)" in methods
    assert (tmp_path / "out" / "features" / "rad_selection.csv").is_file()
