"""The demo study's multicentre sections (reports/demo.yaml: validation.scheme iecv by centre,
subgroups by age band, field strength and menopausal status, the example Van Dyke reader study):
the run's numbers equal the library functions on the analysed cohort, and the rendered report
shows the sections with the reading of a prediction interval."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import her2stats as h2
from her2stats.reporting.sections_centre import PREDICTION_INTERVAL_TEXT, LogisticFitter, subgroup_frame

pytestmark = [pytest.mark.slow, pytest.mark.deep, pytest.mark.xdist_group("demo_study")]


def test_demo_iecv_and_subgroups_equal_the_library(fast_demo):
    res, _ = fast_demo
    cfg = res.config
    n = res.numbers
    assert n["iecv/k"] == 3 and set(res.results["iecv"]) == {"clinical", "deep_score", "combined"}
    df = res.cohort.reset_index(drop=True)
    covs = list(cfg.clinical.covariates)
    direct = h2.internal_external_cv(df, LogisticFitter(cfg.cohort.outcome, covs, engine=res.results["iecv"]["clinical"].engine),
                                     y=cfg.cohort.outcome, centre="center", thresholds=cfg.validation.net_benefit_thresholds,
                                     n_boot=min(cfg.validation.n_boot, cfg.validation.fast_n_boot), seed=cfg.validation.seed,
                                     engine=res.results["iecv"]["clinical"].engine)
    for m in ("auc", "oe", "slope"):
        assert n[f"iecv_{m}/clinical"] == pytest.approx(direct.pooled.loc[m, "estimate"], rel=1e-9)
        assert n[f"iecv_{m}_pi_low/clinical"] == pytest.approx(direct.pooled.loc[m, "pi_low"], rel=1e-9)
        assert n[f"iecv_{m}_pi_high/clinical"] == pytest.approx(direct.pooled.loc[m, "pi_high"], rel=1e-9)
    for c in "ABC":
        row = direct.per_centre.set_index("centre").loc[c]
        assert n[f"iecv_auc/clinical/{c}"] == pytest.approx(row["auc"], rel=1e-9)
    # subgroups of the held-out predictions
    pr = res.results["iecv"]["combined"].predictions
    groups = subgroup_frame(df.loc[pr.index], ["age", "field_strength", "menopause"], {"age": [0, 50, 65, 120]})
    sg = h2.subgroup_performance(pr["y"], pr["p"], groups,
                                 thresholds=cfg.validation.net_benefit_thresholds,
                                 n_boot=min(cfg.validation.n_boot, cfg.validation.fast_n_boot), seed=cfg.validation.seed,
                                 engine=res.results["subgroups"]["combined"].engine)
    pd.testing.assert_frame_equal(res.results["subgroups"]["combined"].heterogeneity, sg.heterogeneity)
    # the reader study reproduces the published Obuchowski-Rockette F test (Hillis 2007)
    assert round(n["mrmc_statistic"], 3) == 4.456 and round(n["mrmc_p"], 4) == 0.0517


def test_demo_report_shows_the_sections(fast_demo):
    res, html_path = fast_demo
    html = html_path.read_text()
    text = re.sub(r"<[^>]+>", " ", html)
    for heading in ("Performance across centres", "Subgroup performance", "Example reader study"):
        assert heading in text
    assert "How to read a prediction interval" in text
    assert PREDICTION_INTERVAL_TEXT.split(";")[0].replace("*", "")[:60] in re.sub(r"\s+", " ", text)
    n = res.numbers
    assert f"{n['iecv_auc_pi_low/clinical']:.2f}–{n['iecv_auc_pi_high/clinical']:.2f}" in text
    for name in ("iecv_forest_clinical", "subgroups_combined", "reader_study_roc"):
        assert name in res.figures and res.figures[name].exists()


@pytest.mark.slow
@pytest.mark.deep
def test_demo_harmonized_study_diagnostics(tmp_path):
    """reports/studies/demo_harmonized.yaml: ComBat by manufacturer inside the development fold; the
    diagnostics by manufacturer and field strength equal harmonization_diagnostics on the features
    before and after the fitted ComBat step, on development and test patients."""
    import warnings

    from her2stats.reporting.config import load_config
    from her2stats.reporting.study import new_state, stage_cohort, stage_features, stage_models, stage_selection
    from her2stats.reporting.study import stage_centres

    cfg = load_config(Path(__file__).resolve().parents[2] / "reports" / "studies" / "demo_harmonized.yaml")
    st = new_state(cfg, fast=True, outdir=tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for stage in (stage_cohort, stage_features, stage_selection, stage_models, stage_centres):
            st = stage(st)
    n = st.numbers
    step = dict(st.deep["pipeline"].steps)["harmonization"]
    X = st.deep["X"].reset_index(drop=True)
    feats = list(step.feature_names_in_)
    after = step.transform(X)[feats]
    dev = (st.cohort["cohort_split"] == "development").to_numpy()
    for var in ("manufacturer", "field_strength"):
        for label, mask in (("development", dev), ("test", ~dev)):
            d = h2.harmonization_diagnostics(X[feats][mask].reset_index(drop=True), after[mask].reset_index(drop=True),
                                             st.cohort[var].to_numpy()[mask].astype(str), batch_col=var,
                                             seed=cfg.validation.seed)
            assert n[f"harmonization_auc_before/{var}/{label}"] == d.auc_before
            assert n[f"harmonization_auc_after/{var}/{label}"] == d.auc_after
            assert n[f"harmonization_icc_after/{var}/{label}"] == d.icc["icc_after"].median()
    assert st.figures["harmonization_manufacturer"].exists() and "harmonization" in st.tables
    # the external Philips scanner was unseen at fit time: mapped to the reference batch (left unadjusted)
    philips = (st.cohort["manufacturer"].astype(str) == "Philips").to_numpy()
    np.testing.assert_array_equal(after[philips].to_numpy(), X[feats][philips].to_numpy())
