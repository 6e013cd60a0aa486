"""The README's quick start runs as printed, and the README states the two set-up commands."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def test_two_setup_commands_come_first():
    text = README.read_text()
    first_block = re.search(r"```bash\n(.*?)```", text, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in first_block.splitlines() if line.strip()]
    assert commands == ["make demo", "make test"]
    assert "synthetic" in text


@pytest.mark.r
@pytest.mark.slow
def test_quick_start_runs(monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    text = README.read_text()
    block = re.search(r"## Quick start\n+```python\n(.*?)```", text, re.S).group(1)
    assert len(block.splitlines()) <= 25
    namespace: dict = {}
    try:
        exec(compile(block, "README quick start", "exec"), namespace)
    finally:
        import her2stats

        her2stats.set_engine(None)
    assert 0.5 < namespace["auc"].auc < 1
    assert namespace["cal"].n_failed == 0 and namespace["cal"].mean_abs_error < 0.1
    assert len(namespace["nom"].points_table()) > 0
