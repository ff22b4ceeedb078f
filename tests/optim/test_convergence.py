"""Every optimizer reaches the known minimum of a convex quadratic and of Rosenbrock.

SAM and MSAM with a constant rho > 0 do not settle at the minimum: their gradient is
taken a distance rho away from the iterate. So rho decays linearly to 0 over the first
half of the run (exercising the rho schedules), and a separate test bounds the distance
to the minimum under a constant rho. Adam's constant-lr steps do not vanish either, so
its lr follows a cosine to 0.
"""

from __future__ import annotations

import numpy as np
import pytest

from minimsam import optim
from minimsam.optim import schedules

from .problems import quadratic_problem, rosenbrock_problem, run

# f(w) = 0.5 w^T A w - b^T w, minimum at A^{-1} b = (0.6, -0.8)
A, B = np.array([[3.0, 1.0], [1.0, 2.0]]), np.array([1.0, -1.0])
W_STAR = np.array([0.6, -0.8])

QUADRATIC_STEPS = 400
QUADRATIC = {
    "SGD": lambda n: optim.SGD(0.1, momentum=0.9),
    "SGD-nesterov": lambda n: optim.SGD(0.1, momentum=0.9, nesterov=True),
    "NAG": lambda n: optim.NAG(0.1, momentum=0.9),
    "SAM": lambda n: optim.SAM(0.1, rho=schedules.linear(0.05, 0.0, n // 2)),
    "MSAM": lambda n: optim.MSAM(0.1, rho=schedules.linear(0.3, 0.0, n // 2)),
    "MSAM-stored": lambda n: optim.MSAM(
        0.1, rho=schedules.linear(0.3, 0.0, n // 2), store_perturbed=True
    ),
    "AdamW": lambda n: optim.AdamW(schedules.cosine(0.1, n), weight_decay=0.0),
    "AdamWMSAM": lambda n: optim.AdamWMSAM(
        schedules.cosine(0.1, n), weight_decay=0.0, rho=schedules.linear(0.05, 0.0, n // 2)
    ),
}

ROSENBROCK_STEPS = 3000
ROSENBROCK = {
    "SGD": lambda n: optim.SGD(1e-3, momentum=0.9),
    "SGD-nesterov": lambda n: optim.SGD(1e-3, momentum=0.9, nesterov=True),
    "NAG": lambda n: optim.NAG(1e-3, momentum=0.9),
    "SAM": lambda n: optim.SAM(1e-3, rho=schedules.linear(0.01, 0.0, n // 2)),
    "MSAM": lambda n: optim.MSAM(1e-3, rho=schedules.linear(0.05, 0.0, n // 2)),
    "AdamW": lambda n: optim.AdamW(schedules.cosine(0.1, n), weight_decay=0.0),
    "AdamWMSAM": lambda n: optim.AdamWMSAM(
        schedules.cosine(0.1, n), weight_decay=0.0, rho=schedules.linear(0.01, 0.0, n // 2)
    ),
}


@pytest.mark.parametrize("name", list(QUADRATIC))
def test_reaches_the_minimum_of_a_convex_quadratic(backend, name):
    params, grad_fn = quadratic_problem(A, B, [2.0, 2.0])
    _, _, trajectory = run(QUADRATIC[name](QUADRATIC_STEPS), params, grad_fn, QUADRATIC_STEPS)
    np.testing.assert_allclose(trajectory[-1]["w"], W_STAR, atol=1e-5)


@pytest.mark.parametrize("name", list(ROSENBROCK))
def test_reaches_the_minimum_of_rosenbrock(backend, name):
    params, grad_fn = rosenbrock_problem(x0=-1.2, y0=1.0)
    opt = ROSENBROCK[name](ROSENBROCK_STEPS)
    _, _, trajectory = run(opt, params, grad_fn, ROSENBROCK_STEPS)
    end = np.array([trajectory[-1]["x"][0], trajectory[-1]["y"][0]])
    np.testing.assert_allclose(end, [1.0, 1.0], atol=1e-3)


@pytest.mark.parametrize("opt_class", [optim.SAM, optim.MSAM])
def test_constant_rho_ends_within_rho_of_the_minimum(backend, opt_class):
    rho = 0.05
    params, grad_fn = quadratic_problem(A, B, [2.0, 2.0])
    _, _, trajectory = run(opt_class(0.1, rho=rho), params, grad_fn, QUADRATIC_STEPS)
    assert np.linalg.norm(trajectory[-1]["w"] - W_STAR) < rho
