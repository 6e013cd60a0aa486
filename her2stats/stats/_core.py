"""The statistics core: one rule each for the inputs every statistics function shares.

Private to ``her2stats.stats`` (and ``her2stats.selection``); it imports no other statistics module,
so any of them can import it without cycles. One rule per idea:

* **Binary outcomes** (:func:`binary_outcome`): the event is never guessed from the order of labels.
  It is ``1`` for 0/1 numbers, ``True`` for booleans, the higher of the two categories of an *ordered*
  pandas Categorical, the level ``positive`` of a data-dictionary variable with levels
  ``negative``/``positive`` (``her2_status``, ``er``...: the dictionary's spellings ``"Positive"``,
  ``"pos"``, ``"+"`` are recognised), or the value named by ``event=``. Anything else -- two labels
  such as ``"HER2+"``/``"HER2-"``, an *unordered* Categorical (its categories are sorted unless given),
  a 1/2 coding -- is an :class:`~her2stats.errors.InputError` naming the labels and how to pass
  ``event=``.
* **Order of categories** (:func:`ordered_levels`): from ``levels=``, an ordered Categorical, a
  data-dictionary ordinal variable, or numbers; never alphabetical.
* **Pairing** (:func:`align`): inputs that pair row by row (``y`` and ``score``...) are paired by
  position when they are plain arrays; pandas objects with different indexes are aligned on their
  index labels when both indexes hold the same unique labels, and refused otherwise -- never paired
  by position behind the user's back.
* **Numbers** (:func:`as_numeric`, :func:`refuse_numeric_strays`): a non-numeric value where a number
  is needed is an error naming the column and the offending values; a text column that is numbers
  but for a few stray strings is refused instead of being read as a many-level categorical.
* **Dropped rows** (:func:`announce_dropped`): every function that leaves out incomplete rows warns
  with :class:`~her2stats.errors.DroppedRowsWarning`:
  ``"<function>: dropped N of M rows with missing values in <columns>"``.
* **Names** (:func:`renamed_args`, :data:`RENAMED`): one name per idea across the public API --
  ``level``, ``n_boot``, ``seed``, ``scheduler``, ``engine``, bounds ``ci_low``/``ci_high`` (prediction
  intervals ``pi_low``/``pi_high``). A renamed argument keeps working for one release with a
  :class:`DeprecationWarning` naming the new one (result attributes: :class:`her2stats.results.Result`).
* **Seeds** (:func:`seed_sequence`, :func:`child_seeds`, :func:`r_seed`): every function that draws
  random numbers takes ``seed`` with the default :data:`DEFAULT_SEED` (0), so every number is
  reproducible by default; ``seed=None`` asks for fresh OS entropy (not reproducible). Independent
  streams are ``SeedSequence(seed).spawn`` children; R gets an integer seed derived from them.
* **Intervals** (:func:`z_value`, :func:`normal_interval`, :func:`percentile_interval`): two-sided,
  ``level`` in (0, 1); percentile intervals use numpy's linear quantile (R's type 7).
* **expit** (:func:`expit`), Gini's mean difference (:func:`gini_md`) and **p-value adjustment** (:func:`adjust_p`, R's ``p.adjust``).
* **Argument checks** (:func:`check_level`, :func:`check_n_boot`, :func:`check_int`): one rule and one
  message each.
"""
from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence, TypeVar

import numpy as np
import pandas as pd

from ..errors import DroppedRowsWarning, InputError, find_stack_level

__all__ = ["BinaryOutcome", "binary_outcome", "ordered_levels", "align", "as_numeric", "numeric_strays",
           "refuse_numeric_strays", "announce_dropped", "check_finite", "Clean", "clean_binary", "positions",
           "RENAMED", "renamed_args", "DEFAULT_SEED", "seed_sequence", "child_seeds", "r_seed", "z_value",
           "normal_interval", "percentile_interval", "expit", "gini_md", "P_ADJUST_METHODS", "p_adjust_method", "adjust_p",
           "check_level", "check_n_boot", "check_int", "matches"]

_SHOW = 6  # values shown in a message


def _fmt_values(values: Sequence[Any], limit: int = _SHOW) -> str:
    shown = [repr(v.item() if isinstance(v, np.generic) else v) for v in list(values)[:limit]]
    more = f", ... ({len(values)} in all)" if len(values) > limit else ""
    return "[" + ", ".join(shown) + more + "]"


