"""Journal figure styles and a saver that writes PNG / PDF / SVG / TIFF.

A style fixes what journals specify for submitted figures: the typeface, the text sizes, the
column widths a figure must fit (single and double column, in mm) and the raster resolutions.
Every figure of :mod:`her2stats.reporting.figures` takes ``style=`` and ``width="single" |
"double"`` and is drawn at its printed size, so text is at its stated point size in the journal.

======================  ===================  ======  ======  =========================================
style                   typeface             text    single  double
======================  ===================  ======  ======  =========================================
``"default"``           DejaVu Sans          8-9 pt  90 mm   180 mm (screen reports; any journal)
``"radiology"``         Arial / Helvetica    8 pt    86 mm   178 mm (RSNA Radiology: 1 or 2 columns)
``"nature"``            Arial / Helvetica    5-7 pt  89 mm   180 mm (Nature: 89 / 183 mm, 7 pt max)
======================  ===================  ======  ======  =========================================

Arial is used when installed; otherwise its metric-compatible Liberation Sans (Debian
``fonts-liberation2``), then Helvetica, then DejaVu Sans (the family actually used is
``resolve_font(style)``). :func:`register_style` adds a journal.

Files: PNG at ``png_dpi`` (300), TIFF at ``tiff_dpi`` (600, LZW-compressed, RGB, the resolution
journals ask for line art), PDF and SVG with editable text (``pdf.fonttype`` 42).
"""
from __future__ import annotations

import contextlib
import contextvars
import io
import os
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Iterator

import matplotlib

from ..errors import InputError

MM_PER_INCH = 25.4

#: colour-blind safe (Okabe-Ito)
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]

#: the figure file formats :func:`save_figure` writes by default
FIGURE_FORMATS = ("png", "pdf", "svg", "tiff")


@dataclass(frozen=True)
class JournalStyle:
    """What a journal specifies for figures (sizes in points and millimetres)."""

    name: str
    fonts: tuple[str, ...]
    font_size: float        # axis labels, body text
    small_size: float       # tick labels, legends, annotations
    title_size: float
    single_mm: float        # single-column width
    double_mm: float        # double-column (full page) width
    line_width: float = 1.2
    axes_width: float = 0.7
    png_dpi: int = 300
    tiff_dpi: int = 600

    def width_in(self, width: "str | float") -> float:
        """Figure width in inches: ``"single"``, ``"double"``, ``"onehalf"`` or millimetres."""
        if isinstance(width, (int, float)) and not isinstance(width, bool):
            if not 20 <= float(width) <= 300:
                raise InputError(f"figure width must be 20-300 mm, got {width!r}")
            return float(width) / MM_PER_INCH
        mm = {"single": self.single_mm, "double": self.double_mm,
              "onehalf": (self.single_mm + self.double_mm) / 2}.get(width)
        if mm is None:
            raise InputError(f"width must be 'single', 'double', 'onehalf' or a width in mm, got {width!r}")
        return mm / MM_PER_INCH

    def figsize(self, width: "str | float" = "single", aspect: float = 0.8, height_in: float | None = None
                ) -> tuple[float, float]:
        """(width, height) in inches; height = aspect x width unless given."""
        w = self.width_in(width)
        return (w, float(height_in) if height_in is not None else w * aspect)


_FONT_PREF = ("Arial", "Liberation Sans", "Helvetica", "Nimbus Sans", "DejaVu Sans")

STYLES: dict[str, JournalStyle] = {
    "default": JournalStyle("default", ("DejaVu Sans",), font_size=8.5, small_size=7.5, title_size=9,
                            single_mm=90, double_mm=180),
    "radiology": JournalStyle("radiology", _FONT_PREF, font_size=8, small_size=7, title_size=8.5,
                              single_mm=86, double_mm=178),
    "nature": JournalStyle("nature", _FONT_PREF, font_size=7, small_size=6, title_size=7,
                           single_mm=89, double_mm=180, line_width=1.0, axes_width=0.5),
}


