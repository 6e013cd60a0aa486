"""Render a Quarto study report to HTML, Word and PDF.

Two paths, same ``.qmd``:

* ``quarto`` on PATH: ``quarto render report.qmd --to <format> -P config:<path>`` per format.
* otherwise (and always in tests): the ``.qmd`` is read as a notebook (its ```` ```{python} ````
  chunks with ``#|`` options), the ``parameters`` cell is followed by an injected cell with the
  parameter values (as Quarto and papermill do), the notebook is executed once with nbclient in a
  fresh kernel, and its outputs become one pandoc Markdown document from which every format is
  written:

  ========  =====================================================================================
  format    how
  ========  =====================================================================================
  ``html``  pandoc, self-contained (figures embedded), great-tables tables, screen + print CSS
  ``docx``  pandoc with a reference document (``reports/reference.docx``: A4, journal styles);
            tables as native Word tables (three-line layout, a landscape section for wide ones),
            figures as images with captions at their column width
  ``pdf``   headless Chromium prints the HTML (A4; wide tables on landscape pages); no TeX needed.
            It prints a copy that links the figure files instead of embedding them (the same
            PDF), written in a fraction of the time, while the other formats are written
  ========  =====================================================================================

  The Markdown links figure files (and the HTML its CSS) relative to the report's folder and
  percent-encoded (:func:`link_target`), so any folder or file name (spaces, ``#``, parentheses,
  ``%``, ``?``, accents) renders, and the links survive the move of the staging folder.

Tables and figures reach the renderer through the template's :func:`show_table` and
:func:`show_figure`, which display a table / figure description next to the HTML / PNG a notebook
viewer shows. They carry a label (``tbl-performance``, ``fig-roc``); the renderer numbers them in
order of appearance (``Table 3``, ``Figure 2``; labels ``tbl-s-...`` / ``fig-s-...`` are
supplementary: ``Table S1``) and replaces every ``@tbl-...`` / ``@fig-...`` of the text with a link
to that table or figure (the cross-references Quarto would make), in every format.

Chunk options honoured on the fallback path: ``echo`` (default from the YAML ``execute.echo``),
``output: false``, ``include: false``.
"""
from __future__ import annotations

import base64
import importlib
import os
import re
import shutil
import subprocess
import tempfile
import threading
import urllib.parse
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import yaml

from ..errors import ConfigError, find_stack_level

__all__ = ["RenderedReport", "render_report", "execute_qmd", "execute_notebook", "notebook_to_markdown", "show_table",
           "show_figure", "build_reference_docx", "FORMATS", "TABLE_MIME", "FIGURE_MIME", "parse_formats", "html_to_pdf",
           "ReportKernel", "start_report_kernel", "preload_render_modules", "RENDER_MODULES", "link_target"]

_CHUNK = re.compile(r"^```\{python([^}]*)\}\s*$")
_REF = re.compile(r"@((?:tbl|fig)-[A-Za-z0-9_\-]*[A-Za-z0-9_])")
FORMATS = ("html", "docx", "pdf")
TABLE_MIME = "application/vnd.her2stats.table+json"
FIGURE_MIME = "application/vnd.her2stats.figure+json"


@dataclass(frozen=True)
class RenderedReport:
    html: Path | None
    engine: str  # "quarto" or "nbclient+pandoc"
    notebook: Path | None = None
    #: format -> written file
    outputs: dict = field(default_factory=dict)
    #: seconds spent per step ("execute", "html", "docx", "pdf")
    timings: dict = field(default_factory=dict)


def parse_formats(formats: str | Iterable[str] | None) -> tuple[str, ...]:
    """``"html,docx,pdf"`` or a list -> a tuple of known formats (unknown ones are refused)."""
    if formats is None:
        return ("html",)
    items = formats.split(",") if isinstance(formats, str) else list(formats)
    out = []
    for f in items:
        f = str(f).strip().lower()
        if not f:
            continue
        if f not in FORMATS:
            raise ConfigError(f"unknown report format {f!r}; use one or more of {', '.join(FORMATS)} "
                              f"(e.g. --format html,docx,pdf)")
        if f not in out:
            out.append(f)
    if not out:
        raise ConfigError(f"no report format given; use one or more of {', '.join(FORMATS)}")
    return tuple(out)


# ---------------------------------------------------------------------------------- template side
def show_table(table: Any, label: str | None = None) -> None:
    """Display a :class:`~her2stats.reporting.tables.PublicationTable` in the report: HTML for a
    notebook viewer, plus its description for the renderer (native table in each format)."""
    from IPython.display import display

    _check_label(label, "tbl")
    display({"text/html": table.to_html(), "text/plain": repr(table),
             TABLE_MIME: {"table": table.to_dict(), "label": label}}, raw=True)


