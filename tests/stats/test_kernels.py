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
from her2stats.stats.survival import _concordance_counts, _concordance_numpy, concordance_index
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
