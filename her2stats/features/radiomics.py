"""Hand-crafted radiomics (pyradiomics) through the same content-addressed cache.

pyradiomics is an optional extra (``pip install --no-build-isolation pyradiomics``; its build
needs numpy at build time, hence the flag). It is imported only when :class:`RadiomicsExtractor`
is used, and a clear ImportError names that command when it is missing. Features are IBSI-style
first-order, shape and texture (GLCM, GLRLM, GLSZM, GLDM, NGTDM) classes computed on the image
inside the mask (seeds 003 and 004).
"""
from __future__ import annotations

import os
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from ..errors import InputError
from ..imaging.io import file_digest
from ..imaging.study import check_case_table, load_case
from .cache import FeatureCache, cache_key

RADIOMICS_VERSION = "1"
INSTALL_HINT = "pip install --no-build-isolation pyradiomics   (or: pip install 'her2stats[radiomics]')"


def _import_radiomics():
    try:
        import radiomics  # noqa: F401
        from radiomics import featureextractor
    except ImportError as exc:
        raise ImportError(f"radiomic features need the optional package pyradiomics, which is not installed: "
                          f"{INSTALL_HINT}") from exc
    return radiomics, featureextractor


class RadiomicsExtractor(BaseEstimator, TransformerMixin):
    """pyradiomics features of image + mask, one row per case (sklearn transformer, no learning).

    Parameters
    ----------
    settings : pyradiomics settings (e.g. ``{"binWidth": 25, "resampledPixelSpacing": [1, 1, 1]}``).
    feature_classes : feature classes to enable (default all).
    image_types : e.g. ``{"Original": {}, "Wavelet": {}}`` (default Original only).
    cache_dir : content-addressed cache (key: image and mask sha256, settings, pyradiomics version).
    """

    def __init__(self, settings: Mapping[str, Any] | None = None, feature_classes: Sequence[str] | None = None,
                 image_types: Mapping[str, Any] | None = None, label: int = 1,
                 cache_dir: str | os.PathLike | None = None, on_error: str = "raise"):
        self.settings = settings
        self.feature_classes = feature_classes
        self.image_types = image_types
        self.label = label
        self.cache_dir = cache_dir
        self.on_error = on_error

    def fit(self, X: Any = None, y: Any = None) -> "RadiomicsExtractor":
        _import_radiomics()
        return self

    def _extractor(self):
        _, featureextractor = _import_radiomics()
        ext = featureextractor.RadiomicsFeatureExtractor(**dict(self.settings or {}))
        if self.feature_classes is not None:
            ext.disableAllFeatures()
            for c in self.feature_classes:
                ext.enableFeatureClassByName(c)
        if self.image_types is not None:
            ext.disableAllImageTypes()
            for name, kw in self.image_types.items():
                ext.enableImageTypeByName(name, customArgs=dict(kw or {}))
        return ext

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        radiomics, _ = _import_radiomics()
        table = check_case_table(X)
        if table["mask_path"].isna().any():
            raise InputError(f"radiomics needs a mask for every row; rows without: "
                             f"{table.loc[table['mask_path'].isna(), 'patient_id'].tolist()}")
        ext = self._extractor()
        cache = FeatureCache(self.cache_dir) if self.cache_dir is not None else None
        params = {"radiomics_version": RADIOMICS_VERSION, "pyradiomics": radiomics.__version__,
                  "settings": dict(self.settings or {}), "classes": list(self.feature_classes or []),
                  "image_types": dict(self.image_types or {}), "label": self.label}
        out: dict[str, dict[str, float]] = {}
        failures = []
        for r in table.itertuples(index=False):
            key = cache_key(dict(params, image=file_digest(r.image_path), mask=file_digest(r.mask_path)))
            vals = cache.get(key) if cache is not None else None
            names = cache.info(key)["info"]["names"] if vals is not None else None
            if vals is None:
                try:
                    case = load_case(r.image_path, r.mask_path, case_id=r.patient_id, sequence=r.sequence,
                                     label=self.label)
                    res = ext.execute(case.image.to_sitk(), case.mask.with_array(case.mask.array.astype(np.uint8)).to_sitk(),
                                      label=1)
                except Exception as exc:
                    failures.append({"patient_id": r.patient_id, "sequence": r.sequence, "error": str(exc)})
                    continue
                feats = {k: float(v) for k, v in res.items() if not k.startswith("diagnostics_")}
                names, vals = list(feats), np.asarray(list(feats.values()), dtype=np.float64)
                if cache is not None:
                    cache.put(key, vals, {"names": names})
            row = out.setdefault(r.patient_id, {})
            row.update({f"{r.sequence}_{n}": float(v) for n, v in zip(names, vals)})
        self.failures_ = pd.DataFrame(failures, columns=["patient_id", "sequence", "error"])
        self.cache_stats_ = dict(cache.stats) if cache is not None else None
        if failures and self.on_error == "raise":
            raise InputError(f"radiomics failed for {len(failures)} case(s): "
                             + "; ".join(f"{f['patient_id']}/{f['sequence']}: {f['error']}" for f in failures[:5]))
        bad = set(self.failures_["patient_id"])
        frame = pd.DataFrame.from_dict({k: v for k, v in out.items() if k not in bad}, orient="index")
        frame.index.name = "patient_id"
        return frame
