"""Checks of printed numbers against what can be recomputed from the other printed numbers.

Every check returns *verdict records* (plain dicts, one per printed number) with the keys of
:data:`RECORD_KEYS`. The verdict is one of

* ``"reproduced"`` -- a stated method recomputes the printed value at its printed precision;
* ``"not reproduced"`` -- no candidate does; ``closest_candidate``/``closest_value`` say how near
  the best one comes and ``note`` lists every candidate's value;
* ``"not derivable"`` -- the printed numbers do not determine the value (e.g. a DeLong CI or a
  Mann-Whitney p needs case-level data; GRIM is uninformative when n is large).

Rounding rule (stated once, used everywhere): a value ``x`` reproduces a number printed as ``v``
with ``d`` decimals if ``|x - v| <= 0.5 * 10**-d`` (``x`` rounds to ``v``; ties either way), e.g.
0.7605 reproduces "0.761". ``"<0.001"`` is reproduced by any ``x < 0.001`` (``"<="``, ``">"``
likewise). Where a table declares ``rounding: [round, truncate, padded]``, a value whose first
``d`` decimals equal ``v`` (``v <= x < v + 10**-d``) also counts ("truncated"), and so does a value
that rounds to ``v`` without its trailing zeros ("78.90%" from 78.9%: "zero-padded"); the method
column says which rule applied.

Where the *inputs* of a recomputation are themselves rounded (a t-test from "2.7 ± 1.1", a p from
a CI printed to 3 decimals), the check also computes the range of values the test can give over
every input consistent with the printed inputs; the printed value is then "reproduced within
rounding of the inputs" when that range overlaps the printed value's rounding interval.
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

import numpy as np
from scipy import stats as sps

from .schema import Printed

RECORD_KEYS = ("level", "group", "quantity", "reported", "recomputed", "verdict", "method",
               "closest_candidate", "closest_value", "note")

#: Fisher's exact r x c test enumerates tables; beyond this size it is skipped (it can take minutes)
FISHER_MAX_N = 200
FISHER_MAX_CELLS = 10


def record(quantity: str, reported: Any, verdict: str, *, recomputed: float | None = None,
           method: str = "", closest_candidate: str = "", closest_value: float | None = None,
           note: str = "", level: str = "", group: str = "") -> dict:
    """One verdict record (see :data:`RECORD_KEYS`)."""
    return {"level": level, "group": group, "quantity": quantity, "reported": str(reported),
            "recomputed": None if recomputed is None else float(recomputed), "verdict": verdict,
            "method": method, "closest_candidate": closest_candidate,
            "closest_value": None if closest_value is None else float(closest_value), "note": note}


# ----------------------------------------------------------------------------- rounding rules
def accept_interval(printed: Printed, rule: str) -> tuple[float, float, bool] | None:
    """Values ``[lo, hi]`` that print as ``printed`` under ``rule`` (bool: ``hi`` included).

    "round": ``|x - v| <= 0.5 * 10**-d``; "truncate": ``v <= x < v + 10**-d``; "padded": the
    printed trailing zeros were appended after rounding to fewer decimals (``78.90`` from
    ``78.9``), ``|x - v| <= 0.5 * 10**-(d - zeros)``. None when the rule does not apply.
    """
    eps = 1e-9 * max(1.0, abs(printed.value))
    if printed.relation != "=":
        lo, hi = printed.interval
        return (lo, hi, printed.relation in ("<=", ">=", ">")) if rule == "round" else None
    if rule == "round":
        h = printed.half_unit
        return printed.value - h - eps, printed.value + h + eps, True
    if rule == "truncate":
        return printed.value - eps, printed.value + 10.0 ** (-printed.decimals) - eps, False
    if rule == "padded" and printed.trailing_zeros:
        h = 0.5 * 10.0 ** (-(printed.decimals - printed.trailing_zeros))
        return printed.value - h - eps, printed.value + h + eps, True
    return None


_RULE_ORDER = ("round", "truncate", "padded")


def matches(x: float, printed: Printed, rules: Sequence[str] = ("round",), scale: float = 1.0) -> str | None:
    """Rounding rule under which ``x * scale`` prints as ``printed`` ("round", "truncate", "padded") or None."""
    if x is None or not np.isfinite(x):
        return None
    v = x * scale
    # per-number rules only; "largest_remainder" works on whole columns (apply_largest_remainder)
    wanted = set(rules) | {"round"} if printed.relation != "=" else set(rules)
    for rule in [r for r in _RULE_ORDER if r in wanted]:
        iv = accept_interval(printed, rule)
        if iv is None:
            continue
        lo, hi, closed = iv
        if printed.relation in ("<", ">") and lo < v < hi:
            return rule
        if printed.relation != "=" and lo <= v <= hi and printed.relation in ("<=", ">="):
            return rule
        if printed.relation == "=" and lo <= v and (v <= hi if closed else v < hi):
            return rule
    return None


def overlaps(lo: float, hi: float, printed: Printed, scale: float = 1.0) -> bool:
    """Whether the attainable range ``[lo, hi]`` (times ``scale``) meets the printed value's interval."""
    plo, phi = printed.interval
    eps = 1e-9 * max(1.0, abs(printed.value))
    return lo * scale <= phi + eps and hi * scale >= plo - eps


