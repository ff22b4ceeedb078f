"""minimsam.torch: import isolation, hyperparameter validation and the global norm."""

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


def run_python(code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )


def test_import_minimsam_does_not_import_torch():
    result = run_python("import sys, minimsam; print('torch' in sys.modules)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_missing_torch_gives_an_install_hint():
    code = (
        "import sys; sys.modules['torch'] = None\n"  # makes `import torch` fail
        "try:\n    import minimsam.torch\n"
        "except ImportError as err:\n    print(err)\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert 'pip install "minimsam[torch]"' in result.stdout


def optimizers():
    torch = pytest.importorskip("torch", minversion="2.1")
    from minimsam.torch import MSAM, SAM, AdamWMSAM

    return torch, {"MSAM": MSAM, "SAM": SAM, "AdamWMSAM": AdamWMSAM}


BAD = [
    ("lr", -0.1),
    ("lr", math.inf),
    ("lr", math.nan),
    ("rho", -0.05),
    ("rho", math.inf),
    ("weight_decay", -1e-4),
    ("weight_decay", math.nan),
    ("momentum", -0.1),
    ("momentum", 1.0),
    ("betas", (0.9, 1.0)),
    ("betas", (-0.1, 0.999)),
    ("betas", 0.9),
    ("eps", -1e-8),
]
TAKES = {
    "MSAM": {"lr", "rho", "weight_decay", "momentum"},
    "SAM": {"lr", "rho", "weight_decay", "momentum"},
    "AdamWMSAM": {"lr", "rho", "weight_decay", "betas", "eps"},
}


CASES = [(name, k, v) for name in TAKES for k, v in BAD if k in TAKES[name]]


@pytest.mark.parametrize("name, key, value", CASES, ids=[f"{n}-{k}={v}" for n, k, v in CASES])
def test_invalid_hyperparameters_raise_value_error_naming_them(name, key, value):
    torch, classes = optimizers()
    p = torch.zeros(2, requires_grad=True)
    kwargs = {"lr": 0.1, key: value}
    with pytest.raises(ValueError, match=key):
        classes[name]([p], **kwargs)
    with pytest.raises(ValueError, match=key):  # a group-level override is checked too
        classes[name]([{"params": [p], key: value}], lr=0.1)


@pytest.mark.parametrize("name", ["MSAM", "SAM", "AdamWMSAM"])
def test_a_schedule_writing_a_bad_rho_is_caught_at_the_next_step(name):
    torch, classes = optimizers()
    p = torch.ones(2, requires_grad=True)
    opt = classes[name]([p], lr=0.1)
    opt.param_groups[0]["rho"] = -1.0
    p.grad = torch.ones(2)
    with pytest.raises(ValueError, match="rho"):
        opt.step(lambda: (p**2).sum()) if name == "SAM" else opt.step()


def test_global_norm_spans_tensors_and_dtypes():
    torch, _ = optimizers()
    from minimsam.torch import global_norm

    rng = np.random.default_rng(0)
    arrays = [rng.normal(size=(3, 4)), rng.normal(size=5), rng.normal(size=())]
    expected = np.sqrt(sum(np.sum(a**2) for a in arrays))
    tensors = [torch.tensor(arrays[0]), torch.tensor(arrays[1]), torch.tensor(arrays[2])]
    assert global_norm(tensors) == pytest.approx(expected, rel=1e-15)
    mixed = [tensors[0], tensors[1].float(), tensors[2]]
    assert global_norm(mixed) == pytest.approx(expected, rel=1e-6)
    assert global_norm([]) == 0.0
