"""Bad inputs of the multicentre functions (issue 22): validate_by_centre, pool_random_effects,
clustered_calibration, subgroup_performance, internal_external_cv."""
from __future__ import annotations

import numpy as np
import pandas as pd

import her2stats as h2
from her2stats.errors import InputError

from ._case import Case

_rng = np.random.default_rng(22)
N = 120
CENTRE = np.repeat(["A", "B", "C"], 40)
P = _rng.uniform(0.05, 0.9, N)
Y = (_rng.uniform(size=N) < P).astype(int)
DF = pd.DataFrame({"y": Y, "centre": CENTRE, "x": np.log(P / (1 - P)) + _rng.normal(0, 0.5, N)})
KW = dict(n_boot=20, seed=1)


def _vbc(e, y=Y, p=P, centre=CENTRE, **kw):
    return h2.validate_by_centre(y, p, centre, engine=e, **{**KW, **kw})


def _one_class_centre(e):
    y = Y.copy()
    y[CENTRE == "C"] = 0
    return _vbc(e, y=y)


def _missing_rows(e):
    p = P.copy()
    p[:3] = np.nan
    return _vbc(e, p=p)


def _sg(e, groups, **kw):
    return h2.subgroup_performance(Y, P, groups, engine=e, **{**KW, **kw})


def _fit_x(train, valid):
    from her2stats.stats.models import newton_logistic

    b, _, _ = newton_logistic(np.column_stack([np.ones(len(train)), train.x]), train.y.to_numpy(float))
    return 1 / (1 + np.exp(-(b[0] + b[1] * valid.x.to_numpy())))


def _iecv(e, data=DF, pipeline=_fit_x, y="y", centre="centre", **kw):
    return h2.internal_external_cv(data, pipeline, y, centre, engine=e, **{**KW, **kw})


def _iecv_one_class_training(e):
    d = DF.copy()
    d.loc[d.centre != "A", "y"] = 1
    return _iecv(e, data=d)


CASES = [
    # ------------------------------------------------------------------ validate_by_centre
    Case("validate_by_centre/length-mismatch", lambda e: _vbc(e, p=P[:-1]), InputError, ("119 values", "120")),
    Case("validate_by_centre/p-not-probability", lambda e: _vbc(e, p=P * 3), InputError, ("probabilities", "[0, 1]")),
    Case("validate_by_centre/outcome-coded-1-2", lambda e: _vbc(e, y=Y + 1), InputError, ("0/1",)),
    Case("validate_by_centre/one-centre", lambda e: _vbc(e, centre=np.repeat("A", N)), InputError,
         ("at least 2 centres",)),
    Case("validate_by_centre/all-below-min-events", lambda e: _vbc(e, min_events=50), InputError,
         ("min_events=50", "0 of 3 qualify")),
    Case("validate_by_centre/threshold-outside-0-1", lambda e: _vbc(e, thresholds=[0.2, 1.5]), InputError,
         ("thresholds", "1.5")),
    Case("validate_by_centre/level-percent", lambda e: _vbc(e, level=95), InputError, ("level", "95")),
    Case("validate_by_centre/unknown-pi-type", lambda e: _vbc(e, pi_type="z"), InputError, ("pi_type", "riley")),
    Case("validate_by_centre/min-events-zero", lambda e: _vbc(e, min_events=0), InputError, ("min_events", ">= 1")),
    Case("validate_by_centre/one-class-centre-warned", _one_class_centre, None, ("C: one outcome class only",),
         warning=UserWarning),
    Case("validate_by_centre/missing-rows-warned", _missing_rows, None, ("3 row(s)", "p: 3"), warning=UserWarning),
    # ------------------------------------------------------------------ pool_random_effects
    Case("pool_random_effects/zero-variance", lambda e: h2.pool_random_effects([0.1, 0.2, 0.3], [0.01, 0.0, 0.02],
                                                                               labels=["a", "b", "c"], engine=e),
         InputError, ("'b'", "positive")),
    Case("pool_random_effects/one-study", lambda e: h2.pool_random_effects([0.1], [0.01], engine=e), InputError,
         ("at least 2",)),
    Case("pool_random_effects/length-mismatch", lambda e: h2.pool_random_effects([0.1, 0.2], [0.01], engine=e),
         InputError, ("2 values", "1")),
    Case("pool_random_effects/unknown-transform", lambda e: h2.pool_random_effects([0.1, 0.2], [0.01, 0.02],
                                                                                   transform="logit", engine=e),
         InputError, ("transform", "expit")),
    # ------------------------------------------------------------------ clustered_calibration
    Case("clustered_calibration/prediction-of-1", lambda e: h2.clustered_calibration(Y, np.r_[1.0, P[1:]], CENTRE,
                                                                                     engine=e),
         InputError, ("exactly 0 or 1", "strictly between")),
    Case("clustered_calibration/two-centres", lambda e: h2.clustered_calibration(Y, P, np.where(CENTRE == "C", "B", CENTRE),
                                                                                 engine=e),
         InputError, ("at least 3 centres",)),
    # ------------------------------------------------------------------ subgroup_performance
    Case("subgroup_performance/continuous-variable", lambda e: _sg(e, {"age": _rng.normal(55, 10, N)}), InputError,
         ("'age'", "band it", "pd.cut")),
    Case("subgroup_performance/not-a-mapping", lambda e: _sg(e, CENTRE), InputError, ("DataFrame or a mapping",)),
    Case("subgroup_performance/single-level", lambda e: _sg(e, {"site": np.repeat("X", N)}), InputError,
         ("'site'", "at least 2")),
    Case("subgroup_performance/unknown-p-adjust", lambda e: _sg(e, {"c": CENTRE}, p_adjust="sidak"), InputError,
         ("sidak",)),
    # ------------------------------------------------------------------ internal_external_cv
    Case("internal_external_cv/outcome-not-a-column", lambda e: _iecv(e, y="her2"), InputError,
         ("'her2'", "not a column")),
    Case("internal_external_cv/not-a-pipeline", lambda e: _iecv(e, pipeline="logistic"), InputError,
         ("sklearn estimator", "callable")),
    Case("internal_external_cv/returns-scores", lambda e: _iecv(e, pipeline=lambda tr, va: va.x.to_numpy()),
         InputError, ("outside [0, 1]", "centre 'A'")),
    Case("internal_external_cv/wrong-length", lambda e: _iecv(e, pipeline=lambda tr, va: np.full(3, 0.5)),
         InputError, ("3 prediction(s)", "centre 'A'", "40 patient(s)")),
    Case("internal_external_cv/one-class-training", _iecv_one_class_training, InputError,
         ("without centre 'A'", "one outcome class")),
    Case("internal_external_cv/feature-is-outcome", lambda e: _iecv(e, features=["x", "y"]), InputError,
         ("must not include the outcome",)),
    Case("internal_external_cv/data-not-frame", lambda e: _iecv(e, data=DF.to_numpy()), InputError,
         ("pandas DataFrame",)),
]
