"""Study 3: Duke recurrence-free survival by HER2 status, the shape of seed 004
(reports/studies/duke_rfs.yaml).

References (r/studies_reference.R): ``survival::survdiff`` (log-rank; 1e-9), ``survfit``
Kaplan-Meier at 1/3/5 years (1e-9), ``coxph`` (Efron) + ``step()`` by AIC from the full model
(selected terms; HRs, SEs, p-values, AIC to 1e-6), ``survival::concordance`` (Harrell's C and its
SE; 1e-6) and ``cox.zph(transform="km")`` (1e-6).
"""
from __future__ import annotations

import numpy as np
import pytest

from .conftest import apply_require, load_study, r_frame

DAYS_PER_YEAR = 365.25


@pytest.fixture(scope="module")
def cfg():
    return load_study("duke_rfs")


@pytest.fixture(scope="module")
def analysed(duke, cfg):
    kept, flow = apply_require(duke, list(cfg.cohort.require))
    kept[cfg.survival.event] = kept[cfg.survival.event].astype(float)
    return kept, flow


def test_cohort_flow_counts(analysed, duke):
    kept, flow = analysed
    assert len(duke) == 922
    # 17 patients have no usable recurrence-free follow-up (no assessment, or a recurrence flag
    # that contradicts the recurrence days); HER2 is recorded for all
    assert flow == [("her2_status", 0), ("rfs_time", 17), ("rfs_event", 0)]
    assert len(kept) == 905
    assert kept.groupby("her2_status", observed=True)["rfs_event"].agg(["size", "sum"]).to_numpy().tolist() == \
        [[747, 96], [158, 19]]


@pytest.mark.r
@pytest.mark.parametrize("engine", ["python", "r"])
def test_logrank_and_km_match_survdiff_survfit(analysed, cfg, r_reference, engine):
    from her2stats import kaplan_meier, logrank_test

    kept, _ = analysed
    s = cfg.survival
    frame = r_frame(kept, [s.duration, s.event, s.group])
    ref = r_reference("h2s_ref_logrank", frame, s.duration, s.event, s.group)
    lr = logrank_test(kept, s.duration, s.event, s.group, engine=engine)
    assert abs(lr.statistic - ref["chisq"]) < 1e-9 and abs(lr.p_value - ref["p"]) < 1e-9
    times = [h * DAYS_PER_YEAR for h in s.horizons_years]
    km_ref = r_reference("h2s_ref_km_at", frame, s.duration, s.event, s.group, times)
    km = kaplan_meier(kept, s.duration, s.event, group=s.group, engine=engine).survival_at(times)
    np.testing.assert_allclose(np.sort(km["survival"].to_numpy(float)), np.sort(np.asarray(km_ref["surv"], float)),
                               rtol=0, atol=1e-9)


@pytest.fixture(scope="module")
def cox_reference(analysed, cfg, r_reference):
    kept, _ = analysed
    s = cfg.survival
    frame = r_frame(kept, [s.duration, s.event, *s.covariates])
    return r_reference("h2s_ref_cox", frame, s.duration, s.event, list(s.covariates), step=s.stepwise)


@pytest.mark.r
@pytest.mark.parametrize("engine", ["python", "r"])
def test_stepwise_cox_hr_cindex_ph_match_r(analysed, cfg, cox_reference, engine):
    from her2stats import cox

    kept, _ = analysed
    s = cfg.survival
    res = cox(kept, s.duration, s.event, list(s.covariates), stepwise=s.stepwise, engine=engine)
    ref = cox_reference
    assert list(res.covariates) == list(np.atleast_1d(ref["selected"]))
    # the Cox model uses complete cases of all candidate covariates (grade is the main gap)
    assert res.n == ref["n"] and res.n_events == ref["events"]
    assert res.n + res.n_excluded == len(kept)
    tab = res.summary
    np.testing.assert_allclose(tab["HR"].to_numpy(), np.asarray(ref["hr"]), rtol=1e-6)
    np.testing.assert_allclose(tab["se"].to_numpy(), np.asarray(ref["se"]), rtol=0, atol=1e-6)
    np.testing.assert_allclose(tab["p_value"].to_numpy(), np.asarray(ref["p"]), rtol=0, atol=1e-6)
    assert abs(res.aic - ref["aic"]) < 1e-6
    assert abs(res.concordance.concordance - ref["c_index"]) < 1e-6
    assert abs(res.concordance.se - ref["c_se"]) < 1e-6
    ph = res.ph_test("km").table
    np.testing.assert_allclose(ph["chisq"].to_numpy(), np.asarray(ref["zph_chisq"]), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ph["p_value"].to_numpy(), np.asarray(ref["zph_p"]), rtol=0, atol=1e-6)


