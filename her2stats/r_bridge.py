"""The one place where Python touches R.

* R starts lazily, once, on the first call that needs it (never at import).
* ``r/*.R`` (the package's own R functions) are sourced into R's global environment at start.
* Conversion is explicit and fast: numeric columns travel as one numpy-backed matrix (rpy2's
  pandas converter is ~50x slower), factors keep their level order, NaN/None/pd.NA become NA.
* R errors become :class:`~her2stats.errors.RError` carrying R's message; R warnings become
  :class:`~her2stats.errors.RWarning` Python warnings.
* A missing R, rpy2 or R package raises :class:`~her2stats.errors.RUnavailableError` naming the
  Debian package and the command that installs it.
* One re-entrant lock serialises every R call, so threads may call the bridge.
* Starting embedded R rewrites ``LD_LIBRARY_PATH`` in ``os.environ``; child processes (Dask
  workers, Jupyter kernels, pip) then fail to ``import ssl``. The variable is restored right
  after R starts.

Usage from statistics modules::

    from her2stats import r_bridge
    r_bridge.require("pROC")
    out = r_bridge.call("h2s_roc_auc", y=y, score=score, level=0.95)   # -> Python objects

``call`` converts its arguments with :func:`to_r` and its value with :func:`to_py`. R functions
called this way should return plain structures: named lists of vectors, data.frames, matrices.

Two rules keep R from guessing and from running data:

* **Vectors stay vectors.** R has no scalars, so a length-1 vector is ambiguous: ``to_py``
  returns a Python scalar for it, except when R marks it ``AsIs`` with ``I()``. An R function
  whose result is a vector of data-dependent length (coefficients, standard errors, selected
  terms, one value per time point) wraps it in ``I()``; it then always arrives as a 1-D array
  (a Series when named), even with one element.
* **Data never becomes code.** Column names, factor levels and labels never enter R source text.
  Callers send data frames whose columns have generated names (:func:`safe_names`: ``v1..vk``)
  and factors whose levels are generated codes (:func:`coded_factor`: ``l1..lm``), and map R's
  answers back through the same lists. R functions that build a formula check the names they
  get (``.h2s_check_names`` in ``r/bridge.R``).
"""
from __future__ import annotations

import collections
import contextlib
import os
import threading
import warnings
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .errors import RError, RUnavailableError, RWarning, find_stack_level

_LOCK = threading.RLock()
_STATE: dict[str, Any] = {"started": False, "ro": None, "ri": None, "sourced": set()}
#: R packages :func:`has_package` found in this process (never asked about again)
_FOUND: set[str] = set()

#: R package name -> Debian package that provides it
DEBIAN_PACKAGES: dict[str, str] = {
    "rms": "r-cran-rms",
    "pROC": "r-cran-proc",
    "survival": "r-cran-survival",
    "glmnet": "r-cran-glmnet",
    "psych": "r-cran-psych",
    "readxl": "r-cran-readxl",
    "jsonlite": "r-cran-jsonlite",
    "testthat": "r-cran-testthat",
    "MASS": "r-cran-mass",
    "Hmisc": "r-cran-hmisc",
    "riskRegression": "r-cran-riskregression",
    "sva": "r-bioc-sva",
    "cmprsk": "r-cran-cmprsk",
    "metafor": "r-cran-metafor",
    "lme4": "r-cran-lme4",
    "mice": "r-cran-mice",
    "irr": "(not in Debian; her2stats ships its own implementation)",
    "dcurves": "(not in Debian; her2stats ships r/dca.R)",
    "ResourceSelection": "(not in Debian; her2stats ships its own Hosmer-Lemeshow)",
    "timeROC": "(not in Debian)",
}

#: R packages her2stats needs for engine="r" (checked by ``her2stats doctor``)
REQUIRED_R_PACKAGES = ("rms", "pROC", "survival", "glmnet", "psych", "MASS")
#: R packages used when present
OPTIONAL_R_PACKAGES = ("dcurves", "ResourceSelection", "irr", "riskRegression", "timeROC", "readxl", "jsonlite", "sva",
                       "cmprsk", "metafor", "lme4", "brglm2", "mice")


