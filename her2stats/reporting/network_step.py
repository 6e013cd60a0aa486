"""Trained networks as a study step (``networks:`` in the study config): :func:`stage_networks`.

For each configured network (:class:`~her2stats.reporting.config.NetworkConfig`) the stage

1. builds the case table (one image per analysed patient: ``patient_id``, ``image_path``,
   ``mask_path``) from the network's image table and sequence; a patient without an image is an
   error naming the count, never a silent drop;
2. trains one :class:`~her2stats.training.NetworkClassifier` inside each development
   cross-validation fold of :func:`~her2stats.reporting.study.stage_crossval` (``state.folds``):
   the fold's training part is all the network sees -- its inner validation split (early stopping,
   the kept checkpoint) is drawn from that training part only -- and the held-out part is
   predicted afterwards: ``state.dev_probs[name]``, the honest out-of-fold development
   predictions (``state.dev_method[name] = "cross-validated"``);
3. fits the final model: one network trained on every development patient, or, with
   ``fold_ensemble: k``, the k fold networks of step 2 averaged (seed 004's "averaged the
   prediction results obtained using the 10 models"; :class:`~her2stats.training.FoldEnsembleClassifier`).
   It predicts every patient (``state.probs[name]``; on development rows these are apparent);
4. writes the training curves (``features/<name>_curves.csv``: loss and validation AUC per epoch,
   per fold and of the final fit) with their figure (``training_curves_<name>``) and a Grad-CAM
   figure of the final network on ``report.gradcam_patients`` test patients (``gradcam_<name>``;
   3-D networks: slice panels ``gradcam_<name>_<k>``).

The evaluation stage then treats the network as any model of ``state.probs`` (ROC, operating
point, DeLong comparisons, decision curves, numbers.json). A fold whose training fails leaves its
held-out patients without an out-of-fold prediction and is reported in the notes (the network then
has no honest development figure); a failed final fit drops the network from the evaluation, also
in the notes. ``run_study(fast=True)`` trains with the network's ``fast:`` settings (fewer epochs,
a smaller input). Training is deterministic on CPU for a given ``validation.seed``.

``state.results["network/<name>"]`` records what each fit saw (``fits``: fold, patient ids of the
inner training and validation splits, held-out ids) so that a test can prove no held-out patient
reached a fold's network.
"""
from __future__ import annotations

import contextlib
import warnings
from typing import Any, Iterator

import numpy as np
import pandas as pd

from ..errors import InputError
from .image_table import patient_cases, read_image_table

__all__ = ["stage_networks", "network_cases", "network_estimator"]


def network_cases(state: Any, net: Any) -> pd.DataFrame:
    """One case row (``patient_id``, ``image_path``, ``mask_path``) per analysed patient, on the
    cohort's index, for network ``net`` (a :class:`~her2stats.reporting.config.NetworkConfig`)."""
    cfg = state.config
    images = net.images or (cfg.imaging.images if cfg.imaging is not None else "demo")
    index = read_image_table(cfg, images, "networks.images")
    return patient_cases(state, index, images, where=f"networks[{net.name}]",
                         sequence=net.sequences[0] if net.sequences else None,
                         sequence_key=f"networks[{net.name}].sequences")


def network_estimator(net: Any, fast: bool, seed: int) -> Any:
    """The unfitted :class:`~her2stats.training.NetworkClassifier` of a network config (fast mode:
    its ``fast:`` epochs, input size and batch size)."""
    from ..training import NetworkClassifier

    epochs = net.fast.epochs if fast else net.epochs
    size = net.fast.input_size if fast else net.input_size
    bs = (net.fast.batch_size or net.batch_size) if fast else net.batch_size
    return NetworkClassifier(backbone=net.backbone, pretrained=net.pretrained, freeze=net.freeze, last_k=net.last_k,
                             input=net.input, size=size, margin=net.margin, on_border=net.on_border,
                             augmentation=net.augmentation, mixup=net.mixup,
                             class_weights=dict(net.class_weights) if isinstance(net.class_weights, dict)
                             else net.class_weights,
                             epochs=epochs, batch_size=bs, lr=net.lr, weight_decay=net.weight_decay,
                             validation_size=net.validation_size, early_stopping=net.early_stopping,
                             monitor=net.monitor, device="auto", seed=int(seed))


