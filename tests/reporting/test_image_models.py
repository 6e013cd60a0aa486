"""The ``image_models:`` and ``fusion:`` runner stages (her2stats.reporting.image_models): config
validation, the leakage check of the fold refits (a prediction never comes from a fit that saw the
patient), the fusion arithmetic (mean of out-of-fold predictions; stacking fitted on out-of-fold
predictions and cross-fitted over the study's folds), unknown names, and the stage on real demo
images (fast mode)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline

from her2stats.errors import ConfigError, InputError
from her2stats.reporting import image_models as IM
from her2stats.reporting.config import load_config
from her2stats.reporting.study import STAGES, new_state

BASE = {"name": "im", "engine": "python",
        "cohort": {"source": "demo", "outcome": "her2_positive",
                   "exclude_predictors": ["her2_status", "her2_class", "her2_ish", "her2_ihc", "subtype"]},
        "splits": {"by": "center", "train": ["A", "B"], "external": ["C"], "internal_fraction": 0.0, "seed": 1},
        "validation": {"seed": 3}}
IMAGING = {"images": "demo", "sequences": ["T2", "DCE_post1"], "fast_patients": 60,
           "univariate_alpha": 0.001, "correlation_threshold": 0.8, "lasso_cv": 3}


def _cfg(**extra):
    return load_config({**BASE, **extra})


# ------------------------------------------------------------------------------------ config
def test_stages_sit_after_the_zoo_and_before_the_evaluation():
    names = [s.__name__ for s in STAGES]
    assert names.index("stage_crossval") < names.index("stage_image_models") < names.index("stage_fusion") \
        < names.index("stage_evaluation")


@pytest.mark.parametrize("extra, msg", [
    ({"image_models": [{"name": "m", "selection": [{"step": "lasso"}]}]}, "imaging section"),
    ({"imaging": IMAGING, "image_models": [{"name": "m", "sequences": ["T1"]}]}, "not in imaging.sequences"),
    ({"imaging": IMAGING, "image_models": [{"name": "deep_score"}]}, "already a model"),
    ({"imaging": IMAGING, "image_models": [{"name": "m", "selection": [{"step": "lasso", "k": 3}]}]},
     "takes cv, lambda_rule; not k"),
    ({"imaging": IMAGING, "image_models": [{"name": "m", "selection": [{"step": "mutual_info"}]}]}, "needs k"),
    ({"imaging": IMAGING, "image_models": [{"name": "m", "selection": [{"step": "lassso"}]}]}, "did you mean 'lasso'"),
    ({"fusion": {"late": [{"name": "f", "models": ["a", "b"], "method": "logistic", "weights": [1, 2]}]}},
     "weights apply to method 'mean'"),
    ({"fusion": {"late": [{"name": "f", "models": ["a", "b"], "weights": [1]}]}}, "one non-negative weight"),
    ({"fusion": {"late": [{"name": "f", "models": ["a"]}]}}, "at least 2"),
])
def test_config_refuses_what_the_stages_cannot_run(extra, msg):
    with pytest.raises(ConfigError, match=msg):
        _cfg(**extra)


def test_pipeline_follows_the_config_order():
    spec = _cfg(imaging=IMAGING, image_models=[{
        "name": "dl", "layer": 3, "classifier": "fold_ensemble", "ensemble_folds": 10,
        "selection": [{"step": "cluster"}, {"step": "lasso", "cv": 4}, {"step": "mutual_info", "k": 7},
                      {"step": "chi2", "k": 3}, {"step": "lasso"}]}]).image_models[0]
    pipe = IM.image_model_pipeline(spec, "python", seed=5)
    assert [n for n, _ in pipe.steps] == ["cluster", "lasso", "mutual_info", "chi2", "lasso2", "clf"]
    assert pipe.named_steps["lasso"].step.cv == 4 and pipe.named_steps["mutual_info"].step.k == 7
    assert pipe.named_steps["chi2"].step.k == 3 and pipe.named_steps["chi2"].step.alpha is None
    assert type(pipe.named_steps["clf"]).__name__ == "FoldEnsembleClassifier"
    assert pipe.named_steps["clf"].n_splits == 10
    assert IM.image_model_pipeline(spec, "python", seed=5, fast=True).named_steps["clf"].n_splits == 3


def test_a_step_after_one_that_kept_nothing_passes_the_empty_input_on():
    """LASSO keeping no feature leaves the next selector nothing: the model is the intercept-only
    logistic (the training prevalence), not an error."""
    spec = _cfg(imaging=IMAGING, image_models=[{"name": "m", "selection": [
        {"step": "lasso", "cv": 3}, {"step": "mutual_info", "k": 2}]}]).image_models[0]
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(60, 4)), columns=list("abcd"))  # noise: LASSO (lambda.1se) keeps none
    y = np.r_[np.zeros(40, int), np.ones(20, int)]
    pipe = IM.image_model_pipeline(spec, "python", seed=0).fit(X, y)
    assert pipe.named_steps["lasso"].step_.support_.sum() == 0 and pipe.named_steps["mutual_info"].empty_
    np.testing.assert_allclose(pipe.predict_proba(X)[:, 1], 1 / 3, atol=1e-8)


# ------------------------------------------------------------------------------------ hand-made state
def _state(extra: dict, n: int = 90, seed: int = 0):
    """A state as the earlier stages leave it: n development + 40 external patients, 3 folds."""
    rng = np.random.default_rng(seed)
    m = n + 40
    df = pd.DataFrame({"patient_id": [f"P{i:03d}" for i in range(m)],
                       "cohort_split": ["development"] * n + ["external"] * 40,
                       "_y": rng.integers(0, 2, m)})
    st = new_state(_cfg(**extra))
    st.cohort, st.cohorts = df, ["development", "external"]
    y = df["_y"].to_numpy()[:n]
    st.folds = list(StratifiedKFold(3, shuffle=True, random_state=1).split(np.zeros(n), y))
    return st


class Recorder(ClassifierMixin, BaseEstimator):
    """A classifier that logs the patients every fit saw and predicts its fit number (so each
    prediction says which fit made it)."""

    log: list = []
    fail_on: int | None = None

    def fit(self, X, y):
        Recorder.log.append(set(X.index))
        if Recorder.fail_on is not None and len(Recorder.log) == Recorder.fail_on:
            raise InputError("this fold cannot be fitted")
        self.id_, self.classes_ = len(Recorder.log), np.array([0, 1])
        return self

    def predict_proba(self, X):
        p = np.full(len(X), self.id_ / 100.0)
        return np.column_stack([1 - p, p])


class RecordingSelector(TransformerMixin, BaseEstimator):
    """A selection step that logs the rows it was fitted on (and keeps the first two features)."""

    log: list = []

    def fit(self, X, y=None):
        RecordingSelector.log.append(set(X.index))
        return self

    def transform(self, X):
        return X.iloc[:, :2]


@pytest.fixture
def recorded(monkeypatch):
    Recorder.log, Recorder.fail_on, RecordingSelector.log = [], None, []
    feats = {}

    def features(state, spec):
        ids = state.cohort["patient_id"].astype(str)
        X = pd.DataFrame(np.random.default_rng(0).normal(size=(len(ids), 5)), index=ids.to_numpy(),
                         columns=[f"f{j}" for j in range(5)])
        feats[spec.name] = X
        return X

    monkeypatch.setattr(IM, "_features", features)
    monkeypatch.setattr(IM, "image_model_pipeline", lambda spec, engine, seed, fast=False: Pipeline(
        [("recorder", RecordingSelector()), ("clf", Recorder())]))
    return feats


def _leaks(state, name: str) -> list[str]:
    """Development patients whose out-of-fold prediction came from a fit (selection or classifier)
    that saw them."""
    oof = state.dev_probs[name]
    dev_ids = state.development["patient_id"].astype(str).to_numpy()
    bad = []
    for pos, p in enumerate(oof.to_numpy()):
        fit = int(round(p * 100))
        if dev_ids[pos] in Recorder.log[fit - 1] or dev_ids[pos] in RecordingSelector.log[fit - 1]:
            bad.append(dev_ids[pos])
    return bad


IM_EXTRA = {"imaging": IMAGING, "image_models": [{"name": "m1"}]}


def test_out_of_fold_prediction_never_comes_from_a_fit_that_saw_the_patient(recorded):
    st = IM.stage_image_models(_state(IM_EXTRA))
    n_dev = len(st.development)
    # fit 1: all development rows (the final model); fits 2..4: the folds' training rows
    assert len(Recorder.log) == 4 and Recorder.log[0] == set(st.development["patient_id"])
    assert RecordingSelector.log == Recorder.log  # selection refitted with the classifier in every fold
    for (train, test), seen in zip(st.folds, Recorder.log[1:]):
        assert seen == set(st.development["patient_id"].iloc[train])
    assert st.dev_probs["m1"].notna().all() and len(st.dev_probs["m1"]) == n_dev
    assert _leaks(st, "m1") == []
    assert st.dev_method["m1"] == "cross-validated"
    # the final model predicts every patient (development rows: apparent)
    np.testing.assert_allclose(st.probs["m1"].to_numpy(), 0.01)


def test_the_leakage_check_detects_a_fold_fitted_on_its_test_rows(recorded):
    st = _state(IM_EXTRA)
    everyone = np.arange(len(st.development))
    st.folds = [(everyone, test) for _, test in st.folds]  # a "fold" whose training part holds its test rows
    st = IM.stage_image_models(st)
    assert len(_leaks(st, "m1")) == len(st.development)


def test_a_failed_fold_is_a_note_not_a_partial_figure(recorded):
    Recorder.fail_on = 3  # the second fold's fit
    st = IM.stage_image_models(_state(IM_EXTRA))
    assert st.dev_probs["m1"].isna().all()
    assert any("m1: the model could not be refitted in cross-validation fold 2 of 3" in n for n in st.notes)
    assert st.probs["m1"].notna().all()


def test_selection_report_is_written(recorded, tmp_path):
    st = _state(IM_EXTRA)
    st.outdir = tmp_path
    st = IM.stage_image_models(st)
    rep = pd.read_csv(tmp_path / "features" / "m1_selection.csv")
    assert rep.to_dict("records") == [{"step": "recorder", "features_in": 5, "features_out": 2}]
    assert st.numbers["features/m1/selected"] == 2.0


# ------------------------------------------------------------------------------------ fusion
def _with_members(extra: dict, seed: int = 0):
    st = _state(extra, seed=seed)
    rng = np.random.default_rng(seed + 1)
    df, dev = st.cohort, st.development
    y = df["_y"].to_numpy()
    for m, s in (("a", 1.0), ("b", 0.5)):
        st.probs[m] = pd.Series(1 / (1 + np.exp(-(s * (2 * y - 1) + rng.normal(size=len(df))))), index=df.index)
        st.dev_probs[m] = pd.Series(1 / (1 + np.exp(-(s * (2 * y[: len(dev)] - 1) + rng.normal(size=len(dev))))),
                                    index=dev.index)
    return st


def test_mean_fusion_averages_probabilities_and_out_of_fold_predictions():
    st = IM.stage_fusion(_with_members({"fusion": {"late": [
        {"name": "avg", "models": ["a", "b"]}, {"name": "w", "models": ["a", "b"], "weights": [3, 1]}]}}))
    pd.testing.assert_series_equal((st.probs["a"] + st.probs["b"]) / 2, st.probs["avg"], check_names=False)
    pd.testing.assert_series_equal((st.dev_probs["a"] + st.dev_probs["b"]) / 2, st.dev_probs["avg"], check_names=False)
    pd.testing.assert_series_equal((3 * st.dev_probs["a"] + st.dev_probs["b"]) / 4, st.dev_probs["w"],
                                   check_names=False)
    assert st.dev_method["avg"] == "cross-validated"


def test_stacking_is_fitted_on_out_of_fold_predictions_and_cross_fitted():
    import statsmodels.api as sm

    st = _with_members({"fusion": {"late": [{"name": "stk", "models": ["a", "b"], "method": "logistic"}]}})
    dev = st.development
    y = dev["_y"].to_numpy()

    def logit(p):
        return np.log(p / (1 - p))

    Z = np.column_stack([logit(st.dev_probs["a"]), logit(st.dev_probs["b"])])
    st = IM.stage_fusion(st)
    # the final stacker: maximum-likelihood logistic regression on the members' out-of-fold logits
    full = sm.Logit(y, sm.add_constant(Z)).fit(disp=0, tol=1e-12)
    ext = st.cohort["cohort_split"] == "external"
    Zext = np.column_stack([logit(st.probs["a"][ext]), logit(st.probs["b"][ext])])
    np.testing.assert_allclose(st.probs["stk"][ext].to_numpy(), full.predict(sm.add_constant(Zext)), atol=1e-8)
    assert st.numbers["fusion_coef/stk/a"] == pytest.approx(full.params[1], abs=1e-6)
    # development figure: refitted on each fold's training part, applied to its held-out part
    expect = np.full(len(y), np.nan)
    for train, test in st.folds:
        fit = sm.Logit(y[train], sm.add_constant(Z[train])).fit(disp=0, tol=1e-12)
        expect[test] = fit.predict(sm.add_constant(Z[test], has_constant="add"))
    np.testing.assert_allclose(st.dev_probs["stk"].to_numpy(), expect, atol=1e-8)
    assert not np.allclose(st.dev_probs["stk"].to_numpy(), st.probs["stk"][dev.index].to_numpy())


def test_fusion_of_an_unknown_model_names_the_available_ones():
    st = _with_members({"fusion": {"late": [{"name": "f", "models": ["a", "dl_mri"]}]}})
    with pytest.raises(ConfigError, match=r"unknown model\(s\) \['dl_mri'\]; the models of this study are a, b"):
        IM.stage_fusion(st)


def test_fusion_of_a_member_without_out_of_fold_predictions_is_announced():
    st = _with_members({"fusion": {"late": [{"name": "avg", "models": ["a", "b"]},
                                            {"name": "stk", "models": ["a", "b"], "method": "logistic"}]}})
    st.dev_probs["b"] = st.dev_probs["b"] * np.nan
    st = IM.stage_fusion(st)
    assert st.dev_probs["avg"].isna().all() and st.probs["avg"].notna().all()
    assert "stk" not in st.probs
    assert any("stk: member(s) b have no out-of-fold" in n and "cannot be fitted" in n for n in st.notes)


# ------------------------------------------------------------------------------------ real images
@pytest.mark.slow
def test_image_model_stage_on_demo_images_refits_in_every_fold(tmp_path):
    """Fast mode on demo images: the image model reads the imaging stage's table and cache (its
    final-layer T2 features are cache hits), and its out-of-fold predictions equal the pipeline
    refitted by hand on each fold's training rows."""
    from sklearn.base import clone

    from her2stats.reporting.study import stage_cohort, stage_crossval, stage_features, stage_models

    cfg = _cfg(imaging={**IMAGING, "fast_patients": 160}, image_models=[
        {"name": "t2_mid", "sequences": ["T2"], "layer": 2,
         "selection": [{"step": "univariate", "alpha": 0.05}, {"step": "correlation", "threshold": 0.8},
                       {"step": "mutual_info", "k": 3}]},
        {"name": "t2_final", "sequences": ["T2"], "penalty": "l2", "classifier": "fold_ensemble",
         "selection": [{"step": "univariate", "alpha": 0.01}, {"step": "chi2", "k": 4}]}],
               fusion={"late": [{"name": "both", "models": ["t2_mid", "t2_final", "deep_score"]}]})
    st = new_state(cfg, fast=True, outdir=tmp_path)
    for stage in (stage_cohort, stage_features, stage_models, stage_crossval, IM.stage_image_models, IM.stage_fusion):
        st = stage(st)
    dev = st.development
    assert st.numbers["features/t2_mid/n_extracted"] == 40  # blocks.2: 40 channels
    assert st.numbers["features/t2_final/cache_hits"] == len(st.cohort)
    for m in ("t2_mid", "t2_final", "both"):
        assert st.probs[m].notna().all() and st.dev_probs[m].notna().all(), (m, st.notes)
    pos = np.flatnonzero((st.cohort["cohort_split"] == "development").to_numpy())
    X = IM._features(st, cfg.image_models[0]).iloc[pos]
    pipe = IM.image_model_pipeline(cfg.image_models[0], "python", cfg.validation.seed, fast=True)
    train, test = st.folds[0]
    refit = clone(pipe).fit(X.iloc[train], dev["_y"].to_numpy()[train])
    np.testing.assert_allclose(st.dev_probs["t2_mid"].iloc[test].to_numpy(),
                               refit.predict_proba(X.iloc[test])[:, 1], atol=1e-12)
    assert (tmp_path / "features" / "t2_mid_selection.csv").is_file()


