"""Uncertainty drawn on the study figures (issue 17): ROC curves with the bootstrap sensitivity band
at fixed specificities (pROC ``ci.se``) and the operating point, decision curves with bootstrap
bands and the difference in net benefit against a reference model, flexible calibration curves
with bootstrap bands for every cohort, and the calibration-hierarchy table.

Each band is checked against the bootstrap it states: the replicates are drawn again here with the
same seed through :func:`her2stats.resampling.run_replicates` (seeded chunks) and recomputed by code
written in this file, and the band at a point must equal the percentile interval (numpy's linear
quantile, R type 7) of those replicate curves; the drawn polygon must pass through the band.
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import numpy as np
import pandas as pd
import pytest

from her2stats.errors import InputError
from her2stats.reporting import builders
from her2stats.reporting import figures as F
from her2stats.reporting.format import fmt_ci
from her2stats.resampling import bootstrap_indices, run_replicates


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(11)
    n = 220
    y = rng.integers(0, 2, n)
    clinical = 1 / (1 + np.exp(-(-0.4 + 1.1 * (y - 0.5) + rng.normal(0, 1.0, n))))
    combined = 1 / (1 + np.exp(-(-0.4 + 1.8 * (y - 0.5) + rng.normal(0, 1.0, n))))
    return y, clinical, combined


def _band_vertices(collection) -> np.ndarray:
    return np.concatenate([p.vertices for p in collection.get_paths()])


def _has_vertex(verts: np.ndarray, x: float, y: float) -> bool:
    return bool(np.any(np.isclose(verts[:, 0], x, atol=1e-12) & np.isclose(verts[:, 1], y, atol=1e-12)))


# --------------------------------------------------------------------------- ROC
def _sens_at_spec(pos: np.ndarray, neg: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """pROC coords(input="specificity"): the best sensitivity among points with exactly the target
    specificity, else linear interpolation between the neighbouring points of the empirical curve
    (positive when score >= cut-off)."""
    cuts = np.concatenate([np.unique(np.concatenate([pos, neg])), [np.inf]])
    se = np.array([(pos >= c).sum() for c in cuts]) / len(pos)
    sp = np.array([(neg < c).sum() for c in cuts]) / len(neg)
    out = np.empty(len(targets))
    for i, v in enumerate(targets):
        if (sp == v).any():
            out[i] = se[sp == v].max()
            continue
        below, above = sp < v, sp > v
        x0 = sp[below].max()
        y0 = se[below & (sp == x0)].min()
        x1 = sp[above].min()
        y1 = se[above & (sp == x1)].max()
        out[i] = y0 + (v - x0) / (x1 - x0) * (y1 - y0)
    return out


def test_roc_band_is_the_percentile_interval_of_the_bootstrap_curves(data, tmp_path):
    from her2stats.stats.diagnostics import choose_threshold, diagnostic_metrics
    from her2stats.stats.roc import roc_auc, sensitivity_at

    y, clinical, combined = data
    grid = F.ROC_BAND_SPECIFICITIES
    band = sensitivity_at(y, combined, specificity=grid, n_boot=200, seed=5, direction="<", engine="python")
    assert band.n_boot == 200 and band.method == "bootstrap"
    # the same seeded, chunked resamples drawn here: cases, then controls (pROC boot.stratified)
    pos, neg = combined[y == 1], combined[y == 0]
    targets = np.array([0.3, 0.5, 0.8, 0.9, 0.95])

    def fn(rng, k):
        out = np.empty((k, len(targets)))
        for b in range(k):
            ip, ineg = bootstrap_indices(rng, len(pos)), bootstrap_indices(rng, len(neg))
            out[b] = _sens_at_spec(pos[ip], neg[ineg], targets)
        return out

    reps = run_replicates(fn, 200, seed=5)
    tab = band.table.set_index("specificity")
    for j, v in enumerate(targets):
        lo, hi = np.quantile(reps[:, j], [0.025, 0.975])
        assert tab.loc[v, "ci_low"] == pytest.approx(lo, abs=1e-12), v
        assert tab.loc[v, "ci_high"] == pytest.approx(hi, abs=1e-12), v
        assert tab.loc[v, "sensitivity"] == pytest.approx(_sens_at_spec(pos, neg, [v])[0], abs=1e-12)
    # reproducible with the seed, different with another
    again = sensitivity_at(y, combined, specificity=grid, n_boot=200, seed=5, direction="<", engine="python")
    pd.testing.assert_frame_equal(again.table, band.table)
    other = sensitivity_at(y, combined, specificity=grid, n_boot=200, seed=6, direction="<", engine="python")
    assert not np.allclose(other.table["ci_low"], band.table["ci_low"])

    # the figure shades exactly that band and marks the development cut-off's operating point
    rule = choose_threshold(y, combined, rule="youden", direction="<", engine="python")
    d = diagnostic_metrics(y, combined, threshold=rule, engine="python")
    curves = {"clinical": (y, clinical), "combined": (y, combined)}
    aucs = {k: roc_auc(*v, direction="<", engine="python") for k, v in curves.items()}
    fig = F.roc_figure(curves, aucs, bands={"combined": band}, points={"combined": d})
    ax = fig.axes[0]
    assert len(ax.collections) == 1  # one band: only the model given one
    verts = _band_vertices(ax.collections[0])
    for v in targets:
        assert _has_vertex(verts, 1 - v, tab.loc[v, "ci_low"]) and _has_vertex(verts, 1 - v, tab.loc[v, "ci_high"])
    marks = [ln for ln in ax.get_lines() if ln.get_marker() == "o" and len(ln.get_xdata()) == 1]
    assert len(marks) == 1
    assert marks[0].get_xdata()[0] == pytest.approx(1 - d["specificity"])
    assert marks[0].get_ydata()[0] == pytest.approx(d["sensitivity"])
    assert F.POINT_LABEL in [t.get_text() for t in ax.get_legend().get_texts()]
    F.save(fig, tmp_path / "roc_band", formats=("png",))
    # panels: per-panel bands and points, the marker explained once in the shared legend
    fig = F.roc_panels({"Development": (curves, aucs), "External test": (curves, aucs)},
                       bands={"External test": {"combined": band}}, points={"External test": {"combined": d}})
    assert [len(a.collections) for a in fig.axes] == [0, 1]
    assert F.POINT_LABEL in [t.get_text() for t in fig.legends[0].get_texts()]
    F.save(fig, tmp_path / "roc_panels_band", formats=("png",))


def test_roc_band_rejects_what_is_not_a_bootstrap_band(data):
    from her2stats.stats.roc import roc_auc, sensitivity_at

    y, clinical, _ = data
    curves = {"clinical": (y, clinical)}
    aucs = {"clinical": roc_auc(y, clinical, direction="<", engine="python")}
    no_ci = sensitivity_at(y, clinical, specificity=[0.5, 0.9], ci=None, direction="<", engine="python")
    with pytest.raises(InputError, match="sensitivity_at"):
        F.roc_figure(curves, aucs, bands={"clinical": no_ci})
    with pytest.raises(InputError, match="points"):
        F.roc_figure(curves, aucs, points={"clinical": "youden"})


# --------------------------------------------------------------------------- decision curves
def test_decision_curve_bands_and_difference_come_from_the_bootstrap(data, tmp_path):
    from her2stats.stats.dca import decision_curve

    y, clinical, combined = data
    th = np.round(np.arange(0.05, 0.61, 0.05), 10)
    dc = decision_curve(y, {"clinical": clinical, "combined": combined}, thresholds=th, n_boot=200, seed=3,
                        engine="python")
    n = len(y)

    def nb(yy, p):  # net benefit TP/n - FP/n * t/(1-t) (Vickers & Elkin 2006)
        pos = p[:, None] >= th[None, :]
        return ((pos & (yy[:, None] == 1)).sum(0) - (pos & (yy[:, None] == 0)).sum(0) * th / (1 - th)) / len(yy)

    def fn(rng, k):
        out = np.empty((k, 2, len(th)))
        for b in range(k):
            i = bootstrap_indices(rng, n)
            out[b, 0], out[b, 1] = nb(y[i], clinical[i]), nb(y[i], combined[i])
        return out

    reps = run_replicates(fn, 200, seed=3)
    np.testing.assert_allclose(dc.boot[:, :2, :], reps, atol=1e-12)
    tab = dc.table[dc.table["strategy"] == "combined"]
    lo, hi = np.quantile(reps[:, 1, :], [0.025, 0.975], axis=0)
    np.testing.assert_allclose(tab["nb_ci_low"], lo, atol=1e-12)
    np.testing.assert_allclose(tab["nb_ci_high"], hi, atol=1e-12)
    diff = dc.difference("combined", "clinical")
    dlo, dhi = np.quantile(reps[:, 1, :] - reps[:, 0, :], [0.025, 0.975], axis=0)
    np.testing.assert_allclose(diff["ci_low"], dlo, atol=1e-12)
    np.testing.assert_allclose(diff["ci_high"], dhi, atol=1e-12)
    again = decision_curve(y, {"clinical": clinical, "combined": combined}, thresholds=th, n_boot=200, seed=3,
                           engine="python")
    np.testing.assert_array_equal(again.boot, dc.boot)

    fig = F.decision_curve_figure(dc, reference="clinical", xlim=(0.05, 0.6))
    ax, dx = fig.axes
    assert "\u0394 net benefit" in dx.get_ylabel() and "Clinical model" in dx.get_ylabel()
    assert len(ax.collections) == 2 and len(dx.collections) == 1  # a band per model; one difference
    verts = _band_vertices(dx.collections[0])
    for j, t in enumerate(th):
        assert _has_vertex(verts, t, dlo[j]) and _has_vertex(verts, t, dhi[j]), t
    diff_line = [ln for ln in dx.get_lines() if len(ln.get_xdata()) == len(th)][0]
    np.testing.assert_allclose(diff_line.get_ydata(), diff["difference"], atol=1e-12)
    F.save(fig, tmp_path / "dca_diff", formats=("png",))
    with pytest.raises(InputError, match="not a model"):
        F.decision_curve_figure(dc, reference="deep_score")
    plain = decision_curve(y, {"clinical": clinical}, thresholds=th, engine="python")
    with pytest.raises(InputError, match="n_boot"):
        F.decision_curve_figure(plain, reference="clinical")


# --------------------------------------------------------------------------- calibration
def test_calibration_band_is_the_percentile_interval_of_the_bootstrap_curves(data, tmp_path):
    from her2stats.stats._lowess import approx, lowess
    from her2stats.stats.calibration import calibration_hierarchy

    y, clinical, combined = data
    h = calibration_hierarchy(y=y, prob=combined, n_boot=150, seed=4, engine="python")
    grid = h.curve["predicted"].to_numpy()
    n = len(y)

    def fn(rng, k):  # resample (y, p) pairs; the lowess curve (iter=0, as rms) read on the grid
        out = np.full((k, len(grid)), np.nan)
        for b in range(k):
            i = bootstrap_indices(rng, n)
            if y[i].min() == y[i].max():
                continue
            sx, sy = lowess(combined[i], y[i])
            out[b] = approx(sx, sy, grid, ties="first")
        return out

    reps = run_replicates(fn, 150, seed=4)
    lo, hi = np.nanquantile(reps, [0.025, 0.975], axis=0)
    np.testing.assert_allclose(h.curve["ci_low"], lo, atol=1e-12)
    np.testing.assert_allclose(h.curve["ci_high"], hi, atol=1e-12)
    again = calibration_hierarchy(y=y, prob=combined, n_boot=150, seed=4, engine="python")
    pd.testing.assert_frame_equal(again.curve, h.curve)

    h2 = calibration_hierarchy(y=y, prob=clinical, n_boot=150, seed=4, engine="python")
    fig = F.calibration_band_figure({"Internal test": h, "External test": h2},
                                    predictions={"Internal test": combined, "External test": clinical})
    axes = [a for a in fig.axes if a.get_ylabel() != "Count" and a.get_xlabel() != "Predicted probability"]
    hists = [a for a in fig.axes if a.get_xlabel() == "Predicted probability"]
    assert len(axes) == 2 and len(hists) == 2
    verts = _band_vertices(axes[0].collections[0])
    for j in (5, 25, 45):
        assert _has_vertex(verts, grid[j], lo[j]) and _has_vertex(verts, grid[j], hi[j])
    legend = " | ".join(t.get_text() for t in axes[0].get_legend().get_texts())
    assert F.band_note(150) in legend  # the band says what it is and how many replicates
    s = h.table.loc["calibration slope"]
    assert fmt_ci(s["estimate"], s["ci_low"], s["ci_high"], digits=2) in " ".join(t.get_text() for t in axes[0].texts)
    assert sum(p.get_height() for p in hists[0].patches) == len(combined)
    assert {t.get_text() for a in axes for t in a.texts} >= {"A", "B"}
    F.save(fig, tmp_path / "cal_band", formats=("png",))
    with pytest.raises(InputError, match="CalibrationHierarchyResult"):
        F.calibration_band_figure({"x": object()})


def test_calibration_band_overlays_the_bias_corrected_development_curve(tmp_path):
    from her2stats.data import load_demo
    from her2stats.stats.calibration import calibrate, calibration_hierarchy
    from her2stats.stats.models import fit_lrm

    demo = load_demo()
    m = fit_lrm(demo, "her2_positive", ["age", "ki67", "grade"], engine="python")
    cal = calibrate(m, n_boot=30, seed=1, engine="python")
    h = calibration_hierarchy(model=m, n_boot=100, seed=1, engine="python")
    fig = F.calibration_band_figure({"Development": h}, predictions={"Development": m.predict()},
                                    corrected={"Development": cal})
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "Flexible (lowess), apparent" in legend and "Bias-corrected (B = 30)" in legend
    F.save(fig, tmp_path / "cal_dev", formats=("png",))


def test_calibration_hierarchy_table(data):
    from her2stats.stats.calibration import calibration_hierarchy

    y, clinical, combined = data
    res = {("clinical", "internal"): calibration_hierarchy(y=y, prob=clinical, n_boot=100, seed=1, engine="python"),
           ("combined", "external"): calibration_hierarchy(y=y, prob=combined, n_boot=100, seed=1, engine="python")}
    tab = builders.calibration_hierarchy_table(res)
    df = tab.data
    assert list(df["Cohort"].unique()) == ["Internal test", "External test"]
    t = res[("combined", "external")].table
    row = df[df["Model"] == "Combined model"].iloc[0]
    assert row["Slope (weak)"] == fmt_ci(t.loc["calibration slope", "estimate"], t.loc["calibration slope", "ci_low"],
                                         t.loc["calibration slope", "ci_high"], digits=2)
    assert "(" in row["ICI (moderate)"] and row["n (events)"] == f"{len(y)} ({int(y.sum())})"
    assert any("100 resamples" in f for f in tab.footnotes)
    with pytest.raises(InputError, match="CalibrationHierarchyResult"):
        builders.calibration_hierarchy_table({("a", "b"): object()})
