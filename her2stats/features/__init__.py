"""Feature extraction: frozen deep features (timm), radiomics (optional), and their cache.

Importing this package does not import torch; the backbone is built on first use.
"""
from .backbones import SEED_BACKBONES, WeightsSpec, available_weights, resolve_weights
from .cache import FeatureCache, cache_key, canonical_json
from .cluster import local_cluster
from .extractor import EXTRACTOR_VERSION, DeepFeatureExtractor
from .radiomics import RadiomicsExtractor

__all__ = ["DeepFeatureExtractor", "RadiomicsExtractor", "FeatureCache", "available_weights", "resolve_weights",
           "WeightsSpec", "SEED_BACKBONES", "EXTRACTOR_VERSION", "cache_key", "canonical_json", "local_cluster"]
