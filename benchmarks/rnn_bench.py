"""Milliseconds per recurrent training step: tinygrad_seq, torch.nn, and a PyTorch loop of the
same cell written from primitive ops.

A training step is: forward over the whole sequence, MSE of all outputs against a fixed target,
backward into every parameter (gradients reset before each step). Three engines:

  tg          ``tg.nn.LSTM/GRU/RNN`` (cells declared from ops; BPTT is the graph's backward)
  torch.nn    ``torch.nn.LSTM/GRU/RNN`` (ATen's fused recurrent kernels)
  torch loop  the cell of ``tinygrad_seq/nn/cells.py`` written with torch ops in a Python loop:
              the same graph tg builds, so the ratio tg / torch loop measures the engine.

Every repeat times each engine in turn (drift hits all alike); the table shows the median.
PyTorch uses as many threads as NumPy's BLAS may (the machine's cores) unless ``--threads``.

    python benchmarks/rnn_bench.py                   # every config, --repeat 7
    python benchmarks/rnn_bench.py --only lstm-small --repeat 15 --json out.json
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time

import numpy as np

try:
    import tinygrad_seq as tg
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import tinygrad_seq as tg

try:
    import torch
except ImportError as e:
    torch = None
    TORCH_MISSING = str(e)

# name: (cell, T, B, I, H)
CONFIGS = {
    "lstm-50x32": ("lstm", 50, 32, 64, 256),
    "gru-50x32": ("gru", 50, 32, 64, 256),
    "rnn-50x32": ("rnn", 50, 32, 64, 256),
    "lstm-small": ("lstm", 100, 8, 16, 32),
    "lstm-wide": ("lstm", 20, 128, 512, 1024),
}
TG_LAYERS = {"lstm": tg.nn.LSTM, "gru": tg.nn.GRU, "rnn": tg.nn.RNN}


def tg_step(kind, x, target, weights):
    layer = TG_LAYERS[kind](x.shape[2], target.shape[2])
    layer.load_state_dict(weights)
    xt, tt = tg.tensor(x), tg.tensor(target)
    params = list(layer.parameters())

    def step():
        for p in params:
            p.grad = None
        out, _ = layer(xt)
        diff = out - tt
        (diff * diff).mean().backward()
    return step


def torch_nn_step(kind, x, target, weights):
    layer = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[kind](
        x.shape[2], target.shape[2])
    layer.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()})
    xt, tt = torch.from_numpy(x), torch.from_numpy(target)

    def step():
        layer.zero_grad(set_to_none=True)
        out, _ = layer(xt)
        torch.nn.functional.mse_loss(out, tt).backward()
    return step


def torch_loop_step(kind, x, target, weights):
    """The cells of tinygrad_seq/nn/cells.py, op for op, in torch."""
    w = {k: torch.tensor(v, requires_grad=True) for k, v in weights.items()}
    w_ih, w_hh, b_ih, b_hh = w["weight_ih_l0"], w["weight_hh_l0"], w["bias_ih_l0"], w["bias_hh_l0"]
    xt, tt = torch.from_numpy(x), torch.from_numpy(target)
    steps, batch, hidden = target.shape

    def lstm(x_proj, state):
        h, c = state
        i, f, g, o = (x_proj + h @ w_hh.T).chunk(4, dim=-1)
        c = f.sigmoid() * c + i.sigmoid() * g.tanh()
        h = o.sigmoid() * c.tanh()
        return h, (h, c)

    def gru(x_proj, h):
        x_r, x_z, x_n = x_proj.chunk(3, dim=-1)
        h_r, h_z, h_n = (h @ w_hh.T + b_hh).chunk(3, dim=-1)
        r, z = (x_r + h_r).sigmoid(), (x_z + h_z).sigmoid()
        n = (x_n + r * h_n).tanh()
        h = n + z * (h - n)
        return h, h

    def rnn(x_proj, h):
        h = (x_proj + h @ w_hh.T).tanh()
        return h, h

    cell = {"lstm": lstm, "gru": gru, "rnn": rnn}[kind]

    def step():
        for p in w.values():
            p.grad = None
        bias = b_ih if kind == "gru" else b_ih + b_hh
        x_proj = (xt.reshape(-1, xt.shape[2]) @ w_ih.T + bias).reshape(steps, batch, -1)
        zeros = torch.zeros(batch, hidden)
        state = (zeros, zeros) if kind == "lstm" else zeros
        outputs = []
        for x_t in x_proj.unbind(0):
            out, state = cell(x_t, state)
            outputs.append(out)
        diff = torch.stack(outputs) - tt
        (diff * diff).mean().backward()
    return step


def time_ms(step, number):
    start = time.perf_counter()
    for _ in range(number):
        step()
    return (time.perf_counter() - start) / number * 1e3


def bench(name, repeat):
    kind, steps, batch, inputs, hidden = CONFIGS[name]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((steps, batch, inputs)).astype(np.float32)
    target = rng.standard_normal((steps, batch, hidden)).astype(np.float32)
    tg.manual_seed(0)
    weights = {k: v.numpy() for k, v in TG_LAYERS[kind](inputs, hidden).state_dict().items()}
    makers = {"tg": tg_step}
    if torch is not None:
        makers.update({"torch.nn": torch_nn_step, "torch loop": torch_loop_step})
    engines = {label: make(kind, x, target, weights) for label, make in makers.items()}
    for step in engines.values():  # warm up, and size `number` to ~0.3 s per batch
        step()
    once = time_ms(engines["tg"], 1)
    number = max(1, int(300 / max(once, 1e-3)))
    times = {label: [] for label in engines}
    for _ in range(repeat):
        for label, step in engines.items():
            times[label].append(time_ms(step, number))
    return {label: statistics.median(t) for label, t in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--only", choices=sorted(CONFIGS), action="append")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    if torch is not None:
        torch.set_num_threads(args.threads)
    print(f"python {platform.python_version()}, numpy {np.__version__}, "
          f"torch {torch.__version__ + f' ({torch.get_num_threads()} threads)' if torch else 'missing: ' + TORCH_MISSING}, "
          f"{os.cpu_count()} cores; median of {args.repeat} repeats, ms per training step")
    header = f"{'config':<12} {'T':>4} {'B':>4} {'I':>4} {'H':>5} {'tg':>9} {'torch.nn':>9} {'torch loop':>10} {'tg/loop':>8} {'tg/nn':>7}"
    print(header)
    results = {}
    for name in args.only or CONFIGS:
        r = results[name] = bench(name, args.repeat)
        kind, steps, batch, inputs, hidden = CONFIGS[name]
        nn, loop = r.get("torch.nn"), r.get("torch loop")
        fmt = lambda v: f"{v:9.2f}" if v is not None else f"{'-':>9}"
        ratio = lambda a, b: f"{a / b:8.2f}" if b else f"{'-':>8}"
        print(f"{name:<12} {steps:>4} {batch:>4} {inputs:>4} {hidden:>5} {fmt(r['tg'])} {fmt(nn)} "
              f"{fmt(loop):>10} {ratio(r['tg'], loop)} {ratio(r['tg'], nn):>7}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"configs": CONFIGS, "ms": results}, f, indent=1)


if __name__ == "__main__":
    main()
