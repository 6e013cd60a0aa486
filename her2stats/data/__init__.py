"""Cohort data: the data dictionary, validation, HER2 classes, splits, loaders and the demo cohort."""
from __future__ import annotations

from .dictionary import DataDictionary, Variable, load_dictionary
from .her2 import derive_her2_class, derive_her2_status
from .loaders import DUKE_LEAKY_PREDICTORS, MAMAMIA_LEAKY_PREDICTORS, load_duke, load_mamamia
from .splits import make_splits
from .validate import ValidationReport, validate_cohort

__all__ = [
    "DataDictionary", "Variable", "load_dictionary", "derive_her2_class", "derive_her2_status",
    "load_duke", "load_mamamia", "MAMAMIA_LEAKY_PREDICTORS", "DUKE_LEAKY_PREDICTORS", "make_splits",
    "ValidationReport", "validate_cohort", "load_demo", "demo_images", "generate_demo_clinical",
    "load_demo_readers",
]


def __getattr__(name: str):
    # the demo generator imports nibabel only when images are written; keep it lazy anyway
    if name in ("load_demo", "demo_images", "generate_demo_clinical", "load_demo_readers"):
        from . import demo

        return getattr(demo, name)
    raise AttributeError(f"module 'her2stats.data' has no attribute {name!r}")
