"""ROC curves, AUC with confidence intervals, and AUC comparisons (pROC semantics).

Every function takes a binary outcome ``y`` and a numeric ``score``. The event (the case, coded
1) follows the package's one rule (:func:`her2stats.stats._core.binary_outcome`): 1 of a 0/1
coding, ``True``, the higher category of an *ordered* two-category Categorical, ``positive`` of a
data-dictionary variable such as ``her2_status``, or the label given as ``event=``; any other labels
(``"HER2+"``/``"HER2-"``, an unordered Categorical) raise an InputError asking for ``event=``.
pandas inputs are paired by index label (reordered when the labels match, refused otherwise), never
by position.
Conventions follow pROC 1.18 (Robin et al., BMC Bioinformatics 2011;12:77) so that
``engine="python"`` and ``engine="r"`` give the same numbers:

* **direction** -- ``"<"``: controls have lower scores (``control < t <= case``, a subject is
  test-positive when ``score >= t``); ``">"``: controls have higher scores (positive when
  ``score <= t``). ``"auto"`` picks ``"<"`` when ``median(controls) <= median(cases)`` and
  ``">"`` otherwise, so the AUC is >= 0.5 -- which makes a test of "AUC = 0.5" optimistic; fix
  the direction from development data when testing.
* **ties** -- a case tied with a control counts 1/2 (midranks); the AUC is the Mann-Whitney
  statistic ``U / (n_pos * n_neg)``.
* **thresholds** -- midpoints between consecutive distinct scores plus ``-Inf``/``+Inf``
  (pROC ``roc.utils.thresholds``), listed so that sensitivity falls from 1 to 0.

Beyond the whole AUC (pROC 1.18 parity, issue 20): partial AUCs (:func:`roc_auc` ``partial=``),
sensitivity at fixed specificities and the reverse (:func:`sensitivity_at`, :func:`specificity_at`),
tests at a fixed operating point, of partial AUCs and one-sided (:func:`roc_test`), one score across
three or more classes (:func:`multiclass_auc`), smoothed curves (:func:`roc_curve` ``smooth=``,
:mod:`her2stats.stats.roc_smooth`), variances and covariances (:mod:`her2stats.stats.roc_variance`)
and power (:mod:`her2stats.stats.roc_power`). A predictor holding text is refused, as pROC refuses a
character predictor, even when the text looks like numbers.

Numbers: the DeLong variance uses the O(n log n) midrank algorithm of Sun & Xu (IEEE Signal
Process Lett 2014;21:1389-93), identical to DeLong, DeLong & Clarke-Pearson (Biometrics
1988;44:837-45); bootstrap replicates resample cases and controls separately (pROC's
``boot.stratified=TRUE``) and give percentile intervals (R ``quantile`` type 7).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from ..engine import resolve_engine
from ..errors import InputError, find_stack_level
from ..resampling import bootstrap_indices, run_replicates, stratified_indices
from ..results import Result
from ..schedulers import check_scheduler
from ._core import (Clean, adjust_p, align, check_level, check_n_boot, child_seeds, clean_binary, p_adjust_method,
                    percentile_interval, positions, r_seed, z_value)

__all__ = [
    "AUCResult",
    "RocCurveResult",
    "YoudenResult",
    "RocTestResult",
    "AUCComparison",
    "MulticlassAUCResult",
    "roc_auc",
    "auc_ci_from_summary",
    "roc_curve",
    "youden",
    "roc_test",
    "compare_aucs",
    "multiclass_auc",
    "OperatingPointResult",
    "sensitivity_at",
    "specificity_at",
]

_CI_METHODS = ("delong", "bootstrap", "exact", "hanley")
_DIRECTIONS = ("auto", "<", ">")


# =========================================================================== input checks
def _clean(y: Any, scores: Mapping[str, Any], na: str, y_name: str = "y", min_per_class: int = 1,
           event: Any = None, function: str = "") -> Clean:
    """Validate a binary outcome and one or more aligned scores (the core's one rule); a score
    holding text is refused, as pROC refuses a character predictor."""
    for k, v in scores.items():
        _refuse_text(v, k)
    return clean_binary(y, scores, na, y_name=y_name, min_per_class=min_per_class, event=event, function=function)


def _check_direction(direction: str) -> str:
    if direction not in _DIRECTIONS:
        raise InputError(f"direction must be one of {_DIRECTIONS}, got {direction!r}")
    return direction


def resolve_direction(y: np.ndarray, score: np.ndarray, direction: str = "auto") -> str:
    """pROC's rule: ``"<"`` if ``median(controls) <= median(cases)`` else ``">"``."""
    _check_direction(direction)
    if direction != "auto":
        return direction
    return "<" if np.median(score[y == 0]) <= np.median(score[y == 1]) else ">"


def announce_direction(function: str, asked: str, chosen: str) -> None:
    """Warn (:class:`~her2stats.errors.DirectionWarning`) when ``direction="auto"`` chose ``">"``,
    with pROC's words ``Setting direction: controls > cases``."""
    if asked == "auto" and chosen == ">":
        from ..errors import DirectionWarning

        warnings.warn(f"{function}: Setting direction: controls > cases (direction='auto' chose '>': the median score "
                      "of the controls is above that of the cases, so lower scores are taken to mean a case and the "
                      "AUC is at least 0.5). Fix the direction on development data (direction='>' or '<') and carry "
                      "it to the test cohorts.", DirectionWarning, stacklevel=find_stack_level())


def _oriented(score: np.ndarray, direction: str) -> np.ndarray:
    """Scores turned so that larger means 'more likely a case'."""
    return score if direction == "<" else -score


_ALTERNATIVES = ("two.sided", "greater", "less")
_FOCUS = ("specificity", "sensitivity")


def _refuse_text(x: Any, name: str) -> None:
    """A predictor holding text is refused (pROC: "Predictor must be numeric or ordered").

    Numeric strings (``"0.3"``) are refused too: a score read as text usually means a column was
    parsed wrongly, and converting it behind the user's back would hide that.
    """
    if x is None or isinstance(x, np.ndarray) and x.dtype.kind in "biuf":
        return
    if isinstance(x, pd.Series) and (pd.api.types.is_numeric_dtype(x.dtype) or
                                     isinstance(x.dtype, pd.CategoricalDtype)):
        return
    if isinstance(x, pd.DataFrame) or np.isscalar(x):
        return  # the core's checks name these
    try:
        values = x.to_numpy(dtype=object) if isinstance(x, (pd.Series, pd.Index)) else np.asarray(x, dtype=object)
    except (TypeError, ValueError):
        return
    if values.ndim != 1:
        return
    is_text = np.fromiter((isinstance(v, (str, bytes)) for v in values), dtype=bool, count=len(values))
    if not is_text.any():
        return
    vals = list(dict.fromkeys(values[is_text].tolist()))
    shown = ", ".join(repr(v) for v in vals[:6]) + (f", ... ({len(vals)} in all)" if len(vals) > 6 else "")
    rows = (x.index[is_text] if isinstance(x, pd.Series) else np.flatnonzero(is_text))[:5]
    rows_txt = ", ".join(repr(r.item() if isinstance(r, np.generic) else r) for r in rows)
    raise InputError(
        f"{name} must be numeric but has {int(is_text.sum())} text value(s) [{shown}] (rows [{rows_txt}"
        f"{', ...' if is_text.sum() > 5 else ''}]): a predictor is never read from text, whether or not the text "
        "looks like a number (pROC refuses a character predictor too). Fix the values, or convert them with "
        "pd.to_numeric after checking them; set them to NaN if they mean 'missing'")


def _check_alternative(alternative: str) -> str:
    if alternative not in _ALTERNATIVES:
        raise InputError(f"alternative must be one of {_ALTERNATIVES}, got {alternative!r}")
    return alternative


def _p_value(stat: float, alternative: str, df: float | None = None) -> float:
    """p-value of a z (or t with ``df``) statistic; ``"greater"`` tests estimate1 > estimate2."""
    dist = sps.norm if df is None else sps.t(df)
    if alternative == "two.sided":
        return float(2 * dist.sf(abs(stat)))
    if alternative == "greater":
        return float(dist.sf(stat))
    return float(dist.cdf(stat))


def _check_partial(partial: Any, focus: str, correct: Any) -> tuple[float, float] | None:
    """``partial`` as (upper, lower) bounds in [0, 1] (pROC sorts them decreasing), or None."""
    if partial is None or partial is False:
        if correct not in (False, 0):
            raise InputError("correct=True standardises a partial AUC (McClish): give partial=(lower, upper) too")
        return None
    if focus not in _FOCUS:
        raise InputError(f"focus must be one of {_FOCUS}, got {focus!r}")
    if not isinstance(correct, (bool, np.bool_)):
        raise InputError(f"correct must be True or False, got {correct!r}")
    try:
        lo_hi = [float(v) for v in partial]
    except (TypeError, ValueError):
        raise InputError(f"partial must be two {focus} bounds such as (0.8, 1.0), got {partial!r}") from None
    if len(lo_hi) != 2 or not all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in lo_hi) or lo_hi[0] == lo_hi[1]:
        raise InputError(f"partial must be two different {focus} bounds in [0, 1] such as (0.8, 1.0), got {partial!r}")
    hi, lo = max(lo_hi), min(lo_hi)
    return hi, lo


