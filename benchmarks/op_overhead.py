"""Per-op overhead of forward + backward on tiny tensors: tinygrad_seq, raw NumPy, PyTorch.

On 4x4 tensors the arithmetic costs almost nothing, so the time is the framework's own work:
making nodes, walking the graph, accumulating gradients. Two cases:

  single  ``(a * b).sum()`` then backward, gradients of a and b reset every iteration (2 ops).
  chain   ``x = (x * w).tanh()`` 50 times, ``.sum()``, backward (101 ops); reported per op.

The NumPy row is the same forward with the backward written by hand: the floor that any engine
on NumPy pays. NumPy's thread pools and PyTorch run on ``--threads`` (default 1) alike; the
PyTorch row is skipped with a message when ``import torch`` fails.

Timing follows benchmarks/timing.py: each engine's batch sized from its own speed to about
``--batch-seconds``, a settle pause before every timed batch, one batch of each engine per
repeat (order rotated), the median of ``--repeat``; the load of other processes is measured
over every batch (a batch beside more than ``--max-load`` cores of it is timed again) and
printed.

    python benchmarks/op_overhead.py                      # defaults: --repeat 15
    python benchmarks/op_overhead.py --json results.json  # also write the numbers
"""
import argparse
import json
import os
import platform
import sys

import numpy as np

import timing

try:
    import tinygrad_seq as tg
except ImportError:  # run from a checkout without `pip install -e .`: use the package beside us
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import tinygrad_seq as tg

try:
    import torch
except ImportError as e:  # the benchmark runs without PyTorch, minus its row
    torch = None
    TORCH_MISSING = str(e)

SHAPE = (4, 4)
CHAIN_STEPS = 50                   # each step is a mul and a tanh
CHAIN_OPS = 2 * CHAIN_STEPS + 1    # ... and the final sum


# ---------------------------------------------------------------- case 1: (a * b).sum()

def single_autodiff(tensor):
    """The case in an engine whose ``tensor(array, requires_grad=True)`` makes a leaf (tg, torch)."""
    def make(a0, b0):
        a = tensor(a0, requires_grad=True)
        b = tensor(b0, requires_grad=True)

        def step():
            a.grad = None
            b.grad = None
            (a * b).sum().backward()
        return step, lambda: (a.grad.numpy(), b.grad.numpy())
    return make


def single_numpy(a0, b0):
    a, b = a0.copy(), b0.copy()
    grads = {}

    def step():
        grads.clear()
        (a * b).sum()
        g = np.ones((), dtype=a.dtype)               # d loss / d loss
        g_ab = np.broadcast_to(g, a.shape)           # backward of sum: broadcast
        grads["a"] = g_ab * b                        # backward of mul: times the other operand
        grads["b"] = g_ab * a
    return step, lambda: (grads["a"], grads["b"])


# ---------------------------------------------------------------- case 2: a chain of 101 ops

def chain_autodiff(tensor):
    """The chain in an engine whose ``tensor(array, requires_grad=True)`` makes a leaf."""
    def make(x0, w0):
        x = tensor(x0, requires_grad=True)
        w = tensor(w0, requires_grad=True)

        def step():
            x.grad = None
            w.grad = None
            h = x
            for _ in range(CHAIN_STEPS):
                h = (h * w).tanh()
            h.sum().backward()
        return step, lambda: (x.grad.numpy(), w.grad.numpy())
    return make


def chain_numpy(x0, w0):
    x, w = x0.copy(), w0.copy()
    grads = {}

    def step():
        grads.clear()
        h, saved = x, []
        for _ in range(CHAIN_STEPS):
            y = np.tanh(h * w)
            saved.append((h, y))
            h = y
        h.sum()
        g = np.broadcast_to(np.ones((), dtype=x.dtype), x.shape)
        gw = np.zeros_like(w)
        for h_in, y in reversed(saved):
            g = g * (1 - y * y)     # tanh
            gw = gw + g * h_in      # mul, gradient of w summed over the 50 uses
            g = g * w               # mul, gradient of the chain input
        grads["x"], grads["w"] = g, gw
    return step, lambda: (grads["x"], grads["w"])


# ---------------------------------------------------------------- timing

def measure(steps, args):
    """Median microseconds per iteration of each step, interleaved batches sized per engine."""
    timings = timing.interleaved(steps, args.repeat, args.batch_seconds, args.pause,
                                 max_load=args.max_load, retries=args.retries,
                                 quiet_s=args.wait_quiet)
    return {name: {"median_us": t.median * 1e6, "min_us": t.min * 1e6, "max_us": t.max * 1e6,
                   "number": t.number, "redone": t.redone,
                   "load_mean": sum(t.loads) / len(t.loads) if t.loads else None,
                   "load_max": max(t.loads) if t.loads else None}
            for name, t in timings.items()}


def check_same_gradients(results, case):
    """All engines must compute the same gradients, or the timings compare different work."""
    names = list(results)
    reference = results[names[0]]()
    for name in names[1:]:
        for ref, got in zip(reference, results[name]()):
            if not np.allclose(ref, got, rtol=1e-4, atol=1e-5):
                raise SystemExit(f"{case}: {name} and {names[0]} disagree on the gradients")


