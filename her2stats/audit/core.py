"""``audit_table``: recompute every derivable number of a published table.

The table file (YAML, CSV or an already-parsed dict; format in ``SCHEMA.md``) encodes what the
paper prints. Every printed number gets one verdict -- reproduced / not reproduced / not
derivable -- with the method that reproduces it, or the closest candidate and its value. The
rounding rule and the candidate methods are documented in :mod:`her2stats.audit.checks`.
"""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from pydantic import ValidationError

from ..errors import InputError
from ..results import Result
from . import checks
from .schema import (AUCComparisonRow, AUCRow, AuditFile, CalibrationRow, CategoricalRow, CStatisticRow,
                     DifferenceRow, DiagnosticRow, MeanSDRow, MedianIQRRow, Printed, PValueRow, RatioRow,
                     Source, TableSpec, TotalRow, VERDICTS, apply_decimals)

__all__ = ["AuditResult", "audit_table", "audit_papers", "load_table_file", "COLUMNS", "CONSISTENCY_COLUMNS"]

#: columns of :meth:`AuditResult.to_frame`, in order
COLUMNS = ("table", "section", "row", "level", "group", "quantity", "reported", "recomputed", "verdict",
           "method", "closest_candidate", "closest_value", "note", "flag", "expected", "seed", "source_table",
           "source_row")

#: columns of :attr:`AuditResult.consistency`: one row per pair of printings of the same number
CONSISTENCY_COLUMNS = ("key", "quantity", "level", "group", "table_a", "section_a", "row_a", "reported_a",
                       "table_b", "section_b", "row_b", "reported_b", "verdict", "note", "seed")

#: columns of :attr:`AuditResult.tables`: every table encoded, with its number of audited numbers
TABLE_COLUMNS = ("seed", "table", "section", "rows", "numbers", "skip")

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
    #: pairs of printings of the same comparison (rows sharing a ``key``; diagnostic rows sharing
    #: a ``cohort``): "consistent" or "contradiction" (columns :data:`CONSISTENCY_COLUMNS`)
    consistency: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(CONSISTENCY_COLUMNS)))
    #: every table encoded, including those without auditable numbers (columns :data:`TABLE_COLUMNS`)
    tables: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(TABLE_COLUMNS)))

    def _title(self) -> str:
        c = self.counts
        text = f"AuditResult: {self.title} -- " + ", ".join(f"{c[v]} {v}" for v in VERDICTS)
        k = len(self.contradictions())
        return text + (f"; {k} contradiction{'s' if k != 1 else ''} between tables" if k else "")

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

    def contradictions(self) -> pd.DataFrame:
        """Pairs of printings of the same comparison that no single value can satisfy."""
        c = self.consistency
        return c[c["verdict"] == "contradiction"].copy()

    def findings(self) -> pd.DataFrame:
        """Numbers that are not reproduced or flagged implausible, worst first (see :func:`severity`)."""
        f = self.frame
        sel = f[(f["verdict"] == "not reproduced") | (f["flag"] != "")].copy()
        sel["severity"] = [severity(r) for r in sel.to_dict("records")]
        return sel.sort_values("severity", ascending=False, kind="stable").reset_index(drop=True)

    def to_html(self, path: str | Path | None = None) -> str:
        """Self-contained HTML audit report, one page (written atomically to ``path`` when given)."""
        from .report import render_html, write_atomic

        text = render_html(self)
        if path is not None:
            write_atomic(Path(path), text)
        return text


def severity(rec: dict) -> float:
    """Order of findings in the report: how far the printed number is from anything that could
    produce it. Impossible values (an estimate outside its CI, counts that do not add up) first,
    then not-reproduced numbers by the log-ratio (p-values) or relative distance to the closest
    candidate, then implausible flags."""
    if rec.get("verdict") != "not reproduced":
        return 0.5 if rec.get("flag") else 0.0
    note = str(rec.get("note") or "")
    impossible = "impossible" in note or str(rec.get("quantity", "")).startswith(
        ("total", "cases", "positives", "negatives", "overall count"))
    base = 100.0 if impossible else 1.0
    try:
        reported = float(str(rec["reported"]).lstrip("<>=≤≥ ").rstrip("%").replace(",", ""))
    except ValueError:
        reported = math.nan
    closest = rec.get("closest_value")
    if closest is None or not np.isfinite(closest) or not np.isfinite(reported):
        closest = rec.get("recomputed")
    if closest is None or not np.isfinite(closest) or not np.isfinite(reported):
        return base
    q = str(rec.get("quantity", ""))
    if q.startswith("p") and reported > 0:
        return base + min(50.0, abs(math.log10(reported) - math.log10(max(closest, 1e-300))))
    return base + abs(reported - closest) / max(abs(reported), abs(closest), 1e-12)


