"""Bad inputs of the trained segmentation network (fit_segmentation_network / SegmentationNetwork)
and of segmentation_agreement: a missing, empty or misplaced mask names the patient or file; a bad
parameter names itself. Engine-free (``engines=(None,)``)."""
from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

import her2stats as h2
from her2stats.errors import InputError

from ._case import Case

NONE = (None,)
FAST = dict(epochs=1, batch_size=4, size=32, device="cpu", pretrained=False)


@functools.lru_cache(maxsize=1)
def _demo() -> pd.DataFrame:
    cases = h2.demo_images(root=tempfile.mkdtemp(prefix="h2s_bad_seg_"), n=6)
    return cases[cases["sequence"] == "DCE_post1"].reset_index(drop=True)


@functools.lru_cache(maxsize=1)
def _bad_masks() -> tuple[str, str]:
    """(an empty mask, a mask on another grid) beside the demo's first image."""
    from her2stats.imaging.io import read_image, write_nifti

    c = _demo()
    img = read_image(c["mask_path"].iloc[0])
    folder = Path(tempfile.mkdtemp(prefix="h2s_bad_seg_masks_"))
    empty = write_nifti(img.with_array(np.zeros_like(img.array, dtype=np.uint8)), folder / "empty_mask.nii.gz",
                        dtype=np.uint8)
    other = write_nifti(img.with_array(np.ones((2, 8, 8), np.uint8)), folder / "other_grid_mask.nii.gz",
                        dtype=np.uint8)
    return str(empty), str(other)


def _fit(cases=None, **kw):
    return h2.fit_segmentation_network(_demo() if cases is None else cases, **{**FAST, **kw})


def _with_mask(i: int, path):
    c = _demo().copy()
    c.loc[c.index[i], "mask_path"] = path
    return c


def _agree(pred, ref, **kw):
    return h2.segmentation_agreement(pred, ref, **kw)


SQ = np.pad(np.ones((3, 3), bool), 2)

CASES = [
    Case("fit_segmentation_network/missing mask", lambda e: _fit(_with_mask(2, None)), InputError,
         (_demo()["patient_id"].iloc[2], "mask_path"), engines=NONE),
    Case("fit_segmentation_network/empty mask", lambda e: _fit(_with_mask(0, _bad_masks()[0])), InputError,
         ("empty_mask", "empty"), engines=NONE),
    Case("fit_segmentation_network/mask on another grid", lambda e: _fit(_with_mask(0, _bad_masks()[1])), InputError,
         ("other_grid_mask", "shape"), engines=NONE),
    Case("fit_segmentation_network/missing image", lambda e: _fit(_demo().assign(image_path="/nope/seg_img.nii.gz")),
         InputError, ("seg_img",), engines=NONE),
    Case("fit_segmentation_network/not a table", lambda e: _fit([1, 2, 3]), InputError, ("DataFrame",), engines=NONE),
    Case("fit_segmentation_network/unknown slices", lambda e: _fit(slices="middle"), InputError, ("slices", "middle"),
         engines=NONE),
    Case("fit_segmentation_network/unknown box", lambda e: _fit(box="circle"), InputError, ("box", "circle"),
         engines=NONE),
    Case("fit_segmentation_network/size too small", lambda e: _fit(size=16), InputError, ("size",), engines=NONE),
    Case("fit_segmentation_network/early stopping without validation",
         lambda e: _fit(validation_size=0), InputError, ("early_stopping", "validation"), engines=NONE),
    Case("fit_segmentation_network/one patient", lambda e: _fit(_demo().iloc[:1]), InputError, ("2 training",),
         engines=NONE),
    Case("segmentation_agreement/patient without reference", lambda e: _agree({"p7": SQ}, {"p8": SQ}), InputError,
         ("p7", "ref_masks"), engines=NONE),
    Case("segmentation_agreement/shape mismatch", lambda e: _agree({"p7": SQ}, {"p7": SQ[:-1]}), InputError,
         ("p7", "shape"), engines=NONE),
    Case("segmentation_agreement/empty reference", lambda e: _agree({"p7": SQ}, {"p7": np.zeros_like(SQ)}),
         InputError, ("p7", "empty"), engines=NONE),
    Case("segmentation_agreement/unreadable mask file", lambda e: _agree({"p7": "/nope/p7_pred.nii.gz"}, {"p7": SQ}),
         InputError, ("p7", "p7_pred"), engines=NONE),
    Case("segmentation_agreement/NaN in mask", lambda e: _agree({"p7": np.where(SQ, np.nan, 0.0)}, {"p7": SQ}),
         InputError, ("p7", "NaN"), engines=NONE),
    Case("segmentation_agreement/bad method", lambda e: _agree({"p7": SQ}, {"p7": SQ}, method="wald"), InputError,
         ("method", "wald"), engines=NONE),
    Case("segmentation_agreement/bad level", lambda e: _agree({"p7": SQ}, {"p7": SQ}, level=95), InputError,
         ("level",), engines=NONE),
]
