"""Names that cannot label a result unambiguously (issue 14, item 1).

Any text is a valid column name (R never sees it; ``tests/stats/test_hostile_names.py`` shows such
names work and give the plain-name numbers). What is refused, identically on both engines: a
non-text name (``0`` and ``"0"`` print alike), an empty name, a column present twice in the data,
and coefficient labels that would collide (a covariate called ``Intercept``, a column ``race=black``
beside the level ``black`` of ``race``, a column ``lwt'`` beside the spline of ``lwt``), duplicated
class columns and model names.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

import her2stats as h2
from her2stats.errors import InputError

from ._case import Case

_rng = np.random.default_rng(14)
N = 80
BASE = pd.DataFrame({
    "y": np.r_[np.zeros(N // 2, int), np.ones(N // 2, int)],
    "age": np.round(_rng.normal(55, 10, N), 1),
    "size": np.round(_rng.gamma(4, 5, N), 1),
    "race": pd.Categorical(_rng.choice(["white", "black", "other"], N), categories=["white", "black", "other"]),
    "time": np.round(_rng.exponential(30, N), 2) + 0.5,
})
BASE["event"] = (_rng.random(N) < 0.7).astype(int)
HOUSING = BASE.assign(sat=pd.Categorical(_rng.choice(["lo", "mid", "hi"], N), categories=["lo", "mid", "hi"]))


def _dup(df: pd.DataFrame, name: str, other: str) -> pd.DataFrame:
    """``df`` with column ``other`` renamed to ``name`` (so ``name`` appears twice)."""
    return pd.concat([df, df[[other]].rename(columns={other: name})], axis=1)


def _ren(df: pd.DataFrame, old: str, new) -> pd.DataFrame:
    return df.rename(columns={old: new})


# (what is wrong, data, covariates, words the message must contain)
_LOGISTIC = [
    ("empty-name", _ren(BASE, "age", ""), ["", "size"], ("empty name",)),
    ("blank-name", _ren(BASE, "age", "   "), ["   ", "size"], ("empty name",)),
    ("duplicate-column", _dup(BASE, "age", "size"), ["age"], ("'age'", "2 times")),
    ("non-text-name", _ren(BASE, "age", 0), [0, "size"], ("must be text", "0")),
    ("int-and-text-alike", _ren(_ren(BASE, "age", 1), "size", "1"), [1, "1"], ("must be text",)),
]

CASES = []
for what, data, covs, words in _LOGISTIC:
    CASES += [
        Case(f"fit_lrm/{what}", lambda e, d=data, c=covs: h2.fit_lrm(d, "y", c, engine=e), InputError, words),
        Case(f"logistic_table/{what}", lambda e, d=data, c=covs: h2.logistic_table(d, "y", c, engine=e), InputError,
             words),
        Case(f"fit_ordinal/{what}", lambda e, d=data, c=covs: h2.fit_ordinal(
            d.assign(sat=HOUSING["sat"]), "sat", c, levels=["lo", "mid", "hi"], engine=e), InputError, words),
        Case(f"fit_cph/{what}", lambda e, d=data, c=covs: h2.fit_cph(d, "time", "event", c, engine=e), InputError,
             words),
        Case(f"cox/{what}", lambda e, d=data, c=covs: h2.cox(d, "time", "event", c, engine=e), InputError, words),
        Case(f"cox-stepwise/{what}", lambda e, d=data, c=covs: h2.cox(d, "time", "event", c, stepwise="both",
                                                                      engine=e), InputError, words),
    ]

CASES += [
    # hostile outcome / time / event names
    Case("fit_lrm/empty-outcome-name", lambda e: h2.fit_lrm(_ren(BASE, "y", ""), "", ["age"], engine=e), InputError,
         ("empty name",)),
    Case("fit_lrm/duplicate-outcome-column", lambda e: h2.fit_lrm(_dup(BASE, "y", "event"), "y", ["age"], engine=e),
         InputError, ("'y'", "2 times")),
    Case("logistic_table/duplicate-outcome-column", lambda e: h2.logistic_table(_dup(BASE, "y", "event"), "y", ["age"],
                                                                                engine=e), InputError, ("'y'",)),
    Case("fit_cph/empty-time-name", lambda e: h2.fit_cph(_ren(BASE, "time", ""), "", "event", ["age"], engine=e),
         InputError, ("empty name",)),
    Case("fit_cph/duplicate-event-column", lambda e: h2.fit_cph(_dup(BASE, "event", "y"), "time", "event", ["age"],
                                                                engine=e), InputError, ("'event'", "2 times")),
    Case("kaplan_meier/duplicate-group-column", lambda e: h2.kaplan_meier(_dup(BASE, "race", "y"), "time", "event",
                                                                          group="race", engine=e),
         InputError, ("'race'", "2 times")),
    Case("kaplan_meier/empty-group-name", lambda e: h2.kaplan_meier(_ren(BASE, "race", ""), "time", "event", group="",
                                                                    engine=e), InputError, ("empty name",)),
    Case("logrank_test/non-text-group-name", lambda e: h2.logrank_test(_ren(BASE, "race", 3), "time", "event", 3,
                                                                       engine=e), InputError, ("must be text",)),
    # coefficient labels that would name two coefficients
    Case("fit_lrm/covariate-named-Intercept", lambda e: h2.fit_lrm(_ren(BASE, "age", "Intercept"), "y",
                                                                   ["Intercept", "size"], engine=e),
         InputError, ("Intercept", "rename")),
    Case("fit_lrm/column-equals-level-label", lambda e: h2.fit_lrm(BASE.assign(**{"race=black": BASE["age"]}), "y",
                                                                   ["race", "race=black"], engine=e),
         InputError, ("race=black",)),
    Case("fit_lrm/column-equals-spline-label", lambda e: h2.fit_lrm(BASE.assign(**{"size'": BASE["age"]}), "y",
                                                                    ["size", "size'"], rcs={"size": 3}, engine=e),
         InputError, ("size'",)),
    Case("fit_cph/column-equals-level-label", lambda e: h2.fit_cph(BASE.assign(**{"race=other": BASE["age"]}), "time",
                                                                   "event", ["race", "race=other"], engine=e),
         InputError, ("race=other",)),
    Case("fit_ordinal/column-equals-level-label", lambda e: h2.fit_ordinal(
        HOUSING.assign(**{"race=black": HOUSING["age"]}), "sat", ["race", "race=black"], levels=["lo", "mid", "hi"],
        engine=e), InputError, ("race=black",)),
    # labels of other results
    Case("decision_curve/empty-model-name", lambda e: h2.decision_curve(BASE["y"], {"": np.full(N, 0.4)},
                                                                        thresholds=[0.2], engine=e),
         InputError, ("empty",)),
    Case("decision_curve/model-names-alike-as-text", lambda e: h2.decision_curve(
        BASE["y"], {1: np.full(N, 0.4), "1": np.full(N, 0.6)}, thresholds=[0.2], engine=e), InputError, ("'1'",)),
    Case("decision_curve/reserved-model-name", lambda e: h2.decision_curve(BASE["y"], {"none": np.full(N, 0.4)},
                                                                           thresholds=[0.2], engine=e),
         InputError, ("'none'", "reserved")),
    Case("multiclass_auc/duplicated-class-column", lambda e: h2.multiclass_auc(
        HOUSING["sat"].astype(str), pd.DataFrame(np.full((N, 3), 1 / 3), columns=["lo", "mid", "lo"]), engine=e),
        InputError, ("'lo'", "one column per class")),
    Case("lasso_cv/duplicated-feature-names", lambda e: h2.lasso_cv(
        BASE[["age", "size"]].set_axis(["x", "x"], axis=1), BASE["y"].to_numpy(), cv=5, engine=e),
        InputError, ("'x'",)),
]
