"""Where the time of a whole training step goes, tg beside its PyTorch twin: the phase table and
cProfile's top functions for the char-LM and the seq2seq dates model (benchmarks/step_cases.py:
the same model, weights and batches in both engines).

Phases. Forward: each phase is a call of the model's own code, timed by wrapping it (the
embedding modules, the recurrent layers, the output layers, the loss function; a phase inside
another is taken out of the outer one; ``other`` is the rest: batches made tensors,
slicing, the attention's set-up). Backward: tg times every node's backward (each node carries the
phase of the forward that made it), and ``backward walk`` is the rest of ``backward()`` (the
topological sort, gradient bookkeeping, the leaves' ``.grad``); torch times every autograd node
between a pre-hook and a hook, each node given the phase whose forward made it (by its sequence
number), and its ``backward walk`` is the rest of ``backward()`` (the engine, and the hooks
themselves). Then ``zero grad``, ``clipping``, ``optimizer``. ``allocation`` is not a phase but a
part of all of them: tg's time inside NumPy's array-making calls (``zeros``, ``empty``, ``*_like``,
``copy``, ``ascontiguousarray``) from cProfile, and both engines' minor page faults per step
(fresh memory the kernel maps in).

The phase timers add a little work (a Python call per op; torch's hooks per node): ``step
(uninstrumented)`` is the median step without them, interleaved with torch's (benchmarks/timing.py).

    python benchmarks/step_profile.py --threads 1
    python benchmarks/step_profile.py --only charlm --steps 20 --json out.json
"""
import argparse
import cProfile
import json
import os
import pstats
import resource
import statistics
import time
from contextlib import contextmanager

import numpy as np

import step_cases
import timing
import tinygrad_seq as tg
from tinygrad_seq import autograd

import torch

FORWARD = ("embedding", "recurrent", "output projection", "loss", "other")
PHASES = (tuple(f"{p} fwd" for p in FORWARD) + tuple(f"{p} bwd" for p in FORWARD)
          + ("backward walk", "zero grad", "clipping", "optimizer"))
ALLOCATING = ("zeros", "empty", "zeros_like", "empty_like", "ones", "full", "copy",
              "ascontiguousarray", "astype")


class Clock:
    """Seconds per phase; ``wrap`` makes a call count to a phase (nested calls leave the outer)."""

    def __init__(self):
        self.totals = dict.fromkeys(PHASES, 0.0)
        self.stack, self.since = [], None

    def _switch(self):
        now = time.perf_counter()
        if self.stack:
            self.totals[self.stack[-1] + " fwd"] += now - self.since
        self.since = now

    @contextmanager
    def phase(self, name):
        self._switch()
        self.stack.append(name)
        try:
            yield
        finally:
            self._switch()
            self.stack.pop()

    @property
    def current(self):
        return self.stack[-1] if self.stack else "other"

    def wrap(self, owner, attribute, name):
        original = getattr(owner, attribute)

        def timed(*args, **kwargs):
            with self.phase(name):
                return original(*args, **kwargs)
        setattr(owner, attribute, timed)


def tg_wraps(name, case):
    model, F = case.tg_model, tg.nn.functional
    if name == "charlm":
        return [(model.embedding, "forward", "embedding"), (model.rnn, "forward", "recurrent"),
                (model.head, "forward", "output projection"), (F, "cross_entropy", "loss")]
    return [(model, "encode", "recurrent"), (model, "teacher_forced", "recurrent"),
            (model.source_embedding, "forward", "embedding"),
            (model.target_embedding, "forward", "embedding"),
            (model.combine, "forward", "output projection"),
            (model.head, "forward", "output projection"), (F, "cross_entropy", "loss")]


