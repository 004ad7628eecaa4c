"""Data-parallel throughput of the char-LM: samples/s on 1 and on 2 processes of one BLAS thread
each, through the real harness (``python -m models.charlm train [--distributed]``), with the
communication share of each step and the machine's load around every run.

    .venv/bin/python benchmarks/distributed_bench.py                 # 2 x LSTM 256, batch 32
    .venv/bin/python benchmarks/distributed_bench.py --steps 40 --repeats 3 --json out.json

Needs the distributed extra (mpi4py and the mpich wheel: ``pip install -e ".[distributed]"``).
The same global batch (``--batch-size``) is split over the processes, so both runs train on the
same samples; a step's rate is the global batch over the step's wall time (rank 0's clock), and
the warm-up steps are left out. Both runs pass ``--distributed`` (alone: a world of one) so
that the harness logs each step's ``comm`` and ``cpu`` seconds. ``comm`` is the time a step spends in gradient averaging,
waiting for the slower rank included; the allreduce probe times the Allreduce of the same
number of gradients with the ranks already in step (barrier first), i.e. the transfer alone.
1- and 2-process runs alternate, so that load from other users falls on both alike; the load
averages (1 minute) before and after every run are printed with it. On a loaded machine the
wall-clock speed-up measures the share of the cores the runs got, so the CPU time of a step
(rank 0's) is printed too: its ratio is the speed-up with two free cores.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import timing  # this folder's: the run's command, machine and thread pools for --json

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def mpiexec():
    here = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    return here if os.access(here, os.X_OK) else shutil.which("mpiexec")


def load():
    return round(os.getloadavg()[0], 2)


def run(processes, args, out, batch=None):
    batch = batch or args.batch_size
    command = [sys.executable, "-m", "models.charlm", "train", "--threads", "1",
               "--steps", str(args.steps), "--batch-size", str(batch),
               "--hidden-size", str(args.hidden_size), "--layers", str(args.layers),
               "--bptt", str(args.bptt), "--eval-every", "1000000", "--eval-seconds", "1e9",
               "--eval-windows", "4", "--sample-length", "1", "--progress", "off",
               "--minutes", "0", "--out", out]
    command += ["--distributed", "--bucket-mb", str(args.bucket_mb)]  # alone: a world of one
    if processes > 1:
        command = [mpiexec(), "-n", str(processes)] + command
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    before = load()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env)
    if done.returncode:
        sys.exit(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}")
    with open(os.path.join(out, "metrics.jsonl")) as file:
        train = [json.loads(line) for line in file if '"kind": "train"' in line]
    steps = train[args.warmup:]
    took = [b["seconds"] - a["seconds"] for a, b in zip(train[args.warmup - 1:], steps)]
    comm = [r["comm"] for r in steps]
    cpu = [r["cpu"] for r in steps]
    return {"processes": processes, "batch": batch, "samples_per_s": batch * len(took) / sum(took),
            "cpu_share": sum(cpu) / sum(took), "cpu_ms": 1000 * statistics.median(cpu),
            "step_ms": 1000 * statistics.median(took),
            "comm_ms": 1000 * statistics.median(comm),
            "comm_share": sum(comm) / sum(took), "load_before": before, "load_after": load()}


def allreduce_probe(count, repeats=50):
    """Run under mpiexec: median seconds of one in-place Allreduce of ``count`` float32s."""
    import numpy as np
    from mpi4py import MPI
    comm, buffer, times = MPI.COMM_WORLD, np.ones(count, dtype=np.float32), []
    for _ in range(repeats):
        comm.Barrier()
        began = time.perf_counter()
        comm.Allreduce(MPI.IN_PLACE, buffer)
        times.append(time.perf_counter() - began)
    if comm.Get_rank() == 0:
        print(json.dumps({"allreduce_ms": 1000 * statistics.median(times),
                          "megabytes": count * 4 / 2**20}))


def parameter_count(args):
    sys.path.insert(0, ROOT)
    from models.charlm import CharLM
    vocab = 166  # the stdlib corpus
    model = CharLM(vocab, 64, args.hidden_size, args.layers)
    return sum(p.size for p in model.parameters())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2, help="pairs of 1- and 2-process runs")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--hidden-size", type=int, default=256)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--bptt", type=int, default=100)
    parser.add_argument("--bucket-mb", type=float, default=25.0)
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument("--probe", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        return allreduce_probe(args.probe)
    if mpiexec() is None:
        sys.exit('no mpiexec: pip install -e ".[distributed]" (mpi4py and the mpich wheel)')
    params = parameter_count(args)
    print(f"char-LM {args.layers} x LSTM {args.hidden_size}: {params:,} parameters "
          f"({params * 4 / 2**20:.2f} MB of float32 gradients a step); global batch "
          f"{args.batch_size} x {args.bptt} characters; {os.cpu_count()} CPUs; load average "
          f"{load()}")
    results, halves = [], []
    with tempfile.TemporaryDirectory() as scratch:
        for repeat in range(args.repeats):
            for processes in (1, 2):
                result = run(processes, args, os.path.join(scratch, f"r{repeat}p{processes}"))
                results.append(result)
                if processes == 2:  # one process on one rank's share: the best 2 could do
                    half = run(1, args, os.path.join(scratch, f"r{repeat}half"), args.batch_size // 2)
                    halves.append(half)
                print(f"  {processes} process{'es' if processes > 1 else '  '}: "
                      f"{result['samples_per_s']:6.1f} samples/s, step {result['step_ms']:6.0f} ms, "
                      f"comm {result['comm_ms']:5.1f} ms ({100 * result['comm_share']:4.1f} % of "
                      f"the step), rank 0 had the CPU {100 * result['cpu_share']:3.0f} % of the "
                      f"step, load {result['load_before']} -> {result['load_after']}",
                      flush=True)
    probe = subprocess.run([mpiexec(), "-n", "2", sys.executable, os.path.abspath(__file__),
                            "--probe", str(params)], capture_output=True, text=True, cwd=ROOT)
    transfer = json.loads(probe.stdout.strip().splitlines()[-1]) if probe.returncode == 0 else None
    best = {p: max(r["samples_per_s"] for r in results if r["processes"] == p) for p in (1, 2)}
    pairs = [b["samples_per_s"] / a["samples_per_s"] for a, b in zip(results[::2], results[1::2])]
    print(f"speed-up of 2 processes: {best[2] / best[1]:.2f}x best against best, "
          f"{', '.join(f'{x:.2f}x' for x in pairs)} run against run (target 1.7x)")
    cpu = {p: statistics.median(r["cpu_ms"] for r in results if r["processes"] == p) for p in (1, 2)}
    cpu_half = statistics.median(r["cpu_ms"] for r in halves)
    print(f"CPU time of a step of one process on batch {args.batch_size // 2} (a rank's share): "
          f"{cpu_half:.0f} ms, so even free communication would give at most "
          f"{cpu[1] / cpu_half:.2f}x; the data-parallel overhead is {cpu[2] - cpu_half:.0f} ms a step")
    print(f"CPU time of a step (rank 0): {cpu[1]:.0f} ms on 1 process, {cpu[2]:.0f} ms on 2: "
          f"with a core each, free of other load, 2 processes would run {cpu[1] / cpu[2]:.2f}x "
          f"as fast (MPICH's waits spin, so waiting counts as CPU: a lower bound)")
    if transfer:
        print(f"one Allreduce of the {transfer['megabytes']:.2f} MB of gradients, ranks in step: "
              f"{transfer['allreduce_ms']:.2f} ms")
    if args.json:
        with open(args.json, "w") as file:
            json.dump({"parameters": params, "runs": results, "speedup_best": best[2] / best[1],
                       "speedup_pairs": pairs, "allreduce": transfer,
                       "speedup_cpu_time": cpu[1] / cpu[2], "half_batch_runs": halves,
                       "speedup_cpu_time_bound": cpu[1] / cpu_half, "cpus": os.cpu_count(),
                       "args": vars(args), "run": timing.run_record()}, file, indent=1)


if __name__ == "__main__":
    main()
