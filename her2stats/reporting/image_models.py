"""Study-runner stages for extra frozen-feature image models (``image_models:``) and the late fusion
of models' predictions (``fusion:``).

:func:`stage_image_models` fits every configured image model -- features of a backbone at a chosen
layer, read from the same image table and feature cache as ``imaging:``, then its selection steps
and a logistic or fold-ensemble classifier -- on the development cohort and predicts every patient
(``state.probs[name]``, apparent on development). The whole model (selection included) is
refitted inside every fold of the study's development cross-validation (``state.folds``) for the
out-of-fold predictions behind every development figure (``state.dev_probs[name]``).

:func:`stage_fusion` combines any models of the study by their predicted probabilities:
``mean`` averages them (the out-of-fold fusion is the average of the members' out-of-fold
predictions: nothing is learnt, so nothing can leak); ``logistic`` stacks them with a logistic
regression on the members' logit-probabilities, fitted on the members' out-of-fold development
predictions, its development figure cross-fitted over the same folds.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from ..errors import ConfigError, ConvergenceError, InputError, RError
from .image_table import extract_features

__all__ = ["stage_image_models", "stage_fusion", "image_model_pipeline", "stack_fit", "STACK_CLIP", "OnBlock"]

#: probabilities are clipped to [STACK_CLIP, 1 - STACK_CLIP] before the logit of the stacking model
STACK_CLIP = 1e-6

#: fast mode (run_study(fast=True)): an image model with ``slices: all`` reads the largest-mask slice and this
#: many neighbours on each side instead (averaged by its ``aggregate``)
FAST_SLICES_K = 1

_FIT_ERRORS = (InputError, ConvergenceError, RError, ValueError, np.linalg.LinAlgError)


# ---------------------------------------------------------------------------------- image models
def _selector(step: Any, engine: str, seed: int) -> Any:
    from ..selection import (ChiSquareFilter, CorrelationFilter, FeatureClusterFilter, LassoSelector, MutualInfoFilter,
                             UnivariateFilter, make_pca)

    s = step.step
    if s == "icc":
        from ..selection import PairedICCFilter

        return PairedICCFilter(threshold=0.9 if step.threshold is None else step.threshold,
                               comparison=step.comparison, kind=step.kind)
    if s == "univariate":
        return UnivariateFilter(test=step.test, alpha=0.05 if step.alpha is None else step.alpha)
    if s == "correlation":
        return CorrelationFilter(threshold=0.8 if step.threshold is None else step.threshold)
    if s == "chi2":
        alpha = None if step.k is not None else (0.05 if step.alpha is None else step.alpha)
        return ChiSquareFilter(k=step.k, alpha=alpha, bins=step.bins, method=step.method)
    if s == "mutual_info":
        return MutualInfoFilter(k=step.k, seed=seed)
    if s == "cluster":
        return FeatureClusterFilter(n_clusters=step.n_clusters, seed=seed)
    if s == "lasso":
        return LassoSelector(cv=step.cv, lambda_rule=step.lambda_rule, engine=engine, seed=seed)
    if s == "pca":
        return make_pca(step.n_components, seed=seed)
    raise ConfigError(f"unknown selection step {s!r}")  # the config schema lists the steps


class EmptySafe(TransformerMixin, BaseEstimator):
    """A selection step that passes an input without features through unchanged (an earlier step
    kept none: the classifier then predicts the training prevalence, announced by the stage)
    instead of failing; otherwise it is ``step``, fitted on the same rows."""

    def __init__(self, step: Any = None):
        self.step = step

    def fit(self, X: Any, y: Any = None) -> "EmptySafe":
        from sklearn.base import clone

        self.empty_ = X.shape[1] == 0
        self.step_ = None if self.empty_ else clone(self.step).fit(X, y)
        return self

    def transform(self, X: Any) -> Any:
        return X if self.empty_ else self.step_.transform(X)


class OnBlock(TransformerMixin, BaseEstimator):
    """A selection step of an early-fused model run on one block's columns (names starting with
    ``<block>__``, as :func:`her2stats.early_fusion` prefixes them), fitted on the same rows; the
    other blocks' columns pass through unchanged. The step's output columns keep (or get) the
    block's prefix, so a later step can still tell the blocks apart (seed 003: PCA of the deep
    block to 64 components, then selection on those + the radiomic features)."""

    def __init__(self, step: Any = None, block: str = "deep"):
        self.step = step
        self.block = block

    def fit(self, X: pd.DataFrame, y: Any = None) -> "OnBlock":
        from sklearn.base import clone

        prefix = f"{self.block}__"
        self.columns_ = [c for c in X.columns if str(c).startswith(prefix)]
        self.step_ = clone(self.step).fit(X[self.columns_], y) if self.columns_ else None
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        if self.step_ is None:
            return X
        prefix = f"{self.block}__"
        out = self.step_.transform(X[self.columns_])
        if not isinstance(out, pd.DataFrame):
            out = pd.DataFrame(np.asarray(out), index=X.index, columns=[f"c{i + 1}" for i in range(np.shape(out)[1])])
        out = out.set_axis([c if str(c).startswith(prefix) else f"{prefix}{c}" for c in out.columns], axis=1)
        out.index = X.index
        return pd.concat([out, X.drop(columns=self.columns_)], axis=1)


def image_model_pipeline(spec: Any, engine: str, seed: int, fast: bool = False) -> Any:
    """The unfitted sklearn Pipeline of one ``image_models`` entry: its selection steps in order,
    then the classifier (``clf``): a logistic :class:`~her2stats.models.DeepScore` or, with
    ``classifier: fold_ensemble``, a :class:`~her2stats.training.FoldEnsembleClassifier` of it
    (``ensemble_folds`` stratified folds, probabilities averaged; 3 folds in fast mode). Each
    selection step is wrapped in :class:`EmptySafe` (a step after one that kept no feature passes
    the empty input on)."""
    from sklearn.pipeline import Pipeline

    from ..models import DeepScore
    from ..training import FoldEnsembleClassifier

    steps, seen = [], {}
    for st in spec.selection:
        seen[st.step] = seen.get(st.step, 0) + 1
        name = st.step if seen[st.step] == 1 else f"{st.step}{seen[st.step]}"
        step = _selector(st, engine, seed)
        steps.append((name, EmptySafe(step if st.block is None else OnBlock(step, st.block))))
    logistic = DeepScore(column=spec.name, penalty=spec.penalty, C=spec.ridge_C)
    clf = logistic if spec.classifier == "logistic" else FoldEnsembleClassifier(
        logistic, n_splits=min(3, spec.ensemble_folds) if fast else spec.ensemble_folds, seed=seed)
    return Pipeline(steps + [("clf", clf)])


def _ridge(pipe: Any) -> Any:
    """The same pipeline with the ridge-penalised logistic (C = 1)."""
    from sklearn.base import clone

    key = "clf__estimator__" if hasattr(pipe.named_steps["clf"], "estimator") else "clf__"
    return clone(pipe).set_params(**{f"{key}penalty": "l2", f"{key}C": 1.0})


def _model_index(state: Any, spec: Any) -> pd.DataFrame:
    """The rows of the imaging stage's image table this image model reads (its sequences; with
    ``masks: predicted`` the segmentation network's masks as ``mask_path``)."""
    index = state.deep["index"]
    if spec.sequences:
        absent = sorted(set(spec.sequences) - set(index["sequence"].astype(str)))
        if absent:
            raise InputError(f"image_models {spec.name!r}: sequence(s) {absent} are not in the image table "
                             f"(it has {sorted(set(index['sequence'].astype(str)))})")
        index = index[index["sequence"].isin(spec.sequences)]
    if getattr(spec, "masks", "manual") == "predicted":  # the segmentation network's masks (segmentation_step)
        from .segmentation_step import predicted_index

        index = predicted_index(state, index, spec)
    return index


