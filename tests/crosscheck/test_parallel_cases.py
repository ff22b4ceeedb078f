"""The data-parallel golden cases: reference, pitfalls (each caught and named), export."""

import numpy as np
import pytest

from minimsam import optim
from minimsam.crosscheck import load_cases, problems, write_cases
from minimsam.crosscheck import parallel_cases as pc
from minimsam.crosscheck.cli import main as crosscheck_main


@pytest.fixture(scope="module")
def cases():
    return pc.build_parallel_cases(2)


def by_name(cases, name):
    return next(c for c in cases if c.name == name)


def test_every_pitfall_is_shown_by_some_case(cases):
    shown = {p for c in cases for p in c.pitfalls}
    assert shown == set(pc.PARALLEL_PITFALLS)


@pytest.mark.parametrize("pitfall", sorted(pc.PARALLEL_PITFALLS))
def test_each_pitfall_is_caught_and_named(cases, pitfall):
    """The mutant's own trajectory FAILs every case that shows it, and is named."""
    for case in (c for c in cases if pitfall in c.pitfalls):
        bug = next(b for b in pc.parallel_bugs(case) if b.name == pitfall)
        got, _ = pc.run_parallel_reference(case, bug)
        result = pc.check_parallel_case(case, got)
        assert result.verdict == "FAIL"
        assert pitfall in {d.pitfall for d in result.diagnoses}, case.name


def test_the_two_causes_of_an_all_reduced_first_pass_are_named_together(cases):
    case = by_name(cases, "dp-sam-local")
    got, _ = pc.run_parallel_reference(case, pc.ParallelBug(ascent="global"))
    named = {d.pitfall for d in pc.check_parallel_case(case, got).diagnoses}
    assert named == {"first_pass_all_reduced", "no_sync_backward_only"}


def test_the_references_pass_their_own_check(cases):
    for case in cases:
        assert pc.check_parallel_case(case, case.reference).verdict == "pass"


def test_global_sam_case_equals_one_process_sam_on_the_whole_batch(cases):
    case = by_name(cases, "dp-sam-global")
    opt = optim.SAM(lr=0.1, momentum=0.9, rho=0.2, weight_decay=1e-2)
    params = dict(case.init)
    state = opt.init(params)
    for t in range(case.steps):
        params, state, _ = opt.step(params, state, problems.grad_fn(case.model, case.batches, t))
        for k in params:
            np.testing.assert_allclose(case.reference.params[k][t], params[k], atol=1e-14)


def test_the_loss_scale_case_skips_its_overflow_step_and_backs_off(cases):
    case = by_name(cases, "dp-sam-loss-scale")
    before, after = case.reference.params["0.weight"][1], case.reference.params["0.weight"][2]
    assert np.array_equal(before, after)  # step 2 was skipped
    assert case.batches["loss_scale"].tolist() == [1024.0] * 3 + [512.0] * 3


def test_the_local_and_global_trajectories_differ_from_step_0(cases):
    local, glob = by_name(cases, "dp-sam-local"), by_name(cases, "dp-sam-global")
    assert not np.allclose(local.reference.params["0.weight"], glob.reference.params["0.weight"])


@pytest.mark.parametrize(
    ("world_size", "message"),
    [(16, "larger than the batch of 8"), (3, "into equal sub-batches"), (0, "at least 1")],
)
def test_bad_world_sizes_are_one_line_errors(world_size, message):
    with pytest.raises(ValueError, match=message) as err:
        pc.validate_world_size(world_size)
    assert "\n" not in str(err.value)


def test_export_writes_cases_that_read_back(tmp_path, cases):
    write_cases(cases, tmp_path)
    again = load_cases(tmp_path)
    assert [c.name for c in again] == [c.name for c in cases]
    for a, b in zip(again, cases):
        assert pc.is_parallel(a) and a.pitfalls == b.pitfalls
        assert pc.check_parallel_case(a, b.reference).verdict == "pass"


def test_export_command_with_world_size(tmp_path, capsys):
    assert crosscheck_main(["export", "--out", str(tmp_path), "--world-size", "4"]) == 0
    assert "6 data-parallel cases for 4 workers" in capsys.readouterr().out
    assert {c.model["parallel"]["workers"] for c in load_cases(tmp_path)} == {4}


def test_export_command_refuses_a_world_size_that_does_not_split(tmp_path, capsys):
    assert crosscheck_main(["export", "--out", str(tmp_path), "--world-size", "3"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "world size 3" in err
