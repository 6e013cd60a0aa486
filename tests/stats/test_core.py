"""The statistics core (trust issue items 2, 5, 6): one event rule, one pairing rule, numbers that are
numbers, every dropped row announced -- and the wrong numbers of the issue, now right on both engines."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import her2stats as h2
from her2stats.errors import DroppedRowsWarning, InputError
from her2stats.stats import _core


# --------------------------------------------------------------------------- the event rule
@pytest.mark.parametrize("y,event,codes,ev", [
    ([0, 1, 1, None], None, [0, 1, 1, np.nan], 1),
    (np.array([True, False]), None, [1, 0], True),
    (pd.Series([1, 0, None], dtype="Int64"), None, [1, 0, np.nan], 1),
    (pd.Categorical(["neg", "pos"], categories=["neg", "pos"], ordered=True), None, [0, 1], "pos"),
    (pd.Categorical(["pos", "neg"], categories=["pos", "neg"], ordered=True), None, [0, 1], "neg"),
    (pd.Categorical([0, 1, 0]), None, [0, 1, 0], 1),
    (["HER2+", "HER2-", "HER2+"], "HER2+", [1, 0, 1], "HER2+"),
    ([1, 2, 2], 2, [0, 1, 1], 2),
    ([0, 1, 1], 0, [1, 0, 0], 0),
])
def test_event_rule(y, event, codes, ev):
    out = _core.binary_outcome(y, "y", event=event)
    np.testing.assert_array_equal(out.codes, np.asarray(codes, dtype=float))
    assert out.event == ev


def test_dictionary_variable_names_its_positive_level():
    y = pd.Series(["Positive", "negative", " pos", "NEG", None], name="her2_status")
    out = _core.binary_outcome(y, "her2_status")
    np.testing.assert_array_equal(out.codes, [1, 0, 1, 0, np.nan])
    assert "dictionary" in out.rule
    # the same labels in a column the dictionary does not know are never guessed
    with pytest.raises(InputError, match=r"\['Positive', 'negative'\].*event="):
        _core.binary_outcome(y[:2].rename("her2"), "her2")


@pytest.mark.parametrize("y,match", [
    (["HER2+", "HER2-"], r"labels \['HER2\+', 'HER2-'\].*never guessed.*event="),
    (pd.Categorical(["HER2+", "HER2-"]), r"unordered Categorical.*event="),
    ([1, 2, 1], r"coded 0/1.*\[1, 2\].*event=2"),
    ([0, 1, 2], "exactly two values"),
    (["a", "b", "c"], "exactly two values"),
    (["0", "1"], r"labels \['0', '1'\]"),
])
def test_labels_without_event_are_refused(y, match):
    with pytest.raises(InputError, match=match):
        _core.binary_outcome(y, "y")


def test_event_must_be_a_value():
    with pytest.raises(InputError, match=r"event='HER2 pos' is not a value of y.*'HER2\+'"):
        _core.binary_outcome(["HER2+", "HER2-"], "y", event="HER2 pos")


# --------------------------------------------------------------------------- the issue's wrong numbers
def _her2_data(n=400, seed=2):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(-0.3 + np.log(2.8) * x)))).astype(int)
    return pd.DataFrame({"y01": y, "lab": np.where(y == 1, "HER2+", "HER2-"),
                         "pn": np.where(y == 1, "Positive", "negative"), "x": x,
                         "p": 1 / (1 + np.exp(-(-0.3 + np.log(2.8) * x)))})


@pytest.mark.parametrize("engine", ["python", pytest.param("r", marks=pytest.mark.r)])
def test_labelled_outcome_with_event_equals_0_1_coding(engine):
    """HER2+/HER2- made HER2- the event in fit_lrm, logistic_table and hosmer_lemeshow (OR 0.36
    instead of 2.8). With event= every function gives exactly the 0/1 answer; without it, an error."""
    d = _her2_data()
    ref = h2.fit_lrm(d, "y01", ["x"], engine=engine)
    lab = h2.fit_lrm(d, "lab", ["x"], event="HER2+", engine=engine)
    assert np.exp(ref.coefficients["x"]) == pytest.approx(np.exp(lab.coefficients["x"]), rel=1e-12)
    assert 2.0 < np.exp(lab.coefficients["x"]) < 4.0
    assert lab.outcome_levels == ("HER2-", "HER2+")
    flipped = h2.fit_lrm(d, "lab", ["x"], event="HER2-", engine=engine)
    assert flipped.coefficients["x"] == pytest.approx(-ref.coefficients["x"], rel=1e-9)

    t_ref = h2.logistic_table(d, "y01", ["x"], engine=engine).multivariable.set_index("name")["or"]
    t_lab = h2.logistic_table(d, "lab", ["x"], event="HER2+", engine=engine).multivariable.set_index("name")["or"]
    assert t_lab.to_numpy() == pytest.approx(t_ref.to_numpy(), rel=1e-12)

    hl_ref = h2.hosmer_lemeshow(d["y01"], d["p"], engine=engine)
    hl_lab = h2.hosmer_lemeshow(d["lab"], d["p"], event="HER2+", engine=engine)
    assert hl_lab.statistic == pytest.approx(hl_ref.statistic, rel=1e-12)
    vp_ref, vp_lab = h2.val_prob(d["y01"], d["p"], engine=engine), h2.val_prob(d["lab"], d["p"], event="HER2+", engine=engine)
    assert vp_lab.slope == pytest.approx(vp_ref.slope, rel=1e-12)
    a_ref, a_lab = h2.roc_auc(d["y01"], d["x"], engine=engine), h2.roc_auc(d["lab"], d["x"], event="HER2+", engine=engine)
    assert a_lab.auc == pytest.approx(a_ref.auc, abs=1e-15) and a_lab.direction == "<"
    dc_ref = h2.decision_curve(d["y01"], {"m": d["p"]}, engine=engine).table["net_benefit"]
    dc_lab = h2.decision_curve(d["lab"], {"m": d["p"]}, event="HER2+", engine=engine).table["net_benefit"]
    np.testing.assert_allclose(dc_lab, dc_ref, rtol=0, atol=1e-15)
    for call in (lambda: h2.fit_lrm(d, "lab", ["x"], engine=engine),
                 lambda: h2.fit_lrm(d, "pn", ["x"], engine=engine),
                 lambda: h2.logistic_table(d, "lab", ["x"], engine=engine),
                 lambda: h2.hosmer_lemeshow(d["lab"], d["p"], engine=engine)):
        with pytest.raises(InputError, match="event="):
            call()


def test_data_dictionary_outcome_needs_no_event():
    d = _her2_data().assign(her2_status=lambda t: t["pn"])
    a = h2.fit_lrm(d, "her2_status", ["x"], engine="python")
    b = h2.fit_lrm(d, "y01", ["x"], engine="python")
    assert a.coefficients["x"] == pytest.approx(b.coefficients["x"], rel=1e-12)


def test_selection_uses_the_same_rule():
    d = _her2_data()
    X = d[["x", "p"]]
    with pytest.raises(InputError, match="event="):
        h2.UnivariateFilter().fit(X, d["lab"])
    a = h2.UnivariateFilter(event="HER2+").fit(X, d["lab"])
    b = h2.UnivariateFilter().fit(X, d["y01"])
    np.testing.assert_allclose(a.pvalues_, b.pvalues_, rtol=1e-12)


@pytest.mark.parametrize("engine", ["python", pytest.param("r", marks=pytest.mark.r)])
def test_weighted_kappa_takes_its_order_from_levels(engine):
    """zero/low/2+/3+ sorted as text is 2+, 3+, low, zero: weighted kappa 0.536 instead of 0.739."""
    order = ["zero", "low", "2+", "3+"]
    rng = np.random.default_rng(4)
    k1 = rng.integers(0, 4, 200)
    k2 = np.clip(k1 + rng.choice([-1, 0, 0, 0, 1], 200), 0, 3)
    r1, r2 = np.array(order)[k1], np.array(order)[k2]
    ref = h2.kappa(k1, k2, weights="quadratic", engine=engine).kappa
    with pytest.raises(InputError, match="levels="):
        h2.kappa(r1, r2, weights="quadratic", engine=engine)
    assert h2.kappa(r1, r2, weights="quadratic", levels=order, engine=engine).kappa == pytest.approx(ref, abs=1e-12)
    ordered = pd.Categorical(r1, categories=order, ordered=True)
    assert h2.kappa(ordered, r2, weights="quadratic", engine=engine).kappa == pytest.approx(ref, abs=1e-12)
    alphabetical = h2.kappa(r1, r2, weights="quadratic", levels=sorted(order), engine=engine).kappa
    assert abs(alphabetical - ref) > 0.05        # what sorting would have reported


# --------------------------------------------------------------------------- pairing
@pytest.mark.parametrize("engine", ["python", pytest.param("r", marks=pytest.mark.r)])
def test_series_are_paired_by_index_never_by_position(engine):
    d = _her2_data(200)
    y = d["y01"]
    s = d["x"].sample(frac=1.0, random_state=3)        # same labels, another order
    ref = h2.roc_auc(y.to_numpy(), d["x"].to_numpy(), engine=engine).auc
    positional = h2.roc_auc(y.to_numpy(), s.to_numpy(), engine=engine).auc
    assert abs(positional - ref) > 0.1                 # what pairing by position would give
    assert h2.roc_auc(y, s, engine=engine).auc == pytest.approx(ref, abs=1e-15)
    shifted = pd.Series(d["x"].to_numpy(), index=d.index + 1)
    with pytest.raises(InputError, match="different indexes"):
        h2.roc_auc(y, shifted, engine=engine)
    assert h2.val_prob(y, d["p"].sample(frac=1.0, random_state=1), engine=engine).C == pytest.approx(
        h2.val_prob(y, d["p"], engine=engine).C, abs=1e-12)


def test_align_rules():
    a = pd.Series([1, 2, 3], index=["a", "b", "c"])
    b = pd.Series([30, 10, 20], index=["c", "a", "b"])
    assert _core.align(("a", a), ("b", b))[1].tolist() == [10, 20, 30]
    assert _core.align(("a", a), ("b", np.array([7, 8, 9])))[1].tolist() == [7, 8, 9]   # plain arrays: by position
    with pytest.raises(InputError, match="duplicated"):
        _core.align(("a", a.set_axis(["a", "b", "b"])), ("b", pd.Series([1, 2, 3], index=["b", "a", "b"])))
    with pytest.raises(InputError, match=r"labels \['c'\] only in a"):
        _core.align(("a", a), ("b", pd.Series([1, 2, 3], index=["a", "a", "b"])))
    with pytest.raises(InputError, match="b has 2 values but a has 3"):
        _core.align(("a", a), ("b", [1, 2]))


# --------------------------------------------------------------------------- numbers
def test_stray_string_in_numeric_column_is_named():
    """One stray string turned age into a 51-level categorical with Fisher p = 0.0009."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"g": np.tile([0, 1], 26), "age": list(rng.integers(30, 80, 51)) + ["unknown"]})
    with pytest.raises(InputError, match=r"'age'.*'unknown'.*rows \[51\].*categorical"):
        h2.table_one(df, "g", engine="python")
    t = h2.table_one(df.assign(age=pd.to_numeric(df["age"], errors="coerce")), "g", engine="python")
    assert t.tests.set_index("variable").loc["age", "kind"] == "continuous"
    # declared categorical: the user's choice, not a guess
    h2.table_one(df, "g", categorical=["age"], engine="python")
    # category codes are not mistaken for numbers with strays
    assert _core.numeric_strays(pd.Series(["0", "1+", "2+", "3+"] * 5)) == []
    assert _core.numeric_strays(pd.Series(["1", "2", "3", "x"] * 5)) == []


