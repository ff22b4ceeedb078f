"""The optimizer update alone: ``opt.step`` with precomputed gradients against the same
equations hand-written in place.

A training step's time is mostly the forward and backward pass; where BLAS is fast, the
update and the step's bookkeeping (checks, dicts, the finite check's host sync) become a
visible share. Here ``grad_fn`` returns precomputed gradients, so a step is the update
and its bookkeeping only. The reference is the update a NumPy user would write for one
fixed problem: the same equations, tensor by tensor, in place on the params and buffers
(``v *= mu; v += g; w -= lr * v``), no checks. Both run on the MLP 784-256-256-10's
float32 params (269,322 entries in 6 tensors), interleaved in one process.

A control separates the cost of purity from the step's own overhead: SGD-momentum's and
AdamW's updates hand-written into new arrays, as a pure step must return them (no
checks, no bookkeeping), against the same in-place versions. Writing new arrays touches
more memory than updating in place (the old and the new params and buffers), so on a
machine where these updates are bound by memory traffic, the control's ratio is the
least any pure step can reach.

Run: ``python -m benchmarks.update_alone [--rounds 30]``.
"""

from __future__ import annotations

import argparse
import math

import numpy as np

import minimsam as ms
from minimsam import nn
from minimsam.optim import EPS

try:
    from benchmarks.bench_autodiff import SIZES
    from benchmarks.common import CLOCKS, markdown_table, ratio_spread, set_clock, time_samples
except ImportError:  # run as a script from the benchmarks/ folder
    from bench_autodiff import SIZES
    from common import CLOCKS, markdown_table, ratio_spread, set_clock, time_samples

LR, MU, RHO_MSAM, RHO_SAM = 0.01, 0.9, 0.3, 0.05
ADAM_LR, BETAS, ADAM_EPS, DECAY, RHO_ADAM = 1e-3, (0.9, 0.999), 1e-8, 1e-2, 1.0
BOUND = 1.3  # the target: the update alone at most 1.3x the hand-written one


def problem(seed: int = 0):
    """The MLP's float32 params and one fixed float32 gradient for them."""
    params = nn.MLP(SIZES).init(seed=seed)
    rng = np.random.default_rng(seed + 1)
    grads = {k: (0.01 * rng.standard_normal(p.shape)).astype(p.dtype) for k, p in params.items()}
    return params, grads


def _norm(tree: dict) -> float:
    return math.sqrt(sum(float(np.vdot(x.reshape(-1), x.reshape(-1))) for x in tree.values()))


# ----------------------------------------------------------------------------- by hand


def sgd_by_hand(w, v, g):
    """``v = mu v + g;  w = w - lr v``."""
    for k in w:
        v[k] *= MU
        v[k] += g[k]
        w[k] -= LR * v[k]


def nag_by_hand(w, v, g):
    """``a = w - lr mu v`` (the gradient point), then SGD-momentum's update."""
    lookahead = {k: w[k] - (LR * MU) * v[k] for k in w}
    sgd_by_hand(w, v, g)
    return lookahead


def msam_by_hand(w, v, g):
    """``wp = w - rho v / (||v|| + EPS)`` (the gradient point), then SGD-momentum's update."""
    c = RHO_MSAM / (_norm(v) + EPS)
    perturbed = {k: w[k] - c * v[k] for k in w}
    sgd_by_hand(w, v, g)
    return perturbed


def msam_perturbed_by_hand(wp, v, g, scale):
    """Params hold ``wp``: ``w = wp + s v``, SGD-momentum's update, ``wp = w - s' v'``."""
    for k in wp:
        wp[k] += scale[0] * v[k]
    sgd_by_hand(wp, v, g)
    scale[0] = RHO_MSAM / (_norm(v) + EPS)
    for k in wp:
        wp[k] -= scale[0] * v[k]


