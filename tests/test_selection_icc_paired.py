"""PairedICCFilter (the study runner's ICC step: the second segmentation travels with X) against
ICCFilter on the same repeated measurements, and the mask perturbation behind the demo's second
segmentation (Zwanenburg et al. 2019 Sci Rep 9:614)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from her2stats.errors import InputError
from her2stats.imaging import perturb_mask
from her2stats.selection import ICCFilter, PairedICCFilter
from her2stats.selection.icc import SECOND_SEGMENTATION_SUFFIX as SFX


def _paired(n=40, p=12, seed=0):
    """p features of n cases measured twice; feature j's measurement noise grows with j, so the
    ICCs spread from ~1 to ~0."""
    rng = np.random.default_rng(seed)
    truth = rng.normal(size=(n, p))
    noise = np.linspace(0.05, 3.0, p)
    a = truth + rng.normal(size=(n, p)) * noise
    b = truth + rng.normal(size=(n, p)) * noise
    names = [f"f{j:02d}" for j in range(p)]
    X = pd.DataFrame(a, columns=names, index=[f"P{i}" for i in range(n)])
    X2 = pd.DataFrame(b, columns=[c + SFX for c in names], index=X.index)
    return X.join(X2), names


def _long(X, names):
    first = X[names].assign(case_id=X.index, rater=1)
    second = X[[c + SFX for c in names]].set_axis(names, axis=1).assign(case_id=X.index, rater=2)
    return pd.concat([first, second], ignore_index=True)


@pytest.mark.parametrize("kind", ["ICC2,1", "ICC3,1", "ICC1,1"])
@pytest.mark.parametrize("comparison", [">=", ">"])
def test_paired_filter_equals_iccfilter_on_the_same_rows(kind, comparison):
    X, names = _paired()
    rows = X.index[:30]
    got = PairedICCFilter(threshold=0.75, comparison=comparison, kind=kind).fit(X.loc[rows])
    want = ICCFilter(threshold=0.75, comparison=comparison, kind=kind).fit(_long(X.loc[rows], names))
    np.testing.assert_allclose(got.icc_.loc[names].to_numpy(), want.icc_.loc[names].to_numpy(), rtol=0, atol=1e-12)
    assert list(got.report_["kept"]) == list(want.report_.set_index("feature").loc[names, "kept"])
    kept = [f for f, k in zip(names, want.support_) if k]
    assert 0 < len(kept) < len(names)  # the data spread the ICCs across the threshold
    assert list(got.transform(X).columns) == kept


def test_comparison_at_a_tie():
    """A feature whose ICC equals the threshold exactly is kept by '>=' and dropped by '>'."""
    X, names = _paired()
    icc = PairedICCFilter(threshold=0.0).fit(X).icc_
    tie = float(icc["f03"])
    ge = PairedICCFilter(threshold=tie, comparison=">=").fit(X)
    gt = PairedICCFilter(threshold=tie, comparison=">").fit(X)
    assert "f03" in ge.get_feature_names_out() and "f03" not in gt.get_feature_names_out()
    assert set(ge.get_feature_names_out()) - set(gt.get_feature_names_out()) == {"f03"}


def test_rows_outside_the_fit_change_nothing_and_the_fold_refit_differs():
    """Only the rows given to fit enter the ICC: changing another row's second measurement changes
    nothing; a pipeline clone refitted on a training fold computes the fold's own ICCs."""
    X, names = _paired()
    train, test = X.index[:30], X.index[30:]
    base = PairedICCFilter(threshold=0.5).fit(X.loc[train])
    Xm = X.copy()
    Xm.loc[test, [c + SFX for c in names]] = 1e3 * np.random.default_rng(1).normal(size=(len(test), len(names)))
    again = PairedICCFilter(threshold=0.5).fit(Xm.loc[train])
    pd.testing.assert_series_equal(base.icc_, again.icc_)
    np.testing.assert_array_equal(base.transform(Xm).to_numpy(), base.transform(X).to_numpy())
    fold = clone(base).fit(X.loc[train[:20]])
    assert not np.allclose(fold.icc_.to_numpy(), base.icc_.to_numpy())
    leaky = PairedICCFilter(threshold=0.5).fit(Xm)  # what a step that saw the test rows would give
    assert not np.allclose(leaky.icc_.to_numpy(), base.icc_.to_numpy())


def test_passthrough_and_transform_without_second_columns():
    X, names = _paired()
    X = X.assign(batch=np.arange(len(X)) % 2)
    f = PairedICCFilter(threshold=0.8).fit(X)
    assert f.passthrough_ == ["batch"]
    out = f.transform(X[names + ["batch"]])  # the second segmentation is needed by fit only
    assert out.columns[-1] == "batch" and not any(str(c).endswith(SFX) for c in out.columns)


def test_paired_filter_refusals_name_the_problem():
    X, names = _paired()
    with pytest.raises(InputError, match="no feature of X has a second-segmentation column"):
        PairedICCFilter().fit(X[names])
    with pytest.raises(InputError, match="f00~seg2.*no first-segmentation"):
        PairedICCFilter().fit(X.drop(columns=["f00"]))
    with pytest.raises(InputError, match="comparison must be"):
        PairedICCFilter(comparison="=>").fit(X)
    with pytest.raises(InputError, match="DataFrame"):
        PairedICCFilter().fit(X.to_numpy())


def test_perturb_mask_in_plane_and_3d():
    m = np.zeros((5, 9, 9), bool)
    m[1:4, 2:7, 2:7] = True  # 3 slices of 5 x 5
    er = perturb_mask(m, "erode", 1)
    assert er.sum() == 3 * 9 and er[0].sum() == 0  # 3 x 3 left on each slice, no slice lost
    di = perturb_mask(m, "dilate", 1)
    assert di.sum() == 3 * (25 + 4 * 5) and di[0].sum() == 0  # grows in-plane only
    assert perturb_mask(m, "erode", 1, in_plane=False).sum() == 9  # the 6-neighbour element also trims slices
    with pytest.raises(InputError, match="empties the mask"):
        perturb_mask(m, "erode", 3)
    with pytest.raises(InputError, match="operation must be"):
        perturb_mask(m, "open", 1)
    with pytest.raises(InputError, match="positive integer"):
        perturb_mask(m, "dilate", 0)