def register_style(name: str, base: str = "default", **params) -> JournalStyle:
    """Add (or replace) a journal style, starting from ``base``'s values; returns it."""
    if not isinstance(name, str) or not name.strip():
        raise InputError(f"style name must be a non-empty string, got {name!r}")
    unknown = set(params) - set(JournalStyle.__dataclass_fields__)
    if unknown:
        raise InputError(f"register_style: unknown setting(s) {sorted(unknown)}; "
                         f"use {sorted(set(JournalStyle.__dataclass_fields__) - {'name'})}")
    new = replace(get_style(base), name=name, **params)
    if not 20 <= new.single_mm <= new.double_mm <= 300:
        raise InputError(f"register_style({name!r}): column widths must satisfy 20 <= single_mm <= double_mm <= 300 "
                         f"(mm), got single {new.single_mm}, double {new.double_mm}")
    if not (0 < new.small_size <= new.font_size) or new.png_dpi < 72 or new.tiff_dpi < 72:
        raise InputError(f"register_style({name!r}): need 0 < small_size <= font_size and resolutions >= 72 dpi")
    STYLES[name] = new
    return new


def get_style(style: "str | JournalStyle | None" = None) -> JournalStyle:
    """The :class:`JournalStyle` called ``style`` (None: ``"default"``)."""
    if style is None:
        return STYLES["default"]
    if isinstance(style, JournalStyle):
        return style
    if isinstance(style, str) and style in STYLES:
        return STYLES[style]
    raise InputError(f"unknown figure style {style!r}; available: {sorted(STYLES)} (or register_style())")


_SCANNED = False


def resolve_font(style: "str | JournalStyle | None" = None) -> str:
    """The first of the style's typefaces that matplotlib can find on this machine.

    A font installed after matplotlib built its font cache (e.g. ``apt-get install
    fonts-liberation2`` on a machine that already ran matplotlib) is found by scanning the system
    fonts once and adding the matching files to this process's font list."""
    global _SCANNED
    from matplotlib import font_manager

    st = get_style(style)
    for attempt in (0, 1):
        names = {f.name for f in font_manager.fontManager.ttflist}
        found = next((f for f in st.fonts if f in names), None)
        # the style's first choice, or the last fallback once the system fonts have been scanned
        if found is not None and (found == st.fonts[0] or attempt or _SCANNED):
            return found
        if attempt or _SCANNED or len(st.fonts) < 2:
            break
        _SCANNED = True
        keys = [f.replace(" ", "").lower() for f in st.fonts]
        for path in font_manager.findSystemFonts():
            stem = Path(path).name.replace(" ", "").replace("-", "").lower()
            if any(stem.startswith(k) for k in keys):
                try:
                    font_manager.fontManager.addfont(path)
                except Exception:  # an unreadable font file is skipped, never fatal
                    continue
    return "DejaVu Sans"


def rc_params(style: "str | JournalStyle | None" = None) -> dict:
    st = get_style(style)
    return {
        "figure.dpi": 100,
        "savefig.dpi": st.png_dpi,
        "savefig.bbox": "tight",
        "savefig.pad_inches": 0.03,
        # concrete family names (not "sans-serif"): a text keeps its typeface when the figure is
        # drawn later outside this style (a notebook showing it, a save without the style)
        "font.family": list(dict.fromkeys([resolve_font(st), "DejaVu Sans"])),
        "font.size": st.font_size,
        "axes.titlesize": st.title_size,
        "axes.labelsize": st.font_size,
        "legend.fontsize": st.small_size,
        "legend.title_fontsize": st.small_size,
        "legend.frameon": False,
        "xtick.labelsize": st.small_size,
        "ytick.labelsize": st.small_size,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.linewidth": st.axes_width,
        "xtick.major.width": st.axes_width,
        "ytick.major.width": st.axes_width,
        "lines.linewidth": st.line_width,
        "mathtext.default": "regular",
        "pdf.fonttype": 42,  # editable text in PDF (journals ask for it)
        "ps.fonttype": 42,
        "svg.fonttype": "none",
    }


#: the default style's rcParams (kept for code that reads them directly)
JOURNAL_RC = rc_params("default")


