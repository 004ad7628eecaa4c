"""Milliseconds per training step of every model in models/ against its PyTorch twin, on the same
batches: the char-LM, the row classifier, the sentiment classifier, the forecaster and the
seq2seq dates model, each at its default config (benchmarks/step_cases.py: the twins start from
tg's weights and are checked to compute tg's loss and gradients before anything is timed).

Timing follows benchmarks/timing.py: ``--threads`` threads for NumPy and PyTorch alike, a settle
pause before every timed batch, each engine's batch sized from its own speed, the two engines
interleaved, the median of ``--repeat``; the other processes' load is measured over every timed
batch and printed. The ratio is tg's steps per second over torch's (above 1: tg is faster).

    python benchmarks/models_bench.py --threads 1
    python benchmarks/models_bench.py --threads 2 --wait-quiet 300 --json out.json
"""
import argparse
import json

import numpy as np

import step_cases
import timing

import torch


def bench(name, args):
    case, (worst, gap) = step_cases.make(name, args.batches)
    print(f"{name}: tg and torch compute the same loss and gradients (largest gap {gap:.1e}, "
          f"{worst})", flush=True)
    steps = {"tg": step_cases.tg_step(case), "torch": step_cases.torch_step(case)}
    for step in steps.values():  # the first call of each engine is set-up, not timed
        step()
    t = timing.interleaved(steps, args.repeat, args.batch_seconds, args.pause,
                           max_load=args.max_load, retries=args.retries, quiet_s=args.wait_quiet)
    loads = [v for timing_ in t.values() for v in timing_.loads]
    ms = {e: v.median * 1e3 for e, v in t.items()}
    return {"shape": case.shape, "lr": case.lr, "clip": case.clip, "ms": ms,
            "steps_per_s": {e: 1e3 / v for e, v in ms.items()},
            "tg_over_torch_speed": ms["torch"] / ms["tg"],
            "min_ms": {e: v.min * 1e3 for e, v in t.items()},
            "max_ms": {e: v.max * 1e3 for e, v in t.items()},
            "per_batch": {e: v.number for e, v in t.items()},
            "redone": {e: v.redone for e, v in t.items()},
            "batch_load": {"mean": float(np.mean(loads)), "max": float(np.max(loads))} if loads else None,
            "gradient_gap": gap}


def table(results):
    lines = ["| model | tg ms | torch ms | tg steps/s | torch steps/s | tg / torch (speed) | other load (cores) |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, r in results.items():
        load = r["batch_load"]
        lines.append(f"| {name} | {r['ms']['tg']:.1f} | {r['ms']['torch']:.1f} | "
                     f"{r['steps_per_s']['tg']:.1f} | {r['steps_per_s']['torch']:.1f} | "
                     f"**{r['tg_over_torch_speed']:.2f}** | "
                     f"{load['mean']:.2f} (max {load['max']:.2f}) |" if load else "|")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=sorted(step_cases.CASES), action="append",
                        help="time only this model (repeatable)")
    parser.add_argument("--repeat", type=int, default=7, help="timed batches per engine (>= 7)")
    parser.add_argument("--batches", type=int, default=4, help="data batches stepped through (4)")
    timing.add_options(parser, threads=1, batch_seconds=1.0)
    args = parser.parse_args(argv)
    limiter = timing.set_threads(args.threads, torch)  # noqa: F841 (kept alive: the limits hold)
    if args.repeat < 7:
        print(f"note: --repeat {args.repeat}; the benchmark rules ask for a median of >= 7")
    for line in timing.machine_report(numpy=np.__version__, torch=torch.__version__):
        print(line)
    print(f"threads: --threads {args.threads}: {timing.thread_report(torch)}")
    meter, results = timing.LoadMeter(), {}
    for name in args.only or list(step_cases.CASES):
        if args.wait_quiet > 0:
            waited = timing.wait_for_quiet(args.max_load, timeout_s=args.wait_quiet)
            if waited > 2.5:
                print(f"({name}: waited {waited:.0f} s for other processes to quieten)")
        r = results[name] = bench(name, args)
        print(f"{name}: tg {r['ms']['tg']:.1f} ms, torch {r['ms']['torch']:.1f} ms, tg / torch "
              f"speed {r['tg_over_torch_speed']:.2f}", flush=True)
        if r["batch_load"] and r["batch_load"]["mean"] > args.max_load:
            print(f"WARNING: {name} ran beside {r['batch_load']['mean']:.2f} cores of other "
                  f"processes' load; its times are suspect, rerun it")
    load = meter.read()
    print()
    print("\n".join(table(results)))
    print(f"\nother processes' load over the whole run ({load['wall_s']:.0f} s): "
          f"{timing.describe_load(load)}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump({"threads": args.threads, "repeat": args.repeat, "batches": args.batches,
                       "cases": results, "load": load,
                       "run": timing.run_record(torch, numpy=np.__version__)}, file, indent=1)


if __name__ == "__main__":
    main()