def _deep_extractor(state: Any, spec: Any) -> Any:
    """The image model's DeepFeatureExtractor: the imaging stage's extractor settings (cache, ROI
    margin, scheduler...) with the model's backbone, layer and slices."""
    base = state.deep["extractor"]  # its settings, not a copy of its scheduler object
    params = base.get_params(deep=False)
    ref = params.get("register_to")
    if ref is not None and spec.sequences and ref not in spec.sequences:
        # imaging.register_to aligns the sequences of one feature vector with each other; a model that does not
        # read the reference sequence has nothing to align it with (each sequence keeps its own mask grid)
        params["register_to"] = None
        state.notes.append(f"{spec.name}: its sequence(s) {', '.join(spec.sequences)} do not include the registration "
                           f"reference {ref} (imaging.register_to), so its features are extracted without registration.")
    slices, k = spec.slices, spec.k
    if state.fast and slices == "all":
        # a smoke test: every slice the mask touches (~9 per demo tumour) is most of a cold run's extraction time
        slices, k = "largest", FAST_SLICES_K
        note = (f"{spec.name}: fast mode averages its features over the largest-mask slice and {FAST_SLICES_K} "
                "neighbour(s) on each side, not over every slice the mask touches (slices: all in a full run).")
        if note not in state.notes:
            state.notes.append(note)
    return type(base)(**{**params, "backbone": spec.backbone, "pretrained": spec.pretrained,
                         "sequences": list(spec.sequences) or None, "layer": spec.layer, "pooling": spec.pooling,
                         "slices": slices, "k": k, "aggregate": spec.aggregate, "progress": False})


