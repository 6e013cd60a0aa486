"""Network training and fine-tuning as an sklearn classifier: :class:`NetworkClassifier`,
:func:`fit_network`.

``fit(cases, y)`` sees the training cases only. It splits them once (stratified, seeded) into an
inner training part and an inner validation part; the network is trained on the first, and the
second alone decides the checkpoint kept (best validation AUC or loss), when to stop early, and
which hyper-parameter combination of ``tune`` wins. Per-channel normalisation statistics
(``channel_norm="fold"``) are computed on the inner training part. Test or external cases reach
the network only through ``predict_proba``, after fitting, so none of these choices can see them
(``tests/training/test_training_leakage.py`` records every file read to prove it).

Because the estimator is an ordinary sklearn classifier (``get_params``/``clone``), it runs inside
``cross_val_predict``, ``GridSearchCV``, her2stats' fold pipelines and pipeline bootstraps, where
each fold or resample trains its own network from the same seed.

Determinism: on CPU two fits with the same ``seed`` are bit-identical. The network initialisation
(head and random backbones), dropout, batch order, augmentation and Mixup draws all come from the
seed; ``torch.use_deterministic_algorithms(True)`` is on during fitting and prediction (restored
afterwards), and batches are formed in the main process (no data-loader workers). On CUDA,
mixed precision (fp16 autocast with dynamic loss scaling, ``amp=True``) and cuDNN make runs
reproducible only up to floating-point non-associativity; deterministic algorithms are requested
with ``warn_only=True`` there.
"""
from __future__ import annotations

import copy
import itertools
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin

from ..errors import InputError
from ..results import Result
from .augment import mixup as _mixup
from .augment import resolve_augmentation
from .inputs import MODES, binary_auc, check_cases, load_inputs
from .networks import (
    FREEZE,
    NetworkSpec,
    apply_freeze,
    build_network,
    forward_features,
    input_stats,
    resolve_network,
    set_train_mode,
)

__all__ = ["NetworkClassifier", "TrainingHistory", "fit_network"]

CHANNEL_NORM = ("imagenet", "fold", "none")
MONITOR = ("auc", "loss")
TUNABLE = ("lr", "weight_decay", "mixup", "freeze", "last_k", "batch_size", "epochs", "class_weights")


# =========================================================================== result
@dataclass(frozen=True, repr=False)
class TrainingHistory(Result):
    """Per-epoch training curves of one network (or, with ``fold``, of one CV fold's network).

    ``frame``: epoch, train_loss (mean over the epoch's augmented batches), val_loss and val_auc on
    the inner validation split, lr, seconds. ``best_epoch`` is the checkpoint kept (chosen on the
    inner validation split by ``monitor``); ``stopped_early`` says whether patience ran out.
    """

    frame: pd.DataFrame = field(compare=False)
    best_epoch: int
    best_value: float
    monitor: str
    stopped_early: bool
    n_train: int
    n_val: int
    backbone: str
    weights: str
    freeze: str
    n_trainable: int
    n_frozen: int
    device: str
    precision: str
    params: tuple = ()
    method: str = "network training (AdamW, binary cross-entropy)"

    def to_frame(self) -> pd.DataFrame:
        return self.frame.copy()

    def plot(self, ax: Any = None, title: str = "") -> Any:
        """Training and validation loss per epoch (left axis), validation AUC (right axis), and the
        kept checkpoint marked."""
        return plot_training_curves(
            self.frame, self.best_epoch, ax=ax, ylabel="binary cross-entropy", metric="val_auc",
            metric_label="validation AUC", kept=f"kept checkpoint (epoch {self.best_epoch}, {self.monitor})",
            title=title or f"{self.backbone} ({'pretrained' if self.weights != 'random' else 'random init'}, "
                           f"freeze={self.freeze})")


