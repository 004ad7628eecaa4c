"""Milliseconds per recurrent training step, and the memory of one: tinygrad_seq, torch.nn, and
a PyTorch loop of the same cell written from primitive ops.

A training step is: forward over the whole sequence, MSE of all outputs against a fixed target,
backward into every parameter (gradients reset before each step). Three engines:

  tg          ``tg.nn.LSTM/GRU/RNN``; ``--tg-variant graph|compiled|fused`` passes ``engine=``
              only when the constructor takes it (a build from before ``engine=`` takes
              ``fused=True/False`` for fused/graph), and the output says which ran
  torch loop  the cells of ``tinygrad_seq/nn/cells.py`` written op for op with torch in a Python
              loop: the graph the declared cells build, so tg / torch loop measures the engine
  torch.nn    ``torch.nn.LSTM/GRU/RNN`` (ATen's recurrent kernels): what a user compares with

Timing follows benchmarks/timing.py: both libraries on ``--threads`` threads, a settle pause
before every timed batch, each engine's batch sized from its own speed, engines interleaved,
the median of ``--repeat``. The load of other processes is measured over every timed batch (a
batch run beside more than ``--max-load`` cores of it is timed again, ``--retries`` times at
most) and printed beside each config. Memory: the peak RSS increase of one training step of each ``--memory``
config, each engine in a fresh subprocess (peak reset after a short warm-up).

    python benchmarks/rnn_bench.py --threads 2             # every config, median of 7
    python benchmarks/rnn_bench.py --threads 1 --only lstm-small --repeat 15 --json out.json
"""
import argparse
import gc
import inspect
import json
import os
import subprocess
import sys
import time

import numpy as np

import timing

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
    "lstm-long": ("lstm", 1000, 32, 64, 256),
}
TIME_CONFIGS = ["lstm-50x32", "gru-50x32", "rnn-50x32", "lstm-small", "lstm-wide"]
MEMORY_CONFIGS = ["lstm-long"]
KIND_NAMES = {"lstm": "LSTM", "gru": "GRU", "rnn": "tanh RNN"}
TG_LAYERS = {"lstm": tg.nn.LSTM, "gru": tg.nn.GRU, "rnn": tg.nn.RNN}
GRAD_RTOL = 1e-3  # largest gradient difference allowed, relative to the parameter's largest


# ---------------------------------------------------------------- the tg variant

def tg_variant(kind, requested):
    """(constructor kwargs, what runs, a note) for ``--tg-variant``: ``engine=`` is passed only
    to a constructor that names it; one from before it takes ``fused=`` (fused, or graph: its
    declared cells), and one with neither runs its declared cells. A variant the build lacks
    ends the run, naming it, rather than timing another."""
    layer = TG_LAYERS[kind]
    params = inspect.signature(layer).parameters
    name = layer.__name__
    if "engine" in params:
        if requested is None:
            default = params["engine"].default
            return {}, default, f"{name}(engine=...) left at its default, {default!r}"
        return {"engine": requested}, requested, f"{name}(engine={requested!r})"
    if "fused" in params:
        if requested == "compiled":
            raise SystemExit(f"--tg-variant compiled: this build's {name} has no engine= "
                             f"argument (it takes fused=True/False: fused or graph)")
        if requested is None:
            default = params["fused"].default
            ran = ("fused" if default is True else "graph" if default is False
                   else f"fused={default!r}")
            return {}, ran, f"{name}(fused=...) left at its default"
        return {"fused": requested == "fused"}, requested, f"{name}(fused={requested == 'fused'})"
    if requested not in (None, "graph"):
        raise SystemExit(f"--tg-variant {requested}: this build's {name} takes neither engine= "
                         f"nor fused=; it runs its declared cells (graph) only")
    return {}, "graph", f"{name} takes no engine= or fused= argument: its declared cells ran"


# ---------------------------------------------------------------- the three engines
# Each maker returns (step, grads): one training step, and the parameters' gradients by
# PyTorch's names. tg's and torch.nn's take a device too (benchmarks/gpu_check.py times them on
# CUDA; a step there returns before the GPU has finished, so the caller synchronises).

