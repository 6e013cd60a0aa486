"""Models on selected features: Deep Score, model zoo (nested CV), fusion, explanations.

Imports of shap and torch happen only inside the functions that need them.
"""
from __future__ import annotations

from .deepscore import DeepScore
from .explain import ShapSummary, grad_cam, grad_cam_3d, overlay_heatmap, shap_summary
from .fusion import LateFusionClassifier, early_fusion, late_fusion
from .lrm import LRMClassifier
from .zoo import DEFAULT_MODELS, MODEL_LABELS, ZooResult, default_model, fit_zoo

__all__ = [
    "DEFAULT_MODELS", "DeepScore", "LRMClassifier", "LateFusionClassifier", "MODEL_LABELS", "ShapSummary", "ZooResult",
    "default_model", "early_fusion", "fit_zoo", "grad_cam", "grad_cam_3d", "late_fusion", "overlay_heatmap", "shap_summary",
]
