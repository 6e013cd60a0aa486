"""Bad inputs of the runner's imaging steps: the ICC step's paired features (PairedICCFilter), the
mask perturbation behind the demo's second segmentation, and the imaging config keys."""
from __future__ import annotations

import numpy as np
import pandas as pd

import her2stats as h2
from her2stats.errors import ConfigError, InputError

from ._case import Case

NONE = (None,)


def _paired(drop=None, nan=False):
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(8, 3)), columns=["a", "b", "c"])
    X = X.join(X.add(rng.normal(size=(8, 3)) * 0.1).add_suffix("~seg2"))
    if nan:
        X.iloc[2, 4] = np.nan
    return X.drop(columns=drop or [])


def _cfg(**imaging):
    from her2stats.reporting.config import load_config

    return load_config({"name": "bad", "cohort": {"source": "demo"}, "imaging": imaging})


CASES = [
    Case("PairedICCFilter/no-second-columns", lambda e: h2.PairedICCFilter().fit(_paired(["a~seg2", "b~seg2", "c~seg2"])),
         InputError, ("second-segmentation column", "~seg2"), engines=NONE),
    Case("PairedICCFilter/orphan-second-column", lambda e: h2.PairedICCFilter().fit(_paired(["b"])), InputError,
         ("b~seg2", "no first-segmentation"), engines=NONE),
    Case("PairedICCFilter/missing-value", lambda e: h2.PairedICCFilter().fit(_paired(nan=True)), InputError,
         ("second segmentation features", "b~seg2"), engines=NONE),
    Case("PairedICCFilter/array", lambda e: h2.PairedICCFilter().fit(_paired().to_numpy()), InputError,
         ("DataFrame",), engines=NONE),
    Case("perturb_mask/erodes-to-nothing", lambda e: h2.perturb_mask(np.eye(4), "erode", 1), InputError,
         ("empties the mask",), engines=NONE),
    Case("perturb_mask/operation", lambda e: h2.perturb_mask(np.eye(4), "close", 1), InputError,
         ("operation", "close"), engines=NONE),
    Case("config/imaging.icc-two-second-segmentations",
         lambda e: _cfg(icc={"second_segmentation": {"erode": 1, "column": "mask_path_2"}}), ConfigError,
         ("imaging.icc.second_segmentation", "exactly one"), engines=NONE),
    Case("config/imaging.icc-comparison", lambda e: _cfg(icc={"comparison": "==", "second_segmentation": "m2"}),
         ConfigError, ("comparison",), engines=NONE),
    Case("config/imaging.register_to-not-a-sequence", lambda e: _cfg(sequences=["T1"], register_to="T2"), ConfigError,
         ("imaging.register_to", "T2"), engines=NONE),
    Case("config/imaging.motion_correction-reference",
         lambda e: _cfg(motion_correction={"phases": ["DCE_pre", "DCE_post1"], "reference": "T1"}), ConfigError,
         ("reference", "T1"), engines=NONE),
]
