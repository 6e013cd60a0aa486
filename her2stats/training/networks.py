"""Trainable networks: any timm 2-D model with one output logit, and a 3-D ResNet-18.

Weights come from the same places as the frozen extractor's (:mod:`her2stats.features.backbones`):
``pretrained=True`` (ImageNet: the offline package for ``efficientnet_lite0``, the local timm hub
cache otherwise), a checkpoint path, or ``False`` (random initialisation, labelled ``random``
everywhere and never reported as pretrained). The new one-logit head is initialised from the
estimator's seed.

3-D: ``backbone="r3d_18"`` is torchvision's video ResNet-18 (Tran et al., CVPR 2018), the "3D
ResNet18" of seed 001, with a one-logit head. Its Kinetics-400 weights are a download that this
package does not do; without a local checkpoint (``pretrained="/path/r3d_18.pth"``) it is
random-initialised and says so. The grey volume is copied to the three input channels so that a
Kinetics checkpoint fits unchanged.

Freezing (``freeze=``):

* ``"none"``: every weight is trained (fine-tuning);
* ``"backbone"``: only the new head is trained (a linear probe of frozen features);
* ``"all-but-last-k"``: the last ``last_k`` stages (timm ``feature_info`` stages: ResNet
  ``layer1..4``, EfficientNet ``blocks.*``, ConvNeXt ``stages.*``, ViT ``blocks.*``) and everything
  after them (final conv, norm, head) are trained, the rest frozen.

Frozen batch-norm layers stay in evaluation mode during training, so their running statistics
(ImageNet's) are not overwritten by the small training set.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from ..errors import InputError

FREEZE = ("none", "backbone", "all-but-last-k")
NETWORKS_3D = ("r3d_18",)
KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)


@dataclass(frozen=True)
class NetworkSpec:
    """What was built: backbone name, weight source kind and digest, and whether it is 3-D."""

    backbone: str
    kind: str           # "package" | "hub" | "file" | "random"
    path: str | None
    digest: str
    is3d: bool

    @property
    def pretrained(self) -> bool:
        return self.kind != "random"

    def describe(self) -> str:
        from ..features.backbones import WeightsSpec

        return WeightsSpec(self.backbone, self.kind, self.path, self.digest).describe()


def resolve_network(backbone: str, pretrained: Any) -> NetworkSpec:
    """Where the network's weights come from (no model built)."""
    if backbone in NETWORKS_3D:
        import torch
        import torchvision

        if pretrained is True:
            raise InputError(
                f"no offline pretrained weights for {backbone!r}: torchvision's Kinetics-400 weights must be downloaded "
                f"(torchvision.models.video.R3D_18_Weights.KINETICS400_V1) where there is internet and passed as "
                f"pretrained='/path/to/r3d_18.pth'; or use pretrained=False (random initialisation, labelled so)")
        if pretrained is False or pretrained is None:
            desc = f"random-init|{backbone}|torchvision={torchvision.__version__}|torch={torch.__version__.split('+')[0]}"
            return NetworkSpec(backbone, "random", None, hashlib.sha256(desc.encode()).hexdigest(), True)
        from pathlib import Path

        from ..features.backbones import sha256_file

        p = Path(pretrained)
        if not p.is_file():
            raise InputError(f"pretrained={str(pretrained)!r}: checkpoint file not found")
        return NetworkSpec(backbone, "file", str(p), sha256_file(p), True)
    from ..features.backbones import resolve_weights

    spec = resolve_weights(backbone, pretrained)
    return NetworkSpec(spec.backbone, spec.kind, spec.path, spec.digest, False)


