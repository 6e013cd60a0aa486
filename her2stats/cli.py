"""``her2stats`` command line: doctor, demo, and the study commands (no statistics in here)."""
from __future__ import annotations

import shutil  # noqa: F401  (tests patch cli.shutil.which to simulate a machine without R)
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from .cli_errors import GuardedGroup, set_debug

# GuardedGroup: every command's error is one line on stderr and exit code 2 (see cli_errors)
app = typer.Typer(add_completion=False, no_args_is_help=True, cls=GuardedGroup,
                  help="HER2-status prediction studies: features, models, R-validated statistics, reports.")
console = Console()


def _print_version(value: bool) -> None:
    if not value:
        return
    from .doctor import versions

    for name, v in versions().items():
        typer.echo(f"{name} {v or 'not installed'}")
    raise typer.Exit()


_SHOWN_WARNINGS: set[tuple[str, str]] = set()


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings as one line each (``warning: ...``), printed through the console so they appear
    above a running progress bar; the message says what happened and what to do. A text already
    shown in this run is not repeated (two models can meet the same separated resamples)."""
    from rich.markup import escape

    label = "R warning" if category.__name__ == "RWarning" else "warning"
    key = (label, str(message))
    if key in _SHOWN_WARNINGS:
        return
    _SHOWN_WARNINGS.add(key)
    console.print(f"[yellow]{label}:[/yellow] {escape(str(message))}", highlight=False)


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                       help="print the her2stats, Python, R, rpy2, torch and timm versions"),
          debug: bool = typer.Option(False, "--debug", help="show the full traceback when a command fails")) -> None:
    """her2stats command line."""
    import warnings

    warnings.showwarning = _show_warning
    set_debug(debug)


def doctor_checks(full: bool = False) -> list[dict]:
    """Everything ``her2stats doctor`` checks, as rows (name, ok, required, detail, fix); see
    :mod:`her2stats.doctor`."""
    from .doctor import doctor_checks as checks

    return checks(full=full)


@app.command()
def doctor(full: bool = typer.Option(False, "--full", help="also load every R package and import torch "
                                     "to check that CUDA initialises (slower)")) -> None:
    """Check R, R packages, rpy2, Python packages, the Jupyter kernel, pandoc/Chromium/Quarto,
    CUDA, offline weights and the cache; exit 1 if a required piece is missing (the fix command is
    printed)."""
    from .doctor import print_doctor

    bad = print_doctor(doctor_checks(full=full), console)
    if bad:
        console.print(f"[red]{bad} required check(s) failed.[/red] Run `make install` or the fix commands above.")
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


def run_report(config: Path, out: Optional[Path] = None, fast: bool = False, render: bool = True,
               formats: Optional[str] = None, style: Optional[str] = None, command: str = "report",
               scheduler: Optional[str] = None) -> dict:
    """Run the study with a progress bar, render the report, print where everything is.
    ``formats`` ("html,docx,pdf") and ``style`` override the config's ``report:`` section,
    ``scheduler`` its ``scheduler:`` key (where the bootstraps and feature extraction run).
    Returns {"results": StudyResults, "html": Path | None, "reports": {format: Path}}.

    The study and its rendered reports are written into a temporary sibling of the output folder
    that replaces it only when all are complete (:mod:`her2stats.atomic`); a second run into the
    same folder is refused while this one holds its lock. Errors end the command with one line
    and exit code 2 (:mod:`her2stats.cli_errors`)."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from .atomic import atomic_output
    from .errors import ConfigError
    from .reporting.config import load_config
    from .reporting.render import chromium as _chromium
    from .reporting.render import parse_formats, render_report, start_report_kernel
    from .reporting.study import relocate as _relocate
    from .reporting.study import run_study
    from .schedulers import connected

    overrides = {"report": {"style": style}} if style else None
    if scheduler is not None:
        overrides = {**(overrides or {}), "scheduler": scheduler}
    cfg = load_config(config, overrides=overrides)
    fmts = parse_formats(formats if formats is not None else cfg.report.formats)
    if render and "pdf" in fmts and _chromium() is None:  # say so before the study runs, not after
        raise ConfigError("PDF output needs Chromium: apt-get install chromium (make install does it), "
                          "or leave pdf out of --format")
    outdir = (out if out is not None else cfg.resolve(cfg.output_dir)).resolve()
    stages = ["cohort", "image features", "Table 1", "models", "model zoo", "discrimination and calibration",
              "odds ratios and nomogram", "survival", "figures", "done"]
    with atomic_output(outdir, meta={"command": f"her2stats {command}", "config": str(Path(config).resolve()),
                                     "rendered": sorted(fmts) if render else []}) as tx, \
            connected(cfg.scheduler) as sched, \
            Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), TimeElapsedColumn(),
                     console=console, transient=False) as bar:
        task = bar.add_task("starting", total=len(stages) + (1 if render else 0))
        kernel: list = []  # the report's kernel, started as the last stage draws the figures

        def step(msg: str) -> None:
            done = stages.index(msg) + 1 if msg in stages else 0
            bar.update(task, description=msg, completed=done)
            if render and msg == "figures" and not kernel:
                # it starts and imports while the figures are drawn (the worker cores are free then)
                kernel.append(start_report_kernel(tx.path))

        try:
            res = run_study(cfg, fast=fast, outdir=tx, progress=step, scheduler=sched)
        except BaseException:
            if kernel and kernel[0] is not None:
                kernel[0].close()
            raise
        html, reports = None, {}
        if render:
            bar.update(task, description="rendering report")
            rendered = render_report(_template(), tx.path / "report.html", formats=fmts,
                                     params={"config": str(Path(config).resolve()), "outdir": str(tx.path), "fast": fast,
                                             "overrides": overrides}, kernel=kernel[0] if kernel else None)

            def final(p: Path) -> Path:  # where the file is once the staging folder is swapped in
                return outdir / Path(p).relative_to(tx.path)

            html = final(rendered.html) if rendered.html is not None else None
            reports = {fmt: final(p) for fmt, p in rendered.outputs.items()}
            bar.update(task, description="report rendered", completed=len(stages) + 1)
    res = _relocate(res, outdir)
    summary = Table(title=f"{cfg.name}: where everything is")
    summary.add_column("what")
    summary.add_column("path")
    for fmt, path in reports.items():
        summary.add_row(f"report ({fmt.upper()})", str(path))
    summary.add_row("tables (HTML/CSV/TeX/DOCX/XLSX)", f"{outdir / 'tables'}  ({len(res.tables)} tables)")
    summary.add_row(f"figures ({'/'.join(f.upper() for f in cfg.report.figure_formats)}, {cfg.report.style} style)",
                    f"{outdir / 'figures'}  ({len(res.figures)} figures)")
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
    return {"results": res, "html": html, "reports": reports}


