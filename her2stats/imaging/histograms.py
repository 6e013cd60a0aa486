"""Voxel intensity histograms per centre or scanner, before and after intensity normalisation.

Seed 000: "To evaluate preprocessing effectiveness, voxel intensity histograms and feature
reproducibility metrics were compared before and after harmonization." :func:`intensity_histograms`
pools the voxels of every case of a group (inside the tumour mask, or the whole image) as read and
after the same per-case :class:`~her2stats.imaging.IntensityNormalizer` the extractor uses, and
returns the density histograms and a per-group summary; ``.plot()`` draws both stages. The
feature-level counterpart (ComBat) is :func:`her2stats.reporting.figures.harmonization_figure`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..results import Result


@dataclass(frozen=True, repr=False)
class IntensityHistograms(Result):
    """Density histograms of voxel intensities per group, before and after normalisation.

    ``histograms``: group, stage (``"before"``/``"after"``), bin_low, bin_high, density.
    ``summary``: group, stage, n_cases, n_voxels, mean, sd, p01, p50, p99.
    """

    histograms: pd.DataFrame = field(compare=False)
    summary: pd.DataFrame = field(compare=False)
    group: str
    region: str
    normalize: str
    method: str = "pooled voxel histograms per group"

    def to_frame(self) -> pd.DataFrame:
        return self.summary.copy()

    def plot(self, axes: Any = None) -> Any:
        """Two panels (before, after normalisation), one density line per group."""
        import matplotlib.pyplot as plt

        if axes is None:
            _, axes = plt.subplots(1, 2, figsize=(8, 3.2))
        for ax, stage in zip(axes, ("before", "after")):
            h = self.histograms[self.histograms["stage"] == stage]
            for g, sub in h.groupby("group", sort=False):
                mid = 0.5 * (sub["bin_low"].to_numpy() + sub["bin_high"].to_numpy())
                ax.plot(mid, sub["density"].to_numpy(), label=str(g), lw=1)
            ax.set_xlabel("voxel intensity" if stage == "before" else f"intensity after {self.normalize}")
            ax.set_ylabel("density")
            ax.set_title(f"{'Before' if stage == 'before' else 'After'} normalisation ({self.region})", fontsize=9)
        axes[0].legend(title=self.group, fontsize=7)
        return axes


def intensity_histograms(cases: pd.DataFrame, group: str, *, region: str = "mask", normalize: str = "zscore",
                         bins: int = 64) -> IntensityHistograms:
    """Voxel histograms of ``cases`` (patient_id, image_path, mask_path and the ``group`` column)
    per value of ``group``, before and after per-case normalisation (``"zscore"`` or
    ``"percentile"``, inside the mask as the extractor does).

    ``region="mask"`` pools the voxels inside each case's mask (cases without a mask are refused);
    ``"image"`` pools every voxel. Histogram ranges are the pooled 0.5th-99.5th percentiles of each
    stage, shared by the groups so their curves compare.
    """
    from .preprocess import IntensityNormalizer
    from .study import load_case

    if not isinstance(cases, pd.DataFrame):
        raise InputError("intensity_histograms needs a case table (DataFrame)")
    for col in ("patient_id", "image_path", group):
        if col not in cases.columns:
            raise InputError(f"intensity_histograms: the case table has no column {col!r}")
    if region not in ("mask", "image"):
        raise InputError(f"region must be 'mask' or 'image', got {region!r}")
    if normalize not in ("zscore", "percentile"):
        raise InputError(f"normalize must be 'zscore' or 'percentile', got {normalize!r}")
    if cases[group].isna().any():
        raise InputError(f"group column {group!r} has missing values ({int(cases[group].isna().sum())} cases)")
    values: dict[str, dict[Any, list[np.ndarray]]] = {"before": {}, "after": {}}
    counts: dict[Any, int] = {}
    norm = IntensityNormalizer(method=normalize, region="mask" if region == "mask" else "image")
    for row in cases.to_dict("records"):
        mp = row.get("mask_path")
        mp = None if mp is None or (isinstance(mp, float) and np.isnan(mp)) else mp
        if region == "mask" and mp is None:
            raise InputError(f"case {row['patient_id']}: region='mask' needs a mask_path")
        case = load_case(row["image_path"], mp, case_id=str(row["patient_id"]))
        after = norm.apply(case)
        sel = case.mask.array if region == "mask" else np.ones(case.image.shape, bool)
        g = row[group]
        values["before"].setdefault(g, []).append(case.image.array[sel].astype(float))
        values["after"].setdefault(g, []).append(after.image.array[sel].astype(float))
        counts[g] = counts.get(g, 0) + 1
    hist_rows, summ = [], []
    for stage in ("before", "after"):
        pooled = np.concatenate([np.concatenate(v) for v in values[stage].values()])
        lo, hi = np.percentile(pooled, [0.5, 99.5])
        if hi <= lo:
            hi = lo + 1.0
        edges = np.linspace(lo, hi, int(bins) + 1)
        for g, parts in values[stage].items():
            v = np.concatenate(parts)
            dens, _ = np.histogram(np.clip(v, lo, hi), bins=edges, density=True)
            hist_rows += [{"group": g, "stage": stage, "bin_low": a, "bin_high": b, "density": d}
                          for a, b, d in zip(edges[:-1], edges[1:], dens)]
            p01, p50, p99 = np.percentile(v, [1, 50, 99])
            summ.append({"group": g, "stage": stage, "n_cases": counts[g], "n_voxels": len(v), "mean": v.mean(),
                         "sd": v.std(ddof=1) if len(v) > 1 else np.nan, "p01": p01, "p50": p50, "p99": p99})
    return IntensityHistograms(histograms=pd.DataFrame(hist_rows), summary=pd.DataFrame(summ), group=group,
                               region=region, normalize=normalize)
