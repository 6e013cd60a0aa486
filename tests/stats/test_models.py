"""fit_lrm: coefficients vs the published MASS::birthwt model and vs rms::lrm; splines; bad input."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from her2stats.errors import ConvergenceError, InputError
from her2stats.stats.models import binned_c_index, concordance_c, fit_lrm, rcs_basis, rcs_knots

COVS = ["age", "lwt", "race", "smoke", "ptd", "ht", "ui", "ftv"]


def test_birthwt_matches_published_coefficients(bwt):
    # Venables & Ripley, Modern Applied Statistics with S, 4th ed. (2002), p. 195: glm(low ~ ., binomial, bwt)
    published = {"Intercept": 0.82302, "age": -0.03723, "lwt": -0.01565, "race=black": 1.19241,
                 "race=other": 0.74068, "smoke=TRUE": 0.75553, "ptd=TRUE": 1.34376, "ht=TRUE": 1.91317,
                 "ui=TRUE": 0.68020, "ftv=1": -0.43638, "ftv=2+": 0.17901}
    m = fit_lrm(bwt, "low", COVS, engine="python")
    for name, value in published.items():
        assert m.coefficients[name] == pytest.approx(value, abs=1e-5), name
    assert m.deviance == pytest.approx(195.48, abs=0.005)  # "Residual Deviance: 195.48 on 178 df"
    assert m.n == 189 and m.n_events == 59 and m.n_excluded == 0
    assert m.stats["d.f."] == 10
    # predict/linear_predictor agree with the coefficients
    assert np.allclose(m.predict(bwt), 1 / (1 + np.exp(-m.linear_predictor(bwt))))


@pytest.mark.r
def test_python_engine_matches_rms_lrm(bwt):
    py = fit_lrm(bwt, "low", COVS, rcs={"lwt": 4}, engine="python")
    r = fit_lrm(bwt, "low", COVS, rcs={"lwt": 4}, engine="r")
    assert list(py.coefficients.index) == list(r.coefficients.index)
    assert np.allclose(py.coefficients, r.coefficients, atol=1e-6, rtol=0)
    assert np.allclose(py.vcov, r.vcov, atol=1e-6, rtol=0)
    from her2stats import r_bridge

    info = r_bridge.call("h2s_lrm_info", r.r_fit)
    names = list(info["names"])
    # rms sees generated names (v1 = age, v2 = lwt): same structure, no user text in R
    assert names[:3] == ["Intercept", "v1", "v2"] and names[3:5] == ["v2'", "v2''"]
    stats = info["stats"]
    assert py.stats["Model L.R."] == pytest.approx(stats["Model L.R."], abs=1e-6)
    assert py.stats["R2"] == pytest.approx(stats["R2"], abs=1e-6)
    assert py.stats["Brier"] == pytest.approx(stats["Brier"], abs=1e-9)
    assert py.stats["g"] == pytest.approx(stats["g"], abs=1e-6)
    assert py.stats["gp"] == pytest.approx(stats["gp"], abs=1e-6)
    # rms's printed C groups probabilities into 5000 bins; our replica matches it exactly
    assert binned_c_index(py.predict(), py.y) == pytest.approx(stats["C"], abs=1e-9)
    r_bridge.assign("h2s_test_p", py.predict())
    r_bridge.assign("h2s_test_y", py.y)
    exact = r_bridge.r_eval("Hmisc::somers2(h2s_test_p, h2s_test_y)")
    assert py.stats["C"] == pytest.approx(float(exact["C"]), abs=1e-12)


@pytest.mark.r
@pytest.mark.parametrize("n,nk", [(189, 4), (60, 5), (300, 3)])
def test_rcs_knots_and_basis_match_hmisc(n, nk):
    from her2stats import r_bridge

    rng = np.random.default_rng(n)
    x = np.round(rng.gamma(3, 10, size=n), 1)
    knots = rcs_knots(x, nk)
    r_bridge.assign("h2s_test_x", x)
    r_knots = np.asarray(r_bridge.r_eval(f"Hmisc::rcspline.eval(h2s_test_x, nk = {nk}, knots.only = TRUE)"), float)
    assert np.allclose(knots, r_knots, atol=1e-9, rtol=0)
    basis = rcs_basis(x, knots)
    r_bridge.assign("h2s_test_k", knots)
    r_basis = np.asarray(r_bridge.r_eval("unclass(Hmisc::rcspline.eval(h2s_test_x, knots = h2s_test_k, inclx = TRUE))"),
                         float)
    assert np.allclose(basis, r_basis, atol=1e-9, rtol=0)


def test_missing_rows_are_excluded_and_counted(bwt):
    df = bwt.copy()
    df.loc[[0, 5], "age"] = np.nan
    df.loc[7, "race"] = np.nan
    with pytest.warns(UserWarning, match="dropped 3 of 189 rows with missing values"):
        m = fit_lrm(df, "low", COVS, engine="python")
    assert m.n_excluded == 3 and m.n == 186
    assert m.excluded_by_column == {"age": 2, "race": 1}
    assert "3 rows excluded" in repr(m)
    # a missing categorical value predicts NaN, never the reference level
    assert np.isnan(m.predict(df.iloc[[7]]))[0]


def test_new_level_at_prediction_is_an_error(bwt):
    m = fit_lrm(bwt, "low", ["age", "race"], engine="python")
    new = bwt.head(3).copy()
    new["race"] = ["white", "asian", "black"]
    with pytest.raises(InputError, match="asian"):
        m.predict(new)


@pytest.mark.parametrize("bad,match", [
    (lambda d: d.assign(low=d.low + (d.age > 30)), "exactly two values"),
    (lambda d: d.assign(low=d.low * 2), "coded 0/1"),
    (lambda d: d.drop(columns="lwt"), "not in the data"),
    (lambda d: d.assign(age=30.0), "constant"),
])
def test_bad_input_is_rejected_with_a_clear_message(bwt, bad, match):
    with pytest.raises(InputError, match=match):
        fit_lrm(bad(bwt), "low", ["age", "lwt"], engine="python")


def test_separation_raises_convergence_error():
    rng = np.random.default_rng(1)
    x = rng.normal(size=80)
    df = pd.DataFrame({"y": (x > 0).astype(int), "x": x, "z": rng.normal(size=80)})
    with pytest.raises(ConvergenceError, match="separation.*'x'"):
        fit_lrm(df, "y", ["x", "z"], engine="python")


def test_exact_and_binned_c_index():
    y = np.array([0, 0, 1, 1, 0, 1])
    p = np.array([0.1, 0.4, 0.35, 0.8, 0.8, 0.9])
    # pairs (event, non-event): 9; concordant 6.5 (one tie at 0.8): C = 6.5/9
    assert concordance_c(p, y) == pytest.approx(6.5 / 9, abs=1e-15)
    # 0.4 and 0.35 fall in different bins of width 0.0002; 0.8 and 0.8 stay tied
    assert binned_c_index(p, y) == pytest.approx(6.5 / 9, abs=1e-15)
