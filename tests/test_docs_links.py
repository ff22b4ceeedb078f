"""Every link and every named document in the prose resolves inside the repository.

The prose is README.md, every other tracked ``*.md`` (docs/, experiments/, tutorials/,
minimsam/crosscheck/FORMAT.md, ...) and the markdown cells of every notebook. Checked:

- relative links ``[text](path)``, images ``![alt](path)``, reference definitions
  ``[name]: path`` and HTML ``src=``/``href=``: the path names a file or folder of the
  repository; a ``#anchor`` into a markdown file (or the same file) names one of its
  headings under GitHub's slug rules;
- named documents, i.e. a token such as ``results/cosine.md`` or ``04_msam.ipynb`` in
  the text (code spans included): it resolves relative to the file, to the repository
  root, or, for a bare name, to a file of that name somewhere in the repository.

A last test checks that no tracked text file names a design document that is not
part of the repository (the names are spelled in the pattern below, not here).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from urllib.parse import unquote

import pytest

REPO = Path(__file__).resolve().parents[1]

#: Design documents that lived outside the repository; nothing may cite them.
FOREIGN_DOCS = re.compile(r"\b(?:SPEC|PAPER|DESIGN)\.md\b")

_FENCE = re.compile(r"^ {0,3}(```|~~~).*?^ {0,3}\1[^\n]*$", re.M | re.S)
_CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)
_INLINE_LINK = re.compile(
    r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]"  # [text], one level of nested [..] allowed
    r"\(\s*<?([^()\s<>]+)>?(?:\s+[\"'][^\"']*[\"'])?\s*\)"  # (target "optional title")
)
_REF_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.M)
_HTML_ATTR = re.compile(r"\b(?:src|href)\s*=\s*[\"']([^\"']+)[\"']", re.I)
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s)>\]\"'`]+")
_SCHEME = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*:|//)")
_NAMED_DOC = re.compile(r"(?<![\w/.-])((?:\.\.?/)*\w[\w./-]*\.(?:md|ipynb))(?![\w-])")
_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$", re.M)


# ----------------------------------------------------------------------------- the checker


_NOT_SOURCE = {
    ".git",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".ipynb_checkpoints",
    "build",
    "dist",
    ".venv",
    "venv",
    "node_modules",
}


def repository_files(root: Path) -> set[str]:
    """Paths (relative, POSIX) of the files git tracks or would track (not ignored).

    Without git (or outside a checkout) every file under ``root`` outside caches,
    build folders and virtual environments counts instead."""
    try:
        out = subprocess.run(
            ["git", "-c", "safe.directory=*", "ls-files", "-co", "--exclude-standard", "-z"],
            cwd=root,
            capture_output=True,
            check=True,
        ).stdout.decode()
        return {p for p in out.split("\0") if p and (root / p).is_file()}
    except (OSError, subprocess.CalledProcessError):
        return {
            p.relative_to(root).as_posix()
            for p in root.rglob("*")
            if p.is_file()
            and not any(
                part in _NOT_SOURCE or part.endswith(".egg-info")
                for part in p.relative_to(root).parts
            )
        }


def markdown_of(path: Path) -> str:
    """The markdown of a ``.md`` file, or the markdown cells of a notebook joined."""
    text = path.read_text(encoding="utf-8")
    if path.suffix != ".ipynb":
        return text
    cells = json.loads(text)["cells"]
    return "\n\n".join(
        "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
        for c in cells
        if c["cell_type"] == "markdown"
    )


def github_slug(heading: str) -> str:
    """GitHub's anchor for a heading: the rendered text, lowercased, punctuation
    dropped (letters, digits, ``_``, ``-`` and spaces stay), spaces turned into ``-``."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links -> their text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "")
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The anchors of a markdown file or notebook: GitHub slugs with ``-1``, ``-2``
    for repeated headings; for notebooks also Jupyter's (spaces -> ``-``, case kept)."""
    headings = _HEADING.findall(_FENCE.sub("", markdown_of(path)))
    seen: dict[str, int] = {}
    found = set()
    for heading in headings:
        slug = github_slug(heading)
        found.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
        seen[slug] = seen.get(slug, 0) + 1
        if path.suffix == ".ipynb":
            found.add(heading.strip().replace(" ", "-"))
    return found


def _resolve(target: str, source: Path, root: Path, files: set[str]) -> Path | None:
    """The file or folder a relative link names, or None if it is not in the repository."""
    base = root if target.startswith("/") else source.parent
    path = (base / target.lstrip("/")).resolve()
    try:
        rel = path.relative_to(root.resolve()).as_posix()
    except ValueError:
        return None  # points outside the repository
    is_dir = rel == "." or any(f.startswith(rel + "/") for f in files)
    return path if rel in files or is_dir else None


def link_targets(markdown: str) -> list[str]:
    """The link targets of some markdown, outside code blocks and code spans."""
    prose = _CODE_SPAN.sub("", _FENCE.sub("", markdown))
    return [
        m.group(1)
        for pattern in (_INLINE_LINK, _REF_DEF, _HTML_ATTR)
        for m in pattern.finditer(prose)
    ]


