"""A whole training step recorded once as a CUDA graph and replayed: no launch overhead.

On a GPU a small model's step is bound by the host: a few dozen kernel launches, each
costing more host time than the kernel takes on the device. CUDA graphs record the
launches of one step once and replay them as a single launch. The step recorded is the
ordinary pure ``opt.step`` followed by copies of its results into fixed buffers::

    new_params, new_state, info = opt.step(params, state, grad_fn)   (at the fixed buffers)
    params <- new_params;  state <- new_state;  loss <- info.loss     (copied in place)

so one replay does exactly what one uncaptured step does, on the same kernels in the
same order (``tests/test_graph.py`` checks the two agree bit for bit).

    step = CapturedStep(opt, loss_fn, params, state, x, y)   # x, y: a batch of the shape used
    for x, y in batches:
        loss = step(x, y)                                    # a 0-d device array
    params, state = step.params, step.state                  # copies, safe to keep

What a graph fixes at capture time, and so what is refused: hyperparameter schedules
(the value at the capture step would be replayed forever), optimizers whose update reads
the step count (AdamW's bias correction), and the finite check (a host sync cannot be
recorded). On backends other than CuPy nothing is captured: each call runs the same
"step and copy" directly, so code written for the GPU runs, and is tested, anywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from minimsam.autodiff import value_and_grad
from minimsam.backend import asarray, get_backend
from minimsam.optim import MSAM, NAG, SAM, SGD

__all__ = ["CapturedStep"]

_CAPTURABLE = (SGD, NAG, SAM, MSAM)


def _check_capturable(opt: Any) -> None:
    if not isinstance(opt, _CAPTURABLE):
        raise ValueError(
            f"CapturedStep supports SGD, NAG, SAM and MSAM, not {type(opt).__name__} "
            "(its update reads the step count, which a graph would freeze)"
        )
    for name in ("lr", "rho"):
        if callable(getattr(opt, name, None)):
            raise ValueError(f"CapturedStep needs a constant {name}, not a schedule")


class CapturedStep:
    """``opt.step`` on fixed buffers, captured as a CUDA graph on CuPy (see module doc).

    Args:
        opt: SGD, NAG, SAM or MSAM with constant hyperparameters; on CuPy with
            ``check_finite=False``.
        loss_fn: ``loss_fn(params, x, y)``, the scalar loss differentiated w.r.t. params.
        params, state: where training starts (copied; the originals are not touched).
        x, y: a batch; every later batch must have the same shapes and dtypes.
    """

    def __init__(self, opt: Any, loss_fn: Callable, params: dict, state: dict, x: Any, y: Any):
        _check_capturable(opt)
        self.backend = get_backend()
        self.captured = self.backend.name == "cupy"
        if self.captured and opt.check_finite:
            raise ValueError("CapturedStep on a GPU needs check_finite=False (a host sync)")
        self.opt = opt
        self._params = {k: asarray(v).copy() for k, v in params.items()}
        self._buffers = {k: _copy(v) for k, v in state.items() if k != "step"}
        self._step = int(state["step"])
        self._x, self._y = asarray(x).copy(), asarray(y).copy()
        self._loss = self.backend.xp.zeros((), dtype=next(iter(self._params.values())).dtype)
        grad = value_and_grad(loss_fn)
        self._grad_fn = lambda p: grad(p, self._x, self._y)
        self._graph = self._capture() if self.captured else None

    # -- the recorded work
    def _body(self) -> None:
        """One pure step at the fixed buffers, its results copied into them."""
        state = {"step": self._step, **self._buffers}
        new_params, new_state, info = self.opt.step(self._params, state, self._grad_fn)
        _copy_into(self._params, new_params)
        for key, buffer in self._buffers.items():
            _copy_into(buffer, new_state[key])
        _copy_into(self._loss, info.loss)

    def _capture(self) -> Any:
        """Warm up on a private stream and memory pool, undo the warm-up, record a step.

        The warm-up compiles the kernels and leaves every temporary of a step cached in
        the private pool, so the recorded step allocates nothing new; the pool is kept
        with the graph and used by nothing else, so no other array can ever be handed
        the memory that a replay writes.
        """
        import cupy

        self._stream = cupy.cuda.Stream(non_blocking=True)
        self._pool = cupy.cuda.MemoryPool()
        start = (_copy(self._params), {k: _copy(v) for k, v in self._buffers.items()})
        with cupy.cuda.using_allocator(self._pool.malloc), self._stream:
            self._body()
            _copy_into(self._params, start[0])
            for key, buffer in self._buffers.items():
                _copy_into(buffer, start[1][key])
            self._stream.synchronize()
            self._stream.begin_capture()
            try:
                self._body()
            finally:
                graph = self._stream.end_capture()
        return graph

    # -- the public interface
    def __call__(self, x: Any, y: Any) -> Any:
        """One training step on the batch ``(x, y)``; returns its loss (a 0-d array)."""
        if self._graph is None:
            _copy_into(self._x, asarray(x))
            _copy_into(self._y, asarray(y))
            self._body()
        else:
            import cupy

            null = cupy.cuda.Stream.null
            self._stream.wait_event(null.record())  # the batch is ready
            with self._stream:
                _copy_into(self._x, asarray(x))
                _copy_into(self._y, asarray(y))
                self._graph.launch(self._stream)
            null.wait_event(self._stream.record())  # later work sees the results
        self._step += 1
        return self._loss

    @property
    def params(self) -> dict:
        """A copy of the current parameters."""
        return _copy(self._params)

    @property
    def state(self) -> dict:
        """A copy of the current optimizer state (``"step"`` counts the calls)."""
        return {"step": self._step, **{k: _copy(v) for k, v in self._buffers.items()}}


def _copy(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: v.copy() for k, v in x.items()}
    return x.copy()


def _copy_into(dst: Any, src: Any) -> None:
    """``dst[...] = src`` for an array or each key of a dict of arrays (same device)."""
    xp = get_backend().xp
    if isinstance(dst, dict):
        for k, d in dst.items():
            xp.copyto(d, src[k])
    else:
        xp.copyto(dst, src)
