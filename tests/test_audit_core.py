"""audit_table end to end: inputs (dict, YAML, CSV), errors, the result object, HTML and CLI."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pandas as pd
import pytest
import yaml

from her2stats.audit import COLUMNS, AuditResult, audit_table
from her2stats.errors import InputError

LOCATION = {
    "seed": "001_2cf1bf6205c200af.txt",
    "table": "Table 1",
    "groups": [{"name": "Train", "n": 149}, {"name": "Test", "n": 48}],
    "rows": [{"kind": "categorical", "row": "Location", "p": "0.761",
              "levels": [{"level": "Left", "counts": [78, 27], "percents": ["52", "56"]},
                         {"level": "Right", "counts": [71, 21], "percents": ["48", "44"]}]}],
}


def test_dict_input_one_verdict_per_number():
    res = audit_table(LOCATION)
    f = res.to_frame()
    assert list(f.columns) == list(COLUMNS)
    # 4 percents + 2 column totals + 1 p
    assert len(f) == 7
    assert set(f["verdict"]) == {"reproduced"}
    p = f[f.quantity == "p"].iloc[0]
    assert p["recomputed"] == pytest.approx(0.7605224, abs=1e-6)
    assert p["method"].startswith("chi-square (Yates)")
    assert (p["seed"], p["source_table"], p["source_row"]) == ("001_2cf1bf6205c200af.txt", "Table 1", "Location")
    assert res.counts == {"reproduced": 7, "not reproduced": 0, "not derivable": 0}
    assert res.unexpected().empty


def test_yaml_and_csv_give_the_same_verdicts(tmp_path, test_data_dir):
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(LOCATION))
    a = audit_table(path).frame
    b = audit_table(test_data_dir / "audit" / "seed001_location.csv").frame
    cols = ["row", "level", "group", "quantity", "reported", "verdict", "method"]
    pd.testing.assert_frame_equal(a[cols], b[cols])
    assert audit_table(path).path == str(path)


def test_miscount_and_misprinted_percent_are_flagged():
    bad = yaml.safe_load(yaml.safe_dump(LOCATION))
    bad["rows"][0]["levels"][0]["counts"] = [77, 27]   # train column adds to 148, not 149
    bad["rows"][0]["levels"][1]["percents"] = ["48", "45"]
    f = audit_table(bad).frame
    total = f[(f.quantity == "total") & (f.group == "Train")].iloc[0]
    assert total["verdict"] == "not reproduced" and total["recomputed"] == 148
    pct = f[(f.quantity == "percent") & (f.level == "Right") & (f.group == "Test")].iloc[0]
    assert pct["verdict"] == "not reproduced" and pct["closest_value"] == pytest.approx(2100 / 48)


def test_expect_marks_documented_misprints():
    spec = yaml.safe_load(yaml.safe_dump(LOCATION))
    spec["rows"][0]["p"] = "0.500"
    res = audit_table(spec)
    assert list(res.unexpected()["quantity"]) == ["p"]
    spec["rows"][0]["expect"] = {"p": "not reproduced"}
    spec["rows"][0]["note"] = "misprint"
    res = audit_table(spec)
    assert res.unexpected().empty
    assert res.frame.loc[res.frame.quantity == "p", "expected"].item() == "not reproduced"
    assert res.frame.loc[res.frame.quantity == "p", "note"].item().endswith("misprint")


@pytest.mark.parametrize("mutate, words", [
    (lambda d: d["rows"][0]["levels"][0].update(counts=[78]), ["Location", "Left", "2 groups"]),
    (lambda d: d["rows"][0].update(p="p<0.05"), ["Location", "p", "printed number"]),
    (lambda d: d["rows"][0].update(kind="categorial"), ["kind"]),
    (lambda d: d.pop("seed"), ["no seed"]),
])
def test_schema_errors_name_the_place(mutate, words):
    spec = yaml.safe_load(yaml.safe_dump(LOCATION))
    mutate(spec)
    with pytest.raises(InputError) as exc:
        audit_table(spec)
    for w in words:
        assert w in str(exc.value)


def test_file_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        audit_table(tmp_path / "missing.yaml")
    p = tmp_path / "bad.yaml"
    p.write_text("rows: [unclosed")
    with pytest.raises(InputError, match="not valid YAML"):
        audit_table(p)
    p.write_text("- just a list")
    with pytest.raises(InputError, match="mapping"):
        audit_table(p)
    c = tmp_path / "bad.csv"
    c.write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="table, kind, row"):
        audit_table(c)
    with pytest.raises(InputError, match="path, a dict"):
        audit_table(42)


def test_group_count_mismatch_names_the_row():
    spec = {"seed": "x.txt", "table": "T", "rows": [
        {"kind": "mean_sd", "row": "Age", "means": ["50.1", "51.2"], "sds": ["9.0", "9.5"], "p": "0.3"}]}
    with pytest.raises(InputError, match="Age"):
        audit_table(spec)
    spec["rows"][0]["ns"] = [30, 40]
    f = audit_table(spec).frame
    # no test stated: the t-tests give ~0.6, but a rank test on 30 + 40 values could give 0.3
    p = f.loc[f.quantity == "p"].iloc[0]
    assert p["verdict"] == "not derivable" and "Mann-Whitney test on 30 + 40 values" in p["note"]
    spec["rows"][0]["test"] = "t-test"
    f = audit_table(spec).frame
    assert f.loc[f.quantity == "p", "verdict"].item() == "not reproduced"


def test_result_repr_summary_and_html(tmp_path):
    res = audit_table(LOCATION)
    assert isinstance(res, AuditResult)
    assert "7 reproduced" in repr(res)
    assert "<table" in res._repr_html_()
    s = res.summary()
    assert s[["reproduced", "not reproduced", "not derivable"]].sum().tolist() == [7, 0, 0]
    out = tmp_path / "audit.html"
    text = res.to_html(out)
    assert out.read_text(encoding="utf-8") == text
    assert text.startswith("<!DOCTYPE html>") and "Location" in text and "#d9f2d9" in text
    assert "<script" not in text and "http" not in text.split("<body>")[1]  # self-contained


def test_cli_writes_html_and_csv(tmp_path):
    from typer.testing import CliRunner

    from her2stats.audit.cli import app

    table = tmp_path / "t.yaml"
    table.write_text(yaml.safe_dump(LOCATION))
    runner = CliRunner()
    r = runner.invoke(app, [str(table), "--out", str(tmp_path / "r.html")])
    assert r.exit_code == 0, r.output
    assert "7 reproduced" in r.output and (tmp_path / "r.html").exists()
    r = runner.invoke(app, [str(table), "-o", str(tmp_path / "r.csv")])
    assert r.exit_code == 0
    assert len(pd.read_csv(tmp_path / "r.csv")) == 7
    r = runner.invoke(app, [str(tmp_path / "nope.yaml")])
    assert r.exit_code == 2 and "not found" in r.output
    r = runner.invoke(app, [str(table), "-o", str(tmp_path / "r.txt")])
    assert r.exit_code == 2