@contextlib.contextmanager
def journal_style(style: "str | JournalStyle | None" = None) -> Iterator[JournalStyle]:
    """Context manager applying a journal's rcParams and the colour-blind-safe cycle; yields the
    :class:`JournalStyle`."""
    from cycler import cycler

    st = get_style(style)
    with matplotlib.rc_context({**rc_params(st), "axes.prop_cycle": cycler(color=PALETTE)}):
        yield st


def _save_tiff(fig, path: Path, dpi: int, **kwargs) -> None:
    """RGB TIFF, LZW-compressed, with its resolution in the header (journals' submission format)."""
    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, pil_kwargs={"compress_level": 1}, **kwargs)  # an intermediate: fast zlib
    buf.seek(0)
    with Image.open(buf) as im:
        rgb = im.convert("RGBA")
        flat = Image.new("RGB", rgb.size, (255, 255, 255))
        flat.paste(rgb, mask=rgb.split()[3])
        flat.save(path, format="TIFF", compression="tiff_lzw", dpi=(dpi, dpi))


def save_figure(fig, stem: str | Path, formats: Iterable[str] = FIGURE_FORMATS,
                style: "str | JournalStyle | None" = None) -> list[Path]:
    """Save ``fig`` as ``stem.png`` (300 dpi), ``stem.pdf``, ``stem.svg`` and ``stem.tiff``
    (600 dpi, LZW); return the paths in the order of ``formats``.

    The figure is laid out once, by the first format written (its layout engine, and its tight
    bounding box under ``savefig.bbox: tight``), and the other formats reuse that layout: every
    file shows the same layout, and each format draws the figure once instead of twice. PDF fonts
    are embedded as subsets of their glyphs without the OpenType layout tables (GSUB, GPOS, GDEF:
    substitution and positioning rules that PDF viewers never apply, as a PDF places its text glyph
    by glyph), which halves the cost of a PDF; the text stays editable (``pdf.fonttype`` 42)."""
    st = get_style(style)
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    formats = tuple(formats)
    bad = [f for f in formats if f not in ("png", "pdf", "svg", "tiff", "tif", "eps")]
    if bad:
        raise InputError(f"unknown figure format(s) {bad}; use png, pdf, svg, tiff or eps")
    paths = []
    layout = _LayoutOnce(fig)
    try:
        with _lean_pdf_fonts():
            for ext in formats:
                path = stem.with_suffix(f".{ext}")
                tmp = path.with_name(f".{path.name}.tmp")
                if ext in ("tiff", "tif"):
                    _save_tiff(fig, tmp, st.tiff_dpi, **layout.kwargs)
                else:
                    fig.savefig(tmp, format=ext, dpi=st.png_dpi if ext == "png" else None, **layout.kwargs)
                tmp.replace(path)  # a reader never sees half a figure
                paths.append(path)
                layout.laid_out()
    finally:
        layout.restore()
    return paths


class _LayoutOnce:
    """The layout of a figure's first save, kept for its other formats.

    ``savefig`` lays a figure out on every call (a draw without rendering for the layout engine
    and the tight bounding box, then the draw that writes the file). The first save records the
    tight box it computes; ``kwargs`` then pass that box (padded as ``savefig.pad_inches`` pads
    it), and the layout engine is set aside, so the later saves only draw. :meth:`restore` gives
    the figure its layout engine back."""

    def __init__(self, fig):
        from matplotlib import rcParams

        self.fig = fig
        self.engine = fig.get_layout_engine()
        self.pad = rcParams["savefig.pad_inches"]
        self.kwargs: dict = {}
        self.boxes: list = []
        self.tight = (rcParams["savefig.bbox"] == "tight" and isinstance(self.pad, (int, float))
                      and "get_tightbbox" not in vars(fig))
        self.done = False
        if self.tight:
            fig.get_tightbbox = self._record  # print_figure asks the figure for its tight box: keep the answer

    def _record(self, *args, **kwargs):
        box = type(self.fig).get_tightbbox(self.fig, *args, **kwargs)
        self.boxes.append(box)
        return box

    def laid_out(self) -> None:
        """Called after each save: after the first, keep its layout."""
        if self.done:
            return
        self.done = True
        if self.tight:
            vars(self.fig).pop("get_tightbbox", None)
            if not self.boxes:  # the save did not compute a tight box: later saves lay out again
                return
            self.kwargs = {"bbox_inches": self.boxes[-1].padded(self.pad)}
        if self.engine is not None:
            self.fig.set_layout_engine(None)

    def restore(self) -> None:
        vars(self.fig).pop("get_tightbbox", None)
        if self.fig.get_layout_engine() is not self.engine:
            self.fig.set_layout_engine(self.engine)


