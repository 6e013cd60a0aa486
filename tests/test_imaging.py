"""Image IO and preprocessing: readers checked against SimpleITK's own readers, preprocessing
checked against closed-form expectations, and every bad-input path raising a named InputError."""
from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from her2stats.errors import InputError
from her2stats.imaging import (
    Image,
    ImageCase,
    IntensityNormalizer,
    Resample,
    ROICrop,
    SliceSelector,
    ToBackboneInput,
    load_case,
    load_study,
    read_dicom_series,
    read_image,
    read_mask,
    rigid_register,
    write_dicom_series,
    write_nifti,
)

sitk = pytest.importorskip("SimpleITK")


@pytest.fixture
def volume():
    rng = np.random.default_rng(42)
    return rng.normal(300, 80, size=(7, 12, 10)).round(1)


# ------------------------------------------------------------------------------------------ readers

def test_dicom_series_sorted_by_position_and_rescaled_like_simpleitk(tmp_path, volume):
    folder = write_dicom_series(volume, tmp_path / "ser", spacing=(0.7, 0.8, 3.0), origin=(-12.5, 4.0, 30.0),
                                slope=0.1, intercept=-100.0, shuffle_names=True)
    img = read_dicom_series(folder)
    # values: stored = round((v + 100) / 0.1) exactly representable, so the rescale restores v
    np.testing.assert_allclose(img.array, volume, atol=1e-4)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder)))
    ref = reader.Execute()
    np.testing.assert_allclose(img.array, sitk.GetArrayFromImage(ref), atol=1e-3)
    np.testing.assert_allclose(img.spacing, ref.GetSpacing(), rtol=1e-9)
    np.testing.assert_allclose(img.origin, ref.GetOrigin(), atol=1e-9)
    np.testing.assert_allclose(img.direction, ref.GetDirection(), atol=1e-12)
    # a single file of the series reads the whole series
    one = read_image(next(folder.iterdir()))
    np.testing.assert_array_equal(one.array, img.array)


def test_dicom_missing_slice_is_refused(tmp_path, volume):
    folder = write_dicom_series(volume, tmp_path / "ser", spacing=(1, 1, 2))
    sorted(folder.iterdir())[3].unlink()
    with pytest.raises(InputError, match="uneven slice gaps"):
        read_dicom_series(folder)


