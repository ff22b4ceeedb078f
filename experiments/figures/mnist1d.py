"""The MNIST-1D figures: the four optimizers compared, and momentum vs the next gradient.

Both train MLPs for minutes, so each is drawn from data computed by the same code:

- ``mnist1d_comparison.png`` from :func:`comparison_data` (committed as
  ``figures/data/mnist1d_comparison.json``, with the machine and BLAS kernel that made it);
- ``momentum_gradient_cosine.png`` from the output of ``python -m experiments.cosine``
  (``experiments/results/cosine.json``), so that the figure shows exactly the
  numbers of the experiment's report.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from minimsam import train, viz

from .base import new_figure

MNIST1D_SIZES = [40, 256, 256, 10]
MNIST1D_BATCH = 128
COMPARISON = {"epochs": 30, "rhos": [0.05, 0.2, 0.5, 2.0], "seeds": [0, 1, 2]}
LABELS = {"sgd": "SGD", "nag": "NAG", "sam": "SAM", "msam": "MSAM"}
# what a history keeps: the deterministic fields of fit's epoch records (no timings)
RECORD_KEYS = ("epoch", "steps", "grad_evals", "train_loss", "train_acc", "test_loss", "test_acc")

# What a float32 run reproduces on another CPU. Another BLAS kernel sums the matrix
# products in another order, so the float32 weights differ in the last bits after the
# first step, and training amplifies that: measured on seed 0 with OpenBLAS 0.3.31 under
# OPENBLAS_CORETYPE = Haswell, SkylakeX, Prescott, Sandybridge and Nehalem (one and two
# threads), the largest relative spread of the train loss after epoch 1 is 6e-6 (MSAM at
# rho = 2), after epoch 2 it is 0.1 (MSAM at rho = 2) and after epoch 3 5e-4 even for SGD.
# So epoch 1 is the part of a stored run that any machine recomputes, to 1e-4 relative
# (17 times the measured spread); later epochs are reproduced bit for bit only with the
# same BLAS kernel and thread count, and otherwise only as well as the seeds agree.
REPRODUCIBLE_EPOCHS = 1
REPRODUCIBLE_RTOL = 1e-4


def _mnist1d() -> Any:
    from minimsam import data

    return data.load("mnist1d")


def fit_history(
    name: str, epochs: int, seed: int = 0, stop_after: int | None = None, **hyper: Any
) -> list[dict]:
    """Train the MNIST-1D MLP with ``train.make_optimizer(name, **hyper)``, cosine lr over
    ``epochs`` epochs; returns the epoch records (:data:`RECORD_KEYS`).

    ``stop_after`` stops early with the same schedule: its records equal the first
    ones of the full run (a test recomputes two epochs this way). Hyperparameters not
    given come from ``train.DEFAULTS`` (tuned for this setting).
    """
    from minimsam import data, nn

    ds = _mnist1d()
    steps = epochs * data.num_batches(len(ds.y_train), MNIST1D_BATCH)
    opt = train.make_optimizer(name, schedule="cosine", total_steps=steps, **hyper)
    model = nn.MLP(MNIST1D_SIZES)
    result = train.fit(
        model,
        model.init(seed=seed),
        opt,
        ds,
        epochs=epochs if stop_after is None else stop_after,
        batch_size=MNIST1D_BATCH,
        seed=seed,
        progress=False,
    )
    return [{k: r[k] for k in RECORD_KEYS} for r in result.history]


def run_key(name: str, seed: int, rho: float | None = None) -> str:
    return f"{name} seed={seed}" + ("" if rho is None else f" rho={rho:g}")


def comparison_setting() -> dict:
    """Everything the comparison depends on; the committed data must have been made with it."""
    defaults = {n: dict(train.DEFAULTS[n]) for n in LABELS}
    return {**COMPARISON, "sizes": MNIST1D_SIZES, "batch": MNIST1D_BATCH, "defaults": defaults}


def made_on() -> dict:
    """The machine a float32 computation ran on: its results are bit for bit the same only
    with the same CPU kernel of the BLAS and the same number of BLAS threads."""
    import platform

    import numpy

    blas = {}
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        pass
    else:
        info = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        if info:
            blas = {k: info[0].get(k) for k in ("internal_api", "architecture", "num_threads")}
    return {"cpu": _cpu_model() or platform.machine(), "numpy": numpy.__version__, "blas": blas}


def _cpu_model() -> str:
    try:
        text = open("/proc/cpuinfo").read()
    except OSError:
        return ""
    names = [ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("model name")]
    return names[0] if names else ""


def comparison_data() -> dict:
    """Every run of ``mnist1d_comparison.png``: SGD and NAG per seed, SAM and MSAM per
    seed and rho (30 trainings of 30 epochs: minutes), and the machine they ran on."""
    setting = comparison_setting()
    epochs, runs = setting["epochs"], {}
    for seed in setting["seeds"]:
        for name in ("sgd", "nag"):
            runs[run_key(name, seed)] = fit_history(name, epochs, seed=seed)
        for name in ("sam", "msam"):
            for rho in setting["rhos"]:
                runs[run_key(name, seed, rho)] = fit_history(name, epochs, seed=seed, rho=rho)
    return {"setting": setting, "made_on": made_on(), "runs": runs}


def _default_runs(data: dict) -> dict[str, list[list[dict]]]:
    """Every seed's history of each optimizer at its ``train.DEFAULTS`` (the rho sweep
    holds SAM's and MSAM's default rho): ``{label: [history of each seed]}``."""
    setting, runs = data["setting"], data["runs"]
    out = {}
    for name, label in LABELS.items():
        rho = setting["defaults"][name].get("rho")
        out[label] = [runs[run_key(name, seed, rho)] for seed in setting["seeds"]]
    return out


def _mean_history(histories: Sequence[Sequence[dict]], key: str) -> list[dict]:
    """One history whose ``key`` is the mean over the seeds' histories (same epochs)."""
    values = np.mean([[r[key] for r in h] for h in histories], axis=0)
    return [{**r, key: float(v)} for r, v in zip(histories[0], values)]


