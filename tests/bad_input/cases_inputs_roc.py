"""Bad inputs of the ROC and diagnostic-accuracy functions (trust issue, items 2, 5, 6)."""
from __future__ import annotations

import numpy as np
import pandas as pd

import her2stats as h2
from her2stats.errors import DroppedRowsWarning, InputError

from ._case import Case
from ._inputs_data import (CONST, LAB, N, POSNEG, S, S2, S_NAN, S_SHIFTED, S_STRAY, UNORDERED, Y, Y3, Y12, Y_SER)

NOENG = (None,)
CASES: list[Case] = []


def _ys(fn, name, with_engine=True, **kw):
    """Rows shared by every (y, score) function: the event rule, pairing, numbers, missing values."""
    e_ = (lambda e: {"engine": e}) if with_engine else (lambda e: {})
    engines = ("python", "r") if with_engine else NOENG
    return [
        Case(f"{name}/labels-HER2+-HER2-", lambda e: fn(LAB, S, **kw, **e_(e)), InputError,
             ("HER2+", "HER2-", "event="), engines=engines),
        Case(f"{name}/labels-Positive-negative", lambda e: fn(POSNEG, S, **kw, **e_(e)), InputError,
             ("Positive", "negative", "event="), engines=engines),
        Case(f"{name}/unordered-categorical", lambda e: fn(UNORDERED, S, **kw, **e_(e)), InputError,
             ("unordered Categorical", "event="), engines=engines),
        Case(f"{name}/coded-1-2-needs-event", lambda e: fn(Y12, S, **kw, **e_(e)), InputError,
             ("0/1", "[1, 2]", "event="), engines=engines),
        Case(f"{name}/three-classes", lambda e: fn(Y3, S, **kw, **e_(e)), InputError,
             ("exactly two", "[0, 1, 2]"), engines=engines),
        Case(f"{name}/event-not-a-label", lambda e: fn(LAB, S, **kw, event="HER2 pos", **e_(e)), InputError,
             ("event='HER2 pos'", "HER2+"), engines=engines),
        Case(f"{name}/misaligned-index", lambda e: fn(Y_SER, S_SHIFTED, **kw, **e_(e)), InputError,
             ("different indexes", "never by position"), engines=engines),
        Case(f"{name}/stray-string-in-score", lambda e: fn(Y, S_STRAY, **kw, **e_(e)), InputError,
             ("numeric", "'unknown'", "rows [5]"), engines=engines),
        Case(f"{name}/length-off-by-one", lambda e: fn(Y, S[:-1], **kw, **e_(e)), InputError,
             (f"{N - 1} values", f"{N}"), engines=engines),
        Case(f"{name}/missing-score", lambda e: fn(Y, S_NAN, **kw, **e_(e)), InputError,
             ("2 row(s)", "[3, 8]", "na='drop'"), engines=engines),
        Case(f"{name}/missing-dropped-announced", lambda e: fn(Y, S_NAN, **kw, na="drop", **e_(e)), None,
             (f"dropped 2 of {N} rows", "score"), warning=DroppedRowsWarning, engines=engines),
        Case(f"{name}/single-class", lambda e: fn(np.zeros(N), S, **kw, **e_(e)), InputError,
             ("0 positive",), engines=engines),
        Case(f"{name}/infinite-score", lambda e: fn(Y, np.where(np.arange(N) == 2, np.inf, S), **kw, **e_(e)),
             InputError, ("infinite",), engines=engines),
    ]


def _score_name(rows, old, new):
    """Rename the score argument in the expected words (roc_test calls it score1...)."""
    out = []
    for c in rows:
        out.append(Case(c.id, c.call, c.error, tuple(w.replace(old, new) for w in c.words), c.warning, c.engines))
    return out


CASES += _ys(h2.roc_auc, "roc_auc")
CASES += [Case("roc_auc/constant-score", lambda e: h2.roc_auc(Y, CONST, engine=e), InputError, ("constant",)),
          Case("roc_auc/level-1.5", lambda e: h2.roc_auc(Y, S, level=1.5, engine=e), InputError, ("level",)),
          Case("roc_auc/bad-direction", lambda e: h2.roc_auc(Y, S, direction="up", engine=e), InputError, ("direction",)),
          Case("roc_auc/n-boot-too-small", lambda e: h2.roc_auc(Y, S, ci="bootstrap", n_boot=10, engine=e),
               InputError, ("n_boot",))]
CASES += [c for c in _ys(h2.roc_curve, "roc_curve") if "infinite" not in c.id]
CASES += [Case("roc_curve/constant-score", lambda e: h2.roc_curve(Y, CONST, engine=e), InputError, ("constant",))]
CASES += [c for c in _ys(h2.youden, "youden") if c.id.split("/")[1] in (
    "labels-HER2+-HER2-", "misaligned-index", "stray-string-in-score", "missing-dropped-announced", "single-class")]

