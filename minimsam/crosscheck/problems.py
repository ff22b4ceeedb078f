"""The two kinds of problem a golden case is built on, as loss functions of the params.

Both are described by plain data (a JSON ``model`` dict and per-step batch arrays),
so that any framework can rebuild them; FORMAT.md states the same formulas.

``"mlp"``: ``nn.MLP(sizes, activation)``, parameters ``"0.weight"`` ``(in, out)``,
``"0.bias"`` ``(out,)``, ``"2.weight"``, ... (the names of ``torch.nn.Sequential``; a
torch ``Linear`` stores the transpose). Step ``t`` uses the batch ``x[t]`` ``(B, in)``,
``y[t]`` ``(B,)`` (integer labels) and the loss::

    L_t(w) = mean_i  -sum_k q_ik log softmax(mlp(w, x[t])_i)_k,
    q_ik   = (1 - ls) * [k == y[t]_i] + ls / K          (label smoothing ls, torch style)

``"mlp_batchnorm"``: ``nn.MLP(sizes, activation, batchnorm=True)``: a
``BatchNorm1d`` between each hidden linear layer and its activation (torch's
semantics: momentum 0.1, eps 1e-5), params ``"0.weight"``, ``"0.bias"``,
``"1.weight"``, ``"1.bias"`` (the batch norm's scale and shift, ``(C,)``),
``"3.weight"``, ...; running statistics ``"1.running_mean"``, ``"1.running_var"``.
Every gradient evaluation runs in training mode (batch statistics). Which
evaluation's running statistics are kept is the SAM question (FORMAT.md, "Batch
norm"): the reference keeps the first's (:class:`StatsGradFn`).

``"surface"``: the 2-D Rosenbrock function with a per-step scale and a linear
"noise" term, one parameter ``"w"`` of shape ``(2,)``. Step ``t`` uses ``scale[t]``
(a number) and ``noise[t]`` ``(2,)``::

    L_t(w) = scale[t] * ((a - w0)^2 + b (w1 - w0^2)^2) + noise[t] . w,   a = 1, b = 100

so the gradient is ``scale[t] * grad_rosenbrock(w) + noise[t]``. A step with
``scale[t] = 0`` and ``noise[t] = 0`` has a gradient that is exactly zero in any
framework (``0 * finite = 0``): the case that exposes a missing ``EPS``.

The golden trajectories are host float64 data, so everything here runs on the
``numpy`` backend whatever backend is active (see :func:`grad_fn`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import minimsam as ms
from minimsam import autodiff as ad
from minimsam import nn
from minimsam.data import landscapes

__all__ = [
    "BN_MODES",
    "StatsGradFn",
    "evaluate",
    "grad_fn",
    "init_params",
    "init_stats",
    "mlp_batchnorm_model",
    "mlp_model",
    "surface_model",
]

ROSENBROCK_A, ROSENBROCK_B = 1.0, 100.0


def mlp_model(sizes: list[int], activation: str = "tanh", label_smoothing: float = 0.0) -> dict:
    """The ``model`` entry of an MLP case (JSON data)."""
    return {
        "kind": "mlp",
        "sizes": list(sizes),
        "activation": activation,
        "loss": "cross_entropy",
        "label_smoothing": label_smoothing,
        "weight_layout": "(in, out): y = x @ W + b",
    }


def mlp_batchnorm_model(sizes: list[int], activation: str = "tanh") -> dict:
    """The ``model`` entry of an MLP-with-batch-norm case (JSON data)."""
    return {
        **mlp_model(sizes, activation),
        "kind": "mlp_batchnorm",
        "batchnorm": {"momentum": 0.1, "eps": 1e-5, "placement": "linear - bn - activation"},
    }


def surface_model() -> dict:
    """The ``model`` entry of a 2-D surface case (JSON data)."""
    return {
        "kind": "surface",
        "name": "rosenbrock",
        "a": ROSENBROCK_A,
        "b": ROSENBROCK_B,
        "formula": "scale[t] * ((a - w[0])**2 + b * (w[1] - w[0]**2)**2) + dot(noise[t], w)",
    }


def init_params(model: dict, seed: int) -> dict[str, np.ndarray]:
    """Float64 host initial params: ``nn.MLP.init(seed)``, or a fixed start on the surface."""
    if model["kind"] == "surface":
        return {"w": np.array([-1.2, 1.0])}  # Rosenbrock's classic start
    with ms.use_backend("numpy"):
        return {k: np.array(v) for k, v in _mlp(model).init(seed=seed, dtype="float64").items()}


def init_stats(model: dict) -> dict[str, np.ndarray]:
    """Float64 initial running statistics (means 0, variances 1); ``{}`` without batch norm."""
    if model["kind"] != "mlp_batchnorm":
        return {}
    with ms.use_backend("numpy"):
        return {k: np.array(v) for k, v in _mlp(model).init_stats(dtype="float64").items()}


def _mlp(model: dict) -> nn.MLP:
    """The MLP of an ``"mlp"`` or ``"mlp_batchnorm"`` model entry."""
    batchnorm = model["kind"] == "mlp_batchnorm"
    return nn.MLP(model["sizes"], activation=model["activation"], batchnorm=batchnorm)


def _mlp_loss(model: dict) -> Callable[[dict, Any, Any], Any]:
    mlp = _mlp(model)
    smoothing = model["label_smoothing"]

    def loss(params, x, y):
        return nn.cross_entropy(mlp(params, x), y, label_smoothing=smoothing)

    return loss


def _surface_loss(model: dict) -> Callable[[dict, Any, Any], Any]:
    if (model["a"], model["b"]) != (ROSENBROCK_A, ROSENBROCK_B):
        raise ValueError("the surface cases use Rosenbrock with a = 1, b = 100")

    def loss(params, scale, noise):
        w = params["w"]
        return scale * landscapes.rosenbrock(w[0], w[1]) + ad.sum(ad.mul(noise, w))

    return loss


def grad_fn(model: dict, batches: dict[str, np.ndarray], t: int) -> Callable:
    """``grad_fn(params) -> (loss, grads)`` of step ``t``, for ``opt.step``; host float64.

    ``params`` are host NumPy arrays; the loss comes back as a Python float. The
    computation runs on the ``numpy`` backend even if another one is active.
    """
    if model["kind"] == "mlp":
        loss, args = _mlp_loss(model), (batches["x"][t], batches["y"][t])
    elif model["kind"] == "surface":
        loss, args = _surface_loss(model), (float(batches["scale"][t]), batches["noise"][t])
    else:
        raise ValueError(
            f"unknown model kind {model['kind']!r} for grad_fn; known: 'mlp', 'surface' "
            "('mlp_batchnorm' needs StatsGradFn)"
        )
    value_and_grad = ms.value_and_grad(loss)

    def fn(params):
        with ms.use_backend("numpy"):
            value, grads = value_and_grad(params, *args)
        return float(value), {k: np.asarray(g) for k, g in grads.items()}

    return fn


# ----------------------------------------------------------------------------- batch norm

BN_MODES = ("reference", "both-passes", "second-eval")
"""How a step's gradient evaluations treat the running statistics (FORMAT.md, "Batch
norm"): ``reference`` (all in training mode; the first evaluation's update is kept),
``both-passes`` (every evaluation updates them, one after the other), ``second-eval``
(evaluations after the first run in evaluation mode, normalising with the statistics
as the first one left them; the first's update is kept)."""


class StatsGradFn:
    """``grad_fn(params) -> (loss, grads)`` of step ``t`` of an ``"mlp_batchnorm"`` case.

    Starts from the running statistics ``stats``; after the step, :attr:`new_stats`
    holds them as ``mode`` (:data:`BN_MODES`) leaves them. Host float64, ``numpy`` backend.
    """

    def __init__(self, model: dict, batches: dict, t: int, stats: dict, mode: str = "reference"):
        if mode not in BN_MODES:
            raise ValueError(f"mode must be one of {BN_MODES}, got {mode!r}")
        self.mlp, self.mode = _mlp(model), mode
        self.x, self.y, self.smoothing = batches["x"][t], batches["y"][t], model["label_smoothing"]
        self.stats, self.new_stats, self.calls = dict(stats), dict(stats), 0

        def loss(params, stats, train):
            logits, new = self.mlp.apply(params, self.x, stats, train=train)
            return nn.cross_entropy(logits, self.y, label_smoothing=self.smoothing), new

        self._value_and_grad = ms.value_and_grad(loss, has_aux=True)

    def __call__(self, params: dict) -> tuple[float, dict]:
        first = self.calls == 0
        self.calls += 1
        train = first or self.mode != "second-eval"
        # reference: every call starts from the step's statistics; the mutants chain them
        stats = self.stats if self.mode == "reference" else self.new_stats
        with ms.use_backend("numpy"):
            (value, new), grads = self._value_and_grad(params, stats, train)
        if first or self.mode == "both-passes":
            self.new_stats = {k: np.asarray(v, dtype=np.float64) for k, v in new.items()}
        return float(value), {k: np.asarray(g) for k, g in grads.items()}


def evaluate(model: dict, batches: dict, params: dict, stats: dict, reestimate: int) -> np.ndarray:
    """Evaluation-mode logits on ``batches["eval_x"]`` at ``params``, after re-estimating
    ``stats`` over the first ``reestimate`` batches of ``batches["reestimate_x"]`` (none if 0)."""
    mlp = _mlp(model)
    with ms.use_backend("numpy"):
        if reestimate:
            stats = nn.reestimate_stats(mlp, params, stats, list(batches["reestimate_x"]),
                                        num_batches=reestimate)  # fmt: skip
        logits, _ = mlp.apply(params, batches["eval_x"], stats, train=False)
    return np.asarray(logits, dtype=np.float64)
