"""Where her2stats keeps files it can rebuild (feature cache, demo images)."""
from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """``$HER2STATS_CACHE`` when set, else ``~/.cache/her2stats``."""
    base = os.environ.get("HER2STATS_CACHE")
    return Path(base).expanduser() if base else Path.home() / ".cache" / "her2stats"
