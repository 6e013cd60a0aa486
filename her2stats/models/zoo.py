"""Model zoo with grid search in nested stratified cross-validation (seeds 002 and 003).

``fit_zoo`` evaluates each classifier honestly: the outer stratified K folds give out-of-fold
probabilities for every patient; inside each outer training set an inner stratified CV grid
search picks the hyper-parameters; any ``preprocess`` steps (feature selection, PCA, scaling) are
part of the pipeline, so they are refitted on every inner and outer training set and never see
the held-out patients. The final ("refit") model per classifier is the grid search run on all
patients, for use on an external test set.

The out-of-fold AUC estimates the performance of the *procedure* (selection + tuning + fit),
not of the single refit model (Varma & Simon, BMC Bioinformatics 2006;7:91; Cawley & Talbot,
JMLR 2010;11:2079-2107).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

from ..errors import InputError, find_stack_level
from ..results import Result
from ..selection._validation import as_binary_outcome, as_feature_frame

#: short name -> long label used in tables
MODEL_LABELS = {
    "lr": "Logistic regression", "svm": "SVM (RBF, Platt)", "knn": "k-nearest neighbours", "dt": "Decision tree",
    "mlp": "MLP", "rf": "Random forest", "et": "Extra trees", "xgb": "XGBoost", "lgbm": "LightGBM",
}
DEFAULT_MODELS = tuple(MODEL_LABELS)


def default_model(name: str, seed: int | None = 0) -> tuple[Any, dict[str, list[Any]], bool]:
    """(estimator, parameter grid, needs standardisation) of a zoo member.

    Grids are deliberately small (2-4 points on the parameter that matters most) so nested CV
    stays affordable on a laptop; pass ``param_grids`` to ``fit_zoo`` for larger searches.
    """
    if name == "lr":
        return LogisticRegression(max_iter=5000), {"C": [0.01, 0.1, 1.0, 10.0]}, True
    if name == "svm":
        # Platt-scaled probabilities from an internal 3-fold CV (sklearn's replacement for the
        # deprecated SVC(probability=True)); the grid tunes the wrapped SVC's C
        svc = CalibratedClassifierCV(SVC(kernel="rbf", random_state=seed), method="sigmoid", cv=3, ensemble=False)
        return svc, {"estimator__C": [0.1, 1.0, 10.0]}, True
    if name == "knn":
        return KNeighborsClassifier(), {"n_neighbors": [5, 11, 21]}, True
    if name == "dt":
        return DecisionTreeClassifier(random_state=seed), {"max_depth": [2, 3, 5]}, False
    if name == "mlp":
        return (MLPClassifier(hidden_layer_sizes=(32,), max_iter=2000, random_state=seed),
                {"alpha": [1e-3, 1e-1, 1.0]}, True)
    if name == "rf":
        return (RandomForestClassifier(n_estimators=200, random_state=seed, n_jobs=1),
                {"max_depth": [3, None], "min_samples_leaf": [1, 5]}, False)
    if name == "et":
        return (ExtraTreesClassifier(n_estimators=200, random_state=seed, n_jobs=1),
                {"max_depth": [3, None], "min_samples_leaf": [1, 5]}, False)
    if name == "xgb":
        try:
            from xgboost import XGBClassifier
        except ImportError as exc:
            raise InputError("model 'xgb' needs xgboost: pip install 'her2stats[deep]' (or xgboost)") from exc
        return (XGBClassifier(n_estimators=200, learning_rate=0.05, subsample=0.8, random_state=seed, n_jobs=1,
                              eval_metric="logloss", verbosity=0),
                {"max_depth": [2, 4]}, False)
    if name == "lgbm":
        try:
            from lightgbm import LGBMClassifier
        except ImportError as exc:
            raise InputError("model 'lgbm' needs lightgbm: pip install 'her2stats[deep]' (or lightgbm)") from exc
        return (LGBMClassifier(n_estimators=200, learning_rate=0.05, random_state=seed, n_jobs=1, verbose=-1,
                               min_child_samples=5),
                {"num_leaves": [4, 15]}, False)
    raise InputError(f"unknown model {name!r}; choose from {list(MODEL_LABELS)} or pass (estimator, grid) pairs")


def _build(name: str, spec: Any, preprocess: Sequence[Any] | None, seed: int | None) -> tuple[Pipeline, dict]:
    if isinstance(spec, tuple):
        est, grid = spec[0], dict(spec[1])
        scale = bool(spec[2]) if len(spec) > 2 else False
    else:
        est, grid, scale = default_model(name, seed)
    steps: list[tuple[str, Any]] = []
    for i, step in enumerate(preprocess or []):
        if isinstance(step, tuple):
            steps.append((step[0], clone(step[1])))
        else:
            steps.append((f"pre{i}_{type(step).__name__.lower().strip('_')}", clone(step)))
    if scale:
        steps.append(("scale", StandardScaler()))
    steps.append(("model", clone(est)))
    return Pipeline(steps), {f"model__{k}": list(v) for k, v in grid.items()}


@dataclass(frozen=True, repr=False)
class ZooResult(Result):
    """Out-of-fold probabilities, per-fold AUCs, chosen parameters and refit models of ``fit_zoo``."""

    oof: pd.DataFrame          # patients x models, out-of-fold P(event)
    y: pd.Series
    folds: np.ndarray          # outer fold (1..K) of each patient
    fold_auc: pd.DataFrame     # folds x models
    best_params: dict[str, list[dict[str, Any]]]
    refit: dict[str, Any]
    refit_params: dict[str, dict[str, Any]]
    cv: int
    inner_cv: int
    seed: int | None
    n: int
    n_events: int
    method: str = "nested stratified CV with inner grid search"
    engine: str = "python"

    def to_frame(self) -> pd.DataFrame:
        """Per model: pooled out-of-fold AUC, mean and SD of the fold AUCs."""
        rows = []
        for name in self.oof.columns:
            rows.append({
                "model": name, "label": MODEL_LABELS.get(name, name),
                "auc_oof": float(roc_auc_score(self.y, self.oof[name])),
                "auc_fold_mean": float(self.fold_auc[name].mean()), "auc_fold_sd": float(self.fold_auc[name].std(ddof=1)),
                "n": self.n, "n_events": self.n_events,
            })
        return pd.DataFrame(rows).set_index("model")

    def plot(self, ax: Any = None) -> Any:
        """Out-of-fold ROC curve of every model."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(4.5, 4.5))
        table = self.to_frame()
        for name in self.oof.columns:
            fpr, tpr, _ = roc_curve(self.y, self.oof[name])
            ax.plot(fpr, tpr, lw=1.2, label=f"{MODEL_LABELS.get(name, name)} (AUC {table.loc[name, 'auc_oof']:.3f})")
        ax.plot([0, 1], [0, 1], ls=":", color="0.5", lw=0.8)
        ax.set_xlabel("1 - specificity")
        ax.set_ylabel("sensitivity")
        ax.legend(fontsize=7, loc="lower right")
        ax.set_title(f"out-of-fold ROC, {self.cv}-fold nested CV")
        return ax


