"""Bad inputs of the Cox additions of issue 19: strata, validate_cph, calibrate_cph, the PH plot."""
from __future__ import annotations

import warnings

import her2stats as h2
from her2stats.errors import DroppedRowsWarning, InputError

from ._case import Case
from ._inputs_data import LUNG, NL

CASES: list[Case] = []


def _model(engine):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return h2.fit_cph(LUNG, "time", "dead", ["age", "sex"], engine="python")


CASES += [
    Case("fit_cph/strata-unknown-column",
         lambda e: h2.fit_cph(LUNG, "time", "dead", ["age"], strata=["centre"], engine=e), InputError,
         ("centre", "not found")),
    Case("fit_cph/strata-also-covariate",
         lambda e: h2.fit_cph(LUNG, "time", "dead", ["age", "sex"], strata="sex", engine=e), InputError,
         ("'sex'", "strata and as covariate")),
    Case("fit_cph/strata-with-firth",
         lambda e: h2.fit_cph(LUNG, "time", "dead", ["age"], strata=["sex"], firth=True, engine=e), InputError,
         ("firth=True with strata",)),
    Case("cox/strata-with-stepwise",
         lambda e: h2.cox(LUNG, "time", "dead", ["age"], strata=["sex"], stepwise="both", engine=e), InputError,
         ("strata", "stepwise")),
    Case("cox/strata-missing-dropped-announced",
         lambda e: h2.cox(LUNG.assign(sex=LUNG["sex"].where(LUNG.index > 1)), "time", "dead", ["age"], strata=["sex"],
                          engine=e), None, ("cox", f"dropped 2 of {NL} rows", "'sex' (2)"), warning=DroppedRowsWarning),
    Case("fit_cph/baseline-survival-needs-stratum",
         lambda e: h2.fit_cph(LUNG, "time", "dead", ["age"], strata=["sex"], engine=e).baseline_survival([100]),
         InputError, ("stratified", "sex", "name the stratum")),
    Case("validate_cph/not-a-cox-model", lambda e: h2.validate_cph({"coef": 1}, n_boot=10, engine=e), InputError,
         ("CoxModel", "dict")),
    Case("validate_cph/bad-n-boot", lambda e: h2.validate_cph(_model(e), n_boot=0, engine=e), InputError,
         ("n_boot", "positive integer")),
    Case("validate_cph/stratified-model-without-u",
         lambda e: h2.validate_cph(h2.fit_cph(LUNG, "time", "dead", ["age"], strata=["sex"], engine="python"),
                                   n_boot=10, engine=e), InputError, ("stratified", "sex", "pass u")),
    Case("calibrate_cph/u-beyond-follow-up", lambda e: h2.calibrate_cph(_model(e), u=5000, n_boot=10, engine=e),
         InputError, ("u = 5000", "follow-up")),
    Case("calibrate_cph/u-not-a-number", lambda e: h2.calibrate_cph(_model(e), u="one year", n_boot=10, engine=e),
         InputError, ("u",)),
    Case("calibrate_cph/m-too-small", lambda e: h2.calibrate_cph(_model(e), u=300, m=1, n_boot=10, engine=e),
         InputError, ("m",)),
]

CASES += [
    Case("cox_tt/tt-not-a-covariate", lambda e: h2.cox_tt(LUNG, "time", "dead", ["age"], tt={"sex": "log"}, engine=e),
         InputError, ("'sex'", "not among the covariates")),
    Case("cox_tt/tt-unknown-form", lambda e: h2.cox_tt(LUNG, "time", "dead", ["age"], tt={"age": "sqrt"}, engine=e),
         InputError, ("tt['age']", "'log'", "'sqrt'")),
    Case("cox_tt/tt-negative-cut", lambda e: h2.cox_tt(LUNG, "time", "dead", ["age"], tt={"age": -1}, engine=e),
         InputError, ("tt['age']", "positive cut time")),
    Case("cox_tt/tt-empty", lambda e: h2.cox_tt(LUNG, "time", "dead", ["age"], tt={}, engine=e),
         InputError, ("tt must map",)),
    Case("cox_tt/missing-dropped-announced",
         lambda e: h2.cox_tt(LUNG.assign(age=LUNG["age"].where(LUNG.index > 0)), "time", "dead", ["age"],
                             tt={"age": "log"}, engine=e), None, ("cox_tt", f"dropped 1 of {NL} rows", "'age' (1)"),
         warning=DroppedRowsWarning),
]
