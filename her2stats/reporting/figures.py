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
           "forest_figure", "shap_figure", "gradcam_figure", "lasso_figure", "save", "icc_figure",
           "training_curves_figure", "gradcam_slices_figure", "harmonization_figure", "intensity_histogram_figure"]


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
        for lam, ls, name in ((res.lambda_min, "--", "lambda.min"), (res.lambda_1se, ":", "lambda.1se")):
            ax1.axvline(np.log(lam), color="0.3", ls=ls, lw=0.8, label=f"{name} = {lam:.3g}")
        ax1.legend(fontsize=7, loc="best")
        ax1.set_xlabel("log(lambda)")
        ax1.set_ylabel("Coefficient")
        ax1.set_title(f"Coefficient paths ({len(active)} of {coef.shape[0]} features ever non-zero)")
        res.plot(ax=ax2)
        ax2.set_title(f"{len(res.selected(lambda_rule))} features kept at lambda.{lambda_rule}")
    return _detached(fig)


def cohort_title(cohort: str) -> str:
    return cohort_label(cohort)


def icc_figure(icc: Any, threshold: float = 0.9, comparison: str = ">=", thresholds: Any = None,
               title: str = "") -> Any:
    """ICC filtering as seed 000 draws it (Figures 2-5): per block (e.g. sequence), a histogram of
    the features' ICC values with the threshold marked, and the number of features retained at a
    range of thresholds with the chosen one highlighted.

    ``icc``: a fitted :class:`~her2stats.selection.ICCFilter`, a Series of ICC values, or a dict
    ``{block label: Series or ICCFilter}`` (one row of panels per block). ``comparison`` is
    ``">="`` or ``">"`` (what counts as retained), as the paper states it.
    """
    import pandas as pd

    if comparison not in (">=", ">"):
        raise InputError(f"comparison must be '>=' or '>', got {comparison!r}")
    blocks = icc if isinstance(icc, dict) else {"": icc}
    if not blocks:
        raise InputError("icc_figure needs at least one set of ICC values")
    series = {}
    for label, v in blocks.items():
        if hasattr(v, "icc_"):
            v = v.icc_
        vals = pd.Series(v, dtype=float).dropna() if not isinstance(v, pd.Series) else v.astype(float).dropna()
        if vals.empty:
            raise InputError(f"icc_figure: block {label!r} has no ICC values")
        series[label] = vals.to_numpy()
    grid = np.asarray(thresholds if thresholds is not None else np.round(np.arange(0.5, 1.0001, 0.05), 2), float)
    with journal_style():
        fig, axes = _plt().subplots(len(series), 2, figsize=(8, 2.8 * len(series)), squeeze=False)
        for row, (label, vals) in enumerate(series.items()):
            ax1, ax2 = axes[row]
            ax1.hist(vals, bins=np.linspace(min(0.0, vals.min()), 1.0, 41), color=PALETTE[0], edgecolor="white", lw=0.3)
            ax1.axvline(threshold, color="tab:red", ls="--", lw=1)
            kept = int((vals >= threshold).sum() if comparison == ">=" else (vals > threshold).sum())
            ax1.set_xlabel("ICC")
            ax1.set_ylabel("features")
            ax1.set_title(f"{label + ': ' if label else ''}{kept} of {len(vals)} features with ICC {comparison} "
                          f"{threshold:g}", fontsize=8)
            n_at = [int((vals >= t).sum() if comparison == ">=" else (vals > t).sum()) for t in grid]
            colours = ["tab:red" if np.isclose(t, threshold) else PALETTE[0] for t in grid]
            ax2.bar([f"{t:g}" for t in grid], n_at, color=colours)
            ax2.set_xlabel(f"ICC threshold (retained: ICC {comparison} threshold)")
            ax2.set_ylabel("features retained")
            ax2.tick_params(axis="x", labelrotation=90, labelsize=7)
        if title:
            fig.suptitle(title)
    return fig


