"""What anomaly mode costs when it is off, and when it is on.

The normal path pays one module-level check per op (``Function.apply``) and one per backward
node (``_backward_step``): ``if _anomaly is not None``. This script times that check alone
against the time of a tiny op (forward and backward of a chain of 8-element ops, where the
engine's own overhead dominates and the check would show most), and the same chain with the
mode on, whose cost is the stack captured at each op's creation.

    python benchmarks/anomaly_overhead.py
    python benchmarks/anomaly_overhead.py --json docs/results/performance/anomaly_overhead.json
"""
import argparse
import json
import timeit

import numpy as np

import timing  # this folder's: the run's command, machine and thread pools for --json
import tinygrad_seq as tg
from tinygrad_seq import autograd


def chain(x, n=50):
    for _ in range(n):
        x = (x * 1.0001).tanh()
    return x.sum()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", metavar="PATH", help="also write the numbers to this JSON file")
    args = parser.parse_args(argv)
    tg.set_num_threads(1)
    x = tg.tensor(np.random.default_rng(0).standard_normal(8).astype(np.float32),
                  requires_grad=True)
    ops_per_run = 50 * 2 + 1  # forward ops; as many backward nodes

    def run():
        chain(x).backward()

    run()
    repeat, number = 7, 40
    off = min(timeit.repeat(run, repeat=repeat, number=number)) / number
    check = min(timeit.repeat("a is not None", globals={"a": autograd._anomaly},
                              repeat=repeat, number=1_000_000)) / 1_000_000
    with tg.detect_anomaly():
        on = min(timeit.repeat(run, repeat=3, number=10)) / 10
    lstm = tg.nn.LSTM(32, 64)
    seq = tg.randn(50, 16, 32)

    def lstm_step():
        out, _ = lstm(seq)
        out.sum().backward()

    lstm_step()
    lstm_off = min(timeit.repeat(lstm_step, repeat=5, number=5)) / 5
    per_op = off / (2 * ops_per_run)
    print(f"tiny-op chain, mode off : {off * 1e6:8.1f} µs per forward+backward "
          f"({per_op * 1e6:.2f} µs per op or node)")
    print(f"the flag check alone    : {check * 1e9:8.1f} ns  = {100 * check / per_op:.2f}% of one "
          f"tiny op; two per op (forward and backward node)")
    print(f"tiny-op chain, mode on  : {on * 1e6:8.1f} µs ({on / off:.1f}× off: the stack capture)")
    print(f"fused LSTM 50×16×32→64  : {lstm_off * 1e3:8.2f} ms per forward+backward, mode off "
          f"(2 checks per step of the graph, a few nodes in all)")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump({"ops_per_run": ops_per_run, "off_us_per_run": off * 1e6,
                       "per_op_us": per_op * 1e6, "check_ns": check * 1e9,
                       "check_percent_of_op": 100 * check / per_op, "on_us_per_run": on * 1e6,
                       "on_over_off": on / off, "lstm_off_ms": lstm_off * 1e3,
                       "run": timing.run_record(numpy=np.__version__)}, file, indent=1)


if __name__ == "__main__":
    main()