def _seed_band(ax: Any, histories: Sequence[Sequence[dict]], key: str, x: str, label: str) -> None:
    """Shade the range over seeds (lowest to highest) of ``key`` around the mean line."""
    values = np.array([[r[key] for r in h] for h in histories])
    first = histories[0]
    xs = [r[x] for r in first] if x != "grad_evals" else np.cumsum([r[x] for r in first])
    colour = viz.optimizer_style(label)["color"]
    ax.fill_between(xs, values.min(axis=0), values.max(axis=0), color=colour, alpha=0.15, lw=0)


def _rho_panel(ax: Any, data: dict) -> None:
    setting, runs = data["setting"], data["runs"]
    seeds, rhos = setting["seeds"], setting["rhos"]
    levels = []
    for name in ("sgd", "nag"):
        label, style = LABELS[name], viz.optimizer_style(LABELS[name])
        levels.append(np.mean([runs[run_key(name, s)][-1]["test_acc"] for s in seeds]))
        ax.axhline(
            levels[-1],
            color=style["color"],
            linestyle=style["linestyle"],
            linewidth=2,
            label=f"{label} (no $\\rho$)",
        )
    # zoom on the baselines; a collapsed run (large rho) is marked at the bottom edge
    bottom = max(0.0, min(levels) - 0.1)
    for offset, name in enumerate(("sam", "msam")):
        label, style = LABELS[name], viz.optimizer_style(LABELS[name])
        finals = np.array(
            [[runs[run_key(name, s, r)][-1]["test_acc"] for s in seeds] for r in rhos]
        )
        means = finals.mean(axis=1)
        ax.plot(
            rhos,
            np.maximum(means, bottom),
            label=f"{label} (mean)",
            linewidth=2,
            markersize=8,
            **style,
        )
        shift = 1.04 if offset else 1 / 1.04  # dots of the two optimizers side by side
        for column in finals.T:
            ax.plot(
                np.array(rhos) * shift,
                np.maximum(column, bottom),
                linestyle="none",
                marker=style["marker"],
                markersize=4,
                color=style["color"],
                alpha=0.6,
            )
        for r, m in zip(rhos, means):
            if m < bottom:
                ax.annotate(
                    f"{label} {m:.2f}\n(off scale)",
                    (r, bottom),
                    xytext=(-80, 24),
                    textcoords="offset points",
                    fontsize=9,
                    arrowprops={"arrowstyle": "->", "color": style["color"]},
                )
    ax.set_ylim(bottom, max(levels) + 0.05)
    ax.set_xscale("log")
    ax.set_xlabel(r"radius $\rho$")
    ax.set_ylabel("final test accuracy")
    ax.set_title(rf"against $\rho$: mean of {len(seeds)} seeds (small: single runs)")
    viz.legend_outside(ax, ncols=2)


