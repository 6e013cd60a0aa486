"""Bad inputs of agreement, ordinal models, hypothesis tests and feature selection (trust issue)."""
from __future__ import annotations

import numpy as np
import pandas as pd

import her2stats as h2
from her2stats.errors import DroppedRowsWarning, InputError

from ._case import Case
from ._inputs_data import DF, ICC_LONG, LAB, N, R1, R2, S, S2, S_SHIFTED, Y, Y3, Y_SER

NOENG = (None,)
CASES: list[Case] = []

# ---------------------------------------------------------------- kappa: order never alphabetical
_ORDER = ["zero", "low", "2+", "3+"]
CASES += [
    Case("kappa/weighted-unordered-labels", lambda e: h2.kappa(R1, R2, weights="quadratic", engine=e), InputError,
         ("levels=", "zero", "never ordered alphabetically")),
    Case("kappa/weighted-unordered-categorical",
         lambda e: h2.kappa(pd.Categorical(R1), pd.Categorical(R2), weights="linear", engine=e), InputError,
         ("levels=", "ordered Categorical")),
    Case("kappa/levels-missing-a-rating", lambda e: h2.kappa(R1, R2, weights="linear", levels=_ORDER[:3], engine=e),
         InputError, ("3+", "not in categories")),
    Case("kappa/constant-rater", lambda e: h2.kappa(np.full(40, "low"), R2, levels=_ORDER, engine=e), InputError,
         ("r1", "'low'", "same rating")),
    Case("kappa/both-raters-constant", lambda e: h2.kappa(np.full(40, 1), np.full(40, 2), engine=e), InputError,
         ("same rating",)),
    Case("kappa/missing-dropped-announced",
         lambda e: h2.kappa(np.where(np.arange(40) < 3, None, R1), R2, levels=_ORDER, engine=e), None,
         ("kappa", "dropped 3 of 40 rows", "'r1' (3)"), warning=DroppedRowsWarning),
    Case("kappa/misaligned-index",
         lambda e: h2.kappa(pd.Series(R1), pd.Series(R2, index=np.arange(40) + 100), engine=e), InputError,
         ("different indexes", "r2")),
    Case("kappa/length-mismatch", lambda e: h2.kappa(R1, R2[:-1], engine=e), InputError, ("length", "40", "39")),
    Case("kappa/bad-weights", lambda e: h2.kappa(R1, R2, weights="cubic", levels=_ORDER, engine=e), InputError,
         ("weights",)),
    Case("kappa/levels-and-categories", lambda e: h2.kappa(R1, R2, levels=_ORDER, categories=_ORDER, engine=e),
         InputError, ("levels=",)),
]

# ---------------------------------------------------------------- ICC
_bad = ICC_LONG.assign(value=ICC_LONG["value"].astype(object))
_bad.loc[5, "value"] = "n.d."
CASES += [
    Case("icc/stray-string-in-ratings", lambda e: h2.icc(_bad, "lesion", "reader", "value", engine=e), InputError,
         ("'value'", "'n.d.'")),
    Case("icc/missing-dropped-announced",
         lambda e: h2.icc(ICC_LONG.assign(value=ICC_LONG["value"].where(ICC_LONG.index != 3)), "lesion", "reader",
                          "value", engine=e), None, ("icc", "dropped 1 of 20 rows", "'value'"),
         warning=DroppedRowsWarning),
    Case("icc/duplicated-pairs", lambda e: h2.icc(pd.concat([ICC_LONG, ICC_LONG.head(2)]), "lesion", "reader", "value",
                                                  engine=e), InputError, ("duplicated",)),
    Case("icc/unknown-column", lambda e: h2.icc(ICC_LONG, "lesion", "rater", "value", engine=e), InputError, ("rater",)),
    Case("icc/unordered-categorical-ratings",
         lambda e: h2.icc(ICC_LONG.assign(value=pd.Categorical(np.where(ICC_LONG["value"] > 0, "high", "low"))),
                          "lesion", "reader", "value", engine=e), InputError, ("unordered Categorical", "ordered")),
    Case("icc/constant-targets", lambda e: h2.icc(ICC_LONG.assign(value=1.0), "lesion", "reader", "value", engine=e),
         InputError, ("same mean rating",)),
    Case("icc/bad-kind", lambda e: h2.icc(ICC_LONG, "lesion", "reader", "value", kind="ICC4", engine=e), InputError,
         ("ICC4",)),
    Case("icc/one-rater", lambda e: h2.icc(ICC_LONG[ICC_LONG.reader == "a"], "lesion", "reader", "value", engine=e),
         InputError, ("raters",)),
]

# ---------------------------------------------------------------- ordinal models
_D = DF.assign(cls=np.array(["zero", "low", "positive"])[np.arange(N) % 3])
_DS = _D.assign(cls=np.array(["mild", "moderate", "severe"])[np.arange(N) % 3])
CASES += [
    Case("fit_ordinal/unordered-labels", lambda e: h2.fit_ordinal(_DS, "cls", ["age"], engine=e), InputError,
         ("unordered", "levels=")),
    Case("fit_ordinal/levels-missing-a-class",
         lambda e: h2.fit_ordinal(_D, "cls", ["age"], levels=["zero", "low"], engine=e), InputError,
         ("positive", "not in levels")),
    Case("fit_ordinal/two-classes", lambda e: h2.fit_ordinal(_D, "her2_lab", ["age"], levels=["HER2-", "HER2+"], engine=e),
         InputError, (">= 3",)),
    Case("fit_ordinal/stray-string-covariate",
         lambda e: h2.fit_ordinal(_D.assign(age=_D["age"].astype(object).where(np.arange(N) != 9, "old")), "cls",
                                  ["age"], engine=e), InputError, ("'age'", "'old'")),
    Case("fit_ordinal/missing-dropped-announced",
         lambda e: h2.fit_ordinal(_D.assign(age=_D["age"].where(np.arange(N) > 1)), "cls", ["age"], engine=e), None,
         ("fit_ordinal", f"dropped 2 of {N} rows", "'age' (2)"), warning=DroppedRowsWarning),
    Case("ordinal_calibration/misaligned-index",
         lambda e: h2.ordinal_calibration(_D["cls"], pd.DataFrame({"zero": [0.3] * N, "low": 0.3, "positive": 0.4},
                                                                  index=np.arange(N) + 9), B=20),
         InputError, ("different indexes",), engines=NOENG),
]