@pytest.mark.slow
def test_seed001_runs_two_image_models_their_fusion_and_the_delong_tests_fast(tmp_path):
    """seed001 end to end (BUSI, fast): the intermediate-layer image model and the logistic fusion
    appear in numbers.json, the performance and DeLong tables (the three pairs of the three models,
    in every cohort), the out-of-fold predictions and the methods."""
    import json
    from pathlib import Path

    from her2stats.reporting.study import run_study

    seed001 = Path(__file__).resolve().parents[2] / "reports" / "seeds" / "seed001.yaml"
    res = run_study(seed001, fast=True, outdir=tmp_path / "s1")
    nums = json.loads((tmp_path / "s1" / "numbers.json").read_text())
    three = ("deep_score", "dl_us_mid", "dl_fusion")
    for m in three:
        for c in ("development", "internal"):
            assert np.isfinite(nums[f"auc/{m}/{c}"]), (m, c)
    pairs = {k.split("/")[1] for k in nums if k.startswith("delong_p/") and k.endswith("/internal")}
    # the three models' pairs, and the trained network (networks: cnn_us) against each of them
    assert pairs == {"deep_score~dl_us_mid", "deep_score~dl_fusion", "dl_us_mid~dl_fusion",
                     "deep_score~cnn_us", "dl_us_mid~cnn_us", "cnn_us~dl_fusion"}
    cv = pd.read_csv(tmp_path / "s1" / "predictions_cv.csv")
    assert set(three) <= set(cv["model"])
    assert (tmp_path / "s1" / "features" / "dl_us_mid_selection.csv").is_file()
    assert "DL fusion" in res.tables["delong"].to_frame().to_string()  # the config's label: of dl_fusion
    assert "Late fusion" in res.methods and "Additional image models" in res.methods


