"""Publication tables: one object, every output (HTML, Word, LaTeX, CSV, Excel).

A :class:`PublicationTable` holds already-formatted cells (strings), a title, optional column
spanners and display labels, a stub column, row groups and footnotes. Builders in
:mod:`her2stats.reporting.builders` turn statistics results into these tables.

Outputs keep the structure in every format:

* HTML (:meth:`~PublicationTable.to_html`): great-tables, row groups and spanners, no index
  column, estimates and their CIs never broken across lines;
* Word (:meth:`~PublicationTable.to_openxml`, :meth:`~PublicationTable.to_docx`): a native Word
  table in the three-line journal layout (rule above and below the header, rule under the last
  row), header row repeated on each page, spanners as merged cells, row groups as full-width
  rows, footnotes under the table, and a landscape section for a wide table;
* LaTeX (:meth:`~PublicationTable.to_latex`): booktabs with ``\\cmidrule`` spanners, every
  special character escaped (``<``, ``>``, ``≥``, ``±``, ``χ²``...), the caption without a
  duplicated "Table 1." prefix (LaTeX numbers tables itself).
"""
from __future__ import annotations

import html
import json
import re
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from ..errors import InputError

_NUMBERED = re.compile(r"^\s*(table|figure|fig\.)\s+[0-9]+[a-z]?\s*[.:]\s*", re.IGNORECASE)
_CI_SPACE = re.compile(r"(\S) \((?=[\d\u2212\-<>])")
# A4 (twips): portrait and landscape page, 1.5 cm margins, so a double-column figure (180 mm) fits the
# text width at its printed size (the reference document's layout)
A4_W, A4_H, MARGIN = 11906, 16838, 851


def strip_number(title: str) -> str:
    """``"Table 1. Baseline characteristics"`` -> ``"Baseline characteristics"`` (numbering is
    added by the output format: LaTeX, Word captions, the report's cross-references)."""
    return _NUMBERED.sub("", title or "", count=1)


def _nowrap_ci(s: str) -> str:
    """Estimate and CI never split across lines: ``0.8 (0.7–0.9)`` keeps a no-break space."""
    return _CI_SPACE.sub("\\1\u00a0(", s)


