from __future__ import annotations

import re

import pytest

from her2stats.errors import ConfigError
from her2stats.reporting.render import _parse_qmd, render_report

QMD = '''---
title: "Render test"
execute:
  echo: false
---

## Numbers

```{python}
#| tags: [parameters]
value = 1
```

```{python}
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown, display
display(Markdown(f"The value is **{value * 2}**."))
fig, ax = plt.subplots(figsize=(2, 2)); ax.plot([0, 1], [0, 1]); plt.show()
pd.DataFrame({"auc": [0.842]})
```

```{python}
#| include: false
secret = "hidden-output"
print(secret)
```
'''


def test_parse_qmd_options():
    meta, cells = _parse_qmd(QMD)
    assert meta["title"] == "Render test"
    code = [c for c in cells if c["type"] == "code"]
    assert code[0]["options"]["tags"] == ["parameters"] and code[2]["options"]["include"] is False


@pytest.mark.slow
def test_render_without_quarto(tmp_path):
    qmd = tmp_path / "r.qmd"
    qmd.write_text(QMD)
    rep = render_report(qmd, tmp_path / "out" / "r.html", params={"value": 21}, use_quarto=False)
    html = rep.html.read_text()
    assert rep.engine == "nbclient+pandoc"
    assert "The value is <strong>42</strong>" in html  # the injected parameter was used
    assert "0.842" in html
    assert len(re.findall(r'src="data:image/png;base64,', html)) == 1  # self-contained figure
    assert "hidden-output" not in html


def test_missing_parameters_cell(tmp_path):
    qmd = tmp_path / "r.qmd"
    qmd.write_text("---\ntitle: x\n---\n\n```{python}\nx = 1\n```\n")
    with pytest.raises(ConfigError, match="parameters"):
        render_report(qmd, tmp_path / "o.html", params={"value": 1}, use_quarto=False)


def test_kernel_runs_over_ipc_with_our_environment(tmp_path, monkeypatch, capfd):
    """The report kernel inherits the environment (PYTHONPATH, HER2STATS_* ...) less R's
    LD_LIBRARY_PATH, and talks over IPC sockets, so ipykernel prints no TCP warning."""
    import nbformat

    from her2stats.reporting.render import execute_notebook

    monkeypatch.setenv("H2S_RENDER_PROBE", "inherited")
    monkeypatch.setenv("LD_LIBRARY_PATH", "/usr/lib/R/lib")
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(
        "import os\nfrom ipykernel.kernelapp import IPKernelApp\n"
        "print(os.environ.get('H2S_RENDER_PROBE'), os.environ.get('LD_LIBRARY_PATH'), IPKernelApp.instance().transport, os.getcwd())"))
    execute_notebook(nb, tmp_path, timeout=120)
    probe, ld, transport, cwd = nb.cells[0].outputs[0]["text"].split()
    assert (probe, ld, transport) == ("inherited", "None", "ipc")
    assert cwd == str(tmp_path)
    assert "TCP" not in capfd.readouterr().err


MULTI = '''---
title: "Formats test"
execute:
  echo: false
---

## Results

@tbl-perf gives the numbers and @fig-line draws them; @tbl-wide is wide.

```{python}
#| tags: [parameters]
n = 1
```

```{python}
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from pathlib import Path
from her2stats.reporting.tables import PublicationTable
from her2stats.reporting.render import show_table, show_figure
perf = PublicationTable(pd.DataFrame({"Cohort": ["Development", "Development", "External"], "Model": ["Clinical", "Combined", "Clinical"],
                                      "AUC (95% CI)": ["0.812 (0.741\\u20130.883)", "0.842 (0.780\\u20130.901)", "0.701 (0.610\\u20130.790)"],
                                      "Sensitivity": ["17/29 = 0.586 (0.389\\u20130.765)"] * 3, "P": ["<0.001", "0.042", ">0.999"]}),
                        title="Table 1. Diagnostic performance", stub="Model", groupname="Cohort", footnotes=("P: DeLong test.",))
show_table(perf, "tbl-perf")
wide = PublicationTable(pd.DataFrame({f"Measure {i}": [f"0.{i}12 (0.{i}01\\u20130.{i}99)"] * 2 for i in range(9)}), title="A wide table")
show_table(wide, "tbl-wide")
for k in range(n):
    fig, ax = plt.subplots(figsize=(3, 2)); ax.plot([0, 1], [0, k]); fig.savefig(f"line{k}.png", dpi=100); plt.close(fig)
    show_figure(Path(f"line{k}.png").resolve(), f"Line number {k} with_underscore <b>.", "fig-line" if k == 0 else f"fig-line{k}",
                width="single" if k == 0 else "double")
```
'''