# ----------------------------------------------------------------------------- loading
def _csv_to_dict(text: str, name: str) -> dict:
    """CSV table file -> the YAML structure (see SCHEMA.md, "CSV form")."""
    reader = csv.DictReader(io.StringIO(text))
    needed = {"table", "kind", "row"}
    if not reader.fieldnames or not needed <= set(reader.fieldnames):
        # the header is quoted only when the file is recognisably a table file (never another file's first line)
        found = (f"found {reader.fieldnames}" if reader.fieldnames and needed & set(reader.fieldnames)
                 else f"none of them is among its {len(reader.fieldnames or [])} column(s)")
        raise InputError(f"{name}: a CSV table file needs the columns table, kind, row ({found})")

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
        from ..files import read_text_file, yaml_problem

        path = Path(source)
        name = str(path)
        if not path.exists():
            raise InputError(f"table file not found: {path}")
        text = read_text_file(path, "table file", InputError,
                              kind="CSV table" if path.suffix.lower() == ".csv" else "YAML file")
        if path.suffix.lower() == ".csv":
            data = _csv_to_dict(text, name)
        else:
            try:
                data = yaml.safe_load(text)
            except yaml.YAMLError as exc:  # PyYAML quotes the line: keep only the problem and position
                raise InputError(f"{path}: not valid YAML: {yaml_problem(exc)}") from None
            if isinstance(data, dict) and data and not {"title", "seed", "tables", "rows", "table"} & set(map(str, data)):
                raise InputError(f"{path} is not an audit table file: none of its {len(data)} top-level key(s) is "
                                 f"title, seed or tables (see SCHEMA.md)")
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
@dataclass
class _PInfo:
    """A p-value awaiting its family's multiplicity check: where it is, its raw-p bounds."""

    record: dict
    printed: Printed
    method: str
    raw: tuple[float, float]
    exact: bool
    families: list[str]
    family_sizes: list[int | None]


@dataclass
class _Context:
    """What the row checks leave for the checks across rows."""

    pending: list[_PInfo] = field(default_factory=list)
    #: (cohort, where, description, set of feasible numbers of positives)
    cohorts: list[tuple[str, tuple, str, set]] = field(default_factory=list)
    #: (key, where, comparable numbers)
    keyed: list[tuple[str, tuple, dict]] = field(default_factory=list)


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


def _table_p_decimals(spec: TableSpec) -> int | None:
    """Precision of the table's p-values: its declared ``decimals``, else the most precise p printed."""
    if spec.decimals is not None:
        return spec.decimals
    ds = [r.p.decimals for r in spec.rows if getattr(r, "p", None) is not None and r.p.relation == "="
          and r.p.value != 0]
    ds += [r.p.decimals for r in spec.rows if getattr(r, "p", None) is not None and r.p.relation != "="]
    return max(ds) if ds else None


def _p_record(ctx: _Context, spec: TableSpec, row: Any, candidates: dict[str, tuple[float, float, float]],
              rules, *, extra_note: str = "", rank: tuple[float, str] | None = None,
              raw_override: tuple[float, float] | None = None) -> dict:
    """The verdict on a row's printed p: now (unadjusted) or after its family (adjusted)."""
    p, note0 = checks.zero_p_precision(row.p, _table_p_decimals(spec))
    if p.relation == "=" and p.value == 0 and p.decimals == 0:
        return checks.record("p", row.p, "not derivable",
                             note="a p printed as '0' with no stated precision (declare the table's `decimals`)")
    extra = "; ".join(x for x in (note0, extra_note) if x)
    if row.p_adjust == "none":
        return checks.check_p(p, candidates, rules, stated=row.test, extra_note=extra, rank=rank)
    # multiplicity-adjusted: bounds of the raw p, judged with the whole family later
    stated = checks.stated_tests(row.test, candidates)
    pool = stated or list(candidates)
    if raw_override is not None:
        raw, exact = raw_override, raw_override[0] == raw_override[1]
    elif pool:
        lo = min(candidates[k][1] for k in pool)
        hi = max(candidates[k][2] for k in pool)
        if rank is not None:
            lo, hi = min(lo, rank[0]), 1.0
        raw, exact = (lo, hi), (hi - lo) <= 1e-15 and len(pool) == 1
    elif rank is not None:
        raw, exact = (rank[0], 1.0), False
    else:
        raw, exact = (0.0, 1.0), False
    listing = "; ".join(f"{k} {checks.fmt_number(v[0])}" + (f" [{checks.fmt_number(v[1])}, {checks.fmt_number(v[2])}]" if v[2] - v[1] > 1e-12 else "")
                        for k, v in candidates.items())
    notes = [x for x in (f"stated test: {row.test}" if row.test else "", f"raw candidates: {listing}" if listing else "",
                         rank[1] if rank else "", extra) if x]
    rec = checks.record("p (adjusted)", row.p, "not derivable", recomputed=candidates[pool[0]][0] if pool else None,
                        note="; ".join(notes))
    fams = _families(spec)
    sizes = spec.p_family_size if isinstance(spec.p_family_size, list) else [spec.p_family_size] * len(fams)
    if len(sizes) != len(fams):
        raise InputError(f"{spec.table}: p_family_size gives {len(sizes)} sizes for {len(fams)} p_family readings")
    ctx.pending.append(_PInfo(rec, p, row.p_adjust, raw, exact, fams, list(sizes)))
    return rec