def _fmt(x: float | None, digits: int = 4) -> str:
    if x is None or not np.isfinite(x):
        return "NA"
    if x != 0 and abs(x) < 10 ** (-digits):
        return f"{x:.2e}"
    return f"{x:.{digits}f}"


def _rule_text(rule: str | None) -> str:
    return {"truncate": " (truncated, not rounded)",
            "padded": " (rounded to fewer decimals, then zero-padded)"}.get(rule or "", "")


def _closest(candidates: dict[str, float], target: float, log: bool = False) -> tuple[str, float]:
    def dist(v: float) -> float:
        if not np.isfinite(v):
            return math.inf
        if log:
            return abs(math.log(max(v, 1e-300)) - math.log(max(target, 1e-300)))
        return abs(v - target)
    name = min(candidates, key=lambda k: dist(candidates[k]))
    return name, candidates[name]


# ----------------------------------------------------------------------------- counts and percents
def check_percent(count: int, n: int, printed: Printed, rules: Sequence[str], *, level: str, group: str,
                  alt_n: int | None = None) -> dict:
    """Printed percentage vs ``100 * count / n`` (and vs ``count / alt_n`` when a second base is known)."""
    scale = 100.0  # `percents` of a categorical row are percentages, with or without a % sign
    x = count / n
    rule = matches(x, printed, rules, scale)
    if rule:
        return record("percent", printed, "reproduced", recomputed=x * scale, level=level, group=group,
                      method=f"{count}/{n}{_rule_text(rule)}")
    if alt_n and alt_n != n:
        rule = matches(count / alt_n, printed, rules, scale)
        if rule:
            return record("percent", printed, "reproduced", recomputed=count / alt_n * scale, level=level,
                          group=group, method=f"{count}/{alt_n} (of the row's non-missing total){_rule_text(rule)}")
    return record("percent", printed, "not reproduced", recomputed=x * scale, level=level, group=group,
                  closest_candidate=f"{count}/{n}", closest_value=x * scale,
                  note=f"{count}/{n} = {_fmt(x * scale, printed.decimals + 2)}")


def largest_remainder(counts: Sequence[int], n: int, decimals: int) -> np.ndarray:
    """Percentages ``100 k / n`` rounded to ``decimals`` so that they total exactly 100 (Hamilton).

    Every share is rounded down to the printed unit, then the units still missing to reach 100
    go, one each, to the shares with the largest remainders (ties: first level first).
    """
    scale = 10 ** decimals
    exact = np.asarray(counts, dtype=float) * 100.0 * scale / n
    floors = np.floor(exact + 1e-9)
    missing = int(round(100 * scale - floors.sum()))
    if 0 < missing <= len(floors):
        order = np.argsort(-(exact - floors), kind="stable")
        floors[order[:missing]] += 1
    return floors / scale


def apply_largest_remainder(records: list[dict], counts: Sequence[int], n: int, printed: Sequence[Printed]) -> None:
    """Re-judge a column's "not reproduced" percentages under largest-remainder rounding (in place).

    ``records`` are the column's percent records in level order. A percentage is reproduced when
    Hamilton's rounding of the whole column (see :func:`largest_remainder`) gives the printed
    value, and the printed column totals 100.
    """
    d = max(p.decimals for p in printed)
    if abs(sum(p.value for p in printed) - 100.0) > 1e-9 * 100:
        return
    lr = largest_remainder(counts, n, d)
    for rec, val, p, k in zip(records, lr, printed, counts):
        if rec["verdict"] == "not reproduced" and abs(val - p.value) <= 1e-9 * max(1.0, p.value):
            rec.update(verdict="reproduced", method=f"{k}/{n}, largest-remainder rounding (column forced to total 100%)",
                       closest_candidate="", closest_value=None)


def grim_percent(printed: Printed, n: int, rules: Sequence[str], *, level: str, group: str) -> dict:
    """GRIM for a percentage printed without its count: is some integer k/n consistent with it?"""
    scale = 100.0
    ks = [k for k in range(n + 1) if matches(k / n, printed, rules, scale)]
    if ks:
        return record("percent", printed, "reproduced", recomputed=ks[0] / n * scale, level=level, group=group,
                      method=f"GRIM: count {ks[0]}" + (f"-{ks[-1]}" if len(ks) > 1 else "") + f" of {n}")
    k = int(round(printed.value / scale * n))
    return record("percent", printed, "not reproduced", level=level, group=group,
                  closest_candidate=f"GRIM: {k}/{n}", closest_value=k / n * scale,
                  note=f"no integer count out of {n} gives {printed}")


