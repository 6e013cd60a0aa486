"""Loaders for the two real public clinical tables (MAMA-MIA, Duke-Breast-Cancer-MRI).

Both return a DataFrame in dictionary variables (see ``load_dictionary()``), validated by
:func:`~her2stats.data.validate_cohort`, plus the source columns kept with a prefix
(``mamamia_`` / ``duke_``). ``df.attrs`` carries ``source`` (file path), ``load_report``
(records of every recoding decision with counts: ``pd.DataFrame(df.attrs["load_report"])``),
``validation`` (records of the ValidationReport table) and ``leaky_predictors``.

Leakage: some source columns encode HER2 status itself (subtype labels, anti-HER2 therapy, the
neoadjuvant agent which names trastuzumab/pertuzumab/T-DM1/neratinib). They are listed in
``MAMAMIA_LEAKY_PREDICTORS`` / ``DUKE_LEAKY_PREDICTORS`` (also ``load_mamamia.LEAKY_PREDICTORS``)
so a study config can exclude them from HER2 models.

Data: MAMA-MIA (Garrucho et al., Sci Data 2025) and Duke-Breast-Cancer-MRI (Saha et al., Br J
Cancer 2018), TCIA, CC BY-NC 4.0. Cite them when you report results.
"""
from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from .validate import validate_cohort

MAMAMIA_RELPATH = "data/mamamia/clinical_and_imaging_info.xlsx"
DUKE_RELPATH = "data/duke/Clinical_and_Other_Features.xlsx"

#: MAMA-MIA columns (and derived dictionary variables) that encode HER2 status.
MAMAMIA_LEAKY_PREDICTORS = ("subtype", "mamamia_tumor_subtype", "mamamia_anti_her2_neu_therapy", "mamamia_nac_agent")
#: Duke columns (and derived dictionary variables) that encode HER2 status.
DUKE_LEAKY_PREDICTORS = ("subtype", "duke_mol_subtype", "duke_neoadjuvant_anti_her2", "duke_adjuvant_anti_her2",
                         "duke_her2_other_side", "duke_mol_subtype_other_side")

_DAYS_PER_YEAR = 365.25


# ----------------------------------------------------------------------------------------------
# locating the data files
# ----------------------------------------------------------------------------------------------
#: Setting this environment variable (to anything but "" or "0") switches off the search of a
#: sibling ``shared/`` folder (beside the repository or the working directory). CI sets it so a
#: test that needs a file outside the repository fails instead of finding it there.
NO_SIBLING_ENV = "HER2STATS_NO_SIBLING_SHARED"


def repo_root() -> Path:
    """The source checkout this package is imported from (holds ``data/``, ``reports/``, ``r/``)."""
    return Path(__file__).resolve().parents[2]


def sibling_search_enabled() -> bool:
    """False when ``$HER2STATS_NO_SIBLING_SHARED`` is set (CI: the repository must be enough)."""
    return os.environ.get(NO_SIBLING_ENV, "") in ("", "0")


def shared_candidates(relpath: str) -> list[Path]:
    """Where a data file (``relpath`` like ``data/duke/...``) is looked for, in order:

    1. ``$HER2STATS_SHARED/<relpath>`` (a user's own copy);
    2. ``<repo root>/<relpath>``: the copy the repository carries in ``data/``;
    3. ``<cwd>/<relpath>``;
    4. a sibling ``shared/`` folder: ``<repo root>/../shared/<relpath>``,
       ``<cwd>/../shared/<relpath>``, ``<cwd>/shared/<relpath>`` — unless
       ``$HER2STATS_NO_SIBLING_SHARED`` is set.
    """
    out: list[Path] = []
    env = os.environ.get("HER2STATS_SHARED")
    if env:
        out.append(Path(env).expanduser() / relpath)
    repo = repo_root()
    cwd = Path.cwd()
    out += [repo / relpath, cwd / relpath]
    if sibling_search_enabled():
        out += [repo.parent / "shared" / relpath, cwd.parent / "shared" / relpath, cwd / "shared" / relpath]
    seen: list[Path] = []
    for p in out:
        if p not in seen:
            seen.append(p)
    return seen


