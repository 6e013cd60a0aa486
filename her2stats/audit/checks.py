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

Fair verdicts: a number nothing recomputes is "not derivable", with whatever bounds the printed
numbers put on it (a rank-test p between the smallest attainable at the printed n and 1; an
adjusted p between the adjustments of its family's raw-p bounds); it is "not reproduced" only when
no candidate and no bound allows it, or when it is impossible (an estimate outside its own CI, a
bound outside [0, 1], accuracy outside [sensitivity, specificity], counts that do not add up).
Possible but implausible numbers (a Hosmer-Lemeshow statistic with lower tail < 0.001, a C-index
below 0.5) keep their verdict and get a ``flag``.
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

import numpy as np
from scipy import stats as sps

from .schema import Printed

RECORD_KEYS = ("level", "group", "quantity", "reported", "recomputed", "verdict", "method",
               "closest_candidate", "closest_value", "note", "flag")

#: Fisher's exact r x c test enumerates tables; beyond this size it is skipped (it can take minutes)
FISHER_MAX_N = 200
FISHER_MAX_CELLS = 10


def record(quantity: str, reported: Any, verdict: str, *, recomputed: float | None = None,
           method: str = "", closest_candidate: str = "", closest_value: float | None = None,
           note: str = "", level: str = "", group: str = "", flag: str = "") -> dict:
    """One verdict record (see :data:`RECORD_KEYS`).

    ``flag`` marks a number that is possible but implausible ("implausible: ..."): its verdict
    stays "not derivable" (nothing recomputes it), the report lists it among the findings.
    """
    return {"level": level, "group": group, "quantity": quantity, "reported": str(reported),
            "recomputed": None if recomputed is None else float(recomputed), "verdict": verdict,
            "method": method, "closest_candidate": closest_candidate,
            "closest_value": None if closest_value is None else float(closest_value), "note": note,
            "flag": flag}


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


def fmt_number(x: float | None, digits: int = 4) -> str:
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
                  note=f"{count}/{n} = {fmt_number(x * scale, printed.decimals + 2)}")


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
                       method=f"GRIM: sum {fmt_number(t * granularity, 6).rstrip('0').rstrip('.')}/{n}"), sums)
    below = math.floor(mean.value * n / granularity)
    cands = {f"sum {below}/{n}": below * granularity / n, f"sum {below + 1}/{n}": (below + 1) * granularity / n}
    name, val = _closest(cands, mean.value)
    note = "; ".join(f"{k} = {fmt_number(v, mean.decimals + 3)}" for k, v in cands.items())
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


def stated_tests(test: str | None, names: Iterable[str]) -> list[str]:
    if not test:
        return []
    t = test.lower()
    keys = [k for alias, ks in _TEST_ALIASES.items() if alias in t for k in ks]
    return [n for n in names if any(n.startswith(k) for k in keys)]


