"""Inter-/intra-observer agreement: intraclass correlation (six Shrout-Fleiss forms) and Cohen's kappa.

* :func:`icc_many` — vectorised ICC of one form over thousands of features (what the ICC
  feature filter of seeds 000/002/004 needs: segmentations by two readers -> one ICC per feature);
* :func:`icc` — all six forms with F tests and confidence intervals from a long table
  (psych::ICC and pingouin.intraclass_corr parity);
* :func:`kappa` — Cohen's kappa, unweighted or linearly/quadratically weighted, with the
  large-sample variance of Fleiss, Cohen & Everitt (1969) (psych::cohen.kappa parity).

Two-way ANOVA mean squares on an n-targets x k-raters table Y:

.. math::
    MS_R = \\frac{k\\sum_i(\\bar y_{i.}-\\bar y)^2}{n-1},\\quad
    MS_C = \\frac{n\\sum_j(\\bar y_{.j}-\\bar y)^2}{k-1},\\quad
    MS_E = \\frac{SS_T-SS_R-SS_C}{(n-1)(k-1)},\\quad
    MS_W = \\frac{SS_C+SS_E}{n(k-1)}

ICC(1,1) = (MSR-MSW)/(MSR+(k-1)MSW); ICC(2,1) = (MSR-MSE)/(MSR+(k-1)MSE+k(MSC-MSE)/n);
ICC(3,1) = (MSR-MSE)/(MSR+(k-1)MSE); ICC(1,k) = (MSR-MSW)/MSR; ICC(2,k) = (MSR-MSE)/(MSR+(MSC-MSE)/n);
ICC(3,k) = (MSR-MSE)/MSR.

References
----------
Shrout PE, Fleiss JL (1979). Intraclass correlations: uses in assessing rater reliability.
Psychol Bull 86:420-428. McGraw KO, Wong SP (1996). Psychol Methods 1:30-46.
Koo TK, Li MY (2016). A guideline of selecting and reporting ICC. J Chiropr Med 15:155-163.
Cohen J (1960; 1968). Fleiss JL, Cohen J, Everitt BS (1969). Large sample standard errors of
kappa and weighted kappa. Psychol Bull 72:323-327.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..engine import resolve_engine
from ..errors import InputError
from ..results import Result
from . import _core
from ._core import renamed_args, z_value

__all__ = ["icc_many", "icc", "ICCResult", "kappa", "KappaResult", "ICC_KINDS"]

#: Shrout-Fleiss name -> (canonical short name, description as psych prints it)
ICC_KINDS: dict[str, tuple[str, str]] = {
    "ICC1,1": ("ICC1", "Single raters absolute (one-way random)"),
    "ICC2,1": ("ICC2", "Single random raters (two-way random, absolute agreement)"),
    "ICC3,1": ("ICC3", "Single fixed raters (two-way mixed, consistency)"),
    "ICC1,k": ("ICC1k", "Average raters absolute (one-way random)"),
    "ICC2,k": ("ICC2k", "Average random raters (two-way random, absolute agreement)"),
    "ICC3,k": ("ICC3k", "Average fixed raters (two-way mixed, consistency)"),
}
_ALIASES = {short: sf for sf, (short, _) in ICC_KINDS.items()}
_ALIASES.update({sf: sf for sf in ICC_KINDS})
_ALIASES.update({"ICC(1,1)": "ICC1,1", "ICC(2,1)": "ICC2,1", "ICC(3,1)": "ICC3,1",
                 "ICC(1,k)": "ICC1,k", "ICC(2,k)": "ICC2,k", "ICC(3,k)": "ICC3,k"})


def _kind(kind: str) -> str:
    sf = _ALIASES.get(kind) or _ALIASES.get(str(kind).replace(" ", ""))
    if sf is None:
        raise InputError(f"ICC kind must be one of {sorted(_ALIASES)}, got {kind!r}")
    return sf


def _mean_squares(values: np.ndarray) -> tuple[np.ndarray, ...]:
    """MSR, MSC, MSE, MSW over the last axis (features) of an (n, k, p) array."""
    n, k = values.shape[0], values.shape[1]
    grand = values.mean(axis=(0, 1))
    row_means = values.mean(axis=1)  # (n, p)
    col_means = values.mean(axis=0)  # (k, p)
    ss_total = ((values - grand) ** 2).sum(axis=(0, 1))
    ss_rows = k * ((row_means - grand) ** 2).sum(axis=0)
    ss_cols = n * ((col_means - grand) ** 2).sum(axis=0)
    ss_error = ss_total - ss_rows - ss_cols
    msr = ss_rows / (n - 1)
    msc = ss_cols / (k - 1)
    mse = ss_error / ((n - 1) * (k - 1))
    msw = (ss_cols + ss_error) / (n * (k - 1))
    return msr, msc, mse, msw


def _icc_from_ms(sf: str, msr, msc, mse, msw, n: int, k: int):
    with np.errstate(divide="ignore", invalid="ignore"):
        if sf == "ICC1,1":
            return (msr - msw) / (msr + (k - 1) * msw)
        if sf == "ICC2,1":
            return (msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n)
        if sf == "ICC3,1":
            return (msr - mse) / (msr + (k - 1) * mse)
        if sf == "ICC1,k":
            return (msr - msw) / msr
        if sf == "ICC2,k":
            return (msr - mse) / (msr + (msc - mse) / n)
        return (msr - mse) / msr


def icc_many(values: Any, kind: str = "ICC2,1") -> np.ndarray:
    """ICC of one Shrout-Fleiss form for every feature at once.

    Parameters
    ----------
    values : array-like, shape (n_targets, n_raters, n_features)
        Ratings of each target (lesion) by each rater/segmentation, one slice per feature. A 2-D
        (n_targets, n_raters) array is treated as one feature.
    kind : str
        ``"ICC1,1"``, ``"ICC2,1"`` (default; two-way random, absolute agreement, single rater —
        the form Koo & Li recommend for inter-reader feature reproducibility), ``"ICC3,1"``,
        ``"ICC1,k"``, ``"ICC2,k"``, ``"ICC3,k"`` (or pingouin's names ``"ICC2"``, ``"ICC3k"``...).

    Returns
    -------
    numpy.ndarray, shape (n_features,)
        Features constant across all targets and raters have no between-target variance and get
        NaN (R's psych::ICC gives NaN too); the ICC filter treats NaN as not reproducible.

    Notes
    -----
    One pass of means and sums of squares over the array: 1,000 features x 100 lesions x 2
    readers take about a millisecond.

    Examples
    --------
    R: ``psych::ICC(cbind(r1, r2), lmer = FALSE)$results["Single_random_raters", "ICC"]``
    equals ``icc_many(np.stack([r1, r2], axis=1))[0]`` to 1e-12.
    """
    sf = _kind(kind)
    arr = np.asarray(values, dtype=float)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3:
        raise InputError(f"icc_many needs values of shape (n_targets, n_raters, n_features), got {arr.shape}")
    n, k, _ = arr.shape
    if n < 2 or k < 2:
        raise InputError(f"icc_many needs at least 2 targets and 2 raters, got {n} targets and {k} raters")
    bad = ~np.isfinite(arr)
    if bad.any():
        feats = np.flatnonzero(bad.any(axis=(0, 1)))
        raise InputError(
            f"icc_many: {int(bad.sum())} missing/infinite rating(s) in feature(s) {feats[:10].tolist()}"
            f"{'...' if feats.size > 10 else ''}; drop or impute those targets first"
        )
    msr, msc, mse, msw = _mean_squares(arr)
    return np.asarray(_icc_from_ms(sf, msr, msc, mse, msw, n, k), dtype=float)


@dataclass(frozen=True, repr=False)
class ICCResult(Result):
    """All six Shrout-Fleiss ICC forms with F tests and confidence intervals.

    ``table`` holds one row per form (type, description, icc, F, df1, df2, p_value, ci_low,
    ci_high); ``kind`` / ``value`` / ``ci_low`` / ``ci_high`` are the form asked for.
    """

    table: pd.DataFrame = field(compare=False)
    kind: str
    value: float
    ci_low: float
    ci_high: float
    n_targets: int
    n_raters: int
    n_excluded: int
    level: float
    engine: str
    method: str = "Shrout-Fleiss intraclass correlation"

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()


def _icc_table(wide: np.ndarray, level: float) -> pd.DataFrame:
    """The psych::ICC results table (F-based CIs of Shrout & Fleiss / McGraw & Wong)."""
    n, k = wide.shape
    msr, msc, mse, msw = (float(v[0]) for v in _mean_squares(wide[:, :, None]))
    alpha = 1 - level
    df_n, df_w, df_e = n - 1, n * (k - 1), (n - 1) * (k - 1)
    f1 = msr / msw
    f3 = msr / mse
    f1l = f1 / stats.f.ppf(1 - alpha / 2, df_n, df_w)
    f1u = f1 * stats.f.ppf(1 - alpha / 2, df_w, df_n)
    f3l = f3 / stats.f.ppf(1 - alpha / 2, df_n, df_e)
    f3u = f3 * stats.f.ppf(1 - alpha / 2, df_e, df_n)
    icc2 = _icc_from_ms("ICC2,1", msr, msc, mse, msw, n, k)
    fj = msc / mse
    vn = (k - 1) * (n - 1) * (k * icc2 * fj + n * (1 + (k - 1) * icc2) - k * icc2) ** 2
    vd = (n - 1) * k**2 * icc2**2 * fj**2 + (n * (1 + (k - 1) * icc2) - k * icc2) ** 2
    v = vn / vd
    f2u = stats.f.ppf(1 - alpha / 2, n - 1, v)
    f2l = stats.f.ppf(1 - alpha / 2, v, n - 1)
    l2 = n * (msr - f2u * mse) / (f2u * (k * msc + (k * n - k - n) * mse) + n * msr)
    u2 = n * (f2l * msr - mse) / (k * msc + (k * n - k - n) * mse + n * f2l * msr)
    rows = []
    spec = {
        "ICC1,1": (f1, df_n, df_w, (f1l - 1) / (f1l + k - 1), (f1u - 1) / (f1u + k - 1)),
        "ICC2,1": (f3, df_n, df_e, l2, u2),
        "ICC3,1": (f3, df_n, df_e, (f3l - 1) / (f3l + k - 1), (f3u - 1) / (f3u + k - 1)),
        "ICC1,k": (f1, df_n, df_w, 1 - 1 / f1l, 1 - 1 / f1u),
        "ICC2,k": (f3, df_n, df_e, l2 * k / (1 + l2 * (k - 1)), u2 * k / (1 + u2 * (k - 1))),
        "ICC3,k": (f3, df_n, df_e, 1 - 1 / f3l, 1 - 1 / f3u),
    }
    for sf, (fval, d1, d2, lo, hi) in spec.items():
        short, desc = ICC_KINDS[sf]
        rows.append({
            "kind": sf, "type": short, "description": desc,
            "icc": float(_icc_from_ms(sf, msr, msc, mse, msw, n, k)),
            "F": float(fval), "df1": float(d1), "df2": float(d2),
            "p_value": float(stats.f.sf(fval, d1, d2)), "ci_low": float(lo), "ci_high": float(hi),
        })
    return pd.DataFrame(rows)


@renamed_args(conf_level="level")
def icc(df: pd.DataFrame, targets: str, raters: str, ratings: str, kind: str | None = None,
        level: float = 0.95, engine: str | None = None) -> ICCResult:
    """Intraclass correlation: all six Shrout-Fleiss forms with F tests and CIs.

    Parameters
    ----------
    df : DataFrame in long format (one row per target x rater)
    targets, raters, ratings : str
        Column names of the rated object (lesion), the rater (reader/segmentation) and the value.
    kind : str, optional
        The form to expose as ``.value`` / ``.ci_low`` / ``.ci_high`` (default ``"ICC2,1"``).
    level : float
    engine : {"r", "python", None}
        ``"r"`` calls ``psych::ICC(wide, alpha = 1 - level, lmer = FALSE)``.

    Returns
    -------
    ICCResult

    Notes
    -----
    Targets lacking a rating from any rater are excluded (complete cases, as pingouin's
    ``nan_policy="omit"``) and counted in ``n_excluded``; a target rated twice by one rater is an
    error. CIs: F-distribution intervals of Shrout & Fleiss (1979) and McGraw & Wong (1996),
    with Satterthwaite df for ICC(2,·) — exactly psych::ICC's; pingouin prints the same to 2 d.p.

    Examples
    --------
    Shrout & Fleiss (1979) Table 2 (6 targets, 4 judges): ICC(1,1) = 0.17, ICC(2,1) = 0.29,
    ICC(3,1) = 0.71, ICC(1,4) = 0.44, ICC(2,4) = 0.62, ICC(3,4) = 0.91 (tested).
    """
    sf = _kind(kind or "ICC2,1")
    for col in (targets, raters, ratings):
        if col not in df.columns:
            raise InputError(f"icc: column {col!r} not in the data (columns: {list(df.columns)[:20]})")
    dup = df.duplicated(subset=[targets, raters])
    if dup.any():
        first = df.loc[dup, [targets, raters]].iloc[0].tolist()
        raise InputError(f"icc: {int(dup.sum())} duplicated target x rater pair(s), e.g. {first}; "
                         "average repeated ratings first or give them distinct rater labels")
    col = df[ratings]
    if isinstance(col.dtype, pd.CategoricalDtype) and col.cat.ordered:
        # ordinal ratings: scored 1..K in the Categorical's order (never alphabetically)
        values_ = np.where(col.isna(), np.nan, col.cat.codes.to_numpy() + 1.0)
    elif isinstance(col.dtype, pd.CategoricalDtype) and not pd.api.types.is_numeric_dtype(col.cat.categories.dtype):
        raise InputError(f"icc: ratings column {ratings!r} is an unordered Categorical {list(col.cat.categories)[:8]}; "
                         "give numbers or an ordered Categorical (its order scores the categories 1..K)")
    else:
        values_ = _core.as_numeric(col, f"icc: ratings column {ratings!r}")
    long = pd.DataFrame({"t": df[targets].to_numpy(), "r": df[raters].to_numpy(), "v": values_})
    wide = long.pivot(index="t", columns="r", values="v")
    incomplete = wide.isna().any(axis=1)
    n_excluded = int(incomplete.sum())
    _core.announce_dropped("icc", n_excluded, wide.shape[0], {ratings: n_excluded})  # rows = targets
    wide = wide.loc[~incomplete]
    if wide.shape[0] < 2 or wide.shape[1] < 2:
        raise InputError(f"icc: need >= 2 targets with complete ratings and >= 2 raters, got "
                         f"{wide.shape[0]} targets ({n_excluded} excluded for missing ratings) and {wide.shape[1]} raters")
    values = wide.to_numpy(dtype=float)
    if np.ptp(values.mean(axis=1)) == 0:
        raise InputError(f"icc: every target has the same mean rating in {ratings!r}; the ICC is undefined")
    engine = resolve_engine(engine)
    if engine == "r":
        from .. import r_bridge

        r_bridge.require("psych")
        table = r_bridge.call("h2s_icc", wide=values, alpha=1 - level)
        table = table.reset_index(drop=True)
        table.insert(0, "kind", list(ICC_KINDS))
        table.insert(2, "description", [d for _, d in ICC_KINDS.values()])
    else:
        table = _icc_table(values, level)
    row = table.loc[table["kind"] == sf].iloc[0]
    return ICCResult(table=table, kind=sf, value=float(row["icc"]), ci_low=float(row["ci_low"]),
                     ci_high=float(row["ci_high"]), n_targets=int(values.shape[0]),
                     n_raters=int(values.shape[1]), n_excluded=n_excluded, level=level,
                     engine=engine)


# =========================================================================== kappa
@dataclass(frozen=True, repr=False)
class KappaResult(Result):
    """Cohen's kappa (``weights=None``) or weighted kappa with a Wald CI."""

    kappa: float
    se: float
    ci_low: float
    ci_high: float
    weights: str | None
    n: int
    n_excluded: int
    categories: tuple
    level: float
    engine: str
    table: pd.DataFrame = field(compare=False)
    method: str = "Cohen's kappa"

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{
            "method": self.method, "weights": self.weights or "none", "kappa": self.kappa, "se": self.se,
            "ci_low": self.ci_low, "ci_high": self.ci_high, "n": self.n, "n_excluded": self.n_excluded,
        }])


