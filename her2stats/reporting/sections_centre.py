"""Study sections for multicentre studies: internal-external cross-validation by centre, subgroup
performance, harmonisation diagnostics and a reader (MRMC) study.

Each ``*_section`` function takes plain inputs (data frames, predicted probabilities, fitted or
unfitted pipelines, the validated config sections), calls the statistics layer
(:mod:`her2stats.stats.multicentre`, :mod:`her2stats.harmonization`, :mod:`her2stats.stats.mrmc`)
and returns a :class:`Section`: the result objects, publication tables, matplotlib figures,
flat numbers (``numbers.json`` keys) and notes for the methods paragraph. The study runner merges
sections into its outputs; the report template shows whatever a run produced.

Config keys (:mod:`her2stats.reporting.config`)::

    validation: {scheme: iecv, by: center, min_events: 5, net_benefit_thresholds: [0.2]}
    subgroups: {variables: [manufacturer, field_strength], bands: {age: [0, 50, 70, 120]}, p_adjust: holm}
    harmonization: {method: combat, batch: manufacturer, diagnostics: [manufacturer, field_strength]}
    reader_study: {path: ../data/vandyke/VanDyke.csv, treatment_labels: {1: Cine MRI, 2: Spin-echo MRI}}
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import ConfigError, InputError, find_stack_level
from .builders import model_label
from .format import fmt_ci, fmt_num, fmt_p
from .tables import PublicationTable

__all__ = ["Section", "study_sections", "iecv_section", "by_centre_section", "subgroup_section", "subgroup_frame", "harmonization_section",
           "reader_study_section", "LogisticFitter", "CombinedFitter", "PREDICTION_INTERVAL_TEXT"]

#: how to read a prediction interval (the report prints it under the pooled table)
PREDICTION_INTERVAL_TEXT = (
    "The confidence interval (CI) of a pooled estimate says how precisely the *average* performance over "
    "centres like these is known; it narrows as centres are added. The prediction interval (PI) says where "
    "the performance in a *new* centre is expected to lie (95% of new centres from the same population of "
    "centres): it adds the between-centre variance (tau²) to the uncertainty of the average, so it does "
    "not narrow below the true spread between centres. A PI much wider than the CI means performance "
    "depends on the centre: before the model is used in a new centre, check it there (and recalibrate "
    "if needed). With few centres the PI is wide and itself uncertain (t distribution on k − 1 df); "
    "tau² = 0 makes it equal to the CI, which is not evidence that centres are alike when k is small.")

_MEASURES = {"auc": "AUC", "oe": "O:E ratio", "intercept": "Calibration intercept", "slope": "Calibration slope",
             "ici": "ICI", "brier": "Brier score"}


@dataclass
class Section:
    """What one report section adds to a study: result objects, tables, figures (matplotlib, not
    yet saved), numbers (``numbers.json``) and notes for the methods paragraph."""

    results: dict = field(default_factory=dict)
    tables: dict = field(default_factory=dict)
    figures: dict = field(default_factory=dict)
    numbers: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)

    def merge(self, other: "Section") -> "Section":
        for name in ("results", "tables", "figures", "numbers"):
            clash = set(getattr(self, name)) & set(getattr(other, name))
            if clash:
                raise InputError(f"sections both produce {name} {sorted(clash)}")
            getattr(self, name).update(getattr(other, name))
        self.notes.extend(other.notes)
        return self

    def close_figures(self) -> None:
        import matplotlib.pyplot as plt

        for fig in self.figures.values():
            plt.close(fig)


def _measure_name(m: str) -> str:
    if m.startswith("net_benefit@"):
        return f"Net benefit at {float(m.split('@', 1)[1]):.0%}"
    return _MEASURES.get(m, m)


def _digits(m: str) -> int:
    return 2 if m in ("oe", "intercept", "slope") else 3


def _num_key(x: Any) -> str:
    return str(x).replace("/", "_")


# ====================================================================== internal-external CV
class LogisticFitter:
    """``f(train, valid) -> probabilities`` for :func:`internal_external_cv`: the covariates are
    chosen on ``train`` by ``select`` (the study's clinical selection, e.g. LASSO or stepwise AIC;
    None keeps them all), a logistic model (:func:`her2stats.fit_lrm`) is fitted on ``train`` and
    predicts ``valid``. Picklable when ``select`` is (a module-level function or a partial)."""

    def __init__(self, outcome: str, covariates: Sequence[str], select: Callable[[pd.DataFrame], list] | None = None,
                 engine: str | None = None):
        self.outcome, self.covariates, self.select, self.engine = outcome, list(covariates), select, engine

    def covariates_for(self, train: pd.DataFrame) -> list[str]:
        return list(self.select(train)) if self.select is not None else list(self.covariates)

    def __call__(self, train: pd.DataFrame, valid: pd.DataFrame) -> np.ndarray:
        from ..stats.models import fit_lrm

        covs = self.covariates_for(train)
        model = fit_lrm(train, self.outcome, covs, engine=self.engine)
        return np.asarray(model.predict(valid), dtype=float)


class CombinedFitter(LogisticFitter):
    """The combined model refitted whole in each fold: the image pipeline (harmonisation, feature
    selection, Deep Score) fitted on ``train``, its Deep Score added to the clinical covariates
    (selected on ``train``) of a logistic model fitted on ``train``."""

    def __init__(self, outcome: str, covariates: Sequence[str], pipeline: Any, features: Sequence[str],
                 select: Callable[[pd.DataFrame], list] | None = None, engine: str | None = None,
                 score: str = "deep_score"):
        super().__init__(outcome, covariates, select, engine)
        self.pipeline, self.features, self.score = pipeline, list(features), score

    def __call__(self, train: pd.DataFrame, valid: pd.DataFrame) -> np.ndarray:
        from ..stats.models import fit_lrm
        from ..stats.multicentre import fitted_clone

        # the Deep Score model of the same fold fits the same pipeline on the same patients: fitted once
        pipe = fitted_clone(self.pipeline, train[self.features], train[self.outcome].to_numpy(dtype=int))
        train = train.assign(**{self.score: np.asarray(pipe.decision_function(train[self.features]), float)})
        valid = valid.assign(**{self.score: np.asarray(pipe.decision_function(valid[self.features]), float)})
        covs = self.covariates_for(train) + [self.score]
        model = fit_lrm(train, self.outcome, covs, engine=self.engine)
        return np.asarray(model.predict(valid), dtype=float)


def _per_centre_rows(model: str, table: pd.DataFrame, label_col: str, measures: Sequence[str]) -> list[dict]:
    rows = []
    for _, r in table.iterrows():
        row = {"Model": model_label(model), "Centre": str(r[label_col]), "n": str(int(r["n"])),
               "Events": str(int(r["events"]))}
        for m in measures:
            row[_measure_name(m)] = fmt_ci(r[m], r[f"{m}_ci_low"], r[f"{m}_ci_high"], digits=_digits(m))
        row["Pooled"] = "yes" if bool(r["pooled"]) else f"no: {r['note']}"
        rows.append(row)
    return rows


def _pooled_rows(model: str, pooled: pd.DataFrame, level: float = 0.95) -> list[dict]:
    rows = []
    for m, r in pooled.iterrows():
        d = _digits(m)
        rows.append({"Model": model_label(model), "Measure": _measure_name(m), "k": str(int(r["k"])),
                     f"Pooled ({level:.0%} CI)": fmt_ci(r["estimate"], r["ci_low"], r["ci_high"], digits=d),
                     f"{level:.0%} PI (new centre)": _interval(r["pi_low"], r["pi_high"], d),
                     "tau²": fmt_num(r["tau2"], 4), "I² (%)": fmt_num(r["i2"], 1),
                     "Q test P": fmt_p(r["q_p"]), "Note": str(r["note"] or "")})
    return rows


def _interval(lo: float, hi: float, d: int) -> str:
    return "" if not (np.isfinite(lo) and np.isfinite(hi)) else f"{fmt_num(lo, d)}\u2013{fmt_num(hi, d)}"


def _validation_numbers(prefix: str, model: str, val: Any, label_col: str) -> dict:
    out = {}
    for m, r in val.pooled.iterrows():
        for col in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high", "tau2", "i2", "k"):
            key = f"{prefix}_{m}" if col == "estimate" else f"{prefix}_{m}_{col}"
            out[f"{key}/{model}"] = float(r[col])
    for _, r in val.per_centre.iterrows():
        c = _num_key(r[label_col])
        for m in ("auc", "oe", "slope"):
            out[f"{prefix}_{m}/{model}/{c}"] = float(r[m])
    return out


_CI_NOTE = ("{level:.0%} CIs: DeLong (AUC), log-scale binomial (O:E ratio), Wald (calibration intercept and slope), "
            "normal approximation (Brier score; net benefit, Marsh et al. 2020).")


def _centre_tables(sec: Section, prefix: str, res: Mapping[str, Any], centre_label: str, min_events: int,
                   level: float, pi_type: str, what: str, per_note: str) -> None:
    """Per-centre and pooled tables, forest plots and numbers of ``{model: MulticentreValidation}``."""
    per_rows, pool_rows = [], []
    for name, val in res.items():
        measures = ["auc", "oe", "intercept", "slope", "brier"] + [
            c for c in val.per_centre.columns if c.startswith("net_benefit@") and "_ci_" not in c]
        per_rows += _per_centre_rows(name, val.per_centre, "centre", measures)
        pool_rows += _pooled_rows(name, val.pooled, level)
        sec.numbers.update(_validation_numbers(prefix, name, val, "centre"))
        fig = val.plot(measures=[m for m in ("auc", "oe", "slope") if m in val.pooled.index])
        fig.suptitle(f"{model_label(name)}: {what} by {centre_label.lower()}", fontsize=9)
        fig.tight_layout()
        sec.figures[f"{prefix}_forest_{name}"] = fig
    per = pd.DataFrame(per_rows).rename(columns={"Centre": centre_label})
    sec.tables[f"{prefix}_per_centre"] = PublicationTable(
        title=f"{what[0].upper() + what[1:]}: performance in each {centre_label.lower()}",
        footnotes=(per_note, _CI_NOTE.format(level=level), f"A {centre_label.lower()} with fewer than {min_events} events or non-events "
                                       "is shown but not pooled."),
        **_grouped(per, "Model", centre_label))
    sec.tables[f"{prefix}_pooled"] = PublicationTable(
        title=f"{what[0].upper() + what[1:]}: random-effects pooled performance",
        footnotes=("Random-effects meta-analysis across centres: REML tau², Hartung-Knapp-Sidik-Jonkman "
                   f"{level:.0%} CI, {level:.0%} prediction interval (PI) for a new {centre_label.lower()} "
                   f"({'t on k − 1 df, as metafor' if pi_type == 'metafor' else 't on k − 2 df (Riley et al. 2011)'}); "
                   "AUC pooled on the logit scale, O:E on the log scale (Debray et al. 2017); tau² on the pooling scale.",
                   "PI: where the performance in a new centre is expected to lie; CI: how precisely the average "
                   "performance is known."),
        **_grouped(pd.DataFrame(pool_rows), "Model", "Measure"))


def _record(sec: Section, caught: list, what: str, name: str) -> None:
    for w in caught:  # every left-out centre and fit problem reaches the report (and the caller)
        sec.notes.append(f"{what}, {model_label(name).lower()}: {w.message}")
        warnings.warn(f"{name}: {w.message}", w.category, stacklevel=find_stack_level())


def iecv_section(data: pd.DataFrame, y: str, by: str, pipelines: Mapping[str, Any],
                 features: Mapping[str, Sequence[str]] | None = None, thresholds: Sequence[float] = (),
                 level: float = 0.95, min_events: int = 5, n_boot: int = 1000, seed: Any = 0,
                 scheduler: Any = None, pi_type: str = "metafor", engine: str | None = None,
                 centre_label: str = "Centre") -> Section:
    """Internal-external cross-validation of every model: for each value of ``by``, the whole
    pipeline (selection included) is refitted on the other centres and predicts the held-out one
    (:func:`her2stats.internal_external_cv`); the held-out predictions are validated per centre and
    pooled by random-effects meta-analysis (REML, Knapp-Hartung CI, prediction interval).

    ``pipelines``: model name -> sklearn estimator (fitted on ``data[features[name]]``) or
    ``f(train, valid) -> probabilities`` (e.g. :class:`LogisticFitter`, :class:`CombinedFitter`).

    Returns a :class:`Section` with ``results["iecv"]`` (model -> IECVResult), tables
    ``iecv_per_centre`` and ``iecv_pooled``, a forest plot per model (``iecv_forest_<model>``) and
    numbers ``iecv_auc/<model>`` (pooled), ``iecv_auc_pi_low/<model>`` ..., ``iecv_auc/<model>/<centre>``.
    """
    from ..stats.multicentre import internal_external_cv

    if not pipelines:
        raise InputError("iecv_section: no model to cross-validate")
    sec = Section()
    res: dict[str, Any] = {}
    for name, pipe in pipelines.items():
        feats = None if features is None else features.get(name)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res[name] = internal_external_cv(data, pipe, y=y, centre=by, features=feats, thresholds=list(thresholds),
                                             level=level, min_events=min_events, n_boot=n_boot, seed=seed,
                                             scheduler=scheduler, pi_type=pi_type, engine=engine)
        _record(sec, caught, "Internal-external cross-validation", name)
    sec.results["iecv"] = res
    k = len(next(iter(res.values())).folds)
    _centre_tables(sec, "iecv", {m: r.validation for m, r in res.items()}, centre_label, min_events, level, pi_type,
                   "internal-external cross-validation",
                   f"Each {centre_label.lower()} was predicted by the whole pipeline (predictor selection included) "
                   f"refitted on the other {k - 1}.")
    sec.numbers["iecv/k"] = float(k)
    sec.notes.append(f"Internal-external cross-validation: each of the {k} values of {by} was held out in turn, the "
                     "whole pipeline (predictor selection included) was refitted on the others and validated on it; "
                     "the held-out performance was pooled by random-effects meta-analysis (REML, Hartung-Knapp-"
                     f"Sidik-Jonkman CI, {level:.0%} prediction interval for a new centre).")
    return sec


def by_centre_section(y: Any, probs: Mapping[str, Any], centre: Any, thresholds: Sequence[float] = (),
                      level: float = 0.95, min_events: int = 5, n_boot: int = 1000, seed: Any = 0,
                      scheduler: Any = None, pi_type: str = "metafor", engine: str | None = None,
                      centre_label: str = "Centre", source: str = "external validation") -> Section:
    """Validation of fixed predictions (models fitted elsewhere, e.g. on the development cohort)
    in each centre, pooled by random-effects meta-analysis (:func:`her2stats.validate_by_centre`).

    Tables ``centres_per_centre`` and ``centres_pooled``, forest plots ``centres_forest_<model>``,
    numbers ``centres_auc/<model>`` (pooled), ``centres_auc_pi_low/<model>``, ``centres_auc/<model>/<centre>``.
    """
    from ..stats.multicentre import validate_by_centre

    if not probs:
        raise InputError("by_centre_section: no model predictions")
    sec = Section()
    res: dict[str, Any] = {}
    for name, p in probs.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res[name] = validate_by_centre(y, p, centre, thresholds=list(thresholds) or None, level=level,
                                           min_events=min_events, n_boot=n_boot, seed=seed, scheduler=scheduler,
                                           pi_type=pi_type, engine=engine)
        _record(sec, caught, f"Performance by {centre_label.lower()} ({source})", name)
    sec.results["centres"] = res
    k = len(next(iter(res.values())).per_centre)
    _centre_tables(sec, "centres", res, centre_label, min_events, level, pi_type, source,
                   f"The models fitted on the development data, applied unchanged to each of {k} "
                   f"{centre_label.lower()}s.")
    sec.notes.append(f"The {source} was analysed per {centre_label.lower()} ({k}) and pooled by random-effects "
                     f"meta-analysis (REML, Hartung-Knapp-Sidik-Jonkman CI, {level:.0%} prediction interval).")
    return sec


def _grouped(data: pd.DataFrame, group: str, stub: str) -> dict:
    if not len(data):
        return {"data": data}
    data = data[[group, stub] + [c for c in data.columns if c not in (group, stub)]].reset_index(drop=True)
    if data[group].nunique() == 1:  # one model: no group rows
        return {"data": data.drop(columns=group), "stub": stub}
    return {"data": data, "groupname": group, "stub": stub}


# ====================================================================== subgroups
def subgroup_frame(cohort: pd.DataFrame, variables: Sequence[str], bands: Mapping[str, Sequence[float]] | None = None
                   ) -> pd.DataFrame:
    """The subgrouping columns of ``cohort`` (same index), numeric ones in ``bands`` cut into
    right-closed bands (``pd.cut``; a value outside the edges is missing and announced)."""
    bands = dict(bands or {})
    missing = [v for v in variables if v not in cohort.columns]
    if missing:
        from .config import closest

        raise InputError("\n".join(f"subgroups.variables: column {v!r} not in the cohort"
                                   + (f"; did you mean {closest(v, cohort.columns)!r}?"
                                      if closest(v, cohort.columns) else "") for v in missing))
    out = {}
    for v in variables:
        s = cohort[v]
        if v in bands:
            if not pd.api.types.is_numeric_dtype(s):
                raise InputError(f"subgroups.bands.{v}: column {v!r} is not numeric")
            cut = pd.cut(s, list(bands[v]), include_lowest=True)
            outside = int((s.notna() & cut.isna()).sum())
            if outside:
                warnings.warn(f"subgroups.bands.{v}: {outside} value(s) outside the edges {list(bands[v])} left out "
                              f"of the {v} subgroups", UserWarning, stacklevel=find_stack_level())
            s = cut.cat.rename_categories([f"{a:g}\u2013{b:g}" for a, b in zip(bands[v], bands[v][1:])])
        elif not isinstance(s.dtype, pd.CategoricalDtype):
            s = s.astype(object).where(s.notna(), None)
            lev = sorted({x for x in s if x is not None}, key=lambda x: (str(type(x)), x))
            s = pd.Categorical(s, categories=lev)
        else:
            s = s.cat.remove_unused_categories()
        out[v] = pd.Series(s, index=cohort.index)
    return pd.DataFrame(out, index=cohort.index)


def subgroup_section(y: Any, probs: Mapping[str, Any], groups: pd.DataFrame, thresholds: Sequence[float] = (),
                     level: float = 0.95, min_events: int = 5, p_adjust: str | None = "holm", n_boot: int = 1000,
                     seed: Any = 0, scheduler: Any = None, engine: str | None = None,
                     source: str = "test cohorts", labels: Any = None) -> Section:
    """Performance per subgroup of every model (:func:`her2stats.subgroup_performance`): AUC,
    calibration (O:E, intercept, slope) and net benefit with CIs per subgroup, Cochran's Q across
    the subgroups of each variable, p-values adjusted over all tests of a model (``p_adjust``).

    ``y`` and each ``probs[model]`` align with the rows of ``groups`` (:func:`subgroup_frame`);
    ``source`` names where the predictions come from (never the development data they were fitted
    on). Tables ``subgroups`` and ``subgroup_heterogeneity``, a forest plot of the AUC per model
    (``subgroups_<model>``), numbers ``subgroup_auc/<model>/<variable>=<level>`` and
    ``subgroup_het_p_adj/<model>/<variable>/<measure>``.
    """
    from ..data.labels import as_labels
    from ..stats.multicentre import subgroup_performance

    if not probs:
        raise InputError("subgroup_section: no model predictions")
    L = as_labels(labels or {})
    sec = Section()
    res, rows, het_rows, cmp_rows = {}, [], [], []
    for name, p in probs.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            r = subgroup_performance(y, p, groups, thresholds=list(thresholds) or None, level=level,
                                     min_events=min_events, p_adjust=p_adjust, n_boot=n_boot, seed=seed,
                                     scheduler=scheduler, engine=engine)
        for w in caught:
            sec.notes.append(f"Subgroups, {model_label(name).lower()}: {w.message}")
            warnings.warn(f"{name}: {w.message}", w.category, stacklevel=find_stack_level())
        res[name] = r
        nb = [c for c in r.table.columns if c.startswith("net_benefit@") and "_ci_" not in c]
        for _, t in r.table.iterrows():
            row = {"Model": model_label(name), "Subgroup": f"{L.var(t['variable'], unit=False)}: {t['subgroup']}",
                   "n": str(int(t["n"])), "Events": str(int(t["events"]))}
            for m in ["auc", "oe", "slope"] + nb:
                row[_measure_name(m)] = fmt_ci(t[m], t[f"{m}_ci_low"], t[f"{m}_ci_high"], digits=_digits(m))
            row["Tested"] = "yes" if bool(t["pooled"]) else f"no: {t['note']}"
            rows.append(row)
            sec.numbers[f"subgroup_auc/{name}/{_num_key(t['variable'])}={_num_key(t['subgroup'])}"] = float(t["auc"])
        for _, h in r.heterogeneity.iterrows():
            het_rows.append({"Model": model_label(name), "Test": f"{L.var(h['variable'], unit=False)}: "
                                                                  f"{_measure_name(h['measure'])}",
                             "Subgroups": str(int(h["k"])), "Q": fmt_num(h["q"], 2),
                             "df": "" if not np.isfinite(h["df"]) else str(int(h["df"])),
                             "P": fmt_p(h["p_value"]), "Adjusted P": fmt_p(h["p_adjusted"]), "Note": str(h["note"] or "")})
            base = f"{name}/{_num_key(h['variable'])}/{h['measure']}"
            sec.numbers[f"subgroup_het_p/{base}"] = float(h["p_value"])
            sec.numbers[f"subgroup_het_p_adj/{base}"] = float(h["p_adjusted"])
        cmp_rows += _two_subgroup_comparisons(sec, name, y, p, groups, min_events, level, engine, L)
        ax = r.plot("auc")
        ax.set_title(f"{model_label(name)}: AUC by subgroup ({source})", fontsize=9)
        ax.figure.tight_layout()
        sec.figures[f"subgroups_{name}"] = ax.figure
    sec.results["subgroups"] = res
    adj = {None: "none", "holm": "Holm", "bonferroni": "Bonferroni", "fdr_bh": "Benjamini-Hochberg"}[p_adjust]
    sec.tables["subgroups"] = PublicationTable(
        title=f"Performance by subgroup ({source})",
        footnotes=(f"{level:.0%} CIs per subgroup, not adjusted for multiplicity. A subgroup with fewer than "
                   f"{min_events} events or non-events is shown but not tested.",),
        **_grouped(pd.DataFrame(rows), "Model", "Subgroup"))
    sec.tables["subgroup_heterogeneity"] = PublicationTable(
        title="Heterogeneity of performance across subgroups",
        footnotes=("Cochran's Q across the subgroups of each variable (Wald test of equal performance; AUC on the "
                   "logit scale, O:E on the log scale), df = subgroups − 1.",
                   f"Adjusted P: {adj} over every test of the model."),
        **_grouped(pd.DataFrame(het_rows), "Model", "Test"))
    if cmp_rows:
        sec.tables["subgroup_comparison"] = PublicationTable(
            title=f"AUC compared between two subgroups ({source})",
            footnotes=(f"Unpaired DeLong test (pROC roc.test, paired = FALSE): difference of the two subgroups' AUCs "
                       f"over the square root of the sum of their DeLong variances, Student's t with Welch-Satterthwaite "
                       f"df; {level:.0%} CI of the difference. Not adjusted for multiplicity. Variables with exactly two "
                       f"subgroups, each with at least {min_events} events and non-events.",),
            **_grouped(pd.DataFrame(cmp_rows), "Model", "Variable"))
    sec.notes.append(f"Subgroup performance ({source}): AUC, O:E ratio, calibration slope"
                     + (" and net benefit" if thresholds else "") + " with CIs per subgroup of "
                     + ", ".join(L.var(v, unit=False).lower() for v in groups.columns)
                     + f"; heterogeneity by Cochran's Q, p-values adjusted ({adj}).")
    return sec


def _two_subgroup_comparisons(sec: Section, name: str, y: Any, p: Any, groups: pd.DataFrame, min_events: int,
                              level: float, engine: str | None, L: Any) -> list[dict]:
    """Unpaired DeLong comparison of the AUC between the two subgroups of every two-level variable
    (seed 004: HR-positive vs HR-negative, mass vs non-mass); numbers
    ``subgroup_auc_diff/<model>/<variable>`` (first level minus second), ``..._ci_low``/``_ci_high``
    and ``subgroup_auc_diff_p/<model>/<variable>``. The direction is fixed (higher probability =
    event), as the model's was on development."""
    from ..stats.roc import roc_test

    yv, pv = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    rows = []
    for var in groups.columns:
        g = groups[var]
        levels = [lv for lv in (g.cat.categories if isinstance(g.dtype, pd.CategoricalDtype) else pd.unique(g.dropna()))
                  if (g == lv).any()]
        if len(levels) != 2:
            continue
        masks = [((g == lv).to_numpy() & np.isfinite(yv) & np.isfinite(pv)) for lv in levels]
        if any(min(yv[m].sum(), (1 - yv[m]).sum()) < min_events for m in masks):
            continue
        r = roc_test(yv[masks[0]], pv[masks[0]], pv[masks[1]], y2=yv[masks[1]], paired=False, method="delong",
                     direction="<", level=level, engine=engine)
        key = f"{name}/{_num_key(var)}"
        sec.numbers[f"subgroup_auc_diff/{key}"] = float(r.difference)
        sec.numbers[f"subgroup_auc_diff_ci_low/{key}"] = float(r.ci_low)
        sec.numbers[f"subgroup_auc_diff_ci_high/{key}"] = float(r.ci_high)
        sec.numbers[f"subgroup_auc_diff_p/{key}"] = float(r.p_value)
        sec.results.setdefault("subgroup_comparison", {})[(name, str(var))] = r
        rows.append({"Model": model_label(name), "Variable": L.var(var, unit=False),
                     "Subgroups": f"{levels[0]} vs {levels[1]}",
                     "AUC": f"{fmt_num(r.auc1, 3)} vs {fmt_num(r.auc2, 3)}",
                     "Difference": fmt_ci(r.difference, r.ci_low, r.ci_high, digits=3), "P": fmt_p(r.p_value)})
    return rows