def draw_comparison(data: dict) -> Any:
    """``mnist1d_comparison.png`` from :func:`comparison_data`'s output: the mean over
    seeds as lines, the range over seeds shaded, every seed's final value in the legend
    and as dots against rho, so that a difference smaller than the seeds' spread is not
    read as a result."""
    setting = data["setting"]
    per_seed = _default_runs(data)
    means = {label: _mean_history(hs, "test_acc") for label, hs in per_seed.items()}
    fig = new_figure(figsize=(15, 5.8))
    by_epoch, by_cost, by_rho = fig.subplots(1, 3)
    viz.plot_histories(by_epoch, means, key="test_acc")
    viz.plot_histories(by_cost, means, key="test_acc", x="grad_evals")
    for label, hs in per_seed.items():
        _seed_band(by_epoch, hs, "test_acc", "epoch", label)
        _seed_band(by_cost, hs, "test_acc", "grad_evals", label)
    by_epoch.set_ylabel("test accuracy")
    by_cost.set_ylabel("test accuracy")
    labels = []
    for label, hs in per_seed.items():
        rho = setting["defaults"][label.lower()].get("rho")
        rho_text = "" if rho is None else f", $\\rho={rho:g}$"
        finals = [h[-1]["test_acc"] for h in hs]
        last = hs[0][-1]
        per_step = last["grad_evals"] // (last["steps"] // last["epoch"])
        labels.append(
            f"{label}{rho_text}: {np.mean(finals):.3f} "
            f"(seeds {min(finals):.3f} to {max(finals):.3f}; {per_step} grad/step)"
        )
    viz.legend_outside(by_epoch, labels=labels, ncols=1)
    n = len(setting["seeds"])
    by_epoch.set_title(
        f"test accuracy: mean of {n} seeds, shaded: their range\n(legend: final value)"
    )
    by_cost.set_title("the same, against gradient evaluations (cost)")
    viz.legend_outside(by_cost, ncols=4)
    _rho_panel(by_rho, data)
    lr = setting["defaults"]["sgd"]["lr"]
    fig.suptitle(
        f"MNIST-1D, MLP {setting['sizes']}, {setting['epochs']} epochs, batch "
        f"{setting['batch']}, cosine lr from {lr:g}, momentum 0.9 (train.DEFAULTS)"
    )
    return fig


# ----------------------------------------------------------------------------- cosine

COSINE_RUN = "cosine lr 0.2"  # experiments.cosine's main run: the setting of the others


def cosine_summary(data: dict) -> dict[str, Any]:
    """The numbers the caption on docs/figures.md rests on, from the cosine experiment's data."""
    main = data["runs"][COSINE_RUN]
    epochs = data["setting"]["epochs"]
    marks = sorted(int(e) for e in main[0]["frozen"]["without"])

    def mean(f: Any) -> float:
        return float(np.mean([f(r) for r in main]))

    return {
        "seeds": len(main),
        "frac_negative": mean(lambda r: r["before"]["frac_negative"]),
        "mean": mean(lambda r: r["before"]["mean"]),
        "per_epoch": np.mean([r["before"]["per_epoch"] for r in main], axis=0),
        "frozen_epochs": marks,
        "frozen_without": [mean(lambda r, e=e: r["frozen"]["without"][str(e)]) for e in marks],
        "frozen_with": [mean(lambda r, e=e: r["frozen"]["with"][str(e)]) for e in marks],
        "epochs": epochs,
    }


