"""Check the rendered demo report as a reader sees it, in every format: a headless Chromium
screenshot of the HTML (not blank, figures and tables visible), the PDF (page count, every figure
as an image, the Table 1 text), the DOCX (at least the tables and figures of the HTML, as native
Word tables and images), and a figure PDF rasterised by pdftoppm (has ink)."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.deep, pytest.mark.xdist_group("demo_study")]


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _load_png(path: Path) -> np.ndarray:
    import matplotlib.image as mpimg

    img = mpimg.imread(path)
    return img[..., :3] if img.ndim == 3 else np.stack([img] * 3, axis=-1)


def _html_counts(html: str) -> tuple[int, int]:
    return html.count('class="h2s-table'), html.count('class="h2s-figure')


def test_headless_screenshot_not_blank(fast_demo, tmp_path):
    chromium = _chromium()
    if chromium is None:
        pytest.skip("chromium not installed (apt-get install chromium)")
    _, html = fast_demo
    shot = tmp_path / "report.png"
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1280,2400",
           "--hide-scrollbars", Path(html).resolve().as_uri()]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    img = _load_png(shot)
    assert img.shape[0] >= 2000 and img.shape[1] >= 1200
    dark = (img.mean(axis=-1) < 0.5).mean()
    assert dark > 0.005, "screenshot is blank"
    # figures and table shading give many distinct colours; a text-only page has few
    colours = np.unique((img.reshape(-1, 3) * 31).astype(int), axis=0)
    assert len(colours) > 50
    html_text = Path(html).read_text(encoding="utf-8")
    assert html_text.count("data:image/png;base64,") >= 10
    # on screen, figures are shown at a readable size (not at their 90 mm print width)
    assert "img.single { width: 560px !important; }" in html_text


def test_docx_holds_the_tables_and_figures_of_the_html(fast_demo_rendered):
    from docx import Document
    from docx.enum.section import WD_ORIENT

    res, rendered = fast_demo_rendered
    html = rendered.outputs["html"].read_text(encoding="utf-8")
    n_tables, n_figures = _html_counts(html)
    assert n_tables >= 9 and n_figures >= 12
    doc = Document(str(rendered.outputs["docx"]))
    assert len(doc.tables) >= n_tables and len(doc.inline_shapes) >= n_figures
    captions = [p.text for p in doc.paragraphs if re.match(r"^(Table|Figure) S?\d+\. ", p.text)]
    assert sum(c.startswith("Table") for c in captions) == n_tables
    assert sum(c.startswith("Figure") for c in captions) == n_figures
    assert "Table 1. Baseline characteristics by HER2 status" in captions
    # Table 1 as a native table with the dictionary's labels
    t1 = next(t for t in doc.tables if t.rows[0].cells[0].text == "Characteristic")
    first_col = [r.cells[0].text for r in t1.rows]
    assert any(c.startswith("Age (years), ") for c in first_col) and "ER status" in first_col
    assert any("HER2-positive (n = " in c.text for c in t1.rows[0].cells)
    # wide tables (performance, Table 1 by cohort, TRIPOD) get landscape sections
    assert any(s.orientation == WD_ORIENT.LANDSCAPE for s in doc.sections)
    # the cross-references are numbered text, not "@tbl-..."
    body = "\n".join(p.text for p in doc.paragraphs)
    assert "@tbl-" not in body and "@fig-" not in body and "??" not in body


def test_pdf_pages_figures_and_table1(fast_demo_rendered):
    if shutil.which("pdftotext") is None:
        pytest.skip("poppler-utils not installed (apt-get install poppler-utils)")
    res, rendered = fast_demo_rendered
    if "pdf" not in rendered.outputs:
        pytest.skip("chromium not installed: no PDF")
    pdf = rendered.outputs["pdf"]
    html = rendered.outputs["html"].read_text(encoding="utf-8")
    n_tables, n_figures = _html_counts(html)
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    # every table and figure, at print size, on A4: a real document, not one long page or hundreds
    assert 8 <= pages <= 40, pages
    listing = subprocess.run(["pdfimages", "-list", str(pdf)], capture_output=True, text=True, check=True).stdout
    rows = [ln.split() for ln in listing.strip().splitlines()[2:]]
    images = [r for r in rows if r[2] == "image"]
    assert len(images) >= n_figures
    assert all(int(r[3]) >= 300 for r in images)  # the 300-dpi PNGs, not thumbnails
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "Table 1. Baseline characteristics by HER2 status" in text
    assert re.search(r"Age \(years\), mean ± SD", text) or re.search(r"Age \(years\), median", text)
    assert "HER2-positive (n =" in text
    n = res.numbers
    assert f"{n['auc/clinical/external']:.3f}" in text
    # every figure is captioned and numbered in the PDF
    for k in range(1, n_figures + 1):
        assert f"Figure {k}." in text, k


def test_pdf_figure_has_ink(fast_demo, tmp_path):
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm not installed (apt-get install poppler-utils)")
    res, _ = fast_demo
    pdf = res.figures["roc_external"].with_suffix(".pdf")
    subprocess.run(["pdftoppm", "-png", "-r", "100", "-singlefile", str(pdf), str(tmp_path / "roc")], check=True,
                   capture_output=True, timeout=60)
    img = _load_png(tmp_path / "roc.png")
    ink = (img.mean(axis=-1) < 0.5).mean()
    assert 0.002 < ink < 0.5
    # coloured curves (not only black text/axes)
    sat = img.max(axis=-1) - img.min(axis=-1)
    assert (sat > 0.3).mean() > 0.0005
