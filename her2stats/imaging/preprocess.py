"""Preprocessing steps as sklearn-style transformers with recorded parameters.

Each step transforms an :class:`ImageCase` (one image of one case, with its tumour mask) or a list
of them, and returns new objects (inputs are never modified). None of the steps learns anything
from other cases: every statistic (ROI mean/SD, percentiles, bounding boxes) is computed inside the
case itself, so running them on a whole cohort before a train/test split cannot leak information.
``fit`` only validates the parameters. ``get_params()`` (sklearn) gives every parameter, which the
feature cache hashes, so changing any of them changes the cache key.

Order used by :class:`~her2stats.features.DeepFeatureExtractor`::

    Resample -> IntensityNormalizer -> ROICrop -> SliceSelector -> ToBackboneInput

References: seed 000 (resampling to 0.5 x 0.5 x 3 mm, intensity normalisation, rigid registration
between sequences); seed 001 (mask expanded 50 px, ROI extraction, z-score, resizing).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Sequence

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from ..errors import InputError
from .io import Image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True, eq=False)
class ImageCase:
    """One image of one case moving through preprocessing.

    ``slices`` is filled by :class:`SliceSelector` (labelled 2-D arrays) and ``tensor`` by
    :class:`ToBackboneInput` (``(n_slices, 3, size, size)`` float32). ``notes`` records decisions
    taken on the data (e.g. which slice was the largest), for reports.
    """

    image: Image
    mask: Image | None = None
    case_id: str = ""
    sequence: str = ""
    slices: tuple[tuple[str, np.ndarray], ...] = ()
    tensor: np.ndarray | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    def where(self) -> str:
        parts = [f"case {self.case_id}" if self.case_id else "", f"sequence {self.sequence}" if self.sequence else "",
                 f"file {self.image.path}" if self.image.path else ""]
        return ", ".join(p for p in parts if p) or "image"

    def evolve(self, **changes: Any) -> "ImageCase":
        notes = dict(self.notes)
        notes.update(changes.pop("notes", {}))
        return replace(self, notes=notes, **changes)


class _CaseStep(BaseEstimator, TransformerMixin):
    """Stateless per-case step: ``fit`` validates, ``transform`` maps over cases."""

    def _validate(self) -> None:  # overridden where there is something to check
        return None

    def fit(self, X: Any = None, y: Any = None) -> "_CaseStep":
        self._validate()
        return self

    def transform(self, X: ImageCase | Sequence[ImageCase]) -> ImageCase | list[ImageCase]:
        self._validate()
        if isinstance(X, ImageCase):
            return self.apply(X)
        return [self.apply(c) for c in X]

    def apply(self, case: ImageCase) -> ImageCase:  # pragma: no cover - abstract
        raise NotImplementedError


def _check_finite(case: ImageCase) -> None:
    arr = case.image.array
    if not np.isfinite(arr).all():
        n = int((~np.isfinite(arr)).sum())
        raise InputError(f"{case.where()}: {n} NaN/inf voxel(s) in the image; fix or mask them before extraction")


class Resample(_CaseStep):
    """Resample image (linear/B-spline) and mask (nearest neighbour) to a target spacing.

    Parameters
    ----------
    spacing : target voxel size in mm, ``(x, y, z)`` for volumes (seed 000: ``(0.5, 0.5, 3.0)``)
        or ``(x, y)`` for 2-D images; None leaves the image unchanged.
    interpolator : ``"linear"`` (default), ``"bspline"`` or ``"nearest"`` for the image.

    The output grid keeps the origin and direction and covers the same physical extent:
    ``size_new = round(size * spacing_old / spacing_new)``.
    """

    def __init__(self, spacing: Sequence[float] | None = (0.5, 0.5, 3.0), interpolator: str = "linear"):
        self.spacing = spacing
        self.interpolator = interpolator

    def _validate(self) -> None:
        if self.interpolator not in ("linear", "bspline", "nearest"):
            raise InputError(f"Resample interpolator must be 'linear', 'bspline' or 'nearest', got {self.interpolator!r}")
        if self.spacing is not None and (len(self.spacing) not in (2, 3) or min(self.spacing) <= 0):
            raise InputError(f"Resample spacing must be 2 or 3 positive values in mm, got {self.spacing!r}")

    def apply(self, case: ImageCase) -> ImageCase:
        if self.spacing is None:
            return case
        _check_finite(case)
        img = case.image
        target = tuple(float(s) for s in self.spacing)[: img.ndim]
        if len(target) != img.ndim:
            raise InputError(f"{case.where()}: a {img.ndim}-D image needs {img.ndim} spacing values, got {self.spacing}")
        if np.allclose(target, img.spacing, rtol=1e-6):
            return case
        new_img = resample_to_spacing(img, target, self.interpolator)
        new_mask = resample_to_spacing(case.mask, target, "nearest") if case.mask is not None else None
        if new_mask is not None and not new_mask.array.any():
            raise InputError(f"{case.where()}: the mask vanished when resampled to {target} mm (it is smaller than one "
                             f"target voxel); use a finer spacing")
        return case.evolve(image=new_img, mask=new_mask, notes={"resampled_from": tuple(img.spacing)})


def resample_to_spacing(img: Image, spacing: Sequence[float], interpolator: str = "linear") -> Image:
    """Resample ``img`` onto a grid with ``spacing`` covering the same physical extent."""
    import SimpleITK as sitk

    interp = {"linear": sitk.sitkLinear, "bspline": sitk.sitkBSpline, "nearest": sitk.sitkNearestNeighbor}[interpolator]
    is_mask = img.array.dtype == bool
    src = img.with_array(img.array.astype(np.uint8) if is_mask else img.array.astype(np.float32)).to_sitk()
    old_size = np.asarray(src.GetSize(), float)
    new_size = [max(1, int(round(s))) for s in old_size * np.asarray(img.spacing) / np.asarray(spacing)]
    f = sitk.ResampleImageFilter()
    f.SetOutputSpacing(tuple(float(s) for s in spacing))
    f.SetSize(new_size)
    f.SetOutputOrigin(src.GetOrigin())
    f.SetOutputDirection(src.GetDirection())
    f.SetInterpolator(interp)
    f.SetDefaultPixelValue(0)
    out = f.Execute(src)
    arr = sitk.GetArrayFromImage(out)
    arr = arr.astype(bool) if is_mask else arr.astype(np.float32)
    return img.with_array(arr, spacing=tuple(out.GetSpacing()))


class IntensityNormalizer(_CaseStep):
    """Normalise intensities with statistics taken inside a region of the same image.

    ``method="zscore"``: ``x' = (x - mean_R) / sd_R`` (population SD, ``ddof=0``).
    ``method="percentile"``: ``x' = (clip(x, p_lo, p_hi) - p_lo) / (p_hi - p_lo)`` with the
    percentiles (numpy's linear interpolation) of region R, giving [0, 1].
    ``method="none"``: unchanged.

    ``region``: ``"mask"`` (the tumour/ROI or breast mask given with the case; raises if
    missing), ``"image"`` (all voxels) or ``"auto"`` (mask when the case has one, else the image;
    the choice is recorded in ``case.notes["normalized_over"]``).
    """

    def __init__(self, method: str = "zscore", region: str = "auto", percentiles: Sequence[float] = (1.0, 99.0)):
        self.method = method
        self.region = region
        self.percentiles = percentiles

    def _validate(self) -> None:
        if self.method not in ("zscore", "percentile", "none"):
            raise InputError(f"IntensityNormalizer method must be 'zscore', 'percentile' or 'none', got {self.method!r}")
        if self.region not in ("mask", "image", "auto"):
            raise InputError(f"IntensityNormalizer region must be 'mask', 'image' or 'auto', got {self.region!r}")
        lo, hi = self.percentiles
        if not 0 <= lo < hi <= 100:
            raise InputError(f"percentiles must satisfy 0 <= low < high <= 100, got {self.percentiles!r}")

    def apply(self, case: ImageCase) -> ImageCase:
        _check_finite(case)
        if self.method == "none":
            return case
        if self.region == "mask" and case.mask is None:
            raise InputError(f"{case.where()}: normalisation inside the mask was requested but the case has no mask")
        use_mask = case.mask is not None and self.region in ("mask", "auto")
        arr = case.image.array
        values = arr[case.mask.array] if use_mask else arr.ravel()
        where = "mask" if use_mask else "image"
        if self.method == "zscore":
            mu, sd = float(values.mean(dtype=np.float64)), float(values.std(dtype=np.float64))
            if not sd > 0:
                raise InputError(f"{case.where()}: intensities inside the {where} are constant ({mu}); z-score undefined")
            out = (arr - mu) / sd
            stats = {"mean": mu, "sd": sd}
        else:
            lo, hi = np.percentile(values.astype(np.float64), self.percentiles)
            if not hi > lo:
                raise InputError(f"{case.where()}: percentiles {tuple(self.percentiles)} inside the {where} are equal "
                                 f"({lo}); cannot rescale")
            out = (np.clip(arr, lo, hi) - lo) / (hi - lo)
            stats = {"p_low": float(lo), "p_high": float(hi)}
        return case.evolve(image=case.image.with_array(out.astype(np.float32)),
                           notes={"normalized_over": where, "normalization": stats})


class ROICrop(_CaseStep):
    """Crop the bounding box of the tumour mask expanded by a margin.

    Parameters
    ----------
    margin : in-plane margin added on each side of the mask's bounding box (seed 001: 50 px).
    units : ``"px"`` (voxels) or ``"mm"`` (converted with the in-plane spacing, rounded up).
    margin_slices : margin in slices along z for volumes (default 0: slice selection follows).
    on_border : what to do when the margin runs past the image edge: ``"error"`` (default:
        InputError naming the case, as the requested context does not exist), ``"clip"`` (a
        smaller box, recorded in notes) or ``"pad"`` (pad with the image minimum, recorded).
    """

    def __init__(self, margin: float = 50, units: str = "px", margin_slices: int = 0, on_border: str = "error"):
        self.margin = margin
        self.units = units
        self.margin_slices = margin_slices
        self.on_border = on_border

    def _validate(self) -> None:
        if self.units not in ("px", "mm"):
            raise InputError(f"ROICrop units must be 'px' or 'mm', got {self.units!r}")
        if self.on_border not in ("error", "clip", "pad"):
            raise InputError(f"ROICrop on_border must be 'error', 'clip' or 'pad', got {self.on_border!r}")
        if self.margin < 0 or self.margin_slices < 0:
            raise InputError("ROICrop margins must be >= 0")

    def apply(self, case: ImageCase) -> ImageCase:
        if case.mask is None:
            raise InputError(f"{case.where()}: ROI crop needs a mask; give mask_path or drop the crop (margin=None)")
        img, mask = case.image, case.mask.array
        nd = img.ndim
        # in-plane axes are the last two of the (z, y, x) array; spacing is (x, y[, z])
        if self.units == "mm":
            m_y = int(np.ceil(self.margin / img.spacing[1]))
            m_x = int(np.ceil(self.margin / img.spacing[0]))
        else:
            m_y = m_x = int(self.margin)
        margins = ([int(self.margin_slices)] if nd == 3 else []) + [m_y, m_x]
        idx = np.nonzero(mask)
        lo = np.array([i.min() for i in idx]) - margins
        hi = np.array([i.max() for i in idx]) + 1 + np.array(margins)
        shape = np.array(mask.shape)
        outside = (lo < 0) | (hi > shape)
        arr = img.array
        notes: dict[str, Any] = {}
        if outside.any():
            if self.on_border == "error":
                raise InputError(
                    f"{case.where()}: the mask plus a {self.margin} {self.units} margin runs past the image border "
                    f"(box {lo.tolist()}..{hi.tolist()} in an image of shape {shape.tolist()}); use "
                    f"on_border='clip' or 'pad', or a smaller margin")
            if self.on_border == "pad":
                before = np.maximum(0, -lo)
                after = np.maximum(0, hi - shape)
                pad = list(zip(before.tolist(), after.tolist()))
                arr = np.pad(arr, pad, mode="constant", constant_values=float(arr.min()))
                mask = np.pad(mask, pad, mode="constant", constant_values=False)
                lo, hi = lo + before, hi + before
                notes["roi_padded"] = pad
            else:
                lo, hi = np.maximum(lo, 0), np.minimum(hi, shape)
                notes["roi_clipped"] = True
        sl = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))
        # the origin moves to the first kept voxel (physical geometry stays right)
        start_xyz = np.asarray(lo[::-1], float) - (np.asarray(notes.get("roi_padded", [(0, 0)] * nd))[:, 0][::-1])
        direction = np.asarray(img.direction).reshape(nd, nd)
        origin = tuple((np.asarray(img.origin) + direction @ (start_xyz * np.asarray(img.spacing))).tolist())
        notes["roi_box"] = [lo.tolist(), hi.tolist()]
        return case.evolve(image=img.with_array(arr[sl], origin=origin), mask=case.mask.with_array(mask[sl], origin=origin),
                           notes=notes)


class SliceSelector(_CaseStep):
    """Choose the 2-D slices fed to a 2-D backbone.

    ``mode``:
    * ``"largest"``: the axial slice with the largest mask area (ties: the lowest index), plus
      ``k`` neighbours on each side (clamped to the volume, recorded);
    * ``"center"``: the middle slice of the mask's z-range (of the volume without a mask), plus ``k``;
    * ``"all"``: every slice that contains mask (every slice without a mask);
    * ``"2.5d"``: three orthogonal planes (axial, coronal, sagittal) through the voxel of largest
      mask area in each direction.

    2-D images give their single plane whatever the mode. Labels: ``"z+0"``, ``"z-1"``...,
    ``"ax"``, ``"cor"``, ``"sag"``, ``"2d"``.
    """

    def __init__(self, mode: str = "largest", k: int = 0):
        self.mode = mode
        self.k = k

    def _validate(self) -> None:
        if self.mode not in ("largest", "center", "all", "2.5d"):
            raise InputError(f"slice mode must be 'largest', 'center', 'all' or '2.5d', got {self.mode!r}")
        if int(self.k) != self.k or self.k < 0:
            raise InputError(f"k (neighbouring slices) must be an integer >= 0, got {self.k!r}")

    def n_slices(self) -> int | None:
        """Number of slices per image (None when it depends on the mask, mode 'all')."""
        return {"largest": 2 * self.k + 1, "center": 2 * self.k + 1, "2.5d": 3}.get(self.mode)

    def apply(self, case: ImageCase) -> ImageCase:
        arr = case.image.array
        mask = case.mask.array if case.mask is not None else None
        if arr.ndim == 2:
            return case.evolve(slices=(("2d", arr),), notes={"slices": ["2d"]})
        nz = arr.shape[0]
        if self.mode == "2.5d":
            if mask is None:
                cz, cy, cx = (s // 2 for s in arr.shape)
            else:
                cz = int(np.argmax(mask.sum(axis=(1, 2))))
                cy = int(np.argmax(mask.sum(axis=(0, 2))))
                cx = int(np.argmax(mask.sum(axis=(0, 1))))
            planes = (("ax", arr[cz]), ("cor", arr[:, cy, :][::-1]), ("sag", arr[:, :, cx][::-1]))
            return case.evolve(slices=planes, notes={"slices": {"ax": cz, "cor": cy, "sag": cx}})
        if self.mode == "all":
            idx = np.flatnonzero(mask.any(axis=(1, 2))) if mask is not None else np.arange(nz)
            chosen = [(f"z{int(i)}", arr[i]) for i in idx]
            return case.evolve(slices=tuple(chosen), notes={"slices": idx.tolist()})
        if mask is None:
            centre = nz // 2
        elif self.mode == "largest":
            centre = int(np.argmax(mask.sum(axis=(1, 2))))
        else:
            zs = np.flatnonzero(mask.any(axis=(1, 2)))
            centre = int((zs.min() + zs.max()) // 2)
        offsets = range(-int(self.k), int(self.k) + 1)
        picked = [(f"z{o:+d}", arr[min(max(centre + o, 0), nz - 1)]) for o in offsets]
        clamped = [o for o in offsets if not 0 <= centre + o < nz]
        notes = {"slices": {"centre": centre, "k": int(self.k)}}
        if clamped:
            notes["slices_clamped"] = clamped
        return case.evolve(slices=tuple(picked), notes=notes)


class ToBackboneInput(_CaseStep):
    """Scale, resize and normalise the selected slices into a backbone's input tensor.

    1. intensity to [0, 1]: ``scale="window"`` maps ``window=(lo, hi)`` linearly onto [0, 1] with
       clipping (after a z-score, ``(-3, 3)``; after percentile normalisation, ``(0, 1)``);
       ``scale="minmax"`` uses each slice's own min and max;
    2. bilinear resize (antialiased) to ``size x size``;
    3. grey level copied to 3 channels, then ``(x - mean) / std`` per channel (ImageNet by
       default; the extractor passes the backbone's own values from timm's pretrained config).
    """

    def __init__(self, size: int = 224, scale: str = "window", window: Sequence[float] = (-3.0, 3.0),
                 mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD):
        self.size = size
        self.scale = scale
        self.window = window
        self.mean = mean
        self.std = std

    def _validate(self) -> None:
        if self.scale not in ("window", "minmax"):
            raise InputError(f"scale must be 'window' or 'minmax', got {self.scale!r}")
        if self.scale == "window" and not self.window[1] > self.window[0]:
            raise InputError(f"window must be (low, high) with high > low, got {self.window!r}")
        if int(self.size) < 8:
            raise InputError(f"size must be >= 8 pixels, got {self.size!r}")

    def apply(self, case: ImageCase) -> ImageCase:
        import torch
        import torch.nn.functional as F

        if not case.slices:
            raise InputError(f"{case.where()}: no slices selected (run SliceSelector first)")
        out = []
        for label, sl in case.slices:
            s = sl.astype(np.float32)
            if not np.isfinite(s).all():
                raise InputError(f"{case.where()}: slice {label} contains NaN/inf")
            if self.scale == "window":
                lo, hi = (float(v) for v in self.window)
            else:
                lo, hi = float(s.min()), float(s.max())
                if hi <= lo:
                    hi = lo + 1.0  # a constant slice maps to 0, not to NaN
            s = np.clip((s - lo) / (hi - lo), 0.0, 1.0)
            t = torch.from_numpy(np.ascontiguousarray(s))[None, None]
            if t.shape[-2:] != (self.size, self.size):
                t = F.interpolate(t, size=(int(self.size), int(self.size)), mode="bilinear", align_corners=False,
                                  antialias=True)
            out.append(t[0, 0].numpy())
        x = np.stack(out)[:, None].repeat(3, axis=1)
        mean = np.asarray(self.mean, np.float32)[None, :, None, None]
        std = np.asarray(self.std, np.float32)[None, :, None, None]
        return case.evolve(tensor=((x - mean) / std).astype(np.float32))


def rigid_register(fixed: Image, moving: Image, *, metric: str = "mattes", iterations: int = 200,
                   seed: int = 0, moving_mask: Image | None = None) -> tuple[Image, Image | None, dict[str, Any]]:
    """Rigidly register ``moving`` onto ``fixed`` (SimpleITK, Euler transform, mutual information).

    Returns the moving image resampled onto the fixed grid (linear), the moving mask resampled
    with the same transform (nearest neighbour) when given, and the fitted parameters
    (``{"rotation_rad": ..., "translation_mm": ..., "metric_value": ...}``). The metric sampling is
    seeded, so the result is reproducible. Used between the sequences of one case (seed 000:
    "rigid-body registration ... aligning images within each patient").
    """
    import SimpleITK as sitk

    if fixed.ndim != moving.ndim:
        raise InputError(f"cannot register a {moving.ndim}-D image ({moving.path}) onto a {fixed.ndim}-D one ({fixed.path})")
    f = fixed.with_array(fixed.array.astype(np.float32)).to_sitk()
    m = moving.with_array(moving.array.astype(np.float32)).to_sitk()
    euler = sitk.Euler3DTransform() if fixed.ndim == 3 else sitk.Euler2DTransform()
    init = sitk.CenteredTransformInitializer(f, m, euler, sitk.CenteredTransformInitializerFilter.GEOMETRY)
    reg = sitk.ImageRegistrationMethod()
    if metric == "mattes":
        reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=32)
    elif metric == "meansquares":
        reg.SetMetricAsMeanSquares()
    else:
        raise InputError(f"registration metric must be 'mattes' or 'meansquares', got {metric!r}")
    reg.SetMetricSamplingStrategy(reg.RANDOM)
    # SimpleITK reads seed 0 as "seed from the wall clock": shift by one so that every seed is fixed
    reg.SetMetricSamplingPercentage(0.25, int(seed) + 1)
    reg.SetInterpolator(sitk.sitkLinear)
    reg.SetOptimizerAsRegularStepGradientDescent(learningRate=1.0, minStep=1e-4, numberOfIterations=iterations,
                                                 relaxationFactor=0.5)
    reg.SetOptimizerScalesFromPhysicalShift()
    reg.SetInitialTransform(init, inPlace=False)
    reg.SetShrinkFactorsPerLevel([2, 1])
    reg.SetSmoothingSigmasPerLevel([1, 0])
    try:
        tx = reg.Execute(f, m)
    except RuntimeError as exc:
        raise InputError(f"rigid registration of {moving.path} onto {fixed.path} failed: {exc}") from exc
    out = sitk.Resample(m, f, tx, sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    reg_img = Image.from_sitk(out, path=moving.path, meta=dict(moving.meta))
    reg_mask = None
    if moving_mask is not None:
        mm = moving_mask.with_array(moving_mask.array.astype(np.uint8)).to_sitk()
        reg_mask = Image.from_sitk(sitk.Resample(mm, f, tx, sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8),
                                   path=moving_mask.path, dtype=bool)
    params = list(tx.GetParameters()) if not hasattr(tx, "GetNthTransform") else list(
        tx.GetNthTransform(tx.GetNumberOfTransforms() - 1).GetParameters())
    nrot = 3 if fixed.ndim == 3 else 1
    info = {"rotation_rad": params[:nrot], "translation_mm": params[nrot:],
            "metric_value": float(reg.GetMetricValue()), "iterations": int(reg.GetOptimizerIteration())}
    return reg_img, reg_mask, info


def default_steps(*, spacing: Sequence[float] | None = None, normalize: str = "zscore", margin: float | None = 50,
                  margin_units: str = "px", on_border: str = "error", slices: str = "largest", k: int = 0,
                  size: int = 224, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
                  crop: bool = True) -> list[tuple[str, _CaseStep]]:
    """The extractor's standard preprocessing as ``(name, step)`` pairs (a sklearn Pipeline's steps)."""
    steps: list[tuple[str, _CaseStep]] = []
    if spacing is not None:
        steps.append(("resample", Resample(spacing=tuple(spacing))))
    steps.append(("normalize", IntensityNormalizer(method=normalize)))
    if crop and margin is not None:
        steps.append(("crop", ROICrop(margin=margin, units=margin_units, on_border=on_border)))
    steps.append(("slices", SliceSelector(mode=slices, k=k)))
    window = (-3.0, 3.0) if normalize == "zscore" else (0.0, 1.0)
    scale = "minmax" if normalize == "none" else "window"
    steps.append(("to_input", ToBackboneInput(size=size, scale=scale, window=window, mean=tuple(mean), std=tuple(std))))
    return steps
