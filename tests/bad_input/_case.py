"""One row of the bad-input matrix: input x function x engine -> error class and message words.

Each ``cases_<area>.py`` module in this package defines ``CASES: list[Case]``; ``test_matrix.py``
collects every module, so a new function joins the matrix by adding rows to its area's file.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

ENGINES = ("python", "r")


@dataclass(frozen=True)
class Case:
    """A bad input and what every engine must answer.

    id       : "<function>/<what is wrong>", unique across the matrix
    call     : ``call(engine)`` makes the call; ``engine`` is "python" or "r" (or None for
               functions without an engine, see ``engines``)
    error    : the exception class every engine must raise (None when only a warning is expected)
    words    : each must appear in the message (case-insensitive): the column, file, value or cause
    warning  : a warning class that must be emitted (with ``words`` in its message when ``error``
               is None)
    engines  : the engines the case runs on; ``(None,)`` for engine-free functions (CLI, cache...)
    """

    id: str
    call: Callable[[Any], Any]
    error: type[BaseException] | None
    words: tuple[str, ...] = ()
    warning: type[Warning] | None = None
    engines: tuple[Any, ...] = ENGINES