def check_p(p: Printed, candidates: dict[str, tuple[float, float, float]], rules: Sequence[str], *,
            stated: str | None = None, p_adjust: str = "none", extra_note: str = "",
            rank: tuple[float, str] | None = None) -> dict:
    """Verdict on a printed p-value given candidate tests' (point, low, high) p-values.

    Exact (count-based) candidates have low == high == point. A candidate reproduces the printed
    p at its printed precision at the printed inputs, or -- for summary-based candidates -- within
    the rounding of the inputs (the method says which). ``rank = (p_min, note)`` (a mean +/- SD row
    whose test is not stated, or a rank test): a p that no candidate reproduces but that a rank test
    on groups of these sizes could give (``p >= p_min``, see
    :func:`her2stats.stats.htest.rank_test_p_range`) is "not derivable", not "not reproduced".
    For a multiplicity-adjusted p the
    verdict is "not derivable" (it depends on the whole family) unless no candidate's raw p is at
    or below it, which no adjustment allows ("not reproduced").
    """
    listing = "; ".join(f"{k} {fmt_number(v[0])}" + (f" [{fmt_number(v[1])}, {fmt_number(v[2])}]" if v[2] - v[1] > 1e-12 else "")
                        for k, v in candidates.items())
    stated_names = stated_tests(stated, candidates)
    notes = [x for x in (f"stated test: {stated}" if stated else "", f"candidates: {listing}" if listing else "",
                         extra_note) if x]
    if not candidates:
        if rank is not None and not overlaps(rank[0], 1.0, p):
            return record("p", p, "not reproduced", note="; ".join(notes + [rank[1] + f": {p} is below what any rank test can give"]))
        return record("p", p, "not derivable", note="; ".join(notes + ([rank[1]] if rank else [])))
    points = {k: v[0] for k, v in candidates.items()}
    if p_adjust != "none":
        pool = stated_names or list(candidates)
        upper = p.interval[1] + 1e-9
        ok = [k for k in pool if candidates[k][1] <= upper]
        best = ok[0] if ok else _closest({k: points[k] for k in pool}, p.value, log=True)[0]
        if ok:
            return record("p (adjusted)", p, "not derivable", recomputed=points[best],
                          method=f"{p_adjust}-adjusted: raw {best} {fmt_number(points[best])} <= printed",
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
    if rank is not None:
        low, rnote = rank
        if overlaps(low, 1.0, p):
            return record("p", p, "not derivable", recomputed=val, closest_candidate=name, closest_value=val,
                          method="no t-test reproduces it; a rank test could",
                          note="; ".join(notes + [rnote + ", so a rank-test p needs the data"]))
        notes = notes + [rnote + f": {p} is below what any rank test can give"]
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


def check_auc_ci(auc: Printed, ci: tuple[Printed, Printed], n_pos: int, n_neg: int | None, level: float,
                 rules: Sequence[str], stated: str | None = None) -> list[dict]:
    """Which CI method reproduces a printed AUC CI from the AUC and the group sizes.

    Candidates (via :func:`her2stats.stats.roc.auc_ci_from_summary`): exact binomial
    (Clopper-Pearson on ``AUC * n`` of ``n = n_pos + n_neg``, MedCalc's "binomial exact") and
    Hanley-McNeil (1982). Every AUC consistent with the printed one (multiples of
    ``1/(2 n_pos n_neg)``) is tried. With ``n_neg=None``, ``n_pos`` is the total n (the split is
    not printed): only the exact binomial interval, which needs only n, is tried, over AUC values
    across the printed AUC's rounding interval. DeLong and bootstrap intervals need the scores: if
    the paper states one of them, or no method, and no candidate matches, the bounds are "not
    derivable".
    """
    from ..stats.roc import auc_ci_from_summary

    if n_neg is None:
        methods = {"exact binomial (Clopper-Pearson)": "exact"}
        lo_a, hi_a = auc.interval
        grid = list(np.linspace(max(lo_a, 0.0), min(hi_a, 1.0), 201)) if auc.relation == "=" else [auc.value]
    else:
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
    # a DeLong or bootstrap interval needs the scores; so may an interval whose method is not
    # stated. Only a stated method that is one of the candidates can be "not reproduced".
    candidate_words = ("binomial", "exact", "clopper", "hanley", "medcalc")
    needs_data = (any(w in stated_l for w in ("delong", "bootstrap"))
                  or not any(w in stated_l for w in candidate_words))
    out = [record("AUC", auc, "not derivable", note="the AUC needs the case-level scores" + (
        f"; values that print as {auc} are multiples of 1/{2 * n_pos * n_neg}" if n_neg is not None else ""))]
    listing = "; ".join(f"{k} {fmt_number(v[0], 3)}-{fmt_number(v[1], 3)}" for k, v in at_printed.items())
    for i, (which, printed) in enumerate((("CI lower", ci[0]), ("CI upper", ci[1]))):
        if hits:
            label, a, bounds, rr = hits[0]
            a_txt = f"{a[0]}/{a[1]}" if isinstance(a, tuple) else fmt_number(float(a), 5)
            n_txt = f"{n_pos}+{n_neg}" if n_neg is not None else f"{n_pos} (split not printed)"
            method = f"{label}, AUC = {a_txt}, n = {n_txt}{_rule_text(rr[i])}"
            others = [h[0] for h in hits[1:]]
            out.append(record(which, printed, "reproduced", recomputed=bounds[i], method=method,
                              note=("also: " + ", ".join(others) + "; " if others else "") + f"at printed AUC: {listing}"))
            continue
        vals = {k: v[i] for k, v in at_printed.items()}
        name, val = _closest(vals, printed.value)
        verdict = "not derivable" if needs_data else "not reproduced"
        why = (f"stated method {stated} needs the case-level scores" if stated and "not stated" not in stated_l
               else "method not stated: a DeLong or bootstrap interval needs the case-level scores")
        note = f"at printed AUC: {listing}" + (f"; {why}" if needs_data else "")
        out.append(record(which, printed, verdict, recomputed=val, closest_candidate=name, closest_value=val,
                          method=f"{stated or 'CI'} (not derivable)" if needs_data else "", note=note))
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
    base = f"Hanley-McNeil SEs {fmt_number(se1)}, {fmt_number(se2)}; unpaired z-test p = {fmt_number(p_unpaired)}"
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


def printed_scale(printed: Printed) -> float:
    return 100.0 if (printed.percent or printed.value > 1) else 1.0


def _match_grid(values: np.ndarray, printed: Printed, rule: str) -> np.ndarray:
    v = values * printed_scale(printed)
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
    if len(cells) > 1:
        # among equally good matrices, show the one closest to every printed value
        dist = np.zeros(len(cells))
        for k, pv in given.items():
            vals = grid[k][cells[:, 0], cells[:, 1]] * printed_scale(pv)
            dist += np.nan_to_num(np.abs(vals - pv.value) / printed_scale(pv), nan=1.0)
        cells = cells[np.argsort(dist, kind="stable")]
    tp, tn = (int(v) for v in cells[0])
    fn, fp = n_pos - tp, n_neg - tn
    cm = f"TP={tp}, FN={fn}, FP={fp}, TN={tn}"
    tie = (f"{len(cells)} matrices fit equally well; the one closest to the printed values is shown"
           if len(cells) > 1 else "unique best matrix")
    out = []
    for k, pv in given.items():
        val = float(grid[k][tp, tn]) * printed_scale(pv)
        rule = next((r for r in rules if rule_of[k][r][tp, tn]), None)
        if rule:
            out.append(record(k, pv, "reproduced", recomputed=val, method=f"confusion matrix {cm}{_rule_text(rule)}",
                              note=tie))
            continue
        if k == "f1" and given.get("sensitivity") and given.get("ppv"):
            s = given["sensitivity"].value / printed_scale(given["sensitivity"])
            q = given["ppv"].value / printed_scale(given["ppv"])
            f1_printed = 2 * s * q / (s + q) if s + q > 0 else float("nan")
            rule = matches(f1_printed, pv, rules, printed_scale(pv))
            if rule:
                out.append(record(k, pv, "reproduced", recomputed=f1_printed * printed_scale(pv),
                                  method=f"2 sens PPV/(sens + PPV) from the printed (rounded) sensitivity and PPV{_rule_text(rule)}",
                                  note=f"from the counts ({cm}) F1 = {fmt_number(val, pv.decimals + 2)}"))
                continue
        n_fit = int(math.floor(best + 1e-9))
        out.append(record(k, pv, "not reproduced", recomputed=val, closest_candidate=f"confusion matrix {cm}",
                          closest_value=val,
                          note=f"no single confusion matrix of {n_pos} positives and {n_neg} negatives gives all "
                               f"{len(given)} printed rates; the best gives {n_fit}; {tie}"))
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
                          note=f"midpoint range {fmt_number(mid_lo)}-{fmt_number(mid_hi)}"))
    else:
        out.append(record(measure, est, "not reproduced", recomputed=mid, closest_candidate=base, closest_value=mid,
                          note=f"midpoint range over the CI's rounding {fmt_number(mid_lo)}-{fmt_number(mid_hi)}; an asymmetric "
                               "(profile-likelihood or exact) CI would explain a mismatch"))
    if p is None:
        return out

    def wald_p(e: float, l: float, h: float, zz: float = z) -> float:
        se = (math.log(h) - math.log(l)) / (2 * zz)
        return float(2 * sps.norm.sf(abs(math.log(e)) / se)) if se > 0 else float("nan")

    # |log est| largest and SE smallest give the smallest p, and conversely
    far_e = est_iv[0] if abs(math.log(est_iv[0])) > abs(math.log(est_iv[1])) else est_iv[1]
    near_e = 1.0 if est_iv[0] <= 1.0 <= est_iv[1] else min(est_iv, key=lambda e: abs(math.log(e)))

    def wald_range(zz: float) -> tuple[float, float, float]:
        pt_ = wald_p(est.value, ci[0].value, ci[1].value, zz)
        return (pt_, min(pt_, wald_p(far_e, lo_iv[1], hi_iv[0], zz)), max(pt_, wald_p(near_e, lo_iv[0], hi_iv[1], zz)))

    cand = {"Wald z from the CI": wald_range(z)}
    pt = cand["Wald z from the CI"][0]
    rec = check_p(p, cand, rules)
    rec["quantity"] = "p"
    if rec["verdict"] == "reproduced" and "within rounding" in rec["method"]:
        rec["method"] = "Wald z from the CI's log-scale SE (within rounding of the printed estimate and CI)"
    elif rec["verdict"] == "reproduced":
        rec["method"] = "Wald z from the CI's log-scale SE" + rec["method"].replace("Wald z from the CI", "")
    else:
        # would the p agree with the CI at another confidence level? (a mislabelled interval)
        fits = []
        for other in (0.90, 0.99):
            if abs(other - level) < 1e-9:
                continue
            p_o, lo_o, hi_o = wald_range(sps.norm.isf((1 - other) / 2))
            if matches(p_o, p, rules) or overlaps(lo_o, hi_o, p):
                fits.append(f"the printed p is the Wald p if the CI were a {other:.0%} interval "
                            f"({fmt_number(p_o)} [{fmt_number(lo_o)}, {fmt_number(hi_o)}] over the rounding)")
        if fits:
            rec["note"] = "; ".join(x for x in (rec["note"], *fits) if x)
    return out + [rec]


