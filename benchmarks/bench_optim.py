"""Cost of each optimizer per training step, relative to SGD with momentum and to the floor.

The network, data and float32 setting are those of ``bench_autodiff.py``
(MLP 784-256-256-10). Each contender is one full ``opt.step`` (gradient
evaluations included) with the optimizer's defaults (the finite check on); all are
timed in interleaved rounds in one process. Two ratios: to SGD-momentum's median
from the same run, and to the *floor*, the hand-written NumPy forward/backward with
an in-place SGD-momentum update (``bench_autodiff.handwritten_step``). The table
also lists gradient evaluations per step and the bytes of optimizer state
(params-sized buffers), the two columns behind the paper's claim that MSAM costs
what SGD costs while SAM costs twice as much. Below the table, each target of the
step-overhead issue is printed with the measured ratio and whether it was met.

Run: ``python benchmarks/bench_optim.py [--batch-sizes 128 512] [--rounds 30] [--backend numpy]``.
``--markdown`` prints only the markdown (table and targets), as the README quotes it.
"""

from __future__ import annotations

import argparse

import minimsam as ms
from minimsam import nn, optim

try:
    from benchmarks.bench_autodiff import SIZES, handwritten_step, make_batch
    from benchmarks.common import CLOCKS, machine, markdown_table, set_clock, time_interleaved
except ImportError:  # run as a script from the benchmarks/ folder
    from bench_autodiff import SIZES, handwritten_step, make_batch
    from common import CLOCKS, machine, markdown_table, set_clock, time_interleaved

FLOOR = "floor (hand-written, in-place)"
SGD = "SGD (momentum)"
OPTIMIZERS = {
    SGD: lambda: optim.SGD(lr=0.01, momentum=0.9),
    "NAG": lambda: optim.NAG(lr=0.01, momentum=0.9),
    "MSAM": lambda: optim.MSAM(lr=0.01, momentum=0.9, rho=0.3),
    "MSAM (store_perturbed)": lambda: optim.MSAM(
        lr=0.01, momentum=0.9, rho=0.3, store_perturbed=True
    ),
    "SAM": lambda: optim.SAM(lr=0.01, momentum=0.9, rho=0.05),
    "AdamW": lambda: optim.AdamW(lr=1e-3),
    "AdamWMSAM": lambda: optim.AdamWMSAM(lr=1e-3, rho=1.0),
}
# (what, numerator, denominator, bound per batch size or for all)
TARGETS = [
    ("SGD / floor", SGD, FLOOR, {128: 1.25, 512: 1.15}),
    ("MSAM / SGD", "MSAM", SGD, 1.03),
    ("SAM / SGD", "SAM", SGD, 2.05),
    ("NAG / SGD", "NAG", SGD, 1.03),
]


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


def target_rows(times: dict[str, float], batch: int) -> list[list[object]]:
    """One row per target: the measured ratio, the bound, met or not."""
    rows = []
    for what, num, den, bound in TARGETS:
        limit = bound.get(batch) if isinstance(bound, dict) else bound
        if limit is None or num not in times or den not in times:
            continue
        ratio = times[num] / times[den]
        rows.append([batch, what, f"{ratio:.3f}", f"<= {limit:.2f}",
                     "met" if ratio <= limit else "NOT met"])  # fmt: skip
    return rows


def run(batch_sizes: list[int], rounds: int) -> tuple[list, list]:
    """Timing rows and target rows for every batch size."""
    rows, targets = [], []
    for batch in batch_sizes:
        steppers = {name: stepper(make, batch) for name, make in OPTIMIZERS.items()}
        contenders = {FLOOR: handwritten_step(batch)}
        contenders.update({n: s for n, (s, _) in steppers.items()})
        times = time_interleaved(contenders, rounds=rounds)
        for name, seconds in times.items():
            holder = steppers[name][1] if name in steppers else {"evals": 1, "state": {}}
            state = "-" if name == FLOOR else f"{state_bytes(holder['state']):,}"
            rows.append([batch, name, f"{seconds * 1e3:.3f}", f"{seconds / times[SGD]:.2f}",
                         f"{seconds / times[FLOOR]:.2f}", holder["evals"], state])  # fmt: skip
        targets += target_rows(times, batch)
    return rows, targets


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[128, 512])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--backend", default="numpy")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="wall time, or this process's CPU time on a shared machine")  # fmt: skip
    parser.add_argument("--markdown", action="store_true", help="print only the markdown")
    args = parser.parse_args(argv)
    ms.set_backend(args.backend)
    set_clock(args.clock)
    rows, targets = run(args.batch_sizes, args.rounds)
    header = ["batch", "optimizer", "ms/step (median)", "× SGD", "× floor", "grad evals/step",
              "state bytes"]  # fmt: skip
    text = markdown_table(header, rows) + "\n\nTargets (medians of the same run):\n\n"
    text += markdown_table(["batch", "ratio", "measured", "target", ""], targets)
    if not args.markdown:
        print(f"MLP {'-'.join(map(str, SIZES))}, float32, backend {args.backend}, "
              f"{args.rounds} interleaved rounds\n")  # fmt: skip
        print(f"Machine: {machine()}\n")
    print(text)
    return text


if __name__ == "__main__":
    main()
