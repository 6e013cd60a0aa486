"""Pydantic models of an audit table file (the format is documented in ``SCHEMA.md``).

A table file encodes a published table row by row, exactly as printed. Numbers whose printed
precision matters (p-values, percentages, means, SDs, AUCs, rates, ratios) are *printed numbers*:
give them as YAML strings (``"0.50"``) so trailing zeros survive; a YAML float works too but
``0.50`` then reads as ``0.5`` (one decimal). Printed numbers may carry a relation (``"<0.001"``)
or a percent sign (``"89.5%"``) and thousands separators (``"1,286"``).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "Printed",
    "parse_printed",
    "Source",
    "Group",
    "Level",
    "CategoricalRow",
    "MeanSDRow",
    "MedianIQRRow",
    "AUCRow",
    "DiagnosticRow",
    "RatioRow",
    "AUCComparisonRow",
    "PValueRow",
    "TotalRow",
    "DifferenceRow",
    "CStatisticRow",
    "CalibrationRow",
    "TableSpec",
    "AuditFile",
    "VERDICTS",
]

#: the three verdicts an audited number can get
VERDICTS = ("reproduced", "not reproduced", "not derivable")

_NUM = re.compile(r"^\s*(?P<rel><=|>=|≤|≥|<|>|=)?\s*(?P<num>[+-]?(?:\d{1,3}(?:,\d{3})+|\d*)(?:\.\d*)?(?:[eE][+-]?\d+)?)\s*(?P<pct>%)?\s*$")


@dataclass(frozen=True)
class Printed:
    """A number as printed: value, decimals shown, relation (``=``, ``<``, ``<=``, ``>``, ``>=``)."""

    text: str
    value: float
    decimals: int
    relation: str = "="
    percent: bool = False

    @property
    def half_unit(self) -> float:
        """Half a unit in the last printed place: the rounding half-width."""
        return 0.5 * 10.0 ** (-self.decimals)

    @property
    def trailing_zeros(self) -> int:
        """Zeros at the end of the printed decimals ("78.90" -> 1): candidates for zero-padding."""
        digits = re.sub(r"[^0-9.]", "", self.text.split("e")[0].split("E")[0])
        frac = digits.split(".")[1] if "." in digits else ""
        return len(frac) - len(frac.rstrip("0"))

    @property
    def interval(self) -> tuple[float, float]:
        """Values that print as this number under rounding (``=``) or satisfy the relation."""
        if self.relation == "=":
            return self.value - self.half_unit, self.value + self.half_unit
        if self.relation in ("<", "<="):
            return -math.inf, self.value
        return self.value, math.inf

    def __str__(self) -> str:
        return self.text


def parse_printed(value: Any) -> Printed:
    """Parse ``"0.761"``, ``"<0.001"``, ``"89.5%"``, ``"1,286"``, ``0.5`` into a :class:`Printed`."""
    if isinstance(value, Printed):
        return value
    if isinstance(value, bool) or value is None:
        raise ValueError(f"expected a printed number, got {value!r}")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError(f"printed numbers must be finite, got {value!r}")
        text = repr(value) if isinstance(value, float) else str(value)
        if "e" in text.lower():
            text = f"{value:.12f}".rstrip("0").rstrip(".")
    else:
        text = str(value).strip()
    m = _NUM.match(text.replace("−", "-").replace("\u2009", ""))
    if not m or m.group("num") in ("", "+", "-", "."):
        raise ValueError(f"cannot read {value!r} as a printed number (examples: '0.761', '<0.001', '89.5%')")
    num = m.group("num").replace(",", "")
    mantissa = num.lower().split("e")[0]
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    if "e" in num.lower():
        decimals = max(0, decimals - int(num.lower().split("e")[1]))
    rel = {"≤": "<=", "≥": ">=", None: "="}.get(m.group("rel"), m.group("rel"))
    return Printed(text=text, value=float(num), decimals=decimals, relation=rel,
                   percent=bool(m.group("pct")))


PrintedNum = Annotated[Printed, BeforeValidator(parse_printed)]
PositiveInt = Annotated[int, Field(ge=1)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, frozen=True)


class Source(_Model):
    """Where a row is printed: the seed file (in ``shared/seeds``), the table and the row label."""

    seed: str
    table: str
    row: str | None = None


class Group(_Model):
    """A column group of the table (e.g. ``Train``, n = 149)."""

    name: str
    n: int = Field(ge=1)


class Level(_Model):
    """One level of a categorical row: counts and/or percentages per group (``null`` = not printed)."""

    level: str
    counts: list[int | None] | None = None
    percents: list[PrintedNum | None] | None = None
    #: the "All"/"Overall" column: count and percentage of the whole table (``overall_n``)
    total: int | None = Field(default=None, ge=0)
    total_percent: PrintedNum | None = None

    @field_validator("counts")
    @classmethod
    def _non_negative(cls, v):
        if v is not None and any(c is not None and c < 0 for c in v):
            raise ValueError(f"counts must be >= 0, got {v}")
        return v


P_ADJUST = Literal["none", "fdr_bh", "bonferroni", "holm"]


class _Row(_Model):
    row: str
    source: Source | None = None
    note: str | None = None
    #: identity of the comparison this row reports ("tumour size, HER2+ vs HER2-"): rows sharing a
    #: key -- in other tables, in the text, in other files of the same paper -- must print the same
    #: numbers, and the cross-table check compares them
    key: str | None = None
    #: encoder's expected verdict per quantity (``{"p": "not reproduced"}``) for documented
    #: misprints; the seed suite asserts these instead of "reproduced"
    expect: dict[str, Literal["reproduced", "not reproduced", "not derivable"]] = Field(default_factory=dict)


#: words that identify a stated test (any one must appear in ``test``): the candidate tests the
#: auditor recomputes, and tests it recognises as needing the data
KNOWN_TEST_WORDS = ("chi", "yates", "fisher", "t-test", "t test", "student", "welch", "anova", "z-test",
                    "wilcoxon", "mann", "kruskal", "rank", "median test", "log-rank", "logrank", "delong",
                    "bootstrap", "wald", "likelihood", "cox", "logistic", "hosmer", "permutation")


class _PRow(_Row):
    p: PrintedNum | None = None
    test: str | None = None            # the test the paper states, as written
    p_adjust: P_ADJUST = "none"        # the printed p is adjusted for multiplicity

    @field_validator("test")
    @classmethod
    def _known_test(cls, v):
        if v is not None and not any(w in v.lower() for w in KNOWN_TEST_WORDS):
            raise ValueError(f"unknown test {v!r}: name it as the paper does with one of the recognised words "
                             f"({', '.join(KNOWN_TEST_WORDS)})")
        return v


class CategoricalRow(_PRow):
    kind: Literal["categorical"]
    levels: list[Level] = Field(min_length=1)
    ns: list[PositiveInt] | None = None  # per-group denominators when not the group n (missing data)
    #: a yes/no variable printed as one level ("Present in 810 (63.0%)"): the rest of each group
    #: is the other level, and the p-value is tested on that 2 x k table
    complement: bool = False


class MeanSDRow(_PRow):
    kind: Literal["mean_sd"]
    means: list[PrintedNum]
    sds: list[PrintedNum]
    ns: list[PositiveInt] | None = None
    granularity: float | None = Field(default=None, gt=0)  # data unit for GRIM/GRIMMER (1 = whole numbers)
    #: the "All" column: mean and SD of the groups pooled (checked against the group summaries)
    overall_mean: PrintedNum | None = None
    overall_sd: PrintedNum | None = None


class MedianIQRRow(_PRow):
    kind: Literal["median_iqr"]
    medians: list[PrintedNum]
    q1s: list[PrintedNum] | None = None
    q3s: list[PrintedNum] | None = None
    ns: list[PositiveInt] | None = None
    granularity: float | None = Field(default=None, gt=0)


class AUCRow(_Row):
    """An AUC (c-statistic of a binary classifier) with its CI."""

    kind: Literal["auc"]
    auc: PrintedNum
    ci: tuple[PrintedNum, PrintedNum] | None = None
    n_pos: int | None = Field(default=None, ge=1)   # without n: only the CI's plausibility is checked
    n_neg: int | None = Field(default=None, ge=1)
    #: total n when the split is not printed: the exact binomial CI (which needs only n) is tried
    n: int | None = Field(default=None, ge=2)

    @model_validator(mode="after")
    def _sizes(self):
        if (self.n_pos is None) != (self.n_neg is None):
            raise ValueError(f"auc row {self.row!r}: give both n_pos and n_neg (or `n` for the total)")
        if self.n is not None and self.n_pos is not None:
            raise ValueError(f"auc row {self.row!r}: give n_pos/n_neg or n, not both")
        return self
    level: float = Field(default=0.95, gt=0, lt=1)
    ci_method: str | None = None       # as stated by the paper


METRICS = ("sensitivity", "specificity", "ppv", "npv", "accuracy", "f1")


class DiagnosticRow(_Row):
    kind: Literal["diagnostic"]
    n_pos: int | None = Field(default=None, ge=1)
    n_neg: int | None = Field(default=None, ge=1)
    #: total n when the split into positives and negatives is not printed: every split is tried
    n: int | None = Field(default=None, ge=2)
    #: the two class sizes when the table does not say which class is "positive": both
    #: orientations are tried (and the one that fits is reported)
    class_sizes: tuple[PositiveInt, PositiveInt] | None = None
    #: a printed confusion matrix (all four cells)
    tp: int | None = Field(default=None, ge=0)
    fn: int | None = Field(default=None, ge=0)
    fp: int | None = Field(default=None, ge=0)
    tn: int | None = Field(default=None, ge=0)
    #: rows evaluated on the same cases (e.g. "test cohort") must share one positive/negative split
    cohort: str | None = None
    sensitivity: PrintedNum | None = None
    specificity: PrintedNum | None = None
    ppv: PrintedNum | None = None
    npv: PrintedNum | None = None
    accuracy: PrintedNum | None = None
    f1: PrintedNum | None = None
    #: printed confidence intervals per metric: ``{sensitivity: ["0.70", "0.90"]}``
    cis: dict[Literal["sensitivity", "specificity", "ppv", "npv", "accuracy", "f1"],
              tuple[PrintedNum, PrintedNum]] = Field(default_factory=dict)
    level: float = Field(default=0.95, gt=0, lt=1)
    ci_method: str | None = None       # as stated by the paper (e.g. "bootstrap")

    @model_validator(mode="after")
    def _some_metric(self):
        cells = [getattr(self, k) for k in ("tp", "fn", "fp", "tn")]
        if any(c is not None for c in cells) and any(c is None for c in cells):
            raise ValueError(f"diagnostic row {self.row!r}: give all four of tp, fn, fp, tn or none")
        if all(getattr(self, k) is None for k in METRICS) and cells[0] is None:
            raise ValueError(f"diagnostic row {self.row!r} prints no metric")
        if (self.n_pos is None) != (self.n_neg is None):
            raise ValueError(f"diagnostic row {self.row!r}: give both n_pos and n_neg (or `n` for the total)")
        given = [name for name, v in (("n_pos/n_neg", self.n_pos), ("n", self.n), ("class_sizes", self.class_sizes))
                 if v is not None]
        if len(given) > 1:
            raise ValueError(f"diagnostic row {self.row!r}: give only one of {', '.join(given)}")
        for k in self.cis:
            if getattr(self, k) is None:
                raise ValueError(f"diagnostic row {self.row!r}: a CI for {k} but no {k}")
        return self


class RatioRow(_Row):
    kind: Literal["ratio"]
    measure: Literal["HR", "OR", "RR"] = "HR"
    estimate: PrintedNum
    ci: tuple[PrintedNum, PrintedNum]
    p: PrintedNum | None = None
    level: float = Field(default=0.95, gt=0, lt=1)


class AUCComparisonRow(_Row):
    kind: Literal["auc_comparison"]
    auc1: PrintedNum
    auc2: PrintedNum
    n_pos: int = Field(ge=1)
    n_neg: int = Field(ge=1)
    p: PrintedNum
    paired: bool = True
    test: str | None = "DeLong"


class PValueRow(_PRow):
    """A p-value printed alone (typically in the text: "no difference in menopausal status, p = 0.165")."""

    kind: Literal["p_value"]
    p: PrintedNum


class TotalRow(_Row):
    """Counts that must add up to a printed total (enrolment flow: "screened 1,800 -> included 671 ...")."""

    kind: Literal["total"]
    parts: list[int] = Field(min_length=1)
    total: int


class DifferenceRow(_Row):
    """A printed difference of two printed numbers ("improved the AUC by 0.22": 0.84 - 0.62)."""

    kind: Literal["difference"]
    value: PrintedNum
    a: PrintedNum
    b: PrintedNum


class CStatisticRow(_Row):
    """A C-statistic / C-index (survival or binary) with its CI: plausibility only."""

    kind: Literal["c_statistic"]
    estimate: PrintedNum
    ci: tuple[PrintedNum, PrintedNum] | None = None
    level: float = Field(default=0.95, gt=0, lt=1)


class CalibrationRow(_Row):
    """Calibration results: slope/intercept (with CIs) and the Hosmer-Lemeshow statistic and p."""

    kind: Literal["calibration"]
    slope: PrintedNum | None = None
    slope_ci: tuple[PrintedNum, PrintedNum] | None = None
    intercept: PrintedNum | None = None
    intercept_ci: tuple[PrintedNum, PrintedNum] | None = None
    hl_statistic: PrintedNum | None = None
    hl_p: PrintedNum | None = None
    #: Hosmer-Lemeshow degrees of freedom (g - 2 for g groups; 8 for the usual deciles)
    hl_df: int = Field(default=8, ge=1)

    @model_validator(mode="after")
    def _something(self):
        if all(getattr(self, k) is None for k in ("slope", "intercept", "hl_statistic", "hl_p")):
            raise ValueError(f"calibration row {self.row!r} prints nothing to check")
        return self


Row = Annotated[Union[CategoricalRow, MeanSDRow, MedianIQRRow, AUCRow, DiagnosticRow, RatioRow,
                      AUCComparisonRow, PValueRow, TotalRow, DifferenceRow, CStatisticRow, CalibrationRow],
                Field(discriminator="kind")]


class TableSpec(_Model):
    """One printed table (or one column block of it, ``section``) with its groups and rows."""

    table: str
    section: str | None = None
    seed: str | None = None
    groups: list[Group] = Field(default_factory=list)
    #: accepted rounding rules for printed numbers: "round" (to nearest) and optionally
    #: "truncate" (digits cut off), which some software uses for rates
    #: "truncate" (digits cut off), which some software uses for rates, and "padded" (rounded to
    #: fewer decimals, then zeros appended: 15/19 = 78.9% printed as "78.90%") and
    #: "largest_remainder" (a column of percentages forced to total 100% by Hamilton's method)
    rounding: list[Literal["round", "truncate", "padded", "largest_remainder"]] = Field(
        default_factory=lambda: ["round"])
    #: numbers printed with at most this many decimals and trailing zeros dropped (Python's
    #: ``round(x, 3)``): "0.32" is 0.320 +/- 0.0005 and a p printed "0" is p < 0.0005
    decimals: int | None = Field(default=None, ge=0, le=12)
    #: n of the "All" column (levels' ``total``, mean_sd ``overall_mean``)
    overall_n: int | None = Field(default=None, ge=1)
    #: the multiplicity family of the table's adjusted p-values (default: table + section) and its
    #: size when tests outside the printed rows belong to it. A list gives alternative readings of
    #: an ambiguous methods section ("FDR over all univariate comparisons": per set? per table? the
    #: whole paper?): a p is "not reproduced" only when no reading allows it
    p_family: str | list[str] | None = None
    #: one size, or one per reading of ``p_family`` (``null`` = the rows audited together)
    p_family_size: int | list[int | None] | None = None

    @field_validator("p_family_size")
    @classmethod
    def _sizes(cls, v):
        for x in ([v] if not isinstance(v, list) else v):
            if x is not None and x < 1:
                raise ValueError(f"p_family_size must be >= 1, got {x}")
        return v
    #: why a table has no auditable number (acquisition parameters, software versions, contents
    #: not printed in the source text); such a table has no rows
    skip: str | None = None
    rows: list[Row] = Field(default_factory=list)

    @model_validator(mode="after")
    def _rows_or_skip(self):
        if not self.rows and not self.skip:
            raise ValueError(f"{self.table}: no rows (give `rows`, or `skip: <reason>` for a table without "
                             "auditable numbers)")
        if self.rows and self.skip:
            raise ValueError(f"{self.table}: `skip` is for tables without rows, but {len(self.rows)} rows are given")
        return self


class AuditFile(_Model):
    """A whole table file: a title, a default seed, and one or more tables."""

    title: str | None = None
    seed: str | None = None
    tables: list[TableSpec] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _single_table(cls, data: Any) -> Any:
        # a file may hold a single table at top level (table/groups/rows) instead of `tables:`
        if isinstance(data, dict) and "tables" not in data and "rows" in data:
            data = dict(data)
            table_keys = {"table", "section", "groups", "rounding", "rows", "decimals", "overall_n",
                          "p_family", "p_family_size", "skip"}
            spec = {k: data.pop(k) for k in list(data) if k in table_keys}
            data["tables"] = [spec]
        return data

    @model_validator(mode="after")
    def _check_shapes(self):
        for t in self.tables:
            if t.seed is None and self.seed is None:
                raise ValueError(f"{t.table}: no seed given (set `seed:` at file or table level)")
            k = len(t.groups)
            for r in t.rows:
                where = f"{t.table} / row {r.row!r}"
                if isinstance(r, CategoricalRow):
                    for lv in r.levels:
                        for name in ("counts", "percents"):
                            vals = getattr(lv, name)
                            if vals is not None and len(vals) != k:
                                raise ValueError(f"{where}, level {lv.level!r}: {name} has {len(vals)} "
                                                 f"entries but the table has {k} groups")
                    if r.ns is not None and len(r.ns) != k:
                        raise ValueError(f"{where}: ns has {len(r.ns)} entries, expected {k}")
                elif isinstance(r, (MeanSDRow, MedianIQRRow)):
                    firsts = r.means if isinstance(r, MeanSDRow) else r.medians
                    others = [r.sds] if isinstance(r, MeanSDRow) else [x for x in (r.q1s, r.q3s) if x is not None]
                    if r.ns is None and len(firsts) != k:
                        raise ValueError(f"{where}: {len(firsts)} values but {k} groups (or give `ns`)")
                    for o in others + ([r.ns] if r.ns is not None else []):
                        if len(o) != len(firsts):
                            raise ValueError(f"{where}: value lists have different lengths")
        return self


def _reread(value: Any, decimals: int) -> Any:
    """``value`` with every printed number read at ``decimals`` (trailing zeros dropped)."""
    if isinstance(value, Printed):
        if value.relation == "=" and value.decimals < decimals:
            return Printed(text=value.text, value=value.value, decimals=decimals, relation=value.relation,
                           percent=value.percent)
        return value
    if isinstance(value, BaseModel):
        update = {name: _reread(getattr(value, name), decimals) for name in type(value).model_fields}
        return value.model_copy(update=update)
    if isinstance(value, list):
        return [_reread(v, decimals) for v in value]
    if isinstance(value, tuple):
        return tuple(_reread(v, decimals) for v in value)
    if isinstance(value, dict):
        return {k: _reread(v, decimals) for k, v in value.items()}
    return value


def apply_decimals(spec: TableSpec) -> TableSpec:
    """Read the table's printed numbers at ``spec.decimals`` when it declares trailing zeros dropped.

    Software that prints ``round(x, 3)`` drops trailing zeros: "0.32" is 0.320 (+/- 0.0005), not
    0.32 (+/- 0.005), and a p printed "0" is p < 0.0005. Counts and sizes are unaffected.
    """
    if spec.decimals is None:
        return spec
    return spec.model_copy(update={"rows": [_reread(r, spec.decimals) for r in spec.rows]})
