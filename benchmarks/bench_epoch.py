"""A Fashion-MNIST training epoch: minimsam against torch on the CPU, and peak memory.

The MLP 784-256-256-10 (float32) of ``bench_autodiff.py`` on the full Fashion-MNIST
training set (60,000 images, batch 128, so 469 steps per epoch, the last one short),
with SGD-momentum, MSAM and SAM. A control row runs the hand-written NumPy
forward/backward with an in-place SGD-momentum update (no autodiff, no pure step), to
tell NumPy's BLAS from minimsam's own overhead. minimsam runs ``opt.step`` with the optimizer's
defaults (finite check on); torch runs ``torch.optim.SGD`` and minimsam's own
``minimsam.torch.MSAM`` / ``SAM`` on ``torch.nn`` with one thread, from the same
initial weights and on the same batches.

Timing: the six contenders run in interleaved rounds in one process; in each round each
contender takes the next ``--steps`` steps of its own pass over the epoch (the batch
order is the same for all). The epoch time is the median seconds per step over the
rounds times the 469 steps of an epoch: an extrapolation from ``rounds x steps``
measured steps per contender, not a timed full epoch, unless ``--steps`` covers it.

Memory: for each minimsam optimizer in turn, ``tracemalloc`` records the peak of the
bytes allocated during ``--mem-steps`` training steps (parameters, optimizer state,
activations, gradients and temporaries; the dataset, loaded before, is not counted).
NumPy reports its array buffers to ``tracemalloc``, so this is the arrays' memory.

Run: ``python benchmarks/bench_epoch.py [--rounds 8] [--steps 40] [--markdown]
[--clock cpu]``; ``--clock cpu`` times with this process's CPU time, for a shared machine.
"""

from __future__ import annotations

import argparse
import gc
import math
import statistics
import tracemalloc

import numpy as np

import minimsam as ms
from minimsam import data, nn, optim

try:
    from benchmarks.bench_autodiff import SIZES
    from benchmarks.common import CLOCKS, clock, machine, markdown_table, set_clock
except ImportError:  # run as a script from the benchmarks/ folder
    from bench_autodiff import SIZES
    from common import CLOCKS, clock, machine, markdown_table, set_clock

BATCH, LR, MU = 128, 0.05, 0.9
MINIMSAM = {
    "SGD": lambda: optim.SGD(lr=LR, momentum=MU),
    "MSAM": lambda: optim.MSAM(lr=LR, momentum=MU, rho=0.3),
    "SAM": lambda: optim.SAM(lr=LR, momentum=MU, rho=0.05),
}


def batches(ds, epoch: int = 0) -> list:
    """The epoch's batches as host arrays, in the order every contender uses."""
    return list(data.epoch_batches(ds, BATCH, seed=0, epoch=epoch, to_device=False))


class MinimsamRun:
    """Steps of one minimsam optimizer through the epoch, continuing where it stopped."""

    def __init__(self, name: str, epoch: list):
        self.model = nn.MLP(SIZES)
        self.params = self.model.init(seed=0)
        self.opt = MINIMSAM[name]()
        self.state = self.opt.init(self.params)
        self.epoch, self.i = epoch, 0
        self.loss_and_grad = ms.value_and_grad(
            lambda p, x, y: nn.cross_entropy(self.model(p, x), y)
        )

    def steps(self, n: int) -> None:
        for _ in range(n):
            x, y = self.epoch[self.i % len(self.epoch)]
            self.i += 1
            self.params, self.state, _ = self.opt.step(
                self.params,
                self.state,
                lambda p: self.loss_and_grad(p, x, y),  # noqa: B023
            )