def sam_by_hand(w, v, g):
    """``wp = w + rho g / (||g|| + EPS)`` (the second gradient point), then SGD-momentum's."""
    c = RHO_SAM / (_norm(g) + EPS)
    perturbed = {k: w[k] + c * g[k] for k in w}
    sgd_by_hand(w, v, g)  # the second gradient is the same precomputed one
    return perturbed


def adam_by_hand(w, m, s, g, k_step):
    """``m = b1 m + (1-b1) g;  s = b2 s + (1-b2) g^2;  w -= lr_k m / (sqrt(s)/c2 + eps)``."""
    b1, b2 = BETAS
    step_size = ADAM_LR / (1 - b1**k_step)
    bc2_sqrt = math.sqrt(1 - b2**k_step)
    for k in w:
        m[k] *= b1
        m[k] += (1 - b1) * g[k]
        s[k] *= b2
        s[k] += (1 - b2) * g[k] * g[k]
        denom = np.sqrt(s[k])
        denom /= bc2_sqrt
        denom += ADAM_EPS
        w[k] -= step_size * m[k] / denom


def adamw_by_hand(w, m, s, g, k_step):
    """Decoupled decay first, ``w *= 1 - lr lam``, then Adam's update."""
    for k in w:
        w[k] *= 1 - ADAM_LR * DECAY
    adam_by_hand(w, m, s, g, k_step)


def adamw_msam_by_hand(w, m, s, g, k_step):
    """``wp = w - rho m / (||m|| + EPS)``, Adam's update, then the decay."""
    c = RHO_ADAM / (_norm(m) + EPS)
    perturbed = {k: w[k] - c * m[k] for k in w}
    adam_by_hand(w, m, s, g, k_step)
    for k in w:
        w[k] *= 1 - ADAM_LR * DECAY
    return perturbed


def sgd_pure_by_hand(w, v, g):
    """SGD-momentum's update into new arrays, as a pure step must return them: ``v' = mu v +
    g;  w' = w - lr v'``, each a new array (``mu * v`` and ``-lr * v'``) added to in place."""
    v_next, w_next = {}, {}
    for k in w:
        v_next[k] = MU * v[k]
        v_next[k] += g[k]
        w_next[k] = -LR * v_next[k]
        w_next[k] += w[k]
    return w_next, v_next


def adamw_pure_by_hand(w, m, s, g, k_step):
    """AdamW's update into new arrays ``w', m', s'``, in-place operations only on arrays
    this function made."""
    b1, b2 = BETAS
    step_size = ADAM_LR / (1 - b1**k_step)
    bc2_sqrt = math.sqrt(1 - b2**k_step)
    w_next, m_next, s_next = {}, {}, {}
    for k in w:
        m_next[k] = b1 * m[k]
        m_next[k] += (1 - b1) * g[k]
        s_next[k] = b2 * s[k]
        s_next[k] += (1 - b2) * g[k] * g[k]
        denom = np.sqrt(s_next[k])
        denom /= bc2_sqrt
        denom += ADAM_EPS
        w_next[k] = (1 - ADAM_LR * DECAY) * w[k]
        w_next[k] -= step_size * m_next[k] / denom
    return w_next, m_next, s_next


def pure_by_hand(name: str):
    """A closure doing one hand-written update of ``name`` (SGD or AdamW) into new arrays,
    fed its own outputs: the least a pure step can cost, with no checks."""
    params, grads = problem()
    held = {"w": params, "a": {k: np.zeros_like(x) for k, x in params.items()}}
    held["b"], count = dict(held["a"]), [0]

    def step():
        count[0] += 1
        if name == "AdamW":
            held["w"], held["a"], held["b"] = adamw_pure_by_hand(
                held["w"], held["a"], held["b"], grads, count[0]
            )
        else:
            held["w"], held["a"] = sgd_pure_by_hand(held["w"], held["a"], grads)

    return step


PURE_BY_HAND = ("SGD (momentum)", "AdamW")