def check_total(counts: Sequence[int], n: int, *, group: str) -> dict:
    """Do the level counts add up to the group's n?"""
    total = int(sum(counts))
    if total == n:
        return record("total", n, "reproduced", recomputed=total, group=group, method="sum of level counts")
    return record("total", n, "not reproduced", recomputed=total, group=group,
                  closest_candidate="sum of level counts", closest_value=total,
                  note=f"levels add up to {total}, the group has n = {n} ({n - total:+d} unaccounted)")


# ----------------------------------------------------------------------------- GRIM / GRIMMER
def grim_mean(mean: Printed, n: int, granularity: float, rules: Sequence[str], *, group: str,
              quantity: str = "mean") -> tuple[dict, list[int]]:
    """GRIM (Brown & Heathers 2017): can ``n`` values on a grid of ``granularity`` have this mean?

    The sum of the values in grid units is an integer ``T``; the mean is ``T * g / n``. Returns the
    record and every consistent ``T``. Uninformative (``"not derivable"``) when ``g / n`` is not
    larger than the printed unit ``10**-d``: every printed mean is then attainable.
    """
    unit = 10.0 ** (-mean.decimals)
    lo, hi = mean.interval
    t_lo = math.floor((lo - unit) * n / granularity)
    t_hi = math.ceil((hi + unit) * n / granularity)
    sums = [t for t in range(t_lo, t_hi + 1) if matches(t * granularity / n, mean, rules)]
    if granularity / n <= unit:
        return (record(quantity, mean, "not derivable", group=group, method="GRIM",
                       note=f"uninformative: step {granularity:g}/{n} <= printed unit {unit:g}"), sums)
    if sums:
        t = sums[0]
        return (record(quantity, mean, "reproduced", recomputed=t * granularity / n, group=group,
                       method=f"GRIM: sum {_fmt(t * granularity, 6).rstrip('0').rstrip('.')}/{n}"), sums)
    below = math.floor(mean.value * n / granularity)
    cands = {f"sum {below}/{n}": below * granularity / n, f"sum {below + 1}/{n}": (below + 1) * granularity / n}
    name, val = _closest(cands, mean.value)
    note = "; ".join(f"{k} = {_fmt(v, mean.decimals + 3)}" for k, v in cands.items())
    return (record(quantity, mean, "not reproduced", group=group, method="GRIM", closest_candidate=name,
                   closest_value=val, note=f"no mean of {n} values on a {granularity:g} grid prints as {mean}: {note}"),
            [])


def grimmer_sd(mean: Printed, sd: Printed, n: int, granularity: float, sums: Sequence[int], *,
               group: str) -> dict:
    """GRIMMER (Anaya 2016): is the SD attainable by ``n`` grid values with a GRIM-consistent sum?

    With data in grid units (``x / g`` integers), sum ``T`` and sum of squares ``Q`` are integers
    with ``Q = T (mod 2)`` (``x^2`` and ``x`` have the same parity), and
    ``s^2 = (Q - T^2 / n) / (n - 1)``. The printed SD's rounding interval gives a range for ``Q``;
    the SD is consistent when that range holds an integer of the right parity for some ``T``.
    """
    if not sums:
        return record("SD", sd, "not derivable", group=group, method="GRIMMER",
                      note="no GRIM-consistent sum to test the SD against")
    lo, hi = (max(v, 0.0) / granularity for v in sd.interval)
    widths, found = [], None
    for t in sums:
        q_lo = (n - 1) * lo ** 2 + t * t / n
        q_hi = (n - 1) * hi ** 2 + t * t / n
        widths.append(q_hi - q_lo)
        q = math.ceil(q_lo - 1e-9)
        if q % 2 != t % 2:
            q += 1
        if q <= q_hi + 1e-9:
            found = (t, q)
            break
    if all(w >= 2 for w in widths):
        return record("SD", sd, "not derivable", group=group, method="GRIMMER",
                      note=f"uninformative: the SD's rounding interval spans >= 2 integer sums of squares at n = {n}")
    if found:
        t, q = found
        s = granularity * math.sqrt(max(q - t * t / n, 0.0) / (n - 1))
        return record("SD", sd, "reproduced", recomputed=s, group=group,
                      method=f"GRIMMER: sum {t}, sum of squares {q} (grid {granularity:g})")
    return record("SD", sd, "not reproduced", group=group, method="GRIMMER",
                  note=f"no integer sum of squares of the right parity gives SD {sd} with mean {mean}, n = {n}")


