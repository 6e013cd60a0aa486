"""The study runner's stages called one at a time on a hand-made :class:`StudyState`: each stage
reads only what earlier stages (or the test) put in the state, and its numbers equal the
statistics API called directly on the same rows (Python engine)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from her2stats.reporting.config import load_config
from her2stats.reporting.study import (STAGES, StudyState, new_state, stage_cohort, stage_evaluation,
                                       stage_models, stage_selection)

DEMO_YAML = Path(__file__).resolve().parents[2] / "reports" / "demo.yaml"
COVS = ["age", "er", "pr", "grade", "ki67", "tumor_size_mm"]


def _clinical_config(**extra):
    return load_config({"name": "stages", "engine": "python",
                        "cohort": {"source": "demo", "outcome": "her2_positive", "id_column": "patient_id",
                                   "exclude_predictors": ["her2_status", "her2_class", "her2_ish", "her2_ihc", "subtype"]},
                        "splits": {"by": "center", "column": "center", "train": ["A", "B"], "external": ["C"],
                                   "internal_fraction": 0.0, "seed": 1},
                        "clinical": {"covariates": COVS, "selection": "none"},
                        "validation": {"n_boot": 20, "calibrate_n_boot": 20, "seed": 3}, **extra})


def _hand_made_state(cfg) -> StudyState:
    """A state as the cohort and features stages would leave it, built without them: centres A and
    B are the development cohort, C the external one."""
    from her2stats.data import load_demo

    df = load_demo()
    df = df[df[COVS].notna().all(axis=1)].reset_index(drop=True)
    df["cohort_split"] = np.where(df["center"].astype(str) == "C", "external", "development")
    df["_y"] = df["her2_positive"].astype(int)
    state = new_state(cfg)
    state.cohort, state.cohorts = df, ["development", "external"]
    return state


def test_stage_order_and_initial_state():
    assert [s.__name__ for s in STAGES] == ["stage_cohort", "stage_features", "stage_describe", "stage_agreement",
                                            "stage_selection",
                                            "stage_models", "stage_crossval", "stage_zoo", "stage_segmentation",
                                            "stage_image_models",
                                            "stage_networks", "stage_fusion", "stage_evaluation",
                                            "stage_uncertainty", "stage_centres", "stage_regression", "stage_imputation",
                                            "stage_pipeline_validation", "stage_survival", "stage_outputs"]
    st = new_state(load_config(DEMO_YAML), fast=True, engine="python")
    cfg = st.config.validation
    assert (st.n_boot, st.n_boot_cal) == (min(cfg.n_boot, cfg.fast_n_boot), min(cfg.calibrate_n_boot, cfg.fast_n_boot))
    assert st.cohort is None and st.outdir is None and st.engine == "python"


def test_cohort_stage_alone(tmp_path):
    """Loads, excludes (every exclusion counted) and splits: development = 70% of centres A/B,
    internal = the other 30%, external = centre C; nothing written."""
    st = stage_cohort(new_state(load_config(DEMO_YAML), engine="python"))
    df, flow = st.cohort, st.flow.frame()
    assert int(flow["n_remaining"].iloc[0]) - int(flow["n_excluded"].sum()) == len(df)
    assert set(df["cohort_split"]) == {"development", "internal", "external"}
    assert set(df.loc[df["cohort_split"] == "external", "center"].astype(str)) == {"C"}
    ab = df[df["cohort_split"] != "external"]
    assert (ab["cohort_split"] == "internal").mean() == pytest.approx(0.3, abs=0.02)
    np.testing.assert_array_equal(df["_y"].to_numpy(), df["her2_positive"].astype(int).to_numpy())
    assert df[COVS].notna().all().all()
    assert st.probs == {} and st.numbers == {}


def test_models_and_evaluation_stages_alone():
    """The models stage fits on development rows only; the evaluation stage's external AUC, DeLong
    CI and carried-over cut-off equal the statistics API on the same predictions."""
    from her2stats.stats.diagnostics import choose_threshold, diagnostic_metrics
    from her2stats.stats.models import fit_lrm
    from her2stats.stats.roc import roc_auc

    st = _hand_made_state(_clinical_config())
    st = stage_selection(st)
    assert st.covariates == COVS
    st = stage_models(st)
    dev, ext = st.part("development"), st.part("external")
    ref = fit_lrm(dev, "her2_positive", COVS, engine="python")
    assert st.models["clinical"].n == len(dev)
    np.testing.assert_allclose(st.probs["clinical"].to_numpy(), ref.predict(st.cohort), atol=1e-8)  # iterative fit
    st = stage_evaluation(st)
    y_ext = ext["_y"].to_numpy()
    p_ext = st.probs["clinical"][ext.index].to_numpy()
    a = roc_auc(y_ext, p_ext, ci="delong", direction="<", engine="python")
    n = st.numbers
    assert n["auc/clinical/external"] == pytest.approx(a.auc, abs=1e-12)
    assert (n["auc_ci_low/clinical/external"], n["auc_ci_high/clinical/external"]) == pytest.approx((a.ci_low, a.ci_high),
                                                                                                     abs=1e-12)
    rule = choose_threshold(dev["_y"], st.probs["clinical"][dev.index], direction="<")
    assert n["threshold/clinical"] == pytest.approx(rule.value, abs=1e-12)
    d = diagnostic_metrics(y_ext, p_ext, threshold=rule, role="test", engine="python")
    assert n["sensitivity/clinical/external"] == pytest.approx(d["sensitivity"], abs=1e-12)
    pred = st.predictions
    assert set(pred["cohort"]) == {"development", "external"} and len(pred) == len(st.cohort)
    assert "performance" in st.tables and "calibration" in st.tables