def printed_metrics(row: Any) -> dict[str, Printed]:
    return {k: getattr(row, k) for k in _METRICS if getattr(row, k) is not None}


# ----------------------------------------------------------------------------- fair p-value verdicts
def zero_p_precision(p: Printed, table_decimals: int | None) -> tuple[Printed, str]:
    """A p printed as "0" (no decimals) read at the table's printed precision.

    Software that drops trailing zeros prints p < 0.0005 as "0" when it rounds to 3 decimals: the
    printed precision is that of the table's other p-values (``table_decimals``), not 0 decimals
    (which would read "0" as p < 0.5). "0.000" already carries its precision. Returns the p to use
    and a note ("" when nothing changed).
    """
    if p.relation != "=" or p.value != 0:
        return p, ""
    if p.decimals == 0 and table_decimals:
        q = Printed(text=p.text, value=0.0, decimals=table_decimals, relation="=", percent=p.percent)
        return q, f"p printed as {p.text!r} read as p < {q.half_unit:g} (the table prints p to {table_decimals} decimals)"
    if p.decimals > 0:
        return p, f"p printed as {p.text!r} read as p < {p.half_unit:g} (its printed precision)"
    return p, ""


def rank_note(ns: Sequence[int]) -> tuple[float, str]:
    """Smallest p a rank test (Mann-Whitney / Kruskal-Wallis) can give at these group sizes, and a note."""
    from ..stats.htest import rank_test_p_range

    low, _ = rank_test_p_range(ns)
    name = "Mann-Whitney" if len(ns) == 2 else "Kruskal-Wallis"
    return low, f"a {name} test on {' + '.join(str(n) for n in ns)} values can give any p in [{fmt_number(low)}, 1]"