# ====================================================================== harmonisation diagnostics
def harmonization_section(before: pd.DataFrame, after: pd.DataFrame, cohort: pd.DataFrame,
                          variables: Sequence[str], rows: Mapping[str, Any] | None = None, n_splits: int = 5,
                          seed: int = 0, labels: Any = None) -> Section:
    """Harmonisation diagnostics (:func:`her2stats.harmonization_diagnostics`) for each column in
    ``variables`` (manufacturer, field strength...): can the scanner be predicted from the image
    features (cross-validated batch-classifier AUC; 0.5 = not at all), and the per-feature ICC of
    the batch, before and after ComBat.

    ``before``/``after``: the image features without and with harmonisation, rows aligned with
    ``cohort``. ``rows``: label -> boolean mask of the rows to diagnose (default: all), e.g.
    ``{"development": dev, "test": ~dev}``: on the development rows the diagnostics show what the fit
    removed, on the test rows how it generalises. A variable with fewer than 2 levels of >= ``n_splits``
    rows in a row set is reported as not estimable there (a note), never silently dropped.

    Table ``harmonization``, figure ``harmonization_<variable>`` (ICC before/after per feature, one
    panel per row set), numbers ``harmonization_auc_before/<variable>/<rows>`` ...
    """
    import matplotlib.pyplot as plt

    from ..data.labels import as_labels
    from ..harmonization import harmonization_diagnostics

    L = as_labels(labels or {})
    if len(before) != len(cohort) or len(after) != len(cohort):
        raise InputError(f"harmonization_section: features ({len(before)}, {len(after)} rows) and cohort "
                         f"({len(cohort)} rows) must align")
    rows = dict(rows) if rows is not None else {"all": np.ones(len(cohort), dtype=bool)}
    sec = Section()
    res: dict[str, dict[str, Any]] = {}
    table = []
    for v in variables:
        if v not in cohort.columns:
            raise InputError(f"harmonization.diagnostics: column {v!r} not in the cohort")
        res[v] = {}
        for label, mask in rows.items():
            mask = np.asarray(mask, dtype=bool)
            b = cohort[v].to_numpy()[mask]
            ok = pd.notna(b)
            if (~ok).any():
                sec.notes.append(f"Harmonisation diagnostics by {v} ({label}): {int((~ok).sum())} patient(s) with a "
                                 f"missing {v} left out.")
            bi = pd.Series(b[ok]).astype(str).to_numpy()
            Xb, Xa = before.iloc[np.flatnonzero(mask)[ok]], after.iloc[np.flatnonzero(mask)[ok]]
            try:
                d = harmonization_diagnostics(Xb.reset_index(drop=True), Xa.reset_index(drop=True), bi, batch_col=v,
                                              n_splits=n_splits, seed=seed)
            except InputError as exc:
                sec.notes.append(f"Harmonisation diagnostics by {v} ({label} patients) not estimable: {exc}")
                table.append({"Variable": L.var(v, unit=False), "Patients": label, "n": str(int(ok.sum())),
                              "Batches": ", ".join(map(str, pd.unique(bi))), "Classifier AUC before": "",
                              "Classifier AUC after": "", "Median ICC before": "", "Median ICC after": "",
                              "Note": "not estimable (fewer than 2 batches with enough patients)"})
                continue
            res[v][label] = d
            s = d.summary().set_index("stage")
            table.append({"Variable": L.var(v, unit=False), "Patients": label, "n": str(d.n),
                          "Batches": ", ".join(map(str, d.batches)),
                          "Classifier AUC before": fmt_num(d.auc_before), "Classifier AUC after": fmt_num(d.auc_after),
                          "Median ICC before": fmt_num(s.loc["before", "median_icc"]),
                          "Median ICC after": fmt_num(s.loc["after", "median_icc"]), "Note": ""})
            k = f"{_num_key(v)}/{_num_key(label)}"
            sec.numbers[f"harmonization_auc_before/{k}"] = float(d.auc_before)
            sec.numbers[f"harmonization_auc_after/{k}"] = float(d.auc_after)
            sec.numbers[f"harmonization_icc_before/{k}"] = float(s.loc["before", "median_icc"])
            sec.numbers[f"harmonization_icc_after/{k}"] = float(s.loc["after", "median_icc"])
        if res[v]:
            fig, axes = plt.subplots(1, len(res[v]), figsize=(4.6 * len(res[v]), 3.6), squeeze=False)
            for ax, (label, d) in zip(axes[0], res[v].items()):
                d.plot(ax=ax)
                ax.set_title(f"{L.var(v, unit=False)}, {label}: AUC {d.auc_before:.2f} \u2192 {d.auc_after:.2f}",
                             fontsize=8)
            fig.tight_layout()
            sec.figures[f"harmonization_{_num_key(v)}"] = fig
    sec.results["harmonization"] = res
    sec.tables["harmonization"] = PublicationTable(
        data=pd.DataFrame(table), title="Harmonisation diagnostics: is the scanner still recognisable?",
        stub="Variable",
        footnotes=(f"Classifier AUC: {n_splits}-fold cross-validated logistic regression predicting the batch from the "
                   "image features (macro one-vs-rest AUC with more than 2 batches); 0.5 = the batch cannot be told "
                   "from the features.",
                   "ICC: one-way ICC(1) of the batch per feature (share of the feature's variance between batches); "
                   "median over features.",
                   "Development patients: ComBat was fitted on them (an AUC far below 0.5 after it is a cross-validation "
                   "artefact of means removed exactly); test patients: how the fitted harmonisation carries over."))
    return sec


