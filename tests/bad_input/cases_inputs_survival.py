"""Bad inputs of the survival functions (trust issue, items 5 and 6)."""
from __future__ import annotations

import numpy as np
import pandas as pd

import her2stats as h2
from her2stats.errors import DroppedRowsWarning, InputError

from ._case import Case
from ._inputs_data import (LUNG, LUNG_AGE_STRAY, LUNG_CONST, LUNG_EVENT_LAB, LUNG_NAN, LUNG_NEG, LUNG_NOEVENT,
                           LUNG_TIME_STRAY, LUNG_ZERO, NL, RISK)

CASES: list[Case] = []

_FRAME_FUNCS = {
    "kaplan_meier": lambda d, e, **k: h2.kaplan_meier(d, "time", "dead", group=k.pop("group", "sex"), engine=e, **k),
    "logrank_test": lambda d, e, **k: h2.logrank_test(d, "time", "dead", k.pop("group", "sex"), engine=e, **k),
    "cox": lambda d, e, **k: h2.cox(d, "time", "dead", k.pop("covs", ["age", "sex"]), engine=e, **k),
    "fit_cph": lambda d, e, **k: h2.fit_cph(d, "time", "dead", k.pop("covs", ["age", "sex"]), engine=e, **k),
}
for fname, fn in _FRAME_FUNCS.items():
    CASES += [
        Case(f"{fname}/negative-time", lambda e, fn=fn: fn(LUNG_NEG, e), InputError,
             ("'time'", "strictly positive", "-30")),
        Case(f"{fname}/zero-time", lambda e, fn=fn: fn(LUNG_ZERO, e), InputError, ("'time'", "strictly positive")),
        Case(f"{fname}/stray-string-in-time", lambda e, fn=fn: fn(LUNG_TIME_STRAY, e), InputError,
             ("time", "'lost'", "numeric")),
        Case(f"{fname}/event-coded-1-2", lambda e, fn=fn: fn(LUNG.assign(dead=LUNG["status"]), e), InputError,
             ("'dead'", "1 = censored / 2 = event")),
        Case(f"{fname}/event-labels", lambda e, fn=fn: fn(LUNG_EVENT_LAB, e), InputError,
             ("'dead'", "0 = censored", "alive")),
        Case(f"{fname}/no-events", lambda e, fn=fn: fn(LUNG_NOEVENT, e), InputError, ("'dead'", "no events")),
        Case(f"{fname}/unknown-column", lambda e, fn=fn: fn(LUNG.drop(columns="time"), e), InputError,
             ("time", "not found")),
        Case(f"{fname}/not-a-dataframe", lambda e, fn=fn: fn(LUNG.to_numpy(), e), InputError, ("DataFrame",)),
    ]

CASES += [
    Case("kaplan_meier/missing-dropped-announced",
         lambda e: h2.kaplan_meier(LUNG.assign(sex=LUNG["sex"].where(LUNG.index > 2)), "time", "dead", group="sex",
                                   engine=e), None,
         ("kaplan_meier", f"dropped 3 of {NL} rows", "'sex' (3)"), warning=DroppedRowsWarning),
    Case("kaplan_meier/single-group", lambda e: h2.kaplan_meier(LUNG.assign(g="a"), "time", "dead", group="g", engine=e),
         InputError, ("'g'", "single level")),
    Case("kaplan_meier/bad-conf-type", lambda e: h2.kaplan_meier(LUNG, "time", "dead", conf_type="arcsin", engine=e),
         InputError, ("conf_type",)),
    Case("logrank_test/missing-dropped-announced",
         lambda e: h2.logrank_test(LUNG.assign(sex=LUNG["sex"].where(LUNG.index != 5)), "time", "dead", "sex", engine=e),
         None, ("logrank_test", f"dropped 1 of {NL} rows", "'sex' (1)"), warning=DroppedRowsWarning),
    Case("logrank_test/single-group", lambda e: h2.logrank_test(LUNG.assign(g=1), "time", "dead", "g", engine=e),
         InputError, ("'g'", "single level")),
    Case("cox/stray-string-in-covariate", lambda e: h2.cox(LUNG_AGE_STRAY, "time", "dead", ["age", "sex"], engine=e),
         InputError, ("'age'", "'unknown'")),
    Case("cox/constant-covariate", lambda e: h2.cox(LUNG_CONST, "time", "dead", ["age", "c"], engine=e), InputError,
         ("'c'", "constant")),
    Case("cox/missing-dropped-announced", lambda e: h2.cox(LUNG_NAN, "time", "dead", ["age", "sex"], engine=e), None,
         ("cox", f"dropped 2 of {NL} rows", "'age' (2)"), warning=DroppedRowsWarning),
    Case("cox/bad-stepwise", lambda e: h2.cox(LUNG, "time", "dead", ["age"], stepwise="forward", engine=e), InputError,
         ("stepwise",)),
    Case("cox/unknown-covariate", lambda e: h2.cox(LUNG, "time", "dead", ["age", "bmi"], engine=e), InputError,
         ("bmi",)),
    Case("fit_cph/stray-string-in-covariate",
         lambda e: h2.fit_cph(LUNG_AGE_STRAY, "time", "dead", ["age", "sex"], engine=e), InputError,
         ("'age'", "'unknown'")),
    Case("fit_cph/missing-dropped-announced", lambda e: h2.fit_cph(LUNG_NAN, "time", "dead", ["age", "sex"], engine=e),
         None,
         ("fit_cph", f"dropped 2 of {NL} rows", "'age' (2)"), warning=DroppedRowsWarning),
    Case("fit_cph/bad-ties", lambda e: h2.fit_cph(LUNG, "time", "dead", ["age"], ties="exact", engine=e), InputError,
         ("ties",)),
]