def test_as_numeric_names_offending_values():
    with pytest.raises(InputError, match=r"score must be numeric.*\['n/a', '<1'\].*rows \[1, 3\]"):
        _core.as_numeric(pd.Series([0.1, "n/a", 0.3, "<1"]), "score")
    np.testing.assert_array_equal(_core.as_numeric(pd.Series(["0.5", None, True]), "x"), [0.5, np.nan, 1.0])


@pytest.mark.parametrize("engine", ["python", pytest.param("r", marks=pytest.mark.r)])
def test_nan_threshold_is_an_error_not_all_negative(engine):
    d = _her2_data(100)
    with pytest.raises(InputError, match="threshold must be a finite number"):
        h2.diagnostic_metrics(d["y01"], d["x"], threshold=float("nan"), engine=engine)


@pytest.mark.parametrize("engine", ["python", pytest.param("r", marks=pytest.mark.r)])
def test_degenerate_inputs_same_answer_on_both_engines(engine):
    d = _her2_data(100)
    with pytest.raises(InputError, match="observations for g=10"):
        h2.hosmer_lemeshow(d["y01"][:8], d["p"][:8], engine=engine)
    with pytest.raises(InputError, match="constant"):
        h2.hosmer_lemeshow(d["y01"], np.full(100, 0.3), engine=engine)
    lung = pd.read_csv("tests/data/lung.csv").assign(dead=lambda t: t.status - 1)
    with pytest.raises(InputError, match="constant"):          # was C = 0.5 with CI [0.5, 0.5]
        h2.concordance_index(lung.time, lung.dead, np.ones(len(lung)), engine=engine)
    with pytest.raises(InputError, match="same rating"):       # was kappa 0 with CI [0, 0]
        h2.kappa([1] * 10, [1, 2] * 5, engine=engine)
    with pytest.warns(UserWarning, match="'c' take"):           # no test, p-value empty, on both engines
        t = h2.table_one(pd.DataFrame({"g": [0, 1] * 10, "c": 1.0}), "g", engine=engine)
    assert np.isnan(t.tests["p_value"].iloc[0])