# roc_test: paired and unpaired
CASES += [
    Case("roc_test/labels-HER2+-HER2-", lambda e: h2.roc_test(LAB, S, S2, engine=e), InputError, ("HER2+", "event=")),
    Case("roc_test/labels-with-event", lambda e: h2.roc_test(LAB, S, S2, event="HER2 pos", engine=e), InputError,
         ("event='HER2 pos'",)),
    Case("roc_test/misaligned-score2", lambda e: h2.roc_test(Y_SER, Y_SER * 0 + S, S_SHIFTED, engine=e), InputError,
         ("score2", "different indexes")),
    Case("roc_test/stray-string-score1", lambda e: h2.roc_test(Y, S_STRAY, S2, engine=e), InputError,
         ("score1", "'unknown'")),
    Case("roc_test/unpaired-y2-labels", lambda e: h2.roc_test(Y, S, S2, y2=LAB, engine=e), InputError,
         ("y2", "HER2+", "event=")),
    Case("roc_test/paired-with-y2", lambda e: h2.roc_test(Y, S, S2, y2=Y, paired=True, engine=e), InputError,
         ("paired=True",)),
    Case("roc_test/missing-dropped-announced", lambda e: h2.roc_test(Y, S_NAN, S2, na="drop", engine=e), None,
         ("roc_test", f"dropped 2 of {N} rows", "score1"), warning=DroppedRowsWarning),
    Case("roc_test/bad-method", lambda e: h2.roc_test(Y, S, S2, method="wald", engine=e), InputError, ("method",)),
    Case("roc_test/one-class-y2", lambda e: h2.roc_test(Y, S, S2, y2=np.ones(N), paired=False, engine=e), InputError,
         ("y2", "0 negative")),
]

# compare_aucs
CASES += [
    Case("compare_aucs/labels", lambda e: h2.compare_aucs(LAB, {"a": S, "b": S2}, engine=e), InputError,
         ("HER2+", "event=")),
    Case("compare_aucs/one-model", lambda e: h2.compare_aucs(Y, {"a": S}, engine=e), InputError, ("at least two",)),
    Case("compare_aucs/misaligned", lambda e: h2.compare_aucs(Y_SER, {"a": Y_SER * 0 + S, "b": S_SHIFTED}, engine=e),
         InputError, ("b", "different indexes")),
    Case("compare_aucs/stray-string", lambda e: h2.compare_aucs(Y, {"a": S, "b": S_STRAY}, engine=e), InputError,
         ("b", "'unknown'")),
    Case("compare_aucs/missing-dropped-announced",
         lambda e: h2.compare_aucs(Y, {"a": S_NAN, "b": S2}, na="drop", engine=e), None,
         ("compare_aucs", f"dropped 2 of {N} rows"), warning=DroppedRowsWarning),
]

# multiclass AUC
_PROBS = pd.DataFrame({"zero": np.full(N, 0.3), "low": 0.3, "positive": 0.4}, index=np.arange(N) + 500)
_YC = pd.Series(np.array(["zero", "low", "positive"])[np.arange(N) % 3])
CASES += [
    Case("multiclass_auc/misaligned", lambda e: h2.multiclass_auc(_YC, _PROBS, engine=e), InputError,
         ("different indexes",)),
    Case("multiclass_auc/two-classes",
         lambda e: h2.multiclass_auc(np.array(["a", "b"])[Y], pd.DataFrame({"a": 1 - S / 10, "b": S / 10}), engine=e),
         InputError, (">= 3 classes",)),
    Case("multiclass_auc/not-a-frame", lambda e: h2.multiclass_auc(_YC, np.ones((N, 3)), engine=e), InputError,
         ("DataFrame",)),
]

# diagnostic accuracy
CASES += _score_name(_ys(lambda y, s, **k: h2.diagnostic_metrics(y, s, threshold=0.5, **k), "diagnostic_metrics"),
                     "score", "score_or_pred")
CASES += [
    Case("diagnostic_metrics/threshold-nan", lambda e: h2.diagnostic_metrics(Y, S, threshold=float("nan"), engine=e),
         InputError, ("threshold", "nan")),
    Case("diagnostic_metrics/threshold-inf", lambda e: h2.diagnostic_metrics(Y, S, threshold=np.inf, engine=e),
         InputError, ("threshold", "inf")),
    Case("diagnostic_metrics/threshold-np-nan",
         lambda e: h2.diagnostic_metrics(Y, S, threshold=np.float64("nan"), ci="wilson", engine=e),
         InputError, ("threshold", "finite")),
    Case("diagnostic_metrics/threshold-string", lambda e: h2.diagnostic_metrics(Y, S, threshold="0.5", engine=e),
         InputError, ("threshold", "'0.5'")),
    Case("diagnostic_metrics/youden-on-test-cohort",
         lambda e: h2.diagnostic_metrics(Y, S, threshold="youden", role="test", engine=e), InputError,
         ("re-optimise", "choose_threshold")),
    Case("diagnostic_metrics/pred-not-0-1", lambda e: h2.diagnostic_metrics(Y, S, engine=e), InputError,
         ("not 0/1", "threshold=")),
    Case("diagnostic_metrics/pred-labels", lambda e: h2.diagnostic_metrics(LAB, Y, engine=e), InputError,
         ("HER2+", "event=")),
    Case("diagnostic_metrics/auto-direction-fixed-threshold",
         lambda e: h2.diagnostic_metrics(Y, S, threshold=0.5, direction="auto", engine=e), InputError, ("direction",)),
]

# choose_threshold (no engine)
CASES += _score_name(_ys(lambda y, s, **k: h2.choose_threshold(y, s, **k), "choose_threshold", with_engine=False),
                     "score", "score_dev")
CASES += [
    Case("choose_threshold/target-nan", lambda e: h2.choose_threshold(Y, S, rule=("sensitivity", float("nan"))),
         InputError, ("sensitivity", "nan"), engines=NOENG),
    Case("choose_threshold/bad-rule", lambda e: h2.choose_threshold(Y, S, rule="best"), InputError, ("rule",),
         engines=NOENG),
]
