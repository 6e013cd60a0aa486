"""Item 5 of issue 26: tables found in plain-text articles and a proposed encoding.

A synthetic article (tests/data/audit/synthetic_article.txt: invented study, every layout the seed
exports use) runs on a fresh clone; the five seed papers are read where ../shared/seeds exists.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from her2stats.audit import audit_table
from her2stats.audit.text import _split_glued, find_tables, proposal_yaml, propose_encoding

ARTICLE = Path(__file__).resolve().parent / "data" / "audit" / "synthetic_article.txt"
SHARED_SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"
SEEDS = {
    "000_4f412d2ad1cc7f63.txt": {"Table 1": "cells", "Table 2": "cells", "Table 3": "cells"},
    "001_2cf1bf6205c200af.txt": {"Table 1": "tabs", "Table 2": "tabs", "Table 3": "tabs", "Table S1": "tabs"},
    "002_176959aa879c17ed.txt": {"Table 1": "inline", "Table 2": "inline", "Table 3": "inline", "Table 4": "inline"},
    "003_8417716d12e0720b.txt": {"Table 1": "flattened", "Table 2": "flattened"},
    "004_1888ba260a759063.txt": {f"Table {i}": "caption" for i in range(1, 6)},
}


@pytest.fixture(scope="module")
def article() -> str:
    return ARTICLE.read_text(encoding="utf-8")


def _rows(proposal: dict, table: str, section: str | None = None) -> dict:
    out = {}
    for spec in proposal["tables"]:
        if spec["table"] == table and spec.get("section") == section:
            out.update({r["row"]: r for r in spec.get("rows", [])})
    return out


def test_synthetic_article_tables_in_every_layout(article):
    found = find_tables(article)
    assert [(t.name, t.layout) for t in found] == [
        ("Table 1", "cells"), ("Table 2", "tabs"), ("Table 3", "inline"), ("Table 4", "caption"), ("Table 5", "flattened")]
    # in-text mentions ("shown in Table 2.", "As summarized in Table 1.", "(Table 3)") are not captions
    assert [t.line for t in found] == [7, 42, 53, 60, 62]


def test_synthetic_article_proposal_matches_the_article_and_audits(article):
    proposal, checks = propose_encoding(article, ARTICLE.name)
    t1 = _rows(proposal, "Table 1")
    assert t1["Calcifications"]["complement"] is True
    assert t1["Calcifications"]["levels"] == [{"level": "Present", "counts": [20, 10], "percents": ["33.3", "25.0"]}]
    assert [lv["level"] for lv in t1["Enhancement"]["levels"]] == ["Mass", "Non-mass"] and t1["Enhancement"]["p"] == "0.436"
    t2 = _rows(proposal, "Table 2")
    assert t2["Age, mean ± SD"]["means"] == ["54.2", "57.1"] and t2["Age, mean ± SD"]["p"] == "0.159"
    assert t2["BMI, median (Q1, Q3)"]["q3s"] == ["26.3", "27.2"]
    a, b = _rows(proposal, "Table 3", "Cohort A"), _rows(proposal, "Table 3", "Cohort B")
    assert a["Grade"]["levels"][2]["counts"] == [15, 5] and b["Grade"]["p"] == "0.356"
    spec3 = next(s for s in proposal["tables"] if s.get("section") == "Cohort B")
    assert spec3["groups"] == [{"name": "Low", "n": 25}, {"name": "High", "n": 25}]
    t5 = _rows(proposal, "Table 5")
    assert t5["Sex"] == {"kind": "ratio", "row": "Sex", "measure": "OR", "estimate": "0.54", "ci": ["0.301", "0.969"],
                         "p": "0.039"}
    assert any(s["table"] == "Table 4" and "caption only" in s["skip"] for s in proposal["tables"])
    assert any("no test is read" in c for c in checks)
    # the draft is valid YAML of the table-file schema, and its (invented, consistent) numbers reproduce
    draft = proposal_yaml(proposal, checks)
    assert draft.startswith("# DRAFT") and "# CHECK:" in draft
    res = audit_table(yaml.safe_load(draft))
    assert res.counts["not reproduced"] == 0 and res.counts["reproduced"] >= 40


def test_glued_numbers_are_split_by_precision_and_row_structure():
    def ok(v):
        e, lo, hi, p = map(float, v)
        return 0 < lo <= e <= hi and 0 <= p <= 1

    # "0.263 0.174 0.398 0 | 0.601 0.224 1.614 0.397" printed without separators, trailing zeros dropped
    parses = _split_glued("0.2630.1740.39800.6010.2241.6140.397", 8, 3, ok)
    assert ["0.263", "0.174", "0.398", "0", "0.601", "0.224", "1.614", "0.397"] in parses


@pytest.mark.parametrize("seed", sorted(SEEDS))
def test_tables_found_in_the_seed_papers(seed):
    if not SHARED_SEEDS.is_dir():
        pytest.skip(f"the seed texts are not here ({SHARED_SEEDS}): they live outside the repository, in ../shared")
    text = (SHARED_SEEDS / seed).read_text(encoding="utf-8")
    found = find_tables(text)
    assert {t.name: t.layout for t in found} == SEEDS[seed]
    proposal, checks = propose_encoding(text, seed)
    res = audit_table(yaml.safe_load(proposal_yaml(proposal, checks)))   # every proposal is a valid table file
    assert len(res.tables) >= len(SEEDS[seed])
    if seed.startswith("000"):
        loc = _rows(proposal, "Table 2")["Tumor Location"]
        assert loc["p"] == "0.372" and loc["levels"][0] == {"level": "Left Breast", "counts": [670, 590],
                                                             "percents": ["52.1", "53.0"]}
        assert _rows(proposal, "Table 3")["Number of Tumors"]["levels"][0]["counts"] == [670, 710]
    elif seed.startswith("001"):
        echo = _rows(proposal, "Table 2")["Echo pattern"]
        assert [lv["counts"] for lv in echo["levels"]] == [[134, 38], [7, 5], [5, 3], [3, 2]]
    elif seed.startswith("002"):
        meno = _rows(proposal, "Table 1", "Training set")["Menopausal status"]
        assert meno["levels"][0]["counts"] == [74, 267] and meno["p"] == "0.69"
        svm = [r for r in next(s for s in proposal["tables"] if s["table"] == "Table 3" and s.get("section") == "Training set")["rows"]
               if r["row"] == "SVM"]
        assert svm[0]["auc"] == "0.86" and svm[1]["cis"]["sensitivity"] == ["0.70", "0.90"]
    elif seed.startswith("003"):
        t1 = _rows(proposal, "Table 1")
        # "CA12565.24 ± 38.06...": the label is cut where the pooled mean lies between the group means
        assert t1["CA125"]["overall_mean"] == "65.24" and t1["Ki 67"]["means"] == ["38.83", "38.67"]
        uni = _rows(proposal, "Table 2", "Univariable analysis")
        assert uni["ER"]["p"] == "0" and uni["Lymphatic metastasis"]["ci"] == ["0.32", "0.888"]
        assert _rows(proposal, "Table 2", "Multivariable analysis")["CA125"]["estimate"] == "1.006"
    else:
        assert all("caption only" in s["skip"] for s in proposal["tables"])