def show_figure(path: str | Path, caption: str = "", label: str | None = None, width: Any = "single",
                style: str | None = None) -> None:
    """Display a saved figure (its PNG) with a caption; ``width`` is the column width it is
    printed at in Word and PDF (``"single"``, ``"double"`` or millimetres of ``style``)."""
    from IPython.display import display

    _check_label(label, "fig")
    path = Path(path)
    data = base64.b64encode(path.read_bytes()).decode()
    display({"image/png": data, "text/plain": caption or path.name,
             FIGURE_MIME: {"path": str(path.resolve()), "caption": caption, "label": label, "width": width,
                           "style": style}}, raw=True)


def _check_label(label: str | None, kind: str) -> None:
    if label is not None and not re.fullmatch(rf"{kind}-[A-Za-z0-9_\-]*[A-Za-z0-9_]", label):
        raise ConfigError(f"report label {label!r} must look like '{kind}-name' (letters, digits, - and _)")


# ---------------------------------------------------------------------------------- parse / execute
def _split_front_matter(text: str) -> tuple[dict, str]:
    if text.startswith("---"):
        end = text.find("\n---", 3)
        if end > 0:
            meta = yaml.safe_load(text[3:end]) or {}
            return meta, text[end + 4:].lstrip("\n")
    return {}, text


def _parse_qmd(text: str) -> tuple[dict, list[dict]]:
    """Split a .qmd into YAML metadata and a list of cells {type, source, options}."""
    meta, body = _split_front_matter(text)
    cells: list[dict] = []
    md: list[str] = []
    lines = body.splitlines()
    i = 0
    while i < len(lines):
        m = _CHUNK.match(lines[i])
        if m:
            if "".join(md).strip():
                cells.append({"type": "markdown", "source": "\n".join(md).strip("\n"), "options": {}})
            md = []
            j = i + 1
            code: list[str] = []
            while j < len(lines) and lines[j].strip() != "```":
                code.append(lines[j])
                j += 1
            if j == len(lines):
                raise ConfigError(f"unterminated ```{{python}} chunk starting at line {i + 1} of the report")
            opts: dict[str, Any] = {}
            src: list[str] = []
            for line in code:
                if line.startswith("#|"):
                    opts.update(yaml.safe_load(line[2:].strip()) or {})
                else:
                    src.append(line)
            cells.append({"type": "code", "source": "\n".join(src).strip("\n"), "options": opts})
            i = j + 1
            continue
        md.append(lines[i])
        i += 1
    if "".join(md).strip():
        cells.append({"type": "markdown", "source": "\n".join(md).strip("\n"), "options": {}})
    return meta, cells


def _kernel_env() -> dict[str, str]:
    env = dict(os.environ)
    # Children must never inherit the LD_LIBRARY_PATH that embedded R sets (ssl breaks).
    if "LD_LIBRARY_PATH" in env and "/R/" in env["LD_LIBRARY_PATH"]:
        env.pop("LD_LIBRARY_PATH")
    return env


def execute_qmd(qmd: Path, params: Mapping[str, Any], workdir: Path, timeout: int = 1800,
                kernel: Any = None, wait_shutdown: bool = True) -> tuple[dict, list[dict], Any]:
    """Execute the .qmd's Python chunks in a fresh kernel; return (meta, cells, executed notebook).
    ``wait_shutdown``: as for :func:`execute_notebook`."""
    import nbformat  # (a thread of preload_render_modules importing it: this waits for that)

    meta, cells = _parse_qmd(qmd.read_text(encoding="utf-8"))
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    injected = False
    for cell in cells:
        if cell["type"] == "markdown":
            nb.cells.append(nbformat.v4.new_markdown_cell(cell["source"]))
            continue
        c = nbformat.v4.new_code_cell(cell["source"])
        c.metadata["h2s_options"] = cell["options"]
        nb.cells.append(c)
        if "parameters" in (cell["options"].get("tags") or []):
            assigns = "\n".join(f"{k} = {v!r}" for k, v in params.items())
            p = nbformat.v4.new_code_cell(f"# injected parameters\n{assigns}")
            p.metadata["h2s_options"] = {"echo": False, "output": False}
            nb.cells.append(p)
            injected = True
    if params and not injected:
        raise ConfigError(f"{qmd} has no cell tagged `parameters` (#| tags: [parameters]) to receive {sorted(params)}")
    execute_notebook(nb, workdir, timeout=timeout, kernel=kernel, wait_shutdown=wait_shutdown)
    return meta, cells, nb


