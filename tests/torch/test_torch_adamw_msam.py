"""minimsam.torch.AdamWMSAM against a literal NumPy transcription of docs/optimizers.md#adamwmsam"""

import copy
import functools

import numpy as np
import pytest

torch = pytest.importorskip("torch", minversion="2.1")
from minimsam.torch import AdamWMSAM  # noqa: E402
from tests.torch import helpers  # noqa: E402

EPS = 1e-12
STEPS = 30
PER_GROUP = (
    {"lr": 0.02, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.1, "rho_factor": 1.0},
    {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.0, "rho_factor": 3.0},
)
HYPER = ("lr", "betas", "eps", "weight_decay")


def spec_adamw_msam(problem, rhos):
    """AdamWMSAM (docs/optimizers.md): perturb along -m, Adam step at w, decay after the step."""
    lr, betas, eps, lam, f = (problem.per_key(PER_GROUP, n) for n in HYPER + ("rho_factor",))
    w = {k: a.copy() for k, a in problem.init.items()}
    m = {k: np.zeros_like(a) for k, a in w.items()}
    s = {k: np.zeros_like(a) for k, a in w.items()}
    trajectory = []
    for t, rho in enumerate(rhos):
        c = {k: rho * f[k] / (problem.norm(m) + EPS) if t > 0 else 0.0 for k in w}
        wp = {k: w[k] - c[k] * m[k] for k in w}
        _, grad = problem.grad(wp, problem.batches[t])
        new_w = {}
        for k in w:
            b1, b2 = betas[k]
            m[k] = b1 * m[k] + (1 - b1) * grad[k]
            s[k] = b2 * s[k] + (1 - b2) * grad[k] ** 2
            step = (lr[k] / (1 - b1 ** (t + 1))) * m[k]
            adam = w[k] - step / (np.sqrt(s[k]) / np.sqrt(1 - b2 ** (t + 1)) + eps[k])
            new_w[k] = adam * (1 - lr[k] * lam[k])
        w = new_w
        trajectory.append({"wp": wp, "w": w, "m": dict(m), "s": dict(s)})
    return trajectory


def make_opt(problem, params, **kwargs):
    return AdamWMSAM(
        problem.groups(params, [{k: kw[k] for k in HYPER} for kw in PER_GROUP]), **kwargs
    )


set_rho = functools.partial(helpers.set_rho, per_group=PER_GROUP)
backward = helpers.fresh_backward
assert_tree_close = helpers.assert_tree_close


@pytest.mark.parametrize("sync", ["closure", "move_to_perturbed"])
def test_matches_spec_with_groups_weight_decay_and_rho_schedule(problem, sync):
    rhos = [2.0 * problem.rho(t) for t in range(STEPS)]
    expected = spec_adamw_msam(problem, rhos)
    params = problem.make_params()
    opt = make_opt(problem, params)
    for t in range(STEPS):
        set_rho(opt, rhos[t])
        if sync == "closure":
            opt.step(lambda t=t: backward(problem, params, t))
        else:
            opt.move_to_perturbed()
            assert_tree_close(params, expected[t]["wp"])
            backward(problem, params, t)
            opt.step()
        w = opt.eval_params()
        assert_tree_close({k: w[p] for k, p in params.items()}, expected[t]["w"])
        for key, name in (("exp_avg", "m"), ("exp_avg_sq", "s")):
            buffers = {k: opt.state[p][key] for k, p in params.items()}
            assert_tree_close(buffers, expected[t][name])
        if t % 7 == 3:
            with opt.unperturbed():
                assert_tree_close(params, expected[t]["w"])


def test_rho_zero_without_decay_is_torch_adam(problem):
    hyper = [{k: kw[k] for k in ("lr", "betas", "eps")} for kw in PER_GROUP]
    params, ref_params = problem.make_params(), problem.make_params()
    opt = AdamWMSAM(problem.groups(params, hyper), rho=0.0, weight_decay=0.0)
    ref = torch.optim.Adam(problem.groups(ref_params, hyper))
    for t in range(20):
        backward(problem, params, t)
        backward(problem, ref_params, t)
        opt.step()
        ref.step()
        for k in params:  # torch uses lerp for m: equal up to rounding
            torch.testing.assert_close(params[k], ref_params[k], rtol=0, atol=1e-14)


def test_state_dict_resumes_identically_in_a_fresh_optimizer(problem):
    def run(params, opt, steps):
        for t in steps:
            set_rho(opt, 2.0 * problem.rho(t))
            opt.step(lambda t=t: backward(problem, params, t))
        return {k: p.detach().clone() for k, p in params.items()}

    params = problem.make_params()
    opt = make_opt(problem, params)
    run(params, opt, range(8))
    saved_model = {k: p.detach().clone() for k, p in params.items()}
    saved_opt = copy.deepcopy(opt.state_dict())
    assert all(s["step"] == 8 and s["perturbation_scale"] > 0 for s in saved_opt["state"].values())
    continued = run(params, opt, range(8, 16))
    fresh_params = problem.make_params(saved_model)
    fresh = make_opt(problem, fresh_params, rho=5.0)
    fresh.load_state_dict(saved_opt)
    resumed = run(fresh_params, fresh, range(8, 16))
    for k in params:
        assert torch.equal(continued[k], resumed[k])
