"""Reports rendered into folders (and from figure files) whose names a Markdown link or a URL would
misread: a space, ``#``, parentheses (unbalanced too), ``%``, ``?`` and non-ASCII letters. Every
format holds every figure: the HTML embeds them, the DOCX has them as images, the PDF (printed
from an HTML that links the figure files) has them as images."""
from __future__ import annotations

import re
import shutil
import subprocess
import urllib.parse
from pathlib import Path

import pytest

from her2stats.reporting.render import link_target, render_report

QMD = '''---
title: "Paths test"
---

```{python}
#| tags: [parameters]
names = []
```

@fig-f0 and @tbl-t.

```{python}
import matplotlib.pyplot as plt
import pandas as pd
from pathlib import Path
from her2stats.reporting.tables import PublicationTable
from her2stats.reporting.render import show_table, show_figure
show_table(PublicationTable(pd.DataFrame({"Model": ["Clinical"], "AUC": ["0.812"]}), title="Numbers"), "tbl-t")
for k, name in enumerate(names):
    Path(name).parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(3, 2)); ax.plot([0, 1], [0, k]); fig.savefig(name, dpi=72); plt.close(fig)
    show_figure(Path(name).resolve(), f"Line {k}", f"fig-f{k}")
fig, ax = plt.subplots(figsize=(2, 2)); ax.plot([0, 1], [1, 0]); plt.show()  # a plain figure: report_files/
```
'''

# file names of the figures, relative to the report's folder (one outside it)
FIGURES = ["figures/roc #1 (a).png", "figures/50%20 what?.png", "figures/x (y/é.png", "../outside (z.png"]
HAS_PDF_TOOLS = all(shutil.which(t) for t in ("chromium", "pdfimages"))


def test_link_target_is_relative_and_percent_encoded(tmp_path):
    base = tmp_path / "My Study #2 (é)"
    assert link_target(base / "figures" / "roc (a).png", base) == "figures/roc%20%28a%29.png"
    assert link_target(base / "report_files" / "figure-01.png", base) == "report_files/figure-01.png"
    assert link_target(base / "a#b?c%20d.png", base) == "a%23b%3Fc%2520d.png"
    assert link_target(base / "é.png", base) == "%C3%A9.png"
    assert link_target(tmp_path / "x y.png", base) == "../x%20y.png"
    assert link_target(base / "c:d.png", base) == "c%3Ad.png"  # not a URL scheme


@pytest.mark.slow
@pytest.mark.parametrize("folder", ["My Study/out", "run #2 (copy)/résultats é", "50%20 what?/x (y"])
def test_every_format_holds_every_figure_whatever_the_folder_is_called(tmp_path, folder):
    from docx import Document

    qmd = tmp_path / "m.qmd"
    qmd.write_text(QMD)
    out = tmp_path / folder
    fmts = ["html", "docx"] + (["pdf"] if HAS_PDF_TOOLS else [])
    rep = render_report(qmd, out / "report.html", params={"names": FIGURES}, use_quarto=False, formats=fmts)
    assert list(rep.outputs) == fmts and all(p.is_file() for p in rep.outputs.values())
    n_figs = len(FIGURES) + 1
    md = (out / "report.md").read_text(encoding="utf-8")
    assert str(tmp_path) not in md and "figures/roc%20%231%20%28a%29.png" in md  # relative, percent-encoded

    html = rep.outputs["html"].read_text(encoding="utf-8")
    assert len(re.findall(r'src="data:image/png;base64,', html)) == n_figs  # every figure embedded
    assert html.count('class="h2s-figure') == len(FIGURES) and "Figure 4." in html
    assert 'href="#fig-f0">Figure 1</a>' in html and "h2s-figure { margin" in html  # the CSS is embedded too

    doc = Document(str(rep.outputs["docx"]))
    assert len(doc.inline_shapes) == n_figs
    texts = [p.text for p in doc.paragraphs]
    assert all(f"Figure {k + 1}. Line {k}" in texts for k in range(len(FIGURES)))

    if "pdf" in fmts:
        images = subprocess.run(["pdfimages", "-list", str(rep.outputs["pdf"])], capture_output=True, text=True,
                                check=True).stdout
        assert len(images.strip().splitlines()) - 2 == n_figs
        assert not list(out.glob(".*print*"))


#: a small real study (no imaging, Python engine, 5 bootstrap repetitions; as test_atomic.py's)
CFG = {"name": "paths", "engine": "python", "cohort": {"source": "demo"},
       "splits": {"train": ["A", "B"], "external": ["C"]},
       "table1": {"variables": ["age", "grade"], "by_cohort": False},
       "clinical": {"covariates": ["age", "ki67"]},
       "validation": {"n_boot": 5, "calibrate_n_boot": 5, "fast_n_boot": 5}}


@pytest.mark.slow
def test_cli_report_into_a_folder_named_with_a_space_a_hash_parentheses_and_an_accent(tmp_path):
    """`her2stats report --out "My Study #2 (é)/out"` end to end: the study runs in a staging
    folder next to it, the report is rendered there in every format, then swapped in; every
    figure of the study is in each format and the Markdown links them relative to the folder."""
    import yaml
    from docx import Document
    from typer.testing import CliRunner

    from her2stats.cli import app

    cfg = tmp_path / "study.yaml"
    cfg.write_text(yaml.safe_dump(CFG))
    out = tmp_path / "My Study #2 (é)" / "out"
    fmts = "html,docx" + (",pdf" if HAS_PDF_TOOLS else "")
    res = CliRunner().invoke(app, ["report", str(cfg), "--out", str(out), "--format", fmts])
    assert res.exit_code == 0, (res.output, res.exception)
    md = (out / "report.md").read_text(encoding="utf-8")
    linked = re.findall(r"!\[[^\n]*?\]\(([^)\s]+)\)", md)
    assert linked and all(t.startswith(("figures/", "report_files/")) for t in linked)
    assert all((out / urllib.parse.unquote(t)).is_file() for t in linked)
    html = (out / "report.html").read_text(encoding="utf-8")
    assert len(re.findall(r'src="data:image/png;base64,', html)) == len(linked)
    assert len(Document(str(out / "report.docx")).inline_shapes) == len(linked)
    if HAS_PDF_TOOLS:
        images = subprocess.run(["pdfimages", "-list", str(out / "report.pdf")], capture_output=True, text=True,
                                check=True).stdout
        assert len(images.strip().splitlines()) - 2 == len(linked)