# --------------------------------------------------------------------------- dropped rows
def test_dropped_rows_announcement():
    with pytest.warns(DroppedRowsWarning, match=r"^f: dropped 3 of 10 rows with missing values in 'a' \(2\), 'b' \(1\)$"):
        _core.announce_dropped("f", 3, 10, {"a": 2, "b": 1, "c": 0})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _core.announce_dropped("f", 0, 10, ["a"])
    assert issubclass(DroppedRowsWarning, UserWarning) and h2.DroppedRowsWarning is DroppedRowsWarning


def test_every_dropping_function_announces():
    d = _her2_data(60)
    d.loc[[1, 2], "x"] = np.nan
    calls = {
        "fit_lrm": lambda: h2.fit_lrm(d, "y01", ["x"], engine="python"),
        "logistic_table": lambda: h2.logistic_table(d, "y01", ["x"], engine="python"),
        "table_one": lambda: h2.table_one(d[["y01", "x"]], "y01", engine="python"),
        "roc_auc": lambda: h2.roc_auc(d["y01"], d["x"], na="drop", engine="python"),
        "val_prob": lambda: h2.val_prob(d["y01"], d["p"].where(d["x"].notna()), engine="python"),
        "kappa": lambda: h2.kappa(np.where(d["x"].isna(), None, d["y01"]), d["y01"] * (d.index % 3 > 0),
                                  engine="python"),
    }
    for name, call in calls.items():
        with pytest.warns(DroppedRowsWarning, match=f"{name}: .*2"):
            call()


