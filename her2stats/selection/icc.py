"""Reproducibility filter: keep features whose ICC across repeated segmentations/readers reaches a
threshold (seed 000: ICC >= 0.9; seed 004: ICC > 0.75, two-way random effects)."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ._base import FeatureSelector
from ._validation import as_feature_frame


def repeated_to_array(data: Any, target_col: str = "case_id", rater_col: str = "rater"
                      ) -> tuple[np.ndarray, list[str], list[Any], list[Any]]:
    """Turn repeated feature extractions into a ``(targets, raters, features)`` array.

    ``data`` is either a 3-D array or a long DataFrame with one row per (target, rater) and the
    features in the remaining columns. Every target must be measured exactly once by every rater
    (the ICC models need a complete two-way layout); otherwise an InputError names the gaps.
    Returns the array, the feature names, the targets and the raters (sorted).
    """
    if isinstance(data, pd.DataFrame):
        for col in (target_col, rater_col):
            if col not in data.columns:
                raise InputError(
                    f"the repeated-measurement table has no column {col!r}; name the case and reader columns "
                    f"with target_col=/rater_col= (columns: {[str(c) for c in data.columns[:8]]})"
                )
        dup = data.duplicated([target_col, rater_col])
        if dup.any():
            row = data.loc[dup].iloc[0]
            raise InputError(
                f"case {row[target_col]!r} has more than one row for rater {row[rater_col]!r} in the repeated-"
                "measurement table"
            )
        features = [c for c in data.columns if c not in (target_col, rater_col)]
        if not features:
            raise InputError("the repeated-measurement table has no feature columns")
        feat = as_feature_frame(data[features], what="repeated-measurement table")
        targets = sorted(data[target_col].unique().tolist(), key=str)
        raters = sorted(data[rater_col].unique().tolist(), key=str)
        if len(raters) < 2:
            raise InputError(f"ICC needs at least 2 raters/segmentations per case, found {raters}")
        t_idx = pd.Index(targets).get_indexer(data[target_col])
        r_idx = pd.Index(raters).get_indexer(data[rater_col])
        values = np.full((len(targets), len(raters), len(features)), np.nan)
        values[t_idx, r_idx, :] = feat.to_numpy()
        seen = np.zeros((len(targets), len(raters)), dtype=bool)
        seen[t_idx, r_idx] = True
        if not seen.all():
            ti, ri = np.argwhere(~seen)[0]
            raise InputError(
                f"case {targets[ti]!r} has no measurement by rater {raters[ri]!r} ({int((~seen).sum())} missing "
                "case-rater pairs); the ICC needs every case measured by every rater — drop incomplete cases "
                "explicitly"
            )
        return values, [str(f) for f in features], targets, raters
    values = np.asarray(data, dtype=float)
    if values.ndim != 3:
        raise InputError(
            f"repeated measurements must be a long DataFrame or a 3-D array (cases, raters, features), got "
            f"an array of shape {values.shape}"
        )
    if values.shape[1] < 2:
        raise InputError(f"ICC needs at least 2 raters/segmentations (axis 1), got shape {values.shape}")
    if not np.isfinite(values).all():
        t, r, f = np.argwhere(~np.isfinite(values))[0]
        raise InputError(f"repeated measurements have a missing/infinite value at case {t}, rater {r}, feature {f}")
    return (values, [f"x{j}" for j in range(values.shape[2])], list(range(values.shape[0])),
            list(range(values.shape[1])))


class ICCFilter(FeatureSelector):
    """Keep features with ICC >= ``threshold`` (or > ``threshold``) across repeated segmentations
    or readers.

    The ICC of each feature comes from :func:`her2stats.stats.agreement.icc_many` (Shrout &
    Fleiss 1979; McGraw & Wong 1996), vectorised over features.

    Two ways to fit:

    * ``ICCFilter(...).fit(repeated)`` with ``repeated`` a long DataFrame (columns
      ``target_col``, ``rater_col`` and the features) or a 3-D array (cases, raters, features);
      ``transform`` then selects those feature columns from any design matrix.
    * ``ICCFilter(repeated=repeated, ...)`` as a Pipeline step: ``fit(X, y)`` computes the ICCs
      from ``repeated`` and only checks that every column of ``X`` has one.

    The reproducibility subset carries no outcome, so computing ICCs on it does not leak labels
    even when its cases also appear in a test set.

    Parameters
    ----------
    threshold : the ICC cut-off (seed 000: 0.9; seed 004: 0.75).
    comparison : ``">="`` (keep ICC >= threshold; seed 000's Methods and Figures 2-5: "ICC >= 0.9")
        or ``">"`` (keep ICC > threshold; seed 004: "ICC > 0.75", and seed 000's section 2.3.3 "an
        ICC above 0.9"). State the one the paper states: a feature exactly at the threshold is kept
        by one and dropped by the other.
    kind : ICC form passed to ``icc_many`` (``"ICC2,1"`` = two-way random, absolute agreement,
        single measurement; ``"ICC3,1"`` consistency...).
    repeated : optional repeated-measurement data (see above).
    target_col, rater_col : column names of the case id and the reader/segmentation id.

    Attributes
    ----------
    icc_ : Series of ICC per feature.
    report_ : DataFrame: feature, icc, kept.
    """

    def __init__(self, threshold: float = 0.9, kind: str = "ICC2,1", repeated: Any = None,
                 target_col: str = "case_id", rater_col: str = "rater", comparison: str = ">="):
        self.threshold = threshold
        self.comparison = comparison
        self.kind = kind
        self.repeated = repeated
        self.target_col = target_col
        self.rater_col = rater_col

    def fit(self, X: Any, y: Any = None) -> "ICCFilter":
        if not -1.0 <= float(self.threshold) <= 1.0:
            raise InputError(f"threshold must be an ICC value in [-1, 1], got {self.threshold!r}")
        if self.comparison not in (">=", ">"):
            raise InputError(f"comparison must be '>=' or '>', got {self.comparison!r}")
        from ..stats.agreement import icc_many

        source = X if self.repeated is None else self.repeated
        values, features, targets, _ = repeated_to_array(source, self.target_col, self.rater_col)
        if len(targets) < 2:
            raise InputError("ICC needs at least 2 cases in the repeated-measurement data")
        icc = np.asarray(icc_many(values, self.kind), dtype=float).ravel()
        if len(icc) != len(features):
            raise InputError(f"icc_many returned {len(icc)} values for {len(features)} features")
        icc_by_name = pd.Series(icc, index=features, name="icc")
        if self.repeated is None:
            names = features
        else:
            design = as_feature_frame(X)
            names = list(design.columns)
            missing = [c for c in names if c not in icc_by_name.index]
            if missing:
                raise InputError(
                    f"feature(s) {missing[:5]} of X have no repeated measurements, so no ICC; the repeated "
                    "table must hold every feature column of X"
                )
            icc_by_name = icc_by_name.loc[names]
        self.feature_names_in_ = np.asarray(names, dtype=object)
        self.n_features_in_ = len(names)
        icc_vals = icc_by_name.to_numpy()
        self.icc_ = icc_by_name
        vals = np.nan_to_num(icc_vals, nan=-np.inf)
        self.support_ = vals >= float(self.threshold) if self.comparison == ">=" else vals > float(self.threshold)
        self.report_ = pd.DataFrame({"feature": names, "icc": icc_vals, "kept": self.support_})
        return self


#: suffix of the second segmentation's feature columns that travel with the design matrix
SECOND_SEGMENTATION_SUFFIX = "~seg2"


class PairedICCFilter(FeatureSelector):
    """ICC reproducibility filter as a Pipeline step whose second measurement travels with ``X``.

    ``X`` holds, for every feature column ``f``, the same feature extracted from a second
    segmentation of the same case in column ``f + suffix`` (a second reader's mask, or a perturbed
    mask: :func:`her2stats.imaging.perturb_mask`). ``fit(X, y)`` computes the ICC of every paired
    feature on the rows it is given -- inside a cross-validation fold, the fold's training rows only
    -- exactly as :class:`ICCFilter` on the long table of those rows (raters ``1`` and ``2``), and
    keeps the features with ICC ``>=`` / ``>`` ``threshold``. ``transform`` returns the kept
    features plus the columns that have no pair (e.g. a batch column for a later harmonisation
    step, passed through unchanged); the second-segmentation columns are dropped, and need not be
    present at transform time.

    Parameters
    ----------
    threshold, comparison, kind : as :class:`ICCFilter` (seed 000: 0.9, ``">="``; seed 004: 0.75,
        ``">"``, two-way random ``"ICC2,1"``).
    suffix : name suffix of the second segmentation's columns.

    Attributes
    ----------
    icc_ : Series of ICC per paired feature. report_ : feature, icc, kept.
    paired_ : the paired feature names; passthrough_ : the unpaired columns passed through.
    """

    def __init__(self, threshold: float = 0.9, comparison: str = ">=", kind: str = "ICC2,1",
                 suffix: str = SECOND_SEGMENTATION_SUFFIX):
        self.threshold = threshold
        self.comparison = comparison
        self.kind = kind
        self.suffix = suffix

    def fit(self, X: Any, y: Any = None) -> "PairedICCFilter":
        if not isinstance(X, pd.DataFrame):
            raise InputError("PairedICCFilter needs a DataFrame holding each feature and its second-segmentation "
                             f"column (name + {self.suffix!r})")
        cols = [str(c) for c in X.columns]
        second = {c for c in cols if c.endswith(self.suffix)}
        paired = [c for c in cols if c not in second and c + self.suffix in second]
        if not paired:
            raise InputError(f"PairedICCFilter: no feature of X has a second-segmentation column (name + {self.suffix!r})")
        orphans = sorted(c for c in second if c[: -len(self.suffix)] not in set(paired))
        if orphans:
            raise InputError(f"PairedICCFilter: second-segmentation column(s) {orphans[:5]} have no first-segmentation "
                             "feature")
        passthrough = [c for c in cols if c not in second and c not in set(paired)]
        frame = X.rename(columns=str)
        values = np.stack([as_feature_frame(frame[paired], what="first segmentation features").to_numpy(dtype=float),
                           as_feature_frame(frame[[c + self.suffix for c in paired]],
                                            what="second segmentation features").to_numpy(dtype=float)], axis=1)
        inner = ICCFilter(threshold=self.threshold, comparison=self.comparison, kind=self.kind).fit(values)
        self.icc_ = pd.Series(inner.icc_.to_numpy(), index=paired, name="icc")
        self.report_ = pd.DataFrame({"feature": paired, "icc": inner.icc_.to_numpy(), "kept": inner.support_})
        self.paired_ = paired
        self.passthrough_ = passthrough
        names = paired + passthrough
        self.feature_names_in_ = np.asarray(names, dtype=object)
        self.n_features_in_ = len(names)
        self.support_ = np.concatenate([inner.support_, np.ones(len(passthrough), dtype=bool)])
        return self

    def transform(self, X: Any) -> Any:
        if not isinstance(X, pd.DataFrame):
            raise InputError("PairedICCFilter.transform needs a DataFrame (the features by name)")
        return super().transform(X)
