"""The study runner's uncertainty stage alone, on a hand-made state (Python engine): ROC bands for
every scored (model, cohort), the calibration hierarchy of the logistic model in every cohort, the
difference in net benefit against the clinical model on the test cohort only, and the validate
CIs in ``numbers`` -- each equal to the statistics API called on the same rows with the same seed."""
from __future__ import annotations

import numpy as np
import pandas as pd


def _state_after_evaluation():
    """Clinical model (and a one-marker model) fitted on centres A/B, evaluated on A/B and C, with
    the Python engine: the state the uncertainty stage receives."""
    from her2stats.data import load_demo
    from her2stats.reporting.config import load_config
    from her2stats.reporting.study import new_state, stage_crossval, stage_evaluation, stage_models, stage_selection
    from her2stats.stats.models import fit_lrm

    covs = ["age", "er", "pr", "grade", "ki67", "tumor_size_mm"]
    cfg = load_config({"name": "uncertainty", "engine": "python",
                       "cohort": {"source": "demo", "outcome": "her2_positive", "id_column": "patient_id",
                                  "exclude_predictors": ["her2_status", "her2_class", "her2_ish", "her2_ihc", "subtype"]},
                       "splits": {"by": "center", "column": "center", "train": ["A", "B"], "external": ["C"],
                                  "internal_fraction": 0.0, "seed": 1},
                       "clinical": {"covariates": covs, "selection": "none"},
                       "validation": {"n_boot": 20, "calibrate_n_boot": 20, "seed": 3, "band_n_boot": 120,
                                      "dca_thresholds": [0.05, 0.6, 0.05]}})
    df = load_demo()
    df = df[df[covs].notna().all(axis=1)].reset_index(drop=True)
    df["cohort_split"] = np.where(df["center"].astype(str) == "C", "external", "development")
    df["_y"] = df["her2_positive"].astype(int)
    st = new_state(cfg)
    st.cohort, st.cohorts = df, ["development", "external"]
    st = stage_crossval(stage_models(stage_selection(st)))  # out-of-fold development predictions (issue 17)
    ki67 = fit_lrm(st.part("development"), "her2_positive", ["ki67"], engine="python")
    st.probs["ki67"] = pd.Series(ki67.predict(df), index=df.index)
    return stage_evaluation(st)


def test_uncertainty_stage_alone():
    from her2stats.reporting.uncertainty import difference_thresholds, stage_uncertainty
    from her2stats.stats.calibration import calibration_hierarchy

    st = stage_uncertainty(_state_after_evaluation())
    n = st.numbers
    assert st.results["band_n_boot"] == 120  # validation.band_n_boot outside fast mode
    assert {(m, c) for c, per in st.results["roc_bands"].items() for m in per} == set(st.perf)
    assert all(b.n_boot == 120 and b.engine == "python" for per in st.results["roc_bands"].values() for b in per.values())
    # calibration of the logistic model in both cohorts (the one-marker model is not a study model)
    assert set(st.results["calibration_hierarchy"]) == {("clinical", "development"), ("clinical", "external")}
    ext = st.part("external")
    h = calibration_hierarchy(y=ext["_y"].to_numpy(), prob=st.probs["clinical"][ext.index].to_numpy(), n_boot=120,
                              seed=3, engine="python")
    pd.testing.assert_frame_equal(h.table, st.results["calibration_hierarchy"][("clinical", "external")].table)
    assert n["cal_oe_ci_low/clinical/external"] == h.table.loc["O/E ratio", "ci_low"]
    # development: from the out-of-fold predictions, so the honest key (issue 17)
    assert "cal_oe/clinical/development" in n and "cal_oe_apparent/clinical/development" not in n
    # differences against the clinical model on the external cohort only, at 0.1, 0.2, ... 0.6
    dc = st.results["dca"]["external"]
    assert dc.n_boot == 120
    d = st.results["nb_difference"]
    assert set(d) == {"external"}
    assert sorted(d["external"]["threshold"]) == difference_thresholds(dc.thresholds) == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    ref = dc.difference("ki67", "clinical").set_index("threshold")
    assert n["nb_diff_ci_low/ki67~clinical/external/0.3"] == ref.loc[0.3, "ci_low"]
    assert "nb_difference" in st.tables and "calibration_hierarchy" in st.tables
    vr = st.results["validate/clinical"]
    assert n["validate_slope_ci_low/clinical"] == vr.ci.loc["Slope", "ci_low"]
