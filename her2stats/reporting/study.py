"""End-to-end study runner: config -> cohort -> (cached) features -> selection -> models ->
statistics -> publication tables and figures, all in one output folder.

:func:`run_study` is what ``her2stats report`` and ``her2stats demo`` run and what the Quarto
template ``reports/her2_study.qmd`` reads. Every learnt step (image-feature selection, Deep
Score, clinical/combined logistic models, zoo hyper-parameters, diagnostic cut-offs) is fitted
on the development cohort only and applied unchanged to the internal and external cohorts.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import platform
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np
import pandas as pd

from ..atomic import AtomicOutput, atomic_output, atomic_write, read_manifest
from ..errors import ConfigError, ConvergenceError, EmptyModelError, InputError, RError, find_stack_level
from ..paths import cache_root
from ..schedulers import connected, task_scheduler
from .clinical_selection import select_clinical
from .config import StudyConfig, check_columns, load_config
from .image_models import stage_fusion, stage_image_models
from .network_step import stage_networks
from .segmentation_step import stage_segmentation
from .uncertainty import stage_uncertainty

__all__ = ["StudyResults", "StudyState", "STAGES", "new_state", "run_study", "study_results", "study_model_labels",
           "stage_cohort",
           "stage_features", "stage_describe", "stage_selection", "stage_models", "stage_crossval", "stage_zoo",
           "stage_evaluation", "stage_uncertainty", "stage_centres", "stage_regression", "stage_imputation",
           "stage_pipeline_validation", "stage_survival", "stage_outputs", "TRIPOD_EVIDENCE", "numbers_have",
           "load_results", "load_or_run", "RESULTS_FILE", "stage_image_models", "stage_fusion",
           "stage_agreement", "fold_covariates",
           "stage_networks"]

RESULTS_FILE = "study_results.pkl"


@dataclass(frozen=True, repr=False)
class StudyResults:
    """Everything a study run produced.

    Attributes
    ----------
    config : the validated :class:`~her2stats.reporting.config.StudyConfig`.
    outdir : output folder (tables/, figures/, predictions.csv, numbers.json, methods.md).
    cohort : analysed patients after exclusions, with ``cohort_split`` (development, internal,
        external or ``external:<centre>``) and, with imaging, the ``deep_score`` column.
    flow : cohort flow, one row per step: step, n_remaining, n_excluded, reason.
    numbers : flat dict of every reported number (``auc/<model>/<cohort>``, ``or/<term>`` ...).
        Development figures are honest (out-of-fold, or bootstrap optimism-corrected for the
        clinical logistic model's AUC); the in-sample ones are kept as ``<measure>_apparent/<model>/development``.
    predictions : long table patient_id, cohort, model, prob, y of the fitted models (on development
        rows: apparent predictions; the out-of-fold ones are in ``outdir/predictions_cv.csv``).
    tables : name -> PublicationTable. figures : name -> PNG path (PDF/SVG beside it).
    models : name -> fitted object (LogisticModel, sklearn Pipeline...); empty when loaded from disk.
    results : name -> statistics result object (AUCResult, DecisionCurve, CoxResult...).
    methods : the methods paragraph (Markdown), generated from what was run.
    """

    config: StudyConfig
    outdir: Path
    cohort: pd.DataFrame
    flow: pd.DataFrame
    predictions: pd.DataFrame
    numbers: dict
    tables: dict
    figures: dict
    models: dict
    methods: str
    results: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)
    fast: bool = False
    config_digest: str = ""

    def __repr__(self) -> str:
        return (f"StudyResults({self.config.name!r}: {len(self.cohort)} patients, {len(self.tables)} tables, "
                f"{len(self.figures)} figures, outdir={str(self.outdir)!r})")

    def summary(self) -> pd.DataFrame:
        """AUC with CI of every model in every cohort (one row each)."""
        rows = []
        for key, v in self.numbers.items():
            if key.startswith("auc/"):
                _, model, cohort = key.split("/", 2)
                rows.append({"model": model, "cohort": cohort, "auc": v,
                             "ci_low": self.numbers.get(f"auc_ci_low/{model}/{cohort}"),
                             "ci_high": self.numbers.get(f"auc_ci_high/{model}/{cohort}")})
        return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------- helpers
class _Flow:
    def __init__(self, n: int, source: str):
        self.rows = [{"step": f"loaded ({source})", "n_remaining": n, "n_excluded": 0, "reason": ""}]
        #: the excluded rows of each step (with ``_exclusion_step``), for Table 1 included vs excluded
        self.excluded: list[pd.DataFrame] = []

    def exclude(self, df: pd.DataFrame, keep: pd.Series, step: str, reason: str) -> pd.DataFrame:
        keep = keep.fillna(False).astype(bool)
        out = df.loc[keep]
        self.rows.append({"step": step, "n_remaining": len(out), "n_excluded": int((~keep).sum()), "reason": reason})
        if (~keep).any():
            self.excluded.append(df.loc[~keep].assign(_exclusion_step=step))
        return out

    def excluded_frame(self) -> pd.DataFrame:
        """Every row an exclusion step removed, with the step that removed it (``_exclusion_step``)."""
        if not self.excluded:
            return pd.DataFrame(columns=["_exclusion_step"])
        return pd.concat(self.excluded, ignore_index=True)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=["step", "n_remaining", "n_excluded", "reason"])


def _load_cohort(cfg: StudyConfig) -> pd.DataFrame:
    c = cfg.cohort
    if c.source == "demo":
        from ..data import load_demo

        return load_demo()
    if c.source == "mamamia":
        from ..data import load_mamamia

        return load_mamamia(cfg.resolve(c.path))
    if c.source == "duke":
        from ..data import load_duke

        return load_duke(cfg.resolve(c.path))
    from ..files import read_table

    path = cfg.resolve(c.path)
    if not path.exists():
        raise ConfigError(f"cohort.path: file not found: {path}")
    return read_table(path, "cohort.path", InputError, excel=c.source == "xlsx")


def _check_cohort_table(raw: pd.DataFrame, cfg: StudyConfig) -> None:
    """A cohort file with none of the columns the config names is not the cohort table: say so
    without listing its columns (a ``cohort.path`` pointing at the wrong file, e.g. a password
    file read as CSV, must not print its first line as a "column")."""
    from .config import config_columns

    if cfg.cohort.source not in ("csv", "xlsx"):
        return
    wanted = sorted({col for _, col in config_columns(cfg)})
    if wanted and not set(wanted) & set(map(str, raw.columns)):
        raise InputError(f"cohort.path {cfg.resolve(cfg.cohort.path)}: none of the study's columns "
                         f"({', '.join(repr(x) for x in wanted[:6])}{', ...' if len(wanted) > 6 else ''}) is among its "
                         f"{raw.shape[1]} column(s): it does not look like the cohort table (check cohort.path, and "
                         f"that the file is comma-separated with a header row)")


def _versions() -> dict:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for dist in ("her2stats", "numpy", "pandas", "scipy", "statsmodels", "scikit-learn", "lifelines", "torch", "timm"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            pass
    return out


def _r_versions(engine: str) -> dict:
    if engine != "r":
        return {}
    try:
        from .. import r_bridge

        out = {"R": r_bridge.r_version()}
        pk = r_bridge.call("h2s_package_versions", ["rms", "pROC", "survival", "glmnet"])
        pk = {} if pk is None else dict(pk)
        out.update({f"R {k}": v for k, v in pk.items() if isinstance(v, str) and v})
        return out
    except Exception as exc:  # the methods paragraph says what is unknown rather than failing the study
        return {"R": f"unknown ({type(exc).__name__})"}


def _digest(cfg: StudyConfig, fast: bool) -> str:
    # the report formats and the scheduler change no table or figure: results are reused across them
    blob = cfg.model_dump_json(exclude={"base_dir": True, "output_dir": True, "scheduler": True, "workers": True,
                                        "report": {"formats"}}) + f"|fast={fast}"
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def config_hash(cfg: StudyConfig) -> str:
    """sha256 of the validated config (every setting, defaults included; not where it lives nor the
    scheduler and workers it ran on, which change no number)."""
    return hashlib.sha256(cfg.model_dump_json(exclude={"base_dir", "output_dir", "scheduler", "workers"}).encode()
                          ).hexdigest()


def _relocate(res: "StudyResults", files_at: Path, outdir: Path | None = None) -> "StudyResults":
    """The same results with ``outdir`` (and the figure paths inside it) moved to ``files_at``:
    a run writes into a staging folder that is then renamed, and a report folder may be moved."""
    old = Path(res.outdir)

    def move(p: Any) -> Any:
        try:
            return Path(files_at) / Path(p).relative_to(old)
        except (TypeError, ValueError):
            return p

    return replace(res, outdir=Path(outdir) if outdir is not None else Path(files_at),
                   figures={k: move(v) for k, v in res.figures.items()})


def _term_key(variable: str, level: Any) -> str:
    if level is None or (isinstance(level, float) and np.isnan(level)) or level == "":
        return str(variable)
    return f"{variable}={level}"


def _y(series: pd.Series, name: str) -> np.ndarray:
    from ..stats.models import binary_outcome

    y, _ = binary_outcome(series, name)
    return y.astype(int)


# ---------------------------------------------------------------------------------- state
@dataclass(eq=False, repr=False)
class StudyState:
    """What the study stages hand to each other (mutable: each stage fills its part and returns it).

    A stage is a plain function ``stage(state) -> state`` (:data:`STAGES`, in order); each reads
    only the attributes earlier stages filled, so a test can build a state by hand (or run the
    stages before) and call one stage alone. :func:`new_state` makes the initial state.

    Attributes
    ----------
    config, engine, fast : the validated config, the resolved engine, smoke-test mode.
    outdir : folder the outputs are written to (``tables/``, ``figures/`` made by :func:`new_state`);
        None for a state that writes nothing (stages before ``outputs`` never write except the
        imaging stage's ``features/`` files, which it skips without a folder).
    n_boot, n_boot_cal : bootstrap replicates of validate / calibrate (fast mode cuts them).
    scheduler : where the feature extraction and the bootstraps run (:mod:`her2stats.schedulers`;
        default ``config.scheduler``); no number depends on it.
    workers : the run's warm local worker processes (:class:`~her2stats.schedulers.WorkerPool`,
        :func:`study_workers`) where the zoo's grid searches and the whole-pipeline refits run, or
        None (they then run on ``scheduler``); no number depends on it. pending : work a stage
        started in the workers for a later stage (name -> Future).
    say : progress callback (one short message per step).
    cohort : analysed patients (``cohort_split``, ``_y`` and, with imaging, ``deep_score``/``deep_prob``),
        index 0..n-1 once the features stage ran. flow : the cohort flow (every exclusion counted).
    cohorts : cohort names in report order (development, internal, external...).
    deep : the imaging stage's pipeline, extractor, feature matrix and selection report (or None).
    covariates : the clinical covariates kept by the selection stage (None before it / without clinical).
    imputation_cohort : with ``imputation:``, every analysed patient (incomplete covariates included,
        ``cohort_split`` and ``_y`` set) for the imputed main analysis; ``cohort`` then holds its
        complete cases (the complete-case sensitivity analysis, equal to a run without imputation).
    probs : model -> the fitted model's predicted probability of every patient (Series on the
        cohort's index; on development rows these are *apparent*, in-sample predictions).
    folds : (train, test) positions within the development rows of the development cross-validation.
    fold_deep_scores : fold (1..K) -> (Deep Score, Deep Score probability) of every development
        patient from the image pipeline refitted on that fold's training part.
    dev_probs : model -> out-of-fold probability of every development patient (honest predictions).
    dev_method : model -> how its development figures are made honest ("cross-validated" or
        "optimism-corrected").
    directions : model -> ROC direction fixed on development ("<": higher = case) and carried.
    scores : model -> the predictions every figure is computed from (``dev_probs`` on development
        rows, ``probs`` elsewhere).
    numbers, results, models, tables, notes : what :class:`StudyResults` reports.
    left_out : model -> why it is not evaluated (a selection that kept no feature, a collapsed or
        failed network, a fusion of such a model): no figure of it is reported, the notes and the
        methods say why, and the steps that name it (fusion, subgroups, survival.predicted_by) skip it
        with a note (:func:`leave_out`).
    perf, calibration, thresholds : per (model, cohort) results of the evaluation stage.
    predictions, figures, versions, methods : filled by the evaluation and outputs stages.
    """

    config: StudyConfig
    engine: str
    fast: bool = False
    outdir: Path | None = None
    n_boot: int = 0
    n_boot_cal: int = 0
    scheduler: Any = None
    workers: Any = None
    pending: dict = field(default_factory=dict)
    say: Callable[[str], None] = field(default=lambda msg: None)
    cohort: pd.DataFrame | None = None
    flow: _Flow | None = None
    cohorts: list = field(default_factory=list)
    deep: dict | None = None
    covariates: list | None = None
    imputation_cohort: pd.DataFrame | None = None
    probs: dict = field(default_factory=dict)
    numbers: dict = field(default_factory=dict)
    results: dict = field(default_factory=dict)
    models: dict = field(default_factory=dict)
    tables: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    folds: list = field(default_factory=list)
    fold_deep_scores: dict = field(default_factory=dict)
    dev_probs: dict = field(default_factory=dict)
    dev_method: dict = field(default_factory=dict)
    directions: dict = field(default_factory=dict)
    scores: dict = field(default_factory=dict)
    perf: dict = field(default_factory=dict)
    calibration: dict = field(default_factory=dict)
    thresholds: dict = field(default_factory=dict)
    predictions: pd.DataFrame | None = None
    figures: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)
    methods: str = ""
    left_out: dict = field(default_factory=dict)

    def leave_out(self, name: str, reason: str) -> None:
        """Leave model ``name`` out of the evaluation: ``reason`` (a sentence without final stop,
        e.g. "the selection kept no feature on the development cohort") goes to ``left_out`` and the
        notes; its predictions, if any were stored, are removed, so no figure of it is computed."""
        self.left_out[name] = reason
        for d in (self.probs, self.dev_probs, self.dev_method, self.models):
            d.pop(name, None)
        self.notes.append(f"{name}: {reason}; it is left out of the evaluation (no figure of it is reported).")

    def __repr__(self) -> str:
        n = "no cohort" if self.cohort is None else f"{len(self.cohort)} patients"
        return f"StudyState({self.config.name!r}: {n}, models={list(self.probs)}, {len(self.numbers)} numbers)"

    @property
    def development(self) -> pd.DataFrame:
        """The development rows of the analysed cohort (everything learnt is fitted on these)."""
        return self.cohort[self.cohort["cohort_split"] == "development"]

    def part(self, cohort: str) -> pd.DataFrame:
        return self.cohort[self.cohort["cohort_split"] == cohort]

    def labels_for(self, cols: Any) -> dict:
        """The config's labels of these columns (builders refuse others)."""
        cols = set(map(str, cols))
        return {k: v for k, v in self.config.labels.items() if k in cols}


def new_state(config: StudyConfig | str | Path | Mapping, fast: bool = False, outdir: str | Path | None = None,
              engine: str | None = None, progress: Callable[[str], None] | None = None,
              scheduler: Any = None) -> StudyState:
    """The initial :class:`StudyState` of a study (config validated, engine resolved, bootstrap
    sizes set; ``outdir/tables`` and ``outdir/figures`` created when ``outdir`` is given)."""
    from ..engine import resolve_engine

    cfg = config if isinstance(config, StudyConfig) else load_config(config)
    val = cfg.validation
    out = Path(outdir) if outdir is not None else None
    if out is not None:
        (out / "tables").mkdir(parents=True, exist_ok=True)
        (out / "figures").mkdir(parents=True, exist_ok=True)
    return StudyState(config=cfg, engine=resolve_engine(engine if engine is not None else cfg.engine), fast=fast,
                      outdir=out,
                      n_boot=min(val.n_boot, val.fast_n_boot) if fast else val.n_boot,
                      n_boot_cal=min(val.calibrate_n_boot, val.fast_n_boot) if fast else val.calibrate_n_boot,
                      say=progress or (lambda msg: None),
                      scheduler=scheduler if scheduler is not None else cfg.scheduler)


# ---------------------------------------------------------------------------------- runner
def run_study(config: StudyConfig | str | Path | Mapping, fast: bool = False,
              outdir: str | Path | AtomicOutput | None = None, progress: Callable[[str], None] | None = None,
              wait: float = 0.0, scheduler: Any = None) -> StudyResults:
    """Run a whole HER2 study from its config and write every table and figure.

    Parameters
    ----------
    config : StudyConfig, a YAML path or a dict (validated by :func:`load_config`).
    fast : smoke-test mode: bootstrap replicates cut to ``validation.fast_n_boot``, the image path run on
        ``imaging.fast_patients`` patients (sampled within each cohort split; the others are
        counted as excluded in the cohort flow), zoo CV folds cut to 3 -- for tests (< 60 s).
    outdir : output folder (default ``config.output_dir``, relative to the config file), written
        atomically (:mod:`her2stats.atomic`): the run writes into a temporary sibling folder and
        replaces ``outdir`` only when complete, so an error, Ctrl-C or a killed process leaves the
        previous output untouched; ``outdir/manifest.json`` then records completion, the config
        hash, the package version, start and end times and every file's sha256. An
        :class:`~her2stats.atomic.AtomicOutput` the caller holds is written into and not swapped
        (``her2stats report`` renders the HTML report into it before the swap).
    progress : callback receiving a short message at the start of each stage (the CLI's bar).
    wait : seconds to wait when another run is writing the same ``outdir`` (then OutputError).
    scheduler : where the feature extraction and the bootstraps run (:mod:`her2stats.schedulers`;
        default ``config.scheduler``): a name, an address, or a Dask ``Client``/cluster object. An
        address or cluster is connected to once for the whole run. No number depends on it.

    Returns
    -------
    StudyResults (also pickled, without the fitted models, to ``outdir/study_results.pkl``).

    Notes
    -----
    The run is the stage functions of :data:`STAGES` applied in turn to one :class:`StudyState`:
    :func:`stage_cohort` (subset, required columns, outcome, splits; every exclusion counted) ->
    :func:`stage_features` (frozen CNN features of the ROI, cached; univariate t-test -> correlation
    filter -> LASSO -> Deep Score, fitted on development) -> :func:`stage_describe` (Table 1 by
    outcome group, by cohort, by ``table1.by`` columns, analysed vs excluded) -> :func:`stage_agreement`
    (inter-reader ICC / kappa) -> :func:`stage_selection` (clinical covariates) ->
    :func:`stage_models` (clinical and combined logistic models, model zoo by nested CV on
    development) -> :func:`stage_image_models` (extra frozen-feature image models, refitted in every
    CV fold; :mod:`.image_models`) -> :func:`stage_fusion` (late fusion of any models) ->
    :func:`stage_evaluation` (per model x cohort: AUC with DeLong CI, Youden cut-off
    from development carried to the test cohorts with sensitivity/specificity/PPV/NPV/accuracy
    (Clopper-Pearson CIs) and F1, calibration (val.prob indices, legacy HL test, bootstrap-corrected
    curve on development), paired DeLong comparisons (Holm), decision curves) ->
    :func:`stage_regression` (OR table, nomogram) -> :func:`stage_survival` (Kaplan-Meier, log-rank,
    Cox with stepwise AIC, PH test, C-index, when configured) -> :func:`stage_outputs` (figures,
    tables, predictions, methods, TRIPOD+AI checklist, numbers.json).
    """
    cfg = config if isinstance(config, StudyConfig) else load_config(config)
    if not isinstance(outdir, AtomicOutput):
        target = Path(outdir) if outdir is not None else cfg.resolve(cfg.output_dir)
        with atomic_output(target, wait=wait) as tx, \
                connected(scheduler if scheduler is not None else cfg.scheduler) as sched:
            res = run_study(cfg, fast=fast, outdir=tx, progress=progress, scheduler=sched)
        return _relocate(res, tx.final)
    state = new_state(cfg, fast=fast, outdir=outdir.path, progress=progress, scheduler=scheduler)
    outdir.meta.update({"study": cfg.name, "config_hash": config_hash(cfg), "config_digest": _digest(cfg, fast),
                        "fast": fast, "engine": state.engine})
    from .builders import model_labels
    from .style import background_saving

    # helper processes write the figure files while the stages go on; worker processes (started
    # now, warming up while the first stages run) take the zoo's grid searches and the whole-pipeline refits
    with model_labels(study_model_labels(cfg)), background_saving(), study_workers(state) as pool:
        state.workers = pool
        for stage in STAGES:
            state = stage(state)
        state.workers = None
    res = study_results(state)
    _save_results(res)
    state.say("done")
    return res


#: modules a study's worker processes import while they warm up (what the zoo's and the
#: whole-pipeline refits' tasks need)
WORKER_MODULES = ("her2stats.models.zoo", "her2stats.stats.pipeline_validation", "her2stats.selection")


def study_worker_count(state: StudyState) -> int:
    """How many worker processes :func:`study_workers` starts for a run: ``config.workers``, by
    default one per core (at most 4); none (0) when a scheduler is set (the work goes there), in
    fast mode (short test runs, where starting processes costs more than it saves), or when the
    config has neither a zoo nor a whole-pipeline validation."""
    cfg = state.config
    if state.scheduler is not None or state.fast or (cfg.zoo is None and cfg.pipeline_validation is None):
        return 0
    n = cfg.workers if cfg.workers is not None else min(os.cpu_count() or 1, 4)
    return n if n > 1 else 0


@contextlib.contextmanager
def study_workers(state: StudyState) -> Iterator[Any]:
    """A :class:`~her2stats.schedulers.WorkerPool` of :func:`study_worker_count` processes for the
    run (embedded R started in each with the R engine), closed on exit; None when the count is 0,
    so the work stays in this process (a 1-core machine runs as before). No number depends on it:
    every task is seeded on its own (:func:`her2stats.models.fit_zoo`,
    :func:`her2stats.pipeline_bootstrap`)."""
    n = study_worker_count(state)
    if n == 0:
        yield None
        return
    from ..schedulers import WorkerPool

    with WorkerPool(n, modules=WORKER_MODULES, start_r=state.engine == "r") as pool:
        yield pool


def study_model_labels(cfg: StudyConfig) -> dict[str, str]:
    """The ``label:`` of every image model, trained network and fusion the config names."""
    entries = list(cfg.image_models) + list(cfg.networks) + (list(cfg.fusion.late) if cfg.fusion is not None else [])
    return {e.name: e.label for e in entries if getattr(e, "label", None)}


def study_results(state: StudyState) -> StudyResults:
    """The :class:`StudyResults` of a state the outputs stage has finished."""
    return StudyResults(config=state.config, outdir=state.outdir, cohort=state.cohort.drop(columns=["_y"]),
                        flow=state.flow.frame(), predictions=state.predictions, numbers=state.numbers,
                        tables=state.tables, figures=state.figures, models=state.models, methods=state.methods,
                        results=state.results, versions=state.versions, fast=state.fast,
                        config_digest=_digest(state.config, state.fast))


# ---------------------------------------------------------------------------------- stages
def stage_cohort(state: StudyState) -> StudyState:
    """Load the cohort, apply the config's exclusions (each counted in the flow), assign the
    splits; sets ``cohort`` (with ``cohort_split`` and the 0/1 outcome ``_y``) and ``flow``."""
    cfg = state.config
    outcome = cfg.cohort.outcome
    state.say("cohort")
    raw = _load_cohort(cfg)
    _check_cohort_table(raw, cfg)  # a file that is not the cohort table is named, never quoted
    check_columns(cfg, raw.columns)  # every column the config names, with the closest one when absent
    known = sorted(set(map(str, raw.columns)) | {"deep_score"})
    unknown = [k for k in cfg.labels if k not in known]
    if unknown:  # a typo must not leave a raw column name in the manuscript
        from .config import closest

        raise InputError("\n".join(f"labels: column {k!r} not in the cohort"
                                   + (f"; did you mean {closest(k, known)!r}?" if closest(k, known) else "")
                                   for k in unknown))
    flow = _Flow(len(raw), cfg.cohort.source)
    df = raw
    for col, values in cfg.cohort.subset.items():
        df = flow.exclude(df, df[col].astype(object).isin(list(values)) | df[col].astype(str).isin([str(v) for v in values]),
                          f"subset {col} in {list(values)}", f"{col} not in {list(values)}")
    df = flow.exclude(df, df[outcome].notna(), f"outcome {outcome} known", f"missing {outcome}")
    for col in cfg.cohort.require:
        df = flow.exclude(df, df[col].notna(), f"{col} known", f"missing {col} (cohort.require)")
    model_covs = _model_covariates(cfg)
    for col in model_covs:
        if col not in df.columns:
            raise InputError(f"clinical.covariates: column {col!r} is not in the cohort")
    if cfg.imputation is not None:
        # every patient enters the imputed main analysis; the complete cases are split exactly as a run
        # without imputation splits them (the sensitivity analysis equals that run)
        complete = df[model_covs].notna().all(axis=1)
        if not complete.any():
            raise InputError(f"no patient has every clinical covariate ({', '.join(model_covs)}): the complete-case "
                             "sensitivity analysis of an imputed study is impossible")
        full = _assign_splits_by_completeness(df, cfg, flow, complete)
        full = full.assign(**{"_y": _y(full[outcome], outcome)})
        state.imputation_cohort = full
        from .imputed import missing_flow_rows

        order = ["development", "internal"] + sorted(c for c in full["cohort_split"].unique() if c.startswith("external"))
        flow.rows += missing_flow_rows(full, model_covs + list(cfg.imputation.auxiliary), order)
        df = flow.exclude(full, complete.reindex(full.index), "clinical covariates complete (complete-case analyses)",
                          "missing value in " + ", ".join(model_covs) + ": imputed in the main analysis, excluded "
                          "from the complete-case sensitivity analysis and the models that need complete data")
        state.cohort = df
        state.flow = flow
        return state
    if model_covs:
        df = flow.exclude(df, df[model_covs].notna().all(axis=1), "clinical covariates complete",
                          "missing value in " + ", ".join(model_covs))
    df = _assign_splits(df, cfg, flow)
    state.cohort = df.assign(**{"_y": _y(df[outcome], outcome)})
    state.flow = flow
    return state


def stage_features(state: StudyState) -> StudyState:
    """Imaging (when configured): preprocessing (``imaging.motion_correction``, ``register_to``,
    ``spacing``, ``normalize``), deep features of every patient (and of the second segmentation with
    ``imaging.icc``, carried beside them in ``deep["X"]``), the ICC filter, selection and Deep Score
    fitted on development, ``deep_score``/``deep_prob`` columns added; then the cohort list and its counts.
    Ends with the cohort indexed 0..n-1."""
    cfg = state.config
    df = state.cohort
    if cfg.imaging is not None:
        state.say("image features")
        df, deep = _imaging(df, cfg, state.flow, state.fast, state.engine, state.numbers, state.notes, state.scheduler)
        state.deep = deep
        state.models["deep_pipeline"] = deep["pipeline"]
        state.results["feature_selection"] = deep["report"]
        if "icc" in deep:
            state.results["icc"] = deep["icc"].report_
        if "deep_score" not in df.columns:  # LASSO kept no feature (the note says so): nothing to evaluate
            why = "LASSO kept no image feature on the development cohort (the Deep Score would be constant)"
            state.left_out["deep_score"] = why
            if cfg.clinical is not None:
                state.left_out["combined"] = why
        if state.outdir is not None:
            out = state.outdir
            (out / "features").mkdir(exist_ok=True)
            deep["extractor"].failures_.to_csv(out / "features" / "failures.csv", index=False)
            deep["report"].to_csv(out / "features" / "selection.csv", index=False)
            coef = deep["pipeline"].named_steps["deepscore"].coef_
            coef.rename("coefficient").to_csv(out / "features" / "deep_score_coefficients.csv")
            if "icc" in deep:
                deep["icc"].report_.to_csv(out / "features" / "icc.csv", index=False)
                deep["failures_second"].to_csv(out / "features" / "failures_second_segmentation.csv", index=False)
            for key in ("perturbation", "motion"):
                if key in deep:
                    deep[key].to_csv(out / "features" / f"{key}.csv", index=False)
    df = df.reset_index(drop=True)
    state.cohort = df
    if state.development["_y"].nunique() < 2:
        raise InputError("the development cohort has only one outcome class; check splits.train and the outcome")
    state.cohorts = [c for c in ["development", "internal"]
                     + sorted(x for x in df["cohort_split"].unique() if str(x).startswith("external"))
                     if (df["cohort_split"] == c).any()]
    _start_gradcam(state)
    state.numbers["n/total"] = float(len(df))
    for c in state.cohorts:
        part = state.part(c)
        state.numbers[f"n/{c}"] = float(len(part))
        state.numbers[f"n_events/{c}"] = float(part["_y"].sum())
    return state


def stage_describe(state: StudyState) -> StudyState:
    """Table 1 by outcome group and, when asked, by cohort and by other columns (``table1.by``, with
    standardised mean differences), and the analysed vs the excluded patients
    (``table1.included_vs_excluded``)."""
    from ..stats.tables import table_one
    from . import builders

    state.say("Table 1")
    cfg = state.config
    df, cohorts, outcome = state.cohort, state.cohorts, cfg.cohort.outcome
    t1c = cfg.table1
    variables = [v for v in (t1c.variables or _model_covariates(cfg)) if v in df.columns and v != t1c.group]
    # levels no analysed patient has (e.g. rare histologies) would print as rows of zeros
    t1df = df.copy()
    for v in variables + [t1c.group]:
        if v in t1df and isinstance(t1df[v].dtype, pd.CategoricalDtype):
            t1df[v] = t1df[v].cat.remove_unused_categories()
    if t1c.group in df.columns and variables:
        t1 = table_one(t1df, t1c.group, variables=variables, categorical=[v for v in t1c.categorical if v in variables],
                       p_adjust=t1c.p_adjust, normality_test=t1c.normality_test, engine=state.engine)
        state.results["table1"] = t1
        state.tables["table1"] = builders.table1_table(t1, labels=state.labels_for(variables + [t1c.group]))
        _table1_numbers(state.numbers, t1, "p_value", "table1_p/")
    if t1c.by_cohort and len(cohorts) > 1 and variables:
        t1b = table_one(t1df.assign(cohort=pd.Categorical(df["cohort_split"].astype(str), categories=cohorts)), "cohort",
                        variables=variables + [outcome],
                        categorical=[v for v in t1c.categorical if v in variables] + [outcome],
                        normality_test=t1c.normality_test, smd=True, engine=state.engine)
        state.results["table1_by_cohort"] = t1b
        _table1_numbers(state.numbers, t1b, "smd", "table1_smd/")  # mean pairwise SMD across the cohorts
        cohort_levels = {"cohort": {"label": "Cohort", "levels": {c: builders.cohort_label(c) for c in cohorts}}}
        state.tables["table1_by_cohort"] = builders.table1_table(
            t1b, title="Baseline characteristics by cohort", group_label="cohort",
            labels={**state.labels_for(variables + [outcome]), **cohort_levels})
    for col in t1c.by:
        _table1_by(state, t1df, col, variables)
    if t1c.included_vs_excluded and variables:
        _table1_included_vs_excluded(state, variables)
    return state


def _table1_numbers(numbers: dict, t1: Any, column: str, prefix: str) -> None:
    """``numbers[prefix + variable]`` = the Table 1 test table's ``column`` (p_value, smd) of every
    variable (NaN where the table has none); nothing when the table lacks the column."""
    if column not in t1.tests.columns:
        return
    for r in t1.tests.to_dict("records"):
        v = r.get(column)
        numbers[f"{prefix}{r['variable']}"] = float(v) if v is not None else float("nan")


def _table1_by(state: StudyState, t1df: pd.DataFrame, col: str, variables: list[str]) -> None:
    """``table1.by``: Table 1 of the analysed patients grouped by ``col`` (e.g. the centre), with the
    mean pairwise standardised mean difference of each variable (numbers ``table1_by/<col>/smd/<var>``)."""
    from ..stats.tables import table_one
    from . import builders

    cfg, outcome = state.config, state.config.cohort.outcome
    if col not in t1df.columns:
        raise InputError(f"table1.by: column {col!r} is not in the analysed cohort")
    g = t1df[col]
    if isinstance(g.dtype, pd.CategoricalDtype):
        g = g.cat.remove_unused_categories()
    if g.nunique(dropna=True) < 2:
        state.notes.append(f"Table 1 by {col}: every analysed patient has the same value ({g.dropna().unique()[:1]}); "
                           "no table.")
        return
    vs = [v for v in variables + [outcome] if v != col]
    cat = [v for v in cfg.table1.categorical if v in vs] + ([outcome] if outcome in vs else [])
    t1g = table_one(t1df.assign(**{col: g}), col, variables=vs, categorical=cat,
                    normality_test=cfg.table1.normality_test, smd=True, engine=state.engine)
    state.results[f"table1_by_{col}"] = t1g
    _table1_numbers(state.numbers, t1g, "smd", f"table1_by/{col}/smd/")
    for level, n in g.value_counts(sort=False).items():
        state.numbers[f"table1_by/{col}/n/{level}"] = float(n)
    from ..data.labels import as_labels

    label = as_labels(state.labels_for([col])).var(col, unit=False)
    state.tables[f"table1_by_{col}"] = builders.table1_table(
        t1g, title=f"Baseline characteristics by {label[:1].lower() + label[1:] if not label[:2].isupper() else label}",
        labels=state.labels_for(vs + [col]))


#: display label of the included / excluded groups of table1.included_vs_excluded
_INCLUSION = "analysis_inclusion"


def _table1_included_vs_excluded(state: StudyState, variables: list[str]) -> None:
    """``table1.included_vs_excluded``: the patients the cohort flow excluded against those analysed,
    on the Table 1 variables (tests and standardised mean differences), with the count of every
    exclusion step (numbers ``table1_excluded/n``, ``table1_excluded/n/<step>``, ``table1_excluded_p/<var>``,
    ``table1_excluded_smd/<var>``)."""
    from ..stats.tables import table_one
    from . import builders

    cfg = state.config
    analysed = state.imputation_cohort if state.imputation_cohort is not None else state.cohort
    exc = state.flow.excluded_frame()
    if state.imputation_cohort is not None:  # the complete-case step is no exclusion from the main analysis
        exc = exc[exc["_exclusion_step"] != "clinical covariates complete (complete-case analyses)"]
    state.numbers["table1_excluded/n"] = float(len(exc))
    counts = exc["_exclusion_step"].value_counts(sort=False) if len(exc) else pd.Series(dtype=float)
    for step, n in counts.items():
        state.numbers[f"table1_excluded/n/{step}"] = float(n)
    if len(exc) == 0:
        state.notes.append("Included vs excluded patients: the cohort flow excluded no patient, so there is no "
                           "comparison table.")
        return
    vs = [v for v in variables if v in exc.columns]
    both = pd.concat([analysed[vs].assign(**{_INCLUSION: "Included"}), exc[vs].assign(**{_INCLUSION: "Excluded"})],
                     ignore_index=True)
    for v in vs:  # levels no patient has would print as rows of zeros
        if isinstance(both[v].dtype, pd.CategoricalDtype):
            both[v] = both[v].cat.remove_unused_categories()
    both[_INCLUSION] = pd.Categorical(both[_INCLUSION], categories=["Included", "Excluded"])
    t1e = table_one(both, _INCLUSION, variables=vs, categorical=[v for v in cfg.table1.categorical if v in vs],
                    normality_test=cfg.table1.normality_test, smd=True, engine=state.engine)
    state.results["table1_included_vs_excluded"] = t1e
    _table1_numbers(state.numbers, t1e, "p_value", "table1_excluded_p/")
    _table1_numbers(state.numbers, t1e, "smd", "table1_excluded_smd/")
    reasons = "; ".join(f"{step}: {int(n)}" for step, n in counts.items())
    table = builders.table1_table(
        t1e, title="Baseline characteristics of the analysed and the excluded patients",
        labels={**state.labels_for(vs), _INCLUSION: {"label": "Analysis", "levels": {"Included": "Analysed",
                                                                                     "Excluded": "Excluded"}}})
    state.tables["table1_included_vs_excluded"] = replace(
        table, footnotes=tuple(table.footnotes) + (f"Excluded by the cohort flow ({len(exc)} patients): {reasons}.",))


def stage_agreement(state: StudyState) -> StudyState:
    """``agreement:``: inter-reader agreement of reader-measured variables on the analysed patients --
    intraclass correlation (``agreement.icc_kind``, F-distribution CI) of continuous readings, Cohen's
    kappa (weighted when asked; Fleiss-Cohen-Everitt CI) of categorical ones. Descriptive: no outcome
    is used and nothing enters a model. Table ``agreement``, numbers ``agreement/<variable>/<icc|kappa>``
    with ``_ci_low`` / ``_ci_high`` and ``agreement/<variable>/n``."""
    from ..stats.agreement import icc, kappa
    from .agreement_section import agreement_table, readings_for

    ag = state.config.agreement
    if ag is None:
        return state
    state.say("reader agreement")
    data = readings_for(state.cohort, state.config)
    rows = []
    for pair in ag.pairs:
        if pair.kind == "continuous":
            long = pd.concat([pd.DataFrame({"target": data.index, "reader": i, "value": pd.to_numeric(data[c], errors="coerce")})
                              for i, c in enumerate(pair.readers, start=1)], ignore_index=True)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                r = icc(long, "target", "reader", "value", kind=ag.icc_kind, level=ag.level, engine=state.engine)
            rows.append({"variable": pair.variable, "readers": pair.readers, "statistic": r.kind, "value": r.value,
                         "ci_low": r.ci_low, "ci_high": r.ci_high, "n": r.n_targets, "n_excluded": r.n_excluded})
            key = "icc"
        else:
            a, b = data[pair.readers[0]], data[pair.readers[1]]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                r = kappa(a, b, weights=pair.weights, levels=list(pair.levels) or None, level=ag.level,
                          engine=state.engine)
            rows.append({"variable": pair.variable, "readers": pair.readers,
                         "statistic": "Cohen's kappa" + (f" ({pair.weights} weights)" if pair.weights else ""),
                         "value": r.kappa, "ci_low": r.ci_low, "ci_high": r.ci_high, "n": r.n,
                         "n_excluded": r.n_excluded})
            key = "kappa"
        state.numbers[f"agreement/{pair.variable}/{key}"] = float(rows[-1]["value"])
        state.numbers[f"agreement/{pair.variable}/{key}_ci_low"] = float(rows[-1]["ci_low"])
        state.numbers[f"agreement/{pair.variable}/{key}_ci_high"] = float(rows[-1]["ci_high"])
        state.numbers[f"agreement/{pair.variable}/n"] = float(rows[-1]["n"])
        if rows[-1]["n_excluded"]:
            state.notes.append(f"Reader agreement, {pair.variable}: {int(rows[-1]['n_excluded'])} patient(s) without "
                               "a reading by every reader left out.")
    frame = pd.DataFrame(rows)
    state.results["agreement"] = frame
    state.tables["agreement"] = agreement_table(frame, ag, labels=state.labels_for(frame["variable"]))
    return state


def stage_selection(state: StudyState) -> StudyState:
    """The clinical covariates (``clinical.selection`` on development data): sets ``covariates``."""
    cfg = state.config
    state.say("models")
    if cfg.clinical is not None:
        covs = select_clinical(state.development, "_y", _model_covariates(cfg), cfg.clinical.selection, state.engine,
                               cfg.validation.seed, rule=cfg.clinical, numbers=state.numbers, notes=state.notes)
        state.covariates = list(covs)
    return state


def stage_models(state: StudyState) -> StudyState:
    """Fit the clinical, Deep Score and combined models on development and predict every patient:
    ``probs`` (the fitted models' predictions; on development they are *apparent*)."""
    from ..stats.models import fit_lrm

    cfg = state.config
    df, dev, outcome, eng = state.cohort, state.development, cfg.cohort.outcome, state.engine
    probs, models, results, numbers = state.probs, state.models, state.results, state.numbers
    if cfg.clinical is not None:
        covs = state.covariates
        models["clinical"] = fit_lrm(dev, outcome, covs, engine=eng)
        probs["clinical"] = pd.Series(models["clinical"].predict(df), index=df.index)
        numbers["clinical_covariates_n"] = float(len(covs))
        results["clinical_covariates"] = covs
    if "deep_score" in df.columns:
        probs["deep_score"] = df["deep_prob"]
        if cfg.clinical is not None:
            covs_comb = list(results["clinical_covariates"]) + ["deep_score"]
            models["combined"] = fit_lrm(dev, outcome, covs_comb, engine=eng)
            probs["combined"] = pd.Series(models["combined"].predict(df), index=df.index)
    if not probs and cfg.zoo is None and cfg.survival is None and not cfg.networks:
        raise ConfigError("the study config defines no analysis: add a `clinical:`, `imaging:`, `networks:`, `zoo:` or "
                          "`survival:` section")
    return state


def _n_folds(state: StudyState) -> int:
    """Outer folds of the development cross-validation (the zoo's, so every model shares them)."""
    cfg = state.config
    if state.fast:
        return 3
    ensemble = [n.fold_ensemble for n in cfg.networks if n.fold_ensemble is not None]  # equal to zoo.cv (config)
    return int(cfg.zoo.cv) if cfg.zoo is not None else (ensemble[0] if ensemble else 5)


def stage_crossval(state: StudyState) -> StudyState:
    """Honest development predictions: stratified K-fold cross-validation on the development cohort
    (the zoo's outer folds and seed), every learnt step refitted inside each training fold --
    clinical covariate selection (when configured) and logistic fit, the whole image pipeline
    (feature selection, LASSO, Deep Score) and the combined model on the fold's own Deep Score.
    Sets ``folds`` (positions within the development rows), ``fold_deep_scores`` (fold -> Deep
    Score of every development patient from the pipeline fitted on that fold's training part) and
    ``dev_probs`` (model -> out-of-fold probability of every development patient)."""
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold

    from ..stats.models import fit_lrm

    cfg = state.config
    if not state.probs and cfg.zoo is None and not cfg.networks:
        return state
    state.say("cross-validation")
    df, dev, outcome, eng = state.cohort, state.development, cfg.cohort.outcome, state.engine
    y = dev["_y"].to_numpy()
    k = _n_folds(state)
    smaller = int(min(y.sum(), len(y) - y.sum()))
    if smaller < 2:
        state.notes.append(f"The development cohort's smaller outcome class has {smaller} patient(s): no "
                           "cross-validation, so no honest development figure is reported.")
        return state
    if smaller < k:
        state.notes.append(f"The development cross-validation uses {smaller} folds (not {k}): the smaller outcome "
                           f"class has {smaller} patients.")
        k = smaller
    state.folds = list(StratifiedKFold(n_splits=k, shuffle=True, random_state=cfg.validation.seed)
                       .split(np.zeros(len(y)), y))
    if "deep_score" in df.columns and state.deep is not None:
        dev_pos = np.flatnonzero((df["cohort_split"] == "development").to_numpy())
        Xdev = state.deep["X"].iloc[dev_pos]
        ridge, failed, empty_deep = [], None, []
        for i, (train, _) in enumerate(state.folds, start=1):
            pipe = clone(state.deep["pipeline"])
            with warnings.catch_warnings():  # the final fit already announced what the pipeline warns
                warnings.simplefilter("ignore")
                try:
                    pipe.fit(Xdev.iloc[train], y[train])
                except ConvergenceError:
                    # the fold's selected features separate its training patients: the maximum-likelihood
                    # score does not exist there, the ridge-penalised one does (announced in the notes)
                    ridge.append(i)
                    pipe = clone(state.deep["pipeline"]).set_params(deepscore__penalty="l2", deepscore__C=1.0)
                    try:
                        pipe.fit(Xdev.iloc[train], y[train])
                    except (ConvergenceError, InputError, RError, ValueError, np.linalg.LinAlgError) as exc:
                        failed = f"{type(exc).__name__}: {exc}"
                        break
                except (InputError, RError, ValueError, np.linalg.LinAlgError) as exc:
                    # e.g. no feature of the fold's training patients passes the ICC filter and the screen
                    failed = f"fold {i}: {type(exc).__name__}: {exc}"
                    break
            if len(pipe.named_steps["deepscore"].coef_) == 0:
                empty_deep.append(i)
            state.fold_deep_scores[i] = (pd.Series(np.asarray(pipe.decision_function(Xdev), dtype=float), index=dev.index),
                                         pd.Series(np.asarray(pipe.predict_proba(Xdev)[:, 1], dtype=float), index=dev.index))
        if failed is not None:
            state.fold_deep_scores = {}
            state.notes.append("The image pipeline could not be refitted inside every cross-validation fold "
                               f"({failed}): no honest development figure for the Deep Score, the combined model or "
                               "the machine-learning models that use it.")
        elif ridge:
            state.notes.append(f"Cross-validation of the Deep Score: in fold(s) {', '.join(map(str, ridge))} of "
                               f"{len(state.folds)} the features selected on the fold's training patients separated "
                               "them, so the maximum-likelihood score did not exist; those folds used the "
                               "ridge-penalised score (C = 1).")
            state.results["deep_score_cv_ridge_folds"] = ridge
        if failed is None and empty_deep:
            # an intercept-only fold model is what the procedure gives there: a legitimate out-of-fold prediction
            state.results["deep_score_cv_empty_folds"] = empty_deep
            state.notes.append(f"Cross-validation of the Deep Score: in fold(s) {', '.join(map(str, empty_deep))} of "
                               f"{len(state.folds)} LASSO kept no image feature on the fold's training patients; there "
                               "the Deep Score is intercept-only (the fold's training prevalence for every held-out "
                               "patient)" + (" and the combined model is the clinical model" if "combined" in state.probs
                                             else "") + ". These are kept as out-of-fold predictions: the "
                               "cross-validation estimates the whole procedure, a selection that keeps nothing "
                               "included.")
    clinical_covs = state.results.get("clinical_covariates")
    empty_deep = state.results.get("deep_score_cv_empty_folds", [])
    for m in state.probs:
        oof = pd.Series(np.nan, index=dev.index)
        try:
            if m in ("deep_score", "combined") and not state.fold_deep_scores:
                raise InputError("no Deep Score refitted inside the folds")
            for i, (train, test) in enumerate(state.folds, start=1):
                if m == "deep_score":
                    oof.iloc[test] = state.fold_deep_scores[i][1].iloc[test].to_numpy()
                    continue
                d = dev if m == "clinical" else dev.assign(deep_score=state.fold_deep_scores[i][0])
                covs = list(clinical_covs)
                if cfg.clinical.selection != "none":  # selection repeated inside the fold (training rows only)
                    covs = fold_covariates(state, i)
                if m == "combined" and i not in empty_deep:  # a constant fold Deep Score adds nothing
                    covs = covs + ["deep_score"]
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    fit = fit_lrm(d.iloc[train], outcome, covs, engine=eng)
                oof.iloc[test] = np.asarray(fit.predict(d.iloc[test]), dtype=float)
        except (InputError, ConvergenceError, RError, ValueError, np.linalg.LinAlgError) as exc:
            state.notes.append(f"{m}: the cross-validated development predictions could not be computed "
                               f"({type(exc).__name__}: {exc}); no honest development figure is reported for it.")
            oof[:] = np.nan
        if oof.notna().all() and np.ptp(oof.to_numpy(dtype=float)) == 0:
            state.notes.append(f"{m}: every out-of-fold development prediction is the same ({oof.iloc[0]:.4g}; e.g. the "
                               "selection kept nothing in every fold), so no honest development figure is reported "
                               "for it.")
            oof[:] = np.nan
        state.dev_probs[m] = oof
        optimism = (m == "clinical" and cfg.clinical.selection == "none"
                    and type(state.models.get(m)).__name__ == "LogisticModel")
        state.dev_method[m] = "optimism-corrected" if optimism else "cross-validated"
    return state


def stage_zoo(state: StudyState) -> StudyState:
    """The machine-learning zoo: nested cross-validation on development (the outer folds are
    :func:`stage_crossval`'s; a Deep Score column is the one refitted inside each outer training
    fold) for honest out-of-fold predictions, then the refit on all development patients."""
    cfg = state.config
    if cfg.zoo is None:
        return state
    from ..models import fit_zoo

    state.say("model zoo")
    df, dev = state.cohort, state.development
    deep = ["deep_score"] if "deep_score" in df.columns else []
    candidates = _model_covariates(cfg)
    selected = cfg.zoo.features == "selected"
    # the refit's columns: every candidate, or the covariates selected on all development patients
    zoo_X = _zoo_design(df, (list(state.covariates) if selected else candidates) + deep)
    dev_mask = (df["cohort_split"] == "development").to_numpy()
    X_dev = zoo_X[dev_mask]
    fold_features = None
    fold_deep = bool(state.fold_deep_scores) and bool(deep)
    if selected or fold_deep:
        all_X = _zoo_design(df, candidates + deep)[dev_mask]  # every candidate's design columns

        def fold_features(k: int, train: np.ndarray) -> pd.DataFrame:
            if not np.array_equal(np.sort(train), np.sort(state.folds[k - 1][0])):
                raise RuntimeError("the zoo's outer folds differ from the study's cross-validation folds")
            Xk = all_X if not selected else all_X[_design_columns(df, candidates, fold_covariates(state, k)) + deep]
            if fold_deep:
                Xk = Xk.assign(deep_score=state.fold_deep_scores[k][0].to_numpy())
            return Xk

    leaky = bool(deep) and not fold_deep
    if selected and not state.folds:
        fold_features, leaky = None, True  # no development cross-validation (the stage said why in the notes)
    elif selected:
        try:  # the selection of every outer training fold (shared with the clinical model's cross-validation)
            for k in range(1, len(state.folds) + 1):
                fold_covariates(state, k)
        except (InputError, ConvergenceError, RError, ValueError, np.linalg.LinAlgError) as exc:
            # no honest out-of-fold figure without the per-fold selection: the zoo is still tuned and refitted
            # on the development selection (test cohorts), its development predictions are not reported
            state.notes.append(f"Machine-learning models: the clinical selection could not be repeated inside every "
                               f"outer training fold ({type(exc).__name__}: {exc}); no honest development figure is "
                               "reported for them.")
            fold_features, leaky = None, True
    zres = fit_zoo(X_dev, dev["_y"].to_numpy(), models=list(cfg.zoo.models), cv=_n_folds(state),
                   inner_cv=2 if state.fast else cfg.zoo.inner_cv, seed=cfg.validation.seed,
                   fold_features=fold_features,
                   fold_columns=list(all_X.columns) if fold_features is not None and selected else None,
                   scheduler=task_scheduler(state))
    state.results["zoo"] = zres
    for name in cfg.zoo.models:
        key = name if name not in state.probs else f"zoo_{name}"
        state.models[key] = zres.refit[name]
        state.probs[key] = pd.Series(zres.refit[name].predict_proba(zoo_X)[:, 1], index=df.index)
        if leaky:  # its Deep Score input was learnt on every development patient: the out-of-fold AUC is not honest
            state.dev_probs[key] = pd.Series(np.nan, index=dev.index)
        else:
            state.dev_probs[key] = pd.Series(zres.oof[name].to_numpy(dtype=float), index=dev.index)
            state.numbers[f"zoo_oof_auc/{key}"] = float(zres.to_frame().loc[name, "auc_oof"])
        state.dev_method[key] = "cross-validated"
    state.results["zoo_X"] = zoo_X
    if selected and not leaky:
        state.results["zoo_fold_covariates"] = {k: fold_covariates(state, k) for k in range(1, len(state.folds) + 1)}
        state.numbers["zoo_features_n"] = float(zoo_X.shape[1])
        state.notes.append("Machine-learning models: fitted on the clinical covariates the clinical selection rule "
                           f"({cfg.clinical.selection}) keeps" + (" plus the Deep Score" if deep else "")
                           + "; in the nested cross-validation the selection was repeated on each outer training fold ("
                           + "; ".join(f"fold {k}: {', '.join(c) or 'none'}" for k, c in
                                       state.results["zoo_fold_covariates"].items())
                           + f"), the refit uses those selected on all development patients ({', '.join(state.covariates)}).")
    return state


def fold_covariates(state: StudyState, k: int) -> list[str]:
    """The clinical covariates ``clinical.selection`` keeps on the training part of development fold
    ``k`` (1..K of ``state.folds``), selected on those rows only and remembered in the state (the
    cross-validation of the clinical model and the zoo share them)."""
    cfg = state.config
    memo = state.results.setdefault("fold_clinical_covariates", {})
    if k not in memo:
        train = state.folds[k - 1][0]
        covs = list(_model_covariates(cfg))
        if cfg.clinical is not None and cfg.clinical.selection != "none":
            covs = select_clinical(state.development.iloc[train], "_y", covs, cfg.clinical.selection, state.engine,
                                   cfg.validation.seed, rule=cfg.clinical)
        memo[k] = list(covs)
    return list(memo[k])


def _design_columns(df: pd.DataFrame, candidates: list[str], covariates: list[str]) -> list[str]:
    """The :func:`_zoo_design` columns (a numeric covariate's own column, a categorical one's
    ``<covariate>_<level>`` dummies) of ``covariates``, in ``candidates``' order."""
    keep = set(covariates)
    return [c for v in candidates if v in keep for c in _zoo_design(df, [v]).columns]


#: how each development figure was made honest (StudyState.dev_method values), as the report words it
DEV_METHODS = {"cross-validated": "out-of-fold predictions of the development cross-validation",
               "optimism-corrected": "bootstrap optimism-corrected"}


def stage_evaluation(state: StudyState) -> StudyState:
    """Per model x cohort: discrimination, operating point, calibration, internal validation;
    paired comparisons and decision curves per cohort. Sets ``directions``, ``perf``,
    ``calibration``, ``thresholds``, ``scores``, ``predictions`` and the performance tables.

    Development figures are honest: every figure on the development cohort (AUC, operating point,
    calibration, DeLong comparison, decision curve) is computed from the out-of-fold predictions of
    :func:`stage_crossval` / :func:`stage_zoo`, except the AUC of a logistic model on pre-specified
    covariates, which is its bootstrap optimism-corrected C (rms ``validate``; location-shifted
    bootstrap percentile CI, Noma et al. 2021). The apparent (in-sample) figures are kept under
    ``<measure>_apparent/<model>/development``. The ROC direction of each model is fixed on the
    development data and carried unchanged to every test cohort.

    First, with a worker pool, the whole-pipeline bootstrap's refits are submitted to it
    (:func:`~.pipeline_section.start_pipeline_refits`): they run while this stage and the next
    ones work here, and :func:`stage_pipeline_validation` collects them."""
    from .pipeline_section import start_pipeline_refits

    start_pipeline_refits(state)
    from ..stats.calibration import calibrate, extreme_predictions_message, hosmer_lemeshow, val_prob, validate
    from ..stats.dca import decision_curve
    from ..stats.diagnostics import choose_threshold, diagnostic_metrics
    from ..stats.roc import compare_aucs, resolve_direction, roc_auc
    from . import builders
    from .uncertainty import band_n_boot

    state.say("discrimination and calibration")
    cfg, eng, val = state.config, state.engine, state.config.validation
    df, dev, probs, cohorts = state.cohort, state.development, state.probs, state.cohorts
    idc = cfg.cohort.id_column
    numbers, results, models, tables, notes = state.numbers, state.results, state.models, state.tables, state.notes
    y_dev = dev["_y"].to_numpy()
    for m, p in list(probs.items()):  # a constant model has no ROC direction and no cut-off: left out, said why
        if np.ptp(p[dev.index].to_numpy(dtype=float)) == 0:
            state.leave_out(m, f"the fitted model predicts the same probability ({float(p[dev.index].iloc[0]):.4g}) "
                               "for every development patient (no ROC direction, no cut-off)")
        elif m in state.dev_probs:
            h = state.dev_probs[m]
            if h.notna().all() and np.ptp(h.to_numpy(dtype=float)) == 0:
                notes.append(f"{m}: every out-of-fold development prediction is the same, so no honest development "
                             "figure is reported for it.")
                state.dev_probs[m] = h * np.nan
    # the direction of each model is fixed on development data (the fitted model's own predictions)
    for m, p in probs.items():
        d = resolve_direction(y_dev, p[dev.index].to_numpy(dtype=float), "auto")
        state.directions[m] = d
        numbers[f"roc_direction/{m}"] = 1.0 if d == "<" else -1.0
        if d == ">":
            notes.append(f"{m}: on the development cohort higher predicted probabilities went with the controls, so "
                         "the ROC direction '>' (lower = case) was fixed there and carried to the test cohorts.")
    # the scores every figure is computed from: development rows hold the honest (out-of-fold) predictions
    scores_all: dict[str, pd.Series] = {}
    for m, p in probs.items():
        s = p.astype(float).copy()
        h = state.dev_probs.get(m)
        s[dev.index] = h.to_numpy(dtype=float) if h is not None else np.nan
        scores_all[m] = s
    state.scores = scores_all
    # internal validation of the logistic models (bootstrap on development)
    vals = {}
    for m in ("clinical", "deep_score", "combined"):
        if m in probs and m in models and type(models[m]).__name__ == "LogisticModel":
            cal = calibrate(models[m], n_boot=state.n_boot_cal, seed=val.seed, engine=eng, scheduler=state.scheduler)
            results[f"calibrate/{m}"] = cal
            numbers[f"cal_mean_abs_error/{m}"] = cal.mean_abs_error
            vr = validate(models[m], n_boot=state.n_boot, seed=val.seed, engine=eng, scheduler=state.scheduler)
            results[f"validate/{m}"] = vr
            vals[m] = vr
            for index in ("C", "Dxy", "Slope", "Intercept", "B", "R2"):
                numbers[f"validate_{index.lower()}/{m}"] = vr.corrected(index)
                numbers[f"validate_{index.lower()}_optimism/{m}"] = float(vr.table.loc[index, "optimism"])
    pred_rows = []
    perf: dict[tuple[str, str], tuple[Any, Any]] = {}
    calib: dict[tuple[str, str], dict] = {}
    rules = {}
    for m, p in probs.items():  # the cut-off is learnt from the fitted model's development predictions
        rules[m] = choose_threshold(dev["_y"], p[dev.index], rule="youden", direction=state.directions[m],
                                    source="development cohort", engine=eng)
        numbers[f"threshold/{m}"] = rules[m].value
    metrics = ("sensitivity", "specificity", "ppv", "npv", "accuracy", "f1")

    def calibration_entry(y: np.ndarray, pm: np.ndarray, m: str, c: str) -> dict:
        with warnings.catch_warnings():  # announced below, once, with the model and cohort
            warnings.filterwarnings("ignore", message=r".* are exactly 0 or 1 ", category=UserWarning)
            vp = val_prob(y, pm, engine=eng)
        try:
            hl = hosmer_lemeshow(y, pm, g=val.hl_groups, engine=eng)
        except InputError as exc:  # e.g. a model with two risk levels has no HL test: said, not fatal
            hl = None
            note = f"{m}, {c}: Hosmer-Lemeshow test not computed: {exc}"
            if note not in notes:
                notes.append(note)
        return {"hl": hl, "val_prob": vp}

    def calibration_numbers(entry: dict, m: str, c: str, suffix: str = "") -> None:
        hl = entry["hl"]
        numbers[f"hl_p{suffix}/{m}/{c}"] = hl.p_value if hl is not None else float("nan")
        numbers[f"hl_stat{suffix}/{m}/{c}"] = hl.statistic if hl is not None else float("nan")
        numbers[f"brier{suffix}/{m}/{c}"] = entry["val_prob"].Brier
        numbers[f"cal_intercept{suffix}/{m}/{c}"] = entry["val_prob"].intercept
        numbers[f"cal_slope{suffix}/{m}/{c}"] = entry["val_prob"].slope

    for c in cohorts:
        part = state.part(c)
        y = part["_y"].to_numpy()
        for m, p in probs.items():
            pa = p[part.index].to_numpy(dtype=float)  # the fitted model's predictions (apparent on development)
            pm = scores_all[m][part.index].to_numpy(dtype=float)
            pred_rows.append(pd.DataFrame({"patient_id": part[idc].astype(str).to_numpy(), "cohort": c, "model": m,
                                           "prob": pa, "y": y}))
            if len(np.unique(y)) < 2:
                notes.append(f"{c}: one outcome class only; no AUC for {m}.")
                continue
            direction = state.directions[m]
            if c == "development":
                a_app = roc_auc(y, pa, ci="delong", direction=direction, engine=eng)
                numbers[f"auc_apparent/{m}/{c}"] = a_app.auc
                numbers[f"auc_apparent_ci_low/{m}/{c}"] = a_app.ci_low
                numbers[f"auc_apparent_ci_high/{m}/{c}"] = a_app.ci_high
                d_app = diagnostic_metrics(y, pa, threshold=rules[m], role="development", engine=eng)
                for metric in metrics:
                    numbers[f"{metric}_apparent/{m}/{c}"] = d_app[metric]
                if m in ("clinical", "deep_score", "combined"):
                    calibration_numbers(calibration_entry(y, pa, m, c), m, c, "_apparent")
                if not np.isfinite(pm).all():
                    numbers[f"auc/{m}/{c}"] = float("nan")
                    continue
            a = roc_auc(y, pm, ci="delong", direction=direction, engine=eng)
            if c == "development":
                numbers[f"auc_cv/{m}/{c}"] = a.auc
                if state.dev_method.get(m) == "optimism-corrected" and m in vals:
                    vr = vals[m]
                    corrected = float(vr.corrected("C"))
                    ci = getattr(vr, "ci", None)
                    if ci is not None and "C" in ci.index and np.isfinite(ci.loc["C", ["ci_low", "ci_high"]]).all():
                        lo_, hi_ = float(ci.loc["C", "ci_low"]), float(ci.loc["C", "ci_high"])
                        how = f"bootstrap optimism-corrected ({vr.ci_method.split(' (')[0]} CI, Noma et al. 2021)"
                    else:  # the DeLong CI of the apparent AUC shifted by the optimism
                        shift = corrected - a_app.auc
                        lo_, hi_ = max(0.0, a_app.ci_low + shift), min(1.0, a_app.ci_high + shift)
                        how = "bootstrap optimism-corrected (CI: DeLong CI of the apparent AUC shifted by the optimism)"
                    a = replace(a_app, auc=corrected, ci_low=lo_, ci_high=hi_, z=float("nan"), p_value=float("nan"),
                                method=how)
            d = diagnostic_metrics(y, pm, threshold=rules[m], role="development" if c == "development" else "test",
                                   engine=eng)
            perf[(m, c)] = (a, d)
            numbers[f"auc/{m}/{c}"] = a.auc
            numbers[f"auc_ci_low/{m}/{c}"] = a.ci_low
            numbers[f"auc_ci_high/{m}/{c}"] = a.ci_high
            for metric in metrics:
                numbers[f"{metric}/{m}/{c}"] = d[metric]
            if m in ("clinical", "deep_score", "combined"):
                entry = calibration_entry(y, pm, m, c)
                if c == "development" and f"calibrate/{m}" in results:
                    entry["calibrate"] = results[f"calibrate/{m}"]
                calib[(m, c)] = entry
                vp = entry["val_prob"]
                if vp.n_extreme:
                    notes.append(f"{m}, {c}: {vp.n_extreme} prediction(s) of exactly 0 or 1 were left out "
                                 "of the logistic recalibration (intercept/slope), as rms val.prob does.")
                    warnings.warn(f"{m} model, {c} cohort: {extreme_predictions_message(vp.n_extreme, vp.n)}",
                                  UserWarning, stacklevel=find_stack_level())
                calibration_numbers(entry, m, c)
    state.predictions = (pd.concat(pred_rows, ignore_index=True) if pred_rows
                         else pd.DataFrame(columns=["patient_id", "cohort", "model", "prob", "y"]))
    state.perf, state.calibration, state.thresholds = perf, calib, rules
    results["performance"] = perf
    results["thresholds"] = rules
    results["calibration"] = calib
    results["directions"] = dict(state.directions)
    results["development_method"] = dict(state.dev_method)
    dev_note = _development_note(state)
    if perf:
        t = builders.performance_table(perf, thresholds=rules, title="Diagnostic performance by model and cohort")
        tables["performance"] = replace(t, footnotes=tuple(t.footnotes) + ((dev_note,) if dev_note else ()))
    if calib:
        t = builders.calibration_table(calib, title="Calibration of the logistic models")
        tables["calibration"] = replace(t, footnotes=tuple(t.footnotes) + (
            "Development: calibration of the out-of-fold (cross-validated) predictions; the bootstrap-corrected "
            "calibration curve is in the figures.",))
    if vals:
        t = builders.validation_table(vals, title="Internal validation of the logistic models (bootstrap, development cohort)")
        if "combined" in vals and "deep_score" in probs:
            t = replace(t, footnotes=tuple(t.footnotes) + (
                "The bootstrap refits the logistic step only: for the combined model the Deep Score (learnt on the "
                "same patients) is taken as given, so its optimism is under-estimated; its honest development AUC "
                "is the cross-validated one.",))
        tables["internal_validation"] = t

    comparisons, dcas = {}, {}
    lo, hi, step = val.dca_thresholds
    thresholds = np.round(np.arange(lo, hi + step / 2, step), 10)
    for c in cohorts:
        part = state.part(c)
        y = part["_y"].to_numpy()
        if len(np.unique(y)) < 2 or not probs:
            continue
        scores = {m: s[part.index].to_numpy(dtype=float) for m, s in scores_all.items()}
        scores = {m: s for m, s in scores.items() if np.isfinite(s).all()}
        if len(scores) >= 2:
            # one reading for every model: a model fixed at '>' on development is compared on its negated score
            oriented = {m: (s if state.directions[m] == "<" else -s) for m, s in scores.items()}
            comp = compare_aucs(y, oriented, p_adjust="holm", direction="<", engine=eng)
            comparisons[c] = comp
            for r in comp.pairs.to_dict("records"):
                numbers[f"delong_p/{r['model1']}~{r['model2']}/{c}"] = float(r["p_value"])
                numbers[f"delong_p_adj/{r['model1']}~{r['model2']}/{c}"] = float(r["p_adjusted"])
        if not scores:
            continue
        # bootstrap bands and paired differences (drawn and tabulated by stage_uncertainty)
        dc = decision_curve(y, scores, thresholds=thresholds, n_boot=band_n_boot(cfg, state.fast), seed=val.seed,
                            engine=eng, scheduler=state.scheduler)
        dcas[c] = dc
        for m in scores:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                rng = dc.useful_range(m)
            numbers[f"dca_useful_from/{m}/{c}"] = float(rng[0]) if rng else float("nan")
            numbers[f"dca_useful_to/{m}/{c}"] = float(rng[1]) if rng else float("nan")
    results["delong"] = comparisons
    results["dca"] = dcas
    if comparisons:
        t = builders.delong_table(comparisons)
        if "development" in comparisons:
            t = replace(t, footnotes=tuple(t.footnotes) + (
                "Development: compared on the out-of-fold (cross-validated) predictions of every model.",))
        tables["delong"] = t
    return state


def stage_centres(state: StudyState) -> StudyState:
    """Multicentre sections (:mod:`her2stats.reporting.sections_centre`), when configured: the
    development-fitted models validated per external centre and pooled; internal-external
    cross-validation by ``validation.by`` (every learnt step refitted per fold: clinical selection,
    logistic fit, the whole image pipeline, the combined model); ``subgroups:``; harmonisation
    diagnostics; the ``reader_study:``. Figures are written here (``outdir/figures``)."""
    import functools

    from .sections_centre import study_sections

    cfg = state.config
    ext = state.cohort["cohort_split"].astype(str).str.startswith("external")
    col = cfg.splits.column
    several = col in state.cohort.columns and state.cohort.loc[ext, col].nunique() >= 2
    if not (cfg.validation.scheme == "iecv" or cfg.subgroups is not None or cfg.reader_study is not None
            or (cfg.harmonization is not None and state.deep is not None) or several):
        return state
    state.say("centres and subgroups")
    if cfg.subgroups is not None and any(m in state.left_out for m in cfg.subgroups.models):
        absent = [m for m in cfg.subgroups.models if m in state.left_out]
        kept = [m for m in cfg.subgroups.models if m not in state.left_out]
        state.notes.append(f"Subgroups: {', '.join(absent)} left out of the evaluation (see the note(s) above), so "
                           + (f"the subgroup analysis covers {', '.join(kept)} only." if kept else
                              "no subgroup analysis is reported (subgroups.models names no other model)."))
        cfg = cfg.model_copy(update={"subgroups": cfg.subgroups.model_copy(update={"models": kept}) if kept else None})
        if not (cfg.validation.scheme == "iecv" or cfg.subgroups is not None or cfg.reader_study is not None
                or (cfg.harmonization is not None and state.deep is not None) or several):
            return state
    select = None
    if cfg.clinical is not None and cfg.clinical.selection != "none":
        select = functools.partial(select_clinical, outcome="_y", covariates=_model_covariates(cfg),
                                   how=cfg.clinical.selection, engine=state.engine, seed=cfg.validation.seed,
                                   rule=cfg.clinical)
    sec = study_sections(cfg, state.cohort, state.probs, state.engine, n_boot=state.n_boot, deep=state.deep,
                         select_clinical=select, scheduler=state.scheduler)
    state.results.update(sec.results)
    state.tables.update(sec.tables)
    state.numbers.update(sec.numbers)
    state.notes.extend(sec.notes)
    if state.outdir is None:
        sec.close_figures()
        return state
    from . import figures as F

    formats = ["png"] + [f for f in cfg.report.figure_formats if f != "png"]  # the report embeds the PNG
    for name, fig in sec.figures.items():
        state.figures[name] = F.save(fig, state.outdir / "figures" / name, formats=formats, style=cfg.report.style)[0]
    return state


def _development_note(state: StudyState) -> str:
    if not state.dev_method:
        return ""
    cv = [m for m, how in state.dev_method.items() if how == "cross-validated"]
    oc = [m for m, how in state.dev_method.items() if how == "optimism-corrected"]
    from .builders import model_label

    parts = []
    if cv:
        parts.append(f"{', '.join(model_label(m) for m in cv)}: out-of-fold predictions of a {len(state.folds)}-fold "
                     "cross-validation on the development cohort, every learnt step refitted in each fold")
    if oc:
        parts.append(f"{', '.join(model_label(m) for m in oc)}: AUC corrected for optimism by the bootstrap "
                     f"(B = {state.n_boot}), other figures from out-of-fold predictions")
    return ("Development figures are not in-sample: " + "; ".join(parts)
            + ". Apparent (in-sample) values are in numbers.json under *_apparent.")


def stage_regression(state: StudyState) -> StudyState:
    """The OR table (uni- and multivariable, development) and the nomogram of the final logistic model."""
    from ..data.labels import as_labels
    from ..stats.logistic import logistic_table
    from ..stats.nomogram import nomogram
    from . import builders

    cfg = state.config
    state.say("odds ratios and nomogram")
    if cfg.clinical is not None:
        outcome, numbers = cfg.cohort.outcome, state.numbers
        L = as_labels(cfg.labels)
        or_covs = list(state.results["clinical_covariates"]) + (["deep_score"] if "deep_score" in state.cohort.columns else [])
        lt = logistic_table(state.development, outcome, or_covs, stepwise=None, engine=state.engine)
        state.results["or_table"] = lt
        state.tables["or_table"] = builders.or_table(lt, title=f"Logistic regression of {L.var(outcome, unit=False)} "
                                                                f"(development cohort)", labels=state.labels_for(or_covs))
        for r in lt.frame.to_dict("records"):
            k = _term_key(r["variable"], r.get("level"))
            numbers[f"or/{k}"] = float(r["multi_or"])
            numbers[f"or_ci_low/{k}"] = float(r["multi_ci_low"])
            numbers[f"or_ci_high/{k}"] = float(r["multi_ci_high"])
            numbers[f"or_p/{k}"] = float(r["multi_p"])
            numbers[f"or_uni/{k}"] = float(r["uni_or"])
            numbers[f"or_uni_p/{k}"] = float(r["uni_p"])
        nom_model = state.models.get("combined", state.models["clinical"])
        state.results["nomogram"] = nomogram(nom_model, fun="risk", engine=state.engine)
    return state


def stage_survival(state: StudyState) -> StudyState:
    """Kaplan-Meier, log-rank and Cox model (when ``survival:`` is configured); with
    ``survival.predicted_by`` the same by the model's predicted class in the test cohorts."""
    if state.config.survival is not None:
        state.say("survival")
        _survival(state.cohort, state.config, state.engine, state.numbers, state.results, state.tables, state.notes)
        m = state.config.survival.predicted_by
        if m is not None and m in state.left_out:
            state.notes.append(f"Survival by predicted status: survival.predicted_by names {m}, which is left out of "
                               "the evaluation (see its note), so no survival analysis by predicted class is reported.")
        elif m is not None:
            _survival_predicted(state)
    return state


def _survival_predicted(state: StudyState) -> None:
    """Survival by the predicted class of ``survival.predicted_by`` (cut-off chosen on development) and
    Cox with its predicted probability, on the internal/external cohorts only (out-of-sample
    predictions). Numbers ``predicted/<key>``, results ``km_predicted``/``cox_predicted``, table
    ``cox_predicted``."""
    from ..stats._core import binary_outcome

    cfg, s = state.config, state.config.survival
    m = s.predicted_by
    if m not in state.probs:
        raise ConfigError(f"survival.predicted_by: {m!r} is not a model of this study; its models: "
                          f"{', '.join(state.probs) or 'none'}")
    df = state.cohort
    test = df["cohort_split"] != "development"
    if not test.any():
        raise ConfigError("survival.predicted_by needs a test cohort (splits.internal_fraction > 0 or splits.external): "
                          "development predictions are in-sample")
    coded = binary_outcome(df[cfg.cohort.outcome], cfg.cohort.outcome)
    group, prob = f"predicted_{m}", f"predicted_{m}_prob"
    if group in df.columns or prob in df.columns:
        raise InputError(f"the cohort already has a column {group!r} or {prob!r}; rename it to use survival.predicted_by")
    p = state.probs[m][df.index].to_numpy(dtype=float)
    levels = [f"predicted {coded.reference}", f"predicted {coded.event}"]
    cls = np.where(state.thresholds[m].apply(p) == 1, levels[1], levels[0])
    part = df.assign(**{group: pd.Categorical(cls, categories=levels), prob: p}).loc[test]
    sub = s.model_copy(update={"group": group, "covariates": [prob] + [c for c in s.covariates if c != s.group]})
    numbers, results, tables = {}, {}, {}
    try:
        _survival(part, cfg.model_copy(update={"survival": sub}), state.engine, numbers, results, tables, state.notes)
    except EmptyModelError:
        # a finding, not a failure: on the test cohort(s) neither the predicted probability nor any covariate
        # improves the AIC; the Kaplan-Meier curves and log-rank test by predicted class are still reported
        from ..stats.survival import kaplan_meier

        kdf = part[part[[s.duration, s.event, group]].notna().all(axis=1)]
        km = kaplan_meier(kdf, s.duration, s.event, group=group, engine=state.engine)
        results = {"km": km}
        numbers = {"survival/n_km": float(len(kdf)), "logrank_p": float(km.logrank.p_value),
                   "logrank_chisq": float(km.logrank.statistic), "cox_stepwise_empty": 1.0}
        state.notes.append(f"Survival by the {m} model's predicted class: the stepwise Cox model ({s.stepwise}, AIC) on "
                           "the test cohort(s) removed every covariate, the predicted probability included (the null "
                           "model has the lowest AIC), so no predicted-status Cox model is reported; the Kaplan-Meier "
                           "curves and log-rank test by predicted class are.")
    state.numbers.update({f"predicted/{k}": v for k, v in numbers.items()})
    state.numbers["predicted/threshold"] = float(state.thresholds[m].value)
    state.results.update({f"{k}_predicted": v for k, v in results.items()})
    state.tables.update({f"{k}_predicted": v for k, v in tables.items()})
    cox_part = "" if "cox_stepwise_empty" in numbers else " and its predicted probability as a Cox covariate"
    state.notes.append(f"Survival by the {m} model's predicted class ({state.thresholds[m].label}){cox_part}: "
                       f"{int(test.sum())} patient(s) of the test cohort(s), whose predictions are out of sample.")


def stage_outputs(state: StudyState) -> StudyState:
    """Figures, tables, predictions.csv, flow, methods paragraph, TRIPOD+AI checklist and
    numbers.json, written into ``outdir``."""
    from . import builders

    state.say("figures")
    cfg, out, tables, results = state.config, state.outdir, state.tables, state.results
    df, cohorts, probs = state.cohort, state.cohorts, state.probs
    lasso_res = state.deep.get("lasso") if state.deep is not None else None
    # development curves are drawn from the honest (out-of-fold) predictions, like their numbers
    state.figures = {**_figures(out, cohorts, df, state.scores or probs, state.perf, results, lasso_res, cfg,
                                deep=state.deep, gradcam=state.pending.pop("gradcam", None)),
                     **state.figures}  # the centre sections and the whole-pipeline validation wrote theirs already
    for name, table in tables.items():
        table.save(out / "tables" / name)
    state.predictions.to_csv(out / "predictions.csv", index=False)
    if state.dev_probs:
        dev = state.development
        fold = np.zeros(len(dev), dtype=int)
        for i, (_, test) in enumerate(state.folds, start=1):
            fold[test] = i
        pd.concat([pd.DataFrame({"patient_id": dev[cfg.cohort.id_column].astype(str).to_numpy(), "model": m,
                                 "fold": fold, "prob": p.to_numpy(dtype=float), "y": dev["_y"].to_numpy()})
                   for m, p in state.dev_probs.items()], ignore_index=True).to_csv(out / "predictions_cv.csv", index=False)
    flow_df = state.flow.frame()
    flow_df.to_csv(out / "flow.csv", index=False)
    tables["flow"] = builders.flow_table(flow_df)
    tables["flow"].save(out / "tables" / "flow")
    state.versions = {**_versions(), **_r_versions(state.engine)}
    if state.left_out:
        results["left_out"] = dict(state.left_out)
    state.methods = _methods(cfg, state.engine, state.fast, state.n_boot, state.n_boot_cal, df, cohorts, probs,
                             results, state.versions, state.notes, n_folds=len(state.folds))
    if probs:
        results["tripod"] = _tripod(cfg, df, cohorts, flow_df, probs, results, state.versions, cfg.cohort.outcome,
                                    numbers=state.numbers, tables=tables)
        tables["tripod"] = builders.tripod_table(results["tripod"])
        tables["tripod"].save(out / "tables" / "tripod")
    (out / "methods.md").write_text(state.methods, encoding="utf-8")
    numbers = state.numbers
    (out / "numbers.json").write_text(json.dumps({k: (None if not np.isfinite(v) else v) for k, v in numbers.items()},
                                                 indent=1, sort_keys=True), encoding="utf-8")
    return state


def stage_imputation(state: StudyState) -> StudyState:
    """The imputed main analysis of the clinical model (``imputation:``; :mod:`her2stats.reporting.imputed`)."""
    from .imputed import stage_imputation as run

    return run(state)


def stage_pipeline_validation(state: StudyState) -> StudyState:
    """Internal validation of the whole pipeline (``pipeline_validation:``;
    :mod:`her2stats.reporting.pipeline_section`)."""
    from .pipeline_section import stage_pipeline_validation as run

    return run(state)


#: the study, stage by stage (:func:`run_study` applies them in this order)
STAGES: tuple[Callable[[StudyState], StudyState], ...] = (
    stage_cohort, stage_features, stage_describe, stage_agreement, stage_selection, stage_models, stage_crossval,
    stage_zoo,
    stage_segmentation,  # trained segmentation network (`segmentation:`): predicted masks for the image models
    stage_image_models,
    stage_networks,  # trained networks (`networks:`): after the image models, before the fusion that may use them
    stage_fusion,
    stage_evaluation, stage_uncertainty, stage_centres, stage_regression, stage_imputation,
    stage_pipeline_validation, stage_survival, stage_outputs)


def _model_covariates(cfg: StudyConfig) -> list[str]:
    return list(cfg.clinical.covariates) if cfg.clinical else []


# ---------------------------------------------------------------------------------- helpers of the stages
def _assign_splits(df: pd.DataFrame, cfg: StudyConfig, flow: _Flow) -> pd.DataFrame:
    from ..data import make_splits

    s = cfg.splits
    outcome = cfg.cohort.outcome
    if s.by == "center":
        if s.column not in df.columns:
            raise InputError(f"splits.column {s.column!r} is not in the cohort")
        if not s.train:
            raise ConfigError("splits.train must list the development centre(s) when splits.by is 'center'")
        known = set(map(str, s.train)) | set(map(str, s.external))
        df = flow.exclude(df, df[s.column].astype(str).isin(known), "centre in splits.train/external",
                          f"{s.column} not in {sorted(known)}")
        if s.external:
            sp = make_splits(df, by="center", stratify=outcome, test_size=s.internal_fraction, seed=s.seed,
                             external=[str(e) for e in s.external], id_col=cfg.cohort.id_column, center_col=s.column)
        else:
            sp = make_splits(df, by=None, stratify=outcome, test_size=s.internal_fraction, seed=s.seed,
                             id_col=cfg.cohort.id_column, center_col=s.column)
    else:
        sp = make_splits(df, by=None, stratify=outcome, test_size=s.internal_fraction, seed=s.seed,
                         id_col=cfg.cohort.id_column, center_col=s.column, stratify_center=s.column in df.columns)
    split = sp["split"].astype(str)
    several = len(s.external) > 1
    centre = df[s.column].astype(str) if s.column in df.columns else pd.Series("", index=df.index)
    label = np.where(split == "train", "development",
                     np.where(split == "internal", "internal",
                              np.where(several, "external:" + centre, "external")))
    out = df.copy()
    out["cohort_split"] = pd.Series(label, index=df.index).astype(str)
    return out


def _assign_splits_by_completeness(df: pd.DataFrame, cfg: StudyConfig, flow: _Flow, complete: pd.Series) -> pd.DataFrame:
    """:func:`_assign_splits` applied to the complete and the incomplete rows separately
    (:func:`her2stats.reporting.imputed.split_by_completeness`); the exclusions it makes (centres
    outside the config) are counted once, summed over both parts."""
    from .imputed import split_by_completeness

    flows: list[_Flow] = []
    s = cfg.splits

    def assign(part: pd.DataFrame) -> pd.DataFrame:
        f = _Flow(len(part), "")
        flows.append(f)
        if len(flows) == 1 or s.by != "center" or not s.external:
            return _assign_splits(part, cfg, f)  # the complete cases: exactly a run without imputation
        # the incomplete rows may come from only some of the external centres: split them among those,
        # labelled as the whole config labels them
        present = set(part[s.column].astype(str)) if s.column in part.columns else set()
        ext = [e for e in s.external if str(e) in present]
        sub = cfg.model_copy(update={"splits": s.model_copy(update={"external": ext})})
        out = _assign_splits(part, sub, f)
        if len(s.external) > 1:
            is_ext = out["cohort_split"] == "external"
            out.loc[is_ext, "cohort_split"] = "external:" + out.loc[is_ext, s.column].astype(str)
        return out

    out = split_by_completeness(df, complete, assign)
    flow.excluded += [e for f in flows for e in f.excluded]
    for i, row in enumerate(flows[0].rows[1:], start=1):
        flow.rows.append({**row, "n_remaining": len(out), "n_excluded": sum(f.rows[i]["n_excluded"] for f in flows
                                                                            if len(f.rows) > i)})
    return out


def _imaging(df: pd.DataFrame, cfg: StudyConfig, flow: _Flow, fast: bool, eng: str, numbers: dict,
             notes: list, scheduler: Any = None) -> tuple[pd.DataFrame, dict]:
    from sklearn.pipeline import Pipeline

    from ..features import DeepFeatureExtractor
    from ..models import DeepScore
    from ..selection import CorrelationFilter, LassoSelector, UnivariateFilter, make_pca

    im = cfg.imaging
    idc = cfg.cohort.id_column
    if im.intensity_histograms is not None and im.intensity_histograms not in df.columns:
        raise ConfigError(f"imaging.intensity_histograms: column {im.intensity_histograms!r} is not in the cohort")
    from .image_table import extract_features, read_image_table

    second_col = im.icc.second_segmentation.column if im.icc is not None else None
    index = read_image_table(cfg, im.images, "imaging.images", ["mask_path"] + ([second_col] if second_col else []))
    if im.icc is not None and im.icc.second_segmentation.column is not None \
            and im.icc.second_segmentation.column not in index.columns:
        raise ConfigError(f"imaging.icc.second_segmentation.column: the image table has no column "
                          f"{im.icc.second_segmentation.column!r} (columns: {[str(c) for c in index.columns]})")
    all_sequences = index
    if im.sequences:
        index = index[index["sequence"].isin(im.sequences)]
    ids = df[idc].astype(str)
    if fast:
        # a seeded sample inside each cohort split so every cohort keeps both classes
        frac = min(1.0, im.fast_patients / max(len(df), 1))
        rng = np.random.default_rng(cfg.splits.seed)
        keep_ids = set()
        for _, part in df.groupby(["cohort_split", "_y"] if "_y" in df else ["cohort_split"], observed=True):
            k = max(2, int(round(frac * len(part))))
            keep_ids.update(rng.choice(part[idc].astype(str).to_numpy(), size=min(k, len(part)), replace=False))
        df = flow.exclude(df, ids.isin(keep_ids), "fast mode: image subset",
                          f"not in the {im.fast_patients}-patient sample of run_study(fast=True)")
        ids = df[idc].astype(str)
    df = flow.exclude(df, ids.isin(set(index["patient_id"].astype(str))), "images available", "no image in imaging.images")
    index = index[index["patient_id"].astype(str).isin(set(df[idc].astype(str)))]
    cache = cfg.resolve(im.cache_dir) if im.cache_dir is not None else cache_root() / "features"
    extra: dict = {}
    if im.motion_correction is not None:
        index = _motion_correct(index, all_sequences, im.motion_correction, cache, cfg.validation.seed, numbers,
                                notes, extra)
    fx = DeepFeatureExtractor(im.backbone, pretrained=im.pretrained, margin=im.margin, on_border=im.on_border,
                              sequences=im.sequences or None, cache_dir=cache, on_error="skip", progress=False,
                              scheduler=scheduler, register_to=im.register_to,
                              spacing=None if im.spacing is None else tuple(im.spacing), normalize=im.normalize)
    X = extract_features(fx, index, notes)
    df = flow.exclude(df, df[idc].astype(str).isin(set(X.index.astype(str))), "image features extracted",
                      "feature extraction failed (see features/failures.csv)")
    X = X.loc[df[idc].astype(str).to_numpy()]
    numbers["features/n_extracted"] = float(X.shape[1])
    numbers["features/cache_hits"] = float(fx.cache_stats_.get("hits", 0))
    feature_columns = list(X.columns)
    if im.icc is not None:
        df, X = _second_segmentation(df, X, index, fx, im, idc, cache, flow, numbers, notes, extra)
    dev_mask = (df["cohort_split"] == "development").to_numpy()
    steps = []
    if im.icc is not None:  # first step: ICC of the raw features on the (fold's) development patients
        from ..selection import PairedICCFilter

        steps.append(("icc", PairedICCFilter(threshold=im.icc.threshold, comparison=im.icc.comparison,
                                             kind=im.icc.kind)))
    if cfg.harmonization is not None:  # ComBat is the first step of the fold pipeline (after the ICC filter)
        from ..harmonization import study_step

        Xh, step = study_step(cfg.harmonization, df, X[feature_columns], notes)
        if im.icc is not None:
            # ComBat harmonises what the ICC filter kept: every numeric column but the batch and covariates
            step = (step[0], step[1].set_params(features=None))
            X = Xh.join(X.drop(columns=feature_columns))
        else:
            X = Xh
        steps.append(step)
    if im.pca_components:
        steps.append(("pca", make_pca(im.pca_components)))
    steps += [("univariate", UnivariateFilter(test="t", alpha=im.univariate_alpha)),
              ("correlation", CorrelationFilter(threshold=im.correlation_threshold)),
              ("lasso", LassoSelector(cv=im.lasso_cv, lambda_rule=im.lambda_rule, engine=eng, seed=cfg.validation.seed)),
              ("deepscore", DeepScore())]
    pipe = Pipeline(steps)
    y_dev = df["_y"].to_numpy()[dev_mask]
    pipe.fit(X.iloc[dev_mask], y_dev)  # every selection step sees development patients only
    score = pipe.decision_function(X)
    prob = pipe.predict_proba(X)[:, 1]
    df = df.assign(deep_score=np.asarray(score, dtype=float), deep_prob=np.asarray(prob, dtype=float))
    report = []
    n_in = int(numbers["features/n_extracted"])
    Xt = X.iloc[:2]
    for name, step in pipe.steps[:-1]:  # each step sees what the previous one gave (PCA components...)
        Xt = step.transform(Xt)
        n_out = int(Xt.shape[1]) - (len(step.passthrough_) if name == "icc" else 0)
        report.append({"step": name, "features_in": n_in, "features_out": n_out})
        numbers[f"features/after_{name}"] = float(n_out)
        n_in = n_out
    lasso = pipe.named_steps["lasso"]
    out = {"pipeline": pipe, "report": pd.DataFrame(report), "lasso": getattr(lasso, "cv_result_", None),
           "extractor": fx, "X": X, "index": index, "feature_columns": feature_columns, **extra}
    if im.icc is not None:
        icc_step = pipe.named_steps["icc"]
        out["icc"] = icc_step
        kept = int(icc_step.report_["kept"].sum())
        numbers["icc/n_features"] = float(len(icc_step.report_))
        numbers["icc/n_kept"] = float(kept)
        numbers["icc/threshold"] = float(im.icc.threshold)
        numbers["icc/median"] = float(np.nanmedian(icc_step.report_["icc"].to_numpy(dtype=float)))
        notes.append(f"Feature reproducibility: the {im.icc.kind} intraclass correlation of every image feature between "
                     f"the first segmentation and {im.icc.second_segmentation.describe()} was computed on the "
                     f"development patients ({int(dev_mask.sum())}); {kept} of {len(icc_step.report_)} features had ICC "
                     f"{im.icc.comparison} {im.icc.threshold:g} and entered the univariate screen. The filter is "
                     "refitted on the training patients of every cross-validation fold.")
    numbers["features/selected"] = float(len(pipe.named_steps["deepscore"].coef_))
    if len(pipe.named_steps["deepscore"].coef_) == 0:
        notes.append("LASSO kept no image feature: the Deep Score is constant, so the deep and combined models "
                     "were not fitted.")
        df = df.drop(columns=["deep_score", "deep_prob"])
    return df, out


def _motion_correct(index: pd.DataFrame, all_sequences: pd.DataFrame, mc: Any, cache: Path, seed: int, numbers: dict,
                    notes: list, extra: dict) -> pd.DataFrame:
    """``imaging.motion_correction``: register the DCE phases of every analysed patient onto the
    reference phase (:func:`her2stats.correct_motion_cases`), written to ``cache/motion/<key>/``; the
    extraction then reads the registered phases (their content is in the feature cache key)."""
    import hashlib
    import json

    from ..imaging import correct_motion_cases

    patients = set(index["patient_id"].astype(str))
    cases = all_sequences[all_sequences["patient_id"].astype(str).isin(patients)
                          & all_sequences["sequence"].astype(str).isin(list(mc.phases))]
    key = hashlib.sha256(json.dumps({"phases": list(mc.phases), "reference": mc.reference, "transform": mc.transform,
                                     "iterations": mc.iterations, "seed": seed}, sort_keys=True).encode()).hexdigest()[:16]
    corrected, log = correct_motion_cases(cases, list(mc.phases), mc.reference, out_dir=cache / "motion" / key,
                                          transform=mc.transform, iterations=mc.iterations, seed=seed)
    new_path = {(str(r["patient_id"]), str(r["sequence"])): r["image_path"] for r in corrected.to_dict("records")}
    index = index.copy()
    index["image_path"] = [new_path.get((str(p), str(q)), ip)
                           for p, q, ip in zip(index["patient_id"], index["sequence"], index["image_path"])]
    extra["motion"] = log
    n = int(log["patient_id"].nunique()) if len(log) else 0
    numbers["motion/n_patients"] = float(n)
    disp = [c for c in log.columns if "displacement" in c]
    if disp and len(log):
        numbers["motion/mean_displacement_mm"] = float(np.nanmean(log[disp[0]].to_numpy(dtype=float)))
    ref = mc.reference or mc.phases[0]
    notes.append(f"Motion correction: the DCE phases {', '.join(mc.phases)} of {n} patients were registered "
                 f"({mc.transform}, Mattes mutual information, {mc.iterations} iterations) onto the {ref} phase "
                 "before feature extraction (her2stats.correct_motion_cases; log in features/motion.csv).")
    return index


def _second_segmentation(df: pd.DataFrame, X: pd.DataFrame, index: pd.DataFrame, fx: Any, im: Any, idc: str,
                         cache: Path, flow: _Flow, numbers: dict, notes: list, extra: dict
                         ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``imaging.icc``: the features of the second segmentation (a second reader's mask column, or the
    eroded/dilated mask: :func:`her2stats.perturb_mask_cases`), extracted by the same (cached)
    extractor and appended to ``X`` as ``<feature>~seg2`` columns, so that they travel with the rows
    into every cross-validation fold. Patients without a second segmentation are excluded (counted)."""
    from ..selection.icc import SECOND_SEGMENTATION_SUFFIX
    from .image_table import extract_features

    seg = im.icc.second_segmentation
    if seg.column is not None:
        index2 = index.assign(mask_path=index[seg.column].to_numpy())
    else:
        from ..imaging import perturb_mask_cases

        op, n = ("erode", seg.erode) if seg.erode is not None else ("dilate", seg.dilate)
        index2, log = perturb_mask_cases(index, op, n, out_dir=cache / "masks_perturbed")
        extra["perturbation"] = log
        if len(log):
            numbers["icc/perturbed_voxels_ratio"] = float(np.nanmedian(
                log["voxels_after"].to_numpy(dtype=float) / np.maximum(log["voxels_before"].to_numpy(dtype=float), 1)))
    has = index2.groupby(index2["patient_id"].astype(str))["mask_path"].apply(lambda m: bool(m.notna().all()))
    ok = set(has.index[has.to_numpy()])
    df = flow.exclude(df, df[idc].astype(str).isin(ok), "second segmentation available (imaging.icc)",
                      "no second segmentation (missing mask in the second-segmentation column, or a perturbed mask "
                      "that is empty)")
    index2 = index2[index2["patient_id"].astype(str).isin(set(df[idc].astype(str)))]
    # an extractor of its own with the same settings (the study's extractor keeps reporting the first
    # segmentation; its parameters, not a copy of its scheduler object)
    fx2 = type(fx)(**fx.get_params(deep=False))
    X2 = extract_features(fx2, index2, notes, prefix="Second segmentation: ")
    extra["failures_second"] = fx2.failures_
    numbers["icc/cache_hits"] = float(fx2.cache_stats_.get("hits", 0))
    df = flow.exclude(df, df[idc].astype(str).isin(set(X2.index.astype(str))),
                      "second-segmentation features extracted (imaging.icc)",
                      "feature extraction from the second segmentation failed")
    ids = df[idc].astype(str).to_numpy()
    X2 = X2.loc[ids]
    X2.columns = [f"{c}{SECOND_SEGMENTATION_SUFFIX}" for c in X2.columns]
    return df, X.loc[ids].join(X2)


def _cox_numbers(numbers: dict, result: Any, hr: str, c: str) -> None:
    """A Cox result's hazard ratios (``<hr>/``, ``<hr>_ci_low/``, ``<hr>_ci_high/``, ``<hr>_p/`` per
    term) and concordance (``<c>``, ``<c>_ci_low``, ``<c>_ci_high``) into ``numbers``."""
    for r in result.summary.to_dict("records"):
        numbers[f"{hr}/{r['term']}"] = float(r["HR"])
        numbers[f"{hr}_ci_low/{r['term']}"] = float(r["ci_low"])
        numbers[f"{hr}_ci_high/{r['term']}"] = float(r["ci_high"])
        numbers[f"{hr}_p/{r['term']}"] = float(r["p_value"])
    numbers[c] = float(result.concordance.concordance)
    numbers[f"{c}_ci_low"] = float(result.concordance.ci_low)
    numbers[f"{c}_ci_high"] = float(result.concordance.ci_high)


def _zoo_design(df: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    X = pd.get_dummies(df[cols], drop_first=True, dtype=float)
    X.index = df.index
    return X


def _survival(df: pd.DataFrame, cfg: StudyConfig, eng: str, numbers: dict, results: dict, tables: dict,
              notes: list) -> None:
    from ..stats.survival import cox, kaplan_meier
    from . import builders

    s = cfg.survival
    for col in [s.duration, s.event, s.group] + list(s.covariates) + list(s.strata):
        if col not in df.columns:
            raise InputError(f"survival: column {col!r} is not in the cohort")
    # Kaplan-Meier and log-rank use everyone with follow-up and a group; the Cox model needs its
    # covariates too. Both exclusions are counted separately.
    ok_km = df[[s.duration, s.event, s.group]].notna().all(axis=1)
    ok = ok_km & df[list(s.covariates)].notna().all(axis=1)
    kdf = df.loc[ok_km]
    sdf = df.loc[ok]
    numbers["survival/n_km"] = float(len(kdf))
    numbers["survival/n_km_excluded"] = float((~ok_km).sum())
    numbers["survival/n"] = float(len(sdf))
    numbers["survival/n_excluded"] = float((~ok).sum())
    if (~ok_km).sum():
        notes.append(f"Kaplan-Meier/log-rank: {int((~ok_km).sum())} patient(s) excluded for missing follow-up or "
                     f"{s.group}.")
    if (ok_km & ~ok).sum():
        notes.append(f"Cox model: a further {int((ok_km & ~ok).sum())} patient(s) excluded for missing covariates "
                     f"({', '.join(s.covariates)}); the model uses {len(sdf)} complete cases.")
    km = kaplan_meier(kdf, s.duration, s.event, group=s.group, engine=eng)
    results["km"] = km
    numbers["logrank_p"] = float(km.logrank.p_value)
    numbers["logrank_chisq"] = float(km.logrank.statistic)
    covs = [s.group] + [c for c in s.covariates if c != s.group]
    cr = cox(sdf, s.duration, s.event, covs, stepwise=s.stepwise, engine=eng)
    results["cox"] = cr
    ph = cr.ph_test()
    results["ph_test"] = ph
    _cox_numbers(numbers, cr, "hr", "cox_c")
    glob = ph.table[ph.table["term"].astype(str).str.upper() == "GLOBAL"]
    if len(glob):
        numbers["ph_global_p"] = float(glob["p_value"].iloc[0])
    from ..data.labels import as_labels

    L = as_labels(cfg.labels)
    tables["cox"] = builders.cox_table(cr, title=f"Cox regression: {L.var(s.duration, unit=False)} "
                                                 f"({L.var(s.event, unit=False).lower()})", ph=ph,
                                       labels={k: v for k, v in cfg.labels.items() if k in covs})
    if s.strata:
        _survival_stratified(sdf, cfg, eng, cr, ph, numbers, results, tables, notes)
    if s.tt:
        _survival_tt(sdf, cfg, eng, cr, numbers, results, tables)
    if s.rmst_tau is not None:
        _survival_rmst(kdf, cfg, eng, numbers, results, tables)


def _survival_tt(sdf: pd.DataFrame, cfg: StudyConfig, eng: str, cr: Any, numbers: dict, results: dict,
                 tables: dict) -> None:
    """The Cox model (stratified when ``survival.strata`` is set) with time-varying coefficients
    for the ``survival.tt`` covariates."""
    from ..data.labels import as_labels
    from ..stats.cox_tt import cox_tt
    from . import builders

    s = cfg.survival
    L = as_labels(cfg.labels)
    covs = [c for c in cr.covariates if c not in s.strata]
    for c in [s.group, *s.tt]:
        if c not in covs:
            covs.append(c)
    rows = sdf.loc[sdf[list(s.strata)].notna().all(axis=1)] if s.strata else sdf
    res = cox_tt(rows, s.duration, s.event, covs, tt=dict(s.tt), strata=list(s.strata) or None, engine=eng)
    results["cox_tt"] = res
    for r in res.summary.to_dict("records"):
        numbers[f"hr_tt/{r['term']}"] = float(r["HR"])
        numbers[f"hr_tt_p/{r['term']}"] = float(r["p_value"])
    what = ", ".join(f"{L.var(c, unit=False)} ({'log time' if k == 'log' else f'step at {k:g} {s.time_unit}'})"
                     for c, k in s.tt.items())
    strat = f", stratified by {', '.join(L.var(c, unit=False) for c in s.strata)}" if s.strata else ""
    # the hazard ratio of each time-varying column at the report's horizons
    per_year = {"days": 365.25, "months": 12.0, "years": 1.0}[s.time_unit]
    at = []
    for term in res.summary["term"]:
        base, _, tpart = str(term).partition(":")
        if not tpart:
            continue
        hr = res.hazard_ratio_at(base, [h * per_year for h in s.horizons_years])
        for h, r in zip(s.horizons_years, hr.to_dict("records")):
            numbers[f"hr_tt_at/{base}/{h:g}y"] = float(r["HR"])
        row = res.summary.loc[res.summary["term"] == base].iloc[0]
        name = (L.term(row["covariate"], base.split("=", 1)[1], row["reference"]) if row["reference"] is not None
                and "=" in base else L.var(base, unit=False))
        at.append(f"HR of {name} at " + ", ".join(
            f"{h:g} y: {r['HR']:.2f} ({r['ci_low']:.2f}\u2013{r['ci_high']:.2f})"
            for h, r in zip(s.horizons_years, hr.to_dict("records"))) + ".")
    tables["cox_tt"] = builders.cox_tt_table(res, title=f"Cox regression with time-varying coefficients for {what}"
                                             f"{strat}", labels={k: v for k, v in cfg.labels.items() if k in covs},
                                             time_unit=s.time_unit, notes=at)


def _survival_stratified(sdf: pd.DataFrame, cfg: StudyConfig, eng: str, cr: Any, ph: Any, numbers: dict,
                         results: dict, tables: dict, notes: list) -> None:
    """The Cox model again, stratified by ``survival.strata`` (the covariates that violate
    proportional hazards get one baseline hazard per level instead of a hazard ratio)."""
    from ..data.labels import as_labels
    from ..stats.cox import cox
    from . import builders

    s = cfg.survival
    L = as_labels(cfg.labels)
    covs = [c for c in cr.covariates if c not in s.strata]
    if s.group not in covs:
        covs = [s.group] + covs
    rows = sdf.loc[sdf[list(s.strata)].notna().all(axis=1)]
    if len(rows) < len(sdf):
        notes.append(f"Stratified Cox model: {len(sdf) - len(rows)} patient(s) excluded for a missing stratum "
                     f"({', '.join(s.strata)}).")
    st = cox(rows, s.duration, s.event, covs, strata=list(s.strata), engine=eng)
    results["cox_stratified"] = st
    ph_st = st.ph_test()
    results["ph_test_stratified"] = ph_st
    _cox_numbers(numbers, st, "hr_strat", "cox_strat_c")
    numbers["cox_strat/n"] = float(st.n)
    numbers["ph_strat_global_p"] = float(ph_st.global_p)
    why = ""
    tab = ph.table[ph.table["term"].isin(list(s.strata))]
    if len(tab):
        why = " (" + "; ".join(f"{L.var(t, unit=False)}: PH test P = {p:.3g}" for t, p in
                               zip(tab["term"], tab["p_value"])) + ")"
    tables["cox_stratified"] = builders.cox_table(
        st, title=f"Cox regression stratified by {', '.join(L.var(c, unit=False) for c in s.strata)}{why}", ph=ph_st,
        labels={k: v for k, v in cfg.labels.items() if k in covs})


def _survival_rmst(kdf: pd.DataFrame, cfg: StudyConfig, eng: str, numbers: dict, results: dict, tables: dict) -> None:
    """Restricted mean survival time by group up to ``survival.rmst_tau``: a contrast that needs no
    proportional hazards."""
    from ..stats.rmst import rmst
    from . import builders

    s = cfg.survival
    res = rmst(kdf, s.duration, s.event, group=s.group, tau=float(s.rmst_tau), engine=eng)
    results["rmst"] = res
    g = res.groups
    for r in g.to_dict("records"):
        numbers[f"rmst/{r['group']}"] = float(r["rmst"])
        numbers[f"rmst_ci_low/{r['group']}"] = float(r["ci_low"])
        numbers[f"rmst_ci_high/{r['group']}"] = float(r["ci_high"])
    key = {"RMST difference": "rmst_diff", "RMST ratio": "rmst_ratio", "RMTL ratio": "rmtl_ratio"}
    for r in res.contrasts.to_dict("records"):
        k = key.get(r["contrast"])
        if k is None:
            continue
        numbers[f"{k}/{r['group']}"] = float(r["estimate"])
        numbers[f"{k}_ci_low/{r['group']}"] = float(r["ci_low"])
        numbers[f"{k}_ci_high/{r['group']}"] = float(r["ci_high"])
        numbers[f"{k}_p/{r['group']}"] = float(r["p_value"])
    numbers["rmst_tau"] = float(s.rmst_tau)
    tables["rmst"] = builders.rmst_table(res, time_unit=s.time_unit, labels=cfg.labels, group=s.group)


def _figures(out: Path, cohorts: list[str], df: pd.DataFrame, probs: dict, perf: dict, results: dict,
             lasso_res: Any, cfg: StudyConfig, deep: dict | None = None, gradcam: Any = None) -> dict[str, Path]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from ..data.labels import as_labels
    from . import figures as F

    figs: dict[str, Path] = {}
    rep = cfg.report
    st = rep.style
    formats = ["png"] + [f for f in rep.figure_formats if f != "png"]  # the report embeds the PNG
    L = as_labels(cfg.labels)

    def lab(cols: Any) -> dict:
        cols = set(map(str, cols))
        return {k: v for k, v in cfg.labels.items() if k in cols}

    def keep(name: str, fig: Any) -> None:
        paths = F.save(fig, out / "figures" / name, formats=formats, style=st)
        figs[name] = paths[0]

    panels, panel_bands, panel_points = {}, {}, {}
    roc_bands = results.get("roc_bands", {})
    for c in cohorts:
        part = df[df["cohort_split"] == c]
        curves = {m: (part["_y"].to_numpy(), p[part.index].to_numpy(dtype=float)) for m, p in probs.items() if (m, c) in perf}
        if curves:
            aucs = {m: perf[(m, c)][0] for m in curves}
            title = F.cohort_title(c)
            panels[title] = (curves, aucs)
            # the band of each curve and the operating point of the development cut-off
            panel_bands[title] = roc_bands.get(c, {})
            panel_points[title] = {m: perf[(m, c)][1] for m in curves}
            keep(f"roc_{c.replace(':', '_')}", F.roc_figure(curves, aucs, title=title, style=st,
                                                            bands=panel_bands[title], points=panel_points[title]))
    if len(panels) > 1:
        keep("roc_panels", F.roc_panels(panels, style=st, bands=panel_bands, points=panel_points))
    for key, cal in results.items():
        if key.startswith("calibrate/"):
            m = key.split("/", 1)[1]
            keep(f"calibration_{m}", F.calibration_figure(cal, title=f"{F.model_label(m)}, development (bootstrap)",
                                                          style=st))
    hier = results.get("calibration_hierarchy", {})
    for m in dict.fromkeys(m for m, _ in hier):
        # development: the out-of-fold predictions the hierarchy was computed from (a model without them
        # has no honest development calibration, and no development panel)
        per = {F.cohort_title(c) + (" (out-of-fold)" if c == "development" else ""): (c, h)
               for (mm, c), h in hier.items() if mm == m}
        preds = {t: probs[m][df.index[df["cohort_split"] == c]].to_numpy(dtype=float) for t, (c, _) in per.items()}
        per = {t: v for t, v in per.items() if np.isfinite(preds[t]).all()}
        preds = {t: preds[t] for t in per}
        corrected = {t: results[f"calibrate/{m}"] for t, (c, _) in per.items()
                     if c == "development" and f"calibrate/{m}" in results}
        keep(f"calibration_bands_{m}", F.calibration_band_figure({t: h for t, (_, h) in per.items()}, predictions=preds,
                                                                 corrected=corrected, title=F.model_label(m), style=st))
    ref = cfg.validation.dca_reference
    for c, dc in results.get("dca", {}).items():
        # the difference panel on the test cohorts only
        with_diff = (c != "development" and ref in dc.strategies and dc.boot is not None
                     and len([s for s in dc.strategies if s not in ("all", "none")]) > 1)
        keep(f"dca_{c.replace(':', '_')}", F.decision_curve_figure(dc, title=F.cohort_title(c), xlim=rep.dca_range,
                                                                   style=st, reference=ref if with_diff else None))
    if "nomogram" in results:
        nom = results["nomogram"]
        outcome = cfg.cohort.outcome
        keep("nomogram", F.nomogram_figure(nom, labels=lab(nom.variables["variable"]), style=st,
                                           outcome_label=f"Probability of {L.group_level(outcome, 1)}"))
    if "or_table" in results:
        lt = results["or_table"]
        keep("forest_or", F.forest_figure(lt, which="multi", labels=lab(lt.frame["variable"]), style=st))
    if lasso_res is not None:
        keep("lasso", F.lasso_figure(lasso_res, lambda_rule=cfg.imaging.lambda_rule, style=st))
    if "km" in results:
        sv = cfg.survival
        what = L.var(sv.duration, unit=False)
        what = what[:-5] if what.lower().endswith(" time") else what
        keep("km", F.km_figure(results["km"], ylabel=f"{what} probability", labels=lab([sv.group]),
                               time_unit=rep.time_unit or sv.time_unit, data_unit=sv.time_unit, style=st))
        cov = results["cox"].summary
        keep("forest_hr", F.forest_figure(results["cox"], labels=lab(cov.get("covariate", cov["term"])), style=st))
        ph = results.get("ph_test")
        if ph is not None and getattr(ph, "residuals", None) is not None:
            keep("ph_residuals", np.atleast_1d(ph.plot())[0].figure)
        if "rmst" in results:
            ax = results["rmst"].plot(xlabel=f"Time ({sv.time_unit})", ylabel=f"{what} probability")
            keep("rmst", ax.figure)
        if "km_predicted" in results:
            keep("km_predicted", F.km_figure(results["km_predicted"], ylabel=f"{what} probability",
                                             time_unit=rep.time_unit or sv.time_unit, data_unit=sv.time_unit, style=st))
    zoo = results.get("zoo")
    if zoo is not None and zoo.refit:
        from ..models import shap_summary

        name = next((m for m in ("rf", "et", "xgb", "lgbm", "lr") if m in zoo.refit), list(zoo.refit)[0])
        dev = df["cohort_split"] == "development"
        X = results["zoo_X"]
        try:
            sv = shap_summary(zoo.refit[name], X[dev], background=X[dev], max_background=50, seed=cfg.validation.seed)
            results["shap"] = sv
            keep("shap", F.shap_figure(sv, model_name=F.model_label(name), labels=cfg.labels, style=st))
        except InputError as exc:
            results["shap_error"] = str(exc)
    if deep is not None and "icc" in deep:
        icc_cfg = cfg.imaging.icc
        vals = deep["icc"].icc_
        blocks = {q: vals[[c for c in vals.index if f"_{q}_" in str(c)]] for q in (cfg.imaging.sequences or [])}
        blocks = {q: v for q, v in blocks.items() if len(v)}
        if sum(len(v) for v in blocks.values()) != len(vals):
            blocks = {"": vals}
        keep("icc", F.icc_figure(blocks, threshold=icc_cfg.threshold, comparison=icc_cfg.comparison,
                                 title=f"{icc_cfg.kind} between segmentations (development patients)"))
    hist_by = cfg.imaging.intensity_histograms if cfg.imaging is not None else None
    if hist_by is None and cfg.harmonization is not None:
        hist_by = cfg.harmonization.batch
    if deep is not None and hist_by is not None:
        from ..imaging import intensity_histograms

        batch = hist_by
        idc = cfg.cohort.id_column
        seq = (cfg.imaging.sequences or list(dict.fromkeys(deep["index"]["sequence"])))[0]
        cases = deep["index"][deep["index"]["sequence"] == seq]
        by_id = dict(zip(df[idc].astype(str), df[batch]))
        cases = cases[cases["patient_id"].astype(str).isin(by_id)]
        cases = cases.assign(**{batch: [by_id[str(p)] for p in cases["patient_id"]]})
        try:
            ih = intensity_histograms(cases, batch, region="mask",
                                      normalize="percentile" if cfg.imaging.normalize == "percentile" else "zscore")
            results["intensity_histograms"] = ih
            keep("intensity_histograms", F.intensity_histogram_figure(
                ih, title=f"{seq} voxel intensities in the tumour mask by {batch}, before and after normalisation"))
        except InputError as exc:  # a figure must not stop the study; the report says why
            results["intensity_histograms_error"] = str(exc)
    if deep is not None and rep.gradcam_patients and "deep_score" in df.columns:
        from .gradcam import deep_score_gradcam

        try:
            shown, y, args = _gradcam_args(cfg, deep, df, cohorts)
            if gradcam is None:
                cases = deep_score_gradcam(*args)
            elif isinstance(gradcam, BaseException):  # raised where the worker's task was prepared
                raise gradcam
            else:  # the maps a worker computed while the stages went on
                cases = gradcam.result()
            outcome = cfg.cohort.outcome
            top = max(float(c["cam"].max()) for c in cases) or 1.0  # one colour scale for every patient
            panels_ = [{"image": c["image"], "heatmap": c["cam"] / top,
                        "title": f"{L.group_level(outcome, int(y[c['patient_id']]))}\nDeep Score {c['score']:.2f}"}
                       for c in cases]
            results["gradcam"] = {"cohort": shown, "patients": [c["patient_id"] for c in cases],
                                  "scores": [c["score"] for c in cases]}
            keep("gradcam", F.gradcam_panels(panels_, style=st, scale_label="Grad-CAM (common scale)"))
        except Exception as exc:  # an explanation figure must not stop the study; the report says why
            results["gradcam_error"] = f"{type(exc).__name__}: {exc}"
    return figs


def _gradcam_args(cfg: StudyConfig, deep: dict, df: pd.DataFrame, cohorts: list[str]) -> tuple:
    """(cohort shown, its outcomes by patient id, the arguments of
    :func:`~her2stats.reporting.gradcam.deep_score_gradcam`) of the study's Grad-CAM figure: the
    clearest ``report.gradcam_patients`` cases of the last test cohort."""
    from ..selection.icc import SECOND_SEGMENTATION_SUFFIX
    from .gradcam import pick_gradcam_patients

    idc = cfg.cohort.id_column
    shown = next((c for c in reversed(cohorts) if c != "development"), "development")
    part = df[df["cohort_split"] == shown]
    scores = pd.Series(part["deep_score"].to_numpy(), index=part[idc].astype(str).to_numpy())
    y = pd.Series(part["_y"].to_numpy(), index=scores.index)
    # the second segmentation's columns are read by the ICC step's fit only
    Xg = deep["X"][[c for c in deep["X"].columns if not str(c).endswith(SECOND_SEGMENTATION_SUFFIX)]]
    return shown, y, (deep["extractor"], deep["pipeline"], deep["index"], Xg,
                      pick_gradcam_patients(scores, y, cfg.report.gradcam_patients))


def _start_gradcam(state: StudyState) -> None:
    """With worker processes: start the Grad-CAM maps of the outputs stage in one now (the only
    use of torch in a run whose image features all come from the cache; the worker imports it
    while the stages go on). ``state.pending["gradcam"]`` is the Future, or the exception raised
    while preparing it (the outputs stage reports it as it would its own)."""
    cfg, deep = state.config, state.deep
    if (state.workers is None or deep is None or not cfg.report.gradcam_patients
            or "deep_score" not in state.cohort.columns):
        return
    from .gradcam import gradcam_inputs, gradcam_maps

    try:
        _, _, args = _gradcam_args(cfg, deep, state.cohort, state.cohorts)
        # torch's thread count in this process (its default: the cores it may use, unless OMP_NUM_THREADS
        # says otherwise), so that the maps are this process's bit for bit
        threads = int(os.environ.get("OMP_NUM_THREADS") or 0) or (
            len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
        state.pending["gradcam"] = state.workers.submit(gradcam_maps, *gradcam_inputs(*args), threads)
    except Exception as exc:  # as the outputs stage's own call would have raised it
        state.pending["gradcam"] = exc


def _methods(cfg: StudyConfig, eng: str, fast: bool, B: int, B_cal: int, df: pd.DataFrame, cohorts: list[str],
             probs: dict, results: dict, versions: dict, notes: list, n_folds: int = 0) -> str:
    from ..data.labels import as_labels
    from .builders import cohort_label, model_label

    L = as_labels(cfg.labels)
    s = cfg.splits
    n = {c: int((df["cohort_split"] == c).sum()) for c in cohorts}
    parts = []
    if s.by == "center":
        parts.append(f"Patients from centre(s) {', '.join(map(str, s.train))} formed the development data"
                     + (f", of which {s.internal_fraction:.0%} (stratified by outcome and centre, seed {s.seed}) was held out as "
                        f"an internal test set" if s.internal_fraction > 0 else "")
                     + (f"; centre(s) {', '.join(map(str, s.external))} formed the external test set" if s.external else "")
                     + ".")
    elif s.internal_fraction > 0:
        parts.append(f"Patients were split at random ({s.internal_fraction:.0%} internal test, stratified, seed {s.seed}).")
    parts.append("Cohort sizes: " + "; ".join(f"{cohort_label(c).lower()} n = {k}" for c, k in n.items()) + ".")
    if cfg.imaging is not None:
        im = cfg.imaging
        rep = results.get("feature_selection")
        chain = ", ".join(f"{r['step']} ({r['features_in']} \u2192 {r['features_out']})" for r in rep.to_dict("records")) if rep is not None else ""
        pre = []
        if im.motion_correction is not None:
            mc = im.motion_correction
            pre.append(f"the DCE phases ({', '.join(mc.phases)}) were motion-corrected by {mc.transform} registration "
                       f"onto {mc.reference or mc.phases[0]}")
        if im.register_to is not None:
            pre.append(f"every sequence was rigidly registered onto {im.register_to}")
        if im.spacing is not None:
            pre.append("volumes were resampled to " + " \u00d7 ".join(f"{v:g}" for v in im.spacing) + " mm")
        pre.append("intensities were not normalised" if im.normalize == "none" else
                   f"intensities were normalised ({'z-score' if im.normalize == 'zscore' else 'percentile'}) inside the mask")
        parts.append("Preprocessing: " + "; ".join(pre) + ".")
        parts.append(f"Deep features were extracted from the tumour ROI (largest-mask slice, {im.margin} px margin) of "
                     f"{', '.join(im.sequences) or 'every'} sequence(s) with a frozen ImageNet {im.backbone} "
                     f"(pretrained={im.pretrained}) and cached by content hash. Feature selection was fitted on the "
                     f"development cohort only: {chain}; the selected features entered a logistic regression whose "
                     f"linear predictor is the Deep Score.")
    if cfg.clinical is not None:
        covs = results.get("clinical_covariates", [])
        parts.append(f"The clinical model is a logistic regression on {', '.join(L.var(c, unit=False) for c in covs)}"
                     + (f" (selected by {cfg.clinical.selection})" if cfg.clinical.selection != "none" else "")
                     + ("; the combined model adds the Deep Score" if "combined" in probs else "") + ".")
    if cfg.zoo is not None:
        parts.append(f"Machine-learning models ({', '.join(model_label(m) for m in cfg.zoo.models)}) were tuned by "
                     f"nested stratified cross-validation ({3 if fast else cfg.zoo.cv} outer, {2 if fast else cfg.zoo.inner_cv} "
                     f"inner folds, grid search on AUC) on the development cohort"
                     + (" (the Deep Score among their inputs refitted inside each outer training fold)"
                        if "deep_score" in probs else "") + " and refitted on all of it"
                     + ("; their inputs were the clinical covariates kept by the clinical selection rule, repeated on "
                        "each outer training fold" if "zoo_fold_covariates" in results else "") + ".")
    if cfg.agreement is not None and "agreement" in results:
        ag = results["agreement"]

        def low(v: str) -> str:  # "Tumour size" -> "tumour size", "ADC" stays
            t = L.var(v, unit=False)
            return t if t[:2].isupper() else t[:1].lower() + t[1:]

        kinds = [f"the intraclass correlation ({cfg.agreement.icc_kind}, F-distribution CI) of "
                 + ", ".join(low(v) for v in ag.loc[ag["statistic"] == cfg.agreement.icc_kind,
                                                                            "variable"])] \
            if (ag["statistic"] == cfg.agreement.icc_kind).any() else []
        kap = ag[ag["statistic"].str.startswith("Cohen")]
        if len(kap):
            kinds.append("Cohen's kappa (large-sample CI) of " + ", ".join(low(v) for v in kap["variable"]))
        parts.append("Inter-reader agreement was measured by " + " and by ".join(kinds) + ".")
    if probs:
        how = results.get("development_method", {})
        oc = [model_label(m) for m, h in how.items() if h == "optimism-corrected"]
        redone = ((["clinical covariate selection"] if cfg.clinical is not None and cfg.clinical.selection != "none"
                   else []) + (["image-feature selection and Deep Score"] if "deep_score" in probs else [])
                  + ["every model fit" + (" and tuning" if cfg.zoo is not None else "")])
        parts.append("No development figure is in-sample: every model was also developed afresh inside each training "
                     f"fold of a stratified {n_folds}-fold cross-validation of the development cohort (seed "
                     f"{cfg.validation.seed}" + ("; the outer folds of the nested cross-validation" if cfg.zoo else "")
                     + f"; {', '.join(redone)} repeated in each fold), and the development AUC, operating points, "
                     "calibration, DeLong comparisons and decision curves use these out-of-fold predictions"
                     + (f"; the development AUC of the {', '.join(oc)} (a logistic regression on pre-specified "
                        f"covariates) is instead corrected for optimism by the bootstrap (B = {B}; location-shifted "
                        "bootstrap percentile CI, Noma et al. 2021)" if oc else "")
                     + ". Apparent (in-sample) figures are reported only labelled as apparent.")
        dirs = results.get("directions", {})
        flipped = [model_label(m) for m, d in dirs.items() if d == ">"]
        parts.append("The ROC direction of each model was fixed on the development cohort (higher predicted "
                     "probability = positive"
                     + (f", except {', '.join(flipped)}, for which lower values went with the positives" if flipped else "")
                     + ") and carried unchanged to the test cohorts, never re-chosen on them. "
                     "Discrimination: AUC with DeLong 95% CI; paired DeLong tests between models with Holm adjustment. "
                     "Operating points: Youden cut-offs chosen on the development cohort and applied unchanged to the "
                     "test cohorts; sensitivity, specificity, PPV, NPV and accuracy with Clopper-Pearson 95% CIs. "
                     f"Calibration: intercept and slope (val.prob), bootstrap optimism-corrected calibration curves "
                     f"(B = {B_cal}) on the development cohort, and the Hosmer-Lemeshow test ({cfg.validation.hl_groups} "
                     "groups; reported as a legacy test). Clinical utility: decision curve analysis (net benefit against "
                     "treat-all and treat-none).")
        nb = results.get("band_n_boot")
        if nb:
            ref = cfg.validation.dca_reference
            parts.append(f"Uncertainty ({nb} bootstrap resamples of the patients, seed {cfg.validation.seed}, 95% percentile "
                         "intervals): ROC curves carry the stratified bootstrap band of the sensitivity at fixed "
                         "specificities (pROC ci.se); the calibration hierarchy (Van Calster 2016: O/E, calibration "
                         "intercept and slope, ICI, E90, Emax) and the flexible calibration curve with its band were "
                         "computed in every cohort with the predictions held fixed (out-of-fold in the development cohort); "
                         "decision curves carry bootstrap bands"
                         + (f", and the difference in net benefit against the {model_label(ref).lower()} was estimated on "
                            "paired resamples in the test cohorts" if results.get("nb_difference") else "")
                         + ". The optimism-corrected C, calibration slope and Brier score carry location-shifted "
                         "bootstrap percentile intervals (Noma et al. 2021).")
    if cfg.survival is not None:
        sv = cfg.survival
        parts.append(f"Survival ({L.var(sv.duration, unit=False)}, event: {L.var(sv.event, unit=False).lower()}) was "
                     f"compared by {L.var(sv.group, unit=False)} with Kaplan-Meier curves and "
                     f"the log-rank test; a Cox model ({'stepwise AIC, ' + sv.stepwise if sv.stepwise else 'all covariates'}) "
                     "gave hazard ratios with Wald CIs, Harrell's C with CI and the Schoenfeld-residual PH test.")
        if sv.strata:
            parts.append(f"Because proportional hazards may fail for {', '.join(L.var(c, unit=False) for c in sv.strata)}, "
                         "the Cox model was refitted stratified by it (one baseline hazard per stratum, the other "
                         "hazard ratios shared; coxph strata()), with its own PH test.")
        if sv.tt:
            parts.append("Time-varying coefficients (coxph tt(): beta(t) = b + c g(t), g = log t or a step at a cut "
                         f"time) were fitted for {', '.join(L.var(c, unit=False) for c in sv.tt)}; the test of c = 0 is "
                         "a test of proportional hazards for that covariate.")
        if sv.rmst_tau is not None:
            parts.append(f"Restricted mean survival time up to {sv.rmst_tau:g} {sv.time_unit} was compared by "
                         f"{L.var(sv.group, unit=False)} (difference and ratio with Wald CIs; Uno et al. 2014), a "
                         "contrast that does not assume proportional hazards.")
    for key in ("segmentation", "image_models", "fusion", "imputation", "pipeline_validation"):  # the stages' own paragraphs
        if key in results and getattr(results[key], "methods", ""):
            parts.append(results[key].methods)
    left_out = results.get("left_out") or {}
    if left_out:
        parts.append("Models left out of the evaluation (no figure of them is reported; a fusion, subgroup or "
                     "survival analysis naming them was skipped): "
                     + "; ".join(f"{model_label(m)}: {why}" for m, why in left_out.items()) + ".")
    ver = ", ".join(f"{k} {v}" for k, v in versions.items())
    parts.append(f"Statistics were computed with her2stats (engine = {eng}); software: {ver}.")
    if fast:
        parts.append("**This is a fast smoke-test run** (fewer bootstrap repetitions and patients); do not report its numbers.")
    text = " ".join(parts)
    if notes:
        text += "\n\nNotes:\n\n" + "\n".join(f"- {n_}" for n_ in notes)
    return text + "\n"


#: TRIPOD+AI items whose status is derived from numbers.json: the item is reported (fully or
#: partly) exactly when numbers.json holds a finite value under one of these key prefixes
TRIPOD_EVIDENCE: dict[str, tuple[str, ...]] = {
    "12e": ("auc/", "sensitivity/", "cal_slope/", "cal_mean_abs_error/", "brier/", "dca_useful_from/"),  # measures
    "20b": ("table1_p/",),                                # characteristics (Table 1)
    "20c": ("table1_smd/",),                              # evaluation vs development data (SMDs)
    "21": ("n_events/",),                                 # participants and events per analysis
    "22": ("or/",),                                       # the full model (coefficients)
    "23a": ("auc_ci_low/",),                              # performance with confidence intervals
    "23b": ("auc/*/external:",),                          # heterogeneity across external centres
}


def numbers_have(numbers: Mapping[str, Any], prefix: str) -> bool:
    """Whether ``numbers`` holds a finite value under ``prefix`` (``*`` matches one key segment)."""
    import fnmatch

    pat = prefix.replace("[", "[[]") + "*"
    return any(fnmatch.fnmatchcase(k, pat) and v is not None and np.isfinite(v) for k, v in numbers.items())


def _tripod(cfg: StudyConfig, df: pd.DataFrame, cohorts: list[str], flow_df: pd.DataFrame, probs: dict,
            results: dict, versions: dict, outcome: str, numbers: Mapping[str, Any] | None = None,
            tables: Mapping[str, Any] | None = None):
    """The TRIPOD+AI checklist filled from what this run computed (the rest is listed for the
    authors): every fact about the analysis is derived from ``numbers`` and ``tables``, so the
    checklist cannot claim what the report lacks nor ask for what it has."""
    from .tripod import tripod_checklist

    numbers = dict(numbers or {})
    tables = dict(tables or {})

    def has(key: str) -> bool:
        return any(numbers_have(numbers, p) for p in TRIPOD_EVIDENCE.get(key, (key,)))

    role = {"development": "development"}
    measures = []
    if has("auc/"):
        measures.append("AUC with DeLong CI" if has("auc_ci_low/") else "AUC")
    if has("sensitivity/"):
        measures += ["sensitivity", "specificity", "PPV", "NPV"]
    if has("cal_slope/"):
        measures.append("calibration intercept and slope")
    if has("cal_mean_abs_error/"):
        measures.append("calibration curve")
    if has("brier/"):
        measures.append("Brier score")
    if has("dca_useful_from/"):
        measures.append("decision curve analysis")
    iv = []
    if has("validate_c/"):
        iv.append("bootstrap optimism correction (rms validate/calibrate)")
    if has("auc_cv/") or has("zoo_oof_auc/"):
        iv.append("out-of-fold predictions of a stratified cross-validation of the development cohort")
    externals = [c for c in cohorts if c.startswith("external:")]
    facts: dict[str, Any] = {
        "title": cfg.title,
        "outcome": {"name": outcome},
        "data_sources": [{"name": str(cfg.cohort.source if cfg.cohort.source != "csv" else cfg.cohort.path),
                          "type": "cohort", "role": "development and evaluation",
                          "centres": int(df[cfg.splits.column].nunique()) if cfg.splits.column in df else 1}],
        "cohorts": {c: {"role": role.get(c, "internal validation" if c == "internal" else "external validation"),
                        "n": int((df["cohort_split"] == c).sum()),
                        "events": int(df.loc[df["cohort_split"] == c, "_y"].sum())} for c in cohorts
                    if has(f"n_events/{c}")},
        "missing_data": {"method": "complete-case analysis (every exclusion counted in the cohort flow)",
                         "n_excluded": int(flow_df["n_excluded"].sum())},
        "predictors": {"names": list(results.get("clinical_covariates", []))
                       + (["deep_score"] if "deep_score" in probs else [])},
        "analysis": {"model_type": "logistic regression" + (" and machine-learning models" if cfg.zoo else ""),
                     "partitioning": f"splits by {cfg.splits.by} (seed {cfg.splits.seed})"},
        "model": {"type": "logistic regression", "output": "predicted probability of " + outcome},
        "thresholds": {"rule": "Youden index", "chosen_on": "development cohort"} if has("threshold/") else {},
        "performance": {"measures": measures, "with_ci": has("auc_ci_low/")},
        "table1": has("table1_p/") and "table1" in tables,
        "software": {k: str(v) for k, v in versions.items()},
    }
    if iv:
        facts["analysis"]["internal_validation"] = "; ".join(iv)
    if has("delong_p/"):
        facts["performance"]["comparison"] = "paired DeLong with Holm adjustment"
    if has("or/"):
        facts["model"]["specification"] = "coefficients in the OR table and the nomogram"
    if has("table1_smd/") and "table1_by_cohort" in tables:
        facts["cohort_comparison"] = ("Table 1 by cohort with standardised mean differences between the development "
                                      "and test cohorts")
    if has("23b") and externals:
        facts["heterogeneity"] = {"by": "external centre", "results": True}
    if "imputation" in results:  # item 11: imputation, complete cases as the sensitivity analysis
        facts.pop("missing_data", None)
    extra = [r.tripod_facts(len(df)) for k, r in results.items() if k == "imputation"]
    extra += [results["pipeline_validation"].facts] if "pipeline_validation" in results else []
    if extra:
        from .pipeline_section import merge_tripod_facts

        facts = merge_tripod_facts(facts, *extra)
    return tripod_checklist(facts)


# ---------------------------------------------------------------------------------- persistence
def _save_results(res: StudyResults) -> Path:
    """Pickle the results without fitted models (R objects do not pickle; the report needs numbers,
    tables, figures and the statistics results)."""
    keep = {}
    for k, v in res.results.items():
        try:
            pickle.dumps(v)
            keep[k] = v
        except Exception:
            continue
    light = replace(res, models={}, results=keep)
    return atomic_write(Path(res.outdir) / RESULTS_FILE, pickle.dumps(light))


def load_results(outdir: str | Path) -> StudyResults:
    """Read the results a previous :func:`run_study` left in ``outdir`` (models not included)."""
    folder = Path(outdir).resolve()
    path = folder / RESULTS_FILE
    if not path.is_file():
        raise InputError(f"no study results in {outdir} ({RESULTS_FILE} missing): run `her2stats report <config>`")
    with open(path, "rb") as fh:
        res = pickle.load(fh)
    # a run in progress (the report renders from its staging folder) shows its final folder
    m = read_manifest(folder)
    shown = Path(m["outdir"]) if m and m.get("complete") is False and m.get("outdir") else folder
    return _relocate(res, folder, shown)


def load_or_run(config: str | Path | Mapping, outdir: str | Path | None = None, fast: bool = False,
                overrides: Mapping | None = None) -> StudyResults:
    """The report template's entry point: reuse the results in ``outdir`` when they were produced
    from this same config (digest match), otherwise run the study. ``overrides`` are the command
    line's changes to the config (``{"report": {"style": "radiology"}}``)."""
    cfg = load_config(config, overrides=dict(overrides) if overrides else None)
    out = Path(outdir) if outdir else cfg.resolve(cfg.output_dir)
    path = out / RESULTS_FILE
    if path.is_file():
        try:
            res = load_results(out)
            if res.config_digest == _digest(cfg, res.fast) and (res.fast or not fast):
                return res
        except Exception:
            pass
    return run_study(cfg, fast=fast, outdir=out)


# the CLI moves a finished study's outputs with it (a public name: no module imports another's private
# names)
relocate = _relocate