def _radiomics_extractor(state: Any, spec: Any) -> Any:
    """The image model's RadiomicsExtractor: its ``radiomics`` settings, the imaging stage's cache."""
    from ..features import RadiomicsExtractor

    cache = state.deep["extractor"].get_params(deep=False).get("cache_dir")
    return RadiomicsExtractor(**spec.radiomics.extractor_params(), cache_dir=cache, on_error="skip")


def _second_index(state: Any, index: pd.DataFrame) -> pd.DataFrame:
    """The image table with imaging.icc's second segmentation as ``mask_path`` (a second reader's
    column, or the perturbed masks the imaging stage wrote: same files, same content hashes)."""
    seg = state.config.imaging.icc.second_segmentation
    if seg.column is not None:
        if seg.column not in index.columns:
            raise ConfigError(f"imaging.icc.second_segmentation.column: the image table has no column {seg.column!r}")
        return index.assign(mask_path=index[seg.column].to_numpy())
    from ..imaging import perturb_mask_cases
    from ..paths import cache_root

    cache = Path(state.deep["extractor"].get_params(deep=False).get("cache_dir") or cache_root() / "features")
    op, n = ("erode", seg.erode) if seg.erode is not None else ("dilate", seg.dilate)
    index2, _ = perturb_mask_cases(index, op, n, out_dir=cache / "masks_perturbed")
    return index2


def _extract_block(state: Any, spec: Any, source: str, index: pd.DataFrame, what: str = "") -> pd.DataFrame:
    """One extractor's features of the analysed patients (cohort order); a patient without them is
    an InputError naming the failures file."""
    cfg = state.config
    if source == "segmentation":  # the trained segmentation network's layer activations (segmentation_step)
        from .segmentation_step import segmentation_features

        return segmentation_features(state, spec)
    fx = _deep_extractor(state, spec) if source == "deep" else _radiomics_extractor(state, spec)
    # cases without features become a note (and the error below); NaN/inf values a note of _drop_nonfinite
    X = extract_features(fx, index, state.notes, prefix=f"{spec.name}{what}: ")
    ids = state.cohort[cfg.cohort.id_column].astype(str)
    X.index = X.index.astype(str)
    missing = ids[~ids.isin(set(X.index))]
    tag = spec.name if len(spec.sources) == 1 and not what else f"{spec.name}_{source}{what.replace(' ', '_')}"
    if len(missing):
        if state.outdir is not None:
            (state.outdir / "features").mkdir(exist_ok=True)
            fx.failures_.to_csv(state.outdir / "features" / f"{tag}_failures.csv", index=False)
        raise InputError(f"image_models {spec.name!r}: no {source} features{what} for {len(missing)} analysed "
                         f"patient(s) (e.g. {', '.join(missing.head(3))}; see features/{tag}_failures.csv): every "
                         "analysed patient needs every model's prediction (choose sequences every patient has)")
    key = spec.name if len(spec.sources) == 1 else f"{spec.name}/{source}"
    if not what:
        state.numbers[f"features/{key}/n_extracted"] = float(X.shape[1])
        state.numbers[f"features/{key}/cache_hits"] = float(fx.cache_stats_.get("hits", 0))
        if source == "radiomics":
            state.results.setdefault("radiomics_versions", {})[spec.name] = fx.version_
    return X.loc[ids.to_numpy()]


