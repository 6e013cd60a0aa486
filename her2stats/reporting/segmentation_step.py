"""A trained segmentation network as a study step (``segmentation:`` in the study config):
:func:`stage_segmentation`, and the predicted-mask image table of ``image_models: masks: predicted``
(:func:`predicted_index`). Seed 004's deep-learning radiomics chain: segment the tumour with a
trained network, then take features of the segmented region.

The stage

1. builds the case table (one image of ``segmentation.sequence`` per analysed patient, with its
   manual mask);
2. trains one :class:`~her2stats.training.SegmentationNetwork` on every development patient
   (checkpoint and early stopping on an inner validation split of them) -- it predicts the masks of
   the test cohorts (internal, external), which it never saw;
3. with ``development_masks: out_of_fold`` (default) trains one more network inside each fold of the
   study's development cross-validation (``state.folds``, the folds every model shares): each
   development patient's mask comes from the network of the fold that held it out, so the
   development Dice is out-of-fold (honest). With ``in_sample`` the development masks are the
   all-development network's own training patients' and their Dice is reported as apparent
   (``segmentation/dice_apparent/development``) -- never as performance;
4. writes each predicted mask (NIfTI on the image grid, atomically) to ``segmentation/masks/`` in the
   run's folder, with ``segmentation/masks.csv`` (patient, cohort, which network predicted it, Dice,
   IoU, HD95, whether the half-maximum fallback made it), the training curves
   (``segmentation/curves.csv`` and figure ``segmentation_curves``), the per-cohort agreement
   (``segmentation/agreement.csv``; Dice, IoU, HD95 means with t intervals, numbers.json
   ``segmentation/<measure>/<cohort>``) and a figure of predicted vs manual contours of a few test
   patients (``segmentation_contours``);
5. leaves ``state.results["segmentation"]`` (the predicted masks' paths, which network made each,
   what each network saw -- ``fits``: fold, inner training / validation ids, held-out ids -- and the
   methods paragraph; picklable, so it reaches ``study_results.pkl``) and the network trained on all
   development patients in ``state.models["segmentation"]``.

An image model with ``masks: predicted`` reads the imaging stage's image table with each analysed
patient's ``mask_path`` replaced by the predicted mask (:func:`predicted_index`), and its notes say
which network made the masks its development figures rest on.
"""
from __future__ import annotations

import hashlib
import re
import tempfile
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError
from .image_table import patient_cases, read_image_table

__all__ = ["stage_segmentation", "segmentation_cases", "segmentation_estimator", "predicted_index",
           "segmentation_features"]


def _sequence(cfg: Any, index: pd.DataFrame) -> str | None:
    seg = cfg.segmentation
    if seg.sequence is not None:
        return seg.sequence
    if cfg.imaging is not None and cfg.imaging.sequences:
        return cfg.imaging.sequences[0]
    if "sequence" in index and index["sequence"].nunique() == 1:
        return str(index["sequence"].iloc[0])
    if "sequence" not in index:
        return None
    raise ConfigError(f"segmentation.sequence: the image table has sequences {sorted(map(str, index['sequence'].unique()))}; "
                      "name the one the network segments")


def segmentation_cases(state: Any) -> tuple[pd.DataFrame, str | None]:
    """One case row (``patient_id``, ``image_path``, ``mask_path``) per analysed patient on the
    cohort's index, and the segmented sequence."""
    cfg = state.config
    seg = cfg.segmentation
    images = seg.images or cfg.imaging.images
    index = read_image_table(cfg, images, "segmentation.images")
    seq = _sequence(cfg, index)
    return patient_cases(state, index, images, where="segmentation", sequence=seq,
                         sequence_key="segmentation.sequence"), seq


def segmentation_estimator(seg: Any, fast: bool, seed: int) -> Any:
    """The unfitted :class:`~her2stats.training.SegmentationNetwork` of a ``segmentation:`` section
    (fast mode: its ``fast:`` epochs and slices)."""
    from ..training import SegmentationNetwork

    return SegmentationNetwork(
        encoder=seg.encoder, pretrained=seg.pretrained, slices=seg.fast.slices if fast else seg.slices, box=seg.box,
        margin=seg.margin, size=seg.input_size, augmentation=seg.augmentation,
        epochs=seg.fast.epochs if fast else seg.epochs, batch_size=seg.batch_size, lr=seg.lr,
        weight_decay=seg.weight_decay, validation_size=seg.validation_size,
        early_stopping=seg.early_stopping, largest_component=seg.largest_component, device="auto", seed=int(seed))


