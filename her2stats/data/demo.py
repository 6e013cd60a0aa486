"""The synthetic demo cohort: 400 patients over 3 centres, with small 3-D multi-sequence MRI.

**The demo data are synthetic.** They exist so that every function of the package can be run
end to end, with numbers that behave like a real HER2 study (modest signal, censoring, centre
effects); they carry no clinical information.

Clinical table (``load_demo()``, shipped as ``her2stats/data/_files/demo_clinical.csv`` and
regenerated bit-for-bit by :func:`generate_demo_clinical`):

* centres A (160 patients, Siemens 3 T), B (140, GE 1.5 T) and C (100, Philips 1.5/3 T; the
  external centre: ``split == "external"``); A and B are split 70/30 into train/internal,
  stratified by HER2 status and centre (:func:`~her2stats.data.make_splits`, seed 2024).
* HER2 class drawn first (about 29% positive, 41% low, 30% zero); IHC and ISH drawn to match it
  (positive = 3+ or 2+ ISH+, low = 1+ or 2+ ISH-, zero = 0), then ``her2_status``,
  ``her2_positive`` and ``her2_class`` are derived by the dictionary rules.
* Clinical variables depend on HER2 status the way they do in published cohorts: HER2-positive
  tumours are more often ER/PR-negative, grade 3, with higher Ki-67 and larger size, non-spiculated
  margins, heterogeneous enhancement and higher T2 signal. A logistic regression on age, ER, PR,
  grade, Ki-67 and size reaches a cross-validated AUC of about 0.75 (tested range 0.68-0.84).
* Survival: exponential recurrence hazard raised by HER2 positivity, T stage >= T2, nodal
  involvement and grade 3; death follows recurrence; administrative censoring 1-7 years.
  Times in days.

Second reader (``load_demo_readers()``): a companion table, generated in code from the clinical
table with its own seed, holding a synthetic second reader's reading of tumour size, ADC, margin,
enhancement pattern and T2 signal (stated disagreement model in its docstring), for the study
runner's inter-reader agreement step; the clinical table itself is unchanged.

Images (``demo_images()``): per patient, co-registered T1, T2 and DCE (pre, post1, post2) volumes
of 64 x 64 x 16 voxels with spacing 0.7 x 0.7 x 3.0 mm and a tumour mask, as NIfTI. The tumour's
early enhancement, wash-out, internal heterogeneity and T2 signal carry a HER2 signal through a
per-patient latent score (``0.9 * her2_positive + N(0, 1)``), so image features alone reach an AUC
of about 0.7; centre-specific intensity scaling mimics scanner differences.
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import json
import os
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import FileLock, atomic_write
from ..errors import InputError

DEMO_SEED = 20240518
DEMO_CENTERS = {"A": 160, "B": 140, "C": 100}
DEMO_EXTERNAL_CENTER = "C"
IMAGE_SHAPE_XYZ = (64, 64, 16)
IMAGE_SPACING_MM = (0.7, 0.7, 3.0)
SEQUENCES = ("T1", "T2", "DCE_pre", "DCE_post1", "DCE_post2")
#: bump when the image generator changes, so cached volumes are rebuilt
IMAGE_GENERATOR_VERSION = "1"

DEMO_COLUMNS = [
    "patient_id", "center", "split", "age", "menopause", "er", "pr", "hr", "her2_ihc", "her2_ish",
    "her2_status", "her2_positive", "her2_class", "ki67", "grade", "histology", "t_stage", "n_stage",
    "tumor_size_mm", "subtype", "birads_shape", "birads_margin", "echo_pattern", "enhancement_pattern",
    "adc", "t2_signal", "field_strength", "manufacturer", "pcr", "rfs_time", "rfs_event", "os_time", "os_event",
]


def _choice(rng: np.random.Generator, levels: list[str], probs: np.ndarray) -> np.ndarray:
    """Row-wise categorical draw: ``probs`` is (n, k); one uniform per row (stable stream)."""
    cum = np.cumsum(probs / probs.sum(axis=1, keepdims=True), axis=1)
    u = rng.random(len(probs))
    return np.asarray(levels, dtype=object)[(u[:, None] > cum).sum(axis=1).clip(0, len(levels) - 1)]


def generate_demo_clinical(seed: int = DEMO_SEED) -> pd.DataFrame:
    """Generate the demo clinical table (the shipped CSV is ``generate_demo_clinical()``).

    Every draw comes from one ``numpy.random.default_rng(seed)`` stream in a fixed order, so the
    table is identical on every platform with the same numpy random stream (a test checks the
    shipped CSV against a fresh generation).
    """
    from .splits import make_splits

    rng = np.random.default_rng(seed)
    center = np.concatenate([[c] * n for c, n in DEMO_CENTERS.items()]).astype(object)
    n = len(center)
    pid = np.array([f"DEMO-{i + 1:04d}" for i in range(n)], dtype=object)

    # HER2 class and the IHC/ISH results that produce it
    p_cls = np.where((center == "C")[:, None], [[0.30, 0.44, 0.26]], [[0.30, 0.41, 0.29]])
    her2_class = _choice(rng, ["zero", "low", "positive"], p_cls)
    pos = her2_class == "positive"
    u_ihc, u_ish = rng.random(n), rng.random(n)
    ihc = np.where(her2_class == "zero", "0",
                   np.where(her2_class == "low", np.where(u_ihc < 0.65, "1+", "2+"),
                            np.where(u_ihc < 0.70, "3+", "2+"))).astype(object)
    ish = np.full(n, None, dtype=object)
    ish[(ihc == "2+") & ~pos] = "negative"
    ish[(ihc == "2+") & pos] = "positive"
    ish[(ihc == "3+") & (u_ish < 0.25)] = "positive"  # reflex ISH done in some 3+ cases

    # clinical variables given HER2 (effect sizes tuned for a clinical-model AUC of about 0.75)
    age = np.clip(np.round(rng.normal(np.where(pos, 52.5, 55.0), 11.0)), 25, 88)
    post = rng.random(n) < 1 / (1 + np.exp(-(age - 51) / 2.5))
    menopause = np.where(post, "post", "pre").astype(object)
    low = her2_class == "low"
    er_pos = rng.random(n) < np.where(pos, 0.56, np.where(low, 0.80, 0.68))
    pr_pos = rng.random(n) < np.where(er_pos, np.where(pos, 0.60, 0.76), 0.06)
    er = np.where(er_pos, "positive", "negative").astype(object)
    pr = np.where(pr_pos, "positive", "negative").astype(object)
    hr = np.where(er_pos | pr_pos, "positive", "negative").astype(object)
    grade = _choice(rng, ["1", "2", "3"], np.where(pos[:, None], [[0.06, 0.38, 0.56]], [[0.15, 0.47, 0.38]]))
    ki67 = np.clip(np.round(np.exp(rng.normal(np.log(np.where(pos, 28.0, 19.0)), 0.6))), 1, 95)
    size = np.clip(np.round(np.exp(rng.normal(np.log(np.where(pos, 23.0, 20.0)), 0.45)), 1), 5.0, 120.0)
    histology = _choice(rng, ["ductal", "lobular", "mixed", "mucinous", "other"],
                        np.where(pos[:, None], [[0.90, 0.03, 0.04, 0.01, 0.02]], [[0.78, 0.12, 0.05, 0.03, 0.02]]))
    t_stage = np.where(size <= 20, "T1", np.where(size <= 50, "T2", "T3")).astype(object)
    t_stage[rng.random(n) < 0.03] = "T4"
    p_node = 1 / (1 + np.exp(-(-1.1 + 0.025 * (size - 20) + 0.3 * pos)))
    node_pos = rng.random(n) < p_node
    n_stage = np.where(node_pos, _choice(rng, ["N1", "N2", "N3"], np.tile([[0.70, 0.20, 0.10]], (n, 1))), "N0").astype(object)

    subtype = np.where(hr == "positive",
                       np.where(pos, "luminal_her2", np.where(ki67 >= 20, "luminal_b", "luminal_a")),
                       np.where(pos, "her2_enriched", "triple_negative")).astype(object)

    shape = _choice(rng, ["oval", "round", "irregular"], np.where(pos[:, None], [[0.18, 0.10, 0.72]], [[0.25, 0.10, 0.65]]))
    margin = _choice(rng, ["circumscribed", "indistinct", "angular", "microlobulated", "spiculated"],
                     np.where(pos[:, None], [[0.15, 0.40, 0.10, 0.20, 0.15]], [[0.15, 0.30, 0.10, 0.15, 0.30]]))
    echo = _choice(rng, ["hypoechoic", "heterogeneous", "isoechoic", "complex_cystic_solid"],
                   np.where(pos[:, None], [[0.62, 0.28, 0.05, 0.05]], [[0.75, 0.15, 0.06, 0.04]]))
    enhancement = _choice(rng, ["homogeneous", "heterogeneous", "rim"],
                          np.where(pos[:, None], [[0.20, 0.60, 0.20]], [[0.35, 0.50, 0.15]]))
    adc = np.round(np.clip(rng.normal(np.where(pos, 1.02, 0.96), 0.16), 0.5, 2.0), 3)
    t2 = _choice(rng, ["hypointense", "isointense", "hyperintense"],
                 np.where(pos[:, None], [[0.20, 0.35, 0.45]], [[0.30, 0.40, 0.30]]))

    field = np.where(center == "A", 3.0, np.where(center == "B", 1.5, np.where(rng.random(n) < 0.5, 3.0, 1.5)))
    manufacturer = np.where(center == "A", "Siemens", np.where(center == "B", "GE", "Philips")).astype(object)
    tn = subtype == "triple_negative"
    pcr = (rng.random(n) < np.where(pos, 0.45, np.where(tn, 0.35, 0.12))).astype(int)

    # survival in days: exponential hazards, death after recurrence, uniform administrative censoring
    lin = 0.55 * pos + 0.35 * np.isin(t_stage, ["T2", "T3", "T4"]) + 0.6 * node_pos + 0.35 * (grade == "3")
    t_rec = rng.exponential(1.0 / (np.log(2) / (20.0 * 365.25) * np.exp(lin)))
    t_death_after = rng.exponential(3.5 * 365.25, n)
    t_death_other = rng.exponential(40 * 365.25, n)
    censor = rng.uniform(365.0, 7 * 365.25, n)
    death = np.minimum(t_rec + t_death_after, t_death_other)
    rfs_raw = np.minimum(t_rec, death)
    rfs_event = (rfs_raw <= censor).astype(int)
    rfs_time = np.maximum(np.ceil(np.minimum(rfs_raw, censor)), 1)
    os_event = (death <= censor).astype(int)
    os_time = np.maximum(np.ceil(np.minimum(death, censor)), rfs_time)

    df = pd.DataFrame({
        "patient_id": pid, "center": center, "age": age, "menopause": menopause, "er": er, "pr": pr, "hr": hr,
        "her2_ihc": ihc, "her2_ish": ish, "her2_status": np.where(pos, "positive", "negative"),
        "her2_positive": pos.astype(int), "her2_class": her2_class, "ki67": ki67, "grade": grade,
        "histology": histology, "t_stage": t_stage, "n_stage": n_stage, "tumor_size_mm": size, "subtype": subtype,
        "birads_shape": shape, "birads_margin": margin, "echo_pattern": echo, "enhancement_pattern": enhancement,
        "adc": adc, "t2_signal": t2, "field_strength": field, "manufacturer": manufacturer, "pcr": pcr,
        "rfs_time": rfs_time, "rfs_event": rfs_event, "os_time": os_time, "os_event": os_event,
    })
    df = make_splits(df, by="center", external=DEMO_EXTERNAL_CENTER, stratify="her2_positive", test_size=0.3, seed=2024)
    df["split"] = df["split"].astype(str)
    df.attrs = {}
    return df[DEMO_COLUMNS]


def demo_csv_text(seed: int = DEMO_SEED) -> str:
    """The exact text of the shipped CSV for ``seed`` (used to write and to verify it)."""
    return generate_demo_clinical(seed).to_csv(index=False, lineterminator="\n", float_format="%.10g")


def _demo_csv_path() -> Path:
    return Path(str(resources.files("her2stats.data").joinpath("_files/demo_clinical.csv")))


def write_demo_csv(path: str | os.PathLike | None = None) -> Path:
    """Regenerate the shipped demo CSV (maintainers only; the test checks it is up to date)."""
    target = Path(path) if path is not None else _demo_csv_path()
    target.write_text(demo_csv_text(), encoding="utf-8")
    return target


def load_demo(validate: bool = True) -> pd.DataFrame:
    """The synthetic demo cohort: 400 patients, centres A, B (train/internal) and C (external).

    Returns
    -------
    DataFrame
        Dictionary-conformant (validated by :func:`~her2stats.data.validate_cohort`: categorical
        levels from the dictionary, ``her2_positive``/``pcr``/events as Int64, times in days).
        The ``split`` column is ready to use (train 70% / internal 30% of A+B, external C).

    Examples
    --------
    >>> from her2stats import load_demo
    >>> df = load_demo()
    >>> df.groupby("split", observed=True)["her2_positive"].agg(["size", "mean"])
    """
    return _load_demo_cached(bool(validate)).copy(deep=True)


#: seed of the demo cohort's second reader (:func:`load_demo_readers`)
DEMO_READERS_SEED = 20240519
#: second-reader columns of :func:`load_demo_readers` (the first reader is the demo cohort's column)
DEMO_READER_COLUMNS = {"tumor_size_mm": "tumor_size_mm_r2", "adc": "adc_r2", "birads_margin": "birads_margin_r2",
                       "enhancement_pattern": "enhancement_pattern_r2", "t2_signal": "t2_signal_r2"}


def load_demo_readers(seed: int = DEMO_READERS_SEED) -> pd.DataFrame:
    """A second reader's reading of five imaging descriptors of the demo cohort (synthetic).

    The demo cohort's own columns are the first reader's readings; this companion table (one row
    per patient, ``patient_id`` plus one ``<column>_r2`` per descriptor) is what a study config
    merges in to run an inter-reader agreement step (``agreement.readings: demo``). It leaves
    :func:`load_demo` unchanged.

    Disagreement model (reader 2 given reader 1's reading, independently per patient, drawn with
    ``numpy.random.default_rng(seed)`` in the order below, so the table is reproducible bit for bit):

    * ``tumor_size_mm_r2`` = size + N(0.5, 2.0²) mm (a small systematic over-measurement and a
      calliper error), rounded to 0.1 mm and at least 3 mm;
    * ``adc_r2`` = ADC × exp(N(0, 0.06²)) (ROI placement: about 6% multiplicative error), 3 decimals;
    * ``birads_margin_r2``: reader 1's margin kept with probability 0.8, else one of the other
      margin categories uniformly;
    * ``enhancement_pattern_r2``: kept with probability 0.85, else one of the other two patterns
      uniformly;
    * ``t2_signal_r2`` (ordinal hypo < iso < hyper): kept with probability 0.8, else moved one level
      up or down (equally likely; at an end the only neighbour), so weighted kappa applies.

    Agreement on the 400 patients (seed default): ICC(2,1) 0.99 for size, 0.93 for ADC; kappa
    0.73 for margin and 0.76 for enhancement pattern (tested).

    Returns
    -------
    DataFrame with ``patient_id`` and the columns of :data:`DEMO_READER_COLUMNS`' values; the
    categorical ones share the demo cohort's categories (``t2_signal_r2`` ordered).
    """
    demo = load_demo()
    rng = np.random.default_rng(seed)
    n = len(demo)
    out = pd.DataFrame({"patient_id": demo["patient_id"].astype(str).to_numpy()})
    size = demo["tumor_size_mm"].to_numpy(dtype=float) + rng.normal(0.5, 2.0, n)
    out["tumor_size_mm_r2"] = np.round(np.maximum(size, 3.0), 1)
    out["adc_r2"] = np.round(demo["adc"].to_numpy(dtype=float) * np.exp(rng.normal(0.0, 0.06, n)), 3)

    def relabel(col: str, keep: float) -> pd.Categorical:
        cats = list(demo[col].cat.categories)
        codes = demo[col].cat.codes.to_numpy().copy()
        change = rng.random(n) >= keep
        shift = rng.integers(1, len(cats), n)  # another category, uniformly
        codes = np.where(change & (codes >= 0), (codes + shift) % len(cats), codes)
        return pd.Categorical.from_codes(codes, categories=cats)

    out["birads_margin_r2"] = relabel("birads_margin", 0.8)
    out["enhancement_pattern_r2"] = relabel("enhancement_pattern", 0.85)
    cats = list(demo["t2_signal"].cat.categories)
    codes = demo["t2_signal"].cat.codes.to_numpy().copy()
    change = rng.random(n) >= 0.8
    step = np.where(rng.random(n) < 0.5, -1, 1)
    moved = codes + step
    moved = np.where(moved < 0, 1, np.where(moved > len(cats) - 1, len(cats) - 2, moved))
    codes = np.where(change & (codes >= 0), moved, codes)
    out["t2_signal_r2"] = pd.Categorical.from_codes(codes, categories=cats, ordered=True)
    return out


@functools.lru_cache(maxsize=2)
def _load_demo_cached(validate: bool) -> pd.DataFrame:
    from .validate import validate_cohort

    path = _demo_csv_path()
    if not path.is_file():
        raise InputError(f"the demo cohort file {path} is missing from the installation; reinstall her2stats")
    raw = pd.read_csv(path, dtype={"patient_id": str, "her2_ihc": str, "grade": str, "her2_ish": str})
    if not validate:
        return raw
    clean, report = validate_cohort(raw)
    clean.attrs["validation"] = report.to_frame().to_dict("records")
    clean.attrs["synthetic"] = True
    return clean


# ----------------------------------------------------------------------------------------------
# images
# ----------------------------------------------------------------------------------------------
def _smooth_field(rng: np.random.Generator, shape_zyx: tuple[int, int, int], sigma_vox: tuple[float, float, float]) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    field = gaussian_filter(rng.standard_normal(shape_zyx), sigma_vox, mode="wrap")
    return field / (field.std() + 1e-12)


@functools.lru_cache(maxsize=1)
def _grid() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    nx, ny, nz = IMAGE_SHAPE_XYZ
    return tuple(a.astype(np.float32) for a in np.meshgrid(np.arange(nz), np.arange(ny), np.arange(nx), indexing="ij"))


def _patient_volumes(row: pd.Series, index: int, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Volumes (z, y, x) float32 for each sequence and the uint8 tumour mask of one patient."""
    rng = np.random.default_rng([seed, index])
    nx, ny, nz = IMAGE_SHAPE_XYZ
    sx, sy, sz = IMAGE_SPACING_MM
    z, y, x = _grid()

    # breast: a half-ellipse against the chest wall (air above), fibroglandular texture inside
    breast = ((x - nx / 2) / (0.48 * nx)) ** 2 + (y / (0.95 * ny)) ** 2 <= 1.0
    gland = (_smooth_field(rng, (nz, ny, nx), (0.7, 3.0, 3.0)) > 0.3) & breast

    # tumour: ellipsoid with lobulation, diameter from the clinical size (capped to the FOV)
    diam_mm = float(np.clip(row["tumor_size_mm"], 8.0, 30.0))
    r_xy = diam_mm / 2 / sx
    r_z = max(diam_mm / 2 / sz, 1.5)
    cx, cy, cz = nx / 2 + rng.uniform(-6, 6), ny * 0.45 + rng.uniform(-5, 5), nz / 2 + rng.uniform(-1.5, 1.5)
    lob = _smooth_field(rng, (nz, ny, nx), (1.0, 4.0, 4.0))
    irregular = 0.25 if row["birads_shape"] == "irregular" else 0.08
    rad = np.sqrt(((x - cx) / r_xy) ** 2 + ((y - cy) / r_xy) ** 2 + ((z - cz) / r_z) ** 2)
    mask = (rad <= 1.0 + irregular * lob) & breast
    if mask.sum() < 20:  # very small draws: fall back to the plain ellipsoid
        mask = (rad <= 1.0) & breast

    her2 = float(row["her2_positive"])
    latent = 0.9 * her2 + rng.standard_normal()
    texture = _smooth_field(rng, (nz, ny, nx), (0.5, 1.2, 1.2))
    heterogeneity = max(0.06 + 0.035 * latent, 0.02)
    wash_in = 0.9 + 0.18 * latent + 0.1 * rng.standard_normal()
    wash_out = -0.06 * latent + 0.05 * rng.standard_normal()  # post2 relative to post1
    scale = {"A": 1.0, "B": 0.85, "C": 1.15}.get(str(row["center"]), 1.0) * rng.uniform(0.95, 1.05)

    base_t1 = np.where(breast, np.where(gland, 160.0, 320.0), 0.0)
    base_t2 = np.where(breast, np.where(gland, 210.0, 260.0), 0.0)
    base_pre = np.where(breast, np.where(gland, 110.0, 60.0), 0.0)  # fat-suppressed
    tum = mask.astype(float)
    t1 = base_t1 * (1 - tum) + tum * 175.0 * (1 + 0.5 * heterogeneity * texture)
    t2 = base_t2 * (1 - tum) + tum * (230.0 + 12.0 * latent) * (1 + 0.5 * heterogeneity * texture)
    pre = base_pre * (1 - tum) + tum * 120.0 * (1 + 0.3 * heterogeneity * texture)
    bpe = 0.12 * gland
    enh1 = np.clip(wash_in * (1 + heterogeneity * 2.5 * texture), 0.05, None)
    post1 = pre * (1 + bpe + tum * enh1)
    post2 = pre * (1 + 1.3 * bpe + tum * np.clip(enh1 * (1 + wash_out), 0.05, None))

    volumes = {}
    for name, vol in zip(SEQUENCES, (t1, t2, pre, post1, post2)):
        sigma = 4.0
        # Rician magnitude noise, as in magnitude MR images
        real = (scale * vol).astype(np.float32) + sigma * rng.standard_normal(vol.shape, dtype=np.float32)
        imag = sigma * rng.standard_normal(vol.shape, dtype=np.float32)
        volumes[name] = np.sqrt(real * real + imag * imag)
    return volumes, mask.astype(np.uint8)


