"""Diagnostic accuracy at an operating point, with threshold discipline.

A cut-off learnt from data (Youden, a target sensitivity...) is part of the model: it is chosen on
the development cohort with :func:`choose_threshold` and the resulting :class:`ThresholdRule` is
carried unchanged to internal and external cohorts. :func:`diagnostic_metrics` refuses to
re-optimise the cut-off on a cohort declared ``role="test"`` unless asked
(``recompute_on_test=True``), and every output row says where its threshold came from
(``threshold_source``), so a table can never silently report a test-set-optimised threshold.

Metrics (TP, FP, TN, FN from the 2x2 table; ``n = TP + FP + TN + FN``)::

    sensitivity = TP/(TP+FN)   specificity = TN/(TN+FP)   PPV = TP/(TP+FP)   NPV = TN/(TN+FN)
    accuracy = (TP+TN)/n       F1 = 2 TP/(2 TP + FP + FN)

Likelihood ratios ``LR+ = Se/(1 - Sp)``, ``LR- = (1 - Se)/Sp`` and the diagnostic odds ratio
``DOR = TP TN/(FP FN)`` are in every table (rows ``lr_pos``, ``lr_neg``, ``dor``) with log-method
intervals whatever ``ci`` is (:func:`likelihood_ratios`).

Intervals: ``"exact"`` Clopper-Pearson (R ``binom.test``), ``"wilson"`` score interval (R
``prop.test(correct=FALSE)``; Wilson, JASA 1927), ``"bootstrap"`` percentile intervals of
stratified resamples (pROC ``ci.coords``), optionally re-selecting the Youden threshold in every
resample (``reoptimise=True``, seed 002's asymmetric CIs). F1 is not a binomial proportion, so it
gets an interval only from the bootstrap.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from ..engine import resolve_engine
from ..errors import InputError
from ..resampling import run_replicates
from ..results import Result
from ._core import as_numeric, check_finite, check_level, check_n_boot, clean_binary, percentile_interval, z_value
from .roc import best_youden as _best_youden
from .roc import check_direction as _check_direction
from .roc import curve_points as _curve_points
from .roc import refuse_text as _refuse_text
from .roc import resolve_direction
from .roc import stratified_draw as _stratified_draw
from ..schedulers import check_scheduler

__all__ = ["ThresholdRule", "DiagnosticResult", "choose_threshold", "diagnostic_metrics",
           "diagnostic_metrics_from_counts", "binomial_ci", "likelihood_ratios"]

METRICS = ("sensitivity", "specificity", "ppv", "npv", "accuracy", "f1")
_DEV_ROLES = ("development", "train", "training")


# =========================================================================== thresholds
@dataclass(frozen=True, repr=False)
class ThresholdRule(Result):
    """A cut-off fixed on development data, to be applied unchanged to other cohorts.

    ``direction="<"``: test-positive when ``score >= value``; ``">"``: when ``score <= value``.
    ``sensitivity``/``specificity`` are the development-cohort values at the cut-off.
    """

    value: float
    direction: str
    rule: str
    source: str
    sensitivity: float
    specificity: float
    n_pos: int
    n_neg: int
    method: str = "threshold rule"
    #: the engine that computed the ROC points the rule was chosen on
    engine: str | None = None

    def apply(self, score: Any) -> np.ndarray:
        """0/1 test results of ``score`` under this rule (NaN scores raise)."""
        s = as_numeric(score, "score")
        if np.isnan(s).any():
            raise InputError(f"score has {int(np.isnan(s).sum())} missing value(s); a threshold cannot classify them")
        return (s >= self.value if self.direction == "<" else s <= self.value).astype(np.int8)

    @property
    def label(self) -> str:
        return f"{self.rule} cut-off {self.value:.6g} ({self.direction}) chosen on {self.source}"

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{"threshold": self.value, "direction": self.direction, "rule": self.rule,
                              "source": self.source, "sensitivity_dev": self.sensitivity,
                              "specificity_dev": self.specificity, "n_pos_dev": self.n_pos,
                              "n_neg_dev": self.n_neg}])


def _parse_rule(rule: Any) -> tuple[str, float | None]:
    if rule in ("youden", "closest_topleft"):
        return rule, None
    if isinstance(rule, tuple) and len(rule) == 2 and rule[0] in ("sensitivity", "specificity"):
        target = rule[1]
        if isinstance(target, (bool, np.bool_)) or not isinstance(target, (int, float, np.integer, np.floating)) \
                or not 0 < float(target) <= 1:
            raise InputError(f"target {rule[0]} must be in (0, 1], got {rule[1]!r}")
        return rule[0], float(target)
    raise InputError(
        "rule must be 'youden', 'closest_topleft', ('sensitivity', target) or ('specificity', target); "
        f"got {rule!r}"
    )


def _weight_r(cost: Any, prevalence: Any) -> float:
    """pROC ``best.weights = c(cost, prevalence)`` -> ``r = (1 - prevalence) / (cost x prevalence)``."""
    if isinstance(cost, (bool, np.bool_)) or not isinstance(cost, (int, float, np.integer, np.floating)) or \
            not (math.isfinite(float(cost)) and float(cost) > 0):
        raise InputError(f"cost must be a positive number (the cost of a false negative relative to a false "
                         f"positive), got {cost!r}")
    if isinstance(prevalence, (bool, np.bool_)) or not isinstance(prevalence, (int, float, np.integer, np.floating)) \
            or not 0 < float(prevalence) < 1:
        raise InputError(f"prevalence must be in (0, 1), got {prevalence!r}")
    return (1 - float(prevalence)) / (float(cost) * float(prevalence))


def _best(se: np.ndarray, sp: np.ndarray, kind: str, r: float) -> np.ndarray:
    """Indices maximising pROC's criterion: ``se + r sp`` (Youden) or ``-((1 - se)^2 + r (1 - sp)^2)``."""
    crit = se + r * sp if kind == "youden" else -((1 - se) ** 2 + r * (1 - sp) ** 2)
    return np.flatnonzero(crit == crit.max())


