"""Fixtures shared by the statistics tests."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def birthwt_frame(test_data_dir) -> pd.DataFrame:
    """MASS::birthwt (tests/data/birthwt.csv) recoded as Venables & Ripley (2002, p. 194)."""
    d = pd.read_csv(test_data_dir / "birthwt.csv")
    return pd.DataFrame({
        "low": d.low, "age": d.age.astype(float), "lwt": d.lwt.astype(float),
        "race": pd.Categorical(d.race.map({1: "white", 2: "black", 3: "other"}), categories=["white", "black", "other"]),
        "smoke": d.smoke > 0, "ptd": d.ptl > 0, "ht": d.ht > 0, "ui": d.ui > 0,
        "ftv": pd.Categorical(np.where(d.ftv >= 2, "2+", d.ftv.astype(str)), categories=["0", "1", "2+"]),
    })


@pytest.fixture(scope="module")
def bwt(test_data_dir) -> pd.DataFrame:
    return birthwt_frame(test_data_dir)
