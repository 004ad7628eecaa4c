"""Experiment 3, exploding gradients and clipping: a ReLU RNN (hidden 64) whose recurrent
weights start orthogonal × 1.5, on the adding problem (T = 50, batch 64), plain SGD lr 0.01.
Without clipping the first large gradient step makes the recurrence expansive, the forward
overflows and the loss is NaN within a few steps; with ``clip_grad_norm_(…, 1.0)`` the same run
trains. The unclipped run is then replayed on the declared cells inside
``tg.detect_anomaly()``, which names the first op that produced an inf or NaN and the line of
this file that created it.

    python -m models.experiments.exploding
"""
import math
import os

import numpy as np

import tinygrad_seq as tg

from tinygrad_seq import train as trainer
from . import common


def build(seed, hidden, gain, engine="auto"):
    tg.manual_seed(seed)
    model = common.LastOutput("relu", 2, hidden)
    model.rnn.engine = engine
    tg.nn.init.orthogonal_(model.rnn.weight_hh_l0, gain=gain)
    return model


def run(model, clip, steps, T, batch, lr, seed):
    """Per step: (loss, gradient norm before clipping); stops at the first non-finite loss."""
    opt = tg.optim.SGD(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    history = []
    for step in range(steps):
        x, y = common.adding_batch(rng, batch, T)
        loss = tg.nn.functional.mse_loss(model(tg.tensor(x)), tg.tensor(y))
        value = float(loss.item())
        if not math.isfinite(value):
            history.append((value, float("nan")))
            break
        opt.zero_grad()
        loss.backward()
        norm = tg.optim.clip_grad_norm_(model.parameters(), clip if clip else math.inf)
        history.append((value, norm))
        if clip and not math.isfinite(norm):
            continue  # clip_grad_norm_'s advice: skip a step whose gradient is not finite
        opt.step()
    return history


@common.command("exploding")
def main(argv=None):
    p = common.parser(__doc__, "exploding")
    p.add_argument("--steps", type=trainer.positive_int, default=600)
    args = p.parse_args(argv)
    logs, plots = common.setup(args, "exploding")
    hidden, T, batch, lr, gain, steps = 64, 50, 64, 0.01, 1.5, args.steps
    if args.smoke:
        hidden, T, batch, steps = 32, 30, 16, 30
    results = {}
    with np.errstate(over="ignore", invalid="ignore"):
        for label, clip in (("no clipping", 0.0), ("clip_grad_norm_ 1.0", 1.0)):
            history = run(build(args.seed, hidden, gain), clip, steps, T, batch, lr, args.seed)
            results[label] = history
            last = history[-1]
            print(f"{label:20s}: {len(history)} steps, last loss {last[0]:.4g}, largest gradient "
                  f"norm {np.nanmax([h[1] for h in history]):.3g}", flush=True)
        # the unclipped run again, on the declared cells, in anomaly mode
        message = None
        try:
            with tg.detect_anomaly():
                run(build(args.seed, hidden, gain, engine="graph"), 0.0, steps, T, batch, lr,
                    args.seed)
        except tg.AnomalyError as e:
            message = str(e)
    print("detect_anomaly:", message or "no anomaly found", flush=True)
    results["anomaly"] = message
    common.save_json(os.path.join(logs, "exploding.json"), results)
    plot(results, os.path.join(plots, "exploding.png"))
    return results


def plot(results, path):
    plt = common.pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    for label in ("no clipping", "clip_grad_norm_ 1.0"):
        history = np.array(results[label], dtype=float)
        axes[0].semilogy(history[:, 0], label=label)
        axes[1].semilogy(history[:, 1], label=label)
        if not np.isfinite(history[-1, 0]):
            axes[0].axvline(len(history) - 1, color="red", ls=":", label="loss is NaN")
    axes[0].axhline(1 / 6, color="gray", lw=0.8, ls=":")
    axes[0].set_ylabel("training loss (MSE)")
    axes[1].set_ylabel("gradient norm before clipping")
    for axis in axes:
        axis.set_xlabel("SGD step")
        axis.grid(alpha=0.3, which="both")
        axis.legend(fontsize=8)
    figure.suptitle("ReLU RNN, W_hh orthogonal × 1.5, SGD lr 0.01, adding problem T=50")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


if __name__ == "__main__":
    main()