@pytest.mark.slow
def test_one_template_three_formats(tmp_path):
    """Tables native in each format, figures as captioned images, numbered cross-references;
    the DOCX holds every table and figure of the HTML, the PDF their text and images."""
    import shutil

    from docx import Document

    qmd = tmp_path / "m.qmd"
    qmd.write_text(MULTI)
    fmts = ["html", "docx"] + (["pdf"] if shutil.which("chromium") and shutil.which("pdftotext") else [])
    rep = render_report(qmd, tmp_path / "out" / "report.html", params={"n": 2}, use_quarto=False, formats=fmts)
    assert list(rep.outputs) == fmts and all(p.is_file() for p in rep.outputs.values())
    html = rep.outputs["html"].read_text()
    n_tables_html = html.count('class="h2s-table')
    n_figs_html = html.count('class="h2s-figure')
    assert (n_tables_html, n_figs_html) == (2, 2)
    # cross-references resolved and numbered in order of appearance (the title's "Table 1." is not doubled)
    assert '<a href="#tbl-perf">Table 1</a>' in html and '<a href="#fig-line">Figure 1</a>' in html
    assert "Table 1. Diagnostic performance" in html and "Table 1. Table 1." not in html
    assert "Table 2. A wide table" in html and "@tbl" not in html
    assert "0.812&nbsp;(0.741" in html or "0.812\u00a0(0.741" in html  # estimate and CI on one line

    doc = Document(str(rep.outputs["docx"]))
    assert len(doc.tables) >= n_tables_html and len(doc.inline_shapes) >= n_figs_html
    texts = [p.text for p in doc.paragraphs]
    assert "Table 1 gives the numbers and Figure 1 draws them; Table 2 is wide." in texts
    assert "Table 1. Diagnostic performance" in texts and "Table 2. A wide table" in texts
    assert any(t.startswith("Figure 2. Line number 1 with_underscore <b>.") for t in texts)
    perf = doc.tables[0]
    # native Word table: group rows, stub, header, cells (not HTML)
    cells = [[c.text for c in r.cells] for r in perf.rows]
    assert cells[0][:2] == ["Model", "AUC (95% CI)"]
    assert cells[1][0] == "Development" and cells[2][:2] == ["Clinical", "0.812\u00a0(0.741\u20130.883)"]
    assert cells[2][3] == "<0.001"
    # three-line layout: rules at the top and bottom of the table and under the header, no grid
    xml = perf._tbl.xml
    assert '<w:top w:val="single" w:sz="12"' in xml and '<w:bottom w:val="single" w:sz="12"' in xml
    assert "w:insideH" not in xml and "w:insideV" not in xml and "<w:tblHeader/>" in xml
    # the wide table sits in its own landscape section
    from docx.enum.section import WD_ORIENT

    orient = [s.orientation for s in doc.sections]
    assert WD_ORIENT.LANDSCAPE in orient and orient[-1] == WD_ORIENT.PORTRAIT
    land = next(s for s in doc.sections if s.orientation == WD_ORIENT.LANDSCAPE)
    assert land.page_width > land.page_height
    # figures at their column width (90 mm single, 180 mm double)
    widths = sorted(round(s.width.mm) for s in doc.inline_shapes)
    assert widths == [90, 180]
    # the reference document's page: A4
    assert round(doc.sections[-1].page_width.mm) == 210

    if "pdf" in fmts:
        import subprocess

        pdf = rep.outputs["pdf"]
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
        assert "Table 1. Diagnostic performance" in text and "0.812" in text and "Figure 2." in text
        images = subprocess.run(["pdfimages", "-list", str(pdf)], capture_output=True, text=True, check=True).stdout
        assert len(images.strip().splitlines()) - 2 >= n_figs_html
        info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
        sizes = subprocess.run(["pdfinfo", "-f", "1", "-l", "99", str(pdf)], capture_output=True, text=True).stdout
        assert int(re.search(r"Pages:\s+(\d+)", info).group(1)) >= 2
        pages = [(float(w), float(h)) for w, h in re.findall(r"size:\s+([\d.]+) x ([\d.]+) pts", sizes)]
        assert all(abs(min(p) - 595) < 2 and abs(max(p) - 842) < 2 for p in pages)  # A4
        assert any(w > h for w, h in pages) and pages[0][0] < pages[0][1]  # the wide table's page is landscape


