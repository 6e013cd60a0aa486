"""Find the tables of a plain-text article and propose an audit encoding for the user to confirm.

``her2stats audit paper.txt`` reads an article as plain text (the format of PDF/HTML-to-text
exports: the seed papers), finds every table caption ("Table 2 | ...", "Table 1. ...",
"TABLE 3 | ...", "Table S1. ..."), reads the cells that follow in whichever layout the export
used, and writes a draft table file (YAML, schema in ``SCHEMA.md``). Nothing is audited until the
user has checked the draft against the paper: every proposal carries ``# CHECK`` comments where
the reading is uncertain (a label glued to its first number, a test not stated, a class size not
printed), and rows it cannot classify are listed, not guessed.

Layouts recognised:

``cells``      one cell per line, each line starting with a tab, rows separated by blank lines;
``tabs``       one row per line, cells separated by tabs (header on the line after the caption);
``inline``     as ``tabs`` with the header on the caption line (and often a second header line
               giving the groups of each column block);
``flattened``  every cell of the table run together on the caption line without separators
               (numbers are split by their printed precision and the row structure);
``caption``    a caption whose contents are not in the text (a table image): recorded as
               ``skip`` so the encoding still lists it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError

__all__ = ["FoundTable", "find_tables", "propose_encoding", "proposal_yaml", "propose_from_file"]

_CAPTION = re.compile(r"(?i)(?:^|(?<=[.\]\)]))[ \t]*(table)\s+(S?\d+)\s*([.|:])\s*")
_N_IN_HEADER = re.compile(r"\(\s*(?:<i>)?n(?:</i>)?\s*=\s*([\d,]+)[^)]*\)", re.I)
_NUM = r"[-−]?\d+(?:\.\d+)?"
_COUNT_PCT = re.compile(rf"^(?P<prefix>[A-Za-z][^\d]*?\s+in\s+|[≥≤<>]?\s*\d+\s*mm\s+in\s+)?(?P<k>\d[\d,]*)\s*(?:\(\s*(?P<p1>{_NUM})\s*%?\s*\)|,\s*(?P<p2>{_NUM})\s*%)$")
_COUNT_ONLY = re.compile(r"^(?P<k>\d[\d,]*)(?:,\s*0)?$")
_MEAN_SD = re.compile(rf"^(?:mean\s+)?\(?(?P<m>{_NUM})\s*±\s*(?P<s>{_NUM})\)?$", re.I)
_MEDIAN = re.compile(rf"^(?P<m>{_NUM})\s*\(\s*(?P<q1>{_NUM})\s*,\s*(?P<q3>{_NUM})\s*\)$")
_EST_CI = re.compile(rf"^(?P<e>{_NUM})\s*\(\s*(?P<lo>{_NUM})\s*[–\-]\s*(?P<hi>{_NUM})\s*\)+$")
_P = re.compile(r"^(?P<rel><|>|≤|≥)?\s*(?P<v>0?\.\d+|0|1(?:\.0+)?)$")
_MISSING = {"–", "-", "—", "", "--", "*"}


@dataclass
class FoundTable:
    """A table found in the text: its name, caption, layout and raw cells."""

    name: str
    caption: str
    line: int
    layout: str
    header: list[list[str]] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    raw: str = ""


# ----------------------------------------------------------------------------- finding
def _clean(cell: str) -> str:
    cell = re.sub(r"</?i>", "", cell)
    return cell.replace("\u2009", " ").strip()


def find_tables(text: str) -> list[FoundTable]:
    """Every table caption of the article, with the cells that follow it (first caption per name)."""
    lines = text.split("\n")
    found: list[FoundTable] = []
    seen: set[str] = set()
    for i, line in enumerate(lines):
        for m in _CAPTION.finditer(line):
            name = f"Table {m.group(2).upper()}"
            start = m.start(1)
            before = line[:start]
            # a caption starts a line, or follows the end of a figure legend glued to it ("sets.TABLE 3 |")
            if before.strip() and not (m.group(3) == "|" or before.rstrip().endswith(("]", "."))):
                continue
            if before.strip() and m.group(3) != "|" and before[-1:] == " ":
                continue
            if name in seen:
                continue
            rest = line[m.end():]
            seen.add(name)
            found.append(_read_table(name, rest, lines, i))
    return found


def _read_table(name: str, rest: str, lines: list[str], i: int) -> FoundTable:
    if "\t" in rest:  # inline header (seed 002 style)
        caption, _, head = rest.partition("\t")
        header = [[_clean(c) for c in head.split("\t")]]
        rows: list[list[str]] = []
        j = i + 1
        while j < len(lines) and lines[j].startswith("\t"):
            cells = [_clean(c) for c in lines[j].split("\t")[1:]]
            if not rows and any(_N_IN_HEADER.search(c) for c in cells) and not any(_classify(c)[0] != "text" for c in cells if not _N_IN_HEADER.search(c)):
                header.append(cells)
            else:
                rows.append(cells)
            j += 1
        return FoundTable(name, caption.strip(), i + 1, "inline", header, rows)
    if _looks_flattened(rest):
        caption, body = _split_flattened_caption(rest)
        return FoundTable(name, caption, i + 1, "flattened", [], [], raw=body)
    caption = rest.strip()
    j = i + 1
    while j < len(lines) and not lines[j].strip():
        j += 1
    if j < len(lines) and lines[j].startswith("\t") and lines[j].count("\t") == 1:
        groups: list[list[str]] = []
        cur: list[str] = []
        while j < len(lines):
            ln = lines[j]
            if ln.startswith("\t"):
                cur.append(_clean(ln[1:]))
            elif not ln.strip():
                if cur:
                    groups.append(cur)
                    cur = []
            else:
                break
            j += 1
        if cur:
            groups.append(cur)
        groups = [g for g in groups if any(c for c in g)]
        return FoundTable(name, caption, i + 1, "cells", groups[:1], groups[1:])
    if j < len(lines) and lines[j].count("\t") >= 2 and not _CAPTION.match(lines[j]):
        header = [[_clean(c) for c in lines[j].split("\t")]]
        rows = []
        j += 1
        while j < len(lines) and "\t" in lines[j]:
            rows.append([_clean(c) for c in lines[j].split("\t")])
            j += 1
        return FoundTable(name, caption, i + 1, "tabs", header, rows)
    return FoundTable(name, caption, i + 1, "caption")


def _looks_flattened(rest: str) -> bool:
    return bool(re.search(r"(p-value|P value|p value)", rest)) and bool(re.search(r"\d[A-Za-z]|[A-Za-z]\d+\.\d", rest)) \
        and len(rest) > 80


def _split_flattened_caption(rest: str) -> tuple[str, str]:
    m = re.match(r"(.*?\.)\s*(?=[A-Z])(.*)$", rest)
    return (m.group(1).strip(), m.group(2)) if m else (rest[:80], rest)


# ----------------------------------------------------------------------------- cells
def _classify(cell: str) -> tuple[str, dict]:
    c = _clean(cell)
    if c in _MISSING:
        return "missing", {}
    for kind, rx in (("mean_sd", _MEAN_SD), ("median", _MEDIAN), ("est_ci", _EST_CI), ("count_pct", _COUNT_PCT),
                     ("p", _P), ("count", _COUNT_ONLY)):
        m = rx.match(c)
        if m:
            return kind, {k: v for k, v in m.groupdict().items() if v is not None}
    return "text", {"text": c}


def _groups_from_header(header: list[list[str]]) -> tuple[list[dict], list[dict]]:
    """(sections, groups): sections are column blocks ("Training set (n = 613)") each followed by
    a p column; groups are the columns holding group values."""
    top = header[0] if header else []
    groups = []
    for c in (header[-1] if header else []):
        m = _N_IN_HEADER.search(c)
        if m:
            groups.append({"name": _clean(c[:m.start()]).rstrip(" ,") or c, "n": int(m.group(1).replace(",", ""))})
    sections = []
    if len(header) >= 2:
        for c in top:
            m = _N_IN_HEADER.search(c)
            if m:
                sections.append({"name": _clean(c[:m.start()]).strip(), "n": int(m.group(1).replace(",", ""))})
    return sections, groups


def _printed(v: str) -> str:
    return v.replace("−", "-")


# ----------------------------------------------------------------------------- proposals
@dataclass
class _Proposal:
    tables: list[dict]
    checks: list[str]


def _row_dict(kind: str, label: str, **fields: Any) -> dict:
    return {"kind": kind, "row": label, **{k: v for k, v in fields.items() if v is not None}}


def _propose_grouped(t: FoundTable, checks: list[str]) -> list[dict]:
    """Rows of a table whose columns are groups (+ p), in the cells / tabs / inline layouts."""
    sections, groups = _groups_from_header(t.header)
    k = len(groups) // max(len(sections), 1) if sections else len(groups)
    blocks = sections or [{"name": None}]
    if not groups:
        return []
    out_tables = []
    per_block_rows: list[list[dict]] = [[] for _ in blocks]
    current: list[dict | None] = [None for _ in blocks]
    for cells in t.rows:
        if not cells:
            continue
        kinds = [("text", {"text": _clean(cells[0])})] + [_classify(c) for c in cells[1:]]
        lead = []
        for kind, info in kinds:
            if kind == "text" and len(lead) < 2:
                lead.append(info["text"])
            else:
                break
        values = [("count", {"k": i["v"]}) if kd == "p" and re.fullmatch(r"\d+", i.get("v", "")) and not i.get("rel")
                  else (kd, i) for kd, i in kinds[len(lead):]]
        # trailing empty cells carry no value
        while values and values[-1][0] == "missing" and len(values) > len(blocks) * (k + 1):
            values = values[:-1]
        with_p = len(values) == len(blocks) * (k + 1)
        without_p = len(values) == len(blocks) * k
        if not lead and not values:
            continue
        if not (with_p or without_p):
            if lead and all(v[0] == "missing" for v in values) or (lead and not values):
                for b in range(len(blocks)):
                    current[b] = {"kind": "categorical", "row": _var_label(lead[0]), "levels": []}
                    per_block_rows[b].append(current[b])
                continue
            checks.append(f"{t.name}: row {' | '.join(cells)!r} not understood (skipped)")
            continue
        step = k + 1 if with_p else k
        for b in range(len(blocks)):
            chunk = values[b * step:(b + 1) * step]
            gvals, pcell = (chunk[:k], chunk[k]) if with_p else (chunk, None)
            if pcell and pcell[0] == "count":   # a p printed as "0" or "1"
                pcell = ("p", {"v": pcell[1]["k"]})
            p = pcell[1].get("rel", "") + pcell[1]["v"] if pcell and pcell[0] == "p" else None
            level_label = lead[-1] if lead else ""
            var_label = lead[0] if lead else ""
            gkinds = {g[0] for g in gvals}
            if gkinds == {"missing"}:   # a variable header ("Menopausal Status | | | 0.165")
                current[b] = {"kind": "categorical", "row": _var_label(var_label), "levels": []}
                if p is not None:
                    current[b]["p"] = p
                per_block_rows[b].append(current[b])
                continue
            if gkinds <= {"mean_sd", "missing"} and "mean_sd" in gkinds:
                row = _row_dict("mean_sd", _var_label(var_label), means=[_printed(g[1].get("m", "")) for g in gvals],
                                sds=[_printed(g[1].get("s", "")) for g in gvals], p=p)
                per_block_rows[b].append(row)
                current[b] = None
            elif gkinds <= {"median", "missing"} and "median" in gkinds:
                row = _row_dict("median_iqr", _var_label(var_label), medians=[_printed(g[1]["m"]) for g in gvals],
                                q1s=[_printed(g[1]["q1"]) for g in gvals], q3s=[_printed(g[1]["q3"]) for g in gvals], p=p)
                per_block_rows[b].append(row)
                current[b] = None
            elif gkinds <= {"count_pct", "count", "missing"}:
                counts = [int(g[1]["k"].replace(",", "")) if g[0] in ("count_pct", "count") else None for g in gvals]
                pcts = [_printed(g[1].get("p1") or g[1].get("p2")) if g[0] == "count_pct" else None for g in gvals]
                prefixes = {g[1].get("prefix", "").strip() for g in gvals if g[0] == "count_pct"} - {""}
                if prefixes:  # "Present in 810 (63.0%)": one level of a yes/no variable
                    level = re.sub(r"\s+in$", "", sorted(prefixes)[0]).strip()
                    row = _row_dict("categorical", _var_label(var_label), complement=True, p=p,
                                    levels=[{"level": level, "counts": counts, "percents": pcts}])
                    per_block_rows[b].append(row)
                    current[b] = None
                    continue
                if len(lead) >= 2 or (p is not None and len(lead) == 1 and current[b] is None):
                    # a first level printed on the variable's own line
                    if len(lead) >= 2:
                        current[b] = {"kind": "categorical", "row": _var_label(lead[0]), "levels": []}
                        per_block_rows[b].append(current[b])
                    else:
                        current[b] = {"kind": "categorical", "row": _var_label(lead[0]), "levels": []}
                        per_block_rows[b].append(current[b])
                if current[b] is None:
                    current[b] = {"kind": "categorical", "row": _var_label(level_label), "levels": []}
                    per_block_rows[b].append(current[b])
                    checks.append(f"{t.name}: level {level_label!r} has no variable header; proposed as its own row")
                current[b]["levels"].append({"level": _level_label(level_label), "counts": counts, "percents": pcts})
                if p is not None:
                    current[b]["p"] = p
            elif gkinds <= {"p", "missing"} and p is None and with_p is False:
                checks.append(f"{t.name}: row {var_label!r} holds bare numbers; skipped")
            else:
                if lead and all(g[0] == "missing" for g in gvals):
                    current[b] = {"kind": "categorical", "row": _var_label(var_label), "levels": []}
                    if p is not None:
                        current[b]["p"] = p
                    per_block_rows[b].append(current[b])
                    continue
                checks.append(f"{t.name}: row {' | '.join(cells)!r} mixes cell kinds; skipped")
    for b, block in enumerate(blocks):
        rows = [r for r in per_block_rows[b] if r["kind"] != "categorical" or r["levels"]]
        for r in rows:
            if r["kind"] == "categorical":
                for lv in r["levels"]:
                    if all(x is None for x in lv["percents"]):
                        lv.pop("percents")
        if not rows:
            continue
        spec = {"table": t.name, "groups": groups[b * k:(b + 1) * k], "rows": rows}
        if block["name"]:
            spec["section"] = block["name"]
        out_tables.append(spec)
    return out_tables


def _var_label(s: str) -> str:
    return re.sub(r",\s*n\s*\(%\)$", "", s).strip()


def _level_label(s: str) -> str:
    return re.sub(r"^-\s*", "", s).strip()


_METRIC_WORDS = {"sensitivity": "sensitivity", "specificity": "specificity", "accuracy": "accuracy",
                 "negative predictive value": "npv", "positive predictive value": "ppv", "npv": "npv", "ppv": "ppv",
                 "f1": "f1"}


def _propose_performance(t: FoundTable, checks: list[str]) -> list[dict]:
    """Rows of a performance table (columns are metrics "est (lo-hi)"): AUC and diagnostic rows."""
    head = t.header[0]
    cols = []
    for c in head[1:]:
        lc = c.lower()
        if "area under" in lc or lc.startswith("auc"):
            cols.append("auc")
        else:
            cols.append(next((v for w, v in _METRIC_WORDS.items() if lc.startswith(w)), None))
    sections: dict[str, list[dict]] = {}
    section = ""
    for cells in t.rows:
        cells = list(cells)
        if len(cells) == len(head) + 1:
            section = cells[0]
            cells = cells[1:]
        label = cells[0]
        vals = cells[1:]
        auc_row = None
        metrics: dict[str, str] = {}
        cis: dict[str, list[str]] = {}
        for col, v in zip(cols, vals):
            m = _EST_CI.match(_clean(v))
            if not col or not m:
                continue
            e, lo, hi = (_printed(m.group(x)) for x in ("e", "lo", "hi"))
            if col == "auc":
                auc_row = _row_dict("auc", label, auc=e, ci=[lo, hi], ci_method="not stated")
            else:
                metrics[col], cis[col] = e, [lo, hi]
        rows = sections.setdefault(section, [])
        if auc_row:
            rows.append(auc_row)
        if metrics:
            rows.append(_row_dict("diagnostic", label, **metrics, cis=cis, ci_method="not stated"))
    if sections:
        checks.append(f"{t.name}: the numbers of positives and negatives are not in the table: add `n_pos`/`n_neg` "
                      "(or `n`, or `class_sizes`) to the auc and diagnostic rows to recompute CIs and confusion matrices")
    return [{"table": t.name, **({"section": s} if s else {}), "rows": rows} for s, rows in sections.items() if rows]


# ----------------------------------------------------------------------------- flattened tables
_FLAT_NUM = re.compile(r"\d+(?:\.\d+)?")


def _split_glued(digits: str, n_values: int, max_dec: int, chunk_ok=None, chunk: int = 4) -> list[list[str]]:
    """Every way to cut ``digits`` ("0.2630.1740.39800.601...") into ``n_values`` numbers with at
    most ``max_dec`` decimals, no leading zeros, no trailing decimal zero (trailing zeros are
    dropped by the printing software) and a decimal point unless the number is 0 or 1.
    ``chunk_ok`` prunes: it is called on every completed group of ``chunk`` numbers."""
    tok = re.compile(rf"^(0|[1-9]\d*)(\.\d{{1,{max_dec}}})?$")
    out: list[list[str]] = []

    def rec(pos: int, acc: list[str]) -> None:
        if len(out) > 20:
            return
        if len(acc) == n_values:
            if pos == len(digits):
                out.append(list(acc))
            return
        for end in range(pos + 1, min(len(digits), pos + 12) + 1):
            piece = digits[pos:end]
            if not tok.match(piece) or ("." in piece and piece.endswith("0")):
                continue
            if "." not in piece and piece not in ("0", "1"):
                continue
            nxt = acc + [piece]
            if chunk_ok is not None and len(nxt) % chunk == 0 and not chunk_ok(nxt[-chunk:]):
                continue
            rec(end, nxt)

    rec(0, [])
    return out


def _propose_flattened(t: FoundTable, checks: list[str]) -> list[dict]:
    body = t.raw
    if re.search(r"\bOR\b|lower 95%CI", body):
        return _propose_flat_ratios(t, body, checks)
    return _propose_flat_summary(t, body, checks)


def _propose_flat_ratios(t: FoundTable, body: str, checks: list[str]) -> list[dict]:
    """"Feature nameORlower 95%CIupper 95%CIp-value..." rows: OR, CI, p (4 or 8 numbers per row)."""
    start = body.rfind("p-value")
    data = body[start + len("p-value"):] if start >= 0 else body
    items = re.findall(r"([A-Za-z][A-Za-z \-]*)([\d.]+)", data)
    sections = {"Univariable analysis": [], "Multivariable analysis": []}
    found_any = False
    for label, digits in items:
        # digits that end the label ("CA153", "Ki 67") are glued to the first number: try each cut;
        # among all readings prefer the most decimals (trailing zeros are the only ones dropped)
        # and the shortest integer parts
        cands = []
        for cut in range(0, 4):
            lab2, dig2 = label + digits[:cut], digits[cut:]
            for n_values in (8, 4):
                for parse in _split_glued(dig2, n_values, 3, _ratio_ok):
                    dec = sum(len(v.split(".")[1]) if "." in v else 3 for v in parse)
                    ints = sum(len(v.split(".")[0]) for v in parse)
                    cands.append(((dec / n_values, -ints / n_values, n_values), lab2, parse))
        if not cands:
            if found_any:   # the footnote after the table
                break
            checks.append(f"{t.name}: {label!r} followed by {digits!r}: numbers not split; skipped")
            continue
        found_any = True
        cands.sort(key=lambda c: c[0], reverse=True)
        top = [c for c in cands if c[0] == cands[0][0]]
        label = cands[0][1].strip()
        parses = [c[2] for c in top]
        if len(parses) > 1:
            checks.append(f"{t.name}: {label!r}: {len(parses)} equally good ways to split {digits!r}; the first is proposed")
        vals = parses[0]
        for sec, chunk in zip(sections, (vals[:4], vals[4:8])):
            if chunk:
                e, lo, hi, p = chunk
                sections[sec].append(_row_dict("ratio", label, measure="OR", estimate=e, ci=[lo, hi], p=p))
    two_blocks = bool(re.search(r"(?i)univariable", body)) and bool(re.search(r"(?i)multivariable", body))
    if not two_blocks:
        sections = {None: sections["Univariable analysis"] + sections["Multivariable analysis"]}
    if any(sections.values()):
        checks.append(f"{t.name}: cells split from run-together text, reading trailing zeros as dropped "
                      "(`decimals: 3`); check every number")
    return [{"table": t.name, **({"section": s} if s else {}), "decimals": 3, "rows": rows}
            for s, rows in sections.items() if rows]


def _ratio_ok(vals: list[str]) -> bool:
    if any("." not in v and v not in ("0", "1") for v in vals):
        return False
    for i in range(0, len(vals), 4):
        e, lo, hi, p = (float(v) for v in vals[i:i + 4])
        if not (0 < lo <= e <= hi and 0 <= p <= 1):
            return False
    return True


def _propose_flat_summary(t: FoundTable, body: str, checks: list[str]) -> list[dict]:
    """"Feature nameAllTrainingTestp-valueAge54.00 ± 11.0453.36 ± 11.26..." baseline tables."""
    m = re.search(r"p-value", body)
    data = body[m.end():] if m else body
    header = body[:m.start()] if m else ""
    names = [h for h in re.findall(r"[A-Z][a-z]+", header) if h not in ("Feature", "Name")]
    rows: list[dict] = []
    # continuous rows: label, then k+1 "mean ± sd" pairs (the All column first) and a p
    k_cols = max(len(names), 2)
    num = r"\d+\.\d+"
    cont = re.compile(rf"([A-Za-z][A-Za-z\- ]*?\d*?)((?:{num} ± {num})(?:\s*{num} ± {num}){{{k_cols - 1}}})(0?\.\d+|1\.0+)(?=[A-Z]|$)")
    cat_var = re.compile(r"([A-Za-z][A-Za-z\- ]*?)(0?\.\d+)\s+((?:[A-Za-z\-]+(?:\d+\(\d+(?:\.\d+)?\)){%d}\s*)+)" % k_cols)
    pos = 0
    while pos < len(data):
        mc = cont.match(data, pos)
        if mc:
            label, block, p = mc.groups()
            # the first mean's decimals are unambiguous ("54.00 ±"); SDs and later means share them,
            # and what follows the last SD is the p-value
            dec = len(re.match(r"\d+\.(\d+) ±", block).group(1))
            full = block + p
            last = list(re.finditer(rf"(\d+\.\d{{{dec}}}) ± (\d+\.\d{{{dec}}})", full))[-1]
            p = full[last.end():]
            label, means, sds = _split_label_pairs(label, full[:last.end()], dec, checks, t.name)
            if means:
                rows.append(_row_dict("mean_sd", label, overall_mean=means[0], overall_sd=sds[0], means=means[1:],
                                      sds=sds[1:], p=p))
            pos = mc.end()
            continue
        mv = cat_var.match(data, pos)
        if mv:
            label, p, levels_txt = mv.groups()
            levels = []
            for lv_name, cells in re.findall(r"([A-Za-z\-]+)((?:\d+\(\d+(?:\.\d+)?\))+)", levels_txt):
                pairs = re.findall(r"(\d+)\((\d+(?:\.\d+)?)\)", cells)
                levels.append({"level": lv_name, "total": int(pairs[0][0]), "total_percent": pairs[0][1],
                               "counts": [int(c) for c, _ in pairs[1:]], "percents": [x for _, x in pairs[1:]]})
            rows.append(_row_dict("categorical", label.strip(), p=p, levels=levels))
            pos = mv.end()
            continue
        break
    if pos < len(data) and data[pos:].strip():
        checks.append(f"{t.name}: text after the last recognised row not read: {data[pos:pos + 60]!r}...")
    groups = [{"name": n, "n": None} for n in names[1:]] if len(names) >= 3 else []
    for row in rows:
        if row["kind"] == "categorical" and row["levels"]:
            ns = [sum(lv["counts"][g] for lv in row["levels"]) for g in range(len(row["levels"][0]["counts"]))]
            for g, n in zip(groups, ns):
                g["n"] = g["n"] or n
    spec: dict[str, Any] = {"table": t.name, "rows": rows}
    if rows:
        checks.append(f"{t.name}: cells split from run-together text; check every number")
    if groups and all(g["n"] for g in groups):
        spec["groups"] = groups
        spec["overall_n"] = sum(g["n"] for g in groups)
        checks.append(f"{t.name}: group sizes {[g['n'] for g in groups]} taken from the categorical rows' counts")
    else:
        checks.append(f"{t.name}: group sizes not found: add `groups` with their n")
    return [spec]


def _split_label_pairs(label: str, block: str, dec: int, checks: list[str], tname: str
                       ) -> tuple[str, list[str], list[str]]:
    """Split "CA12565.24 ± 38.0665.94 ± 36.87..." into label and mean/SD pairs.

    SDs and means after the first are cut at the printed number of decimals. Where the label ends
    in digits glued to the first (pooled) mean, the cut that puts the pooled mean between the
    group means is taken (a pooled mean always lies between them)."""
    pairs = re.findall(rf"(\d+\.\d{{{dec}}}) ± (\d+\.\d{{{dec}}})", block)
    if not pairs:
        return label, [], []
    first_mean_full = re.match(rf"(\d+\.\d{{{dec}}})", block).group(1)
    means = [p[0] for p in pairs]
    sds = [p[1] for p in pairs]
    lab = label
    if re.search(r"\d$", label) or len(first_mean_full.split(".")[0]) > 1:
        digits_lab = re.search(r"(\d*)$", label).group(1)
        candidates = []
        glued = digits_lab + first_mean_full
        for cut in range(0, len(glued.split(".")[0])):
            m_val = glued[cut:]
            if m_val.startswith("0") and not m_val.startswith("0."):
                continue
            lab_try = label[:len(label) - len(digits_lab)] + glued[:cut]
            group_means = [float(x) for x in means[1:]]
            if group_means and min(group_means) - 10 ** -dec <= float(m_val) <= max(group_means) + 10 ** -dec:
                candidates.append((lab_try, m_val))
        if candidates:
            lab, means[0] = candidates[0]
            if len(candidates) > 1 or digits_lab:
                checks.append(f"{tname}: label {lab!r} and pooled mean {means[0]} split so that the pooled mean lies "
                              "between the group means; CHECK against the paper")
    return lab.strip(), means, sds


# ----------------------------------------------------------------------------- entry points
def propose_encoding(text: str, seed: str) -> tuple[dict, list[str]]:
    """A draft table file (as a dict) for every table found in ``text``, and the points to check."""
    checks: list[str] = []
    tables: list[dict] = []
    for t in find_tables(text):
        specs: list[dict] = []
        if t.layout == "caption":
            specs = []
        elif t.layout == "flattened":
            specs = _propose_flattened(t, checks)
        elif t.header and any("area under" in c.lower() or "sensitivity" in c.lower() for c in t.header[0]):
            specs = _propose_performance(t, checks)
        else:
            specs = _propose_grouped(t, checks)
        if not specs:
            reason = ("caption only: the contents are not in the text" if t.layout == "caption" else
                      "no auditable number recognised (check the table by hand)")
            tables.append({"table": t.name, "skip": f"{t.caption[:100]} ({reason})"})
            continue
        for spec in specs:
            rows = spec.get("rows", [])
            has_p = [r for r in rows if r.get("p") is not None and r["kind"] in ("categorical", "mean_sd", "median_iqr")]
            if has_p:
                checks.append(f"{t.name}{' / ' + spec['section'] if spec.get('section') else ''}: no test is read from "
                              "the table: add `test:` (and `p_adjust:`) where the paper states them")
            tables.append(spec)
    return {"title": f"Proposed encoding of {seed}", "seed": seed, "tables": tables}, checks


def proposal_yaml(proposal: dict, checks: list[str]) -> str:
    """The proposal as a commented YAML draft (the user confirms it before auditing)."""
    import yaml

    head = ["# DRAFT audit encoding proposed by `her2stats audit` from the article's text.",
            "# Check every row against the paper (numbers, labels, which column is which group) before",
            "# auditing it: `her2stats audit THIS_FILE.yaml`. Schema: her2stats/audit/SCHEMA.md.",
            "#"]
    head += [f"# CHECK: {c}" for c in checks] or ["# (nothing flagged)"]
    body = yaml.safe_dump(proposal, sort_keys=False, allow_unicode=True, width=120, default_flow_style=None)
    return "\n".join(head) + "\n" + body


def read_article(path: str | Path) -> str:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"article not found: {p}")
    try:
        return p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{p}: not a UTF-8 plain-text file ({exc})") from None


def propose_from_file(path: str | Path) -> tuple[list[FoundTable], dict, list[str]]:
    """Read an article, find its tables and propose an encoding; refuses a text without tables."""
    text = read_article(path)
    tables = find_tables(text)
    if not tables:
        raise InputError(f"{path}: no table caption found ('Table 1. ...', 'Table 2 | ...', 'TABLE 3 | ...', "
                         "'Table S1: ...' at the start of a line)")
    draft, checks = propose_encoding(text, Path(path).name)
    return tables, draft, checks
