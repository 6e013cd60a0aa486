"""Grad-CAM of a study's Deep Score: where in the tumour ROI the score's evidence lies.

The Deep Score is a logistic model on frozen CNN features that pass through selection steps
(univariate filter, correlation filter, LASSO: column subsets) -- so it is an affine function of
the globally average-pooled feature map: ``score = a + w . GAP(A(x))``. :func:`deep_score_gradcam`
recovers ``w`` from the fitted pipeline itself (one unit step per feature, then checked on other
patients: a pipeline that is not affine in the features is refused), puts it on top of the frozen
backbone as a one-logit head, and runs :func:`her2stats.models.grad_cam` (Selvaraju et al., ICCV
2017) on the slice the extractor used. For a score linear in GAP features Grad-CAM equals the
class activation map ``ReLU(sum_k w_k A_k)`` (Zhou et al., CVPR 2016), up to its scale.

A heatmap says where the network's evidence for a higher score lies, not that the score is right.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..errors import InputError

__all__ = ["deep_score_weights", "deep_score_gradcam", "pick_gradcam_patients"]


def deep_score_weights(pipeline: Any, X: pd.DataFrame, rtol: float = 1e-6) -> tuple[float, np.ndarray]:
    """(intercept, weights) of a fitted Deep Score pipeline, as an affine function of the
    extracted features ``X`` columns: ``decision_function(x) = a + x @ w``.

    Raises InputError when the pipeline is not affine in the features (checked on up to 5
    patients), e.g. a non-linear model in place of the Deep Score.
    """
    if len(X) < 2:
        raise InputError("deep_score_weights needs the features of at least two patients")
    x0 = X.iloc[[0]].to_numpy(dtype=float)
    base = float(np.asarray(pipeline.decision_function(X.iloc[[0]]), float).ravel()[0])
    p = X.shape[1]
    steps = pd.DataFrame(x0 + np.eye(p), columns=X.columns)
    w = np.asarray(pipeline.decision_function(steps), float).ravel() - base
    a = base - float((x0 @ w).ravel()[0])
    check = X.iloc[1:6]
    got = np.asarray(pipeline.decision_function(check), float).ravel()
    want = a + check.to_numpy(dtype=float) @ w
    if not np.allclose(got, want, rtol=rtol, atol=rtol * (1 + np.abs(got).max())):
        raise InputError("the Deep Score pipeline is not an affine function of the image features "
                         "(its Grad-CAM is not defined by this method)")
    return a, w


def pick_gradcam_patients(scores: pd.Series, y: pd.Series, n: int = 4) -> list[str]:
    """The ``n // 2`` highest-scoring outcome-positive and the ``n - n // 2`` lowest-scoring
    outcome-negative patients (index labels), highest first: the clearest cases of each class."""
    pos = scores[y.astype(int) == 1].sort_values(ascending=False)
    neg = scores[y.astype(int) == 0].sort_values(ascending=True)
    k = n // 2
    return [*map(str, pos.index[:k]), *map(str, neg.index[:n - k])]


def _score_head(backbone: Any, weights: np.ndarray) -> Any:
    import torch

    class ScoreHead(torch.nn.Module):
        """Frozen backbone + the Deep Score's linear weights on its pooled features."""

        def __init__(self) -> None:
            super().__init__()
            self.backbone = backbone
            self.register_buffer("w", torch.as_tensor(np.asarray(weights, np.float32)))

        @property
        def pretrained_cfg(self) -> dict:
            return dict(getattr(self.backbone, "pretrained_cfg", {}) or {})

        def forward_features(self, x: Any) -> Any:
            return self.backbone.forward_features(x)

        def forward_head(self, fmap: Any) -> Any:
            return (self.backbone.forward_head(fmap) @ self.w).unsqueeze(-1)

    # eval mode from the start: grad_cam restores the mode it found, and a new Module is in training
    # mode, which would switch the shared frozen backbone (batch norm) to training for every later use
    return ScoreHead().eval()


def deep_score_gradcam(extractor: Any, pipeline: Any, index: pd.DataFrame, X: pd.DataFrame,
                       patients: Sequence[str], sequence: str | None = None) -> list[dict]:
    """Grad-CAM of the Deep Score for each of ``patients``.

    Parameters
    ----------
    extractor : the fitted :class:`~her2stats.features.DeepFeatureExtractor` of the study.
    pipeline : the fitted Deep Score pipeline (selection steps + DeepScore) on ``X``'s columns.
    index : the image table (patient_id, sequence, image_path, mask_path).
    X : the extracted features (rows = patients, the pipeline's input columns).
    patients : patient ids to explain.
    sequence : which sequence's features to explain (default: the first one extracted).

    Returns
    -------
    list of ``{"patient_id", "image" (H, W: the network input's channel mean), "heatmap" (H, W:
    Grad-CAM of the score, scaled to a maximum of 1 per patient), "cam" (the same map before
    scaling, comparable across patients), "score"}``. Every map shows the evidence for a
    higher score (HER2-positive); on ``cam``'s common scale a confidently negative case shows
    little of it.
    """
    return gradcam_maps(*gradcam_inputs(extractor, pipeline, index, X, patients, sequence))


