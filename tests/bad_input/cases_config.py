"""Bad study configs: unknown keys and values are refused (ConfigError), and columns the data
lack (InputError), with the key path and the closest valid key, value or column
(``difflib.get_close_matches``). No engine is involved."""
from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import yaml

from her2stats.errors import ConfigError, InputError

from ._case import Case

DEMO = Path(__file__).resolve().parents[2] / "reports" / "demo.yaml"
BASE = yaml.safe_load(DEMO.read_text())


def _config(edit) -> dict:
    data = copy.deepcopy(BASE)
    edit(data)
    return data


def _load(edit):
    from her2stats.reporting.config import load_config

    return load_config(_config(edit))


def _columns(edit):
    """The config is valid; its columns are checked against the demo cohort."""
    from her2stats.data import load_demo
    from her2stats.reporting.config import check_columns

    check_columns(_load(edit), load_demo().columns)


def _run(edit):
    """run_study refuses the config as soon as the cohort is loaded (before any analysis)."""
    from her2stats.reporting.study import run_study

    return run_study(_config(edit), fast=True, outdir=tempfile.mkdtemp(prefix="h2s-badcfg-"))


def _rename(section: str, old: str, new: str):
    def edit(d):
        d[section][new] = d[section].pop(old)
    return edit


def _set(section: str, key: str, value):
    def edit(d):
        d[section][key] = value
    return edit


def _covariate(i: int, name: str):
    def edit(d):
        d["clinical"]["covariates"][i] = name
    return edit


N = (None,)
CASES = [
    Case("config/unknown-key-table1.grup", lambda e: _load(_rename("table1", "group", "grup")), ConfigError,
         ("table1.grup", "unknown key", "did you mean 'group'"), engines=N),
    Case("config/unknown-top-level-key", lambda e: _load(lambda d: d.update(clinicl=d.pop("clinical"))), ConfigError,
         ("clinicl", "unknown key", "did you mean 'clinical'"), engines=N),
    Case("config/unknown-key-no-close-match", lambda e: _load(_set("table1", "zzzz", 1)), ConfigError,
         ("table1.zzzz", "unknown key", "valid keys", "group", "variables"), engines=N),
    Case("config/unknown-key-in-survival", lambda e: _load(_rename("survival", "covariates", "covariate")), ConfigError,
         ("survival.covariate", "did you mean 'covariates'"), engines=N),
    Case("config/value-typo-splits.by", lambda e: _load(_set("splits", "by", "centre")), ConfigError,
         ("splits.by", "'center' or 'random'", "did you mean 'center'"), engines=N),
    Case("config/value-typo-zoo-model", lambda e: _load(_set("zoo", "models", ["lr", "rff"])), ConfigError,
         ("zoo.models.1", "did you mean 'rf'"), engines=N),
    Case("config/column-case-clinical", lambda e: _columns(_covariate(0, "Age")), InputError,
         ("clinical.covariates", "column 'Age' not in the cohort", "did you mean 'age'"), engines=N),
    Case("config/column-typo-table1", lambda e: _columns(lambda d: d["table1"]["variables"].append("tumour_size_mm")),
         InputError, ("table1.variables", "'tumour_size_mm'", "did you mean 'tumor_size_mm'"), engines=N),
    Case("config/column-typo-survival", lambda e: _columns(_set("survival", "duration", "rfs_tme")), InputError,
         ("survival.duration", "'rfs_tme'", "did you mean 'rfs_time'"), engines=N),
    Case("config/column-no-close-match", lambda e: _columns(_set("cohort", "require", ["nonsense_column"])), InputError,
         ("cohort.require", "'nonsense_column'", "not in the cohort", "columns:", "age"), engines=N),
    Case("config/several-bad-columns", lambda e: _columns(lambda d: (_covariate(0, "Age")(d), _set("table1", "group", "her2_satus")(d))),
         InputError, ("did you mean 'age'", "table1.group", "'her2_satus'", "did you mean 'her2_status'"), engines=N),
    Case("run_study/column-typo", lambda e: _run(_covariate(1, "ER")), InputError,
         ("clinical.covariates", "column 'ER' not in the cohort", "did you mean 'er'"), engines=N),
    Case("config/survival-predicted_by-typo", lambda e: _load(_set("survival", "predicted_by", "deep_scor")), ConfigError,
         ("survival.predicted_by", "'deep_scor'", "not a model of this study", "did you mean 'deep_score'"), engines=N),
    Case("config/survival-predicted_by-in-sample", lambda e: _load(lambda d: (
        _set("survival", "predicted_by", "clinical")(d), _set("splits", "external", [])(d),
        _set("splits", "internal_fraction", 0.0)(d))), ConfigError,
         ("survival.predicted_by", "needs a test cohort", "in-sample"), engines=N),
    Case("config/clinical-final_p-without-stepwise", lambda e: _load(_set("clinical", "final_p", 0.05)), ConfigError,
         ("clinical", "final_p", "contains stepwise", "'none'"), engines=N),
    Case("config/clinical-univariate_p-without-univariate",
         lambda e: _load(_set("clinical", "univariate_p", 0.1)), ConfigError,
         ("clinical.univariate_p", "selection: univariate"), engines=N),
    Case("config/clinical-selection-typo", lambda e: _load(_set("clinical", "selection", "univariat")), ConfigError,
         ("clinical.selection", "did you mean 'univariate'"), engines=N),
]