SCHEDULER_HELP = ("where the bootstraps and the feature extraction run: sync (in process), threads, processes or "
                  "a Dask scheduler address tcp://host:8786 (default: the config's scheduler); changes no number")


@app.command()
def report(config: Path = typer.Argument(..., help="study config (YAML)"),
           out: Optional[Path] = typer.Option(None, "--out", "-o", help="output folder (default: the config's output_dir)"),
           fast: bool = typer.Option(False, "--fast", help="smoke-test run: fewer bootstrap repetitions and patients"),
           no_render: bool = typer.Option(False, "--no-render", help="tables and figures only, no report"),
           format: Optional[str] = typer.Option(None, "--format", "-f",
                                                help="report formats, e.g. html,docx,pdf (default: the config's "
                                                     "report.formats)"),
           style: Optional[str] = typer.Option(None, "--style",
                                               help="journal figure style: default, radiology, nature (default: the "
                                                    "config's report.style)"),
           scheduler: Optional[str] = typer.Option(None, "--scheduler", help=SCHEDULER_HELP)) -> None:
    """Run a study end to end (cohort -> features -> selection -> models -> statistics -> tables,
    figures) and render the Quarto report as HTML, Word and/or PDF (quarto when on PATH, else
    nbclient + pandoc; PDF by headless Chromium).

    Steps, in order (the config section that runs each one; a section left out skips its step):

    1. cohort, splits: load, subset, required columns, outcome, split by centre or at random; every exclusion counted.
    2. table1, agreement: Table 1 by outcome, by cohort and by other columns (table1.by), analysed vs excluded patients; inter-reader ICC / kappa.
    3. imaging, harmonization: preprocessing (motion correction, registration, resampling, normalisation), frozen backbone features of the ROI (cached), ICC filter against a second segmentation, ComBat, PCA, t-test, correlation filter, LASSO, Deep Score; all fitted on development only.
    4. clinical, zoo: logistic model with its selection rule (none, univariate, lasso, stepwise and their chains, p-value filters), combined model with the Deep Score; model zoo tuned by nested CV (zoo.features: selected re-selects inside each outer fold).
    4a. segmentation: a trained 2-D U-Net segmentation network (timm encoder, Dice + BCE, checkpoint on an inner split of the development patients), out-of-fold masks for development and the all-development network's masks for the test cohorts, Dice/IoU/HD95 per cohort; image_models with masks: predicted take their features from its masks.
    4b. image_models, fusion: extra frozen-feature image models (any backbone, layer and sequences; selection steps univariate, correlation, chi2, mutual_info, cluster, lasso, pca; logistic or fold-ensemble classifier), refitted in every CV fold; late fusion of any models by mean or logistic stacking on out-of-fold predictions. A model whose selection keeps no feature is left out with a note, as is every fusion, subgroup analysis or predicted-status survival naming it.
    4c. networks: trained image classifiers (any timm model or a 3-D ResNet-18; freeze, augmentation, Mixup, early stopping on an inner split of each training fold), out-of-fold on the development folds, then the final network or the fold networks averaged for the test cohorts; training curves and Grad-CAM.
    5. validation: per model and cohort AUC (DeLong CI), development Youden cut-off with sensitivity, specificity, PPV, NPV, accuracy, F1; calibration, Hosmer-Lemeshow, bootstrap validate/calibrate; DeLong comparisons; decision curves.
    6. clinical, survival, report: OR table and nomogram; Kaplan-Meier, log-rank, stepwise Cox, PH test, C-index, also by a model's predicted class in the test cohorts (survival.predicted_by); figures and Grad-CAM.

    The five seed papers as configs: reports/seeds/seed000-004.yaml (and seed001_mri.yaml, seed 001's 3-D MRI arm); every seed step and what runs it: docs/seed_coverage.md."""
    run_report(config, out, fast=fast, render=not no_render, formats=format, style=style, scheduler=scheduler)


