"""Every command fails with one clear line on stderr and exit code 2 (trust issue, item 8).

her2stats errors (Input, Config, Convergence, R, Cache, Output) and unreadable files (UTF-16 or
binary YAML, malformed CSV, missing files, folders) name the file and the cause and never print
the content of a file that is not a cohort table; ``--debug`` shows the traceback; anything else
is reported as an internal error (exit 1) with its type and location only.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from her2stats import cli
from her2stats.errors import CacheError, ConfigError, ConvergenceError, InputError, RError

REPO = Path(__file__).resolve().parents[1]
#: the first line of a password file: no error may ever print it
SECRET = "root:x:0:0:root:/root:/bin/bash"


def invoke(*args, **kw):
    return CliRunner().invoke(cli.app, [str(a) for a in args], **kw)


def one_line(res, code=2) -> str:
    assert res.exit_code == code, (res.exit_code, res.output, res.exception)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert SECRET not in res.output and "root:x" not in res.output
    return lines[0]


@pytest.fixture
def files(tmp_path):
    """Bad files of every kind, and a password-like file."""
    f = {}
    f["utf16"] = tmp_path / "utf16.yaml"
    f["utf16"].write_bytes("name: x\nsplits:\n  train: [A]\n".encode("utf-16"))
    f["utf16_nobom"] = tmp_path / "utf16le.yaml"
    f["utf16_nobom"].write_bytes("name: x\nsplits:\n  train: [A]\n".encode("utf-16-le"))
    f["binary"] = tmp_path / "binary.yaml"
    f["binary"].write_bytes(bytes(range(256)) * 4)
    f["latin1"] = tmp_path / "latin1.yaml"
    f["latin1"].write_bytes("name: étude\n".encode("latin-1"))
    f["badyaml"] = tmp_path / "bad.yaml"
    f["badyaml"].write_text(f"name: x\n  {SECRET}: [\n")
    f["folder"] = tmp_path / "folder.yaml"
    f["folder"].mkdir()
    f["missing"] = tmp_path / "missing.yaml"
    f["passwd"] = tmp_path / "passwd"
    f["passwd"].write_text(SECRET + "\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n")
    f["notconfig"] = tmp_path / "compose.yaml"
    f["notconfig"].write_text("services:\n  db:\n    password: hunter2\n")
    f["malformed"] = tmp_path / "cohort.csv"
    f["malformed"].write_text("patient_id,her2_positive,age\np1,1,50\np2,0,61,extra,fields\n")
    f["semicolon"] = tmp_path / "semicolon.csv"
    f["semicolon"].write_text("patient_id;her2_positive;age\np1;1;50\n")
    return f


def _study(tmp_path, cohort_path, name="study.yaml"):
    cfg = tmp_path / name
    cfg.write_text(textwrap.dedent(f"""
        name: x
        engine: python
        cohort: {{source: csv, path: {cohort_path}}}
        splits: {{by: random}}
        clinical: {{covariates: [age]}}
    """))
    return cfg


# ------------------------------------------------------------------------------ report / demo
@pytest.mark.parametrize("which, words", [
    ("utf16", ["utf16.yaml", "UTF-16", "UTF-8"]),
    ("utf16_nobom", ["utf16le.yaml", "UTF-16"]),
    ("binary", ["binary.yaml", "binary file"]),
    ("latin1", ["latin1.yaml", "not UTF-8", "line 1"]),
    ("badyaml", ["bad.yaml", "not valid YAML", "line 2"]),
    ("folder", ["folder.yaml", "is a folder"]),
    ("missing", ["missing.yaml", "not found"]),
    ("passwd", ["passwd", "mapping"]),
    ("notconfig", ["compose.yaml", "not a study config"]),
])
def test_report_unreadable_config(files, tmp_path, which, words):
    line = one_line(invoke("report", files[which], "--out", tmp_path / "o", "--no-render"))
    assert line.startswith("her2stats: ConfigError: ")
    for w in words:
        assert w in line, line
    assert "hunter2" not in line and "services" not in line
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("which, words", [
    ("passwd", ["cohort.path", "passwd", "does not look like the cohort table"]),
    ("malformed", ["cohort.path", "cohort.csv", "not a well-formed CSV table", "line 3"]),
    ("semicolon", ["semicolon.csv", "comma-separated"]),
    ("binary", ["binary.yaml", "binary file"]),
    ("folder", ["folder.yaml", "is a folder"]),
])
def test_report_unreadable_cohort_table(files, tmp_path, which, words):
    line = one_line(invoke("report", _study(tmp_path, files[which]), "--out", tmp_path / "o", "--no-render"))
    assert line.startswith("her2stats: InputError: "), line
    for w in words:
        assert w in line, line
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("error, words", [
    (ConvergenceError("complete separation: the fit of her2_positive on ki67 does not converge"), ["ki67"]),
    (RError("R error in h2s_lrm: subscript out of bounds (covariate 'ER status')", r_message="x"), ["ER status"]),
    (CacheError("cache_dir /x is a file, not a folder"), ["/x"]),
    (InputError("column 'age' has 3 non-numeric values ['a', 'b', 'c']\nsecond line"), ["age", "second line"]),
])
def test_every_her2stats_error_is_one_line_with_exit_code_2(tmp_path, monkeypatch, error, words):
    from her2stats.reporting import study

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(study, "run_study", fail)
    cfg = tmp_path / "s.yaml"
    cfg.write_text("name: x\nclinical: {covariates: [age]}\nsplits: {train: [A]}\n")
    line = one_line(invoke("report", cfg, "--out", tmp_path / "o"))
    assert line.startswith(f"her2stats: {type(error).__name__}: ")
    for w in words:
        assert w in line
    # --debug: the traceback, then the same line; the same exit code
    res = invoke("--debug", "report", cfg, "--out", tmp_path / "o")
    assert res.exit_code == 2 and "Traceback (most recent call last)" in res.stderr
    assert res.stderr.strip().splitlines()[-1] == line


def test_demo_errors(tmp_path):
    (tmp_path / "afile").write_text("x")
    line = one_line(invoke("demo", "--out", tmp_path / "afile", "--fast"))
    assert line.startswith("her2stats: OutputError: ") and "afile" in line and "is a file" in line
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.docx").write_text("mine")
    line = one_line(invoke("demo", "--out", mine, "--fast"))
    assert "not a her2stats output" in line and (mine / "thesis.docx").exists()


def test_an_unexpected_error_shows_type_and_place_never_its_message(tmp_path, monkeypatch):
    from her2stats.reporting import study

    def bug(*args, **kwargs):
        raise ValueError(f"could not convert string to float: '{SECRET}'")

    monkeypatch.setattr(study, "run_study", bug)
    cfg = tmp_path / "s.yaml"
    cfg.write_text("name: x\nclinical: {covariates: [age]}\nsplits: {train: [A]}\n")
    line = one_line(invoke("report", cfg, "--out", tmp_path / "o"), code=1)
    assert line.startswith("her2stats: internal error: ValueError at ") and "--debug" in line
    assert "test_cli_errors.py" in line or "her2stats/" in line


def test_ctrl_c_is_exit_130(tmp_path, monkeypatch):
    from her2stats.reporting import study

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(study, "run_study", interrupted)
    cfg = tmp_path / "s.yaml"
    cfg.write_text("name: x\nclinical: {covariates: [age]}\nsplits: {train: [A]}\n")
    line = one_line(invoke("report", cfg, "--out", tmp_path / "o"), code=130)
    assert "interrupted" in line and "unchanged" in line


# ------------------------------------------------------------------------------ audit
@pytest.mark.parametrize("which, words", [
    ("utf16", ["utf16.yaml", "UTF-16"]),
    ("binary", ["binary.yaml", "binary file"]),
    ("badyaml", ["bad.yaml", "not valid YAML", "line 2"]),
    ("folder", ["folder.yaml", "is a folder"]),
    ("missing", ["missing.yaml", "not found"]),
    ("notconfig", ["compose.yaml", "not an audit table file"]),
])
def test_audit_unreadable_table_file(files, which, words):
    line = one_line(invoke("audit", files[which]))
    assert line.startswith("her2stats: InputError: "), line
    for w in words:
        assert w in line, line
    assert "hunter2" not in line


def test_audit_csv_that_is_not_a_table_file_is_not_quoted(tmp_path, files):
    csv = tmp_path / "passwd.csv"
    csv.write_text(SECRET + "\n")
    line = one_line(invoke("audit", csv))
    assert "needs the columns table, kind, row" in line and "passwd.csv" in line
    seed = REPO / "tests" / "published" / "seeds" / "seed004_cox.yaml"
    line = one_line(invoke("audit", seed, "--out", tmp_path / "a.pdf"))
    assert "--out must end in .html or .csv" in line


# ------------------------------------------------------------------------------ extract
def test_extract_errors(tmp_path, files):
    line = one_line(invoke("extract", files["missing"], "--out", tmp_path / "f.csv"))
    assert line.startswith("her2stats: InputError: case table: file not found")
    line = one_line(invoke("extract", files["folder"], "--out", tmp_path / "f.csv"))
    assert "is a folder" in line
    line = one_line(invoke("extract", files["malformed"], "--out", tmp_path / "f.csv"))
    assert "cohort.csv" in line and "line 3" in line
    line = one_line(invoke("extract", files["passwd"], "--out", tmp_path / "f.csv"))
    assert "case table lacks column(s) ['patient_id', 'image_path']" in line
    cases = tmp_path / "cases.csv"
    cases.write_text("patient_id,sequence,image_path\np1,us,nowhere.png\n")
    line = one_line(invoke("extract", cases, "--out", tmp_path / "f.csv", "--whole-image", "--no-cache",
                           "--backbone", "resnet18", "--pretrained", "false"))
    assert "p1" in line and "nowhere.png" in line and "not found" in line
    assert not (tmp_path / "f.csv").exists()


@pytest.mark.deep
def test_extract_writes_features(tmp_path):
    pytest.importorskip("torch")
    from PIL import Image as PILImage
    import numpy as np
    import pandas as pd

    for i in range(2):
        PILImage.fromarray((np.random.default_rng(i).random((30, 40)) * 255).astype(np.uint8)).save(tmp_path / f"u{i}.png")
    (tmp_path / "cases.csv").write_text("patient_id,sequence,image_path\nu0,us,u0.png\nu1,us,u1.png\n")
    res = invoke("extract", tmp_path / "cases.csv", "--out", tmp_path / "out" / "f.csv", "--whole-image",
                 "--backbone", "resnet18", "--pretrained", "false", "--cache-dir", tmp_path / "cache")
    assert res.exit_code == 0, res.output
    X = pd.read_csv(tmp_path / "out" / "f.csv", index_col=0)
    assert X.shape == (2, 512) and list(X.index) == ["u0", "u1"]


# ------------------------------------------------------------------------------ doctor
def test_doctor_error_is_one_line(monkeypatch):
    def broken(*args, **kwargs):
        raise CacheError("cache dir /nowhere/her2stats is a file, not a folder")

    monkeypatch.setattr(cli, "doctor_checks", broken)
    line = one_line(invoke("doctor"))
    assert line == "her2stats: CacheError: cache dir /nowhere/her2stats is a file, not a folder"


# ------------------------------------------------------------------------------ a real process
def _run(*args, env=None):
    env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run([sys.executable, "-m", "her2stats.cli", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=300)


def test_real_process_one_line_exit_2_and_debug_traceback(files, tmp_path):
    out = _run("report", files["utf16"], "--out", tmp_path / "o")
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.strip().splitlines() == [
        f"her2stats: ConfigError: study config: {files['utf16']} is UTF-16 text; save it as UTF-8"]
    out = _run("--debug", "report", files["utf16"], "--out", tmp_path / "o")
    assert out.returncode == 2 and "Traceback (most recent call last)" in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith("her2stats: ConfigError: ")
    out = _run("report", _study(tmp_path, files["passwd"]), "--out", tmp_path / "o", "--no-render")
    assert out.returncode == 2 and SECRET not in out.stdout + out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith("her2stats: InputError: cohort.path")


def test_real_process_second_run_into_a_locked_folder_is_refused(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom her2stats.atomic import atomic_output\n"
                               "with atomic_output(sys.argv[1]):\n    print('locked', flush=True)\n    time.sleep(120)\n",
         str(tmp_path / "out")], stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert holder.stdout.readline().strip() == "locked"
        cfg = tmp_path / "s.yaml"
        cfg.write_text("name: x\nclinical: {covariates: [age]}\nsplits: {train: [A]}\n")
        t0 = time.monotonic()
        out = _run("report", cfg, "--out", tmp_path / "out", "--no-render")
        assert out.returncode == 2, out.stderr
        line = out.stderr.strip().splitlines()[-1]
        assert line.startswith("her2stats: OutputError: the output folder") and "is locked by another her2stats run" in line
        assert f"pid {holder.pid}" in line and time.monotonic() - t0 < 120
    finally:
        holder.kill()
        holder.wait()
