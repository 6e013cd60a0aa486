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
    assert "fix 1: apt-get install -y r-base-core" in res.output or "apt-get install -y r-base-core" in res.output


def test_audit_command_is_wired(tmp_path):
    from pathlib import Path

    seed = Path(__file__).parent / "published" / "seeds" / "seed004_cox.yaml"
    res = CliRunner().invoke(cli.app, ["audit", str(seed), "--out", str(tmp_path / "a.csv")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "a.csv").read_text().count("reproduced") >= 1


def test_version_lists_package_r_rpy2_torch_timm_without_importing_them():
    import os

    out = subprocess.run([sys.executable, "-c", "import sys\nfrom her2stats.cli import main\nsys.argv = ['her2stats', '--version']\n"
                          "try:\n    main()\nexcept SystemExit:\n    pass\n"
                          "print('imported:', sorted(m for m in ('torch', 'timm', 'rpy2') if m in sys.modules))"],
                         capture_output=True, text=True, env={**os.environ, "COLUMNS": "80"})
    assert out.returncode == 0, out.stderr
    lines = dict(line.split(" ", 1) for line in out.stdout.splitlines())
    import her2stats

    assert lines["her2stats"] == her2stats.__version__
    for name in ("python", "R", "rpy2", "torch", "timm"):
        assert name in lines, out.stdout
    assert lines["imported:"] == "[]"


def test_python_dash_m_her2stats_is_the_cli():
    out = subprocess.run([sys.executable, "-m", "her2stats", "--help"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "Usage: her2stats" in out.stdout
    for command in ("doctor", "demo", "report", "audit"):
        assert command in out.stdout
    version = subprocess.run([sys.executable, "-m", "her2stats", "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("her2stats ")


def test_doctor_is_cheap_and_fits_80_columns():
    """The doctor imports neither torch nor timm nor scikit-learn (seconds each) unless --full, and its
    table stays within 80 columns with every fix command printed whole."""
    import os

    code = ("import sys\nfrom her2stats.cli import main\nsys.argv = ['her2stats', 'doctor']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('imported:', sorted(m for m in ('torch', 'timm', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "COLUMNS": "80"})
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert lines[-1] == "imported: []"
    table = [line for line in lines if line[:1] in "┏┃┡│└" or "her2stats doctor" in line]
    assert len(table) > 20 and max(len(line) for line in table) <= 80
    for name in ("pandoc", "Chromium", "Quarto", "Jupyter kernel", "CUDA"):
        assert any(line.startswith(f"│ {name} ") for line in table), name
    from her2stats.doctor import doctor_checks, PYTHON_PACKAGES

    fixes = {f for _, _, f in PYTHON_PACKAGES if f}
    printed = "\n".join(lines)
    for fix in fixes:  # a fix command is listed whole (never folded inside a cell) when it is needed
        if fix in printed:
            assert any(line.endswith(fix) for line in lines)
    assert "--no-build-isolatio\n" not in printed


def test_cli_shows_a_warning_text_once_per_run(capsys):
    """Two models meeting the same separated resamples warn with the same words: one line."""
    from her2stats import cli
    from her2stats.errors import RWarning

    cli._SHOWN_WARNINGS.clear()
    cli._show_warning(UserWarning("calibrate (rms): 7 of the 200 resamples"), UserWarning, "x.py", 1)
    cli._show_warning(UserWarning("calibrate (rms): 7 of the 200 resamples"), UserWarning, "y.py", 2)
    cli._show_warning(RWarning("something in R"), RWarning, "x.py", 1)
    cli._show_warning(UserWarning("another text"), UserWarning, "x.py", 1)
    out = capsys.readouterr().out
    assert out.count("7 of the 200 resamples") == 1
    assert "R warning:" in out and "another text" in out