# ====================================================================== reader study
def reader_study_section(rs: Any, base_dir: str | Path = ".", engine: str | None = None, level: float = 0.95,
                         n_boot: int = 2000, seed: Any = 0) -> Section:
    """The reader study of a ``reader_study:`` config section (:class:`~her2stats.reporting.config.
    ReaderStudyConfig`): Obuchowski-Rockette (or DBM) analysis with :func:`her2stats.mrmc` on the
    reader table it names (random readers and cases; with ``sensitivity_analyses`` also fixed readers
    and fixed cases). Tables ``reader_study`` (per-treatment figure of merit with CI, difference with
    CI, test statistic, df and p-value per analysis) and ``reader_study_readers`` (every reader's
    figure of merit), figure ``reader_study_roc`` (reader ROC curves per treatment), numbers
    ``mrmc_f``, ``mrmc_p``, ``mrmc_diff``, ``mrmc_fom/<treatment>`` ... (``/fixed_readers``,
    ``/fixed_cases`` for the other analyses).
    """
    from ..files import read_table
    from ..stats.mrmc import mrmc

    path = Path(rs.path).expanduser()
    path = path if path.is_absolute() else Path(base_dir) / path
    if not path.exists():
        raise ConfigError(f"reader_study.path: file not found: {path}")
    df = read_table(path, "reader_study.path", InputError)
    cols = {"reader": rs.reader, "treatment": rs.treatment, "case": rs.case, "truth": rs.truth, "rating": rs.rating}
    missing = [f"reader_study.{k}: column {v!r} not in {path.name}" for k, v in cols.items() if v not in df.columns]
    if missing:
        from .config import closest

        raise InputError("\n".join(m + (f"; did you mean {closest(m.split(chr(39))[1], df.columns)!r}?"
                                        if closest(m.split(chr(39))[1], df.columns) else "") for m in missing))
    tlab = {str(k): str(v) for k, v in rs.treatment_labels.items()}

    def tname(t: Any) -> str:
        return tlab.get(str(t), str(t))

    analyses = [(None, "Random readers and cases")]
    if rs.sensitivity_analyses:
        analyses += [("readers", "Fixed readers"), ("cases", "Fixed cases")]
    sec = Section()
    res, rows = {}, []
    for fixed, label in analyses:
        r = mrmc(df, reader=rs.reader, treatment=rs.treatment, case=rs.case, truth=rs.truth, rating=rs.rating,
                 method=rs.method, cov=rs.cov, fixed=fixed if fixed else rs.fixed, metric=rs.metric,
                 threshold=rs.threshold, level=level, treatments=list(rs.treatments) or None, n_boot=n_boot,
                 seed=seed, engine=engine, event=rs.event)
        key = {None: "random", "readers": "fixed_readers", "cases": "fixed_cases"}[r.fixed]
        if key in res:
            continue
        res[key] = r
        t1, t2 = r.treatments[0], r.treatments[1]
        stat = "χ²" if (r.fixed == "readers" and r.method == "OR") else "F"
        df_txt = (f"{fmt_num(r.df1, 0)}" if not np.isfinite(r.df2) else f"{fmt_num(r.df1, 0)}, {fmt_num(r.df2, 2)}")
        tci = r.treatment_ci.set_index(r.treatment_ci.columns[0]) if len(r.treatment_ci) else None
        row = {"Analysis": {None: "Random readers and cases", "readers": "Fixed readers",
                            "cases": "Fixed cases"}[r.fixed]}
        for t in r.treatments[:2]:
            if tci is not None and t in tci.index and {"ci_low", "ci_high"} <= set(tci.columns):
                row[tname(t)] = fmt_ci(r.treatment_auc[t], tci.loc[t, "ci_low"], tci.loc[t, "ci_high"])
            else:
                row[tname(t)] = fmt_num(r.treatment_auc[t])
        row[f"Difference ({tname(t1)} − {tname(t2)})"] = fmt_ci(r.diff, r.ci_low, r.ci_high)
        row["Test"] = f"{stat} = {fmt_num(r.statistic, 2)}"
        row["df"] = df_txt
        row["P"] = fmt_p(r.p_value)
        rows.append(row)
        suffix = "" if key == "random" else f"/{key}"
        sec.numbers.update({f"mrmc_statistic{suffix}": float(r.statistic), f"mrmc_df1{suffix}": float(r.df1),
                            f"mrmc_df2{suffix}": float(r.df2), f"mrmc_p{suffix}": float(r.p_value),
                            f"mrmc_diff{suffix}": float(r.diff), f"mrmc_diff_ci_low{suffix}": float(r.ci_low),
                            f"mrmc_diff_ci_high{suffix}": float(r.ci_high)})
        for t in r.treatments:
            sec.numbers[f"mrmc_fom/{_num_key(t)}{suffix}"] = float(r.treatment_auc[t])
    main = res["random"] if "random" in res else next(iter(res.values()))
    sec.results["reader_study"] = res
    metric = {"auc": "empirical AUC", "binormal_auc": "binormal AUC", "sensitivity": "sensitivity",
              "specificity": "specificity"}[rs.metric]
    sec.tables["reader_study"] = PublicationTable(
        data=pd.DataFrame(rows), stub="Analysis", title=f"{rs.title}: reader-averaged {metric} by treatment",
        footnotes=(f"{main.method == 'OR' and 'Obuchowski-Rockette' or 'Dorfman-Berbaum-Metz'} analysis "
                   f"({rs.cov} covariance), Hillis denominator degrees of freedom; {len(main.readers)} readers, "
                   f"{main.n_cases} cases ({main.n_pos} positive, {main.n_neg} negative), {main.design} design.",
                   f"{level:.0%} CIs. Random readers and cases generalise to new readers and new cases; fixed readers "
                   "to new cases read by these readers; fixed cases to new readers of these cases."))
    rf = main.reader_fom.copy()
    cols_rf = list(rf.columns)
    tcol = next((c for c in cols_rf if c.lower() == "treatment"), cols_rf[0])
    rcol = next((c for c in cols_rf if c.lower() == "reader"), cols_rf[1])
    vcol = next((c for c in cols_rf if c.lower() in ("fom", "auc", "estimate")), cols_rf[2])
    wide = rf.pivot(index=rcol, columns=tcol, values=vcol)
    rdata = pd.DataFrame({"Reader": [str(x) for x in wide.index]})
    for t in wide.columns:
        rdata[tname(t)] = [fmt_num(v) for v in wide[t]]
    sec.tables["reader_study_readers"] = PublicationTable(data=rdata, stub="Reader",
                                                          title=f"{rs.title}: {metric} of each reader")
    axes = main.plot()
    fig = np.atleast_1d(axes)[0].figure
    for ax, t in zip(np.atleast_1d(axes), main.treatments):
        ax.set_title(f"{tname(t)}: mean {metric} = {main.treatment_auc[t]:.3f}", fontsize=9)
    fig.tight_layout()
    sec.figures["reader_study_roc"] = fig
    sec.notes.append(f"Reader study ({path.name}): {len(main.readers)} readers read {main.n_cases} cases under "
                     f"{len(main.treatments)} treatments; the reader-averaged {metric} was compared by "
                     f"{'Obuchowski-Rockette' if main.method == 'OR' else 'Dorfman-Berbaum-Metz'} analysis "
                     f"({rs.cov} covariance, Hillis degrees of freedom)"
                     + ("; fixed-reader and fixed-case analyses as sensitivity analyses" if rs.sensitivity_analyses
                        else "") + ".")
    return sec


