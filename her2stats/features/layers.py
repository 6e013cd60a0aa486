"""Features of an intermediate layer or stage of a timm backbone, pooled to one vector per image.

``layer`` names what :class:`~her2stats.features.DeepFeatureExtractor` returns:

* ``None`` (default): the backbone's final pooled features (classifier removed): ResNet50 2048,
  VGG16 4096 (``pre_logits``, the second fully connected layer), EfficientNet-B0 1280, ViT-S 384;
* an integer: a stage of timm's ``feature_info`` (ResNet ``act1, layer1..layer4``; EfficientNet
  ``blocks.*``; ConvNeXt ``stages.*``; ViT ``blocks.*``), negative values counting from the last;
* a string: any module name of the network (``model.named_modules()``, e.g. ``"layer3"``,
  ``"layer4.2.act3"``, ``"blocks.6"``, ``"features.22"``, ``"pre_logits.fc1"``); seed 004 took
  the "10th ReLU activation layer" of its network. :func:`list_layers` prints the names.

The layer's output is captured with a forward hook (the rest of the network is not run) and pooled:

* convolutional maps ``(N, C, H, W)``: ``"avg"`` (global average), ``"max"`` or ``"avgmax"``
  (their mean, as timm), giving C features;
* transformer tokens ``(N, L, C)``: ``"token"`` (the class token) or ``"avg"`` (mean over the
  patch tokens, prefix tokens excluded).

``pooling="auto"`` (the default) chooses: the backbone's own pooling for the final features
(``"avg"`` for CNNs; for ViTs timm's default, the class token for ``vit_small_patch16_224``,
which is what the classifier reads: the "final layer" features of seed 000), and for an
intermediate ViT block the mean of the patch tokens, because the class token of an
intermediate block has not been trained to summarise the image (only the last block's class
token feeds the head), while the patch tokens carry the block's spatial features.
"""
from __future__ import annotations

from typing import Any

from ..errors import InputError
from .timm_facts import meta_model, timm_facts

POOLINGS = ("auto", "avg", "max", "avgmax", "token")


_meta_model = meta_model


def is_transformer(backbone: str) -> bool:
    """True when the backbone's features are tokens (a ``num_prefix_tokens`` attribute, as timm ViTs)."""
    return hasattr(_meta_model(backbone), "num_prefix_tokens")


def default_pooling(backbone: str, layer: Any = None) -> str:
    """What ``pooling="auto"`` means for this backbone and layer (see the module docstring)."""
    own = timm_facts(backbone)["pooling"]  # the model's own global pooling, remembered per timm version
    if layer is None:
        return own if own in ("avg", "max", "avgmax", "token") else "avg"
    return "avg"


def resolve_layer(backbone: str, layer: Any) -> str | None:
    """The module name ``layer`` refers to (None for the final features), or InputError."""
    if layer is None:
        return None
    model = _meta_model(backbone)
    if isinstance(layer, bool) or not isinstance(layer, (int, str)):
        raise InputError(f"layer must be None, a stage number or a module name, got {layer!r}")
    if isinstance(layer, int):
        stages = [f["module"] for f in getattr(model, "feature_info", [])]
        if not stages:
            raise InputError(f"{backbone!r} declares no stages; give the layer as a module name (see list_layers)")
        if not -len(stages) <= layer < len(stages):
            raise InputError(f"layer={layer} is out of range: {backbone!r} has {len(stages)} stages {stages}")
        return stages[layer]
    names = dict(model.named_modules())
    if layer not in names or layer == "":
        close = [n for n in names if n and (layer in n or n in layer)][:8]
        raise InputError(f"{backbone!r} has no layer {layer!r}" + (f"; close names: {close}" if close else "")
                         + "; see her2stats.features.list_layers(backbone)")
    return layer


def list_layers(backbone: str, depth: int | None = 2) -> list[str]:
    """Module names of ``backbone`` usable as ``layer=`` (up to ``depth`` dots; None: all)."""
    model = _meta_model(backbone)
    return [n for n, _ in model.named_modules() if n and (depth is None or n.count(".") < depth)]


class _Stop(Exception):
    pass


def pool(t: Any, pooling: str, n_prefix: int = 0) -> Any:
    """Pool a feature map ``(N, C, H, W)`` or tokens ``(N, L, C)`` to ``(N, C)``."""
    import torch

    if isinstance(t, (tuple, list)):
        t = t[0]
    if t.ndim == 2:
        return t
    if t.ndim == 4:
        if pooling == "token":
            raise InputError("pooling='token' applies to transformer tokens, not to a convolutional map")
        avg = t.mean(dim=(2, 3))
        if pooling == "avg":
            return avg
        mx = t.amax(dim=(2, 3))
        return mx if pooling == "max" else 0.5 * (avg + mx)
    if t.ndim == 3:
        if pooling == "token":
            if n_prefix < 1:
                raise InputError("pooling='token' needs a class token; this layer has none (use 'avg')")
            return t[:, 0]
        patches = t[:, n_prefix:]
        if pooling == "avg":
            return patches.mean(dim=1)
        mx = patches.amax(dim=1)
        return mx if pooling == "max" else 0.5 * (patches.mean(dim=1) + mx)
    raise InputError(f"cannot pool a layer output of shape {tuple(t.shape)}")


def layer_model(model: Any, layer: str, pooling: str) -> Any:
    """Wrap a built backbone so that calling it returns the pooled output of ``layer``."""
    import torch

    class LayerFeatures(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model
            self.layer = layer
            self.pooling = pooling
            self.n_prefix = int(getattr(model, "num_prefix_tokens", 0) or 0)
            self.target = model.get_submodule(layer)

        def forward(self, x: Any) -> Any:
            store: dict[str, Any] = {}

            def hook(mod: Any, inp: Any, out: Any) -> None:
                store["out"] = out
                raise _Stop

            handle = self.target.register_forward_hook(hook)
            try:
                self.model(x)
            except _Stop:
                pass
            finally:
                handle.remove()
            if "out" not in store:
                raise InputError(f"layer {self.layer!r} was not reached in the forward pass")
            return pool(store["out"], self.pooling, self.n_prefix)

    wrapped = LayerFeatures()
    wrapped.eval()
    return wrapped
