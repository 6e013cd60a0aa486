"""Network inputs from a case table: ROI + margin crops as 2-D, 2.5-D or 3-D arrays.

One row per case (``patient_id``, ``image_path``, optional ``mask_path``); a case may repeat (the
rows of a bootstrap resample), each distinct case is read once. Each case is read
with :func:`her2stats.imaging.load_case` and passed through the same per-case steps as the frozen
extractor (nothing here learns from other cases, so preparing inputs cannot leak):

1. intensity normalisation inside the mask (``intensity="zscore"``: z-score; ``"percentile"``:
   1-99th percentile to [0, 1]; ``"none"``: unchanged, then each image's min-max);
2. ROI crop: the mask's bounding box plus ``margin`` (seed 001: 50 px; seed 003: 10 px) in plane,
   ``margin_slices`` along z; without a mask the whole image is used;
3. the input itself:

   * ``"2d"``: the slice of largest mask area (a 2-D image as is), grey level copied to the three
     channels a 2-D backbone expects;
   * ``"2.5d"``: the largest slice and its two neighbours (z-1, z, z+1) as the three channels
     (edges clamped), so the network sees through-plane context with 2-D convolutions;
   * ``"3d"``: the cropped volume, one channel, resized to ``size x size x size`` voxels
     (seed 001: 96^3; trilinear, so anisotropic voxels are stretched as the paper's "resized").

4. intensities mapped to [0, 1] (z-scores: window (-3, 3); percentile: as is; none: min-max) and
   bilinear/trilinear resize to ``size``.

Per-channel normalisation (ImageNet statistics, or statistics learnt on the training fold) and
augmentation are applied later, by :class:`~her2stats.training.NetworkClassifier`, because the
first depends on the fold and the second on the epoch.

Every file read goes through :func:`read_case`, the single entry point a leakage test can watch.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError

MODES = ("2d", "2.5d", "3d")
INTENSITY = ("zscore", "percentile", "none")


def check_cases(X: Any, what: str = "X") -> pd.DataFrame:
    """Validate a case table: one row per patient with ``patient_id`` and ``image_path``."""
    if not isinstance(X, pd.DataFrame):
        raise InputError(f"{what} must be a DataFrame of cases (patient_id, image_path[, mask_path]), one row per "
                         f"patient; got {type(X).__name__}")
    missing = [c for c in ("patient_id", "image_path") if c not in X.columns]
    if missing:
        raise InputError(f"{what} lacks column(s) {missing}; a case table has patient_id, image_path and optionally "
                         f"mask_path (columns: {[str(c) for c in X.columns[:10]]})")
    if len(X) == 0:
        raise InputError(f"{what} has no cases")
    ids = X["patient_id"].astype(str)
    bad = X["image_path"].isna() | (X["image_path"].astype(str).str.strip() == "")
    if bad.any():
        raise InputError(f"{what}: case {ids[bad].iloc[0]!r} has no image_path ({int(bad.sum())} such rows)")
    dup = ids.duplicated(keep=False)
    if dup.any():
        # the same case repeated (a bootstrap resample) is fine; one patient with different
        # images (several sequences) is ambiguous for a one-image network
        cols = [c for c in ("image_path", "mask_path") if c in X.columns]
        per = X.loc[dup.to_numpy(), cols].astype(str).groupby(ids[dup].to_numpy()).nunique()
        clash = sorted(per.index[(per > 1).any(axis=1)])
        if clash:
            raise InputError(f"{what}: patient_id {clash[:5]} appear(s) on more than one row with different images; a "
                             f"network takes one image per patient (select one sequence, e.g. "
                             f"cases[cases.sequence == 'DCE_post1'])")
    return X


def read_case(image_path: Any, mask_path: Any, patient_id: str, expect_ndim: int | None):
    """Read one case (image + optional mask): the only place the training code touches files."""
    from ..imaging.study import load_case

    return load_case(image_path, mask_path, case_id=str(patient_id), expect_ndim=expect_ndim)


def mask_path_of(row: Any) -> Any:
    """A case row's ``mask_path``, or None when it has none (missing, NaN or blank)."""
    v = row.get("mask_path") if hasattr(row, "get") else None
    if v is None or (isinstance(v, float) and np.isnan(v)) or (isinstance(v, str) and not v.strip()):
        return None
    return v


def _to_unit(arr: np.ndarray, intensity: str) -> np.ndarray:
    a = arr.astype(np.float32)
    if intensity == "zscore":
        lo, hi = -3.0, 3.0
    elif intensity == "percentile":
        lo, hi = 0.0, 1.0
    else:
        lo, hi = float(a.min()), float(a.max())
        if hi <= lo:
            hi = lo + 1.0
    return np.clip((a - lo) / (hi - lo), 0.0, 1.0)


