"""RadiomicsExtractor with the real pyradiomics (3.0.1): the same numbers as a direct pyradiomics
call on the same files (3-D demo volumes, anisotropic spacing, another mask label, a single 2-D
slice with force2D), the content-addressed cache, cases that give no features (empty mask, one
voxel) and NaN/inf feature values; and the path where pyradiomics is not installed."""
from __future__ import annotations

import builtins
import logging
import warnings

import numpy as np
import pandas as pd
import pytest

from her2stats.errors import InputError
from her2stats.features import RadiomicsExtractor
from her2stats.imaging import Image, write_nifti

#: relative tolerance of the parity with direct pyradiomics: her2stats reads the image as float32
#: (the demo's int16 grey levels are exact in float32) and passes the same geometry, so the only
#: differences are float summation order inside pyradiomics
RTOL = 1e-9


def _radiomics():
    return pytest.importorskip("radiomics", reason="pyradiomics 3.0.1 is installed by `make install`")


def _direct(image_path, mask_path, label=1, classes=None, **settings):
    """pyradiomics called by hand on the files (its own SimpleITK reader)."""
    _radiomics()
    from radiomics import featureextractor

    logging.getLogger("radiomics").setLevel(logging.ERROR)
    ext = featureextractor.RadiomicsFeatureExtractor(**settings)
    if classes is not None:
        ext.disableAllFeatures()
        for c in classes:
            ext.enableFeatureClassByName(c)
    res = ext.execute(str(image_path), str(mask_path), label=label)
    return {k: float(v) for k, v in res.items() if not k.startswith("diagnostics_")}


@pytest.fixture(scope="module")
def demo_cases():
    from her2stats.data import demo_images

    t = demo_images()
    return t[t["sequence"] == "DCE_post1"].head(3).reset_index(drop=True)


def _check_parity(row: pd.Series, direct: dict, sequence: str):
    assert len(direct) > 50
    got = {k[len(sequence) + 1:]: v for k, v in row.items()}
    assert set(got) == set(direct)
    for k, v in direct.items():
        assert got[k] == pytest.approx(v, rel=RTOL, abs=1e-12), k


def test_parity_with_pyradiomics_on_demo_volumes(demo_cases, tmp_path):
    """3-D demo volumes (0.7 x 0.7 x 3 mm): every feature equals pyradiomics' on the same files,
    with pyradiomics' defaults and with binWidth 10 + force2D."""
    _radiomics()
    for settings in ({}, {"binWidth": 10, "force2D": True}):
        fx = RadiomicsExtractor(settings=settings)
        X = fx.fit_transform(demo_cases)
        assert list(X.index) == list(demo_cases["patient_id"]) and X.index.name == "patient_id"
        assert fx.version_ == "3.0.1" and fx.n_excluded_ == 0 and fx.nonfinite_.empty
        for r in demo_cases.itertuples():
            _check_parity(X.loc[r.patient_id], _direct(r.image_path, r.mask_path, **settings), "DCE_post1")
    # the shape features carry the physical spacing: voxel volume = voxels x 0.7 x 0.7 x 3 mm^3
    import SimpleITK as sitk

    m = sitk.GetArrayFromImage(sitk.ReadImage(demo_cases["mask_path"][0]))
    assert X.iloc[0]["DCE_post1_original_shape_VoxelVolume"] == pytest.approx((m == 1).sum() * 0.7 * 0.7 * 3.0, rel=1e-5)


def _synthetic(tmp_path, spacing=(0.5, 0.9, 2.5), label=2, seed=0):
    rng = np.random.default_rng(seed)
    arr = rng.normal(100, 20, (8, 40, 36)).round().astype(np.float32)
    arr[2:6, 10:30, 8:28] += 60
    mask = np.zeros(arr.shape, np.float32)
    mask[2:6, 12:28, 10:26] = 1
    mask[3:5, 15:22, 12:20] = label  # the ROI of `label` inside another label
    ip = write_nifti(Image(arr, spacing), tmp_path / f"img{seed}.nii.gz")
    mp = write_nifti(Image(mask, spacing), tmp_path / f"mask{seed}.nii.gz")
    return ip, mp, arr, mask


def test_parity_anisotropic_spacing_and_mask_label(tmp_path):
    _radiomics()
    ip, mp, _, mask = _synthetic(tmp_path)
    table = pd.DataFrame([{"patient_id": "S1", "sequence": "t1", "image_path": str(ip), "mask_path": str(mp)}])
    for label in (1, 2):
        X = RadiomicsExtractor(label=label).fit_transform(table)
        direct = _direct(ip, mp, label=label)
        _check_parity(X.loc["S1"], direct, "t1")
        spacing = 0.5 * 0.9 * 2.5
        assert X.loc["S1", "t1_original_shape_VoxelVolume"] == pytest.approx((mask == label).sum() * spacing, rel=1e-6)


def test_parity_single_2d_slice_with_force2d_and_shape2d(demo_cases, tmp_path):
    """A single slice (2-D file): force2D with the shape2D class, as pyradiomics on the same file."""
    _radiomics()
    import SimpleITK as sitk

    r = demo_cases.iloc[0]
    img = sitk.GetArrayFromImage(sitk.ReadImage(r.image_path)).astype(np.float32)
    m = sitk.GetArrayFromImage(sitk.ReadImage(r.mask_path)).astype(np.float32)
    z = int(np.argmax(m.reshape(m.shape[0], -1).sum(axis=1)))
    ip = write_nifti(Image(img[z], (0.7, 0.7)), tmp_path / "slice.nii.gz")
    mp = write_nifti(Image(m[z], (0.7, 0.7)), tmp_path / "slice_mask.nii.gz")
    table = pd.DataFrame([{"patient_id": "S", "sequence": "us", "image_path": str(ip), "mask_path": str(mp)}])
    classes = ["firstorder", "shape2D", "glcm", "glrlm", "glszm", "gldm", "ngtdm"]
    X = RadiomicsExtractor(settings={"force2D": True}, feature_classes=classes).fit_transform(table)
    direct = _direct(ip, mp, classes=classes, force2D=True)
    _check_parity(X.loc["S"], direct, "us")
    assert X.loc["S", "us_original_shape2D_PixelSurface"] == pytest.approx((m[z] == 1).sum() * 0.49, rel=1e-6)


