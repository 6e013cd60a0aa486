"""The design layer (her2stats/stats/design.py): formula parser, terms, design matrices, and
formula fits of fit_lrm / fit_ordinal against rms::lrm / rms::orm on the same formula.

Data: MASS::birthwt (tests/data/birthwt.csv), MASS::housing (tests/data/mass_housing.csv),
the package's synthetic demo cohort (her2stats.load_demo, seeded). R receives generated names
and a design spec (r/design.R), never the formula text.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from her2stats.errors import InputError
from her2stats.stats.design import (build_design, design_matrix, parse_formula, rcs_basis, r_design)
from her2stats.stats.models import fit_lrm
from her2stats.stats.ordinal import fit_ordinal


@pytest.fixture(scope="module")
def bwt2(bwt, test_data_dir):
    d = bwt.copy()
    d["ftvn"] = pd.read_csv(test_data_dir / "birthwt.csv").ftv.clip(upper=2)  # 0, 1, 2+ as numbers
    return d


@pytest.fixture(scope="module")
def housing(test_data_dir):
    h = pd.read_csv(test_data_dir / "mass_housing.csv")
    h = h.loc[h.index.repeat(h["Freq"])].reset_index(drop=True)
    for col, levels in {"Infl": ["Low", "Medium", "High"], "Type": ["Tower", "Apartment", "Atrium", "Terrace"],
                        "Cont": ["Low", "High"]}.items():
        h[col] = pd.Categorical(h[col], categories=levels)
    return h


@pytest.fixture(scope="module")
def demo_train():
    from her2stats import load_demo

    d = load_demo()
    return d[d["split"] == "train"].reset_index(drop=True)


# --------------------------------------------------------------------------- parser
def test_parser_expands_products_in_r_term_order():
    f = parse_formula("her2_positive ~ rcs(age, 4) + er * grade + ki67")
    assert f.response == "her2_positive"
    assert f.terms == (("age",), ("er",), ("grade",), ("ki67",), ("er", "grade"))
    assert f.variables["age"].kind == "rcs" and f.variables["age"].arg == 4
    # R's terms(): main effects, then two-way (in expansion order), then three-way
    g = parse_formula("y ~ a * b * c")
    assert g.terms == (("a",), ("b",), ("c",), ("a", "b"), ("a", "c"), ("b", "c"), ("a", "b", "c"))
    assert parse_formula("y ~ (a + b) * c").terms == (("a",), ("b",), ("c",), ("a", "c"), ("b", "c"))
    # variables inside an interaction follow their first appearance in the formula, as R's
    assert parse_formula("y ~ b + a + a:b").terms[-1] == ("b", "a")
    assert parse_formula("y ~ a + b + a:b + b:a").terms == (("a",), ("b",), ("a", "b"))


def test_parser_functions_backticks_and_survival():
    f = parse_formula("y ~ rcs(`ER status`, c(1, 2.5, 4)) + pol(x, 2) + catg(n) + rcs(z)")
    assert f.variables["ER status"].arg == (1.0, 2.5, 4.0)
    assert f.variables["x"].kind == "pol" and f.variables["x"].arg == 2
    assert f.variables["n"].kind == "catg"
    assert f.variables["z"].arg == 5  # rms's default number of knots
    s = parse_formula("Surv(time, event) ~ age + strat(centre)", survival=True)
    assert s.response == ("time", "event") and s.strata == ("centre",) and s.terms == (("age",),)
    assert s.covariates == ("age",)
    with pytest.raises(InputError, match="unexpected text"):  # two names side by side are not one
        parse_formula("y ~ `a``b` + c")


@pytest.mark.parametrize("text,match", [
    ("y ~ a:b", "needs the lower-order term a"),
    ("y ~ log(x)", "function 'log' is not supported"),
    ("y ~ a - b", "removing terms"),
    ("y ~ rcs(a, 4) + a:b + b", "enters as rcs\\(a, 4\\) and as a"),
    ("y ~ strat(c) + a", "strat\\(\\) stratifies a Cox model"),
    ('y ~ "ER status"', "backticks"),
    ("y ~ 1 + a", "a number is not a term"),
    ("y ~ a +", "expected a column name at the end"),
    ("y a", "has no '~'"),
    ("y ~ rcs(a, 9)", "3 to 7"),
    ("y ~ pol(a)", "needs a degree"),
    ("y ~ y + a", "both the outcome and a covariate"),
    ("Surv(t, e) ~ a", "Cox model"),
    ("y ~ rcs(a, c(3, 2, 1))", "increasing order"),
    ("y ~ a; system('x')", "unexpected character ';'"),
])
def test_parser_refuses_with_a_clear_message(text, match):
    with pytest.raises(InputError, match=match):
        parse_formula(text)


def test_parser_cox_rules():
    with pytest.raises(InputError, match="written Surv"):
        parse_formula("t ~ a", survival=True)
    with pytest.raises(InputError, match="cannot enter an interaction"):
        parse_formula("Surv(t, e) ~ a * strat(c)", survival=True)


# --------------------------------------------------------------------------- design matrices
def test_interaction_columns_are_products_first_factor_fastest(bwt2):
    f = parse_formula("low ~ rcs(lwt, 3) * race + pol(age, 2) + catg(ftvn)")
    terms = build_design(bwt2, f)
    X = design_matrix(bwt2, terms)
    names = [c for t in terms for c in t.columns]
    assert names == ["lwt", "lwt'", "race=black", "race=other", "age", "age^2", "ftvn=1", "ftvn=2",
                     "lwt * race=black", "lwt' * race=black", "lwt * race=other", "lwt' * race=other"]
    S = rcs_basis(bwt2["lwt"].to_numpy(float), terms[0].knots)
    black = (bwt2["race"] == "black").to_numpy(float)
    other = (bwt2["race"] == "other").to_numpy(float)
    expected = np.column_stack([S, black, other, bwt2["age"], bwt2["age"] ** 2,
                                bwt2["ftvn"] == 1, bwt2["ftvn"] == 2,
                                S[:, 0] * black, S[:, 1] * black, S[:, 0] * other, S[:, 1] * other]).astype(float)
    assert np.array_equal(X, expected)
    # the design applies to new rows (the knots and levels stay those of the fit)
    assert np.array_equal(design_matrix(bwt2.iloc[:7], terms), expected[:7])


def test_keyword_and_formula_interfaces_give_the_same_fit(bwt2):
    a = fit_lrm(bwt2, "low", ["age", "lwt", "race", "smoke"], rcs={"lwt": 4}, engine="python")
    b = fit_lrm(bwt2, formula="low ~ age + rcs(lwt, 4) + race + smoke", engine="python")
    assert list(a.coefficients.index) == list(b.coefficients.index)
    assert np.array_equal(a.coefficients.to_numpy(), b.coefficients.to_numpy())
    assert b.design_formula is not None and a.design_formula is None


def test_formula_fit_refuses_mixed_arguments_and_unknown_columns(bwt2):
    with pytest.raises(InputError, match="not both"):
        fit_lrm(bwt2, "low", formula="low ~ age")
    with pytest.raises(InputError, match="not in the data"):
        fit_lrm(bwt2, formula="low ~ age * nonexistent")
    with pytest.raises(InputError, match="outcome= and covariates="):
        fit_lrm(bwt2)
    with pytest.raises(InputError, match="strat"):
        fit_lrm(bwt2, formula="low ~ age + strat(race)")


def test_hostile_column_names_through_a_formula(bwt2):
    d = bwt2.rename(columns={"lwt": "weight `lb`", "race": "race\n(self-reported)", "smoke": "Intercept2"})
    m = fit_lrm(d, formula="low ~ rcs(`weight \\`lb\\``, 3) * `race\n(self-reported)` + Intercept2",
                engine="python")
    ref = fit_lrm(bwt2, formula="low ~ rcs(lwt, 3) * race + smoke", engine="python")
    assert np.array_equal(m.coefficients.to_numpy(), ref.coefficients.to_numpy())
    assert "weight `lb` * race\n(self-reported)=black" in m.coefficients.index


# --------------------------------------------------------------------------- R parity
LRM_FORMULAS = [
    "low ~ rcs(lwt, 4) + age * race + smoke + ptd",
    "low ~ rcs(lwt, 4) * smoke + pol(age, 2) + catg(ftvn) + ht",
    "low ~ rcs(lwt, 3) * rcs(age, 3) + race",
    "low ~ (age + lwt) * smoke + ui",
]


@pytest.mark.r
@pytest.mark.parametrize("formula", LRM_FORMULAS)
def test_lrm_formula_matches_rms(bwt2, formula):
    """Both engines against rms::lrm on the same formula, with rms placing the spline knots itself.
    Coefficients to 1e-8 (measured <= 6e-10 with lrm.fit's eps tightened to 1e-10; rms's default
    eps = 0.025 stops up to 3e-6 short of the maximum), variance to 1e-6 relative."""
    from her2stats import r_bridge

    py = fit_lrm(bwt2, formula=formula, engine="python")
    r = fit_lrm(bwt2, formula=formula, engine="r")
    assert list(py.coefficients.index) == list(r.coefficients.index)
    assert np.allclose(py.coefficients, r.coefficients, atol=1e-8, rtol=0)
    assert np.allclose(py.vcov, r.vcov, atol=1e-9, rtol=1e-6)
    # rms's own knots (Hmisc default quantiles) give the same fit: the spec sends the number of knots
    rdata, spec, expected = r_design(py.data, py.terms, py.y.astype(int), rms_knots=True)
    info = r_bridge.call("h2s_lrm_info", r_bridge.call("h2s_lrm_fit_spec", rdata, spec, convert=False))
    assert list(info["names"]) == ["Intercept", *expected]
    assert np.allclose(np.asarray(info["coefficients"], float), py.coefficients, atol=1e-8, rtol=0)


@pytest.mark.r
def test_lrm_formula_on_demo_matches_rms(demo_train):
    f = "her2_positive ~ rcs(age, 4) + er * grade + ki67"
    py = fit_lrm(demo_train, formula=f, engine="python")
    r = fit_lrm(demo_train, formula=f, engine="r")
    assert "er=positive * grade=3" in py.coefficients.index
    assert np.allclose(py.coefficients, r.coefficients, atol=1e-6, rtol=0)


@pytest.mark.r
@pytest.mark.parametrize("which", ["housing", "demo"])
def test_orm_formula_matches_rms(which, housing, demo_train):
    """fit_ordinal(formula=) against rms::orm (eps 1e-12): coefficients, intercepts, variance and
    predicted class probabilities to 1e-9 (measured ~1e-12)."""
    from her2stats.stats.ordinal import r_predict_proba

    if which == "housing":
        data, f, lv = housing, "Sat ~ Infl * Cont + Type", ["Low", "Medium", "High"]
    else:
        data, f, lv = demo_train, "her2_class ~ rcs(age, 4) + er * grade + ki67", None
    py = fit_ordinal(data, formula=f, levels=lv, engine="python")
    r = fit_ordinal(data, formula=f, levels=lv, engine="r")
    assert list(py.coefficients.index) == list(r.coefficients.index)
    assert np.allclose(py.coefficients, r.coefficients, atol=1e-9, rtol=0)
    assert np.allclose(py.intercepts, r.intercepts, atol=1e-9, rtol=0)
    assert np.allclose(py.vcov, r.vcov, atol=1e-9, rtol=0)
    new = data.iloc[:25]
    assert np.allclose(r_predict_proba(r, new), py.predict_proba(new).to_numpy(), atol=1e-9, rtol=0)


# --------------------------------------------------------------------------- Cox
@pytest.fixture(scope="module")
def lung(test_data_dir):
    d = pd.read_csv(test_data_dir / "lung.csv")
    d["dead"] = (d["status"] == 2).astype(int)
    d["sexf"] = pd.Categorical(np.where(d["sex"] == 2, "female", "male"), categories=["male", "female"])
    return d


CPH_FORMULAS = [
    "Surv(time, dead) ~ rcs(age, 4) + sexf * ph.karno",
    "Surv(time, dead) ~ pol(age, 2) + catg(ph.ecog) + sexf",
    "Surv(time, dead) ~ rcs(age, 3) * sexf + meal.cal",
]


@pytest.mark.r
@pytest.mark.parametrize("ties", ["efron", "breslow"])
@pytest.mark.parametrize("formula", CPH_FORMULAS)
def test_cph_formula_matches_rms(lung, formula, ties):
    """fit_cph(formula=) against rms::cph (eps 1e-11) on survival::lung: coefficients and variance to
    1e-7 (measured <= 2.2e-9), log partial likelihood to 1e-9; rms's own knots give the same fit."""
    import warnings

    from her2stats import r_bridge
    from her2stats.stats.cox import fit_cph

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rows with missing ph.karno / meal.cal are dropped and announced
        py = fit_cph(lung, formula=formula, ties=ties, engine="python")
        r = fit_cph(lung, formula=formula, ties=ties, engine="r")
    assert list(py.params.index) == list(r.params.index)
    assert np.allclose(py.params, r.params, atol=1e-7, rtol=0)
    assert np.allclose(py.vcov, r.vcov, atol=1e-7, rtol=0)
    assert py.loglik == pytest.approx(r.loglik, abs=1e-9)
    terms = py.design.model_terms
    rdata, spec, expected = r_design(py.data, terms, rms_knots=True,
                                     extra={"h2s_time": py.data["time"].to_numpy(float),
                                            "h2s_event": py.data["dead"].to_numpy(int)})
    fit = r_bridge.call("h2s_cph_fit_spec", rdata, spec, [], ties, convert=False)
    assert list(r_bridge.call("h2s_cph_names", fit)) == expected
    coef = np.asarray(r_bridge.call("h2s_cph_summary", fit)["coef"], float)
    assert np.allclose(coef, py.params, atol=1e-7, rtol=0)
    # predictions use the same design
    assert np.allclose(py.linear_predictor(lung.iloc[:5].dropna(subset=["ph.karno", "meal.cal"])),
                       r.linear_predictor(lung.iloc[:5].dropna(subset=["ph.karno", "meal.cal"])), atol=1e-6)


