"""The seed study configs (reports/seeds/seed000-004.yaml, seed001_mri.yaml) and the seed coverage table
(docs/seed_coverage.md): every config validates against the schema and names only columns its
data have; every config key and public function the table or a config header names exists; the
table's counts are its rows; and the cheapest config (seed002, clinical + zoo, no images) runs end
to end with ``her2stats report``'s runner in fast mode."""
from __future__ import annotations

import importlib
import re
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from her2stats.reporting.config import StudyConfig, _submodel, check_columns, load_config

REPO = Path(__file__).resolve().parents[2]
SEEDS = REPO / "reports" / "seeds"
COVERAGE = REPO / "docs" / "seed_coverage.md"
SEED_FILES = {**{f"seed00{i}": SEEDS / f"seed00{i}.yaml" for i in range(5)},
              "seed001_mri": SEEDS / "seed001_mri.yaml"}  # seed 001's MRI arm (seed001.yaml: its ultrasound arm)
PAPERS = {"seed000": "000_4f412d2ad1cc7f63", "seed001": "001_2cf1bf6205c200af", "seed002": "002_176959aa879c17ed",
          "seed003": "003_8417716d12e0720b", "seed004": "004_1888ba260a759063", "seed001_mri": "001_2cf1bf6205c200af"}
STATUSES = ("runs", "deviation", "function", "not run")


def _resolve_function(dotted: str):
    """``her2stats.name`` (lazy top level) or ``her2stats.module.name``: the object, or raise."""
    parts = dotted.split(".")
    assert parts[0] == "her2stats", dotted
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


def _resolve_key(path: str) -> None:
    """A config key path ``section.key`` (or ``section``) must be a field of the schema."""
    model = StudyConfig
    for part in path.split("."):
        assert model is not None and part in model.model_fields, f"{path}: no config key {part!r}"
        model = _submodel(model.model_fields[part].annotation)


def _coverage_rows() -> list[dict]:
    rows = []
    for line in COVERAGE.read_text(encoding="utf-8").splitlines():
        m = re.match(r"\| (\d\.\d+) \|(.*)\|(.*)\|(.*)\|(.*)\|$", line)
        if m:
            rows.append({"id": m[1], "step": m[2].strip(), "runs_by": m[3].strip(), "status": m[4].strip(),
                         "note": m[5].strip()})
    return rows


def _names(cell: str) -> tuple[list[str], list[str]]:
    """(config key paths, her2stats functions) written in backticks in a table cell or comment."""
    keys, funcs = [], []
    for tok in re.findall(r"`([^`]+)`", cell):
        tok = tok.split(":")[0].strip()
        if tok.startswith("her2stats."):
            funcs.append(tok)
        elif re.fullmatch(r"[a-z_0-9]+(\.[a-z_0-9]+)*", tok):
            keys.append(tok)
    return keys, funcs


# ------------------------------------------------------------------------------------ configs
@pytest.mark.parametrize("seed", sorted(SEED_FILES))
def test_seed_config_validates_and_documents_itself(seed):
    path = SEED_FILES[seed]
    cfg = load_config(path)
    assert cfg.name.startswith(seed)
    header = "\n".join(line for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("#"))
    assert PAPERS[seed] in header, "the header names the seed paper's file"
    assert "Runs here on:" in header and "Deviations (and why):" in header
    assert re.search(r"demo cohort|BUSI", header)
    # every public function the header points to exists
    for dotted in sorted(set(re.findall(r"her2stats\.[A-Za-z_][\w.]*[A-Za-z_0-9]", header))):
        if dotted.startswith("her2stats.data.load_demo") or "/" in dotted:
            continue
        _resolve_function(dotted)
    for name in re.findall(r"\b([A-Z][A-Za-z]+(?:Filter|Extractor|Classifier|Selector))\b", header):
        _resolve_function(f"her2stats.{name}")


@pytest.mark.parametrize("seed", sorted(SEED_FILES))
def test_seed_config_columns_exist_in_its_data(seed):
    """The columns a config names are in the data it runs on (the run's first check, done here
    without running): the demo cohort or the BUSI cohort table beside the configs."""
    cfg = load_config(SEED_FILES[seed])
    if cfg.cohort.source == "demo":
        from her2stats.data import load_demo

        data = load_demo()
    else:
        data = pd.read_csv(cfg.resolve(cfg.cohort.path))
    check_columns(cfg, data.columns)
    for col, values in cfg.cohort.subset.items():
        assert set(map(str, values)) <= set(data[col].astype(str)), col