def plot_training_curves(frame: pd.DataFrame, best_epoch: int, *, ax: Any = None, ylabel: str, metric: str,
                         metric_label: str, kept: str, title: str) -> Any:
    """Per-epoch training curves: training and validation loss (left axis), the validation
    ``metric`` column on a 0-1 right axis, and the kept checkpoint's epoch marked (``kept``: its
    legend text). Shared by the classifier and segmentation training histories."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 3.6))
    f = frame
    ax.plot(f["epoch"], f["train_loss"], color="tab:blue", label="training loss")
    if f["val_loss"].notna().any():
        ax.plot(f["epoch"], f["val_loss"], color="tab:orange", label="validation loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    handles, labels = ax.get_legend_handles_labels()
    if f[metric].notna().any():
        ax2 = ax.twinx()
        ax2.plot(f["epoch"], f[metric], color="tab:green", ls="--", label=metric_label)
        ax2.set_ylabel(metric_label)
        ax2.set_ylim(0.0, 1.0)
        h2, l2 = ax2.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
    ax.axvline(best_epoch, color="0.4", ls=":", lw=1)
    handles.append(ax.lines[-1])
    labels.append(kept)
    ax.legend(handles, labels, fontsize=7, loc="best")
    ax.set_title(title, fontsize=9)
    return ax


# =========================================================================== helpers
_auc = binary_auc  # Mann-Whitney AUC (defined in .inputs, shared with the fold ensemble)


def epoch_batches(order: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """An epoch's shuffled case ``order`` cut into batches of ``batch_size``; a last batch of one
    case joins the one before it (batch norm cannot train on one sample)."""
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if len(batches) > 1 and len(batches[-1]) == 1:
        batches[-2] = np.concatenate([batches[-2], batches[-1]])
        batches.pop()
    return batches


def _binary_y(y: Any, n: int, index: pd.Index, event: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """0/1 codes and ``[reference, event]`` labels by the package's one rule (0/1, bool, an ordered
    Categorical, a dictionary variable, or ``event=``); a Series pairs with the cases by index."""
    from ..stats import _core

    if y is None:
        raise InputError("y (the binary outcome of each case) is required to train a network")
    if isinstance(y, pd.Series):
        y = _core.align(("the cases", pd.Series(np.zeros(n), index=index)), ("y", y))[1]
    elif not isinstance(y, pd.Categorical):
        y = np.asarray(y).ravel()
    if len(y) != n:
        raise InputError(f"y has {len(y)} values but there are {n} cases")
    values = pd.unique(pd.Series(np.asarray(y, dtype=object)).dropna())
    if len(values) != 2:
        raise InputError(f"y must have exactly two classes (e.g. HER2-negative=0 / positive=1), got {list(values)[:5]}")
    coded = _core.binary_outcome(y, "y", event=event)
    codes = coded.codes
    if np.isnan(codes).any():
        raise InputError(f"y has a missing outcome at position {int(np.flatnonzero(np.isnan(codes))[0])}; exclude that "
                         f"case explicitly")
    return codes.astype(np.float32), np.asarray([coded.reference, coded.event])


def inner_split(y: np.ndarray, size: float, seed: int, groups: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """Stratified split of training rows into (inner training, inner validation) positions.

    With ``groups`` (patient ids) the split is made over distinct patients, so the copies of a
    case in a bootstrap resample all fall on the same side."""
    rng = np.random.default_rng([int(seed), 7])
    if groups is None:
        groups = np.arange(len(y)).astype(str)
    groups = np.asarray(groups).astype(str)
    uniq, first = np.unique(groups, return_index=True)
    order = np.argsort(first)
    uniq, g_y = uniq[order], y[first[order]]
    val_groups = []
    for c in (0.0, 1.0):
        idx = np.flatnonzero(g_y == c)
        k = max(1, int(round(size * len(idx))))
        if k >= len(idx):
            raise InputError(f"the inner validation split ({size:.0%}) would take every training case of class "
                             f"{int(c)} ({len(idx)} case(s)); use more cases or validation_size=0")
        val_groups.extend(uniq[rng.permutation(idx)[:k]].tolist())
    is_val = np.isin(groups, val_groups)
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def _device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"device={device!r} requested but CUDA is not available; use device='auto' or 'cpu'")
    if not (str(device) == "cpu" or str(device).startswith("cuda")):
        raise InputError(f"device must be 'auto', 'cpu' or 'cuda[:n]', got {device!r}")
    return str(device)


class _Deterministic:
    """Context: deterministic torch algorithms (strict on CPU), restored on exit."""

    def __init__(self, device: str):
        self.device = device

    def __enter__(self) -> "_Deterministic":
        import torch

        self.prev = (torch.are_deterministic_algorithms_enabled(),
                     torch.is_deterministic_algorithms_warn_only_enabled())
        torch.use_deterministic_algorithms(True, warn_only=self.device != "cpu")
        if self.device.startswith("cuda"):
            self.prev_bench = torch.backends.cudnn.benchmark
            torch.backends.cudnn.benchmark = False
        return self

    def __exit__(self, *exc: Any) -> None:
        import torch

        torch.use_deterministic_algorithms(self.prev[0], warn_only=self.prev[1])
        if self.device.startswith("cuda"):
            torch.backends.cudnn.benchmark = self.prev_bench


#: public names of the two helpers the segmentation network shares (same device rule, same determinism)
Deterministic = _Deterministic
resolve_training_device = _device


# =========================================================================== estimator
class NetworkClassifier(ClassifierMixin, BaseEstimator):
    """Train or fine-tune a network on image cases; an sklearn binary classifier.

    Parameters
    ----------
    backbone : any timm model name (seed 001: ``"convnextv2_tiny"``; seed 003: ``"resnet101"``;
        ``"efficientnet_lite0"`` has ImageNet weights offline), or ``"r3d_18"`` (3-D ResNet-18,
        needs ``input="3d"``).
    pretrained : True (ImageNet; see :mod:`her2stats.features.backbones`), a checkpoint path, or
        False (random initialisation, labelled ``random``).
    freeze : ``"none"`` (fine-tune everything), ``"backbone"`` (train the head only) or
        ``"all-but-last-k"`` (train the last ``last_k`` stages and the head).
    input : ``"2d"``, ``"2.5d"`` or ``"3d"`` (see :mod:`her2stats.training.inputs`).
    size : input side in pixels/voxels (default: the backbone's pretrained size, 224; 96 for 3-D).
    margin, margin_units, margin_slices, on_border : ROI crop around the mask (seed 001: 50 px;
        seed 003: 10 px); ``margin=None`` uses the whole image (cases without masks, e.g. BUSI).
    intensity : ``"zscore"`` (inside the mask), ``"percentile"`` or ``"none"``.
    channel_norm : ``"imagenet"`` (the weights' own per-channel mean/std: ImageNet, Kinetics for
        r3d_18), ``"fold"`` (per-channel mean/std of the inner training cases, learnt in ``fit``;
        seed 003's "Z-score normalisation across RGB channels") or ``"none"``.
    augmentation : None, a preset name (``"seed001"``, ``"seed003"``, ``"light"``), a dict of
        :class:`~her2stats.training.Augmentation` fields, or an Augmentation.
    mixup : Mixup Beta(alpha, alpha) parameter; 0 or None disables it (seed 001 used Mixup).
    class_weights : None, ``"balanced"`` (``n / (2 n_c)`` on the inner training cases) or
        ``{class: weight}``; weights multiply each case's cross-entropy.
    epochs : maximum number of epochs (seed 001: 300).
    batch_size, lr, weight_decay : AdamW settings (seed 001 US: 16, 2e-5, 5e-2; MRI 16, 4e-6, 1e-2).
    lr_schedule : ``"cosine"`` (cosine decay over ``epochs``) or None (constant).
    validation_size : share of the training cases held out as the inner validation split
        (stratified); 0 trains on all of them and keeps the last epoch (no early stopping).
    early_stopping : patience in epochs without improvement of ``monitor`` on the inner
        validation split; None trains every epoch (the best checkpoint is still kept).
    monitor : ``"auc"`` (validation AUC, higher is better; ties keep the earlier epoch) or
        ``"loss"`` (validation cross-entropy, lower is better).
    tune : optional ``{parameter: [values]}`` over ``lr``, ``weight_decay``, ``mixup``,
        ``freeze``, ``last_k``, ``batch_size``, ``epochs``, ``class_weights``: every combination
        is trained on the inner training split and the best by ``monitor`` on the inner
        validation split is kept (``tuning_`` lists them).
    device : ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda[:n]"``.
    amp : fp16 autocast with dynamic loss scaling on CUDA (ignored on CPU).
    seed : seeds initialisation, dropout, the inner split, batch order, augmentation and Mixup.
    verbose : print one line per epoch.
    event : the outcome value coded 1 when ``y`` is not 0/1, bool or an ordered Categorical (the
        package never guesses it from the labels' order). A Series ``y`` pairs with the cases by
        index label.

    Attributes (after ``fit``)
    --------------------------
    model_ : the trained torch module (the kept checkpoint), in eval mode.
    history_ : :class:`TrainingHistory` (``.plot()`` draws the training curves).
    spec_ : where the weights came from (``spec_.kind == "random"`` for random initialisation).
    classes_ : ``[reference, event]`` outcome labels.
    channel_mean_, channel_std_ : per-channel normalisation used.
    train_ids_, val_ids_ : patient ids of the inner training and validation splits.
    tuning_ : DataFrame of the ``tune`` combinations and their validation scores (or None).
    """

    def __init__(self, backbone: str = "efficientnet_lite0", pretrained: Any = True, freeze: str = "none",
                 last_k: int = 1, input: str = "2d", size: int | None = None, margin: float | None = 50,
                 margin_units: str = "px", margin_slices: int = 0, on_border: str = "clip",
                 intensity: str = "zscore", channel_norm: str = "imagenet", augmentation: Any = None,
                 mixup: float | None = None, class_weights: Any = None, epochs: int = 30, batch_size: int = 16,
                 lr: float = 1e-4, weight_decay: float = 1e-2, lr_schedule: str | None = "cosine",
                 validation_size: float = 0.2, early_stopping: int | None = 10, monitor: str = "auc",
                 tune: Mapping[str, Sequence[Any]] | None = None, device: str = "auto", amp: bool = True,
                 seed: int = 0, verbose: bool = False, event: Any = None):
        self.backbone = backbone
        self.pretrained = pretrained
        self.freeze = freeze
        self.last_k = last_k
        self.input = input
        self.size = size
        self.margin = margin
        self.margin_units = margin_units
        self.margin_slices = margin_slices
        self.on_border = on_border
        self.intensity = intensity
        self.channel_norm = channel_norm
        self.augmentation = augmentation
        self.mixup = mixup
        self.class_weights = class_weights
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.lr_schedule = lr_schedule
        self.validation_size = validation_size
        self.early_stopping = early_stopping
        self.monitor = monitor
        self.tune = tune
        self.device = device
        self.amp = amp
        self.seed = seed
        self.verbose = verbose
        self.event = event

    # ------------------------------------------------------------------ checks
    def _check(self) -> None:
        from .networks import NETWORKS_3D

        if self.input not in MODES:
            raise InputError(f"input must be one of {MODES}, got {self.input!r}")
        if (self.backbone in NETWORKS_3D) != (self.input == "3d"):
            raise InputError(f"backbone {self.backbone!r} with input={self.input!r}: 3-D inputs need a 3-D network "
                             f"({', '.join(NETWORKS_3D)}) and a 3-D network needs input='3d'")
        if self.freeze not in FREEZE:
            raise InputError(f"freeze must be one of {FREEZE}, got {self.freeze!r}")
        if self.channel_norm not in CHANNEL_NORM:
            raise InputError(f"channel_norm must be one of {CHANNEL_NORM}, got {self.channel_norm!r}")
        if self.monitor not in MONITOR:
            raise InputError(f"monitor must be one of {MONITOR}, got {self.monitor!r}")
        if self.lr_schedule not in (None, "cosine"):
            raise InputError(f"lr_schedule must be 'cosine' or None, got {self.lr_schedule!r}")
        for name in ("epochs", "batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise InputError(f"{name} must be a positive integer, got {v!r}")
        if not (isinstance(self.lr, (int, float)) and np.isfinite(self.lr) and self.lr > 0):
            raise InputError(f"lr must be a positive number, got {self.lr!r}")
        if not (isinstance(self.weight_decay, (int, float)) and self.weight_decay >= 0):
            raise InputError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if not 0.0 <= float(self.validation_size) < 0.9:
            raise InputError(f"validation_size must be in [0, 0.9), got {self.validation_size!r}")
        if self.early_stopping is not None and (not isinstance(self.early_stopping, (int, np.integer))
                                                or isinstance(self.early_stopping, bool) or self.early_stopping < 1):
            raise InputError(f"early_stopping is a patience in epochs (integer >= 1) or None, got {self.early_stopping!r}")
        if float(self.validation_size) == 0 and (self.early_stopping is not None or self.tune):
            raise InputError("early_stopping and tune choose on the inner validation split; with validation_size=0 there "
                             "is none (set validation_size, e.g. 0.2, or early_stopping=None and tune=None)")
        if self.mixup not in (None, 0) and not (isinstance(self.mixup, (int, float)) and self.mixup > 0):
            raise InputError(f"mixup is the Beta(alpha, alpha) parameter (> 0) or None, got {self.mixup!r}")
        if self.size is not None and (not isinstance(self.size, (int, np.integer)) or self.size < 16):
            raise InputError(f"size must be an integer >= 16 (pixels), got {self.size!r}")
        if self.tune is not None:
            if not isinstance(self.tune, Mapping) or not self.tune:
                raise InputError("tune must be a non-empty dict {parameter: [values]}")
            bad = sorted(set(self.tune) - set(TUNABLE))
            if bad:
                raise InputError(f"tune: parameter(s) {bad} cannot be tuned here; tunable: {list(TUNABLE)}")
            empty = [k for k, v in self.tune.items() if isinstance(v, (str, bytes)) or len(list(v)) == 0]
            if empty:
                raise InputError(f"tune: {empty} need a non-empty list of values")
        resolve_augmentation(self.augmentation)

    def _class_weights(self, y: np.ndarray, classes: np.ndarray, spec: Any) -> tuple[float, float]:
        if spec is None:
            return 1.0, 1.0
        if isinstance(spec, str):
            if spec != "balanced":
                raise InputError(f"class_weights must be None, 'balanced' or {{class: weight}}, got {spec!r}")
            n1 = float(y.sum())
            n0 = float(len(y) - n1)
            return len(y) / (2 * n0), len(y) / (2 * n1)
        if isinstance(spec, Mapping):
            keys = {str(k): v for k, v in spec.items()}
            labels = [str(c) for c in classes]
            missing = [c for c in labels if c not in keys]
            extra = [k for k in keys if k not in labels]
            if missing or extra:
                raise InputError(f"class_weights keys {sorted(keys)} must be the outcome classes {labels}")
            w = [float(keys[c]) for c in labels]
            if min(w) <= 0 or not np.all(np.isfinite(w)):
                raise InputError(f"class_weights must be positive numbers, got {spec!r}")
            return w[0], w[1]
        raise InputError(f"class_weights must be None, 'balanced' or {{class: weight}}, got {spec!r}")

    # ------------------------------------------------------------------ inputs
    def _input_kwargs(self, size: int) -> dict[str, Any]:
        return dict(mode=self.input, size=int(size), margin=self.margin, margin_units=self.margin_units,
                    margin_slices=int(self.margin_slices), on_border=self.on_border, intensity=self.intensity)

    def _normalise(self, x: Any) -> Any:
        """Per-channel ``(x - mean) / std``; a grey volume is first copied to the three channels of
        the 3-D network's stem (so that a Kinetics checkpoint fits)."""
        import torch

        if self.spec_.is3d and x.shape[1] == 1:
            x = x.expand(-1, 3, *x.shape[2:])
        shape = (1, -1) + (1,) * (x.ndim - 2)
        mean = torch.as_tensor(self.channel_mean_, dtype=x.dtype).view(shape)
        std = torch.as_tensor(self.channel_std_, dtype=x.dtype).view(shape)
        return (x - mean) / std

    # ------------------------------------------------------------------ fit
    def fit(self, X: Any, y: Any = None) -> "NetworkClassifier":
        """Train on the cases ``X`` (one row per patient) with outcomes ``y``."""
        import torch

        self._check()
        cases = check_cases(X)
        yv, classes = _binary_y(y, len(cases), cases.index, self.event)
        if min(yv.sum(), len(yv) - yv.sum()) < 2:
            raise InputError("each outcome class needs at least 2 training cases to train a network")
        ids = cases["patient_id"].astype(str).to_numpy()
        per_patient = pd.Series(yv).groupby(ids).nunique()
        if (per_patient > 1).any():
            raise InputError(f"patient_id {sorted(per_patient.index[per_patient > 1])[:5]} has rows with different "
                             f"outcomes")
        spec = resolve_network(self.backbone, self.pretrained)
        device = _device(self.device)
        mean, std, default_size = input_stats(spec)
        size = int(self.size or default_size)
        x_all = load_inputs(cases, **self._input_kwargs(size))
        if float(self.validation_size) > 0:
            tr, va = inner_split(yv, float(self.validation_size), int(self.seed), ids)
        else:
            tr, va = np.arange(len(yv)), np.arange(0)
        self.classes_ = classes
        self.spec_ = spec
        self.input_size_ = size
        self.train_ids_ = tuple(dict.fromkeys(ids[tr]))
        self.val_ids_ = tuple(dict.fromkeys(ids[va]))
        if self.channel_norm == "imagenet":
            self.channel_mean_, self.channel_std_ = tuple(map(float, mean)), tuple(map(float, std))
        elif self.channel_norm == "none":
            c = x_all.shape[1]
            self.channel_mean_, self.channel_std_ = (0.0,) * c, (1.0,) * c
        else:
            axes = (0,) + tuple(range(2, x_all.ndim))
            m = x_all[tr].mean(axis=axes, dtype=np.float64)
            s = x_all[tr].std(axis=axes, dtype=np.float64)
            self.channel_mean_ = tuple(float(v) for v in m)
            self.channel_std_ = tuple(float(v) if v > 1e-8 else 1.0 for v in s)
        base = {k: getattr(self, k) for k in TUNABLE}
        combos = [dict()]
        if self.tune:
            keys = list(self.tune)
            combos = [dict(zip(keys, vals)) for vals in itertools.product(*(list(self.tune[k]) for k in keys))]
        runs = []
        with _Deterministic(device):
            for combo in combos:
                params = dict(base, **combo)
                runs.append(self._train(params, spec, x_all, yv, classes, tr, va, device))
        if self.tune:
            sign = 1.0 if self.monitor == "auc" else -1.0
            scores = [sign * r[1].best_value for r in runs]
            best = int(np.nanargmax(scores)) if np.isfinite(scores).any() else 0
            self.tuning_ = pd.DataFrame([dict(c, best_epoch=r[1].best_epoch, **{f"val_{self.monitor}": r[1].best_value},
                                              chosen=(i == best)) for i, (c, r) in enumerate(zip(combos, runs))])
        else:
            best, self.tuning_ = 0, None
        self.model_, self.history_ = runs[best]
        self.params_ = dict(base, **combos[best])
        self.model_.eval()
        self.device_ = device
        return self

    def _train(self, params: dict[str, Any], spec: NetworkSpec, x_all: np.ndarray, y: np.ndarray, classes: np.ndarray,
               tr: np.ndarray, va: np.ndarray, device: str) -> tuple[Any, TrainingHistory]:
        import torch
        import torch.nn.functional as F

        seed = int(self.seed)
        epochs, bs = int(params["epochs"]), int(params["batch_size"])
        with torch.random.fork_rng(devices=[torch.device(device)] if device.startswith("cuda") else []):
            torch.manual_seed(seed)
            model = build_network(spec, seed)
            counts = apply_freeze(model, params["freeze"], int(params["last_k"]))
            model.to(device)
            trainable = [p for p in model.parameters() if p.requires_grad]
            opt = torch.optim.AdamW(trainable, lr=float(params["lr"]), weight_decay=float(params["weight_decay"]))
            sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs) if self.lr_schedule == "cosine"
                     else None)
            use_amp = bool(self.amp) and device.startswith("cuda")
            scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
            aug = resolve_augmentation(self.augmentation)
            alpha = float(params["mixup"] or 0.0)
            w0, w1 = self._class_weights(y[tr], classes, params["class_weights"])
            rng = np.random.default_rng([seed, 11])
            x_tr, y_tr = x_all[tr], y[tr]
            x_va, y_va = x_all[va], y[va]
            rows, best_state, best_value, best_epoch = [], None, None, 0
            since_best, stopped = 0, False
            for epoch in range(1, epochs + 1):
                t0 = time.perf_counter()
                set_train_mode(model)
                order = rng.permutation(len(tr))
                batches = epoch_batches(order, bs)
                total, count = 0.0, 0
                lr_now = float(opt.param_groups[0]["lr"])
                for idx in batches:
                    xb = aug(torch.from_numpy(x_tr[idx]), rng)
                    yb = torch.from_numpy(y_tr[idx])
                    if alpha > 0:
                        xb, yb, _ = _mixup(xb, yb, alpha, rng)
                    xb = self._normalise(xb).to(device)
                    yb = yb.to(device)
                    wb = yb * w1 + (1 - yb) * w0
                    with torch.autocast("cuda", dtype=torch.float16, enabled=use_amp):
                        logits = model(xb).reshape(-1)
                    loss = (F.binary_cross_entropy_with_logits(logits.float(), yb, reduction="none") * wb).mean()
                    if not torch.isfinite(loss):
                        raise InputError(f"training diverged at epoch {epoch} (loss {float(loss)}); lower lr "
                                         f"({params['lr']}) or check the inputs")
                    opt.zero_grad(set_to_none=True)
                    scaler.scale(loss).backward()
                    scaler.step(opt)
                    scaler.update()
                    total += float(loss.detach()) * len(idx)
                    count += len(idx)
                if sched is not None:
                    sched.step()
                val_loss = val_auc = float("nan")
                if len(va):
                    p = self._predict_array(model, x_va, device, use_amp, bs)
                    pc = np.clip(p, 1e-7, 1 - 1e-7)
                    val_loss = float(-np.mean(y_va * np.log(pc) + (1 - y_va) * np.log(1 - pc)))
                    val_auc = _auc(y_va, p)
                rows.append({"epoch": epoch, "train_loss": total / max(count, 1), "val_loss": val_loss,
                             "val_auc": val_auc, "lr": lr_now, "seconds": time.perf_counter() - t0})
                if self.verbose:
                    print(f"epoch {epoch}/{epochs}: train loss {rows[-1]['train_loss']:.4f}, val loss {val_loss:.4f}, "
                          f"val AUC {val_auc:.3f}")
                value = val_auc if self.monitor == "auc" else val_loss
                if not len(va) or best_value is None:
                    improved = True
                elif not np.isfinite(value):
                    improved = False
                elif not np.isfinite(best_value):
                    improved = True
                else:
                    improved = value > best_value if self.monitor == "auc" else value < best_value
                if improved:
                    best_value, best_epoch, since_best = value, epoch, 0
                    best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
                else:
                    since_best += 1
                    if self.early_stopping is not None and since_best >= int(self.early_stopping):
                        stopped = True
                        break
            model.load_state_dict(best_state)
            model.eval()
        history = TrainingHistory(
            frame=pd.DataFrame(rows), best_epoch=int(best_epoch), best_value=float(best_value if best_value is not None
                                                                                    else np.nan),
            monitor=self.monitor if len(va) else "last epoch", stopped_early=stopped, n_train=len(tr), n_val=len(va),
            backbone=self.backbone, weights=spec.kind, freeze=str(params["freeze"]), n_trainable=counts["trainable"],
            n_frozen=counts["frozen"], device=device, precision="fp16 autocast" if use_amp else "fp32",
            params=tuple(sorted((k, str(v)) for k, v in params.items())))
        return model, history

    # ------------------------------------------------------------------ predict
    def _predict_array(self, model: Any, x: np.ndarray, device: str, use_amp: bool, bs: int) -> np.ndarray:
        import torch

        was = model.training
        model.eval()
        out = []
        try:
            with torch.inference_mode():
                for i in range(0, len(x), max(1, bs)):
                    xb = self._normalise(torch.from_numpy(x[i:i + bs])).to(device)
                    with torch.autocast("cuda", dtype=torch.float16, enabled=use_amp):
                        logits = model(xb).reshape(-1)
                    out.append(torch.sigmoid(logits.float()).cpu().numpy())
        finally:
            model.train(was)
        return np.concatenate(out).astype(float) if out else np.zeros(0)

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("this NetworkClassifier is not fitted yet; call fit(cases, y) first")

    def predict_proba(self, X: Any) -> np.ndarray:
        """``(n, 2)`` probabilities of the two classes for the cases ``X`` (no augmentation)."""
        self._check_fitted()
        cases = check_cases(X)
        x = load_inputs(cases, **self._input_kwargs(self.input_size_))
        use_amp = bool(self.amp) and self.device_.startswith("cuda")
        with _Deterministic(self.device_):
            p = self._predict_array(self.model_, x, self.device_, use_amp, int(self.params_["batch_size"]))
        return np.column_stack([1 - p, p])

    def decision_function(self, X: Any) -> np.ndarray:
        p = np.clip(self.predict_proba(X)[:, 1], 1e-15, 1 - 1e-15)
        return np.log(p / (1 - p))

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[(self.predict_proba(X)[:, 1] >= 0.5).astype(int)]

    def transform(self, X: Any) -> pd.DataFrame:
        """Pooled penultimate-layer features of the trained network (the head's input), one row per
        case indexed by ``patient_id`` (seed 003: features of the trained CNN's penultimate layer,
        then PCA)."""
        import torch

        self._check_fitted()
        cases = check_cases(X)
        x = load_inputs(cases, **self._input_kwargs(self.input_size_))
        feats = []
        with _Deterministic(self.device_), torch.inference_mode():
            for i in range(0, len(x), 16):
                xb = self._normalise(torch.from_numpy(x[i:i + 16])).to(self.device_)
                feats.append(forward_features(self.model_, xb, self.spec_.is3d).float().cpu().numpy())
        arr = np.concatenate(feats)
        cols = [f"{self.backbone}_trained_{j:04d}" for j in range(1, arr.shape[1] + 1)]
        return pd.DataFrame(arr, index=pd.Index(cases["patient_id"].astype(str), name="patient_id"), columns=cols)

    def inputs(self, X: Any, normalised: bool = True) -> tuple[np.ndarray, list[Any]]:
        """The network inputs of the cases ``X`` as the model sees them (channel-normalised unless
        ``normalised=False``) and their ROI masks on the input grid (None without a mask)."""
        import torch

        self._check_fitted()
        x, masks = load_inputs(check_cases(X), with_masks=True, **self._input_kwargs(self.input_size_))
        if normalised:
            x = self._normalise(torch.from_numpy(x)).numpy()
        return x, masks

    def grad_cam(self, X: Any, mask: bool = False) -> list[dict[str, Any]]:
        """Grad-CAM of the trained network for each case of ``X``: a list of dicts with
        ``patient_id``, ``input`` (the [0, 1] input before channel normalisation; ``(C, H, W)`` or
        ``(1, D, H, W)``), ``heatmap`` (``(H, W)`` or ``(D, H, W)`` in [0, 1]), ``mask`` (ROI on the
        input grid or None) and ``probability``. ``mask=True`` zeroes the heat outside the ROI."""
        import torch

        from ..models.explain import grad_cam, grad_cam_3d

        self._check_fitted()
        cases = check_cases(X)
        raw, masks = load_inputs(cases, with_masks=True, **self._input_kwargs(self.input_size_))
        probs = self.predict_proba(cases)[:, 1]
        out = []
        for i, pid in enumerate(cases["patient_id"].astype(str)):
            xin = self._normalise(torch.from_numpy(raw[i:i + 1]))
            m = masks[i] if mask else None
            if self.spec_.is3d:
                heat = grad_cam_3d(self.model_, xin, mask=m)
            else:
                heat = grad_cam(self.model_, xin, target_class=0, mask=m)
            out.append({"patient_id": pid, "input": raw[i], "heatmap": heat, "mask": masks[i],
                        "probability": float(probs[i])})
        return out

    def save(self, path: Any) -> Any:
        """Write the kept checkpoint's weights (a state dict) atomically; ``DeepFeatureExtractor``
        and ``NetworkClassifier(pretrained=path)`` read it back."""
        import os
        from pathlib import Path

        import torch

        self._check_fitted()
        p = Path(path)
        tmp = p.with_name(p.name + ".tmp")
        torch.save({k: v.detach().cpu() for k, v in self.model_.state_dict().items()}, tmp)
        os.replace(tmp, p)
        return p


def fit_network(cases: Any, y: Any, *, backbone: str = "efficientnet_lite0", pretrained: Any = True,
                freeze: str = "none", epochs: int = 30, augmentation: Any = None, mixup: float | None = None,
                class_weights: Any = None, early_stopping: int | None = 10, cv: int | None = None,
                **params: Any) -> Any:
    """Train a network on ``cases`` / ``y`` (see :class:`NetworkClassifier` for every parameter).

    With ``cv=k`` the cases are split into k stratified folds and one network is trained per fold
    on the other k-1 folds (each with its own inner validation split): the result is a fitted
    :class:`~her2stats.training.FoldEnsembleClassifier` whose ``oof_proba_`` are the honest
    out-of-fold probabilities and whose ``predict_proba`` on new cases averages the k networks
    (seed 004's averaging of the 10 fold models on the validation cohort).

    Returns
    -------
    A fitted :class:`NetworkClassifier` (``history_`` holds the training curves) or
    :class:`~her2stats.training.FoldEnsembleClassifier`.
    """
    net = NetworkClassifier(backbone=backbone, pretrained=pretrained, freeze=freeze, epochs=epochs,
                            augmentation=augmentation, mixup=mixup, class_weights=class_weights,
                            early_stopping=early_stopping, **params)
    if cv is None:
        return net.fit(cases, y)
    from .ensemble import FoldEnsembleClassifier

    return FoldEnsembleClassifier(net, n_splits=cv, seed=params.get("seed", 0)).fit(cases, y)
