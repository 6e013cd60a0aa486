"""Study outputs are written atomically (trust issue, item 7).

A run writes into a temporary sibling folder and replaces the output folder only when complete:
a crash (exception, Ctrl-C, SIGKILL) leaves the previous output byte-identical and nothing that
looks complete; a second run into the same folder is refused while the first holds its lock;
the next run cleans what a killed run left; manifest.json records completion, the config hash,
the package version, the times and every file's sha256.
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import her2stats
from her2stats.atomic import FileLock, atomic_output, is_complete, read_manifest
from her2stats.errors import OutputError
from her2stats.reporting import study as study_mod
from her2stats.reporting.study import config_hash, load_results, run_study
from her2stats.reporting.config import load_config

REPO = Path(__file__).resolve().parents[2]

#: a small real study (no imaging, Python engine, 5 bootstrap repetitions): every stage that
#: writes files runs, in well under a minute
CFG = {"name": "atomic", "engine": "python", "cohort": {"source": "demo"},
       "splits": {"train": ["A", "B"], "external": ["C"]},
       "table1": {"variables": ["age", "grade"], "by_cohort": False},
       "clinical": {"covariates": ["age", "ki67"]},
       "validation": {"bootstrap_B": 5, "calibrate_B": 5, "fast_B": 5}}


def _snapshot(folder: Path) -> dict[str, str]:
    """relative path -> sha256 of every file (the output byte for byte)."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _siblings(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name != out.name)


@pytest.fixture(scope="module")
def previous(tmp_path_factory):
    """A complete previous output of the small study (run once for the module)."""
    import matplotlib

    matplotlib.use("Agg")
    out = tmp_path_factory.mktemp("atomic") / "out"
    res = run_study(CFG, outdir=out)
    return out, res


@pytest.fixture
def out(previous, tmp_path):
    """A private copy of the previous output (a complete her2stats output with its manifest)."""
    import shutil

    dst = tmp_path / "out"
    shutil.copytree(previous[0], dst)
    return dst


def test_manifest_records_completion_hash_version_times_and_files(previous):
    out, res = previous
    m = read_manifest(out)
    assert m["complete"] is True and is_complete(out) and m["producer"] == "her2stats"
    assert m["her2stats_version"] == her2stats.__version__
    assert m["config_hash"] == config_hash(load_config(CFG)) and len(m["config_hash"]) == 64
    assert m["study"] == "atomic" and m["engine"] == "python" and m["fast"] is False
    assert m["started"] <= m["finished"] and m["duration_s"] >= 0 and m["outdir"] == str(out)
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} - {"manifest.json"}
    assert set(m["files"]) == files and "numbers.json" in files and "study_results.pkl" in files
    for rel, info in m["files"].items():
        data = (out / rel).read_bytes()
        assert info["bytes"] == len(data) and info["sha256"] == hashlib.sha256(data).hexdigest()
    # the results know where they are; nothing else is left beside the output but its lock file
    assert res.outdir == out and all(Path(p).parent == out / "figures" for p in res.figures.values())
    assert _siblings(out) == [".out.lock"]
    assert load_results(out).outdir == out


