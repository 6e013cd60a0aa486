"""Bad radiomics inputs: RadiomicsExtractor on a case whose mask is empty or one voxel (the case is
named), an unknown pyradiomics feature class; bad ``image_models`` radiomics settings (the key and
the reason). The extractor has no engine."""
from __future__ import annotations

from her2stats.errors import ConfigError, InputError

from ._case import Case
from .cases_config import _load

N = (None,)


def _add(**sections):
    def edit(d):
        d.update(sections)
    return edit


def _extract(mask: str, **kw):
    """RadiomicsExtractor on demo patient 1's DCE_post1 image with an empty or one-voxel mask."""
    import tempfile
    from pathlib import Path

    import numpy as np
    import pandas as pd
    import pytest
    import SimpleITK as sitk

    pytest.importorskip("radiomics", reason="pyradiomics 3.0.1 is installed by `make install`")
    from her2stats.data import demo_images
    from her2stats.features import RadiomicsExtractor

    t = demo_images()
    r = t[t["sequence"] == "DCE_post1"].iloc[0]
    m = sitk.ReadImage(r.mask_path)
    a = np.zeros_like(sitk.GetArrayFromImage(m))
    if mask == "one":
        a[8, 30, 30] = 1
    out = sitk.GetImageFromArray(a)
    out.CopyInformation(m)
    path = Path(tempfile.mkdtemp()) / "BAD_mask.nii.gz"
    sitk.WriteImage(out, str(path))
    table = pd.DataFrame([{"patient_id": "BAD-1", "sequence": "DCE_post1", "image_path": r.image_path,
                           "mask_path": str(path)}])
    return RadiomicsExtractor(**kw).fit_transform(table)


CASES = [
    Case("RadiomicsExtractor/empty-mask", lambda e: _extract("empty"), InputError,
         ("BAD-1", "DCE_post1", "gave no features"), engines=N),
    Case("RadiomicsExtractor/one-voxel-mask", lambda e: _extract("one"), InputError,
         ("BAD-1", "1 segmented voxel"), engines=N),
    Case("RadiomicsExtractor/unknown-feature-class", lambda e: _extract("one", feature_classes=["glcmm"]), InputError,
         ("unknown feature class", "glcmm"), engines=N),
    Case("config/radiomics-deep-key-on-a-radiomics-model",
         lambda e: _load(_add(image_models=[{"name": "r", "extractor": "radiomics", "layer": 3}])), ConfigError,
         ("image_models.0", "layer", "does not use"), engines=N),
    Case("config/radiomics-block-without-fusion",
         lambda e: _load(_add(image_models=[{"name": "r", "extractor": "radiomics",
                                             "selection": [{"step": "pca", "block": "deep"}]}])), ConfigError,
         ("block 'deep'", "early-fused"), engines=N),
    Case("config/radiomics-shape2d-without-force-2d",
         lambda e: _load(_add(image_models=[{"name": "r", "extractor": "radiomics",
                                             "radiomics": {"feature_classes": ["shape2D"]}}])), ConfigError,
         ("shape2D", "force_2d"), engines=N),
    Case("config/radiomics-icc-step-without-imaging-icc",
         lambda e: _load(_add(image_models=[{"name": "r", "extractor": "radiomics", "selection": [{"step": "icc"}]}])),
         ConfigError, ("icc", "add imaging.icc"), engines=N),
]
