"""Multiple imputation (issue 17): MiceImputer, Rubin's rules, pooled models and performance,
bootstrap-then-impute validation.

References: R ``mice`` 3.15 (Debian r-cran-mice): ``mice::pool(as.mira(<glm fits>))`` and
``mice::pool.scalar`` on the same per-imputation estimates (tolerance 1e-9: closed form), the
per-imputation fits through two fitters (1e-6), and ``mice::mice`` itself, whose random stream
differs from the Python engine's: imputations are compared in distribution (z < 4 on Monte-Carlo
standard errors). Data: ``mice::boys`` and ``mice::nhanes2`` (tests/data/README.md) and simulated
HER2-like cohorts.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from her2stats.errors import InputError
from her2stats.stats.imputation import (MiceImputer, MultipleImputation, fit_lrm_mi, performance_mi, pool, rubin,
                                        validate_mi)

COVS = ["age", "grade", "er", "ki67"]


def _boys(test_data_dir) -> pd.DataFrame:
    b = pd.read_csv(test_data_dir / "boys.csv")
    b["gen"] = pd.Categorical(b.gen, categories=["G1", "G2", "G3", "G4", "G5"], ordered=True)
    b["phb"] = pd.Categorical(b.phb, categories=["P1", "P2", "P3", "P4", "P5", "P6"], ordered=True)
    b["reg"] = pd.Categorical(b.reg, categories=["north", "east", "west", "south", "city"])
    return b


@pytest.fixture(scope="module")
def boys(test_data_dir) -> pd.DataFrame:
    return _boys(test_data_dir)


def her2_cohort(n: int = 600, seed: int = 3, missing: bool = True) -> pd.DataFrame:
    """Age, ordered grade, 0/1 ER, ki67 and a HER2 outcome; predictors missing more often in
    HER2-positive patients (MAR given the outcome)."""
    rng = np.random.default_rng(seed)
    age = rng.normal(55, 10, n)
    grade = pd.Categorical(rng.choice(["1", "2", "3"], n, p=[.2, .4, .4]), categories=["1", "2", "3"], ordered=True)
    er = (rng.random(n) < 0.7).astype(float)
    ki67 = np.round(np.exp(rng.normal(3, 0.5, n)), 1)
    lp = -1 + 0.03 * (age - 55) + 0.5 * grade.codes - 1.0 * er + 0.02 * ki67
    y = (rng.random(n) < 1 / (1 + np.exp(-lp))).astype(int)
    df = pd.DataFrame({"age": age, "grade": grade, "er": er, "ki67": ki67, "her2": y},
                      index=[f"P{i:04d}" for i in range(n)])
    if missing:
        for c, pm in [("age", .08), ("grade", .25), ("er", .12), ("ki67", .15)]:
            df.loc[rng.random(n) < pm * (0.5 + y), c] = np.nan
    return df


@pytest.fixture(scope="module")
def cohort() -> pd.DataFrame:
    return her2_cohort()


@pytest.fixture(scope="module")
def dev_test(cohort):
    return cohort.iloc[:400], cohort.iloc[400:]


@pytest.fixture(scope="module")
def fitted(dev_test):
    dev, _ = dev_test
    return MiceImputer(m=5, outcome="her2", seed=2, engine="python").fit(dev)


# =========================================================================== the imputer
def test_imputations_are_complete_keep_observed_values_types_and_pmm_donates_observed_values(boys):
    mi = MiceImputer(m=3, seed=1, engine="python").fit_transform(boys)
    assert isinstance(mi, MultipleImputation) and len(mi) == 3 and mi.role == "development"
    assert mi.methods == {"age": "", "hgt": "pmm", "wgt": "pmm", "bmi": "pmm", "hc": "pmm", "gen": "polr",
                          "phb": "polr", "tv": "pmm", "reg": "polyreg"}
    for d in mi:
        assert not d.isna().any().any()
        assert list(d.columns) == list(boys.columns) and d.index.equals(boys.index)
        for c in boys.columns:
            obs = boys[c].notna()
            assert d.loc[obs, c].equals(boys.loc[obs, c]), c
            assert d[c].dtype == boys[c].dtype, c
        for c in ("hgt", "wgt", "bmi", "hc", "tv"):  # pmm takes an observed value
            assert set(d.loc[mi.missing[c], c]) <= set(boys[c].dropna())
    assert mi.n_imputed["tv"] == int(boys.tv.isna().sum())
    assert mi.n_incomplete_rows == int(boys.isna().any(axis=1).sum())
    frame = mi.to_frame()
    assert frame.loc["tv", "n_missing"] == boys.tv.isna().sum() and frame.loc["tv", "method"] == "pmm"
    long = mi.long()
    assert len(long) == 3 * len(boys) and list(long.columns[:2]) == [".imp", ".id"]


def test_types_and_methods_by_column_kind():
    rng = np.random.default_rng(0)
    n = 120
    df = pd.DataFrame({
        "x": rng.normal(size=n), "flag01": rng.integers(0, 2, n).astype(float), "b": rng.random(n) < 0.4,
        "txt": rng.choice(["a", "b", "c"], n), "two": rng.choice(["lo", "hi"], n),
        "ordc": pd.Categorical(rng.choice(["I", "II", "III"], n), categories=["I", "II", "III"], ordered=True),
        "const": np.ones(n), "cnt": rng.integers(0, 9, n),
    })
    df["b"] = df["b"].astype(object)
    for c in df.columns:
        df.loc[rng.random(n) < 0.15, c] = np.nan if c not in ("b",) else None
    mi = MiceImputer(m=2, seed=4, engine="python").fit_transform(df)
    assert mi.methods == {"x": "pmm", "flag01": "logreg", "b": "logreg", "txt": "polyreg", "two": "logreg",
                          "ordc": "polr", "const": "constant", "cnt": "pmm"}
    d = mi[0]
    assert set(d.flag01) == {0.0, 1.0} and set(d.b) == {True, False}
    assert set(d.txt) == {"a", "b", "c"} and set(d.two) == {"lo", "hi"} and set(d["const"]) == {1.0}
    assert d.ordc.dtype == df.ordc.dtype
    mi2 = MiceImputer(m=2, seed=4, method={"x": "norm", "flag01": "pmm"}, engine="python").fit_transform(df)
    assert mi2.methods["x"] == "norm" and mi2.methods["flag01"] == "pmm"
    assert not set(mi2[0].loc[mi2.missing.x, "x"]) <= set(df.x.dropna())  # norm draws new values


def test_seeded_reproducible_and_independent_of_the_scheduler(dev_test):
    dev, _ = dev_test
    a = MiceImputer(m=4, outcome="her2", seed=11, engine="python").fit_transform(dev)
    b = MiceImputer(m=4, outcome="her2", seed=11, engine="python", scheduler="threads").fit_transform(dev)
    c = MiceImputer(m=4, outcome="her2", seed=12, engine="python").fit_transform(dev)
    assert all(x.equals(y) for x, y in zip(a, b))
    assert not all(x.equals(y) for x, y in zip(a, c))
    # the m chains are independent streams: the first 2 of m=4 are the 2 of m=2
    d = MiceImputer(m=2, outcome="her2", seed=11, engine="python").fit_transform(dev)
    assert all(x.equals(y) for x, y in zip(a.datasets[:2], d))


def test_the_outcome_is_a_predictor_of_the_development_imputations(dev_test):
    dev, _ = dev_test
    a = MiceImputer(m=3, outcome="her2", seed=5, engine="python").fit_transform(dev)
    flipped = dev.assign(her2=1 - dev.her2)
    b = MiceImputer(m=3, outcome="her2", seed=5, engine="python").fit_transform(flipped)
    assert a.outcome_used and a.role == "development"
    assert not all(x.drop(columns="her2").equals(y.drop(columns="her2")) for x, y in zip(a, b))


def test_rows_without_outcome_are_refused(dev_test):
    dev, _ = dev_test
    bad = dev.copy()
    bad.iloc[[3, 7], bad.columns.get_loc("her2")] = np.nan
    with pytest.raises(InputError, match=r"outcome 'her2' is missing in 2 row"):
        MiceImputer(m=2, outcome="her2", engine="python").fit(bad)


# =========================================================================== new cohorts
def test_new_cohort_imputation_never_reads_the_outcome(fitted, dev_test):
    _, test = dev_test
    a = fitted.transform(test)
    assert a.role == "new data" and not a.outcome_used and len(a) == 5
    for other in (test.assign(her2=1 - test.her2), test.assign(her2=np.nan), test.drop(columns="her2")):
        b = fitted.transform(other)
        for x, y in zip(a, b):
            assert x.drop(columns="her2").equals(y.drop(columns="her2", errors="ignore"))
    for x in a:
        assert x.her2.equals(test.her2) and not x[COVS].isna().any().any()


def test_new_rows_never_enter_a_model(fitted, dev_test):
    """Changing observed values of one new row changes no other row's imputations: no fit, donor
    pool, augmentation statistic or starting value of the new-data chain uses the new rows."""
    _, test = dev_test
    a = fitted.transform(test)
    k = np.flatnonzero(test[COVS].notna().all(axis=1).to_numpy())[0]
    changed = test.copy()
    changed.iloc[k, changed.columns.get_loc("age")] = 500.0
    changed.iloc[k, changed.columns.get_loc("ki67")] = 1e4
    changed.iloc[k, changed.columns.get_loc("er")] = 1 - changed.iloc[k, changed.columns.get_loc("er")]
    b = fitted.transform(changed)
    keep = np.ones(len(test), bool)
    keep[k] = False
    for x, y in zip(a, b):
        assert x[keep].equals(y[keep])


def test_transform_is_reproducible_and_leaves_the_fit_unchanged(fitted, dev_test):
    dev, test = dev_test
    before = [d.copy() for d in fitted.imputations_]
    a = fitted.transform(test)
    b = fitted.transform(test)
    assert all(x.equals(y) for x, y in zip(a, b))
    assert all(x.equals(y) for x, y in zip(before, fitted.imputations_))


def test_variables_complete_in_development_are_imputed_in_new_data_from_development_values():
    df = her2_cohort(300, seed=8)
    dev, test = df.iloc[:200].copy(), df.iloc[200:].copy()
    dev["age"] = her2_cohort(300, seed=8, missing=False)["age"].iloc[:200]
    imp = MiceImputer(m=3, outcome="her2", seed=1, engine="python").fit(dev)
    assert imp.imputations_.methods["age"] == ""
    out = imp.transform(test)
    assert out.methods["age"] == "pmm"
    for d in out:
        assert set(d.loc[out.missing.age, "age"]) <= set(dev.age)  # donors are development rows


def test_unseen_category_in_new_data_is_refused(fitted, dev_test):
    _, test = dev_test
    bad = test.copy()
    bad["grade"] = bad["grade"].astype(object)
    bad.iloc[0, bad.columns.get_loc("grade")] = "4"
    with pytest.raises(InputError, match=r"column 'grade' has value\(s\) \['4'\] not seen"):
        fitted.transform(bad)


# =========================================================================== Rubin's rules
def test_rubin_rules_by_hand():
    """Rubin (1987) and Barnard & Rubin (1999), computed step by step."""
    Q = np.array([1.0, 2.0, 3.0, 2.5])
    U = np.array([0.10, 0.12, 0.08, 0.10])
    m = 4
    qbar, ubar, b = Q.mean(), U.mean(), Q.var(ddof=1)
    t = ubar + (1 + 1 / m) * b
    lam = (1 + 1 / m) * b / t
    dfold = (m - 1) / lam ** 2
    dfcom = 50.0
    dfobs = (dfcom + 1) / (dfcom + 3) * dfcom * (1 - lam)
    df = dfold * dfobs / (dfold + dfobs)
    riv = (1 + 1 / m) * b / ubar
    fmi = (riv + 2 / (df + 3)) / (riv + 1)
    from scipy.stats import t as tdist

    res = pool(Q, U, dfcom=dfcom, engine="python", names=["beta"]).table.loc["beta"]
    assert res["estimate"] == pytest.approx(qbar, abs=1e-15)
    assert res["t"] == pytest.approx(t, rel=1e-14) and res["se"] == pytest.approx(math.sqrt(t), rel=1e-14)
    assert res["df"] == pytest.approx(df, rel=1e-12) and res["fmi"] == pytest.approx(fmi, rel=1e-12)
    assert res["riv"] == pytest.approx(riv, rel=1e-12) and res["lambda"] == pytest.approx(lam, rel=1e-12)
    q = tdist.ppf(0.975, df)
    assert (res["ci_low"], res["ci_high"]) == pytest.approx((qbar - q * math.sqrt(t), qbar + q * math.sqrt(t)))
    inf = pool(Q, U, engine="python").table.iloc[0]
    assert inf["df"] == pytest.approx(dfold, rel=1e-12)
    # no between-imputation variance: lambda is floored at 1e-4 in the df, as mice
    same = pool([1.0, 1.0, 1.0], [0.1, 0.1, 0.1], engine="python").table.iloc[0]
    assert same["b"] == 0 and same["df"] == pytest.approx(2 / 1e-8)


@pytest.mark.r
def test_pool_matches_mice_pool_scalar():
    rng = np.random.default_rng(1)
    Q = rng.normal(size=(7, 3))
    U = rng.uniform(0.05, 0.2, size=(7, 3))
    for dfcom in (math.inf, 40.0):
        a = pool(Q, U, dfcom=dfcom, engine="python").table
        b = pool(Q, U, dfcom=dfcom, engine="r").table
        for col in ("estimate", "se", "df", "riv", "lambda", "fmi", "ci_low", "ci_high", "p_value"):
            np.testing.assert_allclose(a[col], b[col], rtol=1e-12, atol=1e-14, err_msg=f"{col} dfcom={dfcom}")


@pytest.mark.r
def test_fit_lrm_mi_matches_mice_pool_on_the_same_imputations(fitted):
    """The same completed data sets in both: R fits glm on each and pools with
    mice::pool(as.mira(fits)); Rubin's rules in Python on R's own per-fit estimates agree to
    1e-9, and the whole Python path (own Newton fits) to 1e-6."""
    from her2stats import r_bridge

    mi = fitted.imputations_
    py = fit_lrm_mi(mi, "her2", COVS, engine="python")
    frames = []
    for f in py.fits:
        X = f.design()[:, 1:]
        fr = pd.DataFrame(X, columns=r_bridge.safe_names(X.shape[1]))
        fr.insert(0, "y", f.y.astype(float))
        frames.append(fr)
    out = r_bridge.call("h2s_mi_pool_glm", frames, level=0.95)
    coef = np.asarray(out["coef"], float)
    se = np.asarray(out["se_each"], float)
    mine = rubin(coef, se ** 2, dfcom=float(out["dfcom"][0]))
    for key, rkey in (("qbar", "estimate"), ("ubar", "ubar"), ("b", "b"), ("t", "t"), ("df", "df"),
                      ("riv", "riv"), ("lambda", "lambda"), ("fmi", "fmi")):
        np.testing.assert_allclose(mine[key], np.asarray(out[rkey], float), rtol=1e-9, err_msg=key)
    assert float(out["dfcom"][0]) == py.dfcom == 400 - 6
    for col, rkey in (("estimate", "estimate"), ("se", "se"), ("df", "df"), ("fmi", "fmi"), ("ci_low", "ci_low"),
                      ("ci_high", "ci_high"), ("p_value", "p_value")):
        np.testing.assert_allclose(py.table[col], np.asarray(out[rkey], float), rtol=1e-6, atol=1e-9, err_msg=col)
    r = fit_lrm_mi(mi, "her2", COVS, engine="r")
    assert r.engine == "r" and r.fits[0].engine == "r"
    for col in ("estimate", "se", "df", "fmi", "ci_low", "ci_high", "odds_ratio", "or_ci_low", "or_ci_high"):
        np.testing.assert_allclose(py.table[col], r.table[col], rtol=1e-6, atol=1e-9, err_msg=col)


def test_fit_lrm_mi_pools_coefficients_and_predicts(fitted, dev_test):
    mi = fitted.imputations_
    model = fit_lrm_mi(mi, "her2", COVS, engine="python")
    from her2stats.stats.models import fit_lrm

    fits = [fit_lrm(d, "her2", COVS, engine="python") for d in mi]
    Q = np.vstack([f.coefficients for f in fits])
    np.testing.assert_allclose(model.coefficients, Q.mean(0), rtol=1e-12)
    np.testing.assert_allclose(model.table["odds_ratio"], np.exp(Q.mean(0)), rtol=1e-12)
    B = np.cov(Q, rowvar=False)
    Ubar = np.mean([f.vcov.to_numpy() for f in fits], axis=0)
    np.testing.assert_allclose(model.vcov, Ubar + (1 + 1 / len(fits)) * B, rtol=1e-12)
    np.testing.assert_allclose(model.table["se"] ** 2, np.diag(model.vcov), rtol=1e-10)
    assert list(model.table.index) == ["Intercept", "age", "grade=2", "grade=3", "er", "ki67"]
    d = mi[0]
    lp = model.design(d) @ Q.mean(0)
    np.testing.assert_allclose(model.predict(d), 1 / (1 + np.exp(-lp)), rtol=1e-12)
    with pytest.raises(InputError, match="still has missing values in 'age'"):
        fit_lrm_mi([dev_test[0], dev_test[0]], "her2", COVS)


def test_fit_lrm_mi_spline_knots_are_shared_by_every_imputation(fitted):
    model = fit_lrm_mi(fitted.imputations_, "her2", COVS, rcs={"age": 4}, engine="python")
    knots = {tuple(f.terms[0].knots) for f in model.fits}
    assert len(knots) == 1 and len(next(iter(knots))) == 4
    assert "age'" in model.coefficients.index


# =========================================================================== pooled performance
def test_performance_mi_pools_auc_on_the_logit_scale(fitted, dev_test):
    from her2stats.stats.roc import roc_auc

    _, test = dev_test
    model = fit_lrm_mi(fitted.imputations_, "her2", COVS, engine="python")
    te = fitted.transform(test)
    perf = performance_mi(model, te, thresholds=[0.2, 0.4], engine="python")
    aucs = [roc_auc(d.her2, model.predict(d), direction="<", engine="python") for d in te]
    q = np.array([math.log(a.auc / (1 - a.auc)) for a in aucs])
    u = np.array([a.se ** 2 / (a.auc * (1 - a.auc)) ** 2 for a in aucs])
    r = rubin(q, u)
    row = perf.table.set_index("measure").loc["auc"]
    assert row["estimate"] == pytest.approx(1 / (1 + math.exp(-r["qbar"][0])), rel=1e-12)
    assert row["se"] == pytest.approx(math.sqrt(r["t"][0]), rel=1e-12) and row["scale"] == "logit"
    assert row["ci_low"] < row["estimate"] < row["ci_high"]
    nb = perf.table[perf.table.measure == "net_benefit"]
    assert list(nb.threshold) == [0.2, 0.4]
    # net benefit of one imputation by hand
    d = te[0]
    p = model.predict(d)
    y = d.her2.to_numpy()
    pos = p >= 0.2
    assert perf.per_imputation.loc[1, "nb_0"] == pytest.approx(np.mean(y * pos) - np.mean((1 - y) * pos) * 0.25)
    assert perf.value("calibration_slope") == pytest.approx(perf.per_imputation["slope"].mean(), rel=1e-12)


@pytest.mark.r
def test_performance_mi_engines_agree(fitted, dev_test):
    _, test = dev_test
    model = fit_lrm_mi(fitted.imputations_, "her2", COVS, engine="python")
    te = fitted.transform(test)
    a = performance_mi(model, te, thresholds=[0.2, 0.4], engine="python")
    b = performance_mi(model, te, thresholds=[0.2, 0.4], engine="r")
    for col in ("estimate", "ci_low", "ci_high", "se", "df", "fmi"):
        np.testing.assert_allclose(a.table[col], b.table[col], rtol=1e-6, atol=1e-10, err_msg=col)
    np.testing.assert_allclose(a.per_imputation["auc"], b.per_imputation["auc"], rtol=1e-12)


# =========================================================================== R's mice
@pytest.mark.r
@pytest.mark.slow
def test_python_and_r_mice_impute_the_same_distributions(boys):
    """m = 20 chains per engine on mice::boys (pmm, polr, polyreg). For each variable, the mean of
    the imputed values per imputation; engines differ by z < 4 Monte-Carlo standard errors."""
    py = MiceImputer(m=20, seed=1, engine="python").fit_transform(boys)
    r = MiceImputer(m=20, seed=1, engine="r").fit_transform(boys)
    assert r.methods == py.methods and r.engine == "r"
    for c in ("hgt", "wgt", "bmi", "hc", "tv", "gen", "phb"):
        mask = py.missing[c].to_numpy()

        def means(mi):
            vals = [(d[c].cat.codes if isinstance(d[c].dtype, pd.CategoricalDtype) else d[c]).to_numpy(float)[mask]
                    for d in mi]
            return np.array([v.mean() for v in vals])

        a, b = means(py), means(r)
        se = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
        assert abs(a.mean() - b.mean()) < 4 * se + 1e-9, (c, a.mean(), b.mean(), se)
        for d in r:
            assert not d[c].isna().any()


@pytest.mark.r
@pytest.mark.slow
def test_r_engine_new_cohort_uses_mice_ignore_and_agrees_in_distribution(dev_test):
    dev, test = dev_test
    py = MiceImputer(m=20, outcome="her2", seed=3, engine="python").fit(dev)
    r = MiceImputer(m=20, outcome="her2", seed=3, engine="r").fit(dev)
    a, b = py.transform(test), r.transform(test)
    b2 = r.transform(test.assign(her2=1 - test.her2))  # the outcome is not read on the R engine either
    assert all(x.equals(y.assign(her2=x.her2)) for x, y in zip(b, b2))
    for c in ("age", "er", "ki67", "grade"):
        mask = a.missing[c].to_numpy()

        def means(mi):
            return np.array([(d[c].cat.codes if isinstance(d[c].dtype, pd.CategoricalDtype) else d[c])
                             .to_numpy(float)[mask].mean() for d in mi])

        x, y = means(a), means(b)
        se = math.sqrt(x.var(ddof=1) / len(x) + y.var(ddof=1) / len(y))
        assert abs(x.mean() - y.mean()) < 4 * se + 1e-9, (c, x.mean(), y.mean(), se)
    for d in b:
        assert not d[COVS].isna().any().any()


# =========================================================================== bias under MAR
@pytest.mark.slow
def test_multiple_imputation_removes_the_bias_of_complete_case_analysis_under_mar():
    """x1 is missing far more often in HER2-positive patients with x2 > 0 (MAR given the outcome and
    x2). Complete-case logistic regression is then biased for the intercept and x2's coefficient
    (selection depends on the outcome and x2 jointly); MICE with the outcome in the imputation
    model recovers them. 30 simulated cohorts of 500; true coefficients (-0.5, 1, 1)."""
    from her2stats.stats.models import fit_lrm

    beta = np.array([-0.5, 1.0, 1.0])
    cc, mi = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for r in range(30):
            rng = np.random.default_rng(1000 + r)
            n = 500
            x2 = rng.normal(size=n)
            x1 = 0.5 * x2 + math.sqrt(0.75) * rng.normal(size=n)
            y = (rng.random(n) < 1 / (1 + np.exp(-(beta[0] + beta[1] * x1 + beta[2] * x2)))).astype(int)
            x1m = np.where(rng.random(n) < np.where((y == 1) & (x2 > 0), 0.8, 0.1), np.nan, x1)
            d = pd.DataFrame({"x1": x1m, "x2": x2, "y": y})
            cc.append(fit_lrm(d, "y", ["x1", "x2"], engine="python").coefficients.to_numpy())
            imps = MiceImputer(m=5, outcome="y", seed=r, engine="python").fit_transform(d)
            mi.append(fit_lrm_mi(imps, "y", ["x1", "x2"], engine="python").coefficients.to_numpy())
    cc, mi = np.array(cc), np.array(mi)
    bias_cc, bias_mi = cc.mean(0) - beta, mi.mean(0) - beta
    mcse_cc, mcse_mi = cc.std(0, ddof=1) / math.sqrt(len(cc)), mi.std(0, ddof=1) / math.sqrt(len(mi))
    for k in (0, 2):  # intercept, x2
        assert abs(bias_cc[k]) > 0.4 and abs(bias_cc[k]) > 10 * mcse_cc[k], (k, bias_cc, mcse_cc)
        assert abs(bias_mi[k]) < 0.1 and abs(bias_mi[k]) < 3 * mcse_mi[k] + 0.02, (k, bias_mi, mcse_mi)
    assert abs(bias_mi[1]) < 0.1


# =========================================================================== bootstrap-then-impute
def test_validate_mi_reproducible_and_identical_on_any_scheduler(cohort):
    imputer = MiceImputer(m=3, outcome="her2", seed=1, engine="python")
    kw = dict(imputer=imputer, m_boot=2, n_boot=6, seed=4, chunk_size=2)
    a = validate_mi(cohort, "her2", COVS, **kw)
    b = validate_mi(cohort, "her2", COVS, scheduler="threads", **kw)
    c = validate_mi(cohort, "her2", COVS, scheduler="synchronous", **kw)
    pd.testing.assert_frame_equal(a.table, b.table, check_exact=True)
    pd.testing.assert_frame_equal(a.table, c.table, check_exact=True)
    assert a.n_failed == 0 and a.table["n"].iloc[0] == 6
    t = a.table
    np.testing.assert_allclose(t["optimism"], t["training"] - t["test"], rtol=1e-12)
    np.testing.assert_allclose(t["index_corrected"], t["index_orig"] - t["optimism"], rtol=1e-12)
    assert "bootstrap-then-impute" in a.methods_text()


def test_validate_mi_apparent_indices_are_those_of_the_pooled_model(cohort):
    from her2stats.stats.pipeline_validation import performance_indices

    imputer = MiceImputer(m=3, outcome="her2", seed=1, engine="python")
    v = validate_mi(cohort, "her2", COVS, imputer=imputer, m_boot=2, n_boot=2, seed=1)
    mi = MiceImputer(m=3, outcome="her2", seed=1, engine="python").fit_transform(cohort)
    model = fit_lrm_mi(mi, "her2", COVS, engine="python")
    expect = np.mean([performance_indices(model.predict(d), d.her2.to_numpy(float)) for d in mi], axis=0)
    np.testing.assert_allclose(v.table["index_orig"], expect, rtol=1e-10)
    np.testing.assert_allclose(v.model.coefficients, model.coefficients, rtol=1e-12)


@pytest.mark.slow
def test_validate_mi_optimism_of_noise_covariates_is_positive():
    """Ten pure-noise covariates beside one real one: the bootstrap-then-impute optimism of the AUC
    is clearly positive and the corrected AUC below the apparent one."""
    rng = np.random.default_rng(7)
    n = 200
    X = rng.normal(size=(n, 11))
    y = (rng.random(n) < 1 / (1 + np.exp(-0.8 * X[:, 0]))).astype(int)
    df = pd.DataFrame(X, columns=[f"x{i}" for i in range(11)]).assign(y=y)
    for c in df.columns[:11]:
        df.loc[rng.random(n) < 0.1, c] = np.nan
    v = validate_mi(df, "y", [f"x{i}" for i in range(11)], imputer=MiceImputer(m=5, outcome="y", seed=1),
                    m_boot=3, n_boot=40, seed=2)
    auc = v.table.loc["AUC"]
    assert auc["optimism"] > 3 * auc["optimism_mcse"] and auc["index_corrected"] < auc["index_orig"]
    assert v.table.loc["slope", "index_corrected"] < 0.95


def test_validate_mi_counts_failed_replicates():
    """A category held by four patients is absent from some resamples: those refits are singular,
    counted in n_failed and announced."""
    df = her2_cohort(150, seed=5)
    df["rare"] = "common"
    pos = np.flatnonzero(df.her2.to_numpy() == 1)[:2].tolist() + np.flatnonzero(df.her2.to_numpy() == 0)[:2].tolist()
    df.iloc[pos, df.columns.get_loc("rare")] = "rare"
    with pytest.warns(UserWarning, match=r"validate_mi: \d+ of 12 bootstrap replicates failed"):
        v = validate_mi(df, "her2", ["age", "rare"], imputer=MiceImputer(m=2, outcome="her2", seed=1,
                                                                        columns=["age", "grade", "rare"]),
                        m_boot=2, n_boot=12, seed=3)
    assert v.n_failed > 0 and v.table["n"].iloc[0] == 12 - v.n_failed


@pytest.mark.r
def test_r_engine_is_mice_itself(test_data_dir):
    """With an integer seed the R engine's imputations are those of mice::mice(seed = seed) run on
    R's own copy of mice::nhanes2 (pmm for bmi and chl, logreg for hyp; age complete)."""
    from her2stats import r_bridge

    d = pd.read_csv(test_data_dir / "nhanes2.csv")
    d["age"] = pd.Categorical(d.age, categories=["20-39", "40-59", "60-99"])
    d["hyp"] = pd.Categorical(d.hyp, categories=["no", "yes"])
    mi = MiceImputer(m=3, seed=123, engine="r").fit_transform(d)
    assert mi.methods == {"age": "", "bmi": "pmm", "hyp": "logreg", "chl": "pmm"}
    ref = r_bridge.r_eval(
        "local({imp <- mice::mice(mice::nhanes2, m = 3, seed = 123, printFlag = FALSE, "
        "method = c('', 'pmm', 'logreg', 'pmm')); lapply(1:3, function(i) { x <- mice::complete(imp, i); "
        "x$hyp <- as.character(x$hyp); x$age <- as.character(x$age); x })})")
    for mine, theirs in zip(mi, ref):
        np.testing.assert_array_equal(mine.bmi.to_numpy(), np.asarray(theirs["bmi"], float))
        np.testing.assert_array_equal(mine.chl.to_numpy(), np.asarray(theirs["chl"], float))
        assert list(mine.hyp.astype(str)) == list(theirs["hyp"])


