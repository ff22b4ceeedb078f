"""Training steps per second on the CPU (NumPy) and on a GPU (CuPy), side by side.

Models: the MLP 784-256-256-10 of ``bench_autodiff.py`` and ``nn.SmallCNN`` on 28x28
images, float32. Optimizers: SGD-momentum, MSAM, SAM (``check_finite=False``, so a
step never waits for the host). For every (model, batch) the contenders are timed in
interleaved rounds in one process; GPU timings synchronise the device after each
timed call, so they measure finished work. Without a GPU only the NumPy rows appear.

Run: ``python benchmarks/bench_backends.py [--batch-sizes 128 512 2048] [--rounds 5]``.
"""

from __future__ import annotations

import argparse

import numpy as np

import minimsam as ms
from minimsam import nn, optim

try:
    from benchmarks.common import machine, markdown_table, time_interleaved
except ImportError:  # run as a script from the benchmarks/ folder
    from common import machine, markdown_table, time_interleaved

MODELS = {
    "MLP 784-256-256-10": (lambda: nn.MLP([784, 256, 256, 10]), (784,)),
    "SmallCNN": (lambda: nn.SmallCNN(), (1, 28, 28)),
}
OPTIMIZERS = {
    "SGD": lambda: optim.SGD(lr=0.01, momentum=0.9, check_finite=False),
    "MSAM": lambda: optim.MSAM(lr=0.01, momentum=0.9, rho=0.3, check_finite=False),
    "SAM": lambda: optim.SAM(lr=0.01, momentum=0.9, rho=0.05, check_finite=False),
}


def _synchronize(backend_name: str) -> None:
    if backend_name == "cupy":
        ms.get_backend().xp.cuda.Device().synchronize()


def stepper(backend_name: str, model_name: str, opt_name: str, batch: int):
    """A closure running one training step on ``backend_name`` (and waiting for it)."""
    with ms.use_backend(backend_name):
        make_model, input_shape = MODELS[model_name]
        model = make_model()
        rng = np.random.default_rng(0)
        x = ms.asarray(rng.standard_normal((batch, *input_shape)).astype(np.float32))
        y = ms.asarray(rng.integers(0, 10, size=batch))
        opt = OPTIMIZERS[opt_name]()
        holder = {"params": model.init(seed=0)}
        holder["state"] = opt.init(holder["params"])
        grad_fn = ms.value_and_grad(lambda p: nn.cross_entropy(model(p, x), y))

    def step():
        with ms.use_backend(backend_name):
            holder["params"], holder["state"], _ = opt.step(
                holder["params"], holder["state"], grad_fn
            )
            _synchronize(backend_name)

    return step


def available(name: str) -> bool:
    try:
        with ms.use_backend(name):
            return True
    except ms.BackendUnavailableError:
        return False


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[128, 512, 2048])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    args = parser.parse_args(argv)
    backends = [b for b in ("numpy", "cupy") if available(b)]
    rows = []
    for model_name in args.models:
        for batch in args.batch_sizes:
            contenders = {
                (b, o): stepper(b, model_name, o, batch) for b in backends for o in OPTIMIZERS
            }
            times = time_interleaved(contenders, rounds=args.rounds, reps=2, warmup=2)
            for (b, o), seconds in times.items():
                speedup = times[("numpy", o)] / seconds
                rows.append([model_name, batch, o, b, f"{1 / seconds:.1f}",
                             f"{seconds * 1e3:.2f}", f"{speedup:.1f}×"])  # fmt: skip
            print(f"done: {model_name} batch {batch}", flush=True)
    table = markdown_table(
        ["model", "batch", "optimizer", "backend", "steps/s", "ms/step", "speed-up vs numpy"],
        rows,
    )
    gpu = ""
    if "cupy" in backends:
        import cupy

        props = cupy.cuda.runtime.getDeviceProperties(0)
        gpu = f"; GPU: {props['name'].decode()}, CuPy {cupy.__version__}"
    print(f"\nMachine: {machine()}{gpu}\n")
    print(table)
    return table


if __name__ == "__main__":
    main()
