"""Uncertainty by default in the study report (issue 17, item 2), on the fast demo study: every ROC
curve has its bootstrap sensitivity band and the development cut-off's operating point, every
cohort (the test cohorts included) has its calibration hierarchy and banded calibration curve,
decision curves have bootstrap bands and the difference in net benefit against the clinical model,
the optimism-corrected indices have CIs on the engine the study ran on, and the report's captions
say what each band is and how many replicates it took. Each number is recomputed here with the
statistics API, same seed and engine, and must be identical."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from her2stats.reporting import figures as F

pytestmark = [pytest.mark.slow, pytest.mark.deep, pytest.mark.xdist_group("demo_study")]


def _yp(res, model, cohort):
    p = res.predictions
    p = p[(p["model"] == model) & (p["cohort"] == cohort)]
    return p["y"].to_numpy(), p["prob"].to_numpy(float)


def test_roc_bands_are_the_stated_bootstrap(fast_demo):
    from her2stats.stats.roc import sensitivity_at

    res, _ = fast_demo
    nb = res.results["band_n_boot"]
    assert nb == 100  # fast mode: the fewest replicates a percentile band takes
    bands = res.results["roc_bands"]
    perf = res.results["performance"]
    assert {(m, c) for c, per in bands.items() for m in per} == set(perf)
    b = bands["external"]["combined"]
    assert b.n_boot == nb and b.direction == "<"
    y, p = _yp(res, "combined", "external")
    again = sensitivity_at(y, p, specificity=F.ROC_BAND_SPECIFICITIES, n_boot=nb, seed=res.config.validation.seed,
                           direction="<", engine=b.engine)
    pd.testing.assert_frame_equal(again.table, b.table)
    t = b.table.set_index("specificity")
    assert res.numbers["sens_at_spec_90/combined/external"] == t.loc[0.9, "sensitivity"]
    assert res.numbers["sens_at_spec_90_ci_low/combined/external"] == t.loc[0.9, "ci_low"]
    # development bands come from the out-of-fold predictions (honest, issue 17): never in-sample
    assert "sens_at_spec_90/combined/development" in res.numbers
    assert "sens_at_spec_90_apparent/combined/development" not in res.numbers
    dev = res.results["roc_bands"]["development"]["combined"]
    cv = pd.read_csv(res.outdir / "predictions_cv.csv")
    cv = cv[cv["model"] == "combined"]
    again = sensitivity_at(cv["y"].to_numpy(), cv["prob"].to_numpy(), specificity=F.ROC_BAND_SPECIFICITIES, n_boot=nb,
                           seed=res.config.validation.seed, direction="<", engine=dev.engine)
    pd.testing.assert_frame_equal(again.table, dev.table)


def test_calibration_in_every_cohort_with_bands(fast_demo):
    from her2stats.stats.calibration import calibration_hierarchy

    res, _ = fast_demo
    hier = res.results["calibration_hierarchy"]
    cohorts = set(res.cohort["cohort_split"])
    for m in ("clinical", "combined"):
        assert {c for mm, c in hier if mm == m} == cohorts, m
        assert res.figures[f"calibration_bands_{m}"].is_file()
    h = hier[("combined", "external")]
    y, p = _yp(res, "combined", "external")
    inside = (p > 0) & (p < 1)  # a prediction of exactly 0 or 1 has no logit: left out and counted in the notes
    assert h.n == inside.sum()
    if not inside.all():
        assert any(f"{(~inside).sum()} of {len(p)} prediction(s) of exactly 0 or 1" in x for x in res.methods.split("\n"))
    again = calibration_hierarchy(y=y[inside], prob=p[inside], n_boot=res.results["band_n_boot"],
                                  seed=res.config.validation.seed, engine=h.engine)
    pd.testing.assert_frame_equal(again.table, h.table)
    pd.testing.assert_frame_equal(again.curve, h.curve)
    s = h.table.loc["calibration slope"]
    assert res.numbers["cal_slope_ci_low/combined/external"] == s["ci_low"]
    assert res.numbers["cal_slope_ci_high/combined/external"] == s["ci_high"]
    assert res.numbers["cal_slope/combined/external"] == pytest.approx(s["estimate"], abs=1e-6)  # val.prob's
    assert "cal_ici/combined/development" in res.numbers and "cal_ici_apparent/combined/development" not in res.numbers
    assert "calibration_hierarchy" in res.tables
    assert (res.outdir / "tables" / "calibration_hierarchy.docx").is_file()


def test_decision_curves_bands_and_difference_against_clinical(fast_demo):
    res, _ = fast_demo
    nb = res.results["band_n_boot"]
    dc = res.results["dca"]["external"]
    assert dc.n_boot == nb and dc.boot.shape[0] == nb
    diff = dc.difference("combined", "clinical").set_index("threshold")
    assert res.numbers["nb_diff/combined~clinical/external/0.2"] == diff.loc[0.2, "difference"]
    assert res.numbers["nb_diff_ci_low/combined~clinical/external/0.2"] == diff.loc[0.2, "ci_low"]
    assert res.numbers["nb_diff_ci_high/combined~clinical/external/0.2"] == diff.loc[0.2, "ci_high"]
    # comparisons only where the predictions are held out
    assert not any(k.startswith("nb_diff") and "/development/" in k for k in res.numbers)
    assert set(res.results["nb_difference"]) == {"internal", "external"}
    assert "nb_difference" in res.tables


def test_optimism_corrected_indices_have_cis_on_the_active_engine(fast_demo):
    res, _ = fast_demo
    for m in ("clinical", "combined"):
        vr = res.results[f"validate/{m}"]
        lo, hi = res.numbers[f"validate_c_ci_low/{m}"], res.numbers[f"validate_c_ci_high/{m}"]
        assert np.isfinite(lo) and lo < res.numbers[f"validate_c/{m}"] < hi, (m, vr.engine)
        assert np.isfinite(res.numbers[f"validate_slope_ci_low/{m}"])


def test_report_captions_name_the_band_and_replicates(fast_demo):
    res, html = fast_demo
    text = html.read_text(encoding="utf-8")
    nb = res.results["band_n_boot"]
    assert f"stratified bootstrap, {nb} replicates, as pROC ci.se" in text
    assert "operating point" in text
    assert f"95% bootstrap percentile band ({nb} resamples of the" in text
    assert f"bootstrap percentile bands ({nb} resamples of the patients)" in text
    assert "difference in net benefit of each model against the clinical model" in text
    assert "Calibration hierarchy" in text
    assert "Uncertainty (" in res.methods