def median_granularity(median: Printed, n: int, granularity: float, rules: Sequence[str], *, group: str) -> dict:
    """A median of ``n`` grid values is a grid value (n odd) or half-way between two (n even)."""
    step = granularity if n % 2 else granularity / 2
    unit = 10.0 ** (-median.decimals)
    if step <= unit:
        return record("median", median, "not derivable", group=group, method="median granularity",
                      note=f"uninformative: step {step:g} <= printed unit {unit:g}")
    k = round(median.value / step)
    cand = k * step
    if matches(cand, median, rules):
        return record("median", median, "reproduced", recomputed=cand, group=group,
                      method=f"median granularity (multiple of {step:g} for n = {n})")
    return record("median", median, "not reproduced", group=group, method="median granularity",
                  closest_candidate=f"multiple of {step:g}", closest_value=cand,
                  note=f"a median of {n} values on a {granularity:g} grid is a multiple of {step:g}")


# ----------------------------------------------------------------------------- p-values
def count_test_candidates(table: np.ndarray) -> tuple[dict[str, float], list[str]]:
    """p-values of every candidate test for a contingency table (levels x groups) of counts.

    2 x 2: chi-square with and without Yates, Fisher exact, z-test of proportions with and
    without continuity correction. Larger: chi-square and Fisher-Freeman-Halton exact (skipped
    above :data:`FISHER_MAX_N` subjects and :data:`FISHER_MAX_CELLS` cells). All-zero levels are
    dropped first (as a chi-square test must). Uses :mod:`her2stats.stats.htest`.
    """
    from ..stats import htest

    notes: list[str] = []
    arr = np.asarray(table, dtype=float)
    keep = arr.sum(axis=1) > 0
    if not keep.all():
        notes.append(f"{int((~keep).sum())} all-zero level(s) dropped")
    arr = arr[keep]
    arr = arr[:, arr.sum(axis=0) > 0]
    if arr.shape[0] < 2 or arr.shape[1] < 2:
        return {}, notes + ["fewer than 2 non-empty levels or groups: no test"]
    n = int(arr.sum())
    out: dict[str, float] = {}
    if arr.shape == (2, 2):
        out["chi-square (Yates)"] = htest.chi2_test(arr, yates=True).p_value
        out["chi-square (no Yates)"] = htest.chi2_test(arr, yates=False).p_value
        out["Fisher exact"] = htest.fisher_test(arr).p_value
        (a, b), (c, d) = arr.astype(int)
        try:
            out["z-test of proportions"] = htest.prop_ztest(a, a + c, b, b + d, continuity=False).p_value
            out["z-test of proportions (continuity)"] = htest.prop_ztest(a, a + c, b, b + d, continuity=True).p_value
        except Exception as exc:  # degenerate proportions: the z-test is undefined
            notes.append(f"z-test undefined: {exc}")
    else:
        out["chi-square"] = htest.chi2_test(arr, yates=False).p_value
        if n <= FISHER_MAX_N or arr.size <= FISHER_MAX_CELLS:
            out["Fisher exact (r x c)"] = htest.fisher_test(arr).p_value
        else:
            notes.append(f"Fisher r x c not run (n = {n}, {arr.shape[0]}x{arr.shape[1]} table: exact enumeration too slow)")
    return out, notes


def summary_test_candidates(means: Sequence[Printed], sds: Sequence[Printed], ns: Sequence[int]
                            ) -> dict[str, tuple[float, float, float]]:
    """(p at the printed summaries, lowest p, highest p over the summaries' rounding box).

    Two groups: Student and Welch t; more: one-way ANOVA. The p range takes the group means as
    far apart (lowest p) or as close (highest p) as their rounding allows, with the SDs at the
    bottom (lowest p) or top (highest p) of theirs.
    """
    from ..stats import htest

    m = np.array([x.value for x in means])
    hm = np.array([x.half_unit for x in means])
    s = np.array([x.value for x in sds])
    hs = np.array([x.half_unit for x in sds])
    s_lo, s_hi = np.maximum(s - hs, 1e-12), s + hs
    out: dict[str, tuple[float, float, float]] = {}
    if len(m) == 2:
        d = m[0] - m[1]
        sign = 1.0 if d >= 0 else -1.0
        d_far = abs(d) + hm.sum()
        d_near = max(abs(d) - hm.sum(), 0.0)
        for name, eq in (("Student t", True), ("Welch t", False)):
            p = htest.ttest_from_summary(m[0], s[0], ns[0], m[1], s[1], ns[1], equal_var=eq).p_value
            p_lo = htest.ttest_from_summary(sign * d_far, s_lo[0], ns[0], 0.0, s_lo[1], ns[1], equal_var=eq).p_value
            p_hi = htest.ttest_from_summary(sign * d_near, s_hi[0], ns[0], 0.0, s_hi[1], ns[1], equal_var=eq).p_value
            out[name] = (p, min(p, p_lo), max(p, p_hi))
    else:
        grand = np.sum(np.asarray(ns) * m) / np.sum(ns)
        direction = np.sign(m - grand)
        far = m + direction * hm
        near = np.where(np.abs(m - grand) <= hm, grand, m - direction * hm)
        p = htest.anova_from_summary(m, s, ns).p_value
        p_lo = htest.anova_from_summary(far, s_lo, ns).p_value
        p_hi = htest.anova_from_summary(near, s_hi, ns).p_value if np.ptp(near) > 0 else 1.0
        out["one-way ANOVA"] = (p, min(p, p_lo), max(p, p_hi))
    return out


