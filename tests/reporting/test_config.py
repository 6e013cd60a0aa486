"""Config suggestions: unknown keys, values and columns name the closest valid one."""
from __future__ import annotations

import typing

import pytest

from her2stats.errors import ConfigError, InputError
from her2stats.reporting.config import ZooModel, check_columns, closest, config_columns, load_config


def test_zoo_models_in_the_schema_are_the_zoo():
    from her2stats.models.zoo import MODEL_LABELS

    assert set(typing.get_args(ZooModel)) == set(MODEL_LABELS)


def test_closest_is_case_insensitive_and_none_when_far():
    cols = ["age", "tumor_size_mm", "her2_status", "rfs_time"]
    assert closest("Age", cols) == "age"
    assert closest("AGE", cols) == "age"
    assert closest("tumour_size_mm", cols) == "tumor_size_mm"
    assert closest("zzzzzz", cols) is None


def test_defaults_do_not_demand_columns_the_config_never_named(tmp_path):
    """A CSV cohort without Table 1 or HER2 columns: only the columns the config names are
    required (the default table1.group 'her2_status' is not)."""
    cfg = load_config({"name": "x", "cohort": {"source": "csv", "path": str(tmp_path / "c.csv"), "outcome": "y",
                                               "id_column": "id"},
                       "splits": {"by": "random"}, "clinical": {"covariates": ["a"]}})
    assert [c for _, c in config_columns(cfg)] == ["id", "y", "a"]
    check_columns(cfg, ["id", "y", "a"])
    with pytest.raises(InputError, match=r"clinical\.covariates: column 'A' not in the cohort; did you mean 'a'\?"):
        check_columns(load_config({**cfg.model_dump(exclude={"base_dir"}), "clinical": {"covariates": ["A"]}}),
                      ["id", "y", "a"])


def test_table1_may_name_the_columns_the_run_creates():
    cfg = load_config({"name": "x", "table1": {"group": "her2_status", "variables": ["age", "deep_score", "cohort_split"]}})
    check_columns(cfg, ["patient_id", "her2_positive", "her2_status", "age", "center"])


def test_error_lists_every_bad_key_once():
    with pytest.raises(ConfigError) as info:
        load_config({"name": "x", "table1": {"grup": "a", "variabels": []}, "splits": {"by": "centre"}})
    msg = str(info.value)
    assert "table1.grup: unknown key; did you mean 'group'?" in msg
    assert "table1.variabels: unknown key; did you mean 'variables'?" in msg
    assert "splits.by: Input should be 'center' or 'random'; did you mean 'center'?" in msg
    assert "base_dir" not in msg


def test_yaml_keys_and_levels_read_as_yaml_1_2(tmp_path):
    """`on`, `no`, `yes` are text, not booleans (PyYAML's YAML 1.1 default made the key
    `subgroups: {on: test}` a boolean key and a level list [no, yes] booleans); boolean fields
    still take `true`, and `yes` through the schema."""
    path = tmp_path / "study.yaml"
    path.write_text("name: x\n"
                    "cohort: {source: demo, outcome: her2_status, subset: {menopause: [no, yes]}}\n"
                    "splits: {by: random}\n"
                    "clinical: {covariates: [age]}\n"
                    "table1: {by_cohort: yes}\n"
                    "validation: {scheme: split}\n"
                    "subgroups: {variables: [er], on: test}\n", encoding="utf-8")
    cfg = load_config(path)
    assert cfg.subgroups.on == "test"
    assert cfg.table1.by_cohort is True
    assert cfg.cohort.subset["menopause"] == ["no", "yes"]


def test_data_dictionary_levels_named_no_and_yes_stay_text(tmp_path):
    """A categorical variable whose levels are written no/yes keeps them as the text 'no'/'yes'
    (YAML 1.1 made them False/True, which str() turned into levels 'False'/'True')."""
    from her2stats.data.dictionary import load_dictionary

    path = tmp_path / "variables.yaml"
    path.write_text("version: 1\ntime_unit: days\nvariables:\n"
                    "  patient_id: {type: id, label: Patient ID, group: study, on_invalid: error}\n"
                    "  smoker: {type: categorical, levels: [no, yes], label: Smoker, group: clinical}\n",
                    encoding="utf-8")
    assert load_dictionary(path)["smoker"].levels == ("no", "yes")
