"""Tutorial 07's torch-free path runs where torch and JAX cannot be imported.

Section 6 of ``tutorials/07_crosscheck_your_implementation.ipynb`` ("Any framework: record
a trajectory, check the file") is for readers without PyTorch. This test runs the cells it
depends on (the imports without torch, the export, the NumPy recording and the check) in
a fresh interpreter in which ``import torch`` and ``import jax`` fail, and checks the
report it prints: the correct recording passes, the one without epsilon is diagnosed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "tutorials" / "07_crosscheck_your_implementation.ipynb"

RUNNER = r"""
import json, sys
for name in ("torch", "jax", "jaxlib"):
    sys.modules[name] = None  # import torch / import jax now raise ImportError
cells = [
    "".join(c["source"])
    for c in json.load(open(sys.argv[1], encoding="utf-8"))["cells"]
    if c["cell_type"] == "code"
]
imports = "\n".join(line for line in cells[0].splitlines() if "torch" not in line)
markers = ("crosscheck.export(golden)", "def record_msam", "crosscheck.check_trajectory_file(")
needed = [imports] + [c for c in cells if any(m in c for m in markers)]
assert len(needed) == 4, f"expected the imports and 3 cells, found {len(needed)}"
namespace = {}
for source in needed:
    exec(compile(source, "<tutorial 07 cell>", "exec"), namespace)
assert "torch" not in {k for k, v in sys.modules.items() if v is not None}
"""


def test_trajectory_file_section_runs_without_torch(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO), MPLBACKEND="Agg")
    result = subprocess.run(
        [sys.executable, "-c", RUNNER, str(NOTEBOOK)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "1 of 1 cases pass" in out  # the correct NumPy recording
    assert "missing_epsilon" in out  # the recording without epsilon, diagnosed