def _sesp(cases: np.ndarray, controls: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Empirical ROC points of oriented scores (positive when ``score >= t``), in pROC's order
    (specificity rising from 0 to 1): one point below every distinct value plus one above all.

    The same points as :func:`_curve_points` without the thresholds (bootstrap replicates need
    no thresholds); ``se = tp / n_cases`` and ``sp = tn / n_controls`` as pROC computes them.
    """
    m, n = len(cases), len(controls)
    u = np.unique(np.concatenate([cases, controls]))
    le_case = np.searchsorted(np.sort(cases), u, "right")
    le_ctrl = np.searchsorted(np.sort(controls), u, "right")
    se = np.concatenate([[m], m - le_case]) / m
    sp = np.concatenate([[0], le_ctrl]) / n
    return se, sp


def _mcclish_bounds(partial: tuple[float, float]) -> tuple[float, float]:
    """Partial AUC of the chance diagonal and of a perfect test over the region (McClish 1989)."""
    hi, lo = partial
    return ((1 - hi) + (1 - lo)) * (hi - lo) / 2, hi - lo


def _partial_auc(se: np.ndarray, sp: np.ndarray, partial: tuple[float, float], focus: str = "specificity",
                 correct: bool = False, allow_invalid: bool = False, warn: bool = True) -> float:
    """Area under the piecewise-linear ROC curve over a specificity (or sensitivity) band.

    The curve (pROC order: specificity rising) is integrated as the polygon through its points,
    with linear interpolation where the band's edges cut a segment (pROC ``auc(partial.auc=)``).
    ``correct=True``: McClish's standardisation ``(1 + (pAUC - min) / (max - min)) / 2`` with
    ``min`` the diagonal's and ``max`` a perfect test's partial area, so 0.5 = chance and 1 =
    perfect; undefined (NaN, with a warning as pROC) for a curve below the diagonal unless
    ``allow_invalid`` (bootstrap replicates, as pROC).
    """
    hi, lo = partial
    if focus == "sensitivity":
        x, yv = se[::-1], sp[::-1]
    else:
        x, yv = sp, se
    x0, x1, y0, y1 = x[:-1], x[1:], yv[:-1], yv[1:]
    a, b = np.maximum(x0, lo), np.minimum(x1, hi)
    keep = b > a
    with np.errstate(invalid="ignore", divide="ignore"):
        w = x1 - x0
        ya = np.where(a == x0, y0, np.where(a == x1, y1, y0 + (a - x0) / w * (y1 - y0)))
        yb = np.where(b == x1, y1, np.where(b == x0, y0, y0 + (b - x0) / w * (y1 - y0)))
    area = float(np.sum(((ya + yb) / 2 * (b - a))[keep]))
    if not correct:
        return area
    mn, mx = _mcclish_bounds(partial)
    if area < mn and not allow_invalid:
        if warn:
            warnings.warn("Partial AUC correction not defined for ROC curves below the diagonal: the corrected "
                          "partial AUC is NaN (as pROC)", UserWarning, stacklevel=find_stack_level())
        return float("nan")
    return (1 + (area - mn) / (mx - mn)) / 2


def _coords_at(se: np.ndarray, sp: np.ndarray, values: Sequence[float], given: str) -> np.ndarray:
    """pROC ``coords(input = "specificity" | "sensitivity")``: the other coordinate at each value.

    On the curve in pROC order (specificity rising, sensitivity falling): a value met exactly by
    one or more points gives the point with the best other coordinate (the first such point for a
    specificity, the last for a sensitivity); otherwise pROC interpolates linearly between the two
    neighbouring points, which need not be an achievable cut-off.
    """
    if given == "specificity":
        inp, out, rising = sp, se, True
    else:
        inp, out, rising = se, sp, False
    res = np.empty(len(values))
    for i, v in enumerate(values):
        hit = np.flatnonzero(inp == v)
        if len(hit):
            res[i] = out[hit[0] if rising else hit[-1]]
            continue
        nxt = int(np.argmax(inp > v)) if rising else int(np.argmax(inp < v))
        prop = (v - inp[nxt]) / (inp[nxt - 1] - inp[nxt])
        res[i] = out[nxt] + prop * (out[nxt - 1] - out[nxt])
    return res


def _achievable_index(se: np.ndarray, sp: np.ndarray, value: float, given: str) -> int:
    """The cut-off a rule "specificity >= value" (or sensitivity) would choose: among the points
    meeting the target, the one with the best other coordinate (then the closest to the target).
    Same choice as :func:`her2stats.stats.diagnostics.choose_threshold`."""
    if given == "specificity":
        ok = np.flatnonzero(sp >= value)
        return int(ok[se[ok] == se[ok].max()][-1])
    ok = np.flatnonzero(se >= value)
    return int(ok[sp[ok] == sp[ok].max()][0])


# =========================================================================== core algorithms
def _delong_placements(y: np.ndarray, s: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """AUC and DeLong placement values by midranks (Sun & Xu 2014), O(n log n).

    ``v10[i]`` = share of controls below case i (ties 1/2); ``v01[j]`` = share of cases above
    control j. ``AUC = mean(v10) = mean(v01)``.
    """
    from ._kernels import delong_placements

    # midrank(case in all) - midrank(case among cases) = #controls below + 1/2 #tied controls.
    # One argsort of the scores gives it for every subject: a compiled walk over the groups of
    # equal values counts cases and controls before and within each group (the argsort is the
    # whole cost; ties need no stable order: equal values form one group).
    yy = np.ascontiguousarray(y, dtype=np.int8)
    ss = np.ascontiguousarray(s, dtype=float)
    m = int(np.count_nonzero(yy))
    v = delong_placements(np.argsort(ss), ss, yy, m, len(yy) - m)
    case = yy == 1
    v10, v01 = v[case], v[~case]
    return float(v10.mean()), v10, v01


def _delong_var(v10: np.ndarray, v01: np.ndarray) -> float:
    m, n = len(v10), len(v01)
    if m < 2 or n < 2:
        return float("nan")
    return float(np.var(v10, ddof=1) / m + np.var(v01, ddof=1) / n)


class _FastAUC:
    """AUC of bootstrap resamples in O(n_pos + n_neg) each, after one sort.

    For a resample with case indices ``ip`` and control indices ``ineg`` (into the original
    cases/controls) the AUC is the mean over resampled cases of (#resampled controls below +
    1/2 #tied), read off a cumulative count of the resampled controls in sorted order.
    """

    def __init__(self, pos: np.ndarray, neg: np.ndarray):
        self.m, self.n = len(pos), len(neg)
        order = np.argsort(neg, kind="stable")
        sorted_neg = neg[order]
        self.slot = np.empty(self.n, dtype=np.intp)
        self.slot[order] = np.arange(self.n)
        self.lo = np.searchsorted(sorted_neg, pos, "left")
        self.hi = np.searchsorted(sorted_neg, pos, "right")

    def auc(self, ip: np.ndarray, ineg: np.ndarray) -> float:
        cum = np.zeros(self.n + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.slot[ineg], minlength=self.n), out=cum[1:])
        twice = cum[self.lo[ip]].sum() + cum[self.hi[ip]].sum()
        return float(twice) / (2.0 * len(ip) * len(ineg))


def _stratified_draw(rng: np.random.Generator, m: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Cases and controls resampled separately (pROC ``boot.stratified=TRUE``)."""
    return bootstrap_indices(rng, m), bootstrap_indices(rng, n)


def _nan_percentile(values: np.ndarray, level: float) -> tuple[float, float]:
    """Percentile interval of the replicates that are not NaN (pROC ignores NA replicates, with a
    warning: here one names the count)."""
    ok = ~np.isnan(values)
    if not ok.all():
        warnings.warn(f"{int((~ok).sum())} of {len(values)} bootstrap replicate(s) gave NaN and were ignored",
                      UserWarning, stacklevel=find_stack_level())
    if not ok.any():
        return float("nan"), float("nan")
    return percentile_interval(values[ok], level)


def _boot_partial(y: np.ndarray, so: np.ndarray, part: tuple[float, float], focus: str, correct: bool,
                  n_boot: int, seed: Any, scheduler: Any) -> np.ndarray:
    """Partial AUC of stratified resamples (oriented scores; replicates may pass below the
    diagonal, as pROC's ``allow.invalid.partial.auc.correct``)."""
    pos, neg = so[y == 1], so[y == 0]

    def fn(rng: np.random.Generator, k: int) -> np.ndarray:
        out = np.empty(k)
        for b in range(k):
            ip, ineg = _stratified_draw(rng, len(pos), len(neg))
            se, sp = _sesp(pos[ip], neg[ineg])
            out[b] = _partial_auc(se, sp, part, focus, correct, allow_invalid=True)
        return out

    return run_replicates(fn, n_boot, seed=seed, scheduler=scheduler, desc="bootstrap partial AUC")


def _boot_aucs(y: np.ndarray, s: np.ndarray, n_boot: int, seed: Any, scheduler: Any) -> np.ndarray:
    fast = _FastAUC(s[y == 1], s[y == 0])

    def fn(rng: np.random.Generator, k: int) -> np.ndarray:
        out = np.empty(k)
        for b in range(k):
            ip, ineg = _stratified_draw(rng, fast.m, fast.n)
            out[b] = fast.auc(ip, ineg)
        return out

    return run_replicates(fn, n_boot, seed=seed, scheduler=scheduler, desc="bootstrap AUC")


# =========================================================================== results
@dataclass(frozen=True, repr=False)
class AUCResult(Result):
    """Area under the ROC curve with its confidence interval.

    ``se`` is the DeLong standard error; ``z``/``p_value`` test H0: AUC = 0.5 with it
    (``(auc - 0.5) / se``). ``n_dropped`` counts rows removed for missing values (``na="drop"``).
    """

    auc: float
    ci_low: float
    ci_high: float
    level: float
    method: str
    n_pos: int
    n_neg: int
    direction: str
    engine: str
    se: float
    z: float
    p_value: float
    n_dropped: int = 0
    n_boot: int | None = None
    partial: tuple | None = None
    focus: str | None = None
    correct: bool = False

    @property
    def quantity(self) -> str:
        """What ``auc`` is: ``"AUC"`` or e.g. ``"partial AUC (specificity 0.8-1, McClish-corrected)"``."""
        if self.partial is None:
            return "AUC"
        hi, lo = self.partial
        return f"partial AUC ({self.focus} {lo:g}-{hi:g}{', McClish-corrected' if self.correct else ''})"

    def to_frame(self) -> pd.DataFrame:
        row = {
            "auc": self.auc, "ci_low": self.ci_low, "ci_high": self.ci_high, "level": self.level,
            "ci_method": self.method, "se_delong": self.se, "z_vs_0.5": self.z, "p_vs_0.5": self.p_value,
            "n_pos": self.n_pos, "n_neg": self.n_neg, "n_dropped": self.n_dropped,
            "direction": self.direction, "engine": self.engine,
        }
        if self.partial is not None:
            row = {"quantity": self.quantity, **row}
        return pd.DataFrame([row])


@dataclass(frozen=True, repr=False)
class RocCurveResult(Result):
    """ROC curve: one row per pROC threshold (sensitivity falls from 1 to 0).

    A smoothed curve (``method="binormal"`` or ``"density"``) has no thresholds (NaN); its
    ``auc`` is the smoothed curve's area and ``smoothing`` holds the fitted parameters
    (binormal ``intercept``/``slope``, density ``bandwidth``).
    """

    thresholds: np.ndarray
    sensitivity: np.ndarray
    specificity: np.ndarray
    direction: str
    auc: float
    n_pos: int
    n_neg: int
    engine: str
    n_dropped: int = 0
    method: str = "empirical"
    smoothing: dict | None = None

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"threshold": self.thresholds, "sensitivity": self.sensitivity,
                             "specificity": self.specificity})

    def plot(self, ax: Any = None, label: str | None = None, **kwargs: Any) -> Any:
        """ROC curve (1 - specificity on x), with the chance diagonal."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(4.5, 4.5))
        lab = label if label is not None else f"AUC = {self.auc:.3f}"
        ax.plot(1.0 - self.specificity, self.sensitivity, drawstyle="default", label=lab, **kwargs)
        ax.plot([0, 1], [0, 1], linestyle=":", color="grey", linewidth=1)
        ax.set_xlabel("1 - specificity")
        ax.set_ylabel("Sensitivity")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_aspect("equal")
        ax.legend(loc="lower right")
        return ax


@dataclass(frozen=True, repr=False)
class YoudenResult(Result):
    """Threshold maximising sensitivity + specificity - 1 (pROC ``coords(x="best")``).

    ``tied_thresholds`` lists every threshold reaching the maximum, in pROC's order; the first is
    reported as ``threshold``.
    """

    threshold: float
    sensitivity: float
    specificity: float
    youden_index: float
    direction: str
    tied_thresholds: tuple
    engine: str
    n_pos: int
    n_neg: int
    method: str = "youden"

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{
            "threshold": self.threshold, "sensitivity": self.sensitivity, "specificity": self.specificity,
            "youden_index": self.youden_index, "direction": self.direction,
            "n_tied_thresholds": len(self.tied_thresholds), "n_pos": self.n_pos, "n_neg": self.n_neg,
        }])


@dataclass(frozen=True, repr=False)
class RocTestResult(Result):
    """Comparison of two ROC curves: test statistic, p-value, and the CI of the difference.

    ``quantity`` says what is compared (``"AUC"``, a partial AUC, or e.g. ``"sensitivity at
    specificity 0.9"``); ``estimate1``/``estimate2`` are its values and ``difference`` =
    ``estimate1 - estimate2``. ``auc1``/``auc2`` are the (partial) AUCs, pROC's ``estimate``.
    ``statistic_name`` is ``"Z"`` (paired DeLong), ``"D"`` (unpaired DeLong, a Welch-type t with
    ``df``; bootstrap tests), or ``"E"`` (Venkatraman, whose null is equality of the whole curves,
    so it has no CI of the AUC difference). ``alternative`` is the alternative hypothesis of
    ``p_value``; the CI is always two-sided.
    """

    statistic: float
    p_value: float
    auc1: float
    auc2: float
    difference: float
    ci_low: float
    ci_high: float
    level: float
    method: str
    paired: bool
    statistic_name: str
    engine: str
    n1: tuple
    n2: tuple
    df: float = float("nan")
    n_boot: int | None = None
    ci_source: str = ""
    alternative: str = "two.sided"
    quantity: str = "AUC"
    estimate1: float = float("nan")
    estimate2: float = float("nan")

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{
            "quantity": self.quantity, "estimate1": self.estimate1, "estimate2": self.estimate2,
            "auc1": self.auc1, "auc2": self.auc2, "difference": self.difference,
            "ci_low": self.ci_low, "ci_high": self.ci_high, "level": self.level,
            "statistic": self.statistic, "statistic_name": self.statistic_name, "df": self.df,
            "p_value": self.p_value, "alternative": self.alternative, "method": self.method, "paired": self.paired,
            "n1_pos_neg": self.n1, "n2_pos_neg": self.n2, "engine": self.engine,
        }])


@dataclass(frozen=True, repr=False)
class AUCComparison(Result):
    """AUCs of k models and every pairwise comparison with multiplicity-adjusted p-values."""

    models: pd.DataFrame
    pairs: pd.DataFrame
    method: str
    p_adjust: str | None
    engine: str

    def to_frame(self) -> pd.DataFrame:
        return self.pairs.copy()


@dataclass(frozen=True, repr=False)
class MulticlassAUCResult(Result):
    """Hand & Till (2001) multiclass AUC plus one-vs-rest AUCs with CIs (``method="hand-till"``),
    or the mean pairwise AUC of one score (``method="univariate"``: ``pairs`` has one row per
    pair of classes with its AUC, DeLong CI and direction; ``one_vs_rest`` is empty)."""

    auc: float
    ci_low: float
    ci_high: float
    pairs: pd.DataFrame
    one_vs_rest: pd.DataFrame
    classes: tuple
    method: str
    engine: str
    n_boot: int | None = None

    def to_frame(self) -> pd.DataFrame:
        if self.method == "univariate":
            head = pd.DataFrame([{"class": "multiclass AUC (all pairs)", "auc": self.auc, "ci_low": self.ci_low,
                                  "ci_high": self.ci_high}])
            rows = self.pairs.rename(columns={"pair": "class"})[["class", "auc", "ci_low", "ci_high"]]
            return pd.concat([head, rows], ignore_index=True)
        head = pd.DataFrame([{"class": "Hand-Till (all pairs)", "auc": self.auc, "ci_low": self.ci_low,
                              "ci_high": self.ci_high}])
        return pd.concat([head, self.one_vs_rest[["class", "auc", "ci_low", "ci_high"]]], ignore_index=True)


# =========================================================================== AUC + CI
def auc_ci_from_summary(auc: float, n_pos: int, n_neg: int | None = None, method: str = "exact",
                        level: float = 0.95) -> tuple[float, float]:
    """Confidence interval of a published AUC from the AUC and the group sizes alone.

    ``method="exact"``: the binomial exact (Clopper-Pearson) interval with ``x = AUC * n``
    "successes" out of ``n`` subjects, which MedCalc prints as the AUC's "95% CI" and seed 001
    reports (AUC 0.842, n = 48 -> 0.708-0.931)::

        lower = Beta^{-1}(a/2; x, n - x + 1),   upper = Beta^{-1}(1 - a/2; x + 1, n - x)

    with ``n = n_pos + n_neg``; when ``n_neg`` is None, ``n_pos`` is read as the total ``n``.

    ``method="hanley"``: Hanley & McNeil (Radiology 1982;143:29-36),
    ``SE^2 = [A(1-A) + (n_pos-1)(Q1-A^2) + (n_neg-1)(Q2-A^2)] / (n_pos n_neg)`` with
    ``Q1 = A/(2-A)``, ``Q2 = 2A^2/(1+A)``; interval ``A -/+ z SE`` clipped to [0, 1].

    Examples
    --------
    >>> lo, hi = auc_ci_from_summary(928 / 1102, 19, 29)   # seed 001 DL-US, AUC 0.842
    >>> round(lo, 3), round(hi, 3)
    (0.708, 0.931)
    """
    level = check_level(level)
    if not (0.0 <= float(auc) <= 1.0) or not np.isfinite(auc):
        raise InputError(f"auc must lie in [0, 1], got {auc!r}")
    if method == "exact":
        n = int(n_pos) + (0 if n_neg is None else int(n_neg))
        if n < 1:
            raise InputError(f"the number of subjects must be >= 1, got n={n}")
        x = float(auc) * n
        a = 1.0 - level
        lo = 0.0 if x <= 0 else float(sps.beta.ppf(a / 2, x, n - x + 1))
        hi = 1.0 if x >= n else float(sps.beta.ppf(1 - a / 2, x + 1, n - x))
        return lo, hi
    if method == "hanley":
        if n_neg is None:
            raise InputError("method='hanley' needs both n_pos and n_neg")
        se = hanley_se(float(auc), int(n_pos), int(n_neg))
        z = z_value(level)
        return max(0.0, auc - z * se), min(1.0, auc + z * se)
    raise InputError(f"method must be 'exact' or 'hanley', got {method!r}")


def hanley_se(a: float, n_pos: int, n_neg: int) -> float:
    """Standard error of an AUC from its value and the group sizes (Hanley & McNeil 1982):
    SE^2 = [A(1-A) + (n1-1)(Q1-A^2) + (n0-1)(Q2-A^2)] / (n1 n0), Q1 = A/(2-A), Q2 = 2A^2/(1+A)."""
    if n_pos < 1 or n_neg < 1:
        raise InputError(f"n_pos and n_neg must be >= 1, got {n_pos}, {n_neg}")
    q1 = a / (2 - a)
    q2 = 2 * a * a / (1 + a)
    return math.sqrt((a * (1 - a) + (n_pos - 1) * (q1 - a * a) + (n_neg - 1) * (q2 - a * a)) / (n_pos * n_neg))


def roc_auc(y: Any, score: Any, ci: str = "delong", level: float = 0.95, n_boot: int = 2000,
            seed: Any = 0, direction: str = "auto", na: str = "raise", scheduler: Any = None,
            engine: str | None = None, event: Any = None, partial: Any = None, focus: str = "specificity",
            correct: bool = False) -> AUCResult:
    """Area under the ROC curve with a confidence interval.

    ``AUC = (1/(n_pos n_neg)) sum_i sum_j psi(x_i, y_j)``, ``psi = 1`` if case i scores above
    control j, ``1/2`` if tied (Mann-Whitney). CI methods:

    * ``"delong"`` -- ``AUC -/+ z_{1-a/2} sqrt(S10/n_pos + S01/n_neg)`` from the placement
      variances (DeLong et al. 1988; Sun & Xu 2014), clipped to [0, 1] as pROC ``ci.auc``.
    * ``"bootstrap"`` -- percentile interval of ``n_boot`` stratified resamples (pROC
      ``ci.auc(method="bootstrap")``); the direction is kept fixed.
    * ``"exact"`` / ``"hanley"`` -- :func:`auc_ci_from_summary` (MedCalc's binomial exact
      interval; Hanley & McNeil 1982).

    The result also carries the DeLong test of H0: AUC = 0.5 (``z``, ``p_value``).

    **Partial AUC** (``partial=(0.8, 1.0)``): the area over a band of specificities
    (``focus="specificity"``, the region of high specificity a screening or confirmation test
    works in) or sensitivities (``focus="sensitivity"``), integrated along the empirical curve with
    linear interpolation at the band's edges (pROC ``auc(partial.auc=, partial.auc.focus=)``;
    McClish, Med Decis Making 1989;9:190-5). It ranges from 0 to the band's width; with
    ``correct=True`` it is standardised as McClish proposed,
    ``(1 + (pAUC - min) / (max - min)) / 2`` (``min`` = the chance diagonal's partial area,
    ``max`` = the band's width), so 0.5 is chance and 1 a perfect test (pROC
    ``partial.auc.correct``; undefined -- NaN with a warning -- below the diagonal). A partial AUC
    has no DeLong variance: its CI is ``ci="bootstrap"`` (pROC refuses DeLong too), and ``se``,
    ``z`` and ``p_value`` are NaN.

    Parameters
    ----------
    y : binary outcome (1 = case, e.g. HER2-positive); see the module notes for labels.
    score : numeric predictor (probability, score, reader rating).
    event : the value of ``y`` that marks a case, when ``y`` holds labels (e.g. ``event="HER2+"``).
    direction : ``"auto"`` (pROC median rule), ``"<"`` or ``">"``; see module notes. When
        ``"auto"`` chooses ``">"`` a :class:`~her2stats.errors.DirectionWarning` says so with pROC's
        words (``Setting direction: controls > cases``), on both engines; ``result.direction``
        records the choice.
    na : ``"raise"`` (default: error naming the count and positions) or ``"drop"`` (dropped rows
        counted in ``n_dropped``).
    scheduler : passed to :func:`her2stats.resampling.run_replicates` for ``ci="bootstrap"``.
    engine : ``"python"`` or ``"r"`` (pROC ``roc``/``ci.auc``/``var``).
    partial : None (the whole curve) or two bounds of the ``focus`` coordinate, e.g. ``(0.8, 1.0)``.
    focus : ``"specificity"`` or ``"sensitivity"``: the axis ``partial`` bounds.
    correct : McClish standardisation of the partial AUC.

    Examples
    --------
    pROC's aSAH example (``roc(aSAH$outcome, aSAH$s100b)``: AUC 0.7314, 95% CI 0.6301-0.8326):

    >>> r = roc_auc(asah.outcome == "Poor", asah.s100b, engine="python")   # doctest: +SKIP
    >>> round(r.auc, 4), round(r.ci_low, 4), round(r.ci_high, 4)           # doctest: +SKIP
    (0.7314, 0.6301, 0.8326)
    """
    check_scheduler(scheduler)  # refused alike on both engines, even where R resamples
    if ci not in _CI_METHODS:
        raise InputError(f"ci must be one of {_CI_METHODS}, got {ci!r}")
    level = check_level(level)
    _check_direction(direction)
    part = _check_partial(partial, focus, correct)
    if part is not None and ci != "bootstrap":
        raise InputError(f"ci='{ci}' is not defined for a partial AUC (pROC refuses DeLong for a partial AUC too): "
                         "use ci='bootstrap'")
    eng = resolve_engine(engine)
    c = _clean(y, {"score": score}, na, event=event, function="roc_auc")
    yy, s = c.y, c.scores["score"]
    n_pos, n_neg = int(yy.sum()), int(len(yy) - yy.sum())
    if ci in ("delong", "bootstrap") and (n_pos < 2 or n_neg < 2):
        raise InputError(
            f"ci='{ci}' needs at least 2 cases and 2 controls; there are {n_pos} case(s) and {n_neg} control(s)"
        )
    if ci == "bootstrap":
        check_n_boot(n_boot, minimum=100, why="a percentile interval")

    if eng == "r":
        from .. import r_bridge

        r_bridge.require("pROC")
        extra = {} if part is None else {"partial": list(part), "focus": focus, "correct": bool(correct)}
        out = r_bridge.call("h2s_roc_auc", y=yy.astype(np.int32), score=s, direction=direction,
                            ci_method=ci, level=level, n_boot=int(n_boot),
                            seed=None if seed is None else int(seed), **extra)
        auc, d = float(out["auc"]), "<" if out["direction_lt"] == 1 else ">"
        var = float(out["var_delong"])
        lo, hi = float(out["ci_low"]), float(out["ci_high"])
    elif part is not None:
        d = resolve_direction(yy, s, direction)
        so = _oriented(s, d)
        se_, sp_ = _sesp(so[yy == 1], so[yy == 0])
        auc = _partial_auc(se_, sp_, part, focus, bool(correct))
        var = float("nan")
        reps = _boot_partial(yy, so, part, focus, bool(correct), int(n_boot), seed, scheduler)
        lo, hi = _nan_percentile(reps, level)
    else:
        d = resolve_direction(yy, s, direction)
        so = _oriented(s, d)
        auc, v10, v01 = _delong_placements(yy, so)
        var = _delong_var(v10, v01)
        lo = hi = float("nan")
        if ci == "delong":
            z = z_value(level)
            lo, hi = max(0.0, auc - z * math.sqrt(var)), min(1.0, auc + z * math.sqrt(var))
        elif ci == "bootstrap":
            lo, hi = percentile_interval(_boot_aucs(yy, so, int(n_boot), seed, scheduler), level)
    announce_direction("roc_auc", direction, d)
    if ci in ("exact", "hanley"):
        lo, hi = auc_ci_from_summary(auc, n_pos, n_neg, method=ci, level=level)
    se = math.sqrt(var) if var == var else float("nan")
    zval = (auc - 0.5) / se if se > 0 else float("nan")
    p = float(2 * sps.norm.sf(abs(zval))) if zval == zval else float("nan")
    return AUCResult(auc=auc, ci_low=lo, ci_high=hi, level=level, method=ci, n_pos=n_pos, n_neg=n_neg,
                     direction=d, engine=eng, se=se, z=zval, p_value=p, n_dropped=c.n_dropped,
                     n_boot=int(n_boot) if ci == "bootstrap" else None, partial=part,
                     focus=focus if part is not None else None, correct=bool(correct) if part is not None else False)


# =========================================================================== curve + Youden
def proc_thresholds(predictor: np.ndarray, direction: str) -> np.ndarray:
    """pROC ``roc.utils.thresholds``: midpoints of sorted distinct values with -Inf/+Inf ends.

    A midpoint that rounds onto one of its neighbours (floating-point near ties) is moved onto
    the neighbour that keeps the two values on different sides, as pROC does.
    """
    u = np.unique(predictor)
    left = np.concatenate([[-np.inf], u])
    right = np.concatenate([u, [np.inf]])
    with np.errstate(invalid="ignore", over="ignore"):
        t1 = (left + right) / 2
        t2 = left / 2 + right / 2
    t = np.where(np.abs(t1) > 1e100, t2, t1)
    ties = np.isin(t, predictor)
    for k in np.flatnonzero(ties):
        if direction == ">":
            if t[k] == u[k - 1]:
                pass
            elif t[k] == u[k]:
                t[k] = u[k - 1]
        else:
            if t[k] == u[k - 1]:
                t[k] = u[k]
    return t


def _curve_points(y: np.ndarray, s: np.ndarray, direction: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Thresholds, sensitivity, specificity in pROC order (sensitivity from 1 down to 0)."""
    cases = np.sort(s[y == 1])
    controls = np.sort(s[y == 0])
    m, n = len(cases), len(controls)
    t = proc_thresholds(s, direction)
    if direction == "<":
        tp = m - np.searchsorted(cases, t, "left")
        tn = np.searchsorted(controls, t, "left")
    else:
        tp = np.searchsorted(cases, t, "right")
        tn = n - np.searchsorted(controls, t, "right")
        t, tp, tn = t[::-1], tp[::-1], tn[::-1]
    return t, tp / m, tn / n


