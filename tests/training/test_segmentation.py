"""The trained segmentation network (her2stats.fit_segmentation_network) and segmentation_agreement:
Dice / IoU / HD95 against values computed by hand, determinism with a seed on CPU, the inner
validation split as the only judge of the checkpoint, no test case read during training, and bad
inputs naming the patient or file."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from her2stats.errors import InputError
from her2stats.stats.segmentation import hausdorff95, overlap, segmentation_agreement


# ------------------------------------------------------------------------------------ agreement by hand
def test_dice_iou_against_hand_values():
    # A: 4 pixels, B: 6 pixels, overlap 3 -> Dice 2*3/(4+6) = 0.6, IoU 3/(4+6-3) = 3/7
    a = np.zeros((5, 5), bool)
    a[1, 1:5] = True
    b = np.zeros((5, 5), bool)
    b[1, 0:4] = True
    b[2, 0:2] = True
    d, j = overlap(a, b)
    assert d == pytest.approx(0.6, abs=1e-12)
    assert j == pytest.approx(3 / 7, abs=1e-12)
    assert j == pytest.approx(d / (2 - d), abs=1e-12)
    # disjoint -> 0; identical -> 1; both empty -> 1 by convention
    assert overlap(a, ~a)[0] == 0.0 and overlap(a, a) == (1.0, 1.0)
    assert overlap(np.zeros((3, 3)), np.zeros((3, 3))) == (1.0, 1.0)


def test_hausdorff95_against_hand_values():
    # two single pixels 3 rows apart: every surface distance is 3 (pixels), 6 mm at 2 mm spacing
    a = np.zeros((8, 8), bool)
    b = np.zeros((8, 8), bool)
    a[1, 4] = True
    b[4, 4] = True
    assert hausdorff95(a, b) == pytest.approx(3.0)
    assert hausdorff95(a, b, spacing=(2.0, 1.0)) == pytest.approx(6.0)
    # a 3x3 square vs the same square shifted one column: A's surface (8 pixels) to B's: the left column (3) is
    # 1 away, the rest 0; symmetric -> distances {1 x 6, 0 x 10}: 95th percentile (numpy linear) of 16 values
    sq = np.zeros((7, 7), bool)
    sq[2:5, 1:4] = True
    sh = np.roll(sq, 1, axis=1)
    d = np.r_[np.ones(6), np.zeros(10)]
    assert hausdorff95(sq, sh) == pytest.approx(np.percentile(d, 95))
    assert np.isnan(hausdorff95(np.zeros((3, 3), bool), sq[:3, :3]))


def test_agreement_means_and_t_interval_by_hand():
    rng = np.random.default_rng(4)
    ref, pred = {}, {}
    for i in range(6):
        m = np.zeros((12, 12), bool)
        m[2:8, 2:8] = True
        p = np.roll(m, int(rng.integers(0, 3)), axis=int(rng.integers(0, 2)))
        ref[f"p{i}"], pred[f"p{i}"] = m, p
    r = segmentation_agreement(pred, ref)
    dice = np.array([overlap(pred[k], ref[k])[0] for k in pred])
    h = stats.t.ppf(0.975, 5) * dice.std(ddof=1) / np.sqrt(6)
    assert r.dice == pytest.approx(dice.mean(), abs=1e-12)
    assert (r.dice_ci_low, r.dice_ci_high) == pytest.approx((dice.mean() - h, dice.mean() + h), abs=1e-12)
    assert r.n == 6 and r.method == "t" and r.engine == "python"
    f = r.to_frame()
    assert list(f["measure"]) == ["dice", "iou", "hd95"] and set(f.columns) == {"measure", "mean", "ci_low", "ci_high", "n"}
    assert "<table" in r._repr_html_()
    # seeded bootstrap: the same seed gives the same interval, the interval brackets the mean
    b1 = segmentation_agreement(pred, ref, method="bootstrap", n_boot=500, seed=9)
    b2 = segmentation_agreement(pred, ref, method="bootstrap", n_boot=500, seed=9)
    assert (b1.dice_ci_low, b1.dice_ci_high) == (b2.dice_ci_low, b2.dice_ci_high)
    assert b1.dice_ci_low <= b1.dice <= b1.dice_ci_high


@pytest.mark.parametrize("pred,ref,words", [
    ({"p1": np.ones((3, 3))}, {"p2": np.ones((3, 3))}, ("p1", "ref_masks")),
    ({"p1": np.ones((3, 3))}, {"p1": np.ones((4, 3))}, ("p1", "shape")),
    ({"p1": np.ones((3, 3))}, {"p1": np.zeros((3, 3))}, ("p1", "empty")),
    ({"p1": None}, {"p1": np.ones((3, 3))}, ("p1", "missing")),
    ({"p1": "/nope/p1_mask.nii.gz"}, {"p1": np.ones((3, 3))}, ("p1", "p1_mask")),
    ([np.ones((3, 3))], {"p1": np.ones((3, 3))}, ("mapping",)),
])
def test_agreement_bad_input_names_the_patient(pred, ref, words):
    with pytest.raises(InputError) as err:
        segmentation_agreement(pred, ref)
    for w in words:
        assert w.lower() in str(err.value).lower()


# ------------------------------------------------------------------------------------ the network
torch = pytest.importorskip("torch")
pytest.importorskip("timm")

from her2stats.training import SegmentationNetwork, fit_segmentation_network  # noqa: E402
from her2stats.training import inputs as inputs_mod  # noqa: E402

FAST = dict(epochs=2, batch_size=8, size=32, device="cpu", seed=3)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.deep
def test_fit_predict_score_and_curves(demo_cases):
    cases, _ = demo_cases
    tr, te = cases.iloc[:16].reset_index(drop=True), cases.iloc[16:].reset_index(drop=True)
    net = fit_segmentation_network(tr, **FAST)
    h = net.history_
    f = h.to_frame()
    assert list(f.columns) == ["epoch", "train_loss", "val_loss", "val_dice", "lr", "seconds"]
    assert h.best_epoch == int(f.loc[f["val_dice"].idxmax(), "epoch"])
    assert h.weights == "package" and h.n_train + h.n_val == 16 and h.n_val == 3
    assert "<table" in h._repr_html_()
    import matplotlib

    matplotlib.use("Agg")
    assert h.plot() is not None
    masks = net.predict_masks(te)
    assert [m.patient_id for m in masks] == list(te["patient_id"])
    from her2stats.imaging.study import load_case

    for m, row in zip(masks, te.to_dict("records")):
        img = load_case(row["image_path"], row["mask_path"]).image.array
        assert m.mask.shape == img.shape and m.mask.dtype == bool and m.mask.any()
        assert len(m.slices) == 1 and m.mask[[z for z in range(img.shape[0]) if z not in m.slices]].sum() == 0
    d = net.dice(te)
    assert list(d.columns) == ["patient_id", "dice", "iou"] and len(d) == len(te)
    assert net.score(te) == pytest.approx(d["dice"].mean())
    # the same seed on CPU: identical masks; another seed: another network
    again = fit_segmentation_network(tr, **FAST)
    assert all((a.mask == b.mask).all() and np.array_equal(a.probability, b.probability)
               for a, b in zip(masks, again.predict_masks(te)))
    other = fit_segmentation_network(tr, **{**FAST, "seed": 4})
    assert not all(np.array_equal(a.probability, b.probability) for a, b in zip(masks, other.predict_masks(te)))


@pytest.mark.deep
def test_random_encoder_is_labelled_random(demo_cases):
    cases, _ = demo_cases
    net = fit_segmentation_network(cases.iloc[:8], pretrained=False, **{**FAST, "epochs": 1})
    assert net.history_.weights == "random" and net.spec_.kind == "random"


@pytest.mark.deep
@pytest.mark.slow
def test_all_slices_and_whole_image_predicts_without_manual_masks(demo_cases):
    cases, _ = demo_cases
    net = fit_segmentation_network(cases.iloc[:6], slices="all", box="image", **{**FAST, "epochs": 1})
    nomask = cases.iloc[6:8].assign(mask_path=None).reset_index(drop=True)
    masks = net.predict_masks(nomask)  # fully automatic: no manual mask needed
    assert all(len(m.slices) == m.mask.shape[0] for m in masks)


class _Recorder:
    def __init__(self, original):
        self.original, self.seen = original, []

    def __call__(self, image_path, mask_path, patient_id, expect_ndim):
        self.seen.append(str(patient_id))
        return self.original(image_path, mask_path, patient_id, expect_ndim)


@pytest.mark.deep
def test_leakage_fit_reads_training_patients_only_and_checkpoint_is_inner_split(demo_cases, monkeypatch):
    """Training and checkpoint choice read only the training patients; the kept checkpoint is the one
    with the best validation Dice of the inner split (a subset of the training patients); predicting
    the test patients afterwards changes nothing of the fit."""
    cases, _ = demo_cases
    tr, te = cases.iloc[:14].reset_index(drop=True), cases.iloc[14:].reset_index(drop=True)
    rec = _Recorder(inputs_mod.read_case)
    monkeypatch.setattr(inputs_mod, "read_case", rec)
    net = SegmentationNetwork(**{**FAST, "epochs": 3}).fit(tr)
    assert set(rec.seen) == set(tr["patient_id"]) and set(rec.seen).isdisjoint(te["patient_id"])
    assert set(net.val_ids_) | set(net.train_ids_) == set(tr["patient_id"])
    assert set(net.val_ids_).isdisjoint(net.train_ids_) and len(net.val_ids_) >= 1
    # the kept epoch has the best validation Dice, and that Dice is the inner validation patients' mean Dice
    # (input grid, threshold 0.5) of the kept network
    f = net.history_.frame
    assert net.history_.best_value == f["val_dice"].max()
    from her2stats.training.segmentation import _dice

    val = tr[tr["patient_id"].isin(net.val_ids_)].reset_index(drop=True)
    prep = net._prepare_all(val, need_mask=True)
    dices = [_dice(net._predict_prob(net.model_, p.x, "cpu", False) >= 0.5, p.m) for p in prep]
    assert np.mean(dices) == pytest.approx(net.history_.best_value, abs=1e-9)
    before = {k: v.clone() for k, v in net.model_.state_dict().items()}
    net.predict_masks(te)
    assert all(torch.equal(before[k], v) for k, v in net.model_.state_dict().items())


@pytest.mark.deep
def test_bad_inputs_name_the_patient_or_file(demo_cases, tmp_path):
    cases, _ = demo_cases
    no_mask = cases.iloc[:4].copy()
    no_mask.loc[no_mask.index[1], "mask_path"] = None
    with pytest.raises(InputError, match=str(no_mask["patient_id"].iloc[1])):
        fit_segmentation_network(no_mask, **FAST)
    # an empty mask and a mask on another grid: the case and the file are named
    from her2stats.imaging.io import read_image, write_nifti

    row = cases.iloc[0]
    img = read_image(row["mask_path"])
    empty = write_nifti(img.with_array(np.zeros_like(img.array, dtype=np.uint8)), tmp_path / "empty_mask.nii.gz",
                        dtype=np.uint8)
    bad = cases.iloc[:4].copy()
    bad.loc[bad.index[0], "mask_path"] = str(empty)
    with pytest.raises(InputError, match="empty_mask"):
        fit_segmentation_network(bad, **FAST)
    small = write_nifti(img.with_array(np.ones((2, 8, 8), np.uint8)), tmp_path / "small_mask.nii.gz", dtype=np.uint8)
    bad.loc[bad.index[0], "mask_path"] = str(small)
    with pytest.raises(InputError, match="small_mask"):
        fit_segmentation_network(bad, **FAST)
    with pytest.raises(InputError, match="slices"):
        fit_segmentation_network(cases.iloc[:4], slices="middle", **FAST)
    with pytest.raises(InputError, match="validation"):
        fit_segmentation_network(cases.iloc[:4], validation_size=0, **FAST)
    with pytest.raises(InputError, match="patient_id"):
        fit_segmentation_network(pd.DataFrame({"image_path": ["x"]}), **FAST)
