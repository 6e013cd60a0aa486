"""Logistic OR tables: R parity (glm + step, 1e-6 on coefficients/SE/p/OR/Wald CI; profile CIs
1e-4 relative because R's confint profiles on a spline-interpolated grid), independent checks of
the Wald CI formula and step() path, separation errors, bad input."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from her2stats.errors import ConvergenceError, InputError
from her2stats.stats.logistic import logistic_table

COVS = ["age", "size", "er", "grade", "noise1", "noise2"]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(1)
    n = 300
    df = pd.DataFrame({"age": rng.normal(52, 10, n), "size": rng.lognormal(0.7, 0.4, n),
                       "er": rng.choice(["neg", "pos"], n), "grade": rng.choice(["I", "II", "III"], n, p=[.2, .5, .3]),
                       "noise1": rng.normal(size=n), "noise2": rng.normal(size=n)})
    lp = -1 + 0.03 * (df.age - 52) + 0.8 * (df.er == "neg") + 0.6 * (df.grade == "III") + 0.5 * np.log(df["size"])
    # an ordered Categorical names the event (pos); plain "pos"/"neg" labels would need event="pos"
    df["her2"] = pd.Categorical(np.where(rng.uniform(size=n) < 1 / (1 + np.exp(-lp)), "pos", "neg"),
                                categories=["neg", "pos"], ordered=True)
    df.loc[4, "age"] = np.nan
    df.loc[9, "er"] = None
    return df


def test_python_engine_against_statsmodels_logit(data):
    import statsmodels.formula.api as smf

    res = logistic_table(data, "her2", ["age", "er", "grade"], engine="python")
    complete = data.dropna(subset=["age", "er", "grade"])
    ref = smf.logit("y ~ age + C(er) + C(grade)", data=complete.assign(y=(complete.her2 == "pos").astype(int))).fit(disp=0)
    mv = res.multivariable.set_index("name")
    order = ["Intercept", "age", "C(er)[T.pos]", "C(grade)[T.II]", "C(grade)[T.III]"]
    np.testing.assert_allclose(mv["estimate"].to_numpy(), ref.params[order].to_numpy(), atol=1e-6)
    np.testing.assert_allclose(mv["se"].to_numpy(), ref.bse[order].to_numpy(), atol=1e-6)
    # Wald CI formula and the display frame
    row = res.frame.set_index(["variable", "level"]).loc[("grade", "III")]
    b, se = ref.params["C(grade)[T.III]"], ref.bse["C(grade)[T.III]"]
    assert row["multi_or"] == pytest.approx(np.exp(b), rel=1e-6)
    assert row["multi_ci_low"] == pytest.approx(np.exp(b - 1.959963984540054 * se), rel=1e-6)
    assert row["reference"] == "I"
    assert res.n_excluded == 2 and res.n == len(data) - 2
    assert res.frame.set_index("variable").loc["age", "uni_n"] == len(data) - 1  # own complete cases
    assert any("Wald" in f for f in res.footnotes)


def test_stepwise_path_is_monotone_and_consistent(data):
    res = logistic_table(data, "her2", COVS, stepwise="backward", univariable=False, engine="python")
    crit = res.steps["criterion"].to_numpy()
    assert np.all(np.diff(crit) < 0)
    # the final criterion is the AIC of the selected model (deviance + 2 * parameters)
    full = logistic_table(data, "her2", list(res.selected), univariable=False, engine="python")
    npar = len(full.multivariable)
    assert crit[-1] == pytest.approx(full.model.deviance + 2 * npar, abs=1e-8)
    assert "noise2" not in res.selected
    bic = logistic_table(data, "her2", COVS, stepwise="both", criterion="bic", univariable=False, engine="python")
    assert set(bic.selected) <= set(res.selected)  # BIC penalises more


def test_separation_errors(data):
    df = data.copy()
    df["site"] = np.where(df.index < 10, "rare", "common")
    df.loc[df.site == "rare", "her2"] = "pos"
    with pytest.raises(ConvergenceError, match="'site'.*only events|level 'rare' of 'site'"):
        logistic_table(df, "her2", ["age", "site"], engine="python")
    df["marker"] = np.where(df.her2 == "pos", 10.0, 0.0) + np.random.default_rng(0).uniform(size=len(df))
    with pytest.raises(ConvergenceError, match="'marker'"):
        logistic_table(df, "her2", ["marker"], engine="python")
    # separation only by a combination of covariates
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=200), rng.normal(size=200)
    combo = pd.DataFrame({"a": a, "b": b, "y": (a + b > 0).astype(int)})
    with pytest.raises(ConvergenceError, match="separation"):
        logistic_table(combo, "y", ["a", "b"], univariable=False, engine="python")


def test_bad_input(data):
    with pytest.raises(InputError, match="exactly 2"):
        logistic_table(data, "grade", ["age"], engine="python")
    with pytest.raises(InputError, match="'weight'"):
        logistic_table(data, "her2", ["weight"], engine="python")
    with pytest.raises(InputError, match="stepwise"):
        logistic_table(data, "her2", ["age"], stepwise="sideways", engine="python")
    with pytest.raises(InputError, match="constant"):
        logistic_table(data.assign(c=1.0), "her2", ["c"], engine="python")
    with pytest.raises(InputError, match="positive"):
        logistic_table(data, "her2", ["age"], positive="yes", engine="python")


@pytest.mark.r
@pytest.mark.parametrize("stepwise", [None, "backward", "forward", "both"])
def test_r_parity(data, stepwise):
    a = logistic_table(data, "her2", COVS, stepwise=stepwise, engine="python")
    b = logistic_table(data, "her2", COVS, stepwise=stepwise, engine="r")
    assert a.selected == b.selected
    num = a.frame.select_dtypes("number").columns
    np.testing.assert_allclose(a.frame[num].to_numpy(float), b.frame[num].to_numpy(float), atol=1e-6, rtol=1e-6)
    for col in ("estimate", "se", "p"):
        np.testing.assert_allclose(a.multivariable[col], b.multivariable[col], atol=1e-6)
    if stepwise:
        assert list(a.steps["change"]) == list(b.steps["change"])
        np.testing.assert_allclose(a.steps["criterion"], b.steps["criterion"], atol=1e-6)


@pytest.mark.r
def test_profile_ci_parity(data):
    a = logistic_table(data, "her2", ["age", "er", "grade"], ci="profile", univariable=False, engine="python")
    b = logistic_table(data, "her2", ["age", "er", "grade"], ci="profile", univariable=False, engine="r")
    np.testing.assert_allclose(a.multivariable[["ci_low", "ci_high"]], b.multivariable[["ci_low", "ci_high"]], rtol=1e-4)
    assert a.multivariable["ci_low"].iloc[1] != pytest.approx(
        np.exp(a.multivariable["estimate"].iloc[1] - 1.96 * a.multivariable["se"].iloc[1]), rel=1e-4)  # not Wald