def positions(mask: np.ndarray, limit: int = 10) -> str:
    pos = np.flatnonzero(mask)
    shown = ", ".join(str(int(p)) for p in pos[:limit])
    return f"[{shown}{', ...' if len(pos) > limit else ''}]"


def _series(x: Any, name: str) -> pd.Series:
    """``x`` as a pandas Series (index kept for Series; a Categorical keeps its dtype)."""
    if isinstance(x, pd.Series):
        return x
    if isinstance(x, pd.DataFrame):
        if x.shape[1] != 1:
            raise InputError(f"{name} must be one column, got a DataFrame with {x.shape[1]} columns")
        return x.iloc[:, 0]
    if isinstance(x, (pd.Categorical, pd.Index)):
        return pd.Series(x)
    if np.isscalar(x) or x is None:
        raise InputError(f"{name} must be a sequence of values (one per row), got {x!r}")
    arr = np.asarray(x, dtype=object) if not isinstance(x, np.ndarray) else x
    if arr.ndim != 1:
        raise InputError(f"{name} must be one-dimensional, got shape {arr.shape}")
    return pd.Series(arr)


def _is_real_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


# =========================================================================== dropped rows
def announce_dropped(function: str, n_dropped: int, n_total: int, columns: Any) -> None:
    """Warn that ``n_dropped`` of ``n_total`` rows were left out for missing values in ``columns``.

    ``columns`` is a list of names or a mapping ``name -> number of missing values`` (shown in
    parentheses). Nothing is emitted when ``n_dropped`` is 0.
    """
    if not n_dropped:
        return
    if isinstance(columns, Mapping):
        cols = ", ".join(f"'{k}' ({int(v)})" for k, v in columns.items() if v)
    elif isinstance(columns, str):
        cols = f"'{columns}'"
    else:
        cols = ", ".join(f"'{c}'" for c in columns)
    warnings.warn(f"{function}: dropped {int(n_dropped)} of {int(n_total)} rows with missing values in {cols}",
                  DroppedRowsWarning, stacklevel=find_stack_level())


# =========================================================================== scalars
def check_finite(value: Any, name: str) -> float:
    """A finite real number (not NaN, not infinite, not a bool or string), as float."""
    if not _is_real_number(value) or not math.isfinite(float(value)):
        raise InputError(f"{name} must be a finite number, got {value!r}")
    return float(value)


# =========================================================================== pairing
def align(*inputs: tuple[str, Any]) -> list[Any]:
    """Pair inputs row by row: ``align(("y", y), ("score", score))`` -> ``[y, score]``.

    Plain sequences pair by position and must have equal lengths. pandas Series/DataFrames pair by
    index label: one whose index differs from the first pandas input's is reordered to it when
    both indexes are unique and hold the same labels; otherwise InputError (pairing them by
    position would silently match the wrong rows). ``None`` entries are passed through.
    """
    ref_name, ref_len = None, None
    for name, x in inputs:
        if x is None:
            continue
        try:
            n = len(x)
        except TypeError:
            raise InputError(f"{name} must be a sequence of values (one per row), got {x!r}") from None
        if ref_len is None:
            ref_name, ref_len = name, n
        elif n != ref_len:
            raise InputError(f"{name} has {n} values but {ref_name} has {ref_len}; they must pair up (be aligned) row by row")
    out: list[Any] = []
    idx_name, index = None, None
    for name, x in inputs:
        if not isinstance(x, (pd.Series, pd.DataFrame)):
            out.append(x)
            continue
        if index is None:
            idx_name, index = name, x.index
            out.append(x)
            continue
        if x.index.equals(index):
            out.append(x)
            continue
        only_ref = index.difference(x.index, sort=False)
        only_x = x.index.difference(index, sort=False)
        if index.is_unique and x.index.is_unique and not len(only_ref) and not len(only_x):
            out.append(x.reindex(index))
            continue
        detail = []
        if len(only_ref):
            detail.append(f"labels {_fmt_values(list(only_ref), 3)} only in {idx_name}")
        if len(only_x):
            detail.append(f"labels {_fmt_values(list(only_x), 3)} only in {name}")
        if not detail:
            detail.append("duplicated index labels")
        raise InputError(
            f"{name} and {idx_name} are pandas objects with different indexes ({'; '.join(detail)}): "
            "her2stats pairs them by index label, never by position. Align them first (e.g. "
            f"{name}.reindex({idx_name}.index)), or pass .to_numpy() arrays if their order is right")
    return out


