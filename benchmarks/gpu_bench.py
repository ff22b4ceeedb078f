"""The GPU benchmark of the fused kernels: NumPy, CuPy before/after, torch CUDA, one process.

For the MLP 784-256-256-10 (batch 128, 512, 2048) and ``nn.SmallCNN`` (batch 128, 512),
float32, SGD-momentum, MSAM and SAM (``check_finite=False``: no host sync inside a
step), from the same initial weights and on the same batch:

- ``numpy``: minimsam on the host CPU;
- ``cupy (plain)``: minimsam on CuPy with the array-code kernels (``array_kernels``:
  ``a * x + y`` as two launches, the norm as one dot product and one add per key);
- ``cupy (fused)``: minimsam on CuPy with its CUDA kernels (``cupy_kernels``), the
  default;
- ``torch CUDA``: the same model in ``torch.nn``, ``torch.optim.SGD`` and minimsam's
  ``minimsam.torch.MSAM`` / ``SAM``.

Every GPU step ends with a device synchronisation, so a time is finished work. All
contenders of one (model, batch) are timed in interleaved rounds (``common.py``).
Before the table, one step of each GPU contender is profiled: kernels launched per step
(CUDA kernel records of ``torch.profiler``, which sees every kernel in the process,
CuPy's included) and host vs device time per step (``cupyx.profiler.benchmark``).

Run: ``python benchmarks/gpu_bench.py [--out DIR]``; without a GPU, ``--dry-run`` runs
the same code with ``fakegpu`` in place of CuPy and torch on the CPU (plumbing only).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
import traceback

import numpy as np

import minimsam as ms
from minimsam import backend as backend_module
from minimsam import nn, optim
from minimsam.kernels import array_kernels

try:
    from benchmarks.common import machine, markdown_table, time_interleaved
except ImportError:  # run as a script from the benchmarks/ folder
    from common import machine, markdown_table, time_interleaved

MODELS = {
    "MLP 784-256-256-10": (lambda: nn.MLP([784, 256, 256, 10]), (784,), [128, 512, 2048]),
    "SmallCNN": (lambda: nn.SmallCNN(), (1, 28, 28), [128, 512]),
}
LR, MU = 0.01, 0.9
OPTIMIZERS = {
    "SGD": lambda: optim.SGD(lr=LR, momentum=MU, check_finite=False),
    "MSAM": lambda: optim.MSAM(lr=LR, momentum=MU, rho=0.3, check_finite=False),
    "SAM": lambda: optim.SAM(lr=LR, momentum=MU, rho=0.05, check_finite=False),
}
FUSED, PLAIN, TORCH = "cupy (fused)", "cupy (plain)", "torch CUDA"


class Env:
    """Which backends stand for the GPU: CuPy and CUDA, or fakegpu and the CPU (dry run)."""

    def __init__(self, dry_run: bool):
        self.dry_run = dry_run
        self.device = "fakegpu" if dry_run else "cupy"
        base = backend_module._FACTORIES[self.device]

        def plain():
            fused = base()
            return dataclasses.replace(fused, name=f"{self.device}-plain",
                                       kernels=array_kernels(fused.xp))  # fmt: skip

        backend_module._FACTORIES[f"{self.device}-plain"] = plain
        self.backends = {"numpy": "numpy", PLAIN: f"{self.device}-plain", FUSED: self.device}

    def sync(self) -> None:
        if not self.dry_run:
            import cupy

            cupy.cuda.Device().synchronize()

    def torch_device(self) -> str:
        return "cpu" if self.dry_run else "cuda"

    def torch_sync(self) -> None:
        if not self.dry_run:
            import torch

            torch.cuda.synchronize()


def batch_of(input_shape: tuple, batch: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, *input_shape)).astype(np.float32)
    return x, rng.integers(0, 10, size=batch)


def minimsam_stepper(env: Env, backend_name: str, model_name: str, opt_name: str, batch: int,
                     sync: bool = True):  # fmt: skip
    """A closure doing one training step of minimsam on ``backend_name``."""
    make_model, input_shape, _ = MODELS[model_name]
    with ms.use_backend(backend_name):
        model = make_model()
        hx, hy = batch_of(input_shape, batch)
        x, y = ms.asarray(hx), ms.asarray(hy)
        opt = OPTIMIZERS[opt_name]()
        holder = {"params": model.init(seed=0)}
        holder["state"] = opt.init(holder["params"])
        grad_fn = ms.value_and_grad(lambda p: nn.cross_entropy(model(p, x), y))

    def step():
        with ms.use_backend(backend_name):
            holder["params"], holder["state"], _ = opt.step(
                holder["params"], holder["state"], grad_fn
            )
        if sync and backend_name != "numpy":
            env.sync()

    return step


def torch_model(model_name: str, device: str):
    """The torch twin of minimsam's model, with minimsam's initial weights (seed 0)."""
    import torch

    if model_name.startswith("MLP"):
        sizes = [784, 256, 256, 10]
        layers = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            layers += [torch.nn.Linear(n_in, n_out), torch.nn.ReLU()]
        model = torch.nn.Sequential(*layers[:-1])
    else:
        model = torch.nn.Sequential(
            torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Flatten(), torch.nn.Linear(32 * 7 * 7, 128), torch.nn.ReLU(),
            torch.nn.Linear(128, 10),
        )  # fmt: skip
    with ms.use_backend("numpy"):
        init = MODELS[model_name][0]().init(seed=0)
    with torch.no_grad():
        for i, layer in enumerate(model):
            if isinstance(layer, (torch.nn.Linear, torch.nn.Conv2d)):
                w = ms.to_numpy(init[f"{i}.weight"])
                layer.weight.copy_(torch.from_numpy(w.T if w.ndim == 2 else w))
                layer.bias.copy_(torch.from_numpy(ms.to_numpy(init[f"{i}.bias"])))
    return model.to(device)


def torch_stepper(env: Env, model_name: str, opt_name: str, batch: int, sync: bool = True):
    """A closure doing one training step of the torch twin on the GPU."""
    import torch

    from minimsam.torch import MSAM, SAM

    device = env.torch_device()
    model = torch_model(model_name, device)
    params = list(model.parameters())
    opt = {
        "SGD": lambda: torch.optim.SGD(params, lr=LR, momentum=MU),
        "MSAM": lambda: MSAM(params, lr=LR, momentum=MU, rho=0.3),
        "SAM": lambda: SAM(params, lr=LR, momentum=MU, rho=0.05),
    }[opt_name]()
    hx, hy = batch_of(MODELS[model_name][1], batch)
    x, y = torch.from_numpy(hx).to(device), torch.from_numpy(hy).to(device)

    def closure():
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        return loss

    def step():
        opt.step(closure)
        if sync:
            env.torch_sync()

    return step


# ----------------------------------------------------------------------------- profile


def count_kernels(env: Env, step, n: int = 5) -> float | None:
    """CUDA kernels launched per call of ``step`` (torch.profiler's kernel records / n)."""
    if env.dry_run:
        return None
    try:
        from torch.autograd import DeviceType
        from torch.profiler import ProfilerActivity, profile

        step()
        env.sync()
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            for _ in range(n):
                step()
            env.sync()
        kernels = [e for e in prof.events() if e.device_type == DeviceType.CUDA
                   and not e.name.startswith(("Memcpy", "Memset"))]  # fmt: skip
        return len(kernels) / n
    except Exception as err:  # the profile is a report, not a gate
        print(f"kernel count failed: {err!r}", file=sys.stderr)
        return None


def host_device_times(env: Env, step) -> tuple[float, float] | None:
    """Mean host and device milliseconds per step (``cupyx.profiler.benchmark``)."""
    if env.dry_run:
        return None
    from cupyx.profiler import benchmark

    result = benchmark(step, n_repeat=50, n_warmup=5)
    return float(np.mean(result.cpu_times)) * 1e3, float(np.mean(result.gpu_times)) * 1e3


def profile_rows(env: Env) -> list[list[object]]:
    rows = []
    model = "MLP 784-256-256-10"
    for batch in (128, 2048):
        for opt_name in ("SGD", "MSAM"):
            for label in (PLAIN, FUSED, TORCH):
                try:
                    rows.append(_profile_row(env, model, batch, opt_name, label))
                except Exception:  # report, and profile the others
                    traceback.print_exc()
    return rows


def _profile_row(env: Env, model: str, batch: int, opt_name: str, label: str) -> list:
    """Kernels per step and host/device ms per step of one contender."""
    if label == TORCH:
        step = torch_stepper(env, model, opt_name, batch, sync=False)
    else:
        step = minimsam_stepper(env, env.backends[label], model, opt_name, batch, sync=False)
    kernels = count_kernels(env, step)
    times = host_device_times(env, step)
    return [
        model, batch, opt_name, label,
        "-" if kernels is None else f"{kernels:.0f}",
        "-" if times is None else f"{times[0]:.3f}",
        "-" if times is None else f"{times[1]:.3f}",
    ]  # fmt: skip


# ----------------------------------------------------------------------------- speed


def speed_rows(env: Env, rounds: int) -> tuple[list, dict]:
    rows, times_all = [], {}
    for model_name, (_, _, batches) in MODELS.items():
        cnn = model_name == "SmallCNN"
        for batch in batches:
            try:
                times = _time_group(env, model_name, batch, rounds, cnn)
            except Exception:  # report and go on: one broken contender must not end the run
                traceback.print_exc()
                continue
            for (label, opt_name), seconds in times.items():
                times_all[(model_name, batch, label, opt_name)] = seconds
                rows.append([model_name, batch, opt_name, label, f"{seconds * 1e3:.3f}",
                             f"{times[('numpy', opt_name)] / seconds:.1f}×",
                             f"{seconds / times[(TORCH, opt_name)]:.2f}",
                             _ratio(seconds, times.get((label, "SGD")))])  # fmt: skip
            print(f"done: {model_name} batch {batch}", flush=True)
    return rows, times_all


def _ratio(seconds: float, base: float | None) -> str:
    return "-" if base is None else f"{seconds / base:.2f}"


def _time_group(env: Env, model_name: str, batch: int, rounds: int, cnn: bool) -> dict:
    """Median seconds per step of every contender for one (model, batch), interleaved."""
    contenders = {}
    for opt_name in OPTIMIZERS:
        for label, backend_name in env.backends.items():
            contenders[(label, opt_name)] = minimsam_stepper(
                env, backend_name, model_name, opt_name, batch
            )
        contenders[(TORCH, opt_name)] = torch_stepper(env, model_name, opt_name, batch)
    return time_interleaved(contenders, rounds=3 if cnn else rounds,
                            reps=1 if cnn else 3, warmup=1 if cnn else 3)  # fmt: skip


def target_rows(times: dict) -> list[list[object]]:
    """The issue's GPU targets, each with the measured value (rows whose data are missing
    because their group failed are left out)."""
    mlp, rows = "MLP 784-256-256-10", []

    def row(what, num, den, bound, at_least=False):
        if num not in times or den not in times:
            return
        value = times[num] / times[den]
        met = value >= bound if at_least else value <= bound
        rows.append([what, f"{value:.2f}", (">= " if at_least else "<= ") + f"{bound:g}",
                     "met" if met else "NOT met"])  # fmt: skip

    label = FUSED
    for opt in OPTIMIZERS:
        row(f"{label}, MLP 2048, {opt}: speed-up vs numpy", (mlp, 2048, "numpy", opt),
            (mlp, 2048, label, opt), 10, at_least=True)  # fmt: skip
    for batch in MODELS[mlp][2]:
        for opt in OPTIMIZERS:
            row(f"{label}, MLP {batch}, {opt}: time / torch CUDA", (mlp, batch, label, opt),
                (mlp, batch, TORCH, opt), 3)  # fmt: skip
    for model_name, (_, _, batches) in MODELS.items():
        for batch in batches:
            row(f"{label}, {model_name} {batch}: MSAM / SGD",
                (model_name, batch, label, "MSAM"), (model_name, batch, label, "SGD"),
                1.05)  # fmt: skip
    return rows


# ----------------------------------------------------------------------------- agreement


def agreement_rows(env: Env) -> list[list[object]]:
    """Largest ``|w_gpu - w_cpu| / (1 + |w_cpu|)`` after 50 float32 steps, per optimizer."""
    sys.path.insert(0, os.getcwd())
    from tests.test_device_agreement import OPTIMIZERS as AGREE
    from tests.test_device_agreement import _run

    rows = []
    for name in AGREE:
        expected = _run(name, 50)
        with ms.use_backend(env.device):
            got = _run(name, 50)
        worst = max(float(np.max(np.abs(got[k] - expected[k]) / (1 + np.abs(expected[k]))))
                    for k in expected)  # fmt: skip
        rows.append([name, f"{worst:.2e}"])
    return rows


def gpu_name(env: Env) -> str:
    if env.dry_run:
        return "none (dry run: fakegpu and torch on the CPU)"
    import cupy

    props = cupy.cuda.runtime.getDeviceProperties(0)
    return f"{props['name'].decode()}, CuPy {cupy.__version__}"


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--out", default=os.environ.get("OUT", "gpu-results"))
    parser.add_argument("--dry-run", action="store_true")
    parser.add_argument("--small", action="store_true", help="smallest batch of each model only")
    parser.add_argument("--skip", nargs="*", default=[], choices=["profile", "speed", "agree"])
    args = parser.parse_args(argv)
    env = Env(args.dry_run)
    os.makedirs(args.out, exist_ok=True)
    if args.small:  # plumbing check: the smallest batch of each model only
        for name, (make, shape, batches) in MODELS.items():
            MODELS[name] = (make, shape, batches[:1])
    import torch

    torch.manual_seed(0)
    start = time.perf_counter()
    parts = [f"GPU: {gpu_name(env)}; torch {torch.__version__}\n\nHost: {machine()}\n"]
    if "profile" not in args.skip:
        header = ["model", "batch", "optimizer", "contender", "kernels/step",
                  "host ms/step", "device ms/step"]  # fmt: skip
        try:
            table = markdown_table(header, profile_rows(env))
        except Exception:
            table = "(the profile failed: " + traceback.format_exc().splitlines()[-1] + ")"
        parts.append("**One step, profiled** (kernels: torch.profiler CUDA kernel records; "
                     "times: cupyx.profiler.benchmark, mean of 50):\n\n" + table)  # fmt: skip
        print(parts[-1], flush=True)
    if "speed" not in args.skip:
        rows, times = speed_rows(env, args.rounds)
        header = ["model", "batch", "optimizer", "contender", "ms/step (median)",
                  "speed-up vs numpy", "× torch CUDA", "× SGD"]  # fmt: skip
        parts.append("**Speed** (interleaved rounds, medians):\n\n" + markdown_table(header, rows))
        parts.append("**Targets**:\n\n" + markdown_table(
            ["what", "measured", "target", ""], target_rows(times)))  # fmt: skip
        print(parts[-2] + "\n\n" + parts[-1], flush=True)
        with open(os.path.join(args.out, "gpu_times.json"), "w") as f:
            json.dump({" | ".join(map(str, k)): v for k, v in times.items()}, f, indent=1)
    if "agree" not in args.skip:
        table = markdown_table(["optimizer", "max deviation"], agreement_rows(env))
        parts.append("**CPU vs GPU after 50 float32 steps**, largest "
                     "|w_gpu - w_cpu| / (1 + |w_cpu|):\n\n" + table)  # fmt: skip
        print(parts[-1], flush=True)
    parts.append(f"(gpu_bench.py ran {time.perf_counter() - start:.0f} s)")
    text = "\n\n".join(parts) + "\n"
    with open(os.path.join(args.out, "gpu_bench.md"), "w") as f:
        f.write(text)
    return text


if __name__ == "__main__":
    main()
