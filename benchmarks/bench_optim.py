"""Cost of each optimizer per training step, relative to SGD with momentum and to the floor.

The network, data and float32 setting are those of ``bench_autodiff.py``
(MLP 784-256-256-10). Each contender is one full ``opt.step`` (gradient
evaluations included) with the optimizer's defaults (the finite check on); all are
timed in interleaved rounds in one process. Two ratios: to SGD-momentum's median
from the same run, and to the *floor*, the hand-written NumPy forward/backward with
an in-place SGD-momentum update (``bench_autodiff.handwritten_step``). The table
also lists gradient evaluations per step, the bytes of optimizer state
(params-sized buffers) and the peak memory of one step (``tracemalloc``: what the step
allocates on top of what existed before it), the columns behind the paper's claim that
MSAM costs what SGD costs while SAM costs twice as much.

Two more rows time the forward and backward pass alone, without an update: the floor's
hand-written one and minimsam's ``grad_fn``, whose peak memory shows when a step's peak
is set by the backward pass rather than by the update. A small table splits SGD's step
and the floor into that pass and the rest (the update with its checks).

Two more tables: the kernel launches of one step on the fake GPU
(``benchmarks/kernel_counts.py``; what a GPU step costs when launches dominate, as for
this MLP) and the update alone, ``opt.step`` with precomputed gradients against the same
equations hand-written in place (``benchmarks/update_alone.py``). Below the tables, each
target of the step-overhead issues is printed with the measured value and whether it
was met; timing ratios are medians of the per-round ratios, with their quartiles.

Run: ``python benchmarks/bench_optim.py [--batch-sizes 128 512] [--rounds 30] [--backend numpy]
[--clock cpu]``. ``--markdown`` prints only the markdown (tables and targets), as
docs/benchmarks.md quotes it. ``--clock cpu`` times with this process's CPU time, for a
shared machine.
"""

from __future__ import annotations

import argparse
import statistics
import tracemalloc

import minimsam as ms
from minimsam import nn, optim

try:
    from benchmarks import kernel_counts, update_alone
    from benchmarks.bench_autodiff import SIZES, handwritten_step, make_batch
    from benchmarks.common import (
        CLOCKS,
        machine,
        markdown_table,
        ratio_spread,
        set_clock,
        time_samples,
    )
except ImportError:  # run as a script from the benchmarks/ folder
    import kernel_counts
    import update_alone
    from bench_autodiff import SIZES, handwritten_step, make_batch
    from common import CLOCKS, machine, markdown_table, ratio_spread, set_clock, time_samples

FLOOR = "floor (hand-written, in-place)"
SGD = "SGD (momentum)"
HAND_GRAD = "forward+backward alone, hand-written"
MS_GRAD = "forward+backward alone, minimsam grad_fn"
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
    ("SGD / floor", SGD, FLOOR, {128: 1.10, 512: 1.15}),
    ("MSAM / SGD", "MSAM", SGD, 1.01),
    ("SAM / SGD", "SAM", SGD, 2.05),
    ("NAG / SGD", "NAG", SGD, 1.03),
]
MAX_EXTRA_LAUNCHES = 3  # MSAM launches at most this many kernels more than SGD
SAME_MEMORY = 4096  # peaks this close count as equal: no params-sized array more, a few scalars


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
    holder["peak"] = None

    def step():
        holder["params"], holder["state"], info = opt.step(
            holder["params"], holder["state"], grad_fn
        )
        holder["evals"] = info.grad_evals

    return step, holder


def grad_only(batch: int):
    """One ``grad_fn`` call of the minimsam MLP: the step's forward and backward pass alone."""
    model = nn.MLP(SIZES)
    params = model.init(seed=0)
    x, y = (ms.asarray(a) for a in make_batch(batch))
    grad_fn = ms.value_and_grad(lambda p: nn.cross_entropy(model(p, x), y))
    return lambda: grad_fn(params)


def split_row(times: dict[str, float], batch: int) -> list[object]:
    """Where SGD's step and the floor's time go: forward+backward, and the rest (the update
    with its bookkeeping), in ms, from the medians of one run."""
    ms_of = {name: seconds * 1e3 for name, seconds in times.items()}
    hand, mine = ms_of[HAND_GRAD], ms_of[MS_GRAD]
    return [batch, f"{hand:.3f}", f"{mine:.3f}", f"{mine / hand:.2f}",
            f"{ms_of[FLOOR] - hand:.3f}", f"{ms_of[SGD] - mine:.3f}"]  # fmt: skip


SPLIT_HEADER = ["batch", "fwd+bwd by hand ms", "fwd+bwd minimsam ms", "minimsam / by hand",
                "floor − fwd+bwd (in-place update) ms",
                "SGD step − fwd+bwd (pure update, checks) ms"]  # fmt: skip