_TEST_ALIASES = {
    "chi": ("chi-square",), "yates": ("chi-square (Yates)",), "fisher": ("Fisher exact",),
    "t-test": ("Student t", "Welch t"), "t test": ("Student t", "Welch t"), "student": ("Student t",),
    "welch": ("Welch t",), "anova": ("one-way ANOVA",), "z-test": ("z-test of proportions",),
}


def _stated(test: str | None, names: Iterable[str]) -> list[str]:
    if not test:
        return []
    t = test.lower()
    keys = [k for alias, ks in _TEST_ALIASES.items() if alias in t for k in ks]
    return [n for n in names if any(n.startswith(k) for k in keys)]


def check_p(p: Printed, candidates: dict[str, tuple[float, float, float]], rules: Sequence[str], *,
            stated: str | None = None, p_adjust: str = "none", extra_note: str = "") -> dict:
    """Verdict on a printed p-value given candidate tests' (point, low, high) p-values.

    Exact (count-based) candidates have low == high == point. A candidate reproduces the printed
    p at its printed precision at the printed inputs, or -- for summary-based candidates -- within
    the rounding of the inputs (the method says which). For a multiplicity-adjusted p the
    verdict is "not derivable" (it depends on the whole family) unless no candidate's raw p is at
    or below it, which no adjustment allows ("not reproduced").
    """
    listing = "; ".join(f"{k} {_fmt(v[0])}" + (f" [{_fmt(v[1])}, {_fmt(v[2])}]" if v[2] - v[1] > 1e-12 else "")
                        for k, v in candidates.items())
    stated_names = _stated(stated, candidates)
    notes = [x for x in (f"stated test: {stated}" if stated else "", f"candidates: {listing}" if listing else "",
                         extra_note) if x]
    if not candidates:
        return record("p", p, "not derivable", note="; ".join(notes))
    points = {k: v[0] for k, v in candidates.items()}
    if p_adjust != "none":
        pool = stated_names or list(candidates)
        upper = p.interval[1] + 1e-9
        ok = [k for k in pool if candidates[k][1] <= upper]
        best = ok[0] if ok else _closest({k: points[k] for k in pool}, p.value, log=True)[0]
        if ok:
            return record("p (adjusted)", p, "not derivable", recomputed=points[best],
                          method=f"{p_adjust}-adjusted: raw {best} {_fmt(points[best])} <= printed",
                          note="; ".join(notes + ["consistent: an adjusted p is never below its raw p; the "
                                                  "adjustment needs the whole family of p-values"]))
        return record("p (adjusted)", p, "not reproduced", recomputed=points[best], closest_candidate=best,
                      closest_value=points[best],
                      note="; ".join(notes + ["every candidate's raw p exceeds the printed adjusted p, "
                                              "which no multiplicity adjustment allows"]))
    exact = [(k, matches(points[k], p, rules)) for k in candidates]
    exact = [(k, r) for k, r in exact if r]
    ordered = sorted(exact, key=lambda kr: (kr[0] not in stated_names,))
    if ordered:
        names = ", ".join(k + _rule_text(r) for k, r in ordered)
        return record("p", p, "reproduced", recomputed=points[ordered[0][0]], method=names,
                      note="; ".join(notes))
    within = [k for k, (pt, lo, hi) in candidates.items() if hi - lo > 1e-12 and overlaps(lo, hi, p)]
    within.sort(key=lambda k: k not in stated_names)
    if within:
        return record("p", p, "reproduced", recomputed=points[within[0]],
                      method=", ".join(within) + " (within rounding of the printed summaries)",
                      note="; ".join(notes))
    name, val = _closest(points, p.value, log=True)
    return record("p", p, "not reproduced", recomputed=val, closest_candidate=name, closest_value=val,
                  note="; ".join(notes))


# ----------------------------------------------------------------------------- AUC
def _auc_grid(auc: Printed, n_pos: int, n_neg: int, max_points: int = 2001) -> list[tuple[int, int] | float]:
    """AUC values that print as ``auc``: multiples of 1/(2 n_pos n_neg) (ties count 1/2)."""
    denom = 2 * n_pos * n_neg
    lo, hi = auc.interval
    k_lo, k_hi = math.ceil(max(lo, 0.0) * denom - 1e-9), math.floor(min(hi, 1.0) * denom + 1e-9)
    if k_hi < k_lo:
        return [auc.value]
    if k_hi - k_lo + 1 > max_points:
        return list(np.linspace(max(lo, 0.0), min(hi, 1.0), max_points))
    return [(k, denom) for k in range(k_lo, k_hi + 1)]


