"""Draw every figure in the repository's figures/ folder, deterministically.

    python -m experiments.figures                      # all, into ./minimsam-figures/
    python -m experiments.figures --out figures        # all, replacing the committed ones
    python -m experiments.figures --only msam_steps    # one figure (repeat for more)
    python -m experiments.figures --check              # are the committed figures current?
    python -m experiments.figures --list

Run it from the repository root (experiments/ is not part of the installed package).
The default output folder is ./minimsam-figures/ under the current folder, so a run
never overwrites the committed figures by accident: write into figures/ only with an
explicit --out figures. Every file is written atomically.

The toy-surface figures are drawn from the library (optimizers traced with
opt.step(..., trace=True)) in seconds. Three figures need minutes of computation, so
they are drawn from data that the same code computed and the repository keeps:

- sharp_flat_basins: figures/data/sharp_flat_basins.json;
- mnist1d_comparison: figures/data/mnist1d_comparison.json;
- momentum_gradient_cosine: experiments/results/cosine.json, the output of
  python -m experiments.cosine.

--recompute computes the data of the first two afresh (minutes), writes it to
OUT/data/ and draws from it (--out figures --recompute replaces the committed data);
the cosine figure is recomputed by running python -m experiments.cosine. The tests
redraw every figure from the committed data, compare it with the committed file, and
recompute a cheap part of each data file.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from minimsam.atomic import write_text

from . import mnist1d, sharp_flat, steps
from .base import difference, figure_style, save

__all__ = ["DEFAULT_OUT", "FIGURES", "FIGURES_DIR", "FigureSpec", "figures", "main", "stale"]

ROOT = Path(__file__).resolve().parents[2]
FIGURES_DIR = ROOT / "figures"  #: the committed figures
DEFAULT_OUT = Path("minimsam-figures")  #: the default output folder, under the current one


@dataclass(frozen=True)
class FigureSpec:
    """One figure file.

    filename: the file written into the output folder.
    draw: ``draw(data) -> matplotlib Figure``; ``data`` is None for figures drawn from
        code. For the animation, the figure showing its first frame.
    description: one line for ``--list``.
    compute: for figures drawn from stored data, ``compute() -> data`` (minutes).
    data_file: where the repository keeps that data.
    write_file: ``write_file(out_dir) -> Path`` for a file that is not one figure (GIF).
    """

    filename: str
    draw: Callable[[Any], Any]
    description: str
    compute: Callable[[], dict] | None = None
    data_file: Path | None = None
    write_file: Callable[[Path], Path] | None = None

    def load(self) -> dict | None:
        """The stored data (None for figures drawn from code alone)."""
        if self.data_file is None:
            return None
        if not self.data_file.is_file():
            raise FileNotFoundError(
                f"{self.data_file} is missing: run `python -m experiments.figures "
                f"--recompute --only {Path(self.filename).stem}`"
            )
        return json.loads(self.data_file.read_text())

    def write(self, out_dir: Path, data: Any) -> Path:
        """Draw the figure from ``data`` and write it into ``out_dir``, atomically."""
        if self.write_file is not None:
            return self.write_file(out_dir)
        return save(self.draw(data), out_dir, self.filename)


def _steps_entry(key: str) -> FigureSpec:
    label = steps.STEP_FIGURES[key].label
    return FigureSpec(
        f"{key}_steps.png",
        lambda data: steps.draw_steps(key),
        f"{label} on the quadratic: the path, and one step decomposed",
    )


FIGURES: dict[str, FigureSpec] = {
    **{f"{k}_steps": _steps_entry(k) for k in steps.STEP_FIGURES},
    "msam_animation": FigureSpec(
        "msam_animation.gif",
        lambda data: steps.first_frame(),
        "MSAM on the quadratic, one step per frame (GIF)",
        write_file=steps.msam_animation,
    ),
    "sharp_flat_trajectories": FigureSpec(
        "sharp_flat_trajectories.png",
        lambda data: sharp_flat.draw_trajectories(),
        "SGD, NAG, SAM, MSAM from the same starts, noisy gradients",
    ),
    "sharp_flat_basins": FigureSpec(
        "sharp_flat_basins.png",
        sharp_flat.draw_basins,
        "fraction of random starts ending in the flat well, vs rho",
        compute=sharp_flat.basins_data,
        data_file=FIGURES_DIR / "data" / "sharp_flat_basins.json",
    ),
    "momentum_gradient_cosine": FigureSpec(
        "momentum_gradient_cosine.png",
        mnist1d.draw_cosine,
        "cos(v_t, g_t) while SGD-momentum trains on MNIST-1D, with the frozen control",
        data_file=ROOT / "experiments" / "results" / "cosine.json",  # python -m experiments.cosine
    ),
    "mnist1d_comparison": FigureSpec(
        "mnist1d_comparison.png",
        mnist1d.draw_comparison,
        "test accuracy of SGD, NAG, SAM, MSAM on MNIST-1D, and against rho",
        compute=mnist1d.comparison_data,
        data_file=FIGURES_DIR / "data" / "mnist1d_comparison.json",
    ),
}


def dumps(data: dict) -> str:
    """JSON text of figure data: one line per run (short diffs), plain JSON otherwise."""

    def compact(x: Any) -> str:
        return json.dumps(x, separators=(", ", ": "), default=lambda a: a.tolist())

    lines = []
    for key, value in data.items():
        if isinstance(value, dict) and value and all(isinstance(v, list) for v in value.values()):
            inner = ",\n".join(f"  {json.dumps(k)}: {compact(v)}" for k, v in value.items())
            lines.append(f" {json.dumps(key)}: {{\n{inner}\n }}")
        else:
            lines.append(f" {json.dumps(key)}: {compact(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def _write_json(data: dict, path: Path) -> None:
    """Write ``data`` to ``path`` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, dumps(data))


