"""Bad inputs of the uncertainty drawn on the study figures (issue 17, item 2): ROC bands and
operating points, the net-benefit difference panel, calibration bands, the calibration-hierarchy
and net-benefit-difference tables, and the study config's band keys. Figures, builders and the
config have no engine; ``validate`` (whose R engine now has CIs) runs on both."""
from __future__ import annotations

import numpy as np
import pandas as pd

from her2stats.errors import ConfigError, InputError

from ._case import Case

NO_ENGINE = (None,)


def _yp():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 80)
    return y, 1 / (1 + np.exp(-(y - 0.5 + rng.normal(0, 1, 80))))


def _roc(bands=None, points=None):
    from her2stats.reporting.figures import roc_figure
    from her2stats.stats.roc import roc_auc

    y, p = _yp()
    return roc_figure({"clinical": (y, p)}, {"clinical": roc_auc(y, p, direction="<", engine="python")},
                      bands=bands, points=points)


def _band_without_ci():
    from her2stats.stats.roc import sensitivity_at

    y, p = _yp()
    return {"clinical": sensitivity_at(y, p, specificity=[0.5, 0.9], ci=None, direction="<", engine="python")}


def _dca(reference, n_boot=100):
    from her2stats.reporting.figures import decision_curve_figure
    from her2stats.stats.dca import decision_curve

    y, p = _yp()
    dc = decision_curve(y, {"clinical": p, "combined": p ** 0.8}, thresholds=[0.1, 0.2, 0.3], n_boot=n_boot,
                        engine="python")
    return decision_curve_figure(dc, reference=reference)


def _config(validation):
    from her2stats.reporting.config import load_config

    return load_config({"name": "x", "cohort": {"source": "demo", "outcome": "her2_positive"},
                        "clinical": {"covariates": ["age"]}, "validation": validation})


def _validate(engine, level):
    from her2stats.data import load_demo
    from her2stats.stats.calibration import validate
    from her2stats.stats.models import fit_lrm

    return validate(fit_lrm(load_demo(), "her2_positive", ["age", "ki67"], engine=engine), n_boot=20,
                    level=level, engine=engine)


CASES = [
    Case("roc_figure/band without bootstrap CI", lambda e: _roc(bands=_band_without_ci()), InputError,
         ("bands['clinical']", "sensitivity_at", "bootstrap"), engines=NO_ENGINE),
    Case("roc_figure/operating point not a result", lambda e: _roc(points={"clinical": "youden"}), InputError,
         ("points['clinical']", "DiagnosticResult"), engines=NO_ENGINE),
    Case("decision_curve_figure/reference not a model", lambda e: _dca("deep_score"), InputError,
         ("deep_score", "not a model"), engines=NO_ENGINE),
    Case("decision_curve_figure/reference without bootstrap", lambda e: _dca("clinical", n_boot=0), InputError,
         ("n_boot",), engines=NO_ENGINE),
    Case("calibration_band_figure/not a hierarchy",
         lambda e: __import__("her2stats.reporting.figures", fromlist=["x"]).calibration_band_figure({"External": 0.3}),
         InputError, ("External", "CalibrationHierarchyResult"), engines=NO_ENGINE),
    Case("calibration_hierarchy_table/not a hierarchy",
         lambda e: __import__("her2stats.reporting.builders", fromlist=["x"]).calibration_hierarchy_table(
             {("clinical", "external"): pd.DataFrame()}),
         InputError, ("clinical", "external", "CalibrationHierarchyResult"), engines=NO_ENGINE),
    Case("net_benefit_difference_table/missing columns",
         lambda e: __import__("her2stats.reporting.builders", fromlist=["x"]).net_benefit_difference_table(
             {"external": pd.DataFrame({"model": ["combined"], "difference": [0.1]})}),
         InputError, ("external", "ci_low", "reference"), engines=NO_ENGINE),
    Case("study config/band_n_boot below 100", lambda e: _config({"band_n_boot": 50}), ConfigError,
         ("band_n_boot", "100"), engines=NO_ENGINE),
    Case("validate/level outside (0, 1)", lambda e: _validate(e, 1.5), InputError, ("level",)),
]
