"""Reading medical images into one in-memory form.

Every reader returns an :class:`Image`: a float32 numpy array in SimpleITK's index order
(``(z, y, x)`` for volumes, ``(y, x)`` for 2-D images) and the geometry in SimpleITK's physical
convention (``spacing``/``origin`` in ``(x, y, z)`` order, millimetres, LPS patient coordinates,
``direction`` as a row-major cosine matrix). Using ITK's convention for all formats means a NIfTI
volume, the same volume exported as a DICOM series and the SimpleITK reading of either agree to
the voxel, which the tests check.

Readers
-------
* NIfTI (``.nii``, ``.nii.gz``) with nibabel; nibabel's RAS affine is converted to LPS as ITK does.
* DICOM series (a folder, or one file of the series) with pydicom: slices sorted by the projection
  of ImagePositionPatient on the slice normal (never by file name or InstanceNumber, which
  scanners do not keep consistent), RescaleSlope/RescaleIntercept applied per slice.
* PNG/JPEG/BMP/TIFF (ultrasound frames) with Pillow, converted to grey level.

Every failure raises :class:`~her2stats.errors.InputError` naming the file and the fix.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from ..errors import InputError

PathLike = str | os.PathLike

_NIFTI = (".nii", ".nii.gz")
_DICOM = (".dcm", ".dicom", ".ima")
_RASTER = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
_ITK_ONLY = (".nrrd", ".mha", ".mhd")


@dataclass(frozen=True, eq=False)
class Image:
    """An image or volume with its physical geometry.

    Attributes
    ----------
    array : float32 array, ``(z, y, x)`` for 3-D or ``(y, x)`` for 2-D (SimpleITK index order).
    spacing : voxel size in mm, ``(x, y[, z])`` order (SimpleITK order).
    origin : physical position of voxel 0 in mm (LPS), ``(x, y[, z])``.
    direction : row-major direction cosines (``ndim*ndim`` values), SimpleITK convention.
    path : file or folder the image came from (None for in-memory images).
    meta : reader-specific metadata (modality, series UID, rescale values...).
    """

    array: np.ndarray
    spacing: tuple[float, ...]
    origin: tuple[float, ...] = ()
    direction: tuple[float, ...] = ()
    path: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        nd = self.array.ndim
        if nd not in (2, 3):
            raise InputError(f"{self._where()}: expected a 2-D or 3-D image, got an array of shape {self.array.shape}")
        if len(self.spacing) != nd:
            raise InputError(f"{self._where()}: spacing {self.spacing} does not match the {nd}-D array")
        if not self.origin:
            object.__setattr__(self, "origin", (0.0,) * nd)
        if not self.direction:
            object.__setattr__(self, "direction", tuple(np.eye(nd).ravel().tolist()))

    def _where(self) -> str:
        return f"image {self.path}" if self.path else "in-memory image"

    @property
    def ndim(self) -> int:
        return self.array.ndim

    @property
    def shape(self) -> tuple[int, ...]:
        return self.array.shape

    def with_array(self, array: np.ndarray, **changes: Any) -> "Image":
        """A copy with a new array (and optionally new geometry)."""
        return replace(self, array=array, **changes)

    def to_sitk(self):
        """The image as a ``SimpleITK.Image`` with the same geometry."""
        import SimpleITK as sitk

        img = sitk.GetImageFromArray(np.ascontiguousarray(self.array))
        img.SetSpacing(tuple(float(s) for s in self.spacing))
        img.SetOrigin(tuple(float(o) for o in self.origin))
        img.SetDirection(tuple(float(d) for d in self.direction))
        return img

    @classmethod
    def from_sitk(cls, img, path: str | None = None, meta: Mapping[str, Any] | None = None,
                  dtype: Any = np.float32) -> "Image":
        import SimpleITK as sitk

        return cls(array=sitk.GetArrayFromImage(img).astype(dtype, copy=False), spacing=tuple(img.GetSpacing()),
                   origin=tuple(img.GetOrigin()), direction=tuple(img.GetDirection()), path=path,
                   meta=dict(meta or {}))

    def same_grid(self, other: "Image", rtol: float = 1e-3, atol: float = 1e-3) -> bool:
        return (self.shape == other.shape and np.allclose(self.spacing, other.spacing, rtol=rtol, atol=atol)
                and np.allclose(self.origin, other.origin, rtol=rtol, atol=max(atol, 1e-2))
                and np.allclose(self.direction, other.direction, atol=1e-3))


# ----------------------------------------------------------------------------------------- readers

def image_kind(path: PathLike) -> str:
    """``"nifti" | "dicom" | "raster" | "itk"`` from the path (a folder is a DICOM series)."""
    p = Path(path)
    name = p.name.lower()
    if p.is_dir():
        return "dicom"
    if name.endswith(_NIFTI):
        return "nifti"
    if name.endswith(_DICOM):
        return "dicom"
    if name.endswith(_RASTER):
        return "raster"
    if name.endswith(_ITK_ONLY):
        return "itk"
    raise InputError(
        f"cannot tell the format of {path!s}: expected .nii/.nii.gz (NIfTI), a DICOM folder or .dcm, "
        f"or .png/.jpg/.bmp/.tif; rename the file or convert it"
    )


def read_image(path: PathLike, *, spacing: Iterable[float] | None = None, series_uid: str | None = None,
               expect_ndim: int | None = None) -> Image:
    """Read a NIfTI file, a DICOM series or a PNG/JPEG image into an :class:`Image`.

    Parameters
    ----------
    path : file, or folder holding one DICOM series.
    spacing : pixel spacing in mm ``(x, y)`` for raster images, which carry none (default 1 mm,
        recorded as ``meta["spacing_assumed"] = True``). Ignored for NIfTI/DICOM.
    series_uid : which series to read when a DICOM folder holds several.
    expect_ndim : 2 or 3; a 4-D volume (e.g. all DCE phases in one NIfTI) or a volume of the wrong
        dimension raises InputError instead of being silently sliced.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"image file not found: {p!s}; check the image_path/mask_path column")
    kind = image_kind(p)
    if kind == "nifti":
        img = _read_nifti(p)
    elif kind == "dicom":
        img = read_dicom_series(p, series_uid=series_uid)
    elif kind == "raster":
        img = _read_raster(p, spacing)
    else:
        img = _read_itk(p)
    if expect_ndim is not None and img.ndim != expect_ndim:
        raise InputError(f"{p!s}: expected a {expect_ndim}-D image, got shape {img.shape}; "
                         f"split multi-phase or multi-channel files into one file per sequence")
    return img


