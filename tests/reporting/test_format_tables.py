from __future__ import annotations

import math

import pandas as pd
import pytest

from her2stats.reporting import PublicationTable, fmt_ci, fmt_mean_sd, fmt_median_iqr, fmt_p, fmt_pct, fmt_ratio_ci


@pytest.mark.parametrize(
    "p, expected",
    [(0.0004, "<0.001"), (0.001, "0.001"), (0.0421, "0.042"), (0.761, "0.761"), (0.05, "0.050"),
     (0.99951, ">0.999"), (1.0, ">0.999"), (float("nan"), ""), (None, "")],
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
    assert r"$\pm$" in tex and r"$<$ 0.001" in tex
    # LaTeX numbers the table itself: no "Table 1: Table 1. ..." in the PDF
    assert r"\caption{Baseline characteristics}" in tex and "Table 1." not in tex
    paths = t.save(tmp_path / "table1")
    assert {p.suffix for p in paths} == {".html", ".csv", ".tex", ".docx", ".xlsx"}
    assert pd.read_csv(tmp_path / "table1.csv")["p"].tolist() == ["< 0.001", "0.042"]
    from docx import Document

    doc = Document(str(tmp_path / "table1.docx"))
    cells = [c.text for c in doc.tables[0].rows[1].cells]
    assert cells == ["Age, years", "52.1 \u00b1 9.0", "< 0.001"]
    xl = pd.read_excel(tmp_path / "table1.xlsx", header=1)
    assert xl.iloc[1, 2] == "0.042"


def test_latex_structure_and_escaping():
    data = pd.DataFrame({"Cohort": ["Development", "Development", "External"], "Model": ["Clinical_v2", "Combined", "Clinical_v2"],
                         "OR (95% CI)": ["2.50 (1.20\u20135.00)", "0.175 (0.038\u20130.792)", "1.10 (0.90\u20131.30)"],
                         "P": ["<0.001", ">=0.05", "0.042"], "Note": ["\u03c7\u00b2 \u2265 3.84 & 50%", "\u0394AUC \u2212 0.01", "\u2020 legacy"]})
    t = PublicationTable(data, title="Table 3. Odds ratios", stub="Model", groupname="Cohort",
                         spanners={"Multivariable": ["OR (95% CI)", "P"]}, footnotes=("P < 0.05 ~ significant; n \u2264 10 #",))
    tex = t.to_latex(label="tbl-or")
    # LaTeX numbers the table: the caption carries no "Table 3." of its own
    assert r"\caption{Odds ratios}\label{tbl-or}" in tex and "Table 3" not in tex
    assert r"\multicolumn{2}{c}{Multivariable}" in tex and r"\cmidrule(lr){2-3}" in tex
    assert r"\multicolumn{4}{l}{\textit{Development}}" in tex and r"\multicolumn{4}{l}{\textit{External}}" in tex
    assert r"Clinical\_v2" in tex and r"$<$0.001" in tex and r"$\geq$0.05" in tex
    assert r"$\chi^2$ $\geq$ 3.84 \& 50\%" in tex and r"$\Delta$AUC $-$ 0.01" in tex and r"$^\dagger$ legacy" in tex
    assert r"P $<$ 0.05 \textasciitilde{} significant; n $\leq$ 10 \#" in tex
    body = tex.split(r"\midrule")[1]
    # no raw special characters left in the body (every <, >, &, %, # is escaped or in math)
    import re

    assert not re.search(r"(?<![\\$])[<>]", body.replace("$<$", "").replace("$>$", ""))
    assert "Cohort" not in tex.split(r"\midrule")[0]  # the group column is rows, not a column


def test_docx_table_is_native_three_line_and_landscape_when_wide(tmp_path):
    from docx import Document
    from docx.enum.section import WD_ORIENT

    narrow = PublicationTable(pd.DataFrame({"Model": ["a", "b"], "AUC (95% CI)": ["0.812 (0.741\u20130.883)", "0.7"]}),
                              title="Table 2. AUC", stub="Model", footnotes=("DeLong CI.",))
    wide = PublicationTable(pd.DataFrame({f"Measure {i}": ["0.812 (0.741\u20130.883)"] for i in range(8)}), title="Wide")
    assert not narrow.is_wide() and wide.is_wide()
    d1 = Document(str(narrow.to_docx(tmp_path / "n.docx")))
    d2 = Document(str(wide.to_docx(tmp_path / "w.docx")))
    assert d1.sections[0].orientation == WD_ORIENT.PORTRAIT and d2.sections[0].orientation == WD_ORIENT.LANDSCAPE
    tbl = d1.tables[0]
    assert [c.text for c in tbl.rows[0].cells] == ["Model", "AUC (95% CI)"]
    assert [c.text for c in tbl.rows[1].cells] == ["a", "0.812\u00a0(0.741\u20130.883)"]  # CI kept on one line
    xml = tbl._tbl.xml
    assert "w:insideH" not in xml and "<w:tblHeader/>" in xml
    texts = [p.text for p in d1.paragraphs]
    assert texts[0] == "Table 2. AUC" and "DeLong CI." in texts


def test_publication_table_round_trips_and_refuses_bad_structure():
    from her2stats.errors import InputError

    t = PublicationTable(pd.DataFrame({"g": ["x", "x"], "m": ["a", "b"], "v": ["1", "2"]}), title="T", stub="m",
                         groupname="g", spanners={"S": ["v"]}, column_labels={"v": "Value"}, footnotes=("n",))
    back = PublicationTable.from_dict(t.to_dict())
    assert back.to_dict() == t.to_dict()
    with pytest.raises(InputError, match="stub column 'x'"):
        PublicationTable(pd.DataFrame({"a": ["1"]}), stub="x")
    with pytest.raises(InputError, match="unknown column"):
        PublicationTable(pd.DataFrame({"a": ["1"]}), spanners={"S": ["b"]})