def _families(spec: TableSpec) -> list[str]:
    default = f"{spec.table} / {spec.section}" if spec.section else spec.table
    if spec.p_family is None:
        return [default]
    return [spec.p_family] if isinstance(spec.p_family, str) else list(spec.p_family)


def _audit_categorical(ctx: _Context, spec: TableSpec, row: CategoricalRow, rules) -> list[dict]:
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
                                           alt_n=None if row.complement else totals[g])
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
    if len(row.levels) >= 2 and not row.complement:
        for g in range(k):
            if totals[g] is not None:
                out.append(checks.check_total([lv.counts[g] for lv in row.levels], ns[g], group=names[g]))
    # the "All" column
    for lv in row.levels:
        if lv.total is not None and lv.counts and all(c is not None for c in lv.counts):
            rec = checks.check_total(lv.counts, lv.total, group="All") | {"level": lv.level, "quantity": "overall count"}
            rec["method"] = "sum of the group counts" if rec["verdict"] == "reproduced" else ""
            out.append(rec)
        if lv.total_percent is not None and lv.total is not None and spec.overall_n:
            out.append(checks.check_percent(lv.total, spec.overall_n, lv.total_percent, rules, level=lv.level,
                                            group="All"))
    if row.p is not None:
        # count options per cell: printed counts, or every count whose percentage prints as printed
        options: list[list[list[int]]] = []
        missing = False
        from_pct = False
        for lv in row.levels:
            opts = []
            for g in range(k):
                c = lv.counts[g] if lv.counts else None
                pct = lv.percents[g] if lv.percents else None
                if c is not None:
                    opts.append([int(c)])
                elif pct is not None:
                    opts.append(checks.percent_count_options(pct, ns[g], rules))
                    from_pct = True
                else:
                    missing = True
                    opts.append([])
            options.append(opts)
        if row.complement:
            options = [[list(o) for o in lv_opts] for lv_opts in options]
            rest = []
            for g in range(k):
                if len(row.levels) == 1:
                    rest.append(sorted({ns[g] - c for c in options[0][g]}))
                else:
                    rest.append([])
            if len(row.levels) == 1:
                options.append(rest)
        if missing or any(len(o) == 0 for lv_opts in options for o in lv_opts):
            out.append(checks.record("p", row.p, "not derivable", note="counts not printed for every level"))
        elif all(len(o) == 1 for lv_opts in options for o in lv_opts):
            table = np.array([[o[0] for o in lv_opts] for lv_opts in options], dtype=float)
            cands, notes = checks.count_test_candidates(table)
            if from_pct:
                notes = notes + ["counts recovered from the printed percentages (GRIM: one count each)"]
            out.append(_p_record(ctx, spec, row, {c: (v, v, v) for c, v in cands.items()}, rules,
                                 extra_note="; ".join(notes)))
        else:
            cands, notes = checks.count_test_ranges(options)
            rec = _p_record(ctx, spec, row, cands, rules, extra_note="; ".join(
                notes + ["counts recovered from the printed percentages (GRIM)"]))
            if rec["verdict"] == "reproduced" and "within rounding" in rec["method"]:
                rec["method"] = rec["method"].replace("within rounding of the printed summaries",
                                                      "for counts consistent with the printed percentages")
            out.append(rec)
    return out


def _audit_mean_sd(ctx: _Context, spec: TableSpec, row: MeanSDRow, rules) -> list[dict]:
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
    if row.overall_mean is not None or row.overall_sd is not None:
        out += checks.check_pooled_mean_sd(row.means, row.sds, ns, row.overall_mean, row.overall_sd, rules)
    if row.p is not None:
        extra = ""
        try:
            cands = checks.summary_test_candidates(row.means, row.sds, ns) if k >= 2 else {}
        except InputError as exc:  # e.g. every SD printed as 0: the t statistic is undefined
            cands, extra = {}, f"no test from these summaries: {exc}"
        stated_t = bool(checks.stated_tests(row.test, cands))
        rank = checks.rank_note(ns) if (k >= 2 and (not row.test or _rank_based(row.test))) else None
        if rank is not None and not row.test:
            extra = "; ".join(x for x in (extra, "no test stated: t-tests and rank tests tried") if x)
        if stated_t and not _rank_based(row.test):
            rank = None
        out.append(_p_record(ctx, spec, row, cands, rules, extra_note=extra, rank=rank))
    return out


