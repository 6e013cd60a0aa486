"""Journal figures of a HER2 study, all in :func:`~her2stats.reporting.style.journal_style`.

Each function takes result objects and returns a matplotlib ``Figure`` (detached from pyplot, so
Jupyter shows it once, as the cell's value); where a result already
has a ``.plot()`` (calibration curve, decision curve, nomogram, Kaplan-Meier, Cox forest, SHAP,
LASSO CV curve) it is reused, so the figure in the report and the one in a notebook are the same
drawing. :func:`save` writes 300-dpi PNG, PDF and SVG.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..errors import InputError
from .builders import cohort_label, model_label
from .format import fmt_ci
from .style import PALETTE, journal_style, save_figure

__all__ = ["roc_figure", "calibration_figure", "decision_curve_figure", "nomogram_figure", "km_figure",
           "forest_figure", "shap_figure", "gradcam_figure", "lasso_figure", "save"]


def _plt():
    import matplotlib.pyplot as plt

    return plt


def _detached(fig: Any) -> Any:
    """Hand ``fig`` over to the caller: removed from pyplot's list of open figures, so a notebook
    shows it once (as the cell's value) instead of twice (value + inline backend), and a study
    that draws dozens of figures never keeps them open. In a script, write it with :func:`save` or
    ``fig.savefig`` (``plt.show()`` no longer lists it)."""
    _plt().close(fig)
    return fig


def save(fig: Any, stem: str | Path, close: bool = True) -> list[Path]:
    """Write ``stem.png`` (300 dpi), ``stem.pdf`` and ``stem.svg``; close the figure."""
    with journal_style():  # the style's tight bounding box and 300 dpi apply at save time
        paths = save_figure(fig, stem)
    if close:
        _plt().close(fig)
    return paths


def roc_figure(curves: Mapping[str, tuple[Any, Any]], aucs: Mapping[str, Any], title: str = "") -> Any:
    """ROC curves of several models on one cohort; legend ``Model, AUC 0.812 (0.741–0.883)``.

    ``curves[name] = (y, prob)``; ``aucs[name]`` the :class:`~her2stats.stats.roc.AUCResult` of the
    same data (its CI is what the legend prints, so the figure and the table agree).
    """
    from ..stats.roc import roc_curve

    if not curves:
        raise InputError("roc_figure needs at least one model")
    with journal_style():
        fig, ax = _plt().subplots(figsize=(4.2, 4.2))
        for k, (name, (y, prob)) in enumerate(curves.items()):
            a = aucs[name]
            label = f"{model_label(name)}, AUC {fmt_ci(a.auc, a.ci_low, a.ci_high)}"
            roc_curve(y, prob, direction=a.direction).plot(ax=ax, label=label, color=PALETTE[k % len(PALETTE)])
        # under the panel: inside it the legend of 4+ models hides the curves' lower-left part
        ax.legend(loc="upper left", bbox_to_anchor=(0.0, -0.16), fontsize=7, ncol=1)
        if title:
            ax.set_title(title)
    return _detached(fig)


def calibration_figure(cal: Any, title: str = "") -> Any:
    """Apparent, bias-corrected and ideal calibration with the rug of predictions
    (:meth:`CalibrationCurve.plot`)."""
    if type(cal).__name__ != "CalibrationCurve":
        raise InputError(f"calibration_figure needs a CalibrationCurve (her2stats.stats.calibrate), got {type(cal).__name__}")
    with journal_style():
        fig, ax = _plt().subplots(figsize=(4.2, 4.2))
        cal.plot(ax=ax, show_distribution=True)
        if title:
            ax.set_title(title)
    return _detached(fig)


def decision_curve_figure(dc: Any, title: str = "") -> Any:
    """Net benefit of each model with treat-all and treat-none (:meth:`DecisionCurve.plot`)."""
    if type(dc).__name__ != "DecisionCurve":
        raise InputError(f"decision_curve_figure needs a DecisionCurve, got {type(dc).__name__}")
    with journal_style():
        fig, ax = _plt().subplots(figsize=(5.5, 3.8))
        dc.plot(ax=ax)
        for line in ax.get_lines():
            lab = line.get_label()
            if not lab.startswith("_"):
                line.set_label(model_label(lab) if lab not in ("all", "none") else f"Treat {lab}")
        ax.legend(fontsize=7)
        if title:
            ax.set_title(title)
    return _detached(fig)


def nomogram_figure(nom: Any) -> Any:
    """The nomogram's own drawing on rms's scales (:meth:`Nomogram.plot`)."""
    if type(nom).__name__ != "Nomogram":
        raise InputError(f"nomogram_figure needs a Nomogram, got {type(nom).__name__}")
    with journal_style():
        ax = nom.plot()
        fig = ax.figure
    return _detached(fig)


def km_figure(km: Any, xlabel: str = "Time", ylabel: str = "Recurrence-free survival",
              risk_times: Any = None) -> Any:
    """Kaplan-Meier curves with CI bands, number-at-risk table and log-rank P
    (:meth:`KaplanMeierResult.plot`)."""
    if type(km).__name__ != "KaplanMeierResult":
        raise InputError(f"km_figure needs a KaplanMeierResult, got {type(km).__name__}")
    with journal_style():
        fig = _plt().figure(figsize=(5.5, 4.6))
        ax = fig.add_subplot(111)
        km.plot(ax=ax, risk_table=True, xlabel=xlabel, ylabel=ylabel, risk_times=risk_times)
        # the at-risk row labels sit just left of the axis, where the count at time 0 (centred on
        # the axis) overlaps them: move the labels further left
        for t in ax.texts:
            x, y = t.get_position()
            if t.get_transform() == ax.transAxes and x == -0.02 and y < 0:
                t.set_x(-0.09)
    return _detached(fig)


def forest_figure(result: Any, which: str = "multi", title: str = "") -> Any:
    """Forest plot of odds ratios (LogisticTable, ``which="multi"`` or ``"uni"``) or hazard
    ratios (CoxResult, its own ``.plot()``), log scale with the null line at 1."""
    name = type(result).__name__
    with journal_style():
        if name == "CoxResult":
            ax = result.plot()
            fig = ax.figure
        elif name == "LogisticTable":
            f = result.frame
            cols = {"multi": ("multi_or", "multi_ci_low", "multi_ci_high"), "uni": ("uni_or", "uni_ci_low", "uni_ci_high")}
            if which not in cols:
                raise InputError(f"which must be 'multi' or 'uni', got {which!r}")
            est, lo, hi = cols[which]
            f = f[np.isfinite(f[est].astype(float))] if est in f else f.iloc[0:0]
            if f.empty:
                raise InputError(f"the LogisticTable has no {which}variable odds ratios to plot")
            labels = [v if not lev else f"{v}: {lev}" for v, lev in zip(f["variable"], f["level"].fillna(""))]
            fig, ax = _plt().subplots(figsize=(5.5, 0.38 * len(f) + 1.2))
            yy = np.arange(len(f))[::-1]
            ax.errorbar(f[est], yy, xerr=[f[est] - f[lo], f[hi] - f[est]], fmt="s", color=PALETTE[0],
                        ecolor="0.3", capsize=2, ms=4)
            ax.axvline(1.0, color="0.5", ls="--", lw=0.8)
            ax.set_xscale("log")
            ax.set_yticks(yy)
            ax.set_yticklabels(labels)
            ax.set_xlabel(f"{'Adjusted' if which == 'multi' else 'Crude'} odds ratio (95% CI, log scale)")
        else:
            raise InputError(f"forest_figure needs a LogisticTable or CoxResult, got {name}")
        if title:
            ax.set_title(title)
    return _detached(fig)


def shap_figure(summary: Any, max_features: int = 15) -> Any:
    """SHAP summary (beeswarm) of a fitted model (:meth:`ShapSummary.plot`)."""
    if type(summary).__name__ != "ShapSummary":
        raise InputError(f"shap_figure needs a ShapSummary (her2stats.models.shap_summary), got {type(summary).__name__}")
    with journal_style():
        ax = summary.plot(max_features=max_features)
        fig = ax.figure
    return _detached(fig)


def gradcam_figure(image: Any, heatmap: Any, title: str = "", alpha: float = 0.4) -> Any:
    """Grad-CAM heatmap over the ROI image (:func:`her2stats.models.overlay_heatmap`), with the
    plain ROI beside it so the reader sees what lies under the colour."""
    from ..models import overlay_heatmap

    img = np.asarray(image, dtype=float)
    with journal_style():
        fig, axes = _plt().subplots(1, 2, figsize=(6, 3.1))
        show = img.mean(axis=0) if img.ndim == 3 and img.shape[0] in (1, 3) else img
        axes[0].imshow(show, cmap="gray")
        axes[0].set_axis_off()
        axes[0].set_title("ROI")
        overlay_heatmap(img, np.asarray(heatmap, dtype=float), ax=axes[1], alpha=alpha)
        axes[1].set_title("Grad-CAM")
        if title:
            fig.suptitle(title)
    return _detached(fig)


def lasso_figure(res: Any, lambda_rule: str = "1se") -> Any:
    """LASSO coefficient paths (left) and the cross-validated deviance curve (right, the
    result's own ``.plot()``), both against log(lambda) with the chosen lambdas marked."""
    if type(res).__name__ != "LassoCVResult":
        raise InputError(f"lasso_figure needs a LassoCVResult, got {type(res).__name__}")
    loglam = np.log(res.lambdas)
    with journal_style():
        fig, (ax1, ax2) = _plt().subplots(1, 2, figsize=(9, 3.6))
        coef = res.coef.to_numpy()
        active = np.flatnonzero((coef != 0).any(axis=1))
        for j in active:
            ax1.plot(loglam, coef[j], lw=0.8)
        for lam, ls in ((res.lambda_min, "--"), (res.lambda_1se, ":")):
            ax1.axvline(np.log(lam), color="0.3", ls=ls, lw=0.8)
        ax1.set_xlabel("log(lambda)")
        ax1.set_ylabel("Coefficient")
        ax1.set_title(f"Coefficient paths ({len(active)} of {coef.shape[0]} features ever non-zero)")
        res.plot(ax=ax2)
        ax2.set_title(f"{len(res.selected(lambda_rule))} features kept at lambda.{lambda_rule}")
    return _detached(fig)


def cohort_title(cohort: str) -> str:
    return cohort_label(cohort)
