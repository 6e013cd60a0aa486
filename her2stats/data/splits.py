"""Train / internal / external splits without leakage.

* ``by=None``: a stratified random split of patients into ``train`` and ``internal`` (held-out
  patients of the same centres). Stratification is on the outcome (``stratify``) and, optionally,
  on the centre (``stratify_center=True``) so every centre keeps its outcome mix.
* ``by="center"``: the centres named in ``external`` become the ``external`` set; the other
  centres are split into ``train``/``internal`` as above.

Splitting is by patient: when a patient has several rows (lesions, sequences), all of them land
in the same split, and the stratification variable must be constant within the patient.

The allocation is exact and deterministic: in each stratum of size ``m`` (sorted by patient id,
then permuted with ``numpy.random.default_rng(seed)``), ``round(test_size * m)`` patients go to
``internal``. The result therefore depends only on the data and the seed, not on row order.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from ..errors import InputError

SPLIT_LEVELS = ("train", "internal", "external")


def make_splits(
    df: pd.DataFrame,
    by: str | None = None,
    stratify: str | Sequence[str] | None = "her2_positive",
    test_size: float = 0.3,
    seed: int = 0,
    *,
    external: str | Iterable[str] | None = None,
    id_col: str = "patient_id",
    center_col: str = "center",
    stratify_center: bool = True,
) -> pd.DataFrame:
    """Assign each patient to ``train``, ``internal`` or ``external`` (column ``split``).

    Parameters
    ----------
    df : cohort table (one or more rows per patient).
    by : None for a random internal split only; ``"center"`` to hold out the ``external`` centres.
    stratify : column(s) to stratify the internal split on (default ``her2_positive``); None for
        a simple random split. Missing values form their own stratum (and are counted in
        ``result.attrs["split_counts"]``).
    test_size : fraction of the training-centre patients sent to ``internal`` (0 <= test_size < 1).
    seed : random seed; the same seed and data give the same split.
    external : centre(s) that form the external set (required with ``by="center"``).
    id_col, center_col : patient id and centre columns.
    stratify_center : also stratify the internal split by centre (when the column exists).

    Returns
    -------
    DataFrame
        A copy of ``df`` with a categorical ``split`` column (levels train, internal, external).
        ``attrs["split_counts"]`` holds records (split, stratum values, patients); plain records
        because pandas compares attrs when frames are combined.

    Examples
    --------
    >>> cohort = make_splits(load_demo(), by="center", external="C", seed=1)
    >>> cohort.groupby("split", observed=True)["her2_positive"].mean()
    """
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"make_splits needs a pandas DataFrame, got {type(df).__name__}")
    if not 0 <= test_size < 1:
        raise InputError(f"test_size must be in [0, 1), got {test_size}")
    if id_col not in df.columns:
        raise InputError(f"id column {id_col!r} not in the table; pass id_col= to name the patient identifier")
    if df[id_col].isna().any():
        raise InputError(f"column {id_col!r} has missing identifiers at rows {list(df.index[df[id_col].isna()][:10])}")
    strat_cols = [] if stratify is None else ([stratify] if isinstance(stratify, str) else list(stratify))
    missing_cols = [col for col in strat_cols if col not in df.columns]
    if missing_cols:
        raise InputError(f"stratification columns {missing_cols} not in the table; pass stratify=None for an unstratified split")
    if by not in (None, "center"):
        raise InputError(f"by must be None or 'center', got {by!r}")

    # one row per patient; stratification values must not vary within a patient
    per_patient_cols = strat_cols + ([center_col] if center_col in df.columns else [])
    patients = df[[id_col] + per_patient_cols].astype({c: object for c in per_patient_cols}).copy()
    for col in per_patient_cols:
        varying = patients.groupby(id_col, sort=False)[col].nunique(dropna=False) > 1
        if varying.any():
            raise InputError(f"column {col!r} varies within patients {list(varying.index[varying][:10])}; "
                             "a patient must have one value to be split as a unit")
    patients = patients.drop_duplicates(id_col).set_index(id_col)
    patients = patients.loc[sorted(patients.index, key=str)]

    split = pd.Series("train", index=patients.index, dtype=object)
    if by == "center":
        if center_col not in patients.columns:
            raise InputError(f"by='center' needs a {center_col!r} column")
        if external is None:
            raise InputError(f"by='center' needs external=<centre(s)> to hold out; centres are "
                             f"{sorted(map(str, patients[center_col].dropna().unique()))}")
        ext = [external] if isinstance(external, str) else list(external)
        centers = set(map(str, patients[center_col].dropna().unique()))
        unknown = [e for e in ext if str(e) not in centers]
        if unknown:
            raise InputError(f"external centres {unknown} not found in column {center_col!r}; centres are {sorted(centers)}")
        is_ext = patients[center_col].astype(str).isin([str(e) for e in ext])
        if is_ext.all():
            raise InputError("every centre is external; leave at least one centre for training")
        split[is_ext] = "external"
    elif external is not None:
        raise InputError("external= only applies with by='center'")

    rng = np.random.default_rng(seed)
    pool = patients[split.eq("train")]
    keys = strat_cols + ([center_col] if stratify_center and center_col in pool.columns else [])
    if test_size > 0:
        groups = pool.groupby(keys, dropna=False, sort=True) if keys else [((), pool)]
        for _, members in groups:
            m = len(members)
            k = int(np.floor(test_size * m + 0.5))
            if k == 0:
                continue
            chosen = rng.permutation(m)[:k]
            split[members.index[chosen]] = "internal"

    out = df.copy()
    out["split"] = pd.Categorical(df[id_col].map(split), categories=list(SPLIT_LEVELS))
    counts = pd.DataFrame({"split": split}).join(patients[strat_cols]) if strat_cols else pd.DataFrame({"split": split})
    out.attrs["split_counts"] = counts.apply(lambda col: col.map(lambda v: "missing" if pd.isna(v) else v)).value_counts().rename("patients").reset_index().to_dict("records")
    return out
