"""``her2stats audit FILE... [--out REPORT]``: audit published tables from the command line.

FILE is a table file (YAML or CSV, see ``SCHEMA.md``) or a plain-text article (``.txt``). An
article is read for its tables and an encoding is proposed (a commented YAML draft written beside
it, or to ``--proposal``); it is audited only once the user confirms it (``--yes``, or answering
the prompt) -- the draft is a reading of the text, not a checked encoding.

Several table files are grouped by paper (their ``seed``): each paper's rows are compared across
its files (the same comparison printed twice) and the report has one page per paper. No
statistics in here: it calls :func:`her2stats.audit.audit_papers`.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ..cli_errors import GuardedCommand
from ..errors import InputError

__all__ = ["audit", "app"]


def _propose(article: Path, proposal: Optional[Path], console) -> Path:
    from .report import write_atomic
    from .text import proposal_yaml, propose_from_file

    tables, draft, checks = propose_from_file(article)
    out = proposal or article.with_suffix(".audit.yaml")
    write_atomic(out, proposal_yaml(draft, checks))
    console.print(f"[bold]{article.name}[/bold]: {len(tables)} table(s) found: "
                  + ", ".join(f"{t.name} ({t.layout}, line {t.line})" for t in tables), soft_wrap=True)
    for spec in draft["tables"]:
        what = f"skip: {spec['skip']}" if "skip" in spec else f"{len(spec['rows'])} row(s) proposed"
        console.print(f"  {spec['table']}{' / ' + spec['section'] if spec.get('section') else ''}: {what}")
    console.print(f"{len(checks)} point(s) to check; proposed encoding written: {out}", soft_wrap=True)
    return out


def audit(files: List[Path] = typer.Argument(..., help="Table files (YAML or CSV; see her2stats/audit/SCHEMA.md) "
                                                       "or plain-text articles (.txt)."),
          out: Optional[Path] = typer.Option(None, "--out", "-o",
                                             help="Write the report: .html (one paper), a folder (index + one page "
                                                  "per paper) or .csv (tidy verdicts)."),
          proposal: Optional[Path] = typer.Option(None, "--proposal",
                                                  help="Where to write the encoding proposed for a .txt article "
                                                       "(default: beside it, ARTICLE.audit.yaml)."),
          yes: bool = typer.Option(False, "--yes", "-y",
                                   help="Audit a proposed encoding without asking (it is still only a draft).")
          ) -> None:
    """Recompute every derivable number of published tables; one verdict per number, one page per paper."""
    from rich.console import Console
    from rich.table import Table

    from .core import audit_papers
    from .report import write_atomic, write_report

    console = Console()
    # errors (InputError...) end the command with one line and exit code 2: her2stats.cli_errors
    sources: list[Path] = []
    for f in files:
        if f.suffix.lower() == ".txt":
            if len(files) > 1 and proposal is not None:
                raise InputError("--proposal names one file: give one article at a time")
            draft = _propose(f, proposal, console)
            if not (yes or (console.is_terminal and typer.confirm(
                    "Audit the proposed encoding now (check it against the paper first)?", default=False))):
                console.print(f"Check {draft}, then run: her2stats audit {draft}", soft_wrap=True)
                continue
            sources.append(draft)
        else:
            sources.append(f)
    if not sources:
        return
    results = audit_papers(sources)
    for paper, result in results.items():
        counts = result.counts
        k = len(result.contradictions())
        console.print(f"[bold]{result.title}[/bold]: " + ", ".join(f"{n} {v}" for v, n in counts.items())
                      + f"; {k} contradiction{'s' if k != 1 else ''} between tables", soft_wrap=True)
        worst = result.findings().head(15)
        if len(worst):
            tab = Table("table", "row", "quantity", "reported", "verdict", "closest", title="Worst findings")
            for r in worst.itertuples():
                closest = (f"{r.closest_candidate} {r.closest_value:.4g}" if r.closest_candidate and r.closest_value == r.closest_value
                           else r.closest_candidate or r.flag or "")
                tab.add_row(r.table, r.row, " ".join(x for x in (r.quantity, r.level, r.group) if x), r.reported,
                            r.verdict, closest)
            console.print(tab)
        for c in result.contradictions().head(10).itertuples():
            console.print(f"  contradiction ({c.key}, {c.quantity}): {c.table_a} / {c.row_a} prints {c.reported_a}; "
                          f"{c.table_b} / {c.row_b} prints {c.reported_b}", soft_wrap=True)
    if out is None:
        return
    if out.suffix.lower() == ".csv":
        import pandas as pd

        frame = pd.concat([r.frame for r in results.values()], ignore_index=True)
        write_atomic(out, frame.to_csv(index=False))
        written = [out]
    elif out.suffix.lower() in (".html", ".htm") or out.suffix == "":
        written = write_report(results, out)
    else:
        raise InputError(f"--out must end in .html or .csv, or name a folder; got {out}")
    console.print("written: " + ", ".join(str(w) for w in written), soft_wrap=True)


app = typer.Typer(add_completion=False)
app.command(name="audit", cls=GuardedCommand)(audit)

if __name__ == "__main__":  # pragma: no cover
    app()
