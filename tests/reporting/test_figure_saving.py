"""Saving figures: one layout for every format, lean PDF fonts, and the background saver a study
uses (same files as an in-process save, errors raised where the block ends)."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from PIL import Image

from her2stats.reporting import figures as F
from her2stats.reporting import style as S
from her2stats.reporting.style import FigureSaver, _lean_pdf_fonts, background_saver, background_saving


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


# ---------------------------------------------------------------------------------- several helpers
def _comparable(path) -> bytes:
    """A figure file's bytes, less what differs between two saves of the same figure: the PDF's
    /CreationDate (blanked, same length), the SVG's <dc:date> and its element ids (matplotlib draws
    them with a random salt, ``svg.hashsalt`` unset: renamed in order of first appearance)."""
    b = path.read_bytes()
    if path.suffix == ".pdf":
        b = re.sub(rb"/CreationDate \(D:\d{14}Z\)", b"/CreationDate (D:00000000000000Z)", b)
    elif path.suffix == ".svg":
        b = re.sub(rb"<dc:date>[^<]*</dc:date>", b"<dc:date/>", b)
        ids: dict = {}
        for m in re.finditer(rb'id="([A-Za-z0-9_]+)"', b):
            ids.setdefault(m.group(1), b"ID%d" % len(ids))
        if ids:
            names = b"|".join(re.escape(k) for k in sorted(ids, key=len, reverse=True))
            b = re.sub(rb"\b(" + names + rb")\b", lambda m: ids[m.group(1)], b)
    return b


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


FORMATS = ("png", "pdf", "svg")


class _OnUnpickling:
    """Attached to a figure: unpickling it in a helper calls ``func(*args)`` (sleeps, or ends the
    helper) before the figure is saved."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _slow(title: str, seconds: float) -> object:
    fig = _figure(title)
    fig._test_delay = _OnUnpickling(time.sleep, seconds)
    return fig


def test_several_helpers_write_the_files_of_an_in_process_save(tmp_path):
    titles = [f"ROC {k}" for k in range(6)]
    for t in titles:
        F.save(_figure(t), tmp_path / "inline" / t.replace(" ", "_"), formats=FORMATS)
    figs = [_figure(t) for t in titles]
    saver = FigureSaver(helpers=3)
    try:
        assert saver.helpers == 1  # one helper at once; more when it has a backlog
        for t, fig in zip(titles, figs):
            paths = saver.submit(fig, tmp_path / "bg" / t.replace(" ", "_"), formats=FORMATS)
            assert paths == [tmp_path / "bg" / f"{t.replace(' ', '_')}.{ext}" for ext in FORMATS]
        pids = saver.pids
        assert saver.helpers == 3  # started at the 3rd and 5th figures (2 and 4 waiting)
        saver.wait()
    finally:
        saver.close()
    assert all(_gone(pid) for pid in pids) and sorted(saver.written_by) == [1, 2, 3, 4, 5, 6]
    inline, bg = sorted((tmp_path / "inline").iterdir()), sorted((tmp_path / "bg").iterdir())
    assert [p.name for p in inline] == [p.name for p in bg] and len(bg) == 3 * len(titles)
    for a, b in zip(inline, bg):
        if a.suffix == ".png":
            assert a.read_bytes() == b.read_bytes(), a.name
        assert _comparable(a) == _comparable(b), a.name


def test_a_free_helper_takes_the_next_figure(tmp_path):
    # a slow figure keeps one helper busy: the other writes every figure queued behind it
    saver = FigureSaver(helpers=2, start=2)
    try:
        saver.submit(_slow("slow", 6), tmp_path / "slow", formats=("png",))
        for name in "abc":
            saver.submit(_figure(), tmp_path / name, formats=("png",))
        saver.wait()
    finally:
        saver.close()
    slow = saver.written_by[1]
    assert [saver.written_by[k] for k in (2, 3, 4)] == [1 - slow] * 3
    assert all((tmp_path / f"{n}.png").is_file() for n in ("slow", "a", "b", "c"))


@pytest.mark.parametrize("bad", [[0], [3], [1, 3]], ids=["first", "last", "two"])
def test_the_first_failed_save_is_raised(tmp_path, bad):
    names = ["f0", "f1", "f2", "f3"]
    for k in bad:
        (tmp_path / f"{names[k]}.png").mkdir()  # the file cannot replace a folder
    saver = FigureSaver(helpers=2, start=2)
    try:
        for name in names:
            saver.submit(_figure(), tmp_path / name, formats=("png",))
        with pytest.raises(OSError) as err:
            saver.wait()
    finally:
        saver.close()
    assert f"{names[bad[0]]}.png" in str(err.value)  # the first submitted of the failed figures
    assert all((tmp_path / f"{n}.png").is_file() for k, n in enumerate(names) if k not in bad)


