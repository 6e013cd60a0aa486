"""Number formatting as journals print it.

p-values: "<0.001" below 0.001, otherwise three decimals ("0.042"), as gtsummary prints them; AUC
and other indices to three decimals; percentages to one decimal; "mean ± SD"; "median (Q1, Q3)";
"est (lo–hi)"; proportions with their counts "17/29 = 0.586 (0.389–0.765)" (STARD).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..stats._core import renamed_args

MINUS = "\u2212"
EN_DASH = "\u2013"
PLUS_MINUS = "\u00b1"


def _isnan(x: Any) -> bool:
    try:
        return x is None or (isinstance(x, (float, np.floating)) and math.isnan(x))
    except TypeError:
        return False


def fmt_num(x: Any, digits: int = 3) -> str:
    """Fixed decimals, a true minus sign, empty for missing."""
    if _isnan(x):
        return ""
    s = f"{float(x):.{digits}f}"
    return s.replace("-", MINUS) if s.startswith("-") and float(s) != 0 else s.lstrip("-")


def fmt_p(p: Any, digits: int = 3, threshold: float = 0.001) -> str:
    """Format a p-value: ``<0.001`` below ``threshold``, else ``digits`` decimals.

    A p that rounds to 1 prints as ``>0.999`` to avoid claiming certainty.
    """
    if _isnan(p):
        return ""
    p = float(p)
    if p < 0 or p > 1:
        raise ValueError(f"p-value outside [0, 1]: {p}")
    if p < threshold:
        return f"<{threshold:.{digits}f}"
    s = f"{p:.{digits}f}"
    if float(s) >= 1.0:
        return f">{1 - 10 ** (-digits):.{digits}f}"
    return s


def fmt_pct(count: Any, total: Any, digits: int = 1) -> str:
    """``n (x.y%)`` from a count and a denominator."""
    if _isnan(count) or _isnan(total) or not total:
        return ""
    return f"{int(count)} ({100 * float(count) / float(total):.{digits}f}%)"


def fmt_mean_sd(mean: Any, sd: Any, digits: int = 1) -> str:
    if _isnan(mean):
        return ""
    return f"{fmt_num(mean, digits)} {PLUS_MINUS} {fmt_num(sd, digits)}"


def fmt_median_iqr(median: Any, q1: Any, q3: Any, digits: int = 1) -> str:
    if _isnan(median):
        return ""
    return f"{fmt_num(median, digits)} ({fmt_num(q1, digits)}, {fmt_num(q3, digits)})"


@renamed_args(lo="ci_low", hi="ci_high")
def fmt_ci(est: Any, ci_low: Any, ci_high: Any, digits: int = 3) -> str:
    """``0.842 (0.708–0.931)``."""
    if _isnan(est):
        return ""
    if _isnan(ci_low) or _isnan(ci_high):
        return fmt_num(est, digits)
    return f"{fmt_num(est, digits)} ({fmt_num(ci_low, digits)}{EN_DASH}{fmt_num(ci_high, digits)})"


@renamed_args(lo="ci_low", hi="ci_high")
def fmt_ratio_ci(est: Any, ci_low: Any, ci_high: Any, digits: int = 2) -> str:
    """Odds/hazard ratio with CI; one more decimal below 1 (HR 0.175 printed as 0.18 loses
    information that the CI's lower bound, 0.038, needs)."""
    if _isnan(est):
        return ""
    d = digits if abs(float(est)) >= 1 else digits + 1
    return fmt_ci(est, ci_low, ci_high, d)


@renamed_args(lo="ci_low", hi="ci_high")
def fmt_count_ci(count: Any, total: Any, est: Any = None, ci_low: Any = None, ci_high: Any = None,
                 digits: int = 3) -> str:
    """A proportion with the counts behind it (STARD 2015): ``17/29 = 0.586 (0.389–0.765)``;
    without a CI ``17/29 = 0.586``; ``est`` defaults to ``count / total``."""
    if _isnan(count) or _isnan(total):
        return ""
    k, n = int(count), int(total)
    if est is None or _isnan(est):
        est = k / n if n else float("nan")
    if _isnan(est):
        return f"{k}/{n}"
    return f"{k}/{n} = {fmt_ci(est, ci_low, ci_high, digits)}"


def fmt_sig(x: Any, sig: int = 3) -> str:
    """``sig`` significant figures without scientific notation for everyday magnitudes
    (``0.0421`` -> ``0.0421``, ``12.345`` -> ``12.3``, ``1234.5`` -> ``1,235``); a true minus sign;
    empty for missing."""
    if _isnan(x):
        return ""
    v = float(x)
    if not math.isfinite(v):
        return str(v)
    if v == 0:
        return "0"
    mag = math.floor(math.log10(abs(v)))
    if mag < -4:
        s = f"{v:.{sig - 1}e}"
    else:
        s = f"{v:,.{max(0, sig - 1 - mag)}f}"
    return s.replace("-", MINUS, 1) if s.startswith("-") else s