# ------------------------------------------------------------------------------------ empty selections
class KeepsNothingWhen(TransformerMixin, BaseEstimator):
    """A selection step that keeps no feature when ``rule(rows it is fitted on)`` holds, the first
    two features otherwise."""

    def __init__(self, rule=None):
        self.rule = rule

    def fit(self, X, y=None):
        self.keep_ = [] if self.rule(set(X.index)) else list(X.columns[:2])
        return self

    def transform(self, X):
        return X[self.keep_]


@pytest.fixture
def empty_when(monkeypatch):
    """Image models whose selection keeps nothing when the rule set by the test holds (informative
    features: the first one carries the outcome)."""
    from her2stats.models import DeepScore

    rule = {"f": lambda rows: True}

    def features(state, spec):
        ids = state.cohort["patient_id"].astype(str)
        rng = np.random.default_rng(0)
        X = pd.DataFrame(rng.normal(size=(len(ids), 5)), index=ids.to_numpy(), columns=[f"f{j}" for j in range(5)])
        X["f0"] += 1.5 * state.cohort["_y"].to_numpy()
        return X

    monkeypatch.setattr(IM, "_features", features)
    monkeypatch.setattr(IM, "image_model_pipeline", lambda spec, engine, seed, fast=False: Pipeline(
        [("sel", IM.EmptySafe(KeepsNothingWhen(lambda rows: rule["f"](rows)))),
         ("clf", DeepScore(column=spec.name))]))
    return rule


