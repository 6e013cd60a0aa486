"""The her2stats data dictionary: standard variable names, types, levels, units and derivations.

The dictionary is a YAML file shipped with the package (``her2stats/data/_files/variables.yaml``;
``data-dictionary/variables.yaml`` in the repository is a verbatim copy for readers). Every other
part of the package codes against these names: ``her2_positive`` is the 0/1 outcome, ``her2_class``
the ordered zero < low < positive class, ``rfs_time``/``rfs_event`` the survival pair in days, etc.

>>> from her2stats.data import load_dictionary
>>> d = load_dictionary()
>>> d["her2_class"].levels
('zero', 'low', 'positive')
>>> d["her2_class"].derived_from
('her2_ihc', 'her2_ish')
"""
from __future__ import annotations

import functools
import math
import os
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterator, Mapping

import pandas as pd

from ..errors import InputError

_TNM = re.compile(r"^[cpyr]{0,2}([tn][0-4])(?:[a-d]|mi|is)?$")
VARIABLE_TYPES = ("id", "categorical", "ordinal", "binary", "numeric", "time", "event")
ON_INVALID = ("error", "exclude", "missing")


def normalise_token(value: Any) -> str:
    """Canonical text of a raw cell for level matching: ``' Positive '`` -> ``'positive'``, ``2.0`` -> ``'2'``."""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    return str(value).strip().lower()


@dataclass(frozen=True)
class Variable:
    """One dictionary entry (see the YAML header for the meaning of each field)."""

    name: str
    type: str
    description: str = ""
    group: str = ""
    levels: tuple[str, ...] = ()
    aliases: Mapping[str, str] = field(default_factory=dict)
    unit: str | None = None
    min: float | None = None
    max: float | None = None
    on_invalid: str = "error"
    derived_from: tuple[str, ...] = ()
    derivation: str | None = None
    pairs_with: str | None = None
    leaks_her2: bool = False
    #: display name (tables, figures), the unit as printed, and the display text of each level
    label: str | None = None
    unit_label: str | None = None
    level_labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def display(self) -> str:
        """``label (unit)`` as tables and axes print it: ``Age (years)``, ``Ki-67 (%)``."""
        base = self.label or self.name
        return f"{base} ({self.unit_label})" if self.unit_label else base

    @property
    def is_categorical(self) -> bool:
        return self.type in ("categorical", "ordinal")

    @functools.cached_property
    def _lookup(self) -> dict[str, str]:
        table = {normalise_token(level): level for level in self.levels}
        for alias, level in self.aliases.items():
            table.setdefault(normalise_token(alias), level)
        return table

    def level_of(self, value: Any) -> str | None:
        """The dictionary level a raw value stands for, or None when it matches no level/alias.

        TNM stages also accept the AJCC prefixes and sub-categories: ``pT1c`` -> T1, ``ypN2a`` -> N2.
        """
        token = normalise_token(value)
        level = self._lookup.get(token)
        if level is None and self.name in ("t_stage", "n_stage"):
            m = _TNM.match(token)
            if m and m.group(1)[0] == self.name[0]:
                level = self._lookup.get(m.group(1))
        return level