def check_auc_ci(auc: Printed, ci: tuple[Printed, Printed], n_pos: int, n_neg: int, level: float,
                 rules: Sequence[str], stated: str | None = None) -> list[dict]:
    """Which CI method reproduces a printed AUC CI from the AUC and the group sizes.

    Candidates (via :func:`her2stats.stats.roc.auc_ci_from_summary`): exact binomial
    (Clopper-Pearson on ``AUC * n`` of ``n = n_pos + n_neg``, MedCalc's "binomial exact") and
    Hanley-McNeil (1982). Every AUC consistent with the printed one (multiples of
    ``1/(2 n_pos n_neg)``) is tried. DeLong and bootstrap intervals need the scores: if the paper
    states one of them and no candidate matches, the bounds are "not derivable".
    """
    from ..stats.roc import auc_ci_from_summary

    methods = {"exact binomial (Clopper-Pearson)": "exact", "Hanley-McNeil": "hanley"}
    grid = _auc_grid(auc, n_pos, n_neg)
    hits: list[tuple[str, Any, tuple[float, float], tuple[str, str]]] = []
    at_printed: dict[str, tuple[float, float]] = {}
    for label, m in methods.items():
        at_printed[label] = auc_ci_from_summary(auc.value, n_pos, n_neg, method=m, level=level)
        for a in grid:
            lo, hi = auc_ci_from_summary(a[0] / a[1] if isinstance(a, tuple) else float(a), n_pos, n_neg, method=m, level=level)
            r1, r2 = matches(lo, ci[0], rules), matches(hi, ci[1], rules)
            if r1 and r2:
                hits.append((label, a, (lo, hi), (r1, r2)))
                break
    stated_l = (stated or "").lower()
    needs_data = any(w in stated_l for w in ("delong", "bootstrap"))
    out = [record("AUC", auc, "not derivable", note="the AUC needs the case-level scores; values that print as "
                  f"{auc} are multiples of 1/{2 * n_pos * n_neg}")]
    listing = "; ".join(f"{k} {_fmt(v[0], 3)}-{_fmt(v[1], 3)}" for k, v in at_printed.items())
    for i, (which, printed) in enumerate((("CI lower", ci[0]), ("CI upper", ci[1]))):
        if hits:
            label, a, bounds, rr = hits[0]
            a_txt = f"{a[0]}/{a[1]}" if isinstance(a, tuple) else _fmt(float(a), 5)
            method = f"{label}, AUC = {a_txt}, n = {n_pos}+{n_neg}{_rule_text(rr[i])}"
            others = [h[0] for h in hits[1:]]
            out.append(record(which, printed, "reproduced", recomputed=bounds[i], method=method,
                              note=("also: " + ", ".join(others) + "; " if others else "") + f"at printed AUC: {listing}"))
            continue
        vals = {k: v[i] for k, v in at_printed.items()}
        name, val = _closest(vals, printed.value)
        verdict = "not derivable" if needs_data else "not reproduced"
        note = f"at printed AUC: {listing}" + (f"; stated method {stated} needs the case-level scores" if needs_data else "")
        out.append(record(which, printed, verdict, recomputed=val, closest_candidate=name, closest_value=val,
                          method=f"{stated} (not derivable)" if needs_data else "", note=note))
    return out


def check_auc_comparison(auc1: Printed, auc2: Printed, n_pos: int, n_neg: int, p: Printed, paired: bool,
                         rules: Sequence[str], test: str | None = None) -> dict:
    """What a printed AUC-comparison p (DeLong) allows to check without the scores.

    With Hanley-McNeil standard errors ``se1, se2`` from the AUCs and n's, the z-test
    ``z = |A1 - A2| / sqrt(se1^2 + se2^2 - 2 r se1 se2)`` reproduces the printed p for exactly one
    correlation ``r`` of the two AUC estimates. A paired DeLong p is consistent when that implied
    ``r`` lies in [-1, 1] (reported with the unpaired p, r = 0, as a reference) and impossible
    otherwise; its exact value needs the scores ("not derivable").
    """
    from ..stats.roc import hanley_se

    se1, se2 = hanley_se(auc1.value, n_pos, n_neg), hanley_se(auc2.value, n_pos, n_neg)
    diff = abs(auc1.value - auc2.value)
    p_unpaired = float(2 * sps.norm.sf(diff / math.hypot(se1, se2))) if diff > 0 else 1.0
    base = f"Hanley-McNeil SEs {_fmt(se1)}, {_fmt(se2)}; unpaired z-test p = {_fmt(p_unpaired)}"
    if p.relation != "=" or not (0 < p.value < 1) or diff == 0:
        return record("p (AUC comparison)", p, "not derivable", recomputed=p_unpaired, note=base)
    z = sps.norm.isf(p.value / 2)
    se_d = diff / z
    r = (se1 ** 2 + se2 ** 2 - se_d ** 2) / (2 * se1 * se2)
    if not paired:
        rule = matches(p_unpaired, p, rules)
        if rule:
            return record("p (AUC comparison)", p, "reproduced", recomputed=p_unpaired,
                          method="unpaired z-test with Hanley-McNeil SEs" + _rule_text(rule), note=base)
        return record("p (AUC comparison)", p, "not derivable", recomputed=p_unpaired,
                      note=base + f"; {test or 'the stated test'} needs the case-level scores")
    if -1 <= r <= 1:
        return record("p (AUC comparison)", p, "not derivable", recomputed=p_unpaired,
                      method=f"{test or 'paired test'}: needs the scores; consistent",
                      note=base + f"; the printed p implies a correlation r = {r:.3f} between the paired AUCs "
                      "(possible: -1 <= r <= 1)")
    return record("p (AUC comparison)", p, "not reproduced", recomputed=p_unpaired,
                  closest_candidate="unpaired z-test (r = 0)", closest_value=p_unpaired,
                  note=base + f"; the printed p implies r = {r:.3f}, outside [-1, 1]: no correlation of the "
                  "two AUC estimates gives it")


