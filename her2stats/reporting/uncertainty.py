"""Uncertainty of the study's figures and indices (the study runner's uncertainty stage).

:func:`stage_uncertainty` runs after the evaluation stage and adds, for every model and cohort the
evaluation scored, what a reviewer expects to see with its uncertainty:

* ROC curves: the stratified bootstrap sensitivity band at the fixed specificities
  :data:`~her2stats.reporting.figures.ROC_BAND_SPECIFICITIES` (pROC ``ci.se``:
  :func:`~her2stats.stats.roc.sensitivity_at`), with the sensitivity at 80% and 90% specificity
  and their CIs in ``numbers``;
* calibration: the calibration hierarchy (Van Calster et al. 2016:
  :func:`~her2stats.stats.calibration.calibration_hierarchy`) of the logistic models in every
  cohort -- O/E, calibration intercept and slope, ICI, E90, Emax with bootstrap percentile CIs and
  the flexible calibration curve with its band -- so the test cohorts' calibration is drawn, not
  only the development cohort's (there it is apparent, and labelled so);
* decision curves: the difference in net benefit of every model against the reference model
  (``validation.dca_reference``, the clinical model by default) with bootstrap CIs, in the test
  cohorts (on development the predictions are in-sample), at the thresholds of
  :func:`difference_thresholds`;
* optimism-corrected indices: the bootstrap CIs of ``validate`` (C, slope, Brier) in ``numbers``,
  on the engine the study runs on.

Every bootstrap is seeded (``validation.seed``) and chunked by :mod:`her2stats.resampling`, so
the bands are identical on 1 or N workers; ``validation.band_n_boot`` replicates (100 in fast mode).
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError

__all__ = ["stage_uncertainty", "band_n_boot", "difference_thresholds", "CALIBRATION_MODELS", "SPEC_TARGETS"]

#: models whose calibration is assessed (the logistic models; the zoo's probabilities are not
#: calibrated estimates)
CALIBRATION_MODELS = ("clinical", "deep_score", "combined")

#: specificities whose sensitivity (with CI) is reported in ``numbers`` (``sens_at_spec_90/...``)
SPEC_TARGETS = (0.8, 0.9)

#: hierarchy rows -> numbers keys
_HIER_KEYS = {"O/E ratio": "cal_oe", "calibration intercept": "cal_in_large", "calibration slope": "cal_slope",
              "ICI": "cal_ici", "E90": "cal_e90", "Emax": "cal_emax"}


def band_n_boot(cfg: Any, fast: bool) -> int:
    """Replicates of the figures' bands: ``validation.band_n_boot``, 100 in fast mode."""
    n = int(cfg.validation.band_n_boot)
    return min(n, 100) if fast else n


def difference_thresholds(thresholds: Any, shown: tuple[float, float] | None = None) -> list[float]:
    """The thresholds at which differences in net benefit are tabulated: the multiples of 0.1 among
    the decision curve's thresholds, inside the range the figures show (``report.dca_range``)."""
    th = np.asarray(thresholds, dtype=float)
    lo, hi = (float(th.min()), float(th.max())) if shown is None else shown
    out = []
    for t in th:
        if abs(t * 10 - round(t * 10)) < 1e-9 and lo - 1e-12 <= t <= hi + 1e-12:
            out.append(float(round(t, 10)))
    return out


def _key(stat: str, model: str, cohort: str, honest: bool = False) -> str:
    # development figures from in-sample predictions are apparent, and labelled so (issue 17); from the
    # study's out-of-fold predictions they are the honest figures
    if cohort == "development" and not honest:
        return f"{stat}_apparent/{model}/{cohort}"
    return f"{stat}/{model}/{cohort}"


def _predictions(state: Any, m: str, part: pd.DataFrame, c: str) -> tuple[np.ndarray, bool]:
    """Model ``m``'s predictions on cohort ``c`` and whether they are honest on development: the
    development rows use the study's out-of-fold predictions (``state.scores``) when it has them."""
    scores = state.scores or {}
    if c == "development" and m in scores:
        p = scores[m][part.index].to_numpy(dtype=float)
        if np.isfinite(p).all():
            return p, True
    return state.probs[m][part.index].to_numpy(dtype=float), False