def _select(t: np.ndarray, se: np.ndarray, sp: np.ndarray, kind: str, target: float | None, r: float = 1.0) -> int:
    """Index of the chosen threshold on a pROC-ordered curve."""
    if kind == "youden" and r == 1.0:
        return int(_best_youden(t, se, sp)[0])
    if kind in ("youden", "closest_topleft"):
        return int(_best(se, sp, kind, r)[0])
    if kind == "sensitivity":
        # among thresholds meeting the sensitivity target, the highest specificity (then the
        # highest sensitivity); the -Inf/+Inf ends guarantee a qualifying point
        ok = np.flatnonzero(se >= target)
        return int(ok[sp[ok] == sp[ok].max()][0])
    ok = np.flatnonzero(sp >= target)
    return int(ok[se[ok] == se[ok].max()][-1])


def choose_threshold(y_dev: Any, score_dev: Any, rule: Any = "youden", direction: str = "auto",
                     source: str = "development cohort", na: str = "raise", event: Any = None,
                     cost: float = 1.0, prevalence: float = 0.5, engine: str | None = None) -> ThresholdRule:
    """Choose a cut-off on development data and freeze it as a :class:`ThresholdRule`.

    Rules (pROC ``coords(x="best", best.method=, best.weights=c(cost, prevalence))``, first of
    tied thresholds in pROC order):

    * ``"youden"``: maximises ``Se + r Sp`` -- Youden's J when ``r = 1``;
    * ``"closest_topleft"``: minimises ``(1 - Se)^2 + r (1 - Sp)^2``, the (weighted) distance to
      the top-left corner of the ROC plot;
    * ``("sensitivity", 0.9)``: the highest-specificity threshold with sensitivity >= 0.9;
    * ``("specificity", 0.9)``: the highest-sensitivity threshold with specificity >= 0.9.

    ``r = (1 - prevalence) / (cost x prevalence)`` weighs specificity against sensitivity (Zweig &
    Campbell, Clin Chem 1993;39:561-77; Perkins & Schisterman, Am J Epidemiol 2006;163:670-5):
    ``cost`` is the cost of a false negative relative to a false positive and ``prevalence`` the
    prevalence in the population the test will serve. The defaults (1, 0.5), pROC's, give
    ``r = 1``: note that 0.5 is not the sample's prevalence, which must be given to use it.

    Thresholds are pROC midpoints between observed scores. The direction is resolved here (pROC
    median rule for ``"auto"``) and carried with the rule. ``event`` names the case label when
    ``y_dev`` holds labels (see :mod:`her2stats.stats.roc`). ``engine="r"`` takes the curve and the
    optimal cut-offs from pROC.

    Examples
    --------
    >>> rule = choose_threshold(dev.her2, dev.prob, rule=("sensitivity", 0.9))   # doctest: +SKIP
    >>> diagnostic_metrics(test.her2, test.prob, threshold=rule, role="test")   # doctest: +SKIP
    """
    kind, target = _parse_rule(rule)
    _check_direction(direction)
    r = _weight_r(cost, prevalence)
    eng = resolve_engine(engine)
    for k, v in {"score_dev": score_dev}.items():
        _refuse_text(v, k)
    c = clean_binary(y_dev, {"score_dev": score_dev}, na, y_name="y_dev", event=event, function="choose_threshold")
    y, s = c.y, c.scores["score_dev"]
    if eng == "r":
        from .. import r_bridge

        r_bridge.require("pROC")
        if kind in ("youden", "closest_topleft"):
            out = r_bridge.call("h2s_youden", y=y.astype(np.int32), score=s, direction=direction,
                                best_method=kind.replace("_", "."), weights=[float(cost), float(prevalence)])
            d = str(out["direction"].iloc[0])
            value, se_k, sp_k = (float(out[k].iloc[0]) for k in ("threshold", "sensitivity", "specificity"))
        else:
            out = r_bridge.call("h2s_roc_curve", y=y.astype(np.int32), score=s, direction=direction)
            d = str(out["direction"].iloc[0])
            t, se, sp = (np.asarray(out[k], dtype=float) for k in ("threshold", "sensitivity", "specificity"))
            k = _select(t, se, sp, kind, target, r)
            value, se_k, sp_k = float(t[k]), float(se[k]), float(sp[k])
    else:
        d = resolve_direction(y, s, direction)
        t, se, sp = _curve_points(y, s, d)
        k = _select(t, se, sp, kind, target, r)
        value, se_k, sp_k = float(t[k]), float(se[k]), float(sp[k])
    name = kind if kind in ("youden", "closest_topleft") else f"{kind}>={target:g}"
    if kind in ("youden", "closest_topleft") and (cost, prevalence) != (1.0, 0.5):
        name += f" (cost={float(cost):g}, prevalence={float(prevalence):g})"
    return ThresholdRule(value=value, direction=d, rule=name, source=source, sensitivity=se_k,
                         specificity=sp_k, n_pos=int(y.sum()), n_neg=int(len(y) - y.sum()), engine=eng)


