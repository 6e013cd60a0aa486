"""Publication-table builders: the printed strings are the statistics results' numbers, formatted
as journals print them (checked cell by cell against the result objects)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from her2stats.data import load_demo
from her2stats.errors import InputError
from her2stats.reporting import builders as B
from her2stats.reporting.format import fmt_ci, fmt_p, fmt_ratio_ci


@pytest.fixture(scope="module")
def demo():
    return load_demo()


def test_table1_table_matches_table_one(demo):
    from her2stats.stats.tables import table_one

    t1 = table_one(demo, "her2_status", variables=["age", "er", "grade", "ki67"], p_adjust="fdr_bh", engine="python")
    pt = B.table1_table(t1)
    d = pt.data
    # group columns carry their dictionary label and n, as journals head them
    neg, pos = (f"HER2-{g} (n = {n})" for g, n in zip(t1.groups, t1.n))
    assert list(d.columns[1:3]) == [neg, pos]
    assert sum(t1.n) == len(demo)
    assert pt.title == "Baseline characteristics by HER2 status" and pt.stub == "Characteristic"
    # continuous row: label (with unit) names the summary; P is the table_one p formatted
    age = d[d["Characteristic"].str.startswith("Age (years), ")].iloc[0]
    p_age = float(t1.tests.set_index("variable").loc["age", "p_value"])
    assert age["P"] == fmt_p(p_age) and age["P"] != ""
    assert age["P (adjusted)"] == fmt_p(float(t1.tests.set_index("variable").loc["age", "p_adjusted"]))
    # level rows are indented and carry n (%) with no P
    er_rows = d[d["Characteristic"] == "\u2003ER-positive"]
    n_er_pos_neg = int(((demo["her2_status"] == "negative") & (demo["er"] == "positive")).sum())
    assert er_rows.iloc[0][neg].startswith(f"{n_er_pos_neg} (")
    assert er_rows.iloc[0]["P"] == ""
    assert any("Benjamini" in n or "adjusted" in n for n in pt.footnotes)


def test_or_table_formats_logistic_table(demo):
    from her2stats.stats.logistic import logistic_table

    lt = logistic_table(demo, "her2_positive", ["age", "er", "grade"], engine="python")
    pt = B.or_table(lt)
    d = pt.data.set_index("Variable")
    r = lt.frame.set_index(["variable", "level"]).loc[("grade", "3")]
    row = "Histological grade: 3 vs 1"  # dictionary label; grade has no level labels
    assert d.loc[row, "Multivariable OR (95% CI)"] == fmt_ratio_ci(r["multi_or"], r["multi_ci_low"], r["multi_ci_high"])
    assert d.loc[row, "Univariable P"] == fmt_p(r["uni_p"])
    assert "ER-positive vs ER-negative" in d.index
    a = lt.frame.set_index("variable").loc["age"]
    # OR below 1 gets one more decimal (0.969 not 0.97)
    assert d.loc["Age (years)", "Multivariable OR (95% CI)"].startswith(f"{a['multi_or']:.3f} (")
    # spanned headings print "OR (95% CI)" / "P" under "Univariable" / "Multivariable"
    assert pt.heading("Univariable P") == "P" and pt.spanners["Multivariable"] == ["Multivariable OR (95% CI)", "Multivariable P"]
    # labels= overrides the dictionary, and a label for a column the table lacks is refused
    d2 = B.or_table(lt, labels={"grade": {"label": "Grade", "levels": {"3": "G3", "1": "G1"}}}).data
    assert "G3 vs G1" in set(d2["Variable"])
    with pytest.raises(InputError, match="'size'"):
        B.or_table(lt, labels={"size": "Size"})
    assert set(pt.spanners) == {"Univariable", "Multivariable"}


def test_performance_and_delong_tables():
    from her2stats.stats.diagnostics import choose_threshold, diagnostic_metrics
    from her2stats.stats.roc import compare_aucs, roc_auc

    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 120)
    s1 = y + rng.normal(0, 1.0, 120)
    s2 = y + rng.normal(0, 1.6, 120)
    rule = choose_threshold(y[:60], s1[:60], source="development cohort")
    a = roc_auc(y[60:], s1[60:], engine="python")
    d = diagnostic_metrics(y[60:], s1[60:], threshold=rule, role="test", engine="python")
    pt = B.performance_table({("clinical", "external"): (a, d)}, thresholds={"clinical": rule})
    row = pt.data.iloc[0]
    assert row["Model"] == "Clinical model" and row["Cohort"] == "External test"
    assert row["AUC (95% CI)"] == fmt_ci(a.auc, a.ci_low, a.ci_high)
    sens = d.table.set_index("metric").loc["sensitivity"]
    # STARD: the counts behind each proportion, then the estimate and its CI on one line
    assert row["Sensitivity"] == f"{d.tp}/{d.tp + d.fn} = " + fmt_ci(sens["estimate"], sens["ci_low"], sens["ci_high"])
    spec = d.table.set_index("metric").loc["specificity"]
    assert row["Specificity"] == f"{d.tn}/{d.tn + d.fp} = " + fmt_ci(spec["estimate"], spec["ci_low"], spec["ci_high"])
    assert row["PPV"].startswith(f"{d.tp}/{d.tp + d.fp} = ") and row["NPV"].startswith(f"{d.tn}/{d.tn + d.fn} = ")
    assert pt.groupname == "Cohort" and pt.stub == "Model"  # rows grouped by cohort
    # the development-chosen cut-off is named, with its value, in a footnote
    assert any(f"{rule.value:.4g}" in n and "development" in n for n in pt.footnotes)

    comp = compare_aucs(y, {"clinical": s1, "combined": s2}, engine="python")
    dt = B.delong_table({"internal": comp}).data.iloc[0]
    pair = comp.pairs.iloc[0]
    assert dt["P"] == fmt_p(pair["p_value"]) and dt["P (adjusted)"] == fmt_p(pair["p_adjusted"])
    assert dt["\u0394AUC (95% CI)"] == fmt_ci(pair["difference"], pair["ci_low"], pair["ci_high"])


def test_cox_table_and_ph(demo):
    from her2stats.stats.survival import cox

    res = cox(demo, "rfs_time", "rfs_event", ["her2_status", "age"], engine="python")
    ph = res.ph_test()
    pt = B.cox_table(res, ph=ph)
    r = res.summary.set_index("term").loc["her2_status=positive"]
    row = pt.data.set_index("Variable").loc["HER2-positive vs HER2-negative"]
    assert row["HR (95% CI)"] == fmt_ratio_ci(r["HR"], r["ci_low"], r["ci_high"])
    assert any(f"{res.concordance.concordance:.3f}" in n for n in pt.footnotes)
    assert any("cox.zph" in n for n in pt.footnotes)


def test_agreement_and_calibration_tables():
    from her2stats.stats.agreement import icc, kappa
    from her2stats.stats.calibration import hosmer_lemeshow, val_prob

    rng = np.random.default_rng(0)
    truth = rng.normal(size=30)
    long = pd.DataFrame({"case": np.repeat(np.arange(30), 2), "rater": np.tile(["a", "b"], 30),
                         "value": np.repeat(truth, 2) + rng.normal(0, 0.3, 60)})
    ic = icc(long, "case", "rater", "value", engine="python")
    r1 = rng.integers(0, 3, 50)
    r2 = np.where(rng.random(50) < 0.8, r1, rng.integers(0, 3, 50))
    ka = kappa(r1, r2, engine="python")
    at = B.agreement_table({"tumour size": ic}, {"BI-RADS margin": ka}).data
    assert at.iloc[0]["Estimate (95% CI)"] == fmt_ci(ic.value, ic.ci_low, ic.ci_high)
    assert at.iloc[1]["Estimate (95% CI)"] == fmt_ci(ka.kappa, ka.ci_low, ka.ci_high)

    y = rng.integers(0, 2, 200)
    p = np.clip(0.3 + 0.4 * y + rng.normal(0, 0.15, 200), 0.01, 0.99)
    hl = hosmer_lemeshow(y, p, engine="python")
    vp = val_prob(y, p, engine="python")
    ct = B.calibration_table({("clinical", "development"): {"hl": hl, "val_prob": vp}})
    row = ct.data.iloc[0]
    assert row["HL P\u2020"] == fmt_p(hl.p_value)
    assert row["Slope"] == f"{vp.slope:.3f}"
    assert any("legacy" in n for n in ct.footnotes)


def test_flow_table_and_bad_input():
    flow = pd.DataFrame({"step": ["loaded", "outcome known"], "n_remaining": [10, 8], "n_excluded": [0, 2],
                         "reason": ["", "missing her2"]})
    ft = B.flow_table(flow)
    assert ft.data["Excluded"].tolist() == ["0", "2"]
    assert "2 patient(s) excluded" in ft.footnotes[0]
    with pytest.raises(InputError, match="flow needs columns"):
        B.flow_table(flow.drop(columns="reason"))
    with pytest.raises(InputError, match="Table1"):
        B.table1_table(flow)
    with pytest.raises(InputError, match="at least one"):
        B.agreement_table()


def test_tables_write_every_format(tmp_path, demo):
    from her2stats.stats.logistic import logistic_table

    pt = B.or_table(logistic_table(demo, "her2_positive", ["age", "er"], engine="python"))
    paths = pt.save(tmp_path / "or")
    assert {p.suffix for p in paths} == {".html", ".csv", ".tex", ".docx", ".xlsx"}
    assert all(p.stat().st_size > 0 for p in paths)
    assert "Multivariable" in (tmp_path / "or.html").read_text()


def test_validation_table_matches_validate(demo):
    from her2stats.reporting.format import fmt_num
    from her2stats.stats.calibration import validate
    from her2stats.stats.models import fit_lrm

    m = fit_lrm(demo, "her2_positive", ["age", "grade", "ki67"], engine="python")
    v = validate(m, B=20, seed=1, engine="python")
    d = B.validation_table({"clinical": v}).data.set_index("Index")
    assert d.loc["C-index (AUC)", "Optimism-corrected"] == fmt_ci(v.corrected("C"), v.ci.loc["C", "ci_low"], v.ci.loc["C", "ci_high"])
    assert d.loc["Somers' Dxy", "Apparent"] == fmt_num(v.table.loc["Dxy", "index_orig"])
    assert d.loc["Calibration slope", "Optimism"] == fmt_num(v.table.loc["Slope", "optimism"])


def test_study_model_labels_name_the_models_in_tables_only_inside_the_run():
    """image_models / networks / fusion.late `label:` keys become the models' display names while a
    study runs (and in its report kernel), and nowhere else."""
    from her2stats.reporting.config import load_config
    from her2stats.reporting.study import study_model_labels

    cfg = load_config("reports/seeds/seed004.yaml")
    labels = study_model_labels(cfg)
    assert labels == {"rad": "Radiomics model", "dl": "Deep-learning model", "dlr": "DLR (late fusion)",
                      "dl_avg": "Deep-learning model (slice-averaged)", "dlr_avg": "DLR (slice-averaged)"}
    assert B.model_label("dlr") == "dlr"
    with B.model_labels(labels):
        assert B.model_label("dlr") == "DLR (late fusion)"
        assert B.model_label("deep_score") == "Deep Score"  # the package's names stay
        with B.model_labels({"dlr": "Fusion"}):
            assert B.model_label("dlr") == "Fusion"
            assert B.model_label("rad") == "Radiomics model"
        assert B.model_label("dlr") == "DLR (late fusion)"
    assert B.model_label("dlr") == "dlr"
