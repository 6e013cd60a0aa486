"""Data never becomes code (issue 14, item 1).

Every function that reaches R is called with hostile column names, factor levels, model names and
labels: R code shaped names (they ran ``touch h2s_pwned`` when formulas were pasted from column
names), backticks, quotes, newlines, unicode, spaces, leading digits, dots and dashes
(``ER status``, ``ki-67``, ``1st``, ``T2.size``) and names that look like the generated ones the
bridge uses (``y``, ``v2``, ``l1``, ``h2s_time``). Each call must

* run nothing: the sentinel file is not created in the test's temporary working directory, and
* give exactly the answer of the same call with plain names: after the hostile labels are mapped
  to the plain ones, every number (coefficients, SEs, p-values, points, curves, indices) agrees
  to 1e-9 on the same engine (the same arithmetic runs on the same data; only names differ).

Both engines are checked; the Python engine never sends names to R, but must label its results
with the same hostile names and give the same numbers.
"""
from __future__ import annotations

import os
import warnings

import numpy as np
import pandas as pd
import pytest

import her2stats as h2

SENTINEL = "h2s_pwned"
TOUCH = f'system("touch {SENTINEL}")'
ENGINES = [pytest.param("python"), pytest.param("r", marks=pytest.mark.r)]
ATOL = 1e-9

#: names that were R code when pasted into a formula (the first one creates the file in the
#: pre-fix package: `low` ~ `lwt` + system("touch ...") + `lwt` + ...)
EXPLOIT_LWT = f"lwt` + {TOUCH} + `lwt"
EXPLOIT_SEX = f"sex` + {TOUCH} + `sex"


@pytest.fixture(autouse=True)
def _no_code_runs(tmp_path, monkeypatch):
    """Run in an empty directory; afterwards the sentinel must not exist there."""
    monkeypatch.chdir(tmp_path)
    yield
    assert not (tmp_path / SENTINEL).exists(), "R executed code taken from a name, level or label"


@pytest.mark.r
def test_the_sentinel_detects_code_execution(tmp_path):
    """The guard above can fail: R code that touches the sentinel does create it in the cwd."""
    from her2stats import r_bridge

    r_bridge.r_eval(f'invisible({TOUCH})')
    assert (tmp_path / SENTINEL).exists()
    os.remove(tmp_path / SENTINEL)


# =========================================================================== name sets
class Names:
    """Plain -> hostile names of columns and of each categorical column's levels."""

    def __init__(self, columns: dict[str, str], levels: dict[str, dict[str, str]]):
        self.columns = columns
        self.levels = levels

    def name(self, plain: str) -> str:
        return self.columns.get(plain, plain)

    def level(self, var: str, plain: object) -> object:
        return self.levels.get(var, {}).get(plain, plain) if isinstance(plain, str) else plain

    def label(self, plain: str) -> str:
        """``age`` / ``lwt''`` / ``race=black`` / ``Intercept`` in hostile form."""
        if plain in ("Intercept", "(Intercept)", "GLOBAL", ""):
            return plain
        base, eq, lev = plain.partition("=")
        stem = base.rstrip("'")
        out = self.name(stem) + base[len(stem):]
        return out + "=" + str(self.level(stem, lev)) if eq else out

    def frame(self, df: pd.DataFrame) -> pd.DataFrame:
        """``df`` with hostile column names and categorical levels (same level order)."""
        out = df.copy()
        for var, mapping in self.levels.items():
            if var in out.columns:
                out[var] = out[var].cat.rename_categories(lambda c: mapping.get(c, c))
        return out.rename(columns=self.columns)


def _bw_names(kind: str) -> Names:
    if kind == "code":
        cols = {"low": f'"); {TOUCH}; ("', "age": EXPLOIT_LWT, "race": f"a`); {TOUCH}; (`", "smoke": "ER status",
                "ht": "ki-67", "ui": "1st", "ftv": "T2.size", "ptd": f"x'); system('touch {SENTINEL}'); ('"}
        levels = {"race": {"white": "); q(); (", "black": f"`); {TOUCH}; (`", "other": 'l1"\n'},
                  "ftv": {"0": "1st", "1": "a=b", "2+": "`"}}
    else:
        cols = {"low": "y", "age": "v2", "lwt": "âge µ\nnewline", "race": "l1", "smoke": "back`tick",
                "ht": "it's \"quoted\"", "ui": "h2s_time", "ftv": "  spaces  ", "ptd": "日本語 列"}
        levels = {"race": {"white": "l2", "black": "v1", "other": "H2 \\n é"},
                  "ftv": {"0": "y", "1": "(Intercept)", "2+": "l1 "}}
    return Names(cols, levels)


