"""TRIPOD+AI checklist: official item list, status rules, applicability, input errors.

Reference: Collins GS, Moons KGM, Dhiman P, et al. BMJ 2024;385:e078378 -- 27 items, 52 sub-items;
title 1, abstract 2, introduction 3a-3c and 4, methods 5a-17, open science 18a-18f, patient and
public involvement 19, results 20a-24, discussion 25-27c; D-only items 9a, 12a-12c, 15, 22, 27a, 27b;
E-only items 12f, 12g, 20c, 24.
"""
from __future__ import annotations

import pandas as pd
import pytest

from her2stats.data import load_demo
from her2stats.errors import InputError
from her2stats.reporting.tripod import TRIPOD_AI_ITEMS, cohort_facts, tripod_checklist

OFFICIAL = ("1 2 3a 3b 3c 4 5a 5b 6a 6b 6c 7 8a 8b 8c 9a 9b 9c 10 11 12a 12b 12c 12d 12e 12f 12g 13 14 15 16 17 "
            "18a 18b 18c 18d 18e 18f 19 20a 20b 20c 21 22 23a 23b 24 25 26 27a 27b 27c").split()


def _full_facts() -> dict:
    demo = load_demo()
    cohorts = {name: cohort_facts(demo[demo["split"] == name], "her2_positive", role, ["age", "ki67"])
               for name, role in [("train", "development"), ("internal", "internal validation"),
                                  ("external", "external validation")]}
    return {
        "title": "Predicting HER2 status from breast MRI: development and external validation of a nomogram",
        "target_population": "women with biopsy-proven invasive breast cancer before treatment",
        "outcome": {"name": "her2_positive", "definition": "IHC 3+ or ISH amplified (ASCO/CAP 2018)",
                    "assessment": "central pathology"},
        "data_sources": [{"name": "centres A+B", "type": "retrospective cohort", "role": "development",
                          "dates": "2015-2019", "setting": "secondary care", "centres": 2},
                         {"name": "centre C", "type": "retrospective cohort", "role": "external validation",
                          "dates": "2018-2020", "setting": "secondary care", "centres": 1}],
        "eligibility": "pre-treatment MRI and known HER2 status",
        "cohorts": cohorts,
        "missing_data": {"method": "complete-case analysis", "n_excluded": 0},
        "predictors": {"names": ["age", "ki67"], "preselection": "clinical literature",
                       "definitions": {"age": "years at diagnosis", "ki67": "% positive nuclei"}},
        "sample_size": {"method": "Riley et al. 2020", "required_n": 180, "available_n": 209},
        "analysis": {"functional_form": "linear", "internal_validation": "bootstrap (B = 200)"},
        "model": {"type": "logistic regression (rms::lrm)", "specification": "logit p = -2.1 + 0.02 ki67",
                  "output": "probability"},
        "performance": {"measures": ["AUC (DeLong CI)", "calibration slope", "net benefit"], "with_ci": True,
                        "subgroups": ["menopause"]},
        "heterogeneity": {"by": "center", "results": True},
        "code_availability": "https://example.org/code",
        "author_statements": {"17": "approved by the IRB of centre A (2020-01); consent waived"},
    }


def test_official_item_list():
    items = [it.item for it in TRIPOD_AI_ITEMS]
    assert items == OFFICIAL and len(items) == 52
    assert len({it.item.rstrip("abcdefg") for it in TRIPOD_AI_ITEMS}) == 27
    d_only = {it.item for it in TRIPOD_AI_ITEMS if it.applies == "D"}
    e_only = {it.item for it in TRIPOD_AI_ITEMS if it.applies == "E"}
    assert d_only == {"9a", "12a", "12b", "12c", "15", "22", "27a", "27b"}
    assert e_only == {"12f", "12g", "20c", "24"}
    sections = {it.item: it.section for it in TRIPOD_AI_ITEMS}
    assert sections["18f"] == "Open science" and sections["19"] == "Patient and public involvement"
    assert sections["17"] == "Methods" and sections["20a"] == "Results" and sections["27c"] == "Discussion"


def test_empty_facts_everything_for_authors():
    cl = tripod_checklist({})
    f = cl.to_frame()
    assert len(f) == 52 and cl.study_type == "development"
    assert set(f["status"]) == {"author must add", "partly", "not applicable"}
    # only the objectives item gets partial credit without facts (the study type is always known)
    assert f.loc[f["status"] == "partly", "item"].tolist() == ["4"]
    assert set(f.loc[f["status"] == "not applicable", "item"]) == {"12f", "12g", "20c", "24"}
    assert len(cl.missing()) == 48