def test_cph_plain_formula_is_the_keyword_fit(lung):
    from her2stats.stats.cox import fit_cph

    a = fit_cph(lung, "time", "dead", ["age", "sexf"], engine="python")
    b = fit_cph(lung, formula="Surv(time, dead) ~ age + sexf", engine="python")
    assert np.array_equal(a.params.to_numpy(), b.params.to_numpy())
    assert list(a.params.index) == list(b.params.index)


def test_cph_formula_refusals(lung):
    from her2stats.stats.cox import fit_cph

    # strat() of a formula of plain columns is fit_cph(strata=): the stratified partial likelihood
    with pytest.warns(UserWarning):
        m = fit_cph(lung, formula="Surv(time, dead) ~ age + ph.ecog + strat(sexf)", engine="python")
        k = fit_cph(lung, "time", "dead", ["age", "ph.ecog"], strata=["sexf"], engine="python")
    assert m.strata == ("sexf",) and np.allclose(m.params, k.params, atol=0, rtol=0)
    with pytest.raises(InputError, match=r"strat\(sexf\) with splines"):
        fit_cph(lung, formula="Surv(time, dead) ~ rcs(age, 4) + strat(sexf)")
    with pytest.raises(InputError, match="stratify by strat"):
        fit_cph(lung, formula="Surv(time, dead) ~ age", strata=["sexf"])
    with pytest.raises(InputError, match="Surv"):
        fit_cph(lung, formula="time ~ age")
    with pytest.raises(InputError, match="not both"):
        fit_cph(lung, "time", formula="Surv(time, dead) ~ age")
    with pytest.raises(InputError, match="duration=, event= and covariates=, or formula="):
        fit_cph(lung)


