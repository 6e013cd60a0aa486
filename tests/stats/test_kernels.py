"""The O(n log n) kernels (her2stats/stats/_kernels.py) against brute-force references.

Harrell's and Uno's concordance: the Fenwick-tree sweeps give the same pair counts, influence
counts, C and infinitesimal-jackknife SE as counting all n^2 pairs (the previous implementation,
kept here as the reference), to 1e-12, on data with tied times, tied scores, censorings tied with
deaths, weights and weights of 0 (events after tau). DeLong placements: the same values as the
definition (share of controls below each case, ties 1/2). R parity of the public functions is in
test_survival.py, test_survival_metrics.py and test_roc.py.
"""
from __future__ import annotations

import numpy as np
import pytest

from her2stats.stats._kernels import delong_placements
from her2stats.stats.concordance import _concordance_counts, _concordance_numpy, concordance_index
from her2stats.stats.survival_metrics import _uno_c, uno_concordance


def _pairs_reference(t, e, risk, w=None):
    """All-pairs counts (concordant, discordant, tied.x, tied.y, tied.xy) and influence counts."""
    n = len(t)
    w = np.ones(n) if w is None else w
    counts = np.zeros(5)
    infl = np.zeros((n, 5))
    for i in np.flatnonzero(e == 1):
        for j in range(n):
            if j == i:
                continue
            later = t[j] > t[i] or (t[j] == t[i] and e[j] == 0)
            if later:
                k = 0 if risk[i] > risk[j] else 1 if risk[i] < risk[j] else 2
                counts[k] += w[i]
                infl[i, k] += w[i]
                infl[j, k] += w[i]
            elif t[j] == t[i] and e[j] == 1:
                k = 4 if risk[i] == risk[j] else 3
                counts[k] += w[i] / 2
                infl[i, k] += w[i]
    return counts, infl


