from __future__ import annotations

import math

import pandas as pd
import pytest

from her2stats.reporting import PublicationTable, fmt_ci, fmt_mean_sd, fmt_median_iqr, fmt_p, fmt_pct, fmt_ratio_ci


@pytest.mark.parametrize(
    "p, expected",
    [(0.0004, "< 0.001"), (0.001, "0.001"), (0.0421, "0.042"), (0.761, "0.761"), (0.05, "0.050"),
     (0.99951, "> 0.999"), (1.0, "> 0.999"), (float("nan"), ""), (None, "")],
)
def test_fmt_p_journal_rules(p, expected):
    assert fmt_p(p) == expected


def test_fmt_p_rejects_impossible_values():
    with pytest.raises(ValueError, match="outside"):
        fmt_p(1.2)


def test_other_formats():
    assert fmt_pct(40, 133) == "40 (30.1%)"
    assert fmt_mean_sd(52.123, 9.04) == "52.1 \u00b1 9.0"
    assert fmt_median_iqr(20, 14.5, 31) == "20.0 (14.5, 31.0)"
    assert fmt_ci(0.842, 0.708, 0.931) == "0.842 (0.708\u20130.931)"
    assert fmt_ci(-0.05, -0.1, 0.0, 2) == "\u22120.05 (\u22120.10\u20130.00)"
    assert fmt_ratio_ci(0.175, 0.038, 0.792) == "0.175 (0.038\u20130.792)"
    assert fmt_ratio_ci(2.5, 1.2, 5.0) == "2.50 (1.20\u20135.00)"
    assert fmt_ci(math.nan, 0, 1) == ""


def test_publication_table_outputs(tmp_path):
    data = pd.DataFrame({"Variable": ["Age, years", "Grade 3"], "HER2-positive (n=133)": ["52.1 \u00b1 9.0", "40 (30.1%)"],
                         "p": ["< 0.001", "0.042"]})
    t = PublicationTable(data, title="Table 1. Baseline characteristics", footnotes=("p: Welch t-test; chi-square test.",))
    html = t.to_html()
    assert "Table 1. Baseline characteristics" in html and "52.1 \u00b1 9.0" in html and "Welch" in html
    tex = t.to_latex()
    assert r"$\pm$" in tex and r"$<$ 0.001" in tex and r"\caption{Table 1. Baseline characteristics}" in tex
    paths = t.save(tmp_path / "table1")
    assert {p.suffix for p in paths} == {".html", ".csv", ".tex", ".docx", ".xlsx"}
    assert pd.read_csv(tmp_path / "table1.csv")["p"].tolist() == ["< 0.001", "0.042"]
    from docx import Document

    doc = Document(str(tmp_path / "table1.docx"))
    cells = [c.text for c in doc.tables[0].rows[1].cells]
    assert cells == ["Age, years", "52.1 \u00b1 9.0", "< 0.001"]
    xl = pd.read_excel(tmp_path / "table1.xlsx", header=1)
    assert xl.iloc[1, 2] == "0.042"
