"""Run the data-parallel golden cases through a PyTorch optimizer in N gloo processes.

``check_parallel(cases, "sam", "minimsam.torch:SAM", world_size=2)`` starts
``world_size`` local processes (``torch.multiprocessing``, spawn; gloo on CPU, a TCP
rendezvous on a free port of 127.0.0.1). Each worker rebuilds every case's model in
float64, wraps it in ``DistributedDataParallel``, builds the optimizer as the
one-process runner does, and drives it with a recipe
(:mod:`minimsam.crosscheck.parallel_adapters`) on its own shards of every batch::

    for t in range(T):
        recipe.set_hyperparameters(lr=lr[t], rho=rho[t]); recipe.loss_scale = s_t
        recipe.step()                    # each forward(j) is a recorded evaluation
        record recipe.unperturbed()

The parent gathers the workers' records into one trajectory (evaluations in the order
of :mod:`minimsam.crosscheck.parallel_cases`, the params of worker 0, after checking
that every worker holds the same) and diagnoses it with the data-parallel pitfalls.

If a worker raises or dies, every worker is stopped and :class:`WorkerFailed` says which
one and why; past ``timeout`` seconds the same happens. A ``port`` in use is replaced by
a free one (a note says so).
"""

from __future__ import annotations

import os
import socket
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import numpy as np

from minimsam.crosscheck.case import Case, Recorder, Trajectory
from minimsam.crosscheck.compare import ATOL, RTOL, Report
from minimsam.crosscheck.fileformat import load_cases, select_cases, write_cases
from minimsam.crosscheck.parallel_cases import check_parallel_case, interleaved, is_parallel

__all__ = ["WorkerFailed", "check_parallel", "free_port"]


class WorkerFailed(RuntimeError):
    """A worker process raised, died or ran out of time; every worker was stopped."""


def free_port() -> int:
    """A TCP port of 127.0.0.1 that is free now (the OS picks it: bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def choose_port(port: int = 0) -> tuple[int, str | None]:
    """``(port, note)``: ``port`` if free, else a free one and a note saying so."""
    if port == 0:
        return free_port(), None
    if _port_free(port):
        return port, None
    chosen = free_port()
    return chosen, f"port {port} is in use; using port {chosen} instead"


# ----------------------------------------------------------------------------- the worker


class _WorkerRun:
    """One case on one worker: the DDP model, the optimizer, the recipe, the records."""

    def __init__(self, case: Case, impl, recipe_spec, rank: int, world_size: int):
        import torch
        from torch.nn.parallel import DistributedDataParallel

        from minimsam.crosscheck.parallel_cases import shard_batches
        from minimsam.crosscheck.torch_runner import build_model, constructor_kwargs

        spec = case.model["parallel"]
        self.case, self.k = case, spec["micro_batches"]
        module, self.named, _ = build_model(case)
        self.ddp = DistributedDataParallel(module)
        shards = shard_batches(case)[rank * self.k : (rank + 1) * self.k]
        self.x = [torch.as_tensor(s["x"]) for s in shards]
        self.y = [torch.as_tensor(s["y"]) for s in shards]
        self.first_shard = rank * self.k
        self.optimizer = impl(list(self.named.values()), **constructor_kwargs(case))
        self.recipe = _recipe_class(recipe_spec, self.optimizer)(
            self.optimizer, list(self.named.values())
        )
        self.recipe.model, self.recipe.micro_batches = self.ddp, self.k
        self.recipe.sam_ascent, self.recipe.forward = spec["sam_ascent"], self.forward
        self.steps: list[dict] = []

    def forward(self, j: int):
        """Step ``t``'s loss on micro-batch ``j``, times ``s_t / k`` (NaN on an overflow)."""
        import torch

        from minimsam.crosscheck.torch_runner import case_layout

        t, calls = len(self.steps) - 1, self.calls
        pass_ = calls.count(j)
        calls.append(j)
        point = {k: case_layout(k, p) for k, p in self.named.items()}
        loss = torch.nn.functional.cross_entropy(
            self.ddp(self.x[j][t]), self.y[j][t], label_smoothing=self.case.model["label_smoothing"]
        )
        self.steps[-1]["evals"].append((point, float(loss.detach())))
        factor = self.recipe.loss_scale / self.k
        flags = self.case.batches.get("overflow")
        if flags is not None and pass_ < flags.shape[1] and flags[t, pass_, self.first_shard + j]:
            factor = float("nan")  # this backward pass overflows
        return loss * factor

    def run(self) -> list[dict]:
        from minimsam.crosscheck.torch_runner import case_layout

        case = self.case
        scales = case.batches.get("loss_scale")
        for t in range(case.steps):
            self.steps.append({"evals": []})
            self.calls: list[int] = []
            self.recipe.set_hyperparameters(**case.hyperparameters_at(t))
            self.recipe.loss_scale = 1.0 if scales is None else float(scales[t])
            self.recipe.step()
            weights = self.recipe.unperturbed()
            self.steps[-1]["params"] = {k: case_layout(k, w) for k, w in zip(self.named, weights)}
        return self.steps