@pytest.mark.parametrize("seed,override", [
    ("seed002", {"cohort": {"outcome": "her2_class", "subset": {"her2_class": ["zero", "low"]}}}),
    ("seed004", {"cohort": {"outcome": "her2_positive", "subset": {},
                            "exclude_predictors": ["her2_status", "her2_class", "her2_ihc", "her2_ish", "subtype"]},
                 "table1": {"group": "her2_status"}, "survival": {"group": "her2_status"}}),
])
def test_second_question_of_a_seed_is_the_same_config_with_another_outcome(seed, override):
    from her2stats.data import load_demo

    cfg = load_config(SEED_FILES[seed], overrides=override)
    check_columns(cfg, load_demo().columns)


def test_busi_tables_point_at_the_repository_images(data_dir):
    cohort = pd.read_csv(SEEDS / "busi_cohort.csv")
    images = pd.read_csv(SEEDS / "busi_images.csv")
    assert len(cohort) == 120 and int(cohort["malignant"].sum()) == 60
    assert cohort["patient_id"].is_unique and set(images["patient_id"]) == set(cohort["patient_id"])
    assert (cohort["malignant"] == (cohort["pathology"] == "malignant")).all()
    for p in images["image_path"]:
        f = (SEEDS / p).resolve()
        assert f.is_file() and f.parent.parent == (data_dir / "busi").resolve(), p
        # the label is the folder the image comes from
        pid = images.loc[images["image_path"] == p, "patient_id"].iloc[0]
        assert f.parent.name == cohort.set_index("patient_id").loc[pid, "pathology"]


# ------------------------------------------------------------------------------------ coverage table
def test_coverage_table_names_only_existing_keys_and_functions():
    rows = _coverage_rows()
    assert len(rows) >= 86
    assert len({r["id"] for r in rows}) == len(rows)
    for seed in range(5):
        assert any(r["id"].startswith(f"{seed}.") for r in rows), f"seed {seed} has no rows"
    for r in rows:
        assert r["status"] in STATUSES, r
        keys, funcs = _names(r["runs_by"])
        for k in keys:
            _resolve_key(k)
        for f in funcs:
            _resolve_function(f)
        if r["status"] in ("runs", "deviation"):
            assert keys or funcs, f"{r['id']}: a step that runs names what runs it"
        if r["status"] == "function":
            assert funcs, f"{r['id']}: a 'function' row names the function"
        if r["status"] in ("deviation", "not run"):
            assert r["note"], f"{r['id']}: a deviation or a step that does not run gives its reason"


def test_coverage_counts_are_the_rows():
    rows = _coverage_rows()
    counts = Counter(r["status"] for r in rows)
    text = COVERAGE.read_text(encoding="utf-8")
    for status in STATUSES:
        m = re.search(rf"^\| {status} \| (\d+) \|$", text, flags=re.M)
        assert m and int(m[1]) == counts[status], status
    assert re.search(rf"\*\*total\*\* \| \*\*{len(rows)}\*\*", text)
    ran = counts["runs"] + counts["deviation"]
    assert (f"So {ran} of {len(rows)} steps run from a study config ({counts['deviation']} of them with a deviation); "
            f"{counts['function']} have a public") in " ".join(text.split())
    n_not = counts["not run"]
    assert f"; {n_not} {'does' if n_not == 1 else 'do'} not run at all" in " ".join(text.split())  # verb agrees
    assert "docs/seed_coverage.md" in (REPO / "README.md").read_text(encoding="utf-8")


def test_report_help_lists_the_steps():
    from typer.testing import CliRunner

    from her2stats.cli import app

    res = CliRunner().invoke(app, ["report", "--help"], terminal_width=200)
    out = res.output
    assert res.exit_code == 0 and "internal error" not in out  # --help is not an error
    for step in ("cohort", "Table 1", "imaging", "harmonization", "clinical", "zoo", "validation", "survival",
                 "networks", "reports/seeds"):
        assert step in out, step


