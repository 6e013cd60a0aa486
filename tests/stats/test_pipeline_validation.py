"""Whole-pipeline internal validation (issue 23): pipeline_bootstrap and pipeline_cv.

References: rms 6.5 ``validate`` (through :func:`her2stats.validate`, both engines); Efron &
Tibshirani (1997) .632+ (recomputed here by direct loops); Riley & Collins (2023) instability
definitions (MAPE, CII; recomputed by loops); sklearn ``cross_val_predict`` for the pooled
out-of-fold predictions. Bootstrap comparisons between engines use different random streams, so
they are judged against the Monte-Carlo standard error of the optimism.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.pipeline import make_pipeline

from her2stats.errors import InputError
from her2stats.models.lrm import LRMClassifier
from her2stats.resampling import DEFAULT_CHUNK, bootstrap_indices, run_replicates
from her2stats.selection import CorrelationFilter, UnivariateFilter
from her2stats.stats import calibration as cal
from her2stats.stats.models import concordance_c, fit_lrm
from her2stats.stats.pipeline_validation import (INDICES, bootstrap_draws, cv_folds, performance_indices,
                                                 pipeline_bootstrap, pipeline_cv)

COVS = ["age", "lwt", "race", "smoke", "ptd", "ht", "ui", "ftv"]


def _lrm():
    return LRMClassifier(engine="python")


@pytest.fixture(scope="module")
def lrm_boot(bwt):
    """The birthwt model of Venables & Ripley as a one-step pipeline, 100 resamples (seed 3: one
    resample is quasi-separated, as in validate)."""
    with pytest.warns(UserWarning, match="1 of 100 pipeline refits failed"):
        return pipeline_bootstrap(_lrm(), bwt[COVS], bwt["low"], n_boot=100, seed=3, method=".632+")


def _correlated_cohort(seed=0, n=160):
    """x1 and x2 are near copies carrying the signal; x3..x8 are noise."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    X = pd.DataFrame({"x1": z + 0.05 * rng.normal(size=n), "x2": z + 0.05 * rng.normal(size=n)})
    for j in range(3, 9):
        X[f"x{j}"] = rng.normal(size=n)
    X["x3"] = X["x3"] * 0.6 + 0.4 * rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(0.9 * z + 0.5 * X["x3"].to_numpy())))).astype(int)
    X.index = [f"P{i:03d}" for i in range(n)]
    return X, y


def _selection_pipe():
    return make_pipeline(UnivariateFilter(test="t", alpha=0.2, min_features=1), CorrelationFilter(0.8), _lrm())


# --------------------------------------------------------------------------- item 2: = validate
def test_draws_are_validates(bwt):
    """The bootstrap rows are exactly those validate() weights its refits with."""
    n = len(bwt)
    draws = bootstrap_draws(n, 250, seed=5)
    W = run_replicates(lambda rng, m: np.stack([np.bincount(bootstrap_indices(rng, n), minlength=n)
                                                 for _ in range(m)]), 250, seed=5)
    assert DEFAULT_CHUNK == 100 and len(draws) == 250
    np.testing.assert_array_equal(np.stack([np.bincount(d, minlength=n) for d in draws]), W)


@pytest.mark.parametrize("seed", [3, 11])
def test_lrm_pipeline_equals_validate(bwt, seed):
    """A pipeline that is only fit_lrm on fixed covariates reproduces validate(): same draws, same
    failed resample, optimism and corrected C/slope/intercept/Brier and their CIs to 1e-9 (the
    refits on repeated rows and validate's weighted refits agree to the Newton tolerance)."""
    import warnings

    model = fit_lrm(bwt, "low", COVS, engine="python")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        v = cal.validate(model, B=100, seed=seed, engine="python")
        r = pipeline_bootstrap(_lrm(), bwt[COVS], bwt["low"], n_boot=100, seed=seed)
    assert r.n_failed == v.n_failed
    t = r.to_frame()
    for ours, theirs in (("AUC", "C"), ("slope", "Slope"), ("intercept", "Intercept"), ("Brier", "B")):
        for a, b in (("apparent", "index_orig"), ("training", "training"), ("test", "test"), ("optimism", "optimism"),
                     ("estimate", "index_corrected")):
            assert t.loc[ours, a] == pytest.approx(v.table.loc[theirs, b], abs=1e-9), (ours, a)
        assert t.loc[ours, "n"] == v.table.loc[theirs, "n"]
        if theirs in v.ci.index:
            assert t.loc[ours, "ci_low"] == pytest.approx(v.ci.loc[theirs, "ci_low"], abs=1e-9)
            assert t.loc[ours, "ci_high"] == pytest.approx(v.ci.loc[theirs, "ci_high"], abs=1e-9)
    # C is computed the same way (exact Mann-Whitney), so it is equal to rounding
    assert abs(t.loc["AUC", "estimate"] - v.corrected("C")) < 1e-12


