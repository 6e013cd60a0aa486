"""Frozen deep features from image ROIs: :class:`DeepFeatureExtractor`.

For every case (patient) and sequence: read image and mask, preprocess (resample, normalise
inside the ROI, crop the mask's box plus a margin, choose slices, resize + ImageNet-normalise),
run a frozen timm backbone with its classifier removed (eval mode, ``torch.inference_mode``,
fp16 autocast on GPU), and aggregate the per-slice vectors. This is the "frozen ImageNet
ResNet50/VGG16/EfficientNet-B0/ViT-S features" step of seed 000 (output sizes 2048/4096/1280/384)
and the deep-feature step of seed 003.

Per-slice feature arrays are stored in a content-addressed :class:`~.cache.FeatureCache`; work is
cut into partitions of cases that run sequentially, on threads, in Dask processes or on a Dask
cluster (``scheduler=``). Every worker loads the network once per process, reads its cases,
writes the shared cache and returns its arrays; the driver assembles one row per case. A case
that fails (unreadable file, empty mask...) is reported in ``failures_`` and never gives a row;
with ``on_error="raise"`` (default) an InputError listing the failures is raised *after* every
other case has been computed and cached, so fixing the bad case and re-running only computes it.
"""
from __future__ import annotations

import math
import os
import threading
import warnings
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from ..errors import InputError, find_stack_level
from ..schedulers import resolve_scheduler
from ..imaging.io import file_digest
from ..imaging.preprocess import ImageCase, default_steps
from ..imaging.study import is_missing, check_case_table, load_case, load_study
from .backbones import WeightsSpec, build_backbone, data_config, resolve_weights
from .cache import STAT_KEYS, FeatureCache, cache_key, canonical_json, not_cached_message
from .layers import POOLINGS, default_pooling, is_transformer, layer_model, resolve_layer

#: bump when a change in this module changes feature values (it is part of every cache key)
#: 2: every forward pass has exactly ``batch_size`` rows (zero-padded), see ``_forward``
EXTRACTOR_VERSION = "2"

_AGGREGATES = ("mean", "max", "none")
_model_lock = threading.Lock()
_MODELS: dict[tuple, Any] = {}


def _no_gpu_devices() -> bool:
    """True when the machine shows no GPU device node (NVIDIA ``/dev/nvidia*``, AMD ROCm
    ``/dev/kfd``, WSL ``/dev/dxg``): CUDA is then certainly unavailable, known without importing
    torch (seconds)."""
    import glob

    return not (glob.glob("/dev/nvidia*") or os.path.exists("/dev/kfd") or os.path.exists("/dev/dxg"))


def _device(device: str) -> str:
    if device == "auto" and _no_gpu_devices():
        return "cpu"
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"device={device!r} requested but CUDA is not available; use device='auto' or 'cpu'")
    return device


def get_model(spec: WeightsSpec, pooling: str, device: str, layer: str | None = None):
    """The frozen backbone for ``spec`` on ``device`` (returning the pooled output of ``layer``
    when given), built once per process and reused."""
    key = (spec.backbone, spec.digest, pooling, device, layer)
    with _model_lock:
        model = _MODELS.get(key)
        if model is None:
            if layer is None:
                model = build_backbone(spec, pooling).to(device)
            else:
                model = layer_model(build_backbone(spec, "avg"), layer, pooling).to(device)
            _MODELS[key] = model
    return model


def _steps_params(steps: Sequence[tuple[str, Any]]) -> list[Any]:
    return [[name, type(step).__name__, step.get_params(deep=True)] for name, step in steps]


