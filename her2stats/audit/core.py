"""``audit_table``: recompute every derivable number of a published table.

The table file (YAML, CSV or an already-parsed dict; format in ``SCHEMA.md``) encodes what the
paper prints. Every printed number gets one verdict -- reproduced / not reproduced / not
derivable -- with the method that reproduces it, or the closest candidate and its value. The
rounding rule and the candidate methods are documented in :mod:`her2stats.audit.checks`.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from pydantic import ValidationError

from ..errors import InputError
from ..results import Result
from . import checks
from .schema import (AUCComparisonRow, AUCRow, AuditFile, CategoricalRow, DiagnosticRow, MeanSDRow,
                     MedianIQRRow, RatioRow, Source, TableSpec, VERDICTS)

__all__ = ["AuditResult", "audit_table", "load_table_file", "COLUMNS"]

#: columns of :meth:`AuditResult.to_frame`, in order
COLUMNS = ("table", "section", "row", "level", "group", "quantity", "reported", "recomputed", "verdict",
           "method", "closest_candidate", "closest_value", "note", "expected", "seed", "source_table",
           "source_row")

_RANK_TESTS = ("wilcoxon", "mann", "kruskal", "rank", "median test")


@dataclass(frozen=True, repr=False)
class AuditResult(Result):
    """Verdicts on every number of one or more published tables.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per printed number, columns :data:`COLUMNS`. ``verdict`` is "reproduced",
        "not reproduced" or "not derivable"; ``expected`` is the encoder's documented expectation
        (empty unless the table file records a known misprint).
    title : str
    path : str or None
        The table file audited.
    """

    frame: pd.DataFrame
    title: str
    path: str | None = None
    method: str = "published-table audit"

    def _title(self) -> str:
        c = self.counts
        return (f"AuditResult: {self.title} -- " + ", ".join(f"{c[v]} {v}" for v in VERDICTS))

    def to_frame(self) -> pd.DataFrame:
        return self.frame.copy()

    @property
    def counts(self) -> dict[str, int]:
        """Number of printed numbers per verdict."""
        vc = self.frame["verdict"].value_counts()
        return {v: int(vc.get(v, 0)) for v in VERDICTS}

    def summary(self) -> pd.DataFrame:
        """Counts of verdicts per table (and section)."""
        keys = ["table", "section"]
        tab = (self.frame.assign(section=self.frame["section"].fillna(""))
               .groupby(keys, sort=False)["verdict"].value_counts().unstack(fill_value=0))
        tab = tab.reindex(columns=list(VERDICTS), fill_value=0).reset_index()
        tab.columns.name = None
        return tab

    def unexpected(self) -> pd.DataFrame:
        """Numbers whose verdict differs from the expectation: "reproduced" unless the file says otherwise.

        "not derivable" verdicts are never unexpected unless the file expects something else.
        """
        f = self.frame
        exp = f["expected"].where(f["expected"] != "", None)
        bad = np.where(exp.notna(), f["verdict"] != exp, f["verdict"] == "not reproduced")
        return f[bad].copy()

    def to_html(self, path: str | Path | None = None) -> str:
        """Self-contained HTML audit report (also written to ``path`` when given)."""
        from .report import render_html

        text = render_html(self)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text


# ----------------------------------------------------------------------------- loading
def _csv_to_dict(text: str, name: str) -> dict:
    """CSV table file -> the YAML structure (see SCHEMA.md, "CSV form")."""
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or not {"table", "kind", "row"} <= set(reader.fieldnames):
        raise InputError(f"{name}: a CSV table file needs the columns table, kind, row "
                         f"(found {reader.fieldnames})")

    def cell(v: str) -> Any:
        v = v.strip()
        if v[:1] in "[{":
            try:
                return yaml.safe_load(v)
            except yaml.YAMLError as exc:
                raise InputError(f"{name}: cannot read cell {v!r} as a YAML list/mapping: {exc}") from exc
        return v

    tables: dict[tuple[str, str], dict] = {}
    top: dict[str, Any] = {}
    for lineno, raw in enumerate(reader, start=2):
        vals = {k: cell(v) for k, v in raw.items() if k and v is not None and v.strip() != ""}
        if not vals:
            continue
        for key in ("title",):
            if key in vals:
                top[key] = vals.pop(key)
        tkey = (str(vals.get("table", "")), str(vals.get("section", "")))
        spec = tables.setdefault(tkey, {"table": tkey[0], "rows": []})
        if tkey[1]:
            spec["section"] = tkey[1]
        vals.pop("table", None)
        vals.pop("section", None)
        for key in ("seed", "groups", "rounding"):
            if key in vals:
                spec[key] = vals.pop(key)
        level = vals.pop("level", None)
        src = {k[len("source_"):]: vals.pop(k) for k in list(vals) if k.startswith("source_")}
        if src:
            vals["source"] = src
        rows = spec["rows"]
        if vals.get("kind") == "categorical" and level is not None:
            lv = {"level": level}
            for key in ("counts", "percents"):
                if key in vals:
                    lv[key] = vals.pop(key)
            if rows and rows[-1].get("kind") == "categorical" and rows[-1]["row"] == vals.get("row"):
                rows[-1]["levels"].append(lv)
                for k, v in vals.items():
                    rows[-1].setdefault(k, v)
                continue
            vals["levels"] = [lv]
        elif level is not None:
            raise InputError(f"{name}, line {lineno}: `level` is only for categorical rows")
        rows.append(vals)
    return {**top, "tables": list(tables.values())}


def load_table_file(source: str | Path | dict | AuditFile) -> tuple[AuditFile, str | None]:
    """Read and validate a table file (YAML or CSV path, a dict, or an :class:`AuditFile`)."""
    if isinstance(source, AuditFile):
        return source, None
    name = None
    if isinstance(source, (str, Path)):
        path = Path(source)
        name = str(path)
        if not path.is_file():
            raise InputError(f"table file not found: {path}")
        text = path.read_text(encoding="utf-8")
        if path.suffix.lower() == ".csv":
            data = _csv_to_dict(text, name)
        else:
            try:
                data = yaml.safe_load(text)
            except yaml.YAMLError as exc:
                raise InputError(f"{path}: not valid YAML: {exc}") from exc
    elif isinstance(source, dict):
        data = source
    else:
        raise InputError(f"audit_table needs a path, a dict or an AuditFile, got {type(source).__name__}")
    if not isinstance(data, dict):
        raise InputError(f"{name or 'table file'}: expected a mapping at top level (title/seed/tables), "
                         f"got {type(data).__name__}")
    try:
        return AuditFile.model_validate(data), name
    except ValidationError as exc:
        lines = []
        for err in exc.errors()[:8]:
            loc = _describe_loc(data, err["loc"])
            lines.append(f"  {loc}: {err['msg']}" + (f" (value {err['input']!r})" if "input" in err and
                                                     not isinstance(err["input"], (dict, list)) else ""))
        raise InputError(f"{name or 'table file'} does not follow the table-file schema (SCHEMA.md):\n"
                         + "\n".join(lines)) from None


def _describe_loc(data: Any, loc: tuple) -> str:
    """Readable location of a validation error: table and row names instead of list indices."""
    parts, node = [], data
    for key in loc:
        if isinstance(node, list) and isinstance(key, int) and key < len(node):
            node = node[key]
            label = node.get("row") or node.get("table") or node.get("level") if isinstance(node, dict) else None
            parts.append(f"[{label!r}]" if label else f"[{key}]")
        elif isinstance(node, dict) and key in node:
            node = node[key]
            parts.append(str(key))
        else:
            parts.append(str(key))
    return ".".join(parts).replace(".[", "[")


# ----------------------------------------------------------------------------- auditing
def _expected(expect: dict[str, str], rec: dict) -> str:
    q, lv, g = rec["quantity"], rec["level"], rec["group"]
    for key in (f"{q}:{lv}:{g}", f"{q}:{lv}", f"{q}:{g}", q):
        if key in expect:
            return expect[key]
    return ""


def _group_ns(spec: TableSpec, ns: list[int] | None, k: int, row: str) -> list[int]:
    if ns is not None:
        return list(ns)
    if len(spec.groups) != k:
        raise InputError(f"{spec.table} / row {row!r}: {k} group values but the table declares "
                         f"{len(spec.groups)} groups; declare `groups:` or give the row `ns:`")
    return [g.n for g in spec.groups]


def _group_names(spec: TableSpec, k: int) -> list[str]:
    return [g.name for g in spec.groups] if len(spec.groups) == k else [f"group {i + 1}" for i in range(k)]


def _rank_based(test: str | None) -> bool:
    return bool(test) and any(w in test.lower() for w in _RANK_TESTS)


def _audit_categorical(spec: TableSpec, row: CategoricalRow, rules) -> list[dict]:
    k = len(spec.groups)
    ns = _group_ns(spec, row.ns, k, row.row)
    names = _group_names(spec, k)
    out: list[dict] = []
    totals = []
    for g in range(k):
        col = [lv.counts[g] if lv.counts else None for lv in row.levels]
        totals.append(None if any(c is None for c in col) else int(sum(col)))
    columns: list[list[dict]] = [[] for _ in range(k)]
    for lv in row.levels:
        for g in range(k):
            count = lv.counts[g] if lv.counts else None
            pct = lv.percents[g] if lv.percents else None
            if pct is None:
                continue
            if count is not None:
                rec = checks.check_percent(count, ns[g], pct, rules, level=lv.level, group=names[g],
                                           alt_n=totals[g])
                columns[g].append(rec)
            else:
                rec = checks.grim_percent(pct, ns[g], rules, level=lv.level, group=names[g])
            out.append(rec)
    if "largest_remainder" in rules:
        for g in range(k):
            printed = [lv.percents[g] if lv.percents else None for lv in row.levels]
            col_counts = [lv.counts[g] if lv.counts else None for lv in row.levels]
            if (len(row.levels) >= 2 and all(p is not None for p in printed)
                    and all(c is not None for c in col_counts)
                    and any(r["verdict"] == "not reproduced" for r in columns[g])):
                checks.apply_largest_remainder(columns[g], col_counts, ns[g], printed)
    if len(row.levels) >= 2:
        for g in range(k):
            if totals[g] is not None:
                out.append(checks.check_total([lv.counts[g] for lv in row.levels], ns[g], group=names[g]))
    if row.p is not None:
        if any(t is None for t in totals):
            out.append(checks.record("p", row.p, "not derivable", note="counts not printed for every level"))
        else:
            table = np.array([lv.counts for lv in row.levels], dtype=float)
            cands, notes = checks.count_test_candidates(table)
            out.append(checks.check_p(row.p, {c: (v, v, v) for c, v in cands.items()}, rules, stated=row.test,
                                      p_adjust=row.p_adjust, extra_note="; ".join(notes)))
    return out


def _audit_mean_sd(spec: TableSpec, row: MeanSDRow, rules) -> list[dict]:
    k = len(row.means)
    ns = _group_ns(spec, row.ns, k, row.row)
    names = _group_names(spec, k)
    out: list[dict] = []
    for g in range(k):
        if row.granularity is None:
            out.append(checks.record("mean", row.means[g], "not derivable", group=names[g], method="GRIM",
                                     note="no data granularity declared (e.g. `granularity: 1` for whole years)"))
            out.append(checks.record("SD", row.sds[g], "not derivable", group=names[g], method="GRIMMER",
                                     note="no data granularity declared"))
            continue
        rec, sums = checks.grim_mean(row.means[g], ns[g], row.granularity, rules, group=names[g])
        out.append(rec)
        out.append(checks.grimmer_sd(row.means[g], row.sds[g], ns[g], row.granularity, sums, group=names[g]))
    if row.p is not None:
        extra = ""
        try:
            cands = checks.summary_test_candidates(row.means, row.sds, ns) if k >= 2 else {}
        except InputError as exc:  # e.g. every SD printed as 0: the t statistic is undefined
            cands, extra = {}, f"no test from these summaries: {exc}"
        rec = checks.check_p(row.p, cands, rules, stated=row.test, p_adjust=row.p_adjust, extra_note=extra)
        if _rank_based(row.test) and rec["verdict"] != "reproduced" and row.p_adjust == "none":
            rec.update(verdict="not derivable", closest_candidate="", closest_value=None,
                       note=rec["note"] + f"; {row.test} needs the data")
        out.append(rec)
    return out


def _audit_median(spec: TableSpec, row: MedianIQRRow, rules) -> list[dict]:
    k = len(row.medians)
    ns = _group_ns(spec, row.ns, k, row.row)
    names = _group_names(spec, k)
    out: list[dict] = []
    for g in range(k):
        if row.granularity is not None:
            out.append(checks.median_granularity(row.medians[g], ns[g], row.granularity, rules, group=names[g]))
        else:
            out.append(checks.record("median", row.medians[g], "not derivable", group=names[g],
                                     note="a median needs the data (declare `granularity` for a grid check)"))
        for qname, qs in (("Q1", row.q1s), ("Q3", row.q3s)):
            if qs is not None:
                out.append(checks.record(qname, qs[g], "not derivable", group=names[g],
                                         note="quartiles need the data and depend on the quantile definition"))
    if row.p is not None:
        out.append(checks.record("p (adjusted)" if row.p_adjust != "none" else "p", row.p, "not derivable",
                                 note=(f"stated test: {row.test}; " if row.test else "")
                                 + "a test on medians/IQRs (Mann-Whitney, Kruskal-Wallis) needs the data"))
    return out


def _audit_row(spec: TableSpec, row: Any) -> list[dict]:
    rules = spec.rounding
    if isinstance(row, CategoricalRow):
        return _audit_categorical(spec, row, rules)
    if isinstance(row, MeanSDRow):
        return _audit_mean_sd(spec, row, rules)
    if isinstance(row, MedianIQRRow):
        return _audit_median(spec, row, rules)
    if isinstance(row, AUCRow):
        if row.ci is None:
            return [checks.record("AUC", row.auc, "not derivable", note="the AUC needs the case-level scores")]
        return checks.check_auc_ci(row.auc, row.ci, row.n_pos, row.n_neg, row.level, rules, row.ci_method)
    if isinstance(row, DiagnosticRow):
        return checks.recover_confusion(row.n_pos, row.n_neg, checks.printed_metrics(row), rules)
    if isinstance(row, RatioRow):
        return checks.check_ratio(row.measure, row.estimate, row.ci, row.p, row.level, rules)
    if isinstance(row, AUCComparisonRow):
        return [checks.check_auc_comparison(row.auc1, row.auc2, row.n_pos, row.n_neg, row.p, row.paired, rules,
                                            row.test)]
    raise InputError(f"unknown row kind {type(row).__name__}")  # unreachable: pydantic discriminates


def audit_table(table: str | Path | dict | AuditFile) -> AuditResult:
    """Audit a published table: one verdict per printed number.

    Parameters
    ----------
    table : path, dict or AuditFile
        A table file (YAML or CSV; schema in ``her2stats/audit/SCHEMA.md``) or its parsed content.

    Returns
    -------
    AuditResult
        ``.to_frame()`` has one row per printed number with the columns :data:`COLUMNS`.

    Notes
    -----
    Percentages: ``100 k / n`` (else GRIM for a count). Counts: they must add up to the group n.
    Means/SDs of data on a declared grid: GRIM (Brown & Heathers 2017) and GRIMMER (Anaya 2016).
    p-values: candidate tests from :mod:`her2stats.stats.htest` -- chi-square with/without
    Yates, Fisher exact (2x2 and r x c), z-test of proportions, Student/Welch t and one-way ANOVA
    from summaries. AUC CIs: exact binomial and Hanley-McNeil (1982) via
    :func:`her2stats.stats.roc.auc_ci_from_summary`; DeLong needs the scores. Rates: the
    confusion matrix is recovered from the rates and n's. HR/OR: CI midpoint and Wald p on the
    log scale. The rounding rule: a value reproduces "0.761" if it rounds to 0.761
    (``|x - 0.761| <= 0.0005``); "<0.001" is reproduced by any value below 0.001.

    Examples
    --------
    >>> res = audit_table({"seed": "001_2cf1bf6205c200af.txt", "table": "Table 1",
    ...     "groups": [{"name": "Train", "n": 149}, {"name": "Test", "n": 48}],
    ...     "rows": [{"kind": "categorical", "row": "Location", "p": "0.761",
    ...               "levels": [{"level": "Left", "counts": [78, 27], "percents": ["52", "56"]},
    ...                          {"level": "Right", "counts": [71, 21], "percents": ["48", "44"]}]}]})
    >>> res.frame.loc[res.frame.quantity == "p", ["verdict", "method"]].iloc[0].tolist()
    ['reproduced', 'chi-square (Yates), z-test of proportions (continuity)']

    R parity: ``chisq.test(matrix(c(78, 27, 71, 21), 2, byrow = TRUE))$p.value`` is 0.7605.
    """
    spec_file, path = load_table_file(table)
    records: list[dict] = []
    for spec in spec_file.tables:
        seed = spec.seed or spec_file.seed
        for row in spec.rows:
            src = row.source or Source(seed=seed, table=spec.table, row=row.row)
            for rec in _audit_row(spec, row):
                rec.update(table=spec.table, section=spec.section or "", row=row.row,
                           expected=_expected(row.expect, rec), seed=src.seed, source_table=src.table,
                           source_row=src.row or row.row)
                if row.note:
                    rec["note"] = "; ".join(x for x in (rec["note"], row.note) if x)
                records.append(rec)
    frame = pd.DataFrame.from_records(records, columns=list(COLUMNS))
    for c in ("recomputed", "closest_value"):
        frame[c] = pd.to_numeric(frame[c], errors="coerce")
    title = spec_file.title or ", ".join(dict.fromkeys(t.table for t in spec_file.tables))
    return AuditResult(frame=frame, title=title, path=path)
