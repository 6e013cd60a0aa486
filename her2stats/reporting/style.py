"""One journal figure style for every her2stats figure, and a saver that writes PNG/PDF/SVG."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterable, Iterator

import matplotlib

JOURNAL_RC = {
    "figure.dpi": 100,
    "savefig.dpi": 300,
    "savefig.bbox": "tight",
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.linewidth": 0.8,
    "lines.linewidth": 1.4,
    "pdf.fonttype": 42,  # editable text in PDF (journals ask for it)
    "svg.fonttype": "none",
}

#: colour-blind safe (Okabe-Ito)
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]


@contextlib.contextmanager
def journal_style() -> Iterator[None]:
    """Context manager applying the journal rcParams and the colour-blind-safe cycle."""
    from cycler import cycler

    with matplotlib.rc_context({**JOURNAL_RC, "axes.prop_cycle": cycler(color=PALETTE)}):
        yield


def save_figure(fig, stem: str | Path, formats: Iterable[str] = ("png", "pdf", "svg")) -> list[Path]:
    """Save ``fig`` as ``stem.png`` (300 dpi), ``stem.pdf`` and ``stem.svg``; return the paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in formats:
        path = stem.with_suffix(f".{ext}")
        fig.savefig(path, dpi=300 if ext == "png" else None)
        paths.append(path)
    return paths
