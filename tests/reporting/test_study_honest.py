"""Issue 17: no in-sample number presented as performance, the TRIPOD+AI checklist derived from
what was computed, and the ROC direction fixed on development data.

The memorising study: every predictor is pure noise, so no model can predict the outcome. A
random forest reproduces its training data (apparent development AUC ~1) and the apparent
DeLong test "finds" it far better than the logistic model; the study's development figures,
computed from out-of-fold predictions, must show no such advantage."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from her2stats.reporting.study import TRIPOD_EVIDENCE, numbers_have, run_study

NOISE = [f"noise{i}" for i in range(1, 9)]


@pytest.fixture(scope="module")
def noise_study(tmp_path_factory):
    import matplotlib

    matplotlib.use("Agg")
    tmp = tmp_path_factory.mktemp("noise_study")
    rng = np.random.default_rng(20261201)
    n = 320
    df = pd.DataFrame(rng.normal(size=(n, len(NOISE))), columns=NOISE)
    df.insert(0, "pid", [f"P{i:04d}" for i in range(n)])
    df["centre"] = np.where(np.arange(n) < 240, "A", "B")
    df["y"] = rng.binomial(1, 0.4, size=n)          # independent of every predictor
    df.to_csv(tmp / "noise.csv", index=False)
    cfg = {"name": "noise", "engine": "python",
           "cohort": {"source": "csv", "path": str(tmp / "noise.csv"), "outcome": "y", "id_column": "pid"},
           "splits": {"by": "center", "column": "centre", "train": ["A"], "external": ["B"], "internal_fraction": 0.0,
                      "seed": 1},
           "table1": {"group": "y", "variables": NOISE[:2], "by_cohort": True},
           "clinical": {"covariates": NOISE, "selection": "none"},
           "zoo": {"models": ["rf"], "cv": 3, "inner_cv": 2},
           "validation": {"n_boot": 25, "calibrate_n_boot": 25, "seed": 5},
           "report": {"figure_formats": ["png"], "gradcam_patients": 0}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = run_study(cfg, fast=True, outdir=tmp / "out")
    return res


def test_memorising_model_has_no_development_advantage(noise_study):
    from her2stats.stats.roc import compare_aucs

    res = noise_study
    n = res.numbers
    # the forest memorises: in-sample it looks perfect, and that figure is only kept as "apparent"
    assert n["auc_apparent/rf/development"] > 0.95
    assert n["auc/rf/development"] < 0.65 and n["auc/rf/development"] == pytest.approx(n["zoo_oof_auc/rf"], abs=1e-12)
    # the same comparison on the apparent predictions would declare the forest better (the test can fail)
    pred = res.predictions[res.predictions["cohort"] == "development"]
    wide = pred.pivot(index="patient_id", columns="model", values="prob")
    y = pred.drop_duplicates("patient_id").set_index("patient_id").loc[wide.index, "y"].to_numpy()
    apparent = compare_aucs(y, {"clinical": wide["clinical"].to_numpy(), "rf": wide["rf"].to_numpy()},
                            direction="<", engine="python")
    assert float(apparent.pairs["p_value"].iloc[0]) < 1e-3
    # the study's development comparison uses the out-of-fold predictions: no significant difference
    assert n["delong_p/clinical~rf/development"] > 0.05
    # the regression model's development AUC is the bootstrap optimism-corrected C, below the apparent one
    assert n["auc/clinical/development"] == pytest.approx(n["validate_c/clinical"], abs=1e-12)
    assert n["auc/clinical/development"] < n["auc_apparent/clinical/development"]
    assert n["auc/clinical/development"] < 0.62
    # with the location-shifted bootstrap interval of that corrected C
    assert (n["auc_ci_low/clinical/development"], n["auc_ci_high/clinical/development"]) == (
        n["validate_c_ci_low/clinical"], n["validate_c_ci_high/clinical"])
    # the out-of-fold predictions are written beside the apparent ones
    cv = pd.read_csv(res.outdir / "predictions_cv.csv")
    assert set(cv["model"]) == {"clinical", "rf"} and set(cv["fold"]) == {1, 2, 3}
    assert (cv.groupby("model").size() == int(n["n/development"])).all()
    assert "out-of-fold" in res.methods and "carried unchanged to the test cohorts" in res.methods


def test_numbers_json_keys(noise_study):
    """``auc/<model>/development`` is the honest figure; apparent values live under ``*_apparent``."""
    on_disk = json.loads((noise_study.outdir / "numbers.json").read_text())
    for m in ("clinical", "rf"):
        for key in (f"auc/{m}/development", f"auc_apparent/{m}/development", f"auc_apparent_ci_low/{m}/development",
                    f"auc_cv/{m}/development", f"sensitivity_apparent/{m}/development", f"roc_direction/{m}"):
            assert key in on_disk, key
    assert on_disk["roc_direction/rf"] == 1.0
    assert "brier_apparent/clinical/development" in on_disk


def _status(checklist) -> dict:
    return checklist.to_frame().set_index("item")["status"].to_dict()


def test_tripod_status_follows_numbers(noise_study):
    """An item marked missing has no content in numbers.json, and an item with content is not marked
    missing -- on the run itself and with each piece of evidence taken away."""
    from her2stats.reporting.study import _tripod

    res = noise_study
    st = _status(res.results["tripod"])
    for item, prefixes in TRIPOD_EVIDENCE.items():
        present = any(numbers_have(res.numbers, p) for p in prefixes)
        assert (st[item] == "author must add") == (not present), (item, st[item])
    assert st["23a"] != "author must add" and "point estimates only" not in res.results["tripod"].to_frame().set_index(
        "item").loc["23a", "evidence"]
    assert st["20c"] == "reported"   # Table 1 by cohort with SMDs is in the report
    df = res.cohort.assign(_y=res.cohort["y"].astype(int))
    cohorts = ["development", "external"]
    probs = {"clinical": None}
    for item, prefixes in TRIPOD_EVIDENCE.items():
        fewer = {k: v for k, v in res.numbers.items() if not any(numbers_have({k: v}, p) for p in prefixes)}
        tri = _tripod(res.config, df, cohorts, res.flow, probs, res.results, res.versions, "y",
                      numbers=fewer, tables=res.tables)
        ev = tri.to_frame().set_index("item").loc[item, "evidence"]
        if item == "23a":  # point estimates without CIs: the item asks for the CIs, as it should
            assert _status(tri)[item] == "partly" and "point estimates only" in ev
        else:
            assert _status(tri)[item] == "author must add", (item, ev)


def test_roc_direction_fixed_on_development_and_carried():
    """A score that goes the 'wrong' way on development keeps that direction on a test cohort
    where it would flip: the test AUC is below 0.5, not re-read as above it."""
    from her2stats.reporting.study import StudyState, stage_evaluation
    from her2stats.reporting.config import load_config

    rng = np.random.default_rng(3)
    n_dev, n_ext = 200, 120
    y = rng.binomial(1, 0.5, size=n_dev + n_ext)
    split = np.r_[np.repeat("development", n_dev), np.repeat("external", n_ext)]
    s = np.where(split == "development", -1.2 * y, 1.2 * y) + rng.normal(size=len(y))
    prob = 1 / (1 + np.exp(-s))
    df = pd.DataFrame({"pid": [f"p{i}" for i in range(len(y))], "cohort_split": split, "_y": y})
    cfg = load_config({"name": "dir", "engine": "python", "cohort": {"source": "csv", "path": "x.csv", "outcome": "y",
                                                                     "id_column": "pid"}})
    st = StudyState(config=cfg, engine="python", cohort=df, cohorts=["development", "external"],
                    probs={"score": pd.Series(prob, index=df.index)})
    st.dev_probs = {"score": pd.Series(prob[:n_dev], index=df.index[:n_dev])}
    st = stage_evaluation(st)
    assert st.directions["score"] == ">" and st.numbers["roc_direction/score"] == -1.0
    assert st.perf[("score", "external")][0].direction == ">"
    assert st.numbers["auc/score/external"] < 0.3   # carried, not re-chosen on the external cohort
    assert st.numbers["auc/score/development"] > 0.7
