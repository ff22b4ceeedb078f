"""Two public SAM-under-DDP recipes (examples/ddp_public_recipes.py) through the runner.

davda54/sam's README tip means a per-worker ascent and gets the global one (no_sync
around backward only); google-research/sam's train_step (default flags) is the
per-worker ascent, shown on cases rebuilt without weight decay (its decay is an L2 term
in the loss, another placement than the cases')."""

import pytest

pytest.importorskip("torch", minversion="2.1")

from minimsam.crosscheck import parallel_cases as pc  # noqa: E402
from minimsam.crosscheck.parallel_runner import check_parallel  # noqa: E402

RECIPES = "examples.ddp_public_recipes"
NAMES = ("dp-sam-global", "dp-sam-local")


def verdicts(report):
    return {r.case: (r.verdict, {d.pitfall for d in r.diagnoses}) for r in report.results}


def sam_cases(weight_decay=None):
    cases = [c for c in pc.build_parallel_cases(2, ["sam"]) if c.name in NAMES]
    for case in cases if weight_decay is not None else ():
        case.hyperparameters["weight_decay"] = weight_decay
        case.reference, _ = pc.run_parallel_reference(case)
        case.pitfalls = [b.name for b in pc.parallel_bugs(case)]
    return cases


def test_davda54_readme_tip_gets_the_global_ascent():
    report = check_parallel(
        sam_cases(), "sam", "minimsam.torch:SAM", f"{RECIPES}:Davda54ReadmeTip", 2
    )
    assert verdicts(report) == {
        "dp-sam-global": ("pass", set()),
        "dp-sam-local": ("FAIL", {"first_pass_all_reduced", "no_sync_backward_only"}),
    }


def test_google_research_sam_train_step_is_the_per_worker_ascent():
    impl = f"{RECIPES}:sgd_with_sam_groups"
    report = check_parallel(sam_cases(0.0), "sam", impl, f"{RECIPES}:GoogleSamJax", 2)
    assert verdicts(report) == {
        "dp-sam-global": ("FAIL", {"first_pass_not_all_reduced"}),
        "dp-sam-local": ("pass", set()),
    }
