"""The descriptive, zoo and reader steps of the seed papers as runner steps (issue 18): Table 1 by
another column and analysed vs excluded patients (``table1.by``, ``table1.included_vs_excluded``),
the model zoo on the selected clinical covariates (``zoo.features: selected``, selection inside each
outer training fold), and the inter-reader agreement step (``agreement:``). Stages run alone on
small states (Python engine); their numbers equal the statistics API called on the same rows."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import her2stats.reporting.study as S
from her2stats.errors import ConfigError, InputError
from her2stats.reporting.config import load_config

LEAKY = ["her2_status", "her2_class", "her2_ish", "her2_ihc", "subtype"]
READINGS = [{"variable": "tumor_size_mm", "readers": ["tumor_size_mm", "tumor_size_mm_r2"], "kind": "continuous"},
            {"variable": "birads_margin", "readers": ["birads_margin", "birads_margin_r2"], "kind": "categorical"},
            {"variable": "t2_signal", "readers": ["t2_signal", "t2_signal_r2"], "kind": "categorical",
             "weights": "linear"}]


def _config(**extra):
    base = {"name": "describe", "engine": "python",
            "cohort": {"source": "demo", "outcome": "her2_positive", "exclude_predictors": LEAKY},
            "splits": {"by": "center", "column": "center", "train": ["A", "B"], "external": ["C"],
                       "internal_fraction": 0.0, "seed": 1}}
    return load_config({**base, **extra})


def _run(cfg, *stages, fast=True):
    st = S.new_state(cfg, fast=fast)
    for f in (S.stage_cohort, S.stage_features) + stages:
        st = f(st)
    return st


# ------------------------------------------------------------------------------------------ Table 1
def test_table1_by_centre_equals_table_one():
    from her2stats.stats.tables import table_one

    cfg = _config(table1={"group": "her2_status", "variables": ["age", "er", "grade"], "by": ["center"],
                          "by_cohort": False})
    st = _run(cfg, S.stage_describe)
    ref = table_one(st.cohort, "center", variables=["age", "er", "grade", "her2_positive"],
                    categorical=["her2_positive"], smd=True, engine="python")
    got = st.results["table1_by_center"]
    pd.testing.assert_frame_equal(got.tests.reset_index(drop=True), ref.tests.reset_index(drop=True))
    for r in ref.tests.to_dict("records"):
        assert st.numbers[f"table1_by/center/smd/{r['variable']}"] == pytest.approx(r["smd"], abs=1e-12)
    counts = st.cohort["center"].astype(str).value_counts()
    assert {c: st.numbers[f"table1_by/center/n/{c}"] for c in "ABC"} == {c: float(counts[c]) for c in "ABC"}
    assert "table1_by_center" in st.tables and "centre" in st.tables["table1_by_center"].title.lower()


def test_table1_included_vs_excluded_counts_every_exclusion():
    cfg = _config(cohort={"source": "demo", "outcome": "her2_positive", "exclude_predictors": LEAKY,
                          "subset": {"center": ["A", "B", "C"]}, "require": ["her2_ish"]},
                  table1={"group": "her2_status", "variables": ["age", "er", "tumor_size_mm"],
                          "included_vs_excluded": True})
    st = _run(cfg, S.stage_describe)
    flow = st.flow.frame()
    n_excluded = int(flow["n_excluded"].sum())
    assert n_excluded > 0 and st.numbers["table1_excluded/n"] == n_excluded
    assert st.numbers["table1_excluded/n/her2_ish known"] == float(flow.loc[flow["step"] == "her2_ish known",
                                                                            "n_excluded"].iloc[0])
    t1 = st.results["table1_included_vs_excluded"]
    assert list(t1.n) == [len(st.cohort), n_excluded]
    # the excluded group is exactly the demo patients not analysed
    from her2stats.data import load_demo

    demo = load_demo()
    gone = demo[~demo["patient_id"].isin(st.cohort["patient_id"])]
    from her2stats.stats.tables import table_one

    both = pd.concat([st.cohort[["age", "er", "tumor_size_mm"]].assign(g="Included"),
                      gone[["age", "er", "tumor_size_mm"]].assign(g="Excluded")], ignore_index=True)
    both["g"] = pd.Categorical(both["g"], categories=["Included", "Excluded"])
    ref = table_one(both, "g", variables=["age", "er", "tumor_size_mm"], smd=True, engine="python")
    for r in ref.tests.to_dict("records"):
        assert st.numbers[f"table1_excluded_p/{r['variable']}"] == pytest.approx(r["p_value"], abs=1e-12)
        assert st.numbers[f"table1_excluded_smd/{r['variable']}"] == pytest.approx(r["smd"], abs=1e-12)
    assert "her2_ish known: " in st.tables["table1_included_vs_excluded"].footnotes[-1]


def test_table1_included_vs_excluded_without_exclusions_is_a_note():
    cfg = _config(table1={"group": "her2_status", "variables": ["age"], "included_vs_excluded": True})
    st = _run(cfg, S.stage_describe)
    assert st.numbers["table1_excluded/n"] == 0 and "table1_included_vs_excluded" not in st.tables
    assert any("excluded no patient" in n for n in st.notes)


def test_table1_by_names_the_key_when_the_column_is_absent():
    cfg = _config(table1={"group": "her2_status", "variables": ["age"], "by": ["centre"]})
    with pytest.raises(InputError, match=r"table1\.by: column 'centre' not in the cohort; did you mean 'center'\?"):
        S.stage_cohort(S.new_state(cfg))


# ---------------------------------------------------------------------------------- reader agreement
def test_demo_readers_are_reproducible_and_leave_the_demo_unchanged():
    from her2stats.data import load_demo
    from her2stats.data.demo import DEMO_COLUMNS, DEMO_READER_COLUMNS, load_demo_readers

    a, b = load_demo_readers(), load_demo_readers()
    pd.testing.assert_frame_equal(a, b)
    assert list(a.columns) == ["patient_id"] + list(DEMO_READER_COLUMNS.values())
    assert list(load_demo().columns) == DEMO_COLUMNS
    demo = load_demo()
    assert (a["patient_id"] == demo["patient_id"].astype(str)).all()
    # the stated disagreement model: about 80% of margins kept, size differences N(0.5, 2^2)
    kept = (a["birads_margin_r2"].astype(str) == demo["birads_margin"].astype(str)).mean()
    assert 0.72 < kept < 0.88
    diff = a["tumor_size_mm_r2"] - demo["tumor_size_mm"]
    assert abs(diff.mean() - 0.5) < 0.3 and 1.6 < diff.std() < 2.4
    assert a["t2_signal_r2"].cat.ordered
    assert not load_demo_readers(seed=1).equals(a)


def test_agreement_stage_equals_icc_and_kappa():
    from her2stats.data.demo import load_demo_readers
    from her2stats.stats.agreement import icc, kappa

    cfg = _config(agreement={"readings": "demo", "pairs": READINGS})
    st = _run(cfg, S.stage_agreement)
    r2 = load_demo_readers().set_index("patient_id")
    df = st.cohort
    ids = df["patient_id"].astype(str)
    long = pd.concat([pd.DataFrame({"t": ids, "r": 1, "v": df["tumor_size_mm"]}),
                      pd.DataFrame({"t": ids, "r": 2, "v": r2.loc[ids, "tumor_size_mm_r2"].to_numpy()})])
    ref = icc(long, "t", "r", "v", kind="ICC2,1", engine="python")
    n = st.numbers
    assert n["agreement/tumor_size_mm/icc"] == pytest.approx(ref.value, abs=1e-12)
    assert (n["agreement/tumor_size_mm/icc_ci_low"], n["agreement/tumor_size_mm/icc_ci_high"]) == pytest.approx(
        (ref.ci_low, ref.ci_high), abs=1e-12)
    k = kappa(df["birads_margin"].to_numpy(), r2.loc[ids, "birads_margin_r2"].to_numpy(), engine="python")
    assert n["agreement/birads_margin/kappa"] == pytest.approx(k.kappa, abs=1e-12)
    kw = kappa(df["t2_signal"].reset_index(drop=True), r2.loc[ids, "t2_signal_r2"].reset_index(drop=True),
               weights="linear", engine="python")
    assert n["agreement/t2_signal/kappa"] == pytest.approx(kw.kappa, abs=1e-12)
    assert n["agreement/t2_signal/n"] == len(df)
    tab = st.tables["agreement"].data
    assert list(tab["Statistic"]) == ["ICC2,1", "Cohen's kappa", "Cohen's kappa (linear weights)"]


def test_agreement_config_errors_name_the_key():
    bad_col = [{"variable": "adc", "readers": ["adc", "adc_r3"], "kind": "continuous"}]
    st = _run(_config(agreement={"readings": "demo", "pairs": bad_col}))
    with pytest.raises(InputError, match=r"agreement\.pairs\[0\]\.readers: column 'adc_r3' not in the cohort or "
                                         r"agreement\.readings; did you mean 'adc_r2'\?"):
        S.stage_agreement(st)
    with pytest.raises(ConfigError, match=r"agreement\.pairs\.0: .*exactly two readers"):
        _config(agreement={"pairs": [{"variable": "m", "readers": ["a", "b", "c"], "kind": "categorical"}]})
    with pytest.raises(ConfigError, match=r"agreement\.pairs\.0: .*weights / levels are for kind: categorical"):
        _config(agreement={"pairs": [{"variable": "m", "readers": ["a", "b"], "kind": "continuous",
                                      "weights": "linear"}]})
    with pytest.raises(ConfigError, match=r"agreement\.pairs\.0\.kind"):
        _config(agreement={"pairs": [{"variable": "m", "readers": ["a", "b"], "kind": "ordinal"}]})
    with pytest.raises(ConfigError, match=r"agreement\.icc_kin: unknown key; did you mean 'icc_kind'\?"):
        _config(agreement={"icc_kin": "ICC2,1", "pairs": READINGS})


def test_agreement_readings_table_that_repeats_a_column_is_refused(tmp_path):
    from her2stats.data.demo import load_demo_readers

    t = load_demo_readers().rename(columns={"adc_r2": "adc"})
    t.to_csv(tmp_path / "r2.csv", index=False)
    cfg = _config(agreement={"readings": str(tmp_path / "r2.csv"), "pairs": READINGS})
    with pytest.raises(InputError, match=r"agreement\.readings: .*repeats cohort column\(s\) \['adc'\]"):
        S.stage_agreement(_run(cfg))


# ---------------------------------------------------------------------------- zoo on selected features
ZOO_COVS = ["age", "er", "pr", "grade", "ki67", "tumor_size_mm", "birads_margin", "t2_signal"]


def _zoo_config(features="selected"):
    return _config(clinical={"covariates": ZOO_COVS, "selection": "univariate"},
                   zoo={"models": ["lr", "dt"], "cv": 3, "inner_cv": 2, "features": features})


def test_zoo_features_selected_needs_a_clinical_section():
    with pytest.raises(ConfigError, match="zoo.features: selected .* needs a clinical section"):
        _config(zoo={"models": ["lr"], "features": "selected"})
    with pytest.raises(ConfigError, match=r"zoo\.features: Input should be 'all' or 'selected'; did you mean "
                                         r"'selected'\?"):
        _config(clinical={"covariates": ["age"]}, zoo={"features": "selcted"})


@pytest.mark.slow
def test_zoo_on_selected_features_selects_inside_each_outer_fold(monkeypatch):
    """Every fold's selection runs on that fold's training rows only (recorded calls), the design of
    fold k holds exactly the covariates selected there, and flipping the outcome of fold k's test
    rows leaves fold k's selection unchanged (a selection that saw them would move)."""
    calls = []
    real = S.select_clinical

    def spy(dev, *a, **k):
        calls.append(frozenset(dev["patient_id"].astype(str)))
        return real(dev, *a, **k)

    monkeypatch.setattr(S, "select_clinical", spy)
    st = _run(_zoo_config(), S.stage_selection, S.stage_models, S.stage_crossval, S.stage_zoo)
    dev = st.development
    ids = dev["patient_id"].astype(str).to_numpy()
    sel = st.results["zoo_fold_covariates"]
    assert len(sel) == len(st.folds) == 3
    for k, (train, test) in enumerate(st.folds, start=1):
        assert frozenset(ids[train]) in calls  # selected on the training part ...
    for c in calls[1:]:  # ... and no selection after the development one saw a fold's test rows with its training rows
        assert any(c == frozenset(ids[tr]) for tr, _ in st.folds)
    # fold designs: only the covariates selected in that fold
    X_dev = S._zoo_design(st.cohort, ZOO_COVS)[(st.cohort["cohort_split"] == "development").to_numpy()]
    for k in sel:
        cols = S._design_columns(st.cohort, ZOO_COVS, sel[k])
        assert cols and set(cols) <= set(X_dev.columns)
        assert {c for c in X_dev.columns if any(c == v or c.startswith(v + "_") for v in sel[k])} == set(cols)
    # the refit uses the covariates selected on all development patients
    assert set(st.results["zoo_X"].columns) == set(S._design_columns(st.cohort, ZOO_COVS, st.covariates))
    assert st.numbers["zoo_oof_auc/lr"] > 0.5
    # leakage: the outcome of fold 1's test rows does not move fold 1's selection
    train, test = st.folds[0]
    cohort = st.cohort.copy()
    pos = np.flatnonzero((cohort["cohort_split"] == "development").to_numpy())[test]
    cohort.loc[cohort.index[pos], "_y"] = 1 - cohort.loc[cohort.index[pos], "_y"]
    st2 = S.new_state(st.config, fast=True)
    st2.cohort, st2.folds = cohort, st.folds
    assert S.fold_covariates(st2, 1) == sel[1]
    # ... while permuting its training rows' outcome does (the check can fail)
    cohort3 = st.cohort.copy()
    pos_tr = np.flatnonzero((cohort3["cohort_split"] == "development").to_numpy())[train]
    rng = np.random.default_rng(0)
    cohort3.loc[cohort3.index[pos_tr], "_y"] = rng.permutation(cohort3.loc[cohort3.index[pos_tr], "_y"].to_numpy())
    st3 = S.new_state(st.config, fast=True)
    st3.cohort, st3.folds = cohort3, st.folds
    assert S.fold_covariates(st3, 1) != sel[1]


