"""Feature selection as sklearn transformers (fit on training data only).

``ICCFilter`` (reproducibility), ``UnivariateFilter`` (t / Mann-Whitney), ``CorrelationFilter``
(redundancy), ``LassoSelector`` (glmnet-equivalent LASSO logistic), ``make_pca`` (seed 003's
2048 -> 64 compression), ``ChiSquareFilter`` and ``MutualInfoFilter`` (seed 004),
``FeatureClusterFilter`` (seed 004's K-means clustering of features) and
``LogisticStepwiseSelector`` (seed 002's multivariable-p / stepwise / p < 0.05 chain). All keep
DataFrame column names and expose ``report_``.
"""
from __future__ import annotations

from .correlation import CorrelationFilter
from .filters import ChiSquareFilter, FeatureClusterFilter, MutualInfoFilter
from .icc import ICCFilter, PairedICCFilter, repeated_to_array
from .lasso import LassoCVResult, LassoSelector, lasso_cv, make_foldid
from .pca import make_pca
from .stepwise import LogisticStepwiseSelector
from .univariate import UnivariateFilter, adjust_pvalues, ks_normality_pvalues, two_group_tests

__all__ = [
    "ChiSquareFilter", "CorrelationFilter", "FeatureClusterFilter", "ICCFilter", "LogisticStepwiseSelector", "PairedICCFilter",
    "MutualInfoFilter", "LassoCVResult", "LassoSelector", "UnivariateFilter", "adjust_pvalues",
    "ks_normality_pvalues", "lasso_cv", "make_foldid", "make_pca", "repeated_to_array", "two_group_tests",
]
