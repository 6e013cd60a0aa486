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

    from her2stats.data import load_demo
    from her2stats.reporting.render import execute_notebook
    from her2stats.stats.models import fit_lrm
    from her2stats.stats.roc import roc_auc

    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "her2stats"  # the kernel `make` registers in the venv
    execute_notebook(nb, tmp_path, timeout=600, kernel_name="python3")
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                     if o.output_type == "stream")
    # ROC, calibration, decision curve, Kaplan-Meier: each figure once (the cell's value), not
    # twice (value + the inline backend's copy of every open pyplot figure)
    images = [sum("image/png" in o.get("data", {}) for o in c.get("outputs", [])) for c in nb.cells
              if c.cell_type == "code"]
    figure_cells = [c for c in nb.cells if c.cell_type == "code" and "_figure(" in c.source]
    assert len(figure_cells) == 4
    assert sum(images) == 4 and all(n <= 1 for n in images), images
    for c in figure_cells:
        assert sum("image/png" in o.get("data", {}) for o in c.outputs) == 1, c.source
    # what the notebook prints on stderr: real warnings only, each once, and nothing from the kernel
    stderr = [line for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.output_type == "stream" and o.get("name") == "stderr" for line in o["text"].splitlines()
              if "Warning" in line]
    assert not any("TCP" in line or "IPKernelApp" in line for line in stderr), stderr
    assert len(stderr) == len(set(stderr)), stderr
    htmls = sum("text/html" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert htmls >= 3  # Table 1, model, diagnostic metrics render as HTML
    df = load_demo()
    dev, ext = df[df["split"] == "train"], df[df["split"] == "external"]
    m = fit_lrm(dev, "her2_positive", ["age", "er", "pr", "grade", "ki67", "tumor_size_mm"], engine="python")
    a = roc_auc(ext["her2_positive"].astype(int), m.predict(ext), direction="<", engine="python")
    got = re.search(r"external AUC = ([0-9.]+) \(([0-9.]+)-([0-9.]+)\)", text)
    assert got is not None, text
    assert got.group(1) == f"{a.auc:.3f}" and got.group(2) == f"{a.ci_low:.3f}" and got.group(3) == f"{a.ci_high:.3f}"