def _drop_nonfinite(state: Any, spec: Any, X: pd.DataFrame, source: str) -> pd.DataFrame:
    """Radiomic features with a NaN/inf value for any analysed patient are dropped, counted and
    named in a note (pyradiomics gives NaN where a feature is undefined for an ROI); never filled."""
    bad = [c for c in X.columns if not np.isfinite(X[c].to_numpy(dtype=float)).all()]
    if bad:
        n_cases = int((~np.isfinite(X[bad].to_numpy(dtype=float))).any(axis=1).sum())
        state.notes.append(f"{spec.name}: {len(bad)} {source} feature(s) had a NaN or infinite value for {n_cases} "
                           f"analysed patient(s) and were left out of the model ({', '.join(map(str, bad[:5]))}"
                           f"{', ...' if len(bad) > 5 else ''}).")
        state.numbers[f"features/{spec.name}/nonfinite_dropped"] = float(len(bad))
    return X.drop(columns=bad)


def _features(state: Any, spec: Any) -> pd.DataFrame:
    """The image model's feature matrix (rows: the analysed patients in cohort order): each of its
    extractors on the imaging stage's image table (features already in the cache are read, not
    extracted again); several extractors are concatenated (:func:`her2stats.early_fusion`, columns
    ``<extractor>__<feature>``). With an ``icc`` selection step, the same features of imaging.icc's
    second segmentation follow as ``<feature>~seg2`` columns (they travel with the rows into every
    fold; the ICC filter drops them)."""
    from ..models import early_fusion
    from ..selection.icc import SECOND_SEGMENTATION_SUFFIX

    if state.deep is None:
        raise ConfigError("image_models need the imaging stage's image table: the imaging section did not run")
    index = _model_index(state, spec)
    # the analysed patients only (a later imaging step may have excluded some, e.g. no second segmentation)
    index = index[index["patient_id"].astype(str).isin(set(state.cohort[state.config.cohort.id_column].astype(str)))]
    icc = any(st.step == "icc" for st in spec.selection)
    index2 = _second_index(state, index) if icc else None
    blocks = {}
    for source in spec.sources:
        X = _extract_block(state, spec, source, index)
        if icc:
            X2 = _extract_block(state, spec, source, index2, " of the second segmentation")
            keep = [c for c in X.columns if np.isfinite(X2[c].to_numpy(dtype=float)).all()]
            X = X[keep].join(X2[keep].add_suffix(SECOND_SEGMENTATION_SUFFIX))
        X = _drop_nonfinite(state, spec, X, source)
        if icc:  # a pair stays only with both members
            firsts = [c for c in X.columns if not str(c).endswith(SECOND_SEGMENTATION_SUFFIX)]
            paired = [c for c in firsts if f"{c}{SECOND_SEGMENTATION_SUFFIX}" in X.columns]
            X = X[paired + [f"{c}{SECOND_SEGMENTATION_SUFFIX}" for c in paired]]
        blocks[source] = X
    X = blocks[spec.sources[0]] if len(blocks) == 1 else early_fusion(blocks)
    if len(blocks) > 1:
        n = [c for c in X.columns if not str(c).endswith(SECOND_SEGMENTATION_SUFFIX)]
        state.numbers[f"features/{spec.name}/n_extracted"] = float(len(n))
    return X


