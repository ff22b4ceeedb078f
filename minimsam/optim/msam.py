"""Momentum-SAM: SAM's perturbation taken along the negative momentum, at no extra cost.

Reference: M. Becker, F. Altrock, B. Risse, "Momentum-SAM: Sharpness Aware
Minimization without Computational Overhead", arXiv 2401.12033, Eq. 5 and Alg. 1;
docs/optimizers.md#msam.
"""

from __future__ import annotations

from minimsam.backend import get_backend
from minimsam.optim.base import (
    Optimizer,
    axpy,
    check_nonnegative,
    check_unit_interval,
    over_norm,
    zeros_like,
)

__all__ = ["MSAM"]


class MSAM(Optimizer):
    """MSAM(lr, momentum=0.9, rho=0.3, weight_decay=0): one gradient evaluation per step.

    One step, with ``g(x)`` the gradient returned by ``grad_fn`` at ``x``::

        u_t     = v_t / (||v_t|| + EPS)
        wp_t    = w_t - rho * u_t                   (perturbed point)
        d       = g(wp_t) + lam * wp_t              (weight decay at the perturbed point)
        v_{t+1} = mu * v_t + d
        w_{t+1} = w_t - eta * v_{t+1}

    ``||.||`` is the global norm over all parameters. ``v_0 = 0``, so the first step
    has no perturbation; ``rho = 0`` is SGD with momentum exactly. ``info.loss`` is the
    loss at ``wp_t`` (the only point evaluated). ``rho`` must be >= 0: the paper's
    "negative rho" variant (a step back along ``+v``) is not offered.

    Two storage forms give the same unperturbed ``w_t`` up to rounding:

    - ``store_perturbed=False`` (default, the textbook form): the params are ``w_t``.
      State ``{"step": t, "momentum": v}``.
    - ``store_perturbed=True`` (the memory-free form of the paper's Alg. 1 and the
      official code): the params the caller holds ARE ``wp_t``, so the model's
      forward pass runs on them directly. The state adds the scalar
      ``"scale" = rho_t / (||v_t|| + EPS)`` that produced them, and a step undoes
      exactly that perturbation before applying the next one::

          w_t       = wp_t + scale_t * v_t          (undo the applied perturbation)
          ...       (the step above)
          scale_{t+1} = rho_{t+1} / (||v_{t+1}|| + EPS)
          wp_{t+1}  = w_{t+1} - scale_{t+1} * v_{t+1}

      Storing the applied scale, not re-deriving it from the current rho, keeps the
      two forms equal under a rho schedule (the official PyTorch code undoes with
      the current rho and drifts by ``(rho_new - rho_old) * u``). :meth:`eval_params`
      returns ``w_t = wp_t + scale_t * v_t``.

    Trace names: ``w``, ``w_perturbed`` (``wp_t``), ``grad`` (``g(wp_t)``), ``momentum``
    (``v_{t+1}``), ``w_next`` (``w_{t+1}``); with ``store_perturbed=True`` also
    ``w_next_perturbed`` (``wp_{t+1}``, the params returned).

    Args:
        lr: learning rate ``eta`` >= 0, a number or a schedule ``t -> eta``.
        momentum: ``mu`` in [0, 1).
        rho: perturbation radius >= 0, a number or a schedule ``t -> rho``.
        weight_decay: ``lam`` >= 0, coupled, taken at the perturbed point ``wp_t``
            (as in the official code; SAM takes it at ``w_t``).
        store_perturbed: keep ``wp_t`` as the params (see above).
        check_finite: raise ``FloatingPointError`` on a non-finite loss or gradient.
    """

    def __init__(
        self,
        lr,
        momentum: float = 0.9,
        rho=0.3,
        weight_decay: float = 0.0,
        store_perturbed: bool = False,
        check_finite: bool = True,
    ):
        super().__init__(check_finite)
        self.lr = check_nonnegative("lr", lr, schedulable=True)
        self.momentum = check_unit_interval("momentum", momentum)
        self.rho = check_nonnegative("rho", rho, schedulable=True)
        self.weight_decay = check_nonnegative("weight_decay", weight_decay)
        if store_perturbed not in (True, False):
            raise ValueError(f"store_perturbed must be True or False, got {store_perturbed!r}")
        self.store_perturbed = bool(store_perturbed)

    def init_buffers(self, params):
        buffers = {"momentum": zeros_like(params)}
        if self.store_perturbed:
            xp = get_backend().xp
            widest = xp.result_type(*(p.dtype for p in params.values()))  # as ||v||'s dtype
            buffers["scale"] = xp.zeros((), dtype=widest)  # v_0 = 0: no shift
        return buffers

    def update(self, w, state, grad, t, trace):
        if self.store_perturbed:
            return self._update_perturbed_params(w, state, grad, t, trace)
        lr, rho = self.hyper("lr", t), self.hyper("rho", t)
        mu, v = self.momentum, state["momentum"]
        wp = axpy(over_norm(-rho, v), v, w)  # wp_t = w_t - rho v_t / (||v_t|| + EPS)
        g = grad(wp)
        d = axpy(self.weight_decay, wp, g)  # d = g(wp_t) + lam wp_t
        trace(w=w, w_perturbed=wp, grad=g)
        del wp  # freed before the new buffers exist: MSAM's peak memory is SGD's
        v_next = axpy(mu, v, d)  # v_{t+1} = mu v_t + d
        w_next = axpy(-lr, v_next, w)  # w_{t+1} = w_t - eta v_{t+1}
        trace(momentum=v_next, w_next=w_next)
        return w_next, {"momentum": v_next}

    def _update_perturbed_params(self, wp, state, grad, t, trace):
        """The same step when the params are ``wp_t`` (``store_perturbed=True``)."""
        lr, mu, v = self.hyper("lr", t), self.momentum, state["momentum"]
        g = grad(wp)
        d = axpy(self.weight_decay, wp, g)  # d = g(wp_t) + lam wp_t
        w = axpy(state["scale"], v, wp)  # w_t = wp_t + scale_t v_t
        v_next = axpy(mu, v, d)  # v_{t+1} = mu v_t + d
        w_next = axpy(-lr, v_next, w)  # w_{t+1} = w_t - eta v_{t+1}
        trace(w=w, w_perturbed=wp, grad=g, momentum=v_next, w_next=w_next)
        del w  # freed before wp_{t+1} exists: one params-sized array less at the peak
        scale_next = over_norm(self.hyper("rho", t + 1), v_next)  # rho_{t+1} / (||v_{t+1}|| + EPS)
        wp_next = axpy(-scale_next, v_next, w_next)  # wp_{t+1} = w_{t+1} - scale_{t+1} v_{t+1}
        trace(w_next_perturbed=wp_next)
        return wp_next, {"momentum": v_next, "scale": scale_next}

    def eval_params(self, params, state):
        """The unperturbed ``w_t``: the params, or ``wp_t + scale_t * v_t`` if stored perturbed."""
        params = super().eval_params(params, state)  # checks the state's form first
        if not self.store_perturbed:
            return params
        return axpy(state["scale"], state["momentum"], params)
