"""A trained 2-D segmentation network (U-Net-style): :class:`SegmentationNetwork`,
:func:`fit_segmentation_network` (seed 004: deep-learning radiomics -- segment the tumour with a
trained network, then take features of the segmented region).

Network
-------
Encoder: any timm model built with ``features_only=True`` (default ``efficientnet_lite0``, whose
ImageNet weights the package loads offline; ``pretrained=False`` is a random initialisation and is
labelled ``random`` everywhere, never "pretrained"). Decoder: at each encoder stage from the
deepest up, a 2x bilinear upsampling, concatenation with the next shallower stage's features and
two 3x3 convolution + batch-norm + ReLU blocks (Ronneberger et al., MICCAI 2015, with a
pretrained encoder), then a last 2x upsampling to the input side and a 1x1 convolution to one
logit per pixel. Loss: soft Dice + binary cross-entropy, averaged
(:math:`L = \\tfrac12 \\mathrm{BCE} + \\tfrac12 (1 - \\tfrac{2\\sum p g + 1}{\\sum p + \\sum g + 1})`,
per batch; Milletari et al., 3DV 2016).

Inputs (one row per patient of the usual case table: ``patient_id``, ``image_path``,
``mask_path``)
--------------------------------------------------------------------------------------------
* ``slices="largest"``: the axial slice of largest manual-mask area (a 2-D image as is) -- the
  slice a reader marks; ``slices="all"``: every slice of the volume (slices without tumour teach
  the network to predict none), each a training sample, and every slice is predicted.
* ``box="mask"``: an in-plane box around the manual mask's bounding box (union over slices) plus
  ``margin`` pixels, clipped to the image -- the reader localises the lesion, the network delineates
  it; ``box="image"``: the whole slice (with ``slices="all"`` the prediction uses no manual mask at
  all: fully automatic).
* intensities: the box's 1st-99th percentile (over the used slices) mapped to [0, 1] -- never
  statistics inside the manual mask, which a new patient would not have -- then bilinear resize
  to ``size`` x ``size``, the grey level copied to three channels, ImageNet per-channel
  normalisation (the encoder's weights' own statistics).

Training: ``fit(cases)`` splits the patients once (seeded) into an inner training part and an
inner validation part (``validation_size``); the network is trained on the first, and the
second alone chooses the kept checkpoint (best mean validation Dice per patient) and when to stop
early. Augmentation (:class:`~her2stats.training.Augmentation`): its geometric transforms (flips,
90-degree rotations, rotation, zoom, shift) move image and mask together, its intensity transforms
(brightness, contrast, noise, blur) touch the image only. Deterministic on CPU with ``seed``;
mixed precision (fp16 autocast) on CUDA, where runs are reproducible only up to floating-point
non-associativity.

Prediction: per-pixel probabilities resized back to the box, thresholded at 0.5, pasted into an
empty volume on the image grid; with ``largest_component=True`` the largest 3-D connected component
is kept. A patient whose prediction is empty at 0.5 gets the pixels at or above half its maximum
probability instead (counted in ``fallback_``; an empty mask cannot give features). Every file read
goes through :func:`her2stats.training.inputs.read_case` (the leakage tests watch it).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from ..errors import InputError
from ..results import Result
from . import inputs as _inputs
from .classifier import Deterministic as _Deterministic
from .classifier import epoch_batches, plot_training_curves
from .classifier import resolve_training_device as _device
from .augment import Augmentation, resolve_augmentation

__all__ = ["SegmentationNetwork", "SegmentationHistory", "fit_segmentation_network", "PredictedMask"]

SLICES = ("largest", "all")
BOX = ("mask", "image")
_GEOMETRIC = ("flip_h", "flip_v", "flip_depth", "rotate90", "rotate", "scale", "translate")
_INTENSITY = ("brightness", "contrast", "noise", "blur")


# =========================================================================== result
@dataclass(frozen=True, repr=False)
class SegmentationHistory(Result):
    """Per-epoch training curves of a segmentation network.

    ``frame``: epoch, train_loss (Dice + BCE over the epoch's augmented batches), val_loss, val_dice
    (mean per-patient Dice of the inner validation patients at threshold 0.5), lr, seconds.
    ``best_epoch`` is the kept checkpoint (highest val_dice; ties keep the earlier epoch).
    """

    frame: pd.DataFrame = field(compare=False)
    best_epoch: int
    best_value: float
    stopped_early: bool
    n_train: int
    n_val: int
    n_train_slices: int
    encoder: str
    weights: str
    device: str
    precision: str
    monitor: str = "val_dice"
    method: str = "U-Net training (AdamW, Dice + binary cross-entropy)"

    def to_frame(self) -> pd.DataFrame:
        return self.frame.copy()

    def plot(self, ax: Any = None, title: str = "") -> Any:
        """Training and validation loss per epoch (left axis), validation Dice (right axis), the
        kept checkpoint marked."""
        return plot_training_curves(
            self.frame, self.best_epoch, ax=ax, ylabel="Dice + BCE loss", metric="val_dice",
            metric_label="validation Dice", kept=f"kept checkpoint (epoch {self.best_epoch})",
            title=title or f"U-Net, {self.encoder} encoder "
                           f"({'pretrained' if self.weights != 'random' else 'random init'})")


@dataclass(frozen=True, eq=False)
class PredictedMask:
    """One patient's prediction: ``mask`` (bool, on the image grid), ``probability`` (float32 on
    the image grid, 0 outside the box and the predicted slices), ``slices`` (the predicted slice
    indices; ``(0,)`` for a 2-D image), ``image`` (the :class:`~her2stats.imaging.io.Image`, for
    writing the mask with its geometry), ``fallback`` (the mask came from half the maximum
    probability because nothing reached 0.5) and ``reference`` (the case's manual mask on the image
    grid, or None)."""

    patient_id: str
    mask: np.ndarray
    probability: np.ndarray
    slices: tuple
    image: Any
    fallback: bool
    reference: Any = None


# =========================================================================== inputs
@dataclass(frozen=True, eq=False)
class _Prepared:
    patient_id: str
    x: np.ndarray            # (n_slices, size, size) in [0, 1]
    m: np.ndarray | None     # (n_slices, size, size) bool, on the input grid
    zs: tuple                # slice indices of the volume (0 for a 2-D image)
    box: tuple               # (y0, y1, x0, x1) in the image's pixels
    image: Any               # the Image (geometry)
    ref: np.ndarray | None   # the manual mask (bool, image grid) or None


def _prepare(row: dict, *, slices: str, box: str, margin: int, size: int, need_mask: bool) -> _Prepared:
    pid = str(row["patient_id"])
    mp = _inputs.mask_path_of(row)
    if mp is None and need_mask:
        raise InputError(f"case {pid}: no mask_path; the segmentation network needs the manual mask of every "
                         f"training patient (and, with slices='largest' or box='mask', of every predicted patient)")
    case = _inputs.read_case(row["image_path"], mp, pid, None)
    arr = np.asarray(case.image.array, dtype=np.float32)
    ref = None if case.mask is None else np.asarray(case.mask.array, dtype=bool)
    vol = arr if arr.ndim == 3 else arr[None]
    mvol = None if ref is None else (ref if ref.ndim == 3 else ref[None])
    if slices == "largest" and mvol is not None:
        zs = (int(np.argmax(mvol.sum(axis=(1, 2)))),)
    elif slices == "largest":
        raise InputError(f"case {pid}: slices='largest' takes the slice of largest manual-mask area; it has no mask")
    else:
        zs = tuple(range(vol.shape[0]))
    h, w = vol.shape[1:]
    if box == "mask":
        if mvol is None:
            raise InputError(f"case {pid}: box='mask' crops around the manual mask; it has no mask (box='image' "
                             f"predicts on the whole slice)")
        yy, xx = np.nonzero(mvol.any(axis=0))
        y0, y1 = max(0, int(yy.min()) - margin), min(h, int(yy.max()) + 1 + margin)
        x0, x1 = max(0, int(xx.min()) - margin), min(w, int(xx.max()) + 1 + margin)
    else:
        y0, y1, x0, x1 = 0, h, 0, w
    crop = vol[list(zs), y0:y1, x0:x1]
    lo, hi = np.percentile(crop, [1.0, 99.0])
    if not hi > lo:
        hi = lo + 1.0
    x = np.clip((crop - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)
    x = _resize(x, size, "bilinear")
    m = None
    if mvol is not None:
        m = _resize(mvol[list(zs), y0:y1, x0:x1].astype(np.float32), size, "bilinear") > 0.5
    return _Prepared(pid, x, m, zs, (y0, y1, x0, x1), case.image, ref)


def _resize(a: np.ndarray, size: Any, mode: str) -> np.ndarray:
    """``(n, h, w)`` -> ``(n, *size)`` (``size`` an int or a (h, w) pair)."""
    import torch
    import torch.nn.functional as F

    shape = (int(size), int(size)) if np.isscalar(size) else tuple(int(s) for s in size)
    t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))[:, None]
    if tuple(t.shape[2:]) == shape:
        return t[:, 0].numpy()
    out = F.interpolate(t, size=shape, mode=mode, align_corners=False)
    return out[:, 0].numpy()


# =========================================================================== network
def _build_unet(spec: Any, seed: int) -> Any:
    """The U-Net: a timm ``features_only`` encoder with the spec's weights and a decoder initialised
    from ``seed``."""
    import timm
    import torch
    from torch import nn

    from .networks import build_network

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        encoder = timm.create_model(spec.backbone, features_only=True, pretrained=False)
        if spec.kind != "random":
            full = build_network(spec, seed)  # the classifier with the weights (package / hub / file)
            sd = full.state_dict()
            own = encoder.state_dict()
            missing = [k for k in own if k not in sd or tuple(sd[k].shape) != tuple(own[k].shape)]
            if missing:
                raise InputError(f"the weights of {spec.backbone} ({spec.describe()}) do not fit its features_only "
                                 f"encoder ({len(missing)} tensor(s), e.g. {missing[:3]})")
            encoder.load_state_dict({k: sd[k] for k in own})
        chans = list(encoder.feature_info.channels())
        reds = list(encoder.feature_info.reduction())

        def block(cin: int, cout: int) -> Any:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                                 nn.ReLU(inplace=True), nn.Conv2d(cout, cout, 3, padding=1, bias=False),
                                 nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

        class UNet(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.encoder = encoder
                self.reductions = reds
                dec, cin = [], chans[-1]
                widths = [max(16, c) for c in chans[:-1]][::-1]  # decoder width = the skip's channels
                for skip, wd in zip(chans[:-1][::-1], widths):
                    dec.append(block(cin + skip, wd))
                    cin = wd
                self.decoder = nn.ModuleList(dec)
                self.head = nn.Conv2d(cin, 1, 1)

            def forward(self, x: Any) -> Any:
                import torch.nn.functional as F

                feats = self.encoder(x)
                h = feats[-1]
                for blk, skip in zip(self.decoder, feats[:-1][::-1]):
                    h = F.interpolate(h, size=skip.shape[-2:], mode="bilinear", align_corners=False)
                    h = blk(torch.cat([h, skip], dim=1))
                h = F.interpolate(h, size=x.shape[-2:], mode="bilinear", align_corners=False)
                return self.head(h)

        model = UNet()
    model.train()
    return model


def dice_bce_loss(logits: Any, target: Any) -> Any:
    """Half binary cross-entropy plus half soft-Dice loss (smoothing 1) of one batch."""
    import torch
    import torch.nn.functional as F

    bce = F.binary_cross_entropy_with_logits(logits, target)
    p = torch.sigmoid(logits)
    inter = (p * target).sum()
    dice = (2 * inter + 1.0) / (p.sum() + target.sum() + 1.0)
    return 0.5 * bce + 0.5 * (1 - dice)


def _split_augmentation(aug: Augmentation) -> tuple[Augmentation, Augmentation]:
    """(geometric part, applied to image and mask together; intensity part, image only)."""
    default = Augmentation()
    geo = replace(default, **{k: getattr(aug, k) for k in _GEOMETRIC})
    inten = replace(default, **{k: getattr(aug, k) for k in _INTENSITY + ("p_noise", "p_blur")})
    return geo, inten


# =========================================================================== estimator
class SegmentationNetwork(BaseEstimator):
    """A 2-D U-Net trained on image/mask pairs of a case table (module docstring).

    Parameters
    ----------
    encoder : timm model name for the ``features_only`` encoder (``efficientnet_lite0``: ImageNet
        weights offline).
    pretrained : True (ImageNet, :mod:`her2stats.features.backbones`), a checkpoint path, or False
        (random initialisation, labelled ``random``).
    slices : ``"largest"`` (the largest manual-mask slice) or ``"all"`` (every slice).
    box : ``"mask"`` (manual bounding box + ``margin`` pixels) or ``"image"`` (the whole slice).
    margin : pixels added on each side of the manual bounding box (``box="mask"``).
    size : input side in pixels (64: the demo's slices; a crop is resized to it).
    augmentation : None, a preset name, a dict of :class:`~her2stats.training.Augmentation` fields
        or an Augmentation (geometric transforms move image and mask together).
    epochs, batch_size, lr, weight_decay : AdamW settings (cosine learning-rate decay over epochs).
    validation_size : share of the training patients held out (seeded) to choose the checkpoint
        and stop early; 0 keeps the last epoch (then ``early_stopping`` must be None).
    early_stopping : patience in epochs without a better validation Dice, or None.
    largest_component : keep the largest 3-D connected component of each predicted mask.
    device : ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda[:n]"``; amp : fp16 autocast on CUDA.
    seed : seeds the decoder initialisation, the inner split, batch order and augmentation.

    Attributes (after ``fit``)
    --------------------------
    model_, history_ (:class:`SegmentationHistory`), spec_, train_ids_, val_ids_, device_.
    """

    def __init__(self, encoder: str = "efficientnet_lite0", pretrained: Any = True, slices: str = "largest",
                 box: str = "mask", margin: int = 10, size: int = 64, augmentation: Any = "light", epochs: int = 30,
                 batch_size: int = 16, lr: float = 1e-3, weight_decay: float = 1e-4, validation_size: float = 0.2,
                 early_stopping: int | None = 8, largest_component: bool = True, device: str = "auto",
                 amp: bool = True, seed: int = 0, verbose: bool = False):
        self.encoder = encoder
        self.pretrained = pretrained
        self.slices = slices
        self.box = box
        self.margin = margin
        self.size = size
        self.augmentation = augmentation
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.validation_size = validation_size
        self.early_stopping = early_stopping
        self.largest_component = largest_component
        self.device = device
        self.amp = amp
        self.seed = seed
        self.verbose = verbose

    # ------------------------------------------------------------------ checks
    def _check(self) -> None:
        if self.slices not in SLICES:
            raise InputError(f"slices must be one of {SLICES}, got {self.slices!r}")
        if self.box not in BOX:
            raise InputError(f"box must be one of {BOX}, got {self.box!r}")
        for name in ("epochs", "batch_size", "size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise InputError(f"{name} must be a positive integer, got {v!r}")
        if self.size < 32:
            raise InputError(f"size must be at least 32 pixels (the encoder downsamples 32-fold), got {self.size!r}")
        if isinstance(self.margin, bool) or not isinstance(self.margin, (int, np.integer)) or self.margin < 0:
            raise InputError(f"margin must be an integer >= 0 (pixels), got {self.margin!r}")
        if not (isinstance(self.lr, (int, float)) and np.isfinite(self.lr) and self.lr > 0):
            raise InputError(f"lr must be a positive number, got {self.lr!r}")
        if not (isinstance(self.weight_decay, (int, float)) and self.weight_decay >= 0):
            raise InputError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if not (isinstance(self.validation_size, (int, float)) and 0 <= float(self.validation_size) < 0.9):
            raise InputError(f"validation_size must be in [0, 0.9), got {self.validation_size!r}")
        if self.early_stopping is not None and (isinstance(self.early_stopping, bool)
                                                or not isinstance(self.early_stopping, (int, np.integer))
                                                or self.early_stopping < 1):
            raise InputError(f"early_stopping is a patience in epochs (integer >= 1) or None, got {self.early_stopping!r}")
        if float(self.validation_size) == 0 and self.early_stopping is not None:
            raise InputError("early_stopping chooses on the inner validation split; with validation_size=0 there "
                             "is none (set validation_size, e.g. 0.2, or early_stopping=None)")
        resolve_augmentation(self.augmentation)

    def _prepare_all(self, cases: pd.DataFrame, need_mask: bool) -> list[_Prepared]:
        cases = _inputs.check_cases(cases, "cases")
        out: dict[str, _Prepared] = {}
        for row in cases.to_dict("records"):
            pid = str(row["patient_id"])
            if pid not in out:
                out[pid] = _prepare(row, slices=self.slices, box=self.box, margin=int(self.margin),
                                    size=int(self.size), need_mask=need_mask)
        return [out[str(p)] for p in cases["patient_id"]]

    def _normalise(self, x: Any) -> Any:
        """``(n, 1, H, W)`` in [0, 1] -> three channels with the encoder's per-channel statistics."""
        import torch

        x = x.expand(-1, 3, *x.shape[2:])
        mean = torch.as_tensor(self.channel_mean_, dtype=x.dtype).view(1, 3, 1, 1)
        std = torch.as_tensor(self.channel_std_, dtype=x.dtype).view(1, 3, 1, 1)
        return (x - mean) / std

    # ------------------------------------------------------------------ fit
    def fit(self, X: Any, y: Any = None) -> "SegmentationNetwork":
        """Train on the cases ``X`` (each with its manual mask); ``y`` is ignored (the masks are
        the targets)."""
        import torch

        from .networks import input_stats, resolve_network

        self._check()
        prepared = self._prepare_all(X, need_mask=True)
        ids = np.array([p.patient_id for p in prepared])
        uniq = np.array(list(dict.fromkeys(ids)))
        if len(uniq) < 2:
            raise InputError("a segmentation network needs at least 2 training patients")
        n_val = int(round(float(self.validation_size) * len(uniq))) if self.validation_size else 0
        if self.validation_size and n_val < 1:
            n_val = 1
        if n_val >= len(uniq):
            raise InputError(f"the inner validation split ({self.validation_size:.0%}) would take every one of the "
                             f"{len(uniq)} training patients")
        rng = np.random.default_rng([int(self.seed), 7])
        val_ids = set(uniq[rng.permutation(len(uniq))[:n_val]].tolist())
        spec = resolve_network(self.encoder, self.pretrained)
        if spec.is3d:
            raise InputError(f"encoder {self.encoder!r} is 3-D; the segmentation network is 2-D (a timm model)")
        mean, std, _ = input_stats(spec)
        self.channel_mean_, self.channel_std_ = tuple(map(float, mean)), tuple(map(float, std))
        self.spec_ = spec
        self.train_ids_ = tuple(p for p in dict.fromkeys(ids) if p not in val_ids)
        self.val_ids_ = tuple(p for p in dict.fromkeys(ids) if p in val_ids)
        tr, va = [], []
        for p in prepared:  # a repeated patient (a bootstrap resample) trains with each copy
            (va if p.patient_id in val_ids else tr).append(p)
        va = list({p.patient_id: p for p in va}.values())
        x_tr = np.concatenate([p.x for p in tr])[:, None]
        m_tr = np.concatenate([p.m for p in tr])[:, None].astype(np.float32)
        device = _device(self.device)
        with _Deterministic(device):
            self.model_, self.history_ = self._train(spec, x_tr, m_tr, va, device, len(set(p.patient_id for p in tr)))
        self.model_.eval()
        self.device_ = device
        return self

    def _train(self, spec: Any, x_tr: np.ndarray, m_tr: np.ndarray, va: list, device: str, n_train: int):
        import torch

        seed, epochs, bs = int(self.seed), int(self.epochs), int(self.batch_size)
        with torch.random.fork_rng(devices=[torch.device(device)] if device.startswith("cuda") else []):
            torch.manual_seed(seed)
            model = _build_unet(spec, seed).to(device)
            opt = torch.optim.AdamW(model.parameters(), lr=float(self.lr), weight_decay=float(self.weight_decay))
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
            use_amp = bool(self.amp) and device.startswith("cuda")
            scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
            geo, inten = _split_augmentation(resolve_augmentation(self.augmentation))
            rng = np.random.default_rng([seed, 11])
            rows, best_state, best_value, best_epoch, since, stopped = [], None, None, 0, 0, False
            for epoch in range(1, epochs + 1):
                t0 = time.perf_counter()
                model.train()
                order = rng.permutation(len(x_tr))
                batches = epoch_batches(order, bs)
                total, count = 0.0, 0
                lr_now = float(opt.param_groups[0]["lr"])
                for idx in batches:
                    both = torch.cat([torch.from_numpy(x_tr[idx]), torch.from_numpy(m_tr[idx])], dim=1)
                    both = geo(both, rng)
                    xb = inten(both[:, :1], rng).clamp(0.0, 1.0)
                    mb = (both[:, 1:] > 0.5).float()
                    xb, mb = self._normalise(xb).to(device), mb.to(device)
                    with torch.autocast("cuda", dtype=torch.float16, enabled=use_amp):
                        logits = model(xb)
                    loss = dice_bce_loss(logits.float(), mb)
                    if not torch.isfinite(loss):
                        raise InputError(f"segmentation training diverged at epoch {epoch} (loss {float(loss)}); "
                                         f"lower lr ({self.lr})")
                    opt.zero_grad(set_to_none=True)
                    scaler.scale(loss).backward()
                    scaler.step(opt)
                    scaler.update()
                    total += float(loss.detach()) * len(idx)
                    count += len(idx)
                sched.step()
                val_loss = val_dice = float("nan")
                if va:
                    losses, dices = [], []
                    probs = self._predict_many(model, [p.x for p in va], device, use_amp)
                    for p, prob in zip(va, probs):
                        t = torch.from_numpy(p.m.astype(np.float32))[:, None]
                        pr = torch.from_numpy(np.clip(prob, 1e-6, 1 - 1e-6))[:, None]
                        logit = torch.log(pr / (1 - pr))
                        losses.append(float(dice_bce_loss(logit, t)))
                        dices.append(_dice(prob >= 0.5, p.m))
                    val_loss, val_dice = float(np.mean(losses)), float(np.nanmean(dices))
                rows.append({"epoch": epoch, "train_loss": total / max(count, 1), "val_loss": val_loss,
                             "val_dice": val_dice, "lr": lr_now, "seconds": time.perf_counter() - t0})
                if self.verbose:
                    print(f"epoch {epoch}/{epochs}: train loss {rows[-1]['train_loss']:.4f}, val loss {val_loss:.4f}, "
                          f"val Dice {val_dice:.3f}")
                if not va or best_value is None or (np.isfinite(val_dice) and val_dice > best_value):
                    best_value, best_epoch, since = val_dice, epoch, 0
                    best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
                else:
                    since += 1
                    if self.early_stopping is not None and since >= int(self.early_stopping):
                        stopped = True
                        break
            model.load_state_dict(best_state)
            model.eval()
        history = SegmentationHistory(
            frame=pd.DataFrame(rows), best_epoch=int(best_epoch),
            best_value=float(best_value) if best_value is not None else float("nan"), stopped_early=stopped,
            n_train=int(n_train), n_val=len(va), n_train_slices=int(len(x_tr)), encoder=self.encoder,
            weights=spec.kind, device=device, precision="fp16 autocast" if use_amp else "fp32",
            monitor="val_dice" if va else "last epoch")
        return model, history

    # ------------------------------------------------------------------ predict
    def _predict_prob(self, model: Any, x: np.ndarray, device: str, use_amp: bool) -> np.ndarray:
        """Per-pixel probabilities ``(n, size, size)`` of prepared slices ``x`` ``(n, size, size)``."""
        import torch

        out = []
        was = model.training
        model.eval()
        try:
            with torch.inference_mode():
                for i in range(0, len(x), 64):
                    xb = self._normalise(torch.from_numpy(x[i:i + 64])[:, None]).to(device)
                    with torch.autocast("cuda", dtype=torch.float16, enabled=use_amp):
                        logits = model(xb)
                    out.append(torch.sigmoid(logits.float())[:, 0].cpu().numpy())
        finally:
            model.train(was)
        return np.concatenate(out)

    def _predict_many(self, model: Any, xs: list, device: str, use_amp: bool) -> list:
        """:meth:`_predict_prob` of several cases' slices in shared batches, split back per case."""
        if not xs:
            return []
        prob = self._predict_prob(model, np.concatenate(xs), device, use_amp)
        return np.split(prob, np.cumsum([len(x) for x in xs])[:-1])

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("this SegmentationNetwork is not fitted yet; call fit(cases) first")

    def predict_masks(self, X: Any) -> list[PredictedMask]:
        """The predicted mask of every case of ``X`` (row order) on its image grid."""

        self._check_fitted()
        need = self.slices == "largest" or self.box == "mask"
        prepared = self._prepare_all(X, need_mask=need)
        use_amp = bool(self.amp) and self.device_.startswith("cuda")
        unique = list({p.patient_id: p for p in prepared}.values())
        with _Deterministic(self.device_):
            probs = self._predict_many(self.model_, [p.x for p in unique], self.device_, use_amp)
        done = {p.patient_id: self._paste(p, prob) for p, prob in zip(unique, probs)}
        out = [done[p.patient_id] for p in prepared]
        self.fallback_ = tuple(m.patient_id for m in done.values() if m.fallback)
        return out

    def _paste(self, p: _Prepared, prob: np.ndarray) -> PredictedMask:
        from scipy import ndimage

        shape = p.image.array.shape
        vol_shape = shape if len(shape) == 3 else (1,) + tuple(shape)
        y0, y1, x0, x1 = p.box
        full = np.zeros(vol_shape, np.float32)
        full[list(p.zs), y0:y1, x0:x1] = _resize(prob, (y1 - y0, x1 - x0), "bilinear")
        mask = full >= 0.5
        fallback = not mask.any()
        if fallback:
            top = float(full.max())
            mask = full >= (top / 2 if top > 0 else np.inf)
            if not mask.any():  # a flat zero prediction: the box's centre pixel on the first predicted slice
                mask[p.zs[0], (y0 + y1) // 2, (x0 + x1) // 2] = True
        if self.largest_component:
            lab, n = ndimage.label(mask)
            if n > 1:
                sizes = ndimage.sum_labels(mask, lab, index=np.arange(1, n + 1))
                mask = lab == (1 + int(np.argmax(sizes)))
        if len(shape) == 2:
            mask, full = mask[0], full[0]
        return PredictedMask(p.patient_id, mask, full, tuple(p.zs), p.image, bool(fallback), p.ref)

    def predict(self, X: Any) -> list[np.ndarray]:
        """The predicted masks (bool arrays on each image's grid), row order."""
        return [m.mask for m in self.predict_masks(X)]

    def score(self, X: Any, y: Any = None) -> float:
        """Mean per-patient Dice of the predicted masks against the cases' manual masks, over the
        predicted slices (higher is better; sklearn's ``score`` convention)."""
        return float(np.mean(self.dice(X)["dice"]))

    def dice(self, X: Any) -> pd.DataFrame:
        """Per-patient Dice and IoU of the predicted masks against the manual masks of ``X``, over the
        predicted slices (``slices="largest"``: the largest manual slice; ``"all"``: the volume)."""
        from ..stats.segmentation import overlap

        pred = self.predict_masks(X)
        cases = _inputs.check_cases(X, "cases")
        rows, done = [], set()
        for m, row in zip(pred, cases.to_dict("records")):
            if m.patient_id in done:
                continue
            done.add(m.patient_id)
            mp = _inputs.mask_path_of(row)
            if mp is None:
                raise InputError(f"case {m.patient_id}: no mask_path; Dice needs the manual mask")
            ref = _inputs.read_case(row["image_path"], mp, m.patient_id, None).mask.array.astype(bool)
            a, b = (m.mask, ref) if ref.ndim == 2 else (m.mask[list(m.slices)], ref[list(m.slices)])
            d, j = overlap(a, b)
            rows.append({"patient_id": m.patient_id, "dice": d, "iou": j})
        return pd.DataFrame(rows)

    def stages(self) -> list[str]:
        """Names of the layers :meth:`transform` can read: the encoder stages (``encoder.0`` ...,
        timm ``feature_info`` order, shallow to deep) and the decoder blocks (``decoder.0`` ..., deep
        to shallow)."""
        self._check_fitted()
        n_enc = len(self.model_.reductions)
        return [f"encoder.{i}" for i in range(n_enc)] + [f"decoder.{i}" for i in range(len(self.model_.decoder))]

    def transform(self, X: Any, layer: Any = "encoder.3") -> pd.DataFrame:
        """Features of the trained network (seed 004's "feature maps of the 10th ReLU of the trained
        segmentation network"): the activation of ``layer`` (a name of :meth:`stages`, or an int =
        encoder stage) averaged over the input crop, then over the case's slices that hold manual
        mask (``slices="largest"``: the one slice; without a mask: every slice). One row per case,
        indexed by ``patient_id``; columns ``seg_<layer>_<k>``."""
        import torch


        self._check_fitted()
        names = self.stages()
        if isinstance(layer, (int, np.integer)) and not isinstance(layer, bool):
            layer = f"encoder.{int(layer)}"
        if layer not in names:
            raise InputError(f"layer {layer!r} is not a layer of the segmentation network; choose from {names}")
        part, k = layer.split(".")
        k = int(k)
        prepared = self._prepare_all(X, need_mask=self.slices == "largest" or self.box == "mask")
        grabbed: list[Any] = []
        hook_mod = self.model_.decoder[k] if part == "decoder" else None
        handle = hook_mod.register_forward_hook(lambda m, i, o: grabbed.append(o)) if hook_mod is not None else None
        rows, done = [], {}
        try:
            with _Deterministic(self.device_), torch.inference_mode():
                for p in prepared:
                    if p.patient_id not in done:
                        xb = self._normalise(torch.from_numpy(p.x)[:, None]).to(self.device_)
                        grabbed.clear()
                        if part == "encoder":
                            fmap = self.model_.encoder(xb)[k]
                        else:
                            self.model_(xb)
                            fmap = grabbed[-1]
                        per_slice = fmap.float().mean(dim=(2, 3)).cpu().numpy()
                        use = (p.m.reshape(len(p.m), -1).any(axis=1) if p.m is not None
                               else np.ones(len(per_slice), bool))
                        done[p.patient_id] = per_slice[use if use.any() else slice(None)].mean(axis=0)
                    rows.append(done[p.patient_id])
        finally:
            if handle is not None:
                handle.remove()
        arr = np.stack(rows)
        cols = [f"seg_{part}{k}_{j:04d}" for j in range(1, arr.shape[1] + 1)]
        return pd.DataFrame(arr, index=pd.Index([p.patient_id for p in prepared], name="patient_id"), columns=cols)

    def save(self, path: Any) -> Any:
        """Write the kept checkpoint's weights (a state dict) atomically."""
        import os
        from pathlib import Path

        import torch

        self._check_fitted()
        p = Path(path)
        tmp = p.with_name(p.name + ".tmp")
        torch.save({k: v.detach().cpu() for k, v in self.model_.state_dict().items()}, tmp)
        os.replace(tmp, p)
        return p


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    s = a.sum() + b.sum()
    return 1.0 if s == 0 else float(2 * np.logical_and(a, b).sum() / s)


def fit_segmentation_network(cases: Any, *, encoder: str = "efficientnet_lite0", pretrained: Any = True,
                             epochs: int = 30, batch_size: int = 16, lr: float = 1e-3, size: int = 64,
                             augmentation: Any = "light", early_stopping: int | None = 8,
                             validation_size: float = 0.2, seed: int = 0, device: str = "auto",
                             **params: Any) -> SegmentationNetwork:
    """Train a 2-D U-Net on the cases' image/mask pairs (see :class:`SegmentationNetwork` for every
    parameter: ``slices``, ``box``, ``margin``, ``weight_decay``, ``largest_component``, ``amp``).

    Returns
    -------
    A fitted :class:`SegmentationNetwork`: ``predict_masks`` / ``predict`` (masks on each image's
    grid), ``dice`` / ``score`` (Dice against manual masks), ``history_`` (training curves with
    ``plot()``), ``train_ids_`` / ``val_ids_`` (the inner split that chose the checkpoint).
    """
    return SegmentationNetwork(encoder=encoder, pretrained=pretrained, epochs=epochs, batch_size=batch_size, lr=lr,
                               size=size, augmentation=augmentation, early_stopping=early_stopping,
                               validation_size=validation_size, seed=seed, device=device,
                               **params).fit(cases)
