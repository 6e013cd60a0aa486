"""Feature selection as sklearn transformers (fit on training data only).

``ICCFilter`` (reproducibility), ``UnivariateFilter`` (t / Mann-Whitney), ``CorrelationFilter``
(redundancy), ``LassoSelector`` (glmnet-equivalent LASSO logistic) and ``make_pca`` (seed 003's
2048 -> 64 compression). All keep DataFrame column names and expose ``report_``.
"""
from __future__ import annotations

from .correlation import CorrelationFilter
from .icc import ICCFilter, repeated_to_array
from .lasso import LassoCVResult, LassoSelector, lasso_cv, make_foldid
from .pca import make_pca
from .univariate import UnivariateFilter, adjust_pvalues, ks_normality_pvalues, two_group_tests

__all__ = [
    "CorrelationFilter", "ICCFilter", "LassoCVResult", "LassoSelector", "UnivariateFilter", "adjust_pvalues",
    "ks_normality_pvalues", "lasso_cv", "make_foldid", "make_pca", "repeated_to_array", "two_group_tests",
]
