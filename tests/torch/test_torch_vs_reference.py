"""minimsam.torch against minimsam.optim, the NumPy reference, on the same problem.

The torch optimizers take their gradients from ``loss.backward()``; the reference
from ``grad_fn`` (the same function through autograd). A rho schedule that changes
every step is a callable for the reference and a value written into the parameter
group before each step for torch (``step(closure)`` syncs the perturbation to it).
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch", minversion="2.1")
import minimsam as ms  # noqa: E402
import minimsam.torch as mt  # noqa: E402
from minimsam import optim  # noqa: E402

STEPS = 30
CASES = {
    "MSAM": (
        lambda rho: optim.MSAM(lr=0.1, momentum=0.9, rho=rho, weight_decay=1e-2),
        lambda ps: mt.MSAM(ps, lr=0.1, momentum=0.9, weight_decay=1e-2),
    ),
    "SAM": (
        lambda rho: optim.SAM(lr=0.1, momentum=0.9, rho=rho, weight_decay=1e-2),
        lambda ps: mt.SAM(ps, lr=0.1, momentum=0.9, weight_decay=1e-2),
    ),
    "AdamWMSAM": (
        lambda rho: optim.AdamWMSAM(lr=0.02, weight_decay=0.1, rho=rho),
        lambda ps: mt.AdamWMSAM(ps, lr=0.02, weight_decay=0.1),
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_same_trajectory_as_the_numpy_reference(problem, name):
    make_reference, make_torch = CASES[name]
    with ms.use_backend("numpy"):
        reference = make_reference(lambda t: problem.rho(t))
        w = {k: a.copy() for k, a in problem.init.items()}
        state = reference.init(w)
        params = problem.make_params()
        opt = make_torch(list(params.values()))
        for t in range(STEPS):
            w, state, info = reference.step(
                w, state, lambda p, t=t: problem.grad(p, problem.batches[t])
            )
            opt.param_groups[0]["rho"] = problem.rho(t)

            def closure(t=t):
                for p in params.values():
                    p.grad = None
                loss = problem.loss(params, problem.batches[t])
                loss.backward()
                return loss

            loss = opt.step(closure)
            assert loss.item() == pytest.approx(float(info.loss), rel=0, abs=1e-12)
            expected = reference.eval_params(w, state)
            got = opt.eval_params()
            for k, p in params.items():
                np.testing.assert_allclose(got[p].numpy(), expected[k], rtol=0, atol=1e-12)