def _step_widths(fitted: Any, X: pd.DataFrame) -> list[tuple[str, int]]:
    """Each selection step of a fitted image-model pipeline and how many features it passes on."""
    widths, Xt = [], X.iloc[:2]
    for step, est in fitted.steps[:-1]:
        Xt = est.transform(Xt)
        widths.append((step, int(Xt.shape[1])))
    return widths


def _selection_report(pipe: Any, X: pd.DataFrame, name: str, numbers: dict) -> pd.DataFrame:
    from ..selection.icc import SECOND_SEGMENTATION_SUFFIX

    n_second = sum(str(c).endswith(SECOND_SEGMENTATION_SUFFIX) for c in X.columns)
    rows, n_in = [], int(X.shape[1]) - n_second
    for step, n_out in _step_widths(pipe, X):
        rows.append({"step": step, "features_in": n_in, "features_out": n_out})
        numbers[f"features/{name}/after_{step}"] = float(n_out)
        n_in = n_out
    numbers[f"features/{name}/selected"] = float(n_in)
    return pd.DataFrame(rows, columns=["step", "features_in", "features_out"])


def _n_selected(fitted: Any, X: pd.DataFrame) -> int:
    """How many features the fitted pipeline's selection steps pass to its classifier."""
    widths = _step_widths(fitted, X)
    return widths[-1][1] if widths else int(X.shape[1])


def _fit_with_ridge_fallback(pipe: Any, X: pd.DataFrame, y: np.ndarray) -> tuple[Any, bool]:
    """Fit; when the maximum-likelihood logistic does not exist (the selected features separate the
    training patients) refit with the ridge-penalised one. Returns (fitted pipeline, ridge used)."""
    from sklearn.base import clone

    fitted = clone(pipe)
    try:
        return fitted.fit(X, y), False
    except ConvergenceError:
        clf = pipe.named_steps["clf"]
        if getattr(getattr(clf, "estimator", clf), "penalty", None) == "l2":
            raise
        return _ridge(pipe).fit(X, y), True


def _describe(state: Any, spec: Any, report: pd.DataFrame) -> str:
    """``name (feature source(s), sequences: step -> step`` for the methods (the caller closes it)."""
    layer = "final pooled features" if spec.layer is None else f"layer {spec.layer}"
    steps = " -> ".join(f"{r['step']}" + (f" (of the {st.block} features)" if st.block else "")
                        for r, st in zip(report.to_dict("records"), spec.selection)) or "no selection"
    sources = []
    if "deep" in spec.sources:
        sources.append(f"frozen {spec.backbone} features ({layer})")
    if "radiomics" in spec.sources:
        version = state.results.get("radiomics_versions", {}).get(spec.name, "?")
        sources.append(f"pyradiomics {version} features of the ROI ({spec.radiomics.describe()})")
    if "segmentation" in spec.sources:
        sources.append(f"the trained segmentation network's activations ({layer})")
    if spec.masks == "predicted":
        sources[-1] += " on the masks it predicted" if "segmentation" in spec.sources else " of the predicted masks"
    fused = " concatenated (early fusion)" if len(sources) > 1 else ""
    return f"{spec.name} ({' and '.join(sources)}{fused}, {', '.join(spec.sequences) or 'all sequences'}: {steps}"