def test_a_crash_mid_run_leaves_the_previous_output_byte_identical(out, monkeypatch):
    before = _snapshot(out)
    seen = {}

    def crash(outdir, *args, **kwargs):  # the figures stage dies after writing part of its files
        (outdir / "figures" / "roc_development.png").write_bytes(b"half a figure")
        seen["staging"] = outdir
        raise RuntimeError("simulated crash in the figures stage")

    monkeypatch.setattr(study_mod, "_figures", crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_study(CFG, outdir=out)
    assert _snapshot(out) == before
    assert seen["staging"].name.startswith(f".out.tmp-{os.getpid()}-")  # unique per process: pid + random
    assert not seen["staging"].exists()
    assert _siblings(out) == [".out.lock"]  # nothing that looks complete, nothing half-written


def test_ctrl_c_mid_run_leaves_the_previous_output_byte_identical(out, monkeypatch):
    before = _snapshot(out)

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(study_mod, "_assign_splits", interrupt)
    with pytest.raises(KeyboardInterrupt):
        run_study(CFG, outdir=out)
    assert _snapshot(out) == before and _siblings(out) == [".out.lock"]


def test_a_second_run_into_the_same_folder_is_refused_while_the_first_runs(out):
    before = _snapshot(out)
    with atomic_output(out) as first:
        assert first.path.parent == out.parent and first.path.name.startswith(".out.tmp-")
        assert not is_complete(first.path)  # the run in progress never looks complete
        with pytest.raises(OutputError, match=r"is locked by another her2stats run \(pid \d+") as info:
            run_study(CFG, outdir=out)
        assert str(out) in str(info.value) and "--out" in str(info.value)
        (first.path / "numbers.json").write_text("{}")
    # the first run completed: its output replaced the previous one
    assert read_manifest(out)["complete"] is True and (out / "numbers.json").read_text() == "{}"
    assert _snapshot(out) != before and _siblings(out) == [".out.lock"]


def test_a_second_run_can_wait_for_the_lock(tmp_path):
    lock = FileLock(tmp_path / ".x.lock", what="x")
    lock.acquire()
    threading.Timer(0.5, lock.release).start()
    t0 = time.monotonic()
    with atomic_output(tmp_path / "x", wait=20) as tx:
        (tx.path / "a.txt").write_text("a")
    assert 0.3 < time.monotonic() - t0 < 20 and (tmp_path / "x" / "a.txt").read_text() == "a"
    # a lock file left by a dead process is not a lock: flock ends with its owner
    (tmp_path / ".y.lock").write_text(json.dumps({"pid": 999999, "host": "gone"}))
    with atomic_output(tmp_path / "y") as tx:
        (tx.path / "b.txt").write_text("b")
    assert is_complete(tmp_path / "y")


def test_a_failed_swap_puts_the_previous_output_back(out, monkeypatch):
    import her2stats.atomic as atomic

    before = _snapshot(out)
    real = os.rename
    calls = []

    def flaky(src, dst):
        calls.append((Path(src).name, Path(dst).name))
        if len(calls) == 2:  # old -> backup worked; new -> out fails (e.g. a full or vanished disk)
            raise OSError(28, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(atomic.os, "rename", flaky)
    with pytest.raises(OutputError, match="previous output is unchanged"):
        with atomic_output(out) as tx:
            (tx.path / "numbers.json").write_text("{}")
    assert _snapshot(out) == before and _siblings(out) == [".out.lock"]


def test_a_crash_between_the_two_renames_is_repaired_by_the_next_run(out):
    before = _snapshot(out)
    os.rename(out, out.parent / ".out.old-4242-deadbeef")  # killed right after moving the old one aside
    (out.parent / ".out.tmp-4242-cafe").mkdir()  # and its staging folder
    with pytest.warns(RuntimeWarning, match="restored"):
        with pytest.raises(RuntimeError, match="stop"):
            with atomic_output(out):
                assert out.is_dir() and _snapshot(out) == before  # put back before anything else
                raise RuntimeError("stop")
    assert _snapshot(out) == before and _siblings(out) == [".out.lock"]


def test_only_her2stats_outputs_are_replaced(tmp_path, out):
    mine = tmp_path / "documents"
    mine.mkdir()
    (mine / "thesis.docx").write_text("years of work")
    with pytest.raises(OutputError, match="is not a her2stats output"):
        with atomic_output(mine):
            pass
    assert (mine / "thesis.docx").read_text() == "years of work" and _siblings(mine).count(".documents.lock") == 1
    (out / "notes.txt").write_text("mine")  # a file the previous run did not write
    with pytest.raises(OutputError, match="notes.txt"):
        with atomic_output(out):
            pass
    assert (out / "notes.txt").exists()
    (tmp_path / "empty").mkdir()
    with atomic_output(tmp_path / "empty") as tx:  # an empty folder is fine
        (tx.path / "a").write_text("a")
    legacy = tmp_path / "legacy"  # a report written before manifests existed
    legacy.mkdir()
    (legacy / "numbers.json").write_text("{}")
    with atomic_output(legacy) as tx:
        (tx.path / "a").write_text("a")
    assert is_complete(legacy) and not (legacy / "numbers.json").exists()
    (tmp_path / "afile").write_text("x")
    with pytest.raises(OutputError, match="is a file"):
        atomic_output(tmp_path / "afile").__enter__()


def test_results_follow_their_folder(previous, tmp_path):
    import shutil

    moved = tmp_path / "elsewhere"
    shutil.copytree(previous[0], moved)
    res = load_results(moved)
    assert res.outdir == moved.resolve()
    assert res.figures and all(Path(p).is_file() and moved.resolve() in Path(p).parents for p in res.figures.values())


_KILLED_RUN = textwrap.dedent("""
    import sys, time
    import matplotlib
    matplotlib.use("Agg")
    from her2stats.reporting import study
    cfg, out, marker = {cfg!r}, sys.argv[1], sys.argv[2]
    real = study.select_clinical

    def slow(*args, **kwargs):  # mid-run: the staging folder exists and tables are being written
        open(marker, "w").write("running")
        time.sleep(300)

    study.select_clinical = slow
    study.run_study(cfg, outdir=out)
""")


@pytest.mark.slow
def test_sigkill_mid_run_leaves_the_old_output_and_the_next_run_cleans_up(out, tmp_path):
    before = _snapshot(out)
    work = tmp_path / "work"
    work.mkdir()
    script = work / "killed_run.py"
    script.write_text(_KILLED_RUN.format(cfg=CFG))
    marker = work / "marker"
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, str(script), str(out), str(marker)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        for _ in range(1200):
            if marker.exists() or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert marker.exists(), proc.communicate()[0].decode()[-2000:]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert _snapshot(out) == before
    stale = [p for p in out.parent.iterdir() if p.name.startswith(f".out.tmp-{proc.pid}-")]
    assert len(stale) == 1 and not is_complete(stale[0])  # left behind, and says it is not finished
    assert read_manifest(stale[0])["complete"] is False
    # the lock died with the process: the next run starts at once, cleans up and completes
    res = run_study(CFG, outdir=out)
    assert not stale[0].exists() and _siblings(out) == [".out.lock", "work"]
    assert is_complete(out) and res.numbers == load_results(out).numbers
    assert _snapshot(out)["numbers.json"] == before["numbers.json"]  # same config, same numbers


@pytest.mark.slow
def test_cli_report_renders_inside_the_staging_folder_then_swaps(tmp_path):
    """`her2stats report` runs the study and renders the HTML report into the staging folder; the
    report names the final folder, and the swap brings both in at once."""
    import yaml
    from typer.testing import CliRunner

    from her2stats.cli import app

    cfg = tmp_path / "study.yaml"
    cfg.write_text(yaml.safe_dump(CFG))
    out = tmp_path / "report"
    res = CliRunner().invoke(app, ["report", str(cfg), "--out", str(out)])
    assert res.exit_code == 0, (res.output, res.exception)
    m = read_manifest(out)
    assert m["complete"] is True and m["command"] == "her2stats report" and "html" in m["rendered"]
    assert {"report.html", "numbers.json", "study_results.pkl"} <= set(m["files"])
    html = (out / "report.html").read_text(encoding="utf-8")
    assert f"Output folder: <code>{out}</code>" in html or str(out) in html
    assert ".report.tmp-" not in html
    assert _siblings(out) == [".report.lock", "study.yaml"]
    assert load_results(out).outdir == out
