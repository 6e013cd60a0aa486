"""Multi-reader multi-case (MRMC) reader studies: Obuchowski-Rockette and DBM analyses.

A reader study asks whether readers (radiologists) perform better with one modality (or with the
model's help) than with another, generalising to new readers *and* new cases. Each reader rates
every case under each treatment; a figure of merit (FOM) ``theta_ij`` is computed per treatment
``i`` and reader ``j``. The Obuchowski-Rockette (OR) model is

.. math:: \\hat\\theta_{ij} = \\mu + \\tau_i + R_j + (\\tau R)_{ij} + \\epsilon_{ij},

with random reader effects and correlated errors whose covariance (because the same cases are
read) is summarised by ``Var`` (same treatment and reader), ``Cov1`` (same reader, different
treatments), ``Cov2`` (same treatment, different readers) and ``Cov3`` (both different). With
mean squares ``MS(T)``, ``MS(R)``, ``MS(TR)`` of the FOM table:

* random readers and cases (``fixed=None``, Hillis 2007, 2008):
  ``F = MS(T) / [MS(TR) + J max(Cov2 - Cov3, 0)]`` on ``I - 1`` and
  ``ddf = [MS(TR) + J max(Cov2 - Cov3, 0)]^2 / {MS(TR)^2 / [(I-1)(J-1)]}`` degrees of freedom;
* fixed readers (``fixed="readers"``): ``X^2 = (I-1) MS(T) / [Var - Cov1 + (J-1) max(Cov2 - Cov3, 0)]``
  on ``I - 1`` degrees of freedom (chi-square);
* fixed cases (``fixed="cases"``): ``F = MS(T) / MS(TR)`` on ``I - 1``, ``(I-1)(J-1)``.

The covariances come from the jackknife over cases, DeLong's placement values, the unbiased
U-statistic estimator (Gallas 2007) or a case bootstrap stratified by truth. ``method="DBM"`` is
the Dorfman-Berbaum-Metz analysis of (normalised) jackknife pseudovalues with Hillis' ddf; with
random readers and cases, and with fixed cases, it gives exactly the OR-jackknife F, df and p
(Hillis 2005); with fixed readers it uses an F test on ``(I-1)(K-1)`` df.

Conventions (announced, never guessed): ``truth`` is 0/1 (or bool, or a two-category Categorical
whose second category is positive); higher ratings mean more suspicion of the positive class;
treatments are taken in the order of ``treatments=`` (else the Categorical order, else sorted),
and ``diff`` is the first treatment minus the second.

References
----------
Obuchowski NA, Rockette HE (1995). Hypothesis testing of diagnostic accuracy for multiple readers
and multiple tests. Commun Stat Simul Comput 24:285-308. Hillis SL, Obuchowski NA, Schartz KM,
Berbaum KS (2005). A comparison of the Dorfman-Berbaum-Metz and Obuchowski-Rockette methods for
receiver operating characteristic (ROC) data. Stat Med 24:1579-1607. Hillis SL (2007). A
comparison of denominator degrees of freedom methods for multiple observer ROC analysis. Stat Med
26:596-619. Hillis SL, Berbaum KS, Metz CE (2008). Recent developments in the Dorfman-Berbaum-Metz
procedure for multireader ROC study analysis. Acad Radiol 15:647-661. Hillis SL, Obuchowski NA,
Berbaum KS (2011). Power estimation for multireader ROC methods: an updated and unified approach.
Acad Radiol 18:129-142. Gallas BD (2006). One-shot estimate of MRMC variance: AUC. Acad Radiol
13:353-362. Roe CA, Metz CE (1997). Dorfman-Berbaum-Metz method for statistical analysis of
multireader, multimodality receiver operating characteristic data: validation with computer
simulation. Acad Radiol 4:298-303. Dorfman DD, Alf E (1969). Maximum-likelihood estimation of
parameters of signal-detection theory and determination of confidence intervals - rating-method
data. J Math Psychol 6:487-496. Smith BJ, Hillis SL (2020). Multi-reader multi-case analysis of
variance software for diagnostic performance comparison of imaging modalities. Proc SPIE 11316.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from ..engine import resolve_engine
from ..errors import InputError
from ..results import Result
from ._core import binary_outcome, check_level, check_n_boot, z_value

__all__ = [
    "MRMCResult",
    "StandaloneResult",
    "MRMCSampleSizeResult",
    "mrmc",
    "mrmc_standalone",
    "mrmc_sample_size",
    "simulate_roe_metz",
    "binormal_auc",
]

_METRICS = ("auc", "binormal_auc", "sensitivity", "specificity")
_COVS = ("jackknife", "delong", "bootstrap", "unbiased")
_FIXED = (None, "readers", "cases")
_METHODS = ("OR", "DBM")
_SQRT2PI = math.sqrt(2 * math.pi)


# =========================================================================== input checks
def _truth_codes(values: pd.Series, name: str, event: Any = None) -> np.ndarray:
    """0/1 codes of a binary truth column (no missing values at this point) by the statistics core's
    one rule: 0/1, bool, an ordered two-category Categorical, or labels with ``event=``."""
    return binary_outcome(values, name, event=event).codes.astype(np.int8)


def _levels(values: pd.Series, given: Sequence[Any] | None, what: str, name: str) -> list[Any]:
    present = [v.item() if isinstance(v, np.generic) else v for v in pd.unique(values)]
    if given is not None:
        given = list(given)
        unknown = [g for g in given if g not in present]
        if unknown:
            raise InputError(f"{what}s {unknown} are not in column {name!r} (present: {present})")
        return given
    if isinstance(values.dtype, pd.CategoricalDtype):
        return [c for c in values.cat.categories if c in present]
    try:
        return sorted(present)
    except TypeError:
        return sorted(present, key=str)


@dataclass(frozen=True)
class _Study:
    """A reader study as arrays: ratings[i, j, k] (NaN where reader j did not read case k)."""

    ratings: np.ndarray            # (I, J, K)
    truth: np.ndarray              # (K,) int8
    read: np.ndarray               # (J, K) bool: reader j read case k
    treatments: list[Any]
    readers: list[Any]
    cases: list[Any]
    design: str                    # "factorial" | "split-plot"


def _prepare(df: pd.DataFrame, reader: str, treatment: str | None, case: str, truth: str, rating: str,
             treatments: Sequence[Any] | None, min_treatments: int = 2, event: Any = None) -> _Study:
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"df must be a pandas DataFrame (long format: one row per reading), got {type(df).__name__}")
    cols = [c for c in (reader, treatment, case, truth, rating) if c is not None]
    missing_cols = [c for c in cols if c not in df.columns]
    if missing_cols:
        raise InputError(f"column(s) {missing_cols} not found in the data; columns are {list(df.columns)}")
    na = {c: int(df[c].isna().sum()) for c in cols if df[c].isna().any()}
    if na:
        parts = "; ".join(f"{c}: {n}" for c, n in na.items())
        raise InputError(
            f"missing values in the reader study ({parts}); an MRMC analysis needs every reading. "
            "Remove the incomplete readings (and say so in the report) or impute them explicitly")
    try:
        rat = pd.to_numeric(df[rating], errors="raise").to_numpy(dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"rating column {rating!r} must be numeric (higher = more suspicious of the positive class)") from None
    if not np.isfinite(rat).all():
        raise InputError(f"rating column {rating!r} has infinite values")
    t01 = _truth_codes(df[truth], truth, event)
    trt_col = df[treatment] if treatment is not None else pd.Series(["(single)"] * len(df), index=df.index)
    trts = _levels(trt_col, treatments, "treatment", str(treatment))
    if len(trts) < min_treatments:
        raise InputError(f"column {treatment!r} has {len(trts)} treatment(s) {trts}; an MRMC comparison needs at least "
                         f"{min_treatments}")
    keep = trt_col.isin(trts).to_numpy()
    rdrs = _levels(df[reader], None, "reader", reader)
    if len(rdrs) < 2:
        raise InputError(f"column {reader!r} has {len(rdrs)} reader(s); an MRMC analysis needs at least 2 "
                         "(use roc_test for one reader)")
    cs = _levels(df[case], None, "case", case)
    # truth must be a property of the case
    tcase = pd.DataFrame({"c": df[case].to_numpy(), "t": t01}).groupby("c", sort=False)["t"].nunique()
    bad = tcase[tcase > 1]
    if len(bad):
        raise InputError(f"truth column {truth!r} differs between readings of the same case for case(s) "
                         f"{list(bad.index[:5])}; the truth of a case must be the same for every reader and treatment")
    ti = pd.Index(trts).get_indexer(trt_col[keep])
    rj = pd.Index(rdrs).get_indexer(df[reader][keep])
    ck = pd.Index(cs).get_indexer(df[case][keep])
    I, J, K = len(trts), len(rdrs), len(cs)
    flat = (ti * J + rj) * K + ck
    counts = np.bincount(flat, minlength=I * J * K)
    if (counts > 1).any():
        p = int(np.flatnonzero(counts > 1)[0])
        i, rest = divmod(p, J * K)
        j, k = divmod(rest, K)
        raise InputError(f"reader {rdrs[j]!r} read case {cs[k]!r} under treatment {trts[i]!r} more than once; "
                         f"each (reader, treatment, case) must appear once")
    ratings = np.full(I * J * K, np.nan)
    ratings[flat] = rat[keep]
    ratings = ratings.reshape(I, J, K)
    have = ~np.isnan(ratings)                   # (I, J, K)
    read = have.any(axis=0)                     # (J, K)
    partial = read & ~have.all(axis=0)
    if partial.any():
        j, k = np.argwhere(partial)[0]
        miss = [trts[i] for i in range(I) if not have[i, j, k]]
        raise InputError(f"reader {rdrs[j]!r} read case {cs[k]!r} under some treatments but not under {miss}; "
                         "every reader must read each of their cases under every treatment "
                         f"({int(partial.sum())} such reader-case pair(s))")
    per_case = read.sum(axis=0)
    if (per_case == J).all():
        design = "factorial"
    elif (per_case == 1).all():
        design = "split-plot"
    else:
        raise InputError(
            f"unbalanced design: cases are read by between {int(per_case.min())} and {int(per_case.max())} of the "
            f"{J} readers. Supported: fully crossed (every reader reads every case) and split-plot with cases nested "
            "within readers (each case read by exactly one reader)")
    truth_k = np.zeros(K, dtype=np.int8)
    truth_k[ck] = t01[keep]
    for j in range(J):
        tk = truth_k[read[j]]
        if tk.sum() < 2 or (len(tk) - tk.sum()) < 2:
            raise InputError(f"reader {rdrs[j]!r} read {int(tk.sum())} positive and {int(len(tk) - tk.sum())} negative "
                             f"case(s); each reader needs at least 2 of each (truth column {truth!r})")
    return _Study(ratings, truth_k, read, trts, rdrs, cs, design)


# =========================================================================== figures of merit
def _psi(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Mann-Whitney kernel: 1 if positive x > negative y, 1/2 if tied, 0 otherwise (n1 x n0)."""
    d = x[:, None] - y[None, :]
    return (d > 0).astype(float) + 0.5 * (d == 0)


