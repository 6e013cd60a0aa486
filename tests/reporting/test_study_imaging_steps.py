"""The runner's imaging steps (``imaging.icc``, preprocessing keys, intensity histograms) on the
demo cohort in fast mode: the ICC step is the first step of the image pipeline, computed on the
development patients only (and refitted on each fold's training patients), as ICCFilter computes
it on the same features; config errors name the key."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from her2stats.errors import ConfigError
from her2stats.reporting.config import load_config
from her2stats.reporting.study import new_state, stage_cohort, stage_features
from her2stats.selection import ICCFilter
from her2stats.selection.icc import SECOND_SEGMENTATION_SUFFIX as SFX


def _config(icc=None, top=None, **imaging):
    return load_config({**(top or {}),
        "name": "imaging_steps", "engine": "python",
        "cohort": {"source": "demo", "outcome": "her2_positive", "id_column": "patient_id",
                   "exclude_predictors": ["her2_status", "her2_class", "her2_ish", "her2_ihc", "subtype"]},
        "splits": {"by": "center", "column": "center", "train": ["A", "B"], "external": ["C"],
                   "internal_fraction": 0.0, "seed": 1},
        "imaging": {"images": "demo", "sequences": ["T1"], "fast_patients": 40, "univariate_alpha": 1.0,
                    "correlation_threshold": 0.8,
                    "icc": icc or {"threshold": 0.3, "comparison": ">=", "second_segmentation": {"dilate": 1}},
                    **imaging},
        "validation": {"n_boot": 20, "calibrate_n_boot": 20, "seed": 3}})


def _long(X, names):
    first = X[names].assign(case_id=X.index, rater=1)
    second = X[[c + SFX for c in names]].set_axis(names, axis=1).assign(case_id=X.index, rater=2)
    return pd.concat([first, second], ignore_index=True)


@pytest.fixture(scope="module")
def icc_state():
    return stage_features(stage_cohort(new_state(_config(), fast=True)))


def test_icc_step_on_development_rows_as_iccfilter(icc_state):
    st = icc_state
    deep, X = st.deep, st.deep["X"]
    names = list(deep["feature_columns"])
    assert [c + SFX for c in names] == [c for c in X.columns if str(c).endswith(SFX)]
    assert deep["pipeline"].steps[0][0] == "icc"
    dev = (st.cohort["cohort_split"] == "development").to_numpy()
    assert 0 < dev.sum() < len(dev)
    want = ICCFilter(threshold=0.3, comparison=">=", kind="ICC2,1").fit(_long(X.iloc[dev], names))
    got = deep["icc"]
    np.testing.assert_allclose(got.icc_.loc[names].to_numpy(), want.icc_.loc[names].to_numpy(), rtol=0, atol=1e-10)
    every = ICCFilter(threshold=0.3, kind="ICC2,1").fit(_long(X, names))  # what a leaky step would compute
    assert not np.allclose(every.icc_.loc[names].to_numpy(), got.icc_.loc[names].to_numpy())
    kept = int(want.support_.sum())
    assert st.numbers["icc/n_kept"] == kept == st.numbers["features/after_icc"]
    assert st.numbers["icc/n_features"] == len(names) == st.numbers["features/n_extracted"]
    rep = st.results["feature_selection"].set_index("step")
    assert rep.loc["icc", "features_in"] == len(names) and rep.loc["icc", "features_out"] == kept
    assert rep.index[1] == "univariate" and rep.loc["univariate", "features_in"] == kept
    assert any("dilation of the tumour mask by 1 voxel" in n for n in st.notes)
    flow = st.flow.frame()
    assert "second-segmentation features extracted (imaging.icc)" in set(flow["step"])


def test_external_second_segmentation_changes_nothing(icc_state):
    """Leakage check: an external patient's second-segmentation features do not enter the ICC, the
    selection or the Deep Score (the pipeline refitted on the development rows gives the same
    numbers), while the same change on development rows does."""
    st = icc_state
    X = st.deep["X"].astype(float)
    dev = (st.cohort["cohort_split"] == "development").to_numpy()
    y = st.cohort["_y"].to_numpy()[dev]
    seg2 = [c for c in X.columns if str(c).endswith(SFX)]
    Xm = X.copy()
    Xm.loc[Xm.index[~dev], seg2] = np.random.default_rng(0).normal(size=((~dev).sum(), len(seg2))) * 100
    ref = clone(st.deep["pipeline"]).fit(X.iloc[dev], y)
    again = clone(st.deep["pipeline"]).fit(Xm.iloc[dev], y)
    pd.testing.assert_series_equal(ref.named_steps["icc"].icc_, again.named_steps["icc"].icc_)
    np.testing.assert_array_equal(ref.decision_function(X), again.decision_function(Xm))
    Xd = X.copy()
    Xd.loc[Xd.index[dev], seg2] = Xm.loc[Xm.index[~dev], seg2].to_numpy()[np.arange(dev.sum()) % (~dev).sum()]
    moved = clone(st.deep["pipeline"]).named_steps["icc"].fit(Xd.iloc[dev])
    assert not np.allclose(moved.icc_.to_numpy(), ref.named_steps["icc"].icc_.to_numpy())


def test_fold_refit_recomputes_the_icc(icc_state):
    """stage_crossval clones the pipeline and fits it on each fold's training rows: the ICC step then
    computes the fold's own ICCs (ICCFilter on those rows)."""
    st = icc_state
    X = st.deep["X"]
    dev_pos = np.flatnonzero((st.cohort["cohort_split"] == "development").to_numpy())
    train = dev_pos[: len(dev_pos) * 2 // 3]
    names = list(st.deep["feature_columns"])
    step = clone(st.deep["pipeline"]).named_steps["icc"].fit(X.iloc[train])
    want = ICCFilter(threshold=0.3, kind="ICC2,1").fit(_long(X.iloc[train], names))
    np.testing.assert_allclose(step.icc_.loc[names].to_numpy(), want.icc_.loc[names].to_numpy(), rtol=0, atol=1e-10)


@pytest.mark.parametrize("icc, key", [
    ({"threshold": 0.9, "second_segmentation": {"erode": 1, "dilate": 1}}, "imaging.icc.second_segmentation"),
    ({"threshold": 0.9, "second_segmentation": {}}, "imaging.icc.second_segmentation"),
    ({"threshold": 0.9, "comparison": "=>", "second_segmentation": {"dilate": 1}}, "comparison"),
    ({"threshold": 1.5, "second_segmentation": {"dilate": 1}}, "threshold"),
    ({"threshold": 0.9, "kind": "ICC9", "second_segmentation": {"dilate": 1}}, "kind"),
    ({"threshold": 0.9, "second_segmentation": {"erode": 0}}, "erode"),
])
def test_icc_config_errors_name_the_key(icc, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        _config(icc=icc)


def test_preprocessing_config_errors_name_the_key():
    with pytest.raises(ConfigError, match="register_to"):
        _config(register_to="T2")
    with pytest.raises(ConfigError, match="spacing"):
        _config(spacing=[0.5, 0.0, 3.0])
    with pytest.raises(ConfigError, match="normalize"):
        _config(normalize="minmax")
    with pytest.raises(ConfigError, match="motion_correction"):
        _config(motion_correction={"phases": ["DCE_pre"]})
    with pytest.raises(ConfigError, match="reference"):
        _config(motion_correction={"phases": ["DCE_pre", "DCE_post1"], "reference": "T1"})
    cfg = _config(icc={"threshold": 0.9, "second_segmentation": "mask_path_2"})
    assert cfg.imaging.icc.second_segmentation.column == "mask_path_2"
    with pytest.raises(ConfigError, match=r"imaging\.icc\.second_segmentation\.column.*mask_path_2"):
        stage_features(stage_cohort(new_state(cfg, fast=True)))
    with pytest.raises(ConfigError, match=r"imaging\.intensity_histograms.*scanner_x"):
        stage_features(stage_cohort(new_state(_config(intensity_histograms="scanner_x"), fast=True)))


def test_preprocessing_keys_reach_the_extractor(monkeypatch):
    """register_to, spacing and normalize are passed to DeepFeatureExtractor (whose cache key hashes
    them); nothing is extracted here."""
    import her2stats.features as feats

    seen = {}

    class Stop(Exception):
        pass

    class Spy(feats.DeepFeatureExtractor):
        def fit_transform(self, X, y=None, **kw):
            seen.update(self.get_params())
            raise Stop

    monkeypatch.setattr(feats, "DeepFeatureExtractor", Spy)
    cfg = _config(sequences=["T1", "T2"], register_to="T1", spacing=[0.5, 0.5, 3.0], normalize="percentile")
    with pytest.raises(Stop):
        stage_features(stage_cohort(new_state(cfg, fast=True)))
    assert seen["register_to"] == "T1" and seen["spacing"] == (0.5, 0.5, 3.0) and seen["normalize"] == "percentile"
    key = Spy("efficientnet_lite0", spacing=(0.5, 0.5, 3.0), register_to="T1")._config()["key_params"]
    plain = Spy("efficientnet_lite0")._config()["key_params"]
    assert key != plain and key["register_to"] == "T1"


def test_motion_correction_step_rewrites_the_phase_paths(tmp_path):
    """imaging.motion_correction registers the DCE phases of the analysed patients onto the reference
    (correct_motion_cases, into the cache folder) and the extraction then reads those files; the
    other sequences keep their paths; the notes and numbers record it."""
    from her2stats.data import demo_images
    from her2stats.reporting.config import MotionCorrectionConfig
    from her2stats.reporting.study import _motion_correct

    full = demo_images()
    full = full[full["patient_id"].isin(full["patient_id"].unique()[:2])]
    index = full[full["sequence"].isin(["T1", "DCE_post1"])]
    mc = MotionCorrectionConfig(phases=["DCE_pre", "DCE_post1"], reference="DCE_pre", iterations=20)
    numbers, notes, extra = {}, [], {}
    out = _motion_correct(index, full, mc, tmp_path, 0, numbers, notes, extra)
    moved = out["sequence"] == "DCE_post1"
    assert (out.loc[moved, "image_path"] != index.loc[moved, "image_path"]).all()
    assert all(str(tmp_path / "motion") in p and Path(p).exists() for p in out.loc[moved, "image_path"])
    pd.testing.assert_series_equal(out.loc[~moved, "image_path"], index.loc[~moved, "image_path"])
    assert numbers["motion/n_patients"] == 2 and np.isfinite(numbers["motion/mean_displacement_mm"])
    assert set(extra["motion"]["phase"]) == {"DCE_pre", "DCE_post1"}
    assert "registered (rigid" in notes[0] and "DCE_pre phase" in notes[0]


@pytest.mark.slow
def test_icc_and_histogram_figures_through_run_study(tmp_path):
    """The whole runner in fast mode: the ICC figure and the intensity histograms by centre are
    drawn, the ICC table written, the counts in numbers.json, the methods name the preprocessing."""
    import json

    from her2stats.reporting.study import run_study

    cfg = _config(intensity_histograms="center", top={"clinical": {"covariates": ["age", "tumor_size_mm"], "selection": "none"}})
    res = run_study(cfg, fast=True, outdir=tmp_path / "out")
    assert {"icc", "intensity_histograms"} <= set(res.figures)
    ih = res.results["intensity_histograms"]
    assert ih.group == "center" and set(ih.summary["stage"]) == {"before", "after"}
    icc = pd.read_csv(tmp_path / "out" / "features" / "icc.csv")
    saved = json.loads((tmp_path / "out" / "numbers.json").read_text())
    numbers = saved.get("numbers", saved)
    assert numbers["icc/n_kept"] == int(icc["kept"].sum()) and numbers["icc/n_features"] == len(icc)
    assert "Preprocessing:" in res.methods and "z-score" in res.methods
