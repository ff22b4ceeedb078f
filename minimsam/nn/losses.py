"""Losses and metrics on logits of shape ``(N, K)`` and integer labels of shape ``(N,)``.

Labels are checked: an integer dtype and shape ``(N,)`` always (free), and values in
``[0, K)`` by :func:`cross_entropy` and :func:`smoothed_targets` (a label of -1 would
otherwise silently select the last class). The value check of labels on a device (CuPy)
would cost a host sync per call, so ``check_labels=None`` (the default) checks NumPy
labels only; ``True`` checks device labels too (one sync), ``False`` never. Labels from
:mod:`minimsam.data` are checked once on the host when the dataset is made.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minimsam import autodiff as ad
from minimsam.backend import get_backend, to_numpy

__all__ = ["cross_entropy", "accuracy", "smoothed_targets", "validate_labels"]


def validate_labels(
    labels: Any, n: int | None, num_classes: int, check_values: bool | None = True
) -> None:
    """Raise a one-line ``ValueError`` unless ``labels`` are ``n`` integers in ``[0, K)``.

    ``n=None`` accepts any length. ``check_values``: ``True`` checks the range (one host
    sync for device labels), ``None`` only for NumPy labels, ``False`` never.
    """
    dtype = getattr(labels, "dtype", None)
    if dtype is None or dtype.kind not in ("i", "u"):
        raise ValueError(
            f"labels must be an integer array (class indices), got "
            f"{dtype if dtype is not None else type(labels).__name__}"
        )
    shape = tuple(labels.shape)
    if len(shape) != 1 or (n is not None and shape[0] != n):
        expected = f"({n},) (one per row of the logits)" if n is not None else "(N,)"
        raise ValueError(f"labels must have shape {expected}, got {shape}")
    if check_values is None:
        check_values = isinstance(labels, np.ndarray)
    if check_values and shape[0] and bool(to_numpy(((labels < 0) | (labels >= num_classes)).any())):
        lo, hi = int(to_numpy(labels.min())), int(to_numpy(labels.max()))
        raise ValueError(
            f"labels must lie in [0, {num_classes}) for {num_classes} classes, "
            f"found values from {lo} to {hi}"
        )


def smoothed_targets(labels: Any, num_classes: int, label_smoothing: float = 0.0,
                     style: str = "torch", dtype: Any = None,
                     check_labels: bool | None = None) -> Any:  # fmt: skip
    """Target distributions ``q`` of shape ``(N, K)``.

    ``style="torch"`` (``torch.nn.CrossEntropyLoss``): ``q = (1 - eps) * onehot + eps / K``.
    ``style="msam"`` (the MSAM paper's official code): ``1 - eps`` on the true class
    and ``eps / (K - 1)`` on every other class.
    """
    validate_labels(labels, None, num_classes, check_labels)
    return _targets(labels, num_classes, label_smoothing, style, dtype)


def _targets(labels: Any, num_classes: int, label_smoothing: float, style: str,
             dtype: Any) -> Any:  # fmt: skip
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
                  style: str = "torch", check_labels: bool | None = None) -> Any:  # fmt: skip
    """Batch mean of ``-sum_k q_k log softmax(logits)_k`` with smoothed targets ``q``.

    With ``label_smoothing=0`` this is the usual ``mean(-log p[label])``. The MSAM
    paper's code reports KL(q || p) instead, which differs by the constant entropy of
    ``q``; the gradients are the same. ``check_labels``: whether to check that the
    labels lie in ``[0, K)`` (module docstring; default: NumPy labels only).
    """
    if len(logits.shape) != 2:
        raise ValueError(f"logits must have shape (N, K), got {tuple(logits.shape)}")
    n, num_classes = logits.shape
    validate_labels(labels, n, num_classes, check_labels)
    q = _targets(labels, num_classes, label_smoothing, style, dtype=logits.dtype)
    return ad.softmax_cross_entropy(logits, q)  # one fused op: -mean_n sum_k q log_softmax


def accuracy(logits: Any, labels: Any) -> Any:
    """Fraction of rows whose largest logit is the label (a backend scalar, not synced)."""
    data = logits.data if isinstance(logits, ad.Tensor) else logits
    validate_labels(labels, len(data), data.shape[-1], check_values=False)
    return (data.argmax(axis=1) == labels).mean()
