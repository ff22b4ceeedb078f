"""minimsam.torch under DistributedDataParallel: 2 CPU processes (gloo) = 1 process, 2x batch.

Each process sees half of every batch; DDP averages the gradients in backward, so
every optimizer step sees the gradient of the whole batch (for SAM: both passes, so
the ascent step comes from the global-batch gradient). The final weights must match
a single process that trains on the combined batch.
"""

import pytest

torch = pytest.importorskip("torch", minversion="2.1")
import torch.distributed as dist  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402
from torch.nn.parallel import DistributedDataParallel  # noqa: E402

from minimsam.torch import MSAM, SAM, AdamWMSAM  # noqa: E402

WORLD = 2
BATCH = 8
STEPS = 4
OPTIMIZERS = {
    "MSAM": lambda ps: MSAM(ps, lr=0.1, momentum=0.9, rho=0.3, weight_decay=1e-2),
    "SAM": lambda ps: SAM(ps, lr=0.1, momentum=0.9, rho=0.1, weight_decay=1e-2),
    "AdamWMSAM": lambda ps: AdamWMSAM(ps, lr=1e-2, weight_decay=0.1, rho=0.5),
}
pytestmark = pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()), reason="needs torch.distributed+gloo"
)


def make_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)
    ).double()


def make_data():
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(STEPS, BATCH, 3, generator=generator, dtype=torch.float64)
    y = torch.randn(STEPS, BATCH, 2, generator=generator, dtype=torch.float64)
    return x, y


def train(name, model, params, x, y):
    """STEPS steps of optimizer ``name``; returns the unperturbed final weights."""
    opt = OPTIMIZERS[name](params)
    for t in range(STEPS):
        # a rho schedule, synced into the perturbation before the forward pass
        for group in opt.param_groups:
            group["rho"] = group["rho"] * 1.1

        def closure(t=t):
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x[t]), y[t])
            loss.backward()
            return loss

        opt.step(closure)
    with opt.unperturbed():
        return [p.detach().clone() for p in params]


def worker(rank, init_file, out_dir):
    torch.set_num_threads(1)  # two processes on a 2-core runner
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD)
    try:
        x, y = make_data()
        half = slice(rank * BATCH // WORLD, (rank + 1) * BATCH // WORLD)
        results = {}
        for name in OPTIMIZERS:
            module = make_model()
            model = DistributedDataParallel(module)
            results[name] = train(name, model, list(module.parameters()), x[:, half], y[:, half])
        torch.save(results, f"{out_dir}/rank{rank}.pt")
        dist.barrier()  # no rank tears gloo down while the other still talks to it
    finally:
        dist.destroy_process_group()


def test_two_gloo_processes_match_one_process_on_the_combined_batch(tmp_path):
    mp.spawn(worker, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=WORLD, join=True)
    x, y = make_data()
    for name in OPTIMIZERS:
        module = make_model()
        expected = train(name, module, list(module.parameters()), x, y)
        initial = list(make_model().parameters())
        for rank in range(WORLD):
            got = torch.load(tmp_path / f"rank{rank}.pt")[name]
            for a, b, w0 in zip(got, expected, initial, strict=True):
                assert not torch.equal(b, w0.detach())  # training moved the weights
                torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
