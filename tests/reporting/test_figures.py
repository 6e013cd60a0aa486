"""Journal figures: each writes PNG (300 dpi) / PDF / SVG / TIFF (600 dpi, LZW), shows the numbers of
its result object (legend AUCs with CIs, log-rank P, OR (95% CI) column), prints variables by their
dictionary labels, is drawn at a journal's column width, and rejects the wrong result type. The
reviewer's complaints of issue 21 are checked on the drawn figure (text extents, tick labels, colours)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import numpy as np
import pytest

from her2stats.data import load_demo
from her2stats.errors import InputError
from her2stats.reporting import figures as F
from her2stats.reporting.format import fmt_ci, fmt_ratio_ci
from her2stats.reporting.style import PALETTE, STYLES, get_style, resolve_font


@pytest.fixture(scope="module")
def demo():
    return load_demo()


def _texts(fig):
    out = []
    for ax in fig.axes:
        out += [t.get_text() for t in ax.texts]
        leg = ax.get_legend()
        if leg is not None:
            out += [t.get_text() for t in leg.get_texts()]
        out += [ax.get_title(), ax.get_title(loc="left"), ax.get_xlabel(), ax.get_ylabel()]
        out += [t.get_text() for t in ax.get_yticklabels()] + [t.get_text() for t in ax.get_xticklabels()]
    for leg in fig.legends:
        out += [t.get_text() for t in leg.get_texts()]
    return " | ".join(out)


def _png_has_ink(path):
    import matplotlib.image as mpimg

    img = mpimg.imread(path)
    return float((img[..., :3] < 0.5).mean())


def _renderer(fig):
    """A renderer for a figure the reporting functions handed back detached from pyplot."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    fig.canvas.draw()
    return fig.canvas.get_renderer()


def _letters(ax):
    return [t.get_text() for t in ax.texts if len(t.get_text()) == 1 and t.get_fontweight() == "bold"]


def _overlap(a, b, pad=0.0):
    return not (a.x1 + pad <= b.x0 or b.x1 + pad <= a.x0 or a.y1 + pad <= b.y0 or b.y1 + pad <= a.y0)


def test_roc_figure_legend_and_files(tmp_path):
    from her2stats.stats.roc import roc_auc

    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 150)
    curves = {"clinical": (y, y + rng.normal(0, 1, 150)), "combined": (y, y + rng.normal(0, 0.7, 150))}
    aucs = {k: roc_auc(*v, engine="python") for k, v in curves.items()}
    fig = F.roc_figure(curves, aucs, title="External test")
    text = _texts(fig)
    for k, a in aucs.items():
        assert fmt_ci(a.auc, a.ci_low, a.ci_high) in text
    assert "Clinical model" in text and "1 \u2212 Specificity" in text
    paths = F.save(fig, tmp_path / "roc")
    assert [p.suffix for p in paths] == [".png", ".pdf", ".svg", ".tiff"]
    import matplotlib.image as mpimg

    h, w = mpimg.imread(paths[0]).shape[:2]
    assert min(h, w) > 900  # 300 dpi for a 90 mm figure
    assert 0.002 < _png_has_ink(paths[0]) < 0.5
    # TIFF as journals ask: 600 dpi, LZW, RGB without alpha
    from PIL import Image

    with Image.open(paths[3]) as im:
        assert im.mode == "RGB" and im.info.get("compression") == "tiff_lzw"
        assert tuple(round(v) for v in im.info["dpi"]) == (600, 600)
        assert im.size[0] == pytest.approx(2 * w, rel=0.05)  # twice the 300-dpi PNG