def test_zoo_fold_frame_accepts_a_subset_of_columns_only():
    from her2stats.models.zoo import fit_zoo

    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(60, 3)), columns=["a", "b", "c"])
    y = (X["a"] + rng.normal(size=60) > 0).astype(int).to_numpy()
    res = fit_zoo(X, y, models=["lr"], cv=3, inner_cv=2, seed=0, fold_features=lambda k, tr: X[["a", "b"]])
    assert res.oof["lr"].notna().all()
    with pytest.raises(InputError, match="fold_features must return the design of every patient"):
        fit_zoo(X, y, models=["lr"], cv=3, inner_cv=2, seed=0, fold_features=lambda k, tr: X.assign(d=1.0))
    # a fold may select a column the all-patient selection (the refit's X) dropped: allowed by fold_columns
    res = fit_zoo(X[["a"]], y, models=["lr"], cv=3, inner_cv=2, seed=0, fold_features=lambda k, tr: X[["b", "c"]],
                  fold_columns=["a", "b", "c"])
    assert res.oof["lr"].notna().all() and list(res.refit["lr"].feature_names_in_) == ["a"]
    with pytest.raises(InputError, match=r"unknown column\(s\) \['b'\]"):
        fit_zoo(X[["a"]], y, models=["lr"], cv=3, inner_cv=2, seed=0, fold_features=lambda k, tr: X[["b"]])


