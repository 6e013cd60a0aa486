"""Bad inputs of competing risks (cumulative incidence, Gray's test, Fine-Gray), RMST and
reclassification (NRI/IDI, binary and at a horizon). Data: survival::mgus2 and survival::lung
exported in tests/data."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import her2stats as h2
from her2stats.errors import InputError

from ._case import Case

_DATA = Path(__file__).resolve().parents[1] / "data"


def _mgus() -> pd.DataFrame:
    m = pd.read_csv(_DATA / "mgus2.csv")
    return m.assign(etime=np.where(m.pstat == 0, m.futime, m.ptime).astype(float),
                    event=np.where(m.pstat == 0, 2 * m.death, 1))


def _lung() -> pd.DataFrame:
    return pd.read_csv(_DATA / "lung.csv").assign(dead=lambda d: d["status"] - 1)


def _risks():
    d = pd.read_csv(_DATA / "birthwt.csv")
    old = 1 / (1 + np.exp(-(-1 + 0.01 * (d["age"] - 23))))
    new = 1 / (1 + np.exp(-(-1.2 + 0.8 * d["smoke"] + 0.9 * d["ht"])))
    return d["low"].to_numpy(), old.to_numpy(), new.to_numpy()


def _ci(e, df=None, **kw):
    return h2.cumulative_incidence(_mgus() if df is None else df, "etime", "event", engine=e, **kw)


def _fg(e, df=None, covs=("age", "sex"), **kw):
    kw.setdefault("cause", 1)
    return h2.fine_gray(_mgus() if df is None else df, "etime", "event", list(covs), engine=e, **kw)


def _rm(e, df=None, **kw):
    return h2.rmst(_lung() if df is None else df, "time", "dead", engine=e, **kw)


def _rc(e, **kw):
    y, old, new = _risks()
    args = dict(y=y, p_old=old, p_new=new)
    args.update(kw)
    return h2.reclassification(engine=e, **args)


def _rh(e, **kw):
    d = _lung().dropna(subset=["ph.ecog"])
    old = 1 / (1 + np.exp(-(-3 + 0.03 * d["age"])))
    new = 1 / (1 + np.exp(-(-3 + 0.03 * d["age"] + 0.5 * d["ph.ecog"])))
    args = dict(time=d["time"], event=d["dead"], p_old=old, p_new=new, horizon=365, n_boot=20, seed=1)
    args.update(kw)
    return h2.reclassification_at_horizon(engine=e, **args)


def _with_nan(col, rows):
    d = _mgus()
    d.loc[rows, col] = np.nan
    return d


CASES = [
    # ---- cumulative incidence / Gray's test
    Case("cumulative_incidence/missing column", lambda e: _ci(e, group="centre"), InputError, ("centre", "not found")),
    Case("cumulative_incidence/zero follow-up", lambda e: _ci(e, df=_mgus().assign(etime=lambda d: d.etime.where(d.index != 4, 0.0))),
         InputError, ("etime", "strictly positive")),
    Case("cumulative_incidence/single-level group", lambda e: _ci(e, df=_mgus().assign(one="x"), group="one"), InputError,
         ("one", "single level")),
    Case("cumulative_incidence/level out of range", lambda e: _ci(e, level=95), InputError, ("level", "(0, 1)")),
    Case("cumulative_incidence/no failures", lambda e: _ci(e, df=_mgus().assign(event=0)), InputError,
         ("event", "no failures")),
    Case("cumulative_incidence/censoring code absent", lambda e: _ci(e, censored=9), None,
         ("censoring value 9",), warning=UserWarning),
    Case("cumulative_incidence/rows dropped", lambda e: _ci(e, df=_with_nan("etime", [1, 2])), None,
         ("dropped 2 of 1384", "'etime' (2)"), warning=UserWarning),
    Case("gray_test/group equals strata", lambda e: h2.gray_test(_mgus(), "etime", "event", "sex", strata="sex", engine=e),
         InputError, ("group and strata",)),
    # ---- Fine-Gray
    Case("fine_gray/unknown cause", lambda e: _fg(e, cause=7), InputError, ("cause 7", "event", "causes found")),
    Case("fine_gray/level without failures",
         lambda e: _fg(e, df=_mgus().assign(sex=lambda d: np.where(d.event == 1, "F", d.sex)), covs=["sex"]),
         InputError, ("sex", "'M'", "no failures of cause 1")),
    Case("fine_gray/duration as covariate", lambda e: _fg(e, covs=["etime"]), InputError, ("etime", "cannot be a covariate")),
    Case("fine_gray/covariate twice", lambda e: _fg(e, covs=["age", "age"]), InputError, ("age", "twice")),
    Case("fine_gray/collinear", lambda e: _fg(e, df=_mgus().assign(age2=lambda d: 2 * d.age), covs=["age", "age2"]),
         InputError, ("collinear",)),
    Case("fine_gray/rows dropped", lambda e: _fg(e, covs=["age", "mspike"]), None,
         ("fine_gray", "dropped 11 of 1384", "'mspike' (11)"), warning=UserWarning),
    # ---- RMST
    Case("rmst/tau beyond the data", lambda e: _rm(e, group="sex", tau=2000), InputError,
         ("tau = 2000", "beyond the data", "group '2'", "965")),
    Case("rmst/negative tau", lambda e: _rm(e, tau=-5), InputError, ("tau", "positive")),
    Case("rmst/unknown reference", lambda e: _rm(e, group="sex", tau=300, reference=3), InputError,
         ("reference 3", "sex")),
    Case("rmst/event coded 1-2", lambda e: h2.rmst(_lung(), "time", "status", tau=300, engine=e), InputError,
         ("status", "0 = censored", "status'] - 1")),
    Case("rmst/default tau announced", lambda e: _rm(e, group="sex"), None, ("tau not given", "965"),
         warning=UserWarning),
    Case("rmst/rows dropped", lambda e: _rm(e, group="ph.ecog", tau=100), None,
         ("rmst", "dropped 1 of 228", "'ph.ecog' (1)"), warning=UserWarning),
    Case("rmst/non-numeric time", lambda e: _rm(e, df=_lung().assign(time=lambda d: d.time.astype(str).where(d.index != 3, "n/a")),
                                                tau=100),
         InputError, ("time", "numeric", "n/a")),
    # ---- reclassification
    Case("reclassification/risk outside [0, 1]", lambda e: _rc(e, p_new=_risks()[2] * 5), InputError,
         ("p_new", "[0, 1]")),
    Case("reclassification/cutoffs not increasing", lambda e: _rc(e, cutoffs=[0.5, 0.2]), InputError,
         ("cutoffs", "increasing")),
    Case("reclassification/cutoff at 1", lambda e: _rc(e, cutoffs=[0.2, 1.0]), InputError, ("cutoffs", "between 0 and 1")),
    Case("reclassification/outcome not 0-1", lambda e: _rc(e, y=_risks()[0] + 1), InputError, ("y", "coded 0/1", "event=")),
    Case("reclassification/no events", lambda e: _rc(e, y=np.zeros(189, dtype=int)), InputError, ("y", "no events")),
    Case("reclassification/lengths differ", lambda e: _rc(e, p_old=_risks()[1][:-3]), InputError, ("same length",)),
    Case("reclassification/rows dropped", lambda e: _rc(e, p_old=np.where(np.arange(189) < 4, np.nan, _risks()[1])),
         None, ("dropped 4 of 189", "'p_old' (4)"), warning=UserWarning),
    Case("reclassification_at_horizon/horizon beyond follow-up", lambda e: _rh(e, horizon=5000), InputError,
         ("horizon 5000", "event-free")),
    Case("reclassification_at_horizon/n_boot too small", lambda e: _rh(e, n_boot=3), InputError, ("n_boot", ">= 10")),
    Case("reclassification_at_horizon/negative horizon", lambda e: _rh(e, horizon=-1), InputError,
         ("horizon", "positive")),
]