def test_roc_panels_letters_and_shared_legend(tmp_path):
    from her2stats.stats.roc import roc_auc

    rng = np.random.default_rng(2)
    panels = {}
    for name in ("Development", "Internal test", "External test"):
        y = rng.integers(0, 2, 120)
        curves = {"clinical": (y, y + rng.normal(0, 1, 120)), "deep_score": (y, y + rng.normal(0, 1.3, 120))}
        panels[name] = (curves, {k: roc_auc(*v, engine="python") for k, v in curves.items()})
    fig = F.roc_panels(panels)
    roc_axes = [ax for ax in fig.axes if ax.get_title()]
    assert [_letters(ax) for ax in roc_axes] == [["A"], ["B"], ["C"]]
    assert [ax.get_title() for ax in roc_axes] == list(panels)
    text = _texts(fig)
    for curves, aucs in panels.values():  # every panel prints its own AUCs (95% CI)
        for a in aucs.values():
            assert fmt_ci(a.auc, a.ci_low, a.ci_high) in text
    assert len(fig.legends) == 1 and {t.get_text() for t in fig.legends[0].get_texts()} == {"Clinical model", "Deep Score"}
    assert fig.get_size_inches()[0] == pytest.approx(180 / 25.4)  # double column
    F.save(fig, tmp_path / "panels", formats=("png",))
    assert _png_has_ink(tmp_path / "panels.png") > 0.002


def test_km_figure_labels_risk_table_colours_and_units(demo, tmp_path):
    from her2stats.stats.survival import kaplan_meier

    km = kaplan_meier(demo, "rfs_time", "rfs_event", group="her2_status", engine="python")
    fig = F.km_figure(km, time_unit="months")
    text = _texts(fig)
    assert "Log-rank P" in text
    assert "At risk" in text  # number-at-risk table under the panel
    n_start = km.table.groupby("group")["n_risk"].max().astype(int).astype(str).tolist()
    assert all(n in text.split(" | ") for n in n_start)
    ax, rx = fig.axes[0], fig.axes[1]
    # the legend reads HER2-negative / HER2-positive (dictionary level labels), never her2_status=...
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["HER2-negative", "HER2-positive"] and "her2_status=" not in text
    # risk-table rows and counts are coloured like their curves
    line_colours = {ln.get_label(): matplotlib.colors.to_hex(ln.get_color()) for ln in ax.get_lines()
                    if not ln.get_label().startswith("_")}
    for lab in rx.get_yticklabels():
        assert matplotlib.colors.to_hex(lab.get_color()) == line_colours[lab.get_text()]
    count_colours = {matplotlib.colors.to_hex(t.get_color()) for t in rx.texts}
    assert count_colours == set(line_colours.values())
    # months: 365.25/12 days each, ticks on multiples of 12
    assert ax.get_xlabel() == "Time (months)"
    assert ax.get_xlim()[1] == pytest.approx(km.table["time"].max() / (365.25 / 12) * 1.02)
    assert all(t % 12 == 0 for t in ax.get_xticks())
    fig_y = F.km_figure(km, time_unit="years")
    assert fig_y.axes[0].get_xlim()[1] == pytest.approx(km.table["time"].max() / 365.25 * 1.02)
    # labels= overrides the dictionary
    fig_l = F.km_figure(km, labels={"her2_status": {"levels": {"positive": "HER2+", "negative": "HER2\u2212"}}})
    assert [t.get_text() for t in fig_l.axes[0].get_legend().get_texts()] == ["HER2\u2212", "HER2+"]
    F.save(fig, tmp_path / "km", formats=("png",))
    assert _png_has_ink(tmp_path / "km.png") > 0.002


