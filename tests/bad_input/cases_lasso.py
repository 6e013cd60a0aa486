"""Bad inputs of lasso_cv's convergence settings (issue 25): glmnet's thresh and maxit on both
engines, and the Python engine's KKT-certified mode."""
from __future__ import annotations

import numpy as np
import pandas as pd

import her2stats as h2
from her2stats.errors import InputError

from ._case import Case
from ._inputs_data import N, S, S2, Y

_FX = pd.DataFrame({"f1": S, "f2": S2, "f3": np.random.default_rng(3).normal(size=N)})

CASES: list[Case] = [
    Case("lasso_cv/tol-not-positive", lambda e: h2.lasso_cv(_FX, Y, cv=5, tol=0.0, engine=e), InputError,
         ("tol", "thresh", "0.0")),
    Case("lasso_cv/tol-not-a-number", lambda e: h2.lasso_cv(_FX, Y, cv=5, tol="1e-7", engine=e), InputError,
         ("tol", "'1e-7'")),
    Case("lasso_cv/max-iter-zero", lambda e: h2.lasso_cv(_FX, Y, cv=5, max_iter=0, engine=e), InputError,
         ("max_iter", "maxit")),
    Case("lasso_cv/kkt-tol-negative", lambda e: h2.lasso_cv(_FX, Y, cv=5, kkt_tol=-1e-10, engine=e), InputError,
         ("kkt_tol", "-1e-10"), engines=("python",)),
    Case("lasso_cv/kkt-tol-on-glmnet", lambda e: h2.lasso_cv(_FX, Y, cv=5, kkt_tol=1e-10, engine=e), InputError,
         ("kkt_tol", "engine='python'"), engines=("r",)),
]