# ----------------------------------------------------------------------------- sens / spec / PPV / NPV
_METRICS = ("sensitivity", "specificity", "ppv", "npv", "accuracy", "f1")


def _metric_grid(n_pos: int, n_neg: int) -> dict[str, np.ndarray]:
    tp = np.arange(n_pos + 1, dtype=float)[:, None]
    tn = np.arange(n_neg + 1, dtype=float)[None, :]
    fn, fp = n_pos - tp, n_neg - tn
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "sensitivity": np.broadcast_to(tp / n_pos, (n_pos + 1, n_neg + 1)),
            "specificity": np.broadcast_to(tn / n_neg, (n_pos + 1, n_neg + 1)),
            "ppv": tp / (tp + fp),
            "npv": tn / (tn + fn),
            "accuracy": (tp + tn) / (n_pos + n_neg),
            "f1": 2 * tp / (2 * tp + fp + fn),
        }


def _scale(printed: Printed) -> float:
    return 100.0 if (printed.percent or printed.value > 1) else 1.0


def _match_grid(values: np.ndarray, printed: Printed, rule: str) -> np.ndarray:
    v = values * _scale(printed)
    iv = accept_interval(printed, rule) if printed.relation == "=" else accept_interval(printed, "round")
    if iv is None:
        return np.zeros(np.shape(v), dtype=bool)
    lo, hi, closed = iv
    with np.errstate(invalid="ignore"):
        if printed.relation in ("<", ">"):
            return (v > lo) & (v < hi)
        return (v >= lo) & ((v <= hi) if closed else (v < hi))


def recover_confusion(n_pos: int, n_neg: int, printed: dict[str, Printed], rules: Sequence[str]) -> list[dict]:
    """Recover the confusion matrix from printed rates and n's; check every rate against it.

    Every matrix (TP in 0..n_pos, TN in 0..n_neg) is scored by how many printed metrics it
    reproduces (rounding first, then truncation if the table allows it); the best-scoring matrix
    is reported with the number of matrices that tie. ``sensitivity = TP/n_pos``,
    ``specificity = TN/n_neg``, ``PPV = TP/(TP+FP)``, ``NPV = TN/(TN+FN)``,
    ``accuracy = (TP+TN)/n``, ``F1 = 2TP/(2TP+FP+FN)``. A printed F1 the matrix misses is also
    tried as ``2 sens PPV / (sens + PPV)`` from the *printed* (rounded) sensitivity and PPV.
    """
    grid = _metric_grid(n_pos, n_neg)
    given = {k: v for k, v in printed.items() if v is not None}
    score = np.zeros((n_pos + 1, n_neg + 1))
    rule_of: dict[str, dict[str, np.ndarray]] = {}
    for k, pv in given.items():
        rule_of[k] = {r: _match_grid(grid[k], pv, r) for r in rules}
        any_rule = np.zeros_like(score, dtype=bool)
        for r in rules:
            any_rule |= rule_of[k][r]
        # a rounding match outranks a truncation-only match
        score += any_rule + 0.001 * rule_of[k].get("round", np.zeros_like(any_rule))
    best = score.max()
    cells = np.argwhere(score == best)
    tp, tn = (int(v) for v in cells[0])
    fn, fp = n_pos - tp, n_neg - tn
    cm = f"TP={tp}, FN={fn}, FP={fp}, TN={tn}"
    tie = f"{len(cells)} matrices fit equally well; the first is shown" if len(cells) > 1 else "unique best matrix"
    out = []
    for k, pv in given.items():
        val = float(grid[k][tp, tn]) * _scale(pv)
        rule = next((r for r in rules if rule_of[k][r][tp, tn]), None)
        if rule:
            out.append(record(k, pv, "reproduced", recomputed=val, method=f"confusion matrix {cm}{_rule_text(rule)}",
                              note=tie))
            continue
        if k == "f1" and given.get("sensitivity") and given.get("ppv"):
            s = given["sensitivity"].value / _scale(given["sensitivity"])
            q = given["ppv"].value / _scale(given["ppv"])
            f1_printed = 2 * s * q / (s + q) if s + q > 0 else float("nan")
            rule = matches(f1_printed, pv, rules, _scale(pv))
            if rule:
                out.append(record(k, pv, "reproduced", recomputed=f1_printed * _scale(pv),
                                  method=f"2 sens PPV/(sens + PPV) from the printed (rounded) sensitivity and PPV{_rule_text(rule)}",
                                  note=f"from the counts ({cm}) F1 = {_fmt(val, pv.decimals + 2)}"))
                continue
        out.append(record(k, pv, "not reproduced", recomputed=val, closest_candidate=f"confusion matrix {cm}",
                          closest_value=val, note=tie))
    return out


