"""The warm local worker pool (her2stats.schedulers.WorkerPool) a study run starts for its zoo grid
searches and whole-pipeline refits: the same numbers as in process, bit for bit, whatever the
number of workers; worker warnings said in the caller; scripts without a main guard still run."""
from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from her2stats.errors import InputError
from her2stats.models import fit_zoo
from her2stats.resampling import map_tasks, run_replicates
from her2stats.schedulers import WorkerPool, resolve_scheduler

ROOT = Path(__file__).resolve().parents[1]
DEMO_YAML = ROOT / "reports" / "demo.yaml"


def _mean_boot(rng, n):
    x = np.arange(50.0)
    return np.array([x[rng.integers(0, 50, 50)].mean() for _ in range(n)])


@pytest.fixture(scope="module")
def pool():
    with WorkerPool(2, modules=("her2stats.models.zoo",)) as p:
        yield p


@pytest.fixture(scope="module")
def cohort():
    rng = np.random.default_rng(31)
    n = 90
    X = pd.DataFrame(rng.normal(size=(n, 5)), columns=[f"f{j}" for j in range(5)], index=[f"P{i:03d}" for i in range(n)])
    y = pd.Series((rng.uniform(size=n) < expit(1.5 * X["f0"] - 1.0 * X["f1"])).astype(int), index=X.index)
    return X, y


def test_pool_is_a_scheduler_and_keeps_the_order(pool):
    assert resolve_scheduler(pool).kind == "pool" and resolve_scheduler(pool).local_workers() == 2
    assert map_tasks(abs, list(range(-7, 4)), scheduler=pool) == [abs(i) for i in range(-7, 4)]
    assert map_tasks(abs, [], scheduler=pool) == []
    np.testing.assert_array_equal(run_replicates(_mean_boot, 450, seed=7, scheduler=pool),
                                  run_replicates(_mean_boot, 450, seed=7))


@pytest.mark.parametrize("workers", [0, -1, 1.5, True])
def test_bad_worker_count_is_refused(workers):
    with pytest.raises(InputError, match="workers must be an integer >= 1"):
        WorkerPool(workers)


def _same_zoo(a, b):
    pd.testing.assert_frame_equal(a.oof, b.oof, check_exact=True)
    pd.testing.assert_frame_equal(a.fold_auc, b.fold_auc, check_exact=True)
    assert a.best_params == b.best_params and a.refit_params == b.refit_params
    np.testing.assert_array_equal(a.folds, b.folds)


def test_zoo_in_the_pool_is_bit_identical_to_in_process(pool, cohort):
    X, y = cohort
    grids = {"rf": {"max_depth": [2, None]}, "svm": {"estimator__C": [0.1, 1.0]}, "lr": {"C": [0.1, 1.0]}}
    kw = dict(models=["lr", "rf", "svm"], cv=3, inner_cv=2, seed=5, param_grids=grids)
    ref = fit_zoo(X, y, **kw)
    got = fit_zoo(X, y, scheduler=pool, **kw)
    _same_zoo(ref, got)
    for name in ref.refit:  # the refit pipelines came back from a worker: same predictions
        np.testing.assert_array_equal(ref.refit[name].predict_proba(X), got.refit[name].predict_proba(X))
    # threads too (the searches are independent tasks, seeded by `seed` alone)
    _same_zoo(ref, fit_zoo(X, y, scheduler="threads", **kw))


def test_zoo_fold_features_in_the_pool(pool, cohort):
    X, y = cohort
    calls = []

    def fold_features(k, train):  # runs in the caller, once per outer fold
        calls.append(k)
        return X.assign(f4=X["f4"] + float(np.mean(y.to_numpy()[train])))

    kw = dict(models=["lr"], cv=3, inner_cv=2, seed=1, param_grids={"lr": {"C": [0.1, 1.0]}},
              fold_features=fold_features)
    ref = fit_zoo(X, y, **kw)
    got = fit_zoo(X, y, scheduler=pool, **kw)
    _same_zoo(ref, got)
    assert calls == [1, 2, 3, 1, 2, 3]


def test_worker_warnings_are_said_in_the_caller(pool, cohort):
    X, y = cohort
    models = {"lr1": (LogisticRegression(max_iter=1), {"C": [1.0]}, True)}
    with warnings.catch_warnings(record=True) as local:
        warnings.simplefilter("always")
        fit_zoo(X, y, models=models, cv=3, inner_cv=2, seed=2)
    with warnings.catch_warnings(record=True) as remote:
        warnings.simplefilter("always")
        fit_zoo(X, y, models=models, cv=3, inner_cv=2, seed=2, scheduler=pool)
    assert any(issubclass(w.category, ConvergenceWarning) for w in local)
    assert any(issubclass(w.category, ConvergenceWarning) for w in remote)