@pytest.mark.r
@pytest.mark.slow
def test_lrm_pipeline_matches_rms_validate(bwt):
    """Against rms::validate (R's own bootstrap stream): optimism within Monte-Carlo error."""
    r_model = fit_lrm(bwt, "low", COVS, engine="r")
    b = cal.validate(r_model, B=300, seed=7, engine="r")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        a = pipeline_bootstrap(_lrm(), bwt[COVS], bwt["low"], n_boot=300, seed=7)
    t = a.to_frame()
    for ours, theirs in (("AUC", "C"), ("slope", "Slope"), ("intercept", "Intercept"), ("Brier", "B")):
        assert t.loc[ours, "apparent"] == pytest.approx(b.table.loc[theirs, "index_orig"], abs=1e-6)
        z = (t.loc[ours, "optimism"] - b.table.loc[theirs, "optimism"]) / (np.sqrt(2) * t.loc[ours, "optimism_mcse"])
        assert abs(z) < 4.5, (ours, z)


# --------------------------------------------------------------------------- indices and .632+
def test_performance_indices_match_val_prob(bwt):
    rs = np.random.default_rng(3).permutation(len(bwt))
    m = fit_lrm(bwt.iloc[rs[:120]], "low", ["age", "lwt", "race", "smoke", "ptd", "ht"], engine="python")
    ext = bwt.iloc[rs[120:]]
    y, p = ext["low"].to_numpy(float), m.predict(ext)
    v = cal.val_prob(y, p, engine="python")
    ind = dict(zip(INDICES, performance_indices(p, y)))
    assert ind["AUC"] == pytest.approx(v.C, abs=1e-12)
    assert ind["slope"] == pytest.approx(v.slope, abs=1e-9)
    assert ind["intercept"] == pytest.approx(v.intercept, abs=1e-9)
    assert ind["Brier"] == pytest.approx(v.Brier, abs=1e-12)
    assert ind["ICI"] == pytest.approx(v.Eavg, abs=1e-12)
    h = cal.calibration_hierarchy(y=y, prob=p, B=20, seed=1, engine="python")
    assert ind["citl"] == pytest.approx(h.table.loc["calibration intercept", "estimate"], abs=1e-9)


def test_632plus_by_hand(lrm_boot, bwt):
    """Efron & Tibshirani's .632+ for Brier and the out-of-bag .632+ for AUC, recomputed by loops."""
    r = lrm_boot
    y, p0, P = r.y, r.apparent_predictions, r.predictions
    n = len(y)
    # Brier: leave-one-out bootstrap error
    per_i = []
    for i in range(n):
        losses = [(y[i] - P[b, i]) ** 2 for b, d in enumerate(r.train_sets) if i not in set(d)]
        if losses:
            per_i.append(np.mean(losses))
    err1 = np.mean(per_i)
    err = np.mean((y - p0) ** 2)
    gamma = sum((y[i] - p0[j]) ** 2 for i in range(n) for j in range(n)) / n ** 2
    e1 = min(err1, gamma)
    R = (e1 - err) / (gamma - err) if e1 > err and gamma > err else 0.0
    w = 0.632 / (1 - 0.368 * R)
    assert 0 < R < 1
    assert r.to_frame().loc["Brier", "estimate"] == pytest.approx((1 - w) * err + w * e1, abs=1e-12)
    assert r.to_frame().loc["Brier", "test"] == pytest.approx(err1, abs=1e-12)
    # AUC: mean out-of-bag AUC, no-information 0.5
    aucs = []
    for b, d in enumerate(r.train_sets):
        m = np.ones(n, bool)
        m[d] = False
        aucs.append(concordance_c(P[b, m], y[m]))
    a_app, a_oob = concordance_c(p0, y), max(np.mean(aucs), 0.5)
    R = (a_app - a_oob) / (a_app - 0.5)
    w = 0.632 / (1 - 0.368 * R)
    assert r.to_frame().loc["AUC", "estimate"] == pytest.approx((1 - w) * a_app + w * a_oob, abs=1e-12)
    # the other indices keep Harrell's correction
    t = r.to_frame()
    assert t.loc["slope", "correction"] == "harrell" and t.loc["AUC", "correction"].startswith(".632+")
    assert t.loc["slope", "estimate"] == pytest.approx(t.loc["slope", "apparent"] - t.loc["slope", "optimism"])


