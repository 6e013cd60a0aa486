"""Common behaviour of result objects.

Results are frozen dataclasses holding numbers as attributes. They share three habits:
``to_frame()`` gives a tidy :class:`pandas.DataFrame`, ``_repr_html_`` renders that frame in
notebooks as a formatted table, and ``__repr__`` is a short readable text block. Subclasses
implement ``to_frame``.

In a notebook a result shows as gtsummary shows a table (:func:`display_frame`): p-values as
``<0.001`` or three decimals, other numbers to three significant figures, no index column (a
meaningful index becomes the first column), empty cells where a value is missing (never
``NaN``), and rows grouped under their first column when it repeats (a Table 1's variable, a
comparison's cohort).

Attribute names follow one scheme (``level``, ``n_boot``, ``seed``, ``engine``, bounds
``ci_low``/``ci_high``, prediction intervals ``pi_low``/``pi_high``). An attribute renamed to it
keeps its old name for one release: reading the old name (or building a result with it) warns with
a :class:`DeprecationWarning` naming the new one. The common renames are :data:`RENAMED_FIELDS`; a
class adds its own in ``_renamed`` (``{"auc_lower": "auc_ci_low"}``). ``to_frame()`` columns were
renamed outright (a DataFrame cannot warn on a column read); the README lists them.
"""
from __future__ import annotations

import html
import math
import warnings
from typing import Any, ClassVar, Mapping

import numpy as np
import pandas as pd
from .errors import find_stack_level

_P_NAMES = {"p", "pvalue", "p_value", "p.value", "p_adj", "padj", "p_adjusted", "p_value_adjusted", "pr(>|z|)"}
_P_SUFFIXES = ("_p", "_p_value", "_pvalue", "_p_adj", "_p_adjusted", "_padj")


def is_p_column(name: Any) -> bool:
    """Whether a column holds p-values (``p_value``, ``p_adjusted``, ``uni_p``, ``logrank_p``...)."""
    n = str(name).strip().lower()
    return n in _P_NAMES or n.endswith(_P_SUFFIXES) or n.startswith(("p_value", "p_adj"))


def _fmt_p(v: float) -> str:
    if v < 0.001:
        return "<0.001"
    s = f"{v:.3f}"
    return ">0.999" if float(s) >= 1 else s


def _fmt_sig(v: float, sig: int = 3) -> str:
    if v == 0:
        return "0"
    if not math.isfinite(v):
        return str(v)
    mag = math.floor(math.log10(abs(v)))
    s = f"{v:.{sig - 1}e}" if mag < -4 or mag > 14 else f"{v:,.{max(0, sig - 1 - mag)}f}"
    return s.replace("-", "\u2212", 1) if s.startswith("-") else s


def _cell(v: Any, p_col: bool) -> str:
    if v is None or v is pd.NA or v is pd.NaT:
        return ""
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if math.isnan(f):
            return ""
        if p_col and 0 <= f <= 1:
            return _fmt_p(f)
        if f.is_integer() and abs(f) < 1e15 and not p_col:
            return f"{int(f):,}" if abs(f) >= 1e4 else str(int(f))
        return _fmt_sig(f)
    if isinstance(v, float) and math.isnan(v):
        return ""
    text = str(v)
    return "" if text in ("nan", "NaN", "None", "<NA>") else text


def display_frame(frame: pd.DataFrame, max_rows: int = 40) -> tuple[pd.DataFrame, str | None, str]:
    """``frame`` as display strings: (table, column to group rows by or None, note on hidden rows)."""
    f = frame
    if not isinstance(f.index, pd.RangeIndex) or f.index.name is not None:
        f = f.reset_index()
    note = ""
    if len(f) > max_rows:
        note = f"{len(f) - 15} of {len(f)} rows not shown (to_frame() has them all)."
        f = pd.concat([f.head(10), f.tail(5)])
    out = pd.DataFrame({str(c): [_cell(v, is_p_column(c)) for v in f[c].tolist()] for c in f.columns})
    group = None
    if len(out) > 2 and out.shape[1] > 1:
        first = out.columns[0]
        col = out[first]
        runs = int((col != col.shift()).sum())
        if runs < len(col) and runs == col.nunique() and "" not in set(col) and not is_p_column(first) \
                and not pd.api.types.is_numeric_dtype(f[f.columns[0]]):
            group = first
    return out, group, note