class DataDictionary(Mapping[str, Variable]):
    """Read-only mapping ``name -> Variable`` with helpers for tables and derivations."""

    def __init__(self, variables: Mapping[str, Variable], *, source: str, version: int, time_unit: str):
        self._variables = dict(variables)
        self.source = source
        self.version = version
        self.time_unit = time_unit

    def __getitem__(self, name: str) -> Variable:
        try:
            return self._variables[name]
        except KeyError:
            raise KeyError(f"{name!r} is not a dictionary variable; known: {', '.join(self._variables)}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._variables)

    def __len__(self) -> int:
        return len(self._variables)

    def __repr__(self) -> str:
        return f"DataDictionary({len(self)} variables, version {self.version}, from {self.source})"

    def to_frame(self) -> pd.DataFrame:
        """One row per variable: name, type, group, levels, unit, range, on_invalid, derived_from."""
        rows = []
        for v in self._variables.values():
            rows.append({
                "variable": v.name,
                "label": v.display,
                "type": v.type,
                "group": v.group,
                "levels": ", ".join(v.levels) if v.levels else "",
                "unit": v.unit or "",
                "min": v.min,
                "max": v.max,
                "on_invalid": v.on_invalid,
                "derived_from": ", ".join(v.derived_from),
                "description": v.description,
            })
        return pd.DataFrame(rows)

    def derivations(self) -> pd.DataFrame:
        """Long table ``derived -> source`` of every derived variable, with its rule."""
        rows = [{"derived": v.name, "source": src, "rule": v.derivation}
                for v in self._variables.values() for src in v.derived_from]
        return pd.DataFrame(rows, columns=["derived", "source", "rule"])

    def leaky_for_her2(self) -> tuple[str, ...]:
        """Dictionary variables that encode HER2 and must not predict it (outcome columns included)."""
        outcome = ("her2_ihc", "her2_ish", "her2_status", "her2_positive", "her2_class")
        return outcome + tuple(v.name for v in self._variables.values() if v.leaks_her2)

    def _repr_html_(self) -> str:
        return self.to_frame().to_html(index=False, border=0)


def _parse(raw: Mapping[str, Any], source: str) -> DataDictionary:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("variables"), Mapping):
        raise InputError(f"data dictionary {source} has no 'variables' mapping at top level")
    variables: dict[str, Variable] = {}
    known = set(Variable.__dataclass_fields__)
    for name, spec in raw["variables"].items():
        if not isinstance(spec, Mapping):
            raise InputError(f"data dictionary {source}: entry {name!r} must be a mapping, got {spec!r}")
        unknown = set(spec) - known
        if unknown:
            raise InputError(f"data dictionary {source}: variable {name!r} has unknown fields {sorted(unknown)}")
        vtype = spec.get("type")
        if vtype not in VARIABLE_TYPES:
            raise InputError(f"data dictionary {source}: variable {name!r} has type {vtype!r}; use one of {VARIABLE_TYPES}")
        on_invalid = spec.get("on_invalid", "error")
        if on_invalid not in ON_INVALID:
            raise InputError(f"data dictionary {source}: variable {name!r} has on_invalid={on_invalid!r}; use one of {ON_INVALID}")
        levels = tuple(str(x) for x in spec.get("levels", ()) or ())
        aliases = {str(k): str(v) for k, v in (spec.get("aliases") or {}).items()}
        bad = sorted(set(aliases.values()) - set(levels))
        if bad:
            raise InputError(f"data dictionary {source}: variable {name!r} has aliases pointing to unknown levels {bad}")
        level_labels = {str(k): str(v) for k, v in (spec.get("level_labels") or {}).items()}
        allowed = set(levels) if levels else ({"0", "1"} if vtype in ("binary", "event") else set())
        bad = sorted(set(level_labels) - allowed)
        if bad:
            raise InputError(f"data dictionary {source}: variable {name!r} has level_labels for unknown levels {bad}")
        variables[name] = Variable(
            name=name, type=vtype, description=str(spec.get("description", "")).strip(),
            group=str(spec.get("group", "")), levels=levels, aliases=aliases, unit=spec.get("unit"),
            min=spec.get("min"), max=spec.get("max"), on_invalid=on_invalid,
            derived_from=tuple(spec.get("derived_from", ()) or ()), derivation=spec.get("derivation"),
            pairs_with=spec.get("pairs_with"), leaks_her2=bool(spec.get("leaks_her2", False)),
            label=None if spec.get("label") is None else str(spec["label"]),
            unit_label=None if spec.get("unit_label") is None else str(spec["unit_label"]),
            level_labels=level_labels,
        )
    for v in variables.values():
        missing = [s for s in v.derived_from + ((v.pairs_with,) if v.pairs_with else ()) if s not in variables]
        if missing:
            raise InputError(f"data dictionary {source}: {v.name!r} refers to unknown variables {missing}")
    return DataDictionary(variables, source=source, version=int(raw.get("version", 1)),
                          time_unit=str(raw.get("time_unit", "days")))


@functools.lru_cache(maxsize=8)
def _load_cached(path: str | None) -> DataDictionary:
    import yaml

    if path is None:
        text = resources.files("her2stats.data").joinpath("_files/variables.yaml").read_text(encoding="utf-8")
        source = "her2stats/data/_files/variables.yaml"
    else:
        p = Path(path)
        if not p.is_file():
            raise InputError(f"data dictionary file {p} does not exist; pass the path of a variables.yaml")
        text, source = p.read_text(encoding="utf-8"), str(p)
    from ..files import yaml12_loader, yaml_problem

    try:  # YAML 1.2 booleans: a level labelled No/Yes or On/Off stays text
        raw = yaml.load(text, Loader=yaml12_loader())  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise InputError(f"data dictionary {source} is not valid YAML: {yaml_problem(exc)}") from None
    return _parse(raw, source)


def load_dictionary(path: str | os.PathLike | None = None) -> DataDictionary:
    """Load the data dictionary (the packaged one by default).

    Parameters
    ----------
    path : a YAML file with the same layout as ``data-dictionary/variables.yaml``, to extend or
        restrict the standard variables for a study. None loads the packaged dictionary.

    Returns
    -------
    DataDictionary
        Mapping of variable name to :class:`Variable` (type, levels, aliases, unit, range,
        on_invalid policy, derivation); ``.to_frame()`` and ``.derivations()`` give tables.
    """
    return _load_cached(None if path is None else str(Path(path).resolve()))