def _recipe_class(spec, optimizer):
    from minimsam.crosscheck.loading import named_class
    from minimsam.crosscheck.parallel_adapters import RECIPES, ParallelRecipe, auto_recipe

    return named_class(spec, ParallelRecipe, RECIPES, auto_recipe, optimizer, "recipe")


def _worker(rank, world_size, port, cases_dir, names, impl_spec, recipe_spec, out_dir, cwd):
    """One process: every case, then its records to ``out_dir/rank{rank}.pt``."""
    import torch
    import torch.distributed as dist

    from minimsam.crosscheck.loading import load_object

    if cwd not in sys.path:  # --impl may name a module of the project being checked
        sys.path.insert(0, cwd)
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=world_size,
        timeout=timedelta(seconds=120),
    )
    try:
        impl = load_object(impl_spec)
        records = {}
        for case in load_cases(cases_dir, names=names):
            records[case.name] = _WorkerRun(case, impl, recipe_spec, rank, world_size).run()
        torch.save(records, Path(out_dir) / f"rank{rank}.pt")
        dist.barrier()  # no worker tears gloo down while another still talks to it
    finally:
        dist.destroy_process_group()


# ----------------------------------------------------------------------------- the parent


def _failure(err: BaseException) -> str:
    """``worker R failed: Type: message (file:line)`` from a spawn exception."""
    rank = getattr(err, "error_index", "?")
    text = str(err)
    if hasattr(err, "exit_code"):
        return f"worker {rank} died ({text.strip().splitlines()[-1]})"
    lines = [line for line in text.strip().splitlines() if line.strip()]
    where = next((line.strip() for line in reversed(lines) if line.strip().startswith("File ")), "")
    return f"worker {rank} failed: {lines[-1].strip()}" + (f" ({where})" if where else "")


def _launch(world_size, port, args, timeout) -> None:
    import torch.multiprocessing as mp

    context = mp.start_processes(
        _worker, args=(world_size, port, *args), nprocs=world_size, join=False
    )
    deadline = time.monotonic() + timeout
    try:
        while not context.join(timeout=0.2):
            if time.monotonic() > deadline:
                raise WorkerFailed(
                    f"the workers did not finish within {timeout:g} s; every worker was stopped"
                )
    except WorkerFailed:
        raise
    except Exception as err:  # spawn's ProcessRaisedException / ProcessExitedException
        raise WorkerFailed(f"{_failure(err)}; every worker was stopped") from None
    finally:
        for process in context.processes:
            if process.is_alive():
                process.terminate()
        for process in context.processes:
            process.join(5)
            if process.is_alive():
                process.kill()


def _launch_on_a_free_port(world_size, port, args, timeout, notes) -> None:
    """:func:`_launch`; if the port is taken before the rendezvous binds it, once more on
    another free port."""
    chosen, note = choose_port(port)
    for attempt in range(2):
        if note and notes is not None:
            notes.append(note)
        try:
            return _launch(world_size, chosen, args, timeout)
        except WorkerFailed as err:
            if attempt or "address already in use" not in str(err).lower():
                raise
            chosen, note = free_port(), f"port {chosen} was taken; retried on another"


def _gather(case: Case, per_rank: list[list[dict]]) -> tuple[Trajectory, str | None]:
    """One trajectory: the i-th evaluation of each worker, worker by worker; the params of
    worker 0 (an error if another worker's differ)."""
    names = list(case.init)
    recorder, error = Recorder(names), None
    for t in range(case.steps):
        recorder.start_step()
        for point, loss in interleaved([steps[t]["evals"] for steps in per_rank]):
            recorder.evaluation(point, loss, {k: np.full_like(v, np.nan) for k, v in point.items()})
        params = per_rank[0][t]["params"]
        for r, steps in enumerate(per_rank[1:], start=1):
            other = steps[t]["params"]
            same = all(np.array_equal(params[k], other[k], equal_nan=True) for k in names)
            if error is None and not same:  # replicas must stay identical, bit for bit
                gap = max(float(np.nanmax(np.abs(params[k] - other[k]))) for k in names)
                error = f"worker {r}'s params differ from worker 0's after step {t} (by {gap:.1e})"
        recorder.end_step(params)
    return recorder.trajectory(), error


