"""The fast demo study, run once per test session (worker) and shared by test_study.py and
test_screenshot.py (both put their tests in the xdist group ``demo_study``)."""
from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEMO_YAML = REPO / "reports" / "demo.yaml"
TEMPLATE = REPO / "reports" / "her2_study.qmd"


@pytest.fixture(scope="session")
def fast_demo_rendered(tmp_path_factory):
    """(StudyResults, RenderedReport) of ``run_study(demo.yaml, fast=True)`` and its report in
    every format this machine can write (HTML and DOCX; PDF when Chromium is installed)."""
    import shutil

    import matplotlib

    matplotlib.use("Agg")
    from her2stats.reporting.render import render_report
    from her2stats.reporting.study import run_study

    out = tmp_path_factory.mktemp("demo_study")
    res = run_study(DEMO_YAML, fast=True, outdir=out)
    fmts = ["html", "docx"] + (["pdf"] if shutil.which("chromium") or shutil.which("chromium-browser") else [])
    rendered = render_report(TEMPLATE, out / "report.html", formats=fmts,
                             params={"config": str(DEMO_YAML), "outdir": str(out), "fast": True}, use_quarto=False)
    return res, rendered


@pytest.fixture(scope="session")
def fast_demo(fast_demo_rendered):
    """(StudyResults, rendered HTML path) of the fast demo study."""
    res, rendered = fast_demo_rendered
    return res, rendered.html
