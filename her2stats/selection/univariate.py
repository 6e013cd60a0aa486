"""Univariate screening of features against a binary outcome (seed 003: t-test p < 0.05; seed 002:
normality-checked choice between the t-test and the Wilcoxon/Mann-Whitney test, FDR-adjusted)."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import InputError
from ..stats._core import adjust_p
from ._base import FeatureSelector
from ._validation import as_binary_outcome

_TESTS = ("t", "welch", "mwu", "auto")


def ks_normality_pvalues(values: np.ndarray) -> np.ndarray:
    """Column-wise one-sample Kolmogorov-Smirnov p-values against a normal with the column's
    mean and SD, as R's ``ks.test(x, "pnorm", mean(x), sd(x))``.

    The exact distribution of D_n is used when n < 100 and the column has no ties, the
    asymptotic Kolmogorov distribution otherwise (R's rule). Estimating the mean and SD from the
    same data makes the test conservative (Lilliefors), as it is in the seed papers that use it.
    """
    values = np.asarray(values, dtype=float)
    n = values.shape[0]
    sd = values.std(axis=0, ddof=1)
    out = np.full(values.shape[1], np.nan)
    ok = sd > 0
    if n < 2 or not ok.any():
        return out
    z = np.sort((values[:, ok] - values[:, ok].mean(axis=0)) / sd[ok], axis=0)
    cdf = stats.norm.cdf(z)
    i = np.arange(1, n + 1)[:, None]
    d = np.maximum((i / n - cdf).max(axis=0), (cdf - (i - 1) / n).max(axis=0))
    ties = (np.diff(z, axis=0) == 0).any(axis=0)
    exact = (n < 100) & ~ties
    p = np.where(exact, stats.kstwo.sf(d, n), stats.kstwobign.sf(np.sqrt(n) * d))
    out[ok] = np.clip(p, 0.0, 1.0)
    return out


def two_group_tests(X: pd.DataFrame, y: np.ndarray, test: str = "t", normality: str = "ks",
                    normality_alpha: float = 0.05) -> pd.DataFrame:
    """Per-feature two-group test of ``X`` by binary ``y`` (1 = event group).

    ``t``: Student's t (pooled variance, R ``t.test(var.equal = TRUE)``); ``welch``: Welch's t
    (R's default ``t.test``); ``mwu``: Wilcoxon rank-sum / Mann-Whitney U, normal approximation
    with tie and continuity corrections (R ``wilcox.test(exact = FALSE)``); ``auto``: the t-test
    where both groups pass the normality test (``ks`` as seed 002, or ``shapiro``) at
    ``normality_alpha``, the rank-sum test otherwise.

    Returns a DataFrame indexed by feature with columns ``test``, ``statistic``, ``p_value``.
    """
    values = X.to_numpy(dtype=float)
    g1, g0 = values[y == 1], values[y == 0]
    constant = values.std(axis=0) == 0  # no test is defined; reported as NaN
    t_stat, t_p, u_stat, u_p = (np.full(values.shape[1], np.nan) for _ in range(4))
    ok = ~constant
    if ok.any():
        with np.errstate(divide="ignore", invalid="ignore"):
            if test != "mwu":
                res_t = stats.ttest_ind(g1[:, ok], g0[:, ok], axis=0, equal_var=(test != "welch"))
                t_stat[ok], t_p[ok] = res_t.statistic, res_t.pvalue
            if test in ("mwu", "auto"):
                res_u = stats.mannwhitneyu(g1[:, ok], g0[:, ok], axis=0, alternative="two-sided",
                                           method="asymptotic", use_continuity=True)
                u_stat[ok], u_p[ok] = res_u.statistic, res_u.pvalue
    if test in ("t", "welch"):
        chosen = np.full(values.shape[1], test)
    elif test == "mwu":
        chosen = np.full(values.shape[1], "mwu")
    else:
        if normality == "ks":
            p1, p0 = ks_normality_pvalues(g1), ks_normality_pvalues(g0)
        else:
            p1 = np.array([_shapiro(col) for col in g1.T])
            p0 = np.array([_shapiro(col) for col in g0.T])
        normal = (p1 > normality_alpha) & (p0 > normality_alpha)
        chosen = np.where(normal, "t", "mwu")
    is_t = np.isin(chosen, ("t", "welch"))
    return pd.DataFrame({"test": chosen, "statistic": np.where(is_t, t_stat, u_stat),
                         "p_value": np.where(is_t, t_p, u_p)}, index=X.columns)


def _shapiro(col: np.ndarray) -> float:
    if len(col) < 3 or np.ptp(col) == 0:
        return np.nan
    return float(stats.shapiro(col).pvalue)


def adjust_pvalues(p: np.ndarray, method: str | None) -> np.ndarray:
    """Multiplicity-adjusted p-values (R ``p.adjust``, the statistics core's one implementation);
    NaN p-values stay NaN and are not counted; ``method=None`` returns a copy."""
    return adjust_p(np.asarray(p, dtype=float), method)


class UnivariateFilter(FeatureSelector):
    """Keep features whose two-group test p-value (optionally adjusted) is below ``alpha``.

    Parameters
    ----------
    test : ``"t"`` (Student), ``"welch"``, ``"mwu"`` (Wilcoxon rank-sum) or ``"auto"``
        (normality-checked choice, seed 002).
    alpha : keep features with p < alpha (seed 003: 0.05).
    p_adjust : None, ``"fdr_bh"``/``"BH"``, ``"bonferroni"``, ``"holm"``, ``"BY"``; the family is
        every tested (non-constant) feature.
    normality : ``"ks"`` (R ``ks.test`` with estimated mean/SD, as seed 002) or ``"shapiro"``;
        only used by ``test="auto"``.
    normality_alpha : a group counts as normal when its normality p-value exceeds this.
    min_features : when fewer features pass, keep this many with the smallest p-values (their
        ``reason`` in ``report_`` says so) so a downstream model always has an input; 0 disables.
    event : the outcome label coded 1 when ``y`` holds labels (0/1, bool, ordered Categorical and
        data-dictionary outcomes need none).

    Attributes
    ----------
    report_ : DataFrame per feature: test, statistic, p_value, p_adjusted, kept, reason.
    support_ : boolean mask of kept columns.

    Notes
    -----
    Fit inside the cross-validation (e.g. as a Pipeline step): screening on all patients before
    CV leaks the outcome (see ``tests/test_leakage.py``).
    """

    def __init__(self, test: str = "t", alpha: float = 0.05, p_adjust: str | None = None, normality: str = "ks",
                 normality_alpha: float = 0.05, min_features: int = 1, event: Any = None):
        self.event = event
        self.test = test
        self.alpha = alpha
        self.p_adjust = p_adjust
        self.normality = normality
        self.normality_alpha = normality_alpha
        self.min_features = min_features

    def fit(self, X: Any, y: Any = None) -> "UnivariateFilter":
        if self.test not in _TESTS:
            raise InputError(f"test must be one of {_TESTS}, got {self.test!r}")
        if self.normality not in ("ks", "shapiro"):
            raise InputError(f"normality must be 'ks' or 'shapiro', got {self.normality!r}")
        if not 0.0 < float(self.alpha) <= 1.0:
            raise InputError(f"alpha must be in (0, 1], got {self.alpha!r}")
        if not isinstance(self.min_features, (int, np.integer)) or self.min_features < 0:
            raise InputError(f"min_features must be a non-negative integer, got {self.min_features!r}")
        adjust_pvalues(np.array([0.5]), self.p_adjust)  # validates the name
        frame = self._frame(X)
        yv = as_binary_outcome(y, len(frame), event=self.event,
                                index=X.index if isinstance(X, pd.DataFrame) else None)
        if min(yv.sum(), len(yv) - yv.sum()) < 2:
            raise InputError("each outcome group needs at least 2 patients for a two-group test")
        self._set_input(frame)
        res = two_group_tests(frame, yv, self.test, self.normality, float(self.normality_alpha))
        res["p_adjusted"] = adjust_pvalues(res["p_value"].to_numpy(), self.p_adjust)
        p_use = res["p_adjusted"].to_numpy()
        kept = np.nan_to_num(p_use, nan=np.inf) < float(self.alpha)
        reason = np.where(np.isnan(p_use), "constant in training data",
                          np.where(kept, f"p < {self.alpha}", f"p >= {self.alpha}")).astype(object)
        n_forced = 0
        if kept.sum() < self.min_features:
            order = np.argsort(np.nan_to_num(p_use, nan=np.inf), kind="stable")
            for j in order:
                if kept.sum() >= self.min_features or np.isnan(p_use[j]):
                    break
                if not kept[j]:
                    kept[j] = True
                    reason[j] = "kept by min_features (smallest p)"
                    n_forced += 1
        res["kept"] = kept
        res["reason"] = reason
        res.index.name = "feature"
        self.report_ = res.reset_index()
        self.pvalues_ = res["p_value"].to_numpy()
        self.support_ = kept
        self.n_forced_ = n_forced
        return self
