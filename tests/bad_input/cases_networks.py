"""Bad ``networks:`` sections of a study config (trained networks as a runner step): every bad
value is a ConfigError naming the key path (``networks.<i>.<key>``); a patient without an image
for the network is an InputError naming the network and the count. No engine is involved."""
from __future__ import annotations

from pathlib import Path

from her2stats.errors import ConfigError, InputError

from ._case import Case

N = (None,)
SEEDS = Path(__file__).resolve().parents[2] / "reports" / "seeds"


def _load(**net):
    from her2stats.reporting.config import load_config

    return load_config({"name": "x", "networks": [{"name": "cnn", **net}]})


def _missing_image():
    """BUSI cohort with one patient renamed: the network's image table has no image for it."""
    from her2stats.reporting.config import load_config
    from her2stats.reporting.network_step import network_cases
    from her2stats.reporting.study import new_state, stage_cohort

    cfg = load_config({"name": "x", "base_dir": SEEDS, "engine": "python",
                       "cohort": {"source": "csv", "path": "busi_cohort.csv", "outcome": "malignant",
                                  "exclude_predictors": ["pathology"]},
                       "splits": {"by": "random", "internal_fraction": 0.25},
                       "networks": [{"name": "cnn", "images": "busi_images.csv", "margin": None}]})
    st = stage_cohort(new_state(cfg))
    st.cohort.loc[st.cohort.index[0], "patient_id"] = "nobody"
    network_cases(st, cfg.networks[0])


CASES = [
    Case("networks/epochs-zero", lambda e: _load(epochs=0), ConfigError,
         ("networks.0.epochs", "greater than or equal to 1"), engines=N),
    Case("networks/freeze-typo", lambda e: _load(freeze="backbones"), ConfigError,
         ("networks.0.freeze", "did you mean 'backbone'"), engines=N),
    Case("networks/3d-input-2d-backbone", lambda e: _load(input="3d"), ConfigError,
         ("networks.0", "3-D input needs a 3-D network", "r3d_18"), engines=N),
    Case("networks/unknown-augmentation-field", lambda e: _load(augmentation={"flipx": 0.5}), ConfigError,
         ("networks.0.augmentation", "unknown augmentation field", "flipx"), engines=N),
    Case("networks/unknown-key", lambda e: _load(epoch=3), ConfigError,
         ("networks.0.epoch", "did you mean 'epochs'"), engines=N),
    Case("networks/two-sequences", lambda e: _load(sequences=["T1", "T2"]), ConfigError,
         ("networks.0.sequences",), engines=N),
    Case("networks/fold-ensemble-vs-zoo", lambda e: __import__("her2stats.reporting.config", fromlist=["x"]).load_config(
        {"name": "x", "zoo": {"cv": 5}, "networks": [{"name": "cnn", "fold_ensemble": 4}]}), ConfigError,
         ("fold_ensemble (4) must equal zoo.cv (5)",), engines=N),
    Case("networks/patient-without-image", lambda e: _missing_image(), InputError,
         ("networks[cnn]", "1 of 120 analysed patient(s) have no image", "'nobody'"), engines=N),
]
