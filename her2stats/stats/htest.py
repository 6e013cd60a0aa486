"""Hypothesis tests for Table 1, feature screening and published-table audits.

Two families:

* **summary-statistic tests** that need only what a paper prints: :func:`chi2_test` and
  :func:`fisher_test` on a contingency table of counts, :func:`ttest_from_summary`,
  :func:`anova_from_summary` and :func:`prop_ztest`;
* **raw-data tests**: :func:`ttest`, :func:`mannwhitney`, :func:`kruskal`, :func:`anova`,
  :func:`normality`; and the multiplicity adjustment :func:`p_adjust`.

Every test reproduces the R function analysts cite (``chisq.test``, ``fisher.test``, ``t.test``,
``wilcox.test``, ``kruskal.test``, ``oneway.test(var.equal=TRUE)``, ``shapiro.test``,
``ks.test``, ``p.adjust``) including R's default rules (Yates only on 2x2 tables, the exact
Wilcoxon distribution only for n < 50 without ties, the exact KS distribution only for n < 100
without ties). The tests are closed form, so ``engine`` defaults to ``"python"`` (fast enough to
screen thousands of features); ``engine="r"`` computes the same numbers in R for checking, and
``engine=None`` means the package default. Parity with R is tested to 1e-9.

Every function returns a frozen :class:`TestResult`.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import special, stats

from ..engine import resolve_engine
from ..errors import InputError
from ..results import Result
from . import _core
from ._core import adjust_p, p_adjust_method, renamed_args, z_value

__all__ = [
    "TestResult",
    "chi2_test",
    "fisher_test",
    "ttest_from_summary",
    "anova_from_summary",
    "prop_ztest",
    "ttest",
    "mannwhitney",
    "rank_test_p_range",
    "kruskal",
    "anova",
    "normality",
    "p_adjust",
]

# R's tolerance for "as or less probable than the observed table" (fisher.test, FEXACT) and for
# ties in Wilcoxon's exact distribution: relative 1e-7.
_REL_ERR = 1.0 + 1e-7


@dataclass(frozen=True, repr=False)
class TestResult(Result):
    """Result of one hypothesis test.

    Attributes
    ----------
    statistic : float
        Test statistic (chi-square, t, W, H, F, z, Shapiro-Wilk W or KS D).
    df : float or tuple of float or None
        Degrees of freedom (``(df1, df2)`` for F tests; ``None`` where the test has none).
    p_value : float
    method : str
        The test as R names it (e.g. "Pearson's Chi-squared test with Yates' continuity correction").
    n : int
        Number of observations used.
    engine : str
        ``"python"`` or ``"r"``.
    alternative : str
    estimate : float or None
        Effect estimate where R reports one (difference in means, conditional MLE odds ratio,
        difference in proportions, kappa...).
    ci_low, ci_high : float or None
        Confidence interval of ``estimate`` (level ``level``).
    expected : numpy.ndarray or None
        Expected counts of a contingency-table test.
    notes : tuple of str
        Caveats R would print as warnings (e.g. expected counts < 5).
    """

    __test__ = False  # not a pytest test class despite the name

    statistic: float
    df: Any
    p_value: float
    method: str
    n: int
    engine: str = "python"
    alternative: str = "two-sided"
    estimate: float | None = None
    estimate_name: str | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    level: float | None = None
    expected: np.ndarray | None = field(default=None, compare=False)
    notes: tuple[str, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        row = {
            "method": self.method,
            "statistic": self.statistic,
            "df": self.df if not isinstance(self.df, tuple) else ", ".join(f"{d:g}" for d in self.df),
            "p_value": self.p_value,
            "n": self.n,
            "alternative": self.alternative,
        }
        if self.estimate is not None:
            row["estimate"] = self.estimate
            row["estimate_name"] = self.estimate_name
        if self.ci_low is not None:
            row["ci_low"] = self.ci_low
            row["ci_high"] = self.ci_high
        return pd.DataFrame([row])


# =========================================================================== input helpers
def _as_table(table: Any, name: str = "table") -> np.ndarray:
    """Validate a contingency table of counts (array-like or DataFrame)."""
    arr = np.asarray(table.to_numpy() if isinstance(table, pd.DataFrame) else table, dtype=float)
    if arr.ndim != 2 or arr.shape[0] < 2 or arr.shape[1] < 2:
        raise InputError(f"{name} must be a 2-D table of counts with at least 2 rows and 2 columns, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{name} contains missing or infinite counts: {arr.tolist()}")
    if np.any(arr < 0):
        raise InputError(f"{name} contains negative counts: {arr.tolist()}")
    for axis, label in ((1, "row"), (0, "column")):
        zero = np.flatnonzero(arr.sum(axis=axis) == 0)
        if zero.size:
            raise InputError(
                f"{name} has an all-zero {label} (index {zero.tolist()}); drop empty categories before testing"
            )
    return arr


def _as_sample(x: Any, name: str, min_n: int = 1) -> np.ndarray:
    arr = np.asarray(x).ravel() if np.ndim(x) > 1 else x
    arr = _core.as_numeric(arr, name, allow_inf=True)
    nan = np.isnan(arr)
    if nan.any():
        raise InputError(
            f"{name} has {int(nan.sum())} missing value(s) (positions {np.flatnonzero(nan)[:10].tolist()}...); "
            "drop them first and report how many were dropped"
        )
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{name} contains infinite values")
    if arr.size < min_n:
        raise InputError(f"{name} needs at least {min_n} observation(s), got {arr.size}")
    return arr


def _engine(engine: str | None) -> str:
    return resolve_engine(engine)


def _r_result(out: dict, engine: str = "r", **extra: Any) -> TestResult:
    def f(key):
        v = out.get(key)
        if v is None:
            return None
        v = float(np.asarray(v).ravel()[0]) if np.ndim(v) else float(v)
        return None if math.isnan(v) else v

    df = out.get("df")
    if df is not None and np.ndim(df) and np.size(df) > 1:
        df = tuple(float(d) for d in np.asarray(df).ravel())
    elif df is not None:
        df = float(np.asarray(df).ravel()[0])
        df = None if math.isnan(df) else df
    kwargs = dict(
        statistic=f("statistic"), df=df, p_value=f("p_value"), method=str(out["method"]).strip(),
        n=int(out.get("n", 0)), engine=engine, estimate=f("estimate"), ci_low=f("ci_low"),
        ci_high=f("ci_high"),
    )
    kwargs.update(extra)
    return TestResult(**kwargs)


def _rcall(fname: str, **kwargs: Any) -> dict:
    from .. import r_bridge

    return r_bridge.call(fname, **kwargs)


# =========================================================================== contingency tables
def chi2_test(table: Any, yates: bool = True, engine: str | None = "python") -> TestResult:
    r"""Pearson's chi-square test of independence on a table of counts (R ``chisq.test``).

    .. math:: X^2 = \sum_{ij} \frac{(|O_{ij} - E_{ij}| - c_{ij})^2}{E_{ij}},\qquad
              E_{ij} = \frac{r_i c_j}{N}

    with Yates' continuity correction :math:`c_{ij} = \min(0.5, |O_{ij}-E_{ij}|)` applied only to
    2x2 tables (as R does), :math:`c_{ij}=0` otherwise; df = (r-1)(c-1).

    Parameters
    ----------
    table : array-like (r x c) of counts
    yates : bool
        Continuity correction on 2x2 tables (R's ``correct=TRUE``, the default in R and in seed 001).
    engine : {"python", "r", None}

    Notes
    -----
    A note is attached when an expected count is below 5 (R warns "Chi-squared approximation may
    be incorrect"); :func:`her2stats.table_one` then switches to :func:`fisher_test`.

    References
    ----------
    Yates F (1934). Contingency tables involving small numbers and the chi-square test. Suppl J R
    Stat Soc 1:217-235.

    Examples
    --------
    Seed 001, Table 1 rows reproduce with Yates; R: ``chisq.test(matrix(c(12, 8, 15, 13), 2))``

    >>> chi2_test([[12, 15], [8, 13]]).p_value  # doctest: +SKIP
    """
    arr = _as_table(table)
    engine = _engine(engine)
    n = int(round(arr.sum()))
    row, col = arr.sum(axis=1), arr.sum(axis=0)
    expected = np.outer(row, col) / arr.sum()
    notes = ("expected count < 5: chi-square approximation may be incorrect",) if (expected < 5).any() else ()
    if engine == "r":
        out = _rcall("h2s_chisq_test", table=arr, correct=bool(yates))
        return _r_result(out, expected=expected, notes=notes, n=n)
    is_2x2 = arr.shape == (2, 2)
    diff = np.abs(arr - expected)
    if yates and is_2x2:
        diff = diff - np.minimum(0.5, diff)
    stat = float(np.sum(diff**2 / expected))
    df = float((arr.shape[0] - 1) * (arr.shape[1] - 1))
    p = float(stats.chi2.sf(stat, df))
    method = "Pearson's Chi-squared test" + (" with Yates' continuity correction" if yates and is_2x2 else "")
    return TestResult(statistic=stat, df=df, p_value=p, method=method, n=n, engine="python",
                      expected=expected, notes=notes)


def _log_fact(x: np.ndarray | int) -> Any:
    return special.gammaln(np.asarray(x, dtype=float) + 1.0)


def _column_bounds(caps: tuple[int, ...], total: int) -> tuple[float, float]:
    """Max and min of -sum(log x_i!) over x with sum(x) = total and 0 <= x_i <= caps_i.

    Max: spread as evenly as the caps allow (the increments log(x+1) grow with x, so add each unit
    to the smallest cell). Min: concentrate in the largest caps first.
    """
    caps_arr = np.asarray(caps, dtype=int)
    # even spread by water-filling: raise a level L until sum(min(cap, L)) >= total
    order = np.sort(caps_arr)
    x = np.zeros_like(order)
    remaining = total
    k = order.size
    for i, cap in enumerate(order):
        share = remaining // (k - i)
        if cap <= share:
            x[i] = cap
            remaining -= cap
        else:
            # the rest share evenly (all later caps are >= cap > share)
            base, extra = divmod(remaining, k - i)
            x[i:] = base
            x[i : i + extra] += 1  # any placement: later caps are large enough
            remaining = 0
            break
    upper = -float(np.sum(_log_fact(x)))
    conc = np.zeros_like(order)
    remaining = total
    for i in range(order.size - 1, -1, -1):
        take = min(order[i], remaining)
        conc[i] = take
        remaining -= take
    lower = -float(np.sum(_log_fact(conc)))
    return upper, lower


class _FisherTooLarge(Exception):
    """The exact r x c network would exceed the memory budget."""


#: largest number of (node, path) entries or column compositions held at once (~100 MB)
_FISHER_MAX_ENTRIES = 4_000_000


def _comp_array(total: int, caps: np.ndarray) -> np.ndarray:
    """All vectors x (as rows) with sum(x) = total and 0 <= x_i <= caps_i (a cartesian grid over
    the first k-1 cells, the last cell taking the remainder)."""
    caps = np.asarray(caps, dtype=np.int64)
    k = caps.size
    if k == 1:
        return np.array([[total]], dtype=np.int64) if total <= caps[0] else np.zeros((0, 1), dtype=np.int64)
    axes = [np.arange(min(int(c), total) + 1, dtype=np.int64) for c in caps[:-1]]
    if math.prod(a.size for a in axes) > _FISHER_MAX_ENTRIES:
        raise _FisherTooLarge
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, k - 1)
    last = total - grid.sum(axis=1)
    ok = (last >= 0) & (last <= caps[-1])
    return np.column_stack([grid[ok], last[ok]])


def _fisher_rxc_pvalue(arr: np.ndarray) -> float:
    """Exact two-sided p-value of an r x c table: the sum of P(T) over tables T with the observed
    margins and P(T) <= P(observed) * (1 + 1e-7), as R's ``fisher.test``.

    A network algorithm in the spirit of Mehta & Patel (1983): columns are filled one at a time; a
    node is the multiset of remaining row totals; paths reaching a node are merged when their
    probabilities so far agree (to 1e-10 on the log scale). A path is settled without expansion when
    even its most probable completion is at most the threshold (then every completion counts, and
    their total mass is closed form) or when even its least probable completion exceeds it (none
    counts). These bounds relax the remaining table to independent columns, so they are valid.
    The last two columns are resolved together by sorting, which makes 2 x c tables instant.
    """
    x = arr.astype(np.int64)
    if x.shape[0] > x.shape[1]:
        x = x.T  # fewer rows -> smaller node keys
    rows = x.sum(axis=1)
    cols = np.sort(x.sum(axis=0))[::-1]  # large columns first: fewer nodes late in the network
    n = int(rows.sum())
    lf = special.gammaln(np.arange(n + 2, dtype=float) + 1.0)
    log_k = float(lf[rows].sum() + lf[cols].sum() - lf[n])
    log_obs = log_k - float(lf[x].sum())
    threshold = log_obs + math.log(_REL_ERR)
    ncol, nrow = cols.size, rows.size
    radix = n + 1

    def encode(states: np.ndarray) -> np.ndarray:
        code = np.zeros(states.shape[0], dtype=np.int64)
        for i in range(nrow):
            code = code * radix + states[:, i]
        return code

    p = 0.0
    # nodes: state tuple -> (log past values, multiplicities)
    nodes: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]] = {
        tuple(sorted(rows.tolist())): (np.zeros(1), np.ones(1))}
    for j in range(ncol - 2):
        c = int(cols[j])
        codes, values, mults, state_of = [], [], [], {}
        held = 0
        for state, (past, mult) in nodes.items():
            st = np.asarray(state, dtype=np.int64)
            ub = lb = 0.0
            for cc in cols[j:]:
                u, l_ = _column_bounds(state, int(cc))
                ub += u
                lb += l_
            log_total = float(lf[int(st.sum())] - lf[st].sum() - lf[cols[j:]].sum())
            settle = log_k + past + ub <= threshold
            if settle.any():
                p += float(np.sum(mult[settle] * np.exp(log_k + past[settle] + log_total)))
            keep = ~settle & (log_k + past + lb <= threshold)
            if not keep.any():
                continue
            past, mult = past[keep], mult[keep]
            comps = _comp_array(c, st)
            steps = -lf[comps].sum(axis=1)
            new_states = np.sort(st[None, :] - comps, axis=1)
            new_codes = encode(new_states)
            for code, s in zip(new_codes.tolist(), map(tuple, new_states.tolist())):
                state_of.setdefault(code, s)
            held += new_codes.size * past.size
            if held > _FISHER_MAX_ENTRIES:
                raise _FisherTooLarge
            codes.append(np.repeat(new_codes, past.size))
            values.append((steps[:, None] + past[None, :]).ravel())
            mults.append(np.tile(mult, steps.size))
        if not codes:
            return float(min(1.0, p))
        codes_a, values_a, mults_a = np.concatenate(codes), np.concatenate(values), np.concatenate(mults)
        keys = np.round(values_a, 10)
        order = np.lexsort((keys, codes_a))
        codes_a, values_a, mults_a, keys = codes_a[order], values_a[order], mults_a[order], keys[order]
        new_group = np.ones(codes_a.size, dtype=bool)
        new_group[1:] = (codes_a[1:] != codes_a[:-1]) | (keys[1:] != keys[:-1])
        starts = np.flatnonzero(new_group)
        merged_codes = codes_a[starts]
        merged_values = values_a[starts]
        merged_mults = np.add.reduceat(mults_a, starts)
        node_starts = np.flatnonzero(np.r_[True, merged_codes[1:] != merged_codes[:-1]])
        node_ends = np.r_[node_starts[1:], merged_codes.size]
        nodes = {state_of[int(merged_codes[a])]: (merged_values[a:b], merged_mults[a:b])
                 for a, b in zip(node_starts, node_ends)}
    # the last two columns: column ncol-2 is free, column ncol-1 takes what is left
    c = int(cols[ncol - 2])
    for state, (past, mult) in nodes.items():
        st = np.asarray(state, dtype=np.int64)
        comps = _comp_array(c, st)
        rest = -lf[comps].sum(axis=1) - lf[st[None, :] - comps].sum(axis=1)
        rest.sort()
        top = rest[-1]
        cum = np.concatenate([[0.0], np.cumsum(np.exp(rest - top))])
        idx = np.searchsorted(rest, threshold - log_k - past, side="right")
        p += float(np.sum(mult * np.exp(log_k + past + top) * cum[idx]))
    return float(min(1.0, p))


def _r_zeroin(f, ax: float, bx: float, tol: float, maxit: int = 1000) -> float:
    """Brent's root finder exactly as R's ``uniroot`` runs it (R_zeroin2 in R's zeroin.c), so that
    roots found with R's loose default tolerance land on the same digits as R's."""
    eps = np.finfo(float).eps
    a, b = ax, bx
    fa, fb = f(a), f(b)
    c, fc = a, fa
    if fa == 0.0:
        return a
    if fb == 0.0:
        return b
    for _ in range(maxit + 1):
        prev_step = b - a
        if abs(fc) < abs(fb):
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol_act = 2 * eps * abs(b) + tol / 2
        new_step = (c - b) / 2
        if abs(new_step) <= tol_act or fb == 0.0:
            return b
        if abs(prev_step) >= tol_act and abs(fa) > abs(fb):
            cb = c - b
            if a == c:
                t1 = fb / fa
                p = cb * t1
                q = 1.0 - t1
            else:
                q, t1, t2 = fa / fc, fb / fc, fb / fa
                p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1.0))
                q = (q - 1.0) * (t1 - 1.0) * (t2 - 1.0)
            if p > 0:
                q = -q
            else:
                p = -p
            if p < (0.75 * cb * q - abs(tol_act * q) / 2) and p < abs(prev_step * q / 2):
                new_step = p / q
        if abs(new_step) < tol_act:
            new_step = tol_act if new_step > 0 else -tol_act
        a, fa = b, fb
        b += new_step
        fb = f(b)
        if (fb > 0 and fc > 0) or (fb < 0 and fc < 0):
            c, fc = a, fa
    return b


def _fisher_2x2_or(x: np.ndarray, level: float) -> tuple[float, float, float]:
    """Conditional MLE odds ratio and exact CI of a 2x2 table, computed as R's ``fisher.test``:
    roots of the noncentral hypergeometric mean / tail equations by Brent's method with R's
    ``uniroot`` tolerance (eps^0.25) and brackets, so the printed values agree with R's to ~1e-12
    (a tighter root would differ from R in the 4th digit of wide upper limits)."""
    tol = np.finfo(float).eps ** 0.25
    eps = np.finfo(float).eps
    m, nn, k, x11 = int(x[:, 0].sum()), int(x[:, 1].sum()), int(x[0, :].sum()), int(x[0, 0])
    lo, hi = max(0, k - nn), min(k, m)
    support = np.arange(lo, hi + 1)
    logdc = stats.hypergeom.logpmf(support, m + nn, m, k)

    def dnhyper(ncp):
        d = logdc + math.log(ncp) * support
        d = np.exp(d - d.max())
        return d / d.sum()

    def mnhyper(ncp):
        if ncp == 0:
            return lo
        if math.isinf(ncp):
            return hi
        return float(np.sum(support * dnhyper(ncp)))

    def pnhyper(q, ncp, upper=False):
        if ncp == 1:
            return float(stats.hypergeom.sf(q - 1, m + nn, m, k) if upper else stats.hypergeom.cdf(q, m + nn, m, k))
        if ncp == 0:
            return float(q <= lo) if upper else float(q >= lo)
        if math.isinf(ncp):
            return float(q <= hi) if upper else float(q >= hi)
        d = dnhyper(ncp)
        return float(np.sum(d[support >= q] if upper else d[support <= q]))

    def root(f, a, b):
        return _r_zeroin(f, a, b, tol)

    def mle():
        if x11 == lo:
            return 0.0
        if x11 == hi:
            return math.inf
        mu = mnhyper(1.0)
        if mu > x11:
            return root(lambda t: mnhyper(t) - x11, 0.0, 1.0)
        if mu < x11:
            return 1.0 / root(lambda t: mnhyper(1.0 / t) - x11, eps, 1.0)
        return 1.0

    def ncp_upper(alpha):
        if x11 == hi:
            return math.inf
        p = pnhyper(x11, 1.0)
        if p < alpha:
            return root(lambda t: pnhyper(x11, t) - alpha, 0.0, 1.0)
        if p > alpha:
            return 1.0 / root(lambda t: pnhyper(x11, 1.0 / t) - alpha, eps, 1.0)
        return 1.0

    def ncp_lower(alpha):
        if x11 == lo:
            return 0.0
        p = pnhyper(x11, 1.0, upper=True)
        if p > alpha:
            return root(lambda t: pnhyper(x11, t, upper=True) - alpha, 0.0, 1.0)
        if p < alpha:
            return 1.0 / root(lambda t: pnhyper(x11, 1.0 / t, upper=True) - alpha, eps, 1.0)
        return 1.0

    alpha = (1 - level) / 2
    return float(mle()), float(ncp_lower(alpha)), float(ncp_upper(alpha))


@renamed_args(conf_level="level", B="n_boot")
def fisher_test(table: Any, level: float = 0.95, simulate: bool | str = "auto", n_boot: int = 10_000,
                seed: int | None = 0, engine: str | None = "python") -> TestResult:
    r"""Fisher's exact test on an r x c table of counts (R ``fisher.test``).

    The two-sided p-value sums the hypergeometric probabilities

    .. math:: P(T) = \frac{\prod_i r_i! \prod_j c_j!}{N! \prod_{ij} t_{ij}!}

    of all tables with the observed margins that are no more probable than the observed one
    (relative tolerance 1e-7, as R). For 2x2 tables the estimate is the conditional maximum
    likelihood odds ratio with its exact confidence interval (as R prints).

    Parameters
    ----------
    table : array-like (r x c) of counts
    level : float
        Level of the odds-ratio interval (2x2 only).
    simulate : bool or "auto"
        Monte Carlo p-value from ``n_boot`` random tables with the observed margins (R's
        ``simulate.p.value = TRUE``): ``(1 + #{P(T*) <= P(T)}) / (n_boot + 1)``. ``"auto"`` uses it only
        when the exact r x c computation would exceed its memory budget (large tables with
        many levels), and says so in ``method``; ``False`` raises instead.
    n_boot, seed : int
        Monte Carlo replicates and seed (replicates via :func:`her2stats.resampling.run_replicates`,
        so the p-value is reproducible).
    engine : {"python", "r", None}

    References
    ----------
    Fisher RA (1935). The logic of inductive inference. J R Stat Soc 98:39-82.
    Mehta CR, Patel NR (1983). A network algorithm for performing Fisher's exact test in r x c
    contingency tables. JASA 78:427-434.

    Examples
    --------
    R: ``fisher.test(matrix(c(3, 1, 1, 3), 2))$p.value`` = 0.4857143

    >>> round(fisher_test([[3, 1], [1, 3]]).p_value, 7)  # doctest: +SKIP
    0.4857143
    """
    arr = _as_table(table)
    if np.any(np.abs(arr - np.round(arr)) > 1e-9):
        raise InputError(f"fisher_test needs integer counts, got {arr.tolist()}")
    engine = _engine(engine)
    n = int(round(arr.sum()))
    is_2x2 = arr.shape == (2, 2)
    if engine == "r":
        out = _rcall("h2s_fisher_test", table=arr, conf_level=float(level))
        return _r_result(out, n=n, level=level if is_2x2 else None,
                         estimate_name="odds ratio" if is_2x2 else None)
    if is_2x2:
        ints = arr.astype(int)
        p = float(stats.fisher_exact(ints).pvalue)
        est, lo, hi = _fisher_2x2_or(ints, level)
        return TestResult(statistic=est, df=None, p_value=min(1.0, p),
                          method="Fisher's Exact Test for Count Data", n=n, engine="python",
                          estimate=est, estimate_name="odds ratio",
                          ci_low=lo, ci_high=hi, level=level)
    if simulate is True:
        return _fisher_monte_carlo(arr, n_boot, seed)
    try:
        p = _fisher_rxc_pvalue(arr)
    except _FisherTooLarge:
        if simulate == "auto":
            return _fisher_monte_carlo(arr, n_boot, seed)
        raise InputError(
            f"fisher_test: the exact test on this {arr.shape[0]}x{arr.shape[1]} table (n={n}) is too large to "
            "enumerate; use simulate=True (Monte Carlo p-value, R's simulate.p.value) or the chi-square test"
        ) from None
    return TestResult(statistic=float("nan"), df=None, p_value=p,
                      method="Fisher's Exact Test for Count Data", n=n, engine="python")


def _fisher_monte_carlo(arr: np.ndarray, n_boot: int, seed: int | None) -> TestResult:
    """Monte Carlo Fisher p-value: random tables with the observed margins (a random permutation of
    the column labels against the row labels), compared on -sum(log t_ij!) with R's tolerance."""
    from ..resampling import run_replicates

    x = arr.astype(np.int64)
    r, c = x.shape
    row_lab = np.repeat(np.arange(r), x.sum(axis=1))
    col_lab = np.repeat(np.arange(c), x.sum(axis=0))
    lf = special.gammaln(np.arange(int(x.sum()) + 2, dtype=float) + 1.0)
    observed = -float(lf[x].sum())

    def draw(rng: np.random.Generator, n: int) -> np.ndarray:
        perm = rng.permuted(np.broadcast_to(col_lab, (n, col_lab.size)), axis=1)
        cells = (row_lab[None, :] * c + perm) + (np.arange(n)[:, None] * r * c)
        tables = np.bincount(cells.ravel(), minlength=n * r * c).reshape(n, r * c)
        return -lf[tables].sum(axis=1)

    sims = run_replicates(draw, n_boot, seed)
    almost_one = 1 + 64 * np.finfo(float).eps
    p = (1 + np.sum(sims <= observed / almost_one)) / (n_boot + 1)
    return TestResult(statistic=float("nan"), df=None, p_value=float(p),
                      method=f"Fisher's Exact Test for Count Data with simulated p-value (based on {n_boot} replicates)",
                      n=int(x.sum()), engine="python",
                      notes=(f"Monte Carlo p-value ({n_boot} replicates, seed {seed}); Monte Carlo SE "
                             f"{np.sqrt(p * (1 - p) / n_boot):.2g}",))


@renamed_args(conf_level="level")
def prop_ztest(x1: int, n1: int, x2: int, n2: int, continuity: bool = False,
               level: float = 0.95) -> TestResult:
    r"""Two-sample z-test of proportions (R ``prop.test(c(x1, x2), c(n1, n2), correct=continuity)``).

    .. math:: z = \frac{|\hat p_1-\hat p_2| - \tfrac12 c\,(1/n_1+1/n_2)}
                       {\sqrt{\bar p(1-\bar p)(1/n_1+1/n_2)}}

    with the correction :math:`c \in \{0, 1\}` capped as in R so it never exceeds the difference.
    ``statistic`` is :math:`z^2` (R's X-squared, df = 1); the estimate is
    :math:`\hat p_1-\hat p_2` with R's Wald interval.

    References
    ----------
    Newcombe RG (1998). Interval estimation for the difference between independent proportions.
    Stat Med 17:873-890.
    """
    for name, (x, n) in {"group 1": (x1, n1), "group 2": (x2, n2)}.items():
        if n <= 0 or x < 0 or x > n:
            raise InputError(f"prop_ztest: {name} needs 0 <= x <= n and n > 0, got x={x}, n={n}")
    p1, p2 = x1 / n1, x2 / n2
    pbar = (x1 + x2) / (n1 + n2)
    inv = 1.0 / n1 + 1.0 / n2
    delta = p1 - p2
    yates = min(0.5, abs(delta) / inv) if continuity else 0.0
    denom = pbar * (1 - pbar) * inv
    if denom == 0:
        raise InputError("prop_ztest: both proportions are 0 or both are 1; the test is undefined")
    stat = (abs(delta) - yates * inv) ** 2 / denom
    p = float(stats.chi2.sf(stat, 1))
    z = z_value(level)
    width = z * math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2) + yates * inv
    method = "2-sample test for equality of proportions " + (
        "with continuity correction" if continuity else "without continuity correction")
    return TestResult(statistic=float(stat), df=1.0, p_value=p, method=method, n=int(n1 + n2),
                      estimate=delta, estimate_name="difference in proportions",
                      ci_low=max(delta - width, -1.0), ci_high=min(delta + width, 1.0),
                      level=level)


# =========================================================================== from summaries
@renamed_args(conf_level="level")
def ttest_from_summary(mean1: float, sd1: float, n1: int, mean2: float, sd2: float, n2: int,
                       equal_var: bool = True, level: float = 0.95) -> TestResult:
    r"""Two-sample t-test from means, SDs and sizes (what a Table 1 prints).

    Student (``equal_var=True``): :math:`t = (\bar x_1-\bar x_2)/(s_p\sqrt{1/n_1+1/n_2})`,
    df = n1 + n2 - 2. Welch: :math:`t = (\bar x_1-\bar x_2)/\sqrt{s_1^2/n_1+s_2^2/n_2}` with
    Welch-Satterthwaite df. Identical to R ``t.test(x, y, var.equal=equal_var)`` on any data with
    those summaries.

    References
    ----------
    Welch BL (1947). The generalization of "Student's" problem when several different population
    variances are involved. Biometrika 34:28-35.
    """
    for name, (m, s, n) in {"group 1": (mean1, sd1, n1), "group 2": (mean2, sd2, n2)}.items():
        if not (np.isfinite(m) and np.isfinite(s)) or s < 0 or n < 2:
            raise InputError(f"ttest_from_summary: {name} needs a finite mean, SD >= 0 and n >= 2 "
                             f"(got mean={m}, sd={s}, n={n})")
    v1, v2 = sd1**2 / n1, sd2**2 / n2
    if equal_var:
        df = n1 + n2 - 2.0
        sp2 = ((n1 - 1) * sd1**2 + (n2 - 1) * sd2**2) / df
        se = math.sqrt(sp2 * (1.0 / n1 + 1.0 / n2))
        method = " Two Sample t-test"
    else:
        se = math.sqrt(v1 + v2)
        df = (v1 + v2) ** 2 / (v1**2 / (n1 - 1) + v2**2 / (n2 - 1))
        method = "Welch Two Sample t-test"
    if se == 0:
        raise InputError("ttest_from_summary: both SDs are 0; the t statistic is undefined")
    diff = mean1 - mean2
    t = diff / se
    p = float(2 * stats.t.sf(abs(t), df))
    q = stats.t.ppf(0.5 + level / 2, df)
    return TestResult(statistic=float(t), df=float(df), p_value=p, method=method.strip(),
                      n=int(n1 + n2), estimate=float(diff), estimate_name="difference in means",
                      ci_low=float(diff - q * se), ci_high=float(diff + q * se), level=level)


def anova_from_summary(means: Sequence[float], sds: Sequence[float], ns: Sequence[int]) -> TestResult:
    r"""One-way ANOVA F test from group means, SDs and sizes.

    .. math:: F = \frac{\sum_g n_g(\bar x_g-\bar x)^2/(k-1)}{\sum_g (n_g-1)s_g^2/(N-k)}

    Identical to R ``oneway.test(y ~ g, var.equal=TRUE)`` / ``anova(lm(y ~ g))`` on data with
    those summaries.
    """
    means, sds, ns = (np.asarray(a, dtype=float) for a in (means, sds, ns))
    if not (means.shape == sds.shape == ns.shape) or means.ndim != 1 or means.size < 2:
        raise InputError("anova_from_summary needs equal-length 1-D means, sds and ns for >= 2 groups")
    if np.any(ns < 2) or np.any(sds < 0) or not np.all(np.isfinite(means)):
        raise InputError(f"anova_from_summary: every group needs n >= 2, SD >= 0 and a finite mean (ns={ns.tolist()})")
    k, n = means.size, ns.sum()
    grand = np.sum(ns * means) / n
    ssb = np.sum(ns * (means - grand) ** 2)
    ssw = np.sum((ns - 1) * sds**2)
    df1, df2 = k - 1.0, n - k
    f = (ssb / df1) / (ssw / df2)
    p = float(stats.f.sf(f, df1, df2))
    return TestResult(statistic=float(f), df=(df1, float(df2)), p_value=p,
                      method="One-way analysis of means", n=int(n))


# =========================================================================== raw data
@renamed_args(conf_level="level")
def ttest(x: Any, y: Any, equal_var: bool = False, level: float = 0.95,
          engine: str | None = "python") -> TestResult:
    r"""Two-sample t-test (R ``t.test(x, y, var.equal=equal_var)``; Welch by default, as R).

    See :func:`ttest_from_summary` for the formulas.

    Examples
    --------
    R: ``t.test(extra ~ group, data = sleep)`` gives t = -1.8608, df = 17.776, p = 0.07939.
    """
    x = _as_sample(x, "x", 2)
    y = _as_sample(y, "y", 2)
    engine = _engine(engine)
    if np.ptp(x) == 0 and np.ptp(y) == 0:  # checked here so both engines say the same
        raise InputError("ttest: both samples are constant (both SDs are 0); the t statistic is undefined")
    if engine == "r":
        out = _rcall("h2s_t_test", x=x, y=y, var_equal=bool(equal_var), conf_level=float(level))
        return _r_result(out, n=x.size + y.size, estimate_name="difference in means", level=level)
    return ttest_from_summary(x.mean(), x.std(ddof=1), x.size, y.mean(), y.std(ddof=1), y.size,
                              equal_var=equal_var, level=level)


def mannwhitney(x: Any, y: Any, correct: bool = True, exact: bool | None = None,
                engine: str | None = "python") -> TestResult:
    r"""Wilcoxon rank-sum / Mann-Whitney test (R ``wilcox.test(x, y, correct=correct, exact=exact)``).

    :math:`W = R_x - n_x(n_x+1)/2` (rank sum of ``x`` minus its minimum). R's rules are kept:
    ``exact=None`` uses the exact null distribution when both samples have fewer than 50
    observations and there are no ties, otherwise the normal approximation

    .. math:: z = \frac{W - n_xn_y/2 - \tfrac12\,\mathrm{sign}(W - n_xn_y/2)\,[\text{correct}]}
                       {\sqrt{\frac{n_xn_y}{12}\left(n_x+n_y+1-\frac{\sum(t^3-t)}{(n_x+n_y)(n_x+n_y-1)}\right)}}

    with tie correction. The two-sided p-value is twice the smaller tail, capped at 1.

    References
    ----------
    Mann HB, Whitney DR (1947). Ann Math Stat 18:50-60. Hollander M, Wolfe DA (1973).
    Nonparametric Statistical Methods.
    """
    x = _as_sample(x, "x", 1)
    y = _as_sample(y, "y", 1)
    engine = _engine(engine)
    nx, ny = x.size, y.size
    if np.ptp(np.concatenate([x, y])) == 0:  # checked here so both engines say the same
        raise InputError("mannwhitney: all values are identical; the test is undefined")
    if engine == "r":
        out = _rcall("h2s_wilcox_test", x=x, y=y, correct=bool(correct), exact=exact)
        return _r_result(out, n=nx + ny)
    ranks = stats.rankdata(np.concatenate([x, y]))
    w = float(ranks[:nx].sum() - nx * (nx + 1) / 2)
    has_ties = np.unique(ranks).size < ranks.size
    use_exact = (nx < 50 and ny < 50) if exact is None else bool(exact)
    notes: tuple[str, ...] = ()
    if use_exact and has_ties:
        use_exact = False
        if exact:
            notes = ("cannot compute exact p-value with ties; normal approximation used",)
    if use_exact:
        dist_cdf = _wilcox_cdf(nx, ny)
        k = int(round(w))
        p_low = dist_cdf[k]
        p_high = 1.0 - (dist_cdf[k - 1] if k >= 1 else 0.0)
        p = min(1.0, 2 * min(p_low, p_high))
        method = "Wilcoxon rank sum exact test"
    else:
        _, counts = np.unique(ranks, return_counts=True)
        n = nx + ny
        z = w - nx * ny / 2
        sigma = math.sqrt(nx * ny / 12 * ((n + 1) - np.sum(counts**3 - counts) / (n * (n - 1))))
        if sigma == 0:
            raise InputError("mannwhitney: all values are identical; the test is undefined")
        corr = 0.5 * np.sign(z) if correct else 0.0
        z = (z - corr) / sigma
        p = float(min(1.0, 2 * min(stats.norm.cdf(z), stats.norm.sf(z))))
        method = "Wilcoxon rank sum test" + (" with continuity correction" if correct else "")
    return TestResult(statistic=w, df=None, p_value=float(p), method=method, n=nx + ny, notes=notes)


@functools.lru_cache(maxsize=256)
def _wilcox_cdf(m: int, n: int) -> np.ndarray:
    """CDF of the Mann-Whitney U null distribution (no ties), U = 0..m*n, by the standard
    recursion on generating-function coefficients (exact integer counts)."""
    # number of subsets of size m from {1..m+n} with a given rank-sum offset: coefficients of
    # the Gaussian binomial [m+n choose m]_q
    max_u = m * n
    counts = np.zeros(max_u + 1, dtype=object)
    # dp over q-binomial via product formula: prod_{i=1..m} (1 - q^{n+i}) / (1 - q^i)
    poly = np.zeros(max_u + 1, dtype=object)
    poly[0] = 1
    for i in range(1, m + 1):
        # multiply by (1 - q^{n+i})
        shift = n + i
        if shift <= max_u:
            poly[shift:] = poly[shift:] - poly[: max_u + 1 - shift]
        # divide by (1 - q^i): running sum with stride i
        for u in range(i, max_u + 1):
            poly[u] = poly[u] + poly[u - i]
    counts[:] = poly
    total = math.comb(m + n, m)
    cum = np.cumsum(counts)
    return np.array([float(c) / total for c in cum])


def rank_test_p_range(ns: Sequence[int]) -> tuple[float, float]:
    r"""Range of p-values a rank test can give for groups of sizes ``ns``, whatever the data.

    Two groups: the Wilcoxon rank-sum / Mann-Whitney test (R ``wilcox.test``); more: Kruskal-Wallis
    (R ``kruskal.test``). This is what can be said of a printed rank-test p when only the group
    sizes are printed (a median (IQR) row, or a mean +/- SD row whose test is not stated).

    With tie-corrected (permutation) variance the statistic is :math:`H = (N-1)\,R^2`, where
    :math:`R^2` is the share of the midranks' variance between groups, so :math:`H \le N-1`, with
    equality when every group's values are tied and the groups do not overlap. Hence

    * normal approximation (two groups, no continuity correction; Kruskal-Wallis):
      :math:`p \ge P(\chi^2_{k-1} > N-1)` (:math:`2\Phi(-\sqrt{N-1})` for two groups);
    * exact Mann-Whitney (no ties, R's default for n1, n2 < 50): :math:`p \ge 2/inom{N}{n_1}`;
    * a continuity correction only raises p.

    The lower bound is the smaller of these; the upper bound is 1.

    References
    ----------
    Mann HB, Whitney DR (1947). Ann Math Stat 18:50-60. Kruskal WH, Wallis WA (1952). J Am Stat
    Assoc 47:583-621. Hollander M, Wolfe DA (1973). Nonparametric Statistical Methods (tie
    correction).

    Examples
    --------
    R: ``wilcox.test(rep(0, 3), rep(1, 3), correct = FALSE)$p.value`` is 0.02535 (= 2 pnorm(-sqrt(5)))
    and ``wilcox.test(1:3, 4:6)$p.value`` is 0.1, so ``rank_test_p_range([3, 3])[0]`` is 0.02535.
    """
    sizes = [int(n) for n in ns]
    if len(sizes) < 2 or any(n < 1 for n in sizes):
        raise InputError(f"rank_test_p_range needs >= 2 groups of size >= 1, got {list(ns)}")
    total = sum(sizes)
    if total < 3:
        return 1.0, 1.0
    low = float(stats.chi2.sf(total - 1, len(sizes) - 1))
    if len(sizes) == 2:
        # 2 / C(N, n1), in logs (the binomial coefficient overflows a float for large N)
        log_c = math.lgamma(total + 1) - math.lgamma(sizes[0] + 1) - math.lgamma(sizes[1] + 1)
        low = min(low, min(1.0, math.exp(math.log(2.0) - log_c)))
    return low, 1.0


def _group_samples(values: Any, groups: Any = None) -> list[np.ndarray]:
    if groups is None:
        samples = [_core.as_numeric(np.asarray(v).ravel(), f"group {i + 1}", allow_inf=True)
                   for i, v in enumerate(values)]
    else:
        if len(values) != len(groups):
            raise InputError(f"values ({len(values)}) and groups ({len(groups)}) differ in length")
        values, groups = _core.align(("values", values), ("groups", groups))
        v = _core.as_numeric(values, "values", allow_inf=True)
        g = pd.Series(np.asarray(groups).ravel())
        if v.size != g.size:
            raise InputError(f"values ({v.size}) and groups ({g.size}) differ in length")
        if g.isna().any():
            raise InputError(f"groups has {int(g.isna().sum())} missing label(s); drop them first")
        samples = [v[(g == lev).to_numpy()] for lev in pd.unique(g)]
    for i, s in enumerate(samples):
        _as_sample(s, f"group {i + 1}", 1)
    if len(samples) < 2:
        raise InputError(f"need at least 2 groups, got {len(samples)}")
    return samples


def kruskal(values: Any, groups: Any = None, engine: str | None = "python") -> TestResult:
    r"""Kruskal-Wallis rank-sum test (R ``kruskal.test``), with tie correction.

    .. math:: H = \frac{\frac{12}{N(N+1)}\sum_g R_g^2/n_g - 3(N+1)}{1-\sum(t^3-t)/(N^3-N)},
              \quad df = k-1

    ``values`` is either a list of samples (``groups=None``) or one vector with ``groups`` labels.
    """
    samples = _group_samples(values, groups)
    n = sum(s.size for s in samples)
    if np.ptp(np.concatenate(samples)) == 0:
        raise InputError("kruskal: all values are identical; the test is undefined")
    if _engine(engine) == "r":
        v = np.concatenate(samples)
        g = np.repeat(np.arange(len(samples)), [s.size for s in samples]).astype(float)
        return _r_result(_rcall("h2s_kruskal_test", x=v, g=g), n=n)
    res = stats.kruskal(*samples)
    return TestResult(statistic=float(res.statistic), df=float(len(samples) - 1), p_value=float(res.pvalue),
                      method="Kruskal-Wallis rank sum test", n=n)


def anova(values: Any, groups: Any = None, engine: str | None = "python") -> TestResult:
    """One-way ANOVA F test (R ``oneway.test(y ~ g, var.equal=TRUE)``); see :func:`anova_from_summary`."""
    samples = _group_samples(values, groups)
    if any(s.size < 2 for s in samples):
        raise InputError("anova: every group needs at least 2 observations")
    if all(np.ptp(s) == 0 for s in samples):  # checked here so both engines say the same
        raise InputError("anova: every group is constant (within-group variance 0); the F statistic is undefined")
    n = sum(s.size for s in samples)
    if _engine(engine) == "r":
        v = np.concatenate(samples)
        g = np.repeat(np.arange(len(samples)), [s.size for s in samples]).astype(float)
        return _r_result(_rcall("h2s_anova_test", x=v, g=g), n=n)
    return anova_from_summary([s.mean() for s in samples], [s.std(ddof=1) for s in samples],
                              [s.size for s in samples])


def normality(x: Any, test: str = "shapiro", engine: str | None = "python") -> TestResult:
    r"""Test of normality: Shapiro-Wilk (R ``shapiro.test``) or Kolmogorov-Smirnov against a normal
    with the sample mean and SD (R ``ks.test(x, "pnorm", mean(x), sd(x))``, as seeds that report
    "KS test" do).

    Shapiro-Wilk uses Royston's (1995) algorithm (AS R94), valid for 3 <= n <= 5000. The KS
    p-value follows R 4.2: the exact distribution (Marsaglia, Tsang & Wang 2003) when n < 100
    and there are no ties, otherwise Kolmogorov's limiting distribution. Estimating the mean and
    SD from the same data makes the KS test conservative (Lilliefors); it is offered because
    papers use it.
    """
    x = _as_sample(x, "x", 3)
    if test not in ("shapiro", "ks"):
        raise InputError(f"normality test must be 'shapiro' or 'ks', got {test!r}")
    engine = _engine(engine)
    if test == "shapiro" and x.size > 5000:
        raise InputError(f"shapiro test needs 3 <= n <= 5000 (R's limit), got n={x.size}; use test='ks'")
    if np.ptp(x) == 0:
        raise InputError("normality: all values are identical")
    if engine == "r":
        return _r_result(_rcall("h2s_normality_test", x=x, test=test), n=x.size)
    if test == "shapiro":
        res = stats.shapiro(x)
        return TestResult(statistic=float(res.statistic), df=None, p_value=float(res.pvalue),
                          method="Shapiro-Wilk normality test", n=x.size)
    n = x.size
    z = np.sort(x)
    cdf = stats.norm.cdf(z, loc=z.mean(), scale=z.std(ddof=1))
    d = float(max(np.max(np.arange(1, n + 1) / n - cdf), np.max(cdf - np.arange(n) / n)))
    ties = np.unique(x).size < n
    if n < 100 and not ties:
        p = float(stats.kstwo.sf(d, n))
        method = "Exact one-sample Kolmogorov-Smirnov test"
    else:
        p = 1.0 - _pkstwo(math.sqrt(n) * d)
        method = "Asymptotic one-sample Kolmogorov-Smirnov test"
    return TestResult(statistic=d, df=None, p_value=min(1.0, p), method=method, n=n)


def _pkstwo(x: float, tol: float = 1e-6) -> float:
    r"""Kolmogorov's limiting CDF :math:`\sum_k (-1)^k e^{-2k^2x^2}`, computed exactly as R 4.2's
    C routine ``pkstwo`` with R's ``tol = 1e-6`` (for x < 1 the theta-function form keeps only the
    terms k < sqrt(2 - log(tol)), i.e. one term), so that asymptotic KS p-values match R to 1e-15
    rather than to R's own truncation error (~1e-6)."""
    if x <= 0:
        return 0.0
    if x < 1:
        k_max = int(math.sqrt(2 - math.log(tol)))
        z = -(math.pi / 2 * math.pi / 4) / (x * x)
        w = math.log(x)
        s = sum(math.exp(k * k * z - w) for k in range(1, k_max, 2))
        return s * math.sqrt(2 * math.pi)
    z = -2 * x * x
    sign, k, old, new = -1.0, 1, 0.0, 1.0
    while abs(old - new) > tol:
        old = new
        new += 2 * sign * math.exp(z * k * k)
        sign = -sign
        k += 1
    return new


# =========================================================================== multiplicity
def p_adjust(p: Any, method: str = "fdr_bh", n: int | None = None) -> np.ndarray:
    r"""Adjust p-values for multiple comparisons (R ``p.adjust``).

    * ``"bonferroni"``: :math:`\min(1, m p_i)`;
    * ``"holm"``: step-down :math:`\max_{j\le i}\min(1,(m-j+1)p_{(j)})`;
    * ``"hochberg"``: step-up :math:`\min_{j\ge i}\min(1,(m-j+1)p_{(j)})`;
    * ``"fdr_bh"`` (R ``"BH"``/``"fdr"``): :math:`\min_{j\ge i}\min(1, m p_{(j)}/j)`;
    * ``"fdr_by"`` (R ``"BY"``): BH times :math:`\sum_{k=1}^m 1/k`.

    Missing p-values stay missing and do not count in m (R's ``n = length(p[!is.na(p)])``);
    ``n`` may be larger than the number given when some of the family is not available (e.g. a
    paper's FDR family included tests whose p-values are not printed). The computation is the
    statistics core's one implementation (:func:`her2stats.stats._core.adjust_p`).

    References
    ----------
    Holm S (1979). Scand J Stat 6:65-70. Benjamini Y, Hochberg Y (1995). J R Stat Soc B
    57:289-300. Benjamini Y, Yekutieli D (2001). Ann Stat 29:1165-1188.
    """
    return adjust_p(p, p_adjust_method(method), n=n)