# =========================================================================== intervals
def binomial_ci(x: Any, n: Any, method: str = "exact", level: float = 0.95, engine: str | None = "python"
                ) -> tuple[np.ndarray, np.ndarray]:
    """Clopper-Pearson (``"exact"``) or Wilson (``"wilson"``) intervals for ``x`` of ``n``.

    Exact: ``[B^{-1}(a/2; x, n-x+1), B^{-1}(1-a/2; x+1, n-x)]`` (0 / 1 at the edges), as R
    ``binom.test``. Wilson: ``(x + z^2/2 -/+ z sqrt(x(n-x)/n + z^2/4)) / (n + z^2)``, as R
    ``prop.test(correct=FALSE)``. ``n = 0`` gives NaN.
    """
    level = check_level(level)
    x = np.atleast_1d(np.asarray(x, dtype=float))
    n = np.atleast_1d(np.asarray(n, dtype=float))
    if method not in ("exact", "wilson"):
        raise InputError(f"method must be 'exact' or 'wilson', got {method!r}")
    if np.any(x < 0) or np.any(x > n):
        raise InputError(f"counts must satisfy 0 <= x <= n; got x={x.tolist()}, n={n.tolist()}")
    if resolve_engine(engine) == "r":
        from .. import r_bridge

        out = r_bridge.call("h2s_binom_ci", x=x.astype(int).tolist(), n=n.astype(int).tolist(),
                            method=method, level=level)
        return np.asarray(out["ci_low"], dtype=float), np.asarray(out["ci_high"], dtype=float)
    a = 1 - level
    with np.errstate(invalid="ignore", divide="ignore"):
        if method == "exact":
            lo = np.where(x == 0, 0.0, sps.beta.ppf(a / 2, x, n - x + 1))
            hi = np.where(x == n, 1.0, sps.beta.ppf(1 - a / 2, x + 1, n - x))
        else:
            z = sps.norm.ppf(1 - a / 2)
            centre = x + z * z / 2
            half = z * np.sqrt(x * (n - x) / n + z * z / 4)
            lo, hi = (centre - half) / (n + z * z), (centre + half) / (n + z * z)
    bad = n == 0
    lo = np.where(bad, np.nan, lo)
    hi = np.where(bad, np.nan, hi)
    return lo.astype(float), hi.astype(float)


