"""her2stats: HER2-status prediction studies from breast imaging, with R-validated statistics.

Public functions are reachable from the top level (``her2stats.roc_auc``...). They are imported
lazily, so ``import her2stats`` is fast and never starts R or imports torch.
"""
from __future__ import annotations

import importlib
from typing import Any

from .engine import get_engine, set_engine
from .errors import (
    CacheError,
    ConfigError,
    ConvergenceError,
    Her2StatsError,
    InputError,
    RError,
    RUnavailableError,
    RWarning,
)

__version__ = "0.1.0"

# public name -> module that defines it (relative to this package)
_LAZY: dict[str, str] = {
    # data
    "load_demo": "data",
    "load_mamamia": "data",
    "load_duke": "data",
    "load_dictionary": "data",
    "validate_cohort": "data",
    "derive_her2_class": "data",
    "make_splits": "data",
    # statistics
    "roc_auc": "stats.roc",
    "roc_test": "stats.roc",
    "roc_curve": "stats.roc",
    "youden": "stats.roc",
    "auc_ci_from_summary": "stats.roc",
    "diagnostic_metrics": "stats.diagnostics",
    "table_one": "stats.tables",
    "logistic_table": "stats.logistic",
    "icc": "stats.agreement",
    "kappa": "stats.agreement",
    "fit_lrm": "stats.models",
    "fit_cph": "stats.survival",
    "kaplan_meier": "stats.survival",
    "logrank_test": "stats.survival",
    "cox": "stats.survival",
    "concordance_index": "stats.survival",
    "nomogram": "stats.nomogram",
    "calibrate": "stats.calibration",
    "validate": "stats.calibration",
    "val_prob": "stats.calibration",
    "hosmer_lemeshow": "stats.calibration",
    "decision_curve": "stats.dca",
    # imaging / features / models
    "DeepFeatureExtractor": "features",
    # audit
    "audit_table": "audit",
    # added with the modules that define them
    "demo_images": "data",
    "compare_aucs": "stats.roc",
    "multiclass_auc": "stats.roc",
    "choose_threshold": "stats.diagnostics",
    "ThresholdRule": "stats.diagnostics",
    "diagnostic_metrics_from_counts": "stats.diagnostics",
    "binomial_ci": "stats.diagnostics",
    "AuditResult": "audit",
    "check_ratio_ci_p": "stats.survival",
    "decision_curve_survival": "stats.dca",
    "time_dependent_auc": "stats.survival_metrics",
    "time_dependent_brier": "stats.survival_metrics",
    "uno_concordance": "stats.survival_metrics",
    "calibration_at_horizon": "stats.survival_metrics",
    "chi2_test": "stats.htest",
    "fisher_test": "stats.htest",
    "ttest_from_summary": "stats.htest",
    "anova_from_summary": "stats.htest",
    "prop_ztest": "stats.htest",
    "ttest": "stats.htest",
    "mannwhitney": "stats.htest",
    "kruskal": "stats.htest",
    "anova": "stats.htest",
    "normality": "stats.htest",
    "p_adjust": "stats.htest",
    "icc_many": "stats.agreement",
    "table_one_from_summary": "stats.tables",
    "smd_continuous": "stats.tables",
    "smd_categorical": "stats.tables",
    "riley_sample_size": "stats.samplesize",
    "calibration_hierarchy": "stats.calibration",
    "lecessie_test": "stats.calibration",
    "frozen_lrm": "stats.external",
    "validate_external": "stats.external",
    "validate_external_cox": "stats.external",
    "lasso_cv": "selection",
    "LassoSelector": "selection",
    "UnivariateFilter": "selection",
    "CorrelationFilter": "selection",
    "ICCFilter": "selection",
    "make_pca": "selection",
    "DeepScore": "models",
    "fit_zoo": "models",
    "late_fusion": "models",
    "early_fusion": "models",
    "LateFusionClassifier": "models",
    "shap_summary": "models",
    "grad_cam": "models",
    "fit_ordinal": "stats.ordinal",
    "evaluate_ordinal": "stats.ordinal",
    "ordinal_calibration": "stats.ordinal",
    "low_vs_zero_subset": "stats.ordinal",
    "fit_low_vs_zero": "stats.ordinal",
    "tripod_checklist": "reporting.tripod",
    "cohort_facts": "reporting.tripod",
    "available_weights": "features",
    "RadiomicsExtractor": "features",
    "FeatureCache": "features",
    "local_cluster": "features",
    "read_image": "imaging",
    "load_case": "imaging",
    "run_study": "reporting.study",
    "StudyResults": "reporting.study",
    "load_config": "reporting.config",
    "mrmc": "stats.mrmc",
    "mrmc_standalone": "stats.mrmc",
    "mrmc_sample_size": "stats.mrmc",
    "simulate_roe_metz": "stats.mrmc",
    "binormal_auc": "stats.mrmc",
    "ComBat": "harmonization",
    "harmonization_diagnostics": "harmonization",
    "batch_icc": "harmonization",
    "cumulative_incidence": "stats.competing",
    "gray_test": "stats.competing",
    "fine_gray": "stats.competing",
    "rmst": "stats.rmst",
    "reclassification": "stats.reclassification",
    "reclassification_at_horizon": "stats.reclassification",
    "audit_papers": "audit",
    "rank_test_p_range": "stats.htest",
    "validate_by_centre": "stats.multicentre",
    "pool_random_effects": "stats.multicentre",
    "internal_external_cv": "stats.multicentre",
    "clustered_calibration": "stats.multicentre",
    "subgroup_performance": "stats.multicentre",
    "DroppedRowsWarning": "errors",
    "sensitivity_at": "stats.roc",
    "specificity_at": "stats.roc",
    "auc_var": "stats.roc_variance",
    "auc_cov": "stats.roc_variance",
    "power_roc_test": "stats.roc_power",
    "likelihood_ratios": "stats.diagnostics",
    "pipeline_bootstrap": "stats.pipeline_validation",
    "pipeline_cv": "stats.pipeline_validation",
    "PipelineValidationResult": "stats.pipeline_validation",
    "LRMClassifier": "models.lrm",
    "fit_network": "training",
    "NetworkClassifier": "training",
    "FoldEnsembleClassifier": "training",
    "Augmentation": "training",
    "list_layers": "features",
    "grad_cam_3d": "models",
    "ChiSquareFilter": "selection",
    "MutualInfoFilter": "selection",
    "FeatureClusterFilter": "selection",
    "LogisticStepwiseSelector": "selection",
    "correct_motion": "imaging",
    "correct_motion_cases": "imaging",
    "intensity_histograms": "imaging",
}

__all__ = [
    "__version__",
    "get_engine",
    "set_engine",
    "Her2StatsError",
    "InputError",
    "RError",
    "RWarning",
    "RUnavailableError",
    "ConvergenceError",
    "CacheError",
    "ConfigError",
    *sorted(_LAZY),
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'her2stats' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
