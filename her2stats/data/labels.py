"""Display labels and units of variables, from the data dictionary, overridable per call.

Every table builder and figure of :mod:`her2stats.reporting` prints a column through
:class:`Labels`: ``tumor_size_mm`` becomes ``Tumour size (mm)``, the level ``positive`` of
``her2_status`` becomes ``HER2-positive`` (the Kaplan-Meier legend), the odds-ratio term
``grade=3`` becomes ``Histological grade: 3 vs 1``. The text comes from the dictionary's
``label``, ``unit_label`` and ``level_labels`` fields (``data-dictionary/variables.yaml``); a
column the dictionary does not know prints under its own name (never a guessed prettification).

``labels=`` (a mapping, in ``table_one``, every builder, every figure and the study config's
``labels:``) overrides the dictionary::

    {"tumor_size_mm": "Tumour diameter (mm)",                       # the whole printed label
     "er": {"label": "Oestrogen receptor", "levels": {"positive": "ER+", "negative": "ER-"}},
     "ki67": {"label": "Ki-67 index", "unit": "%"}}

A key that names no column of the data at hand is refused (:class:`~her2stats.errors.InputError`
naming it), so a typo never silently leaves a raw name in a manuscript.

Time axes: :func:`convert_time` and :func:`time_label` turn the dictionary's days into days,
weeks, months (365.25 / 12 days) or years (365.25 days).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import numpy as np

from ..errors import InputError

__all__ = ["Labels", "as_labels", "TIME_UNITS", "convert_time", "time_label", "level_key"]

#: columns a study derives (not in the dictionary of cohort variables)
STUDY_VARIABLES = {"deep_score": "Deep Score", "deep_prob": "Deep Score probability", "cohort_split": "Cohort",
                   "cohort": "Cohort"}

#: length of each display time unit in days
TIME_UNITS = {"days": 1.0, "weeks": 7.0, "months": 365.25 / 12.0, "years": 365.25}


def level_key(level: Any) -> str:
    """Text of a level as the dictionary writes it: ``3.0`` -> ``'3'``, ``True`` -> ``'1'``."""
    if isinstance(level, (bool, np.bool_)):
        return str(int(level))
    if isinstance(level, (float, np.floating)) and math.isfinite(float(level)) and float(level).is_integer():
        return str(int(level))
    if isinstance(level, np.integer):
        return str(int(level))
    return str(level)


def _check_override(key: Any, value: Any, source: str) -> dict:
    if not isinstance(key, str) or not key:
        raise InputError(f"{source}: keys must be column names (non-empty strings), got {key!r}")
    if isinstance(value, str):
        return {"display": value}
    if isinstance(value, Mapping):
        extra = set(value) - {"label", "unit", "levels"}
        if extra:
            raise InputError(f"{source}[{key!r}]: unknown field(s) {sorted(map(str, extra))}; use label, unit, levels")
        levels = value.get("levels") or {}
        if not isinstance(levels, Mapping) or not all(isinstance(v, str) for v in levels.values()):
            raise InputError(f"{source}[{key!r}].levels must map each level to its display text")
        for f in ("label", "unit"):
            if value.get(f) is not None and not isinstance(value[f], str):
                raise InputError(f"{source}[{key!r}].{f} must be text, got {value[f]!r}")
        return {"label": value.get("label"), "unit": value.get("unit"), "has_unit": "unit" in value,
                "levels": {level_key(k): v for k, v in levels.items()}}
    raise InputError(f"{source}[{key!r}] must be the label text or a mapping with label/unit/levels, "
                     f"got {type(value).__name__}")


@dataclass(frozen=True)
class Labels:
    """Resolved display labels: the data dictionary plus ``overrides``.

    Use :func:`as_labels` to build one (it validates the overrides against the known columns).
    """

    overrides: Mapping[str, dict] = field(default_factory=dict)

    # ------------------------------------------------------------------ lookups
    @staticmethod
    def _dict_var(name: str):
        from .dictionary import load_dictionary

        d = load_dictionary()
        return d[name] if name in d else None

    def var(self, name: Any, unit: bool = True) -> str:
        """Display name of a column: ``Age (years)`` (``unit=False``: ``Age``)."""
        name = str(name)
        o = self.overrides.get(name)
        if o is not None and "display" in o:
            return o["display"]
        v = self._dict_var(name)
        base = (o or {}).get("label") or (v.label if v is not None and v.label else STUDY_VARIABLES.get(name, name))
        u = (o or {}).get("unit") if (o or {}).get("has_unit") else (v.unit_label if v is not None else None)
        return f"{base} ({u})" if unit and u else base

    def unit(self, name: Any) -> str | None:
        o = self.overrides.get(str(name)) or {}
        if o.get("has_unit"):
            return o.get("unit")
        v = self._dict_var(str(name))
        return v.unit_label if v is not None else None

    def has_level_labels(self, name: Any) -> bool:
        o = self.overrides.get(str(name)) or {}
        v = self._dict_var(str(name))
        return bool(o.get("levels")) or bool(v is not None and v.level_labels)

    def level(self, name: Any, level: Any) -> str:
        """Display text of one level (``her2_status``, ``positive`` -> ``HER2-positive``)."""
        key = level_key(level)
        o = self.overrides.get(str(name)) or {}
        if key in (o.get("levels") or {}):
            return o["levels"][key]
        v = self._dict_var(str(name))
        if v is not None and key in v.level_labels:
            return v.level_labels[key]
        return key

    def group_level(self, name: Any, level: Any) -> str:
        """A level shown without its variable (a legend entry, a column head): the level label
        when the dictionary or the overrides give one (``HER2-positive``), else
        ``Variable: level`` (``Histological grade: 3``)."""
        if self.has_level_labels(name):
            return self.level(name, level)
        return f"{self.var(name, unit=False)}: {level_key(level)}"

    def term(self, name: Any, level: Any = None, reference: Any = None) -> str:
        """A regression term: ``Age (years)`` for a numeric covariate; ``HER2-positive vs
        HER2-negative`` when the levels carry labels; else ``Histological grade: 3 vs 1``."""
        if level is None or (isinstance(level, float) and math.isnan(level)) or level == "":
            return self.var(name)
        lev = self.level(name, level)
        ref = None if reference is None or (isinstance(reference, float) and math.isnan(reference)) \
            or reference == "" else self.level(name, reference)
        if self.has_level_labels(name):
            return f"{lev} vs {ref}" if ref is not None else lev
        head = self.var(name, unit=False)
        return f"{head}: {lev} vs {ref}" if ref is not None else f"{head}: {lev}"

    def merged(self, other: "Labels | Mapping | None", known: Iterable[str] | None = None,
               source: str = "labels") -> "Labels":
        """These labels with ``other`` taking precedence."""
        extra = as_labels(other, known=known, source=source)
        return Labels({**self.overrides, **extra.overrides})

    def to_dict(self) -> dict:
        return {k: dict(v) for k, v in self.overrides.items()}


def as_labels(labels: "Labels | Mapping | None" = None, known: Iterable[str] | None = None,
              source: str = "labels") -> Labels:
    """Validate ``labels`` (None, a :class:`Labels` or a mapping) into :class:`Labels`.

    ``known``: the columns these labels may name; any other key raises InputError naming it.
    """
    if labels is None:
        return Labels({})
    if isinstance(labels, Labels):
        overrides = dict(labels.overrides)
    elif isinstance(labels, Mapping):
        overrides = {str(k) if isinstance(k, str) else k: _check_override(k, v, source) for k, v in labels.items()}
    else:
        raise InputError(f"{source} must be a mapping {{column: label}}, got {type(labels).__name__}")
    if known is not None:
        known = set(map(str, known))
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise InputError(f"{source}: {', '.join(map(repr, unknown))} is not a column here; labels can name "
                             f"{sorted(known)[:30]}")
    return Labels(overrides)


def convert_time(values: Any, to: str = "days", data_unit: str = "days") -> np.ndarray:
    """Times in ``data_unit`` expressed in ``to`` (days, weeks, months = 365.25/12 d, years = 365.25 d)."""
    for u, what in ((to, "time unit"), (data_unit, "data time unit")):
        if u not in TIME_UNITS:
            raise InputError(f"{what} must be one of {list(TIME_UNITS)}, got {u!r}")
    return np.asarray(values, dtype=float) * TIME_UNITS[data_unit] / TIME_UNITS[to]


def time_label(unit: str, what: str = "Time") -> str:
    """``Time (months)``."""
    if unit not in TIME_UNITS:
        raise InputError(f"time unit must be one of {list(TIME_UNITS)}, got {unit!r}")
    return f"{what} ({unit})"
