"""The kit's side of diagnosis by equation: each mutant's run is placed at its equation,
the memory-free form is accepted when asked, state the runner cannot see is reported
with its evidence, no advice accepts a listed pitfall, optax state is matched by shape."""

from __future__ import annotations

import copy
import functools

import numpy as np
import pytest

from minimsam import crosscheck
from minimsam.crosscheck import compare, mutants
from minimsam.crosscheck.compare import _accepts_a_pitfall, check_case
from minimsam.crosscheck.localise import localise
from minimsam.crosscheck.reference import run_reference

CONSTANT_RHO = ["msam-mlp-rho0.3", "msam-mlp-wd-rho1", "msam-mlp-lr-schedule-restore"]


def _case(cases, name):
    return next(c for c in cases if c.name == name)


@pytest.mark.parametrize(
    ("optimizer", "mutant", "case", "symbol", "words"),
    [
        ("msam", "sign-flipped", "msam-mlp-rho0.3", "w~_t", "the sign of the v_t term is flipped"),
        ("msam", "per-tensor", "msam-mlp-rho0.3", "w~_t", "normalised tensor by tensor"),
        ("msam", "decay-at-w", "msam-mlp-wd-rho1", "w_{t+1}", "w_t"),
        ("msam", "no-eps", "msam-mlp-rho0.3", "w~_t", "NaN"),
        ("sam", "sign-flipped", "sam-mlp-rho0.05", "w_t + e_t", "flipped"),
        ("nag", "decay-at-w", "nag-mlp-wd-restore", "w_{t+1}", ""),
        ("sgd", "first-momentum", "sgd-mlp-momentum-wd-restore", "w_{t+1}", "(1 + mu)"),
        ("adamw", "decay-last", "adamw-mlp-wd", "w_{t+1}", ""),
    ],
)
def test_each_mutant_is_placed_at_its_equation(cases, optimizer, mutant, case, symbol, words):
    case = _case(cases, case)
    cls = {m.name: m for m in mutants.mutants_for(optimizer)}[mutant].cls
    with np.errstate(all="ignore"):
        location = localise(case, run_reference(case, cls), you=False)
    assert location is not None and location.equation.symbol == symbol, location
    assert words in str(location)
    assert location.step == first_step(case, cls)


def first_step(case, cls):
    with np.errstate(all="ignore"):
        got = run_reference(case, cls)
    return crosscheck.compare.first_divergence(got, case.reference).step


def test_the_reference_is_placed_nowhere(cases):
    for case in cases:
        assert localise(case, case.reference) is None, case.name


@pytest.fixture(scope="module")
def msam_golden(tmp_path_factory):
    return crosscheck.export(tmp_path_factory.mktemp("msam"), optimizers=["msam"]).parent


def test_the_memory_free_form_passes_when_asked_and_is_named_otherwise(msam_golden):
    pytest.importorskip("torch")
    from .torch_optimizers import ClosureMemoryFreeMSAM

    default = crosscheck.check_torch(msam_golden, "msam", ClosureMemoryFreeMSAM, adapter="step",
                                     names=CONSTANT_RHO)  # fmt: skip
    assert {r.verdict for r in default.results} == {"not driven"}
    assert "--form memory-free" in default.format()
    asked = crosscheck.check_torch(msam_golden, "msam", ClosureMemoryFreeMSAM, adapter="step",
                                   names=CONSTANT_RHO, form="memory-free")  # fmt: skip
    assert asked.passed, asked.format()
    buggy = functools.partial(ClosureMemoryFreeMSAM, bug="decay-at-w")
    report = crosscheck.check_torch(msam_golden, "msam", buggy, adapter="step",
                                    names=["msam-mlp-wd-rho1"], form="memory-free")  # fmt: skip
    (result,) = report.results
    assert result.verdict == "FAIL" and "w_t stands where the equation has w~_t" in result.location


def test_state_the_runner_cannot_see_is_not_driven_with_its_evidence(msam_golden):
    pytest.importorskip("torch")
    from .torch_optimizers import ClosureMemoryFreeMSAM

    hidden = functools.partial(ClosureMemoryFreeMSAM, bug="lost-state")
    report = crosscheck.check_torch(msam_golden, "msam", hidden, adapter="step",
                                    names=["msam-mlp-rho0.3"])  # fmt: skip
    (result,) = report.results
    assert result.verdict == "not driven"
    assert "the reference's v_1" in result.not_driven.reason
    assert "outside optimizer.state" in result.not_driven.reason


def test_no_precision_advice_accepts_a_pitfall_listed_for_the_case(cases, monkeypatch):
    case = _case(cases, "sam-surface-zero-grad-restore")  # rtol 1e-4 passes a decay bug here
    assert _accepts_a_pitfall(case, 1e-10, 1e-4) and not _accepts_a_pitfall(case, 1e-10, 1e-8)
    got = copy.deepcopy(case.reference)
    scale = max(float(np.max(np.abs(p))) for p in got.params.values())
    for k in got.params:
        got.params[k] += 1e-8 * scale  # a rounding-sized difference
    advised = check_case(case, got)
    assert advised.verdict == "precision"
    assert not _accepts_a_pitfall(case, 1e-10, advised.precision.rtol)
    monkeypatch.setattr(compare, "_rounded_up", lambda value: 1e-4)  # advice that would
    assert check_case(case, got).verdict == "FAIL"  # pass the decay bug is not given


