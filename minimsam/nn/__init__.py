"""Neural-network layers, models and losses built on :mod:`minimsam.autodiff`."""

from minimsam.nn.layers import (
    ACTIVATIONS,
    Activation,
    BatchNorm1d,
    BatchNorm2d,
    Conv2d,
    Flatten,
    Layer,
    Linear,
    MaxPool2d,
)
from minimsam.nn.losses import accuracy, cross_entropy, smoothed_targets
from minimsam.nn.models import MLP, Sequential, SmallCNN
from minimsam.nn.running_stats import GradFnWithStats, batch_grad_fn, reestimate_stats

__all__ = [
    "ACTIVATIONS", "Activation", "BatchNorm1d", "BatchNorm2d", "Conv2d", "Flatten", "Layer",
    "Linear", "MaxPool2d", "MLP", "Sequential", "SmallCNN", "accuracy", "cross_entropy",
    "smoothed_targets", "GradFnWithStats", "batch_grad_fn", "reestimate_stats",
]  # fmt: skip
