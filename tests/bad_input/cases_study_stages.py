"""Bad inputs of the study stages' helpers: fit_zoo's per-fold design (issue 17, the Deep Score
refitted inside each outer fold) must be the design of every patient with the columns of X."""
from __future__ import annotations

import numpy as np
import pandas as pd

from her2stats.errors import InputError

from ._case import Case


def _zoo_with_fold_features(fold_features):
    from her2stats.models import fit_zoo

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(40, 2)), columns=["age", "deep_score"])
    y = np.r_[np.zeros(20, dtype=int), np.ones(20, dtype=int)]
    return fit_zoo(X, y, models=["lr"], cv=2, inner_cv=2, seed=1, refit=False, fold_features=fold_features)


def _short(k, train):  # the training rows only, not every patient
    rng = np.random.default_rng(k)
    return pd.DataFrame(rng.normal(size=(len(train), 2)), columns=["age", "deep_score"])


def _renamed(k, train):
    rng = np.random.default_rng(k)
    return pd.DataFrame(rng.normal(size=(40, 2)), columns=["age", "score"])


CASES = [
    Case("fit_zoo/fold_features returns the training rows only", lambda e: _zoo_with_fold_features(_short),
         InputError, ("fold_features", "40 x 2", "20 x 2"), engines=(None,)),
    Case("fit_zoo/fold_features renames a column", lambda e: _zoo_with_fold_features(_renamed),
         InputError, ("fold_features", "columns of X"), engines=(None,)),
]