@dataclass(frozen=True, repr=False)
class PublicationTable:
    """A formatted table ready for a paper.

    Parameters
    ----------
    data : DataFrame of display strings; the ``stub`` column labels rows.
    title, subtitle : caption lines.
    stub : name of the row-label column (or None).
    groupname : column whose values group rows (e.g. the cohort in a performance table), or None;
        it is shown as full-width group rows, not as a column.
    spanners : {spanner label: [columns]} for grouped column headings.
    footnotes : notes printed under the table (tests used, adjustment, abbreviations).
    column_labels : {column: heading} where the printed heading differs from the column name.
    """

    data: pd.DataFrame
    title: str = ""
    subtitle: str = ""
    stub: str | None = None
    groupname: str | None = None
    spanners: dict[str, list[str]] = field(default_factory=dict)
    footnotes: tuple[str, ...] = ()
    column_labels: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        cols = set(map(str, self.data.columns))
        for what, name in (("stub", self.stub), ("groupname", self.groupname)):
            if name is not None and name not in cols:
                raise InputError(f"PublicationTable: {what} column {name!r} is not in the data ({sorted(cols)})")
        for label, members in self.spanners.items():
            bad = [c for c in members if c not in cols]
            if bad:
                raise InputError(f"PublicationTable: spanner {label!r} names unknown column(s) {bad}")

    # ------------------------------------------------------------------ structure
    @property
    def shown_columns(self) -> list[str]:
        """Columns printed as columns (the group column becomes group rows)."""
        return [c for c in self.data.columns if c != self.groupname]

    def heading(self, col: str) -> str:
        return self.column_labels.get(col, str(col))

    def _groups(self) -> list[tuple[str | None, pd.DataFrame]]:
        d = self.data.fillna("")
        if self.groupname is None:
            return [(None, d)]
        out = []
        for g in dict.fromkeys(d[self.groupname].astype(str)):
            out.append((g, d[d[self.groupname].astype(str) == g]))
        return out

    def is_wide(self, max_chars: int = 115) -> bool:
        """Whether the table needs a landscape page: its estimated printed width in characters
        (row labels and long text wrap, so they count at most 28 / 40 characters; numbers and
        CIs never wrap) exceeds ``max_chars`` (an A4 portrait page holds about 110 at 8-9 pt)."""
        width = 0
        for j, c in enumerate(self.shown_columns):
            cells = [str(v) for v in self.data[c].fillna("")]
            longest = max([len(v) for v in cells] + [min(len(self.heading(c)), 18)])
            if c == self.stub or (self.stub is None and j == 0):
                longest = min(longest, 28)
            elif any(len(v) > 40 and " " in v for v in cells):
                longest = min(longest, 40)
            width += longest + 2
        return width > max_chars

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict:
        """JSON-able description (the report template hands tables to the renderer this way)."""
        return {"data": {"columns": [str(c) for c in self.data.columns],
                         "rows": self.data.fillna("").astype(str).values.tolist()},
                "title": self.title, "subtitle": self.subtitle, "stub": self.stub, "groupname": self.groupname,
                "spanners": {k: list(v) for k, v in self.spanners.items()}, "footnotes": list(self.footnotes),
                "column_labels": dict(self.column_labels)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "PublicationTable":
        data = pd.DataFrame(d["data"]["rows"], columns=d["data"]["columns"])
        return cls(data=data, title=d.get("title", ""), subtitle=d.get("subtitle", ""), stub=d.get("stub"),
                   groupname=d.get("groupname"), spanners={k: list(v) for k, v in (d.get("spanners") or {}).items()},
                   footnotes=tuple(d.get("footnotes") or ()), column_labels=dict(d.get("column_labels") or {}))

    def with_title(self, title: str) -> "PublicationTable":
        return replace(self, title=title)

    # ------------------------------------------------------------------ outputs
    def to_frame(self) -> pd.DataFrame:
        return self.data.copy()

    def to_gt(self):
        """A great_tables ``GT`` object (renders in notebooks; ``.as_raw_html()`` for files)."""
        from great_tables import GT

        data = self.data.fillna("").astype(str)
        gt = GT(data, rowname_col=self.stub, groupname_col=self.groupname)
        if self.title or self.subtitle:
            gt = gt.tab_header(title=self.title or "", subtitle=self.subtitle or None)
        for label, cols in self.spanners.items():
            gt = gt.tab_spanner(label=label, columns=cols)
        if self.column_labels:
            gt = gt.cols_label(**{c: v for c, v in self.column_labels.items() if c in data.columns})
        for note in self.footnotes:
            gt = gt.tab_source_note(note)
        gt = gt.tab_options(table_font_size="14px", heading_title_font_size="15px", column_labels_font_weight="bold",
                            row_group_font_weight="bold", data_row_padding="3px", source_notes_font_size="12px",
                            table_border_top_color="#000000", column_labels_border_top_color="#000000",
                            column_labels_border_bottom_color="#000000", table_body_border_bottom_color="#000000",
                            table_border_bottom_style="none", heading_border_bottom_style="none")
        return gt.opt_align_table_header(align="left")

    def to_html(self) -> str:
        """HTML (great-tables), estimates and CIs kept on one line."""
        raw = self.to_gt().as_raw_html()
        # no-break inside "0.812 (0.741–0.883)" in body cells (great-tables escapes the cells itself)
        return re.sub(r'(<td[^>]*class="gt_row[^"]*"[^>]*>)(.*?)(</td>)',
                      lambda m: m.group(1) + _nowrap_ci(m.group(2)).replace("\u00a0", "&nbsp;") + m.group(3), raw,
                      flags=re.S)

    def _repr_html_(self) -> str:
        return self.to_html()

    def __repr__(self) -> str:
        head = f"{self.title}\n" if self.title else ""
        notes = "".join(f"\n{n}" for n in self.footnotes)
        return head + self.data.fillna("").to_string(index=False) + notes

    # ------------------------------------------------------------------ LaTeX
    def to_latex(self, label: str | None = None) -> str:
        """LaTeX (booktabs): spanners with ``\\cmidrule``, row groups as italic full-width rows,
        every special character escaped, footnotes under the table. The caption drops a leading
        "Table 1." because ``\\caption`` numbers the table itself."""
        cols = self.shown_columns
        n = len(cols)
        align = "".join("l" if (c == self.stub or (self.stub is None and j == 0)) else "c" for j, c in enumerate(cols))
        lines = [r"\begin{table}[ht]", r"\centering", r"\small"]
        cap = strip_number(self.title)
        if cap:
            lines.append(f"\\caption{{{latex_escape(cap)}}}" + (f"\\label{{{latex_escape(label)}}}" if label else ""))
        lines += [f"\\begin{{tabular}}{{{align}}}", r"\toprule"]
        if self.spanners:
            cells, rules, j = [], [], 0
            while j < n:
                span = next(((lab, mem) for lab, mem in self.spanners.items() if mem and mem[0] == cols[j]), None)
                if span is not None:
                    k = len(span[1])
                    cells.append(f"\\multicolumn{{{k}}}{{c}}{{{latex_escape(span[0])}}}")
                    rules.append(f"\\cmidrule(lr){{{j + 1}-{j + k}}}")
                    j += k
                else:
                    cells.append("")
                    j += 1
            lines.append(" & ".join(cells) + r" \\")
            lines.append(" ".join(rules))
        lines.append(" & ".join(latex_escape(self.heading(c)) for c in cols) + r" \\")
        lines.append(r"\midrule")
        for g, part in self._groups():
            if g is not None:
                lines.append(f"\\multicolumn{{{n}}}{{l}}{{\\textit{{{latex_escape(g)}}}}} \\\\")
            for _, row in part.iterrows():
                lines.append(" & ".join(latex_escape(str(row[c])) for c in cols) + r" \\")
        lines.append(r"\bottomrule")
        lines.append(r"\end{tabular}")
        if self.subtitle:
            lines.append(f"\\par\\footnotesize {latex_escape(self.subtitle)}")
        for note in self.footnotes:
            lines.append(f"\\par\\footnotesize {latex_escape(note)}")
        lines.append(r"\end{table}")
        return "\n".join(lines) + "\n"

    # ------------------------------------------------------------------ Word
    def to_openxml(self, caption: str | None = None, bookmark: str | None = None, landscape: bool | None = None,
                   font_pt: float = 9.0) -> str:
        """WordprocessingML of the table: caption paragraph (``TableCaption`` style, above),
        the three-line table, footnotes (``TableNote`` style); pandoc passes it through as a raw
        ``openxml`` block. ``landscape`` (default: :meth:`is_wide`) wraps it in its own landscape
        section of an A4 document."""
        cols = self.shown_columns
        n = len(cols)
        sz = int(round(font_pt * 2))
        wide = self.is_wide() if landscape is None else bool(landscape)
        parts: list[str] = []
        if wide:
            parts.append(_section_break(landscape=False))
        cap = caption if caption is not None else self.title
        if cap:
            m = re.match(r"^((?:Table|Figure)\s+\S+?[.:])\s*(.*)$", cap, flags=re.S)
            runs = (_run(m.group(1) + " ", bold=True) + _run(m.group(2))) if m else _run(cap)
            bm_start = bm_end = ""
            if bookmark:
                bid = 90000 + zlib.crc32(bookmark.encode()) % 9000
                bm_start = f'<w:bookmarkStart w:id="{bid}" w:name="{_xml(bookmark)}"/>'
                bm_end = f'<w:bookmarkEnd w:id="{bid}"/>'
            parts.append(f'<w:p><w:pPr><w:pStyle w:val="TableCaption"/><w:keepNext/></w:pPr>{bm_start}{runs}{bm_end}</w:p>')
        thick, thin = 12, 6
        tbl = [f'<w:tbl><w:tblPr><w:tblW w:w="5000" w:type="pct"/><w:jc w:val="center"/>'
               f'<w:tblBorders><w:top w:val="single" w:sz="{thick}" w:space="0" w:color="000000"/>'
               f'<w:bottom w:val="single" w:sz="{thick}" w:space="0" w:color="000000"/></w:tblBorders>'
               f'<w:tblLayout w:type="autofit"/>'
               f'<w:tblCellMar><w:left w:w="60" w:type="dxa"/><w:right w:w="60" w:type="dxa"/></w:tblCellMar>'
               f'<w:tblLook w:val="0020" w:firstRow="1" w:lastRow="0" w:firstColumn="0" w:lastColumn="0" '
               f'w:noHBand="1" w:noVBand="1"/></w:tblPr><w:tblGrid>'
               + "".join('<w:gridCol/>' for _ in cols) + "</w:tblGrid>"]

        def cell(text: str, j: int, bold: bool = False, italic: bool = False, span: int = 1, bottom: int = 0,
                 align: str | None = None, body: bool = False) -> str:
            props = [f'<w:gridSpan w:val="{span}"/>'] if span > 1 else []
            if bottom:
                props.append(f'<w:tcBorders><w:bottom w:val="single" w:sz="{bottom}" w:space="0" w:color="000000"/>'
                             f'</w:tcBorders>')
            props.append('<w:vAlign w:val="bottom"/>')
            jc = align or ("left" if j == 0 else "center")
            return (f'<w:tc><w:tcPr>{"".join(props)}</w:tcPr><w:p><w:pPr><w:spacing w:before="20" w:after="20" '
                    f'w:line="240" w:lineRule="auto"/><w:jc w:val="{jc}"/></w:pPr>'
                    f'{_run(_nowrap_ci(text) if body else text, bold=bold, italic=italic, size=sz)}</w:p></w:tc>')

        header_rows = []
        if self.spanners:
            cells, j = [], 0
            while j < n:
                span = next(((lab, mem) for lab, mem in self.spanners.items() if mem and mem[0] == cols[j]), None)
                if span is not None:
                    k = len(span[1])
                    cells.append(cell(span[0], j, bold=True, span=k, bottom=4))
                    j += k
                else:
                    cells.append(cell("", j))
                    j += 1
            header_rows.append("".join(cells))
        header_rows.append("".join(cell(self.heading(c), j, bold=True, bottom=thin) for j, c in enumerate(cols)))
        for r in header_rows:
            tbl.append(f'<w:tr><w:trPr><w:tblHeader/><w:cantSplit/></w:trPr>{r}</w:tr>')
        for g, part in self._groups():
            if g is not None:
                tbl.append(f'<w:tr><w:trPr><w:cantSplit/></w:trPr>{cell(g, 0, bold=True, span=n, align="left")}</w:tr>')
            for _, row in part.iterrows():
                tbl.append('<w:tr><w:trPr><w:cantSplit/></w:trPr>'
                           + "".join(cell(str(row[c]), j, body=True) for j, c in enumerate(cols)) + "</w:tr>")
        tbl.append("</w:tbl>")
        parts.append("".join(tbl))
        for note in ([self.subtitle] if self.subtitle else []) + list(self.footnotes):
            parts.append(f'<w:p><w:pPr><w:pStyle w:val="TableNote"/><w:spacing w:before="0" w:after="0"/></w:pPr>'
                         f'{_run(note, size=max(sz - 2, 12))}</w:p>')
        if wide:
            parts.append(_section_break(landscape=True))
        else:
            parts.append('<w:p><w:pPr><w:spacing w:before="0" w:after="120"/></w:pPr></w:p>')
        return "\n".join(parts)

    def to_docx(self, path: str | Path, landscape: bool | None = None) -> Path:
        """A Word document holding the table (native table, three-line layout, title above,
        footnotes below); landscape when the table is wide."""
        from docx import Document
        from docx.oxml import parse_xml

        path = Path(path)
        doc = Document()
        wide = self.is_wide() if landscape is None else bool(landscape)
        body = doc.element.body
        xml = self.to_openxml(landscape=False)
        wrapped = f'<w:body xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">{xml}</w:body>'
        sect = body.sectPr
        for child in list(parse_xml(wrapped)):
            sect.addprevious(child)
        from docx.enum.section import WD_ORIENT
        from docx.shared import Twips

        s = doc.sections[0]
        s.page_width, s.page_height = (Twips(A4_H), Twips(A4_W)) if wide else (Twips(A4_W), Twips(A4_H))
        s.orientation = WD_ORIENT.LANDSCAPE if wide else WD_ORIENT.PORTRAIT
        for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
            setattr(s, side, Twips(MARGIN))
        path.parent.mkdir(parents=True, exist_ok=True)
        doc.save(path)
        return path

    # ------------------------------------------------------------------ flat files
    def to_csv(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.data.to_csv(path, index=False)
        return path

    def to_excel(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with pd.ExcelWriter(path) as xl:
            self.data.to_excel(xl, index=False, sheet_name="table", startrow=1 if self.title else 0)
            if self.title:
                xl.sheets["table"].cell(row=1, column=1, value=self.title)
        return path

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    def save(self, stem: str | Path, formats: tuple[str, ...] = ("html", "csv", "tex", "docx", "xlsx")) -> list[Path]:
        """Write the table in several formats next to each other; return the paths."""
        stem = Path(stem)
        stem.parent.mkdir(parents=True, exist_ok=True)
        out = []
        for ext in formats:
            p = stem.with_suffix(f".{ext}")
            if ext == "html":
                p.write_text(self.to_html(), encoding="utf-8")
            elif ext == "csv":
                self.to_csv(p)
            elif ext == "tex":
                p.write_text(self.to_latex(), encoding="utf-8")
            elif ext == "docx":
                self.to_docx(p)
            elif ext == "xlsx":
                self.to_excel(p)
            elif ext == "json":
                p.write_text(self.to_json(), encoding="utf-8")
            else:
                raise InputError(f"unknown table format {ext!r}; use html, csv, tex, docx, xlsx or json")
            out.append(p)
        return out


# ---------------------------------------------------------------------------------- helpers
def _xml(s: str) -> str:
    return html.escape(s, quote=True)


def _run(text: str, bold: bool = False, italic: bool = False, size: int | None = None) -> str:
    if text == "":
        return ""
    props = ("<w:b/>" if bold else "") + ("<w:i/>" if italic else "") + (f'<w:sz w:val="{size}"/><w:szCs w:val="{size}"/>' if size else "")
    rpr = f"<w:rPr>{props}</w:rPr>" if props else ""
    return f'<w:r>{rpr}<w:t xml:space="preserve">{_xml(text)}</w:t></w:r>'


def _section_break(landscape: bool) -> str:
    """An empty paragraph ending a section (portrait before a wide table, landscape after it)."""
    w, h = (A4_H, A4_W) if landscape else (A4_W, A4_H)
    orient = ' w:orient="landscape"' if landscape else ""
    return (f'<w:p><w:pPr><w:sectPr><w:pgSz w:w="{w}" w:h="{h}"{orient}/>'
            f'<w:pgMar w:top="{MARGIN}" w:right="{MARGIN}" w:bottom="{MARGIN}" w:left="{MARGIN}" w:header="709" '
            f'w:footer="709" w:gutter="0"/></w:sectPr></w:pPr></w:p>')


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
_LATEX_SPECIAL_RE = re.compile("|".join(re.escape(k) for k in _LATEX_SPECIAL))
_LATEX_UNICODE = [(">=", r"$\geq$"), ("<=", r"$\leq$"), ("\u2265", r"$\geq$"), ("\u2264", r"$\leq$"), ("<", r"$<$"),
                  (">", r"$>$"), ("\u00b1", r"$\pm$"), ("\u2212", "$-$"), ("\u2013", "--"), ("\u2014", "---"),
                  ("\u00a0", "~"), ("\u2003", r"\quad "), ("\u03c7\u00b2", r"$\chi^2$"), ("\u03c7", r"$\chi$"),
                  ("\u00b2", r"$^2$"), ("\u00b3", r"$^3$"), ("\u0394", r"$\Delta$"), ("\u03b2", r"$\beta$"),
                  ("\u03b1", r"$\alpha$"), ("\u03ba", r"$\kappa$"), ("\u2020", r"$^\dagger$"), ("\u2021", r"$^\ddagger$"),
                  ("\u2192", r"$\rightarrow$"), ("\u00d7", r"$\times$"), ("\u207b", r"$^-$"), ("\u00b9", r"$^1$"),
                  ("\u00b7", r"$\cdot$"), ("\u2026", r"\ldots{}")]


def latex_escape(s: Any) -> str:
    """Escape text for LaTeX: the ten special characters, then ``<``, ``>``, ``>=``, ``≥``, ``±``,
    minus, dashes, Greek letters and superscripts as math."""
    s = "" if s is None else str(s)
    s = _LATEX_SPECIAL_RE.sub(lambda m: _LATEX_SPECIAL[m.group(0)], s)  # one pass: no double escaping
    for a, b in _LATEX_UNICODE:
        s = s.replace(a, b)
    return s


_latex_escape = latex_escape


def escape(s: Any) -> str:
    return html.escape("" if s is None else str(s))