def roc_curve(y: Any, score: Any, direction: str = "auto", na: str = "raise",
              engine: str | None = None, event: Any = None, smooth: str | None = None, n_points: int = 512,
              bw: float | str = "nrd0") -> RocCurveResult:
    """ROC curve with pROC's thresholds, direction and tie semantics; optionally smoothed.

    For ``direction="<"`` a subject is positive when ``score >= threshold``:
    ``Se(t) = #{cases >= t} / n_pos``, ``Sp(t) = #{controls < t} / n_neg``; for ``">"`` when
    ``score <= threshold``. Thresholds are pROC's midpoints (see :func:`proc_thresholds`), so a
    threshold carried to another cohort never sits on an observed development value.

    ``smooth="binormal"`` or ``"density"`` returns pROC's smoothed curve (``smooth(roc, method=)``)
    on ``n_points`` points, with ``auc`` the smoothed curve's area (pROC ``auc(smooth(roc))``):
    binormal -- least squares of ``qnorm(Sp)`` on ``qnorm(Se)`` over the empirical points, area
    ``pnorm(a / sqrt(1 + b^2))``; density -- Gaussian kernel densities of controls and cases
    (bandwidth ``bw``: R's ``bw.nrd0`` of the pooled scores, or a number), trapezoidal area. See
    :mod:`her2stats.stats.roc_smooth`.

    Examples
    --------
    Same rows as ``pROC::roc(y, score)`` -> ``thresholds``, ``sensitivities``, ``specificities``.
    """
    _check_direction(direction)
    if smooth not in (None, "binormal", "density"):
        raise InputError(f"smooth must be None, 'binormal' or 'density', got {smooth!r}")
    if smooth is not None:
        if not isinstance(n_points, (int, np.integer)) or isinstance(n_points, bool) or n_points < 2:
            raise InputError(f"n_points must be an integer >= 2, got {n_points!r}")
        if not (bw == "nrd0" or (isinstance(bw, (int, float, np.integer, np.floating)) and not isinstance(bw, bool)
                                 and math.isfinite(float(bw)) and float(bw) > 0)):
            raise InputError(f"bw must be 'nrd0' or a positive number, got {bw!r}")
    eng = resolve_engine(engine)
    c = _clean(y, {"score": score}, na, event=event, function="roc_curve")
    yy, s = c.y, c.scores["score"]
    n_pos, n_neg = int(yy.sum()), int(len(yy) - yy.sum())
    if smooth is not None:
        return _smoothed_curve(yy, s, direction, smooth, int(n_points), bw, eng, c.n_dropped)
    if eng == "r":
        from .. import r_bridge

        r_bridge.require("pROC")
        df = r_bridge.call("h2s_roc_curve", y=yy.astype(np.int32), score=s, direction=direction)
        d = str(df["direction"].iloc[0])
        t, se, sp = (np.asarray(df[k], dtype=float) for k in ("threshold", "sensitivity", "specificity"))
        auc = _delong_placements(yy, _oriented(s, d))[0]
    else:
        d = resolve_direction(yy, s, direction)
        t, se, sp = _curve_points(yy, s, d)
        auc = _delong_placements(yy, _oriented(s, d))[0]
    return RocCurveResult(thresholds=t, sensitivity=se, specificity=sp, direction=d, auc=auc,
                          n_pos=n_pos, n_neg=n_neg, engine=eng, n_dropped=c.n_dropped)