# ====================================================================== the study runner's hook
#: the study's logistic models, in report order (the zoo is not refitted by centre: nested CV per fold)
STUDY_MODELS = ("clinical", "deep_score", "combined")


def study_sections(cfg: Any, df: pd.DataFrame, probs: Mapping[str, Any], engine: str, n_boot: int,
                   deep: Mapping[str, Any] | None = None, select_clinical: Callable[[pd.DataFrame], list] | None = None,
                   scheduler: Any = None) -> Section:
    """Every section of this module that the study config asks for, from what the runner has.

    Parameters
    ----------
    cfg : the validated study config.
    df : the analysed cohort, with ``_y`` (0/1 outcome) and ``cohort_split``; positional rows
        aligned with ``deep["X"]``.
    probs : model -> predicted probabilities (Series on ``df.index``) of the models fitted on the
        development cohort.
    engine, n_boot : the study's engine and bootstrap count (``fast`` runs pass the reduced one).
    deep : the image stage's ``{"pipeline": fitted sklearn Pipeline, "X": features (+ batch columns)}``.
    select_clinical : ``f(train) -> covariates``, the study's clinical selection refitted per fold
        (None: every ``clinical.covariates``).

    Sections: ``validation.scheme: iecv`` -> :func:`iecv_section` over ``validation.by``; two or more
    external centres -> :func:`by_centre_section` of the development-fitted models; ``subgroups:`` ->
    :func:`subgroup_section` (test cohorts or the IECV held-out predictions);
    ``harmonization:`` -> :func:`harmonization_section` (development and test patients);
    ``reader_study:`` -> :func:`reader_study_section`.
    """
    from .config import closest

    val = cfg.validation
    sec = Section()
    seed = val.seed
    common = dict(level=0.95, min_events=val.min_events, n_boot=n_boot, seed=seed, scheduler=scheduler,
                  engine=engine)
    thr = list(val.net_benefit_thresholds)
    models = [m for m in STUDY_MODELS if m in probs]
    # ---- development-fitted models validated per external centre
    col = cfg.splits.column
    ext = df["cohort_split"].astype(str).str.startswith("external")
    if col in df.columns and ext.any() and df.loc[ext, col].nunique() >= 2 and models:
        e = df.loc[ext]
        sec.merge(by_centre_section(e["_y"].to_numpy(), {m: np.asarray(probs[m][e.index], float) for m in models},
                                    e[col].astype(str).to_numpy(), thresholds=thr, pi_type=val.pi_type,
                                    source="external validation", **common))
    # ---- internal-external cross-validation
    if val.scheme == "iecv":
        sec.merge(_iecv_for_study(cfg, df, probs, deep, select_clinical, thr, common))
    # ---- subgroups
    if cfg.subgroups is not None:
        sg = cfg.subgroups
        on = sg.on or ("iecv" if val.scheme == "iecv" else "test")
        # by default the study's logistic models; on the test cohorts any development-fitted model
        # may be named (image models, networks, fusions, the zoo: their test predictions are
        # out-of-sample too)
        avail = list(sec.results.get("iecv", {})) if on == "iecv" else models + [m for m in probs if m not in models]
        chosen = list(sg.models) or (avail if on == "iecv" else models)
        bad = [m for m in chosen if m not in avail]
        if bad:
            raise ConfigError("\n".join(f"subgroups.models: {m!r} is not a model of this study ({', '.join(avail)})"
                                        + (f"; did you mean {closest(m, avail)!r}?" if closest(m, avail) else "")
                                        for m in bad))
        if not chosen:
            raise ConfigError("subgroups: the study has no logistic model (clinical, deep_score, combined) to analyse")
        if on == "iecv":
            pr = {m: sec.results["iecv"][m].predictions for m in chosen}
            idx = pr[chosen[0]].index
            y = pr[chosen[0]]["y"].to_numpy()
            ps = {m: pr[m]["p"].loc[idx].to_numpy(float) for m in chosen}
            source = "held-out predictions of the internal-external cross-validation"
        else:
            test = df["cohort_split"] != "development"
            if not test.any():
                raise ConfigError("subgroups: the study has no test cohort (internal or external) to analyse; set "
                                  "validation.scheme: iecv (subgroups of the held-out predictions) or a test split")
            idx = df.index[test]
            y = df.loc[idx, "_y"].to_numpy()
            ps = {m: np.asarray(probs[m][idx], float) for m in chosen}
            source = "test cohorts"
        groups = subgroup_frame(df.loc[idx], sg.variables, sg.bands)
        sec.merge(subgroup_section(y, ps, groups, thresholds=thr, p_adjust=sg.p_adjust, source=source,
                                   labels=cfg.labels, **common))
    # ---- harmonisation diagnostics
    if cfg.harmonization is not None and deep is not None:
        sec.merge(_harmonization_for_study(cfg, df, deep))
    # ---- reader study
    if cfg.reader_study is not None:
        sec.merge(reader_study_section(cfg.reader_study, base_dir=cfg.base_dir, engine=engine, seed=seed))
    return sec


