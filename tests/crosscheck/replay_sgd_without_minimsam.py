"""Replay the SGD cases of a golden-case folder from the files alone: json + numpy.

This is what a user of another framework does with FORMAT.md: it re-implements the
tanh MLP, its cross-entropy gradient and SGD with momentum, and prints (as JSON)
the largest differences from the stored reference. It must not import minimsam;
the test runs it with minimsam made unimportable.

Usage: python replay_sgd_without_minimsam.py DIR CASE_NAME
"""

import json
import sys

import numpy as np


def mlp_loss_and_grads(params, names, x, y):
    """Cross-entropy (batch mean) of a tanh MLP with (in, out) weights, and its gradient."""
    layers = [(names[i], names[i + 1]) for i in range(0, len(names), 2)]
    hidden = [x]
    for i, (w_name, b_name) in enumerate(layers):
        z = hidden[-1] @ params[w_name] + params[b_name]
        hidden.append(np.tanh(z) if i < len(layers) - 1 else z)
    logits = hidden.pop()
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(len(y))
    loss = -log_p[rows, y].mean()
    delta = np.exp(log_p)
    delta[rows, y] -= 1.0
    delta /= len(y)  # d loss / d logits
    grads = {}
    for i in reversed(range(len(layers))):
        w_name, b_name = layers[i]
        grads[w_name] = hidden[i].T @ delta
        grads[b_name] = delta.sum(axis=0)
        if i > 0:
            delta = (delta @ params[w_name].T) * (1.0 - hidden[i] ** 2)  # tanh' = 1 - tanh^2
    return loss, grads


def replay(directory, name):
    manifest = json.load(open(f"{directory}/manifest.json"))
    case = next(c for c in manifest["cases"] if c["name"] == name)
    assert case["optimizer"] == "sgd" and case["model"]["kind"] == "mlp"
    assert case["model"]["activation"] == "tanh" and case["model"]["label_smoothing"] == 0.0
    data = np.load(f"{directory}/{case['file']}")
    names = [p["name"] for p in case["params"]]
    hp, lrs = case["hyperparameters"], case["schedule"]["lr"]
    mu, lam, nesterov = hp["momentum"], hp["weight_decay"], hp["nesterov"]
    w = {k: data[f"init/{k}"] for k in names}
    v = {k: np.zeros_like(w[k]) for k in names}
    worst = {"params": 0.0, "loss": 0.0, "grads": 0.0}
    for t in range(case["steps"]):
        # restore_before_step: this state is plain arrays, so saving and loading is a no-op
        loss, g = mlp_loss_and_grads(w, names, data["batch/x"][t], data["batch/y"][t])
        for k in names:
            d = g[k] + lam * w[k]
            v[k] = mu * v[k] + d
            w[k] = w[k] - lrs[t] * ((d + mu * v[k]) if nesterov else v[k])
        worst["loss"] = max(worst["loss"], abs(loss - data["reference/loss"][t]))
        for k in names:
            grad_ref = data[f"reference/eval_grads/{k}"][t, 0]
            worst["grads"] = max(worst["grads"], float(np.abs(g[k] - grad_ref).max()))
            worst["params"] = max(
                worst["params"], float(np.abs(w[k] - data[f"reference/params/{k}"][t]).max())
            )
    return worst


if __name__ == "__main__":
    print(json.dumps(replay(sys.argv[1], sys.argv[2])))
