r"""Agreement of predicted and reference segmentations: Dice, IoU and the 95th-percentile
Hausdorff distance per patient, their means with a confidence interval
(:func:`segmentation_agreement`).

For binary masks :math:`A` (predicted) and :math:`B` (reference):

* Dice (Sorensen-Dice coefficient; Dice 1945, Ecology 26:297):
  :math:`D = 2|A \cap B| / (|A| + |B|)`;
* IoU (Jaccard index; Jaccard 1912): :math:`J = |A \cap B| / |A \cup B| = D / (2 - D)`;
* HD95: the 95th percentile of the pooled surface-to-surface distances in both directions (the
  distances from every surface voxel of :math:`A` to the nearest surface voxel of :math:`B` and from
  every surface voxel of :math:`B` to :math:`A`, in mm with the voxel spacing; MedPy's ``hd95``
  definition). A surface voxel is a mask voxel with a background neighbour (face connectivity).
  Undefined (NaN) when the prediction is empty.

The mean over patients has a Student-t interval (``method="t"``:
:math:`\bar x \pm t_{n-1, (1+\mathrm{level})/2}\, s / \sqrt n`) or a seeded percentile bootstrap
over patients (``method="bootstrap"``, ``n_boot`` resamples, :mod:`her2stats.resampling`).
Nothing is fitted: the function has no R counterpart and no ``engine`` choice (the result records
``engine="python"``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..errors import InputError
from ..results import Result

__all__ = ["SegmentationAgreement", "segmentation_agreement", "overlap", "hausdorff95"]


def overlap(pred: Any, ref: Any) -> tuple[float, float]:
    """(Dice, IoU) of two boolean masks of the same shape; both empty -> (1, 1)."""
    a, b = np.asarray(pred, bool), np.asarray(ref, bool)
    if a.shape != b.shape:
        raise InputError(f"the predicted mask has shape {a.shape} but the reference mask {b.shape}")
    inter = float(np.logical_and(a, b).sum())
    sa, sb = float(a.sum()), float(b.sum())
    if sa + sb == 0:
        return 1.0, 1.0
    return 2.0 * inter / (sa + sb), inter / (sa + sb - inter)


def _surface(m: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    return m & ~ndimage.binary_erosion(m, structure=ndimage.generate_binary_structure(m.ndim, 1), border_value=0)


def hausdorff95(pred: Any, ref: Any, spacing: Any = None) -> float:
    """95th percentile of the pooled symmetric surface distances (mm with ``spacing`` in array
    axis order, else voxels); NaN when either mask is empty."""
    from scipy import ndimage

    a, b = np.asarray(pred, bool), np.asarray(ref, bool)
    if a.shape != b.shape:
        raise InputError(f"the predicted mask has shape {a.shape} but the reference mask {b.shape}")
    if not a.any() or not b.any():
        return float("nan")
    sampling = None if spacing is None else tuple(float(s) for s in spacing)
    if sampling is not None and len(sampling) != a.ndim:
        raise InputError(f"spacing {spacing} has {len(sampling)} values for {a.ndim}-D masks")
    sa, sb = _surface(a), _surface(b)
    da = ndimage.distance_transform_edt(~sb, sampling=sampling)[sa]  # A's surface to B's
    db = ndimage.distance_transform_edt(~sa, sampling=sampling)[sb]
    return float(np.percentile(np.concatenate([da, db]), 95))


@dataclass(frozen=True, repr=False)
class SegmentationAgreement(Result):
    """Per-patient Dice, IoU (and HD95) of predicted vs reference masks and their means with CIs.

    ``frame``: patient_id, dice, iou, hd95, voxels_pred, voxels_ref. Summary attributes: ``n``,
    ``dice`` / ``dice_ci_low`` / ``dice_ci_high``, ``iou`` (and CI), ``hd95`` (mean over the
    patients where it is defined, and CI), ``level``, ``method`` ("t" or "bootstrap"),
    ``n_boot``, ``seed``."""

    frame: pd.DataFrame = field(compare=False)
    n: int
    dice: float
    dice_ci_low: float
    dice_ci_high: float
    iou: float
    iou_ci_low: float
    iou_ci_high: float
    hd95: float
    hd95_ci_low: float
    hd95_ci_high: float
    level: float
    method: str
    n_boot: int = 0
    seed: Any = None
    engine: str = "python"

    def to_frame(self) -> pd.DataFrame:
        """One row per measure: measure, mean, ci_low, ci_high, n."""
        rows = []
        for m in ("dice", "iou", "hd95"):
            n = int(self.frame[m].notna().sum())
            rows.append({"measure": m, "mean": getattr(self, m), "ci_low": getattr(self, f"{m}_ci_low"),
                         "ci_high": getattr(self, f"{m}_ci_high"), "n": n})
        return pd.DataFrame(rows)

    def plot(self, ax: Any = None) -> Any:
        """Per-patient Dice (strip) with the mean and its CI."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(3.2, 3.6))
        d = self.frame["dice"].to_numpy()
        rng = np.random.default_rng(0)
        ax.scatter(rng.uniform(-0.15, 0.15, len(d)), d, s=10, alpha=0.6, color="tab:blue")
        ax.errorbar([0.35], [self.dice], yerr=[[self.dice - self.dice_ci_low], [self.dice_ci_high - self.dice]],
                    fmt="o", color="black", capsize=4)
        ax.set_xlim(-0.5, 0.7)
        ax.set_xticks([])
        ax.set_ylim(0, 1)
        ax.set_ylabel("Dice")
        ax.set_title(f"Dice {self.dice:.3f} ({self.level:.0%} CI {self.dice_ci_low:.3f}-{self.dice_ci_high:.3f}), "
                     f"n = {self.n}", fontsize=8)
        return ax


