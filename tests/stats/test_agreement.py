"""ICC and kappa: published values (Shrout & Fleiss 1979), pingouin and statsmodels (SAS formula)
references, and R parity (psych::ICC, psych::cohen.kappa).

Tolerances: 1e-9 for every closed-form number (ICC, F, p, F-based CIs, kappa and its SE); the
published ICCs are printed to 2 decimals (0.005); pingouin prints CIs rounded to 2 decimals.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from her2stats.errors import InputError
from her2stats.stats import agreement as A

# Shrout & Fleiss (1979), Table 2: 6 targets rated by 4 judges
SF = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]], float)
SF_PUBLISHED = {"ICC1,1": 0.17, "ICC2,1": 0.29, "ICC3,1": 0.71, "ICC1,k": 0.44, "ICC2,k": 0.62, "ICC3,k": 0.91}
NUMS = ["icc", "F", "df1", "df2", "p_value", "ci_low", "ci_high"]


def _long(wide):
    return pd.DataFrame([(i, j, wide[i, j]) for i in range(wide.shape[0]) for j in range(wide.shape[1])],
                        columns=["lesion", "reader", "value"])


def _ratings(seed=3, n=60):
    rng = np.random.default_rng(seed)
    r1 = rng.integers(0, 4, n)
    r2 = np.clip(r1 + rng.integers(-1, 2, n), 0, 3)
    return r1, r2


def test_icc_shrout_fleiss_published():
    res = A.icc(_long(SF), "lesion", "reader", "value", engine="python")
    for kind, value in SF_PUBLISHED.items():
        assert res.table.set_index("kind").loc[kind, "icc"] == pytest.approx(value, abs=0.005)
    assert res.kind == "ICC2,1" and res.value == pytest.approx(0.29, abs=0.005)
    assert res.n_targets == 6 and res.n_raters == 4 and res.n_excluded == 0


def test_icc_matches_pingouin():
    pg = pytest.importorskip("pingouin")
    rng = np.random.default_rng(1)
    truth = rng.normal(size=40)
    wide = np.column_stack([truth + rng.normal(0, s, 40) + b for s, b in ((0.3, 0), (0.5, 0.2), (0.4, -0.1))])
    ours = A.icc(_long(wide), "lesion", "reader", "value", engine="python").table
    ref = pg.intraclass_corr(_long(wide), "lesion", "reader", "value")
    np.testing.assert_allclose(ours["icc"], ref["ICC"], atol=1e-9)
    np.testing.assert_allclose(ours["F"], ref["F"], atol=1e-9)
    np.testing.assert_allclose(ours["p_value"], ref["pval"], atol=1e-9)
    ci = np.vstack(ref["CI95"].to_numpy())
    np.testing.assert_allclose(ours[["ci_low", "ci_high"]].to_numpy(), ci, atol=0.005 + 1e-12)


def test_icc_many_matches_icc_for_every_kind():
    rng = np.random.default_rng(2)
    values = rng.normal(size=(30, 2, 5)) + rng.normal(size=(30, 1, 5)) * np.arange(5)
    for kind in A.ICC_KINDS:
        many = A.icc_many(values, kind)
        for f in range(5):
            one = A.icc(_long(values[:, :, f]), "lesion", "reader", "value", kind=kind, engine="python")
            assert many[f] == pytest.approx(one.value, abs=1e-12)
    # pingouin names are accepted and a 2-D array is one feature
    assert A.icc_many(values[:, :, 3], "ICC3k")[0] == pytest.approx(A.icc_many(values, "ICC3,k")[3])
    # a constant feature has no between-target variance: NaN (treated as unreproducible)
    values[:, :, 0] = 1.0
    assert np.isnan(A.icc_many(values)[0])


def test_icc_bad_input_and_missing():
    df = _long(SF)
    with pytest.raises(InputError, match="kind"):
        A.icc(df, "lesion", "reader", "value", kind="ICC4")
    with pytest.raises(InputError, match="'nope'"):
        A.icc(df, "nope", "reader", "value")
    with pytest.raises(InputError, match="duplicated"):
        A.icc(pd.concat([df, df.iloc[:1]]), "lesion", "reader", "value")
    with pytest.raises(InputError, match=r"feature\(s\) \[1\]"):
        bad = np.ones((5, 2, 3))
        bad[0, 0, 1] = np.nan
        A.icc_many(bad)
    df.loc[0, "value"] = np.nan
    res = A.icc(df, "lesion", "reader", "value", engine="python")
    assert res.n_excluded == 1 and res.n_targets == 5


def test_kappa_matches_statsmodels_sas_formula():
    from statsmodels.stats.inter_rater import cohens_kappa

    r1, r2 = _ratings()
    table = np.zeros((4, 4))
    np.add.at(table, (r1, r2), 1)
    for weights in (None, "linear", "quadratic"):
        ours = A.kappa(r1, r2, weights=weights, engine="python")
        ref = cohens_kappa(table, wt=weights)
        assert ours.kappa == pytest.approx(ref.kappa, abs=1e-12)
        assert ours.se == pytest.approx(ref.std_kappa, abs=1e-12)


def test_kappa_hand_example_and_input():
    # perfect agreement except one pair: po = 0.9, pe = 0.5 -> kappa = 0.8
    r1 = ["neg"] * 5 + ["pos"] * 5
    r2 = ["neg"] * 5 + ["pos"] * 4 + ["neg"]
    res = A.kappa(r1, r2, engine="python")
    po, pe = 0.9, (0.5 * 0.6 + 0.5 * 0.4)
    assert res.kappa == pytest.approx((po - pe) / (1 - pe), abs=1e-12)
    res = A.kappa(r1 + [None], r2 + ["pos"], engine="python")
    assert res.n_excluded == 1 and res.n == 10
    with pytest.raises(InputError, match="length"):
        A.kappa([1, 2], [1, 2, 3])
    with pytest.raises(InputError, match="not in categories"):
        A.kappa([1, 2, 3], [1, 2, 2], categories=[1, 2])
    # unused categories still shape the weights
    assert A.kappa([0, 1, 1, 0], [0, 1, 0, 0], weights="linear", categories=[0, 1, 2]).categories == (0, 1, 2)


@pytest.mark.r
def test_icc_parity_psych():
    rng = np.random.default_rng(7)
    truth = rng.normal(size=25)
    for wide in (SF, np.column_stack([truth + rng.normal(0, 0.5, 25) for _ in range(2)])):
        a = A.icc(_long(wide), "lesion", "reader", "value", engine="python").table
        b = A.icc(_long(wide), "lesion", "reader", "value", engine="r").table
        assert list(a["type"]) == list(b["type"])
        np.testing.assert_allclose(a[NUMS].to_numpy(float), b[NUMS].to_numpy(float), atol=1e-9)


@pytest.mark.r
def test_kappa_parity_psych():
    from her2stats import r_bridge

    r1, r2 = _ratings(seed=8, n=80)
    for weights in (None, "linear", "quadratic"):
        a = A.kappa(r1, r2, weights=weights, engine="python")
        b = A.kappa(r1, r2, weights=weights, engine="r")
        for attr in ("kappa", "se", "ci_low", "ci_high"):
            assert getattr(a, attr) == pytest.approx(getattr(b, attr), abs=1e-9)
    # psych's own unweighted CI (confid[1, ]) is ours
    table = a.table.to_numpy()
    r_bridge.assign("h2s_tmp_tab", table)
    confid = r_bridge.r_eval("psych::cohen.kappa(h2s_tmp_tab)$confid")
    unweighted = A.kappa(r1, r2, engine="python")
    assert [unweighted.ci_low, unweighted.kappa, unweighted.ci_high] == pytest.approx(list(np.asarray(confid)[0]), abs=1e-9)