def test_an_optax_state_of_per_tensor_scalars_is_not_taken_for_a_buffer():
    pytest.importorskip("jax")
    from minimsam.crosscheck.jax_runner import _param_trees

    shapes = {"w": (2, 3), "b": (3,)}
    state = (
        {"w": np.zeros((2, 3)), "b": np.zeros(3)},
        {"w": np.float64(1.0), "b": np.float64(2.0)},
    )
    assert [path for path, _ in _param_trees(state, shapes)] == ["state.0"]


@pytest.mark.parametrize(
    ("name", "symbol"),
    [("sam-mlp-wd-schedules-restore", "e_t"), ("sgd-mlp-momentum-wd-restore", "w_{t+1}"),
     ("adamw-mlp-schedule-restore", "w'_t"), ("adamw-mlp-schedule-restore no decay", "w_{t+1}")],
)  # fmt: skip
def test_schedules_read_at_the_count_of_calls_are_told_and_placed(cases, name, symbol):
    """A run whose lr is lr[2t + 1] and rho rho[2t] (a count that steps twice a step) is
    told as such; it sits first in the perturbation where rho changes, else in AdamW's
    decay w'_t = w_t (1 - lr lam) where lam > 0, else in w_{t+1}."""
    case = _case(cases, name.split()[0])
    if name.endswith("no decay"):
        hp = {**case.hyperparameters, "weight_decay": 0.0}
        case = copy.copy(case)
        case.hyperparameters = hp
    last = case.steps - 1
    recount = copy.copy(case)
    recount.lr = [case.lr[min(2 * t + 1, last)] for t in range(case.steps)]
    recount.rho = case.rho and [case.rho[min(2 * t, last)] for t in range(case.steps)]
    location = localise(case, run_reference(recount), you=False)
    assert location is not None and location.symbol == symbol, location
    assert "at step 2t + 1" in location.finding and "at another count" in location.finding


def test_a_nan_where_the_new_first_moment_is_zero_is_placed_at_its_normalisation(cases):
    """AdamW-MSAM's params NaN after step 0 of a case whose gradient is zero there (m_1 = 0):
    a memory-free form normalising m_1 without EPS; the localiser names the zero norm."""
    case = _case(cases, "adamw-msam-surface-zero-grad")
    got = copy.deepcopy(case.reference)
    for x in got.params.values():
        x[0] = np.nan
    location = localise(case, got, you=False)
    assert location.symbol == "c_t" and "||m_{t+1}|| = 0 here" in location.finding, location


@pytest.mark.parametrize(("form", "symbol"), [("standard", "u_t"), ("memory-free", "c_{t+1}")])
def test_a_normalisation_is_placed_where_the_form_makes_the_point(cases, form, symbol):
    """The memory-free form's point passed to grad_fn is the one the last step returned:
    a wrong norm there sits in that step's c_{t+1}, not in u_t."""
    case = _case(cases, "msam-mlp-rho0.3")
    cls = {m.name: m for m in mutants.mutants_for("msam")}["per-tensor"].cls
    result = check_case(case, run_reference(case, cls), form=form)
    assert not result.passed and result.equation == symbol, result.location


def test_a_decay_factor_with_another_rate_is_told_and_placed_in_the_decay(cases):
    """AdamW run with lr lam in place of lam (optax.adamw given torch's lr * weight_decay):
    w_t's factor 1 - lr lam is 1 - lr^2 lam; said as such, in w'_t = w_t (1 - lr lam)."""
    case = _case(cases, "adamw-mlp-wd")
    twice = copy.copy(case)
    lam = case.hyperparameters["weight_decay"]
    twice.hyperparameters = {**case.hyperparameters, "weight_decay": case.lr[0] * lam}
    location = localise(case, run_reference(twice), you=False)
    assert location is not None and location.symbol == "w'_t", location
    assert "w_t is multiplied by 1 - " in location.finding
    assert "lr lam is multiplied by 0.05 (= lr)" in location.finding, location


def test_sam_params_left_at_the_climbed_point_fail_at_the_update(cases):
    """SAM has no form that keeps a perturbation in the params: params off by e_t after a
    step are a restore that is missing (the update from w_t + e_t), not a driving problem."""
    from minimsam.exercises.catalogue import get
    from minimsam.exercises.runner import run_step_function

    def sam_left_climbed(w, v, grad_fn, lr, momentum, rho, weight_decay):
        g = grad_fn(w)
        norm = np.sqrt(sum(np.sum(x * x) for x in g.values()))
        w = {k: w[k] + rho / (norm + 1e-12) * g[k] for k in w}  # never climbs back
        g = grad_fn(w)
        v_next = {k: momentum * v[k] + g[k] + weight_decay * w[k] for k in w}
        return {k: w[k] - lr * v_next[k] for k in w}, v_next

    case = _case(cases, "sam-mlp-rho0.05")
    got, error = run_step_function(case, get("sam"), sam_left_climbed)
    # the ascent kept in the state, as a torch SAM's state["e"]: the params are off by it
    got.buffers["e"] = {k: x[:, 1] - x[:, 0] for k, x in got.eval_points.items()}
    result = check_case(case, got)
    assert error is None and result.verdict == "FAIL" and result.not_driven is None, result
    assert result.equation == "w_{t+1}", result.location
    assert "w_t + e_t stands where the equation has w_t" in result.location
