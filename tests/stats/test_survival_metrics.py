"""Time-dependent survival metrics on survival::lung (issue 11 item 7).

References and tolerances:
* ``g_limit="right"`` vs scikit-survival (cumulative_dynamic_auc incl. mean_auc, brier_score,
  integrated_brier_score, concordance_index_ipcw): 1e-12;
* ``g_limit="left"`` (default) vs R: riskRegression::Score AUC and Brier, survival::concordance
  (timewt = "n/G2", ymax): engine="python" vs engine="r", 1e-9; the hard-coded R printout
  (riskRegression 2023.x) guards the Python engine without R;
* Uno's C standard error: Python's infinitesimal jackknife vs survival's, 1e-9;
* bootstrap SEs (Python) vs influence-function SEs (R): two estimators of the same quantity,
  compared at 25% (B = 300: Monte-Carlo error ~4%, the rest is the methods' difference).
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from her2stats.errors import InputError
from her2stats.stats.survival import fit_cph, kaplan_meier
from her2stats.stats.survival_metrics import (
    calibration_at_horizon,
    time_dependent_auc,
    time_dependent_brier,
    uno_concordance,
)

TIMES = [180.0, 365.0, 540.0]


@pytest.fixture(scope="module")
def lung(test_data_dir):
    d = pd.read_csv(test_data_dir / "lung.csv").assign(dead=lambda x: x["status"] - 1)
    d = d.dropna(subset=["age", "sex", "ph.ecog"]).reset_index(drop=True)
    model = fit_cph(d, "time", "dead", ["age", "sex", "ph.ecog"], engine="python")
    return d.assign(lp=model.linear_predictor(d)), model.predict_survival(d, TIMES)


def test_right_limit_matches_scikit_survival(lung):
    sksurv_metrics = pytest.importorskip("sksurv.metrics")
    from sksurv.util import Surv

    d, S = lung
    y = Surv.from_arrays(d["dead"] == 1, d["time"])
    auc = time_dependent_auc(d["time"], d["dead"], d["lp"], TIMES, g_limit="right", engine="python")
    ref_auc, ref_mean = sksurv_metrics.cumulative_dynamic_auc(y, y, d["lp"].to_numpy(), TIMES)
    np.testing.assert_allclose(auc.table["auc"], ref_auc, atol=1e-12)
    assert auc.mean_auc == pytest.approx(ref_mean, abs=1e-12)
    bs = time_dependent_brier(d["time"], d["dead"], S, TIMES, g_limit="right", engine="python")
    np.testing.assert_allclose(bs.table["brier"], sksurv_metrics.brier_score(y, y, S, TIMES)[1], atol=1e-12)
    assert bs.integrated == pytest.approx(sksurv_metrics.integrated_brier_score(y, y, S, TIMES), abs=1e-12)
    for tau in (None, 500.0):
        c = uno_concordance(d["time"], d["dead"], d["lp"], tau=tau, g_limit="right", engine="python")
        ref = sksurv_metrics.concordance_index_ipcw(y, y, d["lp"].to_numpy(), tau=tau)[0]
        assert c.concordance == pytest.approx(ref, abs=1e-12), tau


def test_left_limit_matches_r_printout(lung):
    d, S = lung
    auc = time_dependent_auc(d["time"], d["dead"], d["lp"], TIMES, engine="python")
    np.testing.assert_allclose(auc.table["auc"], [0.6980250, 0.6473977, 0.6663485], atol=5e-8)
    bs = time_dependent_brier(d["time"], d["dead"], S, TIMES, engine="python")
    np.testing.assert_allclose(bs.table["brier"], [0.1786855, 0.2255963, 0.1779318], atol=5e-8)
    assert uno_concordance(d["time"], d["dead"], d["lp"], engine="python").concordance == pytest.approx(0.6261483, abs=5e-8)
    uno_540 = uno_concordance(d["time"], d["dead"], d["lp"], tau=540, engine="python")
    assert uno_540.concordance == pytest.approx(0.6279258, abs=5e-8)
    # survival::concordance(..., timewt = "n/G2") infinitesimal-jackknife SEs printed by R
    assert uno_concordance(d["time"], d["dead"], d["lp"], engine="python").se == pytest.approx(0.02356243, abs=5e-9)
    assert uno_540.se == pytest.approx(0.02406169, abs=5e-9)


@pytest.mark.r
@pytest.mark.slow
def test_engines_agree_and_cis_are_comparable(lung):
    d, S = lung
    r_auc = time_dependent_auc(d["time"], d["dead"], d["lp"], TIMES, engine="r")
    py_auc = time_dependent_auc(d["time"], d["dead"], d["lp"], TIMES, n_boot=300, seed=5, engine="python")
    np.testing.assert_allclose(py_auc.table["auc"], r_auc.table["auc"], atol=1e-9)
    np.testing.assert_allclose(py_auc.table["se"], r_auc.table["se"], rtol=0.25)
    r_bs = time_dependent_brier(d["time"], d["dead"], S, TIMES, engine="r")
    py_bs = time_dependent_brier(d["time"], d["dead"], S, TIMES, n_boot=300, seed=5, engine="python")
    np.testing.assert_allclose(py_bs.table["brier"], r_bs.table["brier"], atol=1e-9)
    np.testing.assert_allclose(py_bs.table["se"], r_bs.table["se"], rtol=0.25)
    for tau in (None, 540.0):
        r_c = uno_concordance(d["time"], d["dead"], d["lp"], tau=tau, engine="r")
        ij = uno_concordance(d["time"], d["dead"], d["lp"], tau=tau, engine="python")
        assert (ij.concordance, ij.se, ij.lower, ij.upper) == pytest.approx(
            (r_c.concordance, r_c.se, r_c.lower, r_c.upper), abs=1e-9)
        py_c = uno_concordance(d["time"], d["dead"], d["lp"], tau=tau, n_boot=300, seed=5, engine="python")
        assert py_c.concordance == pytest.approx(r_c.concordance, abs=1e-9)
        assert py_c.se == pytest.approx(r_c.se, rel=0.25)
        assert py_c.lower < py_c.concordance < py_c.upper


def test_bootstrap_is_seeded(lung):
    d, _ = lung
    a = time_dependent_auc(d["time"], d["dead"], d["lp"], [365.0], n_boot=50, seed=9, engine="python")
    b = time_dependent_auc(d["time"], d["dead"], d["lp"], [365.0], n_boot=50, seed=9, scheduler="threads",
                           engine="python")
    pd.testing.assert_frame_equal(a.table, b.table)
    assert a.n_boot_failed == 0


def test_calibration_at_horizon(lung):
    d, S = lung
    risk = 1 - S[:, 1]
    cal = calibration_at_horizon(d["time"], d["dead"], risk, 365.0, groups=5)
    km = kaplan_meier(d, "time", "dead", engine="python").survival_at([365.0])
    assert cal.observed_overall == pytest.approx(1 - km["survival"].iloc[0], abs=1e-12)
    assert cal.expected_overall == pytest.approx(risk.mean(), abs=1e-12)
    assert cal.table["n"].sum() == len(d) and len(cal.table) == 5
    assert cal.table["predicted"].is_monotonic_increasing
    assert ((cal.table["ci_low"] <= cal.table["observed"]) & (cal.table["observed"] <= cal.table["ci_high"])).all()
    with pytest.warns(UserWarning, match="distinct predicted risks"):
        few = calibration_at_horizon(d["time"], d["dead"], np.where(d["sex"] == 1, 0.6, 0.4), 365.0, groups=10)
    assert len(few.table) == 2
    assert cal.plot().get_xlabel().startswith("Predicted risk")


def test_bad_input(lung):
    d, S = lung
    with pytest.raises(InputError, match="nobody is followed beyond"):
        time_dependent_auc(d["time"], d["dead"], d["lp"], [5000.0], engine="python")
    with pytest.raises(InputError, match="no events at or before"):
        time_dependent_auc(d["time"], d["dead"], d["lp"], [1.0], engine="python")
    with pytest.raises(InputError, match="column"):
        time_dependent_brier(d["time"], d["dead"], S[:, :2], TIMES, engine="python")
    with pytest.raises(InputError, match="g_limit"):
        uno_concordance(d["time"], d["dead"], d["lp"], g_limit="middle", engine="python")
    with pytest.raises(InputError, match="strictly positive"):
        uno_concordance(d["time"] - 100, d["dead"], d["lp"], engine="python")
    with pytest.raises(InputError, match="missing"):
        uno_concordance(d["time"], d["dead"], d["lp"].where(d.index > 0), engine="python")


@pytest.mark.r
def test_one_time_point_on_the_r_engine(test_data_dir):
    """R returns a length-1 result as a scalar; one time point must still give one row."""
    lung = pd.read_csv(test_data_dir / "lung.csv").assign(dead=lambda d: d.status - 1)
    py = time_dependent_auc(lung.time, lung.dead, lung.age, times=[365], engine="python").table
    rr = time_dependent_auc(lung.time, lung.dead, lung.age, times=[365], engine="r").table
    assert len(rr) == 1 and rr["auc"].iloc[0] == pytest.approx(py["auc"].iloc[0], abs=1e-9)
