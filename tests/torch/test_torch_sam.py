"""minimsam.torch.SAM against a literal NumPy transcription of docs/optimizers.md#sam."""

import copy
import functools

import numpy as np
import pytest

torch = pytest.importorskip("torch", minversion="2.1")
from minimsam.torch import SAM  # noqa: E402
from tests.torch import helpers  # noqa: E402

EPS = 1e-12
STEPS = 30
PER_GROUP = (
    {"lr": 0.1, "momentum": 0.9, "weight_decay": 1e-2, "rho_factor": 1.0},
    {"lr": 0.05, "momentum": 0.5, "weight_decay": 3e-2, "rho_factor": 0.5},
)


def spec_sam(problem, rhos):
    """SAM (docs/optimizers.md): e from the data-loss gradient, weight decay at unperturbed w."""
    lr, mu, lam, f = (
        problem.per_key(PER_GROUP, n) for n in ("lr", "momentum", "weight_decay", "rho_factor")
    )
    w = {k: a.copy() for k, a in problem.init.items()}
    v = {k: np.zeros_like(a) for k, a in w.items()}
    trajectory = []
    for t, rho in enumerate(rhos):
        loss, g1 = problem.grad(w, problem.batches[t])
        n = problem.norm(g1)
        e = {k: rho * f[k] * g1[k] / (n + EPS) for k in w}
        _, g2 = problem.grad({k: w[k] + e[k] for k in w}, problem.batches[t])
        d = {k: g2[k] + lam[k] * w[k] for k in w}
        v = {k: mu[k] * v[k] + d[k] for k in w}
        w = {k: w[k] - lr[k] * v[k] for k in w}
        trajectory.append({"loss": loss, "w": w, "v": v})
    return trajectory


def make_opt(problem, params, **kwargs):
    hyper = [{k: kw[k] for k in ("lr", "momentum", "weight_decay")} for kw in PER_GROUP]
    return SAM(problem.groups(params, hyper), lr=1.0, **kwargs)


set_rho = functools.partial(helpers.set_rho, per_group=PER_GROUP)
backward, zero, assert_tree_close = helpers.backward, helpers.zero, helpers.assert_tree_close


@pytest.mark.parametrize("style", ["closure", "two_steps"])
def test_matches_spec_with_groups_weight_decay_and_rho_schedule(problem, style):
    rhos = [problem.rho(t) for t in range(STEPS)]
    expected = spec_sam(problem, rhos)
    params = problem.make_params()
    opt = make_opt(problem, params)
    for t in range(STEPS):
        set_rho(opt, rhos[t])
        if style == "closure":
            loss = opt.step(lambda t=t: backward(problem, params, t))
        else:
            zero(params)
            loss = backward(problem, params, t)
            opt.first_step(zero_grad=True)
            backward(problem, params, t)
            opt.second_step(zero_grad=True)
        assert loss.item() == pytest.approx(expected[t]["loss"], rel=0, abs=1e-12)
        assert_tree_close(params, expected[t]["w"])
        buffers = {k: opt.state[p]["momentum_buffer"] for k, p in params.items()}
        assert_tree_close(buffers, expected[t]["v"])


def test_rho_zero_is_torch_sgd_bit_for_bit(problem):
    hyper = [{k: kw[k] for k in ("lr", "momentum", "weight_decay")} for kw in PER_GROUP]
    params, ref_params = problem.make_params(), problem.make_params()
    opt = SAM(problem.groups(params, hyper), lr=1.0, rho=0.0)
    ref = torch.optim.SGD(problem.groups(ref_params, hyper), lr=1.0)
    for t in range(20):
        opt.step(lambda t=t: backward(problem, params, t))
        zero(ref_params)
        backward(problem, ref_params, t)
        ref.step()
        for k in params:
            assert torch.equal(params[k], ref_params[k]), (t, k)


def test_closure_that_forgets_zero_grad_is_still_correct(problem):
    # step() zeroes before each closure call, so g2 is not added onto g1
    params, ref_params = problem.make_params(), problem.make_params()
    opt, ref = SAM(list(params.values()), lr=0.1), SAM(list(ref_params.values()), lr=0.1)
    for t in range(3):
        opt.step(lambda t=t: backward(problem, params, t))

        def clean_closure(t=t):
            zero(ref_params)
            return backward(problem, ref_params, t)

        ref.step(clean_closure)
    for k in params:
        assert torch.equal(params[k], ref_params[k])


def test_state_dict_between_first_and_second_step_resumes_identically(problem):
    params = problem.make_params()
    opt = make_opt(problem, params, rho=0.2)
    for t in range(5):
        opt.step(lambda t=t: backward(problem, params, t))
    zero(params)
    backward(problem, params, 5)
    opt.first_step(zero_grad=True)
    # checkpoint mid-step: the model holds w + e, the optimizer state a copy of w
    saved_model = {k: p.detach().clone() for k, p in params.items()}
    saved_opt = copy.deepcopy(opt.state_dict())
    assert all("unperturbed" in s for s in saved_opt["state"].values())

    def finish_and_continue(params, opt):
        backward(problem, params, 5)
        opt.second_step(zero_grad=True)
        for t in range(6, 10):
            opt.step(lambda t=t: backward(problem, params, t))
        return params

    continued = finish_and_continue(params, opt)
    assert all("unperturbed" not in s for s in opt.state_dict()["state"].values())
    fresh_params = problem.make_params(saved_model)
    fresh = make_opt(problem, fresh_params, rho=0.2)
    fresh.load_state_dict(saved_opt)
    resumed = finish_and_continue(fresh_params, fresh)
    for k in params:
        assert torch.equal(continued[k], resumed[k])


def test_eval_params_and_unperturbed_mid_step(problem):
    params = problem.make_params()
    opt = SAM(list(params.values()), lr=0.1, rho=0.3)
    loss = backward(problem, params, 0)
    assert loss.item() > 0
    w = {k: p.detach().clone() for k, p in params.items()}
    opt.first_step()
    perturbed = {k: p.detach().clone() for k, p in params.items()}
    g1 = [p.grad for p in params.values()]
    norm = torch.sqrt(sum((g**2).sum() for g in g1))
    for k, g in zip(params, g1, strict=True):
        torch.testing.assert_close(perturbed[k], w[k] + 0.3 * g / (norm + EPS), rtol=0, atol=1e-15)
    ev = opt.eval_params()
    with opt.unperturbed():
        for k, p in params.items():
            assert torch.equal(p.detach(), w[k])
            assert torch.equal(ev[p], w[k])
    for k, p in params.items():
        assert torch.equal(p.detach(), perturbed[k])


def test_call_order_errors(problem):
    params = problem.make_params()
    opt = SAM(list(params.values()), lr=0.1)
    with pytest.raises(RuntimeError, match="closure"):
        opt.step()
    with pytest.raises(RuntimeError, match="without first_step"):
        opt.second_step()
    backward(problem, params, 0)
    opt.first_step()
    with pytest.raises(RuntimeError, match="twice"):
        opt.first_step()
