"""The batch-norm golden cases: running statistics along the trajectory, the final
evaluation, the three batch-norm pitfalls caught and named, files that carry them."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from minimsam import crosscheck
from minimsam.crosscheck import cli, mutants
from minimsam.crosscheck.catalogue import build_case
from minimsam.crosscheck.compare import check_case, first_divergence, mutant_trajectory
from minimsam.crosscheck.reference import run_reference

# (case, mutant, pitfall, where the first divergence is)
BN_MUTANTS = [
    ("sam-mlp-batchnorm", "bn-stats-both-passes", "bn_stats_both_passes",
     "step 0, the running statistics after the step"),
    ("sam-mlp-batchnorm", "bn-second-pass-eval", "bn_second_pass_eval",
     "step 0, gradient evaluation 2: the loss"),
    ("msam-mlp-batchnorm-reestimate", "bn-no-reestimation", "bn_no_reestimation",
     "step 5, the evaluation logits after the last step"),
]  # fmt: skip


@pytest.fixture(scope="module")
def bn_cases(cases):
    return {c.name: c for c in cases if c.has_stats}


def _mutant(optimizer: str, name: str) -> mutants.Mutant:
    return next(m for m in mutants.mutants_for(optimizer) if m.name == name)


def test_the_batchnorm_cases_record_statistics_after_every_step(bn_cases):
    assert sorted(c.optimizer for c in bn_cases.values()) == ["msam", "sam", "sgd"]
    for case in bn_cases.values():
        ref = case.reference
        assert set(ref.stats) == set(case.init_stats) == {"1.running_mean", "1.running_var"}
        for name, values in ref.stats.items():
            assert values.shape == (case.steps, *case.init_stats[name].shape)
            assert np.all(np.isfinite(values))
            # the statistics move on every step (a momentum-0.1 average of batch moments)
            steps = np.vstack([case.init_stats[name], values])
            assert np.all(np.abs(np.diff(steps, axis=0)).max(axis=1) > 1e-4), (case.name, name)
        assert ref.eval_logits.shape == (len(case.batches["eval_x"]), case.model["sizes"][-1])
    assert bn_cases["msam-mlp-batchnorm-reestimate"].reestimate_batches > 0


@pytest.mark.parametrize("case_name, mutant_name, pitfall, where", BN_MUTANTS)
def test_each_batchnorm_mutant_is_caught_and_named(bn_cases, case_name, mutant_name, pitfall,
                                                   where):  # fmt: skip
    case = bn_cases[case_name]
    got = mutant_trajectory(case, _mutant(case.optimizer, mutant_name))
    result = check_case(case, got)
    assert result.verdict == "FAIL"
    assert str(result.first_divergence).startswith(where)
    assert [d.pitfall for d in result.diagnoses] == [pitfall]
    assert pitfall in result.summary


def test_stats_in_both_passes_leave_the_gradients_alone(bn_cases):
    """Training mode normalises with batch statistics: only the recorded running
    statistics (and the evaluation) show the second pass's update."""
    case = bn_cases["sam-mlp-batchnorm"]
    got = run_reference(case, bn="both-passes")
    for k in case.init:
        np.testing.assert_array_equal(got.params[k], case.reference.params[k])
    assert not np.allclose(got.stats["1.running_var"], case.reference.stats["1.running_var"])


def test_sam_at_rho_zero_has_the_statistics_of_sgd_unless_both_passes_update(bn_cases):
    """The "SAM with rho = 0 is not SGD" report: the reference SAM equals SGD, statistics
    included; SAM that updates them in both passes does not."""
    sam = bn_cases["sam-mlp-batchnorm"]
    sam = replace(sam, rho=[0.0] * sam.steps, mutants={})
    sgd = replace(sam, optimizer="sgd", rho=None, hyperparameters={**sam.hyperparameters,
                  "nesterov": False})  # fmt: skip
    want, got, both = (run_reference(sgd), run_reference(sam),
                       run_reference(sam, bn="both-passes"))  # fmt: skip
    for k in sam.init:
        np.testing.assert_array_equal(got.params[k], want.params[k])
    for k in sam.init_stats:
        np.testing.assert_array_equal(got.stats[k], want.stats[k])
        assert not np.allclose(both.stats[k], want.stats[k])


def test_batchnorm_mutants_apply_only_to_batchnorm_cases(cases):
    bn = [m for ms in crosscheck.MUTANTS.values() for m in ms if m.needs_stats]
    assert {m.pitfall for m in bn} == {
        "bn_stats_both_passes",
        "bn_second_pass_eval",
        "bn_no_reestimation",
    }
    for case in cases:
        assert all(m.applies_to(case) == case.has_stats for m in bn), case.name
    both = _mutant("sam", "bn-stats-both-passes")
    assert mutants.combine(both, _mutant("sam", "bn-second-pass-eval")) is None
    pair = mutants.combine(both, _mutant("sam", "sign-flipped"))
    assert pair.bn == "both-passes" and pair.cls is _mutant("sam", "sign-flipped").cls