def stage_image_models(state: Any) -> Any:
    """Every ``image_models`` entry: features (imaging's image table and cache), selection and
    classifier fitted on development -> ``probs[name]`` (apparent on development) and
    ``models[name]``; the whole model refitted inside each fold of ``state.folds`` ->
    out-of-fold ``dev_probs[name]`` (``dev_method`` "cross-validated"). A fold that cannot be fitted
    is a note and leaves the model without an honest development figure (never a partial one).
    The selection report goes to ``features/<name>_selection.csv``."""
    cfg = state.config
    if not cfg.image_models:
        return state
    state.say("image models")
    df, dev = state.cohort, state.development
    dev_pos = np.flatnonzero((df["cohort_split"] == "development").to_numpy())
    y = dev["_y"].to_numpy().astype(int)
    seed = cfg.validation.seed
    reports, described = {}, []
    from ..features.radiomics import INSTALL_HINT, radiomics_version

    for spec in cfg.image_models:
        if spec.name in state.probs:
            raise ConfigError(f"image_models: {spec.name!r} is already a model of this study ({sorted(state.probs)})")
        if "radiomics" in spec.sources and radiomics_version() is None:
            # an optional package, not an error: the study runs without this model (and any fusion of it)
            state.leave_out(spec.name, f"its radiomic features need pyradiomics, which is not installed "
                                       f"({INSTALL_HINT})")
            described.append(f"{spec.name} (radiomic features: not computed, pyradiomics is not installed)")
            continue
        X = _features(state, spec)
        Xdev = X.iloc[dev_pos]
        pipe = image_model_pipeline(spec, state.engine, seed, state.fast)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                fitted, ridge = _fit_with_ridge_fallback(pipe, Xdev, y)
            except _FIT_ERRORS as exc:
                raise type(exc)(f"image_models {spec.name!r}: the model could not be fitted on the development "
                                f"cohort: {exc}") from exc
        report = _selection_report(fitted, X, spec.name, state.numbers)
        reports[spec.name] = report
        icc_step = getattr(fitted.named_steps.get("icc"), "step_", None)
        if icc_step is not None:  # reproducibility of the features on the development patients
            icc = icc_step.report_["icc"].to_numpy(dtype=float)
            state.numbers[f"features/{spec.name}/icc_median"] = float(np.nanmedian(icc))
            state.notes.append(f"{spec.name}: the {icc_step.kind} intraclass correlation of its {len(icc)} features "
                               f"between the first segmentation and "
                               f"{cfg.imaging.icc.second_segmentation.describe()} on the development patients had "
                               f"median {np.nanmedian(icc):.3f}; {int(icc_step.report_['kept'].sum())} had ICC "
                               f"{icc_step.comparison} {icc_step.threshold:g} (refitted inside every fold).")
        if state.outdir is not None:
            (state.outdir / "features").mkdir(exist_ok=True)
            report.to_csv(state.outdir / "features" / f"{spec.name}_selection.csv", index=False)
        what = _describe(state, spec, report)
        steps = " -> ".join(r["step"] for r in report.to_dict("records")) or "no selection"
        if state.numbers[f"features/{spec.name}/selected"] == 0:
            # an intercept-only model predicts the development prevalence for every patient: no ROC direction,
            # no cut-off, an AUC of 0.5 by construction -- nothing to evaluate (as a collapsed trained network)
            state.leave_out(spec.name, f"the selection ({steps}) kept no feature on the development cohort, so the "
                                       "model would predict the development prevalence for every patient (a constant "
                                       "score has no ROC direction, no cut-off and an AUC of 0.5 by construction)")
            described.append(what + ": kept no feature; left out of the evaluation)")
            continue
        if ridge:
            state.notes.append(f"{spec.name}: the selected features separate the development patients, so the "
                               "maximum-likelihood logistic model does not exist; the ridge-penalised one (C = 1) "
                               "was fitted.")
        state.models[spec.name] = fitted
        state.probs[spec.name] = pd.Series(np.asarray(fitted.predict_proba(X)[:, 1], dtype=float), index=df.index)
        # honest development predictions: the whole model refitted inside every training fold
        oof = pd.Series(np.nan, index=dev.index)
        ridge_folds, empty_folds = [], []
        if not state.folds:
            state.notes.append(f"{spec.name}: no development cross-validation, so no honest development figure.")
        for i, (train, test) in enumerate(state.folds, start=1):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    fold_fit, r = _fit_with_ridge_fallback(pipe, Xdev.iloc[train], y[train])
                except _FIT_ERRORS as exc:
                    state.notes.append(f"{spec.name}: the model could not be refitted in cross-validation fold {i} "
                                       f"of {len(state.folds)} ({type(exc).__name__}: {exc}); no honest development "
                                       "figure is reported for it.")
                    oof[:] = np.nan
                    break
            if r:
                ridge_folds.append(i)
            if _n_selected(fold_fit, Xdev) == 0:
                empty_folds.append(i)
            oof.iloc[test] = np.asarray(fold_fit.predict_proba(Xdev.iloc[test])[:, 1], dtype=float)
        if ridge_folds:
            state.notes.append(f"{spec.name}: in cross-validation fold(s) {', '.join(map(str, ridge_folds))} the "
                               "features selected on the fold's training patients separated them; those folds used "
                               "the ridge-penalised logistic model (C = 1).")
        if empty_folds and oof.notna().all():
            state.numbers[f"features/{spec.name}/empty_folds"] = float(len(empty_folds))
            if np.ptp(oof.to_numpy(dtype=float)) == 0:
                state.notes.append(f"{spec.name}: the selection kept no feature on the training patients of any "
                                   "cross-validation fold, so every out-of-fold prediction is the same training "
                                   "prevalence; no honest development figure is reported for it (its test-cohort "
                                   "figures are those of the model fitted on every development patient).")
                oof[:] = np.nan
            else:
                state.notes.append(
                    f"{spec.name}: in cross-validation fold(s) {', '.join(map(str, empty_folds))} of "
                    f"{len(state.folds)} the selection kept no feature on the fold's training patients; such a fold's "
                    "model is intercept-only and predicts the fold's training prevalence for its held-out patients. "
                    "Those predictions are kept as out-of-fold predictions: the cross-validation estimates the whole "
                    "procedure, a selection that keeps nothing included (dropping those folds would report only the "
                    "folds where the selection succeeded, an optimistic figure).")
        state.dev_probs[spec.name] = oof
        state.dev_method[spec.name] = "cross-validated"
        clf = ("logistic regression" if spec.classifier == "logistic" else
               f"logistic regression averaged over {pipe.named_steps['clf'].n_splits} fold models")
        described.append(what + f" -> {clf})")
    state.results["image_models"] = SimpleNamespace(
        reports=reports,
        methods=("Additional image models were built from features of the same images and feature cache: "
                 + "; ".join(described) + ". Each was fitted on the development cohort and, for its development "
                 "figures, refitted with its feature selection inside every training fold of the development "
                 "cross-validation (the features themselves are not learnt: they are extracted once)."))
    return state


