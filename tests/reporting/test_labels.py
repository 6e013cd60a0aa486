"""Labels and units from the data dictionary (issue 21): every table and figure prints
``Tumour size (mm)``, ``HER2-positive``, ``Histological grade: 3 vs 1`` instead of raw column names,
``labels=`` overrides them in table_one, the builders and the study config, and typos are refused.
Also: results render in notebooks as formatted tables (gtsummary habits)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import her2stats as h2
from her2stats.data import load_demo, load_dictionary
from her2stats.data.labels import Labels, as_labels, convert_time, time_label
from her2stats.errors import ConfigError, InputError
from her2stats.reporting import builders as B


@pytest.fixture(scope="module")
def demo():
    return load_demo()


def test_dictionary_carries_labels_units_and_level_labels():
    d = load_dictionary()
    assert d["tumor_size_mm"].display == "Tumour size (mm)" and d["ki67"].display == "Ki-67 (%)"
    assert d["her2_status"].level_labels == {"negative": "HER2-negative", "positive": "HER2-positive"}
    assert d["her2_positive"].level_labels["1"] == "HER2-positive"
    assert "label" in d.to_frame().columns
    # every level label names a real level
    for v in d.values():
        allowed = set(v.levels) or ({"0", "1"} if v.type in ("binary", "event") else set())
        assert set(v.level_labels) <= allowed, v.name


def test_bad_level_labels_in_a_dictionary_are_refused(tmp_path):
    bad = tmp_path / "v.yaml"
    bad.write_text("variables:\n  x: {type: categorical, levels: [a, b], level_labels: {c: C}}\n")
    with pytest.raises(InputError, match="level_labels for unknown levels"):
        load_dictionary(bad)


def test_labels_resolution_and_overrides():
    L = as_labels(None)
    assert L.var("age") == "Age (years)" and L.var("age", unit=False) == "Age"
    assert L.level("her2_status", "positive") == "HER2-positive"
    assert L.group_level("her2_status", "negative") == "HER2-negative"
    assert L.group_level("grade", 3.0) == "Histological grade: 3"  # no level labels: variable named
    assert L.term("er", "positive", "negative") == "ER-positive vs ER-negative"
    assert L.term("grade", "3", "1") == "Histological grade: 3 vs 1"
    assert L.term("ki67") == "Ki-67 (%)"
    assert L.var("my_radiomics_feature") == "my_radiomics_feature"  # unknown: never guessed
    assert L.var("deep_score") == "Deep Score"
    O = as_labels({"tumor_size_mm": "Tumour diameter (mm)", "ki67": {"label": "Ki-67 index", "unit": "% nuclei"},
                   "er": {"levels": {"positive": "ER+"}}, "age": {"unit": None}})
    assert O.var("tumor_size_mm") == "Tumour diameter (mm)"
    assert O.var("ki67") == "Ki-67 index (% nuclei)" and O.var("age") == "Age"
    assert O.level("er", "positive") == "ER+" and O.level("er", "negative") == "ER-negative"
    with pytest.raises(InputError, match="'size'"):
        as_labels({"size": "Size"}, known=["age"])
    with pytest.raises(InputError, match="label, unit, levels"):
        as_labels({"age": {"name": "Age"}})
    assert isinstance(L, Labels) and L.merged({"age": "Age at diagnosis"}).var("age") == "Age at diagnosis"


def test_time_units():
    assert convert_time([365.25, 730.5], to="years").tolist() == [1.0, 2.0]
    assert convert_time([365.25], to="months")[0] == pytest.approx(12.0)
    assert convert_time([24], to="days", data_unit="months")[0] == pytest.approx(730.5)
    assert time_label("months") == "Time (months)"
    with pytest.raises(InputError, match="fortnights"):
        convert_time([1], to="fortnights")


def test_table_one_labels_reach_the_publication_table(demo):
    t1 = h2.table_one(demo, "her2_status", variables=["age", "er", "tumor_size_mm"], engine="python",
                      labels={"tumor_size_mm": "Tumour diameter on MRI (mm)",
                              "her2_status": {"levels": {"positive": "HER2+", "negative": "HER2\u2212"}}})
    pt = h2.table1_table(t1)
    chars = pt.data["Characteristic"].tolist()
    assert any(c.startswith("Tumour diameter on MRI (mm), ") for c in chars)
    assert any(c.startswith("Age (years), ") for c in chars) and "ER status" in chars
    assert [c for c in pt.data.columns if "(n = " in c] == [f"HER2\u2212 (n = {t1.n[0]})", f"HER2+ (n = {t1.n[1]})"]
    assert "tumor_size_mm" not in " ".join(chars) and "her2_status" not in pt.title + pt.subtitle
    # builder labels win over table_one's
    pt2 = B.table1_table(t1, labels={"tumor_size_mm": "Size"})
    assert any(c.startswith("Size, ") for c in pt2.data["Characteristic"])
    with pytest.raises(InputError, match="'ki67'"):
        B.table1_table(t1, labels={"ki67": "Ki"})


def test_builders_are_top_level():
    for name in ("table1_table", "or_table", "performance_table", "delong_table", "cox_table", "calibration_table",
                 "validation_table", "flow_table", "agreement_table", "PublicationTable", "render_report"):
        assert callable(getattr(h2, name)), name
        assert name in dir(h2)


def test_config_labels_and_report_section(tmp_path):
    from her2stats.reporting.config import load_config

    cfg = load_config({"name": "x", "labels": {"age": "Age at diagnosis (y)"},
                       "report": {"formats": ["html", "docx"], "style": "radiology", "time_unit": "months",
                                  "dca_range": [0.05, 0.5]}})
    assert cfg.labels["age"] == "Age at diagnosis (y)" and cfg.report.style == "radiology"
    for bad, words in (({"report": {"dca_range": [0.6, 0.2]}}, "dca_range"), ({"labels": {"age": 3}}, "labels"),
                       ({"report": {"time_unit": "hours"}}, "time_unit")):
        with pytest.raises(ConfigError, match=words):
            load_config({"name": "x", **bad})


def test_results_render_like_gtsummary(demo):
    from her2stats.results import display_frame

    t1 = h2.table_one(demo, "her2_status", variables=["age", "er", "grade"], engine="python")
    data, group, note = display_frame(t1.to_frame())
    assert group == "variable"  # rows grouped under their variable
    assert "nan" not in " ".join(data.astype(str).values.ravel()).lower()
    assert set(data["p_value"]) - {""} <= {v for v in data["p_value"] if v == "<0.001" or len(v) == 5}
    res = h2.logistic_table(demo, "her2_positive", ["age", "ki67"], engine="python")
    d2, _, _ = display_frame(res.to_frame())
    assert d2.loc[d2["variable"] == "ki67", "uni_p"].iloc[0] == "<0.001"
    # 3 significant figures: 0.9491... -> 0.949, 1.0412... -> 1.04
    assert all(len(v.replace(".", "").lstrip("0")) <= 3 for v in d2["uni_or"])
    html = t1._repr_html_()
    import re

    assert not re.search(r">\s*(nan|NaN|None)\s*<", html)
    p_age = float(t1.tests.set_index("variable").loc["age", "p_value"])
    assert (f"{p_age:.3f}" if p_age >= 0.001 else "&lt;0.001") in html
    # no index column: a meaningful index becomes a column, a RangeIndex disappears
    km = h2.kaplan_meier(demo, "rfs_time", "rfs_event", group="her2_status", engine="python")
    d3, _, _ = display_frame(km.to_frame())
    assert list(d3.columns)[0] == "group"
    frame = pd.DataFrame({"auc": [0.81234, np.nan]}, index=pd.Index(["a", "b"], name="model"))
    d4, _, _ = display_frame(frame)
    assert d4.to_dict("list") == {"model": ["a", "b"], "auc": ["0.812", ""]}
