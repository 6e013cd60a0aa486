"""Nomograms of formula models with splines, polynomials and interactions, against
rms::nomogram(interact=) on MASS::birthwt (tests/data/birthwt.csv): points to 1e-6 (measured
<= 5e-13), scale and intercept to 1e-9."""
from __future__ import annotations

import numpy as np
import pytest

from her2stats.errors import InputError
from her2stats.stats.models import fit_lrm
from her2stats.stats.nomogram import nomogram

CASES = [
    ("low ~ age * race + rcs(lwt, 4) + smoke", None),
    ("low ~ rcs(lwt, 4) * smoke + age + race", None),
    ("low ~ age * lwt + race", {"lwt": [100, 150, 200]}),
    ("low ~ age * race * smoke + lwt", None),
    ("low ~ pol(age, 2) + race * smoke + lwt", {"race": ["white", "other"]}),
]


def _same_table(a, b):
    assert list(a["variable"]) == list(b["variable"])
    assert [str(v) if isinstance(v, str) else float(v) for v in a["value"]] == \
        [str(v) if isinstance(v, str) else float(v) for v in b["value"]]
    assert np.allclose(a["points"].astype(float), b["points"].astype(float), atol=1e-6, rtol=0)


@pytest.mark.r
@pytest.mark.parametrize("formula,interact", CASES)
def test_interaction_nomogram_matches_rms(bwt, formula, interact):
    m = fit_lrm(bwt, formula=formula, engine="r")
    py = nomogram(m, engine="python", interact=interact)
    r = nomogram(m, engine="r", interact=interact)
    _same_table(py.points_table(), r.points_table())
    assert py.scale == pytest.approx(r.scale, abs=1e-9)
    assert py.intercept == pytest.approx(r.intercept, abs=1e-9)
    assert np.allclose(py.total_points, r.total_points)
    assert np.allclose(py.lp["points"], r.lp["points"], atol=1e-6)


def test_interaction_nomogram_lines_and_scores(bwt):
    m = fit_lrm(bwt, formula="low ~ age * race + rcs(lwt, 4) + smoke", engine="python")
    nom = nomogram(m, engine="python")
    names = list(dict.fromkeys(nom.variables["variable"]))
    # rms: continuous predictors first, the interacting categorical one gives one age axis per level
    assert names == ["age (race=white)", "age (race=black)", "age (race=other)", "lwt", "smoke"]
    # a line's points: the group's main effects and interaction at (age, race), from the group minimum
    b = m.coefficients
    v = nom.variables
    black = v[v.variable == "age (race=black)"].set_index("value")["points"]
    white = v[v.variable == "age (race=white)"].set_index("value")["points"]
    a0, a1 = black.index[0], black.index[-1]
    slope_black = (b["age"] + b["age * race=black"]) * nom.scale
    assert black[a1] - black[a0] == pytest.approx(slope_black * (a1 - a0), abs=1e-9)
    assert black[a0] - white[a0] == pytest.approx((b["race=black"] + b["age * race=black"] * a0) * nom.scale,
                                                  abs=1e-9)
    assert min(v[v.variable.str.startswith("age (")]["points"]) == pytest.approx(0.0, abs=1e-12)
    # total points reproduce the model's linear predictor exactly
    s = nom.score(bwt)
    assert np.allclose(nom.intercept + s["total_points"] / nom.scale, m.linear_predictor(bwt), atol=1e-10)


def test_interaction_nomogram_bad_input(bwt):
    m = fit_lrm(bwt, formula="low ~ age * lwt + race", engine="python")
    with pytest.raises(InputError, match="'lwt' is continuous and interacts with 'age'; give its settings"):
        nomogram(m, engine="python")
    with pytest.raises(InputError, match="not predictors of the model"):
        nomogram(m, engine="python", interact={"weight": [1, 2]})
    plain = fit_lrm(bwt, "low", ["age", "race"], engine="python")
    with pytest.raises(InputError, match="the model has none"):
        nomogram(plain, engine="python", interact={"race": ["white"]})


COX_CASES = [
    ("Surv(time, dead) ~ rcs(age, 4) + sexf", None),
    ("Surv(time, dead) ~ age * sexf + ph.karno", None),
    ("Surv(time, dead) ~ rcs(age, 3) * sexf + pol(ph.karno, 2)", None),
    ("Surv(time, dead) ~ age * ph.karno + sexf", {"ph.karno": [60, 80, 100]}),
]


@pytest.mark.r
@pytest.mark.parametrize("formula,interact", COX_CASES)
def test_cox_formula_nomogram_matches_rms(test_data_dir, formula, interact):
    """Survival nomograms of fit_cph(formula=) models against rms::nomogram(cph, fun = Survival)
    on survival::lung: predictor and survival-axis points to 1e-6 (measured <= 1.3e-13)."""
    import warnings

    import pandas as pd

    from her2stats.stats.cox import fit_cph

    lung = pd.read_csv(test_data_dir / "lung.csv")
    lung["dead"] = (lung["status"] == 2).astype(int)
    lung["sexf"] = pd.Categorical(np.where(lung["sex"] == 2, "female", "male"), categories=["male", "female"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rows with a missing ph.karno are dropped and announced
        m = fit_cph(lung, formula=formula, engine="r")
    py = nomogram(m, fun=("survival", [365, 730]), time_unit="day", engine="python", interact=interact)
    r = nomogram(m, fun=("survival", [365, 730]), time_unit="day", engine="r", interact=interact)
    _same_table(py.points_table(), r.points_table())
    assert py.scale == pytest.approx(r.scale, abs=1e-9)
    assert py.intercept == pytest.approx(r.intercept, abs=1e-9)
    s = py.score(m.data)
    assert np.allclose(py.intercept + s["total_points"] / py.scale,
                       m.linear_predictor(m.data) - m.linear_predictor(m.data).mean(), atol=1e-10)
