"""The study's inter-reader agreement step (``agreement:``): the readings table merged into the
analysed cohort, and the ICC / kappa publication table.

The numbers are computed by :func:`her2stats.icc` and :func:`her2stats.kappa` in
:func:`her2stats.reporting.study.stage_agreement`; this module only finds the reader columns and
lays the results out.
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from ..errors import ConfigError, InputError
from .format import fmt_num
from .tables import PublicationTable

__all__ = ["readings_for", "agreement_table"]


def readings_for(cohort: pd.DataFrame, cfg: Any) -> pd.DataFrame:
    """The analysed patients' reader columns (index = the cohort's), the ``agreement.readings`` table
    merged in by ``cohort.id_column`` when given. Every reader column must exist (InputError naming
    ``agreement.pairs[i].readers`` and the closest column); a readings table that repeats a patient,
    or shares a non-id column with the cohort, is refused."""
    from .config import closest

    ag, idc = cfg.agreement, cfg.cohort.id_column
    data = cohort
    if ag.readings is not None:
        if ag.readings == "demo":
            from ..data.demo import load_demo_readers

            extra = load_demo_readers()
            where = "the demo readings (her2stats.load_demo_readers)"
        else:
            from ..files import read_table

            path = cfg.resolve(ag.readings)
            if not path.exists():
                raise ConfigError(f"agreement.readings: file not found: {path}")
            extra = read_table(path, "agreement.readings", InputError, excel=path.suffix.lower() in (".xlsx", ".xls"))
            where = f"agreement.readings ({path.name})"
        if idc not in extra.columns:
            raise InputError(f"agreement.readings: {where} has no column {idc!r} (cohort.id_column) to merge by")
        ids = extra[idc].astype(str)
        if ids.duplicated().any():
            raise InputError(f"agreement.readings: {where} lists patient {ids[ids.duplicated()].iloc[0]!r} more than "
                             "once (one row per patient)")
        both = sorted(set(extra.columns) & set(cohort.columns) - {idc})
        if both:
            raise InputError(f"agreement.readings: {where} repeats cohort column(s) {both}; name the other readers' "
                             "columns differently (e.g. <column>_r2)")
        extra = extra.assign(**{idc: ids}).set_index(idc)
        data = cohort.assign(**{c: cohort[idc].astype(str).map(extra[c]).to_numpy() for c in extra.columns})
        for c in extra.columns:  # keep the categories (and their order) of categorical readings
            if isinstance(extra[c].dtype, pd.CategoricalDtype):
                data[c] = pd.Categorical(data[c], categories=extra[c].cat.categories, ordered=extra[c].cat.ordered)
    present = [str(c) for c in data.columns]
    problems = []
    for i, pair in enumerate(ag.pairs):
        for col in pair.readers:
            if col not in data.columns:
                guess = closest(col, present)
                problems.append(f"agreement.pairs[{i}].readers: column {col!r} not in the cohort"
                                + (" or agreement.readings" if ag.readings else "")
                                + (f"; did you mean {guess!r}?" if guess else ""))
    if problems:
        raise InputError("\n".join(problems))
    cols = list(dict.fromkeys(c for p in ag.pairs for c in p.readers))
    return data[cols]


def agreement_table(frame: pd.DataFrame, ag: Any, labels: Any = None) -> PublicationTable:
    """One row per variable: statistic (ICC form or kappa weights), value with its CI, patients."""
    from ..data.labels import as_labels

    L = as_labels(labels or {})
    rows = []
    for r in frame.to_dict("records"):
        ci = f"{fmt_num(r['ci_low'], 2)} to {fmt_num(r['ci_high'], 2)}"
        rows.append({"Variable": L.var(r["variable"]), "Readers": " vs ".join(map(str, r["readers"])),
                     "Statistic": r["statistic"], "Agreement": fmt_num(r["value"], 2),
                     f"{ag.level:.0%} CI": ci, "Patients": str(int(r["n"]))})
    return PublicationTable(
        data=pd.DataFrame(rows), title="Inter-reader agreement", stub="Variable",
        footnotes=(f"ICC: Shrout-Fleiss {ag.icc_kind} (ICC2,1: two-way random effects, absolute agreement, single "
                   "reader), F-distribution CI. Kappa: Cohen's kappa (weighted where stated) with the Fleiss, Cohen "
                   "& Everitt large-sample CI. Patients read by every reader of the variable.",))