#: attribute renames shared by every result type (old -> new), applied where the new name exists
RENAMED_FIELDS: Mapping[str, str] = {"conf_level": "level", "B": "n_boot", "lower": "ci_low", "upper": "ci_high"}


class _ResultType(type):
    """Lets a result type be built with the old names of renamed fields (deprecated, one release)."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        if kwargs:
            fields = getattr(cls, "__dataclass_fields__", {})
            for old in [k for k in kwargs if k not in fields]:
                new = cls._renamed.get(old) or RENAMED_FIELDS.get(old)
                if new is not None and new in fields and new not in kwargs:
                    warnings.warn(f"{cls.__name__}({old}=...) is deprecated; use {new}= (the old name will be removed "
                                  "in the next release)", DeprecationWarning, stacklevel=find_stack_level())
                    kwargs[new] = kwargs.pop(old)
        return super().__call__(*args, **kwargs)


class Result(metaclass=_ResultType):
    """Mixin for frozen result dataclasses (``@dataclass(frozen=True, repr=False)``)."""

    #: class-specific deprecated attribute names (old -> new), on top of RENAMED_FIELDS
    _renamed: ClassVar[Mapping[str, str]] = {}

    def __getattr__(self, name: str) -> Any:
        # only reached when normal lookup fails: old names of renamed attributes
        if not name.startswith("__"):
            cls = type(self)
            new = cls._renamed.get(name) or RENAMED_FIELDS.get(name)
            if new is not None and new != name:
                try:
                    value = object.__getattribute__(self, new)
                except AttributeError:
                    pass
                else:
                    warnings.warn(f"{cls.__name__}.{name} is deprecated; use {cls.__name__}.{new} (the old name "
                                  "will be removed in the next release)", DeprecationWarning, stacklevel=find_stack_level())
                    return value
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    #: one line shown above the table in reprs; subclasses may override ``_title``
    def _title(self) -> str:
        method = getattr(self, "method", None)
        engine = getattr(self, "engine", None)
        parts = [type(self).__name__]
        extra = ", ".join(str(p) for p in (method, f"engine={engine}" if engine else None) if p)
        if extra:
            parts.append(f"({extra})")
        return " ".join(parts)

    def to_frame(self) -> pd.DataFrame:  # pragma: no cover - abstract
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict, is_dataclass

        if is_dataclass(self):
            return {k: v for k, v in asdict(self).items()}
        return dict(vars(self))

    def __repr__(self) -> str:
        try:
            frame = self.to_frame()
            with pd.option_context("display.max_columns", 20, "display.width", 120):
                if len(frame) > 24:  # long curves: head and tail are what a reader checks
                    body = (frame.head(10).to_string() + f"\n... ({len(frame) - 15} more rows)\n"
                            + frame.tail(5).to_string(header=False))
                else:
                    body = frame.to_string()
        except Exception as exc:  # repr must never raise
            body = f"<unprintable: {exc!r}>"
        return f"{self._title()}\n{body}"

    def _repr_html_(self) -> str:
        """The tidy frame as a formatted table (see :func:`display_frame`)."""
        try:
            frame = self.to_frame()
        except Exception as exc:  # a notebook display must never raise
            return f"<pre>{html.escape(repr(self))}</pre><!-- {html.escape(repr(exc))} -->"
        data, group, note = display_frame(frame)
        title = self._title()
        try:
            from great_tables import GT

            gt = GT(data, groupname_col=group).tab_header(title=title).opt_align_table_header(align="left")
            if note:
                gt = gt.tab_source_note(note)
            gt = gt.tab_options(table_font_size="13px", heading_title_font_size="14px", data_row_padding="2px",
                                row_group_font_weight="bold", column_labels_font_weight="bold")
            return gt.as_raw_html()
        except ImportError:
            table = data.to_html(index=False, border=0, classes="her2stats-result", na_rep="")
            tail = f"<p><em>{html.escape(note)}</em></p>" if note else ""
            return f"<div><p><strong>{html.escape(title)}</strong></p>{table}{tail}</div>"