# =========================================================================== numbers
def as_numeric(x: Any, name: str, allow_inf: bool = False) -> np.ndarray:
    """Float array of ``x``; missing values (None, NaN, pd.NA) become NaN.

    A value that is neither missing nor a number (``"unknown"``, ``"<1"``, a date) raises an
    InputError naming ``name``, the offending values and their rows. Booleans become 0/1; numeric
    strings (``"3.5"``) are read as numbers.
    """
    s = _series(x, name)
    if isinstance(s.dtype, pd.CategoricalDtype):
        cats = s.cat.categories
        if not (pd.api.types.is_numeric_dtype(cats.dtype) or pd.api.types.is_bool_dtype(cats.dtype)):
            raise InputError(f"{name} must be numeric; it is a Categorical with labels "
                             f"{_fmt_values(list(cats))}")
        s = s.astype(float)
    if pd.api.types.is_datetime64_any_dtype(s.dtype) or pd.api.types.is_timedelta64_dtype(s.dtype):
        raise InputError(f"{name} must be numeric, got dtype {s.dtype} (convert dates to a duration in days first)")
    if pd.api.types.is_bool_dtype(s.dtype) or pd.api.types.is_numeric_dtype(s.dtype):
        try:
            arr = s.to_numpy(dtype=float, na_value=np.nan)
        except (TypeError, ValueError):
            raise InputError(f"{name} must be numeric, got dtype {s.dtype}") from None
    else:
        miss = s.isna().to_numpy()
        obj = s.astype(object).where(~miss, None)
        obj = obj.map(lambda v: float(v) if isinstance(v, (bool, np.bool_)) else v)
        num = pd.to_numeric(obj, errors="coerce")
        bad = ~miss & num.isna().to_numpy()
        if bad.any():
            vals = list(pd.unique(s[bad]))
            rows = list(s.index[bad][:5])
            raise InputError(
                f"{name} must be numeric but has {int(bad.sum())} non-numeric value(s) {_fmt_values(vals)} "
                f"(rows {_fmt_values(rows, 5)}); fix them, or set them to NaN if they mean 'missing'")
        arr = num.to_numpy(dtype=float)
    if not allow_inf:
        inf = np.isinf(arr)
        if inf.any():
            raise InputError(f"{name} has {int(inf.sum())} infinite value(s) at positions {positions(inf)}")
    return arr


def numeric_strays(s: pd.Series) -> list[Any]:
    """The non-numeric values of a text column that is otherwise numbers, else ``[]``.

    A column counts as "numbers with strays" when at least 5 distinct values read as numbers and
    they make up at least 80% of its distinct values: ``age`` with one ``"unknown"``, ``ki67`` with
    ``"<1"``. Category codes (``grade`` 1/2/3/``"x"``, ``her2_ihc`` 0/1+/2+/3+) are not affected.
    """
    if not (pd.api.types.is_object_dtype(s.dtype) or pd.api.types.is_string_dtype(s.dtype)) or \
            isinstance(s.dtype, pd.CategoricalDtype):
        return []
    v = s.dropna()
    if v.empty:
        return []
    v = v[~v.map(lambda a: isinstance(a, (bool, np.bool_)))]
    num = pd.to_numeric(v.astype(object), errors="coerce")
    ok = num.notna().to_numpy()
    strays = list(pd.unique(v[~ok]))
    n_num = int(num[ok].nunique())
    if strays and n_num >= 5 and n_num >= 0.8 * (n_num + len(strays)):
        return strays
    return []


