"""What every figure shares: the drawing style, the figure object, saving, comparing.

Figures are drawn on :class:`matplotlib.figure.Figure` objects, not through ``pyplot``,
so generating them never changes the caller's matplotlib backend. Runs are seeded and
the files carry no dates or versions (``svg.hashsalt`` is fixed; PNGs are saved with
``metadata={"Software": None}``), so regenerating gives the same bytes on the same
platform, and the same pixels up to anti-aliasing on another.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

import minimsam as ms
from minimsam import viz

STYLE = {
    "svg.hashsalt": "minimsam",
    "font.size": 11,
    "axes.titlesize": 11,
    "axes.labelsize": 11,
    "legend.fontsize": 10,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "figure.titlesize": 13,
    "figure.dpi": 100,
}
DPI = 110

# How different a fresh drawing may be from a committed file before it counts as stale:
# another matplotlib or FreeType may anti-alias text slightly differently.
MEAN_PIXEL_TOLERANCE = 1.0  # mean |difference| per channel, out of 255
STRONG_DIFFERENCE, MAX_STRONG_FRACTION = 100, 0.005  # at most 0.5% of pixels changed a lot


@contextlib.contextmanager
def figure_style() -> Iterator[None]:
    """The rcParams every figure is drawn with, and the NumPy backend (as a context)."""
    import matplotlib

    with matplotlib.rc_context({**STYLE, **viz.rc_params()}), ms.use_backend("numpy"):
        yield


def new_figure(**kwargs: Any) -> Any:
    """A ``Figure`` with constrained layout, which makes room for legends outside axes."""
    from matplotlib.figure import Figure

    return Figure(layout="constrained", **kwargs)


def save(fig: Any, out_dir: Path, name: str) -> Path:
    """Write ``fig`` to ``out_dir/name`` atomically (:func:`minimsam.viz.save_figure`)."""
    return viz.save_figure(fig, Path(out_dir) / name, dpi=DPI)


def _frames(path: Path) -> list[np.ndarray]:
    from PIL import Image, ImageSequence

    with Image.open(path) as im:
        return [np.asarray(f.convert("RGBA"), dtype=float) for f in ImageSequence.Iterator(im)]


def difference(new: Path, committed: Path) -> str | None:
    """None if ``new`` shows the same image(s) as ``committed``, else what differs.

    Identical bytes pass at once; otherwise every frame is decoded and compared pixel
    by pixel, within :data:`MEAN_PIXEL_TOLERANCE` and :data:`MAX_STRONG_FRACTION`.
    """
    if not committed.is_file():
        return f"{committed} is missing"
    if new.read_bytes() == committed.read_bytes():
        return None
    a, b = _frames(new), _frames(committed)
    if len(a) != len(b):
        return f"{committed.name}: {len(a)} frames, committed {len(b)}"
    for k, (x, y) in enumerate(zip(a, b)):
        if x.shape != y.shape:
            return f"{committed.name}: size {x.shape[:2]}, committed {y.shape[:2]}"
        diff = np.abs(x - y)
        strong = float(np.mean(diff.max(axis=-1) > STRONG_DIFFERENCE))
        if diff.mean() >= MEAN_PIXEL_TOLERANCE or strong >= MAX_STRONG_FRACTION:
            return (
                f"{committed.name} (frame {k}) differs from a fresh drawing: mean pixel "
                f"difference {diff.mean():.2f}, {100 * strong:.2f}% of pixels changed strongly"
            )
    return None
