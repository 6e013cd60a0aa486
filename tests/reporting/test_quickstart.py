"""examples/quickstart.ipynb runs top to bottom (nbclient) and prints the numbers the statistics
API gives for the same data."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "quickstart.ipynb"

pytestmark = pytest.mark.slow


def test_quickstart_runs(tmp_path):
    import nbformat
    from nbclient import NotebookClient

    from her2stats.data import load_demo
    from her2stats.reporting.render import _kernel_env
    from her2stats.stats.models import fit_lrm
    from her2stats.stats.roc import roc_auc

    nb = nbformat.read(NOTEBOOK, as_version=4)
    import os

    old = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(_kernel_env())
        NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(old)
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                     if o.output_type == "stream")
    pngs = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert pngs >= 4  # ROC, calibration, decision curve, Kaplan-Meier
    htmls = sum("text/html" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert htmls >= 3  # Table 1, model, diagnostic metrics render as HTML
    df = load_demo()
    dev, ext = df[df["split"] == "train"], df[df["split"] == "external"]
    m = fit_lrm(dev, "her2_positive", ["age", "er", "pr", "grade", "ki67", "tumor_size_mm"], engine="python")
    a = roc_auc(ext["her2_positive"].astype(int), m.predict(ext), direction="<", engine="python")
    got = re.search(r"external AUC = ([0-9.]+) \(([0-9.]+)-([0-9.]+)\)", text)
    assert got is not None, text
    assert got.group(1) == f"{a.auc:.3f}" and got.group(2) == f"{a.ci_low:.3f}" and got.group(3) == f"{a.ci_high:.3f}"