@functools.lru_cache(maxsize=4)
def _nifti_header(dtype_str: str) -> bytes:
    """The 352-byte single-file NIfTI-1 header (header + empty extension flag) nibabel writes for a
    demo volume of this dtype; cached because nibabel's image construction dominates the run time."""
    import nibabel as nib

    affine = np.diag([*IMAGE_SPACING_MM, 1.0])
    img = nib.Nifti1Image(np.zeros(IMAGE_SHAPE_XYZ, dtype=np.dtype(dtype_str)), affine)
    img.header.set_xyzt_units("mm", "sec")
    img.header.set_qform(affine, code=1)
    img.header.set_sform(affine, code=1)
    raw = img.to_bytes()
    return raw[: len(raw) - int(np.prod(IMAGE_SHAPE_XYZ)) * np.dtype(dtype_str).itemsize]


def _nifti_bytes(array_zyx: np.ndarray, dtype: type) -> bytes:
    """gzip-compressed single-file NIfTI-1 bytes of a (z, y, x) demo volume.

    Byte-identical to ``nibabel.Nifti1Image(array_xyz, affine).to_bytes()`` with the header of
    :func:`_nifti_header` (a test checks it); gzip uses a fixed mtime and no file name, so the same
    volume always gives the same bytes and checksums are meaningful.
    """
    dt = np.dtype(dtype).newbyteorder("<")
    data = np.ascontiguousarray(array_zyx.astype(dt))  # C order of (z, y, x) == Fortran order of (x, y, z)
    return gzip.compress(_nifti_header(dt.str) + data.tobytes(), compresslevel=1, mtime=0)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def default_image_root() -> Path:
    """``$HER2STATS_CACHE/demo_images`` when set, else ``~/.cache/her2stats/demo_images``."""
    from ..paths import cache_root

    return cache_root() / "demo_images"


