"""Figures the seed papers print: ICC histograms with retained-feature bars (seed 000 Figs 2-5),
LASSO paths and CV curve with lambda.min / lambda.1se, harmonisation before/after histograms,
training curves and Grad-CAM slice panels (drawn from synthetic inputs here; the training tests
draw them from trained networks)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from her2stats.errors import InputError
from her2stats.reporting import figures as F


def test_icc_figure_counts_retained_features_with_the_papers_rule():
    rng = np.random.default_rng(0)
    icc = pd.Series(np.r_[rng.uniform(0.3, 0.99, 40), [0.9, 0.9]], index=[f"f{i}" for i in range(42)])
    fig = F.icc_figure({"T1": icc, "T2": icc.clip(upper=0.95)}, threshold=0.9, comparison=">=")
    assert len(fig.axes) == 4
    n_ge = int((icc >= 0.9).sum())
    assert f"{n_ge} of 42 features with ICC >= 0.9" in fig.axes[0].get_title()
    bars = fig.axes[1].patches
    labels = [t.get_text() for t in fig.axes[1].get_xticklabels()]
    assert bars[labels.index("0.9")].get_height() == n_ge
    strict = F.icc_figure(icc, threshold=0.9, comparison=">")
    assert f"{int((icc > 0.9).sum())} of 42 features with ICC > 0.9" in strict.axes[0].get_title()
    with pytest.raises(InputError, match="comparison"):
        F.icc_figure(icc, comparison="=")


def test_icc_figure_takes_a_fitted_filter():
    from her2stats.selection import ICCFilter

    rng = np.random.default_rng(1)
    rep = rng.normal(size=(25, 1, 6)) + rng.normal(scale=0.5, size=(25, 2, 6))
    f = ICCFilter(threshold=0.7, comparison=">").fit(rep)
    fig = F.icc_figure(f, threshold=0.7, comparison=">")
    assert f"{int(f.support_.sum())} of 6" in fig.axes[0].get_title()


def test_lasso_figure_marks_lambda_min_and_1se():
    from her2stats.selection import lasso_cv

    rng = np.random.default_rng(3)
    X = pd.DataFrame(rng.normal(size=(120, 8)), columns=[f"x{i}" for i in range(8)])
    y = (X["x0"] - X["x1"] + rng.normal(size=120) > 0).astype(int)
    res = lasso_cv(X, y, cv=5, engine="python")
    fig = F.lasso_figure(res)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any(t.startswith("lambda.min") for t in legend) and any(t.startswith("lambda.1se") for t in legend)
    xs = [line.get_xdata()[0] for line in fig.axes[1].get_lines() if len(set(line.get_xdata())) == 1]
    assert np.isclose(xs, np.log(res.lambda_min)).any() and np.isclose(xs, np.log(res.lambda_1se)).any()


def test_harmonization_figure_before_after():
    from her2stats.harmonization import ComBat

    rng = np.random.default_rng(5)
    n = 90
    batch = np.repeat(["s1", "s2", "s3"], 30)
    shift = {"s1": 0.0, "s2": 2.0, "s3": -1.5}
    X = pd.DataFrame(rng.normal(size=(n, 4)), columns=["a", "b", "c", "d"])
    X["a"] += [shift[b] for b in batch]
    data = X.assign(scanner=batch)
    after = ComBat(batch_col="scanner", features=["a", "b", "c", "d"], engine="python").fit_transform(data)
    after = after[["a", "b", "c", "d"]]
    fig = F.harmonization_figure(X, after, batch, n_features=2)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0] == "a: before" and titles[1] == "a: after ComBat"       # largest batch effect first
    with pytest.raises(InputError, match="same feature columns"):
        F.harmonization_figure(X, after.iloc[:, :3], batch)


def test_gradcam_slices_and_training_curve_errors():
    vol = np.random.default_rng(0).uniform(size=(8, 16, 16))
    heat = np.zeros_like(vol)
    heat[3:5, 4:9, 4:9] = 1.0
    mask = heat > 0
    fig = F.gradcam_slices_figure(vol, heat, mask=mask, n_slices=2)
    assert len(fig.axes) == 4 and all("slice" in ax.get_title() for ax in fig.axes[:2])
    with pytest.raises(InputError, match="same"):
        F.gradcam_slices_figure(vol, heat[:4])
    with pytest.raises(InputError, match="TrainingHistory"):
        F.training_curves_figure([object()])