def refuse_numeric_strays(df: pd.DataFrame, columns: Sequence[str], function: str) -> None:
    """InputError for the first of ``columns`` that is numbers with stray strings (see :func:`numeric_strays`)."""
    for col in columns:
        s = df[col]
        strays = numeric_strays(s)
        if not strays:
            continue
        mask = s.isin(strays).to_numpy()
        rows = list(s.index[mask][:5])
        n_num = int(pd.to_numeric(s.dropna().astype(object), errors="coerce").nunique())
        raise InputError(
            f"{function}: column '{col}' holds numbers ({n_num} distinct) but also the non-numeric value(s) "
            f"{_fmt_values(strays)} in {int(mask.sum())} row(s) (rows {_fmt_values(rows, 5)}), so it would be read "
            f"as a {n_num + len(strays)}-level categorical. Fix those values, or set them to NaN if they mean "
            f"'missing' (e.g. pd.to_numeric(df['{col}'], errors='coerce') after checking them)")


# =========================================================================== binary outcomes
@dataclass(frozen=True)
class BinaryOutcome:
    """A binary outcome coded 0/1 (NaN where missing) with the labels behind the codes."""

    codes: np.ndarray
    event: Any          # the value coded 1
    reference: Any      # the value coded 0 (None when absent)
    rule: str           # how the event was determined

    @property
    def levels(self) -> tuple[Any, Any]:
        """``(reference, event)``: the values coded 0 and 1."""
        return (self.reference, self.event)


def _dictionary_variable(key: Any):
    if not isinstance(key, str):
        return None
    from ..data.dictionary import load_dictionary

    return load_dictionary().get(key)


def _matches(v: Any, event: Any) -> bool:
    try:
        eq = v == event
        return bool(eq) if not isinstance(eq, np.ndarray) else False
    except Exception:
        return False


def _label_error(name: str, values: Sequence[Any], why: str = "") -> InputError:
    example = values[0] if values else "..."
    return InputError(
        f"{name} has the labels {_fmt_values(list(values))}{why}: which one is the event is never guessed from "
        f"the order of the labels. Pass event=<the label coded 1>, e.g. event={example!r}, or give {name} "
        "coded 0/1 (1 = event)")


def _not_binary(name: str, values: Sequence[Any]) -> InputError:
    return InputError(f"{name} must be binary, with exactly two values (coded 0/1, or two labels and event=); "
                      f"it has {len(values)} distinct values {_fmt_values(values)}")


