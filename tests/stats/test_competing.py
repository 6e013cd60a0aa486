"""Competing risks on survival::mgus2 (tests/data/mgus2.csv): cumulative incidence, Gray's test,
Fine-Gray regression.

Endpoint as in the survival package's competing-risks vignette (Therneau, "Multi-state models and
competing risks"): time to plasma-cell malignancy (PCM, cause 1) or death without PCM (cause 2),
``etime = ptime`` if PCM else ``futime``.

References:
* values printed by R 4.2.2 / cmprsk 2.2-11 (hard-coded, so the Python engine is checked
  without R): ``cuminc(etime, event, sex)$Tests``, ``timepoints(...)``, ``summary(crr(...))``;
* the same functions run through the bridge (``@pytest.mark.r``);
* ``survival::finegray`` + weighted ``coxph`` (Breslow ties) for the Fine-Gray coefficients.
Tolerances: 1e-9 for the cumulative incidence and its variance, 1e-6 for Gray's statistic and the
``crr`` coefficients and standard errors, printed precision for hard-coded values.
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import warnings

import numpy as np
import pandas as pd
import pytest

from her2stats.errors import ConvergenceError, InputError
from her2stats.stats.competing import cumulative_incidence, fine_gray, gray_test


@pytest.fixture(scope="module")
def mgus(test_data_dir):
    m = pd.read_csv(test_data_dir / "mgus2.csv")
    return m.assign(etime=np.where(m.pstat == 0, m.futime, m.ptime).astype(float),
                    event=np.where(m.pstat == 0, 2 * m.death, 1),
                    agegrp=pd.cut(m.age, [0, 60, 70, 80, 120]).astype(str))


@pytest.fixture(scope="module")
def rb():
    from her2stats import r_bridge

    r_bridge.ensure_started()
    return r_bridge


# --------------------------------------------------------------------------- R printout (no R needed)
def test_gray_test_matches_cmprsk_printout(mgus):
    g = gray_test(mgus, "etime", "event", "sex", engine="python").table
    assert g["statistic"].to_numpy() == pytest.approx([1.194508, 11.651259], abs=5e-7)
    assert g["p_value"].to_numpy() == pytest.approx([0.274422157, 0.000641591], abs=5e-10)
    assert g["df"].tolist() == [1, 1]


def test_timepoints_match_cmprsk_printout(mgus):
    ci = cumulative_incidence(mgus, "etime", "event", group="sex", engine="python")
    at = ci.at([0.5, 1, 100, 300, 424, 425]).set_index(["group", "cause", "time"])
    # R: timepoints(cuminc(etime, event, sex), c(0.5, 1, 100, 300, 424, 425))
    assert at.loc[("F", 1, 100.0), "estimate"] == pytest.approx(0.06196166, abs=5e-9)
    assert at.loc[("F", 1, 100.0), "variance"] == pytest.approx(9.518160e-05, abs=5e-12)
    assert at.loc[("M", 2, 424.0), "estimate"] == pytest.approx(0.8955398, abs=5e-8)
    assert at.loc[("M", 2, 424.0), "variance"] == pytest.approx(0.0094937992, abs=5e-11)
    assert at.loc[("F", 2, 1.0), "estimate"] == pytest.approx(0.03169572, abs=5e-9)
    assert at.loc[("M", 1, 300.0), "variance"] == pytest.approx(0.0002579428, abs=5e-11)
    assert at.loc[("F", 1, 0.5), "estimate"] == 0.0
    assert np.isnan(at.loc[("F", 1, 424.0), "estimate"])      # beyond the women's last follow-up (394)
    assert np.isnan(at.loc[("M", 2, 425.0), "estimate"])
    tab = ci.table[(ci.table.group == "F") & (ci.table.cause == 1)]
    # first rows of cuminc's curve "F 1": (2, 0.003174768, 5.031825e-06), (4, 0.004762152, 7.535573e-06)
    assert tab["time"].iloc[1:3].tolist() == [2.0, 4.0]
    assert tab["estimate"].iloc[1:3].to_numpy() == pytest.approx([0.003174768, 0.004762152], abs=5e-10)
    assert tab["variance"].iloc[1:3].to_numpy() == pytest.approx([5.031825e-06, 7.535573e-06], abs=5e-13)


def test_crr_matches_cmprsk_printout(mgus):
    with pytest.warns(UserWarning, match=r"dropped 11 of 1384 rows with missing values in 'mspike' \(11\)"):
        fg = fine_gray(mgus, "etime", "event", ["age", "sex", "mspike"], cause=1, engine="python")
    s = fg.summary.set_index("term")
    # the printout is crr's default fit (gtol = 1e-6), which stops ~1e-8 short of the maximiser
    assert s["coef"].to_numpy() == pytest.approx([-0.01694253, -0.21361604, 0.88846413], abs=1e-7)
    assert s["se"].to_numpy() == pytest.approx([0.00582979, 0.18520147, 0.15523130], abs=1e-7)
    assert s["ci_low"].to_numpy() == pytest.approx([0.9720299, 0.5618029, 1.7935849], abs=5e-8)
    assert s["ci_high"].to_numpy() == pytest.approx([0.9944988, 1.1611050, 3.2960075], abs=5e-8)
    assert s.loc["mspike", "z"] == pytest.approx(5.723486, abs=5e-7)
    assert fg.loglik == pytest.approx(-774.0325, abs=5e-5)
    assert fg.lr_statistic == pytest.approx(38.22, abs=5e-3)
    assert (fg.n, fg.n_excluded, fg.n_events) == (1373, 11, 115)
    assert fg.n_events + fg.n_competing + fg.n_censored == fg.n


# --------------------------------------------------------------------------- properties (no R needed)
def test_cif_of_all_causes_plus_km_is_one(mgus):
    """Aalen-Johansen: sum over causes of F_k(t) = 1 - S(t) (all-cause Kaplan-Meier)."""
    from her2stats.stats.survival import kaplan_meier

    ci = cumulative_incidence(mgus, "etime", "event", engine="python")
    km = kaplan_meier(mgus.assign(any=(mgus.event > 0).astype(int)), "etime", "any", engine="python")
    grid = np.array([5.0, 50.0, 120.0, 250.0, 400.0])
    f = ci.at(grid).groupby("time")["estimate"].sum().to_numpy()
    s = km.survival_at(grid)["survival"].to_numpy()
    assert f == pytest.approx(1 - s, abs=1e-12)


def test_single_cause_variance_closed_form():
    """With one cause, F = 1 - S, and Gray's variance collapses to the Aalen-type
    ``S^2 sum d / ((n - 1)(n - d))`` (b = a = 1/S(t_j) and the tie factor (n - d)/(n - 1))."""
    rng = np.random.default_rng(3)
    t = np.round(rng.exponential(10, 80), 0) + 1
    e = (rng.uniform(size=80) < 0.7).astype(int)
    df = pd.DataFrame({"t": t, "e": e})
    ci = cumulative_incidence(df, "t", "e", engine="python").table.iloc[1:]
    times, inv = np.unique(t, return_inverse=True)
    d = np.bincount(inv, weights=e)
    n = len(t) - np.concatenate([[0], np.cumsum(np.bincount(inv))[:-1]])
    s = np.cumprod(1 - d / n)
    ok = n - d > 0
    aalen = np.cumsum(np.where((d > 0) & ok, d / ((n - 1) * np.where(ok, n - d, 1)), 0))
    keep = (d > 0) & ok
    assert ci["estimate"].to_numpy()[: keep.sum()] == pytest.approx(1 - s[keep], abs=1e-12)
    assert ci["variance"].to_numpy()[: keep.sum()] == pytest.approx((s ** 2 * aalen)[keep], rel=1e-10)


def test_loglog_ci_brackets_and_level(mgus):
    a = cumulative_incidence(mgus, "etime", "event", group="sex", level=0.95, engine="python").table
    b = cumulative_incidence(mgus, "etime", "event", group="sex", level=0.80, engine="python").table
    pos = a["estimate"] > 0
    assert (a.loc[pos, "ci_low"] < a.loc[pos, "estimate"]).all() and (a.loc[pos, "ci_high"] > a.loc[pos, "estimate"]).all()
    assert (b.loc[pos, "ci_high"] - b.loc[pos, "ci_low"] < a.loc[pos, "ci_high"] - a.loc[pos, "ci_low"]).all()
    r = a.loc[pos].iloc[10]
    z = 1.959963984540054
    k = z * r["std_err"] / (r["estimate"] * np.log(r["estimate"]))
    assert r["ci_low"] == pytest.approx(r["estimate"] ** np.exp(-k), rel=1e-12)


def test_string_causes_and_censoring_label(mgus):
    lab = mgus.assign(status=mgus.event.map({0: "censored", 1: "PCM", 2: "death"}))
    ci = cumulative_incidence(lab, "etime", "status", group="sex", censored="censored", engine="python")
    assert ci.causes == ("PCM", "death")
    base = cumulative_incidence(mgus, "etime", "event", group="sex", engine="python")
    # causes sorted by value: "PCM" < "death" matches 1 < 2
    assert ci.table["estimate"].to_numpy() == pytest.approx(base.table["estimate"].to_numpy(), abs=0)
    fg = fine_gray(lab, "etime", "status", ["age"], cause="death", censored="censored", engine="python")
    fg2 = fine_gray(mgus, "etime", "event", ["age"], cause=2, engine="python")
    assert fg.coef == pytest.approx(fg2.coef, abs=0)


def test_censoring_value_not_found_is_announced(mgus):
    lab = mgus.assign(status=mgus.event.map({0: "censored", 1: "PCM", 2: "death"}))
    with pytest.warns(UserWarning, match="no row of event column 'status' has the censoring value 0"):
        ci = cumulative_incidence(lab, "etime", "status", engine="python")
    assert "censored" in ci.causes


def test_bad_inputs(mgus):
    with pytest.raises(InputError, match="cause 3 is not a value of event column 'event'"):
        fine_gray(mgus, "etime", "event", ["age"], cause=3, engine="python")
    with pytest.raises(InputError, match="group column 'one' has a single level"):
        cumulative_incidence(mgus.assign(one="a"), "etime", "event", group="one", engine="python")
    with pytest.raises(InputError, match="strictly positive"):
        cumulative_incidence(mgus.assign(etime=mgus.etime - 1000), "etime", "event", engine="python")
    with pytest.raises(InputError, match="level 'M' has no failures of cause 1"):
        fine_gray(mgus.assign(sex=np.where(mgus.event == 1, "F", mgus.sex)), "etime", "event", ["sex"], cause=1,
                  engine="python")


def test_plots_draw(mgus):
    ci = cumulative_incidence(mgus, "etime", "event", group="sex", engine="python")
    ax = ci.plot(causes=[1], risk_times=[0, 100, 200, 300])
    texts = [t.get_text() for t in ax.texts]
    assert "At risk" in texts and any("Gray" in t for t in texts)
    assert "631" in texts          # women at risk at time 0
    fg = fine_gray(mgus, "etime", "event", ["age", "sex"], cause=1, engine="python")
    assert len(fg.plot().get_yticklabels()) == 2
    import matplotlib.pyplot as plt

    plt.close("all")


def test_python_fine_gray_is_fast(mgus):
    import time

    t0 = time.perf_counter()
    fine_gray(mgus, "etime", "event", ["age", "sex", "hgb", "creat"], cause=2, engine="python")
    assert time.perf_counter() - t0 < 5.0      # n = 1,384: O(n p^2) sums, no n x n matrices


# --------------------------------------------------------------------------- R parity
@pytest.mark.r
@pytest.mark.parametrize("kw", [dict(group="sex"), dict(group="agegrp"), dict(group="agegrp", strata="sex"),
                                dict(group="sex", rho=1.0), dict()])
def test_cuminc_parity(mgus, rb, kw):
    p = cumulative_incidence(mgus, "etime", "event", engine="python", **kw)
    r = cumulative_incidence(mgus, "etime", "event", engine="r", **kw)
    assert len(p.table) == len(r.table)
    assert (p.table[["group", "cause"]].astype(str).to_numpy() == r.table[["group", "cause"]].astype(str).to_numpy()).all()
    for col in ("time", "estimate", "variance", "ci_low", "ci_high"):
        assert p.table[col].to_numpy() == pytest.approx(r.table[col].to_numpy(), abs=1e-9), col
    if kw.get("group"):
        assert p.gray.table["statistic"].to_numpy() == pytest.approx(r.gray.table["statistic"].to_numpy(), abs=1e-6)
        assert p.gray.table["p_value"].to_numpy() == pytest.approx(r.gray.table["p_value"].to_numpy(), abs=1e-9)


@pytest.mark.r
def test_timepoints_parity(mgus, rb):
    times = np.array([0.5, 1.0, 13.0, 100.0, 300.0, 394.0, 424.0, 430.0])
    sex = np.where(mgus.sex == "M", 2, 1)
    out = rb.call("h2s_cuminc_timepoints", time=mgus.etime.to_numpy(float), status=mgus.event.to_numpy().astype(int),
                  group=sex, times=times)
    at = cumulative_incidence(mgus, "etime", "event", group="sex", engine="python").at(times)
    est = np.asarray(out["est"], float).reshape(4, len(times), order="F")   # rows "1 1","2 1","1 2","2 2"
    var = np.asarray(out["var"], float).reshape(4, len(times), order="F")
    for row, (g, c) in enumerate([("F", 1), ("M", 1), ("F", 2), ("M", 2)]):
        mine = at[(at.group == g) & (at.cause == c)]
        np.testing.assert_allclose(mine["estimate"].to_numpy(), est[row], atol=1e-9, equal_nan=True)
        np.testing.assert_allclose(mine["variance"].to_numpy(), var[row], atol=1e-9, equal_nan=True)


@pytest.mark.r
@pytest.mark.parametrize(("covs", "cause"), [(["age", "sex", "mspike"], 1), (["age", "sex", "hgb", "creat"], 2),
                                             (["agegrp", "hgb"], 1), (["mspike"], 2)])
def test_crr_parity(mgus, rb, covs, cause):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        p = fine_gray(mgus, "etime", "event", covs, cause=cause, engine="python")
        r = fine_gray(mgus, "etime", "event", covs, cause=cause, engine="r")
    assert p.coef == pytest.approx(r.coef, abs=1e-6)
    assert p.summary["se"].to_numpy() == pytest.approx(r.summary["se"].to_numpy(), abs=1e-6)
    assert p.vcov == pytest.approx(r.vcov, abs=1e-8)
    assert p.loglik == pytest.approx(r.loglik, abs=1e-6) and p.loglik_null == pytest.approx(r.loglik_null, abs=1e-6)
    assert p.baseline["cumhaz"].to_numpy() == pytest.approx(r.baseline["cumhaz"].to_numpy(), abs=1e-8)


@pytest.mark.r
def test_predict_cif_parity(mgus, rb):
    from her2stats.stats.models import design_matrix

    fg = fine_gray(mgus, "etime", "event", ["age", "sex", "hgb"], cause=1, engine="python")
    sub = mgus.dropna(subset=["hgb"])
    X = design_matrix(sub, fg.terms)
    times = np.array([1.0, 24.0, 120.0, 300.0])
    r = np.asarray(rb.call("h2s_crr_predict", time=sub.etime.to_numpy(float), status=sub.event.to_numpy().astype(int),
                           X=X, failcode=1, newX=X[:25], times=times), float)
    assert fg.predict_cif(sub.iloc[:25], times) == pytest.approx(r, abs=1e-8)


@pytest.mark.r
def test_fine_gray_agrees_with_survival_finegray(mgus, rb):
    """survival::finegray + coxph(weights = fgwt, ties = "breslow") fits the same model. It builds
    its censoring weights on its own time grid, so with the many ties of mgus2 (months) the
    coefficients differ slightly; with the ties broken they agree to 1e-4 relative."""
    from her2stats.stats.models import build_terms, design_matrix

    d = mgus.dropna(subset=["hgb"]).reset_index(drop=True)
    d = d.assign(etime=d.etime + 1e-3 * (np.arange(len(d)) + 1) / len(d))     # distinct times, same order
    fg = fine_gray(d, "etime", "event", ["age", "sex", "hgb"], cause=1, engine="python")
    X = design_matrix(d, build_terms(d, ["age", "sex", "hgb"], None))
    out = rb.call("h2s_finegray_coxph", time=d.etime.to_numpy(float), status=d.event.to_numpy().astype(int), X=X,
                  cause=1)
    assert fg.coef == pytest.approx(np.asarray(out["coef"], float), rel=1e-4)
    # robust coxph SEs ignore the estimation of G: close to, not equal to, Fine & Gray's
    assert fg.summary["se"].to_numpy() == pytest.approx(np.asarray(out["robust_se"], float), rel=0.1)


@pytest.mark.r
def test_hostile_names_and_labels_never_reach_r(mgus, tmp_path, monkeypatch):
    """Column names, causes and group labels shaped like R code give the same numbers as plain
    ones on the R engine, and no code runs (competing risks, RMST, reclassification)."""
    from her2stats.stats.reclassification import reclassification_at_horizon
    from her2stats.stats.rmst import rmst

    monkeypatch.chdir(tmp_path)
    evil = 'x` + system("touch h2s_pwned") + `x'
    lab = {0: "cens", 1: 'pcm"); system("touch h2s_pwned"); ("', 2: "death"}
    d = mgus.rename(columns={"etime": evil, "age": evil + "age", "sex": evil + "sex"})
    d = d.assign(ev=mgus.event.map(lab), **{evil + "sex": mgus.sex.map({"F": "F`)", "M": 'M"'})})
    ci = cumulative_incidence(d, evil, "ev", group=evil + "sex", censored="cens", engine="r")
    base = cumulative_incidence(mgus, "etime", "event", group="sex", engine="r")
    assert ci.gray.table["statistic"].to_numpy() == pytest.approx(base.gray.table["statistic"].to_numpy()[::-1],
                                                                 abs=1e-12)
    fg = fine_gray(d, evil, "ev", [evil + "age", evil + "sex"], cause=lab[1], censored="cens", engine="r")
    assert fg.coef == pytest.approx(fine_gray(mgus, "etime", "event", ["age", "sex"], cause=1, engine="r").coef,
                                    abs=1e-10)
    r = rmst(d.assign(dead=(mgus.event > 0).astype(int)), evil, "dead", group=evil + "sex", tau=300, engine="r")
    assert r.groups["group"].tolist() == ["F`)", 'M"']
    reclassification_at_horizon(d[evil], (mgus.event > 0).astype(int), np.full(len(d), 0.3), np.full(len(d), 0.4),
                                horizon=100, n_boot=10, seed=1, engine="r")
    assert not (tmp_path / "h2s_pwned").exists()