class DeepFeatureExtractor(BaseEstimator, TransformerMixin):
    """Frozen ImageNet features of tumour ROIs, one row per case (sklearn transformer).

    Parameters
    ----------
    backbone : timm model name; seed 000 used ``"resnet50"`` (2048 features), ``"vgg16"`` (4096),
        ``"efficientnet_b0"`` (1280), ``"vit_small_patch16_224"`` (384).
    pretrained : True (ImageNet: offline package for ``efficientnet_lite0``, timm hub otherwise),
        a checkpoint path, or False (seeded random weights, labelled as such).
    pooling : ``"auto"`` (the backbone's own pooling for the final features: average for CNNs, the
        class token for ``vit_small_patch16_224``; the mean of the patch tokens for an intermediate
        ViT block), ``"avg"``, ``"max"``, ``"avgmax"`` or ``"token"`` (ViTs); see :mod:`.layers`.
    layer : None (final pooled features), a stage number of timm's ``feature_info`` or any module
        name (``"layer3"``, ``"blocks.6"``, ``"features.22"``...; :func:`~.layers.list_layers`),
        whose output is pooled; part of the cache key and of the column names
        (``{backbone}@{layer}_{sequence}_0001``).
    slices : ``"largest"`` (largest-mask-area axial slice), ``"center"``, ``"all"`` or ``"2.5d"``
        (axial, coronal and sagittal planes); ``k`` neighbouring slices on each side are added.
    aggregate : ``"mean"`` or ``"max"`` over slices, or ``"none"`` (one block of columns per slice
        label; needs a fixed number of slices, so not with ``slices="all"``).
    margin, margin_units, on_border : ROI crop around the mask (seed 001: 50 px); ``margin=None``
        uses the whole image (cases without masks, e.g. BUSI).
    spacing : resample to this voxel size in mm, ``(x, y, z)`` (seed 000: ``(0.5, 0.5, 3.0)``).
    normalize : ``"zscore"``/``"percentile"``/``"none"`` intensity normalisation inside the mask.
    register_to : rigidly register every other sequence of a case onto this sequence first.
    sequences : sequences every case must have (default: all sequences in the table); a case
        lacking one fails and is reported.
    ndim : 2 or 3 to require that dimension (a 4-D or 2-D file where a volume is expected fails).
    input_size : backbone input side in pixels (default: the model's pretrained size, 224).
    preprocessing : list of ``(name, step)`` replacing the default steps (hashed into the key).
    device : ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
    batch_size : slices per forward pass. Every pass has exactly this many rows (the last one of a
        task is zero-padded), so a case's features never depend on which cases share its batch, on
        the scheduler, the number of workers or their threads; being part of the numerical recipe,
        it is in the cache key. amp : fp16 autocast on CUDA (recorded in the cache key).
    cache_dir : feature cache folder (None: no cache). On a cluster, a path on shared storage.
    scheduler : None or ``"sync"`` (in process), ``"threads"``, ``"processes"`` (local processes), a
        ``dask.distributed.Client``, a Dask cluster or a scheduler address ``"tcp://host:8786"``
        (:func:`her2stats.schedulers.resolve_scheduler`, shared with the resampling functions).
    partition_size : cases per task (default: about four tasks per worker, rounded up so that a
        task's slices fill whole batches when every worker still gets two tasks or more).
    on_error : ``"raise"`` (after computing every other case) or ``"skip"`` (warn and report).
    progress : show a progress bar over cases.

    Attributes (after ``transform``)
    --------------------------------
    failures_ : DataFrame (patient_id, sequence, file, error) of cases that gave no row.
    cache_stats_ : dict of cache ``hits``, ``misses``, ``corrupt``, ``writes`` and ``not_cached``
        (computed but not written: read-only cache, full disk, a folder in the way; one warning
        per call gives the count and the reason) in the last call.
    case_log_ : DataFrame of every (case, sequence): cache key, whether it was cached, slices used.
    weights_ : the :class:`~.backbones.WeightsSpec` used (source and sha256 digest).

    Notes
    -----
    Running on a cluster: start a Dask cluster (``dask_jobqueue.SLURMCluster``/``PBSCluster``, a
    Kubernetes Dask cluster, or ``dask_cuda.LocalCUDACluster`` for one GPU per worker), put
    ``cache_dir`` on storage every worker mounts, and pass the ``Client`` (or its address) as
    ``scheduler``. Each worker builds the network once, uses the GPU it is given
    (``device="auto"`` with one visible GPU per worker) and writes its entries to the shared
    cache; tasks of a worker that dies are retried on another (``retries=2``). Interrupting a
    run loses at most the batch in flight: re-running reads every finished case from the cache.

    Reproducibility: the backbone always sees batches of exactly ``batch_size`` slices (zero
    rows pad the last batch of a task), so every forward pass has the same shape and runs the
    same kernels whatever the batch holds; each slice's output is computed from that slice alone
    (frozen network in eval mode: no batch statistics). Sequential, threads, processes and Dask
    runs therefore give bit-identical features on the same hardware and library versions
    (tested); different CPUs or GPUs, or torch versions, may differ in the last bits.

    Examples
    --------
    >>> from her2stats.features import DeepFeatureExtractor
    >>> fx = DeepFeatureExtractor("efficientnet_lite0", margin=None, cache_dir="cache/")  # doctest: +SKIP
    >>> X = fx.fit_transform(cases)     # cases: patient_id, sequence, image_path, mask_path  # doctest: +SKIP
    """

    def __init__(self, backbone: str = "resnet50", pretrained: bool | str = True, pooling: str = "auto",
                 slices: str = "largest", k: int = 0, aggregate: str = "mean", margin: float | None = 50,
                 margin_units: str = "px", on_border: str = "error", spacing: Sequence[float] | None = None,
                 normalize: str = "zscore", register_to: str | None = None, sequences: Sequence[str] | None = None,
                 ndim: int | None = None, input_size: int | None = None, preprocessing: Any = None,
                 device: str = "auto", batch_size: int = 32, amp: bool = True, cache_dir: str | os.PathLike | None = None,
                 scheduler: Any = None, partition_size: int | None = None, on_error: str = "raise",
                 progress: bool = True, layer: int | str | None = None):
        self.backbone = backbone
        self.pretrained = pretrained
        self.pooling = pooling
        self.slices = slices
        self.k = k
        self.aggregate = aggregate
        self.margin = margin
        self.margin_units = margin_units
        self.on_border = on_border
        self.spacing = spacing
        self.normalize = normalize
        self.register_to = register_to
        self.sequences = sequences
        self.ndim = ndim
        self.input_size = input_size
        self.preprocessing = preprocessing
        self.device = device
        self.batch_size = batch_size
        self.amp = amp
        self.cache_dir = cache_dir
        self.scheduler = scheduler
        self.partition_size = partition_size
        self.on_error = on_error
        self.progress = progress
        self.layer = layer

    # ------------------------------------------------------------------ configuration
    def _validate(self) -> None:
        if self.aggregate not in _AGGREGATES:
            raise InputError(f"aggregate must be one of {_AGGREGATES}, got {self.aggregate!r}")
        if self.aggregate == "none" and self.slices == "all":
            raise InputError("aggregate='none' needs the same number of slices for every case; "
                             "slices='all' varies with the mask: use aggregate='mean' or 'max'")
        if self.on_error not in ("raise", "skip"):
            raise InputError(f"on_error must be 'raise' or 'skip', got {self.on_error!r}")
        if int(self.batch_size) < 1:
            raise InputError(f"batch_size must be >= 1, got {self.batch_size!r}")
        if self.ndim not in (None, 2, 3):
            raise InputError(f"ndim must be None, 2 or 3, got {self.ndim!r}")
        if self.pooling not in POOLINGS:
            raise InputError(f"pooling must be one of {POOLINGS}, got {self.pooling!r}")
        resolve_scheduler(self.scheduler)  # a bad scheduler is refused before any case is read

    def _steps(self) -> list[tuple[str, Any]]:
        if self.preprocessing is not None:
            steps = list(self.preprocessing.steps if hasattr(self.preprocessing, "steps") else self.preprocessing)
            if not steps or not all(isinstance(s, tuple) and len(s) == 2 for s in steps):
                raise InputError("preprocessing must be a list of (name, step) pairs or a sklearn Pipeline")
            return steps
        cfg = data_config(self.backbone)
        return default_steps(spacing=self.spacing, normalize=self.normalize, margin=self.margin,
                             margin_units=self.margin_units, on_border=self.on_border, slices=self.slices, k=self.k,
                             size=int(self.input_size or cfg["input_size"]), mean=cfg["mean"], std=cfg["std"])

    def _config(self) -> dict[str, Any]:
        self._validate()
        spec = resolve_weights(self.backbone, self.pretrained)
        layer = resolve_layer(self.backbone, self.layer)
        pooling = default_pooling(self.backbone, layer) if self.pooling == "auto" else self.pooling
        if pooling == "token" and not is_transformer(self.backbone):
            raise InputError(f"pooling='token' takes a transformer's class token; {self.backbone!r} is a CNN "
                             f"(use 'avg', 'max', 'avgmax' or 'auto')")
        steps = self._steps()
        for _, step in steps:
            if hasattr(step, "fit"):
                step.fit()
        key_params = {"extractor_version": EXTRACTOR_VERSION, "backbone": self.backbone,
                      "batch_size": int(self.batch_size), "weights": spec.digest, "weights_kind": spec.kind,
                      "pooling": pooling, "preprocessing": _steps_params(steps), "register_to": self.register_to,
                      "ndim": self.ndim}
        if layer is not None:  # absent for the final features, so their cache keys are unchanged
            key_params["layer"] = layer
        return {"spec": spec, "steps": steps, "pooling": pooling, "layer": layer, "device": self.device,
                "batch_size": int(self.batch_size), "amp": bool(self.amp), "register_to": self.register_to,
                "ndim": self.ndim, "slices": self.slices, "k": int(self.k), "cache_root": None if self.cache_dir is None else str(self.cache_dir),
                "key_params": key_params}

    def fit(self, X: Any = None, y: Any = None) -> "DeepFeatureExtractor":
        """No learning (the network is frozen): validates the parameters and resolves the weights."""
        cfg = self._config()
        self.weights_ = cfg["spec"]
        return self

    # ------------------------------------------------------------------ input
    def _case_table(self, X: Any) -> pd.DataFrame:
        if isinstance(X, pd.DataFrame):
            return check_case_table(X)
        if isinstance(X, (str, os.PathLike)):
            X = [X]
        if isinstance(X, Iterable):
            rows = []
            for item in X:
                img, mask = (item if isinstance(item, tuple) else (item, None))
                p = Path(img)
                name = p.name
                stem = name[:-7] if name.lower().endswith(".nii.gz") else p.stem
                rows.append({"patient_id": stem, "sequence": "img", "image_path": str(img),
                             "mask_path": None if mask is None else str(mask)})
            table = pd.DataFrame(rows, columns=["patient_id", "sequence", "image_path", "mask_path"])
            if table.empty:
                raise InputError("no images given to transform")
            dup = table["patient_id"].duplicated(keep=False)
            if dup.any():
                raise InputError(f"several files share the case id (file stem) {sorted(set(table.loc[dup, 'patient_id']))}; "
                                 f"pass a DataFrame with explicit patient_id values")
            return check_case_table(table)
        raise InputError(f"transform needs a DataFrame (patient_id, sequence, image_path, mask_path) or a list of "
                         f"paths, got {type(X).__name__}")

    # ------------------------------------------------------------------ transform
    def transform(self, X: Any) -> pd.DataFrame:
        """Features of every case: DataFrame indexed by ``patient_id``, columns
        ``{backbone}_{sequence}_{0001..}`` (``..._{slice}_{0001..}`` with ``aggregate="none"``)."""
        cfg = self._config()
        self.weights_ = cfg["spec"]
        table = self._case_table(X)
        need = list(self.sequences) if self.sequences is not None else list(dict.fromkeys(table["sequence"]))
        cfg["sequences"] = need
        patients = list(dict.fromkeys(table["patient_id"]))
        grouped: dict[str, list[dict[str, Any]]] = {}
        for rec in table.to_dict("records"):
            grouped.setdefault(rec["patient_id"], []).append(rec)
        units = [{"patient_id": pid, "rows": grouped[pid]} for pid in patients]
        results, stats = _run(units, cfg, self.scheduler, self.partition_size, self.progress)
        reasons = stats.pop("not_cached_reasons", {})
        if reasons:
            warnings.warn(not_cached_message(self.cache_dir, reasons), RuntimeWarning, stacklevel=find_stack_level())
        return self._assemble(patients, need, results, stats)

    def _assemble(self, patients: list[str], need: list[str], results: list[dict[str, Any]],
                  stats: dict[str, int]) -> pd.DataFrame:
        by_pid: dict[str, list[dict[str, Any]]] = {}
        for r in results:
            by_pid.setdefault(r["patient_id"], []).append(r)
        failures, log, rows, index = [], [], [], []
        columns: list[str] | None = None
        first_layout: list[Any] = []
        for pid in patients:
            recs = by_pid.get(pid, [])
            bad = [r for r in recs if r.get("error")]
            log.extend({k: v for k, v in r.items() if k != "features"} for r in recs)
            lacking = [q for q in need if q not in {r.get("sequence") for r in recs}]
            if lacking and not bad:
                bad = [{"sequence": None, "file": None, "error": f"no result for sequence(s) {lacking}"}]
            if bad:
                failures.extend({"patient_id": pid, "sequence": r.get("sequence"), "file": r.get("file"),
                                 "error": r["error"]} for r in bad)
                continue
            seq_feats = {r["sequence"]: r for r in recs}
            vec, layout = [], []
            for seq in need:
                r = seq_feats[seq]
                f = np.asarray(r["features"], dtype=np.float32)
                if self.aggregate == "none":
                    vec.extend(f)
                    layout.append((seq, tuple(r["slice_labels"]), f.shape[1]))
                else:
                    vec.append(f.mean(axis=0) if self.aggregate == "mean" else f.max(axis=0))
                    layout.append((seq, None, f.shape[1]))
            if columns is None:
                prefix = self.backbone if self.layer is None else f"{self.backbone}@{resolve_layer(self.backbone, self.layer)}"
                first_layout, columns = layout, _column_names(prefix, layout)
            elif layout != first_layout:
                failures.append({"patient_id": pid, "sequence": None, "file": None,
                                 "error": f"slice labels/feature sizes {layout} differ from the first case's {first_layout}"})
                continue
            rows.append(np.concatenate(vec))
            index.append(pid)
        self.failures_ = pd.DataFrame(failures, columns=["patient_id", "sequence", "file", "error"])
        self.case_log_ = pd.DataFrame(log)
        self.cache_stats_ = stats
        self.feature_names_out_ = list(columns or [])
        self.n_cases_ = len(patients)
        self.n_excluded_ = len(set(self.failures_["patient_id"]))
        out = pd.DataFrame(np.vstack(rows) if rows else np.empty((0, len(columns or []))), index=pd.Index(index, name="patient_id"),
                           columns=columns or [])
        if not self.failures_.empty:
            per_case: dict[str, list[str]] = {}
            for f in self.failures_.itertuples():
                where = f"({f.sequence}, {f.file})" if f.file else ""
                text = f"{where}: {f.error}" if f.error not in " ".join(per_case.get(f.patient_id, [])) else ""
                if text:
                    per_case.setdefault(f.patient_id, []).append(text)
            shown = list(per_case.items())[:5]
            lines = "; ".join(f"case {pid} " + " / ".join(errs) for pid, errs in shown)
            more = "" if len(per_case) <= 5 else f" (+{len(per_case) - 5} more cases, see failures_)"
            msg = (f"{self.n_excluded_} of {len(patients)} case(s) gave no features: {lines}{more}. "
                   f"Every other case was computed{' and cached' if self.cache_dir is not None else ''}.")
            if self.on_error == "raise":
                raise InputError(msg + " Fix or drop these cases, or use on_error='skip'.")
            warnings.warn(msg + " They are excluded from the output (see failures_).", UserWarning, stacklevel=find_stack_level())
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        if not hasattr(self, "feature_names_out_"):
            raise AttributeError("feature names are known after transform")
        return np.asarray(self.feature_names_out_, dtype=object)


