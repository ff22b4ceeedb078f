"""Optimizers: SGD, NAG, SAM, Momentum-SAM (MSAM), AdamW and AdamW-MSAM.

All share one pure interface (see :mod:`minimsam.optim.base`)::

    from minimsam import optim
    opt = optim.MSAM(lr=0.1, momentum=0.9, rho=0.3)
    state = opt.init(params)
    params, state, info = opt.step(params, state, grad_fn)   # grad_fn(p) -> (loss, grads)
    evaluate(opt.eval_params(params, state))

Learning rate and rho take a number or a schedule from :mod:`minimsam.optim.schedules`.
"""

from minimsam.optim import schedules
from minimsam.optim.adamw import AdamW
from minimsam.optim.adamw_msam import AdamWMSAM
from minimsam.optim.base import (
    EPS,
    Optimizer,
    StepInfo,
    add,
    axpy,
    global_norm,
    scale,
    tree_map,
    zeros_like,
)
from minimsam.optim.msam import MSAM
from minimsam.optim.nag import NAG
from minimsam.optim.sam import SAM
from minimsam.optim.sgd import SGD
from minimsam.serialization import load_state, save_state

#: The optimizers by their command-line name.
BY_NAME: dict[str, type[Optimizer]] = {
    "sgd": SGD,
    "nag": NAG,
    "sam": SAM,
    "msam": MSAM,
    "adamw": AdamW,
    "adamw-msam": AdamWMSAM,
}

__all__ = [
    "BY_NAME",
    "EPS",
    "SAM",
    "SGD",
    "MSAM",
    "NAG",
    "AdamW",
    "AdamWMSAM",
    "Optimizer",
    "StepInfo",
    "add",
    "axpy",
    "global_norm",
    "load_state",
    "save_state",
    "scale",
    "schedules",
    "tree_map",
    "zeros_like",
]
