"""Published-table auditor: recompute every derivable number of a published table.

``audit_table(path_or_dict_or_list) -> AuditResult``; ``audit_papers(paths) -> {paper: AuditResult}``;
the table-file format is in ``SCHEMA.md``; :mod:`.text` finds the tables of a plain-text article.
"""
from .core import COLUMNS, CONSISTENCY_COLUMNS, AuditResult, audit_papers, audit_table, load_table_file
from .schema import AuditFile, parse_printed

__all__ = ["audit_table", "audit_papers", "AuditResult", "AuditFile", "load_table_file", "parse_printed", "COLUMNS",
           "CONSISTENCY_COLUMNS"]