def find_shared_file(relpath: str, path: str | os.PathLike | None = None) -> Path:
    """Resolve a data file (explicit ``path`` first, then :func:`shared_candidates`); InputError
    listing the places searched."""
    if path is not None:
        p = Path(path).expanduser()
        if p.is_dir():
            p = p / Path(relpath).name
        if not p.is_file():
            raise InputError(f"file {p} does not exist; pass the path of {Path(relpath).name}")
        return p
    candidates = shared_candidates(relpath)
    for p in candidates:
        if p.is_file():
            return p
    raise InputError(f"{Path(relpath).name} not found; looked in {[str(p) for p in candidates]}. "
                     f"Pass path=..., or set HER2STATS_SHARED to the folder that contains '{relpath}'.")


class _LoadLog:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(self, variable: str, decision: str, n: int) -> None:
        self.rows.append({"variable": variable, "decision": decision, "n": int(n)})

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=["variable", "decision", "n"])


def _finish(out: pd.DataFrame, log: _LoadLog, source: Path, leaky: tuple[str, ...]) -> pd.DataFrame:
    clean, report = validate_cohort(out)
    # attrs hold plain records only: pandas compares attrs when combining frames, and DataFrames
    # inside attrs make those comparisons raise; pd.DataFrame(df.attrs["load_report"]) gives a table
    clean.attrs["source"] = str(source)
    clean.attrs["load_report"] = log.frame().to_dict("records")
    clean.attrs["validation"] = report.to_frame().to_dict("records")
    clean.attrs["leaky_predictors"] = leaky
    return clean


def _binary_label(values: pd.Series, negative: str = "negative", positive: str = "positive") -> pd.Series:
    return values.map({0: negative, 1: positive, 0.0: negative, 1.0: positive})


# ----------------------------------------------------------------------------------------------
# MAMA-MIA
# ----------------------------------------------------------------------------------------------
def _surrogate_subtype(hr: pd.Series, her2: pd.Series) -> pd.Series:
    """St Gallen surrogate subtype from HR and HER2 (Ki-67 unknown, so HR+/HER2- is 'luminal')."""
    out = pd.Series(None, index=hr.index, dtype=object)
    out[hr.eq("positive") & her2.eq("negative")] = "luminal"
    out[hr.eq("positive") & her2.eq("positive")] = "luminal_her2"
    out[hr.eq("negative") & her2.eq("positive")] = "her2_enriched"
    out[hr.eq("negative") & her2.eq("negative")] = "triple_negative"
    return out