def _kappa_weights(m: int, weights: str | None) -> np.ndarray:
    i = np.arange(m)
    d = np.abs(i[:, None] - i[None, :]).astype(float)
    if weights is None:
        return np.eye(m)
    if weights == "linear":
        return 1 - d / (m - 1)
    if weights == "quadratic":
        return 1 - d**2 / (m - 1) ** 2
    raise InputError(f"kappa weights must be None, 'linear' or 'quadratic', got {weights!r}")


@renamed_args(conf_level="level")
def kappa(r1: Any, r2: Any, weights: str | None = None, categories: Any = None,
          level: float = 0.95, engine: str | None = None, levels: Any = None) -> KappaResult:
    r"""Cohen's kappa between two raters, unweighted or weighted, with a large-sample CI.

    .. math:: \kappa_w = \frac{p_o - p_e}{1 - p_e},\quad p_o=\sum_{ij} w_{ij}p_{ij},\quad
              p_e=\sum_{ij} w_{ij}p_{i.}p_{.j}

    with agreement weights :math:`w_{ij}=1` on the diagonal only (unweighted), ``"linear"``
    :math:`1-|i-j|/(m-1)` or ``"quadratic"`` :math:`1-(i-j)^2/(m-1)^2`. The variance is Fleiss,
    Cohen & Everitt's (1969); the CI is :math:`\kappa \pm z_{1-\alpha/2}\,SE`, clipped to
    [-1, 1].

    Parameters
    ----------
    r1, r2 : array-like
        Ratings of the same subjects by two raters (numbers, strings or an ordered categorical).
    weights : {None, "linear", "quadratic"}
        Weighted kappa needs ordered categories. Their order comes from ``levels`` if given, else
        an *ordered* Categorical, else a data-dictionary ordinal variable named like the Series
        (``her2_ihc``, ``grade``...), else numeric ratings; it is never alphabetical (zero < low
        < 2+ < 3+ sorted as text would be 2+, 3+, low, zero): other labels raise an InputError
        asking for ``levels=``.
    levels : sequence, optional
        All possible categories, in order (unused categories still count for the weights).
    categories : sequence, optional
        Alias of ``levels``.
    engine : {"r", "python", None}
        ``"r"`` calls ``psych::cohen.kappa``.

    Notes
    -----
    Pairs with a missing rating are excluded, counted in ``n_excluded`` and announced with a
    DroppedRowsWarning; pandas inputs are paired by index label. A rater who gives every subject
    the same rating makes kappa 0 by construction with a zero standard error: InputError.

    Examples
    --------
    R: ``psych::cohen.kappa(cbind(r1, r2))`` — ``kappa`` and ``confid[1, ]`` equal
    ``kappa(r1, r2)``; its ``weighted.kappa`` (quadratic weights by default) equals
    ``kappa(r1, r2, weights="quadratic")``.
    """
    if levels is not None and categories is not None:
        raise InputError("kappa: give the category order once, as levels= (categories= is its alias)")
    if levels is None:
        levels = categories
    if hasattr(r1, "__len__") and hasattr(r2, "__len__") and len(r1) != len(r2):
        raise InputError(f"kappa: r1 and r2 differ in length ({len(r1)} vs {len(r2)})")
    r1, r2 = _core.align(("r1", r1), ("r2", r2))
    a = pd.Series(np.asarray(r1, dtype=object) if not isinstance(r1, pd.Series) else r1.to_numpy(dtype=object))
    b = pd.Series(np.asarray(r2, dtype=object) if not isinstance(r2, pd.Series) else r2.to_numpy(dtype=object))
    missing = a.isna() | b.isna()
    n_excluded = int(missing.sum())
    _core.announce_dropped("kappa", n_excluded, len(a), {"r1": int(a.isna().sum()), "r2": int(b.isna().sum())})
    a, b = a[~missing].reset_index(drop=True), b[~missing].reset_index(drop=True)
    if a.size < 2:
        raise InputError(f"kappa: fewer than 2 complete pairs ({n_excluded} excluded for missing ratings)")
    if weights is not None and weights not in ("linear", "quadratic"):
        raise InputError(f"kappa weights must be None, 'linear' or 'quadratic', got {weights!r}")
    given = [src for src in (r1, r2) if isinstance(getattr(src, "dtype", None), pd.CategoricalDtype)]
    if levels is not None:
        categories = list(levels)
    elif weights is not None:
        ordered = [src for src in given if src.dtype.ordered]
        if ordered:
            categories = list(ordered[0].dtype.categories)
        else:
            name = next((str(src.name) for src in (r1, r2) if isinstance(getattr(src, "name", None), str)), "ratings")
            categories = _core.ordered_levels(pd.Series(pd.concat([a, b], ignore_index=True).to_numpy(), name=name),
                                              f"kappa({weights!r} weights): {name}")
    elif given:
        categories = list(given[0].dtype.categories)
    else:
        try:
            categories = sorted(set(a) | set(b))
        except TypeError as exc:
            raise InputError("kappa: ratings mix types that cannot be ordered; pass levels=[...]") from exc
    unknown = (set(a) | set(b)) - set(categories)
    if unknown:
        raise InputError(f"kappa: ratings {sorted(map(str, unknown))} are not in categories {categories}")
    for nm, v in (("r1", a), ("r2", b)):
        if v.nunique() == 1:
            raise InputError(f"kappa: rater {nm} gave every subject the same rating ({v.iloc[0]!r}); kappa is 0 by "
                             "construction and its standard error is 0, so no interval can be given")
    m = len(categories)
    if m < 2:
        raise InputError("kappa: both raters used a single category; kappa is undefined")
    pos = {c: i for i, c in enumerate(categories)}
    counts = np.zeros((m, m))
    np.add.at(counts, (a.map(pos).to_numpy(dtype=int), b.map(pos).to_numpy(dtype=int)), 1)
    table = pd.DataFrame(counts, index=pd.Index(categories, name="rater 1"),
                         columns=pd.Index(categories, name="rater 2"))
    n = int(counts.sum())
    engine = resolve_engine(engine)
    z = z_value(level)
    if engine == "r":
        from .. import r_bridge

        r_bridge.require("psych")
        out = r_bridge.call("h2s_kappa", table=counts, weights=weights or "none", alpha=1 - level)
        est, var = float(out["kappa"]), float(out["var"])
    else:
        est, var = _kappa_fce(counts, _kappa_weights(m, weights))
    se = float(np.sqrt(max(var, 0.0)))
    lo, hi = max(-1.0, est - z * se), min(1.0, est + z * se)
    method = "Cohen's kappa" if weights is None else f"Cohen's weighted kappa ({weights} weights)"
    return KappaResult(kappa=est, se=se, ci_low=lo, ci_high=hi, weights=weights, n=n, n_excluded=n_excluded,
                       categories=tuple(categories), level=level, engine=engine, table=table,
                       method=method)


