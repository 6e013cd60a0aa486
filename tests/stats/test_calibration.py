"""val_prob, Hosmer-Lemeshow, le Cessie-van Houwelingen, calibrate, validate, calibration hierarchy.

References: rms 6.5 (val.prob, calibrate, validate, residuals.lrm type="gof"), ResourceSelection's
hoslem.test algorithm (r/hoslem.R), MASS::birthwt (Venables & Ripley 2002 model).
Bootstrap comparisons between engines use different random streams (numpy SeedSequence vs
R's set.seed), so they are judged against the Monte-Carlo standard error of the optimism.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from her2stats.errors import InputError
from her2stats.stats import calibration as cal
from her2stats.stats.models import fit_lrm

COVS = ["age", "lwt", "race", "smoke", "ptd", "ht", "ui", "ftv"]


@pytest.fixture(scope="module")
def model(bwt):
    return fit_lrm(bwt, "low", COVS, engine="python")


@pytest.fixture(scope="module")
def external(bwt):
    """Predictions of a model fitted on 120 births, applied to the other 69 (miscalibrated on purpose)."""
    rs = np.random.default_rng(3).permutation(len(bwt))
    m = fit_lrm(bwt.iloc[rs[:120]], "low", ["age", "lwt", "race", "smoke", "ptd", "ht"], engine="python")
    ext = bwt.iloc[rs[120:]]
    return ext["low"].to_numpy(), m.predict(ext)


# --------------------------------------------------------------------------- val.prob
@pytest.mark.r
@pytest.mark.parametrize("which", ["apparent", "external"])
def test_val_prob_matches_rms(model, external, which):
    y, p = (model.y, model.predict()) if which == "apparent" else external
    py = cal.val_prob(y, p, engine="python")
    r = cal.val_prob(y, p, engine="r")
    for k in ["Dxy", "C", "R2", "D", "D_chisq", "U", "U_chisq", "U_p", "Q", "Brier", "intercept", "slope",
              "Emax", "E90", "Eavg", "S_z", "S_p"]:
        assert getattr(py, k) == pytest.approx(getattr(r, k), abs=1e-6), k
    # rms's own binned C/Dxy (5000 bins) reproduced exactly
    assert py.C_rms == pytest.approx(r.C_rms, abs=1e-9)
    assert py.Dxy_rms == pytest.approx(r.Dxy_rms, abs=1e-9)


def test_val_prob_apparent_calibration_is_ideal(model):
    v = cal.val_prob(model.y, model.predict(), engine="python")
    # maximum likelihood fits are calibrated in the large and have slope 1 on their own data
    assert v.intercept == pytest.approx(0, abs=1e-7) and v.slope == pytest.approx(1, abs=1e-7)
    assert v.Brier == pytest.approx(model.stats["Brier"], abs=1e-12)
    assert v.R2 == pytest.approx(model.stats["R2"], abs=1e-9)


@pytest.mark.parametrize("prob,match", [
    ([0.2, 1.3, 0.5, 0.4], "outside"), ([0.2, -0.1, 0.5, 0.4], "outside"), ([0.2, 0.3, 0.5], "pair up"),
])
def test_val_prob_rejects_bad_probabilities(prob, match):
    with pytest.raises(InputError, match=match):
        cal.val_prob([0, 1, 0, 1], prob, engine="python")


def test_val_prob_rejects_non_binary_outcome():
    with pytest.raises(InputError, match="exactly two values"):
        cal.val_prob([0, 1, 2, 1], [0.1, 0.2, 0.3, 0.4], engine="python")


# --------------------------------------------------------------------------- Hosmer-Lemeshow
def test_hosmer_lemeshow_by_hand(model):
    p, y = model.predict(), model.y
    hl = cal.hosmer_lemeshow(y, p, g=10, engine="python")
    # deciles of risk built independently: quantile breaks, (lo, hi] intervals, first closed
    q = np.unique(np.quantile(p, np.arange(11) / 10))
    g = np.digitize(p, q[1:-1], right=True)
    stat = 0.0
    for k in range(len(q) - 1):
        o1, e1, nk = y[g == k].sum(), p[g == k].sum(), (g == k).sum()
        stat += (o1 - e1) ** 2 / e1 + ((nk - o1) - (nk - e1)) ** 2 / (nk - e1)
    assert hl.statistic == pytest.approx(stat, abs=1e-10)
    assert hl.df == 8 and hl.groups == 10 and hl.legacy
    assert hl.table["n"].sum() == 189
    assert "legacy" in hl.method.lower()


@pytest.mark.r
def test_hosmer_lemeshow_r_matches_python(model, external):
    for y, p in ((model.y, model.predict()), external):
        a = cal.hosmer_lemeshow(y, p, g=10, engine="python")
        b = cal.hosmer_lemeshow(y, p, g=10, engine="r")
        assert a.statistic == pytest.approx(b.statistic, abs=1e-9)
        assert a.p_value == pytest.approx(b.p_value, abs=1e-9)
        assert np.allclose(a.table[["n", "observed_1", "expected_1"]], b.table[["n", "observed_1", "expected_1"]],
                           atol=1e-9)


def test_hosmer_lemeshow_tied_risks_adapt_df():
    rng = np.random.default_rng(5)
    p = rng.choice([0.1, 0.2, 0.3, 0.5, 0.7], size=300)
    y = (rng.random(300) < p).astype(int)
    with pytest.warns(UserWarning, match="distinct groups instead of g=10"):
        hl = cal.hosmer_lemeshow(y, p, g=10, engine="python")
    assert hl.groups < 10 and hl.df == hl.groups - 2
    with pytest.raises(InputError, match="at least 3 groups"):
        cal.hosmer_lemeshow(y, np.where(p > 0.25, 0.6, 0.2), g=10, engine="python")
    with pytest.raises(InputError, match="g"):
        cal.hosmer_lemeshow(y, p, g=2, engine="python")


# --------------------------------------------------------------------------- le Cessie-van Houwelingen
@pytest.mark.r
def test_lecessie_matches_rms_residuals_gof(bwt):
    py = fit_lrm(bwt, "low", COVS, rcs={"lwt": 4}, engine="python")
    r = fit_lrm(bwt, "low", COVS, rcs={"lwt": 4}, engine="r")
    a = cal.lecessie_test(model=py, engine="python")
    b = cal.lecessie_test(model=r, engine="r")
    for k in ("sum_sq", "expected", "sd", "z", "p_value"):
        assert getattr(a, k) == pytest.approx(getattr(b, k), abs=1e-6), k


# --------------------------------------------------------------------------- calibrate
@pytest.mark.r
@pytest.mark.slow
def test_calibrate_matches_rms_within_monte_carlo_error(bwt):
    py_model = fit_lrm(bwt, "low", COVS, engine="python")
    r_model = fit_lrm(bwt, "low", COVS, engine="r")
    a = cal.calibrate(py_model, B=300, seed=20240611, engine="python")
    b = cal.calibrate(r_model, B=300, seed=20240611, engine="r")   # R: set.seed(20240611)
    # the deterministic part (grid and apparent lowess curve) is identical
    assert np.allclose(a.predicted, b.predicted, atol=1e-12)
    assert np.allclose(a.apparent, b.apparent, atol=1e-9)
    # the optimism differs by Monte-Carlo error only: two independent estimates, each with
    # standard error mcse (estimated from the Python replicates) -> difference SE = sqrt(2) mcse
    ok = ~np.isnan(a.optimism + b.optimism)
    z = (a.optimism[ok] - b.optimism[ok]) / (np.sqrt(2) * a.optimism_mcse[ok])
    assert np.max(np.abs(z)) < 4.5
    assert a.n_failed <= 3 and b.n_failed == 0   # Python drops quasi-separated resamples (see validate test)
    assert abs(a.mean_abs_error - b.mean_abs_error) < 0.01


def test_calibrate_is_reproducible_and_worker_independent(model):
    a = cal.calibrate(model, B=60, seed=11, engine="python")
    b = cal.calibrate(model, B=60, seed=11, engine="python", scheduler="threads")
    assert np.array_equal(a.bias_corrected, b.bias_corrected, equal_nan=True)
    c = cal.calibrate(model, B=60, seed=12, engine="python")
    assert not np.allclose(a.bias_corrected, c.bias_corrected, equal_nan=True)
    frame = a.to_frame()
    assert list(frame.columns[:4]) == ["predicted", "apparent", "bias_corrected", "optimism"]
    import matplotlib
    matplotlib.use("Agg")
    assert a.plot() is not None


@pytest.mark.parametrize("B", [0, -5, 2.5, True])
def test_calibrate_and_validate_reject_bad_B(model, B):
    with pytest.raises(InputError, match="positive integer"):
        cal.calibrate(model, B=B, engine="python")
    with pytest.raises(InputError, match="positive integer"):
        cal.validate(model, B=B, engine="python")


# --------------------------------------------------------------------------- validate
@pytest.mark.r
@pytest.mark.slow
def test_validate_matches_rms(bwt):
    py_model = fit_lrm(bwt, "low", COVS, engine="python")
    r_model = fit_lrm(bwt, "low", COVS, engine="r")
    a = cal.validate(py_model, B=300, seed=7, engine="python")
    b = cal.validate(r_model, B=300, seed=7, engine="r")
    rows = ["Dxy", "R2", "Intercept", "Slope", "D", "U", "Q", "B", "g", "gp"]
    assert np.allclose(a.table.loc[rows, "index_orig"], b.table.loc[rows, "index_orig"], atol=1e-6)
    z = (a.table.loc[rows, "optimism"] - b.table.loc[rows, "optimism"]) / (np.sqrt(2) * a.table.loc[rows, "optimism_mcse"])
    assert np.nanmax(np.abs(z.to_numpy())) < 4.5
    assert abs(a.corrected("Emax") - b.corrected("Emax")) < 0.05
    # with seed 7 one resample puts all 5 mothers with hypertension among the events (quasi-
    # separation): the Python engine drops and counts it; rms's -2LL criterion keeps such fits
    assert a.n_failed == 1 and b.n_failed == 0


def test_validate_confidence_intervals_and_structure(model):
    v = cal.validate(model, B=150, seed=3, engine="python")
    assert v.table.loc["C", "index_corrected"] == pytest.approx((v.table.loc["Dxy", "index_corrected"] + 1) / 2)
    # optimism makes corrected discrimination lower and the slope shrink below 1
    assert v.corrected("C") < v.table.loc["C", "index_orig"]
    assert v.corrected("Slope") < 1
    for k in ("C", "Slope", "B"):
        lo, hi = v.ci.loc[k]
        assert lo < v.corrected(k) < hi, k
    assert v.n_failed <= 3 and v.table.loc["Dxy", "n"] == 150 - v.n_failed  # separated resamples are rare here
    assert "failed/non-converged" in repr(v)


@pytest.mark.r
def test_validate_r_engine_intervals_come_from_the_resamples_rms_drew(bwt):
    """engine="r": the per-replicate values behind the CIs are rms validate's own resamples
    (their means reproduce rms's training and test columns to 1e-6), and the location-shifted
    percentile intervals agree with the Python engine's within Monte-Carlo error."""
    from her2stats import r_bridge

    r_model = fit_lrm(bwt, "low", COVS, engine="r")
    v = cal.validate(r_model, n_boot=200, seed=7, engine="r")
    reps = r_bridge.call("h2s_validate_replicates", cal.r_fit_for(r_model), 200, 7).dropna()
    assert len(reps) == v.table.loc["Dxy", "n"] == 200
    t = v.table
    assert reps["C_training"].mean() == pytest.approx(t.loc["C", "training"], abs=1e-6)
    assert reps["C_test"].mean() == pytest.approx(t.loc["C", "test"], abs=1e-6)
    assert reps["Slope_test"].mean() == pytest.approx(t.loc["Slope", "test"], abs=1e-6)
    assert reps["B_training"].mean() == pytest.approx(t.loc["B", "training"], abs=1e-6)
    assert reps["B_test"].mean() == pytest.approx(t.loc["B", "test"], abs=1e-6)
    # the interval is the percentile interval of those replicates, shifted to the corrected index
    d = reps["Slope_test"].to_numpy()
    lo, hi = np.quantile(d, [0.025, 0.975])
    est = v.corrected("Slope")
    assert v.ci.loc["Slope", "ci_low"] == pytest.approx(est + lo - d.mean(), abs=1e-12)
    assert v.ci.loc["Slope", "ci_high"] == pytest.approx(est + hi - d.mean(), abs=1e-12)
    assert "rms::validate drew" in v.ci_method
    p = cal.validate(fit_lrm(bwt, "low", COVS, engine="python"), n_boot=200, seed=7, engine="python")
    for k in ("C", "Slope", "B"):
        lo_r, hi_r = v.ci.loc[k]
        assert lo_r < v.corrected(k) < hi_r, k
        # bounds of 200-replicate percentile intervals: Monte-Carlo error of a few hundredths
        assert abs(lo_r - p.ci.loc[k, "ci_low"]) < 0.06 and abs(hi_r - p.ci.loc[k, "ci_high"]) < 0.06, k


def test_validate_counts_failed_bootstrap_fits():
    # a rare binary predictor (4 rows, one of them a non-event): every resample that misses that
    # non-event is quasi-separated and its refit cannot converge
    rng = np.random.default_rng(2)
    n = 60
    x = rng.normal(size=n)
    rare = np.zeros(n)
    rare[:4] = 1
    y = (rng.random(n) < 1 / (1 + np.exp(-x))).astype(int)
    y[:3] = 1
    y[3:6] = 0
    m = fit_lrm(pd.DataFrame({"y": y, "x": x, "rare": rare}), "y", ["x", "rare"], engine="python")
    v = cal.validate(m, B=100, seed=1, engine="python")
    # P(row 3 not drawn) = (59/60)^60 = 0.36: about 36 failures expected
    assert 20 <= v.n_failed <= 55
    assert v.table.loc["Dxy", "n"] == 100 - v.n_failed
    c = cal.calibrate(m, B=100, seed=1, engine="python")
    assert 20 <= c.n_failed <= 55


# --------------------------------------------------------------------------- hierarchy
def test_calibration_hierarchy_values_and_cis(external):
    y, p = external
    h = cal.calibration_hierarchy(y=y, prob=p, B=200, seed=4, engine="python")
    v = cal.val_prob(y, p, engine="python")
    t = h.table
    assert t.loc["calibration slope", "estimate"] == pytest.approx(v.slope, abs=1e-9)
    assert t.loc["recalibration intercept (with slope)", "estimate"] == pytest.approx(v.intercept, abs=1e-9)
    assert t.loc["ICI", "estimate"] == pytest.approx(v.Eavg, abs=1e-12)
    assert t.loc["E90", "estimate"] == pytest.approx(v.E90, abs=1e-12)
    assert t.loc["Emax", "estimate"] == pytest.approx(v.Emax, abs=1e-12)
    assert t.loc["Spiegelhalter z", "estimate"] == pytest.approx(v.S_z, abs=1e-12)
    assert t.loc["observed - expected rate", "estimate"] == pytest.approx(y.mean() - p.mean(), abs=1e-12)
    # intercept with slope fixed at 1 = GLM with offset (statsmodels)
    import statsmodels.api as sm

    glm = sm.GLM(y, np.ones((len(y), 1)), family=sm.families.Binomial(), offset=np.log(p / (1 - p))).fit(tol=1e-12)
    assert t.loc["calibration intercept", "estimate"] == pytest.approx(glm.params[0], abs=1e-6)
    rows = ["calibration intercept", "calibration slope", "ICI", "E50", "E90", "Emax"]
    assert (t.loc[rows, "ci_low"] <= t.loc[rows, "estimate"]).all() and (t.loc[rows, "estimate"] <= t.loc[rows, "ci_high"]).all()
    assert t.loc["Hosmer-Lemeshow (legacy)", "level"] == "legacy test"
    import matplotlib
    matplotlib.use("Agg")
    assert h.plot() is not None


# --------------------------------------------------------------------------- R's lowess/approx
@pytest.mark.r
@pytest.mark.parametrize("compiled", [True, False])
def test_lowess_matches_r_with_ties(monkeypatch, compiled):
    from her2stats import r_bridge
    from her2stats.stats import _lowess

    if not compiled:  # the statsmodels fallback used when numba is absent
        monkeypatch.setattr(_lowess, "_clowess_sorted", None)
    rng = np.random.default_rng(8)
    x = np.round(rng.random(400), 2)   # many ties, as bootstrap samples and rounded risks have
    y = (rng.random(400) < x).astype(float)
    xs, fit = _lowess.lowess(x, y)
    r_bridge.assign("h2s_test_x", x)
    r_bridge.assign("h2s_test_y", y)
    r = r_bridge.r_eval("lowess(h2s_test_x, h2s_test_y, iter = 0)")
    assert np.array_equal(xs, np.asarray(r["x"], float))
    assert np.allclose(fit, np.asarray(r["y"], float), atol=1e-12, rtol=0)
    grid = np.linspace(-0.1, 1.1, 37)
    ours = _lowess.approx(xs, fit, grid, ties="mean")
    r_bridge.assign("h2s_test_g", grid)
    theirs = np.asarray(r_bridge.r_eval("approx(lowess(h2s_test_x, h2s_test_y, iter = 0), xout = h2s_test_g, "
                                        "ties = mean)$y"), float)
    assert np.allclose(ours, theirs, atol=1e-12, equal_nan=True)


@pytest.mark.r
def test_calibration_hierarchy_and_lecessie_run_in_r_when_asked():
    """engine='r' computes in R (issue 16): point estimates equal Python's to 1e-8 (glm vs Newton,
    stats::lowess vs the port), bootstrap intervals (R's own resampling) within Monte-Carlo error."""
    rng = np.random.default_rng(3)
    lp = rng.normal(-0.3, 1.2, 300)
    y = (rng.random(300) < 1 / (1 + np.exp(-(0.2 + 0.8 * lp)))).astype(int)
    p = 1 / (1 + np.exp(-lp))
    r = cal.calibration_hierarchy(y, p, n_boot=200, seed=4, engine="r")
    py = cal.calibration_hierarchy(y, p, n_boot=200, seed=4, engine="python")
    assert (r.engine, py.engine) == ("r", "python")
    np.testing.assert_allclose(r.table["estimate"].to_numpy(float), py.table["estimate"].to_numpy(float),
                               rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(r.curve["observed"], py.curve["observed"], atol=1e-10)
    rows = ["calibration intercept", "calibration slope", "ICI"]
    width = (py.table.loc[rows, "ci_high"] - py.table.loc[rows, "ci_low"]).to_numpy(float)
    for bound in ("ci_low", "ci_high"):  # 200 resamples: the bounds agree to a fraction of the width
        assert np.all(np.abs(r.table.loc[rows, bound] - py.table.loc[rows, bound]).to_numpy(float) < 0.35 * width)
    lr, lpy = cal.lecessie_test(y=y, prob=p, engine="r"), cal.lecessie_test(y=y, prob=p, engine="python")
    assert lr.engine == "r" and (lr.z, lr.p_value, lr.sd) == pytest.approx((lpy.z, lpy.p_value, lpy.sd), rel=1e-9)


@pytest.mark.r
def test_hierarchy_logistic_fits_equal_glm_fit_bit_for_bit():
    """r/calibration.R fits the calibration slope and intercept of each bootstrap resample with
    .h2s_logit_coef, glm.fit's IRLS without its set-up: on resamples with ties, near-separated and
    separated data, with and without an offset, the coefficients are identical to glm.fit's (the
    demo's numbers.json must not move by one bit)."""
    from her2stats import r_bridge

    out = r_bridge.r_eval("""local({
      ref <- function(x, y, offset = NULL) unname(suppressWarnings(stats::coef(stats::glm.fit(x, y, offset = offset,
          family = stats::binomial(), control = stats::glm.control(epsilon = 1e-12, maxit = 50)))))
      set.seed(5); same <- 0L; n_fit <- 0L
      for (r in 1:300) {
        n <- c(15, 40, 100, 300)[1 + r %% 4]
        p <- plogis(rnorm(n, sd = 0.1 + (r %% 7) / 2))
        if (r %% 3 == 0) p <- pmin(pmax(round(p, 2), 0.005), 0.995)
        y <- as.numeric(rbinom(n, 1, plogis(qlogis(p) * (0.2 + (r %% 5) / 2))))
        if (r %% 25 == 0) y <- as.numeric(qlogis(p) > 0)
        if (min(y) == max(y)) next
        i <- sample.int(n, n, replace = TRUE)
        if (min(y[i]) == max(y[i])) next
        L <- log(p[i] / (1 - p[i])); yy <- y[i]
        n_fit <- n_fit + 1L
        same <- same + (identical(ref(cbind(1, L), yy), .h2s_logit_coef(cbind(1, L), yy)) &&
                        identical(ref(matrix(1, n, 1), yy, offset = L), .h2s_logit_coef(matrix(1, n, 1), yy, offset = L)))
      }
      c(n_fit, same)
    })""")
    n_fit, same = (int(v) for v in np.asarray(out).ravel())
    assert n_fit > 250 and same == n_fit


@pytest.mark.r
def test_hierarchy_lowess_reading_equals_approx_with_ties_bit_for_bit():
    """The hierarchy reads its lowess fit at the predictions (ties = mean) and on the grid (first of
    each tie) from the fit with its ties collapsed once (.h2s_lowess_unique): on bootstrap
    resamples (many ties) the readings are identical to approx() on the raw fit; a fit whose tied x
    hold different values (not one lowess gives) is kept raw and read with the ties as before."""
    from her2stats import r_bridge

    out = r_bridge.r_eval("""local({
      read <- function(lw, p, grid) c(stats::approx(lw$x, lw$y, xout = p, ties = lw$ties_mean)$y,
                                      stats::approx(lw$x, lw$y, xout = grid, ties = lw$ties_first)$y)
      raw <- function(lw, p, grid) c(stats::approx(lw$x, lw$y, xout = p, ties = mean)$y,
                                     stats::approx(lw$x, lw$y, xout = grid, ties = function(v) v[1])$y)
      set.seed(11); same <- 0L; n_fit <- 0L; collapsed <- 0L
      for (r in 1:300) {
        n <- c(20, 60, 150, 400)[1 + r %% 4]
        p <- plogis(rnorm(n, sd = 0.2 + (r %% 6) / 2))
        if (r %% 3 == 0) p <- pmin(pmax(round(p, 1 + r %% 3), 0.001), 0.999)
        y <- rbinom(n, 1, p); if (min(y) == max(y)) next
        i <- sample.int(n, n, replace = TRUE)
        grid <- seq(quantile(p, .01), quantile(p, .99), length.out = 50)
        lw <- stats::lowess(p[i], y[i], iter = 0); u <- .h2s_lowess_unique(lw)
        n_fit <- n_fit + 1L; collapsed <- collapsed + (length(u$x) < length(lw$x))
        same <- same + identical(read(u, p[i], grid), raw(lw, p[i], grid))
      }
      odd <- list(x = c(0.1, 0.2, 0.2, 0.5), y = c(0.1, 0.3, 0.4, 0.6))
      u <- .h2s_lowess_unique(odd)
      c(n_fit, same, collapsed, length(u$x), identical(read(u, c(0.1, 0.2, 0.3), c(0.15, 0.2)),
                                                       raw(odd, c(0.1, 0.2, 0.3), c(0.15, 0.2))))
    })""")
    n_fit, same, collapsed, n_odd, odd_same = (int(v) for v in np.asarray(out).ravel())
    assert n_fit > 250 and same == n_fit and collapsed > 200
    assert n_odd == 4 and odd_same == 1


@pytest.mark.r
def test_rms_resample_check_is_done_once_per_model_n_boot_and_seed(bwt, monkeypatch):
    """engine="r": validate and calibrate of one model with the same n_boot and seed draw the same
    resamples, so the separation check of those resamples (a batch of Python refits) runs once;
    another seed, n_boot or model is checked afresh, never served the cached count."""
    from her2stats.stats import models as models_mod

    calls = []
    real = models_mod.refit_logistic_batch

    def counting(X, y, W, *args, **kwargs):
        calls.append(W.shape)
        return real(X, y, W, *args, **kwargs)

    monkeypatch.setattr(models_mod, "refit_logistic_batch", counting)
    monkeypatch.setattr(cal, "_SEPARATED_CACHE", {})
    r_model = fit_lrm(bwt, "low", COVS, engine="r")
    cal.validate(r_model, n_boot=60, seed=7, engine="r")
    cal.calibrate(r_model, n_boot=60, seed=7, engine="r")
    assert len(calls) == 1  # the second function is served the first one's check
    first = cal._rms_resamples_separated(r_model, 60, 7)
    assert len(calls) == 1
    cal.calibrate(r_model, n_boot=60, seed=8, engine="r")  # another seed: other resamples
    cal._rms_resamples_separated(r_model, 61, 7)  # another n_boot
    assert len(calls) == 3
    other = fit_lrm(bwt.iloc[:150], "low", COVS, engine="r")  # another model, same n_boot and seed
    cal._rms_resamples_separated(other, 60, 7)
    assert len(calls) == 4 and calls[-1] == (60, 150)
    # a fresh computation gives what the cache holds
    monkeypatch.setattr(cal, "_SEPARATED_CACHE", {})
    assert cal._rms_resamples_separated(r_model, 60, 7) == first and len(calls) == 5
    # the cache stays small
    for s in range(cal._SEPARATED_CACHE_SIZE + 3):
        cal._rms_resamples_separated(other, 20, 100 + s)
    assert len(cal._SEPARATED_CACHE) == cal._SEPARATED_CACHE_SIZE
