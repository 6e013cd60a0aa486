"""``her2stats audit TABLE [--out FILE]``: audit a published table from the command line.

The lead wires :func:`audit` into the main ``her2stats`` typer app; ``app`` here runs it alone
(``python -m her2stats.audit.cli table.yaml``). No statistics in here: it calls
:func:`her2stats.audit.audit_table`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import InputError

__all__ = ["audit", "app"]


def audit(table: Path = typer.Argument(..., help="Table file (YAML or CSV; see her2stats/audit/SCHEMA.md)."),
          out: Optional[Path] = typer.Option(None, "--out", "-o",
                                             help="Write the report: .html (audit report) or .csv (tidy verdicts).")
          ) -> None:
    """Recompute every derivable number of a published table and give one verdict per number."""
    from rich.console import Console
    from rich.table import Table

    from .core import audit_table

    console = Console()
    try:
        result = audit_table(table)
    except InputError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(code=2) from None
    counts = result.counts
    console.print(f"[bold]{result.title}[/bold]: " + ", ".join(f"{n} {v}" for v, n in counts.items()))
    shown = result.frame[result.frame["verdict"] != "reproduced"]
    if len(shown):
        tab = Table("table", "row", "level", "group", "quantity", "reported", "verdict", "closest", title="Not reproduced / not derivable")
        for r in shown.itertuples():
            closest = (f"{r.closest_candidate} {r.closest_value:.4g}" if r.closest_candidate and r.closest_value == r.closest_value
                       else r.closest_candidate or "")
            tab.add_row(r.table, r.row, r.level, r.group, r.quantity, r.reported, r.verdict, closest)
        console.print(tab)
    if out is not None:
        if out.suffix.lower() == ".csv":
            result.frame.to_csv(out, index=False)
        elif out.suffix.lower() in (".html", ".htm"):
            result.to_html(out)
        else:
            console.print(f"[red]error:[/red] --out must end in .html or .csv, got {out}")
            raise typer.Exit(code=2)
        console.print(f"written: {out}")


app = typer.Typer(add_completion=False)
app.command(name="audit")(audit)

if __name__ == "__main__":  # pragma: no cover
    app()
