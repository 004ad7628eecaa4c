"""Experiment 2, long-term dependencies: the adding problem at several lengths for tanh RNN,
LSTM (forget bias 0 and +1) and GRU; hidden 128, batch 64, Adam 1e-3, clip 1.0. With
``--torch`` each run has a PyTorch twin (benchmarks/experiments_torch.py) started at the same
moment, one thread each, so both see the same load; ``--same-init`` starts the twin from tg's
initial weights (its ``--init-from``), so that the two curves differ by the engine alone.

    python -m models.experiments.long_term --lengths 50 100 --seconds 120 --torch
    python -m models.experiments.long_term --lengths 50 100 --kinds lstm lstm_fb1 gru \
        --seconds 360 --torch --name long_term_360
"""
import os
import shutil
import subprocess
import sys
import tempfile

import tinygrad_seq as tg

from tinygrad_seq.train.initial import save_initial
from tinygrad_seq import train as trainer
from . import common

DEFAULT_RUNS = ["tanh", "lstm", "lstm_fb1", "gru"]


def plot(results, path):
    plt = common.pyplot()
    lengths = sorted({r["T"] for r in results})
    figure, axes = plt.subplots(1, len(lengths), figsize=(5.5 * len(lengths), 4), squeeze=False)
    for axis, T in zip(axes[0], lengths):
        for number, r in enumerate(x for x in results if x["T"] == T):
            color = f"C{number}"
            axis.plot([e["seconds"] for e in r["tg"]], [e["val"] for e in r["tg"]], color=color,
                      label=f"{r['kind']} tg")
            if r.get("torch"):
                axis.plot([e["seconds"] for e in r["torch"]], [e["val"] for e in r["torch"]],
                          "--", color=color, alpha=0.7, label=f"{r['kind']} torch")
        axis.axhline(1 / 6, color="gray", lw=0.8, ls=":")
        axis.axhline(0.01, color="gray", lw=0.8, ls="-.")
        axis.set_yscale("log")
        axis.set_title(f"adding problem, T={T}")
        axis.set_xlabel("training seconds (1 thread)")
        axis.set_ylabel("held-out MSE")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


@common.command("long_term")
def main(argv=None):
    p = common.parser(__doc__, "long_term")
    p.add_argument("--lengths", type=trainer.positive_int, nargs="+", default=[50, 100])
    p.add_argument("--kinds", nargs="+", choices=common.KINDS, default=DEFAULT_RUNS)
    p.add_argument("--seconds", type=trainer.positive_float, default=120)
    p.add_argument("--torch", action="store_true", help="run the PyTorch twin at the same time")
    p.add_argument("--name", type=trainer.file_stem, default="long_term", help="the stem of the output files")
    p.add_argument("--same-init", action="store_true",
                   help="with --torch: the twin starts from tg's initial weights (its --init-from)")
    args = p.parse_args(argv)
    if args.same_init and not args.torch:
        p.error("--same-init needs --torch (it hands tg's initial weights to the twin)")
    draws = tempfile.mkdtemp(prefix="long_term-init-") if args.same_init else None
    logs, plots = common.setup(args, "long_term")
    hidden, batch, seconds = 128, 64, args.seconds
    if args.smoke:
        args.lengths, args.kinds, hidden, batch, seconds = [10], ["tanh", "gru"], 16, 8, 1.0
    results = []
    for T in args.lengths:
        for kind in args.kinds:
            log = os.path.join(logs, f"{args.name}_T{T}_{kind}")
            twin, model, same_init = None, None, []
            if args.same_init:  # the draw train_adding would make, handed to the twin as well
                tg.manual_seed(args.seed)
                model = common.LastOutput(kind, 2, hidden)
                same_init = ["--init-from", os.path.join(draws, f"T{T}_{kind}.safetensors")]
                save_initial(model, same_init[1])
            if args.torch:
                twin = subprocess.Popen(
                    [sys.executable, os.path.join("benchmarks", "experiments_torch.py"), "adding",
                     "--kind", kind, "--T", str(T), "--hidden", str(hidden), "--batch",
                     str(batch), "--seconds", str(seconds), "--seed", str(args.seed),
                     "--log", log + "_torch.jsonl"] + same_init,
                    env=dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1"))
            records = common.train_adding(kind, T, hidden=hidden, batch=batch, seconds=seconds,
                                          seed=args.seed, log=log + "_tg.jsonl", model=model)
            result = {"kind": kind, "T": T, "tg": records,
                      "tg_solved_s": common.solved_at(records)}
            if twin is not None:
                twin.wait()
                import json
                with open(log + "_torch.jsonl", encoding="utf-8") as file:
                    result["torch"] = [json.loads(line) for line in file if line.strip()]
                result["torch_solved_s"] = common.solved_at(result["torch"])
            last = records[-1]
            print(f"T={T} {kind:9s} tg: {last['step']} steps, val {last['val']:.4f}, below 0.01 at "
                  f"{result['tg_solved_s']} s; load {last['load']}"
                  + (f" | torch: {result['torch'][-1]['step']} steps, val "
                     f"{result['torch'][-1]['val']:.4f}, below 0.01 at {result['torch_solved_s']} s"
                     if twin is not None else ""), flush=True)
            results.append(result)
    if draws:
        shutil.rmtree(draws)
    common.save_json(os.path.join(logs, f"{args.name}.json"), results)
    plot(results, os.path.join(plots, f"{args.name}.png"))
    return results


if __name__ == "__main__":
    main()
