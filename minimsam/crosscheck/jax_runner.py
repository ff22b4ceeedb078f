"""Run golden cases through a JAX/optax gradient transformation and compare.

The model is rebuilt in ``jax.numpy``, float64 (``jax_enable_x64`` is switched on),
with the case's parameter names and ``(in, out)`` weight layout. ``impl`` is a
factory called with the case's hyperparameters, ``lr`` and ``rho`` given as
schedules of the step count (``t -> lr[t]``, jit-safe); the keywords are optax's
``learning_rate`` and those of the case (``momentum``, ``weight_decay``, ``nesterov``,
``betas``, ``eps``, ``rho``), so ``minimsam.jax:msam`` is its own factory::

    tx = impl(learning_rate=schedule, momentum=..., weight_decay=..., rho=schedule)
    state = tx.init(params)
    for t in range(T):
        if t == restore_before_step: state and params go through NumPy and back,
                                     into a new tx = impl(...) and its init's structure
        repeat calls_per_step times:                   # 2 for a SAM such as optax.contrib.sam
            loss, grads = value_and_grad(L_t)(params)  # recorded: a gradient evaluation
            updates, state = tx.update(grads, state, params)
            params = optax.apply_updates(params, updates)
        record eval_params(params, state) if tx has it, else params

The batch-norm cases are skipped, and named as skipped in the report
(:data:`BATCHNORM_SKIPPED`; FORMAT.md, "JAX and optax").

A transformation that returns more than ``(init, update)`` may carry
``calls_per_step`` and ``eval_params(params, state)`` (``minimsam.jax``'s do). The
update is jit-compiled unless ``jit=False``. A factory or update that cannot be
called as above gives the verdict "not driven", never a FAIL.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from minimsam.crosscheck.case import Case, Recorder, Trajectory
from minimsam.crosscheck.compare import ATOL, RTOL, NotDriven, Report, check_case
from minimsam.crosscheck.fileformat import select_cases
from minimsam.crosscheck.loading import load_object, signature, spec_name

__all__ = ["check", "factory_kwargs", "loss_function"]

jax.config.update("jax_enable_x64", True)

BATCHNORM_SKIPPED = "the JAX runner has no batch-norm model (use a trajectory file, FORMAT.md)"
_ACTIVATIONS = {"tanh": jnp.tanh, "relu": jax.nn.relu, "sigmoid": jax.nn.sigmoid}


def _mlp_loss(layers: int, activation: str, smoothing: float) -> Callable:
    act = _ACTIVATIONS[activation]

    def loss(params, x, y):
        h = x
        for i in range(layers):
            h = h @ params[f"{2 * i}.weight"] + params[f"{2 * i}.bias"]
            h = act(h) if i < layers - 1 else h
        k = h.shape[-1]
        q = (1 - smoothing) * jax.nn.one_hot(y, k, dtype=h.dtype) + smoothing / k
        return -jnp.mean(jnp.sum(q * jax.nn.log_softmax(h), axis=-1))

    return loss


def _surface_loss(a: float, b: float) -> Callable:
    def loss(params, scale, noise):
        w = params["w"]
        return scale * ((a - w[0]) ** 2 + b * (w[1] - w[0] ** 2) ** 2) + noise @ w

    return loss


_COMPILED: dict[tuple, Callable] = {}


def loss_function(case: Case, jit: bool = True) -> Callable:
    """``value_and_grad(params, t)`` of the case's loss in jax.numpy (FORMAT.md, "Models");
    compiled once per model and reused by every case with that model."""
    spec = case.model
    if spec["kind"] == "mlp":
        key = ("mlp", len(spec["sizes"]) - 1, spec["activation"], spec["label_smoothing"])
        data = (case.batches["x"], case.batches["y"])
    elif spec["kind"] == "surface":
        key = ("surface", spec["a"], spec["b"])
        data = (case.batches["scale"], case.batches["noise"])
    else:
        raise ValueError(f"unknown model kind {spec['kind']!r}")
    if (key, jit) not in _COMPILED:
        loss = _mlp_loss(*key[1:]) if key[0] == "mlp" else _surface_loss(*key[1:])
        fn = jax.value_and_grad(loss)
        _COMPILED[key, jit] = jax.jit(fn) if jit else fn
    fn, arrays = _COMPILED[key, jit], [jnp.asarray(d) for d in data]
    return lambda params, t: fn(params, *(d[t] for d in arrays))


def _schedule(values: list[float]) -> Callable:
    """``count -> values[count]`` (clipped to the last value), jit-safe."""
    table = jnp.asarray(values, dtype=jnp.float64)
    return lambda count: table[jnp.clip(count, 0, len(values) - 1)]


def factory_kwargs(case: Case) -> dict:
    """The keywords ``impl`` is called with: the constants, ``lr`` and ``rho`` schedules."""
    kwargs = case.constants()
    kwargs["learning_rate"] = _schedule(case.lr)
    if case.rho is not None:
        kwargs["rho"] = _schedule(case.rho)
    return kwargs


def _param_trees(state, shapes: dict[str, tuple], prefix: str = "state"):
    """``(path, {param: array})`` for every params-shaped dict inside an optax state: the
    params' keys, each with its param's shape (a dict of per-tensor scalars is not one)."""
    if isinstance(state, dict):
        if set(state) == set(shapes):
            if all(np.shape(state[k]) == shapes[k] for k in shapes):
                yield prefix, state
            return
        items = state.items()
    elif isinstance(state, tuple) and hasattr(state, "_fields"):
        items = zip(state._fields, state)
    elif isinstance(state, (tuple, list)):
        items = enumerate(state)
    else:
        return
    for key, value in items:
        yield from _param_trees(value, shapes, f"{prefix}.{key}")


def _host(tree) -> dict:
    return {k: np.asarray(v, dtype=np.float64) for k, v in tree.items()}


def _round_trip(tree, template):
    """A checkpoint: every leaf to NumPy and back, into ``template``'s structure."""
    leaves = [np.array(x) for x in jax.tree_util.tree_leaves(tree)]
    structure = jax.tree_util.tree_structure(template)
    return jax.tree_util.tree_unflatten(structure, [jnp.asarray(x) for x in leaves])


