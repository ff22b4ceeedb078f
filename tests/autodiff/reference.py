"""HIPS autograd versions of minimsam's ops and models, the independent oracle."""

from __future__ import annotations

import autograd.numpy as anp
from autograd.scipy.special import logsumexp as a_logsumexp


def log_softmax(x, axis=-1):
    return x - a_logsumexp(x, axis=axis, keepdims=True)


def pad_hw(x, p):
    """Zero-pad the last two axes by ``p`` (built from concatenate so autograd can trace it)."""
    if p == 0:
        return x
    n, c, h, w = x.shape
    zr = anp.zeros((n, c, p, w))
    x = anp.concatenate([zr, x, zr], axis=2)
    zc = anp.zeros((n, c, h + 2 * p, p))
    return anp.concatenate([zc, x, zc], axis=3)


def conv2d(x, weight, bias=None, stride=1, padding=0):
    """Direct sum over kernel offsets: y = sum_ij einsum(x_window_ij, W[:, :, i, j])."""
    o, c, kh, kw = weight.shape
    xpad = pad_hw(x, padding)
    oh = (xpad.shape[2] - kh) // stride + 1
    ow = (xpad.shape[3] - kw) // stride + 1
    y = 0.0
    for i in range(kh):
        for j in range(kw):
            window = xpad[:, :, i : i + stride * oh : stride, j : j + stride * ow : stride]
            y = y + anp.einsum("nchw,oc->nohw", window, weight[:, :, i, j])
    if bias is not None:
        y = y + bias.reshape(1, o, 1, 1)
    return y


def max_pool2d(x, k=2):
    n, c, h, w = x.shape
    return anp.max(anp.max(x.reshape(n, c, h // k, k, w // k, k), axis=5), axis=3)


def mlp(params, x, n_layers, activation=anp.tanh):
    for i in range(n_layers):
        x = anp.dot(x, params[f"{2 * i}.weight"]) + params[f"{2 * i}.bias"]
        if i < n_layers - 1:
            x = activation(x)
    return x


def cross_entropy(logits, labels, num_classes, eps=0.0):
    q = anp.eye(num_classes)[labels] * (1 - eps) + eps / num_classes
    return -anp.mean(anp.sum(q * log_softmax(logits, axis=1), axis=1))


def batch_norm_train(x, weight, bias, eps=1e-5):
    """Training-mode batch norm: per-channel batch mean and biased variance over all
    axes but 1, written independently (``anp.var``, one explicit broadcast shape)."""
    axes = (0, *range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mean = anp.mean(x, axis=axes).reshape(shape)
    var = anp.var(x, axis=axes).reshape(shape)
    return (x - mean) / anp.sqrt(var + eps) * weight.reshape(shape) + bias.reshape(shape)


def batch_norm_eval(x, mean, var, weight, bias, eps=1e-5):
    """Evaluation-mode batch norm with given (running) statistics."""
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return (x - mean.reshape(shape)) / anp.sqrt(var.reshape(shape) + eps) * weight.reshape(
        shape
    ) + bias.reshape(shape)