def _binormal_fit(counts0: np.ndarray, counts1: np.ndarray) -> tuple[float, float, float]:
    """Dorfman-Alf maximum likelihood binormal fit to rating-category counts; returns (a, b, AUC).

    Categories empty in both classes are dropped. Perfectly separated data give AUC = 1
    (a -> infinity, b = 1, as MRMCaov reports); data with one usable category give AUC = 0.5.
    """
    keep = (counts0 + counts1) > 0
    c0, c1 = counts0[keep].astype(float), counts1[keep].astype(float)
    C = len(c0)
    if C < 2:
        return 0.0, 1.0, 0.5
    # perfect separation: every positive above every negative
    last_neg = np.max(np.flatnonzero(c0)) if c0.any() else -1
    first_pos = np.min(np.flatnonzero(c1)) if c1.any() else C
    if first_pos > last_neg:
        return math.inf, 1.0, 1.0
    cum0 = np.cumsum(c0)[:-1] / c0.sum()
    cum1 = np.cumsum(c1)[:-1] / c1.sum()
    eps = 0.5 / max(c0.sum(), c1.sum())
    z0 = stats.norm.ppf(np.clip(cum0, eps, 1 - eps))
    z1 = stats.norm.ppf(np.clip(cum1, eps, 1 - eps))
    # P(category <= c | neg) = Phi(z_c); P(category <= c | pos) = Phi(b z_c - a)
    b0 = 1.0
    a0 = float(np.mean(z0 - z1)) if len(z0) else 1.0
    zs = np.sort(z0)
    start = np.concatenate([[a0, math.log(b0), zs[0]], np.log(np.maximum(np.diff(zs), 1e-3))])

    def nll_grad(par: np.ndarray) -> tuple[float, np.ndarray]:
        a, b = par[0], math.exp(par[1])
        inc = np.exp(par[3:])
        z = np.cumsum(np.concatenate([[par[2]], inc]))
        u = b * z - a
        F0 = np.concatenate([[0.0], special.ndtr(z), [1.0]])
        F1 = np.concatenate([[0.0], special.ndtr(u), [1.0]])
        p0 = np.maximum(np.diff(F0), 1e-300)
        p1 = np.maximum(np.diff(F1), 1e-300)
        val = -float(c0 @ np.log(p0) + c1 @ np.log(p1))
        w0, w1 = c0 / p0, c1 / p1
        d0 = (w0[:-1] - w0[1:]) * np.exp(-0.5 * z * z) / _SQRT2PI    # d loglik / d F0_m * phi(z_m)
        g1 = (w1[:-1] - w1[1:]) * np.exp(-0.5 * u * u) / _SQRT2PI    # d loglik / d F1_m * phi(u_m)
        gz = d0 + b * g1
        grad = np.empty_like(par)
        grad[0] = -g1.sum()
        grad[1] = b * (g1 * z).sum()
        tail = np.cumsum(gz[::-1])[::-1]                   # sum over m >= l of gz
        grad[2] = tail[0]
        grad[3:] = inc * tail[1:]
        return val, -grad

    res = optimize.minimize(nll_grad, start, jac=True, method="BFGS", options={"gtol": 1e-10, "maxiter": 5000})
    par = res.x
    a, b = float(par[0]), float(math.exp(par[1]))
    return a, b, float(stats.norm.cdf(a / math.sqrt(1.0 + b * b)))


def binormal_auc(truth: Any, rating: Any, event: Any = None) -> float:
    """Area under the maximum-likelihood binormal ROC curve of ordinal ratings (Dorfman & Alf 1969).

    ``AUC = Phi(a / sqrt(1 + b^2))`` where ``P(rating <= c | negative) = Phi(z_c)`` and
    ``P(rating <= c | positive) = Phi(b z_c - a)``. Ratings must be ordinal (at most 20 distinct
    values); perfectly separated ratings give 1.
    """
    t = _truth_codes(pd.Series(truth), "truth", event)
    r = np.asarray(rating, dtype=float)
    if len(t) != len(r):
        raise InputError(f"rating has {len(r)} values but truth has {len(t)}")
    return _binormal_from(r[t == 1], r[t == 0])


def _categories(values: np.ndarray) -> np.ndarray:
    cats = np.unique(values)
    if len(cats) > 20:
        raise InputError(
            f"metric='binormal_auc' needs ordinal ratings (at most 20 distinct values); found {len(cats)}. "
            "Bin the ratings (e.g. into 5-10 categories) or use metric='auc'")
    return cats