def _read_nifti(p: Path) -> Image:
    import nibabel as nib

    try:
        nii = nib.load(str(p))
        data = np.asanyarray(nii.dataobj)  # applies scl_slope/scl_inter
    except Exception as exc:  # nibabel raises many types for corrupt/truncated files
        raise InputError(f"cannot read NIfTI file {p!s} (corrupt or truncated?): {exc}") from exc
    data = np.squeeze(data) if data.ndim > 3 and all(s == 1 for s in data.shape[3:]) else data
    if data.ndim == 4:
        raise InputError(f"{p!s} is 4-D with shape {data.shape} (several volumes, e.g. DCE phases, in one file); "
                         f"save one 3-D volume per sequence/phase")
    if data.ndim not in (2, 3):
        raise InputError(f"{p!s}: unsupported NIfTI shape {data.shape}")
    affine = nii.affine
    nd = data.ndim
    zooms = tuple(float(z) for z in nii.header.get_zooms()[:nd])
    # nibabel axis i (fastest in the file) is ITK's x: the ITK array is the transpose
    arr = np.ascontiguousarray(data.T).astype(np.float32)
    ras_to_lps = np.diag([-1.0, -1.0, 1.0])
    rot = ras_to_lps @ affine[:3, :3]
    origin3 = ras_to_lps @ affine[:3, 3]
    if nd == 3:
        direction = rot / np.asarray(zooms)[None, :]
        origin = tuple(origin3.tolist())
    else:
        direction = rot[:2, :2] / np.asarray(zooms)[None, :]
        origin = tuple(origin3[:2].tolist())
    import nibabel.orientations as nio

    meta = {"format": "nifti", "orientation": "".join(nio.aff2axcodes(affine)), "affine_ras": affine.tolist()}
    return Image(arr, zooms, origin, tuple(direction.ravel().tolist()), str(p), meta)