#: what a report kernel started ahead (:class:`ReportKernel`) does while the study ends: the
#: imports of the report's cells (``reports/her2_study.qmd``: IPython's display, her2stats' report
#: modules, great_tables through show_table), the modules whose classes loading
#: study_results.pkl brings in (the result types of her2stats.stats and the zoo's fitted
#: scikit-learn models) and rpy2's start of R, nothing the notebook's own cells would not do
KERNEL_WARM_UP = """\
def _h2s_warm_up():  # in a function: the notebook's namespace stays as a fresh kernel's
    import warnings
    import matplotlib
    from IPython.display import Markdown, display
    import her2stats.data.labels, her2stats.files, her2stats.reporting.builders, her2stats.reporting.format
    import her2stats.reporting.render, her2stats.reporting.study, her2stats.reporting.tables
    import her2stats.reporting.pipeline_section, her2stats.reporting.sections_centre, her2stats.reporting.tripod
    import her2stats.models.explain, her2stats.models.zoo
    import her2stats.stats.calibration, her2stats.stats.concordance, her2stats.stats.cox, her2stats.stats.dca
    import her2stats.stats.diagnostics, her2stats.stats.km, her2stats.stats.logistic, her2stats.stats.mrmc
    import her2stats.stats.multicentre, her2stats.stats.pipeline_validation, her2stats.stats.roc, her2stats.stats.tables
    import sklearn.calibration, sklearn.ensemble, sklearn.linear_model, sklearn.preprocessing, sklearn.svm, sklearn.tree
    import great_tables
    try:
        import rpy2.robjects
    except Exception:
        pass


try:
    _h2s_warm_up()
finally:
    del _h2s_warm_up
"""


class ReportKernel:
    """A report kernel started ahead of :func:`render_report`, in the folder the report is
    rendered in (``workdir``): it starts and runs :data:`KERNEL_WARM_UP` (silently, out of the
    notebook's history) while the caller finishes the study, so rendering runs only the cells.
    Started as :func:`execute_notebook` starts its own (IPC sockets in a private folder, the
    environment less R's ``LD_LIBRARY_PATH``); pass it as ``kernel=`` to :func:`render_report`,
    which closes it. ``close()`` shuts it down (also when it was never used)."""

    def __init__(self, workdir: str | Path, kernel_name: str = "python3", warm_up: str = KERNEL_WARM_UP):
        from jupyter_client import BlockingKernelClient
        from jupyter_client.manager import AsyncKernelManager
        from jupyter_core.utils import run_sync

        self.workdir = Path(workdir)
        self._closed = False
        self._runtime = tempfile.TemporaryDirectory(prefix="h2s-kernel-")
        self.km = AsyncKernelManager(kernel_name=kernel_name, transport="ipc",
                                     connection_file=os.path.join(self._runtime.name, "kernel.json"))
        run_sync(self.km.start_kernel)(cwd=str(self.workdir), env=_kernel_env())
        # the request waits in the socket until the kernel listens; the notebook's requests queue behind it
        self._warm = BlockingKernelClient()
        self._warm.load_connection_info(self.km.get_connection_info())
        self._warm.start_channels()
        self._warm.execute(warm_up, silent=True, store_history=False)
        self._closing: threading.Thread | None = None
        preload_render_modules()

    def close(self, wait: bool = True) -> None:
        """Shut the kernel down (politely: it ends as a kernel does, R's temporary folder removed).
        ``wait=False`` shuts it down in a background thread (it takes about a second once the
        kernel has R) and returns; a later ``close()`` waits for that."""
        if not self._closed:
            self._closed = True
            self._closing = threading.Thread(target=self._shutdown, name="h2s-kernel-shutdown")
            self._closing.start()
        if wait and self._closing is not None:
            self._closing.join()

    def _shutdown(self) -> None:
        import asyncio

        async def shutdown() -> None:
            if await self.km.is_alive():
                await self.km.shutdown_kernel()

        try:
            self._warm.stop_channels()
            asyncio.run(shutdown())  # its own event loop, closed after (this runs in a thread of its own)
        finally:
            self._runtime.cleanup()


#: what :func:`preload_render_modules` imports: the notebook format and client (``import nbformat``
#: imports jsonschema, which imports rfc3987_syntax, which builds Lark grammars: 1-3 s) and
#: great_tables (the report's tables)
RENDER_MODULES = ("nbformat", "nbclient", "great_tables")
_preload_lock = threading.Lock()
_preload: threading.Thread | None = None


def _import_render_modules() -> None:
    for name in RENDER_MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - rendering imports it again and reports the problem there
            pass


def preload_render_modules() -> threading.Thread:
    """Import :data:`RENDER_MODULES` in a background thread (once per process) and return it.

    :class:`ReportKernel` starts it as the study draws its figures, which takes these imports off
    the path from the study's end to the report. Imports in a thread are safe (the import system
    locks each module; a thread importing the same module waits for it). The thread holds the
    GIL while it runs Python code, so at worst it delays the study's own Python work by what the
    imports cost, which is what they cost rendering after the study; the study's main thread
    waits (for its figure-saving helper, worker processes and R) during that stage, and the
    imports then run for free."""
    global _preload
    with _preload_lock:
        if _preload is None:
            _preload = threading.Thread(target=_import_render_modules, name="h2s-render-imports")
            _preload.start()
        return _preload