def _safe_name(pid: str) -> str:
    """A file name for a patient id (ids are data: never a path of their own)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", pid)[:40] + "_" + hashlib.sha1(pid.encode()).hexdigest()[:8]


def _write_mask(pm: Any, folder: Path) -> Path:
    from ..imaging.io import write_nifti

    target = folder / f"{_safe_name(pm.patient_id)}.nii.gz"
    tmp = folder / f".{target.name}.tmp.nii.gz"
    write_nifti(pm.image.with_array(pm.mask.astype(np.uint8)), tmp, dtype=np.uint8)
    tmp.replace(target)  # atomic: an interrupted run never leaves a half-written mask
    return target


def _reference(case_row: dict, pid: str) -> Any:
    from ..training.inputs import read_case

    return read_case(case_row["image_path"], case_row["mask_path"], pid, None)


def _agreement_rows(masks: dict, cases: pd.DataFrame) -> pd.DataFrame:
    """Per patient: Dice, IoU and HD95 (mm) of the predicted vs the manual mask over the predicted
    slices."""
    from ..stats.segmentation import hausdorff95, overlap

    rows = []
    by_id = cases.set_index("patient_id", drop=False)
    for pid, pm in masks.items():
        # the manual mask read with the image for the prediction (else read now)
        ref = pm.reference if pm.reference is not None else _reference(by_id.loc[pid].to_dict(), pid).mask.array
        ref = np.asarray(ref, bool)
        spacing = tuple(reversed(pm.image.spacing))  # SimpleITK (x, y[, z]) -> array order
        if ref.ndim == 3:
            a, b = pm.mask[list(pm.slices)], ref[list(pm.slices)]
            if len(pm.slices) == 1:
                a, b, spacing = a[0], b[0], spacing[1:]
        else:
            a, b = pm.mask, ref
        d, j = overlap(a, b)
        rows.append({"patient_id": pid, "dice": d, "iou": j, "hd95": hausdorff95(a, b, spacing) if b.any() else np.nan,
                     "voxels_pred": int(a.sum()), "voxels_ref": int(b.sum()), "fallback": pm.fallback})
    return pd.DataFrame(rows)


def _summary(frame: pd.DataFrame) -> dict:
    from ..stats.segmentation import mean_interval

    return {m: mean_interval(frame[m].to_numpy(), 0.95, "t", None) for m in ("dice", "iou", "hd95")}


def stage_segmentation(state: Any) -> Any:
    """The trained segmentation network (module docstring): predicted masks of every analysed
    patient, their agreement with the manual masks per cohort, curves and contour figure."""
    cfg = state.config
    seg = cfg.segmentation
    if seg is None:
        return state
    from .network_step import torch_threads

    with torch_threads(state.fast):
        _run(state, seg)
    return state


def _run(state: Any, seg: Any) -> None:
    import time

    from sklearn.base import clone

    state.say("segmentation network")
    t_start = time.perf_counter()
    cfg = state.config
    cases, seq = segmentation_cases(state)
    df = state.cohort
    dev_rows = (df["cohort_split"] == "development").to_numpy()
    dev_cases = cases[dev_rows].reset_index(drop=True)
    base = segmentation_estimator(seg, state.fast, int(cfg.validation.seed))
    mode = seg.development_masks
    if mode == "out_of_fold" and not state.folds:
        state.notes.append("Segmentation network: no development cross-validation (see above), so the development "
                           "patients' masks are the all-development network's in-sample predictions.")
        mode = "in_sample"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # timm/torch chatter
        final = clone(base).fit(dev_cases)
    fits = [{"fold": "final", "train_ids": final.train_ids_, "val_ids": final.val_ids_, "test_ids": ()}]
    curves = [final.history_.to_frame().assign(fold="final")]
    histories = []
    masks: dict[str, Any] = {}
    source: dict[str, str] = {}
    test_cases = cases[~dev_rows].reset_index(drop=True)
    if len(test_cases):
        for pm in final.predict_masks(test_cases):
            masks[pm.patient_id], source[pm.patient_id] = pm, "final"
    if mode == "out_of_fold":
        for i, (train, test) in enumerate(state.folds, start=1):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                est = clone(base).fit(dev_cases.iloc[train].reset_index(drop=True))
            held = dev_cases.iloc[test].reset_index(drop=True)
            for pm in est.predict_masks(held):
                masks[pm.patient_id], source[pm.patient_id] = pm, f"fold {i}"
            fits.append({"fold": i, "train_ids": est.train_ids_, "val_ids": est.val_ids_,
                         "test_ids": tuple(held["patient_id"])})
            curves.append(est.history_.to_frame().assign(fold=str(i)))
            histories.append((f"fold {i}", est.history_))
    else:
        for pm in final.predict_masks(dev_cases):
            masks[pm.patient_id], source[pm.patient_id] = pm, "final (in-sample)"
    histories.append(("final (all development patients)", final.history_))
    seconds = time.perf_counter() - t_start
    # ---------------------------------------------------------------- masks on disk
    out = state.outdir
    folder = (out / "segmentation" / "masks") if out is not None else Path(tempfile.mkdtemp(prefix="h2s_seg_"))
    folder.mkdir(parents=True, exist_ok=True)
    paths = {pid: _write_mask(pm, folder) for pid, pm in masks.items()}
    # ---------------------------------------------------------------- agreement per cohort
    split = pd.Series(df["cohort_split"].to_numpy(), index=cases["patient_id"].to_numpy())
    per = _agreement_rows(masks, cases)
    per.insert(1, "cohort", split.loc[per["patient_id"]].to_numpy())
    per.insert(2, "network", [source[p] for p in per["patient_id"]])
    per["mask_file"] = [f"segmentation/masks/{paths[p].name}" for p in per["patient_id"]]
    summary_rows = []
    for c in state.cohorts:
        part = per[per["cohort"] == c]
        if part.empty:
            continue
        s = _summary(part)
        apparent = c == "development" and mode == "in_sample"
        how = ("apparent (in-sample)" if apparent else "out-of-fold" if c == "development" else "test")
        for m, (mean, lo, hi) in s.items():
            key = f"segmentation/{m}{'_apparent' if apparent else ''}/{c}"
            state.numbers[key] = float(mean)
            state.numbers[f"{key}_ci_low"] = float(lo)
            state.numbers[f"{key}_ci_high"] = float(hi)
            summary_rows.append({"cohort": c, "masks": how, "measure": m, "mean": mean, "ci_low": lo, "ci_high": hi,
                                 "n": int(part[m].notna().sum())})
        state.numbers[f"segmentation/n/{c}"] = float(len(part))
    summary = pd.DataFrame(summary_rows)
    n_fallback = int(per["fallback"].sum())
    if n_fallback:
        state.notes.append(f"Segmentation network: {n_fallback} patient(s) had no pixel at probability >= 0.5; their "
                           "mask is the pixels at or above half their maximum probability (segmentation/masks.csv, "
                           "column fallback).")
    state.numbers["segmentation/n_fallback"] = float(n_fallback)
    state.numbers["segmentation/seconds"] = float(seconds)
    state.numbers["segmentation/epochs_kept_final"] = float(final.history_.best_epoch)
    if out is not None:
        per.to_csv(out / "segmentation" / "masks.csv", index=False)
        summary.to_csv(out / "segmentation" / "agreement.csv", index=False)
        pd.concat(curves, ignore_index=True).to_csv(out / "segmentation" / "curves.csv", index=False)
        _figures(state, seg, histories, masks, cases, per)
    # ---------------------------------------------------------------- methods
    h = final.history_
    where = ("the largest manual-mask axial slice" if base.slices == "largest" else "every axial slice")
    box = (f"a box around the manual lesion (its bounding box plus {seg.margin} pixels: the reader localises the "
           "lesion, the network delineates it)" if seg.box == "mask" else "the whole slice")
    dev_text = (f"one network per development cross-validation fold ({len(state.folds)} folds, the study's) segmented "
                "the development patients it held out (out-of-fold masks and Dice)" if mode == "out_of_fold" else
                "the same network segmented the development patients it was trained on (in-sample masks; their Dice "
                "is apparent, not performance)")
    dev = state.part("development") if "development" in state.cohorts else None
    dev_s = summary[(summary["cohort"] == "development") & (summary["measure"] == "dice")]
    dice_txt = "; ".join(f"{r['cohort']} ({r['masks']}) mean Dice {r['mean']:.3f} (95% CI {r['ci_low']:.3f}-"
                         f"{r['ci_high']:.3f}, n = {r['n']})" for r in summary[summary["measure"] == "dice"].to_dict("records"))
    methods = (
        f"Tumours were segmented by a trained 2-D U-Net (encoder: {seg.encoder}, "
        f"{'ImageNet-pretrained' if h.weights != 'random' else 'randomly initialised'} timm features_only stages; "
        "decoder of bilinear upsampling, skip concatenation and two 3x3 convolution blocks per stage) on "
        f"{where}{' of ' + seq if seq else ''}, cropped to {box}, intensities scaled to the box's 1st-99th "
        f"percentile and resized to {seg.input_size} x {seg.input_size} pixels. It was trained with a Dice + binary "
        f"cross-entropy loss (AdamW, lr {seg.lr:g}, up to {base.epochs} epochs, augmentation "
        f"{'none' if seg.augmentation in (None, False) else seg.augmentation}) on the manual masks of the development "
        f"patients ({len(dev) if dev is not None else len(dev_cases)}), the checkpoint chosen by the mean Dice of an "
        f"inner {seg.validation_size:.0%} validation split of them; this network segmented the test cohorts, and "
        f"{dev_text}. Predicted masks were thresholded at 0.5"
        + (", their largest connected component kept" if seg.largest_component else "")
        + f". Agreement with the manual masks (Dice, IoU, 95th-percentile Hausdorff distance in mm; means with t "
        f"intervals): {dice_txt}. Training took {seconds:.0f} s on {h.device} ({h.precision})."
        + (" Image models marked 'masks: predicted' took their features from these masks." if any(
            m.masks == "predicted" for m in cfg.image_models) else ""))
    state.results["segmentation"] = SimpleNamespace(
        paths={p: str(v) for p, v in paths.items()}, source=source, mode=mode, sequence=seq, fits=fits,
        agreement=summary, per_patient=per, methods=methods, n_folds=len(state.folds), cases=cases)
    state.models["segmentation"] = final
    if dev_s.empty and dev is not None and len(dev):
        state.notes.append("Segmentation network: no development Dice could be computed.")


def _figures(state: Any, seg: Any, histories: list, masks: dict, cases: pd.DataFrame, per: pd.DataFrame) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from . import figures as F

    cfg, out = state.config, state.outdir
    formats = ["png"] + [f for f in cfg.report.figure_formats if f != "png"]
    n = len(histories)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.4), squeeze=False)
    for ax, (title, h) in zip(axes[0], histories):
        h.plot(ax=ax, title=title)
    fig.suptitle("Segmentation network: training curves", fontsize=10)
    state.figures["segmentation_curves"] = F.save(fig, out / "figures" / "segmentation_curves", formats=formats,
                                                  style=cfg.report.style)[0]
    k = seg.figure_patients
    shown = next((c for c in reversed(state.cohorts) if c != "development"), None)
    if not k or shown is None:
        return
    part = per[per["cohort"] == shown].sort_values("dice").reset_index(drop=True)
    if part.empty:
        return
    pick = part.iloc[np.unique(np.linspace(0, len(part) - 1, min(k, len(part))).round().astype(int))]
    by_id = cases.set_index("patient_id", drop=False)
    fig, axes = plt.subplots(1, len(pick), figsize=(2.6 * len(pick), 2.9), squeeze=False)
    for ax, r in zip(axes[0], pick.to_dict("records")):
        pid = r["patient_id"]
        pm = masks[pid]
        if pm.reference is not None:
            img, ref = np.asarray(pm.image.array, float), np.asarray(pm.reference, bool)
        else:
            case = _reference(by_id.loc[pid].to_dict(), pid)
            img, ref = np.asarray(case.image.array, float), np.asarray(case.mask.array, bool)
        if img.ndim == 3:
            z = int(np.argmax(ref.sum(axis=(1, 2))))
            z = z if z in pm.slices else pm.slices[int(np.argmax(pm.mask[list(pm.slices)].sum(axis=(1, 2))))]
            img, ref, pred = img[z], ref[z], pm.mask[z]
        else:
            pred = pm.mask
        ax.imshow(img, cmap="gray")
        if ref.any():
            ax.contour(ref.astype(float), levels=[0.5], colors=["#1b9e77"], linewidths=1.2)
        if pred.any():
            ax.contour(pred.astype(float), levels=[0.5], colors=["#d95f02"], linewidths=1.2, linestyles="--")
        ax.set_title(f"Dice {r['dice']:.2f}", fontsize=8)
        ax.set_axis_off()
    fig.suptitle(f"Manual (green) vs predicted (orange, dashed) contours, {shown} cohort", fontsize=9)
    state.figures["segmentation_contours"] = F.save(fig, out / "figures" / "segmentation_contours", formats=formats,
                                                    style=cfg.report.style)[0]


def predicted_index(state: Any, index: pd.DataFrame, spec: Any) -> pd.DataFrame:
    """The image table ``index`` with every analysed patient's ``mask_path`` replaced by the
    segmentation network's predicted mask (for ``image_models: masks: predicted``), and a note of
    which network made the masks the model's development figures rest on."""
    res = state.results.get("segmentation")
    if res is None:
        raise ConfigError(f"image_models {spec.name!r}: masks: predicted needs the segmentation step, which did not "
                          "run (add a segmentation section)")
    seq = res.sequence
    if spec.sequences and seq is not None and any(s != seq for s in spec.sequences):
        raise ConfigError(f"image_models {spec.name!r}: masks: predicted gives masks on the grid of the segmented "
                          f"sequence {seq!r}; set the model's sequences to [{seq}]")
    index = index.copy()
    pid = index["patient_id"].astype(str)
    if seq is not None and "sequence" in index:
        index = index[index["sequence"].astype(str) == seq].copy()
        pid = index["patient_id"].astype(str)
    index["mask_path"] = [res.paths.get(p) for p in pid]
    index = index[index["mask_path"].notna()]
    if res.mode == "out_of_fold":
        state.notes.append(
            f"{spec.name}: features of the segmentation network's predicted masks. The test cohorts' masks come from "
            "the network trained on all development patients; each development patient's mask from the network of the "
            f"study cross-validation fold that held it out ({res.n_folds} folds, the ones this model's development "
            "figures use): in each fold the held-out patients' masks come from a network trained on that fold's "
            "training patients only, while the training patients' masks come from the other folds' networks, which "
            "saw the held-out patients' manual masks (never an outcome).")
    else:
        state.notes.append(
            f"{spec.name}: features of the segmentation network's predicted masks. The development patients' masks are "
            "in-sample predictions of the network trained on all development patients (their manual masks were its "
            "training targets; it never saw an outcome), so this model's development figures rest on masks closer to "
            "the manual ones than a new patient's would be; the test cohorts' masks and figures are out of sample.")
    return index


