r"""Multicentre validation: performance per centre pooled by random-effects meta-analysis,
internal-external cross-validation, clustered calibration and subgroup performance.

* :func:`validate_by_centre` -- per centre: n, events, AUC with its DeLong CI, O:E ratio,
  calibration intercept and slope, ICI, Brier score and net benefit, each with its CI; pooled
  across centres by random-effects meta-analysis with a prediction interval for a new centre.
* :func:`pool_random_effects` -- the meta-analysis itself (metafor ``rma(method = "REML",
  test = "knha")`` + ``predict``).
* :func:`internal_external_cv` -- refits a whole pipeline (selection included) leaving one centre
  out at a time, predicts the held-out centre, and validates/pools as above.
* :func:`clustered_calibration` -- the random-effects calibration model (logistic mixed model
  of the outcome on logit(p) with a correlated random intercept and slope by centre; lme4 Laplace
  fit) giving the calibration curve of an average centre with its CI, per-centre curves and the
  prediction band of a new centre.
* :func:`subgroup_performance` -- AUC, calibration and net benefit per subgroup, Cochran's Q
  test of heterogeneity across the levels of each subgrouping variable, multiplicity-adjusted.

Per-centre measures (centre j with n patients, O events, predictions p, L = logit p)
-------------------------------------------------------------------------------------
* AUC (direction fixed: higher risk = case) with DeLong's variance; CI ``AUC -/+ z SE`` clipped
  to [0, 1] as pROC. Pooled on the logit scale with the delta method:
  ``var(logit AUC) = var(AUC) / (AUC (1 - AUC))^2`` (Snell et al. 2018; Debray et al. 2017).
* O:E = O / sum(p), pooled on the log scale with ``var(ln O:E) = 1/O - 1/n`` (binomial
  variance of O; Debray et al. 2017); CI ``exp(ln O:E -/+ z SE)``.
* calibration intercept a of ``logit P(y) = a + offset(L)`` and slope b of
  ``logit P(y) = a' + b L`` (Wald CIs; rms ``val.prob``'s slope). Predictions of exactly 0 or 1
  are left out of these two fits (counted in ``n_extreme``, as ``val.prob``). A slope is not
  estimable when L separates the outcomes within the centre.
* ICI = mean |p - lowess(p, y, iter = 0)(p)| (Austin & Steyerberg 2019 with rms's smoother),
  percentile CI from ``n_boot`` outcome-stratified bootstrap resamples within the centre
  (seeded, :func:`her2stats.resampling.run_replicates`; the same Python bootstrap serves both
  engines). Not pooled: it has no sampling variance in closed form.
* Brier = mean (p - y)^2, SE = sd((p - y)^2) / sqrt(n).
* net benefit at threshold t: ``NB = TP/n - FP/n t/(1-t)`` (test-positive when p >= t) with the
  multinomial variance ``[pi_tp (1-pi_tp) + w^2 pi_fp (1-pi_fp) + 2 w pi_tp pi_fp] / n``,
  ``w = t/(1-t)`` (Marsh et al. 2020); pooled on its own scale (Wynants et al. 2018).

Random-effects pooling (both engines; R: metafor)
-------------------------------------------------
``y_j ~ N(mu, v_j + tau^2)``. tau^2 by REML (metafor's Fisher scoring, started at the Hedges
estimate, converged to a change below 1e-12, with metafor's check that tau^2 = 0 is not a better
maximum); ``mu = sum w_j y_j / sum w_j``, ``w_j = 1 / (v_j + tau^2)``. CI by Hartung-Knapp-Sidik-
Jonkman: ``SE^2 = sum w_j (y_j - mu)^2 / ((k - 1) sum w_j)``, ``mu -/+ t_{k-1} SE``. Prediction
interval for the performance in a new centre (metafor ``predict.rma``):
``mu -/+ t_{k-1} sqrt(SE^2 + tau^2)`` (``pi_type="riley"``: t_{k-2}, Riley et al. 2011).
``I^2 = 100 tau^2 / (tau^2 + s^2)`` with the typical within-centre variance
``s^2 = (k - 1) sum w / ((sum w)^2 - sum w^2)``, ``w = 1/v`` (Higgins & Thompson 2002), and
Cochran's Q. Estimates and intervals are back-transformed (expit for the AUC, exp for O:E);
``tau2`` stays on the pooling scale.

A centre with one outcome class, or with fewer than ``min_events`` events or non-events, is
reported (``per_centre.pooled`` False and a ``note``) and left out of every pooled estimate, with
a warning. A measure that is not estimable in a centre (AUC of 0 or 1, separated slope, nobody
above a threshold) is left out of that measure's pool only (``pooled.note``).

References
----------
Debray TPA, Damen JAAG, Snell KIE, et al. A guide to systematic review and meta-analysis of
prediction model performance. BMJ 2017;356:i6460.
Riley RD, Higgins JPT, Deeks JJ. Interpretation of random effects meta-analyses. BMJ 2011;342:d549.
Snell KIE, Ensor J, Debray TPA, Moons KGM, Riley RD. Meta-analysis of prediction model
performance across multiple studies: which scale helps ensure between-study normality for the
C-statistic and calibration measures? Stat Methods Med Res 2018;27:3505-3522.
Takada T, Nijman S, Denaxas S, et al. Internal-external cross-validation helped to evaluate the
generalizability of prediction models in large clustered datasets. J Clin Epidemiol 2021;137:83-91.
Steyerberg EW, Harrell FE. Prediction models need appropriate internal, internal-external, and
external validation. J Clin Epidemiol 2016;69:245-247.
Barreñada L, De Cock Campo B, Wynants L, Van Calster B. Clustered flexible calibration plots for
binary outcomes using random effects modeling. Res Synth Methods 2025 (arXiv:2503.08389).
Wynants L, Riley RD, Timmerman D, Van Calster B. Random-effects meta-analysis of the clinical
utility of tests and prediction models. Stat Med 2018;37:2034-2052.
Marsh TL, Janes H, Pepe MS. Statistical inference for net benefit measures in biomarker
validation studies. Biometrics 2020;76:843-852.
Viechtbauer W. Conducting meta-analyses in R with the metafor package. J Stat Softw 2010;36(3).
Collins GS, Moons KGM, Dhiman P, et al. TRIPOD+AI statement. BMJ 2024;385:e078378.
"""
from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from ..engine import resolve_engine
from ..errors import InputError, find_stack_level
from ..resampling import map_tasks, run_replicates, stratified_indices, stratum_rows
from ..results import Result
from ._lowess import approx, lowess, r_seq
from ._core import adjust_p, binary_outcome, check_int, check_level, check_n_boot, expit, p_adjust_method, z_value
from ..schedulers import check_scheduler

__all__ = [
    "MetaAnalysis",
    "MulticentreValidation",
    "SubgroupPerformance",
    "IECVResult",
    "ClusteredCalibration",
    "pool_random_effects",
    "validate_by_centre",
    "subgroup_performance",
    "internal_external_cv",
    "clustered_calibration",
    "fitted_clone",
]

_PI_TYPES = ("metafor", "riley")
_TRANSFORMS = {"identity": (lambda x: x), "expit": expit, "exp": np.exp}


# =========================================================================== input checks
_check_level = check_level
_check_int = check_int


def _check_thresholds(thresholds: Any) -> np.ndarray:
    if thresholds is None:
        return np.zeros(0)
    try:
        th = np.atleast_1d(np.asarray(thresholds, dtype=float)).ravel()
    except (TypeError, ValueError):
        raise InputError(f"thresholds must be numbers in (0, 1), got {thresholds!r}") from None
    bad = th[~((th > 0) & (th < 1))]
    if len(bad):
        raise InputError(f"thresholds must lie strictly between 0 and 1; got {bad[:5].tolist()}")
    if len(np.unique(th)) != len(th):
        raise InputError(f"thresholds must be distinct, got {th.tolist()}")
    return th


#: ``event`` (every public function): the value of ``y`` coded 1 when ``y`` holds labels; an unordered
#: two-category Categorical is not an implicit event (see :func:`her2stats.stats._core.binary_outcome`)
def _outcome(y: Any, name: str = "y", event: Any = None) -> np.ndarray:
    """0/1 floats (NaN where missing) by the statistics core's one rule (:func:`binary_outcome`): 0/1,
    bool, an ordered two-category Categorical (the higher is the event), or labels with ``event=``."""
    return binary_outcome(y, name, event=event).codes