def load_mamamia(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """Load the MAMA-MIA clinical and imaging table into dictionary variables.

    Parameters
    ----------
    path : the ``clinical_and_imaging_info.xlsx`` file (or its folder). None uses
        ``$HER2STATS_SHARED/data/mamamia/`` when set, else the copy in the repository's
        ``data/mamamia/`` (see :func:`shared_candidates`).

    Returns
    -------
    DataFrame
        1,506 patients. Dictionary columns: patient_id, center (collection: DUKE, ISPY1, ISPY2,
        NACT), age, menopause, er, pr, hr, her2_status, her2_positive, grade, subtype, pcr,
        multifocal, field_strength, manufacturer, rfs_time/rfs_event, os_time/os_event (days).
        Every source column is kept as ``mamamia_<name>``. ``attrs["load_report"]`` lists the
        recoding decisions; ``attrs["leaky_predictors"]`` the HER2-encoding columns.

    Notes
    -----
    * HER2 IHC/ISH are not in the table: ``her2_status`` comes from the binary ``her2`` column;
      ``her2_class`` cannot be derived.
    * ``tumor_subtype`` labels mean different things by collection (``her2_enriched`` is HR+/HER2+
      in DUKE/ISPY1/NACT but HR-/HER2+ in ISPY2, where HR+/HER2+ is ``luminal_b``), so ``subtype`` is
      re-derived from ``hr`` and ``her2`` (surrogate classes); the source label stays in
      ``mamamia_tumor_subtype``.
    * Menopause: "peri" (6-12 months since LMP) is mapped to pre (not post-menopausal).
    * Survival (DUKE, ISPY1, NACT only; ISPY2 has none): ``days_to_*`` = 0 means "no event".
      rfs_event = recurrence, metastasis or death; rfs_time = the first of them, else
      ``days_to_follow_up``. os_event = death; os_time = day of death, else the latest of
      follow-up, recurrence and metastasis days (the patient was known alive then). For the DUKE collection, ``days_to_follow_up``
      is the last recurrence-free assessment and can precede a later death (kept as recorded).
    * ``nottingham_grade`` low/intermediate/high -> grade 1/2/3 (DUKE collection only).
    """
    source = find_shared_file(MAMAMIA_RELPATH, path)
    raw = pd.read_excel(source)
    expected = {"patient_id", "dataset", "her2", "hr", "er", "pr", "age", "menopause", "pcr", "tumor_subtype",
                "days_to_follow_up", "days_to_recurrence", "days_to_death", "field_strength", "manufacturer"}
    absent = sorted(expected - set(raw.columns))
    if absent:
        raise InputError(f"{source} lacks the MAMA-MIA columns {absent}; is it clinical_and_imaging_info.xlsx?")
    log = _LoadLog()
    out = pd.DataFrame(index=raw.index)
    out["patient_id"] = raw["patient_id"].astype(str)
    out["center"] = raw["dataset"].astype(str)
    out["age"] = raw["age"]
    log.add("age", "missing in source", raw["age"].isna().sum())

    meno = raw["menopause"].astype(str).str.strip().str.lower()
    mapped = pd.Series(None, index=raw.index, dtype=object)
    mapped[meno.str.startswith("pre")] = "pre"
    mapped[meno.str.startswith("post")] = "post"
    mapped[meno.str.startswith("peri")] = "pre"
    out["menopause"] = mapped
    log.add("menopause", "'peri' (6-12 months since LMP) mapped to pre", meno.str.startswith("peri").sum())
    log.add("menopause", "long 'pre (<6 months since LMP ...)' labels mapped to pre", (meno.str.startswith("pre (")).sum())
    log.add("menopause", "missing in source", raw["menopause"].isna().sum())

    for col in ("er", "pr", "hr"):
        out[col] = _binary_label(raw[col])
        log.add(col, "missing in source", raw[col].isna().sum())
    out["her2_status"] = _binary_label(raw["her2"])
    log.add("her2_status", "from binary 'her2' (IHC/ISH not in source); missing", raw["her2"].isna().sum())
    grade_map = {"low": "1", "intermediate": "2", "high": "3"}
    out["grade"] = raw["nottingham_grade"].map(grade_map)
    log.add("grade", "nottingham_grade low/intermediate/high -> 1/2/3; missing", out["grade"].isna().sum())

    out["subtype"] = _surrogate_subtype(out["hr"], out["her2_status"])
    differs = raw["tumor_subtype"].notna() & out["subtype"].notna() & (raw["tumor_subtype"].astype(str) != out["subtype"].astype(str))
    log.add("subtype", "re-derived from hr/her2; source label differs (collection-specific naming)", differs.sum())
    out["pcr"] = raw["pcr"]
    out["multifocal"] = raw["multifocal_cancer"] if "multifocal_cancer" in raw.columns else np.nan
    out["field_strength"] = raw["field_strength"]
    manu = raw["manufacturer"].astype(str).str.strip()
    out["manufacturer"] = manu.map({"GE": "GE", "SIEMENS": "Siemens", "Philips": "Philips"}).where(raw["manufacturer"].notna(), None)
    out.loc[raw["manufacturer"].notna() & out["manufacturer"].isna(), "manufacturer"] = "other"

    def days(col: str) -> pd.Series:
        if col not in raw.columns:
            return pd.Series(np.nan, index=raw.index)
        v = pd.to_numeric(raw[col], errors="coerce")
        return v.where(v > 0)  # 0 codes "no event"

    rec, met, death = days("days_to_recurrence"), days("days_to_metastasis"), days("days_to_death")
    follow = pd.to_numeric(raw["days_to_follow_up"], errors="coerce")
    has_surv = follow.notna() | rec.notna() | death.notna()
    first_event = pd.concat([rec, met, death], axis=1).min(axis=1)
    out["rfs_event"] = np.where(has_surv, first_event.notna().astype(float), np.nan)
    out["rfs_time"] = first_event.where(first_event.notna(), follow)
    out["os_event"] = np.where(has_surv, death.notna().astype(float), np.nan)
    # alive at least until the last recurrence-free assessment and any recurrence/metastasis day
    last_alive = pd.concat([follow, rec, met], axis=1).max(axis=1)
    out["os_time"] = death.where(death.notna(), last_alive)
    for prefix in ("rfs", "os"):
        incomplete = out[f"{prefix}_event"].notna() & ~(out[f"{prefix}_time"] > 0)
        out.loc[incomplete, [f"{prefix}_time", f"{prefix}_event"]] = np.nan
        log.add(f"{prefix}_time", "no positive time (follow-up missing or 0): survival set missing", incomplete.sum())
    log.add("rfs_time", "no survival data in source (ISPY2 and others)", (~has_surv).sum())
    log.add("rfs_event", "events (recurrence, metastasis or death)", (out["rfs_event"] == 1).sum())

    for col in raw.columns:
        out[f"mamamia_{col}"] = raw[col]
    return _finish(out, log, source, MAMAMIA_LEAKY_PREDICTORS)


load_mamamia.LEAKY_PREDICTORS = MAMAMIA_LEAKY_PREDICTORS  # type: ignore[attr-defined]


# ----------------------------------------------------------------------------------------------
# Duke-Breast-Cancer-MRI
# ----------------------------------------------------------------------------------------------
#: column names for the 98 columns of Clinical_and_Other_Features.xlsx, in file order, with the
#: start of the header text each position must carry (checked, so a changed layout fails loudly).
DUKE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("patient_id", "Patient ID"), ("days_to_mri", "Days to MRI"), ("manufacturer", "Manufacturer"),
    ("manufacturer_model", "Manufacturer Model Name"), ("scan_options", "Scan Options"),
    ("field_strength", "Field Strength"), ("patient_position", "Patient Position"),
    ("image_position", "Image Position"), ("contrast_agent", "Contrast Agent"),
    ("contrast_bolus_volume", "Contrast Bolus Volume"), ("tr", "TR"), ("te", "TE"),
    ("acquisition_matrix", "Acquisition Matrix"), ("slice_thickness", "Slice Thickness"), ("rows", "Rows"),
    ("columns", "Columns"), ("reconstruction_diameter", "Reconstruction Diameter"), ("flip_angle", "Flip Angle"),
    ("fov_cm", "FOV Computed"), ("date_of_birth_days", "Date of Birth"), ("menopause", "Menopause"),
    ("race", "Race and Ethnicity"), ("metastatic_at_presentation", "Metastatic at Presentation"),
    ("er", "ER"), ("pr", "PR"), ("her2", "HER2"), ("mol_subtype", "Mol Subtype"), ("oncotype_score", "Oncotype score"),
    ("t_stage", "Staging(Tumor Size)"), ("n_stage", "Staging(Nodes)"), ("m_stage", "Staging(Metastasis)"),
    ("grade_tubule", "Tumor Grade"), ("grade_nuclear", ""), ("grade_mitotic", ""),
    ("nottingham_grade", "Nottingham grade"), ("histologic_type", "Histologic type"),
    ("tumor_location", "Tumor Location"), ("position", "Position"), ("bilateral", "Bilateral Information"),
    ("bilateral_different_rec_status", ""), ("side_annotated", ""), ("other_side", "For Other Side If Bilateral"),
    ("oncotype_score_other_side", ""), ("nottingham_grade_other_side", ""), ("er_other_side", ""),
    ("pr_other_side", ""), ("her2_other_side", ""), ("mol_subtype_other_side", ""),
    ("multifocal", "Multicentric/Multifocal"), ("contralateral_involvement", "Contralateral Breast Involvement"),
    ("lymphadenopathy", "Lymphadenopathy or Suspicious Nodes"), ("skin_nipple_involvement", "Skin/Nipple"),
    ("pec_chest_involvement", "Pec/Chest Involvement"), ("surgery", "Surgery"), ("days_to_surgery", "Days to Surgery"),
    ("surgery_type", "Definitive Surgery Type"), ("neoadjuvant_radiation", "Neoadjuvant Radiation Therapy"),
    ("adjuvant_radiation", "Adjuvant Radiation Therapy"), ("clinical_response", "Clinical Response"),
    ("pathologic_response", "Pathologic Response to Neoadjuvant Therapy"), ("recurrence_event", "Recurrence event(s)"),
    ("days_to_local_recurrence", "Days to local recurrence"), ("days_to_distant_recurrence", "Days to distant recurrence"),
    ("days_to_death", "Days to death"), ("days_to_last_local_rfa", "Days to last local recurrence free assessment"),
    ("days_to_last_distant_rfa", "Days to last distant recurrence free"), ("days_to_last_contact", "Age at last contact"),
    ("birads_data", ""), ("mammo_age_days", "Age at mammo"), ("mammo_breast_density", "Breast Density"),
    ("mammo_shape", "Shape"), ("mammo_margin", "Margin"), ("mammo_architectural_distortion", "Architectural distortion"),
    ("mammo_mass_density", "Mass Density"), ("mammo_calcifications", "Calcifications"), ("mammo_tumor_size_cm", "Tumor Size"),
    ("us_shape", "Shape"), ("us_margin", "Margin"), ("us_tumor_size_cm", "Tumor Size"), ("us_echogenicity", "Echogenicity"),
    ("us_solid", "Solid"), ("us_posterior_shadowing", "Posterior acoustic shadowing"),
    ("neoadjuvant_chemotherapy", "Neoadjuvant Chemotherapy"), ("adjuvant_chemotherapy", "Adjuvant Chemotherapy"),
    ("neoadjuvant_endocrine", "Neoadjuvant Endocrine"), ("adjuvant_endocrine", "Adjuvant Endocrine"),
    ("known_ovarian_status", "Known Ovarian Status"), ("ovaries_in_situ", "Number of Ovaries"),
    ("oophorectomy", "Therapeutic or Prophylactic Oophorectomy"), ("neoadjuvant_anti_her2", "Neoadjuvant Anti-Her2"),
    ("adjuvant_anti_her2", "Adjuvant Anti-Her2"), ("received_neoadjuvant", "Received Neoadjuvant Therapy"),
    ("ypt_stage", "Pathologic response to Neoadjuvant therapy: Pathologic stage (T)"),
    ("ypn_stage", "Pathologic response to Neoadjuvant therapy:  Pathologic stage (N)"),
    ("ypm_stage", "Pathologic response to Neoadjuvant therapy:  Pathologic stage (M)"),
    ("near_complete_response_strict", "Overall Near-complete Response:  Stricter"),
    ("near_complete_response_loose", "Overall Near-complete Response:  Looser"),
    ("near_complete_response_graded", "Near-complete Response (Graded"),
)

