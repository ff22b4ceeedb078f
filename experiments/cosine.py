"""Is ``-v`` an ascent direction for the next batch? cos(v_t, g_t) during SGD-momentum training.

Paper (arXiv 2401.12033) Fig. 2C, A.3-A.7 and A.12 (Sec. 2.4, Appendix A.3). SGD with momentum on
MNIST-1D (MLP 40-256-256-10, batch 128, 30 epochs, no weight decay) logs at every step
``t``, BEFORE the step, through ``fit``'s ``step_callbacks``:

- ``cos(v_t, g_t)``: the momentum buffer against ``g_t = grad L_{B_t}(w_t)``, the
  gradient of the batch the step is about to use, at the current (unperturbed) weights.
  Negative means the last step overshot along ``-v_t``, so MSAM's perturbation
  ``-rho v_t/||v_t||`` raises the batch loss (the paper: mostly negative, tending to 0
  as a cosine learning rate decays).
- ``cos(v_{t+1}, g_t)``, after the update, which contains ``g_t`` (paper: positive,
  slightly below 0.5 at mu = 0.9).
- Controls on held-out data, never used for updates (here: the test split, used for
  nothing else in this experiment): the same recursion ``m <- mu m + g`` over the
  gradients of ONE fixed held-out batch, and over a fresh random held-out batch each
  step, against the next such gradient (paper Fig. A.4: ~1 and positive). The paper
  uses an EMA over 50 iterations; this uses mu = 0.9 as the buffer ``v`` does.
- The direct loss change along the momentum (Fig. A.12):
  ``L_{B_t}(w_t - rho v_t/||v_t||) - L_{B_t}(w_t)`` at MSAM's rho = 2 and at NAG's
  look-ahead ``-eta_t mu v_t``.

Runs (3 seeds each): a cosine learning rate from 0.2 (the setting of every other
experiment), constant 0.2, constant 0.02, and constant 0.02 with mu = 0.5 and 0.99
(Fig. A.5, A.6). Measured run time: 125 s on the 2-core CPU (OPENBLAS_NUM_THREADS=1).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

import minimsam as ms
from minimsam import data, nn, sharpness, viz
from minimsam.optim.base import axpy, global_norm

from . import common

NAME = "cosine"
RHO = 2.0  # MSAM's train.DEFAULTS radius, for the loss change along -v
HELD_OUT_BATCH = 128

CONFIGS = [
    {"label": "cosine lr 0.2", "schedule": "cosine", "lr": 0.2, "momentum": 0.9},
    {"label": "constant lr 0.2", "schedule": "constant", "lr": 0.2, "momentum": 0.9},
    {"label": "constant lr 0.02", "schedule": "constant", "lr": 0.02, "momentum": 0.9},
    {"label": "constant lr 0.02, mu 0.5", "schedule": "constant", "lr": 0.02, "momentum": 0.5},
    {"label": "constant lr 0.02, mu 0.99", "schedule": "constant", "lr": 0.02, "momentum": 0.99},
]
MAIN = CONFIGS[0]["label"]
QUANTITIES = ("before", "after", "heldout_fixed", "heldout_random", "dloss_msam", "dloss_nag")


class MomentumProbe:
    """A ``fit`` step callback: the cosines and loss changes above, at every step ``t >= 1``.

    ``records[q]`` is a list of ``(t, value)``. ``"after"`` pairs ``v_t`` with the
    previous step's gradient ``g_{t-1}``, so it is recorded at ``t`` for step ``t - 1``.
    """

    def __init__(self, optimizer, x_held, y_held, seed: int):
        self.optimizer, self.mu = optimizer, optimizer.momentum
        self.x_held, self.y_held = x_held, y_held
        self.model = nn.MLP(common.SIZES)
        self.rng = np.random.default_rng([seed, 11])
        self.records: dict[str, list[tuple[int, float]]] = {q: [] for q in QUANTITIES}
        self.prev_g = self.m_fixed = self.m_random = None

    def _held_out_grad(self, w, idx):
        x, y = ms.asarray(self.x_held[idx]), ms.asarray(self.y_held[idx])
        return ms.grad(lambda p: nn.cross_entropy(self.model(p, x), y))(w)

    def _accumulate(self, name: str, m, g, t: int):
        """Record ``cos(m, g)`` (if ``m`` exists) and return ``mu m + g``."""
        if m is None:
            return g
        self.records[name].append((t, sharpness.cosine(m, g)))
        return axpy(self.mu, m, g)

    def __call__(self, t: int, w, state, batch_loss) -> None:
        v = state["momentum"]
        g = ms.grad(batch_loss)(w)
        if t > 0:
            self.records["before"].append((t, sharpness.cosine(v, g)))
            self.records["after"].append((t - 1, sharpness.cosine(v, self.prev_g)))
            v_norm = float(ms.to_numpy(global_norm(v)))
            lr = self.optimizer.hyper("lr", t)
            losses = sharpness.loss_along(batch_loss, w, v, [0.0, -RHO / v_norm, -lr * self.mu])
            self.records["dloss_msam"].append((t, float(losses[1] - losses[0])))
            self.records["dloss_nag"].append((t, float(losses[2] - losses[0])))
        self.prev_g = g
        fixed = np.arange(HELD_OUT_BATCH)
        self.m_fixed = self._accumulate(
            "heldout_fixed", self.m_fixed, self._held_out_grad(w, fixed), t
        )
        random = self.rng.choice(len(self.y_held), HELD_OUT_BATCH, replace=False)
        self.m_random = self._accumulate(
            "heldout_random", self.m_random, self._held_out_grad(w, random), t
        )


class FrozenControl:
    """A ``fit`` epoch callback: the same cosine at FROZEN weights (no step, so no overshoot).

    At the end of the epochs in ``at``, with the weights held fixed, the recursion
    ``m <- mu m + g`` runs over ``3 * steps_per_epoch`` training batches and records
    ``cos(m, g)`` against each next batch gradient (after a burn-in of 10 batches), for
    batches drawn like ``fit``'s, WITHOUT replacement within each epoch, and for batches
    drawn independently (with replacement between batches). Near a stationary point the
    batch gradients of one epoch sum to about ``N * grad L`` ~ 0, so drawing without
    replacement alone makes a fresh batch's gradient anti-correlated with the ones
    already seen (about ``-1/(K-1)`` for ``K`` equal batches of pure noise): this control
    measures how much of ``cos(v_t, g_t) < 0`` that explains.
    """

    BURN_IN = 10

    def __init__(self, ds, mu: float, seed: int, at: Sequence[int]):
        self.ds, self.mu, self.seed, self.at = ds, mu, seed, set(at)
        self.model = nn.MLP(common.SIZES)
        self.records: dict[str, dict[int, float]] = {"without": {}, "with": {}}

    def _batches(self, mode: str, epoch: int):
        n, k = len(self.ds.y_train), common.steps_for(self.ds, 1)
        if mode == "without":
            for e in range(3):
                yield from data.epoch_batches(self.ds, common.BATCH, seed=10_000 + self.seed,
                                              epoch=3 * epoch + e)  # fmt: skip
            return
        rng = np.random.default_rng([self.seed, epoch, 13])
        for _ in range(3 * k):
            idx = rng.choice(n, common.BATCH, replace=False)
            yield ms.asarray(self.ds.x_train[idx]), ms.asarray(self.ds.y_train[idx])

    def __call__(self, record, params, state) -> None:
        epoch = record["epoch"]
        if epoch not in self.at:
            return
        for mode in self.records:
            m, values = None, []
            for i, (xb, yb) in enumerate(self._batches(mode, epoch)):
                g = ms.grad(lambda p, xb=xb, yb=yb: nn.cross_entropy(self.model(p, xb), yb))(params)
                if i >= self.BURN_IN:
                    values.append(sharpness.cosine(m, g))
                m = g if m is None else axpy(self.mu, m, g)
            self.records[mode][epoch] = float(np.mean(values))


def frozen_epochs(epochs: int) -> list[int]:
    return sorted({1, max(1, epochs // 3), max(1, 2 * epochs // 3), epochs})


def run_one(ds, config: dict, seed: int, epochs: int) -> dict[str, Any]:
    total = common.steps_for(ds, epochs)
    opt = common.make_optimizer("sgd", total, lr=config["lr"], momentum=config["momentum"],
                                schedule=config["schedule"])  # fmt: skip
    probe = MomentumProbe(opt, ds.x_test, ds.y_test, seed)
    frozen = FrozenControl(ds, config["momentum"], seed, frozen_epochs(epochs))
    result = common.fit(ds, opt, seed, epochs, step_callbacks=[probe], callbacks=[frozen])
    steps_per_epoch = total // epochs
    out: dict[str, Any] = {"seed": seed, **common.final(result)}
    for q, pairs in probe.records.items():
        steps = np.array([t for t, _ in pairs])
        values = np.array([x for _, x in pairs])
        epoch_of = steps // steps_per_epoch
        out[q] = {
            "mean": float(np.mean(values)),
            "frac_negative": float(np.mean(values < 0)),
            "frac_positive": float(np.mean(values > 0)),
            "per_epoch": [float(np.mean(values[epoch_of == e])) for e in range(epochs)],
        }
        if q == "before" and seed == 0:
            out[q]["per_step"] = values.round(4).tolist()
    out["frozen"] = {mode: {str(e): v for e, v in r.items()} for mode, r in frozen.records.items()}
    return out


def compute(quick: bool) -> dict:
    ds = common.mnist1d()
    epochs, seeds, configs = common.EPOCHS, [0, 1, 2], CONFIGS
    if quick:
        ds, epochs, seeds, configs = common.shrink(ds, 512, 256), 2, [0], CONFIGS[:2]
    runs = {c["label"]: [run_one(ds, c, s, epochs) for s in seeds] for c in configs}
    return {
        "setting": {
            "dataset": "mnist1d",
            "n_train": len(ds.y_train),
            "model": f"MLP {common.SIZES}",
            "batch_size": common.BATCH,
            "epochs": epochs,
            "seeds": seeds,
            "steps_per_epoch": common.steps_for(ds, 1),
            "rho_for_dloss": RHO,
            "held_out": f"test split, batches of {HELD_OUT_BATCH} (fixed: first batch)",
        },
        "configs": configs,
        "runs": runs,
    }


# ----------------------------------------------------------------------------- figure


def _per_epoch(runs: Sequence[dict], q: str) -> np.ndarray:
    return np.array([r[q]["per_epoch"] for r in runs])  # (seeds, epochs)


def plot(payload: dict) -> Any:
    runs, epochs = payload["runs"], payload["setting"]["epochs"]
    main = runs.get(MAIN) or next(iter(runs.values()))
    main_label = MAIN if MAIN in runs else next(iter(runs))
    xs = np.arange(1, epochs + 1)
    fig = common.figure(figsize=(12, 8))
    (ax_a, ax_b), (ax_c, ax_d) = fig.subplots(2, 2)
    colors = [c["color"] for c in viz.rc_params()["axes.prop_cycle"]]  # Okabe-Ito

    spe = payload["setting"]["steps_per_epoch"]
    per_step = np.array(main[0]["before"]["per_step"])
    ax_a.plot((np.arange(len(per_step)) + 1) / spe, per_step, color=colors[0], alpha=0.2,
              linewidth=0.5, label=f"{main_label}, seed 0, every step")  # fmt: skip
    for (label, seed_runs), color in zip(runs.items(), colors):
        ys = _per_epoch(seed_runs, "before")
        ax_a.plot(xs - 0.5, ys.mean(0), color=color, marker=".", label=f"{label} (epoch mean)")
        ax_a.fill_between(xs - 0.5, ys.min(0), ys.max(0), color=color, alpha=0.15)
    ax_a.axhline(0, color="k", linewidth=0.8)
    ax_a.set(xlabel="epoch", ylabel=r"$\cos(v_t, g_t)$",
             title=r"A: momentum before the step vs the new batch gradient")  # fmt: skip
    ax_a.legend(fontsize=7)

    names = {
        "before": r"$\cos(v_t, g_t)$ (before the update)",
        "after": r"$\cos(v_{t+1}, g_t)$ (after the update)",
        "heldout_fixed": "held-out, one fixed batch: cos(m, g)",
        "heldout_random": "held-out, random batches: cos(m, g)",
    }
    for (q, text), color in zip(names.items(), colors):
        ys = _per_epoch(main, q)
        ax_b.plot(xs - 0.5, ys.mean(0), color=color, marker=".", label=text)
        ax_b.fill_between(xs - 0.5, ys.min(0), ys.max(0), color=color, alpha=0.15)
    for mode, marker, text in (
        ("without", "s", "frozen weights, batches as in training (no replacement)"),
        ("with", "^", "frozen weights, independent batches"),
    ):
        marks = sorted(int(e) for e in main[0]["frozen"][mode])
        ys = np.array([[r["frozen"][mode][str(e)] for e in marks] for r in main])
        ax_b.errorbar(marks, ys.mean(0), yerr=ys.std(0), color="k", marker=marker,
                      linestyle="none", markersize=5, label=f"{text}: cos(m, g)")  # fmt: skip
    ax_b.axhline(0, color="k", linewidth=0.8)
    ax_b.set(xlabel="epoch", ylabel="cosine (epoch mean)", ylim=(-1.05, 1.05),
             title=f"B: controls ({main_label}; band: min-max over seeds)")  # fmt: skip
    ax_b.legend(fontsize=7)

    for (label, seed_runs), color in zip(list(runs.items())[:2], colors):
        values = np.array(seed_runs[0]["before"]["per_step"])
        share = 100 * seed_runs[0]["before"]["frac_negative"]
        ax_c.hist(values, bins=50, color=color, alpha=0.5,
                  label=f"{label}: {share:.0f}% < 0, mean {values.mean():+.3f}")  # fmt: skip
    ax_c.axvline(0, color="k", linewidth=0.8)
    ax_c.set(xlabel=r"$\cos(v_t, g_t)$ per step (seed 0)", ylabel="steps",
             title="C: distribution over all steps")  # fmt: skip
    ax_c.legend(fontsize=7)

    for q, text, color in (
        ("dloss_msam", rf"MSAM radius: $L_B(w - {RHO:g}\,v/\|v\|) - L_B(w)$", colors[3]),
        ("dloss_nag", r"NAG look-ahead: $L_B(w - \eta\mu v) - L_B(w)$", colors[2]),
    ):
        ys = _per_epoch(main, q)
        share = 100 * np.mean([r[q]["frac_positive"] for r in main])
        ax_d.plot(xs - 0.5, ys.mean(0), color=color, marker=".", label=f"{text}: {share:.0f}% > 0")
        ax_d.fill_between(xs - 0.5, ys.min(0), ys.max(0), color=color, alpha=0.15)
    ax_d.axhline(0, color="k", linewidth=0.8)
    ax_d.set_yscale("symlog", linthresh=1e-4)
    ax_d.set(xlabel="epoch", ylabel="loss change on the new batch (epoch mean)",
             title=f"D: loss change along $-v$ ({main_label})")  # fmt: skip
    ax_d.legend(fontsize=7)
    fig.suptitle(
        "Is $-v_t$ an ascent direction for the next batch? (paper Fig. 2C, A.4, A.12)\n"
        f"SGD + momentum on MNIST-1D, MLP {common.SIZES}, batch {common.BATCH}, {epochs} "
        f"epochs, {len(main)} seeds"
    )
    return fig


# ----------------------------------------------------------------------------- markdown


def _stat(seed_runs: Sequence[dict], q: str, key: str, scale: float = 1.0, digits: int = 3):
    return common.pm([r[q][key] for r in seed_runs], scale=scale, digits=digits)


def _frozen_sentence(main: Sequence[dict], epochs: int) -> str:
    """What the frozen-weights control says about the main run, from the numbers."""
    marks = sorted(int(e) for e in main[0]["frozen"]["without"])

    def frozen(mode: str, e: int) -> float:
        return float(np.mean([r["frozen"][mode][str(e)] for r in main]))

    def training(e: int) -> float:
        return float(np.mean([r["before"]["per_epoch"][e - 1] for r in main]))

    early = [e for e in marks if e < epochs]
    overshoot = [e for e in early if training(e) < 0 < frozen("without", e)]
    frozen_early = ", ".join(f"{frozen('without', e):+.3f}" for e in early)
    training_early = ", ".join(f"{training(e):+.3f}" for e in early)
    text = (
        f"Control with the weights frozen (no step, so nothing can overshoot): at the end of "
        f"epoch {', '.join(map(str, early))} the frozen-weight cosine with batches drawn as "
        f"in training is {frozen_early}, against {training_early} while training; "
    )
    rest = [e for e in early if e not in overshoot]
    if overshoot:
        text += (
            f"at epoch {', '.join(map(str, overshoot))} the frozen cosine is positive while "
            "training's is negative, so there the negative sign comes from the steps "
            "(overshooting), not from how batches are drawn. "
        )
    if rest:
        text += (
            f"At epoch {', '.join(map(str, rest))} the control does not separate the two "
            "(see the table). "
        )
    last_frozen, last_indep = frozen("without", epochs), frozen("with", epochs)
    text += (
        f"At the end of training the frozen control gives {last_frozen:+.3f} with batches "
        f"drawn without replacement and {last_indep:+.3f} with independent batches, against "
        f"{training(epochs):+.3f} while training: "
    )
    if last_frozen < 0 < last_indep and abs(last_frozen - training(epochs)) < 0.02:
        text += (
            "the negative cosine left when the learning rate has vanished is what sampling "
            "without replacement gives by itself near a stationary point, not overshooting."
        )
    else:
        text += "sampling without replacement does not account for the final value."
    return text


def summarize(payload: dict) -> str:
    runs, setting = payload["runs"], payload["setting"]
    epochs, n = setting["epochs"], len(setting["seeds"])
    rows = []
    for label, seed_runs in runs.items():
        rows.append([
            label,
            _stat(seed_runs, "before", "frac_negative", 100, 1),
            _stat(seed_runs, "before", "mean"),
            common.pm([r["before"]["per_epoch"][0] for r in seed_runs], 1, 3),
            common.pm([r["before"]["per_epoch"][-1] for r in seed_runs], 1, 3),
            _stat(seed_runs, "after", "mean"),
            _stat(seed_runs, "heldout_fixed", "mean"),
            _stat(seed_runs, "heldout_random", "mean"),
            _stat(seed_runs, "dloss_msam", "frac_positive", 100, 1),
            _stat(seed_runs, "dloss_nag", "frac_positive", 100, 1),
            common.pm([r["test_acc"] for r in seed_runs]),
        ])  # fmt: skip
    table = common.md_table(
        ["run", "% steps cos(v_t,g_t) < 0", "mean cos(v_t,g_t)", "epoch 1", f"epoch {epochs}",
         "mean cos(v_{t+1},g_t)", "held-out fixed", "held-out random",
         f"% steps ΔL(ρ={RHO:g}) > 0", "% steps ΔL(NAG) > 0", "test acc %"],
        rows,
    )  # fmt: skip
    marks = sorted({0, 1, 4, 9, 14, 19, 24, epochs - 1} & set(range(epochs)))
    epoch_rows = [
        [label] + [f"{np.mean([r['before']['per_epoch'][e] for r in rs]):+.3f}" for e in marks]
        for label, rs in runs.items()
    ]
    per_epoch = common.md_table(["run"] + [f"epoch {e + 1}" for e in marks], epoch_rows)

    frozen_marks = sorted(int(e) for e in next(iter(runs.values()))[0]["frozen"]["without"])
    frozen_rows = [
        [label, f"{np.mean([r['before']['per_epoch'][e - 1] for r in rs]):+.3f}"]
        + [
            f"{np.mean([r['frozen'][mode][str(e)] for r in rs]):+.3f}"
            for mode in ("without", "with")
        ]
        for label, rs in runs.items()
        for e in frozen_marks
    ]
    frozen_table = common.md_table(
        ["run", "cos(v_t, g_t), epoch mean while training",
         "frozen w: batches without replacement", "frozen w: independent batches"],
        [[f"{row[0]}, end of epoch {e}", *row[1:]]
         for row, e in zip(frozen_rows, frozen_marks * len(runs))],
    )  # fmt: skip
    main_label = MAIN if MAIN in runs else next(iter(runs))
    main = runs[main_label]
    neg = 100 * np.mean([r["before"]["frac_negative"] for r in main])
    mean_before = np.mean([r["before"]["mean"] for r in main])
    first = np.mean([r["before"]["per_epoch"][0] for r in main])
    last = np.mean([r["before"]["per_epoch"][-1] for r in main])
    after = np.mean([r["after"]["mean"] for r in main])
    fixed = np.mean([r["heldout_fixed"]["mean"] for r in main])
    rand = np.mean([r["heldout_random"]["mean"] for r in main])
    up = 100 * np.mean([r["dloss_msam"]["frac_positive"] for r in main])
    verdict = (
        "mostly negative, as in the paper" if neg > 50 else "NOT mostly negative, unlike the paper"
    )
    others = [
        f"{label}: {100 * np.mean([r['before']['frac_negative'] for r in rs]):.0f}% negative, "
        f"mean {np.mean([r['before']['mean'] for r in rs]):+.3f}"
        for label, rs in runs.items()
        if label != main_label
    ]
    result = " ".join([
        f"**Result.** With the cosine learning rate ({main_label}), cos(v_t, g_t) was",
        f"{verdict}: negative at {neg:.0f}% of steps, mean {mean_before:+.3f}",
        f"(mean of {n} seed{'s' if n > 1 else ''}); its epoch mean went from {first:+.3f}",
        f"in epoch 1 to {last:+.3f} in epoch {epochs}. After the update, cos(v_(t+1), g_t)",
        f"averaged {after:+.3f}. The held-out controls, built the same way from gradients",
        f"that never update the weights, average {fixed:+.3f} for one fixed batch and",
        f"{rand:+.3f} for random batches. Stepping rho = {RHO:g} along -v_t raised the new",
        f"batch's loss at {up:.0f}% of steps; at this radius that measures curvature more than"
        " direction (tutorial 04 finds a step of the same length along +v_t raises it just as"
        " often; only small radii show the sign of the slope). Other runs:"
        f" {'; '.join(others)}.",
        _frozen_sentence(main, epochs),
    ])  # fmt: skip
    paper = (
        "Paper (WRN/ResNet/ViT on CIFAR and ImageNet, Fig. 2C, A.3-A.7, A.12): the cosine "
        "is mostly negative for every model, tends to 0 as a cosine learning rate vanishes, "
        "stays negative without decay and for tiny constant learning rates, and is lower "
        "for smaller mu; after the update it is positive, slightly below 0.5; the held-out "
        "controls give about 1 (fixed batch) and a positive value (random batches); the "
        "loss at w - 3 v/||v|| exceeds the loss at w. Here the model is a small MLP, so "
        "only the signs and trends are comparable."
    )
    setup = (
        f"Setup: SGD with momentum on MNIST-1D ({setting['n_train']} training samples), "
        f"{setting['model']}, batch {setting['batch_size']}, {epochs} epochs "
        f"({setting['steps_per_epoch']} steps each), no weight decay; every quantity is "
        "measured before the step at the unperturbed weights (`fit`'s `step_callbacks`); "
        f"held-out data: {setting['held_out']}, accumulated as m <- mu m + g. "
        f"Mean ± std over seeds {setting['seeds']}."
    )
    return "\n\n".join([
        "## Momentum vs the next batch gradient (paper Fig. 2C)",
        result,
        table,
        "Epoch means of cos(v_t, g_t) (mean over seeds):",
        per_epoch,
        "Control at frozen weights (class `FrozenControl`; mean over seeds): the same "
        "recursion m <- mu m + g over 3 epochs of training batches without any step, after "
        "a burn-in of 10 batches, against the epoch mean measured during training. With "
        "batches drawn without replacement, as training draws them, the batches of an epoch "
        "sum to N grad L, which is about 0 near a stationary point, so a fresh batch is "
        "anti-correlated with the ones already seen (about -1/(K-1) = "
        f"{-1 / (setting['steps_per_epoch'] - 1):+.3f} for K = {setting['steps_per_epoch']} "
        "batches of pure noise):",
        frozen_table,
        paper,
        setup,
    ])  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    return common.main(NAME, __doc__.splitlines()[0], compute, plot, summarize, argv)


if __name__ == "__main__":
    raise SystemExit(main())