def test_calibration_axes_follow_predictions_with_histogram(demo, tmp_path):
    from her2stats.stats.calibration import calibrate
    from her2stats.stats.models import fit_lrm

    m = fit_lrm(demo, "her2_positive", ["age", "er"], engine="python")  # weak model: low predictions
    cal = calibrate(m, B=20, seed=1, engine="python")
    fig = F.calibration_figure(cal)
    labels = _texts(fig)
    assert "Apparent" in labels and "Bias-corrected" in labels and "Ideal" in labels
    ax, hx = fig.axes[0], fig.axes[1]
    top = float(np.max(cal.predictions))
    assert top < 0.8  # this model never predicts near 1, so a 0-1 axis would waste the panel
    assert top <= ax.get_xlim()[1] <= top + 0.15 and ax.get_xlim()[1] < 1.0
    assert ax.get_xlim() == ax.get_ylim()
    # the histogram underneath counts every prediction
    assert sum(p.get_height() for p in hx.patches) == len(cal.predictions)
    assert hx.get_xlabel() == "Predicted probability"
    F.save(fig, tmp_path / "cal", formats=("png",))


def test_decision_curve_range_forest_columns_lasso(demo, tmp_path):
    from her2stats.selection import lasso_cv
    from her2stats.stats.dca import decision_curve
    from her2stats.stats.logistic import logistic_table
    from her2stats.stats.models import fit_lrm

    m = fit_lrm(demo, "her2_positive", ["age", "ki67", "grade"], engine="python")
    dc = decision_curve(demo["her2_positive"].astype(int), {"clinical": m.predict(demo)},
                        thresholds=np.arange(0.01, 0.95, 0.01), engine="python")
    fig = F.decision_curve_figure(dc, xlim=(0.05, 0.5))
    labels = _texts(fig)
    assert "Treat all" in labels and "Treat none" in labels and "Clinical model" in labels
    ax = fig.axes[0]
    assert ax.get_xlim() == pytest.approx((0.05, 0.5))
    for line in ax.get_lines():  # nothing drawn outside the clinically relevant range
        x = np.asarray(line.get_xdata(), float)
        if len(x) > 2:
            assert x.min() >= 0.05 - 1e-9 and x.max() <= 0.5 + 1e-9
    # y axis spans the net benefit inside that range
    nb = dc.table[(dc.table["threshold"] >= 0.05) & (dc.table["threshold"] <= 0.5) & (dc.table["strategy"] != "none")]
    assert ax.get_ylim()[1] == pytest.approx(nb["net_benefit"].max() * 1.08)
    with pytest.raises(InputError, match="xlim"):
        F.decision_curve_figure(dc, xlim=(0.6, 0.2))
    F.save(fig, tmp_path / "dca", formats=("png",))

    lt = logistic_table(demo, "her2_positive", ["age", "er", "grade"], engine="python")
    fig = F.forest_figure(lt)
    ax, tx = fig.axes[0], fig.axes[1]
    assert ax.get_xscale() == "log" and len(ax.get_yticklabels()) == len(lt.frame)
    # linear tick labels on the log axis: 0.5, 1, 2 ... never 10^0 or 2 x 10^0
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert "1" in ticks and all("^" not in t and "times" not in t and "e" not in t for t in ticks)
    assert not ax.xaxis.get_minor_ticks() or all(not t.label1.get_text() for t in ax.xaxis.get_minor_ticks())
    rows = [t.get_text() for t in ax.get_yticklabels()]
    assert "Age (years)" in rows and "ER-positive vs ER-negative" in rows and "Histological grade: 3 vs 1" in rows
    col = [t.get_text() for t in tx.texts]
    assert "OR (95% CI)" in col and "P" in col
    r = lt.frame.set_index(["variable", "level"]).loc[("grade", "3")]
    assert fmt_ratio_ci(r["multi_or"], r["multi_ci_low"], r["multi_ci_high"]) in col
    F.save(fig, tmp_path / "forest", formats=("png",))

    X = demo[["age", "ki67", "tumor_size_mm", "adc"]].astype(float)
    res = lasso_cv(X, demo["her2_positive"].astype(int), cv=5, seed=0, engine="python")
    fig = F.lasso_figure(res)
    assert len(fig.axes) == 2 and "lambda" in fig.axes[0].get_xlabel()
    assert [_letters(a) for a in fig.axes] == [["A"], ["B"]]
    r = _renderer(fig)  # the letter sits left of a long centred title, never on it
    ax = fig.axes[0]
    letter = next(t for t in ax.texts if t.get_text() == "A").get_window_extent(r)
    assert not _overlap(letter, ax.title.get_window_extent(r))
    F.save(fig, tmp_path / "lasso", formats=("png",))
    for stem in ("dca", "forest", "lasso"):
        assert _png_has_ink(tmp_path / f"{stem}.png") > 0.002, stem


