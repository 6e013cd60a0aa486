"""Multi-scanner harmonisation: ComBat fitted on training data and applied to new data.

ComBat (Johnson, Li & Rabinovic 2007) removes additive and multiplicative batch (scanner,
manufacturer, centre) effects from each feature while keeping covariate effects. For feature
``g``, sample ``s`` in batch ``b`` with covariates ``x_s``:

.. math:: y_{gs} = \\alpha_g + x_s^\\top\\beta_g + \\gamma_{gb} + \\delta_{gb}\\,\\epsilon_{gs}.

``fit`` (training rows only) estimates ``alpha_g``, ``beta_g`` by least squares on the
batch + covariate design, the pooled variance ``sigma_g^2`` (mean squared residual; over the
reference batch when there is one), standardises ``z = (y - alpha - x'beta) / sigma``, and shrinks
the per-batch location ``gamma_hat`` and scale ``delta_hat`` with empirical Bayes: normal prior on
gamma and inverse-gamma prior on delta (parametric, iterated until the relative change is below
``tol`` = 1e-4, sva's rule), or the non-parametric posterior means over the other features'
estimates. ``transform`` applies the learnt parameters without refitting, each sample with its
own covariate values (Johnson et al. 2007; neuroHarmonize, Pomponio et al. 2020):

.. math:: y^*_{gs} = \\frac{z_{gs} - \\gamma^*_{gb}}{\\sqrt{\\delta^*_{gb}}}\\,\\sigma_g + \\alpha_g + x_s^\\top\\beta_g.

On the training rows this is exactly what R ``sva::ComBat`` returns (tested to 1e-6 with the same
stopping rule, parametric and non-parametric, ``mean.only``, ``ref.batch``).

Leakage: a covariate enters every transformed sample's features, so it must be known at
prediction time. **Never use the outcome (HER2 status) as a covariate in a prediction pipeline**:
the test features would then depend on the test labels. Protect biological covariates known
beforehand (age, field strength, menopausal status) instead.

References
----------
Johnson WE, Li C, Rabinovic A (2007). Adjusting batch effects in microarray expression data using
empirical Bayes methods. Biostatistics 8:118-127. Fortin J-P et al. (2018). Harmonization of
cortical thickness measurements across scanners and sites. NeuroImage 167:104-120. Pomponio R et
al. (2020). Harmonization of large MRI datasets for the analysis of brain imaging patterns
throughout the lifespan. NeuroImage 208:116450. Leek JT et al. sva: Surrogate Variable Analysis
(Bioconductor).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .engine import resolve_engine
from .errors import InputError, find_stack_level
from .results import Result

__all__ = ["ComBat", "HarmonizationDiagnostics", "harmonization_diagnostics", "batch_icc", "study_step"]


# =========================================================================== helpers
def _levels(s: pd.Series) -> list[Any]:
    if isinstance(s.dtype, pd.CategoricalDtype):
        present = set(s.dropna().unique())
        return [c for c in s.cat.categories if c in present]
    vals = [v.item() if isinstance(v, np.generic) else v for v in pd.unique(s.dropna())]
    try:
        return sorted(vals)
    except TypeError:
        return sorted(vals, key=str)


def _is_categorical(s: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype)


def _rowvar(x: np.ndarray) -> np.ndarray:
    """Variance of each column with n - 1 (genefilter::rowVars on samples)."""
    return x.var(axis=0, ddof=1)


def _aprior(d: np.ndarray) -> float:
    m, s2 = d.mean(), d.var(ddof=1)
    return (2 * s2 + m * m) / s2


def _bprior(d: np.ndarray) -> float:
    m, s2 = d.mean(), d.var(ddof=1)
    return (m * s2 + m ** 3) / s2


def _postmean(g_hat, g_bar, n, d_star, t2):
    return (t2 * n * g_hat + d_star * g_bar) / (t2 * n + d_star)


def _postvar(sum2, n, a, b):
    return (0.5 * sum2 + b) / (n / 2 + a - 1)


def _it_sol(sdat: np.ndarray, g_hat: np.ndarray, d_hat: np.ndarray, g_bar: float, t2: float, a: float, b: float,
            tol: float, max_iter: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Parametric EB iteration of sva's ``it.sol`` (stops when the largest relative change < tol)."""
    n = sdat.shape[0]
    g_old, d_old = g_hat.copy(), d_hat.copy()
    for it in range(1, max_iter + 1):
        g_new = _postmean(g_hat, g_bar, n, d_old, t2)
        sum2 = ((sdat - g_new[None, :]) ** 2).sum(axis=0)
        d_new = _postvar(sum2, n, a, b)
        with np.errstate(divide="ignore", invalid="ignore"):   # sva divides by gamma too (a zero gives Inf)
            change = max(np.max(np.abs(g_new - g_old) / g_old), np.max(np.abs(d_new - d_old) / d_old))
        g_old, d_old = g_new, d_new
        if change <= tol:
            return g_new, d_new, it
    from .errors import ConvergenceError

    raise ConvergenceError(f"ComBat's empirical-Bayes iteration did not converge in {max_iter} iterations "
                           f"(relative change {change:.2e} > tol={tol})")


