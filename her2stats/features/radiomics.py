"""Hand-crafted radiomics (pyradiomics) through the same content-addressed cache.

pyradiomics is an optional extra, version 3.0.1 (3.1.0's source distribution is broken), built
without build isolation because its build imports numpy::

    pip install numpy versioneer && pip install --no-build-isolation pyradiomics==3.0.1

(``make install`` does it.) It is imported only when :class:`RadiomicsExtractor` is used, and a
clear ImportError names that command when it is missing. Features are IBSI-style first-order,
shape and texture (GLCM, GLRLM, GLSZM, GLDM, NGTDM) classes computed on the image inside the mask
(seeds 003 and 004).
"""
from __future__ import annotations

import logging
import os
import time
import warnings
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from ..errors import InputError, find_stack_level
from ..imaging.io import file_digest
from ..imaging.study import check_case_table, load_case
from .cache import FeatureCache, cache_key

__all__ = ["RadiomicsExtractor", "radiomics_version", "INSTALL_HINT", "PYRADIOMICS_VERSION"]

RADIOMICS_VERSION = "2"
#: the pyradiomics release her2stats is tested with (``make install`` builds it)
PYRADIOMICS_VERSION = "3.0.1"
INSTALL_HINT = (f"pip install numpy versioneer && pip install --no-build-isolation pyradiomics=={PYRADIOMICS_VERSION}"
                "   (what `make install` does)")


def _import_radiomics():
    try:
        import radiomics  # noqa: F401
        from radiomics import featureextractor
    except ImportError as exc:
        raise ImportError(f"radiomic features need the optional package pyradiomics, which is not installed: "
                          f"{INSTALL_HINT}") from exc
    return radiomics, featureextractor


def radiomics_version() -> str | None:
    """The installed pyradiomics version (``"3.0.1"``), or None when it cannot be imported."""
    try:
        radiomics, _ = _import_radiomics()
    except ImportError:
        return None
    return str(radiomics.__version__).lstrip("v")


class _Quiet:
    """pyradiomics logs every skipped class and GLCM symmetry note at WARNING; silence it (errors
    still raise) for the duration of an extraction and restore the logger after."""

    def __enter__(self):
        self.logger = logging.getLogger("radiomics")
        self.level = self.logger.level
        self.logger.setLevel(logging.ERROR)

    def __exit__(self, *exc):
        self.logger.setLevel(self.level)