class _Run:
    def __init__(self, case, impl, calls_per_step, jit):
        self.tx = impl(**factory_kwargs(case))
        self.calls = int(calls_per_step or getattr(self.tx, "calls_per_step", 1))
        self.eval_params = getattr(self.tx, "eval_params", None) or (lambda p, s: p)
        self.update = jax.jit(self.tx.update) if jit else self.tx.update


_SIGNATURE = re.compile(r"missing \d+ required|unexpected keyword|positional argument")
_FITS = [
    "calls_per_step=N (--calls-per-step): a SAM in the optax.contrib.sam style needs its "
    "sync_period",
    "an eval_params(params, state) field on the transformation if its params hold the "
    "perturbed point",
    "a factory module:make(learning_rate, rho, momentum, weight_decay, ...) returning the "
    "transformation",
]


def _found(impl, tx=None) -> list[str]:
    update = getattr(tx, "update", None)
    return [f"factory{signature(impl)}"] + ([f"update{signature(update)}"] if update else [])


def _drive(case, impl, calls_per_step, jit) -> tuple[Trajectory, str | None, NotDriven | None]:
    """``(trajectory, error, NotDriven or None)``."""
    names = list(case.init)
    recorder, value_and_grad = Recorder(names), loss_function(case, jit)
    try:
        run = _Run(case, impl, calls_per_step, jit)
        params = {k: jnp.asarray(v) for k, v in case.init.items()}
        state = run.tx.init(params)
    except Exception as err:
        reason = f"{type(err).__name__}: {err}"
        return recorder.trajectory(), reason, NotDriven(reason, _found(impl), _FITS)
    try:
        for t in range(case.steps):
            if t == case.restore_before_step:
                params = _round_trip(params, params)
                run = _Run(case, impl, calls_per_step, jit)
                state = _round_trip(state, run.tx.init(params))
            recorder.start_step()
            for _ in range(run.calls):
                value, grads = value_and_grad(params, t)
                recorder.evaluation(_host(params), float(value), _host(grads))
                updates, state = run.update(grads, state, params)
                params = jax.tree_util.tree_map(lambda p, u: p + u, params, updates)
            shapes = {k: np.shape(case.init[k]) for k in names}
            buffers = {path: _host(tree) for path, tree in _param_trees(state, shapes)}
            recorder.end_step(_host(run.eval_params(params, state)), buffers)
    except Exception as err:
        reason = f"{type(err).__name__}: {err}"
        if isinstance(err, TypeError) and _SIGNATURE.search(str(err)):
            return recorder.trajectory(), reason, NotDriven(reason, _found(impl, run.tx), _FITS)
        return recorder.trajectory(), reason, None
    return recorder.trajectory(), None, None


def check(
    cases: str | Path | list[Case],
    optimizer: str,
    impl: str | Callable,
    calls_per_step: int | None = None,
    jit: bool = True,
    names: list[str] | None = None,
    atol: float = ATOL,
    rtol: float = RTOL,
    form: str = "standard",
) -> Report:
    """Check the optax transformation ``impl`` builds on the ``optimizer`` cases
    (``form="memory-free"``: its params hold the perturbed point)."""
    cases = select_cases(cases, optimizer, names)
    skipped = [c.name for c in cases if c.has_stats]
    cases = [c for c in cases if not c.has_stats]
    if not cases:
        raise ValueError(f"no {optimizer!r} cases to check (batch-norm cases: {BATCHNORM_SKIPPED})")
    label, impl = spec_name(impl), load_object(impl)
    results = []
    for case in cases:
        trajectory, error, stuck = _drive(case, impl, calls_per_step, jit)
        results.append(check_case(case, trajectory, atol, rtol, error, form, stuck))
    adapter = f"optax, {calls_per_step or 'its own'} call(s) per step" + (", jit" if jit else "")
    return Report(optimizer, label, adapter, results, skipped, BATCHNORM_SKIPPED if skipped else "")
