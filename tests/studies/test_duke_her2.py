"""Study 2: Duke HER2-positive vs negative from clinicopathological variables and MRI-reported
descriptors, the shape of seed 002 (reports/studies/duke_her2.yaml).

References (r/studies_reference.R): R ``glm`` + ``step(direction="both")`` on the development
rows for the stepwise multivariable model (selected terms, coefficients, AIC; 1e-6), pROC AUC
with DeLong CI on the internal test rows and the paired DeLong ``roc.test`` of the full vs the
stepwise model (1e-6), R ``chisq.test``/``fisher.test`` for the Table 1 categorical p-values
(1e-9) and ``p.adjust(method="BH")`` over the whole Table 1 family (1e-12).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from her2stats.data.loaders import DUKE_LEAKY_PREDICTORS
from her2stats.errors import ConfigError
from her2stats.reporting.config import load_config

from .conftest import apply_require, as_float, load_study, r_frame, study_config_path


@pytest.fixture(scope="module")
def cfg():
    return load_study("duke_her2")


#: the complete-case analysis (the sensitivity analysis of the imputed study): HER2 known
#: (cohort.require), then each clinical covariate with missing values, in this order
COMPLETE_CASE = ["age", "menopause", "er", "pr", "grade", "n_stage"]


@pytest.fixture(scope="module")
def analysed(duke, cfg):
    kept, flow = apply_require(duke, [*cfg.cohort.require, *COMPLETE_CASE])
    assert kept[list(cfg.clinical.covariates)].notna().all().all()  # the other covariates are never missing
    return kept, flow


@pytest.fixture(scope="module")
def split(analysed, cfg):
    from her2stats.data import make_splits

    kept, _ = analysed
    s = make_splits(kept, by=None, stratify=cfg.cohort.outcome, test_size=cfg.splits.internal_fraction,
                    seed=cfg.splits.seed)
    return s.loc[s.split == "train"], s.loc[s.split == "internal"]


def test_config_refuses_her2_encoding_predictors():
    raw = yaml.safe_load(study_config_path("duke_her2").read_text())
    raw["cohort"]["exclude_predictors"] = []
    for leaky in (*DUKE_LEAKY_PREDICTORS, "mol_subtype", "duke_her2", "her2_status"):
        raw["clinical"]["covariates"] = ["age", leaky]
        with pytest.raises(ConfigError, match="encode"):
            load_config(raw)


def test_shipped_config_predictors_exist_and_do_not_leak(cfg, duke):
    covs = set(cfg.clinical.covariates)
    assert covs <= set(duke.columns)
    assert covs.isdisjoint(duke.attrs["leaky_predictors"]) and covs.isdisjoint(cfg.cohort.exclude_predictors)


def test_cohort_flow_and_split_counts(analysed, split, duke):
    kept, flow = analysed
    assert len(duke) == 922
    # HER2 is recorded for everyone; 16 lack menopause, then 282 lack Nottingham grade, 15 N stage
    assert flow == [("her2_status", 0), ("age", 0), ("menopause", 16), ("er", 0), ("pr", 0),
                    ("grade", 282), ("n_stage", 15)]
    assert len(kept) == 609 and int(kept["her2_positive"].sum()) == 108
    dev, internal = split
    # stratified 70/30: round(0.3 * stratum size) of each HER2 stratum is held out
    assert (len(dev), len(internal)) == (427, 182)
    assert (int(dev["her2_positive"].sum()), int(internal["her2_positive"].sum())) == (76, 32)
    assert set(dev["patient_id"]).isdisjoint(internal["patient_id"])


@pytest.mark.r
def test_table1_pvalues_match_r_and_bh_family(analysed, cfg, r_reference):
    from her2stats import table_one
    from her2stats import r_bridge

    kept, _ = analysed
    t1 = table_one(kept, cfg.table1.group, variables=list(cfg.table1.variables),
                   categorical=list(cfg.table1.categorical), p_adjust=cfg.table1.p_adjust,
                   normality_test=cfg.table1.normality_test, engine="python")
    tests = t1.tests.set_index("variable")
    for var in cfg.table1.categorical:
        sub = kept[[var, cfg.table1.group]].dropna()
        tab = pd.crosstab(sub[var].astype(str), sub[cfg.table1.group].astype(str)).to_numpy().astype(float)
        name = str(tests.loc[var, "test"]).lower()
        fn = "fisher.test" if "fisher" in name else "chisq.test"
        p_r = r_bridge.r_eval(f"{fn}(matrix(c({','.join(map(str, tab.T.ravel()))}), nrow={tab.shape[0]}))$p.value")
        assert abs(tests.loc[var, "p_value"] - float(p_r)) < 1e-9, var
    raw = tests["p_value"].to_numpy()
    bh = np.asarray(r_bridge.call("p.adjust", raw, method="BH"), dtype=float)
    np.testing.assert_allclose(tests["p_adjusted"].to_numpy(), bh, rtol=0, atol=1e-12)
    assert (tests["p_adjusted"] >= tests["p_value"] - 1e-15).all()


@pytest.fixture(scope="module")
def step_reference(split, cfg, r_reference):
    dev, _ = split
    cols = [cfg.cohort.outcome, *cfg.clinical.covariates]
    return r_reference("h2s_ref_glm", r_frame(dev, cols), cfg.cohort.outcome, list(cfg.clinical.covariates),
                       step="both")


@pytest.mark.r
@pytest.mark.parametrize("engine", ["python", "r"])
def test_stepwise_multivariable_model_matches_r_step(split, cfg, step_reference, engine):
    from her2stats import logistic_table

    dev, _ = split
    lt = logistic_table(dev, cfg.cohort.outcome, list(cfg.clinical.covariates), univariable=False,
                        stepwise="both", engine=engine)
    ref = step_reference
    assert list(lt.selected) == list(np.atleast_1d(ref["selected"]))
    assert lt.n == ref["n"] == 427 and lt.n_events == ref["events"]
    np.testing.assert_allclose(lt.multivariable["estimate"].to_numpy(), np.asarray(ref["coef"]), rtol=0, atol=1e-6)
    # R's glm computes the SEs from the IRLS weights of the last-but-one iterate: both the
    # package's R engine (r/logistic.R) and the reference converge to a relative deviance change
    # of 1e-12, which keeps SEs of this sparse design (4 HER2-positive grade-1 patients) within 1e-6
    np.testing.assert_allclose(lt.multivariable["se"].to_numpy(), np.asarray(ref["se"]), rtol=0, atol=1e-6)
    np.testing.assert_allclose(lt.multivariable["or"].to_numpy(), np.exp(np.asarray(ref["coef"])), rtol=1e-6)
    assert abs(float(lt.steps["criterion"].iloc[-1]) - ref["aic"]) < 1e-6


@pytest.mark.r
def test_internal_auc_and_delong_full_vs_stepwise_match_r(split, cfg, step_reference, r_reference):
    from her2stats import fit_lrm, roc_auc, roc_test

    dev, internal = split
    full = fit_lrm(dev, cfg.cohort.outcome, list(cfg.clinical.covariates), engine="python")
    selected = list(np.atleast_1d(step_reference["selected"]))
    reduced = fit_lrm(dev, cfg.cohort.outcome, selected, engine="python")
    y = as_float(internal[cfg.cohort.outcome])
    p_full, p_step = full.predict(internal), reduced.predict(internal)
    for p in (p_full, p_step):
        ours = roc_auc(y, p, ci="delong", direction="<", engine="python")
        ref = r_reference("h2s_ref_auc", y, p)
        np.testing.assert_allclose([ours.auc, ours.ci_low, ours.ci_high], [ref["auc"], ref["ci_low"], ref["ci_high"]],
                                   rtol=0, atol=1e-6)
    test = roc_test(y, p_full, p_step, paired=True, method="delong", direction="<", engine="python")
    ref = r_reference("h2s_ref_delong", y, p_full, p_step)
    assert abs(test.statistic - ref["statistic"]) < 1e-6 and abs(test.p_value - ref["p"]) < 1e-6
    # the reduced model's coefficients on the development rows are R's step() fit
    np.testing.assert_allclose(reduced.coefficients.to_numpy(), np.asarray(step_reference["coef"]), rtol=0, atol=1e-6)


# ------------------------------------------------------------------------------ the whole study
@pytest.fixture(scope="module")
def run(study_run):
    return study_run("duke_her2")


@pytest.mark.slow
@pytest.mark.r
def test_run_study_flow_and_cohorts(run, analysed, split):
    kept, flow = analysed
    assert run.flow["n_remaining"].iloc[0] == 922
    assert run.flow["n_remaining"].iloc[-1] == len(run.cohort) == len(kept) == 609
    assert int(run.flow["n_excluded"].sum()) == sum(n for _, n in flow) == 313
    dev, internal = split
    by = run.cohort.groupby("cohort_split")["patient_id"].apply(set)
    assert by["development"] == set(dev["patient_id"]) and by["internal"] == set(internal["patient_id"])


@pytest.mark.slow
@pytest.mark.r
def test_run_study_stepwise_or_auc_delong_match_r(run, cfg, r_reference):
    from .conftest import keyed, r_term

    df = run.cohort
    dev = df.loc[df.cohort_split == "development"]
    cols = [cfg.cohort.outcome, *cfg.clinical.covariates]
    ref = r_reference("h2s_ref_glm", r_frame(dev, cols), cfg.cohort.outcome, list(cfg.clinical.covariates),
                      step="both")
    assert list(run.results["clinical_covariates"]) == list(np.atleast_1d(ref["selected"]))
    ors = keyed(run.numbers, "or")
    assert [r_term(k) for k in ors] == list(ref["term"][1:])
    np.testing.assert_allclose(list(ors.values()), np.exp(np.asarray(ref["coef"][1:])), rtol=1e-6)
    pred = run.predictions.query("cohort == 'internal'").pivot(index="patient_id", columns="model", values="prob")
    y = run.predictions.query("cohort == 'internal' and model == 'clinical'").set_index("patient_id")["y"]
    y = as_float(y.loc[pred.index])
    # the internal rows' risks are the development fit applied unchanged
    sel = list(np.atleast_1d(ref["selected"]))
    ext = r_reference("h2s_ref_external", r_frame(dev, [cfg.cohort.outcome, *sel]),
                      r_frame(df.loc[df.cohort_split == "internal"].set_index("patient_id").loc[pred.index]
                              .reset_index(), [cfg.cohort.outcome, *sel]), cfg.cohort.outcome, sel)
    np.testing.assert_allclose(pred["clinical"].to_numpy(), np.asarray(ext["prob"]), rtol=0, atol=1e-6)
    got = [run.numbers[f"{k}/clinical/internal"] for k in ("auc", "auc_ci_low", "auc_ci_high", "hl_p", "brier")]
    np.testing.assert_allclose(got, [ext["auc"], ext["ci_low"], ext["ci_high"], ext["hl_p"], ext["brier"]],
                               rtol=0, atol=1e-6)
    for other in cfg.zoo.models:
        t = r_reference("h2s_ref_delong", y, pred["clinical"].to_numpy(), pred[other].to_numpy())
        assert abs(run.numbers[f"delong_p/clinical~{other}/internal"] - t["p"]) < 1e-6, other


@pytest.mark.slow
@pytest.mark.r
def test_run_study_outputs_and_useful_dca_range(run):
    assert {"table1", "table1_by_cohort", "performance", "calibration", "delong", "or_table", "flow"} <= set(run.tables)
    assert {"nomogram", "calibration_clinical", "dca_internal", "roc_internal"} <= set(run.figures)
    lo, hi = run.numbers["dca_useful_from/clinical/internal"], run.numbers["dca_useful_to/clinical/internal"]
    dc = run.results["dca"]["internal"]
    tab = dc.to_frame()
    inside = tab[(tab["threshold"] >= lo - 1e-9) & (tab["threshold"] <= hi + 1e-9)]
    # within the reported range the model beats treat-all and treat-none at every threshold
    nb = inside.pivot(index="threshold", columns="strategy", values="net_benefit")
    assert (nb["clinical"] > nb["all"]).all() and (nb["clinical"] > 0).all()
    assert "calibrate/clinical" in run.results


@pytest.mark.slow
@pytest.mark.r
def test_run_study_imputed_main_analysis(run, cfg, duke):
    """Multiple imputation (imputation: in the config): every patient analysed, what was imputed
    counted per variable, the pooled ORs on R's mice::pool equal to Rubin's rules in Python on the
    same imputations (1e-6: two logistic fitters), the development figures bootstrap-then-impute
    corrected, and the complete-case analysis kept beside it."""
    from her2stats import fit_lrm_mi

    nums = run.numbers
    assert nums["mi/n/development"] + nums["mi/n/internal"] == len(duke) == 922
    for v in ("grade", "menopause", "n_stage"):
        assert nums[f"mi/n_imputed/{v}/development"] + nums[f"mi/n_imputed/{v}/internal"] == duke[v].isna().sum()
    res = run.results["imputation"]
    assert res.imputer.imputations_.n == nums["mi/n/development"]
    py = fit_lrm_mi(res.imputations["development"], "_y", list(res.covariates), engine="python")
    for term in py.table.index.drop("Intercept"):
        np.testing.assert_allclose(nums[f"mi/or/{term}"], py.table.loc[term, "odds_ratio"], rtol=1e-6)
        np.testing.assert_allclose(nums[f"mi/or_ci_low/{term}"], py.table.loc[term, "or_ci_low"], rtol=1e-6)
    assert nums["mi/auc/clinical/development"] == res.validation.corrected("AUC")
    assert 0.5 < nums["mi/auc/clinical/internal"] < 0.8
    assert {"imputation", "mi_or_table", "mi_performance", "mi_vs_complete_case"} <= set(run.tables)
    assert {"pipeline_validation", "pipeline_instability", "pipeline_selection"} <= set(run.tables)