def _int_eprior(sdat: np.ndarray, g_hat: np.ndarray, d_hat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Non-parametric EB (sva ``int.eprior``): posterior means over the other features' estimates,
    weighted by the likelihood of this feature's standardised data (computed in log space)."""
    n, p = sdat.shape
    # sum over samples of (x_s - g_j)^2 for every pair (feature i data, feature j estimates)
    sq = (sdat ** 2).sum(axis=0)                       # (p,)
    sm = sdat.sum(axis=0)                              # (p,)
    sum2 = sq[:, None] - 2 * sm[:, None] * g_hat[None, :] + n * g_hat[None, :] ** 2   # (i, j)
    logLH = -0.5 * n * np.log(2 * np.pi * d_hat)[None, :] - sum2 / (2 * d_hat[None, :])
    np.fill_diagonal(logLH, -np.inf)
    logLH -= logLH.max(axis=1, keepdims=True)
    w = np.exp(logLH)
    w /= w.sum(axis=1, keepdims=True)
    return w @ g_hat, w @ d_hat


# =========================================================================== transformer
class ComBat(TransformerMixin, BaseEstimator):
    """ComBat harmonisation as an sklearn transformer (fit on training rows, apply to any rows).

    Parameters
    ----------
    batch_col : column holding the batch (scanner, manufacturer, centre).
    covariates : columns whose effects are preserved (numeric columns enter linearly;
        categorical ones with treatment coding, first level as reference). Must be known at
        prediction time: never the outcome (see the module notes on leakage).
    features : feature columns to harmonise; default every numeric column other than
        ``batch_col`` and ``covariates``.
    parametric : parametric (True) or non-parametric (False) empirical-Bayes priors.
    eb : empirical-Bayes shrinkage (True) or the plain per-batch estimates (False).
    mean_only : adjust the location only (``delta = 1``), sva's ``mean.only``.
    reference_batch : batch left unchanged; the others are mapped onto it (sva's ``ref.batch``).
    unseen_batch : what ``transform`` does with a batch absent at fit time: ``"error"``
        (default) or ``"reference"`` (adjust it as the reference batch, i.e. leave it unchanged;
        needs ``reference_batch``). Either way the count is announced.
    tol, max_iter : stopping rule of the parametric iteration (sva: relative change < 1e-4).
    engine : ``"python"`` or ``"r"`` (the training data go through ``sva::ComBat``; the learnt
        location/scale parameters are read back from its output so ``transform`` can apply them).

    Attributes (after fit)
    ----------------------
    batches_ : batch levels seen in fit; ``gamma_star_``, ``delta_star_`` : (batches x features)
    adjustments; ``grand_mean_``, ``var_pooled_`` : per feature; ``beta_`` : covariate coefficients
    (design columns x features); ``design_columns_``; ``unadjusted_`` : features constant within a
    batch (left unchanged, as sva does, with a warning); ``n_iter_`` : EB iterations per batch.
    """

    def __init__(self, batch_col: str = "batch", covariates: Sequence[str] | None = None,
                 features: Sequence[str] | None = None, parametric: bool = True, eb: bool = True,
                 mean_only: bool = False, reference_batch: Any = None, unseen_batch: str = "error",
                 tol: float = 1e-4, max_iter: int = 10000, engine: str | None = None):
        self.batch_col = batch_col
        self.covariates = covariates
        self.features = features
        self.parametric = parametric
        self.eb = eb
        self.mean_only = mean_only
        self.reference_batch = reference_batch
        self.unseen_batch = unseen_batch
        self.tol = tol
        self.max_iter = max_iter
        self.engine = engine

    # ------------------------------------------------------------------ input handling
    def _check_frame(self, X: Any, where: str) -> pd.DataFrame:
        if not isinstance(X, pd.DataFrame):
            raise InputError(f"ComBat.{where} needs a DataFrame holding the features plus the batch column "
                             f"{self.batch_col!r} and covariates {list(self.covariates or [])}; got {type(X).__name__}")
        need = [self.batch_col, *(self.covariates or [])]
        missing = [c for c in need if c not in X.columns]
        if missing:
            raise InputError(f"ComBat.{where}: column(s) {missing} not found; columns are {list(X.columns)[:20]}")
        for c in need:
            if X[c].isna().any():
                raise InputError(f"ComBat.{where}: column {c!r} has {int(X[c].isna().sum())} missing value(s); "
                                 "batch and covariates must be complete")
        return X

    def _covariate_design(self, X: pd.DataFrame, fit: bool) -> np.ndarray:
        covs = list(self.covariates or [])
        if fit:
            self.covariate_levels_ = {}
            for c in covs:
                if _is_categorical(X[c]):
                    self.covariate_levels_[c] = _levels(X[c])
                    if len(self.covariate_levels_[c]) < 2:
                        raise InputError(f"covariate {c!r} has one level {self.covariate_levels_[c]} in the training "
                                         "data; drop it")
        cols, names = [], []
        for c in covs:
            if c in self.covariate_levels_:
                levels = self.covariate_levels_[c]
                vals = X[c]
                unseen = sorted({str(v) for v in vals.unique() if v not in levels})
                if unseen:
                    raise InputError(f"covariate {c!r} has level(s) {unseen} unseen at fit time (levels: {levels}); "
                                     "ComBat cannot adjust a sample for a covariate effect it never estimated")
                for lev in levels[1:]:
                    cols.append((vals == lev).to_numpy(dtype=float))
                    names.append(f"{c}[{lev}]")
            else:
                try:
                    v = pd.to_numeric(X[c], errors="raise").to_numpy(dtype=float)
                except (TypeError, ValueError):
                    raise InputError(f"covariate {c!r} is neither numeric nor categorical") from None
                if not np.isfinite(v).all():
                    raise InputError(f"covariate {c!r} has non-finite values")
                cols.append(v)
                names.append(c)
        if fit:
            self.design_columns_ = names
        return np.column_stack(cols) if cols else np.empty((len(X), 0))

    def _feature_matrix(self, X: pd.DataFrame, fit: bool) -> np.ndarray:
        if fit:
            if self.features is not None:
                feats = list(self.features)
                missing = [f for f in feats if f not in X.columns]
                if missing:
                    raise InputError(f"feature column(s) {missing[:5]} not found")
            else:
                skip = {self.batch_col, *(self.covariates or [])}
                feats = [c for c in X.columns if c not in skip and pd.api.types.is_numeric_dtype(X[c].dtype)
                         and not pd.api.types.is_bool_dtype(X[c].dtype)]
            if len(feats) < 2:
                raise InputError(f"ComBat needs at least 2 feature columns to estimate its priors; found {feats}")
            self.feature_names_in_ = np.asarray(feats, dtype=object)
            self.n_features_in_ = len(feats)
        feats = list(self.feature_names_in_)
        missing = [f for f in feats if f not in X.columns]
        if missing:
            raise InputError(f"ComBat.transform: X lacks feature column(s) {missing[:5]} seen in fit")
        try:
            Y = X[feats].to_numpy(dtype=float)
        except (TypeError, ValueError):
            raise InputError("ComBat: feature columns must be numeric") from None
        bad = ~np.isfinite(Y)
        if bad.any():
            cols = [feats[j] for j in np.flatnonzero(bad.any(axis=0))[:5]]
            raise InputError(f"ComBat: {int(bad.sum())} missing or infinite feature value(s) in column(s) {cols}; "
                             "impute them (inside the fold) before harmonising")
        return Y

    # ------------------------------------------------------------------ fit
    def fit(self, X: pd.DataFrame, y: Any = None) -> "ComBat":
        """Learn batch location/scale effects and their EB shrinkage from the training rows."""
        if self.unseen_batch not in ("error", "reference"):
            raise InputError(f"unseen_batch must be 'error' or 'reference', got {self.unseen_batch!r}")
        if self.unseen_batch == "reference" and self.reference_batch is None:
            raise InputError("unseen_batch='reference' maps unseen batches to reference_batch; set reference_batch")
        if not (isinstance(self.tol, (int, float)) and self.tol > 0):
            raise InputError(f"tol must be a positive number, got {self.tol!r}")
        eng = resolve_engine(self.engine)
        X = self._check_frame(X, "fit")
        Y = self._feature_matrix(X, fit=True)
        mod = self._covariate_design(X, fit=True)
        batch = X[self.batch_col]
        self.batches_ = _levels(batch)
        if len(self.batches_) < 2:
            raise InputError(f"batch column {self.batch_col!r} has one batch {self.batches_} in the training data; "
                             "there is nothing to harmonise")
        codes = pd.Index(self.batches_).get_indexer(batch)
        counts = np.bincount(codes, minlength=len(self.batches_))
        if (counts < 2).any():
            small = [self.batches_[i] for i in np.flatnonzero(counts < 2)]
            raise InputError(f"batch(es) {small} of column {self.batch_col!r} have a single training sample; ComBat "
                             "needs at least 2 per batch (merge the batch, or drop it and say so in the report)")
        if self.reference_batch is not None and self.reference_batch not in self.batches_:
            raise InputError(f"reference_batch {self.reference_batch!r} is not a batch of column {self.batch_col!r} "
                             f"(batches: {self.batches_})")
        if not self.eb and eng == "r":
            raise InputError("eb=False (no empirical-Bayes shrinkage) is not an option of sva::ComBat; use engine='python'")
        ref = None if self.reference_batch is None else self.batches_.index(self.reference_batch)
        # features constant within a batch are left unadjusted (sva does the same)
        const = np.zeros(Y.shape[1], dtype=bool)
        for b in range(len(self.batches_)):
            yb = Y[codes == b]
            const |= np.all(yb == yb[0], axis=0)
        self.unadjusted_ = np.asarray(self.feature_names_in_)[const]
        if const.any():
            warnings.warn(f"ComBat: {int(const.sum())} feature(s) are constant within a batch and are left "
                          f"unadjusted (as sva::ComBat does): {list(self.unadjusted_[:10])}", UserWarning, stacklevel=find_stack_level())
        keep = ~const
        if keep.sum() < 2:
            raise InputError("ComBat: fewer than 2 features vary within every batch; nothing can be harmonised")
        B = len(self.batches_)
        batchmod = np.zeros((len(X), B))
        batchmod[np.arange(len(X)), codes] = 1.0
        if ref is not None:
            batchmod[:, ref] = 1.0
        design = np.column_stack([batchmod, mod])
        if np.linalg.matrix_rank(design) < design.shape[1]:
            raise InputError(f"the covariates {list(self.covariates or [])} are confounded with batch column "
                             f"{self.batch_col!r} (or with each other) in the training data; ComBat cannot separate "
                             "covariate effects from batch effects")
        self.engine_ = eng
        self._fit_python(Y[:, keep], codes, design, B, ref)
        if eng == "r":
            self._fit_r(Y[:, keep], codes, mod, ref)
        # expand to every feature (unadjusted ones: identity)
        p = Y.shape[1]
        for name, fill in (("gamma_star_", 0.0), ("delta_star_", 1.0)):
            full = np.full((B, p), fill)
            full[:, keep] = getattr(self, name)
            setattr(self, name, full)
        gm = Y.mean(axis=0)
        gm[keep] = self.grand_mean_
        self.grand_mean_ = gm
        vp = np.ones(p)
        vp[keep] = self.var_pooled_
        self.var_pooled_ = vp
        beta = np.zeros((mod.shape[1], p))
        beta[:, keep] = self.beta_
        self.beta_ = beta
        self._keep = keep
        return self

    def _fit_python(self, Y: np.ndarray, codes: np.ndarray, design: np.ndarray, B: int, ref: int | None) -> None:
        n = Y.shape[0]
        n_b = np.bincount(codes, minlength=B)
        B_hat = np.linalg.solve(design.T @ design, design.T @ Y)            # (B + q, p)
        grand = B_hat[ref] if ref is not None else (n_b / n) @ B_hat[:B]
        fitted = design @ B_hat
        if ref is not None:
            rows = codes == ref
            var_pooled = ((Y[rows] - fitted[rows]) ** 2).mean(axis=0)
        else:
            var_pooled = ((Y - fitted) ** 2).mean(axis=0)
        cov_part = design[:, B:] @ B_hat[B:]
        stand = grand[None, :] + cov_part
        s = (Y - stand) / np.sqrt(var_pooled)[None, :]
        bd = design[:, :B]
        gamma_hat = np.linalg.solve(bd.T @ bd, bd.T @ s)                     # (B, p)
        mean_only = bool(self.mean_only)
        delta_hat = np.ones_like(gamma_hat) if mean_only else np.array([_rowvar(s[codes == b]) for b in range(B)])
        gamma_bar = gamma_hat.mean(axis=1)
        t2 = gamma_hat.var(axis=1, ddof=1)
        g_star, d_star, n_iter = np.empty_like(gamma_hat), np.empty_like(gamma_hat), []
        for b in range(B):
            sb = s[codes == b]
            if not self.eb:
                g_star[b], d_star[b] = gamma_hat[b], delta_hat[b]
                n_iter.append(0)
            elif self.parametric:
                if mean_only:
                    g_star[b] = _postmean(gamma_hat[b], gamma_bar[b], 1, 1, t2[b])   # sva: n = 1, d = 1
                    d_star[b] = 1.0
                    n_iter.append(0)
                else:
                    a, bb = _aprior(delta_hat[b]), _bprior(delta_hat[b])
                    g, d, it = _it_sol(sb, gamma_hat[b], delta_hat[b], gamma_bar[b], t2[b], a, bb,
                                       float(self.tol), int(self.max_iter))
                    g_star[b], d_star[b] = g, d
                    n_iter.append(it)
            else:
                g, d = _int_eprior(sb, gamma_hat[b], delta_hat[b])
                g_star[b], d_star[b] = g, (1.0 if mean_only else d)
                n_iter.append(0)
        if ref is not None:
            g_star[ref], d_star[ref] = 0.0, 1.0
        self.gamma_hat_, self.delta_hat_ = gamma_hat, delta_hat
        self.gamma_star_, self.delta_star_ = g_star, d_star
        self.grand_mean_, self.var_pooled_, self.beta_ = grand, var_pooled, B_hat[B:]
        self.n_iter_ = n_iter

    def _fit_r(self, Y: np.ndarray, codes: np.ndarray, mod: np.ndarray, ref: int | None) -> None:
        """Run sva::ComBat on the training rows; read gamma*, delta* back from its output.

        Within a batch, ComBat's output is ``(y - m) / sqrt(delta*) - gamma* sigma / sqrt(delta*) + m``
        with ``m`` the standardisation mean; a least-squares line of (output - m) on (y - m) gives
        ``1 / sqrt(delta*)`` and the intercept exactly.
        """
        from . import r_bridge

        r_bridge.require("sva")
        dat = pd.DataFrame(Y.T, columns=[f"v{i + 1}" for i in range(Y.shape[0])])
        out = r_bridge.call("h2s_combat", dat, batch=(codes + 1).astype(np.int32),
                            mod=mod if mod.shape[1] else None, par_prior=bool(self.parametric),
                            mean_only=bool(self.mean_only), ref_batch=None if ref is None else int(ref + 1))
        adj = np.asarray(out, dtype=float).T                                 # (n, p)
        m_all = self.grand_mean_[None, :] + self._cov_part_train(mod)
        sd = np.sqrt(self.var_pooled_)
        g_star, d_star = np.zeros_like(self.gamma_star_), np.ones_like(self.delta_star_)
        for b in range(len(self.batches_)):
            if ref is not None and b == ref:
                continue
            rows = codes == b
            u = Y[rows] - m_all[rows]
            v = adj[rows] - m_all[rows]
            uc, vc = u - u.mean(axis=0), v - v.mean(axis=0)
            slope = (uc * vc).sum(axis=0) / (uc * uc).sum(axis=0)
            icpt = v.mean(axis=0) - slope * u.mean(axis=0)
            d = 1.0 / slope ** 2
            d_star[b] = 1.0 if self.mean_only else d
            g_star[b] = -icpt * np.sqrt(d_star[b]) / sd
        self.gamma_star_, self.delta_star_ = g_star, d_star
        self.r_output_ = adj

    def _cov_part_train(self, mod: np.ndarray) -> np.ndarray:
        return mod @ self.beta_ if mod.shape[1] else np.zeros((mod.shape[0], len(self.grand_mean_)))

    # ------------------------------------------------------------------ transform
    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Harmonise the feature columns of ``X`` with the parameters learnt in ``fit`` (no refitting)."""
        check_is_fitted(self, "gamma_star_")
        X = self._check_frame(X, "transform")
        Y = self._feature_matrix(X, fit=False)
        mod = self._covariate_design(X, fit=False)
        batch = X[self.batch_col]
        codes = pd.Index(self.batches_).get_indexer(batch)
        unseen = codes < 0
        if unseen.any():
            levels = sorted({str(v) for v in batch[unseen].unique()})
            if self.unseen_batch == "error":
                raise InputError(
                    f"ComBat.transform: batch(es) {levels} of column {self.batch_col!r} were not seen at fit time "
                    f"(fitted batches: {self.batches_}); refit with them in the training data, or set "
                    "reference_batch and unseen_batch='reference' to leave them on the reference scale")
            warnings.warn(f"ComBat.transform: {int(unseen.sum())} row(s) from batch(es) {levels} unseen at fit time are "
                          f"treated as the reference batch {self.reference_batch!r} (left unchanged)",
                          UserWarning, stacklevel=find_stack_level())
            codes = np.where(unseen, self.batches_.index(self.reference_batch), codes)
        stand = self.grand_mean_[None, :] + (mod @ self.beta_ if mod.shape[1] else 0.0)
        sd = np.sqrt(self.var_pooled_)[None, :]
        z = (Y - stand) / sd
        out = (z - self.gamma_star_[codes]) / np.sqrt(self.delta_star_[codes]) * sd + stand
        out[:, ~self._keep] = Y[:, ~self._keep]
        if self.reference_batch is not None:
            ref_rows = codes == self.batches_.index(self.reference_batch)
            out[ref_rows] = Y[ref_rows]
        return pd.DataFrame(out, index=X.index, columns=list(self.feature_names_in_))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "feature_names_in_")
        return np.asarray(self.feature_names_in_, dtype=object)

    def parameters(self) -> pd.DataFrame:
        """Tidy table of the learnt batch effects: one row per (batch, feature)."""
        check_is_fitted(self, "gamma_star_")
        rows = []
        for b, lev in enumerate(self.batches_):
            for f, name in enumerate(self.feature_names_in_):
                rows.append((lev, name, self.gamma_star_[b, f], self.delta_star_[b, f]))
        return pd.DataFrame(rows, columns=["batch", "feature", "gamma_star", "delta_star"])


# =========================================================================== diagnostics
def batch_icc(X: pd.DataFrame | np.ndarray, batch: Any) -> np.ndarray:
    """Per-feature one-way ICC of batch: the share of a feature's variance lying between batches.

    ``ICC = (MSB - MSW) / (MSB + (n0 - 1) MSW)`` with ``n0 = (N - sum n_b^2 / N) / (B - 1)``
    (one-way random-effects ICC(1) for unequal group sizes; Shrout & Fleiss 1979, Donner 1986).
    Near 0 after harmonisation: the scanner no longer explains the feature.
    """
    Y = np.asarray(X, dtype=float)
    b = pd.Index(_levels(pd.Series(np.asarray(batch)))).get_indexer(np.asarray(batch))
    B = b.max() + 1
    N = len(b)
    nb = np.bincount(b, minlength=B).astype(float)
    grand = Y.mean(axis=0)
    means = np.array([Y[b == k].mean(axis=0) for k in range(B)])
    msb = (nb[:, None] * (means - grand) ** 2).sum(axis=0) / (B - 1)
    msw = sum(((Y[b == k] - means[k]) ** 2).sum(axis=0) for k in range(B)) / (N - B)
    n0 = (N - (nb ** 2).sum() / N) / (B - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (msb - msw) / (msb + (n0 - 1) * msw)


def _batch_auc(Y: np.ndarray, b: np.ndarray, seed: int, n_splits: int) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    cv = StratifiedKFold(n_splits, shuffle=True, random_state=seed)
    proba = cross_val_predict(clf, Y, b, cv=cv, method="predict_proba")
    if proba.shape[1] == 2:
        return float(roc_auc_score(b, proba[:, 1]))
    return float(roc_auc_score(b, proba, multi_class="ovr", average="macro"))


@dataclass(frozen=True, repr=False)
class HarmonizationDiagnostics(Result):
    """Can the scanner still be recognised? Batch-classifier AUC and per-feature batch ICC, before
    and after harmonisation."""

    auc_before: float
    auc_after: float
    icc: pd.DataFrame = field(compare=False)
    batch_col: str
    batches: tuple
    n: int
    n_splits: int
    method: str = "cross-validated logistic batch classifier (macro one-vs-rest AUC); one-way ICC(1) of batch"

    def to_frame(self) -> pd.DataFrame:
        return self.icc

    def summary(self) -> pd.DataFrame:
        return pd.DataFrame([
            {"stage": "before", "batch_auc": self.auc_before, "median_icc": float(self.icc["icc_before"].median())},
            {"stage": "after", "batch_auc": self.auc_after, "median_icc": float(self.icc["icc_after"].median())}])

    def plot(self, ax: Any = None) -> Any:
        """Per-feature batch ICC before vs after (sorted), with the batch-classifier AUCs in the title."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        order = np.argsort(-self.icc["icc_before"].to_numpy())
        x = np.arange(len(order))
        ax.plot(x, self.icc["icc_before"].to_numpy()[order], label="before", color="tab:red")
        ax.plot(x, self.icc["icc_after"].to_numpy()[order], label="after ComBat", color="tab:blue")
        ax.axhline(0, color="grey", linewidth=0.8, linestyle=":")
        ax.set_xlabel("feature (sorted by ICC before)")
        ax.set_ylabel(f"ICC of {self.batch_col}")
        ax.set_title(f"{self.batch_col}: classifier AUC {self.auc_before:.2f} -> {self.auc_after:.2f}")
        ax.legend()
        return ax


def harmonization_diagnostics(before: pd.DataFrame, after: pd.DataFrame, batch: Any, batch_col: str = "batch",
                              n_splits: int = 5, seed: int = 0) -> HarmonizationDiagnostics:
    """Batch-classifier AUC (stratified ``n_splits``-fold CV of a logistic regression predicting the
    batch from the features; 0.5 = scanner unrecognisable) and per-feature :func:`batch_icc`,
    before and after harmonisation. ``before`` and ``after`` hold the same feature columns and rows.

    Compute it on rows that were *not* used to fit the harmoniser (a test fold or external cohort)
    to see how it generalises; on the training rows it shows what the fit removed.
    """
    if not isinstance(before, pd.DataFrame) or not isinstance(after, pd.DataFrame):
        raise InputError("harmonization_diagnostics needs DataFrames before and after")
    if list(before.columns) != list(after.columns) or len(before) != len(after):
        raise InputError("before and after must have the same feature columns and rows")
    b = np.asarray(batch)
    if len(b) != len(before):
        raise InputError(f"batch has {len(b)} values but the features have {len(before)} rows")
    if pd.isna(pd.Series(b)).any():
        raise InputError(f"batch {batch_col!r} has missing values")
    levels = _levels(pd.Series(b))
    counts = pd.Series(b).value_counts()
    if len(levels) < 2 or counts.min() < n_splits:
        raise InputError(f"batch {batch_col!r} needs at least 2 batches with >= {n_splits} rows each for the "
                         f"{n_splits}-fold batch classifier; counts: {counts.to_dict()}")
    icc = pd.DataFrame({"feature": list(before.columns), "icc_before": batch_icc(before, b),
                        "icc_after": batch_icc(after, b)})
    return HarmonizationDiagnostics(
        auc_before=_batch_auc(before.to_numpy(dtype=float), b, seed, n_splits),
        auc_after=_batch_auc(after.to_numpy(dtype=float), b, seed, n_splits),
        icc=icc, batch_col=batch_col, batches=tuple(levels), n=len(b), n_splits=n_splits)


# =========================================================================== study runner hook
def study_step(section: Any, cohort: pd.DataFrame, X: pd.DataFrame, notes: list | None = None
               ) -> tuple[pd.DataFrame, tuple[str, ComBat]]:
    """The ``harmonization:`` step of a study config, for the runner's fold pipeline.

    Returns ``X`` (image features, one row per patient of ``cohort``, same order) with the batch
    and covariate columns appended, and the ``("harmonization", ComBat(...))`` step that the
    runner puts first in the pipeline it fits on development patients only.
    """
    cols = [section.batch, *section.covariates]
    missing = [c for c in cols if c not in cohort.columns]
    if missing:
        from .errors import ConfigError

        raise ConfigError(f"harmonization: column(s) {missing} not in the cohort table")
    clash = [c for c in cols if c in X.columns]
    if clash:
        raise InputError(f"harmonization: column(s) {clash} are also image-feature names")
    feats = list(X.columns)
    X = X.assign(**{c: cohort[c].to_numpy() for c in cols})
    cb = ComBat(batch_col=section.batch, covariates=list(section.covariates) or None, features=feats,
                parametric=section.parametric, mean_only=section.mean_only,
                reference_batch=section.reference_batch, unseen_batch=section.unseen_batch, engine="python")
    if notes is not None:
        notes.append(f"Image features were harmonised for {section.batch} with ComBat "
                     f"({'parametric' if section.parametric else 'non-parametric'} empirical Bayes"
                     f"{', location only' if section.mean_only else ''}"
                     f"{', covariates ' + ', '.join(section.covariates) if section.covariates else ''}), "
                     "fitted on the development patients only and applied unchanged to the other cohorts.")
    return X, ("harmonization", cb)