def _curves(name: str, fold: str, history: Any) -> pd.DataFrame:
    f = history.to_frame()
    f.insert(0, "fold", fold)
    f.insert(0, "network", name)
    f["kept"] = f["epoch"] == history.best_epoch
    return f


def _ensemble(base: Any, fits: list, folds: list, y: np.ndarray, oof: np.ndarray, seed: int) -> Any:
    """A fitted :class:`~her2stats.training.FoldEnsembleClassifier` made of the study's fold networks
    (the same object ``FoldEnsembleClassifier(base, k, seed).fit`` returns, on the study's folds)."""
    from ..training import FoldEnsembleClassifier

    which = np.full(len(y), -1)
    for f, (_, test) in enumerate(folds):
        which[test] = f
    return FoldEnsembleClassifier(base, n_splits=len(folds), seed=seed).set_fold_models(
        fits, which, oof, fits[0].classes_, y)


def _train_network(state: Any, net: Any, cases: pd.DataFrame) -> dict | None:
    """Out-of-fold development predictions, the final model and its predictions of every patient."""
    from sklearn.base import clone

    cfg = state.config
    seed = int(cfg.validation.seed)
    base = network_estimator(net, state.fast, seed)
    df = state.cohort
    dev_rows = (df["cohort_split"] == "development").to_numpy()
    dev_cases = cases[dev_rows]
    y = df.loc[dev_rows, "_y"].to_numpy().astype(int)
    oof = np.full(len(y), np.nan)
    fits, curves, seen, failed = [], [], [], []
    for i, (train, test) in enumerate(state.folds, start=1):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # timm/torch chatter; failures are caught and noted
                est = clone(base).fit(dev_cases.iloc[train].reset_index(drop=True), y[train])
                oof[test] = est.predict_proba(dev_cases.iloc[test].reset_index(drop=True))[:, 1]
        except (InputError, RuntimeError, ValueError) as exc:
            failed.append(i)
            state.notes.append(f"{net.name}: the network of cross-validation fold {i} of {len(state.folds)} could not "
                               f"be trained ({type(exc).__name__}: {exc}); its {len(test)} held-out patient(s) have no "
                               "out-of-fold prediction, so the network has no honest development figure.")
            fits.append(None)
            continue
        fits.append(est)
        curves.append(_curves(net.name, str(i), est.history_))
        seen.append({"fold": i, "train_ids": est.train_ids_, "val_ids": est.val_ids_,
                     "test_ids": tuple(dev_cases["patient_id"].iloc[test])})
    if net.fold_ensemble is not None:
        if failed:
            state.notes.append(f"{net.name}: the fold ensemble lacks fold(s) {failed}; the network is not evaluated.")
            return None
        final = _ensemble(base, fits, state.folds, y, oof, seed)
        if net.fold_ensemble != len(state.folds):
            state.notes.append(f"{net.name}: the fold ensemble averages {len(state.folds)} fold networks (the study's "
                               f"cross-validation folds; fold_ensemble asks {net.fold_ensemble}"
                               f"{', fast mode' if state.fast else ''}).")
    else:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                final = clone(base).fit(dev_cases.reset_index(drop=True), y)
        except (InputError, RuntimeError, ValueError) as exc:
            state.notes.append(f"{net.name}: the final network (all development patients) could not be trained "
                               f"({type(exc).__name__}: {exc}); the network is not evaluated.")
            return None
        curves.append(_curves(net.name, "final", final.history_))
        seen.append({"fold": "final", "train_ids": final.train_ids_, "val_ids": final.val_ids_, "test_ids": ()})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prob = final.predict_proba(cases.reset_index(drop=True))[:, 1]
    if np.ptp(prob[dev_rows]) == 0:  # a collapsed network: no ROC direction, no cut-off, nothing to evaluate
        state.notes.append(f"{net.name}: the trained network predicts the same probability ({prob[dev_rows][0]:.4g}) "
                           "for every development patient; it is not evaluated.")
        return None
    return {"final": final, "prob": pd.Series(prob, index=df.index), "oof": pd.Series(oof, index=df.index[dev_rows]),
            "curves": pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(), "fits": seen,
            "failed_folds": failed, "fold_models": fits}