def percent_count_options(printed: Printed, n: int, rules: Sequence[str], limit: int = 50) -> list[int]:
    """Counts ``k`` out of ``n`` whose percentage prints as ``printed`` (GRIM), at most ``limit``."""
    lo, hi = printed.interval
    k_lo = max(0, math.floor((lo - 1e-9) * n / 100.0) - 1)
    k_hi = min(n, math.ceil((hi + 1e-9) * n / 100.0) + 1)
    ks = [k for k in range(k_lo, k_hi + 1) if matches(k / n, printed, rules, 100.0)]
    return ks[:limit]


def count_test_ranges(options: list[list[list[int]]], max_tables: int = 400
                      ) -> tuple[dict[str, tuple[float, float, float]], list[str]]:
    """Candidate tests' p over every contingency table allowed by per-cell count options.

    ``options[level][group]`` lists the counts a cell may hold (one value when printed, several
    when only its percentage is printed). Returns ``{test: (p at the first table, min, max)}``.
    """
    import itertools

    cells = [(i, j) for i in range(len(options)) for j in range(len(options[0]))]
    sizes = [len(options[i][j]) for i, j in cells]
    total = int(np.prod(sizes)) if sizes else 0
    if total == 0:
        return {}, ["a percentage no count reproduces: no table to test"]
    if total > max_tables:
        return {}, [f"{total} tables are consistent with the printed percentages: too many to test"]
    out: dict[str, list[float]] = {}
    notes: list[str] = []
    for combo in itertools.product(*[options[i][j] for i, j in cells]):
        arr = np.zeros((len(options), len(options[0])))
        for (i, j), v in zip(cells, combo):
            arr[i, j] = v
        cands, n = count_test_candidates(arr)
        notes = n
        for k, v in cands.items():
            out.setdefault(k, []).append(v)
    res = {k: (v[0], min(v), max(v)) for k, v in out.items()}
    if total > 1:
        notes = notes + [f"{total} count tables are consistent with the printed percentages"]
    return res, notes


def adjusted_bounds(raw: Sequence[tuple[float, float]], method: str, m: int | None = None
                    ) -> list[tuple[float, float]]:
    """Bounds of every multiplicity-adjusted p of a family from bounds on its raw p-values.

    Bonferroni, Holm and Benjamini-Hochberg adjusted p-values are non-decreasing in every raw
    p-value, so the adjustment of the lower bounds and of the upper bounds bracket each adjusted
    p. Members whose raw p is unknown enter as [0, 1]; ``m`` (>= len(raw)) counts family members
    not printed at all (also [0, 1]). Uses :func:`her2stats.stats.htest.p_adjust`.
    """
    from ..stats.htest import p_adjust

    m = len(raw) if m is None else int(m)
    extra = m - len(raw)
    lows = np.array([lo for lo, _ in raw] + [0.0] * extra)
    highs = np.array([hi for _, hi in raw] + [1.0] * extra)
    a = p_adjust(np.clip(lows, 0.0, 1.0), method=method)
    b = p_adjust(np.clip(highs, 0.0, 1.0), method=method)
    return [(float(a[i]), float(b[i])) for i in range(len(raw))]


# ----------------------------------------------------------------------------- plausibility of intervals
def interval_problems(est: Printed | None, ci: tuple[Printed, Printed], bounds: tuple[float, float] | None,
                      scale: float = 1.0) -> list[str]:
    """What is impossible about a printed CI: bounds outside the parameter's range, reversed
    bounds, or an estimate outside its own interval (each beyond the printed rounding)."""
    lo, hi = ci
    out = []
    if lo.interval[0] > hi.interval[1] + 1e-12:
        out.append(f"lower bound {lo} above upper bound {hi}")
    if bounds is not None:
        b_lo, b_hi = bounds[0] * scale, bounds[1] * scale
        for name, b in (("lower", lo), ("upper", hi)):
            if b.relation == "=" and (b.interval[1] < b_lo - 1e-12 or b.interval[0] > b_hi + 1e-12):
                out.append(f"{name} bound {b} outside [{b_lo:g}, {b_hi:g}]")
    if est is not None and est.relation == "=":
        if est.interval[1] < lo.interval[0] - 1e-12 or est.interval[0] > hi.interval[1] + 1e-12:
            out.append(f"the estimate {est} lies outside its CI {lo}-{hi}")
    return out


