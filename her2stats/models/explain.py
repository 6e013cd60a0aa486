"""Explanations: SHAP summaries for fitted models, Grad-CAM heatmaps for CNN backbones.

SHAP (Lundberg & Lee, NeurIPS 2017): ``shap_summary`` picks the exact explainer for the model
class — TreeExplainer (tree-path-dependent; Lundberg et al., Nat Mach Intell 2020) for decision
trees, random forests, extra trees, XGBoost and LightGBM; LinearExplainer (independent masker:
:math:`\\phi_{ij} = \\beta_j (x_{ij} - \\bar x_j)` on the log-odds) for logistic regression and
DeepScore; antithetic permutation Shapley values on P(event) otherwise. Pipelines are explained at their last
step, on the features that step receives (after selection), with the earlier steps applied.

Grad-CAM (Selvaraju et al., ICCV 2017): ``grad_cam`` weights the last convolutional feature
map by the spatially averaged gradient of the class logit, keeps the positive part and
upsamples it to the input, optionally restricted to the tumour ROI. It is a visual aid: it says
where a network's evidence lies, not that the network is right.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..results import Result

_TREE_CLASSES = ("DecisionTreeClassifier", "RandomForestClassifier", "ExtraTreesClassifier",
                 "GradientBoostingClassifier", "XGBClassifier", "LGBMClassifier", "HistGradientBoostingClassifier")


@dataclass(frozen=True, repr=False)
class ShapSummary(Result):
    """SHAP values of one model on a set of patients."""

    values: pd.DataFrame       # patients x features, SHAP value
    data: pd.DataFrame         # the feature values explained (after any pipeline preprocessing)
    base_value: float
    output: str                # "log-odds" or "probability"
    method: str                # explainer used
    n: int

    def to_frame(self) -> pd.DataFrame:
        """Per feature: mean |SHAP| (global importance), mean SHAP, rank."""
        mean_abs = self.values.abs().mean()
        frame = pd.DataFrame({"mean_abs_shap": mean_abs, "mean_shap": self.values.mean()})
        frame = frame.sort_values("mean_abs_shap", ascending=False)
        frame["rank"] = np.arange(1, len(frame) + 1)
        frame.index.name = "feature"
        return frame

    def plot(self, ax: Any = None, kind: str = "beeswarm", max_features: int = 15) -> Any:
        """Beeswarm-style summary (SHAP value per patient, coloured by feature value) or bar
        chart of mean |SHAP|, for the ``max_features`` most important features."""
        import matplotlib.pyplot as plt

        if kind not in ("beeswarm", "bar"):
            raise InputError(f"kind must be 'beeswarm' or 'bar', got {kind!r}")
        top = list(self.to_frame().index[:max_features])
        if ax is None:
            _, ax = plt.subplots(figsize=(5.5, 0.35 * len(top) + 1.2))
        ypos = np.arange(len(top))[::-1]
        if kind == "bar":
            ax.barh(ypos, self.to_frame().loc[top, "mean_abs_shap"], color="tab:blue")
            ax.set_xlabel(f"mean |SHAP| ({self.output})")
        else:
            rng = np.random.default_rng(0)
            for yp, feat in zip(ypos, top):
                vals = self.values[feat].to_numpy()
                x = self.data[feat].to_numpy(dtype=float)
                span = np.ptp(x)
                colour = (x - x.min()) / span if span > 0 else np.full(len(x), 0.5)
                jitter = rng.uniform(-0.3, 0.3, size=len(vals))
                ax.scatter(vals, yp + jitter, c=colour, cmap="coolwarm", s=8, vmin=0, vmax=1)
            ax.axvline(0, color="0.5", lw=0.8)
            ax.set_xlabel(f"SHAP value ({self.output}); colour: feature value low -> high")
        ax.set_yticks(ypos)
        ax.set_yticklabels(top, fontsize=8)
        return ax


def _split_pipeline(model: Any, X: Any, background: Any) -> tuple[Any, pd.DataFrame, pd.DataFrame | None]:
    """Apply all but the last step of a Pipeline to X (and background); return the last step.

    A one-step Pipeline (the model zoo's refits without preprocessing: ``Pipeline([("model", rf)])``)
    is its only step: it is explained as that estimator would be (a random forest by TreeExplainer,
    not by the permutation fallback)."""
    from sklearn.pipeline import Pipeline

    while isinstance(model, Pipeline) and len(model.steps) == 1 and hasattr(model.steps[0][1], "fit"):
        model = model.steps[0][1]

    def as_frame(data: Any, names: Any) -> pd.DataFrame:
        if isinstance(data, pd.DataFrame):
            return data
        arr = np.asarray(data, dtype=float)
        cols = list(names) if names is not None and len(names) == arr.shape[1] else [f"x{j}" for j in range(arr.shape[1])]
        return pd.DataFrame(arr, columns=cols)

    if isinstance(model, Pipeline) and len(model.steps) > 1:
        head = model[:-1]
        Xt = head.transform(X)
        bt = head.transform(background) if background is not None else None
        try:
            names = head.get_feature_names_out()
        except Exception:
            names = None
        index = X.index if isinstance(X, pd.DataFrame) else None
        Xf = as_frame(Xt, names)
        if index is not None and len(Xf) == len(index):
            Xf.index = index
        return model[-1], Xf, (as_frame(bt, names) if bt is not None else None)
    names = getattr(model, "feature_names_in_", None)
    return model, as_frame(X, names), (as_frame(background, names) if background is not None else None)


def shap_summary(model: Any, X: Any, background: Any = None, max_background: int = 100, seed: int = 0,
                 max_evals: int | None = None) -> ShapSummary:
    """SHAP values of a fitted binary classifier on patients ``X``.

    Parameters
    ----------
    model : fitted estimator or Pipeline (explained at its last step; a one-step Pipeline as its
        only step).
    X : patients to explain (DataFrame keeps feature names).
    background : reference patients for the linear / permutation explainers (use the training
        set); defaults to ``X``. At most ``max_background`` rows are used (sampled with ``seed``).
    max_evals : budget per patient for the permutation fallback, in units of ``2p + 1``
        evaluations per antithetic permutation pair (default ``4 * (2p + 1)``: four pairs);
        additivity holds for any value, precision grows with it.

    Returns
    -------
    ShapSummary: ``values`` (patients x features), ``to_frame()`` ranking by mean |SHAP|,
    ``plot()``. Additivity holds: ``base_value + values.sum(axis=1)`` equals the model output
    on the stated scale (log-odds for linear models, XGBoost and LightGBM; probability for
    sklearn trees/forests and the permutation fallback).
    """
    final, Xf, bg = _split_pipeline(model, X, background)
    if Xf.shape[1] == 0:
        raise InputError("the model's last step receives no features (the selection kept none); nothing to explain")
    if bg is None:
        bg = Xf
    if len(bg) > max_background:
        bg = bg.sample(n=max_background, random_state=seed)
    cls = type(final).__name__
    if cls in _TREE_CLASSES:
        import shap

        explainer = shap.TreeExplainer(final)
        raw = explainer.shap_values(Xf)
        base = explainer.expected_value
        if isinstance(raw, list):
            raw, base = raw[1], np.atleast_1d(base)[1]
        elif np.ndim(raw) == 3:
            raw, base = raw[:, :, 1], np.atleast_1d(base)[1]
        base = float(np.atleast_1d(base)[-1])
        output = "probability" if cls in ("DecisionTreeClassifier", "RandomForestClassifier", "ExtraTreesClassifier") \
            else "log-odds"
        method = "TreeExplainer"
    elif hasattr(final, "coef_") and hasattr(final, "intercept_") and np.ndim(np.asarray(final.coef_)) <= 2 \
            and np.asarray(final.coef_).size == Xf.shape[1]:
        coef = np.asarray(final.coef_, dtype=float).ravel()
        intercept = float(np.ravel(np.asarray(final.intercept_, dtype=float))[0])
        import shap

        # an explicit masker: shap's default silently subsamples the background to 100 rows
        masker = shap.maskers.Independent(bg.to_numpy(dtype=float), max_samples=len(bg))
        explainer = shap.LinearExplainer((coef, intercept), masker)
        raw = explainer.shap_values(Xf.to_numpy(dtype=float))
        base = float(np.ravel(explainer.expected_value)[0])
        output, method = "log-odds", "LinearExplainer"
    elif hasattr(final, "predict_proba"):
        named = hasattr(final, "feature_names_in_")

        def f(data: np.ndarray) -> np.ndarray:
            return final.predict_proba(pd.DataFrame(data, columns=Xf.columns) if named else data)[:, 1]

        n_perm = max(1, (int(max_evals) if max_evals is not None else 4 * (2 * Xf.shape[1] + 1))
                     // (2 * Xf.shape[1] + 1))
        raw, base = _permutation_shap(f, Xf.to_numpy(dtype=float), bg.to_numpy(dtype=float), n_perm, seed)
        output, method = "probability", "permutation Shapley (independent masker)"
    else:
        raise InputError(f"cannot explain {cls}: it has no predict_proba, coefficients or trees")
    values = pd.DataFrame(np.asarray(raw, dtype=float), index=Xf.index, columns=Xf.columns)
    return ShapSummary(values=values, data=Xf, base_value=base, output=output, method=method, n=len(Xf))


def _permutation_shap(f: Any, X: np.ndarray, bg: np.ndarray, n_perm: int, seed: int) -> tuple[np.ndarray, float]:
    """Shapley values by antithetic permutation sampling with an independent (interventional)
    masker (Strumbelj & Kononenko, Knowl Inf Syst 2014;41:647-665).

    For each patient and each sampled feature order (and its reverse), features are switched
    from background to the patient's values one at a time; a feature's contribution is the
    change in the background-averaged output. Every walk telescopes from the background mean to
    the patient's output, so the values are exactly additive for any number of permutations.
    Pure numpy (shap's permutation explainer JIT-compiles numba code first, ~15-30 s).
    """
    rng = np.random.default_rng(seed)
    n, p = X.shape
    base = float(np.mean(f(bg)))
    out = np.zeros((n, p))
    orders = []
    for _ in range(n_perm):
        perm = rng.permutation(p)
        orders.extend([perm, perm[::-1]])
    for i in range(n):
        rows = []
        for order in orders:
            current = bg.copy()
            for j in order:
                current = current.copy()
                current[:, j] = X[i, j]
                rows.append(current)
        preds = f(np.vstack(rows)).reshape(len(orders), p, len(bg)).mean(axis=2)
        for k, order in enumerate(orders):
            steps = np.diff(np.concatenate([[base], preds[k]]))
            out[i, order] += steps
        out[i] /= len(orders)
    return out, base


# --------------------------------------------------------------------------- Grad-CAM
def grad_cam(model: Any, image: Any, target_class: int | None = None, mask: Any = None) -> np.ndarray:
    r"""Grad-CAM heatmap of a timm CNN for one image, upsampled to the image size.

    .. math:: L^c = \mathrm{ReLU}\Big(\sum_k \alpha_k^c A^k\Big), \qquad
              \alpha_k^c = \frac{1}{hw}\sum_{u,v} \frac{\partial y^c}{\partial A^k_{uv}}

    where :math:`A` is the final convolutional feature map (``model.forward_features``) and
    :math:`y^c` the class logit from ``model.forward_head`` (Selvaraju et al., ICCV 2017).

    Parameters
    ----------
    model : a timm CNN (anything with ``forward_features`` returning a 4-D map and
        ``forward_head``). Vision transformers (token outputs) are refused.
    image : tensor or array (C, H, W) or (1, C, H, W), already preprocessed as the model
        expects (resize, ImageNet normalisation); a 2-D (H, W) array is repeated over the
        model's input channels.
    target_class : class whose logit is explained (default: the predicted class; a single-logit
        head explains that logit).
    mask : optional (H, W) ROI mask; the heatmap is zeroed outside it and rescaled inside it.

    Returns
    -------
    numpy.ndarray (H, W), float32 in [0, 1] (max 1 unless the map is all zero).
    """
    import torch
    import torch.nn.functional as F

    if not (hasattr(model, "forward_features") and hasattr(model, "forward_head")):
        raise InputError("grad_cam needs a timm model with forward_features/forward_head")
    x = image if isinstance(image, torch.Tensor) else torch.as_tensor(np.asarray(image, dtype=np.float32))
    x = x.float()
    in_chans = int(getattr(model, "pretrained_cfg", {}).get("in_chans", 0) or 0) or _in_channels(model)
    if x.ndim == 2:
        x = x.unsqueeze(0).repeat(in_chans, 1, 1)
    if x.ndim == 3:
        x = x.unsqueeze(0)
    if x.ndim != 4 or x.shape[0] != 1:
        raise InputError(f"image must be (H, W), (C, H, W) or (1, C, H, W), got shape {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise InputError("image has NaN or infinite values")
    height, width = int(x.shape[-2]), int(x.shape[-1])
    param = next(model.parameters(), None)
    if param is not None:
        x = x.to(device=param.device, dtype=param.dtype)
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            fmap = model.forward_features(x)
            if fmap.ndim != 4:
                raise InputError(
                    f"grad_cam needs a CNN: forward_features returned shape {tuple(fmap.shape)}, not a 4-D feature map "
                    "(vision transformers need attention rollout instead)"
                )
            fmap = fmap.detach().requires_grad_(True)
            logits = model.forward_head(fmap)
            if logits.ndim == 1:
                logits = logits.unsqueeze(1)
            if target_class is None:
                target_class = int(logits[0].argmax()) if logits.shape[1] > 1 else 0
            if not 0 <= int(target_class) < logits.shape[1]:
                raise InputError(f"target_class {target_class} is outside the model's {logits.shape[1]} outputs")
            (grad,) = torch.autograd.grad(logits[0, int(target_class)], fmap)
    finally:
        model.train(was_training)
    weights = grad.mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((weights * fmap.detach()).sum(dim=1, keepdim=True))
    cam = F.interpolate(cam, size=(height, width), mode="bilinear", align_corners=False)[0, 0]
    return _masked_unit_map(cam.detach().cpu().numpy().astype(np.float32), mask, "image", "pixel")


def grad_cam_3d(model: Any, volume: Any, target_class: int | None = None, mask: Any = None,
                target_layer: Any = None) -> np.ndarray:
    r"""Grad-CAM of a 3-D CNN for one volume, upsampled (trilinear) to the volume's grid.

    The same formula as :func:`grad_cam` with the gradient averaged over depth, height and width:
    :math:`\alpha_k^c = \frac{1}{dhw}\sum_{t,u,v} \partial y^c / \partial A^k_{tuv}`,
    :math:`L^c = \mathrm{ReLU}(\sum_k \alpha_k^c A^k)`.

    Parameters
    ----------
    model : a 3-D network (e.g. torchvision's ``r3d_18``, as :class:`her2stats.training.NetworkClassifier`
        trains it) returning class logits.
    volume : tensor or array ``(D, H, W)``, ``(C, D, H, W)`` or ``(1, C, D, H, W)``, preprocessed as
        the model expects; a ``(D, H, W)`` volume is repeated over the model's input channels.
    target_class : logit explained (default: the predicted class; a one-logit head explains it).
    mask : optional ``(D, H, W)`` ROI; the heat is zeroed outside it and rescaled inside.
    target_layer : the module whose output map is used, or its name (default ``"layer4"`` when the
        model has one, else the last module holding a ``Conv3d``).

    Returns
    -------
    numpy.ndarray ``(D, H, W)``, float32 in [0, 1]. Show it slice by slice with
    :func:`her2stats.reporting.figures.gradcam_slices_figure`.
    """
    import torch
    import torch.nn.functional as F

    x = volume if isinstance(volume, torch.Tensor) else torch.as_tensor(np.asarray(volume, dtype=np.float32))
    x = x.float()
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv3d)]
    if not convs:
        raise InputError("grad_cam_3d needs a 3-D CNN (a model with Conv3d layers); use grad_cam for 2-D networks")
    in_chans = int(convs[0].in_channels)
    if x.ndim == 3:
        x = x.unsqueeze(0).repeat(in_chans, 1, 1, 1)
    if x.ndim == 4:
        x = x.unsqueeze(0)
    if x.ndim != 5 or x.shape[0] != 1:
        raise InputError(f"volume must be (D, H, W), (C, D, H, W) or (1, C, D, H, W), got shape {tuple(x.shape)}")
    if x.shape[1] == 1 and in_chans == 3:
        x = x.expand(-1, 3, -1, -1, -1)
    if not torch.isfinite(x).all():
        raise InputError("volume has NaN or infinite values")
    if target_layer is None:
        named = dict(model.named_modules())
        if "layer4" in named:
            layer = named["layer4"]
        else:
            layer = [m for m in model.modules() if any(isinstance(c, torch.nn.Conv3d) for c in m.modules())
                     and m is not model][-1]
    elif isinstance(target_layer, str):
        try:
            layer = model.get_submodule(target_layer)
        except AttributeError as exc:
            raise InputError(f"the model has no layer {target_layer!r}") from exc
    else:
        layer = target_layer
    param = next(model.parameters(), None)
    if param is not None:
        x = x.to(device=param.device, dtype=param.dtype)
    store: dict[str, Any] = {}
    handle = layer.register_forward_hook(lambda mod, inp, out: store.__setitem__("a", out))
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            logits = model(x)
            if logits.ndim == 1:
                logits = logits.unsqueeze(1)
            if target_class is None:
                target_class = int(logits[0].argmax()) if logits.shape[1] > 1 else 0
            if not 0 <= int(target_class) < logits.shape[1]:
                raise InputError(f"target_class {target_class} is outside the model's {logits.shape[1]} outputs")
            fmap = store["a"]
            if fmap.ndim != 5:
                raise InputError(f"the target layer's output has shape {tuple(fmap.shape)}, not a 3-D feature map")
            (grad,) = torch.autograd.grad(logits[0, int(target_class)], fmap)
    finally:
        handle.remove()
        model.train(was_training)
    weights = grad.mean(dim=(2, 3, 4), keepdim=True)
    cam = torch.relu((weights * fmap.detach()).sum(dim=1, keepdim=True))
    cam = F.interpolate(cam, size=tuple(int(s) for s in x.shape[-3:]), mode="trilinear", align_corners=False)[0, 0]
    return _masked_unit_map(cam.detach().cpu().numpy().astype(np.float32), mask, "volume", "voxel")


def _masked_unit_map(heat: np.ndarray, mask: Any, what: str, unit: str) -> np.ndarray:
    """A Grad-CAM map zeroed outside the ROI ``mask`` (when given) and scaled to a maximum of 1."""
    if mask is not None:
        roi = np.asarray(mask)
        if roi.shape != heat.shape:
            raise InputError(f"mask shape {roi.shape} differs from the {what}'s {heat.shape}")
        if not roi.any():
            raise InputError(f"mask is empty: no ROI {unit} to show the heatmap over")
        heat = np.where(roi > 0, heat, 0.0).astype(np.float32)
    peak = float(heat.max())
    if peak > 0:
        heat /= peak
    return heat


def _in_channels(model: Any) -> int:
    import torch

    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):
            return int(module.in_channels)
    return 3


def overlay_heatmap(image: Any, heatmap: np.ndarray, ax: Any = None, alpha: float = 0.4) -> Any:
    """Show a grayscale image with a Grad-CAM heatmap on top; returns the matplotlib Axes."""
    import matplotlib.pyplot as plt

    img = np.asarray(image, dtype=float)
    if img.ndim == 3:
        img = img.mean(axis=0) if img.shape[0] in (1, 3) else img.mean(axis=-1)
    if img.shape != heatmap.shape:
        raise InputError(f"image shape {img.shape} differs from heatmap shape {heatmap.shape}")
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(img, cmap="gray")
    ax.imshow(heatmap, cmap="jet", alpha=alpha, vmin=0, vmax=1)
    ax.set_axis_off()
    return ax
