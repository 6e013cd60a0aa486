"""The data dictionary: packaged YAML, the repository copy, standard names, levels and derivations."""
from __future__ import annotations

from pathlib import Path

import pytest

from her2stats.data import load_dictionary
from her2stats.errors import InputError

REPO = Path(__file__).resolve().parents[1]

STANDARD_NAMES = [
    "patient_id", "center", "split", "age", "menopause", "er", "pr", "hr", "her2_ihc", "her2_ish", "her2_status",
    "her2_positive", "her2_class", "ki67", "grade", "histology", "t_stage", "n_stage", "tumor_size_mm", "subtype",
    "birads_shape", "birads_margin", "echo_pattern", "enhancement_pattern", "adc", "t2_signal", "pcr",
    "rfs_time", "rfs_event", "os_time", "os_event", "field_strength", "manufacturer",
]


def test_repository_copy_is_identical_to_packaged_dictionary():
    packaged = (REPO / "her2stats" / "data" / "_files" / "variables.yaml").read_text()
    assert (REPO / "data-dictionary" / "variables.yaml").read_text() == packaged


def test_standard_names_types_and_levels():
    d = load_dictionary()
    assert set(STANDARD_NAMES) <= set(d)
    assert d["her2_ihc"].levels == ("0", "1+", "2+", "3+") and d["her2_ihc"].type == "ordinal"
    assert d["her2_class"].levels == ("zero", "low", "positive") and d["her2_class"].type == "ordinal"
    assert d["split"].levels == ("train", "internal", "external")
    assert d["t_stage"].levels == ("T1", "T2", "T3", "T4") and d["n_stage"].levels == ("N0", "N1", "N2", "N3")
    assert d["rfs_time"].unit == "days" and d["rfs_time"].type == "time" and d["rfs_event"].pairs_with == "rfs_time"
    assert d["ki67"].unit == "percent" and (d["ki67"].min, d["ki67"].max) == (0, 100)
    assert d["her2_positive"].type == "binary" and d["pcr"].type == "binary"
    assert all(v.on_invalid == "error" for v in d.values())


def test_derivations_name_their_sources():
    der = load_dictionary().derivations()
    pairs = set(zip(der["derived"], der["source"]))
    assert {("her2_class", "her2_ihc"), ("her2_class", "her2_ish"), ("her2_status", "her2_ihc"),
            ("her2_positive", "her2_status"), ("hr", "er"), ("hr", "pr"), ("subtype", "her2_status")} <= pairs


def test_aliases_coerce_spellings():
    d = load_dictionary()
    assert d["her2_ihc"].level_of(3) == "3+"
    assert d["her2_ihc"].level_of(" 2+ ") == "2+"
    assert d["grade"].level_of("High") == "3"
    assert d["grade"].level_of(2.0) == "2"
    assert d["er"].level_of("Pos") == "positive"
    assert d["t_stage"].level_of("T1c") == "T1"
    assert d["her2_ihc"].level_of("4+") is None


def test_leaky_variables_include_subtype_and_outcomes():
    leaky = load_dictionary().leaky_for_her2()
    assert "subtype" in leaky and "her2_ihc" in leaky and "her2_positive" in leaky
    assert "grade" not in leaky


def test_custom_dictionary_file_and_its_errors(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("version: 2\nvariables:\n  patient_id: {type: id}\n  score: {type: numeric, min: 0, max: 10, unit: points}\n")
    d = load_dictionary(good)
    assert list(d) == ["patient_id", "score"] and d.version == 2 and d["score"].unit == "points"
    bad_type = tmp_path / "bad.yaml"
    bad_type.write_text("variables:\n  x: {type: text}\n")
    with pytest.raises(InputError, match="'x' has type 'text'"):
        load_dictionary(bad_type)
    bad_alias = tmp_path / "alias.yaml"
    bad_alias.write_text("variables:\n  x: {type: categorical, levels: [a, b], aliases: {c: d}}\n")
    with pytest.raises(InputError, match="unknown levels"):
        load_dictionary(bad_alias)
    with pytest.raises(InputError, match="does not exist"):
        load_dictionary(tmp_path / "missing.yaml")


def test_to_frame_lists_every_variable():
    frame = load_dictionary().to_frame()
    assert len(frame) == len(load_dictionary())
    assert {"variable", "type", "levels", "unit", "on_invalid", "derived_from"} <= set(frame.columns)
