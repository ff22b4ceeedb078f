"""Run golden cases through a PyTorch optimizer and compare with the reference.

For each case the runner builds the same model in torch, float64, with the case's
initial weights (a ``Linear`` weight is the transpose of the case's ``(in, out)``
array), builds the optimizer under test with the case's hyperparameters, and
replays the case through an adapter (:mod:`minimsam.crosscheck.torch_adapters`)::

    optimizer = impl(params, **hyperparameters)    # lr=lr[0] (and rho=rho[0]) included
    for t in range(T):
        if t == restore_before_step: checkpoint, then a new model + optimizer load it
        adapter.set_hyperparameters(lr=lr[t], rho=rho[t])
        adapter.step(forward_backward)             # each call records a gradient evaluation
        record adapter.unperturbed()               # (batch norm: and the running statistics)
    batch norm: load the unperturbed weights, re-estimate the running statistics over
    the case's re-estimation batches (minimsam.torch.reestimate_running_stats), record
    the model's eval-mode logits on the evaluation batch

A batch-norm case (``"kind": "mlp_batchnorm"``) builds ``Linear - BatchNorm1d -
activation - Linear`` with the case's initial running statistics; the adapter gets the
model as ``adapter.model`` (how each adapter keeps the first pass's statistics: see
:mod:`~minimsam.crosscheck.torch_adapters` and FORMAT.md, "Batch norm").

``impl`` is the optimizer class, or any callable with that signature (a factory, for
classes whose keywords differ), called with ``lr`` (and ``rho``) and the case's
constants (:data:`~minimsam.crosscheck.case.OPTIMIZERS`). A factory with a ``model``
parameter also receives the ``torch.nn.Module``.

If the optimizer cannot be driven (its constructor or a method cannot be called as
the adapter calls it, or the runner itself fails), the case's verdict is "not
driven", with the signatures found and the adapters that might fit, never a FAIL.
An exception raised inside the optimizer's own code while stepping is a FAIL (the
run stopped there), diagnosed like any other.
"""

from __future__ import annotations

import io
import re
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from minimsam.crosscheck.case import Case, Recorder, Trajectory
from minimsam.crosscheck.compare import ATOL, RTOL, NotDriven, Report, check_case
from minimsam.crosscheck.fileformat import select_cases
from minimsam.crosscheck.loading import load_object, named_class, parameters, signature, spec_name
from minimsam.crosscheck.torch_adapters import ADAPTERS, Adapter, auto, describe, fitting, label

__all__ = ["build_model", "check", "evaluation_logits", "load_object", "run_case", "running_stats"]

_ACTIVATIONS = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU, "sigmoid": torch.nn.Sigmoid}


def build_model(case: Case) -> tuple[torch.nn.Module, dict[str, torch.Tensor], Callable]:
    """``(module, {name: parameter}, loss_at(t))`` for the case, float64, initial weights."""
    spec = case.model
    if spec["kind"] in ("mlp", "mlp_batchnorm"):
        module = _mlp(spec["sizes"], spec["activation"], spec["kind"] == "mlp_batchnorm")
        x, y = torch.as_tensor(case.batches["x"]), torch.as_tensor(case.batches["y"])

        def loss_at(t):
            logits = module(x[t])
            return torch.nn.functional.cross_entropy(
                logits, y[t], label_smoothing=spec["label_smoothing"]
            )
    elif spec["kind"] == "surface":  # one parameter w of shape (2,)
        module = torch.nn.Module()
        module.w = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
        a, b, w = spec["a"], spec["b"], module.w
        scale, noise = case.batches["scale"], torch.as_tensor(case.batches["noise"])

        def loss_at(t):
            """scale[t] ((a - w0)^2 + b (w1 - w0^2)^2) + noise[t] . w"""
            rosenbrock = (a - w[0]) ** 2 + b * (w[1] - w[0] ** 2) ** 2
            return float(scale[t]) * rosenbrock + torch.dot(noise[t], w)
    else:
        raise ValueError(f"unknown model kind {spec['kind']!r}")
    params = dict(module.named_parameters())
    if list(params) != list(case.init):
        raise ValueError(f"torch params {list(params)} do not match the case's {list(case.init)}")
    with torch.no_grad():
        for name, p in params.items():
            p.copy_(torch.as_tensor(_swapped(name, case.init[name])))
        buffers = dict(module.named_buffers())
        for name, value in case.init_stats.items():
            buffers[name].copy_(torch.as_tensor(value))
    return module, params, loss_at