def _grad_cams(model: Any, cases: pd.DataFrame) -> list[dict]:
    """Grad-CAM of the final model; a fold ensemble's is the mean of its fold networks' maps."""
    members = list(getattr(model, "estimators_", [model]))
    maps = [m.grad_cam(cases) for m in members]
    out = []
    for j, first in enumerate(maps[0]):
        heat = np.mean([mm[j]["heatmap"] for mm in maps], axis=0)
        top = float(heat.max())
        out.append({**first, "heatmap": heat / top if top > 0 else heat,
                    "probability": float(model.predict_proba(cases.iloc[[j]])[:, 1][0])})
    return out


def _figures(state: Any, net: Any, run: dict, cases: pd.DataFrame) -> None:
    """Training curves and Grad-CAM figures of one network into ``outdir/figures``."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from ..data.labels import as_labels
    from . import figures as F
    from .gradcam import pick_gradcam_patients

    cfg, out = state.config, state.outdir
    formats = ["png"] + [f for f in cfg.report.figure_formats if f != "png"]
    final = run["final"]
    histories = [m.history_ for m in run["fold_models"] if m is not None]
    if net.fold_ensemble is None:
        histories.append(final.history_)
    if histories:
        fig = F.training_curves_figure(histories, title=f"{net.name}: training curves (folds 1-{len(state.folds)}"
                                                        + (", final fit)" if net.fold_ensemble is None else ")"))
        if net.fold_ensemble is None:  # the last panel is the final fit, not a fold
            fig.axes[len(histories) - 1].set_title("final (all development patients)", fontsize=9)
        state.figures[f"training_curves_{net.name}"] = F.save(fig, out / "figures" / f"training_curves_{net.name}",
                                                              formats=formats, style=cfg.report.style)[0]
    n = cfg.report.gradcam_patients
    if not n:
        return
    shown = next((c for c in reversed(state.cohorts) if c != "development"), None)
    if shown is None:
        state.results[f"gradcam_error/{net.name}"] = "no test cohort: a Grad-CAM of training patients is not shown"
        return
    part = state.part(shown)
    ids = cases.loc[part.index, "patient_id"]
    scores = pd.Series(run["prob"][part.index].to_numpy(), index=ids.to_numpy())
    yv = pd.Series(part["_y"].to_numpy(), index=scores.index)
    pick = pick_gradcam_patients(scores, yv, n if net.input != "3d" else min(n, 2))
    sub = cases.set_index("patient_id", drop=False).loc[pick].reset_index(drop=True)
    L = as_labels(cfg.labels)
    outcome = cfg.cohort.outcome
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cams = _grad_cams(final, sub)
        state.results[f"gradcam/{net.name}"] = {"cohort": shown, "patients": [c["patient_id"] for c in cams],
                                                "probabilities": [c["probability"] for c in cams]}
        if net.input == "3d":
            for k, c in enumerate(cams, start=1):
                fig = F.gradcam_slices_figure(c["input"], c["heatmap"], mask=c["mask"],
                                              title=f"{net.name}: {L.group_level(outcome, int(yv[c['patient_id']]))}, "
                                                    f"p = {c['probability']:.2f}")
                state.figures[f"gradcam_{net.name}_{k}"] = F.save(fig, out / "figures" / f"gradcam_{net.name}_{k}",
                                                                  formats=formats, style=cfg.report.style)[0]
        else:
            panels = [{"image": c["input"], "heatmap": c["heatmap"],
                       "title": f"{L.group_level(outcome, int(yv[c['patient_id']]))}\np = {c['probability']:.2f}"}
                      for c in cams]
            fig = F.gradcam_panels(panels, style=cfg.report.style, title=f"{net.name} (trained network)")
            state.figures[f"gradcam_{net.name}"] = F.save(fig, out / "figures" / f"gradcam_{net.name}",
                                                          formats=formats, style=cfg.report.style)[0]
    except Exception as exc:  # an explanation figure must not stop the study; the results say why
        state.results[f"gradcam_error/{net.name}"] = f"{type(exc).__name__}: {exc}"


def stage_networks(state: Any) -> Any:
    """Trained networks (``networks:``): out-of-fold development predictions on the study's folds,
    the final model's predictions of every patient, training curves and Grad-CAM (module docstring)."""
    cfg = state.config
    if not cfg.networks:
        return state
    if not state.folds:
        for net in cfg.networks:
            state.notes.append(f"{net.name}: no development cross-validation (see above), so the network was not "
                               "trained: it would have no honest development figure.")
            state.left_out[net.name] = "not trained (no development cross-validation)"
        return state
    with torch_threads(state.fast):
        for net in cfg.networks:
            _one_network(state, net)
    return state


