"""Table 1: descriptive statistics by group with the tests a methods section names.

:func:`table_one` builds the table from patient-level data, :func:`table_one_from_summary` from
what a paper prints (counts; mean/SD/n), so published tables can be recomputed. Both return a
:class:`Table1`.

Rules (``"auto"``), as most HER2 imaging papers state them:

* categorical: Pearson's chi-square (Yates' continuity correction on 2x2 tables when
  ``yates=True``, R's default) unless an expected count is < 5, then Fisher's exact test;
* continuous, 2 groups: Student's t-test (``welch=True``: Welch's) when the normality test
  (Shapiro-Wilk or Kolmogorov-Smirnov) has p >= ``normality_alpha`` in every group, otherwise the
  Wilcoxon rank-sum (Mann-Whitney U) test; > 2 groups: one-way ANOVA or Kruskal-Wallis;
* optional multiplicity adjustment over the variables (Bonferroni, Holm or BH-FDR);
* optional standardized mean differences (Yang & Dalton 2012), e.g. between cohorts (TRIPOD+AI).

Every variable's missing values are counted per group and excluded from its test only; rows with
a missing group are excluded and counted.

References
----------
Yang D, Dalton JE (2012). A unified approach to measuring the effect size between two groups
using SAS. SAS Global Forum, paper 335-2012. Austin PC (2009). Balance diagnostics for comparing
the distribution of baseline covariates between treatment groups in propensity-score matched
samples. Stat Med 28:3083-3107.
"""
from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..engine import resolve_engine
from ..errors import DroppedRowsWarning, InputError, find_stack_level
from ..results import Result
from . import _core, htest

__all__ = ["Table1", "table_one", "table_one_from_summary", "smd_continuous", "smd_categorical"]

_ADJUST_LABEL = {
    "bonferroni": "Bonferroni",
    "holm": "Holm",
    "fdr_bh": "Benjamini-Hochberg false discovery rate",
    "hochberg": "Hochberg",
    "fdr_by": "Benjamini-Yekutieli false discovery rate",
}


# =========================================================================== SMD
def smd_continuous(mean1: float, sd1: float, mean2: float, sd2: float) -> float:
    r"""Standardized mean difference of a continuous variable (Yang & Dalton 2012):

    .. math:: d = \frac{\bar x_1-\bar x_2}{\sqrt{(s_1^2+s_2^2)/2}}

    Signed (group 1 minus group 2); tables usually show :math:`|d|`.
    """
    denom = np.sqrt((sd1**2 + sd2**2) / 2)
    if denom == 0:
        return 0.0 if mean1 == mean2 else float("inf")
    return float((mean1 - mean2) / denom)


def smd_categorical(p1: Sequence[float], p2: Sequence[float]) -> float:
    r"""Standardized difference of a categorical variable (Yang & Dalton 2012).

    With level proportions :math:`p_1, p_2` and the first level dropped,
    :math:`T = p_1 - p_2` and
    :math:`S_{kl} = [p_{1k}(1-p_{1k}) + p_{2k}(1-p_{2k})]/2` for k = l,
    :math:`-[p_{1k}p_{1l} + p_{2k}p_{2l}]/2` otherwise; :math:`d = \sqrt{T^\top S^{-1} T}`.
    For two levels this is :math:`|p_1-p_2|/\sqrt{[p_1(1-p_1)+p_2(1-p_2)]/2}`. (A generalised
    inverse is used when a level is empty in both groups.)
    """
    a = np.asarray(p1, dtype=float)
    b = np.asarray(p2, dtype=float)
    if a.shape != b.shape or a.size < 2:
        raise InputError("smd_categorical needs two proportion vectors of the same length >= 2")
    t = (a - b)[1:]
    pa, pb = a[1:], b[1:]
    s = -(np.outer(pa, pa) + np.outer(pb, pb)) / 2
    np.fill_diagonal(s, (pa * (1 - pa) + pb * (1 - pb)) / 2)
    if not np.any(t):
        return 0.0
    val = float(t @ np.linalg.pinv(s) @ t)
    return float(np.sqrt(max(val, 0.0)))


