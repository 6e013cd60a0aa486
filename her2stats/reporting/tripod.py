"""TRIPOD+AI (2024) checklist filled from what a her2stats run knows.

TRIPOD+AI (Collins GS, Moons KGM, Dhiman P, et al. BMJ 2024;385:e078378) has 27 items with 52
sub-items in eight sections: title (1), abstract (2), introduction (3a-3c, 4), methods (5a-17),
open science (18a-18f), patient and public involvement (19), results (20a-24) and discussion
(25-27c). Each sub-item applies to model development (D), evaluation (E) or both.

A study run knows a good part of the answers: its data sources and cohorts (n, events,
exclusions), the missing-data handling, the predictors and their pre-processing, the model
specification, how it was validated and which performance measures (with CIs) it computed.
:func:`tripod_checklist` takes those *run facts* as a plain dict and marks every sub-item as

* ``"reported"`` -- the run's facts cover it, and ``where`` names the report section;
* ``"partly"`` -- some of it is known; ``evidence`` says what the authors still have to add;
* ``"author must add"`` -- nothing a computation can know (funding, ethics, interpretation...);
* ``"not applicable"`` -- a D-only item in a pure evaluation study, or an E-only item in a
  development study without an evaluation cohort.

Authors' own statements can be passed as ``facts["author_statements"] = {"17": "...", "18a": ...}``;
those items are then reported at ``facts["sections"]``'s place or "author-supplied text".

Run facts (every key optional; unknown keys raise :class:`InputError` so a typo is not silently
ignored)::

    {
      "title": str,
      "study_type": "development" | "evaluation" | "development and evaluation",  # else inferred
      "target_population": str, "outcome": {"name", "definition", "assessment", "time_horizon",
                                           "assessors", "blinding"},
      "data_sources": [{"name", "type", "role", "dates", "setting", "centres"}],
      "eligibility": str, "treatments": str,
      "cohorts": {name: {"role", "n", "events", "n_excluded"}},     # see cohort_facts()
      "missing_data": {"method", "n_excluded", "by_column"},
      "preprocessing": [str], "quality_checks": str,
      "predictors": {"names": [...], "preselection": str, "definitions": {name: str}},
      "sample_size": {"method", "required_n", "available_n"},
      "analysis": {"partitioning", "functional_form", "model_type", "tuning", "internal_validation"},
      "model": {"type", "specification", "output", "prediction_method"},
      "thresholds": {"rule", "chosen_on"},
      "performance": {"measures": [...], "with_ci": bool, "plots": [...], "comparison": str,
                      "subgroups": [...]},
      "heterogeneity": {"by": str, "results": bool},
      "model_updating": {"method": str, "results": bool},
      "class_imbalance": str, "fairness": str, "cohort_comparison": str, "table1": bool,
      "input_data_handling": str, "data_availability": str, "code_availability": str,
      "software": {name: version},
      "author_statements": {item: text}, "sections": {item or topic: report section},
    }
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import InputError
from ..results import Result

__all__ = ["TRIPOD_AI_ITEMS", "TripodItem", "TripodChecklist", "tripod_checklist", "cohort_facts"]

REPORTED, PARTLY, AUTHOR, NA = "reported", "partly", "author must add", "not applicable"
STATUSES = (REPORTED, PARTLY, AUTHOR, NA)


@dataclass(frozen=True)
class TripodItem:
    """One TRIPOD+AI sub-item (wording paraphrased; see the BMJ 2024 paper for the official text)."""

    item: str
    section: str
    topic: str
    applies: str  # "D;E", "D" or "E"
    text: str


def _items() -> tuple[TripodItem, ...]:
    rows = [
        ("1", "Title", "Title", "D;E", "Identify the study as developing or evaluating a multivariable prediction "
         "model, with the target population and the outcome predicted."),
        ("2", "Abstract", "Abstract", "D;E", "Structured abstract following TRIPOD+AI for Abstracts."),
        ("3a", "Introduction", "Background", "D;E", "Healthcare context (diagnostic or prognostic), rationale, "
         "and references to existing models."),
        ("3b", "Introduction", "Background", "D;E", "Target population, intended purpose in the care pathway, and "
         "intended users."),
        ("3c", "Introduction", "Background", "D;E", "Known health inequalities between sociodemographic groups."),
        ("4", "Introduction", "Objectives", "D;E", "Study objectives, stating development, evaluation or both."),
        ("5a", "Methods", "Data", "D;E", "Data sources, separately for development and evaluation data, the "
         "rationale for using them and their representativeness."),
        ("5b", "Methods", "Data", "D;E", "Dates of the data: start and end of accrual and, if applicable, end of "
         "follow-up."),
        ("6a", "Methods", "Participants", "D;E", "Study setting, with the number and location of centres."),
        ("6b", "Methods", "Participants", "D;E", "Eligibility criteria."),
        ("6c", "Methods", "Participants", "D;E", "Treatments received and how they were handled, if relevant."),
        ("7", "Methods", "Data preparation", "D;E", "Data pre-processing and quality checking, and whether they "
         "were similar across sociodemographic groups."),
        ("8a", "Methods", "Outcome", "D;E", "Definition of the outcome and time horizon, how and when it was "
         "assessed, the rationale, and consistency of assessment across sociodemographic groups."),
        ("8b", "Methods", "Outcome", "D;E", "Qualifications and demographics of outcome assessors when the "
         "assessment is subjective."),
        ("8c", "Methods", "Outcome", "D;E", "Blinding of the outcome assessment."),
        ("9a", "Methods", "Predictors", "D", "Choice of initial predictors and any pre-selection before model "
         "building."),
        ("9b", "Methods", "Predictors", "D;E", "Definition of all predictors, how and when measured, and blinding "
         "of their assessment."),
        ("9c", "Methods", "Predictors", "D;E", "Qualifications and demographics of predictor assessors when the "
         "measurement is subjective."),
        ("10", "Methods", "Sample size", "D;E", "How the study size was arrived at, separately for development and "
         "evaluation, with any sample size calculation."),
        ("11", "Methods", "Missing data", "D;E", "How missing data were handled, and reasons for omitting data."),
        ("12a", "Methods", "Analytical methods", "D", "How the data were used (partitioning into development and "
         "evaluation), considering sample size."),
        ("12b", "Methods", "Analytical methods", "D", "Handling of predictors: functional form, rescaling, "
         "transformation, standardisation."),
        ("12c", "Methods", "Analytical methods", "D", "Type of model and rationale, all model-building steps "
         "including hyperparameter tuning, and the internal validation method."),
        ("12d", "Methods", "Analytical methods", "D;E", "How heterogeneity of parameters and performance across "
         "clusters (e.g. centres) was handled and quantified."),
        ("12e", "Methods", "Analytical methods", "D;E", "All performance measures and plots (discrimination, "
         "calibration, clinical utility) with rationale, and how models were compared."),
        ("12f", "Methods", "Analytical methods", "E", "Any model updating (e.g. recalibration) arising from the "
         "evaluation."),
        ("12g", "Methods", "Analytical methods", "E", "How the model predictions were calculated for the evaluation "
         "(formula, code, object, API)."),
        ("13", "Methods", "Class imbalance", "D;E", "Why and how any class imbalance methods were used, and any "
         "recalibration that followed."),
        ("14", "Methods", "Fairness", "D;E", "Approaches used to address model fairness, with rationale."),
        ("15", "Methods", "Model output", "D", "Output of the model (probabilities, classes), and how any "
         "classification thresholds were chosen."),
        ("16", "Methods", "Training versus evaluation", "D;E", "Differences between development and evaluation data "
         "in setting, eligibility, outcome and predictors."),
        ("17", "Methods", "Ethical approval", "D;E", "Ethics committee approval and informed consent or its waiver."),
        ("18a", "Open science", "Funding", "D;E", "Funding source and the role of the funders."),
        ("18b", "Open science", "Conflicts of interest", "D;E", "Conflicts of interest of all authors."),
        ("18c", "Open science", "Protocol", "D;E", "Where the protocol can be accessed, or that none was prepared."),
        ("18d", "Open science", "Registration", "D;E", "Registration name and number, or that the study was not "
         "registered."),
        ("18e", "Open science", "Data sharing", "D;E", "Availability of the study data."),
        ("18f", "Open science", "Code sharing", "D;E", "Availability of the analytical code."),
        ("19", "Patient and public involvement", "Patient and public involvement", "D;E", "Patient and public "
         "involvement in the study, or a statement of none."),
        ("20a", "Results", "Participants", "D;E", "Flow of participants, with the numbers with and without the "
         "outcome and follow-up time if applicable (a diagram may help)."),
        ("20b", "Results", "Participants", "D;E", "Characteristics overall and per data source: key dates, "
         "predictors, treatments, sample size, events, follow-up and missing data; differences across key "
         "demographic groups."),
        ("20c", "Results", "Participants", "E", "For evaluation, the distribution of important predictors and the "
         "outcome compared with the development data."),
        ("21", "Results", "Model development", "D;E", "Number of participants and outcome events in each analysis "
         "(development, tuning, evaluation)."),
        ("22", "Results", "Model specification", "D", "The full prediction model (formula, code, object, API) to "
         "allow predictions for new individuals, with any access restrictions."),
        ("23a", "Results", "Model performance", "D;E", "Performance estimates with confidence intervals, including "
         "key subgroups; plots may help."),
        ("23b", "Results", "Model performance", "D;E", "Heterogeneity of performance across clusters, if examined."),
        ("24", "Results", "Model updating", "E", "Results of any model updating: the updated model and its "
         "performance."),
        ("25", "Discussion", "Interpretation", "D;E", "Overall interpretation of the main results, including "
         "fairness, in the context of objectives and previous studies."),
        ("26", "Discussion", "Limitations", "D;E", "Limitations (non-representative sample, sample size, "
         "overfitting, missing data) and their effects on bias, uncertainty and generalisability."),
        ("27a", "Discussion", "Usability of the model in the context of current care", "D", "How poor-quality or "
         "unavailable input data should be assessed and handled when the model is used."),
        ("27b", "Discussion", "Usability of the model in the context of current care", "D", "Whether users interact "
         "with the input data or the model, and the expertise they need."),
        ("27c", "Discussion", "Usability of the model in the context of current care", "D;E", "Next steps for "
         "research, with a view to applicability and generalisability."),
    ]
    return tuple(TripodItem(*r) for r in rows)


#: the 52 TRIPOD+AI (2024) sub-items in checklist order
TRIPOD_AI_ITEMS: tuple[TripodItem, ...] = _items()

#: default report section where each item's information appears (override with facts["sections"])
DEFAULT_SECTIONS = {
    "1": "Title", "2": "Abstract", "3a": "Introduction", "3b": "Introduction", "3c": "Introduction",
    "4": "Introduction", "5a": "Methods: data sources", "5b": "Methods: data sources",
    "6a": "Methods: data sources", "6b": "Methods: cohort flow", "6c": "Methods: participants",
    "7": "Methods: data preparation", "8a": "Methods: outcome", "8b": "Methods: outcome", "8c": "Methods: outcome",
    "9a": "Methods: predictors", "9b": "Methods: predictors", "9c": "Methods: predictors",
    "10": "Methods: sample size", "11": "Methods: missing data", "12a": "Methods: data splits",
    "12b": "Methods: model specification", "12c": "Methods: model specification",
    "12d": "Results: performance by centre", "12e": "Methods: performance measures",
    "12f": "Methods: model updating", "12g": "Methods: model specification", "13": "Methods: model specification",
    "14": "Methods: fairness", "15": "Methods: thresholds", "16": "Results: Table 1 by cohort",
    "17": "Methods: ethics", "18a": "Declarations", "18b": "Declarations", "18c": "Declarations",
    "18d": "Declarations", "18e": "Declarations: data availability", "18f": "Declarations: code availability",
    "19": "Declarations", "20a": "Results: cohort flow", "20b": "Results: Table 1", "20c": "Results: Table 1 by cohort",
    "21": "Results: cohort flow", "22": "Results: model specification", "23a": "Results: performance",
    "23b": "Results: performance by centre", "24": "Results: model updating", "25": "Discussion",
    "26": "Discussion", "27a": "Discussion", "27b": "Discussion", "27c": "Discussion",
}

_KEYS = {"title", "study_type", "target_population", "outcome", "data_sources", "eligibility", "treatments",
         "cohorts", "missing_data", "preprocessing", "quality_checks", "predictors", "sample_size", "analysis",
         "model", "thresholds", "performance", "heterogeneity", "model_updating", "class_imbalance", "fairness",
         "cohort_comparison", "table1", "input_data_handling", "data_availability", "code_availability", "software",
         "author_statements", "sections"}
_ROLES_DEV = {"development", "training", "train"}
_ROLES_EVAL = {"external validation", "external", "evaluation", "validation", "test", "internal validation",
               "internal"}
_ROLES_EXTERNAL = {"external validation", "external", "evaluation"}


# =========================================================================== result
@dataclass(frozen=True, repr=False)
class TripodChecklist(Result):
    """TRIPOD+AI checklist: one row per sub-item with status, evidence and report section."""

    items: pd.DataFrame
    study_type: str
    method: str = "TRIPOD+AI (Collins et al., BMJ 2024;385:e078378)"

    def to_frame(self) -> pd.DataFrame:
        return self.items.copy()

    def missing(self, include_partly: bool = True) -> pd.DataFrame:
        """Items the authors must add (and, by default, items only partly covered by the run)."""
        wanted = [AUTHOR, PARTLY] if include_partly else [AUTHOR]
        return self.items[self.items["status"].isin(wanted)].reset_index(drop=True)

    def counts(self) -> dict[str, int]:
        vc = self.items["status"].value_counts()
        return {s: int(vc.get(s, 0)) for s in STATUSES}

    def _title(self) -> str:
        c = self.counts()
        return (f"TRIPOD+AI checklist ({self.study_type}): {c[REPORTED]} reported, {c[PARTLY]} partly, "
                f"{c[AUTHOR]} for the authors, {c[NA]} not applicable")

    def to_markdown(self) -> str:
        """Pipe table (item, section, status, where, evidence) for a Quarto/Markdown report."""
        lines = ["| Item | Topic | Status | Where in the report | Evidence / what to add |", "|---|---|---|---|---|"]
        for r in self.items.itertuples(index=False):
            ev = str(r.evidence).replace("|", "\\|")
            lines.append(f"| {r.item} | {r.topic} | {r.status} | {r.where} | {ev} |")
        return "\n".join(lines)


# =========================================================================== rules
def _text(v: Any) -> bool:
    return isinstance(v, str) and bool(v.strip())


def _get(d: Any, *path: str) -> Any:
    for p in path:
        if not isinstance(d, Mapping):
            return None
        d = d.get(p)
    return d


def _cohorts(facts: Mapping) -> dict[str, dict]:
    return dict(facts.get("cohorts") or {})


def _roles(facts: Mapping) -> set[str]:
    roles = {str(c.get("role", "")).lower() for c in _cohorts(facts).values()}
    roles |= {str(s.get("role", "")).lower() for s in facts.get("data_sources") or []}
    return roles


def _study_type(facts: Mapping) -> str:
    st = facts.get("study_type")
    if st is not None:
        st = str(st).lower()
        allowed = ("development", "evaluation", "development and evaluation")
        if st not in allowed:
            raise InputError(f"facts['study_type'] must be one of {allowed}, got {st!r}")
        return st
    roles = _roles(facts)
    dev = bool(roles & _ROLES_DEV)
    ext = bool(roles & _ROLES_EXTERNAL)
    if dev and ext:
        return "development and evaluation"
    if ext and not dev:
        return "evaluation"
    return "development"


Rule = Callable[[Mapping], tuple[str, str]]


def _r_title(f):
    t = f.get("title")
    if not _text(t):
        return AUTHOR, "give a title naming the study type, target population and outcome"
    words = ("predict", "model", "nomogram", "score", "classif")
    if any(w in t.lower() for w in words):
        return REPORTED, f"title: {t!r} (check it names the target population and outcome)"
    return PARTLY, f"title {t!r} does not say it develops/evaluates a prediction model"


def _r_target(f):
    tp = f.get("target_population")
    if _text(tp):
        return PARTLY, f"target population: {tp}; add the place in the care pathway and the intended users"
    return AUTHOR, "describe the target population, purpose in the care pathway and intended users"


def _r_objectives(f):
    return PARTLY, f"the run is a {_study_type(f)} study; state the objectives in words"


def _r_sources(f):
    src = f.get("data_sources") or []
    if not src:
        return AUTHOR, "name each data source and its role (development / evaluation)"
    named = [s.get("name", "?") for s in src]
    complete = all(_text(s.get("type")) and _text(s.get("role")) for s in src)
    ev = f"{len(src)} source(s): {', '.join(map(str, named))}"
    if complete:
        return REPORTED, ev + "; authors add the rationale and representativeness"
    return PARTLY, ev + "; give the type (cohort, registry, trial...) and role of every source"


def _r_dates(f):
    src = f.get("data_sources") or []
    dated = [s for s in src if s.get("dates")]
    if src and len(dated) == len(src):
        return REPORTED, "; ".join(f"{s.get('name', '?')}: {s['dates']}" for s in src)
    if dated:
        return PARTLY, f"dates known for {len(dated)} of {len(src)} sources"
    return AUTHOR, "give the start and end of accrual (and of follow-up) of each source"


def _r_setting(f):
    src = f.get("data_sources") or []
    have = [s for s in src if s.get("centres") is not None or _text(s.get("setting"))]
    if src and len(have) == len(src) and all(s.get("centres") is not None and _text(s.get("setting")) for s in src):
        return REPORTED, "; ".join(f"{s.get('name', '?')}: {s['setting']}, {s['centres']} centre(s)" for s in src)
    if have:
        return PARTLY, "setting/centres known for some sources; give both for every source"
    return AUTHOR, "describe the setting (e.g. secondary care) and the number and location of centres"


def _r_eligibility(f):
    if _text(f.get("eligibility")):
        return REPORTED, str(f["eligibility"])
    if any(c.get("n_excluded") is not None for c in _cohorts(f).values()):
        return PARTLY, "exclusions are counted per cohort; state the eligibility criteria"
    return AUTHOR, "state the eligibility criteria"


def _r_simple(key: str, missing_msg: str, present_status: str = REPORTED) -> Rule:
    def rule(f):
        v = f.get(key)
        if _text(v):
            return present_status, str(v)
        return AUTHOR, missing_msg
    return rule


def _r_preprocessing(f):
    steps = f.get("preprocessing") or []
    if steps and _text(f.get("quality_checks")):
        return REPORTED, "; ".join(map(str, steps)) + f"; quality checks: {f['quality_checks']}"
    if steps:
        return PARTLY, "; ".join(map(str, steps)) + " -- add quality checks and whether they were similar across " \
                                                    "sociodemographic groups"
    return AUTHOR, "describe pre-processing and quality checks"


def _r_outcome(f):
    o = f.get("outcome") or {}
    if _text(o.get("definition")) and _text(o.get("assessment")):
        return REPORTED, f"{o.get('name', 'outcome')}: {o['definition']}; assessed by {o['assessment']}" + (
            f"; horizon {o['time_horizon']}" if o.get("time_horizon") else "")
    if o.get("name"):
        return PARTLY, f"outcome column {o['name']!r}; define it and say how and when it was assessed"
    return AUTHOR, "define the outcome, its assessment and time horizon"


def _r_outcome_field(field_: str, msg: str) -> Rule:
    def rule(f):
        v = _get(f, "outcome", field_)
        return (REPORTED, str(v)) if _text(v) else (AUTHOR, msg)
    return rule


def _r_preselection(f):
    p = f.get("predictors") or {}
    names = list(p.get("names") or [])
    if names and _text(p.get("preselection")):
        return REPORTED, f"{len(names)} candidate predictors; pre-selection: {p['preselection']}"
    if names:
        return PARTLY, f"{len(names)} candidate predictors listed; explain why they were chosen"
    return AUTHOR, "describe the choice of candidate predictors"


def _r_definitions(f):
    p = f.get("predictors") or {}
    names = list(p.get("names") or [])
    defs = dict(p.get("definitions") or {})
    undefined = [n for n in names if not _text(defs.get(n))]
    if names and not undefined:
        return REPORTED, f"all {len(names)} predictors defined (data dictionary)"
    if names:
        return PARTLY, f"no definition for {len(undefined)} predictor(s): {', '.join(map(str, undefined[:8]))}" + (
            "..." if len(undefined) > 8 else "")
    return AUTHOR, "define every predictor and how and when it was measured"


def _r_sample_size(f):
    s = f.get("sample_size") or {}
    if s.get("required_n") is not None and s.get("available_n") is not None:
        ok = "sufficient" if s["available_n"] >= s["required_n"] else "BELOW the requirement"
        return REPORTED, (f"{s.get('method', 'calculation')}: required n = {s['required_n']}, available "
                          f"n = {s['available_n']} ({ok})")
    if _cohorts(f):
        return PARTLY, "cohort sizes known; justify them (e.g. Riley et al. criteria, her2stats.stats.samplesize)"
    return AUTHOR, "explain how the study size was arrived at"


def _r_missing(f):
    m = f.get("missing_data") or {}
    if _text(m.get("method")) and m.get("n_excluded") is not None:
        by = m.get("by_column") or {}
        extra = f" (by column: {dict(by)})" if by else ""
        return REPORTED, f"{m['method']}; {m['n_excluded']} row(s) excluded{extra}"
    if _text(m.get("method")):
        return PARTLY, f"{m['method']}; report how many rows were affected"
    if m.get("n_excluded") is not None:
        return PARTLY, f"{m['n_excluded']} row(s) excluded; name the method (e.g. complete-case analysis)"
    return AUTHOR, "describe how missing data were handled"


def _r_partitioning(f):
    a = f.get("analysis") or {}
    if _text(a.get("partitioning")):
        return REPORTED, str(a["partitioning"])
    roles = {n: c.get("role") for n, c in _cohorts(f).items() if c.get("role")}
    if roles:
        return REPORTED, "; ".join(f"{n}: {r}" for n, r in roles.items())
    return AUTHOR, "describe how the data were split for development and evaluation"


def _r_functional(f):
    v = _get(f, "analysis", "functional_form")
    return (REPORTED, str(v)) if _text(v) else (AUTHOR, "describe the functional form / transformations of predictors")


def _r_model_type(f):
    mtype = _get(f, "model", "type") or _get(f, "analysis", "model_type")
    iv = _get(f, "analysis", "internal_validation")
    tuning = _get(f, "analysis", "tuning")
    parts = [str(x) for x in (mtype, tuning and f"tuning: {tuning}", iv and f"internal validation: {iv}") if x]
    if _text(mtype) and _text(iv):
        return REPORTED, "; ".join(parts)
    if parts:
        return PARTLY, "; ".join(parts) + " -- give the model type, building steps and internal validation"
    return AUTHOR, "specify the model type, building steps, tuning and internal validation"


def _r_heterogeneity(f):
    h = f.get("heterogeneity") or {}
    if _text(h.get("by")):
        return REPORTED, f"performance by {h['by']}"
    centres = sum(int(s.get("centres") or 0) for s in f.get("data_sources") or [])
    if centres > 1 or len(_cohorts(f)) > 1:
        return AUTHOR, "several centres/cohorts: report how heterogeneity across them was handled"
    return AUTHOR, "state whether clustering (centres) was considered"


def _r_measures(f):
    p = f.get("performance") or {}
    meas = [str(m) for m in p.get("measures") or []]
    low = " ".join(meas).lower()
    has_disc = any(k in low for k in ("auc", "c-index", "c statistic", "concordance", "discrimination"))
    has_cal = "calibration" in low
    ev = ", ".join(meas) + (f"; comparison: {p['comparison']}" if p.get("comparison") else "")
    if has_disc and has_cal:
        return REPORTED, ev
    if meas:
        return PARTLY, ev + " -- report both discrimination and calibration"
    return AUTHOR, "list the performance measures and plots"


def _r_updating_method(f):
    v = _get(f, "model_updating", "method")
    if _text(v):
        return REPORTED, str(v)
    return AUTHOR, "describe any updating (recalibration) or state that the model was not updated"


def _r_prediction_method(f):
    v = _get(f, "model", "prediction_method") or _get(f, "model", "specification")
    return (REPORTED, str(v)) if _text(v) else (AUTHOR, "say how predictions were computed (formula, code, object)")


def _r_output(f):
    out = _get(f, "model", "output")
    thr = f.get("thresholds") or {}
    if _text(out) and _text(thr.get("rule")):
        return REPORTED, f"{out}; threshold: {thr['rule']} chosen on {thr.get('chosen_on', '?')}"
    if _text(out):
        return PARTLY if thr else REPORTED, f"{out}" + ("" if not thr else "; describe the threshold rule")
    return AUTHOR, "specify the model output and any classification threshold"


def _r_training_vs_eval(f):
    if _text(f.get("cohort_comparison")):
        return PARTLY, f"{f['cohort_comparison']}; add differences in setting, eligibility and outcome definition"
    return AUTHOR, "identify differences between development and evaluation data"


def _r_code(f):
    if _text(f.get("code_availability")):
        return REPORTED, str(f["code_availability"])
    sw = f.get("software") or {}
    if sw:
        return PARTLY, "software: " + ", ".join(f"{k} {v}" for k, v in sw.items()) + "; say where the code is"
    return AUTHOR, "state where the analysis code is available"


def _r_flow(f):
    cs = _cohorts(f)
    if not cs:
        return AUTHOR, "describe the flow of participants (numbers with and without the outcome)"
    full = all(c.get("n") is not None and c.get("events") is not None and c.get("n_excluded") is not None
               for c in cs.values())
    ev = "; ".join(f"{k}: n={c.get('n')}, events={c.get('events')}" + (
        f", excluded={c['n_excluded']}" if c.get("n_excluded") is not None else "") for k, c in cs.items())
    return (REPORTED if full else PARTLY), ev + ("" if full else " -- add the exclusions of each cohort")


def _r_characteristics(f):
    if f.get("table1") and _cohorts(f):
        return REPORTED, "Table 1 by cohort" + ("" if _text(f.get("cohort_comparison")) else
                                                  "; add differences across key demographic groups")
    # cohort sizes alone are not characteristics: without a table the item is the authors' to fill
    if _cohorts(f):
        return AUTHOR, "cohort sizes are in the flow; add a table of characteristics (her2stats table_one)"
    return AUTHOR, "report participant characteristics per data source"


def _r_eval_comparison(f):
    if _text(f.get("cohort_comparison")):
        return REPORTED, str(f["cohort_comparison"])
    return AUTHOR, "compare the evaluation data with the development data (e.g. Table 1 with SMDs)"


def _r_n_events(f):
    cs = _cohorts(f)
    if not cs:
        return AUTHOR, "give the number of participants and events in each analysis"
    have = {k: c for k, c in cs.items() if c.get("n") is not None and c.get("events") is not None}
    ev = "; ".join(f"{k} ({c.get('role', '?')}): {c['n']} participants, {c['events']} events" for k, c in have.items())
    if len(have) == len(cs):
        return REPORTED, ev
    return PARTLY, ev + f" -- events unknown for {sorted(set(cs) - set(have))}"


def _r_specification(f):
    v = _get(f, "model", "specification")
    return (REPORTED, str(v)) if _text(v) else (AUTHOR, "give the full model (coefficients/formula or code/object)")


def _r_performance(f):
    p = f.get("performance") or {}
    meas = p.get("measures") or []
    subgroups = p.get("subgroups") or []
    if meas and p.get("with_ci") and subgroups:
        return REPORTED, f"{len(meas)} measure(s) with CIs; subgroups: {', '.join(map(str, subgroups))}"
    if meas and p.get("with_ci"):
        return PARTLY, f"{len(meas)} measure(s) with CIs; add performance in key (sociodemographic) subgroups"
    if meas:
        return PARTLY, "point estimates only: add confidence intervals"
    return AUTHOR, "report performance estimates with confidence intervals"


def _r_het_results(f):
    h = f.get("heterogeneity") or {}
    if h.get("results"):
        return REPORTED, f"performance by {h.get('by', 'cluster')}"
    return AUTHOR, "report heterogeneity of performance across clusters, if examined"


def _r_updating_results(f):
    u = f.get("model_updating") or {}
    if u.get("results"):
        return REPORTED, f"updated model and its performance ({u.get('method', 'updating')})"
    if _text(u.get("method")):
        return PARTLY, "updating described; report the updated model and its performance"
    return AUTHOR, "report any model updating results, or state that none was done"


def _author(msg: str) -> Rule:
    return lambda f: (AUTHOR, msg)


_RULES: dict[str, Rule] = {
    "1": _r_title,
    "2": _author("write the abstract following TRIPOD+AI for Abstracts"),
    "3a": _author("explain the clinical context and cite existing HER2 prediction models"),
    "3b": _r_target,
    "3c": _author("describe known health inequalities between sociodemographic groups"),
    "4": _r_objectives,
    "5a": _r_sources, "5b": _r_dates, "6a": _r_setting, "6b": _r_eligibility,
    "6c": _r_simple("treatments", "give treatments received and how they were handled (e.g. neoadjuvant therapy "
                    "before imaging)"),
    "7": _r_preprocessing, "8a": _r_outcome,
    "8b": _r_outcome_field("assessors", "describe the pathologists who assessed HER2 (qualifications)"),
    "8c": _r_outcome_field("blinding", "state whether outcome assessment was blinded to the predictors"),
    "9a": _r_preselection, "9b": _r_definitions,
    "9c": _author("describe the readers (e.g. radiologists' experience) of subjective predictors"),
    "10": _r_sample_size, "11": _r_missing, "12a": _r_partitioning, "12b": _r_functional, "12c": _r_model_type,
    "12d": _r_heterogeneity, "12e": _r_measures, "12f": _r_updating_method, "12g": _r_prediction_method,
    "13": _r_simple("class_imbalance", "state whether class imbalance methods were used (and if so why and how)"),
    "14": _r_simple("fairness", "describe any approach to model fairness"),
    "15": _r_output, "16": _r_training_vs_eval,
    "17": _author("name the ethics committee and the consent procedure or waiver"),
    "18a": _author("give the funding source and the funders' role"),
    "18b": _author("declare conflicts of interest"),
    "18c": _author("say where the protocol is, or that there was none"),
    "18d": _author("give registration details, or state that the study was not registered"),
    "18e": _r_simple("data_availability", "state the availability of the study data"),
    "18f": _r_code,
    "19": _author("describe patient and public involvement, or state none"),
    "20a": _r_flow, "20b": _r_characteristics, "20c": _r_eval_comparison, "21": _r_n_events,
    "22": _r_specification, "23a": _r_performance, "23b": _r_het_results, "24": _r_updating_results,
    "25": _author("interpret the results, including fairness, against objectives and previous studies"),
    "26": _author("discuss limitations and their effect on bias, uncertainty and generalisability"),
    "27a": _r_simple("input_data_handling", "say how poor-quality or missing inputs should be handled in use"),
    "27b": _author("say whether users interact with the inputs/model and the expertise they need"),
    "27c": _author("discuss next steps for research on applicability and generalisability"),
}
assert set(_RULES) == {it.item for it in TRIPOD_AI_ITEMS}  # every sub-item has a rule


def _check_facts(facts: Any) -> Mapping:
    if facts is None:
        return {}
    if not isinstance(facts, Mapping):
        raise InputError(f"facts must be a dict of run facts, got {type(facts).__name__}")
    unknown = sorted(set(facts) - _KEYS)
    if unknown:
        raise InputError(f"unknown run-fact key(s) {unknown}; allowed keys: {sorted(_KEYS)}")
    cohorts = facts.get("cohorts")
    if cohorts is not None:
        if not isinstance(cohorts, Mapping):
            raise InputError("facts['cohorts'] must be a dict {cohort name: {'role', 'n', 'events', ...}}")
        for name, c in cohorts.items():
            if not isinstance(c, Mapping):
                raise InputError(f"facts['cohorts'][{name!r}] must be a dict, got {type(c).__name__}")
            n, e = c.get("n"), c.get("events")
            if n is not None and (not isinstance(n, (int, np.integer)) or n < 0):
                raise InputError(f"facts['cohorts'][{name!r}]['n'] must be a non-negative integer, got {n!r}")
            if e is not None and n is not None and not (0 <= e <= n):
                raise InputError(f"facts['cohorts'][{name!r}]: events={e!r} must lie between 0 and n={n}")
    src = facts.get("data_sources")
    if src is not None and (isinstance(src, (str, Mapping)) or not all(isinstance(s, Mapping) for s in src)):
        raise InputError("facts['data_sources'] must be a list of dicts {'name', 'type', 'role', 'dates', ...}")
    items = {it.item for it in TRIPOD_AI_ITEMS}
    for key in ("author_statements", "sections"):
        bad = sorted(set(facts.get(key) or {}) - items - {it.topic for it in TRIPOD_AI_ITEMS})
        if bad:
            raise InputError(f"facts[{key!r}] names unknown TRIPOD+AI item(s) {bad}; items are {sorted(items)}")
    return facts


def tripod_checklist(facts: Mapping[str, Any] | None = None) -> TripodChecklist:
    """Fill the TRIPOD+AI (2024) checklist from a run's facts.

    Every one of the 52 sub-items gets a status (``reported`` / ``partly`` / ``author must add``
    / ``not applicable``), the evidence the run has (or what the authors must add) and the
    report section where it is found (``facts["sections"]`` overrides the defaults by item
    number or topic). The study type (development, evaluation, or both) decides which D-only /
    E-only items apply; it is inferred from the cohorts' roles when not given (an
    ``"external validation"`` cohort makes it an evaluation).

    Reference: Collins GS, Moons KGM, Dhiman P, et al. TRIPOD+AI statement: updated guidance for
    reporting clinical prediction models that use regression or machine learning methods. BMJ
    2024;385:e078378.

    Examples
    --------
    >>> cl = tripod_checklist({"cohorts": {"train": {"role": "development", "n": 209, "events": 58}}})
    >>> cl.to_frame().loc[lambda d: d.item == "21", "status"].item()
    'reported'
    >>> len(cl.to_frame())
    52
    """
    facts = _check_facts(facts)
    study = _study_type(facts)
    statements = dict(facts.get("author_statements") or {})
    sections = dict(facts.get("sections") or {})
    rows = []
    for it in TRIPOD_AI_ITEMS:
        where = sections.get(it.item) or sections.get(it.topic) or DEFAULT_SECTIONS[it.item]
        if it.applies == "D" and study == "evaluation":
            status, evidence = NA, "development-only item; this is an evaluation study"
        elif it.applies == "E" and study == "development":
            status, evidence = NA, "evaluation-only item; no external evaluation cohort in this run"
        elif _text(statements.get(it.item)):
            status, evidence = REPORTED, str(statements[it.item])
            if it.item not in sections and it.topic not in sections:
                where = "author-supplied text"
        else:
            status, evidence = _RULES[it.item](facts)
        rows.append({"item": it.item, "section": it.section, "topic": it.topic, "applies": it.applies,
                     "text": it.text, "status": status, "evidence": evidence, "where": where})
    return TripodChecklist(items=pd.DataFrame(rows), study_type=study)


def cohort_facts(df: pd.DataFrame, outcome: str, role: str, predictors: Sequence[str] = (),
                 event: Any = None) -> dict[str, Any]:
    """The facts of one cohort for ``facts["cohorts"][name]``, counted from its data.

    ``n`` is the number of complete cases (outcome and ``predictors`` present), ``events`` the
    complete cases whose outcome equals ``event`` (default: 1/True, or the last category of a
    Categorical), ``n_excluded`` the rows dropped for missing values and ``missing_by_column``
    the missing counts per column.
    """
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"cohort_facts needs a pandas DataFrame, got {type(df).__name__}")
    cols = [outcome, *predictors]
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise InputError(f"columns {missing} are not in the cohort data (available: {list(df.columns)[:20]})")
    na = df[cols].isna()
    complete = ~na.any(axis=1)
    y = df.loc[complete, outcome]
    if event is None:
        if isinstance(y.dtype, pd.CategoricalDtype):
            event = y.cat.categories[-1]
        else:
            vals = set(pd.unique(y.dropna()))
            if not vals <= {0, 1, True, False}:
                raise InputError(f"outcome {outcome!r} is not 0/1 (values {sorted(map(str, vals))[:10]}); "
                                 "give event= the value that counts as an event")
            event = 1
    return {"role": role, "n": int(complete.sum()), "events": int((y == event).sum()),
            "n_excluded": int((~complete).sum()),
            "missing_by_column": {c: int(v) for c, v in na.sum().items() if v}}
