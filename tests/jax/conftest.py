"""The SAM-family cases, built once for the JAX tests."""

from __future__ import annotations

import pytest

from minimsam import crosscheck


@pytest.fixture(scope="session")
def sam_family_cases():
    return crosscheck.build_cases(["sam", "msam", "adamw-msam"])