def _metrics_from_counts(tp: float, fp: float, tn: float, fn: float) -> dict[str, float]:
    def ratio(a: float, b: float) -> float:
        return a / b if b > 0 else float("nan")

    return {"sensitivity": ratio(tp, tp + fn), "specificity": ratio(tn, tn + fp), "ppv": ratio(tp, tp + fp),
            "npv": ratio(tn, tn + fn), "accuracy": ratio(tp + tn, tp + fp + tn + fn),
            "f1": ratio(2 * tp, 2 * tp + fp + fn)}


# =========================================================================== result
@dataclass(frozen=True, repr=False)
class DiagnosticResult(Result):
    """Operating-point accuracy: ``table`` has one row per metric with estimate and CI."""

    table: pd.DataFrame
    tp: int
    fp: int
    tn: int
    fn: int
    threshold: float
    threshold_source: str
    direction: str
    method: str
    level: float
    engine: str
    n_dropped: int = 0
    n_boot: int | None = None
    reoptimised: bool = False

    def __getitem__(self, metric: str) -> float:
        return float(self.table.loc[self.table["metric"] == metric, "estimate"].iloc[0])

    def to_frame(self) -> pd.DataFrame:
        out = self.table.copy()
        out["threshold"] = self.threshold
        out["threshold_source"] = self.threshold_source
        return out

    def counts(self) -> dict[str, int]:
        return {"TP": self.tp, "FP": self.fp, "TN": self.tn, "FN": self.fn}


def _table(counts: tuple[int, int, int, int], ci: str, level: float, engine: str,
           boot: dict[str, tuple[float, float]] | None = None) -> pd.DataFrame:
    tp, fp, tn, fn = counts
    est = _metrics_from_counts(tp, fp, tn, fn)
    num_den = {"sensitivity": (tp, tp + fn), "specificity": (tn, tn + fp), "ppv": (tp, tp + fp),
               "npv": (tn, tn + fn), "accuracy": (tp + tn, tp + fp + tn + fn)}
    rows = []
    if ci in ("exact", "wilson"):
        keys = list(num_den)
        lo, hi = binomial_ci([num_den[k][0] for k in keys], [num_den[k][1] for k in keys], method=ci,
                             level=level, engine=engine)
        cis = {k: (float(lo[i]), float(hi[i])) for i, k in enumerate(keys)}
    else:
        cis = boot or {}
    for k in METRICS:
        lo_, hi_ = cis.get(k, (float("nan"), float("nan")))
        note = ""
        if k == "f1" and ci in ("exact", "wilson"):
            note = "F1 is not a binomial proportion: use ci='bootstrap' for its interval"
        elif k in num_den and num_den[k][1] == 0:
            note = "undefined: zero denominator"
        rows.append({"metric": k, "estimate": est[k], "ci_low": lo_, "ci_high": hi_,
                     "numerator": num_den[k][0] if k in num_den else 2 * tp,
                     "denominator": num_den[k][1] if k in num_den else 2 * tp + fp + fn,
                     "ci_method": ci, "note": note})
    rows += _ratio_rows(counts, level, engine)
    return pd.DataFrame(rows)


RATIO_METRICS = ("lr_pos", "lr_neg", "dor")