def start_report_kernel(workdir: str | Path) -> ReportKernel | None:
    """A :class:`ReportKernel` in ``workdir``, or None when it cannot be started here (the report
    then starts its kernel as usual, and says why if that fails too)."""
    try:
        return ReportKernel(workdir)
    except Exception:  # noqa: BLE001 - a kernel started later reports the problem itself
        return None


def execute_notebook(nb: Any, workdir: str | Path, timeout: int = 1800, kernel_name: str = "python3",
                     kernel: ReportKernel | None = None, wait_shutdown: bool = True) -> Any:
    """Execute ``nb`` in place in a fresh kernel started in ``workdir`` (or in ``kernel``, a
    :class:`ReportKernel` started ahead in ``workdir``, closed afterwards: ``wait_shutdown=False``
    returns while it shuts down, ``kernel.close()`` waits for that); return it.

    The kernel talks to us over local IPC sockets in a private temporary folder (not TCP on
    localhost: ipykernel warns that TCP without encryption is readable by other local users) and
    starts with the current environment less the ``LD_LIBRARY_PATH`` that embedded R sets.
    """
    from nbclient import NotebookClient
    from traitlets.config import Config

    if kernel is not None:
        if kernel.workdir.resolve() != Path(workdir).resolve():
            raise ValueError(f"the report kernel was started in {kernel.workdir}, not in {workdir}")
        client = NotebookClient(nb, timeout=timeout, km=kernel.km, resources={"metadata": {"path": str(workdir)}})
        try:
            client.execute()
        finally:
            if client.kc is not None:
                client.kc.stop_channels()
            kernel.close(wait=wait_shutdown)
        return nb

    with tempfile.TemporaryDirectory(prefix="h2s-kernel-") as runtime:
        config = Config()
        config.KernelManager.transport = "ipc"
        # the sockets are <connection file>-ipc-<n>: a short private path (Unix sockets allow ~100 bytes)
        config.KernelManager.connection_file = os.path.join(runtime, "kernel.json")
        client = NotebookClient(nb, timeout=timeout, kernel_name=kernel_name, config=config,
                                resources={"metadata": {"path": str(workdir)}})
        # nbclient starts the kernel with the current environment; give it a clean one (computed
        # before os.environ is cleared: computing it after gave the kernel an empty environment)
        old_env, env = dict(os.environ), _kernel_env()
        try:
            os.environ.clear()
            os.environ.update(env)
            client.execute()
        finally:
            os.environ.clear()
            os.environ.update(old_env)
    return nb


# ---------------------------------------------------------------------------------- notebook -> markdown
def _width_mm(width: Any, style: str | None) -> float:
    from .style import get_style

    st = get_style(style)
    if isinstance(width, (int, float)) and not isinstance(width, bool):
        return float(width)
    return {"single": st.single_mm, "double": st.double_mm,
            "onehalf": (st.single_mm + st.double_mm) / 2}.get(width, st.single_mm)


def link_target(path: str | Path, base: str | Path) -> str:
    """The Markdown link / image target of the file ``path`` for a document in the folder ``base``:
    relative to ``base`` (the path of the folder the user chose never enters the document) and
    percent-encoded (RFC 3986, UTF-8), so a space, ``#``, ``?``, ``%``, parentheses or a non-ASCII
    letter in a folder or file name is read as part of the path by pandoc (which decodes it to
    find the file for ``--embed-resources`` and Word) and by a browser (a relative URL), never
    as a fragment, a query, the end of the link or an escape.

    ``link_target("/data/My Study #2/figures/roc (a).png", "/data/My Study #2")``
    -> ``"figures/roc%20%28a%29.png"``."""
    path, base = Path(path), Path(base)
    try:
        rel = Path(os.path.relpath(path, base)).as_posix()
    except ValueError:  # on another drive (Windows): a file URL
        return path.resolve().as_uri()
    # (a first segment holding ":" would read as a URL scheme: quote encodes ":")
    return urllib.parse.quote(rel, safe="/")


def _md_escape(text: str) -> str:
    return re.sub(r"([\[\]*_`<>\\])", r"\\\1", text)


def _table_number(label: str | None, counts: dict) -> tuple[str, str]:
    """(label, number) of the next table: ``Table 3``, or ``Table S1`` for a ``tbl-s-`` label (own sequence)."""
    label = label or f"tbl-{counts['tab'] + 1}"
    if label.startswith("tbl-s-"):
        counts["stab"] += 1
        return label, f"S{counts['stab']}"
    counts["tab"] += 1
    return label, str(counts["tab"])


