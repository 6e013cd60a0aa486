"""A second segmentation by perturbing the first: erosion or dilation of the mask.

When no second reader exists, feature reproducibility can be assessed against a stated
perturbation of the segmentation (Zwanenburg A, Leger S, Agolli L, et al. Assessing robustness of
radiomics features by image perturbation. Sci Rep 2019;9:614): the tumour mask is shrunk
(erosion) or grown (dilation) by a few voxels and the features are extracted again. The ICC
between the two extractions then measures how much each feature depends on where the contour
was drawn -- a stand-in for inter-reader variation, reported as such.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError

__all__ = ["perturb_mask", "perturb_mask_cases"]

_OPERATIONS = ("erode", "dilate")


def perturb_mask(mask: Any, operation: str, voxels: int = 1, in_plane: bool = True) -> np.ndarray:
    """Erode or dilate a binary mask by ``voxels`` steps of the face-connected (4-neighbour in
    2-D) structuring element: each step moves the contour by one pixel. A 3-D mask (ITK order:
    slice, row, column) is perturbed on every axial slice (``in_plane=True``, the default: MRI voxels
    are anisotropic, e.g. 0.7 x 0.7 x 3 mm, so a 3-D step would move the contour four times further
    through-plane than in-plane) or with the 6-neighbour 3-D element (``in_plane=False``).
    Returns a boolean array; an erosion that empties the mask raises InputError.

    Reference: Zwanenburg et al. 2019, Sci Rep 9:614 (volume adaptation by erosion/dilation).
    """
    from scipy import ndimage

    if operation not in _OPERATIONS:
        raise InputError(f"operation must be 'erode' or 'dilate', got {operation!r}")
    if isinstance(voxels, bool) or int(voxels) != voxels or int(voxels) < 1:
        raise InputError(f"voxels must be a positive integer, got {voxels!r}")
    m = np.asarray(mask) != 0
    if not m.any():
        raise InputError("perturb_mask: the mask is empty")
    st = ndimage.generate_binary_structure(m.ndim, 1)
    if m.ndim == 3 and in_plane:
        st = np.zeros((3, 3, 3), bool)
        st[1] = ndimage.generate_binary_structure(2, 1)
    fn = ndimage.binary_erosion if operation == "erode" else ndimage.binary_dilation
    out = fn(m, structure=st, iterations=int(voxels))
    if not out.any():
        raise InputError(f"perturb_mask: eroding by {int(voxels)} voxel(s) empties the mask "
                         f"({int(m.sum())} voxels); use fewer voxels")
    return out


def perturb_mask_cases(cases: pd.DataFrame, operation: str, voxels: int, *, out_dir: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The case table with every ``mask_path`` replaced by its perturbed copy (:func:`perturb_mask`)
    written under ``out_dir`` (one file per distinct mask, named by the source mask's content hash,
    so a rerun reuses it). Returns the new table and the per-mask log (patient_id, mask_path,
    perturbed_path, voxels_before, voxels_after, error); a mask that cannot be perturbed (empty after
    erosion, unreadable) gets ``mask_path`` None and its error in the log -- the caller counts it."""
    from .io import file_digest, read_image, write_nifti

    if "mask_path" not in cases.columns:
        raise InputError("perturb_mask_cases: the case table has no mask_path column")
    perturb_mask(np.ones((3, 3), bool), operation, voxels)  # parameters checked before any file is read
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    done: dict[str, tuple[str | None, int, int, str | None]] = {}
    rows = []
    new = cases.copy()
    new_paths = []
    for rec in cases.to_dict("records"):
        src = rec.get("mask_path")
        if src is None or (isinstance(src, float) and np.isnan(src)):
            new_paths.append(None)
            continue
        src = str(src)
        if src not in done:
            try:
                digest = file_digest(src)
                target = out / f"{digest[:24]}_{operation}{int(voxels)}.nii.gz"
                img = read_image(src)
                before = int((img.array != 0).sum())
                arr = perturb_mask(img.array, operation, voxels)
                if not target.exists():
                    tmp = target.with_name(target.name + f".{hashlib.sha1(str(target).encode()).hexdigest()[:8]}.tmp.nii.gz")
                    write_nifti(img.with_array(arr.astype(np.uint8)), tmp, dtype=np.uint8)
                    tmp.replace(target)  # atomic: a killed run never leaves a half-written mask
                done[src] = (str(target), before, int(arr.sum()), None)
            except (InputError, OSError) as exc:
                done[src] = (None, 0, 0, f"{type(exc).__name__}: {exc}")
            path, before, after, err = done[src]
            rows.append({"patient_id": rec.get("patient_id"), "mask_path": src, "perturbed_path": path,
                         "voxels_before": before, "voxels_after": after, "error": err})
        new_paths.append(done[src][0])
    new["mask_path"] = new_paths
    log = pd.DataFrame(rows, columns=["patient_id", "mask_path", "perturbed_path", "voxels_before", "voxels_after", "error"])
    return new, log
