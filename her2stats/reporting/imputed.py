"""The study's main analysis with missing covariates multiply imputed (issue 17, items 6-7).

:func:`imputed_analysis` is the stage a study runs when its config has an ``imputation:``
section. It takes the analysed cohort (every patient with a known outcome, incomplete ones
included, split into development and test cohorts) and

1. fits :class:`~her2stats.MiceImputer` (chained equations, the outcome a predictor) on the
   **development rows only**: ``m`` completed development data sets;
2. imputes each test cohort with ``MiceImputer.transform``: from the development fit only, without
   refitting on the test rows and without reading their outcome;
3. selects the clinical covariates as the study's ``clinical.selection`` says, on each completed
   development data set, keeping those selected in at least half of them (the majority method of
   Wood, White & Royston 2008);
4. fits the logistic model on each completed development data set and pools it by Rubin's rules
   (:func:`~her2stats.fit_lrm_mi`: coefficients, odds ratios with Barnard-Rubin intervals);
5. evaluates the pooled model on each cohort's imputations (:func:`~her2stats.performance_mi`:
   AUC pooled on the logit scale, calibration slope, intercept, calibration-in-the-large, Brier
   score and net benefit). The development figures are apparent (labelled so) unless
   ``imputation.validation: bootstrap_then_impute`` asks for :func:`~her2stats.validate_mi`
   (Schomaker & Heumann 2018), whose optimism-corrected indices are then the development figures.

The numbers go under ``mi/...`` in ``numbers.json``; the complete-case analysis of the same
cohorts (what the study computes without ``imputation:``) is the sensitivity analysis, and
:func:`split_by_completeness` makes its split equal to a plain complete-case run's.

References
----------
Wood AM, White IR, Royston P. How should variable selection be performed with multiply imputed
data? Stat Med 2008;27:3227-3246. Marshall A, Altman DG, Holder RL, Royston P. Combining
estimates of interest in prognostic modelling studies after multiple imputation. BMC Med Res
Methodol 2009;9:57. Schomaker M, Heumann C. Bootstrap inference when using multiple imputation.
Stat Med 2018;37:2252-2266.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import InputError, find_stack_level
from ..schedulers import check_scheduler
from .clinical_selection import select_clinical
from .format import fmt_ci, fmt_num, fmt_p, fmt_ratio_ci
from .tables import PublicationTable

__all__ = ["ImputedAnalysis", "imputed_analysis", "split_by_completeness", "select_clinical",
           "complete_case_comparison", "missing_flow_rows", "stage_imputation", "NET_BENEFIT_THRESHOLDS"]

#: thresholds at which the pooled net benefit is reported (within validation.dca_thresholds)
NET_BENEFIT_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5)
_OUT = "_y"  # the study's 0/1 outcome column


# ---------------------------------------------------------------------------------- splits
def split_by_completeness(df: pd.DataFrame, complete: pd.Series,
                          assign: Callable[[pd.DataFrame], pd.DataFrame]) -> pd.DataFrame:
    """Assign cohort splits separately to the complete and the incomplete rows.

    ``assign`` is the study's split function (a DataFrame in, the same rows with ``cohort_split``
    out). Applied to the complete rows alone it gives exactly the split of a complete-case run of
    the same config, so the complete-case sensitivity analysis equals that run; the incomplete rows
    are split by the same rule on their own (stratified like the complete ones), so every cohort
    keeps its share of incomplete patients. Rows come back in their original order.
    """
    complete = complete.reindex(df.index).fillna(False).astype(bool)
    parts = [assign(df.loc[complete])]
    if (~complete).any():
        parts.append(assign(df.loc[~complete]))
    out = pd.concat(parts)
    return out.loc[[i for i in df.index if i in out.index]]


# ---------------------------------------------------------------------------------- result
@dataclass(frozen=True, repr=False)
class ImputedAnalysis:
    """What :func:`imputed_analysis` computed (numbers, tables, flow rows, methods, TRIPOD facts).

    Attributes
    ----------
    covariates : the model's covariates (after selection on the imputed data).
    selection : covariate -> share of completed development data sets in which it was selected
        (None without selection).
    missing : DataFrame (variable x cohort) of the number of imputed values.
    n_incomplete : cohort -> patients with at least one imputed value.
    imputations : cohort -> MultipleImputation (development: the imputer's own; tests: transform).
    model : the pooled logistic model (PooledLogisticModel).
    performance : cohort -> PooledPerformance of the pooled model.
    validation : MIValidationResult (bootstrap-then-impute) or None.
    """

    covariates: tuple
    selection: dict | None
    missing: pd.DataFrame
    n_incomplete: dict
    methods_used: dict
    imputations: dict = field(compare=False)
    model: Any = field(compare=False)
    performance: dict = field(compare=False)
    validation: Any = field(compare=False)
    imputer: Any = field(compare=False, default=None)
    numbers: dict = field(default_factory=dict)
    tables: dict = field(default_factory=dict)
    flow_rows: list = field(default_factory=list)
    methods: str = ""
    notes: tuple = ()
    m: int = 0
    seed: int = 0

    def __repr__(self) -> str:
        return (f"ImputedAnalysis(m={self.m}, covariates={list(self.covariates)}, cohorts={list(self.performance)}, "
                f"validation={'bootstrap-then-impute' if self.validation is not None else 'none'})")

    def tripod_facts(self, n_analysed: int) -> dict:
        """Facts for :func:`her2stats.tripod_checklist` (item 11 and the internal validation)."""
        by = {v: int(self.missing.loc[v].sum()) for v in self.missing.index if self.missing.loc[v].sum()}
        facts = {"missing_data": {
            "method": (f"multiple imputation by chained equations (m = {self.m}; imputation models fitted on the "
                       "development cohort only, test cohorts imputed from them without their outcome; Rubin's rules); "
                       "complete-case analysis as a sensitivity analysis"),
            "n_excluded": 0, "by_column": by}}
        if self.validation is not None:
            v = self.validation
            facts["analysis"] = {"internal_validation": (
                f"bootstrap-then-impute optimism correction of the imputed model (Schomaker & Heumann 2018; "
                f"{v.n_boot} resamples, {v.m_boot} imputations each)")}
        return facts


# ---------------------------------------------------------------------------------- stage
def imputed_analysis(df: pd.DataFrame, covariates: Sequence[str], cohorts: Sequence[str], imputation: Any, *,
                     selection: str = "none", rule: Any = None, engine: str | None = None, fast: bool = False,
                     n_boot: int = 200,
                     seed: int = 0, thresholds: Sequence[float] = NET_BENEFIT_THRESHOLDS, model_name: str = "clinical",
                     labels: Any = None, scheduler: Any = None) -> ImputedAnalysis:
    """Multiple imputation, pooled model and pooled performance of a study's clinical model.

    Parameters
    ----------
    df : the analysed cohort: column ``cohort_split`` (``development`` and the test cohorts), the
        0/1 outcome ``_y`` (complete) and the covariates (with missing values).
    covariates : the candidate clinical covariates (``clinical.covariates``).
    cohorts : the cohorts to evaluate, development first.
    imputation : the config's :class:`~her2stats.reporting.config.ImputationConfig`.
    selection : ``clinical.selection`` (applied on each completed development data set; majority rule).
    rule : the study's ``clinical`` config (p-value thresholds of the univariable screen and the Wald
        filters around stepwise selection; :func:`her2stats.reporting.clinical_selection.select_clinical`).
    engine : statistics engine of the pooled fits and performance (the imputations themselves run
        on the Python engine, seeded; ``mice`` through the bridge would serialise them).
    fast : smoke-test mode (``imputation.fast_m`` imputations, ``n_boot`` as given).
    n_boot : resamples of bootstrap-then-impute (``imputation.n_boot`` overrides).
    seed : seed of the selection's cross-validation and of bootstrap-then-impute.
    thresholds : risk thresholds of the pooled net benefit.
    """
    check_scheduler(scheduler)  # refused alike on both engines
    from ..stats.imputation import MiceImputer, fit_lrm_mi, performance_mi, validate_mi

    imp_cfg = imputation
    covs = list(covariates)
    aux = [c for c in imp_cfg.auxiliary if c not in covs]
    cols = covs + aux
    for c in [*cols, _OUT, "cohort_split"]:
        if c not in df.columns:
            raise InputError(f"imputation: column {c!r} is not in the cohort")
    if df[_OUT].isna().any():
        raise InputError("imputation: the outcome has missing values in the analysed cohort; rows without an outcome "
                         "are excluded (and counted) before imputation")
    m = int(imp_cfg.fast_m if fast else imp_cfg.m)
    dev_mask = (df["cohort_split"] == "development").to_numpy()
    dev = df.loc[dev_mask, cols + [_OUT]]
    imputer = MiceImputer(m=m, method=dict(imp_cfg.methods) or None, outcome=_OUT, columns=cols,
                          maxit=imp_cfg.maxit, donors=imp_cfg.donors, seed=imp_cfg.seed, scheduler=scheduler,
                          engine="python")
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        imputer.fit(dev)  # development rows only: no test patient enters an imputation model
    for w in caught:
        if "logged event" in str(w.message):
            notes.append(f"Imputation: {w.message}")
        else:
            warnings.warn(w.message, w.category, stacklevel=find_stack_level())
    imps = {"development": imputer.imputations_}
    for c in cohorts:
        if c == "development":
            continue
        part = df.loc[(df["cohort_split"] == c).to_numpy(), cols + [_OUT]]
        imps[c] = imputer.transform(part)  # from the development fit only; the outcome is not read
    missing = pd.DataFrame({c: pd.Series(imps[c].n_imputed) for c in imps}).reindex(cols).fillna(0).astype(int)
    n_incomplete = {c: imps[c].n_incomplete_rows for c in imps}
    methods_used = {k: v for k, v in imps["development"].methods.items() if v}

    # ---- selection on the imputed development data (majority method)
    sel_share = None
    chosen = covs
    if selection != "none":
        counts = dict.fromkeys(covs, 0)
        for d in imps["development"]:
            for c in select_clinical(d, _OUT, covs, selection, engine, seed, rule=rule, allow_empty=True):
                counts[c] += 1
        sel_share = {c: counts[c] / m for c in covs}
        chosen = [c for c in covs if sel_share[c] >= 0.5]
        if not chosen:
            raise InputError(f"imputation: {selection} selection kept no clinical covariate in at least half of the "
                             f"{m} imputed development data sets; use clinical.selection: none")
    model = fit_lrm_mi(imps["development"], _OUT, chosen, engine=engine)

    # ---- pooled performance per cohort
    th = [float(t) for t in thresholds]
    perf = {}
    for c, mi in imps.items():
        if mi.datasets[0][_OUT].nunique() < 2:
            notes.append(f"{c}: one outcome class only; no pooled performance.")
            continue
        perf[c] = performance_mi(model, mi, outcome=_OUT, thresholds=th, engine=engine)
    validation = None
    if imp_cfg.validation == "bootstrap_then_impute":
        B = int(imp_cfg.n_boot if imp_cfg.n_boot is not None else n_boot)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            validation = validate_mi(dev, _OUT, chosen, imputer=imputer, m_boot=imp_cfg.m_boot, n_boot=B, seed=seed,
                                     scheduler=scheduler)
        for w in caught:
            if "failed" in str(w.message):
                notes.append(f"Bootstrap-then-impute: {w.message}")

    numbers = _numbers(model, perf, validation, missing, n_incomplete, imps, model_name, m)
    res = ImputedAnalysis(covariates=tuple(chosen), selection=sel_share, missing=missing, n_incomplete=n_incomplete,
                          methods_used=methods_used, imputations=imps, model=model, performance=perf,
                          validation=validation, imputer=imputer, numbers=numbers, notes=tuple(notes), m=m,
                          seed=int(imp_cfg.seed))
    tables = _tables(res, labels, model_name)
    object.__setattr__(res, "tables", tables)
    object.__setattr__(res, "flow_rows", _flow_rows(res, {c: len(imps[c].datasets[0]) for c in imps}))
    object.__setattr__(res, "methods", _methods(res, selection, imp_cfg))
    return res


# ---------------------------------------------------------------------------------- numbers
_PERF_KEYS = {"calibration_slope": "cal_slope", "calibration_intercept": "cal_intercept", "citl": "citl",
              "brier": "brier"}
_VALIDATE_KEYS = {"AUC": "auc", "slope": "cal_slope", "intercept": "cal_intercept", "citl": "citl",
                  "Brier": "brier", "ICI": "ici"}


def _numbers(model, perf, validation, missing, n_incomplete, imps, name, m) -> dict:
    out: dict[str, float] = {"mi/m": float(m)}
    for c, mi in imps.items():
        out[f"mi/n/{c}"] = float(mi.n)
        out[f"mi/n_incomplete/{c}"] = float(n_incomplete[c])
        for v in missing.index:
            out[f"mi/n_imputed/{v}/{c}"] = float(missing.loc[v, c])
    t = model.table
    for term in t.index:
        if term == "Intercept":
            continue
        out[f"mi/or/{term}"] = float(t.loc[term, "odds_ratio"])
        out[f"mi/or_ci_low/{term}"] = float(t.loc[term, "or_ci_low"])
        out[f"mi/or_ci_high/{term}"] = float(t.loc[term, "or_ci_high"])
        out[f"mi/or_p/{term}"] = float(t.loc[term, "p_value"])
        out[f"mi/fmi/{term}"] = float(t.loc[term, "fmi"])
    for c, pp in perf.items():
        # on the development cohort the pooled model's own figures are apparent (labelled so);
        # the honest development figures are the bootstrap-then-impute corrected ones below
        pre = "mi/auc_apparent" if c == "development" else "mi/auc"
        tab = pp.table
        row = tab[tab["measure"] == "auc"].iloc[0]
        out[f"{pre}/{name}/{c}"] = float(row["estimate"])
        out[f"{pre}_ci_low/{name}/{c}"] = float(row["ci_low"])
        out[f"{pre}_ci_high/{name}/{c}"] = float(row["ci_high"])
        for meas, key in _PERF_KEYS.items():
            r = tab[tab["measure"] == meas].iloc[0]
            k = key if c != "development" else f"{key}_apparent"
            out[f"mi/{k}/{name}/{c}"] = float(r["estimate"])
            out[f"mi/{k}_ci_low/{name}/{c}"] = float(r["ci_low"])
            out[f"mi/{k}_ci_high/{name}/{c}"] = float(r["ci_high"])
        for r in tab[tab["measure"] == "net_benefit"].to_dict("records"):
            k = "net_benefit" if c != "development" else "net_benefit_apparent"
            out[f"mi/{k}/{name}/{c}/{r['threshold']:g}"] = float(r["estimate"])
    if validation is not None:
        vt = validation.table
        for idx, key in _VALIDATE_KEYS.items():
            out[f"mi/{key}/{name}/development"] = float(vt.loc[idx, "index_corrected"])
            out[f"mi/{key}_ci_low/{name}/development"] = float(vt.loc[idx, "ci_low"])
            out[f"mi/{key}_ci_high/{name}/development"] = float(vt.loc[idx, "ci_high"])
            out[f"mi/{key}_optimism/{name}"] = float(vt.loc[idx, "optimism"])
        out["mi/validate_n_failed"] = float(validation.n_failed)
    return {k: v for k, v in out.items() if math.isfinite(v)}  # a value that does not exist is left out, not NaN


# ---------------------------------------------------------------------------------- tables
def _cohort_label(c: str) -> str:
    from .builders import cohort_label

    return cohort_label(c)


def _tables(res: ImputedAnalysis, labels: Any, name: str) -> dict[str, PublicationTable]:
    from ..data.labels import as_labels

    L = as_labels(labels)
    tables: dict[str, PublicationTable] = {}
    # what was imputed, per variable and cohort
    rows = []
    n = {c: res.imputations[c].n for c in res.imputations}
    for v in res.missing.index:
        row = {"Variable": L.var(v), "Method": res.methods_used.get(v, "") or "(complete)"}
        for c in res.imputations:
            k = int(res.missing.loc[v, c])
            row[_cohort_label(c)] = f"{k} ({100 * k / n[c]:.1f}%)" if n[c] else "0"
        rows.append(row)
    row = {"Variable": "Patients with any imputed value", "Method": ""}
    for c in res.imputations:
        row[_cohort_label(c)] = f"{res.n_incomplete[c]} ({100 * res.n_incomplete[c] / n[c]:.1f}%)" if n[c] else "0"
    rows.append(row)
    tables["imputation"] = PublicationTable(
        pd.DataFrame(rows), title="Missing values imputed, by variable and cohort", stub="Variable",
        footnotes=(f"Multiple imputation by chained equations (m = {res.m}, seed {res.seed}): imputation models fitted "
                   "on the development cohort only (outcome among the predictors); the test cohorts were imputed "
                   "from those models without refitting on them and without their outcome.",
                   "n (%) of the cohort's patients; pmm: predictive mean matching, logreg: logistic, polyreg: "
                   "multinomial, polr: proportional-odds regression."))
    # pooled odds ratios
    t = res.model.table
    rows = []
    for term in t.index:
        if term == "Intercept":
            continue
        var, _, level = term.partition("=")
        rows.append({"Term": L.var(var) + (f": {level}" if level else ""),
                     "OR (95% CI)": fmt_ratio_ci(t.loc[term, "odds_ratio"], t.loc[term, "or_ci_low"],
                                                 t.loc[term, "or_ci_high"]),
                     "p": fmt_p(t.loc[term, "p_value"]), "FMI": fmt_num(t.loc[term, "fmi"], 2)})
    sel = ""
    if res.selection is not None:
        sel = " Covariates selected in at least half of the imputed development data sets (majority method): " + \
              ", ".join(f"{L.var(c)} {100 * s:.0f}%" for c, s in res.selection.items()) + "."
    tables["mi_or_table"] = PublicationTable(
        pd.DataFrame(rows), title="Pooled logistic regression (multiple imputation, development cohort)", stub="Term",
        footnotes=(f"Logistic regression on each of the {res.m} imputed development data sets, pooled by Rubin's "
                   "rules; 95% CI on Barnard-Rubin degrees of freedom. FMI: fraction of missing information." + sel,))
    # pooled performance
    rows = []
    for c, pp in res.performance.items():
        tab = pp.table.set_index("measure")

        def cell(meas):
            r = tab.loc[meas]
            r = r.iloc[0] if isinstance(r, pd.DataFrame) else r
            return fmt_ci(r["estimate"], r["ci_low"], r["ci_high"])

        label = _cohort_label(c) + (" (apparent)" if c == "development" else "")
        rows.append({"Cohort": label, "n": str(pp.n), "AUC (95% CI)": cell("auc"),
                     "Calibration slope": cell("calibration_slope"),
                     "Calibration intercept": cell("calibration_intercept"),
                     "Calibration-in-the-large": cell("citl"), "Brier score": cell("brier")})
        if c == "development" and res.validation is not None:
            vt = res.validation.table
            rows.append({"Cohort": _cohort_label(c) + " (bootstrap-then-impute corrected)", "n": str(pp.n),
                         "AUC (95% CI)": fmt_ci(*vt.loc["AUC", ["index_corrected", "ci_low", "ci_high"]]),
                         "Calibration slope": fmt_ci(*vt.loc["slope", ["index_corrected", "ci_low", "ci_high"]]),
                         "Calibration intercept": fmt_ci(*vt.loc["intercept", ["index_corrected", "ci_low", "ci_high"]]),
                         "Calibration-in-the-large": fmt_ci(*vt.loc["citl", ["index_corrected", "ci_low", "ci_high"]]),
                         "Brier score": fmt_ci(*vt.loc["Brier", ["index_corrected", "ci_low", "ci_high"]])})
    if rows:
        notes = ["Performance of the pooled model on each imputed data set of the cohort, pooled by Rubin's rules "
                 "(AUC on the logit scale, Marshall et al. 2009); 95% CIs."]
        if res.validation is None:
            notes.append("Development figures are apparent (the model is evaluated on the data it was fitted on); "
                         "set imputation.validation: bootstrap_then_impute for optimism-corrected ones.")
        else:
            v = res.validation
            notes.append(f"Bootstrap-then-impute (Schomaker & Heumann 2018): {v.n_boot} resamples of the incomplete "
                         f"development data, each imputed {v.m_boot} times and the model refitted; {v.n_failed} failed.")
        tables["mi_performance"] = PublicationTable(pd.DataFrame(rows), title="Performance of the model fitted on "
                                                    "multiply imputed data (main analysis)", stub="Cohort",
                                                    footnotes=tuple(notes))
    # pooled net benefit
    rows = []
    for c, pp in res.performance.items():
        for r in pp.table[pp.table["measure"] == "net_benefit"].to_dict("records"):
            rows.append({"Cohort": _cohort_label(c) + (" (apparent)" if c == "development" else ""),
                         "Threshold": f"{r['threshold']:g}",
                         "Net benefit (95% CI)": fmt_ci(r["estimate"], r["ci_low"], r["ci_high"])})
    if rows:
        tables["mi_net_benefit"] = PublicationTable(
            pd.DataFrame(rows), title="Net benefit of the model fitted on multiply imputed data", groupname="Cohort",
            footnotes=("Net benefit at each risk threshold on each imputed data set, pooled by Rubin's rules.",))
    return tables


def _flow_rows(res: ImputedAnalysis, n: Mapping[str, int]) -> list[dict]:
    rows = []
    for c in res.imputations:
        per = ", ".join(f"{v} {int(res.missing.loc[v, c])}" for v in res.missing.index if res.missing.loc[v, c])
        rows.append({"step": f"imputed ({c})", "n_remaining": int(n[c]), "n_excluded": 0,
                     "reason": (f"{res.n_incomplete[c]} patient(s) with imputed values: {per}" if per else
                                "nothing to impute")})
    return rows


def _methods(res: ImputedAnalysis, selection: str, imp_cfg: Any) -> str:
    meth = ", ".join(f"{v} ({k})" for v, k in res.methods_used.items())
    text = (f"Missing covariate values were multiply imputed by chained equations (m = {res.m} imputations, "
            f"{imp_cfg.maxit} iterations, seed {res.seed}; {meth or 'no variable needed imputing'}). The imputation "
            "models were fitted on the development cohort only, with the outcome among the predictors; the internal "
            "and external test cohorts were imputed from those models without refitting them and without using the "
            "test patients' outcome. ")
    if res.selection is not None:
        text += (f"Covariate selection ({selection}) was run on each imputed development data set and the covariates "
                 "selected in at least half of them were kept (Wood et al. 2008). ")
    text += ("The logistic model was fitted on each imputed development data set and the fits pooled by Rubin's "
             "rules (odds ratios with Barnard-Rubin intervals); its AUC (pooled on the logit scale), calibration "
             "slope, intercept, calibration-in-the-large, Brier score and net benefit were computed on each imputed "
             "data set of each cohort and pooled by Rubin's rules. ")
    if res.validation is not None:
        text += res.validation.methods_text() + " "
        if res.selection is not None:
            text += ("The covariate selection was not repeated inside the bootstrap-then-impute resamples (the "
                     "whole-pipeline validation repeats it, on complete cases). ")
    else:
        text += "Development-cohort figures of the imputed model are apparent. "
    text += ("The complete-case analysis (patients with every covariate observed) is reported as a sensitivity "
             "analysis.")
    return text


# ---------------------------------------------------------------------------------- comparison
def complete_case_comparison(numbers: Mapping[str, float], cohorts: Sequence[str], model: str = "clinical",
                             labels: Any = None, or_terms: Sequence[str] | None = None) -> PublicationTable:
    """Main analysis (multiple imputation) beside the complete-case sensitivity analysis, read from
    a study's ``numbers``: n, AUC with CI per cohort (development: the honest figure when the run has
    one, else the apparent one, labelled), calibration slope, and the odds ratios."""
    from ..data.labels import as_labels

    L = as_labels(labels)

    def get(key):
        v = numbers.get(key)
        return float("nan") if v is None else float(v)

    rows = []
    for c in cohorts:
        lab = _cohort_label(c)
        mi_auc = f"mi/auc/{model}/{c}" if f"mi/auc/{model}/{c}" in numbers else f"mi/auc_apparent/{model}/{c}"
        tag = "" if "apparent" not in mi_auc else " (apparent)"
        stem, _, rest = mi_auc.partition(f"/{model}/")
        mi_txt = fmt_ci(get(mi_auc), get(f"{stem}_ci_low/{model}/{rest}"), get(f"{stem}_ci_high/{model}/{rest}")) + tag
        cc_txt = fmt_ci(get(f"auc/{model}/{c}"), get(f"auc_ci_low/{model}/{c}"), get(f"auc_ci_high/{model}/{c}"))
        if c == "development" and f"auc_apparent/{model}/{c}" not in numbers:
            # a run whose development AUC is not separated into honest and apparent reports the apparent one
            cc_txt += " (apparent)"
        rows.append({"Quantity": f"{lab}: n", "Multiple imputation (main)": str(int(get(f"mi/n/{c}")))
                     if math.isfinite(get(f"mi/n/{c}")) else "",
                     "Complete cases (sensitivity)": str(int(get(f"n/{c}"))) if math.isfinite(get(f"n/{c}")) else ""})
        rows.append({"Quantity": f"{lab}: AUC (95% CI)", "Multiple imputation (main)": mi_txt,
                     "Complete cases (sensitivity)": cc_txt})
        if c != "development":
            rows.append({"Quantity": f"{lab}: calibration slope",
                         "Multiple imputation (main)": fmt_num(get(f"mi/cal_slope/{model}/{c}")),
                         "Complete cases (sensitivity)": fmt_num(get(f"cal_slope/{model}/{c}"))})
    terms = or_terms if or_terms is not None else sorted({k.split("/", 2)[2] for k in numbers
                                                          if k.startswith("mi/or/")})
    for term in terms:
        var, _, level = term.partition("=")
        mi = fmt_ratio_ci(get(f"mi/or/{term}"), get(f"mi/or_ci_low/{term}"), get(f"mi/or_ci_high/{term}")) \
            if f"mi/or/{term}" in numbers else "not in model"
        cc = fmt_ratio_ci(get(f"or/{term}"), get(f"or_ci_low/{term}"), get(f"or_ci_high/{term}")) \
            if f"or/{term}" in numbers else "not in model"
        rows.append({"Quantity": f"OR {L.var(var)}" + (f": {level}" if level else ""),
                     "Multiple imputation (main)": mi, "Complete cases (sensitivity)": cc})
    return PublicationTable(pd.DataFrame(rows), title="Main analysis (multiple imputation) and complete-case "
                            "sensitivity analysis", stub="Quantity",
                            footnotes=("Complete cases: the patients with every clinical covariate observed, in the "
                                       "same cohorts; their numbers are those of the study run without imputation.",))


# ---------------------------------------------------------------------------------- study stage
def missing_flow_rows(df: pd.DataFrame, columns: Sequence[str], cohorts: Sequence[str]) -> list[dict]:
    """Cohort-flow rows saying, per cohort, how many patients have values to impute and how many
    per variable (nobody is excluded: ``n_excluded`` 0, ``n_remaining`` the cohort's size)."""
    rows = []
    for c in cohorts:
        part = df[df["cohort_split"] == c]
        if part.empty:
            continue
        miss = part[list(columns)].isna()
        per = ", ".join(f"{v} {int(k)}" for v, k in miss.sum().items() if k)
        n_inc = int(miss.any(axis=1).sum())
        rows.append({"step": f"multiple imputation ({c})", "n_remaining": len(part), "n_excluded": 0,
                     "reason": (f"{n_inc} patient(s) with imputed values (none excluded): {per}" if n_inc else
                                "no value to impute")})
    return rows


def stage_imputation(state: Any) -> Any:
    """Study stage (after the complete-case models): the imputed main analysis of the clinical
    model on ``state.imputation_cohort`` (every analysed patient, incomplete ones included); its
    numbers (``mi/...``), tables, notes and results join the state's, with the comparison table
    against the complete-case analysis (the sensitivity analysis) of the same cohorts."""
    cfg = state.config
    if cfg.imputation is None or cfg.clinical is None or state.imputation_cohort is None:
        return state
    state.say("multiple imputation")
    full = state.imputation_cohort
    cohorts = [c for c in state.cohorts if (full["cohort_split"] == c).any()]
    cohorts += [c for c in dict.fromkeys(full["cohort_split"]) if c not in cohorts]
    res = imputed_analysis(full, list(cfg.clinical.covariates), cohorts, cfg.imputation,
                           selection=cfg.clinical.selection, rule=cfg.clinical, engine=state.engine, fast=state.fast,
                           n_boot=state.n_boot, seed=cfg.validation.seed, labels=cfg.labels,
                           scheduler=state.scheduler,
                           thresholds=[t for t in NET_BENEFIT_THRESHOLDS
                                       if cfg.validation.dca_thresholds[0] <= t <= cfg.validation.dca_thresholds[1]])
    state.numbers.update(res.numbers)
    state.tables.update(res.tables)
    state.notes.extend(res.notes)
    state.results["imputation"] = res
    terms = [k.split("/", 2)[2] for k in res.numbers if k.startswith("mi/or/")]
    terms += [k.split("/", 1)[1] for k in state.numbers if k.startswith("or/") and k.split("/", 1)[1] not in terms
              and k.split("/", 1)[1].split("=")[0] in cfg.clinical.covariates]
    state.tables["mi_vs_complete_case"] = complete_case_comparison(state.numbers, cohorts, labels=cfg.labels,
                                                                   or_terms=terms)
    return state
