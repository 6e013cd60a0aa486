"""Publication tables: one object, many outputs (great-tables HTML, LaTeX, DOCX, CSV, XLSX).

A :class:`PublicationTable` holds already-formatted cells (strings), a title, optional column
spanners, a stub column, row groups and footnotes. Builders in :mod:`her2stats.reporting.builders`
turn statistics results into these tables with journal formatting.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd


@dataclass(frozen=True, repr=False)
class PublicationTable:
    """A formatted table ready for a paper.

    Parameters
    ----------
    data : DataFrame of display strings; the ``stub`` column labels rows.
    title, subtitle : caption lines.
    stub : name of the row-label column (or None).
    groupname : column whose values group rows (e.g. the variable name in Table 1), or None.
    spanners : {spanner label: [columns]} for grouped column headings.
    footnotes : list of notes printed under the table (tests used, adjustment, abbreviations).
    """

    data: pd.DataFrame
    title: str = ""
    subtitle: str = ""
    stub: str | None = None
    groupname: str | None = None
    spanners: dict[str, list[str]] = field(default_factory=dict)
    footnotes: tuple[str, ...] = ()

    # ------------------------------------------------------------------ outputs
    def to_frame(self) -> pd.DataFrame:
        return self.data.copy()

    def to_gt(self):
        """A great_tables ``GT`` object (renders in notebooks; ``.as_raw_html()`` for files)."""
        from great_tables import GT

        gt = GT(self.data, rowname_col=self.stub, groupname_col=self.groupname)
        if self.title or self.subtitle:
            gt = gt.tab_header(title=self.title or "", subtitle=self.subtitle or None)
        for label, cols in self.spanners.items():
            gt = gt.tab_spanner(label=label, columns=cols)
        for note in self.footnotes:
            gt = gt.tab_source_note(note)
        return gt.opt_align_table_header(align="left")

    def to_html(self) -> str:
        return self.to_gt().as_raw_html()

    def _repr_html_(self) -> str:
        return self.to_html()

    def __repr__(self) -> str:
        head = f"{self.title}\n" if self.title else ""
        notes = "".join(f"\n{n}" for n in self.footnotes)
        return head + self.data.to_string(index=False) + notes

    def to_latex(self) -> str:
        """LaTeX (booktabs) for the manuscript."""
        body = self.data.copy()
        latex = body.to_latex(index=False, escape=True, column_format="l" + "r" * (body.shape[1] - 1))
        latex = latex.replace("±", r"$\pm$").replace("\u2212", "$-$").replace("\u2013", "--")
        latex = latex.replace("< ", "$<$ ").replace("> ", "$>$ ")
        cap = f"\\caption{{{_latex_escape(self.title)}}}\n" if self.title else ""
        notes = "".join(f"\\par\\footnotesize {_latex_escape(n)}\n" for n in self.footnotes)
        return f"\\begin{{table}}[ht]\n\\centering\n{cap}{latex}{notes}\\end{{table}}\n"

    def to_docx(self, path: str | Path) -> Path:
        """Write a Word table (python-docx) with the title above and footnotes below."""
        from docx import Document
        from docx.shared import Pt

        path = Path(path)
        doc = Document()
        if self.title:
            doc.add_paragraph(self.title).runs[0].bold = True
        table = doc.add_table(rows=1, cols=self.data.shape[1])
        table.style = "Table Grid"
        for j, col in enumerate(self.data.columns):
            table.rows[0].cells[j].text = str(col)
        for _, row in self.data.iterrows():
            cells = table.add_row().cells
            for j, v in enumerate(row):
                cells[j].text = "" if v is None else str(v)
        for note in self.footnotes:
            p = doc.add_paragraph(note)
            for r in p.runs:
                r.font.size = Pt(8)
        path.parent.mkdir(parents=True, exist_ok=True)
        doc.save(path)
        return path

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
            else:
                raise ValueError(f"unknown table format {ext!r}")
            out.append(p)
        return out


def _latex_escape(s: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("$", r"\$"), ("#", r"\#"),
                 ("_", r"\_"), ("{", r"\{"), ("}", r"\}")):
        s = s.replace(a, b)
    return s.replace("±", r"$\pm$").replace("\u2212", "$-$").replace("\u2013", "--")


def escape(s: Any) -> str:
    return html.escape("" if s is None else str(s))
