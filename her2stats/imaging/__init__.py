"""Medical image input and preprocessing for deep/radiomic feature extraction.

* :mod:`.io` — NIfTI, DICOM series and PNG/JPEG readers into :class:`Image` (ITK geometry).
* :mod:`.preprocess` — sklearn-style steps: :class:`Resample`, :class:`IntensityNormalizer`,
  :class:`ROICrop`, :class:`SliceSelector`, :class:`ToBackboneInput`, and :func:`rigid_register`.
* :mod:`.motion` — DCE motion correction (rigid/affine registration of phases).
* :mod:`.study` — case tables, :func:`load_case`, multi-sequence :class:`Study`.
"""
from .io import Image, file_digest, read_dicom_series, read_image, read_mask, write_dicom_series, write_nifti
from .preprocess import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ImageCase,
    IntensityNormalizer,
    Resample,
    ROICrop,
    SliceSelector,
    ToBackboneInput,
    default_steps,
    resample_to_spacing,
    rigid_register,
)
from .histograms import IntensityHistograms, intensity_histograms
from .motion import MotionCorrection, correct_motion, correct_motion_cases, register_image
from .perturb import perturb_mask, perturb_mask_cases
from .study import Study, check_case_table, load_case, load_study

__all__ = [
    "Image", "ImageCase", "Study", "read_image", "read_mask", "read_dicom_series", "write_nifti",
    "write_dicom_series", "file_digest", "load_case", "load_study", "check_case_table", "Resample",
    "IntensityNormalizer", "ROICrop", "SliceSelector", "ToBackboneInput", "rigid_register",
    "resample_to_spacing", "default_steps", "IMAGENET_MEAN", "IMAGENET_STD", "MotionCorrection", "correct_motion",
    "correct_motion_cases", "register_image", "IntensityHistograms", "intensity_histograms",
    "perturb_mask", "perturb_mask_cases",
]