def test_cox_forest_uses_level_labels(demo):
    from her2stats.stats.survival import cox

    res = cox(demo, "rfs_time", "rfs_event", ["her2_status", "age", "grade"], engine="python")
    fig = F.forest_figure(res)
    rows = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert "HER2-positive vs HER2-negative" in rows and "Age (years)" in rows
    assert "HR (95% CI)" in [t.get_text() for t in fig.axes[1].texts]


def _nomogram_label_boxes(fig):
    renderer = _renderer(fig)
    ax = fig.axes[0]
    names = [t for t in ax.texts if t.get_ha() == "right"]
    ticks = [t for t in ax.texts if t.get_ha() == "center"]
    return ([t.get_window_extent(renderer) for t in names], [t.get_window_extent(renderer) for t in ticks],
            [t.get_text() for t in names], fig.bbox)


@pytest.mark.parametrize("style", ["default", "nature"])
def test_nomogram_labels_never_collide_or_overrun_names(demo, style, tmp_path):
    from her2stats.stats.models import fit_lrm
    from her2stats.stats.nomogram import nomogram

    # many tick values on short axes (ki67, tumour size) and level labels at the axis start (ER, PR)
    m = fit_lrm(demo, "her2_positive", ["age", "er", "pr", "grade", "ki67", "tumor_size_mm", "adc"], engine="python")
    nom = nomogram(m, engine="python")
    fig = F.nomogram_figure(nom, style=style, outcome_label="Probability of HER2-positive")
    names, ticks, name_text, fbox = _nomogram_label_boxes(fig)
    assert "Tumour size (mm)" in name_text and "Ki-67 (%)" in name_text and "ER status" in name_text
    assert "Probability of HER2-positive" in name_text
    levels = {t.get_text() for t in fig.axes[0].texts}
    assert {"ER-positive", "ER-negative"} <= levels
    pad = 0.5
    for i, a in enumerate(ticks):
        for b in ticks[i + 1:]:
            assert not _overlap(a, b, pad), "two tick labels overlap"
        for n in names:
            assert not _overlap(a, n, pad), "a tick label overruns an axis name"
    right_of_names = max(n.x1 for n in names)
    assert min(t.x0 for t in ticks) > right_of_names  # scales start right of every name
    for b in names + ticks:  # nothing leaves the figure
        assert b.x0 >= fbox.x0 - 1 and b.x1 <= fbox.x1 + 1
    F.save(fig, tmp_path / "nom", formats=("png",))
    assert _png_has_ink(tmp_path / "nom.png") > 0.002


def test_shap_colour_bar_and_model_name(demo, tmp_path):
    from sklearn.linear_model import LogisticRegression

    from her2stats.models import shap_summary

    X = demo[["age", "ki67", "tumor_size_mm"]].astype(float)
    y = demo["her2_positive"].astype(int)
    sv = shap_summary(LogisticRegression(max_iter=1000).fit(X, y), X.iloc[:80], background=X.iloc[80:180])
    fig = F.shap_figure(sv, model_name="Logistic regression")
    ax = fig.axes[0]
    assert "Logistic regression" in ax.get_title()
    assert len(fig.axes) == 2  # the colour bar
    cb = fig.axes[1]
    assert [t.get_text() for t in cb.get_yticklabels()] == ["Low", "High"] and cb.get_ylabel() == "Feature value"
    assert {t.get_text() for t in ax.get_yticklabels()} == {"Age (years)", "Ki-67 (%)", "Tumour size (mm)"}
    F.save(fig, tmp_path / "shap", formats=("png",))
    assert _png_has_ink(tmp_path / "shap.png") > 0.002


