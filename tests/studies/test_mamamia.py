"""Study 1: MAMA-MIA HER2-positive vs negative, development on ISPY2, external validation on
DUKE, ISPY1 and NACT (reports/studies/mamamia_her2.yaml).

References: R glm (binomial) for the development fit, pROC ``auc``/``ci.auc(method="delong")``
per external collection, the Hosmer-Lemeshow statistic written out in R
(``h2s_ref_external`` in r/studies_reference.R). Tolerance 1e-6 (iterative fits) for
coefficients and everything computed from predicted risks.
"""
from __future__ import annotations

import numpy as np
import pytest
import yaml

from her2stats.data.loaders import MAMAMIA_LEAKY_PREDICTORS
from her2stats.errors import ConfigError
from her2stats.reporting.config import load_config

from .conftest import apply_require, as_float, load_study, r_frame, study_config_path

EXTERNAL = ("DUKE", "ISPY1", "NACT")


@pytest.fixture(scope="module")
def cfg():
    return load_study("mamamia_her2")


@pytest.fixture(scope="module")
def analysed(mamamia, cfg):
    return apply_require(mamamia, list(cfg.cohort.require))


# ------------------------------------------------------------------------------ leakage
@pytest.mark.parametrize("leaky", sorted(set(MAMAMIA_LEAKY_PREDICTORS) | {
    "tumor_subtype", "anti_her2_neu_therapy", "nac_agent", "her2_status", "mamamia_her2"}))
def test_config_refuses_each_her2_encoding_predictor(leaky):
    raw = yaml.safe_load(study_config_path("mamamia_her2").read_text())
    raw["clinical"]["covariates"] = ["age", leaky]
    with pytest.raises(ConfigError, match=leaky):
        load_config(raw)
    # also when the config forgets to list it: the loader's constants are refused for a HER2 outcome
    raw["cohort"]["exclude_predictors"] = []
    with pytest.raises(ConfigError, match="encode"):
        load_config(raw)


def test_leaky_columns_allowed_when_outcome_is_not_her2():
    raw = yaml.safe_load(study_config_path("mamamia_her2").read_text())
    raw["cohort"] = {"source": "mamamia", "outcome": "pcr"}
    raw["clinical"]["covariates"] = ["age", "her2_status"]
    assert load_config(raw).clinical.covariates == ["age", "her2_status"]


def test_shipped_config_predictors_exist_and_do_not_leak(cfg, mamamia):
    covs = set(cfg.clinical.covariates)
    assert covs.isdisjoint(mamamia.attrs["leaky_predictors"])
    assert covs.isdisjoint(cfg.cohort.exclude_predictors)
    assert covs <= set(mamamia.columns)
    # every loader constant is in the config's own exclusion list as well
    assert set(MAMAMIA_LEAKY_PREDICTORS) <= set(cfg.cohort.exclude_predictors)


# ------------------------------------------------------------------------------ cohort flow
def test_cohort_flow_counts(analysed, mamamia):
    kept, flow = analysed
    assert len(mamamia) == 1506
    # 22 patients lack HER2 (17 NACT, 5 ISPY1), 3 ISPY2 patients lack age; hr is then complete
    assert flow == [("her2_status", 22), ("age", 3), ("hr", 0)]
    assert len(kept) == 1481
    counts = kept.groupby("center", observed=True)["her2_positive"].agg(["size", "sum"])
    assert counts.loc["ISPY2"].tolist() == [977, 241]
    assert counts.loc["DUKE"].tolist() == [291, 83]
    assert counts.loc["ISPY1"].tolist() == [166, 54]
    assert counts.loc["NACT"].tolist() == [47, 15]


# ------------------------------------------------------------------------------ R parity
@pytest.fixture(scope="module")
def reference(analysed, cfg, r_reference):
    kept, _ = analysed
    cols = [cfg.cohort.outcome, *cfg.clinical.covariates]
    train = r_frame(kept.loc[kept.center == "ISPY2"], cols)
    return {c: r_reference("h2s_ref_external", train, r_frame(kept.loc[kept.center == c], cols),
                           cfg.cohort.outcome, list(cfg.clinical.covariates), g=cfg.validation.hl_groups)
            for c in EXTERNAL} | {"fit": r_reference("h2s_ref_glm", train, cfg.cohort.outcome,
                                                      list(cfg.clinical.covariates))}


