"""Fixtures of the training tests: a few demo cases (synthetic MRI, one DCE phase per patient)
and BUSI (real ultrasound) wherever the data lives: ``data/busi`` in the repository, else
``../shared/data/busi`` beside it (or ``$HER2STATS_SHARED/data/busi``)."""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def demo_cases(tmp_path_factory):
    """24 demo patients' DCE_post1 volumes with masks, and their HER2 status (5 positive)."""
    import her2stats as h2

    cases = h2.demo_images(root=tmp_path_factory.mktemp("demo_images"), n=24)
    clinical = h2.load_demo().set_index("patient_id")
    c = cases[cases["sequence"] == "DCE_post1"].reset_index(drop=True)
    y = clinical.loc[c["patient_id"], "her2_positive"].to_numpy().astype(int)
    return c, y


def busi_root() -> Path | None:
    from her2stats.data.loaders import sibling_search_enabled

    env = os.environ.get("HER2STATS_SHARED")
    candidates = [REPO / "data" / "busi"]
    if env:
        candidates.append(Path(env).expanduser() / "data" / "busi")
    if sibling_search_enabled():
        candidates.append(REPO.parent / "shared" / "data" / "busi")
    for c in candidates:
        if (c / "benign").is_dir() and (c / "malignant").is_dir():
            return c
    return None


@pytest.fixture(scope="session")
def busi_cases():
    root = busi_root()
    if root is None:
        pytest.fail("BUSI images not found in data/busi (or ../shared/data/busi)")
    rows = [{"patient_id": f"{cls}_{p.stem}", "sequence": "us", "image_path": str(p), "mask_path": None,
             "malignant": int(cls == "malignant")}
            for cls in ("benign", "malignant") for p in sorted((root / cls).glob("*.png"))]
    return pd.DataFrame(rows)