def _kappa_fce(counts: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Weighted kappa and its Fleiss-Cohen-Everitt (1969) large-sample variance.

    .. math:: \\mathrm{Var}(\\hat\\kappa_w) = \\frac{1}{N(1-p_e)^4}\\Big[\\sum_{ij} p_{ij}
              \\{w_{ij}(1-p_e) - (\\bar w_{i.}+\\bar w_{.j})(1-p_o)\\}^2 - (p_op_e - 2p_e + p_o)^2\\Big]

    with :math:`\\bar w_{i.}=\\sum_j p_{.j}w_{ij}`, :math:`\\bar w_{.j}=\\sum_i p_{i.}w_{ij}`. With
    identity weights this is the unweighted formula of Fleiss et al.
    """
    n = counts.sum()
    p = counts / n
    rs, cs = p.sum(axis=1), p.sum(axis=0)
    po = float(np.sum(w * p))
    pe = float(np.sum(w * np.outer(rs, cs)))
    if pe >= 1:
        raise InputError("kappa: chance agreement is 1 (each rater used one category); kappa is undefined")
    est = (po - pe) / (1 - pe)
    w_row = w @ cs  # \bar w_{i.}
    w_col = rs @ w  # \bar w_{.j}
    inner = w * (1 - pe) - (w_row[:, None] + w_col[None, :]) * (1 - po)
    var = (np.sum(p * inner**2) - (po * pe - 2 * pe + po) ** 2) / (n * (1 - pe) ** 4)
    return float(est), float(var)
