"""Validate a cohort table against the data dictionary.

``validate_cohort`` returns a cleaned copy (dictionary dtypes, canonical levels, derived HER2
variables) and a :class:`ValidationReport` that lists every coerced value and every excluded row
with its reason, so that the numbers of a study can be traced back to the raw table.

What is an error and what is an exclusion
-----------------------------------------
* **Errors** (:class:`~her2stats.errors.InputError`, naming column, offending values and row ids):
  a value that is not allowed for its variable (wrong level, text in a numeric column, value out
  of the plausible range, survival time <= 0, event not 0/1, a survival time without its event or
  the reverse), duplicated or missing patient ids,
  a non-binary outcome, derived columns that contradict their sources (``her2_status`` vs
  ``her2_ihc``/``her2_ish``), required columns absent. A wrong value is a data problem; guessing
  would make the study's numbers indefensible. The dictionary's ``on_invalid`` field sets the
  policy per variable (every standard variable says ``error``); pass ``on_invalid={"ki67":
  "missing"}`` (or ``"exclude"``) to override it knowingly, and the report counts what happened.
* **Exclusions** (rows dropped, counted with reasons): a missing outcome, a missing value in a
  ``required`` variable, rows whose invalid value's policy is ``exclude``.
* **Coercions** (value rewritten, counted): a recognised alias or spelling (``"Pos"`` -> positive,
  ``3`` -> ``"3+"``, ``"G2"`` -> ``"2"``, ``"true"`` -> 1, numbers stored as text).

Columns not in the dictionary pass through unchanged and are listed in the report.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import pandas as pd

from ..errors import InputError
from ..results import Result
from .dictionary import DataDictionary, Variable, load_dictionary, normalise_token
from .her2 import HER2_CLASS_DTYPE, classify_her2, as_levels, her2_positive_from_status

_BINARY_TOKENS = {"0": 0, "1": 1, "false": 0, "true": 1, "no": 0, "yes": 1, "n": 0, "y": 1}


@dataclass(frozen=True, repr=False, eq=False)
class ValidationReport(Result):
    """What :func:`validate_cohort` did to a table.

    Attributes
    ----------
    n_input, n_output : rows before and after exclusions.
    coerced : DataFrame (column, original, value, n): each distinct raw value rewritten.
    excluded : DataFrame (row, patient_id, reason): one line per excluded row and reason.
    set_missing : DataFrame (column, original, n): invalid values set to missing by policy.
    derived : variables added from their sources (e.g. her2_class from her2_ihc/her2_ish).
    not_in_dictionary : columns passed through unchecked.
    missing : Series, missing values per dictionary column in the cleaned table.
    her2_counts : tallies of the HER2 derivation (includes ``ihc2_missing_ish``), when derived.
    """

    n_input: int
    n_output: int
    coerced: pd.DataFrame
    excluded: pd.DataFrame
    set_missing: pd.DataFrame
    derived: tuple[str, ...]
    not_in_dictionary: tuple[str, ...]
    missing: pd.Series
    her2_counts: Mapping[str, int] = field(default_factory=dict)
    outcome: str | None = None
    method: str = "validate_cohort"

    @property
    def n_excluded(self) -> int:
        return self.n_input - self.n_output

    def exclusion_counts(self) -> pd.Series:
        """Rows excluded per reason (a row with two reasons counts under both)."""
        if self.excluded.empty:
            return pd.Series(dtype="int64", name="n")
        return self.excluded.groupby("reason").size().rename("n")

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: action (excluded / coerced / set_missing / derived / not_in_dictionary), column, detail, n."""
        rows: list[dict[str, Any]] = [{"action": "rows", "column": "", "detail": f"{self.n_input} in, {self.n_output} out", "n": self.n_output}]
        for reason, n in self.exclusion_counts().items():
            rows.append({"action": "excluded", "column": "", "detail": reason, "n": int(n)})
        for r in self.coerced.itertuples(index=False):
            rows.append({"action": "coerced", "column": r.column, "detail": f"{r.original!r} -> {r.value!r}", "n": int(r.n)})
        for r in self.set_missing.itertuples(index=False):
            rows.append({"action": "set_missing", "column": r.column, "detail": f"{r.original!r} -> missing", "n": int(r.n)})
        for name in self.derived:
            rows.append({"action": "derived", "column": name, "detail": "from dictionary derivation", "n": self.n_output})
        if self.not_in_dictionary:
            shown = ", ".join(self.not_in_dictionary[:8]) + (", ..." if len(self.not_in_dictionary) > 8 else "")
            rows.append({"action": "not_in_dictionary", "column": shown, "detail": "columns passed through unchecked",
                         "n": len(self.not_in_dictionary)})
        return pd.DataFrame(rows, columns=["action", "column", "detail", "n"])


