"""Journal figures: each writes PNG (300 dpi) / PDF / SVG, shows the numbers of its result object
(legend AUCs with CIs, log-rank P, treat-all/none), and rejects the wrong result type."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import numpy as np
import pytest

from her2stats.data import load_demo
from her2stats.errors import InputError
from her2stats.reporting import figures as F
from her2stats.reporting.format import fmt_ci


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
        out += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
    return " | ".join(out)


def _png_has_ink(path):
    import matplotlib.image as mpimg

    img = mpimg.imread(path)
    return float((img[..., :3] < 0.5).mean())


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
    paths = F.save(fig, tmp_path / "roc")
    assert [p.suffix for p in paths] == [".png", ".pdf", ".svg"]
    import matplotlib.image as mpimg

    h, w = mpimg.imread(paths[0]).shape[:2]
    assert min(h, w) > 900  # 300 dpi for a ~4 inch figure
    assert 0.002 < _png_has_ink(paths[0]) < 0.5


def test_km_figure_has_risk_table_and_logrank(demo, tmp_path):
    from her2stats.stats.survival import kaplan_meier

    km = kaplan_meier(demo, "rfs_time", "rfs_event", group="her2_status", engine="python")
    fig = F.km_figure(km, xlabel="Time (days)")
    text = _texts(fig)
    assert "log-rank" in text.lower() or "p =" in text.lower() or "p <" in text.lower()
    assert "At risk" in text  # number-at-risk table under the panel
    n_start = km.table.groupby("group")["n_risk"].max().astype(int).astype(str).tolist()
    assert all(n in text.split(" | ") for n in n_start)
    F.save(fig, tmp_path / "km")
    assert _png_has_ink(tmp_path / "km.png") > 0.002


def test_dca_calibration_forest_lasso_figures(demo, tmp_path):
    from her2stats.selection import lasso_cv
    from her2stats.stats.calibration import calibrate
    from her2stats.stats.dca import decision_curve
    from her2stats.stats.logistic import logistic_table
    from her2stats.stats.models import fit_lrm

    m = fit_lrm(demo, "her2_positive", ["age", "ki67", "grade"], engine="python")
    cal = calibrate(m, B=20, seed=1, engine="python")
    fig = F.calibration_figure(cal)
    labels = _texts(fig)
    assert "Apparent" in labels and "Bias-corrected" in labels and "Ideal" in labels
    F.save(fig, tmp_path / "cal")

    dc = decision_curve(demo["her2_positive"].astype(int), {"clinical": m.predict(demo)},
                        thresholds=np.arange(0.05, 0.8, 0.05), engine="python")
    fig = F.decision_curve_figure(dc)
    labels = _texts(fig)
    assert "Treat all" in labels and "Treat none" in labels and "Clinical model" in labels
    F.save(fig, tmp_path / "dca")

    lt = logistic_table(demo, "her2_positive", ["age", "er", "grade"], engine="python")
    fig = F.forest_figure(lt)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and len(ax.get_yticklabels()) == len(lt.frame)
    F.save(fig, tmp_path / "forest")

    X = demo[["age", "ki67", "tumor_size_mm", "adc"]].astype(float)
    res = lasso_cv(X, demo["her2_positive"].astype(int), cv=5, seed=0, engine="python")
    fig = F.lasso_figure(res)
    assert len(fig.axes) == 2 and "lambda" in fig.axes[0].get_xlabel()
    F.save(fig, tmp_path / "lasso")
    for stem in ("cal", "dca", "forest", "lasso"):
        assert _png_has_ink(tmp_path / f"{stem}.png") > 0.002, stem


def test_nomogram_gradcam_shap_figures(demo, tmp_path):
    from sklearn.linear_model import LogisticRegression

    from her2stats.models import shap_summary
    from her2stats.stats.models import fit_lrm
    from her2stats.stats.nomogram import nomogram

    nom = nomogram(fit_lrm(demo, "her2_positive", ["age", "grade"], engine="python"), engine="python")
    F.save(F.nomogram_figure(nom), tmp_path / "nom")
    img = np.linspace(0, 1, 64 * 64).reshape(64, 64)
    heat = np.zeros((64, 64))
    heat[20:40, 20:40] = 1.0
    fig = F.gradcam_figure(img, heat)
    assert [a.get_title() for a in fig.axes] == ["ROI", "Grad-CAM"]
    F.save(fig, tmp_path / "gradcam")
    X = demo[["age", "ki67", "tumor_size_mm"]].astype(float)
    y = demo["her2_positive"].astype(int)
    sv = shap_summary(LogisticRegression(max_iter=1000).fit(X, y), X.iloc[:80], background=X.iloc[80:180])
    F.save(F.shap_figure(sv), tmp_path / "shap")
    for stem in ("nom", "gradcam", "shap"):
        assert _png_has_ink(tmp_path / f"{stem}.png") > 0.002, stem


def test_wrong_result_types_are_rejected():
    with pytest.raises(InputError, match="CalibrationCurve"):
        F.calibration_figure(object())
    with pytest.raises(InputError, match="LogisticTable or CoxResult"):
        F.forest_figure(object())
    with pytest.raises(InputError, match="at least one"):
        F.roc_figure({}, {})