def demo_images(root: str | os.PathLike | None = None, n: int | None = None, *, seed: int = DEMO_SEED) -> pd.DataFrame:
    """Write (or reuse) the synthetic demo MRI volumes and masks; return their index.

    Parameters
    ----------
    root : output folder (default ``~/.cache/her2stats/demo_images``, or
        ``$HER2STATS_CACHE/demo_images``). Files go to ``<root>/<patient_id>/<sequence>.nii.gz``
        and ``<root>/<patient_id>/mask.nii.gz``.
    n : the first ``n`` demo patients (None: all 400). Patient ``i`` always gets the same volumes,
        whatever ``n`` is (its random stream is seeded by ``(seed, i)``).
    seed : image seed.

    Returns
    -------
    DataFrame
        One row per patient and sequence: patient_id, sequence (T1, T2, DCE_pre, DCE_post1,
        DCE_post2), image_path, mask_path. Sequences of a patient share the mask (co-registered).

    Notes
    -----
    Idempotent: ``<root>/manifest.json`` records the sha256 of every file written; a file that
    exists with the recorded checksum is not regenerated (a damaged or missing file is). Volumes
    are int16 (images) and uint8 (masks), 64 x 64 x 16 voxels at 0.7 x 0.7 x 3.0 mm. All 400
    patients take about 100 MB and well under 30 s.
    """
    clinical = load_demo()
    if n is not None:
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise InputError(f"n must be a positive number of patients, got {n!r}")
        clinical = clinical.iloc[: int(n)]
    out_root = Path(root).expanduser() if root is not None else default_image_root()
    out_root.mkdir(parents=True, exist_ok=True)
    # two runs (e.g. two `her2stats demo`) generate the images one after the other: the second
    # waits, then finds them up to date; temporary names are unique per process anyway
    with FileLock(out_root / ".lock", what=f"the demo images in {out_root}", wait=600.0):
        return _demo_images_locked(clinical, out_root, seed)