def _row_ids(df: pd.DataFrame, mask: pd.Series, id_col: str, limit: int = 10) -> str:
    idx = list(df.index[mask.to_numpy()][:limit])
    more = int(mask.sum()) - len(idx)
    text = f"rows {idx}" + (f" (+{more} more)" if more > 0 else "")
    if id_col in df.columns:
        ids = list(df.loc[mask.to_numpy(), id_col].astype(str)[:limit])
        text += f", {id_col} {ids}"
    return text


def _values(series: pd.Series, limit: int = 10) -> list[str]:
    vals = pd.unique(series.astype(str))
    return sorted(vals)[:limit]


class _Collector:
    def __init__(self, df: pd.DataFrame, id_col: str):
        self.df, self.id_col = df, id_col
        self.errors: list[str] = []
        self.coerced: list[dict[str, Any]] = []
        self.set_missing: list[dict[str, Any]] = []
        self.exclude = pd.Series(False, index=df.index)
        self.reasons: list[tuple[Any, str]] = []

    def invalid(self, var: Variable, policy: str, bad: pd.Series, raw: pd.Series, why: str) -> pd.Series:
        """Apply the policy to values flagged ``bad``; returns the mask of values to blank out."""
        if not bad.any():
            return bad
        if policy == "error":
            self.errors.append(f"column {var.name!r}: {why}: values {_values(raw[bad])} at {_row_ids(self.df, bad, self.id_col)}")
        elif policy == "exclude":
            self.exclude |= bad
            for label in self.df.index[bad.to_numpy()]:
                self.reasons.append((label, f"{var.name}: {why}"))
        else:
            for value, n in raw[bad].astype(str).value_counts().items():
                self.set_missing.append({"column": var.name, "original": value, "n": int(n)})
        return bad

    def note_coercion(self, column: str, raw: pd.Series, new: pd.Series, changed: pd.Series) -> None:
        if changed.any():
            pairs = pd.DataFrame({"original": raw[changed].astype(str), "value": new[changed].astype(str)})
            for (orig, value), n in pairs.value_counts(sort=False).items():
                self.coerced.append({"column": column, "original": orig, "value": value, "n": int(n)})


