"""Cost of each optimizer per training step, relative to SGD with momentum.

The network, data and float32 setting are those of ``bench_autodiff.py``
(MLP 784-256-256-10). Each contender is one full ``opt.step`` (gradient
evaluations included); all are timed in interleaved rounds in one process, and
the ratio is to SGD-momentum's median from the same run. The table also lists
gradient evaluations per step and the bytes of optimizer state (params-sized
buffers), the two columns behind the paper's claim that MSAM costs what SGD costs
while SAM costs twice as much.

Run: ``python benchmarks/bench_optim.py [--batch-sizes 128 512] [--rounds 30] [--backend numpy]``.
"""

from __future__ import annotations

import argparse

import minimsam as ms
from minimsam import nn, optim

try:
    from benchmarks.bench_autodiff import SIZES, make_batch
    from benchmarks.common import machine, markdown_table, time_interleaved
except ImportError:  # run as a script from the benchmarks/ folder
    from bench_autodiff import SIZES, make_batch
    from common import machine, markdown_table, time_interleaved

OPTIMIZERS = {
    "SGD (momentum)": lambda: optim.SGD(lr=0.01, momentum=0.9, check_finite=False),
    "NAG": lambda: optim.NAG(lr=0.01, momentum=0.9, check_finite=False),
    "MSAM": lambda: optim.MSAM(lr=0.01, momentum=0.9, rho=0.3, check_finite=False),
    "MSAM (store_perturbed)": lambda: optim.MSAM(
        lr=0.01, momentum=0.9, rho=0.3, store_perturbed=True, check_finite=False
    ),
    "SAM": lambda: optim.SAM(lr=0.01, momentum=0.9, rho=0.05, check_finite=False),
    "AdamW": lambda: optim.AdamW(lr=1e-3, check_finite=False),
    "AdamWMSAM": lambda: optim.AdamWMSAM(lr=1e-3, rho=1.0, check_finite=False),
}


def state_bytes(state: dict) -> int:
    """Bytes of the params-sized buffers in an optimizer state (scalars excluded)."""
    total = 0
    for value in state.values():
        if isinstance(value, dict):
            total += sum(int(a.nbytes) for a in value.values())
    return total


def stepper(make_opt, batch: int):
    """A closure doing one optimizer step, and the optimizer's state after a step."""
    model = nn.MLP(SIZES)
    holder = {"params": model.init(seed=0)}
    x, y = (ms.asarray(a) for a in make_batch(batch))
    grad_fn = ms.value_and_grad(lambda p: nn.cross_entropy(model(p, x), y))
    opt = make_opt()
    holder["state"] = opt.init(holder["params"])
    holder["evals"] = 0

    def step():
        holder["params"], holder["state"], info = opt.step(
            holder["params"], holder["state"], grad_fn
        )
        holder["evals"] = info.grad_evals

    return step, holder


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[128, 512])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--backend", default="numpy")
    args = parser.parse_args(argv)
    ms.set_backend(args.backend)
    rows = []
    for batch in args.batch_sizes:
        steppers = {name: stepper(make, batch) for name, make in OPTIMIZERS.items()}
        times = time_interleaved({n: s for n, (s, _) in steppers.items()}, rounds=args.rounds)
        base = times["SGD (momentum)"]
        for name, seconds in times.items():
            holder = steppers[name][1]
            rows.append([batch, name, f"{seconds * 1e3:.3f}", f"{seconds / base:.2f}",
                         holder["evals"], f"{state_bytes(holder['state']):,}"])  # fmt: skip
    table = markdown_table(
        ["batch", "optimizer", "ms/step (median)", "× SGD", "grad evals/step", "state bytes"],
        rows,
    )
    print(f"MLP {'-'.join(map(str, SIZES))}, float32, backend {args.backend}\n")
    print(f"Machine: {machine()}\n")
    print(table)
    return table


if __name__ == "__main__":
    main()