# ------------------------------------------------------------------------------------ end to end
@pytest.mark.slow
@pytest.mark.r
def test_seed002_runs_end_to_end_fast(tmp_path):
    """seed002 (no images) through the study runner: the paper's Table 1 (KS choice, BH-FDR),
    LASSO -> stepwise clinical model, nomogram, the five-model zoo, three cohorts."""
    import matplotlib

    matplotlib.use("Agg")
    from her2stats.reporting.study import run_study

    res = run_study(SEED_FILES["seed002"], fast=True, outdir=tmp_path / "seed002")
    assert set(res.cohort["cohort_split"]) == {"development", "internal", "external"}
    assert int(res.flow["n_remaining"].iloc[0]) - int(res.flow["n_excluded"].sum()) == len(res.cohort)
    cfg = res.config
    chosen = res.results["clinical_covariates"]
    assert chosen and set(chosen) <= set(cfg.clinical.covariates)
    assert res.numbers["clinical/selected_n"] == len(chosen)
    assert {"clinical", "dt", "svm", "knn", "mlp", "lr"} <= set(res.predictions["model"])
    for c in ("development", "internal", "external"):
        for m in ("clinical", "dt", "svm", "knn", "mlp", "lr"):
            assert 0.0 <= res.numbers[f"auc/{m}/{c}"] <= 1.0
    t1 = res.results["table1"].tests
    assert t1["p_adjusted"].notna().any() and (t1["p_adjusted"].dropna() >= t1["p_value"][t1["p_adjusted"].notna()]).all()
    for name in ("table1", "table1_by_cohort", "performance", "delong", "calibration", "or_table", "flow", "agreement"):
        assert name in res.tables, name
    # the zoo on the selected covariates: re-selected on each outer training fold, refit on the development choice
    fold_covs = res.results["zoo_fold_covariates"]
    assert len(fold_covs) == 3 and all(set(c) <= set(cfg.clinical.covariates) for c in fold_covs.values())
    assert res.numbers["zoo_features_n"] == res.results["zoo_X"].shape[1]
    for v in ("tumor_size_mm", "adc"):
        assert 0.8 < res.numbers[f"agreement/{v}/icc"] <= 1.0
    for v in ("birads_margin", "enhancement_pattern", "t2_signal"):
        assert 0.5 < res.numbers[f"agreement/{v}/kappa"] < 1.0
    for name in ("nomogram", "shap", "roc_external", "dca_external", "calibration_clinical"):
        assert res.figures[name].is_file(), name
    # Table 3's reader-study design on the stand-in Van Dyke data: the published OR analysis (F 4.456)
    assert "reader_study" in res.tables
    assert abs(res.results["reader_study"]["random"].statistic - 4.456) < 5e-4
    assert abs(res.numbers["mrmc_statistic"] - 4.456) < 5e-4
    assert (res.outdir / "manifest.json").is_file()


@pytest.mark.slow
@pytest.mark.r
@pytest.mark.deep
def test_seed003_pca_then_selection_runs_end_to_end_fast(tmp_path):
    """seed003's image path: PCA to 64 components, then the t-test, correlation and LASSO steps on
    the components (the runner's feature-count report once fed every step the raw features, so
    any step after PCA failed)."""
    pytest.importorskip("torch")
    import matplotlib

    matplotlib.use("Agg")
    from her2stats.reporting.study import run_study

    res = run_study(SEED_FILES["seed003"], fast=True, outdir=tmp_path / "seed003")
    rep = res.results["feature_selection"].set_index("step")
    assert list(rep.index) == ["pca", "univariate", "correlation", "lasso"]
    assert rep.loc["pca", "features_out"] == 64 == rep.loc["univariate", "features_in"]
    assert (rep["features_out"] <= rep["features_in"]).all()
    assert res.numbers["features/after_lasso"] == rep.loc["lasso", "features_out"]
    assert {"clinical", "deep_score", "combined", "cnn", "lr", "rf", "et", "xgb", "lgbm"} <= set(res.predictions["model"])
    if "rad" not in res.results.get("left_out", {}):  # pyradiomics installed (make install builds it)
        assert {"rad", "dlr"} <= set(res.predictions["model"])
        # DLR: PCA of the deep block (1,280 -> 64), the 107 radiomic features passed through to the t-test
        dlr = res.results["image_models"].reports["dlr"].set_index("step")
        assert dlr.loc["pca", "features_in"] == 1280 + 107 and dlr.loc["pca", "features_out"] == 64 + 107
        assert res.numbers["features/rad/n_extracted"] == 107
    for name in ("nomogram", "lasso", "roc_internal", "dca_internal"):
        assert res.figures[name].is_file(), name


# ------------------------------------------------------------------------------------ clinical selection rules
def _dev_demo():
    from her2stats.data import load_demo

    d = load_demo()
    return d.assign(_y=d["her2_positive"].astype(int))


