"""One-covariate fits of every model function agree across engines (issue 14, item 4).

R has no scalars: a model with one covariate returns length-1 coefficient, SE and variance
vectors, which the bridge used to hand back as Python scalars (``fit_cph(engine="r")`` crashed with
``len() of unsized object``). R functions now mark such results ``I()`` and the bridge returns
them as 1-element arrays (``tests/test_r_bridge.py``); here every model function is fitted with a
single covariate (numeric and binary categorical) on both engines.

Tolerances: 1e-6 for iterative fits (coefficients, SEs, p-values, nomogram points, apparent
validation indices), 1e-9 for closed forms computed from the same fit (AUC(t), Brier(t), decision
curves), Monte-Carlo error for bootstrap optimism (|z| < 4.5 with the Python engine's MCSE).
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import her2stats as h2

pytestmark = pytest.mark.r
ITER = 1e-6


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def _both(fn, *args, **kwargs):
    return _quiet(fn, *args, engine="python", **kwargs), _quiet(fn, *args, engine="r", **kwargs)


def _close(a, b, atol=ITER, what=""):
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=0, atol=atol, err_msg=what,
                               equal_nan=True)


@pytest.fixture(scope="module")
def lung(test_data_dir) -> pd.DataFrame:
    d = pd.read_csv(test_data_dir / "lung.csv")
    return pd.DataFrame({"time": d.time.astype(float), "dead": d.status - 1, "age": d.age.astype(float),
                         "sex": pd.Categorical(d.sex.map({1: "male", 2: "female"}), categories=["male", "female"])})


COV_LOGISTIC = ["lwt", "smoke"]   # numeric; boolean (two levels)
COV_COX = ["age", "sex"]          # numeric; two-level categorical


@pytest.mark.parametrize("cov", COV_LOGISTIC)
def test_fit_lrm_nomogram_and_lecessie(bwt, cov):
    py, r = _both(h2.fit_lrm, bwt, "low", [cov])
    assert list(py.coefficients.index) == list(r.coefficients.index) and len(r.coefficients) == 2
    _close(py.coefficients, r.coefficients, what="coef")
    _close(py.vcov, r.vcov, what="vcov")
    npy, nr = h2.nomogram(py, engine="python"), h2.nomogram(r, engine="r")
    assert list(npy.variables["variable"]) == list(nr.variables["variable"])
    _close(npy.variables["points"], nr.variables["points"], what="points")
    np.testing.assert_allclose([npy.scale, npy.intercept], [nr.scale, nr.intercept], rtol=ITER)  # 100 / |coef| range
    if cov == "lwt":  # a binary covariate saturates the model: the test's SD is 0 (undefined z)
        gp, gr = h2.lecessie_test(py, engine="python"), h2.lecessie_test(r, engine="r")
        _close([gp.sum_sq, gp.z, gp.p_value], [gr.sum_sq, gr.z, gr.p_value], what="le Cessie")


@pytest.mark.parametrize("cov", COV_LOGISTIC)
def test_logistic_table_one_covariate(bwt, cov):
    for stepwise in (None, "both"):
        py, r = _both(h2.logistic_table, bwt, "low", [cov], stepwise=stepwise)
        a, b = py.to_frame(), r.to_frame()
        assert list(a.columns) == list(b.columns) and len(a) == 1
        for c in a.columns:
            if pd.api.types.is_numeric_dtype(a[c].dtype):
                _close(a[c], b[c], what=c)
            else:
                assert list(a[c]) == list(b[c]), c
        assert list(py.selected) == list(r.selected)


@pytest.mark.parametrize("cov", COV_COX)
def test_fit_cph_cox_nomogram_one_covariate(lung, cov):
    py, r = _both(h2.fit_cph, lung, "time", "dead", [cov])
    assert list(py.params.index) == list(r.params.index) and len(r.params) == 1
    _close(py.params, r.params, what="coef")
    _close(py.vcov, r.vcov, what="vcov")
    _close([py.loglik, py.loglik_null], [r.loglik, r.loglik_null], what="loglik")
    npy = h2.nomogram(py, fun=("survival", [365]), engine="python")
    nr = h2.nomogram(r, fun=("survival", [365]), engine="r")
    _close(npy.variables["points"], nr.variables["points"], what="points")
    for stepwise in (None, "both"):
        cp, cr = _both(h2.cox, lung, "time", "dead", [cov], stepwise=stepwise)
        _close(cp.summary[["coef", "se", "HR", "p_value"]], cr.summary[["coef", "se", "HR", "p_value"]], what="HR")
        _close([cp.concordance.concordance, cp.concordance.se, cp.aic],
               [cr.concordance.concordance, cr.concordance.se, cr.aic], what="C/AIC")
        assert list(cp.covariates) == list(cr.covariates)
        _close(cp.ph_test().table[["chisq", "p_value"]], cr.ph_test().table[["chisq", "p_value"]], what="zph")


def test_fit_ordinal_one_covariate(test_data_dir):
    h = pd.read_csv(test_data_dir / "mass_housing.csv")
    h = h.loc[h.index.repeat(h["Freq"])].reset_index(drop=True)
    h["Cont"] = pd.Categorical(h["Cont"], categories=["Low", "High"])
    h["x"] = np.random.default_rng(1).normal(size=len(h))
    for cov in ("Cont", "x"):
        py, r = _both(h2.fit_ordinal, h, "Sat", [cov], levels=["Low", "Medium", "High"])
        assert list(py.params.index) == list(r.params.index)
        _close(py.params, r.params, what="ordinal coef")
        _close(py.vcov, r.vcov, what="ordinal vcov")


def test_calibrate_validate_external_one_covariate(bwt):
    py, r = _both(h2.fit_lrm, bwt, "low", ["lwt"])
    a, b = h2.calibrate(py, B=200, seed=3, engine="python"), h2.calibrate(r, B=200, seed=3, engine="r")
    _close(a.predicted, b.predicted, atol=1e-9, what="grid")
    _close(a.apparent, b.apparent, atol=1e-9, what="apparent curve")
    ok = ~np.isnan(a.optimism + b.optimism)
    assert np.max(np.abs((a.optimism[ok] - b.optimism[ok]) / (np.sqrt(2) * a.optimism_mcse[ok]))) < 4.5
    assert a.n_failed == 0
    va, vb = h2.validate(py, B=200, seed=3, engine="python"), h2.validate(r, B=200, seed=3, engine="r")
    rows = ["Dxy", "R2", "Intercept", "Slope", "D", "U", "Q", "B", "g", "gp"]
    _close(va.table.loc[rows, "index_orig"], vb.table.loc[rows, "index_orig"], what="index.orig")
    z = (va.table.loc[rows, "optimism"] - vb.table.loc[rows, "optimism"]) / (np.sqrt(2) * va.table.loc[rows, "optimism_mcse"])
    assert np.nanmax(np.abs(z.to_numpy())) < 4.5
    ea = h2.validate_external(py, bwt, "low", B=50, seed=3, engine="python")
    eb = h2.validate_external(r, bwt, "low", B=50, seed=3, engine="r")
    deterministic = ["C (AUC)", "C ci_low", "C ci_high", "calibration intercept (slope=1)", "calibration slope", "Brier",
                     "Eavg (ICI)", "E90", "Emax", "Spiegelhalter z"]
    _close(ea.to_frame().loc[deterministic, "value"], eb.to_frame().loc[deterministic, "value"], what="external")


def test_lasso_one_feature(bwt):
    from her2stats.selection import make_foldid

    folds = make_foldid(bwt["low"].to_numpy(), cv=5, seed=1)
    py, r = _both(h2.lasso_cv, bwt[["lwt"]], bwt["low"].to_numpy(), foldid=folds, tol=1e-14)
    assert py.coef.shape == r.coef.shape and py.coef.shape[0] == 1
    np.testing.assert_allclose(py.lambdas, r.lambdas, rtol=1e-10)
    _close(py.coef, r.coef, what="path")
    _close(py.cvm, r.cvm, what="cvm")
    assert py.lambda_min == pytest.approx(r.lambda_min, rel=1e-10)


def test_one_model_one_time_point(bwt, lung):
    m = _quiet(h2.fit_lrm, bwt, "low", ["lwt"], engine="python")
    a, b = _both(h2.decision_curve, m.y, {"model": m.predict()}, thresholds=[0.25])
    _close(a.table.select_dtypes("number"), b.table.select_dtypes("number"), atol=1e-12, what="dca")
    from her2stats import r_bridge

    if not r_bridge.has_package("riskRegression"):
        pytest.skip("riskRegression not installed")
    d = lung.assign(risk=lung["age"] / 100)
    a, b = _both(h2.time_dependent_auc, d["time"], d["dead"], d["risk"], [365.0])
    assert len(b.table) == 1
    _close(a.table["auc"], b.table["auc"], atol=1e-9, what="AUC(t)")
    S = np.exp(-d[["risk"]].to_numpy())
    a, b = _both(h2.time_dependent_brier, d["time"], d["dead"], S, [365.0])
    assert len(b.table) == 1
    _close(a.table["brier"], b.table["brier"], atol=1e-9, what="Brier(t)")