def training_curves_figure(histories: Any, title: str = "") -> Any:
    """Training curves of one network or of each CV fold's network: training and validation loss,
    validation AUC and the kept checkpoint (:meth:`her2stats.training.TrainingHistory.plot`).
    ``histories``: a TrainingHistory, a list of them, or a fitted NetworkClassifier /
    FoldEnsembleClassifier."""
    if hasattr(histories, "histories_"):
        histories = histories.histories_
    elif hasattr(histories, "history_"):
        histories = [histories.history_]
    elif type(histories).__name__ == "TrainingHistory":
        histories = [histories]
    histories = [h for h in histories if h is not None]
    if not histories or any(type(h).__name__ != "TrainingHistory" for h in histories):
        raise InputError("training_curves_figure needs TrainingHistory objects (NetworkClassifier.history_)")
    n = len(histories)
    cols = min(n, 3)
    rows = int(np.ceil(n / cols))
    with journal_style():
        fig, axes = _plt().subplots(rows, cols, figsize=(4.6 * cols, 3.4 * rows), squeeze=False)
        for i, h in enumerate(histories):
            h.plot(ax=axes[i // cols][i % cols], title=(f"fold {i + 1}" if n > 1 else ""))
        for j in range(n, rows * cols):
            axes[j // cols][j % cols].set_axis_off()
        if title:
            fig.suptitle(title)
        fig.tight_layout()
    return fig


def gradcam_slices_figure(volume: Any, heatmap: Any, mask: Any = None, n_slices: int = 5, alpha: float = 0.4,
                          title: str = "") -> Any:
    """Grad-CAM of a 3-D network shown as slice panels: ``n_slices`` axial slices (evenly spaced
    through the ROI when ``mask`` is given, else through the volume), the image on the top row and
    the heatmap overlay below (:func:`her2stats.models.grad_cam_3d`)."""
    vol = np.asarray(volume, dtype=float)
    if vol.ndim == 4:
        vol = vol.mean(axis=0)
    heat = np.asarray(heatmap, dtype=float)
    if vol.ndim != 3 or vol.shape != heat.shape:
        raise InputError(f"volume {vol.shape} and heatmap {heat.shape} must be the same (D, H, W) grid")
    if isinstance(n_slices, bool) or not isinstance(n_slices, (int, np.integer)) or n_slices < 1:
        raise InputError(f"n_slices must be a positive integer, got {n_slices!r}")
    if mask is not None:
        m = np.asarray(mask).astype(bool)
        if m.shape != vol.shape:
            raise InputError(f"mask {m.shape} must be on the volume's grid {vol.shape}")
        zs = np.flatnonzero(m.any(axis=(1, 2)))
        if not len(zs):
            raise InputError("mask is empty")
        lo, hi = zs.min(), zs.max()
    else:
        lo, hi = 0, vol.shape[0] - 1
    picks = np.unique(np.round(np.linspace(lo, hi, int(n_slices) + 2)[1:-1]).astype(int)) if hi > lo else np.array([lo])
    with journal_style():
        fig, axes = _plt().subplots(2, len(picks), figsize=(1.9 * len(picks), 4.0), squeeze=False)
        for j, z in enumerate(picks):
            axes[0][j].imshow(vol[z], cmap="gray")
            axes[0][j].set_title(f"slice {z}", fontsize=7)
            axes[1][j].imshow(vol[z], cmap="gray")
            axes[1][j].imshow(heat[z], cmap="jet", alpha=alpha, vmin=0, vmax=1)
            if mask is not None:
                axes[1][j].contour(np.asarray(mask)[z].astype(float), levels=[0.5], colors="white", linewidths=0.6)
            for ax in (axes[0][j], axes[1][j]):
                ax.set_axis_off()
        axes[0][0].text(-0.1, 0.5, "input", transform=axes[0][0].transAxes, rotation=90, va="center", ha="right",
                        fontsize=8)
        axes[1][0].text(-0.1, 0.5, "Grad-CAM", transform=axes[1][0].transAxes, rotation=90, va="center", ha="right",
                        fontsize=8)
        if title:
            fig.suptitle(title)
    return fig


def harmonization_figure(before: Any, after: Any, batch: Any, features: Any = None, n_features: int = 3,
                         title: str = "") -> Any:
    """Feature distributions per batch (scanner, centre) before and after harmonisation (ComBat):
    one row per feature, density histograms per batch, before (left) and after (right). Default
    features: the ``n_features`` with the largest one-way batch ICC before harmonisation (where
    the scanner mattered most)."""
    import pandas as pd

    from ..harmonization import batch_icc

    if not isinstance(before, pd.DataFrame) or not isinstance(after, pd.DataFrame):
        raise InputError("harmonization_figure needs DataFrames before and after")
    if list(before.columns) != list(after.columns) or len(before) != len(after):
        raise InputError("before and after must have the same feature columns and rows")
    b = np.asarray(batch)
    if len(b) != len(before):
        raise InputError(f"batch has {len(b)} values but the features have {len(before)} rows")
    if features is None:
        icc = batch_icc(before, b)
        order = np.argsort(-np.nan_to_num(icc, nan=-np.inf), kind="stable")
        features = [before.columns[j] for j in order[: int(n_features)]]
    missing = [f for f in features if f not in before.columns]
    if missing:
        raise InputError(f"harmonization_figure: feature(s) {missing} not in the data")
    levels = list(dict.fromkeys(b.tolist()))
    with journal_style():
        fig, axes = _plt().subplots(len(features), 2, figsize=(8, 2.4 * len(features)), squeeze=False)
        for i, f in enumerate(features):
            for j, (stage, data) in enumerate((("before", before), ("after ComBat", after))):
                ax = axes[i][j]
                v = data[f].to_numpy(dtype=float)
                edges = np.histogram_bin_edges(v[np.isfinite(v)], bins=25)
                for k, lev in enumerate(levels):
                    ax.hist(v[b == lev], bins=edges, density=True, histtype="step", lw=1.2,
                            color=PALETTE[k % len(PALETTE)], label=str(lev))
                ax.set_title(f"{f}: {stage}", fontsize=8)
                ax.set_ylabel("density")
        axes[0][0].legend(fontsize=7)
        if title:
            fig.suptitle(title)
        fig.tight_layout()
    return fig


def intensity_histogram_figure(hists: Any, title: str = "") -> Any:
    """Voxel intensity histograms per group before and after normalisation
    (:func:`her2stats.imaging.intensity_histograms`)."""
    if type(hists).__name__ != "IntensityHistograms":
        raise InputError(f"intensity_histogram_figure needs IntensityHistograms, got {type(hists).__name__}")
    with journal_style():
        fig, axes = _plt().subplots(1, 2, figsize=(8, 3.2))
        hists.plot(axes=axes)
        if title:
            fig.suptitle(title)
    return fig
