"""Journal figures of a HER2 study.

Each function takes result objects (never raw data where a result exists) and returns a matplotlib
``Figure`` (detached from pyplot, so Jupyter shows it once, as the cell's value) drawn at its printed size in a journal style (:mod:`her2stats.reporting.style`:
``style="default" | "radiology" | "nature"``, ``width="single" | "double"`` column). Variables
print through the data dictionary's labels (:class:`her2stats.data.labels.Labels`; ``labels=``
overrides them), models and cohorts through their display names. :func:`save` writes PNG (300
dpi), PDF, SVG and TIFF (600 dpi, LZW).

=================================  ============================================================
figure                             what a reviewer checks
=================================  ============================================================
:func:`roc_figure`                 legend ``Model, AUC 0.812 (0.741–0.883)`` (the table's numbers)
:func:`roc_panels`                 several cohorts in one figure, panels lettered A, B, C
:func:`calibration_figure`         axes over the range of the predictions; histogram of them below
:func:`calibration_band_figure`    flexible curve with its bootstrap band per cohort; intercept/slope CIs
:func:`decision_curve_figure`      net benefit over a clinically relevant threshold range only
:func:`nomogram_figure`            measured label extents: no label overlaps another or an axis name
:func:`forest_figure`              log axis with plain tick labels; ``OR (95% CI)`` and P columns
:func:`km_figure`                  legend ``HER2-positive``; number at risk coloured like the curves
:func:`shap_figure`                colour bar (feature value) and the model's name
:func:`gradcam_panels`             ROI and Grad-CAM overlay per patient, with a colour bar
=================================  ============================================================
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..data.labels import Labels, as_labels, convert_time, time_label
from ..errors import InputError
from .builders import cohort_label, model_label
from .format import fmt_ci, fmt_p, fmt_ratio_ci
from .style import FIGURE_FORMATS, PALETTE, background_saver, get_style, journal_style, save_figure

__all__ = ["roc_figure", "roc_panels", "calibration_figure", "calibration_band_figure", "decision_curve_figure", "nomogram_figure",
           "km_figure", "forest_figure", "shap_figure", "gradcam_figure", "gradcam_panels", "lasso_figure",
           "add_panel_letters", "feature_label", "save", "icc_figure", "training_curves_figure",
           "gradcam_slices_figure", "harmonization_figure", "intensity_histogram_figure", "band_note",
           "ROC_BAND_SPECIFICITIES"]


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


def save(fig: Any, stem: str | Path, close: bool = True, formats: Sequence[str] = FIGURE_FORMATS,
         style: Any = None) -> list[Path]:
    """Write ``stem.png`` (300 dpi), ``stem.pdf``, ``stem.svg`` and ``stem.tiff`` (600 dpi, LZW);
    close the figure. The first path is the PNG when ``formats`` starts with it."""
    st = get_style(style if style is not None else getattr(fig, "_h2s_style", None))
    saver = background_saver() if close else None  # inside background_saving(): helper processes write the files
    paths = saver.submit(fig, stem, formats=formats, style=st) if saver is not None else None
    if paths is not None:
        _plt().close(fig)
        return paths
    with journal_style(st):  # tight bounding box and resolutions apply at save time
        paths = save_figure(fig, stem, formats=formats, style=st)
    if close:
        _plt().close(fig)
    return paths


def _figure(st: Any, width: Any, aspect: float = 0.8, height_in: float | None = None, **kw: Any) -> Any:
    fig = _plt().figure(figsize=st.figsize(width, aspect, height_in), layout="constrained", **kw)
    fig._h2s_style = st.name
    return _detached(fig)


def add_panel_letters(axes: Sequence[Any], letters: Sequence[str] | None = None, style: Any = None) -> None:
    """Bold panel letters (A, B, C...) at the top left of each axes, as journals label panels."""
    st = get_style(style)
    letters = list(letters) if letters is not None else [chr(ord("A") + i) for i in range(len(axes))]
    for ax, letter in zip(axes, letters):
        # outside the panel's top-left corner, clear of a long centred title and of the tick labels
        ax.annotate(letter, xy=(0, 1), xycoords="axes fraction", xytext=(-4 * st.small_size, 4),
                    textcoords="offset points", ha="left", va="bottom", fontweight="bold",
                    fontsize=st.title_size + 1)


# ---------------------------------------------------------------------------------- ROC
#: specificities at which the study runner reads the bootstrap sensitivity band of a ROC curve
#: (``sensitivity_at(..., specificity=ROC_BAND_SPECIFICITIES)``, pROC ``ci.se``)
ROC_BAND_SPECIFICITIES = np.round(np.linspace(0.0, 1.0, 41), 10)


def _check_band(band: Any, name: str) -> None:
    if type(band).__name__ != "OperatingPointResult" or band.given != "specificity" or band.method != "bootstrap":
        raise InputError(f"bands[{name!r}] must be the result of sensitivity_at(..., ci='bootstrap') over a grid of "
                         f"specificities, got {type(band).__name__}")


def _operating_point(point: Any, name: str) -> tuple[float, float]:
    """(1 - specificity, sensitivity) of a DiagnosticResult (or a (sensitivity, specificity) pair)."""
    if type(point).__name__ == "DiagnosticResult":
        return 1.0 - point["specificity"], point["sensitivity"]
    try:
        se, sp = (float(v) for v in point)
    except (TypeError, ValueError):
        raise InputError(f"points[{name!r}] must be a DiagnosticResult or a (sensitivity, specificity) pair, "
                         f"got {point!r}") from None
    return 1.0 - sp, se


#: legend entry of the operating-point marker
POINT_LABEL = "Cut-off chosen on development"


def band_note(n_boot: int, level: float = 0.95, what: str = "bootstrap") -> str:
    """Caption text naming a band: ``95% bootstrap percentile band (500 replicates)``."""
    return f"{level:.0%} {what} percentile band ({int(n_boot)} replicates)"


def _draw_roc(ax: Any, curves: Mapping[str, tuple[Any, Any]], aucs: Mapping[str, Any], st: Any,
              legend: bool = True, bands: Mapping[str, Any] | None = None,
              points: Mapping[str, Any] | None = None) -> list[Any]:
    """Draw the curves; ``legend=False`` prints each AUC (95% CI) in its curve's colour inside the
    panel instead (multi-panel figures share one legend of model names). ``bands[name]``: the
    bootstrap sensitivity band at fixed specificities, shaded in the curve's colour;
    ``points[name]``: the operating point (the cut-off chosen on development), an open circle."""
    from ..stats.roc import roc_curve

    handles = []
    bands = bands or {}
    points = points or {}
    for k, (name, (y, prob)) in enumerate(curves.items()):
        a = aucs[name]
        colour = PALETTE[k % len(PALETTE)]
        rc = roc_curve(y, prob, direction=a.direction, engine="python")
        (h,) = ax.plot(1.0 - rc.specificity, rc.sensitivity, color=colour,
                       label=f"{model_label(name)}, AUC {fmt_ci(a.auc, a.ci_low, a.ci_high)}")
        handles.append(h)
        if name in bands:
            b = bands[name]
            _check_band(b, name)
            t = b.table.sort_values("specificity", ascending=False)
            ax.fill_between(1.0 - t["specificity"].to_numpy(float), t["ci_low"].to_numpy(float),
                            t["ci_high"].to_numpy(float), color=colour, alpha=0.15 if len(curves) <= 3 else 0.08,
                            linewidth=0, zorder=1)
        if name in points:
            x, yv = _operating_point(points[name], name)
            ax.plot([x], [yv], marker="o", ms=4.5, mfc="white", mec=colour, mew=1.2, ls="none", zorder=4)
    if points and legend:
        ax.plot([], [], marker="o", ms=4.5, mfc="white", mec="0.25", mew=1.2, ls="none", label=POINT_LABEL)
    ax.plot([0, 1], [0, 1], ls=":", color="0.6", lw=0.8)
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="1 \u2212 Specificity", ylabel="Sensitivity")
    ax.set_aspect("equal")
    ax.set_xticks(np.linspace(0, 1, 6))
    ax.set_yticks(np.linspace(0, 1, 6))
    if legend:
        # under the panel: inside it, the legend of 4+ models hides the curves' lower-left part
        ax.legend(loc="upper left", bbox_to_anchor=(-0.02, -0.16), fontsize=st.small_size, handlelength=1.4,
                  borderaxespad=0.0)
    else:
        lines = len(curves)
        step = 0.075 if lines <= 6 else 0.55 / lines
        ax.text(0.98, 0.03 + step * lines, "AUC (95% CI)", transform=ax.transAxes, ha="right", va="bottom",
                fontsize=st.small_size - 0.5, fontweight="bold")
        for k, name in enumerate(curves):
            a = aucs[name]
            ax.text(0.98, 0.03 + step * (lines - 1 - k), fmt_ci(a.auc, a.ci_low, a.ci_high), transform=ax.transAxes,
                    ha="right", va="bottom", fontsize=st.small_size - 0.5, color=PALETTE[k % len(PALETTE)])
    return handles


def roc_figure(curves: Mapping[str, tuple[Any, Any]], aucs: Mapping[str, Any], title: str = "",
               style: Any = None, width: Any = "single", bands: Mapping[str, Any] | None = None,
               points: Mapping[str, Any] | None = None) -> Any:
    """ROC curves of several models on one cohort; legend ``Model, AUC 0.812 (0.741–0.883)``.

    ``curves[name] = (y, prob)``; ``aucs[name]`` the :class:`~her2stats.stats.roc.AUCResult` of the
    same data (its CI is what the legend prints, so the figure and the table agree).
    ``bands[name]``: :func:`~her2stats.stats.roc.sensitivity_at` with ``ci="bootstrap"`` over
    :data:`ROC_BAND_SPECIFICITIES` (pROC ``ci.se``: stratified bootstrap percentile interval of the
    sensitivity at each fixed specificity), shaded in the curve's colour. ``points[name]``: the
    operating point to mark (the :class:`~her2stats.stats.diagnostics.DiagnosticResult` of the
    cut-off chosen on development), an open circle on the curve.
    """
    if not curves:
        raise InputError("roc_figure needs at least one model")
    with journal_style(style) as st:
        fig = _figure(st, width, aspect=1.0 + 0.055 * len(curves) + 0.18)
        ax = fig.add_subplot(111)
        _draw_roc(ax, curves, aucs, st, bands=bands, points=points)
        if title:
            ax.set_title(title)
    return _detached(fig)


def roc_panels(panels: Mapping[str, tuple[Mapping[str, tuple[Any, Any]], Mapping[str, Any]]], style: Any = None,
               width: Any = "double", ncols: int | None = None, letters: bool = True,
               bands: Mapping[str, Mapping[str, Any]] | None = None,
               points: Mapping[str, Mapping[str, Any]] | None = None) -> Any:
    """Several ROC panels (one per cohort) in one figure, lettered A, B, C...

    ``panels[title] = (curves, aucs)`` as for :func:`roc_figure`, in display order;
    ``bands[title]`` and ``points[title]`` as :func:`roc_figure`'s, per panel.
    """
    if not panels:
        raise InputError("roc_panels needs at least one panel")
    n = len(panels)
    ncols = int(ncols or min(n, 3))
    if ncols < 1:
        raise InputError(f"ncols must be >= 1, got {ncols}")
    nrows = math.ceil(n / ncols)
    n_models = max(len(c) for c, _ in panels.values()) + (1 if points and any(points.values()) else 0)
    with journal_style(style) as st:
        w = st.width_in(width)
        panel_w = w / ncols
        legend_h = (math.ceil(n_models / 3) * st.small_size * 1.5 + 10) / 72
        fig = _figure(st, width, height_in=nrows * (panel_w * 0.95 + 0.3) + legend_h)
        axes, names, handles = [], {}, {}
        for i, (title, (curves, aucs)) in enumerate(panels.items()):
            if not curves:
                raise InputError(f"roc_panels: panel {title!r} has no model")
            ax = fig.add_subplot(nrows, ncols, i + 1)
            drawn = _draw_roc(ax, curves, aucs, st, legend=False, bands=(bands or {}).get(title),
                              points=(points or {}).get(title))
            for name, h in zip(curves, drawn):
                handles.setdefault(name, h)
            ax.set_title(title)
            axes.append(ax)
        if letters:
            add_panel_letters(axes, style=st)
        hs, ls = list(handles.values()), [model_label(m) for m in handles]
        if points and any(points.values()):
            from matplotlib.lines import Line2D

            hs.append(Line2D([], [], marker="o", ms=4.5, mfc="white", mec="0.25", mew=1.2, ls="none"))
            ls.append(POINT_LABEL)
        fig.legend(hs, ls, loc="outside lower center", ncol=min(len(hs), 3), handlelength=1.6)
    return _detached(fig)


# ---------------------------------------------------------------------------------- calibration
def _nice_upper(x: float) -> float:
    return float(min(1.0, math.ceil(max(x, 0.05) * 10 - 1e-9) / 10))


def calibration_figure(cal: Any, title: str = "", style: Any = None, width: Any = "single") -> Any:
    """Apparent, bias-corrected and ideal calibration (``rms::calibrate``), axes scaled to the
    range of the predictions (not 0-1 when every prediction is below 0.5), with the histogram of
    the predicted probabilities underneath on the same x axis."""
    if type(cal).__name__ != "CalibrationCurve":
        raise InputError(f"calibration_figure needs a CalibrationCurve (her2stats.stats.calibrate), got {type(cal).__name__}")
    preds = None if cal.predictions is None else np.asarray(cal.predictions, dtype=float)
    reach = [float(np.nanmax(cal.predicted))]
    if preds is not None and preds.size:
        reach.append(float(np.max(preds)))
    curves = np.concatenate([np.asarray(cal.apparent, float), np.asarray(cal.bias_corrected, float)])
    hi = _nice_upper(max(max(reach) * 1.05, float(np.nanmax(curves)) if curves.size else 0))
    with journal_style(style) as st:
        fig = _figure(st, width, aspect=1.2)
        gs = fig.add_gridspec(2, 1, height_ratios=[4.0, 1.0])
        ax = fig.add_subplot(gs[0])
        hx = fig.add_subplot(gs[1], sharex=ax)
        ax.plot([0, hi], [0, hi], color="0.65", lw=0.9, ls="--", label="Ideal")
        ax.plot(cal.predicted, cal.apparent, color="k", lw=1.0, ls=":", label="Apparent")
        ax.plot(cal.predicted, cal.bias_corrected, color=PALETTE[0], lw=st.line_width * 1.2, label="Bias-corrected")
        ax.set(xlim=(0, hi), ylim=(0, hi), ylabel="Observed proportion")
        ax.tick_params(labelbottom=False)
        ax.legend(loc="upper left", title=f"B = {cal.n_boot} bootstrap repetitions\nmean |error| = {cal.mean_abs_error:.3f}",
                  alignment="left")
        if preds is not None and preds.size:
            inside = preds[preds <= hi]
            hx.hist(inside, bins=np.linspace(0, hi, 41), color="0.45", edgecolor="white", linewidth=0.3)
            if len(inside) < len(preds):
                hx.text(0.99, 0.95, f"{len(preds) - len(inside)} above {hi:.1f}", transform=hx.transAxes,
                        ha="right", va="top", fontsize=st.small_size)
        hx.set(xlabel="Predicted probability", ylabel="Count")
        hx.spines["left"].set_visible(True)
        if title:
            ax.set_title(title)
    return _detached(fig)


def _hier_text(h: Any) -> str:
    t = h.table
    lines = []
    for row, name in (("calibration intercept", "Intercept"), ("calibration slope", "Slope")):
        r = t.loc[row]
        lines.append(f"{name} {fmt_ci(r['estimate'], r['ci_low'], r['ci_high'], digits=2)}")
    r = t.loc["ICI"]
    lines.append(f"ICI {fmt_ci(r['estimate'], r['ci_low'], r['ci_high'], digits=3)}")
    return "\n".join(lines)


def calibration_band_figure(results: Any, predictions: Mapping[str, Any] | None = None,
                            corrected: Mapping[str, Any] | None = None, title: str = "", style: Any = None,
                            width: Any = None, ncols: int | None = None, letters: bool = True) -> Any:
    """Flexible calibration curves with their bootstrap bands, one panel per cohort.

    ``results`` is a :class:`~her2stats.stats.calibration.CalibrationHierarchyResult` or a mapping
    ``{panel title: CalibrationHierarchyResult}`` (display order). Each panel draws the lowess
    calibration curve (``lowess(p, y, iter=0)``, as rms) with its percentile band (the ``ci_low``/
    ``ci_high`` of ``result.curve``: quantiles of the curves of ``result.n_boot`` resamples of the
    (outcome, prediction) pairs, predictions held fixed), the ideal diagonal, and the calibration
    intercept, slope and ICI with their CIs. ``predictions[title]`` adds the histogram of the
    predicted probabilities under the panel; ``corrected[title]`` (a
    :class:`~her2stats.stats.calibration.CalibrationCurve`) overlays the bootstrap bias-corrected
    curve of the development cohort, where the flexible curve is apparent.
    """
    if type(results).__name__ == "CalibrationHierarchyResult":
        results = {title: results}
        title = ""
    if not isinstance(results, Mapping) or not results:
        raise InputError("calibration_band_figure needs a CalibrationHierarchyResult or a mapping of them")
    for k, h in results.items():
        if type(h).__name__ != "CalibrationHierarchyResult":
            raise InputError(f"calibration_band_figure: results[{k!r}] must be a CalibrationHierarchyResult "
                             f"(her2stats.stats.calibration_hierarchy), got {type(h).__name__}")
    predictions = predictions or {}
    corrected = corrected or {}
    n = len(results)
    ncols = int(ncols or min(n, 3))
    nrows = math.ceil(n / ncols)
    with journal_style(style) as st:
        w = st.width_in(width or ("single" if n == 1 else "double"))
        panel_w = w / ncols
        fig = _figure(st, width or ("single" if n == 1 else "double"), height_in=nrows * panel_w * 1.3 + 0.35)
        gs = fig.add_gridspec(2 * nrows, ncols, height_ratios=[4.0, 1.0] * nrows)
        axes = []
        for i, (name, h) in enumerate(results.items()):
            r, c = divmod(i, ncols)
            ax = fig.add_subplot(gs[2 * r, c])
            hx = fig.add_subplot(gs[2 * r + 1, c], sharex=ax)
            cur = h.curve
            preds = predictions.get(name)
            preds = None if preds is None else np.asarray(preds, dtype=float)
            reach = float(np.nanmax(cur["predicted"]))
            if preds is not None and preds.size:
                reach = max(reach, float(np.nanmax(preds)))
            lim = _nice_upper(max(reach * 1.05, float(np.nanmax(cur["observed"])) * 1.05))
            ax.plot([0, lim], [0, lim], color="0.65", lw=0.9, ls="--", label="Ideal")
            ax.fill_between(cur["predicted"], cur["ci_low"], cur["ci_high"], color=PALETTE[0], alpha=0.18,
                            linewidth=0, label=band_note(h.n_boot, h.level))
            ax.plot(cur["predicted"], cur["observed"], color=PALETTE[0], lw=st.line_width * 1.2,
                    label="Flexible (lowess)" + (", apparent" if name in corrected else ""))
            if name in corrected:
                cc = corrected[name]
                if type(cc).__name__ != "CalibrationCurve":
                    raise InputError(f"corrected[{name!r}] must be a CalibrationCurve (her2stats.stats.calibrate), "
                                     f"got {type(cc).__name__}")
                ax.plot(cc.predicted, cc.bias_corrected, color="k", lw=1.0, ls="-.",
                        label=f"Bias-corrected (B = {cc.n_boot})")
            ax.text(0.97, 0.03, _hier_text(h), transform=ax.transAxes, ha="right", va="bottom",
                    fontsize=st.small_size - (1.5 if n > 1 else 0.5), zorder=5,
                    bbox={"boxstyle": "square,pad=0.25", "facecolor": "white", "edgecolor": "none", "alpha": 0.85})
            ax.set(xlim=(0, lim), ylim=(0, lim), ylabel="Observed proportion" if c == 0 else "")
            ax.set_aspect("auto")
            ax.tick_params(labelbottom=False)
            ax.set_title(name if n > 1 or not title else title)
            if i == 0:
                ax.legend(loc="upper left", fontsize=st.small_size - 0.5, handlelength=1.4)
            if preds is not None and preds.size:
                shown = preds[preds <= lim]
                hx.hist(shown, bins=np.linspace(0, lim, 31), color="0.45", edgecolor="white", linewidth=0.3)
                if len(shown) < len(preds):
                    hx.text(0.99, 0.95, f"{len(preds) - len(shown)} above {lim:.1f}", transform=hx.transAxes,
                            ha="right", va="top", fontsize=st.small_size)
            hx.set(xlabel="Predicted probability", ylabel="Count" if c == 0 else "")
            axes.append(ax)
        if letters and n > 1:
            add_panel_letters(axes, style=st)
        if title and n > 1:
            fig.suptitle(title)
    return _detached(fig)


# ---------------------------------------------------------------------------------- decision curves
def decision_curve_figure(dc: Any, title: str = "", xlim: tuple[float, float] | None = None, style: Any = None,
                          width: Any = "single", reference: str | None = None) -> Any:
    """Net benefit of each model with treat-all and treat-none, over ``xlim`` (the clinically
    relevant threshold probabilities; default: every threshold computed). The y axis spans the
    net benefits inside that range, from just below zero.

    With bootstrap replicates (``decision_curve(..., n_boot=...)``) each model's curve carries
    its percentile band (the ``nb_ci_low``/``nb_ci_high`` columns: quantiles of the replicate net
    benefits at each threshold). ``reference`` (a model, e.g. ``"clinical"``) adds a lower panel:
    the difference in net benefit of every other model against it, with the percentile band of
    the paired replicate differences (:meth:`~her2stats.stats.dca.DecisionCurve.difference`).
    """
    if type(dc).__name__ != "DecisionCurve":
        raise InputError(f"decision_curve_figure needs a DecisionCurve, got {type(dc).__name__}")
    th = np.asarray(dc.thresholds, float)
    lo, hi = (float(th.min()), float(th.max())) if xlim is None else (float(xlim[0]), float(xlim[1]))
    if not (0 <= lo < hi <= 1):
        raise InputError(f"xlim must be (low, high) threshold probabilities with 0 <= low < high <= 1, got {xlim!r}")
    if hi < th.min() or lo > th.max():
        raise InputError(f"xlim {xlim!r} lies outside the thresholds computed ({th.min():.3g}-{th.max():.3g})")
    models = [s for s in dc.strategies if s not in ("all", "none")]
    others = []
    if reference is not None:
        if reference not in models:
            raise InputError(f"reference {reference!r} is not a model of this decision curve; models: {models}")
        if dc.boot is None:
            raise InputError("reference= draws bootstrap differences in net benefit: compute the decision curve "
                             "with n_boot > 0")
        others = [m for m in models if m != reference]
    tab = dc.table
    inside = (tab["threshold"] >= lo - 1e-12) & (tab["threshold"] <= hi + 1e-12)
    window = tab[inside]
    top = float(window.loc[window["strategy"] != "none", "net_benefit"].max())
    top = max(top, 0.01)
    band_alpha = 0.12 if len(models) <= 3 else 0.06
    with journal_style(style) as st:
        if others:
            fig = _figure(st, width, aspect=1.35 + 0.05 * len(models))
            gs = fig.add_gridspec(2, 1, height_ratios=[3.0, 1.6])
            ax = fig.add_subplot(gs[0])
            dx = fig.add_subplot(gs[1], sharex=ax)
        else:
            fig = _figure(st, width, aspect=0.78 + 0.035 * len(models))
            ax = fig.add_subplot(111)
            dx = None
        for k, s in enumerate(models):
            part = window[window["strategy"] == s]
            ax.plot(part["threshold"], part["net_benefit"], color=PALETTE[k % len(PALETTE)], label=model_label(s))
            if dc.boot is not None and "nb_ci_low" in part:
                ax.fill_between(part["threshold"], part["nb_ci_low"], part["nb_ci_high"], color=PALETTE[k % len(PALETTE)],
                                alpha=band_alpha, linewidth=0)
        part = window[window["strategy"] == "all"]
        ax.plot(part["threshold"], part["net_benefit"], color="0.55", lw=1.0, label="Treat all")
        ax.axhline(0, color="k", lw=0.9, label="Treat none")
        ax.set(xlim=(lo, hi), ylim=(-0.08 * top, top * 1.08), ylabel="Net benefit")
        if dx is None:
            ax.set_xlabel("Threshold probability")
            ax.legend(loc="upper left", bbox_to_anchor=(0.0, -0.2), ncol=2, borderaxespad=0.0, handlelength=1.4)
        else:
            ax.tick_params(labelbottom=False)
            # under both panels: inside, the legend of several models hides their curves
            fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=2, handlelength=1.4)
            for s in others:
                k = models.index(s)
                d = dc.difference(s, reference)
                d = d[(d["threshold"] >= lo - 1e-12) & (d["threshold"] <= hi + 1e-12)]
                colour = PALETTE[k % len(PALETTE)]
                dx.plot(d["threshold"], d["difference"], color=colour)
                dx.fill_between(d["threshold"], d["ci_low"], d["ci_high"], color=colour, alpha=band_alpha + 0.03,
                                linewidth=0)
            dx.axhline(0, color="k", lw=0.8)
            dx.set(xlim=(lo, hi), xlabel="Threshold probability",
                   ylabel=f"\u0394 net benefit\nvs {model_label(reference)}")
        if title:
            ax.set_title(title)
    return _detached(fig)


# ---------------------------------------------------------------------------------- nomogram
def _fmt_value(v: Any) -> str:
    if isinstance(v, str):
        return v
    try:
        return f"{float(v):.10g}"
    except (TypeError, ValueError):
        return str(v)


def nomogram_figure(nom: Any, labels: Any = None, style: Any = None, width: Any = "double", show_lp: bool = False,
                    outcome_label: str | None = None, title: str = "") -> Any:
    """The nomogram on rms's scales with labelled axes.

    Rows: Points (0-100), one axis per predictor (named by its dictionary label, levels by their
    level labels), Total points, optionally the linear predictor, and the outcome axes
    (``outcome_label`` renames a single risk axis, e.g. ``"Probability of HER2-positive"``).

    Tick labels are placed from their measured extents: below the axis, else above it, else left
    out (the tick stays); the left margin is sized from the widest axis name plus the half-width
    of the leftmost tick label, so no label touches another or an axis name.
    """
    if type(nom).__name__ != "Nomogram":
        raise InputError(f"nomogram_figure needs a Nomogram, got {type(nom).__name__}")
    L = as_labels(labels, known=list(dict.fromkeys(nom.variables["variable"].astype(str))), source="labels")
    var_names = list(dict.fromkeys(nom.variables["variable"]))
    total_max = float(np.max(nom.total_points))
    scale_total = 100.0 / total_max if total_max > 0 else 1.0
    rows: list[tuple[str, np.ndarray, list[str]]] = []
    ticks = np.arange(0, 101, 10)
    rows.append(("Points", ticks.astype(float), [f"{t:g}" for t in ticks]))
    for v in var_names:
        sub = nom.variables[nom.variables["variable"] == v]
        categorical = any(isinstance(x, str) for x in sub["value"])
        texts = [L.level(v, x) if categorical else _fmt_value(x) for x in sub["value"]]
        rows.append((L.var(v), sub["points"].to_numpy(float), texts))
    rows.append(("Total points", np.asarray(nom.total_points, float) * scale_total,
                 [_fmt_value(t) for t in nom.total_points]))
    if show_lp:
        rows.append(("Linear predictor", nom.lp["points"].to_numpy(float) * scale_total,
                     [_fmt_value(v) for v in nom.lp["value"]]))
    for label, tab in nom.outcome_axes.items():
        name = outcome_label if (outcome_label and len(nom.outcome_axes) == 1) else str(label)
        rows.append((name, tab["points"].to_numpy(float) * scale_total, [_fmt_value(v) for v in tab["value"]]))

    with journal_style(style) as st:
        fs = st.small_size
        row_pt = 2 * (3.0 + 1.3 * fs + 1.5) + 5.0
        height = len(rows) * row_pt / 72 + (0.3 if title else 0.12)
        w_in = st.width_in(width)
        fig = _plt().figure(figsize=(w_in, height))
        fig._h2s_style = st.name
        renderer = fig.canvas.get_renderer()
        dpi = fig.dpi

        def text_w(s: str, size: float) -> float:
            t = fig.text(0, 0, s, fontsize=size)
            w = t.get_window_extent(renderer).width
            t.remove()
            return w

        name_w = max(text_w(r[0], st.font_size) for r in rows)
        first_half = max(text_w(r[2][int(np.argmin(r[1]))], fs) / 2 for r in rows if len(r[1]))
        last_half = max(text_w(r[2][int(np.argmax(r[1]))], fs) / 2 for r in rows if len(r[1]))
        gap = 8 * dpi / 72
        fig_w = w_in * dpi
        left = (name_w + gap + first_half + 4) / fig_w
        right = 1 - (last_half + 4) / fig_w
        top_pad = (0.28 if title else 0.06) / height
        if right - left < 0.3:
            raise InputError("nomogram_figure: the axis names leave no room for the scales; use width='double' "
                             "or shorter labels (labels=)")
        ax = fig.add_axes([left, 0.02, right - left, 1 - 0.02 - top_pad])
        n = len(rows)
        ax.set_xlim(0, 100)
        ax.set_ylim(0.35, n + 0.55)
        ax.axis("off")
        unit = 1.0 / row_pt  # data units (one row) per point
        tick = 3.0 * unit
        placed_all: list[Any] = []
        for i, (name, xs, texts) in enumerate(rows):
            y = n - i
            ax.hlines(y, float(xs.min()), float(xs.max()), color="k", lw=0.7)
            ax.vlines(xs, y, y + tick, color="k", lw=0.7)
            ax.text(-(first_half + gap) / (ax.bbox.width) , y, name, transform=ax.get_yaxis_transform(),
                    ha="right", va="center", fontsize=st.font_size)
            last = {"below": None, "above": None}
            pad = 2.5 * dpi / 72
            for x, s in sorted(zip(xs, texts), key=lambda z: z[0]):
                for side, dy, va in (("below", -1.5 * unit, "top"), ("above", tick + 1.0 * unit, "bottom")):
                    t = ax.text(x, y + dy, s, ha="center", va=va, fontsize=fs)
                    bb = t.get_window_extent(renderer)
                    prev = last[side]
                    if prev is None or bb.x0 > prev.x1 + pad:
                        last[side] = bb
                        placed_all.append(t)
                        break
                    t.remove()
        if title:
            fig.suptitle(title, fontsize=st.title_size)
        fig._h2s_nomogram_labels = placed_all
    return _detached(fig)


# ---------------------------------------------------------------------------------- forest
_FOREST_TICKS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500)
_FOREST_TICKS2 = (0.0625, 0.125, 0.25, 0.5, 1, 2, 4, 8, 16)


def _forest_ticks(lo: float, hi: float) -> list[float]:
    lo, hi = min(lo, 1.0), max(hi, 1.0)
    if hi / lo <= 40:
        cand = [t for t in _FOREST_TICKS2 if lo / 1.001 <= t <= hi * 1.001]
        if len(cand) >= 3:
            return cand
    cand = [t for t in _FOREST_TICKS if lo / 1.001 <= t <= hi * 1.001]
    return cand or [1.0]


def _forest_rows(result: Any, which: str, L: Labels) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:
    name = type(result).__name__
    if name == "CoxResult":
        s = result.summary
        labels = []
        for r in s.to_dict("records"):
            term, cov = str(r["term"]), str(r.get("covariate", r["term"]))
            level = term.split("=", 1)[1] if "=" in term and term.startswith(cov + "=") else None
            labels.append(L.term(cov, level, r.get("reference")))
        return (labels, s["HR"].to_numpy(float), s["ci_low"].to_numpy(float), s["ci_high"].to_numpy(float),
                s["p_value"].to_numpy(float), "HR")
    if name == "LogisticTable":
        cols = {"multi": ("multi_or", "multi_ci_low", "multi_ci_high", "multi_p"),
                "uni": ("uni_or", "uni_ci_low", "uni_ci_high", "uni_p")}
        if which not in cols:
            raise InputError(f"which must be 'multi' or 'uni', got {which!r}")
        est, lo, hi, p = cols[which]
        f = result.frame
        f = f[np.isfinite(f[est].astype(float))] if est in f else f.iloc[0:0]
        if f.empty:
            raise InputError(f"the LogisticTable has no {which}variable odds ratios to plot")
        labels = [L.term(v, lev if isinstance(lev, str) and lev else None, ref)
                  for v, lev, ref in zip(f["variable"], f["level"].fillna(""), f["reference"].fillna(""))]
        return (labels, f[est].to_numpy(float), f[lo].to_numpy(float), f[hi].to_numpy(float), f[p].to_numpy(float),
                "OR")
    raise InputError(f"forest_figure needs a LogisticTable or CoxResult, got {name}")


def forest_figure(result: Any, which: str = "multi", title: str = "", labels: Any = None, style: Any = None,
                  width: Any = "double", xlabel: str | None = None) -> Any:
    """Forest plot of odds ratios (LogisticTable, ``which="multi"`` or ``"uni"``) or hazard ratios
    (CoxResult): log axis with plain tick labels (0.25, 0.5, 1, 2, 4), the null line at 1, and a
    text column ``OR (95% CI)`` / ``HR (95% CI)`` with P beside the plot. Rows are named by the
    dictionary labels (``HER2-positive vs HER2-negative``, ``Age (years)``)."""
    name = type(result).__name__
    if name not in ("CoxResult", "LogisticTable"):
        raise InputError(f"forest_figure needs a LogisticTable or CoxResult, got {name}")
    if name == "LogisticTable":
        known = set(result.frame["variable"].astype(str))
    else:
        known = set(result.summary.get("covariate", result.summary["term"]).astype(str))
    L = as_labels(labels, known=known, source="labels")
    rows, est, lo, hi, p, kind = _forest_rows(result, which, L)
    n = len(rows)
    with journal_style(style) as st:
        fig = _figure(st, width, height_in=(n * st.small_size * 2.4 + 58) / 72)
        gs = fig.add_gridspec(1, 2, width_ratios=[2.2, 1.25], wspace=0.02)
        ax = fig.add_subplot(gs[0])
        tx = fig.add_subplot(gs[1], sharey=ax)
        yy = np.arange(n)[::-1].astype(float)
        ax.errorbar(est, yy, xerr=[est - lo, hi - est], fmt="s", color=PALETTE[0], ecolor="0.25", capsize=2,
                    ms=3.5, lw=0.9)
        ax.axvline(1.0, color="0.5", ls="--", lw=0.8)
        ax.set_xscale("log")
        tk = _forest_ticks(float(np.nanmin(lo)), float(np.nanmax(hi)))
        from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

        ax.xaxis.set_major_locator(FixedLocator(tk))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        span_lo, span_hi = min(tk[0], float(np.nanmin(lo))), max(tk[-1], float(np.nanmax(hi)))
        ax.set_xlim(span_lo / 1.15, span_hi * 1.15)
        ax.set_yticks(yy)
        ax.set_yticklabels(rows)
        ax.tick_params(axis="y", length=0)
        ax.spines["left"].set_visible(False)
        ax.set_ylim(-0.7, n - 0.3 + 0.9)
        word = {"OR": "Odds ratio", "HR": "Hazard ratio"}[kind]
        adj = "" if kind == "HR" else ("Adjusted o" if which == "multi" else "Crude o")
        ax.set_xlabel(xlabel or (f"{adj + word[1:] if adj else word} (95% CI, log scale)"))
        tx.set_xlim(0, 1)
        tx.axis("off")
        head_y = n - 0.3 + 0.35
        tx.text(0.0, head_y, f"{kind} (95% CI)", fontweight="bold", fontsize=st.small_size, va="center")
        tx.text(1.0, head_y, "P", fontweight="bold", fontsize=st.small_size, va="center", ha="right")
        for yv, e, a, b, pv in zip(yy, est, lo, hi, p):
            tx.text(0.0, yv, fmt_ratio_ci(e, a, b), fontsize=st.small_size, va="center")
            tx.text(1.0, yv, fmt_p(pv) if np.isfinite(pv) else "", fontsize=st.small_size, va="center", ha="right")
        if title:
            fig.suptitle(title, fontsize=st.title_size)
    return _detached(fig)


# ---------------------------------------------------------------------------------- Kaplan-Meier
def _nice_time_ticks(tmax: float, unit: str = "days", n: int = 6) -> np.ndarray:
    from matplotlib.ticker import MaxNLocator

    if unit == "months":  # multiples of 3, 6, 12 or 24 months, as survival papers mark them
        for step in (3, 6, 12, 24, 36, 60):
            if tmax / step <= n + 1:
                return np.arange(0, tmax * 1.0001, step, dtype=float)
    loc = MaxNLocator(nbins=n, steps=[1, 2, 2.5, 3, 5, 6, 10], integer=unit in ("years", "weeks"))
    tk = np.asarray(loc.tick_values(0, tmax), float)
    return tk[(tk >= 0) & (tk <= tmax * 1.0001)]


def km_figure(km: Any, xlabel: str | None = None, ylabel: str = "Survival probability", risk_times: Any = None,
              labels: Any = None, time_unit: str | None = None, data_unit: str = "days", style: Any = None,
              width: Any = "single", ci: bool = True, title: str = "") -> Any:
    """Kaplan-Meier curves with CI bands, censoring marks, log-rank P and the number at risk.

    Groups are named by the dictionary's level labels (``HER2-negative``, ``HER2-positive``, not
    ``her2_status=negative``); the number-at-risk rows are coloured like their curves. Times are
    shown in ``time_unit`` (days, weeks, months, years) converted from ``data_unit`` (the
    dictionary's survival times are in days); ``risk_times`` are in ``time_unit``.
    """
    if type(km).__name__ != "KaplanMeierResult":
        raise InputError(f"km_figure needs a KaplanMeierResult, got {type(km).__name__}")
    unit = time_unit or data_unit
    L = as_labels(labels, known=[km.group] if km.group else [], source="labels")
    groups = list(dict.fromkeys(km.table["group"].tolist()))

    def gname(g: Any) -> str:
        if km.group is None or g is None or (isinstance(g, float) and np.isnan(g)):
            return "All patients"
        return L.group_level(km.group, g)

    tmax = float(convert_time(km.table["time"].max(), unit, data_unit))
    ticks = (np.asarray(risk_times, float) if risk_times is not None else _nice_time_ticks(tmax, unit))
    ticks = ticks[(ticks >= 0) & (ticks <= tmax * 1.02)]
    at = km.survival_at(convert_time(ticks, data_unit, unit) if len(ticks) else ticks)
    with journal_style(style) as st:
        risk_h = (len(groups) + 1.4) * st.small_size * 1.5 / 72
        fig = _figure(st, width, height_in=st.width_in(width) * 0.62 + risk_h + 0.35)
        gs = fig.add_gridspec(2, 1, height_ratios=[st.width_in(width) * 0.62, risk_h])
        ax = fig.add_subplot(gs[0])
        rx = fig.add_subplot(gs[1], sharex=ax)
        for i, g in enumerate(groups):
            c = PALETTE[i % len(PALETTE)]
            tab = km.table[km.table["group"] == g] if g is not None else km.table
            t = convert_time(tab["time"].to_numpy(), unit, data_unit)
            x = np.concatenate([[0.0], t])
            y = np.concatenate([[1.0], tab["survival"].to_numpy()])
            ax.step(x, y, where="post", color=c, label=gname(g))
            if ci:
                lo = np.concatenate([[1.0], tab["ci_low"].to_numpy()])
                hi = np.concatenate([[1.0], tab["ci_high"].to_numpy()])
                ax.fill_between(x, lo, hi, step="post", color=c, alpha=0.13, linewidth=0)
            cens = tab["n_censor"].to_numpy() > 0
            ax.plot(t[cens], tab["survival"].to_numpy()[cens], "|", color=c, markersize=4, markeredgewidth=0.7)
        ax.set(ylim=(0, 1.02), xlim=(0, tmax * 1.02), ylabel=ylabel)
        ax.set_xticks(ticks)
        ax.tick_params(labelbottom=True)
        ax.set_xlabel(xlabel or time_label(unit))
        if km.group is not None:
            ax.legend(loc="lower left", handlelength=1.4)
        if km.logrank is not None:
            ax.text(0.98, 0.04, f"Log-rank P {_p_eq(km.logrank.p_value)}", transform=ax.transAxes, ha="right",
                    fontsize=st.small_size)
        # number at risk: one row per group, in the group's colour
        rx.set_ylim(-0.6, len(groups) - 0.4)
        rx.set_yticks(range(len(groups)))
        rx.set_yticklabels([gname(g) for g in groups[::-1]])
        for lab, i in zip(rx.get_yticklabels(), range(len(groups))[::-1]):
            lab.set_color(PALETTE[i % len(PALETTE)])
        for i, g in enumerate(groups):
            sub = at[at["group"] == g] if km.group is not None else at
            yrow = len(groups) - 1 - i
            for x, cnt in zip(ticks, sub["n_risk"].astype(int).tolist()):
                rx.text(x, yrow, str(cnt), ha="center", va="center", color=PALETTE[i % len(PALETTE)],
                        fontsize=st.small_size)
        for side in ("top", "right", "bottom", "left"):
            rx.spines[side].set_visible(False)
        rx.tick_params(axis="x", bottom=False, labelbottom=False)
        widest = max((len(str(int(v))) for v in at["n_risk"]), default=1)
        rx.tick_params(axis="y", length=0, pad=widest * st.small_size * 0.32 + 4)  # clear of the count at 0
        rx.set_title("At risk", loc="left", fontsize=st.small_size, fontweight="bold")
        if title:
            ax.set_title(title)
    return _detached(fig)


def _p_eq(p: float) -> str:
    s = fmt_p(p)
    return s.replace("<", "< ").replace(">", "> ") if s.startswith(("<", ">")) else f"= {s}"


# ---------------------------------------------------------------------------------- SHAP
def feature_label(name: str, labels: Labels | None = None) -> str:
    """Display name of a model feature: a dictionary column (``ki67`` -> ``Ki-67 (%)``), a one-hot
    column ``<column>_<level>`` (``pr_positive`` -> ``PR-positive``, ``grade_3`` -> ``Histological
    grade: 3``), or the name itself."""
    from ..data.dictionary import load_dictionary

    L = labels or Labels({})
    known = set(load_dictionary()) | set(L.overrides)
    if name in known:
        return L.var(name)
    if name in ("deep_score",):
        return "Deep Score"
    for k in sorted(known, key=len, reverse=True):
        if name.startswith(k + "_"):
            return L.group_level(k, name[len(k) + 1:])
    return name


def shap_figure(summary: Any, max_features: int = 15, model_name: str | None = None, labels: Any = None,
                style: Any = None, width: Any = "single", cohort: str = "development cohort") -> Any:
    """SHAP summary (beeswarm): one row per feature (most important first), each patient a dot at
    its SHAP value, coloured by the feature's value (colour bar low -> high); the title names the
    model explained."""
    if type(summary).__name__ != "ShapSummary":
        raise InputError(f"shap_figure needs a ShapSummary (her2stats.models.shap_summary), got {type(summary).__name__}")
    L = as_labels(labels)
    top = list(summary.to_frame().index[:max_features])
    with journal_style(style) as st:
        fig = _figure(st, width, height_in=(len(top) * st.small_size * 2.5 + 75) / 72)
        ax = fig.add_subplot(111)
        rng = np.random.default_rng(0)
        ypos = np.arange(len(top))[::-1]
        sc = None
        for yp, feat in zip(ypos, top):
            vals = summary.values[feat].to_numpy(dtype=float)
            x = summary.data[feat].to_numpy(dtype=float)
            span = np.nanmax(x) - np.nanmin(x) if len(x) else 0.0
            colour = (x - np.nanmin(x)) / span if span > 0 else np.full(len(x), 0.5)
            jitter = rng.uniform(-0.28, 0.28, size=len(vals))
            sc = ax.scatter(vals, yp + jitter, c=colour, cmap="coolwarm", s=5, vmin=0, vmax=1, linewidths=0,
                            rasterized=True)
        ax.axvline(0, color="0.5", lw=0.7)
        ax.set_yticks(ypos)
        ax.set_yticklabels([feature_label(f, L) for f in top])
        ax.tick_params(axis="y", length=0)
        ax.set_xlabel(f"SHAP value (impact on the {'log-odds' if summary.output == 'log-odds' else 'predicted probability'})")
        if sc is not None:
            cb = fig.colorbar(sc, ax=ax, aspect=30, pad=0.02, ticks=[0, 1])
            cb.ax.set_yticklabels(["Low", "High"])
            cb.set_label("Feature value", fontsize=st.small_size)
            cb.outline.set_linewidth(0.4)
        name = model_name or "model"
        ax.set_title(f"{name}: SHAP values, {cohort}")
    return _detached(fig)


# ---------------------------------------------------------------------------------- Grad-CAM
def gradcam_figure(image: Any, heatmap: Any, title: str = "", alpha: float = 0.4, style: Any = None,
                   width: Any = "single") -> Any:
    """Grad-CAM heatmap over the ROI image (:func:`her2stats.models.overlay_heatmap`), with the
    plain ROI beside it so the reader sees what lies under the colour."""
    from ..models import overlay_heatmap

    img = np.asarray(image, dtype=float)
    with journal_style(style) as st:
        fig = _figure(st, width, aspect=0.55)
        axes = fig.subplots(1, 2)
        show = img.mean(axis=0) if img.ndim == 3 and img.shape[0] in (1, 3) else img
        axes[0].imshow(show, cmap="gray")
        axes[0].set_axis_off()
        axes[0].set_title("ROI")
        overlay_heatmap(img, np.asarray(heatmap, dtype=float), ax=axes[1], alpha=alpha)
        axes[1].set_title("Grad-CAM")
        if title:
            fig.suptitle(title, fontsize=st.title_size)
    return _detached(fig)


def gradcam_panels(cases: Sequence[Mapping[str, Any]], style: Any = None, width: Any = "double", alpha: float = 0.45,
                   letters: bool = True, title: str = "", scale_label: str = "Grad-CAM (relative)") -> Any:
    """Grad-CAM of several patients: one column per patient (ROI above, heatmap overlay below),
    lettered A, B, C..., with one colour bar for the heatmaps (0 = no evidence, 1 = the strongest;
    give maps on one scale, e.g. raw CAMs divided by their common maximum, to compare patients).

    ``cases``: ``[{"image": (H, W) array, "heatmap": (H, W) in [0, 1], "title": "HER2-positive,
    Deep Score 1.2"}, ...]``.
    """
    if not cases:
        raise InputError("gradcam_panels needs at least one case")
    n = len(cases)
    with journal_style(style) as st:
        w = st.width_in(width)
        fig = _figure(st, width, height_in=2 * (w / n) * 0.98 + 0.45)
        axes = fig.subplots(2, n, squeeze=False)
        im = None
        for j, case in enumerate(cases):
            img = np.asarray(case["image"], dtype=float)
            img = img.mean(axis=0) if img.ndim == 3 else img
            heat = np.asarray(case["heatmap"], dtype=float)
            if img.shape != heat.shape:
                raise InputError(f"gradcam_panels: case {j}: image shape {img.shape} differs from heatmap {heat.shape}")
            axes[0, j].imshow(img, cmap="gray")
            axes[1, j].imshow(img, cmap="gray")
            im = axes[1, j].imshow(heat, cmap="jet", alpha=alpha, vmin=0, vmax=1)
            for a in axes[:, j]:
                a.set_xticks([])
                a.set_yticks([])
                for s in a.spines.values():
                    s.set_visible(False)
            axes[0, j].set_title(str(case.get("title", "")), fontsize=st.small_size)
        axes[0, 0].set_ylabel("ROI", fontsize=st.small_size)
        axes[1, 0].set_ylabel("Grad-CAM", fontsize=st.small_size)
        if letters:
            for j in range(n):
                axes[0, j].text(0.02, 0.98, chr(ord("A") + j), transform=axes[0, j].transAxes, ha="left", va="top",
                                color="white", fontweight="bold", fontsize=st.title_size + 1)
        cb = fig.colorbar(im, ax=axes[1, :].tolist(), shrink=0.9, aspect=15, pad=0.01, ticks=[0, 0.5, 1])
        cb.set_label(scale_label, fontsize=st.small_size)
        cb.outline.set_linewidth(0.4)
        if title:
            fig.suptitle(title, fontsize=st.title_size)
    return _detached(fig)


# ---------------------------------------------------------------------------------- LASSO
def lasso_figure(res: Any, lambda_rule: str = "1se", style: Any = None, width: Any = "double") -> Any:
    """LASSO coefficient paths (left) and the cross-validated deviance curve (right, the
    result's own ``.plot()``), both against log(lambda) with the chosen lambdas marked."""
    if type(res).__name__ != "LassoCVResult":
        raise InputError(f"lasso_figure needs a LassoCVResult, got {type(res).__name__}")
    loglam = np.log(res.lambdas)
    with journal_style(style) as st:
        fig = _figure(st, width, aspect=0.4)
        ax1, ax2 = fig.subplots(1, 2)
        coef = res.coef.to_numpy()
        active = np.flatnonzero((coef != 0).any(axis=1))
        for j in active:
            ax1.plot(loglam, coef[j], lw=0.7)
        for lam, ls, name in ((res.lambda_min, "--", "lambda.min"), (res.lambda_1se, ":", "lambda.1se")):
            ax1.axvline(np.log(lam), color="0.3", ls=ls, lw=0.8, label=f"{name} = {lam:.3g}")
        ax1.legend(loc="best")
        ax1.set_xlabel("log(lambda)")
        ax1.set_ylabel("Coefficient")
        ax1.set_title(f"Coefficient paths ({len(active)} of {coef.shape[0]} features ever non-zero)")
        res.plot(ax=ax2)
        ax2.set_xlabel("log(lambda)")
        ax2.set_ylabel("Binomial deviance (CV)")
        ax2.set_title(f"{len(res.selected(lambda_rule))} features kept at lambda.{lambda_rule}")
        add_panel_letters([ax1, ax2], style=st)
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
