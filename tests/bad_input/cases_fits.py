"""Fits that have no valid estimate: separation, quasi-separation, exact collinearity, monotone
likelihood -- every model function, both engines, ConvergenceError naming the covariate.

The verdict comes from ``her2stats.stats._fitcheck`` before either engine fits, so both engines
raise the same error; the words are the covariate (or level) at fault and the cause.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from her2stats.errors import ConvergenceError, InputError
from her2stats.stats import calibration as cal
from her2stats.stats.logistic import logistic_table
from her2stats.stats.models import fit_lrm
from her2stats.stats.ordinal import fit_low_vs_zero, fit_ordinal
from her2stats.stats.survival import cox, fit_cph

from ._case import Case

_DATA = Path(__file__).resolve().parents[1] / "data"


def _cohort() -> pd.DataFrame:
    rng = np.random.default_rng(14)
    n = 150
    d = pd.DataFrame({"age": rng.normal(55, 10, n).round(1), "size": rng.lognormal(0.6, 0.4, n).round(2),
                      "grade": rng.choice(["I", "II", "III"], n), "a": rng.normal(size=n), "b": rng.normal(size=n)})
    lp = -0.4 + 0.03 * (d.age - 55) + 0.6 * (d.grade == "III")
    d["her2"] = (rng.random(n) < 1 / (1 + np.exp(-lp))).astype(int)
    d["site"] = np.where(np.arange(n) < 8, "rare", np.where(np.arange(n) % 2, "north", "south"))
    d.loc[d.site == "rare", "her2"] = 1                                            # a level with only events
    d["clinic"] = np.where(np.arange(n) >= n - 7, "small", "large")
    d.loc[d.clinic == "small", "her2"] = 0                                         # a level with no events
    d["rare4"] = 0.0
    d.loc[20:23, "rare4"] = 1.0
    d.loc[20:22, "her2"], d.loc[23, "her2"] = 1, 0                                 # 3 events, 1 non-event:
    # every resample that misses row 23 is quasi-separated (P = 0.37)
    d.loc[40, "her2"], d.loc[41, "her2"] = 1, 0
    d["marker"] = np.where(d.her2 == 1, 3.0, 0.0) + rng.uniform(size=n)          # splits the outcome
    d["tied"] = np.where(d.her2 == 1, 1.0 + rng.uniform(size=n), -rng.uniform(size=n))
    d.loc[[40, 41], "tied"] = 0.5                                                 # overlap at one value only
    d["combo"] = (d.a + 0.5 * d.b > 0).astype(int)                                 # a + b/2 separates combo
    d["size_mm"] = 10 * d["size"]                                                  # collinear with size
    d["grade_hi"] = (d.grade == "III").astype(float)                               # = level 'III' of grade
    d["her2_class"] = pd.Categorical(np.select([d.age < 50, d.age < 60], ["zero", "low"], "positive"),
                                     categories=["zero", "low", "positive"], ordered=True)
    d["age_band"] = d["her2_class"].cat.codes.astype(float)                        # orders the classes
    d["top_flag"] = ((d.her2_class == "positive") & (np.arange(n) % 4 == 0)).astype(float)
    d["centre"] = np.where(d.top_flag == 1, "C", np.where(np.arange(n) % 2, "A", "B"))   # 'C' only in the top class
    return d


def _lung() -> pd.DataFrame:
    d = pd.read_csv(_DATA / "lung.csv").assign(dead=lambda x: x.status - 1)
    rng = np.random.default_rng(3)
    flag = np.zeros(len(d))
    flag[rng.choice(np.flatnonzero(d.dead == 0), 12, replace=False)] = 1
    d["flag"] = flag                                                              # its 1s are all censored
    d["grp"] = np.where(flag == 1, "lost", np.where(d.sex == 1, "m", "f"))
    d["rank_t"] = -d["time"].rank()                                               # orders the event times
    d["age_m"] = 12 * d["age"]
    return d


D = _cohort()
L = _lung()
_Y_SEP = np.r_[np.zeros(20), np.ones(20)]
_P_SEP = np.r_[np.linspace(0.05, 0.45, 20), np.linspace(0.5, 0.95, 20)]   # every event ranked above every non-event
SEP = ConvergenceError

CASES = [
    # ------------------------------------------------------------------ fit_lrm
    Case("fit_lrm/complete-separation", lambda e: fit_lrm(D, "her2", ["age", "marker"], engine=e), SEP,
         ("complete separation", "'marker'")),
    Case("fit_lrm/complete-separation-one-covariate", lambda e: fit_lrm(D, "her2", ["marker"], engine=e), SEP,
         ("complete separation", "'marker'")),
    Case("fit_lrm/quasi-separation-at-a-tie", lambda e: fit_lrm(D, "her2", ["tied"], engine=e), SEP,
         ("quasi-complete separation", "'tied'")),
    Case("fit_lrm/level-with-only-events", lambda e: fit_lrm(D, "her2", ["age", "site"], engine=e), SEP,
         ("quasi-complete", "level 'rare' of 'site'", "are events")),
    Case("fit_lrm/level-with-no-events", lambda e: fit_lrm(D, "her2", ["clinic", "size"], engine=e), SEP,
         ("level 'small' of 'clinic'", "none of its 7 rows is an event")),
    Case("fit_lrm/combination-separates", lambda e: fit_lrm(D, "combo", ["age", "a", "b"], engine=e), SEP,
         ("separation", "'a' and 'b'")),
    Case("fit_lrm/spline-of-separating-covariate",
         lambda e: fit_lrm(D, "her2", ["age", "marker"], rcs={"marker": 3}, engine=e), SEP, ("separation", "'marker'")),
    Case("fit_lrm/collinear", lambda e: fit_lrm(D, "her2", ["size", "age", "size_mm"], engine=e), SEP,
         ("singular", "'size_mm' is a linear combination of 'size'")),
    Case("fit_lrm/collinear-with-a-level", lambda e: fit_lrm(D, "her2", ["grade", "grade_hi"], engine=e), SEP,
         ("singular", "'grade_hi'", "level 'III' of 'grade'")),
    Case("fit_lrm/firth-still-refuses-collinear",
         lambda e: fit_lrm(D, "her2", ["size", "size_mm"], firth=True, engine=e), SEP, ("singular", "'size_mm'")),
    Case("fit_low_vs_zero/complete-separation",
         lambda e: fit_low_vs_zero(D, ["age_band", "size"], engine=e), SEP, ("separation", "'age_band'")),
    # ------------------------------------------------------------------ logistic_table
    Case("logistic_table/complete-separation-univariable",
         lambda e: logistic_table(D, "her2", ["marker"], multivariable=False, engine=e), SEP,
         ("complete separation", "'marker'")),
    Case("logistic_table/level-with-only-events",
         lambda e: logistic_table(D, "her2", ["age", "site"], engine=e), SEP, ("level 'rare' of 'site'",)),
    Case("logistic_table/level-with-no-events",
         lambda e: logistic_table(D, "her2", ["clinic"], engine=e), SEP, ("level 'small' of 'clinic'",)),
    Case("logistic_table/quasi-separation-at-a-tie",
         lambda e: logistic_table(D, "her2", ["tied"], univariable=False, engine=e), SEP,
         ("quasi-complete", "'tied'")),
    Case("logistic_table/combination-separates",
         lambda e: logistic_table(D, "combo", ["a", "b", "age"], univariable=False, engine=e), SEP,
         ("separation", "'a' and 'b'")),
    Case("logistic_table/stepwise-backward-separated",
         lambda e: logistic_table(D, "her2", ["age", "size", "site"], stepwise="backward", univariable=False, engine=e),
         SEP, ("level 'rare' of 'site'",)),
    Case("logistic_table/stepwise-forward-separated",
         lambda e: logistic_table(D, "her2", ["age", "marker"], stepwise="forward", univariable=False, engine=e),
         SEP, ("'marker'",)),
    Case("logistic_table/stepwise-both-combination",
         lambda e: logistic_table(D, "combo", ["a", "b", "size"], stepwise="both", univariable=False, engine=e),
         SEP, ("'a' and 'b'",)),
    Case("logistic_table/collinear",
         lambda e: logistic_table(D, "her2", ["size", "size_mm"], univariable=False, engine=e), SEP,
         ("singular", "'size_mm'")),
    Case("logistic_table/stepwise-collinear",
         lambda e: logistic_table(D, "her2", ["age", "size", "size_mm"], stepwise="both", univariable=False, engine=e),
         SEP, ("singular", "'size_mm'")),
    Case("logistic_table/firth-with-stepwise",
         lambda e: logistic_table(D, "her2", ["age", "site"], firth=True, stepwise="both", engine=e), InputError,
         ("firth", "stepwise")),
    Case("logistic_table/firth-with-profile-ci",
         lambda e: logistic_table(D, "her2", ["age", "site"], firth=True, ci="profile", engine=e), InputError,
         ("profile", "firth")),
    # ------------------------------------------------------------------ fit_ordinal
    Case("fit_ordinal/complete-separation",
         lambda e: fit_ordinal(D, "her2_class", ["size", "age_band"], engine=e), SEP,
         ("complete separation", "'age_band'")),
    Case("fit_ordinal/quasi-separation-top-class",
         lambda e: fit_ordinal(D, "her2_class", ["size", "top_flag"], engine=e), SEP,
         ("quasi-complete separation", "'top_flag'")),
    Case("fit_ordinal/level-in-one-class",
         lambda e: fit_ordinal(D, "her2_class", ["size", "centre"], engine=e), SEP,
         ("quasi-complete separation", "level 'C' of 'centre'")),
    Case("fit_ordinal/collinear",
         lambda e: fit_ordinal(D, "her2_class", ["size", "a", "size_mm"], engine=e), SEP,
         ("singular", "'size_mm' is a linear combination of 'size'")),
    # ------------------------------------------------------------------ Cox
    Case("fit_cph/monotone-binary-covariate", lambda e: fit_cph(L, "time", "dead", ["flag"], engine=e), SEP,
         ("monotone likelihood", "'flag'", "0 events")),
    Case("fit_cph/monotone-level-without-events", lambda e: fit_cph(L, "time", "dead", ["age", "grp"], engine=e),
         SEP, ("monotone likelihood", "level 'lost' of 'grp'")),
    Case("fit_cph/monotone-covariate-orders-events", lambda e: fit_cph(L, "time", "dead", ["age", "rank_t"], engine=e),
         SEP, ("monotone likelihood", "'rank_t'")),
    Case("fit_cph/collinear", lambda e: fit_cph(L, "time", "dead", ["age", "sex", "age_m"], engine=e), SEP,
         ("singular", "'age_m' is a linear combination of 'age'")),
    Case("cox/monotone-binary-covariate", lambda e: cox(L, "time", "dead", ["age", "sex", "flag"], engine=e), SEP,
         ("monotone likelihood", "'flag'")),
    Case("cox/monotone-level-without-events", lambda e: cox(L, "time", "dead", ["grp"], engine=e), SEP,
         ("monotone likelihood", "level 'lost' of 'grp'", "0 events among its 12 rows")),
    Case("cox/stepwise-both-monotone",
         lambda e: cox(L, "time", "dead", ["age", "sex", "flag"], stepwise="both", engine=e), SEP,
         ("monotone likelihood", "'flag'")),
    Case("cox/stepwise-backward-collinear",
         lambda e: cox(L, "time", "dead", ["age", "sex", "age_m"], stepwise="backward", engine=e), SEP,
         ("singular", "'age_m'")),
    Case("cox/firth-with-stepwise",
         lambda e: cox(L, "time", "dead", ["age", "flag"], firth=True, stepwise="both", engine=e), InputError,
         ("firth", "stepwise")),
    Case("fit_cph/firth-still-refuses-collinear",
         lambda e: fit_cph(L, "time", "dead", ["age", "age_m"], firth=True, engine=e), SEP, ("singular", "'age_m'")),
    Case("DeepScore/quasi-separated-feature",
         lambda e: __import__("her2stats.models.deepscore", fromlist=["DeepScore"]).DeepScore().fit(
             D[["age", "size"]].assign(rare_site=(D.site == "rare").astype(float)), D["her2"]), SEP,
         ("quasi-complete separation", "'rare_site'"), engines=(None,)),
    # ------------------------------------------------------------------ recalibration of separating predictions
    Case("val_prob/predictions-separate-outcomes",
         lambda e: cal.val_prob(_Y_SEP, _P_SEP, engine=e), None, ("separate the outcomes", "NaN"),
         warning=UserWarning),
    Case("calibration_hierarchy/predictions-separate-outcomes",
         lambda e: cal.calibration_hierarchy(y=_Y_SEP, prob=_P_SEP, B=10, seed=1, engine=e), None,
         ("separate the outcomes", "slope"), warning=UserWarning),
    # ------------------------------------------------------------------ bootstrap refits
    Case("validate/separated-resamples-announced",
         lambda e: cal.validate(fit_lrm(D, "her2", ["age", "rare4"], engine="python"), B=40, seed=2, engine=e),
         None, ("separated",), warning=UserWarning),
    Case("calibrate/separated-resamples-announced",
         lambda e: cal.calibrate(fit_lrm(D, "her2", ["age", "rare4"], engine="python"), B=40, seed=2, engine=e),
         None, ("separated",), warning=UserWarning),
    Case("validate/firth-model-on-r-engine",
         lambda e: cal.validate(fit_lrm(D, "her2", ["age", "site"], firth=True, engine="python"), B=5, seed=1,
                                engine=e),
         InputError, ("no firth-penalised refit", "engine='python'"), engines=("r",)),
]