# ------------------------------------------------------------------------------------- subgroups
def test_two_subgroups_are_compared_by_the_unpaired_delong_test():
    """seed 004: AUC of HR-positive vs HR-negative patients, unpaired DeLong (pROC roc.test with
    paired = FALSE); a three-level variable gets no two-group test, a two-level one with too few
    events is not tested."""
    import matplotlib

    matplotlib.use("Agg")
    from her2stats.reporting.sections_centre import subgroup_section
    from her2stats.stats.roc import roc_test

    rng = np.random.default_rng(4)
    n = 400
    hr = np.where(rng.random(n) < 0.6, "positive", "negative")
    pattern = rng.choice(["rim", "homogeneous", "heterogeneous"], n)
    y = (rng.random(n) < 0.4).astype(int)
    p = 1 / (1 + np.exp(-(np.where(hr == "positive", 1.2, 0.4) * (y - 0.5) + rng.normal(0, 1, n))))
    rare = np.where(np.arange(n) < 8, "a", "b")  # 8 patients: too few events to test
    groups = pd.DataFrame({"hr": pd.Categorical(hr, categories=["positive", "negative"]), "pattern": pattern,
                           "rare": rare})
    sec = subgroup_section(y, {"deep_score": p}, groups, n_boot=20, engine="python")
    pos, neg = hr == "positive", hr == "negative"
    ref = roc_test(y[pos], p[pos], p[neg], y2=y[neg], paired=False, method="delong", direction="<", engine="python")
    n_ = sec.numbers
    assert n_["subgroup_auc_diff/deep_score/hr"] == pytest.approx(ref.difference, abs=1e-12)
    assert n_["subgroup_auc_diff_p/deep_score/hr"] == pytest.approx(ref.p_value, abs=1e-12)
    assert (n_["subgroup_auc_diff_ci_low/deep_score/hr"], n_["subgroup_auc_diff_ci_high/deep_score/hr"]) == \
        pytest.approx((ref.ci_low, ref.ci_high), abs=1e-12)
    assert ref.difference > 0 and ref.p_value < 0.05  # the simulated HR-positive subgroup discriminates better
    assert not any("/pattern" in k or "/rare" in k for k in n_ if k.startswith("subgroup_auc_diff"))
    tab = sec.tables["subgroup_comparison"].data
    assert len(tab) == 1 and "positive vs negative" in tab.to_string()