@contextlib.contextmanager
def torch_threads(fast: bool) -> Iterator[None]:
    """Training on one torch thread in fast mode (a smoke test on shared cores: several threads
    contend and run many times slower), the thread count restored afterwards."""
    import torch

    threads = torch.get_num_threads()
    try:
        if fast:
            torch.set_num_threads(1)
        yield
    finally:
        torch.set_num_threads(threads)


def _one_network(state: Any, net: Any) -> None:
    state.say(f"network {net.name}")
    cases = network_cases(state, net)
    run = _train_network(state, net, cases)
    if run is None:  # its note says why; the steps naming it (fusion, subgroups...) skip it
        state.left_out[net.name] = state.notes[-1].split(": ", 1)[-1].rstrip(".")
        return
    name = net.name
    state.probs[name] = run["prob"]
    state.dev_probs[name] = run["oof"]
    state.dev_method[name] = "cross-validated"
    state.models[name] = run["final"]
    state.results[f"network/{name}"] = {"fits": run["fits"], "failed_folds": run["failed_folds"],
                                        "curves": run["curves"], "fold_ensemble": net.fold_ensemble is not None}
    fin = run["final"]
    h = fin.estimators_[0].history_ if net.fold_ensemble is not None else fin.history_
    state.numbers[f"network_epochs/{name}"] = float(net.fast.epochs if state.fast else net.epochs)
    state.numbers[f"network_input_size/{name}"] = float(getattr(fin, "input_size_", None)
                                                        or fin.estimators_[0].input_size_)
    size = int(state.numbers[f"network_input_size/{name}"])
    dims = "\u00d7".join([str(size)] * (3 if net.input == "3d" else 2))
    fast = (f"; fast mode: {net.fast.epochs} epoch(s) at this size instead of {net.epochs} epochs"
            + (f" at {net.input_size}" if net.input_size and net.input_size != size else "") if state.fast else "")
    state.notes.append(
        f"{name}: {net.backbone} ({h.weights} weights, freeze={net.freeze}, {net.input.upper()} input of {dims} "
        f"{'voxels' if net.input == '3d' else 'pixels'}{fast}) trained "
        f"on the development cohort inside each of the {len(state.folds)} cross-validation folds (checkpoint "
        f"and early stopping on an inner {net.validation_size:.0%} validation split of the fold's training "
        "patients only), giving out-of-fold development predictions; "
        + ("the fold networks averaged predict the test cohorts." if net.fold_ensemble is not None
           else "one network trained on every development patient the same way predicts the test cohorts."))
    if state.outdir is not None:
        (state.outdir / "features").mkdir(exist_ok=True)
        run["curves"].to_csv(state.outdir / "features" / f"{name}_curves.csv", index=False)
        _figures(state, net, run, cases)
