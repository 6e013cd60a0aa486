"""nomogram: points per value and total-points -> outcome axes vs rms::nomogram (1e-6)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from her2stats.errors import InputError
from her2stats.stats.models import fit_lrm
from her2stats.stats.nomogram import nomogram, r_pretty

COVS = ["age", "lwt", "race", "smoke", "ptd", "ht", "ui", "ftv"]


def _same_table(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert len(a) == len(b)
    assert list(a["variable"]) == list(b["variable"])
    assert [str(v) if isinstance(v, str) else float(v) for v in a["value"]] == \
        [str(v) if isinstance(v, str) else float(v) for v in b["value"]]
    assert np.allclose(a["points"].astype(float), b["points"].astype(float), atol=1e-6, rtol=0)


@pytest.mark.r
@pytest.mark.parametrize("lo,hi,n", [(0.1234, 0.987, 10), (-3.2, 2.71, 10), (0, 173.3, 10), (14, 45, 10),
                                     (1e-5, 3e-5, 5), (-0.001234, 5.6, 7), (7.0, 7.0, 10)])
def test_r_pretty_matches_r(lo, hi, n):
    from her2stats import r_bridge

    ours = r_pretty([lo, hi], n=n)
    theirs = np.atleast_1d(np.asarray(r_bridge.r_eval(f"pretty(c({lo!r}, {hi!r}), n = {n})"), float))
    assert len(ours) == len(theirs)
    assert np.allclose(ours, theirs, atol=1e-12 * max(1, abs(hi)), rtol=0)


@pytest.mark.r
def test_logistic_nomogram_matches_rms(bwt):
    m = fit_lrm(bwt, "low", COVS, rcs={"lwt": 4}, engine="r")
    py = nomogram(m, engine="python")
    r = nomogram(m, engine="r")
    _same_table(py.points_table(), r.points_table())
    assert py.scale == pytest.approx(r.scale, abs=1e-9)
    assert py.intercept == pytest.approx(r.intercept, abs=1e-9)
    assert np.allclose(py.total_points, r.total_points)
    assert np.allclose(py.lp["points"], r.lp["points"], atol=1e-6)


def test_nomogram_scores_reproduce_the_model(bwt):
    m = fit_lrm(bwt, "low", COVS, rcs={"lwt": 4}, engine="python")
    nom = nomogram(m, engine="python")
    s = nom.score(bwt)
    # lp = intercept + total / scale, so the nomogram reproduces the model's predictions exactly
    assert np.allclose(nom.intercept + s["total_points"] / nom.scale, m.linear_predictor(bwt), atol=1e-10)
    assert np.allclose(s["Risk"], m.predict(bwt), atol=1e-12)
    pts = nom.variables
    # the widest predictor spans exactly 0..100 points; every predictor starts at 0
    assert pts.groupby("variable")["points"].min().abs().max() < 1e-12
    assert pts["points"].max() == pytest.approx(100.0)
    # categorical points are the coefficient differences times the scale
    race = pts[pts.variable == "race"].set_index("value")["points"]
    assert race["black"] - race["white"] == pytest.approx(m.coefficients["race=black"] * nom.scale, abs=1e-10)


@pytest.mark.r
def test_cox_survival_nomogram_matches_rms(test_data_dir):
    from her2stats.stats.survival import fit_cph

    lung = pd.read_csv(test_data_dir / "lung.csv")
    lung = lung.assign(dead=lung.status - 1, sex=lung.sex.map({1: "male", 2: "female"}))
    cm = fit_cph(lung, "time", "dead", ["age", "sex", "ph.ecog"], engine="r")
    py = nomogram(cm, fun=("survival", [180, 365]), time_unit="day", engine="python")
    r = nomogram(cm, fun=("survival", [180, 365]), time_unit="day", engine="r")
    _same_table(py.points_table(), r.points_table())
    assert list(py.outcome_axes) == ["180-day survival", "365-day survival"]
    assert py.scale == pytest.approx(r.scale, abs=1e-9)


def test_plots_and_bad_input(bwt, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    m = fit_lrm(bwt, "low", ["age", "race", "smoke"], engine="python")
    nom = nomogram(m, engine="python")
    assert nom.plot() is not None
    with pytest.raises(InputError, match="risk"):
        nomogram(m, fun=("survival", [1]), engine="python")
    with pytest.raises(InputError, match="LogisticModel"):
        nomogram("not a model", engine="python")
    with pytest.raises(InputError, match=r"\.png"):
        nom.save_r_plot(tmp_path / "nomogram.gif")


@pytest.mark.r
def test_save_r_plot_writes_file(bwt, tmp_path):
    m = fit_lrm(bwt, "low", ["age", "race", "smoke"], engine="r")
    nom = nomogram(m, engine="r")
    for ext in ("png", "pdf"):
        out = nom.save_r_plot(tmp_path / f"nomogram.{ext}")
        assert out.exists() and out.stat().st_size > 1000