def test_validate_mi_uses_an_imputer_already_fitted_on_the_data(cohort):
    imp = MiceImputer(m=3, outcome="her2", seed=9, engine="python").fit(cohort)
    v = validate_mi(cohort, "her2", COVS, imputer=imp, m_boot=2, n_boot=2, seed=1)
    direct = fit_lrm_mi(imp.imputations_, "her2", COVS, engine="python")
    np.testing.assert_allclose(v.model.coefficients, direct.coefficients, rtol=1e-12)
    other = imp.imputations_[0]  # a completed copy is other data: the imputer is refitted on it
    w = validate_mi(other, "her2", COVS, imputer=imp, m_boot=2, n_boot=2, seed=1)
    assert not np.allclose(w.model.coefficients, direct.coefficients)


@pytest.mark.slow
def test_validate_mi_without_missing_values_is_validate():
    """Nothing to impute: the apparent indices are validate's (1e-12) and the optimism of the AUC
    and the Brier score agree with validate's within Monte-Carlo error (different resamples)."""
    from her2stats.stats.calibration import validate
    from her2stats.stats.models import fit_lrm

    df = her2_cohort(300, seed=21, missing=False)
    cc = fit_lrm(df, "her2", COVS, engine="python")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = validate(cc, 300, seed=1, engine="python").table
    v = validate_mi(df, "her2", COVS, imputer=MiceImputer(m=2, outcome="her2", engine="python"), m_boot=2,
                    n_boot=150, seed=2).table
    assert v.loc["AUC", "index_orig"] == pytest.approx(ref.loc["C", "index_orig"], abs=1e-12)
    assert v.loc["Brier", "index_orig"] == pytest.approx(ref.loc["B", "index_orig"], abs=1e-12)
    for mine, theirs in (("AUC", "C"), ("Brier", "B")):
        se = math.hypot(v.loc[mine, "optimism_mcse"], ref.loc[theirs, "optimism_mcse"])
        assert abs(v.loc[mine, "optimism"] - ref.loc[theirs, "optimism"]) < 4 * se, (mine, se)