# ------------------------------------------------------------------------------ the whole study
@pytest.mark.slow
@pytest.mark.r
def test_run_study_flow_and_survival_numbers_match_r(study_run, cfg, r_reference):
    from .conftest import keyed, r_term

    run = study_run("duke_rfs")  # a survival-only study: no classification model configured
    assert run.flow["n_remaining"].iloc[0] == 922
    assert len(run.cohort) == 905 and int(run.flow["n_excluded"].sum()) == 17
    s = cfg.survival
    covs = [s.group] + [c for c in s.covariates if c != s.group]
    # the survival analyses use the patients with follow-up and every Cox covariate recorded
    sdf = run.cohort.loc[run.cohort[[s.duration, s.event, *covs]].notna().all(axis=1)].copy()
    sdf[s.event] = sdf[s.event].astype(float)
    assert run.numbers["survival/n"] == len(sdf)
    assert run.numbers["survival/n_excluded"] == len(run.cohort) - len(sdf)
    # Kaplan-Meier and log-rank use everyone with follow-up (905), not only the Cox complete cases
    kdf = run.cohort.loc[run.cohort[[s.duration, s.event, s.group]].notna().all(axis=1)].copy()
    kdf[s.event] = kdf[s.event].astype(float)
    assert run.numbers["survival/n_km"] == len(kdf) == 905
    lr = r_reference("h2s_ref_logrank", r_frame(kdf, [s.duration, s.event, s.group]), s.duration, s.event, s.group)
    assert abs(run.numbers["logrank_p"] - lr["p"]) < 1e-9
    ref = r_reference("h2s_ref_cox", r_frame(sdf, [s.duration, s.event, *covs]), s.duration, s.event, covs,
                      step=s.stepwise)
    hrs = keyed(run.numbers, "hr")
    assert [r_term(k) for k in hrs] == list(ref["term"])
    np.testing.assert_allclose(list(hrs.values()), np.asarray(ref["hr"]), rtol=1e-6)
    np.testing.assert_allclose(list(keyed(run.numbers, "hr_p").values()), np.asarray(ref["p"]), rtol=0, atol=1e-6)
    assert abs(run.numbers["cox_c"] - ref["c_index"]) < 1e-6
    z = 1.959963984540054
    assert abs(run.numbers["cox_c_ci_low"] - (ref["c_index"] - z * ref["c_se"])) < 1e-6
    assert abs(run.numbers["cox_c_ci_high"] - (ref["c_index"] + z * ref["c_se"])) < 1e-6
    assert abs(run.numbers["ph_global_p"] - float(np.asarray(ref["zph_p"])[-1])) < 1e-6
    assert "cox" in run.tables and any("km" in k or "survival" in k for k in run.figures)