def test_632plus_weights_at_the_extremes():
    from her2stats.stats.pipeline_validation import _632plus

    # no overfitting: out-of-bag error equals apparent -> R = 0, w = .632, estimate = apparent
    assert _632plus(0.2, 0.2, 0.25, True)[:3] == pytest.approx((0.2, 0.0, 0.632))
    # out-of-bag error at or beyond no-information -> R = 1, w = 1, estimate = gamma
    assert _632plus(0.1, 0.3, 0.25, True)[:3] == pytest.approx((0.25, 1.0, 1.0))
    # AUC scale (higher is better): OOB AUC 0.5 = no information -> estimate 0.5
    assert _632plus(0.9, 0.45, 0.5, False)[0] == pytest.approx(0.5)


# --------------------------------------------------------------------------- instability
def test_instability_definitions_by_hand(lrm_boot):
    r = lrm_boot
    P, p0 = r.predictions, r.apparent_predictions
    mape = [np.mean([abs(P[b, i] - p0[i]) for b in range(len(P))]) for i in range(len(p0))]
    np.testing.assert_allclose(r.mape().to_numpy(), mape, rtol=0, atol=1e-14)
    t = 0.3
    cii = [np.mean([(P[b, i] >= t) != (p0[i] >= t) for b in range(len(P))]) for i in range(len(p0))]
    np.testing.assert_allclose(r.classification_instability(t).to_numpy(), cii, rtol=0, atol=0)
    assert r.threshold == pytest.approx(r.y.mean()) and "prevalence" in r.threshold_source
    inst = r.instability()
    assert (inst["pi_low"] <= inst["apparent"] + 0.2).all() and (inst["pi_low"] <= inst["pi_high"]).all()
    s = r.instability_summary()["value"]
    assert s["MAPE (mean over patients)"] == pytest.approx(np.mean(mape))
    # each refit's predictions on the original rows are stored, one row per successful refit
    assert P.shape == (r.n_refits - r.n_failed, r.n) and len(r.train_sets) == len(P)
    # calibration and decision curves: one per refit, the apparent net benefit matches dca's
    from her2stats.stats.dca import net_benefit

    assert r.calibration_curves.shape == (len(P), len(r.calibration_grid))
    np.testing.assert_allclose(r.net_benefit[0], net_benefit(r.y, P[0], r.dca_thresholds), atol=1e-15)
    d = r.dca_instability()
    assert ((d["share_refits_beneficial"] >= 0) & (d["share_refits_beneficial"] <= 1)).all()


def test_selection_pipeline_is_less_stable_and_pairs_replace_each_other():
    """x1/x2 are near copies: the correlation filter keeps one of them, a different one in
    different resamples, so they appear as a replacement pair (phi near -1, one of them almost
    always in the model)."""
    import warnings

    X, y = _correlated_cohort()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        r = pipeline_bootstrap(_selection_pipe(), X, y, n_boot=60, seed=2, threshold=0.5)
    freq = r.selection_frequency()
    assert freq.loc["x1", "frequency"] + freq.loc["x2", "frequency"] == pytest.approx(1.0, abs=0.05)
    assert 0.1 < freq.loc["x1", "frequency"] < 0.9
    pairs = r.replacement_pairs()
    top = pairs.iloc[0]
    assert {top["feature_a"], top["feature_b"]} == {"x1", "x2"}
    assert top["phi"] < -0.8 and top["either"] > 0.95
    sizes = r.model_size()
    assert sizes["refits"].sum() == len(r.predictions) and sizes["share"].sum() == pytest.approx(1)
    assert r.threshold == 0.5 and r.threshold_source == "given"
    from her2stats.stats.diagnostics import choose_threshold

    rule = choose_threshold(r.y, r.apparent_predictions, rule="youden", direction="<")
    assert r.classification_instability(rule).mean() == pytest.approx(
        r.classification_instability(rule.value).mean())
    # selection from the apparent fit, and selection by a user function
    assert set(r.apparent_selected) <= set(X.columns)