def draw_cosine(data: dict) -> Any:
    """``momentum_gradient_cosine.png`` from ``experiments/results/cosine.json``."""
    s = cosine_summary(data)
    main = data["runs"][COSINE_RUN]
    spe, epochs = data["setting"]["steps_per_epoch"], s["epochs"]
    per_step = np.array(main[0]["before"]["per_step"])
    palette = viz.OKABE_ITO
    fig = new_figure(figsize=(13, 5.4))
    left, right = fig.subplots(1, 2, width_ratios=[1.7, 1])

    left.plot(
        (np.arange(len(per_step)) + 1) / spe,
        per_step,
        color=palette["sky blue"],
        linewidth=0.6,
        label="training, every step (seed 0)",
    )
    xs = np.arange(1, epochs + 1) - 0.5
    left.plot(
        xs,
        s["per_epoch"],
        color=palette["blue"],
        linewidth=2.5,
        marker="o",
        markersize=4,
        label=f"training, epoch mean ({s['seeds']} seeds)",
    )
    left.plot(
        s["frozen_epochs"],
        s["frozen_without"],
        color=palette["vermillion"],
        marker="s",
        markersize=9,
        linestyle="none",
        label="control: weights frozen, batches drawn as in training (without replacement)",
    )
    left.plot(
        s["frozen_epochs"],
        s["frozen_with"],
        color=palette["bluish green"],
        marker="^",
        markersize=9,
        linestyle="none",
        label="control: weights frozen, independent batches",
    )
    left.axhline(0, color="k", linewidth=0.8)
    left.set_xlabel("epoch")
    left.set_ylabel(r"$\cos(v_t, g_t)$")
    left.set_ylim(-0.6, 0.8)
    left.set_title("momentum $v_t$ before the step vs the next batch gradient $g_t$")
    viz.legend_outside(left, ncols=2)

    right.hist(per_step, bins=40, color=palette["blue"], edgecolor="white")
    right.axvline(0, color="k", linewidth=0.8)
    right.axvline(
        s["mean"],
        color=palette["vermillion"],
        linestyle="--",
        linewidth=2,
        label=f"mean {s['mean']:+.3f} (mean of {s['seeds']} seeds)",
    )
    right.set_xlabel(r"$\cos(v_t, g_t)$ per step (seed 0)")
    right.set_ylabel("number of steps")
    right.set_title(
        f"negative at {100 * s['frac_negative']:.0f}% of steps (mean of {s['seeds']} seeds)"
    )
    viz.legend_outside(right)
    fig.suptitle(
        f"SGD + momentum 0.9 on MNIST-1D (MLP {MNIST1D_SIZES}, batch {MNIST1D_BATCH}, "
        f"{epochs} epochs, {COSINE_RUN}): python -m experiments.cosine"
    )
    return fig


def history_prefix_matches(
    stored: Sequence[dict], fresh: Sequence[dict], rtol: float = REPRODUCIBLE_RTOL
) -> bool:
    """Whether ``fresh`` records equal the first ones of ``stored``: losses to ``rtol``
    relative, accuracies within one sample of the 1000 test samples (:data:`REPRODUCIBLE_RTOL`
    says why a float32 recomputation on another machine needs the tolerance)."""
    for a, b in zip(stored, fresh):
        for k in RECORD_KEYS:
            if not np.isclose(a[k], b[k], rtol=rtol, atol=1e-3 if "acc" in k else 1e-9):
                return False
    return len(fresh) <= len(stored)
