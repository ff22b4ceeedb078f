"""The memory-free form shared by MSAM and AdamWMSAM: parameters hold the perturbed point.

Both optimizers take their single gradient at ``w~ = w - c * b``, where ``b`` is a
state buffer (MSAM: the momentum ``v``; AdamWMSAM: the first moment ``m``) and
``c = rho / (||b|| + EPS)`` with the global norm over every buffer of the optimizer.
Instead of keeping a copy of ``w``, the parameters themselves hold ``w~`` between
steps (arXiv 2401.12033, Alg. 1). A step undoes the old perturbation, updates
``w`` and ``b``, and applies the new one, all in place.

The scale ``c`` that was *applied* is stored per parameter in
``state["perturbation_scale"]`` and the undo uses exactly that value. The official
code instead recomputes the undo from the *current* ``rho``; under a rho schedule
that leaves a permanent shift ``(rho_new - rho_old) * b / ||b||`` in ``w``
(docs/optimizers.md, "The memory-free form"). Here the unperturbed ``w`` is always
``p + c * b``, whatever happened to ``rho`` in between.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch.optim import Optimizer

from minimsam.torch._common import EPS, global_norm

SCALE = "perturbation_scale"


class MemoryFreePerturbation(Optimizer):
    """Base class: perturbation bookkeeping and access to the unperturbed weights.

    Subclasses set ``_direction_key`` (the state buffer ``b`` that the perturbation
    follows, along ``-b``), implement ``_check_group`` (hyperparameter validation)
    and ``step``. Each parameter's state holds ``b``, ``SCALE`` (the ``c`` such
    that ``p = w - c * b`` right now; ``0.0`` when ``p`` holds ``w``) and ``step``.
    """

    _direction_key: str = ""

    # -- validation -------------------------------------------------------------
    def add_param_group(self, param_group: dict) -> None:
        super().add_param_group(param_group)
        self._check_group(self.param_groups[-1])

    def _check_group(self, group: dict) -> None:
        raise NotImplementedError

    def _check_all_groups(self) -> None:
        # a schedule may have written a bad value into a group since the last step
        for group in self.param_groups:
            self._check_group(group)
        if getattr(self, "_inside_unperturbed", False):
            raise RuntimeError("step() called inside the unperturbed() context")

    # -- perturbation -----------------------------------------------------------
    def _states(self) -> Iterator[tuple[dict, torch.Tensor, dict]]:
        """(group, param, state) for every parameter that has a direction buffer."""
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state.get(p)
                if state and self._direction_key in state:
                    yield group, p, state

    @torch.no_grad()
    def _undo_perturbation(self, p: torch.Tensor, state: dict) -> None:
        """Move ``p`` from ``w - c * b`` back to ``w``, with the ``c`` that was applied."""
        c = state[SCALE]
        if c != 0.0:
            p.add_(state[self._direction_key], alpha=c)
        state[SCALE] = 0.0

    @torch.no_grad()
    def move_to_perturbed(self) -> None:
        """Set every parameter to ``w~ = w - rho_g * b / (||b|| + EPS)`` with its group's rho.

        ``||b||`` is the global norm over the buffers of all parameter groups; ``rho_g``
        is the group's *current* ``rho``. Parameters already perturbed with exactly
        this scale are left untouched (bit for bit), so calling this every step costs
        one norm. Call it after changing ``rho`` (a rho schedule) so that the next
        gradient is taken with the new value; ``step(closure)`` does it for you.
        Before the first step there is no buffer and nothing moves.
        """
        for group in self.param_groups:
            self._check_group(group)
        states = list(self._states())
        norm = global_norm(state[self._direction_key] for _, _, state in states)
        for group, p, state in states:
            rho = float(group["rho"])
            c_new = rho / (norm + EPS) if norm > 0.0 else 0.0  # b = 0: w~ = w either way
            if state[SCALE] == c_new:
                continue
            self._undo_perturbation(p, state)
            if c_new != 0.0:
                p.add_(state[self._direction_key], alpha=-c_new)
            state[SCALE] = c_new

    @torch.no_grad()
    def move_to_unperturbed(self) -> None:
        """Set every parameter to the unperturbed ``w`` (e.g. at the end of training).

        The next ``step()`` then takes its gradient at ``w``; ``move_to_perturbed()``
        goes back to ``w~``.
        """
        for _, p, state in self._states():
            self._undo_perturbation(p, state)

    @contextmanager
    def unperturbed(self):
        """Context manager: parameters hold the unperturbed ``w`` inside, ``w~`` after.

        For evaluation and for checkpoints meant for use::

            with opt.unperturbed():
                test_acc = evaluate(model)
                torch.save(model.state_dict(), "weights.pt")  # save *inside*: shares storage

        Tensors read inside share storage with the parameters (``model.state_dict()``,
        ``p.detach()``, and ``p.cpu()`` on a CPU model): ``.clone()`` what you keep, or
        use :meth:`eval_params`, which returns copies. On exit the perturbation that
        was in place is re-applied with the same scale, so the training trajectory
        continues (up to one rounding of ``w ± c*b``). Do not call ``step()`` inside.
        """
        saved = [(p, state[SCALE]) for _, p, state in self._states()]
        self.move_to_unperturbed()
        self._inside_unperturbed = True
        try:
            yield self
        finally:
            self._inside_unperturbed = False
            with torch.no_grad():
                for p, c in saved:
                    state = self.state[p]
                    if c != 0.0:
                        p.add_(state[self._direction_key], alpha=-c)
                    state[SCALE] = c

    @torch.no_grad()
    def eval_params(self) -> dict[torch.Tensor, torch.Tensor]:
        """Return ``{param: unperturbed w}``: new tensors, the parameters are not moved.

        Example: ``w = opt.eval_params(); {n: w[p] for n, p in model.named_parameters()}``.
        """
        out = {}
        for group in self.param_groups:
            for p in group["params"]:
                w = p.detach().clone()
                state = self.state.get(p)
                if state and state.get(SCALE, 0.0) != 0.0:
                    w.add_(state[self._direction_key], alpha=state[SCALE])
                out[p] = w
        return out
