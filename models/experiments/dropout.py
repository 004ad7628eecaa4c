"""Experiment 5, dropout knows train from eval (Géron 2017, ch. 14, on TensorFlow's
DropoutWrapper: no training/inference switch, so it drops at prediction time too).

A 2-layer LSTM (hidden 64, dropout 0.3 between the layers) with a linear read-out of the last
output learns the adding problem (T = 20, batch 64, Adam 1e-3, clip 1.0). At each evaluation the
same held-out set is predicted three ways: in eval mode (``model.eval()``: no dropout, the
framework's default for prediction), in train mode (one pass with fresh masks, what the
DropoutWrapper does; mean of 8 passes' losses), and in train mode averaging the 8 passes'
predictions (Monte-Carlo dropout).

    python -m models.experiments.dropout
"""
import os
import time

import numpy as np

import tinygrad_seq as tg

from tinygrad_seq import train as trainer
from . import common


def held_out(model, x, y, passes):
    """(eval-mode loss, mean train-mode loss, loss of the mean train-mode prediction)."""
    mse = tg.nn.functional.mse_loss
    with tg.no_grad():
        model.eval()
        eval_loss = float(mse(model(x), y).item())
        model.train()
        predictions = [model(x) for _ in range(passes)]
        train_losses = [float(mse(p, y).item()) for p in predictions]
        mean = tg.stack(predictions, axis=0).mean(axis=0)
        mc_loss = float(mse(mean, y).item())
    return eval_loss, float(np.mean(train_losses)), mc_loss


@common.command("dropout")
def main(argv=None):
    p = common.parser(__doc__, "dropout")
    p.add_argument("--seconds", type=trainer.positive_float, default=90)
    p.add_argument("--dropout", type=trainer.probability, default=0.3)
    args = p.parse_args(argv)
    logs, plots = common.setup(args, "dropout")
    hidden, batch, T, seconds, passes, every = 64, 64, 20, args.seconds, 8, 50
    if args.smoke:
        hidden, batch, T, seconds, passes, every = 8, 8, 6, 0.5, 2, 5
    tg.manual_seed(args.seed)
    model = common.LastOutput("lstm", 2, hidden, num_layers=2, dropout=args.dropout)
    opt = tg.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(args.seed)
    vx, vy = common.adding_batch(np.random.default_rng(10_000 + args.seed), 512, T)
    vx, vy = tg.tensor(vx), tg.tensor(vy)
    records, trained, step = [], 0.0, 0
    while True:
        if step % every == 0 or trained >= seconds:
            e, t, mc = held_out(model, vx, vy, passes)
            records.append({"step": step, "seconds": round(trained, 2), "eval": e, "train": t,
                            "mc": mc})
            if trained >= seconds:
                break
        x, y = common.adding_batch(rng, batch, T)
        start = time.perf_counter()
        model.train()
        loss = tg.nn.functional.mse_loss(model(tg.tensor(x)), tg.tensor(y))
        opt.zero_grad()
        loss.backward()
        tg.optim.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        trained += time.perf_counter() - start
        step += 1
    last = records[-1]
    print(f"after {last['step']} steps: held-out MSE eval mode {last['eval']:.4f}, train mode "
          f"{last['train']:.4f} (mean of {passes} passes), train mode averaged predictions "
          f"{last['mc']:.4f}", flush=True)
    common.save_json(os.path.join(logs, "dropout.json"), records)
    plot(records, os.path.join(plots, "dropout.png"), args.dropout)
    return records


def plot(records, path, p):
    plt = common.pyplot()
    figure, axis = plt.subplots(figsize=(6.5, 4.2))
    steps = [r["step"] for r in records]
    for key, label in (("eval", "eval mode (no dropout)"),
                       ("train", "train mode at prediction (DropoutWrapper)"),
                       ("mc", "train mode, 8 predictions averaged")):
        axis.plot(steps, [r[key] for r in records], label=label)
    axis.axhline(1 / 6, color="gray", lw=0.8, ls=":")
    axis.set_yscale("log")
    axis.set_xlabel("Adam steps")
    axis.set_ylabel("held-out MSE")
    axis.set_title(f"2-layer LSTM, dropout {p} between layers, adding problem T=20")
    axis.grid(alpha=0.3, which="both")
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


if __name__ == "__main__":
    main()