def install_hint(package: str) -> str:
    """The shell command that installs an R package on Debian (or a note when Debian lacks it)."""
    deb = DEBIAN_PACKAGES.get(package, f"r-cran-{package.lower()}")
    if deb.startswith("("):
        return f"R package '{package}' {deb}"
    return f"apt-get install -y {deb}"


def r_source_dir() -> Path:
    """Directory of the R sources the bridge loads (``$HER2STATS_R_DIR`` or the repo's ``r/``)."""
    env = os.environ.get("HER2STATS_R_DIR")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "r", here / "_r"):
        if candidate.is_dir():
            return candidate
    return here.parent / "r"


# --------------------------------------------------------------------------- start-up
def _start() -> None:
    """Start embedded R once; restore the environment R changed; source ``r/*.R``."""
    if _STATE["started"]:
        if _STATE.get("ended"):
            raise RUnavailableError("embedded R was ended in this process (r_bridge.end_for_exit); it cannot start again")
        return
    import shutil

    if shutil.which("R") is None and not os.environ.get("R_HOME"):
        raise RUnavailableError(
            "R is not installed (no `R` on PATH and R_HOME unset). Install it with: "
            "apt-get install -y r-base-core r-cran-rms r-cran-proc r-cran-survival r-cran-glmnet "
            "r-cran-psych r-cran-mass — or use engine='python'."
        )
    saved_env = dict(os.environ)
    try:
        import rpy2.rinterface as ri
        import rpy2.rinterface_lib.callbacks as callbacks

        # R's console output would otherwise go to stdout in the middle of user output; keep the
        # last lines for debugging (bounded: a long session prints a lot).
        _STATE["console"] = collections.deque(maxlen=2000)
        callbacks.consolewrite_print = lambda s: _STATE["console"].append(s)
        callbacks.consolewrite_warnerror = lambda s: _STATE["console"].append(s)
        ri.initr_simple()
        import rpy2.robjects as ro
    except ImportError as exc:  # pragma: no cover - depends on the machine
        raise RUnavailableError(
            f"rpy2 could not be imported ({exc}). Install it with: pip install 'rpy2>=3.5.17,<3.6' "
            "(rpy2 3.6 cannot load R 4.2) — or use engine='python'."
        ) from exc
    finally:
        # R's start-up rewrites LD_LIBRARY_PATH; children that inherit it fail to import ssl.
        # Put it back exactly as it was (set, changed or removed).
        _restore_ld_library_path(saved_env)
    _STATE["ri"] = ri
    _STATE["ro"] = ro
    _STATE["converter"] = ro.conversion.get_conversion()
    _STATE["started"] = True
    ro.r("options(warn = 1, stringsAsFactors = FALSE)")
    ro.r(_CALL_WRAPPER)
    with _STATE["converter"].context():
        for path in sorted(r_source_dir().glob("*.R")):
            source(path)


_CALL_WRAPPER = r"""
.h2s_call <- function(fname, args) {
  warns <- character()
  value <- withCallingHandlers(
    tryCatch(do.call(fname, args),
             error = function(e) structure(list(message = conditionMessage(e),
                                                call = paste(deparse(conditionCall(e)), collapse = " ")),
                                           class = "h2s_error")),
    warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") })
  list(value = value, warnings = warns)
}
"""


@contextlib.contextmanager
def _session():
    """Hold the R lock, start R if needed, and enter rpy2's conversion context.

    rpy2 keeps its conversion rules in a ContextVar, which new threads do not inherit; entering
    the saved converter here makes every thread see the same rules.
    """
    with _LOCK:
        _start()
        with _STATE["converter"].context():
            yield _STATE["ro"]


def source(path: str | os.PathLike) -> None:
    """Source one R file into R's global environment (once per path)."""
    path = Path(path).resolve()
    with _session():
        if path in _STATE["sourced"]:
            return
        # a call with the path as data (a path is never pasted into R source text)
        res = _rf(".h2s_call")("source", _rf("list")(_str_vector([str(path)]), local=_STATE["ri"].BoolSexpVector([False])))
        _unwrap(res, str(path))
        _STATE["sourced"].add(path)


def started() -> bool:
    """Whether embedded R is running in this process."""
    return bool(_STATE["started"]) and not _STATE.get("ended")


