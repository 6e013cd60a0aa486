"""Shared fixtures.

``../shared`` (read-only reference data) sits beside the repository root. Tests needing R are
marked ``r``; they skip on a developer machine without R but fail under CI (CI=true), where R is
installed by ``make test``.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
TEST_DATA = Path(__file__).resolve().parent / "data"


def _r_ok() -> bool:
    from her2stats.engine import r_available

    return r_available()


@pytest.fixture(autouse=True)
def _require_r_for_r_tests(request):
    if request.node.get_closest_marker("r") is None or _r_ok():
        return
    if os.environ.get("CI"):
        pytest.fail("this test needs R and rpy2, which `make test` installs; they are missing under CI")
    pytest.skip("R/rpy2 not installed")


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"shared reference data not found at {SHARED}")
    return SHARED


@pytest.fixture(scope="session")
def test_data_dir() -> Path:
    return TEST_DATA