def _mean_pairwise(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


# =========================================================================== result
@dataclass(frozen=True, repr=False)
class Table1(Result):
    """A Table 1.

    Attributes
    ----------
    frame : DataFrame
        Display table: one row per continuous variable and per level of a categorical variable
        (with a header row per categorical variable carrying its test), columns ``variable``,
        ``level``, one column per group (``n (%)``, ``mean ± SD`` or ``median (Q1, Q3)``),
        ``test``, ``p_value``, ``p_adjusted`` (when adjusted), ``smd`` (when asked), ``missing``.
    tests : DataFrame
        One row per variable: kind, summary, test, statistic, df, p_value, p_adjusted, smd,
        missing per group, note.
    stats : DataFrame
        Tidy numbers behind the display (variable, level, group, statistic, value).
    groups : tuple
        Group levels in column order; ``n`` their sizes.
    footnotes : tuple of str
        Tests used (Student or Welch, Yates, Fisher fallback), the adjustment, exclusions.
    """

    frame: pd.DataFrame = field(compare=False)
    tests: pd.DataFrame = field(compare=False)
    stats: pd.DataFrame = field(compare=False)
    group: str | None
    groups: tuple
    n: tuple
    n_excluded: int
    footnotes: tuple[str, ...]
    p_adjust: str | None
    engine: str
    method: str = "Table 1"
    #: display labels given to ``table_one(labels=...)`` (used by the publication table)
    labels: dict = field(default_factory=dict, compare=False)

    def to_frame(self) -> pd.DataFrame:
        return self.frame.copy()

    def p_values(self) -> pd.Series:
        """Raw p-value per variable (index = variable)."""
        return self.tests.set_index("variable")["p_value"]


# =========================================================================== formatting
def _fmt(v: float, digits: int) -> str:
    if v is None or not np.isfinite(v):
        return "NA"
    return f"{v:.{digits}f}"


def _fmt_pct(count: int, total: int, digits: int) -> str:
    pct = 100.0 * count / total if total else float("nan")
    return f"{int(count)} ({_fmt(pct, digits)})"


# =========================================================================== tests per variable
def _categorical_test(counts: np.ndarray, rule: str, yates: bool, engine: str) -> tuple[htest.TestResult | None, str]:
    """Test a levels x groups count table; empty levels are dropped (they carry no information)."""
    kept = counts[counts.sum(axis=1) > 0][:, counts.sum(axis=0) > 0]
    if kept.shape[0] < 2 or kept.shape[1] < 2:
        return None, "not testable: fewer than 2 non-empty levels or groups"
    if rule not in ("auto", "chi2", "fisher"):
        raise InputError(f"categorical_test must be 'auto', 'chi2' or 'fisher', got {rule!r}")
    if rule == "auto":
        expected = np.outer(kept.sum(axis=1), kept.sum(axis=0)) / kept.sum()
        rule = "fisher" if (expected < 5).any() else "chi2"
    if rule == "fisher":
        return htest.fisher_test(kept, engine=engine), ""
    return htest.chi2_test(kept, yates=yates, engine=engine), ""


def _continuous_test(samples: list[np.ndarray], normal: bool, welch: bool, engine: str) -> htest.TestResult:
    if len(samples) == 2:
        if normal:
            return htest.ttest(samples[0], samples[1], equal_var=not welch, engine=engine)
        return htest.mannwhitney(samples[0], samples[1], engine=engine)
    if normal:
        return htest.anova(samples, engine=engine)
    return htest.kruskal(samples, engine=engine)


def _short_test_name(res: htest.TestResult | None) -> str:
    if res is None:
        return ""
    m = res.method
    if m.startswith("Pearson"):
        return "Chi-square (Yates)" if "Yates" in m else "Chi-square"
    if m.startswith("Fisher"):
        return "Fisher's exact"
    if m.startswith("Welch"):
        return "Welch t-test"
    if "t-test" in m:
        return "Student t-test"
    if m.startswith("Wilcoxon"):
        return "Mann-Whitney U"
    if m.startswith("Kruskal"):
        return "Kruskal-Wallis"
    if "analysis of means" in m:
        return "ANOVA"
    return m


# =========================================================================== assembly
def _assemble(records: list[dict], groups: tuple, n: tuple, group: str | None, n_excluded: int,
              p_adjust: str | None, p_adjust_n: int | None, smd: bool, footnotes: list[str],
              engine: str) -> Table1:
    pvals = np.array([r["p_value"] if r["p_value"] is not None else np.nan for r in records], dtype=float)
    if p_adjust is not None:
        adj = htest.p_adjust(pvals, p_adjust, n=p_adjust_n) if np.isfinite(pvals).any() else pvals
        m = int(np.isfinite(pvals).sum()) if p_adjust_n is None else p_adjust_n
        footnotes.append(f"P-values adjusted by the {_ADJUST_LABEL[_core.p_adjust_method(p_adjust)]} "
                         f"method over {m} comparisons.")
    else:
        adj = np.full(pvals.shape, np.nan)
    group_cols = [str(g) for g in groups]
    rows, test_rows, stat_rows = [], [], []
    for rec, p, pa in zip(records, pvals, adj):
        base = {"variable": rec["variable"], "level": ""}
        test_name = _short_test_name(rec["test"])
        missing = rec.get("missing")
        miss_txt = "" if not missing or not any(missing) else ", ".join(str(int(v)) for v in missing)
        head = {**base, **{g: "" for g in group_cols}, "test": test_name or rec.get("note", ""),
                "p_value": p, "missing": miss_txt}
        if p_adjust is not None:
            head["p_adjusted"] = pa
        if smd:
            head["smd"] = rec.get("smd", np.nan)
        if rec["kind"] == "categorical":
            head["variable"] = rec["variable"]
            rows.append(head)
            for lev, counts in rec["levels"].items():
                row = {"variable": rec["variable"], "level": str(lev)}
                row.update({g: _fmt_pct(c, t, rec["digits"]) for g, c, t in zip(group_cols, counts, rec["totals"])})
                row.update({"test": "", "p_value": np.nan, "missing": ""})
                if p_adjust is not None:
                    row["p_adjusted"] = np.nan
                if smd:
                    row["smd"] = np.nan
                rows.append(row)
                for g, c, t in zip(group_cols, counts, rec["totals"]):
                    stat_rows.append({"variable": rec["variable"], "level": str(lev), "group": g, "statistic": "count", "value": float(c)})
                    stat_rows.append({"variable": rec["variable"], "level": str(lev), "group": g, "statistic": "percent",
                                      "value": 100.0 * c / t if t else np.nan})
        else:
            head.update({g: s for g, s in zip(group_cols, rec["display"])})
            head["level"] = rec["summary"]
            rows.append(head)
            for g, st in zip(group_cols, rec["stats"]):
                for k, v in st.items():
                    stat_rows.append({"variable": rec["variable"], "level": "", "group": g, "statistic": k, "value": float(v)})
        res = rec["test"]
        test_rows.append({
            "variable": rec["variable"], "kind": rec["kind"], "summary": rec.get("summary", "n (%)"),
            "test": test_name, "method": res.method if res is not None else "",
            "statistic": res.statistic if res is not None else np.nan,
            "df": (res.df if not isinstance(res.df, tuple) else str(res.df)) if res is not None else np.nan,
            "p_value": p, "p_adjusted": pa, "smd": rec.get("smd", np.nan),
            "missing": tuple(int(v) for v in missing) if missing else (), "note": rec.get("note", ""),
        })
    frame = pd.DataFrame(rows)
    used = sorted({t["method"] for t in test_rows if t["method"]})
    if used:
        footnotes.append("Tests used: " + "; ".join(used) + ".")
    return Table1(frame=frame, tests=pd.DataFrame(test_rows), stats=pd.DataFrame(stat_rows), group=group,
                  groups=tuple(groups), n=tuple(int(v) for v in n), n_excluded=int(n_excluded),
                  footnotes=tuple(footnotes), p_adjust=p_adjust, engine=engine)


def _categorical_smd(counts: np.ndarray) -> float:
    totals = counts.sum(axis=0)
    props = counts / np.where(totals == 0, 1, totals)
    return _mean_pairwise([smd_categorical(props[:, i], props[:, j])
                           for i, j in itertools.combinations(range(counts.shape[1]), 2)])


def _continuous_smd(means: Sequence[float], sds: Sequence[float]) -> float:
    return _mean_pairwise([abs(smd_continuous(means[i], sds[i], means[j], sds[j]))
                           for i, j in itertools.combinations(range(len(means)), 2)])


# =========================================================================== raw data
_TYPES = ("categorical", "continuous", "normal", "nonnormal")


def _level_label(level: Any) -> Any:
    """A level as shown: a whole float (``1.0`` of a 0/1 column read with missing values) as ``1``."""
    if isinstance(level, (float, np.floating)) and float(level).is_integer():
        return int(level)
    return level


def _check_types(types: Any, variables: Sequence[str], categorical: set, df: pd.DataFrame) -> dict[str, str]:
    """``type=`` of :func:`table_one`: known variables, known types, numbers where a number is asked,
    no contradiction with ``categorical=``."""
    if types is None:
        return {}
    if not isinstance(types, Mapping):
        raise InputError(f"table_one: type must be a dict {{variable: type}} with types {_TYPES}, got {types!r}")
    out = {}
    for var, t in types.items():
        if var not in variables:
            raise InputError(f"table_one: type names {var!r}, which is not among the variables")
        if t not in _TYPES:
            raise InputError(f"table_one: type of {var!r} must be one of {_TYPES}, got {t!r}")
        if t != "categorical":
            if var in categorical:
                raise InputError(f"table_one: {var!r} is listed in categorical= but type={{{var!r}: {t!r}}}; "
                                 "give one type")
            col = df[var]
            if (not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)
                    or isinstance(col.dtype, pd.CategoricalDtype)):
                raise InputError(f"table_one: type={{{var!r}: {t!r}}} needs numbers, but column {var!r} has dtype "
                                 f"{col.dtype}")
        out[var] = t
    return out


