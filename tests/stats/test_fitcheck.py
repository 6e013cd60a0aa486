"""An invalid fit is never returned as valid: rank, separation and monotone likelihood on both engines.

References and tolerances
-------------------------
* Separation: Albert & Anderson (1984) define it; Konis (2007)'s linear program decides it
  (``her2stats.stats._fitcheck``). Checked here on cases whose status is known by construction
  (a covariate that splits the outcome, a level with only events, a tie at the boundary, a
  combination ``a + b``), on brglm2's ``endometrial`` data (NV = 1 only in high-grade tumours:
  quasi-complete separation, Heinze & Schemper 2002) and against rms's own verdict (``fail``).
* Monotone likelihood (Bryson & Johnson 1981): a level without events, a 0/1 covariate whose
  1s are all censored, a covariate that orders the event times.
* Both engines must raise the same ConvergenceError with the same words, before fitting.
* Splines: ``rcs(age, 4|5)`` on MASS::Pima.tr (tests/data/pima_tr.csv) fit on both engines
  (coefficients 1e-6 apart) and validate/calibrate with ``n_failed == 0``; the optimism agrees
  with rms within Monte-Carlo error (|z| < 4.5 with the Python replicates' MCSE, as
  tests/stats/test_calibration.py).
* Firth: Python's Newton-Raphson on the modified score against R ``brglm2`` 0.9
  (``glm(..., method = "brglmFit", type = "AS_mean")``, Firth's estimate for the logit link):
  1e-6 live, and against the brglm2 values stored below for the endometrial data of Heinze &
  Schemper (2002) when R is absent; against direct numerical maximisation of the penalised
  likelihood ``l + 1/2 log det I`` (scipy) on completely separated data.
* Firth Cox (Heinze & Schemper 2001; R ``coxphf`` is not in Debian): Python's analytic modified
  score against direct maximisation of ``l + 1/2 log det I`` (scipy BFGS, 2e-5) and against the R
  engine, which uses survival's own partial likelihood, information and score residuals with a
  differenced penalty gradient (1e-6), Efron and Breslow ties.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from her2stats.engine import r_available
from her2stats.errors import ConvergenceError, InputError
from her2stats.stats import _fitcheck as fc
from her2stats.stats import calibration as cal
from her2stats.stats.logistic import logistic_table
from her2stats.stats.models import fit_lrm
from her2stats.stats.ordinal import fit_ordinal
from her2stats.stats.survival import cox, fit_cph

ENGINES = ("python", "r") if r_available() else ("python",)
PIMA_COVS = ["npreg", "glu", "bp", "skin", "bmi", "ped", "age"]


@pytest.fixture(scope="module")
def pima(test_data_dir):
    d = pd.read_csv(test_data_dir / "pima_tr.csv")
    return d.assign(diabetes=(d["type"] == "Yes").astype(int))


@pytest.fixture(scope="module")
def endometrial(test_data_dir):
    return pd.read_csv(test_data_dir / "endometrial.csv")


@pytest.fixture(scope="module")
def lung(test_data_dir):
    return pd.read_csv(test_data_dir / "lung.csv").assign(dead=lambda d: d.status - 1)


@pytest.fixture(scope="module")
def clinical():
    rng = np.random.default_rng(11)
    n = 160
    d = pd.DataFrame({"age": rng.normal(55, 10, n), "size": rng.lognormal(0.6, 0.4, n),
                      "grade": rng.choice(["I", "II", "III"], n), "a": rng.normal(size=n), "b": rng.normal(size=n)})
    lp = -0.5 + 0.03 * (d.age - 55) + 0.7 * (d.grade == "III")
    d["her2"] = (rng.random(n) < 1 / (1 + np.exp(-lp))).astype(int)
    return d


def _errors(call):
    """The message each engine raises (None when it returns)."""
    out = {}
    for e in ENGINES:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                call(e)
            out[e] = None
        except ConvergenceError as exc:
            out[e] = str(exc)
    return out


def _assert_same_error(call, *words):
    msgs = _errors(call)
    assert all(m is not None for m in msgs.values()), msgs
    assert len(set(msgs.values())) == 1, msgs   # same verdict, same words, on every engine
    msg = next(iter(msgs.values()))
    for w in words:
        assert w in msg, (w, msg)
    return msg


# =========================================================================== the checks themselves
def test_separation_lp_on_cases_known_by_construction():
    rng = np.random.default_rng(1)
    n = 80
    x, z = rng.normal(size=n), rng.normal(size=n)
    # complete: x splits the outcome; the noise column z is not named
    sep = fc.logistic_separation(np.column_stack([z, x]), (x > 0).astype(float))
    assert sep.kind == "complete" and sep.columns == (1,) and sep.n_rows == n
    # quasi-complete at a tie: events at x >= 0, non-events at x <= 0, one of each at exactly 0
    xt = np.concatenate([x, [0.0, 0.0]])
    yt = np.concatenate([(x > 0).astype(float), [1.0, 0.0]])
    sep = fc.logistic_separation(np.column_stack([xt]), yt)
    assert sep.kind == "quasi-complete" and sep.n_rows == n and np.all(np.isfinite(sep.direction))
    # a combination: neither a nor b alone separates, a + b does
    a, bb = rng.normal(size=300), rng.normal(size=300)
    y = (a + bb > 0).astype(float)
    assert fc.logistic_separation(a[:, None], y) is None and fc.logistic_separation(bb[:, None], y) is None
    sep = fc.logistic_separation(np.column_stack([rng.normal(size=300), a, bb]), y)
    assert sep.columns == (1, 2)
    # overlap: no separation, whatever the effect size
    y2 = (rng.random(n) < 1 / (1 + np.exp(-3 * x))).astype(float)
    assert fc.logistic_separation(np.column_stack([x, z]), y2) is None


def test_endometrial_nv_is_quasi_separated(endometrial):
    # Heinze & Schemper (2002): all 13 patients with neovasculization have a high-grade tumour
    sep = fc.logistic_separation(endometrial[["NV", "PI", "EH"]].to_numpy(float), endometrial["HG"].to_numpy(float))
    assert sep.kind == "quasi-complete" and sep.columns == (0,) and sep.n_rows == 13


def test_aliased_columns_follow_column_order():
    rng = np.random.default_rng(2)
    x, z = rng.normal(size=50), rng.normal(size=50)
    X = np.column_stack([x, z, 2 * x - z + 7, rng.normal(size=50), np.full(50, 3.0)])
    assert fc.aliased_columns(X) == [(2, (0, 1)), (4, ())]
    # a large location with a small spread is not collinear with the intercept (centred check)
    assert fc.aliased_columns(np.column_stack([1e6 + rng.normal(size=50) * 1e-2])) == []
    # dummies of every level sum to the intercept
    g = rng.integers(0, 3, 50)
    D = np.column_stack([(g == k).astype(float) for k in range(3)])
    assert fc.aliased_columns(D) == [(2, (0, 1))]


def test_ordinal_separation_uses_every_cut():
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 3, 200)
    X = rng.normal(size=(200, 2))
    assert fc.ordinal_separation(X, codes, 3) is None
    # a covariate that is 1 only in the top class separates the last cut (quasi-complete)
    top = ((codes == 2) & (rng.random(200) < 0.3)).astype(float)
    sep = fc.ordinal_separation(np.column_stack([X, top]), codes, 3)
    assert sep.kind == "quasi-complete" and sep.columns == (2,)


def test_cox_monotone_likelihood_cases():
    rng = np.random.default_rng(4)
    t = rng.exponential(size=120)
    e = (rng.random(120) < 0.7).astype(float)
    x = rng.normal(size=120)
    assert fc.cox_monotone_likelihood(t, e, x[:, None]) is None
    g = np.zeros(120)
    g[:12] = 1
    e2 = e.copy()
    e2[:12] = 0        # the level's subjects are all censored
    sep = fc.cox_monotone_likelihood(t, e2, np.column_stack([x, g]))
    assert sep.kind == "monotone" and sep.columns == (1,)
    # a covariate that orders the event times (the earlier the event, the larger it is)
    sep = fc.cox_monotone_likelihood(t, np.ones(120), np.column_stack([x, -t]))
    assert sep.columns == (1,)


# =========================================================================== logistic models, both engines
def test_fit_lrm_separation_and_collinearity_same_error_on_both_engines(clinical):
    d = clinical.copy()
    d["marker"] = np.where(d.her2 == 1, 5.0, 0.0) + d["a"].abs()
    _assert_same_error(lambda e: fit_lrm(d, "her2", ["age", "marker"], engine=e),
                       "complete separation", "'marker'", "firth=True")
    d["site"] = np.where(np.arange(len(d)) < 9, "rare", "common")
    d.loc[d.site == "rare", "her2"] = 1
    _assert_same_error(lambda e: fit_lrm(d, "her2", ["age", "site"], engine=e),
                       "quasi-complete separation", "level 'rare' of 'site'", "all of its 9 rows are events")
    d["combo"] = (d.a + d.b > 0).astype(int)
    _assert_same_error(lambda e: fit_lrm(d, "combo", ["age", "a", "b"], engine=e),
                       "complete separation", "the combination of 'a' and 'b'")
    d["size_mm"] = 10 * d["size"]
    _assert_same_error(lambda e: fit_lrm(clinical.assign(size_mm=10 * clinical["size"]), "her2",
                                         ["size", "age", "size_mm"], engine=e),
                       "singular", "'size_mm' is a linear combination of 'size'")


@pytest.mark.r
def test_rms_itself_agrees_a_quasi_separated_fit_is_not_valid(clinical):
    """rms returns the quasi-separated fit with fail = FALSE (coefficient ~ 8-20): the reason the
    check runs before R, not after."""
    from her2stats import r_bridge

    d = clinical.assign(site=np.where(np.arange(len(clinical)) < 9, "rare", "common"))
    d.loc[d.site == "rare", "her2"] = 1
    rdf = pd.DataFrame({"y": d.her2.astype(int), "x": (d.site == "rare").astype(float), "age": d.age})
    r_bridge.assign("h2s_test_sep", rdf)
    fail = r_bridge.r_eval("isTRUE(rms::lrm(y ~ age + x, data = h2s_test_sep)$fail)")
    assert not bool(np.asarray(fail).ravel()[0])
    with pytest.raises(ConvergenceError, match="level 'rare' of 'site'"):
        fit_lrm(d, "her2", ["age", "site"], engine="r")


def test_logistic_table_separation_collinearity_and_stepwise(clinical):
    d = clinical.copy()
    d["site"] = np.where(np.arange(len(d)) < 9, "rare", "common")
    d.loc[d.site == "rare", "her2"] = 1
    for stepwise in (None, "backward", "forward", "both"):
        _assert_same_error(lambda e: logistic_table(d, "her2", ["age", "site", "size"], stepwise=stepwise,
                                                    univariable=False, engine=e),
                           "quasi-complete separation", "level 'rare' of 'site'")
    # univariable models are checked on their own rows too
    _assert_same_error(lambda e: logistic_table(d, "her2", ["age", "site"], multivariable=False, engine=e),
                       "level 'rare' of 'site'")
    _assert_same_error(lambda e: logistic_table(d.assign(size2=2 * d["size"] + 1), "her2", ["size", "size2"],
                                                univariable=False, engine=e),
                       "singular", "'size2'")


def test_fit_ordinal_separation_and_collinearity(lung):
    d = lung.dropna(subset=["ph.ecog"]).copy()
    d["cls"] = pd.Categorical(np.clip(d["ph.ecog"], 0, 2).astype(int).astype(str), categories=["0", "1", "2"],
                              ordered=True)
    _assert_same_error(lambda e: fit_ordinal(d.assign(leak=d["ph.ecog"].clip(0, 2)), "cls", ["age", "leak"], engine=e),
                       "complete separation", "'leak'")
    top = ((d["cls"] == "2") & (np.arange(len(d)) % 3 == 0)).astype(float)
    _assert_same_error(lambda e: fit_ordinal(d.assign(flag=top), "cls", ["age", "flag"], engine=e),
                       "quasi-complete separation", "'flag'")
    _assert_same_error(lambda e: fit_ordinal(d.assign(age2=d.age * 2), "cls", ["age", "age2"], engine=e),
                       "singular", "'age2' is a linear combination of 'age'")


# =========================================================================== Cox, both engines
def test_cox_monotone_likelihood_same_error_on_both_engines(lung):
    d = lung.copy()
    rng = np.random.default_rng(5)
    flag = np.zeros(len(d))
    cens = np.flatnonzero(d.dead == 0)
    flag[rng.choice(cens, 15, replace=False)] = 1      # 0/1 covariate whose 1s are all censored
    d["flag"] = flag
    words = ("monotone likelihood", "'flag'", "0 events among the 15 rows where it is 1")
    _assert_same_error(lambda e: fit_cph(d, "time", "dead", ["flag"], engine=e), *words)   # HR 2.7e11 on R before
    _assert_same_error(lambda e: cox(d, "time", "dead", ["age", "sex", "flag"], engine=e), *words)
    _assert_same_error(lambda e: cox(d, "time", "dead", ["age", "sex", "flag"], stepwise="both", engine=e), *words)
    # a categorical level without events
    d["grp"] = np.where(flag == 1, "none", np.where(d.sex == 1, "m", "f"))
    _assert_same_error(lambda e: cox(d, "time", "dead", ["age", "grp"], engine=e),
                       "level 'none' of 'grp'", "0 events among its 15 rows")
    # exactly collinear covariates, also under stepwise selection
    _assert_same_error(lambda e: cox(d.assign(age_m=12 * d.age), "time", "dead", ["age", "sex", "age_m"],
                                     stepwise="backward", engine=e),
                       "singular", "'age_m' is a linear combination of 'age'")


# =========================================================================== splines that rms fits
@pytest.mark.parametrize("nk", [4, 5])
def test_rcs_models_rms_fits_are_fitted_on_both_engines(pima, nk):
    py = fit_lrm(pima, "diabetes", PIMA_COVS, rcs={"age": nk}, engine="python")
    assert np.all(np.isfinite(py.coefficients))
    if "r" in ENGINES:
        r = fit_lrm(pima, "diabetes", PIMA_COVS, rcs={"age": nk}, engine="r")
        np.testing.assert_allclose(py.coefficients, r.coefficients, atol=1e-6, rtol=1e-6)


def test_spline_bootstrap_refits_all_count(pima):
    m = fit_lrm(pima, "diabetes", PIMA_COVS, rcs={"age": 4}, engine="python")
    with warnings.catch_warnings():
        warnings.simplefilter("error")     # nothing left out, so nothing to announce
        v = cal.validate(m, n_boot=60, seed=3, engine="python")
        c = cal.calibrate(m, n_boot=60, seed=3, engine="python")
    assert v.n_failed == 0 and v.table.loc["Dxy", "n"] == 60
    assert c.n_failed == 0 and np.nanmax(c.n_boot_used) == 60


@pytest.mark.r
@pytest.mark.slow
@pytest.mark.parametrize("nk", [4, 5])
def test_spline_validate_and_calibrate_agree_with_rms(pima, nk):
    py_model = fit_lrm(pima, "diabetes", PIMA_COVS, rcs={"age": nk}, engine="python")
    r_model = fit_lrm(pima, "diabetes", PIMA_COVS, rcs={"age": nk}, engine="r")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = cal.validate(py_model, n_boot=300, seed=2024, engine="python")
        b = cal.validate(r_model, n_boot=300, seed=2024, engine="r")
        ca = cal.calibrate(py_model, n_boot=300, seed=2024, engine="python")
        cb = cal.calibrate(r_model, n_boot=300, seed=2024, engine="r")
    assert a.n_failed == 0 and b.n_failed == 0 and ca.n_failed == 0 and cb.n_failed == 0
    rows = ["Dxy", "R2", "Intercept", "Slope", "D", "U", "Q", "B", "g", "gp"]
    assert np.allclose(a.table.loc[rows, "index_orig"], b.table.loc[rows, "index_orig"], atol=1e-6)
    diff = a.table.loc[rows, "optimism"] - b.table.loc[rows, "optimism"]
    z = diff / (np.sqrt(2) * a.table.loc[rows, "optimism_mcse"])
    assert np.nanmax(np.abs(z.to_numpy())) < 4.5, z
    ok = ~np.isnan(ca.optimism + cb.optimism)
    zc = (ca.optimism[ok] - cb.optimism[ok]) / (np.sqrt(2) * ca.optimism_mcse[ok])
    assert np.max(np.abs(zc)) < 4.5


@pytest.mark.r
def test_r_engine_resamples_are_the_ones_rms_draws():
    """The check of rms's resamples (calibration._announce_r_resamples) redraws them: the indices
    must be the ones predab.resample prints with debug = TRUE."""
    from her2stats import r_bridge

    r_bridge.ensure_started()
    printed = r_bridge.r_eval(
        "local({d <- MASS::birthwt[1:40, ]; d$low <- rep(0:1, 20);"
        " f <- rms::lrm(low ~ age + lwt, data = d, x = TRUE, y = TRUE); set.seed(5);"
        " out <- capture.output(v <- rms::validate(f, B = 3, debug = TRUE));"
        " i <- grep('training sample', out);"
        " as.integer(scan(text = gsub('\\\\[[0-9]+\\\\]', '', paste(out[(i[2] + 1):(i[2] + 2)], collapse = ' ')),"
        " quiet = TRUE))})")
    redrawn = np.asarray(r_bridge.call("h2s_boot_indices", 40, 3, 5))
    np.testing.assert_array_equal(np.asarray(printed, int), redrawn[1])


# =========================================================================== failed refits are announced
def _rare_level_model():
    rng = np.random.default_rng(2)
    n = 60
    x = rng.normal(size=n)
    rare = np.zeros(n)
    rare[:4] = 1
    y = (rng.random(n) < 1 / (1 + np.exp(-x))).astype(int)
    y[:3] = 1
    y[3:6] = 0
    return fit_lrm(pd.DataFrame({"y": y, "x": x, "rare": rare}), "y", ["x", "rare"], engine="python")


def test_failed_bootstrap_refits_are_counted_and_announced():
    m = _rare_level_model()
    with pytest.warns(UserWarning, match=r"validate: (\d+) of 100 bootstrap refits failed .*n_failed=\1\).*separated"):
        v = cal.validate(m, n_boot=100, seed=1, engine="python")
    assert 20 <= v.n_failed <= 55 and v.table.loc["Dxy", "n"] == 100 - v.n_failed
    with pytest.warns(UserWarning, match=r"calibrate: \d+ of 100 bootstrap refits failed"):
        c = cal.calibrate(m, n_boot=100, seed=1, engine="python")
    assert c.n_failed == v.n_failed     # same resamples (same seed), same verdicts


@pytest.mark.r
def test_r_engine_announces_failed_and_separated_resamples():
    m = _rare_level_model()
    with pytest.warns(UserWarning) as rec:
        v = cal.validate(m, n_boot=60, seed=1, engine="r")
    text = " | ".join(str(w.message) for w in rec)
    # rms flags some refits itself; the quasi-separated ones it keeps are announced too
    assert "resamples rms drew" in text and "separated" in text, text
    assert v.n_failed == 60 - v.table.loc["Dxy", "n"]


def test_refit_status_reasons():
    rng = np.random.default_rng(7)
    n = 40
    X = np.column_stack([np.ones(n), rng.normal(size=n), np.r_[np.ones(3), np.zeros(n - 3)]])
    y = (rng.random(n) < 0.5).astype(float)
    W = np.ones(n)
    W[:3] = 0          # the rare column is all 0 in this resample
    assert fc.refit_status(X, y, W) == fc.SINGULAR
    y2 = (X[:, 1] > 0).astype(float)
    assert fc.refit_status(X, y2, np.ones(n)) == fc.SEPARATED


# =========================================================================== Firth
#: brglm2 0.9, glm(HG ~ NV + PI + EH, family = binomial, data = endometrial, method = "brglmFit",
#: type = "AS_mean"): estimates and standard errors (the data of Heinze & Schemper 2002)
BRGLM2_ENDOMETRIAL = {"Intercept": (3.77455939814, 1.48869160210), "NV": (2.92927325858, 1.55076369100),
                      "PI": (-0.03475174945, 0.03957814578), "EH": (-2.60416382414, 0.77601762127)}


def test_firth_endometrial_matches_brglm2(endometrial):
    with pytest.raises(ConvergenceError, match="quasi-complete separation -- 'NV'"):
        fit_lrm(endometrial, "HG", ["NV", "PI", "EH"], engine="python")
    m = fit_lrm(endometrial, "HG", ["NV", "PI", "EH"], firth=True, engine="python")
    est = np.array([v[0] for v in BRGLM2_ENDOMETRIAL.values()])
    se = np.array([v[1] for v in BRGLM2_ENDOMETRIAL.values()])
    np.testing.assert_allclose(m.coefficients.to_numpy(), est, atol=1e-6)
    np.testing.assert_allclose(m.standard_errors.to_numpy(), se, atol=1e-6)
    assert m.firth and "Firth" in m.method
    t = logistic_table(endometrial, "HG", ["NV", "PI", "EH"], firth=True, engine="python")
    np.testing.assert_allclose(t.multivariable["estimate"].to_numpy(), est, atol=1e-6)
    assert any("Firth" in f for f in t.footnotes)


@pytest.mark.r
def test_firth_engines_agree(endometrial, clinical):
    py = fit_lrm(endometrial, "HG", ["NV", "PI", "EH"], firth=True, engine="python")
    r = fit_lrm(endometrial, "HG", ["NV", "PI", "EH"], firth=True, engine="r")
    np.testing.assert_allclose(py.coefficients, r.coefficients, atol=1e-6)
    np.testing.assert_allclose(py.vcov.to_numpy(), r.vcov.to_numpy(), atol=1e-6)
    d = clinical.assign(site=np.where(np.arange(len(clinical)) < 9, "rare", "common"))
    d.loc[d.site == "rare", "her2"] = 1
    a = logistic_table(d, "her2", ["age", "site", "grade"], firth=True, engine="python")
    b = logistic_table(d, "her2", ["age", "site", "grade"], firth=True, engine="r")
    for part in ("univariable", "multivariable"):
        np.testing.assert_allclose(getattr(a, part)[["estimate", "se", "p"]].to_numpy(),
                                   getattr(b, part)[["estimate", "se", "p"]].to_numpy(), atol=1e-6)


def test_firth_is_the_penalised_likelihood_maximum_under_complete_separation():
    from scipy.optimize import minimize

    from her2stats.stats._firth import firth_penalised_loglik

    rng = np.random.default_rng(8)
    x = rng.normal(size=40)
    d = pd.DataFrame({"x": x, "z": rng.normal(size=40), "y": (x > 0.2).astype(int)})
    m = fit_lrm(d, "y", ["x", "z"], firth=True, engine="python")
    X = np.column_stack([np.ones(40), d.x, d.z])
    y = d.y.to_numpy(float)
    ref = minimize(lambda b: -firth_penalised_loglik(X, y, b), np.zeros(3), method="BFGS", options={"gtol": 1e-10})
    np.testing.assert_allclose(m.coefficients.to_numpy(), ref.x, atol=1e-5)
    assert np.all(np.abs(m.coefficients) < 20)   # finite, unlike the maximum-likelihood estimate


def test_firth_model_bootstraps_refit_by_firth_and_r_engine_refuses(endometrial):
    m = fit_lrm(endometrial, "HG", ["NV", "PI", "EH"], firth=True, engine="python")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        v = cal.validate(m, n_boot=40, seed=1, engine="python")   # resamples stay separated: Firth refits do not fail
    assert v.n_failed == 0
    with pytest.raises(InputError, match="no Firth-penalised refit"):
        cal.validate(m, n_boot=10, seed=1, engine="r")
    with pytest.raises(InputError, match="stepwise"):
        logistic_table(endometrial, "HG", ["NV", "PI"], firth=True, stepwise="both")


# =========================================================================== Firth, Cox
def _lung_flag(lung):
    rng = np.random.default_rng(5)
    flag = np.zeros(len(lung))
    flag[rng.choice(np.flatnonzero(lung.dead == 0), 15, replace=False)] = 1
    return lung.assign(flag=flag)


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_firth_cox_is_the_penalised_partial_likelihood_maximum(lung, ties):
    """Reference: l(b) + 1/2 log det I(b) maximised by scipy (BFGS on the penalised likelihood
    itself, no use of the analytic penalty gradient that the Newton fit relies on)."""
    from scipy.optimize import minimize

    from her2stats.stats.cox import _CoxData

    d = _lung_flag(lung)
    with pytest.raises(ConvergenceError, match="monotone likelihood -- 'flag'.*firth=True"):
        fit_cph(d, "time", "dead", ["age", "sex", "flag"], ties=ties, engine="python")
    m = fit_cph(d, "time", "dead", ["age", "sex", "flag"], ties=ties, firth=True, engine="python")
    cd = _CoxData(d.time.to_numpy(float), d.dead.to_numpy(int), d[["age", "sex", "flag"]].to_numpy(float), ties)

    def neg_penalised(b):
        c = cd.terms(b)
        return -(c["loglik"] + 0.5 * np.linalg.slogdet(c["info"])[1])

    ref = minimize(neg_penalised, np.zeros(3), method="BFGS", options={"gtol": 1e-10})
    # BFGS with differenced gradients stops ~2e-5 short along the flat 'flag' direction ("precision
    # loss"), where exactly depending on the last bits of the objective; a derivative-free polish
    # makes the reference itself accurate to ~1e-7
    ref = minimize(neg_penalised, ref.x, method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-15, "maxiter": 20000})
    np.testing.assert_allclose(m.params.to_numpy(), ref.x, atol=2e-5)
    assert m.loglik == pytest.approx(-ref.fun, abs=1e-8)
    assert m.firth and np.isfinite(m.params["flag"]) and m.params["flag"] < -2   # finite, strongly protective


@pytest.mark.r
@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_firth_cox_engines_agree(lung, ties):
    """R engine: survival's partial likelihood, information and score residuals with a differenced
    penalty gradient; Python: the analytic modified score. 1e-6 on coefficients and variance."""
    d = _lung_flag(lung)
    py = cox(d, "time", "dead", ["age", "sex", "flag"], ties=ties, firth=True, engine="python")
    r = cox(d, "time", "dead", ["age", "sex", "flag"], ties=ties, firth=True, engine="r")
    cols = ["coef", "se", "p_value"]
    np.testing.assert_allclose(py.summary[cols].to_numpy(), r.summary[cols].to_numpy(), atol=1e-6)
    np.testing.assert_allclose(py.model.vcov.to_numpy(), r.model.vcov.to_numpy(), atol=1e-6)
    assert py.lr_statistic == pytest.approx(r.lr_statistic, abs=1e-6)
    assert py.concordance.concordance == pytest.approx(r.concordance.concordance, abs=1e-9)
    assert np.isnan(py.aic) and np.isnan(r.aic)


def test_firth_cox_refusals(lung):
    d = _lung_flag(lung)
    with pytest.raises(InputError, match="stepwise"):
        cox(d, "time", "dead", ["age", "flag"], firth=True, stepwise="both", engine="python")
    res = cox(d, "time", "dead", ["age", "flag"], firth=True, engine="python")
    with pytest.raises(InputError, match="Firth"):
        res.ph_test()
    # Firth does not rescue an exactly collinear design
    with pytest.raises(ConvergenceError, match="singular"):
        fit_cph(d.assign(age2=2 * d.age), "time", "dead", ["age", "age2"], firth=True, engine="python")


# =========================================================================== Deep Score (unpenalised logistic)
def test_deep_score_refuses_quasi_separation_before_fitting():
    """A feature non-zero in three HER2+ patients only: refused before fitting by the exact check,
    with the feature named (the fitted-probability test after the fit stays as a second guard)."""
    from her2stats.models.deepscore import DeepScore

    rng = np.random.default_rng(21)
    n = 120
    X = pd.DataFrame(rng.normal(size=(n, 3)), columns=["f1", "f2", "f3"])
    y = pd.Series((rng.random(n) < 1 / (1 + np.exp(-X.f1))).astype(int))
    X["sparse_feat"] = 0.0
    events = np.flatnonzero(y == 1)[:3]
    X.loc[events, "sparse_feat"] = [0.4, 0.7, 1.1]
    with pytest.raises(ConvergenceError, match="quasi-complete separation -- 'sparse_feat'.*penalty='l2'"):
        DeepScore().fit(X, y)
    assert np.isfinite(DeepScore(penalty="l2", C=1.0).fit(X, y).coef_).all()
    with pytest.raises(ConvergenceError, match="'f3_copy' is a linear combination of 'f3'"):
        DeepScore().fit(X.drop(columns="sparse_feat").assign(f3_copy=lambda d: 2 * d.f3), y)


# =========================================================================== recalibration of separating predictions
def test_recalibration_of_separating_predictions_is_not_reported_as_a_slope():
    """Before: python slope 166, rms 28 (last iterates of a diverging fit) for the same data."""
    rng = np.random.default_rng(1)
    y = np.r_[np.zeros(30), np.ones(30)]
    p = np.r_[rng.uniform(0.05, 0.45, 30), rng.uniform(0.55, 0.95, 30)]
    for engine in ENGINES:
        with pytest.warns(UserWarning, match="separate the outcomes.*NaN"):
            v = cal.val_prob(y, p, engine=engine)
        assert np.isnan([v.slope, v.intercept, v.U, v.Q]).all() and v.C == 1.0 and np.isfinite(v.D)
        with pytest.warns(UserWarning, match="separate the outcomes"):
            h = cal.calibration_hierarchy(y=y, prob=p, n_boot=20, seed=1, engine=engine)
        assert np.isnan(h.table.loc["calibration slope", "estimate"])
        assert np.isfinite(h.table.loc["calibration intercept", "estimate"])   # slope fixed at 1: finite
    # overlapping predictions keep their finite recalibration
    p2 = p.copy()
    p2[0], p2[-1] = 0.9, 0.1
    assert np.isfinite(cal.val_prob(y, p2, engine="python").slope)