def _column_names(backbone: str, layout: list[tuple[str, tuple[str, ...] | None, int]]) -> list[str]:
    cols = []
    for seq, labels, dim in layout:
        for label in (labels if labels is not None else (None,)):
            stem = f"{backbone}_{seq}_" + (f"{label}_" if label is not None else "")
            cols.extend(f"{stem}{i:04d}" for i in range(1, dim + 1))
    return cols


# ---------------------------------------------------------------------- work (drivers and workers)

def _partitions(units: list[Any], size: int) -> list[list[Any]]:
    return [units[i:i + size] for i in range(0, len(units), size)]


def _run(units: list[dict[str, Any]], cfg: dict[str, Any], scheduler: Any, partition_size: int | None,
         progress: bool) -> tuple[list[dict[str, Any]], dict[str, int]]:
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(units), desc=f"features {cfg['spec'].backbone}", unit="case", leave=False)
    tick = (lambda n: bar.update(n)) if bar is not None else (lambda n: None)
    results: list[dict[str, Any]] = []
    stats: dict[str, Any] = {k: 0 for k in STAT_KEYS}
    reasons: dict[str, int] = {}

    def merge(out: tuple[list[dict[str, Any]], dict[str, Any]]) -> None:
        res, st = out
        results.extend(res)
        for k in STAT_KEYS:
            stats[k] += st.get(k, 0)
        for r, n in (st.get("not_cached_reasons") or {}).items():
            reasons[r] = reasons.get(r, 0) + n

    sched = resolve_scheduler(scheduler)
    try:
        if sched.kind == "sync":
            merge(extract_partition(units, cfg, tick))
        elif sched.kind == "threads":
            from concurrent.futures import ThreadPoolExecutor

            n = sched.local_workers(len(units))
            parts = _partitions(units, partition_size or _default_partition_size(len(units), n, cfg))
            with ThreadPoolExecutor(max_workers=n) as pool:
                for out in pool.map(lambda p: extract_partition(p, cfg, tick), parts):
                    merge(out)
        elif sched.kind == "pool":
            n = sched.local_workers()
            parts = _partitions(units, partition_size or _default_partition_size(len(units), n, cfg))
            wcfg = dict(cfg, torch_threads=1)
            for fut in [sched.target.submit(extract_partition, p, wcfg) for p in parts]:
                merge(fut.result())
            tick(len(units))
        elif sched.kind == "processes":
            import dask

            n = sched.local_workers()
            parts = _partitions(units, partition_size or _default_partition_size(len(units), n, cfg))
            wcfg = dict(cfg, torch_threads=1)
            outs = dask.compute(*[dask.delayed(extract_partition)(p, wcfg) for p in parts], scheduler="processes")
            for out in outs:
                merge(out)
            tick(len(units))
        else:
            _run_distributed(units, cfg, sched, partition_size, merge, tick)
    finally:
        if bar is not None:
            bar.close()
    if reasons:
        stats["not_cached_reasons"] = reasons
    return results, stats


