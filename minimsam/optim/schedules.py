"""Learning-rate and rho schedules: callables ``t -> value`` of the step count ``t``.

Pass them to an optimizer in place of a number (see :mod:`minimsam.optim.base`)::

    from minimsam.optim import MSAM, schedules
    opt = MSAM(lr=schedules.warmup_cosine(0.1, warmup_steps=100, total_steps=5000),
               rho=schedules.start_jump(3.0, steps=100))

``t`` is ``state["step"]``: 0 on the first step. Every schedule works for both lr and
rho. Learning rate: :func:`constant`, :func:`step_decay`, :func:`cosine`,
:func:`warmup_cosine`. Rho: :func:`constant`, :func:`start_jump` (rho = 0 during
warm-up, then on; the official MSAM code's ``startJump``), :func:`linear` (a ramp;
the official ``startRamp`` is ``linear(0, rho, steps)``).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence

from minimsam.optim.base import check_nonnegative

__all__ = ["constant", "cosine", "linear", "start_jump", "step_decay", "warmup_cosine"]


class Schedule:
    """A named callable ``t -> float``; the name makes optimizer reprs readable."""

    def __init__(self, fn: Callable[[int], float], description: str):
        self._fn = fn
        self._description = description

    def __call__(self, t: int) -> float:
        return float(self._fn(t))

    def __repr__(self) -> str:
        return self._description


def _steps(name: str, n: int, minimum: int = 1) -> int:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {n!r}")
    return int(n)


def constant(value: float) -> Schedule:
    """``value`` at every step."""
    value = check_nonnegative("value", value)
    return Schedule(lambda t: value, f"constant({value})")


def step_decay(value: float, milestones: Sequence[int], gamma: float = 0.1) -> Schedule:
    """``value * gamma**k`` with ``k`` the number of milestones ``<= t`` (torch MultiStepLR)."""
    value = check_nonnegative("value", value)
    gamma = check_nonnegative("gamma", gamma)
    milestones = [_steps("each milestone", m, minimum=0) for m in milestones]
    if milestones != sorted(milestones):
        raise ValueError(f"milestones must be increasing, got {milestones}")
    _check_finite_power(value, gamma, len(milestones))
    return Schedule(
        lambda t: value * gamma ** sum(m <= t for m in milestones),
        f"step_decay({value}, milestones={milestones}, gamma={gamma})",
    )


def _check_finite_power(value: float, gamma: float, k: int) -> None:
    """Refuse a step decay whose value after all ``k`` milestones, ``value * gamma**k``,
    is not a finite float (the largest value when ``gamma > 1``)."""
    try:
        last = value * gamma**k
    except OverflowError:
        last = math.inf
    if not math.isfinite(last):
        raise ValueError(
            f"step_decay reaches value * gamma**{k} = {value} * {gamma}**{k} after its "
            f"{k} milestones, which overflows a float: lower gamma or use fewer milestones"
        )


def _half_cosine(t: int, start: float, final: float, length: int) -> float:
    """``final + (start - final) * (1 + cos(pi * min(t, length) / length)) / 2``."""
    return final + (start - final) * 0.5 * (1.0 + math.cos(math.pi * min(t, length) / length))


def cosine(value: float, total_steps: int, final: float = 0.0) -> Schedule:
    """Half a cosine from ``value`` at ``t = 0`` to ``final`` at ``t >= total_steps``."""
    value, final = check_nonnegative("value", value), check_nonnegative("final", final)
    total_steps = _steps("total_steps", total_steps)
    return Schedule(
        lambda t: _half_cosine(t, value, final, total_steps),
        f"cosine({value}, total_steps={total_steps}, final={final})",
    )


def warmup_cosine(
    value: float, warmup_steps: int, total_steps: int, final: float = 0.0
) -> Schedule:
    """Linear warm-up, then half a cosine (the official MSAM code's ``cosWarmUp``)::

        t <  W:  value * (t + 1) / W                          (reaches value at t = W - 1)
        t >= W:  final + (value - final) * (1 + cos(pi * (t - W) / (T - W))) / 2

    with ``W = warmup_steps`` and ``T = total_steps``; the value is ``final`` from ``T`` on.
    """
    value, final = check_nonnegative("value", value), check_nonnegative("final", final)
    warmup_steps = _steps("warmup_steps", warmup_steps, minimum=0)
    total_steps = _steps("total_steps", total_steps, minimum=warmup_steps + 1)

    def fn(t: int) -> float:
        if t < warmup_steps:
            return value * (t + 1) / warmup_steps
        return _half_cosine(t - warmup_steps, value, final, total_steps - warmup_steps)

    return Schedule(
        fn, f"warmup_cosine({value}, warmup_steps={warmup_steps}, total_steps={total_steps})"
    )


def linear(start: float, end: float, steps: int) -> Schedule:
    """``start + (end - start) * min(t, steps) / steps``: a ramp, then constant ``end``."""
    start, end = check_nonnegative("start", start), check_nonnegative("end", end)
    steps = _steps("steps", steps)
    return Schedule(
        lambda t: start + (end - start) * min(t, steps) / steps,
        f"linear({start}, {end}, steps={steps})",
    )


def start_jump(value: float, steps: int) -> Schedule:
    """0 for ``t < steps``, then ``value``: rho off during warm-up (official ``startJump``)."""
    value = check_nonnegative("value", value)
    steps = _steps("steps", steps, minimum=0)
    return Schedule(lambda t: 0.0 if t < steps else value, f"start_jump({value}, steps={steps})")
