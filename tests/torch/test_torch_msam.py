"""minimsam.torch.MSAM against a literal NumPy transcription of docs/optimizers.md#msam."""

import copy
import functools
import io

import numpy as np
import pytest

torch = pytest.importorskip("torch", minversion="2.1")
from minimsam.torch import MSAM  # noqa: E402
from tests.torch import helpers  # noqa: E402

EPS = 1e-12
STEPS = 30
# per-group hyperparameters; rho_factor scales the shared rho schedule per group
PER_GROUP = (
    {"lr": 0.1, "momentum": 0.9, "weight_decay": 1e-2, "rho_factor": 1.0},
    {"lr": 0.05, "momentum": 0.5, "weight_decay": 0.0, "rho_factor": 2.0},
)


def spec_msam(problem, rhos):
    """MSAM (docs/optimizers.md), textbook form (w and v), one rho per step, per-key lr/mu/lam."""
    lr, mu, lam, f = (
        problem.per_key(PER_GROUP, n) for n in ("lr", "momentum", "weight_decay", "rho_factor")
    )
    w = {k: a.copy() for k, a in problem.init.items()}
    v = {k: np.zeros_like(a) for k, a in w.items()}
    trajectory = []
    for t, rho in enumerate(rhos):
        n = problem.norm(v)
        wp = {k: w[k] - rho * f[k] * v[k] / (n + EPS) for k in w}
        _, g = problem.grad(wp, problem.batches[t])
        d = {k: g[k] + lam[k] * wp[k] for k in w}
        v = {k: mu[k] * v[k] + d[k] for k in w}
        w = {k: w[k] - lr[k] * v[k] for k in w}
        trajectory.append({"wp": wp, "w": w, "v": v})
    return trajectory


def torch_groups(problem, params):
    return problem.groups(
        params, [{k: kw[k] for k in ("lr", "momentum", "weight_decay")} for kw in PER_GROUP]
    )


set_rho = functools.partial(helpers.set_rho, per_group=PER_GROUP)
backward = helpers.fresh_backward
assert_tree_close = helpers.assert_tree_close


@pytest.mark.parametrize("sync", ["closure", "move_to_perturbed"])
def test_matches_spec_with_groups_weight_decay_and_rho_schedule(problem, sync):
    rhos = [problem.rho(t) for t in range(STEPS)]
    expected = spec_msam(problem, rhos)
    params = problem.make_params()
    opt = MSAM(torch_groups(problem, params), lr=1.0)
    for t in range(STEPS):
        set_rho(opt, rhos[t])
        if sync == "closure":
            opt.step(lambda t=t: backward(problem, params, t))
        else:
            opt.move_to_perturbed()
            if t > 0:  # the gradient is taken at SPEC's perturbed point wp_t
                assert_tree_close(params, expected[t]["wp"])
            backward(problem, params, t)
            opt.step()
        w = opt.eval_params()
        assert_tree_close({k: w[p] for k, p in params.items()}, expected[t]["w"])
        buffers = {k: opt.state[p]["momentum_buffer"] for k, p in params.items()}
        assert_tree_close(buffers, expected[t]["v"])
        if t % 7 == 3:  # evaluating mid-run must not change the trajectory
            with opt.unperturbed():
                assert_tree_close(params, expected[t]["w"])


def test_unsynced_rho_change_is_used_one_step_late_and_w_does_not_drift(problem):
    # Without move_to_perturbed(), the perturbation for step t was applied at the end of
    # step t-1 with the rho of that time; w must still follow SPEC exactly with that rho.
    # Undoing with the *current* rho (the official code's bug) would fail this test.
    rhos = [problem.rho(t) for t in range(STEPS)]
    expected = spec_msam(problem, [0.0] + rhos[:-1])
    params = problem.make_params()
    opt = MSAM(torch_groups(problem, params), lr=1.0)
    set_rho(opt, rhos[0])
    for t in range(STEPS):
        backward(problem, params, t)
        opt.step()  # applies the perturbation for step t + 1 with rhos[t]
        set_rho(opt, rhos[(t + 1) % STEPS])  # a scheduler stepping after the optimizer
        w = opt.eval_params()
        assert_tree_close({k: w[p] for k, p in params.items()}, expected[t]["w"])


def test_rho_zero_is_torch_sgd_bit_for_bit(problem):
    hyper = [{k: kw[k] for k in ("lr", "momentum", "weight_decay")} for kw in PER_GROUP]
    params, ref_params = problem.make_params(), problem.make_params()
    opt = MSAM(problem.groups(params, hyper), lr=1.0, rho=0.0)
    ref = torch.optim.SGD(problem.groups(ref_params, hyper), lr=1.0)
    for t in range(20):
        backward(problem, params, t)
        backward(problem, ref_params, t)
        opt.step()
        ref.step()
        for k in params:
            assert torch.equal(params[k], ref_params[k]), (t, k)