def _probabilities(p: Any, n: int, name: str = "p") -> np.ndarray:
    try:
        if isinstance(p, (pd.Series, pd.Index)):
            out = np.asarray(p.to_numpy(dtype=float, na_value=np.nan), dtype=float)
        else:
            out = np.asarray(p, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be numeric predicted probabilities; convert it with pd.to_numeric") from None
    if out.ndim != 1:
        raise InputError(f"{name} must be one-dimensional, got shape {out.shape}")
    if len(out) != n:
        raise InputError(f"{name} has {len(out)} values but y has {n}; they must be aligned row by row")
    bad = np.flatnonzero(np.isfinite(out) & ((out < 0) | (out > 1)) | np.isinf(out))
    if len(bad):
        raise InputError(f"{name} must be predicted probabilities in [0, 1]; {len(bad)} value(s) outside, e.g. "
                         f"{name}[{bad[0]}] = {out[bad[0]]:.6g} (pass probabilities, not scores or logits)")
    return out


def _groups(values: Any, n: int, name: str) -> tuple[np.ndarray, list[Any]]:
    """Integer codes (-1 = missing) and the labels in order: a Categorical keeps its category
    order; other labels are sorted (numbers numerically, otherwise as text)."""
    if isinstance(values, (pd.Series, pd.Index)) and isinstance(values.dtype, pd.CategoricalDtype):
        cat = pd.Categorical(values)
    elif isinstance(values, pd.Categorical):
        cat = values
    else:
        arr = np.asarray(values.to_numpy() if isinstance(values, (pd.Series, pd.Index)) else values, dtype=object)
        if arr.ndim != 1:
            raise InputError(f"{name} must be one-dimensional, got shape {arr.shape}")
        present = pd.unique(pd.Series(arr).dropna())
        try:
            order = sorted(present)
        except TypeError:
            order = sorted(present, key=str)
        cat = pd.Categorical(arr, categories=order)
    if len(cat) != n:
        raise InputError(f"{name} has {len(cat)} values but y has {n}; they must be aligned row by row")
    used = [c for c in cat.categories if (cat == c).any()]
    cat = cat.remove_unused_categories() if len(used) != len(cat.categories) else cat
    return np.asarray(cat.codes, dtype=np.int64), list(cat.categories)


def _complete(y: np.ndarray, p: np.ndarray, codes: Mapping[str, np.ndarray], y_name: str, p_name: str
              ) -> np.ndarray:
    """Mask of complete rows; warns with the count per column when rows are left out."""
    miss = {y_name: np.isnan(y), p_name: np.isnan(p)}
    for k, c in codes.items():
        miss[k] = c < 0
    keep = ~np.logical_or.reduce(list(miss.values()))
    n_out = int((~keep).sum())
    if n_out:
        parts = ", ".join(f"{k}: {int(m.sum())}" for k, m in miss.items() if m.any())
        warnings.warn(f"{n_out} row(s) with a missing value left out ({parts})", UserWarning, stacklevel=find_stack_level())
    return keep


# =========================================================================== random-effects pooling
def _reml_python(yi: np.ndarray, vi: np.ndarray, level: float, pi_type: str) -> dict:
    """metafor rma(method="REML", test="knha") + predict(); see the module docstring."""
    k = len(yi)
    # Hedges starting value (metafor), truncated at 0
    tau2 = max(0.0, float(np.sum((yi - yi.mean()) ** 2) - np.sum(vi) * (k - 1) / k) / (k - 1))

    def p_matrix(t2: float) -> np.ndarray:
        w = 1.0 / (vi + t2)
        return np.diag(w) - np.outer(w, w) / w.sum()

    for _ in range(10000):
        P = p_matrix(tau2)
        Py = P @ yi
        adj = (Py @ Py - np.trace(P)) / np.trace(P @ P)
        while tau2 + adj < 0:
            adj /= 2.0
        new = tau2 + adj
        change = abs(new - tau2)
        tau2 = new
        if change <= 1e-12:
            break
    else:  # pragma: no cover - REML Fisher scoring converges in a few dozen steps
        from ..errors import ConvergenceError

        raise ConvergenceError("REML Fisher scoring for tau^2 did not converge in 10,000 iterations")

    def reml_ll(t2: float) -> float:
        w = 1.0 / (vi + t2)
        mu = np.sum(w * yi) / w.sum()
        return -0.5 * (np.sum(np.log(vi + t2)) + math.log(w.sum()) + np.sum(w * (yi - mu) ** 2))

    if tau2 > 1e-12 and reml_ll(0.0) - reml_ll(tau2) > np.finfo(float).eps ** 0.25:
        tau2 = 0.0  # metafor's ll0check: a local maximum beaten by tau^2 = 0
    w = 1.0 / (vi + tau2)
    mu = float(np.sum(w * yi) / w.sum())
    rss = float(np.sum(w * (yi - mu) ** 2))
    s2w = 0.0 if rss <= np.finfo(float).eps else rss / (k - 1)
    se = math.sqrt(s2w / w.sum())
    crit = float(sps.t.ppf(1 - (1 - level) / 2, k - 1))
    pi_df = max(1, k - 2) if pi_type == "riley" else k - 1
    pcrit = float(sps.t.ppf(1 - (1 - level) / 2, pi_df))
    wf = 1.0 / vi
    mu_fe = np.sum(wf * yi) / wf.sum()
    q = max(0.0, float(np.sum(wf * (yi - mu_fe) ** 2)))
    s2 = (k - 1) * wf.sum() / (wf.sum() ** 2 - np.sum(wf ** 2))
    return {"estimate": mu, "se": se, "ci_low": mu - crit * se, "ci_high": mu + crit * se,
            "pi_low": mu - pcrit * math.sqrt(se ** 2 + tau2), "pi_high": mu + pcrit * math.sqrt(se ** 2 + tau2),
            "tau2": tau2, "i2": 100.0 * tau2 / (s2 + tau2), "q": q, "q_p": float(sps.chi2.sf(q, k - 1)), "k": k}


def _reml_r(yi: np.ndarray, vi: np.ndarray, level: float, pi_type: str) -> dict:
    from .. import r_bridge

    r_bridge.require("metafor")
    out = r_bridge.call("h2s_rma", yi=np.asarray(yi, float), vi=np.asarray(vi, float), level=float(level),
                        pi_type="riley" if pi_type == "riley" else "default")
    res = {k: float(out[k]) for k in ("estimate", "se", "ci_low", "ci_high", "pi_low", "pi_high", "tau2", "i2", "q", "q_p")}
    res["k"] = int(out["k"])
    return res


def _pool(yi: np.ndarray, vi: np.ndarray, level: float, pi_type: str, engine: str) -> dict:
    return _reml_r(yi, vi, level, pi_type) if engine == "r" else _reml_python(yi, vi, level, pi_type)


def _q_test(yi: np.ndarray, vi: np.ndarray, engine: str) -> tuple[float, float, int]:
    """Cochran's Q of equal effects across independent groups: (Q, p, df)."""
    if engine == "r":
        from .. import r_bridge

        r_bridge.require("metafor")
        out = r_bridge.call("h2s_q_test", yi=np.asarray(yi, float), vi=np.asarray(vi, float))
        return float(out["q"]), float(out["q_p"]), int(out["df"])
    w = 1.0 / vi
    mu = np.sum(w * yi) / w.sum()
    q = max(0.0, float(np.sum(w * (yi - mu) ** 2)))
    return q, float(sps.chi2.sf(q, len(yi) - 1)), len(yi) - 1


@dataclass(frozen=True, repr=False)
class MetaAnalysis(Result):
    """Random-effects meta-analysis (REML tau^2, Knapp-Hartung CI, prediction interval).

    ``estimate``, the CI and the PI are back-transformed with ``transform``; ``se`` and ``tau2``
    are on the pooling scale. ``i2`` is in percent (as metafor). ``studies`` lists the inputs with
    their random-effects weights (percent).
    """

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    pi_low: float
    pi_high: float
    tau2: float
    i2: float
    q: float
    q_p: float
    k: int
    level: float
    transform: str
    pi_type: str
    studies: pd.DataFrame
    engine: str
    method: str = "random effects (REML, Knapp-Hartung)"

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{"estimate": self.estimate, "ci_low": self.ci_low, "ci_high": self.ci_high,
                              "pi_low": self.pi_low, "pi_high": self.pi_high, "se": self.se, "tau2": self.tau2,
                              "i2": self.i2, "q": self.q, "q_p": self.q_p, "k": self.k, "level": self.level,
                              "transform": self.transform, "engine": self.engine}])

    def plot(self, ax: Any = None, xlabel: str = "estimate") -> Any:
        """Forest plot: each study with its CI, the pooled diamond and the prediction interval."""
        f = _TRANSFORMS[self.transform]
        z = z_value(self.level)
        st = self.studies
        rows = pd.DataFrame({"label": st["label"], "estimate": f(st["yi"]),
                             "ci_low": f(st["yi"] - z * np.sqrt(st["vi"])),
                             "ci_high": f(st["yi"] + z * np.sqrt(st["vi"])), "pooled": True})
        return _forest(ax, rows, self.to_frame().iloc[0], xlabel, self.level)