def _binormal_from(x: np.ndarray, y: np.ndarray) -> float:
    cats = _categories(np.concatenate([x, y]))
    c1 = np.array([(x == c).sum() for c in cats])
    c0 = np.array([(y == c).sum() for c in cats])
    return _binormal_fit(c0, c1)[2]


@dataclass
class _Cell:
    """FOM of one (treatment, reader) cell and what the covariance estimators need."""

    fom: float
    loo: np.ndarray                 # leave-one-case-out FOM over the reader's cases
    psi: np.ndarray | None = None   # AUC kernel (n1 x n0)


def _cell(x: np.ndarray, y: np.ndarray, metric: str, threshold: float | None, need_loo: bool) -> _Cell:
    """x: ratings of the reader's positive cases, y: negatives (case order preserved)."""
    n1, n0 = len(x), len(y)
    if metric == "auc":
        psi = _psi(x, y)
        tot = psi.sum()
        loo = np.concatenate([(tot - psi.sum(axis=1)) / ((n1 - 1) * n0), (tot - psi.sum(axis=0)) / (n1 * (n0 - 1))])
        return _Cell(tot / (n1 * n0), loo, psi)
    # sensitivity (specificity) depends on the positive (negative) cases only: its jackknife runs
    # over those cases, as MRMCaov's does
    if metric == "sensitivity":
        hit = (x >= threshold).astype(float)
        s = hit.sum()
        return _Cell(s / n1, (s - hit) / (n1 - 1))
    if metric == "specificity":
        ok = (y < threshold).astype(float)
        s = ok.sum()
        return _Cell(s / n0, (s - ok) / (n0 - 1))
    # binormal: the likelihood depends on category counts only, so the leave-one-out fit depends
    # only on the (truth, category) of the deleted case -> at most 2 x categories refits
    cats = _categories(np.concatenate([x, y]))
    c1 = np.array([(x == c).sum() for c in cats])
    c0 = np.array([(y == c).sum() for c in cats])
    fom = _binormal_fit(c0, c1)[2]
    if not need_loo:
        return _Cell(fom, np.empty(0))
    cache: dict[tuple[int, int], float] = {}

    def drop(cls: int, ci: int) -> float:
        key = (cls, ci)
        if key not in cache:
            a0, a1 = c0.copy(), c1.copy()
            (a1 if cls else a0)[ci] -= 1
            cache[key] = _binormal_fit(a0, a1)[2]
        return cache[key]

    ix = np.searchsorted(cats, x)
    iy = np.searchsorted(cats, y)
    loo = np.concatenate([[drop(1, c) for c in ix], [drop(0, c) for c in iy]])
    return _Cell(fom, loo)


