"""Compiled numerical kernels shared by the statistics modules (numba, ``cache=True``).

Only loops that numpy cannot vectorise live here; each kernel is a private helper of one public
function and is tested through it against R and against a brute-force reference:

* :func:`concordance_pairs` - Harrell's (and time-weighted, e.g. Uno's) concordance pair counts
  and per-subject influence counts in O(n log n) with a Fenwick (binary indexed) tree over the
  ranks of the risk score, the algorithm of ``survival::concordance`` (Therneau's
  ``concordance3``), instead of comparing all pairs.
* :func:`delong_placements` - DeLong placement values from one argsort of the scores.
* :func:`cox_terms` - Cox partial likelihood, score and information (Breslow / Efron) in one
  sweep over the sorted times, the algorithm of survival's ``coxfit6``.

``cache=True`` stores the machine code beside this file (``__pycache__``), so only the first
call on a fresh installation pays the compilation (about 1-3 s per kernel).
"""
from __future__ import annotations

import numpy as np
from numba import njit


# --------------------------------------------------------------------------- Fenwick tree
@njit(cache=True, inline="always")
def _fw_add(tree: np.ndarray, pos: int, value: float) -> None:
    """Add ``value`` at 0-based ``pos``."""
    i = pos + 1
    size = tree.shape[0]
    while i < size:
        tree[i] += value
        i += i & (-i)


@njit(cache=True, inline="always")
def _fw_below(tree: np.ndarray, pos: int) -> float:
    """Sum over 0-based positions ``< pos``."""
    s = 0.0
    i = pos
    while i > 0:
        s += tree[i]
        i -= i & (-i)
    return s


