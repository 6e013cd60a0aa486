"""Bad inputs of the command line, the atomic output folder and the feature cache (no engine).

CLI rows run the real command (typer's CliRunner) and check what the user sees -- exit code 2 and
exactly one line on stderr, ``her2stats: <ErrorClass>: <message>`` -- then raise that class with
that message, so the matrix checks the class and the words like any other row. The words name the
file and the cause; no row's message may quote a file (tests/test_cli_errors.py checks that).
"""
from __future__ import annotations

import errno
import re
import tempfile
from pathlib import Path
from unittest import mock

import numpy as np

from her2stats import errors
from her2stats.errors import CacheError, ConfigError, InputError, OutputError

from ._case import Case

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "tests" / "published" / "seeds" / "seed004_cox.yaml"
PASSWD = "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"


def _tmp() -> Path:
    return Path(tempfile.mkdtemp(prefix="h2s_bad_"))


def cli(*args) -> None:
    """Run ``her2stats ARGS``; it must fail with one line and exit code 2; raise what it named."""
    from typer.testing import CliRunner

    from her2stats.cli import app

    res = CliRunner().invoke(app, [str(a) for a in args])
    lines = res.stderr.strip().splitlines()
    assert res.exit_code == 2 and len(lines) == 1, (res.exit_code, res.stderr, res.exception)
    m = re.fullmatch(r"her2stats: (\w+): (.+)", lines[0])
    assert m and "root:x" not in res.output, lines[0]
    raise getattr(errors, m.group(1))(m.group(2))


def _file(name: str, data: bytes | str) -> Path:
    p = _tmp() / name
    p.write_bytes(data.encode() if isinstance(data, str) else data)
    return p


def _folder(name: str) -> Path:
    p = _tmp() / name
    p.mkdir()
    return p


def _study(cohort: Path) -> Path:
    return _file("study.yaml", f"name: x\nengine: python\ncohort: {{source: csv, path: {cohort}}}\n"
                               "splits: {by: random}\nclinical: {covariates: [age]}\n")


def _config() -> Path:
    return _file("study.yaml", "name: x\nclinical: {covariates: [age]}\nsplits: {train: [A]}\n")


def _report(config: Path, *extra) -> None:
    cli("report", config, "--out", _tmp() / "out", "--no-render", *extra)


def _locked_report() -> None:
    from her2stats.atomic import atomic_output

    out = _tmp() / "out"
    with atomic_output(out):
        cli("report", _config(), "--out", out, "--no-render")


def _not_ours() -> Path:
    p = _folder("documents")
    (p / "thesis.docx").write_text("mine")
    return p


def _cache_full() -> None:
    from her2stats.features import FeatureCache, cache_key
    from her2stats.features import cache as cache_mod

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    cache = FeatureCache(_tmp() / "cache")
    with mock.patch.object(cache_mod, "_write_file", full):
        cache.put(cache_key({"case": 1}), np.ones(4))


def _cache_read_only() -> None:
    from her2stats.features import FeatureCache, cache_key
    from her2stats.features import cache as cache_mod

    def refused(path, data):
        raise PermissionError(errno.EROFS, "Read-only file system", str(path))

    root = _tmp() / "cache"
    root.mkdir()
    with mock.patch.object(cache_mod, "_write_file", refused):
        cache = FeatureCache(root)
        assert cache.read_only
        cache.put(cache_key({"case": 1}), np.ones(4))


def _cache_folder_in_the_way() -> None:
    from her2stats.features import FeatureCache, cache_key

    cache = FeatureCache(_tmp() / "cache")
    key = cache_key({"case": 1})
    npy, meta = cache._paths(key)
    meta.mkdir(parents=True)
    assert cache.get(key) is None
    cache.put(key, np.ones(4))


def _doctor_with(exc: Exception) -> None:
    from her2stats import cli as cli_mod

    def broken(*args, **kwargs):
        raise exc

    with mock.patch.object(cli_mod, "doctor_checks", broken):
        cli("doctor")


N = (None,)