# score-based functions
_T, _E = LUNG["time"], LUNG["dead"]
_SHIFT = pd.Series(RISK, index=LUNG.index + 1000)
_CONST = np.full(NL, 2.0)
_STRAY = pd.Series(RISK.astype(object))
_STRAY.iloc[4] = "high"
for fname, fn in {
    "concordance_index": lambda t, ev, s, e: h2.concordance_index(t, ev, s, engine=e),
    "time_dependent_auc": lambda t, ev, s, e: h2.time_dependent_auc(t, ev, s, times=[365], engine=e),
    "uno_concordance": lambda t, ev, s, e: h2.uno_concordance(t, ev, s, engine=e),
}.items():
    sname = "score" if fname == "concordance_index" else "risk"
    CASES += [
        Case(f"{fname}/constant-score", lambda e, fn=fn: fn(_T, _E, _CONST, e), InputError, (sname, "constant")),
        Case(f"{fname}/misaligned-index", lambda e, fn=fn: fn(_T, _E, _SHIFT, e), InputError,
             ("different indexes", sname)),
        Case(f"{fname}/stray-string-in-score", lambda e, fn=fn: fn(_T, _E, _STRAY, e), InputError, (sname, "'high'")),
        Case(f"{fname}/negative-time", lambda e, fn=fn: fn(_T.where(_T.index != 2, -1), _E, RISK, e), InputError,
             ("strictly positive",)),
        Case(f"{fname}/event-coded-1-2", lambda e, fn=fn: fn(_T, LUNG["status"], RISK, e), InputError,
             ("1 = censored / 2 = event",)),
        Case(f"{fname}/missing-score", lambda e, fn=fn: fn(_T, _E, np.where(np.arange(NL) == 3, np.nan, RISK), e),
             InputError, ("missing",)),
        Case(f"{fname}/length-mismatch", lambda e, fn=fn: fn(_T, _E, RISK[:-1], e), InputError,
             (f"{NL - 1} values",)),
    ]

CASES += [
    Case("concordance_index/no-comparable-pairs",
         lambda e: h2.concordance_index([5.0, 6.0, 6.0], [0, 1, 1], [0.3, 0.1, 0.2], engine=e), InputError,
         ("no comparable pairs",)),
    Case("time_dependent_auc/time-beyond-follow-up",
         lambda e: h2.time_dependent_auc(_T, _E, RISK, times=[50_000], engine=e), InputError, ("50000",)),
    Case("time_dependent_brier/surv-prob-above-1",
         lambda e: h2.time_dependent_brier(_T, _E, np.full((NL, 1), 1.5), times=[365], engine=e), InputError,
         ("[0, 1]",)),
    Case("time_dependent_brier/wrong-column-count",
         lambda e: h2.time_dependent_brier(_T, _E, np.full((NL, 2), 0.5), times=[365], engine=e), InputError,
         ("2 column(s)", "1 time(s)")),
    Case("uno_concordance/tau-without-events", lambda e: h2.uno_concordance(_T, _E, RISK, tau=1, engine=e), InputError,
         ("tau",)),
]
