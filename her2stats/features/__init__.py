"""Feature extraction: frozen deep features (timm), radiomics (optional), and their cache.

Importing this package does not import torch; the backbone is built on first use. The names are
imported on first use too, so ``her2stats.features.backbones`` (what ``her2stats doctor`` reads)
loads without scikit-learn.
"""
from __future__ import annotations

import importlib
from typing import Any

_LAZY = {"SEED_BACKBONES": "backbones", "WeightsSpec": "backbones", "available_weights": "backbones",
         "resolve_weights": "backbones", "FeatureCache": "cache", "cache_key": "cache", "canonical_json": "cache",
         "local_cluster": "cluster", "EXTRACTOR_VERSION": "extractor", "DeepFeatureExtractor": "extractor",
         "RadiomicsExtractor": "radiomics", "list_layers": "layers"}

__all__ = ["DeepFeatureExtractor", "RadiomicsExtractor", "FeatureCache", "available_weights", "resolve_weights",
           "WeightsSpec", "SEED_BACKBONES", "EXTRACTOR_VERSION", "cache_key", "canonical_json", "local_cluster",
           "list_layers"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