def torch_wraps(name, case):
    model = case.torch_model
    if name == "charlm":
        return [(model.embedding, "forward", "embedding"), (model.rnn, "forward", "recurrent"),
                (model.head, "forward", "output projection"),
                (torch.nn.functional, "cross_entropy", "loss")]
    return [(model, "forward", "recurrent"), (model.source_embedding, "forward", "embedding"),
            (model.target_embedding, "forward", "embedding"),
            (model.combine, "forward", "output projection"),
            (model.head, "forward", "output projection"),
            (torch.nn.functional, "cross_entropy", "loss")]


@contextmanager
def wrapped(clock, wraps):
    saved = [(owner, attribute, getattr(owner, attribute), attribute in vars(owner))
             for owner, attribute, _ in wraps]
    for owner, attribute, name in wraps:
        clock.wrap(owner, attribute, name)
    try:
        yield
    finally:
        for owner, attribute, value, own in reversed(saved):
            if own:
                setattr(owner, attribute, value)
            else:
                delattr(owner, attribute)


# ---------------------------------------------------------------- tg

@contextmanager
def tg_tagging(clock):
    """Every node made remembers its phase; every node's backward is timed to that phase."""
    apply, step = autograd.Function.__dict__["apply"], autograd._backward_step

    def tagged(cls, *inputs, **options):
        out = apply.__func__(cls, *inputs, **options)
        first = out[0] if type(out) is tuple else out
        if first._ctx is not None:
            first._ctx.phase = clock.current
        return out

    def timed(node, *args):
        start = time.perf_counter()
        step(node, *args)
        clock.totals[getattr(node, "phase", "other") + " bwd"] += time.perf_counter() - start
    autograd.Function.apply, autograd._backward_step = classmethod(tagged), timed
    try:
        yield
    finally:
        autograd.Function.apply, autograd._backward_step = apply, step


def tg_profiled_step(name, case):
    clock, optimizer, turn = Clock(), tg.optim.Adam(case.tg_model.parameters(), lr=case.lr), [0]

    def step():
        t0 = time.perf_counter()
        optimizer.zero_grad()
        t1 = time.perf_counter()
        with wrapped(clock, tg_wraps(name, case)), tg_tagging(clock):
            with clock.phase("other"):
                loss = case.tg_loss(case.batches[turn[0] % len(case.batches)])
            before = sum(clock.totals[p] for p in PHASES if p.endswith(" bwd"))
            t2 = time.perf_counter()
            loss.backward()
            t3 = time.perf_counter()
        nodes = sum(clock.totals[p] for p in PHASES if p.endswith(" bwd")) - before
        clock.totals["backward walk"] += (t3 - t2) - nodes
        if case.clip:
            tg.optim.clip_grad_norm_(case.tg_model.parameters(), case.clip)
        t4 = time.perf_counter()
        optimizer.step()
        t5 = time.perf_counter()
        clock.totals["zero grad"] += t1 - t0
        clock.totals["clipping"] += t4 - t3
        clock.totals["optimizer"] += t5 - t4
        turn[0] += 1
    return clock, step


# ---------------------------------------------------------------- torch

def _sequence_mark():
    """The autograd sequence number the next node will get (a throwaway node's)."""
    return (torch.ones(1, requires_grad=True) * 1).grad_fn._sequence_nr() + 1