def check_parallel(
    cases,
    optimizer: str,
    impl,
    adapter="auto",
    world_size: int = 2,
    names: list[str] | None = None,
    atol: float = ATOL,
    rtol: float = RTOL,
    timeout: float = 300.0,
    port: int = 0,
    notes: list[str] | None = None,
) -> Report:
    """Check the torch optimizer ``impl`` (``"module:Name"``) on the data-parallel cases of
    ``optimizer`` in ``world_size`` gloo processes; a :class:`Report`.

    ``cases``: a folder written by ``crosscheck export --world-size N`` or a list of
    cases built for ``world_size`` workers. ``notes`` collects remarks (a port replaced).
    """
    import torch  # noqa: F401  (fail early, in the caller, if torch is missing)

    from minimsam.crosscheck.parallel_adapters import RECIPES

    if not isinstance(impl, str) or not isinstance(adapter, str):
        raise ValueError("the data-parallel runner takes impl and adapter as 'module:Name'")
    if adapter != "auto" and adapter not in RECIPES and ":" not in adapter:
        raise ValueError(
            f"unknown recipe {adapter!r} for --world-size; use auto, {', '.join(RECIPES)} "
            "or module:Class (a subclass of minimsam.crosscheck.parallel_adapters.ParallelRecipe)"
        )
    with tempfile.TemporaryDirectory() as tmp:
        cases = _usable(select_cases(cases, optimizer, names), optimizer, world_size)
        cases_dir = Path(tmp) / "cases"
        write_cases(cases, cases_dir)
        out_dir = Path(tmp) / "out"
        out_dir.mkdir()
        args = (str(cases_dir), [c.name for c in cases], impl, adapter, str(out_dir), os.getcwd())
        _launch_on_a_free_port(world_size, port, args, timeout, notes)
        import torch

        ranks = [torch.load(out_dir / f"rank{r}.pt", weights_only=False) for r in range(world_size)]
    results = []
    for case in cases:
        got, error = _gather(case, [ranks[r][case.name] for r in range(world_size)])
        results.append(check_parallel_case(case, got, atol, rtol, error))
    return Report(optimizer, impl, f"{adapter} (world size {world_size}, gloo)", results)


def _usable(cases: list[Case], optimizer: str, world_size: int) -> list[Case]:
    if not cases:
        raise ValueError(f"no data-parallel {optimizer!r} cases to check")
    single = [c.name for c in cases if not is_parallel(c)]
    if single:
        raise ValueError(
            f"{single[0]} is a one-process case; export the data-parallel ones with "
            "'crosscheck export --world-size N'"
        )
    built = {c.model["parallel"]["workers"] for c in cases}
    if built != {world_size}:
        raise ValueError(
            f"the cases were built for {sorted(built)[0]} workers, not --world-size "
            f"{world_size}; export them again with --world-size {world_size}"
        )
    return cases


# ----------------------------------------------------------------------------- the commands


def export_command(args) -> int:
    """``crosscheck export --world-size N --out DIR``: the data-parallel cases."""
    from minimsam.crosscheck.parallel_cases import build_parallel_cases

    cases = build_parallel_cases(args.world_size, args.optimizer)
    manifest = write_cases(cases, args.out)
    print(f"wrote {len(cases)} data-parallel cases for {args.world_size} workers to {args.out}")
    return 0 if manifest.exists() else 1


def torch_command(args, finish) -> int:
    """``crosscheck torch --world-size N``: export (unless ``--cases``), run, report."""
    from minimsam.crosscheck.parallel_cases import build_parallel_cases, validate_world_size

    validate_world_size(args.world_size)
    notes: list[str] = []
    cases = args.cases or build_parallel_cases(args.world_size, [args.optimizer])
    try:
        report = check_parallel(
            cases,
            args.optimizer,
            args.impl,
            args.adapter,
            world_size=args.world_size,
            names=args.case,
            atol=args.atol,
            rtol=args.rtol,
            timeout=args.timeout,
            port=args.port,
            notes=notes,
        )
    except WorkerFailed as err:
        print(f"minimsam crosscheck: error: {err}", file=sys.stderr)
        return 1
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    return finish(report, args)
