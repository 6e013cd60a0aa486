"""Ordinal (proportional-odds) HER2 model: published values, R parity, evaluation, HER2-low vs zero.

References
----------
* Venables & Ripley, Modern Applied Statistics with S, 4th ed. (2002), p. 205: ``polr(Sat ~ Infl +
  Type + Cont, weights = Freq, data = housing)``; coefficients and SEs printed to 4-5 decimals.
  ``rms::orm`` uses ``logit P(Y >= j)``, so its intercepts are polr's ``zeta`` with the sign flipped.
* rms::orm (R engine): coefficients to 1e-6, variance to 1e-6 relative, ``predict(type="fitted.ind")``.
* statsmodels OrderedModel as an independent Python implementation of the same likelihood.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from her2stats.data import load_demo
from her2stats.errors import InputError
from her2stats.stats.models import fit_lrm
from her2stats.stats.ordinal import (OrdinalModel, evaluate_ordinal, fit_low_vs_zero, fit_ordinal,
                                     low_vs_zero_subset, ordinal_calibration, r_predict_proba)
from her2stats.stats.roc import multiclass_auc

COVS = ["age", "er", "ki67", "grade", "adc"]


@pytest.fixture(scope="module")
def housing(test_data_dir):
    h = pd.read_csv(test_data_dir / "mass_housing.csv")
    h = h.loc[h.index.repeat(h["Freq"])].reset_index(drop=True)  # 1,681 respondents
    for col, levels in {"Infl": ["Low", "Medium", "High"], "Type": ["Tower", "Apartment", "Atrium", "Terrace"],
                        "Cont": ["Low", "High"]}.items():
        h[col] = pd.Categorical(h[col], categories=levels)  # R's factor order -> R's reference levels
    return h


@pytest.fixture(scope="module")
def housing_fit(housing):
    return fit_ordinal(housing, "Sat", ["Infl", "Type", "Cont"], levels=["Low", "Medium", "High"], engine="python")


@pytest.fixture(scope="module")
def demo():
    return load_demo()


@pytest.fixture(scope="module")
def demo_fit(demo):
    return fit_ordinal(demo[demo["split"] == "train"], covariates=COVS, engine="python")


# --------------------------------------------------------------------------- published values
def test_housing_matches_venables_ripley(housing_fit):
    # V&R (2002) p. 205 / MASS::polr: coefficient, SE (polr's zeta = -orm intercept)
    published = {
        "Infl=Medium": (0.5664, 0.10465), "Infl=High": (1.2888, 0.12716), "Type=Apartment": (-0.5724, 0.11924),
        "Type=Atrium": (-0.3662, 0.15517), "Type=Terrace": (-1.0910, 0.15149), "Cont=High": (0.3603, 0.09554),
        "y>=Medium": (0.4961, 0.1248), "y>=High": (-0.6907, 0.1255),
    }
    est, se = housing_fit.params, housing_fit.standard_errors
    for name, (b, s) in published.items():
        assert est[name] == pytest.approx(b, abs=6e-5), name
        assert se[name] == pytest.approx(s, abs=6e-5), name
    # model LR chi-square of rms::orm on these data: 169.7283 (6 d.f.)
    assert housing_fit.stats["Model L.R."] == pytest.approx(169.7283, abs=1e-4)
    assert housing_fit.stats["d.f."] == 6
    assert housing_fit.n_per_class == {"Low": 567, "Medium": 446, "High": 668}


def test_statsmodels_ordered_model_agrees(housing, housing_fit):
    from statsmodels.miscmodels.ordinal_model import OrderedModel

    X = np.column_stack([np.asarray(housing_fit.terms[i].design(housing[t])) for i, t in
                         enumerate(["Infl", "Type", "Cont"])])
    y = housing["Sat"].map({"Low": 0, "Medium": 1, "High": 2}).to_numpy()
    om = OrderedModel(y, X, distr="logit")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = om.fit(method="bfgs", maxiter=500, gtol=1e-10, disp=False)
    k = X.shape[1]
    # statsmodels: P(Y <= j) = F(c_j - x'b), c_1 = t_1, c_2 = t_1 + exp(t_2)  ->  alpha_j = -c_j
    cut = np.cumsum(np.r_[res.params[k], np.exp(res.params[k + 1:])])
    np.testing.assert_allclose(housing_fit.coefficients.to_numpy(), res.params[:k], atol=1e-5)
    np.testing.assert_allclose(housing_fit.intercepts.to_numpy(), -cut, atol=1e-5)
    # our maximum is at least as high as statsmodels' (same likelihood)
    ours = om.loglike(np.r_[housing_fit.coefficients.to_numpy(), -housing_fit.intercepts.iloc[0],
                            np.log(housing_fit.intercepts.iloc[0] - housing_fit.intercepts.iloc[1])])
    assert ours >= om.loglike(res.params) - 1e-9
    assert -2 * ours == pytest.approx(housing_fit.stats["-2LL"], rel=1e-12)


# --------------------------------------------------------------------------- predictions
def test_probabilities_are_differences_of_cumulative(demo_fit, demo):
    ext = demo[demo["split"] == "external"]
    p = demo_fit.predict_proba(ext)
    assert list(p.columns) == ["zero", "low", "positive"]
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-12)
    cum = demo_fit.cumulative_proba(ext).to_numpy()
    np.testing.assert_allclose(p["positive"], cum[:, 1], atol=1e-14)
    np.testing.assert_allclose(p["zero"], 1 - cum[:, 0], atol=1e-14)
    # proportional odds: a higher linear predictor raises P(positive) and lowers P(zero)
    order = np.argsort(demo_fit.linear_predictor(ext))
    assert np.all(np.diff(p["positive"].to_numpy()[order]) >= -1e-15)
    assert np.all(np.diff(p["zero"].to_numpy()[order]) <= 1e-15)
    cond = demo_fit.conditional_proba(ext, "low", "zero")
    np.testing.assert_allclose(cond, p["low"] / (p["low"] + p["zero"]), rtol=1e-14)
    frame = demo_fit.to_frame()
    assert np.isnan(frame.loc["y>=low", "OR"]) and frame.loc["ki67", "OR"] == pytest.approx(
        np.exp(demo_fit.coefficients["ki67"]))


def test_missing_rows_excluded_and_counted(demo):
    tr = demo[demo["split"] == "train"].copy()
    tr.loc[tr.index[:3], "ki67"] = np.nan
    tr.loc[tr.index[5], "her2_class"] = np.nan
    with pytest.warns(UserWarning, match="dropped 4 of 209 rows with missing values"):
        m = fit_ordinal(tr, covariates=COVS, engine="python")
    assert m.n == 205 and m.n_excluded == 4
    assert m.excluded_by_column == {"her2_class": 1, "ki67": 3}


def test_input_errors(demo, housing):
    tr = demo[demo["split"] == "train"]
    with pytest.raises(InputError, match="not in the data"):
        fit_ordinal(tr, covariates=["age", "nope"], engine="python")
    with pytest.raises(InputError, match="unordered values"):
        fit_ordinal(housing.assign(Sat=housing["Sat"].astype(str)), "Sat", ["Infl"], engine="python")
    with pytest.raises(InputError, match="needs >= 3"):
        fit_ordinal(tr, "her2_status", ["age"], levels=["negative", "positive"], engine="python")
    with pytest.raises(InputError, match="not in levels"):
        fit_ordinal(tr, covariates=["age"], levels=["zero", "low"], engine="python")
    with pytest.raises(InputError, match="sum to 1"):
        ordinal_calibration(tr["her2_class"], pd.DataFrame({"zero": [0.5] * 209, "low": 0.5, "positive": 0.5},
                                                           index=tr.index))
    # pandas inputs pair by index label, never by position
    with pytest.raises(InputError, match="different indexes"):
        ordinal_calibration(tr["her2_class"], pd.DataFrame({"zero": [0.2] * 209, "low": 0.3, "positive": 0.5}))


# --------------------------------------------------------------------------- R parity
@pytest.mark.r
def test_r_engine_parity_housing(housing, housing_fit):
    mr = fit_ordinal(housing, "Sat", ["Infl", "Type", "Cont"], levels=["Low", "Medium", "High"], engine="r")
    assert mr.engine == "r" and mr.r_fit is not None
    np.testing.assert_allclose(mr.params.to_numpy(), housing_fit.params.to_numpy(), atol=1e-6)
    np.testing.assert_allclose(mr.vcov.to_numpy(), housing_fit.vcov.to_numpy(), rtol=1e-6, atol=1e-12)
    assert list(mr.params.index) == list(housing_fit.params.index)
    rows = housing.drop_duplicates(["Infl", "Type", "Cont"])
    np.testing.assert_allclose(r_predict_proba(mr, rows), housing_fit.predict_proba(rows).to_numpy(), atol=1e-6)


@pytest.mark.r
def test_r_engine_parity_her2_with_spline(demo):
    tr = demo[demo["split"] == "train"]
    mp = fit_ordinal(tr, covariates=COVS, rcs={"age": 3}, engine="python")
    mr = fit_ordinal(tr, covariates=COVS, rcs={"age": 3}, engine="r")
    np.testing.assert_allclose(mr.params.to_numpy(), mp.params.to_numpy(), atol=1e-6)
    np.testing.assert_allclose(np.sqrt(np.diag(mr.vcov)), np.sqrt(np.diag(mp.vcov)), rtol=1e-6)
    ext = demo[demo["split"] == "external"]
    np.testing.assert_allclose(r_predict_proba(mr, ext), mp.predict_proba(ext).to_numpy(), atol=1e-6)
    assert mr.stats["Model L.R."] == pytest.approx(mp.stats["Model L.R."], abs=1e-6)


# --------------------------------------------------------------------------- evaluation
def test_evaluate_ordinal_external(demo_fit, demo):
    ext = demo[demo["split"] == "external"]
    ev = evaluate_ordinal(demo_fit, ext, cohort="external", B=60, seed=11, engine="python")
    probs = demo_fit.predict_proba(ext).reset_index(drop=True)
    direct = multiclass_auc(ext["her2_class"].astype(str).to_numpy(), probs, engine="python")
    assert ev.discrimination.auc == pytest.approx(direct.auc, abs=1e-12)
    pd.testing.assert_frame_equal(ev.discrimination.one_vs_rest, direct.one_vs_rest)
    assert ev.n == 100 and ev.n_excluded == 0
    frame = ev.to_frame()
    assert set(frame["measure"]) >= {"Hand-Till AUC", "one-vs-rest AUC", "calibration intercept", "calibration slope",
                                     "ICI"}
    # the calibration slope of class k is the logistic recalibration slope of logit(p_k) (statsmodels GLM)
    import statsmodels.api as sm

    y = (ext["her2_class"].astype(str).to_numpy() == "positive").astype(float)
    lp = np.log(probs["positive"] / (1 - probs["positive"])).to_numpy()
    glm = sm.GLM(y, sm.add_constant(lp), family=sm.families.Binomial()).fit(tol=1e-12)
    cint = sm.GLM(y, np.ones((len(y), 1)), family=sm.families.Binomial(), offset=lp).fit(tol=1e-12)
    tab = ev.calibration.table.set_index(["class", "measure"])["estimate"]
    assert tab[("positive", "calibration slope")] == pytest.approx(glm.params[1], abs=1e-6)
    assert tab[("positive", "calibration intercept")] == pytest.approx(cint.params[0], abs=1e-6)
    assert tab[("zero", "observed - expected rate")] == pytest.approx(
        np.mean(ext["her2_class"].astype(str) == "zero") - probs["zero"].mean(), abs=1e-12)


def test_calibration_bootstrap_reproducible_and_worker_independent(demo_fit):
    probs = demo_fit.predict_proba()
    y = demo_fit.data["her2_class"]
    a = ordinal_calibration(y, probs, B=40, seed=3, engine="python")
    b = ordinal_calibration(y, probs, B=40, seed=3, scheduler="threads", engine="python")
    c = ordinal_calibration(y, probs, B=40, seed=4, engine="python")
    pd.testing.assert_frame_equal(a.table, b.table)
    pd.testing.assert_frame_equal(a.curves, b.curves)
    assert not np.allclose(a.table["ci_low"], c.table["ci_low"], equal_nan=True)
    lo, hi = a.table["ci_low"], a.table["ci_high"]
    assert np.all((lo <= hi) | lo.isna())
    assert set(a.curves["class"]) == {"zero", "low", "positive"}


def test_plot(demo_fit):
    import matplotlib

    matplotlib.use("Agg")
    cal = ordinal_calibration(demo_fit.data["her2_class"], demo_fit.predict_proba(), B=20, seed=1, engine="python")
    ax = cal.plot()
    assert len(ax.get_lines()) == 4  # ideal + one per class


# --------------------------------------------------------------------------- HER2-low vs zero
def test_low_vs_zero_subset_counts(demo):
    d = demo.copy()
    d.loc[d.index[:2], "her2_class"] = np.nan
    sub = low_vs_zero_subset(d)
    counts = d["her2_class"].value_counts()
    assert sub.n_event == counts["low"] and sub.n_reference == counts["zero"]
    assert sub.n_other == counts["positive"] and sub.n_missing == 2
    assert len(sub.data) == sub.n_event + sub.n_reference
    assert sub.data["her2_low"].sum() == sub.n_event
    assert set(sub.data["her2_class"].astype(str)) == {"low", "zero"}
    with pytest.raises(InputError, match="no rows of class"):
        low_vs_zero_subset(d[d["her2_class"] != "zero"])


def test_fit_low_vs_zero_is_lrm_on_the_subset(demo):
    tr = demo[demo["split"] == "train"]
    with pytest.warns(UserWarning, match="other HER2 classes"):
        m = fit_low_vs_zero(tr, ["age", "ki67", "adc"], engine="python")
    manual = tr[tr["her2_class"].isin(["low", "zero"])].assign(her2_low=lambda x: (x["her2_class"] == "low").astype(int))
    ref = fit_lrm(manual, "her2_low", ["age", "ki67", "adc"], engine="python")
    np.testing.assert_allclose(m.coefficients.to_numpy(), ref.coefficients.to_numpy(), atol=1e-12)
    assert m.n == int(tr["her2_class"].isin(["low", "zero"]).sum())


def test_result_type(demo_fit):
    assert isinstance(demo_fit, OrdinalModel)
    assert "OrdinalModel her2_class ~ age" in repr(demo_fit)


@pytest.mark.slow
def test_evaluation_identical_on_one_and_two_dask_workers(demo_fit, demo):
    """Issue 10: seeded chunks -> bit-identical bootstrap CIs whatever the number of workers."""
    from dask.distributed import Client, LocalCluster

    ext = demo[demo["split"] == "external"]
    kw = dict(cohort="external", n_boot=100, B=20, seed=5, engine="python")
    ref = evaluate_ordinal(demo_fit, ext, **kw).to_frame()
    assert np.isfinite(ref.loc[0, "ci_low"])  # the Hand-Till bootstrap CI was computed
    for n_workers in (1, 2):
        with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
                Client(cluster) as client:
            got = evaluate_ordinal(demo_fit, ext, scheduler=client, **kw).to_frame()
        pd.testing.assert_frame_equal(got, ref, check_exact=True)


def test_separation_raises_convergence_error(demo):
    from her2stats.errors import ConvergenceError

    tr = demo[demo["split"] == "train"].copy()
    tr["leak"] = tr["her2_class"].cat.codes.astype(float)  # the outcome itself: perfect separation
    with pytest.raises(ConvergenceError, match="separation"):
        fit_ordinal(tr, covariates=["age", "leak"], engine="python")
