"""Refresh the "today" field of tests/exercises/blind/MANIFEST.json from the grader.

Run from the repository root: ``python tests/exercises/record_blind_today.py``. Each
entry's file is graded with ``minimsam exercise check EXERCISE FILE --json`` (the way a
student submits it); "today" becomes the verdict line (the first line of the report),
"today_pitfalls" the ids the grader named and "today_first_divergence" where the numbers
first differ. The hand-written fields are left as they are.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from minimsam.atomic import write_text

MANIFEST = Path(__file__).parent / "blind" / "MANIFEST.json"


def grade(exercise: str, path: Path) -> dict:
    """The grader's JSON line for ``path`` as a solution of ``exercise``."""
    command = [sys.executable, "-m", "minimsam.exercises", "check", exercise, str(path), "--json"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if not done.stdout.strip():
        return {"message": f"ERROR  {done.stderr.strip().splitlines()[-1]}", "pitfalls": []}
    return json.loads(done.stdout.splitlines()[-1])


def _divergence(where: dict | None) -> str | None:
    """``case C, step T: what key[index]: expected E, got G`` (None on a pass)."""
    if not where:
        return None
    entry = f"{where.get('key')}{list(where['index']) if where.get('index') else ''}"
    numbers = f"expected {where.get('expected')}, got {where.get('got')}"
    return f"case {where['case']}, step {where['step']}: {where['what']} {entry}: {numbers}"


def main() -> None:
    entries = json.loads(MANIFEST.read_text())
    for entry in entries:
        line = grade(entry["exercise"], MANIFEST.parent / entry["file"])
        entry["today"] = line["message"].splitlines()[0]
        entry["today_pitfalls"] = line["pitfalls"]
        entry["today_first_divergence"] = _divergence(line.get("first_divergence"))
        print(f"{entry['file']:48s} {entry['today'][:90]}")
    write_text(MANIFEST, json.dumps(entries, indent=1) + "\n")


if __name__ == "__main__":
    main()