def _partition_size(n_units: int, n_workers: int, batch_size: int, slices_per_unit: int = 1) -> int:
    """Cases per task: about four tasks per worker, rounded up so that a task's slices fill whole
    batches (a task pads its last batch) when that still leaves every worker at least two tasks.

    A case (unit) is one patient: ``slices_per_unit`` slices (sequences x slices per image, a lower
    bound for ``slices="all"``); the rounding is in slices, not cases, so that a small study is never
    packed into fewer tasks than there are workers."""
    n_workers = max(1, n_workers)
    size = max(1, math.ceil(n_units / (4 * n_workers)))
    per_unit = max(1, int(slices_per_unit))
    rounded = math.ceil(math.ceil(size * per_unit / batch_size) * batch_size / per_unit)
    if math.ceil(n_units / rounded) >= min(n_units, 2 * n_workers):
        return int(rounded)
    return int(size)


def _default_partition_size(n_units: int, n_workers: int, cfg: dict[str, Any]) -> int:
    return _partition_size(n_units, n_workers, cfg["batch_size"], _slices_per_unit(cfg))


def _slices_per_unit(cfg: dict[str, Any]) -> int:
    """Slices one case sends through the network (``slices="all"``: the neighbourhood's lower bound)."""
    per_image = 2 * int(cfg.get("k", 0)) + 1
    if cfg.get("slices") == "2.5d":
        per_image *= 3
    return max(1, len(cfg.get("sequences") or ())) * per_image


