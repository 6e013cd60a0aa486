"""Leakage: checkpoint choice, early stopping, hyper-parameter tuning and per-channel statistics of
a trained network never see test or external cases.

Every image the training code reads goes through ``her2stats.training.inputs.read_case``; the
tests replace it with a recorder and check which patients were read during each ``fit``."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("timm")

from her2stats.training import FoldEnsembleClassifier, NetworkClassifier  # noqa: E402
from her2stats.training import inputs as inputs_mod  # noqa: E402

pytestmark = [pytest.mark.deep, pytest.mark.slow]

TINY = dict(backbone="test_resnet", pretrained=False, size=32, margin=5, batch_size=8, seed=5)


class Recorder:
    """Wraps read_case and records the patient id of every case read, in order."""

    def __init__(self, original):
        self.original = original
        self.seen: list[str] = []

    def __call__(self, image_path, mask_path, patient_id, expect_ndim):
        self.seen.append(str(patient_id))
        return self.original(image_path, mask_path, patient_id, expect_ndim)


@pytest.fixture()
def recorder(monkeypatch):
    rec = Recorder(inputs_mod.read_case)
    monkeypatch.setattr(inputs_mod, "read_case", rec)
    return rec


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _split(cases, y, n_test=6, seed=0):
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    test = np.sort(np.r_[rng.choice(pos, 2, replace=False), rng.choice(neg, n_test - 2, replace=False)])
    train = np.setdiff1d(np.arange(len(y)), test)
    return train, test


def test_fit_reads_training_cases_only_and_chooses_on_the_inner_split(demo_cases, recorder):
    cases, y = demo_cases
    train, test = _split(cases, y)
    tr_ids = set(cases["patient_id"].iloc[train])
    te_ids = set(cases["patient_id"].iloc[test])
    net = NetworkClassifier(**TINY, epochs=3, early_stopping=1, channel_norm="fold",
                            tune={"lr": [1e-4, 3e-3]}).fit(cases.iloc[train], y[train])
    read_in_fit = set(recorder.seen)
    assert read_in_fit == tr_ids and read_in_fit.isdisjoint(te_ids)
    # the inner validation split (checkpoint, early stopping, tuning) is part of the training cases
    assert set(net.val_ids_) <= tr_ids and set(net.train_ids_) <= tr_ids
    assert set(net.val_ids_).isdisjoint(net.train_ids_)
    # the tuning table's choice is the best validation AUC, the checkpoint the best epoch
    t = net.tuning_
    assert len(t) == 2 and t["chosen"].sum() == 1
    assert t.loc[t["chosen"], "val_auc"].iloc[0] == t["val_auc"].max()
    f = net.history_.frame
    assert net.history_.best_epoch == int(f.loc[f["val_auc"].idxmax(), "epoch"])
    # fold statistics come from the inner training cases only
    from her2stats.training.inputs import load_inputs

    inner = cases[cases["patient_id"].isin(net.train_ids_)]
    x = load_inputs(inner, mode="2d", size=32, margin=5)
    np.testing.assert_allclose(net.channel_mean_, x.mean(axis=(0, 2, 3), dtype=np.float64), rtol=1e-6)
    # test cases are read only when predicted, after fitting
    recorder.seen.clear()
    net.predict_proba(cases.iloc[test])
    assert set(recorder.seen) == te_ids


def test_fold_models_never_read_their_held_out_fold(demo_cases, recorder, monkeypatch):
    cases, y = demo_cases
    train, test = _split(cases, y)
    dev, dev_y = cases.iloc[train].reset_index(drop=True), y[train]
    reads_per_fit: list[set[str]] = []
    original_fit = NetworkClassifier.fit

    def spying_fit(self, X, y=None):
        start = len(recorder.seen)
        out = original_fit(self, X, y)
        reads_per_fit.append(set(recorder.seen[start:]))
        return out

    monkeypatch.setattr(NetworkClassifier, "fit", spying_fit)
    ens = FoldEnsembleClassifier(NetworkClassifier(**TINY, epochs=2, early_stopping=1), n_splits=3, seed=0)
    ens.fit(dev, dev_y)
    te_ids = set(cases["patient_id"].iloc[test])
    assert len(reads_per_fit) == 3
    for f, read in enumerate(reads_per_fit):
        held_out = set(dev["patient_id"][ens.folds_ == f])
        in_fold = set(dev["patient_id"][ens.folds_ != f])
        assert read == in_fold, f"fold {f} model read {sorted(read - in_fold)} outside its training folds"
        assert read.isdisjoint(held_out) and read.isdisjoint(te_ids)
        est = ens.estimators_[f]
        assert set(est.val_ids_) <= in_fold
    assert set(recorder.seen).isdisjoint(te_ids)   # nothing of the external cases during fit
    recorder.seen.clear()
    ens.predict_proba(cases.iloc[test])
    assert set(recorder.seen) == te_ids