def end_for_exit() -> None:
    """End embedded R in a process that is about to exit, without R's final clean-up work.

    rpy2 ends R at interpreter exit (an ``atexit`` handler): R's ``.Last``, its exit finalizers,
    its graphics devices and its session temporary directory, then a full garbage collection and
    R's own shut-down, about 0.5 s of CPU in a process that loaded rms. A process that exits right
    after (a :class:`~her2stats.schedulers.WorkerPool` worker whose pool closed) keeps the first
    part, so R leaves nothing behind (its temporary directory is removed), and skips the rest: the
    process's memory goes back to the system whole. R cannot be used in this process afterwards
    (:class:`RUnavailableError`). Does nothing when R was not started.
    """
    with _LOCK:
        if not _STATE["started"] or _STATE.get("ended"):
            return
        import atexit

        import rpy2.rinterface as ri
        from rpy2.rinterface_lib import openrlib

        rlib = openrlib.rlib
        with openrlib.rlock:
            rlib.R_dot_Last()
            rlib.R_RunExitFinalizers()
            rlib.Rf_KillAllDevices()
            rlib.R_CleanTempDir()
        _STATE["ended"] = True
        atexit.unregister(ri.endr)  # what is left of it: R's final garbage collection and shut-down


def ensure_started() -> None:
    """Start R now (normally unnecessary: every call starts it lazily)."""
    with _session():
        pass


def _rf(name: str) -> Any:
    """An R function looked up once: each ``ro.r[name]`` costs a search of R's environments,
    which dominates short bridge calls."""
    fns = _STATE.setdefault("fns", {})
    fn = fns.get(name)
    if fn is None:
        fn = fns[name] = _STATE["ro"].r[name]
    return fn


# --------------------------------------------------------------------------- packages
def has_package(package: str) -> bool:
    """Whether an R package can be loaded (starts R).

    R answers by loading the package's namespace (``requireNamespace``, ~10 ms even when it is
    loaded already), and the statistics ask before every R call (:func:`require`), so an answer
    is remembered for the process:

    * a package **found** is not asked about again: its namespace is now loaded, and embedded R
      lives as long as the process, so it stays loadable (each worker process of a
      :class:`~her2stats.schedulers.WorkerPool` keeps its own answers over all its tasks);
    * a package **not found** is asked about every time: one installed in the middle of a session
      (``apt-get install -y r-cran-...``, or ``install.packages``) is then seen without restarting
      Python. Asking about a missing package is rare (it precedes an error or a fallback), so
      not remembering it costs nothing that matters.
    """
    name = str(package)
    if name in _FOUND:  # a set read needs no lock
        return True
    with _session():
        found = bool(_rf("h2s_has_package")(_str_vector([name]))[0])
        if found:
            _FOUND.add(name)
    return found


def package_version(package: str) -> str | None:
    """Installed version of an R package, or None."""
    if not has_package(package):
        return None
    with _session():
        return str(_rf("h2s_package_version")(_str_vector([str(package)]))[0])


def r_version() -> str:
    with _session():
        return str(_STATE["ro"].r("paste(R.version$major, R.version$minor, sep = '.')")[0])


def require(*packages: str) -> None:
    """Raise :class:`RUnavailableError` naming the install command if an R package is missing."""
    missing = [p for p in packages if not has_package(p)]
    if missing:
        hints = "; ".join(f"{p}: {install_hint(p)}" for p in missing)
        raise RUnavailableError(
            f"R package(s) {', '.join(missing)} not installed. {hints} — or use engine='python'."
        )


# --------------------------------------------------------------------------- calling
def _eval_checked(code: str, what: str = "R code") -> Any:
    ro = _STATE["ro"]
    expr = _rf("parse")(text=code)
    res = _rf(".h2s_call")("eval", _rf("list")(expr, envir=ro.globalenv))
    return _unwrap(res, what)