def _demo_images_locked(clinical: pd.DataFrame, out_root: Path, seed: int) -> pd.DataFrame:
    manifest_path = out_root / "manifest.json"
    stamp = {"generator": IMAGE_GENERATOR_VERSION, "seed": int(seed), "shape_xyz": list(IMAGE_SHAPE_XYZ),
             "spacing_mm": list(IMAGE_SPACING_MM)}
    manifest: dict = {}
    if manifest_path.is_file():
        try:
            manifest = json.loads(manifest_path.read_text())
        except (OSError, json.JSONDecodeError):
            manifest = {}
    files: dict[str, str] = manifest.get("files", {}) if all(manifest.get(k) == v for k, v in stamp.items()) else {}

    rows = []
    for index, (_, row) in enumerate(clinical.iterrows()):
        pid = str(row["patient_id"])
        folder = out_root / pid
        names = [f"{s}.nii.gz" for s in SEQUENCES] + ["mask.nii.gz"]
        rel = [f"{pid}/{name}" for name in names]
        up_to_date = all((out_root / r).is_file() and files.get(r) == _sha256(out_root / r) for r in rel)
        if not up_to_date:
            folder.mkdir(parents=True, exist_ok=True)
            number = int(pid.split("-")[-1]) - 1
            volumes, mask = _patient_volumes(row, number, seed)
            payloads = [_nifti_bytes(np.clip(np.round(volumes[s]), 0, 32767), np.int16) for s in SEQUENCES]
            payloads.append(_nifti_bytes(mask, np.uint8))
            for r, payload in zip(rel, payloads):
                atomic_write(out_root / r, payload)  # a crash never leaves a half-written volume
                files[r] = hashlib.sha256(payload).hexdigest()
        for s in SEQUENCES:
            rows.append({"patient_id": pid, "sequence": s, "image_path": str(folder / f"{s}.nii.gz"),
                         "mask_path": str(folder / "mask.nii.gz")})
    atomic_write(manifest_path, json.dumps({**stamp, "files": dict(sorted(files.items()))}, indent=0))
    return pd.DataFrame(rows, columns=["patient_id", "sequence", "image_path", "mask_path"])