def _table_blocks(spec: Mapping, label: str, number: str) -> list[str]:
    """A table output's Markdown blocks: raw HTML, OpenXML and LaTeX, captioned ``Table <number>.``."""
    from .tables import PublicationTable, strip_number

    table = PublicationTable.from_dict(spec["table"])
    title = strip_number(table.title)
    caption = f"Table {number}. {title}" if title else f"Table {number}."
    wide = table.is_wide()
    html = table.with_title(caption).to_html()
    cls = "h2s-table wide" if wide else "h2s-table"
    return [f'```{{=html}}\n<div id="{label}" class="{cls}">\n{html}\n</div>\n```',
            "```{=openxml}\n" + table.to_openxml(caption=caption, bookmark=label, landscape=wide) + "\n```",
            "```{=latex}\n" + table.to_latex(label=label) + "\n```"]


def notebook_to_markdown(meta: dict, nb: Any, assets: Path, base: str | Path | None = None) -> str:
    """Executed notebook -> pandoc Markdown: tables as raw HTML + OpenXML + LaTeX blocks (each
    writer keeps its own), figures as captioned image files, ``@tbl-``/``@fig-`` references
    resolved to numbered links.

    ``base`` : the folder the Markdown is written to and pandoc runs in; figure files are linked
    relative to it (:func:`link_target`; ``None``: ``assets``' parent folder)."""
    assets.mkdir(parents=True, exist_ok=True)
    base = Path(assets).resolve().parent if base is None else Path(base)
    default_echo = bool(((meta.get("execute") or {}).get("echo", False)))
    parts: list[str] = []
    numbers: dict[str, str] = {}
    counts = {"tab": 0, "stab": 0}
    n_fig = n_sfig = raw_fig = 0
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            parts.append(cell.source)
            continue
        opts = cell.metadata.get("h2s_options", {})
        if opts.get("include") is False:
            continue
        if opts.get("echo", default_echo) and cell.source.strip():
            parts.append(f"```python\n{cell.source}\n```")
        if opts.get("output") is False:
            continue
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                if out.name == "stdout" and out.text.strip():
                    parts.append(f"```\n{out.text.rstrip()}\n```")
                continue
            if out.output_type == "error":
                raise RuntimeError(f"report cell failed: {out.ename}: {out.evalue}")
            data = out.get("data", {})
            if TABLE_MIME in data:
                spec = data[TABLE_MIME]
                label, number = _table_number(spec.get("label"), counts)
                numbers[label] = f"Table {number}"
                parts.extend(_table_blocks(spec, label, number))
            elif FIGURE_MIME in data:
                spec = data[FIGURE_MIME]
                label = spec.get("label") or f"fig-{n_fig + 1}"
                if label.startswith("fig-s-"):
                    n_sfig += 1
                    number = f"S{n_sfig}"
                else:
                    n_fig += 1
                    number = str(n_fig)
                numbers[label] = f"Figure {number}"
                mm = _width_mm(spec.get("width", "single"), spec.get("style"))
                kind = "double" if mm > 120 else "single"
                cap = spec.get("caption") or ""
                text = f"**Figure {number}.** {_md_escape(cap)}" if cap else f"**Figure {number}.**"
                parts.append(f"::: {{#{label} .h2s-figure}}\n![{text}]({link_target(spec['path'], base)})"
                             f"{{.{kind} width={mm:.0f}mm}}\n:::")
            elif "image/png" in data:
                raw_fig += 1
                path = assets / f"figure-{raw_fig:02d}.png"
                path.write_bytes(base64.b64decode(data["image/png"]))
                parts.append(f"![]({link_target(path, base)})")
            elif "text/html" in data:
                parts.append("```{=html}\n" + data["text/html"] + "\n```")
            elif "text/markdown" in data:
                parts.append(data["text/markdown"])
            elif "text/plain" in data and opts.get("echo", default_echo):
                parts.append(f"```\n{data['text/plain']}\n```")
    text = "\n\n".join(parts) + "\n"
    return _resolve_refs(text, numbers)


def _resolve_refs(text: str, numbers: Mapping[str, str]) -> str:
    """``@tbl-x`` -> ``[Table 3](#tbl-x)``; an unknown label is flagged in the text and warned."""
    unknown = set()

    def sub(m: re.Match) -> str:
        label = m.group(1)
        if label in numbers:
            return f"[{numbers[label]}](#{label})"
        unknown.add(label)
        return f"**??{label}**"

    # leave code (fenced blocks) alone
    chunks = re.split(r"(```.*?```)", text, flags=re.S)
    out = "".join(c if c.startswith("```") else _REF.sub(sub, c) for c in chunks)
    if unknown:
        warnings.warn(f"report cross-reference(s) to unknown label(s) {sorted(unknown)}: no table or figure "
                      f"carries them (shown as ??label)", UserWarning, stacklevel=find_stack_level())
    return out