def pool_random_effects(yi: Any, vi: Any, labels: Sequence[Any] | None = None, level: float = 0.95,
                        transform: str = "identity", pi_type: str = "metafor", engine: str | None = None
                        ) -> MetaAnalysis:
    r"""Random-effects meta-analysis of estimates ``yi`` with sampling variances ``vi``.

    REML tau^2 (Fisher scoring converged to 1e-12), Hartung-Knapp-Sidik-Jonkman CI on t(k-1),
    prediction interval ``mu -/+ t sqrt(SE^2 + tau^2)`` (``pi_type="metafor"``: t(k-1) as
    ``predict.rma``; ``"riley"``: t(k-2)), I^2 and Cochran's Q; see the module docstring.

    Parameters
    ----------
    yi, vi : estimates and their sampling variances on the pooling scale (e.g. logit AUC).
    labels : study/centre names (for ``studies`` and the forest plot).
    transform : back-transformation of the estimate and intervals: ``"identity"``, ``"expit"``
        (logit-scale input) or ``"exp"`` (log-scale input).
    engine : ``"python"`` or ``"r"`` (metafor ``rma`` + ``predict``).

    Examples
    --------
    Compare with R (metafor 3.8; the BCG vaccine trials, Viechtbauer 2010): ``rma(yi, vi,
    method = "REML", test = "knha")`` gives tau^2 = 0.3132, mu = -0.7145, I^2 = 92.22%; this
    function agrees to 1e-6 (tests/stats/test_multicentre.py).
    """
    eng = resolve_engine(engine)
    level = _check_level(level)
    if pi_type not in _PI_TYPES:
        raise InputError(f"pi_type must be one of {_PI_TYPES}, got {pi_type!r}")
    if transform not in _TRANSFORMS:
        raise InputError(f"transform must be one of {tuple(_TRANSFORMS)}, got {transform!r}")
    y = np.asarray(yi, dtype=float).ravel()
    v = np.asarray(vi, dtype=float).ravel()
    if len(y) != len(v):
        raise InputError(f"yi has {len(y)} values but vi has {len(v)}; they must pair up")
    labs = list(range(1, len(y) + 1)) if labels is None else list(labels)
    if len(labs) != len(y):
        raise InputError(f"labels has {len(labs)} values but yi has {len(y)}")
    bad = np.flatnonzero(~np.isfinite(y) | ~np.isfinite(v) | (v <= 0))
    if len(bad):
        raise InputError(f"every estimate needs a finite value and a positive finite variance; study "
                         f"{labs[bad[0]]!r} has yi={y[bad[0]]!r}, vi={v[bad[0]]!r}")
    if len(y) < 2:
        raise InputError(f"random-effects pooling needs at least 2 studies/centres, got {len(y)}")
    res = _pool(y, v, level, pi_type, eng)
    f = _TRANSFORMS[transform]
    w = 1.0 / (v + res["tau2"])
    studies = pd.DataFrame({"label": labs, "yi": y, "vi": v, "weight": 100 * w / w.sum()})
    return MetaAnalysis(estimate=float(f(res["estimate"])), se=res["se"], ci_low=float(f(res["ci_low"])),
                        ci_high=float(f(res["ci_high"])), pi_low=float(f(res["pi_low"])),
                        pi_high=float(f(res["pi_high"])), tau2=res["tau2"], i2=res["i2"], q=res["q"], q_p=res["q_p"],
                        k=res["k"], level=level, transform=transform, pi_type=pi_type, studies=studies, engine=eng)


# =========================================================================== per-group measures
def _nb_name(t: float) -> str:
    return f"net_benefit@{t:g}"


def _ici(p: np.ndarray, y: np.ndarray) -> float:
    """Mean |p - lowess(p, y, iter = 0)(p)| (rms's smoother read with ``approx(ties = mean)``);
    with a constant p the smooth is the event rate."""
    if np.all(p == p[0]):
        return float(abs(p[0] - y.mean()))
    sx, sy = lowess(p, y)
    return float(np.mean(np.abs(p - approx(sx, sy, p, ties="mean"))))


def _metrics_python(y: np.ndarray, p: np.ndarray, g: np.ndarray, groups: Sequence[int], thresholds: np.ndarray,
                    level: float) -> pd.DataFrame:
    from .models import newton_logistic
    from .roc import roc_auc

    rows = []
    for k in groups:
        yy, pp = y[g == k], p[g == k]
        n, o = len(yy), float(yy.sum())
        row: dict[str, Any] = {"code": k, "n": n, "events": o, "expected": float(pp.sum())}
        if np.all(pp == pp[0]):
            row.update(auc=np.nan, auc_var=np.nan, auc_ci_low=np.nan, auc_ci_high=np.nan)
        elif o >= 2 and n - o >= 2:
            a = roc_auc(yy, pp, ci="delong", level=level, direction="<", engine="python")
            row.update(auc=a.auc, auc_var=a.se ** 2, auc_ci_low=a.ci_low, auc_ci_high=a.ci_high)
        else:
            a = roc_auc(yy, pp, ci="exact", direction="<", engine="python")
            row.update(auc=a.auc, auc_var=np.nan, auc_ci_low=np.nan, auc_ci_high=np.nan)
        fin = (pp > 0) & (pp < 1)
        L, yf = np.log(pp[fin] / (1 - pp[fin])), yy[fin]
        row.update(intercept=np.nan, intercept_se=np.nan, slope=np.nan, slope_se=np.nan)
        if 0 < yf.sum() < len(yf):
            b, info, ok = newton_logistic(np.ones((len(L), 1)), yf, offset=L, maxit=100, tol=1e-12)
            if ok:
                row.update(intercept=float(b[0]), intercept_se=float(math.sqrt(1.0 / info[0, 0])))
            X = np.column_stack([np.ones(len(L)), L])
            b, info, ok = newton_logistic(X, yf, maxit=100, tol=1e-12) if np.ptp(L) > 0 else (None, None, False)
            if ok:
                row.update(slope=float(b[1]), slope_se=float(math.sqrt(np.linalg.inv(info)[1, 1])))
        row["n_extreme"] = int((~fin).sum())
        row["ici"] = _ici(pp, yy)
        b2 = (pp - yy) ** 2
        row.update(brier=float(b2.mean()), brier_se=float(b2.std(ddof=1) / math.sqrt(n)))
        for j, t in enumerate(thresholds, start=1):
            w = t / (1 - t)
            tp = float(np.sum((pp >= t) & (yy == 1)) / n)
            fp = float(np.sum((pp >= t) & (yy == 0)) / n)
            row[f"nb_{j}"] = tp - w * fp
            row[f"nb_var_{j}"] = (tp * (1 - tp) + w * w * fp * (1 - fp) + 2 * w * tp * fp) / n
        rows.append(row)
    return pd.DataFrame(rows)


def _metrics_r(y: np.ndarray, p: np.ndarray, g: np.ndarray, groups: Sequence[int], thresholds: np.ndarray,
               level: float) -> pd.DataFrame:
    from .. import r_bridge

    r_bridge.require("pROC", "metafor")
    out = r_bridge.call("h2s_group_metrics", y=y.astype(np.int32), p=p, g=(g + 1).astype(np.int32),
                        groups=np.asarray([k + 1 for k in groups], dtype=np.int32), thresholds=thresholds,
                        level=float(level))
    out["code"] = out["code"].astype(int) - 1
    return out