def stage_uncertainty(state: Any) -> Any:
    """Bootstrap bands and intervals of the study's figures and indices (see the module docstring).

    Reads ``state.cohort`` (``cohort_split``, ``_y``), ``state.cohorts``, ``state.probs``,
    ``state.perf`` (the models scored per cohort), ``state.results`` (``validate/<model>``,
    ``dca``); writes ``results["roc_bands"]`` (``{cohort: {model: OperatingPointResult}}``),
    ``results["calibration_hierarchy"]`` (``{(model, cohort): CalibrationHierarchyResult}``),
    ``results["nb_difference"]`` (``{cohort: DataFrame}``), ``results["band_n_boot"]``, the
    ``calibration_hierarchy`` and ``nb_difference`` tables and their numbers.
    """
    from ..stats.calibration import calibration_hierarchy
    from ..stats.roc import sensitivity_at
    from . import builders
    from .figures import ROC_BAND_SPECIFICITIES

    cfg = state.config
    val = cfg.validation
    eng = state.engine
    n_boot = band_n_boot(cfg, state.fast)
    df = state.cohort
    numbers, results, notes = state.numbers, state.results, state.notes
    results["band_n_boot"] = n_boot
    state.say("uncertainty bands")

    # ---------------------------------------------------------------- ROC bands
    bands: dict[str, dict[str, Any]] = {}
    for (m, c), (auc, _) in state.perf.items():
        part = df[df["cohort_split"] == c]
        y = part["_y"].to_numpy()
        p, honest = _predictions(state, m, part, c)
        if min(int(y.sum()), int(len(y) - y.sum())) < 2:
            notes.append(f"{m}, {c}: fewer than two patients in an outcome class; no ROC band.")
            continue
        b = sensitivity_at(y, p, specificity=ROC_BAND_SPECIFICITIES, n_boot=n_boot, seed=val.seed,
                           direction=auc.direction, engine=eng, scheduler=state.scheduler)
        bands.setdefault(c, {})[m] = b
        tab = b.table.set_index("specificity")
        for v in SPEC_TARGETS:
            k = f"sens_at_spec_{int(round(v * 100))}"
            numbers[_key(k, m, c, honest)] = float(tab.loc[v, "sensitivity"])
            numbers[_key(f"{k}_ci_low", m, c, honest)] = float(tab.loc[v, "ci_low"])
            numbers[_key(f"{k}_ci_high", m, c, honest)] = float(tab.loc[v, "ci_high"])
    results["roc_bands"] = bands

    # ---------------------------------------------------------------- calibration hierarchy
    hier: dict[tuple[str, str], Any] = {}
    for c in state.cohorts:
        part = df[df["cohort_split"] == c]
        y = part["_y"].to_numpy()
        if len(np.unique(y)) < 2:
            continue
        for m in CALIBRATION_MODELS:
            if m not in state.probs or (m, c) not in state.perf:
                continue
            p, honest = _predictions(state, m, part, c)
            inside = (p > 0) & (p < 1)
            if not inside.all():  # no logit: left out, counted and said, as val.prob does
                notes.append(f"{m}, {c}: {int((~inside).sum())} of {len(p)} prediction(s) of exactly 0 or 1 were left "
                             "out of the calibration hierarchy (logit p must be finite).")
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    h = calibration_hierarchy(y=y[inside], prob=p[inside], n_boot=n_boot, seed=val.seed, engine=eng,
                                              scheduler=state.scheduler)
            except InputError as exc:  # e.g. one outcome class left, constant predictions
                notes.append(f"{m}, {c}: no calibration hierarchy ({exc}).")
                continue
            for w in caught:
                if "separate" in str(w.message):
                    notes.append(f"{m}, {c}: {w.message}")
            hier[(m, c)] = h
            t = h.table
            for row, stat in _HIER_KEYS.items():
                if not (stat == "cal_slope" and _key(stat, m, c, honest) in numbers):
                    numbers[_key(stat, m, c, honest)] = float(t.loc[row, "estimate"])
                numbers[_key(f"{stat}_ci_low", m, c, honest)] = float(t.loc[row, "ci_low"])
                numbers[_key(f"{stat}_ci_high", m, c, honest)] = float(t.loc[row, "ci_high"])
    results["calibration_hierarchy"] = hier
    if hier:
        state.tables["calibration_hierarchy"] = builders.calibration_hierarchy_table(
            hier, title="Calibration hierarchy of the logistic models by cohort")

    # ---------------------------------------------------------------- optimism-corrected CIs
    for key, vr in list(results.items()):
        if not key.startswith("validate/"):
            continue
        m = key.split("/", 1)[1]
        for index in ("C", "Slope", "B"):
            if index in vr.ci.index:
                numbers[f"validate_{index.lower()}_ci_low/{m}"] = float(vr.ci.loc[index, "ci_low"])
                numbers[f"validate_{index.lower()}_ci_high/{m}"] = float(vr.ci.loc[index, "ci_high"])

    # ---------------------------------------------------------------- net-benefit differences
    ref = val.dca_reference
    diffs: dict[str, pd.DataFrame] = {}
    for c, dc in results.get("dca", {}).items():
        if c == "development" or ref is None or ref not in dc.strategies or dc.boot is None:
            continue
        at = difference_thresholds(dc.thresholds, cfg.report.dca_range)
        rows = []
        for m in dc.strategies:
            if m in (ref, "all", "none"):
                continue
            d = dc.difference(m, ref)
            d = d[np.isin(np.round(d["threshold"].to_numpy(float), 10), at)]
            for r in d.to_dict("records"):
                t = f"{r['threshold']:g}"
                numbers[f"nb_diff/{m}~{ref}/{c}/{t}"] = float(r["difference"])
                numbers[f"nb_diff_ci_low/{m}~{ref}/{c}/{t}"] = float(r["ci_low"])
                numbers[f"nb_diff_ci_high/{m}~{ref}/{c}/{t}"] = float(r["ci_high"])
                rows.append({"model": m, "reference": ref, **r})
        if rows:
            diffs[c] = pd.DataFrame(rows)
    results["nb_difference"] = diffs
    if diffs:
        state.tables["nb_difference"] = builders.net_benefit_difference_table(diffs, n_boot=n_boot)
    elif ref is not None and not any(ref in dc.strategies for dc in results.get("dca", {}).values()):
        notes.append(f"validation.dca_reference {ref!r} is "
                     + ("left out of the evaluation" if ref in getattr(state, "left_out", {}) else "not a model of this study")
                     + ": no net-benefit differences.")
    return state