_LEAN_LOCK = threading.Lock()
_LEAN_USERS = 0


def _lean_options(*args, **kwargs):
    from fontTools import subset

    options = subset.Options(*args, **kwargs)
    options.drop_tables += ["GSUB", "GPOS", "GDEF", "BASE", "JSTF", "MATH"]
    return options


@contextlib.contextmanager
def _lean_pdf_fonts() -> Iterator[None]:
    """While saving, matplotlib's PDF font subsets leave out the OpenType layout tables.

    matplotlib (``_backend_pdf_ps.get_glyphs_subset``) subsets each embedded TrueType font with
    fontTools, which also subsets GSUB/GPOS/GDEF (most of the cost of a PDF figure); a PDF viewer
    uses only the glyph outlines, metrics and character maps. Where matplotlib's internals differ
    from what this expects, nothing is changed."""
    global _LEAN_USERS
    try:
        from fontTools import subset
        from matplotlib.backends import _backend_pdf_ps as pdfps
    except ImportError:  # pragma: no cover - both come with matplotlib
        yield
        return
    if getattr(pdfps, "subset", None) is not subset and not isinstance(getattr(pdfps, "subset", None), _LeanSubset):
        yield
        return
    with _LEAN_LOCK:
        _LEAN_USERS += 1
        if _LEAN_USERS == 1:
            pdfps.subset = _LeanSubset(subset)
    try:
        yield
    finally:
        with _LEAN_LOCK:
            _LEAN_USERS -= 1
            if _LEAN_USERS == 0:
                pdfps.subset = subset


class _LeanSubset:
    """fontTools.subset as matplotlib's PDF backend sees it, with :func:`_lean_options`."""

    def __init__(self, module):
        self._module = module

    def __getattr__(self, name):
        return _lean_options if name == "Options" else getattr(self._module, name)


# ---------------------------------------------------------------------------------- background saving
#: the saver of the innermost :func:`background_saving` block of this thread / context (None outside)
_SAVER: contextvars.ContextVar = contextvars.ContextVar("her2stats_figure_saver", default=None)

#: at most this many helper processes write the figures of a :func:`background_saving` block
MAX_SAVER_HELPERS = 4


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def saver_helper_count() -> int:
    """How many helper processes :func:`background_saving` may use: one per usable core, at most
    :data:`MAX_SAVER_HELPERS` (1 on a one-core machine, where figures are saved in process)."""
    return max(1, min(usable_cpus(), MAX_SAVER_HELPERS))


def _save_job(job: Path) -> None:
    """Helper side of :class:`FigureSaver`: unpickle one figure and save it as :func:`figures.save` does."""
    import pickle

    import matplotlib.pyplot as plt

    blob, stem, formats, style = pickle.loads(job.read_bytes())
    fig = pickle.loads(blob)
    try:
        with journal_style(style):
            save_figure(fig, stem, formats=formats, style=style)
    finally:
        plt.close(fig)
        job.unlink(missing_ok=True)


def _job_file(folder: str | Path, seq: int) -> Path:
    """Where :class:`FigureSaver` puts figure number ``seq`` for its helpers (the pickled figure)."""
    return Path(folder) / f"{seq:05d}.pkl"


#: bytes of one job record on the helpers' shared job pipe (a figure's number, padded): every
#: record is written at once (atomically, being under PIPE_BUF) and read whole by one helper
_RECORD = 16


