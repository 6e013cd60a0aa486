"""External validation of frozen models: frozen coefficients (with splines), recalibration, DeLong,
Cox at a horizon."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from her2stats.errors import InputError
from her2stats.stats.external import delong_auc_ci, frozen_lrm, validate_external, validate_external_cox
from her2stats.stats.models import fit_lrm

COVS = ["age", "lwt", "race", "smoke", "ptd", "ht"]
LEVELS = {"race": ["white", "black", "other"], "smoke": ["FALSE", "TRUE"], "ptd": ["FALSE", "TRUE"],
          "ht": ["FALSE", "TRUE"]}


@pytest.fixture(scope="module")
def split(bwt):
    rs = np.random.default_rng(3).permutation(len(bwt))
    return bwt.iloc[rs[:120]].reset_index(drop=True), bwt.iloc[rs[120:]].reset_index(drop=True)


@pytest.fixture(scope="module")
def dev_model(split):
    return fit_lrm(split[0], "low", COVS, rcs={"lwt": 3}, engine="python")


def test_frozen_model_from_published_coefficients_reproduces_predictions(dev_model, split):
    # coefficients as a paper would print them (rms names) + knots of the spline
    coefs = dev_model.coefficients.to_dict()
    knots = {"lwt": list(dev_model.terms[1].knots)}
    fz = frozen_lrm(coefs, knots=knots, levels=LEVELS)
    ext = split[1]
    assert np.allclose(fz.predict(ext), dev_model.predict(ext), atol=1e-13)
    # the published ordering of the coefficients does not matter
    shuffled = dict(reversed(list(coefs.items())))
    assert np.allclose(frozen_lrm(shuffled, knots=knots, levels=LEVELS).predict(ext), fz.predict(ext), atol=1e-13)


@pytest.mark.parametrize("kwargs,match", [
    (dict(coefficients={"age": 0.1}), "Intercept"),
    (dict(coefficients={"Intercept": 0.1, "race=black": 0.3}), "levels="),
    (dict(coefficients={"Intercept": 0.1, "age": 0.1, "age'": 0.2}), "knots"),
    (dict(coefficients={"Intercept": 0.1, "age": 0.1, "age'": 0.2}, knots={"age": [20, 30, 40, 50]}), "needs coefficients"),
    (dict(coefficients={"Intercept": 0.1, "race=asian": 0.3}, levels={"race": ["white", "black"]}), "asian"),
])
def test_frozen_model_bad_specification(kwargs, match):
    with pytest.raises(InputError, match=match):
        frozen_lrm(**kwargs)


def test_external_validation_recalibration(dev_model, split):
    ext = split[1]
    res = validate_external(dev_model, ext, "low", B=100, seed=5, engine="python")
    p = dev_model.predict(ext)
    y = ext["low"].to_numpy()
    L = np.log(p / (1 - p))
    import statsmodels.api as sm

    fam = sm.families.Binomial()
    a1 = sm.GLM(y, np.ones((len(y), 1)), family=fam, offset=L).fit(tol=1e-12).params[0]
    ab = sm.GLM(y, np.column_stack([np.ones(len(y)), L]), family=fam).fit(tol=1e-12).params
    assert res.recalibration.loc["intercept-only", "intercept"] == pytest.approx(a1, abs=1e-6)
    assert res.recalibration.loc["logistic", ["intercept", "slope"]].to_numpy() == pytest.approx(ab, abs=1e-6)
    assert res.val_prob.slope == pytest.approx(ab[1], abs=1e-6)
    # after recalibration the updated frozen model is calibrated on this cohort by construction
    again = validate_external(res.recalibrated("logistic"), ext, "low", hierarchy=False, engine="python")
    assert again.recalibration.loc["logistic", "slope"] == pytest.approx(1, abs=1e-6)
    assert again.recalibration.loc["intercept-only", "intercept"] == pytest.approx(0, abs=1e-6)
    assert again.auc == pytest.approx(res.auc, abs=1e-12)   # a monotone update keeps discrimination
    upd = validate_external(res.recalibrated("intercept-only"), ext, "low", hierarchy=False, engine="python")
    assert upd.recalibration.loc["intercept-only", "intercept"] == pytest.approx(0, abs=1e-6)
    # predictions-only path gives the same numbers
    po = validate_external(y=y, prob=p, hierarchy=False, engine="python")
    assert po.auc == pytest.approx(res.auc) and po.val_prob.Eavg == pytest.approx(res.val_prob.Eavg)
    assert np.allclose(po.predict_recalibrated(p), res.recalibrated("logistic").predict(ext), atol=1e-12)
    assert res.hierarchy is not None and "ICI" in res.hierarchy.table.index


def test_external_validation_counts_missing_rows(dev_model, split):
    ext = split[1].copy()
    ext.loc[[0, 1], "lwt"] = np.nan
    with pytest.warns(UserWarning, match="dropped 2 of 69 rows"):
        res = validate_external(dev_model, ext, "low", hierarchy=False, engine="python")
    assert res.n_excluded == 2 and res.n == len(ext) - 2


@pytest.mark.r
def test_delong_ci_matches_proc(dev_model, split):
    from her2stats import r_bridge

    r_bridge.require("pROC")
    ext = split[1]
    y = ext["low"].to_numpy()
    p = dev_model.predict(ext)
    auc, se, lo, hi = delong_auc_ci(y, p)
    r_bridge.assign("h2s_test_y", y)
    r_bridge.assign("h2s_test_p", p)
    ci = np.asarray(r_bridge.r_eval(
        "as.numeric(pROC::ci.auc(pROC::roc(h2s_test_y, h2s_test_p, quiet = TRUE, direction = '<'), method = 'delong'))"))
    assert [lo, auc, hi] == pytest.approx(list(ci), abs=1e-9)


def test_cox_at_horizon(test_data_dir):
    from lifelines import CoxPHFitter, KaplanMeierFitter

    lung = pd.read_csv(test_data_dir / "lung.csv").dropna(subset=["ph.ecog"])
    lung = lung.assign(dead=lung.status - 1, male=(lung.sex == 1).astype(float))
    cph = CoxPHFitter().fit(lung[["time", "dead", "age", "male"]], "time", "dead")
    lp = lung[["age", "male"]].to_numpy() @ cph.params_.to_numpy()
    s0 = float(np.exp(-cph.baseline_cumulative_hazard_.loc[:365].iloc[-1, 0]))  # lifelines: centred baseline
    center = float(lung[["age", "male"]].mean().to_numpy() @ cph.params_.to_numpy())
    res = validate_external_cox(lung, "time", "dead", 365, baseline_survival=s0, lp=lp, lp_center=center, groups=4)
    km = KaplanMeierFitter().fit(lung.time, lung.dead)
    assert res.observed_risk == pytest.approx(1 - float(km.survival_function_at_times(365).iloc[0]), abs=1e-12)
    # on the development data the Cox score equation makes the calibration slope exactly 1
    assert res.calibration_slope == pytest.approx(1.0, abs=1e-4)
    assert res.c_index == pytest.approx(cph.concordance_index_, abs=1e-9)
    assert res.groups["n"].sum() == len(lung)
    assert 0.8 < res.oe_ratio < 1.25 and res.oe_lower < res.oe_ratio < res.oe_upper
    with pytest.raises(InputError, match="baseline_survival"):
        validate_external_cox(lung, "time", "dead", 365, baseline_survival=1.2, lp=lp)
    with pytest.raises(InputError, match="positive"):
        validate_external_cox(lung.assign(time=lung.time - 1000), "time", "dead", 365, baseline_survival=s0, lp=lp)


@pytest.mark.r
def test_validate_external_on_r_computes_auc_and_recalibration_in_r():
    """engine='r' (issue 16): pROC's DeLong interval and glm recalibration, equal to the Python
    engine's to 1e-9."""
    import her2stats as h2

    rng = np.random.default_rng(2)
    lp = rng.normal(-0.3, 1.2, 200)
    y = (rng.random(200) < 1 / (1 + np.exp(-(0.2 + 0.8 * lp)))).astype(int)
    p = 1 / (1 + np.exp(-lp))
    r = h2.validate_external(y=y, prob=p, hierarchy=False, engine="r")
    q = h2.validate_external(y=y, prob=p, hierarchy=False, engine="python")
    assert (r.engine, q.engine) == ("r", "python")
    assert (r.auc, r.auc_se, r.auc_ci_low, r.auc_ci_high) == pytest.approx((q.auc, q.auc_se, q.auc_ci_low, q.auc_ci_high),
                                                                           abs=1e-9)
    np.testing.assert_allclose(r.recalibration.to_numpy(float), q.recalibration.to_numpy(float), atol=1e-9)