def _smoothed_curve(yy: np.ndarray, s: np.ndarray, direction: str, smooth: str, n_points: int, bw: Any, eng: str,
                    n_dropped: int) -> RocCurveResult:
    from . import roc_smooth as sm

    n_pos, n_neg = int(yy.sum()), int(len(yy) - yy.sum())
    d = resolve_direction(yy, s, direction)
    so = _oriented(s, d)
    if smooth == "binormal":
        sm.binormal_fit(*_sesp(so[yy == 1], so[yy == 0]))   # refuses an unsmoothable curve on both engines
    elif min(n_pos, n_neg) < 2:
        raise InputError(f"density smoothing needs at least 2 cases and 2 controls; there are {n_pos} and {n_neg}")
    if eng == "r":
        from .. import r_bridge

        r_bridge.require("pROC")
        out = r_bridge.call("h2s_smooth_roc", y=yy.astype(np.int32), score=s, direction=direction, method=smooth,
                            n=int(n_points), bw=bw if isinstance(bw, str) else float(bw))
        se, sp = np.asarray(out["sensitivities"], float), np.asarray(out["specificities"], float)
        auc = float(out["auc"])
        params = ({"intercept": float(out["intercept"]), "slope": float(out["slope"])} if smooth == "binormal"
                  else {"bandwidth": float(out["bw"])})
    else:
        if smooth == "binormal":
            (se, sp), params = sm.smooth_binormal(*_sesp(so[yy == 1], so[yy == 0]), n_points)
            auc = params.pop("auc")
        else:
            (se, sp), params = sm.smooth_density(so[yy == 1], so[yy == 0], n_points, bw)
            auc = sm.trapezoid_auc(se, sp)
    # pROC order is specificity rising; the result lists sensitivity falling, as the empirical curve
    return RocCurveResult(thresholds=np.full(len(se), np.nan), sensitivity=se, specificity=sp, direction=d,
                          auc=auc, n_pos=n_pos, n_neg=n_neg, engine=eng, n_dropped=n_dropped, method=smooth,
                          smoothing=params)


def _best_youden(t: np.ndarray, se: np.ndarray, sp: np.ndarray) -> np.ndarray:
    crit = se + sp   # pROC best.weights = c(1, 0.5) -> r = 1
    return np.flatnonzero(crit == crit.max())


def youden(y: Any, score: Any, direction: str = "auto", na: str = "raise",
           engine: str | None = None, event: Any = None) -> YoudenResult:
    """Threshold maximising Youden's J = sensitivity + specificity - 1 (Youden, Cancer 1950).

    pROC convention (``coords(roc, "best", best.method="youden")``): the maximum is taken over
    pROC's midpoint thresholds; when several thresholds tie, all are listed in
    ``tied_thresholds`` (pROC returns them all) and the first in pROC's order is reported.
    Choose it on development data and carry it to other cohorts with
    :func:`her2stats.stats.diagnostics.choose_threshold`.
    """
    _check_direction(direction)
    eng = resolve_engine(engine)
    c = _clean(y, {"score": score}, na, event=event, function="youden")
    yy, s = c.y, c.scores["score"]
    n_pos, n_neg = int(yy.sum()), int(len(yy) - yy.sum())
    if eng == "r":
        from .. import r_bridge

        r_bridge.require("pROC")
        df = r_bridge.call("h2s_youden", y=yy.astype(np.int32), score=s, direction=direction)
        d = str(df["direction"].iloc[0])
        ts = np.asarray(df["threshold"], dtype=float)
        se, sp = float(df["sensitivity"].iloc[0]), float(df["specificity"].iloc[0])
    else:
        d = resolve_direction(yy, s, direction)
        t, sens, spec = _curve_points(yy, s, d)
        idx = _best_youden(t, sens, spec)
        ts = t[idx]
        se, sp = float(sens[idx[0]]), float(spec[idx[0]])
    return YoudenResult(threshold=float(ts[0]), sensitivity=se, specificity=sp, youden_index=se + sp - 1,
                        direction=d, tied_thresholds=tuple(float(v) for v in ts), engine=eng,
                        n_pos=n_pos, n_neg=n_neg)


