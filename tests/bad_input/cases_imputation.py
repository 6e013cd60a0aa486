"""Bad inputs of multiple imputation and its pooling (issue 17): MiceImputer (fit, transform),
pool, fit_lrm_mi, performance_mi, validate_mi; Table 1 types; the announced ROC direction."""
from __future__ import annotations

import numpy as np
import pandas as pd

import her2stats as h2
from her2stats.errors import ConvergenceError, DirectionWarning, InputError

from ._case import Case

_rng = np.random.default_rng(17)
N = 80
DEV = pd.DataFrame({
    "age": _rng.normal(55, 10, N), "grade": pd.Categorical(_rng.choice(["1", "2", "3"], N), ordered=True),
    "er": (_rng.random(N) < 0.6).astype(float), "her2": (_rng.random(N) < 0.4).astype(int),
})
DEV.loc[_rng.random(N) < 0.2, "age"] = np.nan
DEV.loc[_rng.random(N) < 0.2, "grade"] = np.nan


def _imp(e, **kw):
    return h2.MiceImputer(**{"m": 2, "outcome": "her2", "seed": 1, "engine": e, **kw})


def _fit(e, data=DEV, **kw):
    return _imp(e, **kw).fit(data)


def _outcome_missing(e):
    d = DEV.copy()
    d.loc[[1, 2], "her2"] = np.nan
    return _fit(e, d)


def _all_missing(e):
    return _fit(e, DEV.assign(albumin=np.nan))


def _ids(e):
    return _fit(e, DEV.assign(patient=[f"id{i}" for i in range(N)]))


def _dates(e):
    return _fit(e, DEV.assign(seen=pd.date_range("2020-01-01", periods=N)))


def _stray(e):
    ki = _rng.normal(20, 5, N).round(1).astype(object)
    ki[4] = "unknown"
    return _fit(e, DEV.assign(ki67=ki))


def _unseen_level(e):
    t = DEV.iloc[:10].copy()
    t["grade"] = t["grade"].astype(object)
    t.iloc[0, t.columns.get_loc("grade")] = "4"
    return _fit(e).transform(t)


def _absent_column(e):
    return _fit(e).transform(DEV.drop(columns="er"))


def _complete(e):
    return list(_fit(e).imputations_)


def _fit_mi(e, sets, **kw):
    return h2.fit_lrm_mi(sets, "her2", ["age", "grade", "er"], engine=e, **kw)


def _perf(e, **kw):
    sets = _complete(e)
    model = _fit_mi(e, sets)
    return h2.performance_mi(model, sets, engine=e, **kw)


def _bad_predictions(e):
    sets = _complete(e)
    return h2.performance_mi(lambda d: np.ones(len(d)), sets, outcome="her2", engine=e)


def _separated(e):
    sets = [d.assign(sep=d.her2.astype(float)) for d in _complete(e)]
    return h2.fit_lrm_mi(sets, "her2", ["age", "sep"], engine=e)


def _vmi(**kw):
    args = {"imputer": h2.MiceImputer(m=2, outcome="her2", seed=1), "m_boot": 2, "n_boot": 2, "seed": 1, **kw}
    return h2.validate_mi(DEV, "her2", ["age", "grade"], **args)


T1 = pd.DataFrame({"g": ["a", "b"] * 20, "x": np.arange(40.0), "f": [0.0, 1.0] * 20, "t": ["u", "v"] * 20})
Y = np.r_[np.zeros(20), np.ones(20)]
S = -np.arange(40.0)

