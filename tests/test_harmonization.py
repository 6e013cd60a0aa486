"""ComBat harmonisation (her2stats.harmonization).

* engine="python" against R ``sva::ComBat`` (Debian r-bioc-sva) on the same data: parametric and
  non-parametric, mean.only, ref.batch, with numeric and categorical covariates; 1e-6 (same
  stopping rule for the EB iteration; measured ~1e-14);
* the apply step: new rows are adjusted with the training parameters and their own covariates
  (Johnson et al. 2007; Pomponio et al. 2020 / neuroHarmonize), checked against the formula
  written out here, and transform(training rows) equals the fitted output;
* leakage: inside cross-validation, ComBat's parameters are exactly those learnt from the
  training fold, and changing the test fold changes nothing that was learnt;
* diagnostics: batch-classifier AUC and per-feature ICC fall after harmonisation of held-out rows.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_validate
from sklearn.pipeline import make_pipeline

import her2stats as h2
from her2stats.errors import InputError
from her2stats.harmonization import ComBat, batch_icc, harmonization_diagnostics

SCANNERS = ("GE", "Philips", "Siemens")


def _cohort(seed: int = 0, n=(30, 25, 35), p: int = 30) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    batch = np.repeat(SCANNERS, n)
    N = len(batch)
    age = rng.normal(55, 10, N)
    field = rng.choice(["1.5T", "3T"], N)
    loc = dict(zip(SCANNERS, (0.0, 1.0, -0.5)))
    scale = dict(zip(SCANNERS, (1.0, 2.0, 0.7)))
    feat_loc = np.random.default_rng(1234).normal(0, 0.5, p)   # scanner effects: the same in every cohort
    X = (rng.normal(size=(N, p)) * np.array([scale[b] for b in batch])[:, None]
         + np.array([loc[b] for b in batch])[:, None] * (1 + feat_loc)[None, :]
         + 0.03 * age[:, None] + 0.4 * (field == "3T")[:, None])
    df = pd.DataFrame(X, columns=[f"f{j:02d}" for j in range(p)])
    df["scanner"], df["age"], df["field"] = batch, age, field
    df["her2"] = rng.integers(0, 2, N)
    return df


FEATS = [f"f{j:02d}" for j in range(30)]
CONFIGS = [{}, {"parametric": False}, {"mean_only": True}, {"reference_batch": "GE"},
           {"parametric": False, "mean_only": True}, {"reference_batch": "Philips", "parametric": False},
           {"covariates": None}, {"covariates": ["field"]}]


def _combat(**kw):
    kw = {"batch_col": "scanner", "covariates": ["age", "field"], "features": FEATS, **kw}
    return ComBat(**kw)


@pytest.mark.r
@pytest.mark.parametrize("kw", CONFIGS, ids=str)
def test_python_equals_sva_combat(kw):
    df = _cohort()
    py = _combat(engine="python", **kw).fit(df)
    r = _combat(engine="r", **kw).fit(df)
    # r.r_output_ is exactly what sva::ComBat returned for the training data
    np.testing.assert_allclose(py.transform(df).to_numpy(), r.r_output_, rtol=0, atol=1e-6)
    assert np.abs(py.transform(df).to_numpy() - r.r_output_).max() < 1e-10   # measured ~1e-14
    # the R engine's parameters (read back from sva's output) apply to new data the same way
    new = _cohort(seed=5, n=(8, 9, 7))
    np.testing.assert_allclose(r.transform(new).to_numpy(), py.transform(new).to_numpy(), atol=1e-8)


@pytest.mark.r
def test_sva_direct_call_matches():
    """The bridge wrapper is sva::ComBat itself: compare with a call that builds the same design."""
    from her2stats import r_bridge

    df = _cohort(seed=2)
    codes = pd.Index(SCANNERS).get_indexer(df["scanner"]) + 1
    mod = np.column_stack([df["age"], (df["field"] == "3T").astype(float)])
    dat = pd.DataFrame(df[FEATS].to_numpy().T, columns=[f"v{i + 1}" for i in range(len(df))])
    out = np.asarray(r_bridge.call("h2s_combat", dat, batch=codes.astype(np.int32), mod=mod, par_prior=True,
                                   mean_only=False, ref_batch=None), dtype=float).T
    got = _combat(engine="python").fit_transform(df).to_numpy()
    assert np.abs(got - out).max() < 1e-6


def test_apply_formula_each_sample_with_its_own_covariates():
    train, new = _cohort(seed=1), _cohort(seed=9, n=(6, 5, 7))
    cb = _combat(engine="python").fit(train)
    got = cb.transform(new).to_numpy()
    # y* = (z - gamma*_b) / sqrt(delta*_b) * sigma + alpha + x'beta, z = (y - alpha - x'beta) / sigma
    x = np.column_stack([new["age"], (new["field"] == "3T").astype(float)])
    stand = cb.grand_mean_[None, :] + x @ cb.beta_
    sd = np.sqrt(cb.var_pooled_)[None, :]
    b = pd.Index(cb.batches_).get_indexer(new["scanner"])
    want = ((new[FEATS].to_numpy() - stand) / sd - cb.gamma_star_[b]) / np.sqrt(cb.delta_star_[b]) * sd + stand
    np.testing.assert_allclose(got, want, atol=1e-12)
    # no refitting: the learnt parameters are untouched by transform
    g = cb.gamma_star_.copy()
    cb.transform(new.assign(f00=new["f00"] * 100))
    np.testing.assert_array_equal(cb.gamma_star_, g)
    # a sample transformed alone gets the same result as within a batch of rows
    one = cb.transform(new.iloc[[3]]).to_numpy()
    np.testing.assert_allclose(one[0], got[3], atol=1e-12)


def test_without_shrinkage_batch_means_and_variances_are_equalised_exactly():
    df = _cohort(seed=3)
    cb = _combat(engine="python", covariates=None, eb=False).fit(df)
    out = cb.transform(df)
    # no covariates, no EB: every batch ends with the pooled mean and the pooled (1/n) variance
    means = out.groupby(df["scanner"]).mean().to_numpy()
    np.testing.assert_allclose(means, np.broadcast_to(cb.grand_mean_, means.shape), atol=1e-10)
    var = out.groupby(df["scanner"]).var(ddof=1).to_numpy()
    np.testing.assert_allclose(var, np.broadcast_to(cb.var_pooled_, var.shape), rtol=1e-10)
    # with EB the batch means are pulled together, not all the way
    eb = _combat(engine="python", covariates=None).fit(df).transform(df)
    spread = eb.groupby(df["scanner"]).mean().std().to_numpy()
    before = df[FEATS].groupby(df["scanner"]).mean().std().to_numpy()
    assert np.median(spread / before) < 0.2


def test_reference_batch_unchanged_and_unseen_batches():
    df = _cohort(seed=4)
    cb = _combat(engine="python", reference_batch="GE").fit(df)
    out = cb.transform(df)
    ge = (df["scanner"] == "GE").to_numpy()
    np.testing.assert_array_equal(out.to_numpy()[ge], df.loc[ge, FEATS].to_numpy())
    new = _cohort(seed=6, n=(4, 4, 4)).assign(scanner=lambda d: d["scanner"].replace({"Siemens": "Canon"}))
    with pytest.raises(InputError, match="Canon"):
        cb.transform(new)
    mapped = _combat(engine="python", reference_batch="GE", unseen_batch="reference").fit(df)
    with pytest.warns(UserWarning, match="4 row"):
        res = mapped.transform(new)
    canon = (new["scanner"] == "Canon").to_numpy()
    np.testing.assert_array_equal(res.to_numpy()[canon], new.loc[canon, FEATS].to_numpy())


def test_unseen_covariate_level_is_refused():
    df = _cohort(seed=4)
    cb = _combat(engine="python").fit(df)
    with pytest.raises(InputError, match="7T"):
        cb.transform(df.assign(field=np.where(df.index < 3, "7T", df["field"])))


def test_eb_false_uses_the_plain_batch_estimates():
    df = _cohort(seed=7)
    cb = _combat(engine="python", eb=False).fit(df)
    np.testing.assert_array_equal(cb.gamma_star_, cb.gamma_hat_)
    np.testing.assert_array_equal(cb.delta_star_, cb.delta_hat_)
    # parametric EB shrinks gamma towards its across-feature mean
    eb = _combat(engine="python").fit(df)
    assert np.abs(eb.gamma_star_ - eb.gamma_star_.mean(1, keepdims=True)).sum() < \
        np.abs(cb.gamma_star_ - cb.gamma_star_.mean(1, keepdims=True)).sum()


def test_constant_feature_is_left_unadjusted_with_a_warning():
    df = _cohort(seed=8)
    df.loc[df["scanner"] == "GE", "f05"] = 1.0
    with pytest.warns(UserWarning, match="f05"):
        cb = _combat(engine="python").fit(df)
    np.testing.assert_array_equal(cb.transform(df)["f05"].to_numpy(), df["f05"].to_numpy())


class _Recorder(ComBat):
    """ComBat that remembers which rows it was fitted on (leakage test)."""

    def fit(self, X, y=None):
        self.fit_index_ = list(X.index)
        return super().fit(X, y)


def test_combat_inside_cv_never_sees_test_rows():
    df = _cohort(seed=10, n=(40, 40, 40))
    y = df["her2"].to_numpy()
    pipe = make_pipeline(_Recorder(batch_col="scanner", covariates=["age"], features=FEATS, engine="python"),
                         LogisticRegression(max_iter=2000))
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    res = cross_validate(pipe, df, y, cv=cv, return_estimator=True, return_indices=True)
    for est, train, test in zip(res["estimator"], res["indices"]["train"], res["indices"]["test"]):
        cb = est.steps[0][1]
        assert set(cb.fit_index_) == set(df.index[train])
        assert not set(cb.fit_index_) & set(df.index[test])
        # identical to ComBat fitted on the training fold alone ...
        alone = ComBat(batch_col="scanner", covariates=["age"], features=FEATS, engine="python").fit(df.iloc[train])
        np.testing.assert_allclose(cb.gamma_star_, alone.gamma_star_, atol=1e-12)
        np.testing.assert_allclose(cb.delta_star_, alone.delta_star_, atol=1e-12)
        # ... and blind to the test fold: scrambling the test rows changes nothing learnt
        poisoned = df.copy()
        poisoned.iloc[test, :30] = poisoned.iloc[test, :30] * 50 + 1000
        refit = clone(pipe).fit(poisoned.iloc[train], y[train]).steps[0][1]
        np.testing.assert_array_equal(refit.gamma_star_, cb.gamma_star_)
        # while fitting on all rows would have learnt something else
    everything = ComBat(batch_col="scanner", covariates=["age"], features=FEATS, engine="python").fit(df)
    assert np.abs(everything.gamma_star_ - res["estimator"][0].steps[0][1].gamma_star_).max() > 1e-3


def test_diagnostics_on_held_out_rows():
    train, test = _cohort(seed=11, n=(60, 60, 60)), _cohort(seed=12, n=(40, 40, 40))
    cb = _combat(engine="python", covariates=["age"]).fit(train)
    d = h2.harmonization_diagnostics(test[FEATS], cb.transform(test), test["scanner"], batch_col="scanner")
    assert d.auc_before > 0.8
    assert d.auc_after < d.auc_before - 0.2
    assert d.icc["icc_after"].median() < 0.5 * d.icc["icc_before"].median()
    s = d.summary()
    assert list(s["stage"]) == ["before", "after"]
    import matplotlib

    matplotlib.use("Agg")
    assert d.plot() is not None


def test_batch_icc_matches_anova_formula():
    rng = np.random.default_rng(0)
    b = np.repeat([0, 1, 2], [5, 7, 9])
    x = rng.normal(size=21) + np.array([0, 2, 4])[b]
    # one-way ANOVA by hand
    groups = [x[b == k] for k in range(3)]
    gm = x.mean()
    msb = sum(len(g) * (g.mean() - gm) ** 2 for g in groups) / 2
    msw = sum(((g - g.mean()) ** 2).sum() for g in groups) / 18
    n0 = (21 - (25 + 49 + 81) / 21) / 2
    assert batch_icc(x[:, None], b)[0] == pytest.approx((msb - msw) / (msb + (n0 - 1) * msw), rel=1e-12)


def test_top_level_names():
    assert h2.ComBat is ComBat
    assert h2.batch_icc is batch_icc and h2.harmonization_diagnostics is harmonization_diagnostics


def test_study_config_step_is_fitted_on_development_only():
    from sklearn.pipeline import Pipeline

    from her2stats.harmonization import study_step
    from her2stats.reporting.config import HarmonizationConfig
    from her2stats.selection import UnivariateFilter

    df = _cohort(seed=13, n=(40, 40, 40)).rename(columns={"scanner": "manufacturer"})
    X = df[FEATS].copy()
    section = HarmonizationConfig(batch="manufacturer", covariates=["age"])
    notes = []
    Xb, (name, cb) = study_step(section, df, X, notes)
    assert name == "harmonization" and list(Xb.columns) == FEATS + ["manufacturer", "age"]
    assert "development patients only" in notes[0]
    dev = np.arange(len(df)) % 3 != 0
    pipe = Pipeline([(name, cb), ("univariate", UnivariateFilter(test="t", alpha=0.5, min_features=2))])
    pipe.fit(Xb.iloc[dev], df["her2"].to_numpy()[dev])
    alone = ComBat(batch_col="manufacturer", covariates=["age"], features=FEATS, engine="python").fit(Xb.iloc[dev])
    np.testing.assert_allclose(pipe.named_steps[name].gamma_star_, alone.gamma_star_, atol=1e-12)
    assert pipe.transform(Xb).shape[0] == len(df)


def test_study_config_refuses_outcome_as_combat_covariate():
    from her2stats.errors import ConfigError
    from her2stats.reporting.config import load_config

    base = {"name": "t", "cohort": {"source": "demo", "outcome": "her2_positive"},
            "imaging": {"images": "demo"}}
    ok = load_config({**base, "harmonization": {"batch": "centre", "covariates": ["age"]}})
    assert ok.harmonization.batch == "centre"
    with pytest.raises((ConfigError, ValueError), match="her2_positive"):
        load_config({**base, "harmonization": {"batch": "centre", "covariates": ["her2_positive"]}})
    with pytest.raises((ConfigError, ValueError), match="imaging"):
        load_config({"name": "t", "cohort": {"source": "demo", "outcome": "her2_positive"},
                     "harmonization": {"batch": "centre"}})