class FloorRun:
    """The control: a hand-written NumPy forward/backward and in-place SGD-momentum update
    (the floor of ``bench_optim.py``), so that BLAS speed and minimsam's overhead can be
    told apart."""

    def __init__(self, name: str, epoch: list):
        self.params = {k: ms.to_numpy(v).copy() for k, v in nn.MLP(SIZES).init(seed=0).items()}
        self.velocity = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.names = [(f"{2 * i}.weight", f"{2 * i}.bias") for i in range(len(SIZES) - 1)]
        self.eye = np.eye(SIZES[-1], dtype=np.float32)
        self.epoch, self.i = epoch, 0

    def steps(self, n: int) -> None:
        for _ in range(n):
            x, y = self.epoch[self.i % len(self.epoch)]
            self.i += 1
            self._step(x, y)

    def _step(self, x, y) -> None:
        p, acts, h = self.params, [x], x
        for i, (w, b) in enumerate(self.names):
            h = h @ p[w] + p[b]
            if i < len(self.names) - 1:
                h = np.maximum(h, 0)
            acts.append(h)
        z = np.exp(h - h.max(axis=1, keepdims=True))
        g = (z / z.sum(axis=1, keepdims=True) - self.eye[y]) / len(y)
        for i in reversed(range(len(self.names))):
            w, b = self.names[i]
            gw, gb = acts[i].T @ g, g.sum(axis=0)
            if i:
                g = (g @ p[w].T) * (acts[i] > 0)
            for k, grad in ((w, gw), (b, gb)):
                self.velocity[k] *= MU
                self.velocity[k] += grad
                p[k] -= LR * self.velocity[k]


class TorchRun:
    """The same model, init and batches in torch, with torch's or minimsam.torch's optimizer."""

    def __init__(self, name: str, epoch: list):
        import torch

        from minimsam.torch import MSAM, SAM

        self.torch = torch
        layers = []
        for n_in, n_out in zip(SIZES[:-1], SIZES[1:]):
            layers += [torch.nn.Linear(n_in, n_out), torch.nn.ReLU()]
        self.model = torch.nn.Sequential(*layers[:-1])
        init = nn.MLP(SIZES).init(seed=0)
        with torch.no_grad():
            for i, layer in enumerate(self.model):
                if isinstance(layer, torch.nn.Linear):
                    layer.weight.copy_(torch.from_numpy(ms.to_numpy(init[f"{i}.weight"]).T))
                    layer.bias.copy_(torch.from_numpy(ms.to_numpy(init[f"{i}.bias"])))
        params = self.model.parameters()
        self.opt = {
            "SGD": lambda: torch.optim.SGD(params, lr=LR, momentum=MU),
            "MSAM": lambda: MSAM(params, lr=LR, momentum=MU, rho=0.3),
            "SAM": lambda: SAM(params, lr=LR, momentum=MU, rho=0.05),
        }[name]()
        self.epoch = [(torch.from_numpy(x), torch.from_numpy(y)) for x, y in epoch]
        self.i = 0

    def steps(self, n: int) -> None:
        loss_fn = self.torch.nn.functional.cross_entropy
        for _ in range(n):
            x, y = self.epoch[self.i % len(self.epoch)]
            self.i += 1

            def closure():
                self.opt.zero_grad(set_to_none=True)
                loss = loss_fn(self.model(x), y)  # noqa: B023
                loss.backward()
                return loss

            self.opt.step(closure)


def time_epochs(epoch: list, rounds: int, steps: int) -> dict[tuple[str, str], float]:
    """Median seconds per step of every (library, optimizer), interleaved rounds."""
    runs = {("minimsam", n): MinimsamRun(n, epoch) for n in MINIMSAM}
    runs[("floor", "SGD")] = FloorRun("SGD", epoch)
    try:
        runs.update({("torch", n): TorchRun(n, epoch) for n in MINIMSAM})
    except ImportError:
        pass
    for run in runs.values():
        run.steps(3)  # warm-up
    samples: dict[tuple[str, str], list[float]] = {key: [] for key in runs}
    for _ in range(rounds):
        for key, run in runs.items():
            start = clock()
            run.steps(steps)
            samples[key].append((clock() - start) / steps)
    return {key: statistics.median(s) for key, s in samples.items()}


