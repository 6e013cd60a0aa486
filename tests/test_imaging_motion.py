"""DCE motion correction (rigid and affine SimpleITK registration of phases) recovers known
motions of the demo volumes; voxel intensity histograms per centre before and after
normalisation (seed 000's preprocessing checks)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from her2stats.errors import InputError
from her2stats.imaging import Image, correct_motion, correct_motion_cases, intensity_histograms, read_image, read_mask
from her2stats.imaging.motion import register_image

sitk = pytest.importorskip("SimpleITK")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    import her2stats as h2

    cases = h2.demo_images(root=tmp_path_factory.mktemp("motion_demo"), n=6)
    return cases


def _phase(cases, pid, seq):
    row = cases[(cases["patient_id"] == pid) & (cases["sequence"] == seq)].iloc[0]
    img = read_image(row["image_path"])
    return img, read_mask(row["mask_path"], like=img)


def _moved(img, tx):
    s = img.to_sitk()
    return Image.from_sitk(sitk.Resample(s, s, tx, sitk.sitkLinear, 0.0, sitk.sitkFloat32))


def _residual_mm(fixed, mask, applied, found):
    """Mean |applied(found(x)) - x| over the tumour: the registration undoes the motion."""
    f = fixed.to_sitk()
    pts = [f.TransformIndexToPhysicalPoint([int(v) for v in idx[::-1]]) for idx in np.argwhere(mask.array)]
    return float(np.mean([np.linalg.norm(np.subtract(applied.TransformPoint(found.TransformPoint(p)), p))
                          for p in pts]))


def _rigid(img, degrees=3.0, shift=(2.1, -1.4, 1.5)):
    tx = sitk.Euler3DTransform()
    tx.SetCenter(img.to_sitk().TransformContinuousIndexToPhysicalPoint([c / 2 for c in img.to_sitk().GetSize()]))
    tx.SetRotation(0.0, 0.0, np.deg2rad(degrees))
    tx.SetTranslation(shift)
    return tx


def test_rigid_registration_undoes_a_known_motion(demo):
    pid = demo["patient_id"].iloc[0]
    pre, mask = _phase(demo, pid, "DCE_pre")
    post, _ = _phase(demo, pid, "DCE_post1")
    tx = _rigid(pre)
    # same contrast: sub-voxel (voxels are 0.7 x 0.7 x 3 mm), and reproducible
    _, _, info = register_image(pre, _moved(pre, tx), transform="rigid", fixed_mask=mask)
    assert _residual_mm(pre, mask, tx, info["sitk_transform"]) < 0.5
    assert info["metric_after"] < info["metric_before"]
    true_disp = _residual_mm(pre, mask, tx, sitk.Transform(3, sitk.sitkIdentity))
    assert true_disp > 2.0 and abs(info["displacement_mm"] - true_disp) < 0.5
    _, _, twice = register_image(pre, _moved(pre, tx), transform="rigid", fixed_mask=mask)
    np.testing.assert_allclose(twice["parameters"], info["parameters"], rtol=1e-12, atol=1e-12)
    # across phases (the tumour enhances), mutual information still aligns them
    res = correct_motion({"DCE_pre": pre, "DCE_post1": _moved(post, tx)}, mask=mask)
    row = res.to_frame().set_index("phase").loc["DCE_post1"]
    assert row["metric_after"] < row["metric_before"] and abs(row["displacement_mm"] - true_disp) < 0.75
    assert res.images["DCE_pre"] is pre and res.images["DCE_post1"].shape == pre.shape


def test_affine_registration_recovers_a_scaling(demo):
    pid = demo["patient_id"].iloc[1]
    pre, mask = _phase(demo, pid, "DCE_pre")
    tx = sitk.AffineTransform(3)
    tx.SetCenter(pre.to_sitk().TransformContinuousIndexToPhysicalPoint([c / 2 for c in pre.to_sitk().GetSize()]))
    tx.SetMatrix((1.06, 0.0, 0.0, 0.0, 0.95, 0.0, 0.0, 0.0, 1.0))
    tx.SetTranslation((1.0, 0.5, 0.0))
    _, _, rigid = register_image(pre, _moved(pre, tx), transform="rigid", fixed_mask=mask)
    _, _, affine = register_image(pre, _moved(pre, tx), transform="affine", fixed_mask=mask)
    assert _residual_mm(pre, mask, tx, affine["sitk_transform"]) < 0.5
    assert _residual_mm(pre, mask, tx, affine["sitk_transform"]) < _residual_mm(pre, mask, tx, rigid["sitk_transform"])
    assert len(affine["parameters"]) == 12


def test_correct_motion_cases_writes_registered_phases(demo, tmp_path):
    two = demo[demo["patient_id"].isin(demo["patient_id"].unique()[:2])]
    new, log = correct_motion_cases(two, ["DCE_pre", "DCE_post1", "DCE_post2"], out_dir=tmp_path / "mc")
    assert len(log) == 6 and set(log["phase"]) == {"DCE_pre", "DCE_post1", "DCE_post2"}
    moved = new[new["sequence"].isin(["DCE_post1", "DCE_post2"])]
    assert all(str(tmp_path) in p for p in moved["image_path"])
    untouched = new[new["sequence"].isin(["T1", "T2"])]
    pd.testing.assert_series_equal(untouched["image_path"], two.loc[untouched.index, "image_path"])
    assert read_image(moved["image_path"].iloc[0]).shape == read_image(two["image_path"].iloc[0]).shape
    assert not list((tmp_path / "mc").rglob("*.tmp*"))
    # the demo phases were generated aligned: the correction finds (almost) nothing to do
    assert (log["displacement_mm"] < 0.5).all()


def test_motion_errors(demo):
    pid = demo["patient_id"].iloc[0]
    pre, _ = _phase(demo, pid, "DCE_pre")
    with pytest.raises(InputError, match="at least two"):
        correct_motion({"pre": pre})
    with pytest.raises(InputError, match="reference"):
        correct_motion({"pre": pre, "post": pre}, reference="post9")
    with pytest.raises(InputError, match="transform"):
        register_image(pre, pre, transform="bspline")
    flat = Image(pre.array[0], spacing=pre.spacing[:2])
    with pytest.raises(InputError, match="2-D"):
        correct_motion({"pre": pre, "flat": flat})
    with pytest.raises(InputError, match="lacks DCE phase"):
        correct_motion_cases(demo[demo["sequence"] != "DCE_post2"], ["DCE_pre", "DCE_post2"], out_dir="/tmp/x")


def test_intensity_histograms_before_and_after_normalisation(demo, tmp_path):
    from her2stats.imaging import write_nifti

    # a second "scanner" whose intensities are 1.4 x those of the first (the same anatomy)
    t1 = demo[demo["sequence"] == "T1"].copy()
    t1["scanner"] = "A"
    other = t1.copy()
    other["scanner"] = "B"
    other["patient_id"] = other["patient_id"] + "-B"
    paths = []
    for p in t1["image_path"]:
        img = read_image(p)
        target = tmp_path / (p.split("/")[-2] + "_B.nii.gz")
        write_nifti(img.with_array(img.array * 1.4), target)
        paths.append(str(target))
    other["image_path"] = paths
    res = intensity_histograms(pd.concat([t1, other], ignore_index=True), "scanner")
    s = res.to_frame().set_index(["group", "stage"])
    np.testing.assert_allclose(s.loc[("B", "before"), "mean"] / s.loc[("A", "before"), "mean"], 1.4, rtol=1e-3)
    # z-scored inside each mask, the scanner factor is gone
    np.testing.assert_allclose(s.loc[("A", "after"), ["mean", "sd", "p50"]].to_numpy(float),
                               s.loc[("B", "after"), ["mean", "sd", "p50"]].to_numpy(float), atol=1e-4)
    np.testing.assert_allclose(s.xs("after", level="stage")["mean"], 0.0, atol=1e-5)
    h = res.histograms
    for _, sub in h.groupby(["group", "stage"]):
        width = (sub["bin_high"] - sub["bin_low"]).to_numpy()
        assert np.isclose((sub["density"].to_numpy() * width).sum(), 1.0)
    from her2stats.reporting.figures import intensity_histogram_figure

    assert intensity_histogram_figure(res) is not None
    with pytest.raises(InputError, match="no column"):
        intensity_histograms(t1, "center")


def test_rigid_register_is_reproducible(demo):
    """SimpleITK takes seed 0 as "from the clock"; the extractor's inter-sequence registration
    (register_to=) must give the same transform every run."""
    from her2stats.imaging import rigid_register

    pid = demo["patient_id"].iloc[0]
    pre, _ = _phase(demo, pid, "DCE_pre")
    moved = _moved(pre, _rigid(pre))
    a = rigid_register(pre, moved)[2]
    b = rigid_register(pre, moved)[2]
    np.testing.assert_allclose(a["translation_mm"] + a["rotation_rad"], b["translation_mm"] + b["rotation_rad"],
                               rtol=1e-12, atol=1e-12)
