"""Deep Score (seed 000): a per-patient linear predictor from selected deep features.

Seed 000 fits a logistic regression on the LASSO-selected deep features and uses its linear
predictor ("Deep Score", a rad-score) as one more covariate of the clinical nomogram. Here that is
an sklearn estimator, so it composes after the selection steps in a Pipeline fitted on training
patients only, and :meth:`DeepScore.add_to` writes the score into the clinical table.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ..errors import ConvergenceError, InputError
from ..selection._validation import as_binary_outcome, as_feature_frame


def _logistic_irls(X: np.ndarray, y: np.ndarray, max_iter: int, tol: float, ridge: float = 0.0
                   ) -> tuple[np.ndarray, np.ndarray, int]:
    """Logistic regression by Newton-Raphson (R ``glm``'s IRLS), optionally ridge-penalised.

    ``X`` includes the intercept column. Maximises ``loglik - ridge/2 * ||beta[1:]||^2``
    (``ridge = 1/C``, sklearn's convention; the intercept is never penalised). Returns
    (coefficients, covariance = inverse penalised information, iterations). Converged when the
    relative change of the penalised deviance is below ``tol`` (glm uses 1e-8).
    """
    n, k = X.shape
    penalty = np.full(k, float(ridge))
    penalty[0] = 0.0
    beta = np.zeros(k)
    ybar = y.mean()
    beta[0] = np.log(ybar / (1 - ybar))
    dev_old = np.inf
    for it in range(1, max_iter + 1):
        eta = X @ beta
        prob = expit(eta)
        w = prob * (1 - prob)
        info = X.T @ (X * w[:, None]) + np.diag(penalty)
        try:
            step = np.linalg.solve(info, X.T @ (y - prob) - penalty * beta)
        except np.linalg.LinAlgError:
            raise ConvergenceError(
                "the Deep Score logistic model is singular (collinear or too many features for the training "
                "patients); select fewer features first (LassoSelector / CorrelationFilter)"
            ) from None
        beta = beta + step
        eta = X @ beta
        dev = float(2.0 * np.sum(np.logaddexp(0.0, eta) - y * eta)) + float(penalty @ beta ** 2)
        if abs(dev - dev_old) / (abs(dev) + 0.1) < tol:
            break
        dev_old = dev
    else:
        raise ConvergenceError(f"the Deep Score logistic model did not converge in {max_iter} iterations")
    prob = expit(X @ beta)
    # R's glm warns "fitted probabilities numerically 0 or 1" at the same bound
    if ridge == 0.0 and np.min(np.minimum(prob, 1 - prob)) < 10 * np.finfo(float).eps:
        raise ConvergenceError(
            "the Deep Score logistic model separates the training classes (fitted probabilities 0 or 1), so its "
            "maximum-likelihood coefficients are not finite; select fewer features (LassoSelector with "
            "lambda_rule='1se') or use the ridge-penalised score DeepScore(penalty='l2', C=...)"
        )
    w = prob * (1 - prob)
    cov = np.linalg.inv(X.T @ (X * w[:, None]) + np.diag(penalty))
    return beta, cov, it


class DeepScore(TransformerMixin, ClassifierMixin, BaseEstimator):
    r"""Logistic regression whose linear predictor is the per-patient Deep Score (seed 000).

    .. math:: \text{DeepScore}_i = \hat\beta_0 + \sum_j \hat\beta_j x_{ij}, \qquad
              P(\text{HER2+}\mid x_i) = 1 / (1 + e^{-\text{DeepScore}_i})

    with :math:`\hat\beta` the unpenalised maximum-likelihood estimate (R
    ``glm(y ~ ., family = binomial)``; Newton-Raphson to a relative deviance change < ``tol``), or
    with ``penalty="l2"`` the ridge estimate maximising
    :math:`\ell(\beta) - \frac{1}{2C}\sum_{j\ge1}\beta_j^2` (sklearn ``LogisticRegression(C=C)``
    convention, intercept unpenalised): use it when the training patients are few for the number
    of selected features, where the maximum-likelihood fit separates the classes (seen on the
    120-image BUSI set: 96 training patients, ~34 LASSO-selected EfficientNet-Lite0 features).
    Put it after the selection steps (``ICCFilter`` -> ``LassoSelector``) in a Pipeline: the whole
    chain is then fitted on training patients only. With zero input features (a selector kept
    nothing) the score is the intercept-only log-odds of the training prevalence.

    Parameters
    ----------
    column : name of the score column produced by ``transform`` / ``add_to``.
    penalty : None (maximum likelihood, seed 000) or ``"l2"`` (ridge).
    C : inverse ridge strength (used with ``penalty="l2"``); features on very different scales
        should be standardised first for the penalty to treat them alike.
    max_iter, tol : Newton iterations and convergence tolerance.

    Attributes
    ----------
    coef_ : Series of feature coefficients; ``intercept_`` : float.
    cov_ : covariance of (intercept, coefficients): inverse (penalised) observed information; with
        a ridge penalty the Wald table is approximate (the estimate is biased towards 0).

    Examples
    --------
    >>> pipe = make_pipeline(LassoSelector(), DeepScore())                    # doctest: +SKIP
    >>> pipe.fit(deep_train, y_train)                                          # doctest: +SKIP
    >>> clinical_test = pipe[-1].add_to(clinical_test, pipe[:-1].transform(deep_test))  # doctest: +SKIP

    R parity: ``coef(glm(y ~ ., data, family = binomial))`` equals ``(intercept_, coef_)`` to 1e-6
    (tests/test_models_deepscore.py).
    """

    def __init__(self, column: str = "deep_score", penalty: str | None = None, C: float = 1.0, max_iter: int = 100,
                 tol: float = 1e-12):
        self.column = column
        self.penalty = penalty
        self.C = C
        self.max_iter = max_iter
        self.tol = tol

    def fit(self, X: Any, y: Any) -> "DeepScore":
        if not isinstance(self.column, str) or not self.column:
            raise InputError(f"column must be a non-empty string, got {self.column!r}")
        if self.penalty not in (None, "l2"):
            raise InputError(f"penalty must be None or 'l2', got {self.penalty!r}")
        if self.penalty == "l2" and not float(self.C) > 0:
            raise InputError(f"C must be positive, got {self.C!r}")
        ridge = 1.0 / float(self.C) if self.penalty == "l2" else 0.0
        frame = _frame_allow_empty(X)
        yv = as_binary_outcome(y, len(frame))
        labels = np.asarray(y.to_numpy() if isinstance(y, pd.Series) else y).ravel()
        self.classes_ = np.unique(labels)
        self.feature_names_in_ = np.asarray(frame.columns, dtype=object)
        self.n_features_in_ = frame.shape[1]
        design = np.column_stack([np.ones(len(frame)), frame.to_numpy()])
        if ridge == 0.0 and design.shape[1] >= len(frame):
            raise InputError(
                f"DeepScore got {frame.shape[1]} features for {len(frame)} training patients; select features first "
                "(LassoSelector) so that there are far fewer features than patients"
            )
        if ridge == 0.0 and frame.shape[1]:
            # the maximum-likelihood score must exist: exact collinearity and (quasi-)separation are
            # decided before fitting, by the checks every logistic model of her2stats uses
            from ..stats._fitcheck import check_rank, logistic_separation, separation_error

            names = [repr(str(c)) for c in frame.columns]
            what = "DeepScore (maximum-likelihood logistic model)"
            check_rank(design[:, 1:], names, what)
            sep = logistic_separation(design[:, 1:], yv)
            if sep is not None:
                raise separation_error(sep, names, what, design[:, 1:], yv,
                                       ", or use the ridge-penalised score DeepScore(penalty='l2', C=...)")
        beta, cov, n_iter = _logistic_irls(design, yv, int(self.max_iter), float(self.tol), ridge)
        self.intercept_ = float(beta[0])
        self.coef_ = pd.Series(beta[1:], index=list(frame.columns), name="coef", dtype=float)
        self.cov_ = cov
        self.n_iter_ = n_iter
        self.n_train_ = len(frame)
        self.n_events_ = int(yv.sum())
        return self

    # -- scores and predictions
    def decision_function(self, X: Any) -> np.ndarray:
        """The Deep Score (linear predictor, log-odds) of each patient."""
        check_is_fitted(self, "coef_")
        frame = self._aligned(X)
        return self.intercept_ + frame.to_numpy() @ self.coef_.to_numpy()

    def predict_proba(self, X: Any) -> np.ndarray:
        p = expit(self.decision_function(X))
        return np.column_stack([1 - p, p])

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[(self.decision_function(X) > 0).astype(int)]

    def transform(self, X: Any) -> pd.DataFrame:
        """One-column DataFrame (``column``) of Deep Scores, indexed like ``X``."""
        index = X.index if isinstance(X, pd.DataFrame) else None
        return pd.DataFrame({self.column: self.decision_function(X)}, index=index)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray([self.column], dtype=object)

    def add_to(self, clinical: pd.DataFrame, X: Any, column: str | None = None) -> pd.DataFrame:
        """Return a copy of ``clinical`` with the Deep Score of ``X`` as a new column.

        Rows are matched on the index (case id); every clinical case must have features in
        ``X`` (an InputError lists the ones that do not), so no patient silently gets a NaN.
        """
        column = column or self.column
        if not isinstance(clinical, pd.DataFrame):
            raise InputError("clinical must be a pandas DataFrame indexed by case id")
        if not isinstance(X, pd.DataFrame):
            if len(X) != len(clinical):
                raise InputError(f"X has {len(X)} rows but clinical has {len(clinical)}; pass X as a DataFrame "
                                 "indexed by case id to match rows")
            X = pd.DataFrame(np.asarray(X), index=clinical.index, columns=self.feature_names_in_)
        if column in clinical.columns:
            raise InputError(f"clinical already has a column {column!r}; pass another column= name")
        if X.index.has_duplicates:
            raise InputError(f"feature table has duplicated case ids, e.g. {X.index[X.index.duplicated()][0]!r}")
        missing = clinical.index.difference(X.index)
        if len(missing):
            raise InputError(
                f"{len(missing)} clinical case(s) have no deep features, e.g. {list(missing[:5])}; extract their "
                "features or drop them from the clinical table explicitly"
            )
        scores = self.transform(X)[self.column]
        out = clinical.copy()
        out[column] = scores.reindex(clinical.index).to_numpy()
        return out

    def coefficients(self) -> pd.DataFrame:
        """Wald table: estimate, SE, z, p and 95% CI per term (R ``summary(glm)``)."""
        check_is_fitted(self, "coef_")
        est = np.concatenate([[self.intercept_], self.coef_.to_numpy()])
        se = np.sqrt(np.diag(self.cov_))
        z = est / se
        crit = stats.norm.ppf(0.975)
        return pd.DataFrame({"estimate": est, "se": se, "z": z, "p_value": 2 * stats.norm.sf(np.abs(z)),
                             "ci_low": est - crit * se, "ci_high": est + crit * se},
                            index=["(Intercept)", *self.coef_.index])

    def formula(self, digits: int = 4) -> str:
        """The score as text, e.g. ``deep_score = -0.12 + 0.8*f1 - 0.3*f7`` (for a methods section)."""
        check_is_fitted(self, "coef_")
        terms = [f"{self.intercept_:.{digits}g}"]
        for name, b in self.coef_.items():
            terms.append(f"{'-' if b < 0 else '+'} {abs(b):.{digits}g}*{name}")
        return f"{self.column} = " + " ".join(terms)

    def _aligned(self, X: Any) -> pd.DataFrame:
        frame = _frame_allow_empty(X)
        names = list(self.feature_names_in_)
        if isinstance(X, pd.DataFrame):
            missing = [c for c in names if c not in frame.columns]
            if missing:
                raise InputError(f"DeepScore: X lacks feature column(s) {missing[:5]} seen in fit")
            return frame.loc[:, names]
        if frame.shape[1] != len(names):
            raise InputError(f"DeepScore: X has {frame.shape[1]} columns, {len(names)} were seen in fit")
        frame.columns = names
        return frame


def _frame_allow_empty(X: Any) -> pd.DataFrame:
    """as_feature_frame, but a zero-column input (a selector that kept nothing) is allowed."""
    if isinstance(X, pd.DataFrame) and X.shape[1] == 0:
        return pd.DataFrame(index=X.index)
    arr = None if isinstance(X, pd.DataFrame) else np.asarray(X)
    if arr is not None and arr.ndim == 2 and arr.shape[1] == 0:
        return pd.DataFrame(index=pd.RangeIndex(arr.shape[0]))
    return as_feature_frame(X)
