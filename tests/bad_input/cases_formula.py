"""Bad inputs of the formula interface (design layer, issue 19 item 1) and of the fitted-model
protocol (issue 16 item 3): identical errors on both engines, raised before anything reaches R."""
from __future__ import annotations

import her2stats as h2
from her2stats.errors import InputError
from her2stats.stats.external import frozen_lrm
from her2stats.stats.ordinal import fit_ordinal

from ._case import Case
from ._inputs_data import DF, DF_AGE_STRAY

CASES: list[Case] = []


def _lrm(formula, df=DF):
    return lambda e: h2.fit_lrm(df, formula=formula, engine=e)


CASES += [
    Case("fit_lrm/formula-no-tilde", _lrm("her2 age"), InputError, ("no '~'",)),
    Case("fit_lrm/formula-unknown-function", _lrm("her2 ~ log(size)"), InputError, ("'log'", "not supported")),
    Case("fit_lrm/formula-quoted-name", _lrm('her2 ~ "age"'), InputError, ("backticks",)),
    Case("fit_lrm/formula-code-injection", _lrm("her2 ~ age; system('rm')"), InputError, ("';'",)),
    Case("fit_lrm/formula-interaction-without-main-effects", _lrm("her2 ~ age:er"), InputError,
         ("lower-order term", "age * er")),
    Case("fit_lrm/formula-two-forms-of-one-column", _lrm("her2 ~ rcs(age, 3) + age:er + er"), InputError,
         ("'age'", "rcs(age, 3)")),
    Case("fit_lrm/formula-unknown-column", _lrm("her2 ~ age * weight"), InputError, ("weight",)),
    Case("fit_lrm/formula-strat-in-logistic", _lrm("her2 ~ age + strat(er)"), InputError, ("strat()", "Cox")),
    Case("fit_lrm/formula-survival-outcome", _lrm("Surv(age, her2) ~ size"), InputError, ("Cox model",)),
    Case("fit_lrm/formula-rcs-too-many-knots", _lrm("her2 ~ rcs(age, 9)"), InputError, ("3 to 7",)),
    Case("fit_lrm/formula-and-covariates", lambda e: h2.fit_lrm(DF, "her2", ["age"], formula="her2 ~ age", engine=e),
         InputError, ("not both",)),
    Case("fit_lrm/formula-stray-string", _lrm("her2 ~ age * er", DF_AGE_STRAY), InputError, ("'age'", "'unknown'")),
    Case("fit_lrm/formula-pol-on-text", _lrm("her2 ~ pol(er, 2)"), InputError, ("pol", "'er'", "not numeric")),
    Case("fit_ordinal/formula-unknown-function",
         lambda e: fit_ordinal(DF, formula="grade ~ exp(age)", levels=["1", "2", "3"], engine=e), InputError,
         ("'exp'",)),
]

# ---------------------------------------------------------------- fitted-model protocol
_FROZEN = frozen_lrm({"Intercept": -1.0, "age": 0.02})
CASES += [
    Case("calibrate/frozen-model", lambda e: h2.calibrate(_FROZEN, n_boot=10, engine=e), InputError,
         ("FrozenLogisticModel", "LogisticModel", "validate_external")),
    Case("validate/frozen-model", lambda e: h2.validate(_FROZEN, n_boot=10, engine=e), InputError,
         ("FrozenLogisticModel", "validate_external")),
    Case("nomogram/frozen-model-without-data", lambda e: h2.nomogram(_FROZEN, engine=e), InputError,
         ("FrozenLogisticModel", "data=")),
    Case("calibrate/model-is-a-file-name", lambda e: h2.calibrate("model.pkl", engine=e), InputError,
         ("not defined for a str", "LogisticModel")),
]