def _run_distributed(units, cfg, sched, partition_size, merge, tick) -> None:
    from dask.distributed import as_completed

    with sched.client() as client:
        n = max(1, len(client.scheduler_info().get("workers", {})))
        size = partition_size or _default_partition_size(len(units), n, cfg)
        parts = _partitions(units, size)
        # a partition is pure given its inputs and the cache; retries cover a worker killed mid-task
        futures = client.map(extract_partition, parts, cfg=cfg, retries=2, pure=False)
        part_of = {f.key: p for f, p in zip(futures, parts)}
        for fut in as_completed(futures):
            part = part_of[fut.key]
            try:
                merge(fut.result())
            except Exception as exc:  # the task failed even after retries (e.g. workers keep dying)
                merge(([{"patient_id": u["patient_id"], "sequence": None, "file": None,
                         "error": f"worker task failed after retries: {type(exc).__name__}: {exc}"} for u in part], {}))
            tick(len(part))


def _set_worker_threads(cfg: dict[str, Any]) -> None:
    import torch

    threads = cfg.get("torch_threads")
    if threads is None:
        try:
            from distributed import get_worker

            threads = get_worker().state.nthreads
        except (ImportError, ValueError, AttributeError):
            return
    if threads and torch.get_num_threads() != threads:
        torch.set_num_threads(int(threads))