def binary_outcome(y: Any, name: str = "y", event: Any = None) -> BinaryOutcome:
    """Code a binary outcome 0/1 by the one rule of the package (see the module notes).

    Parameters
    ----------
    y : sequence, Series or Categorical; missing values stay NaN in ``codes``.
    name : what the messages call ``y`` (an argument or column name). A data-dictionary variable
        of that name (or of the Series' name) with levels negative/positive makes ``positive``
        the event.
    event : the value coded 1. When given, ``y`` may hold at most two distinct values and
        ``event`` must be one of them (a 1/2 coding with ``event=2`` is fine).
    """
    s = _series(y, name)
    miss = s.isna().to_numpy()
    is_cat = isinstance(s.dtype, pd.CategoricalDtype)
    if is_cat:
        values = [c for c in s.cat.categories if (s == c).any()]
    else:
        values = list(pd.unique(s[~miss]))

    def coded(ev: Any, ref: Any, rule: str, hits: np.ndarray | None = None) -> BinaryOutcome:
        is_event = (s == ev).to_numpy(dtype=bool, na_value=False) if hits is None else hits
        codes = np.where(miss, np.nan, is_event.astype(float))
        return BinaryOutcome(codes=codes, event=ev, reference=ref, rule=rule)

    if event is not None:
        if len(values) > 2:
            raise _not_binary(name, values)
        hit = [v for v in values if _matches(v, event)]
        if not hit:
            raise InputError(f"event={event!r} is not a value of {name} (its values: {_fmt_values(values)})")
        ev = hit[0]
        others = [v for v in values if v is not ev and not _matches(v, event)]
        return coded(ev, others[0] if others else None, "event=")

    def numeric_rule(vals: Sequence[Any]) -> BinaryOutcome:
        fv = sorted({float(v) for v in vals})
        if not set(fv) <= {0.0, 1.0}:
            shown = [int(v) if float(v).is_integer() else v for v in fv]
            if len(fv) > 2:
                raise _not_binary(name, shown)
            raise InputError(
                f"{name} must be coded 0/1 (1 = event) or bool; found the values {_fmt_values(shown)}. Recode it, "
                f"or pass event=<the value coded 1> (e.g. event={shown[-1]!r})")
        if isinstance(s.dtype, pd.CategoricalDtype):
            codes = s.astype(object).map(lambda v: np.nan if pd.isna(v) else float(v)).to_numpy(dtype=float)
        elif pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
            codes = s.to_numpy(dtype=float, na_value=np.nan)
        else:
            codes = np.full(len(s), np.nan)
            codes[~miss] = [float(v) for v in s[~miss]]
        is_bool = all(isinstance(v, (bool, np.bool_)) for v in vals) and len(vals) > 0
        return BinaryOutcome(codes=codes, event=True if is_bool else 1, reference=False if is_bool else 0,
                             rule="bool" if is_bool else "0/1")

    plain = [v.item() if isinstance(v, np.generic) else v for v in values]
    numeric_like = all(isinstance(v, (bool, int, float)) for v in plain)
    if numeric_like and (not is_cat or all(float(v) in (0.0, 1.0) for v in plain)):
        return numeric_rule(plain)
    if is_cat and s.cat.ordered:
        cats = list(s.cat.categories)
        if len(values) > 2:
            raise _not_binary(name, values)
        if len(values) == 2:
            return coded(values[1], values[0], "ordered categorical (the higher category is the event)")
        if len(cats) == 2:
            return coded(cats[1], cats[0], "ordered categorical (the higher category is the event)")
        raise _label_error(name, values)
    for key in (name, s.name):
        var = _dictionary_variable(key)
        if var is None or tuple(var.levels) != ("negative", "positive"):
            continue
        mapped = [var.level_of(v) for v in values]
        if values and all(m is not None for m in mapped):
            lookup = {i: m for i, m in enumerate(mapped)}
            pos_values = [values[i] for i, m in lookup.items() if m == "positive"]
            neg_values = [values[i] for i, m in lookup.items() if m == "negative"]
            hits = s.isin(pos_values).to_numpy(dtype=bool) & ~miss
            return coded(pos_values[0] if pos_values else "positive", neg_values[0] if neg_values else None,
                         f"data dictionary ({key}: positive is the event)", hits=hits)
    if len(values) > 2:
        raise _not_binary(name, values)
    why = " (an unordered Categorical: its categories may just be sorted)" if is_cat else ""
    raise _label_error(name, values, why)


# =========================================================================== category order
def ordered_levels(x: Any, name: str, levels: Sequence[Any] | None = None) -> list[Any]:
    """The order of an ordinal variable's categories, never alphabetical.

    From ``levels`` (every value must be among them), else an ordered Categorical's categories,
    else a data-dictionary ordinal variable named ``name`` (or the Series' name) whose levels cover
    the values, else numbers/booleans in numeric order. Otherwise InputError asking for ``levels=``.
    """
    s = _series(x, name)
    present = list(pd.unique(s.dropna()))
    if levels is not None:
        lv = list(levels)
        unknown = [v for v in present if not any(_matches(v, L) for L in lv)]
        if unknown:
            raise InputError(f"{name} has value(s) {_fmt_values(unknown)} that are not in levels={_fmt_values(lv)}")
        return lv
    if isinstance(s.dtype, pd.CategoricalDtype) and s.cat.ordered:
        return list(s.cat.categories)
    plain = [v.item() if isinstance(v, np.generic) else v for v in present]
    if all(isinstance(v, (bool, int, float)) for v in plain):
        return sorted(present)
    for key in (name, s.name):
        var = _dictionary_variable(key)
        if var is not None and var.type == "ordinal" and var.levels:
            if all(str(v) in var.levels for v in present):
                return [lv for lv in var.levels]
    raise InputError(
        f"{name} has the categories {_fmt_values(present)} and no order is known: pass levels=[lowest, ..., highest] "
        "or an ordered Categorical (pd.Categorical(values, categories=[...], ordered=True)); categories are "
        "never ordered alphabetically")


# =========================================================================== y + scores
@dataclass(frozen=True)
class Clean:
    """Complete rows of a binary outcome and its aligned scores."""

    y: np.ndarray                      # int8 0/1
    scores: dict[str, np.ndarray]
    n_dropped: int
    keep: np.ndarray                   # boolean mask over the input rows
    outcome: BinaryOutcome


