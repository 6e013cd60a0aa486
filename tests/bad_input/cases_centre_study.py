"""Bad multicentre study settings (validation.scheme iecv, subgroups:, reader_study:,
harmonization.diagnostics): unknown keys and values refused with the key path and the closest valid
one; columns and files the data lack named. No engine is involved (the sections' statistics have
their own rows in cases_multicentre.py and cases_mrmc_combat.py)."""
from __future__ import annotations

import tempfile
from pathlib import Path

from her2stats.errors import ConfigError, InputError

from ._case import Case

N = (None,)
VANDYKE = Path(__file__).resolve().parents[2] / "data" / "vandyke" / "VanDyke.csv"


def _load(**sections):
    from her2stats.reporting.config import load_config

    return load_config({"name": "x", **sections})


def _columns(**sections):
    from her2stats.data import load_demo
    from her2stats.reporting.config import check_columns

    check_columns(_load(**sections), load_demo().columns)


def _reader(**keys):
    from her2stats.reporting.sections_centre import reader_study_section

    return reader_study_section(_load(reader_study={"path": str(VANDYKE), **keys}).reader_study, engine="python")


def _missing_reader_file():
    from her2stats.reporting.sections_centre import reader_study_section

    return reader_study_section(_load(reader_study={"path": "no_such_readers.csv"}).reader_study,
                                base_dir=tempfile.mkdtemp(prefix="h2s-readers-"))


def _bands_on_text():
    from her2stats.data import load_demo
    from her2stats.reporting.sections_centre import subgroup_frame

    return subgroup_frame(load_demo(), ["manufacturer"], {"manufacturer": [0, 1, 2]})


CASES = [
    Case("config/validation.scheme-typo", lambda e: _load(validation={"scheme": "iecvv"}), ConfigError,
         ("validation.scheme", "did you mean 'iecv'"), engines=N),
    Case("config/subgroups-unknown-key", lambda e: _load(subgroups={"variabels": ["age"]}), ConfigError,
         ("subgroups.variabels", "unknown key", "did you mean 'variables'"), engines=N),
    Case("config/subgroups-on-iecv-without-iecv", lambda e: _load(subgroups={"variables": ["age"], "on": "iecv"}),
         ConfigError, ("subgroups.on", "validation.scheme"), engines=N),
    Case("config/reader_study-cov-typo", lambda e: _load(reader_study={"path": "r.csv", "cov": "jacknife"}), ConfigError,
         ("reader_study.cov", "did you mean 'jackknife'"), engines=N),
    Case("config/validation.by-column-typo", lambda e: _columns(validation={"scheme": "iecv", "by": "centre"}),
         InputError, ("validation.by", "'centre'", "did you mean 'center'"), engines=N),
    Case("config/subgroups-column-typo", lambda e: _columns(subgroups=["field_strenght"]), InputError,
         ("subgroups.variables", "'field_strenght'", "did you mean 'field_strength'"), engines=N),
    Case("reader_study/file-missing", lambda e: _missing_reader_file(), ConfigError,
         ("reader_study.path", "file not found", "no_such_readers.csv"), engines=N),
    Case("reader_study/column-typo", lambda e: _reader(rating="Rating"), InputError,
         ("reader_study.rating", "'Rating'", "did you mean 'rating'"), engines=N),
    Case("subgroups/bands-on-text-column", lambda e: _bands_on_text(), InputError,
         ("subgroups.bands.manufacturer", "not numeric"), engines=N),
]
