"""Smoothed ROC curves (pROC ``smooth``): binormal and kernel-density smoothing.

* **binormal** -- the empirical curve's points are mapped to normal deviates and
  ``qnorm(Sp) = a + b qnorm(Se)`` is fitted by least squares over the points where both are
  finite (pROC ``smooth.roc.binormal``; Metz, Semin Nucl Med 1978;8:283-98 for the binormal
  model). The smoothed curve is ``Sp = pnorm(a + b qnorm(Se))`` on ``n_points`` sensitivities
  and its area is ``pnorm(a / sqrt(1 + b^2))``.
* **density** -- Gaussian kernel densities of the controls' and the cases' scores, with one
  bandwidth (R ``bw.nrd0`` of the pooled scores unless given) on a common grid of ``n_points``
  points from ``min - 3 bw`` to ``max + 3 bw``; the curve accumulates the densities along the
  grid (pROC ``smooth.roc.density``; Zou, Hall & Shapiro, Stat Med 1997;16:2143-56) and its area
  is the trapezoidal area under it. The densities follow R's ``density()`` exactly (linear
  binning on 2n points, FFT convolution, linear interpolation), so both engines agree to
  rounding.

The binormal fit also gives the parameters of Obuchowski's variance of the AUC
(:func:`her2stats.stats.roc_variance.auc_var`).
"""
from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps

from ..errors import InputError


