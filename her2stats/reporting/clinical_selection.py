"""The study's clinical covariate selection (``clinical.selection``), one rule for every place that
runs it: the development fit, each cross-validation fold, each internal-external fold, each
imputed data set and each whole-pipeline bootstrap refit.

Rules (applied in this order, each on the rows given, which are always training rows):

- ``univariate``: keep a covariate when the likelihood-ratio test of the covariate alone (all its
  levels) has p < ``clinical.univariate_p``;
- ``lasso``: 5-fold cross-validated LASSO at lambda.1se (a variable is kept when any of its dummy
  columns is);
- ``stepwise``: optional multivariable Wald pre-filter (``clinical.prefilter_p``; a categorical
  covariate passes when any level does), stepwise AIC in both directions at the variable level,
  optional Wald post-filter (``clinical.final_p``).

Combinations (``univariate+stepwise``, ``lasso+stepwise``) chain the rules.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..errors import InputError

__all__ = ["NothingSelected", "select_clinical"]


class NothingSelected(InputError):
    """A selection rule kept no clinical covariate (the message names the rule and the fix)."""


def select_clinical(dev: pd.DataFrame, outcome: str, covariates: Sequence[str], how: str, engine: str | None = None,
                    seed: int = 0, rule: Any = None, numbers: dict | None = None, notes: list | None = None,
                    allow_empty: bool = False) -> list[str]:
    """Covariates kept by ``clinical.selection`` = ``how`` on the rows ``dev``.

    Parameters
    ----------
    dev : the training rows, with the 0/1 outcome column ``outcome``.
    covariates : candidate covariates, in config order (kept in that order, stepwise in its order of entry).
    how : ``"none"``, ``"univariate"``, ``"lasso"``, ``"stepwise"``, ``"univariate+stepwise"`` or
        ``"lasso+stepwise"``.
    rule : the study's ``clinical`` config (``univariate_p``, ``prefilter_p``, ``final_p``);
        None = p < 0.05 for the univariable screen and no Wald filters.
    numbers, notes : when given, the screen's p-values, the number kept and one sentence per rule
        are recorded there (the development fit does; folds and resamples do not).
    allow_empty : return ``[]`` when a rule keeps nothing (the imputed majority vote counts it);
        otherwise :class:`NothingSelected` is raised.
    """
    numbers = {} if numbers is None else numbers
    notes = [] if notes is None else notes
    covs = list(covariates)
    if how == "none" or not covs:
        return covs
    try:
        chosen = _select(dev, outcome, covs, how, engine, seed, rule, numbers, notes)
    except NothingSelected:
        if allow_empty:
            return []
        raise
    numbers["clinical/selected_n"] = float(len(chosen))
    return chosen


def _select(dev: pd.DataFrame, outcome: str, covs: list[str], how: str, engine: str | None, seed: int, rule: Any,
            numbers: dict, notes: list) -> list[str]:
    chosen = list(covs)
    if how.startswith("univariate"):
        from ..stats.models import fit_lrm

        alpha = rule.univariate_p if rule is not None else 0.05
        p_uni = {c: float(fit_lrm(dev, outcome, [c], engine=engine).stats["P"]) for c in chosen}
        for c, p in p_uni.items():
            numbers[f"clinical/univariate_p/{c}"] = p
        chosen = [c for c in chosen if p_uni[c] < alpha]
        notes.append(f"Univariable screen (likelihood-ratio test of each covariate alone, p < {alpha:g}, development "
                     f"cohort) kept {len(chosen)} of {len(covs)} clinical covariates.")
        if not chosen:
            raise NothingSelected(f"the univariable screen (p < {alpha:g}) kept no clinical covariate; use "
                                  "clinical.selection: none or raise clinical.univariate_p")
    if "lasso" in how:
        from ..selection import lasso_cv

        X = pd.get_dummies(dev[chosen], drop_first=True, dtype=float)
        res = lasso_cv(X, dev[outcome].to_numpy(), cv=5, seed=seed, engine=engine)
        kept_cols = set(res.selected("1se").index)
        chosen = [c for c in chosen if any(k == c or k.startswith(f"{c}_") for k in kept_cols)]
        notes.append(f"LASSO (5-fold CV, lambda.1se) kept {len(chosen)} of {len(covs)} clinical covariates.")
        if not chosen:
            raise NothingSelected("LASSO kept no clinical covariate; use clinical.selection: none or stepwise")
    if "stepwise" in how:
        from ..stats.logistic import logistic_table

        def wald_pass(cols: list[str], cut: float, what: str) -> list[str]:
            mv = logistic_table(dev, outcome, cols, univariable=False, engine=engine).frame
            p_min = mv.groupby("variable")["multi_p"].min()
            kept = [c for c in cols if float(p_min.get(c, np.nan)) < cut]
            notes.append(f"{what}: covariates with multivariable Wald p < {cut:g} (any level) kept {len(kept)} of "
                         f"{len(cols)}.")
            if not kept:
                raise NothingSelected(f"{what} (p < {cut:g}) kept no clinical covariate; relax it or use "
                                      "clinical.selection: none")
            return kept

        if rule is not None and getattr(rule, "prefilter_p", None) is not None:
            chosen = wald_pass(chosen, rule.prefilter_p, "Before stepwise selection")
        lt = logistic_table(dev, outcome, chosen, univariable=False, stepwise="both", engine=engine)
        chosen = list(lt.selected)
        if not chosen:
            raise NothingSelected("stepwise AIC kept no clinical covariate; use clinical.selection: none")
        if rule is not None and getattr(rule, "final_p", None) is not None:
            chosen = wald_pass(chosen, rule.final_p, "After stepwise selection")
    return chosen
