"""R's ``lowess`` (Cleveland's clowess, ``iter=0``) and ``approx``, bit-for-bit in the cases rms uses.

rms computes every smooth calibration curve with ``lowess(x, y, iter=0)`` (f = 2/3,
delta = 1% of the range of x) and reads it with ``approx``. This module ports R's
``src/library/stats/src/lowess.c`` (``clowess``/``lowest``) so the Python engine reproduces rms's
curves to rounding error. The loop is compiled with numba when it is installed (about 20x faster
than statsmodels' lowess, which is what makes 1,000 bootstrap calibration curves cheap);
otherwise statsmodels' lowess (same algorithm; agrees with R to ~1e-14) is used.
"""
from __future__ import annotations

import numpy as np

try:  # numba is optional: it only makes the bootstrap faster
    from numba import njit
except ImportError:  # pragma: no cover - depends on the environment
    njit = None


def _clowess_sorted_py(x: np.ndarray, y: np.ndarray, f: float, delta: float) -> np.ndarray:
    """clowess with iter=0 on x sorted ascending (0-based port of R's lowess.c)."""
    n = x.shape[0]
    ys = np.empty(n)
    if n < 2:
        ys[:] = y
        return ys
    ns = max(2, min(n, int(f * n + 1e-7)))
    nleft = 0
    nright = ns - 1
    last = -1
    i = 0
    rng = x[n - 1] - x[0]
    while True:
        if nright < n - 1:
            d1 = x[i] - x[nleft]
            d2 = x[nright + 1] - x[i]
            if d1 > d2:
                nleft += 1
                nright += 1
                continue
        # ---- lowest(): local linear fit at xs = x[i] using points nleft..nright (+ ties)
        xs = x[i]
        h = max(xs - x[nleft], x[nright] - xs)
        h9 = 0.999 * h
        h1 = 0.001 * h
        # one pass accumulates the weighted moments of u = x - xs; the closed form below equals
        # R's two-pass normalise/centre/re-weight computation up to rounding
        a = 0.0
        su = 0.0
        suu = 0.0
        sy = 0.0
        suy = 0.0
        j = nleft
        while j < n:
            u = x[j] - xs
            r = abs(u)
            if r <= h9:
                if r <= h1:
                    wj = 1.0
                else:
                    q = r / h
                    q = 1.0 - q * q * q
                    wj = q * q * q
                a += wj
                su += wj * u
                suu += wj * u * u
                sy += wj * y[j]
                suy += wj * u * y[j]
            elif x[j] > xs:
                break
            j += 1
        if a <= 0.0:
            ys[i] = y[i]
        else:
            ubar = su / a
            ybar = sy / a
            fit = ybar
            if h > 0.0:
                c = suu / a - ubar * ubar
                if c > 0.0 and np.sqrt(c) > 0.001 * rng:
                    fit = ybar - ubar * (suy / a - ubar * ybar) / c
            ys[i] = fit
        # ---- linear interpolation over the points skipped by delta
        if last < i - 1:
            denom = x[i] - x[last]
            for k in range(last + 1, i):
                alpha = (x[k] - x[last]) / denom
                ys[k] = alpha * ys[i] + (1.0 - alpha) * ys[last]
        last = i
        cut = x[last] + delta
        i = last + 1
        while i < n:
            if x[i] > cut:
                break
            if x[i] == x[last]:
                ys[i] = ys[last]
                last = i
            i += 1
        i = max(last + 1, i - 1)
        if last >= n - 1:
            break
    return ys


_clowess_sorted = njit(cache=True, nogil=True, fastmath=True)(_clowess_sorted_py) if njit is not None else None


def lowess(x: np.ndarray, y: np.ndarray, f: float = 2.0 / 3.0, delta: float | None = None
           ) -> tuple[np.ndarray, np.ndarray]:
    """``lowess(x, y, f, iter = 0)`` of R: returns (sorted x, smoothed y).

    delta defaults to ``0.01 * diff(range(x))`` as in R. Ties in x are ordered stably (R's
    ``order``), which matters for which tied points enter a neighbourhood.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    o = np.argsort(x, kind="stable")
    xs = np.ascontiguousarray(x[o])
    ysrt = np.ascontiguousarray(y[o])
    if delta is None:
        delta = 0.01 * (xs[-1] - xs[0]) if len(xs) else 0.0
    if _clowess_sorted is not None:
        fit = _clowess_sorted(xs, ysrt, float(f), float(delta))
    else:  # pragma: no cover - exercised only without numba
        from statsmodels.nonparametric.smoothers_lowess import lowess as sm_lowess

        fit = sm_lowess(ysrt, xs, frac=f, it=0, delta=delta, is_sorted=True, return_sorted=False)
    return xs, fit


def lowess_presorted(xs: np.ndarray, ys: np.ndarray, f: float = 2.0 / 3.0) -> np.ndarray:
    """Smoothed values for x already sorted ascending (delta = 1% of the range, iter = 0)."""
    xs = np.ascontiguousarray(xs, dtype=float)
    ys = np.ascontiguousarray(ys, dtype=float)
    delta = 0.01 * (xs[-1] - xs[0]) if len(xs) else 0.0
    if _clowess_sorted is not None:
        return _clowess_sorted(xs, ys, float(f), float(delta))
    from statsmodels.nonparametric.smoothers_lowess import lowess as sm_lowess  # pragma: no cover

    return sm_lowess(ys, xs, frac=f, it=0, delta=delta, is_sorted=True, return_sorted=False)  # pragma: no cover


def approx(x: np.ndarray, y: np.ndarray, xout: np.ndarray, ties: str = "first") -> np.ndarray:
    """R's ``approx(x, y, xout, rule = 1)``: linear interpolation, NaN outside ``range(x)``.

    Tied x values are collapsed first with ``ties`` ("first" as rms's ``function(x) x[1]``, or
    "mean"). ``x`` must be sorted ascending (as lowess output is).
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    first = np.empty(len(x), dtype=bool)
    first[:1] = True
    np.not_equal(x[1:], x[:-1], out=first[1:])
    if not first.all():
        start = np.flatnonzero(first)
        ux = x[start]
        counts = np.diff(np.append(start, len(x)))
        if ties == "mean":
            sums = np.add.reduceat(y, start)
            uy = sums / counts
        else:
            uy = y[start]
        x, y = ux, uy
    xout = np.asarray(xout, dtype=float)
    out = np.interp(xout, x, y)
    out[(xout < x[0]) | (xout > x[-1]) | np.isnan(xout)] = np.nan
    return out


def r_seq(start: float, stop: float, length: int) -> np.ndarray:
    """``seq(start, stop, length = length)`` with R's arithmetic (from + i*by; last = to)."""
    if length == 1:
        return np.array([start], dtype=float)
    by = (stop - start) / (length - 1)
    out = start + np.arange(length) * by
    out[-1] = stop
    return out


def r_quantile(x: np.ndarray, probs) -> np.ndarray:
    """R's default (type 7) quantile."""
    return np.quantile(np.asarray(x, dtype=float), probs)
