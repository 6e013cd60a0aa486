"""The image table of a study config (``imaging.images``, ``networks.images``): the demo's or a
CSV/Excel file with ``patient_id``, ``sequence``, ``image_path`` and ``mask_path``, its relative
paths resolved against the table's own folder."""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from ..errors import ConfigError, InputError

__all__ = ["read_image_table", "patient_cases", "extract_features"]


def read_image_table(cfg: Any, images: str, key: str, path_columns: Sequence[str] = ("mask_path",)) -> pd.DataFrame:
    """The image table ``images`` (``"demo"`` or a file relative to the config) named by the config
    key ``key`` in its errors; ``image_path`` and the ``path_columns`` present are made absolute
    (a missing path stays None)."""
    if images == "demo":
        from ..data import demo_images

        return demo_images()
    from ..files import read_table

    path = cfg.resolve(Path(images))
    if not path.exists():
        raise ConfigError(f"{key}: file not found: {path}")
    index = read_table(path, key, InputError)
    for col in ("patient_id", "sequence", "image_path"):
        if col not in index.columns:
            raise InputError(f"{path}: the image table needs column {col!r} (patient_id, sequence, image_path, mask_path)")
    base = path.parent
    index["image_path"] = [str(p if Path(p).is_absolute() else base / p) for p in index["image_path"]]
    for col in dict.fromkeys(path_columns):
        if col in index:
            index[col] = [None if pd.isna(p) else str(p if Path(p).is_absolute() else base / p) for p in index[col]]
    return index


def patient_cases(state: Any, index: pd.DataFrame, images: str, *, where: str, sequence: str | None,
                  sequence_key: str) -> pd.DataFrame:
    """One case row (``patient_id``, ``image_path``, ``mask_path``) per analysed patient, on the
    cohort's index, from the image table ``index`` (read from ``images``) restricted to ``sequence``.
    Errors name the config step ``where`` and the key ``sequence_key`` that chose the sequence: no
    image of that sequence, several images of one patient, analysed patients without an image."""
    if sequence is not None and "sequence" in index:
        index = index[index["sequence"].astype(str) == str(sequence)]
        if index.empty:
            raise ConfigError(f"{sequence_key}: no image of sequence {sequence!r} in {images}")
    index = index.assign(patient_id=index["patient_id"].astype(str))
    several = index["patient_id"].duplicated(keep=False)
    if several.any():
        seqs = sorted(map(str, index.loc[several, "sequence"].unique())) if "sequence" in index else []
        raise ConfigError(f"{sequence_key}: {int(several.sum())} image rows share a patient ({seqs}); {where} takes "
                          "one image per patient: name one sequence")
    ids = state.cohort[state.config.cohort.id_column].astype(str)
    missing = ~ids.isin(set(index["patient_id"]))
    if missing.any():
        raise InputError(f"{where}: {int(missing.sum())} of {len(ids)} analysed patient(s) have no image in {images}"
                         f"{' of sequence ' + repr(sequence) if sequence else ''} (first: "
                         f"{ids[missing].iloc[0]!r}); every analysed patient needs one (exclude them with "
                         f"cohort.require or give the image)")
    table = index.set_index("patient_id").loc[ids.to_numpy()]
    out = pd.DataFrame({"patient_id": ids.to_numpy(), "image_path": table["image_path"].to_numpy()},
                       index=state.cohort.index)
    out["mask_path"] = table["mask_path"].to_numpy() if "mask_path" in table else None
    return out


def extract_features(extractor: Any, index: pd.DataFrame, notes: list, prefix: str = "") -> pd.DataFrame:
    """``extractor.fit_transform(index)``, its warning about cases that gave no features put in the
    study's ``notes`` (after ``prefix``) instead of the console: the flow counts those patients."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        X = extractor.fit_transform(index)
    for w in caught:
        if "gave no features" in str(w.message):
            notes.append(f"{prefix}{w.message}")
    return X