def _iecv_for_study(cfg: Any, df: pd.DataFrame, probs: Mapping[str, Any], deep: Mapping[str, Any] | None,
                    select_clinical: Callable | None, thr: list, common: dict) -> Section:
    val = cfg.validation
    by = val.by
    if by not in df.columns:
        raise InputError(f"validation.by: column {by!r} is not in the cohort")
    pipelines: dict[str, Any] = {}
    features: dict[str, list] = {}
    covs = list(cfg.clinical.covariates) if cfg.clinical is not None else []
    data = df[list(dict.fromkeys([by, "_y"] + covs))].reset_index(drop=True)
    if cfg.clinical is not None and "clinical" in probs:
        pipelines["clinical"] = LogisticFitter("_y", covs, select=select_clinical, engine=common["engine"])
    if deep is not None and "deep_score" in probs:
        Xr = deep["X"].reset_index(drop=True)
        if len(Xr) != len(df):
            raise InputError(f"internal-external cross-validation: {len(Xr)} image-feature rows for {len(df)} patients")
        # the batch and covariate columns the harmonisation step appended come from the cohort itself
        shared = [c for c in Xr.columns if c in data.columns]
        differ = [c for c in shared if not data[c].reset_index(drop=True).equals(Xr[c])]
        if differ:
            raise InputError(f"image-feature column(s) {differ[:5]} clash with cohort columns of the same name")
        data = pd.concat([data, Xr[[c for c in Xr.columns if c not in shared]]], axis=1)
        feats = list(Xr.columns)
        pipelines["deep_score"] = deep["pipeline"]
        features["deep_score"] = feats
        if "combined" in probs and cfg.clinical is not None:
            pipelines["combined"] = CombinedFitter("_y", covs, pipeline=deep["pipeline"], features=feats,
                                                   select=select_clinical, engine=common["engine"])
    if not pipelines:
        raise ConfigError("validation.scheme: iecv needs a clinical or imaging model to refit")
    data.index = df.index
    sec = iecv_section(data, "_y", by, pipelines, features=features, thresholds=thr, pi_type=val.pi_type,
                       centre_label="Centre" if by in ("center", "centre") else by.replace("_", " ").capitalize(),
                       **common)
    if cfg.zoo is not None:
        sec.notes.append("The machine-learning models were not refitted by centre (their nested cross-validation "
                         "inside each fold would multiply the run time); the internal-external cross-validation covers "
                         "the logistic models.")
    return sec


def _harmonization_for_study(cfg: Any, df: pd.DataFrame, deep: Mapping[str, Any]) -> Section:
    h = cfg.harmonization
    pipe = deep["pipeline"]
    step = dict(pipe.steps).get("harmonization")
    if step is None:
        raise InputError("harmonization is configured but the image pipeline has no harmonization step")
    X = deep["X"].reset_index(drop=True)
    feats = list(step.feature_names_in_)
    before = X[feats]
    after = step.transform(X)[feats]
    dev = (df["cohort_split"] == "development").to_numpy()
    rows = {"development": dev}
    if (~dev).any():
        rows["test"] = ~dev
    variables = list(h.diagnostics) or [h.batch]
    return harmonization_section(before, after, df.reset_index(drop=True), variables, rows=rows,
                                 seed=cfg.validation.seed, labels=cfg.labels)