def table_one(df: pd.DataFrame, group: str, variables: Sequence[str] | None = None,
              categorical: Sequence[str] | None = None, nonnormal: Any = "auto",
              type: Mapping[str, str] | None = None,  # noqa: A002 - the word a Table 1 user looks for
              normality_test: str = "shapiro", normality_alpha: float = 0.05,
              categorical_test: str = "auto", yates: bool = True, welch: bool = False,
              p_adjust: str | None = None, smd: bool = False, digits: int = 1,
              quantile_method: str = "linear", engine: str | None = None, labels: Mapping | None = None) -> Table1:
    """Table 1 of patient characteristics by group, with the tests chosen by the usual rules.

    Parameters
    ----------
    df : DataFrame, one row per patient/lesion
    group : str
        Column defining the groups (e.g. HER2 status, or cohort for train vs test).
    variables : list of str, optional
        Rows of the table, in order (default: every column but ``group``).
    categorical : list of str, optional
        Variables to treat as categorical. Non-numeric, boolean and categorical columns always
        are, and so is a numeric column with exactly two distinct values (a 0/1 coded ER status
        or multifocality is n (%), not a median); other numeric columns are continuous unless
        listed.
    nonnormal : "auto", bool or list of str
        ``"auto"``: a continuous variable is summarised as median (Q1, Q3) and tested
        non-parametrically when the normality test rejects (p < ``normality_alpha``) in any
        group; ``True``/``False`` forces all; a list names the non-normal variables.
    type : dict, optional
        Per-variable override of the type: ``"categorical"``, ``"continuous"`` (numeric; normality
        decided by ``nonnormal``), ``"normal"`` (mean ± SD, t-test/ANOVA) or ``"nonnormal"`` (median
        (Q1, Q3), rank test). E.g. ``type={"multifocal": "continuous", "ki67": "nonnormal"}``.
    normality_test : {"shapiro", "ks"}
        Shapiro-Wilk (seed 001) or Kolmogorov-Smirnov with estimated mean/SD (seed 002).
    categorical_test : {"auto", "chi2", "fisher"}
    yates : bool
        Continuity correction on 2x2 chi-square tests (R's default; reproduces seed 001).
    welch : bool
        Welch's t-test instead of Student's for normal continuous variables (stated in footnotes).
    p_adjust : {None, "bonferroni", "holm", "fdr_bh"}
        Adjustment over the table's variables (one p-value each).
    smd : bool
        Add standardized mean differences (Yang & Dalton 2012; mean of pairwise for > 2 groups).
    digits : int
        Decimals of means, SDs, quantiles and percentages in the display frame.
    quantile_method : str
        numpy quantile method for Q1/Q3 (``"linear"`` = R's default type 7).
    engine : {"r", "python", None}
        Engine of the tests (numbers agree to 1e-9).
    labels : mapping, optional
        Display labels overriding the data dictionary's for the publication table
        (``{"tumor_size_mm": "Tumour diameter (mm)", "er": {"label": "ER", "levels": {...}}}``,
        see :mod:`her2stats.data.labels`); a key that is not a variable or the group is refused.

    Returns
    -------
    Table1

    Examples
    --------
    >>> t1 = table_one(cohort, group="her2", categorical=["er"], p_adjust="fdr_bh")  # doctest: +SKIP
    >>> t1.to_frame()  # doctest: +SKIP
    """
    if not isinstance(df, pd.DataFrame):
        raise InputError("table_one needs a pandas DataFrame")
    if group not in df.columns:
        raise InputError(f"table_one: group column {group!r} not in the data (columns: {list(df.columns)[:20]})")
    if normality_test not in ("shapiro", "ks"):
        raise InputError(f"normality_test must be 'shapiro' or 'ks', got {normality_test!r}")
    if p_adjust is not None:
        htest.p_adjust([0.5], p_adjust)  # validates the method name
    engine_used = resolve_engine(engine)
    variables = [c for c in df.columns if c != group] if variables is None else list(variables)
    if labels is not None:
        from ..data.labels import as_labels

        as_labels(labels, known=[*map(str, variables), str(group)], source="table_one labels")  # refuses typos
        labels = dict(labels)
    missing_cols = [v for v in variables if v not in df.columns]
    if missing_cols:
        raise InputError(f"table_one: variable(s) {missing_cols} not in the data")
    if group in variables:
        raise InputError(f"table_one: the group column {group!r} cannot also be a variable")
    categorical = set(categorical or [])
    unknown = categorical - set(variables)
    if unknown:
        raise InputError(f"table_one: categorical variable(s) {sorted(unknown)} are not among the variables")
    types = _check_types(type, variables, categorical, df)
    categorical |= {v for v, t in types.items() if t == "categorical"}
    _core.refuse_numeric_strays(df, [v for v in variables if v not in categorical], "table_one")
    gser = df[group]
    n_excluded = int(gser.isna().sum())
    _core.announce_dropped("table_one", n_excluded, len(df), {group: n_excluded})
    data = df.loc[gser.notna()]
    gser = data[group]
    groups = tuple(gser.cat.categories if isinstance(gser.dtype, pd.CategoricalDtype) else sorted(pd.unique(gser)))
    groups = tuple(g for g in groups if (gser == g).any())
    if len(groups) < 2:
        raise InputError(f"table_one: group column {group!r} has {len(groups)} non-empty level(s); need >= 2")
    masks = [(gser == g).to_numpy() for g in groups]
    n = tuple(int(m.sum()) for m in masks)
    small = [g for g, k in zip(groups, n) if k < 2]
    if small:
        raise InputError(f"table_one: group(s) {small} of {group!r} have fewer than 2 members")

    records: list[dict] = []
    constant_vars: list[str] = []
    two_valued: list[str] = []
    any_fisher = any_yates = False
    normal_rule_used = nonparam_used = False
    for var in variables:
        col = data[var]
        is_cat = (var in categorical or not pd.api.types.is_numeric_dtype(col)
                  or pd.api.types.is_bool_dtype(col) or isinstance(col.dtype, pd.CategoricalDtype))
        if not is_cat and var not in types and col.dropna().nunique() == 2:
            is_cat = True  # a two-valued number (0/1) is a category, not a quantity
            two_valued.append(var)
        missing = [int(col[m].isna().sum()) for m in masks]
        if is_cat:
            if isinstance(col.dtype, pd.CategoricalDtype):
                levels = list(col.cat.categories)
            elif pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
                levels = sorted(pd.unique(col.dropna()))  # numbers in numeric order (0, 1, 2, 10)
            else:
                levels = sorted(pd.unique(col.dropna()), key=str)
            if len(levels) == 0:
                raise InputError(f"table_one: variable {var!r} has no non-missing values")
            # fillna: nullable dtypes (Int64 pcr with missing values) compare to <NA>, not False
            counts = np.array([[int(((col == lev).fillna(False).to_numpy(dtype=bool) & m).sum()) for m in masks]
                               for lev in levels])
            res, note = _categorical_test(counts, categorical_test, yates, engine_used)
            any_fisher |= res is not None and res.method.startswith("Fisher")
            any_yates |= res is not None and "Yates" in res.method
            rec = {"variable": var, "kind": "categorical",
                   "levels": dict(zip(map(_level_label, levels), counts.tolist())),
                   "totals": counts.sum(axis=0).tolist(), "test": res, "p_value": res.p_value if res else None,
                   "missing": missing, "note": note, "digits": digits, "summary": "n (%)"}
            if smd:
                rec["smd"] = _categorical_smd(counts)
            records.append(rec)
            continue
        samples = [col[m].dropna().to_numpy(dtype=float) for m in masks]
        if any(s.size < 2 for s in samples):
            raise InputError(f"table_one: variable {var!r} has fewer than 2 non-missing values in a group "
                             f"(non-missing per group: {[s.size for s in samples]})")
        constant = np.ptp(np.concatenate(samples)) == 0
        if constant:
            normal = False
        elif types.get(var) in ("normal", "nonnormal"):
            normal = types[var] == "normal"
        elif isinstance(nonnormal, str) and nonnormal == "auto":
            normal = True
            for s in samples:
                if s.size < 3 or np.ptp(s) == 0:
                    normal = False
                    break
                if normality_test == "shapiro" and s.size > 5000:
                    normal = False  # Shapiro-Wilk undefined; large samples: rank test is safe
                    break
                if htest.normality(s, normality_test).p_value < normality_alpha:
                    normal = False
                    break
        elif isinstance(nonnormal, bool):
            normal = not nonnormal
        else:
            normal = var not in set(nonnormal)
        if constant:
            # one value in every group: no test statistic exists (same answer on both engines)
            res = None
            constant_vars.append(var)
        else:
            res = _continuous_test(samples, normal, welch, engine_used)
            normal_rule_used |= normal
            nonparam_used |= not normal
        stats_g = [{"n": s.size, "mean": s.mean(), "sd": s.std(ddof=1), "median": np.median(s),
                    "q1": np.quantile(s, 0.25, method=quantile_method),
                    "q3": np.quantile(s, 0.75, method=quantile_method)} for s in samples]
        if normal:
            display = [f"{_fmt(st['mean'], digits)} ± {_fmt(st['sd'], digits)}" for st in stats_g]
            summary = "mean ± SD"
        else:
            display = [f"{_fmt(st['median'], digits)} ({_fmt(st['q1'], digits)}, {_fmt(st['q3'], digits)})" for st in stats_g]
            summary = "median (Q1, Q3)"
        rec = {"variable": var, "kind": "continuous", "display": display, "stats": stats_g, "summary": summary,
               "test": res, "p_value": res.p_value if res is not None else None, "missing": missing}
        if constant:
            rec["note"] = "not testable: constant"
        if smd:
            rec["smd"] = _continuous_smd([st["mean"] for st in stats_g], [st["sd"] for st in stats_g])
        records.append(rec)

    footnotes = ["Categorical variables: n (%) of each group's non-missing values."]
    if two_valued:
        footnotes.append("Numeric variables with two values (" + ", ".join(two_valued) + ") are categorical "
                         "(pass type={variable: 'continuous'} to summarise one as a number).")
    if any_yates or any_fisher or categorical_test == "auto":
        footnotes.append(
            "Categorical: Pearson's chi-square test" + (" with Yates' continuity correction on 2x2 tables" if yates else "")
            + ("; Fisher's exact test when an expected count was < 5" if categorical_test == "auto" else "") + ".")
    if normal_rule_used or nonparam_used:
        norm_name = "Shapiro-Wilk" if normality_test == "shapiro" else "Kolmogorov-Smirnov"
        rule = (f"normality by the {norm_name} test (p >= {normality_alpha:g} in every group)"
                if isinstance(nonnormal, str) and nonnormal == "auto" else "normality as specified")
        two = len(groups) == 2
        par = ("Welch's t-test" if welch else "Student's t-test") if two else "one-way ANOVA"
        npar = "Wilcoxon rank-sum (Mann-Whitney U) test" if two else "Kruskal-Wallis test"
        footnotes.append(f"Continuous: mean ± SD and {par} under {rule}; otherwise median (Q1, Q3) and the {npar}.")
    if smd:
        footnotes.append("SMD: standardized mean difference (Yang & Dalton 2012)"
                         + ("; mean of pairwise SMDs." if len(groups) > 2 else "."))
    for r in records:
        if r["kind"] == "categorical" and sum(1 for c in r["levels"].values() if sum(c)) == 1:
            constant_vars.append(r["variable"])
    if constant_vars:
        warnings.warn(f"table_one: {', '.join(repr(v) for v in constant_vars)} take(s) a single value in the "
                      "analysed rows; no test is possible (p-value left empty)", UserWarning, stacklevel=find_stack_level())
    miss_total = sum(sum(r["missing"]) for r in records)
    if miss_total:
        per_var = {r["variable"]: sum(r["missing"]) for r in records if sum(r["missing"])}
        warnings.warn("table_one: missing values left out variable by variable (each row of the table uses its "
                      "variable's non-missing values): " + ", ".join(f"'{k}' ({v})" for k, v in per_var.items()),
                      DroppedRowsWarning, stacklevel=find_stack_level())
        footnotes.append(f"Missing values (per group, in column 'missing') were excluded variable by variable: {miss_total} in total.")
    if n_excluded:
        footnotes.append(f"{n_excluded} row(s) with missing {group!r} excluded.")
    t1 = _assemble(records, groups, n, group, n_excluded, p_adjust, None, smd, footnotes, engine_used)
    return replace(t1, labels=labels) if labels else t1


