"""Loaders of the real MAMA-MIA and Duke clinical tables: row counts, known tallies, decoding, paths.

Reading the two workbooks takes seconds (openpyxl), so each is loaded once per module.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from her2stats.data import load_duke, load_mamamia, validate_cohort
from her2stats.data.loaders import (
    DUKE_LEAKY_PREDICTORS,
    DUKE_RELPATH,
    MAMAMIA_LEAKY_PREDICTORS,
    MAMAMIA_RELPATH,
    find_shared_file,
    parse_duke_legend,
)
from her2stats.errors import InputError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mamamia(data_dir):
    return load_mamamia(data_dir.parent / MAMAMIA_RELPATH)


@pytest.fixture(scope="module")
def duke(data_dir):
    return load_duke(data_dir.parent / DUKE_RELPATH)


def _counts(s: pd.Series) -> dict:
    return {("NA" if pd.isna(k) else str(k)): int(v) for k, v in s.astype(object).value_counts(dropna=False).items()}


# ---------------------------------------------------------------- MAMA-MIA
def test_mamamia_known_tallies(mamamia):
    assert len(mamamia) == 1506 and mamamia["patient_id"].is_unique
    assert mamamia["her2_status"].notna().sum() == 1484
    assert int(mamamia["her2_positive"].sum()) == 393
    assert _counts(mamamia["center"]) == {"ISPY2": 980, "DUKE": 291, "ISPY1": 171, "NACT": 64}
    pos_by_center = mamamia.groupby("center", observed=True)["her2_positive"].sum().to_dict()
    assert pos_by_center == {"DUKE": 83, "ISPY1": 54, "ISPY2": 241, "NACT": 15}
    assert mamamia["pcr"].notna().sum() == 1491 and int(mamamia["pcr"].sum()) == 440
    assert _counts(mamamia["grade"]) == {"NA": 1314, "3": 103, "2": 80, "1": 9}
    assert _counts(mamamia["field_strength"]) == {"1.5": 1086, "3.0": 420}
    assert _counts(mamamia["manufacturer"]) == {"GE": 966, "Siemens": 411, "Philips": 129}


def test_mamamia_is_dictionary_conformant_and_keeps_sources(mamamia):
    core = mamamia[[c for c in mamamia.columns if not c.startswith("mamamia_")]]
    clean, report = validate_cohort(core)  # re-validation finds nothing to change
    assert report.n_output == 1506 and report.coerced.empty
    assert mamamia["mamamia_tumor_subtype"].notna().sum() == 1480
    assert set(MAMAMIA_LEAKY_PREDICTORS) <= set(mamamia.columns)
    assert mamamia.attrs["leaky_predictors"] == MAMAMIA_LEAKY_PREDICTORS == load_mamamia.LEAKY_PREDICTORS
    assert len(pd.DataFrame(mamamia.attrs["load_report"])) > 5


def test_mamamia_subtype_rederived_from_hr_and_her2(mamamia):
    # the source labels are collection-specific: her2_enriched is HR+/HER2+ outside ISPY2
    src = mamamia["mamamia_tumor_subtype"]
    ispy2 = mamamia["center"] == "ISPY2"
    assert set(mamamia.loc[~ispy2 & (src == "her2_enriched"), "hr"]) == {"positive"}
    assert set(mamamia.loc[ispy2 & (src == "her2_enriched"), "hr"]) == {"negative"}
    sub = mamamia["subtype"].astype(object)
    both = mamamia["hr"].notna() & mamamia["her2_status"].notna()
    expected = np.select(
        [(mamamia["hr"] == "positive") & (mamamia["her2_status"] == "negative"),
         (mamamia["hr"] == "positive") & (mamamia["her2_status"] == "positive"),
         (mamamia["hr"] == "negative") & (mamamia["her2_status"] == "positive")],
        ["luminal", "luminal_her2", "her2_enriched"], "triple_negative")
    assert (sub[both] == expected[both.to_numpy()]).all()
    assert sub[~both].isna().all()


def test_mamamia_survival_from_zero_coded_days(mamamia):
    raw_rec = mamamia["mamamia_days_to_recurrence"]
    has = mamamia["rfs_time"].notna()
    assert not has[mamamia["center"] == "ISPY2"].any()  # ISPY2 has no follow-up
    assert (mamamia.loc[has, "rfs_time"] > 0).all()
    # a positive recurrence day is an event at that day (or earlier death/metastasis)
    rec = has & (raw_rec > 0)
    assert (mamamia.loc[rec, "rfs_event"] == 1).all()
    assert (mamamia.loc[rec, "rfs_time"] <= raw_rec[rec]).all()
    assert int(mamamia["rfs_event"].sum()) == 128 and int(has.sum()) == 526
    assert (mamamia.loc[has, "os_time"] >= mamamia.loc[has, "rfs_time"]).all()


# ---------------------------------------------------------------- Duke
def test_duke_known_tallies(duke):
    assert len(duke) == 922 and duke["patient_id"].is_unique
    assert _counts(duke["her2_status"]) == {"negative": 759, "positive": 163}
    assert _counts(duke["er"]) == {"positive": 686, "negative": 236}
    assert _counts(duke["pr"]) == {"positive": 598, "negative": 324}
    assert _counts(duke["t_stage"]) == {"T1": 409, "T2": 395, "T3": 90, "T4": 22, "NA": 6}
    assert _counts(duke["n_stage"]) == {"N0": 529, "N1": 265, "N2": 61, "N3": 43, "NA": 24}
    assert _counts(duke["grade"]) == {"2": 318, "NA": 284, "3": 207, "1": 113}
    assert _counts(duke["menopause"]) == {"post": 499, "pre": 407, "NA": 16}
    assert _counts(duke["subtype"]) == {"luminal": 595, "triple_negative": 164, "luminal_her2": 104, "her2_enriched": 59}
    assert _counts(duke["duke_recurrence_event"]) == {"no": 833, "yes": 87, "NA": 2}
    # RFS: 87 recurrences + 28 deaths without recurrence; 17 without usable follow-up (3 contradictory)
    assert _counts(duke["rfs_event"]) == {"0": 790, "1": 115, "NA": 17}
    assert (duke["rfs_time"].dropna() > 0).all() and duke["rfs_time"].notna().sum() == 905
    assert int(duke["os_event"].sum()) == 62
    assert _counts(duke["manufacturer"]) == {"GE": 628, "Siemens": 294}
    assert duke["age"].between(21, 90).all()


def test_duke_legend_decoding(duke):
    assert _counts(duke["duke_manufacturer"]) == {"GE MEDICAL SYSTEMS": 628, "SIEMENS": 294}
    assert _counts(duke["duke_mol_subtype"]) == {"luminal-like": 595, "trip neg": 164, "ER/PR pos, HER2 pos": 104, "her2": 59}
    assert duke["duke_histologic_type"].value_counts()["ductal"] == 575
    assert set(DUKE_LEAKY_PREDICTORS) <= set(duke.columns)
    assert duke.attrs["leaky_predictors"] == load_duke.LEAKY_PREDICTORS
    # subtype from the Duke code agrees with ER/PR/HER2
    sub = duke["subtype"].astype(object)
    hr_pos = duke["hr"] == "positive"
    her2_pos = duke["her2_status"] == "positive"
    assert ((sub == "luminal_her2") == (hr_pos & her2_pos)).all()
    assert ((sub == "triple_negative") == (~hr_pos & ~her2_pos)).all()


@pytest.mark.parametrize("text, expected", [
    ("{0 = neg,\n1 = pos, 2 = borderline}", {0: "neg", 1: "pos", 2: "borderline"}),
    ("1=low 2=intermediate 3=high\n", {1: "low", 2: "intermediate", 3: "high"}),
    ("GE MEDICAL SYSTEMS=0, MPTronic software=1, SIEMENS=2", {0: "GE MEDICAL SYSTEMS", 1: "MPTronic software", 2: "SIEMENS"}),
    ("1.494=0,1.5=1,2.8936=2,3=3", {0: "1.494", 1: "1.5", 2: "2.8936", 3: "3"}),
    ("{0 = luminal-like,\n1 = ER/PR pos, HER2 pos,\n2 = her2,\n3 = trip neg}",
     {0: "luminal-like", 1: "ER/PR pos, HER2 pos", 2: "her2", 3: "trip neg"}),
    ("{1 = yes, 2 = no, NA = not applicable}", {1: "yes", 2: "no"}),
    ("{ -1 = NX;  0 = N0;  1 = N1; NA = not applicable}", {-1: "NX", 0: "N0", 1: "N1"}),
    ("Side of cancer L=left R=right", {}),
    (float("nan"), {}),
])
def test_parse_duke_legend(text, expected):
    assert parse_duke_legend(text) == expected


def test_duke_and_mamamia_agree_on_shared_patients(duke, mamamia):
    # MAMA-MIA's DUKE collection re-distributes 291 Duke patients (DUKE_001 == Breast_MRI_001)
    m = mamamia[mamamia["center"] == "DUKE"].copy()
    m["key"] = m["patient_id"].str.replace("DUKE_", "Breast_MRI_", regex=False)
    merged = m.merge(duke, left_on="key", right_on="patient_id", suffixes=("_m", "_d"))
    assert len(merged) == 291
    for col in ("her2_status", "er", "pr"):
        assert (merged[f"{col}_m"].astype(str) == merged[f"{col}_d"].astype(str)).all(), col


@pytest.mark.r
def test_duke_tallies_match_r_readxl(duke, data_dir):
    from her2stats import r_bridge

    r_bridge.ensure_started()
    r = r_bridge.call("h2s_duke_tallies", str(data_dir.parent / DUKE_RELPATH))

    def tally(code: pd.Series) -> dict:
        return {k: float(v) for k, v in r_tally_keys(code).items()}

    def r_tally_keys(values: pd.Series) -> dict:
        return {("NA" if pd.isna(k) else str(int(k))): int(v) for k, v in values.value_counts(dropna=False).items()}

    def r_dict(x) -> dict:
        return {str(k): float(v) for k, v in x.items()}

    assert r["n"] == len(duke) == 922 and r["n_ids"] == 922
    codes = {"er": duke["er"].map({"negative": 0, "positive": 1}),
             "pr": duke["pr"].map({"negative": 0, "positive": 1}),
             "her2": duke["her2_status"].map({"negative": 0, "positive": 1}),
             "mol_subtype": duke["subtype"].map({"luminal": 0, "luminal_her2": 1, "her2_enriched": 2, "triple_negative": 3}),
             "t_stage": duke["t_stage"].map({"T1": 1, "T2": 2, "T3": 3, "T4": 4}),
             "n_stage": duke["n_stage"].map({"N0": 0, "N1": 1, "N2": 2, "N3": 3}),
             "nottingham_grade": duke["grade"].map({"1": 1, "2": 2, "3": 3}),
             "recurrence": duke["duke_recurrence_event"].map({"no": 0, "yes": 1}),
             "menopause": duke["duke_menopause"].map({"pre": 0, "post": 1, "N/A": 2})}
    for name, values in codes.items():
        assert tally(values.astype(float)) == r_dict(r[name]), name


# ---------------------------------------------------------------- paths
def test_default_search_env_var_and_errors(data_dir, tmp_path, monkeypatch):
    monkeypatch.delenv("HER2STATS_SHARED", raising=False)
    # by default the copy the repository carries in data/ is found first
    assert find_shared_file(MAMAMIA_RELPATH) == data_dir / "mamamia" / "clinical_and_imaging_info.xlsx"
    assert find_shared_file(DUKE_RELPATH) == data_dir / "duke" / "Clinical_and_Other_Features.xlsx"
    # HER2STATS_SHARED takes precedence
    fake = tmp_path / "data" / "duke"
    fake.mkdir(parents=True)
    (fake / "Clinical_and_Other_Features.xlsx").write_bytes(b"")
    monkeypatch.setenv("HER2STATS_SHARED", str(tmp_path))
    assert find_shared_file(DUKE_RELPATH) == fake / "Clinical_and_Other_Features.xlsx"
    # a folder is accepted as path
    assert find_shared_file(DUKE_RELPATH, fake) == fake / "Clinical_and_Other_Features.xlsx"
    with pytest.raises(InputError, match="does not exist"):
        load_mamamia(tmp_path / "nope.xlsx")
    monkeypatch.chdir(tmp_path)
    import her2stats.data.loaders as loaders

    monkeypatch.setattr(loaders, "shared_candidates", lambda rel: [tmp_path / "x" / rel])
    with pytest.raises(InputError, match="HER2STATS_SHARED"):
        load_duke()


def test_sibling_shared_search_can_be_switched_off(monkeypatch):
    from her2stats.data.loaders import NO_SIBLING_ENV, repo_root, shared_candidates

    monkeypatch.delenv("HER2STATS_SHARED", raising=False)
    monkeypatch.delenv(NO_SIBLING_ENV, raising=False)
    on = shared_candidates(DUKE_RELPATH)
    assert on[0] == repo_root() / DUKE_RELPATH  # the repository's copy comes before any sibling folder
    assert repo_root().parent / "shared" / DUKE_RELPATH in on
    monkeypatch.setenv(NO_SIBLING_ENV, "1")
    off = shared_candidates(DUKE_RELPATH)
    assert off[0] == repo_root() / DUKE_RELPATH
    siblings = {repo_root().parent / "shared", Path.cwd().parent / "shared", Path.cwd() / "shared"}
    assert not any(parent in p.parents for p in off for parent in siblings), off
    monkeypatch.setenv(NO_SIBLING_ENV, "0")  # "0" means: not switched off
    assert shared_candidates(DUKE_RELPATH) == on


def test_wrong_file_is_rejected(tmp_path):
    wrong = tmp_path / "clinical_and_imaging_info.xlsx"
    pd.DataFrame({"a": [1, 2]}).to_excel(wrong, index=False)
    with pytest.raises(InputError, match="lacks the MAMA-MIA columns"):
        load_mamamia(wrong)
    with pytest.raises(InputError, match="Duke clinical table has 98"):
        load_duke(wrong)