def test_cache_hits_give_the_same_numbers_and_settings_change_the_key(demo_cases, tmp_path):
    _radiomics()
    fx = RadiomicsExtractor(settings={"binWidth": 25}, cache_dir=tmp_path / "c")
    X1 = fx.fit_transform(demo_cases)
    assert fx.cache_stats_["hits"] == 0 and fx.cache_stats_["writes"] == 3
    assert fx.seconds_per_case_ > 0
    fx2 = RadiomicsExtractor(settings={"binWidth": 25}, cache_dir=tmp_path / "c")
    X2 = fx2.fit_transform(demo_cases)
    assert fx2.cache_stats_["hits"] == 3 and np.isnan(fx2.seconds_per_case_)
    pd.testing.assert_frame_equal(X1, X2)
    fx3 = RadiomicsExtractor(settings={"binWidth": 10}, cache_dir=tmp_path / "c")
    X3 = fx3.fit_transform(demo_cases)
    assert fx3.cache_stats_["hits"] == 0
    assert not np.allclose(X1.filter(like="glcm").to_numpy(), X3.filter(like="glcm").to_numpy())


def _bad_masks(tmp_path, demo_cases):
    import SimpleITK as sitk

    r = demo_cases.iloc[0]
    m = sitk.ReadImage(r.mask_path)
    a = sitk.GetArrayFromImage(m)
    rows = []
    for name, arr in (("EMPTY", np.zeros_like(a)), ("ONEVOX", np.zeros_like(a))):
        if name == "ONEVOX":
            arr[8, 30, 30] = 1
        out = sitk.GetImageFromArray(arr)
        out.CopyInformation(m)
        path = tmp_path / f"{name}_mask.nii.gz"
        sitk.WriteImage(out, str(path))
        rows.append({"patient_id": name, "sequence": "DCE_post1", "image_path": r.image_path, "mask_path": str(path)})
    return pd.concat([demo_cases, pd.DataFrame(rows)], ignore_index=True)


def test_empty_and_one_voxel_masks_name_the_case(demo_cases, tmp_path):
    _radiomics()
    table = _bad_masks(tmp_path, demo_cases)
    with pytest.raises(InputError, match=r"2 of 5 case\(s\) gave no features.*EMPTY.*ONEVOX.*1 segmented voxel"):
        RadiomicsExtractor().fit_transform(table)
    fx = RadiomicsExtractor(on_error="skip")
    with pytest.warns(UserWarning, match=r"radiomics: 2 of 5 case\(s\) gave no features.*excluded"):
        X = fx.fit_transform(table)
    assert list(X.index) == list(demo_cases["patient_id"])
    assert fx.n_excluded_ == 2 and fx.n_cases_ == 5
    assert set(fx.failures_["patient_id"]) == {"EMPTY", "ONEVOX"}
    assert fx.failures_.set_index("patient_id").loc["EMPTY", "error"].startswith("case EMPTY")


def test_nonfinite_feature_values_are_kept_and_announced(demo_cases, monkeypatch):
    """A NaN and an inf from pyradiomics stay in the output (never dropped) and are announced."""
    _radiomics()
    from radiomics import featureextractor

    real = featureextractor.RadiomicsFeatureExtractor.execute
    calls = {"n": 0}

    def execute(self, image, mask, label=None, **kw):
        res = real(self, image, mask, label=label, **kw)
        calls["n"] += 1
        if calls["n"] == 2:
            res["original_glcm_Correlation"] = np.nan
            res["original_firstorder_Kurtosis"] = np.inf
        return res

    monkeypatch.setattr(featureextractor.RadiomicsFeatureExtractor, "execute", execute)
    fx = RadiomicsExtractor()
    with pytest.warns(UserWarning, match=r"2 feature value\(s\) are NaN or infinite, in 1 case\(s\) and 2 feature"):
        X = fx.fit_transform(demo_cases)
    second = demo_cases["patient_id"][1]
    assert X.shape[0] == 3 and np.isnan(X.loc[second, "DCE_post1_original_glcm_Correlation"])
    assert np.isinf(X.loc[second, "DCE_post1_original_firstorder_Kurtosis"])
    assert set(fx.nonfinite_["feature"]) == {"DCE_post1_original_glcm_Correlation", "DCE_post1_original_firstorder_Kurtosis"}


def test_unknown_feature_class_is_named(demo_cases):
    _radiomics()
    with pytest.raises(InputError, match="unknown feature class.*'glcmm'"):
        RadiomicsExtractor(feature_classes=["glcmm"]).fit_transform(demo_cases)


def test_missing_pyradiomics_gives_the_install_command(monkeypatch):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "radiomics" or name.startswith("radiomics."):
            raise ImportError("No module named 'radiomics'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    from her2stats.features.radiomics import radiomics_version

    with pytest.raises(ImportError, match=r"--no-build-isolation pyradiomics==3\.0\.1"):
        RadiomicsExtractor().fit()
    assert radiomics_version() is None