def _audit_median(ctx: _Context, spec: TableSpec, row: MedianIQRRow, rules) -> list[dict]:
    k = len(row.medians)
    ns = _group_ns(spec, row.ns, k, row.row)
    names = _group_names(spec, k)
    out: list[dict] = []
    for g in range(k):
        q1 = row.q1s[g] if row.q1s is not None else None
        q3 = row.q3s[g] if row.q3s is not None else None
        med = row.medians[g]
        order = [f"Q1 {q1} > median {med}" for _ in [0] if q1 is not None and q1.interval[0] > med.interval[1] + 1e-12]
        order += [f"median {med} > Q3 {q3}" for _ in [0] if q3 is not None and med.interval[0] > q3.interval[1] + 1e-12]
        if order:
            out.append(checks.record("median", med, "not reproduced", group=names[g], method="quartile order",
                                     note="impossible: " + "; ".join(order)))
        elif row.granularity is not None:
            out.append(checks.median_granularity(med, ns[g], row.granularity, rules, group=names[g]))
        else:
            out.append(checks.record("median", med, "not derivable", group=names[g],
                                     method="quartile order: Q1 <= median <= Q3" if (q1 or q3) else "",
                                     note="a median needs the data (declare `granularity` for a grid check)"))
        for qname, qs in (("Q1", row.q1s), ("Q3", row.q3s)):
            if qs is not None:
                out.append(checks.record(qname, qs[g], "not derivable", group=names[g],
                                         note="quartiles need the data and depend on the quantile definition"))
    if row.p is not None:
        rank = checks.rank_note(ns) if k >= 2 else None
        note = (f"stated test: {row.test}; " if row.test else "") + \
            "a test on medians/IQRs (Mann-Whitney, Kruskal-Wallis) needs the data"
        if row.p_adjust != "none":
            out.append(_p_record(ctx, spec, row, {}, rules, rank=rank, extra_note=note))
        else:
            rec = _p_record(ctx, spec, row, {}, rules, rank=rank)
            rec["note"] = "; ".join(x for x in (note, rec["note"]) if x)
            out.append(rec)
    return out


def _audit_diagnostic(ctx: _Context, spec: TableSpec, row: DiagnosticRow, rules, where: tuple) -> list[dict]:
    printed = checks.printed_metrics(row)
    counts = None
    out: list[dict] = []
    feasible: set | None = None
    desc = ""
    if row.tp is not None:
        counts = (row.tp, row.fn, row.fp, row.tn)
        out += checks.check_confusion_counts(row.tp, row.fn, row.fp, row.tn, printed, rules, n_pos=row.n_pos,
                                             n_neg=row.n_neg, n=row.n)
        feasible = {row.tp + row.fn}
        desc = f"printed matrix TP+FN = {row.tp + row.fn} of {sum(counts)}"
    elif row.n_pos is not None:
        out += checks.recover_confusion(row.n_pos, row.n_neg, printed, rules)
        feasible = {row.n_pos}
        desc = f"n_pos = {row.n_pos} of {row.n_pos + row.n_neg}"
        m = next((r["method"] for r in out if r["verdict"] == "reproduced" and "TP=" in r["method"]), "")
        if m:
            import re as _re
            cells = dict((a, int(b)) for a, b in _re.findall(r"(TP|FN|FP|TN)=(\d+)", m))
            counts = (cells["TP"], cells["FN"], cells["FP"], cells["TN"])
    elif row.n is not None or row.class_sizes is not None:
        n = row.n if row.n is not None else sum(row.class_sizes)
        recs, splits = checks.recover_confusion_any_split(n, printed, rules, row.class_sizes)
        out += recs
        feasible = set(splits)
        desc = (f"rates fit n_pos in {{{checks.fmt_ranges(splits)}}} of n = {n}" if splits
                else f"no split of n = {n} fits the rates")
        if len(splits) == 1:
            m = next((r["method"] for r in recs if r["verdict"] == "reproduced" and "TP=" in r["method"]), "")
            if m:
                import re as _re
                cells = dict((a, int(b)) for a, b in _re.findall(r"(TP|FN|FP|TN)=(\d+)", m))
                counts = (cells["TP"], cells["FN"], cells["FP"], cells["TN"])
    else:
        acc = checks.accuracy_between(printed)
        for k, pv in printed.items():
            if k == "accuracy" and acc is not None:
                out.append(acc)
                continue
            scale = checks.printed_scale(pv)
            if pv.relation == "=" and (pv.value < 0 or pv.value > scale):
                out.append(checks.record(k, pv, "not reproduced", note=f"impossible: a proportion lies in [0, {scale:g}]"))
            else:
                out.append(checks.record(k, pv, "not derivable", note="the numbers of positives and negatives are not printed"))
    if row.cis:
        out += checks.check_metric_cis(row.cis, printed, counts, row.level, rules, row.ci_method)
    if row.cohort and feasible is not None:
        ctx.cohorts.append((row.cohort, where, desc, feasible))
    return out