def _resize(arr: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``(C, *spatial)`` -> ``(C, *shape)``: bilinear (antialiased) in 2-D, trilinear in 3-D."""
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))[None]
    if tuple(t.shape[2:]) == tuple(shape):
        return t[0].numpy()
    if len(shape) == 2:
        out = F.interpolate(t, size=tuple(shape), mode="bilinear", align_corners=False, antialias=True)
    else:
        out = F.interpolate(t, size=tuple(shape), mode="trilinear", align_corners=False)
    return out[0].numpy()


def prepare_case(case: Any, *, mode: str, size: int, margin: float | None, margin_units: str = "px",
                 margin_slices: int = 0, on_border: str = "clip", intensity: str = "zscore"
                 ) -> tuple[np.ndarray, np.ndarray | None]:
    """One :class:`~her2stats.imaging.preprocess.ImageCase` -> (input array, ROI mask on the input grid).

    The input is ``(3, size, size)`` for 2-D/2.5-D and ``(1, size, size, size)`` for 3-D, in [0, 1].
    """
    from ..imaging.preprocess import IntensityNormalizer, ROICrop

    case = IntensityNormalizer(method=intensity).apply(case)
    if margin is not None and case.mask is not None:
        case = ROICrop(margin=margin, units=margin_units, margin_slices=margin_slices, on_border=on_border).apply(case)
    arr = case.image.array
    mask = case.mask.array if case.mask is not None else None
    if mode == "3d":
        if arr.ndim != 3:
            raise InputError(f"{case.where()}: input mode '3d' needs a volume, got a {arr.ndim}-D image")
        vol = _resize(_to_unit(arr, intensity)[None], (size, size, size))
        m = None if mask is None else _resize(mask.astype(np.float32)[None], (size, size, size))[0] > 0.5
        return vol.astype(np.float32), m
    if arr.ndim == 2:
        if mode == "2.5d":
            raise InputError(f"{case.where()}: input mode '2.5d' needs a volume (neighbouring slices); a 2-D image "
                             f"takes mode '2d'")
        planes, m2 = [arr, arr, arr], mask
    else:
        nz = arr.shape[0]
        z = int(np.argmax(mask.sum(axis=(1, 2)))) if mask is not None else nz // 2
        if mode == "2d":
            planes = [arr[z]] * 3
        else:
            planes = [arr[min(max(z + o, 0), nz - 1)] for o in (-1, 0, 1)]
        m2 = mask[z] if mask is not None else None
    x = np.stack([_resize(_to_unit(p, intensity)[None], (size, size))[0] for p in planes])
    m = None if m2 is None else _resize(m2.astype(np.float32)[None], (size, size))[0] > 0.5
    return x.astype(np.float32), m


def load_inputs(cases: pd.DataFrame, *, mode: str, size: int, margin: float | None, margin_units: str = "px",
                margin_slices: int = 0, on_border: str = "clip", intensity: str = "zscore",
                with_masks: bool = False) -> Any:
    """Inputs of every case of ``cases`` (in row order) as one float32 array.

    Raises InputError naming the case for any unreadable file, wrong dimension or empty mask:
    a network is never trained on a silently reduced set.
    """
    if mode not in MODES:
        raise InputError(f"input mode must be one of {MODES}, got {mode!r}")
    if intensity not in INTENSITY:
        raise InputError(f"intensity must be one of {INTENSITY}, got {intensity!r}")
    out, masks = [], []
    expect = 3 if mode in ("3d", "2.5d") else None
    done: dict[str, tuple[np.ndarray, Any]] = {}  # a repeated case (bootstrap resample) is read once
    for row in cases.to_dict("records"):
        pid = str(row["patient_id"])
        if pid not in done:
            try:
                case = read_case(row["image_path"], mask_path_of(row), row["patient_id"], expect)
            except InputError as exc:
                if expect is not None and "expected a 3-D" in str(exc):
                    raise InputError(f"input mode {mode!r} needs 3-D volumes (a 2-D image takes mode '2d'): "
                                     f"{exc}") from exc
                raise
            done[pid] = prepare_case(case, mode=mode, size=int(size), margin=margin, margin_units=margin_units,
                                     margin_slices=margin_slices, on_border=on_border, intensity=intensity)
        x, m = done[pid]
        out.append(x)
        masks.append(m)
    arr = np.stack(out).astype(np.float32)
    return (arr, masks) if with_masks else arr


def binary_auc(y: np.ndarray, p: np.ndarray) -> float:
    """Mann-Whitney AUC with mid-ranks for ties; NaN when a class is absent (early stopping and the
    fold ensemble's per-fold AUCs)."""
    from scipy.stats import rankdata

    n1 = int(y.sum())
    n0 = len(y) - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    r = rankdata(p)
    return float((r[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))