def test_tables_figures_and_tripod(lrm_boot):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figs = lrm_boot.figures()
    assert set(figs) == {"prediction", "mape", "classification", "calibration", "dca", "selection", "model_size"}
    for f in figs.values():
        plt.close(f)
    tabs = lrm_boot.tables()
    assert {"performance", "instability", "calibration_instability", "dca_instability", "selection_frequency",
            "model_size", "failures"} <= set(tabs)
    assert list(tabs["performance"].index) == list(INDICES)
    facts = lrm_boot.tripod_facts()
    from her2stats.reporting.tripod import tripod_checklist

    cl = tripod_checklist({**facts, "model": {"type": "logistic regression"}}).to_frame().set_index("item")
    assert cl.loc["12c", "status"] == "reported" and "bootstrap" in cl.loc["12c", "evidence"]
    assert cl.loc["12e", "status"] == "reported"
    text = lrm_boot.methods_text()
    assert "bootstrap, 100 resamples" in text and "99 of 100 refits succeeded" in text and "MAPE" in text
    assert "refits succeeded" in repr(lrm_boot) and "<table" in lrm_boot._repr_html_()
    with pytest.raises(InputError, match="kind"):
        lrm_boot.plot("nope")


# --------------------------------------------------------------------------- item 4: leakage
_PEEK: dict = {}


class _TopK(TransformerMixin, BaseEstimator):
    """Keep the k features most correlated with y in the rows it is fitted on (honest)."""

    def __init__(self, k: int = 5):
        self.k = k

    def _score(self, X, y):
        Xc = X - X.mean()
        yc = y - y.mean()
        return np.abs(Xc.T @ yc) / np.sqrt((Xc ** 2).sum() * (yc ** 2).sum())

    def fit(self, X, y):
        s = self._score(X, np.asarray(y, float))
        self.cols_ = list(s.sort_values(ascending=False).index[: self.k])
        return self

    def transform(self, X):
        return X[self.cols_]


class _PeekingTopK(_TopK):
    """The same selection, but it reads every patient from a global: the bug this guards against
    (features chosen on the whole cohort, then 'validated')."""

    def fit(self, X, y):
        s = self._score(_PEEK["X"], _PEEK["y"])
        self.cols_ = list(s.sort_values(ascending=False).index[: self.k])
        return self


class _Spy(TransformerMixin, BaseEstimator):
    log: list = []

    def fit(self, X, y=None):
        _Spy.log.append(np.asarray(X.index))
        self.seen_ = len(X)
        return self

    def transform(self, X):
        return X


class _BatchScaler(TransformerMixin, BaseEstimator):
    """Standardises with the mean/SD of whatever rows it transforms (transductive: leaks)."""

    def fit(self, X, y=None):
        self.fitted_ = True
        return self

    def transform(self, X):
        return (X - X.mean()) / X.std()