def _unit_keys(unit: dict[str, Any], cfg: dict[str, Any]) -> list[dict[str, Any]]:
    """One record per required sequence with its cache key (file digests of image and mask)."""
    pid = unit["patient_id"]
    rows = {str(r["sequence"]): r for r in unit["rows"]}
    lacking = [s for s in cfg["sequences"] if s not in rows]
    if lacking:
        raise InputError(f"case {pid} lacks sequence(s) {lacking} (it has {list(rows)})")
    digests = {}
    for s in cfg["sequences"]:
        r = rows[s]
        for col in ("image_path", "mask_path"):
            p = r.get(col)
            if is_missing(p):
                digests[(s, col)] = None
                continue
            if not Path(p).exists():
                raise InputError(f"case {pid}, sequence {s}: {col} {p} not found")
            digests[(s, col)] = file_digest(p)
    recs = []
    ref = cfg.get("register_to")
    for s in cfg["sequences"]:
        parts = dict(cfg["key_params"], image=digests[(s, "image_path")], mask=digests[(s, "mask_path")])
        if ref is not None and s != ref:
            if ref not in rows:
                raise InputError(f"case {pid}: reference sequence {ref!r} for registration is missing")
            parts.update(ref_image=digests[(ref, "image_path")], ref_mask=digests[(ref, "mask_path")],
                         mask_is_ref=rows[s].get("mask_path") == rows[ref].get("mask_path"))
        recs.append({"patient_id": pid, "sequence": s, "file": str(rows[s]["image_path"]), "parts": parts})
    return recs