class RadiomicsExtractor(BaseEstimator, TransformerMixin):
    """pyradiomics features of image + mask, one row per case (sklearn transformer, no learning).

    Each row of the case table (``patient_id``, ``sequence``, ``image_path``, ``mask_path``) is read
    with :func:`her2stats.imaging.load_case` (its spacing, origin and direction kept; the mask voxels
    equal to ``label`` are the ROI) and passed to ``RadiomicsFeatureExtractor.execute``; the
    features of a patient's sequences are columns ``<sequence>_<feature>`` of one row (pyradiomics'
    ``diagnostics_*`` entries are left out).

    Parameters
    ----------
    settings : pyradiomics settings (default: pyradiomics' own, i.e. ``binWidth`` 25, no
        resampling, no normalisation; e.g. ``{"binWidth": 25, "force2D": True}``).
        ``force2D`` computes the texture matrices in-plane per slice, and is what a single-slice
        (2-D) image with the ``shape2D`` class needs.
    feature_classes : feature classes to enable (default: pyradiomics' default, every class but
        ``shape2D``).
    image_types : e.g. ``{"Original": {}, "Wavelet": {}}`` (default Original only).
    label : mask value of the ROI.
    cache_dir : content-addressed cache (key: image and mask sha256, settings, classes, image
        types, label and the pyradiomics version).
    on_error : ``"raise"``: a case that gives no features (unreadable file, empty mask, a mask of
        one voxel...) is an InputError naming it; ``"skip"``: such cases are left out of the output,
        counted in ``n_excluded_``, listed in ``failures_`` and announced by a warning.

    Attributes
    ----------
    failures_ : patient_id, sequence, error of the cases that gave no features.
    nonfinite_ : patient_id, feature, value of every NaN/inf feature value; such values are kept
        in the output (never dropped) and announced by a warning.
    feature_names_out_, cache_stats_, n_cases_, n_excluded_, seconds_per_case_ (extraction time
    of the cases not read from the cache), version_ (pyradiomics).

    References
    ----------
    van Griethuysen JJM et al. Computational radiomics system to decode the radiographic
    phenotype. Cancer Res 2017;77:e104-e107. Zwanenburg A et al. The Image Biomarker
    Standardization Initiative. Radiology 2020;295:328-338.
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
        radiomics, featureextractor = _import_radiomics()
        ext = featureextractor.RadiomicsFeatureExtractor(**dict(self.settings or {}))
        if self.feature_classes is not None:
            known = set(radiomics.getFeatureClasses())
            unknown = [c for c in self.feature_classes if c not in known]
            if unknown:
                raise InputError(f"radiomics: unknown feature class(es) {unknown}; pyradiomics has {sorted(known)}")
            ext.disableAllFeatures()
            for c in self.feature_classes:
                ext.enableFeatureClassByName(c)
        if self.image_types is not None:
            known = set(radiomics.getImageTypes())
            unknown = [t for t in self.image_types if t not in known]
            if unknown:
                raise InputError(f"radiomics: unknown image type(s) {unknown}; pyradiomics has {sorted(known)}")
            ext.disableAllImageTypes()
            for name, kw in self.image_types.items():
                ext.enableImageTypeByName(name, customArgs=dict(kw or {}))
        return ext

    def _params(self, version: str) -> dict:
        return {"radiomics_version": RADIOMICS_VERSION, "pyradiomics": version,
                "settings": dict(self.settings or {}),
                "classes": None if self.feature_classes is None else list(self.feature_classes),
                "image_types": None if self.image_types is None else
                {k: dict(v or {}) for k, v in self.image_types.items()}, "label": int(self.label)}

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        radiomics, _ = _import_radiomics()
        if self.on_error not in ("raise", "skip"):
            raise InputError(f"on_error must be 'raise' or 'skip', got {self.on_error!r}")
        table = check_case_table(X)
        if table["mask_path"].isna().any():
            raise InputError(f"radiomics needs a mask for every row; rows without: "
                             f"{table.loc[table['mask_path'].isna(), 'patient_id'].tolist()}")
        ext = self._extractor()
        cache = FeatureCache(self.cache_dir) if self.cache_dir is not None else None
        self.version_ = radiomics_version()
        params = self._params(self.version_)
        out: dict[str, dict[str, float]] = {}
        failures, seconds, n_computed = [], 0.0, 0
        with _Quiet():
            for r in table.itertuples(index=False):
                who = f"case {r.patient_id}, sequence {r.sequence}"
                try:
                    key = cache_key(dict(params, image=file_digest(r.image_path), mask=file_digest(r.mask_path)))
                except OSError as exc:
                    failures.append({"patient_id": r.patient_id, "sequence": r.sequence,
                                     "error": f"{who}: cannot read {exc.filename}: {exc.strerror}"})
                    continue
                vals = cache.get(key) if cache is not None else None
                names = cache.info(key)["info"]["names"] if vals is not None else None
                if vals is None:
                    t0 = time.perf_counter()
                    try:
                        case = load_case(r.image_path, r.mask_path, case_id=r.patient_id, sequence=r.sequence,
                                         label=self.label)
                        mask = case.mask.with_array(case.mask.array.astype(np.uint8))
                        res = ext.execute(case.image.to_sitk(), mask.to_sitk(), label=1)
                    except InputError as exc:
                        failures.append({"patient_id": r.patient_id, "sequence": r.sequence, "error": str(exc)})
                        continue
                    except Exception as exc:  # pyradiomics' own checks (one-voxel mask, ...) are ValueErrors
                        failures.append({"patient_id": r.patient_id, "sequence": r.sequence,
                                         "error": f"{who}: pyradiomics: {type(exc).__name__}: {exc}"})
                        continue
                    seconds += time.perf_counter() - t0
                    n_computed += 1
                    feats = {k: float(v) for k, v in res.items() if not k.startswith("diagnostics_")}
                    names, vals = list(feats), np.asarray(list(feats.values()), dtype=np.float64)
                    if cache is not None:
                        cache.put(key, vals, {"names": names})
                row = out.setdefault(r.patient_id, {})
                row.update({f"{r.sequence}_{n}": float(v) for n, v in zip(names, vals)})
        self.failures_ = pd.DataFrame(failures, columns=["patient_id", "sequence", "error"])
        self.cache_stats_ = dict(cache.stats) if cache is not None else {}
        self.seconds_per_case_ = seconds / n_computed if n_computed else float("nan")
        patients = list(dict.fromkeys(table["patient_id"]))
        bad = set(self.failures_["patient_id"])
        self.n_cases_, self.n_excluded_ = len(patients), len(bad)
        if failures:
            shown = "; ".join(f["error"] for f in failures[:5]) + ("" if len(failures) <= 5 else
                                                                 f" (+{len(failures) - 5} more, see failures_)")
            msg = f"radiomics: {len(bad)} of {len(patients)} case(s) gave no features: {shown}."
            if self.on_error == "raise":
                raise InputError(msg + " Fix or drop these cases, or use on_error='skip'.")
            warnings.warn(msg + " They are excluded from the output (see failures_).", UserWarning,
                          stacklevel=find_stack_level())
        frame = pd.DataFrame.from_dict({k: v for k, v in out.items() if k not in bad}, orient="index")
        frame = frame.reindex([p for p in patients if p not in bad])
        frame.index.name = "patient_id"
        self.feature_names_out_ = list(frame.columns)
        values = frame.to_numpy(dtype=float) if frame.size else np.empty(frame.shape)
        rows, cols = np.nonzero(~np.isfinite(values))
        self.nonfinite_ = pd.DataFrame({"patient_id": frame.index[rows], "feature": frame.columns[cols],
                                        "value": values[rows, cols]}, columns=["patient_id", "feature", "value"])
        if len(rows):
            feats = sorted(set(self.nonfinite_["feature"]))
            warnings.warn(f"radiomics: {len(rows)} feature value(s) are NaN or infinite, in {len(set(rows))} case(s) "
                          f"and {len(feats)} feature(s) ({', '.join(feats[:5])}{', ...' if len(feats) > 5 else ''}); "
                          "they are kept as they are (see nonfinite_): drop those features or cases explicitly "
                          "before a model that needs finite values.", UserWarning, stacklevel=find_stack_level())
        return frame

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        if not hasattr(self, "feature_names_out_"):
            raise AttributeError("feature names are known after transform")
        return np.asarray(self.feature_names_out_, dtype=object)
