"""``her2stats`` command line: doctor, demo, and the study commands (no statistics in here)."""
from __future__ import annotations

import importlib
import importlib.metadata as md
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

            for w in available_weights().itertuples():
                where = f"{w.source}: {w.path}" if w.path else w.source
                add(f"weights: {w.backbone}", bool(w.offline), False,
                    where if w.offline else f"not available offline ({w.source})",
                    "put the checkpoint in the timm/huggingface hub cache or pass pretrained=<path>")
        except Exception as exc:
            add("weights", False, False, f"cannot list: {exc}")
    from .paths import cache_root

    cache = cache_root()
    add("cache dir", True, False, f"{cache} ({_human(_dir_size(cache))})")
    return rows


@app.command()
def doctor() -> None:
    """Check R, R packages, rpy2, torch/timm, CUDA, offline weights and the cache; exit 1 if a
    required piece is missing (the fix command is printed)."""
    rows = doctor_checks()
    table = Table(title="her2stats doctor")
    table.add_column("check", overflow="fold")
    table.add_column("status", no_wrap=True)
    table.add_column("detail", overflow="fold")
    table.add_column("fix", overflow="fold")
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


# ---------------------------------------------------------------------------------- studies
def _template(name: str = "her2_study.qmd") -> Path:
    """The Quarto template: ``reports/`` of a source checkout, else the copy shipped in the package."""
    for base in (Path(__file__).resolve().parents[1] / "reports", Path(__file__).resolve().parent / "reports"):
        if (base / name).is_file():
            return base / name
    from .errors import ConfigError

    raise ConfigError(f"report template {name} not found (looked in reports/ and her2stats/reports/)")


def run_report(config: Path, out: Optional[Path] = None, fast: bool = False, render: bool = True) -> dict:
    """Run the study with a progress bar, render the report, print where everything is.
    Returns {"results": StudyResults, "html": Path | None}."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from .errors import ConfigError, InputError
    from .reporting.config import load_config
    from .reporting.render import render_report
    from .reporting.study import run_study

    try:
        cfg = load_config(config)
    except ConfigError as exc:
        console.print(f"[red]config error[/red]\n{exc}")
        raise typer.Exit(code=2)
    outdir = (out if out is not None else cfg.resolve(cfg.output_dir)).resolve()
    stages = ["cohort", "image features", "Table 1", "models", "model zoo", "discrimination and calibration",
              "odds ratios and nomogram", "survival", "figures", "done"]
    with Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), TimeElapsedColumn(),
                  console=console, transient=False) as bar:
        task = bar.add_task("starting", total=len(stages) + (1 if render else 0))

        def step(msg: str) -> None:
            done = stages.index(msg) + 1 if msg in stages else 0
            bar.update(task, description=msg, completed=done)

        try:
            res = run_study(cfg, fast=fast, outdir=outdir, progress=step)
        except (InputError, ConfigError) as exc:
            console.print(f"[red]{type(exc).__name__}[/red]: {exc}")
            raise typer.Exit(code=2)
        html = None
        if render:
            bar.update(task, description="rendering report")
            rendered = render_report(_template(), outdir / "report.html",
                                     params={"config": str(Path(config).resolve()), "outdir": str(outdir), "fast": fast})
            html = rendered.html
            bar.update(task, description="report rendered", completed=len(stages) + 1)
    summary = Table(title=f"{cfg.name}: where everything is")
    summary.add_column("what")
    summary.add_column("path")
    if html is not None:
        summary.add_row("report (HTML)", str(html))
    summary.add_row("tables (HTML/CSV/TeX/DOCX/XLSX)", f"{outdir / 'tables'}  ({len(res.tables)} tables)")
    summary.add_row("figures (PNG 300 dpi/PDF/SVG)", f"{outdir / 'figures'}  ({len(res.figures)} figures)")
    for name in ("predictions.csv", "numbers.json", "flow.csv", "methods.md"):
        summary.add_row(name, str(outdir / name))
    console.print(summary)
    perf = res.summary()
    if len(perf):
        t = Table(title="AUC (95% CI)")
        t.add_column("model")
        cohorts = list(dict.fromkeys(perf["cohort"]))
        for c in cohorts:
            t.add_column(c)
        for m, part in perf.groupby("model", sort=False):
            vals = {r.cohort: f"{r.auc:.3f} ({r.ci_low:.3f}-{r.ci_high:.3f})" for r in part.itertuples()}
            t.add_row(m, *[vals.get(c, "") for c in cohorts])
        console.print(t)
    excluded = int(res.flow["n_excluded"].sum())
    console.print(f"{len(res.cohort)} patients analysed, {excluded} excluded (see the cohort flow).")
    return {"results": res, "html": html}


@app.command()
def report(config: Path = typer.Argument(..., help="study config (YAML)"),
           out: Optional[Path] = typer.Option(None, "--out", "-o", help="output folder (default: the config's output_dir)"),
           fast: bool = typer.Option(False, "--fast", help="smoke-test run: fewer bootstrap repetitions and patients"),
           no_render: bool = typer.Option(False, "--no-render", help="tables and figures only, no HTML report")) -> None:
    """Run a study end to end (cohort -> features -> selection -> models -> statistics -> tables,
    figures) and render the Quarto report (quarto when on PATH, else nbclient + pandoc)."""
    run_report(config, out, fast=fast, render=not no_render)


@app.command()
def demo(out: Path = typer.Option(Path("out/demo"), "--out", "-o", help="output folder"),
         fast: bool = typer.Option(False, "--fast", help="smoke-test run: fewer bootstrap repetitions and patients")) -> None:
    """Run the demo study (synthetic 3-centre cohort with MRI volumes) and render its report."""
    config = _template("demo.yaml")
    result = run_report(config, out, fast=fast, render=True)
    console.print(f"[green]Demo report:[/green] {result['html']}")


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