def _saver_main() -> None:
    """A helper process of :class:`FigureSaver`. Its stdin is the job pipe every helper of the saver
    shares: each takes the next figure number (a :data:`_RECORD`-byte record) when it is free and
    saves the figure pickled in ``<job folder>/<number>.pkl`` (the folder is ``sys.argv[1]``). It
    answers on its own protocol channel, one line per figure (``ok N``, or ``error N <hex of the
    pickled exception>``), after a first ``ready`` line, and ends when the pipe is closed and empty."""
    import pickle
    import signal
    import sys

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the caller decides
    folder = Path(sys.argv[1])
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything printed while saving goes to stderr, never into the answers
    matplotlib.use("Agg", force=True)
    from matplotlib import pyplot  # noqa: F401  (an unpickled figure may ask pyplot for a manager)
    # (the modules a pickled figure references, e.g. her2stats.reporting.figures' formatters, are
    # imported by pickle itself; importing figures here would make style and figures import each other)

    proto.write("ready\n")
    while True:
        record = os.read(0, _RECORD)  # the pipe holds whole records only: a read takes one
        if len(record) < _RECORD:
            break
        seq = int(record)
        try:
            _save_job(_job_file(folder, seq))
            proto.write(f"ok {seq}\n")
        except BaseException as exc:  # noqa: BLE001 - every failure goes back to the caller
            try:
                payload = pickle.dumps(exc)
                pickle.loads(payload)
            except Exception:
                payload = pickle.dumps(RuntimeError(f"{type(exc).__name__}: {exc}"))
            proto.write(f"error {seq} {payload.hex()}\n")
    proto.close()
    sys.stderr.flush()
    os._exit(0)  # every answer is out: skip the interpreter's teardown (about 1 s with matplotlib and pandas)


@dataclass
class _SaveJob:
    """One figure handed to the helpers: its number and the files it writes."""

    seq: int
    stem: Path
    formats: tuple[str, ...]


class _SaverHelper:
    """One helper process of a :class:`FigureSaver`; its answers are read without blocking
    (:meth:`read`) whenever the saver looks at its backlog, and to the end by :meth:`FigureSaver.wait`."""

    def __init__(self, cmd: list[str], env: dict, jobs_fd: int):
        import subprocess

        self.proc = subprocess.Popen(cmd, stdin=jobs_fd, stdout=subprocess.PIPE, env=env)
        os.set_blocking(self.proc.stdout.fileno(), False)
        self.eof = False
        self._buf = b""

    def alive(self) -> bool:
        return not self.eof and self.proc.poll() is None

    def read(self) -> list[tuple[int, BaseException | None]]:
        """The answers that have arrived (never blocks): each figure number with its error or None."""
        import pickle

        while not self.eof:
            try:
                chunk = os.read(self.proc.stdout.fileno(), 1 << 16)
            except BlockingIOError:
                break
            except (OSError, ValueError):
                chunk = b""
            if not chunk:
                self.eof = True
                break
            self._buf += chunk
        *lines, self._buf = self._buf.split(b"\n")
        out: list[tuple[int, BaseException | None]] = []
        for line in lines:
            kind, _, rest = line.decode("ascii", "replace").strip().partition(" ")
            seq, _, payload = rest.partition(" ")
            if kind not in ("ok", "error") or not seq.isdigit():
                continue  # "ready" (imports done)
            exc = None
            if kind == "error":
                try:
                    exc = pickle.loads(bytes.fromhex(payload))
                except Exception as bad:  # noqa: BLE001 - an answer that cannot be read is an error too
                    exc = RuntimeError(f"unreadable answer of the figure-saving helper process: {bad}")
            out.append((int(seq), exc))
        return out


