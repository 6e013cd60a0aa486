"""Study configuration: a YAML file validated by pydantic models.

Every CLI command that runs a study takes one. Errors name the key path and what is expected,
and suggest the closest valid key, value or column::

    her2stats.errors.ConfigError: study.yaml: splits.by: Input should be 'center' or 'random'; did you mean 'center'?
    her2stats.errors.ConfigError: study.yaml: table1.grup: unknown key; did you mean 'group'?
    her2stats.errors.InputError: clinical.covariates: column 'Age' not in the cohort; did you mean 'age'?

The column check (:func:`check_columns`) runs when the cohort is loaded, before any analysis.
"""
from __future__ import annotations

import difflib
import re
import types
import typing
from pathlib import Path
from typing import Any, Iterable, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import ConfigError, find_stack_level


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CohortConfig(_Strict):
    source: Literal["demo", "mamamia", "duke", "csv", "xlsx"] = "demo"
    path: Optional[Path] = None
    outcome: str = "her2_positive"
    id_column: str = "patient_id"
    #: predictors that encode the outcome (e.g. MAMA-MIA tumor_subtype); never allowed in a model
    exclude_predictors: list[str] = Field(default_factory=list)
    #: rows kept only where these columns are non-missing (counted in the cohort flow)
    require: list[str] = Field(default_factory=list)
    #: restrict to rows where column == value(s), e.g. {"her2_class": ["zero", "low"]}
    subset: dict[str, list[Any]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _path_for_files(self):
        if self.source in ("csv", "xlsx") and self.path is None:
            raise ValueError(f"cohort.path is required when cohort.source is {self.source!r}")
        return self


class SplitConfig(_Strict):
    by: Literal["center", "random"] = "center"
    column: str = "center"
    #: development centres (by="center"); others listed in `external` are external validation
    train: list[str] = Field(default_factory=list)
    external: list[str] = Field(default_factory=list)
    #: fraction of the development data held out as an internal test set (stratified)
    internal_fraction: float = Field(0.3, ge=0.0, lt=1.0)
    seed: int = 0  # the package default seed (her2stats.stats._core.DEFAULT_SEED)


class Table1Config(_Strict):
    group: str = "her2_status"
    variables: list[str] = Field(default_factory=list)
    categorical: list[str] = Field(default_factory=list)
    p_adjust: Optional[Literal["bonferroni", "holm", "fdr_bh"]] = None
    normality_test: Literal["shapiro", "ks"] = "shapiro"
    by_cohort: bool = True
    #: extra Table 1s grouped by these columns (e.g. [center]), with standardised mean differences as
    #: by_cohort (seed 000's balance across centres)
    by: list[str] = Field(default_factory=list)
    #: also compare the patients the cohort flow excluded with those analysed on the Table 1 variables,
    #: with the count of each exclusion reason (seed 000's Supplementary S3)
    included_vs_excluded: bool = False


class ClinicalModelConfig(_Strict):
    covariates: list[str]
    #: how the clinical model's covariates are chosen on the development cohort: univariate = the
    #: univariable screen (likelihood-ratio test of each covariate alone, p < univariate_p; seed 000),
    #: lasso = LASSO (5-fold CV, lambda.1se), stepwise = stepwise AIC; "+" chains them in that order
    selection: Literal["none", "lasso", "stepwise", "lasso+stepwise", "univariate", "univariate+stepwise"] = "none"
    threshold_rule: Literal["youden"] = "youden"
    #: p-value threshold of the univariable screen (selection univariate...)
    univariate_p: float = Field(0.05, gt=0, le=1)
    #: seed 002's p-value rule around the stepwise step: before it keep covariates with multivariable
    #: Wald p < prefilter_p, after it those with p < final_p (a categorical covariate passes when
    #: any of its levels does); None skips either filter
    prefilter_p: Optional[float] = Field(None, gt=0, le=1)
    final_p: Optional[float] = Field(None, gt=0, le=1)

    @model_validator(mode="after")
    def _p_rules(self):
        if (self.prefilter_p is not None or self.final_p is not None) and "stepwise" not in self.selection:
            raise ValueError("clinical.prefilter_p / clinical.final_p filter around the stepwise step: "
                             f"use them with a selection that contains stepwise (selection is {self.selection!r})")
        if "univariate_p" in self.model_fields_set and not self.selection.startswith("univariate"):
            raise ValueError(f"clinical.univariate_p is the threshold of selection: univariate (selection is "
                             f"{self.selection!r})")
        return self


class SecondSegmentationConfig(_Strict):
    """Where the ICC step's second segmentation comes from: a column of the image table holding a
    second reader's mask path (``column: mask_path_2``), or a stated perturbation of the first mask
    (``erode: 1`` / ``dilate: 1`` voxels; Zwanenburg et al. 2019 Sci Rep 9:614) when there is no
    second reader. Exactly one of the three."""

    column: Optional[str] = None
    erode: Optional[int] = Field(None, ge=1)
    dilate: Optional[int] = Field(None, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        # `second_segmentation: mask_path_2` names the column
        return {"column": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _one(self) -> "SecondSegmentationConfig":
        given = [k for k in ("column", "erode", "dilate") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("imaging.icc.second_segmentation: give exactly one of column (a second reader's mask "
                             f"path column), erode or dilate (voxels), got {given or 'none'}")
        return self

    def describe(self) -> str:
        if self.column is not None:
            return f"a second segmentation (image-table column {self.column})"
        op, n = ("erosion", self.erode) if self.erode is not None else ("dilation", self.dilate)
        return (f"a second segmentation made by {op} of the tumour mask by {n} voxel{'s' if n != 1 else ''} "
                "(image perturbation, Zwanenburg et al. 2019)")


class ICCConfig(_Strict):
    """Reproducibility filter before the univariate screen: features whose ICC between the two
    segmentations is below ``threshold`` are dropped (fitted on the development patients, and inside
    every cross-validation fold on its training patients)."""

    threshold: float = Field(0.9, ge=-1, le=1)
    comparison: Literal[">=", ">"] = ">="
    #: ICC form (her2stats.stats.agreement.ICC_KINDS): ICC2,1 = two-way random, absolute agreement
    kind: Literal["ICC1,1", "ICC2,1", "ICC3,1", "ICC1,k", "ICC2,k", "ICC3,k"] = "ICC2,1"
    second_segmentation: SecondSegmentationConfig


class MotionCorrectionConfig(_Strict):
    """Registration of the DCE phases onto a reference phase before extraction
    (her2stats.correct_motion_cases; the registered volumes are written to a cache folder)."""

    phases: list[str] = Field(min_length=2)
    reference: Optional[str] = None
    transform: Literal["rigid", "affine"] = "rigid"
    iterations: int = Field(200, ge=1)

    @model_validator(mode="after")
    def _reference(self) -> "MotionCorrectionConfig":
        if self.reference is not None and self.reference not in self.phases:
            raise ValueError(f"imaging.motion_correction.reference {self.reference!r} is not one of the phases "
                             f"{self.phases}")
        return self


class ImagingConfig(_Strict):
    images: str = "demo"  # "demo" or a CSV with patient_id, sequence, image_path, mask_path
    backbone: str = "efficientnet_lite0"
    pretrained: Any = True
    sequences: list[str] = Field(default_factory=list)
    cache_dir: Optional[Path] = None
    univariate_alpha: float = Field(0.05, gt=0, le=1)
    correlation_threshold: float = Field(0.8, gt=0, le=1)
    lasso_cv: int = Field(5, ge=2)
    pca_components: Optional[int] = None
    #: ROI crop margin around the mask (pixels; None = whole image) and what to do at the border
    margin: Optional[float] = Field(5, ge=0)
    on_border: Literal["error", "clip", "pad"] = "clip"
    lambda_rule: Literal["min", "1se"] = "1se"
    #: patients with images used by run_study(fast=True) (sampled within each cohort split)
    fast_patients: int = Field(300, ge=20)
    #: preprocessing before extraction (all part of the feature cache key): rigid registration of
    #: every sequence onto this one, resampling to a voxel size in mm (x, y, z), intensity
    #: normalisation inside the mask, DCE motion correction
    register_to: Optional[str] = None
    spacing: Optional[tuple[float, float, float]] = None
    normalize: Literal["zscore", "percentile", "none"] = "zscore"
    motion_correction: Optional[MotionCorrectionConfig] = None
    #: cohort column (centre, scanner) by which voxel-intensity histograms are drawn before/after the
    #: intensity normalisation (default: harmonization.batch when harmonization is configured)
    intensity_histograms: Optional[str] = None
    #: ICC reproducibility filter between two segmentations, before the univariate screen
    icc: Optional[ICCConfig] = None

    @field_validator("spacing")
    @classmethod
    def _positive_spacing(cls, v: Any) -> Any:
        if v is not None and any(not (x > 0) for x in v):
            raise ValueError(f"imaging.spacing must be three positive voxel sizes in mm, got {list(v)}")
        return v

    @model_validator(mode="after")
    def _sequences_named(self) -> "ImagingConfig":
        if self.sequences:
            for key, seq in (("register_to", self.register_to),):
                if seq is not None and seq not in self.sequences:
                    raise ValueError(f"imaging.{key}: {seq!r} is not one of imaging.sequences {self.sequences}")
        return self


class HarmonizationConfig(_Strict):
    """ComBat on the image features, fitted inside the development fold (before selection)."""

    method: Literal["combat"] = "combat"
    batch: str
    covariates: list[str] = Field(default_factory=list)
    parametric: bool = True
    mean_only: bool = False
    reference_batch: Optional[str] = None
    unseen_batch: Literal["error", "reference"] = "error"
    #: cohort columns the harmonisation diagnostics are shown by (batch-classifier AUC and per-feature
    #: ICC before/after ComBat, e.g. [manufacturer, field_strength]); default: the batch column
    diagnostics: list[str] = Field(default_factory=list)


#: the parameters each image-model selection step accepts (``image_models[].selection``), and the
#: her2stats selector that runs it (fitted inside the training rows of every fit)
SELECTION_STEP_KEYS = {
    "univariate": ("test", "alpha"),             # UnivariateFilter: t-test / Mann-Whitney screen
    "correlation": ("threshold",),               # CorrelationFilter: greedy Pearson |r| removal
    "chi2": ("k", "alpha", "bins", "method"),    # ChiSquareFilter (seed 004)
    "mutual_info": ("k",),                       # MutualInfoFilter (seed 004: k = 106)
    "cluster": ("n_clusters",),                  # FeatureClusterFilter: K-means, largest cluster (seed 004)
    "lasso": ("cv", "lambda_rule"),              # LassoSelector (glmnet CV, lambda.min / lambda.1se)
    "pca": ("n_components",),                    # make_pca
    "icc": ("threshold", "comparison", "kind"),  # PairedICCFilter on imaging.icc's second segmentation (seed 004)
}
#: keys every selection step accepts: ``block`` (an early-fused model: the step runs on that
#: extractor's columns only, the other columns pass through; e.g. PCA of the deep block, seed 003)
SELECTION_COMMON_KEYS = ("block",)


class SelectionStepConfig(_Strict):
    """One feature-selection step of an image model (``{step: lasso, cv: 10, lambda_rule: 1se}``);
    a key the step does not take is refused."""

    step: Literal["univariate", "correlation", "chi2", "mutual_info", "cluster", "lasso", "pca", "icc"]
    test: Literal["t", "welch", "mwu", "auto"] = "t"
    alpha: Optional[float] = Field(None, gt=0, le=1)
    #: correlation: |r| above which one of a pair is removed (default 0.8); icc: the ICC a feature
    #: must reach (default 0.9 with ">=", as imaging.icc; seed 004: 0.75 with ">")
    threshold: Optional[float] = Field(None, gt=0, le=1)
    comparison: Literal[">=", ">"] = ">="
    kind: Literal["ICC1,1", "ICC2,1", "ICC3,1", "ICC1,k", "ICC2,k", "ICC3,k"] = "ICC2,1"
    block: Optional[Literal["deep", "radiomics"]] = None
    k: Optional[int] = Field(None, ge=1)
    bins: int = Field(4, ge=2)
    method: Literal["binned", "sklearn"] = "binned"
    n_clusters: int = Field(2, ge=2)
    cv: int = Field(10, ge=2)
    lambda_rule: Literal["min", "1se"] = "1se"
    n_components: int = Field(64, ge=1)

    @model_validator(mode="after")
    def _keys_of_the_step(self):
        allowed = set(SELECTION_STEP_KEYS[self.step]) | {"step", *SELECTION_COMMON_KEYS}
        extra = sorted(set(self.model_fields_set) - allowed)
        if extra:
            raise ValueError(f"selection step {self.step!r} takes {', '.join(SELECTION_STEP_KEYS[self.step])}; "
                             f"not {', '.join(extra)}")
        if self.step == "mutual_info" and self.k is None:
            raise ValueError("selection step 'mutual_info' needs k (the number of features to keep)")
        return self


#: pyradiomics feature classes and image types an image model may name (``radiomics:``)
RADIOMICS_CLASSES = ("firstorder", "shape", "shape2D", "glcm", "glrlm", "glszm", "gldm", "ngtdm")
RADIOMICS_IMAGE_TYPES = ("Original", "Wavelet", "LoG", "Square", "SquareRoot", "Logarithm", "Exponential",
                         "Gradient", "LBP2D", "LBP3D")


class RadiomicsConfig(_Strict):
    """pyradiomics settings of an image model whose extractor is ``radiomics``
    (:class:`her2stats.RadiomicsExtractor`); the defaults are pyradiomics' own (IBSI-compliant
    definitions): fixed bin width 25, no resampling, no intensity normalisation, the Original image,
    every 3-D feature class."""

    #: pyradiomics binWidth (fixed bin size of the grey-level discretisation)
    bin_width: float = Field(25.0, gt=0)
    feature_classes: list[Literal[RADIOMICS_CLASSES]] = Field(
        default_factory=lambda: ["firstorder", "shape", "glcm", "glrlm", "glszm", "gldm", "ngtdm"], min_length=1)
    #: filtered images the features are also computed on (LoG needs log_sigma)
    image_types: list[Literal[RADIOMICS_IMAGE_TYPES]] = Field(default_factory=lambda: ["Original"], min_length=1)
    #: LoG sigmas in mm (image type LoG)
    log_sigma: list[float] = Field(default_factory=list)
    #: pyradiomics force2D: texture matrices in-plane, slice by slice (2-D images, ultrasound-like analyses)
    force_2d: bool = False
    #: pyradiomics resampledPixelSpacing (mm, x y z); None: the images' own spacing
    resampled_spacing: Optional[list[float]] = None

    @model_validator(mode="after")
    def _consistent(self):
        if "LoG" in self.image_types and not self.log_sigma:
            raise ValueError("radiomics.image_types LoG needs radiomics.log_sigma (e.g. [1.0, 2.0, 3.0] mm)")
        if self.log_sigma and "LoG" not in self.image_types:
            raise ValueError("radiomics.log_sigma is for image type LoG, which radiomics.image_types does not list")
        if "shape2D" in self.feature_classes and not self.force_2d:
            raise ValueError("radiomics.feature_classes shape2D needs force_2d: true (pyradiomics computes it in 2-D)")
        return self

    def extractor_params(self) -> dict:
        """The :class:`her2stats.RadiomicsExtractor` parameters (pyradiomics' names)."""
        settings: dict = {"binWidth": float(self.bin_width)}
        if self.force_2d:
            settings.update(force2D=True, force2Ddimension=0)
        if self.resampled_spacing is not None:
            settings["resampledPixelSpacing"] = [float(v) for v in self.resampled_spacing]
        types = {t: ({"sigma": [float(v) for v in self.log_sigma]} if t == "LoG" else {}) for t in self.image_types}
        return {"settings": settings, "feature_classes": list(self.feature_classes), "image_types": types}

    def describe(self) -> str:
        p = self.extractor_params()
        parts = [f"fixed bin width {self.bin_width:g}", "feature classes " + ", ".join(self.feature_classes),
                 "image types " + ", ".join(self.image_types) + (f" (LoG sigma {', '.join(f'{v:g}' for v in self.log_sigma)} mm)"
                                                                 if self.log_sigma else ""),
                 "2-D texture matrices per slice (force2D)" if self.force_2d else "3-D texture matrices",
                 ("resampled to " + " x ".join(f"{v:g}" for v in p["settings"]["resampledPixelSpacing"]) + " mm")
                 if self.resampled_spacing is not None else "no resampling", "no intensity normalisation"]
        return "; ".join(parts)


class ImageModelConfig(_Strict):
    """An extra image model (``image_models:``): features from the same image table and cache as
    ``imaging:`` -- frozen deep features of ``backbone`` at ``layer`` (``extractor: deep``),
    pyradiomics features of the ROI (``extractor: radiomics``, settings in ``radiomics:``), or both
    concatenated before selection (``extractor: [deep, radiomics]``: early fusion, columns prefixed
    ``deep__`` / ``radiomics__``; a selection step with ``block:`` runs on one block only) -- the
    ``selection`` steps in order, then a logistic model (``classifier: logistic``) or the average of
    ``ensemble_folds`` fold models (``fold_ensemble``, seed 004). Fitted on development; refitted,
    selection included, in every cross-validation fold."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    #: display name in tables and figures (default: the name)
    label: Optional[str] = None
    #: feature source(s): deep (frozen backbone), radiomics (pyradiomics), segmentation (the trained
    #: segmentation network's activations at ``layer``, ``segmentation:``), or a list (early fusion)
    extractor: Union[Literal["deep", "radiomics", "segmentation"],
                     list[Literal["deep", "radiomics", "segmentation"]]] = "deep"
    radiomics: Optional[RadiomicsConfig] = None
    backbone: str = "efficientnet_lite0"
    pretrained: Any = True
    #: sequences of the image table (a subset of imaging.sequences when that lists them)
    sequences: list[str] = Field(default_factory=list)
    #: None (final pooled features), a stage number or a module name (her2stats.features.list_layers)
    layer: Optional[Union[int, str]] = None
    pooling: Literal["auto", "avg", "max", "avgmax", "token"] = "auto"
    #: slices per image: "largest" (largest-mask axial slice), "center", "all" (every slice the mask
    #: touches) or "2.5d" (three planes), with ``k`` neighbours on each side, combined by ``aggregate``
    slices: Literal["largest", "center", "all", "2.5d"] = "largest"
    k: int = Field(0, ge=0)
    aggregate: Literal["mean", "max"] = "mean"
    selection: list[SelectionStepConfig] = Field(default_factory=list)
    classifier: Literal["logistic", "fold_ensemble"] = "logistic"
    #: folds of the fold ensemble (seed 004: 10; fast mode: 3)
    ensemble_folds: int = Field(10, ge=2)
    #: None: maximum-likelihood logistic; l2: ridge (C = ridge_C), for few patients per selected feature
    penalty: Optional[Literal["l2"]] = None
    ridge_C: float = Field(1.0, gt=0)
    #: manual: the image table's masks; predicted: the masks of the study's trained segmentation
    #: network (``segmentation:``; development masks out-of-fold or in-sample as it says)
    masks: Literal["manual", "predicted"] = "manual"

    @property
    def sources(self) -> list[str]:
        """The extractor(s) as a list (``["deep"]``, ``["radiomics"]``, ``["deep", "radiomics"]``)."""
        return [self.extractor] if isinstance(self.extractor, str) else list(self.extractor)

    @model_validator(mode="before")
    @classmethod
    def _radiomics_defaults(cls, data: Any) -> Any:
        # extractor radiomics without a radiomics: section takes pyradiomics' defaults
        if isinstance(data, dict) and data.get("radiomics") is None:
            ex = data.get("extractor")
            if ex == "radiomics" or (isinstance(ex, list) and "radiomics" in ex):
                data = {**data, "radiomics": {}}
        return data

    @model_validator(mode="after")
    def _extractor_keys(self):
        src = self.sources
        if not src or len(set(src)) != len(src):
            raise ValueError(f"image_models {self.name!r}: extractor {self.extractor} must name deep, radiomics and/or "
                             "segmentation once each")
        if "segmentation" in src and "deep" in src:
            raise ValueError(f"image_models {self.name!r}: extractor lists deep and segmentation, which would share "
                             "layer; use two image models (and a fusion)")
        if "segmentation" in src and any(st.step == "icc" for st in self.selection):
            raise ValueError(f"image_models {self.name!r}: the icc step compares features of two segmentations; the "
                             "segmentation extractor has no second one")
        if "radiomics" not in src and self.radiomics is not None:
            raise ValueError(f"image_models {self.name!r}: radiomics settings are given but the extractor is {self.extractor!r}")
        deep_keys = sorted(({"backbone", "pretrained", "layer", "pooling", "slices", "k", "aggregate"}
                            - ({"layer"} if "segmentation" in src else set())) & self.model_fields_set)
        if "deep" not in src and deep_keys:
            raise ValueError(f"image_models {self.name!r}: {', '.join(deep_keys)} set the deep extractor, which this "
                             "model does not use (extractor: radiomics)")
        for i, st in enumerate(self.selection):
            if st.block is not None and (len(src) < 2 or st.block not in src):
                raise ValueError(f"image_models {self.name!r}: selection step {st.step!r} block {st.block!r} needs an "
                                 f"early-fused model whose extractor lists it (extractor: {self.extractor})")
            if st.step == "icc" and i != 0:
                raise ValueError(f"image_models {self.name!r}: the icc step must be the first selection step (it "
                                 "compares the extracted features with those of the second segmentation)")
            if st.step == "icc" and st.block is not None:
                raise ValueError(f"image_models {self.name!r}: the icc step runs on every feature (no block)")
        return self


class LateFusionConfig(_Strict):
    """One late fusion (``fusion.late``) of models' predicted probabilities."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    #: display name in tables and figures (default: the name)
    label: Optional[str] = None
    #: model names (deep_score, clinical, combined, image models, zoo members, trained networks...),
    #: resolved when the stage runs
    models: list[str] = Field(min_length=2)
    #: mean: (weighted) average of the probabilities (seed 004's DLR); logistic: stacking by a
    #: logistic regression on the members' logit-probabilities (seed 001's DL-US&MRI)
    method: Literal["mean", "logistic"] = "mean"
    weights: Optional[list[float]] = None

    @model_validator(mode="after")
    def _weights(self):
        if len(set(self.models)) != len(self.models):
            raise ValueError(f"fusion.late {self.name!r}: models {self.models} repeat a name")
        if self.weights is not None:
            if self.method != "mean":
                raise ValueError(f"fusion.late {self.name!r}: weights apply to method 'mean' (stacking learns them)")
            if len(self.weights) != len(self.models) or min(self.weights) < 0 or sum(self.weights) <= 0:
                raise ValueError(f"fusion.late {self.name!r}: give one non-negative weight per model "
                                 f"({len(self.models)}) with a positive sum")
        return self


class FusionConfig(_Strict):
    late: list[LateFusionConfig] = Field(default_factory=list)


#: members of the model zoo (``her2stats.models.zoo.MODEL_LABELS``; a test keeps the two equal)
ZooModel = Literal["lr", "svm", "knn", "dt", "mlp", "rf", "et", "xgb", "lgbm"]


class ZooConfig(_Strict):
    models: list[ZooModel] = Field(default_factory=lambda: ["lr", "svm", "rf"])
    cv: int = Field(5, ge=2)
    inner_cv: int = Field(3, ge=2)
    #: the zoo's inputs: ``all`` candidate clinical covariates (plus the Deep Score), or the ``selected``
    #: ones -- those ``clinical.selection`` keeps, re-selected on each outer training fold of the nested
    #: cross-validation (and on all development patients for the refit), plus the Deep Score (seeds 002/003)
    features: Literal["all", "selected"] = "all"


class AgreementPair(_Strict):
    """One variable read by two (or more) readers: the columns holding each reader's reading."""

    variable: str
    readers: list[str] = Field(min_length=2)
    #: continuous: intraclass correlation (``agreement.icc_kind``); categorical: Cohen's kappa (two readers)
    kind: Literal["continuous", "categorical"]
    #: weighted kappa for ordinal categories (order from an ordered categorical / the data dictionary / ``levels``)
    weights: Optional[Literal["linear", "quadratic"]] = None
    #: category order for a weighted kappa when the data do not carry one
    levels: list[Any] = Field(default_factory=list)

    @model_validator(mode="after")
    def _kind_options(self):
        if len(set(self.readers)) != len(self.readers):
            raise ValueError(f"agreement.pairs: {self.variable}: readers lists a column twice ({self.readers})")
        if self.kind == "continuous" and (self.weights is not None or self.levels):
            raise ValueError(f"agreement.pairs: {self.variable}: weights / levels are for kind: categorical (kappa)")
        if self.kind == "categorical" and len(self.readers) != 2:
            raise ValueError(f"agreement.pairs: {self.variable}: Cohen's kappa compares exactly two readers "
                             f"(got {len(self.readers)})")
        return self


class AgreementConfig(_Strict):
    """Inter-reader agreement (seeds 002/003/004): ICC of continuous readings, Cohen's kappa of
    categorical ones, with CIs, on every analysed patient read by all the variable's readers.
    Descriptive (no outcome is used, nothing is learnt)."""

    #: a table of the other readers' readings merged into the cohort by ``cohort.id_column``: ``demo``
    #: (:func:`her2stats.data.load_demo_readers`, the demo cohort's second reader) or a CSV/XLSX path;
    #: None when the cohort table already has every reader column
    readings: Optional[str] = None
    pairs: list[AgreementPair] = Field(min_length=1)
    #: Shrout-Fleiss form of the ICC (two-way random, absolute agreement, single reader by default)
    icc_kind: Literal["ICC1,1", "ICC2,1", "ICC3,1", "ICC1,k", "ICC2,k", "ICC3,k"] = "ICC2,1"
    level: float = Field(0.95, gt=0, lt=1)


#: model names a study already uses (a network may not take one)
RESERVED_MODEL_NAMES = ("clinical", "deep_score", "combined", "deep_pipeline")


class NetworkFastConfig(_Strict):
    """What ``run_study(fast=True)`` trains instead (a smoke test: the numbers mean nothing)."""

    epochs: int = Field(1, ge=1)
    #: 48: the smallest side at which a 2-D backbone's last feature map is more than one pixel
    input_size: int = Field(48, ge=16)
    batch_size: Optional[int] = Field(None, ge=1)


def _valid_augmentation(v: Any) -> Any:
    """A config's ``augmentation:`` value, checked by the one reader (:func:`resolve_augmentation`)."""
    from ..errors import InputError
    from ..training.augment import resolve_augmentation

    try:
        resolve_augmentation(v)
    except (InputError, TypeError) as exc:
        raise ValueError(str(exc)) from None
    return v


class NetworkConfig(_Strict):
    """A trained image classifier (``her2stats.fit_network``), trained inside every development
    cross-validation fold (out-of-fold predictions) and then on all development patients (or the
    fold models averaged, ``fold_ensemble``); :mod:`her2stats.reporting.network_step`."""

    #: model name in every table, figure and numbers.json key (lower case, digits, underscores)
    name: str
    #: display name in tables and figures (default: the name)
    label: Optional[str] = None
    #: image table ("demo" or a CSV with patient_id, sequence, image_path, mask_path); default: imaging.images
    images: Optional[str] = None
    #: the one sequence the network sees (a network takes one image per patient); [] = the table's only one
    sequences: list[str] = Field(default_factory=list, max_length=1)
    backbone: str = "efficientnet_lite0"
    pretrained: Any = True
    #: 2-D ROI crop of the largest slice, 2.5-D (slices z-1, z, z+1) or 3-D volume (backbone r3d_18)
    input: Literal["2d", "2.5d", "3d"] = "2d"
    input_size: Optional[int] = Field(None, ge=16)
    margin: Optional[float] = Field(5, ge=0)
    on_border: Literal["error", "clip", "pad"] = "clip"
    freeze: Literal["none", "backbone", "all-but-last-k"] = "none"
    last_k: int = Field(1, ge=1)
    epochs: int = Field(30, ge=1)
    batch_size: int = Field(16, ge=1)
    lr: float = Field(1e-4, gt=0)
    weight_decay: float = Field(1e-2, ge=0)
    #: None, a preset ("seed001", "seed003", "light") or {field: value} of her2stats.Augmentation
    augmentation: Any = None
    mixup: Optional[float] = Field(None, gt=0)
    class_weights: Optional[Union[Literal["balanced"], dict[str, float]]] = None
    #: patience in epochs on the inner validation split of the training fold (None: every epoch, best kept)
    early_stopping: Optional[int] = Field(10, ge=1)
    validation_size: float = Field(0.2, gt=0, lt=0.9)
    monitor: Literal["auc", "loss"] = "auc"
    #: k: the final model averages the k fold networks of the development cross-validation (seeds
    #: 001, 004) instead of one network trained on all development patients; k sets the study's folds
    fold_ensemble: Optional[int] = Field(None, ge=2)
    fast: NetworkFastConfig = Field(default_factory=NetworkFastConfig)

    @field_validator("name")
    @classmethod
    def _name(cls, v):
        if not re.fullmatch(r"[a-z][a-z0-9_]*", v):
            raise ValueError(f"network name {v!r}: use lower-case letters, digits and underscores (it names files "
                             "and numbers.json keys)")
        if v in RESERVED_MODEL_NAMES or v.startswith("zoo_"):
            raise ValueError(f"network name {v!r} is a model name the study already uses")
        return v

    @field_validator("augmentation")
    @classmethod
    def _augmentation(cls, v):
        return _valid_augmentation(v)

    @model_validator(mode="after")
    def _consistent(self):
        from ..training.networks import NETWORKS_3D

        if (self.backbone in NETWORKS_3D) != (self.input == "3d"):
            raise ValueError(f"backbone {self.backbone!r} with input {self.input!r}: a 3-D input needs a 3-D network "
                             f"({', '.join(NETWORKS_3D)}) and a 3-D network needs input: 3d")
        return self


class SegmentationFastConfig(_Strict):
    """What ``run_study(fast=True)`` trains instead (a smoke test: the Dice means little)."""

    epochs: int = Field(1, ge=1)
    slices: Literal["largest", "all"] = "largest"


class SegmentationConfig(_Strict):
    """A trained 2-D segmentation network (``her2stats.fit_segmentation_network``, seed 004's
    segment-then-extract chain): trained on the development patients' manual masks (one network per
    development cross-validation fold for out-of-fold development masks, and one on all development
    patients for the test cohorts), its predicted masks written to the run's ``segmentation/masks``
    folder for ``image_models: masks: predicted``; :mod:`her2stats.reporting.segmentation_step`."""

    #: image table ("demo" or a CSV with patient_id, sequence, image_path, mask_path); default: imaging.images
    images: Optional[str] = None
    #: the sequence segmented (its grid is the predicted masks' grid); default: imaging.sequences[0]
    sequence: Optional[str] = None
    encoder: str = "efficientnet_lite0"
    pretrained: Any = True
    #: largest: the largest manual-mask slice; all: every slice of the volume
    slices: Literal["largest", "all"] = "largest"
    #: mask: manual bounding box + margin (the reader localises, the network delineates); image: whole slice
    box: Literal["mask", "image"] = "mask"
    margin: int = Field(10, ge=0)
    input_size: int = Field(64, ge=32)
    epochs: int = Field(30, ge=1)
    batch_size: int = Field(16, ge=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    #: None, a preset ("seed001", "seed003", "light") or {field: value} of her2stats.Augmentation
    augmentation: Any = "light"
    early_stopping: Optional[int] = Field(8, ge=1)
    validation_size: float = Field(0.2, gt=0, lt=0.9)
    largest_component: bool = True
    #: out_of_fold: each development patient's mask from the network of the CV fold that held it out
    #: (one network per fold + one for the test cohorts); in_sample: the all-development network's
    #: masks (its own training patients: the image model's development figures then say so)
    development_masks: Literal["out_of_fold", "in_sample"] = "out_of_fold"
    #: test patients shown in the predicted-vs-manual contour figure
    figure_patients: int = Field(4, ge=0)
    fast: SegmentationFastConfig = Field(default_factory=SegmentationFastConfig)

    @field_validator("augmentation")
    @classmethod
    def _augmentation(cls, v):
        return _valid_augmentation(v)


#: validation keys renamed to the package's one name per idea (old -> new), accepted for one release
_RENAMED_VALIDATION_KEYS = {"bootstrap_B": "n_boot", "calibrate_B": "calibrate_n_boot", "fast_B": "fast_n_boot"}


class ValidationConfig(_Strict):
    #: bootstrap replicates of the performance CIs and of rms validate (was bootstrap_B)
    n_boot: int = Field(200, ge=1)
    #: bootstrap replicates of rms calibrate (was calibrate_B)
    calibrate_n_boot: int = Field(200, ge=1)
    hl_groups: int = Field(10, ge=2)
    dca_thresholds: tuple[float, float, float] = (0.01, 0.99, 0.01)
    seed: int = 0  # the package default seed (her2stats.stats._core.DEFAULT_SEED)
    #: bootstrap repetitions used by run_study(fast=True) (tests, smoke runs; was fast_B)
    fast_n_boot: int = Field(25, ge=1)
    #: bootstrap replicates of the uncertainty drawn on the figures: ROC sensitivity bands at fixed
    #: specificities, calibration curve bands and hierarchy CIs per cohort, decision-curve bands and
    #: net-benefit differences (run_study(fast=True) uses 100, the fewest a percentile band takes)
    band_n_boot: int = Field(500, ge=100)
    #: model the other models' net benefit is compared with (difference with bootstrap CI); none
    #: when the study has no such model
    dca_reference: Optional[str] = "clinical"
    #: "split": the splits: section's development/internal/external cohorts only; "iecv": also
    #: internal-external cross-validation, leaving one value of ``by`` (a centre column) out at a time
    scheme: Literal["split", "iecv"] = "split"
    by: str = "center"
    #: a centre (or subgroup) with fewer events or non-events is reported but not pooled / tested
    min_events: int = Field(5, ge=1)
    #: risk thresholds of the net benefit reported per centre and per subgroup
    net_benefit_thresholds: list[float] = Field(default_factory=list)
    #: prediction interval of the random-effects pooling: t(k-1) (metafor) or t(k-2) (Riley)
    pi_type: Literal["metafor", "riley"] = "metafor"

    @model_validator(mode="before")
    @classmethod
    def _renamed_keys(cls, data: Any) -> Any:
        if isinstance(data, dict) and any(k in data for k in _RENAMED_VALIDATION_KEYS):
            import warnings

            data = dict(data)
            for old, new in _RENAMED_VALIDATION_KEYS.items():
                if old in data:
                    if new in data:
                        raise ValueError(f"validation.{old} is the deprecated name of validation.{new}: give {new} only")
                    warnings.warn(f"study config: validation.{old} is deprecated; use validation.{new} (the old key "
                                  "will be removed in the next release)", DeprecationWarning, stacklevel=find_stack_level())
                    data[new] = data.pop(old)
        return data

    @field_validator("net_benefit_thresholds")
    @classmethod
    def _nb(cls, v):
        if any(not 0 < t < 1 for t in v):
            raise ValueError("net_benefit_thresholds must be risk thresholds strictly between 0 and 1")
        return sorted(set(v))

    @field_validator("dca_thresholds")
    @classmethod
    def _thr(cls, v):
        lo, hi, step = v
        if not (0 < lo < hi < 1 and 0 < step < hi - lo):
            raise ValueError("dca_thresholds must be (start, stop, step) with 0 < start < stop < 1")
        return v


class SubgroupsConfig(_Strict):
    """Performance in subgroups (fairness): AUC, calibration and net benefit with CIs per subgroup,
    Cochran's Q across the subgroups of each variable, multiplicity-adjusted p-values.

    ``subgroups: [manufacturer, field_strength]`` is short for ``subgroups: {variables: [...]}``."""

    variables: list[str] = Field(min_length=1)
    #: numeric columns cut into bands first: {column: [edges]} (e.g. age: [0, 50, 70, 120])
    bands: dict[str, list[float]] = Field(default_factory=dict)
    p_adjust: Optional[Literal["holm", "bonferroni", "fdr_bh"]] = "holm"
    #: whose predictions: the test cohorts (internal + external, models fitted on development) or the
    #: held-out predictions of the internal-external cross-validation (default when scheme is iecv)
    on: Optional[Literal["test", "iecv"]] = None
    #: models analysed (default: every logistic model of the study: clinical, deep_score, combined)
    models: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, (list, tuple)):
            return {"variables": list(data)}
        if isinstance(data, str):
            return {"variables": [data]}
        return data

    @model_validator(mode="after")
    def _bands(self):
        for col, edges in self.bands.items():
            if col not in self.variables:
                raise ValueError(f"subgroups.bands names {col!r}, which is not in subgroups.variables")
            if len(edges) < 3 or any(b <= a for a, b in zip(edges, edges[1:])):
                raise ValueError(f"subgroups.bands.{col} must be at least 3 increasing edges (2 bands)")
        return self


class ReaderStudyConfig(_Strict):
    """A multi-reader multi-case study analysed by :func:`her2stats.mrmc` (Obuchowski-Rockette)."""

    #: long table, one row per reading (CSV or XLSX; relative to the config file)
    path: Path
    reader: str = "reader"
    treatment: str = "treatment"
    case: str = "case"
    truth: str = "truth"
    rating: str = "rating"
    method: Literal["OR", "DBM"] = "OR"
    cov: Literal["jackknife", "delong", "unbiased", "bootstrap"] = "jackknife"
    fixed: Optional[Literal["readers", "cases"]] = None
    metric: Literal["auc", "binormal_auc", "sensitivity", "specificity"] = "auc"
    threshold: Optional[float] = None
    #: order of the treatments (the difference is the first minus the second)
    treatments: list[Any] = Field(default_factory=list)
    #: display names of the treatments, {value: name} (e.g. {1: "Cine MRI", 2: "Spin-echo MRI"})
    treatment_labels: dict[Any, str] = Field(default_factory=dict)
    #: value of ``truth`` that is the positive class (default: 1 / True)
    event: Any = None
    title: str = "Reader study"
    #: also report the fixed-readers and fixed-cases analyses (sensitivity analyses)
    sensitivity_analyses: bool = True

    @model_validator(mode="after")
    def _threshold(self):
        if self.metric in ("sensitivity", "specificity") and self.threshold is None:
            raise ValueError(f"reader_study.threshold is required with metric {self.metric!r}")
        return self


#: imputation methods of :class:`her2stats.MiceImputer` (R mice's names)
ImputationMethod = Literal["pmm", "norm", "logreg", "polyreg", "polr"]


class ImputationConfig(_Strict):
    """Multiple imputation of the clinical covariates (issue 17): chained equations fitted on the
    development cohort only and applied to the test cohorts without refitting on them; the
    regression model fitted on each imputation and pooled by Rubin's rules; the complete-case
    analysis kept as a sensitivity analysis."""

    method: Literal["mice"] = "mice"
    #: completed data sets (imputations)
    m: int = Field(20, ge=2)
    #: imputations used by run_study(fast=True)
    fast_m: int = Field(5, ge=2)
    maxit: int = Field(5, ge=1)
    donors: int = Field(5, ge=1)
    seed: int = 0  # the package default seed (her2stats.stats._core.DEFAULT_SEED)
    #: per-variable imputation method overriding the default per type ({column: pmm|norm|logreg|polyreg|polr})
    methods: dict[str, ImputationMethod] = Field(default_factory=dict)
    #: extra columns that predict the missing values in the imputation models but are not model covariates
    auxiliary: list[str] = Field(default_factory=list)
    #: internal validation of the imputed model: bootstrap-then-impute (Schomaker & Heumann 2018)
    validation: Optional[Literal["bootstrap_then_impute"]] = None
    #: imputations per bootstrap resample (bootstrap-then-impute)
    m_boot: int = Field(5, ge=2)
    #: bootstrap resamples of bootstrap-then-impute (default: validation.n_boot; fast: validation.fast_n_boot)
    n_boot: Optional[int] = Field(None, ge=1)


class PipelineValidationConfig(_Strict):
    """Internal validation of the whole pipeline (issue 23): every learning step (clinical
    selection, image-feature selection, Deep Score) refitted on each bootstrap resample of the
    development cohort."""

    n_boot: int = Field(200, ge=1)
    #: bootstrap resamples used by run_study(fast=True)
    fast_n_boot: int = Field(10, ge=1)
    method: Literal["harrell", ".632+"] = "harrell"
    #: which pipelines (default: every one the study fits)
    models: list[Literal["clinical", "deep_score"]] = Field(default_factory=lambda: ["clinical", "deep_score"])
    #: seed of the resamples (default: validation.seed)
    seed: Optional[int] = None


class SurvivalConfig(_Strict):
    duration: str
    event: str
    group: str = "her2_status"
    covariates: list[str] = Field(default_factory=list)
    stepwise: Optional[Literal["both", "backward"]] = "both"
    time_unit: Literal["days", "months", "years"] = "days"
    horizons_years: list[float] = Field(default_factory=lambda: [1.0, 3.0, 5.0])
    #: when proportional hazards fail for a covariate: a second Cox model stratified by these
    #: columns (its own baseline hazard per stratum; the columns leave the covariates)
    strata: list[str] = Field(default_factory=list)
    #: time-varying coefficients for the Cox model: column -> "log" (beta(t) = b + c log t) or a
    #: cut time in ``time_unit`` (one HR before, another after); fitted on the (stratified) model
    tt: dict[str, Union[Literal["log"], float]] = Field(default_factory=dict)
    #: restricted mean survival time by ``group`` up to this time (in ``time_unit``): per group,
    #: difference and ratio with CIs (Uno et al. 2014), valid without proportional hazards
    rmst_tau: Optional[float] = Field(None, gt=0)
    #: also analyse survival by a model's PREDICTED class (its development cut-off) with its predicted
    #: probability as a Cox covariate (seed 004): a model of the study (deep_score, clinical, combined or
    #: a zoo member), in the test cohorts only, where its predictions are out of sample
    predicted_by: Optional[str] = None

    @model_validator(mode="after")
    def _strata_not_group(self):
        both = sorted(set(self.tt) & set(self.strata))
        if both:
            raise ValueError(f"survival.tt and survival.strata both name {both}: a stratum has no coefficient to vary")
        for col, kind in self.tt.items():
            if not isinstance(kind, str) and not kind > 0:
                raise ValueError(f"survival.tt[{col!r}] must be 'log' or a positive cut time, got {kind!r}")
        if self.group in self.strata:
            raise ValueError(f"survival.strata contains the group {self.group!r}: its hazard ratio is the question; "
                             "stratify by the covariate that violates proportional hazards")
        return self


class ReportConfig(_Strict):
    """How the report and its figures look (none of it changes a number)."""

    #: report formats written by ``her2stats report`` / ``demo`` (``--format`` overrides)
    formats: list[Literal["html", "docx", "pdf"]] = Field(default_factory=lambda: ["html"])
    #: journal figure style: fonts, sizes, column widths (``default``, ``radiology``, ``nature``...)
    style: str = "default"
    #: figure files written beside each other (TIFF: 600 dpi, LZW)
    figure_formats: list[Literal["png", "pdf", "svg", "tiff"]] = Field(
        default_factory=lambda: ["png", "pdf", "svg", "tiff"])
    #: unit of the survival time axes (default: survival.time_unit, the data's unit)
    time_unit: Optional[Literal["days", "weeks", "months", "years"]] = None
    #: clinically relevant threshold probabilities shown in the decision curves (default: all computed)
    dca_range: Optional[tuple[float, float]] = None
    #: patients shown in the Grad-CAM panels of the Deep Score (0: none)
    gradcam_patients: int = Field(4, ge=0, le=8)

    @field_validator("style")
    @classmethod
    def _style(cls, v):
        from .style import STYLES

        if v not in STYLES:
            raise ValueError(f"unknown figure style {v!r}; available: {sorted(STYLES)}")
        return v

    @field_validator("dca_range")
    @classmethod
    def _range(cls, v):
        if v is not None and not (0 <= v[0] < v[1] <= 1):
            raise ValueError("dca_range must be (low, high) threshold probabilities with 0 <= low < high <= 1")
        return v

    @field_validator("formats", "figure_formats")
    @classmethod
    def _nonempty(cls, v):
        if not v:
            raise ValueError("give at least one format")
        return list(dict.fromkeys(v))


def _source_leaky(source: str) -> set[str]:
    """HER2-encoding columns of the real loaders, refused as predictors even when a config forgets
    to list them: the loader constants, their unprefixed source names and the HER2 label itself."""
    from ..data import loaders

    constants = {"mamamia": loaders.MAMAMIA_LEAKY_PREDICTORS, "duke": loaders.DUKE_LEAKY_PREDICTORS}.get(source, ())
    names = set(constants)
    names |= {c.split("_", 1)[1] for c in constants if c.startswith(("mamamia_", "duke_"))}
    return names | ({"her2_status", "her2_positive", "her2_class", f"{source}_her2"} if constants else set())


class StudyConfig(_Strict):
    name: str
    title: str = "HER2 prediction study"
    description: str = ""
    engine: Optional[Literal["r", "python"]] = None
    #: where the bootstraps and the feature extraction run (her2stats.schedulers): "sync" (None, in
    #: process), "threads", "processes" or a Dask scheduler address "tcp://host:8786"; changes no number
    scheduler: Optional[str] = None
    #: worker processes a run starts, when no scheduler is set, for the model zoo's grid searches
    #: and the whole-pipeline refits (None: one per core, at most 4; 1: none, all in this process;
    #: fast runs start none); changes no number
    workers: Optional[int] = Field(default=None, ge=1)
    cohort: CohortConfig = Field(default_factory=CohortConfig)
    splits: SplitConfig = Field(default_factory=SplitConfig)
    table1: Table1Config = Field(default_factory=Table1Config)
    clinical: Optional[ClinicalModelConfig] = None
    imaging: Optional[ImagingConfig] = None
    harmonization: Optional[HarmonizationConfig] = None
    zoo: Optional[ZooConfig] = None
    #: extra frozen-feature image models (same image table and cache as imaging)
    image_models: list[ImageModelConfig] = Field(default_factory=list)
    #: late fusion of models' predicted probabilities (mean or logistic stacking)
    fusion: Optional[FusionConfig] = None
    #: trained image classifiers (her2stats.reporting.network_step), evaluated like every model
    networks: list[NetworkConfig] = Field(default_factory=list)
    #: a trained segmentation network whose predicted masks image models may use (masks: predicted)
    segmentation: Optional[SegmentationConfig] = None
    validation: ValidationConfig = Field(default_factory=ValidationConfig)
    survival: Optional[SurvivalConfig] = None
    subgroups: Optional[SubgroupsConfig] = None
    reader_study: Optional[ReaderStudyConfig] = None
    #: inter-reader agreement of reader-measured variables (ICC / kappa table)
    agreement: Optional[AgreementConfig] = None
    #: multiple imputation of the clinical covariates (complete-case analysis becomes the sensitivity analysis)
    imputation: Optional[ImputationConfig] = None
    #: internal validation of the whole pipeline (bootstrap refits with every selection step inside)
    pipeline_validation: Optional[PipelineValidationConfig] = None
    #: display labels of columns, overriding the data dictionary's (her2stats.data.labels):
    #: {column: "Label (unit)"} or {column: {label: ..., unit: ..., levels: {level: text}}}
    labels: dict[str, Any] = Field(default_factory=dict)
    report: ReportConfig = Field(default_factory=ReportConfig)
    output_dir: Path = Path("out/study")
    #: where the config file lives (relative paths are resolved against it)
    base_dir: Path = Path(".")

    @field_validator("scheduler")
    @classmethod
    def _scheduler(cls, v):
        from ..errors import InputError
        from ..schedulers import resolve_scheduler, scheduler_error

        try:
            resolve_scheduler(v)
        except InputError:  # the one message, less the Python objects a YAML file cannot hold
            raise ValueError(scheduler_error(v, objects=False)) from None
        return v

    @field_validator("labels")
    @classmethod
    def _labels(cls, v):
        from ..data.labels import as_labels
        from ..errors import InputError

        try:
            as_labels(v, source="labels")  # structure here; the columns once the cohort is loaded
        except InputError as exc:
            raise ValueError(str(exc)) from None
        return v

    @model_validator(mode="after")
    def _no_leaky_predictors(self):
        leaky = set(self.cohort.exclude_predictors) | {self.cohort.outcome}
        if self.cohort.outcome.startswith("her2"):  # HER2 is the outcome: its encodings may not predict it
            leaky |= _source_leaky(self.cohort.source)
        for section, covs in (("clinical.covariates", self.clinical.covariates if self.clinical else []),
                              ("survival.covariates", self.survival.covariates if self.survival else [])):
            bad = sorted(leaky & set(covs))
            if bad and section != "survival.covariates":
                raise ValueError(f"{section} contains {bad}, which encode(s) the outcome "
                                 f"(cohort.exclude_predictors / cohort.outcome)")
        if self.harmonization is not None:
            if self.imaging is None:
                raise ValueError("harmonization needs an imaging section (it harmonises the image features)")
            bad = sorted(leaky & set(self.harmonization.covariates))
            if bad:  # a ComBat covariate enters every test patient's features: the outcome would leak
                raise ValueError(f"harmonization.covariates contains {bad}, which encode(s) the outcome")
        if self.subgroups is not None:
            if self.subgroups.on == "iecv" and self.validation.scheme != "iecv":
                raise ValueError("subgroups.on is 'iecv' but validation.scheme is 'split': set validation.scheme: iecv "
                                 "(and validation.by) or subgroups.on: test")
            if self.cohort.outcome in self.subgroups.variables:
                raise ValueError(f"subgroups.variables contains the outcome {self.cohort.outcome!r}: performance "
                                 "needs both outcome classes in every subgroup")
        if self.zoo is not None and self.zoo.features == "selected" and self.clinical is None:
            raise ValueError("zoo.features: selected means the clinical covariates clinical.selection keeps: it needs a "
                             "clinical section (or zoo.features: all)")
        return self

    @model_validator(mode="after")
    def _networks(self):
        names = [n.name for n in self.networks]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"networks: name(s) {dup} used twice; every network needs its own name")
        clash = sorted(set(names) & set(typing.get_args(ZooModel)))
        if clash:
            raise ValueError(f"networks: name(s) {clash} are model-zoo names; call the network something else")
        others = [m.name for m in self.image_models] + ([f.name for f in self.fusion.late] if self.fusion else [])
        clash = sorted(set(names) & set(others))
        if clash:
            raise ValueError(f"networks: name(s) {clash} are already image_models / fusion.late models of this study")
        ks = {n.fold_ensemble for n in self.networks if n.fold_ensemble is not None}
        if len(ks) > 1:
            raise ValueError(f"networks: fold_ensemble values {sorted(ks)} differ; the fold models are those of the "
                             "study's one development cross-validation")
        if ks and self.zoo is not None and self.zoo.cv not in ks:
            raise ValueError(f"networks: fold_ensemble ({ks.pop()}) must equal zoo.cv ({self.zoo.cv}): the fold models "
                             "are those of the study's development cross-validation, whose folds the zoo sets")
        return self

    @model_validator(mode="after")
    def _predicted_masks(self):
        users = [m.name for m in self.image_models if m.masks == "predicted" or "segmentation" in m.sources]
        if users and self.segmentation is None:
            raise ValueError(f"image_models {users}: masks: predicted and extractor: segmentation need a "
                             "segmentation section (the trained segmentation network)")
        if users and self.imaging is None:
            raise ValueError(f"image_models {users}: image models need an imaging section")
        if self.segmentation is not None and self.imaging is None and self.segmentation.images is None:
            raise ValueError("segmentation: give segmentation.images (or an imaging section whose images it uses)")
        return self

    @model_validator(mode="after")
    def _predicted_by_is_a_model(self):
        s = self.survival
        if s is None or s.predicted_by is None:
            return self
        models = (["clinical"] if self.clinical else []) + (["deep_score"] if self.imaging else []) \
            + (["combined"] if self.clinical and self.imaging else [])
        models += [n.name for n in self.networks]
        models += [m if m not in models else f"zoo_{m}" for m in (self.zoo.models if self.zoo else [])]
        models += [m.name for m in self.image_models] + ([f.name for f in self.fusion.late] if self.fusion else [])
        if s.predicted_by not in models:
            guess = closest(s.predicted_by, models)
            raise ValueError(f"survival.predicted_by: {s.predicted_by!r} is not a model of this study (its models: "
                             f"{', '.join(models) or 'none: add clinical, imaging or zoo'})"
                             + (f"; did you mean {guess!r}?" if guess else ""))
        if self.splits.internal_fraction == 0 and not self.splits.external:
            raise ValueError("survival.predicted_by needs a test cohort (splits.internal_fraction > 0 or "
                             "splits.external): development predictions are in-sample")
        return self

    @model_validator(mode="after")
    def _imputation_and_pipeline_validation(self):
        leaky = set(self.cohort.exclude_predictors) | {self.cohort.outcome}
        if self.cohort.outcome.startswith("her2"):
            leaky |= _source_leaky(self.cohort.source)
        if self.imputation is not None:
            if self.clinical is None:
                raise ValueError("imputation imputes the clinical covariates: it needs a clinical section")
            bad = sorted(leaky & set(self.imputation.auxiliary))
            if bad:  # an auxiliary variable is imputed from and imputes the test cohorts' covariates
                raise ValueError(f"imputation.auxiliary contains {bad}, which encode(s) the outcome")
            both = sorted(set(self.imputation.auxiliary) & set(self.clinical.covariates))
            if both:
                raise ValueError(f"imputation.auxiliary lists clinical covariate(s) {both}; they are imputed anyway")
            unknown = sorted(set(self.imputation.methods) - set(self.clinical.covariates) - set(self.imputation.auxiliary))
            if unknown:
                valid = list(self.clinical.covariates) + list(self.imputation.auxiliary)
                guess = closest(unknown[0], valid)
                raise ValueError(f"imputation.methods names {unknown}, which are neither clinical covariates nor "
                                 f"imputation.auxiliary" + (f"; did you mean {guess!r}?" if guess else
                                                           f" (imputed: {', '.join(valid)})"))
        if self.pipeline_validation is not None:
            pv = self.pipeline_validation
            have = {"clinical": self.clinical is not None, "deep_score": self.imaging is not None}
            named = pv.models if "models" in pv.model_fields_set else [m for m in pv.models if have[m]]
            absent = [m for m in named if not have[m]]
            if absent:
                raise ValueError(f"pipeline_validation.models lists {absent}, which this study does not fit (needs "
                                 + " and ".join({"clinical": "a clinical", "deep_score": "an imaging"}[m] for m in absent)
                                 + " section)")
            if not named:
                raise ValueError("pipeline_validation needs a clinical or imaging section (a pipeline to validate)")
        return self

    @model_validator(mode="after")
    def _image_models_and_fusion(self):
        names = [m.name for m in self.image_models] + ([f.name for f in self.fusion.late] if self.fusion else [])
        taken = {"clinical", "deep_score", "combined", *(self.zoo.models if self.zoo else [])}
        for n in names:
            if n in taken or names.count(n) > 1:
                raise ValueError(f"image_models / fusion.late: the name {n!r} is already a model of this study")
        if self.image_models and self.imaging is None:
            raise ValueError("image_models read the image table and feature cache of the imaging section: add one")
        for m in self.image_models:
            if any(st.step == "icc" for st in m.selection) and self.imaging.icc is None:
                raise ValueError(f"image_models {m.name!r}: the icc selection step uses imaging.icc's second "
                                 "segmentation: add imaging.icc")
            outside = sorted(set(m.sequences) - set(self.imaging.sequences))
            if self.imaging.sequences and outside:
                raise ValueError(f"image_models {m.name!r}: sequences {outside} are not in imaging.sequences "
                                 f"{self.imaging.sequences}")
        return self

    def resolve(self, path: Path | None) -> Path | None:
        if path is None:
            return None
        path = Path(path).expanduser()
        return path if path.is_absolute() else (self.base_dir / path)


def closest(name: Any, choices: Iterable[Any]) -> str | None:
    """The choice closest to ``name`` (case-insensitive, :func:`difflib.get_close_matches`), or None."""
    options = [str(c) for c in choices]
    lower: dict[str, str] = {}
    for c in options:
        lower.setdefault(c.lower(), c)
    key = str(name).lower()
    if key in lower:
        return lower[key]
    hit = difflib.get_close_matches(key, list(lower), n=1, cutoff=0.6)
    return lower[hit[0]] if hit else None


def _model_at(loc: tuple) -> type[BaseModel] | None:
    """The pydantic model that holds the key at ``loc`` (list indices skipped), or None."""
    model: type[BaseModel] = StudyConfig
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        nxt = _submodel(field.annotation)
        if nxt is None:
            return None
        model = nxt
    return model


def _submodel(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, list):
        for arg in typing.get_args(annotation):
            found = _submodel(arg)
            if found is not None:
                return found
    return None


#: keys set by :func:`load_config` itself, never suggested
_INTERNAL_KEYS = {"base_dir"}


def _describe(e: dict) -> str:
    loc = tuple(e["loc"])
    if e["type"] == "extra_forbidden" and loc:
        model = _model_at(loc[:-1])
        valid = [k for k in (model.model_fields if model else {}) if k not in _INTERNAL_KEYS]
        guess = closest(loc[-1], valid)
        if guess is not None:
            return f"unknown key; did you mean {guess!r}?"
        return "unknown key; valid keys: " + ", ".join(valid) if valid else "unknown key"
    if e["type"] == "literal_error" and isinstance(e.get("input"), str):
        allowed = re.findall(r"'([^']*)'", str((e.get("ctx") or {}).get("expected", "")))
        guess = closest(e["input"], allowed)
        if guess is not None and guess != e["input"]:
            return f"{e['msg']}; did you mean {guess!r}?"
    return e["msg"]


def _format_errors(source: str, err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(x) for x in e["loc"]) or "(top level)"
        lines.append(f"{source}: {loc}: {_describe(e)}")
    return "\n".join(lines)


#: columns a study run creates before it uses table1 (so a config may name them there)
RUN_COLUMNS = ("cohort_split", "deep_score")


def config_columns(cfg: StudyConfig) -> list[tuple[str, str]]:
    """``(key path, column)`` for every cohort column the config names and the run needs.

    Keys left at their defaults are included only where the run cannot go without them
    (``splits.column`` with ``by: center``, ``survival.group``); ``table1`` only when the config
    has a ``table1:`` section; ``cohort.exclude_predictors`` never (it may list absent columns).
    """
    c = cfg.cohort
    out = [("cohort.id_column", c.id_column), ("cohort.outcome", c.outcome)]
    out += [("cohort.require", v) for v in c.require] + [("cohort.subset", v) for v in c.subset]
    if cfg.splits.by == "center" or "column" in cfg.splits.model_fields_set:
        out.append(("splits.column", cfg.splits.column))
    if "table1" in cfg.model_fields_set:
        t = cfg.table1
        out += [("table1.group", t.group)] + [("table1.variables", v) for v in t.variables]
        out += [("table1.categorical", v) for v in t.categorical] + [("table1.by", v) for v in t.by]
    if cfg.clinical is not None:
        out += [("clinical.covariates", v) for v in cfg.clinical.covariates]
    if cfg.harmonization is not None:
        h = cfg.harmonization
        out += [("harmonization.batch", h.batch)] + [("harmonization.covariates", v) for v in h.covariates]
        out += [("harmonization.diagnostics", v) for v in h.diagnostics]
    if cfg.validation.scheme == "iecv":
        out.append(("validation.by", cfg.validation.by))
    if cfg.subgroups is not None:
        out += [("subgroups.variables", v) for v in cfg.subgroups.variables]
    if cfg.imputation is not None:
        out += [("imputation.auxiliary", v) for v in cfg.imputation.auxiliary]
    if cfg.survival is not None:
        s = cfg.survival
        out += [("survival.duration", s.duration), ("survival.event", s.event), ("survival.group", s.group)]
        out += [("survival.covariates", v) for v in s.covariates]
        out += [("survival.strata", v) for v in s.strata]
        out += [("survival.tt", v) for v in s.tt]
    return out


def check_columns(cfg: StudyConfig, columns: Iterable[Any], where: str = "the cohort") -> None:
    """Raise :class:`~her2stats.errors.InputError` naming every column of the config that
    ``columns`` lacks, each with the closest existing column (``clinical.covariates: column 'Age'
    not in the cohort; did you mean 'age'?``). InputError, as every column missing from the data:
    the config itself is valid, the data do not have what it names."""
    present = [str(c) for c in columns]
    have = set(present)
    problems = []
    for key, col in config_columns(cfg):
        if col in have or (key.startswith("table1.") and col in RUN_COLUMNS):
            continue
        guess = closest(col, present)
        hint = f"; did you mean {guess!r}?" if guess is not None else (
            f" (columns: {', '.join(sorted(present)[:30])}{', ...' if len(present) > 30 else ''})")
        problems.append(f"{key}: column {col!r} not in {where}{hint}")
    if problems:
        from ..errors import InputError

        raise InputError("\n".join(dict.fromkeys(problems)))


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_config(path_or_dict: str | Path | dict, overrides: dict | None = None) -> StudyConfig:
    """Read and validate a study config (YAML path or dict); raise ConfigError with key paths.

    ``overrides`` (e.g. ``{"report": {"style": "radiology"}}`` from the command line) are merged
    into the file's settings before validation."""
    if isinstance(path_or_dict, dict):
        data, source, base = dict(path_or_dict), "config", Path.cwd()
    else:
        from ..files import load_yaml_file

        path = Path(path_or_dict)
        if not path.exists():
            raise ConfigError(f"study config not found: {path}")
        # every problem names the file and the cause, never quotes it (it may not be a config at all)
        data = load_yaml_file(path, "study config", ConfigError)
        data = {} if data is None else data
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of keys (name:, cohort:, ...)")
        if data and not set(map(str, data)) & set(StudyConfig.model_fields):
            raise ConfigError(f"{path} is not a study config: none of its {len(data)} top-level key(s) is a study "
                              f"config key (name, cohort, splits, clinical, imaging, ...)")
        source, base = str(path), path.resolve().parent
    data.setdefault("base_dir", base)
    if overrides:
        data = _merge(data, overrides)
    try:
        return StudyConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(source, exc)) from None
