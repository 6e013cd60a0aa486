"""Chi-square, mutual-information and K-means feature-cluster filters (seed 004), the ICC filter's
``>`` / ``>=`` rule (seeds 000 and 004), and seed 002's p-value stepwise selection (both engines:
R glm/anova and Python statsmodels, same path to 1e-6; each test statistic checked against an
independent statsmodels computation)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from her2stats.errors import InputError
from her2stats.selection import (
    ChiSquareFilter,
    FeatureClusterFilter,
    ICCFilter,
    LogisticStepwiseSelector,
    MutualInfoFilter,
)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(11)
    n = 160
    X = pd.DataFrame(rng.normal(size=(n, 6)), columns=["a", "b", "c", "d", "e", "f"])
    y = (X["a"] + X["b"] + 0.6 * rng.normal(size=n) > 0).astype(int).to_numpy()
    X["grade"] = rng.integers(1, 4, n).astype(float)          # three levels: its own categories
    X["const"] = 1.0
    return X, y


@pytest.fixture(scope="module")
def birthwt(test_data_dir):
    d = pd.read_csv(test_data_dir / "birthwt.csv")
    d["race"] = d["race"].map({1: "white", 2: "black", 3: "other"})
    return d


# --------------------------------------------------------------------------- chi-square
def test_binned_chi_square_is_pearsons_test_on_training_quartiles(data):
    X, y = data
    f = ChiSquareFilter(alpha=0.05).fit(X, y)
    rep = f.report_.set_index("feature")
    for col in ["a", "b", "c"]:
        edges = np.quantile(X[col], [0.25, 0.5, 0.75])
        group = np.digitize(X[col], edges)
        table = pd.crosstab(group, y).to_numpy()
        chi2, p, dof, _ = stats.chi2_contingency(table, correction=False)
        assert np.isclose(rep.loc[col, "statistic"], chi2, rtol=1e-12) and rep.loc[col, "df"] == dof == 3
        assert np.isclose(rep.loc[col, "p_value"], p, rtol=1e-10)
    grade_table = pd.crosstab(X["grade"], y).to_numpy()          # <= bins distinct values: own categories
    assert np.isclose(rep.loc["grade", "statistic"], stats.chi2_contingency(grade_table, correction=False)[0])
    assert rep.loc["grade", "df"] == 2
    assert rep.loc["const", "reason"] == "constant in training data" and not rep.loc["const", "kept"]
    assert {"a", "b"} <= set(f.get_feature_names_out()) and "e" not in set(f.get_feature_names_out())
    # transform on new rows uses the training decision only
    assert list(f.transform(X.iloc[:5]).columns) == list(f.get_feature_names_out())
    top = ChiSquareFilter(k=2).fit(X, y)
    assert set(top.get_feature_names_out()) == set(rep.sort_values("statistic", ascending=False).index[:2])


@pytest.mark.r
def test_binned_chi_square_matches_r_chisq_test(data):
    from her2stats import r_bridge

    X, y = data
    f = ChiSquareFilter(alpha=0.05).fit(X, y)
    for j, col in enumerate(["a", "b", "c", "grade"]):
        e = f.edges_[list(X.columns).index(col)]
        group = np.digitize(X[col], e) if e is not None else np.unique(X[col], return_inverse=True)[1]
        r_bridge.assign("h2s_test_g", group.astype(float))
        r_bridge.assign("h2s_test_y", y.astype(float))
        out = np.asarray(r_bridge.r_eval("{t <- suppressWarnings(chisq.test(table(h2s_test_g, h2s_test_y), "
                                         "correct = FALSE)); c(t$statistic, t$parameter, t$p.value)}"), float)
        row = f.report_.set_index("feature").loc[col]
        np.testing.assert_allclose([row["statistic"], row["df"], row["p_value"]], out, rtol=1e-10)


def test_sklearn_chi_square_score_on_training_min_max(data):
    from sklearn.feature_selection import chi2
    from sklearn.preprocessing import MinMaxScaler

    X, y = data
    Xs = X.drop(columns="const")
    f = ChiSquareFilter(k=3, method="sklearn").fit(Xs, y)
    ref_stat, ref_p = chi2(MinMaxScaler().fit_transform(Xs), y)
    np.testing.assert_allclose(f.report_["statistic"], ref_stat, rtol=1e-12)
    np.testing.assert_allclose(f.report_["p_value"], ref_p, rtol=1e-10)
    assert f.support_.sum() == 3
    with pytest.raises(InputError, match="method"):
        ChiSquareFilter(method="exact").fit(Xs, y)
    with pytest.raises(InputError, match="give k"):
        ChiSquareFilter(k=None, alpha=None).fit(Xs, y)


# --------------------------------------------------------------------------- mutual information
def test_mutual_information_discrete_is_the_plug_in_estimate(data):
    X, y = data
    f = MutualInfoFilter(k=1, discrete=["grade"]).fit(X[["grade", "a"]], y)
    joint = pd.crosstab(X["grade"], y, normalize=True).to_numpy()
    px, py = joint.sum(1, keepdims=True), joint.sum(0, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        hand = np.nansum(joint * np.log(joint / (px @ py)))
    assert np.isclose(f.mi_["grade"], hand, rtol=1e-10)
    g = MutualInfoFilter(k=2, seed=3).fit(X, y)
    assert set(g.get_feature_names_out()) == {"a", "b"}
    np.testing.assert_array_equal(g.mi_.to_numpy(), MutualInfoFilter(k=2, seed=3).fit(X, y).mi_.to_numpy())
    assert np.isnan(g.mi_["const"])
    with pytest.raises(InputError, match="not features"):
        MutualInfoFilter(k=1, discrete=["nope"]).fit(X, y)


# --------------------------------------------------------------------------- K-means of features
def test_feature_clusters_keep_the_larger_correlated_block():
    rng = np.random.default_rng(4)
    n = 80
    u, v = rng.normal(size=n), rng.normal(size=n)
    big = {f"u{i}": u + 0.3 * rng.normal(size=n) for i in range(6)}
    small = {f"v{i}": v + 0.3 * rng.normal(size=n) for i in range(3)}
    X = pd.DataFrame({**small, **big})
    f = FeatureClusterFilter(n_clusters=2, seed=0).fit(X)
    assert set(f.get_feature_names_out()) == set(big)
    assert sorted(f.sizes_.tolist()) == [3, 6] and f.labels_[0] == 0     # relabelled by first appearance
    again = FeatureClusterFilter(n_clusters=2, seed=0).fit(X)
    np.testing.assert_array_equal(f.labels_, again.labels_)
    with pytest.raises(InputError, match="n_clusters"):
        FeatureClusterFilter(n_clusters=1).fit(X)


# --------------------------------------------------------------------------- ICC > vs >=
def test_icc_comparison_strict_or_not():
    rng = np.random.default_rng(2)
    truth = rng.normal(size=(30, 1, 4))
    rep = truth + rng.normal(scale=[0.2, 0.6, 1.0, 2.0], size=(30, 2, 4))
    icc = ICCFilter(threshold=0.5).fit(rep).icc_
    at = float(icc.iloc[1])
    ge = ICCFilter(threshold=at, comparison=">=").fit(rep)
    gt = ICCFilter(threshold=at, comparison=">").fit(rep)
    assert ge.support_[1] and not gt.support_[1]
    assert list(ge.support_) == list(icc >= at) and list(gt.support_) == list(icc > at)
    with pytest.raises(InputError, match="comparison"):
        ICCFilter(comparison="=>").fit(rep)


# --------------------------------------------------------------------------- p-value stepwise
def _sm_stats(d, y, base, extra):
    """Independent LR, score and Wald statistics for adding ``extra`` (numeric) to ``base``."""
    import statsmodels.api as sm

    X0 = sm.add_constant(d[base].to_numpy(float)) if base else np.ones((len(d), 1))
    X1 = np.column_stack([X0, d[[extra]].to_numpy(float)])
    m0 = sm.GLM(y, X0, family=sm.families.Binomial()).fit(tol=1e-12)
    m1 = sm.GLM(y, X1, family=sm.families.Binomial()).fit(tol=1e-12)
    lr = m0.deviance - m1.deviance
    score = float(m0.score_test(exog_extra=d[[extra]].to_numpy(float))[0][0])
    wald = float(m1.wald_test(np.eye(X1.shape[1])[[-1]], scalar=True).statistic)
    return {"lr": lr, "score": score, "wald": wald}


@pytest.mark.parametrize("test", ["lr", "score", "wald"])
def test_forward_p_stepwise_statistics_are_the_textbook_tests(birthwt, test):
    import her2stats as h2

    d = birthwt
    cov = ["age", "lwt", "smoke", "ptl", "ht", "ui", "ftv"]
    res = h2.logistic_table(d, "low", cov, univariable=False, stepwise="forward", criterion="p", test=test,
                            p_enter=0.10, p_remove=0.15, engine="python")
    steps = res.steps
    assert steps["change"].iloc[0] == "" and len(steps) >= 3
    y = d["low"].to_numpy(float)
    model: list[str] = []
    for _, row in steps.iloc[1:].iterrows():
        sign, name = row["change"].split(" ")
        assert sign == "+"
        # the entered term has the smallest p among every candidate, which is below p_enter
        cands = [c for c in cov if c not in model]
        ps = {c: stats.chi2.sf(_sm_stats(d, y, model, c)[test], 1) for c in cands}
        assert name == min(ps, key=ps.get)
        assert np.isclose(row["p_value"], ps[name], rtol=1e-6) and row["p_value"] < 0.10
        assert np.isclose(row["statistic"], _sm_stats(d, y, model, name)[test], rtol=1e-6)
        model.append(name)
    # stopping: no remaining candidate would enter
    rest = [c for c in cov if c not in model]
    assert all(stats.chi2.sf(_sm_stats(d, y, model, c)[test], 1) >= 0.10 for c in rest)
    assert list(res.selected) == model
    assert any("p-values" in f for f in res.footnotes)


def test_backward_p_stepwise_removes_the_largest_p_above_p_remove(birthwt):
    import her2stats as h2

    cov = ["age", "lwt", "race", "smoke", "ptl", "ht", "ui", "ftv"]
    res = h2.logistic_table(birthwt, "low", cov, univariable=False, stepwise="backward", criterion="p",
                            p_enter=0.05, p_remove=0.20, engine="python")
    removed = [c.split(" ")[1] for c in res.steps["change"].iloc[1:]]
    assert set(removed) | set(res.selected) == set(cov) and all(r not in res.selected for r in removed)
    assert (res.steps["p_value"].iloc[1:] > 0.20).all()
    # every kept term would be kept: its likelihood-ratio p in the final model is <= p_remove
    final = h2.logistic_table(birthwt, "low", list(res.selected), univariable=False, engine="python")
    assert final.n == res.n
    with pytest.raises(InputError, match="p_enter"):
        h2.logistic_table(birthwt, "low", cov, stepwise="both", criterion="p", p_enter=0.2, p_remove=0.1)
    with pytest.raises(InputError, match="test"):
        h2.logistic_table(birthwt, "low", cov, stepwise="both", criterion="p", test="f")


@pytest.mark.r
@pytest.mark.parametrize("test", ["lr", "score", "wald"])
@pytest.mark.parametrize("direction", ["forward", "backward", "both"])
def test_p_stepwise_engines_agree(birthwt, test, direction):
    import her2stats as h2

    cov = ["age", "lwt", "race", "smoke", "ptl", "ht", "ui", "ftv"]
    kw = dict(univariable=False, stepwise=direction, criterion="p", test=test, p_enter=0.10, p_remove=0.15)
    py = h2.logistic_table(birthwt, "low", cov, engine="python", **kw)
    r = h2.logistic_table(birthwt, "low", cov, engine="r", **kw)
    assert py.selected == r.selected
    assert list(py.steps["change"]) == list(r.steps["change"])
    cols = ["statistic", "p_value", "criterion"]
    # R's Rao statistic comes from one weighted least-squares step at the smaller glm's working
    # weights, which converges to 1e-12 there; the closed form here differs by ~1e-6 relative
    rtol = 1e-5 if test == "score" else 1e-6
    np.testing.assert_allclose(py.steps[cols].to_numpy(float), r.steps[cols].to_numpy(float), rtol=rtol)
    np.testing.assert_allclose(py.multivariable["estimate"], r.multivariable["estimate"], rtol=1e-6)


# --------------------------------------------------------------------------- seed 002's chain
def test_seed002_chain_prefilter_stepwise_final_p(birthwt):
    import her2stats as h2

    d = birthwt
    X = d[["age", "lwt", "smoke", "ptl", "ht", "ui", "ftv"]].astype(float)
    y = d["low"].to_numpy()
    sel = LogisticStepwiseSelector(prefilter_p=0.1, direction="both", criterion="p", final_p=0.05,
                                   engine="python").fit(X, y)
    full = h2.logistic_table(d.assign(outcome=y), "outcome", list(X.columns), univariable=False, engine="python")
    p_full = full.multivariable.set_index("variable")["p"]
    passed = [c for c in X.columns if p_full[c] < 0.1]
    rep = sel.report_.set_index("feature")
    assert list(rep.index[rep["passed_prefilter"]]) == passed
    np.testing.assert_allclose(rep["p_multivariable"], p_full.reindex(X.columns), rtol=1e-12)
    assert set(sel.get_feature_names_out()) <= set(rep.index[rep["in_stepwise_model"]])
    assert (rep.loc[rep["kept"], "p_final"] < 0.05).all()
    assert sel.transform(X).shape[1] == sel.support_.sum() >= 1


@pytest.mark.r
def test_seed002_chain_same_on_both_engines(birthwt):
    X = birthwt[["age", "lwt", "smoke", "ptl", "ht", "ui", "ftv"]].astype(float)
    y = birthwt["low"].to_numpy()
    a = LogisticStepwiseSelector(engine="python").fit(X, y).report_
    b = LogisticStepwiseSelector(engine="r").fit(X, y).report_
    pd.testing.assert_frame_equal(a[["feature", "passed_prefilter", "in_stepwise_model", "kept"]],
                                  b[["feature", "passed_prefilter", "in_stepwise_model", "kept"]])
    np.testing.assert_allclose(a["p_multivariable"], b["p_multivariable"], rtol=1e-6)
