"""Sphinx configuration of the minimsam website (build: see README.md, "Website").

The source directory is the repository root, so that the pages are the repository's own
files (README.md, docs/, tutorials/*.ipynb, experiments/results/*.md,
minimsam/crosscheck/FORMAT.md) and every relative link and image between them works
unchanged. ``include_patterns`` names the files that become pages. The tutorial
notebooks are executed at build time (myst-nb, cached); a failing cell fails the build.

The maths is rendered by MathJax 2 from Debian's ``libjs-mathjax`` package, copied into
the site (``_static/mathjax``), so no page loads anything from the network.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from docutils import nodes

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
sys.path.insert(0, str(REPO))  # autodoc and the notebook kernels import this checkout
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p
)
# The kernels must draw with matplotlib's inline backend, which ipykernel only picks when
# MPLBACKEND is unset (with MPLBACKEND=Agg, as in CI, no figure would reach the page).
os.environ.pop("MPLBACKEND", None)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

project = "minimsam"
author = "the minimsam authors"
copyright = "the minimsam authors, MIT licence"  # noqa: A001

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]

root_doc = "docs/index"
include_patterns = [
    "README.md",
    "docs/index.md",
    "docs/optimizers.md",
    "docs/crosscheck.md",
    "docs/figures.md",
    "docs/results.md",
    "docs/benchmarks.md",
    "docs/api/*.md",
    "tutorials/README.md",
    "tutorials/*.ipynb",
    "exercises/README.md",
    "exercises/*.ipynb",
    "experiments/RESULTS.md",
    "experiments/results/*.md",
    "minimsam/crosscheck/FORMAT.md",
]
exclude_patterns = ["docs/_build", "**/.ipynb_checkpoints"]
suppress_warnings = ["myst.header"]  # README starts at "#", notebooks' cells use "##" freely

# ----------------------------------------------------------------------------- MyST, notebooks
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 4  # [text](#a-heading) links, GitHub's slugs
myst_dmath_double_inline = True
myst_update_mathjax = False  # its setting is for MathJax 3; ours (below) is for MathJax 2
nb_execution_mode = "cache"  # executed once, then re-used until a cell changes
nb_execution_cache_path = str(DOCS / "_build" / ".jupyter_cache")
# The exercise notebooks are shown as the student gets them (stubs to fill in), not run.
nb_execution_excludepatterns = ["exercises/*"]
nb_execution_raise_on_error = True  # a failing cell fails the build
nb_execution_timeout = 300
nb_execution_show_tb = True
nb_merge_streams = True
# Widgets: MINIMSAM_STATIC_FIGURES=1 (inherited by the build's kernels) makes every step
# explorer (minimsam.widgets) draw its static fallback figure; a widget view that still
# appears is dropped (its JavaScript would come from the network).
os.environ["MINIMSAM_STATIC_FIGURES"] = "1"
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", None)]

# ----------------------------------------------------------------------------- API
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_mock_imports = ["cupy"]
napoleon_google_docstring = True
napoleon_numpy_docstring = False

# ----------------------------------------------------------------------------- HTML
html_theme = "furo"
html_title = "minimsam"
html_static_path = ["_static"]
html_favicon = "_static/favicon.svg"  # also keeps browsers from asking for a missing /favicon.ico
html_last_updated_fmt = None
html_copy_source = False
html_show_sourcelink = False

# MathJax 2 from the Debian package, bundled into the site.
MATHJAX_SOURCE = Path(os.environ.get("MINIMSAM_MATHJAX_DIR", "/usr/share/javascript/mathjax"))
MATHJAX_PARTS = [
    "MathJax.js",
    "config/TeX-AMS_SVG.js",
    "extensions",
    "jax/input/TeX",
    "jax/element",
    "jax/output/PreviewHTML",  # the fast preview shown while the SVG is drawn
    "jax/output/SVG/jax.js",
    "jax/output/SVG/config.js",
    "jax/output/SVG/autoload",
    "jax/output/SVG/fonts/TeX",
    "localization/en",
]
mathjax_path = "mathjax/MathJax.js?config=TeX-AMS_SVG"
mathjax2_config = {
    "tex2jax": {
        "inlineMath": [["\\(", "\\)"]],
        "displayMath": [["\\[", "\\]"]],
        # MyST marks its sections "tex2jax_ignore" (so no stray $ is taken for maths) and
        # the maths it writes "math": only those, and notebook outputs, are typeset.
        "ignoreClass": "tex2jax_ignore|mathjax_ignore",
        "processClass": "tex2jax_process|mathjax_process|math|output_area",
        "processRefs": False,
        "processEnvironments": False,
    },
    "SVG": {"linebreaks": {"automatic": True}},
    "showProcessingMessages": False,
    "messageStyle": "none",
}

WIDGET_NOTE = (
    "This page is the notebook as executed when the site was built. Its interactive "
    "explorer (sliders for lr, momentum and rho) needs a running Jupyter kernel, so the "
    "page shows the explorer's static figure at the default values. To move the sliders, "
    'run the notebook locally: ``pip install -e ".[tutorials]"`` and '
    "``jupyter lab {path}``."
)


def _copy_mathjax(app) -> None:
    """Copy the parts of Debian's MathJax the site uses into ``_static/mathjax``."""
    if app.builder.format != "html":
        return
    if not (MATHJAX_SOURCE / "MathJax.js").is_file():
        raise RuntimeError(
            f"MathJax not found in {MATHJAX_SOURCE}: run `apt-get install libjs-mathjax` "
            "or set MINIMSAM_MATHJAX_DIR to a MathJax 2 folder"
        )
    target = Path(app.outdir) / "_static" / "mathjax"
    for part in MATHJAX_PARTS:
        src, dst = MATHJAX_SOURCE / part, target / part
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, dirs_exist_ok=True)
        else:
            shutil.copy2(src, dst)


