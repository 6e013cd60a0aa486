"""What rendering does off its critical path changes nothing in the report: the PDF printed from
the HTML that links the figure files is the PDF of the self-contained HTML (in folders a URL would
misread too: test_render_paths.py), the report kernel's warm-up leaves its namespace alone and
covers what loading the study's results imports, and the kernel shuts down in the background when
asked."""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from her2stats.reporting.render import (KERNEL_WARM_UP, ReportKernel, html_to_pdf, preload_render_modules,
                                        render_report)

MULTI = '''---
title: "Overlap test"
---

```{python}
#| tags: [parameters]
n = 1
```

@tbl-perf gives the numbers and @fig-line draws them.

```{python}
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from pathlib import Path
from her2stats.reporting.tables import PublicationTable
from her2stats.reporting.render import show_table, show_figure
perf = PublicationTable(pd.DataFrame({"Model": ["Clinical", "Combined"], "AUC (95% CI)": ["0.812 (0.741-0.883)", "0.842"]}),
                        title="Table 1. Diagnostic performance", stub="Model")
show_table(perf, "tbl-perf")
for k in range(n):
    fig, ax = plt.subplots(figsize=(3, 2)); ax.plot([0, 1], [0, k]); fig.savefig(f"line{k}.png", dpi=300); plt.close(fig)
    show_figure(Path(f"line{k}.png").resolve(), f"Line {k}", "fig-line" if k == 0 else f"fig-line{k}",
                width="single" if k == 0 else "double")
```
'''

HAS_PDF_TOOLS = all(shutil.which(t) for t in ("chromium", "pdftotext", "pdfimages", "pdftoppm"))


def _pdf_pages(pdf: Path) -> tuple[str, str, list[str], list[str]]:
    """(text, image list less object numbers, hash of each page drawn at 40 dpi, hash of each image's pixels)."""
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    images = subprocess.run(["pdfimages", "-list", str(pdf)], capture_output=True, text=True, check=True).stdout
    images = "\n".join(re.sub(r"^(\s*\d+\s+\d+\s+\S+\s+\d+\s+\d+\s+\S+\s+\d+\s+\d+\s+\S+\s+\S+)\s+\d+\s+\d+", r"\1", line)
                       for line in images.splitlines())
    work = pdf.parent / f"{pdf.stem}-pages"
    work.mkdir()
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(pdf), str(work / "p")], check=True)
    subprocess.run(["pdfimages", "-png", str(pdf), str(work / "i")], check=True)
    pages = [hashlib.sha1(p.read_bytes()).hexdigest() for p in sorted(work.glob("p-*.png"))]
    pixels = [hashlib.sha1(p.read_bytes()).hexdigest() for p in sorted(work.glob("i-*.png"))]
    return text, images, pages, pixels


@pytest.mark.slow
@pytest.mark.skipif(not HAS_PDF_TOOLS, reason="needs Chromium and poppler-utils")
def test_pdf_printed_from_linked_figures_is_the_pdf_of_the_self_contained_html(tmp_path):
    qmd = tmp_path / "m.qmd"
    qmd.write_text(MULTI)
    rep = render_report(qmd, tmp_path / "out" / "report.html", params={"n": 2}, use_quarto=False,
                        formats=["html", "pdf"])
    assert not list((tmp_path / "out").glob(".*print*"))  # the HTML Chromium printed is removed
    html = rep.outputs["html"].read_text()
    assert "data:image/png;base64," in html and "line0.png" not in html  # report.html stays self-contained
    printed = rep.outputs["pdf"]
    again = html_to_pdf(rep.outputs["html"], tmp_path / "self-contained.pdf")
    a, b = _pdf_pages(printed), _pdf_pages(again)
    assert a[0] == b[0] and "Table 1. Diagnostic performance" in a[0]
    assert a[1] == b[1] and len(a[3]) >= 2  # the same images, at the same size and resolution
    assert a[2] == b[2] and len(a[2]) >= 1  # every page drawn the same
    assert a[3] == b[3]


def test_warm_up_leaves_no_name_and_kernel_shuts_down_in_the_background(tmp_path):
    namespace: dict = {}
    # the warm-up imports rpy2.robjects, which starts R, which rewrites LD_LIBRARY_PATH for this
    # process (in a kernel, its own business): put back here, or later children of this test
    # process (Dask workers) would inherit it and fail to import ssl
    saved = os.environ.get("LD_LIBRARY_PATH")
    try:
        exec(KERNEL_WARM_UP, namespace)  # noqa: S102 - the package's own warm-up code
    finally:
        if saved is None:
            os.environ.pop("LD_LIBRARY_PATH", None)
        else:
            os.environ["LD_LIBRARY_PATH"] = saved
    assert sorted(namespace) == ["__builtins__"]
    kernel = ReportKernel(tmp_path)
    kernel.close(wait=False)  # returns while the kernel shuts down
    kernel.close()  # waits for that
    from jupyter_core.utils import run_sync

    assert not run_sync(kernel.km.is_alive)()
    assert not Path(kernel._runtime.name).exists()


def test_render_modules_are_imported_once_in_a_thread():
    thread = preload_render_modules()
    assert preload_render_modules() is thread
    thread.join(timeout=120)
    assert not thread.is_alive() and {"nbformat", "nbclient", "great_tables"} <= set(sys.modules)


@pytest.mark.slow
@pytest.mark.xdist_group("demo_study")
def test_warm_up_imports_what_loading_the_study_results_imports(fast_demo):
    """The report's first cell loads study_results.pkl (load_or_run): after the warm-up, that imports no module of
    her2stats, scikit-learn, pandas or great_tables (so the cell does not pay for them)."""
    res, html = fast_demo
    DEMO_YAML = Path(__file__).resolve().parents[2] / "reports" / "demo.yaml"  # the fixture's config

    code = ("import sys, IPython\n"
            f"exec({KERNEL_WARM_UP!r}, {{}})\n"
            "before = set(sys.modules)\n"
            "from her2stats.reporting.study import load_or_run\n"
            f"load_or_run({str(DEMO_YAML)!r}, outdir={str(html.parent)!r}, fast=True)\n"
            "new = sorted(m for m in set(sys.modules) - before\n"
            "             if m.split('.')[0] in ('her2stats', 'sklearn', 'pandas', 'great_tables', 'rpy2'))\n"
            "print(new)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    new = eval(out.stdout.strip().splitlines()[-1])  # noqa: S307 - a list of module names printed above
    assert new == []
