"""Bad inputs of the reader-study (MRMC) functions and of ComBat harmonisation."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import her2stats as h2
from her2stats.errors import InputError

from ._case import Case

_VD = Path(__file__).resolve().parents[2] / "data" / "vandyke" / "VanDyke.csv"


def _vd() -> pd.DataFrame:
    return pd.read_csv(_VD)


def _missing_rating():
    d = _vd()
    d.loc[[3, 40], "rating"] = np.nan
    return d


def _nonbinary_truth():
    d = _vd()
    d.loc[d["case"] == 7, "truth"] = 2
    return d


def _truth_flips():
    d = _vd()
    d.loc[(d["case"] == 5) & (d["reader"] == 2), "truth"] = 1 - d.loc[(d["case"] == 5) & (d["reader"] == 2), "truth"]
    return d


def _unbalanced():
    d = _vd()
    return d[~((d["reader"] == 3) & (d["case"] <= 10))]      # reader 3 skipped 10 cases entirely


def _one_treatment_missing():
    d = _vd()
    return d[~((d["reader"] == 2) & (d["case"] == 9) & (d["treatment"] == 2))]


def _duplicated():
    d = _vd()
    return pd.concat([d, d.iloc[[0]]], ignore_index=True)


def _cohort(n=(10, 10, 10)) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    b = np.repeat(["GE", "Philips", "Siemens"], n)
    df = pd.DataFrame(rng.normal(size=(len(b), 6)), columns=[f"f{j}" for j in range(6)])
    df["scanner"] = b
    df["field"] = rng.choice(["1.5T", "3T"], len(b))
    return df


def _cb(e, **kw):
    return h2.ComBat(batch_col="scanner", engine=e, **kw)


def _fit_then(e, new, **kw):
    return _cb(e, **kw).fit(_cohort()).transform(new)


def _single_sample_batch():
    d = _cohort()
    d.loc[0, "scanner"] = "Canon"
    return d


def _nan_feature():
    d = _cohort()
    d.loc[4, "f2"] = np.nan
    return d


def _confounded():
    d = _cohort()
    d["site"] = d["scanner"]
    return d


CASES = [
    Case("mrmc/missing-column", lambda e: h2.mrmc(_vd(), rating="score", engine=e), InputError, ("score",)),
    Case("mrmc/missing-ratings", lambda e: h2.mrmc(_missing_rating(), engine=e), InputError, ("rating: 2", "missing")),
    Case("mrmc/non-binary-truth", lambda e: h2.mrmc(_nonbinary_truth(), engine=e), InputError, ("truth", "0/1", "2]")),
    Case("mrmc/truth-differs-between-readings", lambda e: h2.mrmc(_truth_flips(), engine=e), InputError,
         ("truth", "same case", "5")),
    Case("mrmc/unbalanced-design", lambda e: h2.mrmc(_unbalanced(), engine=e), InputError, ("unbalanced", "split-plot")),
    Case("mrmc/reading-missing-under-one-treatment", lambda e: h2.mrmc(_one_treatment_missing(), engine=e), InputError,
         ("reader 2", "case 9", "[2]")),
    Case("mrmc/duplicated-reading", lambda e: h2.mrmc(_duplicated(), engine=e), InputError, ("more than once",)),
    Case("mrmc/one-treatment", lambda e: h2.mrmc(_vd()[lambda d: d.treatment == 1], engine=e), InputError,
         ("1 treatment", "at least 2")),
    Case("mrmc/one-reader", lambda e: h2.mrmc(_vd()[lambda d: d.reader == 1], engine=e), InputError,
         ("1 reader", "roc_test")),
    Case("mrmc/unknown-treatment-order", lambda e: h2.mrmc(_vd(), treatments=[1, 3], engine=e), InputError, ("[3]",)),
    Case("mrmc/bad-cov", lambda e: h2.mrmc(_vd(), cov="obuchowski", engine=e), InputError, ("cov", "jackknife")),
    Case("mrmc/delong-for-sensitivity", lambda e: h2.mrmc(_vd(), cov="delong", metric="sensitivity", threshold=3,
                                                           engine=e), InputError, ("delong", "empirical auc")),
    Case("mrmc/sensitivity-without-threshold", lambda e: h2.mrmc(_vd(), metric="sensitivity", engine=e), InputError,
         ("threshold",)),
    Case("mrmc/dbm-with-delong", lambda e: h2.mrmc(_vd(), method="DBM", cov="delong", engine=e), InputError,
         ("DBM", "jackknife")),
    Case("mrmc/dbm-split-plot", lambda e: h2.mrmc(_vd().assign(case=lambda d: d.reader * 1000 + d.case), method="DBM",
                                                   engine=e), InputError, ("fully crossed",)),
    Case("mrmc/bad-fixed", lambda e: h2.mrmc(_vd(), fixed="both", engine=e), InputError, ("fixed",)),
    Case("mrmc/level-out-of-range", lambda e: h2.mrmc(_vd(), level=95, engine=e), InputError, ("level",)),
    Case("mrmc/binormal-continuous-ratings", lambda e: h2.mrmc(_vd().assign(rating=lambda d: d.rating + np.linspace(0, .5, len(d))),
                                                               metric="binormal_auc", engine="python"),
         InputError, ("ordinal", "bin"), engines=(None,)),
    Case("mrmc/bootstrap-on-r-engine", lambda e: h2.mrmc(_vd(), cov="bootstrap", engine="r"), InputError,
         ("engine='python'",), engines=(None,)),
    Case("mrmc_standalone/model-differs-between-readers",
         lambda e: h2.mrmc_standalone(_vd()[lambda d: d.treatment == 1].assign(model=lambda d: d.rating), model="model",
                                      engine=e), InputError, ("model", "one score per case")),
    Case("mrmc_standalone/negative-margin",
         lambda e: h2.mrmc_standalone(_vd()[lambda d: d.treatment == 1].assign(model=lambda d: d.case), model="model",
                                      margin=-0.05, engine=e), InputError, ("margin",)),
    Case("mrmc_sample_size/no-effect", lambda e: h2.mrmc_sample_size({"var_tr": 1e-4, "var": 8e-4, "cov1": 3e-4,
                                                                       "cov2": 3e-4, "cov3": 2e-4}, n_readers=5,
                                                                      effect=0, pilot_cases=100),
         InputError, ("effect",), engines=(None,)),
    Case("mrmc_sample_size/missing-component", lambda e: h2.mrmc_sample_size({"var": 8e-4}, n_readers=5, effect=0.05,
                                                                             pilot_cases=100),
         InputError, ("var_tr", "cov1"), engines=(None,)),
    Case("mrmc_sample_size/one-reader", lambda e: h2.mrmc_sample_size({"var_tr": 1e-4, "var": 8e-4, "cov1": 3e-4,
                                                                        "cov2": 3e-4, "cov3": 2e-4}, n_readers=1,
                                                                       effect=0.05, pilot_cases=100),
         InputError, ("n_readers",), engines=(None,)),
    # ComBat
    Case("combat/unseen-batch", lambda e: _fit_then(e, _cohort().assign(scanner="Canon")), InputError,
         ("Canon", "not seen at fit time", "reference_batch")),
    Case("combat/unseen-covariate-level",
         lambda e: _fit_then(e, _cohort().assign(field="7T"), covariates=["field"]), InputError, ("field", "7T", "unseen")),
    Case("combat/single-sample-batch", lambda e: _cb(e).fit(_single_sample_batch()), InputError,
         ("Canon", "single training sample")),
    Case("combat/missing-batch-column", lambda e: _cb(e).fit(_cohort().drop(columns="scanner")), InputError,
         ("scanner", "not found")),
    Case("combat/missing-feature-value", lambda e: _cb(e).fit(_nan_feature()), InputError, ("f2", "missing")),
    Case("combat/one-batch", lambda e: _cb(e).fit(_cohort().assign(scanner="GE")), InputError, ("one batch",)),
    Case("combat/confounded-covariate", lambda e: _cb(e, covariates=["site"]).fit(_confounded()), InputError,
         ("confounded", "site")),
    Case("combat/reference-not-a-batch", lambda e: _cb(e, reference_batch="Toshiba").fit(_cohort()), InputError,
         ("Toshiba",)),
    Case("combat/unseen-reference-without-reference", lambda e: _cb(e, unseen_batch="reference").fit(_cohort()),
         InputError, ("reference_batch",)),
    Case("combat/not-a-dataframe", lambda e: _cb(e).fit(np.zeros((10, 3))), InputError, ("DataFrame",)),
    Case("combat/missing-feature-at-transform", lambda e: _fit_then(e, _cohort().drop(columns="f3")), InputError,
         ("f3",)),
    Case("combat/no-eb-on-r", lambda e: _cb("r", eb=False).fit(_cohort()), InputError, ("eb=False", "sva"),
         engines=(None,)),
]