def tg_step(kind, x, target, weights, tg_kwargs, device="cpu"):
    layer = TG_LAYERS[kind](x.shape[2], target.shape[2], **tg_kwargs)
    layer.load_state_dict(weights)
    layer.to(device)
    xt, tt = tg.tensor(x, device=device), tg.tensor(target, device=device)
    params = dict(layer.named_parameters())

    def step():
        for p in params.values():
            p.grad = None
        out, _ = layer(xt)
        diff = out - tt
        (diff * diff).mean().backward()
    return step, lambda: {name: p.grad.numpy() for name, p in params.items()}


def torch_nn_step(kind, x, target, weights, tg_kwargs, device="cpu"):
    layer = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[kind](
        x.shape[2], target.shape[2])
    layer.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()})
    layer.to(device)
    xt, tt = torch.from_numpy(x).to(device), torch.from_numpy(target).to(device)

    def step():
        layer.zero_grad(set_to_none=True)
        out, _ = layer(xt)
        torch.nn.functional.mse_loss(out, tt).backward()
    return step, lambda: {name: p.grad.cpu().numpy() for name, p in layer.named_parameters()}


def torch_loop_step(kind, x, target, weights, tg_kwargs):
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
    return step, lambda: {name: p.grad.numpy() for name, p in w.items()}


MAKERS = {"tg": tg_step, "torch loop": torch_loop_step, "torch.nn": torch_nn_step}


def problem(name):
    """Input, target and initial weights (tg's initialiser, seed 0) of a config."""
    kind, steps, batch, inputs, hidden = CONFIGS[name]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((steps, batch, inputs)).astype(np.float32)
    target = rng.standard_normal((steps, batch, hidden)).astype(np.float32)
    tg.manual_seed(0)
    weights = {k: v.numpy() for k, v in TG_LAYERS[kind](inputs, hidden).state_dict().items()}
    return kind, x, target, weights


def engine_names():
    return ["tg"] + (["torch loop", "torch.nn"] if torch is not None else [])


def check_gradients(name, grads):
    """Every engine must compute torch.nn's gradients, or the timings compare different work."""
    if "torch.nn" not in grads:
        return
    reference = grads["torch.nn"]()
    for engine, read in grads.items():
        for param, got in read().items():
            ref = reference[param]
            error = float(np.max(np.abs(got - ref)) / max(float(np.max(np.abs(ref))), 1e-12))
            if not error <= GRAD_RTOL:
                raise SystemExit(f"{name}: {engine} and torch.nn disagree on the gradient of "
                                 f"{param} (max difference {error:.1e} of its largest value)")


# ---------------------------------------------------------------- timing

def bench(name, args, tg_kwargs):
    kind, x, target, weights = problem(name)
    steps, grads = {}, {}
    for engine in engine_names():
        steps[engine], grads[engine] = MAKERS[engine](kind, x, target, weights, tg_kwargs)
        steps[engine]()
    check_gradients(name, grads)
    meter = timing.LoadMeter()
    timings = timing.interleaved(steps, args.repeat, args.batch_seconds, args.pause,
                                 max_load=args.max_load, retries=args.retries,
                                 quiet_s=args.wait_quiet)
    loads = [load for t in timings.values() for load in t.loads]
    return {"ms": {e: t.median * 1e3 for e, t in timings.items()},
            "batch_load": {"mean": sum(loads) / len(loads), "max": max(loads)} if loads else None,
            "redone": {e: t.redone for e, t in timings.items()},
            "min_ms": {e: t.min * 1e3 for e, t in timings.items()},
            "max_ms": {e: t.max * 1e3 for e, t in timings.items()},
            "per_batch": {e: t.number for e, t in timings.items()},
            "load": meter.read()}


# ---------------------------------------------------------------- memory, one process each