def _forward(model: Any, rows: np.ndarray, batch_size: int, device: str, precision: str) -> np.ndarray:
    """Features of ``rows`` (at most ``batch_size`` slices) from one forward pass of exactly
    ``batch_size`` rows: zero rows pad a short batch, and their outputs are dropped.

    Why a fixed shape: torch picks convolution and reduction kernels from the input's shape and
    the thread count (on CPU a 1x1 convolution runs in oneDNN or in a native GEMM depending on
    batch size and threads; a mean over a small tensor splits across threads), and the kernels
    round differently (up to ~5e-6 on EfficientNet-Lite0). With one shape, every pass runs the
    same kernels; in eval mode no layer mixes the rows of a batch, so a slice's output depends on
    that slice only -- not on its neighbours, its position, the scheduler or the worker's threads.
    """
    import torch

    n = rows.shape[0]
    if model.training:  # a shared frozen network put back in training mode elsewhere would mix rows in
        model.eval()    # its batch-norm layers and update their statistics: features stay eval-mode only
    if n < batch_size:
        rows = np.concatenate([rows, np.zeros((batch_size - n,) + rows.shape[1:], dtype=rows.dtype)])
    with torch.inference_mode():
        xb = torch.from_numpy(np.ascontiguousarray(rows)).to(device, non_blocking=True)
        if precision == "fp16":
            with torch.autocast("cuda", dtype=torch.float16):
                out = model(xb)
        else:
            out = model(xb)
        return out.float().cpu().numpy()[:n]