# ---------------------------------------------------------------- hypothesis tests
_X = np.array([3.1, 2.7, 4.0, 3.3, 2.9, 3.8])
_XS = pd.Series(_X.astype(object))
_XS[2] = "abc"
CASES += [
    Case("ttest/stray-string", lambda e: h2.ttest(_XS, _X + 1, engine=e), InputError, ("x", "'abc'", "numeric")),
    Case("ttest/both-constant", lambda e: h2.ttest([1.0, 1, 1], [2.0, 2, 2], engine=e), InputError, ("constant",)),
    Case("ttest/one-observation", lambda e: h2.ttest([1.0], _X, engine=e), InputError, ("at least 2",)),
    Case("ttest/missing-value", lambda e: h2.ttest([1.0, np.nan, 3], _X, engine=e), InputError, ("missing",)),
    Case("mannwhitney/all-identical", lambda e: h2.mannwhitney([1.0, 1, 1], [1.0, 1], engine=e), InputError,
         ("identical",)),
    Case("mannwhitney/stray-string", lambda e: h2.mannwhitney(_X, _XS, engine=e), InputError, ("y", "'abc'")),
    Case("kruskal/all-identical", lambda e: h2.kruskal([[1.0, 1], [1.0, 1, 1]], engine=e), InputError, ("identical",)),
    Case("kruskal/one-group", lambda e: h2.kruskal([_X], engine=e), InputError, ("at least 2 groups",)),
    Case("kruskal/misaligned-groups",
         lambda e: h2.kruskal(pd.Series(_X), pd.Series(list("aabbcc"), index=range(10, 16)), engine=e), InputError,
         ("different indexes", "groups")),
    Case("kruskal/missing-group-label", lambda e: h2.kruskal(_X, ["a", "a", None, "b", "b", "c"], engine=e),
         InputError, ("missing label",)),
    Case("anova/constant-groups", lambda e: h2.anova([[1.0, 1], [2.0, 2]], engine=e), InputError, ("constant",)),
    Case("anova/group-of-one", lambda e: h2.anova([[1.0], [2.0, 3]], engine=e), InputError, ("at least 2",)),
    Case("anova/stray-string-values", lambda e: h2.anova(_XS, list("aabbcc"), engine=e), InputError,
         ("values", "'abc'")),
    Case("normality/constant", lambda e: h2.normality([2.0] * 8, engine=e), InputError, ("identical",)),
    Case("chi2_test/negative-count", lambda e: h2.chi2_test([[3, -1], [2, 5]], engine=e), InputError, ("negative",)),
    Case("chi2_test/one-dimensional", lambda e: h2.chi2_test([3, 1, 2], engine=e), InputError, ("2-D",)),
    Case("chi2_test/empty-row", lambda e: h2.chi2_test([[0, 0], [2, 5]], engine=e), InputError, ("all-zero row",)),
    Case("fisher_test/nan-count", lambda e: h2.fisher_test([[1, np.nan], [2, 5]], engine=e), InputError,
         ("missing",)),
]

# ---------------------------------------------------------------- feature selection
_FX = pd.DataFrame({"f1": S, "f2": S2, "f3": np.random.default_rng(3).normal(size=N)})
CASES += [
    Case("lasso_cv/labels-need-event", lambda e: h2.lasso_cv(_FX, LAB, engine=e), InputError, ("HER2+", "event=")),
    Case("lasso_cv/three-classes", lambda e: h2.lasso_cv(_FX, Y3, engine=e), InputError, ("exactly two classes",)),
    Case("lasso_cv/misaligned-index", lambda e: h2.lasso_cv(_FX, pd.Series(Y, index=np.arange(N) + 50), engine=e),
         InputError, ("different indexes",)),
    Case("lasso_cv/stray-string-feature",
         lambda e: h2.lasso_cv(_FX.assign(f2=_FX["f2"].astype(object).where(np.arange(N) != 1, "x")), Y, engine=e),
         InputError, ("f2", "not numeric")),
    Case("UnivariateFilter/labels-need-event", lambda e: h2.UnivariateFilter().fit(_FX, LAB), InputError,
         ("HER2+", "event="), engines=NOENG),
    Case("UnivariateFilter/misaligned-index",
         lambda e: h2.UnivariateFilter().fit(_FX, pd.Series(Y, index=np.arange(N) + 50)), InputError,
         ("different indexes",), engines=NOENG),
    Case("UnivariateFilter/array-X-series-y-positional",
         lambda e: h2.UnivariateFilter(event="HER2+").fit(_FX.to_numpy(), pd.Series(LAB, index=np.arange(N) + 50)),
         None, (), engines=NOENG),
    Case("LassoSelector/labels-need-event", lambda e: h2.LassoSelector(engine=e).fit(_FX, LAB), InputError,
         ("HER2+", "event=")),
]