def test_two_bugs_one_of_them_batchnorm_are_named_by_a_pair(bn_cases):
    case = bn_cases["sam-mlp-batchnorm"]
    got = run_reference(case, _mutant("sam", "sign-flipped").cls, bn="both-passes")
    result = check_case(case, got)
    assert sorted(d.pitfall for d in result.diagnoses) == [
        "bn_stats_both_passes",
        "perturbation_sign",
    ]


def test_cases_file_round_trip_keeps_the_statistics_and_old_entries(cases, tmp_path):
    picked = [c for c in cases if c.has_stats or c.name == "sam-mlp-rho0.05"]
    crosscheck.write_cases(picked, tmp_path, with_mutants=True)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    entries = {e["name"]: e for e in manifest["cases"]}
    assert manifest["version"] == 1
    assert "stats" not in entries["sam-mlp-rho0.05"]  # cases without batch norm: unchanged
    assert entries["msam-mlp-batchnorm-reestimate"]["reestimate_batches"] == 3
    assert [s["name"] for s in entries["sam-mlp-batchnorm"]["stats"]] == [
        "1.running_mean",
        "1.running_var",
    ]
    shipped = {(m["optimizer"], m["name"]): m["cases"] for m in manifest["mutants"]}
    assert shipped["sam", "bn-stats-both-passes"] == ["sam-mlp-batchnorm"]
    assert shipped["msam", "bn-no-reestimation"] == ["msam-mlp-batchnorm-reestimate"]
    loaded = {c.name: c for c in crosscheck.load_cases(tmp_path)}
    for case in picked:
        back = loaded[case.name]
        assert back.reestimate_batches == case.reestimate_batches
        for k, v in case.init_stats.items():
            np.testing.assert_array_equal(back.init_stats[k], v)
        for k, v in case.reference.stats.items():
            np.testing.assert_array_equal(back.reference.stats[k], v)
        if case.has_stats:
            np.testing.assert_array_equal(back.reference.eval_logits, case.reference.eval_logits)
            assert first_divergence(back.reference, case.reference, 0.0, 0.0) is None
    msam = loaded["msam-mlp-batchnorm-reestimate"]
    result = check_case(msam, msam.mutants["bn-no-reestimation"])  # read, not re-run
    assert [d.pitfall for d in result.diagnoses] == ["bn_no_reestimation"]


def test_trajectory_file_with_statistics_is_compared_and_diagnosed(bn_cases, golden_dir,
                                                                   tmp_path, capsys):  # fmt: skip
    case = bn_cases["sam-mlp-batchnorm"]
    good, bad = tmp_path / "good.npz", tmp_path / "bad.npz"
    crosscheck.write_trajectories(good, {case.name: case.reference})
    crosscheck.write_trajectories(bad, {case.name: run_reference(case, bn="second-eval")})
    assert crosscheck.check_trajectory_file(golden_dir, good, names=[case.name]).passed
    argv = ["compare", "--cases", str(golden_dir), "--trajectory", str(bad), "--case", case.name]
    assert cli.main(argv) == 1
    out = capsys.readouterr().out
    assert "diagnosis: bn_second_pass_eval" in out


def test_trajectory_file_without_statistics_is_a_one_line_error(bn_cases, golden_dir, tmp_path):
    case = bn_cases["msam-mlp-batchnorm-reestimate"]
    ref = case.reference
    arrays = {f"{case.name}/eval_losses": ref.eval_losses}
    for k in case.init:
        arrays[f"{case.name}/params/{k}"] = ref.params[k]
        arrays[f"{case.name}/eval_points/{k}"] = ref.eval_points[k]
    path = tmp_path / "no_stats.npz"
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match="has batch norm and lacks stats/1.running_mean"):
        crosscheck.check_trajectory_file(golden_dir, path)


def test_bn_modes_are_checked():
    case = build_case(next(s for s in crosscheck.SETTINGS if s.name == "sam-mlp-batchnorm"))
    with pytest.raises(ValueError, match="mode must be one of"):
        run_reference(case, bn="eval")


def test_statistics_rounded_to_float32_match_up_to_precision(bn_cases):
    """Rounding in the statistics and the evaluation is a precision verdict, whose rtol
    accepts the run, not a batch-norm pitfall."""
    case = bn_cases["sam-mlp-batchnorm"]
    ref = case.reference
    got = replace(
        ref,
        stats={k: v.astype(np.float32).astype(float) for k, v in ref.stats.items()},
        eval_logits=ref.eval_logits.astype(np.float32).astype(float),
    )
    result = check_case(case, got)
    assert result.verdict == "precision", result.summary
    assert first_divergence(got, ref, rtol=result.precision.rtol) is None
