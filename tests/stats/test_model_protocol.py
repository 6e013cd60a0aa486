"""The fitted-model protocol (issue 16 item 3): calibrate, validate, nomogram and the calibration
functions take every model type they are defined for -- a FrozenLogisticModel included -- and
refuse the others with a message naming the type, what is supported and what to use instead."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from her2stats.errors import InputError
from her2stats.stats.calibration import calibrate, calibration_hierarchy, lecessie_test, validate
from her2stats.stats.design import FittedModel, require_model
from her2stats.stats.external import FrozenLogisticModel, frozen_lrm
from her2stats.stats.models import fit_lrm
from her2stats.stats.nomogram import nomogram

COVS = ["age", "lwt", "race", "smoke"]


@pytest.fixture(scope="module")
def fitted(bwt):
    return fit_lrm(bwt, "low", COVS, engine="python")


@pytest.fixture(scope="module")
def frozen(fitted):
    return frozen_lrm(fitted.coefficients, levels={"race": ["white", "black", "other"], "smoke": ["FALSE", "TRUE"]},
                      source="the birthwt fit, frozen")


@pytest.fixture(scope="module")
def ordinal_model(test_data_dir):
    from her2stats.stats.ordinal import fit_ordinal

    h = pd.read_csv(test_data_dir / "mass_housing.csv")
    h = h.loc[h.index.repeat(h["Freq"])].reset_index(drop=True)
    return fit_ordinal(h, "Sat", ["Infl", "Cont"], levels=["Low", "Medium", "High"], engine="python")


@pytest.fixture(scope="module")
def cox_model(test_data_dir):
    from her2stats.stats.survival import fit_cph

    lung = pd.read_csv(test_data_dir / "lung.csv").dropna(subset=["age", "sex"])
    lung["dead"] = (lung["status"] == 2).astype(int)
    return fit_cph(lung, "time", "dead", ["age", "sex"], engine="python")


def test_every_model_type_follows_the_protocol(fitted, frozen, ordinal_model, cox_model):
    for m in (fitted, frozen, ordinal_model, cox_model):
        assert isinstance(m, FittedModel), type(m).__name__
    assert not isinstance({"coefficients": 1}, FittedModel)


@pytest.mark.parametrize("function", [calibrate, validate])
def test_resampling_methods_refuse_a_frozen_model_and_say_what_to_use(function, frozen):
    with pytest.raises(InputError, match=r"not defined for a FrozenLogisticModel; it accepts LogisticModel.*"
                                         r"validate_external"):
        function(frozen, n_boot=10)


@pytest.mark.parametrize("function,instead", [(calibrate, "ordinal_calibration"), (validate, "evaluate_ordinal")])
def test_resampling_methods_refuse_an_ordinal_model(function, instead, ordinal_model):
    with pytest.raises(InputError, match=f"not defined for a OrdinalModel.*{instead}"):
        function(ordinal_model, n_boot=10)


@pytest.mark.parametrize("function", [calibrate, validate, nomogram])
def test_cox_and_non_models_are_named_in_the_refusal(function, cox_model):
    with pytest.raises(InputError, match="not defined for None"):
        function(None)
    with pytest.raises(InputError, match="not defined for a dict"):
        function({"Intercept": 1.0})
    if function is not nomogram:
        with pytest.raises(InputError, match="not defined for a CoxModel"):
            function(cox_model)


def test_require_model_lists_the_supported_types():
    with pytest.raises(InputError, match=r"nomogram is not defined for a str; it accepts LogisticModel \(risk "
                                         r"nomogram\); CoxModel"):
        require_model("model", "nomogram")


def test_formula_model_is_calibrated_and_validated(bwt):
    m = fit_lrm(bwt, formula="low ~ rcs(lwt, 3) + age * smoke + race", engine="python")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cal = calibrate(m, n_boot=20, seed=1)
        val = validate(m, n_boot=20, seed=1)
    assert cal.n_boot == 20 and np.isfinite(cal.mean_abs_error)
    # the apparent index is the model's own C (nothing refitted)
    assert val.table.loc["C", "index_orig"] == pytest.approx(m.stats["C"], abs=1e-12)


def test_frozen_model_nomogram_equals_the_fitted_model_nomogram(fitted, frozen, bwt):
    a = nomogram(fitted, engine="python")
    b = nomogram(frozen, data=bwt, engine="python")
    pd.testing.assert_frame_equal(a.variables, b.variables)
    assert a.scale == pytest.approx(b.scale, abs=1e-12) and a.intercept == pytest.approx(b.intercept, abs=1e-12)
    assert np.allclose(a.score(bwt.iloc[:10]), b.score(bwt.iloc[:10]), atol=1e-12)
    with pytest.raises(InputError, match="has no development data; give data="):
        nomogram(frozen)
    with pytest.raises(InputError, match="engine='python'"):
        nomogram(frozen, data=bwt, engine="r")
    with pytest.raises(InputError, match="data= is for a frozen model"):
        nomogram(fitted, data=bwt)


def test_frozen_model_nomogram_refuses_an_ordinal_model(ordinal_model):
    with pytest.raises(InputError, match="not defined for a OrdinalModel.*proportional-odds"):
        nomogram(ordinal_model)


def test_calibration_functions_take_a_frozen_model_with_data(fitted, frozen, bwt):
    """A frozen copy of a fitted model evaluated on the development data gives the fitted model's
    apparent calibration exactly (same design, same predictions)."""
    a = calibration_hierarchy(model=fitted, n_boot=50, seed=3, engine="python")
    b = calibration_hierarchy(model=frozen, data=bwt, outcome="low", n_boot=50, seed=3, engine="python")
    pd.testing.assert_frame_equal(a.table, b.table, rtol=1e-10, atol=1e-12)
    la = lecessie_test(model=fitted, engine="python")
    lb = lecessie_test(model=frozen, data=bwt, outcome="low", engine="python")
    assert la.z == pytest.approx(lb.z, abs=1e-10)
    with pytest.raises(InputError, match="has no development data; give data= and outcome="):
        calibration_hierarchy(model=frozen, n_boot=10)
    with pytest.raises(InputError, match="has no development data"):
        lecessie_test(model=frozen)
    with pytest.raises(InputError, match="columns \\['nope'\\] are not in data"):
        calibration_hierarchy(model=frozen, data=bwt, outcome="nope", n_boot=10)


def test_calibration_hierarchy_refuses_an_ordinal_model(ordinal_model):
    with pytest.raises(InputError, match="not defined for a OrdinalModel.*ordinal_calibration"):
        calibration_hierarchy(model=ordinal_model, n_boot=10)


def test_external_data_rows_with_missing_values_are_announced(frozen, bwt):
    d = bwt.copy()
    d.loc[[1, 2], "lwt"] = np.nan
    with pytest.warns(UserWarning, match="dropped 2 of 189 rows"):
        res = lecessie_test(model=frozen, data=d, outcome="low", engine="python")
    assert res.n == 187


@pytest.mark.r
def test_frozen_model_calibration_on_the_r_engine(frozen, bwt):
    py = lecessie_test(model=frozen, data=bwt, outcome="low", engine="python")
    r = lecessie_test(model=frozen, data=bwt, outcome="low", engine="r")
    assert r.engine == "r" and r.z == pytest.approx(py.z, abs=1e-9)