_LEGEND_KEY = re.compile(r"(?<![^\s,;{(])(-?[\w/]+)\s*=")
#: free-text Duke columns (never decoded or reduced to codes)
_DUKE_TEXT = ("patient_id", "position", "image_position", "tumor_location", "side_annotated", "other_side")


def parse_duke_legend(text: Any) -> dict[int, str]:
    """Parse a Duke legend cell into ``{code: label}``.

    Two layouts occur: ``"{0 = neg,\\n1 = pos, 2 = borderline}"`` / ``"1=low 2=intermediate
    3=high"`` (code first) and ``"GE MEDICAL SYSTEMS=0, MPTronic software=1"`` / ``"1.494=0,1.5=1"``
    (label first). The layout is label-first when the comma-separated right-hand sides are exactly
    the codes 0, 1, ..., k; otherwise code-first, where a label runs to the next ``key =`` (so
    ``"1 = ER/PR pos, HER2 pos"`` keeps its comma) and non-numeric keys (``NA = ...``) are dropped.
    Text after a closing brace (notes) is ignored. Text that is not a code list returns ``{}``.
    """
    if not isinstance(text, str) or "=" not in text:
        return {}
    body = text.strip()
    if body.startswith("{") and "}" in body:
        body = body[1:body.index("}")]
    parts = [p.strip() for p in body.split(",") if "=" in p]
    rhs = [p.rsplit("=", 1)[1].strip() for p in parts]
    if parts and all(re.fullmatch(r"\d+", r) for r in rhs) and [int(r) for r in rhs] == list(range(len(rhs))):
        return {int(r): p.rsplit("=", 1)[0].strip() for p, r in zip(parts, rhs)}
    keys = list(_LEGEND_KEY.finditer(body))
    out: dict[int, str] = {}
    for i, m in enumerate(keys):
        end = keys[i + 1].start() if i + 1 < len(keys) else len(body)
        label = body[m.end():end].strip().strip(",;}").strip()
        if re.fullmatch(r"-?\d+", m.group(1)) and label:
            out[int(m.group(1))] = label
    return out