@pytest.mark.parametrize("engine", ["python", pytest.param("r", marks=pytest.mark.r)])
def test_univariate_screen_is_the_likelihood_ratio_test_of_each_covariate(engine):
    """seed 000's rule: keep covariates whose univariable p < 0.05; the p-value is the likelihood-
    ratio test of the covariate alone (all its levels), recomputed here with statsmodels."""
    import numpy as np
    import statsmodels.api as sm
    from scipy import stats

    from her2stats.reporting.config import ClinicalModelConfig
    from her2stats.reporting.clinical_selection import select_clinical

    d = _dev_demo()
    covs = ["age", "menopause", "grade", "enhancement_pattern", "t_stage"]
    numbers, notes = {}, []
    rule = ClinicalModelConfig(covariates=covs, selection="univariate", univariate_p=0.05)
    kept = select_clinical(d, "her2_positive", covs, "univariate", engine, 0, rule=rule, numbers=numbers, notes=notes)
    expected = []
    for c in covs:
        X = sm.add_constant(pd.get_dummies(d[[c]], drop_first=True, dtype=float))
        fit = sm.Logit(d["_y"].to_numpy(), X).fit(disp=0)
        p = stats.chi2.sf(2 * (fit.llf - fit.llnull), X.shape[1] - 1)
        assert numbers[f"clinical/univariate_p/{c}"] == pytest.approx(p, rel=1e-6, abs=1e-12), c
        if p < 0.05:
            expected.append(c)
    assert kept == expected and 0 < len(kept) < len(covs)  # the screen both keeps and drops here
    assert np.isclose(numbers["clinical/selected_n"], len(kept))


def test_p_value_filters_around_stepwise_keep_only_significant_covariates():
    """seed 002's rule: LASSO -> multivariable p < 0.1 -> stepwise -> p < 0.05 in the final model."""
    from her2stats.reporting.config import ClinicalModelConfig
    from her2stats.reporting.clinical_selection import select_clinical
    from her2stats.stats.logistic import logistic_table

    d = _dev_demo()
    covs = ["age", "menopause", "n_stage", "t_stage", "grade", "er", "pr", "ki67", "enhancement_pattern"]
    plain = select_clinical(d, "her2_positive", covs, "lasso+stepwise", "python", 0)
    rule = ClinicalModelConfig(covariates=covs, selection="lasso+stepwise", prefilter_p=0.1, final_p=0.05)
    notes: list = []
    kept = select_clinical(d, "her2_positive", covs, "lasso+stepwise", "python", 0, rule=rule, notes=notes)
    assert kept and set(kept) <= set(covs)
    assert any(n.startswith("Before stepwise selection") for n in notes)
    assert any(n.startswith("After stepwise selection") for n in notes)
    final = logistic_table(d, "_y", kept, univariable=False, engine="python").frame
    assert (final.groupby("variable")["multi_p"].min() < 0.05).all()
    assert len(kept) <= len(plain) + 1  # the filters only remove (stepwise may re-enter one fewer/more)


@pytest.mark.parametrize("clinical,msg", [
    ({"selection": "stepwise", "univariate_p": 0.1}, "univariate_p is the threshold of selection: univariate"),
    ({"selection": "lasso", "final_p": 0.05}, "use them with a selection that contains stepwise"),
    ({"selection": "univariate", "univariate_p": 0}, "greater than 0"),
    ({"selection": "univariat"}, "did you mean 'univariate'"),
])
def test_clinical_selection_keys_refuse_what_they_cannot_do(clinical, msg):
    from her2stats.errors import ConfigError

    with pytest.raises(ConfigError, match=msg):
        load_config({"name": "x", "clinical": {"covariates": ["age"], **clinical}})


@pytest.mark.parametrize("extra,msg", [
    ({"survival": {"duration": "rfs_time", "event": "rfs_event", "predicted_by": "deep_scor"}},
     "did you mean 'deep_score'"),
    ({"survival": {"duration": "rfs_time", "event": "rfs_event", "predicted_by": "clinical"}},
     "is not a model of this study"),
    ({"splits": {"by": "random", "internal_fraction": 0.0},
      "survival": {"duration": "rfs_time", "event": "rfs_event", "predicted_by": "deep_score"}},
     "development predictions are in-sample"),
])
def test_survival_predicted_by_names_a_model_with_out_of_sample_predictions(extra, msg):
    from her2stats.errors import ConfigError

    base = {"name": "x", "imaging": {"images": "demo"}, "splits": {"by": "random", "internal_fraction": 0.3}}
    with pytest.raises(ConfigError, match=msg):
        load_config({**base, **extra})


