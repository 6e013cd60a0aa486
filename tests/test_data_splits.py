"""make_splits: stratified internal split, by-centre external split, reproducibility, no overlap."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from her2stats.data import make_splits
from her2stats.errors import InputError


@pytest.fixture(scope="module")
def cohort() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 300
    return pd.DataFrame({
        "patient_id": [f"P{i:03d}" for i in range(n)],
        "center": rng.choice(["A", "B", "C"], n, p=[0.4, 0.35, 0.25]),
        "her2_positive": (rng.random(n) < 0.3).astype(int),
        "age": rng.normal(55, 10, n).round(),
    })


def test_stratified_internal_split_keeps_prevalence(cohort):
    out = make_splits(cohort, stratify="her2_positive", test_size=0.3, seed=1)
    assert set(out["split"].dropna()) == {"train", "internal"}
    # exact allocation per (outcome, centre) stratum: round(0.3 * m) patients go to internal
    for _, g in out.groupby(["her2_positive", "center"]):
        assert (g["split"] == "internal").sum() == int(np.floor(0.3 * len(g) + 0.5))
    prev = out.groupby("split", observed=True)["her2_positive"].mean()
    assert abs(prev["train"] - prev["internal"]) < 0.02


def test_by_center_holds_out_external(cohort):
    out = make_splits(cohort, by="center", external="C", seed=1)
    assert (out.loc[out["center"] == "C", "split"] == "external").all()
    assert not (out.loc[out["center"] != "C", "split"] == "external").any()
    assert (out["split"] == "internal").sum() > 0
    two = make_splits(cohort, by="center", external=["B", "C"], seed=1)
    assert set(two.loc[two["split"] == "external", "center"]) == {"B", "C"}


def test_seed_reproducible_and_row_order_invariant(cohort):
    a = make_splits(cohort, seed=3)
    b = make_splits(cohort, seed=3)
    shuffled = make_splits(cohort.sample(frac=1, random_state=0), seed=3)
    other = make_splits(cohort, seed=4)
    assert a["split"].tolist() == b["split"].tolist()
    assert shuffled.set_index("patient_id").loc[a["patient_id"], "split"].tolist() == a["split"].tolist()
    assert a["split"].tolist() != other["split"].tolist()


def test_patients_with_several_rows_stay_together(cohort):
    long = pd.concat([cohort.assign(lesion=1), cohort.iloc[::3].assign(lesion=2)], ignore_index=True)
    out = make_splits(long, by="center", external="C", seed=5)
    assert (out.groupby("patient_id")["split"].nunique() == 1).all()
    # same patients, same split as the one-row-per-patient table
    ref = make_splits(cohort, by="center", external="C", seed=5).set_index("patient_id")["split"]
    assert (out.set_index("patient_id")["split"] == ref.reindex(out["patient_id"]).values).all()


def test_errors(cohort):
    with pytest.raises(InputError, match=r"external=<centre\(s\)>.*\['A', 'B', 'C'\]"):
        make_splits(cohort, by="center")
    with pytest.raises(InputError, match="not found"):
        make_splits(cohort, by="center", external="Z")
    with pytest.raises(InputError, match="test_size"):
        make_splits(cohort, test_size=1.2)
    with pytest.raises(InputError, match="stratification columns"):
        make_splits(cohort, stratify="her2_class")
    varying = pd.DataFrame({"patient_id": ["a", "a", "b"], "her2_positive": [0, 1, 0]})
    with pytest.raises(InputError, match="varies within patients"):
        make_splits(varying)


def test_split_counts_attached(cohort):
    out = make_splits(cohort, by="center", external="C", seed=1)
    counts = pd.DataFrame(out.attrs["split_counts"])
    assert counts["patients"].sum() == len(cohort)
    assert list(out["split"].cat.categories) == ["train", "internal", "external"]