def _lung_names(kind: str) -> Names:
    if kind == "code":
        cols = {"time": f'"); {TOUCH}; ("', "dead": f"`); {TOUCH}; (`", "age": EXPLOIT_SEX, "ecog": "ER status"}
        levels = {"ecog": {"0": "); q(); (", "1": 'l1"`', "2+": "ki-67\n"}}
    else:
        cols = {"time": "h2s_time", "dead": "h2s_event", "age": "v1", "sex": "1st", "ecog": "T2.size"}
        levels = {"ecog": {"0": "l2", "1": "v1", "2+": "é à"}}
    return Names(cols, levels)


KINDS = ["code", "text"]


@pytest.fixture(scope="module")
def bw(bwt) -> pd.DataFrame:
    return bwt


@pytest.fixture(scope="module")
def lung(test_data_dir) -> pd.DataFrame:
    d = pd.read_csv(test_data_dir / "lung.csv").dropna(subset=["ph.ecog"])
    return pd.DataFrame({
        "time": d.time.astype(float), "dead": d.status - 1, "age": d.age.astype(float), "sex": d.sex.astype(float),
        "ecog": pd.Categorical(np.where(d["ph.ecog"] >= 2, "2+", d["ph.ecog"].astype(int).astype(str)),
                               categories=["0", "1", "2+"]),
    }).reset_index(drop=True)


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def _same(a, b, what: str) -> None:
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=0, atol=ATOL, err_msg=what,
                               equal_nan=True)


def _same_frame(hostile: pd.DataFrame, plain: pd.DataFrame, what: str) -> None:
    """Equal labels (exactly) and numbers (to 1e-9); ``plain`` is already in hostile form."""
    assert list(hostile.columns) == list(plain.columns), what
    assert list(map(str, hostile.index)) == list(map(str, plain.index)), what
    for c in hostile.columns:
        h, p = hostile[c], plain[c]
        if pd.api.types.is_numeric_dtype(h.dtype) and pd.api.types.is_numeric_dtype(p.dtype):
            _same(h, p, f"{what}: {c}")
        else:
            assert [str(x) for x in h] == [str(x) for x in p], f"{what}: {c}"


def _map_col(df: pd.DataFrame, col: str, fn) -> pd.DataFrame:
    out = df.copy()
    out[col] = [fn(v) if isinstance(v, str) else v for v in out[col]]
    return out