def _audit_auc(row: AUCRow, rules) -> list[dict]:
    if row.ci is None:
        return [checks.record("AUC", row.auc, "not derivable", note="the AUC needs the case-level scores")]
    problems = checks.interval_problems(row.auc, row.ci, (0.0, 1.0))
    if (row.n_pos is None or row.n_neg is None) and row.n is None:
        return ([checks.record("AUC", row.auc, "not derivable", note="the AUC needs the case-level scores")]
                + checks.ci_plausibility("AUC", row.auc, row.ci, (0.0, 1.0),
                                         needs="the scores, or at least the numbers of positives and negatives"))
    if row.n_pos is not None and row.n_neg is not None:
        recs = checks.check_auc_ci(row.auc, row.ci, row.n_pos, row.n_neg, row.level, rules, row.ci_method)
    else:
        recs = checks.check_auc_ci(row.auc, row.ci, row.n, None, row.level, rules, row.ci_method)
    if problems:
        for r in recs:
            if r["quantity"].startswith("CI"):
                r.update(verdict="not reproduced", note="impossible: " + "; ".join(problems) + "; " + r["note"])
    return recs


def _audit_row(ctx: _Context, spec: TableSpec, row: Any, where: tuple) -> list[dict]:
    rules = spec.rounding
    if isinstance(row, CategoricalRow):
        return _audit_categorical(ctx, spec, row, rules)
    if isinstance(row, MeanSDRow):
        return _audit_mean_sd(ctx, spec, row, rules)
    if isinstance(row, MedianIQRRow):
        return _audit_median(ctx, spec, row, rules)
    if isinstance(row, AUCRow):
        return _audit_auc(row, rules)
    if isinstance(row, DiagnosticRow):
        return _audit_diagnostic(ctx, spec, row, rules, where)
    if isinstance(row, RatioRow):
        p = row.p
        extra = ""
        if p is not None:
            p, extra = checks.zero_p_precision(p, _table_p_decimals(spec))
        recs = checks.check_ratio(row.measure, row.estimate, row.ci, p, row.level, rules)
        for r in recs:
            if r["quantity"] == "p":
                r["reported"] = str(row.p)
                if extra:
                    r["note"] = "; ".join(x for x in (extra, r["note"]) if x)
        return recs
    if isinstance(row, AUCComparisonRow):
        return [checks.check_auc_comparison(row.auc1, row.auc2, row.n_pos, row.n_neg, row.p, row.paired, rules,
                                            row.test)]
    if isinstance(row, PValueRow):
        if row.p_adjust != "none":  # a repeat (text): its family is the table's, judged there
            return [checks.record("p (adjusted)", row.p, "not derivable",
                                  note="only the adjusted p-value is printed here"
                                  + ("; compared with the other printings of this comparison" if row.key else ""))]
        note = "only the p-value is printed here" + ("; compared with the other printings of this comparison"
                                                      if row.key else "")
        return [checks.record("p", row.p, "not derivable", note=(f"stated test: {row.test}; " if row.test else "") + note)]
    if isinstance(row, TotalRow):
        rec = checks.check_total(row.parts, row.total, group="")
        rec["method"] = " + ".join(str(x) for x in row.parts) if rec["verdict"] == "reproduced" else ""
        return [rec]
    if isinstance(row, DifferenceRow):
        return [checks.check_difference(row.value, row.a, row.b, rules)]
    if isinstance(row, CStatisticRow):
        return checks.check_c_statistic(row.estimate, row.ci)
    if isinstance(row, CalibrationRow):
        return checks.check_calibration(row, rules)
    raise InputError(f"unknown row kind {type(row).__name__}")  # unreachable: pydantic discriminates