@app.command()
def demo(out: Path = typer.Option(Path("out/demo"), "--out", "-o", help="output folder"),
         fast: bool = typer.Option(False, "--fast", help="smoke-test run: fewer bootstrap repetitions and patients"),
         format: Optional[str] = typer.Option(None, "--format", "-f", help="report formats (default: html,docx,pdf)"),
         style: Optional[str] = typer.Option(None, "--style", help="journal figure style"),
         scheduler: Optional[str] = typer.Option(None, "--scheduler", help=SCHEDULER_HELP)) -> None:
    """Run the demo study (synthetic 3-centre cohort with MRI volumes) and render its report."""
    config = _template("demo.yaml")
    result = run_report(config, out, fast=fast, render=True, formats=format, style=style,
                        command="demo", scheduler=scheduler)
    for fmt, path in result["reports"].items():
        console.print(f"[green]Demo report ({fmt.upper()}):[/green] {path}")


@app.command()
def extract(cases: Path = typer.Argument(..., help="case table (CSV): patient_id, sequence, image_path[, mask_path]; "
                                                   "relative paths are read from the table's folder"),
            out: Path = typer.Option(..., "--out", "-o", help="features CSV to write (one row per case)"),
            backbone: str = typer.Option("efficientnet_lite0", help="timm backbone"),
            pretrained: str = typer.Option("true", help="'true' (ImageNet), 'false' (seeded random) or a checkpoint path"),
            margin: Optional[float] = typer.Option(5.0, help="ROI margin (pixels) around the mask"),
            whole_image: bool = typer.Option(False, "--whole-image", help="no ROI crop (cases without masks)"),
            sequence: Optional[list[str]] = typer.Option(None, "--sequence", help="sequence every case must have "
                                                                                  "(repeat; default: all in the table)"),
            cache_dir: Optional[Path] = typer.Option(None, help="feature cache folder (default: the her2stats cache)"),
            no_cache: bool = typer.Option(False, "--no-cache", help="compute everything, write no cache"),
            batch_size: int = typer.Option(32, help="slices per forward pass (part of the cache key)"),
            skip_failed: bool = typer.Option(False, "--skip-failed", help="leave out cases that fail (listed in "
                                                                          "<out>.failures.csv) instead of stopping"),
            scheduler: Optional[str] = typer.Option(None, "--scheduler", help="where the cases are extracted: sync (in "
                                                    "process), threads, processes or a Dask scheduler address "
                                                    "tcp://host:8786; changes no feature")) -> None:
    """Frozen deep features of every case's ROI (DeepFeatureExtractor), cached by content hash."""
    from .atomic import atomic_write
    from .errors import InputError
    from .features import DeepFeatureExtractor
    from .files import read_table
    from .paths import cache_root
    from .schedulers import connected

    table = read_table(cases, "case table", InputError)
    base = Path(cases).resolve().parent
    for col in ("image_path", "mask_path"):
        if col in table:
            table[col] = [p if not isinstance(p, str) or Path(p).is_absolute() else str(base / p) for p in table[col]]
    weights: bool | str = {"true": True, "false": False}.get(pretrained.strip().lower(), pretrained)
    cache = None if no_cache else (cache_dir if cache_dir is not None else cache_root() / "features")
    fx = DeepFeatureExtractor(backbone, pretrained=weights, margin=None if whole_image else margin,
                              on_border="clip", sequences=list(sequence) if sequence else None, cache_dir=cache,
                              batch_size=batch_size, on_error="skip" if skip_failed else "raise",
                              progress=sys.stderr.isatty())
    with connected(scheduler) as sched:
        X = fx.set_params(scheduler=sched).fit_transform(table)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, X.to_csv())
    if len(fx.failures_):
        atomic_write(out.with_name(out.stem + ".failures.csv"), fx.failures_.to_csv(index=False))
    st = fx.cache_stats_
    console.print(f"{len(X)} case(s) x {X.shape[1]} features -> {out}  (cache: {st['hits']} read, {st['writes']} "
                  f"written{', %d not cached' % st['not_cached'] if st.get('not_cached') else ''}; "
                  f"{len(set(fx.failures_['patient_id']))} case(s) failed)")


def main() -> None:  # pragma: no cover
    app(prog_name="her2stats")


if __name__ == "__main__":  # pragma: no cover
    main()