# =========================================================================== from summaries
def table_one_from_summary(groups: Sequence[str], categorical: Mapping[str, Mapping[str, Sequence[int]]] | None = None,
                           continuous: Mapping[str, Mapping[str, Sequence[float]]] | None = None,
                           categorical_test: str = "auto", yates: bool = True, welch: bool = False,
                           p_adjust: str | None = None, p_adjust_n: int | None = None, smd: bool = False,
                           digits: int = 1, order: Sequence[str] | None = None,
                           engine: str | None = None) -> Table1:
    """Table 1 rebuilt from a paper's printed numbers (no patient-level data).

    Parameters
    ----------
    groups : list of str
        Group labels in column order.
    categorical : dict
        ``{variable: {level: [count in group 1, count in group 2, ...]}}``.
    continuous : dict
        ``{variable: {"mean": [...], "sd": [...], "n": [...]}}`` (tested by the t-test or ANOVA
        from summaries) or ``{variable: {"median": [...], "q1": [...], "q3": [...]}}`` (shown,
        but a rank test needs the data: p is NaN with a note).
    categorical_test, yates, welch, p_adjust, smd, digits, engine
        As :func:`table_one`.
    p_adjust_n : int, optional
        Size of the multiplicity family when it is larger than the derivable p-values (e.g. the
        paper adjusted over Wilcoxon tests whose data are not printed).
    order : list of str, optional
        Row order (default: categorical variables, then continuous ones, each as given).

    Examples
    --------
    Seed 001, Table 1, Location (train vs test): chi-square with Yates gives the printed 0.761.

    >>> t = table_one_from_summary(["Train", "Test"], {"Location": {"Left": [78, 27], "Right": [71, 21]}})
    >>> round(float(t.p_values()["Location"]), 3)
    0.761
    """
    groups = tuple(str(g) for g in groups)
    k = len(groups)
    if k < 2:
        raise InputError("table_one_from_summary needs at least 2 groups")
    categorical = dict(categorical or {})
    continuous = dict(continuous or {})
    overlap = set(categorical) & set(continuous)
    if overlap:
        raise InputError(f"variables {sorted(overlap)} are given as both categorical and continuous")
    names = list(order) if order is not None else list(categorical) + list(continuous)
    unknown = set(names) - set(categorical) - set(continuous)
    if unknown:
        raise InputError(f"order names unknown variable(s) {sorted(unknown)}")
    engine_used = resolve_engine(engine)
    records = []
    n_groups = None
    for var in names:
        if var in categorical:
            levels = categorical[var]
            counts = np.asarray([list(v) for v in levels.values()], dtype=float)
            if counts.ndim != 2 or counts.shape[1] != k:
                raise InputError(f"categorical {var!r}: every level needs {k} counts (one per group), got {counts.tolist()}")
            if np.any(counts < 0) or np.any(np.abs(counts - np.round(counts)) > 1e-9):
                raise InputError(f"categorical {var!r}: counts must be non-negative integers, got {counts.tolist()}")
            counts = counts.astype(int)
            res, note = _categorical_test(counts, categorical_test, yates, engine_used)
            rec = {"variable": var, "kind": "categorical", "levels": dict(zip(levels.keys(), counts.tolist())),
                   "totals": counts.sum(axis=0).tolist(), "test": res, "p_value": res.p_value if res else None,
                   "missing": None, "note": note, "digits": digits, "summary": "n (%)"}
            if smd:
                rec["smd"] = _categorical_smd(counts)
            n_groups = n_groups or tuple(counts.sum(axis=0).tolist())
            records.append(rec)
            continue
        spec = continuous[var]
        if {"mean", "sd", "n"} <= set(spec):
            means, sds, ns = (np.asarray(spec[key], dtype=float) for key in ("mean", "sd", "n"))
            if not (means.size == sds.size == ns.size == k):
                raise InputError(f"continuous {var!r}: mean, sd and n need {k} values each")
            if k == 2:
                res = htest.ttest_from_summary(means[0], sds[0], int(ns[0]), means[1], sds[1], int(ns[1]), equal_var=not welch)
            else:
                res = htest.anova_from_summary(means, sds, ns.astype(int))
            rec = {"variable": var, "kind": "continuous", "summary": "mean ± SD", "test": res, "p_value": res.p_value,
                   "display": [f"{_fmt(m, digits)} ± {_fmt(s, digits)}" for m, s in zip(means, sds)],
                   "stats": [{"n": n_, "mean": m, "sd": s} for m, s, n_ in zip(means, sds, ns)], "missing": None}
            if smd:
                rec["smd"] = _continuous_smd(means, sds)
        elif {"median", "q1", "q3"} <= set(spec):
            med, q1, q3 = (np.asarray(spec[key], dtype=float) for key in ("median", "q1", "q3"))
            rec = {"variable": var, "kind": "continuous", "summary": "median (Q1, Q3)", "test": None, "p_value": None,
                   "display": [f"{_fmt(a, digits)} ({_fmt(b, digits)}, {_fmt(c, digits)})" for a, b, c in zip(med, q1, q3)],
                   "stats": [{"median": a, "q1": b, "q3": c} for a, b, c in zip(med, q1, q3)], "missing": None,
                   "note": "not computable from median (Q1, Q3): a rank test needs the data"}
            if smd:
                rec["smd"] = np.nan
        else:
            raise InputError(f"continuous {var!r} needs keys mean/sd/n or median/q1/q3, got {sorted(spec)}")
        records.append(rec)
    footnotes = ["Recomputed from published summaries (counts; mean, SD and n)."]
    if categorical:
        footnotes.append(
            "Categorical: Pearson's chi-square test" + (" with Yates' continuity correction on 2x2 tables" if yates else "")
            + ("; Fisher's exact test when an expected count was < 5" if categorical_test == "auto" else "") + ".")
    if any(r["kind"] == "continuous" and r["test"] is not None for r in records):
        footnotes.append("Continuous (mean ± SD): " + (("Welch's" if welch else "Student's") + " t-test" if k == 2 else "one-way ANOVA")
                         + " from the summaries.")
    return _assemble(records, groups, n_groups or tuple([0] * k), None, 0, p_adjust, p_adjust_n, smd,
                     footnotes, engine_used)
