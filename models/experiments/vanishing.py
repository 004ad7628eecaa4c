"""Experiment 1, vanishing gradients: ‖∂L/∂h_{T−k}‖ / ‖∂L/∂h_T‖ against k, measured with the
gradient-flow inspector (tg.inspect.gradient_flow).

Setting (the PyTorch measurement's): input 8, x_t ~ N(0, 1), hidden 64, T = 100, h_0 = 0,
loss ½‖W_o h_T − y‖² on the last output only (W_o: Linear(64, 1), y ~ N(0, 1)), batch 20, the
median over 5 weight seeds. Variants: PyTorch's default init; orthogonal recurrent weights (one
orthogonal block per gate); LSTM forget bias +1; after training on the adding problem.

    python -m models.experiments.vanishing
    python -m models.experiments.vanishing --variants trained --train-seconds 150 --train-seeds 1 \
        --name vanishing_trained        # trained until solved (the adding problem, T = 50)
"""
import os

import numpy as np

import tinygrad_seq as tg

from tinygrad_seq import train as trainer
from . import common

KS = (1, 5, 10, 20, 50)
VARIANTS = ("default", "orthogonal", "trained")


def measure(layer, head, rng, steps, batch, input_size, x=None, probes=0):
    """(ratio by k, jacobian norms by k or None) of one layer on one batch."""
    if x is None:
        x = rng.standard_normal((steps, batch, input_size)).astype(np.float32)
    y = tg.tensor(rng.standard_normal((batch, 1)).astype(np.float32))
    flow = tg.inspect.gradient_flow(
        layer, tg.tensor(x), lambda out, state: 0.5 * ((head(out[-1]) - y) ** 2).sum(),
        probes=probes)
    order = np.argsort(flow.distance[(0, 0)])
    jac = None if flow.jacobian_norm is None else flow.jacobian_norm[(0, 0)][order]
    return flow.ratio((0, 0)), jac


def orthogonalise(layer, kind):
    blocks = {"tanh": 1, "relu": 1, "gru": 3}.get(kind, 4)
    tg.nn.init.orthogonal_(layer.weight_hh_l0, blocks=blocks)


def variant(kind, how, seeds, steps, batch, hidden, probes, train_seconds, log):
    ratios, jacs, vals = [], [], []
    for seed in range(seeds):
        tg.manual_seed(seed)
        rng = np.random.default_rng(seed)
        if how == "trained":
            model = common.LastOutput(kind, 2, hidden)
            records = common.train_adding(kind, 50, hidden=hidden, batch=64,
                                          seconds=train_seconds, seed=seed, model=model,
                                          log=log and f"{log}_{kind}_{seed}.jsonl")
            vals.append(records[-1]["val"])
            layer, head = model.rnn, model.head
            x, _ = common.adding_batch(rng, batch, steps)
        else:
            layer = common.make_layer(kind, 8, hidden)
            head = tg.nn.Linear(hidden, 1)
            if how == "orthogonal":
                orthogonalise(layer, kind)
            x = None
        r, j = measure(layer, head, rng, steps, batch, 8, x=x, probes=probes)
        ratios.append(r)
        if j is not None:
            jacs.append(j)
    median = np.median(np.stack(ratios), axis=0)
    return median, (np.median(np.stack(jacs), axis=0) if jacs else None), vals