def test_nifti_geometry_matches_simpleitk(tmp_path, volume):
    nib = pytest.importorskip("nibabel")
    # an oblique, flipped affine exercises the RAS -> LPS conversion
    theta = 0.3
    rot = np.array([[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0], [0, 0, 1]])
    aff = np.eye(4)
    aff[:3, :3] = rot @ np.diag([-0.7, 0.8, 3.0])
    aff[:3, 3] = [10.0, -20.0, 5.0]
    path = tmp_path / "v.nii.gz"
    nib.save(nib.Nifti1Image(volume.T.astype(np.float32), aff), str(path))
    img = read_image(path)
    ref = sitk.ReadImage(str(path))
    np.testing.assert_array_equal(img.array, sitk.GetArrayFromImage(ref))
    np.testing.assert_allclose(img.spacing, ref.GetSpacing(), rtol=1e-6)
    np.testing.assert_allclose(img.origin, ref.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(img.direction, ref.GetDirection(), atol=1e-5)
    # writer is the reader's inverse
    back = read_image(write_nifti(img, tmp_path / "w.nii.gz"))
    np.testing.assert_array_equal(back.array, img.array)
    np.testing.assert_allclose(back.origin, img.origin, atol=1e-4)
    np.testing.assert_allclose(back.direction, img.direction, atol=1e-5)


def test_png_reads_grey_levels(tmp_path):
    from PIL import Image as PILImage

    rgb = np.zeros((5, 6, 3), np.uint8)
    rgb[..., 0] = 200
    rgb[..., 1] = 100
    PILImage.fromarray(rgb).save(tmp_path / "a.png")
    img = read_image(tmp_path / "a.png")
    # ITU-R 601-2 luma as Pillow's convert("L"): L = R*299/1000 + G*587/1000 + B*114/1000
    assert img.shape == (5, 6)
    np.testing.assert_allclose(img.array, round(200 * 0.299 + 100 * 0.587), atol=0.5)
    assert img.meta["spacing_assumed"] and img.spacing == (1.0, 1.0)
    assert read_image(tmp_path / "a.png", spacing=(0.1, 0.2)).spacing == (0.1, 0.2)


# -------------------------------------------------------------------------------------- bad input

def test_corrupt_and_missing_files_name_the_file(tmp_path, volume):
    p = write_nifti(Image(volume.astype(np.float32), (1, 1, 1)), tmp_path / "v.nii.gz")
    raw = gzip.decompress(p.read_bytes())
    (tmp_path / "trunc.nii.gz").write_bytes(gzip.compress(raw[: len(raw) // 2]))
    with pytest.raises(InputError, match="trunc.nii.gz"):
        read_image(tmp_path / "trunc.nii.gz")
    (tmp_path / "bad.png").write_bytes(b"not a png at all")
    with pytest.raises(InputError, match="bad.png"):
        read_image(tmp_path / "bad.png")
    with pytest.raises(InputError, match="not found"):
        read_image(tmp_path / "nope.nii.gz")
    (tmp_path / "x.xyz").write_text("")
    with pytest.raises(InputError, match="format"):
        read_image(tmp_path / "x.xyz")


def test_four_d_volume_is_refused(tmp_path):
    nib = pytest.importorskip("nibabel")
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 3, 2), np.float32), np.eye(4)), str(tmp_path / "dce.nii.gz"))
    with pytest.raises(InputError, match="4-D"):
        read_image(tmp_path / "dce.nii.gz")
    nib.save(nib.Nifti1Image(np.zeros((4, 4), np.float32), np.eye(4)), str(tmp_path / "flat.nii.gz"))
    with pytest.raises(InputError, match="expected a 3-D"):
        read_image(tmp_path / "flat.nii.gz", expect_ndim=3)


def test_mask_checks(tmp_path, volume):
    img_p = write_nifti(Image(volume.astype(np.float32), (0.5, 0.5, 3.0)), tmp_path / "img.nii.gz")
    img = read_image(img_p)
    wrong_shape = write_nifti(Image(np.ones((7, 12, 9), np.float32), (0.5, 0.5, 3.0)), tmp_path / "m1.nii.gz")
    with pytest.raises(InputError, match="shape"):
        read_mask(wrong_shape, like=img, case="P1")
    wrong_spacing = write_nifti(Image(np.ones(volume.shape, np.float32), (0.5, 0.5, 1.0)), tmp_path / "m2.nii.gz")
    with pytest.raises(InputError, match="spacing"):
        read_mask(wrong_spacing, like=img, case="P1")
    empty = write_nifti(Image(np.zeros(volume.shape, np.float32), (0.5, 0.5, 3.0)), tmp_path / "m3.nii.gz")
    with pytest.raises(InputError, match=r"case P1: mask .*m3.nii.gz is empty"):
        read_mask(empty, like=img, case="P1")
    labels = np.zeros(volume.shape, np.float32)
    labels[2, 3:5, 3:5] = 2
    lab = write_nifti(Image(labels, (0.5, 0.5, 3.0)), tmp_path / "m4.nii.gz")
    assert read_mask(lab, like=img).array.sum() == 4
    with pytest.raises(InputError, match="no label 1"):
        read_mask(lab, like=img, label=1)


def test_nan_voxels_name_case_and_file(tmp_path, volume):
    v = volume.astype(np.float32)
    v[1, 2, 3] = np.nan
    p = write_nifti(Image(v, (1, 1, 1)), tmp_path / "nan.nii.gz")
    with pytest.raises(InputError, match=r"case P7.*nan.nii.gz.*1 NaN"):
        load_case(p, case_id="P7", sequence="t2")


def test_missing_sequence_names_case(tmp_path, volume):
    p = write_nifti(Image(volume.astype(np.float32), (1, 1, 1)), tmp_path / "t2.nii.gz")
    rows = pd.DataFrame({"patient_id": ["P3"], "sequence": ["t2"], "image_path": [str(p)], "mask_path": [None]})
    with pytest.raises(InputError, match=r"case P3 lacks sequence\(s\) \['t1'\]"):
        load_study(rows, sequences=["t1", "t2"])