def test_zoo_without_a_selection_in_every_fold_reports_no_development_figure(monkeypatch):
    """A fold whose selection fails (e.g. separation in a small training fold) leaves the zoo's
    development predictions out (noted), never replaced by in-sample ones; the refit still runs."""
    from her2stats.errors import ConvergenceError

    real = S.select_clinical
    n_dev = {}

    def failing(dev, *a, **k):
        n_dev.setdefault("full", len(dev))
        if len(dev) < n_dev["full"]:
            raise ConvergenceError("separation in a training fold")
        return real(dev, *a, **k)

    monkeypatch.setattr(S, "select_clinical", failing)
    st = _run(_zoo_config(), S.stage_selection, S.stage_models, S.stage_crossval, S.stage_zoo)
    assert st.dev_probs["lr"].isna().all() and "zoo_oof_auc/lr" not in st.numbers
    assert "zoo_fold_covariates" not in st.results
    assert any("could not be repeated inside every outer training fold" in n for n in st.notes)
    assert st.probs["lr"].notna().all()  # the development refit predicts the test cohort


@pytest.mark.r
def test_agreement_stage_same_numbers_on_both_engines():
    cfg = _config(agreement={"readings": "demo", "pairs": READINGS})
    st = _run(cfg)
    out = {}
    for eng in ("python", "r"):
        st.engine = eng
        st.numbers = {}
        out[eng] = dict(S.stage_agreement(st).numbers)
    assert out["python"].keys() == out["r"].keys()
    for k, v in out["python"].items():
        assert out["r"][k] == pytest.approx(v, abs=1e-9), k  # closed forms (psych::ICC, psych::cohen.kappa)
