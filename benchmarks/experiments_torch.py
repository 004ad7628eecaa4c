"""PyTorch twins of models/experiments: the same batches (same NumPy seeds), model, optimizer and
log format, so tinygrad_seq and PyTorch can run side by side under the same load.

    python benchmarks/experiments_torch.py adding --kind lstm --T 50 --seconds 120 --log x.jsonl
    python benchmarks/experiments_torch.py adding ... --init-from tg-init.safetensors  # tg's draw
    python benchmarks/experiments_torch.py vanishing      # the ratio table of experiment 1
    python benchmarks/experiments_torch.py vanishing --json docs/results/experiments/vanishing_torch.json
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from models.experiments.common import adding_batch  # noqa: E402  (NumPy only)
import torch_init  # noqa: E402  (beside this file)


def make_layer(kind, input_size, hidden):
    if kind in ("tanh", "relu"):
        return torch.nn.RNN(input_size, hidden, nonlinearity=kind)
    if kind in ("lstm", "lstm_fb1"):
        layer = torch.nn.LSTM(input_size, hidden)
        if kind == "lstm_fb1":
            with torch.no_grad():
                layer.bias_ih_l0[hidden:2 * hidden] += 1.0
        return layer
    if kind == "gru":
        return torch.nn.GRU(input_size, hidden)
    raise ValueError(kind)


class LastOutput(torch.nn.Module):
    def __init__(self, kind, input_size, hidden):
        super().__init__()
        self.rnn = make_layer(kind, input_size, hidden)
        self.head = torch.nn.Linear(hidden, 1)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out[-1])


def adding(args):
    torch.manual_seed(args.seed)
    model = LastOutput(args.kind, 2, args.hidden)
    torch_init.apply_options(model, args)  # --init-from, --save-init
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    rng = np.random.default_rng(args.seed)
    vx, vy = adding_batch(np.random.default_rng(10_000 + args.seed), 512, args.T)
    vx, vy = torch.from_numpy(vx), torch.from_numpy(vy)
    trained, step = 0.0, 0
    with open(args.log, "w", encoding="utf-8") as out:
        while True:
            if step % 25 == 0 or trained >= args.seconds:
                with torch.no_grad():
                    val = float(torch.nn.functional.mse_loss(model(vx), vy))
                out.write(json.dumps({"kind": "eval", "model": args.kind, "T": args.T,
                                      "step": step, "seconds": round(trained, 2), "val": val,
                                      "load": round(os.getloadavg()[0], 2)}) + "\n")
                out.flush()
                if trained >= args.seconds or not math.isfinite(val):
                    break
            x, y = adding_batch(rng, args.batch, args.T)
            start = time.perf_counter()
            loss = torch.nn.functional.mse_loss(model(torch.from_numpy(x)), torch.from_numpy(y))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            trained += time.perf_counter() - start
            step += 1


def vanishing(args):
    """‖∂L/∂h_{T−k}‖/‖∂L/∂h_T‖ in experiment 1's setting, median over seeds."""
    table = {}
    for kind in ("tanh", "relu", "lstm", "gru"):
        ratios = []
        for seed in range(args.seeds):
            torch.manual_seed(seed)
            layer = make_layer(kind, 8, 64)
            head = torch.nn.Linear(64, 1)
            x = torch.randn(100, 20, 8)
            y = torch.randn(20, 1)
            h = torch.zeros(20, 64)
            c = torch.zeros(20, 64)
            states = []
            cell = {"tanh": torch.nn.RNNCell, "relu": torch.nn.RNNCell, "lstm": torch.nn.LSTMCell,
                    "gru": torch.nn.GRUCell}[kind]
            kw = {"nonlinearity": kind} if kind in ("tanh", "relu") else {}
            step = cell(8, 64, **kw)
            step.load_state_dict({k[:-3]: v for k, v in layer.state_dict().items()})
            for t in range(100):
                if kind == "lstm":
                    h, c = step(x[t], (h, c))
                else:
                    h = step(x[t], h)
                states.append(h)
            loss = 0.5 * ((head(h) - y) ** 2).sum()
            grads = torch.autograd.grad(loss, states)
            norms = np.array([float(g.norm()) for g in grads])
            ratios.append(norms[::-1] / norms[-1])
        table[kind] = {k: float(np.median([r[k] for r in ratios])) for k in (1, 5, 10, 20, 50)}
    print(json.dumps(table))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump({"command": "python " + " ".join(sys.argv), "torch": torch.__version__,
                       "seeds": args.seeds, "ratio": table}, file, indent=1)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    a = sub.add_parser("adding")
    a.add_argument("--kind", default="lstm")
    a.add_argument("--T", type=int, default=50)
    a.add_argument("--hidden", type=int, default=128)
    a.add_argument("--batch", type=int, default=64)
    a.add_argument("--lr", type=float, default=1e-3)
    a.add_argument("--seconds", type=float, default=60)
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--log", required=True)
    torch_init.add_options(a)
    v = sub.add_parser("vanishing")
    v.add_argument("--seeds", type=int, default=5)
    v.add_argument("--json", default=None, help="also write the table, with this command, here")
    args = p.parse_args()
    torch.set_num_threads(1)
    try:
        adding(args) if args.command == "adding" else vanishing(args)
    except ValueError as e:  # a bad --init-from file: its message names the problem
        p.exit(2, f"{p.prog}: error: {e}\n")


if __name__ == "__main__":
    main()