@pytest.mark.r
@pytest.mark.parametrize("engine", ["python", "r"])
def test_development_model_matches_r_glm(analysed, cfg, reference, engine):
    from her2stats import fit_lrm

    kept, _ = analysed
    dev = kept.loc[kept.center == "ISPY2"]
    model = fit_lrm(dev, cfg.cohort.outcome, list(cfg.clinical.covariates), engine=engine)
    ref = reference["fit"]
    assert model.n == ref["n"] == 977 and model.n_events == ref["events"] == 241
    np.testing.assert_allclose(model.coefficients.to_numpy(), np.asarray(ref["coef"]), rtol=0, atol=1e-6)
    np.testing.assert_allclose(model.standard_errors.to_numpy(), np.asarray(ref["se"]), rtol=0, atol=1e-6)


@pytest.mark.r
@pytest.mark.parametrize("collection", EXTERNAL)
def test_external_auc_delong_hl_brier_match_r(analysed, cfg, reference, collection):
    from her2stats import fit_lrm, hosmer_lemeshow, roc_auc

    kept, _ = analysed
    model = fit_lrm(kept.loc[kept.center == "ISPY2"], cfg.cohort.outcome, list(cfg.clinical.covariates),
                    engine="python")
    ext = kept.loc[kept.center == collection]
    y = as_float(ext[cfg.cohort.outcome])
    p = model.predict(ext)
    ref = reference[collection]
    np.testing.assert_allclose(p, np.asarray(ref["prob"]), rtol=0, atol=1e-6)
    auc = roc_auc(y, p, ci="delong", direction="<", engine="python")
    assert (auc.n_pos, auc.n_pos + auc.n_neg) == (ref["events"], ref["n"])
    np.testing.assert_allclose([auc.auc, auc.ci_low, auc.ci_high], [ref["auc"], ref["ci_low"], ref["ci_high"]],
                               rtol=0, atol=1e-6)
    hl = hosmer_lemeshow(y, p, g=cfg.validation.hl_groups, engine="python")
    np.testing.assert_allclose([hl.statistic, hl.p_value], [ref["hl_statistic"], ref["hl_p"]], rtol=0, atol=1e-6)
    assert hl.df == ref["hl_df"]
    assert abs(np.mean((p - y) ** 2) - ref["brier"]) < 1e-9


# ------------------------------------------------------------------------------ the whole study
@pytest.fixture(scope="module")
def run(study_run):
    return study_run("mamamia_her2")


@pytest.mark.slow
@pytest.mark.r
def test_run_study_flow_counts_every_exclusion(run):
    flow = run.flow
    assert flow["n_remaining"].iloc[0] == 1506
    assert flow["n_remaining"].iloc[-1] == len(run.cohort) == 1481
    assert int(flow["n_excluded"].sum()) == 25
    # the missing-HER2 step comes first and removes the 22 patients without HER2 status
    her2_rows = flow[flow["n_excluded"] > 0].iloc[0]
    assert her2_rows["n_excluded"] == 22 and "her2" in str(her2_rows["step"]).lower()
    assert run.cohort.groupby("cohort_split").size().to_dict() == {
        "development": 977, "external:DUKE": 291, "external:ISPY1": 166, "external:NACT": 47}
    assert set(run.cohort.loc[run.cohort.cohort_split == "development", "center"]) == {"ISPY2"}