def _unwrap(res: Any, fname: str) -> Any:
    value = res.rx2("value")
    warns = list(res.rx2("warnings"))
    for w in warns:
        warnings.warn(f"R ({fname}): {w}", RWarning, stacklevel=find_stack_level())
    if "h2s_error" in list(getattr(value, "rclass", []) or []):
        msg = str(value.rx2("message")[0])
        call_txt = str(value.rx2("call")[0])
        if len(call_txt) > 160:
            call_txt = call_txt[:157] + "..."
        detail = f" (in {call_txt})" if call_txt and call_txt != "NULL" and not call_txt.startswith("eval(") else ""
        raise RError(f"R error in {fname}: {msg}{detail}", r_message=msg, r_function=fname) from None
    return value


def call(fname: str, *args: Any, convert: bool = True, **kwargs: Any) -> Any:
    """Call R function ``fname`` with converted arguments; return its converted value.

    Positional and keyword arguments are converted with :func:`to_r`. Keyword names with
    ``__`` are passed with ``.`` (``na__rm`` -> ``na.rm``). With ``convert=False`` the raw R
    object is returned (for keeping fitted models inside R).
    """
    with _session() as ro:
        r_args = [to_r(a) for a in args]
        r_kwargs = {k.replace("__", "."): to_r(v) for k, v in kwargs.items()}
        arglist = _rf("list")(*r_args, **r_kwargs)
        res = _rf(".h2s_call")(fname, arglist)
        value = _unwrap(res, fname)
        return to_py(value) if convert else value


def r_eval(code: str, convert: bool = True) -> Any:
    """Evaluate R code (errors and warnings translated); return its converted value."""
    with _session():
        value = _eval_checked(code)
        return to_py(value) if convert else value


def assign(name: str, value: Any) -> None:
    """Assign a converted Python value to a variable in R's global environment."""
    with _session():
        _STATE["ro"].globalenv[name] = to_r(value)


# --------------------------------------------------------------------------- Python -> R
def _na_mask(values: Any) -> np.ndarray:
    return np.asarray(pd.isna(values), dtype=bool)


def _float_vector(arr: np.ndarray) -> Any:
    ri = _STATE["ri"]
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    mask = np.isnan(arr)
    if mask.any():
        arr = arr.copy()
        arr[mask] = ri.NA_Real  # NA, not NaN: R's NA_real_ is a NaN with a payload
    return ri.FloatSexpVector.from_memoryview(memoryview(arr))


def _int_vector(arr: np.ndarray, mask: np.ndarray | None = None) -> Any:
    ri = _STATE["ri"]
    arr = np.ascontiguousarray(arr, dtype=np.int32)
    if mask is not None and mask.any():
        arr = arr.copy()
        arr[mask] = ri.NA_Integer
    return ri.IntSexpVector.from_memoryview(memoryview(arr))


def _str_vector(values: Iterable[Any]) -> Any:
    ri = _STATE["ri"]
    return ri.StrSexpVector([ri.NA_Character if _is_missing(v) else str(v) for v in values])


def _is_missing(v: Any) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    try:
        return isinstance(v, float) and np.isnan(v)
    except TypeError:
        return False


def _factor(values: Any, levels: list[Any], ordered: bool = False) -> Any:
    ro = _STATE["ro"]
    cat = pd.Categorical(values, categories=levels)
    codes = cat.codes.astype(np.int64) + 1  # R factors are 1-based; -1 (NA) -> 0 -> masked
    vec = _int_vector(codes, mask=codes <= 0)
    return _rf("structure")(
        vec, levels=_str_vector([str(level) for level in levels]),
        **{"class": _str_vector(["ordered", "factor"] if ordered else ["factor"])},
    )


def _series_to_r(s: pd.Series) -> Any:
    ri = _STATE["ri"]
    dtype = s.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return _factor(s, list(dtype.categories), ordered=bool(dtype.ordered))
    if pd.api.types.is_bool_dtype(dtype):
        mask = _na_mask(s)
        vals = np.where(mask, 0, s.fillna(False).astype(bool)).astype(np.int32)
        vals[mask] = ri.NA_Logical
        return ri.BoolSexpVector([None if m else bool(v) for v, m in zip(vals, mask)])
    if pd.api.types.is_integer_dtype(dtype):
        mask = _na_mask(s)
        arr = s.to_numpy(dtype="float64", na_value=np.nan)
        if np.nanmax(np.abs(arr), initial=0) < 2**31 - 1:
            return _int_vector(np.nan_to_num(arr, nan=0).astype(np.int32), mask=mask)
        return _float_vector(arr)
    if pd.api.types.is_numeric_dtype(dtype):
        return _float_vector(s.to_numpy(dtype="float64", na_value=np.nan))
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return _float_vector(s.to_numpy(dtype="datetime64[ns]").astype("int64") / 86_400e9)
    return _str_vector(s.tolist())