# ----------------------------------------------------------------------------- across rows
def _family_verdicts(ctx: _Context, rules_of: dict[str, Any]) -> None:
    """Judge every multiplicity-adjusted p with its family (rows sharing table + section, or
    ``p_family``): exact when every raw p of the family is derivable, else bounded. With several
    readings of the family (``p_family`` as a list), a p is "reproduced" when one reading
    reproduces it exactly, "not reproduced" when no reading allows it, else "not derivable"."""
    if not ctx.pending:
        return
    n_readings = max(len(m.families) for m in ctx.pending)
    results: dict[int, list[tuple[str, str, float, float, bool]]] = {id(m): [] for m in ctx.pending}
    for r in range(n_readings):
        fams: dict[tuple[str, str], list[tuple[_PInfo, int | None]]] = {}
        for info in ctx.pending:
            i = min(r, len(info.families) - 1)
            fams.setdefault((info.families[i], info.method), []).append((info, info.family_sizes[i]))
        for (family, method), pairs in fams.items():
            members = [m for m, _ in pairs]
            size = max([s or 0 for _, s in pairs] + [len(members)])
            bounds = checks.adjusted_bounds([m.raw for m in members], method, size)
            all_exact = all(m.exact for m in members) and size == len(members)
            label = (f"{method} over a family of {size} p-values ({family})"
                     + ("" if size == len(members) else f", {size - len(members)} of them not printed"))
            for info, (lo, hi) in zip(members, bounds):
                entry = (family, label, lo, hi, all_exact)
                if entry not in results[id(info)]:
                    results[id(info)].append(entry)
    for info in ctx.pending:
        rec, p = info.record, info.printed
        rules = rules_of.get(info.families[0], ("round",))
        readings = results[id(info)]
        raw_txt = f"raw p of this row in [{checks.fmt_number(info.raw[0])}, {checks.fmt_number(info.raw[1])}]"
        exact_hits = [(lab, lo) for fam, lab, lo, hi, ex in readings if ex and checks.matches(lo, p, rules)]
        if exact_hits:
            lab, val = exact_hits[0]
            rec.update(verdict="reproduced", recomputed=val, method=lab)
            continue
        ok = [(lab, lo, hi, ex) for fam, lab, lo, hi, ex in readings if not ex and checks.overlaps(lo, hi, p)]
        spans = "; ".join(f"{lab}: " + (f"{checks.fmt_number(lo)}" if ex else f"[{checks.fmt_number(lo)}, {checks.fmt_number(hi)}]")
                          for fam, lab, lo, hi, ex in readings)
        if ok:
            lab, lo, hi, _ = ok[0]
            rec.update(verdict="not derivable", recomputed=None, method=f"{info.method}-adjusted: consistent (bounded)",
                       note="; ".join(x for x in (rec["note"], f"{raw_txt}; the adjusted p must lie in "
                                                  + spans + " (the family's raw p-values bounded by the printed numbers)")
                                      if x))
            continue
        fam, lab, lo, hi, ex = min(readings, key=lambda e: min(abs(e[2] - p.value), abs(e[3] - p.value)))
        near = lo if (ex or p.value < lo) else hi
        rec.update(verdict="not reproduced", recomputed=near, closest_candidate=lab, closest_value=near,
                   note="; ".join(x for x in (rec["note"], f"{raw_txt}; the adjusted p must lie in " + spans
                                              + ", whatever the underivable raw p-values") if x))


def _cohort_consistency(ctx: _Context, seed_of: dict) -> list[dict]:
    out = []
    by: dict[str, list] = {}
    for cohort, where, desc, feasible in ctx.cohorts:
        if feasible:  # a row whose own rates fit no split is reported by its own verdicts
            by.setdefault(cohort, []).append((where, desc, feasible))
    for cohort, items in by.items():
        for i in range(len(items)):
            for j in range(i + 1, len(items)):
                (wa, da, fa), (wb, db, fb) = items[i], items[j]
                ok = bool(fa & fb)
                out.append({"key": f"cohort: {cohort}", "quantity": "positives in the cohort", "level": "", "group": "",
                            "table_a": wa[0], "section_a": wa[1], "row_a": wa[2], "reported_a": da,
                            "table_b": wb[0], "section_b": wb[1], "row_b": wb[2], "reported_b": db,
                            "verdict": "consistent" if ok else "contradiction",
                            "note": (f"both fit n_pos = {checks.fmt_ranges(sorted(fa & fb))}" if ok else
                                     "the two rows describe the same cases but no number of positives fits both"),
                            "seed": wa[3]})
    return out


def _norm_label(x: str) -> str:
    return " ".join(str(x).lower().replace("–", "-").lstrip("- ").split())


