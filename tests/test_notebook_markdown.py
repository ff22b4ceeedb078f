"""Notebook text that renders on the site and reads in JupyterLab: maths the site would
leave as raw TeX, and code the site hides that JupyterLab would show."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted([*ROOT.glob("tutorials/*.ipynb"), *ROOT.glob("exercises/*.ipynb")])
DISPLAY = re.compile(r"\$\$(.*?)\$\$", re.DOTALL)
LIST_MARKER = re.compile(r"^\s*([-+*]|\d+[.)])\s")  # what Markdown reads as a list item
HIDDEN_ON_SITE = {"hide-input", "remove-input"}


def _cells(notebook: Path) -> list[dict]:
    return json.loads(notebook.read_text())["cells"]


def _markdown(notebook: Path) -> list[tuple[str, str]]:
    return [(c.get("id", "?"), "".join(c["source"])) for c in _cells(notebook)
            if c["cell_type"] == "markdown"]  # fmt: skip


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 9


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_no_line_of_displayed_maths_reads_as_a_list_item(notebook):
    """A display line starting with ``+ `` or ``- `` ends the maths and starts a list."""
    bad = [(cell, line) for cell, text in _markdown(notebook)
           for block in DISPLAY.findall(text) for line in block.split("\n")[1:]
           if LIST_MARKER.match(line)]  # fmt: skip
    assert not bad, bad


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_no_maths_in_a_summary_line(notebook):
    """TeX inside ``<summary>`` is HTML to the site, so it would show as raw dollars."""
    bad = [(cell, summary) for cell, text in _markdown(notebook)
           for summary in re.findall(r"<summary>(.*?)</summary>", text, re.DOTALL)
           if "$" in summary]  # fmt: skip
    assert not bad, bad


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_code_the_site_hides_is_collapsed_in_jupyterlab_too(notebook):
    """A cell whose input the site hides (``hide-input``, ``remove-input``) starts collapsed
    in JupyterLab (``"jupyter": {"source_hidden": true}``), so a student reading the notebook
    meets the same text the site shows."""
    shown = [cell.get("id", "?") for cell in _cells(notebook)
             if HIDDEN_ON_SITE & set(cell.get("metadata", {}).get("tags", []))
             and not cell["metadata"].get("jupyter", {}).get("source_hidden")]  # fmt: skip
    assert not shown, shown
