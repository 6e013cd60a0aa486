"""Fixtures for the real-data studies (reports/studies/*.yaml).

The cohorts are the package loaders' output; the analysis rows are rebuilt here from the study
config (``cohort.require`` in order, then the split) with plain pandas, so the tests check the
runner's cohort flow against an independent count and the statistics against R
(``r/studies_reference.R``) on exactly the same rows.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
STUDIES = REPO / "reports" / "studies"


def study_config_path(name: str) -> Path:
    return STUDIES / f"{name}.yaml"


@pytest.fixture(scope="session")
def mamamia(data_dir) -> pd.DataFrame:
    from her2stats.data.loaders import MAMAMIA_RELPATH, load_mamamia

    return load_mamamia(data_dir.parent / MAMAMIA_RELPATH)


@pytest.fixture(scope="session")
def duke(data_dir) -> pd.DataFrame:
    from her2stats.data.loaders import DUKE_RELPATH, load_duke

    return load_duke(data_dir.parent / DUKE_RELPATH)


def load_study(name: str):
    from her2stats.reporting.config import load_config

    return load_config(study_config_path(name))


def apply_require(df: pd.DataFrame, require: list[str]) -> tuple[pd.DataFrame, list[tuple[str, int]]]:
    """Drop rows missing each required column in turn; return the rows kept and
    ``[(column, n_excluded), ...]`` in config order (what the cohort flow must report)."""
    flow = []
    for col in require:
        keep = df[col].notna()
        flow.append((col, int((~keep).sum())))
        df = df.loc[keep]
    return df.copy(), flow


def r_frame(df: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The columns R needs, with nullable integers as float (NA kept) and categories kept as
    factors with the package's level order (so dummy coding is identical)."""
    out = df[list(columns)].reset_index(drop=True).copy()
    for c in out.columns:
        if pd.api.types.is_extension_array_dtype(out[c].dtype) and not isinstance(out[c].dtype, pd.CategoricalDtype):
            out[c] = out[c].astype("float64")
        if isinstance(out[c].dtype, pd.CategoricalDtype):
            out[c] = out[c].cat.remove_unused_categories()
    return out


def as_float(values) -> np.ndarray:
    return np.asarray(pd.Series(values).astype("float64"), dtype=float)


@pytest.fixture(scope="session")
def r_reference():
    """Call an ``h2s_ref_*`` function of r/studies_reference.R through the bridge."""
    from her2stats import r_bridge

    r_bridge.require("pROC")
    r_bridge.require("survival")

    def call(fn: str, *args, **kwargs):
        return r_bridge.call(fn, *args, **kwargs)

    return call


_RUNS: dict = {}


@pytest.fixture(scope="session")
def study_run(tmp_path_factory):
    """``run_study(<reports/studies/name>.yaml, fast=True)`` once per session, into a temp folder."""
    def run(name: str):
        if name not in _RUNS:
            import warnings

            from her2stats.reporting.study import run_study

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _RUNS[name] = run_study(load_study(name), fast=True, outdir=tmp_path_factory.mktemp(name))
        return _RUNS[name]

    return run


def r_term(name: str) -> str:
    """Package term label (``grade=2``, ``hr=positive``) as R names the coefficient (``grade2``)."""
    return name.replace("=", "")


def keyed(numbers: dict, prefix: str) -> dict:
    """``{term: value}`` of the numbers ``<prefix>/<term>``, in the runner's order."""
    return {k[len(prefix) + 1:]: v for k, v in numbers.items() if k.startswith(prefix + "/")}