def _frame_to_r(df: pd.DataFrame) -> Any:
    """DataFrame -> R data.frame. Float columns go as one matrix (fast path), others one by one."""
    ro = _STATE["ro"]
    names = [str(c) for c in df.columns]
    if len(set(names)) != len(names):
        from .errors import InputError

        dup = sorted({n for n in names if names.count(n) > 1})
        raise InputError(f"duplicated column names cannot be sent to R: {dup}")
    float_cols = [i for i, c in enumerate(df.columns) if pd.api.types.is_float_dtype(df[c].dtype)]
    columns: dict[str, Any] = {}
    if float_cols:
        block = np.asfortranarray(df.iloc[:, float_cols].to_numpy(dtype=np.float64, na_value=np.nan))
        flat = _float_vector(block.ravel(order="F"))
        mat = _rf("matrix")(flat, nrow=block.shape[0], ncol=block.shape[1])
        fdf = _rf("as.data.frame")(mat)
        for j, i in enumerate(float_cols):
            columns[names[i]] = fdf[j]
    for i, c in enumerate(df.columns):
        if i not in float_cols:
            columns[names[i]] = _series_to_r(df[c])
    ordered = [columns[n] for n in names]
    out = _rf("data.frame")(*ordered, check_names=False, stringsAsFactors=False)
    out.names = _str_vector(names)
    if not isinstance(df.index, pd.RangeIndex):
        out = _rf("rownames<-")(out, _str_vector([str(i) for i in df.index]))
    return out


def to_r(obj: Any) -> Any:
    """Convert a Python object to an R object.

    ``None`` -> NULL; bool/int/float/str scalars -> length-1 vectors; numpy 1-D -> vector,
    2-D -> matrix; Series -> vector or factor; DataFrame -> data.frame; dict -> named list;
    list/tuple of scalars -> vector, otherwise -> list. R objects pass through unchanged.
    """
    ri = _STATE["ri"]
    ro = _STATE["ro"]
    if isinstance(obj, ri.Sexp):
        return obj
    if obj is None:
        return ri.NULL
    if isinstance(obj, (bool, np.bool_)):
        return ri.BoolSexpVector([bool(obj)])
    if isinstance(obj, (int, np.integer)) and not isinstance(obj, bool):
        return ri.IntSexpVector([int(obj)]) if abs(int(obj)) < 2**31 - 1 else ri.FloatSexpVector([float(obj)])
    if isinstance(obj, (float, np.floating)):
        return _float_vector(np.array([obj], dtype=float))
    if isinstance(obj, str):
        return ri.StrSexpVector([obj])
    if isinstance(obj, pd.DataFrame):
        return _frame_to_r(obj)
    if isinstance(obj, pd.Categorical):
        return _factor(obj, list(obj.categories), ordered=bool(obj.ordered))
    if isinstance(obj, pd.Series):
        return _series_to_r(obj)
    if isinstance(obj, np.ndarray):
        if obj.ndim == 2:
            if obj.dtype.kind in "biuf":
                flat = _float_vector(np.asarray(obj, dtype=float).ravel(order="F"))
                return _rf("matrix")(flat, nrow=obj.shape[0], ncol=obj.shape[1])
            from .errors import InputError

            raise InputError(f"cannot send a 2-D array of dtype {obj.dtype} to R")
        flat = obj.ravel()
        if flat.dtype.kind == "f":
            return _float_vector(flat)
        if flat.dtype.kind in "iu" and (flat.size == 0 or (flat.min() > -(2**31 - 1) and flat.max() < 2**31 - 1)):
            return _int_vector(flat)
        return _series_to_r(pd.Series(flat))
    if isinstance(obj, Mapping):
        return _rf("list")(**{str(k): to_r(v) for k, v in obj.items()})
    if isinstance(obj, (list, tuple)):
        if all(isinstance(v, (str, type(None))) for v in obj) and any(isinstance(v, str) for v in obj):
            return _str_vector(obj)
        if all(isinstance(v, (bool, np.bool_)) for v in obj) and obj:
            return ri.BoolSexpVector([bool(v) for v in obj])
        if all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in obj) and obj:
            if all(isinstance(v, (int, np.integer)) for v in obj):
                return _int_vector(np.asarray(obj, dtype=np.int64))
            return _float_vector(np.asarray(obj, dtype=float))
        return _rf("list")(*[to_r(v) for v in obj])
    from .errors import InputError

    raise InputError(f"cannot convert {type(obj).__name__} to R")