# ------------------------------------------------------------------------------------ preprocessing

def _case(arr, mask, spacing=(1.0, 1.0, 1.0)):
    return ImageCase(image=Image(np.asarray(arr, np.float32), spacing),
                     mask=Image(np.asarray(mask, bool), spacing), case_id="C1", sequence="t2")


def test_zscore_and_percentile_inside_the_mask(volume):
    mask = np.zeros(volume.shape, bool)
    mask[2:5, 3:8, 2:6] = True
    case = _case(volume, mask)
    z = IntensityNormalizer("zscore").fit().transform(case)
    inside = z.image.array[mask].astype(np.float64)
    assert abs(inside.mean()) < 1e-5 and abs(inside.std() - 1) < 1e-5
    expected = (volume - volume[mask].mean()) / volume[mask].std()
    np.testing.assert_allclose(z.image.array, expected, rtol=1e-5, atol=1e-5)
    p = IntensityNormalizer("percentile", percentiles=(5, 95)).transform(case)
    lo, hi = np.percentile(volume[mask], [5, 95])
    np.testing.assert_allclose(p.image.array, (np.clip(volume, lo, hi) - lo) / (hi - lo), atol=1e-6)
    assert z.notes["normalized_over"] == "mask"
    whole = IntensityNormalizer("zscore", region="image").transform(case)
    assert whole.notes["normalized_over"] == "image"
    with pytest.raises(InputError, match="constant"):
        IntensityNormalizer().transform(_case(np.ones(volume.shape), mask))
    with pytest.raises(InputError, match="method"):
        IntensityNormalizer("minmax").fit()


def test_resample_is_exact_on_a_linear_ramp():
    # f(x, y, z) = 2x + 3y - z (mm) is reproduced exactly by linear interpolation
    shape, sp = (6, 20, 16), (1.0, 1.2, 3.0)
    z, y, x = np.meshgrid(*[np.arange(n) * s for n, s in zip(shape, sp[::-1])], indexing="ij")
    ramp = 2 * x + 3 * y - z
    mask = np.zeros(shape, bool)
    mask[2:4, 5:10, 4:9] = True
    out = Resample(spacing=(0.5, 0.6, 1.5)).transform(_case(ramp, mask, sp))
    assert out.image.spacing == (0.5, 0.6, 1.5)
    assert out.image.shape == (12, 40, 32)  # round(size * old / new)
    zz, yy, xx = np.meshgrid(*[np.arange(n) * s for n, s in zip(out.image.shape, (1.5, 0.6, 0.5))], indexing="ij")
    inner = (zz <= z.max()) & (yy <= y.max()) & (xx <= x.max())  # points inside the source grid
    np.testing.assert_allclose(out.image.array[inner], (2 * xx + 3 * yy - zz)[inner], atol=1e-3)
    assert out.mask.array.dtype == bool and out.mask.array.sum() == pytest.approx(mask.sum() * 8, rel=0.35)
    assert Resample(spacing=None).transform(_case(ramp, mask, sp)).image.shape == shape


def test_roi_crop_box_margin_border_and_geometry(volume):
    mask = np.zeros(volume.shape, bool)
    mask[3, 4:7, 3:5] = True
    case = _case(volume, mask, (0.5, 0.5, 3.0))
    out = ROICrop(margin=2).transform(case)
    np.testing.assert_array_equal(out.image.array, volume[3:4, 2:9, 1:7].astype(np.float32))
    # voxel 0 of the crop sits where voxel (z=3, y=2, x=1) was
    p0 = out.image.to_sitk().TransformIndexToPhysicalPoint((0, 0, 0))
    np.testing.assert_allclose(p0, case.image.to_sitk().TransformIndexToPhysicalPoint((1, 2, 3)))
    with pytest.raises(InputError, match=r"case C1.*runs past the image border"):
        ROICrop(margin=4).transform(case)
    clipped = ROICrop(margin=4, on_border="clip").transform(case)
    assert clipped.image.shape == (1, 11, 9) and clipped.notes["roi_clipped"]
    padded = ROICrop(margin=4, on_border="pad").transform(case)
    assert padded.image.shape == (1, 11, 10)
    assert padded.image.array[0, 0, 0] == np.float32(volume.min())
    mm = ROICrop(margin=1.0, units="mm").transform(case)  # 1 mm = 2 px at 0.5 mm
    assert mm.image.shape == out.image.shape
    with pytest.raises(InputError, match="needs a mask"):
        ROICrop().transform(ImageCase(image=case.image, case_id="C9"))