def _uses_widgets(source: Path) -> bool:
    """True when a code cell of the notebook uses ipywidgets (directly or the explorer)."""
    cells = json.loads(source.read_text(encoding="utf-8"))["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    return any(word in code for word in ("ipywidgets", "step_explorer", "interact("))


def _add_widget_note(app, doctree) -> None:
    """Put a note on running the notebook locally at the top of a page with widgets."""
    source = Path(app.env.doc2path(app.env.docname))
    if source.suffix != ".ipynb" or not _uses_widgets(source):
        return
    note = nodes.note()
    text = WIDGET_NOTE.format(path=source.relative_to(REPO).as_posix())
    parts = text.split("``")
    para = nodes.paragraph()
    for i, part in enumerate(parts):
        para += nodes.literal(part, part) if i % 2 else nodes.Text(part)
    note += para
    sections = list(doctree.findall(nodes.section))
    if sections:  # after the title
        sections[0].insert(1, note)
    else:
        doctree.insert(0, note)


REDIRECT = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>minimsam</title>
<link rel="icon" href="_static/favicon.svg">
<meta http-equiv="refresh" content="0; url=docs/index.html"></head>
<body><p><a href="docs/index.html">minimsam: go to the start page</a></p></body></html>
"""


def _write_root_redirect(app, exception) -> None:
    """``index.html`` at the top of the site opens the start page (``docs/index.html``)."""
    if exception is not None or app.builder.format != "html":
        return
    target = Path(app.outdir) / "index.html"
    tmp = target.with_suffix(".html.tmp")
    tmp.write_text(REDIRECT, encoding="utf-8")
    os.replace(tmp, target)


def setup(app):
    app.connect("builder-inited", _copy_mathjax)
    app.connect("doctree-read", _add_widget_note)
    app.connect("build-finished", _write_root_redirect)
    return {"parallel_read_safe": True}