EMPTY_EXTRA = {"imaging": IMAGING, "image_models": [{"name": "m1"}, {"name": "m2"}],
               "fusion": {"late": [{"name": "both", "models": ["m1", "m2"]}, {"name": "m2_and_a", "models": ["m2", "a"]}]},
               "subgroups": {"variables": ["hr"], "models": ["m1", "both"]}}


def test_a_model_whose_selection_keeps_nothing_is_left_out_with_a_note(empty_when, tmp_path):
    """The selection keeps no feature on the development cohort: the model has no prediction to
    evaluate (a constant), so it is left out -- no probability, no out-of-fold prediction, no figure;
    the note and the methods say so -- and a fusion naming it is skipped with a note."""
    empty_when["f"] = lambda rows: True
    st = _with_members(EMPTY_EXTRA)
    st.outdir = tmp_path
    st = IM.stage_fusion(IM.stage_image_models(st))
    for m in ("m1", "m2", "both", "m2_and_a"):
        assert m not in st.probs and m not in st.dev_probs and m in st.left_out, m
    assert st.numbers["features/m1/selected"] == 0.0
    assert not any(k.split("/")[1:2] == ["m1"] for k in st.numbers if not k.startswith("features/"))
    assert any(n.startswith("m1: the selection (sel) kept no feature on the development cohort") and
               "left out of the evaluation" in n for n in st.notes)
    assert any(n.startswith("both: the fusion is not fitted: its member(s) m1, m2 are left out")
               for n in st.notes)
    assert any(n.startswith("m2_and_a: the fusion is not fitted: its member(s) m2 are left out") for n in st.notes)
    assert (tmp_path / "features" / "m1_selection.csv").is_file()
    assert "m1 (" in st.results["image_models"].methods and "kept no feature; left out" in \
        st.results["image_models"].methods
    assert "both: not fitted" in st.results["fusion"].methods