@pytest.mark.r
def test_spec_formula_builder_refuses_names_that_were_not_generated(tmp_path, monkeypatch):
    """Defence in depth: r/design.R builds formulas from generated names only; a spec carrying any
    other text (a caller that forgot to rename) is refused before R's parser sees it."""
    from her2stats import r_bridge
    from her2stats.errors import RError

    monkeypatch.chdir(tmp_path)
    hostile = 'v1` + system("touch h2s_pwned") + `v1'
    df = pd.DataFrame({"y": [0, 1, 0, 1, 1, 0, 1, 0], hostile: [1.0, 2, 3, 4, 5, 7, 2, 6]})
    with pytest.raises(RError, match="generated column names"):
        r_bridge.call("h2s_lrm_fit_spec", df, {"kinds": {hostile: "linear"}, "args": {}, "terms": [[hostile]]})
    surv = pd.DataFrame({"h2s_time": [1.0, 2, 3, 4, 5, 6], "h2s_event": [1, 0, 1, 1, 0, 1], "v1": [1.0, 3, 2, 4, 6, 5]})
    with pytest.raises(RError, match="generated column names"):
        r_bridge.call("h2s_cph_fit_spec", surv, {"kinds": {"v1": "linear"}, "args": {}, "terms": [["v1"]]},
                      [hostile])
    assert not (tmp_path / "h2s_pwned").exists()