def _read_raster(p: Path, spacing: Iterable[float] | None) -> Image:
    from PIL import Image as PILImage, UnidentifiedImageError

    try:
        with PILImage.open(p) as im:
            im.load()
            mode = im.mode
            if mode in ("I;16", "I;16B", "I", "F"):
                arr = np.asarray(im, dtype=np.float32)
            else:
                arr = np.asarray(im.convert("L"), dtype=np.float32)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"cannot read image file {p!s} (corrupt or not an image?): {exc}") from exc
    assumed = spacing is None
    sp = (1.0, 1.0) if spacing is None else tuple(float(s) for s in spacing)
    if len(sp) != 2:
        raise InputError(f"spacing for the 2-D image {p!s} needs 2 values (x, y), got {sp}")
    return Image(arr, sp, path=str(p), meta={"format": "raster", "mode": mode, "spacing_assumed": assumed})


def _read_itk(p: Path) -> Image:
    import SimpleITK as sitk

    try:
        img = sitk.ReadImage(str(p))
    except RuntimeError as exc:
        raise InputError(f"cannot read image file {p!s}: {exc}") from exc
    if img.GetDimension() == 4 or img.GetNumberOfComponentsPerPixel() > 1:
        raise InputError(f"{p!s} has 4 dimensions or several components; save one 3-D volume per sequence")
    return Image.from_sitk(img, path=str(p), meta={"format": "itk"})


