"""Rebuild ``reports/reference.docx``, the Word reference document of the study report.

    python reports/make_reference_docx.py

It is pandoc's default reference document restyled for journals (A4, 1.5 cm margins so that a
180 mm double-column figure fits at its printed size, Arial body text, table captions kept above
their tables, a ``Table Note`` style for table footnotes): see
:func:`her2stats.reporting.render.build_reference_docx`. Pandoc takes every paragraph, heading,
caption and page style of the report's DOCX from it; edit it in Word to change the house style.
"""
from pathlib import Path

from her2stats.reporting.render import build_reference_docx

if __name__ == "__main__":
    print(build_reference_docx(Path(__file__).resolve().parent / "reference.docx"))