# --------------------------------------------------------------------------- R -> Python
def _attr(obj: Any, name: str) -> Any:
    """An R attribute read in C (no R evaluation, unlike ``names()``/``dim()`` calls), or None."""
    try:
        value = obj.do_slot(name)
    except (LookupError, AttributeError, TypeError):
        return None
    if value is _STATE["ri"].NULL or isinstance(value, type(_STATE["ri"].NULL)):
        return None
    return value


def _names(obj: Any) -> list[str] | None:
    nm = _attr(obj, "names")
    if nm is None:
        return None
    try:
        return [str(n) for n in nm]
    except TypeError:
        return None


def safe_names(n: int, prefix: str = "v") -> list[str]:
    """Generated column names for R (``v1..vn``): what R sees instead of the user's names.

    The i-th name stands for the i-th column the caller lists; the caller maps R's answers back
    by position (never by parsing the user's text in R).
    """
    return [f"{prefix}{i}" for i in range(1, int(n) + 1)]


def level_codes(n: int) -> list[str]:
    """Generated factor levels ``l1..ln`` standing for the caller's levels, in their order."""
    return [f"l{i}" for i in range(1, int(n) + 1)]


def coded_factor(codes: Any, n_levels: int, ordered: bool = False) -> pd.Categorical:
    """A factor for R whose levels are the codes ``l1..l<n_levels>``.

    ``codes`` are 0-based positions in the caller's level list (-1 or NaN = missing), so R never
    sees the level text (rms builds names such as ``race=black`` from levels, and parts of rms
    deparse and re-parse them). Map R's level strings back with ``levels[int(code[1:]) - 1]``.
    """
    c = np.asarray(pd.Series(codes, dtype="float64").fillna(-1), dtype=np.int64)
    if c.size and (c.max() >= n_levels or c.min() < -1):
        raise ValueError(f"level codes must lie in [-1, {n_levels - 1}]")
    return pd.Categorical.from_codes(c, categories=level_codes(n_levels), ordered=ordered)


def decode_levels(values: Iterable[Any], levels: Sequence[Any]) -> list[Any]:
    """R level codes (``l3``) back to the caller's levels; anything else is returned unchanged."""
    out = []
    for v in values:
        sv = str(v)
        if len(sv) > 1 and sv[0] == "l" and sv[1:].isdigit() and 1 <= int(sv[1:]) <= len(levels):
            out.append(levels[int(sv[1:]) - 1])
        else:
            out.append(v)
    return out


def _rclass(obj: Any) -> list[str]:
    # explicit class attribute only: the classes tested here (data.frame, factor, ordered,
    # h2s_error) are always explicit, and R's implicit class would cost an evaluation
    cls = _attr(obj, "class")
    return [str(c) for c in cls] if cls is not None else []


def _vector_to_numpy(vec: Any) -> np.ndarray:
    ri = _STATE["ri"]
    if isinstance(vec, ri.FloatSexpVector):
        return np.array(vec.memoryview(), dtype=float)  # NA_real_ is a NaN already
    if isinstance(vec, ri.IntSexpVector):
        arr = np.array(vec.memoryview(), dtype=np.int64)
        na = arr == ri.NA_Integer
        if na.any():
            out = arr.astype(float)
            out[na] = np.nan
            return out
        return arr
    if isinstance(vec, ri.BoolSexpVector):
        raw = np.array(vec.memoryview(), dtype=np.int64)
        na = raw == ri.NA_Logical
        if na.any():
            out = np.empty(len(raw), dtype=object)
            out[:] = [None if m else bool(v) for v, m in zip(raw, na)]
            return out
        return raw.astype(bool)
    if isinstance(vec, ri.StrSexpVector):
        out = np.empty(len(vec), dtype=object)
        out[:] = [None if v is ri.NA_Character else str(v) for v in vec]
        return out
    raise TypeError(type(vec))