def _ici_bootstrap(y: np.ndarray, p: np.ndarray, g: np.ndarray, groups: Sequence[int], n_boot: int, seed: Any,
                   scheduler: Any, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile CI of the ICI per group: outcome-stratified resamples within each group."""
    parts = [(y[g == k], p[g == k]) for k in groups]
    strata = [stratum_rows(yy) for yy, _ in parts]  # found once per group, not per replicate

    def work(rng: np.random.Generator, m: int) -> np.ndarray:
        out = np.full((m, len(parts)), np.nan)
        for b in range(m):
            for j, (yy, pp) in enumerate(parts):
                idx = stratified_indices(rng, strata[j])
                out[b, j] = _ici(pp[idx], yy[idx])
        return out

    reps = run_replicates(work, n_boot, seed=seed, scheduler=scheduler, desc="bootstrap ICI")
    a = (1 - level) / 2
    return np.quantile(reps, a, axis=0), np.quantile(reps, 1 - a, axis=0)


def _separated(L: np.ndarray, y: np.ndarray) -> bool:
    """Complete or quasi-complete separation of a binary y by one predictor."""
    l1, l0 = L[y == 1], L[y == 0]
    return bool(l0.max() <= l1.min() or l1.max() <= l0.min())


def _group_table(y: np.ndarray, p: np.ndarray, g: np.ndarray, labels: list[Any], label_name: str,
                 thresholds: np.ndarray, level: float, min_events: int, n_boot: int, seed: Any, scheduler: Any,
                 engine: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per-group table on the reporting scale, long table of pooling-scale estimates).

    Groups with one outcome class get n/events only; the rest get every measure. ``pooled`` is
    False (with a note) for a group with one class or fewer than ``min_events`` events or
    non-events.
    """
    z = z_value(level)
    K = len(labels)
    n_k = np.bincount(g, minlength=K)
    e_k = np.bincount(g, weights=y, minlength=K)
    two = [k for k in range(K) if 0 < e_k[k] < n_k[k]]
    if two:
        m = (_metrics_r if engine == "r" else _metrics_python)(y, p, g, two, thresholds, level)
        m = m.set_index("code")
        lo, hi = _ici_bootstrap(y, p, g, two, n_boot, seed, scheduler, level)
        m["ici_ci_low"], m["ici_ci_high"] = lo, hi
    else:
        m = pd.DataFrame(index=pd.Index([], name="code"))
    rows, long = [], []
    for k, lab in enumerate(labels):
        n, o = int(n_k[k]), int(e_k[k])
        row: dict[str, Any] = {label_name: lab, "n": n, "events": o}
        notes: list[str] = []
        if k not in m.index:
            row["expected"] = float(p[g == k].sum())
            notes.append("one outcome class only (no discrimination or calibration slope)")
            row["pooled"] = False
            row["note"] = "; ".join(notes)
            rows.append(row)
            continue
        r = m.loc[k]
        yy, pp = y[g == k], p[g == k]
        row["expected"] = float(r["expected"])
        # --- AUC (DeLong; logit scale for pooling)
        auc, var = float(r["auc"]), float(r["auc_var"])
        const = bool(np.all(pp == pp[0]))
        if const:
            auc, var = float("nan"), float("nan")
            notes.append("constant predictions (AUC and calibration slope undefined)")
        row.update(auc=auc, auc_ci_low=float(r["auc_ci_low"]) if not const else np.nan,
                   auc_ci_high=float(r["auc_ci_high"]) if not const else np.nan)
        yi = math.log(auc / (1 - auc)) if 0 < auc < 1 else np.nan
        vi = var / (auc * (1 - auc)) ** 2 if 0 < auc < 1 and var > 0 else np.nan
        long.append((k, "auc", yi, vi, "AUC of 0 or 1 (logit undefined)" if auc in (0.0, 1.0) else
                     ("no DeLong variance (fewer than 2 events or non-events)" if not np.isfinite(vi) and not const else
                      ("constant predictions" if const else ""))))
        # --- O:E (log scale)
        oe = o / row["expected"] if row["expected"] > 0 else np.nan
        v_oe = 1.0 / o - 1.0 / n
        se_oe = math.sqrt(v_oe)
        row.update(oe=oe, oe_ci_low=oe * math.exp(-z * se_oe), oe_ci_high=oe * math.exp(z * se_oe))
        long.append((k, "oe", math.log(oe) if oe > 0 and np.isfinite(oe) else np.nan, v_oe, ""))
        # --- calibration intercept and slope
        fin = (pp > 0) & (pp < 1)
        yf = yy[fin]
        sep = not (0 < yf.sum() < len(yf)) or _separated(np.log(pp[fin] / (1 - pp[fin])), yf)
        a, a_se = float(r["intercept"]), float(r["intercept_se"])
        b, b_se = (np.nan, np.nan) if sep or const else (float(r["slope"]), float(r["slope_se"]))
        row.update(intercept=a, intercept_ci_low=a - z * a_se, intercept_ci_high=a + z * a_se,
                   slope=b, slope_ci_low=b - z * b_se, slope_ci_high=b + z * b_se)
        if sep and not const:
            notes.append("logit(p) separates the outcomes: calibration slope not estimable")
        long.append((k, "intercept", a, a_se ** 2, "" if np.isfinite(a) else "calibration intercept not estimable"))
        long.append((k, "slope", b, b_se ** 2, "constant predictions" if const else
                     ("slope not estimable (separation)" if sep else "")))
        # --- ICI, Brier
        row.update(ici=float(r["ici"]), ici_ci_low=float(r["ici_ci_low"]), ici_ci_high=float(r["ici_ci_high"]))
        br, br_se = float(r["brier"]), float(r["brier_se"])
        row.update(brier=br, brier_ci_low=br - z * br_se, brier_ci_high=br + z * br_se)
        long.append((k, "brier", br, br_se ** 2, ""))
        # --- net benefit
        for j, t in enumerate(thresholds, start=1):
            nb, v = float(r[f"nb_{j}"]), float(r[f"nb_var_{j}"])
            name = _nb_name(t)
            row.update({name: nb, f"{name}_ci_low": nb - z * math.sqrt(v), f"{name}_ci_high": nb + z * math.sqrt(v)})
            long.append((k, name, nb, v, "" if v > 0 else f"nobody (or everybody) at risk >= {t:g}: no variance"))
        row["n_extreme"] = int(r["n_extreme"])
        if min(o, n - o) < min_events:
            notes.append(f"fewer than min_events={min_events} events or non-events ({o} events, {n - o} non-events)")
            row["pooled"] = False
        else:
            row["pooled"] = True
        row["note"] = "; ".join(notes)
        rows.append(row)
    table = pd.DataFrame(rows)
    order = [label_name, "n", "events", "expected", "auc", "auc_ci_low", "auc_ci_high", "oe", "oe_ci_low",
             "oe_ci_high", "intercept", "intercept_ci_low", "intercept_ci_high", "slope", "slope_ci_low",
             "slope_ci_high", "ici", "ici_ci_low", "ici_ci_high", "brier", "brier_ci_low", "brier_ci_high"]
    for t in thresholds:
        order += [_nb_name(t), f"{_nb_name(t)}_ci_low", f"{_nb_name(t)}_ci_high"]
    order += ["n_extreme", "pooled", "note"]
    table = table.reindex(columns=order)
    table["n_extreme"] = table["n_extreme"].fillna(0).astype(int)
    table["pooled"] = table["pooled"].astype(bool)
    long_df = pd.DataFrame(long, columns=["code", "measure", "yi", "vi", "reason"])
    long_df[label_name] = [labels[c] for c in long_df["code"]]
    return table, long_df


_SCALES = {"auc": ("logit", "expit"), "oe": ("log", "exp"), "intercept": ("identity", "identity"),
           "slope": ("identity", "identity"), "brier": ("identity", "identity")}


def _measures(thresholds: np.ndarray) -> list[str]:
    return ["auc", "oe", "intercept", "slope", "brier"] + [_nb_name(t) for t in thresholds]


# =========================================================================== forest plots
def _forest(ax: Any, rows: pd.DataFrame, pooled: pd.Series, xlabel: str, level: float) -> Any:
    import matplotlib.pyplot as plt

    own = ax is None
    if own:
        _, ax = plt.subplots(figsize=(5.5, 0.35 * (len(rows) + 3) + 0.8))
    n = len(rows)
    ypos = np.arange(n, 0, -1) + 1.5
    for yv, (_, r) in zip(ypos, rows.iterrows()):
        colour = "k" if r["pooled"] else "0.6"
        if np.isfinite(r["estimate"]):
            ax.plot([r["ci_low"], r["ci_high"]], [yv, yv], color=colour, lw=1)
            ax.plot([r["estimate"]], [yv], "s", color=colour, ms=5)
    if np.isfinite(pooled["estimate"]):
        e, lo, hi = pooled["estimate"], pooled["ci_low"], pooled["ci_high"]
        ax.fill([lo, e, hi, e], [0.5, 0.8, 0.5, 0.2], color="k")
        ax.plot([pooled["pi_low"], pooled["pi_high"]], [0.5, 0.5], color="k", lw=1, ls=":")
    labels = [str(r["label"]) + ("" if r["pooled"] else " (not pooled)") for _, r in rows.iterrows()]
    ax.set_yticks(list(ypos) + [0.5])
    ax.set_yticklabels(labels + [f"Pooled ({level:.0%} CI; dotted: PI)"])
    ax.set_ylim(-0.2, n + 2.3)
    ax.set_xlabel(xlabel)
    for s in ("top", "right"):
        ax.spines[s].set_visible(False)
    if own:
        ax.figure.tight_layout()
    return ax


_XLABELS = {"auc": "AUC", "oe": "O:E ratio", "intercept": "Calibration intercept", "slope": "Calibration slope",
            "brier": "Brier score"}
_REFERENCE = {"auc": 0.5, "oe": 1.0, "intercept": 0.0, "slope": 1.0}


# =========================================================================== validate_by_centre
@dataclass(frozen=True, repr=False)
class MulticentreValidation(Result):
    """Performance per centre and pooled by random-effects meta-analysis.

    ``per_centre``: one row per centre (n, events, expected, auc, oe, intercept, slope, ici,
    brier, net_benefit@t, each with ``_ci_low``/``_ci_high``; ``n_extreme``; ``pooled``;
    ``note``). ``pooled``: one row per measure (estimate, ci_low, ci_high, pi_low, pi_high, tau2,
    i2 (percent), q, q_p, k, scale, note). ``estimates``: the pooling-scale inputs (yi, vi) per
    centre and measure, with whether each entered the pool and why not.
    """

    per_centre: pd.DataFrame
    pooled: pd.DataFrame
    estimates: pd.DataFrame
    level: float
    min_events: int
    thresholds: tuple
    n_boot: int
    seed: Any
    pi_type: str
    n: int
    n_excluded: int
    engine: str
    method: str = "per-centre performance, random-effects pooling (REML, Knapp-Hartung, prediction interval)"

    def to_frame(self) -> pd.DataFrame:
        return self.pooled

    def plot(self, measures: Sequence[str] = ("auc", "oe", "slope"), axes: Any = None) -> Any:
        """Forest plots (one panel per measure): centres with their CIs (grey: not pooled), the
        pooled estimate (diamond, CI) and the prediction interval for a new centre (dotted)."""
        import matplotlib.pyplot as plt

        measures = [measures] if isinstance(measures, str) else list(measures)
        unknown = [m for m in measures if m not in self.pooled.index]
        if unknown:
            raise InputError(f"unknown measure(s) {unknown}; available: {list(self.pooled.index)}")
        if axes is None:
            fig, axes = plt.subplots(1, len(measures), figsize=(4.2 * len(measures), 0.35 * (len(self.per_centre) + 3) + 1.0),
                                     sharey=True, squeeze=False)
            axes = axes[0]
        else:
            axes = np.atleast_1d(axes)
            fig = axes[0].figure
        for ax, m in zip(axes, measures):
            rows = pd.DataFrame({"label": self.per_centre.iloc[:, 0], "estimate": self.per_centre[m],
                                 "ci_low": self.per_centre[f"{m}_ci_low"], "ci_high": self.per_centre[f"{m}_ci_high"],
                                 "pooled": self.per_centre["pooled"]})
            _forest(ax, rows, self.pooled.loc[m], _XLABELS.get(m, m.replace("_", " ")), self.level)
            if m in _REFERENCE:
                ax.axvline(_REFERENCE[m], color="0.7", lw=0.8, ls="--", zorder=0)
        fig.tight_layout()
        return fig


def _pool_table(long: pd.DataFrame, eligible: set[int], measures: list[str], level: float, pi_type: str,
                engine: str, label_name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    out = []
    long = long.copy()
    long["included"] = False
    for meas in measures:
        scale, back = _SCALES.get(meas, ("identity", "identity"))
        sub = long[long["measure"] == meas]
        ok = sub["code"].isin(eligible) & np.isfinite(sub["yi"]) & np.isfinite(sub["vi"]) & (sub["vi"] > 0)
        long.loc[sub.index[ok.to_numpy()], "included"] = True
        left = sub[sub["code"].isin(eligible) & ~ok]
        note = "; ".join(f"{r[label_name]!s} left out: {r['reason'] or 'not estimable'}" for _, r in left.iterrows())
        row: dict[str, Any] = {"measure": meas, "scale": scale, "k": int(ok.sum())}
        if ok.sum() >= 2:
            res = _pool(sub["yi"][ok].to_numpy(float), sub["vi"][ok].to_numpy(float), level, pi_type, engine)
            f = _TRANSFORMS[back]
            row.update(estimate=float(f(res["estimate"])), ci_low=float(f(res["ci_low"])),
                       ci_high=float(f(res["ci_high"])), pi_low=float(f(res["pi_low"])),
                       pi_high=float(f(res["pi_high"])), tau2=res["tau2"], i2=res["i2"], q=res["q"], q_p=res["q_p"])
        else:
            row.update(estimate=np.nan, ci_low=np.nan, ci_high=np.nan, pi_low=np.nan, pi_high=np.nan, tau2=np.nan,
                       i2=np.nan, q=np.nan, q_p=np.nan)
            note = "; ".join(x for x in (note, f"fewer than 2 centres to pool (k = {int(ok.sum())})") if x)
        row["note"] = note
        out.append(row)
    cols = ["estimate", "ci_low", "ci_high", "pi_low", "pi_high", "tau2", "i2", "q", "q_p", "k", "scale", "note"]
    return pd.DataFrame(out).set_index("measure")[cols], long


def _warn_left_out(table: pd.DataFrame, label_name: str, what: str) -> None:
    left = table[~table["pooled"]]
    if len(left):
        parts = "; ".join(f"{r[label_name]!s}: {r['note']}" for _, r in left.iterrows())
        warnings.warn(f"{len(left)} {what}(s) left out of the pooled estimates ({parts}); they are listed with "
                      "pooled=False", UserWarning, stacklevel=find_stack_level())


def validate_by_centre(y: Any, p: Any, centre: Any, thresholds: Any = None, level: float = 0.95,
                       min_events: int = 5, n_boot: int = 1000, seed: Any = 0, scheduler: Any = None,
                       pi_type: str = "metafor", engine: str | None = None, event: Any = None) -> MulticentreValidation:
    """Performance of predicted probabilities in each centre, pooled by random-effects meta-analysis.

    Per centre: n, events, expected events, AUC with its DeLong CI, O:E ratio, calibration
    intercept and slope, ICI, Brier score and net benefit at ``thresholds``, each with its CI.
    Pooled (rows auc, oe, intercept, slope, brier, net_benefit@t): REML tau^2,
    Hartung-Knapp-Sidik-Jonkman CI, prediction interval for a new centre and I^2; the AUC on the
    logit scale (delta-method DeLong variance), O:E on the log scale, the rest on their own scale.
    Formulas and references: the module docstring.

    Parameters
    ----------
    y : binary outcome (0/1, bool, or a two-category Categorical whose second category is the event).
    p : predicted probabilities (validated as given: no refitting).
    centre : centre of each patient (a Categorical keeps its category order).
    thresholds : risk thresholds for the net benefit (None: none).
    level : confidence level of the CIs and the prediction interval.
    min_events : a centre with fewer events or non-events than this is reported but left out of
        pooling (with a warning); default 5.
    n_boot, seed, scheduler : the seeded bootstrap of the ICI's CI (``her2stats.resampling``).
    pi_type : ``"metafor"`` (t(k-1), ``predict.rma``'s default) or ``"riley"`` (t(k-2)).
    engine : ``"python"`` or ``"r"`` (pROC, glm, lowess per centre; metafor for pooling).

    Rows with a missing y, p or centre are left out with a warning (counted in ``n_excluded``).

    Examples
    --------
    >>> import her2stats as h2
    >>> df = h2.load_demo()
    >>> res = h2.validate_by_centre(df.her2_positive, p, df.center, thresholds=[0.2])  # doctest: +SKIP
    >>> res.pooled.loc["auc", ["estimate", "ci_low", "ci_high", "pi_low", "pi_high"]]  # doctest: +SKIP
    """
    check_scheduler(scheduler)  # refused alike on both engines, even where R resamples
    eng = resolve_engine(engine)
    level = _check_level(level)
    min_events = _check_int(min_events, "min_events", 1)
    n_boot = check_n_boot(n_boot)
    th = _check_thresholds(thresholds)
    if pi_type not in _PI_TYPES:
        raise InputError(f"pi_type must be one of {_PI_TYPES}, got {pi_type!r}")
    yy = _outcome(y, "y", event)
    pp = _probabilities(p, len(yy), "p")
    codes, labels = _groups(centre, len(yy), "centre")
    keep = _complete(yy, pp, {"centre": codes}, "y", "p")
    yy, pp, codes = yy[keep], pp[keep], codes[keep]
    if len(yy) == 0:
        raise InputError("no complete rows (y, p and centre all present)")
    used = np.unique(codes)
    labels = [labels[c] for c in used]
    codes = np.searchsorted(used, codes)
    if len(labels) < 2:
        raise InputError(f"centre has {len(labels)} distinct value(s) among the complete rows; multicentre validation "
                         "needs at least 2 centres")
    table, long = _group_table(yy, pp, codes, labels, "centre", th, level, min_events, n_boot, seed, scheduler, eng)
    _warn_left_out(table, "centre", "centre")
    eligible = {k for k in range(len(labels)) if table["pooled"].iloc[k]}
    if len(eligible) < 2:
        raise InputError(f"pooling needs at least 2 centres with both outcomes and >= min_events={min_events} events "
                         f"and non-events; {len(eligible)} of {len(labels)} qualify "
                         f"({'; '.join(f'{r.centre}: {r.note}' for r in table.itertuples() if not r.pooled)})")
    pooled, long = _pool_table(long, eligible, _measures(th), level, pi_type, eng, "centre")
    for meas, note in pooled["note"].items():
        if note:
            warnings.warn(f"pooled {meas}: {note}", UserWarning, stacklevel=find_stack_level())
    estimates = long[["centre", "measure", "yi", "vi", "included", "reason"]].reset_index(drop=True)
    return MulticentreValidation(per_centre=table, pooled=pooled, estimates=estimates, level=level,
                                 min_events=min_events, thresholds=tuple(float(t) for t in th), n_boot=n_boot,
                                 seed=seed, pi_type=pi_type, n=int(len(yy)), n_excluded=int((~keep).sum()),
                                 engine=eng)


# =========================================================================== subgroups
@dataclass(frozen=True, repr=False)
class SubgroupPerformance(Result):
    """Performance per subgroup and tests of heterogeneity across subgroups.

    ``table``: one row per (variable, subgroup) with the per-centre columns of
    :class:`MulticentreValidation`. ``heterogeneity``: one row per (variable, measure): Cochran's
    Q across the subgroups (AUC on the logit scale, O:E on the log scale), its df, p-value and the
    multiplicity-adjusted p-value over all rows (``p_adjust``). CIs are per subgroup, unadjusted.
    """

    table: pd.DataFrame
    heterogeneity: pd.DataFrame
    level: float
    p_adjust: str | None
    min_events: int
    thresholds: tuple
    n: int
    engine: str
    method: str = "subgroup performance, Cochran's Q across subgroups"

    def to_frame(self) -> pd.DataFrame:
        return self.table

    def plot(self, measure: str = "auc", ax: Any = None) -> Any:
        """Forest plot of one measure by subgroup, grouped by variable."""
        import matplotlib.pyplot as plt

        if measure not in self.table.columns:
            raise InputError(f"unknown measure {measure!r}")
        t = self.table
        own = ax is None
        if own:
            _, ax = plt.subplots(figsize=(6.5, 0.32 * len(t) + 1.0))
        ypos = np.arange(len(t), 0, -1)
        for yv, (_, r) in zip(ypos, t.iterrows()):
            c = "k" if r["pooled"] else "0.6"
            ax.plot([r[f"{measure}_ci_low"], r[f"{measure}_ci_high"]], [yv, yv], color=c, lw=1)
            ax.plot([r[measure]], [yv], "s", color=c, ms=5)
        ax.set_yticks(ypos)
        ax.set_yticklabels([f"{r['variable']}: {r['subgroup']} (n={r['n']})" for _, r in t.iterrows()])
        if measure in _REFERENCE:
            ax.axvline(_REFERENCE[measure], color="0.7", lw=0.8, ls="--", zorder=0)
        ax.set_xlabel(_XLABELS.get(measure, measure))
        if own:
            ax.figure.tight_layout()
        return ax


def subgroup_performance(y: Any, p: Any, groups: Any, thresholds: Any = None, level: float = 0.95,
                         min_events: int = 5, p_adjust: str | None = "holm", n_boot: int = 1000, seed: Any = 0,
                         scheduler: Any = None, max_levels: int = 10, engine: str | None = None, event: Any = None) -> SubgroupPerformance:
    """AUC, calibration (O:E, intercept, slope, ICI), Brier and net benefit per subgroup, with a
    test of heterogeneity across the subgroups of each variable (fairness assessment).

    For each variable in ``groups`` (a DataFrame or a mapping name -> values aligned with ``y``;
    e.g. age band, menopausal status, field strength, manufacturer) and each of its levels, the
    per-centre measures of :func:`validate_by_centre` with their CIs. Heterogeneity: Cochran's Q
    ``sum w_k (y_k - ybar_w)^2``, ``w_k = 1 / v_k``, on df = (levels - 1) for the logit AUC, the
    log O:E, the calibration intercept and slope and each net benefit -- the Wald test of equal
    performance across independent subgroups (metafor ``rma(method = "EE")``'s QE). p-values are
    adjusted over all (variable, measure) tests with :func:`her2stats.stats.htest.p_adjust`
    (``p_adjust=None`` for none). A subgroup with one outcome class or fewer than ``min_events``
    events or non-events is reported and left out of the test.

    Subgroup variables must be categorical: a numeric column with more than ``max_levels``
    distinct values (age) is refused; band it first (``pd.cut``). Rows missing a subgroup value
    are left out of that variable only, with a warning.
    """
    check_scheduler(scheduler)  # refused alike on both engines, even where R resamples
    eng = resolve_engine(engine)
    level = _check_level(level)
    min_events = _check_int(min_events, "min_events", 1)
    n_boot = check_n_boot(n_boot)
    max_levels = _check_int(max_levels, "max_levels", 2)
    th = _check_thresholds(thresholds)
    if p_adjust is not None:
        p_adjust_method(p_adjust, allow_none=True)  # validates the method name
    yy = _outcome(y, "y", event)
    pp = _probabilities(p, len(yy), "p")
    if isinstance(groups, pd.DataFrame):
        gmap = {str(c): groups[c] for c in groups.columns}
    elif isinstance(groups, Mapping):
        gmap = {str(k): v for k, v in groups.items()}
    else:
        raise InputError("groups must be a DataFrame or a mapping of variable name -> values")
    if not gmap:
        raise InputError("groups is empty: give at least one subgrouping variable")
    base = ~(np.isnan(yy) | np.isnan(pp))
    if (~base).any():
        warnings.warn(f"{int((~base).sum())} row(s) with a missing y or p left out", UserWarning, stacklevel=find_stack_level())
    tables, het = [], []
    for var, values in gmap.items():
        vals = values.to_numpy() if isinstance(values, pd.Series) and not isinstance(values.dtype, pd.CategoricalDtype) else values
        if len(values) != len(yy):
            raise InputError(f"subgroup variable '{var}' has {len(values)} values but y has {len(yy)}")
        s = pd.Series(values) if not isinstance(values, pd.Series) else values
        if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype) and \
                s.nunique() > max_levels:
            raise InputError(f"subgroup variable '{var}' is numeric with {s.nunique()} distinct values; band it first "
                             f"(e.g. pd.cut(df['{var}'], [0, 50, 70, 120])) or raise max_levels={max_levels}")
        codes, labels = _groups(vals, len(yy), f"subgroup variable '{var}'")
        miss = base & (codes < 0)
        if miss.any():
            warnings.warn(f"subgroup variable '{var}': {int(miss.sum())} row(s) with a missing value left out of its "
                          "subgroups", UserWarning, stacklevel=find_stack_level())
        keep = base & (codes >= 0)
        used = np.unique(codes[keep])
        if len(used) < 2:
            raise InputError(f"subgroup variable '{var}' has {len(used)} level(s) among the complete rows; a subgroup "
                             "comparison needs at least 2")
        labs = [labels[c] for c in used]
        cc = np.searchsorted(used, codes[keep])
        table, long = _group_table(yy[keep], pp[keep], cc, labs, "subgroup", th, level, min_events, n_boot, seed,
                                   scheduler, eng)
        _warn_left_out(table, "subgroup", f"'{var}' subgroup")
        table.insert(0, "variable", var)
        tables.append(table)
        eligible = {k for k in range(len(labs)) if table["pooled"].iloc[k]}
        for meas in ["auc", "oe", "intercept", "slope"] + [_nb_name(t) for t in th]:
            sub = long[long["measure"] == meas]
            ok = (sub["code"].isin(eligible) & np.isfinite(sub["yi"]) & np.isfinite(sub["vi"]) & (sub["vi"] > 0)).to_numpy()
            row = {"variable": var, "measure": meas, "scale": _SCALES.get(meas, ("identity",))[0], "k": int(ok.sum())}
            if ok.sum() >= 2:
                q, qp, df = _q_test(sub["yi"].to_numpy(float)[ok], sub["vi"].to_numpy(float)[ok], eng)
                row.update(q=q, df=df, p_value=qp, note="")
            else:
                row.update(q=np.nan, df=np.nan, p_value=np.nan, note=f"fewer than 2 subgroups to compare (k = {int(ok.sum())})")
            het.append(row)
    hdf = pd.DataFrame(het)
    hdf["p_adjusted"] = adjust_p(hdf["p_value"].to_numpy(float), p_adjust) if p_adjust else hdf["p_value"]
    hdf = hdf[["variable", "measure", "scale", "k", "q", "df", "p_value", "p_adjusted", "note"]]
    return SubgroupPerformance(table=pd.concat(tables, ignore_index=True), heterogeneity=hdf, level=level,
                               p_adjust=p_adjust, min_events=min_events, thresholds=tuple(float(t) for t in th),
                               n=int(base.sum()), engine=eng)


# =========================================================================== internal-external CV
#: fitted clones by (estimator parameters, X, y): see :func:`fitted_clone`
_FITTED: dict[str, tuple[Any, list]] = {}
_FITTED_SIZE = 6


def fitted_clone(estimator: Any, X: pd.DataFrame, y: np.ndarray) -> Any:
    """``sklearn.base.clone(estimator).fit(X, y)``, done once per distinct input.

    Internal-external cross-validation refits the image pipeline on the same training centres
    twice per fold: as the Deep Score model and inside the combined model
    (:class:`~her2stats.reporting.sections_centre.CombinedFitter`). The fitted clone is kept
    under a hash of the unfitted clone's parameters, ``X`` (values, columns, index, dtypes) and
    ``y`` (``joblib.hash``), the last few of them; a later call with equal inputs gets the same
    fitted object (to predict with, not to refit), and the warnings the fit raised are raised
    again, so each caller still sees them. The estimator must fit deterministically (fixed
    ``random_state``, seeded folds), as :func:`internal_external_cv` already requires.

    Only on a process's main thread: replaying warnings needs ``warnings.catch_warnings``, which
    is not thread-safe (on a thread, e.g. the ``"threads"`` scheduler or a Dask worker, it could
    take other threads' warnings or undo their filters), so a call on another thread fits the
    clone as ``clone(estimator).fit(X, y)`` would, its warnings passing as they come.
    """
    import threading

    import joblib
    from sklearn.base import clone

    est = clone(estimator)
    yy = np.asarray(y)
    if threading.current_thread() is not threading.main_thread():
        return est.fit(X, yy)
    key = joblib.hash((est, X, yy))
    hit = _FITTED.get(key)
    if hit is None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            est.fit(X, yy)
        hit = (est, [(w.message, w.category) for w in caught])
        while len(_FITTED) >= _FITTED_SIZE:
            del _FITTED[next(iter(_FITTED))]
        _FITTED[key] = hit
    for message, category in hit[1]:
        warnings.warn(message, category, stacklevel=find_stack_level())
    return hit[0]


class _Fold:
    """Fit on every centre but one, predict the held-out centre (picklable: shipped to workers once)."""

    def __init__(self, data: pd.DataFrame, pipeline: Any, y: str, centre: str, features: list[str] | None):
        self.data, self.pipeline, self.y, self.centre, self.features = data, pipeline, y, centre, features

    def __call__(self, held_out: Any) -> dict:
        d = self.data
        test = (d[self.centre] == held_out).to_numpy()
        train, valid = d.loc[~test], d.loc[test]
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                pred = self._fit_predict(train, valid)
            except Exception as exc:
                exc.add_note(f"(internal-external CV: while fitting on all centres but {held_out!r})")
                raise
        messages = sorted({f"{w.category.__name__}: {w.message}" for w in caught})
        return {"held_out": held_out, "pred": pred, "n_train": int(len(train)),
                "events_train": int(train[self.y].sum()), "seconds": time.perf_counter() - t0, "warnings": messages}

    def _fit_predict(self, train: pd.DataFrame, valid: pd.DataFrame) -> np.ndarray:
        if hasattr(self.pipeline, "fit") and hasattr(self.pipeline, "predict_proba"):
            cols = self.features
            est = fitted_clone(self.pipeline, train[cols], train[self.y].to_numpy(dtype=int))
            classes = list(getattr(est, "classes_", [0, 1]))
            if 1 not in classes:
                raise InputError(f"the fitted pipeline's classes_ {classes} lack the event class 1")
            return np.asarray(est.predict_proba(valid[cols]), dtype=float)[:, classes.index(1)]
        return np.asarray(self.pipeline(train.copy(), valid.copy()), dtype=float)


@dataclass(frozen=True, repr=False)
class IECVResult(Result):
    """Internal-external cross-validation: each centre predicted by a pipeline fitted on the others.

    ``predictions``: the held-out prediction of every patient (index of the input data; columns
    centre, y, p). ``folds``: one row per held-out centre (training n and events, fit seconds,
    warnings raised while fitting). ``validation``: :class:`MulticentreValidation` of the
    held-out predictions (``per_centre``, ``pooled`` and ``plot`` are forwarded to it).
    """

    predictions: pd.DataFrame
    folds: pd.DataFrame
    validation: MulticentreValidation
    features: tuple
    engine: str
    method: str = "internal-external cross-validation (leave one centre out)"

    @property
    def per_centre(self) -> pd.DataFrame:
        return self.validation.per_centre

    @property
    def pooled(self) -> pd.DataFrame:
        return self.validation.pooled

    def to_frame(self) -> pd.DataFrame:
        return self.validation.pooled

    def plot(self, measures: Sequence[str] = ("auc", "oe", "slope"), axes: Any = None) -> Any:
        return self.validation.plot(measures=measures, axes=axes)


def internal_external_cv(data: pd.DataFrame, pipeline: Any, y: str, centre: str, features: Sequence[str] | None = None,
                         thresholds: Any = None, level: float = 0.95, min_events: int = 5, n_boot: int = 1000,
                         seed: Any = 0, scheduler: Any = None, pi_type: str = "metafor",
                         engine: str | None = None, event: Any = None) -> IECVResult:
    """Internal-external cross-validation: leave one centre out, refit the whole pipeline on the
    others, predict the held-out centre; then validate and pool as :func:`validate_by_centre`.

    Every step that learns from data (imputation, scaling, feature selection, the model) sits
    inside ``pipeline`` and is refitted in each fold, so a held-out centre never informs its own
    predictions (Steyerberg & Harrell 2016; Takada et al. 2021).

    Parameters
    ----------
    data : one row per patient, with the outcome, the centre and the predictors.
    pipeline : an sklearn estimator (cloned and fitted on ``data[features]``; ``predict_proba``
        column of class 1 is the prediction), or a callable ``f(train, valid) -> probabilities``
        (DataFrames of the training centres and the held-out centre; one probability per
        ``valid`` row).
    y : outcome column (0/1 or bool). Rows with a missing outcome or centre are left out (warned).
    centre : centre column; one fold per centre.
    features : predictor columns for an sklearn pipeline (default: every column but ``y`` and
        ``centre``).
    scheduler : where the folds run (``her2stats.resampling.map_tasks``): None (in process),
        ``"threads"``, ``"processes"``, a ``dask.distributed.Client`` or an address. The folds are
        independent, so results do not depend on the scheduler (pipelines must fix their own
        ``random_state``).
    thresholds, level, min_events, n_boot, seed, pi_type, engine : as :func:`validate_by_centre`
        (``scheduler`` also runs its ICI bootstrap).

    The held-out predictions (``result.predictions``: centre, y, p) feed the other multicentre
    analyses, e.g. ``clustered_calibration(pr.y, pr.p, pr.centre)`` or
    ``subgroup_performance(pr.y, pr.p, data.loc[pr.index, ["manufacturer"]])``.
    """
    check_scheduler(scheduler)  # refused alike on both engines, even where R resamples
    if not isinstance(data, pd.DataFrame):
        raise InputError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    for name, col in (("y", y), ("centre", centre)):
        if not isinstance(col, str) or col not in data.columns:
            raise InputError(f"{name}={col!r} is not a column of data (columns: {list(map(str, data.columns))[:20]})")
    if y == centre:
        raise InputError(f"y and centre must be different columns, both are {y!r}")
    is_sklearn = hasattr(pipeline, "fit") and hasattr(pipeline, "predict_proba")
    if not is_sklearn and not callable(pipeline):
        raise InputError("pipeline must be an sklearn estimator with fit/predict_proba or a callable "
                         "f(train, valid) -> probabilities")
    if features is None:
        feats = [c for c in data.columns if c not in (y, centre)]
    else:
        feats = [features] if isinstance(features, str) else list(features)
        missing = [f for f in feats if f not in data.columns]
        if missing:
            raise InputError(f"feature column(s) {missing[:10]} not in data")
        if y in feats or centre in feats:
            raise InputError(f"features must not include the outcome {y!r} or the centre {centre!r}")
    if is_sklearn and not feats:
        raise InputError("no feature columns: give features= or columns besides the outcome and the centre")
    yy = _outcome(data[y], y, event)
    codes, labels = _groups(data[centre], len(data), centre)
    miss = np.isnan(yy) | (codes < 0)
    if miss.any():
        parts = ", ".join(f"{k}: {int(m.sum())}" for k, m in ((y, np.isnan(yy)), (centre, codes < 0)) if m.any())
        warnings.warn(f"{int(miss.sum())} row(s) with a missing outcome or centre left out of the internal-external "
                      f"cross-validation ({parts})", UserWarning, stacklevel=find_stack_level())
    d = data.loc[~miss].copy()
    d[y] = yy[~miss].astype(int)
    centres = [lab for lab in labels if (d[centre] == lab).any()]
    if len(centres) < 2:
        raise InputError(f"centre column {centre!r} has {len(centres)} distinct value(s); internal-external "
                         "cross-validation needs at least 2 centres")
    for c in centres:
        tr = d.loc[d[centre] != c, y]
        if tr.nunique() < 2:
            raise InputError(f"the training data without centre {c!r} has one outcome class only ({y} = "
                             f"{int(tr.iloc[0])}); it cannot be fitted")
    fold = _Fold(d, pipeline, y, centre, feats if is_sklearn else None)
    results = map_tasks(fold, centres, scheduler=scheduler)
    pred = np.full(len(d), np.nan)
    rows = []
    for c, res in zip(centres, results):
        mask = (d[centre] == c).to_numpy()
        pr = np.asarray(res["pred"], dtype=float).ravel()
        if len(pr) != mask.sum():
            raise InputError(f"the pipeline returned {len(pr)} prediction(s) for held-out centre {c!r}, which has "
                             f"{int(mask.sum())} patient(s)")
        bad = ~np.isfinite(pr) | (pr < 0) | (pr > 1)
        if bad.any():
            raise InputError(f"the pipeline returned {int(bad.sum())} value(s) outside [0, 1] (or missing) for held-out "
                             f"centre {c!r}; it must return predicted probabilities")
        pred[mask] = pr
        for msg in res["warnings"]:
            warnings.warn(f"fitting without centre {c!r}: {msg}", UserWarning, stacklevel=find_stack_level())
        rows.append({"held_out": c, "n_train": res["n_train"], "events_train": res["events_train"],
                     "n_valid": int(mask.sum()), "events_valid": int(d[y].to_numpy()[mask].sum()),
                     "seconds": res["seconds"], "warnings": "; ".join(res["warnings"])})
    val = validate_by_centre(d[y].to_numpy(), pred, pd.Categorical(d[centre], categories=centres),
                             thresholds=thresholds, level=level, min_events=min_events, n_boot=n_boot, seed=seed,
                             scheduler=scheduler, pi_type=pi_type, engine=engine)
    preds = pd.DataFrame({"centre": d[centre], "y": d[y], "p": pred}, index=d.index)
    return IECVResult(predictions=preds, folds=pd.DataFrame(rows), validation=val,
                      features=tuple(feats) if is_sklearn else (), engine=val.engine)


# =========================================================================== clustered calibration
@dataclass(frozen=True, repr=False)
class ClusteredCalibration(Result):
    """Random-effects calibration model ``logit P(y) = a + b L + c0_j + c1_j L``, L = logit(p).

    ``fixed``: calibration intercept a and slope b of an average centre (random effects at 0)
    with Wald CIs. ``random``: SDs of the centre intercepts and slopes and their correlation.
    ``per_centre``: each centre's conditional intercept and slope (fixed + conditional mode).
    ``curve``: the calibration curve of an average centre on a grid of predicted risks, its CI
    (fixed-effect uncertainty) and the prediction band of a new centre (fixed-effect uncertainty
    plus the random-effects variance). ``centre_curves``: each centre's curve over its range.
    """

    fixed: pd.DataFrame
    random: pd.DataFrame
    per_centre: pd.DataFrame
    curve: pd.DataFrame
    centre_curves: pd.DataFrame
    sigma: np.ndarray
    vcov: np.ndarray
    theta: np.ndarray
    deviance: float
    singular: bool
    level: float
    n: int
    n_centres: int
    engine: str
    method: str = "mixed-effects calibration (logistic GLMM, random intercept and slope, Laplace)"

    def to_frame(self) -> pd.DataFrame:
        return self.fixed

    def plot(self, ax: Any = None, centres: bool = True) -> Any:
        """Calibration curve of an average centre (CI band), the prediction band of a new centre
        (lighter), each centre's curve (thin), and the ideal diagonal."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(4.8, 4.8))
        c = self.curve
        ax.plot([0, 1], [0, 1], color="0.7", ls="--", lw=1, label="Ideal")
        ax.fill_between(c["predicted"], c["pi_low"], c["pi_high"], color="0.92",
                        label=f"{self.level:.0%} prediction band (new centre)")
        ax.fill_between(c["predicted"], c["ci_low"], c["ci_high"], color="0.75", label=f"{self.level:.0%} CI")
        if centres:
            for i, (lab, cc) in enumerate(self.centre_curves.groupby("centre", sort=False, observed=True)):
                ax.plot(cc["predicted"], cc["observed"], lw=0.8, alpha=0.8, label=str(lab) if i < 8 else None)
        ax.plot(c["predicted"], c["observed"], color="k", lw=2, label="Average centre")
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="Predicted probability", ylabel="Observed proportion")
        ax.legend(loc="upper left", frameon=False, fontsize=7)
        return ax


def clustered_calibration(y: Any, p: Any, centre: Any, level: float = 0.95, grid: Any = None,
                          engine: str | None = None, event: Any = None) -> ClusteredCalibration:
    r"""Calibration curves that account for clustering by centre (mixed-effects calibration,
    MIX-C of Barreñada et al. 2025, CalibrationCurves ``valProbCluster(approach = "MIXC")``).

    Fits the logistic mixed model ``logit P(y_ij) = a + b L_ij + c0_j + c1_j L_ij``,
    ``L = logit(p)``, ``(c0_j, c1_j) ~ N(0, S)`` (unstructured S) by the Laplace approximation
    (lme4 ``glmer(y ~ L + (1 + L | centre))``; the Python engine is its own Laplace fit,
    :mod:`her2stats.stats._glmm`). On a grid of predicted risks with ``x = (1, L)``:

    * average-centre curve ``expit(x'beta)`` with CI ``expit(x'beta -/+ z sqrt(x'V x))``;
    * prediction band of a new centre ``expit(x'beta -/+ z sqrt(x'V x + x'S x))`` (analytic; the
      CalibrationCurves implementation simulates it);
    * centre curves ``expit(x'(beta + c_j))`` with the conditional modes c_j.

    ``V`` is lme4's covariance of the fixed effects (twice the inverse finite-difference Hessian
    of the Laplace deviance). Needs predictions strictly inside (0, 1) and at least 3 centres;
    with few centres the random-slope variance is often estimated at 0 (``singular``, warned).
    The Python engine matches lme4 to 1e-6 in the fixed effects, variance parameters and curves
    and to 1e-4 (relative) in ``V`` in a regular fit; in a singular fit its deviance is at or below
    lme4's (which stops short on the boundary) and the numbers agree to 3e-5
    (tests/stats/test_multicentre.py). The R engine starts lme4 with bobyqa and with Nelder-Mead
    and keeps the lower deviance (bobyqa alone can stop at a boundary point of higher deviance).
    """
    eng = resolve_engine(engine)
    level = _check_level(level)
    yy = _outcome(y, "y", event)
    pp = _probabilities(p, len(yy), "p")
    codes, labels = _groups(centre, len(yy), "centre")
    keep = _complete(yy, pp, {"centre": codes}, "y", "p")
    yy, pp, codes = yy[keep], pp[keep], codes[keep]
    ext = (pp <= 0) | (pp >= 1)
    if ext.any():
        raise InputError(f"p has {int(ext.sum())} prediction(s) of exactly 0 or 1, whose logit is infinite; the "
                         "calibration model needs probabilities strictly between 0 and 1")
    used = np.unique(codes)
    labels = [labels[c] for c in used]
    codes = np.searchsorted(used, codes)
    K = len(labels)
    if K < 3:
        raise InputError(f"centre has {K} distinct value(s); a random-effects calibration model needs at least 3 centres")
    if yy.sum() == 0 or yy.sum() == len(yy):
        raise InputError("y has one outcome class only among the complete rows")
    L = np.log(pp / (1 - pp))
    if eng == "r":
        from .. import r_bridge

        r_bridge.require("lme4")
        out = r_bridge.call("h2s_glmm_calibration", y=yy.astype(np.int32), L=L, g=(codes + 1).astype(np.int32))
        beta = np.asarray(out["beta"], float)
        V = np.asarray(out["vcov"], float)
        theta = np.asarray(out["theta"], float)
        S = np.asarray(out["sigma"], float)
        re = np.zeros((K, 2))
        rc = np.atleast_1d(np.asarray(out["codes"], int)) - 1
        re[rc] = np.asarray(out["ranef"], float).reshape(len(rc), 2)
        dev, singular = float(out["deviance"]), bool(out["singular"])
    else:
        from ._glmm import fit_random_slope_logistic
        from .models import newton_logistic

        b0, _, _ = newton_logistic(np.column_stack([np.ones(len(L)), L]), yy, maxit=100, tol=1e-12)
        fit = fit_random_slope_logistic(yy, L, codes, K, b0)
        beta, V, theta, S, re, dev, singular = fit.beta, fit.vcov, fit.theta, fit.sigma, fit.ranef, fit.deviance, fit.singular
    if singular:
        warnings.warn("random-effects calibration model: singular fit (a random-effect variance or the correlation is "
                      "estimated at its boundary); with few centres the prediction band rests on that estimate",
                      UserWarning, stacklevel=find_stack_level())
    z = z_value(level)
    se = np.sqrt(np.diag(V))
    fixed = pd.DataFrame({"estimate": beta, "se": se, "ci_low": beta - z * se, "ci_high": beta + z * se,
                          "ideal": [0.0, 1.0]}, index=["calibration intercept", "calibration slope"])
    sd = np.sqrt(np.maximum(np.diag(S), 0))
    corr = S[0, 1] / (sd[0] * sd[1]) if sd[0] > 0 and sd[1] > 0 else np.nan
    random = pd.DataFrame({"estimate": [sd[0], sd[1], corr]},
                          index=["SD of centre intercepts", "SD of centre slopes", "correlation"])
    n_k = np.bincount(codes, minlength=K)
    e_k = np.bincount(codes, weights=yy, minlength=K).astype(int)
    per = pd.DataFrame({"centre": labels, "n": n_k, "events": e_k, "intercept": beta[0] + re[:, 0],
                        "slope": beta[1] + re[:, 1], "intercept_deviation": re[:, 0], "slope_deviation": re[:, 1]})
    if grid is None:
        grid = r_seq(float(np.quantile(pp, 0.01)), float(np.quantile(pp, 0.99)), 100)
    g = _probabilities(np.atleast_1d(np.asarray(grid, dtype=float)), len(np.atleast_1d(grid)), "grid")
    if ((g <= 0) | (g >= 1)).any():
        raise InputError("grid must hold probabilities strictly between 0 and 1")
    X = np.column_stack([np.ones(len(g)), np.log(g / (1 - g))])
    eta = X @ beta
    v_fix = np.einsum("ij,jk,ik->i", X, V, X)
    v_new = v_fix + np.einsum("ij,jk,ik->i", X, S, X)
    ex = _TRANSFORMS["expit"]
    curve = pd.DataFrame({"predicted": g, "observed": ex(eta), "ci_low": ex(eta - z * np.sqrt(v_fix)),
                          "ci_high": ex(eta + z * np.sqrt(v_fix)), "pi_low": ex(eta - z * np.sqrt(v_new)),
                          "pi_high": ex(eta + z * np.sqrt(v_new))})
    cc = []
    for k, lab in enumerate(labels):
        pk = pp[codes == k]
        gk = g[(g >= pk.min()) & (g <= pk.max())]
        Lk = np.log(gk / (1 - gk))
        cc.append(pd.DataFrame({"centre": lab, "predicted": gk,
                                "observed": ex(beta[0] + re[k, 0] + (beta[1] + re[k, 1]) * Lk)}))
    centre_curves = pd.concat(cc, ignore_index=True)
    centre_curves["centre"] = pd.Categorical(centre_curves["centre"], categories=labels)
    return ClusteredCalibration(fixed=fixed, random=random, per_centre=per, curve=curve, centre_curves=centre_curves,
                                sigma=S, vcov=V, theta=theta, deviance=dev, singular=singular, level=level,
                                n=int(len(yy)), n_centres=K, engine=eng)