def _as_masks(masks: Any, what: str) -> dict[str, Any]:
    if isinstance(masks, pd.Series):
        masks = masks.to_dict()
    if not isinstance(masks, Mapping):
        raise InputError(f"{what} must be a mapping {{patient_id: mask}} (a boolean array or a mask file path), "
                         f"got {type(masks).__name__}")
    if not masks:
        raise InputError(f"{what} is empty")
    return {str(k): v for k, v in masks.items()}


def _load(v: Any, pid: str, what: str) -> np.ndarray:
    if isinstance(v, (str, bytes)) or hasattr(v, "__fspath__"):
        from ..imaging.io import read_image

        try:
            arr = read_image(v).array
        except InputError as exc:
            raise InputError(f"{what} of patient {pid!r}: {exc}") from exc
    elif v is None:
        raise InputError(f"{what} of patient {pid!r} is missing (None)")
    else:
        arr = np.asarray(v)
    if arr.dtype != bool:
        if not np.isfinite(arr.astype(float)).all():
            raise InputError(f"{what} of patient {pid!r} has NaN/inf values")
        arr = arr != 0
    return arr


def mean_interval(v: np.ndarray, level: float, method: str, boot: np.ndarray | None) -> tuple[float, float, float]:
    """(mean, ci_low, ci_high) of the finite values of ``v``: Student-t (``method="t"``) or the percentile
    interval of the means over the bootstrap index rows ``boot``."""
    from scipy import stats

    from ._core import percentile_interval

    v = np.asarray(v, float)
    ok = np.isfinite(v)
    if not ok.any():
        return float("nan"), float("nan"), float("nan")
    x = v[ok]
    m = float(x.mean())
    if len(x) < 2:
        return m, float("nan"), float("nan")
    if method == "t":
        h = float(stats.t.ppf((1 + level) / 2, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)))
        return m, m - h, m + h
    reps = np.array([np.nanmean(v[idx]) if np.isfinite(v[idx]).any() else np.nan for idx in boot])
    lo, hi = percentile_interval(reps, level, skip_nan=True)
    return m, float(lo), float(hi)


