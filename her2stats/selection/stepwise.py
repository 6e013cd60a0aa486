"""Seed 002's clinical selection rule as a transformer fitted inside the folds.

"Variables with p-values less than 0.1 in the multivariable logistic regression underwent further
evaluation through stepwise regression for refined variable selection. Ultimately, the variables
with p-values less than 0.05 in the stepwise regression were used" (seed 002, after LASSO).

:class:`LogisticStepwiseSelector` runs that chain on the training rows with
:func:`her2stats.logistic_table` (so both engines, R ``glm`` or statsmodels, give the same
selection):

1. ``prefilter_p``: a multivariable logistic regression on every feature; features whose Wald
   p-value is below ``prefilter_p`` go on (None skips this step);
2. stepwise selection among them: ``criterion="p"`` (entry p < ``p_enter``, removal p >
   ``p_remove`` by the ``test`` chosen) or ``"aic"`` / ``"bic"`` (R ``step()``);
3. ``final_p``: of the stepwise model's features, those with Wald p below ``final_p`` are kept
   (None keeps them all).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ._base import FeatureSelector
from ._validation import as_binary_outcome


class LogisticStepwiseSelector(FeatureSelector):
    """Multivariable-p pre-filter, stepwise logistic selection and a final p-value filter.

    Parameters
    ----------
    prefilter_p : keep features with Wald p < prefilter_p in the full multivariable model
        (seed 002: 0.1); None skips the pre-filter.
    direction : ``"both"``, ``"forward"`` or ``"backward"`` stepwise search; None skips it.
    criterion : ``"p"`` (p-value entry/removal), ``"aic"`` or ``"bic"``.
    p_enter, p_remove, test : the p-value rule of ``criterion="p"`` (see :func:`her2stats.logistic_table`).
    final_p : keep the stepwise model's features with Wald p < final_p (seed 002: 0.05); None keeps all.
    min_features : keep at least this many features (the smallest final p-values), reported as such,
        so that a downstream model always has an input; 0 allows an empty selection.
    engine : ``"r"``, ``"python"`` or None (package default).
    event : the outcome value coded 1 when ``y`` is not 0/1 or bool.

    Attributes
    ----------
    report_ : feature, p_multivariable, passed_prefilter, in_stepwise_model, p_final, kept, reason.
    steps_ : the stepwise path (DataFrame).
    """

    def __init__(self, prefilter_p: float | None = 0.1, direction: str | None = "both", criterion: str = "p",
                 p_enter: float = 0.05, p_remove: float = 0.10, test: str = "lr", final_p: float | None = 0.05,
                 min_features: int = 1, engine: str | None = None, event: Any = None):
        self.event = event
        self.prefilter_p = prefilter_p
        self.direction = direction
        self.criterion = criterion
        self.p_enter = p_enter
        self.p_remove = p_remove
        self.test = test
        self.final_p = final_p
        self.min_features = min_features
        self.engine = engine

    def fit(self, X: Any, y: Any = None) -> "LogisticStepwiseSelector":
        from ..stats.logistic import logistic_table

        for name in ("prefilter_p", "final_p"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < float(v) <= 1):
                raise InputError(f"{name} must be a p-value threshold in (0, 1] or None, got {v!r}")
        if self.direction not in (None, "both", "forward", "backward"):
            raise InputError(f"direction must be 'both', 'forward', 'backward' or None, got {self.direction!r}")
        if isinstance(self.min_features, bool) or not isinstance(self.min_features, (int, np.integer)) \
                or self.min_features < 0:
            raise InputError(f"min_features must be a non-negative integer, got {self.min_features!r}")
        frame = self._frame(X)
        yv = as_binary_outcome(y, len(frame), event=self.event, index=X.index if isinstance(X, pd.DataFrame) else None)
        self._set_input(frame)
        names = list(frame.columns)
        outcome = "outcome"
        while outcome in names:
            outcome += "_"
        data = frame.reset_index(drop=True).assign(**{outcome: yv.astype(int)})
        p_multi = pd.Series(np.nan, index=names)
        candidates = names
        if self.prefilter_p is not None:
            full = logistic_table(data, outcome, names, univariable=False, engine=self.engine)
            p_multi = full.multivariable.set_index("variable")["p"].reindex(names)
            candidates = [c for c in names if p_multi[c] < float(self.prefilter_p)]
        steps = pd.DataFrame(columns=["step", "change", "criterion"])
        in_step = list(candidates)
        p_final = pd.Series(np.nan, index=names)
        if candidates:
            res = logistic_table(data, outcome, candidates, univariable=False, stepwise=self.direction,
                                 criterion=self.criterion, p_enter=self.p_enter, p_remove=self.p_remove,
                                 test=self.test, engine=self.engine)
            steps = res.steps
            in_step = list(res.selected)
            if in_step:
                p_final = res.multivariable.set_index("variable")["p"].reindex(names)
        kept = np.array([c in in_step and (self.final_p is None or p_final[c] < float(self.final_p)) for c in names])
        reason = []
        for c, k in zip(names, kept):
            if k:
                reason.append("kept")
            elif self.prefilter_p is not None and c not in candidates:
                reason.append(f"multivariable p >= {self.prefilter_p}")
            elif c not in in_step:
                reason.append("not selected by stepwise")
            else:
                reason.append(f"p >= {self.final_p} in the stepwise model")
        if kept.sum() < self.min_features:
            pool = p_final.where(p_final.notna(), p_multi)
            for j in np.argsort(pool.fillna(np.inf).to_numpy(), kind="stable"):
                if kept.sum() >= self.min_features:
                    break
                if not kept[j]:
                    kept[j] = True
                    reason[j] = "kept by min_features (smallest p)"
        self.support_ = kept
        self.steps_ = steps
        self.report_ = pd.DataFrame({"feature": names, "p_multivariable": p_multi.to_numpy(),
                                     "passed_prefilter": [c in candidates for c in names],
                                     "in_stepwise_model": [c in in_step for c in names],
                                     "p_final": p_final.to_numpy(), "kept": kept, "reason": reason})
        return self