def _clean_column(col: pd.Series, var: Variable, policy: str, c: _Collector) -> pd.Series:
    raw = col
    present = raw.notna() & ~raw.astype(str).str.strip().isin(["", "nan", "NaN", "NA", "<NA>", "None"])
    if var.type == "id":
        return raw.where(present, None).map(lambda v: None if v is None else str(v).strip()).astype(object)
    if var.is_categorical and var.levels:
        mapped = raw.map(lambda v: var.level_of(v)).where(present, None)
        bad = present & mapped.isna()
        why = f"not an allowed level (allowed: {list(var.levels)})"
        c.invalid(var, policy, bad, raw, why)
        mapped = mapped.where(~bad, None)
        changed = present & ~bad & (raw.astype(str) != mapped.astype(str))
        c.note_coercion(var.name, raw, mapped, changed)
        return pd.Series(pd.Categorical(mapped, categories=list(var.levels), ordered=var.type == "ordinal"),
                         index=raw.index, name=var.name)
    if var.is_categorical:  # free levels (center)
        text = raw.map(lambda v: str(int(v)) if isinstance(v, float) and float(v).is_integer() else str(v).strip())
        text = text.where(present, None)
        changed = present & (raw.astype(str) != text.astype(str))
        c.note_coercion(var.name, raw, text, changed)
        return pd.Series(pd.Categorical(text, categories=sorted(pd.unique(text.dropna()))), index=raw.index, name=var.name)
    if var.type in ("binary", "event"):
        mapped = raw.map(lambda v: _BINARY_TOKENS.get(normalise_token(v))).where(present, None)
        bad = present & mapped.isna()
        c.invalid(var, policy, bad, raw, "not 0/1")
        mapped = mapped.where(~bad, None)
        canonical = raw.map(lambda v: normalise_token(v) in ("0", "1"))
        c.note_coercion(var.name, raw, mapped, present & ~bad & ~canonical)
        return pd.Series(pd.array(mapped.astype(object), dtype="Int64"), index=raw.index, name=var.name)
    # numeric / time
    numeric = pd.to_numeric(raw.where(present, None), errors="coerce")
    wrong_type = present & numeric.isna()
    c.invalid(var, policy, wrong_type, raw, "not a number")
    bad = pd.Series(False, index=raw.index)
    if var.type == "time":
        bad = numeric.notna() & (numeric <= 0)
        c.invalid(var, policy, bad, raw, f"survival time must be > 0 {var.unit or ''}".rstrip())
    else:
        out_of_range = pd.Series(False, index=raw.index)
        if var.min is not None:
            out_of_range |= numeric < var.min
        if var.max is not None:
            out_of_range |= numeric > var.max
        bad = numeric.notna() & out_of_range
        c.invalid(var, policy, bad, raw, f"outside the plausible range [{var.min}, {var.max}] {var.unit or ''}".rstrip())
    numeric = numeric.where(~bad & ~wrong_type).astype("float64")
    if raw.dtype == object:
        c.note_coercion(var.name, raw, numeric, present & ~wrong_type & ~bad & raw.map(lambda v: isinstance(v, str)))
    return numeric.rename(var.name)


def _derive(out: pd.DataFrame, d: DataDictionary, c: _Collector, id_col: str) -> tuple[list[str], dict[str, int]]:
    derived: list[str] = []
    counts: dict[str, int] = {}

    def _reconcile(name: str, new: pd.Series) -> None:
        if name not in out.columns:
            out[name] = new
            derived.append(name)
            return
        old = out[name]
        both = old.notna() & new.notna()
        conflict = both & (old.astype(str) != new.astype(str))
        if conflict.any():
            c.errors.append(f"column {name!r} contradicts its sources {list(d[name].derived_from)} "
                            f"({d[name].derivation}) at {_row_ids(out, conflict, id_col)}: "
                            f"given {_values(old[conflict])}, derived {_values(new[conflict])}")
        fill = old.isna() & new.notna()
        if fill.any():
            filled = old.astype(object).where(~fill, new.astype(object))
            out[name] = pd.Series(pd.Categorical(filled, dtype=old.dtype), index=out.index) if isinstance(old.dtype, pd.CategoricalDtype) \
                else pd.Series(pd.array(filled, dtype=old.dtype), index=out.index)
            derived.append(f"{name} (filled {int(fill.sum())} missing)")

    if "her2_ihc" in out.columns or "her2_ish" in out.columns:
        ihc = as_levels(out["her2_ihc"].astype(object) if "her2_ihc" in out.columns else pd.Series(None, index=out.index, dtype=object), "her2_ihc", out.index)
        ish = as_levels(out["her2_ish"].astype(object) if "her2_ish" in out.columns else pd.Series(None, index=out.index, dtype=object), "her2_ish", out.index)
        cls, status, counts = classify_her2(ihc, ish, ish_overrides_ihc=True)
        if "her2_ihc" in out.columns:
            _reconcile("her2_class", pd.Series(pd.Categorical(cls, dtype=HER2_CLASS_DTYPE), index=out.index))
        _reconcile("her2_status", pd.Series(pd.Categorical(status, categories=["negative", "positive"]), index=out.index))
    if "her2_status" in out.columns:
        _reconcile("her2_positive", her2_positive_from_status(out["her2_status"]))
    elif "her2_positive" in out.columns:
        status = out["her2_positive"].astype(object).map({0: "negative", 1: "positive"})
        out["her2_status"] = pd.Series(pd.Categorical(status.where(out["her2_positive"].notna(), None),
                                                      categories=["negative", "positive"]), index=out.index)
        derived.append("her2_status")
    if "er" in out.columns and "pr" in out.columns:
        er, pr = out["er"].astype(object), out["pr"].astype(object)
        hr = pd.Series(None, index=out.index, dtype=object)
        hr[er.eq("negative") & pr.eq("negative")] = "negative"
        hr[er.eq("positive") | pr.eq("positive")] = "positive"
        _reconcile("hr", pd.Series(pd.Categorical(hr, categories=["negative", "positive"]), index=out.index))
    return derived, counts


