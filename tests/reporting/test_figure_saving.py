"""Saving figures: one layout for every format, lean PDF fonts, and the background saver a study
uses (same files as an in-process save, errors raised where the block ends)."""
from __future__ import annotations

import shutil
import subprocess

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from PIL import Image

from her2stats.reporting import figures as F
from her2stats.reporting.style import _lean_pdf_fonts, background_saver, background_saving


def _figure(title: str = "ROC") -> object:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 120)
    s = y + rng.normal(0, 1, 120)
    return F.roc_figure({"clinical": (y, s)}, {"clinical": _auc(y, s)}, title=title)


def _auc(y, s):
    from her2stats import roc_auc

    return roc_auc(y, s, ci="delong", engine="python")


def _pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_one_layout_for_every_format(tmp_path):
    # the PNG written first is the PNG a PNG-only save writes; the figure keeps its layout engine
    alone = _figure()
    F.save(alone, tmp_path / "alone", formats=("png",))
    fig = _figure()
    engine = fig.get_layout_engine()
    paths = F.save(fig, tmp_path / "all", formats=("png", "pdf", "svg", "tiff"), close=False)
    assert [p.suffix for p in paths] == [".png", ".pdf", ".svg", ".tiff"] and all(p.stat().st_size > 0 for p in paths)
    assert np.array_equal(_pixels(tmp_path / "alone.png"), _pixels(tmp_path / "all.png"))
    assert fig.get_layout_engine() is engine and "get_tightbbox" not in vars(fig)
    # every format has the PNG's tight box: same aspect ratio (TIFF at 600 dpi is twice the PNG)
    png, tiff = Image.open(tmp_path / "all.png").size, Image.open(tmp_path / "all.tiff").size
    assert abs(tiff[0] - 2 * png[0]) <= 2 and abs(tiff[1] - 2 * png[1]) <= 2


@pytest.mark.skipif(shutil.which("pdftoppm") is None or shutil.which("pdftotext") is None,
                    reason="poppler-utils (pdftoppm, pdftotext) not installed")
def test_lean_pdf_fonts_draw_the_same_text(tmp_path):
    from matplotlib.backends import _backend_pdf_ps as pdfps

    module = pdfps.subset
    fig = _figure("Fonts: ROC 0.81 (0.74–0.88)")
    with F.journal_style("default"):
        fig.savefig(tmp_path / "full.pdf")
        with _lean_pdf_fonts():
            assert pdfps.subset is not module
            fig.savefig(tmp_path / "lean.pdf")
    assert pdfps.subset is module  # matplotlib is left as it was
    for name in ("full", "lean"):
        subprocess.run(["pdftoppm", "-r", "120", "-png", "-singlefile", str(tmp_path / f"{name}.pdf"),
                        str(tmp_path / name)], check=True)
    assert np.array_equal(_pixels(tmp_path / "full.png"), _pixels(tmp_path / "lean.png"))
    text = subprocess.run(["pdftotext", str(tmp_path / "lean.pdf"), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "Fonts: ROC 0.81 (0.74–0.88)" in text  # editable, extractable text
    assert (tmp_path / "lean.pdf").stat().st_size < (tmp_path / "full.pdf").stat().st_size


def test_background_saving_writes_the_same_files(tmp_path):
    F.save(_figure(), tmp_path / "inline" / "roc", formats=("png", "svg"))
    with background_saving() as saver:
        if saver is None:
            pytest.skip("one usable core: figures are saved in process")
        assert background_saver() is saver
        paths = F.save(_figure(), tmp_path / "bg" / "roc", formats=("png", "svg"))
        assert paths == [tmp_path / "bg" / "roc.png", tmp_path / "bg" / "roc.svg"]
    assert background_saver() is None
    assert np.array_equal(_pixels(tmp_path / "inline" / "roc.png"), _pixels(tmp_path / "bg" / "roc.png"))
    assert (tmp_path / "bg" / "roc.svg").read_text().count("<svg") == 1


def test_background_saving_raises_a_failed_save_at_the_end(tmp_path):
    (tmp_path / "roc.png").mkdir()  # the file cannot replace a folder
    with pytest.raises(OSError):
        with background_saving() as saver:
            if saver is None:
                pytest.skip("one usable core: figures are saved in process")
            F.save(_figure(), tmp_path / "roc", formats=("png",))  # returns at once: the helper fails later
    assert background_saver() is None


def test_background_saving_refuses_unknown_formats_at_once(tmp_path):
    from her2stats.errors import InputError

    with background_saving() as saver:
        if saver is None:
            pytest.skip("one usable core: figures are saved in process")
        with pytest.raises(InputError, match="unknown figure format"):
            F.save(_figure(), tmp_path / "roc", formats=("png", "jpeg"))