def test_first_step_has_no_perturbation_and_zero_momentum_gives_none(problem):
    params = problem.make_params()
    opt = MSAM(list(params.values()), lr=0.1, rho=0.5)
    opt.move_to_perturbed()  # no buffers yet: nothing moves
    for k, p in params.items():
        assert torch.equal(p.detach(), torch.as_tensor(problem.init[k]))
    # zero gradients and no weight decay keep v = 0: no perturbation, no NaN
    for p in params.values():
        p.grad = torch.zeros_like(p)
    opt.step()
    for k, p in params.items():
        assert torch.equal(p.detach(), torch.as_tensor(problem.init[k]))


def run_steps(problem, params, opt, steps, schedule=False):
    out = []
    for t in steps:
        if schedule:
            set_rho(opt, problem.rho(t))
            opt.move_to_perturbed()
        backward(problem, params, t)
        opt.step()
        out.append({k: p.detach().clone() for k, p in params.items()})
    return out


def test_state_dict_resumes_identically_in_a_fresh_optimizer(problem):
    params = problem.make_params()
    opt = MSAM(torch_groups(problem, params), lr=1.0)
    run_steps(problem, params, opt, range(10), schedule=True)
    buffer = io.BytesIO()
    torch.save(
        {"model": {k: p.detach() for k, p in params.items()}, "opt": opt.state_dict()}, buffer
    )
    saved = copy.deepcopy(opt.state_dict())
    assert all(s["perturbation_scale"] > 0 and s["step"] == 10 for s in saved["state"].values())
    continued = run_steps(problem, params, opt, range(10, 20), schedule=True)

    buffer.seek(0)
    checkpoint = torch.load(buffer)  # weights_only: only tensors and Python numbers inside
    fresh_params = problem.make_params(checkpoint["model"])
    fresh = MSAM(torch_groups(problem, fresh_params), lr=0.5, rho=9.0)  # overwritten by load
    fresh.load_state_dict(checkpoint["opt"])
    resumed = run_steps(problem, fresh_params, fresh, range(10, 20), schedule=True)
    for a, b in zip(continued, resumed, strict=True):
        for k in a:
            assert torch.equal(a[k], b[k])


def test_unperturbed_context_restores_the_perturbed_point(problem):
    params = problem.make_params()
    opt = MSAM(list(params.values()), lr=0.1, rho=0.4)
    run_steps(problem, params, opt, range(5))
    before = {k: p.detach().clone() for k, p in params.items()}
    w = opt.eval_params()
    with opt.unperturbed():
        for p in params.values():
            assert torch.equal(p.detach(), w[p])
            assert opt.state[p]["perturbation_scale"] == 0.0
        with pytest.raises(RuntimeError, match="unperturbed"):
            opt.step()
    for k, p in params.items():
        assert not torch.equal(before[k], w[p])  # the perturbation was real
        torch.testing.assert_close(p.detach(), before[k], rtol=0, atol=1e-15)


def test_move_to_unperturbed_then_perturbed_with_new_rho(problem):
    params = problem.make_params()
    opt = MSAM(list(params.values()), lr=0.1, rho=0.4)
    run_steps(problem, params, opt, range(3))
    w = opt.eval_params()
    opt.move_to_unperturbed()
    for p in params.values():
        assert torch.equal(p.detach(), w[p])
    opt.param_groups[0]["rho"] = 0.7
    opt.move_to_perturbed()
    vs = [opt.state[p]["momentum_buffer"] for p in params.values()]
    norm = torch.sqrt(sum((v**2).sum() for v in vs))
    for p, v in zip(params.values(), vs, strict=True):
        torch.testing.assert_close(p.detach(), w[p] - 0.7 * v / (norm + EPS), rtol=0, atol=1e-15)


def test_parameter_without_gradient_keeps_w_and_v_but_follows_the_perturbation(problem):
    params = problem.make_params()
    opt = MSAM(list(params.values()), lr=0.1, rho=0.4)
    run_steps(problem, params, opt, range(3))
    w_b2, v_b2 = opt.eval_params()[params["b2"]], opt.state[params["b2"]]["momentum_buffer"].clone()
    for t in range(3, 6):
        backward(problem, params, t)
        params["b2"].grad = None
        opt.step()
        assert torch.equal(opt.state[params["b2"]]["momentum_buffer"], v_b2)
        torch.testing.assert_close(opt.eval_params()[params["b2"]], w_b2, rtol=0, atol=1e-15)
        c = opt.state[params["b2"]]["perturbation_scale"]
        assert c == opt.state[params["W1"]]["perturbation_scale"]
        torch.testing.assert_close(params["b2"].detach(), w_b2 - c * v_b2, rtol=0, atol=1e-15)
