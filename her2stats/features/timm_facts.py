"""What timm says of a backbone, remembered per timm version, so that a run whose image features
all come from the feature cache needs neither timm nor torch (importing them takes seconds).

The feature cache key holds the backbone's input size, mean and std (its preprocessing) and its
own global pooling (``pooling="auto"``); :func:`timm_facts` reads them from timm once per timm
version and backbone and keeps them in :data:`TIMM_FACTS_FILE` under
:func:`her2stats.paths.cache_root`. :func:`meta_model` builds a backbone on PyTorch's meta device
for its names and defaults.
"""
from __future__ import annotations

import functools
import json
import threading
from pathlib import Path
from typing import Any

from ..errors import InputError

#: file (under :func:`her2stats.paths.cache_root`) remembering, per timm version and backbone, the
#: facts a feature cache key needs from timm: importing timm imports torch (seconds), which a run
#: whose every case is already in the feature cache otherwise never needs
TIMM_FACTS_FILE = "timm_facts.json"
_facts_lock = threading.Lock()


def _timm_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("timm")
    except PackageNotFoundError:
        return None


def _facts_path() -> Path:
    from ..paths import cache_root

    return cache_root() / TIMM_FACTS_FILE


def timm_facts(backbone: str) -> dict[str, Any]:
    """What timm says of ``backbone`` (its name is a timm model; input size, mean and std of its
    pretrained configuration; its own global pooling), remembered per timm version in
    :data:`TIMM_FACTS_FILE` so that later runs read them without importing timm and torch.
    Raises InputError for a name timm does not know (never remembered)."""
    ver = _timm_version()
    key = f"{backbone}|timm={ver}"
    path = _facts_path()
    with _facts_lock:
        try:
            memo = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(memo, dict):
                memo = {}
        except (OSError, ValueError):
            memo = {}
        hit = memo.get(key)
        if isinstance(hit, dict) and {"input_size", "mean", "std", "pooling"} <= set(hit):
            return hit
    check_timm_name(backbone)
    import timm

    cfg = timm.models.get_pretrained_cfg(backbone)
    d = cfg.to_dict() if cfg is not None else {}
    facts = {"input_size": int(d.get("input_size", (3, 224, 224))[-1]), "mean": list(d.get("mean", (0.485, 0.456, 0.406))),
             "std": list(d.get("std", (0.229, 0.224, 0.225))), "pooling": model_pooling(backbone)}
    if ver is not None and timm.__version__ == ver:
        with _facts_lock:
            try:
                memo = json.loads(path.read_text(encoding="utf-8"))
                memo = memo if isinstance(memo, dict) else {}
            except (OSError, ValueError):
                memo = {}
            memo[key] = facts
            try:  # a read-only or full cache folder costs the import next time, nothing else
                from ..atomic import atomic_write

                path.parent.mkdir(parents=True, exist_ok=True)
                atomic_write(path, json.dumps(memo, sort_keys=True, indent=1))
            except OSError:
                pass
    return facts


def check_timm_name(backbone: Any) -> None:
    """InputError unless ``backbone`` is a timm model name (imports timm), with close names."""
    import timm

    if not isinstance(backbone, str) or not timm.is_model(backbone):
        close = timm.list_models(f"*{backbone}*")[:8] if isinstance(backbone, str) else []
        raise InputError(f"unknown timm backbone {backbone!r}" + (f"; close names: {close}" if close else
                                                                 "; see timm.list_models()"))


@functools.lru_cache(maxsize=32)
def meta_model(backbone: str) -> Any:
    """The architecture on PyTorch's meta device (no memory, no weights): for names and defaults."""
    import timm
    import torch

    with torch.device("meta"):
        return timm.create_model(backbone, pretrained=False, num_classes=0)


def model_pooling(backbone: str) -> str:
    """The backbone's own global pooling (timm's ``global_pool``; ``"avg"`` when it names none)."""
    own = getattr(meta_model(backbone), "global_pool", "avg")
    own = getattr(own, "pool_type", own)
    return own if isinstance(own, str) and own else "avg"