def test_a_fold_whose_selection_keeps_nothing_predicts_its_training_prevalence(empty_when):
    """Only the folds whose training part holds patient P000 keep nothing: the model is evaluated;
    those folds' held-out patients get the fold's training prevalence (intercept-only model), the
    other fold's a real prediction, and the note names the folds."""
    empty_when["f"] = lambda rows: "P000" in rows and len(rows) < 90
    st = IM.stage_image_models(_state({"imaging": IMAGING, "image_models": [{"name": "m1"}]}))
    assert "m1" in st.probs and "m1" not in st.left_out
    y = st.development["_y"].to_numpy()
    oof = st.dev_probs["m1"].to_numpy()
    empty = [i for i, (train, _) in enumerate(st.folds, start=1) if 0 in train]
    assert len(empty) == 2
    for i, (train, test) in enumerate(st.folds, start=1):
        if i in empty:
            np.testing.assert_allclose(oof[test], y[train].mean(), atol=1e-8)
        else:
            assert np.ptp(oof[test]) > 0
    assert st.numbers["features/m1/empty_folds"] == 2.0
    assert any(f"in cross-validation fold(s) {empty[0]}, {empty[1]} of 3 the selection kept no feature" in n
               and "intercept-only" in n for n in st.notes)


def test_every_fold_keeping_nothing_leaves_no_development_figure(empty_when):
    """The development fit keeps features but no fold does: every out-of-fold prediction would be a
    training prevalence (constant when the folds' prevalences agree) -- no honest development
    figure, said in a note; the test cohorts keep the development fit's predictions."""
    empty_when["f"] = lambda rows: len(rows) < 90
    st = _state({"imaging": IMAGING, "image_models": [{"name": "m1"}]})
    n = len(st.development)
    st.cohort.loc[: n - 1, "_y"] = np.r_[np.zeros(n // 2, int), np.ones(n - n // 2, int)]
    y = st.development["_y"].to_numpy()
    st.folds = list(StratifiedKFold(3, shuffle=True, random_state=1).split(np.zeros(n), y))
    st = IM.stage_image_models(st)
    assert st.probs["m1"].notna().all() and st.dev_probs["m1"].isna().all()
    assert any("kept no feature on the training patients of any cross-validation fold" in n for n in st.notes)


def test_subgroups_and_predicted_survival_skip_a_left_out_model_with_a_note(monkeypatch):
    """subgroups.models and survival.predicted_by naming a left-out model: the subgroup analysis
    covers the other models (or is not run), the survival by predicted class is not run; both say so."""
    from her2stats.reporting import study as S

    extra = {"imaging": IMAGING, "image_models": [{"name": "m1"}],
             "subgroups": {"variables": ["hr"], "models": ["m1", "a"]}}
    st = _with_members(extra)
    st.cohort["hr"] = np.where(np.arange(len(st.cohort)) % 2 == 0, "positive", "negative")
    st.leave_out("m1", "the selection kept no feature on the development cohort")
    st = S.stage_centres(st)
    assert any(n.startswith("Subgroups: m1 left out") and "covers a only" in n for n in st.notes)
    assert any(k.startswith("subgroup_auc/a/") for k in st.numbers)
    assert not any("/m1/" in k for k in st.numbers)

    st = _with_members({**extra, "subgroups": {"variables": ["hr"], "models": ["m1"]}})
    st.cohort["hr"] = "positive"
    st.leave_out("m1", "the selection kept no feature on the development cohort")
    st = S.stage_centres(st)
    assert any("no subgroup analysis is reported" in n for n in st.notes)
    assert not any(k.startswith("subgroup") for k in st.numbers)

    surv = {"duration": "rfs_time", "event": "rfs_event", "group": "hr", "predicted_by": "m1"}
    st = _with_members({"imaging": IMAGING, "image_models": [{"name": "m1"}], "survival": surv})
    st.leave_out("m1", "the selection kept no feature on the development cohort")
    monkeypatch.setattr(S, "_survival", lambda *a, **k: None)
    monkeypatch.setattr(S, "_survival_predicted", lambda state: pytest.fail("predicted survival ran"))
    st = S.stage_survival(st)
    assert any("survival.predicted_by names m1, which is left out" in n for n in st.notes)


# ------------------------------------------------------------------------------------ end to end: empty models
EMPTY_STUDY = {
    **BASE,
    "imaging": {**IMAGING, "fast_patients": 160},
    "clinical": {"covariates": ["age", "tumor_size_mm"]},
    # final T2 features -> LASSO (lambda.1se) keeps nothing on the 160-patient fast sample's development part
    "image_models": [{"name": "empty_im", "sequences": ["T2"], "selection": [{"step": "lasso", "cv": 3}]}],
    "fusion": {"late": [{"name": "fused", "models": ["empty_im", "deep_score"]}]},
    "subgroups": {"variables": ["hr"], "models": ["empty_im", "fused", "deep_score"]},
    "survival": {"duration": "rfs_time", "event": "rfs_event", "group": "hr", "covariates": ["age"],
                 "stepwise": None, "predicted_by": "fused"},
}


def _left_out_keys(nums: dict, names) -> list[str]:
    """numbers.json keys that hold a figure of one of ``names`` (feature counts are not figures)."""
    return [k for k in nums if not k.startswith("features/")
            and any(n in k.split("/")[1].split("~") for n in names if k.count("/") >= 1)]


@pytest.mark.slow
@pytest.mark.deep
def test_a_study_whose_image_model_keeps_nothing_runs_to_the_end(tmp_path):
    """Fast run: the image model's LASSO keeps no feature; the study runs to the end, the model and
    the fusion naming it are left out (notes, methods), no figure of them is in numbers.json, the
    subgroup analysis covers the other model, the predicted-status survival naming the fusion is
    skipped; the Deep Score, clinical and combined models are evaluated as usual."""
    import json

    from her2stats.reporting.study import run_study

    res = run_study(EMPTY_STUDY, fast=True, outdir=tmp_path / "s")
    nums = json.loads((tmp_path / "s" / "numbers.json").read_text())
    assert nums["features/empty_im/selected"] == 0
    assert _left_out_keys(nums, ["empty_im", "fused"]) == []
    assert set(res.results["left_out"]) == {"empty_im", "fused"}
    for m in ("clinical", "deep_score", "combined"):
        assert 0 <= nums[f"auc/{m}/external"] <= 1, m
    assert not (set(res.predictions["model"]) & {"empty_im", "fused"})
    methods = (tmp_path / "s" / "methods.md").read_text()
    assert "Models left out of the evaluation" in methods and "empty_im: the selection (lasso) kept no feature" \
        in methods
    assert "fused: not fitted (member(s) empty_im left out)" in methods
    assert "Subgroups: empty_im, fused left out of the evaluation" in methods and "covers deep_score only" in methods
    assert "survival.predicted_by names fused, which is left out" in methods
    assert any(k.startswith("subgroup_auc/deep_score/") for k in nums)


@pytest.mark.slow
@pytest.mark.deep
def test_a_study_whose_deep_score_keeps_nothing_runs_to_the_end(tmp_path):
    """Fast run on T2 alone: the imaging LASSO keeps no feature, so the Deep Score and the combined
    model are left out (notes, methods, no figure); the fusion naming the Deep Score is skipped, the
    subgroups cover the image model, the predicted-status survival and the Deep Score's whole-pipeline
    validation are skipped with notes; the clinical model, the image model and the zoo run."""
    import json

    from her2stats.reporting.study import run_study

    cfg = {**EMPTY_STUDY,
           "imaging": {**IMAGING, "sequences": ["T2"], "fast_patients": 160, "univariate_alpha": 0.5,
                       "correlation_threshold": 0.9},
           "image_models": [{"name": "im_ok", "sequences": ["T2"], "penalty": "l2",
                             "selection": [{"step": "univariate", "alpha": 0.01}, {"step": "chi2", "k": 4}]}],
           "fusion": {"late": [{"name": "fused", "models": ["im_ok", "deep_score"]}]},
           "subgroups": {"variables": ["hr"], "models": ["deep_score", "im_ok"]},
           "survival": {**EMPTY_STUDY["survival"], "predicted_by": "deep_score"},
           "zoo": {"models": ["lr"]},
           "pipeline_validation": {"fast_n_boot": 2}}
    res = run_study(cfg, fast=True, outdir=tmp_path / "s")
    nums = json.loads((tmp_path / "s" / "numbers.json").read_text())
    assert nums["features/selected"] == 0
    assert set(res.results["left_out"]) == {"deep_score", "combined", "fused"}
    assert _left_out_keys(nums, ["deep_score", "combined", "fused"]) == []
    for m in ("clinical", "im_ok", "lr"):
        assert 0 <= nums[f"auc/{m}/external"] <= 1, m
    methods = (tmp_path / "s" / "methods.md").read_text()
    assert "LASSO kept no image feature" in methods
    assert "Deep Score: LASSO kept no image feature on the development cohort" in methods
    assert "covers im_ok only" in methods
    assert "survival.predicted_by names deep_score, which is left out" in methods
    assert "Whole-pipeline validation: the Deep Score is left out" in methods


def test_a_clinical_selection_that_keeps_nothing_is_a_clear_error_before_the_zoo():
    """zoo.features: selected on a clinical selection rule that keeps nothing on the development
    cohort: the selection stage stops with an error naming the rule and the fix, before any model
    is fitted (never a zoo on no column, never a crash in the evaluation)."""
    from her2stats.reporting.study import stage_cohort, stage_features, stage_selection

    cfg = _cfg(clinical={"covariates": ["age", "ki67"], "selection": "univariate", "univariate_p": 1e-12},
               zoo={"models": ["lr"], "features": "selected"})
    st = stage_features(stage_cohort(new_state(cfg, fast=True)))
    with pytest.raises(InputError, match=r"the univariable screen \(p < 1e-12\) kept no clinical covariate; use "
                                         "clinical.selection: none or raise clinical.univariate_p"):
        stage_selection(st)


@pytest.mark.parametrize("fast", [False, True])
def test_fast_mode_caps_slices_all_at_the_largest_slice_and_its_neighbours(fast):
    """``slices: all`` reads every slice the mask touches in a full run; a fast run (a smoke test whose
    cold-cache time extraction dominates) reads the largest-mask slice and FAST_SLICES_K
    neighbours on each side, said once in the notes; other slice settings are unchanged."""
    from types import SimpleNamespace

    from her2stats.features import DeepFeatureExtractor
    from her2stats.reporting.config import ImageModelConfig

    base = DeepFeatureExtractor("efficientnet_lite0", pretrained=False, progress=False)
    state = SimpleNamespace(deep={"extractor": base}, fast=fast, notes=[])
    spec = ImageModelConfig(name="avg", backbone="efficientnet_lite0", layer=3, slices="all", aggregate="mean")
    for _ in range(2):  # the model's second extraction (an icc step's second segmentation) adds no note
        fx = IM._deep_extractor(state, spec)
    params = fx.get_params(deep=False)
    if fast:
        assert (params["slices"], params["k"]) == ("largest", IM.FAST_SLICES_K) and params["aggregate"] == "mean"
        assert len(state.notes) == 1 and "fast mode averages its features over the largest-mask slice" in state.notes[0]
    else:
        assert (params["slices"], params["k"]) == ("all", 0) and not state.notes
    other = ImageModelConfig(name="c", backbone="efficientnet_lite0", slices="center", k=2)
    p2 = IM._deep_extractor(state, other).get_params(deep=False)
    assert (p2["slices"], p2["k"]) == ("center", 2)