def torch_profiled_step(name, case):
    clock, optimizer, turn = Clock(), torch.optim.Adam(case.torch_model.parameters(), lr=case.lr), [0]
    marks = []   # (first sequence number of a stretch, its phase)
    original_phase = clock.phase

    @contextmanager
    def marked(phase_name):
        with original_phase(phase_name):
            marks.append((_sequence_mark(), clock.current))
            try:
                yield
            finally:
                parent = clock.stack[-2] if len(clock.stack) > 1 else "other"
                marks.append((_sequence_mark(), parent))
    clock.phase = marked

    def phase_of(node):
        number, found = node._sequence_nr(), "other"
        for first, phase in marks:
            if first <= number:
                found = phase
        return found

    def hook_all(root):
        seen, stack, started = set(), [root], {}
        while stack:
            node = stack.pop()
            if node is None or node in seen:
                continue
            seen.add(node)
            if type(node).__name__ != "AccumulateGrad":
                phase = phase_of(node) + " bwd"
                node.register_prehook(lambda g, n=node: started.__setitem__(n, time.perf_counter()))
                node.register_hook(lambda gi, go, n=node, p=phase: clock.totals.__setitem__(
                    p, clock.totals[p] + time.perf_counter() - started[n]))
            stack.extend(next_node for next_node, _ in node.next_functions)

    def step():
        t0 = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        t1 = time.perf_counter()
        marks.clear()
        with wrapped(clock, torch_wraps(name, case)):
            with clock.phase("other"):
                loss = case.torch_loss(case.batches[turn[0] % len(case.batches)])
        hook_all(loss.grad_fn)
        before = sum(clock.totals[p] for p in PHASES if p.endswith(" bwd"))
        t2 = time.perf_counter()
        loss.backward()
        t3 = time.perf_counter()
        nodes = sum(clock.totals[p] for p in PHASES if p.endswith(" bwd")) - before
        clock.totals["backward walk"] += (t3 - t2) - nodes
        if case.clip:
            torch.nn.utils.clip_grad_norm_(case.torch_model.parameters(), case.clip)
        t4 = time.perf_counter()
        optimizer.step()
        t5 = time.perf_counter()
        clock.totals["zero grad"] += t1 - t0
        clock.totals["clipping"] += t4 - t3
        clock.totals["optimizer"] += t5 - t4
        turn[0] += 1
    return clock, step


# ---------------------------------------------------------------- measuring

def phase_table(engine_step, steps, pause):
    """Per-phase ms per step over ``steps`` profiled steps (after one untimed)."""
    clock, step = engine_step
    step()
    clock.totals = dict.fromkeys(PHASES, 0.0)
    for _ in range(steps):
        timing.settle(pause)
        step()
    return {p: clock.totals[p] * 1e3 / steps for p in PHASES}


def minor_faults(step, steps):
    """Minor page faults per step: memory mapped in fresh."""
    step()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(steps):
        step()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / steps


def profile_top(step, steps, top):
    """cProfile of ``steps`` steps: the ``top`` functions by own time, ms and calls per step, and
    the ms per step inside NumPy's array-making calls."""
    step()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(steps):
        step()
    profiler.disable()
    stats = pstats.Stats(profiler).stats
    rows = sorted(stats.items(), key=lambda item: -item[1][2])[:top]
    functions = [{"function": f"{os.path.relpath(f) if f.startswith('/') else f}:{line}({fn})",
                  "ms": tt * 1e3 / steps, "calls": nc / steps}
                 for (f, line, fn), (_cc, nc, tt, _ct, _callers) in rows]
    allocating = sum(tt for (f, _line, fn), (_cc, _nc, tt, _ct, _c) in stats.items()
                     if any(fn in (f"<built-in method numpy.{name}>",
                                   f"<method '{name}' of 'numpy.ndarray' objects>")
                            for name in ALLOCATING)
                     or (f.endswith("numeric.py") and fn in ALLOCATING))
    return functions, allocating * 1e3 / steps