def read_dicom_series(path: PathLike, series_uid: str | None = None) -> Image:
    """Read one DICOM series (folder, or any file of it) sorted by slice position.

    Sorting: slices are ordered by ``n · IPP`` with ``n = row × column`` of
    ImageOrientationPatient, the physical position along the slice normal. Slice spacing is the
    median gap of these positions; gaps differing from it by more than 1% (missing slices) raise.
    Stored values are converted with each slice's ``RescaleSlope``/``RescaleIntercept``.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    p = Path(path)
    files = sorted(f for f in p.iterdir() if f.is_file()) if p.is_dir() else [p]
    if not p.is_dir():
        # one file given: read the whole series from its folder
        files = sorted(f for f in p.parent.iterdir() if f.is_file())
        try:
            series_uid = series_uid or str(pydicom.dcmread(str(p), stop_before_pixels=True).SeriesInstanceUID)
        except Exception as exc:
            raise InputError(f"cannot read DICOM file {p!s}: {exc}") from exc
    datasets = []
    for f in files:
        try:
            ds = pydicom.dcmread(str(f))
        except (InvalidDicomError, OSError, EOFError) as exc:
            if p.is_dir() and f.name.lower().endswith(_DICOM):
                raise InputError(f"cannot read DICOM file {f!s} (corrupt or truncated?): {exc}") from exc
            continue  # non-DICOM side files (DICOMDIR readmes, .json) in a series folder
        except Exception as exc:
            raise InputError(f"cannot read DICOM file {f!s}: {exc}") from exc
        if "PixelData" not in ds:
            continue
        datasets.append((f, ds))
    if not datasets:
        raise InputError(f"no DICOM images found in {p!s}")
    uids = sorted({str(getattr(ds, "SeriesInstanceUID", "")) for _, ds in datasets})
    if series_uid is not None:
        datasets = [(f, ds) for f, ds in datasets if str(getattr(ds, "SeriesInstanceUID", "")) == series_uid]
        if not datasets:
            raise InputError(f"series {series_uid} not found in {p!s}; series there: {uids}")
    elif len(uids) > 1:
        raise InputError(f"{p!s} holds {len(uids)} DICOM series {uids}; pass series_uid= or give one folder per series")
    where = str(p)
    first = datasets[0][1]
    for tag in ("ImageOrientationPatient", "ImagePositionPatient", "PixelSpacing"):
        if tag not in first:
            raise InputError(f"DICOM series {where} lacks {tag}; cannot place slices in space")
    iop = np.asarray(first.ImageOrientationPatient, dtype=float)
    row_dir, col_dir = iop[:3], iop[3:]
    normal = np.cross(row_dir, col_dir)
    positions = []
    slices = []
    for f, ds in datasets:
        if not np.allclose(np.asarray(ds.ImageOrientationPatient, float), iop, atol=1e-4):
            raise InputError(f"DICOM file {f!s} has a different ImageOrientationPatient from the rest of its series")
        try:
            pix = ds.pixel_array.astype(np.float64)
        except Exception as exc:
            raise InputError(f"cannot decode pixel data of DICOM file {f!s}: {exc}") from exc
        if pix.ndim != 2:
            raise InputError(f"DICOM file {f!s} holds a multi-frame/colour image of shape {pix.shape}; "
                             f"only single-frame grey-level series are supported")
        slope = float(getattr(ds, "RescaleSlope", 1.0) or 1.0)
        intercept = float(getattr(ds, "RescaleIntercept", 0.0) or 0.0)
        slices.append(pix * slope + intercept)
        positions.append(float(np.dot(normal, np.asarray(ds.ImagePositionPatient, float))))
    shapes = {s.shape for s in slices}
    if len(shapes) > 1:
        raise InputError(f"DICOM series {where} mixes slice sizes {sorted(shapes)}")
    order = np.argsort(positions, kind="stable")
    pos = np.asarray(positions)[order]
    if len(np.unique(np.round(pos, 4))) != len(pos):
        raise InputError(f"DICOM series {where} has several slices at the same position (several phases or "
                         f"echoes in one folder?); give one folder per phase")
    arr = np.stack([slices[i] for i in order]).astype(np.float32)
    ps = [float(v) for v in first.PixelSpacing]  # (row spacing = y, column spacing = x)
    if len(pos) > 1:
        gaps = np.diff(pos)
        dz = float(np.median(gaps))
        if np.any(np.abs(gaps - dz) > 0.01 * dz):
            raise InputError(f"DICOM series {where} has uneven slice gaps {np.unique(np.round(gaps, 3)).tolist()} "
                             f"(missing slices?); check the series is complete")
    else:
        dz = float(getattr(first, "SliceThickness", 1.0) or 1.0)
    first_ds = datasets[order[0]][1]
    origin = tuple(float(v) for v in first_ds.ImagePositionPatient)
    direction = np.column_stack([row_dir, col_dir, normal])
    meta = {"format": "dicom", "series_uid": uids[0] if series_uid is None else series_uid,
            "modality": str(getattr(first, "Modality", "")), "n_files": len(datasets)}
    return Image(arr, (ps[1], ps[0], dz), origin, tuple(direction.ravel().tolist()), where, meta)


def read_mask(path: PathLike, like: Image | None = None, *, label: int | None = None,
              case: str | None = None) -> Image:
    """Read a segmentation mask and check it against its image.

    The mask must have the image's shape, spacing, origin and direction (checked to 0.1%),
    contain at least one voxel of ``label`` (any non-zero value when ``label`` is None) and no
    NaN. Returns an Image whose array is boolean.
    """
    who = f"case {case}: " if case else ""
    m = read_image(path, spacing=like.spacing if (like is not None and like.ndim == 2) else None)
    arr = m.array
    if np.isnan(arr).any():
        raise InputError(f"{who}mask {path!s} contains NaN values")
    binary = (arr == label) if label is not None else (arr != 0)
    if like is not None:
        if m.shape != like.shape:
            raise InputError(f"{who}mask {path!s} has shape {m.shape} but image {like.path} has shape {like.shape}; "
                             f"the mask must be drawn on the same image grid")
        if not np.allclose(m.spacing, like.spacing, rtol=1e-3, atol=1e-4):
            raise InputError(f"{who}mask {path!s} has spacing {tuple(round(s, 4) for s in m.spacing)} mm but image "
                             f"{like.path} has {tuple(round(s, 4) for s in like.spacing)} mm; resample the mask "
                             f"onto the image grid")
        if like.meta.get("format") != "raster" and (
                not np.allclose(m.origin, like.origin, atol=1e-2) or not np.allclose(m.direction, like.direction, atol=1e-3)):
            raise InputError(f"{who}mask {path!s} is not on the same physical grid (origin/direction) as {like.path}")
    if not binary.any():
        what = f"label {label}" if label is not None else "any non-zero voxel"
        raise InputError(f"{who}mask {path!s} is empty (no {what}); check the segmentation")
    return m.with_array(binary)


def file_digest(path: PathLike) -> str:
    """sha256 of a file's bytes, or of a folder's files (sorted by name) for a DICOM series."""
    p = Path(path)
    h = hashlib.sha256()
    files = sorted(f for f in p.iterdir() if f.is_file()) if p.is_dir() else [p]
    for f in files:
        if p.is_dir():
            h.update(f.name.encode() + b"\0")
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def array_digest(array: np.ndarray) -> str:
    """sha256 of an in-memory array (dtype, shape and bytes)."""
    a = np.ascontiguousarray(array)
    h = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
    h.update(a.tobytes())
    return h.hexdigest()


# ----------------------------------------------------------------------------------------- writers

def write_nifti(image: Image | np.ndarray, path: PathLike, spacing: Iterable[float] | None = None,
                dtype: Any = None) -> Path:
    """Write an Image (or an ITK-ordered array with ``spacing``) as NIfTI, inverse of the reader."""
    import nibabel as nib

    if not isinstance(image, Image):
        image = Image(np.asarray(image), tuple(spacing or (1.0,) * np.asarray(image).ndim))
    nd = image.ndim
    direction = np.asarray(image.direction, float).reshape(nd, nd)
    affine = np.eye(4)
    rot = np.eye(3)
    rot[:nd, :nd] = direction * np.asarray(image.spacing)[None, :]
    org = np.zeros(3)
    org[:nd] = image.origin
    lps_to_ras = np.diag([-1.0, -1.0, 1.0])
    affine[:3, :3] = lps_to_ras @ rot
    affine[:3, 3] = lps_to_ras @ org
    data = np.asarray(image.array).T
    if dtype is not None:
        data = data.astype(dtype)
    nii = nib.Nifti1Image(data, affine)
    nii.header.set_zooms(tuple(image.spacing))
    out = Path(path)
    nib.save(nii, str(out))
    return out


def write_dicom_series(array: np.ndarray, folder: PathLike, spacing: Iterable[float] = (1.0, 1.0, 1.0),
                       origin: Iterable[float] = (0.0, 0.0, 0.0), slope: float = 1.0, intercept: float = 0.0,
                       modality: str = "MR", series_uid: str | None = None, shuffle_names: bool = False,
                       seed: int = 0) -> Path:
    """Write a ``(z, y, x)`` volume as a single-frame DICOM series (axial, identity direction).

    Stored values are ``round((value - intercept) / slope)`` as uint16/int16 with the rescale
    tags set, so reading applies the inverse. ``shuffle_names`` gives files names in random order
    (to check that readers sort by position, not by name). Used for tests and demo data.
    """
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    arr = np.asarray(array, dtype=np.float64)
    if arr.ndim != 3:
        raise InputError(f"write_dicom_series needs a 3-D (z, y, x) array, got shape {arr.shape}")
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    stored = np.round((arr - intercept) / slope)
    signed = stored.min() < 0
    dtype = np.int16 if signed else np.uint16
    info = np.iinfo(dtype)
    if stored.min() < info.min or stored.max() > info.max:
        raise InputError("values do not fit 16 bits with this slope/intercept")
    sx, sy, sz = (float(s) for s in spacing)
    ox, oy, oz = (float(o) for o in origin)
    series_uid = series_uid or generate_uid()
    study_uid = generate_uid()
    frame_uid = generate_uid()
    names = list(range(arr.shape[0]))
    if shuffle_names:
        np.random.default_rng(seed).shuffle(names)
    for k in range(arr.shape[0]):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MRImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(str(out / f"slice_{names[k]:04d}.dcm"), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID = MRImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.FrameOfReferenceUID = frame_uid
        ds.Modality = modality
        ds.PatientID = "SYNTH"
        ds.InstanceNumber = int(names[k]) + 1
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [ox, oy, oz + k * sz]
        ds.PixelSpacing = [sy, sx]
        ds.SliceThickness = sz
        ds.Rows, ds.Columns = arr.shape[1], arr.shape[2]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1 if signed else 0
        ds.RescaleSlope = slope
        ds.RescaleIntercept = intercept
        ds.PixelData = stored[k].astype(dtype).tobytes()
        ds.save_as(str(out / f"slice_{names[k]:04d}.dcm"), enforce_file_format=True)
    return out
