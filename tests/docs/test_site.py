"""The website, checked in a real browser: every page of the built site in headless Chromium.

The session fixture builds the site with the command README.md documents (``sphinx-build
-W --keep-going ...``: a warning or a failing notebook cell fails it), serves it from
127.0.0.1 on a free port, and opens every page once in Debian's ``chromium`` through
``chromedriver`` (selenium). Per page it records console errors, images that did not
load, maths left raw or not rendered by MathJax, and the same-site links; the tests
below assert on that record. The landing page and the MSAM tutorial are also opened
from ``file://``, and screenshots of both are saved to ``docs/_build/screenshots/``.

The build executes every tutorial notebook and fails on a failing cell; in CI this is
where the tutorials run (``tutorials/conftest.py`` keeps nbmake from running them a
second time). Needs the ``docs`` extra (part of the ``test`` extra) and ``apt-get
install chromium chromium-driver libjs-mathjax`` (CI installs them, .ci/run); without
them the tests fail in CI and are skipped elsewhere.
"""

from __future__ import annotations

import base64
import functools
import http.server
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _require(module: str):
    """The module; CI installs the docs stack, so there a missing one fails instead of skipping."""
    return importlib.import_module(module) if _in_ci() else pytest.importorskip(module)


for _module in ("sphinx", "myst_nb", "furo"):
    _require(_module)
webdriver = _require("selenium.webdriver")

REPO = Path(__file__).resolve().parents[2]
SITE = REPO / "docs" / "_build" / "html"
SCREENSHOTS = REPO / "docs" / "_build" / "screenshots"
BUILD = ["-W", "--keep-going", "-b", "html", "-c", "docs", ".", "docs/_build/html"]
LANDING = "docs/index.html"
MSAM_TUTORIAL = "tutorials/04_msam.html"

#: TeX that MathJax should have replaced: \( \[ $$ or $x$ in the visible text.
RAW_MATH = re.compile(r"\\\(|\\\[|\$\$|(?<![\w\\$])\$[^\s$][^$\n]{0,200}?(?<![\s\\])\$(?![\w$])")

#: Waits until MathJax (if the page loads it) has loaded and typeset everything, then reports.
PAGE_REPORT_JS = r"""
const done = arguments[arguments.length - 1];
function report(mathjax) {
  const visible = document.body.cloneNode(true);
  visible.querySelectorAll(
    "script, style, pre, code, kbd, textarea, .highlight, .MathJax_SVG, .MathJax_SVG_Display"
  ).forEach((e) => e.remove());
  done({
    mathjax: mathjax,
    math_nodes: document.querySelectorAll(".math").length,
    rendered: document.querySelectorAll(".MathJax_SVG, .MathJax_SVG_Display").length,
    math_errors: document.querySelectorAll(".MathJax_Error, .noError, merror").length,
    text: visible.textContent,
    broken_images: Array.from(document.images)
      .filter((i) => !(i.complete && i.naturalWidth > 0)).map((i) => i.src),
    images: document.images.length,
    links: Array.from(document.querySelectorAll("a[href]")).map((a) => a.href),
  });
}
// MathJax.js loads asynchronously: until it has run, window.MathJax is only the page's
// configuration object, with no Hub. Wait for it (up to MATHJAX_WAIT_MS), then for the
// end of its start-up typesetting, so that the report never races the typesetting.
const MATHJAX_WAIT_MS = 30000;
const started = Date.now();
function whenTypeset() {
  const mathjax = window.MathJax;
  const loads = document.querySelector('script[src*="MathJax.js"], script[src*="mathjax"]');
  if (mathjax && mathjax.startup && mathjax.startup.promise) {  // MathJax 3
    mathjax.startup.promise.then(() => report(true), () => report(false));
  } else if (mathjax && mathjax.Hub && mathjax.Hub.Register) {  // MathJax 2
    // Braces: a hook that returns MathJax's queue entry would make startup wait for it.
    mathjax.Hub.Register.StartupHook("End", () => {
      mathjax.Hub.Queue(() => {
        report(true);
      });
    });
  } else if (loads && Date.now() - started < MATHJAX_WAIT_MS) {
    setTimeout(whenTypeset, 50);
  } else {
    report(false);
  }
}
whenTypeset();
"""


def _need(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        reason = f"{program} not found: apt-get install chromium chromium-driver"
        if _in_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def _need_mathjax() -> None:
    """Debian's MathJax, which the build copies into the site (docs/conf.py)."""
    folder = Path(os.environ.get("MINIMSAM_MATHJAX_DIR", "/usr/share/javascript/mathjax"))
    if not (folder / "MathJax.js").is_file():
        reason = f"MathJax not found in {folder}: apt-get install libjs-mathjax"
        if _in_ci():
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture(scope="session")
def site() -> Path:
    """The site, built with the documented command (an unchanged tree rebuilds in seconds)."""
    _need_mathjax()
    env = dict(
        os.environ, PYTHONPATH=str(REPO), OPENBLAS_NUM_THREADS="1", MINIMSAM_STRICT_CLAIMS="1"
    )
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", *BUILD],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, (
        f"the docs build failed:\n{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
    )
    return SITE


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="session")
def server(site):
    """``http://127.0.0.1:PORT/`` serving the site from a thread, like ``python -m http.server``."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium through Debian's chromedriver (nothing downloaded)."""
    binary, driver_path = _need("chromium"), _need("chromedriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,1000", "--allow-file-access-from-files"):  # fmt: skip
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    driver.set_script_timeout(60)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _visit(driver, url: str) -> dict:
    """Open ``url`` and return the page report plus the console errors it logged."""
    driver.get_log("browser")  # drop what earlier pages logged
    driver.get(url)
    report = driver.execute_async_script(PAGE_REPORT_JS)
    report["console_errors"] = [
        entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"
    ]
    return report


