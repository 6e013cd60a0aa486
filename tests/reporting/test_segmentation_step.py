"""The study runner's segmentation step (``segmentation:``) alone on a hand-made state: the network
of each development fold never sees the patients it segments, the final network never sees a test
patient, the masks are written atomically on the image grid, the per-cohort Dice in numbers.json is
the mean of the per-patient Dice, in-sample development Dice is reported only as apparent, and an
image model with ``masks: predicted`` reads the predicted masks."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch")
pytest.importorskip("timm")

from her2stats.reporting.config import load_config  # noqa: E402
from her2stats.reporting.segmentation_step import predicted_index, stage_segmentation  # noqa: E402
from her2stats.reporting.study import new_state  # noqa: E402

pytestmark = [pytest.mark.deep]


def _config(**seg):
    return load_config({"name": "seg", "engine": "python",
                        "cohort": {"source": "demo", "outcome": "her2_positive", "id_column": "patient_id"},
                        "splits": {"by": "center", "column": "center", "train": ["A", "B"], "external": ["C"],
                                   "internal_fraction": 0.0, "seed": 1},
                        "segmentation": {"images": "demo", "sequence": "DCE_post1", "input_size": 32,
                                         "batch_size": 8, "figure_patients": 3, **seg},
                        "validation": {"n_boot": 20, "calibrate_n_boot": 20, "seed": 3}})


def _state(cfg, tmp_path, n_dev=15, n_ext=6):
    from sklearn.model_selection import KFold

    from her2stats.data import load_demo

    df = load_demo()
    dev = df[df["center"].astype(str) != "C"].head(n_dev)
    ext = df[df["center"].astype(str) == "C"].head(n_ext)
    df = pd.concat([dev, ext]).reset_index(drop=True)
    df["cohort_split"] = ["development"] * n_dev + ["external"] * n_ext
    df["_y"] = df["her2_positive"].astype(int)
    state = new_state(cfg, fast=True, outdir=tmp_path)
    state.cohort, state.cohorts = df, ["development", "external"]
    state.folds = list(KFold(3, shuffle=True, random_state=0).split(np.zeros(n_dev)))
    return state


def test_segmentation_step_out_of_fold(tmp_path):
    import time

    from her2stats.imaging.io import read_image

    t0 = time.perf_counter()
    st = stage_segmentation(_state(_config(), tmp_path))
    seconds = time.perf_counter() - t0
    res = st.results["segmentation"]
    df = st.cohort
    dev_ids = list(df.loc[df["cohort_split"] == "development", "patient_id"])
    ext_ids = set(df.loc[df["cohort_split"] == "external", "patient_id"])
    # leakage: each fold's network trained (and chose its checkpoint) without the patients it segmented;
    # the final network saw development patients only
    for fit in res.fits:
        seen = set(fit["train_ids"]) | set(fit["val_ids"])
        assert seen.isdisjoint(ext_ids)
        assert seen.isdisjoint(fit["test_ids"])
        if fit["fold"] != "final":
            train, test = st.folds[fit["fold"] - 1]
            assert set(fit["test_ids"]) == {dev_ids[i] for i in test}
            assert seen == {dev_ids[i] for i in train}
    assert {res.source[p] for p in ext_ids} == {"final"}
    assert all(res.source[p].startswith("fold") for p in dev_ids)
    # masks on disk, on the image grid, no temporary file left
    masks_dir = tmp_path / "segmentation" / "masks"
    assert len(list(masks_dir.glob("*.nii.gz"))) == len(df) and not list(masks_dir.glob(".*tmp*"))
    per = pd.read_csv(tmp_path / "segmentation" / "masks.csv")
    for r in per.head(3).to_dict("records"):
        m = read_image(tmp_path / r["mask_file"])
        assert m.array.shape == (16, 64, 64) and int((m.array != 0).sum()) == r["voxels_pred"]
    # numbers: development Dice is out-of-fold (not apparent), the mean of the per-patient Dice
    for c in ("development", "external"):
        assert st.numbers[f"segmentation/dice/{c}"] == pytest.approx(per.loc[per["cohort"] == c, "dice"].mean())
        assert st.numbers[f"segmentation/dice/{c}_ci_low"] <= st.numbers[f"segmentation/dice/{c}"]
    assert not any("apparent" in k for k in st.numbers)
    agreement = pd.read_csv(tmp_path / "segmentation" / "agreement.csv")
    assert set(agreement.loc[agreement["cohort"] == "development", "masks"]) == {"out-of-fold"}
    assert (tmp_path / "figures" / "segmentation_contours.png").exists()
    assert (tmp_path / "figures" / "segmentation_curves.png").exists()
    assert "out-of-fold" in res.methods and "U-Net" in res.methods
    # fast mode stays well under a minute for a small cohort (4 networks)
    assert seconds < 60, seconds
    # an image model reading the predicted masks
    index = st.results["segmentation"].paths
    from her2stats.data import demo_images

    spec = type("Spec", (), {"name": "dl", "sequences": ["DCE_post1"]})()
    table = predicted_index(st, demo_images(), spec)
    assert set(table["patient_id"]) == set(df["patient_id"]) and set(table["sequence"]) == {"DCE_post1"}
    assert all(table.set_index("patient_id").loc[p, "mask_path"] == index[p] for p in df["patient_id"])
    assert "never an outcome" in st.notes[-1]
    spec_bad = type("Spec", (), {"name": "dl", "sequences": ["T2"]})()
    from her2stats.errors import ConfigError

    with pytest.raises(ConfigError, match="DCE_post1"):
        predicted_index(st, demo_images(), spec_bad)


def test_in_sample_development_masks_are_reported_as_apparent(tmp_path):
    st = stage_segmentation(_state(_config(development_masks="in_sample", epochs=1, fast={"epochs": 1}), tmp_path,
                                   n_dev=10, n_ext=4))
    assert "segmentation/dice_apparent/development" in st.numbers
    assert "segmentation/dice/development" not in st.numbers and "segmentation/dice/external" in st.numbers
    assert set(st.results["segmentation"].source.values()) == {"final", "final (in-sample)"}
    from her2stats.data import demo_images

    spec = type("Spec", (), {"name": "dl", "sequences": ["DCE_post1"]})()
    predicted_index(st, demo_images(), spec)
    assert "in-sample" in st.notes[-1]


def test_config_needs_a_segmentation_section_for_predicted_masks():
    from her2stats.errors import ConfigError

    with pytest.raises(ConfigError, match="masks: predicted and extractor: segmentation need a"):
        load_config({"name": "x", "imaging": {"images": "demo"},
                     "image_models": [{"name": "dl", "masks": "predicted"}]})
    with pytest.raises(ConfigError, match="development_masks"):
        load_config({"name": "x", "segmentation": {"images": "demo", "development_masks": "apparent"}})


def test_features_from_the_trained_segmentation_network(tmp_path):
    """extractor: segmentation: one network's layer activations for every analysed patient, in
    cohort order, equal to the network's own transform; with masks: predicted the crop follows the
    predicted mask."""
    from her2stats.reporting.segmentation_step import segmentation_features

    st = stage_segmentation(_state(_config(development_masks="in_sample", epochs=1, fast={"epochs": 1}), tmp_path,
                                   n_dev=10, n_ext=4))
    res = st.results["segmentation"]
    spec = type("Spec", (), {"name": "dsfr", "layer": 2, "masks": "manual"})()
    X = segmentation_features(st, spec)
    assert list(X.index) == list(st.cohort["patient_id"].astype(str)) and X.shape[1] == 40  # lite0 stage 2: 40 ch
    direct = st.models["segmentation"].transform(res.cases.reset_index(drop=True), layer="encoder.2")
    import pickle

    pickle.dumps(res)  # the study results keep it (study_results.pkl)
    np.testing.assert_array_equal(X.to_numpy(), direct.to_numpy())
    assert st.numbers["features/dsfr/n_extracted"] == 40.0 and "never on an outcome" in st.notes[-1]
    spec_p = type("Spec", (), {"name": "dsfr", "layer": "decoder.0", "masks": "predicted"})()
    Xp = segmentation_features(st, spec_p)
    assert Xp.shape == (14, 112) and np.isfinite(Xp.to_numpy()).all()
    from her2stats.errors import InputError

    with pytest.raises(InputError, match="encoder.0"):
        segmentation_features(st, type("Spec", (), {"name": "x", "layer": "blocks.9", "masks": "manual"})())


@pytest.mark.slow
@pytest.mark.r
def test_seed004_runs_the_segmentation_chain_end_to_end_fast(tmp_path):
    """seed004.yaml through the study runner (fast): the segmentation network's out-of-fold and
    external Dice in numbers.json, its masks and figures in the output folder, the dl model's
    features from the trained network on the predicted masks, said in the methods and notes."""
    import matplotlib

    matplotlib.use("Agg")
    from pathlib import Path

    from her2stats.reporting.study import run_study

    seed004 = Path(__file__).resolve().parents[2] / "reports" / "seeds" / "seed004.yaml"
    res = run_study(seed004, fast=True, outdir=tmp_path / "seed004")
    n = res.numbers
    for c in ("development", "external"):
        assert 0 < n[f"segmentation/dice/{c}"] <= 1 and n[f"segmentation/dice/{c}_ci_low"] <= n[f"segmentation/dice/{c}"]
    assert n["segmentation/n/development"] + n["segmentation/n/external"] == len(res.cohort)
    out = res.outdir
    per = pd.read_csv(out / "segmentation" / "masks.csv")
    assert len(per) == len(res.cohort) and (out / per["mask_file"].iloc[0]).is_file()
    assert set(per.loc[per["cohort"] == "external", "network"]) == {"final"}
    assert {"segmentation_contours", "segmentation_curves"} <= set(res.figures)
    assert "trained 2-D U-Net" in res.methods and "out-of-fold masks" in res.methods
    assert n["features/dl/n_extracted"] == 112.0
    assert any(note.startswith("dl: features of the trained segmentation network's layer 3") for note in
               res.methods.split("\n- "))
    # the paper's DLR chain (docs/seed_coverage.md 4.11, 4.13, 4.15): after the stated t-test screen (p < 0.2)
    # and lambda.min, rad, dl and the slice-averaged dl_avg (fast mode: largest slice +- 1, said in the notes)
    # keep features, and the late fusions dlr and dlr_avg are fitted and evaluated on both cohorts
    import json

    left_out = res.results.get("left_out") or {}
    saved = json.loads((out / "numbers.json").read_text(encoding="utf-8"))
    if "pyradiomics" in left_out.get("rad", ""):  # the optional radiomics extra is not installed: no DLR fusion
        assert "member(s) rad" in left_out["dlr"]
    else:
        models = ("rad", "dl", "dl_avg", "dlr", "dlr_avg")
        assert not left_out, left_out
        assert all(n[f"features/{m}/selected"] >= 1 for m in ("rad", "dl", "dl_avg"))
        assert set(models) <= set(res.predictions["model"])
        for m in models:
            for c in ("development", "external"):
                assert 0 <= saved[f"auc/{m}/{c}"] <= 1 and saved[f"auc/{m}/{c}"] == n[f"auc/{m}/{c}"], (m, c)
    assert any(note.startswith("dl_avg: fast mode averages its features over the largest-mask slice and 1 ")
               for note in res.methods.split("\n- "))
