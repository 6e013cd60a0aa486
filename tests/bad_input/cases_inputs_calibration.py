"""Bad inputs of calibration, decision curves and external validation (trust issue, items 2, 5, 6)."""
from __future__ import annotations

import numpy as np
import pandas as pd

import her2stats as h2
from her2stats.errors import DroppedRowsWarning, InputError

from ._case import Case
from ._inputs_data import CONST, DF, LAB, LUNG, N, P, RISK, P_NAN, P_SHIFTED, P_STRAY, POSNEG, Y, Y12, Y_SER

NOENG = (None,)
CASES: list[Case] = []

_FUNCS = {
    "val_prob": lambda y, p, e, **k: h2.val_prob(y, p, engine=e, **k),
    "hosmer_lemeshow": lambda y, p, e, **k: h2.hosmer_lemeshow(y, p, engine=e, **k),
    "calibration_hierarchy": lambda y, p, e, **k: h2.calibration_hierarchy(y, p, B=20, seed=1, engine=e, **k),
    "lecessie_test": lambda y, p, e, **k: h2.lecessie_test(y=y, prob=p, engine=e, **k),
    "validate_external": lambda y, p, e, **k: h2.validate_external(y=y, prob=p, hierarchy=False, engine=e, **k),
}
for fname, fn in _FUNCS.items():
    CASES += [
        Case(f"{fname}/labels-HER2+-HER2-", lambda e, fn=fn: fn(LAB, P, e), InputError, ("HER2+", "HER2-", "event=")),
        Case(f"{fname}/labels-Positive-negative", lambda e, fn=fn: fn(POSNEG, P, e), InputError,
             ("Positive", "event=")),
        Case(f"{fname}/coded-1-2", lambda e, fn=fn: fn(Y12, P, e), InputError, ("0/1", "[1, 2]")),
        Case(f"{fname}/misaligned-index", lambda e, fn=fn: fn(Y_SER, P_SHIFTED, e), InputError,
             ("different indexes", "never by position")),
        Case(f"{fname}/stray-string-in-prob", lambda e, fn=fn: fn(Y, P_STRAY, e), InputError,
             ("prob", "'n/a'", "numeric")),
        Case(f"{fname}/score-not-probability", lambda e, fn=fn: fn(Y, P * 3, e), InputError, ("[0, 1]",)),
        Case(f"{fname}/constant-prob", lambda e, fn=fn: fn(Y, CONST, e), InputError, ("constant",)),
        Case(f"{fname}/length-mismatch", lambda e, fn=fn: fn(Y, P[:-2], e), InputError, (f"{N - 2} values",)),
        Case(f"{fname}/single-class", lambda e, fn=fn: fn(np.ones(N), P, e), InputError, ("both outcomes",)),
        Case(f"{fname}/missing-dropped-announced", lambda e, fn=fn: fn(Y, P_NAN, e), None,
             (fname, f"dropped 2 of {N} rows", "'prob' (2)"), warning=DroppedRowsWarning),
    ]

CASES += [
    Case("hosmer_lemeshow/fewer-rows-than-groups", lambda e: h2.hosmer_lemeshow(Y[:8], P[:8], g=10, engine=e),
         InputError, ("8 observations", "g=10")),
    Case("hosmer_lemeshow/two-distinct-risks", lambda e: h2.hosmer_lemeshow(Y, np.where(Y == 1, 0.6, 0.3), engine=e),
         InputError, ("2 distinct groups", "at least 3")),
    Case("hosmer_lemeshow/g-2", lambda e: h2.hosmer_lemeshow(Y, P, g=2, engine=e), InputError, ("g",)),
    Case("hosmer_lemeshow/g-float", lambda e: h2.hosmer_lemeshow(Y, P, g=5.5, engine=e), InputError, ("g",)),
    Case("val_prob/event-given", lambda e: h2.val_prob(LAB, P, event="HER2", engine=e), InputError,
         ("event='HER2'",)),
    Case("calibration_hierarchy/prob-0-or-1",
         lambda e: h2.calibration_hierarchy(Y, np.where(np.arange(N) == 0, 0.0, P), B=20, engine=e), InputError,
         ("strictly between 0 and 1",)),
    Case("calibration_hierarchy/neither-model-nor-y", lambda e: h2.calibration_hierarchy(prob=P, B=20, engine=e),
         InputError, ("model=",)),
    Case("calibration_hierarchy/B-zero", lambda e: h2.calibration_hierarchy(Y, P, B=0, engine=e), InputError, ("B",)),
    Case("lecessie_test/prob-1", lambda e: h2.lecessie_test(y=Y, prob=np.where(np.arange(N) == 3, 1.0, P), engine=e),
         InputError, ("strictly between 0 and 1",)),
]

# calibrate / validate take a fitted model
_MODEL = {}


def _model(engine):
    if engine not in _MODEL:
        _MODEL[engine] = h2.fit_lrm(DF, "her2", ["age", "size"], engine=engine)
    return _MODEL[engine]


CASES += [
    Case("calibrate/B-zero", lambda e: h2.calibrate(_model(e), B=0, engine=e), InputError, ("B",)),
    Case("calibrate/not-a-model", lambda e: h2.calibrate(DF, B=20, engine=e), InputError, ("LogisticModel",)),
    Case("calibrate/bad-method", lambda e: h2.calibrate(_model(e), B=20, method="crossvalidation", engine=e),
         InputError, ("method",)),
    Case("validate/B-negative", lambda e: h2.validate(_model(e), B=-5, engine=e), InputError, ("B",)),
    Case("validate/not-a-model", lambda e: h2.validate("model", B=20, engine=e), InputError, ("LogisticModel",)),
    Case("validate/bad-method", lambda e: h2.validate(_model(e), B=20, method="cv", engine=e), InputError,
         ("method",)),
]