def test_feature_label_maps_one_hot_columns():
    assert F.feature_label("pr_positive") == "PR-positive"
    assert F.feature_label("grade_3") == "Histological grade: 3"
    assert F.feature_label("ki67") == "Ki-67 (%)"
    assert F.feature_label("deep_score") == "Deep Score"
    assert F.feature_label("texture_f0012") == "texture_f0012"  # unknown: its own name, never guessed


def test_gradcam_figures(tmp_path):
    img = np.linspace(0, 1, 64 * 64).reshape(64, 64)
    heat = np.zeros((64, 64))
    heat[20:40, 20:40] = 1.0
    fig = F.gradcam_figure(img, heat)
    assert [a.get_title() for a in fig.axes] == ["ROI", "Grad-CAM"]
    F.save(fig, tmp_path / "gradcam", formats=("png",))
    cases = [{"image": img, "heatmap": heat * k, "title": f"case {k}"} for k in (1.0, 0.5, 0.2)]
    fig = F.gradcam_panels(cases)
    texts = _texts(fig)
    assert "case 1.0" in texts and all(ch in texts for ch in ("A", "B", "C"))
    assert len(fig.axes) == 2 * 3 + 1  # ROI and overlay per case, and the colour bar
    F.save(fig, tmp_path / "panels", formats=("png",))
    with pytest.raises(InputError, match="differs"):
        F.gradcam_panels([{"image": img, "heatmap": heat[:10], "title": ""}])
    for stem in ("gradcam", "panels"):
        assert _png_has_ink(tmp_path / f"{stem}.png") > 0.002, stem


@pytest.mark.parametrize("name", sorted(STYLES))
def test_journal_styles_sizes_and_fonts(name, demo):
    st = get_style(name)
    assert 85 <= st.single_mm <= 90 and 170 <= st.double_mm <= 180
    assert st.tiff_dpi == 600 and st.png_dpi == 300
    if name != "default":  # journals ask for Arial / Helvetica (or a metric clone)
        assert resolve_font(name) in ("Arial", "Liberation Sans", "Helvetica", "Nimbus Sans", "DejaVu Sans")
    from her2stats.stats.survival import kaplan_meier

    km = kaplan_meier(demo, "rfs_time", "rfs_event", group="her2_status", engine="python")
    for width, mm in (("single", st.single_mm), ("double", st.double_mm)):
        fig = F.km_figure(km, style=name, width=width)
        assert fig.get_size_inches()[0] == pytest.approx(mm / 25.4)
        ax = fig.axes[0]
        assert ax.xaxis.label.get_fontsize() == pytest.approx(st.font_size)
        assert ax.get_xticklabels()[0].get_fontsize() == pytest.approx(st.small_size)
        assert ax.xaxis.label.get_fontfamily()[0] in (resolve_font(name), "sans-serif")


def test_styles_change_what_is_drawn(demo):
    from her2stats.stats.survival import kaplan_meier

    km = kaplan_meier(demo, "rfs_time", "rfs_event", group="her2_status", engine="python")
    a = F.km_figure(km, style="default").axes[0].xaxis.label.get_fontsize()
    b = F.km_figure(km, style="nature").axes[0].xaxis.label.get_fontsize()
    assert b < a  # Nature: 7 pt at most


def test_wrong_result_types_are_rejected():
    with pytest.raises(InputError, match="CalibrationCurve"):
        F.calibration_figure(object())
    with pytest.raises(InputError, match="LogisticTable or CoxResult"):
        F.forest_figure(object())
    with pytest.raises(InputError, match="at least one"):
        F.roc_figure({}, {})
    with pytest.raises(InputError, match="at least one"):
        F.roc_panels({})
    assert PALETTE[0] != PALETTE[1]