def ci_plausibility(quantity: str, est: Printed | None, ci: tuple[Printed, Printed],
                    bounds: tuple[float, float] | None, *, level: str = "", group: str = "",
                    scale: float = 1.0, needs: str = "the case-level data") -> list[dict]:
    """Records for a CI that cannot be recomputed: "not reproduced" when impossible, else
    "not derivable" (consistent: inside the range, ordered, containing the estimate)."""
    problems = interval_problems(est, ci, bounds, scale)
    out = []
    for which, b in (("CI lower", ci[0]), ("CI upper", ci[1])):
        if problems:
            out.append(record(which, b, "not reproduced", level=level, group=group,
                              method=f"{quantity} CI plausibility", note="impossible: " + "; ".join(problems)))
        else:
            out.append(record(which, b, "not derivable", level=level, group=group,
                              method=f"{quantity} CI plausibility: consistent",
                              note=f"inside its range, ordered and containing the estimate; the exact bounds need {needs}"))
    return out


# ----------------------------------------------------------------------------- differences, sums
def check_difference(value: Printed, a: Printed, b: Printed, rules: Sequence[str]) -> dict:
    """A printed difference ``a - b`` at the printed values and over their rounding."""
    point = a.value - b.value
    lo = a.interval[0] - b.interval[1]
    hi = a.interval[1] - b.interval[0]
    rule = matches(point, value, rules)
    if rule:
        return record("difference", value, "reproduced", recomputed=point, method=f"{a} - {b}{_rule_text(rule)}")
    if overlaps(lo, hi, value):
        return record("difference", value, "reproduced", recomputed=point,
                      method=f"{a} - {b} (within rounding of the printed values)",
                      note=f"{a} - {b} lies in [{fmt_number(lo)}, {fmt_number(hi)}]")
    return record("difference", value, "not reproduced", recomputed=point, closest_candidate=f"{a} - {b}",
                  closest_value=point, note=f"{a} - {b} = {fmt_number(point)}; any values that print as {a} and {b} "
                  f"differ by {fmt_number(lo)} to {fmt_number(hi)}")


# ----------------------------------------------------------------------------- pooled ("All") column
def check_pooled_mean_sd(means: Sequence[Printed], sds: Sequence[Printed], ns: Sequence[int],
                         overall_mean: Printed | None, overall_sd: Printed | None, rules: Sequence[str]
                         ) -> list[dict]:
    r"""The "All" column of a mean +/- SD row from the group summaries.

    Pooled mean :math:`M = \sum n_g m_g / N`; pooled SD
    :math:`S^2 = [\sum (n_g-1)s_g^2 + \sum n_g (m_g-M)^2] / (N-1)`. Each is checked at the
    printed summaries and over their rounding (the mean is linear in the group means; the SD grows
    with every SD and with the spread of the means).
    """
    n = np.asarray(ns, dtype=float)
    N = n.sum()
    m = np.array([x.value for x in means])
    hm = np.array([x.half_unit for x in means])
    s = np.array([x.value for x in sds])
    hs = np.array([x.half_unit for x in sds])
    out = []
    M = float(np.sum(n * m) / N)
    M_lo, M_hi = float(np.sum(n * (m - hm)) / N), float(np.sum(n * (m + hm)) / N)

    def pooled_sd(mm: np.ndarray, ss: np.ndarray) -> float:
        grand = np.sum(n * mm) / N
        return float(math.sqrt((np.sum((n - 1) * ss ** 2) + np.sum(n * (mm - grand) ** 2)) / (N - 1)))

    if overall_mean is not None:
        rule = matches(M, overall_mean, rules)
        if rule:
            out.append(record("overall mean", overall_mean, "reproduced", recomputed=M, group="All",
                              method=f"pooled mean of the groups{_rule_text(rule)}"))
        elif overlaps(M_lo, M_hi, overall_mean):
            out.append(record("overall mean", overall_mean, "reproduced", recomputed=M, group="All",
                              method="pooled mean of the groups (within rounding of the printed means)",
                              note=f"range {fmt_number(M_lo)}-{fmt_number(M_hi)}"))
        else:
            out.append(record("overall mean", overall_mean, "not reproduced", recomputed=M, group="All",
                              closest_candidate="pooled mean of the groups", closest_value=M,
                              note=f"any group means that print as printed pool to {fmt_number(M_lo)}-{fmt_number(M_hi)}"))
    if overall_sd is not None:
        S = pooled_sd(m, s)
        if len(m) == 2:
            d = abs(m[0] - m[1])
            d_lo, d_hi = max(d - hm.sum(), 0.0), d + hm.sum()
            s_lo, s_hi = np.maximum(s - hs, 0.0), s + hs
            S_lo = pooled_sd(np.array([d_lo, 0.0]), s_lo)
            S_hi = pooled_sd(np.array([d_hi, 0.0]), s_hi)
        else:  # conservative: the between-group term at its smallest is >= 0
            s_lo, s_hi = np.maximum(s - hs, 0.0), s + hs
            S_lo = float(math.sqrt(np.sum((n - 1) * s_lo ** 2) / (N - 1)))
            corners = [pooled_sd(m + sign * hm, s_hi) for sign in (np.sign(m - M), -np.sign(m - M))]
            S_hi = max(corners)
        rule = matches(S, overall_sd, rules)
        if rule:
            out.append(record("overall SD", overall_sd, "reproduced", recomputed=S, group="All",
                              method=f"pooled SD of the groups (within- plus between-group variance){_rule_text(rule)}"))
        elif overlaps(S_lo, S_hi, overall_sd):
            out.append(record("overall SD", overall_sd, "reproduced", recomputed=S, group="All",
                              method="pooled SD of the groups (within rounding of the printed summaries)",
                              note=f"range {fmt_number(S_lo)}-{fmt_number(S_hi)}"))
        else:
            out.append(record("overall SD", overall_sd, "not reproduced", recomputed=S, group="All",
                              closest_candidate="pooled SD of the groups", closest_value=S,
                              note=f"any group summaries that print as printed pool to an SD of {fmt_number(S_lo)}-{fmt_number(S_hi)}"))
    return out