def _noise(seed=4, n=120, p=150):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, p)), columns=[f"f{j:03d}" for j in range(p)],
                     index=[f"N{i:03d}" for i in range(n)])
    y = np.r_[np.ones(n // 2), np.zeros(n - n // 2)].astype(int)
    rng.shuffle(y)
    return X, y


def test_selection_inside_the_bootstrap_removes_the_optimism_a_peeking_step_keeps():
    X, y = _noise()
    _PEEK.update(X=X, y=y.astype(float))
    honest = pipeline_bootstrap(make_pipeline(_TopK(5), _lrm()), X, y, n_boot=40, seed=1)
    leaky = pipeline_bootstrap(make_pipeline(_PeekingTopK(5), _lrm()), X, y, n_boot=40, seed=1)
    h, lk = honest.to_frame().loc["AUC"], leaky.to_frame().loc["AUC"]
    # both look good in-sample on pure noise ...
    assert h["apparent"] > 0.7 and lk["apparent"] > 0.7
    # ... the whole-pipeline bootstrap brings the honest pipeline back to chance; the peeking one
    # (selection saw the evaluation rows) keeps most of its apparent AUC: the difference is the leak
    assert h["estimate"] < 0.66  # measured 0.60 (Harrell's bootstrap is a little optimistic after selection)
    assert lk["estimate"] > h["estimate"] + 0.1
    assert h["optimism"] > lk["optimism"] + 0.1


def test_prefitted_pipelines_and_steps_are_refused(bwt):
    X = bwt[COVS]
    fitted = _lrm().fit(X, bwt["low"])
    with pytest.raises(InputError, match="already fitted"):
        pipeline_bootstrap(fitted, X, bwt["low"], n_boot=5, seed=1)
    Xn = bwt[["age", "lwt", "smoke", "ptd", "ht", "ui"]].astype(float)
    pipe = make_pipeline(UnivariateFilter(alpha=0.5).fit(Xn, bwt["low"]), _lrm())
    with pytest.raises(InputError, match="'univariatefilter'.*already fitted"):
        pipeline_cv(pipe, Xn, bwt["low"], n_splits=3, n_repeats=1, seed=1)
    # stateless steps (FunctionTransformer) are not 'fitted' and are accepted
    from sklearn.preprocessing import FunctionTransformer

    r = pipeline_bootstrap(make_pipeline(FunctionTransformer(lambda d: d), _lrm()), X[["age", "lwt"]], bwt["low"],
                           n_boot=3, seed=1)
    assert r.n_failed == 0


def test_transductive_step_is_detected(bwt):
    X = bwt[["age", "lwt", "smoke"]].astype(float)
    with pytest.raises(InputError, match="changes with the other patients"):
        pipeline_bootstrap(make_pipeline(_BatchScaler(), _lrm()), X, bwt["low"], n_boot=5, seed=1)


def test_every_refit_sees_only_its_resample(bwt):
    X = bwt[["age", "lwt", "smoke"]].astype(float)
    X.index = [f"B{i:03d}" for i in range(len(X))]
    y = bwt["low"].to_numpy()
    _Spy.log = []
    r = pipeline_bootstrap(make_pipeline(_Spy(), _lrm()), X, y, n_boot=12, seed=8)
    fits = _Spy.log
    assert len(fits) == 1 + 12  # the apparent fit on all rows, then one clone per resample
    assert sorted(fits[0]) == sorted(X.index)
    for rows, draw in zip(fits[1:], r.train_sets):
        assert list(rows) == list(X.index[draw])  # exactly the drawn rows, duplicates included
    _Spy.log = []
    c = pipeline_cv(make_pipeline(_Spy(), _lrm()), X, y, n_splits=4, n_repeats=2, seed=3)
    folds = cv_folds(c.y, 4, 2, 3)
    held = [X.index[f == k] for f in folds for k in range(4)]
    assert len(_Spy.log) == 1 + 8
    for rows, out in zip(_Spy.log[1:], held):
        assert set(rows).isdisjoint(out)


def test_combat_is_refitted_in_every_resample():
    from her2stats.harmonization import ComBat

    class SpyComBat(ComBat):
        fits: list = []

        def fit(self, X, y=None):
            super().fit(X, y)
            SpyComBat.fits.append((np.asarray(X.index), self.gamma_star_.copy()))
            return self

    rng = np.random.default_rng(5)
    n = 120
    centre = np.repeat(["A", "B", "C"], n // 3)
    shift = pd.Series(centre).map({"A": 0.0, "B": 1.5, "C": -1.0}).to_numpy()
    X = pd.DataFrame(rng.normal(size=(n, 6)) + shift[:, None], columns=[f"f{j}" for j in range(6)])
    X["centre"] = centre
    X.index = [f"C{i:03d}" for i in range(n)]
    y = (rng.random(n) < 1 / (1 + np.exp(-(X["f0"] - shift)))).astype(int).to_numpy()
    SpyComBat.fits = []
    pipe = make_pipeline(SpyComBat(batch_col="centre", engine="python"), UnivariateFilter(alpha=0.5), _lrm())
    r = pipeline_bootstrap(pipe, X, y, n_boot=8, seed=2)
    assert r.n_failed == 0
    fits = SpyComBat.fits
    assert len(fits) == 1 + 8
    for (rows, _), draw in zip(fits[1:], r.train_sets):
        assert list(rows) == list(X.index[draw])
    gammas = [g for _, g in fits]
    assert all(not np.allclose(gammas[0], g) for g in gammas[1:])  # re-estimated, not reused


# --------------------------------------------------------------------------- item 3: CV
def test_pipeline_cv_matches_cross_val_predict(bwt):
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import PredefinedSplit, cross_val_predict

    X = bwt[["age", "lwt", "smoke", "ptd", "ht", "ui"]].astype(float)
    y = bwt["low"].to_numpy()
    r = pipeline_cv(_lrm(), X, y, n_splits=5, n_repeats=3, seed=4)
    folds = cv_folds(r.y, 5, 3, 4)
    aucs = []
    for f in folds:
        # stratified: each fold has its share of events (+-1)
        ev = np.bincount(f[y == 1], minlength=5)
        assert ev.max() - ev.min() <= 1
        p = cross_val_predict(LogisticRegression(C=np.inf, tol=1e-10, max_iter=10000), X, y,
                              cv=PredefinedSplit(f), method="predict_proba")[:, 1]
        aucs.append(concordance_c(p, y))
    t = r.to_frame()
    assert t.loc["AUC", "estimate"] == pytest.approx(np.mean(aucs), abs=1e-5)
    assert np.isnan(t["ci_low"]).all() and (t["repeat_low"] <= t["estimate"] + 1e-12).all()
    assert r.n_refits == 15 and r.predictions.shape == (15, len(y))
    assert "cross-validation" in r.resampling and t.loc["AUC", "optimism"] > 0
    # the bootstrap and CV agree roughly on this model's optimism-corrected AUC
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        b = pipeline_bootstrap(_lrm(), X, y, n_boot=30, seed=4)
    assert abs(b.to_frame().loc["AUC", "estimate"] - t.loc["AUC", "estimate"]) < 0.05


# --------------------------------------------------------------------------- item 6: Dask
@pytest.mark.slow
def test_one_vs_two_dask_workers_bit_identical():
    from dask.distributed import Client, LocalCluster

    X, y = _correlated_cohort(seed=1, n=120)
    pipe = _selection_pipe()
    ref = pipeline_bootstrap(pipe, X, y, n_boot=24, seed=9, method=".632+")
    for n_workers in (1, 2):
        with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None) as cl, \
                Client(cl) as client:
            got = pipeline_bootstrap(pipe, X, y, n_boot=24, seed=9, method=".632+", scheduler=client, task_size=3)
        assert np.array_equal(got.predictions, ref.predictions)
        pd.testing.assert_frame_equal(got.to_frame(), ref.to_frame(), check_exact=True)
        pd.testing.assert_frame_equal(got.selected, ref.selected)
        assert np.array_equal(got.calibration_curves, ref.calibration_curves, equal_nan=True)


def test_threads_scheduler_and_task_size_do_not_change_results(bwt):
    X = bwt[["age", "lwt", "smoke"]].astype(float)
    a = pipeline_bootstrap(_lrm(), X, bwt["low"], n_boot=10, seed=6)
    b = pipeline_bootstrap(_lrm(), X, bwt["low"], n_boot=10, seed=6, scheduler="threads", task_size=4)
    assert np.array_equal(a.predictions, b.predictions)
    pd.testing.assert_frame_equal(a.to_frame(), b.to_frame(), check_exact=True)


def test_outcome_labels_follow_the_event_rule(bwt):
    X = bwt[["age", "lwt", "smoke"]].astype(float)
    labels = np.where(bwt["low"] == 1, "low", "normal")
    ref = pipeline_bootstrap(_lrm(), X, bwt["low"], n_boot=5, seed=1)
    # two labels: the event is never guessed from their order
    with pytest.raises(InputError, match="never guessed"):
        pipeline_bootstrap(_lrm(), X, pd.Series(pd.Categorical(labels, categories=["normal", "low"])), n_boot=5, seed=1)
    # given by event=, or by an ordered Categorical (the higher category); the steps see 0/1
    for y, event in ((pd.Series(labels), "low"),
                     (pd.Series(pd.Categorical(labels, categories=["normal", "low"], ordered=True)), None)):
        r = pipeline_bootstrap(_lrm(), X, y, n_boot=5, seed=1, event=event)
        assert r.event == "low" and r.n_events == int(bwt["low"].sum())
        np.testing.assert_array_equal(r.predictions, ref.predictions)
    # a pandas y is paired with X by index label, not by position
    y = pd.Series(bwt["low"].to_numpy(), index=X.index)
    shuffled = y.sample(frac=1.0, random_state=0)
    np.testing.assert_array_equal(pipeline_bootstrap(_lrm(), X, shuffled, n_boot=5, seed=1).predictions,
                                  ref.predictions)


def test_unselectable_pipeline_reports_no_selection(bwt):
    from her2stats.selection import make_pca

    X = bwt[["age", "lwt", "smoke", "ptd", "ht"]].astype(float)
    r = pipeline_bootstrap(make_pipeline(make_pca(2), _lrm()), X, bwt["low"], n_boot=4, seed=1)
    assert r.selected is None and r.selection_frequency() is None and "selection" not in r.figures()
    clone(make_pipeline(make_pca(2), _lrm()))