def _mlp(sizes: list[int], activation: str, batchnorm: bool) -> torch.nn.Module:
    """``Linear (- BatchNorm1d) - activation - ... - Linear``, float64 (FORMAT.md, "Models")."""
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        norm = [torch.nn.BatchNorm1d(n_out)] if batchnorm else []
        layers += [torch.nn.Linear(n_in, n_out), *norm, _ACTIVATIONS[activation]()]
    layers = layers[: -2 if batchnorm else -1]  # the output layer: logits only
    return torch.nn.Sequential(*layers).double()


def running_stats(module: torch.nn.Module, case: Case) -> dict[str, np.ndarray]:
    """The module's running statistics named as the case's (``{}`` without batch norm)."""
    buffers = dict(module.named_buffers())
    return {k: buffers[k].detach().cpu().numpy().astype(np.float64) for k in case.init_stats}


def evaluation_logits(module: torch.nn.Module, case: Case, weights: list) -> np.ndarray:
    """Eval-mode logits on the evaluation batch at ``weights`` (the unperturbed params),
    after re-estimating the running statistics over the case's re-estimation batches."""
    from minimsam.torch import reestimate_running_stats

    with torch.no_grad():
        for p, w in zip(module.parameters(), weights):
            p.copy_(w)
        if case.reestimate_batches:
            batches = torch.as_tensor(case.batches["reestimate_x"])
            reestimate_running_stats(module, batches, num_batches=case.reestimate_batches)
        module.eval()
        logits = module(torch.as_tensor(case.batches["eval_x"]))
        module.train()
    return logits.detach().cpu().numpy().astype(np.float64)


def _swapped(name: str, array):
    return array.T if name.endswith(".weight") else array  # Linear: (in, out) <-> (out, in)


def case_layout(name: str, tensor: torch.Tensor) -> np.ndarray:
    """A torch tensor as the case's float64 array (a ``Linear`` weight as ``(in, out)``)."""
    return _swapped(name, tensor.detach().cpu().numpy().astype(np.float64)).copy()


def constructor_kwargs(case: Case) -> dict:
    """The keywords ``impl`` is called with: constants, ``lr = lr[0]``, ``rho = rho[0]``."""
    return {**case.constants(), **case.hyperparameters_at(0)}


def _adapter_class(spec, optimizer) -> type[Adapter]:
    return named_class(spec, Adapter, ADAPTERS, auto, optimizer, "adapter")


class _Run:
    """One model + optimizer + adapter, and the recording forward_backward."""

    def __init__(self, case: Case, impl: Callable, adapter, recorder: Recorder):
        self.case, self.recorder = case, recorder
        self.module, self.params, self.loss_at = build_model(case)
        kwargs = constructor_kwargs(case)
        if "model" in (parameters(impl) or ()):
            kwargs["model"] = self.module
        self.optimizer = impl(list(self.params.values()), **kwargs)
        try:
            self.adapter_class = _adapter_class(adapter, self.optimizer)
            self.adapter = self.adapter_class(self.optimizer, list(self.params.values()))
            self.adapter.model = self.module if case.has_stats else None
        except Exception as err:
            err.optimizer = self.optimizer  # the optimizer was built: describe it
            raise

    def buffers(self) -> dict[str, dict[str, np.ndarray]]:
        """The optimizer's params-shaped state tensors (and its base optimizer's), by key."""
        states = [getattr(self.optimizer, "state", {})]
        base = getattr(self.optimizer, "base_optimizer", None)
        states.append(getattr(base, "state", {}))
        out: dict[str, dict[str, np.ndarray]] = {}
        for name, p in self.params.items():
            for state in states:
                entries = state.get(p, {}) if hasattr(state, "get") else {}
                for key, value in entries.items():
                    if isinstance(value, torch.Tensor) and value.shape == p.shape:
                        out.setdefault(str(key), {})[name] = case_layout(name, value)
        return out

    def forward_backward(self, t: int) -> torch.Tensor:
        for p in self.params.values():
            p.grad = None
        point = {k: case_layout(k, p) for k, p in self.params.items()}
        with torch.enable_grad():
            loss = self.loss_at(t)
            loss.backward()
        grads = {
            k: np.full(point[k].shape, np.nan) if p.grad is None else case_layout(k, p.grad)
            for k, p in self.params.items()
        }
        self.recorder.evaluation(point, float(loss.detach()), grads)
        return loss

    def checkpoint(self) -> bytes:
        buffer = io.BytesIO()
        torch.save(
            {"model": self.module.state_dict(), "optimizer": self.adapter.state_dict()}, buffer
        )
        return buffer.getvalue()

    def restore(self, blob: bytes) -> None:
        # our own bytes from this process: full unpickling is safe and keeps any state type
        saved = torch.load(io.BytesIO(blob), weights_only=False)
        self.module.load_state_dict(saved["model"])
        self.adapter.load_state_dict(saved["optimizer"])


