"""Refresh the "today" field of tests/crosscheck/blind/MANIFEST.json from the cross-check kit.

Run from the repository root with ``PYTHONPATH=.`` (the implementations are imported as
``tests.crosscheck.blind.<module>``): ``python tests/crosscheck/record_blind_today.py``.
Each entry runs ``minimsam crosscheck torch|jax --optimizer OPT --impl IMPL`` on cases
exported once; "today" becomes the verdict and the first failing case's diagnosis, and
"today_pitfalls" the pitfall ids named over all cases. It takes several minutes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from minimsam.atomic import write_text

MANIFEST = Path(__file__).parent / "blind" / "MANIFEST.json"


def _diagnosis(result: dict) -> str:
    """One line for a failing case: the named pitfall, the not-driven verdict or the nearest."""
    if result["diagnoses"]:
        first = result["diagnoses"][0]
        return f"{first['pitfall']}: {first['explanation']}"
    if result.get("not_driven"):
        return "not driven"
    if result.get("error"):
        return f"error: {str(result['error']).splitlines()[0]}"
    nearest = result.get("nearest")
    return "no known pitfall matches" + (f" (nearest: {nearest})" if nearest else "")


def summarise(report: dict) -> tuple[str, list[str]]:
    """``(today, pitfall ids)`` for a cross-check report as written by ``--json``."""
    results = report["results"]
    passed = sum(r["passed"] for r in results)
    counts = f"{passed}/{len(results)} cases pass"
    failing = [r for r in results if not r["passed"]]
    ids = list(dict.fromkeys(d["pitfall"] for r in results for d in r["diagnoses"]))
    if not failing:
        return f"PASS ({counts})", ids
    verdict = "NOT DRIVEN" if all(r.get("not_driven") for r in failing) else "FAIL"
    first = failing[0]
    return f"{verdict} ({counts}): {first['case']}: {_diagnosis(first)}", ids


def run(entry: dict, cases: Path, out: Path) -> dict:
    """The kit's JSON report for one manifest entry."""
    command = [sys.executable, "-m", "minimsam.crosscheck", entry["framework"]]
    command += ["--cases", str(cases), "--optimizer", entry["optimizer"], "--impl", entry["impl"]]
    if entry.get("calls_per_step"):
        command += ["--calls-per-step", str(entry["calls_per_step"])]
    subprocess.run([*command, "--json", str(out)], capture_output=True, check=False)
    return json.loads(out.read_text())


def main() -> None:
    from minimsam import crosscheck

    entries = json.loads(MANIFEST.read_text())
    with tempfile.TemporaryDirectory() as tmp:
        cases = crosscheck.export(Path(tmp) / "golden").parent
        for entry in entries:
            report = run(entry, cases, Path(tmp) / "report.json")
            entry["today"], entry["today_pitfalls"] = summarise(report)
            print(f"{entry['file']:40s} {entry['today'][:100]}")
    write_text(MANIFEST, json.dumps(entries, indent=1) + "\n")


if __name__ == "__main__":
    main()
