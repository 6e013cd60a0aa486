"""audit_table end to end: inputs (dict, YAML, CSV), errors, the result object, HTML and CLI."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
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


# ----------------------------------------------------------------------------- issue 26: papers
TWICE = {
    "seed": "paper.txt",
    "tables": [
        {"table": "Table 2", "groups": [{"name": "A", "n": 120}, {"name": "B", "n": 110}],
         "rows": [{"kind": "mean_sd", "row": "Size", "key": "size", "means": ["2.7", "2.5"], "sds": ["1.1", "1.0"],
                   "p": "0.642"},
                  {"kind": "categorical", "row": "Nodes", "key": "nodes", "complement": True, "p": "0.20",
                   "levels": [{"level": "Present", "counts": [60, 47], "percents": ["50.0", "42.7"]}]}]},
        {"table": "Text: Results", "groups": [{"name": "A", "n": 120}, {"name": "B", "n": 110}],
         "rows": [{"kind": "mean_sd", "row": "Tumour size", "key": "size", "means": ["2.7", "2.5"], "sds": ["1.1", "1.0"],
                   "p": "0.03"},
                  {"kind": "p_value", "row": "Nodes p", "key": "nodes", "p": "0.2"}]},
    ],
}


def test_the_same_comparison_printed_twice_is_compared():
    res = audit_table(TWICE)
    c = res.consistency
    size = c[c["key"] == "size"].set_index(["quantity", "group"])
    assert size.loc[("p", ""), "verdict"] == "contradiction"
    assert size.loc[("mean", "a"), "verdict"] == "consistent"
    nodes = c[c["key"] == "nodes"]
    assert list(nodes["verdict"]) == ["consistent"]          # "0.20" and "0.2" agree
    assert list(res.contradictions()["quantity"]) == ["p"]
    assert "1 contradiction between tables" in repr(res)


def test_files_of_one_paper_are_compared_together(tmp_path):
    a, b = dict(TWICE, tables=[TWICE["tables"][0]]), dict(TWICE, tables=[TWICE["tables"][1]])
    pa, pb = tmp_path / "a.yaml", tmp_path / "b.yaml"
    pa.write_text(yaml.safe_dump(a, allow_unicode=True))
    pb.write_text(yaml.safe_dump(b, allow_unicode=True))
    assert audit_table(pa).contradictions().empty
    assert len(audit_table([pa, pb]).contradictions()) == 1
    from her2stats.audit import audit_papers

    other = dict(LOCATION, seed="other.txt")
    po = tmp_path / "o.yaml"
    po.write_text(yaml.safe_dump(other))
    papers = audit_papers([pa, pb, po])
    assert set(papers) == {"paper.txt", "other.txt"} and len(papers["paper.txt"].contradictions()) == 1


def test_adjusted_family_reproduced_exactly_when_every_raw_p_is_derivable():
    from her2stats.stats.htest import fisher_test, p_adjust

    tables = [[[12, 3], [5, 10]], [[8, 7], [9, 6]], [[14, 1], [6, 9]]]
    raw = [fisher_test(t).p_value for t in tables]
    adj = p_adjust(raw, "fdr_bh")
    rows = [{"kind": "categorical", "row": f"v{i}", "test": "Fisher exact", "p_adjust": "fdr_bh", "p": f"{adj[i]:.3f}",
             "levels": [{"level": "yes", "counts": t[0]}, {"level": "no", "counts": t[1]}]}
            for i, t in enumerate(tables)]
    for r, t in zip(rows, tables):
        r["ns"] = [t[0][0] + t[1][0], t[0][1] + t[1][1]]
    spec = {"seed": "x.txt", "table": "T", "groups": [{"name": "A", "n": 1}, {"name": "B", "n": 1}], "rows": rows}
    f = audit_table(spec).frame
    p = f[f["quantity"] == "p (adjusted)"]
    assert (p["verdict"] == "reproduced").all() and p["method"].str.contains("fdr_bh over a family of 3").all()
    np.testing.assert_allclose(p["recomputed"], adj, atol=1e-12)
    rows[0]["p"] = f"{raw[0] / 2:.3f}"   # below its raw p: no adjustment gives it
    f = audit_table(spec).frame
    assert f[f["quantity"] == "p (adjusted)"]["verdict"].tolist()[0] == "not reproduced"


def test_decimals_reads_dropped_trailing_zeros():
    row = {"kind": "ratio", "row": "Age", "measure": "OR", "estimate": "0.985", "ci": ["0.98", "0.991"], "p": "0"}
    f = audit_table({"seed": "x.txt", "table": "T", "decimals": 3, "rows": [row]}).frame.set_index("quantity")
    assert f.loc["p", "verdict"] == "reproduced" and "p < 0.0005" in f.loc["p", "note"]
    # without `decimals`, "0" takes the precision of the table's other p-values ...
    two = [row, dict(row, row="Sex", estimate="0.54", ci=["0.301", "0.969"], p="0.039")]
    f = audit_table({"seed": "x.txt", "table": "T", "rows": two}).frame
    assert "the table prints p to 3 decimals" in f[(f["row"] == "Age") & (f["quantity"] == "p")]["note"].item()
    # ... and alone it is not read as p < 0.5
    rows = [{"kind": "categorical", "row": "v", "p": "0", "levels": [{"level": "a", "counts": [5, 9]},
                                                                   {"level": "b", "counts": [9, 5]}]}]
    f = audit_table({"seed": "x.txt", "table": "T", "groups": [{"name": "A", "n": 14}, {"name": "B", "n": 14}],
                     "rows": rows}).frame
    assert f.loc[f["quantity"] == "p", "verdict"].item() == "not derivable"


def test_tables_without_numbers_are_listed_with_their_reason():
    spec = {"seed": "x.txt", "tables": [LOCATION | {"seed": "x.txt"},
                                        {"table": "Table S1", "skip": "software versions, no derived number"}]}
    spec["tables"][0] = {k: v for k, v in LOCATION.items() if k != "seed"}
    res = audit_table(spec)
    skipped = res.tables.set_index("table").loc["Table S1"]
    assert skipped["skip"].startswith("software") and skipped["numbers"] == 0
    with pytest.raises(InputError, match="no rows"):
        audit_table({"seed": "x.txt", "tables": [{"table": "T"}]})


def test_report_one_page_per_paper_worst_first_with_recomputations(tmp_path):
    from her2stats.audit import audit_papers
    from her2stats.audit.report import render_html, write_report

    bad = yaml.safe_load(yaml.safe_dump(LOCATION))
    bad["rows"][0]["p"] = "0.001"                            # far from 0.76: the worst finding
    bad["rows"][0]["levels"][1]["percents"] = ["48", "45"]     # off by one: a milder one
    p1, p2, p3 = tmp_path / "a.yaml", tmp_path / "b.yaml", tmp_path / "c.yaml"
    p1.write_text(yaml.safe_dump(bad))
    p2.write_text(yaml.safe_dump(TWICE, allow_unicode=True))
    p3.write_text(yaml.safe_dump(dict(LOCATION, seed="third.txt")))
    results = audit_papers([p1, p2, p3])
    res = results["001_2cf1bf6205c200af.txt"]
    findings = res.findings()
    assert list(findings["quantity"][:2]) == ["p", "percent"]
    page = render_html(res)
    body = page[page.index("Findings, worst first"):page.index("Verdicts per table")]
    assert body.index("printed:    0.001") < body.index("printed:    45")
    assert "closest:    chi-square (no Yates) = 0.6376" in page and "chi-square (Yates) 0.7605" in page  # recomputations shown
    out = tmp_path / "report"
    pages = write_report(results, out)
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in pages) and len(pages) == 4
    index = (out / "index.html").read_text(encoding="utf-8")
    assert index.count("<a href=") == 3
    assert "Contradictions between tables (1)" in (out / "paper.html").read_text(encoding="utf-8")
    # a second run replaces the folder whole; nothing temporary is left beside it
    write_report({"x": results["third.txt"]}, out)
    assert sorted(p.name for p in out.iterdir()) == ["index.html", "x.html"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.yaml", "b.yaml", "c.yaml", "report"]
    with pytest.raises(InputError, match="one page per paper"):
        write_report(results, tmp_path / "one.html")


def test_interrupted_report_leaves_the_previous_one(tmp_path, monkeypatch):
    from her2stats.audit import report

    res = audit_table(LOCATION)
    out = tmp_path / "r.html"
    res.to_html(out)
    before = out.read_text(encoding="utf-8")

    def boom(_):
        raise RuntimeError("interrupted")
    monkeypatch.setattr(report, "render_html", boom)
    with pytest.raises(RuntimeError):
        res.to_html(out)
    assert out.read_text(encoding="utf-8") == before and [p.name for p in tmp_path.iterdir()] == ["r.html"]
    monkeypatch.setattr(report.os, "replace", lambda *a: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError):
        report.write_atomic(out, "half")
    assert out.read_text(encoding="utf-8") == before and [p.name for p in tmp_path.iterdir()] == ["r.html"]


def test_cli_several_files_folder_report_and_text_article(tmp_path, test_data_dir):
    from typer.testing import CliRunner

    from her2stats.audit.cli import app

    runner = CliRunner()
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(yaml.safe_dump(LOCATION))
    b.write_text(yaml.safe_dump(TWICE, allow_unicode=True))
    r = runner.invoke(app, [str(a), str(b), "--out", str(tmp_path / "rep")])
    assert r.exit_code == 0, r.output
    assert "1 contradiction between tables" in r.output and (tmp_path / "rep" / "index.html").exists()
    r = runner.invoke(app, [str(a), str(b), "-o", str(tmp_path / "all.csv")])
    assert r.exit_code == 0 and len(pd.read_csv(tmp_path / "all.csv")) > 7
    # a plain-text article: tables found, an encoding proposed, nothing audited until confirmed
    article = tmp_path / "article.txt"
    article.write_text((test_data_dir / "audit" / "synthetic_article.txt").read_text(encoding="utf-8"), encoding="utf-8")
    r = runner.invoke(app, [str(article)], input="n\n")
    assert r.exit_code == 0, r.output
    draft = tmp_path / "article.audit.yaml"
    assert "5 table(s) found" in r.output and draft.exists() and "her2stats audit" in r.output
    assert "reproduced" not in r.output
    r = runner.invoke(app, [str(article), "--yes", "--proposal", str(tmp_path / "d.yaml"), "-o", str(tmp_path / "a.html")])
    assert r.exit_code == 0, r.output
    assert "0 not reproduced" in r.output and (tmp_path / "a.html").exists()
    r = runner.invoke(app, [str(tmp_path / "missing.txt")])
    assert r.exit_code == 2 and "not found" in r.output
    empty = tmp_path / "empty.txt"
    empty.write_text("no tables here\n")
    r = runner.invoke(app, [str(empty)])
    assert r.exit_code == 2 and "no table caption" in r.output


@pytest.mark.parametrize("a, b, same", [
    ("0.03", "0.030", True), ("0.642", "0.03", False), ("<0.001", "0.0004", True), ("<0.001", "0.001", True),
    ("<0.001", "0.002", False), ("0.2", "0.20", True), ("0.25", "0.2", True), ("53.9", "56.1", False),
    (">0.05", "0.05", True), (">0.05", "0.04", False), (">0.05", "0.051", True),
])
def test_two_printings_agree_when_some_value_prints_as_both(a, b, same):
    from her2stats.audit.core import _agree
    from her2stats.audit.schema import parse_printed

    assert _agree(parse_printed(a), parse_printed(b)) is same
    assert _agree(parse_printed(b), parse_printed(a)) is same
    assert _agree(5, 5) and not _agree(5, 6)