def clean_binary(y: Any, scores: Mapping[str, Any], na: str = "raise", y_name: str = "y", min_per_class: int = 1,
                 event: Any = None, function: str = "", refuse_constant: bool = True) -> Clean:
    """Validate a binary outcome and the scores paired with it; handle missing values.

    ``na="raise"``: an InputError naming the count and positions of incomplete rows;
    ``na="drop"``: they are dropped and announced (:func:`announce_dropped`).
    """
    if na not in ("raise", "drop"):
        raise InputError(f"na must be 'raise' or 'drop', got {na!r}")
    parts = align((y_name, y), *scores.items())
    out = binary_outcome(parts[0], y_name, event=event)
    codes = out.codes
    vals = {k: as_numeric(v, k) for k, v in zip(scores, parts[1:])}
    missing = np.isnan(codes)
    per_col = {y_name: int(missing.sum())}
    for k, v in vals.items():
        m = np.isnan(v)
        per_col[k] = int(m.sum())
        missing |= m
    if missing.any() and na == "raise":
        detail = "; ".join(f"{k}: {c}" for k, c in per_col.items() if c)
        raise InputError(
            f"{int(missing.sum())} row(s) have missing values ({detail}) at positions "
            f"{positions(missing)}; remove them or pass na='drop' (the count is reported as n_dropped)"
        )
    if missing.any():
        announce_dropped(function or "her2stats", int(missing.sum()), len(codes), per_col)
    keep = ~missing
    y01 = codes[keep].astype(np.int8)
    n_pos = int(y01.sum())
    n_neg = int(len(y01) - n_pos)
    if n_pos < min_per_class or n_neg < min_per_class:
        raise InputError(
            f"{y_name} needs at least {min_per_class} positive and {min_per_class} negative subject(s) "
            f"after removing missing rows; it has {n_pos} positive and {n_neg} negative"
        )
    out_scores = {k: v[keep] for k, v in vals.items()}
    if refuse_constant:
        for k, v in out_scores.items():
            if len(v) and np.all(v == v[0]):
                raise InputError(
                    f"{k} is constant (every value is {v[0]!r}): all cases tie with all controls, the AUC "
                    "is 0.5 by construction and has no sampling variance"
                )
    return Clean(y01, out_scores, int(missing.sum()), keep, out)


def matches(v: Any, label: Any) -> bool:
    """Whether the value ``v`` equals ``label`` (False when the comparison fails or is ambiguous)."""
    return _matches(v, label)


# =========================================================================== names
#: old argument / attribute name -> the one name of the idea (kept as deprecated aliases for one release)
RENAMED: dict[str, str] = {"conf_level": "level", "B": "n_boot", "random_state": "seed",
                           "lower": "ci_low", "upper": "ci_high"}

_F = TypeVar("_F", bound=Callable[..., Any])


def renamed_args(**renames: str) -> Callable[[_F], _F]:
    """Accept old keyword names for one release: ``@renamed_args(conf_level="level", B="n_boot")``.

    A call with an old name warns with a :class:`DeprecationWarning` naming the new one and is
    passed on with the new name; giving both is a :class:`TypeError`. A plain wrapper: the
    signature shown by :func:`inspect.signature` and ``help()`` is the function's own (new names
    only, through ``functools.wraps``), and every package warning counts its stack level with
    :func:`her2stats.errors.find_stack_level`, so warnings still point at the caller's line.
    """
    def deco(fn: _F) -> _F:
        qual = getattr(fn, "__qualname__", getattr(fn, "__name__", "function"))
        if qual.endswith(".__init__"):
            qual = qual[: -len(".__init__")]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            for old, new in renames.items():
                if old in kwargs:
                    if new in kwargs:
                        raise TypeError(f"{qual}() got both {old!r} and {new!r}; {old!r} is the deprecated "
                                        f"name of {new!r}: pass {new!r} only")
                    warnings.warn(f"{qual}(): the argument {old!r} is deprecated; use {new!r} (the old name will "
                                  "be removed in the next release)", DeprecationWarning, stacklevel=find_stack_level())
                    kwargs[new] = kwargs.pop(old)
            return fn(*args, **kwargs)

        wrapper.__renamed_args__ = dict(renames)  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return deco


# =========================================================================== seeds
#: the default ``seed`` of every public function that draws random numbers (documented rule)
DEFAULT_SEED = 0


