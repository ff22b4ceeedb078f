"""Fixtures for the cross-check tests: the catalogue, built once, and an exported folder."""

from __future__ import annotations

import pytest

from minimsam import crosscheck


@pytest.fixture(scope="session")
def cases():
    """Every case of the catalogue with its reference trajectory (built once)."""
    return crosscheck.build_cases()


@pytest.fixture(scope="session")
def golden_dir(tmp_path_factory, cases):
    """A folder with the whole catalogue exported into it."""
    out = tmp_path_factory.mktemp("golden")
    crosscheck.write_cases(cases, out)
    return out
