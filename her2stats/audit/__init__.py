"""Published-table auditor: recompute every derivable number of a published table.

``audit_table(path_or_dict) -> AuditResult``; the table-file format is in ``SCHEMA.md``.
"""
from .core import COLUMNS, AuditResult, audit_table, load_table_file
from .schema import AuditFile, parse_printed

__all__ = ["audit_table", "AuditResult", "AuditFile", "load_table_file", "parse_printed", "COLUMNS"]
