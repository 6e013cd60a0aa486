"""Result objects of the statistics layer -> :class:`PublicationTable` with journal formatting.

Every builder takes result objects (never raw data), formats numbers with
:mod:`her2stats.reporting.format` (p < 0.001 / three decimals, AUC three decimals, percentages one
decimal, ratios with CI) and writes footnotes naming the methods that produced the numbers, so a
table can go into a manuscript unchanged.

=====================  ==========================================================  =================
builder                input                                                       layout
=====================  ==========================================================  =================
``table1_table``       :class:`~her2stats.stats.tables.Table1`                      seed 001/002 Table 1
``or_table``           :class:`~her2stats.stats.logistic.LogisticTable`             seed 003 OR table
``performance_table``  ``{(model, cohort): (AUCResult, DiagnosticResult)}``         seed 001/002/003
``delong_table``       ``{cohort: AUCComparison}``                                  seed 001/003
``cox_table``          :class:`~her2stats.stats.survival.CoxResult`                 seed 004
``agreement_table``    ICCResult / KappaResult mappings                            seed 002
``calibration_table``  per (model, cohort): ValProbResult, HosmerLemeshowResult     seed 003
``calibration_hierarchy_table``  per (model, cohort): CalibrationHierarchyResult   Van Calster 2016
``flow_table``         cohort-flow DataFrame (step, n_remaining, n_excluded, reason)
=====================  ==========================================================  =================
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Iterator, Mapping

import numpy as np
import pandas as pd

from ..data.labels import as_labels
from ..errors import InputError
from .format import fmt_ci, fmt_count_ci, fmt_num, fmt_p, fmt_ratio_ci
from .tables import PublicationTable

__all__ = ["table1_table", "or_table", "performance_table", "delong_table", "cox_table", "cox_tt_table", "rmst_table",
           "agreement_table", "calibration_table", "calibration_hierarchy_table", "net_benefit_difference_table",
           "validation_table", "flow_table", "tripod_table", "MODEL_DISPLAY", "COHORT_DISPLAY", "model_labels", "use_model_labels",
           "model_label", "cohort_label"]

#: display names of the study runner's model and cohort keys
MODEL_DISPLAY = {"clinical": "Clinical model", "deep_score": "Deep Score", "combined": "Combined model",
                 "lr": "Logistic regression (L2)", "svm": "SVM (RBF)", "knn": "k-nearest neighbours",
                 "dt": "Decision tree", "mlp": "Neural network (MLP)", "rf": "Random forest",
                 "et": "Extra trees", "xgb": "XGBoost", "lgbm": "LightGBM"}
COHORT_DISPLAY = {"development": "Development", "internal": "Internal test", "external": "External test"}


#: display names of a study's own models (image models, networks, fusions: their ``label:`` keys),
#: set for the duration of a run by :func:`model_labels`
_MODEL_LABELS: ContextVar[Mapping[str, str]] = ContextVar("her2stats_model_labels", default={})


@contextmanager
def model_labels(labels: Mapping[str, str]) -> Iterator[None]:
    """Within the block, :func:`model_label` shows ``labels[name]`` for these model names (a study
    run sets its config's model labels; nested blocks add to the outer ones)."""
    token = _MODEL_LABELS.set({**_MODEL_LABELS.get(), **{str(k): str(v) for k, v in labels.items() if v}})
    try:
        yield
    finally:
        _MODEL_LABELS.reset(token)


def use_model_labels(labels: Mapping[str, str]) -> None:
    """:func:`model_labels` for the rest of the current context (a report kernel: every cell after it)."""
    _MODEL_LABELS.set({**_MODEL_LABELS.get(), **{str(k): str(v) for k, v in labels.items() if v}})


def model_label(name: str) -> str:
    """Display name of a model: the study's label, else the package's (Clinical model, Deep Score...),
    else the name itself."""
    return _MODEL_LABELS.get().get(name) or MODEL_DISPLAY.get(name, name)


def cohort_label(name: str) -> str:
    if name.startswith("external:"):
        return f"External test ({name.split(':', 1)[1]})"
    return COHORT_DISPLAY.get(name, name)


def _grouped(data: pd.DataFrame, group: str, stub: str) -> dict:
    """Rows reordered so each group's rows are together (first-appearance order), as
    ``PublicationTable`` keyword arguments grouping them."""
    if not len(data):
        return {"data": data}
    order = {g: i for i, g in enumerate(dict.fromkeys(data[group]))}
    data = data.assign(_o=data[group].map(order)).sort_values("_o", kind="stable").drop(columns="_o")
    data = data[[group, stub] + [c for c in data.columns if c not in (group, stub)]].reset_index(drop=True)
    return {"data": data, "groupname": group, "stub": stub}


def _need(obj: Any, cls_name: str, what: str) -> None:
    if type(obj).__name__ != cls_name:
        raise InputError(f"{what} must be a {cls_name}, got {type(obj).__name__}")


# ---------------------------------------------------------------------------------- Table 1
def table1_table(t1: Any, title: str | None = None, group_label: str | None = None, p_digits: int = 3,
                 labels: Any = None) -> PublicationTable:
    """Table 1 from :func:`~her2stats.stats.tables.table_one`.

    One row per continuous variable (``Age (years), mean ± SD``) and per level of a categorical
    variable (``n (%)``, indented under the variable's name), named by the data dictionary's
    labels (``labels=`` overrides them; the ``labels`` given to ``table_one`` are used too); group
    columns are headed with their level label and n (``HER2-positive (n = 85)``); P (and adjusted
    P, SMD when computed) on the variable's first row. The Table1's footnotes are carried over.
    """
    _need(t1, "Table1", "t1")
    f = t1.frame
    known = list(dict.fromkeys(map(str, f["variable"]))) + ([str(t1.group)] if t1.group is not None else [])
    L = as_labels(getattr(t1, "labels", None), known=known, source="table_one labels").merged(
        labels, known=known, source="labels")
    groups = [str(g) for g in t1.groups]
    gname = group_label or (L.var(t1.group, unit=False) if t1.group is not None else "group")
    heads = {g: f"{L.group_level(t1.group, g) if t1.group is not None else g} (n = {n})" for g, n in zip(groups, t1.n)}
    rows = []
    for r in f.itertuples(index=False):
        r = r._asdict()
        is_level = bool(r["level"]) and r["test"] == "" and not (isinstance(r["p_value"], float) and np.isfinite(r["p_value"]))
        if r["level"] and not is_level:  # continuous: "Age (years), mean ± SD"
            label = f"{L.var(r['variable'])}, {r['level']}"
        elif is_level:
            label = f"\u2003{L.level(r['variable'], r['level'])}"
        else:
            label = L.var(r["variable"])
        row = {"Characteristic": label}
        row.update({heads[g]: ("" if r.get(g) in (None, "NA") else r.get(g, "")) for g in groups})
        row["Test"] = r.get("test", "")
        row["P"] = fmt_p(r["p_value"], p_digits) if not is_level else ""
        if "p_adjusted" in r:
            row["P (adjusted)"] = fmt_p(r["p_adjusted"], p_digits) if not is_level else ""
        if "smd" in r:
            row["SMD"] = fmt_num(r["smd"], 3) if not is_level else ""
        rows.append(row)
    data = pd.DataFrame(rows).fillna("")
    sub = f"By {gname}; N = {int(sum(t1.n))}"
    notes = list(t1.footnotes)
    if t1.n_excluded:
        notes.append(f"{t1.n_excluded} patient(s) with a missing grouping value were excluded.")
    if title is None:
        title = f"Baseline characteristics by {gname}"
    return PublicationTable(data=data, title=title, subtitle=sub, stub="Characteristic", footnotes=tuple(notes))


# ---------------------------------------------------------------------------------- OR table
def _term_label(variable: str, level: Any, reference: Any, L: Any = None) -> str:
    L = L or as_labels(None)
    if level is None or (isinstance(level, float) and np.isnan(level)) or level == "":
        return L.var(variable)
    return L.term(variable, level, reference)


def or_table(lt: Any, title: str = "Univariable and multivariable logistic regression", labels: Any = None
             ) -> PublicationTable:
    """OR table (OR (95% CI) and P for univariable and multivariable models) from
    :func:`~her2stats.stats.logistic.logistic_table`; terms named by the dictionary labels
    (``Histological grade: 3 vs 1``, ``HER2-positive vs HER2-negative``; ``labels=`` overrides);
    a covariate left out of the final model (stepwise) shows an empty multivariable cell."""
    _need(lt, "LogisticTable", "lt")
    L = as_labels(labels, known=set(map(str, lt.frame["variable"])) | {str(lt.outcome)}, source="labels")
    rows = []
    for r in lt.frame.to_dict("records"):
        row = {"Variable": _term_label(r["variable"], r.get("level"), r.get("reference"), L)}
        if "uni_or" in r:
            row["Univariable OR (95% CI)"] = fmt_ratio_ci(r["uni_or"], r["uni_ci_low"], r["uni_ci_high"])
            row["Univariable P"] = fmt_p(r["uni_p"])
        if "multi_or" in r:
            row["Multivariable OR (95% CI)"] = fmt_ratio_ci(r["multi_or"], r["multi_ci_low"], r["multi_ci_high"])
            row["Multivariable P"] = fmt_p(r["multi_p"])
        rows.append(row)
    data = pd.DataFrame(rows).fillna("")
    spanners, heads = {}, {}
    for part in ("Univariable", "Multivariable"):
        if f"{part} P" in data:
            spanners[part] = [f"{part} OR (95% CI)", f"{part} P"]
            heads.update({f"{part} OR (95% CI)": "OR (95% CI)", f"{part} P": "P"})
    # the statistics layer's notes name columns; print them by their labels (the stepwise note is
    # rewritten below with labelled covariates)
    raw_or = f"odds ratio of {lt.outcome} = {lt.positive!r}"
    notes = [n.replace(raw_or, f"odds ratio of {L.group_level(lt.outcome, lt.positive)}") for n in lt.footnotes
             if not (lt.stepwise and n.startswith("Multivariable model selected by"))]
    if lt.stepwise:
        notes.append(f"Multivariable model selected by {lt.stepwise} stepwise {lt.criterion.upper()}: "
                     f"{', '.join(L.var(v, unit=False) for v in lt.selected) or 'no covariate kept'}.")
    notes.append(f"n = {lt.n} ({lt.n_events} events)" + (f"; {lt.n_excluded} excluded for missing values." if lt.n_excluded else "."))
    return PublicationTable(data=data, title=title, stub="Variable", spanners=spanners, footnotes=tuple(notes),
                            column_labels=heads)


# ---------------------------------------------------------------------------------- performance
_DIAG_COLS = (("sensitivity", "Sensitivity"), ("specificity", "Specificity"), ("ppv", "PPV"), ("npv", "NPV"),
              ("accuracy", "Accuracy"))


def _diag_counts(d: Any, metric: str) -> tuple[int, int]:
    tp, fp, tn, fn = int(d.tp), int(d.fp), int(d.tn), int(d.fn)
    return {"sensitivity": (tp, tp + fn), "specificity": (tn, tn + fp), "ppv": (tp, tp + fp),
            "npv": (tn, tn + fn), "accuracy": (tp + tn, tp + fp + tn + fn)}[metric]


def performance_table(results: Mapping[tuple[str, str], tuple[Any, Any]], thresholds: Mapping[str, Any] | None = None,
                      title: str = "Diagnostic performance", ci: bool = True, group_by: str = "cohort"
                      ) -> PublicationTable:
    """Model x cohort performance, rows grouped by cohort: AUC (95% CI), then sensitivity,
    specificity, PPV, NPV and accuracy each as ``n/N = estimate (95% CI)`` (the counts STARD 2015
    asks for beside every proportion, e.g. ``17/29 = 0.586 (0.389–0.765)``), and F1.

    Parameters
    ----------
    results : ``{(model, cohort): (AUCResult, DiagnosticResult)}``, in display order.
    thresholds : ``{model: ThresholdRule}`` -- the cut-offs chosen on the development cohort and
        carried unchanged to the test cohorts; named in a footnote.
    ci : print the binomial CI of each proportion.
    group_by : ``"cohort"`` (row groups = cohorts, rows = models) or ``"model"``.
    """
    if group_by not in ("cohort", "model"):
        raise InputError(f"group_by must be 'cohort' or 'model', got {group_by!r}")
    rows = []
    auc_methods, diag_methods = set(), set()
    for (model, cohort), (auc, diag) in results.items():
        _need(auc, "AUCResult", f"results[{model!r}, {cohort!r}][0]")
        _need(diag, "DiagnosticResult", f"results[{model!r}, {cohort!r}][1]")
        auc_methods.add(auc.method)
        diag_methods.add(diag.method)
        row = {"Cohort": cohort_label(cohort), "Model": model_label(model),
               "n (positive)": f"{auc.n_pos + auc.n_neg} ({auc.n_pos})",
               "AUC (95% CI)": fmt_ci(auc.auc, auc.ci_low, auc.ci_high)}
        tab = diag.table.set_index("metric")
        for key, label in _DIAG_COLS:
            est = tab.loc[key, "estimate"]
            k, n = _diag_counts(diag, key)
            row[label] = fmt_count_ci(k, n, est, tab.loc[key, "ci_low"] if ci else None,
                                      tab.loc[key, "ci_high"] if ci else None)
        row["F1"] = fmt_num(tab.loc["f1", "estimate"])
        rows.append(row)
    data = pd.DataFrame(rows)
    group, stub = ("Cohort", "Model") if group_by == "cohort" else ("Model", "Cohort")
    if len(data):
        order = list(dict.fromkeys(data[group]))
        data = data.assign(_o=data[group].map({g: i for i, g in enumerate(order)})).sort_values("_o", kind="stable")
        data = data.drop(columns="_o").reset_index(drop=True)
        data = data[[group, stub] + [c for c in data.columns if c not in (group, stub)]]
    names = {"delong": "DeLong (DeLong et al. 1988)", "bootstrap": "stratified bootstrap percentile",
             "exact": "Clopper-Pearson exact binomial", "wilson": "Wilson score", "hanley": "Hanley-McNeil"}
    notes = [f"AUC 95% CI: {', '.join(names.get(m, m) for m in sorted(auc_methods))}."]
    notes.append("Sensitivity, specificity, PPV, NPV and accuracy: n/N = proportion"
                 + (f" (95% CI by {', '.join(names.get(m, m) for m in sorted(diag_methods))})" if ci else "")
                 + ", with the counts behind each proportion (STARD 2015).")
    for model, rule in (thresholds or {}).items():
        notes.append(f"{model_label(model)}: {rule.rule} cut-off {rule.value:.4g} chosen on the {rule.source} "
                     "and applied unchanged to the test cohorts.")
    notes.append("PPV/NPV: positive/negative predictive value; F1: harmonic mean of PPV and sensitivity.")
    return PublicationTable(data=data, title=title, stub=stub if len(data) else None,
                            groupname=group if len(data) else None, footnotes=tuple(notes))


# ---------------------------------------------------------------------------------- DeLong
def delong_table(comparisons: Mapping[str, Any], title: str = "Pairwise comparison of AUCs (DeLong test)") -> PublicationTable:
    """One row per cohort and model pair: AUCs, difference with 95% CI, Z, P and adjusted P
    (:func:`~her2stats.stats.roc.compare_aucs`)."""
    rows = []
    adjust = set()
    for cohort, comp in comparisons.items():
        _need(comp, "AUCComparison", f"comparisons[{cohort!r}]")
        adjust.add(comp.p_adjust or "none")
        for r in comp.pairs.to_dict("records"):
            rows.append({"Cohort": cohort_label(cohort),
                         "Comparison": f"{model_label(r['model1'])} vs {model_label(r['model2'])}",
                         "AUC 1": fmt_num(r["auc1"]), "AUC 2": fmt_num(r["auc2"]),
                         "\u0394AUC (95% CI)": fmt_ci(r["difference"], r["ci_low"], r["ci_high"]),
                         "Z": fmt_num(r["statistic"], 2), "P": fmt_p(r["p_value"]),
                         "P (adjusted)": fmt_p(r["p_adjusted"])})
    names = {"holm": "Holm", "fdr_bh": "Benjamini-Hochberg", "bonferroni": "Bonferroni", "none": "none"}
    data = pd.DataFrame(rows)
    notes = ("Paired DeLong test (DeLong et al., Biometrics 1988) of correlated AUCs on the same patients; "
             "CI of the difference from the DeLong covariance.",
             f"P-value adjustment within each cohort: {', '.join(names.get(a, a) for a in sorted(adjust))}.")
    return PublicationTable(data=data, title=title, footnotes=notes, stub="Comparison" if len(data) else None,
                            groupname="Cohort" if len(data) else None)


# ---------------------------------------------------------------------------------- Cox
def cox_table(res: Any, title: str = "Cox proportional hazards model", ph: Any = None, labels: Any = None
              ) -> PublicationTable:
    """HR (95% CI) and Wald P per term of :func:`~her2stats.stats.survival.cox`, terms named by
    the dictionary labels (``HER2-positive vs HER2-negative``; ``labels=`` overrides); footnotes
    give the C-index with CI, events, the stepwise path and (when ``ph`` is given) the global PH
    test."""
    _need(res, "CoxResult", "res")
    s = res.summary
    known = set(map(str, s["covariate"])) if "covariate" in s else set(map(str, s["term"]))
    L = as_labels(labels, known=known, source="labels")
    rows = []
    for r in s.to_dict("records"):
        ref = r.get("reference")
        term = str(r["term"])
        cov = str(r.get("covariate", term))
        if ref is not None and not (isinstance(ref, float) and np.isnan(ref)) and term.startswith(cov + "="):
            label = L.term(cov, term.split("=", 1)[1], ref)
        elif ref is not None and not (isinstance(ref, float) and np.isnan(ref)) and "=" in term:
            var, lev = term.split("=", 1)
            label = L.term(var, lev, ref)
        else:
            label = L.var(term)
        rows.append({"Variable": label, "HR (95% CI)": fmt_ratio_ci(r["HR"], r["ci_low"], r["ci_high"]),
                     "P": fmt_p(r["p_value"])})
    c = res.concordance
    notes = [f"n = {res.n}, events = {res.n_events}" + (f"; {res.n_excluded} excluded for missing values" if res.n_excluded else "")
             + f". Ties: {res.ties}.",
             f"Harrell's C-index {fmt_ci(c.concordance, c.ci_low, c.ci_high)}; likelihood-ratio test "
             f"\u03c7\u00b2 = {res.lr_statistic:.2f}, df = {res.lr_df}, P {_p_sentence(res.lr_p_value)}."]
    if res.steps is not None and len(res.steps):
        notes.append(f"Covariates selected by stepwise AIC: {', '.join(L.var(c, unit=False) for c in res.covariates)}.")
    if ph is not None:
        tab = ph.table
        glob = tab[tab["term"].astype(str).str.upper() == "GLOBAL"]
        if len(glob):
            notes.append(f"Proportional-hazards assumption (Schoenfeld residuals, cox.zph): global P "
                         f"{_p_sentence(float(glob['p_value'].iloc[0]))}.")
    notes.append("HR: hazard ratio; 95% CI by the Wald method.")
    return PublicationTable(data=pd.DataFrame(rows), title=title, stub="Variable", footnotes=tuple(notes))


def cox_tt_table(res: Any, title: str = "Cox model with time-varying coefficients", labels: Any = None,
                 time_unit: str = "days", notes: Any = ()) -> PublicationTable:
    """HR (95% CI) and P per term of :func:`~her2stats.stats.cox_tt.cox_tt`; a time-varying term
    ``x:log(t)`` is the multiplicative change of x's hazard ratio per unit of log time (``x:t>c``:
    the ratio of x's hazard ratio after c to before)."""
    _need(res, "CoxTTResult", "res")
    s = res.summary
    L = as_labels(labels, known=set(map(str, s["covariate"])), source="labels")
    rows = []
    for r in s.to_dict("records"):
        term = str(r["term"])
        base, _, tpart = term.partition(":")
        cov = str(r["covariate"])
        ref = r.get("reference")
        if "=" in base and base.startswith(cov + "=") and ref is not None:
            label = L.term(cov, base.split("=", 1)[1], ref)
        elif "=" in base and base.startswith(cov + "="):
            label = f"{L.var(cov, unit=False)}: {base.split('=', 1)[1]}"
        else:
            label = L.var(base)
        if tpart:
            label += " \u00d7 " + ("log time" if tpart == "log(t)" else f"(time > {tpart[2:]} {time_unit})")
        rows.append({"Variable": label, "HR (95% CI)": fmt_ratio_ci(r["HR"], r["ci_low"], r["ci_high"]),
                     "P": fmt_p(r["p_value"])})
    notes = (f"n = {res.n}, events = {res.n_events}" + (f"; {res.n_excluded} excluded for missing values" if
                                                        res.n_excluded else "") + f". Ties: {res.ties}."
             + (f" Stratified by {', '.join(L.var(c, unit=False) for c in res.strata)}." if res.strata else ""),
             *notes,
             f"Likelihood-ratio test \u03c7\u00b2 = {res.lr_statistic:.2f}, df = {res.lr_df}, P {_p_sentence(res.lr_p_value)}.",
             "A time-varying term multiplies the hazard ratio of its variable: by its HR per unit of log time (x log t), "
             "or after the cut time (x 1{t > c}); P tests proportional hazards for that variable.")
    return PublicationTable(data=pd.DataFrame(rows), title=title, stub="Variable", footnotes=notes)


def rmst_table(res: Any, time_unit: str = "days", labels: Any = None, group: str | None = None) -> PublicationTable:
    """Restricted mean survival time per group and its contrasts with the reference group
    (:func:`~her2stats.stats.rmst.rmst`): RMST (95% CI), difference, RMST ratio and RMTL ratio
    with P; the footnote gives tau and the method (Uno et al. 2014)."""
    _need(res, "RMSTResult", "res")
    var = group or res.group
    L = as_labels(labels, known={str(var)} if var is not None else set(), source="labels")

    def lev(v: Any) -> str:
        return L.group_level(var, v) if var is not None else str(v)

    rows = [{"Quantity": f"RMST, {lev(r['group'])}", "Estimate (95% CI)": fmt_ci(r["rmst"], r["ci_low"], r["ci_high"],
                                                                              digits=1), "P": ""}
            for r in res.groups.to_dict("records")]
    for r in res.contrasts.to_dict("records"):
        digits = 1 if r["contrast"] == "RMST difference" else 2
        est = fmt_ci(r["estimate"], r["ci_low"], r["ci_high"], digits=digits) if digits == 1 else \
            fmt_ratio_ci(r["estimate"], r["ci_low"], r["ci_high"])
        rows.append({"Quantity": f"{r['contrast']}, {lev(r['group'])} vs {lev(r['reference'])}",
                     "Estimate (95% CI)": est, "P": fmt_p(r["p_value"])})
    notes = (f"Restricted to tau = {res.tau:g} {time_unit} ({res.tau_source}); n = {res.n}"
             + (f", {res.n_excluded} excluded for missing values" if res.n_excluded else "") + ".",
             f"RMST: area under the Kaplan-Meier curve up to tau ({time_unit}); RMTL = tau - RMST. Differences and "
             "ratios with Wald CIs (Uno et al. 2014); valid without proportional hazards.")
    return PublicationTable(data=pd.DataFrame(rows), title=f"Restricted mean survival time by {L.var(var, unit=False)}"
                            if var is not None else "Restricted mean survival time", stub="Quantity", footnotes=notes)


def _p_sentence(p: float) -> str:
    s = fmt_p(p)
    return f"{s[0]} {s[1:]}" if s.startswith(("<", ">")) else f"= {s}"


# ---------------------------------------------------------------------------------- agreement
def agreement_table(icc: Mapping[str, Any] | None = None, kappa: Mapping[str, Any] | None = None,
                    title: str = "Inter-/intra-observer agreement") -> PublicationTable:
    """ICC (form named) and Cohen's / weighted kappa with 95% CIs, one row per item."""
    rows = []
    for name, r in (icc or {}).items():
        _need(r, "ICCResult", f"icc[{name!r}]")
        rows.append({"Item": name, "Statistic": r.kind, "Estimate (95% CI)": fmt_ci(r.value, r.ci_low, r.ci_high),
                     "n": str(r.n_targets)})
    for name, r in (kappa or {}).items():
        _need(r, "KappaResult", f"kappa[{name!r}]")
        label = "Cohen's kappa" if not r.weights else f"weighted kappa ({r.weights})"
        rows.append({"Item": name, "Statistic": label, "Estimate (95% CI)": fmt_ci(r.kappa, r.ci_low, r.ci_high),
                     "n": str(r.n)})
    if not rows:
        raise InputError("agreement_table needs at least one ICC or kappa result")
    notes = ("ICC forms after Shrout & Fleiss (1979); CIs from the F distribution. Kappa CIs: Wald (asymptotic SE).",)
    return PublicationTable(data=pd.DataFrame(rows), title=title, footnotes=notes)


# ---------------------------------------------------------------------------------- calibration
def calibration_table(results: Mapping[tuple[str, str], Mapping[str, Any]],
                      title: str = "Calibration") -> PublicationTable:
    """Per (model, cohort): Brier score, calibration intercept and slope, Eavg (ICI), the
    bias-corrected mean absolute error (development, bootstrap) and the Hosmer-Lemeshow test,
    which is flagged as a legacy test.

    ``results[(model, cohort)]`` holds ``"val_prob"`` (ValProbResult), ``"hl"``
    (HosmerLemeshowResult) and optionally ``"calibrate"`` (CalibrationCurve).
    """
    rows = []
    B = set()
    for (model, cohort), r in results.items():
        vp, hl, cal = r.get("val_prob"), r.get("hl"), r.get("calibrate")
        row = {"Model": model_label(model), "Cohort": cohort_label(cohort)}
        row["Brier"] = fmt_num(vp.Brier) if vp is not None else ""
        row["Intercept"] = fmt_num(vp.intercept) if vp is not None else ""
        row["Slope"] = fmt_num(vp.slope) if vp is not None else ""
        row["Eavg (ICI)"] = fmt_num(vp.Eavg) if vp is not None else ""
        row["Bias-corrected mean |error|"] = fmt_num(cal.mean_abs_error) if cal is not None else ""
        if cal is not None:
            B.add(cal.n_boot)
        row["HL \u03c7\u00b2 (df)\u2020"] = f"{hl.statistic:.2f} ({hl.df})" if hl is not None else ""
        row["HL P\u2020"] = fmt_p(hl.p_value) if hl is not None else ""
        rows.append(row)
    notes = ["Calibration intercept and slope from logistic recalibration of logit(p) (rms val.prob); "
             "Eavg: mean absolute difference between predicted and lowess-smoothed observed risk (ICI)."]
    if B:
        notes.append(f"Bias-corrected error: bootstrap optimism correction on the development cohort "
                     f"(rms calibrate, B = {', '.join(str(b) for b in sorted(B))}).")
    notes.append("\u2020 Hosmer-Lemeshow test (10 groups of predicted risk) is a legacy test: its result depends "
                 "on the grouping and it has low power; P > 0.05 does not show good calibration. Read the "
                 "calibration curve, intercept and slope instead.")
    return PublicationTable(title=title, footnotes=tuple(notes), **_grouped(pd.DataFrame(rows), "Cohort", "Model"))


def calibration_hierarchy_table(results: Mapping[tuple[str, str], Any],
                                title: str = "Calibration hierarchy by cohort") -> PublicationTable:
    """Van Calster et al. (2016) calibration levels per (model, cohort), each with its bootstrap
    percentile CI: mean (O/E ratio, calibration intercept with the slope fixed at 1), weak
    (calibration slope), moderate (ICI, E90, Emax of the lowess flexible curve), and the
    Spiegelhalter z-test P.

    ``results[(model, cohort)]`` is a :class:`~her2stats.stats.calibration.CalibrationHierarchyResult`.
    """
    rows = []
    Bs, levels = set(), set()
    for (model, cohort), h in results.items():
        _need(h, "CalibrationHierarchyResult", f"results[{(model, cohort)!r}]")
        Bs.add(int(h.n_boot))
        levels.add(float(h.level))
        t = h.table

        def ci(row: str, digits: int = 3) -> str:
            r = t.loc[row]
            return fmt_ci(r["estimate"], r["ci_low"], r["ci_high"], digits=digits)

        rows.append({"Model": model_label(model), "Cohort": cohort_label(cohort),
                     "n (events)": f"{h.n} ({h.n_events})",
                     "O/E ratio": ci("O/E ratio", 2), "Intercept (mean)": ci("calibration intercept", 2),
                     "Slope (weak)": ci("calibration slope", 2), "ICI (moderate)": ci("ICI"),
                     "E90": ci("E90"), "Emax": ci("Emax"),
                     "Spiegelhalter P": fmt_p(t.loc["Spiegelhalter z", "p_value"])})
    lv = ", ".join(f"{x:.0%}" for x in sorted(levels)) or "95%"
    notes = (f"Calibration hierarchy (Van Calster et al., J Clin Epidemiol 2016): mean calibration (O/E ratio; "
             "calibration intercept, logit P(y) = a + offset(logit p), ideal 0), weak calibration (calibration slope "
             "b of logit P(y) = a + b logit p, ideal 1), moderate calibration (lowess flexible curve: ICI = mean "
             "|p - observed|, E90, Emax; ideal 0).",
             f"{lv} bootstrap percentile intervals over {', '.join(map(str, sorted(Bs)))} resamples of the patients "
             "of each cohort, predictions held fixed (the models are not refitted: in the development cohort these "
             "are apparent figures; the optimism-corrected ones are in the internal-validation table).")
    return PublicationTable(title=title, footnotes=notes, **_grouped(pd.DataFrame(rows), "Cohort", "Model"))


def net_benefit_difference_table(differences: Mapping[str, pd.DataFrame], n_boot: int | None = None, level: float = 0.95,
                                 title: str = "Difference in net benefit against the reference model") -> PublicationTable:
    """Net benefit of each model minus the reference model's, at a few threshold probabilities,
    with bootstrap percentile CIs, per cohort.

    ``differences[cohort]`` is a long frame with columns model, reference, threshold, difference,
    ci_low, ci_high (rows of :meth:`~her2stats.stats.dca.DecisionCurve.difference`).
    """
    rows = []
    refs = set()
    need = {"model", "reference", "threshold", "difference", "ci_low", "ci_high"}
    for cohort, d in differences.items():
        if not need <= set(d.columns):
            raise InputError(f"differences[{cohort!r}] needs columns {sorted(need)}, got {list(d.columns)}")
        for (m, ref), part in d.groupby(["model", "reference"], sort=False):
            refs.add(ref)
            row = {"Cohort": cohort_label(cohort), "Model": model_label(m)}
            for r in part.sort_values("threshold").to_dict("records"):
                row[f"Threshold {r['threshold']:.2f}"] = fmt_ci(r["difference"], r["ci_low"], r["ci_high"])
            rows.append(row)
    reps = f" ({int(n_boot)} resamples of the patients)" if n_boot else ""
    notes = (f"Net benefit (Vickers & Elkin 2006) of the model minus that of the "
             f"{' / '.join(model_label(r).lower() for r in sorted(refs))}, in net true positives per patient, with "
             f"{level:.0%} bootstrap percentile CIs{reps}; both models are scored on the same resampled patients "
             "(paired). Test cohorts only: on the development cohort the predictions are in-sample.",)
    return PublicationTable(title=title, footnotes=notes, **_grouped(pd.DataFrame(rows), "Cohort", "Model"))


# ---------------------------------------------------------------------------------- validate
_VALIDATE_ROWS = (("C", "C-index (AUC)"), ("Dxy", "Somers' Dxy"), ("R2", "Nagelkerke R²"),
                  ("Slope", "Calibration slope"), ("Intercept", "Calibration intercept"), ("B", "Brier score"))


def validation_table(results: Mapping[str, Any], title: str = "Internal validation (bootstrap)") -> PublicationTable:
    """Apparent, optimism and optimism-corrected indices per model (``rms::validate``); the
    corrected C, slope and Brier score carry their bootstrap CI when the result has one."""
    rows = []
    Bs, fails = set(), 0
    for model, vr in results.items():
        _need(vr, "ValidationResult", f"results[{model!r}]")
        Bs.add(vr.n_boot)
        fails += int(vr.n_failed)
        t = vr.table
        ci = vr.ci
        for key, label in _VALIDATE_ROWS:
            if key not in t.index:
                continue
            corr = t.loc[key, "index_corrected"]
            if key in ci.index and np.isfinite(ci.loc[key, "ci_low"]):
                corr_txt = fmt_ci(corr, ci.loc[key, "ci_low"], ci.loc[key, "ci_high"])
            else:
                corr_txt = fmt_num(corr)
            rows.append({"Model": model_label(model), "Index": label, "Apparent": fmt_num(t.loc[key, "index_orig"]),
                         "Optimism": fmt_num(t.loc[key, "optimism"]), "Optimism-corrected": corr_txt})
    notes = (f"Harrell's bootstrap optimism correction (rms validate, B = {', '.join(map(str, sorted(Bs)))}; "
             f"{fails} failed refit(s)): corrected = apparent − mean(bootstrap training − test) index.",)
    return PublicationTable(title=title, footnotes=notes, **_grouped(pd.DataFrame(rows), "Model", "Index"))


# ---------------------------------------------------------------------------------- cohort flow
def flow_table(flow: pd.DataFrame, title: str = "Cohort flow") -> PublicationTable:
    """Every step of the cohort definition with the patients remaining and excluded."""
    need = {"step", "n_remaining", "n_excluded", "reason"}
    if not need <= set(flow.columns):
        raise InputError(f"flow needs columns {sorted(need)}, got {list(flow.columns)}")
    data = pd.DataFrame({"Step": flow["step"].astype(str), "Remaining": flow["n_remaining"].astype(int).astype(str),
                         "Excluded": flow["n_excluded"].astype(int).astype(str),
                         "Reason": flow["reason"].fillna("").astype(str)})
    total = int(flow["n_excluded"].sum())
    return PublicationTable(data=data, title=title,
                            footnotes=(f"{total} patient(s) excluded in all; every exclusion is counted in its step.",))


def tripod_table(checklist, title: str = "TRIPOD+AI checklist (filled from this run)") -> PublicationTable:
    """TRIPOD+AI items with status, evidence and where to find them; what the authors must add is
    marked so."""
    f = checklist.to_frame()
    data = pd.DataFrame({"Item": f["item"].astype(str), "Section": f["section"].astype(str),
                         "Topic": f["topic"].astype(str), "Status": f["status"].astype(str),
                         "Evidence / what to add": f["evidence"].astype(str), "Where": f["where"].astype(str)})
    counts = f["status"].value_counts()
    note = "; ".join(f"{k}: {v}" for k, v in counts.items())
    return PublicationTable(data, title=title, footnotes=(
        f"Study type: {checklist.study_type}. {note}.",
        "Collins GS et al. TRIPOD+AI statement. BMJ 2024;385:e078378."))