# ----------------------------------------------------------------------------- HR / OR with CI and p
def check_ratio(measure: str, est: Printed, ci: tuple[Printed, Printed], p: Printed | None, level: float,
                rules: Sequence[str]) -> list[dict]:
    """Consistency of a ratio (HR/OR/RR), its CI and its p on the log scale (Wald).

    ``log(est)`` is the CI's midpoint on the log scale, ``SE = (log hi - log lo) / (2 z)`` with
    ``z = Phi^-1(1 - (1 - level)/2)``, and ``p = 2 (1 - Phi(|log est| / SE))``. Each is checked at the
    printed values and over the printed values' rounding intervals.
    """
    z = sps.norm.isf((1 - level) / 2)
    lo_iv = [max(v, 1e-12) for v in ci[0].interval]
    hi_iv = [max(v, 1e-12) for v in ci[1].interval]
    est_iv = [max(v, 1e-12) for v in est.interval]
    if not (0 < ci[0].value <= est.value <= ci[1].value):
        return [record(f"{measure}", est, "not reproduced",
                       note=f"the estimate {est} lies outside its CI {ci[0]}-{ci[1]} (or a bound is <= 0)")]
    mid = math.exp((math.log(ci[0].value) + math.log(ci[1].value)) / 2)
    mid_lo = math.exp((math.log(lo_iv[0]) + math.log(hi_iv[0])) / 2)
    mid_hi = math.exp((math.log(lo_iv[1]) + math.log(hi_iv[1])) / 2)
    out = []
    rule = matches(mid, est, rules)
    base = f"log-scale midpoint of the {level:.0%} CI"
    if rule:
        out.append(record(measure, est, "reproduced", recomputed=mid, method=base + _rule_text(rule)))
    elif overlaps(mid_lo, mid_hi, est):
        out.append(record(measure, est, "reproduced", recomputed=mid, method=base + " (within rounding of the printed CI)",
                          note=f"midpoint range {_fmt(mid_lo)}-{_fmt(mid_hi)}"))
    else:
        out.append(record(measure, est, "not reproduced", recomputed=mid, closest_candidate=base, closest_value=mid,
                          note=f"midpoint range over the CI's rounding {_fmt(mid_lo)}-{_fmt(mid_hi)}; an asymmetric "
                               "(profile-likelihood or exact) CI would explain a mismatch"))
    if p is None:
        return out

    def wald_p(e: float, l: float, h: float) -> float:
        se = (math.log(h) - math.log(l)) / (2 * z)
        return float(2 * sps.norm.sf(abs(math.log(e)) / se)) if se > 0 else float("nan")

    pt = wald_p(est.value, ci[0].value, ci[1].value)
    # |log est| largest and SE smallest give the smallest p, and conversely
    far_e = est_iv[0] if abs(math.log(est_iv[0])) > abs(math.log(est_iv[1])) else est_iv[1]
    near_e = 1.0 if est_iv[0] <= 1.0 <= est_iv[1] else min(est_iv, key=lambda e: abs(math.log(e)))
    p_min = wald_p(far_e, lo_iv[1], hi_iv[0])
    p_max = wald_p(near_e, lo_iv[0], hi_iv[1])
    cand = {"Wald z from the CI": (pt, min(pt, p_min), max(pt, p_max))}
    rec = check_p(p, cand, rules)
    rec["quantity"] = "p"
    if rec["verdict"] == "reproduced" and "within rounding" in rec["method"]:
        rec["method"] = "Wald z from the CI's log-scale SE (within rounding of the printed estimate and CI)"
    elif rec["verdict"] == "reproduced":
        rec["method"] = "Wald z from the CI's log-scale SE" + rec["method"].replace("Wald z from the CI", "")
    return out + [rec]


def printed_metrics(row: Any) -> dict[str, Printed]:
    return {k: getattr(row, k) for k in _METRICS if getattr(row, k) is not None}