# ----------------------------------------------------------------------------- C-statistic, calibration
def check_c_statistic(est: Printed, ci: tuple[Printed, Printed] | None, name: str = "C-index") -> list[dict]:
    """Plausibility of a C-statistic: in [0, 1] (below 0.5 = worse than chance, usually a reversed
    direction) and a CI inside [0, 1] that contains it. The value itself needs the data."""
    out = []
    if est.relation == "=" and (est.value < 0 or est.value > 1):
        out.append(record(name, est, "not reproduced", method=f"{name} plausibility",
                          note=f"impossible: a {name} lies in [0, 1]"))
    else:
        note = f"a {name} needs the case-level predictions and outcomes"
        flag = ""
        if est.relation == "=" and est.interval[1] < 0.5:
            flag = f"implausible: {name} {est} < 0.5 (worse than chance; check the direction)"
        out.append(record(name, est, "not derivable", method=f"{name} plausibility: in [0, 1]", note=note) | {"flag": flag})
    if ci is not None:
        out += ci_plausibility(name, est, ci, (0.0, 1.0))
    return out


def check_calibration(row: Any, rules: Sequence[str]) -> list[dict]:
    """Calibration slope/intercept plausibility and Hosmer-Lemeshow statistic vs p.

    * slope: a positive number (a slope <= 0 means the predictions are unrelated to or reversed
      against the outcome); its CI must contain it;
    * intercept: its CI must contain it;
    * HL: ``p = P(chi^2_df > statistic)`` (df = g - 2 = 8 for deciles; 10 is also tried, the
      external-validation convention); a statistic whose lower tail ``P(chi^2_df <= statistic)``
      is below 0.001 is an implausibly perfect fit (often a p-value printed as the statistic).
    """
    out = []
    if row.slope is not None:
        s = row.slope
        if s.relation == "=" and s.interval[1] <= 0:
            out.append(record("calibration slope", s, "not reproduced", method="calibration slope plausibility",
                              note="a calibration slope <= 0 means predictions unrelated to or reversed against the outcome"))
        else:
            flag = ""
            if s.relation == "=" and (s.value > 3 or s.value < 0.2):
                flag = f"implausible: calibration slope {s} (far from 1)"
            out.append(record("calibration slope", s, "not derivable", method="calibration slope plausibility: > 0",
                              note="the slope needs the predictions and outcomes") | {"flag": flag})
        if row.slope_ci is not None:
            out += ci_plausibility("calibration slope", s, row.slope_ci, None)
    if row.intercept is not None:
        out.append(record("calibration intercept", row.intercept, "not derivable",
                          method="calibration intercept", note="the intercept needs the predictions and outcomes"))
        if row.intercept_ci is not None:
            out += ci_plausibility("calibration intercept", row.intercept, row.intercept_ci, None)
    stat, p = row.hl_statistic, row.hl_p
    if stat is not None:
        lower = float(sps.chi2.cdf(stat.value, row.hl_df))
        flag = ""
        if stat.relation == "=" and float(sps.chi2.cdf(stat.interval[1], row.hl_df)) < 0.001:
            flag = (f"implausible: HL statistic {stat} on {row.hl_df} df has lower tail P = {fmt_number(lower)}, "
                    "an impossibly perfect fit (a p-value printed as the statistic?)")
        if stat.relation == "=" and stat.value < 0:
            out.append(record("HL statistic", stat, "not reproduced", note="impossible: a chi-square statistic is >= 0"))
        else:
            out.append(record("HL statistic", stat, "not derivable", method="Hosmer-Lemeshow statistic plausibility",
                              note=f"P(chi^2_{row.hl_df} > {stat}) = {fmt_number(float(sps.chi2.sf(stat.value, row.hl_df)))}; "
                                   "the statistic needs the data") | {"flag": flag})
    if stat is not None and p is not None:
        dfs = dict.fromkeys([row.hl_df, 8, 10])
        cands = {}
        for df in dfs:
            pt = float(sps.chi2.sf(stat.value, df))
            lo = float(sps.chi2.sf(stat.interval[1], df))
            hi = float(sps.chi2.sf(max(stat.interval[0], 0.0), df))
            cands[f"chi-square on {df} df"] = (pt, lo, hi)
        rec = check_p(p, cands, rules)
        rec["quantity"] = "HL p"
        out.append(rec)
    elif p is not None:
        out.append(record("HL p", p, "not derivable", note="the HL p needs the statistic or the data"))
    return out


