"""One training step of an MLP 784-256-256-10 (float32): minimsam vs the floor.

A step is forward, backward and an SGD-momentum update (lr 0.01, momentum 0.9) on a
random batch. Contenders:

- ``numpy (hand-written)``: forward and backward written out by hand with NumPy,
  the floor any NumPy autodiff can at best reach;
- ``minimsam``: ``ms.value_and_grad`` on ``nn.MLP`` + ``nn.cross_entropy``;
- ``HIPS autograd``: the same network in ``autograd.numpy``;
- ``torch (CPU)``: ``torch.nn`` + ``torch.optim.SGD``, when torch is installed.

Run: ``python benchmarks/bench_autodiff.py [--batch-sizes 128 512] [--rounds 30]``.
Prints a markdown table of median ms/step and the ratio to the hand-written floor.
"""

from __future__ import annotations

import argparse

import numpy as np

import minimsam as ms
from minimsam import nn

try:
    from benchmarks.common import machine, markdown_table, time_interleaved
except ImportError:  # run as a script from the benchmarks/ folder
    from common import machine, markdown_table, time_interleaved

SIZES = [784, 256, 256, 10]
LR, MU = 0.01, 0.9


def make_batch(batch: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, SIZES[0])).astype(np.float32)
    y = rng.integers(0, SIZES[-1], size=batch)
    return x, y


def momentum_update(params: dict, velocity: dict, grads: dict) -> None:
    """In-place v <- mu v + g; w <- w - lr v (the same update for every NumPy contender)."""
    for k, g in grads.items():
        velocity[k] *= MU
        velocity[k] += g
        params[k] -= LR * velocity[k]


def minimsam_step(batch: int):
    model = nn.MLP(SIZES)
    params = model.init(seed=0)
    velocity = {k: np.zeros_like(v) for k, v in params.items()}
    x, y = make_batch(batch)
    loss_and_grad = ms.value_and_grad(lambda p: nn.cross_entropy(model(p, x), y))

    def step():
        _, grads = loss_and_grad(params)
        momentum_update(params, velocity, grads)

    return step


def handwritten_step(batch: int, update: bool = True):
    """Backprop written out: the floor for a NumPy implementation (``update=False``: the
    forward and backward pass alone, no optimizer update)."""
    params = {k: v.copy() for k, v in nn.MLP(SIZES).init(seed=0).items()}
    velocity = {k: np.zeros_like(v) for k, v in params.items()}
    x, y = make_batch(batch)
    onehot = np.eye(SIZES[-1], dtype=np.float32)[y]
    names = [(f"{2 * i}.weight", f"{2 * i}.bias") for i in range(len(SIZES) - 1)]

    def step():
        acts, h = [x], x
        for i, (w, b) in enumerate(names):
            h = h @ params[w] + params[b]
            if i < len(names) - 1:
                h = np.maximum(h, 0)
            acts.append(h)
        z = h - h.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        g = (p - onehot) / batch
        grads = {}
        for i in reversed(range(len(names))):
            w, b = names[i]
            grads[w] = acts[i].T @ g
            grads[b] = g.sum(axis=0)
            if i:
                g = (g @ params[w].T) * (acts[i] > 0)
        if update:
            momentum_update(params, velocity, grads)

    return step


def autograd_step(batch: int):
    import autograd
    import autograd.numpy as anp
    from autograd.scipy.special import logsumexp

    params = {k: v.copy() for k, v in nn.MLP(SIZES).init(seed=0).items()}
    velocity = {k: np.zeros_like(v) for k, v in params.items()}
    x, y = make_batch(batch)
    n_layers = len(SIZES) - 1

    def loss(p):
        h = x
        for i in range(n_layers):
            h = anp.dot(h, p[f"{2 * i}.weight"]) + p[f"{2 * i}.bias"]
            if i < n_layers - 1:
                h = anp.maximum(h, 0.0)
        logp = h - logsumexp(h, axis=1, keepdims=True)
        return -anp.mean(logp[np.arange(batch), y])

    grad = autograd.grad(loss)

    def step():
        momentum_update(params, velocity, grad(params))

    return step


def torch_step(batch: int):
    import torch

    layers = []
    for i, (n_in, n_out) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        layers.append(torch.nn.Linear(n_in, n_out))
        if i < len(SIZES) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MU)
    x, y = (torch.from_numpy(a) for a in make_batch(batch))

    def step():
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    return step


def contenders(batch: int) -> dict:
    found = {"numpy (hand-written)": handwritten_step(batch), "minimsam": minimsam_step(batch)}
    try:
        found["HIPS autograd"] = autograd_step(batch)
    except ImportError:
        pass
    try:
        found["torch (CPU)"] = torch_step(batch)
    except ImportError:
        pass
    return found


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[128, 512])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args(argv)
    rows = []
    for batch in args.batch_sizes:
        times = time_interleaved(contenders(batch), rounds=args.rounds)
        floor = times["numpy (hand-written)"]
        for name, seconds in times.items():
            rows.append([batch, name, f"{seconds * 1e3:.3f}", f"{seconds / floor:.2f}"])
    table = markdown_table(["batch", "implementation", "ms/step (median)", "× floor"], rows)
    print(f"MLP {'-'.join(map(str, SIZES))}, float32, one SGD-momentum training step\n")
    print(f"Machine: {machine()}\n")
    print(table)
    return table


if __name__ == "__main__":
    main()
