"""Selection transformers: univariate, correlation, ICC, PCA (LASSO is in test_selection_lasso.py).

References: R's t.test / wilcox.test / ks.test / p.adjust (p-values to 1e-9), psych::ICC through
her2stats.stats.agreement.icc_many, hand-checkable correlation examples.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from her2stats.errors import InputError
from her2stats.selection import (
    CorrelationFilter,
    ICCFilter,
    UnivariateFilter,
    adjust_pvalues,
    ks_normality_pvalues,
    make_pca,
    repeated_to_array,
)


@pytest.fixture(scope="module")
def two_groups():
    rng = np.random.default_rng(11)
    n = 70
    y = np.r_[np.ones(30), np.zeros(40)].astype(int)
    X = pd.DataFrame({
        "shift": rng.normal(size=n) + 0.9 * y,
        "noise": rng.normal(size=n),
        "skewed": rng.lognormal(0.0, 1.5, size=n) * (1 + y),
        "tied": np.round(rng.normal(size=n) + 0.5 * y, 0),   # many ties: rank-test tie correction
        "weak": rng.normal(size=n) + 0.3 * y,
    }, index=[f"case{i:03d}" for i in range(n)])
    return X, y


# --------------------------------------------------------------------------- univariate
@pytest.mark.r
def test_univariate_pvalues_match_r(two_groups):
    from her2stats import r_bridge

    X, y = two_groups
    r_bridge.assign("h2s_test_X", X.to_numpy())
    r_bridge.assign("h2s_test_y", y)
    r_t = r_bridge.r_eval("sapply(1:ncol(h2s_test_X), function(j) t.test(h2s_test_X[h2s_test_y == 1, j], "
                          "h2s_test_X[h2s_test_y == 0, j], var.equal = TRUE)$p.value)")
    r_welch = r_bridge.r_eval("sapply(1:ncol(h2s_test_X), function(j) t.test(h2s_test_X[h2s_test_y == 1, j], "
                              "h2s_test_X[h2s_test_y == 0, j])$p.value)")
    r_w = r_bridge.r_eval("sapply(1:ncol(h2s_test_X), function(j) wilcox.test(h2s_test_X[h2s_test_y == 1, j], "
                          "h2s_test_X[h2s_test_y == 0, j], exact = FALSE, correct = TRUE)$p.value)")
    for test, ref in (("t", r_t), ("welch", r_welch), ("mwu", r_w)):
        f = UnivariateFilter(test=test).fit(X, y)
        np.testing.assert_allclose(f.report_["p_value"], ref, rtol=1e-9, atol=1e-14, err_msg=test)


@pytest.mark.r
def test_ks_normality_matches_r_exact_and_asymptotic():
    from her2stats import r_bridge

    rng = np.random.default_rng(5)
    for n in (25, 140):  # R: exact distribution below 100 observations, asymptotic above
        M = np.column_stack([rng.normal(size=n), rng.exponential(size=n), rng.uniform(size=n)])
        r_bridge.assign("h2s_test_M", M)
        ref = r_bridge.r_eval("sapply(1:ncol(h2s_test_M), function(j) { x <- h2s_test_M[, j]; "
                              "ks.test(x, 'pnorm', mean(x), sd(x))$p.value })")
        np.testing.assert_allclose(ks_normality_pvalues(M), ref, rtol=1e-9, atol=1e-12)


@pytest.mark.r
def test_p_adjust_matches_r():
    from her2stats import r_bridge

    p = np.array([0.001, 0.02, 0.03, 0.2, 0.04, 0.5, 0.011])
    for ours, theirs in (("fdr_bh", "BH"), ("BH", "BH"), ("bonferroni", "bonferroni"), ("holm", "holm"), ("BY", "BY")):
        ref = r_bridge.call("p.adjust", p, method=theirs)
        np.testing.assert_allclose(adjust_pvalues(p, ours), ref, rtol=1e-12)


def test_univariate_selects_and_reports(two_groups):
    X, y = two_groups
    f = UnivariateFilter(test="t", alpha=0.05).fit(X, y)
    rep = f.report_.set_index("feature")
    assert rep.loc["shift", "kept"] and not rep.loc["noise", "kept"]
    out = f.transform(X)
    assert isinstance(out, pd.DataFrame) and list(out.columns) == list(f.get_feature_names_out())
    assert out.index.equals(X.index)
    # arrays in, arrays out, same selection by position
    arr = UnivariateFilter(test="t").fit(X.to_numpy(), y).transform(X.to_numpy())
    np.testing.assert_array_equal(arr, out.to_numpy())
    # reordered test columns are matched by name
    pd.testing.assert_frame_equal(f.transform(X[X.columns[::-1]]), out)


def test_univariate_auto_uses_normality_choice(two_groups):
    X, y = two_groups
    f = UnivariateFilter(test="auto").fit(X, y)
    rep = f.report_.set_index("feature")
    # log-normal groups fail the KS normality check -> rank-sum test; gaussian ones -> t-test
    assert rep.loc["skewed", "test"] == "mwu"
    assert rep.loc["shift", "test"] == "t"
    g1, g0 = X.loc[y == 1, "shift"], X.loc[y == 0, "shift"]
    assert ks_normality_pvalues(g1.to_numpy()[:, None])[0] > 0.05
    assert ks_normality_pvalues(g0.to_numpy()[:, None])[0] > 0.05


def test_univariate_adjustment_and_min_features(two_groups):
    X, y = two_groups
    raw = UnivariateFilter(test="t").fit(X, y).report_
    adj = UnivariateFilter(test="t", p_adjust="fdr_bh").fit(X, y).report_
    assert (adj["p_adjusted"] >= raw["p_value"] - 1e-15).all()
    # pure noise: nothing passes, min_features keeps the smallest p and says so
    rng = np.random.default_rng(0)
    noise = pd.DataFrame(rng.normal(size=(40, 6)), columns=list("abcdef"))
    yy = np.r_[np.ones(20), np.zeros(20)]
    f = UnivariateFilter(alpha=1e-6, min_features=1).fit(noise, yy)
    assert f.support_.sum() == 1 and f.n_forced_ == 1
    best = f.report_.loc[f.report_["p_value"].idxmin(), "feature"]
    assert list(f.get_feature_names_out()) == [best]
    assert "min_features" in f.report_.loc[f.report_["kept"], "reason"].iloc[0]
    f0 = UnivariateFilter(alpha=1e-6, min_features=0).fit(noise, yy)
    assert f0.transform(noise).shape == (40, 0)


def test_univariate_constant_column_is_reported_not_kept(two_groups):
    X, y = two_groups
    Xc = X.assign(const=1.0)
    rep = UnivariateFilter().fit(Xc, y).report_.set_index("feature")
    assert not rep.loc["const", "kept"] and rep.loc["const", "reason"] == "constant in training data"


@pytest.mark.parametrize("kwargs, match", [
    ({"test": "anova"}, "test must be"),
    ({"alpha": 0}, "alpha"),
    ({"p_adjust": "sidak2"}, "p_adjust"),
    ({"normality": "lilliefors"}, "normality"),
])
def test_univariate_bad_params(two_groups, kwargs, match):
    X, y = two_groups
    with pytest.raises(InputError, match=match):
        UnivariateFilter(**kwargs).fit(X, y)


def test_bad_inputs_name_the_column(two_groups):
    X, y = two_groups
    bad = X.copy()
    bad.iloc[3, 1] = np.nan
    with pytest.raises(InputError, match=r"'noise'.*case003"):
        UnivariateFilter().fit(bad, y)
    with pytest.raises(InputError, match="not numeric"):
        UnivariateFilter().fit(X.assign(site="A"), y)
    with pytest.raises(InputError, match="exactly two classes"):
        UnivariateFilter().fit(X, np.arange(len(X)) % 3)
    with pytest.raises(InputError, match="70 rows"):
        UnivariateFilter().fit(X, y[:-1])
    f = UnivariateFilter().fit(X, y)
    with pytest.raises(InputError, match="lacks column"):
        f.transform(X.drop(columns=["shift"]))


# --------------------------------------------------------------------------- correlation
def test_correlation_filter_drops_weaker_member_of_each_pair():
    rng = np.random.default_rng(3)
    n = 200
    y = rng.integers(0, 2, n)
    strong = rng.normal(size=n) + 1.0 * y
    X = pd.DataFrame({
        "a_weaker_copy": strong + 1.2 * rng.normal(size=n),   # |r| with strong ~0.7: below 0.8, kept
        "strong": strong,
        "independent": rng.normal(size=n),
        "near_copy": strong + 0.1 * rng.normal(size=n),
    })
    f = CorrelationFilter(threshold=0.8).fit(X, y)
    rep = f.report_.set_index("feature")
    r = X.corr().abs()
    assoc = X.apply(lambda c: abs(np.corrcoef(c, y)[0, 1]))
    np.testing.assert_allclose(f.association_.to_numpy(), assoc.to_numpy(), rtol=1e-12)
    # near_copy and strong are correlated > 0.8; the one less associated with y is dropped
    loser = "near_copy" if assoc["near_copy"] < assoc["strong"] else "strong"
    winner = "strong" if loser == "near_copy" else "near_copy"
    assert r.loc["near_copy", "strong"] > 0.8
    assert not rep.loc[loser, "kept"] and rep.loc[loser, "dropped_for"] == winner
    assert rep.loc["independent", "kept"]
    assert 0.5 < r.loc["a_weaker_copy", "strong"] < 0.8 and rep.loc["a_weaker_copy", "kept"]
    # every kept pair is below the threshold
    kept = list(f.get_feature_names_out())
    sub = r.loc[kept, kept].to_numpy()
    assert (sub[~np.eye(len(kept), dtype=bool)] <= 0.8).all()


def test_correlation_filter_greedy_chain_and_spearman():
    # chain a-b-c: a~b and b~c correlated, a and c not; association order b > a > c.
    # Greedy: keep b, drop a and c (both blocked by b) -- documented behaviour.
    rng = np.random.default_rng(8)
    n = 400
    base = rng.normal(size=(n, 2))
    b = base[:, 0] + base[:, 1]
    a = base[:, 0] * 1.9 + 0.25 * rng.normal(size=n)
    c = base[:, 1] * 1.9 + 0.25 * rng.normal(size=n)
    y = (b + 0.5 * rng.normal(size=n) > 0).astype(int)
    X = pd.DataFrame({"a": a, "b": b, "c": c})
    f = CorrelationFilter(threshold=0.6).fit(X, y)
    assert list(f.get_feature_names_out()) == ["b"]
    # Spearman is invariant to monotone transforms
    Xm = X.assign(a=np.exp(X["a"]), b=X["b"] ** 3)
    fs = CorrelationFilter(threshold=0.6, method="spearman").fit(X, y)
    fm = CorrelationFilter(threshold=0.6, method="spearman").fit(Xm, y)
    np.testing.assert_array_equal(fs.support_, fm.support_)
    np.testing.assert_allclose(fs.association_, fm.association_, rtol=1e-12)
    with pytest.raises(InputError, match="threshold"):
        CorrelationFilter(threshold=1.5).fit(X, y)
    with pytest.raises(InputError, match="method"):
        CorrelationFilter(method="kendall").fit(X, y)
    with pytest.raises(InputError, match="required"):
        CorrelationFilter().fit(X)


# --------------------------------------------------------------------------- ICC
def _repeated(rng, n_cases=30, n_raters=2):
    truth = rng.normal(size=(n_cases, 1, 3)) * np.array([1.0, 1.0, 0.2])
    err = rng.normal(size=(n_cases, n_raters, 3)) * np.array([0.1, 1.0, 1.0])
    return truth + err  # feature 0 reproducible, 1 and 2 not


def test_icc_filter_array_and_long_frame_agree():
    from her2stats.stats.agreement import icc_many

    rng = np.random.default_rng(2)
    values = _repeated(rng)
    f = ICCFilter(threshold=0.9).fit(values)
    np.testing.assert_allclose(f.icc_.to_numpy(), icc_many(values, "ICC2,1"), rtol=1e-12)
    assert list(f.get_feature_names_out()) == ["x0"]
    long = pd.DataFrame(
        [{"case_id": f"c{t}", "rater": r, "glcm": values[t, r, 0], "edge": values[t, r, 1], "size": values[t, r, 2]}
         for t in range(values.shape[0]) for r in range(values.shape[1])]
    ).sample(frac=1.0, random_state=0)  # row order must not matter
    g = ICCFilter(threshold=0.9).fit(long)
    np.testing.assert_allclose(g.icc_.to_numpy(), f.icc_.to_numpy(), rtol=1e-12)
    design = pd.DataFrame(rng.normal(size=(5, 3)), columns=["size", "glcm", "edge"])
    assert list(g.transform(design).columns) == ["glcm"]


@pytest.mark.r
def test_icc_filter_values_match_psych_icc():
    from her2stats import r_bridge

    r_bridge.require("psych")
    values = _repeated(np.random.default_rng(6), n_cases=25, n_raters=3)
    f = ICCFilter(threshold=0.75, kind="ICC2,1").fit(values)
    for j in range(values.shape[2]):
        r_bridge.assign("h2s_test_ratings", values[:, :, j])  # targets x raters
        ref = r_bridge.r_eval("psych::ICC(h2s_test_ratings, lmer = FALSE)$results$ICC[2]")  # ICC2 (Shrout-Fleiss 2,1)
        assert abs(f.icc_.iloc[j] - ref) < 1e-9
    assert list(f.get_feature_names_out()) == ["x0"]


def test_icc_filter_in_pipeline_with_repeated_table():
    rng = np.random.default_rng(4)
    values = _repeated(rng)
    long = pd.DataFrame([{"case_id": t, "rater": r, **{f"x{j}": values[t, r, j] for j in range(3)}}
                         for t in range(values.shape[0]) for r in range(values.shape[1])])
    X = pd.DataFrame(rng.normal(size=(60, 3)), columns=["x0", "x1", "x2"])
    y = (X["x0"] + rng.normal(size=60) > 0).astype(int)
    pipe = make_pipeline(ICCFilter(threshold=0.75, repeated=long), LogisticRegression()).fit(X, y)
    assert list(pipe[0].get_feature_names_out()) == ["x0"]
    assert pipe[-1].coef_.shape == (1, 1)
    clone(pipe).fit(X, y)  # sklearn clone / get_params round-trip
    with pytest.raises(InputError, match="no repeated measurements"):
        ICCFilter(repeated=long).fit(X.assign(x9=1.0), y)


def test_icc_filter_incomplete_layout_names_the_gap():
    long = pd.DataFrame({"case_id": ["a", "a", "b"], "rater": [1, 2, 1], "f": [1.0, 1.1, 2.0]})
    with pytest.raises(InputError, match=r"case 'b' has no measurement by rater 2"):
        ICCFilter().fit(long)
    dup = pd.DataFrame({"case_id": ["a", "a"], "rater": [1, 1], "f": [1.0, 1.1]})
    with pytest.raises(InputError, match="more than one row"):
        ICCFilter().fit(dup)
    with pytest.raises(InputError, match="no column 'reader'"):
        ICCFilter(rater_col="reader").fit(long)
    with pytest.raises(InputError, match="3-D"):
        repeated_to_array(np.zeros((4, 2)))


# --------------------------------------------------------------------------- PCA
def test_pca_compresses_and_fits_on_training_rows_only():
    rng = np.random.default_rng(1)
    latent = rng.normal(size=(120, 8))
    X = pd.DataFrame(latent @ rng.normal(size=(8, 300)) + 0.01 * rng.normal(size=(120, 300)),
                     columns=[f"resnet50_{j:04d}" for j in range(300)])
    pca = make_pca(64).fit(X.iloc[:100])
    out = pca.transform(X.iloc[100:])
    assert out.shape == (20, 64) and list(out.columns[:2]) == ["pca0", "pca1"]
    # components depend on the training rows only
    again = make_pca(64).fit(X.iloc[:100])
    np.testing.assert_allclose(np.abs(again.components_), np.abs(pca.components_), atol=1e-10)
    # 8 latent factors carry nearly all the variance
    assert pca.explained_variance_ratio_[:8].sum() > 0.99
    scaled = make_pca(5, scale=True).fit(X)
    assert list(scaled.transform(X).columns) == [f"pca{j}" for j in range(5)]
    with pytest.raises(InputError, match="n_components"):
        make_pca(0)
