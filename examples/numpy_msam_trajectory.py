"""Record an MSAM trajectory in plain NumPy, save it as a trajectory file, check it.

This is what a user of any framework does (FORMAT.md, "Trajectory files"): read the
golden cases with json + numpy, replay them with their own optimizer, record per
step where the gradient was taken, its loss and the unperturbed params, and save
the arrays with ``np.savez``. It replays the MSAM cases on the 2-D surface, where
the gradient is a formula. It does not import minimsam::

    minimsam crosscheck export --out golden --optimizer msam
    python examples/numpy_msam_trajectory.py golden mine.npz            # correct
    python examples/numpy_msam_trajectory.py golden buggy.npz --no-eps  # eps = 0
    minimsam crosscheck compare --cases golden --trajectory mine.npz \
        --case msam-surface-zero-grad-restore   # the cases it recorded; others: "missing"
"""

import json
import sys

import numpy as np


def surface_loss_and_grad(w, a, b, scale, noise):
    """``scale * rosenbrock(w) + noise . w`` and its gradient."""
    r = w[1] - w[0] ** 2
    loss = scale * ((a - w[0]) ** 2 + b * r**2) + noise @ w
    grad = scale * np.array([-2 * (a - w[0]) - 4 * b * w[0] * r, 2 * b * r]) + noise
    return loss, grad


def replay_msam(case, data, eps=1e-12):
    """MSAM (FORMAT.md): wp = w - rho v/(||v|| + eps); v = mu v + g(wp) + lam wp; w -= lr v."""
    hp, model = case["hyperparameters"], case["model"]
    mu, lam = hp["momentum"], hp["weight_decay"]
    lr, rho = case["schedule"]["lr"], case["schedule"]["rho"]
    w, v = data["init/w"].copy(), np.zeros(2)
    points, losses, params = [], [], []
    for t in range(case["steps"]):  # a restore is a no-op here: the state is two arrays
        wp = w - rho[t] * v / (np.linalg.norm(v) + eps)
        loss, g = surface_loss_and_grad(
            wp, model["a"], model["b"], data["batch/scale"][t], data["batch/noise"][t]
        )
        v = mu * v + g + lam * wp
        w = w - lr[t] * v
        points.append([wp])  # one gradient evaluation per step: shape (T, 1, 2)
        losses.append([loss])
        params.append(w.copy())
    name = case["name"]
    return {
        f"{name}/eval_points/w": np.array(points),
        f"{name}/eval_losses": np.array(losses),
        f"{name}/params/w": np.array(params),
    }


def record(directory, out, eps=1e-12):
    """Replay every MSAM case on the surface and save them in one trajectory file."""
    manifest = json.load(open(f"{directory}/manifest.json"))
    arrays = {}
    for case in manifest["cases"]:
        if case["optimizer"] == "msam" and case["model"]["kind"] == "surface":
            with np.load(f"{directory}/{case['file']}") as data, np.errstate(all="ignore"):
                arrays.update(replay_msam(case, data, eps))
    np.savez(out, **arrays)
    return sorted({key.split("/")[0] for key in arrays})


if __name__ == "__main__":
    names = record(sys.argv[1], sys.argv[2], eps=0.0 if "--no-eps" in sys.argv else 1e-12)
    print(f"recorded {', '.join(names)} in {sys.argv[2]}")
