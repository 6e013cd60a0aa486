"""Internal validation of a whole modelling pipeline: bootstrap (or repeated cross-validation)
refits with every learning step inside, optimism-corrected performance, instability and
selection stability.

Published HER2 pipelines select features (ICC, univariate tests, correlation, LASSO) and then fit
a model; an optimism correction that refits only the last model hides the selection. Here the
*whole* sklearn pipeline is cloned and refitted on every resample, so every step that learns
from data (harmonisation, selection, Deep Score, a zoo model) is redone inside the resample.

* :func:`pipeline_bootstrap` - Harrell's bootstrap optimism correction (Efron-Gong; Harrell 2015,
  sec. 5.3) of AUC, calibration slope, intercept, calibration-in-the-large, Brier score and ICI,
  optionally Efron & Tibshirani's (1997) .632+ for AUC and Brier, with location-shifted bootstrap
  CIs (Noma et al. 2021); prediction, classification, calibration and decision-curve instability
  (Riley & Collins 2023); selection frequencies, model sizes and features that replace each other.
* :func:`pipeline_cv` - repeated stratified K-fold cross-validation of the same pipeline with the
  same instability and selection outputs (as WORC's repeated random splits).

Resampling: the bootstrap row draws are exactly those of :func:`her2stats.validate` for the same
``seed`` (chunks of :data:`her2stats.resampling.DEFAULT_CHUNK` replicates, chunk *k* drawn from
the *k*-th ``SeedSequence`` child, ``bootstrap_indices`` in order); the refits then run as
independent tasks on ``scheduler`` (:func:`her2stats.resampling.map_tasks`), so the result is
identical on 1 or N Dask workers.

References
----------
Harrell FE. Regression Modeling Strategies, 2nd ed. Springer 2015, sec. 5.3.
Efron B, Tibshirani R. Improvements on cross-validation: the .632+ bootstrap method. J Am Stat
Assoc 1997;92:548-560.
Noma H, Shinozaki T, Iba K, Teramukai S, Maruo K. Confidence intervals of prediction accuracy
measures for multivariable prediction models based on the bootstrap-based optimism correction
methods. Stat Med 2021;40:5691-5701.
Riley RD, Collins GS. Stability of clinical prediction models developed using statistical or
machine learning methods. Biom J 2023;65:2200302.
Austin PC, Steyerberg EW. The Integrated Calibration Index (ICI). Stat Med 2019;38:4051-4065.
Vickers AJ, Elkin EB. Decision curve analysis. Med Decis Making 2006;26:565-574.
"""
from __future__ import annotations

import math
import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from ..errors import InputError, find_stack_level
from ..resampling import DEFAULT_CHUNK, bootstrap_indices, map_tasks, replicate_chunks
from ..results import Result
from ._lowess import approx, lowess, r_seq
from ._core import check_level

__all__ = ["pipeline_bootstrap", "start_pipeline_bootstrap", "BootstrapStart", "pipeline_cv", "PipelineValidationResult",
           "bootstrap_draws", "INDICES"]

#: performance indices, in table order
INDICES = ("AUC", "slope", "intercept", "citl", "Brier", "ICI")
_INDEX_LABELS = {
    "AUC": "AUC (C statistic)",
    "slope": "calibration slope",
    "intercept": "calibration intercept (with slope)",
    "citl": "calibration-in-the-large (slope fixed at 1)",
    "Brier": "Brier score",
    "ICI": "integrated calibration index",
}
#: for these the CI uses the distribution of the refits' indices on the original data (their
#: apparent values are 1, 0 and 0 by construction for a maximum-likelihood logistic model)
_CI_FROM_TEST = ("slope", "intercept", "citl")
_EPS = 1e-12  # probabilities are clipped to [eps, 1 - eps] before taking logits (announced)
_METHODS = ("harrell", ".632+")


# --------------------------------------------------------------------------- indices
def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, _EPS, 1 - _EPS)
    return np.log(q / (1 - q))