CASES = [
    # ------------------------------------------------------------- her2stats report: the config file
    Case("cli-report/config-utf16", lambda e: _report(_file("u16.yaml", "name: x\n".encode("utf-16"))),
         ConfigError, ("u16.yaml", "UTF-16", "UTF-8"), engines=N),
    Case("cli-report/config-utf16-without-bom", lambda e: _report(_file("u16.yaml", "name: x\n".encode("utf-16-le"))),
         ConfigError, ("u16.yaml", "UTF-16"), engines=N),
    Case("cli-report/config-binary", lambda e: _report(_file("bin.yaml", bytes(range(256)))),
         ConfigError, ("bin.yaml", "binary file"), engines=N),
    Case("cli-report/config-latin1", lambda e: _report(_file("l1.yaml", "name: étude\n".encode("latin-1"))),
         ConfigError, ("l1.yaml", "not UTF-8", "line 1"), engines=N),
    Case("cli-report/config-folder", lambda e: _report(_folder("cfg.yaml")), ConfigError, ("cfg.yaml", "is a folder"),
         engines=N),
    Case("cli-report/config-missing", lambda e: _report(_tmp() / "nope.yaml"), ConfigError, ("nope.yaml", "not found"),
         engines=N),
    Case("cli-report/config-invalid-yaml", lambda e: _report(_file("bad.yaml", "name: x\n  a: [\n")),
         ConfigError, ("bad.yaml", "not valid YAML", "line 2", "column"), engines=N),
    Case("cli-report/config-not-a-mapping", lambda e: _report(_file("passwd", PASSWD)),
         ConfigError, ("passwd", "top level must be a mapping"), engines=N),
    Case("cli-report/config-of-another-program", lambda e: _report(_file("compose.yaml", "services: {db: {x: 1}}\n")),
         ConfigError, ("compose.yaml", "not a study config"), engines=N),
    Case("cli-report/config-bad-value", lambda e: _report(_file("s.yaml", "name: x\nsplits: {by: hospital}\n")),
         ConfigError, ("s.yaml", "splits.by", "center"), engines=N),
    # ------------------------------------------------------------- her2stats report: the cohort table
    Case("cli-report/cohort-is-a-password-file", lambda e: _report(_study(_file("passwd", PASSWD))),
         InputError, ("cohort.path", "passwd", "does not look like the cohort table"), engines=N),
    Case("cli-report/cohort-malformed-csv",
         lambda e: _report(_study(_file("c.csv", "patient_id,her2_positive,age\np1,1,50\np2,0,61,x,y\n"))),
         InputError, ("cohort.path", "c.csv", "not a well-formed CSV", "line 3"), engines=N),
    Case("cli-report/cohort-semicolon-separated",
         lambda e: _report(_study(_file("c.csv", "patient_id;her2_positive;age\np1;1;50\n"))),
         InputError, ("c.csv", "comma-separated"), engines=N),
    Case("cli-report/cohort-utf16", lambda e: _report(_study(_file("c.csv", "patient_id,age\np1,5\n".encode("utf-16")))),
         InputError, ("c.csv", "UTF-16"), engines=N),
    Case("cli-report/cohort-binary", lambda e: _report(_study(_file("c.csv", bytes(range(256)) * 3))),
         InputError, ("c.csv", "binary file"), engines=N),
    Case("cli-report/cohort-empty", lambda e: _report(_study(_file("c.csv", "\n\n"))),
         InputError, ("c.csv", "empty"), engines=N),
    Case("cli-report/cohort-folder", lambda e: _report(_study(_folder("c.csv"))),
         InputError, ("cohort.path", "c.csv", "is a folder"), engines=N),
    Case("cli-report/cohort-missing", lambda e: _report(_study(_tmp() / "gone.csv")),
         ConfigError, ("cohort.path", "gone.csv", "not found"), engines=N),
    Case("cli-report/cohort-xlsx-not-a-workbook",
         lambda e: _report(_file("s.yaml", f"name: x\ncohort: {{source: xlsx, path: {_file('c.xlsx', PASSWD)}}}\n"
                                           "splits: {by: random}\nclinical: {covariates: [age]}\n")),
         InputError, ("c.xlsx", "not a readable Excel workbook"), engines=N),
    # ------------------------------------------------------------- the output folder
    Case("cli-report/out-is-a-file", lambda e: cli("report", _config(), "--out", _file("out", "x"), "--no-render"),
         OutputError, ("out", "is a file"), engines=N),
    Case("cli-report/out-not-a-her2stats-folder", lambda e: cli("report", _config(), "--out", _not_ours(), "--no-render"),
         OutputError, ("documents", "not a her2stats output"), engines=N),
    Case("cli-report/out-locked-by-another-run", lambda e: _locked_report(),
         OutputError, ("out", "locked by another her2stats run", "pid", "--out"), engines=N),
    Case("cli-demo/out-is-a-file", lambda e: cli("demo", "--fast", "--out", _file("demo", "x")),
         OutputError, ("demo", "is a file"), engines=N),
    Case("cli-demo/out-not-a-her2stats-folder", lambda e: cli("demo", "--fast", "--out", _not_ours()),
         OutputError, ("documents", "not a her2stats output"), engines=N),
    Case("run_study/out-locked", lambda e: _locked_run_study(), OutputError, ("locked", "pid"), engines=N),
    # ------------------------------------------------------------- her2stats audit
    Case("cli-audit/missing", lambda e: cli("audit", _tmp() / "t.yaml"), InputError, ("t.yaml", "not found"), engines=N),
    Case("cli-audit/utf16", lambda e: cli("audit", _file("t.yaml", "title: x\n".encode("utf-16"))),
         InputError, ("t.yaml", "UTF-16"), engines=N),
    Case("cli-audit/binary", lambda e: cli("audit", _file("t.yaml", bytes(range(256)))),
         InputError, ("t.yaml", "binary file"), engines=N),
    Case("cli-audit/invalid-yaml", lambda e: cli("audit", _file("t.yaml", "tables:\n - a: [\n")),
         InputError, ("t.yaml", "not valid YAML", "line"), engines=N),
    Case("cli-audit/not-a-table-file", lambda e: cli("audit", _file("t.yaml", "services: {db: 1}\n")),
         InputError, ("t.yaml", "not an audit table file"), engines=N),
    Case("cli-audit/csv-of-something-else", lambda e: cli("audit", _file("t.csv", PASSWD)),
         InputError, ("t.csv", "table, kind, row"), engines=N),
    Case("cli-audit/folder", lambda e: cli("audit", _folder("t.yaml")), InputError, ("t.yaml", "is a folder"), engines=N),
    Case("cli-audit/out-suffix", lambda e: cli("audit", SEED, "--out", _tmp() / "a.pdf"),
         InputError, ("--out", ".html", ".csv", "a.pdf"), engines=N),
    # ------------------------------------------------------------- her2stats extract
    Case("cli-extract/missing", lambda e: cli("extract", _tmp() / "cases.csv", "--out", _tmp() / "f.csv"),
         InputError, ("case table", "cases.csv", "not found"), engines=N),
    Case("cli-extract/malformed-csv",
         lambda e: cli("extract", _file("cases.csv", "patient_id,image_path\np1,a.png\np2,b.png,c,d\n"), "--out", _tmp() / "f.csv"),
         InputError, ("cases.csv", "line 3"), engines=N),
    Case("cli-extract/no-case-columns", lambda e: cli("extract", _file("cases.csv", PASSWD), "--out", _tmp() / "f.csv"),
         InputError, ("case table lacks column(s)", "patient_id", "image_path"), engines=N),
    Case("cli-extract/folder", lambda e: cli("extract", _folder("cases.csv"), "--out", _tmp() / "f.csv"),
         InputError, ("cases.csv", "is a folder"), engines=N),
    # ------------------------------------------------------------- her2stats doctor
    Case("cli-doctor/cache-error", lambda e: _doctor_with(CacheError("cache dir /x/her2stats is a file, not a folder")),
         CacheError, ("/x/her2stats", "not a folder"), engines=N),
    Case("cli-doctor/r-error", lambda e: _doctor_with(errors.RError("R failed to start: libR.so not found")),
         errors.RError, ("libR.so",), engines=N),
    # ------------------------------------------------------------- library functions behind them
    Case("load_config/utf16", lambda e: _load_config(_file("s.yaml", "name: x\n".encode("utf-16"))),
         ConfigError, ("s.yaml", "UTF-16"), engines=N),
    Case("read_table/binary", lambda e: _read_table(_file("t.csv", b"\x89PNG\r\n\x1a\n\x00\x00")),
         InputError, ("t.csv", "binary file"), engines=N),
    Case("atomic_output/out-is-a-file", lambda e: _enter(_file("out", "x")), OutputError, ("is a file",), engines=N),
    Case("atomic_output/not-a-her2stats-folder", lambda e: _enter(_not_ours()),
         OutputError, ("documents", "not a her2stats output"), engines=N),
    # ------------------------------------------------------------- the feature cache
    Case("FeatureCache/cache-dir-is-a-file", lambda e: _feature_cache(_file("cache", "x")),
         CacheError, ("cache", "is a file, not a folder"), engines=N),
    Case("FeatureCache/disk-full", lambda e: _cache_full(), None, ("disk is full", "not cached"),
         warning=RuntimeWarning, engines=N),
    Case("FeatureCache/read-only", lambda e: _cache_read_only(), None, ("read-only", "not cached"),
         warning=RuntimeWarning, engines=N),
    Case("FeatureCache/folder-where-an-entry-should-be", lambda e: _cache_folder_in_the_way(), None,
         ("folder", "not cached"), warning=RuntimeWarning, engines=N),
]


def _locked_run_study() -> None:
    from her2stats.atomic import atomic_output
    from her2stats.reporting.study import run_study

    out = _tmp() / "out"
    with atomic_output(out):
        run_study({"name": "x", "clinical": {"covariates": ["age"]}, "splits": {"train": ["A"]}}, outdir=out)


def _load_config(path: Path) -> None:
    from her2stats.reporting.config import load_config

    load_config(path)


def _read_table(path: Path) -> None:
    from her2stats.files import read_table

    read_table(path, "table", InputError)


def _enter(path: Path) -> None:
    from her2stats.atomic import atomic_output

    with atomic_output(path):
        pass


def _feature_cache(path: Path) -> None:
    from her2stats.features import FeatureCache

    FeatureCache(path)