# =========================================================================== logistic models
BW_COVS = ["age", "lwt", "race", "smoke", "ht", "ftv"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("engine", ENGINES)
def test_fit_lrm(bw, kind, engine):
    nm = _bw_names(kind)
    plain = _quiet(h2.fit_lrm, bw, "low", BW_COVS, rcs={"lwt": 4}, engine=engine)
    host = _quiet(h2.fit_lrm, nm.frame(bw), nm.name("low"), [nm.name(c) for c in BW_COVS],
                  rcs={nm.name("lwt"): 4}, engine=engine)
    assert list(host.coefficients.index) == [nm.label(c) for c in plain.coefficients.index]
    _same(host.coefficients, plain.coefficients, "coefficients")
    _same(host.vcov, plain.vcov, "vcov")
    _same(host.standard_errors, plain.standard_errors, "se")
    _same(host.to_frame()["p"], plain.to_frame()["p"], "p")
    for k, v in plain.stats.items():
        _same(host.stats[k], v, k)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("engine", ENGINES)
def test_logistic_table_with_stepwise(bw, kind, engine):
    nm = _bw_names(kind)
    covs = ["age", "lwt", "race", "smoke", "ht", "ui", "ftv"]
    plain = _quiet(h2.logistic_table, bw, "low", covs, stepwise="both", engine=engine)
    host = _quiet(h2.logistic_table, nm.frame(bw), nm.name("low"), [nm.name(c) for c in covs], stepwise="both",
                  engine=engine)
    assert list(host.selected) == [nm.name(c) for c in plain.selected]
    expect = plain.to_frame()
    variables = list(expect["variable"])
    expect["level"] = [nm.level(v, lev) for v, lev in zip(variables, expect["level"])]
    expect["reference"] = [nm.level(v, r) for v, r in zip(variables, expect["reference"])]
    expect = _map_col(expect, "variable", nm.name)
    _same_frame(host.to_frame(), expect, "logistic_table")
    steps = _map_col(plain.steps, "change", lambda s: f"{s[:2]}{nm.name(s[2:])}" if s else s)
    _same_frame(host.steps, steps, "steps")


@pytest.mark.r
@pytest.mark.parametrize("engine", ENGINES)
def test_er_status_as_a_categorical_covariate(bw, lung, engine):
    """The issue's example: `ER status` as a categorical covariate ('subscript out of bounds' in rms)."""
    d = bw.assign(**{"ER status": np.where(bw["race"] == "white", "positive", "negative")})
    m = _quiet(h2.fit_lrm, d, "low", ["ER status", "lwt"], engine=engine)
    ref = _quiet(h2.fit_lrm, d, "low", ["ER status", "lwt"], engine="python")
    assert list(m.coefficients.index) == ["Intercept", "ER status=positive", "lwt"]
    np.testing.assert_allclose(m.coefficients, ref.coefficients, rtol=0, atol=1e-6)
    s = lung.assign(**{"ER status": np.where(lung["sex"] == 1, "positive", "negative")})
    c = _quiet(h2.fit_cph, s, "time", "dead", ["ER status", "age"], engine=engine)
    cref = _quiet(h2.fit_cph, s, "time", "dead", ["ER status", "age"], engine="python")
    assert list(c.params.index) == ["ER status=positive", "age"]
    np.testing.assert_allclose(c.params, cref.params, rtol=0, atol=1e-6)


# =========================================================================== survival
LUNG_COVS = ["age", "sex", "ecog"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("engine", ENGINES)
def test_fit_cph_and_cox_with_stepwise_and_ph_test(lung, kind, engine):
    nm = _lung_names(kind)
    hl = nm.frame(lung)
    args_h = (hl, nm.name("time"), nm.name("dead"), [nm.name(c) for c in LUNG_COVS])
    args_p = (lung, "time", "dead", LUNG_COVS)
    fp, fh = h2.fit_cph(*args_p, engine=engine), h2.fit_cph(*args_h, engine=engine)
    assert list(fh.params.index) == [nm.label(c) for c in fp.params.index]
    _same(fh.params, fp.params, "cph coef")
    _same(fh.vcov, fp.vcov, "cph vcov")
    for stepwise in (None, "both"):
        p = _quiet(h2.cox, *args_p, stepwise=stepwise, engine=engine)
        h = _quiet(h2.cox, *args_h, stepwise=stepwise, engine=engine)
        assert list(h.covariates) == [nm.name(c) for c in p.covariates]
        expect = p.summary.copy()
        covs = list(expect["covariate"])
        expect = _map_col(expect, "term", nm.label)
        expect["reference"] = [nm.level(v, r) for v, r in zip(covs, expect["reference"])]
        expect = _map_col(expect, "covariate", nm.name)
        _same_frame(h.summary, expect, f"cox summary stepwise={stepwise}")
        _same([h.concordance.concordance, h.concordance.se, h.aic, h.lr_statistic],
              [p.concordance.concordance, p.concordance.se, p.aic, p.lr_statistic], "cox C/AIC/LR")
        if stepwise:
            _same_frame(h.steps, _map_col(p.steps, "term", nm.name), "cox steps")
        _same_frame(h.ph_test().table, _map_col(p.ph_test().table, "term", nm.name), "cox.zph")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("engine", ENGINES)
def test_kaplan_meier_and_logrank(lung, kind, engine):
    nm = _lung_names(kind)
    hl = nm.frame(lung)
    p = h2.kaplan_meier(lung, "time", "dead", group="ecog", engine=engine)
    h = h2.kaplan_meier(hl, nm.name("time"), nm.name("dead"), group=nm.name("ecog"), engine=engine)
    _same_frame(h.to_frame(), _map_col(p.to_frame(), "group", lambda g: nm.level("ecog", g)), "km medians")
    _same_frame(h.table, _map_col(p.table, "group", lambda g: nm.level("ecog", g)), "km table")
    lp = h2.logrank_test(lung, "time", "dead", "ecog", engine=engine)
    lh = h2.logrank_test(hl, nm.name("time"), nm.name("dead"), nm.name("ecog"), engine=engine)
    _same_frame(lh.to_frame(), _map_col(lp.to_frame(), "group", lambda g: nm.level("ecog", g)), "logrank")


# =========================================================================== ordinal
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("engine", ENGINES)
def test_fit_ordinal(test_data_dir, kind, engine):
    h = pd.read_csv(test_data_dir / "mass_housing.csv")
    h = h.loc[h.index.repeat(h["Freq"])].reset_index(drop=True)
    for col, levels in {"Sat": ["Low", "Medium", "High"], "Infl": ["Low", "Medium", "High"],
                        "Type": ["Tower", "Apartment", "Atrium", "Terrace"], "Cont": ["Low", "High"]}.items():
        h[col] = pd.Categorical(h[col], categories=levels)
    if kind == "code":
        nm = Names({"Sat": f'"); {TOUCH}; ("', "Infl": f"Infl` + {TOUCH} + `Infl", "Type": "ER status", "Cont": "1st"},
                   {"Sat": {"Low": "); q(); (", "Medium": "l1", "High": 'x"`\n'},
                    "Type": {"Apartment": f"`); {TOUCH}; (`", "Atrium": "ki-67"}})
    else:
        nm = Names({"Sat": "y", "Infl": "v2", "Type": "T2.size", "Cont": "l1"},
                   {"Sat": {"Low": "l2", "Medium": "y>=1", "High": "é"}, "Cont": {"Low": "v1", "High": "Low"}})
    covs = ["Infl", "Type", "Cont"]
    p = h2.fit_ordinal(h, "Sat", covs, levels=["Low", "Medium", "High"], engine=engine)
    q = h2.fit_ordinal(nm.frame(h), nm.name("Sat"), [nm.name(c) for c in covs],
                       levels=[nm.level("Sat", v) for v in ["Low", "Medium", "High"]], engine=engine)
    assert list(q.coefficients.index) == [nm.label(c) for c in p.coefficients.index]
    assert list(q.intercepts.index) == [f"y>={nm.level('Sat', c[3:])}" for c in p.intercepts.index]
    _same(q.params, p.params, "ordinal coefficients")
    _same(q.vcov, p.vcov, "ordinal vcov")
    _same(q.predict_proba(nm.frame(h)), p.predict_proba(h), "class probabilities")


# =========================================================================== nomogram, calibration, validation
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("engine", ENGINES)
def test_nomogram_logistic_and_cox(bw, lung, kind, engine, tmp_path):
    nm = _bw_names(kind)
    covs = ["age", "lwt", "race", "smoke", "ftv"]
    mp = _quiet(h2.fit_lrm, bw, "low", covs, rcs={"lwt": 3}, engine=engine)
    mh = _quiet(h2.fit_lrm, nm.frame(bw), nm.name("low"), [nm.name(c) for c in covs], rcs={nm.name("lwt"): 3},
                engine=engine)
    label = f'Risk"); {TOUCH}; ("'
    pairs = [(h2.nomogram(mp, funlabel="Risk", engine=engine), h2.nomogram(mh, funlabel=label, engine=engine),
              nm, {"Risk": label})]
    ln = _lung_names(kind)
    cp = h2.fit_cph(lung, "time", "dead", LUNG_COVS, engine=engine)
    ch = h2.fit_cph(ln.frame(lung), ln.name("time"), ln.name("dead"), [ln.name(c) for c in LUNG_COVS], engine=engine)
    unit = f'day`); {TOUCH}; (`'
    pairs.append((h2.nomogram(cp, fun=("survival", [180, 365]), time_unit="day", engine=engine),
                  h2.nomogram(ch, fun=("survival", [180, 365]), time_unit=unit, engine=engine), ln,
                  {f"{t}-day survival": f"{t}-{unit} survival" for t in (180, 365)}))
    for p, h, names, fun_map in pairs:
        variables = list(p.variables["variable"])
        expect = p.variables.copy()
        expect["value"] = [names.level(v, x) for v, x in zip(variables, expect["value"])]
        expect = _map_col(expect, "variable", names.name)
        _same_frame(h.variables, expect, "nomogram points")
        assert list(h.outcome_axes) == [fun_map[k] for k in p.outcome_axes]
        for k, tab in p.outcome_axes.items():
            _same_frame(h.outcome_axes[fun_map[k]], tab, "nomogram outcome axis")
        _same([h.scale, h.intercept], [p.scale, p.intercept], "nomogram scale")
        _same(h.total_points, p.total_points, "total points")
        if engine == "r":
            out = h.save_r_plot(tmp_path / "nomogram.png")
            assert out.is_file() and out.stat().st_size > 1000


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("engine", ENGINES)
def test_calibrate_validate_and_external_validation(bw, kind, engine):
    nm = _bw_names(kind)
    covs = ["age", "lwt", "race", "smoke"]
    mp = _quiet(h2.fit_lrm, bw, "low", covs, engine=engine)
    mh = _quiet(h2.fit_lrm, nm.frame(bw), nm.name("low"), [nm.name(c) for c in covs], engine=engine)
    cp = _quiet(h2.calibrate, mp, B=30, seed=4, engine=engine)
    ch = _quiet(h2.calibrate, mh, B=30, seed=4, engine=engine)
    _same_frame(ch.to_frame(), cp.to_frame(), "calibrate")
    vp = _quiet(h2.validate, mp, B=30, seed=4, engine=engine)
    vh = _quiet(h2.validate, mh, B=30, seed=4, engine=engine)
    _same_frame(vh.to_frame(), vp.to_frame(), "validate")
    ep = _quiet(h2.validate_external, mp, bw, "low", B=30, seed=4, engine=engine)
    eh = _quiet(h2.validate_external, mh, nm.frame(bw), nm.name("low"), B=30, seed=4, engine=engine)
    _same_frame(eh.to_frame(), ep.to_frame(), "validate_external")
    _same([h2.lecessie_test(mh, engine=engine).p_value], [h2.lecessie_test(mp, engine=engine).p_value], "le Cessie")


# =========================================================================== other R paths
@pytest.mark.parametrize("engine", ENGINES)
def test_decision_curve_model_names(bw, engine):
    m = _quiet(h2.fit_lrm, bw, "low", ["age", "lwt", "race"], engine="python")
    p = m.predict()
    names = {"model": f'a`); {TOUCH}; (`', "other": "ER status\n1st", "third": "m1"}
    plain = h2.decision_curve(m.y, {"model": p, "other": p ** 2, "third": np.sqrt(p)}, thresholds=[0.1, 0.3, 0.5],
                              engine=engine)
    host = h2.decision_curve(m.y, {names[k]: v for k, v in zip(names, [p, p ** 2, np.sqrt(p)])},
                             thresholds=[0.1, 0.3, 0.5], engine=engine)
    expect = _map_col(plain.table, "strategy", lambda s: names.get(s, s))
    _same_frame(host.table, expect, "decision curve")


@pytest.mark.parametrize("engine", ENGINES)
def test_multiclass_auc_class_names(engine):
    rng = np.random.default_rng(3)
    plain_cls = ["a", "b", "c"]
    host_cls = [f'x/y"); {TOUCH}; ("', "l2", "HER2 low\n`"]
    labels = rng.choice(3, size=120)
    raw = rng.random((120, 3)) + 0.4 * np.eye(3)[labels]
    probs = raw / raw.sum(1, keepdims=True)
    p = h2.multiclass_auc(np.array(plain_cls)[labels], pd.DataFrame(probs, columns=plain_cls), engine=engine)
    h = h2.multiclass_auc(np.array(host_cls, dtype=object)[labels], pd.DataFrame(probs, columns=host_cls),
                          engine=engine)
    back = dict(zip(plain_cls, host_cls))
    _same(h.auc, p.auc, "Hand-Till AUC")
    _same_frame(h.pairs, _map_col(p.pairs, "pair", lambda s: "/".join(back[c] for c in s.split("/"))), "pairs")
    _same_frame(h.one_vs_rest, _map_col(p.one_vs_rest, "class", back.get), "one vs rest")


@pytest.mark.parametrize("engine", ENGINES)
def test_lasso_feature_names(bw, engine):
    X = bw[["age", "lwt"]].assign(noise=np.random.default_rng(1).normal(size=len(bw)), ht=bw["ht"].astype(float))
    names = {"age": EXPLOIT_LWT, "lwt": "lwt", "noise": "ki-67", "ht": "1st\n`"}
    from her2stats.selection import make_foldid

    folds = make_foldid(bw["low"].to_numpy(), cv=5, seed=1)
    p = h2.lasso_cv(X, bw["low"].to_numpy(), foldid=folds, engine=engine)
    h = h2.lasso_cv(X.rename(columns=names), bw["low"].to_numpy(), foldid=folds, engine=engine)
    assert list(h.coef.index) == [names[c] for c in p.coef.index]
    _same(h.coef, p.coef, "lasso path")
    _same(h.cvm, p.cvm, "cv deviance")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("engine", ENGINES)
def test_table_one(bw, kind, engine):
    nm = _bw_names(kind)
    variables = ["age", "lwt", "race", "ftv", "smoke"]
    p = _quiet(h2.table_one, bw, "low", variables, engine=engine)
    h = _quiet(h2.table_one, nm.frame(bw), nm.name("low"), [nm.name(v) for v in variables], engine=engine)
    expect = p.to_frame().copy()
    variables = list(expect["variable"])
    expect["level"] = [nm.level(v, lev) for v, lev in zip(variables, expect["level"])]
    expect = _map_col(expect, "variable", nm.name)
    _same_frame(h.to_frame(), expect, "table one")


@pytest.mark.parametrize("engine", ENGINES)
def test_agreement_labels(engine):
    rng = np.random.default_rng(5)
    cats = ["0", "1+", "2+", "3+"]
    host = {"0": "); q(); (", "1+": "l1", "2+": f"`); {TOUCH}; (`", "3+": "ER status"}
    r1 = rng.choice(4, size=120)
    r2 = np.clip(r1 + rng.choice([-1, 0, 0, 1], size=120), 0, 3)
    as_cat = lambda codes, labels: pd.Categorical(np.array(labels, dtype=object)[codes], categories=labels,  # noqa: E731
                                                  ordered=True)
    hl = [host[c] for c in cats]
    for weights in (None, "quadratic"):
        p = h2.kappa(as_cat(r1, cats), as_cat(r2, cats), weights=weights, engine=engine)
        h = h2.kappa(as_cat(r1, hl), as_cat(r2, hl), weights=weights, engine=engine)
        _same_frame(h.to_frame(), p.to_frame(), f"kappa {weights}")
    long = pd.DataFrame({"t": np.repeat(np.arange(30), 3), "r": np.tile(["a", "b", "c"], 30),
                         "v": rng.normal(size=90) + np.repeat(rng.normal(size=30), 3)})
    names = {"t": f'"); {TOUCH}; ("', "r": "1st rater`", "v": "ki-67\n"}
    hlong = long.rename(columns=names).assign(**{names["r"]: long["r"].map({"a": "l1", "b": "v1", "c": "); q(); ("})})
    p = h2.icc(long, "t", "r", "v", engine=engine)
    h = h2.icc(hlong, names["t"], names["r"], names["v"], engine=engine)
    _same_frame(h.to_frame(), p.to_frame(), "icc")


# =========================================================================== study reference (R)
@pytest.mark.r
@pytest.mark.parametrize("kind", KINDS)
def test_studies_reference_functions(bw, lung, kind):
    """r/studies_reference.R (the independent R analysis the study tests compare against)."""
    from her2stats import r_bridge

    nm = _bw_names(kind)
    covs = ["age", "lwt", "race", "smoke", "ftv"]
    hb = nm.frame(bw)
    for c in ("smoke", "ht"):
        bw = bw.assign(**{c: bw[c].astype(float)})
        hb[nm.name(c)] = hb[nm.name(c)].astype(float)
    g_p = r_bridge.call("h2s_ref_glm", bw, "low", covs, step="both")
    g_h = r_bridge.call("h2s_ref_glm", hb, nm.name("low"), [nm.name(c) for c in covs], step="both")
    # R's coefficient names: variable name pasted to the level (`racewhite`)
    r_lab = {f"{v}{lev}": f"{nm.name(v)}{nm.level(v, lev)}" for v in covs if v in nm.levels for lev in nm.levels[v]}
    assert list(g_h["term"]) == [r_lab.get(t, nm.name(t)) for t in g_p["term"]]
    assert list(np.atleast_1d(g_h["selected"])) == [nm.name(c) for c in np.atleast_1d(g_p["selected"])]
    for k in ("coef", "se", "p", "aic"):
        _same(g_h[k], g_p[k], f"glm {k}")
    e_p = r_bridge.call("h2s_ref_external", bw, bw, "low", covs)
    e_h = r_bridge.call("h2s_ref_external", hb, hb, nm.name("low"), [nm.name(c) for c in covs])
    for k in ("auc", "ci_low", "ci_high", "brier", "hl_statistic", "prob"):
        _same(e_h[k], e_p[k], f"external {k}")
    ln = _lung_names(kind)
    hl = ln.frame(lung)
    c_p = r_bridge.call("h2s_ref_cox", lung, "time", "dead", LUNG_COVS, step="both")
    c_h = r_bridge.call("h2s_ref_cox", hl, ln.name("time"), ln.name("dead"), [ln.name(c) for c in LUNG_COVS],
                        step="both")
    assert list(np.atleast_1d(c_h["selected"])) == [ln.name(c) for c in np.atleast_1d(c_p["selected"])]
    assert list(c_h["zph_term"]) == [ln.name(c) for c in c_p["zph_term"]]
    for k in ("coef", "se", "p", "aic", "c_index", "c_se", "zph_chisq", "zph_p"):
        _same(c_h[k], c_p[k], f"cox {k}")
    l_p = r_bridge.call("h2s_ref_logrank", lung, "time", "dead", "ecog")
    l_h = r_bridge.call("h2s_ref_logrank", hl, ln.name("time"), ln.name("dead"), ln.name("ecog"))
    _same([l_h["chisq"], l_h["p"]], [l_p["chisq"], l_p["p"]], "log-rank")
    k_p = r_bridge.call("h2s_ref_km_at", lung, "time", "dead", "ecog", [180.0, 365.0])
    k_h = r_bridge.call("h2s_ref_km_at", hl, ln.name("time"), ln.name("dead"), ln.name("ecog"), [180.0, 365.0])
    _same(k_h["surv"], k_p["surv"], "KM")
    assert list(k_h["strata"]) == [f"{ln.name('ecog')}={ln.level('ecog', s.split('=', 1)[1])}" for s in k_p["strata"]]


# =========================================================================== the study runner
@pytest.mark.slow
@pytest.mark.parametrize("engine", ENGINES)
def test_run_study_with_hostile_column_names(tmp_path, engine):
    """A CSV cohort whose column names are R code: the whole study (Table 1, clinical model with
    validation, nomogram, DCA, Kaplan-Meier, stepwise Cox) gives the plain-name numbers."""
    from her2stats.data import load_demo
    from her2stats.reporting.study import run_study

    demo = load_demo()
    names = {"age": f"age` + {TOUCH} + `age", "ki67": "ki-67", "tumor_size_mm": "T2.size", "er": "ER status",
             "grade": f'"); {TOUCH}; ("', "rfs_time": "1st\n`", "rfs_event": "h2s_event"}

    def config(cols, where):
        path = tmp_path / f"{where}.csv"
        demo.rename(columns=cols).to_csv(path, index=False)
        n = lambda c: cols.get(c, c)  # noqa: E731
        return {"name": where, "engine": engine,
                "cohort": {"source": "csv", "path": str(path), "outcome": "her2_positive",
                           "exclude_predictors": ["her2_status", "her2_class", "her2_ihc", "her2_ish", "subtype"]},
                "splits": {"by": "center", "column": "center", "train": ["A", "B"], "external": ["C"],
                           "internal_fraction": 0.3, "seed": 2024},
                "table1": {"group": "her2_status", "variables": [n("age"), n("er"), n("grade"), n("ki67")]},
                "clinical": {"covariates": [n("age"), n("er"), n("grade"), n("ki67"), n("tumor_size_mm")]},
                "validation": {"fast_n_boot": 10, "dca_thresholds": [0.1, 0.5, 0.1]},
                "survival": {"duration": n("rfs_time"), "event": n("rfs_event"), "group": "her2_status",
                             "covariates": [n("age"), n("grade"), "t_stage"], "stepwise": "both"}}

    p = _quiet(run_study, config({}, "plain"), fast=True, outdir=tmp_path / "out_plain")
    h = _quiet(run_study, config(names, "hostile"), fast=True, outdir=tmp_path / "out_hostile")

    def rename_key(k: str) -> str:
        for plain, host in sorted(names.items(), key=lambda kv: -len(kv[0])):
            k = k.replace(f"/{plain}=", f"/{host}=")
            if k.endswith(f"/{plain}"):
                k = k[: -len(plain)] + host
        return k

    expect = {rename_key(k): v for k, v in p.numbers.items()}
    assert sorted(h.numbers) == sorted(expect)
    for k, v in expect.items():
        if isinstance(v, (int, float, np.number)) and not isinstance(v, bool):
            _same(h.numbers[k], v, k)
