"""Steps per second of a model and its PyTorch twin trained at the same time, one thread each:
the two processes share the machine as two users' runs would, so neither has a core to itself
for its other threads, nor a quiet cache (benchmarks/models_bench.py times them one after the
other instead).

Each model of benchmarks/step_cases.py (twins checked to compute tg's loss and gradients)
runs in two worker processes, tg and torch, each with one thread for NumPy/OpenBLAS and
PyTorch. Both build their model, step it once, say they are ready, and start together on a
word from this process; each counts its steps over ``--seconds`` and reports. ``--rounds``
rounds, the median of each engine's steps per second; the ratio is tg's over torch's (above 1:
tg is faster). Meant for a 2-core machine with nothing else running: the load of other
processes is measured over each round and printed.

    python benchmarks/models_concurrent.py --only charlm --only seq2seq
    python benchmarks/models_concurrent.py --only charlm --rounds 5 --json out.json
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import step_cases
import timing


def worker(engine, name, seconds, batches):
    """Runs in a worker process: ready, go, steps for ``seconds``, one JSON line."""
    import torch
    limiter = timing.set_threads(1, torch)  # noqa: F841 (kept alive: the limits hold)
    case, _ = step_cases.make(name, batches)
    step = step_cases.tg_step(case) if engine == "tg" else step_cases.torch_step(case)
    step()  # set-up, not counted
    print("ready", flush=True)
    sys.stdin.readline()
    count, start, cpu = 0, time.perf_counter(), _cpu()
    while time.perf_counter() - start < seconds:
        step()
        count += 1
    elapsed = time.perf_counter() - start
    print(json.dumps({"steps": count, "seconds": elapsed, "cpu_s": _cpu() - cpu}), flush=True)


def _cpu():
    t = os.times()
    return t.user + t.system


def _busy():
    """Seconds of CPU the whole machine has been busy (``/proc/stat``), None where unknown."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(v) for v in f.readline().split()[1:8]]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq = ticks
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def one_round(name, args):
    here = os.path.abspath(__file__)
    procs = {engine: subprocess.Popen(
        [sys.executable, here, "--worker", engine, "--only", name, "--seconds", str(args.seconds),
         "--batches", str(args.batches)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for engine in ("tg", "torch")}
    for engine, proc in procs.items():
        line = proc.stdout.readline().strip()
        if line != "ready":
            raise SystemExit(f"{name}: the {engine} worker did not start (said {line!r})")
    busy, start = _busy(), time.monotonic()
    for proc in procs.values():
        proc.stdin.write("go\n")
        proc.stdin.flush()
    reports = {engine: json.loads(proc.stdout.readline()) for engine, proc in procs.items()}
    wall, busy_now = time.monotonic() - start, _busy()
    for proc in procs.values():
        proc.wait()
    # this process only waits meanwhile: the machine's busy time less the two workers' is the
    # other processes' (never below zero: the two clocks tick differently)
    workers_cpu = sum(r["cpu_s"] for r in reports.values())
    other = None if busy is None else max(0.0, ((busy_now - busy) - workers_cpu) / wall)
    return {e: r["steps"] / r["seconds"] for e, r in reports.items()}, other


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", choices=sorted(step_cases.CASES),
                        help="time only this model (repeatable)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20.0, help="per round (20)")
    parser.add_argument("--batches", type=int, default=4, help="data batches stepped through (4)")
    parser.add_argument("--worker", choices=["tg", "torch"], help=argparse.SUPPRESS)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.worker, args.only[0], args.seconds, args.batches)
    import numpy as np
    for line in timing.machine_report(numpy=np.__version__):
        print(line)
    results = {}
    for name in args.only or list(step_cases.CASES):
        rounds = [one_round(name, args) for _ in range(args.rounds)]
        speed = {e: statistics.median(r[0][e] for r in rounds) for e in ("tg", "torch")}
        loads = [r[1] for r in rounds if r[1] is not None] or [float("nan")]
        results[name] = {"steps_per_s": speed, "rounds": [r[0] for r in rounds],
                         "tg_over_torch_speed": speed["tg"] / speed["torch"],
                         "other_load": {"mean": statistics.mean(loads), "max": max(loads)}}
        print(f"{name}: tg {speed['tg']:.2f} steps/s, torch {speed['torch']:.2f} steps/s, tg / "
              f"torch {speed['tg'] / speed['torch']:.2f}; other load {max(loads):.2f} cores (max)",
              flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump({"rounds": args.rounds, "seconds": args.seconds, "cases": results,
                       "run": timing.run_record(numpy=np.__version__)}, file, indent=1)


if __name__ == "__main__":
    main()