# external validation of a model on a data frame
_FROZEN = h2.frozen_lrm({"Intercept": -3.0, "age": 0.05})
CASES += [
    Case("validate_external/data-labels-need-event",
         lambda e: h2.validate_external(_FROZEN, DF, "her2_lab", hierarchy=False, engine=e), InputError,
         ("her2_lab", "HER2+", "event=")),
    Case("validate_external/data-stray-string",
         lambda e: h2.validate_external(_FROZEN, DF.assign(age=DF["age"].astype(object).where(np.arange(N) != 2, "old")),
                                        "her2", hierarchy=False, engine=e), InputError, ("'age'", "'old'")),
    Case("validate_external/data-missing-announced",
         lambda e: h2.validate_external(_FROZEN, DF.assign(age=DF["age"].where(np.arange(N) != 2)), "her2",
                                        hierarchy=False, engine=e), None,
         ("validate_external", f"dropped 1 of {N} rows", "'age' (1)"), warning=DroppedRowsWarning),
    Case("validate_external/missing-predictor",
         lambda e: h2.validate_external(_FROZEN, DF.drop(columns="age"), "her2", hierarchy=False, engine=e),
         InputError, ("age",)),
    Case("validate_external_cox/stray-string-in-time",
         lambda e: h2.validate_external_cox(LUNG.assign(time=LUNG["time"].astype(object).where(LUNG.index != 6, "lost")),
                                            "time", "dead", horizon=365, baseline_survival=0.6, lp=RISK),
         InputError, ("time", "'lost'"), engines=NOENG),
    Case("validate_external_cox/missing-announced",
         lambda e: h2.validate_external_cox(LUNG.assign(time=LUNG["time"].where(LUNG.index != 6)),
                                            "time", "dead", horizon=365, baseline_survival=0.6, lp=RISK),
         None, ("validate_external_cox", "dropped 1 of", "'time' (1)"), warning=DroppedRowsWarning, engines=NOENG),
]

# decision curves
_PR = {"model": P}
CASES += [
    Case("decision_curve/labels-HER2+-HER2-", lambda e: h2.decision_curve(LAB, _PR, engine=e), InputError,
         ("HER2+", "event=")),
    Case("decision_curve/coded-1-2", lambda e: h2.decision_curve(Y12, _PR, engine=e), InputError, ("0/1",)),
    Case("decision_curve/misaligned-index", lambda e: h2.decision_curve(Y_SER, {"m": P_SHIFTED}, engine=e), InputError,
         ("different indexes",)),
    Case("decision_curve/stray-string-in-prob", lambda e: h2.decision_curve(Y, {"m": P_STRAY}, engine=e), InputError,
         ("'n/a'", "probs['m']")),
    Case("decision_curve/missing-y", lambda e: h2.decision_curve(np.where(np.arange(N) == 1, np.nan, Y), _PR, engine=e),
         InputError, ("missing",)),
    Case("decision_curve/missing-prob", lambda e: h2.decision_curve(Y, {"m": P_NAN}, engine=e), InputError,
         ("missing",)),
    Case("decision_curve/threshold-nan", lambda e: h2.decision_curve(Y, _PR, thresholds=[0.1, np.nan], engine=e),
         InputError, ("thresholds",)),
    Case("decision_curve/threshold-zero", lambda e: h2.decision_curve(Y, _PR, thresholds=[0.0, 0.2], engine=e),
         InputError, ("strictly between 0 and 1",)),
    Case("decision_curve/prob-above-1", lambda e: h2.decision_curve(Y, {"m": P * 2}, engine=e), InputError,
         ("[0, 1]",)),
    Case("decision_curve/reserved-name", lambda e: h2.decision_curve(Y, {"all": P}, engine=e), InputError,
         ("reserved",)),
    Case("decision_curve/single-class", lambda e: h2.decision_curve(np.zeros(N), _PR, engine=e), InputError,
         ("single class",)),
    Case("decision_curve/length-mismatch", lambda e: h2.decision_curve(Y, {"m": P[:-1]}, engine=e), InputError,
         (f"{N - 1} values",)),
    Case("decision_curve/negative-harm", lambda e: h2.decision_curve(Y, _PR, harm=-0.1, engine=e), InputError,
         ("harm",)),
    Case("decision_curve_survival/negative-time",
         lambda e: h2.decision_curve_survival(LUNG["time"].where(LUNG.index != 3, -5), LUNG["dead"],
                                              {"m": np.full(len(LUNG), 0.5)}, horizon=365),
         InputError, ("strictly positive",), engines=NOENG),
    Case("decision_curve_survival/event-1-2",
         lambda e: h2.decision_curve_survival(LUNG["time"], LUNG["status"], {"m": np.full(len(LUNG), 0.5)}, horizon=365),
         InputError, ("1 = censored / 2 = event",), engines=NOENG),
    Case("decision_curve_survival/misaligned",
         lambda e: h2.decision_curve_survival(LUNG["time"], LUNG["dead"],
                                              {"m": pd.Series(0.5, index=LUNG.index + 7)}, horizon=365),
         InputError, ("different indexes",), engines=NOENG),
]
