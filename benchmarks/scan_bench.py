"""The compiled engine against the hand-written kernels: milliseconds per recurrent training step
of one layer under ``engine="compiled"``, ``"fused"`` and ``"graph"``, timed side by side.

A training step is that of benchmarks/rnn_bench.py: forward over the whole sequence, MSE of all
outputs against a fixed target, backward into every parameter. Each row times its engines
interleaved in one run (benchmarks/timing.py) and gives ratios within the run:

  A-C, E       LSTM / GRU / tanh RNN (T50 B32 I64 H256) and the wide LSTM (T20 B128 I512 H1024):
               compiled / fused of the same layer
  D            the small LSTM (T100 B8 I16 H32): compiled / fused
  peephole     LSTM(peephole=True) compiled / the fused plain LSTM of config A
  1997         LSTM(forget_gate=False) compiled / the fused plain LSTM of config A
  mgu          the minimal gated unit of docs/recurrent.md in tg.nn.Recurrent, compiled / the
               fused GRU of config A

    python benchmarks/scan_bench.py --threads 2 --json docs/results/performance/scan_2threads.json
    python benchmarks/scan_bench.py --threads 1 --only A --repeat 9
"""
import argparse
import json
import os
import sys

import numpy as np

import timing

try:
    import tinygrad_seq as tg
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import tinygrad_seq as tg


class MGUCell(tg.nn.RecurrentCell):
    """The minimal gated unit of docs/recurrent.md (Zhou et al. 2016), as a user declares it."""

    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__(input_size, hidden_size, gates=2, bias=bias)

    def step(self, x_proj, h):
        x_f, x_h = x_proj.chunk(2, axis=-1)
        u_f, u_h = self.weight_hh.chunk(2, axis=0)
        f = (x_f + h @ u_f.T).sigmoid()
        candidate = (x_h + (f * h) @ u_h.T).tanh()
        h = h + f * (candidate - h)
        return h, h


A = (50, 32, 64, 256)
# row: (what is compiled, what it is compared with (the fused layer), sizes T, B, I, H)
ROWS = {
    "A": ("lstm", "lstm", A),
    "B": ("gru", "gru", A),
    "C": ("rnn", "rnn", A),
    "D": ("lstm", "lstm", (100, 8, 16, 32)),
    "E": ("lstm", "lstm", (20, 128, 512, 1024)),
    "peephole": ("peephole", "lstm", A),
    "1997": ("lstm1997", "lstm", A),
    "mgu": ("mgu", "gru", A),
}
TARGETS = {"A": 1.15, "B": 1.15, "C": 1.15, "E": 1.15, "D": 1.3, "peephole": 1.3, "1997": 1.3,
           "mgu": 1.2}


def layer(kind, inputs, hidden, engine):
    if kind == "mgu":
        return tg.nn.Recurrent([MGUCell(inputs, hidden)], engine=engine)
    made = {"lstm": lambda **k: tg.nn.LSTM(inputs, hidden, **k),
            "gru": lambda **k: tg.nn.GRU(inputs, hidden, **k),
            "rnn": lambda **k: tg.nn.RNN(inputs, hidden, **k),
            "peephole": lambda **k: tg.nn.LSTM(inputs, hidden, peephole=True, **k),
            "lstm1997": lambda **k: tg.nn.LSTM(inputs, hidden, forget_gate=False, **k)}[kind]
    return made(engine=engine)


def training_step(kind, sizes, engine):
    steps, batch, inputs, hidden = sizes
    rng = np.random.default_rng(0)
    x = tg.tensor(rng.standard_normal((steps, batch, inputs)).astype(np.float32))
    target = tg.tensor(rng.standard_normal((steps, batch, hidden)).astype(np.float32))
    tg.manual_seed(0)
    net = layer(kind, inputs, hidden, engine)
    params = list(net.parameters())

    def step():
        for p in params:
            p.grad = None
        out, _ = net(x)
        diff = out - target
        (diff * diff).mean().backward()
    return step


def bench(row, args):
    compiled_kind, fused_kind, sizes = ROWS[row]
    steps = {"compiled": training_step(compiled_kind, sizes, "compiled"),
             "fused": training_step(fused_kind, sizes, "fused")}
    if args.graph:
        steps["graph"] = training_step(compiled_kind, sizes, "graph")
    if args.wait_quiet:
        timing.wait_for_quiet(args.max_load, timeout_s=args.wait_quiet)
    timings = timing.interleaved(steps, args.repeat, args.batch_seconds, args.pause,
                                 max_load=args.max_load, retries=args.retries,
                                 quiet_s=args.wait_quiet)
    ms = {name: 1000 * t.median for name, t in timings.items()}
    loads = [x for t in timings.values() for x in t.loads]
    return {"ms": ms, "ratio": ms["compiled"] / ms["fused"], "target": TARGETS[row],
            "graph_ratio": ms["graph"] / ms["fused"] if "graph" in ms else None,
            "other_load_cores": max(loads) if loads else None,
            "samples_ms": {name: [1000 * s for s in t.samples] for name, t in timings.items()}}


WHAT = {"A": "LSTM", "B": "GRU", "C": "tanh RNN", "D": "small LSTM", "E": "wide LSTM",
        "peephole": "peephole LSTM", "1997": "1997 LSTM (no forget gate)",
        "mgu": "minimal gated unit (declared)"}


def markdown(results):
    """The table of docs/performance.md for one thread count."""
    lines = ["| row | compiled | against (fused) | T | B | I | H | compiled ms | fused ms | "
             "compiled / fused | target | other load (cores, max) |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
    for row, r in results.items():
        kind, against, (steps, batch, inputs, hidden) = ROWS[row]
        word = "met" if r["ratio"] <= r["target"] else "missed"
        lines.append(f"| {row} | {WHAT[row]} | {against.upper() if against != 'rnn' else 'tanh RNN'}"
                     f" | {steps} | {batch} | {inputs} | {hidden} | {r['ms']['compiled']:.2f} | "
                     f"{r['ms']['fused']:.2f} | **{r['ratio']:.2f}** | ≤ {r['target']}: {word} | "
                     f"{r['other_load_cores']:.2f} |")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=sorted(ROWS), action="append")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--graph", action="store_true", help="time engine='graph' too")
    timing.add_options(parser, threads=2, batch_seconds=0.5)
    args = parser.parse_args()
    timing.set_threads(args.threads)
    print("\n".join(timing.machine_report(numpy=np.__version__)))
    print(f"threads {args.threads}, median of {args.repeat}")
    results = {}
    for row in args.only or ROWS:
        r = results[row] = bench(row, args)
        graph = f"  graph {r['ms']['graph']:.1f} ms" if "graph" in r["ms"] else ""
        print(f"{row:>9}: compiled {r['ms']['compiled']:7.2f} ms  fused {r['ms']['fused']:7.2f} ms"
              f"  ratio {r['ratio']:.2f} (target {r['target']}){graph}  other load "
              f"{r['other_load_cores']:.2f} cores", flush=True)
    print()
    print("\n".join(markdown(results)))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": {k: list(v[2]) + [v[0], v[1]] for k, v in ROWS.items()},
                       "threads": args.threads, "repeat": args.repeat, "results": results,
                       "run": timing.run_record()}, f, indent=1)


if __name__ == "__main__":
    main()