def _pages(site: Path) -> list[str]:
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))
    return [p for p in pages if not p.startswith(("_static/", "_sources/"))]


@pytest.fixture(scope="session")
def reports(site, server, browser) -> dict[str, dict]:
    """Every page of the site opened once over HTTP: ``{page: report}``."""
    return {page: _visit(browser, server + page) for page in _pages(site)}


def _problems(reports: dict[str, dict], check) -> list[str]:
    return [f"{page}: {problem}" for page, r in reports.items() if (problem := check(r))]


def test_every_tutorial_is_executed(site):
    """Each tutorial page holds the outputs of its notebook, executed by the build."""
    notebooks = sorted((REPO / "tutorials").glob("*.ipynb"))
    assert notebooks
    for notebook in notebooks:
        html = (site / "tutorials" / f"{notebook.stem}.html").read_text(encoding="utf-8")
        assert html.count('class="cell_output') > 0, f"{notebook.name}: no outputs on its page"
        # Widgets: their JavaScript would need the network; the page shows the static
        # figure and says how to get the sliders (docs/conf.py).
        assert "application/vnd.jupyter.widget" not in html, notebook.name
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        if any(word in code for word in ("ipywidgets", "step_explorer", "interact(")):
            assert "needs a running Jupyter kernel" in html, f"{notebook.name}: no widget note"


def test_the_site_has_every_part(reports):
    pages = set(reports)
    expected = {"index.html", LANDING, MSAM_TUTORIAL, "docs/optimizers.html", "README.html",
                "minimsam/crosscheck/FORMAT.html", "experiments/results/compare.html",
                "docs/api/optim.html", "docs/api/torch.html"}  # fmt: skip
    assert expected <= pages, f"missing pages: {sorted(expected - pages)}"
    notebooks = {p.stem for p in (REPO / "tutorials").glob("*.ipynb")}
    assert notebooks and {f"tutorials/{n}.html" for n in notebooks} <= pages
    # The tutorials were executed: the MSAM page holds output figures.
    assert reports[MSAM_TUTORIAL]["images"] > 0


def test_no_console_errors(reports):
    problems = _problems(reports, lambda r: r["console_errors"])
    assert not problems, "\n".join(map(str, problems))


def test_every_image_loads(reports):
    problems = _problems(reports, lambda r: r["broken_images"])
    assert not problems, "\n".join(map(str, problems))


def test_maths_is_rendered(reports):
    def check(r):
        if r["math_nodes"] and not (r["mathjax"] and r["rendered"]):
            return f"{r['math_nodes']} maths nodes, {r['rendered']} rendered by MathJax"
        if r["math_errors"]:
            return f"{r['math_errors']} TeX errors"
        raw = RAW_MATH.findall(r["text"])
        return f"raw TeX in the text: {raw[:5]}" if raw else None

    assert reports["docs/optimizers.html"]["rendered"] > 20
    assert reports[MSAM_TUTORIAL]["rendered"] > 0
    problems = _problems(reports, check)
    assert not problems, "\n".join(problems)


def test_internal_links_resolve(reports, server):
    targets = {
        link.split("#")[0]
        for r in reports.values()
        for link in r["links"]
        if link.startswith(server)
    }
    assert len(targets) > 20
    broken = []
    for url in sorted(targets):
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                status = response.status
        except urllib.error.HTTPError as error:
            status = error.code
        if status != 200:
            broken.append(f"{status} {url[len(server) :]}")
    assert not broken, "\n".join(broken)


def _screenshot(driver, path: Path, max_height: int = 16000) -> None:
    """A full-page PNG (up to ``max_height`` CSS pixels), written atomically."""
    size = driver.execute_script(
        "return [document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
    )
    clip = {"x": 0, "y": 0, "width": size[0], "height": min(size[1], max_height), "scale": 1}
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(base64.b64decode(shot["data"]))
    os.replace(tmp, path)


@pytest.mark.parametrize("page", [LANDING, MSAM_TUTORIAL])
def test_pages_work_from_disk_and_screenshots(site, browser, page):
    """Opened as file://, the page loads its images and maths; the screenshot is kept."""
    report = _visit(browser, (site / page).as_uri())
    assert not report["console_errors"], report["console_errors"]
    assert report["images"] > 0 and not report["broken_images"], report["broken_images"]
    if page == MSAM_TUTORIAL:
        assert report["math_nodes"] > 0
    if report["math_nodes"]:
        assert report["mathjax"] and report["rendered"] > 0 and not report["math_errors"]
    assert not RAW_MATH.findall(report["text"])
    shot = SCREENSHOTS / ("landing.png" if page == LANDING else "04_msam.png")
    _screenshot(browser, shot)
    assert shot.stat().st_size > 10_000