def test_slice_selection():
    arr = np.arange(6 * 8 * 8, dtype=np.float32).reshape(6, 8, 8)
    mask = np.zeros(arr.shape, bool)
    mask[1, 2:4, 2:4] = True  # 4 voxels
    mask[2, 1:6, 1:6] = True  # 25 voxels: largest
    mask[3, 2:5, 2:5] = True  # 9 voxels
    case = _case(arr, mask)
    one = SliceSelector("largest").transform(case)
    assert [lab for lab, _ in one.slices] == ["z+0"]
    np.testing.assert_array_equal(one.slices[0][1], arr[2])
    three = SliceSelector("largest", k=1).transform(case)
    np.testing.assert_array_equal(np.stack([s for _, s in three.slices]), arr[1:4])
    edge = SliceSelector("largest", k=3).transform(case)
    assert edge.notes["slices_clamped"] == [-3]
    assert len(SliceSelector("all").transform(case).slices) == 3
    centre = SliceSelector("center").transform(case)
    np.testing.assert_array_equal(centre.slices[0][1], arr[2])
    planes = SliceSelector("2.5d").transform(case)
    assert [lab for lab, _ in planes.slices] == ["ax", "cor", "sag"]
    assert planes.notes["slices"] == {"ax": 2, "cor": 2, "sag": 2}
    assert planes.slices[1][1].shape == (6, 8) and planes.slices[2][1].shape == (6, 8)
    assert SliceSelector().n_slices() == 1 and SliceSelector("2.5d").n_slices() == 3


def test_to_backbone_input_window_resize_and_normalisation():
    flat = ImageCase(image=Image(np.zeros((4, 4), np.float32), (1, 1)), slices=(("2d", np.full((10, 6), 1.5, np.float32)),))
    out = ToBackboneInput(size=32, scale="window", window=(-3, 3)).transform(flat)
    assert out.tensor.shape == (1, 3, 32, 32) and out.tensor.dtype == np.float32
    # 1.5 in window (-3, 3) -> 0.75, then (0.75 - mean_c) / std_c for each channel
    expected = (0.75 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(out.tensor[0, :, 5, 5], expected, rtol=1e-5)
    const = ToBackboneInput(size=16, scale="minmax", mean=(0, 0, 0), std=(1, 1, 1)).transform(flat)
    assert np.all(const.tensor == 0)


def test_rigid_registration_recovers_a_translation():
    z, y, x = np.meshgrid(np.arange(24), np.arange(40), np.arange(40), indexing="ij")
    sp = (1.0, 1.0, 2.0)

    def blob(cx, cy, cz):
        return (np.exp(-(((x - cx) ** 2 + (y - cy) ** 2) / 40.0 + (z - cz) ** 2 / 10.0)) * 100
                + np.exp(-(((x - cx - 8) ** 2 + (y - cy + 5) ** 2) / 15.0 + (z - cz - 2) ** 2 / 5.0)) * 60)

    fixed = Image(blob(20, 20, 12).astype(np.float32), sp)
    moving = Image(blob(22.0, 18.5, 13.5).astype(np.float32), sp)  # shifted by (+2, -1.5, +3 mm)
    reg, _, info = rigid_register(fixed, moving, metric="meansquares")
    np.testing.assert_allclose(info["translation_mm"], [2.0, -1.5, 3.0], atol=0.3)
    before = np.corrcoef(fixed.array.ravel(), moving.array.ravel())[0, 1]
    after = np.corrcoef(fixed.array.ravel(), reg.array.ravel())[0, 1]
    assert after > 0.99 > before
