"""Per-op overhead of forward + backward on tiny tensors: tinygrad_seq, raw NumPy, PyTorch.

On 4x4 tensors the arithmetic costs almost nothing, so the time is the framework's own work:
making nodes, walking the graph, accumulating gradients. Two cases:

  single  ``(a * b).sum()`` then backward, gradients of a and b reset every iteration (2 ops).
  chain   ``x = (x * w).tanh()`` 50 times, ``.sum()``, backward (101 ops); reported per op.

The NumPy row is the same forward with the backward written by hand: the floor that any engine
on NumPy pays. PyTorch runs with ``torch.set_num_threads(1)`` so that all three use one thread;
its row is skipped with a message when ``import torch`` fails.

Every repeat times one batch of each engine in turn, so drift on the machine hits all of them
alike; the table shows the median over the repeats.

    python benchmarks/op_overhead.py                      # defaults: --number 2000 --repeat 15
    python benchmarks/op_overhead.py --json results.json  # also write the numbers
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

def time_batch(step, number):
    start = time.perf_counter()
    for _ in range(number):
        step()
    return time.perf_counter() - start


def measure(steps, number, repeat):
    """Median microseconds per iteration of each step, batches of ``number`` interleaved."""
    for step in steps.values():   # warm up: first calls, caches, allocator
        time_batch(step, max(1, number // 10))
    samples = {name: [] for name in steps}
    for _ in range(repeat):
        for name, step in steps.items():
            samples[name].append(time_batch(step, number) / number * 1e6)
    return {name: {"median_us": statistics.median(s), "min_us": min(s), "max_us": max(s)}
            for name, s in samples.items()}


def check_same_gradients(results, case):
    """All engines must compute the same gradients, or the timings compare different work."""
    names = list(results)
    reference = results[names[0]]()
    for name in names[1:]:
        for ref, got in zip(reference, results[name]()):
            if not np.allclose(ref, got, rtol=1e-4, atol=1e-5):
                raise SystemExit(f"{case}: {name} and {names[0]} disagree on the gradients")


def machine():
    info = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "numpy": np.__version__,
        "tinygrad_seq": tg.__version__,
        "torch": torch.__version__ if torch is not None else None,
    }
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return info


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=2000,
                        help="iterations of the single op per timed batch (default 2000)")
    parser.add_argument("--chain-number", type=int, default=None,
                        help="iterations of the 101-op chain per timed batch (default number / 20)")
    parser.add_argument("--repeat", type=int, default=15,
                        help="timed batches per engine (default 15)")
    parser.add_argument("--json", metavar="PATH", help="also write the numbers to this JSON file")
    args = parser.parse_args(argv)
    chain_number = args.chain_number if args.chain_number is not None else max(1, args.number // 20)
    if min(args.number, chain_number, args.repeat) < 1:
        parser.error("--number, --chain-number and --repeat must be at least 1")

    info = machine()
    if torch is not None:
        torch.set_num_threads(1)
        info["torch_threads"] = torch.get_num_threads()
    print(f"python {info['python']} ({info['implementation']}), numpy {info['numpy']}, "
          f"torch {info['torch'] or 'not installed'}, tinygrad_seq {info['tinygrad_seq']}")
    cpu = info.get("cpu_model", info["processor"])
    print(f"{info['cpu_count']} CPUs, {cpu}, {info['platform']}")
    if torch is None:
        print(f"PyTorch row skipped: import torch failed ({TORCH_MISSING})")
    else:
        print("PyTorch runs with torch.set_num_threads(1), like the other two (single thread)")
    print(f"single: {args.repeat} batches of {args.number} iterations; "
          f"chain: {args.repeat} batches of {chain_number}; median reported")
    print()

    rng = np.random.default_rng(0)
    a0, b0 = (rng.standard_normal(SHAPE).astype(np.float32) for _ in range(2))
    x0 = rng.standard_normal(SHAPE).astype(np.float32)
    w0 = rng.uniform(0.5, 1.5, SHAPE).astype(np.float32)

    cases = {
        "single": ("(a * b).sum() fwd+bwd", 2, args.number,
                   [("tinygrad_seq", single_autodiff(tg.tensor)), ("numpy", single_numpy),
                    ("torch", torch and single_autodiff(torch.tensor))],
                   (a0, b0)),
        "chain": (f"(x * w).tanh() x{CHAIN_STEPS}, .sum(), fwd+bwd", CHAIN_OPS, chain_number,
                  [("tinygrad_seq", chain_autodiff(tg.tensor)), ("numpy", chain_numpy),
                   ("torch", torch and chain_autodiff(torch.tensor))],
                  (x0, w0)),
    }
    report = {"machine": info, "settings": {"number": args.number, "chain_number": chain_number,
                                             "repeat": args.repeat, "shape": list(SHAPE)},
              "cases": {}}
    for key, (label, ops, number, engines, inputs) in cases.items():
        steps, readers = {}, {}
        for name, make in engines:
            if name == "torch" and torch is None:
                continue
            steps[name], readers[name] = make(*inputs)
        times = measure(steps, number, args.repeat)
        check_same_gradients(readers, key)
        entry = {"label": label, "ops": ops, "number": number, "engines": times}
        for t in times.values():
            t["per_op_us"] = t["median_us"] / ops
        ours = times["tinygrad_seq"]["median_us"]
        entry["ratio_tg_numpy"] = ours / times["numpy"]["median_us"]
        if "torch" in times:
            entry["ratio_tg_torch"] = ours / times["torch"]["median_us"]
        report["cases"][key] = entry

    print("| case | ops | engine | median µs / iter | µs / op | min–max µs / iter |")
    print("|---|---:|---|---:|---:|---:|")
    for entry in report["cases"].values():
        for name, t in entry["engines"].items():
            print(f"| {entry['label']} | {entry['ops']} | {name} | {t['median_us']:.1f} | "
                  f"{t['per_op_us']:.2f} | {t['min_us']:.1f}–{t['max_us']:.1f} |")
    print()
    print("| case | tinygrad_seq / torch | tinygrad_seq / numpy |")
    print("|---|---:|---:|")
    for entry in report["cases"].values():
        vs_torch = f"{entry['ratio_tg_torch']:.2f}" if "ratio_tg_torch" in entry else "n/a"
        print(f"| {entry['label']} | {vs_torch} | {entry['ratio_tg_numpy']:.2f} |")

    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
        print(f"\nwrote {args.json}")
    return report


if __name__ == "__main__":
    main()
