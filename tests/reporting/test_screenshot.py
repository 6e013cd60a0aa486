"""Check the rendered demo report as a reader sees it: headless Chromium screenshot (not blank,
figures visible) and a PDF figure rasterised by pdftoppm (has ink)."""
from __future__ import annotations

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
    # the first screenful already shows an embedded figure or table
    html_text = Path(html).read_text(encoding="utf-8")
    assert html_text.count("data:image/png;base64,") >= 10


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
