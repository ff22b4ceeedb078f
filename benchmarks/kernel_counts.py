"""Kernel launches per optimizer step, counted on the fake GPU (no GPU needed).

On a GPU each array operation is a kernel launch with a fixed cost of a few
microseconds, whatever its size, so a step of a small network costs about its number of
launches times that cost. The ``fakegpu`` backend counts the launches CuPy would make
(:func:`minimsam.testing.fake_gpu.count_kernels`). For each optimizer, one steady-state
step (the previous step's params and state fed back, as in a training loop) is counted
on the MLP 784-256-256-10 and on ``nn.SmallCNN``: all its launches, those of the
gradient evaluations (forward and backward), and the rest, the update. Host syncs are
the device -> host reads that wait for the GPU (the finite check's one per step).

Run: ``python -m benchmarks.kernel_counts``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import minimsam as ms
from minimsam import nn
from minimsam.testing.fake_gpu import count_kernels

try:
    from benchmarks.bench_autodiff import SIZES
    from benchmarks.common import markdown_table
except ImportError:  # run as a script from the benchmarks/ folder
    from bench_autodiff import SIZES
    from common import markdown_table

MODELS: dict[str, tuple[Callable[[], object], tuple[int, ...]]] = {
    "MLP": (lambda: nn.MLP(SIZES), (SIZES[0],)),
    "SmallCNN": (lambda: nn.SmallCNN(), (1, 28, 28)),
}


@dataclass
class StepCount:
    """Launches of one step: in all, in its gradient evaluations, and host syncs."""

    launches: int
    grad_launches: int
    syncs: int

    @property
    def update(self) -> int:
        """The launches of the step outside ``grad_fn``: the optimizer's own."""
        return self.launches - self.grad_launches


def count_step(make_opt: Callable[[], object], model_name: str, batch: int = 4) -> StepCount:
    """Count one steady-state step of ``make_opt()`` on ``model_name`` (fakegpu backend)."""
    make_model, input_shape = MODELS[model_name]
    with ms.use_backend("fakegpu"):
        model = make_model()
        params = model.init(seed=0)
        rng = np.random.default_rng(0)
        x = ms.asarray(rng.standard_normal((batch, *input_shape)).astype(np.float32))
        y = ms.asarray(rng.integers(0, 10, size=batch))
        loss_and_grad = ms.value_and_grad(lambda p: nn.cross_entropy(model(p, x), y))
        grad_launches = []

        def grad_fn(point):
            with count_kernels() as inside:
                result = loss_and_grad(point)
            grad_launches.append(inside.launches)
            return result

        opt = make_opt()
        state = opt.init(params)
        for _ in range(2):  # the steady state: each step's outputs fed to the next
            params, state, _ = opt.step(params, state, grad_fn)
        grad_launches.clear()
        with count_kernels() as total:
            opt.step(params, state, grad_fn)
    return StepCount(total.launches, sum(grad_launches), total.syncs)


def count_all(optimizers: dict[str, Callable[[], object]]) -> dict[tuple[str, str], StepCount]:
    """``{(optimizer, model): StepCount}`` for every optimizer on every model."""
    return {(name, m): count_step(make, m) for name, make in optimizers.items() for m in MODELS}


def table(counts: dict[tuple[str, str], StepCount], baseline: str) -> str:
    """Markdown: launches per step and of the update, and the difference to ``baseline``."""
    header = ["optimizer"]
    for m in MODELS:
        header += [f"{m}: kernels/step", f"{m}: update", f"{m}: − {baseline}"]
    header.append("host syncs/step")
    rows = []
    for name in dict.fromkeys(n for n, _ in counts):
        row: list[object] = [name]
        for m in MODELS:
            c, base = counts[name, m], counts[baseline, m]
            row += [c.launches, c.update, f"{c.launches - base.launches:+d}"]
        row.append(counts[name, next(iter(MODELS))].syncs)
        rows.append(row)
    return markdown_table(header, rows)


if __name__ == "__main__":
    try:
        from benchmarks.bench_optim import OPTIMIZERS, SGD
    except ImportError:
        from bench_optim import OPTIMIZERS, SGD
    print(table(count_all(OPTIMIZERS), SGD))
