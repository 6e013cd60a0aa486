"""Cases and multi-sequence studies: one patient's T1/T2/DCE images with their masks."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from ..errors import InputError
from .io import read_image, read_mask
from .preprocess import ImageCase, rigid_register

CASE_COLUMNS = ("patient_id", "sequence", "image_path", "mask_path")


def is_missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v)) or (isinstance(v, str) and not v.strip())


def load_case(image_path: Any, mask_path: Any = None, *, case_id: str = "", sequence: str = "",
              expect_ndim: int | None = None, spacing: Iterable[float] | None = None,
              label: int | None = None) -> ImageCase:
    """Read one image and its (optional) mask into an :class:`ImageCase`, checking them together.

    Raises InputError naming the case and file for unreadable/corrupt files, 4-D files, NaN
    voxels, mask/image shape or spacing mismatch and empty masks.
    """
    who = f"case {case_id}" + (f", sequence {sequence}" if sequence else "")
    try:
        img = read_image(image_path, spacing=spacing, expect_ndim=expect_ndim)
    except InputError as exc:
        raise InputError(f"{who}: {exc}") from exc
    if not np.isfinite(img.array).all():
        n = int((~np.isfinite(img.array)).sum())
        raise InputError(f"{who}: image {image_path} has {n} NaN/inf voxel(s); fix or exclude the case")
    mask = None
    if not is_missing(mask_path):
        mask = read_mask(mask_path, like=img, label=label, case=case_id + (f"/{sequence}" if sequence else ""))
    return ImageCase(image=img, mask=mask, case_id=str(case_id), sequence=str(sequence))


@dataclass(frozen=True, eq=False)
class Study:
    """All sequences of one patient: ``cases[sequence]`` is an :class:`ImageCase`."""

    patient_id: str
    cases: Mapping[str, ImageCase]
    registration: Mapping[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def sequences(self) -> list[str]:
        return list(self.cases)

    def __getitem__(self, sequence: str) -> ImageCase:
        try:
            return self.cases[sequence]
        except KeyError:
            raise InputError(f"case {self.patient_id} has no sequence {sequence!r}; it has {self.sequences}") from None


def check_case_table(cases: pd.DataFrame) -> pd.DataFrame:
    """Validate a case table (patient_id, sequence, image_path[, mask_path]) and return a clean copy."""
    if not isinstance(cases, pd.DataFrame):
        raise InputError(f"cases must be a DataFrame with columns {CASE_COLUMNS}, got {type(cases).__name__}")
    missing = [c for c in ("patient_id", "image_path") if c not in cases.columns]
    if missing:
        raise InputError(f"case table lacks column(s) {missing}; expected {list(CASE_COLUMNS)}")
    out = cases.copy()
    if "sequence" not in out.columns:
        out["sequence"] = "img"
    if "mask_path" not in out.columns:
        out["mask_path"] = None
    bad = out["patient_id"].isna() | out["image_path"].map(is_missing)
    if bad.any():
        raise InputError(f"case table rows {out.index[bad].tolist()} have no patient_id or image_path")
    out["patient_id"] = out["patient_id"].astype(str)
    out["sequence"] = out["sequence"].astype(str)
    dup = out.duplicated(["patient_id", "sequence"], keep=False)
    if dup.any():
        raise InputError(f"case table has duplicate (patient_id, sequence) rows: "
                         f"{out.loc[dup, ['patient_id', 'sequence']].drop_duplicates().values.tolist()}")
    return out.reset_index(drop=True)


def load_study(rows: pd.DataFrame, *, sequences: Iterable[str] | None = None, register_to: str | None = None,
               expect_ndim: int | None = None, registration_kw: Mapping[str, Any] | None = None) -> Study:
    """Load one patient's rows of a case table into a :class:`Study`.

    ``sequences``: the sequences every patient must have (missing -> InputError naming them).
    ``register_to``: rigidly register every other sequence onto this one (see
    :func:`~her2stats.imaging.preprocess.rigid_register`); a mask drawn on the reference (same
    mask_path) is reused as is, a mask drawn on the moving sequence moves with it.
    """
    pid = str(rows["patient_id"].iloc[0])
    have = list(rows["sequence"].astype(str))
    need = list(sequences) if sequences is not None else have
    lacking = [s for s in need if s not in have]
    if lacking:
        raise InputError(f"case {pid} lacks sequence(s) {lacking} (it has {have}); add them or drop the case")
    by_seq = {str(r.sequence): r for r in rows.itertuples(index=False)}
    cases = {s: load_case(by_seq[s].image_path, by_seq[s].mask_path, case_id=pid, sequence=s,
                          expect_ndim=expect_ndim) for s in need}
    reg_info: dict[str, dict[str, Any]] = {}
    if register_to is not None:
        if register_to not in cases:
            raise InputError(f"case {pid}: reference sequence {register_to!r} for registration is missing")
        ref = cases[register_to]
        for s, c in list(cases.items()):
            if s == register_to:
                continue
            same_mask = not is_missing(by_seq[s].mask_path) and by_seq[s].mask_path == by_seq[register_to].mask_path
            img, mask, info = rigid_register(ref.image, c.image, moving_mask=None if same_mask else c.mask,
                                             **dict(registration_kw or {}))
            if same_mask:
                mask = ref.mask
            cases[s] = c.evolve(image=img, mask=mask, notes={"registered_to": register_to, "registration": info})
            reg_info[s] = info
    return Study(pid, cases, reg_info)