def performance_indices(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    """AUC, calibration slope, intercept, calibration-in-the-large, Brier and ICI of ``p`` for 0/1 ``y``.

    * AUC: Mann-Whitney C (ties 1/2), as ``Hmisc::somers2``;
    * slope ``b`` and intercept ``a`` of the logistic recalibration ``logit P(y) = a + b logit p``
      (rms ``validate``'s Slope and Intercept);
    * calibration-in-the-large ``a`` of ``logit P(y) = a + offset(logit p)``;
    * Brier ``mean((y - p)^2)``;
    * ICI ``mean |p - c(p)|`` with ``c`` the lowess curve ``lowess(p, y, iter=0)`` read at each
      ``p`` (ties averaged), as rms and Austin & Steyerberg (2019).

    Probabilities are clipped to ``[1e-12, 1 - 1e-12]`` for the logits only. Indices that cannot
    be computed (one outcome class, a non-converged recalibration) are NaN.
    """
    from .models import concordance_c, newton_logistic

    out = np.full(len(INDICES), np.nan)
    y = np.asarray(y, float)
    p = np.asarray(p, float)
    if len(y) < 2 or y.min() == y.max():
        return out
    out[0] = concordance_c(p, y)
    L = _logit(p)
    Xr = np.column_stack([np.ones(len(L)), L])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        beta, _, ok = newton_logistic(Xr, y, maxit=50, tol=1e-12)
        if ok and np.all(np.isfinite(beta)):
            out[2], out[1] = beta
        b0, _, ok0 = newton_logistic(np.ones((len(L), 1)), y, offset=L, maxit=50, tol=1e-12)
        if ok0 and np.isfinite(b0[0]):
            out[3] = b0[0]
    out[4] = float(np.mean((y - p) ** 2))
    if np.ptp(p) > 0:
        sx, sy = lowess(p, y)
        out[5] = float(np.mean(np.abs(p - approx(sx, sy, p, ties="mean"))))
    else:
        out[5] = float(abs(p[0] - y.mean()))
    return out


def _calibration_curve(p: np.ndarray, y: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """lowess calibration curve of (p, y) read on ``grid`` (NaN outside the range of p)."""
    if np.ptp(p) == 0:
        return np.full(len(grid), np.nan)
    sx, sy = lowess(p, y)
    return approx(sx, sy, grid, ties="first")


# --------------------------------------------------------------------------- inputs
def _is_fitted(est: Any) -> bool:
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        from sklearn.utils import get_tags

        if not get_tags(est).requires_fit:
            return False
    except Exception:  # pragma: no cover - older sklearn
        pass
    try:
        check_is_fitted(est)
        return True
    except (NotFittedError, TypeError):
        return False


def _walk_steps(est: Any, path: str = "") -> list[tuple[str, Any]]:
    """(name, estimator) of every step, recursing into Pipelines, FeatureUnions, ColumnTransformers."""
    out: list[tuple[str, Any]] = []
    children = None
    if hasattr(est, "steps"):
        children = [(n, s) for n, s in est.steps]
    elif hasattr(est, "transformer_list"):
        children = [(n, s) for n, s in est.transformer_list]
    elif hasattr(est, "transformers") and isinstance(getattr(est, "transformers"), list):
        children = [(t[0], t[1]) for t in est.transformers]
    if children is None:
        return [(path or type(est).__name__, est)]
    for name, step in children:
        if step is None or (isinstance(step, str) and step in ("passthrough", "drop")):
            continue
        out += _walk_steps(step, f"{path}/{name}" if path else str(name))
    return out


def _check_pipeline(pipeline: Any) -> None:
    """Refuse anything that is not an unfitted sklearn estimator (leakage by construction)."""
    if not (hasattr(pipeline, "fit") and hasattr(pipeline, "get_params")):
        raise InputError(f"pipeline must be an sklearn estimator or Pipeline (with fit and get_params), got "
                         f"{type(pipeline).__name__}")
    if not hasattr(pipeline, "predict_proba"):
        raise InputError(f"pipeline ({type(pipeline).__name__}) must end in a classifier with predict_proba: "
                         "calibration, Brier and net benefit need predicted probabilities")
    for name, step in _walk_steps(pipeline):
        if not hasattr(step, "get_params"):
            raise InputError(f"pipeline step {name!r} ({type(step).__name__}) is not an sklearn estimator; "
                             "it cannot be cloned and refitted on each resample")
        if _is_fitted(step):
            raise InputError(
                f"pipeline step {name!r} ({type(step).__name__}) is already fitted. The whole pipeline is refitted "
                "on every resample, and a step fitted beforehand (on patients later used for evaluation) would "
                "leak them into every replicate; pass the unfitted pipeline (sklearn.base.clone(pipeline))")


def _check_inputs(X: Any, y: Any, event: Any) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, Any]:
    """(X frame, y as passed to the pipeline (0/1 ints), 0/1 outcome as floats, event label)."""
    if isinstance(X, pd.DataFrame):
        frame = X
    else:
        arr = np.asarray(X)
        if arr.ndim != 2:
            raise InputError(f"X must be 2-D (patients x features), got an array of shape {arr.shape}")
        frame = pd.DataFrame(arr, columns=[f"x{j}" for j in range(arr.shape[1])])
    if frame.shape[1] == 0:
        raise InputError("X has no columns")
    names = [str(c) for c in frame.columns]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise InputError(f"X has duplicated column names {dup[:5]}; make them unique")
    if y is None:
        raise InputError("y (the binary outcome) is required")
    from . import _core

    if not isinstance(y, (pd.Series, pd.Categorical)):
        y = np.asarray(y)
        if y.ndim != 1:
            y = y.ravel()
    # pandas X and y pair by index label (reordered when they hold the same labels), arrays by position
    y = _core.align(("X", X), ("y", y))[1]
    out = _core.binary_outcome(y, "y", event=event)
    y01 = out.codes
    miss = np.isnan(y01)
    if miss.any():
        raise InputError(f"y has {int(miss.sum())} missing value(s) (first at position {int(np.flatnonzero(miss)[0])}); "
                         "exclude those patients explicitly before validation")
    event = out.event.item() if isinstance(out.event, np.generic) else out.event
    if min(y01.sum(), len(y01) - y01.sum()) < 2:
        raise InputError(f"y needs at least 2 patients in each class (events={int(y01.sum())}, n={len(y01)})")
    # every step is fitted on the outcome coded 0/1 (1 = event), so no step has to guess the event
    y_fit = y01.astype(int)
    return frame, y_fit, y01, event


def _check_threshold(threshold: Any, y01: np.ndarray) -> tuple[float, str]:
    if threshold is None:
        return float(y01.mean()), "outcome prevalence (default)"
    source = "given"
    if hasattr(threshold, "value") and hasattr(threshold, "direction"):  # a ThresholdRule
        if threshold.direction != "<":
            raise InputError(f"the threshold rule classifies low scores as positive (direction {threshold.direction!r}); "
                             "pipeline predictions are event probabilities, positive when p >= threshold")
        source = f"threshold rule: {threshold.label}"
        threshold = threshold.value
    t = threshold
    try:
        t = float(t)
    except (TypeError, ValueError):
        raise InputError(f"threshold must be a probability in (0, 1), got {threshold!r}") from None
    if not 0 < t < 1:
        raise InputError(f"threshold must be a probability in (0, 1), got {t!r}")
    return t, source


def _check_thresholds(thresholds: Any) -> np.ndarray:
    th = np.asarray(thresholds if thresholds is not None else np.round(np.arange(0.01, 0.81, 0.01), 10), dtype=float)
    if th.ndim != 1 or len(th) == 0 or not np.all(np.isfinite(th)) or np.any((th <= 0) | (th >= 1)):
        raise InputError("dca_thresholds must be a non-empty sequence of probabilities strictly between 0 and 1")
    return th


def bootstrap_draws(n: int, n_boot: int, seed: Any) -> list[np.ndarray]:
    """Row indices of ``n_boot`` bootstrap samples of ``n`` rows: the draws of
    :func:`her2stats.validate` for the same seed (seeded chunks of ``DEFAULT_CHUNK``)."""
    draws: list[np.ndarray] = []
    for m, ss in replicate_chunks(n_boot, seed, DEFAULT_CHUNK):
        rng = np.random.default_rng(ss)
        draws.extend(bootstrap_indices(rng, n) for _ in range(m))
    return draws


def _check_n(n_boot: Any, name: str = "n_boot") -> int:
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise InputError(f"{name} must be a positive integer, got {n_boot!r}")
    return int(n_boot)


# --------------------------------------------------------------------------- one refit
def _event_column(model: Any, event: Any) -> int:
    classes = getattr(model, "classes_", None)
    if classes is None:
        raise InputError("the fitted pipeline has no classes_; it must end in a classifier")
    hits = [j for j, c in enumerate(classes) if c == event or str(c) == str(event)]
    if not hits:
        raise InputError(f"the fitted pipeline's classes {list(classes)} do not include the event {event!r}")
    return hits[0]


def _predict_event(model: Any, X: pd.DataFrame, event: Any) -> np.ndarray:
    p = np.asarray(model.predict_proba(X), dtype=float)
    if p.ndim != 2 or p.shape[0] != len(X):
        raise InputError(f"predict_proba returned shape {p.shape} for {len(X)} rows")
    p = p[:, _event_column(model, event)]
    if not np.all(np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        raise InputError("the pipeline predicted missing or out-of-range probabilities")
    return p


def _selected_features(model: Any, columns: list[str], selector: Callable | None) -> list[str] | None:
    """Names of the input columns that reach the final estimator with a non-zero coefficient;
    None when the last input is not a subset of X's columns (e.g. after PCA)."""
    if selector is not None:
        return [str(c) for c in selector(model)]
    final = model.steps[-1][1] if hasattr(model, "steps") else model
    names = getattr(final, "feature_names_in_", None)
    if names is None and hasattr(model, "steps") and len(model.steps) > 1:
        try:
            names = model[:-1].get_feature_names_out()
        except Exception:
            names = None
    if names is None:
        return None
    names = [str(c) for c in names]
    coef = getattr(final, "coef_", None)
    if isinstance(coef, pd.Series) and len(coef) == len(names):
        names = [n for n, c in zip(names, coef.to_numpy()) if c != 0]
    elif isinstance(coef, np.ndarray):
        c = coef.reshape(-1) if coef.ndim == 1 or coef.shape[0] == 1 else None
        if c is not None and len(c) == len(names):
            names = [n for n, v in zip(names, c) if v != 0]
    colset = set(columns)
    if not all(n in colset for n in names):
        return None
    return names


class _Refit:
    """Refit the (cloned) pipeline on given training rows and evaluate it on every original row.

    A picklable callable: the data travel to each Dask worker once (map_tasks scatters it).
    Returns, per training set: ok, error text, warnings, predictions on all rows, the indices on
    the training rows and on all rows, the calibration curve on ``grid``, net benefit on
    ``thresholds`` and the selected feature names.
    """

    def __init__(self, pipeline, X, y_fit, y01, event, grid, thresholds, selector, test_rows: str):
        self.pipeline = pipeline
        self.X = X
        self.y_fit = y_fit
        self.y01 = y01
        self.event = event
        self.grid = grid
        self.thresholds = thresholds
        self.selector = selector
        self.test_rows = test_rows  # "all" (bootstrap: test = original data) or "held_out" (CV)

    def one(self, rows: np.ndarray) -> dict:
        from sklearn.base import clone

        from .dca import net_benefit

        out: dict[str, Any] = {"ok": False, "error": None, "warnings": ()}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                model = clone(self.pipeline)
                Xt = self.X.iloc[rows]
                yt = self.y_fit[rows]
                model.fit(Xt, yt)
                p = _predict_event(model, self.X, 1)
                sel = _selected_features(model, [str(c) for c in self.X.columns], self.selector)
            except (KeyboardInterrupt, SystemExit, MemoryError):
                raise
            except Exception as exc:  # a failed refit is counted and reported, never hidden
                out["error"] = f"{type(exc).__name__}: {exc}"
                p = None
        out["warnings"] = tuple(sorted({f"{w.category.__name__}: {w.message}" for w in caught}))
        if p is None:
            return out
        y = self.y01
        train = performance_indices(p[rows], y[rows])
        if self.test_rows == "all":
            test = performance_indices(p, y)
        else:
            held = np.setdiff1d(np.arange(len(y)), rows)
            test = performance_indices(p[held], y[held])
        out.update(ok=True, p=p, train=train, test=test, curve=_calibration_curve(p, y, self.grid),
                   nb=net_benefit(y, p, self.thresholds), selected=sel)
        return out

    def __call__(self, batch: list[np.ndarray]) -> list[dict]:
        return [self.one(rows) for rows in batch]


def _batches(train_sets: list[np.ndarray], task_size: int | None) -> list[list[np.ndarray]]:
    R = len(train_sets)
    if task_size is None:
        task_size = max(1, math.ceil(R / 100))
    task_size = _check_n(task_size, "task_size")
    return [train_sets[i:i + task_size] for i in range(0, R, task_size)]


def _run(refit: _Refit, train_sets: list[np.ndarray], scheduler: Any, task_size: int | None,
         progress: bool, desc: str, pending: Any = None) -> list[dict]:
    """The refits on ``scheduler`` (or collected from ``pending``, the tasks submit_tasks started)."""
    R = len(train_sets)
    batches = _batches(train_sets, task_size)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=R, desc=desc, leave=False)
    try:
        tick = (lambda i: bar.update(len(batches[i]))) if bar is not None else None
        res = pending.result(tick) if pending is not None else map_tasks(refit, batches, scheduler=scheduler,
                                                                         on_done=tick)
    finally:
        if bar is not None:
            bar.close()
    return [r for batch in res for r in batch]


def _apparent(pipeline, X, y_fit, y01, event, selector) -> tuple[Any, np.ndarray, list[str] | None, tuple[str, ...]]:
    """Fit on all rows; check that predictions are row-wise (no step learns from the rows it predicts)."""
    from sklearn.base import clone

    model = clone(pipeline)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X, y_fit)
        p0 = _predict_event(model, X, 1)
        n = len(X)
        if n >= 4:
            h = n // 2
            halves = np.concatenate([_predict_event(model, X.iloc[:h], 1), _predict_event(model, X.iloc[h:], 1)])
            rev = _predict_event(model, X.iloc[::-1], 1)[::-1]
            gap = max(float(np.max(np.abs(halves - p0))), float(np.max(np.abs(rev - p0))))
            if gap > 1e-8:
                raise InputError(
                    f"the pipeline's prediction for a patient changes with the other patients predicted alongside it "
                    f"(up to {gap:.3g} between predicting all rows and predicting them in halves or reversed): a step "
                    "learns from the rows it transforms, so evaluation rows would leak into the model")
    sel = _selected_features(model, [str(c) for c in X.columns], selector)
    warns = tuple(sorted({f"{w.category.__name__}: {w.message}" for w in caught}))
    return model, p0, sel, warns


