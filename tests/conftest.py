"""Shared fixtures.

Tests read data inside the repository only: ``data/`` (real public data sets, each with its
README) and ``tests/data/`` (R's example data, with provenance). The one exception is the text of
the seed papers, which the repository does not carry (copyright): the checks that compare
encoded published rows with that text use the ``seeds_dir`` fixture, which finds
``../shared/seeds`` beside the repository (or ``$HER2STATS_SHARED/seeds``) and skips, saying why,
when it is absent or when ``HER2STATS_NO_SIBLING_SHARED`` is set (as CI does).

Tests needing R are marked ``r``; they skip on a developer machine without R but fail under CI
(CI=true), where R is installed by ``make test``.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"
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
def data_dir() -> Path:
    """The repository's ``data/`` folder (MAMA-MIA, Duke, BUSI, Van Dyke; see data/README.md)."""
    if not (DATA / "README.md").is_file():
        pytest.fail(f"the repository's data folder is missing: {DATA}")
    return DATA


def seeds_location() -> tuple[Path | None, str]:
    """Where the seed papers' text is, or (None, the reason it is not used)."""
    from her2stats.data.loaders import NO_SIBLING_ENV, sibling_search_enabled

    env = os.environ.get("HER2STATS_SHARED")
    candidates = [Path(env).expanduser() / "seeds"] if env else []
    if sibling_search_enabled():
        candidates.append(REPO.parent / "shared" / "seeds")
    for c in candidates:
        if c.is_dir():
            return c, ""
    if not sibling_search_enabled() and not candidates:
        return None, (f"the seed papers' text is not part of the repository and {NO_SIBLING_ENV} is set, "
                      "so ../shared/seeds is not searched; the encoded tables are still checked")
    return None, (f"the seed papers' text is not part of the repository and was not found at "
                  f"{' or '.join(str(c) for c in candidates)}; the encoded tables are still checked")


@pytest.fixture(scope="session")
def seeds_dir() -> Path:
    """The seed papers' plain text (``../shared/seeds``), for the checks that the encoded published
    rows are printed in the papers; skips with the reason when it is not available."""
    path, reason = seeds_location()
    if path is None:
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def test_data_dir() -> Path:
    return TEST_DATA
