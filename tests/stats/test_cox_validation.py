"""validate_cph and calibrate_cph (issue 19 item 3) against rms 6.5 on survival::lung.

References: ``rms::validate.cph`` and ``rms::calibrate.cph(cmethod = "KM")`` run through the bridge
on the same model (``cph(Surv(time, status) ~ age + sex + ph.ecog, x = TRUE, y = TRUE, surv = TRUE)``).
The resamples rms draws after ``set.seed(seed)`` (``sample(n, replace = TRUE)`` per repetition,
``h2s_boot_indices``) are passed to the Python computation, so the two engines must agree to
1e-8 (they agree to rounding, ~1e-15). With the Python engine's own (numpy) resamples, the corrected
indices agree with rms within Monte-Carlo error: |difference| < 4.5 sqrt(2) MCSE of the optimism.
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from her2stats.errors import InputError
from her2stats.stats import cox_validation as cv
from her2stats.stats.cox import fit_cph

COVS = ["age", "sex", "ph.ecog"]


@pytest.fixture(scope="module")
def lung(test_data_dir):
    return pd.read_csv(test_data_dir / "lung.csv").assign(dead=lambda d: d["status"] - 1)


@pytest.fixture(scope="module")
def model(lung):
    with pytest.warns(UserWarning, match="dropped 1"):
        return fit_cph(lung, "time", "dead", COVS, engine="python")


def _r_indices(n, n_boot, seed):
    from her2stats import r_bridge

    idx = np.asarray(r_bridge.call("h2s_boot_indices", int(n), int(n_boot), int(seed)), dtype=int)
    return idx.reshape(n_boot, n) - 1


@pytest.mark.r
@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_validate_cph_identical_to_rms_with_the_same_resamples(lung, ties):
    with pytest.warns(UserWarning):
        m = fit_cph(lung, "time", "dead", COVS, ties=ties, engine="python")
    n_boot, seed = 60, 11
    r = cv.validate_cph(m, n_boot=n_boot, seed=seed, engine="r")
    assert r.engine == "r" and r.n_failed == 0
    t, e, X, _ = cv._model_arrays(m)
    orig = cv._train_indices(t, e, X @ m.params.to_numpy(), m.loglik_null, m.loglik)
    reps = cv.validate_replicates(m, _r_indices(m.n, n_boot, seed))
    py = cv._validate_table(reps, orig, n_boot, seed, 0.95, m.n)
    cols = ["index_orig", "training", "test", "optimism", "index_corrected", "n"]
    np.testing.assert_allclose(py.table[cols].to_numpy(), r.table[cols].to_numpy(), atol=1e-8, rtol=0)
    # rms's sign: Dxy > 0 for a model whose higher linear predictor means earlier deaths
    assert r.table.loc["Dxy", "index_orig"] > 0
    assert py.table.loc["C", "index_orig"] == pytest.approx((1 + py.table.loc["Dxy", "index_orig"]) / 2)


@pytest.mark.r
@pytest.mark.slow
def test_validate_cph_engines_agree_within_monte_carlo_error(model):
    a = cv.validate_cph(model, n_boot=200, seed=3, engine="python")
    b = cv.validate_cph(model, n_boot=200, seed=3, engine="r")
    np.testing.assert_allclose(a.table["index_orig"], b.table["index_orig"], atol=1e-6)
    rows = ["Dxy", "R2", "Slope", "D", "U", "Q", "g"]
    z = (a.table.loc[rows, "optimism"] - b.table.loc[rows, "optimism"]) / (np.sqrt(2) * a.table.loc[rows, "optimism_mcse"])
    assert np.nanmax(np.abs(z.to_numpy())) < 4.5


def test_validate_cph_structure_reproducibility_and_cis(model):
    v = cv.validate_cph(model, n_boot=60, seed=4, engine="python")
    w = cv.validate_cph(model, n_boot=60, seed=4, engine="python", scheduler="threads")
    pd.testing.assert_frame_equal(v.table, w.table)
    assert list(v.table.index) == ["Dxy", "C", "R2", "Slope", "D", "U", "Q", "g"]
    assert v.table.loc["Slope", "index_orig"] == 1.0
    # optimism lowers the corrected discrimination and shrinks the slope
    assert v.corrected("C") < v.table.loc["C", "index_orig"] and v.corrected("Slope") < 1
    for k in ("C", "R2", "Slope"):
        lo, hi = v.ci.loc[k]
        assert lo < v.corrected(k) < hi, k
    assert v.n_failed == 0 and v.table.loc["Dxy", "n"] == 60
    other = cv.validate_cph(model, n_boot=60, seed=5, engine="python")
    assert not np.allclose(v.table["optimism"], other.table["optimism"])


def test_validate_cph_counts_failed_refits():
    # a rare binary covariate (3 rows, one death): resamples without that death give an infinite
    # coefficient (monotone likelihood): the Python engine leaves such refits out (rms keeps them)
    rng = np.random.default_rng(8)
    n = 80
    x = rng.normal(size=n)
    rare = np.zeros(n)
    rare[:3] = 1
    t = rng.exponential(np.exp(-0.5 * x))
    e = (rng.random(n) < 0.8).astype(int)
    e[0], e[1:3] = 1, 0
    d = pd.DataFrame({"t": t, "e": e, "x": x, "rare": rare})
    m = fit_cph(d, "t", "e", ["x", "rare"], engine="python")
    with pytest.warns(UserWarning, match="monotone likelihood in the resample"):
        v = cv.validate_cph(m, n_boot=60, seed=1, engine="python")
    # P(the one death of the rare level is not drawn) = (79/80)^80 = 0.36
    assert 8 <= v.n_failed <= 40 and v.table.loc["Dxy", "n"] == 60 - v.n_failed


@pytest.mark.r
def test_calibrate_cph_identical_to_rms_with_the_same_resamples(model):
    n_boot, seed, u, m = 40, 5, 300.0, 60
    r = cv.calibrate_cph(model, u=u, m=m, n_boot=n_boot, seed=seed, engine="r")
    p = cv.calibrate_cph(model, u=u, m=m, n_boot=n_boot, seed=seed, engine="python")
    # deterministic part: predicted survival at u, groups, Kaplan-Meier per group
    np.testing.assert_allclose(p.predictions, r.predictions, atol=1e-8)
    for c in ("mean_predicted", "KM", "std_err", "index_orig"):
        np.testing.assert_allclose(p.table[c], r.table[c], atol=1e-8, err_msg=c)
    t, e, X, _ = cv._model_arrays(model)
    g = max(1, model.n // m)
    cuts = np.unique(cv.r_quantile(np.concatenate([[0.0, 1.0], p.predictions]), np.linspace(0, 1, g + 1)))
    reps = cv.calibrate_replicates(model, _r_indices(model.n, n_boot, seed), u, cuts)
    orig = cv._group_km(p.predictions, t, e, u, cuts)
    same = cv._calibrate_table(reps, orig, orig[:, 3] - orig[:, 0], p.predictions, u, m, n_boot, seed, model.n)
    for c in ("training", "test", "optimism", "KM_corrected", "n"):
        np.testing.assert_allclose(same.table[c], r.table[c], atol=1e-8, err_msg=c)


def test_calibrate_cph_structure_and_plot(model):
    c = cv.calibrate_cph(model, u=365, m=50, n_boot=40, seed=2, engine="python")
    assert len(c.table) == model.n // 50 and c.n_failed == 0
    assert np.allclose(c.table["KM_corrected"], c.table["KM"] - c.table["optimism"])
    assert (np.diff(c.table["mean_predicted"]) > 0).all()
    assert c.plot() is not None and "u=365" in repr(c)
    with pytest.raises(InputError, match="within the follow-up"):
        cv.calibrate_cph(model, u=5000, n_boot=10, engine="python")
    with pytest.raises(InputError, match="CoxModel"):
        cv.validate_cph("not a model", n_boot=10)
    with pytest.raises(InputError, match="positive integer"):
        cv.validate_cph(model, n_boot=0)


@pytest.mark.r
def test_stratified_validate_and_calibrate_identical_to_rms_with_the_same_resamples(lung):
    # rms validate.cph(u=): Dxy ranks the predicted survival at u (each row with its stratum's baseline)
    with pytest.warns(UserWarning):
        m = fit_cph(lung, "time", "dead", ["age", "ph.ecog"], strata=["sex"], engine="python")
    n_boot, seed, u = 30, 5, 300.0
    r = cv.validate_cph(m, n_boot=n_boot, seed=seed, engine="r", u=u)
    t, e, X, codes = cv._model_arrays(m)
    score = -cv._surv_at(t, e, X, m.params.to_numpy(), m.ties, codes, u)
    orig = cv._train_indices(t, e, X @ m.params.to_numpy(), m.loglik_null, m.loglik, score)
    idx = _r_indices(m.n, n_boot, seed)
    py = cv._validate_table(cv.validate_replicates(m, idx, u), orig, n_boot, seed, 0.95, m.n)
    cols = ["index_orig", "training", "test", "optimism", "index_corrected", "n"]
    np.testing.assert_allclose(py.table[cols].to_numpy(), r.table[cols].to_numpy(), atol=1e-8, rtol=0)
    # the seeded Python engine runs and agrees within Monte-Carlo error on the apparent indices
    own = cv.validate_cph(m, n_boot=40, seed=1, engine="python", u=u)
    np.testing.assert_allclose(own.table["index_orig"], r.table["index_orig"], atol=1e-9)
    rc = cv.calibrate_cph(m, u=u, m=60, n_boot=n_boot, seed=seed, engine="r")
    pc = cv.calibrate_cph(m, u=u, m=60, n_boot=n_boot, seed=seed, engine="python")
    np.testing.assert_allclose(pc.predictions, rc.predictions, atol=1e-8)
    g = max(1, m.n // 60)
    cuts = np.unique(cv.r_quantile(np.concatenate([[0.0, 1.0], pc.predictions]), np.linspace(0, 1, g + 1)))
    orig_c = cv._group_km(pc.predictions, t, e, u, cuts)
    same = cv._calibrate_table(cv.calibrate_replicates(m, idx, u, cuts), orig_c, orig_c[:, 3] - orig_c[:, 0],
                               pc.predictions, u, 60, n_boot, seed, m.n)
    for c in ("index_orig", "training", "test", "optimism", "KM_corrected", "n"):
        np.testing.assert_allclose(same.table[c], rc.table[c], atol=1e-8, err_msg=c)


@pytest.mark.r
def test_validate_cph_of_a_formula_fit_with_splines(lung):
    # rms validate.cph of cph(Surv(time, status) ~ rcs(age, 4) + sex + ph.ecog): the same resamples give
    # the same table; calibrate_cph of a formula fit runs on the Python engine (rms needs time.inc = u)
    f = "Surv(time, dead) ~ rcs(age, 4) + sex + ph.ecog"
    with pytest.warns(UserWarning):
        mp = fit_cph(lung, formula=f, engine="python")
        mr = fit_cph(lung, formula=f, engine="r")
    n_boot, seed = 30, 3
    r = cv.validate_cph(mr, n_boot=n_boot, seed=seed, engine="r")
    t, e, X, _ = cv._model_arrays(mp)
    orig = cv._train_indices(t, e, X @ mp.params.to_numpy(), mp.loglik_null, mp.loglik)
    py = cv._validate_table(cv.validate_replicates(mp, _r_indices(mp.n, n_boot, seed)), orig, n_boot, seed, 0.95, mp.n)
    cols = ["index_orig", "training", "test", "optimism", "index_corrected", "n"]
    np.testing.assert_allclose(py.table[cols].to_numpy(), r.table[cols].to_numpy(), atol=1e-8, rtol=0)
    assert len(cv.calibrate_cph(mp, u=300, m=60, n_boot=10, engine="python").table) == 3
    with pytest.raises(InputError, match="formula"):
        cv.calibrate_cph(mr, u=300, n_boot=10, engine="r")
