"""How the command line reports a failure: one line on stderr and an exit code.

* a her2stats error (``InputError``, ``ConfigError``, ``ConvergenceError``, ``RError``,
  ``CacheError``, ``OutputError``...): ``her2stats: ConfigError: <message>``, exit code 2;
* a file that cannot be read (missing, a folder, permission, not UTF-8, invalid YAML, malformed
  CSV) that reached the command without being named by a her2stats error: the file and the
  cause, exit code 2;
* Ctrl-C: ``her2stats: interrupted``, exit code 130 (outputs are written atomically, so the
  previous output folder is unchanged);
* anything else is a bug: its type and the her2stats line it came from, exit code 1.

No message quotes a file's content: her2stats errors are written not to, and for exceptions from
other libraries (whose messages may quote data: ``could not convert string to float: 'root:x:0'``)
only the type and location are shown. ``--debug`` (or ``HER2STATS_DEBUG=1``) prints the
traceback first. Every command of a :class:`GuardedGroup` app gets this, including commands
added later.
"""
from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Any

import click
from typer.core import TyperCommand, TyperGroup

from .errors import Her2StatsError


def _flow_exceptions() -> tuple[type[BaseException], ...]:
    """click's normal control flow (--help, usage errors, Ctrl-C prompts), also in the click that
    typer >= 0.24 vendors as ``typer._click`` (its Exit is not click's)."""
    out: list[type[BaseException]] = [click.exceptions.Exit, click.ClickException, click.exceptions.Abort]
    try:
        import typer.exceptions as te

        out += [getattr(te, n) for n in ("Exit", "Abort") if isinstance(getattr(te, n, None), type)]
    except ImportError:  # pragma: no cover
        pass
    try:
        from typer._click import exceptions as tce  # type: ignore[import-not-found]

        out += [getattr(tce, n) for n in ("ClickException", "Exit", "Abort") if isinstance(getattr(tce, n, None), type)]
    except ImportError:
        pass
    return tuple(dict.fromkeys(out))


_FLOW = _flow_exceptions()

__all__ = ["GuardedGroup", "GuardedCommand", "set_debug", "error_line", "EXIT_ERROR", "EXIT_BUG", "EXIT_INTERRUPTED"]

EXIT_ERROR = 2
EXIT_BUG = 1
EXIT_INTERRUPTED = 130
MAX_MESSAGE = 2000

_state = {"debug": False}


def set_debug(on: bool) -> None:
    _state["debug"] = bool(on)


def _debug() -> bool:
    return _state["debug"] or os.environ.get("HER2STATS_DEBUG", "") not in ("", "0")


def _one_line(text: str) -> str:
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    line = "; ".join(lines) if lines else ""
    if len(line) > MAX_MESSAGE:
        line = line[:MAX_MESSAGE] + "… (--debug shows the whole message)"
    return line


def _origin(exc: BaseException) -> str:
    """``her2stats/<module>.py:<line>`` of the innermost her2stats frame, else the innermost frame."""
    frames = traceback.extract_tb(exc.__traceback__)
    pkg = str(Path(__file__).resolve().parent)
    ours = [f for f in frames if str(Path(f.filename).resolve()).startswith(pkg)]
    frame = (ours or frames or [None])[-1]
    if frame is None:
        return "unknown location"
    name = Path(frame.filename)
    try:
        shown = name.resolve().relative_to(Path(pkg).parent).as_posix()
    except ValueError:
        shown = name.name
    return f"{shown}:{frame.lineno}"


def error_line(exc: BaseException) -> tuple[str, int]:
    """(the line printed on stderr, the exit code) for an exception that ended a command."""
    if isinstance(exc, KeyboardInterrupt):
        return "her2stats: interrupted (outputs are written atomically: the previous output folder is unchanged)", \
            EXIT_INTERRUPTED
    if isinstance(exc, Her2StatsError):
        return f"her2stats: {type(exc).__name__}: {_one_line(str(exc))}", EXIT_ERROR
    if isinstance(exc, UnicodeDecodeError):
        return (f"her2stats: error: a file is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8",
                EXIT_ERROR)
    if isinstance(exc, OSError) and (exc.filename is not None or exc.strerror):
        where = f"{exc.filename}: " if exc.filename is not None else ""
        return f"her2stats: error: {where}{exc.strerror or type(exc).__name__}", EXIT_ERROR
    try:
        import yaml

        if isinstance(exc, yaml.YAMLError):
            from .files import yaml_problem

            return f"her2stats: error: not valid YAML: {yaml_problem(exc)}", EXIT_ERROR
    except ImportError:  # pragma: no cover - yaml is a dependency
        pass
    try:
        import pandas as pd

        if isinstance(exc, pd.errors.EmptyDataError):
            return "her2stats: error: a table file is empty", EXIT_ERROR
        if isinstance(exc, pd.errors.ParserError):
            from .files import parser_problem as _parser_problem

            return f"her2stats: error: a CSV table is malformed: {_parser_problem(exc)}", EXIT_ERROR
    except ImportError:  # pragma: no cover
        pass
    return (f"her2stats: internal error: {type(exc).__name__} at {_origin(exc)}; run again with --debug for the "
            f"traceback and report it"), EXIT_BUG


def report(exc: BaseException) -> int:
    """Print the traceback (with --debug) and the error line on stderr; return the exit code."""
    if _debug():
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    line, code = error_line(exc)
    click.echo(line, err=True)
    return code


class _Guarded:
    """``invoke`` that ends a failing command with one line and an exit code (module docstring)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)  # type: ignore[misc]
        except _FLOW:
            raise
        except (Exception, KeyboardInterrupt) as exc:
            ctx.exit(report(exc))


class GuardedGroup(_Guarded, TyperGroup):
    """A typer group whose commands fail with one line and an exit code (see the module docstring)."""


class GuardedCommand(_Guarded, TyperCommand):
    """The same for an app of a single command (typer then builds no group)."""