def _reader_cases(study: _Study, j: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of reader j's positive and negative cases (in case order)."""
    idx = np.flatnonzero(study.read[j])
    t = study.truth[idx]
    return idx[t == 1], idx[t == 0]


def _cells(study: _Study, metric: str, threshold: float | None, need_loo: bool) -> list[list[_Cell]]:
    I, J = study.ratings.shape[:2]
    out = []
    for i in range(I):
        row = []
        for j in range(J):
            pos, neg = _reader_cases(study, j)
            row.append(_cell(study.ratings[i, j, pos], study.ratings[i, j, neg], metric, threshold, need_loo))
        out.append(row)
    return out


def _fom_table(study: _Study, metric: str, threshold: float | None) -> np.ndarray:
    cells = _cells(study, metric, threshold, need_loo=False)
    return np.array([[c.fom for c in row] for row in cells])


# =========================================================================== covariance estimators
def _cov_matrix(study: _Study, cells: list[list[_Cell]], cov: str, metric: str, threshold: float | None,
                n_boot: int, seed: Any) -> np.ndarray:
    """Covariance matrix of the I*J FOMs, index p = i*J + j (treatment-major).

    Split-plot designs: readers share no cases, so covariances between readers are 0 by design and
    each reader's block is estimated from that reader's cases.
    """
    I, J = len(cells), len(cells[0])
    P = I * J
    S = np.zeros((P, P))
    blocks = [list(range(J))] if study.design == "factorial" else [[j] for j in range(J)]
    for rdrs in blocks:
        pos, neg = _reader_cases(study, rdrs[0])
        n1, n0 = len(pos), len(neg)
        idx = [i * J + j for i in range(I) for j in rdrs]
        sub = [cells[p // J][p % J] for p in idx]
        if cov == "jackknife":
            L = np.array([c.loo for c in sub])            # (q, K_r)
            Kr = L.shape[1]
            D = L - L.mean(axis=1, keepdims=True)
            block = (Kr - 1) / Kr * (D @ D.T)
        elif cov == "delong":
            V10 = np.array([c.psi.mean(axis=1) for c in sub])   # placements of positives
            V01 = np.array([c.psi.mean(axis=0) for c in sub])   # placements of negatives
            block = np.atleast_2d(np.cov(V10)) / n1 + np.atleast_2d(np.cov(V01)) / n0
        elif cov == "unbiased":
            Psi = np.array([c.psi for c in sub])                # (q, n1, n0)
            T = Psi.sum(axis=(1, 2))
            rows = Psi.sum(axis=2)
            colsum = Psi.sum(axis=1)
            flat = Psi.reshape(len(sub), -1)
            s4 = np.outer(T, T) - rows @ rows.T - colsum @ colsum.T + flat @ flat.T
            A = T / (n1 * n0)
            block = np.outer(A, A) - s4 / (n1 * (n1 - 1) * n0 * (n0 - 1))
        else:  # bootstrap: cases resampled within truth (and within reader for split-plot)
            from ..resampling import run_replicates

            ratings = study.ratings[:, rdrs][:, :, np.concatenate([pos, neg])]   # (I, r, n1 + n0)

            def work(rng: np.random.Generator, n: int) -> np.ndarray:
                out = np.empty((n, len(idx)))
                for b in range(n):
                    ip = rng.integers(0, n1, n1)
                    ineg = n1 + rng.integers(0, n0, n0)
                    vals = []
                    for i in range(I):
                        for jj in range(len(rdrs)):
                            r = ratings[i, jj]
                            vals.append(_cell(r[ip], r[ineg], metric, threshold, False).fom)
                    out[b] = vals
                return out

            reps = run_replicates(work, n_boot, seed=seed, desc="MRMC bootstrap")
            block = np.atleast_2d(np.cov(reps, rowvar=False))
        S[np.ix_(idx, idx)] = block
    return S


def _cov_summary(S: np.ndarray, I: int, J: int) -> dict[str, float]:
    """Var, Cov1 (same reader), Cov2 (same treatment), Cov3 (neither) averaged over cells."""
    ii, jj = np.divmod(np.arange(I * J), J)
    same_i = ii[:, None] == ii[None, :]
    same_j = jj[:, None] == jj[None, :]
    off = ~np.eye(I * J, dtype=bool)

    def avg(mask: np.ndarray) -> float:
        return float(S[mask].mean()) if mask.any() else 0.0

    return {"Var": float(np.diag(S).mean()), "Cov1": avg(same_j & ~same_i), "Cov2": avg(same_i & ~same_j & off),
            "Cov3": avg(~same_i & ~same_j)}


# =========================================================================== results
@dataclass(frozen=True, repr=False)
class MRMCResult(Result):
    """Obuchowski-Rockette (or DBM) analysis of a reader study.

    ``statistic`` is F (chi-square with fixed readers, OR method), on ``df1`` and ``df2``
    (``inf`` for the chi-square); ``diff``, ``ci_low``, ``ci_high``, ``se`` refer to the first
    treatment minus the second. ``comparisons`` holds every pair, ``treatment_ci`` each
    treatment's reader-averaged FOM with its CI, ``reader_fom`` every reader-treatment FOM with its
    case-sampling SE, ``reader_diff`` per-reader differences (first minus second treatment),
    ``var_components`` the OR (or DBM) variance components, ``anova`` the mean squares.
    """

    statistic: float
    df1: float
    df2: float
    p_value: float
    diff: float
    ci_low: float
    ci_high: float
    se: float
    treatment_auc: dict = field(compare=False)
    treatments: tuple
    readers: tuple
    method: str
    cov: str
    fixed: str | None
    metric: str
    level: float
    design: str
    n_cases: int
    n_pos: int
    n_neg: int
    fom: pd.DataFrame = field(compare=False)
    comparisons: pd.DataFrame = field(compare=False)
    treatment_ci: pd.DataFrame = field(compare=False)
    reader_fom: pd.DataFrame = field(compare=False)
    reader_diff: pd.DataFrame = field(compare=False)
    var_components: pd.DataFrame = field(compare=False)
    anova: pd.DataFrame = field(compare=False)
    covariance: np.ndarray = field(compare=False, repr=False)
    engine: str = "python"
    threshold: float | None = None
    _curves: Any = field(default=None, compare=False, repr=False)

    def _title(self) -> str:
        fx = {None: "random readers and cases", "readers": "fixed readers", "cases": "fixed cases"}[self.fixed]
        return (f"MRMCResult ({self.method}, {self.metric}, cov={self.cov}, {fx}, {self.design}, "
                f"engine={self.engine})")

    @property
    def test(self) -> dict[str, float]:
        return {"statistic": self.statistic, "df1": self.df1, "df2": self.df2, "p_value": self.p_value}

    def to_frame(self) -> pd.DataFrame:
        """One row per treatment comparison, with the global test in the first row's columns."""
        out = self.comparisons.copy()
        out.insert(0, "F" if not (self.fixed == "readers" and self.method == "OR") else "chisq", np.nan)
        out.iloc[0, 0] = self.statistic
        out.insert(1, "df1", np.nan)
        out.iloc[0, 1] = self.df1
        return out

    def plot(self, ax: Any = None) -> Any:
        """Empirical ROC curve of every reader, one panel per treatment (reader-averaged FOM in the title)."""
        import matplotlib.pyplot as plt

        study: _Study = self._curves
        I = len(study.treatments)
        if ax is None:
            _, axes = plt.subplots(1, I, figsize=(4.2 * I, 4.2), squeeze=False)
            axes = axes[0]
        else:
            axes = np.atleast_1d(ax)
        for i, trt in enumerate(study.treatments):
            a = axes[i]
            for j, rdr in enumerate(study.readers):
                pos, neg = _reader_cases(study, j)
                x, y = study.ratings[i, j, pos], study.ratings[i, j, neg]
                th = np.unique(np.concatenate([x, y]))[::-1]
                tpr = np.concatenate([[0.0], [(x >= t).mean() for t in th]])
                fpr = np.concatenate([[0.0], [(y >= t).mean() for t in th]])
                a.plot(fpr, tpr, marker=".", linewidth=1, label=f"reader {rdr}")
            a.plot([0, 1], [0, 1], linestyle=":", color="grey", linewidth=1)
            a.set_title(f"{trt}: mean {self.metric} = {self.treatment_auc[trt]:.3f}")
            a.set_xlabel("1 - specificity")
            a.set_ylabel("Sensitivity")
            a.set_xlim(0, 1)
            a.set_ylim(0, 1)
            a.set_aspect("equal")
            a.legend(loc="lower right", fontsize=7)
        return axes


def _t_or_z(est: float, se: float, df: float, level: float) -> tuple[float, float, float, float]:
    """(statistic, p, ci_low, ci_high) with a t (finite df) or normal reference."""
    if se <= 0 or not np.isfinite(se):
        return (math.nan, math.nan, est, est)
    stat = est / se
    if math.isinf(df):
        q = z_value(level)
        p = 2 * stats.norm.sf(abs(stat))
    else:
        q = stats.t.ppf(0.5 + level / 2, df)
        p = 2 * stats.t.sf(abs(stat), df)
    return stat, float(p), est - q * se, est + q * se


def _anova_or(theta: np.ndarray) -> dict[str, float]:
    I, J = theta.shape
    m = theta.mean()
    ti = theta.mean(axis=1)
    rj = theta.mean(axis=0)
    ms_t = J * ((ti - m) ** 2).sum() / (I - 1) if I > 1 else math.nan
    ms_r = I * ((rj - m) ** 2).sum() / (J - 1)
    res = theta - ti[:, None] - rj[None, :] + m
    ms_tr = (res ** 2).sum() / ((I - 1) * (J - 1)) if I > 1 else math.nan
    return {"MS(T)": ms_t, "MS(R)": ms_r, "MS(TR)": ms_tr}


def _or_analysis(theta: np.ndarray, S: np.ndarray, fixed: str | None, level: float, K: int
                 ) -> dict[str, Any]:
    I, J = theta.shape
    ms = _anova_or(theta)
    cs = _cov_summary(S, I, J)
    c23 = max(cs["Cov2"] - cs["Cov3"], 0.0)
    ti = theta.mean(axis=1)
    if fixed is None:
        den = ms["MS(TR)"] + J * c23
        stat = ms["MS(T)"] / den
        df1, df2 = I - 1, den ** 2 / (ms["MS(TR)"] ** 2 / ((I - 1) * (J - 1)))
        p = float(stats.f.sf(stat, df1, df2))
        se_diff, df_diff = math.sqrt(2 * den / J), df2
    elif fixed == "readers":
        den = cs["Var"] - cs["Cov1"] + (J - 1) * c23
        stat = (I - 1) * ms["MS(T)"] / den
        df1, df2 = I - 1, math.inf
        p = float(stats.chi2.sf(stat, df1))
        se_diff, df_diff = math.sqrt(2 * den / J), math.inf
    else:
        den = ms["MS(TR)"]
        stat = ms["MS(T)"] / den
        df1, df2 = I - 1, (I - 1) * (J - 1)
        p = float(stats.f.sf(stat, df1, df2))
        se_diff, df_diff = math.sqrt(2 * den / J), df2
    comps = []
    for a, b in combinations(range(I), 2):
        est = ti[a] - ti[b]
        st, pp, lo, hi = _t_or_z(est, se_diff, df_diff, level)
        comps.append((a, b, est, se_diff, df_diff, lo, hi, st, pp))
    # each treatment alone (its own readers' mean square and Cov2)
    per_trt = []
    for i in range(I):
        idx = np.arange(i * J, (i + 1) * J)
        Si = S[np.ix_(idx, idx)]
        var_i = float(np.diag(Si).mean())
        cov2_i = float(Si[~np.eye(J, dtype=bool)].mean())
        ms_r_i = float(((theta[i] - ti[i]) ** 2).sum() / (J - 1))
        if fixed is None:
            den_i = ms_r_i + J * max(cov2_i, 0.0)
            se_i, df_i = math.sqrt(den_i / J), den_i ** 2 / (ms_r_i ** 2 / (J - 1)) if ms_r_i > 0 else math.inf
        elif fixed == "readers":
            se_i, df_i = math.sqrt((var_i + (J - 1) * max(cov2_i, 0.0)) / J), math.inf
        else:
            se_i, df_i = math.sqrt(ms_r_i / J), J - 1
        _, _, lo, hi = _t_or_z(ti[i], se_i, df_i, level)
        per_trt.append((i, ti[i], se_i, df_i, lo, hi, ms_r_i, var_i, cov2_i))
    # per-reader differences of the first two treatments (each reader alone, cases random)
    per_rdr = []
    for j in range(J):
        p0, p1 = j, J + j
        est = theta[0, j] - theta[1, j]
        v = S[p0, p0] + S[p1, p1] - 2 * S[p0, p1]
        se = math.sqrt(max(v, 0.0))
        st, pp, lo, hi = _t_or_z(est, se, math.inf, level)
        per_rdr.append((j, est, se, lo, hi, st, pp))
    var_r = (ms["MS(R)"] - (ms["MS(TR)"] - cs["Var"] + cs["Cov1"] + cs["Cov2"] - cs["Cov3"])
             - cs["Var"] - (I - 1) * cs["Cov1"] + cs["Cov2"] + (I - 1) * cs["Cov3"]) / I
    var_tr = ms["MS(TR)"] - cs["Var"] + cs["Cov1"] + cs["Cov2"] - cs["Cov3"]
    vc = {"reader": var_r, "treatment:reader": var_tr, "Error": cs["Var"], "Cov1": cs["Cov1"],
          "Cov2": cs["Cov2"], "Cov3": cs["Cov3"]}
    return {"stat": stat, "df1": df1, "df2": df2, "p": p, "comps": comps, "per_trt": per_trt,
            "per_rdr": per_rdr, "ms": ms, "vc": vc, "cs": cs}


def _dbm_analysis(theta: np.ndarray, L: np.ndarray, fixed: str | None, level: float) -> dict[str, Any]:
    """DBM on normalised jackknife pseudovalues. L: leave-one-out FOMs (I, J, K)."""
    I, J, K = L.shape
    Y = K * theta[:, :, None] - (K - 1) * L
    Y += theta[:, :, None] - Y.mean(axis=2, keepdims=True)     # normalised: mean pseudovalue = FOM
    m = Y.mean()
    yi, yj, yk = Y.mean(axis=(1, 2)), Y.mean(axis=(0, 2)), Y.mean(axis=(0, 1))
    yij, yik, yjk = Y.mean(axis=2), Y.mean(axis=1), Y.mean(axis=0)
    ms = {
        "MS(T)": J * K * ((yi - m) ** 2).sum() / (I - 1),
        "MS(R)": I * K * ((yj - m) ** 2).sum() / (J - 1),
        "MS(C)": I * J * ((yk - m) ** 2).sum() / (K - 1),
        "MS(TR)": K * ((yij - yi[:, None] - yj[None, :] + m) ** 2).sum() / ((I - 1) * (J - 1)),
        "MS(TC)": J * ((yik - yi[:, None] - yk[None, :] + m) ** 2).sum() / ((I - 1) * (K - 1)),
        "MS(RC)": I * ((yjk - yj[:, None] - yk[None, :] + m) ** 2).sum() / ((J - 1) * (K - 1)),
    }
    res = (Y - yij[:, :, None] - yik[:, None, :] - yjk[None, :, :] + yi[:, None, None] + yj[None, :, None]
           + yk[None, None, :] - m)
    ms["MS(TRC)"] = (res ** 2).sum() / ((I - 1) * (J - 1) * (K - 1))
    if fixed is None:
        den = ms["MS(TR)"] + max(ms["MS(TC)"] - ms["MS(TRC)"], 0.0)
        df2 = den ** 2 / (ms["MS(TR)"] ** 2 / ((I - 1) * (J - 1)))
    elif fixed == "readers":
        den, df2 = ms["MS(TC)"], (I - 1) * (K - 1)
    else:
        den, df2 = ms["MS(TR)"], (I - 1) * (J - 1)
    stat = ms["MS(T)"] / den
    p = float(stats.f.sf(stat, I - 1, df2))
    se_diff = math.sqrt(2 * den / (J * K))
    ti = theta.mean(axis=1)
    comps = []
    for a, b in combinations(range(I), 2):
        est = ti[a] - ti[b]
        st, pp, lo, hi = _t_or_z(est, se_diff, df2, level)
        comps.append((a, b, est, se_diff, df2, lo, hi, st, pp))
    per_trt = []
    for i in range(I):
        Yi = Y[i]
        mi = Yi.mean()
        msr = K * ((Yi.mean(axis=1) - mi) ** 2).sum() / (J - 1)
        msc = J * ((Yi.mean(axis=0) - mi) ** 2).sum() / (K - 1)
        resi = Yi - Yi.mean(axis=1, keepdims=True) - Yi.mean(axis=0, keepdims=True) + mi
        msrc = (resi ** 2).sum() / ((J - 1) * (K - 1))
        if fixed is None:
            den_i = msr + max(msc - msrc, 0.0)
            df_i = den_i ** 2 / (msr ** 2 / (J - 1))
        elif fixed == "readers":
            den_i, df_i = msc, K - 1
        else:
            den_i, df_i = msr, J - 1
        se_i = math.sqrt(den_i / (J * K))
        _, _, lo, hi = _t_or_z(ti[i], se_i, df_i, level)
        per_trt.append((i, ti[i], se_i, df_i, lo, hi, msr, math.nan, math.nan))
    vc = {
        "reader": (ms["MS(R)"] - ms["MS(TR)"] - ms["MS(RC)"] + ms["MS(TRC)"]) / (I * K),
        "case": (ms["MS(C)"] - ms["MS(TC)"] - ms["MS(RC)"] + ms["MS(TRC)"]) / (I * J),
        "treatment:reader": (ms["MS(TR)"] - ms["MS(TRC)"]) / K,
        "treatment:case": (ms["MS(TC)"] - ms["MS(TRC)"]) / J,
        "reader:case": (ms["MS(RC)"] - ms["MS(TRC)"]) / I,
        "Error": ms["MS(TRC)"],
    }
    return {"stat": stat, "df1": I - 1, "df2": df2, "p": p, "comps": comps, "per_trt": per_trt, "ms": ms, "vc": vc}


# =========================================================================== public API
def _check_common(metric: str, cov: str, fixed: Any, method: str, level: float, threshold: Any) -> None:
    if metric not in _METRICS:
        raise InputError(f"metric must be one of {_METRICS}, got {metric!r}")
    if cov not in _COVS:
        raise InputError(f"cov must be one of {_COVS}, got {cov!r}")
    if fixed not in _FIXED:
        raise InputError(f"fixed must be None, 'readers' or 'cases', got {fixed!r}")
    if method not in _METHODS:
        raise InputError(f"method must be 'OR' or 'DBM', got {method!r}")
    level = check_level(level)
    if metric in ("sensitivity", "specificity"):
        if threshold is None or not np.isfinite(threshold):
            raise InputError(f"metric={metric!r} needs a finite rating threshold (a reading is positive when "
                             "rating >= threshold), e.g. threshold=3")
    elif threshold is not None:
        raise InputError(f"threshold is only used with metric='sensitivity' or 'specificity', not {metric!r}")
    if cov in ("delong", "unbiased") and metric != "auc":
        raise InputError(f"cov={cov!r} is defined for the empirical AUC only (metric='auc'); use cov='jackknife' "
                         f"or 'bootstrap' for metric={metric!r}")


def _study_fom_cov(study: _Study, metric: str, cov: str, threshold: float | None, n_boot: int, seed: Any,
                   engine: str) -> tuple[np.ndarray, np.ndarray, list[list[_Cell]]]:
    I, J = study.ratings.shape[:2]
    if engine == "r":
        if metric not in ("auc", "sensitivity", "specificity") or cov == "bootstrap":
            raise InputError(f"engine='r' computes metric='auc'/'sensitivity'/'specificity' with cov='jackknife', "
                             f"'delong' or 'unbiased'; got metric={metric!r}, cov={cov!r}. Use engine='python'")
        theta, S = _r_fom_cov(study, metric, cov, threshold)
        cells = _cells(study, metric, threshold, need_loo=True) if cov == "jackknife" else None
        return theta, S, cells
    cells = _cells(study, metric, threshold, need_loo=(cov == "jackknife"))
    theta = np.array([[c.fom for c in row] for row in cells])
    S = _cov_matrix(study, cells, cov, metric, threshold, n_boot, seed)
    return theta, S, cells


def _r_fom_cov(study: _Study, metric: str, cov: str, threshold: float | None) -> tuple[np.ndarray, np.ndarray]:
    """FOMs and their covariance matrix computed in R (r/mrmc.R; pROC for DeLong)."""
    from .. import r_bridge

    if cov == "delong":
        r_bridge.require("pROC")
    I, J, K = study.ratings.shape
    long = pd.DataFrame({
        "v1": np.repeat(np.arange(1, I + 1), J * K).astype(np.int32),
        "v2": np.tile(np.repeat(np.arange(1, J + 1), K), I).astype(np.int32),
        "v3": np.tile(np.arange(1, K + 1), I * J).astype(np.int32),
        "v4": np.tile(study.truth.astype(np.int32), I * J),
        "v5": study.ratings.ravel(),
    })
    long = long[~np.isnan(long["v5"].to_numpy())].reset_index(drop=True)
    out = r_bridge.call("h2s_mrmc_fom_cov", long, metric=metric, cov=cov,
                        threshold=float(threshold) if threshold is not None else None,
                        split_plot=study.design == "split-plot")
    theta = np.asarray(out["fom"], dtype=float).reshape(I, J)
    S = np.asarray(out["cov"], dtype=float).reshape(I * J, I * J)
    return theta, S


def mrmc(df: pd.DataFrame, reader: str = "reader", treatment: str = "treatment", case: str = "case",
         truth: str = "truth", rating: str = "rating", method: str = "OR", cov: str = "jackknife",
         fixed: str | None = None, metric: str = "auc", threshold: float | None = None, level: float = 0.95,
         treatments: Sequence[Any] | None = None, n_boot: int = 2000, seed: Any = 0,
         engine: str | None = None, event: Any = None) -> MRMCResult:
    """Multi-reader multi-case comparison of treatments (Obuchowski-Rockette / DBM, Hillis ddf).

    Parameters
    ----------
    df : long data frame, one row per reading (reader, treatment, case, truth, rating).
    reader, treatment, case, truth, rating : column names. ``truth`` is 0/1 (or bool, or a
        two-category Categorical whose second category is positive) and must be the same for
        every reading of a case; higher ``rating`` = more suspicion of the positive class.
    method : ``"OR"`` (Obuchowski-Rockette) or ``"DBM"`` (jackknife pseudovalues).
    cov : covariance estimator of the FOMs: ``"jackknife"``, ``"delong"`` (AUC),
        ``"unbiased"`` (AUC; Gallas 2006), ``"bootstrap"`` (cases resampled within truth,
        ``n_boot`` replicates, ``seed``).
    fixed : None (random readers and cases), ``"readers"`` or ``"cases"``.
    metric : ``"auc"`` (empirical, trapezoidal = Mann-Whitney), ``"binormal_auc"`` (Dorfman-Alf
        maximum likelihood, ordinal ratings), ``"sensitivity"`` / ``"specificity"`` at
        ``threshold`` (a reading is positive when ``rating >= threshold``).
    level : confidence level of the intervals.
    treatments : order of the treatments (``diff`` = first minus second); default: the
        Categorical order, else sorted.
    engine : ``"python"`` or ``"r"`` (FOMs and covariances computed in R: jackknife and
        unbiased in base R, DeLong with pROC; the ANOVA is shared).

    Designs: fully crossed, and split-plot with cases nested within readers (each case read by one
    reader, under every treatment; Cov2 = Cov3 = 0 by design). Anything else is refused.

    Returns
    -------
    MRMCResult

    Examples
    --------
    Van Dyke et al. (1993), published OR results (Hillis 2007; MRMCaov; RJafroc ``dataset02``)::

        >>> vd = pd.read_csv("data/vandyke/VanDyke.csv")
        >>> r = mrmc(vd)                 # jackknife, random readers and cases
        >>> round(r.statistic, 3), round(r.df2, 2), round(r.p_value, 4)
        (4.456, 15.26, 0.0517)
    """
    _check_common(metric, cov, fixed, method, level, threshold)
    if method == "DBM" and cov != "jackknife":
        raise InputError(f"method='DBM' analyses jackknife pseudovalues; cov must be 'jackknife', got {cov!r}")
    if cov == "bootstrap":
        check_n_boot(n_boot, minimum=10, why="cov='bootstrap'")
    eng = resolve_engine(engine)
    study = _prepare(df, reader, treatment, case, truth, rating, treatments, event=event)
    if method == "DBM" and study.design != "factorial":
        raise InputError("method='DBM' needs a fully crossed design (every reader reads every case); "
                         "use method='OR' for split-plot data")
    if cov == "delong" and study.design != "factorial" and eng == "r":
        raise InputError("cov='delong' with engine='r' needs a fully crossed design; use cov='jackknife'")
    I, J, K = study.ratings.shape
    theta, S, cells = _study_fom_cov(study, metric, cov, threshold, n_boot, seed, eng)
    if method == "OR":
        out = _or_analysis(theta, S, fixed, level, K)
    else:
        L = np.array([[c.loo for c in row] for row in cells])      # (I, J, K) in (pos, neg) order
        out = _dbm_analysis(theta, L, fixed, level)
        out["per_rdr"] = _or_analysis(theta, S, fixed, level, K)["per_rdr"]
    trts, rdrs = study.treatments, study.readers
    comparisons = pd.DataFrame(
        [(f"{trts[a]} - {trts[b]}", est, se, dfv, lo, hi, st, p) for a, b, est, se, dfv, lo, hi, st, p in out["comps"]],
        columns=["comparison", "estimate", "se", "df", "ci_low", "ci_high", "statistic", "p_value"])
    treatment_ci = pd.DataFrame(
        [(trts[i], est, se, dfv, lo, hi) for i, est, se, dfv, lo, hi, *_ in out["per_trt"]],
        columns=["treatment", "estimate", "se", "df", "ci_low", "ci_high"])
    sd = np.sqrt(np.maximum(np.diag(S), 0.0)).reshape(I, J)
    q = z_value(level)
    reader_fom = pd.DataFrame([
        (trts[i], rdrs[j], theta[i, j], sd[i, j], theta[i, j] - q * sd[i, j], theta[i, j] + q * sd[i, j])
        for i in range(I) for j in range(J)], columns=["treatment", "reader", "estimate", "se", "ci_low", "ci_high"])
    reader_diff = pd.DataFrame(
        [(rdrs[j], f"{trts[0]} - {trts[1]}", est, se, lo, hi, st, p) for j, est, se, lo, hi, st, p in out["per_rdr"]],
        columns=["reader", "comparison", "estimate", "se", "ci_low", "ci_high", "statistic", "p_value"])
    vc = pd.DataFrame({"estimate": pd.Series(out["vc"])})
    if method == "OR":
        var = out["vc"]["Error"]
        vc["correlation"] = [np.nan, np.nan, np.nan] + [out["vc"][c] / var if var > 0 else np.nan
                                                         for c in ("Cov1", "Cov2", "Cov3")]
    dfs = {"MS(T)": I - 1, "MS(R)": J - 1, "MS(C)": K - 1, "MS(TR)": (I - 1) * (J - 1), "MS(TC)": (I - 1) * (K - 1),
           "MS(RC)": (J - 1) * (K - 1), "MS(TRC)": (I - 1) * (J - 1) * (K - 1)}
    anova = pd.DataFrame([(k, dfs[k], v) for k, v in out["ms"].items()], columns=["term", "df", "mean_square"])
    first = out["comps"][0]
    return MRMCResult(
        statistic=float(out["stat"]), df1=float(out["df1"]), df2=float(out["df2"]), p_value=float(out["p"]),
        diff=float(first[2]), ci_low=float(first[5]), ci_high=float(first[6]), se=float(first[3]),
        treatment_auc={trts[i]: float(theta[i].mean()) for i in range(I)},
        treatments=tuple(trts), readers=tuple(rdrs), method=method, cov=cov, fixed=fixed, metric=metric,
        level=float(level), design=study.design, n_cases=K, n_pos=int(study.truth.sum()),
        n_neg=int(K - study.truth.sum()),
        fom=pd.DataFrame(theta, index=pd.Index(trts, name="treatment"), columns=pd.Index(rdrs, name="reader")),
        comparisons=comparisons, treatment_ci=treatment_ci, reader_fom=reader_fom, reader_diff=reader_diff,
        var_components=vc, anova=anova, covariance=S, engine=eng, threshold=threshold, _curves=study)


# =========================================================================== standalone model
@dataclass(frozen=True, repr=False)
class StandaloneResult(Result):
    """Model vs the average reader: ``diff`` = model FOM - mean reader FOM, with CI and a one-sided
    non-inferiority p-value (H0: ``diff <= -margin``)."""

    diff: float
    se: float
    df: float
    ci_low: float
    ci_high: float
    statistic: float
    p_value: float
    margin: float
    noninferior: bool
    model_fom: float
    reader_mean: float
    reader_fom: pd.DataFrame = field(compare=False)
    cov: str
    fixed: str | None
    metric: str
    level: float
    n_cases: int
    engine: str = "python"
    method: str = "OR single-treatment analysis of model-minus-reader differences (Hillis)"

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{"model": self.model_fom, "reader_mean": self.reader_mean, "diff": self.diff,
                              "se": self.se, "df": self.df, "ci_low": self.ci_low, "ci_high": self.ci_high,
                              "margin": self.margin, "statistic": self.statistic, "p_value": self.p_value,
                              "noninferior": self.noninferior}])


def mrmc_standalone(df: pd.DataFrame, model: str, reader: str = "reader", case: str = "case",
                    truth: str = "truth", rating: str = "rating", margin: float = 0.0, cov: str = "jackknife",
                    fixed: str | None = None, metric: str = "auc", threshold: float | None = None,
                    level: float = 0.95, n_boot: int = 2000, seed: Any = 0,
                    engine: str | None = None, event: Any = None) -> StandaloneResult:
    """Is a standalone model non-inferior to the average reader? (fully crossed single-modality study)

    ``model`` names the column holding the model's score of each case (the same on every reader's
    row of a case). With ``d_j = theta_model - theta_j``, the analysis is the OR single-treatment
    analysis of the ``d_j``: ``SE^2 = [MS_R(d) + J max(Cov2_d, 0)] / J`` on Hillis'
    ``df = [MS_R(d) + J max(Cov2_d, 0)]^2 / [MS_R(d)^2 / (J-1)]`` (random readers and cases);
    ``[Var_d + (J-1) max(Cov2_d, 0)] / J`` with a normal reference (fixed readers);
    ``MS_R(d) / J`` on ``J - 1`` df (fixed cases). Covariances of the model and reader FOMs come
    from ``cov`` over the common cases. ``p_value`` is one-sided for H0: ``diff <= -margin``;
    ``noninferior`` is ``ci_low > -margin`` at ``level``.
    """
    _check_common(metric, cov, fixed, "OR", level, threshold)
    if not isinstance(margin, (int, float)) or margin < 0 or not np.isfinite(margin):
        raise InputError(f"margin must be a non-negative number (the non-inferiority margin), got {margin!r}")
    if not isinstance(df, pd.DataFrame) or model not in df.columns:
        raise InputError(f"model column {model!r} not found in the data")
    if df[model].isna().any():
        raise InputError(f"model column {model!r} has {int(df[model].isna().sum())} missing value(s)")
    per_case = df.groupby(case, sort=False)[model].nunique()
    if (per_case > 1).any():
        raise InputError(f"model column {model!r} differs between readers for case(s) {list(per_case[per_case > 1].index[:5])}; "
                         "the model gives one score per case")
    eng = resolve_engine(engine)
    # model as an extra "reader" of a two-treatment layout is not what we need; build a one-treatment
    # study with the model appended as reader "__model__"
    study = _prepare(df, reader, None, case, truth, rating, None, min_treatments=1, event=event)
    if study.design != "factorial":
        raise InputError("mrmc_standalone needs a fully crossed study (every reader reads every case)")
    mscore = df.drop_duplicates(case).set_index(case)[model]
    try:
        mvals = pd.to_numeric(mscore.reindex(study.cases), errors="raise").to_numpy(dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"model column {model!r} must be numeric") from None
    ratings = np.concatenate([study.ratings, mvals[None, None, :]], axis=1)          # (1, J+1, K)
    aug = _Study(ratings, study.truth, np.ones((len(study.readers) + 1, len(study.cases)), dtype=bool),
                 study.treatments, [*study.readers, "__model__"], study.cases, "factorial")
    theta, S, _ = _study_fom_cov(aug, metric, cov, threshold, n_boot, seed, eng)
    J = len(study.readers)
    th = theta[0]
    d = th[J] - th[:J]
    # Cov(d_j, d_j') = Var_M - Cov(M, j) - Cov(M, j') + Cov(j, j')
    Sd = S[J, J] - S[J, :J][None, :] - S[:J, J][:, None] + S[:J, :J]
    dbar = float(d.mean())
    ms_r = float(((d - dbar) ** 2).sum() / (J - 1))
    var_d = float(np.diag(Sd).mean())
    cov2_d = float(Sd[~np.eye(J, dtype=bool)].mean())
    if fixed is None:
        den = ms_r + J * max(cov2_d, 0.0)
        se, dfv = math.sqrt(den / J), (den ** 2 / (ms_r ** 2 / (J - 1)) if ms_r > 0 else math.inf)
    elif fixed == "readers":
        se, dfv = math.sqrt((var_d + (J - 1) * max(cov2_d, 0.0)) / J), math.inf
    else:
        se, dfv = math.sqrt(ms_r / J), J - 1
    _, _, lo, hi = _t_or_z(dbar, se, dfv, level)
    stat = (dbar + margin) / se
    p = float(stats.norm.sf(stat) if math.isinf(dfv) else stats.t.sf(stat, dfv))
    sd = np.sqrt(np.maximum(np.diag(S), 0))
    rf = pd.DataFrame({"reader": [*study.readers, "model"], "estimate": th, "se": sd})
    return StandaloneResult(diff=dbar, se=se, df=float(dfv), ci_low=float(lo), ci_high=float(hi), statistic=float(stat),
                            p_value=p, margin=float(margin), noninferior=bool(lo > -margin), model_fom=float(th[J]),
                            reader_mean=float(th[:J].mean()), reader_fom=rf, cov=cov, fixed=fixed, metric=metric,
                            level=float(level), n_cases=len(study.cases), engine=eng)


# =========================================================================== sample size
@dataclass(frozen=True, repr=False)
class MRMCSampleSizeResult(Result):
    """Power of a future MRMC study (Hillis, Obuchowski & Berbaum 2011), or the cases it needs."""

    power: float
    n_readers: int
    n_cases: int
    effect: float
    ncp: float
    df2: float
    alpha: float
    fixed: str | None
    var_tr: float
    var_error: float
    cov1: float
    cov2: float
    cov3: float
    pilot_cases: int
    method: str = "Hillis, Obuchowski & Berbaum (2011), OR model, two treatments"

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{"n_readers": self.n_readers, "n_cases": self.n_cases, "effect": self.effect,
                              "power": self.power, "ncp": self.ncp, "df2": self.df2, "alpha": self.alpha}])


