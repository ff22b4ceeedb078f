"""optax.contrib.sam through the JAX runner: the verdicts docs state (FORMAT.md, "JAX
and optax"), a wrong number of calls per step, and the ``crosscheck jax`` command."""

from __future__ import annotations

import pytest

pytest.importorskip("jax")
pytest.importorskip("optax")
from examples import optax_sam  # noqa: E402
from minimsam import crosscheck  # noqa: E402
from minimsam.crosscheck import cli  # noqa: E402

FIRST_ZERO_GRAD = {"sam-surface-zero-grad": 3, "sam-surface-zero-grad-restore": 0}
ZERO_GRAD = set(FIRST_ZERO_GRAD)  # the cases with a zero gradient, and the first such step


def _verdicts(report):
    return {r.case: (r.verdict, [d.pitfall for d in r.diagnoses]) for r in report.results}


def test_optax_sam_without_state_reset_differs_only_by_the_missing_epsilon(sam_family_cases):
    report = crosscheck.check_jax(sam_family_cases, "sam", optax_sam.make_sam, calls_per_step=2)
    for case, verdict in _verdicts(report).items():
        expected = ("FAIL", ["missing_epsilon"]) if case in ZERO_GRAD else ("pass", [])
        assert verdict == expected, report.format()
    failed = {r.case: r.first_divergence.step for r in report.results if not r.passed}
    assert failed == FIRST_ZERO_GRAD


def test_optax_sam_with_its_default_reset_state_ignores_a_rho_schedule(sam_family_cases):
    names = ["sam-mlp-wd-schedules-restore", "sam-mlp-rho0.05", "sam-surface-zero-grad"]
    report = crosscheck.check_jax(
        sam_family_cases, "sam", optax_sam.make_sam_default, calls_per_step=2, names=names
    )
    verdicts = _verdicts(report)
    assert verdicts["sam-mlp-wd-schedules-restore"] == ("FAIL", ["rho_schedule_ignored"])
    assert verdicts["sam-mlp-rho0.05"] == ("pass", [])
    assert verdicts["sam-surface-zero-grad"] == ("FAIL", ["missing_epsilon"])


def test_one_call_per_step_is_not_driven_and_names_calls_per_step(sam_family_cases):
    report = crosscheck.check_jax(
        sam_family_cases, "sam", optax_sam.make_sam, calls_per_step=1, names=["sam-mlp-rho0.05"]
    )
    (r,) = report.results
    assert r.verdict == "not driven" and r.diagnoses == []
    assert any("--calls-per-step 2" in f for f in r.not_driven.fits)


def test_a_factory_with_other_keywords_is_not_driven(sam_family_cases):
    def make(lr, rho, momentum, weight_decay):  # torch's "lr", not optax's "learning_rate"
        return optax_sam.make_sam(lr, rho, momentum, weight_decay)

    report = crosscheck.check_jax(sam_family_cases, "sam", make, names=["sam-mlp-rho0.05"])
    (r,) = report.results
    assert r.verdict == "not driven" and "learning_rate" in r.not_driven.reason
    assert r.not_driven.found and r.not_driven.found[0].startswith("factory(lr, rho")


def test_jax_command(capsys):
    argv = [
        "jax",
        "--optimizer",
        "msam",
        "--impl",
        "minimsam.jax:msam",
        "--case",
        "msam-mlp-rho0.3",
    ]
    assert cli.main(argv) == 0
    assert "1 of 1 cases pass." in capsys.readouterr().out