def test_formats_are_checked(tmp_path):
    from her2stats.reporting.render import parse_formats

    assert parse_formats("html, DOCX,pdf,html") == ("html", "docx", "pdf")
    assert parse_formats(["docx"]) == ("docx",)
    with pytest.raises(ConfigError, match="'odt'"):
        parse_formats("html,odt")
    qmd = tmp_path / "r.qmd"
    qmd.write_text(QMD)
    with pytest.raises(ConfigError, match="'rtf'"):
        render_report(qmd, tmp_path / "o.html", formats="rtf", use_quarto=False)


def test_unknown_cross_reference_is_flagged():
    from her2stats.reporting.render import _resolve_refs

    with pytest.warns(UserWarning, match="tbl-missing"):
        out = _resolve_refs("See @tbl-a and @tbl-missing; mail me@example.org.\n```\n@fig-code\n```", {"tbl-a": "Table 1"})
    assert out.startswith("See [Table 1](#tbl-a) and **??tbl-missing**; mail me@example.org.")
    assert "@fig-code" in out  # code is left alone


def test_reference_docx_is_shipped_and_rebuildable(tmp_path):
    from pathlib import Path

    from docx import Document

    from her2stats.reporting.render import build_reference_docx

    shipped = Path(__file__).resolve().parents[2] / "reports" / "reference.docx"
    assert shipped.is_file()
    for path in (shipped, build_reference_docx(tmp_path / "ref.docx")):
        doc = Document(str(path))
        names = {s.name for s in doc.styles}
        assert {"Table Caption", "Image Caption", "Table Note"} <= names
        assert round(doc.sections[0].page_width.mm) == 210 and round(doc.sections[0].page_height.mm) == 297


def test_supplementary_numbering(tmp_path):
    import nbformat

    from her2stats.reporting.render import TABLE_MIME, notebook_to_markdown
    from her2stats.reporting.tables import PublicationTable

    import pandas as pd

    t = PublicationTable(pd.DataFrame({"a": ["1"]}), title="Cohort flow").to_dict()
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("")
    cell.outputs = [nbformat.v4.new_output("display_data", data={TABLE_MIME: {"table": t, "label": label}})
                    for label in ("tbl-s-flow", "tbl-one", "tbl-two")]
    nb.cells = [nbformat.v4.new_markdown_cell("@tbl-s-flow then @tbl-one and @tbl-two."), cell]
    md = notebook_to_markdown({}, nb, tmp_path)
    assert "[Table S1](#tbl-s-flow) then [Table 1](#tbl-one) and [Table 2](#tbl-two)." in md
    assert "Table S1. Cohort flow" in md and "Table 2. Cohort flow" in md