def _power(J: int, K: float, d: float, vc: dict[str, float], Kp: int, fixed: str | None, alpha: float
           ) -> tuple[float, float, float]:
    s = Kp / K
    var_tr = max(vc["var_tr"], 0.0)
    c23 = max(vc["cov2"] - vc["cov3"], 0.0)
    e = vc["var"] - vc["cov1"]
    if fixed is None:
        den = var_tr + s * (e + (J - 1) * c23)
        ddf = den ** 2 / ((var_tr + s * (e - c23)) ** 2 / (J - 1))
    elif fixed == "readers":
        den, ddf = s * (e + (J - 1) * c23), math.inf
    else:
        den, ddf = var_tr + s * (e - c23), J - 1
    ncp = J * d * d / (2 * den)
    if math.isinf(ddf):
        crit = stats.chi2.ppf(1 - alpha, 1)
        return float(stats.ncx2.sf(crit, 1, ncp)), ncp, ddf
    crit = stats.f.ppf(1 - alpha, 1, ddf)
    return float(stats.ncf.sf(crit, 1, ddf, ncp)), ncp, ddf


def mrmc_sample_size(pilot: MRMCResult | dict, n_readers: int, effect: float, n_cases: int | None = None,
                     power: float = 0.8, alpha: float = 0.05, fixed: str | None = None,
                     pilot_cases: int | None = None) -> MRMCSampleSizeResult:
    """Power of a two-treatment MRMC study, or the number of cases giving ``power``.

    Variance components come from a pilot OR analysis (``pilot``: an :class:`MRMCResult` with
    ``method="OR"``, or a dict with ``var_tr``, ``var`` (error variance), ``cov1``, ``cov2``,
    ``cov3`` and ``pilot_cases``); covariances scale as ``K_pilot / K``. Following Hillis,
    Obuchowski & Berbaum (2011), with ``s = K_pilot / K``, ``E = Var - Cov1`` and
    ``C = max(Cov2 - Cov3, 0)`` (and a negative ``sigma^2_TR`` set to 0):

    * random readers and cases: ``lambda = J d^2 / {2 [sigma^2_TR + s (E + (J-1) C)]}``,
      ``ddf = [sigma^2_TR + s (E + (J-1) C)]^2 / {[sigma^2_TR + s (E - C)]^2 / (J-1)}``;
    * fixed readers: chi-square with ``lambda = J d^2 / [2 s (E + (J-1) C)]``;
    * fixed cases: ``lambda = J d^2 / {2 [sigma^2_TR + s (E - C)]}`` on ``J - 1`` df.

    Power = P(noncentral F(1, ddf, lambda) > F_{1-alpha}(1, ddf)). ``effect`` (the AUC difference
    to detect) is required: the pilot's observed difference is a poor planning value.
    """
    if fixed not in _FIXED:
        raise InputError(f"fixed must be None, 'readers' or 'cases', got {fixed!r}")
    if isinstance(pilot, MRMCResult):
        if pilot.method != "OR":
            raise InputError("mrmc_sample_size needs OR variance components: run the pilot with method='OR'")
        v = pilot.var_components["estimate"]
        vc = {"var_tr": float(v["treatment:reader"]), "var": float(v["Error"]), "cov1": float(v["Cov1"]),
              "cov2": float(v["Cov2"]), "cov3": float(v["Cov3"])}
        Kp = pilot.n_cases if pilot_cases is None else int(pilot_cases)
    elif isinstance(pilot, dict):
        need = ("var_tr", "var", "cov1", "cov2", "cov3")
        miss = [k for k in need if k not in pilot]
        if miss:
            raise InputError(f"pilot variance components lack {miss}; give {need} and pilot_cases")
        vc = {k: float(pilot[k]) for k in need}
        Kp = pilot_cases if pilot_cases is not None else pilot.get("pilot_cases")
        if Kp is None:
            raise InputError("pilot_cases (number of cases in the pilot study) is required with a dict of components")
        Kp = int(Kp)
    else:
        raise InputError(f"pilot must be an MRMCResult (method='OR') or a dict of variance components, got {type(pilot).__name__}")
    if not isinstance(n_readers, (int, np.integer)) or n_readers < 2:
        raise InputError(f"n_readers must be an integer >= 2, got {n_readers!r}")
    if not isinstance(effect, (int, float)) or effect == 0 or not np.isfinite(effect):
        raise InputError(f"effect (the FOM difference to detect) must be a non-zero number, got {effect!r}")
    if not (0 < alpha < 1):
        raise InputError(f"alpha must be in (0, 1), got {alpha!r}")
    J = int(n_readers)
    if n_cases is not None:
        if not isinstance(n_cases, (int, np.integer)) or n_cases < 2:
            raise InputError(f"n_cases must be an integer >= 2, got {n_cases!r}")
        pw, ncp, ddf = _power(J, n_cases, effect, vc, Kp, fixed, alpha)
        K = int(n_cases)
    else:
        if not (0 < power < 1):
            raise InputError(f"power must be in (0, 1), got {power!r}")
        limit, _, _ = _power(J, 1e9, effect, vc, Kp, fixed, alpha)
        if limit < power:
            raise InputError(
                f"with {J} readers no number of cases reaches power {power} (at most {limit:.3f}: reader variability "
                "sigma^2_TR dominates); add readers")
        lo, hi = 2, 2
        while _power(J, hi, effect, vc, Kp, fixed, alpha)[0] < power:
            lo, hi = hi, hi * 2
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if _power(J, mid, effect, vc, Kp, fixed, alpha)[0] >= power:
                hi = mid
            else:
                lo = mid
        K = hi
        pw, ncp, ddf = _power(J, K, effect, vc, Kp, fixed, alpha)
    return MRMCSampleSizeResult(power=pw, n_readers=J, n_cases=K, effect=float(effect), ncp=float(ncp),
                                df2=float(ddf), alpha=float(alpha), fixed=fixed, var_tr=vc["var_tr"],
                                var_error=vc["var"], cov1=vc["cov1"], cov2=vc["cov2"], cov3=vc["cov3"],
                                pilot_cases=Kp)


