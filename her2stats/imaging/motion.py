"""DCE motion correction: register every phase of a dynamic series onto a reference phase.

Seed 000: "Motion-related distortions were addressed through automated artifact detection and
correction algorithms". Between the phases of a DCE series the patient moves; the contrast of
the tumour and vessels changes, so the phases are aligned with a metric that tolerates intensity
change, Mattes mutual information (Mattes et al., IEEE TMI 2003), as SimpleITK implements it:

* ``transform="rigid"``: rotation + translation (Euler, 6 parameters in 3-D);
* ``transform="affine"``: adds scaling and shear (12 parameters), for breast compression changes.

Registration is seeded (the metric's random sampling; SimpleITK's seed 0 would mean "from the
clock", so ``seed`` is passed as ``seed + 1``), so two runs give the same transform; a two-level
pyramid (shrink 2, 1) and regular-step gradient descent are used. Each phase reports the metric
before (identity) and after registration and the mean displacement (mm) the transform applies
to the voxels of the mask (of the whole volume without one): the "automated detection" part, a
phase that moved shows a displacement and a metric gain. Non-rigid (B-spline) correction is not
offered: for feature extraction from a tumour ROI it can change the lesion's shape, which is
itself a feature.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import InputError
from ..results import Result
from .io import Image, read_image, read_mask

TRANSFORMS = ("rigid", "affine")


def _registration(fixed: Any, moving: Any, transform: str, iterations: int, seed: int):
    import SimpleITK as sitk

    dim = fixed.GetDimension()
    base = (sitk.Euler3DTransform() if dim == 3 else sitk.Euler2DTransform()) if transform == "rigid" \
        else sitk.AffineTransform(dim)
    init = sitk.CenteredTransformInitializer(fixed, moving, base, sitk.CenteredTransformInitializerFilter.GEOMETRY)
    reg = sitk.ImageRegistrationMethod()
    reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=32)
    reg.SetMetricSamplingStrategy(reg.RANDOM)
    # SimpleITK reads seed 0 as "seed from the wall clock": shift by one so that every seed is fixed
    reg.SetMetricSamplingPercentage(0.25, int(seed) + 1)
    reg.SetInterpolator(sitk.sitkLinear)
    reg.SetOptimizerAsRegularStepGradientDescent(learningRate=1.0, minStep=1e-4, numberOfIterations=int(iterations),
                                                 relaxationFactor=0.5)
    reg.SetOptimizerScalesFromPhysicalShift()
    reg.SetInitialTransform(init, inPlace=False)
    reg.SetShrinkFactorsPerLevel([2, 1])
    reg.SetSmoothingSigmasPerLevel([1, 0])
    return reg


def _metric(fixed: Any, moving: Any, tx: Any, seed: int) -> float:
    import SimpleITK as sitk

    reg = sitk.ImageRegistrationMethod()
    reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=32)
    reg.SetMetricSamplingStrategy(reg.NONE)
    reg.SetInterpolator(sitk.sitkLinear)
    reg.SetInitialTransform(tx)
    return float(reg.MetricEvaluate(fixed, moving))


def register_image(fixed: Image, moving: Image, *, transform: str = "rigid", iterations: int = 200, seed: int = 0,
                   moving_mask: Image | None = None, fixed_mask: Image | None = None
                   ) -> tuple[Image, Image | None, dict[str, Any]]:
    """Register ``moving`` onto ``fixed`` (rigid or affine, Mattes mutual information).

    Returns the moving image resampled on the fixed grid (linear), the moving mask carried with
    the same transform (nearest neighbour) when given, and ``{"transform", "parameters",
    "metric_before", "metric_after", "displacement_mm", "iterations", "sitk_transform"}`` (the
    fitted SimpleITK transform maps reference points to moving points); the mean displacement is
    over ``fixed_mask`` voxels when given (the tumour), else over the whole fixed grid.
    """
    import SimpleITK as sitk

    if transform not in TRANSFORMS:
        raise InputError(f"transform must be one of {TRANSFORMS}, got {transform!r}")
    if fixed.ndim != moving.ndim:
        raise InputError(f"cannot register a {moving.ndim}-D image ({moving.path}) onto a {fixed.ndim}-D one "
                         f"({fixed.path})")
    f = fixed.with_array(fixed.array.astype(np.float32)).to_sitk()
    m = moving.with_array(moving.array.astype(np.float32)).to_sitk()
    identity = sitk.Transform(fixed.ndim, sitk.sitkIdentity)
    before = _metric(f, m, identity, seed)
    reg = _registration(f, m, transform, iterations, seed)
    try:
        tx = reg.Execute(f, m)
    except RuntimeError as exc:
        raise InputError(f"{transform} registration of {moving.path} onto {fixed.path} failed: {exc}") from exc
    after = _metric(f, m, tx, seed)
    out = Image.from_sitk(sitk.Resample(m, f, tx, sitk.sitkLinear, 0.0, sitk.sitkFloat32), path=moving.path,
                          meta=dict(moving.meta))
    reg_mask = None
    if moving_mask is not None:
        mm = moving_mask.with_array(moving_mask.array.astype(np.uint8)).to_sitk()
        reg_mask = Image.from_sitk(sitk.Resample(mm, f, tx, sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8),
                                   path=moving_mask.path, dtype=bool)
    # displacement of the fixed grid's points (the tumour's when a mask is given), in mm
    where = np.argwhere(fixed_mask.array) if fixed_mask is not None else np.argwhere(np.ones(fixed.shape, bool))
    if len(where) > 4000:
        where = where[np.linspace(0, len(where) - 1, 4000).astype(int)]
    pts = [f.TransformIndexToPhysicalPoint([int(v) for v in idx[::-1]]) for idx in where]
    disp = float(np.mean([np.linalg.norm(np.subtract(tx.TransformPoint(p), p)) for p in pts])) if pts else 0.0
    inner = tx.GetNthTransform(tx.GetNumberOfTransforms() - 1) if hasattr(tx, "GetNthTransform") else tx
    info = {"transform": transform, "parameters": [float(v) for v in inner.GetParameters()],
            "metric_before": before, "metric_after": after, "displacement_mm": disp,
            "iterations": int(reg.GetOptimizerIteration()), "sitk_transform": tx}
    return out, reg_mask, info


@dataclass(frozen=True, repr=False)
class MotionCorrection(Result):
    """Phases of one DCE series registered onto a reference phase.

    ``frame``: phase, metric_before, metric_after (Mattes mutual information, lower is better),
    displacement_mm, iterations, parameters. ``images``: the registered phases (the reference
    unchanged) on the reference grid; ``paths``: where they were written (``out_dir``).
    """

    frame: pd.DataFrame = field(compare=False)
    reference: str
    transform: str
    images: Mapping[str, Image] = field(compare=False, default_factory=dict)
    paths: Mapping[str, str] = field(compare=False, default_factory=dict)
    method: str = "SimpleITK registration, Mattes mutual information"

    def to_frame(self) -> pd.DataFrame:
        return self.frame.copy()


def correct_motion(phases: Mapping[str, Any], reference: str | None = None, *, transform: str = "rigid",
                   mask: Any = None, iterations: int = 200, seed: int = 0, out_dir: Any = None) -> MotionCorrection:
    """Register every phase of a DCE series onto ``reference`` (default: the first phase).

    Parameters
    ----------
    phases : ``{phase name: Image or image path}`` in acquisition order (e.g. ``DCE_pre``,
        ``DCE_post1``, ``DCE_post2``), at least two 3-D (or 2-D) images of one patient.
    reference : the phase the others are aligned to (its grid is kept).
    transform : ``"rigid"`` or ``"affine"``.
    mask : tumour mask (Image or path) on the reference grid; the metric uses the whole image,
        the mask says where the displacement is measured (the tumour's mean displacement).
    out_dir : when given, the registered phases are written there as ``<phase>.nii.gz``
        (each written to a temporary name and moved into place).
    """
    if not isinstance(phases, Mapping) or len(phases) < 2:
        raise InputError("correct_motion needs at least two phases, as {name: image or path}")
    names = [str(k) for k in phases]
    ref = names[0] if reference is None else str(reference)
    if ref not in names:
        raise InputError(f"reference phase {ref!r} is not one of the phases {names}")
    images = {}
    for k, v in phases.items():
        img = v if isinstance(v, Image) else read_image(v)
        if not np.isfinite(img.array).all():
            raise InputError(f"phase {k!r} has NaN/inf voxels")
        images[str(k)] = img
    fixed = images[ref]
    fmask = None
    if mask is not None:
        fmask = mask if isinstance(mask, Image) else read_mask(mask, like=fixed)
    rows, out = [], {ref: fixed}
    for name in names:
        if name == ref:
            rows.append({"phase": name, "metric_before": np.nan, "metric_after": np.nan, "displacement_mm": 0.0,
                         "iterations": 0, "parameters": "reference"})
            continue
        moving = images[name]
        if moving.ndim != fixed.ndim:
            raise InputError(f"phase {name!r} is {moving.ndim}-D but the reference {ref!r} is {fixed.ndim}-D")
        reg, _, info = register_image(fixed, moving, transform=transform, iterations=iterations, seed=seed,
                                      fixed_mask=fmask)
        out[name] = reg
        rows.append({"phase": name, "metric_before": info["metric_before"], "metric_after": info["metric_after"],
                     "displacement_mm": info["displacement_mm"], "iterations": info["iterations"],
                     "parameters": " ".join(f"{v:.4g}" for v in info["parameters"])})
    paths = {}
    if out_dir is not None:
        from .io import write_nifti

        folder = Path(out_dir)
        folder.mkdir(parents=True, exist_ok=True)
        for name, img in out.items():
            target = folder / f"{name}.nii.gz"
            tmp = folder / f".{name}.tmp.nii.gz"
            write_nifti(img, tmp)
            os.replace(tmp, target)
            paths[name] = str(target)
    return MotionCorrection(frame=pd.DataFrame(rows), reference=ref, transform=transform, images=out, paths=paths)


def correct_motion_cases(cases: pd.DataFrame, phases: Sequence[str], reference: str | None = None, *,
                         out_dir: Any, transform: str = "rigid", iterations: int = 200, seed: int = 0
                         ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Motion-correct the DCE phases of every patient of a case table.

    ``cases`` has patient_id, sequence, image_path, mask_path; ``phases`` lists the sequences of
    the DCE series (the first is the default reference, whose mask is used for the displacement).
    The registered phases are written under ``out_dir/<patient_id>/``; returns the case table
    with those phases' ``image_path`` replaced (masks unchanged: they live on the reference grid)
    and the per-phase log (patient_id + :class:`MotionCorrection` rows). A patient lacking a
    phase raises InputError naming it.
    """
    from .study import check_case_table

    table = check_case_table(cases)
    phases = [str(p) for p in phases]
    ref = phases[0] if reference is None else str(reference)
    if ref not in phases:
        raise InputError(f"reference {ref!r} is not one of the phases {phases}")
    new = table.copy()
    logs = []
    for pid, rows in table.groupby("patient_id", sort=False):
        by = {str(r["sequence"]): r for r in rows.to_dict("records")}
        lacking = [p for p in phases if p not in by]
        if lacking:
            raise InputError(f"case {pid} lacks DCE phase(s) {lacking} (it has {sorted(by)})")
        mask = by[ref].get("mask_path")
        mask = None if mask is None or (isinstance(mask, float) and np.isnan(mask)) else mask
        res = correct_motion({p: by[p]["image_path"] for p in phases}, ref, transform=transform, mask=mask,
                             iterations=iterations, seed=seed, out_dir=Path(out_dir) / str(pid))
        for p in phases:
            sel = (new["patient_id"] == pid) & (new["sequence"].astype(str) == p)
            new.loc[sel, "image_path"] = res.paths[p]
        logs.append(res.frame.assign(patient_id=pid))
    return new, pd.concat(logs, ignore_index=True)[["patient_id", *res.frame.columns]]