def test_pipeline_bootstrap_in_the_pool_is_bit_identical(pool):
    from her2stats import LRMClassifier, pipeline_bootstrap

    rng = np.random.default_rng(4)
    X = pd.DataFrame(rng.normal(size=(80, 3)), columns=["a", "b", "c"])
    y = pd.Series((rng.uniform(size=80) < expit(X["a"] - 0.5 * X["b"])).astype(int))
    ref = pipeline_bootstrap(LRMClassifier(engine="python"), X, y, n_boot=12, seed=6)
    got = pipeline_bootstrap(LRMClassifier(engine="python"), X, y, n_boot=12, seed=6, scheduler=pool, task_size=2)
    assert np.array_equal(ref.predictions, got.predictions)
    pd.testing.assert_frame_equal(ref.to_frame(), got.to_frame(), check_exact=True)


@pytest.mark.r
def test_r_engine_refits_in_a_pool_with_r_started(cohort):
    from her2stats import LRMClassifier, pipeline_bootstrap

    X, y = cohort
    X = X[["f0", "f1"]]
    ref = pipeline_bootstrap(LRMClassifier(engine="r"), X, y, n_boot=6, seed=3)
    with WorkerPool(2, start_r=True) as p:
        got = pipeline_bootstrap(LRMClassifier(engine="r"), X, y, n_boot=6, seed=3, scheduler=p)
    assert np.array_equal(ref.predictions, got.predictions)
    pd.testing.assert_frame_equal(ref.to_frame(), got.to_frame(), check_exact=True)


def test_a_script_without_a_main_guard_runs(tmp_path):
    """Spawned workers do not run the caller's main script again (it would start a pool in turn)."""
    script = tmp_path / "unguarded.py"
    script.write_text(textwrap.dedent("""
        from her2stats.resampling import map_tasks
        from her2stats.schedulers import WorkerPool
        with WorkerPool(2) as pool:
            print(map_tasks(abs, [-1, -2, 3], scheduler=pool))
    """))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                         cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[1, 2, 3]"


def test_study_worker_count_and_config_key(monkeypatch):
    import yaml

    from her2stats.reporting import study as S
    from her2stats.reporting.config import load_config

    base = yaml.safe_load(DEMO_YAML.read_text())
    monkeypatch.setattr(S.os, "cpu_count", lambda: 2)
    assert S.study_worker_count(S.new_state(load_config(base))) == 2
    # one core, workers: 1, a scheduler set, or a fast run: everything stays in this process
    monkeypatch.setattr(S.os, "cpu_count", lambda: 1)
    assert S.study_worker_count(S.new_state(load_config(base))) == 0
    monkeypatch.setattr(S.os, "cpu_count", lambda: 8)
    assert S.study_worker_count(S.new_state(load_config(base))) == 4
    assert S.study_worker_count(S.new_state(load_config({**base, "workers": 3}))) == 3
    assert S.study_worker_count(S.new_state(load_config({**base, "workers": 1}))) == 0
    assert S.study_worker_count(S.new_state(load_config({**base, "scheduler": "sync"}))) == 0
    assert S.study_worker_count(S.new_state(load_config(base), fast=True)) == 0
    with pytest.raises(Exception, match="workers"):
        load_config({**base, "workers": 0})
    # the worker count changes no number: not part of the config hash or the results digest
    a, b = load_config(base), load_config({**base, "workers": 3})
    assert S.config_hash(a) == S.config_hash(b) and S._digest(a, False) == S._digest(b, False)


def _started_section_inputs():
    from her2stats.data import load_demo
    from her2stats.reporting.pipeline_section import study_pipelines

    covs = ["age", "er", "grade", "ki67"]
    df = load_demo()
    df = df[(df["split"] == "train") & df[covs].notna().all(axis=1)]
    # the first 80 development patients: a few resamples separate the outcome (failed refits, a note)
    df = df.assign(_y=df["her2_positive"].astype(int)).iloc[:80]
    return lambda: study_pipelines(df, covariates=covs, selection="stepwise", models=["clinical"], engine="python",
                                   seed=1)


def test_pipeline_section_with_refits_started_early_is_identical(pool):
    """The study submits the whole-pipeline refits to its pool before the evaluation stage and
    collects them at the pipeline-validation stage (start_pipeline_refits): the same section,
    number for number, note for note, as the sequential path."""
    from her2stats.reporting.pipeline_section import pipeline_validation_section
    from her2stats.stats.pipeline_validation import start_pipeline_bootstrap

    make = _started_section_inputs()
    kw = dict(n_boot=8, seed=2, thresholds={"clinical": 0.3}, figures=False)
    with warnings.catch_warnings(record=True) as seq_warns:
        warnings.simplefilter("always")
        ref = pipeline_validation_section(make(), **kw)
    pipes = make()
    started = {}
    for name, (pipe, X, y) in pipes.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            started[name] = (start_pipeline_bootstrap(pipe, X, y, n_boot=8, seed=2, scheduler=pool), list(caught))
        assert started[name][0].pending is not None  # submitted, not run
    with warnings.catch_warnings(record=True) as early_warns:
        warnings.simplefilter("always")
        got = pipeline_validation_section(pipes, scheduler=pool, started=started, **kw)
    assert got.numbers == ref.numbers  # bit for bit
    assert got.notes == ref.notes and got.methods == ref.methods and got.facts == ref.facts
    assert any("refits failed" in n for n in got.notes)  # separation in some resamples: said as before
    assert set(got.tables) == set(ref.tables)
    for k in ref.tables:
        pd.testing.assert_frame_equal(got.tables[k].data, ref.tables[k].data, check_exact=True)
    for name, r in ref.results.items():
        np.testing.assert_array_equal(got.results[name].predictions, r.predictions)
    # the section's warnings stay inside it on both paths (the refits' ones become notes)
    assert [str(w.message) for w in early_warns] == [str(w.message) for w in seq_warns]