# ---------------------------------------------------------------------------------- pandoc / chromium
def _pandoc_version() -> tuple[int, int]:
    if shutil.which("pandoc") is None:
        raise ConfigError("pandoc is not installed: apt-get install pandoc (make install does it)")
    out = subprocess.run(["pandoc", "--version"], capture_output=True, text=True, env=_kernel_env())
    m = re.search(r"pandoc(?:\.exe)? (\d+)\.(\d+)", out.stdout)
    return (int(m.group(1)), int(m.group(2))) if m else (2, 0)


def _pandoc_self_contained_flag() -> list[str]:
    return ["--embed-resources", "--standalone"] if _pandoc_version() >= (2, 19) else ["--self-contained"]


_CSS = """
body { font-family: "Liberation Sans", Arial, "DejaVu Sans", Helvetica, sans-serif; max-width: 1100px; margin: 2em auto;
       line-height: 1.45; color: #222; padding: 0 1em; }
h1 { font-size: 1.7em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
img { max-width: 100%; height: auto; } table { border-collapse: collapse; font-size: 0.9em; }
pre { background: #f6f6f6; padding: .6em; overflow-x: auto; }
.h2s-figure { margin: 1.2em 0; } .h2s-figure figure { margin: 0; }
.h2s-figure figcaption, .h2s-figure .caption { font-size: 0.9em; color: #333; max-width: 980px; }
.h2s-table { margin: 1.2em 0; }
@media screen {
  img.single { width: 560px !important; }
  img.double { width: 1000px !important; }
}
@page { size: A4; margin: 15mm 14mm 16mm 14mm; }
@page wide { size: A4 landscape; margin: 12mm 12mm; }
@media print {
  body { max-width: none; margin: 0; padding: 0; font-size: 9.5pt; line-height: 1.35; }
  h1 { font-size: 16pt; } h2 { font-size: 12.5pt; break-after: avoid; margin-top: 1.2em; }
  nav#TOC { margin-bottom: 1em; }
  .h2s-figure { break-inside: avoid; }
  .h2s-table.wide { page: wide; }
  .h2s-table > div { overflow: visible !important; padding-top: 0 !important; }
  .h2s-table .gt_table { font-size: 7.5pt !important; width: 100% !important; }
  .h2s-table.wide .gt_table { font-size: 7pt !important; }
  .h2s-table .gt_title { font-size: 9pt !important; font-weight: bold !important; }
  .h2s-table .gt_col_heading, .h2s-table .gt_row, .h2s-table .gt_group_heading {
    padding: 1.2pt 3pt !important; }
  .h2s-table .gt_sourcenote { font-size: 6.5pt !important; padding: 0.5pt 3pt !important; }
  .h2s-table tr { break-inside: avoid; }
  pre { white-space: pre-wrap; font-size: 8pt; }
  a { color: inherit; text-decoration: none; }
}
"""


def build_reference_docx(path: str | Path) -> Path:
    """Write the Word reference document pandoc styles the report with: pandoc's default styles
    on A4 with 1.5 cm margins (a 180 mm double-column figure fits at print size), Arial body text, table captions above tables
    (``TableCaption``, kept with the table), a ``TableNote`` style for footnotes, figure captions
    under figures (``ImageCaption``). ``reports/reference.docx`` is this file."""
    from docx import Document
    from docx.enum.style import WD_STYLE_TYPE
    from docx.shared import Pt, Twips

    from .tables import A4_H, A4_W, MARGIN

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "default.docx"
        res = subprocess.run(["pandoc", "-o", str(base), "--print-default-data-file", "reference.docx"],
                             capture_output=True, env=_kernel_env())
        if res.returncode != 0:
            raise ConfigError(f"pandoc could not write its default reference document: {res.stderr.decode()[:300]}")
        doc = Document(str(base))
    s = doc.sections[0]
    s.page_width, s.page_height = Twips(A4_W), Twips(A4_H)
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(s, side, Twips(MARGIN))
    styles = doc.styles

    by_name = {x.name: x for x in styles}

    def font(name: str, size: float | None = None, bold: bool | None = None, italic: bool | None = None) -> Any:
        st = by_name[name]
        st.font.name = "Arial"
        rpr = st.element.get_or_add_rPr()
        rfonts = rpr.find("{http://schemas.openxmlformats.org/wordprocessingml/2006/main}rFonts")
        if rfonts is not None:
            for attr in ("ascii", "hAnsi", "cs", "eastAsia"):
                rfonts.set(f"{{http://schemas.openxmlformats.org/wordprocessingml/2006/main}}{attr}", "Arial")
        if size is not None:
            st.font.size = Pt(size)
        if bold is not None:
            st.font.bold = bold
        if italic is not None:
            st.font.italic = italic
        return st

    font("Normal", 10.5)
    for name in ("Body Text", "First Paragraph", "Compact"):
        st = font(name)
        st.paragraph_format.line_spacing = 1.3
        st.paragraph_format.space_after = Pt(6)
    for name, size in (("Title", 18), ("Subtitle", 13), ("Heading 1", 15), ("Heading 2", 13), ("Heading 3", 11.5)):
        font(name, size, bold=True)
    cap = font("Table Caption", 10, italic=False)
    cap.paragraph_format.keep_with_next = True
    cap.paragraph_format.space_before = Pt(12)
    cap.paragraph_format.space_after = Pt(4)
    img = font("Image Caption", 9.5, italic=False)
    img.paragraph_format.space_after = Pt(12)
    if "Table Note" not in by_name:
        note = styles.add_style("Table Note", WD_STYLE_TYPE.PARAGRAPH)
        note.base_style = by_name["Normal"]
        by_name["Table Note"] = note
    note = font("Table Note", 8)
    note.paragraph_format.space_after = Pt(0)
    note.paragraph_format.line_spacing = 1.0
    doc.save(str(path))
    return path


