"""The R bridge: lazy start, conversion round trips, error/warning translation, environment."""
from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import warnings

import numpy as np
import pandas as pd
import pytest

from her2stats.errors import InputError, RError, RUnavailableError, RWarning

pytestmark = pytest.mark.r


@pytest.fixture(scope="module")
def rb():
    from her2stats import r_bridge

    r_bridge.ensure_started()
    r_bridge.r_eval("h2s_test_identity <- function(x) x")
    return r_bridge


def test_import_does_not_start_r():
    code = textwrap.dedent(
        """
        import sys, her2stats
        from her2stats import r_bridge
        her2stats.roc_auc if False else None
        assert not r_bridge.started()
        assert 'rpy2' not in sys.modules, sorted(m for m in sys.modules if 'rpy2' in m)
        assert 'torch' not in sys.modules
        print('ok')
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_end_for_exit_cleans_up_and_r_cannot_start_again():
    code = textwrap.dedent(
        """
        import os, pytest
        from her2stats import r_bridge
        from her2stats.errors import RUnavailableError
        r_bridge.end_for_exit()  # R not started: nothing to do
        tmp = str(r_bridge.r_eval("tempdir()"))
        assert os.path.isdir(tmp)
        r_bridge.end_for_exit()
        assert not os.path.exists(tmp) and not r_bridge.started()
        with pytest.raises(RUnavailableError, match="ended in this process"):
            r_bridge.r_eval("1")
        r_bridge.end_for_exit()  # a second time: nothing to do
        print('ok')
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_subprocess_can_import_ssl_after_r_started(rb):
    import os

    assert rb.started()
    assert "/lib/R" not in os.environ.get("LD_LIBRARY_PATH", "")
    out = subprocess.run([sys.executable, "-c", "import ssl; print(ssl.OPENSSL_VERSION)"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "SSL" in out.stdout


def test_dataframe_round_trip_keeps_types_levels_and_na(rb):
    df = pd.DataFrame(
        {
            "x": [1.5, np.nan, 3.0, -2.25],
            "n": np.array([1, 2, 3, 4], dtype=np.int64),
            "ni": pd.array([1, None, 3, 4], dtype="Int64"),
            "grade": pd.Categorical(["G3", None, "G1", "G2"], categories=["G1", "G2", "G3"], ordered=True),
            "site": pd.Categorical(["b", "a", None, "b"], categories=["b", "a"]),
            "s": ["u", None, "w", "z"],
            "flag": [True, False, True, False],
        }
    )
    back = rb.call("h2s_test_identity", df)
    assert list(back.columns) == list(df.columns)
    np.testing.assert_array_equal(back["x"].to_numpy(), df["x"].to_numpy())
    assert back["n"].tolist() == [1, 2, 3, 4]
    assert np.isnan(back["ni"][1]) and back["ni"][[0, 2, 3]].tolist() == [1, 3, 4]
    # level order survives (not alphabetical), ordered-ness too, NA stays NA
    assert list(back["grade"].cat.categories) == ["G1", "G2", "G3"] and back["grade"].cat.ordered
    assert list(back["site"].cat.categories) == ["b", "a"] and not back["site"].cat.ordered
    assert pd.isna(back["grade"][1]) and pd.isna(back["site"][2])
    assert back["s"].tolist() == ["u", None, "w", "z"]
    assert back["flag"].tolist() == [True, False, True, False]


def test_na_is_r_na_not_nan(rb):
    rb.r_eval("h2s_test_nainfo <- function(x) c(na = sum(is.na(x)), nan = sum(is.nan(x)))")
    out = rb.call("h2s_test_nainfo", np.array([1.0, np.nan, 2.0]))
    assert out["na"] == 1 and out["nan"] == 0
    out = rb.call("h2s_test_nainfo", pd.Series([1.0, None, 2.0, None]))
    assert out["na"] == 2 and out["nan"] == 0


def test_factor_level_order_seen_by_r(rb):
    rb.r_eval("h2s_test_levels <- function(d) list(levels = levels(d$g), ref = levels(d$g)[1], n_na = sum(is.na(d$g)))")
    d = pd.DataFrame({"g": pd.Categorical(["neg", "pos", None], categories=["pos", "neg"])})
    out = rb.call("h2s_test_levels", d)
    assert list(out["levels"]) == ["pos", "neg"] and out["ref"] == "pos" and out["n_na"] == 1


def test_scalars_lists_dicts_and_matrices(rb):
    assert rb.call("h2s_test_identity", 3) == 3
    assert rb.call("h2s_test_identity", 2.5) == 2.5
    assert rb.call("h2s_test_identity", "a") == "a"
    assert rb.call("h2s_test_identity", True) is True
    assert rb.call("h2s_test_identity", None) is None
    out = rb.call("h2s_test_identity", {"a": 1.0, "b": [1, 2], "c": ["x", "y"]})
    assert out["a"] == 1.0 and list(out["b"]) == [1, 2] and list(out["c"]) == ["x", "y"]
    m = np.arange(6, dtype=float).reshape(2, 3)
    np.testing.assert_array_equal(rb.call("h2s_test_identity", m), m)
    named = rb.r_eval("c(a = 1, b = 2)")
    assert isinstance(named, pd.Series) and named["b"] == 2


def test_large_numeric_frame_is_fast_and_exact(rb):
    import time

    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(2400, 100)), columns=[f"f{i}" for i in range(100)])
    X.iloc[5, 7] = np.nan
    rb.r_eval("h2s_test_colsum <- function(d) colSums(d, na.rm = TRUE)")
    t0 = time.perf_counter()
    sums = rb.call("h2s_test_colsum", X)
    elapsed = time.perf_counter() - t0
    np.testing.assert_allclose(sums.to_numpy(), X.sum().to_numpy(), rtol=1e-12)
    assert list(sums.index) == list(X.columns)
    assert elapsed < 5  # generous: the benchmark measures it properly; this only catches the slow converter


def test_r_error_becomes_python_error_with_r_message(rb):
    with pytest.raises(RError) as info:
        rb.r_eval("stop('the model failed: bad column foo')")
    assert "bad column foo" in str(info.value)
    assert info.value.r_message == "the model failed: bad column foo"
    rb.r_eval("h2s_test_fail <- function(x) log(-1) + stop('oops ', x)")
    with pytest.raises(RError, match="oops 7"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rb.call("h2s_test_fail", 7)


def test_r_warning_becomes_python_warning(rb):
    with pytest.warns(RWarning, match="careful now"):
        value = rb.r_eval("{warning('careful now'); 42}")
    assert value == 42


def test_missing_r_package_names_debian_package(rb):
    with pytest.raises(RUnavailableError, match=r"apt-get install -y r-cran-notapackage"):
        rb.require("notApackage")
    assert "r-cran-proc" in rb.install_hint("pROC")
    rb.require("rms", "pROC", "survival")  # installed by `make test`


def _count_namespace_requests(rb):
    """Count R's requireNamespace calls (what has_package asks R) in ``.h2s_n_asked``."""
    rb.r_eval("assign('.h2s_n_asked', 0, envir = globalenv()); suppressMessages(trace('requireNamespace', "
              "quote(assign('.h2s_n_asked', get('.h2s_n_asked', envir = globalenv()) + 1, envir = globalenv())), "
              "print = FALSE, where = baseenv()))")
    return lambda: int(rb.r_eval("get('.h2s_n_asked', envir = globalenv())"))


def test_a_package_found_is_not_asked_about_again(rb):
    asked = _count_namespace_requests(rb)
    try:
        assert rb.has_package("stats") and asked() <= 1  # once at most (an earlier test may have asked)
        before = asked()
        for _ in range(5):
            assert rb.has_package("stats")
            rb.require("stats")
        assert asked() == before
        # a missing package is asked about every time (an install in the session is then seen)
        assert not rb.has_package("notApackage") and not rb.has_package("notApackage")
        assert asked() == before + 2
    finally:
        rb.r_eval("suppressMessages(untrace('requireNamespace', where = baseenv()))")


def test_a_package_installed_during_the_session_is_found(rb, tmp_path):
    import shutil

    if shutil.which("R") is None:
        pytest.skip("R CMD INSTALL needs the R front end")
    src, lib = tmp_path / "h2sprobe", tmp_path / "lib"
    (src / "R").mkdir(parents=True)
    lib.mkdir()
    (src / "DESCRIPTION").write_text("Package: h2sprobe\nVersion: 0.0.1\nTitle: Probe\nDescription: A probe.\n"
                                     "License: MIT\nAuthor: her2stats\nMaintainer: her2stats <none@example.org>\n")
    (src / "NAMESPACE").write_text("export(probe)\n")
    (src / "R" / "probe.R").write_text("probe <- function() 42\n")
    paths = rb.call(".libPaths")
    assert not rb.has_package("h2sprobe")
    subprocess.run(["R", "CMD", "INSTALL", "--no-test-load", "-l", str(lib), str(src)], check=True,
                   capture_output=True)
    rb.call(".libPaths", [str(lib), *np.atleast_1d(paths)])
    try:
        assert rb.has_package("h2sprobe")  # the earlier "not found" was not remembered
        assert rb.package_version("h2sprobe") == "0.0.1"
    finally:
        rb.call(".libPaths", list(np.atleast_1d(paths)))


def test_duplicated_column_names_are_refused(rb):
    df = pd.DataFrame([[1.0, 2.0]], columns=["a", "a"])
    with pytest.raises(InputError, match="duplicated column"):
        rb.to_r(df)


def test_threads_share_r_safely(rb):
    rb.r_eval("h2s_test_sq <- function(x) sum(x^2)")
    results = {}

    def work(k):
        results[k] = rb.call("h2s_test_sq", np.arange(k, dtype=float))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2, 30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(results[k] == pytest.approx(float(np.sum(np.arange(k) ** 2))) for k in range(2, 30))


def test_r_sources_are_loaded(rb):
    from pathlib import Path

    names = set(rb.r_eval("ls(globalenv())"))
    r_files = list(Path(rb.r_source_dir()).glob("*.R"))
    assert r_files, "the r/ folder has no R sources"
    # every h2s_ function defined in r/*.R exists in R
    import re

    defined = {m for f in r_files for m in re.findall(r"^(h2s_\w+)\s*<-\s*function", f.read_text(), re.M)}
    assert defined <= names, sorted(defined - names)


def test_one_element_vectors_marked_asis_stay_vectors(rb):
    """R has no scalars: a vector result of data-dependent length is wrapped in I() by the R
    function and arrives as a 1-D array even with one element (fit_cph with one covariate)."""
    rb.r_eval("h2s_test_vectors <- function() list(plain = 1.5, asis = I(1.5), chr = I('a'), int = I(2L),"
              " lgl = I(TRUE), named = I(c(a = 1)), empty = I(numeric(0)), long = I(c(1, 2)))")
    out = rb.call("h2s_test_vectors")
    assert out["plain"] == 1.5 and isinstance(out["plain"], float)  # unmarked length 1: a scalar
    for key, value in (("asis", 1.5), ("chr", "a"), ("int", 2), ("lgl", True)):
        assert isinstance(out[key], np.ndarray) and out[key].shape == (1,), key
        assert out[key][0] == value, key
    assert isinstance(out["named"], pd.Series) and out["named"].to_dict() == {"a": 1.0}
    assert out["empty"].shape == (0,)
    assert out["long"].tolist() == [1.0, 2.0]


def test_generated_names_and_level_codes(rb):
    assert rb.safe_names(3) == ["v1", "v2", "v3"] and rb.safe_names(2, prefix="m") == ["m1", "m2"]
    f = rb.coded_factor([2, 0, -1, 1], 3)
    assert list(f.categories) == ["l1", "l2", "l3"] and list(f.astype(object)[[0, 1, 3]]) == ["l3", "l1", "l2"]
    assert pd.isna(f[2])
    assert rb.coded_factor([1, 0], 2, ordered=True).ordered
    with pytest.raises(ValueError):
        rb.coded_factor([3], 3)
    levels = ['); q(); (', "l2", None]
    assert rb.decode_levels(["l2", "l1", "l3", "l4", "x"], levels) == ["l2", '); q(); (', None, "l4", "x"]
    back = rb.call("h2s_test_identity", pd.DataFrame({"v1": f}))
    assert list(back["v1"].cat.categories) == ["l1", "l2", "l3"]


def test_formula_builders_refuse_names_that_were_not_generated(rb, tmp_path, monkeypatch):
    """Defence in depth: an R function that builds a formula refuses any name but a generated one,
    so a caller that forgot to rename cannot send a user's name to R's parser."""
    monkeypatch.chdir(tmp_path)
    df = pd.DataFrame({"y": [0, 1, 0, 1, 1, 0], "v1": [1.0, 2, 3, 4, 5, 7]})
    hostile = 'v1` + system("touch h2s_pwned") + `v1'
    with pytest.raises(RError, match="generated column names"):
        rb.call("h2s_logistic_fit", data=df.rename(columns={"v1": hostile}), terms=[hostile])
    with pytest.raises(RError, match="generated column names"):
        rb.call("h2s_fit_cph", pd.DataFrame({"h2s_time": [1.0, 2, 3, 4], "h2s_event": [1, 0, 1, 1],
                                             hostile: [1.0, 3, 2, 4]}), [hostile])
    assert not (tmp_path / "h2s_pwned").exists()
    f = rb.call("h2s_logistic_fit", data=df, terms=["v1"], convert=False)
    assert rb.call("h2s_logistic_summary", f)["terms"].tolist() == ["v1"]