def vm_status(field):
    """A ``Vm*`` line of /proc/self/status, in bytes (None where there is none)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def reset_peak_rss():
    """Set VmHWM back to the current RSS (Linux >= 4.0); False where the kernel refuses."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def memory_child(engine, name, tg_kwargs):
    """Runs in a fresh process: the peak RSS increase of one training step, as JSON."""
    kind, x, target, weights = problem(name)
    step, _ = MAKERS[engine](kind, x, target, weights, tg_kwargs)
    # both libraries initialise lazily (thread pools, autograd engine): do it off the count
    warm, _ = MAKERS[engine](kind, x[:2], target[:2], weights, tg_kwargs)
    warm()
    warm()
    del warm
    gc.collect()
    reset = reset_peak_rss()
    peak_before, rss_before = vm_status("VmHWM"), vm_status("VmRSS")
    start = time.perf_counter()
    step()
    seconds = time.perf_counter() - start
    peak_after = vm_status("VmHWM")
    if peak_after is None:  # no /proc: ru_maxrss is the peak of the whole process, in KiB
        import resource
        peak_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    # without a reset, a peak reached before the step hides a smaller one inside it
    known = reset or (peak_before is not None and peak_after > peak_before)
    increase = peak_after - rss_before if known and rss_before is not None else None
    print(json.dumps({"engine": engine, "config": name, "peak_increase_bytes": increase,
                      "rss_before_bytes": rss_before, "peak_bytes": peak_after,
                      "peak_reset": reset, "step_s": seconds}))