def figures(
    out: str | Path = DEFAULT_OUT, only: Sequence[str] | None = None, recompute: bool = False
) -> list[Path]:
    """Write the figures named in ``only`` (default: all of ``FIGURES``) into ``out``.

    With ``recompute``, figures drawn from stored data compute it afresh first and
    write it to ``out/data/<name>.json``.
    """
    names = list(FIGURES) if not only else list(only)
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        raise ValueError(f"unknown figure(s) {unknown}; valid names: {', '.join(FIGURES)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with figure_style():
        for name in names:
            spec, start = FIGURES[name], time.perf_counter()
            if recompute and spec.compute is not None:  # else: the stored data
                data = spec.compute()
                _write_json(data, out / "data" / f"{name}.json")
                data = json.loads(dumps(data))
            else:
                data = spec.load()
            path = spec.write(out, data)
            print(f"{path}  ({time.perf_counter() - start:.1f} s)", file=sys.stderr)
            written.append(path)
    return written


def stale(only: Sequence[str] | None = None) -> list[str]:
    """Draw the figures into a temporary folder; what differs from ``figures/`` (empty: all
    current)."""
    problems = []
    with tempfile.TemporaryDirectory(prefix="minimsam-figures-check-") as tmp:
        for path in figures(tmp, only):
            problem = difference(path, FIGURES_DIR / path.name)
            if problem:
                problems.append(problem)
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: see the module docstring."""
    parser = argparse.ArgumentParser(
        prog="python -m experiments.figures",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        choices=list(FIGURES),
        help="make only this figure (repeatable); see --list",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help=f"output folder (default ./{DEFAULT_OUT}; `--out figures` "
        "replaces the committed figures)",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--recompute",
        action="store_true",
        help="compute the stored data afresh (minutes) into OUT/data/",
    )
    mode.add_argument(
        "--check",
        action="store_true",
        help=f"compare fresh drawings with {FIGURES_DIR}; write nothing there",
    )
    mode.add_argument("--list", action="store_true", help="list the figures and exit")
    args = parser.parse_args(argv)
    if args.list:
        for name, spec in FIGURES.items():
            source = f"data: {spec.data_file.relative_to(ROOT)}" if spec.data_file else "code"
            print(f"{name:26s} {spec.filename:30s} {source:45s} {spec.description}")
        return 0
    if args.check:
        problems = stale(args.only)
        for problem in problems:
            print(f"stale: {problem}", file=sys.stderr)
        print(
            "figures: all current"
            if not problems
            else "figures: regenerate with `python -m experiments.figures --out figures`"
        )
        return 1 if problems else 0
    figures(args.out, args.only, recompute=args.recompute)
    return 0
