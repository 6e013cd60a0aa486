"""Choice of computation engine.

Every procedure that R can compute takes ``engine="r" | "python" | None``. ``None`` means the
package default, set with :func:`set_engine`. Without an explicit default, the default is ``"r"``
when R, rpy2 and the R sources can be found, otherwise ``"python"`` (with one warning).
Checking availability never starts R.
"""
from __future__ import annotations

import importlib.util
import shutil
import threading
import warnings
from .errors import find_stack_level

_ENGINES = ("r", "python")
_lock = threading.Lock()
_default: str | None = None
_warned = False


def r_available() -> bool:
    """Whether R and rpy2 are installed (does not start R)."""
    return shutil.which("R") is not None and importlib.util.find_spec("rpy2") is not None


def set_engine(engine: str | None) -> None:
    """Set the package-wide default engine (``"r"``, ``"python"``, or ``None`` to auto-detect)."""
    global _default
    if engine is not None and engine not in _ENGINES:
        from .errors import InputError

        raise InputError(f"engine must be one of {_ENGINES} or None, got {engine!r}")
    with _lock:
        _default = engine


def get_engine() -> str:
    """Return the default engine now in force."""
    global _warned
    with _lock:
        if _default is not None:
            return _default
        if r_available():
            return "r"
        if not _warned:
            warnings.warn(
                "R/rpy2 not found: her2stats falls back to engine='python'. "
                "Install R with `apt-get install -y r-base-core r-cran-rms r-cran-proc r-cran-survival` "
                "and `pip install 'rpy2>=3.5.17,<3.6'` to use engine='r'.",
                RuntimeWarning,
                stacklevel=find_stack_level(),
            )
            _warned = True
        return "python"


def resolve_engine(engine: str | None) -> str:
    """Validate an ``engine`` argument and resolve ``None`` to the default."""
    if engine is None:
        return get_engine()
    if engine not in _ENGINES:
        from .errors import InputError

        raise InputError(f"engine must be one of {_ENGINES} or None, got {engine!r}")
    return engine
