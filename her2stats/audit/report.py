"""A small self-contained HTML audit report (pandas Styler; no external assets).

One section per table with a verdict summary and the tidy verdict table, cells coloured by
verdict. The general reporting layer (``her2stats.reporting``) may embed :func:`render_html`'s
output or re-render :meth:`AuditResult.to_frame`.
"""
from __future__ import annotations

import html
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from .core import AuditResult

__all__ = ["render_html"]

_COLOURS = {"reproduced": "#d9f2d9", "not reproduced": "#f8d0d0", "not derivable": "#eeeeee"}

_CSS = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 2em; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 3px 6px; vertical-align: top; text-align: left; }
th { background: #f4f4f4; }
p.rule { font-size: 0.85em; color: #555; max-width: 60em; }
"""

_RULE = ("A printed number is <b>reproduced</b> when a stated method recomputes it at its printed "
         "precision (x reproduces 0.761 if |x &minus; 0.761| &le; 0.0005; &lsquo;&lt;0.001&rsquo; by any "
         "x &lt; 0.001), or, for recomputations from rounded inputs, when the range the method gives over the "
         "inputs&rsquo; rounding meets the printed value. <b>Not reproduced</b>: no candidate does (closest "
         "candidate shown, every candidate in the note). <b>Not derivable</b>: the printed numbers do not "
         "determine the value (e.g. DeLong CIs and rank tests need the data).")

_SHOWN = ["row", "level", "group", "quantity", "reported", "recomputed", "verdict", "method",
          "closest_candidate", "closest_value", "note", "source_row"]


def _style(frame: pd.DataFrame) -> str:
    shown = frame[_SHOWN].copy()
    styler = (shown.style.hide(axis="index")
              .format({"recomputed": "{:.4g}", "closest_value": "{:.4g}"}, na_rep="")
              .map(lambda v: f"background-color: {_COLOURS.get(v, '')}", subset=["verdict"]))
    return styler.to_html()


def render_html(result: "AuditResult") -> str:
    """The audit report as one HTML document (string)."""
    frame = result.frame
    counts = result.counts
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(result.title)}</title>",
             f"<style>{_CSS}</style></head><body>",
             f"<h1>Audit of {html.escape(result.title)}</h1>",
             "<p>" + ", ".join(f"<b>{n}</b> {html.escape(v)}" for v, n in counts.items()) + "</p>",
             f"<p class='rule'>{_RULE}</p>"]
    if result.path:
        parts.append(f"<p class='rule'>Table file: {html.escape(result.path)}</p>")
    summary = result.summary()
    parts.append(summary.to_html(index=False, border=0))
    for (table, section), block in frame.groupby(["table", "section"], sort=False):
        head = html.escape(table) + (f" &mdash; {html.escape(section)}" if section else "")
        seeds = ", ".join(sorted(set(block["seed"])))
        parts.append(f"<h2>{head}</h2><p class='rule'>Source: {html.escape(seeds)}</p>")
        parts.append(_style(block))
    parts.append("</body></html>")
    return "\n".join(parts)
