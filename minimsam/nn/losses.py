"""Losses and metrics on logits of shape ``(N, K)`` and integer labels of shape ``(N,)``."""

from __future__ import annotations

from typing import Any

from minimsam import autodiff as ad
from minimsam.backend import get_backend

__all__ = ["cross_entropy", "accuracy", "smoothed_targets"]


def smoothed_targets(labels: Any, num_classes: int, label_smoothing: float = 0.0,
                     style: str = "torch", dtype: Any = None) -> Any:  # fmt: skip
    """Target distributions ``q`` of shape ``(N, K)``.

    ``style="torch"`` (``torch.nn.CrossEntropyLoss``): ``q = (1 - eps) * onehot + eps / K``.
    ``style="msam"`` (the MSAM paper's official code): ``1 - eps`` on the true class
    and ``eps / (K - 1)`` on every other class.
    """
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
    xp = get_backend().xp
    onehot = xp.eye(num_classes, dtype=dtype)[labels]
    if label_smoothing == 0 and style in ("torch", "msam"):
        return onehot  # both styles give the one-hot targets; skip two passes
    if style == "torch":
        return onehot * (1.0 - label_smoothing) + label_smoothing / num_classes
    if style == "msam":
        off = label_smoothing / (num_classes - 1)
        return onehot * (1.0 - label_smoothing - off) + off
    raise ValueError(f"unknown label-smoothing style {style!r}; use 'torch' or 'msam'")


def cross_entropy(logits: Any, labels: Any, label_smoothing: float = 0.0,
                  style: str = "torch") -> Any:  # fmt: skip
    """Batch mean of ``-sum_k q_k log softmax(logits)_k`` with smoothed targets ``q``.

    With ``label_smoothing=0`` this is the usual ``mean(-log p[label])``. The MSAM
    paper's code reports KL(q || p) instead, which differs by the constant entropy of
    ``q``; the gradients are the same.
    """
    n, num_classes = logits.shape
    if labels.shape != (n,):
        raise ValueError(f"labels must have shape ({n},) to match logits {tuple(logits.shape)}, "
                         f"got {tuple(labels.shape)}")  # fmt: skip
    q = smoothed_targets(labels, num_classes, label_smoothing, style, dtype=logits.dtype)
    return ad.softmax_cross_entropy(logits, q)  # one fused op: -mean_n sum_k q log_softmax


def accuracy(logits: Any, labels: Any) -> Any:
    """Fraction of rows whose largest logit is the label (a backend scalar, not synced)."""
    data = logits.data if isinstance(logits, ad.Tensor) else logits
    return (data.argmax(axis=1) == labels).mean()