def seed_sequence(seed: Any) -> np.random.SeedSequence:
    """``seed`` (int, SeedSequence or None = fresh OS entropy) as a :class:`numpy.random.SeedSequence`."""
    return seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)


def child_seeds(seed: Any, n: int) -> list[np.random.SeedSequence | None]:
    """``n`` independent child streams of ``seed`` (``SeedSequence(seed).spawn(n)``); ``[None] * n``
    when ``seed`` is None (each child then draws fresh entropy)."""
    if seed is None:
        return [None] * n
    return seed_sequence(seed).spawn(n)


def r_seed(seed: Any) -> int | None:
    """An integer seed for R's ``set.seed``.

    An int is used as given; a :class:`~numpy.random.SeedSequence` (a child stream) gives
    ``generate_state(1)[0] mod (2^31 - 1)``; None draws fresh OS entropy
    (``SeedSequence().entropy mod 2^31``).
    """
    if seed is None:
        return int(np.random.SeedSequence().entropy % 2**31)
    if isinstance(seed, np.random.SeedSequence):
        return int(seed.generate_state(1)[0] % (2**31 - 1))
    return int(seed)


# =========================================================================== intervals
def z_value(level: float) -> float:
    """The two-sided normal quantile of ``level``: ``Phi^-1(1 - (1 - level) / 2)`` (1.96 for 0.95)."""
    from scipy.stats import norm

    return float(norm.ppf(1 - (1 - level) / 2))


def normal_interval(estimate: Any, se: Any, level: float) -> tuple[Any, Any]:
    """Wald interval ``estimate -/+ z * se`` (arrays broadcast)."""
    z = z_value(level)
    return estimate - z * se, estimate + z * se


def percentile_interval(values: Any, level: float, axis: int | None = None, skip_nan: bool = False) -> tuple[Any, Any]:
    """Percentile interval of bootstrap replicates: the ``(1 - level) / 2`` and ``1 - (1 - level) / 2``
    quantiles, numpy's linear interpolation (R's ``quantile`` type 7). ``skip_nan`` ignores failed
    (NaN) replicates. Floats for 1-d input without ``axis``, arrays otherwise."""
    a = (1.0 - level) / 2.0
    q = np.nanquantile if skip_nan else np.quantile
    lo, hi = q(values, [a, 1.0 - a], axis=axis)
    if axis is None:
        return float(lo), float(hi)
    return lo, hi


# =========================================================================== expit
def expit(x: Any) -> Any:
    """The logistic function ``1 / (1 + exp(-x))`` (overflow of ``exp`` gives the exact limit 0)."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


def gini_md(x: Any) -> float:
    """Gini's mean difference, ``Hmisc::GiniMd``: mean |x_i - x_j| over pairs i != j."""
    x = np.sort(np.asarray(x, dtype=float))
    n = len(x)
    if n < 2:
        return float("nan")
    w = 4.0 * (np.arange(1, n + 1) - (n - 1) / 2.0) / n / (n - 1)
    return float(np.sum(w * (x - x.mean())))


# =========================================================================== multiplicity
#: p-value adjustment methods (R's p.adjust names accepted: "BH"/"fdr" = "fdr_bh", "BY" = "fdr_by")
P_ADJUST_METHODS = ("bonferroni", "holm", "hochberg", "fdr_bh", "fdr_by")
_P_ADJUST_ALIASES = {"bh": "fdr_bh", "fdr": "fdr_bh", "by": "fdr_by"}


def p_adjust_method(method: Any, allow_none: bool = False) -> str | None:
    """The canonical name of a p-value adjustment method (case-insensitive; R's names accepted)."""
    if method is None and allow_none:
        return None
    key = str(method).lower() if isinstance(method, str) else None
    key = _P_ADJUST_ALIASES.get(key, key)
    if key not in P_ADJUST_METHODS:
        accepted = ("None, " if allow_none else "") + ", ".join(repr(m) for m in P_ADJUST_METHODS)
        raise InputError(f"p_adjust method must be one of {accepted} (R's 'BH', 'fdr', 'BY' accepted), "
                         f"got {method!r}")
    return key