def build_network(spec: NetworkSpec, seed: int = 0) -> Any:
    """The trainable network with a one-logit head (train mode, every weight trainable)."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        if spec.is3d:
            model = _build_r3d(spec)
        else:
            model = _build_timm(spec)
    for p in model.parameters():
        p.requires_grad_(True)
    model.train()
    return model


def _build_timm(spec: NetworkSpec) -> Any:
    import timm

    from ..features.backbones import map_lite0_state_dict
    from ..features.backbones import read_checkpoint as _read_checkpoint

    name = spec.backbone
    try:
        if spec.kind == "random":
            return timm.create_model(name, pretrained=False, num_classes=1)
        if spec.kind == "hub":
            return timm.create_model(name, pretrained=True, pretrained_cfg_overlay={"file": spec.path}, num_classes=1)
        if spec.kind == "package":
            model = timm.create_model(name, pretrained=False)
            model.load_state_dict(map_lite0_state_dict(_read_checkpoint(spec.path), model.state_dict()))
            model.reset_classifier(1)
            return model
        model = timm.create_model(name, pretrained=False, num_classes=1)
        sd = _read_checkpoint(spec.path)
        head = model.pretrained_cfg.get("classifier", "")
        heads = (head,) if isinstance(head, str) else tuple(head)
        is_head = lambda k: any(k.startswith(h + ".") for h in heads)  # noqa: E731
        own = model.state_dict()
        # a checkpoint's classifier (ImageNet 1000 classes, or this package's own one-logit head)
        # is used only when it has the shape of the new head
        sd = {k: v for k, v in sd.items() if not (is_head(k) and (k not in own or own[k].shape != v.shape))}
        result = model.load_state_dict(sd, strict=False)
        missing = [k for k in result.missing_keys if not is_head(k)]
        if missing:
            raise InputError(f"checkpoint {spec.path} lacks {len(missing)} weight(s) of {name} (e.g. {missing[:3]}); "
                             f"is it a checkpoint of this architecture?")
        extra = [k for k in result.unexpected_keys if not is_head(k)]
        if extra:
            raise InputError(f"checkpoint {spec.path} has {len(extra)} weight(s) that {name} does not use "
                             f"(e.g. {extra[:3]}); is it a checkpoint of this architecture?")
        return model
    except (RuntimeError, TypeError, ValueError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"cannot build network {name!r} from {spec.describe()}: {exc}") from exc


def _build_r3d(spec: NetworkSpec) -> Any:
    import torch
    from torchvision.models.video import r3d_18

    from ..features.backbones import read_checkpoint as _read_checkpoint

    model = r3d_18(weights=None)
    if spec.kind == "file":
        sd = _read_checkpoint(spec.path)
        sd = {k: v for k, v in sd.items() if not (k.startswith("fc.") and v.shape[0] != 1)}
        result = model.load_state_dict(sd, strict=False)
        missing = [k for k in result.missing_keys if not k.startswith("fc.")]
        if missing or result.unexpected_keys:
            raise InputError(f"checkpoint {spec.path} does not fit r3d_18 (missing {missing[:3]}, unexpected "
                             f"{list(result.unexpected_keys)[:3]})")
        if "fc.weight" in sd and sd["fc.weight"].shape[0] == 1:
            return model
    model.fc = torch.nn.Linear(model.fc.in_features, 1)
    return model


def stage_names(model: Any) -> list[str]:
    """The network's stages in forward order (timm ``feature_info``; r3d_18 ``layer1..4``)."""
    info = getattr(model, "feature_info", None)
    if info is not None:
        try:
            return [f["module"] for f in info]
        except (TypeError, KeyError):
            pass
    names = [n for n, _ in model.named_children()]
    if all(f"layer{i}" in names for i in range(1, 5)):
        return [f"layer{i}" for i in range(1, 5)]
    return []


def head_parameter_names(model: Any) -> list[str]:
    """Names of the head's parameters (the new one-logit layer)."""
    if hasattr(model, "get_classifier"):
        head = model.get_classifier()
        ids = {id(p) for p in head.parameters()}
        return [n for n, p in model.named_parameters() if id(p) in ids]
    return [n for n, _ in model.named_parameters() if n.startswith("fc.")]


def apply_freeze(model: Any, freeze: str, last_k: int = 1) -> dict[str, int]:
    """Set ``requires_grad`` as ``freeze`` says; returns counts of trainable and frozen weights."""
    if freeze not in FREEZE:
        raise InputError(f"freeze must be one of {FREEZE}, got {freeze!r}")
    params = list(model.named_parameters())
    if freeze == "none":
        trainable = {n for n, _ in params}
    elif freeze == "backbone":
        trainable = set(head_parameter_names(model))
    else:
        stages = stage_names(model)
        if not stages:
            raise InputError(f"freeze='all-but-last-k' needs the network's stages, which {type(model).__name__} does not "
                             f"declare; use freeze='none' or 'backbone'")
        if not 1 <= int(last_k) <= len(stages):
            raise InputError(f"last_k must be between 1 and {len(stages)} (the network's stages {stages}), got {last_k!r}")
        first = stages[-int(last_k)]
        start = next((i for i, (n, _) in enumerate(params) if n == first or n.startswith(first + ".")), None)
        if start is None:
            raise InputError(f"stage {first!r} has no parameters; choose another last_k")
        trainable = {n for n, _ in params[start:]} | set(head_parameter_names(model))
    for n, p in params:
        p.requires_grad_(n in trainable)
    n_train = sum(p.numel() for n, p in params if n in trainable)
    return {"trainable": int(n_train), "frozen": int(sum(p.numel() for _, p in params) - n_train)}


def set_train_mode(model: Any) -> None:
    """``model.train()``, then batch-norm layers whose weights are all frozen back to eval mode."""
    import torch

    model.train()
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            ps = list(m.parameters(recurse=False))
            if ps and not any(p.requires_grad for p in ps):
                m.eval()


def input_stats(spec: NetworkSpec) -> tuple[tuple[float, ...], tuple[float, ...], int]:
    """Mean, std (per channel) and input side the network's weights expect (no model built)."""
    if spec.is3d:
        return KINETICS_MEAN, KINETICS_STD, 96
    from ..features.backbones import data_config

    cfg = data_config(spec.backbone)
    return tuple(cfg["mean"]), tuple(cfg["std"]), int(cfg["input_size"])


def forward_features(model: Any, x: Any, is3d: bool) -> Any:
    """Pooled penultimate features (the input of the head)."""
    import torch

    if is3d:
        h = model.stem(x)
        for name in ("layer1", "layer2", "layer3", "layer4"):
            h = getattr(model, name)(h)
        return torch.flatten(model.avgpool(h), 1)
    return model.forward_head(model.forward_features(x), pre_logits=True)
