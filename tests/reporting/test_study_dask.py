"""``her2stats report --scheduler``: the fast demo study run on a 2-worker Dask LocalCluster writes
the same numbers.json, bit for bit, as the in-process run (issue 16, item 4).

Both runs use the Python engine, so the bootstraps of rms-style calibrate/validate go through
the scheduler as well as the image feature extraction (with engine "r" they run inside R), and
each run has its own empty feature cache, so the cluster run computes every feature on the
workers instead of reading the in-process run's cache. The cluster has thread workers
(``processes=False``): it needs no network and no fresh interpreter per worker, and runs offline
everywhere; the tasks still travel through the distributed scheduler (scatter, map, gather).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

DEMO_YAML = Path(__file__).resolve().parents[2] / "reports" / "demo.yaml"

pytest.importorskip("torch")
distributed = pytest.importorskip("dask.distributed")
pytestmark = [pytest.mark.slow, pytest.mark.deep]


def _config(tmp_path, name: str) -> str:
    data = yaml.safe_load(DEMO_YAML.read_text())
    data["engine"] = "python"
    data["imaging"]["cache_dir"] = str(tmp_path / f"cache_{name}")
    data["base_dir"] = str(DEMO_YAML.parent)  # its relative paths (reader_study.path...) as in reports/
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def _report(args: list[str]) -> None:
    from typer.testing import CliRunner

    from her2stats.cli import app

    r = CliRunner().invoke(app, ["report", *args, "--fast", "--no-render"])
    assert r.exit_code == 0, r.output + repr(r.exception)


def test_report_on_a_local_cluster_gives_identical_numbers(tmp_path):
    import torch

    threads = torch.get_num_threads()
    _report([_config(tmp_path, "inprocess"), "--out", str(tmp_path / "inprocess")])
    ref = json.loads((tmp_path / "inprocess" / "numbers.json").read_text())
    try:
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                      dashboard_address=None) as cluster, \
                distributed.Client(cluster) as watch, distributed.get_task_stream(client=watch) as stream:
            _report([_config(tmp_path, "dask"), "--out", str(tmp_path / "dask"),
                     "--scheduler", cluster.scheduler_address])
    finally:
        torch.set_num_threads(threads)  # thread workers set the process's torch threads to theirs
    workers = {t["worker"] for t in stream.data}  # filled when the get_task_stream block closes
    names = {distributed.utils.key_split(t["key"]) for t in stream.data}
    got = json.loads((tmp_path / "dask" / "numbers.json").read_text())
    differ = {k: (ref.get(k), got.get(k)) for k in set(ref) | set(got) if ref.get(k) != got.get(k)}
    assert ref["features/cache_hits"] == 0 and got["features/cache_hits"] == 0
    assert not differ, sorted(differ.items())[:20]  # every number, bit for bit (json floats round-trip exactly)
    # the work did go through the cluster: extraction partitions and bootstrap chunk runs
    assert {"extract_partition", "call_run"} <= names, names  # key_split drops the leading underscore
    assert len(workers) == 2, workers