def binormal_fit(se: np.ndarray, sp: np.ndarray) -> tuple[float, float]:
    """Least-squares ``qnorm(Sp) = a + b qnorm(Se)`` over the curve points with both finite.

    Raises InputError when fewer than two such points exist or they share one sensitivity (pROC:
    "ROC curve not smoothable (not enough points)").
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        x, yv = sps.norm.ppf(se), sps.norm.ppf(sp)
    ok = np.isfinite(x) & np.isfinite(yv)
    x, yv = x[ok], yv[ok]
    if len(x) <= 1 or np.all(x == x[0]):
        raise InputError(
            f"the ROC curve cannot be smoothed: it has {len(x)} point(s) with sensitivity and specificity both "
            "strictly between 0 and 1 (a binormal fit needs at least two with different sensitivities; pROC: "
            "'ROC curve not smoothable (not enough points)')")
    xc = x - x.mean()
    b = float(np.dot(xc, yv - yv.mean()) / np.dot(xc, xc))
    a = float(yv.mean() - b * x.mean())
    return a, b


def _r_seq(start: float, stop: float, n: int) -> np.ndarray:
    """R ``seq.int(start, stop, length.out = n)``: filled from both ends, as R does."""
    out = np.empty(n)
    if n > 0:
        out[0] = start
    if n > 1:
        out[-1] = stop
    if n > 2:
        by = (stop - start) / (n - 1)
        i = np.arange(1, n - 1)
        out[1:-1] = np.where(i < n // 2, start + i * by, stop - (n - 1 - i) * by)
    return out


def bw_nrd0(x: np.ndarray) -> float:
    """R ``bw.nrd0``: ``0.9 min(sd, IQR/1.34) n^(-1/5)`` (Silverman's rule of thumb)."""
    x = np.asarray(x, dtype=float)
    if len(x) < 2:
        raise InputError("a bandwidth needs at least 2 data points")
    hi = float(np.std(x, ddof=1))
    q1, q3 = np.quantile(x, [0.25, 0.75])
    lo = min(hi, float(q3 - q1) / 1.34)
    if not lo:
        lo = hi or abs(float(x[0])) or 1.0
    return 0.9 * lo * len(x) ** -0.2


def r_density(x: np.ndarray, bw: float, n: int, start: float, stop: float) -> np.ndarray:
    """R ``density(x, bw = bw, n = n, from = start, to = stop)$y`` with the Gaussian kernel (R 4.2)."""
    x = np.asarray(x, dtype=float)
    n_grid = max(n, 512)
    if n_grid > 512:
        n_grid = 2 ** int(math.ceil(math.log2(n_grid)))
    lo, up = start - 4 * bw, stop + 4 * bw
    # linear binning of weights 1/N onto n_grid points (R's C BinDist; 2 n_grid slots, upper half 0)
    y = np.zeros(2 * n_grid)
    delta = (up - lo) / (n_grid - 1)
    pos = (x - lo) / delta
    ix = np.floor(pos).astype(np.int64)
    fx = pos - ix
    w = 1.0 / len(x)
    inside = (ix >= 0) & (ix <= n_grid - 2)
    np.add.at(y, ix[inside], w * (1 - fx[inside]))
    np.add.at(y, ix[inside] + 1, w * fx[inside])
    left = ix == -1
    np.add.at(y, np.zeros(int(left.sum()), dtype=np.int64), w * fx[left])
    right = ix == n_grid - 1
    np.add.at(y, ix[right], w * (1 - fx[right]))
    kords = _r_seq(0.0, 2 * (up - lo), 2 * n_grid)
    kords[n_grid + 1:] = -kords[n_grid - 1:0:-1]
    kern = sps.norm.pdf(kords, scale=bw)
    conv = np.fft.ifft(np.fft.fft(y) * np.conj(np.fft.fft(kern))).real[:n_grid]
    conv = np.maximum(0.0, conv)
    xords = _r_seq(lo, up, n_grid)
    return np.interp(_r_seq(start, stop, n), xords, conv)


def smooth_binormal(se: np.ndarray, sp: np.ndarray, n_points: int = 512
                    ) -> tuple[np.ndarray, np.ndarray, dict]:
    """Binormal smoothed curve in pROC order (specificity rising, with the (0, 1) and (1, 0) ends)."""
    a, b = binormal_fit(se, sp)
    grid = np.minimum(np.arange(n_points) * (1.0 / (n_points - 1)), 1.0)   # R seq(0, 1, 1/(n - 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = sps.norm.ppf(grid)
        s_se, s_sp = sps.norm.cdf(z), sps.norm.cdf(a + b * z)
    return _finish(s_se, s_sp), {"intercept": a, "slope": b, "auc": float(sps.norm.cdf(a / math.sqrt(1 + b * b)))}


def smooth_density(cases: np.ndarray, controls: np.ndarray, n_points: int = 512, bw: float | str = "nrd0"
                   ) -> tuple[tuple[np.ndarray, np.ndarray], dict]:
    """Kernel-density smoothed curve of oriented scores (a case scores higher), pROC order."""
    pooled = np.concatenate([controls, cases])
    if isinstance(bw, str):
        if bw != "nrd0":
            raise InputError(f"bw must be 'nrd0' or a positive number, got {bw!r}")
        bandwidth = bw_nrd0(pooled)
    else:
        bandwidth = float(bw)
    if not (math.isfinite(bandwidth) and bandwidth > 0):
        raise InputError(f"the bandwidth must be a positive number, got {bandwidth!r}")
    start, stop = pooled.min() - 3 * bandwidth, pooled.max() + 3 * bandwidth
    d_ctrl = r_density(controls, bandwidth, n_points, start, stop)
    d_case = r_density(cases, bandwidth, n_points, start, stop)
    # threshold between grid points i-1 and i: cases at i.. are positive, controls before i negative
    s_se = np.cumsum(d_case[::-1])[::-1] / d_case.sum()
    s_sp = np.concatenate([[0.0], np.cumsum(d_ctrl)[:-1]]) / d_ctrl.sum()
    return _finish(s_se, s_sp), {"bandwidth": bandwidth}


def _finish(se: np.ndarray, sp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if np.any(np.diff(sp) < 0):
        se, sp = se[::-1], sp[::-1]
    return np.concatenate([[1.0], se, [0.0]]), np.concatenate([[0.0], sp, [1.0]])


def trapezoid_auc(se: np.ndarray, sp: np.ndarray) -> float:
    """Area under a curve given in pROC order (specificity rising): trapezoids."""
    return float(np.sum((se[1:] + se[:-1]) / 2 * np.diff(sp)))