_SIGNATURE_ERROR = re.compile(
    r"missing \d+ required|unexpected keyword argument|takes \d+ positional argument|"
    r"takes no arguments|got multiple values for argument|positional arguments? but \d+"
)
_HERE = Path(__file__).resolve().parent


def _is_driving_error(err: BaseException) -> bool:
    """The adapter's call did not fit the signature, or the runner itself failed."""
    frames = traceback.extract_tb(err.__traceback__)
    if frames and Path(frames[-1].filename).resolve().parent == _HERE:
        return True
    return isinstance(err, TypeError) and bool(_SIGNATURE_ERROR.search(str(err)))


def _constructor_found(impl, case: Case) -> list[str]:
    name = getattr(impl, "__qualname__", type(impl).__name__)
    called = ", ".join(f"{k}={v!r}" for k, v in constructor_kwargs(case).items())
    return [f"{name}{signature(impl)}", f"called as {name}(params, {called})"]


_FACTORY = "a factory module:make(params, lr, ...) that calls your class with its own arguments"


def _drive(
    case: Case, impl: Callable, adapter
) -> tuple[Trajectory, str, str | None, NotDriven | None]:
    """Replay ``case``: ``(trajectory, adapter name, error, NotDriven or None)``, an
    exception sorted into a stopped run or a run not driven."""
    recorder, name, run = Recorder(list(case.init)), str(adapter), None
    try:
        run = _Run(case, impl, adapter, recorder)
        name = label(run.adapter_class)
        for t in range(case.steps):
            if t == case.restore_before_step:
                blob = run.checkpoint()
                run = _Run(case, impl, adapter, recorder)
                run.restore(blob)
            run.adapter.set_hyperparameters(**case.hyperparameters_at(t))
            recorder.start_step()
            run.adapter.step(lambda run=run, t=t: run.forward_backward(t))
            weights = run.adapter.unperturbed()
            recorder.end_step(
                {k: case_layout(k, w) for k, w in zip(run.params, weights)},
                run.buffers(),
                running_stats(run.module, case),
            )
        if case.has_stats:
            recorder.evaluation_logits(evaluation_logits(run.module, case, weights))
    except Exception as err:  # a broken implementation is a failed case, not a crash
        error, stuck = f"{type(err).__name__}: {err}", None
        optimizer = getattr(err, "optimizer", None) if run is None else run.optimizer
        if optimizer is None:  # the constructor could not be called as the runner calls it
            stuck = NotDriven(error, _constructor_found(impl, case), [_FACTORY])
        elif run is None or _is_driving_error(err):  # built, but not driven as the adapter does
            stuck = NotDriven(error, describe(optimizer), fitting(optimizer))
        return recorder.trajectory(), name, error, stuck
    return recorder.trajectory(), name, None, None


def run_case(
    case: Case, impl: str | Callable, adapter="auto"
) -> tuple[Trajectory, str, str | None]:
    """Replay ``case`` with the torch optimizer ``impl``.

    Returns ``(trajectory, adapter name, error)``. If the run raises, ``error`` is
    ``"Type: message"`` and the trajectory holds the steps completed before.
    """
    return _drive(case, load_object(impl), adapter)[:3]


def check(
    cases: str | Path | list[Case],
    optimizer: str,
    impl: str | Callable,
    adapter="auto",
    names: list[str] | None = None,
    atol: float = ATOL,
    rtol: float = RTOL,
    form: str = "standard",
) -> Report:
    """Check the torch optimizer ``impl`` on the ``optimizer`` cases; a :class:`Report`.

    ``cases`` is a directory written by ``minimsam crosscheck export`` or a list of
    cases. A case whose run raises fails with the error in its result. ``form``:
    ``"memory-free"`` if the params hold the perturbed point (the paper's Algorithm 1).
    """
    cases = select_cases(cases, optimizer, names)
    if not cases:
        raise ValueError(f"no {optimizer!r} cases to check")
    name, impl = spec_name(impl), load_object(impl)  # an import error is the caller's
    results, adapter_name = [], str(adapter)
    for case in cases:
        got, adapter_name, error, stuck = _drive(case, impl, adapter)
        results.append(check_case(case, got, atol, rtol, error, form, stuck))
    return Report(optimizer, name, adapter_name, results)
