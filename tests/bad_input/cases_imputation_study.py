"""Bad inputs of the study's imputation and whole-pipeline validation sections: config keys and
values (ConfigError with the key path and the closest valid key or value), columns the cohort
lacks (InputError with the closest column), and data the stages refuse. No engine is involved."""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import yaml

from her2stats.errors import ConfigError, InputError

from ._case import Case

DEMO = Path(__file__).resolve().parents[2] / "reports" / "demo.yaml"
BASE = yaml.safe_load(DEMO.read_text())


def _load(extra: dict):
    from her2stats.reporting.config import load_config

    data = copy.deepcopy(BASE)
    data.update(copy.deepcopy(extra))
    return load_config(data)


def _columns(extra: dict):
    from her2stats.data import load_demo
    from her2stats.reporting.config import check_columns

    check_columns(_load(extra), load_demo().columns)


def _cohort(missing_outcome: bool = False):
    import pandas as pd

    from her2stats.data import load_demo

    df = load_demo()[["age", "grade", "her2_positive"]].head(120).copy()
    df.loc[df.index[:10], "grade"] = np.nan
    df["_y"] = df["her2_positive"].astype(float)
    if missing_outcome:
        df.loc[df.index[50], "_y"] = np.nan
    df["cohort_split"] = np.where(np.arange(len(df)) < 80, "development", "internal")
    return pd.DataFrame(df)


def _impute(df):
    from her2stats.reporting.config import ImputationConfig
    from her2stats.reporting.imputed import imputed_analysis

    return imputed_analysis(df, ["age", "grade"], ["development", "internal"], ImputationConfig(m=2),
                            engine="python")


def _pipelines(df):
    from her2stats.reporting.pipeline_section import study_pipelines

    return study_pipelines(df[df["cohort_split"] == "development"], covariates=["age", "grade"], models=["clinical"])


NONE = (None,)
CASES = [
    Case("study config/imputation key typo", lambda e: _load({"imputation": {"metod": "mice"}}), ConfigError,
         ("imputation.metod", "did you mean 'method'"), engines=NONE),
    Case("study config/imputation method value typo", lambda e: _load({"imputation": {"methods": {"grade": "pmn"}}}),
         ConfigError, ("imputation.methods.grade", "did you mean 'pmm'"), engines=NONE),
    Case("study config/imputation method for a column not imputed",
         lambda e: _load({"imputation": {"methods": {"grad": "polr"}}}), ConfigError,
         ("imputation.methods", "grad", "did you mean 'grade'"), engines=NONE),
    Case("study config/imputation validation value",
         lambda e: _load({"imputation": {"validation": "bootstrap_then_imputes"}}), ConfigError,
         ("imputation.validation", "did you mean 'bootstrap_then_impute'"), engines=NONE),
    Case("study config/imputation auxiliary encodes HER2",
         lambda e: _load({"imputation": {"auxiliary": ["her2_ihc"]}}), ConfigError,
         ("imputation.auxiliary", "her2_ihc", "encode"), engines=NONE),
    Case("study config/imputation auxiliary column absent",
         lambda e: _columns({"imputation": {"auxiliary": ["Ki67"]}}), InputError,
         ("imputation.auxiliary", "Ki67", "did you mean 'ki67'"), engines=NONE),
    Case("study config/pipeline_validation key typo", lambda e: _load({"pipeline_validation": {"n_bot": 5}}),
         ConfigError, ("pipeline_validation.n_bot", "did you mean 'n_boot'"), engines=NONE),
    Case("study config/pipeline_validation model value typo",
         lambda e: _load({"pipeline_validation": {"models": ["clinic"]}}), ConfigError,
         ("pipeline_validation.models", "did you mean 'clinical'"), engines=NONE),
    Case("imputed_analysis/outcome missing", lambda e: _impute(_cohort(missing_outcome=True)), InputError,
         ("outcome", "missing"), engines=NONE),
    Case("study_pipelines/clinical covariates incomplete", lambda e: _pipelines(_cohort()), InputError,
         ("missing values", "complete cases"), engines=NONE),
]
