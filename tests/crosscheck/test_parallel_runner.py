"""`crosscheck torch --world-size 2`: minimsam.torch's recipes pass, the pitfalls are named,
a failing worker stops every worker, a port in use is replaced. Two gloo processes each."""

import socket
import time

import pytest

torch = pytest.importorskip("torch", minversion="2.1")
import torch.distributed as dist  # noqa: E402

from minimsam.crosscheck import parallel_cases as pc  # noqa: E402
from minimsam.crosscheck.cli import main as crosscheck_main  # noqa: E402
from minimsam.crosscheck.parallel_runner import WorkerFailed, check_parallel  # noqa: E402

pytestmark = pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()), reason="needs torch.distributed+gloo"
)
RECIPES = "tests.crosscheck.parallel_recipes"


@pytest.fixture(scope="module")
def cases():
    return pc.build_parallel_cases(2)


def verdicts(report):
    return {r.case: (r.verdict, {d.pitfall for d in r.diagnoses}) for r in report.results}


def test_minimsam_sam_with_the_two_step_recipe_passes_every_case(cases):
    report = check_parallel(cases, "sam", "minimsam.torch:SAM", "two-step", world_size=2)
    assert report.passed, report.format()
    assert all(r.max_diff < 1e-13 for r in report.results)


def test_the_command_passes_msam_and_replaces_a_port_in_use(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        argv = ["torch", "--optimizer", "msam", "--impl", "minimsam.torch:MSAM"]
        status = crosscheck_main([*argv, "--world-size", "2", "--port", str(port)])
    out, err = capsys.readouterr()
    assert status == 0, out + err
    assert "2 of 2 cases pass." in out
    assert f"port {port} is in use; using port" in err


def test_no_sync_around_backward_only_and_an_unskipped_overflow_are_named(cases):
    report = check_parallel(
        cases, "sam", "minimsam.torch:SAM", f"{RECIPES}:NoSyncAroundBackwardOnly", world_size=2
    )
    got = verdicts(report)
    assert got["dp-sam-global"] == ("pass", set())
    assert got["dp-sam-local"] == ("FAIL", {"first_pass_all_reduced", "no_sync_backward_only"})
    assert got["dp-sam-loss-scale"] == ("FAIL", {"non_finite_not_skipped"})


def test_a_first_pass_never_all_reduced_is_named(cases):
    names = ["dp-sam-global", "dp-sam-local"]
    report = check_parallel(
        cases, "sam", "minimsam.torch:SAM", f"{RECIPES}:FirstPassNeverSynced", 2, names
    )
    got = verdicts(report)
    assert got["dp-sam-global"] == ("FAIL", {"first_pass_not_all_reduced"})
    assert got["dp-sam-local"] == ("pass", set())


def test_the_scale_in_the_norm_and_a_step_per_micro_batch_are_named(cases):
    names = ["dp-sam-loss-scale", "dp-sam-accumulation"]
    report = check_parallel(
        cases, "sam", "minimsam.torch:SAM", f"{RECIPES}:NormBeforeUnscale", 2, names
    )
    assert verdicts(report)["dp-sam-loss-scale"] == ("FAIL", {"loss_scale_in_norm"})
    assert verdicts(report)["dp-sam-accumulation"] == ("pass", set())
    report = check_parallel(cases, "msam", "minimsam.torch:MSAM", f"{RECIPES}:StepPerMicroBatch", 2)
    assert verdicts(report)["dp-msam-accumulation-loss-scale"][1] == {"step_per_micro_batch"}


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        ("sam_raising_on_worker_1", "worker 1 failed: RuntimeError: simulated failure in worker 1"),
        ("sam_dying_on_worker_0", "worker 0 died"),
    ],
)
def test_a_failing_worker_stops_every_worker_and_is_named(cases, factory, message):
    start = time.monotonic()
    with pytest.raises(WorkerFailed, match=message) as err:
        check_parallel(cases, "sam", f"{RECIPES}:{factory}", "step", 2, timeout=120)
    assert time.monotonic() - start < 120  # it did not wait for the timeout
    assert "every worker was stopped" in str(err.value)
    assert "\n" not in str(err.value)


def test_the_command_reports_a_failing_worker_in_one_line(capsys):
    argv = ["torch", "--optimizer", "sam", "--impl", f"{RECIPES}:sam_raising_on_worker_1"]
    assert crosscheck_main([*argv, "--world-size", "2", "--case", "dp-sam-global"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "worker 1 failed" in err


def test_a_world_size_larger_than_the_batch_is_one_line(capsys):
    argv = ["torch", "--optimizer", "sam", "--impl", "minimsam.torch:SAM", "--world-size", "9"]
    assert crosscheck_main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "larger than the batch of 8" in err


def test_an_unknown_recipe_is_refused_before_any_worker_starts(cases):
    with pytest.raises(ValueError, match="unknown recipe 'move-back-up' for --world-size"):
        check_parallel(cases, "sam", "minimsam.torch:SAM", "move-back-up", 2)


def test_a_hanging_worker_is_stopped_at_the_timeout(cases):
    start = time.monotonic()
    with pytest.raises(WorkerFailed, match="did not finish within 10 s; every worker was stopped"):
        check_parallel(
            cases,
            "sam",
            f"{RECIPES}:sam_hanging_on_worker_0",
            "step",
            2,
            ["dp-sam-global"],
            timeout=10,
        )
    assert time.monotonic() - start < 40
