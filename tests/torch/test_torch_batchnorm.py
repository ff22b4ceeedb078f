"""minimsam.torch with BatchNorm: SAM's second pass does not track the running statistics,
MSAM's statistics are re-estimated at the unperturbed weights; both agree with
minimsam's NumPy reference (nn.batch_grad_fn, nn.reestimate_stats)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from minimsam import nn, optim  # noqa: E402
from minimsam.torch import MSAM, SAM, reestimate_running_stats, running_stats_frozen  # noqa: E402

SIZES = [4, 6, 3]


def _batches(n=4, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((8, 4)) * 2 + 1, rng.integers(0, 3, 8)) for _ in range(n)]


def _models():
    """The same MLP 4-6(BN)-3 in minimsam (float64) and torch, with equal weights."""
    ours = nn.MLP(SIZES, batchnorm=True)
    params = ours.init(seed=0, dtype="float64")
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.BatchNorm1d(6),
                                 torch.nn.ReLU(), torch.nn.Linear(6, 3)).double()  # fmt: skip
    with torch.no_grad():
        for k, p in theirs.named_parameters():
            value = torch.from_numpy(params[k].copy())
            p.copy_(value.T if k.endswith("weight") and p.ndim == 2 else value)
    return ours, params, theirs


def _torch_tree(model):
    out = {}
    for k, v in model.state_dict().items():
        value = v.detach().numpy().copy()  # a copy: state_dict shares the storage
        out[k] = value.T if k.endswith("weight") and value.ndim == 2 else value
    return out


def _closure(opt, model, x, y):
    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y))
        loss.backward()
        return loss

    return closure


def _run_torch(opt_cls, model, batches, freeze=True, **kw):
    opt = opt_cls(model.parameters(), **kw)
    model.train()
    for x, y in batches:
        if opt_cls is SAM:
            opt.step(_closure(opt, model, x, y), freeze_bn=model if freeze else None)
        else:
            opt.step(_closure(opt, model, x, y))
    return opt


def test_sam_with_rho_zero_and_frozen_second_pass_equals_sgd_bit_for_bit():
    batches = _batches()
    _, _, sam_model = _models()
    _, _, sgd_model = _models()
    _, _, both_model = _models()
    _run_torch(SAM, sam_model, batches, lr=0.1, momentum=0.9, rho=0.0)
    _run_torch(torch.optim.SGD, sgd_model, batches, lr=0.1, momentum=0.9)
    _run_torch(SAM, both_model, batches, freeze=False, lr=0.1, momentum=0.9, rho=0.0)
    sam, sgd, both = (m.state_dict() for m in (sam_model, sgd_model, both_model))
    for k in sgd:
        assert torch.equal(sam[k], sgd[k]), k
    assert not torch.equal(both["1.running_var"], sgd["1.running_var"])  # the pitfall
    assert int(both["1.num_batches_tracked"]) == 2 * int(sgd["1.num_batches_tracked"])


def test_torch_sam_matches_the_numpy_reference_params_and_statistics():
    batches = _batches()
    ours, params, theirs = _models()
    _run_torch(SAM, theirs, batches, lr=0.1, momentum=0.9, rho=0.2)
    opt, stats = optim.SAM(0.1, momentum=0.9, rho=0.2), ours.init_stats(dtype="float64")
    state = opt.init(params)
    for x, y in batches:
        grad_fn = nn.batch_grad_fn(ours, stats, x, y)
        params, state, _ = opt.step(params, state, grad_fn)
        stats = grad_fn.new_stats
    got = _torch_tree(theirs)
    for k, v in {**params, **stats}.items():
        np.testing.assert_allclose(got[k], v, rtol=1e-9, atol=1e-12, err_msg=k)


def test_msam_reestimation_at_the_unperturbed_weights_matches_the_numpy_reference():
    batches = _batches(6)
    ours, params, theirs = _models()
    opt_t = _run_torch(MSAM, theirs, batches[:4], lr=0.1, momentum=0.9, rho=0.5)
    before = theirs.state_dict()["1.running_mean"].clone()
    with opt_t.unperturbed():
        inputs = [torch.from_numpy(x) for x, _ in batches[4:]]
        assert reestimate_running_stats(theirs, inputs) == 2
        got = _torch_tree(theirs)
    assert not torch.equal(before, theirs.state_dict()["1.running_mean"])
    opt, stats = optim.MSAM(0.1, momentum=0.9, rho=0.5), ours.init_stats(dtype="float64")
    state = opt.init(params)
    for x, y in batches[:4]:
        grad_fn = nn.batch_grad_fn(ours, stats, x, y)
        params, state, _ = opt.step(params, state, grad_fn)
        stats = grad_fn.new_stats
    stats = nn.reestimate_stats(ours, opt.eval_params(params, state), stats, batches[4:])
    for k, v in {**opt.eval_params(params, state), **stats}.items():
        np.testing.assert_allclose(got[k], v, rtol=1e-9, atol=1e-12, err_msg=k)


def test_frozen_context_restores_tracking_and_keeps_the_statistics():
    _, _, model = _models()
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with running_stats_frozen(model):
        model(torch.randn(8, 4, dtype=torch.float64))
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert model[1].track_running_stats
    with pytest.raises(ValueError, match="needs a model with BatchNorm"):
        reestimate_running_stats(torch.nn.Linear(2, 2), [torch.zeros(1, 2)])
