"""``her2stats`` command line: doctor, demo, and the study commands (no statistics in here)."""
from __future__ import annotations

import importlib
import importlib.metadata as md
import os
import shutil
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="HER2-status prediction studies: features, models, R-validated statistics, reports.")
console = Console()


@app.callback()
def _root() -> None:
    """her2stats command line."""


def _cache_dir() -> Path:
    return Path(os.environ.get("HER2STATS_CACHE", Path.home() / ".cache" / "her2stats"))


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


def doctor_checks() -> list[dict]:
    """Everything ``her2stats doctor`` checks, as rows (name, ok, required, detail, fix)."""
    from . import r_bridge
    from .engine import r_available

    rows: list[dict] = []

    def add(name, ok, required, detail, fix=""):
        rows.append({"name": name, "ok": bool(ok), "required": required, "detail": detail, "fix": fix})

    apt_all = ("apt-get install -y r-base-core r-cran-rms r-cran-proc r-cran-survival r-cran-glmnet "
               "r-cran-psych r-cran-mass")
    add("python", True, True, sys.version.split()[0])
    r_bin = shutil.which("R")
    add("R", r_bin is not None, True, r_bin or "not found", apt_all)
    try:
        rpy2_version = md.version("rpy2")
        ok = rpy2_version.startswith("3.5.")
        add("rpy2", ok, True, rpy2_version + ("" if ok else " (need >=3.5.17,<3.6 for R 4.2)"),
            "pip install 'rpy2>=3.5.17,<3.6'")
    except md.PackageNotFoundError:
        add("rpy2", False, True, "not installed", "pip install 'rpy2>=3.5.17,<3.6'")
    if r_available():
        try:
            add("R version", True, True, r_bridge.r_version())
            pkgs = list(r_bridge.REQUIRED_R_PACKAGES) + list(r_bridge.OPTIONAL_R_PACKAGES)
            versions = r_bridge.call("h2s_package_versions", pkgs)
            for p in pkgs:
                v = versions[p] if versions is not None else None
                required = p in r_bridge.REQUIRED_R_PACKAGES
                fix = r_bridge.install_hint(p)
                add(f"R: {p}", isinstance(v, str) and bool(v), required,
                    v if isinstance(v, str) and v else "not installed"
                    + ("" if required else " (optional: her2stats has its own implementation)"),
                    fix if not fix.startswith("R package") else "")
        except Exception as exc:  # doctor reports, never crashes
            add("R start", False, True, f"{type(exc).__name__}: {exc}", apt_all)
    for mod, required, fix in (("numpy", True, ""), ("pandas", True, ""), ("scipy", True, ""),
                               ("statsmodels", True, ""), ("sklearn", True, ""), ("lifelines", True, ""),
                               ("torch", False, "pip install 'her2stats[deep]'"),
                               ("timm", False, "pip install 'her2stats[deep]'"),
                               ("great_tables", False, "pip install 'her2stats[report]'"),
                               ("radiomics", False, "pip install --no-build-isolation pyradiomics")):
        spec = importlib.util.find_spec(mod)
        if spec is None:
            add(mod, False, required, "not installed", fix)
            continue
        dist = {"sklearn": "scikit-learn", "radiomics": "pyradiomics", "great_tables": "great-tables"}.get(mod, mod)
        try:
            version = md.version(dist)
        except md.PackageNotFoundError:
            version = "installed"
        add(mod, True, required, version)
    if importlib.util.find_spec("torch") is not None:
        import torch

        cuda = torch.cuda.is_available()
        add("CUDA", True, False, f"{torch.cuda.get_device_name(0)} (CUDA {torch.version.cuda})" if cuda
            else "not available (CPU inference)")
        try:
            from .features import available_weights

            weights = available_weights()
            for name, where in weights.items():
                add(f"weights: {name}", bool(where), False, str(where) if where else "not available offline",
                    "put the checkpoint in the timm/huggingface hub cache or pass pretrained=<path>")
        except Exception as exc:
            add("weights", False, False, f"cannot list: {exc}")
    cache = _cache_dir()
    add("cache dir", True, False, f"{cache} ({_human(_dir_size(cache))})")
    return rows


@app.command()
def doctor() -> None:
    """Check R, R packages, rpy2, torch/timm, CUDA, offline weights and the cache; exit 1 if a
    required piece is missing (the fix command is printed)."""
    rows = doctor_checks()
    table = Table(title="her2stats doctor")
    for col in ("check", "status", "detail", "fix"):
        table.add_column(col)
    for r in rows:
        status = "[green]ok[/green]" if r["ok"] else ("[red]MISSING[/red]" if r["required"] else "[yellow]optional[/yellow]")
        table.add_row(r["name"], status, r["detail"], "" if r["ok"] else r["fix"])
    console.print(table)
    bad = [r for r in rows if r["required"] and not r["ok"]]
    if bad:
        console.print(f"[red]{len(bad)} required check(s) failed.[/red] Run `make test` or the fix commands above.")
        raise typer.Exit(code=1)
    console.print("[green]All required checks passed.[/green]")


def _register_subcommands() -> None:
    from .audit.cli import audit

    app.command(name="audit")(audit)


_register_subcommands()


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
