"""Bad inputs of the ROC functions (first rows; the trust issue grows this file)."""
from __future__ import annotations

import numpy as np

import her2stats as h2
from her2stats.errors import InputError

from ._case import Case

Y = np.array([0, 0, 1, 1, 0, 1, 0, 1, 1, 0])
S = np.linspace(0.1, 0.9, 10)

CASES = [
    Case("roc_auc/length-mismatch", lambda e: h2.roc_auc(Y, S[:-1], engine=e), InputError, ("9 values", "10")),
    Case("roc_auc/one-class", lambda e: h2.roc_auc(np.zeros(10), S, engine=e), InputError, ()),
    Case("roc_auc/outcome-coded-1-2", lambda e: h2.roc_auc(Y + 1, S, engine=e), InputError, ("0/1",)),
]