def _reference_docx(qmd: Path, workdir: Path) -> Path:
    for cand in (qmd.parent / "reference.docx", Path(__file__).resolve().parents[2] / "reports" / "reference.docx"):
        if cand.is_file():
            return cand
    return build_reference_docx(workdir / "reference.docx")


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def html_to_pdf(html: str | Path, pdf: str | Path, timeout: int = 180) -> Path:
    """Print an HTML file to PDF with headless Chromium (A4; the page's print CSS applies)."""
    chromium = _chromium()
    if chromium is None:
        raise ConfigError("PDF output needs Chromium: apt-get install chromium (make install does it)")
    html, pdf = Path(html).resolve(), Path(pdf).resolve()
    tmp_pdf = pdf.with_name(f".{pdf.name}.tmp")
    profile = tempfile.mkdtemp(prefix="h2s-chromium-")
    try:
        cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--disable-extensions", "--disable-quic", f"--user-data-dir={profile}", "--no-pdf-header-footer",
               "--run-all-compositor-stages-before-draw", f"--print-to-pdf={tmp_pdf}", html.as_uri()]
        try:
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_kernel_env())
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"Chromium did not print {html.name} to PDF within {timeout} s") from None
    finally:
        # Chromium's profile (~200 files) is removed in the background (the interpreter waits for it at exit)
        threading.Thread(target=shutil.rmtree, args=(profile,), kwargs={"ignore_errors": True},
                         name="h2s-chromium-profile").start()
    if res.returncode != 0 or not tmp_pdf.is_file() or tmp_pdf.stat().st_size == 0:
        tmp_pdf.unlink(missing_ok=True)
        raise RuntimeError(f"Chromium failed to print {html.name} ({res.returncode}): {res.stderr.strip()[-400:]}")
    tmp_pdf.replace(pdf)
    return pdf


def _pandoc(md_path: Path, out: Path, to: str, meta: dict, extra: list[str]) -> None:
    tmp = out.with_name(f".{out.stem}.tmp{out.suffix}")
    cmd = ["pandoc", str(md_path), "-f", "markdown+raw_html+raw_attribute+fenced_divs+link_attributes", "-t", to,
           "-o", str(tmp), "--metadata", f"title={meta.get('title', 'her2stats report')}", *extra]
    for key in ("subtitle", "author", "date"):
        if meta.get(key):
            cmd += ["--metadata", f"{key}={meta[key]}"]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=out.parent, env=_kernel_env())
    if res.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"pandoc ({to}) failed ({res.returncode}): {res.stderr.strip()}")
    tmp.replace(out)


def render_report(qmd: str | Path, out_html: str | Path, params: Mapping[str, Any] | None = None,
                  use_quarto: bool | None = None, timeout: int = 1800,
                  formats: str | Iterable[str] | None = ("html",), kernel: ReportKernel | None = None) -> RenderedReport:
    """Render ``qmd`` next to ``out_html`` in each of ``formats`` (``html``, ``docx``, ``pdf``:
    ``report.html``, ``report.docx``, ``report.pdf``); Quarto when available (or
    ``use_quarto=True``), else the nbclient + pandoc path described in the module docstring.
    The notebook runs once whatever the number of formats. ``kernel`` : a :class:`ReportKernel`
    started ahead in ``out_html``'s folder (:func:`start_report_kernel`) for the nbclient path;
    it is closed here, used or not."""
    try:
        return _render_report(qmd, out_html, params, use_quarto, timeout, formats, kernel)
    finally:
        if kernel is not None:
            kernel.close()  # used or not (execute_notebook closed it already when it ran the notebook)