@njit(cache=True, error_model="numpy")
def concordance_pairs(order: np.ndarray, t: np.ndarray, e: np.ndarray, rank: np.ndarray, n_rank: int,
                      w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pair counts and influence counts of right-censored concordance.

    ``order`` sorts ``t`` ascending; ``rank`` is the dense 0-based rank of the risk score;
    ``w`` the weight of each subject as the earlier event of a pair (1 for Harrell's C, the
    time weight ``1/G^2`` for Uno's C, 0 after ``ymax``). A pair (i, j) with an event at t_i is
    comparable when t_j > t_i, or t_j == t_i and j is censored; concordant when i has the
    higher risk. Returns ``counts`` (concordant, discordant, tied.x, tied.y, tied.xy; tied.y
    pairs counted once) and ``infl`` (n x 5): each comparable pair adds ``w_i`` to both
    subjects' concordant / discordant / tied.x column, a tied-on-y pair ``w_i`` to i's own
    tied.y / tied.xy column (it is seen from both deaths).
    """
    n = t.shape[0]
    counts = np.zeros(5)
    infl = np.zeros((n, 5))
    tree = np.zeros(n_rank + 1)
    same = np.zeros(n_rank)   # exact per-rank totals (tied.x needs no subtraction)
    scratch = np.zeros(n_rank, dtype=np.int64)
    # pass 1, time descending: each event against the subjects later than it (counts)
    total = 0.0
    hi = n - 1
    while hi >= 0:
        tk = t[order[hi]]
        lo = hi
        while lo > 0 and t[order[lo - 1]] == tk:
            lo -= 1
        n_dead = 0
        for q in range(lo, hi + 1):   # censorings at tk are at risk beyond the deaths at tk
            j = order[q]
            if e[j] == 0:
                _fw_add(tree, rank[j], 1.0)
                same[rank[j]] += 1.0
                total += 1.0
            else:
                n_dead += 1
                scratch[rank[j]] += 1
        if n_dead:
            for q in range(lo, hi + 1):
                i = order[q]
                if e[i] == 1:
                    wi = w[i]
                    r = rank[i]
                    below = _fw_below(tree, r)
                    eq = same[r]
                    above = total - below - eq
                    infl[i, 0] += below * wi
                    infl[i, 1] += above * wi
                    infl[i, 2] += eq * wi
                    counts[0] += below * wi
                    counts[1] += above * wi
                    counts[2] += eq * wi
                    txy = scratch[r] - 1
                    ty = n_dead - 1 - txy
                    infl[i, 3] += ty * wi
                    infl[i, 4] += txy * wi
                    counts[3] += 0.5 * ty * wi
                    counts[4] += 0.5 * txy * wi
            for q in range(lo, hi + 1):
                j = order[q]
                if e[j] == 1:
                    scratch[rank[j]] = 0
                    _fw_add(tree, rank[j], 1.0)
                    same[rank[j]] += 1.0
                    total += 1.0
        hi = lo - 1
    # pass 2, time ascending: each subject as the later member of the pairs of earlier events
    tree[:] = 0.0
    same[:] = 0.0
    wtotal = 0.0
    lo = 0
    while lo < n:
        tk = t[order[lo]]
        hi = lo
        while hi < n - 1 and t[order[hi + 1]] == tk:
            hi += 1
        for q in range(lo, hi + 1):   # a death at tk is later than the events strictly before tk
            j = order[q]
            if e[j] == 1:
                r = rank[j]
                below = _fw_below(tree, r)
                eq = same[r]
                infl[j, 0] += wtotal - below - eq   # earlier event with higher risk: concordant
                infl[j, 1] += below
                infl[j, 2] += eq
        for q in range(lo, hi + 1):
            i = order[q]
            if e[i] == 1:
                _fw_add(tree, rank[i], w[i])
                same[rank[i]] += w[i]
                wtotal += w[i]
        for q in range(lo, hi + 1):   # a censoring at tk is later than the deaths at tk too
            j = order[q]
            if e[j] == 0:
                r = rank[j]
                below = _fw_below(tree, r)
                eq = same[r]
                infl[j, 0] += wtotal - below - eq
                infl[j, 1] += below
                infl[j, 2] += eq
        lo = hi + 1
    return counts, infl


# --------------------------------------------------------------------------- DeLong
@njit(cache=True, error_model="numpy")
def delong_placements(order: np.ndarray, s: np.ndarray, y: np.ndarray, n_pos: int, n_neg: int) -> np.ndarray:
    """Placement value of every subject from ``order`` = argsort(s).

    A case's placement is the share of controls below it (ties count 1/2); a control's is the
    share of cases above it. One gather into sorted order, one walk over the groups of equal
    scores, one scatter back (three passes over memory; the argsort is the real cost).
    """
    n = s.shape[0]
    zs = np.empty(n)
    ys = np.empty(n, dtype=np.int8)
    for q in range(n):
        k = order[q]
        zs[q] = s[k]
        ys[q] = y[k]
    placed = np.empty(n)
    cases_before = 0
    ctrls_before = 0
    lo = 0
    while lo < n:
        x = zs[lo]
        hi = lo
        cases_in = 0
        while hi < n and zs[hi] == x:
            cases_in += ys[hi]
            hi += 1
        ctrls_in = (hi - lo) - cases_in
        p_case = (ctrls_before + 0.5 * ctrls_in) / n_neg
        p_ctrl = 1.0 - (cases_before + 0.5 * cases_in) / n_pos
        for q in range(lo, hi):
            placed[q] = p_case if ys[q] == 1 else p_ctrl
        cases_before += cases_in
        ctrls_before += ctrls_in
        lo = hi
    v = np.empty(n)
    for q in range(n):
        v[order[q]] = placed[q]
    return v


# --------------------------------------------------------------------------- Cox partial likelihood
@njit(cache=True, error_model="numpy")
def cox_terms(t: np.ndarray, e: np.ndarray, Xc: np.ndarray, beta: np.ndarray, efron: bool, need_info: bool
              ) -> tuple[float, np.ndarray, np.ndarray]:
    """Log partial likelihood, score and information of a Cox model at ``beta``, O(n p^2).

    Rows are sorted by time (deaths first at equal times). A backward sweep keeps the risk-set
    sums ``S0 = sum w``, ``S1 = sum w x`` (w = exp(x'b)); the d deaths at a time give d terms
    with Efron fraction ``f = l/d`` (Breslow: 0): ``den = S0 - f D0``, ``mu = (S1 - f D1)/den``
    (``D*`` the deaths' own sums), loglik ``-= log den``, score ``-= mu``. The information
    ``sum_terms (S2 - f D2)/den - mu mu'`` needs no running ``S2``: since the risk set of an
    event time is every row from its first one on, ``sum_k a_k S2_k = sum_i w_i A_i x_i x_i'``
    with ``a_k = sum_l 1/den`` and ``A_i`` the running sum of ``a`` up to row i (likewise the
    Efron part, ``b_k = sum_l f/den``, on the deaths' rows), one weighted cross-product.
    """
    n, p = Xc.shape
    eta = np.empty(n)
    w = np.empty(n)
    n_dead = 0
    for i in range(n):
        s = 0.0
        for a in range(p):
            s += Xc[i, a] * beta[a]
        eta[i] = s
        w[i] = np.exp(s)
        n_dead += e[i]
    S1 = np.zeros(p)
    D1 = np.zeros(p)
    score = np.zeros(p)
    M = np.empty((n_dead, p))       # mu of each death's term
    a_first = np.zeros(n)           # sum_l 1/den, at the first row of its event time
    b_dead = np.zeros(n)            # sum_l f/den, at each death's row
    S0 = 0.0
    loglik = 0.0
    slot = n_dead
    hi = n - 1
    while hi >= 0:
        tk = t[hi]
        lo = hi
        while lo > 0 and t[lo - 1] == tk:
            lo -= 1
        D0 = 0.0
        d = 0
        for a in range(p):
            D1[a] = 0.0
        for i in range(lo, hi + 1):
            wi = w[i]
            S0 += wi
            for a in range(p):
                S1[a] += wi * Xc[i, a]
            if e[i] == 1:
                d += 1
                D0 += wi
                loglik += eta[i]
                for a in range(p):
                    D1[a] += wi * Xc[i, a]
                    score[a] += Xc[i, a]
        if d:
            a_sum = 0.0
            b_sum = 0.0
            for l in range(d):
                f = l / d if efron else 0.0
                den = S0 - f * D0
                loglik -= np.log(den)
                a_sum += 1.0 / den
                b_sum += f / den
                slot -= 1
                for a in range(p):
                    m_a = (S1[a] - f * D1[a]) / den
                    M[slot, a] = m_a
                    score[a] -= m_a
            a_first[lo] = a_sum
            for i in range(lo, lo + d):   # the deaths are the group's first rows
                b_dead[i] = b_sum
        hi = lo - 1
    info = np.zeros((p, p))
    if need_info:
        A = 0.0
        for i in range(n):
            A += a_first[i]
            c = w[i] * (A - b_dead[i])
            for a in range(p):
                v = c * Xc[i, a]
                for b in range(p):
                    info[a, b] += v * Xc[i, b]
        for k in range(n_dead):
            for a in range(p):
                v = M[k, a]
                for b in range(p):
                    info[a, b] -= v * M[k, b]
    return loglik, score, info


def cox_mle_is_finite(time: np.ndarray, event: np.ndarray, X: np.ndarray, max_iter: int = 40) -> bool:
    """True when Newton-Raphson on the Cox partial likelihood (Breslow) reaches a finite maximum.

    A cheap sufficient condition for "no monotone likelihood" that spares the linear program of
    :func:`._fitcheck.cox_monotone_likelihood` (O(n) rows, seconds to minutes at n = 1e5) in the
    usual case. The log partial likelihood is concave; at a point where the Newton step has
    vanished (``max |I^-1 U| < 1e-9`` on standardised columns) with a well-conditioned,
    positive-definite information and bounded standardised coefficients (``|b_j| <= 25``), it
    has its finite maximum, and then no direction ``d`` of monotone increase exists (``l`` would
    be constant along ``d`` from the maximum, so ``d'I d = 0``). Under monotone likelihood the
    Newton steps never vanish (score and information decay together along the diverging
    direction), so the answer is False and the caller runs the exact check. False is also
    returned whenever anything is doubtful; only True skips work.
    """
    t = np.asarray(time, dtype=float)
    e = np.asarray(event, dtype=float)
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[1] == 0 or not np.any(e == 1) or not np.all(np.isfinite(X)):
        return False
    sd = X.std(axis=0)
    if np.any(sd <= 0):
        return False
    order = np.lexsort((-e, t))
    ts = np.ascontiguousarray(t[order])
    es = np.ascontiguousarray(e[order].astype(np.int64))
    Z = np.ascontiguousarray((X[order] - X.mean(axis=0)) / sd)
    beta = np.zeros(Z.shape[1])
    loglik, score, info = cox_terms(ts, es, Z, beta, False, True)
    for _ in range(max_iter):
        try:
            step = np.linalg.solve(info, score)
        except np.linalg.LinAlgError:
            return False
        if not np.all(np.isfinite(step)):
            return False
        if np.max(np.abs(step)) < 1e-9:
            if np.max(np.abs(beta)) > 25:
                return False
            ev = np.linalg.eigvalsh(info)
            return bool(ev[0] > 1e-8 * ev[-1] and ev[0] > 0)
        for _half in range(30):
            new = beta + step
            ll_new, sc_new, in_new = cox_terms(ts, es, Z, new, False, True)
            if np.isfinite(ll_new) and ll_new >= loglik - 1e-10 * max(1.0, abs(loglik)):
                break
            step = step / 2
        else:
            return False
        beta, loglik, score, info = new, ll_new, sc_new, in_new
        if np.max(np.abs(beta)) > 50:
            return False
    return False


@njit(cache=True, error_model="numpy")
def residual_norms(Xt: np.ndarray) -> np.ndarray:
    """Norm of each column's part orthogonal to all earlier columns (``|R_jj|`` of a QR), by
    Gram-Schmidt applied twice (as accurate as Householder); ``Xt`` holds the columns as rows.
    No BLAS: the designs are thin (p << n) and a threaded LAPACK call costs more than the work."""
    p, n = Xt.shape
    Q = np.zeros((p, n))
    out = np.zeros(p)
    r = np.empty(n)
    for j in range(p):
        for i in range(n):
            r[i] = Xt[j, i]
        for _ in range(2):
            for k in range(j):
                c = 0.0
                for i in range(n):
                    c += Q[k, i] * r[i]
                for i in range(n):
                    r[i] -= c * Q[k, i]
        nr = 0.0
        for i in range(n):
            nr += r[i] * r[i]
        nr = np.sqrt(nr)
        out[j] = nr
        if nr > 0.0:
            for i in range(n):
                Q[j, i] = r[i] / nr
    return out