def gradcam_inputs(extractor: Any, pipeline: Any, index: pd.DataFrame, X: pd.DataFrame, patients: Sequence[str],
                   sequence: str | None = None) -> tuple:
    """The checks and the Deep Score side of :func:`deep_score_gradcam` (no torch): the arguments
    of :func:`gradcam_maps` (a picklable tuple, for a worker process). Raises InputError as
    :func:`deep_score_gradcam` does."""
    cfg = extractor._config()
    seqs = list(extractor.sequences or sorted(map(str, index["sequence"].unique())))
    cfg["sequences"] = seqs  # as transform sets it: registration (register_to) loads every sequence of a case
    seq = sequence or seqs[0]
    stem = f"{extractor.backbone}_{seq}_"
    cols = [j for j, c in enumerate(X.columns) if str(c).startswith(stem)]
    if not cols:
        raise InputError(f"no feature column of sequence {seq!r} (expected names starting {stem!r})")
    if getattr(extractor, "aggregate", "mean") == "none":
        raise InputError("Grad-CAM of the Deep Score needs slice-aggregated features (aggregate='mean' or 'max')")
    if cfg.get("pooling") != "avg":  # the resolved pooling ("auto" is average for CNNs)
        raise InputError(f"Grad-CAM of the Deep Score needs average-pooled features, got pooling={cfg.get('pooling')!r}")
    if cfg.get("layer") is not None:
        raise InputError("Grad-CAM of the Deep Score is drawn for the final feature map; these features come from "
                         f"layer {cfg['layer']!r}")
    _, w = deep_score_weights(pipeline, X)
    ids = index["patient_id"].astype(str)
    units, scores = [], []
    for pid in patients:
        rows = index[ids == str(pid)]
        if rows.empty:
            raise InputError(f"patient {pid!r} has no image in the image table")
        units.append({"patient_id": str(pid), "rows": rows.to_dict("records")})
        scores.append(float(np.asarray(pipeline.decision_function(X.loc[[pid]]), float).ravel()[0])
                      if pid in X.index else float("nan"))
    return extractor, seqs, seq, w[cols], units, scores


def gradcam_maps(extractor: Any, sequences: list[str], seq: str, weights: np.ndarray, units: list[dict],
                 scores: list[float], threads: int | None = None) -> list[dict]:
    """The torch side of :func:`deep_score_gradcam`: the network's Grad-CAM of the score
    ``weights . features`` for each case of ``units`` (from :func:`gradcam_inputs`).

    ``threads`` : torch's thread count for the call (restored after). torch's kernels round
    differently with another thread count, so a worker process (whose libraries run on fewer
    threads) gives the maps of the calling process bit for bit only on the caller's count."""
    import torch

    if threads is not None and threads != torch.get_num_threads():
        before = torch.get_num_threads()
        torch.set_num_threads(int(threads))
        try:
            return gradcam_maps(extractor, sequences, seq, weights, units, scores)
        finally:
            torch.set_num_threads(before)
    import torch.nn.functional as F

    from ..features.extractor import get_model
    from ..features.extractor import prepare_unit as _prepare
    from ..features.extractor import resolve_device as _device
    from ..models import grad_cam

    cfg = extractor._config()
    cfg["sequences"] = sequences
    model = get_model(cfg["spec"], cfg["pooling"], _device(cfg["device"]))
    head = _score_head(model, weights)
    out = []
    for unit, score in zip(units, scores):
        pid = unit["patient_id"]
        case = _prepare(unit, [seq], cfg)[seq]
        x = torch.from_numpy(np.ascontiguousarray(case.tensor[:1]))
        heat = grad_cam(head, x)
        # the same map unscaled: for a score linear in average-pooled features the Grad-CAM weights
        # are w_k / (h w), so the map is ReLU(sum_k w_k A_k) / (h w) (Zhou et al. 2016's CAM)
        with torch.no_grad():
            p0 = next(head.parameters())
            fmap = head.forward_features(x.to(device=p0.device, dtype=p0.dtype))
            wk = head.w.to(fmap.dtype).view(1, -1, 1, 1)
            cam = torch.relu((wk * fmap).sum(dim=1, keepdim=True)) / (fmap.shape[-2] * fmap.shape[-1])
            cam = F.interpolate(cam, size=tuple(x.shape[-2:]), mode="bilinear", align_corners=False)[0, 0]
        out.append({"patient_id": str(pid), "image": case.tensor[0].mean(axis=0), "heatmap": heat,
                    "cam": cam.cpu().numpy().astype(np.float32), "score": score})
    return out