def test_full_facts_fill_the_checklist():
    facts = _full_facts()
    cl = tripod_checklist(facts)
    f = cl.to_frame().set_index("item")
    assert cl.study_type == "development and evaluation"
    assert (f["status"] != "not applicable").all()
    for item in ["1", "5a", "5b", "6a", "6b", "8a", "9a", "9b", "10", "11", "12a", "12c", "12d", "12e", "12g",
                 "20a", "21", "22", "23a", "23b", "18f"]:
        assert f.loc[item, "status"] == "reported", (item, f.loc[item, "evidence"])
    ext = facts["cohorts"]["external"]
    assert f"external (external validation): {ext['n']} participants, {ext['events']} events" in f.loc["21", "evidence"]
    assert f.loc["17", "status"] == "reported" and f.loc["17", "where"] == "author-supplied text"
    for item in ["18a", "18b", "19", "25", "26", "3c"]:
        assert f.loc[item, "status"] == "author must add"
    assert "required n = 180, available n = 209 (sufficient)" in f.loc["10", "evidence"]
    missing = cl.missing()
    assert set(missing["status"]) <= {"author must add", "partly"}
    assert "19" in set(missing["item"]) and "21" not in set(missing["item"])
    md = cl.to_markdown()
    assert md.count("\n") == 53 and "| 23a |" in md


def test_partial_statuses_say_what_is_missing():
    cl = tripod_checklist({
        "cohorts": {"train": {"role": "development", "n": 100, "events": 30}},
        "performance": {"measures": ["AUC"], "with_ci": False},
        "predictors": {"names": ["age", "ki67"], "definitions": {"age": "years"}},
        "sample_size": {"method": "Riley"},
    })
    f = cl.to_frame().set_index("item")
    assert f.loc["23a", "status"] == "partly" and "confidence intervals" in f.loc["23a", "evidence"]
    assert f.loc["12e", "status"] == "partly" and "calibration" in f.loc["12e", "evidence"]
    assert f.loc["9b", "status"] == "partly" and "ki67" in f.loc["9b", "evidence"]
    assert f.loc["20a", "status"] == "partly"  # exclusions unknown
    assert f.loc["21", "status"] == "reported"
    assert f.loc["10", "status"] == "partly"


def test_applicability_by_study_type():
    ev = tripod_checklist({"study_type": "evaluation"}).to_frame().set_index("item")
    assert set(ev.index[ev["status"] == "not applicable"]) == {"9a", "12a", "12b", "12c", "15", "22", "27a", "27b"}
    inferred = tripod_checklist({"cohorts": {"c": {"role": "external validation", "n": 50, "events": 10}}})
    assert inferred.study_type == "evaluation"


def test_sections_override_and_counts():
    cl = tripod_checklist({"sections": {"21": "Table 2", "Model performance": "Section 4.2"}})
    f = cl.to_frame().set_index("item")
    assert f.loc["21", "where"] == "Table 2"
    assert f.loc["23a", "where"] == f.loc["23b", "where"] == "Section 4.2"
    c = cl.counts()
    assert sum(c.values()) == 52
    assert "TRIPOD+AI checklist (development)" in repr(cl)


def test_cohort_facts_counts_missing():
    demo = load_demo()
    d = demo[demo["split"] == "train"].copy()
    d.loc[d.index[:4], "ki67"] = float("nan")
    cf = cohort_facts(d, "her2_positive", "development", ["age", "ki67"])
    assert cf["n"] == len(d) - 4 and cf["n_excluded"] == 4 and cf["missing_by_column"] == {"ki67": 4}
    assert cf["events"] == int(d.loc[d["ki67"].notna(), "her2_positive"].sum())
    with pytest.raises(InputError, match="not 0/1"):
        cohort_facts(d.assign(cls=d["her2_class"].astype(str)), "cls", "development")
    # a Categorical's last category is the event by default
    assert cohort_facts(d, "her2_class", "development")["events"] == int((d["her2_class"] == "positive").sum())
    assert cohort_facts(d, "her2_class", "development", event="positive")["events"] == int((d["her2_class"] == "positive").sum())


def test_bad_facts_raise():
    with pytest.raises(InputError, match="unknown run-fact key"):
        tripod_checklist({"cohort": {}})
    with pytest.raises(InputError, match="events=70 must lie between 0 and n=50"):
        tripod_checklist({"cohorts": {"train": {"n": 50, "events": 70}}})
    with pytest.raises(InputError, match="study_type"):
        tripod_checklist({"study_type": "validation"})
    with pytest.raises(InputError, match="unknown TRIPOD"):
        tripod_checklist({"author_statements": {"28": "x"}})
    with pytest.raises(InputError, match="list of dicts"):
        tripod_checklist({"data_sources": "MAMA-MIA"})
    with pytest.raises(InputError, match="dict of run facts"):
        tripod_checklist(pd.DataFrame())
