"""Neural-network layers, models and losses built on :mod:`minimsam.autodiff`."""

from minimsam.nn.layers import ACTIVATIONS, Activation, Conv2d, Flatten, Layer, Linear, MaxPool2d
from minimsam.nn.losses import accuracy, cross_entropy, smoothed_targets
from minimsam.nn.models import MLP, Sequential, SmallCNN

__all__ = [
    "ACTIVATIONS", "Activation", "Conv2d", "Flatten", "Layer", "Linear", "MaxPool2d",
    "MLP", "Sequential", "SmallCNN", "accuracy", "cross_entropy", "smoothed_targets",
]  # fmt: skip