def adjust_p(p: Any, method: Any, n: int | None = None) -> np.ndarray:
    r"""Adjust p-values for multiple comparisons, as R's ``p.adjust``; the package's one implementation.

    * ``"bonferroni"``: :math:`\min(1, m p_i)`;
    * ``"holm"``: step-down :math:`\max_{j\le i}\min(1,(m-j+1)p_{(j)})`;
    * ``"hochberg"``: step-up :math:`\min_{j\ge i}\min(1,(m-j+1)p_{(j)})`;
    * ``"fdr_bh"`` (R ``"BH"``/``"fdr"``): :math:`\min_{j\ge i}\min(1, m p_{(j)}/j)`;
    * ``"fdr_by"`` (R ``"BY"``): BH times :math:`\sum_{k=1}^m 1/k`.

    ``method=None`` returns a copy. Missing p-values stay missing and do not count in m (R's
    ``n = length(p[!is.na(p)])``); ``n`` may be larger than the number given when some of the family
    is not available. Ties keep R's stable order.

    References
    ----------
    Holm S (1979). Scand J Stat 6:65-70. Benjamini Y, Hochberg Y (1995). J R Stat Soc B
    57:289-300. Benjamini Y, Yekutieli D (2001). Ann Stat 29:1165-1188.
    """
    method = p_adjust_method(method, allow_none=True)
    arr = np.asarray(p, dtype=float)
    if method is None:
        return arr.copy()
    shape = arr.shape
    arr = arr.ravel()
    ok = ~np.isnan(arr)
    pv = arr[ok]
    if np.any((pv < 0) | (pv > 1)):
        raise InputError(f"p-values must lie in [0, 1]; got {pv[(pv < 0) | (pv > 1)][:5].tolist()}")
    m = pv.size if n is None else int(n)
    if m < pv.size:
        raise InputError(f"p_adjust: n={m} is smaller than the number of p-values ({pv.size})")
    out = np.full(arr.shape, np.nan)
    if pv.size == 0:
        return out.reshape(shape)
    k = pv.size
    if method == "bonferroni":
        adj = np.minimum(1.0, m * pv)
    elif method == "holm":
        o = np.argsort(pv, kind="mergesort")
        adj_sorted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(k)) * pv[o]))
        adj = np.empty(k)
        adj[o] = adj_sorted
    else:
        o = np.argsort(-pv, kind="mergesort")  # decreasing
        i = np.arange(k, 0, -1)  # rank of each (descending order)
        if method == "hochberg":
            vals = (m - i + 1) * pv[o]
        elif method == "fdr_bh":
            vals = m / i * pv[o]
        else:
            q = np.sum(1.0 / np.arange(1, m + 1))
            vals = q * m / i * pv[o]
        adj_sorted = np.minimum(1.0, np.minimum.accumulate(vals))
        adj = np.empty(k)
        adj[o] = adj_sorted
    out[ok] = adj
    return out.reshape(shape)


# =========================================================================== argument checks
def check_level(level: Any, name: str = "level") -> float:
    """A confidence level: a real number strictly between 0 and 1 (not a bool, not a string)."""
    if not _is_real_number(level) or not 0 < float(level) < 1:
        raise InputError(f"{name} must be a probability in (0, 1), e.g. 0.95; got {level!r}")
    return float(level)


def check_int(value: Any, name: str, minimum: int) -> int:
    """An integer (not a bool, not a float) of at least ``minimum``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_n_boot(n_boot: Any, minimum: int = 1, optional: bool = False, name: str = "n_boot", why: str = "") -> int:
    """The number of bootstrap replicates: an integer (not a bool) of at least ``minimum``, or 0 when
    ``optional`` (0 = no bootstrap). ``minimum`` is the method's own need (a percentile interval
    needs 100, a bootstrap standard error 10, an optimism correction 1) and ``why`` says it."""
    ok = not isinstance(n_boot, (bool, np.bool_)) and isinstance(n_boot, (int, np.integer)) and (
        n_boot >= minimum or (optional and n_boot == 0))
    if not ok:
        allowed = ("a positive integer" if minimum == 1 else f"an integer >= {minimum}") + (
            " (or 0 for no bootstrap)" if optional else "")
        raise InputError(f"{name} must be {allowed}{' for ' + why if why else ''} (the number of bootstrap "
                         f"replicates), got {n_boot!r}")
    return int(n_boot)