def memory(name, args):
    results = {}
    for engine in engine_names():
        command = [sys.executable, os.path.abspath(__file__), "--memory-child", engine, name,
                   "--threads", str(args.threads)]
        if args.tg_variant:
            command += ["--tg-variant", args.tg_variant]
        env = dict(os.environ)
        if engine != "tg":  # PyTorch on glibc's own malloc, as its users run it
            env["TINYGRAD_SEQ_MALLOC"] = "system"
        proc = subprocess.run(command, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            lines = (proc.stderr or proc.stdout).strip().splitlines() or ["no output"]
            results[engine] = {"error": f"exit {proc.returncode}: {lines[-1]}"}
        else:
            results[engine] = json.loads(proc.stdout.strip().splitlines()[-1])
    return results


# ---------------------------------------------------------------- printing

def cell(value, digits=1):
    if value is None:
        return "–"
    return f"{value:.{digits}f}" if value < 100 else f"{value:.0f}"


def ratio(a, b):
    return f"**{a / b:.2f}**" if a is not None and b else "–"


def batch_load(r):
    """Other processes' load during the kept batches: mean (max), in cores."""
    b = r["batch_load"]
    return f"{b['mean']:.2f} (max {b['max']:.2f})" if b else timing.describe_load(r["load"])


def time_table(results, tg_label):
    lines = [f"| config | T | B | I | H | {tg_label} | torch loop | torch.nn | tg / loop "
             f"| tg / torch.nn | other load (cores) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in results.items():
        kind, steps, batch, inputs, hidden = CONFIGS[name]
        ms = r["ms"]
        tg_ms, loop, nn = ms["tg"], ms.get("torch loop"), ms.get("torch.nn")
        lines.append(f"| {KIND_NAMES[kind]} | {steps} | {batch} | {inputs} | {hidden} | "
                     f"{cell(tg_ms)} | {cell(loop)} | {cell(nn)} | {ratio(tg_ms, loop)} | "
                     f"{ratio(tg_ms, nn)} | {batch_load(r)} |")
    return lines


def memory_table(results, tg_label):
    mb = lambda r: (r.get("peak_increase_bytes") / 2**20
                    if r.get("peak_increase_bytes") is not None else None)
    lines = [f"| config | T | B | I | H | {tg_label} MB | torch loop MB | torch.nn MB "
             f"| tg / torch.nn |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in results.items():
        kind, steps, batch, inputs, hidden = CONFIGS[name]
        values = {e: mb(r[e]) if e in r else None for e in ("tg", "torch loop", "torch.nn")}
        lines.append(f"| {KIND_NAMES[kind]} | {steps} | {batch} | {inputs} | {hidden} | "
                     f"{cell(values['tg'])} | {cell(values['torch loop'])} | "
                     f"{cell(values['torch.nn'])} | {ratio(values['tg'], values['torch.nn'])} |")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="timed batches per engine (>= 7)")
    parser.add_argument("--only", choices=sorted(CONFIGS), action="append",
                        help="time only this config (repeatable)")
    parser.add_argument("--memory", choices=sorted(CONFIGS), action="append",
                        help=f"measure the memory of this config (default {MEMORY_CONFIGS})")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory runs")
    parser.add_argument("--tg-variant", choices=["graph", "compiled", "fused"],
                        help="the engine of tg's layers (engine=, or fused= on an older build)")
    timing.add_options(parser, threads=os.cpu_count(), batch_seconds=0.3)
    parser.add_argument("--memory-child", nargs=2, metavar=("ENGINE", "CONFIG"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()

    limiter = timing.set_threads(args.threads, torch)  # noqa: F841 (kept alive: the limits hold)
    kind_of_first = CONFIGS[(args.only or TIME_CONFIGS)[0]][0]
    tg_kwargs, tg_ran, tg_note = tg_variant(kind_of_first, args.tg_variant)
    if args.memory_child:
        engine, name = args.memory_child
        memory_child(engine, name, tg_variant(CONFIGS[name][0], args.tg_variant)[0])
        return
    if args.repeat < 7:
        print(f"note: --repeat {args.repeat}; the benchmark rules ask for a median of >= 7")

    run_meter = timing.LoadMeter()
    for line in timing.machine_report(
            numpy=np.__version__, tinygrad_seq=getattr(tg, "__version__", "?"),
            torch=torch.__version__ if torch is not None else f"missing ({TORCH_MISSING})"):
        print(line)
    print(f"tinygrad_seq from: {os.path.dirname(os.path.abspath(tg.__file__))}")
    print(f"threads: --threads {args.threads}: {timing.thread_report(torch)}")
    print(f"tg variant: {tg_ran} ({tg_note})")
    print(f"timing: median of {args.repeat} interleaved batches of ~{args.batch_seconds} s per "
          f"engine, {args.pause} s settle pause before each; ms per training step")
    print(flush=True)

    results = {}
    for name in args.only or TIME_CONFIGS:
        if args.wait_quiet > 0:
            waited = timing.wait_for_quiet(args.max_load, timeout_s=args.wait_quiet)
            if waited > 2.5:
                print(f"({name}: waited {waited:.0f} s for other processes to quieten)", flush=True)
        r = results[name] = bench(name, args, tg_variant(CONFIGS[name][0], args.tg_variant)[0])
        spread = ", ".join(f"{e} {r['ms'][e]:.2f} ms ({r['min_ms'][e]:.2f}–{r['max_ms'][e]:.2f}, "
                           f"{r['per_batch'][e]}/batch)" for e in r["ms"])
        redone = sum(r["redone"].values())
        print(f"{name}: {spread}; other load {batch_load(r)} in the kept batches, "
              f"{timing.describe_load(r['load'])} over the config; {redone} batches timed again",
              flush=True)
        if r["batch_load"] and r["batch_load"]["mean"] > args.max_load:
            print(f"WARNING: {name} ran beside {r['batch_load']['mean']:.2f} cores of other "
                  f"processes' load; its times are suspect, rerun it")

    memory_results = {}
    if not args.no_memory:
        for name in args.memory or MEMORY_CONFIGS:
            memory_results[name] = m = memory(name, args)
            parts = []
            for e, v in m.items():
                if "error" in v:
                    parts.append(f"{e} failed: {v['error']}")
                else:
                    inc = v["peak_increase_bytes"]
                    parts.append(f"{e} +{inc / 2**20:.1f} MB in {v['step_s']:.2f} s"
                                 if inc is not None else f"{e} peak unknown (no reset)")
            print(f"memory {name}: " + "; ".join(parts), flush=True)

    load = run_meter.read()
    tg_label = f"tg ({tg_ran})"
    print()
    print("\n".join(time_table(results, tg_label)))
    if memory_results:
        print()
        print("Peak RSS increase of one training step, each engine in a fresh process:")
        print()
        print("\n".join(memory_table(memory_results, tg_label)))
    print()
    kept = [r["batch_load"]["mean"] for r in results.values() if r["batch_load"]]
    kept_mean = sum(kept) / len(kept) if kept else None
    print(f"other processes' load over the whole run ({load['wall_s']:.0f} s, waits included): "
          f"{timing.describe_load(load)}"
          + (f"; during the kept timed batches: {kept_mean:.2f} cores" if kept else ""))
    if kept_mean is not None and kept_mean > args.max_load:
        print(f"WARNING: that is above {args.max_load} cores: the timings are suspect, rerun")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"configs": CONFIGS, "threads": args.threads, "repeat": args.repeat,
                       "tg_variant": tg_ran, "tinygrad_seq": tg.__file__, "time": results,
                       "memory": memory_results, "load": load, "kept_batch_load": kept_mean,
                       "run": timing.run_record(torch, numpy=np.__version__)},
                      f, indent=1)


if __name__ == "__main__":
    main()