def likelihood_ratios(tp: int, fp: int, tn: int, fn: int, level: float = 0.95) -> dict[str, tuple[float, float, float]]:
    """LR+, LR- and the diagnostic odds ratio with log-method CIs: ``{name: (estimate, low, high)}``.

    ``LR+ = Se / (1 - Sp)``, ``SE(ln LR+) = sqrt(1/TP - 1/(TP+FN) + 1/FP - 1/(FP+TN))``;
    ``LR- = (1 - Se) / Sp``, ``SE(ln LR-) = sqrt(1/FN - 1/(TP+FN) + 1/TN - 1/(FP+TN))`` (Simel,
    Samsa & Matchar, J Clin Epidemiol 1991;44:763-70: the log method of a ratio of two
    independent proportions, Katz et al. 1978); ``DOR = TP TN / (FP FN) = LR+ / LR-``,
    ``SE(ln DOR) = sqrt(1/TP + 1/FP + 1/TN + 1/FN)`` (Woolf 1955; Glas et al., J Clin Epidemiol
    2003;56:1129-35). Intervals ``exp(ln(est) -/+ z SE)``. A zero cell makes the interval
    undefined (NaN; no continuity correction is applied behind the user's back).
    """
    z = z_value(level)
    tp, fp, tn, fn = (float(v) for v in (tp, fp, tn, fn))

    def ratio(a: float, b: float) -> float:
        if b > 0:
            return a / b
        return float("nan") if a == 0 else float("inf")

    se_, sp_ = ratio(tp, tp + fn), ratio(tn, tn + fp)
    out = {}
    for name, est, cells, var in (
            ("lr_pos", ratio(se_, 1 - sp_), (tp, fp), lambda: 1 / tp - 1 / (tp + fn) + 1 / fp - 1 / (fp + tn)),
            ("lr_neg", ratio(1 - se_, sp_), (fn, tn), lambda: 1 / fn - 1 / (tp + fn) + 1 / tn - 1 / (fp + tn)),
            ("dor", ratio(tp * tn, fp * fn), (tp, fp, tn, fn), lambda: 1 / tp + 1 / fp + 1 / tn + 1 / fn)):
        if min(cells) > 0 and tp + fn > 0 and fp + tn > 0:
            s = math.sqrt(var())
            out[name] = (est, math.exp(math.log(est) - z * s), math.exp(math.log(est) + z * s))
        else:
            out[name] = (est, float("nan"), float("nan"))
    return out


def _ratio_rows(counts: tuple[int, int, int, int], level: float, engine: str) -> list[dict]:
    tp, fp, tn, fn = counts
    est = likelihood_ratios(tp, fp, tn, fn, level)
    if engine == "r":
        from .. import r_bridge

        out = r_bridge.call("h2s_lr_ci", tp=int(tp), fp=int(fp), tn=int(tn), fn=int(fn), level=level)
        est = {k: (est[k][0], float(out[f"{k}_low"]), float(out[f"{k}_high"])) for k in RATIO_METRICS}
    need = {"lr_pos": (tp, fp), "lr_neg": (fn, tn), "dor": (tp, fp, tn, fn)}
    rows = []
    for k in RATIO_METRICS:
        e, lo_, hi_ = est[k]
        note = "" if min(need[k]) > 0 else "undefined interval: a zero cell (no continuity correction applied)"
        rows.append({"metric": k, "estimate": e, "ci_low": lo_, "ci_high": hi_, "numerator": np.nan,
                     "denominator": np.nan, "ci_method": "log (Simel 1991)" if k != "dor" else "log (Woolf 1955)",
                     "note": note})
    return rows


def _counts(y: np.ndarray, pred: np.ndarray) -> tuple[int, int, int, int]:
    tp = int(((pred == 1) & (y == 1)).sum())
    fp = int(((pred == 1) & (y == 0)).sum())
    tn = int(((pred == 0) & (y == 0)).sum())
    fn = int(((pred == 0) & (y == 1)).sum())
    return tp, fp, tn, fn