# =========================================================================== simulation
def simulate_roe_metz(n_readers: int = 5, n_pos: int = 50, n_neg: int = 50, delta: Sequence[float] = (1.5, 1.5),
                      var_r: float = 0.011, var_c: float = 0.3, var_rc: float = 0.2, var_tr: float = 0.011,
                      var_tc: float = 0.3, var_trc: float = 0.2, seed: Any = 0) -> pd.DataFrame:
    """Simulate a fully crossed reader study from the Roe & Metz (1997) model.

    Rating of case k (truth t) by reader j under treatment i:
    ``X = t * delta_i + R_j + C_k + RC_jk + TR_ij + TC_ik + TRC_ijk``, every random term normal with
    mean 0 and the given variance, drawn separately for positive and negative cases (Roe & Metz's
    convention). Equal ``delta`` values give the null hypothesis of equal AUCs. The defaults are
    Roe & Metz's (1997) "HH" case structure (sigma^2_C = sigma^2_TC = 0.3, sigma^2_RC =
    sigma^2_TRC = 0.2) with low reader variability (sigma^2_R = sigma^2_TR = 0.011) and
    ``delta = 1.5`` (AUC about 0.86).
    Returns a long frame (reader, treatment, case, truth, rating).
    """
    rng = np.random.default_rng(seed)
    I, J, K = len(delta), int(n_readers), int(n_pos + n_neg)
    t = np.r_[np.ones(n_pos), np.zeros(n_neg)]
    sd = {k: math.sqrt(v) for k, v in dict(r=var_r, c=var_c, rc=var_rc, tr=var_tr, tc=var_tc, trc=var_trc).items()}
    X = np.zeros((I, J, K))
    for cls in (0, 1):
        m = t == cls
        k = int(m.sum())
        R = rng.normal(0, sd["r"], J)
        C = rng.normal(0, sd["c"], k)
        RC = rng.normal(0, sd["rc"], (J, k))
        TR = rng.normal(0, sd["tr"], (I, J))
        TC = rng.normal(0, sd["tc"], (I, k))
        TRC = rng.normal(0, sd["trc"], (I, J, k))
        X[:, :, m] = (R[None, :, None] + C[None, None, :] + RC[None] + TR[:, :, None] + TC[:, None, :] + TRC
                      + cls * np.asarray(delta, float)[:, None, None])
    ii, jj, kk = np.meshgrid(np.arange(I), np.arange(J), np.arange(K), indexing="ij")
    return pd.DataFrame({"reader": jj.ravel() + 1, "treatment": ii.ravel() + 1, "case": kk.ravel() + 1,
                         "truth": t[kk.ravel()].astype(int), "rating": X.ravel()})