def by_hand(name: str):
    """A closure doing one hand-written update of optimizer ``name`` in place."""
    params, grads = problem()
    w = {k: x.copy() for k, x in params.items()}
    a = {k: np.zeros_like(x) for k, x in w.items()}
    b = {k: np.zeros_like(x) for k, x in w.items()}
    count, scale = [0], [0.0]

    def step():
        count[0] += 1
        if name == "MSAM (store_perturbed)":
            return msam_perturbed_by_hand(w, a, grads, scale)
        if name in HAND_MOMENTUM:
            return HAND_MOMENTUM[name](w, a, grads)
        return HAND_ADAM[name](w, a, b, grads, count[0])

    return step


HAND_MOMENTUM = {"SGD (momentum)": sgd_by_hand, "NAG": nag_by_hand, "MSAM": msam_by_hand,
                 "SAM": sam_by_hand}  # fmt: skip
HAND_ADAM = {"AdamW": adamw_by_hand, "AdamWMSAM": adamw_msam_by_hand}


# ----------------------------------------------------------------------------- minimsam


def by_step(make_opt):
    """A closure doing one ``opt.step`` whose ``grad_fn`` returns the precomputed gradient."""
    params, grads = problem()
    opt = make_opt()
    holder = {"params": params, "state": opt.init(params)}

    def grad_fn(point):
        return 0.0, grads

    def step():
        holder["params"], holder["state"], _ = opt.step(holder["params"], holder["state"], grad_fn)

    return step


def run(optimizers: dict, rounds: int) -> list[list[object]]:
    """One row per optimizer: medians, the median of per-round ratios and its quartiles
    (on the numpy backend: the hand-written updates are NumPy code)."""
    with ms.use_backend("numpy"):
        return _rows(optimizers, rounds)


def _rows(optimizers: dict, rounds: int) -> list[list[object]]:
    contenders = {}
    for name, make in optimizers.items():
        contenders[name, "hand"] = by_hand(name)
        contenders[name, "step"] = by_step(make)
        contenders[name, "step, check_finite=False"] = by_step(
            lambda make=make: _without_finite_check(make())
        )
    for name in PURE_BY_HAND:
        contenders[name, "pure"] = pure_by_hand(name)
    samples = time_samples(contenders, rounds=rounds)
    rows = []
    for name in optimizers:
        hand = samples[name, "hand"]
        row: list[object] = [name, f"{np.median(hand) * 1e6:.0f}"]
        for kind in ("step", "step, check_finite=False"):
            ratio, q1, q3 = ratio_spread(samples[name, kind], hand)
            median = np.median(samples[name, kind]) * 1e6
            row += [f"{median:.0f}", f"{ratio:.2f} ({q1:.2f}–{q3:.2f})"]
        ratio = ratio_spread(samples[name, "step"], hand)[0]
        rows.append(row + [f"<= {BOUND}", "met" if ratio <= BOUND else "NOT met"])
    for name in PURE_BY_HAND:
        ratio, q1, q3 = ratio_spread(samples[name, "pure"], samples[name, "hand"])
        median = np.median(samples[name, "pure"]) * 1e6
        rows.append([f"{name}: by hand into new arrays (control)", "", f"{median:.0f}",
                     f"{ratio:.2f} ({q1:.2f}–{q3:.2f})", "", "", "", ""])  # fmt: skip
    return rows


def _without_finite_check(opt):
    opt.check_finite = False
    return opt


HEADER = ["optimizer", "by hand µs", "opt.step µs", "× by hand (quartiles)",
          "no finite check µs", "× by hand (quartiles)", "target (opt.step)", ""]  # fmt: skip


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall")
    args = parser.parse_args(argv)
    set_clock(args.clock)
    try:
        from benchmarks.bench_optim import OPTIMIZERS
    except ImportError:
        from bench_optim import OPTIMIZERS
    text = markdown_table(HEADER, run(OPTIMIZERS, args.rounds))
    print(text)
    return text


if __name__ == "__main__":
    main()