def _boot_fixed(y: np.ndarray, pred: np.ndarray, n_boot: int, seed: Any, scheduler: Any, level: float
                ) -> dict[str, tuple[float, float]]:
    """Percentile CIs with the test results fixed; cases and controls resampled separately."""
    pp = pred[y == 1].astype(float)
    pn = pred[y == 0].astype(float)
    m, n = len(pp), len(pn)

    def fn(rng: np.random.Generator, k: int) -> np.ndarray:
        out = np.empty((k, len(METRICS)))
        for b in range(k):
            ip, ineg = _stratified_draw(rng, m, n)
            tp = pp[ip].sum()
            fp = pn[ineg].sum()
            out[b] = list(_metrics_from_counts(tp, fp, n - fp, m - tp).values())
        return out

    reps = run_replicates(fn, n_boot, seed=seed, scheduler=scheduler, desc="bootstrap metrics")
    return {k: _nan_percentile(reps[:, i], level) for i, k in enumerate(METRICS)}


def _nan_percentile(v: np.ndarray, level: float) -> tuple[float, float]:
    v = v[~np.isnan(v)]
    return percentile_interval(v, level) if len(v) else (float("nan"), float("nan"))


def _boot_reoptimised(y: np.ndarray, s: np.ndarray, direction: str, n_boot: int, seed: Any, scheduler: Any,
                      level: float) -> dict[str, tuple[float, float]]:
    """pROC ``ci.coords(x="best")``: the Youden threshold is re-selected in every resample
    (ties broken at random, pROC ``best.policy="random"``)."""
    pos, neg = s[y == 1], s[y == 0]
    m, n = len(pos), len(neg)
    yb = np.concatenate([np.ones(m, np.int8), np.zeros(n, np.int8)])

    def fn(rng: np.random.Generator, k: int) -> np.ndarray:
        out = np.empty((k, len(METRICS)))
        for b in range(k):
            ip, ineg = _stratified_draw(rng, m, n)
            sb = np.concatenate([pos[ip], neg[ineg]])
            t, se, sp = _curve_points(yb, sb, direction)
            best = _best_youden(t, se, sp)
            j = best[0] if len(best) == 1 else best[rng.integers(len(best))]
            tp, tn = se[j] * m, sp[j] * n
            out[b] = list(_metrics_from_counts(tp, n - tn, tn, m - tp).values())
        return out

    reps = run_replicates(fn, n_boot, seed=seed, scheduler=scheduler, desc="bootstrap re-optimised metrics")
    return {k: _nan_percentile(reps[:, i], level) for i, k in enumerate(METRICS)}


