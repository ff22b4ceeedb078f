"""A notebook with live sliders runs in batch, as ``jupyter nbconvert --execute`` runs it.

The tutorials' step explorers (``minimsam.widgets.step_explorer``) are live sliders
whenever a Jupyter kernel runs them and ``MINIMSAM_STATIC_FIGURES`` is unset: in JupyterLab,
and in a reader's batch run. The website build sets the variable (docs/conf.py) and CI
skips nbmake's runs of the tutorials (tutorials/conftest.py), so without this test CI
would never execute a live explorer. It writes a small notebook with an explorer per
optimizer, executes it with ``jupyter nbconvert --execute`` (the variable removed from the
environment, a timeout on every cell), and checks what the executed notebook holds:
the sliders, a figure per explorer, and no ``Output`` widget, whose outputs a batch
client sends back to the kernel while it waits for the cell's reply (the hangs of
tutorials 02 and 03 on a loaded machine; see minimsam/widgets.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CELLS = [
    "from minimsam import widgets",
    'nag = widgets.step_explorer("nag", lr=0.01, momentum=0.9, num_steps=12, detail=(3, 5))',
    'msam = widgets.step_explorer("msam", lr=0.01, momentum=0.9, rho=0.3, num_steps=12)',
    'assert set(msam.sliders) == {"lr", "momentum", "rho"}, msam\n'
    "msam.sliders['rho'].value = 0.5  # as a reader releasing the slider\n"
    "msam.redraw()",
]


def _notebook(path: Path) -> None:
    cells = [
        {"cell_type": "code", "execution_count": None, "id": f"c{i}", "metadata": {},
         "outputs": [], "source": source}
        for i, source in enumerate(CELLS)
    ]  # fmt: skip
    notebook = {
        "cells": cells,
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                    "name": "python3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }  # fmt: skip
    path.write_text(json.dumps(notebook), encoding="utf-8")


def test_live_sliders_execute_in_a_batch_run(tmp_path):
    for module in ("nbconvert", "ipywidgets", "ipykernel"):
        pytest.importorskip(module)
    source, executed = tmp_path / "explorers.ipynb", tmp_path / "executed.ipynb"
    _notebook(source)
    env = {
        k: v for k, v in os.environ.items() if k not in ("MINIMSAM_STATIC_FIGURES", "MPLBACKEND")
    }
    env.update(PYTHONPATH=str(REPO), OPENBLAS_NUM_THREADS="1")
    command = [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
               "--ExecutePreprocessor.timeout=180", "--output", str(executed),
               str(source)]  # fmt: skip
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    notebook = json.loads(executed.read_text(encoding="utf-8"))
    outputs = [o for cell in notebook["cells"] for o in cell["outputs"]]
    views = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    figures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(views) == 2, "one box of sliders per explorer"
    assert len(figures) == 2, "one figure per explorer, updated in place (not added)"
    assert all(o["output_type"] == "display_data" for o in figures)
    state = notebook["metadata"]["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    models = {model["model_name"] for model in state.values()}
    assert {"FloatSliderModel", "FloatLogSliderModel", "VBoxModel"} <= models
    assert "OutputModel" not in models
