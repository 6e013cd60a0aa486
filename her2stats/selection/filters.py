"""Chi-square and mutual-information filters (seed 004: "the features were then screened with
chi-square statistics"; "the mutual information feature selection method was applied, retaining
106 features"). Both are fitted on the training rows only: the bin edges, the min/max scaling
and the ranking are learnt in ``fit`` and reused unchanged in ``transform``.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import InputError
from ._base import FeatureSelector
from ._validation import as_binary_outcome
from .univariate import adjust_pvalues


def _check_k_alpha(k: Any, alpha: Any, n_features: int, what: str) -> None:
    if k is not None:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise InputError(f"{what}: k (the number of features to keep) must be a positive integer or None, got {k!r}")
    if alpha is not None and not (isinstance(alpha, (int, float)) and 0 < float(alpha) <= 1):
        raise InputError(f"{what}: alpha must be in (0, 1] or None, got {alpha!r}")
    if k is None and alpha is None:
        raise InputError(f"{what}: give k (keep the k best features) or alpha (keep p < alpha)")


def _keep_top(score: np.ndarray, k: int) -> np.ndarray:
    """Boolean mask of the k largest scores (NaN last; ties keep the earlier column)."""
    order = np.argsort(-np.nan_to_num(score, nan=-np.inf), kind="stable")
    keep = np.zeros(len(score), dtype=bool)
    keep[order[: min(int(k), int(np.isfinite(score).sum()))]] = True
    return keep


def binned_chi2(x: np.ndarray, y: np.ndarray, edges: np.ndarray | None) -> tuple[float, int, np.ndarray]:
    """Pearson chi-square test of independence of a binned feature and a binary outcome.

    ``edges`` are inner cut points (``np.digitize`` bins); None uses the feature's own distinct
    values as categories. Returns (statistic, df, contingency table); categories empty in the
    data are dropped (their expected counts are zero), as ``table()`` in R does."""
    cat = np.digitize(x, edges) if edges is not None else np.unique(x, return_inverse=True)[1]
    levels = np.unique(cat)
    table = np.array([[np.sum((cat == lev) & (y == c)) for c in (0, 1)] for lev in levels], dtype=float)
    if table.shape[0] < 2:
        return np.nan, 0, table
    row, col, total = table.sum(1, keepdims=True), table.sum(0, keepdims=True), table.sum()
    expected = row @ col / total
    stat = float(((table - expected) ** 2 / expected).sum())
    return stat, int((table.shape[0] - 1) * (table.shape[1] - 1)), table


class ChiSquareFilter(FeatureSelector):
    r"""Keep features associated with a binary outcome by a chi-square statistic.

    ``method="binned"`` (default): each feature is cut at its training-data quantiles into
    ``bins`` groups (a feature with at most ``bins`` distinct values keeps its own values as
    categories) and the Pearson chi-square test of independence of group and outcome is computed
    without continuity correction (R ``chisq.test(table(group, y), correct = FALSE)``), df =
    groups - 1. Cut points are learnt in ``fit``.

    ``method="sklearn"``: the score of ``sklearn.feature_selection.chi2`` (what machine-learning
    pipelines call chi-square selection, ``SelectKBest(chi2)``): features min-max scaled to [0, 1]
    with the training minimum and maximum, treated as frequencies, and
    :math:`\chi^2_j = \sum_c (O_{jc} - E_{jc})^2 / E_{jc}` with :math:`O_{jc} = \sum_{i: y_i = c} x_{ij}`
    and :math:`E_{jc} = \bar{p}_c \sum_i x_{ij}`; p from chi-square(1). This is not a test of
    independence of the feature and the outcome (the values are not counts); it is offered to
    reproduce pipelines that used it.

    Parameters
    ----------
    k : keep the k features with the largest statistic (ties: earlier column), or
    alpha : keep features with (adjusted) p < alpha (when ``k`` is None).
    p_adjust : multiplicity adjustment of the p-values (None, ``"fdr_bh"``, ``"holm"``...).
    method : ``"binned"`` or ``"sklearn"``.
    bins : number of quantile groups for ``"binned"`` (default 4).
    min_features : with ``alpha``, keep at least this many (smallest p), reported as such.
    event : the outcome value coded 1 when ``y`` is not 0/1 or bool.

    Attributes
    ----------
    report_ : feature, statistic, df, p_value, p_adjusted, kept, reason.
    edges_ : per feature, the cut points used (``"binned"``).
    """

    def __init__(self, k: int | None = None, alpha: float | None = 0.05, p_adjust: str | None = None,
                 method: str = "binned", bins: int = 4, min_features: int = 1, event: Any = None):
        self.event = event
        self.k = k
        self.alpha = alpha
        self.p_adjust = p_adjust
        self.method = method
        self.bins = bins
        self.min_features = min_features

    def fit(self, X: Any, y: Any = None) -> "ChiSquareFilter":
        if self.method not in ("binned", "sklearn"):
            raise InputError(f"ChiSquareFilter method must be 'binned' or 'sklearn', got {self.method!r}")
        if isinstance(self.bins, bool) or not isinstance(self.bins, (int, np.integer)) or self.bins < 2:
            raise InputError(f"ChiSquareFilter bins must be an integer >= 2, got {self.bins!r}")
        frame = self._frame(X)
        _check_k_alpha(self.k, self.alpha, frame.shape[1], "ChiSquareFilter")
        adjust_pvalues(np.array([0.5]), self.p_adjust)
        yv = as_binary_outcome(y, len(frame), event=self.event,
                               index=X.index if isinstance(X, pd.DataFrame) else None).astype(int)
        self._set_input(frame)
        values = frame.to_numpy()
        p = values.shape[1]
        stat, df, pval = np.full(p, np.nan), np.zeros(p, dtype=int), np.full(p, np.nan)
        edges: list[Any] = []
        if self.method == "binned":
            for j in range(p):
                x = values[:, j]
                distinct = np.unique(x)
                e = None if len(distinct) <= self.bins else np.unique(
                    np.quantile(x, np.linspace(0, 1, int(self.bins) + 1)[1:-1]))
                if e is not None and len(e) == 0:
                    e = None
                edges.append(e)
                s, d, _ = binned_chi2(x, yv, e)
                stat[j], df[j] = s, d
                if d > 0:
                    pval[j] = stats.chi2.sf(s, d)
        else:
            lo, hi = values.min(axis=0), values.max(axis=0)
            span = np.where(hi > lo, hi - lo, 1.0)
            scaled = (values - lo) / span
            self.min_, self.scale_ = lo, span
            observed = np.vstack([scaled[yv == c].sum(axis=0) for c in (0, 1)])
            expected = np.outer(np.array([np.mean(yv == 0), np.mean(yv == 1)]), scaled.sum(axis=0))
            with np.errstate(divide="ignore", invalid="ignore"):
                stat = ((observed - expected) ** 2 / expected).sum(axis=0)
            stat[~np.isfinite(stat)] = np.nan
            df[:] = 1
            pval = np.where(np.isnan(stat), np.nan, stats.chi2.sf(np.nan_to_num(stat), 1))
        padj = adjust_pvalues(pval, self.p_adjust)
        if self.k is not None:
            keep = _keep_top(stat, int(self.k))
            reason = np.where(keep, f"top {self.k} by chi-square", "not in the top k").astype(object)
        else:
            keep = np.nan_to_num(padj, nan=np.inf) < float(self.alpha)
            reason = np.where(keep, f"p < {self.alpha}", f"p >= {self.alpha}").astype(object)
            if keep.sum() < self.min_features:
                order = np.argsort(np.nan_to_num(padj, nan=np.inf), kind="stable")
                for j in order[: int(self.min_features)]:
                    if not keep[j] and np.isfinite(padj[j]):
                        keep[j], reason[j] = True, "kept by min_features (smallest p)"
        reason[np.isnan(stat)] = "constant in training data"
        self.edges_ = edges
        self.support_ = keep
        self.report_ = pd.DataFrame({"feature": list(frame.columns), "statistic": stat, "df": df, "p_value": pval,
                                     "p_adjusted": padj, "kept": keep, "reason": reason})
        return self


class MutualInfoFilter(FeatureSelector):
    r"""Keep the ``k`` features with the largest mutual information with a binary outcome.

    Continuous features: the k-nearest-neighbour estimator of Ross (PLoS One 2014) as
    ``sklearn.feature_selection.mutual_info_classif`` (``n_neighbors``; sklearn adds a tiny
    seeded noise to break ties, so ``seed`` makes it reproducible). Discrete features
    (``discrete=True`` or columns listed in it) use the plug-in estimate
    :math:`I = \sum_{v,c} \hat p(v,c) \log \frac{\hat p(v,c)}{\hat p(v)\hat p(c)}` (nats).

    Parameters
    ----------
    k : number of features to keep (seed 004: 106).
    n_neighbors : neighbours of the continuous estimator (sklearn default 3).
    discrete : False, True, or a list of discrete column names.
    seed : seed of the estimator's tie-breaking noise.
    event : the outcome value coded 1 when ``y`` is not 0/1 or bool.

    Attributes
    ----------
    mi_ : Series of mutual information (nats) per feature; report_ : feature, mi, rank, kept.
    """

    def __init__(self, k: int = 10, n_neighbors: int = 3, discrete: Any = False, seed: int = 0, event: Any = None):
        self.event = event
        self.k = k
        self.n_neighbors = n_neighbors
        self.discrete = discrete
        self.seed = seed

    def fit(self, X: Any, y: Any = None) -> "MutualInfoFilter":
        from sklearn.feature_selection import mutual_info_classif

        frame = self._frame(X)
        _check_k_alpha(self.k, None, frame.shape[1], "MutualInfoFilter")
        if isinstance(self.n_neighbors, bool) or not isinstance(self.n_neighbors, (int, np.integer)) \
                or self.n_neighbors < 1:
            raise InputError(f"MutualInfoFilter n_neighbors must be a positive integer, got {self.n_neighbors!r}")
        yv = as_binary_outcome(y, len(frame), event=self.event,
                               index=X.index if isinstance(X, pd.DataFrame) else None).astype(int)
        if min(yv.sum(), len(yv) - yv.sum()) <= self.n_neighbors:
            raise InputError(f"MutualInfoFilter: each outcome class needs more than n_neighbors={self.n_neighbors} "
                             f"training rows")
        self._set_input(frame)
        if isinstance(self.discrete, (bool, np.bool_)):
            disc = np.full(frame.shape[1], bool(self.discrete))
        else:
            names = [str(c) for c in self.discrete]
            unknown = [c for c in names if c not in frame.columns]
            if unknown:
                raise InputError(f"MutualInfoFilter: discrete column(s) {unknown} are not features of X")
            disc = np.isin(frame.columns, names)
        mi = mutual_info_classif(frame.to_numpy(), yv, discrete_features=disc, n_neighbors=int(self.n_neighbors),
                                 random_state=int(self.seed))
        constant = frame.to_numpy().std(axis=0) == 0
        mi = np.where(constant, np.nan, mi)
        keep = _keep_top(mi, int(self.k))
        rank = pd.Series(mi).rank(ascending=False, method="first").to_numpy()
        self.mi_ = pd.Series(mi, index=frame.columns, name="mi")
        self.support_ = keep
        self.report_ = pd.DataFrame({"feature": list(frame.columns), "mi": mi, "rank": rank, "kept": keep})
        return self


class FeatureClusterFilter(FeatureSelector):
    """K-means clustering of the features (columns), keeping the largest cluster (seed 004: "we used
    K-means clustering to divide the features into two clusters, selected the larger cluster to
    preserve more features").

    Each feature is a point in R^n (its values over the n training rows), z-scored with its own
    training mean and SD, so the squared distance between two features is ``2 n (1 - r)``: the
    clusters group features by Pearson correlation. K-means (``n_init`` seeded starts, sklearn's
    Lloyd algorithm) on these points; the cluster with the most features is kept (ties: the
    cluster of the earliest feature). The outcome is not used, yet it is still fitted on the
    training rows only.

    Parameters
    ----------
    n_clusters : number of clusters (seed 004: 2).
    n_init, seed : K-means restarts and their seed.

    Attributes
    ----------
    labels_ : cluster of each feature; sizes_ : features per cluster; report_ : feature, cluster, kept.
    """

    def __init__(self, n_clusters: int = 2, n_init: int = 10, seed: int = 0):
        self.n_clusters = n_clusters
        self.n_init = n_init
        self.seed = seed

    def fit(self, X: Any, y: Any = None) -> "FeatureClusterFilter":
        from sklearn.cluster import KMeans

        frame = self._frame(X)
        if isinstance(self.n_clusters, bool) or not isinstance(self.n_clusters, (int, np.integer)) \
                or self.n_clusters < 2:
            raise InputError(f"FeatureClusterFilter n_clusters must be an integer >= 2, got {self.n_clusters!r}")
        values = frame.to_numpy()
        sd = values.std(axis=0)
        constant = sd == 0
        usable = np.flatnonzero(~constant)
        if len(usable) < self.n_clusters:
            raise InputError(f"FeatureClusterFilter: {len(usable)} non-constant feature(s) cannot form "
                             f"{self.n_clusters} clusters")
        if len(frame) < 2:
            raise InputError("FeatureClusterFilter needs at least 2 training rows")
        self._set_input(frame)
        z = ((values[:, usable] - values[:, usable].mean(axis=0)) / sd[usable]).T
        km = KMeans(n_clusters=int(self.n_clusters), n_init=int(self.n_init), random_state=int(self.seed)).fit(z)
        raw = km.labels_
        # relabel clusters by first appearance so labels do not depend on K-means' numbering
        order = list(dict.fromkeys(raw.tolist()))
        lab = np.array([order.index(v) for v in raw])
        sizes = np.bincount(lab, minlength=int(self.n_clusters))
        best = int(np.argmax(sizes))
        labels = np.full(frame.shape[1], -1)
        labels[usable] = lab
        keep = labels == best
        self.labels_ = labels
        self.sizes_ = sizes
        self.support_ = keep
        self.report_ = pd.DataFrame({"feature": list(frame.columns), "cluster": labels, "kept": keep,
                                     "reason": np.where(constant, "constant in training data",
                                                        np.where(keep, "in the largest cluster",
                                                                 "in a smaller cluster"))})
        return self