# ----------------------------------------------------------------------------- diagnostic rows, extended
def _score_grid(grid: dict[str, np.ndarray], given: dict[str, Printed], rules: Sequence[str]
                ) -> tuple[np.ndarray, dict[str, dict[str, np.ndarray]]]:
    shape = next(iter(grid.values())).shape
    score = np.zeros(shape)
    rule_of: dict[str, dict[str, np.ndarray]] = {}
    for k, pv in given.items():
        rule_of[k] = {r: _match_grid(grid[k], pv, r) for r in rules}
        any_rule = np.zeros(shape, dtype=bool)
        for r in rules:
            any_rule |= rule_of[k][r]
        score += any_rule + 0.001 * rule_of[k].get("round", np.zeros(shape, dtype=bool))
    return score, rule_of


def feasible_splits(n: int, printed: dict[str, Printed], rules: Sequence[str],
                    candidates: Sequence[int] | None = None) -> list[int]:
    """Numbers of positives ``n_pos`` (of ``n``; only ``candidates`` when given) for which some
    confusion matrix reproduces every printed rate."""
    given = {k: v for k, v in printed.items() if v is not None}
    out = []
    for n_pos in (range(1, n) if candidates is None else sorted(set(candidates))):
        grid = _metric_grid(n_pos, n - n_pos)
        score, _ = _score_grid(grid, given, rules)
        if np.floor(score.max() + 1e-9) >= len(given):
            out.append(n_pos)
    return out


def recover_confusion_any_split(n: int, printed: dict[str, Printed], rules: Sequence[str],
                                candidates: Sequence[int] | None = None) -> tuple[list[dict], list[int]]:
    """:func:`recover_confusion` when only the total ``n`` is printed: every split is tried (or
    the ``candidates`` numbers of positives, e.g. both orientations of two known class sizes).

    Returns the records (at the first split that reproduces every rate, or at the best split)
    and the list of feasible numbers of positives.
    """
    given = {k: v for k, v in printed.items() if v is not None}
    splits = feasible_splits(n, given, rules, candidates)
    if splits:
        recs = recover_confusion(splits[0], n - splits[0], given, rules)
        which = (f"n_pos = {splits[0]} of n = {n}" if len(splits) == 1 else
                 f"{len(splits)} splits of n = {n} fit (n_pos in {fmt_ranges(splits)}); the first is shown")
        for r in recs:
            r["note"] = "; ".join(x for x in (r["note"], f"split not printed: {which}") if x)
        return recs, splits
    best, best_score = 1, -1.0
    for n_pos in (range(1, n) if candidates is None else sorted(set(candidates))):
        score, _ = _score_grid(_metric_grid(n_pos, n - n_pos), given, rules)
        if score.max() > best_score:
            best, best_score = n_pos, float(score.max())
    recs = recover_confusion(best, n - best, given, rules)
    for r in recs:
        r["note"] = "; ".join(x for x in (r["note"], f"no split of n = {n}"
                                           + ("" if candidates is None else f" (n_pos in {sorted(set(candidates))})")
                                           + f" reproduces every printed rate; best n_pos = {best}") if x)
    return recs, []


def fmt_ranges(values: Sequence[int]) -> str:
    """1, 2, 3, 7 -> "1-3, 7"."""
    out, start, prev = [], None, None
    for v in list(values) + [None]:
        if start is None:
            start = prev = v
        elif v is not None and v == prev + 1:
            prev = v
        else:
            out.append(f"{start}" if start == prev else f"{start}-{prev}")
            start = prev = v
    return ", ".join(out)


def check_confusion_counts(tp: int, fn: int, fp: int, tn: int, printed: dict[str, Printed],
                           rules: Sequence[str], *, n_pos: int | None = None, n_neg: int | None = None,
                           n: int | None = None) -> list[dict]:
    """Printed rates against a printed confusion matrix, and the matrix against the cohort size."""
    m = _metrics_exact(tp, fn, fp, tn)
    cm = f"TP={tp}, FN={fn}, FP={fp}, TN={tn}"
    out = []
    for k, pv in printed.items():
        if pv is None:
            continue
        val = m[k] * printed_scale(pv)
        rule = matches(m[k], pv, rules, printed_scale(pv))
        if rule:
            out.append(record(k, pv, "reproduced", recomputed=val, method=f"printed confusion matrix {cm}{_rule_text(rule)}"))
        else:
            out.append(record(k, pv, "not reproduced", recomputed=val, closest_candidate=f"printed confusion matrix {cm}",
                              closest_value=val))
    if n_pos is not None:
        for name, got, want in (("positives", tp + fn, n_pos), ("negatives", fp + tn, n_neg)):
            out.append(check_total([got], want, group=name) | {"quantity": f"{name} (TP+FN)" if name == "positives"
                                                                 else f"{name} (FP+TN)",
                                                                 "method": f"{cm}"})
    elif n is not None:
        out.append(check_total([tp, fn, fp, tn], n, group="all") | {"quantity": "cases (TP+FN+FP+TN)", "method": cm})
    return out


