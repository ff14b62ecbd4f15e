"""The quickstart notebook runs top to bottom in a real kernel against the live platform, and plots."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.django_db

NOTEBOOK = Path(__file__).resolve().parents[2] / "client" / "examples" / "quickstart.ipynb"


def test_the_quickstart_notebook_executes_without_errors_and_its_plot_cells_produce_images(
    live, tmp_workdir, monkeypatch
):
    for key, value in live.env().items():
        if key.startswith("MODRESEARCH_"):
            monkeypatch.setenv(key, value)  # the kernel inherits the environment, as in a researcher's shell
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_workdir)}}
    ).execute()

    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    outputs = [output for cell in code_cells for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]  # execute() raises on one; said plainly here
    plot_cells = [cell for cell in code_cells if "plt.show()" in cell.source]
    assert len(plot_cells) == 3
    for cell in plot_cells:
        assert any("image/png" in output.get("data", {}) for output in cell.outputs), cell.source[:60]
    assert (tmp_workdir / "violent_extremism.parquet").exists()
    citation = "".join(o.get("text", "") for o in code_cells[-1].outputs)
    assert "@misc{" in citation and live.release.version in citation
