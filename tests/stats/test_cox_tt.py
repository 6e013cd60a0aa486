"""Time-varying coefficients (issue 19 item 3): cox_tt against survival::coxph with tt().

References: R 4.2.2 / survival 3.5-3, ``coxph(Surv(time, status) ~ age + ph.ecog + tt(ph.ecog), lung,
tt = function(x, t, ...) x * log(t))``: coef 0.01121984870, 0.83030991674, -0.07332966056;
se 0.009331255989, 0.611465535927, 0.113745949954; loglik -744.480455761 (null), -734.743513272
(hard-coded; 1e-7). Parity with the R engine (coxph tt(), also step functions x * (t > c) and
strata) at 1e-6.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from her2stats.errors import InputError
from her2stats.stats.cox import fit_cph
from her2stats.stats.cox_tt import cox_tt


@pytest.fixture(scope="module")
def lung(test_data_dir):
    return pd.read_csv(test_data_dir / "lung.csv").assign(dead=lambda d: d["status"] - 1)


def test_log_time_coefficient_matches_published_r_values(lung):
    with pytest.warns(UserWarning, match="dropped 1 of 228"):
        res = cox_tt(lung, "time", "dead", ["age", "ph.ecog"], tt={"ph.ecog": "log"}, engine="python")
    assert list(res.summary["term"]) == ["age", "ph.ecog", "ph.ecog:log(t)"]
    np.testing.assert_allclose(res.summary["coef"], [0.01121984870, 0.83030991674, -0.07332966056], atol=1e-7)
    np.testing.assert_allclose(res.summary["se"], [0.009331255989, 0.611465535927, 0.113745949954], atol=1e-7)
    assert res.loglik == pytest.approx(-734.743513272, abs=1e-7)
    assert res.loglik_null == pytest.approx(-744.480455761, abs=1e-7)
    # HR(t) = exp(b + c log t), its CI from the covariance of (b, c)
    hr = res.hazard_ratio_at("ph.ecog", [30, 365])
    s = res.summary.set_index("term")["coef"]
    np.testing.assert_allclose(hr["HR"], np.exp(s["ph.ecog"] + s["ph.ecog:log(t)"] * np.log([30, 365])), rtol=1e-12)
    assert (hr["ci_low"] < hr["HR"]).all() and (hr["HR"] < hr["ci_high"]).all()
    # the model nests fit_cph's (c = 0): its likelihood is at least as high
    plain = fit_cph(lung, "time", "dead", ["age", "ph.ecog"], engine="python")
    assert res.loglik > plain.loglik


@pytest.mark.r
@pytest.mark.parametrize("ties", ["efron", "breslow"])
@pytest.mark.parametrize("kw", [{"tt": {"ph.ecog": "log"}}, {"tt": {"ph.ecog": 200}},
                                {"tt": {"age": "log", "ph.ecog": 365}}, {"tt": {"age": "log"}, "strata": ["sex"]}],
                         ids=["log", "step", "two", "strata"])
def test_engines_agree(lung, ties, kw):
    a = cox_tt(lung, "time", "dead", ["age", "ph.ecog"], ties=ties, engine="python", **kw)
    b = cox_tt(lung, "time", "dead", ["age", "ph.ecog"], ties=ties, engine="r", **kw)
    assert a.engine == "python" and b.engine == "r"
    np.testing.assert_allclose(a.summary["coef"], b.summary["coef"], atol=1e-6)
    np.testing.assert_allclose(a.summary["se"], b.summary["se"], atol=1e-6)
    assert a.loglik == pytest.approx(b.loglik, abs=1e-6)


def test_categorical_covariate_and_bad_input(lung):
    d = lung.assign(female=np.where(lung["sex"] == 2, "yes", "no"),
                    ecog=lung["ph.ecog"].map({0: "0", 1: "1", 2: "2+", 3: "2+"}))
    res = cox_tt(d, "time", "dead", ["age", "female"], tt={"female": 365}, engine="python")
    assert list(res.summary["term"]) == ["age", "female=yes", "female=yes:t>365"]
    with pytest.raises(InputError, match="design columns"):
        cox_tt(d, "time", "dead", ["age", "ecog"], tt={"ecog": "log"}, engine="python")
    with pytest.raises(InputError, match="not among the covariates"):
        cox_tt(d, "time", "dead", ["age"], tt={"sex": "log"}, engine="python")
    with pytest.raises(InputError, match="'log' or a"):
        cox_tt(d, "time", "dead", ["age"], tt={"age": "sqrt"}, engine="python")
    with pytest.raises(InputError, match="positive cut time"):
        cox_tt(d, "time", "dead", ["age"], tt={"age": -3}, engine="python")
    with pytest.raises(InputError, match="no time-varying coefficient"):
        res.hazard_ratio_at("age", [100])
