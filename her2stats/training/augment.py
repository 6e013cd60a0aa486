"""Training-time augmentation and Mixup, drawn from a seeded numpy generator.

Every random number (flip, angle, scale, shift, brightness, contrast, noise, blur, Mixup weight
and partner) comes from the ``numpy.random.Generator`` the trainer passes in, which is seeded from
the estimator's ``seed`` and the epoch: the same seed gives the same augmented batches, on one
machine or another, and augmentation never touches the network's own random state.

The operations work on a batch ``(N, C, H, W)`` (2-D, 2.5-D) or ``(N, C, D, H, W)`` (3-D) of
inputs in [0, 1], before per-channel normalisation; geometric transforms act in plane (the last two
axes) and, for volumes, ``flip_depth`` flips along z. They are what seeds 001 and 003 list:
flips, rotations, scaling, panning (translation), brightness/contrast, Gaussian noise, Gaussian
blur, and Mixup (Zhang et al., ICLR 2018).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..errors import InputError


@dataclass(frozen=True)
class Augmentation:
    """Random transforms applied to each training sample independently.

    Parameters
    ----------
    flip_h, flip_v, flip_depth : probability of a left-right, up-down, and (volumes) z flip.
    rotate90 : rotate by a random multiple of 90 degrees in plane (square inputs).
    rotate : maximum absolute rotation angle in degrees (uniform in [-rotate, rotate]).
    scale : ``(low, high)`` zoom factor range (1 = none; > 1 zooms in, like a random crop).
    translate : maximum shift as a fraction of the side (panning).
    brightness : maximum additive shift of intensity (inputs are in [0, 1]).
    contrast : maximum relative change of contrast around the image mean (0.2: factor in [0.8, 1.2]).
    noise : standard deviation of additive Gaussian noise (applied with probability ``p_noise``).
    blur : maximum Gaussian blur sigma in pixels (applied with probability ``p_blur``).

    ``Augmentation.preset("seed001")`` gives the list of seed 001 (flips, scaling, panning, noise,
    blur, brightness/contrast); ``"seed003"`` random crop and horizontal/vertical flips;
    ``"light"`` horizontal flips and small shifts.
    """

    flip_h: float = 0.0
    flip_v: float = 0.0
    flip_depth: float = 0.0
    rotate90: bool = False
    rotate: float = 0.0
    scale: tuple[float, float] = (1.0, 1.0)
    translate: float = 0.0
    brightness: float = 0.0
    contrast: float = 0.0
    noise: float = 0.0
    p_noise: float = 0.5
    blur: float = 0.0
    p_blur: float = 0.3

    def __post_init__(self) -> None:
        for name in ("flip_h", "flip_v", "flip_depth", "p_noise", "p_blur"):
            v = getattr(self, name)
            if not 0.0 <= float(v) <= 1.0:
                raise InputError(f"Augmentation {name} is a probability in [0, 1], got {v!r}")
        for name in ("rotate", "translate", "brightness", "contrast", "noise", "blur"):
            v = getattr(self, name)
            if not np.isfinite(float(v)) or float(v) < 0:
                raise InputError(f"Augmentation {name} must be a finite value >= 0, got {v!r}")
        lo, hi = self.scale
        if not 0 < float(lo) <= float(hi):
            raise InputError(f"Augmentation scale must be (low, high) with 0 < low <= high, got {self.scale!r}")
        if self.translate >= 0.5 or self.contrast >= 1:
            raise InputError("Augmentation translate must be < 0.5 (of the side) and contrast < 1")

    @classmethod
    def preset(cls, name: str) -> "Augmentation":
        presets = {
            "seed001": cls(flip_h=0.5, flip_v=0.5, flip_depth=0.5, scale=(0.9, 1.1), translate=0.1, brightness=0.1,
                           contrast=0.2, noise=0.03, blur=1.0),
            "seed003": cls(flip_h=0.5, flip_v=0.5, scale=(1.0, 1.15), translate=0.07),
            "light": cls(flip_h=0.5, translate=0.05),
        }
        if name not in presets:
            raise InputError(f"unknown augmentation preset {name!r}; choose from {sorted(presets)}")
        return presets[name]

    @property
    def active(self) -> bool:
        return self != Augmentation()

    def describe(self) -> str:
        d = asdict(self)
        default = asdict(Augmentation())
        parts = [f"{k}={v}" for k, v in d.items() if v != default[k] and k not in ("p_noise", "p_blur")]
        return ", ".join(parts) if parts else "none"

    # ------------------------------------------------------------------ application
    def __call__(self, x: Any, rng: np.random.Generator) -> Any:
        """Augment a batch tensor (returns a new tensor; ``x`` is not modified)."""
        import torch

        if not self.active:
            return x
        n = x.shape[0]
        spatial = x.shape[2:]
        out = x.clone()
        is3d = len(spatial) == 3
        flips_h = rng.random(n) < self.flip_h
        flips_v = rng.random(n) < self.flip_v
        flips_d = rng.random(n) < self.flip_depth if is3d else np.zeros(n, bool)
        k90 = rng.integers(0, 4, n) if self.rotate90 else np.zeros(n, int)
        for i in range(n):
            xi = out[i]
            if flips_h[i]:
                xi = torch.flip(xi, dims=(-1,))
            if flips_v[i]:
                xi = torch.flip(xi, dims=(-2,))
            if flips_d[i]:
                xi = torch.flip(xi, dims=(-3,))
            if k90[i] and spatial[-1] == spatial[-2]:
                xi = torch.rot90(xi, int(k90[i]), dims=(-2, -1))
            out[i] = xi
        angle = rng.uniform(-self.rotate, self.rotate, n) if self.rotate else np.zeros(n)
        zoom = rng.uniform(self.scale[0], self.scale[1], n)
        shift = rng.uniform(-self.translate, self.translate, (n, 2)) * 2 if self.translate else np.zeros((n, 2))
        if self.rotate or self.translate or self.scale != (1.0, 1.0):
            out = _affine(out, angle, zoom, shift)
        if self.contrast:
            c = torch.as_tensor(rng.uniform(1 - self.contrast, 1 + self.contrast, n), dtype=out.dtype)
            dims = tuple(range(1, out.ndim))
            mean = out.mean(dim=dims, keepdim=True)
            out = (out - mean) * c.view(-1, *([1] * (out.ndim - 1))) + mean
        if self.brightness:
            b = torch.as_tensor(rng.uniform(-self.brightness, self.brightness, n), dtype=out.dtype)
            out = out + b.view(-1, *([1] * (out.ndim - 1)))
        if self.noise:
            use = rng.random(n) < self.p_noise
            noise = torch.as_tensor(rng.standard_normal(tuple(out.shape)).astype(np.float32), dtype=out.dtype)
            out = out + noise * self.noise * torch.as_tensor(use, dtype=out.dtype).view(-1, *([1] * (out.ndim - 1)))
        if self.blur:
            use = rng.random(n) < self.p_blur
            sig = rng.uniform(0.1, self.blur, n)
            for i in np.flatnonzero(use):
                out[i] = _gaussian_blur(out[i], float(sig[i]))
        return out


def _affine(x: Any, angle_deg: np.ndarray, zoom: np.ndarray, shift: np.ndarray) -> Any:
    """In-plane rotation, zoom and shift of each sample (bilinear, zero padding)."""
    import torch
    import torch.nn.functional as F

    n = x.shape[0]
    a = np.deg2rad(angle_deg)
    cos, sin = np.cos(a) / zoom, np.sin(a) / zoom
    if x.ndim == 4:
        theta = np.zeros((n, 2, 3), np.float32)
        theta[:, 0, 0], theta[:, 0, 1], theta[:, 0, 2] = cos, -sin, shift[:, 0]
        theta[:, 1, 0], theta[:, 1, 1], theta[:, 1, 2] = sin, cos, shift[:, 1]
    else:  # (N, C, D, H, W): grid coordinates are (x, y, z); rotate about z
        theta = np.zeros((n, 3, 4), np.float32)
        theta[:, 0, 0], theta[:, 0, 1], theta[:, 0, 3] = cos, -sin, shift[:, 0]
        theta[:, 1, 0], theta[:, 1, 1], theta[:, 1, 3] = sin, cos, shift[:, 1]
        theta[:, 2, 2] = 1.0
    grid = F.affine_grid(torch.from_numpy(theta).to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _gaussian_blur(x: Any, sigma: float) -> Any:
    """Separable Gaussian blur of one sample ``(C, *spatial)`` along its in-plane axes."""
    import torch
    import torch.nn.functional as F

    radius = max(1, int(round(3 * sigma)))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    c = x.shape[0]
    flat = x.reshape(-1, 1, *x.shape[-2:])  # every channel (and slice) as a 2-D image
    flat = F.conv2d(F.pad(flat, (radius, radius, 0, 0), mode="replicate"), k.view(1, 1, 1, -1))
    flat = F.conv2d(F.pad(flat, (0, 0, radius, radius), mode="replicate"), k.view(1, 1, -1, 1))
    return flat.reshape(c, *x.shape[1:])


def mixup(x: Any, y: Any, alpha: float, rng: np.random.Generator) -> tuple[Any, Any, float]:
    r"""Mixup (Zhang et al., ICLR 2018): :math:`\tilde x = \lambda x_i + (1-\lambda) x_{\pi(i)}`,
    :math:`\tilde y = \lambda y_i + (1-\lambda) y_{\pi(i)}` with one
    :math:`\lambda \sim \mathrm{Beta}(\alpha, \alpha)` per batch and a random permutation
    :math:`\pi`. The soft targets go into the (weighted) binary cross-entropy."""
    import torch

    lam = float(rng.beta(alpha, alpha))
    perm = torch.as_tensor(rng.permutation(x.shape[0]))
    return lam * x + (1 - lam) * x[perm], lam * y + (1 - lam) * y[perm], lam


def resolve_augmentation(value: Any) -> Augmentation:
    """``None``/``False`` -> no augmentation; a preset name; a dict of fields; an Augmentation."""
    if value is None or value is False:
        return Augmentation()
    if isinstance(value, Augmentation):
        return value
    if isinstance(value, str):
        return Augmentation.preset(value)
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(asdict(Augmentation())))
        if unknown:
            raise InputError(f"unknown augmentation field(s) {unknown}; fields: {sorted(asdict(Augmentation()))}")
        v = dict(value)
        if "scale" in v:
            v["scale"] = tuple(v["scale"])
        return Augmentation(**v)
    raise InputError(f"augmentation must be None, a preset name, a dict or an Augmentation, got {type(value).__name__}")