def peak_step_bytes(step) -> int:
    """Bytes one call of ``step`` allocates at its peak beyond what existed before it."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        step()
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


def target_rows(samples: dict[str, list[float]], batch: int) -> list[list[object]]:
    """One row per target: the median per-round ratio (quartiles), the bound, met or not."""
    rows = []
    for what, num, den, bound in TARGETS:
        limit = bound.get(batch) if isinstance(bound, dict) else bound
        if limit is None or num not in samples or den not in samples:
            continue
        ratio, q1, q3 = ratio_spread(samples[num], samples[den])
        rows.append([batch, what, f"{ratio:.3f} ({q1:.3f}–{q3:.3f})", f"<= {limit:.2f}",
                     "met" if ratio <= limit else "NOT met"])  # fmt: skip
    return rows


def run(batch_sizes: list[int], rounds: int) -> tuple[list, list, list]:
    """Timing rows, target rows and forward/backward split rows for every batch size."""
    rows, targets, splits = [], [], []
    for batch in batch_sizes:
        steppers = {name: stepper(make, batch) for name, make in OPTIMIZERS.items()}
        contenders = {FLOOR: handwritten_step(batch)}
        contenders.update({n: s for n, (s, _) in steppers.items()})
        contenders[HAND_GRAD] = handwritten_step(batch, update=False)
        contenders[MS_GRAD] = grad_only(batch)
        samples = time_samples(contenders, rounds=rounds)
        times = {name: statistics.median(s) for name, s in samples.items()}
        splits.append(split_row(times, batch))
        peaks = {name: peak_step_bytes(s) for name, (s, _) in steppers.items()}
        peaks[MS_GRAD] = peak_step_bytes(contenders[MS_GRAD])
        for name, seconds in times.items():
            holder = steppers[name][1] if name in steppers else {"evals": 1, "state": {}}
            state = "-" if name not in steppers else f"{state_bytes(holder['state']):,}"
            peak = f"{peaks[name]:,}" if name in peaks else "-"
            ms_step, x_sgd, x_floor = seconds * 1e3, seconds / times[SGD], seconds / times[FLOOR]
            rows.append([batch, name, f"{ms_step:.3f}", f"{x_sgd:.2f}", f"{x_floor:.2f}",
                         holder["evals"], state, peak])  # fmt: skip
        targets += target_rows(samples, batch)
        extra, one_array = peaks["MSAM"] - peaks[SGD], state_bytes(steppers[SGD][1]["state"])
        targets.append([batch, "MSAM peak step bytes − SGD's", f"{extra:+,}",
                        f"< {SAME_MEMORY:,} (a params array: {one_array:,})",
                        "met" if abs(extra) < SAME_MEMORY else "NOT met"])  # fmt: skip
    return rows, targets, splits


def launch_targets(counts) -> list[list[object]]:
    """MSAM's extra kernel launches over SGD's, per model, against the bound."""
    rows = []
    for model in kernel_counts.MODELS:
        extra = counts["MSAM", model].launches - counts[SGD, model].launches
        rows.append(["-", f"{model}: MSAM − SGD kernels/step (fake GPU)", f"{extra:+d}",
                     f"<= +{MAX_EXTRA_LAUNCHES}",
                     "met" if extra <= MAX_EXTRA_LAUNCHES else "NOT met"])  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[128, 512])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--backend", default="numpy")
    parser.add_argument(
        "--clock", choices=sorted(CLOCKS), default="wall",
        help="wall time, or this process's CPU time (for a shared machine)",
    )  # fmt: skip
    parser.add_argument("--markdown", action="store_true", help="print only the markdown")
    args = parser.parse_args(argv)
    ms.set_backend(args.backend)
    set_clock(args.clock)
    rows, targets, splits = run(args.batch_sizes, args.rounds)
    counts = kernel_counts.count_all(OPTIMIZERS)
    targets += launch_targets(counts)
    update_rows = update_alone.run(OPTIMIZERS, args.rounds)
    header = ["batch", "optimizer", "ms/step (median)", "× SGD", "× floor", "grad evals/step",
              "state bytes", "peak step bytes"]  # fmt: skip
    text = markdown_table(header, rows)
    text += "\n\nWhere the time of SGD's step and of the floor goes (medians of the same run: "
    text += "the forward and backward pass alone, and the rest):\n\n"
    text += markdown_table(SPLIT_HEADER, splits)
    text += "\n\nKernel launches per step on the fake GPU (counted, not timed; one "
    text += "steady-state step, batch 4):\n\n" + kernel_counts.table(counts, SGD)
    text += "\n\nThe update alone (precomputed gradients; µs per step, median; "
    text += "× by hand: median of the per-round ratios, quartiles in brackets):\n\n"
    text += markdown_table(update_alone.HEADER, update_rows)
    text += "\n\nTargets (medians of per-round ratios of the same run, quartiles in "
    text += "brackets):\n\n" + markdown_table(["batch", "ratio", "measured", "target", ""], targets)
    if not args.markdown:
        print(f"MLP {'-'.join(map(str, SIZES))}, float32, backend {args.backend}, "
              f"{args.rounds} interleaved rounds, {args.clock} clock\n")  # fmt: skip
        print(f"Machine: {machine()}\n")
    print(text)
    return text


if __name__ == "__main__":
    main()