def _metrics_exact(tp: int, fn: int, fp: int, tn: int) -> dict[str, float]:
    def div(a: float, b: float) -> float:
        return a / b if b else float("nan")
    return {"sensitivity": div(tp, tp + fn), "specificity": div(tn, tn + fp), "ppv": div(tp, tp + fp),
            "npv": div(tn, tn + fn), "accuracy": div(tp + tn, tp + fn + fp + tn), "f1": div(2 * tp, 2 * tp + fp + fn)}


def accuracy_between(printed: dict[str, Printed]) -> dict | None:
    """Accuracy is a weighted mean of sensitivity and specificity: it lies between them whatever the
    (unprinted) numbers of positives and negatives. Returns the accuracy's record, or None."""
    acc, sen, spe = printed.get("accuracy"), printed.get("sensitivity"), printed.get("specificity")
    if acc is None or sen is None or spe is None:
        return None
    a_lo, a_hi = (v / printed_scale(acc) for v in acc.interval)
    lo = min(sen.interval[0] / printed_scale(sen), spe.interval[0] / printed_scale(spe))
    hi = max(sen.interval[1] / printed_scale(sen), spe.interval[1] / printed_scale(spe))
    if a_hi < lo - 1e-12 or a_lo > hi + 1e-12:
        return record("accuracy", acc, "not reproduced", method="accuracy between sensitivity and specificity",
                      note=f"impossible: accuracy = (sens n_pos + spec n_neg)/n lies between sensitivity {sen} "
                           f"and specificity {spe} for any n")
    return record("accuracy", acc, "not derivable", method="accuracy between sensitivity and specificity: consistent",
                  note="the numbers of positives and negatives are not printed")


def check_metric_cis(cis: dict[str, tuple[Printed, Printed]], printed: dict[str, Printed],
                     counts: tuple[int, int, int, int] | None, level: float, rules: Sequence[str],
                     stated: str | None) -> list[dict]:
    """Printed CIs of sensitivity, specificity, PPV, NPV, accuracy.

    With a confusion matrix (printed, or recovered from the rates) the exact (Clopper-Pearson) and
    Wilson intervals of the metric's proportion are tried via
    :func:`her2stats.stats.diagnostics.binomial_ci`. A bootstrap interval (or any other) needs the
    data: its bounds are checked for plausibility only (in [0, 1], ordered, containing the estimate).
    """
    from ..stats.diagnostics import binomial_ci

    out = []
    for k, (lo, hi) in cis.items():
        est = printed.get(k)
        scale = printed_scale(est) if est is not None else 1.0
        problems = interval_problems(est, (lo, hi), (0.0, 1.0), scale)
        tried = {}
        if counts is not None and k != "f1" and not problems:
            tp, fn, fp, tn = counts
            x, n = {"sensitivity": (tp, tp + fn), "specificity": (tn, tn + fp), "ppv": (tp, tp + fp),
                    "npv": (tn, tn + fn), "accuracy": (tp + tn, tp + fn + fp + tn)}[k]
            if n > 0:
                for method, label in (("exact", "Clopper-Pearson"), ("wilson", "Wilson")):
                    b_lo, b_hi = binomial_ci(x, n, method=method, level=level, engine="python")
                    tried[label] = (float(b_lo[0]), float(b_hi[0]))
        hit = next(((lab, b) for lab, b in tried.items()
                    if matches(b[0], lo, rules, scale) and matches(b[1], hi, rules, scale)), None)
        listing = "; ".join(f"{lab} {fmt_number(b[0], 3)}-{fmt_number(b[1], 3)}" for lab, b in tried.items())
        for i, (which, b) in enumerate((("CI lower", lo), ("CI upper", hi))):
            if problems:
                out.append(record(which, b, "not reproduced", level=k, method=f"{k} CI plausibility",
                                  note="impossible: " + "; ".join(problems)))
            elif hit:
                out.append(record(which, b, "reproduced", level=k, recomputed=hit[1][i] * scale,
                                  method=f"{hit[0]} interval of {k}", note=listing))
            else:
                out.append(record(which, b, "not derivable", level=k, method=f"{k} CI plausibility: consistent",
                                  note=(f"stated: {stated}; " if stated else "") + (f"binomial intervals: {listing}; " if listing else "")
                                  + "a bootstrap interval needs the data"))
    return out
