"""Wall time of the demo study (`make demo`), stage by stage, against its 5-minute budget.

Run:  python benchmarks/bench_report.py [--fast] [--cold]

Prints the seconds spent in each run_study stage, the report rendering (nbclient + pandoc, or
quarto) split into executing the template and writing each format (HTML, DOCX by pandoc, PDF by
headless Chromium), the total, and the ratio total / 300 s (target <= 1.0 on 2 idle cores).
Then the cost of each figure file format (PNG 300 dpi, PDF, SVG, TIFF 600 dpi) per figure,
measured on three of the study's figures redrawn. ``--cold`` points
HER2STATS_CACHE at an empty folder so the deep features are extracted (the first `make demo` on a
machine); without it the content-addressed feature cache of earlier runs is used.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUDGET_S = 300.0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fast", action="store_true", help="run_study(fast=True), the test configuration")
    ap.add_argument("--cold", action="store_true", help="empty feature cache (extract every image)")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="h2s-bench-report-")
    if args.cold:
        os.environ["HER2STATS_CACHE"] = str(Path(tmp) / "cache")
    import matplotlib

    matplotlib.use("Agg")
    from her2stats.reporting.render import render_report
    from her2stats.reporting.study import run_study

    marks: list[tuple[str, float]] = []
    t0 = time.perf_counter()
    res = run_study(ROOT / "reports" / "demo.yaml", fast=args.fast, outdir=Path(tmp) / "out",
                    progress=lambda msg: marks.append((msg, time.perf_counter())))
    t_study = time.perf_counter() - t0
    t1 = time.perf_counter()
    rendered = render_report(ROOT / "reports" / "her2_study.qmd", Path(tmp) / "out" / "report.html",
                             params={"config": str(ROOT / "reports" / "demo.yaml"), "outdir": str(Path(tmp) / "out"),
                                     "fast": args.fast}, formats=("html", "docx", "pdf"))
    t_render = time.perf_counter() - t1
    print(f"demo study ({'fast' if args.fast else 'full'}, {'cold' if args.cold else 'warm'} feature cache), "
          f"{len(res.cohort)} patients")
    for (name, start), (_, end) in zip(marks, marks[1:]):
        print(f"  {name:<34s} {end - start:7.1f} s")
    total = t_study + t_render
    print(f"  {'render report':<34s} {t_render:7.1f} s")
    for step, sec in rendered.timings.items():
        print(f"    {step:<32s} {sec:7.1f} s")
    print(f"total {total:.1f} s; ratio to the {BUDGET_S:.0f} s budget = {total / BUDGET_S:.2f} (target <= 1.0)")
    print(f"  formats beyond HTML (docx + pdf): {rendered.timings.get('docx', 0) + rendered.timings.get('pdf', 0):.1f} s "
          f"= {(rendered.timings.get('docx', 0) + rendered.timings.get('pdf', 0)) / total:.1%} of the total")
    from her2stats.reporting import figures as F
    from her2stats.reporting.style import save_figure

    R = res.results
    makers = [lambda: F.km_figure(R["km"], time_unit="months"), lambda: F.forest_figure(R["or_table"]),
              lambda: F.decision_curve_figure(next(iter(R["dca"].values())))]
    per = {}
    for fmt in ("png", "pdf", "svg", "tiff"):
        t = time.perf_counter()
        for make in makers:
            save_figure(make(), Path(tmp) / "fmt" / f"f{id(make)}", formats=(fmt,))
        per[fmt] = (time.perf_counter() - t) / len(makers)
    print("  seconds per figure and file format (drawing included): "
          + ", ".join(f"{k} {v:.2f}" for k, v in per.items())
          + f"; the study wrote {len(res.figures)} figures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