def _factor_to_py(vec: Any) -> pd.Categorical:
    ri = _STATE["ri"]
    codes = np.array(vec.memoryview(), dtype=np.int64)
    codes = np.where(codes == ri.NA_Integer, 0, codes) - 1
    levels = [str(x) for x in vec.do_slot("levels")]
    ordered = "ordered" in _rclass(vec)
    return pd.Categorical.from_codes(codes, categories=levels, ordered=ordered)


def to_py(obj: Any) -> Any:
    """Convert an R object to Python.

    NULL -> None; length-1 unnamed atomic vector -> scalar, unless marked ``I()`` (class
    ``AsIs``: a vector that happens to have one element -> 1-D array); atomic vector -> numpy
    array (named -> pandas Series); factor -> pandas Categorical; matrix -> numpy 2-D array (with
    dimnames -> DataFrame); data.frame -> DataFrame; list -> dict when named, else list. Other
    objects (fits, environments) are returned as rpy2 objects.
    """
    ri = _STATE["ri"]
    if obj is ri.NULL or isinstance(obj, type(ri.NULL)):
        return None
    cls = _rclass(obj)
    if "data.frame" in cls:
        names = _names(obj) or []
        cols = {}
        for i, n in enumerate(names):
            col = obj[i]
            if "factor" in _rclass(col):
                cols[n] = _factor_to_py(col)
            else:
                v = to_py(col)
                cols[n] = v if isinstance(v, (np.ndarray, list, pd.Categorical)) else [v]
        df = pd.DataFrame(cols)
        rn = ro_rownames(obj)
        if rn is not None and len(rn) == len(df) and not all(r == str(i + 1) for i, r in enumerate(rn)):
            df.index = rn
        return df
    if "factor" in cls:
        return _factor_to_py(obj)
    if isinstance(obj, (ri.FloatSexpVector, ri.IntSexpVector, ri.BoolSexpVector, ri.StrSexpVector)):
        arr = _vector_to_numpy(obj)
        dim = _dim(obj)
        if dim is not None and len(dim) == 2:
            mat = arr.reshape(dim, order="F")
            dn = _dimnames(obj)
            if dn is not None and (dn[0] is not None or dn[1] is not None):
                return pd.DataFrame(mat, index=dn[0], columns=dn[1])
            return mat
        names = _names(obj)
        if names is not None:
            return pd.Series(arr, index=names)
        if len(arr) == 1 and "AsIs" not in cls:
            v = arr[0]
            return v.item() if hasattr(v, "item") else v
        return arr
    if isinstance(obj, ri.ListSexpVector):
        items = [to_py(obj[i]) for i in range(len(obj))]
        names = _names(obj)
        if names is not None and all(names):
            return dict(zip(names, items))
        return items
    return obj


def _dim(obj: Any) -> tuple[int, ...] | None:
    d = _attr(obj, "dim")
    return None if d is None else tuple(int(x) for x in d)


def _dimnames(obj: Any) -> list[list[str] | None] | None:
    ri = _STATE["ri"]
    dn = _attr(obj, "dimnames")
    if dn is None:
        return None
    out = []
    for i in range(len(dn)):
        part = dn[i]
        out.append(None if isinstance(part, type(ri.NULL)) else [str(x) for x in part])
    return out


def ro_rownames(df: Any) -> list[str] | None:
    try:
        return [str(x) for x in _rf("rownames")(df)]
    except Exception:
        return None


def _restore_ld_library_path(saved_env: Mapping[str, str]) -> None:
    if "LD_LIBRARY_PATH" in saved_env:
        os.environ["LD_LIBRARY_PATH"] = saved_env["LD_LIBRARY_PATH"]
    else:
        os.environ.pop("LD_LIBRARY_PATH", None)
