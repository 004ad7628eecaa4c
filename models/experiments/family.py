"""Experiment 4, the LSTM family side by side: the 1997 LSTM (input and output gates around the
constant error carousel, no forget gate), the modern LSTM, the peephole LSTM, and the GRU in
both reset forms (reset after the recurrent product, PyTorch's; reset before it, Cho et al.'s),
on the adding problem (T = 50, hidden 64, batch 64, Adam 1e-3, clip 1.0), the same seed and the
same training-time budget each. The 1997 and peephole LSTMs have no fused kernel and run their
declared cells (through ``tg.scan``), so the curves are drawn against steps as well as seconds.

    python -m models.experiments.family                       # 90 s each, T = 50
    python -m models.experiments.family --T 30 --steps 2500 --name family_T30
"""
import os

from tinygrad_seq import train as trainer
from . import common

KINDS = ("lstm1997", "lstm", "peephole", "gru", "gru_before")
LABELS = {"lstm1997": "LSTM 1997 (no forget gate)", "lstm": "LSTM (forget gate)",
          "peephole": "peephole LSTM", "gru": "GRU (reset after)",
          "gru_before": "GRU (reset before, Cho 2014)"}


@common.command("family")
def main(argv=None):
    p = common.parser(__doc__, "family")
    p.add_argument("--seconds", type=trainer.positive_float, default=90)
    p.add_argument("--T", type=trainer.positive_int, default=50)
    p.add_argument("--steps", type=trainer.positive_int, default=None,
                   help="a budget of Adam steps instead of seconds (the declared cells are slower)")
    p.add_argument("--name", type=trainer.file_stem, default="family", help="the stem of the output files")
    args = p.parse_args(argv)
    logs, plots = common.setup(args, "family")
    hidden, batch, seconds, T, steps = 64, 64, args.seconds, args.T, args.steps
    if steps is not None:
        seconds = float("inf")
    if args.smoke:
        hidden, batch, seconds, T, steps = 8, 8, 0.5, 8, None
    results = {}
    for kind in KINDS:
        records = common.train_adding(kind, T, hidden=hidden, batch=batch, seconds=seconds,
                                      max_steps=steps, seed=args.seed, label=kind,
                                      log=os.path.join(logs, f"{args.name}_{kind}.jsonl"))
        results[kind] = records
        last = records[-1]
        print(f"{LABELS[kind]:30s} {last['step']:5d} steps in {last['seconds']:.0f} s, held-out "
              f"MSE {last['val']:.4f}, best {min(r['val'] for r in records):.4f}, below 0.01 at "
              f"{common.solved_at(records)} s; load {last['load']}", flush=True)
    common.save_json(os.path.join(logs, f"{args.name}.json"), results)
    plot(results, os.path.join(plots, f"{args.name}.png"), T)
    return results


def plot(results, path, T):
    plt = common.pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    for kind, records in results.items():
        for axis, x in zip(axes, ("step", "seconds")):
            axis.plot([r[x] for r in records], [r["val"] for r in records], label=LABELS[kind])
    for axis, x in zip(axes, ("Adam steps", "training seconds (1 thread)")):
        axis.axhline(1 / 6, color="gray", lw=0.8, ls=":")
        axis.set_yscale("log")
        axis.set_xlabel(x)
        axis.set_ylabel("held-out MSE")
        axis.grid(alpha=0.3, which="both")
        axis.legend(fontsize=8)
    figure.suptitle(f"the LSTM family on the adding problem, T={T}")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


if __name__ == "__main__":
    main()