# ---------------------------------------------------------------------------------- late fusion
def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), STACK_CLIP, 1 - STACK_CLIP)
    return np.log(p / (1 - p))


def stack_fit(Z: pd.DataFrame, y: np.ndarray) -> tuple[Any, bool]:
    """The stacking logistic regression of ``y`` on the members' logit-probabilities ``Z``
    (maximum likelihood; ridge C = 1 when the members separate the classes). Returns (model, ridge)."""
    from ..models import DeepScore

    try:
        return DeepScore(column="fusion").fit(Z, y), False
    except ConvergenceError:
        return DeepScore(column="fusion", penalty="l2", C=1.0).fit(Z, y), True


def _members(state: Any, f: Any) -> None:
    from .config import closest

    left_out = getattr(state, "left_out", {})
    unknown = [m for m in f.models if m not in state.probs and m not in left_out]
    if unknown:
        avail = sorted(state.probs)
        guess = closest(unknown[0], avail)
        raise ConfigError(f"fusion.late {f.name!r}: unknown model(s) {unknown}; the models of this study are "
                          f"{', '.join(avail) or 'none'}" + (f"; did you mean {guess!r}?" if guess else ""))


def stage_fusion(state: Any) -> Any:
    """Every ``fusion.late`` entry over models of ``state.probs`` (names resolved now, so models of
    any earlier stage can be fused; an unknown name is a ConfigError listing the available ones).

    ``mean``: :func:`~her2stats.late_fusion` of the members' probabilities (weighted when asked);
    the out-of-fold development prediction is the same average of the members' out-of-fold
    predictions (nothing is learnt). ``logistic``: a logistic regression on the members'
    logit-probabilities fitted on their out-of-fold development predictions and applied to their
    predictions of the test cohorts (on development, to their out-of-fold predictions); its
    development figure is cross-fitted: refitted on the training part of every fold of
    ``state.folds`` and applied to the fold's held-out part. (The members' out-of-fold predictions of
    a fold's training patients come from models that saw that fold's held-out patients: the
    stacker's inputs, never its own fit, touch them -- the usual cross-fitting compromise; the
    stacker has one coefficient per member.)"""
    from ..models import late_fusion

    cfg = state.config
    if cfg.fusion is None or not cfg.fusion.late:
        return state
    state.say("late fusion")
    df, dev = state.cohort, state.development
    y = dev["_y"].to_numpy().astype(int)
    described = []
    for f in cfg.fusion.late:
        _members(state, f)
        if f.name in state.probs:
            raise ConfigError(f"fusion.late: {f.name!r} is already a model of this study ({sorted(state.probs)})")
        absent = [m for m in f.models if m in state.left_out]
        if absent:
            # a fusion without one of its members is another model than the one asked for: not fitted
            state.leave_out(f.name, "the fusion is not fitted: its member(s) " + ", ".join(absent)
                            + " are left out of the evaluation (see their notes)")
            described.append(f"{f.name}: not fitted (member(s) {', '.join(absent)} left out)")
            continue
        P = pd.DataFrame({m: state.probs[m].astype(float) for m in f.models}, index=df.index)
        O = pd.DataFrame({m: state.dev_probs.get(m, pd.Series(np.nan, index=dev.index)).astype(float)
                          for m in f.models}, index=dev.index)
        lacking = [m for m in f.models if O[m].isna().any()]
        if lacking:
            state.notes.append(f"{f.name}: member(s) {', '.join(lacking)} have no out-of-fold development "
                               "predictions, so the fusion has no honest development figure"
                               + (" and the stacking model cannot be fitted." if f.method == "logistic" else "."))
        if f.method == "mean":
            weights = None if f.weights is None else dict(zip(f.models, f.weights))
            prob = late_fusion(P, weights)
            oof = (late_fusion(O, weights) if not lacking
                   else pd.Series(np.nan, index=dev.index))
            state.models[f.name] = {"method": "mean", "models": list(f.models), "weights": weights}
            described.append(f"{f.name}: " + ("weighted " if weights else "") + f"mean of {', '.join(f.models)}")
        else:
            if lacking:
                continue
            Zdev = pd.DataFrame(_logit(O.to_numpy()), columns=f.models, index=dev.index)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                stacker, ridge = stack_fit(Zdev, y)
            Zall = pd.DataFrame(_logit(P.to_numpy()), columns=f.models, index=df.index)
            Zall.loc[dev.index] = Zdev.to_numpy()  # development: the members' out-of-fold predictions
            prob = pd.Series(stacker.predict_proba(Zall)[:, 1], index=df.index)
            oof = pd.Series(np.nan, index=dev.index)
            ridge_folds = [0] if ridge else []
            for i, (train, test) in enumerate(state.folds, start=1):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    fold_fit, r = stack_fit(Zdev.iloc[train], y[train])
                if r:
                    ridge_folds.append(i)
                oof.iloc[test] = fold_fit.predict_proba(Zdev.iloc[test])[:, 1]
            if ridge_folds:
                state.notes.append(f"{f.name}: the members' predictions separate the outcome in "
                                   + ", ".join("the development cohort" if i == 0 else f"fold {i}" for i in ridge_folds)
                                   + "; the ridge-penalised stacking model (C = 1) was fitted there.")
            state.models[f.name] = stacker
            for m in f.models:
                state.numbers[f"fusion_coef/{f.name}/{m}"] = float(stacker.coef_[m])
            state.numbers[f"fusion_coef/{f.name}/intercept"] = float(stacker.intercept_)
            described.append(f"{f.name}: logistic regression on the logit-probabilities of {', '.join(f.models)}, "
                             "fitted on their out-of-fold development predictions (development figure cross-fitted "
                             "over the same folds)")
        state.probs[f.name] = prob.astype(float)
        state.dev_probs[f.name] = oof.astype(float)
        state.dev_method[f.name] = "cross-validated"
    if described:
        state.results["fusion"] = SimpleNamespace(
            methods="Late fusion of predicted probabilities: " + "; ".join(described) + ".")
    return state