def fit_zoo(X: Any, y: Any, models: Sequence[str] | Mapping[str, Any] | None = None, cv: int = 5,
            inner_cv: int = 3, seed: int | None = 0, preprocess: Sequence[Any] | None = None,
            param_grids: Mapping[str, Mapping[str, list[Any]]] | None = None, scoring: str = "roc_auc",
            refit: bool = True, n_jobs: int | None = None,
            fold_features: Callable[[int, np.ndarray], Any] | None = None,
            fold_columns: Sequence[str] | None = None, scheduler: Any = None) -> ZooResult:
    """Nested stratified CV of a set of classifiers with inner grid search.

    Parameters
    ----------
    X : DataFrame (patients x features; the index is the case id) or 2-D array.
    y : binary outcome (sorted second level = event).
    models : names from ``lr, svm, knn, dt, mlp, rf, et, xgb, lgbm`` (default: all), or a mapping
        ``name -> (estimator, grid[, needs_scaling])`` for custom members.
    cv, inner_cv : outer and inner stratified folds (shuffled, seeded by ``seed``).
    preprocess : transformers (or ``(name, transformer)`` pairs) run before every model inside
        the CV, e.g. ``[UnivariateFilter(), CorrelationFilter(), LassoSelector()]``.
    param_grids : per-model grid overrides (keys are the estimator's own parameter names).
    scoring : inner grid-search criterion (sklearn scorer name).
    refit : also run the grid search on all patients and keep the fitted best pipeline.
    n_jobs : passed to GridSearchCV.
    fold_features : ``f(k, train) -> X_k`` for columns that are themselves learnt from the outcome
        (e.g. a Deep Score): called for outer fold ``k`` (1..cv) with the positions of its
        training patients, it returns the design matrix of *every* patient (same rows and columns
        as ``X``) with those columns refitted on the training patients only, so the out-of-fold
        predictions of fold ``k`` never use a feature fitted on its held-out patients. ``X``
        itself (learnt on all patients) is used for the refit only. It may return a subset of
        ``X``'s columns, or of ``fold_columns`` when given (features selected on the fold's
        training patients, which need not be those selected on all patients).
    fold_columns : the columns a fold's design may hold (default: ``X``'s).
    scheduler : where the grid searches run (:func:`her2stats.resampling.map_tasks`: None or
        ``"sync"`` in this process, a :class:`~her2stats.schedulers.WorkerPool`, Dask...): every
        (outer fold, model) search and every refit search is one task. Each search is seeded by
        ``seed`` alone (the estimators' ``random_state`` and the inner folds), so the results do
        not depend on where or in which order the searches run.

    Returns
    -------
    ZooResult with ``oof`` (out-of-fold probabilities), ``fold_auc``, ``best_params`` per outer
    fold, and ``refit`` (fitted pipelines) / ``refit_params``.
    """
    frame = as_feature_frame(X)
    if isinstance(X, pd.DataFrame):
        frame.index = X.index
    yv = as_binary_outcome(y, len(frame)).astype(int)
    for label, k in (("cv", cv), ("inner_cv", inner_cv)):
        if not isinstance(k, (int, np.integer)) or k < 2:
            raise InputError(f"{label} must be an integer >= 2, got {k!r}")
    smaller = int(min(yv.sum(), len(yv) - yv.sum()))
    if smaller < cv:
        raise InputError(f"the smaller class has {smaller} patients, fewer than cv={cv} outer folds")
    if models is None:
        specs: dict[str, Any] = {m: None for m in DEFAULT_MODELS}
    elif isinstance(models, Mapping):
        specs = dict(models)
    else:
        if isinstance(models, str):
            models = [models]
        specs = {m: None for m in models}
    for name in specs:
        if specs[name] is None and name not in MODEL_LABELS:
            raise InputError(f"unknown model {name!r}; choose from {list(MODEL_LABELS)}")
    grids_override = dict(param_grids or {})

    built: dict[str, tuple[Pipeline, dict]] = {}
    for name, spec in specs.items():
        pipe, grid = _build(name, spec, preprocess, seed)
        if name in grids_override:
            grid = {f"model__{k}": list(v) for k, v in grids_override[name].items()}
        built[name] = (pipe, grid)

    outer = StratifiedKFold(n_splits=int(cv), shuffle=True, random_state=seed)
    folds = np.zeros(len(yv), dtype=int)
    oof = pd.DataFrame(np.nan, index=frame.index, columns=list(specs))
    fold_auc = pd.DataFrame(np.nan, index=pd.RangeIndex(1, cv + 1, name="fold"), columns=list(specs))
    best_params: dict[str, list[dict[str, Any]]] = {m: [] for m in specs}
    # one task per grid search: (outer fold k, model) on the fold's training rows, then (0, model)
    # for the refit on every patient
    tasks, tests = [], []
    for k, (train, test) in enumerate(outer.split(np.zeros(len(yv)), yv), start=1):
        folds[test] = k
        fk = frame if fold_features is None else _fold_frame(fold_features(k, train), frame, fold_columns)
        for name in built:
            tasks.append((k, name, fk.iloc[train], yv[train], fk.iloc[test]))
            tests.append(test)
    if refit:
        tasks.extend((0, name, frame, yv, None) for name in built)
    from ..resampling import map_tasks
    from ..schedulers import resolve_scheduler

    # a task in another process records its warnings for this process to say; one in this process
    # (in order, or on a thread: catch_warnings is not thread-safe) lets them through as they come
    remote = resolve_scheduler(scheduler).kind not in ("sync", "threads")
    done = map_tasks(_ZooSearch(built, int(inner_cv), seed, scoring, n_jobs, capture=remote), tasks,
                     scheduler=scheduler)
    refit_models: dict[str, Any] = {}
    refit_params: dict[str, dict[str, Any]] = {}
    for i, ((k, name, *_), (value, params, caught)) in enumerate(zip(tasks, done)):
        for category, message in caught:  # a worker's warnings, said here
            warnings.warn(message, category, stacklevel=find_stack_level())
        if k == 0:
            refit_models[name], refit_params[name] = value, params
            continue
        test = tests[i]  # the refit tasks come last
        oof.iloc[test, oof.columns.get_loc(name)] = value
        fold_auc.loc[k, name] = roc_auc_score(yv[test], value) if len(np.unique(yv[test])) == 2 else np.nan
        best_params[name].append(params)
    return ZooResult(oof=oof, y=pd.Series(yv, index=frame.index, name="y"), folds=folds, fold_auc=fold_auc,
                     best_params=best_params, refit=refit_models, refit_params=refit_params, cv=int(cv),
                     inner_cv=int(inner_cv), seed=seed, n=len(yv), n_events=int(yv.sum()))