@pytest.mark.slow
def test_survival_by_predicted_class_uses_test_cohorts_and_the_development_cut_off(tmp_path):
    """seed 004's survival analysis by predicted status, recomputed by hand: the class is the
    model's probability at its development Youden cut-off, only internal/external patients enter,
    and the log-rank test, Cox HRs and C-index are those of kaplan_meier / cox on those rows."""
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    from her2stats.reporting.study import run_study
    from her2stats.stats.survival import cox, kaplan_meier

    cfg = {"name": "predicted_survival", "engine": "python",
           "cohort": {"source": "demo", "outcome": "her2_positive",
                      "exclude_predictors": ["her2_status", "her2_class", "her2_ihc", "her2_ish", "subtype"]},
           "splits": {"by": "center", "train": ["A", "B"], "external": ["C"], "internal_fraction": 0.3, "seed": 7},
           "clinical": {"covariates": ["age", "er", "pr", "grade", "ki67"]},
           "survival": {"duration": "rfs_time", "event": "rfs_event", "group": "her2_status", "covariates": ["age"],
                        "stepwise": None, "predicted_by": "clinical"},
           "validation": {"n_boot": 20, "calibrate_n_boot": 20},
           "report": {"figure_formats": ["png"], "gradcam_patients": 0}}
    res = run_study(cfg, fast=True, outdir=tmp_path / "out")
    df = res.cohort
    test = df[df["cohort_split"] != "development"]
    p = res.predictions[res.predictions["model"] == "clinical"].set_index("patient_id")["prob"]
    thr = res.numbers["threshold/clinical"]
    assert res.numbers["predicted/threshold"] == thr
    pred = np.where(p.loc[test["patient_id"].astype(str)].to_numpy() >= thr, "predicted 1", "predicted 0")
    part = test.assign(pg=pd.Categorical(pred, categories=["predicted 0", "predicted 1"]),
                       pp=p.loc[test["patient_id"].astype(str)].to_numpy())
    km = kaplan_meier(part, "rfs_time", "rfs_event", group="pg", engine="python")
    assert res.numbers["predicted/survival/n_km"] == len(test) < len(df)
    assert res.numbers["predicted/logrank_p"] == pytest.approx(km.logrank.p_value, rel=1e-9)
    cr = cox(part, "rfs_time", "rfs_event", ["pg", "pp", "age"], stepwise=None, engine="python")
    hr = dict(zip(cr.summary["term"], cr.summary["HR"]))
    assert res.numbers["predicted/hr/predicted_clinical_prob"] == pytest.approx(hr["pp"], rel=1e-6)
    assert res.numbers["predicted/cox_c"] == pytest.approx(cr.concordance.concordance, rel=1e-9)
    assert "cox_predicted" in res.tables and res.figures["km_predicted"].is_file()
    assert "out of sample" in res.methods


@pytest.mark.slow
def test_a_model_without_a_hosmer_lemeshow_test_is_reported_not_fatal(tmp_path):
    """A clinical model on one binary covariate has two risk levels: no Hosmer-Lemeshow test exists
    (df = groups - 2); the study says so in its notes and calibration table instead of stopping
    (seed 000's univariable screen can leave such a model on a small cohort)."""
    import math

    import matplotlib

    matplotlib.use("Agg")
    from her2stats.reporting.study import run_study

    cfg = {"name": "two_risks", "engine": "python",
           "cohort": {"source": "demo", "outcome": "her2_positive",
                      "exclude_predictors": ["her2_status", "her2_class", "her2_ihc", "her2_ish", "subtype"]},
           "splits": {"by": "random", "internal_fraction": 0.3, "seed": 3},
           "clinical": {"covariates": ["er"]},
           "validation": {"n_boot": 10, "calibrate_n_boot": 10},
           "report": {"figure_formats": ["png"], "gradcam_patients": 0}}
    res = run_study(cfg, fast=True, outdir=tmp_path / "out")
    # the in-sample predictions take two values (no test); the development figure is out-of-fold,
    # where the fold models give more distinct risks and the test exists
    assert math.isnan(res.numbers["hl_p_apparent/clinical/development"])
    assert "Hosmer-Lemeshow test not computed" in res.methods and "distinct groups" in res.methods
    assert res.numbers["auc/clinical/internal"] == res.numbers["auc/clinical/internal"]  # the rest is reported
    assert "calibration" in res.tables