def broken_links(source: Path, root: Path, files: set[str]) -> list[str]:
    """One message per relative link of ``source`` that does not resolve."""
    problems = []
    for target in link_targets(markdown_of(source)):
        if _SCHEME.match(target):
            continue  # a URL (http:, mailto:, ...): not checked offline
        link, _, anchor = unquote(target).partition("#")
        dest = _resolve(link, source, root, files) if link else source
        if dest is None:
            problems.append(f"link {target!r}: no such file in the repository")
        elif anchor and dest.suffix in (".md", ".ipynb") and anchor not in anchors(dest):
            problems.append(f"link {target!r}: {dest.name} has no heading #{anchor}")
    return problems


def broken_names(source: Path, root: Path, files: set[str]) -> list[str]:
    """One message per document name (``*.md``, ``*.ipynb``) that names no file."""
    text = _URL.sub("", markdown_of(source))
    basenames = {Path(f).name for f in files}
    problems = []
    for name in sorted(set(_NAMED_DOC.findall(text))):
        if _resolve(name, source, root, files) or _resolve(name, root / "x", root, files):
            continue
        if "/" not in name and name in basenames:
            continue
        problems.append(f"document {name!r} is not in the repository")
    return problems


# ----------------------------------------------------------------------------- the data


FILES = repository_files(REPO)
PROSE = sorted(f for f in FILES if f.endswith((".md", ".ipynb")))
BINARY_SUFFIXES = (".png", ".gif", ".jpg", ".npz", ".npy", ".gz", ".zip", ".pdf", ".pt")
TEXT = sorted(f for f in FILES if not f.endswith(BINARY_SUFFIXES))


def test_the_prose_is_found():
    assert "README.md" in PROSE and "docs/optimizers.md" in PROSE
    assert any(f.startswith("tutorials/") and f.endswith(".ipynb") for f in PROSE)


@pytest.mark.parametrize("name", PROSE)
def test_links_resolve(name):
    problems = broken_links(REPO / name, REPO, FILES)
    assert not problems, f"{name}: " + "; ".join(problems)


@pytest.mark.parametrize("name", PROSE)
def test_named_documents_exist(name):
    problems = broken_names(REPO / name, REPO, FILES)
    assert not problems, f"{name}: " + "; ".join(problems)


def test_no_file_cites_design_documents_outside_the_repository():
    hits = []
    for name in TEXT:
        try:
            text = (REPO / name).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary
        for lineno, line in enumerate(text.splitlines(), start=1):
            if FOREIGN_DOCS.search(line):
                hits.append(f"{name}:{lineno}")
    assert not hits, "cite docs/optimizers.md instead, at: " + ", ".join(hits)


# ----------------------------------------------------------------------------- checker tests


def test_github_slugs():
    assert github_slug("The memory-free form (`store_perturbed=True`)") == (
        "the-memory-free-form-store_perturbedtrue"
    )
    assert github_slug("SGD, NAG & SAM: [links](x.md) too") == "sgd-nag--sam-links-too"
    assert github_slug("Public API") == "public-api"


def _write_repo(root: Path) -> set[str]:
    (root / "docs").mkdir()
    (root / "docs" / "guide.md").write_text("# Guide\n\n## Setup\n\n## Setup\n")
    (root / "nb.ipynb").write_text(
        json.dumps({"cells": [{"cell_type": "markdown", "source": ["# A Notebook\n"]}]})
    )
    (root / "README.md").write_text(
        "See [the guide](docs/guide.md#setup-1), [setup](docs/guide.md#setup),\n"
        "[the notebook](nb.ipynb#A-Notebook), [up](#readme), ![a figure](docs/), \n"
        "[the web](https://example.org/missing.md) and guide.md in prose.\n\n"
        "# Readme\n\n"
        "Broken: [gone](docs/gone.md), [bad anchor](docs/guide.md#install),\n"
        "![missing](fig.png), [outside](../elsewhere.md), and a document named\n"
        "`NOTES.md` and tutorials/01.ipynb.\n\n"
        "```\n[in code](not/checked.md)\n```\n"
    )
    return {"README.md", "docs/guide.md", "nb.ipynb"}


def test_checker_reports_exactly_the_broken_links(tmp_path):
    files = _write_repo(tmp_path)
    problems = broken_links(tmp_path / "README.md", tmp_path, files)
    assert problems == [
        "link 'docs/gone.md': no such file in the repository",
        "link 'docs/guide.md#install': guide.md has no heading #install",
        "link 'fig.png': no such file in the repository",
        "link '../elsewhere.md': no such file in the repository",
    ]


def test_checker_reports_exactly_the_missing_documents(tmp_path):
    files = _write_repo(tmp_path)
    problems = broken_names(tmp_path / "README.md", tmp_path, files)
    assert problems == [
        "document '../elsewhere.md' is not in the repository",
        "document 'NOTES.md' is not in the repository",
        "document 'docs/gone.md' is not in the repository",
        "document 'not/checked.md' is not in the repository",
        "document 'tutorials/01.ipynb' is not in the repository",
    ]


def test_checker_passes_a_repository_without_broken_references(tmp_path):
    (tmp_path / "a.md").write_text("# Top\n\nSee [b](b.md#part-two) and b.md.\n")
    (tmp_path / "b.md").write_text("# B\n\n## Part two\n\n[back](a.md#top)\n")
    files = {"a.md", "b.md"}
    for name in files:
        assert broken_links(tmp_path / name, tmp_path, files) == []
        assert broken_names(tmp_path / name, tmp_path, files) == []
