"""Study sections of multicentre studies (her2stats.reporting.sections_centre): the config keys
(validation.scheme iecv, subgroups:, reader_study:, harmonization.diagnostics) with their errors;
a small multi-centre fixture run through each section function, whose numbers must equal the
library functions' own output on the same inputs; the report template's sections rendered from
the section outputs.

Van Dyke et al. (1993) reader data: data/vandyke/VanDyke.csv (citation in its README); published
Obuchowski-Rockette results (random readers and cases, jackknife covariance): F = 4.456,
ddf = 15.26, p = 0.0517 (Hillis 2007; MRMCaov and RJafroc documentation).
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import her2stats as h2
from her2stats.errors import ConfigError, InputError
from her2stats.reporting import sections_centre as S
from her2stats.reporting.config import check_columns, config_columns, load_config

REPO = Path(__file__).resolve().parents[2]
VANDYKE = REPO / "data" / "vandyke" / "VanDyke.csv"
TEMPLATE = REPO / "reports" / "her2_study.qmd"


def _centres(seed: int = 3, n: int = 420) -> pd.DataFrame:
    """Four centres with a centre effect on the intercept (B) and two scanner makes."""
    rng = np.random.default_rng(seed)
    d = pd.DataFrame({"center": rng.choice(["A", "B", "C", "D"], n), "age": rng.normal(55, 10, n),
                      "x1": rng.normal(size=n), "x2": rng.normal(size=n),
                      "manufacturer": rng.choice(["GE", "Siemens"], n)})
    lp = -0.4 + 0.9 * d["x1"] + 0.02 * (d["age"] - 55) + 0.5 * (d["center"] == "B")
    d["y"] = (rng.random(n) < 1 / (1 + np.exp(-lp))).astype(int)
    return d


# ---------------------------------------------------------------------------------- config
def test_config_keys_parse():
    cfg = load_config({"name": "x", "validation": {"scheme": "iecv", "by": "center", "net_benefit_thresholds": [0.3, 0.2]},
                       "subgroups": ["manufacturer", "field_strength"],
                       "reader_study": {"path": "data/vandyke/VanDyke.csv", "treatment_labels": {1: "Cine MRI"}}})
    assert cfg.validation.scheme == "iecv" and cfg.validation.net_benefit_thresholds == [0.2, 0.3]
    assert cfg.subgroups.variables == ["manufacturer", "field_strength"] and cfg.subgroups.p_adjust == "holm"
    assert cfg.reader_study.method == "OR" and cfg.reader_study.fixed is None
    cols = config_columns(cfg)
    assert ("validation.by", "center") in cols and ("subgroups.variables", "field_strength") in cols
    assert load_config({"name": "x"}).validation.scheme == "split"  # the default adds nothing


@pytest.mark.parametrize("section, message", [
    ({"validation": {"scheme": "iecvv"}}, r"validation\.scheme: Input should be 'split' or 'iecv'; did you mean 'iecv'\?"),
    ({"validation": {"schem": "iecv"}}, r"validation\.schem: unknown key; did you mean 'scheme'\?"),
    ({"subgroups": {"variabels": ["a"]}}, r"subgroups\.variabels: unknown key; did you mean 'variables'\?"),
    ({"subgroups": {"variables": ["a"], "p_adjust": "hlm"}}, r"subgroups\.p_adjust: .*did you mean 'holm'\?"),
    ({"subgroups": []}, r"subgroups\.variables: List should have at least 1 item"),
    ({"subgroups": {"variables": ["age"], "bands": {"age": [0, 50]}}}, r"at least 3 increasing edges"),
    ({"subgroups": {"variables": ["a"], "bands": {"age": [0, 50, 90]}}}, r"not in subgroups\.variables"),
    ({"subgroups": {"variables": ["a"], "on": "iecv"}}, r"validation\.scheme is 'split'"),
    ({"subgroups": ["her2_positive"]}, r"contains the outcome 'her2_positive'"),
    ({"reader_study": {"path": "r.csv", "metrc": "auc"}}, r"reader_study\.metrc: unknown key; did you mean 'metric'\?"),
    ({"reader_study": {"path": "r.csv", "cov": "jacknife"}}, r"did you mean 'jackknife'\?"),
    ({"reader_study": {"path": "r.csv", "metric": "sensitivity"}}, r"reader_study\.threshold is required"),
    ({"reader_study": {"rating": "r"}}, r"reader_study\.path: Field required"),
    ({"validation": {"net_benefit_thresholds": [0, 0.2]}}, r"strictly between 0 and 1"),
])
def test_config_errors_name_the_key(section, message):
    with pytest.raises(ConfigError, match=message):
        load_config({"name": "x", **section})


def test_columns_of_the_new_keys_are_checked_with_suggestions():
    cfg = load_config({"name": "x", "validation": {"scheme": "iecv", "by": "centre"}, "subgroups": ["Manufacturer"],
                       "imaging": {}, "harmonization": {"batch": "manufacturer", "diagnostics": ["field_strenght"]}})
    cols = ["patient_id", "her2_positive", "center", "manufacturer", "field_strength"]
    with pytest.raises(InputError) as info:
        check_columns(cfg, cols)
    msg = str(info.value)
    assert "validation.by: column 'centre' not in the cohort; did you mean 'center'?" in msg
    assert "subgroups.variables: column 'Manufacturer' not in the cohort; did you mean 'manufacturer'?" in msg
    assert "harmonization.diagnostics: column 'field_strenght' not in the cohort; did you mean 'field_strength'?" in msg


# ---------------------------------------------------------------------------------- IECV
class _SelectOnTrain:
    """Clinical selection stand-in: records the centres it was given and keeps the covariate with the
    largest |correlation| with y on those rows only."""

    def __init__(self):
        self.seen = []

    def __call__(self, train):
        self.seen.append(sorted(train["center"].unique()))
        r = {c: abs(np.corrcoef(train[c], train["y"])[0, 1]) for c in ("age", "x1", "x2")}
        return [max(r, key=r.get)]


def test_iecv_section_equals_internal_external_cv():
    from sklearn.linear_model import LogisticRegression

    d = _centres()
    select = _SelectOnTrain()
    pipes = {"clinical": S.LogisticFitter("y", ["age", "x1", "x2"], select=select, engine="python"),
             "lr": LogisticRegression()}
    kw = dict(thresholds=[0.3], level=0.95, min_events=5, n_boot=40, seed=7, pi_type="metafor", engine="python")
    sec = S.iecv_section(d, "y", "center", pipes, features={"lr": ["x1", "x2"]}, **kw)
    # selection happened inside each fold, on the training centres only
    assert select.seen == [[c for c in "ABCD" if c != held] for held in "ABCD"]
    for name, feats in (("clinical", None), ("lr", ["x1", "x2"])):
        direct = h2.internal_external_cv(d, pipes[name], y="y", centre="center", features=feats, **kw)
        got = sec.results["iecv"][name]
        pd.testing.assert_frame_equal(got.pooled, direct.pooled)
        pd.testing.assert_frame_equal(got.per_centre, direct.per_centre)
        pd.testing.assert_series_equal(got.predictions["p"], direct.predictions["p"])
        for m in ("auc", "oe", "slope"):
            assert sec.numbers[f"iecv_{m}/{name}"] == direct.pooled.loc[m, "estimate"]
            assert sec.numbers[f"iecv_{m}_pi_low/{name}"] == direct.pooled.loc[m, "pi_low"]
            assert sec.numbers[f"iecv_{m}_pi_high/{name}"] == direct.pooled.loc[m, "pi_high"]
            for _, r in direct.per_centre.iterrows():
                assert sec.numbers[f"iecv_{m}/{name}/{r['centre']}"] == r[m]
    # the printed tables carry the same numbers
    pooled = sec.tables["iecv_pooled"].data
    row = pooled[(pooled["Model"] == "Clinical model") & (pooled["Measure"] == "AUC")].iloc[0]
    ref = sec.results["iecv"]["clinical"].pooled.loc["auc"]
    assert row["Pooled (95% CI)"].startswith(f"{ref['estimate']:.3f}")
    assert row["95% PI (new centre)"] == f"{ref['pi_low']:.3f}\u2013{ref['pi_high']:.3f}"
    per = sec.tables["iecv_per_centre"].data
    assert len(per) == 8 and set(per["Centre"]) == set("ABCD")
    assert {"iecv_forest_clinical", "iecv_forest_lr"} == set(sec.figures)
    assert sec.numbers["iecv/k"] == 4.0
    sec.close_figures()


def test_iecv_section_reports_a_centre_left_out_of_pooling():
    d = _centres()
    d = d[~((d["center"] == "D") & (d["y"] == 1))].copy()  # centre D: no events
    with pytest.warns(UserWarning, match="left out"):
        sec = S.iecv_section(d, "y", "center", {"clinical": S.LogisticFitter("y", ["x1"], engine="python")},
                             n_boot=20, engine="python")
    per = sec.tables["iecv_per_centre"].data
    assert per.loc[per["Centre"] == "D", "Pooled"].iloc[0].startswith("no:")
    assert any("left out" in n for n in sec.notes)  # the exclusion reaches the methods notes
    assert sec.results["iecv"]["clinical"].pooled.loc["auc", "k"] == 3
    sec.close_figures()


def test_by_centre_section_equals_validate_by_centre():
    d = _centres()
    p = 1 / (1 + np.exp(-(-0.4 + 0.8 * d["x1"])))
    kw = dict(level=0.9, min_events=5, n_boot=30, seed=4, pi_type="riley", engine="python")
    sec = S.by_centre_section(d["y"], {"clinical": p}, d["center"], thresholds=[0.25], **kw)
    direct = h2.validate_by_centre(d["y"], p, d["center"], thresholds=[0.25], **kw)
    got = sec.results["centres"]["clinical"]
    pd.testing.assert_frame_equal(got.pooled, direct.pooled)
    pd.testing.assert_frame_equal(got.per_centre, direct.per_centre)
    assert sec.numbers["centres_auc/clinical"] == direct.pooled.loc["auc", "estimate"]
    assert sec.numbers["centres_oe_pi_high/clinical"] == direct.pooled.loc["oe", "pi_high"]
    assert sec.numbers["centres_slope/clinical/B"] == direct.per_centre.set_index("centre").loc["B", "slope"]
    assert "t on k − 2 df" in " ".join(sec.tables["centres_pooled"].footnotes)
    assert "Net benefit at 25%" in sec.tables["centres_per_centre"].data.columns
    sec.close_figures()


def test_combined_fitter_refits_the_image_pipeline_in_each_fold():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    d = _centres()
    pipe = make_pipeline(StandardScaler(), LogisticRegression())
    fit = S.CombinedFitter("y", ["age"], pipeline=pipe, features=["x1", "x2"], engine="python")
    train, valid = d[d["center"] != "A"], d[d["center"] == "A"]
    p = fit(train, valid)
    ref_pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit(train[["x1", "x2"]], train["y"])
    lp = ref_pipe.decision_function(train[["x1", "x2"]])
    ref = h2.fit_lrm(train.assign(deep_score=lp), "y", ["age", "deep_score"], engine="python")
    expect = ref.predict(valid.assign(deep_score=ref_pipe.decision_function(valid[["x1", "x2"]])))
    np.testing.assert_allclose(p, np.asarray(expect, float), rtol=1e-12)
    assert not hasattr(pipe, "classes_")  # the template pipeline is cloned, never fitted


# ---------------------------------------------------------------------------------- subgroups
def test_subgroup_section_equals_subgroup_performance():
    d = _centres()
    p = 1 / (1 + np.exp(-(-0.4 + 0.8 * d["x1"])))
    groups = S.subgroup_frame(d, ["manufacturer", "age"], {"age": [0, 50, 60, 120]})
    assert list(groups["age"].cat.categories) == ["0\u201350", "50\u201360", "60\u2013120"]
    kw = dict(thresholds=[0.3], level=0.95, min_events=5, p_adjust="holm", n_boot=30, seed=2, engine="python")
    sec = S.subgroup_section(d["y"], {"clinical": p}, groups, source="test cohorts", **kw)
    direct = h2.subgroup_performance(d["y"], p, groups, **{**kw, "thresholds": [0.3]})
    got = sec.results["subgroups"]["clinical"]
    pd.testing.assert_frame_equal(got.table, direct.table)
    pd.testing.assert_frame_equal(got.heterogeneity, direct.heterogeneity)
    for _, h in direct.heterogeneity.iterrows():
        assert sec.numbers[f"subgroup_het_p_adj/clinical/{h['variable']}/{h['measure']}"] == h["p_adjusted"]
    for _, t in direct.table.iterrows():
        assert sec.numbers[f"subgroup_auc/clinical/{t['variable']}={t['subgroup']}"] == t["auc"]
    tab = sec.tables["subgroups"].data
    assert list(tab["Subgroup"])[:2] == ["Manufacturer: GE", "Manufacturer: Siemens"]
    assert "Net benefit at 30%" in tab.columns
    assert "Holm" in " ".join(sec.tables["subgroup_heterogeneity"].footnotes)
    sec.close_figures()


def test_subgroup_frame_errors_and_out_of_band_values():
    d = _centres()
    with pytest.raises(InputError, match="did you mean 'manufacturer'"):
        S.subgroup_frame(d, ["manufactur"])
    with pytest.raises(InputError, match="not numeric"):
        S.subgroup_frame(d, ["manufacturer"], {"manufacturer": [0, 1, 2]})
    with pytest.warns(UserWarning, match=r"subgroups\.bands\.age: \d+ value\(s\) outside"):
        g = S.subgroup_frame(d, ["age"], {"age": [40, 55, 70]})
    assert g["age"].isna().sum() == ((d["age"] < 40) | (d["age"] > 70)).sum()


# ---------------------------------------------------------------------------------- harmonisation
def test_harmonization_section_equals_the_diagnostics():
    from her2stats.harmonization import ComBat

    d = _centres()
    rng = np.random.default_rng(5)
    feats = [f"f{i}" for i in range(10)]
    X = pd.DataFrame(rng.normal(size=(len(d), 10)), columns=feats)
    X += (d["manufacturer"] == "GE").to_numpy()[:, None] * np.linspace(0.3, 1.2, 10)
    dev = (d["center"] != "D").to_numpy()
    cb = ComBat(batch_col="manufacturer", features=feats, engine="python")
    cb.fit(X[dev].assign(manufacturer=d["manufacturer"].to_numpy()[dev]))
    after = cb.transform(X.assign(manufacturer=d["manufacturer"].to_numpy()))[feats]
    sec = S.harmonization_section(X, after, d.assign(one="x"), ["manufacturer", "one"],
                                  rows={"development": dev, "test": ~dev}, seed=0)
    for label, mask in (("development", dev), ("test", ~dev)):
        direct = h2.harmonization_diagnostics(X[mask].reset_index(drop=True), after[mask].reset_index(drop=True),
                                              d["manufacturer"].to_numpy()[mask].astype(str),
                                              batch_col="manufacturer", seed=0)
        assert sec.numbers[f"harmonization_auc_before/manufacturer/{label}"] == direct.auc_before
        assert sec.numbers[f"harmonization_auc_after/manufacturer/{label}"] == direct.auc_after
        assert sec.numbers[f"harmonization_icc_after/manufacturer/{label}"] == direct.icc["icc_after"].median()
    assert sec.numbers["harmonization_auc_before/manufacturer/test"] > 0.8
    assert sec.numbers["harmonization_auc_after/manufacturer/test"] < 0.7
    tab = sec.tables["harmonization"].data
    assert (tab["Note"] != "").sum() == 2  # one batch only: reported as not estimable, twice
    assert any("not estimable" in n for n in sec.notes)
    assert set(sec.figures) == {"harmonization_manufacturer"}
    sec.close_figures()


# ---------------------------------------------------------------------------------- reader study
def test_reader_study_section_reproduces_van_dyke():
    rs = load_config({"name": "x", "reader_study": {"path": str(VANDYKE),
                                                    "treatment_labels": {1: "Cine MRI", 2: "Spin-echo MRI"}}}).reader_study
    sec = S.reader_study_section(rs, engine="python")
    direct = h2.mrmc(pd.read_csv(VANDYKE), engine="python")
    assert sec.numbers["mrmc_statistic"] == direct.statistic and sec.numbers["mrmc_p"] == direct.p_value
    assert sec.numbers["mrmc_diff_ci_low"] == direct.ci_low and sec.numbers["mrmc_fom/1"] == direct.treatment_auc[1]
    # published Obuchowski-Rockette values (Hillis 2007; MRMCaov)
    assert round(sec.numbers["mrmc_statistic"], 3) == 4.456 and round(sec.numbers["mrmc_df2"], 2) == 15.26
    assert round(sec.numbers["mrmc_p"], 4) == 0.0517
    fr = h2.mrmc(pd.read_csv(VANDYKE), fixed="readers", engine="python")
    assert sec.numbers["mrmc_p/fixed_readers"] == fr.p_value
    tab = sec.tables["reader_study"].data
    assert list(tab["Analysis"]) == ["Random readers and cases", "Fixed readers", "Fixed cases"]
    assert tab["Test"].iloc[0] == "F = 4.46" and tab["Test"].iloc[1].startswith("χ²")
    assert "Difference (Cine MRI − Spin-echo MRI)" in tab.columns
    assert sec.tables["reader_study_readers"].data.shape == (5, 3)
    assert set(sec.figures) == {"reader_study_roc"}
    sec.close_figures()


def test_reader_study_section_names_missing_file_and_column(tmp_path):
    rs = load_config({"name": "x", "reader_study": {"path": "nope.csv"}}).reader_study
    with pytest.raises(ConfigError, match="reader_study.path: file not found"):
        S.reader_study_section(rs, base_dir=tmp_path)
    pd.read_csv(VANDYKE).rename(columns={"rating": "score"}).to_csv(tmp_path / "r.csv", index=False)
    rs = load_config({"name": "x", "reader_study": {"path": "r.csv", "rating": "Score"}}).reader_study
    with pytest.raises(InputError, match=r"reader_study\.rating: column 'Score' not in r\.csv; did you mean 'score'\?"):
        S.reader_study_section(rs, base_dir=tmp_path)


# ---------------------------------------------------------------------------------- template
def _template_cells(marker: str) -> list[str]:
    from her2stats.reporting.render import _parse_qmd

    _, cells = _parse_qmd(TEMPLATE.read_text())
    return [c["source"] for c in cells if c["type"] == "code" and marker in c["source"]]


def test_template_renders_the_centre_sections(tmp_path):
    """The template's cells for these sections, run on a results object holding the sections'
    outputs: every table and figure is shown and the prediction interval is explained."""
    from sklearn.linear_model import LogisticRegression

    d = _centres()
    sec = S.iecv_section(d, "y", "center", {"lr": LogisticRegression()}, features={"lr": ["x1", "x2"]},
                         n_boot=20, engine="python")
    p = sec.results["iecv"]["lr"].predictions["p"]
    sec.merge(S.by_centre_section(d["y"], {"lr": p}, d["center"], n_boot=20, engine="python"))
    sec.merge(S.subgroup_section(d["y"], {"lr": p}, S.subgroup_frame(d, ["manufacturer"]), n_boot=20,
                                 engine="python", source="held-out predictions (internal-external cross-validation)"))
    rs = load_config({"name": "x", "reader_study": {"path": str(VANDYKE)}}).reader_study
    sec.merge(S.reader_study_section(rs, engine="python"))
    figs = {}
    for name, fig in sec.figures.items():
        figs[name] = tmp_path / f"{name}.png"
        fig.savefig(figs[name], dpi=40)
    sec.close_figures()
    cfg = load_config({"name": "x", "validation": {"scheme": "iecv"}, "subgroups": ["manufacturer"],
                       "reader_study": {"path": str(VANDYKE)}})
    res = SimpleNamespace(config=cfg, results=sec.results, tables=sec.tables, figures=figs, numbers=sec.numbers)
    shown_tables, shown_figs, text = [], [], []
    ns = {"res": res, "cfg": cfg, "num": sec.numbers, "md": text.append,
          "show_table": lambda name, label: shown_tables.append(name) if name in res.tables else None,
          "show_figure": lambda name, label, caption, width="single": shown_figs.append(name) if name in res.figures else None,
          "refs": lambda labels: ", ".join(f"@{x}" for x in labels)}
    cells = _template_cells("sections_centre")
    assert len(cells) >= 3
    for src in cells:
        exec(compile(src, str(TEMPLATE), "exec"), ns)
    assert {"iecv_pooled", "iecv_per_centre", "centres_pooled", "centres_per_centre", "subgroups", "subgroup_heterogeneity", "reader_study",
            "reader_study_readers"} <= set(shown_tables)
    assert {"iecv_forest_lr", "centres_forest_lr", "subgroups_lr", "reader_study_roc"} <= set(shown_figs)
    body = "\n".join(text)
    assert body.count(S.PREDICTION_INTERVAL_TEXT) == 1
    ref = sec.results["iecv"]["lr"].pooled.loc["auc"]
    assert f"{ref['pi_low']:.2f}" in body and f"{ref['pi_high']:.2f}" in body  # the sentence quotes the PI
    assert "4.46" in body  # the reader-study sentence quotes F
    # nothing is shown when a study has none of these sections
    empty = SimpleNamespace(config=load_config({"name": "x"}), results={}, tables={}, figures={}, numbers={})
    text.clear(), shown_tables.clear()
    ns.update(res=empty, cfg=empty.config, num={})
    for src in cells:
        exec(compile(src, str(TEMPLATE), "exec"), ns)
    assert not text and not shown_tables


# ---------------------------------------------------------------------------------- the runner's hook
def test_study_sections_from_the_config():
    """study_sections: a clinical study with two external centres and IECV by centre; subgroups of
    the held-out predictions; unknown subgroup model named."""
    d = _centres().rename(columns={"y": "event"})
    d["_y"] = d["event"]
    d["cohort_split"] = np.where(d["center"].isin(["A", "B"]), "development", "external:" + d["center"])
    base = {"name": "x", "cohort": {"outcome": "event"}, "clinical": {"covariates": ["age", "x1"]},
            "splits": {"by": "center", "train": ["A", "B"], "external": ["C", "D"]},
            "validation": {"scheme": "iecv", "by": "center", "seed": 3}, "subgroups": ["manufacturer"]}
    cfg = load_config(base)
    dev = d[d["cohort_split"] == "development"]
    model = h2.fit_lrm(dev, "_y", ["age", "x1"], engine="python")
    probs = {"clinical": pd.Series(model.predict(d), index=d.index)}
    sec = S.study_sections(cfg, d, probs, "python", n_boot=20)
    assert {"centres", "iecv", "subgroups"} <= set(sec.results)
    ext = d["cohort_split"] != "development"
    direct = h2.validate_by_centre(d.loc[ext, "_y"].to_numpy(), probs["clinical"][ext].to_numpy(),
                                   d.loc[ext, "center"].to_numpy(), n_boot=20, seed=3, engine="python")
    pd.testing.assert_frame_equal(sec.results["centres"]["clinical"].pooled, direct.pooled)
    iecv = h2.internal_external_cv(d, S.LogisticFitter("_y", ["age", "x1"], engine="python"), y="_y", centre="center",
                                   n_boot=20, seed=3, engine="python")
    pd.testing.assert_frame_equal(sec.results["iecv"]["clinical"].pooled, iecv.pooled)
    sg = h2.subgroup_performance(iecv.predictions["y"], iecv.predictions["p"],
                                 S.subgroup_frame(d, ["manufacturer"]), n_boot=20, seed=3, engine="python")
    pd.testing.assert_frame_equal(sec.results["subgroups"]["clinical"].table, sg.table)
    assert "held-out predictions" in sec.tables["subgroups"].title
    sec.close_figures()
    with pytest.raises(ConfigError, match=r"subgroups\.models: 'clinicl' is not a model of this study \(clinical\); "
                                          r"did you mean 'clinical'\?"):
        S.study_sections(load_config({**base, "validation": {"seed": 3}, "subgroups": {"variables": ["manufacturer"],
                                                                                       "models": ["clinicl"]}}),
                         d, probs, "python", n_boot=20)


def test_subgroups_on_test_cohorts_may_name_any_development_fitted_model():
    """An image model, network or fusion (any name in probs) may be analysed by subgroup on the
    test cohorts; by default only the study's logistic models are."""
    d = _centres().rename(columns={"y": "event"})
    d["_y"] = d["event"]
    d["cohort_split"] = np.where(d["center"].isin(["A", "B"]), "development", "external:" + d["center"])
    base = {"name": "x", "cohort": {"outcome": "event"}, "clinical": {"covariates": ["age", "x1"]},
            "splits": {"by": "center", "train": ["A", "B"], "external": ["C", "D"]},
            "validation": {"seed": 3}}
    dev = d[d["cohort_split"] == "development"]
    model = h2.fit_lrm(dev, "_y", ["age", "x1"], engine="python")
    fused = pd.Series(0.5 * model.predict(d) + 0.5 * 1 / (1 + np.exp(-d["x1"].to_numpy())), index=d.index)
    probs = {"clinical": pd.Series(model.predict(d), index=d.index), "dlr": fused}
    named = S.study_sections(load_config({**base, "subgroups": {"variables": ["manufacturer"], "models": ["dlr"]}}),
                             d, probs, "python", n_boot=20)
    assert list(named.results["subgroups"]) == ["dlr"]
    test = d["cohort_split"] != "development"
    direct = h2.subgroup_performance(d.loc[test, "_y"].to_numpy(), fused[test].to_numpy(),
                                     S.subgroup_frame(d.loc[test], ["manufacturer"]), n_boot=20, seed=3, engine="python")
    pd.testing.assert_frame_equal(named.results["subgroups"]["dlr"].table, direct.table)
    default = S.study_sections(load_config({**base, "subgroups": ["manufacturer"]}), d, probs, "python", n_boot=20)
    assert list(default.results["subgroups"]) == ["clinical"]
    named.close_figures(), default.close_figures()
