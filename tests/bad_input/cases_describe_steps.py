"""Bad configs of the descriptive, zoo and reader steps (issue 18): ``table1.by`` naming an absent
column, ``zoo.features: selected`` without a clinical selection, ``agreement:`` pairs that cannot
be computed (a reader column that does not exist, kappa over three readers, weights on a
continuous pair, a readings table that repeats a patient)."""
from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd

from her2stats.errors import ConfigError, InputError

from ._case import Case

BASE = {"name": "bad", "cohort": {"source": "demo", "outcome": "her2_positive",
                                  "exclude_predictors": ["her2_status", "her2_class", "her2_ihc", "her2_ish", "subtype"]},
        "splits": {"by": "center", "column": "center", "train": ["A", "B"], "external": ["C"],
                   "internal_fraction": 0.0}}
PAIR = {"variable": "adc", "readers": ["adc", "adc_r2"], "kind": "continuous"}


def _load(**extra):
    from her2stats.reporting.config import load_config

    return load_config({**BASE, **extra})


def _columns(**extra):
    from her2stats.data import load_demo
    from her2stats.reporting.config import check_columns

    check_columns(_load(**extra), load_demo().columns)


def _agreement(engine, readings="demo", pairs=(PAIR,)):
    from her2stats.reporting.study import new_state, stage_agreement, stage_cohort

    st = stage_cohort(new_state(_load(agreement={"readings": readings, "pairs": list(pairs)}), engine=engine))
    return stage_agreement(st)


def _duplicated_readings(engine):
    from her2stats.data.demo import load_demo_readers

    t = load_demo_readers()
    t = pd.concat([t, t.iloc[[0]]], ignore_index=True)
    path = Path(tempfile.mkdtemp()) / "readings.csv"
    t.to_csv(path, index=False)
    return _agreement(engine, readings=str(path))


CASES = [
    Case("study_config/table1.by column absent", lambda e: _columns(table1={"by": ["centre"]}), InputError,
         ("table1.by", "'centre'", "did you mean 'center'"), engines=(None,)),
    Case("study_config/zoo.features selected without clinical", lambda e: _load(zoo={"features": "selected"}),
         ConfigError, ("zoo.features: selected", "clinical section"), engines=(None,)),
    Case("study_config/agreement kappa of three readers",
         lambda e: _load(agreement={"pairs": [{"variable": "m", "readers": ["a", "b", "c"], "kind": "categorical"}]}),
         ConfigError, ("agreement.pairs", "exactly two readers"), engines=(None,)),
    Case("study_config/agreement weights on a continuous pair",
         lambda e: _load(agreement={"pairs": [{**PAIR, "weights": "quadratic"}]}),
         ConfigError, ("agreement.pairs", "kind: categorical"), engines=(None,)),
    Case("study_config/agreement no pairs", lambda e: _load(agreement={"readings": "demo", "pairs": []}),
         ConfigError, ("agreement.pairs",), engines=(None,)),
    Case("stage_agreement/reader column absent",
         lambda e: _agreement(e, pairs=[{"variable": "adc", "readers": ["adc", "adc_r3"], "kind": "continuous"}]),
         InputError, ("agreement.pairs[0].readers", "'adc_r3'", "did you mean 'adc_r2'")),
    Case("stage_agreement/readings file absent", lambda e: _agreement(e, readings="/nonexistent/readings.csv"),
         ConfigError, ("agreement.readings", "file not found")),
    Case("stage_agreement/readings repeat a patient", _duplicated_readings, InputError,
         ("agreement.readings", "more than once")),
]
