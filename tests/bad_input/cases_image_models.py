"""Bad ``image_models:`` / ``fusion:`` settings of a study config: refused with the key and the
reason (ConfigError); a fusion of a model the study does not have names the models it has."""
from __future__ import annotations

from her2stats.errors import ConfigError

from ._case import Case
from .cases_config import _load

N = (None,)


def _add(**sections):
    def edit(d):
        d.update(sections)
    return edit


def _unknown_member():
    import pandas as pd

    from her2stats.reporting.config import load_config
    from her2stats.reporting.image_models import stage_fusion
    from her2stats.reporting.study import new_state

    st = new_state(load_config({"name": "f", "fusion": {"late": [{"name": "f", "models": ["deep_score", "dl_mri"]}]}}))
    st.cohort = pd.DataFrame({"cohort_split": ["development"] * 4, "_y": [0, 1, 0, 1]})
    st.probs = {"deep_score": pd.Series([0.2, 0.7, 0.3, 0.8]), "deep_scor2": pd.Series([0.2, 0.7, 0.3, 0.8])}
    return stage_fusion(st)


CASES = [
    Case("config/image-model-step-key-of-another-step",
         lambda e: _load(_add(image_models=[{"name": "m", "selection": [{"step": "cluster", "k": 5}]}])), ConfigError,
         ("image_models.0.selection.0", "'cluster' takes n_clusters", "not k"), engines=N),
    Case("config/image-model-step-typo",
         lambda e: _load(_add(image_models=[{"name": "m", "selection": [{"step": "mutualinfo", "k": 5}]}])),
         ConfigError, ("image_models.0.selection.0.step", "did you mean 'mutual_info'"), engines=N),
    Case("config/image-model-name-taken", lambda e: _load(_add(image_models=[{"name": "combined"}])), ConfigError,
         ("'combined'", "already a model"), engines=N),
    Case("config/image-model-sequence-not-in-imaging",
         lambda e: _load(_add(image_models=[{"name": "m", "sequences": ["ADC"]}])), ConfigError,
         ("image_models 'm'", "['ADC']", "imaging.sequences"), engines=N),
    Case("config/fusion-weights-with-stacking",
         lambda e: _load(_add(fusion={"late": [{"name": "f", "models": ["clinical", "deep_score"],
                                                "method": "logistic", "weights": [1, 1]}]})), ConfigError,
         ("fusion.late 'f'", "weights apply to method 'mean'"), engines=N),
    Case("study/fusion-unknown-model", lambda e: _unknown_member(), ConfigError,
         ("fusion.late 'f'", "['dl_mri']", "deep_scor2, deep_score"), engines=N),
]