class FigureSaver:
    """Figures written by helper processes while the caller goes on (see :func:`background_saving`).

    :meth:`submit` pickles the figure at once (later changes to it do not reach the files) and
    returns the paths its files will have; :meth:`wait` returns when every file is written and
    raises the first error a save met (that of the first figure submitted among those that
    failed), or, when a helper process ended while it held a figure (or every helper ended before
    the last figures), an error that counts and names the unwritten figures. A figure that cannot
    be pickled is not taken (``submit`` returns None) and its caller saves it in process.

    Up to ``helpers`` processes (default :func:`saver_helper_count`: one per usable core, at most
    4) share one queue of figures (a pipe): each takes the next figure when it is free, so the
    figures of a burst drain on every core however unequal their costs. ``start`` of them
    (default 1) start at once, so that their imports overlap the caller's work; each further one
    starts when the figures not yet written are twice as many as the helpers running (every
    helper has one waiting behind the one it writes), so that a run whose figures come slowly
    never pays for helpers it does not need. A helper is a plain ``python`` process (not
    multiprocessing: a script that runs a study at top level, without a ``__main__`` guard, is
    not run again in it)."""

    def __init__(self, helpers: int | None = None, start: int = 1):
        import sys
        import tempfile

        import her2stats

        self.max_helpers = max(1, int(helpers) if helpers is not None else saver_helper_count())
        env = dict(os.environ)
        if "LD_LIBRARY_PATH" in env and "/R/" in env["LD_LIBRARY_PATH"]:
            env.pop("LD_LIBRARY_PATH")  # embedded R's library path breaks children's ssl
        root = str(Path(her2stats.__file__).resolve().parents[1])  # the helpers import this same copy
        env["PYTHONPATH"] = os.pathsep.join([root] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        self._env = env
        self._dir = tempfile.TemporaryDirectory(prefix="h2s-figures-")
        self._cmd = [sys.executable, "-c", "from her2stats.reporting.style import _saver_main; _saver_main()",
                     self._dir.name]
        self._read_fd, self._write_fd = os.pipe()  # the shared job queue (this process keeps the read
        # end while it may start helpers, so a write never fails for want of a reader)
        self._helpers: list[_SaverHelper] = []
        self._jobs: dict[int, _SaveJob] = {}  # submitted, not answered yet
        self._errors: list[tuple[int, BaseException]] = []
        #: the helper (index in start order) that answered each figure, by figure number (1, 2, ...)
        self.written_by: dict[int, int] = {}
        self._n = 0
        self._closed = False
        try:
            for _ in range(min(max(1, start), self.max_helpers)):
                self._start_helper()
        except BaseException:
            self.close(wait=False)
            raise

    @property
    def helpers(self) -> int:
        """How many helper processes have been started."""
        return len(self._helpers)

    @property
    def pids(self) -> list[int]:
        return [h.proc.pid for h in self._helpers]

    def _start_helper(self) -> _SaverHelper:
        helper = _SaverHelper(self._cmd, self._env, self._read_fd)
        self._helpers.append(helper)
        return helper

    def _collect(self, helper: _SaverHelper) -> None:
        index = self._helpers.index(helper)
        for seq, exc in helper.read():
            self._jobs.pop(seq, None)
            self.written_by[seq] = index
            if exc is not None:
                self._errors.append((seq, exc))

    def submit(self, fig, stem: str | Path, formats: Iterable[str], style: "str | JournalStyle | None" = None
               ) -> list[Path] | None:
        import pickle

        st = get_style(style)
        stem = Path(stem)
        formats = tuple(formats)
        bad = [f for f in formats if f not in ("png", "pdf", "svg", "tiff", "tif", "eps")]
        if bad:
            raise InputError(f"unknown figure format(s) {bad}; use png, pdf, svg, tiff or eps")
        if self._closed:
            return None
        for helper in self._helpers:
            self._collect(helper)
        live = [h for h in self._helpers if h.alive()]
        if len(self._helpers) < self.max_helpers and len(self._jobs) >= 2 * len(live):
            try:
                live.append(self._start_helper())  # a backlog (or no helper left): one more
            except OSError:
                pass
        if not live:
            return None
        try:
            blob = pickle.dumps(fig, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:
            try:
                import cloudpickle  # functions defined in a figure function (tick formatters) travel by value

                blob = cloudpickle.dumps(fig, protocol=pickle.HIGHEST_PROTOCOL)
            except Exception:
                return None
        stem.parent.mkdir(parents=True, exist_ok=True)
        self._n += 1
        job = _SaveJob(self._n, stem.resolve(), formats)
        path = _job_file(self._dir.name, job.seq)
        path.write_bytes(pickle.dumps((blob, str(job.stem), formats, st), protocol=pickle.HIGHEST_PROTOCOL))
        self._jobs[job.seq] = job
        os.write(self._write_fd, b"%*d" % (_RECORD, job.seq))
        return [stem.with_suffix(f".{ext}") for ext in formats]

    def _end_input(self) -> None:
        """No more figures: each helper ends once the queue is empty."""
        self._closed = True
        for name in ("_write_fd", "_read_fd"):
            fd = getattr(self, name)
            if fd is not None:
                setattr(self, name, None)
                os.close(fd)

    def _drain(self, timeout: float | None = None) -> bool:
        """Read every helper's answers until each has ended its output; False on timeout."""
        import selectors
        import time

        deadline = None if timeout is None else time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            for helper in self._helpers:
                if not helper.eof:
                    sel.register(helper.proc.stdout, selectors.EVENT_READ, helper)
            while sel.get_map():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                for key, _ in sel.select(left):
                    self._collect(key.data)
                    if key.data.eof:
                        sel.unregister(key.fileobj)
        return True

    def wait(self) -> None:
        """Block until every submitted figure is written (the helpers then end); raise the first
        error a save met, or a RuntimeError counting and naming the figures left unwritten by
        helpers that ended early."""
        self._end_input()
        self._drain()
        for helper in self._helpers:
            helper.proc.wait()
        if self._errors:
            raise min(self._errors, key=lambda e: e[0])[1]
        if self._jobs:
            codes = [h.proc.returncode for h in self._helpers if h.proc.returncode]
            who = ("the figure-saving helper process ended" if len(self._helpers) == 1 or len(codes) == 1
                   else "the figure-saving helper processes ended")
            if codes:
                who += f" (exit code{'s' if len(codes) > 1 else ''} {', '.join(map(str, codes))})"
            names = ", ".join(job.stem.name for _, job in sorted(self._jobs.items()))
            raise RuntimeError(f"{who} with {len(self._jobs)} of {self._n} figure(s) unwritten: {names}")

    def close(self, wait: bool = True) -> None:
        """End the helpers: with ``wait``, they first write the figures they were given (60 s at
        most), otherwise (an interrupted run) they are stopped at once; none is left running."""
        try:
            self._end_input()
            if wait:
                self._drain(timeout=60)
        finally:
            for helper in self._helpers:
                if helper.proc.poll() is None:
                    helper.proc.kill()
                helper.proc.wait()
                self._collect(helper)  # answers written before it ended
                try:
                    helper.proc.stdout.close()
                except OSError:
                    pass
            for job in self._jobs.values():  # stopped while writing: no half-written temporary file stays
                for ext in job.formats:
                    job.stem.with_name(f".{job.stem.name}.{ext}.tmp").unlink(missing_ok=True)
            self._dir.cleanup()


@contextlib.contextmanager
def background_saving(enabled: bool = True) -> Iterator["FigureSaver | None"]:
    """Within the block, :func:`her2stats.reporting.figures.save` hands each figure to helper
    processes and returns at once; the block ends when every file is written (the first error a
    save met is raised there). On a machine with one usable core, with ``enabled=False``, or inside
    another such block, figures are saved in process as before.

    A study (:func:`her2stats.reporting.study.run_study`) goes on computing while the helpers
    draw and write the PNG, PDF and SVG files of the figures it built (each travels as a pickle
    of the figure, taken when it is handed over); the files are those an in-process save writes.
    One helper starts at once; more (one per usable core, at most 4: :class:`FigureSaver`) start
    when figures come faster than it writes them. An error in the block lets the helpers finish
    the figures they were given; an interruption (KeyboardInterrupt) stops them at once."""
    if not enabled or saver_helper_count() < 2 or _SAVER.get() is not None:
        yield None
        return
    saver = FigureSaver()
    token = _SAVER.set(saver)
    finish = True
    try:
        yield saver
        saver.wait()
    except BaseException as exc:
        finish = isinstance(exc, Exception)
        raise
    finally:
        _SAVER.reset(token)
        saver.close(wait=finish)


def background_saver() -> "FigureSaver | None":
    """The :class:`FigureSaver` of the enclosing :func:`background_saving` block, or None."""
    return _SAVER.get()