# ------------------------------------------------------------------ PH violation: strata, RMST
@pytest.mark.r
@pytest.mark.parametrize("engine", ["python", "r"])
def test_stratified_cox_and_rmst_match_r(analysed, cfg, r_reference, engine):
    from her2stats import cox, rmst

    kept, _ = analysed
    s = cfg.survival
    assert s.strata == ["er"] and s.rmst_tau == 1826 and s.tt == {"her2_status": "log"}
    # the stepwise model's PH test fails, ER the worst term
    full = cox(kept, s.duration, s.event, list(s.covariates), stepwise=s.stepwise, engine="python")
    ph = full.ph_test().table.set_index("term")
    assert ph.loc["GLOBAL", "p_value"] < 0.01 and ph["p_value"].drop("GLOBAL").idxmin() == "er"
    covs = [c for c in full.covariates if c not in s.strata]
    # the rows of the stepwise model (complete cases of every candidate covariate), as the study
    rows = kept.dropna(subset=[*s.covariates, *s.strata])
    ref = r_reference("h2s_ref_cox_strata", r_frame(rows, [s.duration, s.event, *covs, *s.strata]), s.duration,
                      s.event, covs, list(s.strata))
    st = cox(rows, s.duration, s.event, covs, strata=list(s.strata), engine=engine)
    assert st.n == ref["n"] and st.n_events == ref["events"]
    np.testing.assert_allclose(st.summary["coef"].to_numpy(), np.asarray(ref["coef"]), rtol=0, atol=1e-6)
    np.testing.assert_allclose(st.summary["se"].to_numpy(), np.asarray(ref["se"]), rtol=0, atol=1e-6)
    assert abs(st.concordance.concordance - ref["c_index"]) < 1e-6 and abs(st.concordance.se - ref["c_se"]) < 1e-6
    np.testing.assert_allclose(st.ph_test().table["chisq"].to_numpy(), np.asarray(ref["zph_chisq"]), rtol=1e-6)
    # stratifying by ER removes the worst violation; HER2 status itself stays borderline (P ~ 0.04)
    ph_st = st.ph_test().table.set_index("term")
    assert "er" not in ph_st.index and ph_st.loc["GLOBAL", "p_value"] > 4 * ph.loc["GLOBAL", "p_value"]
    rm = rmst(kept, s.duration, s.event, group=s.group, tau=s.rmst_tau, engine=engine)
    rr = r_reference("h2s_ref_rmst", r_frame(kept, [s.duration, s.event, s.group]), s.duration, s.event, s.group,
                     float(s.rmst_tau))
    np.testing.assert_allclose(rm.groups["rmst"].to_numpy(), np.asarray(rr["rmst"]), rtol=0, atol=1e-6)
    np.testing.assert_allclose(rm.groups["se"].to_numpy(), np.asarray(rr["se"]), rtol=0, atol=1e-6)


@pytest.mark.slow
@pytest.mark.r
def test_run_study_reports_stratified_model_and_rmst(study_run, cfg):
    run = study_run("duke_rfs")
    n = run.numbers
    assert n["ph_global_p"] < 0.01 and n["ph_strat_global_p"] > 4 * n["ph_global_p"]
    assert "hr_strat/her2_status=positive" in n and not any(k.startswith("hr_strat/er") for k in n)
    assert n["rmst_tau"] == 1826 and "rmst_diff/positive" in n
    d = n["rmst_diff/positive"]
    assert n["rmst_diff_ci_low/positive"] < d < n["rmst_diff_ci_high/positive"]
    assert n["rmst/positive"] - n["rmst/negative"] == pytest.approx(d, abs=1e-9)
    assert {"cox_stratified", "cox_tt", "rmst"} <= set(run.tables)
    assert "hr_tt/her2_status=positive:log(t)" in n and "hr_tt_p/her2_status=positive:log(t)" in n
    assert {"ph_residuals", "rmst"} <= set(run.figures)
    assert "stratified by" in run.methods and "Restricted mean survival time" in run.methods


@pytest.mark.r
def test_time_varying_her2_coefficient_engines_agree(analysed, cfg):
    from her2stats import cox, cox_tt

    kept, _ = analysed
    s = cfg.survival
    full = cox(kept, s.duration, s.event, list(s.covariates), stepwise=s.stepwise, engine="python")
    covs = [c for c in full.covariates if c not in s.strata]
    rows = kept.dropna(subset=[*s.covariates, *s.strata])
    a = cox_tt(rows, s.duration, s.event, covs, tt=dict(s.tt), strata=list(s.strata), engine="python")
    b = cox_tt(rows, s.duration, s.event, covs, tt=dict(s.tt), strata=list(s.strata), engine="r")
    np.testing.assert_allclose(a.summary["coef"], b.summary["coef"], atol=1e-6)
    np.testing.assert_allclose(a.summary["se"], b.summary["se"], atol=1e-6)
    assert a.summary["term"].iloc[-1] == "her2_status=positive:log(t)"