NONE = (None,)
CASES = [
    Case("MiceImputer/not a DataFrame", lambda e: _imp(e).fit(DEV.to_numpy()), InputError, ("DataFrame",)),
    Case("MiceImputer/outcome column absent", lambda e: _fit(e, outcome="her3"), InputError,
         ("her3", "not in the data")),
    Case("MiceImputer/outcome missing", _outcome_missing, InputError, ("'her2'", "missing in 2 row")),
    Case("MiceImputer/one imputation", lambda e: _fit(e, m=1), InputError, ("m (number of imputations)", ">= 2")),
    Case("MiceImputer/unknown method", lambda e: _fit(e, method={"age": "forest"}), InputError,
         ("forest", "pmm")),
    Case("MiceImputer/method for the wrong type", lambda e: _fit(e, method={"age": "logreg"}), InputError,
         ("'logreg'", "'age'", "numeric")),
    Case("MiceImputer/method for a column not imputed", lambda e: _fit(e, method={"size": "pmm"}), InputError,
         ("size",)),
    Case("MiceImputer/column with no observed value", _all_missing, InputError, ("albumin", "no observed value")),
    Case("MiceImputer/identifier column", _ids, InputError, ("patient", "80 distinct text values")),
    Case("MiceImputer/dates", _dates, InputError, ("seen", "dates")),
    Case("MiceImputer/numbers with a stray string", _stray, InputError, ("ki67", "unknown")),
    Case("MiceImputer/outcome listed as a column", lambda e: _fit(e, columns=["age", "her2"]), InputError,
         ("outcome 'her2' is also listed",)),
    Case("MiceImputer/transform before fit", lambda e: _imp(e).transform(DEV), InputError, ("not fitted",)),
    Case("MiceImputer/transform unseen category", _unseen_level, InputError, ("'grade'", "'4'", "not seen")),
    Case("MiceImputer/transform column absent", _absent_column, InputError, ("['er']", "not in the new data")),
    Case("pool/shapes differ", lambda e: h2.pool(np.ones((3, 2)), np.ones((3, 3)), engine=e), InputError,
         ("shape (3, 2)", "(3, 3)")),
    Case("pool/one imputation", lambda e: h2.pool([1.0], [0.1], engine=e), InputError, ("at least 2 imputations",)),
    Case("pool/negative variance", lambda e: h2.pool([1.0, 2.0], [0.1, -0.1], engine=e), InputError,
         ("variances must be >= 0",)),
    Case("pool/failed fit", lambda e: h2.pool([1.0, np.nan], [0.1, 0.1], engine=e), InputError, ("finite",)),
    Case("pool/dfcom zero", lambda e: h2.pool([1.0, 2.0], [0.1, 0.1], dfcom=0, engine=e), InputError,
         ("dfcom",)),
    Case("pool/level", lambda e: h2.pool([1.0, 2.0], [0.1, 0.1], level=95, engine=e), InputError, ("level",)),
    Case("fit_lrm_mi/incomplete data sets", lambda e: _fit_mi(e, [DEV, DEV]), InputError,
         ("data set 1", "missing values in 'age'")),
    Case("fit_lrm_mi/one data set", lambda e: _fit_mi(e, _complete(e)[:1]), InputError, ("at least 2",)),
    Case("fit_lrm_mi/not data sets", lambda e: _fit_mi(e, DEV), InputError, ("MultipleImputation",)),
    Case("fit_lrm_mi/separation", _separated, ConvergenceError, ("separation", "'sep'")),
    Case("performance_mi/threshold outside (0, 1)", lambda e: _perf(e, thresholds=[0.2, 1.5]), InputError,
         ("thresholds", "1.5")),
    Case("performance_mi/outcome absent", lambda e: _perf(e, outcome="her3"), InputError, ("her3",)),
    Case("performance_mi/predictions not probabilities", _bad_predictions, InputError, ("strictly between 0 and 1",)),
    Case("validate_mi/one imputation per resample", lambda e: _vmi(m_boot=1), InputError, ("m_boot",), engines=NONE),
    Case("validate_mi/imputer without the outcome", lambda e: _vmi(imputer=h2.MiceImputer(m=2)), InputError,
         ("imputer's outcome is None", "'her2'"), engines=NONE),
    Case("validate_mi/covariate absent", lambda e: h2.validate_mi(DEV, "her2", ["size"], n_boot=2), InputError,
         ("['size']",), engines=NONE),
    Case("validate_mi/no resamples", lambda e: _vmi(n_boot=0), InputError, ("n_boot",), engines=NONE),
    Case("table_one/unknown type", lambda e: h2.table_one(T1, "g", type={"x": "ordinal"}, engine=e), InputError,
         ("'x'", "ordinal")),
    Case("table_one/type of text as numbers", lambda e: h2.table_one(T1, "g", type={"t": "continuous"}, engine=e),
         InputError, ("'t'", "needs numbers")),
    Case("table_one/type for an absent variable", lambda e: h2.table_one(T1, "g", type={"z": "normal"}, engine=e),
         InputError, ("'z'", "not among the variables")),
    Case("roc_auc/auto direction chooses controls > cases", lambda e: h2.roc_auc(Y, S, engine=e), None,
         ("Setting direction: controls > cases",), warning=DirectionWarning),
]