# --------------------------------------------------------------------------- result
@dataclass(frozen=True, repr=False)
class PipelineValidationResult(Result):
    """Internal validation of a whole pipeline (bootstrap or repeated CV refits).

    Attributes
    ----------
    table : DataFrame indexed by :data:`INDICES`: ``apparent`` (pipeline fitted and evaluated on
        all rows), ``training`` / ``test`` (mean over refits of the index on the refit's own
        training rows / on the evaluation rows), ``optimism``, ``estimate`` (optimism-corrected
        or cross-validated), ``ci_low`` / ``ci_high``, ``n`` (refits used), ``optimism_mcse``,
        ``correction`` (how ``estimate`` was obtained). For rows corrected by .632+, ``test`` holds
        the out-of-bag value (leave-one-out bootstrap Brier / mean out-of-bag AUC), ``optimism`` is
        ``apparent - estimate``, ``n`` the patients (Brier) or refits (AUC) that entered it, and
        ``correction`` gives the relative overfitting rate R and weight w.
    apparent_predictions : (n,) predictions of the pipeline fitted on all rows.
    predictions : (refits x n) each successful refit's predictions on every original row.
    train_sets : row indices each refit was trained on (bootstrap draws or CV training folds).
    refit_indices : DataFrame (refit, split = training / test, one column per index).
    calibration_grid, calibration_curves, apparent_curve : lowess calibration curves of each refit
        (on the original rows) and of the apparent model, read on a common grid.
    dca_thresholds, net_benefit, apparent_net_benefit : net benefit curves of each refit.
    selected : DataFrame (refits x features) of booleans over the features selected in at least
        one refit (never-selected columns of X are omitted), or None when the pipeline's last
        input columns are not X's columns (e.g. after PCA); ``apparent_selected`` likewise.
    threshold, threshold_source : classification threshold for the instability index.
    n_failed, failures : refits that raised (counted; messages with counts); ``warnings`` : the
        warnings emitted by the refits, with counts.
    """

    table: pd.DataFrame
    apparent_predictions: np.ndarray
    predictions: np.ndarray
    y: np.ndarray
    train_sets: tuple
    refit_indices: pd.DataFrame
    calibration_grid: np.ndarray
    calibration_curves: np.ndarray
    apparent_curve: np.ndarray
    dca_thresholds: np.ndarray
    net_benefit: np.ndarray
    apparent_net_benefit: np.ndarray
    selected: pd.DataFrame | None
    apparent_selected: tuple | None
    threshold: float
    threshold_source: str
    event: Any
    level: float
    seed: Any
    n: int
    n_events: int
    n_refits: int
    n_failed: int
    failures: dict
    warnings: dict
    resampling: str
    correction: str
    ci_method: str
    engine: str = "python"
    method: str = "whole-pipeline internal validation"
    steps: tuple = field(default=())

    # ------------------------------------------------------------------ tables
    def to_frame(self) -> pd.DataFrame:
        """Performance table (one row per index; see the class docstring)."""
        return self.table

    def _title(self) -> str:
        return (f"PipelineValidationResult ({self.resampling}; {self.n_refits - self.n_failed} of {self.n_refits} "
                f"refits succeeded; n={self.n}, events={self.n_events}, event={self.event!r}; {self.correction}; "
                f"CI {self.level:.0%}: {self.ci_method})")

    def mape(self) -> pd.Series:
        """Mean absolute prediction error per patient: ``mean_b |p_b(x_i) - p_0(x_i)|`` over the
        refits b (Riley & Collins 2023); ``.mean()`` is the overall MAPE."""
        return pd.Series(np.mean(np.abs(self.predictions - self.apparent_predictions[None, :]), axis=0), name="mape")

    def classification_instability(self, threshold: float | None = None) -> pd.Series:
        """Classification instability index per patient: the share of refits whose class
        (``p >= threshold``) differs from the apparent model's class (Riley & Collins 2023)."""
        t = self.threshold if threshold is None else _check_threshold(threshold, self.y)[0]
        c0 = self.apparent_predictions >= t
        return pd.Series(np.mean((self.predictions >= t) != c0[None, :], axis=0), name="cii")

    def instability(self) -> pd.DataFrame:
        """Per-patient instability: apparent prediction, outcome, 2.5/97.5% of the refits'
        predictions (the stability interval at ``level``), MAPE and CII."""
        a = (1 - self.level) / 2
        lo, hi = np.quantile(self.predictions, [a, 1 - a], axis=0)
        return pd.DataFrame({"apparent": self.apparent_predictions, "y": self.y, "pi_low": lo, "pi_high": hi,
                             "mape": self.mape().to_numpy(), "cii": self.classification_instability().to_numpy()})

    def instability_summary(self) -> pd.DataFrame:
        """Overall MAPE (mean, median, max over patients), overall CII at the threshold, and the
        width of the stability intervals."""
        inst = self.instability()
        width = inst["pi_high"] - inst["pi_low"]
        rows = {
            "refits": float(self.n_refits - self.n_failed),
            "MAPE (mean over patients)": float(inst["mape"].mean()),
            "MAPE (median)": float(inst["mape"].median()),
            "MAPE (max)": float(inst["mape"].max()),
            f"CII at threshold {self.threshold:.3g} (mean over patients)": float(inst["cii"].mean()),
            "patients with CII > 0.1 (share)": float((inst["cii"] > 0.1).mean()),
            f"{self.level:.0%} stability interval width (median)": float(width.median()),
        }
        return pd.DataFrame({"value": rows})

    def calibration_instability(self) -> pd.DataFrame:
        """Apparent calibration curve and the pointwise ``level`` range of the refits' curves."""
        a = (1 - self.level) / 2
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            lo, hi = np.nanquantile(self.calibration_curves, [a, 1 - a], axis=0)
        return pd.DataFrame({"predicted": self.calibration_grid, "apparent": self.apparent_curve,
                             "refit_low": lo, "refit_high": hi})

    def dca_instability(self) -> pd.DataFrame:
        """Net benefit of the apparent model and the pointwise ``level`` range over refits, treat-all,
        and the share of refits whose net benefit exceeds both treat-all and treat-none."""
        th = self.dca_thresholds
        prev = float(self.y.mean())
        treat_all = prev - (1 - prev) * th / (1 - th)
        a = (1 - self.level) / 2
        lo, hi = np.quantile(self.net_benefit, [a, 1 - a], axis=0)
        useful = np.mean(self.net_benefit > np.maximum(treat_all, 0)[None, :], axis=0)
        return pd.DataFrame({"threshold": th, "apparent": self.apparent_net_benefit, "refit_low": lo,
                             "refit_high": hi, "treat_all": treat_all, "share_refits_beneficial": useful})

    def selection_frequency(self) -> pd.DataFrame | None:
        """How often each feature is selected over the refits (and whether the apparent model
        selected it), sorted by frequency; None when selection is not identifiable."""
        if self.selected is None:
            return None
        freq = self.selected.mean(axis=0)
        app = set(self.apparent_selected or ())
        out = pd.DataFrame({"frequency": freq, "selected_apparent": [c in app for c in freq.index]})
        out.index.name = "feature"
        return out.sort_values(["frequency", "selected_apparent"], ascending=False, kind="stable")

    def model_size(self) -> pd.DataFrame | None:
        """Distribution of the number of selected features over the refits."""
        if self.selected is None:
            return None
        sizes = self.selected.sum(axis=1).astype(int)
        counts = sizes.value_counts().sort_index()
        out = pd.DataFrame({"refits": counts, "share": counts / counts.sum()})
        out.index.name = "model_size"
        return out

    def replacement_pairs(self, min_freq: float = 0.05, max_freq: float = 0.95, phi_max: float = -0.2
                          ) -> pd.DataFrame | None:
        """Pairs of features that replace each other across refits.

        For two features a, b selected in a fraction of refits within [min_freq, max_freq], the
        2x2 table of co-selection over refits gives the phi coefficient
        ``(n11 n00 - n10 n01) / sqrt(n1. n0. n.1 n.0)`` and the conditional frequencies
        ``P(b | a)``, ``P(b | not a)``. Pairs with ``phi <= phi_max`` (selected together less often
        than independence predicts) are returned, most negative first, with ``either`` = the
        share of refits selecting at least one of them (near 1 with a strongly negative phi: one
        of the two is almost always in the model, but rarely both).
        """
        freq = self.selection_frequency()
        if freq is None:
            return None
        cand = [c for c in freq.index if min_freq <= freq.loc[c, "frequency"] <= max_freq]
        cols = ["feature_a", "feature_b", "freq_a", "freq_b", "both", "a_only", "b_only", "neither", "phi",
                "p_b_given_a", "p_b_given_not_a", "either"]
        if len(cand) < 2:
            return pd.DataFrame(columns=cols)
        M = self.selected[cand].to_numpy(dtype=float)
        R = len(M)
        n11 = M.T @ M
        n1 = M.sum(0)
        n10 = n1[:, None] - n11
        n01 = n1[None, :] - n11
        n00 = R - n11 - n10 - n01
        with np.errstate(divide="ignore", invalid="ignore"):
            phi = (n11 * n00 - n10 * n01) / np.sqrt(np.outer(n1, n1) * np.outer(R - n1, R - n1))
        rows = []
        for i in range(len(cand)):
            for j in range(i + 1, len(cand)):
                if np.isfinite(phi[i, j]) and phi[i, j] <= phi_max:
                    rows.append((cand[i], cand[j], n1[i] / R, n1[j] / R, n11[i, j] / R, n10[i, j] / R, n01[i, j] / R,
                                 n00[i, j] / R, phi[i, j], n11[i, j] / n1[i], n01[i, j] / (R - n1[i]),
                                 (R - n00[i, j]) / R))
        out = pd.DataFrame(rows, columns=cols)
        return out.sort_values("phi", kind="stable").reset_index(drop=True)

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table of the report section, by name."""
        out = {"performance": self.table, "instability": self.instability_summary(),
               "calibration_instability": self.calibration_instability(), "dca_instability": self.dca_instability()}
        for name, fn in (("selection_frequency", self.selection_frequency), ("model_size", self.model_size),
                         ("replacement_pairs", self.replacement_pairs)):
            tab = fn()
            if tab is not None:
                out[name] = tab
        if self.failures:
            out["failures"] = pd.DataFrame({"refits": self.failures})
        return out

    # ------------------------------------------------------------------ figures
    _KINDS = ("prediction", "mape", "classification", "calibration", "dca", "selection", "model_size")

    def plot(self, kind: str = "prediction", ax=None, max_points: int = 200_000, top: int = 30):
        """Instability figures (Riley & Collins 2023).

        kind : ``"prediction"`` (each refit's prediction vs the apparent prediction, with the
            ``level`` stability interval), ``"mape"`` (MAPE per patient vs apparent prediction),
            ``"classification"`` (CII per patient vs apparent prediction, threshold marked),
            ``"calibration"`` (each refit's calibration curve on the original rows and the
            apparent one), ``"dca"`` (each refit's net benefit curve, apparent, treat all/none),
            ``"selection"`` (selection frequency of the ``top`` features), ``"model_size"``.
        """
        import matplotlib.pyplot as plt

        if kind not in self._KINDS:
            raise InputError(f"kind must be one of {self._KINDS}, got {kind!r}")
        if ax is None:
            _, ax = plt.subplots(figsize=(5, 4.5) if kind != "selection" else (6, 5))
        p0 = self.apparent_predictions
        grey = (0.4, 0.4, 0.4, 0.25)
        if kind == "prediction":
            P = self.predictions
            step = max(1, int(np.ceil(P.size / max_points)))
            xs = np.broadcast_to(p0, P.shape).ravel()[::step]
            ax.scatter(xs, P.ravel()[::step], s=2, color=grey, lw=0, rasterized=True)
            inst = self.instability().sort_values("apparent")
            ax.plot(inst["apparent"], inst["pi_low"], color="k", ls="--", lw=1, label=f"{self.level:.0%} stability interval")
            ax.plot(inst["apparent"], inst["pi_high"], color="k", ls="--", lw=1)
            ax.plot([0, 1], [0, 1], color="0.6", lw=1)
            ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="Predicted risk, pipeline fitted on all patients",
                   ylabel="Predicted risk, refitted pipelines")
            ax.legend(loc="upper left", frameon=False, fontsize=8)
        elif kind == "mape":
            m = self.mape()
            ax.scatter(p0, m, s=6, color=(0.2, 0.2, 0.2, 0.5), lw=0)
            ax.set(xlim=(0, 1), ylim=(0, max(0.01, float(m.max()) * 1.05)), xlabel="Predicted risk (apparent)",
                   ylabel="MAPE per patient")
            ax.set_title(f"overall MAPE {m.mean():.3f}", fontsize=9)
        elif kind == "classification":
            c = self.classification_instability()
            ax.scatter(p0, c, s=6, color=(0.2, 0.2, 0.2, 0.5), lw=0)
            ax.axvline(self.threshold, color="0.5", ls=":", lw=1)
            ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="Predicted risk (apparent)",
                   ylabel=f"Classification instability index (threshold {self.threshold:.2f})")
        elif kind == "calibration":
            for curve in self.calibration_curves:
                ax.plot(self.calibration_grid, curve, color=grey, lw=0.6)
            ax.plot(self.calibration_grid, self.apparent_curve, color="k", lw=1.8, label="Apparent")
            ax.plot([0, 1], [0, 1], color="0.6", ls="--", lw=1, label="Ideal")
            ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="Predicted risk", ylabel="Observed proportion (lowess)")
            ax.legend(loc="upper left", frameon=False, fontsize=8)
        elif kind == "dca":
            d = self.dca_instability()
            for nb in self.net_benefit:
                ax.plot(self.dca_thresholds, nb, color=grey, lw=0.6)
            ax.plot(d["threshold"], d["apparent"], color="k", lw=1.8, label="Apparent")
            ax.plot(d["threshold"], d["treat_all"], color="tab:blue", lw=1, label="Treat all")
            ax.axhline(0, color="tab:red", lw=1, label="Treat none")
            top_nb = float(np.nanmax(np.r_[self.net_benefit.ravel(), d["apparent"], d["treat_all"]]))
            ax.set(ylim=(-0.05, max(0.05, top_nb * 1.1)), xlabel="Threshold probability", ylabel="Net benefit")
            ax.legend(loc="upper right", frameon=False, fontsize=8)
        elif kind == "selection":
            f = self.selection_frequency()
            if f is None:
                raise InputError("selection frequencies are not available for this pipeline (its final inputs are not "
                                 "columns of X)")
            f = f.head(top).iloc[::-1]
            ax.barh(range(len(f)), f["frequency"], color=["k" if s else "0.6" for s in f["selected_apparent"]])
            ax.set_yticks(range(len(f)), [str(i) for i in f.index], fontsize=7)
            ax.set(xlim=(0, 1), xlabel="Selection frequency over refits (black: selected in the apparent model)")
        elif kind == "model_size":
            s = self.model_size()
            if s is None:
                raise InputError("model sizes are not available for this pipeline (its final inputs are not columns of X)")
            ax.bar(s.index, s["share"], color="0.4")
            ax.set(xlabel="Number of selected features", ylabel="Share of refits")
        return ax

    def figures(self) -> dict[str, Any]:
        """Every figure of the report section, by kind (matplotlib Figures)."""
        import matplotlib.pyplot as plt

        out = {}
        for kind in self._KINDS:
            if kind in ("selection", "model_size") and self.selected is None:
                continue
            fig, ax = plt.subplots(figsize=(5, 4.5) if kind != "selection" else (6, 5))
            self.plot(kind, ax=ax)
            fig.tight_layout()
            out[kind] = fig
        return out

    def methods_text(self) -> str:
        """A methods paragraph describing what was run (for a report's methods section)."""
        steps = " -> ".join(self.steps) if self.steps else "the pipeline"
        t = self.table
        est = ", ".join(f"{_INDEX_LABELS[i]} {t.loc[i, 'estimate']:.3f}"
                        + (f" ({self.level:.0%} CI {t.loc[i, 'ci_low']:.3f} to {t.loc[i, 'ci_high']:.3f})"
                           if np.isfinite(t.loc[i, "ci_low"]) else "") for i in ("AUC", "slope", "Brier"))
        sel = ""
        if self.selected is not None:
            sel = (f" The features reaching the final model were recorded in every refit (selection frequency, "
                   f"model size: median {int(self.selected.sum(axis=1).median())} features, and pairs of features "
                   "that replace each other).")
        return (f"The whole modelling pipeline ({steps}) was internally validated by {self.resampling}: every step "
                f"that learns from data was refitted in each resample ({self.n_refits - self.n_failed} of "
                f"{self.n_refits} refits succeeded). Performance was corrected by {self.correction}: {est}. "
                "Instability was assessed as in Riley and Collins (2023) from each refit's predictions for the "
                f"original {self.n} patients: prediction instability plot, mean absolute prediction error "
                f"(MAPE {self.mape().mean():.3f}), classification instability index at a threshold of "
                f"{self.threshold:.2f} ({self.threshold_source}), calibration and decision-curve instability.{sel}")

    def tripod_facts(self) -> dict[str, Any]:
        """Facts for :func:`her2stats.tripod_checklist` (items 12c, 12e and 23a), to merge into a
        study's facts."""
        steps = " -> ".join(self.steps) if self.steps else "pipeline"
        iv = (f"{self.resampling} of the whole pipeline ({steps}), every step refitted in each resample; "
              f"{self.correction}; {self.n_refits - self.n_failed} of {self.n_refits} refits succeeded")
        return {
            "analysis": {"internal_validation": iv},
            "performance": {"measures": [_INDEX_LABELS[i] for i in INDICES] + ["calibration plot",
                                                                               "net benefit (decision curve)"],
                            "with_ci": bool(np.isfinite(self.table["ci_low"]).any()),
                            "plots": ["prediction instability", "MAPE", "classification instability",
                                      "calibration instability", "decision-curve instability"]},
            "sections": {"12c": "Internal validation of the whole pipeline",
                         "23a": "Internal validation of the whole pipeline"},
        }


# --------------------------------------------------------------------------- assembly
def _collect(results: list[dict], columns: list[str], n: int):
    ok = np.array([r["ok"] for r in results], dtype=bool)
    failures = Counter(r["error"] for r in results if not r["ok"])
    warns = Counter(w for r in results for w in r["warnings"])
    good = [r for r in results if r["ok"]]
    if not good:
        first = next(iter(failures)) if failures else "unknown error"
        raise InputError(f"every refit of the pipeline failed; first error: {first}")
    P = np.stack([r["p"] for r in good])
    train = np.stack([r["train"] for r in good])
    test = np.stack([r["test"] for r in good])
    curves = np.stack([r["curve"] for r in good])
    nb = np.stack([r["nb"] for r in good])
    sels = [r["selected"] for r in good]
    selected = None
    if all(s is not None for s in sels):
        selected = pd.DataFrame(False, index=pd.RangeIndex(len(good), name="refit"), columns=columns)
        for k, s in enumerate(sels):
            selected.iloc[k, [columns.index(c) for c in s]] = True
        # keep the features selected at least once: a 1,280-column table of zeros helps nobody
        selected = selected.loc[:, selected.any(axis=0)]
    return ok, dict(failures), dict(warns), P, train, test, curves, nb, selected


def _ci(est: float, dist: np.ndarray, level: float) -> tuple[float, float]:
    d = dist[np.isfinite(dist)]
    if len(d) < 2 or not np.isfinite(est):
        return float("nan"), float("nan")
    a = (1 - level) / 2
    lo, hi = np.quantile(d, [a, 1 - a])
    return float(est + lo - d.mean()), float(est + hi - d.mean())


def _refit_frame(train: np.ndarray, test: np.ndarray) -> pd.DataFrame:
    R = len(train)
    df = pd.DataFrame(np.vstack([train, test]), columns=list(INDICES))
    df.insert(0, "split", ["training"] * R + ["test"] * R)
    df.insert(0, "refit", np.r_[np.arange(R), np.arange(R)])
    return df


def _warn_unseeded(pipeline) -> None:
    """Announce random_state / seed parameters left at None: such refits are not reproducible."""
    try:
        params = pipeline.get_params(deep=True)
    except Exception:  # pragma: no cover - checked by _check_pipeline
        return
    names = sorted(k for k, v in params.items()
                   if v is None and (k in ("random_state", "seed") or k.endswith(("__random_state", "__seed"))))
    if names:
        warnings.warn(f"pipeline parameter(s) {names} are None, so those steps draw fresh randomness in every refit: the "
                      "result is not reproducible and differs between runs and schedulers; set them to integers",
                      UserWarning, stacklevel=find_stack_level())


def _setup(pipeline, X, y, event, level, threshold, dca_thresholds):
    _check_pipeline(pipeline)
    _warn_unseeded(pipeline)
    frame, y_fit, y01, event = _check_inputs(X, y, event)
    level = check_level(level)
    th, th_source = _check_threshold(threshold, y01)
    dth = _check_thresholds(dca_thresholds)
    return frame, y_fit, y01, event, level, th, th_source, dth


def _grid(p0: np.ndarray) -> np.ndarray:
    lo, hi = np.quantile(p0, [0.01, 0.99])
    if hi <= lo:
        lo, hi = float(p0.min()), float(p0.max()) + 1e-9
    return r_seq(float(lo), float(hi), 50)


def _step_names(pipeline) -> tuple:
    return tuple(f"{name} ({type(step).__name__})" for name, step in _walk_steps(pipeline))


def _announce(n_failed: int, n_refits: int, failures: dict, clipped: bool) -> None:
    if n_failed:
        top = ", ".join(f"{m} (x{c})" for m, c in sorted(failures.items(), key=lambda kv: -kv[1])[:3])
        warnings.warn(f"{n_failed} of {n_refits} pipeline refits failed and are excluded from the estimates "
                      f"(counted in n_failed): {top}", UserWarning, stacklevel=find_stack_level())
    if clipped:
        warnings.warn("some predicted probabilities are exactly 0 or 1; their logits were clipped at "
                      f"p = {_EPS:g} / 1 - {_EPS:g} for the calibration slope and intercepts", UserWarning, stacklevel=find_stack_level())


def pipeline_bootstrap(pipeline: Any, X: Any, y: Any, n_boot: int = 200, seed: Any = 0, scheduler: Any = None,
                       method: str = "harrell", threshold: Any = None, level: float = 0.95, event: Any = None,
                       dca_thresholds: Any = None, selected: Callable | None = None, task_size: int | None = None,
                       progress: bool = False) -> PipelineValidationResult:
    r"""Bootstrap internal validation of a whole pipeline: every step refitted on every resample.

    For each of ``n_boot`` bootstrap samples the unfitted ``pipeline`` is cloned and fitted on
    the sample (selection, harmonisation, Deep Score and the final model included) and predicts
    every original patient. With index :math:`\theta` (AUC, calibration slope, calibration
    intercept, calibration-in-the-large, Brier, ICI; see :func:`performance_indices`):

    * **Harrell** (``method="harrell"``, every index): optimism
      :math:`O = \frac1B\sum_b [\theta(f_b; S_b) - \theta(f_b; S)]` (refit b on its own sample
      minus on the original data S) and :math:`\hat\theta_{corr} = \theta(f; S) - O`, with f the
      pipeline fitted on all of S (the apparent performance).
    * **.632+** (``method=".632+"``; AUC and Brier only, the other indices keep Harrell's
      correction - they have no no-information value): Brier follows Efron & Tibshirani (1997)
      exactly: apparent error :math:`\overline{err}`, leave-one-out bootstrap error
      :math:`Err^{(1)} = \frac1n\sum_i \frac1{|C_i|}\sum_{b\in C_i}(y_i - p_b(x_i))^2` (C_i: the
      refits whose sample left patient i out; patients never left out are dropped and counted),
      no-information error :math:`\gamma = \frac1{n^2}\sum_i\sum_j (y_i - p(x_j))^2`,
      :math:`Err^{(1)\prime} = \min(Err^{(1)}, \gamma)`, relative overfitting
      :math:`R = (Err^{(1)\prime} - \overline{err}) / (\gamma - \overline{err})` (0 unless
      :math:`Err^{(1)\prime} > \overline{err}` and :math:`\gamma > \overline{err}`),
      :math:`w = .632 / (1 - .368 R)` and :math:`Err^{.632+} = (1 - w)\overline{err} + w Err^{(1)\prime}`.
      AUC is not a mean of per-patient losses, so :math:`Err^{(1)}` is replaced by the mean over
      refits of the AUC on each refit's out-of-bag patients (Noma et al. 2021), with
      :math:`\gamma = 0.5`, :math:`AUC^{(1)\prime} = \max(AUC^{(1)}, 0.5)`,
      :math:`R = (AUC_{app} - AUC^{(1)\prime}) / (AUC_{app} - 0.5)` and the same weights.

    Confidence intervals (``level``) are location-shifted bootstrap percentile intervals (Noma
    et al. 2021): the percentiles of the refits' apparent indices on their own samples, shifted
    so that their mean equals the corrected estimate; for slope and intercept (apparent values
    1 and 0 by construction for a logistic model) the refits' indices on the original data are
    used instead, as :func:`her2stats.validate` does for the slope (and likewise for the
    calibration-in-the-large).

    Instability (Riley & Collins 2023): each refit's predictions on the original patients
    (``predictions``), the prediction instability plot, MAPE per patient and overall, the
    classification instability index at ``threshold`` (class = ``p >= threshold``), each refit's
    lowess calibration curve and net benefit curve on the original patients. Selection stability:
    the features that reach the final estimator (with a non-zero coefficient) in each refit, their
    frequencies, model sizes and pairs that replace each other.

    Parameters
    ----------
    pipeline : an *unfitted* sklearn estimator or Pipeline ending in a classifier with
        ``predict_proba`` (her2stats selectors, ComBat, DeepScore, zoo models, LRMClassifier...).
        Fitted steps are refused: a step fitted beforehand would have seen every patient.
    X, y : features (DataFrame; arrays get columns ``x0, x1...``) and binary outcome.
    n_boot, seed : replicates and seed. The draws equal :func:`her2stats.validate`'s for the same
        seed (so a pipeline of only ``LRMClassifier`` reproduces ``validate``'s optimism).
    scheduler : None, ``"threads"``, ``"processes"``, a Dask ``Client`` or an address; results do
        not depend on it or on the number of workers.
    method : ``"harrell"`` or ``".632+"``.
    threshold : probability, or a ThresholdRule chosen on predicted probabilities (positive when
        ``p >= value``), for the classification instability index; default the outcome prevalence
        (announced in ``threshold_source``).
    level : confidence level; event : the outcome value that is the event. Without it the
        package's one rule applies (1 of a 0/1 coding, True, the higher category of an ordered
        Categorical, ``positive`` of a data-dictionary variable); other labels are refused. The
        pipeline is fitted on the outcome coded 0/1 (1 = event), so no step has to know the labels.
        A pandas ``y`` is paired with a DataFrame ``X`` by index label.
    dca_thresholds : net-benefit thresholds (default 0.01..0.80).
    selected : optional ``callable(fitted_pipeline) -> feature names`` overriding how the
        selected features are read.
    task_size : refits per scheduler task (performance only; results do not depend on it).

    Failed refits (a step raising on a resample, e.g. separation) are excluded, counted in
    ``n_failed`` with their messages in ``failures``, and announced with a warning.

    Examples
    --------
    >>> pipe = make_pipeline(UnivariateFilter(alpha=0.01), LassoSelector(cv=5), DeepScore())  # doctest: +SKIP
    >>> res = h2.pipeline_bootstrap(pipe, X, y, n_boot=200, seed=1)                            # doctest: +SKIP
    >>> res.to_frame(); res.plot("prediction"); res.selection_frequency()                      # doctest: +SKIP
    """
    start = start_pipeline_bootstrap(pipeline, X, y, n_boot=n_boot, seed=seed, scheduler=scheduler, method=method,
                                     threshold=threshold, level=level, event=event, dca_thresholds=dca_thresholds,
                                     selected=selected, task_size=task_size, submit=False)
    return start.finish(threshold=threshold, progress=progress)


@dataclass(frozen=True, eq=False)
class BootstrapStart:
    """:func:`pipeline_bootstrap` up to its refits (:func:`start_pipeline_bootstrap`): the inputs
    checked, the apparent fit done, the resamples drawn and, on a
    :class:`~her2stats.schedulers.WorkerPool` with ``submit=True``, the refits already submitted
    (``pending``). :meth:`finish` collects the refits and returns the
    :class:`PipelineValidationResult` that ``pipeline_bootstrap`` returns; :meth:`cancel` drops
    refits not started."""

    pipeline: Any
    frame: pd.DataFrame
    y01: np.ndarray
    event: Any
    level: float
    seed: Any
    n: int
    n_boot: int
    method: str
    p0: np.ndarray
    sel0: Any
    warn0: Any
    grid: np.ndarray
    draws: list
    dth: np.ndarray
    refit: Any
    scheduler: Any
    task_size: int | None
    pending: Any

    def cancel(self) -> None:
        if self.pending is not None:
            self.pending.cancel()

    def finish(self, threshold: Any = None, progress: bool = False) -> PipelineValidationResult:
        """The result, with the classification instability index at ``threshold`` (as
        :func:`pipeline_bootstrap`'s); warnings (failed refits, clipped logits) are issued here, in
        the calling thread."""
        th, th_source = _check_threshold(threshold, self.y01)
        results = _run(self.refit, self.draws, self.scheduler, self.task_size, progress, "pipeline bootstrap",
                       pending=self.pending)
        return _bootstrap_result(self, results, th, th_source)


def start_pipeline_bootstrap(pipeline: Any, X: Any, y: Any, n_boot: int = 200, seed: Any = 0, scheduler: Any = None,
                             method: str = "harrell", threshold: Any = None, level: float = 0.95, event: Any = None,
                             dca_thresholds: Any = None, selected: Callable | None = None,
                             task_size: int | None = None, submit: bool = True) -> BootstrapStart:
    """The first part of :func:`pipeline_bootstrap` (same parameters): checks, apparent fit (in
    this thread) and resamples; with ``submit`` and a :class:`~her2stats.schedulers.WorkerPool`
    ``scheduler`` the refits are submitted to the pool now, without waiting, so the caller can do
    other work while they run. ``start_pipeline_bootstrap(...).finish(threshold)`` equals
    ``pipeline_bootstrap(...)`` (same draws, same refits, same numbers). A given ``threshold`` is
    only checked here (``finish`` takes the one used)."""
    from ..resampling import submit_tasks
    from ..schedulers import resolve_scheduler

    if method not in _METHODS:
        raise InputError(f"method must be one of {_METHODS}, got {method!r}")
    n_boot = _check_n(n_boot)
    frame, y_fit, y01, event, level, th, th_source, dth = _setup(pipeline, X, y, event, level, threshold,
                                                                 dca_thresholds)
    n = len(frame)
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % 2**63)
    _, p0, sel0, warn0 = _apparent(pipeline, frame, y_fit, y01, event, selected)
    grid = _grid(p0)
    draws = bootstrap_draws(n, n_boot, seed)
    refit = _Refit(pipeline, frame, y_fit, y01, event, grid, dth, selected, test_rows="all")
    pending = None
    if submit:
        sched = resolve_scheduler(scheduler)
        if sched.kind == "pool":
            pending = submit_tasks(refit, _batches(draws, task_size), sched.target)
    return BootstrapStart(pipeline=pipeline, frame=frame, y01=y01, event=event, level=level, seed=seed, n=n,
                          n_boot=n_boot, method=method, p0=p0, sel0=sel0, warn0=warn0, grid=grid, draws=draws,
                          dth=dth, refit=refit, scheduler=scheduler, task_size=task_size, pending=pending)


def _bootstrap_result(start: BootstrapStart, results: list[dict], th: float, th_source: str
                      ) -> PipelineValidationResult:
    frame, y01, p0, draws, grid, dth = start.frame, start.y01, start.p0, start.draws, start.grid, start.dth
    n, n_boot, method, level, sel0, pipeline = start.n, start.n_boot, start.method, start.level, start.sel0, \
        start.pipeline
    event, seed, warn0 = start.event, start.seed, start.warn0
    columns = [str(c) for c in frame.columns]
    ok, failures, warns, P, train, test, curves, nb, selected_df = _collect(results, columns, n)
    good_draws = [d for d, k in zip(draws, ok) if k]
    apparent = performance_indices(p0, y01)
    table = _harrell_table(apparent, train, test, level)
    correction = "Harrell's bootstrap optimism correction"
    if method == ".632+":
        _apply_632plus(table, apparent, p0, P, y01, good_draws, train, level)
        correction = ".632+ (Efron & Tibshirani 1997) for AUC and Brier; Harrell's optimism for the others"
    n_failed = int((~ok).sum())
    _announce(n_failed, n_boot, failures, bool(np.any((P <= 0) | (P >= 1)) or np.any((p0 <= 0) | (p0 >= 1))))
    for w, c in Counter(warn0).items():
        warns[w] = warns.get(w, 0) + c
    return PipelineValidationResult(
        table=table, apparent_predictions=p0, predictions=P, y=y01, train_sets=tuple(good_draws),
        refit_indices=_refit_frame(train, test), calibration_grid=grid, calibration_curves=curves,
        apparent_curve=_calibration_curve(p0, y01, grid), dca_thresholds=dth, net_benefit=nb,
        apparent_net_benefit=_net_benefit(y01, p0, dth), selected=selected_df,
        apparent_selected=None if sel0 is None else tuple(sel0), threshold=th, threshold_source=th_source,
        event=event, level=level, seed=seed, n=n, n_events=int(y01.sum()), n_refits=n_boot, n_failed=n_failed,
        failures=failures, warnings=warns, resampling=f"bootstrap, {n_boot} resamples", correction=correction,
        ci_method="location-shifted bootstrap percentile (Noma et al. 2021)", steps=_step_names(pipeline),
        method=f"whole-pipeline bootstrap ({method})")


def _net_benefit(y01, p, th):
    from .dca import net_benefit

    return net_benefit(y01, p, th)


def _harrell_table(apparent: np.ndarray, train: np.ndarray, test: np.ndarray, level: float) -> pd.DataFrame:
    rows = []
    for k, name in enumerate(INDICES):
        both = np.isfinite(train[:, k]) & np.isfinite(test[:, k])
        d = train[both, k] - test[both, k]
        opt = float(d.mean()) if both.any() else float("nan")
        est = float(apparent[k] - opt)
        dist = test[both, k] if name in _CI_FROM_TEST else train[both, k]
        lo, hi = _ci(est, dist, level)
        mcse = float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("nan")
        rows.append({"index": name, "label": _INDEX_LABELS[name], "apparent": float(apparent[k]),
                     "training": float(train[both, k].mean()) if both.any() else np.nan,
                     "test": float(test[both, k].mean()) if both.any() else np.nan, "optimism": opt, "estimate": est,
                     "ci_low": lo, "ci_high": hi, "n": int(both.sum()), "optimism_mcse": mcse,
                     "correction": "harrell"})
    return pd.DataFrame(rows).set_index("index")


def _apply_632plus(table: pd.DataFrame, apparent: np.ndarray, p0: np.ndarray, P: np.ndarray, y: np.ndarray,
                   draws: list[np.ndarray], train: np.ndarray, level: float) -> None:
    from .models import concordance_c

    n = len(y)
    counts = np.stack([np.bincount(d, minlength=n) for d in draws])
    oob = counts == 0
    # Brier: leave-one-out bootstrap error per patient, then averaged
    loss = (y[None, :] - P) ** 2
    n_oob = oob.sum(0)
    covered = n_oob > 0
    err1 = float(np.mean((loss * oob).sum(0)[covered] / n_oob[covered]))
    err_bar = float(apparent[INDICES.index("Brier")])
    gamma = float(np.mean((y[:, None] - p0[None, :]) ** 2))
    brier = _632plus(err_bar, err1, gamma, lower_is_better=True)
    # AUC: mean out-of-bag AUC over refits, no-information AUC 0.5
    aucs = []
    for b in range(len(P)):
        m = oob[b]
        if m.any() and 0 < y[m].sum() < m.sum():
            aucs.append(concordance_c(P[b, m], y[m]))
    auc_app = float(apparent[INDICES.index("AUC")])
    auc = _632plus(auc_app, float(np.mean(aucs)) if aucs else float("nan"), 0.5, lower_is_better=False)
    for name, (est, r, w, oobv), nused in (("Brier", brier, int(covered.sum())), ("AUC", auc, len(aucs))):
        k = INDICES.index(name)
        lo, hi = _ci(est, train[:, k], level)
        table.loc[name, ["optimism", "estimate", "ci_low", "ci_high", "optimism_mcse"]] = [
            float(apparent[k] - est), est, lo, hi, np.nan]
        table.loc[name, "test"] = oobv
        table.loc[name, "n"] = nused
        table.loc[name, "correction"] = f".632+ (R={r:.3f}, w={w:.3f})"


def _632plus(app: float, oob: float, gamma: float, lower_is_better: bool) -> tuple[float, float, float, float]:
    """(estimate, relative overfitting R', weight w, out-of-bag value) of the .632+ rule."""
    if not np.isfinite(oob):
        return float("nan"), float("nan"), float("nan"), oob
    s = 1.0 if lower_is_better else -1.0  # work on an error scale: larger = worse
    e_app, e_oob, e_gam = s * app, s * oob, s * gamma
    e1 = min(e_oob, e_gam)
    r = (e1 - e_app) / (e_gam - e_app) if (e1 > e_app and e_gam > e_app) else 0.0
    w = 0.632 / (1 - 0.368 * r)
    return float(s * ((1 - w) * e_app + w * e1)), float(r), float(w), float(oob)


def pipeline_cv(pipeline: Any, X: Any, y: Any, n_splits: int = 5, n_repeats: int = 10, seed: Any = 0,
                scheduler: Any = None, threshold: Any = None, level: float = 0.95, event: Any = None,
                dca_thresholds: Any = None, selected: Callable | None = None, task_size: int | None = None,
                progress: bool = False) -> PipelineValidationResult:
    r"""Repeated stratified K-fold cross-validation of a whole pipeline (every step refitted per fold).

    Each repeat r splits the patients into ``n_splits`` stratified folds (fold assignment from the
    r-th ``SeedSequence`` child of ``seed``); the unfitted pipeline is cloned and fitted on the
    other folds and predicts the held-out fold. ``estimate`` is the mean over repeats of each
    index computed on the repeat's pooled out-of-fold predictions (every patient predicted once
    per repeat by a model that never saw them); ``optimism = apparent - estimate``;
    ``training`` / ``test`` are the means over fold models of the index on their training folds /
    held-out fold. Cross-validation has no unbiased variance estimator (Bengio & Grandvalet
    2004), so ``ci_low`` / ``ci_high`` are left empty; ``repeat_low`` / ``repeat_high`` give the
    ``level`` range of the pooled estimate over repeats (the Monte-Carlo variability of the
    splits, not sampling uncertainty).

    Instability and selection stability are those of :func:`pipeline_bootstrap`, over the
    ``n_splits * n_repeats`` fold models, each predicting every original patient.
    """
    n_splits = _check_n(n_splits, "n_splits")
    n_repeats = _check_n(n_repeats, "n_repeats")
    if n_splits < 2:
        raise InputError(f"n_splits must be at least 2, got {n_splits}")
    frame, y_fit, y01, event, level, th, th_source, dth = _setup(pipeline, X, y, event, level, threshold,
                                                                 dca_thresholds)
    n = len(frame)
    if min(y01.sum(), n - y01.sum()) < n_splits:
        raise InputError(f"each class needs at least n_splits={n_splits} patients for stratified folds "
                         f"(events={int(y01.sum())}, non-events={int(n - y01.sum())})")
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % 2**63)
    _, p0, sel0, warn0 = _apparent(pipeline, frame, y_fit, y01, event, selected)
    grid = _grid(p0)
    folds = cv_folds(y01, n_splits, n_repeats, seed)
    train_sets = [np.flatnonzero(f != k) for f in folds for k in range(n_splits)]
    refit = _Refit(pipeline, frame, y_fit, y01, event, grid, dth, selected, test_rows="held_out")
    results = _run(refit, train_sets, scheduler, task_size, progress, "pipeline CV")
    columns = [str(c) for c in frame.columns]
    ok, failures, warns, P, train, test, curves, nb, selected_df = _collect(results, columns, n)
    # pooled out-of-fold predictions per repeat (a repeat with a failed fold is dropped and counted)
    pooled = []
    for r, f in enumerate(folds):
        block = results[r * n_splits:(r + 1) * n_splits]
        if not all(b["ok"] for b in block):
            continue
        oof = np.empty(n)
        for k, b in enumerate(block):
            oof[f == k] = b["p"][f == k]
        pooled.append(performance_indices(oof, y01))
    if not pooled:
        raise InputError("no repeat had all its folds refitted successfully; see the failures")
    pooled = np.array(pooled)
    apparent = performance_indices(p0, y01)
    a = (1 - level) / 2
    rows = []
    for k, name in enumerate(INDICES):
        v = pooled[:, k][np.isfinite(pooled[:, k])]
        est = float(v.mean()) if len(v) else float("nan")
        lo, hi = (np.quantile(v, [a, 1 - a]) if len(v) > 1 else (np.nan, np.nan))
        rows.append({"index": name, "label": _INDEX_LABELS[name], "apparent": float(apparent[k]),
                     "training": float(np.nanmean(train[:, k])), "test": float(np.nanmean(test[:, k])),
                     "optimism": float(apparent[k] - est), "estimate": est, "ci_low": np.nan, "ci_high": np.nan,
                     "n": len(v), "optimism_mcse": float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else np.nan,
                     "correction": "pooled out-of-fold, mean over repeats", "repeat_low": float(lo),
                     "repeat_high": float(hi)})
    table = pd.DataFrame(rows).set_index("index")
    n_refits = len(train_sets)
    n_failed = int((~ok).sum())
    _announce(n_failed, n_refits, failures, bool(np.any((P <= 0) | (P >= 1)) or np.any((p0 <= 0) | (p0 >= 1))))
    for w, c in Counter(warn0).items():
        warns[w] = warns.get(w, 0) + c
    good_sets = [s for s, k in zip(train_sets, ok) if k]
    return PipelineValidationResult(
        table=table, apparent_predictions=p0, predictions=P, y=y01, train_sets=tuple(good_sets),
        refit_indices=_refit_frame(train, test), calibration_grid=grid, calibration_curves=curves,
        apparent_curve=_calibration_curve(p0, y01, grid), dca_thresholds=dth, net_benefit=nb,
        apparent_net_benefit=_net_benefit(y01, p0, dth), selected=selected_df,
        apparent_selected=None if sel0 is None else tuple(sel0), threshold=th, threshold_source=th_source,
        event=event, level=level, seed=seed, n=n, n_events=int(y01.sum()), n_refits=n_refits, n_failed=n_failed,
        failures=failures, warnings=warns, resampling=f"{n_repeats} x {n_splits}-fold cross-validation",
        correction="cross-validation (pooled out-of-fold predictions, mean over repeats)",
        ci_method="none (cross-validation has no unbiased variance estimator); repeat_low/repeat_high give the "
                  "spread over repeats", steps=_step_names(pipeline), method="whole-pipeline repeated cross-validation")


def cv_folds(y01: np.ndarray, n_splits: int, n_repeats: int, seed: Any) -> list[np.ndarray]:
    """Stratified fold labels (0..n_splits-1) for each repeat; repeat r uses the r-th
    ``SeedSequence`` child of ``seed``: within each class the patients are permuted and dealt
    to the folds in turn (fold sizes differ by at most one per class)."""
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    out = []
    for ss in root.spawn(n_repeats):
        rng = np.random.default_rng(ss)
        f = np.empty(len(y01), dtype=int)
        offset = 0
        for level in (0.0, 1.0):
            idx = np.flatnonzero(y01 == level)
            perm = idx[rng.permutation(len(idx))]
            f[perm] = (np.arange(len(idx)) + offset) % n_splits
            offset += len(idx)
        out.append(f)
    return out