def _first_code(value: Any) -> tuple[float, bool]:
    """The first integer code of a cell (``'0 (1)'`` -> 0, ``'[1]'`` -> 1); flags cells that needed parsing."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return np.nan, False
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value), False
    m = re.search(r"-?\d+(?:\.\d+)?", str(value))
    if m is None:
        return np.nan, False
    return float(m.group()), True


@functools.lru_cache(maxsize=4)
def _read_sheet(path: str, mtime_ns: int, size: int) -> pd.DataFrame:
    # openpyxl needs seconds for this workbook; cache per (file, mtime, size) within the process
    return pd.read_excel(path, header=None, dtype=object)


def _read_duke(source: Path) -> tuple[pd.DataFrame, list[Any], list[Any]]:
    st = source.stat()
    sheet = _read_sheet(str(source.resolve()), st.st_mtime_ns, st.st_size).copy()
    if sheet.shape[1] != len(DUKE_COLUMNS) or len(sheet) < 4:
        raise InputError(f"{source} has {sheet.shape[1]} columns; the Duke clinical table has {len(DUKE_COLUMNS)} "
                         "(two header rows and a legend row)")
    for j, (name, start) in enumerate(DUKE_COLUMNS):
        header = sheet.iat[1, j]
        text = "" if pd.isna(header) else str(header).strip()
        if start and not text.startswith(start):
            raise InputError(f"{source}: column {j + 1} header is {text!r}, expected it to start with {start!r} "
                             f"({name}); the Duke file layout changed")
    body = sheet.iloc[3:].reset_index(drop=True)
    body.columns = [name for name, _ in DUKE_COLUMNS]
    return body, list(sheet.iloc[1]), list(sheet.iloc[2])


def load_duke(path: str | os.PathLike | None = None, *, raw_columns: bool = True) -> pd.DataFrame:
    """Load the Duke-Breast-Cancer-MRI clinical table into dictionary variables.

    Parameters
    ----------
    path : ``Clinical_and_Other_Features.xlsx`` (or its folder); None uses
        ``$HER2STATS_SHARED/data/duke/`` when set, else the copy in the repository's
        ``data/duke/`` (see :func:`shared_candidates`).
    raw_columns : also keep every source column as ``duke_<name>``; coded columns are decoded to
        their legend labels (third header row), e.g. ``duke_manufacturer`` = ``"SIEMENS"``.

    Returns
    -------
    DataFrame
        922 patients, center ``DUKE``. Dictionary columns: age (completed years at diagnosis, from
        the negative day offset of the date of birth), menopause, er, pr, hr, her2_status,
        her2_positive, subtype, grade (Nottingham), histology, t_stage, n_stage (NX -> missing),
        tumor_size_mm (ultrasound size, else mammography size, x10 from cm), birads_shape /
        birads_margin / echo_pattern (ultrasound descriptors), multifocal (MRI), field_strength,
        manufacturer, pcr (pathologic complete response among neoadjuvant patients), rfs_time /
        rfs_event and os_time / os_event in days from diagnosis.

    Notes
    -----
    * RFS event = local or distant recurrence or death (STEEP); time = first event day, else the
      last recurrence-free assessment (the earlier of the local and distant assessments). Rows
      whose recurrence flag contradicts the recurrence days get missing RFS (counted).
    * OS time = day of death, else the last contact day, else the last recurrence-free assessment.
    * ``NP`` (not pertinent) / ``NC`` (not collected) cells are missing.
    * Cells holding several codes (``'0 (1)'``, ``'4, 7'``, ``'[1]'``) keep the first code
      (counted in ``attrs["load_report"]``).
    """
    source = find_shared_file(DUKE_RELPATH, path)
    body, headers, legends = _read_duke(source)
    log = _LoadLog()
    names = [name for name, _ in DUKE_COLUMNS]

    codes: dict[str, pd.Series] = {}
    legend_of = {name: parse_duke_legend(legend) for name, legend in zip(names, legends)}
    for name in names:
        if name in _DUKE_TEXT:
            continue
        col = body[name].map(lambda v: np.nan if isinstance(v, str) and v.strip() in ("NP", "NC", "NA", "") else v)
        parsed = [_first_code(v) for v in col]
        codes[name] = pd.Series([p[0] for p in parsed], index=body.index, dtype=float)
        n_parsed = sum(p[1] for p in parsed)
        if n_parsed:
            log.add(f"duke_{name}", "text cell reduced to its first code (e.g. '0 (1)' -> 0)", n_parsed)

    def decoded(name: str) -> pd.Series:
        legend = legend_of[name]
        return codes[name].map(lambda v: legend.get(int(v)) if pd.notna(v) else None)

    out = pd.DataFrame(index=body.index)
    out["patient_id"] = body["patient_id"].astype(str)
    out["center"] = "DUKE"
    out["age"] = np.floor(-codes["date_of_birth_days"] / _DAYS_PER_YEAR)
    out["menopause"] = decoded("menopause").map({"pre": "pre", "post": "post"})
    log.add("menopause", "code 2 (N/A) -> missing", (codes["menopause"] == 2).sum())
    for col in ("er", "pr"):
        out[col] = decoded(col).map({"neg": "negative", "pos": "positive"})
    out["her2_status"] = decoded("her2").map({"neg": "negative", "pos": "positive"})
    log.add("her2_status", "code 2 (borderline) -> missing", (codes["her2"] == 2).sum())
    mol = codes["mol_subtype"].map({0: "luminal", 1: "luminal_her2", 2: "her2_enriched", 3: "triple_negative"})
    out["subtype"] = mol
    out["grade"] = codes["nottingham_grade"].map({1: "1", 2: "2", 3: "3"})
    log.add("grade", "Nottingham grade missing", out["grade"].isna().sum())
    out["histology"] = decoded("histologic_type").map({
        "DCIS": "dcis", "ductal": "ductal", "lobular": "lobular", "metaplastic": "metaplastic", "LCIS": "lcis",
        "tubular": "tubular", "mixed": "mixed", "micropapillary": "micropapillary", "colloid": "mucinous",
        "mucinous": "mucinous", "medullary": "medullary"})
    t = codes["t_stage"]
    out["t_stage"] = t.map({1: "T1", 2: "T2", 3: "T3", 4: "T4"})
    log.add("t_stage", "T0/Tis/missing -> missing", (out["t_stage"].isna()).sum())
    n = codes["n_stage"]
    out["n_stage"] = n.map({0: "N0", 1: "N1", 2: "N2", 3: "N3"})
    log.add("n_stage", "NX (-1) or missing -> missing", out["n_stage"].isna().sum())
    us_size, mammo_size = codes["us_tumor_size_cm"] * 10, codes["mammo_tumor_size_cm"] * 10
    out["tumor_size_mm"] = us_size.where(us_size.notna(), mammo_size)
    log.add("tumor_size_mm", "from ultrasound size", us_size.notna().sum())
    log.add("tumor_size_mm", "from mammography size (no ultrasound size)", (us_size.isna() & mammo_size.notna()).sum())
    out["birads_shape"] = decoded("us_shape").map({"oval": "oval", "irregular": "irregular", "lobular": "lobular"})
    out["birads_margin"] = decoded("us_margin").map({
        "obscured": "obscured", "ill-defined": "indistinct", "spiculated": "spiculated", "indistinct": "indistinct",
        "circumscribed": "circumscribed", "microlobulated": "microlobulated", "angular": "angular", "irregular": "irregular"})
    echo = decoded("us_echogenicity")
    out["echo_pattern"] = echo.map({"hypoechoic": "hypoechoic", "hyperechoic": "hyperechoic", "isoechoic": "isoechoic",
                                    "anechoic": "anechoic", "mixed": "heterogeneous"})
    log.add("echo_pattern", "codes 'irregular'/'boundary' (not BI-RADS echo patterns) -> missing",
            (echo.notna() & out["echo_pattern"].isna()).sum())
    out["multifocal"] = codes["multifocal"]
    out["field_strength"] = decoded("field_strength").astype(float)
    out["manufacturer"] = decoded("manufacturer").map({"GE MEDICAL SYSTEMS": "GE", "SIEMENS": "Siemens", "MPTronic software": "other"})
    path_resp = codes["pathologic_response"]
    out["pcr"] = path_resp.map({1: 1.0, 2: 0.0, 3: 1.0, 4: 1.0})
    log.add("pcr", "pathologic response: complete or DCIS/LCIS only (ypT0/is) -> 1; not complete -> 0; "
            "unavailable / no neoadjuvant therapy -> missing", out["pcr"].isna().sum())

    # survival (days from diagnosis)
    rec_flag = codes["recurrence_event"]
    rec_day = pd.concat([codes["days_to_local_recurrence"], codes["days_to_distant_recurrence"]], axis=1).min(axis=1)
    death = codes["days_to_death"]
    assess = pd.concat([codes["days_to_last_local_rfa"], codes["days_to_last_distant_rfa"]], axis=1).min(axis=1)
    conflict = (rec_flag == 0) & rec_day.notna() | (rec_flag == 1) & rec_day.isna()
    event_day = pd.concat([rec_day.where(rec_flag == 1), death], axis=1).min(axis=1)
    rfs_event = pd.Series(np.where(event_day.notna(), 1.0, np.where(assess.notna() & rec_flag.eq(0), 0.0, np.nan)), index=body.index)
    rfs_time = event_day.where(event_day.notna(), assess)
    bad = conflict | rfs_event.isna() | ~(rfs_time > 0)
    out["rfs_event"] = rfs_event.where(~bad)
    out["rfs_time"] = rfs_time.where(~bad)
    log.add("rfs", "recurrence flag contradicts recurrence days -> missing", conflict.sum())
    log.add("rfs", "no recurrence-free assessment or time <= 0 -> missing", (bad & ~conflict).sum())
    log.add("rfs_event", "events: recurrence", ((rec_flag == 1) & ~bad).sum())
    log.add("rfs_event", "events: death without recurrence", (death.notna() & (rec_flag == 0) & ~bad).sum())
    last = codes["days_to_last_contact"]
    os_time = death.where(death.notna(), last.where(last.notna(), pd.concat([assess, rec_day], axis=1).max(axis=1)))
    ok = os_time > 0
    out["os_event"] = death.notna().astype(float).where(ok)
    out["os_time"] = os_time.where(ok)
    log.add("os", "no follow-up time -> missing", (~ok).sum())

    if raw_columns:
        kept: dict[str, pd.Series] = {}
        for name in names:
            if name == "patient_id":
                continue
            if name in _DUKE_TEXT:
                kept[f"duke_{name}"] = body[name].map(lambda v: None if isinstance(v, str) and v.strip() in ("NP", "NC") else v)
            elif legend_of[name]:
                kept[f"duke_{name}"] = decoded(name)
            else:
                kept[f"duke_{name}"] = codes[name]
        out = pd.concat([out, pd.DataFrame(kept, index=out.index)], axis=1)
    return _finish(out, log, source, DUKE_LEAKY_PREDICTORS)


load_duke.LEAKY_PREDICTORS = DUKE_LEAKY_PREDICTORS  # type: ignore[attr-defined]