def machine():
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu_model": timing.cpu_model(),
        "cpu_count": os.cpu_count(),
        "numpy": np.__version__,
        "tinygrad_seq": tg.__version__,
        "tinygrad_seq_path": os.path.dirname(os.path.abspath(tg.__file__)),
        "torch": torch.__version__ if torch is not None else None,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15,
                        help="timed batches per engine (default 15; at least 7)")
    timing.add_options(parser, threads=1, batch_seconds=0.2)
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.batch_seconds <= 0:
        parser.error("--repeat must be at least 1 and --batch-seconds positive")

    limiter = timing.set_threads(args.threads, torch)  # noqa: F841 (kept alive: the limits hold)
    run_meter = timing.LoadMeter()
    info = machine()
    info["threads"] = timing.thread_report(torch)
    for line in timing.machine_report(numpy=info["numpy"], tinygrad_seq=info["tinygrad_seq"],
                                      torch=info["torch"] or "not installed"):
        print(line)
    print(f"tinygrad_seq from: {info['tinygrad_seq_path']}")
    print(f"threads: --threads {args.threads}: {info['threads']}")
    if torch is None:
        print(f"PyTorch row skipped: import torch failed ({TORCH_MISSING})")
    print(f"median of {args.repeat} interleaved batches of ~{args.batch_seconds} s per engine, "
          f"{args.pause} s settle pause before each")
    print()

    rng = np.random.default_rng(0)
    a0, b0 = (rng.standard_normal(SHAPE).astype(np.float32) for _ in range(2))
    x0 = rng.standard_normal(SHAPE).astype(np.float32)
    w0 = rng.uniform(0.5, 1.5, SHAPE).astype(np.float32)

    cases = {
        "single": ("(a * b).sum() fwd+bwd", 2,
                   [("tinygrad_seq", single_autodiff(tg.tensor)), ("numpy", single_numpy),
                    ("torch", torch and single_autodiff(torch.tensor))],
                   (a0, b0)),
        "chain": (f"(x * w).tanh() x{CHAIN_STEPS}, .sum(), fwd+bwd", CHAIN_OPS,
                  [("tinygrad_seq", chain_autodiff(tg.tensor)), ("numpy", chain_numpy),
                   ("torch", torch and chain_autodiff(torch.tensor))],
                  (x0, w0)),
    }
    report = {"machine": info, "settings": {"repeat": args.repeat, "threads": args.threads,
                                             "batch_seconds": args.batch_seconds,
                                             "pause": args.pause, "shape": list(SHAPE)},
              "cases": {}}
    for key, (label, ops, engines, inputs) in cases.items():
        steps, readers = {}, {}
        for name, make in engines:
            if name == "torch" and torch is None:
                continue
            steps[name], readers[name] = make(*inputs)
        if args.wait_quiet > 0:
            timing.wait_for_quiet(args.max_load, timeout_s=args.wait_quiet)
        times = measure(steps, args)
        check_same_gradients(readers, key)
        entry = {"label": label, "ops": ops, "engines": times}
        for t in times.values():
            t["per_op_us"] = t["median_us"] / ops
        ours = times["tinygrad_seq"]["median_us"]
        entry["ratio_tg_numpy"] = ours / times["numpy"]["median_us"]
        if "torch" in times:
            entry["ratio_tg_torch"] = ours / times["torch"]["median_us"]
        report["cases"][key] = entry

    print("| case | ops | engine | median µs / iter | µs / op | min–max µs / iter "
          "| iters / batch | other load (cores) |")
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    for entry in report["cases"].values():
        for name, t in entry["engines"].items():
            load = (f"{t['load_mean']:.2f} (max {t['load_max']:.2f})"
                    if t["load_mean"] is not None else "unknown")
            print(f"| {entry['label']} | {entry['ops']} | {name} | {t['median_us']:.1f} | "
                  f"{t['per_op_us']:.2f} | {t['min_us']:.1f}–{t['max_us']:.1f} | "
                  f"{t['number']} | {load} |")
    print()
    print("| case | tinygrad_seq / torch | tinygrad_seq / numpy |")
    print("|---|---:|---:|")
    for entry in report["cases"].values():
        vs_torch = f"{entry['ratio_tg_torch']:.2f}" if "ratio_tg_torch" in entry else "n/a"
        print(f"| {entry['label']} | {vs_torch} | {entry['ratio_tg_numpy']:.2f} |")

    report["load"] = load = run_meter.read()
    engines = [t for e in report["cases"].values() for t in e["engines"].values()]
    redone = sum(t["redone"] for t in engines)
    kept = [t["load_mean"] for t in engines if t["load_mean"] is not None]
    report["kept_batch_load"] = kept_mean = sum(kept) / len(kept) if kept else None
    print(f"\nother processes' load over the run ({load['wall_s']:.0f} s): "
          f"{timing.describe_load(load)}"
          + (f"; during the kept timed batches: {kept_mean:.2f} cores" if kept else "")
          + f"; {redone} batches timed again for load")
    if kept_mean is not None and kept_mean > args.max_load:
        print(f"WARNING: that is above {args.max_load} cores: the timings are suspect, rerun")

    if args.json:
        report["run"] = timing.run_record(torch, numpy=np.__version__)
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
        print(f"\nwrote {args.json}")
    return report


if __name__ == "__main__":
    main()
