from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from her2stats import cli


@pytest.mark.r
def test_doctor_all_green_on_an_installed_machine():
    out = subprocess.run([sys.executable, "-m", "her2stats.cli", "doctor"], capture_output=True, text=True,
                         env={**__import__("os").environ, "COLUMNS": "200"})
    assert out.returncode == 0, out.stdout + out.stderr
    for name in ("R: rms", "R: pROC", "R: survival", "rpy2", "torch", "timm", "weights: efficientnet_lite0"):
        assert name in out.stdout
    assert "All required checks passed" in out.stdout
    lite0 = [line for line in out.stdout.splitlines() if "weights: efficientnet_lite0" in line]
    assert lite0 and " ok " in lite0[0]  # the offline ImageNet checkpoint is found


def test_doctor_fails_with_fix_command_when_r_is_missing(monkeypatch):
    import her2stats.engine as eng

    real_which = cli.shutil.which
    monkeypatch.setattr(cli.shutil, "which", lambda name: None if name == "R" else real_which(name))
    monkeypatch.setattr(eng, "r_available", lambda: False)
    rows = {r["name"]: r for r in cli.doctor_checks()}
    assert rows["R"]["ok"] is False and rows["R"]["required"] is True
    assert rows["R"]["fix"].startswith("apt-get install -y r-base-core")
    res = CliRunner().invoke(cli.app, ["doctor"])
    assert res.exit_code == 1
    assert "required check(s) failed" in res.output


def test_audit_command_is_wired(tmp_path):
    from pathlib import Path

    seed = Path(__file__).parent / "published" / "seeds" / "seed004_cox.yaml"
    res = CliRunner().invoke(cli.app, ["audit", str(seed), "--out", str(tmp_path / "a.csv")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "a.csv").read_text().count("reproduced") >= 1