def peak_memory(epoch: list, steps: int) -> dict[str, int]:
    """Peak bytes allocated while training ``steps`` steps, per minimsam optimizer."""
    peaks = {}
    for name in MINIMSAM:
        gc.collect()
        tracemalloc.start()
        run = MinimsamRun(name, epoch)
        tracemalloc.reset_peak()  # the peak of training, not of building the model
        run.steps(steps)
        peaks[name] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        del run
    return peaks


def tables(epoch: list, rounds: int, steps: int, mem_steps: int) -> str:
    per_step = time_epochs(epoch, rounds, steps)
    peaks = peak_memory(epoch, mem_steps)
    n_params = sum(int(np.prod(s)) for s in zip(SIZES[:-1], SIZES[1:])) + sum(SIZES[1:])
    params_bytes = 4 * n_params
    rows = []
    for name in MINIMSAM:
        mine = per_step[("minimsam", name)]
        theirs = per_step.get(("torch", name))
        rows.append([
            name, f"{mine * len(epoch):.2f}",
            f"{theirs * len(epoch):.2f}" if theirs else "-",
            f"{mine / theirs:.2f}" if theirs else "-",
            f"{peaks[name] / 2**20:.2f}",
            f"{(peaks[name] - peaks['SGD']) / params_bytes:+.2f}",
        ])  # fmt: skip
    floor = per_step[("floor", "SGD")]
    rows.append(["SGD, hand-written NumPy (control)", f"{floor * len(epoch):.2f}",
                 rows[0][2], f"{floor / per_step[('torch', 'SGD')]:.2f}"
                 if ("torch", "SGD") in per_step else "-", "-", "-"])  # fmt: skip
    header = ["optimizer", "minimsam s/epoch", "torch s/epoch", "minimsam / torch",
              "peak MiB (minimsam)", "peak - SGD's, in params-sized arrays"]  # fmt: skip
    note = _summary(per_step) + "\n\n" if ("torch", "SGD") in per_step else ""
    note = (f"\n\n{note}Epoch = {len(epoch)} steps of batch {BATCH}; times extrapolated from "
            f"{rounds} interleaved rounds of {steps} steps per contender (medians). "
            f"Peak memory over {mem_steps} steps (tracemalloc); one params-sized array is "
            f"{params_bytes / 2**20:.2f} MiB.")  # fmt: skip
    return markdown_table(header, rows) + note


def _summary(per_step: dict) -> str:
    """The comparison with torch in words, from the measured medians."""
    ratios = [per_step[("minimsam", n)] / per_step[("torch", n)] for n in MINIMSAM]
    control = per_step[("floor", "SGD")]
    mine = per_step[("minimsam", "SGD")] / control
    kind = "slower" if min(ratios) > 1 else "faster" if max(ratios) < 1 else "mixed"
    return (f"minimsam took {min(ratios):.2f} to {max(ratios):.2f} times torch's epoch time "
            f"({kind}). The hand-written NumPy control took "
            f"{control / per_step[('torch', 'SGD')]:.2f} times torch's SGD epoch, and "
            f"minimsam's SGD {mine:.2f} times the control's: the first ratio compares NumPy "
            "(its BLAS above all) with torch, the second is minimsam's own overhead.")  # fmt: skip


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--steps", type=int, default=40, help="steps per contender per round")
    parser.add_argument("--mem-steps", type=int, default=20)
    parser.add_argument("--markdown", action="store_true", help="print only the markdown")
    parser.add_argument(
        "--clock", choices=sorted(CLOCKS), default="wall",
        help="wall time, or this process's CPU time (for a shared machine)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    set_clock(args.clock)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    ds = data.load("fashion-mnist", flatten=True, download=False)
    epoch = batches(ds)
    assert len(epoch) == math.ceil(len(ds.y_train) / BATCH)
    text = tables(epoch, args.rounds, args.steps, args.mem_steps)
    if not args.markdown:
        print(f"Fashion-MNIST, MLP {'-'.join(map(str, SIZES))}, float32, batch {BATCH}\n")
        print(f"Machine: {machine()}\n")
    print(text)
    return text


if __name__ == "__main__":
    main()