def segmentation_features(state: Any, spec: Any) -> pd.DataFrame:
    """The feature matrix of an image model with ``extractor: segmentation`` (rows: the analysed
    patients in cohort order): the activations of the trained segmentation network (the one trained
    on all development patients) at ``spec.layer`` (default: the deepest encoder stage), averaged over
    the input crop and the tumour's slices (:meth:`~her2stats.training.SegmentationNetwork.transform`);
    with ``masks: predicted`` the crop is placed by the predicted mask. Every patient's features come
    from that one network (fold networks' features would not share a feature space); it was trained
    on the development patients' manual masks, never on an outcome, and the notes say so."""
    res = state.results.get("segmentation")
    if res is None:
        raise ConfigError(f"image_models {spec.name!r}: extractor: segmentation needs the segmentation step, "
                          "which did not run (add a segmentation section)")
    model = state.models["segmentation"]  # the network trained on all development patients
    cases = res.cases.copy()
    if spec.masks == "predicted":
        cases["mask_path"] = [res.paths[p] for p in cases["patient_id"]]
    layer = spec.layer if spec.layer is not None else f"encoder.{len(model.stages()) - len(model.model_.decoder) - 1}"
    X = model.transform(cases.reset_index(drop=True), layer=layer)
    fused = len(getattr(spec, "sources", ["segmentation"])) > 1
    state.numbers[f"features/{spec.name}{'/segmentation' if fused else ''}/n_extracted"] = float(X.shape[1])
    state.notes.append(
        f"{spec.name}: features of the trained segmentation network's layer {layer} (activations averaged over the "
        f"input crop{' placed by the predicted mask' if spec.masks == 'predicted' else ''} and the tumour's slices), "
        "from the network trained on the manual masks of all development patients (never on an outcome): the "
        "development patients' features, in this model's cross-validation folds too, come from a network that saw "
        "their masks, a step learnt without labels on the whole development cohort; the test cohorts' features are "
        "out of sample.")
    X.index = cases["patient_id"].astype(str).to_numpy()
    return X
