"""Reading the files users point her2stats at: configs (YAML), cohort and case tables (CSV, Excel).

Every problem becomes a her2stats error (the class the caller asks for: ``ConfigError`` for a
study config, ``InputError`` for a table) that names the file and the cause -- missing, a folder,
unreadable, binary, UTF-16, not UTF-8, not valid YAML (with line and column), a malformed CSV
(with the line), an unreadable workbook -- and **never quotes the file's content**: a path that
points at the wrong file (``cohort.path: /etc/passwd``) must not print its first line. PyYAML's
messages quote the offending line, so only their problem text and position are kept.
"""
from __future__ import annotations

import codecs
import os
from pathlib import Path
from typing import Any

from .errors import Her2StatsError, InputError

__all__ = ["read_text_file", "load_yaml_file", "yaml12_loader", "read_table", "yaml_problem", "TEXT_LIMIT"]

#: larger "text" files are refused (a config or table file, not a disk image)
TEXT_LIMIT = 50 * 1024 * 1024

_BOMS = ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"), (codecs.BOM_UTF16_LE, "UTF-16"),
         (codecs.BOM_UTF16_BE, "UTF-16"))


def _check_file(path: Path, what: str, error: type[Her2StatsError], limit: int | None = TEXT_LIMIT) -> None:
    if not path.exists():
        raise error(f"{what}: file not found: {path}")
    if path.is_dir():
        raise error(f"{what}: {path} is a folder, not a file")
    if not path.is_file():
        raise error(f"{what}: {path} is not a regular file")
    if not os.access(path, os.R_OK):
        raise error(f"{what}: {path} cannot be read (permission denied)")
    if limit is not None and path.stat().st_size > limit:
        raise error(f"{what}: {path} is {path.stat().st_size / 2**20:.0f} MB, too large for a {what} file")


def _read_bytes(path: Path, what: str, error: type[Her2StatsError]) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise error(f"{what}: cannot read {path}: {exc.strerror or type(exc).__name__}") from None


def _decode(data: bytes, path: Path, what: str, error: type[Her2StatsError], kind: str) -> str:
    for bom, name in _BOMS:
        if data.startswith(bom):
            raise error(f"{what}: {path} is {name} text; save it as UTF-8")
    head = data[:8192]
    if b"\x00" in head:
        even, odd = head[0::2], head[1::2]
        zeros = sorted((even.count(0) / max(1, len(even)), odd.count(0) / max(1, len(odd))))
        if zeros[1] > 0.7 and zeros[0] < 0.1:  # ASCII in UTF-16: every other byte is zero
            raise error(f"{what}: {path} looks like UTF-16 text without a byte-order mark; save it as UTF-8")
        raise error(f"{what}: {path} is a binary file, not a {kind}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise error(f"{what}: {path} is not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}); "
                    "save it as UTF-8") from None


def read_text_file(path: str | os.PathLike, what: str, error: type[Her2StatsError] = InputError,
                   kind: str = "text file") -> str:
    """The UTF-8 text of ``path`` (a UTF-8 byte-order mark is accepted), or ``error`` naming the
    file and the cause (missing, folder, unreadable, too large, binary, UTF-16, not UTF-8)."""
    p = Path(path).expanduser()
    _check_file(p, what, error)
    return _decode(_read_bytes(p, what, error), p, what, error, kind)


def yaml_problem(exc: Exception) -> str:
    """A YAML error's problem and position, without the quoted source line PyYAML adds."""
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None)
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    if problem:
        return f"{problem}{where}"
    return f"{type(exc).__name__}{where}"


def yaml12_loader() -> Any:
    """PyYAML's safe loader with YAML 1.2 booleans: only ``true``/``false`` (any case) are booleans.

    PyYAML follows YAML 1.1, where ``on``/``off``/``yes``/``no``/``y``/``n`` are booleans too, so
    the config key ``subgroups: {on: test}`` arrived as ``{True: 'test'}`` and a level list
    ``[no, yes]`` as ``[False, True]``. Under YAML 1.2 they stay text (a boolean field still accepts
    ``yes``/``on``: the config schema reads them)."""
    import re

    import yaml

    class Yaml12Loader(yaml.SafeLoader):
        pass

    Yaml12Loader.yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    Yaml12Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                       list("tTfF"))
    return Yaml12Loader


def load_yaml_file(path: str | os.PathLike, what: str, error: type[Her2StatsError] = InputError) -> Any:
    """Parsed YAML of ``path`` (YAML 1.2 booleans, see :func:`yaml12_loader`); every problem is
    ``error`` naming the file, never quoting it."""
    import yaml

    p = Path(path).expanduser()
    text = read_text_file(p, what, error, kind="YAML file")
    try:
        return yaml.load(text, Loader=yaml12_loader())  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise error(f"{what}: {p} is not valid YAML: {yaml_problem(exc)}") from None


def read_table(path: str | os.PathLike, what: str, error: type[Her2StatsError] = InputError,
               excel: bool | None = None, **kwargs: Any):
    """A CSV (UTF-8, comma-separated) or Excel table as a DataFrame, or ``error`` naming the file
    and the cause: missing, a folder, binary, UTF-16, not UTF-8, empty, malformed (with the line
    pandas stopped at), not a workbook. ``excel`` None decides by the suffix (.xlsx/.xls/.xlsm)."""
    import pandas as pd

    p = Path(path).expanduser()
    _check_file(p, what, error, limit=None)
    if excel is None:
        excel = p.suffix.lower() in (".xlsx", ".xls", ".xlsm")
    if excel:
        try:
            return pd.read_excel(p, **kwargs)
        except (OSError, ValueError, KeyError, ImportError) as exc:
            cause = exc.strerror if isinstance(exc, OSError) and exc.strerror else _first_line(exc, 120)
            raise error(f"{what}: {p} is not a readable Excel workbook ({type(exc).__name__}: {cause})") from None
        except Exception as exc:  # zipfile.BadZipFile, xlrd/openpyxl errors
            raise error(f"{what}: {p} is not a readable Excel workbook ({type(exc).__name__})") from None
    text = _decode(_read_bytes(p, what, error), p, what, error, "CSV table")
    if not text.strip():
        raise error(f"{what}: {p} is empty")
    import io

    try:
        return pd.read_csv(io.StringIO(text), **kwargs)
    except pd.errors.EmptyDataError:
        raise error(f"{what}: {p} has no columns (an empty CSV table)") from None
    except pd.errors.ParserError as exc:
        raise error(f"{what}: {p} is not a well-formed CSV table: {_parser_problem(exc)}") from None


def _first_line(exc: Exception, limit: int) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:limit]


def _parser_problem(exc: Exception) -> str:
    """pandas' tokenizer message keeps the counts and line number, never the data."""
    import re

    msg = str(exc)
    m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", msg)
    if m:
        return f"line {m.group(2)} has {m.group(3)} fields where the header has {m.group(1)}"
    m = re.search(r"EOF inside string starting at row (\d+)", msg)
    if m:
        return f"a quoted field starting on row {m.group(1)} is never closed"
    return "the tokenizer stopped (" + re.sub(r"'.*?'", "'…'", _first_line(exc, 120)) + ")"


# the CLI's error lines name the parser problem too (a public name: no module imports another's private
# names)
parser_problem = _parser_problem