def _comparables(spec: TableSpec, row: Any) -> dict[tuple[str, str, str], Any]:
    """Printed numbers of a row that another printing of the same comparison must match."""
    out: dict[tuple[str, str, str], Any] = {}
    if getattr(row, "p", None) is not None and not isinstance(row, AUCComparisonRow):
        out[("p (adjusted)" if getattr(row, "p_adjust", "none") != "none" else "p", "", "")] = row.p
    if isinstance(row, CategoricalRow):
        names = _group_names(spec, len(spec.groups))
        for lv in row.levels:
            for g, name in enumerate(names):
                if lv.counts and lv.counts[g] is not None:
                    out[("count", _norm_label(lv.level), _norm_label(name))] = int(lv.counts[g])
                if lv.percents and lv.percents[g] is not None:
                    out[("percent", _norm_label(lv.level), _norm_label(name))] = lv.percents[g]
    elif isinstance(row, (MeanSDRow, MedianIQRRow)):
        k = len(row.means if isinstance(row, MeanSDRow) else row.medians)
        names = _group_names(spec, k)
        lists = ({"mean": row.means, "SD": row.sds} if isinstance(row, MeanSDRow)
                 else {"median": row.medians, "Q1": row.q1s, "Q3": row.q3s})
        for q, vals in lists.items():
            for g, v in enumerate(vals or []):
                out[(q, "", _norm_label(names[g]))] = v
    elif isinstance(row, AUCRow):
        out[("AUC", "", "")] = row.auc
        if row.ci:
            out[("CI lower", "AUC", "")], out[("CI upper", "AUC", "")] = row.ci
    elif isinstance(row, DiagnosticRow):
        for k, v in checks.printed_metrics(row).items():
            out[(k, "", "")] = v
        for k, (lo, hi) in row.cis.items():
            out[("CI lower", k, "")], out[("CI upper", k, "")] = lo, hi
    elif isinstance(row, RatioRow):
        out[(row.measure, "", "")] = row.estimate
        out[("CI lower", row.measure, "")], out[("CI upper", row.measure, "")] = row.ci
    elif isinstance(row, AUCComparisonRow):
        out[("p (AUC comparison)", "", "")] = row.p
        out[("AUC", "first", "")], out[("AUC", "second", "")] = row.auc1, row.auc2
    elif isinstance(row, CStatisticRow):
        out[("C-index", "", "")] = row.estimate
        if row.ci:
            out[("CI lower", "C-index", "")], out[("CI upper", "C-index", "")] = row.ci
    elif isinstance(row, DifferenceRow):
        out[("difference", "", "")] = row.value
    return out


def _agree(a: Any, b: Any) -> bool:
    """Whether some value prints both as ``a`` and as ``b`` (counts must be equal)."""
    if isinstance(a, int) and isinstance(b, int):
        return a == b

    def interval(x: Any) -> tuple[float, float, bool, bool]:   # lo, hi, lo open, hi open
        if isinstance(x, int):
            return float(x), float(x), False, False
        lo, hi = x.interval
        return lo, hi, x.relation == ">", x.relation == "<"

    lo_a, hi_a, lo_a_open, hi_a_open = interval(a)
    lo_b, hi_b, lo_b_open, hi_b_open = interval(b)
    eps = 1e-9 * max(1.0, abs(lo_a) if np.isfinite(lo_a) else 1.0, abs(hi_b) if np.isfinite(hi_b) else 1.0)
    lo, hi = max(lo_a, lo_b), min(hi_a, hi_b)
    if lo < hi - eps:
        return True
    if abs(lo - hi) <= eps:   # touching: both ends must be closed there
        lo_open = lo_a_open if lo_a >= lo_b else lo_b_open
        hi_open = hi_a_open if hi_a <= hi_b else hi_b_open
        return not (lo_open or hi_open)
    return False


def _key_consistency(ctx: _Context) -> list[dict]:
    out = []
    by: dict[str, list] = {}
    for key, where, comps in ctx.keyed:
        by.setdefault(key, []).append((where, comps))
    for key, items in by.items():
        for i in range(len(items)):
            for j in range(i + 1, len(items)):
                (wa, ca), (wb, cb) = items[i], items[j]
                for q in [q for q in ca if q in cb]:
                    a, b = ca[q], cb[q]
                    ok = _agree(a, b)
                    out.append({"key": key, "quantity": q[0], "level": q[1], "group": q[2],
                                "table_a": wa[0], "section_a": wa[1], "row_a": wa[2], "reported_a": str(a),
                                "table_b": wb[0], "section_b": wb[1], "row_b": wb[2], "reported_b": str(b),
                                "verdict": "consistent" if ok else "contradiction",
                                "note": "" if ok else f"no value prints both as {a} and as {b}",
                                "seed": wa[3]})
    return out