# =========================================================================== fixed specificity / sensitivity
@dataclass(frozen=True, repr=False)
class OperatingPointResult(Result):
    """Sensitivity at fixed specificities (or specificity at fixed sensitivities) with CIs.

    ``table`` has one row per target: the target (``given`` column), the estimate of the other
    coordinate with ``ci_low``/``ci_high``, the ``reading`` it follows, and the cut-off
    (``threshold``; NaN where pROC's interpolated reading lies between two cut-offs) with the
    ``achieved`` value of the target coordinate there.
    """

    table: pd.DataFrame
    given: str
    reading: str
    level: float
    method: str
    direction: str
    n_pos: int
    n_neg: int
    engine: str
    n_boot: int | None = None
    n_dropped: int = 0

    @property
    def estimate(self) -> np.ndarray:
        return self.table["sensitivity" if self.given == "specificity" else "specificity"].to_numpy()

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()


_READINGS = ("interpolated", "achievable")


def _operating_points(y: Any, score: Any, given: str, values: Any, ci: str | None, level: float, n_boot: int,
                      seed: Any, reading: str, direction: str, na: str, scheduler: Any, engine: str | None,
                      event: Any, function: str) -> OperatingPointResult:
    other = "sensitivity" if given == "specificity" else "specificity"
    vals = np.atleast_1d(np.asarray(values, dtype=object))
    if vals.ndim != 1 or not len(vals) or not all(
            isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
            and math.isfinite(float(v)) and 0.0 <= float(v) <= 1.0 for v in vals):
        raise InputError(f"{given} must be one or more target values in [0, 1] such as [0.8, 0.9, 0.95], "
                         f"got {values!r}")
    vals = vals.astype(float)
    if reading not in _READINGS:
        raise InputError(f"reading must be one of {_READINGS}, got {reading!r}")
    if ci not in (None, "bootstrap"):
        raise InputError(f"ci must be 'bootstrap' or None, got {ci!r}")
    level = check_level(level)
    _check_direction(direction)
    if ci == "bootstrap":
        check_n_boot(n_boot, minimum=100, why="a percentile interval")
    eng = resolve_engine(engine)
    c = _clean(y, {"score": score}, na, event=event, function=function,
               min_per_class=2 if ci == "bootstrap" else 1)
    yy, s = c.y, c.scores["score"]
    n_pos, n_neg = int(yy.sum()), int(len(yy) - yy.sum())
    if eng == "r":
        from .. import r_bridge

        r_bridge.require("pROC")
        common = dict(y=yy.astype(np.int32), score=s, x=vals, given=given, direction=direction, level=level,
                      n_boot=int(n_boot), seed=None if seed is None else int(seed))
        if reading == "interpolated":
            out = r_bridge.call("h2s_coords_at", ci=ci == "bootstrap", **common)
            est, thr = np.asarray(out["estimate"], float), np.asarray(out["threshold"], float)
            achieved = vals.copy()
        elif ci == "bootstrap":
            out = r_bridge.call("h2s_coords_at_boot", reading=reading, **common)
            est, thr = np.asarray(out["estimate"], float), np.asarray(out["threshold"], float)
            achieved = np.asarray(out["achieved"], float)
        else:
            curve = r_bridge.call("h2s_roc_curve", y=yy.astype(np.int32), score=s, direction=direction)
            t, se, sp = (np.asarray(curve[k], dtype=float) for k in ("threshold", "sensitivity", "specificity"))
            out = {"direction": curve["direction"], "ci_low": np.full(len(vals), np.nan),
                   "ci_high": np.full(len(vals), np.nan)}
            ks = [_achievable_index(se, sp, v, given) for v in vals]
            est = np.array([(se if given == "specificity" else sp)[k] for k in ks])
            thr = t[ks]
            achieved = np.array([(sp if given == "specificity" else se)[k] for k in ks])
        d = str(np.asarray(out["direction"])[0])
        lo, hi = np.asarray(out["ci_low"], float), np.asarray(out["ci_high"], float)
    else:
        d = resolve_direction(yy, s, direction)
        t, se, sp = _curve_points(yy, s, d)
        if reading == "interpolated":
            est = _coords_at(se, sp, vals, given)
            inp = sp if given == "specificity" else se
            thr = np.array([t[np.flatnonzero(inp == v)[0 if given == "specificity" else -1]]
                            if (inp == v).any() else np.nan for v in vals])
            achieved = vals.copy()
        else:
            ks = [_achievable_index(se, sp, v, given) for v in vals]
            est = np.array([(se if given == "specificity" else sp)[k] for k in ks])
            thr = t[ks]
            achieved = np.array([(sp if given == "specificity" else se)[k] for k in ks])
        lo = hi = np.full(len(vals), np.nan)
        if ci == "bootstrap":
            so = _oriented(s, d)
            pos, neg = so[yy == 1], so[yy == 0]

            def fn(rng: np.random.Generator, k: int) -> np.ndarray:
                res = np.empty((k, len(vals)))
                for b in range(k):
                    ip, ineg = _stratified_draw(rng, len(pos), len(neg))
                    bse, bsp = _sesp(pos[ip], neg[ineg])
                    if reading == "interpolated":
                        res[b] = _coords_at(bse, bsp, vals, given)
                    else:
                        idx = [_achievable_index(bse, bsp, v, given) for v in vals]
                        res[b] = (bse if given == "specificity" else bsp)[idx]
                return res

            reps = run_replicates(fn, int(n_boot), seed=seed, scheduler=scheduler, desc=f"bootstrap {other}")
            bounds = np.array([percentile_interval(reps[:, j], level) for j in range(len(vals))])
            lo, hi = bounds[:, 0], bounds[:, 1]
    label = ("pROC coords: interpolated between curve points" if reading == "interpolated"
             else f"achievable cut-off: best {other} among cut-offs with {given} >= target")
    table = pd.DataFrame({given: vals, other: est, "ci_low": lo, "ci_high": hi, "reading": label,
                          "threshold": thr, f"{given}_achieved": achieved})
    return OperatingPointResult(table=table, given=given, reading=reading, level=level,
                                method="bootstrap" if ci == "bootstrap" else "none", direction=d, n_pos=n_pos,
                                n_neg=n_neg, engine=eng, n_boot=int(n_boot) if ci == "bootstrap" else None,
                                n_dropped=c.n_dropped)


def sensitivity_at(y: Any, score: Any, specificity: Any = (0.8, 0.9, 0.95), ci: str | None = "bootstrap",
                   level: float = 0.95, n_boot: int = 2000, seed: Any = 0, reading: str = "interpolated",
                   direction: str = "auto", na: str = "raise", scheduler: Any = None, engine: str | None = None,
                   event: Any = None) -> OperatingPointResult:
    """Sensitivity at fixed specificities, with stratified bootstrap CIs (pROC ``ci.se``).

    Two readings of "the sensitivity at 90% specificity", which differ and must not be mixed
    in one report (``reading`` labels every row):

    * ``"interpolated"`` (pROC ``coords(input="specificity")``, the default): where a cut-off
      gives exactly the target specificity, the best sensitivity among such cut-offs; otherwise
      the sensitivity *interpolated linearly* between the two neighbouring points of the
      empirical curve -- a point on the ROC polygon that no single cut-off achieves
      (``threshold`` is then NaN).
    * ``"achievable"``: the sensitivity at the cut-off a user would actually apply, the one
      with the highest sensitivity among those whose specificity is at least the target
      (``choose_threshold(rule=("specificity", 0.9))``); ``threshold`` and
      ``specificity_achieved`` say where it is.

    The CI resamples cases and controls separately (``n_boot`` replicates, pROC's
    ``boot.stratified=TRUE``), recomputes the curve with the direction fixed, reads it at each
    target the same way, and takes percentiles (R ``quantile`` type 7). ``engine="r"`` calls
    pROC ``coords``/``ci.se`` (interpolated) or resamples exactly as ``ci.se`` does with pROC's
    ``roc`` (achievable), with ``seed`` set in R: results agree with the Python engine within
    Monte-Carlo error.

    Examples
    --------
    >>> r = sensitivity_at(y, score, specificity=[0.8, 0.9, 0.95], n_boot=2000, seed=1)  # doctest: +SKIP
    >>> r.to_frame()[["specificity", "sensitivity", "ci_low", "ci_high", "reading"]]    # doctest: +SKIP
    """
    check_scheduler(scheduler)  # refused alike on both engines, even where R resamples
    return _operating_points(y, score, "specificity", specificity, ci, level, n_boot, seed, reading, direction, na,
                             scheduler, engine, event, "sensitivity_at")


def specificity_at(y: Any, score: Any, sensitivity: Any = (0.8, 0.9, 0.95), ci: str | None = "bootstrap",
                   level: float = 0.95, n_boot: int = 2000, seed: Any = 0, reading: str = "interpolated",
                   direction: str = "auto", na: str = "raise", scheduler: Any = None, engine: str | None = None,
                   event: Any = None) -> OperatingPointResult:
    """Specificity at fixed sensitivities, with stratified bootstrap CIs (pROC ``ci.sp`` and
    ``coords(input="sensitivity")``); the mirror of :func:`sensitivity_at` (same two readings:
    among cut-offs with exactly the target sensitivity pROC takes the best specificity, and the
    achievable reading the highest specificity among cut-offs with sensitivity >= target)."""
    check_scheduler(scheduler)  # refused alike on both engines, even where R resamples
    return _operating_points(y, score, "sensitivity", sensitivity, ci, level, n_boot, seed, reading, direction, na,
                             scheduler, engine, event, "specificity_at")


