"""Render a Quarto study report.

Two paths, same ``.qmd``:

* ``quarto`` on PATH: ``quarto render report.qmd -P config:<path>`` (the user's normal tool).
* otherwise (and always in tests): the ``.qmd`` is read as a notebook (its ```` ```{python} ````
  chunks with ``#|`` options), the ``parameters`` cell is followed by an injected cell with the
  parameter values (as Quarto and papermill do), the notebook is executed with nbclient in a fresh
  kernel, its outputs are written as Markdown with raw HTML tables and PNG figures, and pandoc
  turns that into one self-contained HTML file.

Chunk options honoured on the fallback path: ``echo`` (default from the YAML ``execute.echo``),
``output: false``, ``include: false``. Figures come from ``image/png`` outputs; tables from
``text/html`` (e.g. great-tables or ``_repr_html_``) and ``text/markdown`` outputs.
"""
from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import yaml

from ..errors import ConfigError

_CHUNK = re.compile(r"^```\{python([^}]*)\}\s*$")


@dataclass(frozen=True)
class RenderedReport:
    html: Path
    engine: str  # "quarto" or "nbclient+pandoc"
    notebook: Path | None = None


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


def execute_qmd(qmd: Path, params: Mapping[str, Any], workdir: Path, timeout: int = 1800) -> tuple[dict, list[dict], Any]:
    """Execute the .qmd's Python chunks in a fresh kernel; return (meta, cells, executed notebook)."""
    import nbformat

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
    execute_notebook(nb, workdir, timeout=timeout)
    return meta, cells, nb


def execute_notebook(nb: Any, workdir: str | Path, timeout: int = 1800, kernel_name: str = "python3") -> Any:
    """Execute ``nb`` in place in a fresh kernel started in ``workdir``; return it.

    The kernel talks to us over local IPC sockets in a private temporary folder (not TCP on
    localhost: ipykernel warns that TCP without encryption is readable by other local users) and
    starts with the current environment less the ``LD_LIBRARY_PATH`` that embedded R sets.
    """
    import tempfile

    from nbclient import NotebookClient
    from traitlets.config import Config

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


def notebook_to_markdown(meta: dict, nb: Any, assets: Path) -> str:
    """Executed notebook -> pandoc Markdown (raw HTML for tables, PNG files for figures)."""
    assets.mkdir(parents=True, exist_ok=True)
    default_echo = bool(((meta.get("execute") or {}).get("echo", False)))
    parts: list[str] = []
    fig = 0
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
            if "image/png" in data:
                fig += 1
                path = assets / f"figure-{fig:02d}.png"
                path.write_bytes(base64.b64decode(data["image/png"]))
                parts.append(f"![]({path.as_posix()})")
            elif "text/html" in data:
                parts.append("```{=html}\n" + data["text/html"] + "\n```")
            elif "text/markdown" in data:
                parts.append(data["text/markdown"])
            elif "text/plain" in data and opts.get("echo", default_echo):
                parts.append(f"```\n{data['text/plain']}\n```")
    return "\n\n".join(parts) + "\n"


def _pandoc_self_contained_flag() -> list[str]:
    out = subprocess.run(["pandoc", "--version"], capture_output=True, text=True, env=_kernel_env())
    m = re.search(r"pandoc(?:\.exe)? (\d+)\.(\d+)", out.stdout)
    major, minor = (int(m.group(1)), int(m.group(2))) if m else (2, 0)
    return ["--embed-resources", "--standalone"] if (major, minor) >= (2, 19) else ["--self-contained"]


_CSS = """
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; max-width: 1100px; margin: 2em auto; line-height: 1.45; color: #222; }
h1 { font-size: 1.7em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
img { max-width: 100%; } table { border-collapse: collapse; font-size: 0.9em; }
pre { background: #f6f6f6; padding: .6em; overflow-x: auto; }
"""


def render_report(qmd: str | Path, out_html: str | Path, params: Mapping[str, Any] | None = None,
                  use_quarto: bool | None = None, timeout: int = 1800) -> RenderedReport:
    """Render ``qmd`` to ``out_html``; Quarto when available (or ``use_quarto=True``), else the
    nbclient + pandoc path described in the module docstring."""
    qmd = Path(qmd).resolve()
    out_html = Path(out_html).resolve()
    out_html.parent.mkdir(parents=True, exist_ok=True)
    params = dict(params or {})
    if not qmd.is_file():
        raise ConfigError(f"report template not found: {qmd}")
    quarto = shutil.which("quarto")
    if use_quarto is None:
        use_quarto = quarto is not None
    if use_quarto:
        if quarto is None:
            raise ConfigError("use_quarto=True but `quarto` is not on PATH")
        work = out_html.parent / qmd.name
        if work != qmd:
            shutil.copy2(qmd, work)
        cmd = [quarto, "render", str(work), "--to", "html", "--output", out_html.name]
        for k, v in params.items():
            cmd += ["-P", f"{k}:{v}"]
        subprocess.run(cmd, check=True, cwd=out_html.parent, env=_kernel_env())
        return RenderedReport(html=out_html, engine="quarto")
    work = out_html.parent
    meta, _cells, nb = execute_qmd(qmd, params, work, timeout=timeout)
    import nbformat

    nb_path = out_html.with_suffix(".ipynb")
    nbformat.write(nb, nb_path)
    assets = out_html.parent / (out_html.stem + "_files")
    markdown = notebook_to_markdown(meta, nb, assets)
    md_path = out_html.with_suffix(".md")
    md_path.write_text(markdown, encoding="utf-8")
    css = out_html.parent / (out_html.stem + ".css")
    css.write_text(_CSS, encoding="utf-8")
    title = str(meta.get("title", "her2stats report"))
    cmd = ["pandoc", str(md_path), "-f", "markdown+raw_html+raw_attribute", "-t", "html5", "-o", str(out_html),
           "--metadata", f"title={title}", "--css", str(css), *_pandoc_self_contained_flag()]
    for key in ("subtitle", "author", "date"):
        if meta.get(key):
            cmd += ["--metadata", f"{key}={meta[key]}"]
    if meta.get("toc") or (meta.get("format", {}) or {}).get("html", {}).get("toc"):
        cmd.append("--toc")
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=out_html.parent, env=_kernel_env())
    if res.returncode != 0:
        raise RuntimeError(f"pandoc failed ({res.returncode}): {res.stderr.strip()}")
    return RenderedReport(html=out_html, engine="nbclient+pandoc", notebook=nb_path)


__all__ = ["RenderedReport", "render_report", "execute_qmd", "execute_notebook", "notebook_to_markdown"]