# ----------------------------------------------------------------------------- entry points
def audit_table(table: str | Path | dict | AuditFile | list) -> AuditResult:
    """Audit a published table: one verdict per printed number.

    Parameters
    ----------
    table : path, dict, AuditFile, or a list of them
        A table file (YAML or CSV; schema in ``her2stats/audit/SCHEMA.md``) or its parsed content.
        A list audits several files of the same paper together, so that rows of different files
        sharing a ``key`` (the same comparison printed twice) are compared.

    Returns
    -------
    AuditResult
        ``.to_frame()`` has one row per printed number with the columns :data:`COLUMNS`;
        ``.consistency`` compares every printing of the same comparison; ``.tables`` lists
        every table encoded.

    Notes
    -----
    Percentages: ``100 k / n`` (else GRIM for a count). Counts: they must add up to the group n.
    Means/SDs of data on a declared grid: GRIM (Brown & Heathers 2017) and GRIMMER (Anaya 2016).
    p-values: candidate tests from :mod:`her2stats.stats.htest` -- chi-square with/without
    Yates, Fisher exact (2x2 and r x c), z-test of proportions, Student/Welch t and one-way ANOVA
    from summaries, and the range a rank test can give at the printed n
    (:func:`her2stats.stats.htest.rank_test_p_range`); adjusted p-values with their family
    (:func:`her2stats.stats.htest.p_adjust` at the bounds of the raw p-values). AUC CIs: exact
    binomial and Hanley-McNeil (1982) via :func:`her2stats.stats.roc.auc_ci_from_summary`;
    DeLong needs the scores. Rates: the confusion matrix is recovered from the rates and n's.
    HR/OR: CI midpoint and Wald p on the log scale. The rounding rule: a value reproduces "0.761"
    if it rounds to 0.761 (``|x - 0.761| <= 0.0005``); "<0.001" is reproduced by any value below
    0.001; a p printed "0.000" (or "0" in a table declaring ``decimals: 3``) by any value below 0.0005.

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
    sources = list(table) if isinstance(table, (list, tuple)) else [table]
    if not sources:
        raise InputError("audit_table needs at least one table file")
    loaded = [load_table_file(s) for s in sources]
    ctx = _Context()
    records: list[dict] = []
    table_rows: list[dict] = []
    rules_of: dict[str, Any] = {}
    for spec_file, _ in loaded:
        for spec in spec_file.tables:
            spec = apply_decimals(spec)
            seed = spec.seed or spec_file.seed
            rules_of[_families(spec)[0]] = spec.rounding
            n_before = len(records)
            for row in spec.rows:
                src = row.source or Source(seed=seed, table=spec.table, row=row.row)
                where = (spec.table, spec.section or "", row.row, seed)
                if row.key:
                    ctx.keyed.append((row.key, where, _comparables(spec, row)))
                for rec in _audit_row(ctx, spec, row, where):
                    rec.setdefault("flag", "")
                    rec.update(table=spec.table, section=spec.section or "", row=row.row, seed=src.seed,
                               source_table=src.table, source_row=src.row or row.row)
                    rec["_expect"] = row.expect
                    if row.note:
                        rec["note"] = "; ".join(x for x in (rec["note"], row.note) if x)
                    records.append(rec)
            table_rows.append({"seed": seed, "table": spec.table, "section": spec.section or "",
                               "rows": len(spec.rows), "numbers": len(records) - n_before, "skip": spec.skip or ""})
    _family_verdicts(ctx, rules_of)
    for rec in records:
        rec["expected"] = _expected(rec.pop("_expect"), rec)
    frame = pd.DataFrame.from_records(records, columns=list(COLUMNS))
    for c in ("recomputed", "closest_value"):
        frame[c] = pd.to_numeric(frame[c], errors="coerce")
    consistency = pd.DataFrame.from_records(_key_consistency(ctx) + _cohort_consistency(ctx, {}),
                                            columns=list(CONSISTENCY_COLUMNS))
    titles = [f.title for f, _ in loaded if f.title]
    title = "; ".join(titles) if titles else ", ".join(dict.fromkeys(t.table for f, _ in loaded for t in f.tables))
    paths = [p for _, p in loaded if p]
    return AuditResult(frame=frame, title=title, path=", ".join(paths) if paths else None,
                       consistency=consistency, tables=pd.DataFrame(table_rows, columns=list(TABLE_COLUMNS)))


def _paper_of(spec_file: AuditFile) -> str:
    return spec_file.seed or spec_file.tables[0].seed or "unknown"


def audit_papers(sources: list, titles: dict[str, str] | None = None) -> dict[str, AuditResult]:
    """Audit table files grouped by paper (their ``seed``): one :class:`AuditResult` per paper,
    with the cross-table consistency checked across all of that paper's files."""
    groups: dict[str, list] = {}
    for s in sources:
        spec_file, _ = load_table_file(s)
        groups.setdefault(_paper_of(spec_file), []).append(s)
    out = {}
    for paper, files in groups.items():
        res = audit_table(files)
        if titles and paper in titles:
            res = AuditResult(frame=res.frame, title=titles[paper], path=res.path, consistency=res.consistency,
                              tables=res.tables)
        out[paper] = res
    return out