def test_multicentre_reclassification_and_mrmc_use_the_core_outcome_rule():
    """Issue 16: the outcome coercion of these modules is the core's: an unordered two-category
    Categorical names no event (refused, asking for event=); event= gives the 0/1 answer."""
    import her2stats as h2
    from her2stats.stats.mrmc import binormal_auc

    rng = np.random.default_rng(5)
    n = 120
    y = (rng.random(n) < 0.4).astype(int)
    p = np.clip(0.3 + 0.3 * y + rng.normal(0, 0.15, n), 0.02, 0.98)
    p2 = np.clip(p + rng.normal(0, 0.1, n), 0.02, 0.98)
    lab = pd.Categorical(np.where(y == 1, "pos", "neg"))  # unordered: categories just sorted
    centre = np.repeat(["a", "b", "c"], n // 3)
    for call in (lambda **k: h2.validate_by_centre(lab, p, centre, n_boot=20, engine="python", **k).pooled,
                 lambda **k: h2.reclassification(lab, p2, p, engine="python", **k).to_frame(),
                 lambda **k: binormal_auc(lab, np.round(p * 5), **k)):
        with pytest.raises(InputError, match="event="):
            call()
    ref = h2.reclassification(y, p2, p, engine="python").to_frame()
    pd.testing.assert_frame_equal(h2.reclassification(lab, p2, p, engine="python", event="pos").to_frame(), ref)
    assert binormal_auc(lab, np.round(p * 5), event="pos") == binormal_auc(y, np.round(p * 5))
    a = h2.validate_by_centre(lab, p, centre, n_boot=20, engine="python", event="pos").pooled
    pd.testing.assert_frame_equal(a, h2.validate_by_centre(y, p, centre, n_boot=20, engine="python").pooled)