# =========================================================================== public API
def diagnostic_metrics(y: Any, score_or_pred: Any, threshold: Any = None, ci: str = "exact", level: float = 0.95,
                       n_boot: int = 2000, seed: Any = 0, reoptimise: bool = False, direction: str = "<",
                       role: str = "development", recompute_on_test: bool = False, na: str = "raise",
                       scheduler: Any = None, engine: str | None = None, event: Any = None) -> DiagnosticResult:
    """Sensitivity, specificity, PPV, NPV, accuracy and F1 with CIs at one operating point.

    Parameters
    ----------
    y : binary reference standard (1 = HER2-positive); labels need ``event=`` (see
        :mod:`her2stats.stats.roc`).
    score_or_pred : 0/1 test results (``threshold=None``) or a continuous score.
    threshold : None (``score_or_pred`` is already 0/1), a float (positive when
        ``score >= threshold`` for ``direction="<"``), a :class:`ThresholdRule` from
        :func:`choose_threshold` on development data (its value and direction are used as is),
        or ``"youden"`` -- chosen on *these* data. ``"youden"`` on a cohort with
        ``role="test"`` raises unless ``recompute_on_test=True``, and the output then says
        "re-optimised on this cohort" in ``threshold_source``: test-set-optimised cut-offs are
        optimistic and must be labelled.
    ci : ``"exact"`` (Clopper-Pearson), ``"wilson"`` or ``"bootstrap"``.
    reoptimise : with ``ci="bootstrap"`` and ``threshold="youden"``, re-select the threshold in
        every resample (pROC ``ci.coords(x="best")``) so the CI carries the threshold's own
        uncertainty. Meaningless for a carried rule or fixed value (raises).
    direction : for a float threshold or ``"youden"``: ``"<"`` (higher score = positive,
        default), ``">"``, or ``"auto"`` (pROC median rule; youden only).
    role : ``"development"`` or ``"test"`` (any internal/external validation cohort).
    engine : ``"r"`` computes exact/Wilson intervals with ``binom.test``/``prop.test`` and
        bootstrap intervals with pROC ``ci.coords`` (F1 has no pROC interval); ``"python"``.

    Examples
    --------
    Seed 001 DL-US in the test cohort (19 HER2-positive, 29 negative; TP 17, FP 6, TN 23, FN 2):
    sensitivity 0.895, specificity 0.793, PPV 0.739, NPV 0.920, accuracy 0.833, F1 0.810
    (see :func:`diagnostic_metrics_from_counts`).
    """
    check_scheduler(scheduler)  # refused alike on both engines, even where R resamples
    if ci not in ("exact", "wilson", "bootstrap"):
        raise InputError(f"ci must be 'exact', 'wilson' or 'bootstrap', got {ci!r}")
    level = check_level(level)
    _check_direction(direction)
    if role not in _DEV_ROLES + ("test", "validation", "internal", "external"):
        raise InputError(f"role must be 'development' or 'test' (or 'validation', 'internal', 'external'); got {role!r}")
    if reoptimise and ci != "bootstrap":
        raise InputError("reoptimise=True re-selects the threshold in bootstrap resamples: use ci='bootstrap'")
    if ci == "bootstrap":
        check_n_boot(n_boot, minimum=100, why="a percentile interval")
    eng = resolve_engine(engine)
    if isinstance(threshold, (int, float, np.integer, np.floating)) and not isinstance(threshold, bool):
        check_finite(threshold, "threshold")
    _refuse_text(score_or_pred, "score_or_pred")
    c = clean_binary(y, {"score_or_pred": score_or_pred}, na, event=event, function="diagnostic_metrics") \
        if threshold is not None \
        else _clean_binary_pred(y, score_or_pred, na, event)
    yy, s = c.y, c.scores["score_or_pred"]
    if threshold is None:
        pred, value, d, source = s.astype(np.int8), float("nan"), "<", "given 0/1 test results"
    elif isinstance(threshold, ThresholdRule):
        if reoptimise:
            raise InputError("reoptimise=True cannot be combined with a ThresholdRule carried from development data")
        pred, value, d, source = threshold.apply(s), threshold.value, threshold.direction, threshold.label
    elif threshold == "youden":
        if role not in _DEV_ROLES and not recompute_on_test:
            raise InputError(
                f"threshold='youden' would re-optimise the cut-off on this {role} cohort, which overstates "
                "accuracy. Pass threshold=choose_threshold(y_dev, score_dev) from the development data, or "
                "recompute_on_test=True to do it anyway (the output is then labelled 're-optimised on this cohort')."
            )
        d = resolve_direction(yy, s, direction)
        t, se, sp = _curve_points(yy, s, d)
        value = float(t[int(_best_youden(t, se, sp)[0])])
        pred = (s >= value if d == "<" else s <= value).astype(np.int8)
        source = ("youden, chosen on this development cohort" if role in _DEV_ROLES
                  else f"youden, re-optimised on this {role} cohort (optimistic)")
        if reoptimise:
            source += "; re-selected in each bootstrap resample"
    elif isinstance(threshold, (int, float, np.integer, np.floating)) and not isinstance(threshold, bool):
        if reoptimise:
            raise InputError("reoptimise=True re-selects the Youden threshold: use threshold='youden'")
        if direction == "auto":
            raise InputError("a fixed threshold needs an explicit direction: '<' (score >= threshold is positive) or '>'")
        value, d = float(threshold), direction
        pred = (s >= value if d == "<" else s <= value).astype(np.int8)
        source = "fixed value given by the user"
    else:
        raise InputError(f"threshold must be None, a number, 'youden' or a ThresholdRule; got {threshold!r}")

    counts = _counts(yy, pred)
    boot = None
    if ci == "bootstrap":
        if eng == "r" and threshold is not None:
            from .. import r_bridge

            r_bridge.require("pROC")
            out = r_bridge.call("h2s_ci_coords", y=yy.astype(np.int32), score=s,
                                x="best" if reoptimise else value, direction=d, level=level, n_boot=int(n_boot),
                                seed=None if seed is None else int(seed))
            boot = {str(r.metric): (float(r.ci_low), float(r.ci_high)) for r in out.itertuples()}
        elif reoptimise:
            boot = _boot_reoptimised(yy, s, d, int(n_boot), seed, scheduler, level)
        else:
            boot = _boot_fixed(yy, pred, int(n_boot), seed, scheduler, level)
    table = _table(counts, ci, level, eng, boot)
    if ci == "bootstrap" and eng == "r" and threshold is not None:
        table.loc[table["metric"] == "f1", "note"] = "pROC ci.coords has no F1; use engine='python'"
    return DiagnosticResult(table=table, tp=counts[0], fp=counts[1], tn=counts[2], fn=counts[3], threshold=value,
                            threshold_source=source, direction=d, method=ci, level=level, engine=eng,
                            n_dropped=c.n_dropped, n_boot=int(n_boot) if ci == "bootstrap" else None,
                            reoptimised=bool(reoptimise))


