"""Published-table auditor: recompute every derivable number of a published table.

``audit_table(path_or_dict_or_list) -> AuditResult``; ``audit_papers(paths) -> {paper: AuditResult}``;
the table-file format is in ``SCHEMA.md``; :mod:`.text` finds the tables of a plain-text article.
The names are imported on first use, so ``her2stats.audit.cli`` (wired into the ``her2stats``
command line) loads without the statistics layer.
"""
from __future__ import annotations

import importlib
from typing import Any

_LAZY = {"audit_table": "core", "audit_papers": "core", "AuditResult": "core", "load_table_file": "core",
         "COLUMNS": "core", "CONSISTENCY_COLUMNS": "core", "AuditFile": "schema", "parse_printed": "schema"}

__all__ = ["audit_table", "audit_papers", "AuditResult", "AuditFile", "load_table_file", "parse_printed", "COLUMNS",
           "CONSISTENCY_COLUMNS"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
