"""Exception types of her2stats.

Every message names the column, file, case or value at fault and, where there is one, the fix.
"""
from __future__ import annotations


class Her2StatsError(Exception):
    """Base class of every error raised on purpose by her2stats."""


class InputError(Her2StatsError, ValueError):
    """Bad user input: wrong column, level, type, length, or an impossible value."""


class EmptyModelError(InputError):
    """A stepwise selection removed every covariate: the null model has the lowest AIC, so there is
    no model to report (a finding about the data, which a caller may report as such)."""


class RUnavailableError(Her2StatsError, RuntimeError):
    """R, rpy2 or a required R package is not installed (the message says how to install it)."""


class RError(Her2StatsError, RuntimeError):
    """An error raised inside R, carrying R's own message in ``r_message``."""

    def __init__(self, message: str, r_message: str | None = None, r_function: str | None = None):
        super().__init__(message)
        self.r_message = r_message if r_message is not None else message
        self.r_function = r_function


class RWarning(UserWarning):
    """A warning raised inside R and re-raised in Python."""


class ConvergenceError(Her2StatsError, RuntimeError):
    """A model fit did not converge (e.g. complete separation in logistic regression)."""


class CacheError(Her2StatsError, RuntimeError):
    """The feature cache is unreadable, corrupt or misconfigured."""


class ConfigError(Her2StatsError, ValueError):
    """A study configuration file is invalid."""


class DroppedRowsWarning(UserWarning):
    """Rows with missing values were left out of an analysis.

    The message always reads ``"<function>: dropped N of M rows with missing values in <columns>"``
    so that the count and the columns reach the log and the report.
    """


class DirectionWarning(UserWarning):
    """``direction="auto"`` chose ``">"`` (controls have higher scores than cases).

    pROC prints ``Setting direction: controls > cases`` in this case; her2stats warns with the same
    words, because an AUC computed in the direction the data happen to favour is optimistic (fix
    the direction on development data and carry it to test cohorts).
    """


class OutputError(Her2StatsError, RuntimeError):
    """An output folder cannot be written: another run holds its lock, it is not a her2stats
    output, or the final swap failed (the previous output is then left as it was)."""


def find_stack_level() -> int:
    """The ``stacklevel`` that makes a warning point at the first frame outside her2stats.

    Counted, not hand-tuned: package code calls ``warnings.warn(msg, Category,
    stacklevel=find_stack_level())`` and the warning names the user's line however many package
    frames (wrappers, helpers, the deprecated-name shim) sit in between, as pandas does.
    """
    import inspect
    import os

    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    frame = inspect.currentframe()
    n = 0
    try:
        while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
            frame = frame.f_back
            n += 1
    finally:
        del frame
    return max(n, 1)
