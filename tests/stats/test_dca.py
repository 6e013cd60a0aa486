"""Decision curves: both engines against the Python ``dcurves`` package (the reference
implementation of Vickers' net benefit) at thresholds 0.1-0.5, exactly (1e-12); a hand-computed
example; survival DCA against dcurves time-to-event; the bootstrap (issue 11.5) against the
closed-form bootstrap variance of a mean, within Monte-Carlo error.
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from her2stats.errors import InputError
from her2stats.stats.dca import decision_curve, decision_curve_survival

dcurves = pytest.importorskip("dcurves")

TH = np.round(np.arange(0.10, 0.501, 0.01), 2)


@pytest.fixture(scope="module")
def binary():
    rng = np.random.default_rng(20240501)
    n = 500
    x = rng.normal(size=n)
    truth = 1 / (1 + np.exp(-(1.3 * x - 0.7)))
    y = (rng.random(n) < truth).astype(int)
    good = np.round(truth, 2)                       # ties on purpose (p == threshold happens)
    noisy = np.clip(truth + rng.normal(0, 0.15, n), 0, 1)
    return y, {"good": good, "noisy": noisy}


def _reference(y, probs, th, harm=None):
    df = pd.DataFrame({"y": y, **probs})
    ref = dcurves.dca(df, "y", list(probs), thresholds=th, harm=harm)
    return ref.rename(columns={"model": "strategy"})


@pytest.mark.parametrize("engine", ["python", pytest.param("r", marks=pytest.mark.r)])
def test_net_benefit_matches_python_dcurves(binary, engine):
    y, probs = binary
    res = decision_curve(y, probs, thresholds=TH, engine=engine)
    m = res.table.merge(_reference(y, probs, TH), on=["threshold", "strategy"], suffixes=("", "_ref"))
    assert len(m) == len(TH) * 4
    np.testing.assert_allclose(m["net_benefit"], m["net_benefit_ref"], atol=1e-12, rtol=0)
    np.testing.assert_allclose(m["interventions_avoided_per_100"], 100 * m["net_intervention_avoided"], atol=1e-10)
    np.testing.assert_allclose(m["tp_rate"], m["tp_rate_ref"], atol=1e-12)
    np.testing.assert_allclose(m["fp_rate"], m["fp_rate_ref"], atol=1e-12)
    assert res.strategies == ("good", "noisy", "all", "none")


def test_harm_matches_dcurves(binary):
    y, probs = binary
    res = decision_curve(y, probs, thresholds=TH, harm={"good": 0.02}, engine="python")
    m = res.table.merge(_reference(y, probs, TH, harm={"good": 0.02}), on=["threshold", "strategy"],
                        suffixes=("", "_ref"))
    np.testing.assert_allclose(m["net_benefit"], m["net_benefit_ref"], atol=1e-12)


def test_hand_computed_example():
    # 10 patients, 4 events. At p_t = 0.25 (odds 1/3): positives are p >= 0.25 -> TP 3, FP 2
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    p = np.array([0.9, 0.6, 0.25, 0.1, 0.7, 0.3, 0.2, 0.1, 0.05, 0.0])
    res = decision_curve(y, {"m": p}, thresholds=[0.25], engine="python").table.set_index("strategy")
    assert res.loc["m", "net_benefit"] == pytest.approx(3 / 10 - 2 / 10 / 3, abs=1e-15)
    assert res.loc["all", "net_benefit"] == pytest.approx(0.4 - 0.6 / 3, abs=1e-15)
    assert res.loc["m", "standardized_net_benefit"] == pytest.approx((0.3 - 0.2 / 3) / 0.4, abs=1e-15)
    assert res.loc["m", "interventions_avoided_per_100"] == pytest.approx(
        100 * ((0.3 - 0.2 / 3) - (0.4 - 0.2)) * 3, abs=1e-12)


def test_useful_range():
    # a perfect model beats treat-all and treat-none everywhere inside (0, 1)
    y = np.array([0] * 60 + [1] * 40)
    p = np.where(y == 1, 0.99, 0.01)
    th = np.round(np.arange(0.05, 0.96, 0.05), 2)
    res = decision_curve(y, {"perfect": p, "useless": np.full(100, 0.4)}, thresholds=th, engine="python")
    assert res.useful_range("perfect") == (0.05, 0.95)
    # a constant 0.4 is "treat all" below 0.4 and "treat none" above: never strictly better
    assert res.useful_range("useless") is None
    with pytest.raises(InputError, match="compares a model"):
        res.useful_range("all")


def test_bootstrap_reproducible_worker_independent_and_within_mc_error(binary):
    y, probs = binary
    th = np.array([0.2, 0.4])
    B = 2000
    a = decision_curve(y, probs, thresholds=th, n_boot=B, seed=11, engine="python")
    b = decision_curve(y, probs, thresholds=th, n_boot=B, seed=11, scheduler="threads", engine="python")
    np.testing.assert_array_equal(a.boot, b.boot)
    # closed-form bootstrap variance of NB = mean(X), X_i = y_i I_i - odds (1 - y_i) I_i - harm
    for k, name in enumerate(["good", "noisy"]):
        for j, t in enumerate(th):
            pos = probs[name] >= t
            x = y * pos - t / (1 - t) * (1 - y) * pos
            sd_exact = x.std(ddof=0) / np.sqrt(len(y))
            sd_boot = a.boot[:, k, j].std(ddof=1)
            # relative MC error of a bootstrap SD is ~ 1/sqrt(2B) = 1.6%; allow 4 of those
            assert sd_boot == pytest.approx(sd_exact, rel=4 / np.sqrt(2 * B)), (name, t)
    tab = a.table
    models = tab[tab["strategy"].isin(["good", "noisy"])]
    assert (models["nb_ci_low"] <= models["net_benefit"]).all() and (models["net_benefit"] <= models["nb_ci_high"]).all()
    assert models["p_beneficial"].between(0, 1).all()
    assert tab.loc[tab["strategy"] == "all", "p_beneficial"].isna().all()
    diff = a.difference("good", "noisy")
    assert list(diff.columns) == ["threshold", "difference", "ci_low", "ci_high", "p_better"]
    assert (diff["ci_low"] <= diff["difference"]).all() and (diff["difference"] <= diff["ci_high"]).all()
    same = a.difference("good", "good")
    assert (same[["difference", "ci_low", "ci_high", "p_better"]].to_numpy() == 0).all()


def test_survival_decision_curve_matches_dcurves(test_data_dir):
    lung = pd.read_csv(test_data_dir / "lung.csv").dropna(subset=["ph.ecog"])
    dead = (lung["status"] == 2).astype(int).to_numpy()
    # a crude risk-by-one-year score from age and ECOG (any score in [0, 1] will do for parity)
    risk = 1 / (1 + np.exp(-(0.03 * (lung["age"] - 62) + 0.6 * lung["ph.ecog"] - 0.1)))
    th = [0.1, 0.2, 0.3, 0.4, 0.5]
    res = decision_curve_survival(lung["time"], dead, {"score": risk.to_numpy()}, horizon=365, thresholds=th)
    ref = dcurves.dca(lung.assign(dead=dead, score=risk), "dead", ["score"], thresholds=th, time=365,
                      time_to_outcome_col="time").rename(columns={"model": "strategy"})
    m = res.table.merge(ref, on=["threshold", "strategy"], suffixes=("", "_ref"))
    assert len(m) == 15
    np.testing.assert_allclose(m["net_benefit"], m["net_benefit_ref"].astype(float), atol=1e-12)
    boot = decision_curve_survival(lung["time"], dead, {"score": risk.to_numpy()}, horizon=365, thresholds=th,
                                   n_boot=50, seed=3)
    assert boot.boot.shape == (50, 3, 5)


def test_bad_input(binary):
    y, probs = binary
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        decision_curve(y, {"m": probs["good"] * 2}, engine="python")
    with pytest.raises(InputError, match="coded 0/1"):
        decision_curve(y + 1, probs, engine="python")
    with pytest.raises(InputError, match="single class"):
        decision_curve(np.zeros(len(y)), probs, engine="python")
    with pytest.raises(InputError, match="strictly between 0 and 1"):
        decision_curve(y, probs, thresholds=[0, 0.5], engine="python")
    with pytest.raises(InputError, match="reserved"):
        decision_curve(y, {"all": probs["good"]}, engine="python")
    with pytest.raises(InputError, match="has 3 values"):
        decision_curve(y, {"m": [0.1, 0.2, 0.3]}, engine="python")
    with pytest.raises(InputError, match="n_boot"):
        decision_curve(y, probs, n_boot=-1, engine="python")
    with pytest.raises(InputError, match="beyond the longest follow-up"):
        decision_curve_survival([1, 2, 3], [1, 0, 1], {"m": [0.1, 0.2, 0.3]}, horizon=10)


def test_plot(binary):
    y, probs = binary
    res = decision_curve(y, probs, thresholds=TH, n_boot=20, seed=1, engine="python")
    ax = res.plot()
    assert [ln.get_label() for ln in ax.get_lines()] == ["good", "noisy", "all", "none"]
    assert ax.get_xlabel() == "Threshold probability"


def test_useful_range_with_separate_runs_returns_longest_and_warns():
    from her2stats.stats.dca import DecisionCurve

    th = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    nb_model = np.array([0.30, 0.10, 0.20, 0.15, 0.10, 0.05])
    nb_all = np.array([0.25, 0.15, 0.05, -0.05, -0.20, -0.40])
    table = pd.concat([pd.DataFrame({"threshold": th, "strategy": s, "net_benefit": v})
                       for s, v in (("m", nb_model), ("all", nb_all), ("none", np.zeros(6)))], ignore_index=True)
    dc = DecisionCurve(table=table, prevalence=0.3, n=100, thresholds=th, strategies=("m", "all", "none"),
                       harm={"m": 0.0}, n_boot=0, conf_level=0.95, engine="python")
    assert dc.useful_intervals("m") == [(0.1, 0.1), (0.3, 0.6)]
    with pytest.warns(UserWarning, match="2 separate threshold runs"):
        assert dc.useful_range("m") == (0.3, 0.6)