def test_started_refits_that_no_longer_match_are_cancelled(pool):
    """The stage uses early refits only for the same pipelines, data, n_boot, seed, method and
    workers; otherwise it cancels them (nothing leaks into the pool) and runs the bootstrap itself."""
    from types import SimpleNamespace

    from her2stats.reporting.pipeline_section import PENDING_KEY, _take_started
    from her2stats.stats.pipeline_validation import start_pipeline_bootstrap

    make = _started_section_inputs()
    pipes = make()
    (pipe, X, y), = pipes.values()
    start = start_pipeline_bootstrap(pipe, X, y, n_boot=40, seed=2, scheduler=pool)
    early = {"pipes": pipes, "n_boot": 40, "seed": 2, "method": "harrell", "workers": pool,
             "starts": {"clinical": (start, [])}}
    state = SimpleNamespace(pending={PENDING_KEY: dict(early)})
    assert _take_started(state, make(), 40, 2, "harrell", pool) == early["starts"] and not state.pending
    other = make()
    other["clinical"][1].iloc[0, 0] += 1.0  # the development data changed since
    for args in ((other, 40, 2, "harrell", pool), (make(), 40, 3, "harrell", pool), (make(), 40, 2, "harrell", None)):
        state = SimpleNamespace(pending={PENDING_KEY: dict(early)})
        assert _take_started(state, *args) is None and not state.pending
    start.cancel()
    assert map_tasks(abs, [-1, 2, -3], scheduler=pool) == [1, 2, 3]  # the pool goes on


def test_started_refits_do_not_outlive_their_pool():
    """A stage failing between the start and the collection (the run then closes its pool): the
    pool closes without running the refits not started, and nothing waits on them."""
    from her2stats.stats.pipeline_validation import start_pipeline_bootstrap

    (pipe, X, y), = _started_section_inputs()().values()
    with WorkerPool(1) as p:
        start = start_pipeline_bootstrap(pipe, X, y, n_boot=60, seed=2, scheduler=p, task_size=1)
    futures = start.pending.futures
    assert all(f.done() for f in futures) and any(f.cancelled() for f in futures)


def _leave_things_behind(folder: str) -> tuple[str, str, int]:
    """A task that leaves R's session temporary directory and a TemporaryDirectory (removed by a
    ``weakref.finalize`` exit handler) for the worker's exit to clean."""
    import os
    import tempfile

    from her2stats import r_bridge

    kept = tempfile.TemporaryDirectory(dir=folder)
    _leave_things_behind.kept = kept  # alive until the process exits
    return str(r_bridge.r_eval("tempdir()")), kept.name, os.getpid()


@pytest.mark.r
def test_workers_end_cleanly_when_the_pool_closes(tmp_path):
    """A pool's workers end without the interpreter's tear-down (R's final collection, every module's
    finalisation), but after the exit handlers: R's temporary directory and the temporary folders
    the tasks left are removed, and each worker exits with status 0."""
    import multiprocessing

    with WorkerPool(2, start_r=True) as p:
        left = [p.submit(_leave_things_behind, str(tmp_path)).result() for _ in range(4)]
        workers = [c for c in multiprocessing.active_children() if c.pid in {pid for *_, pid in left}]
        assert workers and all(type(w).__name__ == "_PoolProcess" for w in workers)
    assert all(w.exitcode == 0 for w in workers), [w.exitcode for w in workers]
    r_dirs, kept = {r for r, _, _ in left}, {k for _, k, _ in left}
    assert r_dirs and not any(Path(d).exists() for d in r_dirs)
    assert kept and not any(Path(d).exists() for d in kept)


def test_a_failing_worker_still_breaks_the_pool():
    """A worker that dies in a task (not the end of its loop when the pool closes) is reported as before."""
    from concurrent.futures.process import BrokenProcessPool

    with WorkerPool(1) as p:
        with pytest.raises(BrokenProcessPool):
            p.submit(os_exit_three).result()


def os_exit_three() -> None:
    import os

    os._exit(3)