def extract_partition(units: list[dict[str, Any]], cfg: dict[str, Any], tick: Any = None
                      ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Worker task: features of a list of cases, through the cache. Never raises for a case.

    Slices of the cases to compute are queued and run in forward passes of exactly
    ``cfg["batch_size"]`` rows (see :func:`_forward`); a case is finished (cached, returned) when
    its last slice has been through the network, whichever batches its slices fell in."""
    cache = FeatureCache(cfg["cache_root"], warn=False) if cfg.get("cache_root") else None
    device = _device(cfg["device"])
    precision = "fp16" if (cfg["amp"] and device.startswith("cuda")) else "fp32"
    batch_size = int(cfg["batch_size"])
    results: list[dict[str, Any]] = []
    rows: list[tuple[dict[str, Any], int]] = []  # (pending case, slice index) waiting for the network

    def finish(entry: dict[str, Any]) -> None:
        rec = entry["rec"]
        f = np.stack(entry["out"])
        rec["features"] = f
        if cache is not None:
            cache.put(rec["key"], f, {"patient_id": rec["patient_id"], "sequence": rec["sequence"],
                                      "slice_labels": rec["slice_labels"], "file": rec["file"]})
        results.append(rec)

    threads_set = []

    def run_batches(final: bool) -> None:
        while len(rows) >= batch_size or (final and rows):
            if not threads_set:  # torch only where a case is computed (a run all from the cache never imports it)
                _set_worker_threads(cfg)
                threads_set.append(True)
            take = rows[:batch_size]
            del rows[:batch_size]
            try:
                model = get_model(cfg["spec"], cfg["pooling"], device, cfg.get("layer"))
                feats = _forward(model, np.stack([e["case"].tensor[i] for e, i in take]), batch_size, device,
                                 precision)
            except Exception as exc:  # the network failed on this batch: report its cases
                failed = {id(e): e for e, _ in take}
                rows[:] = [(e, i) for e, i in rows if id(e) not in failed]
                for e in failed.values():
                    e["rec"]["error"] = _msg(exc)
                    results.append(e["rec"])
                continue
            for (e, i), f in zip(take, feats):
                e["out"][i] = f
                e["left"] -= 1
                if e["left"] == 0:
                    finish(e)

    for unit in units:
        pid = unit["patient_id"]
        try:
            recs = _unit_keys(unit, cfg)
        except Exception as exc:
            results.append({"patient_id": pid, "sequence": None, "file": None, "error": _msg(exc)})
            if tick:
                tick(1)
            continue
        todo = []
        for rec in recs:
            rec["key"] = cache_key(dict(rec.pop("parts"), precision=precision))
            hit, info = cache.get(rec["key"], with_info=True) if cache is not None else (None, None)
            if hit is not None:
                rec.update(features=hit, cached=True, slice_labels=info.get("info", {}).get("slice_labels"))
                results.append(rec)
            else:
                rec["cached"] = False
                todo.append(rec)
        # without registration every sequence is independent: a bad T2 does not stop the T1 being
        # computed and cached (the case still gives no row); with registration they go together
        groups = [todo] if cfg.get("register_to") is not None else [[r] for r in todo]
        for group in groups:
            if not group:
                continue
            try:
                prepared = _prepare(unit, [r["sequence"] for r in group], cfg)
            except Exception as exc:
                for rec in group:
                    rec["error"] = _msg(exc)
                    results.append(rec)
                continue
            for rec in group:
                case = prepared[rec["sequence"]]
                rec["slice_labels"] = [lab for lab, _ in case.slices]
                rec["notes"] = canonical_json(_jsonable(case.notes))
                n = int(case.tensor.shape[0])
                if n == 0:
                    rec["error"] = f"case {pid}, sequence {rec['sequence']}: preprocessing selected no slice"
                    results.append(rec)
                    continue
                entry = {"rec": rec, "case": case, "out": [None] * n, "left": n}
                rows.extend((entry, i) for i in range(n))
        run_batches(final=False)
        if tick:
            tick(1)
    run_batches(final=True)
    stats: dict[str, Any] = dict(cache.stats) if cache is not None else {k: 0 for k in STAT_KEYS}
    if cache is None:
        stats["misses"] = sum(1 for r in results if "cached" in r)
    elif cache.not_cached:
        stats["not_cached_reasons"] = dict(cache.not_cached)
    return results, stats


def _msg(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, InputError) else f"{type(exc).__name__}: {exc}"


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj


def _prepare(unit: dict[str, Any], sequences: list[str], cfg: dict[str, Any]) -> dict[str, ImageCase]:
    """Read and preprocess the listed sequences of one case into backbone input tensors."""
    pid = unit["patient_id"]
    rows = pd.DataFrame(unit["rows"])
    ref = cfg.get("register_to")
    if ref is not None:
        study = load_study(rows, sequences=cfg["sequences"], register_to=ref, expect_ndim=cfg.get("ndim"))
        cases = {s: study[s] for s in sequences}
    else:
        by = {str(r["sequence"]): r for r in unit["rows"]}
        cases = {s: load_case(by[s]["image_path"], by[s].get("mask_path"), case_id=pid, sequence=s,
                              expect_ndim=cfg.get("ndim")) for s in sequences}
    out = {}
    for s, case in cases.items():
        for _, step in cfg["steps"]:
            case = step.apply(case) if hasattr(step, "apply") else step.transform(case)
        if case.tensor is None:
            raise InputError(f"case {pid}, sequence {s}: preprocessing produced no backbone input; the last step "
                             f"must be ToBackboneInput")
        out[s] = case
    return out


# Grad-CAM prepares a case and picks the device as extraction does (public names: no module imports
# another's private names)
resolve_device = _device
prepare_unit = _prepare