def validate_cohort(
    df: pd.DataFrame,
    dictionary: DataDictionary | str | None = None,
    outcome: str | None = None,
    required: Iterable[str] = (),
    *,
    on_invalid: str | Mapping[str, str] | None = None,
    derive: bool = True,
    id_col: str = "patient_id",
) -> tuple[pd.DataFrame, ValidationReport]:
    """Check a cohort table against the data dictionary; return a clean copy and a report.

    Parameters
    ----------
    df : one row per patient; dictionary columns are checked, others pass through.
    dictionary : a :class:`DataDictionary`, a path to a variables.yaml, or None (the packaged one).
    outcome : outcome column (e.g. ``"her2_positive"``, ``"pcr"``, ``"her2_class"``). Rows with a
        missing outcome are excluded (counted); a binary outcome must hold only 0/1 (after
        coercion) and both classes, otherwise InputError.
    required : variables that must be present as columns; rows missing any of them are excluded.
    on_invalid : override the dictionary policy for invalid values: one of ``"error"``,
        ``"exclude"``, ``"missing"`` for all columns, or ``{column: policy}``.
    derive : add/check derived variables (her2_class, her2_status, her2_positive from
        her2_ihc/her2_ish; hr from er/pr). Given derived columns that contradict their sources
        raise InputError; their missing values are filled from the sources (reported).
    id_col : identifier column; it must be unique and non-missing when present.

    Returns
    -------
    (clean, report) : the cleaned DataFrame (original index kept; categorical levels from the
        dictionary, ordered for ordinal variables; binary/event columns as nullable Int64; numeric
        and times as float64) and a :class:`ValidationReport`.

    Examples
    --------
    >>> clean, report = validate_cohort(raw, outcome="her2_positive", required=["age", "grade"])
    >>> report.to_frame()          # coerced values, excluded rows and reasons, derived columns
    """
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"validate_cohort needs a pandas DataFrame, got {type(df).__name__}")
    if df.empty:
        raise InputError("the cohort table has no rows")
    if not df.index.is_unique:  # row labels identify excluded rows in the report, so they must be unique
        df = df.reset_index(drop=True)
    if df.columns.duplicated().any():
        raise InputError(f"the cohort table has duplicated column names {sorted(set(df.columns[df.columns.duplicated()]))}")
    d = dictionary if isinstance(dictionary, DataDictionary) else load_dictionary(dictionary)
    required = list(required)
    absent = [name for name in required + ([outcome] if outcome else []) if name not in df.columns
              and not (derive and name in ("her2_class", "her2_status", "her2_positive", "hr") and
                       ("her2_ihc" in df.columns or "her2_status" in df.columns or "her2_positive" in df.columns or {"er", "pr"} <= set(df.columns)))]
    if absent:
        raise InputError(f"required columns {absent} are not in the cohort table (columns: {list(df.columns)[:30]})")
    if isinstance(on_invalid, str):
        overrides = {name: on_invalid for name in d}
    else:
        overrides = dict(on_invalid or {})
    for name, policy in overrides.items():
        if policy not in ("error", "exclude", "missing"):
            raise InputError(f"on_invalid[{name!r}] = {policy!r}; use 'error', 'exclude' or 'missing'")

    out = df.copy()
    c = _Collector(out, id_col)
    if id_col in out.columns:
        ids = out[id_col]
        missing_id = ids.isna() | ids.astype(str).str.strip().eq("")
        if missing_id.any():
            c.errors.append(f"column {id_col!r}: missing identifiers at {_row_ids(out, missing_id, id_col)}")
        dup = ids.duplicated(keep=False) & ~missing_id
        if dup.any():
            c.errors.append(f"column {id_col!r}: duplicated identifiers {_values(ids[dup])} at {_row_ids(out, dup, id_col)}; "
                            "one row per patient is expected (aggregate lesions first)")

    for name in out.columns:
        if name in d and name != id_col:
            var = d[name]
            out[name] = _clean_column(out[name], var, overrides.get(name, var.on_invalid), c)
        elif name == id_col and id_col in d:
            out[name] = _clean_column(out[name], d[id_col], "error", c)
    not_in_dictionary = tuple(str(n) for n in out.columns if n not in d)
    # a survival time without its event indicator (or the reverse) cannot be analysed
    for name in out.columns:
        if name in d and d[name].pairs_with and d[name].pairs_with in out.columns:
            time_col = d[name].pairs_with
            half = out[name].isna() != out[time_col].isna()
            if half.any():
                c.errors.append(f"columns {time_col!r}/{name!r}: one of the pair is missing at {_row_ids(out, half, id_col)}; "
                                "give both (censored: event 0) or neither")

    if c.errors:
        raise InputError("cohort table failed validation against the data dictionary:\n  - " + "\n  - ".join(c.errors))

    derived, her2_counts = _derive(out, d, c, id_col) if derive else ([], {})
    if c.errors:
        raise InputError("cohort table failed validation against the data dictionary:\n  - " + "\n  - ".join(c.errors))

    if outcome is not None:
        y = out[outcome]
        var = d.get(outcome) if outcome in d else None
        categorical = isinstance(y.dtype, pd.CategoricalDtype)
        if not categorical:
            vals = pd.to_numeric(y, errors="coerce")
            nonbinary = y.notna() & ~vals.isin([0, 1])
            if nonbinary.any():
                raise InputError(f"outcome {outcome!r} must be binary 0/1; found values {_values(y[nonbinary])} at "
                                 f"{_row_ids(out, nonbinary, id_col)}")
            out[outcome] = pd.Series(pd.array(vals.where(y.notna(), None).astype(object), dtype="Int64"), index=out.index)
        elif var is not None and var.type == "categorical" and len(var.levels) != 2 and outcome != "her2_class":
            raise InputError(f"outcome {outcome!r} has {len(var.levels)} levels {list(var.levels)}; use a binary outcome such as 'her2_positive'")
        miss = out[outcome].isna()
        for label in out.index[miss.to_numpy()]:
            c.reasons.append((label, f"missing outcome {outcome}"))
        c.exclude |= miss
        kept = out.loc[~c.exclude.to_numpy(), outcome].dropna()
        if kept.nunique() < 2:
            raise InputError(f"outcome {outcome!r} has a single value {_values(kept)} after exclusions; a model needs both classes")
    for name in required:
        miss = out[name].isna()
        for label in out.index[miss.to_numpy()]:
            c.reasons.append((label, f"missing required variable {name}"))
        c.exclude |= miss

    clean = out.loc[~c.exclude.to_numpy()].copy()
    excluded = pd.DataFrame(
        [{"row": label, id_col: (df.at[label, id_col] if id_col in df.columns else None), "reason": reason} for label, reason in c.reasons],
        columns=["row", id_col, "reason"])
    missing = clean[[n for n in clean.columns if n in d]].isna().sum().rename("missing")
    report = ValidationReport(
        n_input=len(df), n_output=len(clean),
        coerced=pd.DataFrame(c.coerced, columns=["column", "original", "value", "n"]),
        excluded=excluded,
        set_missing=pd.DataFrame(c.set_missing, columns=["column", "original", "n"]),
        derived=tuple(derived), not_in_dictionary=not_in_dictionary, missing=missing,
        her2_counts=her2_counts, outcome=outcome,
    )
    return clean, report