def segmentation_agreement(pred_masks: Any, ref_masks: Any, *, spacing: Any = None, level: float = 0.95,
                           method: str = "t", n_boot: int = 2000, seed: Any = 0,
                           hausdorff: bool = True) -> SegmentationAgreement:
    """Dice, IoU and HD95 of predicted vs reference masks per patient, and their means with CIs.

    Parameters
    ----------
    pred_masks, ref_masks : mappings ``{patient_id: mask}`` (boolean / 0-1 arrays or mask file
        paths); every predicted patient needs a reference mask of the same shape.
    spacing : voxel size in array axis order (mm), one tuple for all patients or a mapping
        ``{patient_id: spacing}``; None: distances in voxels. For file paths the files' own spacing
        is used when ``spacing`` is None.
    level : confidence level of the intervals.
    method : ``"t"`` (Student-t interval of the mean) or ``"bootstrap"`` (percentile interval of
        ``n_boot`` patient resamples drawn from ``seed``).
    hausdorff : compute HD95 (surface distances; skip for speed with False).

    Returns
    -------
    SegmentationAgreement
    """
    from ._core import check_level, check_n_boot

    level = check_level(level)
    if method not in ("t", "bootstrap"):
        raise InputError(f"method must be 't' or 'bootstrap', got {method!r}")
    if method == "bootstrap":
        check_n_boot(n_boot, minimum=100, why="a percentile interval")
    pred = _as_masks(pred_masks, "pred_masks")
    ref = _as_masks(ref_masks, "ref_masks")
    missing = [p for p in pred if p not in ref]
    if missing:
        raise InputError(f"ref_masks has no mask for patient(s) {missing[:5]} ({len(missing)} of {len(pred)} predicted)")
    rows = []
    for pid, pv in pred.items():
        a = _load(pv, pid, "predicted mask")
        b = _load(ref[pid], pid, "reference mask")
        if a.shape != b.shape:
            raise InputError(f"patient {pid!r}: the predicted mask has shape {a.shape} but the reference mask "
                             f"{b.shape}; both must be on the same grid")
        if not b.any():
            raise InputError(f"patient {pid!r}: the reference mask is empty; agreement with an empty reference is "
                             f"undefined (check the segmentation)")
        sp = spacing.get(pid) if isinstance(spacing, Mapping) else spacing
        if sp is None and isinstance(ref[pid], str):
            from ..imaging.io import read_image

            sp = tuple(reversed(read_image(ref[pid]).spacing))  # SimpleITK (x, y, z) -> array (z, y, x)
        d, j = overlap(a, b)
        hd = hausdorff95(a, b, sp) if hausdorff else float("nan")
        rows.append({"patient_id": pid, "dice": d, "iou": j, "hd95": hd, "voxels_pred": int(a.sum()),
                     "voxels_ref": int(b.sum())})
    frame = pd.DataFrame(rows)
    boot = None
    if method == "bootstrap":
        from ..resampling import bootstrap_indices

        rng = np.random.default_rng(seed)
        boot = np.stack([bootstrap_indices(rng, len(frame)) for _ in range(int(n_boot))])
    res = {m: mean_interval(frame[m].to_numpy(), level, method, boot) for m in ("dice", "iou", "hd95")}
    return SegmentationAgreement(
        frame=frame, n=len(frame), dice=res["dice"][0], dice_ci_low=res["dice"][1], dice_ci_high=res["dice"][2],
        iou=res["iou"][0], iou_ci_low=res["iou"][1], iou_ci_high=res["iou"][2], hd95=res["hd95"][0],
        hd95_ci_low=res["hd95"][1], hd95_ci_high=res["hd95"][2], level=level, method=method,
        n_boot=int(n_boot) if method == "bootstrap" else 0, seed=seed if method == "bootstrap" else None)
