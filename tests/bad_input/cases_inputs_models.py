"""Bad inputs of Table 1, the OR table and the rms-style logistic model (trust issue, items 2, 5, 6)."""
from __future__ import annotations

import numpy as np
import pandas as pd

import her2stats as h2
from her2stats.errors import DroppedRowsWarning, InputError

from ._case import Case
from ._inputs_data import DF, DF_AGE_NAN, DF_AGE_STRAY, DF_CONST, DF_SIZE_STRAY, N

COVS = ["age", "size", "er"]
CASES: list[Case] = []

# ---------------------------------------------------------------- the event is never guessed
for fname, fn in (("fit_lrm", lambda d, o, c, e, **k: h2.fit_lrm(d, o, c, engine=e, **k)),
                  ("logistic_table", lambda d, o, c, e, **k: h2.logistic_table(d, o, c, engine=e, **k))):
    CASES += [
        Case(f"{fname}/labels-HER2+-HER2-", lambda e, fn=fn: fn(DF, "her2_lab", COVS, e), InputError,
             ("her2_lab", "HER2+", "HER2-", "event=")),
        Case(f"{fname}/labels-Positive-negative", lambda e, fn=fn: fn(DF, "her2_pn", COVS, e), InputError,
             ("her2_pn", "Positive", "negative", "event=")),
        Case(f"{fname}/unordered-categorical-outcome",
             lambda e, fn=fn: fn(DF.assign(her2_pn=pd.Categorical(DF["her2_pn"])), "her2_pn", COVS, e),
             InputError, ("unordered Categorical", "event=")),
        Case(f"{fname}/outcome-coded-1-2", lambda e, fn=fn: fn(DF, "her2_12", COVS, e), InputError,
             ("her2_12", "0/1", "event=")),
        Case(f"{fname}/event-not-a-label", lambda e, fn=fn: fn(DF, "her2_lab", COVS, e, event="pos"), InputError,
             ("event='pos'", "HER2+")),
        Case(f"{fname}/stray-string-in-numeric-covariate", lambda e, fn=fn: fn(DF_AGE_STRAY, "her2", COVS, e),
             InputError, ("'age'", "'unknown'", "rows [7]")),
        Case(f"{fname}/stray-string-size", lambda e, fn=fn: fn(DF_SIZE_STRAY, "her2", COVS, e), InputError,
             ("'size'", "'<5'")),
        Case(f"{fname}/unknown-column", lambda e, fn=fn: fn(DF, "her2", ["age", "weight"], e), InputError,
             ("weight",)),
        Case(f"{fname}/unknown-outcome", lambda e, fn=fn: fn(DF, "HER2", ["age"], e), InputError, ("HER2",)),
        Case(f"{fname}/three-class-outcome", lambda e, fn=fn: fn(DF, "grade", ["age"], e), InputError,
             ("grade",)),
        Case(f"{fname}/constant-covariate", lambda e, fn=fn: fn(DF_CONST, "her2", ["age", "c"], e), InputError,
             ("'c'", "constant")),
        Case(f"{fname}/missing-dropped-announced", lambda e, fn=fn: fn(DF_AGE_NAN, "her2", COVS, e), None,
             (fname, f"dropped 3 of {N} rows", "'age' (3)"), warning=DroppedRowsWarning),
        Case(f"{fname}/outcome-is-covariate", lambda e, fn=fn: fn(DF, "her2", ["age", "her2"], e), InputError,
             ("her2",)),
    ]

CASES += [
    Case("fit_lrm/rcs-on-text", lambda e: h2.fit_lrm(DF, "her2", ["age", "er"], rcs={"er": 3}, engine=e), InputError,
         ("er", "not numeric")),
    Case("fit_lrm/rcs-unknown", lambda e: h2.fit_lrm(DF, "her2", ["age"], rcs={"size": 3}, engine=e), InputError,
         ("size",)),
    Case("fit_lrm/not-a-dataframe", lambda e: h2.fit_lrm(DF.to_numpy(), "her2", ["age"], engine=e), InputError,
         ("DataFrame",)),
    Case("logistic_table/positive-not-a-value",
         lambda e: h2.logistic_table(DF, "her2_lab", ["age"], positive="yes", engine=e), InputError, ("positive",)),
    Case("logistic_table/bad-stepwise", lambda e: h2.logistic_table(DF, "her2", COVS, stepwise="up", engine=e),
         InputError, ("stepwise",)),
]

# ---------------------------------------------------------------- Table 1
_T1 = DF[["her2", "age", "size", "er", "grade"]]
CASES += [
    Case("table_one/stray-string-in-numeric-column",
         lambda e: h2.table_one(DF_AGE_STRAY[["her2", "age", "er"]], "her2", engine=e), InputError,
         ("'age'", "'unknown'", "categorical")),
    Case("table_one/stray-string-size",
         lambda e: h2.table_one(DF_SIZE_STRAY[["her2", "size"]], "her2", engine=e), InputError, ("'size'", "'<5'")),
    Case("table_one/missing-group-announced",
         lambda e: h2.table_one(_T1.assign(her2=_T1["her2"].where(np.arange(N) % 10 != 0)), "her2", engine=e), None,
         ("table_one", f"dropped 6 of {N} rows", "'her2'"), warning=DroppedRowsWarning),
    Case("table_one/missing-values-announced",
         lambda e: h2.table_one(DF_AGE_NAN[["her2", "age"]], "her2", engine=e), None,
         ("table_one", "'age' (3)"), warning=DroppedRowsWarning),
    Case("table_one/constant-continuous-variable",
         lambda e: h2.table_one(DF_CONST[["her2", "age", "c"]], "her2", engine=e), None,
         ("table_one", "'c'", "single value"), warning=UserWarning),
    Case("table_one/constant-categorical-variable",
         lambda e: h2.table_one(DF.assign(site="A")[["her2", "site"]], "her2", engine=e), None,
         ("'site'", "single value"), warning=UserWarning),
    Case("table_one/unknown-group", lambda e: h2.table_one(_T1, "HER2", engine=e), InputError, ("HER2",)),
    Case("table_one/unknown-variable", lambda e: h2.table_one(_T1, "her2", variables=["age", "bmi"], engine=e),
         InputError, ("bmi",)),
    Case("table_one/one-group", lambda e: h2.table_one(_T1.assign(her2=1), "her2", engine=e), InputError,
         ("her2", "need >= 2")),
    Case("table_one/group-of-one", lambda e: h2.table_one(_T1.assign(her2=np.r_[1, np.zeros(N - 1)]), "her2", engine=e),
         InputError, ("fewer than 2 members",)),
    Case("table_one/not-a-dataframe", lambda e: h2.table_one(_T1.to_numpy(), "her2", engine=e), InputError,
         ("DataFrame",)),
    Case("table_one/bad-p-adjust", lambda e: h2.table_one(_T1, "her2", p_adjust="sidak-ish", engine=e), InputError,
         ("sidak-ish",)),
]