@pytest.mark.slow
@pytest.mark.r
def test_run_study_numbers_match_r(run, cfg, r_reference):
    from .conftest import keyed, r_term

    df = run.cohort
    cols = [cfg.cohort.outcome, *cfg.clinical.covariates]
    train = r_frame(df.loc[df.cohort_split == "development"], cols)
    fit = r_reference("h2s_ref_glm", train, cfg.cohort.outcome, list(cfg.clinical.covariates))
    ors = keyed(run.numbers, "or")
    assert [r_term(k) for k in ors] == list(fit["term"][1:])
    np.testing.assert_allclose(list(ors.values()), np.exp(np.asarray(fit["coef"][1:])), rtol=1e-6)
    np.testing.assert_allclose(list(keyed(run.numbers, "or_p").values()), np.asarray(fit["p"][1:]), rtol=0, atol=1e-6)
    for collection in EXTERNAL:
        cohort = f"external:{collection}"
        part = df.loc[df.cohort_split == cohort]
        ref = r_reference("h2s_ref_external", train, r_frame(part, cols), cfg.cohort.outcome,
                          list(cfg.clinical.covariates), g=cfg.validation.hl_groups)
        pred = run.predictions.query("model == 'clinical' and cohort == @cohort")
        np.testing.assert_allclose(pred["prob"].to_numpy(), np.asarray(ref["prob"]), rtol=0, atol=1e-6)
        got = [run.numbers[f"{k}/clinical/{cohort}"] for k in ("auc", "auc_ci_low", "auc_ci_high", "hl_p", "brier")]
        np.testing.assert_allclose(got, [ref["auc"], ref["ci_low"], ref["ci_high"], ref["hl_p"], ref["brier"]],
                                   rtol=0, atol=1e-6, err_msg=cohort)
    # the clinical model does not transport: below chance on ISPY1 (reported, not flipped)
    assert run.numbers["auc/clinical/external:ISPY1"] < 0.5


@pytest.mark.slow
@pytest.mark.r
def test_run_study_outputs(run):
    assert {"table1", "performance", "calibration", "or_table", "flow"} <= set(run.tables)
    assert {"nomogram", "calibration_clinical", "dca_external_DUKE", "roc_external_NACT"} <= set(run.figures)
    for path in run.figures.values():
        assert path.is_file() and path.stat().st_size > 0
    t1 = run.results["table1"].tests.set_index("variable")
    assert {"pcr", "center", "manufacturer", "field_strength", "menopause", "hr"} <= set(t1.index)
    assert (t1["p_adjusted"] >= t1["p_value"] - 1e-15).all()


# ------------------------------------------------------------------------------ multicentre (issue 22)
def test_iecv_by_collection_and_external_pooling(study_run, analysed, cfg):
    """Per-collection and random-effects pooled performance with its prediction interval: the study's
    numbers equal the library on the analysed rows (IECV refits age + hr leaving one collection out;
    the ISPY2-fitted model validated on DUKE, ISPY1 and NACT and pooled)."""
    import her2stats as h2
    from her2stats.reporting.sections_centre import LogisticFitter

    res = study_run("mamamia_her2")
    kept, _ = analysed
    n = res.numbers
    v = cfg.validation
    nb = min(v.n_boot, v.fast_n_boot)
    eng = res.results["iecv"]["clinical"].engine
    iecv = h2.internal_external_cv(kept.reset_index(drop=True), LogisticFitter("her2_positive", ["age", "hr"], engine=eng),
                                   y="her2_positive", centre="center", thresholds=v.net_benefit_thresholds, n_boot=nb,
                                   seed=v.seed, engine=eng)
    assert n["iecv/k"] == 4
    for m in ("auc", "oe", "slope"):
        for col in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high"):
            key = f"iecv_{m}/clinical" if col == "estimate" else f"iecv_{m}_{col}/clinical"
            assert n[key] == pytest.approx(iecv.pooled.loc[m, col], rel=1e-9), key
    for c in ("DUKE", "ISPY1", "ISPY2", "NACT"):
        assert n[f"iecv_auc/clinical/{c}"] == pytest.approx(iecv.per_centre.set_index("centre").loc[c, "auc"], rel=1e-9)
    ext = res.predictions[res.predictions["cohort"].str.startswith("external") & (res.predictions["model"] == "clinical")]
    pooled = h2.validate_by_centre(ext["y"].to_numpy(), ext["prob"].to_numpy(), ext["cohort"].str.split(":").str[1].to_numpy(),
                                   thresholds=v.net_benefit_thresholds, n_boot=nb, seed=v.seed, engine=eng)
    assert n["centres_auc/clinical"] == pytest.approx(pooled.pooled.loc["auc", "estimate"], rel=1e-9)
    assert n["centres_auc_pi_low/clinical"] == pytest.approx(pooled.pooled.loc["auc", "pi_low"], rel=1e-9)
    # the development-fitted model does not discriminate in any external collection (AUC 0.42-0.50)
    assert 0.35 < n["centres_auc/clinical"] < 0.55
    sg = res.results["subgroups"]["clinical"]
    assert set(sg.table["variable"]) == {"manufacturer", "field_strength"}
    assert sg.p_adjust == "holm"