def test_the_first_failed_save_is_raised_whichever_helper_met_it(tmp_path):
    # the first figure fails late in one helper, the second early in the other: the first is raised
    for name in ("late", "early"):
        (tmp_path / f"{name}.png").mkdir()
    saver = FigureSaver(helpers=2, start=2)
    try:
        saver.submit(_slow("late", 4), tmp_path / "late", formats=("png",))
        saver.submit(_figure(), tmp_path / "early", formats=("png",))
        saver.submit(_figure(), tmp_path / "ok", formats=("png",))
        with pytest.raises(OSError) as err:
            saver.wait()
    finally:
        saver.close()
    assert "late.png" in str(err.value) and saver.written_by[1] != saver.written_by[2]
    assert (tmp_path / "ok.png").is_file()


def test_a_helper_that_dies_is_reported_with_its_unwritten_figures(tmp_path):
    # a helper ends while it holds a figure: that figure is reported; the other helper writes the rest
    fig = _figure()
    fig._test_exit = _OnUnpickling(os._exit, 3)
    saver = FigureSaver(helpers=2, start=2)
    try:
        saver.submit(_figure(), tmp_path / "a", formats=("png", "svg"))
        saver.submit(fig, tmp_path / "dies", formats=("png", "svg"))
        for name in ("b", "c"):
            saver.submit(_figure(), tmp_path / name, formats=("png", "svg"))
        with pytest.raises(RuntimeError, match=r"ended \(exit code 3\) with 1 of 4 figure\(s\) unwritten: dies$"):
            saver.wait()
    finally:
        saver.close()
    assert all((tmp_path / f"{n}.png").is_file() for n in "abc") and not (tmp_path / "dies.png").exists()
    # the only helper killed before it wrote anything: every figure is reported, none is left half-written
    saver = FigureSaver(helpers=1)
    try:
        for name in ("d", "e"):
            saver.submit(_figure(), tmp_path / name, formats=("png", "svg"))
        os.kill(saver.pids[0], signal.SIGKILL)
        saver._helpers[0].proc.wait(timeout=10)
        assert saver.submit(_figure(), tmp_path / "f", formats=("png",)) is None  # no helper: saved in process
        with pytest.raises(RuntimeError, match=r"ended \(exit code -9\) with 2 of 2 figure\(s\) unwritten: d, e$"):
            saver.wait()
    finally:
        saver.close()
    assert not list(tmp_path.glob(".*.tmp"))


def test_no_helper_outlives_its_block(tmp_path, monkeypatch):
    monkeypatch.setattr(S, "saver_helper_count", lambda: 2)
    # an error in the block: the helpers write the figures they were given, then end
    with pytest.raises(ValueError, match="in the block"):
        with background_saving() as saver:
            for name in ("a", "b", "c"):
                F.save(_figure(), tmp_path / "err" / name, formats=("png",))
            pids = saver.pids
            assert len(pids) == 2
            raise ValueError("in the block")
    assert all(_gone(pid) for pid in pids) and all((tmp_path / "err" / f"{n}.png").is_file() for n in "abc")
    # an interruption: the helpers are stopped at once, leaving no temporary file
    t = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        with background_saving() as saver:
            for name in ("a", "b", "c"):
                F.save(_figure(), tmp_path / "int" / name, formats=("png", "pdf", "svg"))
            pids, folder = saver.pids, saver._dir.name
            raise KeyboardInterrupt
    assert time.perf_counter() - t < 30
    assert all(_gone(pid) for pid in pids) and not os.path.exists(folder)
    assert not list((tmp_path / "int").glob(".*.tmp"))


def test_one_usable_core_saves_in_process(tmp_path, monkeypatch):
    monkeypatch.setattr(S, "usable_cpus", lambda: 1)
    assert S.saver_helper_count() == 1
    with background_saving() as saver:
        assert saver is None and background_saver() is None
        assert F.save(_figure(), tmp_path / "roc", formats=("png",)) == [tmp_path / "roc.png"]
    assert (tmp_path / "roc.png").is_file()
    monkeypatch.setattr(S, "usable_cpus", lambda: 64)
    assert S.saver_helper_count() == S.MAX_SAVER_HELPERS == 4
