"""The study's imputed main analysis (issue 17, items 6-7) and its whole-pipeline validation
section (issue 23, item 5), on a small fixture: the demo cohort's clinical covariates with values
removed at random (MAR: more often in older patients).

Leakage: the imputation model is fitted on development rows only; changing anything in a test
cohort (its covariates, their gaps, its outcome) leaves the development imputations and the pooled
model bit-identical, and the test cohort's imputations do not depend on its outcome.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from her2stats.errors import ConfigError, InputError
from her2stats.reporting.config import ImputationConfig, load_config
from her2stats.reporting.imputed import (complete_case_comparison, imputed_analysis, select_clinical,
                                         split_by_completeness)

COVS = ["age", "er", "grade", "ki67"]


@pytest.fixture(scope="module")
def cohort():
    from her2stats.data import load_demo

    df = load_demo()
    df = df[["patient_id", "center", "her2_positive", *COVS]].copy().reset_index(drop=True)
    rng = np.random.default_rng(7)
    old = (df["age"] > df["age"].median()).to_numpy()
    for c, p in (("grade", 0.25), ("ki67", 0.15), ("er", 0.08)):
        gone = rng.random(len(df)) < np.where(old, 1.6 * p, 0.4 * p)
        df.loc[gone, c] = np.nan
    df["_y"] = df["her2_positive"].astype(int)
    df["cohort_split"] = np.where(df["center"].astype(str) == "C", "external",
                                  np.where(rng.random(len(df)) < 0.3, "internal", "development"))
    return df


def _run(df, **kw):
    cfg = ImputationConfig(m=3, seed=11, **kw)
    return imputed_analysis(df, COVS, ["development", "internal", "external"], cfg, engine="python", seed=1)


@pytest.fixture(scope="module")
def analysis(cohort):
    return _run(cohort)


def test_imputer_is_fitted_on_development_rows_only(cohort, analysis):
    dev = cohort[cohort["cohort_split"] == "development"]
    mi = analysis.imputer.imputations_
    assert mi.n == len(dev) and mi.datasets[0].index.equals(dev.index)
    assert analysis.imputations["development"].role == "development"
    for c in ("internal", "external"):
        assert analysis.imputations[c].role == "new data" and not analysis.imputations[c].outcome_used
        assert analysis.imputations[c].datasets[0].index.equals(cohort.index[cohort["cohort_split"] == c])


def test_changing_a_test_cohort_changes_nothing_learnt(cohort, analysis):
    """Leakage test: scramble the test cohorts (covariates, gaps, outcome); the development
    imputations and the pooled model must not move by one bit."""
    rng = np.random.default_rng(3)
    other = cohort.copy()
    test = other["cohort_split"] != "development"
    other.loc[test, "age"] = rng.uniform(20, 90, int(test.sum()))
    other.loc[test, "ki67"] = np.where(rng.random(int(test.sum())) < 0.5, np.nan, 99.0)
    other.loc[test, "_y"] = 1 - other.loc[test, "_y"]
    res = _run(other)
    pd.testing.assert_series_equal(res.model.coefficients, analysis.model.coefficients, check_exact=True)
    for a, b in zip(res.imputations["development"], analysis.imputations["development"]):
        pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_imputed_analysis_does_not_depend_on_the_scheduler(cohort, analysis):
    cfg = ImputationConfig(m=3, seed=11)
    res = imputed_analysis(cohort, COVS, ["development", "internal", "external"], cfg, engine="python", seed=1,
                           scheduler="threads")
    assert res.numbers == analysis.numbers


def test_test_imputations_do_not_read_the_test_outcome(cohort, analysis):
    flipped = cohort.copy()
    test = flipped["cohort_split"] == "internal"
    flipped.loc[test, "_y"] = 1 - flipped.loc[test, "_y"]
    res = _run(flipped)
    for a, b in zip(res.imputations["internal"], analysis.imputations["internal"]):
        pd.testing.assert_frame_equal(a[COVS], b[COVS], check_exact=True)
    assert not res.imputations["internal"].datasets[0][COVS].isna().any().any()


def test_numbers_tables_and_flow_say_what_was_imputed(cohort, analysis):
    nums = analysis.numbers
    for c in ("development", "internal", "external"):
        part = cohort[cohort["cohort_split"] == c]
        for v in COVS:
            assert nums[f"mi/n_imputed/{v}/{c}"] == part[v].isna().sum()
        assert nums[f"mi/n_incomplete/{c}"] == part[COVS].isna().any(axis=1).sum()
        assert nums[f"mi/n/{c}"] == len(part)
    # development figures of the pooled model are apparent, and labelled so
    assert "mi/auc_apparent/clinical/development" in nums and "mi/auc/clinical/development" not in nums
    assert 0.5 < nums["mi/auc/clinical/external"] < 1
    assert {"imputation", "mi_or_table", "mi_performance", "mi_net_benefit"} <= set(analysis.tables)
    assert "(apparent)" in analysis.tables["mi_performance"].data["Cohort"].iloc[0]
    flow = pd.DataFrame(analysis.flow_rows)
    assert list(flow["step"]) == ["imputed (development)", "imputed (internal)", "imputed (external)"]
    assert (flow["n_excluded"] == 0).all()
    dev_missing = int(cohort.loc[cohort["cohort_split"] == "development", "grade"].isna().sum())
    assert f"grade {dev_missing}" in flow["reason"].iloc[0]
    facts = analysis.tripod_facts(len(cohort))
    assert "multiple imputation" in facts["missing_data"]["method"]
    assert facts["missing_data"]["by_column"]["grade"] == int(cohort["grade"].isna().sum())


def test_pooled_model_is_fit_lrm_mi_on_the_development_imputations(analysis):
    from her2stats import fit_lrm_mi, performance_mi

    m = fit_lrm_mi(analysis.imputer.imputations_, "_y", COVS, engine="python")
    pd.testing.assert_series_equal(m.coefficients, analysis.model.coefficients, rtol=0, atol=0)
    perf = performance_mi(m, analysis.imputations["internal"], outcome="_y", engine="python")
    assert analysis.numbers["mi/auc/clinical/internal"] == pytest.approx(perf.value("auc"), abs=1e-12)
    assert analysis.numbers["mi/cal_slope/clinical/internal"] == pytest.approx(perf.value("calibration_slope"),
                                                                              abs=1e-12)


def test_bootstrap_then_impute_gives_the_development_figures(cohort):
    res = _run(cohort, validation="bootstrap_then_impute", n_boot=3, m_boot=2)
    v = res.validation
    assert v is not None and v.n_boot == 3 and v.m_boot == 2
    assert res.numbers["mi/auc/clinical/development"] == pytest.approx(v.corrected("AUC"), abs=0)
    assert "bootstrap-then-impute" in res.methods and "Schomaker" in res.methods
    assert any("corrected" in c for c in res.tables["mi_performance"].data["Cohort"])


def test_selection_on_imputed_data_uses_the_majority_rule(cohort):
    res = imputed_analysis(cohort, COVS, ["development", "internal"], ImputationConfig(m=3, seed=2),
                           selection="stepwise", engine="python")
    assert set(res.selection) == set(COVS)
    assert list(res.covariates) == [c for c in COVS if res.selection[c] >= 0.5]
    # each share is the fraction of imputations in which the study's rule kept the covariate
    kept = [select_clinical(d, "_y", COVS, "stepwise", "python", 0) for d in res.imputations["development"]]
    assert res.selection == {c: sum(c in k for k in kept) / 3 for c in COVS}


def test_imputed_selection_follows_the_studys_whole_rule(cohort):
    """The imputed analysis, the study fit, the folds and the pipeline bootstrap share one selection
    rule: a univariable screen nothing passes leaves nothing on the imputed data either (an imputed
    run used to ignore the screen and keep every covariate)."""
    from her2stats.reporting.clinical_selection import select_clinical
    from her2stats.reporting.config import ClinicalModelConfig

    strict = ClinicalModelConfig(covariates=COVS, selection="univariate", univariate_p=1e-300)
    with pytest.raises(InputError, match="kept no clinical covariate"):
        imputed_analysis(cohort, COVS, ["development", "internal"], ImputationConfig(m=3, seed=2),
                         selection="univariate", rule=strict, engine="python")
    lenient = ClinicalModelConfig(covariates=COVS, selection="univariate", univariate_p=0.2)
    res = imputed_analysis(cohort, COVS, ["development", "internal"], ImputationConfig(m=3, seed=2),
                           selection="univariate", rule=lenient, engine="python")
    dev = res.imputations["development"]
    kept = [select_clinical(d, "_y", COVS, "univariate", "python", rule=lenient, allow_empty=True) for d in dev]
    assert list(res.covariates) == [c for c in COVS if sum(c in k for k in kept) / len(kept) >= 0.5]


def test_split_by_completeness_splits_complete_rows_as_a_complete_case_run(cohort):
    from her2stats.data import make_splits

    def assign(d):
        sp = make_splits(d, by=None, stratify="her2_positive", test_size=0.3, seed=5)
        return d.assign(cohort_split=np.where(sp["split"].astype(str) == "train", "development", "internal"))

    complete = cohort[COVS].notna().all(axis=1)
    both = split_by_completeness(cohort.drop(columns="cohort_split"), complete, assign)
    assert both.index.equals(cohort.index)
    alone = assign(cohort.drop(columns="cohort_split").loc[complete])
    pd.testing.assert_series_equal(both.loc[complete, "cohort_split"], alone["cohort_split"])
    inc = both.loc[~complete, "cohort_split"]
    assert 0.15 < (inc == "internal").mean() < 0.45


def test_complete_case_comparison_reads_both_analyses():
    nums = {"mi/n/internal": 100.0, "n/internal": 70.0, "mi/auc/clinical/internal": 0.7,
            "mi/auc_ci_low/clinical/internal": 0.6, "mi/auc_ci_high/clinical/internal": 0.8,
            "auc/clinical/internal": 0.65, "auc_ci_low/clinical/internal": 0.5, "auc_ci_high/clinical/internal": 0.8,
            "mi/cal_slope/clinical/internal": 0.9, "cal_slope/clinical/internal": 0.8,
            "mi/or/age": 1.1, "mi/or_ci_low/age": 1.0, "mi/or_ci_high/age": 1.2}
    t = complete_case_comparison(nums, ["internal"]).data
    assert list(t.iloc[0, 1:]) == ["100", "70"]
    assert t.iloc[1, 1].startswith("0.700") and t.iloc[1, 2].startswith("0.650")
    assert t.iloc[-1, 2] == "not in model"


def test_imputation_refuses_a_missing_outcome(cohort):
    bad = cohort.copy()
    bad["_y"] = bad["_y"].astype(float)
    bad.loc[bad.index[0], "_y"] = np.nan
    with pytest.raises(InputError, match="outcome"):
        _run(bad)


# ---------------------------------------------------------------------------------- config
BASE = {"name": "x", "clinical": {"covariates": ["age", "grade"]}}


@pytest.mark.parametrize("extra, message", [
    ({"imputation": {"metod": "mice"}}, "imputation.metod: unknown key; did you mean 'method'?"),
    ({"imputaton": {"m": 5}}, "imputaton: unknown key; did you mean 'imputation'?"),
    ({"imputation": {"methods": {"grade": "pmn"}}}, "did you mean 'pmm'?"),
    ({"imputation": {"methods": {"grad": "pmm"}}}, "did you mean 'grade'?"),
    ({"imputation": {"validation": "bootstrap"}}, "imputation.validation"),
    ({"imputation": {"m": 1}}, "imputation.m"),
    ({"imputation": {"auxiliary": ["grade"]}}, "imputed anyway"),
    ({"pipeline_validation": {"n_bot": 5}}, "pipeline_validation.n_bot: unknown key; did you mean 'n_boot'?"),
    ({"pipeline_validation": {"models": ["deep_score"]}}, "imaging"),
])
def test_config_errors_name_the_key_and_the_closest_valid_one(extra, message):
    with pytest.raises(ConfigError, match=pytest.importorskip("re").escape(message)):
        load_config({**BASE, **extra})


def test_config_imputation_needs_a_clinical_model_and_refuses_leaky_auxiliaries():
    with pytest.raises(ConfigError, match="clinical section"):
        load_config({"name": "x", "imputation": {}})
    with pytest.raises(ConfigError, match="encode"):
        load_config({**BASE, "imputation": {"auxiliary": ["her2_positive"]}})
    cfg = load_config({**BASE, "imputation": {"m": 20, "seed": 4, "validation": "bootstrap_then_impute"},
                       "pipeline_validation": {"n_boot": 50}})
    assert cfg.imputation.m == 20 and cfg.imputation.validation == "bootstrap_then_impute"
    assert cfg.pipeline_validation.n_boot == 50


# ---------------------------------------------------------------------------------- pipeline section
def test_pipeline_section_refits_the_clinical_selection_in_every_resample(cohort):
    import matplotlib

    matplotlib.use("Agg")
    from her2stats import pipeline_bootstrap
    from her2stats.reporting.pipeline_section import ClinicalSelector, pipeline_validation_section, study_pipelines
    from her2stats.reporting.tripod import tripod_checklist

    dev = cohort[(cohort["cohort_split"] == "development") & cohort[COVS].notna().all(axis=1)]
    pipes = study_pipelines(dev, covariates=COVS, selection="stepwise", models=["clinical"], engine="python", seed=1)
    pipe, X, y = pipes["clinical"]
    assert isinstance(pipe.steps[0][1], ClinicalSelector) and not hasattr(pipe.steps[0][1], "selected_")
    sec = pipeline_validation_section(pipes, n_boot=6, seed=2, figures=True)
    r = sec.results["clinical"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the failed refits (separation) are announced by the section too
        ref = pipeline_bootstrap(pipe, X, y, n_boot=6, seed=2)
    pd.testing.assert_frame_equal(r.table, ref.table)
    assert sec.numbers["pipeline/auc/clinical"] == r.table.loc["AUC", "estimate"]
    assert sec.numbers["pipeline_mape/clinical"] == pytest.approx(r.mape().mean())
    # the selection was redone in each refit: its frequencies are shares of refits, not all 0/1
    freq = r.selection_frequency()
    assert set(freq.index) <= set(COVS)
    assert {"pipeline_validation", "pipeline_instability", "pipeline_selection"} <= set(sec.tables)
    assert {"pipeline_prediction_clinical", "pipeline_mape_clinical"} <= set(sec.figures)
    facts = {"analysis": {"model_type": "logistic regression", "internal_validation": "rms validate"},
             "performance": {"measures": ["AUC"]}}
    from her2stats.reporting.pipeline_section import merge_tripod_facts

    merged = merge_tripod_facts(facts, sec.facts)
    assert "rms validate" in merged["analysis"]["internal_validation"]
    assert "whole pipeline" in merged["analysis"]["internal_validation"]
    items = tripod_checklist(merged).to_frame().set_index("item")
    assert items.loc["12c", "status"] == "reported"
    assert "whole pipeline" in items.loc["12c", "evidence"]


def test_pipeline_section_refuses_incomplete_covariates(cohort):
    from her2stats.reporting.pipeline_section import study_pipelines

    dev = cohort[cohort["cohort_split"] == "development"]
    with pytest.raises(InputError, match="complete cases"):
        study_pipelines(dev, covariates=COVS, models=["clinical"])


# ---------------------------------------------------------------------------------- the study runner
def _study(tmp_path, cohort, imputation: bool, pipeline: bool = False):
    path = tmp_path / "cohort.csv"
    if not path.exists():
        cohort.drop(columns=["_y", "cohort_split"]).to_csv(path, index=False)
    cfg = {"name": "mi_fixture", "engine": "python",
           "cohort": {"source": "csv", "path": str(path), "outcome": "her2_positive"},
           "splits": {"by": "random", "internal_fraction": 0.3, "seed": 3},
           "table1": {"group": "her2_positive", "variables": COVS},
           "clinical": {"covariates": COVS},
           "validation": {"n_boot": 5, "calibrate_n_boot": 5, "fast_n_boot": 5, "seed": 2},
           "report": {"figure_formats": ["png"]}}
    if imputation:
        cfg["imputation"] = {"m": 20, "fast_m": 3, "seed": 5, "validation": "bootstrap_then_impute", "n_boot": 3,
                             "m_boot": 2}
    if pipeline:
        cfg["pipeline_validation"] = {"n_boot": 50, "fast_n_boot": 4}
    return cfg


@pytest.fixture(scope="module")
def runs(tmp_path_factory, cohort):
    import matplotlib

    matplotlib.use("Agg")
    from her2stats.reporting.config import load_config
    from her2stats.reporting.study import run_study

    tmp = tmp_path_factory.mktemp("mi_study")
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, imp in (("complete_case", False), ("imputed", True)):
            out[name] = run_study(load_config(_study(tmp, cohort, imp, pipeline=imp)), fast=True, outdir=tmp / name)
    return out


@pytest.mark.slow
def test_runner_complete_case_sensitivity_equals_a_plain_complete_case_run(runs):
    cc, mi = runs["complete_case"], runs["imputed"]
    shared = set(cc.numbers) & set(mi.numbers)
    assert set(cc.numbers) <= set(mi.numbers)  # every number of the plain run is reported, unchanged
    assert {k: mi.numbers[k] for k in shared} == {k: cc.numbers[k] for k in shared}
    pd.testing.assert_frame_equal(mi.cohort.reset_index(drop=True), cc.cohort.reset_index(drop=True))
    # the imputed analysis has every patient; the complete-case one only the complete ones
    assert mi.numbers["mi/n/development"] + mi.numbers["mi/n/internal"] == len(mi.cohort) + \
        mi.numbers["mi/n_incomplete/development"] + mi.numbers["mi/n_incomplete/internal"]
    assert "mi_vs_complete_case" in mi.tables and "imputation" in mi.tables


@pytest.mark.slow
def test_runner_imputation_model_never_sees_test_rows(runs, cohort):
    res = runs["imputed"].results["imputation"]
    dev_rows = res.imputations["development"].datasets[0].index
    test_rows = res.imputations["internal"].datasets[0].index
    assert res.imputer.imputations_.n == len(dev_rows) and dev_rows.intersection(test_rows).empty
    assert res.imputations["internal"].role == "new data" and not res.imputations["internal"].outcome_used


@pytest.mark.slow
def test_runner_flow_shows_what_was_imputed_and_the_complete_cases(runs, cohort):
    flow = runs["imputed"].flow
    steps = list(flow["step"])
    assert "multiple imputation (development)" in steps and "multiple imputation (internal)" in steps
    imp_rows = flow[flow["step"].str.startswith("multiple imputation")]
    assert (imp_rows["n_excluded"] == 0).all()
    assert imp_rows["n_remaining"].sum() == len(cohort)
    n_grade = int(cohort["grade"].isna().sum())
    got = sum(int(r.split("grade ")[1].split(",")[0]) for r in imp_rows["reason"])
    assert got == n_grade
    last = flow.iloc[-1]
    assert last["n_remaining"] == len(runs["imputed"].cohort)
    assert last["n_excluded"] == int(cohort[COVS].isna().any(axis=1).sum())


@pytest.mark.slow
def test_runner_pipeline_section_fills_tripod_and_methods(runs):
    res = runs["imputed"]
    assert {"pipeline_validation", "pipeline_instability"} <= set(res.tables)
    assert "pipeline/auc/clinical" in res.numbers and "pipeline_mape/clinical" in res.numbers
    assert "pipeline_prediction_clinical" in res.figures and res.figures["pipeline_prediction_clinical"].exists()
    t = res.results["tripod"].to_frame().set_index("item")
    assert t.loc["12c", "status"] == "reported" and "whole pipeline" in t.loc["12c", "evidence"]
    assert "bootstrap-then-impute" in t.loc["12c", "evidence"]
    assert t.loc["11", "status"] == "reported" and "multiple imputation" in t.loc["11", "evidence"]
    assert "Riley and Collins" in res.methods and "chained equations" in res.methods
    # a value that cannot be computed (CI from < 2 refits) is left out, never stored as NaN
    assert all(np.isfinite(v) for k, v in res.numbers.items() if k.startswith(("mi/", "pipeline")))
    # without the sections, nothing of them appears
    cc = runs["complete_case"]
    assert not any(k.startswith(("mi/", "pipeline")) for k in cc.numbers)
    assert "whole pipeline" not in cc.results["tripod"].to_frame().set_index("item").loc["12c", "evidence"]


@pytest.mark.parametrize("split", ["random", "center", "two_external"])
def test_cohort_stage_complete_cases_equal_a_run_without_imputation(tmp_path, cohort, split):
    """The cohort stage alone: the complete cases of an imputed study are the cohort (rows, order,
    splits) of the same study without imputation, also when the incomplete patients come from some
    centres only (here: none from the external centre C)."""
    from her2stats.reporting.config import load_config
    from her2stats.reporting.study import new_state, stage_cohort

    df = cohort.copy()
    df.loc[df["center"].astype(str) == "C", COVS] = df.loc[df["center"].astype(str) == "C", COVS].fillna(
        {"age": 50.0, "ki67": 20.0})
    df = df[~((df["center"].astype(str) == "C") & df[COVS].isna().any(axis=1))]
    cfgs = []
    for imp in (False, True):
        c = _study(tmp_path, df, imp)
        if split == "center":
            c["splits"] = {"by": "center", "column": "center", "train": ["A"], "external": ["C"],
                           "internal_fraction": 0.3, "seed": 3}
        elif split == "two_external":
            c["splits"] = {"by": "center", "column": "center", "train": ["A"], "external": ["B", "C"],
                           "internal_fraction": 0.3, "seed": 3}
        cfgs.append(load_config(c))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = stage_cohort(new_state(cfgs[0], engine="python"))
        imputed = stage_cohort(new_state(cfgs[1], engine="python"))
    pd.testing.assert_frame_equal(imputed.cohort, plain.cohort)
    full = imputed.imputation_cohort
    kept = {"center": {"A", "C"}, "two_external": {"A", "B", "C"}}.get(split, {"A", "B", "C"})
    assert len(full) == int(df["center"].astype(str).isin(kept).sum()) and full["_y"].notna().all()
    inc = full[full[COVS].isna().any(axis=1)]
    if split == "two_external":
        assert set(inc["cohort_split"]) <= {"development", "internal", "external:B"}
        assert (inc["cohort_split"] == "external:B").any()
    else:
        assert set(inc["cohort_split"]) <= {"development", "internal"}
    assert plain.flow.frame()["n_excluded"].sum() == imputed.flow.frame()["n_excluded"].sum()
