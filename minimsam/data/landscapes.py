"""Toy 2-D loss landscapes for tutorials and figures, with known minima.

Each surface is a function ``loss(w)`` of a parameter vector ``w`` of shape ``(2,)``,
written with minimsam ops, so ``ms.value_and_grad`` and ``ms.hvp`` work on it::

    from minimsam import optim
    from minimsam.data import landscapes

    surface = landscapes.get("sharp-flat")
    params = {"w": ms.asarray(surface.start)}
    grad_fn = surface.grad_fn(noise=0.1, seed=0)     # grad_fn(params) -> (loss, grads)
    opt = optim.MSAM(lr=0.05, rho=0.3)
    state = opt.init(params)
    params, state, info = opt.step(params, state, grad_fn)

The surfaces (``LANDSCAPES``), with ``w = (x, y)``:

``"quadratic"``
    ``L = (a x^2 + b y^2) / 2`` with ``a = 20``, ``b = 1``: an ill-conditioned bowl
    (condition number 20). Minimum ``(0, 0)``, ``L = 0``, Hessian ``diag(a, b)``.
    Gradient descent is stable for ``lr < 2 / a = 0.1``; heavy-ball momentum
    oscillates along ``x``, so ``cos(v, g) < 0``: a toy picture of the overshoot.
``"rosenbrock"``
    ``L = (1 - x)^2 + 100 (y - x^2)^2``, the banana valley. Minimum ``(1, 1)``, ``L = 0``,
    Hessian there ``[[802, -400], [-400, 200]]``.
``"sharp-flat"``
    Two Gaussian wells of equal depth, one sharp and one flat, in a shallow bowl that
    brings far points back::

        L = -A1 exp(-|w - c1|^2 / (2 s1^2)) - A2 exp(-|w - c2|^2 / (2 s2^2)) + k |w|^2 / 2

    with the sharp well ``c1 = (-1, 0)``, ``s1 = 0.2``, the flat well ``c2 = (1, 0)``,
    ``s2 = 0.7``, ``A2 = 1``, ``k = 0.1``. The tails of the wells and the bowl shift the
    minima off the centres and change their depths; ``A1 = 0.98487518360399595`` is
    the amplitude that makes the two depths equal. It was found by solving
    ``L(m1) = L(m2)`` with 40-digit arithmetic; ``y = 0`` is a mirror axis, so both
    minima lie on it::

        sharp minimum  m1 = (-0.99309436516358708, 0),  L = -0.95233804496515414
        flat minimum   m2 = ( 0.95318917943614363, 0),  L = -0.95233804496515414
        Hessians       m1: diag(24.43, 24.74)     m2: diag(2.127, 2.136)
        saddle         (-0.46764287618237907, 0),  L = -0.12859948370833051

    The depths agree to float64 rounding (the tests re-derive both minima by Newton's
    method). This surface illustrates, it is not the paper's evidence: the MSAM paper
    has no toy experiment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import minimsam as ms
from minimsam import autodiff as ad

__all__ = ["LANDSCAPES", "Landscape", "get", "quadratic", "rosenbrock", "sharp_flat"]

Point = tuple[float, float]


@dataclass(frozen=True)
class Landscape:
    """A toy loss surface ``loss(w)``, ``w`` of shape ``(2,)``, with known minima.

    Attributes:
        name: the registry key.
        surface: ``surface(x, y)``, the loss written on the two coordinates; ``x`` and ``y``
            may be arrays of any (equal) shape or tensors, so one function serves the
            gradient (through :meth:`loss`) and contour plots (through :meth:`values`).
        minima: the local minima, as ``(x, y)`` points.
        bounds: ``((x_min, x_max), (y_min, y_max))``, a plotting window holding the minima.
        start: a starting point for demonstrations.
        lr: a learning rate at which SGD with momentum 0.9 is stable from ``start``.
        description: one line on what the surface shows.
    """

    name: str
    surface: Callable[[Any, Any], Any]
    minima: tuple[Point, ...]
    bounds: tuple[Point, Point]
    start: Point
    lr: float
    description: str = ""

    def loss(self, w: Any) -> Any:
        """``L(w)`` for ``w`` of shape ``(2,)`` (an array or a tensor): a scalar."""
        return self.surface(w[0], w[1])

    def grad_fn(self, noise: float = 0.0, seed: int = 0) -> Callable[[dict], tuple[Any, dict]]:
        """A ``grad_fn(params) -> (loss, grads)`` for ``opt.step``, ``params = {"w": w}``.

        The gradient is exact when ``noise == 0``; otherwise each call adds
        ``noise * z`` with ``z ~ N(0, I_2)`` drawn from a host generator seeded by
        ``seed`` (one draw per call, so a trajectory is reproducible), mimicking
        mini-batch noise. The loss returned is always the exact ``L(w)``.
        """
        if not (isinstance(noise, (int, float)) and np.isfinite(noise) and noise >= 0):
            raise ValueError(f"noise must be a finite number >= 0, got {noise!r}")
        rng = np.random.default_rng(seed)
        value_and_grad = ms.value_and_grad(self.loss)

        def grad_fn(params: dict) -> tuple[Any, dict]:
            w = params["w"]
            loss, g = value_and_grad(w)
            if noise:
                g = g + ms.asarray(noise * rng.standard_normal(2), dtype=g.dtype)
            return loss, {"w": g}

        return grad_fn

    def values(self, x: Any, y: Any) -> np.ndarray:
        """``L`` at every point of the host arrays ``x``, ``y`` (e.g. a meshgrid): a host array."""
        with ms.no_grad():
            out = self.surface(ms.asarray(np.asarray(x, float)), ms.asarray(np.asarray(y, float)))
        return np.asarray(ms.to_numpy(out), dtype=float)


# ----------------------------------------------------------------------------- the surfaces

QUADRATIC_A, QUADRATIC_B = 20.0, 1.0


def quadratic(x: Any, y: Any) -> Any:
    """``(a x^2 + b y^2) / 2`` with ``a = 20``, ``b = 1``."""
    return 0.5 * (QUADRATIC_A * x**2 + QUADRATIC_B * y**2)


def rosenbrock(x: Any, y: Any) -> Any:
    """``(1 - x)^2 + 100 (y - x^2)^2``."""
    return (1.0 - x) ** 2 + 100.0 * (y - x**2) ** 2


SHARP_CENTER, SHARP_WIDTH, SHARP_AMPLITUDE = (-1.0, 0.0), 0.2, 0.98487518360399595
FLAT_CENTER, FLAT_WIDTH, FLAT_AMPLITUDE = (1.0, 0.0), 0.7, 1.0
BOWL = 0.1


def _gaussian_well(x: Any, y: Any, center: Point, width: float, amplitude: float) -> Any:
    """``-amplitude * exp(-|w - center|^2 / (2 width^2))``."""
    r2 = (x - center[0]) ** 2 + (y - center[1]) ** 2
    return -amplitude * ad.exp(r2 * (-0.5 / width**2))


def sharp_flat(x: Any, y: Any) -> Any:
    """A sharp and a flat Gaussian well of equal depth in a shallow bowl (module docstring)."""
    sharp = _gaussian_well(x, y, SHARP_CENTER, SHARP_WIDTH, SHARP_AMPLITUDE)
    flat = _gaussian_well(x, y, FLAT_CENTER, FLAT_WIDTH, FLAT_AMPLITUDE)
    return sharp + flat + (0.5 * BOWL) * (x**2 + y**2)


LANDSCAPES: dict[str, Landscape] = {
    "quadratic": Landscape(
        name="quadratic",
        surface=quadratic,
        minima=((0.0, 0.0),),
        bounds=((-2.0, 2.0), (-1.0, 3.0)),
        start=(-1.5, 2.5),
        lr=0.01,
        description="ill-conditioned bowl (a x^2 + b y^2) / 2, a = 20, b = 1",
    ),
    "rosenbrock": Landscape(
        name="rosenbrock",
        surface=rosenbrock,
        minima=((1.0, 1.0),),
        bounds=((-2.0, 2.0), (-1.0, 3.0)),
        start=(-1.2, 1.0),
        lr=1e-3,
        description="Rosenbrock's banana valley (1 - x)^2 + 100 (y - x^2)^2",
    ),
    "sharp-flat": Landscape(
        name="sharp-flat",
        surface=sharp_flat,
        minima=((-0.99309436516358708, 0.0), (0.95318917943614363, 0.0)),
        bounds=((-2.5, 2.5), (-1.8, 1.8)),
        start=(-1.4, 0.5),
        lr=0.05,
        description="sharp well at x = -0.99 and flat well at x = 0.95, equal depth -0.95234",
    ),
}


def get(name: str) -> Landscape:
    """The landscape registered as ``name`` (a key of ``LANDSCAPES``)."""
    try:
        return LANDSCAPES[name]
    except KeyError:
        raise ValueError(
            f"unknown landscape {name!r}; valid names: {', '.join(LANDSCAPES)}"
        ) from None
