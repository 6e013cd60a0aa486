"""Bad survival options of a study config (issue 19: strata, tt, rmst_tau): refused with the key
and the reason (ConfigError), strata/tt columns the data lack named (InputError)."""
from __future__ import annotations

from her2stats.errors import ConfigError, InputError

from ._case import Case
from .cases_config import _columns, _load, _set

N = (None,)
CASES = [
    Case("config/survival-strata-is-the-group", lambda e: _load(_set("survival", "strata", ["her2_status"])),
         ConfigError, ("survival.strata", "'her2_status'", "group"), engines=N),
    Case("config/survival-tt-and-strata-same-column",
         lambda e: _load(lambda d: d["survival"].update(strata=["er"], tt={"er": "log"})), ConfigError,
         ("survival.tt and survival.strata", "'er'"), engines=N),
    Case("config/survival-tt-bad-form", lambda e: _load(_set("survival", "tt", {"age": "sqrt"})), ConfigError,
         ("survival.tt.age", "'log'"), engines=N),
    Case("config/survival-tt-negative-cut", lambda e: _load(_set("survival", "tt", {"age": -5})), ConfigError,
         ("survival.tt['age']", "positive cut time"), engines=N),
    Case("config/survival-rmst-tau-not-positive", lambda e: _load(_set("survival", "rmst_tau", 0)), ConfigError,
         ("survival.rmst_tau",), engines=N),
    Case("config/survival-strata-column-typo", lambda e: _columns(_set("survival", "strata", ["gradee"])), InputError,
         ("survival.strata", "'gradee'"), engines=N),
]
