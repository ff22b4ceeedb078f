"""Regenerate the CPU section of the benchmarks page (docs/benchmarks.md) in one command.

Runs ``bench_optim.py`` (optimizer step vs the hand-written floor, with the targets)
and ``bench_epoch.py`` (Fashion-MNIST epoch vs torch CPU, peak memory), keeps their full
output in ``benchmarks/results/cpu_bench_optim.md`` and ``cpu_bench_epoch.md``, and
rewrites the part of docs/benchmarks.md between ``<!-- benchmarks:start -->`` and
``<!-- benchmarks:end -->`` from them (atomically).

Run: ``OPENBLAS_NUM_THREADS=1 python benchmarks/bench_readme.py [--note "quiet machine"]
[--clock cpu]``;
``--no-run`` rebuilds the section from the saved results without measuring again.
"""

from __future__ import annotations

import argparse
import contextlib
import io
from pathlib import Path

from minimsam.atomic import write_text

try:
    from benchmarks import bench_epoch, bench_optim
except ImportError:  # run as a script from the benchmarks/ folder
    import bench_epoch
    import bench_optim

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
PAGE = ROOT / "docs" / "benchmarks.md"  #: the site's benchmarks page
START, END = "<!-- benchmarks:start -->", "<!-- benchmarks:end -->"


def _captured(main, argv: list[str]) -> str:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        main(argv)
    return buffer.getvalue()


def _body(text: str) -> tuple[str, str]:
    """(the 'Machine: ...' line, the markdown after it) of a benchmark's output."""
    head, _, rest = text.partition("Machine: ")
    machine, _, body = rest.partition("\n")
    return machine.strip(), body.strip()


def section(optim_out: str, epoch_out: str, note: str) -> str:
    machine, optim_md = _body(optim_out)
    _, epoch_md = _body(epoch_out)
    return f"""Measured on {machine}, one BLAS thread (`OPENBLAS_NUM_THREADS=1`), contenders
interleaved in one process, medians; {note}. Regenerate with
`OPENBLAS_NUM_THREADS=1 python benchmarks/bench_readme.py` (full output in
`benchmarks/results/cpu_bench_*.md`).

**Optimizer step** (`python benchmarks/bench_optim.py`): a full pure `opt.step`
(gradient evaluations included, finite check on, as by default) on the MLP
784-256-256-10 in float32. The *floor* is a hand-written NumPy forward/backward with an
in-place SGD-momentum update; "× SGD" and "× floor" are ratios of medians from the
same run. The two "forward+backward alone" rows time the pass without any update (the
floor's hand-written one, and minimsam's `grad_fn`); the table after the step table splits
SGD's step and the floor into that pass and the rest. In the update-alone table, the
"by hand into new arrays" rows are a control: the same equations written by hand into
new arrays, as a pure step must return them, with no checks.

{optim_md}

**A Fashion-MNIST epoch against torch** (`python benchmarks/bench_epoch.py`): the same
MLP on the full training set, batch 128, with minimsam's `opt.step` and with
`torch.nn` + `torch.optim.SGD` / `minimsam.torch.MSAM` / `SAM` on one thread, same
initial weights and batches. Peak memory is what `tracemalloc` saw allocated while
training (parameters, state, activations, gradients, temporaries).

{epoch_md}
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--note", default="the machine was otherwise quiet",
                        help="how loaded the machine was, as a phrase")  # fmt: skip
    parser.add_argument("--no-run", action="store_true", help="reuse benchmarks/results")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="the benchmarks' clock: cpu on a shared machine")  # fmt: skip
    args = parser.parse_args(argv)
    optim_file, epoch_file = RESULTS / "cpu_bench_optim.md", RESULTS / "cpu_bench_epoch.md"
    if not args.no_run:
        write_text(optim_file, _captured(bench_optim.main, ["--clock", args.clock]))
        write_text(epoch_file, _captured(bench_epoch.main, ["--clock", args.clock]))
    text = section(optim_file.read_text(), epoch_file.read_text(), args.note)
    old = PAGE.read_text()
    before, _, rest = old.partition(START)
    _, _, after = rest.partition(END)
    if not rest:
        raise SystemExit(f"{PAGE} has no {START} marker")
    write_text(PAGE, f"{before}{START}\n{text}{END}{after}")
    print(text)


if __name__ == "__main__":
    main()
