"""End-to-end fast demo study: the contract of ``run_study``, its numbers recomputed directly with
the statistics API (Python engine, so with R as the package default this is also an R-vs-Python
parity check), no leakage of test cohorts into anything learnt, and the rendered HTML showing
those same numbers."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from her2stats.errors import ConfigError
from her2stats.reporting.config import load_config
from her2stats.reporting.format import fmt_ci, fmt_p

pytestmark = [pytest.mark.slow, pytest.mark.deep, pytest.mark.xdist_group("demo_study")]

COVS = ["age", "er", "pr", "grade", "ki67", "tumor_size_mm"]


def _part(res, cohort):
    c = res.cohort
    return c[c["cohort_split"] == cohort]


def _prob(res, model, cohort):
    p = res.predictions
    return p[(p["model"] == model) & (p["cohort"] == cohort)]


def test_contract(fast_demo):
    res, _ = fast_demo
    assert set(res.cohort["cohort_split"]) == {"development", "internal", "external"}
    assert list(res.flow.columns) == ["step", "n_remaining", "n_excluded", "reason"]
    # every exclusion is counted: loaded - excluded = analysed
    assert int(res.flow["n_remaining"].iloc[0]) - int(res.flow["n_excluded"].sum()) == len(res.cohort)
    assert int(res.flow["n_remaining"].iloc[-1]) == len(res.cohort)
    assert list(res.predictions.columns) == ["patient_id", "cohort", "model", "prob", "y"]
    assert {"clinical", "deep_score", "combined", "lr", "rf", "svm"} <= set(res.predictions["model"])
    for key in ("auc/clinical/external", "auc_ci_low/combined/internal", "sensitivity/clinical/external",
                "hl_p/clinical/development", "brier/combined/external", "delong_p/clinical~combined/external",
                "or/age", "or_ci_low/grade=3", "or_p/ki67", "logrank_p", "hr/her2_status=positive", "cox_c",
                "dca_useful_from/clinical/development", "validate_c/clinical", "validate_slope/combined"):
        assert key in res.numbers, key
    for name in ("table1", "table1_by_cohort", "performance", "delong", "calibration", "internal_validation", "or_table",
                 "cox", "flow"):
        assert name in res.tables, name
        assert (res.outdir / "tables" / f"{name}.docx").is_file()
    for name in ("roc_development", "roc_internal", "roc_external", "roc_panels", "calibration_clinical",
                 "calibration_combined", "dca_external", "nomogram", "km", "forest_or", "forest_hr", "lasso", "shap",
                 "gradcam"):
        assert res.figures[name].is_file() and res.figures[name].with_suffix(".pdf").is_file(), name
        for fmt in ("png", "pdf", "svg", "tiff"):  # the files demo.yaml's report.figure_formats asks for
            assert res.figures[name].with_suffix(f".{fmt}").is_file() == (fmt in res.config.report.figure_formats)
    # Grad-CAM of the Deep Score: the two highest-scoring positives and two lowest-scoring negatives
    gc = res.results["gradcam"]
    ext = _part(res, "external")
    assert gc["cohort"] == "external" and len(gc["patients"]) == 4
    scores = ext.set_index("patient_id")["deep_score"]
    pos = ext[ext["her2_positive"].astype(int) == 1].nlargest(2, "deep_score")["patient_id"].tolist()
    assert gc["patients"][:2] == pos
    assert np.allclose(gc["scores"], scores.loc[gc["patients"]].to_numpy(), atol=1e-9)
    assert "engine =" in res.methods and "fast smoke-test" in res.methods
    assert (res.outdir / "numbers.json").is_file() and (res.outdir / "predictions.csv").is_file()
    assert (res.outdir / "features" / "failures.csv").is_file()
    assert (res.outdir / "features" / "deep_score_coefficients.csv").is_file()


def test_numbers_recomputed_with_stats_api(fast_demo):
    """Refit the clinical model on the development rows and recompute AUC, DeLong, cut-off
    metrics, OR, log-rank and Cox with the Python engine: equal within the stated tolerances."""
    from her2stats.stats.diagnostics import choose_threshold, diagnostic_metrics
    from her2stats.stats.logistic import logistic_table
    from her2stats.stats.models import fit_lrm
    from her2stats.stats.roc import roc_auc, roc_test
    from her2stats.stats.survival import cox, logrank_test

    res, _ = fast_demo
    n = res.numbers
    dev, ext = _part(res, "development"), _part(res, "external")
    m = fit_lrm(dev, "her2_positive", COVS, engine="python")
    p_ext = m.predict(ext)
    # predictions of the study equal an independent refit on development rows (1e-6: iterative fit)
    got = _prob(res, "clinical", "external").set_index("patient_id").loc[ext["patient_id"], "prob"].to_numpy()
    np.testing.assert_allclose(got, p_ext, atol=1e-6)
    y_ext = ext["her2_positive"].astype(int).to_numpy()
    a = roc_auc(y_ext, got, direction="<", engine="python")
    assert n["auc/clinical/external"] == pytest.approx(a.auc, abs=1e-9)            # closed form
    assert n["auc_ci_low/clinical/external"] == pytest.approx(a.ci_low, abs=1e-9)
    assert n["auc_ci_high/clinical/external"] == pytest.approx(a.ci_high, abs=1e-9)

    comb = _prob(res, "combined", "external").set_index("patient_id").loc[ext["patient_id"], "prob"].to_numpy()
    t = roc_test(y_ext, got, comb, direction="<", engine="python")
    assert n["delong_p/clinical~combined/external"] == pytest.approx(t.p_value, abs=1e-9)

    # the cut-off is chosen on development data and carried, unchanged, to the external cohort
    p_dev = _prob(res, "clinical", "development").set_index("patient_id").loc[dev["patient_id"], "prob"].to_numpy()
    rule = choose_threshold(dev["her2_positive"].astype(int), p_dev, direction="<")
    assert n["threshold/clinical"] == pytest.approx(rule.value, abs=1e-12)
    d = diagnostic_metrics(y_ext, got, threshold=rule, role="test", engine="python")
    for metric in ("sensitivity", "specificity", "ppv", "npv", "accuracy", "f1"):
        assert n[f"{metric}/clinical/external"] == pytest.approx(d[metric], abs=1e-12), metric

    lt = logistic_table(dev, "her2_positive", COVS + ["deep_score"], engine="python")
    g3 = lt.frame.set_index(["variable", "level"]).loc[("grade", "3")]
    assert n["or/grade=3"] == pytest.approx(g3["multi_or"], rel=1e-6)
    assert n["or_p/grade=3"] == pytest.approx(g3["multi_p"], rel=1e-5, abs=1e-9)

    lr = logrank_test(res.cohort, "rfs_time", "rfs_event", "her2_status", engine="python")
    assert n["logrank_p"] == pytest.approx(lr.p_value, rel=1e-9)
    cx = cox(res.cohort, "rfs_time", "rfs_event", ["her2_status", "age", "grade", "t_stage", "n_stage"],
             stepwise="both", engine="python")
    hr = cx.summary.set_index("term").loc["her2_status=positive"]
    assert n["hr/her2_status=positive"] == pytest.approx(hr["HR"], rel=1e-6)
    assert n["cox_c"] == pytest.approx(cx.concordance.concordance, abs=1e-9)


def test_no_leakage_into_learnt_steps(fast_demo):
    """Everything learnt (feature selection, LASSO, Deep Score, zoo tuning, clinical model) saw
    the development patients only, and the reloaded results keep the numbers but no models."""
    from her2stats.reporting.study import load_results

    res, _ = fast_demo
    dev = _part(res, "development")
    n_dev, ev_dev = len(dev), int(dev["her2_positive"].astype(int).sum())
    pipe = res.models["deep_pipeline"]
    assert pipe.named_steps["lasso"].cv_result_.n == n_dev
    assert pipe.named_steps["deepscore"].n_train_ == n_dev and pipe.named_steps["deepscore"].n_events_ == ev_dev
    assert res.results["zoo"].n == n_dev
    assert res.models["clinical"].n == n_dev and res.models["combined"].n == n_dev
    ext = _part(res, "external")
    assert ext["deep_score"].notna().all()
    assert not set(ext["patient_id"]) & set(dev["patient_id"])
    again = load_results(res.outdir)
    assert again.models == {} and again.numbers == res.numbers


def test_html_report_shows_the_numbers(fast_demo):
    res, html_path = fast_demo
    # an estimate and its CI are joined by a no-break space in the report (never split across lines)
    html = Path(html_path).read_text(encoding="utf-8").replace("\u00a0", " ").replace("&nbsp;", " ")
    n = res.numbers
    # performance table: AUC (95% CI) strings as printed by the builder
    for model in ("clinical", "combined", "deep_score"):
        s = fmt_ci(n[f"auc/{model}/external"], n[f"auc_ci_low/{model}/external"], n[f"auc_ci_high/{model}/external"])
        assert s in html, (model, s)
    assert f"P = {fmt_p(n['logrank_p'])}" in html
    assert f"{n['cox_c']:.3f}" in html
    for title in ("Table S1. Cohort flow", "Table 1. Baseline characteristics by HER2 status", "Diagnostic performance",
                  "Pairwise comparison of AUCs", "Calibration of the logistic models", "Cox regression", "Methods"):
        assert title in html, title
    # labels from the data dictionary (and the config's override), never raw column names
    assert "Tumour size on MRI (mm), " in html and "HER2-positive (n = " in html and "Histological grade" in html
    # (the cohort flow, a supplementary audit trail, names the columns whose values were missing)
    main = html.split('id="baseline-characteristics"')[1].split('id="reporting-checklist-tripodai"')[0]
    for raw in ("tumor_size_mm", "her2_status", "ki67", "her2_positive"):
        assert raw not in main, raw
    # the flow's counts are in the report
    assert f"{len(res.cohort)} analysed" in html
    imgs = re.findall(r'<img[^>]+src="data:image/png;base64,', html)
    # every figure embedded (self-contained HTML); the per-cohort ROC files are shown as one panel figure
    shown = [f for f in res.figures if not (f.startswith("roc_") and f != "roc_panels" and "roc_panels" in res.figures)]
    assert len(imgs) >= len(shown)


def test_tripod_checklist_filled_from_the_run(fast_demo):
    res, html_path = fast_demo
    tri = res.results["tripod"].to_frame()
    assert len(tri) == 52  # every TRIPOD+AI 2024 sub-item
    # the run's own facts fill the items it knows: the outcome of the flow and the cohort sizes
    by_item = tri.set_index("item")
    assert by_item.loc["11", "status"] == "reported"     # missing data: complete case, n excluded counted
    # participant flow: sizes and events per cohort are known; exclusions happen before the split,
    # so they cannot be attributed to one cohort and the item stays "partly" (honestly)
    assert by_item.loc["20a", "status"] == "partly"
    assert f"development: n={int(res.numbers['n/development'])}" in by_item.loc["20a", "evidence"]
    assert str(int(res.numbers["n/development"])) in " ".join(tri["evidence"])
    assert res.results["tripod"].study_type == "development and evaluation"
    html = Path(html_path).read_text(encoding="utf-8")
    assert "TRIPOD+AI checklist (filled from this run)" in html


def test_config_errors_name_the_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nsplits:\n  by: hospital\n")
    with pytest.raises(ConfigError, match=r"splits\.by"):
        load_config(bad)
    leaky = tmp_path / "leaky.yaml"
    leaky.write_text("name: x\ncohort:\n  exclude_predictors: [subtype]\nclinical:\n  covariates: [age, subtype]\n")
    with pytest.raises(ConfigError, match="subtype"):
        load_config(leaky)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")


def test_run_study_rejects_unknown_columns(tmp_path):
    from her2stats.errors import InputError
    from her2stats.reporting.study import run_study

    cfg = {"name": "x", "cohort": {"source": "demo"}, "splits": {"train": ["A", "B"], "external": ["C"]},
           "clinical": {"covariates": ["age", "no_such_column"]}}
    with pytest.raises(InputError, match="no_such_column"):
        run_study(cfg, fast=True, outdir=tmp_path)
    with pytest.raises(ConfigError, match="defines no analysis"):
        run_study({"name": "x", "splits": {"train": ["A", "B"], "external": ["C"]}, "table1": {"variables": ["age"]}},
                  fast=True, outdir=tmp_path)


def test_cli_report_bad_config_exits_with_the_key(tmp_path):
    from typer.testing import CliRunner

    from her2stats.cli import app

    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nvalidation:\n  n_boot: 0\n")
    out = CliRunner().invoke(app, ["report", str(bad), "--out", str(tmp_path / "o")])
    assert out.exit_code == 2
    assert "validation.n_boot" in out.output


def test_cli_report_refuses_unknown_format_and_style_before_running(tmp_path):
    """A bad --format or --style is a config error (exit 2) named before the study runs."""
    from typer.testing import CliRunner

    from her2stats.cli import app

    demo = Path(__file__).resolve().parents[2] / "reports" / "demo.yaml"
    out = CliRunner().invoke(app, ["report", str(demo), "--format", "html,odt", "--out", str(tmp_path / "o")])
    assert out.exit_code == 2 and "'odt'" in out.output
    out = CliRunner().invoke(app, ["report", str(demo), "--style", "lancet", "--out", str(tmp_path / "o")])
    assert out.exit_code == 2 and "report.style" in out.output
    assert not (tmp_path / "o" / "tables").exists()  # nothing ran
