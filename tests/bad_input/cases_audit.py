"""Bad inputs of the published-table auditor (engine-free: ``engines=(None,)``)."""
from __future__ import annotations

import tempfile
from pathlib import Path

from her2stats.audit import audit_table
from her2stats.errors import InputError

from ._case import Case

_TMP = Path(tempfile.mkdtemp(prefix="h2s-audit-bad-"))

GOOD = {
    "seed": "x.txt", "table": "Table 1",
    "groups": [{"name": "A", "n": 10}, {"name": "B", "n": 12}],
    "rows": [{"kind": "categorical", "row": "Sex", "p": "0.5",
              "levels": [{"level": "F", "counts": [5, 6]}, {"level": "M", "counts": [5, 6]}]}],
}


def _with(**changes):
    import copy

    spec = copy.deepcopy(GOOD)
    row = spec["rows"][0]
    for k, v in changes.items():
        row[k] = v
    return spec


def _file(name: str, text: str) -> Path:
    p = _TMP / name
    p.write_text(text, encoding="utf-8")
    return p


def _report_one_file_many_papers():
    from her2stats.audit import audit_papers
    from her2stats.audit.report import write_report

    a = dict(GOOD, seed="a.txt")
    b = dict(GOOD, seed="b.txt")
    write_report(audit_papers([a, b]), _TMP / "report.html")


def _propose(name: str, text: str):
    from her2stats.audit.text import propose_from_file

    return propose_from_file(_file(name, text))


def _family_sizes():
    spec = _with(p_adjust="fdr_bh")
    spec["p_family"] = ["Table 1", "all"]
    spec["p_family_size"] = [10, 20, 30]
    return audit_table(spec)


E = (None,)
CASES = [
    Case("audit_table/malformed-yaml", lambda e: audit_table(_file("bad.yaml", "rows: [unclosed")), InputError,
         ("bad.yaml", "not valid YAML"), engines=E),
    Case("audit_table/top-level-list", lambda e: audit_table(_file("list.yaml", "- a\n- b\n")), InputError,
         ("list.yaml", "mapping"), engines=E),
    Case("audit_table/missing-file", lambda e: audit_table(_TMP / "nope.yaml"), InputError,
         ("not found", "nope.yaml"), engines=E),
    Case("audit_table/csv-without-columns", lambda e: audit_table(_file("t.csv", "a,b\n1,2\n")), InputError,
         ("t.csv", "table, kind, row"), engines=E),
    Case("audit_table/unknown-kind", lambda e: audit_table(_with(kind="categorial")), InputError,
         ("kind", "categorial"), engines=E),
    Case("audit_table/unknown-test-name", lambda e: audit_table(_with(test="magic test")), InputError,
         ("Sex", "unknown test", "magic test"), engines=E),
    Case("audit_table/unknown-p-adjust", lambda e: audit_table(_with(p_adjust="fdr")), InputError,
         ("Sex", "p_adjust"), engines=E),
    Case("audit_table/unreadable-printed-number", lambda e: audit_table(_with(p="p<0.05")), InputError,
         ("Sex", "printed number", "p<0.05"), engines=E),
    Case("audit_table/counts-vs-groups", lambda e: audit_table(_with(levels=[{"level": "F", "counts": [5]}])),
         InputError, ("Sex", "F", "2 groups"), engines=E),
    Case("audit_table/negative-count", lambda e: audit_table(_with(levels=[{"level": "F", "counts": [-1, 6]}])),
         InputError, ("counts", ">= 0"), engines=E),
    Case("audit_table/no-seed", lambda e: audit_table({k: v for k, v in GOOD.items() if k != "seed"}), InputError,
         ("Table 1", "no seed"), engines=E),
    Case("audit_table/table-without-rows", lambda e: audit_table({"seed": "x.txt", "tables": [{"table": "T9"}]}),
         InputError, ("T9", "no rows", "skip"), engines=E),
    Case("audit_table/skip-with-rows", lambda e: audit_table(dict(GOOD, tables=[dict(GOOD, skip="why")])),
         InputError, ("skip", "rows"), engines=E),
    Case("audit_table/partial-confusion-matrix",
         lambda e: audit_table({"seed": "x.txt", "table": "P", "rows": [{"kind": "diagnostic", "row": "M", "tp": 5,
                                                                          "sensitivity": "0.5", "n": 20}]}),
         InputError, ("M", "tp, fn, fp, tn"), engines=E),
    Case("audit_table/auc-n-and-split",
         lambda e: audit_table({"seed": "x.txt", "table": "P", "rows": [{"kind": "auc", "row": "M", "auc": "0.8",
                                                                          "n_pos": 5, "n_neg": 9, "n": 14}]}),
         InputError, ("M", "not both"), engines=E),
    Case("audit_table/family-sizes-vs-readings", lambda e: _family_sizes(), InputError,
         ("p_family_size", "3 sizes", "2 p_family"), engines=E),
    Case("audit_table/no-files", lambda e: audit_table([]), InputError, ("at least one",), engines=E),
    Case("audit_table/not-a-table", lambda e: audit_table(42), InputError, ("path, a dict",), engines=E),
    Case("write_report/one-html-for-several-papers", lambda e: _report_one_file_many_papers(), InputError,
         ("2 papers", "folder"), engines=E),
    Case("propose_from_file/no-table-caption", lambda e: _propose("plain.txt", "no tables here\n"), InputError,
         ("plain.txt", "no table caption"), engines=E),
    Case("propose_from_file/missing-article", lambda e: __import__("her2stats.audit.text", fromlist=["x"])
         .propose_from_file(_TMP / "absent.txt"), InputError, ("article not found", "absent.txt"), engines=E),
    Case("propose_from_file/not-utf8", lambda e: _propose_bytes(), InputError, ("bin.txt", "UTF-8"), engines=E),
]


def _propose_bytes():
    from her2stats.audit.text import propose_from_file

    p = _TMP / "bin.txt"
    p.write_bytes(b"\xff\xfe\x00Table 1. x")
    return propose_from_file(p)
