"""Run a notebook's code cells as one script, printing as it goes.

For machines without Jupyter (e.g. a GPU box): ``python benchmarks/run_notebook.py
tutorials/06_gpu_backend.ipynb``. Executes the code cells in order in one namespace;
an exception fails the run as it would fail the notebook.
"""

from __future__ import annotations

import json
import sys


def code_of(path: str) -> str:
    with open(path) as f:
        cells = json.load(f)["cells"]
    return "\n\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


if __name__ == "__main__":
    notebook = sys.argv[1]
    exec(compile(code_of(notebook), notebook, "exec"), {"__name__": "__main__"})
