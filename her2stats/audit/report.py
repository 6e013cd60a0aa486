"""Self-contained HTML audit reports (no external assets): one page per paper.

A page gives the paper's verdict counts, the contradictions between its tables (the same
comparison printed with different numbers), its findings worst first -- each with the printed
value, what was recomputed, by which method, and every candidate tried -- then every audited
number table by table. :func:`write_report` writes one page per paper plus an index, atomically
(each file is written to a temporary name in the same folder and renamed into place, and a folder
of pages is assembled aside and swapped in whole), so an interrupted run never leaves a report that
looks complete. The general reporting layer (``her2stats.reporting``) may embed
:func:`render_html`'s output or re-render :meth:`AuditResult.to_frame`.
"""
from __future__ import annotations

import html
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from .core import AuditResult

__all__ = ["render_html", "render_index", "write_report", "write_atomic"]

_COLOURS = {"reproduced": "#d9f2d9", "not reproduced": "#f8d0d0", "not derivable": "#eeeeee",
            "contradiction": "#f8d0d0", "consistent": "#d9f2d9"}

_CSS = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 2em; } h3 { font-size: 1em; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 3px 6px; vertical-align: top; text-align: left; }
th { background: #f4f4f4; }
p.rule, p.small { font-size: 0.85em; color: #555; max-width: 60em; }
div.finding { border-left: 4px solid #c33; padding: 0.3em 0.8em; margin: 0.6em 0; max-width: 70em; }
div.finding.flag { border-left-color: #d90; }
div.finding .what { font-weight: bold; }
div.finding .calc { font-family: monospace; font-size: 0.9em; white-space: pre-wrap; }
span.counts b { font-size: 1.1em; }
"""

_RULE = ("A printed number is <b>reproduced</b> when a stated or candidate method recomputes it at its "
         "printed precision (x reproduces 0.761 if |x &minus; 0.761| &le; 0.0005; &lsquo;&lt;0.001&rsquo; by any "
         "x &lt; 0.001; a p printed &lsquo;0.000&rsquo; by any x &lt; 0.0005), or, for recomputations from "
         "rounded inputs, when the range the method gives over the inputs&rsquo; rounding meets the printed value. "
         "<b>Not reproduced</b>: no candidate can give it (closest candidate shown, every candidate in the note), "
         "or it is impossible (an estimate outside its own CI, counts that do not add up). <b>Not derivable</b>: "
         "the printed numbers do not determine it (DeLong CIs and rank tests need the data); where they bound it, "
         "the bounds are shown. A <b>contradiction</b> is the same comparison printed twice with numbers no single "
         "value rounds to.")

_SHOWN = ["row", "level", "group", "quantity", "reported", "recomputed", "verdict", "method",
          "closest_candidate", "closest_value", "note", "flag", "source_row"]


def _style(frame: pd.DataFrame, columns: list[str]) -> str:
    shown = frame[columns].copy()
    fmt = {c: "{:.4g}" for c in ("recomputed", "closest_value") if c in shown}
    styler = (shown.style.hide(axis="index").format(fmt, na_rep="")
              .map(lambda v: f"background-color: {_COLOURS.get(v, '')}", subset=["verdict"]))
    return styler.to_html()


def _num(v) -> str:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return ""
    return "" if x != x else f"{x:.4g}"


def _finding_html(rec: dict) -> str:
    """One finding: what is printed where, what was recomputed and how, and every candidate."""
    where = " / ".join(html.escape(str(x)) for x in (rec["table"], rec["section"], rec["row"]) if x)
    what = html.escape(" ".join(str(x) for x in (rec["quantity"], rec["level"], rec["group"]) if x))
    lines = [f"printed:    {rec['reported']}"]
    if rec.get("verdict") == "not reproduced":
        if rec.get("closest_candidate"):
            lines.append(f"closest:    {rec['closest_candidate']} = {_num(rec.get('closest_value'))}")
        elif _num(rec.get("recomputed")):
            lines.append(f"recomputed: {_num(rec.get('recomputed'))}")
        if rec.get("method"):
            lines.append(f"check:      {rec['method']}")
    else:
        if _num(rec.get("recomputed")):
            lines.append(f"recomputed: {_num(rec.get('recomputed'))}")
        if rec.get("method"):
            lines.append(f"check:      {rec['method']}")
    if rec.get("note"):
        lines.append(f"details:    {rec['note']}")
    cls = "finding flag" if rec.get("verdict") != "not reproduced" else "finding"
    label = rec.get("flag") or rec.get("verdict")
    src = (f"{html.escape(str(rec.get('seed', '')))}, {html.escape(str(rec.get('source_table', '')))}, "
           f"row &lsquo;{html.escape(str(rec.get('source_row', '')))}&rsquo;")
    return (f"<div class='{cls}'><div class='what'>{where}: {what} &mdash; {html.escape(str(label))}</div>"
            f"<div class='calc'>{html.escape(chr(10).join(lines))}</div>"
            f"<div class='small'>source: {src}</div></div>")


def _counts_html(result: "AuditResult") -> str:
    c = result.counts
    k = len(result.contradictions())
    flagged = int((result.frame["flag"] != "").sum()) if "flag" in result.frame else 0
    parts = [f"<b>{n}</b> {html.escape(v)}" for v, n in c.items()]
    parts.append(f"<b>{k}</b> contradiction{'s' if k != 1 else ''} between tables")
    if flagged:
        parts.append(f"<b>{flagged}</b> implausible")
    return "<p><span class='counts'>" + ", ".join(parts) + "</span></p>"


def _body(result: "AuditResult", level: int = 1) -> list[str]:
    h = f"h{level}"
    h2 = f"h{level + 1}"
    frame = result.frame
    parts = [f"<{h}>Audit of {html.escape(result.title)}</{h}>", _counts_html(result),
             f"<p class='rule'>{_RULE}</p>"]
    if result.path:
        parts.append(f"<p class='rule'>Table files: {html.escape(result.path)}</p>")
    tables = result.tables
    if len(tables):
        shown = tables.copy()
        shown["skip"] = shown["skip"].replace("", "-")
        parts.append(f"<{h2}>Tables encoded</{h2}>" + shown.to_html(index=False, border=0))
    contra = result.contradictions()
    parts.append(f"<{h2}>Contradictions between tables ({len(contra)})</{h2}>")
    if len(contra):
        cols = ["key", "quantity", "level", "group", "table_a", "section_a", "row_a", "reported_a",
                "table_b", "section_b", "row_b", "reported_b", "note"]
        parts.append(contra[cols].to_html(index=False, border=0, escape=True))
    else:
        parts.append("<p class='small'>None: every number printed more than once agrees with its other printings.</p>")
    findings = result.findings()
    parts.append(f"<{h2}>Findings, worst first ({len(findings)})</{h2}>")
    if len(findings):
        parts += [_finding_html(r) for r in findings.to_dict("records")]
    else:
        parts.append("<p class='small'>No number is contradicted by the other printed numbers.</p>")
    parts.append(f"<{h2}>Verdicts per table</{h2}>")
    parts.append(result.summary().to_html(index=False, border=0))
    for (table, section), block in frame.groupby(["table", "section"], sort=False):
        head = html.escape(table) + (f" &mdash; {html.escape(section)}" if section else "")
        seeds = ", ".join(sorted(set(block["seed"])))
        parts.append(f"<{h2}>{head}</{h2}><p class='rule'>Source: {html.escape(seeds)}</p>")
        parts.append(_style(block, _SHOWN))
    cons = result.consistency
    if len(cons):
        parts.append(f"<{h2}>Every repeated number ({len(cons)} comparisons)</{h2}>")
        parts.append(_style(cons, ["key", "quantity", "level", "group", "table_a", "row_a", "reported_a",
                                   "table_b", "row_b", "reported_b", "verdict", "note"]))
    return parts


def _doc(title: str, body: list[str]) -> str:
    return "\n".join([f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
                      f"<style>{_CSS}</style></head><body>", *body, "</body></html>"])


def render_html(result: "AuditResult") -> str:
    """The audit of one paper as one HTML document (string)."""
    return _doc(result.title, _body(result))


def _slug(name: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name)).strip("._")
    return (s or "paper")[:80]


def render_index(results: Mapping[str, "AuditResult"], pages: Mapping[str, str]) -> str:
    """Index page: one line per paper with its verdict counts and a link to its page."""
    rows = []
    for paper, res in results.items():
        c = res.counts
        rows.append({"paper": f"<a href='{html.escape(pages[paper])}'>{html.escape(res.title)}</a>",
                     "numbers": len(res.frame), **c, "contradictions": len(res.contradictions()),
                     "tables": len(res.tables)})
    table = pd.DataFrame(rows).to_html(index=False, border=0, escape=False)
    return _doc("Published-table audit", ["<h1>Published-table audit</h1>", f"<p class='rule'>{_RULE}</p>", table])


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same folder and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_report(results: Mapping[str, "AuditResult"], out: str | Path) -> list[Path]:
    """Write the audit report: one page per paper.

    ``out`` ending in ``.html``/``.htm`` with a single paper: that one page. Otherwise ``out`` is a
    folder holding ``index.html`` and one ``<paper>.html`` per paper; the folder is built under a
    temporary name beside it and swapped in when complete (an existing report folder is replaced
    only then). Returns the pages written.
    """
    out = Path(out)
    if out.suffix.lower() in (".html", ".htm"):
        if len(results) != 1:
            from ..errors import InputError

            raise InputError(f"--out {out}: {len(results)} papers need a folder (one page per paper), not one file")
        res = next(iter(results.values()))
        write_atomic(out, render_html(res))
        return [out]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        pages: dict[str, str] = {}
        used: set[str] = set()
        for paper in results:
            name = _slug(paper.rsplit(".", 1)[0] if paper.endswith(".txt") else paper) + ".html"
            while name in used:
                name = "_" + name
            used.add(name)
            pages[paper] = name
            (tmp / name).write_text(render_html(results[paper]), encoding="utf-8")
        (tmp / "index.html").write_text(render_index(results, pages), encoding="utf-8")
        if out.exists():
            old = out.parent / f".{out.name}.old"
            if old.exists():
                shutil.rmtree(old)
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return [out / "index.html"] + [out / p for p in pages.values()]
