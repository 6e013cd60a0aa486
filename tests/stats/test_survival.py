"""Kaplan-Meier, log-rank, Cox and Harrell's C on survival::lung.

References:
* values printed by R 4.2.2 / survival 3.5-3 for ``lung`` (hard-coded below, so the Python engine
  is checked without R): coxph(Surv(time, status) ~ age + sex + ph.ecog), cox.zph, concordance,
  survdiff(~ sex), survfit(~ sex) medians 270 (212-310) and 426 (348-550), the medians found in
  the survival package's own examples and countless tutorials;
* the same procedures run in R through the bridge on the same data (``@pytest.mark.r``).
Tolerances: 1e-9 for closed forms (KM, log-rank, concordance and its variance), 1e-6 for
iterative fits (Cox coefficients, SEs, cox.zph), printed precision for the hard-coded values.
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from her2stats.engine import r_available
from her2stats.errors import ConvergenceError, InputError
from her2stats.stats.survival import (
    check_ratio_ci_p,
    concordance_index,
    cox,
    fit_cph,
    kaplan_meier,
    logrank_test,
)

COVS = ["age", "sex", "ph.ecog"]


@pytest.fixture(scope="module")
def lung(test_data_dir):
    return pd.read_csv(test_data_dir / "lung.csv").assign(dead=lambda d: d["status"] - 1)


@pytest.fixture(scope="module")
def rb():
    from her2stats import r_bridge

    r_bridge.ensure_started()
    return r_bridge


# --------------------------------------------------------------------------- published (R printout)
def test_cox_lung_matches_r_printout(lung):
    res = cox(lung, "time", "dead", COVS, engine="python")
    s = res.summary.set_index("term")
    assert s["coef"].to_numpy() == pytest.approx([0.011067, -0.552612, 0.463728], abs=5e-7)
    assert s["se"].to_numpy() == pytest.approx([0.009267, 0.167739, 0.113577], abs=5e-7)
    assert s["ci_low"].to_numpy() == pytest.approx([0.9929, 0.4142, 1.2727], abs=5e-5)
    assert s["ci_high"].to_numpy() == pytest.approx([1.0297, 0.7994, 1.9864], abs=5e-5)
    assert s.loc["sex", "p_value"] == pytest.approx(0.000986, abs=5e-7)
    assert s.loc["ph.ecog", "p_value"] == pytest.approx(4.45e-05, abs=5e-8)
    assert res.n == 227 and res.n_events == 164 and res.n_excluded == 1   # one ph.ecog missing
    assert res.aic == pytest.approx(1464.46, abs=5e-3)
    assert res.lr_statistic == pytest.approx(30.5, abs=0.05)
    c = res.concordance
    assert c.concordance == pytest.approx(0.6371, abs=5e-5)
    assert c.se == pytest.approx(0.02507, abs=5e-6)
    assert (c.concordant, c.discordant, c.tied_x, c.tied_y, c.tied_xy) == (12544, 7117, 126, 28, 0)
    ph = res.ph_test().table.set_index("term")
    assert ph["chisq"].to_numpy() == pytest.approx([0.188, 2.305, 2.054, 4.464], abs=5e-4)
    assert ph.loc["GLOBAL", "df"] == 3
    assert ph.loc["GLOBAL", "p_value"] == pytest.approx(0.22, abs=5e-3)


def test_km_and_logrank_lung_match_r_printout(lung):
    km = kaplan_meier(lung, "time", "dead", "sex", engine="python")
    med = km.medians.set_index("group")
    assert med.loc[1, ["n", "events", "median", "ci_low", "ci_high"]].tolist() == [138, 112, 270, 212, 310]
    assert med.loc[2, ["n", "events", "median", "ci_low", "ci_high"]].tolist() == [90, 53, 426, 348, 550]
    lr = logrank_test(lung, "time", "dead", "sex", engine="python")
    assert lr.statistic == pytest.approx(10.3, abs=0.05) and lr.df == 1
    assert lr.table["observed"].tolist() == [112, 53]
    assert lr.table["expected"].to_numpy() == pytest.approx([91.6, 73.4], abs=0.05)
    assert km.logrank.p_value == pytest.approx(lr.p_value, abs=0)


def test_concordance_counts_by_hand():
    # times 1..4 all events, risk decreasing with time except one swap -> 5 of 6 pairs concordant
    t = np.array([1.0, 2, 3, 4])
    e = np.array([1, 1, 1, 1])
    risk = np.array([4.0, 3, 1, 2])
    res = concordance_index(t, e, risk, engine="python")
    assert (res.concordant, res.discordant, res.tied_x) == (5, 1, 0)
    assert res.concordance == pytest.approx(5 / 6, abs=1e-15)
    surv = concordance_index(t, e, -risk, score_type="survival", engine="python")
    assert surv.concordance == pytest.approx(res.concordance, abs=1e-15)


# --------------------------------------------------------------------------- R vs Python
@pytest.mark.r
@pytest.mark.parametrize("conf_type", ["log", "log-log", "plain"])
def test_kaplan_meier_parity(lung, conf_type):
    py = kaplan_meier(lung, "time", "dead", "sex", conf_type=conf_type, engine="python")
    r = kaplan_meier(lung, "time", "dead", "sex", conf_type=conf_type, engine="r")
    cols = ["time", "n_risk", "n_event", "n_censor", "survival", "std_err", "ci_low", "ci_high"]
    np.testing.assert_allclose(py.table[cols].to_numpy(float), r.table[cols].to_numpy(float), atol=1e-9, rtol=0)
    np.testing.assert_allclose(py.medians[["median", "ci_low", "ci_high"]].to_numpy(float),
                               r.medians[["median", "ci_low", "ci_high"]].to_numpy(float), atol=1e-9)


@pytest.mark.r
def test_kaplan_meier_median_ci_without_groups_and_unreached_limit(lung):
    # one group; and a subset whose upper limit is not reached (NA in R)
    for data in (lung, lung[lung["ph.ecog"] == 0]):
        py = kaplan_meier(data, "time", "dead", engine="python")
        r = kaplan_meier(data, "time", "dead", engine="r")
        np.testing.assert_allclose(py.medians[["median", "ci_low", "ci_high"]].to_numpy(float),
                                   r.medians[["median", "ci_low", "ci_high"]].to_numpy(float), atol=1e-9)


@pytest.mark.r
def test_logrank_three_groups_parity(lung):
    data = lung.assign(ecog=lung["ph.ecog"].clip(upper=2))
    py = logrank_test(data, "time", "dead", "ecog", engine="python")
    r = logrank_test(data, "time", "dead", "ecog", engine="r")
    assert py.df == r.df == 2
    assert py.statistic == pytest.approx(r.statistic, abs=1e-9)
    np.testing.assert_allclose(py.table[["observed", "expected", "(O-E)^2/V"]].to_numpy(float),
                               r.table[["observed", "expected", "(O-E)^2/V"]].to_numpy(float), atol=1e-9)


@pytest.mark.r
@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_cox_parity(lung, ties):
    data = lung.assign(ecog=pd.Categorical(lung["ph.ecog"].clip(upper=2).map({0: "0", 1: "1", 2: "2+"})))
    covs = ["age", "sex", "ecog", "wt.loss"]
    py = cox(data, "time", "dead", covs, ties=ties, engine="python")
    r = cox(data, "time", "dead", covs, ties=ties, engine="r")
    assert list(py.summary["term"]) == ["age", "sex", "ecog=1", "ecog=2+", "wt.loss"]
    assert py.summary.loc[2, "reference"] == "0"
    np.testing.assert_allclose(py.summary[["coef", "se"]].to_numpy(), r.summary[["coef", "se"]].to_numpy(),
                               atol=1e-6, rtol=0)
    assert py.aic == pytest.approx(r.aic, abs=1e-6)
    assert py.loglik_null == pytest.approx(r.loglik_null, abs=1e-9)
    assert py.concordance.concordance == pytest.approx(r.concordance.concordance, abs=1e-9)
    assert py.concordance.se == pytest.approx(r.concordance.se, abs=1e-9)
    zp, zr = py.ph_test().table, r.ph_test().table
    assert list(zp["term"]) == list(zr["term"]) == ["age", "sex", "ecog", "wt.loss", "GLOBAL"]
    assert list(zp["df"]) == list(zr["df"]) == [1, 1, 2, 1, 5]
    np.testing.assert_allclose(zp["chisq"].to_numpy(), zr["chisq"].to_numpy(), atol=1e-6, rtol=1e-6)


@pytest.mark.r
def test_ph_test_transforms_parity(lung):
    py = cox(lung, "time", "dead", COVS, engine="python")
    r = cox(lung, "time", "dead", COVS, engine="r")
    for transform in ("identity", "log", "rank"):
        np.testing.assert_allclose(py.ph_test(transform).table["chisq"].to_numpy(),
                                   r.ph_test(transform).table["chisq"].to_numpy(), rtol=1e-6, atol=1e-6)


def test_survival_at_and_numbers_at_risk(lung):
    km = kaplan_meier(lung, "time", "dead", engine="python")
    at = km.survival_at([0.0, 5.0, 1022.0, 2000.0])
    # at risk at t = follow-up >= t; survival is right-continuous
    assert at["n_risk"].tolist() == [228, 228, 1, 0]
    assert at["survival"].iloc[1] == pytest.approx(1 - 1 / 228, abs=1e-15)
    d = lung.dropna(subset=["age"])
    small = concordance_index(d["time"], d["dead"], d["age"], engine="python")
    from her2stats.stats.concordance import _concordance_counts

    counts, infl = _concordance_counts(d["time"].to_numpy(float), d["dead"].to_numpy(), d["age"].to_numpy(float),
                                       chunk=7)
    assert counts[0] == small.concordant and counts[2] == small.tied_x


@pytest.mark.r
def test_concordance_index_parity_with_ties(lung):
    # age has many ties (tied.x) and lung has tied death times (tied.y)
    d = lung.dropna(subset=["age"])
    py = concordance_index(d["time"], d["dead"], d["age"], engine="python")
    r = concordance_index(d["time"], d["dead"], d["age"], engine="r")
    assert py.concordance == pytest.approx(r.concordance, abs=1e-9)
    assert py.se == pytest.approx(r.se, abs=1e-9)
    assert (py.concordant, py.discordant, py.tied_x, py.tied_y, py.tied_xy) == \
        (r.concordant, r.discordant, r.tied_x, r.tied_y, r.tied_xy)


@pytest.mark.r
def test_fit_cph_interface_baseline_and_predictions(lung, rb):
    py = fit_cph(lung, "time", "dead", COVS, engine="python")
    r = fit_cph(lung, "time", "dead", COVS, engine="r")
    np.testing.assert_allclose(py.params.to_numpy(), r.params.to_numpy(), atol=1e-6)
    np.testing.assert_allclose(py.vcov.to_numpy(), r.vcov.to_numpy(), atol=1e-8)
    assert py.r_fit is None
    assert "cph" in list(rb.call("class", r.r_fit))
    assert list(py.covariates) == COVS and py.duration == "time" and py.event == "dead" and py.engine == "python"
    times = [5.0, 100.0, 365.0, 700.0]
    bh = rb.r_eval(
        "local({d <- survival::lung; d$status <- d$status - 1;"
        "f <- survival::coxph(survival::Surv(time, status) ~ age + sex + ph.ecog, d,"
        " control = survival::coxph.control(eps = 1e-11));"
        "b <- survival::basehaz(f, centered = FALSE);"
        "s <- summary(survival::survfit(f, newdata = data.frame(age = c(60, 70), sex = c(1, 2), ph.ecog = c(0, 2))),"
        " times = c(5, 100, 365, 700));"
        "list(time = b$time, hazard = b$hazard, surv = s$surv)})")
    idx = [np.searchsorted(bh["time"], t, side="right") - 1 for t in times]
    np.testing.assert_allclose(py.baseline_survival(times), np.exp(-bh["hazard"][idx]), atol=1e-8)
    new = pd.DataFrame({"age": [60, 70], "sex": [1, 2], "ph.ecog": [0, 2]})
    np.testing.assert_allclose(py.predict_survival(new, times), np.asarray(bh["surv"]).T, atol=1e-8)


@pytest.mark.r
@pytest.mark.parametrize("direction", ["both", "backward"])
def test_stepwise_matches_r_step(lung, direction):
    covs = ["age", "sex", "ph.ecog", "ph.karno", "wt.loss", "meal.cal"]
    py = cox(lung, "time", "dead", covs, stepwise=direction, engine="python")
    r = cox(lung, "time", "dead", covs, stepwise=direction, engine="r")
    assert py.covariates == r.covariates
    assert "sex" in py.covariates and "meal.cal" not in py.covariates
    np.testing.assert_allclose(py.steps["aic"].to_numpy(), r.steps["aic"].to_numpy(), atol=1e-6)
    assert list(py.steps["term"]) == list(r.steps["term"])
    assert py.aic == pytest.approx(py.steps["aic"].iloc[-1], abs=1e-9)
    assert py.n_excluded == r.n_excluded == lung[["time", "dead", *covs]].isna().any(axis=1).sum()


@pytest.mark.r
@pytest.mark.parametrize("engine", ["python", "r"])
def test_stepwise_that_removes_every_covariate_raises_empty_model_error(lung, engine):
    """A stepwise search that ends at the null model says so with EmptyModelError (an InputError),
    on both engines, so a caller can report the finding without reading the message."""
    from her2stats.errors import EmptyModelError

    noise = lung.assign(noise=np.random.default_rng(3).normal(size=len(lung)))
    with pytest.raises(EmptyModelError, match="stepwise selection removed every covariate"):
        cox(noise, "time", "dead", ["noise"], stepwise="backward", engine=engine)
    assert issubclass(EmptyModelError, InputError)


# --------------------------------------------------------------------------- ratio/CI/p consistency
def test_check_ratio_ci_p_round_trip_and_detects_error():
    # build exact Wald numbers, print them to 3 decimals: consistent
    b, se = np.log(0.6), 0.2
    lo, hi = np.exp(b - 1.959964 * se), np.exp(b + 1.959964 * se)
    from scipy.stats import norm

    p = 2 * norm.sf(abs(b) / se)
    ok = check_ratio_ci_p(0.6, round(lo, 3), round(hi, 3), round(p, 3))
    assert ok.consistent and ok.se_log == pytest.approx(se, abs=2e-3)
    # a p-value off by a factor 10 is caught, as is a ratio outside the CI's geometric centre
    assert not check_ratio_ci_p(0.6, round(lo, 3), round(hi, 3), round(p * 10, 3)).p_consistent
    assert not check_ratio_ci_p(0.8, round(lo, 3), round(hi, 3), round(p, 3)).ratio_consistent
    with pytest.raises(InputError, match="inside its CI"):
        check_ratio_ci_p(2.0, 0.5, 1.5, 0.2)


# --------------------------------------------------------------------------- bad input
def test_bad_times_and_events(lung):
    bad = lung.copy()
    bad.loc[3, "time"] = 0
    with pytest.raises(InputError, match="strictly positive.*row 3"):
        kaplan_meier(bad, "time", "dead", engine="python")
    bad.loc[3, "time"] = -5
    with pytest.raises(InputError, match="strictly positive"):
        cox(bad, "time", "dead", COVS, engine="python")
    with pytest.raises(InputError, match=r"1 = censored / 2 = event.*status'\] - 1"):
        logrank_test(lung, "time", "status", "sex", engine="python")
    with pytest.raises(InputError, match="no events"):
        kaplan_meier(lung.assign(dead=0), "time", "dead", engine="python")
    # missing values are excluded, counted and reported, never dropped silently
    km = kaplan_meier(lung.assign(g=lung["ph.ecog"]), "time", "dead", "g", engine="python")
    assert km.n_excluded == 1 and km.n == 227
    with pytest.raises(InputError, match="not found"):
        fit_cph(lung, "time", "dead", ["age", "nonexistent"], engine="python")


def test_bad_groups(lung):
    with pytest.raises(InputError, match="single level"):
        logrank_test(lung[lung["sex"] == 1], "time", "dead", "sex", engine="python")
    # a factor level without events: the Cox HR would be 0 / infinite
    data = lung.assign(grp=np.where(lung["dead"] == 0, "only_censored", lung["sex"].astype(str)))
    data.loc[data.index[:5], "grp"] = "only_censored"
    data = data.assign(grp=np.where((data["grp"] == "only_censored") & (data["dead"] == 1), "1", data["grp"]))
    for engine in ("python", "r") if r_available() else ("python",):
        with pytest.raises(ConvergenceError, match="monotone likelihood -- level 'only_censored' of 'grp' \\(0 event"):
            cox(data, "time", "dead", ["age", "grp"], engine=engine)
    # in the log-rank test a group without events still contributes: it is allowed
    res = logrank_test(data, "time", "dead", "grp", engine="python")
    assert res.table.set_index("group").loc["only_censored", "observed"] == 0
    with pytest.raises(InputError, match="constant"):
        cox(lung.assign(k=1.0), "time", "dead", ["age", "k"], engine="python")


def test_plots_return_axes(lung):
    km = kaplan_meier(lung, "time", "dead", "sex", engine="python")
    ax = km.plot(risk_table=True)
    texts = [t.get_text() for t in ax.texts]
    assert any(t.startswith("log-rank p") for t in texts)
    assert "138" in texts and "90" in texts   # numbers at risk at time 0
    res = cox(lung, "time", "dead", COVS, engine="python")
    assert res.plot().get_xscale() == "log"
    assert "HR" in res._repr_html_() and "C = " in res.plot().get_title()
