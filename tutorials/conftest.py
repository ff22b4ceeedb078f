"""In CI the tutorials execute once, in the website build, instead of twice.

``tests/docs/test_site.py`` builds the site, which executes every notebook here top to
bottom and fails on any failing cell (myst-nb, ``nb_execution_raise_on_error``). In CI
(``CI=true``, where .ci/run installs the docs stack) nbmake therefore skips the notebooks
of this folder, which keeps the CI run within its time budget. Elsewhere, and whenever a
notebook is named on the command line (``pytest --nbmake tutorials/04_msam.ipynb``), nbmake
runs them as usual.
"""

from __future__ import annotations

import os
from pathlib import Path

# Every claim a notebook checks with ``minimsam.tutorial.expect`` must hold under the tests
# (the notebook kernels inherit this environment).
os.environ["MINIMSAM_STRICT_CLAIMS"] = "1"


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_ignore_collect(collection_path: Path, config) -> bool | None:
    if not _in_ci() or collection_path.suffix != ".ipynb":
        return None
    named = {Path(arg.split("::")[0]).resolve() for arg in config.args}
    return None if collection_path.resolve() in named else True
