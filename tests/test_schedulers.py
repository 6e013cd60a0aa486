"""One reader of ``scheduler`` (her2stats.schedulers): resampling, feature extraction and the study
config accept the same values, refuse the same ones with one message, and give the same numbers
on every scheduler."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from her2stats.errors import ConfigError, InputError
from her2stats.resampling import map_tasks, run_replicates
from her2stats.schedulers import ACCEPTED, SCHEDULER_NAMES, resolve_scheduler

DEMO_YAML = Path(__file__).resolve().parents[1] / "reports" / "demo.yaml"


def _mean_boot(rng, n):
    x = np.arange(50.0)
    return np.array([x[rng.integers(0, 50, 50)].mean() for _ in range(n)])


@pytest.mark.parametrize("value, kind", [(None, "sync"), ("sync", "sync"), ("sequential", "sync"),
                                         ("synchronous", "sync"), ("threads", "threads"),
                                         ("processes", "processes"), ("tcp://10.0.0.1:8786", "distributed"),
                                         ("inproc://10.0.0.1/123/1", "distributed")])
def test_accepted_values(value, kind):
    sched = resolve_scheduler(value)
    assert sched.kind == kind
    assert sched.target == (value if kind == "distributed" else None)


@pytest.mark.parametrize("value, words", [("thread", ("'thread'", "did you mean 'threads'")),
                                          ("Processes", ("did you mean 'processes'",)),
                                          ("dask", ("'dask'",)),
                                          ("localhost:8786", ("needs its protocol",)),
                                          ("tcp://", ("'tcp://'",)),
                                          (4, ("4",)),
                                          (object(), ("a object",))])
def test_refused_values_name_the_value_and_the_accepted_ones(value, words):
    with pytest.raises(InputError) as err:
        resolve_scheduler(value)
    msg = str(err.value)
    assert ACCEPTED in msg
    for w in words:
        assert w in msg


@pytest.mark.parametrize("call", [
    lambda s: run_replicates(_mean_boot, 10, seed=1, scheduler=s),
    lambda s: map_tasks(abs, [1, -2], scheduler=s),
])
def test_resampling_and_extraction_refuse_with_the_same_message(call):
    from her2stats.features import DeepFeatureExtractor

    with pytest.raises(InputError) as a:
        call("thread")
    with pytest.raises(InputError) as b:  # before any case is read (the table is not even looked at)
        DeepFeatureExtractor("resnet18", pretrained=False, scheduler="thread").fit_transform(pd.DataFrame())
    assert str(a.value) == str(b.value)


def test_same_numbers_on_every_local_scheduler():
    ref = run_replicates(_mean_boot, 450, seed=7)
    for s in ("sync", "sequential", "synchronous", "threads", "processes"):
        np.testing.assert_array_equal(run_replicates(_mean_boot, 450, seed=7, scheduler=s), ref)
    assert map_tasks(abs, [-3, 1, -2], scheduler="threads") == [3, 1, 2]


@pytest.mark.slow
def test_cluster_object_is_accepted_and_its_client_closed():
    from dask.distributed import LocalCluster

    ref = run_replicates(_mean_boot, 450, seed=7)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        got = run_replicates(_mean_boot, 450, seed=7, scheduler=cluster)
        np.testing.assert_array_equal(got, ref)
        assert resolve_scheduler(cluster).kind == "distributed"


def test_study_config_scheduler_key():
    import yaml

    from her2stats.reporting.config import load_config

    base = yaml.safe_load(DEMO_YAML.read_text())
    assert load_config(base).scheduler is None
    for ok in (*SCHEDULER_NAMES, "tcp://127.0.0.1:8786"):
        assert load_config({**base, "scheduler": ok}).scheduler == ok
    with pytest.raises(ConfigError, match=r"config: scheduler: .*'thread' is not a scheduler.*did you mean 'threads'"):
        load_config({**base, "scheduler": "thread"})
    with pytest.raises(ConfigError, match=r"schedular: unknown key; did you mean 'scheduler'"):
        load_config({**base, "schedular": "threads"})
    # the command line's --scheduler goes through the same check
    assert load_config(DEMO_YAML, overrides={"scheduler": "threads"}).scheduler == "threads"


def test_scheduler_changes_no_digest():
    import yaml

    from her2stats.reporting.config import load_config
    from her2stats.reporting.study import _digest, config_hash

    base = yaml.safe_load(DEMO_YAML.read_text())
    a, b = load_config(base), load_config({**base, "scheduler": "tcp://127.0.0.1:8786"})
    assert config_hash(a) == config_hash(b) and _digest(a, True) == _digest(b, True)


def test_cli_refuses_a_bad_scheduler_before_running(tmp_path):
    from typer.testing import CliRunner

    from her2stats.cli import app

    r = CliRunner().invoke(app, ["report", str(DEMO_YAML), "--out", str(tmp_path / "o"), "--fast", "--no-render",
                                 "--scheduler", "proceses"])
    assert r.exit_code == 2, r.output
    assert "scheduler" in r.output and "did you mean 'processes'" in r.output
    assert not (tmp_path / "o").exists()


def test_unreachable_address_is_an_input_error():
    import dask

    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        with pytest.raises(InputError, match=r"scheduler 'tcp://127.0.0.1:1': no Dask scheduler answered"):
            map_tasks(abs, [1, -1], scheduler="tcp://127.0.0.1:1")


@pytest.mark.deep
def test_cli_extract_scheduler(tmp_path):
    """``her2stats extract --scheduler threads`` writes the same features as the in-process run;
    a bad value is refused with the one message before any case is read."""
    from PIL import Image as PILImage
    from typer.testing import CliRunner

    from her2stats.cli import app

    pytest.importorskip("torch")
    for i in range(3):
        PILImage.fromarray((np.random.default_rng(i).random((30, 40)) * 255).astype(np.uint8)).save(tmp_path / f"u{i}.png")
    (tmp_path / "cases.csv").write_text("patient_id,sequence,image_path\n"
                                        + "".join(f"u{i},us,u{i}.png\n" for i in range(3)))
    base = ["extract", str(tmp_path / "cases.csv"), "--whole-image", "--backbone", "resnet18", "--pretrained", "false",
            "--no-cache", "--batch-size", "2"]
    outs = {}
    for s in (None, "threads"):
        out = tmp_path / f"{s}.csv"
        r = CliRunner().invoke(app, base + ["--out", str(out)] + (["--scheduler", s] if s else []))
        assert r.exit_code == 0, r.output
        outs[s] = pd.read_csv(out, index_col=0)
    pd.testing.assert_frame_equal(outs["threads"], outs[None], check_exact=True)
    r = CliRunner().invoke(app, base + ["--out", str(tmp_path / "bad.csv"), "--scheduler", "thread"])
    assert r.exit_code == 2 and "did you mean 'threads'" in r.output
    assert not (tmp_path / "bad.csv").exists()


def test_every_function_with_an_engine_refuses_a_bad_scheduler_on_both_engines():
    """The scheduler is read before anything else, so ``engine="r"`` (where R may do the
    resampling and never look at it) refuses a bad value exactly as the Python engine does."""
    import inspect

    import her2stats
    from her2stats.errors import InputError

    checked = []
    for name in sorted(her2stats._LAZY):
        f = getattr(her2stats, name)
        if inspect.isclass(f) or not callable(f):
            continue
        params = inspect.signature(f).parameters
        if not {"engine", "scheduler"} <= set(params) or name == "new_state":
            continue
        required = [p for p in params.values() if p.default is inspect.Parameter.empty
                    and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        for engine in ("r", "python"):
            with pytest.raises(InputError, match="thread"):
                f(*[None] * len(required), engine=engine, scheduler="thread")
        checked.append(name)
    assert {"roc_auc", "validate", "calibrate", "decision_curve", "validate_cph"} <= set(checked)


def test_local_cluster_is_one_helper_under_both_names():
    from her2stats import local_cluster as top
    from her2stats.features import local_cluster as feat
    from her2stats.schedulers import local_cluster

    assert top is feat is local_cluster


@pytest.mark.parametrize("n_units,workers,batch,per_unit", [
    (16, 2, 16, 15), (16, 1, 16, 15), (3, 2, 32, 1), (5, 4, 32, 1), (400, 2, 32, 5), (1000, 2, 32, 1),
    (80, 2, 16, 1), (7, 2, 64, 3)])
def test_default_partitions_give_every_worker_work(n_units, workers, batch, per_unit):
    """The default task size never packs a study into fewer tasks than two per worker (it was rounded
    up to whole batches counted in cases, so 16 patients with batch_size=16 made one task and a second
    worker idled); when there is room it still fills whole batches of slices."""
    import math

    from her2stats.features.extractor import _partition_size

    size = _partition_size(n_units, workers, batch, per_unit)
    n_tasks = math.ceil(n_units / size)
    assert n_tasks >= min(n_units, 2 * workers)
    assert size <= max(1, math.ceil(n_units / (4 * workers))) or (size * per_unit) % batch < per_unit