# =========================================================================== two-AUC tests
def _venkatraman_counts(rank: np.ndarray, d: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """For x = 1..size: #cases with rank <= x and #controls with rank <= x."""
    cases = np.cumsum(np.bincount(rank[d == 1], minlength=size + 1)[1:size + 1])
    controls = np.cumsum(np.bincount(rank[d == 0], minlength=size + 1)[1:size + 1])
    return cases, controls


def _rank_first(x: np.ndarray) -> np.ndarray:
    """R ``rank(x, ties.method = "first")``."""
    return sps.rankdata(x, method="ordinal").astype(np.int64)


def _venkatraman_paired_stat(r: np.ndarray, s: np.ndarray, d: np.ndarray) -> float:
    n = len(d)
    n_ctrl = int((d == 0).sum())
    r_fn, r_ctrl = _venkatraman_counts(r, d, n)
    s_fn, s_ctrl = _venkatraman_counts(s, d, n)
    # fp(x) = #controls with rank > x
    return float(np.abs((s_fn + (n_ctrl - s_ctrl)) - (r_fn + (n_ctrl - r_ctrl))).sum())


def _approxfun(x: np.ndarray, y: np.ndarray):
    """R ``approxfun(x, y)`` (linear, ties averaged, NA outside the range)."""
    ux, inv = np.unique(x, return_inverse=True)
    uy = np.bincount(inv, weights=y) / np.bincount(inv)
    return lambda q: np.interp(q, ux, uy, left=np.nan, right=np.nan)


def _venkatraman_unpaired_stat(r: np.ndarray, s: np.ndarray, d1: np.ndarray, d2: np.ndarray, mp: float) -> float:
    n, m = len(d1), len(d2)
    r_case, r_ctrl = _venkatraman_counts(r, d1, n)
    s_case, s_ctrl = _venkatraman_counts(s, d2, m)
    r_fx, r_gx = r_case / (d1 == 1).sum(), r_ctrl / (d1 == 0).sum()
    s_fx, s_gx = s_case / (d2 == 1).sum(), s_ctrl / (d2 == 0).sum()
    r_p = mp * r_fx + (1 - mp) * r_gx
    s_p = mp * s_fx + (1 - mp) * s_gx
    r_exp = mp * r_fx + (1 - mp) * (1 - r_gx)
    s_exp = mp * s_fx + (1 - mp) * (1 - s_gx)
    x = np.sort(np.concatenate([r_p, s_p]))
    yv = np.abs(_approxfun(r_p, r_exp)(x) - _approxfun(s_p, s_exp)(x))
    terms = (yv[1:] + yv[:-1]) * (x[1:] - x[:-1]) / 2
    return float(np.nansum(terms))


def _venkatraman(y1, s1, y2, s2, paired, n_boot, seed, scheduler) -> tuple[float, float]:
    """Venkatraman & Begg (1996) paired / Venkatraman (2000) unpaired permutation tests, as pROC."""
    r = _rank_first(s1)
    s = _rank_first(s2)
    if paired:
        e = _venkatraman_paired_stat(r, s, y1)

        def fn(rng: np.random.Generator, k: int) -> np.ndarray:
            out = np.empty(k)
            nn = len(y1)
            for b in range(k):
                r2 = r + rng.random(nn) - 0.5
                s2_ = s + rng.random(nn) - 0.5
                q = 1 - np.round(rng.random(nn))
                r3 = r2 * q + (1 - q) * s
                s3 = s2_ * q + (1 - q) * r
                out[b] = _venkatraman_paired_stat(_rank_first(r3), _rank_first(s3), y1)
            return out
    else:
        # pROC 1.18 computes the pooled case proportion with length(D1) twice in the denominator;
        # reproduced for parity (it only sets the mixing weight of the two ROC coordinates).
        mp = (float((y1 == 1).sum()) + float((y2 == 1).sum())) / (len(y1) + len(y1))
        e = _venkatraman_unpaired_stat(r, s, y1, y2, mp)

        def fn(rng: np.random.Generator, k: int) -> np.ndarray:
            out = np.empty(k)
            for b in range(k):
                rr = r + rng.random(len(y1)) - 0.5
                ss = s + rng.random(len(y2)) - 0.5
                controls = rng.permutation(np.concatenate([rr[y1 == 0], ss[y2 == 0]]))
                cases = rng.permutation(np.concatenate([rr[y1 == 1], ss[y2 == 1]]))
                n_rc, n_rk = int((y1 == 0).sum()), int((y1 == 1).sum())
                rr[y1 == 0], ss[y2 == 0] = controls[:n_rc], controls[n_rc:]
                rr[y1 == 1], ss[y2 == 1] = cases[:n_rk], cases[n_rk:]
                out[b] = _venkatraman_unpaired_stat(_rank_first(rr), _rank_first(ss), y1, y2, mp)
            return out

    ep = run_replicates(fn, n_boot, seed=seed, scheduler=scheduler, desc="Venkatraman permutations")
    return e, float((ep >= e).sum() / n_boot)


def roc_test(y: Any, score1: Any, score2: Any, paired: bool | None = None, method: str = "delong",
             y2: Any = None, n_boot: int = 2000, seed: Any = 0, level: float = 0.95,
             direction: str = "auto", na: str = "raise", scheduler: Any = None,
             engine: str | None = None, event: Any = None, alternative: str = "two.sided",
             specificity: float | None = None, sensitivity: float | None = None, partial: Any = None,
             focus: str = "specificity", correct: bool = False) -> RocTestResult:
    """Compare two ROC curves (pROC ``roc.test``): AUCs, partial AUCs, or one operating point.

    * Paired DeLong (same subjects, two scores): ``Z = (A1 - A2) / sqrt(V1 + V2 - 2 C12)`` with
      the placement covariance matrix ``S = S10/n_pos + S01/n_neg`` (DeLong et al. 1988); CI
      ``(A1 - A2) -/+ z sqrt(...)`` (pROC's ``conf.int``).
    * Unpaired DeLong (``y2`` given: subgroups or cohorts, seed 004): ``D = (A1 - A2) /
      sqrt(V1 + V2)`` referred to Student's t with Welch-Satterthwaite ``df`` as pROC; the CI
      ``(A1 - A2) -/+ t_{df} sqrt(V1 + V2)`` is a her2stats addition (pROC prints none).
    * Bootstrap: ``D = (A1 - A2) / sd(boot diffs)`` vs N(0, 1) as pROC (stratified resamples,
      shared between the scores when paired); the CI is the percentile interval of the
      differences (a her2stats addition). With ``partial=(0.8, 1.0)`` the compared quantity is
      the partial AUC (``focus``, ``correct`` as in :func:`roc_auc`; pROC ``partial.auc``); a
      partial AUC is compared by the bootstrap only (DeLong and Venkatraman refuse it, as in pROC).
    * ``method="sensitivity", specificity=0.9``: the sensitivities at 90% specificity are
      compared, ``D = (Se1 - Se2) / sd(boot diffs)``; ``method="specificity", sensitivity=0.9``
      compares the specificities at 90% sensitivity. Each curve is read as pROC's
      ``coords(input=...)`` reads it (interpolated between curve points, see
      :func:`sensitivity_at`). These are pROC's ``method="specificity"`` and
      ``method="sensitivity"`` respectively: here the method names the quantity compared, and
      the argument the coordinate held fixed.
    * Venkatraman: permutation test of equal ROC curves (statistic ``E``, ``n_boot``
      permutations); no CI, two-sided only.

    ``alternative``: ``"two.sided"``, ``"greater"`` (curve 1's quantity is larger) or
    ``"less"``; the CI stays two-sided at ``level``.

    With ``engine="r"`` the bootstrap and Venkatraman results come from pROC (its own RNG, so
    they agree with the Python engine within Monte-Carlo error); pROC does not return its
    bootstrap replicates, so the R engine draws them again with the same seed, in pROC's order,
    for the CI of the difference (their SD reproduces pROC's statistic exactly).

    ``paired`` defaults to True without ``y2`` and False with it. An unpaired test of data that
    look paired (the same outcome vector twice) warns, as pROC does. Each curve's direction is
    resolved on its own data (``direction="auto"``) as pROC does.
    """
    check_scheduler(scheduler)  # refused alike on both engines, even where R resamples
    methods = ("delong", "bootstrap", "venkatraman", "sensitivity", "specificity")
    if method not in methods:
        raise InputError(f"method must be one of {methods}, got {method!r}")
    level = check_level(level)
    _check_direction(direction)
    _check_alternative(alternative)
    part = _check_partial(partial, focus, correct)
    fixed_at = _check_fixed_point(method, specificity, sensitivity)
    if part is not None and method != "bootstrap":
        raise InputError(f"method='{method}' cannot compare partial AUCs (pROC refuses DeLong and Venkatraman for "
                         "a partial AUC): use method='bootstrap'")
    if method == "venkatraman" and alternative != "two.sided":
        raise InputError("Venkatraman's test is two-sided only (as in pROC): use alternative='two.sided'")
    eng = resolve_engine(engine)
    if paired is None:
        paired = y2 is None
    if paired and y2 is not None:
        raise InputError("paired=True compares two scores on the same subjects: drop y2, or pass paired=False")
    if method != "delong":
        check_n_boot(n_boot, minimum=100, why=f"method='{method}'")
    if paired:
        c = _clean(y, {"score1": score1, "score2": score2}, na, min_per_class=2, event=event, function="roc_test")
        ya = yb = c.y
        sa, sb = c.scores["score1"], c.scores["score2"]
    else:
        if y2 is None:
            y2 = y
        ca = _clean(y, {"score1": score1}, na, min_per_class=2, event=event, function="roc_test")
        cb = _clean(y2, {"score2": score2}, na, y_name="y2", min_per_class=2, event=event, function="roc_test")
        ya, sa, yb, sb = ca.y, ca.scores["score1"], cb.y, cb.scores["score2"]
        if np.array_equal(ya, yb) or np.array_equal(ca.outcome.codes, cb.outcome.codes, equal_nan=True):
            warnings.warn("roc_test: the ROC curves seem to be paired (the same outcome vector for both scores); "
                          "consider a paired test (paired=True, without y2). As pROC warns.", UserWarning,
                          stacklevel=find_stack_level())
    n1 = (int(ya.sum()), int(len(ya) - ya.sum()))
    n2 = (int(yb.sum()), int(len(yb) - yb.sum()))
    quantity = "AUC"
    if part is not None:
        hi_, lo_ = part
        quantity = f"partial AUC ({focus} {lo_:g}-{hi_:g}{', McClish-corrected' if correct else ''})"
    elif fixed_at is not None:
        quantity = f"{method} at {fixed_at[0]} {fixed_at[1]:g}"
    e1 = e2 = float("nan")

    if eng == "r":
        from .. import r_bridge

        r_bridge.require("pROC")
        proc_method = {"sensitivity": "specificity", "specificity": "sensitivity"}.get(method, method)
        extra: dict[str, Any] = {}
        if part is not None:
            extra.update(partial=list(part), focus=focus, correct=bool(correct))
        if fixed_at is not None:
            extra[fixed_at[0]] = float(fixed_at[1])
        out = r_bridge.call(
            "h2s_roc_test", y=ya.astype(np.int32), score1=sa, score2=sb, paired=bool(paired), method=proc_method,
            y2=None if paired else yb.astype(np.int32), n_boot=int(n_boot), seed=None if seed is None else int(seed),
            level=level, direction1=direction, direction2=direction, alternative=alternative, **extra,
        )
        a1, a2 = float(out["auc1"]), float(out["auc2"])
        e1, e2 = float(out["estimate1"]), float(out["estimate2"])
        stat, p, df = float(out["statistic"]), float(out["p_value"]), float(out["df"])
        lo, hi = float(out["ci_low"]), float(out["ci_high"])
        ci_source = "pROC conf.int" if lo == lo else ""
        if method not in ("delong", "venkatraman"):
            ci_source = "percentile bootstrap of the difference (pROC's resamples, drawn again with the same seed)"
        if method == "delong" and not paired:
            tq = sps.t.ppf(1 - (1 - level) / 2, df)
            se = abs((a1 - a2) / stat) if stat not in (0.0,) and stat == stat else float("nan")
            lo, hi = (a1 - a2) - tq * se, (a1 - a2) + tq * se
            ci_source = "her2stats: difference -/+ t_df x pROC's SE"
    else:
        d1 = resolve_direction(ya, sa, direction)
        d2 = resolve_direction(yb, sb, direction)
        oa, ob = _oriented(sa, d1), _oriented(sb, d2)
        if d1 != d2 and method in ("delong", "venkatraman"):
            # as pROC: comparing curves read in opposite directions is rarely what was meant
            warnings.warn(f"roc_test: the two ROC curves have different directions ({d1!r} vs {d2!r}); "
                          "fix `direction` from development data", UserWarning, stacklevel=find_stack_level())
        df = float("nan")
        lo = hi = float("nan")
        ci_source = ""
        if method == "delong":
            a1, v10a, v01a = _delong_placements(ya, oa)
            a2, v10b, v01b = _delong_placements(yb, ob)
            if paired:
                m, n = len(v10a), len(v01a)
                s10 = np.cov(np.vstack([v10a, v10b]))
                s01 = np.cov(np.vstack([v01a, v01b]))
                cov = s10 / m + s01 / n
                var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
                sig = math.sqrt(max(var, 0.0))
                stat = _safe_ratio(a1 - a2, sig)
                p = _p_value(stat, alternative)
                zq = z_value(level)
                lo, hi = (a1 - a2) - zq * sig, (a1 - a2) + zq * sig
                ci_source = "DeLong (pROC conf.int)"
            else:
                sr, ss = _delong_var(v10a, v01a), _delong_var(v10b, v01b)
                sig = math.sqrt(sr + ss)
                stat = _safe_ratio(a1 - a2, sig)
                df = (sr + ss) ** 2 / (sr ** 2 / (len(ya) - 1) + ss ** 2 / (len(yb) - 1))
                p = _p_value(stat, alternative, df)
                tq = sps.t.ppf(1 - (1 - level) / 2, df)
                lo, hi = (a1 - a2) - tq * sig, (a1 - a2) + tq * sig
                ci_source = "her2stats: difference -/+ t_df x SE"
        elif method == "venkatraman":
            a1 = _delong_placements(ya, oa)[0]
            a2 = _delong_placements(yb, ob)[0]
            # Venkatraman ranks the raw predictors (pROC roc$predictor), whatever the direction.
            stat, p = _venkatraman(ya, sa, yb, sb, paired, int(n_boot), seed, scheduler)
        else:
            a1 = _delong_placements(ya, oa)[0]
            a2 = _delong_placements(yb, ob)[0]
            quant = _curve_quantity(part, focus, bool(correct), fixed_at, method)
            if part is not None:
                a1 = quant(*_sesp(oa[ya == 1], oa[ya == 0]), strict=True)
                a2 = quant(*_sesp(ob[yb == 1], ob[yb == 0]), strict=True)
            e1, e2 = ((a1, a2) if fixed_at is None else
                      (quant(*_sesp(oa[ya == 1], oa[ya == 0])), quant(*_sesp(ob[yb == 1], ob[yb == 0]))))
            diffs = _boot_differences(ya, oa, yb, ob, paired, quant if (part is not None or fixed_at is not None)
                                      else None, int(n_boot), seed, scheduler)
            diffs = diffs[~np.isnan(diffs)] if np.isnan(diffs).any() else diffs
            sd = float(np.std(diffs, ddof=1))
            stat = _safe_ratio(e1 - e2, sd)
            p = _p_value(stat, alternative)
            lo, hi = percentile_interval(diffs, level)
            ci_source = "percentile bootstrap of the difference"
    if e1 != e1 and fixed_at is None:
        e1, e2 = a1, a2
    name = {"delong": "Z" if paired else "D", "venkatraman": "E"}.get(method, "D")
    return RocTestResult(statistic=float(stat), p_value=float(p), auc1=a1, auc2=a2, difference=e1 - e2,
                         ci_low=float(lo), ci_high=float(hi), level=level, method=method, paired=bool(paired),
                         statistic_name=name, engine=eng, n1=n1, n2=n2, df=float(df),
                         n_boot=int(n_boot) if method != "delong" else None, ci_source=ci_source,
                         alternative=alternative, quantity=quantity, estimate1=float(e1), estimate2=float(e2))


def _check_fixed_point(method: str, specificity: Any, sensitivity: Any) -> tuple[str, float] | None:
    """``("specificity", 0.9)`` for method="sensitivity" (sensitivities compared at that specificity)..."""
    if method not in ("sensitivity", "specificity"):
        if specificity is not None or sensitivity is not None:
            raise InputError(f"specificity= / sensitivity= fix an operating point for method='sensitivity' or "
                             f"'specificity'; method='{method}' compares AUCs")
        return None
    fixed = "specificity" if method == "sensitivity" else "sensitivity"
    value = specificity if fixed == "specificity" else sensitivity
    wrong = sensitivity if fixed == "specificity" else specificity
    if wrong is not None:
        raise InputError(
            f"method='{method}' compares {method} values at a fixed {fixed}: give {fixed}=..., not {method}=... "
            f"(pROC names its tests the other way round: pROC's method='{fixed}' with {fixed}= is her2stats' "
            f"method='{method}')")
    number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    if not number or not (math.isfinite(float(value)) and 0.0 <= float(value) <= 1.0):
        raise InputError(f"method='{method}' needs {fixed}= a single value in [0, 1] (the {fixed} at which the "
                         f"{method} values are compared), got {value!r}")
    return fixed, float(value)


def _curve_quantity(part: tuple[float, float] | None, focus: str, correct: bool, fixed_at: tuple[str, float] | None,
                    method: str):
    """The function (se, sp) -> compared quantity of a resampled curve."""
    if part is not None:
        def q(se, sp, strict=False):
            return _partial_auc(se, sp, part, focus, correct, allow_invalid=not strict)
    elif fixed_at is not None:
        def q(se, sp, strict=False):
            return float(_coords_at(se, sp, [fixed_at[1]], fixed_at[0])[0])
    else:
        q = None
    return q


def _boot_differences(ya: np.ndarray, oa: np.ndarray, yb: np.ndarray, ob: np.ndarray, paired: bool, quant: Any,
                      n_boot: int, seed: Any, scheduler: Any) -> np.ndarray:
    """Bootstrap differences quantity(curve 1) - quantity(curve 2) of stratified resamples (the
    same resampled subjects for both scores when paired); the AUC by the fast sorted counts."""
    pa, na_ = oa[ya == 1], oa[ya == 0]
    pb, nb = ob[yb == 1], ob[yb == 0]
    fa = _FastAUC(pa, na_) if quant is None else None
    fb = _FastAUC(pb, nb) if quant is None else None

    def fn(rng: np.random.Generator, k: int) -> np.ndarray:
        out = np.empty(k)
        for b in range(k):
            ip, ineg = _stratified_draw(rng, len(pa), len(na_))
            if paired:
                jp, jneg = ip, ineg
            else:
                jp, jneg = _stratified_draw(rng, len(pb), len(nb))
            if quant is None:
                out[b] = fa.auc(ip, ineg) - fb.auc(jp, jneg)
            else:
                out[b] = quant(*_sesp(pa[ip], na_[ineg])) - quant(*_sesp(pb[jp], nb[jneg]))
        return out

    return run_replicates(fn, n_boot, seed=seed, scheduler=scheduler, desc="bootstrap difference")


def _safe_ratio(num: float, den: float) -> float:
    """num/den; 0 when both are 0 (identical curves, as pROC), +/-inf when only den is 0."""
    if den > 0:
        return num / den
    if num == 0:
        return 0.0
    return math.copysign(math.inf, num)


# =========================================================================== k models
def compare_aucs(y: Any, scores: Mapping[str, Any], method: str = "delong", p_adjust: str | None = "holm",
                 level: float = 0.95, n_boot: int = 2000, seed: Any = 0, direction: str = "auto",
                 na: str = "raise", scheduler: Any = None, engine: str | None = None,
                 event: Any = None) -> AUCComparison:
    """AUCs of k >= 2 models on the same subjects, each vs 0.5 and every pair against each other.

    ``models`` has one row per model (AUC, DeLong CI, DeLong test of AUC = 0.5); ``pairs`` one row
    per pair (difference with CI, statistic, raw p, adjusted p). ``p_adjust`` is ``"holm"``
    (Holm 1979, family-wise error), ``"fdr_bh"`` (Benjamini-Hochberg 1995) or None; the family
    is the k(k-1)/2 pairwise tests. Rows with a missing value in any score are dropped together
    when ``na="drop"`` so every comparison uses the same subjects.
    """
    check_scheduler(scheduler)  # refused alike on both engines, even where R resamples
    if not isinstance(scores, Mapping) or len(scores) < 2:
        raise InputError("scores must be a dict {model name: score} with at least two models")
    p_adjust = p_adjust_method(p_adjust, allow_none=True)
    eng = resolve_engine(engine)
    c = _clean(y, {str(k): v for k, v in scores.items()}, na, min_per_class=2, event=event, function="compare_aucs")
    names = list(c.scores)
    rows = []
    for k in names:
        r = roc_auc(c.y, c.scores[k], ci="delong", level=level, direction=direction, engine=eng)
        rows.append({"model": k, "auc": r.auc, "ci_low": r.ci_low, "ci_high": r.ci_high, "se_delong": r.se,
                     "z_vs_0.5": r.z, "p_vs_0.5": r.p_value, "direction": r.direction,
                     "n_pos": r.n_pos, "n_neg": r.n_neg})
    models = pd.DataFrame(rows)
    pair_rows = []
    pairs = list(combinations(names, 2))
    child = child_seeds(seed, len(pairs))
    for (a, b), s_ in zip(pairs, child):
        pair_seed = None if s_ is None else r_seed(s_)  # valid R seed
        t = roc_test(c.y, c.scores[a], c.scores[b], paired=True, method=method, n_boot=n_boot, seed=pair_seed,
                     level=level, direction=direction, scheduler=scheduler, engine=eng)
        pair_rows.append({"model1": a, "model2": b, "auc1": t.auc1, "auc2": t.auc2, "difference": t.difference,
                          "ci_low": t.ci_low, "ci_high": t.ci_high, "statistic": t.statistic,
                          "p_value": t.p_value})
    pairs_df = pd.DataFrame(pair_rows)
    if p_adjust is None:
        pairs_df["p_adjusted"] = pairs_df["p_value"]
    else:
        pairs_df["p_adjusted"] = adjust_p(pairs_df["p_value"].to_numpy(), p_adjust)
    pairs_df["p_adjust"] = p_adjust or "none"
    pairs_df["method"] = method
    if c.n_dropped:
        models["n_dropped"] = c.n_dropped
    return AUCComparison(models=models, pairs=pairs_df, method=method, p_adjust=p_adjust, engine=eng)


# =========================================================================== multiclass
def _pair_auc_gt(controls: np.ndarray, cases: np.ndarray) -> float:
    """P(control > case) + 1/2 P(tie): pROC's AUC with direction '>'."""
    y = np.concatenate([np.zeros(len(controls), np.int8), np.ones(len(cases), np.int8)])
    return _delong_placements(y, -np.concatenate([controls, cases]))[0]


def _hand_till(labels: np.ndarray, probs: np.ndarray, classes: Sequence[Any]) -> tuple[float, list[dict]]:
    rows = []
    for i, j in combinations(range(len(classes)), 2):
        in_i, in_j = labels == classes[i], labels == classes[j]
        a_ij = _pair_auc_gt(probs[in_i, i], probs[in_j, i])
        a_ji = _pair_auc_gt(probs[in_j, j], probs[in_i, j])
        rows.append({"pair": f"{classes[i]}/{classes[j]}", "auc_ij": a_ij, "auc_ji": a_ji, "auc": (a_ij + a_ji) / 2})
    return float(np.mean([r["auc"] for r in rows])), rows


def multiclass_auc(y: Any, probs: Any, ci: str = "delong", level: float = 0.95, n_boot: int = 0,
                   seed: Any = 0, scheduler: Any = None, engine: str | None = None, levels: Any = None,
                   direction: str = "auto") -> MulticlassAUCResult:
    """Hand & Till (Machine Learning 2001;45:171-86) multiclass AUC and one-vs-rest AUCs.

    **One score** (``probs`` a numeric Series or 1-D array, e.g. one score across HER2-0 / low /
    positive): pROC ``multiclass.roc(response, predictor)``'s univariate form, the mean of the
    AUCs of every pair of classes, ``M = 2/(c(c-1)) sum_{i<j} AUC(i, j)``, where ``AUC(i, j)``
    treats the lower class of the pair (in the order of ``levels``, an ordered Categorical or the
    data dictionary -- never the alphabet) as controls; each pair's direction is ``direction``
    (``"auto"``: pROC's median rule pair by pair, so every pairwise AUC is >= 0.5, which flatters
    a score that does not order the classes; ``"<"``: higher classes score higher). Each pair gets
    a DeLong CI; ``n_boot > 0`` gives ``M`` a percentile bootstrap CI (resampling within classes,
    directions kept; a her2stats addition).

    **A probability matrix** (``probs`` a DataFrame):

    ``M = 2/(c(c-1)) sum_{i<j} [A(i|j) + A(j|i)] / 2`` where ``A(i|j)`` is the probability that a
    class-i subject has a higher predicted probability of class i than a class-j subject (ties
    1/2); identical to ``pROC::multiclass.roc(response, predictor = <probability matrix>)``.
    The one-vs-rest AUCs (class k vs all others, score = probability of k) come with ``ci``
    intervals from :func:`roc_auc`. With ``n_boot > 0`` the Hand-Till AUC gets a percentile
    bootstrap CI resampling within each class (a her2stats addition; pROC gives none).

    Parameters
    ----------
    y : class labels (e.g. "HER2-0", "HER2-low", "HER2-positive").
    probs : DataFrame with one column per class, named by the class labels (e.g. a model's
        ``predict_proba`` output with ``columns=model.classes_``).
    """
    check_scheduler(scheduler)  # refused alike on both engines, even where R resamples
    eng = resolve_engine(engine)
    one_score = isinstance(probs, (pd.Series, list, tuple)) or (isinstance(probs, np.ndarray) and probs.ndim == 1)
    if one_score:
        return _multiclass_univariate(y, probs, ci, level, n_boot, seed, scheduler, eng, levels, direction)
    if not isinstance(probs, pd.DataFrame):
        raise InputError("probs must be a DataFrame with one column of predicted probabilities per class, "
                         "named by the class labels (or one numeric score: a Series or 1-D array)")
    y, probs = align(("y", y), ("probs", probs))
    labels = np.asarray(y.to_numpy() if isinstance(y, (pd.Series, pd.Index)) else y, dtype=object)
    if len(labels) != len(probs):
        raise InputError(f"y has {len(labels)} values but probs has {len(probs)} rows")
    miss = np.asarray(pd.isna(labels), dtype=bool) | probs.isna().any(axis=1).to_numpy()
    if miss.any():
        raise InputError(f"{int(miss.sum())} row(s) have a missing label or probability at positions {positions(miss)}")
    classes = list(probs.columns)
    as_text = [str(c) for c in classes]
    dup = sorted({c for c in as_text if as_text.count(c) > 1})
    if dup:
        raise InputError(f"probs has more than one column for class(es) {dup}; give one column per class")
    label_set = {str(v) for v in labels}
    unknown = sorted(label_set - {str(cl) for cl in classes})
    if unknown:
        raise InputError(f"y has classes {unknown} with no column in probs (columns: {classes})")
    if len(classes) < 3:
        raise InputError(f"multiclass_auc needs >= 3 classes, probs has {len(classes)}; use roc_auc for two")
    str_labels = np.array([str(v) for v in labels], dtype=object)
    str_classes = [str(cl) for cl in classes]
    counts = {cl: int((str_labels == cl).sum()) for cl in str_classes}
    small = {k: v for k, v in counts.items() if v < 2}
    if small:
        raise InputError(f"every class needs at least 2 subjects; counts {small}")
    P = probs.to_numpy(dtype=float)
    if eng == "r":
        from .. import r_bridge

        r_bridge.require("pROC")
        # R sees the classes as codes l1..lk (column k of P is class k); pair names map back here
        codes = r_bridge.level_codes(len(str_classes))
        by_class = dict(zip(str_classes, codes))
        out = r_bridge.call("h2s_multiclass_auc", y=[by_class[v] for v in str_labels], probs=P, class_names=codes)
        auc = float(out["auc"])
        pairs = out["pairs"]
        back = dict(zip(codes, str_classes))
        pairs["pair"] = ["/".join(back[c] for c in str(p).split("/")) for p in pairs["pair"]]
        pairs["auc"] = (pairs["auc_ij"] + pairs["auc_ji"]) / 2
    else:
        auc, rows = _hand_till(str_labels, P, str_classes)
        pairs = pd.DataFrame(rows)
    ovr = []
    for k, cl in enumerate(str_classes):
        r = roc_auc((str_labels == cl).astype(int), P[:, k], ci=ci, level=level, direction="<", engine=eng,
                    seed=seed, scheduler=scheduler)
        ovr.append({"class": cl, "auc": r.auc, "ci_low": r.ci_low, "ci_high": r.ci_high, "ci_method": ci,
                    "n_class": r.n_pos, "n_rest": r.n_neg})
    lo = hi = float("nan")
    if n_boot:
        idx_by_class = [np.flatnonzero(str_labels == cl) for cl in str_classes]

        def fn(rng: np.random.Generator, kk: int) -> np.ndarray:
            out = np.empty(kk)
            for b in range(kk):
                idx = stratified_indices(rng, idx_by_class)
                out[b] = _hand_till(str_labels[idx], P[idx], str_classes)[0]
            return out

        lo, hi = percentile_interval(run_replicates(fn, int(n_boot), seed=seed, scheduler=scheduler), check_level(level))
    return MulticlassAUCResult(auc=auc, ci_low=lo, ci_high=hi, pairs=pairs, one_vs_rest=pd.DataFrame(ovr),
                               classes=tuple(str_classes), method="hand-till", engine=eng,
                               n_boot=int(n_boot) or None)


def _multiclass_univariate(y: Any, score: Any, ci: str, level: float, n_boot: int, seed: Any, scheduler: Any,
                           eng: str, levels: Any, direction: str) -> MulticlassAUCResult:
    """pROC ``multiclass.roc(response, predictor)`` with one numeric predictor."""
    from ._core import as_numeric, ordered_levels

    level = check_level(level)
    _check_direction(direction)
    if ci not in ("delong", "bootstrap"):
        raise InputError(f"ci must be 'delong' or 'bootstrap' for the pairwise AUCs, got {ci!r}")
    check_n_boot(n_boot, minimum=100, optional=True, why="a percentile interval of the multiclass AUC")
    _refuse_text(score, "score")
    y, score = align(("y", y), ("score", score))
    s = as_numeric(score, "score")
    ys = y if isinstance(y, pd.Series) else pd.Series(np.asarray(y, dtype=object) if not isinstance(
        y, pd.Categorical) else y)
    labels = ys.to_numpy(dtype=object)
    miss = np.asarray(pd.isna(labels), dtype=bool) | np.isnan(s)
    if miss.any():
        raise InputError(f"{int(miss.sum())} row(s) have a missing class or score at positions {positions(miss)}")
    order = ordered_levels(ys, "y", levels)
    present = [lv for lv in order if np.any(labels == lv)]
    absent = [lv for lv in order if lv not in present]
    if absent:
        warnings.warn(f"multiclass_auc: no observation for class(es) {absent}; they are left out (as pROC)",
                      UserWarning, stacklevel=find_stack_level())
    if len(present) < 3:
        raise InputError(f"multiclass_auc needs >= 3 classes with observations, y has {len(present)} ({present}); "
                         "use roc_auc for two")
    counts = {str(lv): int(np.sum(labels == lv)) for lv in present}
    small = {k: v for k, v in counts.items() if v < 2}
    if small:
        raise InputError(f"every class needs at least 2 subjects; counts {small}")
    if np.all(s == s[0]):
        raise InputError(f"score is constant (every value is {s[0]!r}): every pairwise AUC is 0.5 by construction")
    names = [str(lv) for lv in present]
    idx = [np.flatnonzero(labels == lv) for lv in present]
    pairs = list(combinations(range(len(present)), 2))
    rows = []
    if eng == "r":
        from .. import r_bridge

        r_bridge.require("pROC")
        codes = r_bridge.level_codes(len(present))
        code_of = np.empty(len(labels), dtype=object)
        for k, ix in enumerate(idx):
            code_of[ix] = codes[k]
        keep = np.concatenate(idx)
        out = r_bridge.call("h2s_multiclass_univariate", y=[str(v) for v in code_of[keep]], score=s[keep],
                            class_names=codes, direction=direction)
        auc = float(out["auc"])
        rpairs = out["pairs"]
        r_auc = dict(zip(rpairs["pair"], rpairs["auc"]))
        r_dir = dict(zip(rpairs["pair"], rpairs["direction"]))
    for i, j in pairs:
        yy = np.concatenate([np.zeros(len(idx[i]), np.int8), np.ones(len(idx[j]), np.int8)])
        ss = np.concatenate([s[idx[i]], s[idx[j]]])
        key = f"{i + 1}/{j + 1}"
        if eng == "r":
            key = f"{codes[i]}/{codes[j]}"
        r = roc_auc(yy, ss, ci=ci, level=level, direction=direction if eng == "python" else
                    str(r_dir[key]), engine=eng, seed=seed, scheduler=scheduler)
        rows.append({"pair": f"{names[i]}/{names[j]}", "control": names[i], "case": names[j],
                     "auc": float(r_auc[key]) if eng == "r" else r.auc, "ci_low": r.ci_low, "ci_high": r.ci_high,
                     "direction": r.direction, "n_control": len(idx[i]), "n_case": len(idx[j])})
    pairs_df = pd.DataFrame(rows)
    if eng == "python":
        auc = float(pairs_df["auc"].mean())
    lo = hi = float("nan")
    if n_boot:
        dirs = list(pairs_df["direction"])
        oriented = [(_oriented(s[idx[i]], d), _oriented(s[idx[j]], d)) for (i, j), d in zip(pairs, dirs)]

        def fn(rng: np.random.Generator, kk: int) -> np.ndarray:
            res = np.empty(kk)
            for b in range(kk):
                draws = [bootstrap_indices(rng, len(ix)) for ix in idx]
                tot = 0.0
                for (i, j), (ci_, cj_) in zip(pairs, oriented):
                    yy = np.concatenate([np.zeros(len(idx[i]), np.int8), np.ones(len(idx[j]), np.int8)])
                    tot += _delong_placements(yy, np.concatenate([ci_[draws[i]], cj_[draws[j]]]))[0]
                res[b] = tot / len(pairs)
            return res

        lo, hi = percentile_interval(run_replicates(fn, int(n_boot), seed=seed, scheduler=scheduler,
                                            desc="bootstrap multiclass AUC"), level)
    return MulticlassAUCResult(auc=auc, ci_low=lo, ci_high=hi, pairs=pairs_df,
                               one_vs_rest=pd.DataFrame(columns=["class", "auc", "ci_low", "ci_high"]),
                               classes=tuple(names), method="univariate", engine=eng, n_boot=int(n_boot) or None)


# Helpers the other ROC modules (diagnostics, roc_variance, roc_power, external) share, under public
# names: no module imports another's private names. The definitions above stay where they are.
best_youden = _best_youden
check_direction = _check_direction
check_partial = _check_partial
clean_scores = _clean
curve_points = _curve_points
delong_placements = _delong_placements
delong_var = _delong_var
FastAUC = _FastAUC
oriented = _oriented
partial_auc = _partial_auc
refuse_text = _refuse_text
sesp = _sesp
stratified_draw = _stratified_draw