def _clean_binary_pred(y: Any, pred: Any, na: str, event: Any = None):
    # a constant 0/1 prediction is legitimate for a 2x2 table (e.g. all negative)
    c = clean_binary(y, {"score_or_pred": pred}, na, event=event, function="diagnostic_metrics",
                     refuse_constant=False)
    v = c.scores["score_or_pred"]
    if not np.isin(v, (0.0, 1.0)).all():
        raise InputError(
            "score_or_pred is not 0/1: give threshold= (a ThresholdRule from choose_threshold on the development "
            "data, a number, or 'youden' to optimise on this cohort)"
        )
    return c


def diagnostic_metrics_from_counts(tp: int, fp: int, tn: int, fn: int, ci: str = "exact", level: float = 0.95,
                                   n_boot: int = 2000, seed: Any = 0, scheduler: Any = None,
                                   engine: str | None = "python") -> DiagnosticResult:
    """Accuracy metrics and CIs from a published 2x2 table (the auditor's entry point).

    ``ci="bootstrap"`` rebuilds the subjects from the counts and resamples cases and controls
    separately (fixed test results).

    Examples
    --------
    >>> r = diagnostic_metrics_from_counts(tp=17, fp=6, tn=23, fn=2)   # seed 001 DL-US
    >>> round(r["sensitivity"], 3), round(r["ppv"], 3), round(r["f1"], 3)
    (0.895, 0.739, 0.81)
    """
    check_scheduler(scheduler)  # refused alike on both engines, even where R resamples
    vals = {"tp": tp, "fp": fp, "tn": tn, "fn": fn}
    for k, v in vals.items():
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 0:
            raise InputError(f"{k} must be a non-negative integer count, got {v!r}")
    if tp + fp + tn + fn == 0:
        raise InputError("all four counts are zero")
    if ci not in ("exact", "wilson", "bootstrap"):
        raise InputError(f"ci must be 'exact', 'wilson' or 'bootstrap', got {ci!r}")
    level = check_level(level)
    eng = resolve_engine(engine)
    boot = None
    if ci == "bootstrap":
        y = np.concatenate([np.ones(tp + fn, np.int8), np.zeros(fp + tn, np.int8)])
        pred = np.concatenate([np.ones(tp, np.int8), np.zeros(fn, np.int8), np.ones(fp, np.int8),
                               np.zeros(tn, np.int8)])
        if tp + fn == 0 or fp + tn == 0:
            raise InputError("a bootstrap needs both positive (tp + fn) and negative (fp + tn) subjects")
        boot = _boot_fixed(y, pred, int(n_boot), seed, scheduler, level)
    table = _table((int(tp), int(fp), int(tn), int(fn)), ci, level, eng, boot)
    return DiagnosticResult(table=table, tp=int(tp), fp=int(fp), tn=int(tn), fn=int(fn), threshold=float("nan"),
                            threshold_source="published 2x2 counts", direction="<", method=ci, level=level,
                            engine=eng, n_boot=int(n_boot) if ci == "bootstrap" else None)
