"""``import minimsam.torch`` without torch, ``import minimsam.jax`` without JAX: one error
line that names the extra to install, and no chained second traceback.

Each case runs in a fresh interpreter in which importing the missing package fails as it
does when it is not installed (a finder at the front of ``sys.meta_path`` raises
``ModuleNotFoundError`` for it), so the tests hold whether or not torch and JAX are here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

HIDE = """
import sys

class Missing:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {hidden!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)

sys.meta_path.insert(0, Missing())
import {module}
"""


def import_without(module: str, hidden: set[str]) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    code = HIDE.format(hidden=sorted(hidden), module=module)
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("module", "hidden", "extra"),
    [("minimsam.torch", {"torch"}, "minimsam[torch]"),
     ("minimsam.jax", {"jax", "jaxlib", "optax"}, "minimsam[jax]")],
)  # fmt: skip
def test_a_missing_framework_is_one_line_naming_the_extra(module, hidden, extra):
    result = import_without(module, hidden)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ModuleNotFoundError: ") and f'pip install "{extra}"' in last, last
    assert result.stderr.count("Traceback") == 1, result.stderr  # no chained traceback
    assert "During handling" not in result.stderr


def test_minimsam_itself_imports_without_either():
    result = import_without("minimsam", {"torch", "jax", "jaxlib", "optax"})
    assert result.returncode == 0, result.stderr
