"""The study report's "Internal validation of the whole pipeline" section (issue 23, item 5).

A study's models are the end of pipelines that learn from data before the final fit: the clinical
model's covariate selection (``clinical.selection``: LASSO, stepwise AIC) and the Deep Score's
image-feature selection (univariate filter, correlation filter, LASSO) with its logistic fit.
``rms::validate`` refits only the last model. Here each pipeline is rebuilt unfitted from the
study's config (:func:`study_pipelines`) and :func:`~her2stats.pipeline_bootstrap` refits all of
it on every bootstrap resample of the development cohort (:func:`pipeline_validation_section`):
optimism-corrected AUC, calibration slope, intercept, Brier score and ICI with bootstrap CIs,
prediction instability (plot and MAPE), classification instability at the study's cut-off, and
how often each covariate or feature was selected. The TRIPOD+AI items on model development (12c)
and internal validation / performance (12e, 23a) are filled from it (:func:`merge_tripod_facts`).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ..errors import InputError
from ..schedulers import task_scheduler
from .format import fmt_ci, fmt_num
from .tables import PublicationTable

__all__ = ["ClinicalSelector", "PipelineSection", "study_pipelines", "pipeline_validation_section",
           "merge_tripod_facts", "stage_pipeline_validation", "start_pipeline_refits"]

_INDEX_ROWS = (("AUC", "AUC (C statistic)"), ("slope", "Calibration slope"), ("intercept", "Calibration intercept"),
               ("Brier", "Brier score"), ("ICI", "Integrated calibration index"))
_NUM_KEYS = {"AUC": "auc", "slope": "cal_slope", "intercept": "cal_intercept", "citl": "citl", "Brier": "brier",
             "ICI": "ici"}


class ClinicalSelector(TransformerMixin, BaseEstimator):
    """The study's clinical covariate selection (``clinical.selection``) as a pipeline step, so the
    whole-pipeline bootstrap redoes it on every resample.

    Parameters
    ----------
    how : ``clinical.selection`` (:func:`her2stats.reporting.clinical_selection.select_clinical`).
    engine : statistics engine; seed : seed of the LASSO's cross-validation folds.
    rule : the study's ``clinical`` config (p-value thresholds of the screen and the Wald filters).

    Works at the variable level (a categorical covariate is kept or dropped whole), on a DataFrame
    of the candidate covariates (categorical columns allowed). A selection that keeps nothing
    raises (the refit is counted as failed, as the study itself refuses an empty clinical model).
    """

    def __init__(self, how: str = "none", engine: str | None = None, seed: int = 0, rule: Any = None):
        self.how = how
        self.engine = engine
        self.seed = seed
        self.rule = rule

    def fit(self, X: Any, y: Any = None) -> "ClinicalSelector":
        from .clinical_selection import select_clinical

        if not isinstance(X, pd.DataFrame):
            raise InputError("ClinicalSelector needs a DataFrame of the candidate covariates")
        if y is None:
            raise InputError("ClinicalSelector needs the outcome y")
        names = [str(c) for c in X.columns]
        out = "_y"
        while out in names:
            out += "_"
        data = X.reset_index(drop=True).assign(**{out: np.asarray(y).astype(int)})
        chosen = select_clinical(data, out, names, self.how, self.engine, self.seed, rule=self.rule)
        self.feature_names_in_ = np.asarray(names, dtype=object)
        self.n_features_in_ = len(names)
        self.selected_ = list(chosen)
        return self

    def transform(self, X: Any) -> pd.DataFrame:
        check_is_fitted(self, "selected_")
        missing = [c for c in self.selected_ if c not in X.columns]
        if missing:
            raise InputError(f"ClinicalSelector: X lacks the selected column(s) {missing}")
        return X.loc[:, self.selected_]

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "selected_")
        return np.asarray(self.selected_, dtype=object)


def study_pipelines(dev: pd.DataFrame, *, covariates: Sequence[str] | None = None, selection: str = "none",
                    rule: Any = None, deep_pipeline: Any = None, deep_X: pd.DataFrame | None = None, models: Sequence[str] = (),
                    engine: str | None = None, seed: int = 0, outcome: str = "_y") -> dict[str, tuple]:
    """The study's pipelines, unfitted, with their development data: ``name -> (pipeline, X, y)``.

    ``clinical``: [:class:`ClinicalSelector`] -> :class:`~her2stats.LRMClassifier` on the candidate
    covariates (complete rows of ``dev``); ``deep_score``: a clone of the study's image pipeline
    (harmonisation, selection filters, LASSO, Deep Score) on the image features of the development
    patients (``deep_X`` rows in ``dev``'s order).
    """
    from sklearn.base import clone
    from sklearn.pipeline import Pipeline

    from ..models import LRMClassifier

    y = dev[outcome].to_numpy().astype(int)
    out: dict[str, tuple] = {}
    if "clinical" in models and covariates:
        covs = list(covariates)
        steps = [] if selection == "none" else [("selection", ClinicalSelector(how=selection, engine=engine, seed=seed,
                                                                              rule=rule))]
        steps.append(("lrm", LRMClassifier(covariates=None if steps else covs, engine=engine)))
        X = dev[covs].reset_index(drop=True)
        if X.isna().any().any():
            raise InputError("pipeline validation: the clinical covariates have missing values in the development "
                             "cohort; the whole-pipeline bootstrap runs on complete cases")
        out["clinical"] = (Pipeline(steps), X, y)
    if "deep_score" in models and deep_pipeline is not None and deep_X is not None:
        if len(deep_X) != len(dev):
            raise InputError(f"pipeline validation: {len(deep_X)} rows of image features for {len(dev)} development "
                             "patients")
        out["deep_score"] = (clone(deep_pipeline), deep_X.reset_index(drop=True), y)
    return out


@dataclass(frozen=True, repr=False)
class PipelineSection:
    """The report section: ``results`` (name -> PipelineValidationResult), ``numbers``
    (``pipeline/<index>/<model>`` ...), ``tables`` (PublicationTables), ``figures`` (name ->
    matplotlib Figure, for the runner to save), ``methods`` text and TRIPOD ``facts``."""

    results: dict = field(compare=False)
    numbers: dict
    tables: dict
    figures: dict = field(compare=False)
    methods: str
    facts: dict
    n_boot: int
    notes: tuple = ()

    def __repr__(self) -> str:
        return f"PipelineSection({list(self.results)}, n_boot={self.n_boot})"


def pipeline_validation_section(pipelines: Mapping[str, tuple], *, n_boot: int = 200, seed: int = 0,
                                method: str = "harrell", thresholds: Mapping[str, Any] | None = None,
                                level: float = 0.95, scheduler: Any = None, labels: Any = None,
                                figures: bool = True, started: Mapping[str, tuple] | None = None) -> PipelineSection:
    """Run :func:`~her2stats.pipeline_bootstrap` on each of the study's pipelines and build the
    section's numbers, tables, figures, methods text and TRIPOD facts.

    ``thresholds`` : model -> the study's cut-off (a ThresholdRule chosen on development data) for
    the classification instability index; default the prevalence.
    ``started`` : model -> (BootstrapStart, the warnings its start recorded) of bootstraps begun
    earlier with the same arguments (:func:`start_pipeline_refits`): they are finished here instead
    of run again; the section is the same.
    """
    from ..data.labels import as_labels
    from ..stats.pipeline_validation import pipeline_bootstrap
    from .builders import model_label

    L = as_labels(labels)
    results, numbers, figs = {}, {}, {}
    notes: list[str] = []
    rows, inst_rows, sel_rows = [], [], []
    for name, (pipe, X, y) in pipelines.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if started is not None and name in started:
                start, early = started[name]
                r = start.finish(threshold=(thresholds or {}).get(name))
                caught[:0] = early  # the start's warnings first, as in one pipeline_bootstrap call
            else:
                r = pipeline_bootstrap(pipe, X, y, n_boot=n_boot, seed=seed, method=method, level=level,
                                       threshold=(thresholds or {}).get(name), scheduler=scheduler)
        for w in caught:
            if "refits failed" in str(w.message):
                notes.append(f"{model_label(name)} pipeline: {w.message}")
        results[name] = r
        t = r.table
        for idx, key in _NUM_KEYS.items():
            numbers[f"pipeline/{key}/{name}"] = float(t.loc[idx, "estimate"])
            numbers[f"pipeline_ci_low/{key}/{name}"] = float(t.loc[idx, "ci_low"])
            numbers[f"pipeline_ci_high/{key}/{name}"] = float(t.loc[idx, "ci_high"])
            numbers[f"pipeline_apparent/{key}/{name}"] = float(t.loc[idx, "apparent"])
            numbers[f"pipeline_optimism/{key}/{name}"] = float(t.loc[idx, "optimism"])
        mape = r.mape()
        cii = r.classification_instability()
        numbers[f"pipeline_mape/{name}"] = float(mape.mean())
        numbers[f"pipeline_cii/{name}"] = float(cii.mean())
        numbers[f"pipeline_n_refits/{name}"] = float(r.n_refits - r.n_failed)
        numbers[f"pipeline_n_failed/{name}"] = float(r.n_failed)
        for idx, label in _INDEX_ROWS:
            rows.append({"Pipeline": model_label(name), "Index": label, "Apparent": fmt_num(t.loc[idx, "apparent"]),
                         "Optimism": fmt_num(t.loc[idx, "optimism"]),
                         "Optimism-corrected (95% CI)": fmt_ci(t.loc[idx, "estimate"], t.loc[idx, "ci_low"],
                                                               t.loc[idx, "ci_high"])})
        s = r.instability_summary()["value"]
        for k, v in s.items():
            inst_rows.append({"Pipeline": model_label(name), "Measure": str(k),
                              "Value": str(int(v)) if k == "refits" else fmt_num(v)})
        freq = r.selection_frequency()
        if freq is not None:
            for feat, fr in freq.head(20).iterrows():
                numbers[f"pipeline_selection/{name}/{feat}"] = float(fr["frequency"])
                sel_rows.append({"Pipeline": model_label(name), "Feature": L.var(str(feat)) if name == "clinical"
                                 else str(feat), "Selected in refits": f"{100 * fr['frequency']:.0f}%",
                                 "In the final model": "yes" if fr["selected_apparent"] else "no"})
            size = r.model_size()
            if size is not None and len(size):
                sizes = r.selected.sum(axis=1)
                numbers[f"pipeline_model_size_median/{name}"] = float(sizes.median())
        if figures:
            import matplotlib.pyplot as plt

            for kind in ("prediction", "mape", "calibration") + (("selection",) if freq is not None else ()):
                fig, ax = plt.subplots(figsize=(5, 4.5) if kind != "selection" else (6, 5))
                r.plot(kind, ax=ax)
                ax.set_title(f"{model_label(name)}: {kind} instability" if kind != "selection"
                             else f"{model_label(name)}: selection frequency")
                figs[f"pipeline_{kind}_{name}"] = fig
    tables = {}
    if rows:
        tables["pipeline_validation"] = PublicationTable(
            pd.DataFrame(rows), title="Internal validation of the whole pipeline (bootstrap, development cohort)",
            groupname="Pipeline", stub="Index",
            footnotes=(f"Every step that learns from data (covariate or feature selection and the final model) was "
                       f"refitted on each of {n_boot} bootstrap resamples (seed {seed}); "
                       + ("Harrell's" if method == "harrell" else ".632+ (AUC, Brier) and Harrell's")
                       + " optimism correction; 95% CIs: location-shifted bootstrap percentile intervals (Noma et al. "
                         "2021).",))
        tables["pipeline_instability"] = PublicationTable(
            pd.DataFrame(inst_rows), title="Instability of the whole pipeline (Riley & Collins 2023)",
            groupname="Pipeline", stub="Measure",
            footnotes=("MAPE: mean absolute difference between a refit's and the final model's predicted risk of a "
                       "patient; CII: share of refits classifying a patient differently at the cut-off.",))
    if sel_rows:
        tables["pipeline_selection"] = PublicationTable(
            pd.DataFrame(sel_rows), title="Selection stability of the whole pipeline", groupname="Pipeline",
            stub="Feature", footnotes=("Share of bootstrap refits in which a covariate or feature reached the final "
                                       "model (the 20 most frequent per pipeline).",))
    methods = " ".join(r.methods_text() for r in results.values())
    # an index without a value (a CI from fewer than 2 successful refits) is left out, not stored as NaN
    numbers = {k: v for k, v in numbers.items() if np.isfinite(v)}
    return PipelineSection(results=results, numbers=numbers, tables=tables, figures=figs, methods=methods,
                           facts=_facts(results), n_boot=n_boot, notes=tuple(notes))


def _facts(results: Mapping[str, Any]) -> dict:
    from .builders import model_label

    facts: dict = {}
    for name, r in results.items():
        f = r.tripod_facts()
        f["analysis"]["internal_validation"] = f"{model_label(name)}: {f['analysis']['internal_validation']}"
        facts = merge_tripod_facts(facts, f)
    return facts


def merge_tripod_facts(base: Mapping, *extra: Mapping) -> dict:
    """Merge TRIPOD run facts: nested dicts recursively, lists concatenated without repeats, two
    different texts for the same key joined with "; " (``sections`` entries: the later wins)."""
    out = dict(base)
    for e in extra:
        for k, v in e.items():
            if k not in out or out[k] is None:
                out[k] = v
            elif k == "sections" and isinstance(v, Mapping):
                out[k] = {**out[k], **v}
            elif isinstance(v, Mapping) and isinstance(out[k], Mapping):
                out[k] = merge_tripod_facts(out[k], v)
            elif isinstance(v, list) and isinstance(out[k], list):
                out[k] = list(dict.fromkeys([*out[k], *v]))
            elif isinstance(v, str) and isinstance(out[k], str):
                out[k] = out[k] if v in out[k] else f"{out[k]}; {v}"
            elif isinstance(v, bool) and isinstance(out[k], bool):
                out[k] = out[k] or v
            else:
                out[k] = v
    return out


def _stage_inputs(state: Any) -> tuple[dict, list, int, int]:
    """What the stage validates, read from the state without changing it: (pipelines, models
    validated, n_boot, seed)."""
    cfg = state.config
    pv = cfg.pipeline_validation
    dev = state.development
    deep_X = None
    if state.deep is not None and "deep_score" in state.cohort.columns:
        mask = (state.cohort["cohort_split"] == "development").to_numpy()
        deep_X = state.deep["X"].iloc[mask]
    models = [m for m in pv.models if m != "deep_score" or deep_X is not None]
    pipes = study_pipelines(dev, covariates=list(cfg.clinical.covariates) if cfg.clinical else None,
                            selection=cfg.clinical.selection if cfg.clinical else "none", rule=cfg.clinical,
                            deep_pipeline=state.deep["pipeline"] if deep_X is not None else None, deep_X=deep_X,
                            models=models, engine=state.engine, seed=cfg.validation.seed)
    n_boot = min(pv.n_boot, pv.fast_n_boot) if state.fast else pv.n_boot
    return pipes, models, n_boot, cfg.validation.seed if pv.seed is None else pv.seed


def _same_inputs(a: Mapping[str, tuple], b: Mapping[str, tuple]) -> bool:
    """Two ``study_pipelines`` outputs with the same pipelines (parameters) and the same data."""
    if list(a) != list(b):
        return False
    for name in a:
        (pa, Xa, ya), (pb, Xb, yb) = a[name], b[name]
        if repr(pa.get_params(deep=True)) != repr(pb.get_params(deep=True)) or not Xa.equals(Xb) \
                or not np.array_equal(ya, yb):
            return False
    return True


#: the key of :attr:`StudyState.pending` under which :func:`start_pipeline_refits` leaves its work
PENDING_KEY = "pipeline_validation"


def start_pipeline_refits(state: Any) -> Any:
    """Start the whole-pipeline bootstrap's refits on the run's worker processes before the
    evaluation stage, so they run while the evaluation, uncertainty and centres stages work in
    this process (they need only the development data, the clinical covariates and the Deep Score
    pipeline; the evaluation's cut-offs are used only when :func:`stage_pipeline_validation`
    collects them, at its usual place). Only with ``pipeline_validation:`` and a worker pool
    (``state.workers``); the apparent fits run here, in this thread, their warnings recorded for
    the stage. Anything that fails here is left for the stage to run (and raise) in its place.
    Changes nothing in the state but ``state.pending``; the stage's numbers are the same."""
    from ..stats.pipeline_validation import start_pipeline_bootstrap

    pv = state.config.pipeline_validation
    if pv is None or getattr(state, "workers", None) is None or PENDING_KEY in state.pending:
        return state
    starts: dict = {}
    try:
        pipes, _, n_boot, seed = _stage_inputs(state)
        for name, (pipe, X, y) in pipes.items():
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                starts[name] = (start_pipeline_bootstrap(pipe, X, y, n_boot=n_boot, seed=seed, method=pv.method,
                                                         scheduler=state.workers, submit=True), list(caught))
    except Exception:  # the stage runs the bootstrap itself and reports the error where it always did
        for start, _ in starts.values():
            start.cancel()
        return state
    state.pending[PENDING_KEY] = {"pipes": pipes, "n_boot": n_boot, "seed": seed, "method": pv.method,
                                  "workers": state.workers, "starts": starts}
    return state


def _take_started(state: Any, pipes: Mapping[str, tuple], n_boot: int, seed: int, method: str, scheduler: Any
                  ) -> dict | None:
    """The refits :func:`start_pipeline_refits` started, when they are the ones the stage needs
    (same pipelines, data, n_boot, seed, method, workers); otherwise they are cancelled and None."""
    early = state.pending.pop(PENDING_KEY, None)
    if early is None:
        return None
    if (early["n_boot"], early["seed"], early["method"]) == (n_boot, seed, method) \
            and early["workers"] is scheduler and _same_inputs(early["pipes"], pipes):
        return early["starts"]
    for start, _ in early["starts"].values():
        start.cancel()
    return None


def stage_pipeline_validation(state: Any) -> Any:
    """Study stage (after the evaluation stage, which sets the cut-offs): the whole-pipeline
    bootstrap of the clinical and Deep Score pipelines on the development cohort (complete cases),
    when the config has ``pipeline_validation:``. Its numbers (``pipeline/...``), tables, figures
    (saved when the state has an output folder), methods text and TRIPOD facts join the state's.
    Refits :func:`start_pipeline_refits` started on the worker pool are collected here."""
    cfg = state.config
    pv = cfg.pipeline_validation
    if pv is None:
        return state
    state.say("whole-pipeline validation")
    pipes, models, n_boot, seed = _stage_inputs(state)
    if len(models) < len(pv.models):
        state.notes.append("Whole-pipeline validation: the Deep Score is left out of the evaluation (see its note), so "
                           "its pipeline is not validated.")
    scheduler = task_scheduler(state)  # the run's worker processes when it has them
    started = _take_started(state, pipes, n_boot, seed, pv.method, scheduler)
    sec = pipeline_validation_section(pipes, n_boot=n_boot, seed=seed,
                                      method=pv.method, thresholds={m: state.thresholds.get(m) for m in pipes},
                                      labels=cfg.labels, figures=state.outdir is not None,
                                      scheduler=scheduler, started=started)
    state.numbers.update(sec.numbers)
    state.tables.update(sec.tables)
    state.notes.extend(sec.notes)
    state.results["pipeline_validation"] = sec
    if sec.figures:
        from . import figures as F

        formats = ["png"] + [f for f in cfg.report.figure_formats if f != "png"]
        for name, fig in sec.figures.items():
            paths = F.save(fig, state.outdir / "figures" / name, formats=formats, style=cfg.report.style)
            state.figures[name] = paths[0]  # F.save closes the figure
        object.__setattr__(sec, "figures", {})  # the saved files stay; figures do not pickle well
    return state
