"""The README's Python snippets run as printed and print what the README says they print.

Each ```python block of README.md that is followed by a ```text block is run as a script
in a fresh process; its output must be the text block's, where every number may differ by
at most :data:`TOLERANCE`, the tolerance the README states. Measured: the first snippet
prints 0.308 or 0.309 under the Haswell, SkylakeX and Prescott kernels of OpenBLAS on one
CPU (float32 sums in another order), the BatchNorm snippet 0.407 under each.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
TOLERANCE = 0.002  #: "it may differ by up to 0.002", in README.md's words
NUMBER = re.compile(r"-?\d+\.\d+")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.DOTALL | re.MULTILINE)


def examples() -> list[tuple[str, str]]:
    """``(code, expected output)``: every python block whose next block is a text block."""
    blocks = FENCE.findall(README.read_text())
    return [
        (code, output)
        for (language, code), (next_language, output) in zip(blocks, blocks[1:])
        if language == "python" and next_language == "text"
    ]


def test_the_readme_states_the_tolerance_and_has_examples():
    assert len(examples()) >= 2  # the first snippet and the BatchNorm one
    assert f"up to {TOLERANCE:g}" in README.read_text()


def matches(expected: str, got: str, tolerance: float = TOLERANCE) -> bool:
    """The same text with the numbers replaced, and each number within ``tolerance``."""
    want, have = NUMBER.findall(expected), NUMBER.findall(got)
    if NUMBER.sub("#", expected).strip() != NUMBER.sub("#", got).strip() or len(want) != len(have):
        return False
    return all(abs(float(a) - float(b)) <= tolerance for a, b in zip(want, have))


def test_matches_allows_only_the_tolerance():
    assert matches("accuracy: 0.309\n", "accuracy: 0.308\n")
    assert not matches("accuracy: 0.309\n", "accuracy: 0.305\n")
    assert not matches("accuracy: 0.309\n", "loss: 0.309\n")


@pytest.mark.parametrize("index", range(len(examples())))
def test_a_readme_snippet_prints_what_the_readme_says(index, tmp_path):
    pytest.importorskip("mnist1d")
    code, expected = examples()[index]
    script = tmp_path / "snippet.py"
    script.write_text(code)
    env = dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1")
    result = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert matches(expected, result.stdout), (expected, result.stdout)


def _test_command() -> str:
    """The README's test command: the bash block that installs the test extra."""
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), re.DOTALL)
    (command,) = [b.strip() for b in blocks if '".[test]"' in b]
    return command


def test_ci_runs_the_readme_test_command_as_its_last_line():
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert ci[-1] == _test_command()
    # `python` exists in CI: the script activates a virtual environment before it
    assert any("bin/activate" in line for line in ci)


def test_the_readme_is_a_front_door():
    text = README.read_text()
    assert len(text.splitlines()) <= 200
    headings = re.findall(r"^## (.*)$", text, re.MULTILINE)
    assert headings[:2] == ["Two commands", "Using it"]
    for moved in ("results:start", "benchmarks:start", "ms/step"):  # tables live in docs/
        assert moved not in text
    for page in ("docs/results.md", "docs/benchmarks.md", "docs/crosscheck.md",
                 "tutorials/README.md", "exercises/README.md"):  # fmt: skip
        assert f"]({page})" in text, page