def _random_survival(rng, n, tied_scores):
    t = rng.integers(1, max(3, n // 4), n).astype(float)   # many tied times
    e = (rng.uniform(size=n) < 0.6).astype(int)
    e[0] = 1
    risk = rng.integers(0, 8, n).astype(float) if tied_scores else rng.normal(size=n)
    return t, e, risk


@pytest.mark.parametrize("seed", range(12))
def test_concordance_counts_equal_all_pairs(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 120))
    t, e, risk = _random_survival(rng, n, tied_scores=seed % 2 == 0)
    w = None if seed % 3 == 0 else np.where(e == 1, rng.uniform(1.0, 4.0, n), 0.0) * (rng.uniform(size=n) < 0.8)
    counts, infl = _concordance_counts(t, e, risk, event_weight=w)
    ref_counts, ref_infl = _pairs_reference(t, e, risk, w)
    np.testing.assert_allclose(counts, ref_counts, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(infl, ref_infl, rtol=1e-12, atol=1e-12)
    if ref_counts[:3].sum() > 0:
        out = _concordance_numpy(t, e, risk, event_weight=w)
        npair = ref_counts[:3].sum()
        somer = (ref_counts[0] - ref_counts[1]) / npair
        dfbeta = (ref_infl[:, 0] - ref_infl[:, 1]) / npair - (somer / npair) * ref_infl[:, :3].sum(axis=1)
        assert out["concordance"] == pytest.approx((somer + 1) / 2, abs=1e-12)
        assert np.sqrt(out["var"]) == pytest.approx(np.sqrt(np.sum(dfbeta ** 2) / 4), abs=1e-12)


def test_concordance_public_functions_on_a_larger_sample():
    """n = 600 with ties in both time and score: Harrell's C and SE, Uno's C (with and without
    tau) and its SE equal the all-pairs reference to 1e-12."""
    rng = np.random.default_rng(42)
    n = 600
    t = np.round(rng.exponential(300, n)) + 1.0
    e = (rng.uniform(size=n) < 0.7).astype(int)
    risk = np.round(rng.normal(size=n), 1)
    res = concordance_index(t, e, risk, engine="python")
    ref_counts, ref_infl = _pairs_reference(t, e, risk)
    npair = ref_counts[:3].sum()
    assert res.concordance == pytest.approx((ref_counts[0] + ref_counts[2] / 2) / npair, abs=1e-12)
    assert (res.concordant, res.discordant, res.tied_x, res.tied_y, res.tied_xy) == tuple(ref_counts)
    for tau in (None, float(np.median(t))):
        uno = uno_concordance(t, e, risk, tau=tau, engine="python")
        from her2stats.stats.survival_metrics import _uno_weights

        w = _uno_weights(t, e, tau, True)
        c_ref, i_ref = _pairs_reference(t, e, risk, w)
        npair = c_ref[:3].sum()
        somer = (c_ref[0] - c_ref[1]) / npair
        dfbeta = (i_ref[:, 0] - i_ref[:, 1]) / npair - (somer / npair) * i_ref[:, :3].sum(axis=1)
        assert uno.concordance == pytest.approx((c_ref[0] + c_ref[2] / 2) / npair, abs=1e-12)
        assert uno.se == pytest.approx(np.sqrt(np.sum(dfbeta ** 2) / 4), abs=1e-12)
        assert _uno_c(t, e, risk, tau, True) == pytest.approx(uno.concordance, abs=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_delong_placements_equal_definition(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(4, 300))
    y = (rng.uniform(size=n) < 0.4).astype(np.int8)
    y[:2] = [0, 1]
    s = np.round(rng.normal(size=n), 1 if seed % 2 else 6)
    pos, neg = s[y == 1], s[y == 0]
    v = delong_placements(np.argsort(s), s, y, len(pos), len(neg))
    v10 = np.array([(np.sum(neg < x) + 0.5 * np.sum(neg == x)) / len(neg) for x in pos])
    v01 = np.array([(np.sum(pos > x) + 0.5 * np.sum(pos == x)) / len(pos) for x in neg])
    np.testing.assert_allclose(v[y == 1], v10, atol=1e-15)
    np.testing.assert_allclose(v[y == 0], v01, atol=1e-15)


def _cox_terms_reference(t, e, X, beta, efron):
    """Partial likelihood, score and information straight from the definition (loops over event
    times, Efron's l/d fractions), for the compiled sweep to be checked against."""
    eta = X @ beta
    w = np.exp(eta)
    p = X.shape[1]
    ll, U, info = 0.0, np.zeros(p), np.zeros((p, p))
    for tk in np.unique(t[e == 1]):
        risk = t >= tk
        dead = (t == tk) & (e == 1)
        d = int(dead.sum())
        S0, S1 = w[risk].sum(), (w[risk, None] * X[risk]).sum(axis=0)
        S2 = (w[risk, None, None] * X[risk, :, None] * X[risk, None, :]).sum(axis=0)
        D0, D1 = w[dead].sum(), (w[dead, None] * X[dead]).sum(axis=0)
        D2 = (w[dead, None, None] * X[dead, :, None] * X[dead, None, :]).sum(axis=0)
        ll += eta[dead].sum()
        U += X[dead].sum(axis=0)
        for l in range(d):
            f = l / d if efron else 0.0
            den = S0 - f * D0
            mu = (S1 - f * D1) / den
            ll -= np.log(den)
            U -= mu
            info += (S2 - f * D2) / den - np.outer(mu, mu)
    return ll, U, info


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_cox_terms_equal_the_definition(ties):
    from her2stats.stats.cox import _CoxData

    rng = np.random.default_rng(11)
    n, p = 150, 3
    t = rng.integers(1, 30, n).astype(float)        # many tied death times
    e = (rng.uniform(size=n) < 0.7).astype(int)
    X = rng.normal(size=(n, p))
    beta = np.array([0.3, -0.2, 0.1])
    cd = _CoxData(t, e, X, ties)
    fast = cd.terms(beta)
    per_time = cd.terms(beta, per_time=True)      # the vectorised path cox.zph uses
    ll, U, info = _cox_terms_reference(cd.t, cd.e, cd.Xc, beta, ties == "efron")
    for got in (fast, per_time):
        assert got["loglik"] == pytest.approx(ll, rel=1e-12)
        np.testing.assert_allclose(got["score"], U, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(got["info"], info, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(per_time["V_t"].sum(axis=0), info, rtol=1e-10, atol=1e-10)


def test_cox_finite_mle_screen_agrees_with_the_linear_program():
    """The Newton screen says 'finite maximum' only where the exact LP finds no monotone
    likelihood; on a design with monotone likelihood it defers to the LP."""
    from her2stats.stats._fitcheck import cox_monotone_likelihood
    from her2stats.stats._kernels import cox_mle_is_finite

    rng = np.random.default_rng(5)
    n = 300
    t = np.round(rng.exponential(100, n)) + 1.0
    e = (rng.uniform(size=n) < 0.6).astype(int)
    X = rng.normal(size=(n, 3))
    assert cox_mle_is_finite(t, e, X)
    assert cox_monotone_likelihood(t, e, X) is None
    flag = np.zeros(n)
    flag[e == 0] = rng.integers(0, 2, int((e == 0).sum()))   # a level without events: HR -> 0
    Xm = np.column_stack([X, flag])
    assert not cox_mle_is_finite(t, e, Xm)
    assert cox_monotone_likelihood(t, e, Xm) is not None
    # an event-time ordering covariate: every death has the largest x of its risk set
    order_x = -t + 0.0
    assert not cox_mle_is_finite(t, np.ones(n, dtype=int), order_x[:, None] + 0.0 * X[:, :1])


@pytest.mark.parametrize("seed", range(8))
def test_aliased_columns_fast_path_agrees_with_gram_schmidt(seed, monkeypatch):
    from her2stats.stats import _fitcheck

    rng = np.random.default_rng(seed)
    n = 60
    base = rng.normal(size=(n, 4))
    cols = [base[:, 0], base[:, 1], base[:, 0] - 2 * base[:, 1], base[:, 2],
            base[:, 3] + (10 ** -rng.uniform(5, 9)) * rng.normal(size=n), np.full(n, 3.0), base[:, 3]]
    X = np.column_stack([cols[k] for k in rng.permutation(len(cols))])
    fast = _fitcheck.aliased_columns(X)
    from her2stats.stats import _kernels

    monkeypatch.setattr(_kernels, "residual_norms", lambda xt: np.zeros(xt.shape[0]))
    slow = _fitcheck.aliased_columns(X)
    assert fast == slow
    # and a full-rank design takes the fast path to the same empty answer
    assert _fitcheck.aliased_columns(base) == []