class _ZooSearch:
    """One grid search of :func:`fit_zoo` as a picklable task: ``(k, name, X_train, y_train,
    X_test)`` -> (out-of-fold probabilities of ``X_test``, or the refit pipeline when ``k`` is 0;
    the chosen parameters; the warnings raised, as (category, message) pairs, with ``capture``)."""

    def __init__(self, built: dict, inner_cv: int, seed: int | None, scoring: str, n_jobs: int | None,
                 capture: bool = False):
        self.built, self.inner_cv, self.seed, self.scoring, self.n_jobs = built, inner_cv, seed, scoring, n_jobs
        self.capture = capture

    def __call__(self, task: tuple) -> tuple[Any, dict[str, Any], list]:
        k, name, X_train, y_train, X_test = task
        pipe, grid = self.built[name]
        # the outer fold k's inner folds are seeded seed + k; the refit's (k = 0) seed itself
        rs = self.seed if k == 0 or self.seed is None else self.seed + k
        inner = StratifiedKFold(n_splits=self.inner_cv, shuffle=True, random_state=rs)
        search = _search(pipe, grid, inner, self.scoring, self.n_jobs)
        if not self.capture:
            return self._run(k, search, X_train, y_train, X_test) + ([],)
        with warnings.catch_warnings(record=True) as caught:
            out = self._run(k, search, X_train, y_train, X_test)
        return out + ([(w.category, str(w.message)) for w in caught],)

    @staticmethod
    def _run(k: int, search: Any, X_train: Any, y_train: Any, X_test: Any) -> tuple[Any, dict[str, Any]]:
        search.fit(X_train, y_train)
        if k == 0:
            return search.best_estimator_, _strip(search.best_params_)
        return search.predict_proba(X_test)[:, 1], _strip(search.best_params_)


def _fold_frame(Xk: Any, frame: pd.DataFrame, allowed: Sequence[str] | None = None) -> pd.DataFrame:
    fk = as_feature_frame(Xk)
    cols = list(map(str, fk.columns))
    have = set(map(str, frame.columns if allowed is None else allowed))
    if fk.shape[0] != frame.shape[0] or not cols or not set(cols) <= have:
        where = "X" if allowed is None else "fold_columns"
        raise InputError(f"fold_features must return the design of every patient with the columns of {where} or some "
                         f"of them ({frame.shape[0]} x {len(have)}), got {fk.shape[0]} x {fk.shape[1]}"
                         + ("" if set(cols) <= have else f"; unknown column(s) {sorted(set(cols) - have)[:5]}"))
    fk.index = frame.index
    return fk


def _search(pipe: Pipeline, grid: dict, inner: StratifiedKFold, scoring: str, n_jobs: int | None) -> Any:
    # an empty grid is one candidate (plain fit), which GridSearchCV accepts as [{}]
    return GridSearchCV(clone(pipe), grid or [{}], cv=inner, scoring=scoring, n_jobs=n_jobs, error_score="raise")


def _strip(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k.split("__", 1)[1] if k.startswith("model__") else k: v for k, v in params.items()}