def profile_case(name, args):
    case, (worst, gap) = step_cases.make(name, args.batches)
    print(f"{name}: tg and torch compute the same loss and gradients (largest gap {gap:.1e}, {worst})",
          flush=True)
    plain = {"tg": step_cases.tg_step(case), "torch": step_cases.torch_step(case)}
    for step in plain.values():
        step()
    timings = timing.interleaved(plain, args.repeat, args.batch_seconds, args.pause,
                                 max_load=args.max_load, retries=args.retries, quiet_s=args.wait_quiet)
    result = {"shape": case.shape, "engines": {}}
    for engine, profiled in (("tg", tg_profiled_step(name, case)),
                             ("torch", torch_profiled_step(name, case))):
        phases = phase_table(profiled, args.steps, args.pause)
        functions, allocating = profile_top(plain[engine], args.steps, args.top)
        t = timings[engine]
        result["engines"][engine] = {
            "phases_ms": phases, "instrumented_ms": sum(phases.values()),
            "step_ms": t.median * 1e3, "step_min_ms": t.min * 1e3, "step_max_ms": t.max * 1e3,
            "per_batch": t.number, "batch_load": statistics.mean(t.loads) if t.loads else None,
            "cprofile_top": functions, "allocation_ms": allocating,
            "minor_faults": minor_faults(plain[engine], args.steps)}
    return result


def print_case(name, r):
    tg_r, torch_r = r["engines"]["tg"], r["engines"]["torch"]
    print(f"\n{name} {r['shape']}")
    print("| phase | tg ms | tg share | torch ms | torch share | tg − torch ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for p in PHASES:
        a, b = tg_r["phases_ms"][p], torch_r["phases_ms"][p]
        if a < 0.005 and b < 0.005:
            continue
        print(f"| {p} | {a:.2f} | {a / tg_r['instrumented_ms']:.1%} | {b:.2f} | "
              f"{b / torch_r['instrumented_ms']:.1%} | {a - b:+.2f} |")
    print(f"| sum of the phases | {tg_r['instrumented_ms']:.1f} | | {torch_r['instrumented_ms']:.1f} | | "
          f"{tg_r['instrumented_ms'] - torch_r['instrumented_ms']:+.1f} |")
    print(f"| step (uninstrumented, median) | {tg_r['step_ms']:.1f} | | {torch_r['step_ms']:.1f} | | "
          f"tg / torch **{tg_r['step_ms'] / torch_r['step_ms']:.2f}** |")
    for engine in ("tg", "torch"):
        e = r["engines"][engine]
        load = f"{e['batch_load']:.2f}" if e["batch_load"] is not None else "?"
        print(f"{engine}: allocation calls {e['allocation_ms']:.2f} ms/step, "
              f"{e['minor_faults']:.0f} minor page faults/step, other load {load} cores")
    print("tg cProfile (own time, ms per step, calls per step):")
    for row in tg_r["cprofile_top"][:12]:
        print(f"  {row['ms']:8.2f} {row['calls']:7.1f}  {row['function']}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=["charlm", "seq2seq"], action="append")
    parser.add_argument("--steps", type=int, default=10, help="profiled steps per engine (10)")
    parser.add_argument("--repeat", type=int, default=7, help="timed batches of the plain step (7)")
    parser.add_argument("--batches", type=int, default=4, help="data batches stepped through (4)")
    parser.add_argument("--top", type=int, default=25, help="cProfile rows kept (25)")
    timing.add_options(parser, threads=1, batch_seconds=1.0)
    args = parser.parse_args(argv)
    limiter = timing.set_threads(args.threads, torch)  # noqa: F841 (kept alive: the limits hold)
    for line in timing.machine_report(numpy=np.__version__, torch=torch.__version__):
        print(line)
    print(f"threads: {timing.thread_report(torch)}")
    meter, results = timing.LoadMeter(), {}
    for name in args.only or ["charlm", "seq2seq"]:
        if args.wait_quiet > 0:
            timing.wait_for_quiet(args.max_load, timeout_s=args.wait_quiet)
        results[name] = profile_case(name, args)
        print_case(name, results[name])
    load = meter.read()
    print(f"\nother processes' load over the run ({load['wall_s']:.0f} s): {timing.describe_load(load)}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump({"threads": args.threads, "steps": args.steps, "repeat": args.repeat,
                       "phases": PHASES, "cases": results, "load": load,
                       "run": timing.run_record(torch, numpy=np.__version__)}, file, indent=1)


if __name__ == "__main__":
    main()
