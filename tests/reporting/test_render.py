from __future__ import annotations

import re

import pytest

from her2stats.errors import ConfigError
from her2stats.reporting.render import _parse_qmd, render_report

QMD = '''---
title: "Render test"
execute:
  echo: false
---

## Numbers

```{python}
#| tags: [parameters]
value = 1
```

```{python}
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown, display
display(Markdown(f"The value is **{value * 2}**."))
fig, ax = plt.subplots(figsize=(2, 2)); ax.plot([0, 1], [0, 1]); plt.show()
pd.DataFrame({"auc": [0.842]})
```

```{python}
#| include: false
secret = "hidden-output"
print(secret)
```
'''


def test_parse_qmd_options():
    meta, cells = _parse_qmd(QMD)
    assert meta["title"] == "Render test"
    code = [c for c in cells if c["type"] == "code"]
    assert code[0]["options"]["tags"] == ["parameters"] and code[2]["options"]["include"] is False


@pytest.mark.slow
def test_render_without_quarto(tmp_path):
    qmd = tmp_path / "r.qmd"
    qmd.write_text(QMD)
    rep = render_report(qmd, tmp_path / "out" / "r.html", params={"value": 21}, use_quarto=False)
    html = rep.html.read_text()
    assert rep.engine == "nbclient+pandoc"
    assert "The value is <strong>42</strong>" in html  # the injected parameter was used
    assert "0.842" in html
    assert len(re.findall(r'src="data:image/png;base64,', html)) == 1  # self-contained figure
    assert "hidden-output" not in html


def test_missing_parameters_cell(tmp_path):
    qmd = tmp_path / "r.qmd"
    qmd.write_text("---\ntitle: x\n---\n\n```{python}\nx = 1\n```\n")
    with pytest.raises(ConfigError, match="parameters"):
        render_report(qmd, tmp_path / "o.html", params={"value": 1}, use_quarto=False)


def test_kernel_runs_over_ipc_with_our_environment(tmp_path, monkeypatch, capfd):
    """The report kernel inherits the environment (PYTHONPATH, HER2STATS_* ...) less R's
    LD_LIBRARY_PATH, and talks over IPC sockets, so ipykernel prints no TCP warning."""
    import nbformat

    from her2stats.reporting.render import execute_notebook

    monkeypatch.setenv("H2S_RENDER_PROBE", "inherited")
    monkeypatch.setenv("LD_LIBRARY_PATH", "/usr/lib/R/lib")
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(
        "import os\nfrom ipykernel.kernelapp import IPKernelApp\n"
        "print(os.environ.get('H2S_RENDER_PROBE'), os.environ.get('LD_LIBRARY_PATH'), IPKernelApp.instance().transport, os.getcwd())"))
    execute_notebook(nb, tmp_path, timeout=120)
    probe, ld, transport, cwd = nb.cells[0].outputs[0]["text"].split()
    assert (probe, ld, transport) == ("inherited", "None", "ipc")
    assert cwd == str(tmp_path)
    assert "TCP" not in capfd.readouterr().err