@common.command("vanishing")
def main(argv=None):
    p = common.parser(__doc__, "vanishing")
    p.add_argument("--seeds", type=trainer.positive_int, default=5)
    p.add_argument("--train-seconds", type=trainer.positive_float, default=25,
                   help="training time of each 'trained' model (adding problem, T=50)")
    p.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS),
                   help="which of default (with LSTM forget bias +1), orthogonal, trained to run")
    p.add_argument("--train-seeds", type=trainer.positive_int, default=3,
                   help="seeds of the trained variant")
    p.add_argument("--name", type=trainer.file_stem, default="vanishing", help="the stem of the output files")
    args = p.parse_args(argv)
    logs, plots = common.setup(args, "vanishing")
    steps, batch, hidden, seeds, probes, train_seconds = 100, 20, 64, args.seeds, 4, args.train_seconds
    if args.smoke:
        steps, batch, hidden, seeds, probes, train_seconds = 25, 4, 8, 2, 1, 0.5
        args.train_seeds = 1
    plan = [(k, "default") for k in ("tanh", "relu", "lstm", "gru", "lstm_fb1")]
    plan += [(k, "orthogonal") for k in ("tanh", "relu", "lstm", "gru")]
    plan += [(k, "trained") for k in ("tanh", "lstm", "lstm_fb1", "gru")]
    plan = [(k, how) for k, how in plan if how in args.variants]
    results = {}
    for kind, how in plan:
        median, jac, vals = variant(kind, how, args.train_seeds if how == "trained" else seeds,
                                    steps, batch, hidden,
                              probes if how == "default" else 0, train_seconds,
                              os.path.join(logs, f"{args.name}_train") if how == "trained" else None)
        name = f"{kind} {how}"
        results[name] = {"ratio": median.tolist(), "jacobian": None if jac is None else jac.tolist(),
                         "adding_val_after_training": vals}
        print(f"{name:22s} " + "  ".join(f"k={k}: {median[k]:.2g}" for k in KS if k < steps)
              + (f"  (adding T=50 held-out MSE after training: {[round(v, 4) for v in vals]})"
                 if vals else ""), flush=True)
    common.save_json(os.path.join(logs, f"{args.name}.json"), results)
    if set(args.variants) == {"trained"}:
        reference = os.path.join(logs, "vanishing.json")
        plot_trained(results, os.path.join(plots, f"{args.name}.png"),
                     common.load_json(reference) if os.path.exists(reference) else {})
    else:
        plot(results, os.path.join(plots, f"{args.name}.png"))
    return results


def plot(results, path):
    plt = common.pyplot()
    figure, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    styles = {"default": "-", "orthogonal": "--", "trained": ":"}
    colors = {"tanh": "C0", "relu": "C1", "lstm": "C2", "gru": "C3", "lstm_fb1": "C4"}
    for name, r in results.items():
        kind, how = name.split()
        ratio = np.maximum(np.array(r["ratio"]), 1e-30)
        axis = axes[0] if how != "trained" else axes[1]
        axis.semilogy(np.arange(len(ratio)), ratio, styles[how], color=colors[kind], label=name)
        if r["jacobian"] is not None:
            axes[2].semilogy(np.arange(len(ratio)), r["jacobian"], color=colors[kind], label=kind)
    axes[0].set_title("at initialisation (T=100, median of 5 seeds)")
    axes[1].set_title("after training on the adding problem")
    axes[2].set_title("‖∂h_T/∂h_{T−k}‖_F, 4 probes, default init")
    for axis in axes:
        axis.set_xlabel("k (steps back from T)")
        axis.grid(alpha=0.3, which="both")
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize=7)
    axes[0].set_ylabel("‖∂L/∂h_{T−k}‖ / ‖∂L/∂h_T‖")
    axes[1].set_ylim(1e-30, 10)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def plot_trained(results, path, reference):
    """The trained nets' ratios beside the same cells at their default init (``reference``:
    the results of a full run, when there is one)."""
    plt = common.pyplot()
    figure, axis = plt.subplots(figsize=(7, 4.5))
    colors = {"tanh": "C0", "lstm": "C2", "gru": "C3", "lstm_fb1": "C4"}
    for name, r in results.items():
        kind = name.split()[0]
        axis.semilogy(np.maximum(r["ratio"], 1e-30), color=colors[kind], label=name)
        init = reference.get(f"{kind} default")
        if init:
            axis.semilogy(np.maximum(init["ratio"], 1e-30), ":", color=colors[kind], alpha=0.7,
                          label=f"{kind} at default init")
    axis.set_ylim(1e-16, 10)
    axis.set_xlabel("k (steps back from T)")
    axis.set_ylabel("‖∂L/∂h_{T−k}‖ / ‖∂L/∂h_T‖")
    axis.set_title("after training on the adding problem (solid) and at init (dotted), T=100",
                   fontsize=10)
    axis.grid(alpha=0.3, which="both")
    axis.legend(fontsize=7, ncol=2)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


if __name__ == "__main__":
    main()
