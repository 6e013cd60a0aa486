"""A report kernel started ahead (ReportKernel) runs the notebook as a fresh kernel would: same
outputs, the warm-up out of the notebook's history, working folder as given, shut down after."""
from __future__ import annotations

import nbformat
import pytest

from her2stats.reporting.render import ReportKernel, execute_notebook, start_report_kernel


def _nb():
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("import os\nprint(os.path.basename(os.getcwd()))"),
                nbformat.v4.new_code_cell("x = 6 * 7\nx"),
                nbformat.v4.new_code_cell("print(sorted(globals()))")]  # the warm-up leaves no name
    return nb


def _outputs(nb):
    return [(c.execution_count, [{k: v for k, v in o.items() if k != "metadata"} for o in c.outputs]) for c in nb.cells]


def test_kernel_started_ahead_runs_the_notebook_as_a_fresh_one(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    fresh = execute_notebook(_nb(), work, timeout=120)
    kernel = start_report_kernel(work)
    assert isinstance(kernel, ReportKernel)
    ahead = execute_notebook(_nb(), work, timeout=120, kernel=kernel)
    assert _outputs(ahead) == _outputs(fresh)
    assert [c.execution_count for c in ahead.cells] == [1, 2, 3]  # the warm-up is not in the history
    assert "work" in ahead.cells[0].outputs[0]["text"]
    from jupyter_core.utils import run_sync

    assert not run_sync(kernel.km.is_alive)()  # shut down after the notebook
    kernel.close()  # closing twice is harmless


def test_kernel_for_another_folder_is_refused_and_closed(tmp_path):
    kernel = ReportKernel(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    with pytest.raises(ValueError, match="started in"):
        execute_notebook(_nb(), other, timeout=120, kernel=kernel)
    kernel.close()
    from jupyter_core.utils import run_sync

    assert not run_sync(kernel.km.is_alive)()