@pytest.mark.slow
def test_imputation_and_validate_mi_on_two_dask_workers_bit_identical(cohort):
    """The m chains (MiceImputer) and the bootstrap chunks (validate_mi) on a 2-worker Dask
    cluster of processes give exactly the in-process result."""
    from dask.distributed import Client

    from her2stats.features import local_cluster

    imputer = MiceImputer(m=4, outcome="her2", seed=6, engine="python")
    ref_imp = imputer.fit_transform(cohort)
    kw = dict(m_boot=2, n_boot=6, seed=4, chunk_size=2)
    ref = validate_mi(cohort, "her2", COVS, imputer=MiceImputer(m=3, outcome="her2", seed=1, engine="python"), **kw)
    with local_cluster(2) as cluster, Client(cluster) as client:
        got_imp = MiceImputer(m=4, outcome="her2", seed=6, engine="python", scheduler=client).fit_transform(cohort)
        got = validate_mi(cohort, "her2", COVS, imputer=MiceImputer(m=3, outcome="her2", seed=1, engine="python"),
                          scheduler=client, **kw)
    assert all(a.equals(b) for a, b in zip(ref_imp, got_imp))
    pd.testing.assert_frame_equal(ref.table, got.table, check_exact=True)


def test_results_render(fitted, dev_test):
    import matplotlib

    matplotlib.use("Agg")
    mi = fitted.imputations_
    axes = mi.plot()
    assert len(axes) == 2  # age and ki67: the numeric variables with imputed values
    model = fit_lrm_mi(mi, "her2", COVS, engine="python")
    perf = performance_mi(model, fitted.transform(dev_test[1]), engine="python")
    for res in (mi, model, perf, pool([1.0, 2.0], [0.1, 0.2], engine="python")):
        assert "<table" in res._repr_html_() and res.engine == "python"
        assert repr(res)
    assert "outcome used" in repr(mi) and "m=5" in repr(mi)