def _render_report(qmd: str | Path, out_html: str | Path, params: Mapping[str, Any] | None, use_quarto: bool | None,
                   timeout: int, formats: str | Iterable[str] | None, kernel: ReportKernel | None) -> RenderedReport:
    import time

    fmts = parse_formats(formats)
    qmd = Path(qmd).resolve()
    out_html = Path(out_html).resolve()
    out_html.parent.mkdir(parents=True, exist_ok=True)
    params = dict(params or {})
    if not qmd.is_file():
        raise ConfigError(f"report template not found: {qmd}")
    if "pdf" in fmts and _chromium() is None and not use_quarto:
        raise ConfigError("PDF output needs Chromium: apt-get install chromium (make install does it)")
    quarto = shutil.which("quarto")
    if use_quarto is None:
        use_quarto = quarto is not None
    outputs: dict[str, Path] = {}
    if use_quarto and kernel is not None:  # Quarto starts its own
        kernel.close()
        kernel = None
    if use_quarto:
        if quarto is None:
            raise ConfigError("use_quarto=True but `quarto` is not on PATH")
        work = out_html.parent / qmd.name
        if work != qmd:
            shutil.copy2(qmd, work)
        for fmt in fmts:
            target = out_html.with_suffix(f".{fmt}")
            cmd = [quarto, "render", str(work), "--to", fmt, "--output", target.name]
            for k, v in params.items():
                cmd += ["-P", f"{k}:{v}"]
            subprocess.run(cmd, check=True, cwd=out_html.parent, env=_kernel_env())
            outputs[fmt] = target
        return RenderedReport(html=outputs.get("html"), engine="quarto", outputs=outputs)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    work = out_html.parent
    # the kernel shuts down while the report is written (render_report's kernel.close() waits for it)
    meta, _cells, nb = execute_qmd(qmd, params, work, timeout=timeout, kernel=kernel, wait_shutdown=False)
    timings["notebook"] = time.perf_counter() - t0
    t = time.perf_counter()
    assets = out_html.parent / (out_html.stem + "_files")
    markdown = notebook_to_markdown(meta, nb, assets, base=out_html.parent)
    md_path = out_html.with_suffix(".md")
    md_path.write_text(markdown, encoding="utf-8")
    timings["markdown"] = time.perf_counter() - t
    timings["execute"] = time.perf_counter() - t0
    nb_path = out_html.with_suffix(".ipynb")
    css = out_html.parent / (out_html.stem + ".css")
    if "html" in fmts or "pdf" in fmts:
        css.write_text(_CSS, encoding="utf-8")
    css_link = link_target(css, out_html.parent)  # (the HTML links it as the Markdown links the figures)
    toc = ["--toc"] if meta.get("toc") or (meta.get("format", {}) or {}).get("html", {}).get("toc") else []

    def timed(step: str, job: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            t = time.perf_counter()
            job()
            timings[step] = time.perf_counter() - t
        return run

    def write_notebook() -> None:
        import nbformat

        nbformat.write(nb, nb_path)

    def write_docx() -> None:
        ref = _reference_docx(qmd, out_html.parent)
        _pandoc(md_path, out_html.with_suffix(".docx"), "docx", meta, ["--reference-doc", str(ref)])
        outputs["docx"] = out_html.with_suffix(".docx")

    def write_html() -> None:
        _pandoc(md_path, out_html, "html5", meta, ["--css", css_link, *_pandoc_self_contained_flag(), *toc])
        outputs["html"] = out_html

    def write_pdf() -> None:
        # Chromium prints an HTML that links the figure files and the CSS (pandoc writes it in a
        # fraction of the time the self-contained report.html takes, which is written alongside);
        # the PDF is the same. It sits next to report.html, so the relative, percent-encoded links
        # of the Markdown (link_target) find the same files whatever the folder is called.
        printed = out_html.with_name(f".{out_html.stem}.print.html")
        try:
            _pandoc(md_path, printed, "html5", meta, ["--css", css_link, "--standalone", *toc])
            outputs["pdf"] = html_to_pdf(printed, out_html.with_suffix(".pdf"))
        finally:
            printed.unlink(missing_ok=True)

    # the notebook file, the Word document and the HTML need only the Markdown: they are written
    # while Chromium prints the PDF (pandoc and Chromium are processes: these threads mostly wait)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=3, thread_name_prefix="h2s-render") as side:
        jobs = [side.submit(timed("docx", write_docx))] if "docx" in fmts else []
        if "html" in fmts:
            jobs.append(side.submit(timed("html", write_html)))
        jobs.append(side.submit(timed("ipynb", write_notebook)))
        try:
            if "pdf" in fmts:
                timed("pdf", write_pdf)()
        finally:
            for job in jobs:
                job.result()  # an error, if any, is raised here (after every job ended)
    ordered = {f: outputs[f] for f in fmts}
    return RenderedReport(html=ordered.get("html"), engine="nbclient+pandoc", notebook=nb_path, outputs=ordered,
                          timings=timings)


# the CLI checks for Chromium before a study runs (a public name: no module imports another's private
# names)
chromium = _chromium
