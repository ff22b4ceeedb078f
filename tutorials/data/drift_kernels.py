"""Record notebook 06's float32 drift under several OpenBLAS kernels.

Runs the notebook's 60 MSAM steps (MLP 40-256-256-10 on MNIST-1D, float32, rho = 2) in
the usual order and in three reordered sums, once per ``OPENBLAS_CORETYPE``, and writes a
table to ``drift_kernels.txt`` next to this file (atomically). Regenerate with
``OPENBLAS_NUM_THREADS=1 python tutorials/data/drift_kernels.py`` from the repository root.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

KERNELS = ("default", "Haswell", "Sandybridge", "Nehalem", "Prescott")  # Zen = Haswell here
OUT = Path(__file__).with_name("drift_kernels.txt")
HEADER = "kernel      order     jump   x_max  kick after w_20  w_20     w_60     loss 0-59"


def record_rows():  # one row per order of summation, under this process's BLAS kernel
    import minimsam as ms
    from minimsam import data, nn, optim

    ds = data.load("mnist1d")
    model = nn.MLP([40, 256, 256, 10])
    value_and_grad = ms.value_and_grad(lambda w, x, y: nn.cross_entropy(model(w, x), y))
    batches, epoch = [], 0
    while len(batches) < 60:
        batches.extend(data.epoch_batches(ds, 128, seed=0, epoch=epoch, to_device=False))
        epoch += 1

    def halves(grad):  # the batch mean as the mean of its two halves' means
        def of_halves(w, xb, yb):
            h = len(yb) // 2
            (l1, g1), (l2, g2) = grad(w, xb[:h], yb[:h]), grad(w, xb[h:], yb[h:])
            return (l1 + l2) / 2, {k: (g1[k] + g2[k]) / 2 for k in g1}

        return of_halves

    def run(grad):  # losses of steps 0-59 and w_1 ... w_60
        opt = optim.MSAM(lr=0.1, momentum=0.9, rho=2.0, check_finite=False)
        params = model.init(seed=0)
        state, losses, weights = opt.init(params), [], {}
        for t, (xb, yb) in enumerate(batches[:60]):
            params, state, info = opt.step(params, state, lambda w, xb=xb, yb=yb: grad(w, xb, yb))
            losses.append(float(info.loss))
            weights[t + 1] = {k: np.array(v) for k, v in params.items()}
        return np.array(losses), weights

    def gap(a, b):  # the relative weight difference of the worst tensor
        return max(np.abs(a[k] - b[k]).max() / (np.abs(a[k]).max() + 1e-12) for k in a)

    losses, weights = run(value_and_grad)
    orders = {
        "halves": halves(value_and_grad),
        "quarters": halves(halves(value_and_grad)),
        "reversed": lambda w, xb, yb: value_and_grad(w, xb[::-1], yb[::-1]),
    }
    kernel = os.environ.get("OPENBLAS_CORETYPE", "default")
    for name, grad in orders.items():
        other_losses, other = run(grad)
        drift = {t: gap(weights[t], other[t]) for t in weights}
        factor = {t: drift[t + 1] / drift[t] for t in range(1, 60)}
        jump = max(factor, key=factor.get)
        switched = factor[jump] > 5  # the notebook's test for a jump
        kick = max(range(20, jump if switched else 60), key=factor.get)  # after w_20
        loss_gap = np.abs(losses - other_losses).max()
        print(
            f"{kernel:11s} {name:9s} {jump if switched else 'none':>4} {factor[jump]:7.1f}"
            f"  x{factor[kick]:.2f} (step {kick:2d})"
            f"  {drift[20]:.1e}  {drift[60]:.1e}  {loss_gap:.1e}",
            flush=True,
        )


def main():
    from minimsam.atomic import write_text

    rows = []
    for kernel in KERNELS:
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", DRIFT_CHILD="1")
        env.pop("OPENBLAS_CORETYPE", None)
        if kernel != "default":
            env["OPENBLAS_CORETYPE"] = kernel
        out = subprocess.run([sys.executable, __file__], env=env, check=True, capture_output=True)
        rows.extend(out.stdout.decode().splitlines())
        print("\n".join(rows[-3:]), flush=True)
    write_text(OUT, "\n".join([HEADER, *rows]) + "\n")


if __name__ == "__main__":
    record_rows() if os.environ.get("DRIFT_CHILD") else main()
