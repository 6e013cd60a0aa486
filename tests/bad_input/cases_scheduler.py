"""Bad ``scheduler`` values: every function that runs work on a scheduler reads it through
:func:`her2stats.schedulers.resolve_scheduler`, so each refuses the same values with the same
message (the value, the accepted ones, the closest name), before any work. Engine-free rows:
the functions with an ``engine`` run their resampling in Python only (see tests/test_schedulers.py)."""
from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from her2stats.errors import ConfigError, InputError

from ._case import Case

_NO = (None,)
_WORDS = ("'thread'", "did you mean 'threads'", "'processes'", "tcp://")
DEMO = Path(__file__).resolve().parents[2] / "reports" / "demo.yaml"


def _boot(rng, n):
    return rng.random(n)


def _replicates(_):
    from her2stats.resampling import run_replicates

    return run_replicates(_boot, 10, seed=1, scheduler="thread")


def _map(_):
    from her2stats.resampling import map_tasks

    return map_tasks(abs, [1, -1], scheduler=3)


def _extractor(_):
    from her2stats.features import DeepFeatureExtractor

    return DeepFeatureExtractor("resnet18", pretrained=False, scheduler="thread").fit_transform(pd.DataFrame())


def _pipeline(_):
    from sklearn.linear_model import LogisticRegression

    from her2stats.stats.pipeline_validation import pipeline_bootstrap

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=40)})
    y = (rng.random(40) < 0.5).astype(int)
    return pipeline_bootstrap(LogisticRegression(), X, y, n_boot=5, scheduler="thread")


def _config(_):
    from her2stats.reporting.config import load_config

    data = copy.deepcopy(yaml.safe_load(DEMO.read_text()))
    return load_config({**data, "scheduler": "thread"})


def _cli(_):
    from .cases_cli_cache import cli as run

    return run("report", DEMO, "--fast", "--no-render", "--out", tempfile.mkdtemp(prefix="h2s-badsched-"),
               "--scheduler", "127.0.0.1:8786")


CASES = [
    Case("run_replicates/unknown scheduler", _replicates, InputError, _WORDS, engines=_NO),
    Case("map_tasks/scheduler not a name", _map, InputError, ("scheduler 3", "'threads'"), engines=_NO),
    Case("DeepFeatureExtractor/unknown scheduler", _extractor, InputError, _WORDS, engines=_NO),
    Case("pipeline_bootstrap/unknown scheduler", _pipeline, InputError, _WORDS, engines=_NO),
    Case("study config/unknown scheduler", _config, ConfigError, ("scheduler:",) + _WORDS, engines=_NO),
    Case("report --scheduler/address without protocol", _cli, ConfigError,
         ("scheduler", "'127.0.0.1:8786'", "needs its protocol"), engines=_NO),
]
