"""minimsam's optimizers for PyTorch: ``MSAM``, ``SAM`` and ``AdamWMSAM``.

The same algorithms as ``minimsam.optim`` (docs/optimizers.md), written as
``torch.optim.Optimizer`` subclasses for users who outgrow NumPy; they run under
``DistributedDataParallel`` unchanged. Only this subpackage imports torch;
``import minimsam`` never does.

Norms are global over every parameter of every group; ``lr``, ``momentum``,
``rho`` and ``weight_decay`` may differ per group. MSAM and AdamWMSAM keep the
*perturbed* weights in the parameters between steps: evaluate and export under
``with opt.unperturbed():`` (or read ``opt.eval_params()``). BatchNorm running
statistics are handled the reference way with :mod:`minimsam.torch.batchnorm`.
"""

try:
    import torch  # noqa: F401
    from torch.optim import Optimizer  # noqa: F401  (a real torch, not a stray namespace dir)
except ModuleNotFoundError as err:
    if err.name not in ("torch", "torch.optim"):
        raise  # torch is there but broken: its own error says more
    raise ModuleNotFoundError(
        'minimsam.torch needs PyTorch, which is not installed: pip install "minimsam[torch]"',
        name="torch",
    ) from None

from minimsam.torch._common import EPS, global_norm
from minimsam.torch.adamw_msam import AdamWMSAM
from minimsam.torch.batchnorm import reestimate_running_stats, running_stats_frozen
from minimsam.torch.msam import MSAM
from minimsam.torch.sam import SAM

__all__ = [
    "EPS", "MSAM", "SAM", "AdamWMSAM", "global_norm", "reestimate_running_stats",
    "running_stats_frozen",
]  # fmt: skip
