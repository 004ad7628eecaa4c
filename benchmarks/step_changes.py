"""Before and after, in one process: each change made to the whole training step (outside the
recurrent kernels), timed against the code it replaced, alone on the models' own arrays and
within the whole step of the char-LM and the seq2seq dates model (benchmarks/step_cases.py),
beside the PyTorch twin's step.

The code replaced is kept here, as it was, and swapped in for the "before" engine:

  embedding backward   ``Take.backward``: ``add.at`` of whole rows; now one flat index per
                       element, NumPy's fast 1-d ``add.at`` loop (the same sums, bit for bit)
  cross-entropy        ``-gather(log_softmax(logits), target)``, four nodes and a scatter in the
                       gradient; now ``softmax_cross_entropy``, one node
  clipping             the 2-norm after dividing by the largest magnitude, in float64 (seven
                       passes); now float64 dot products over chunks (the old path stays for
                       overflow and underflow)
  Adam                 a new array per arithmetic operation; now two scratch arrays (``out=``)

Timing follows benchmarks/timing.py (same threads, settle pause, own batch sizes, interleaved,
median of ``--repeat``, other processes' load measured and printed).

    python benchmarks/step_changes.py --threads 1
    python benchmarks/step_changes.py --threads 2 --json out.json
"""
import argparse
import json
from contextlib import ExitStack, contextmanager

import numpy as np

import step_cases
import timing
import tinygrad_seq as tg
from tinygrad_seq import ops
from tinygrad_seq.ops import indexing
from tinygrad_seq.optim import adam, clip

import torch


# ---------------------------------------------------------------- the code replaced

def take_backward_before(ctx, g):
    xp = ctx.xp
    (indices,) = ctx.saved
    grad = xp.zeros(ctx.shape, dtype=ctx.dtype)
    axis = ctx.axis
    flat = g.reshape(g.shape[:axis] + (indices.size,) + g.shape[axis + indices.ndim:])
    xp.add.at(xp.moveaxis(grad, axis, 0), indices.reshape(-1), xp.moveaxis(flat, axis, 0))
    return grad, None


def cross_entropy_before(logits, target):
    return -ops.gather(ops.log_softmax(logits, -1), -1, target.unsqueeze(-1)).squeeze(-1)


def adam_update_before(self, param, grad, state, group, xp):
    lr, (beta1, beta2), weight_decay = group["lr"], group["betas"], group["weight_decay"]
    step = state["step"] = state.get("step", 0) + 1
    exp_avg = adam.buffer(state, "exp_avg", param, xp)
    exp_avg_sq = adam.buffer(state, "exp_avg_sq", param, xp)
    exp_avg += (1 - beta1) * (grad - exp_avg)
    exp_avg_sq *= beta2
    exp_avg_sq += (1 - beta2) * grad * grad
    denom = xp.sqrt(exp_avg_sq) / (1 - beta2 ** step) ** 0.5
    denom += group["eps"]
    param += (-lr / (1 - beta1 ** step)) * exp_avg / denom


@contextmanager
def swapped(owner, attribute, value):
    saved = getattr(owner, attribute)
    setattr(owner, attribute, value)
    try:
        yield
    finally:
        setattr(owner, attribute, saved)


CHANGES = {
    "embedding backward": lambda: swapped(indexing.Take, "backward", take_backward_before),
    "cross-entropy": lambda: swapped(ops, "softmax_cross_entropy", cross_entropy_before),
    "clipping": lambda: swapped(clip, "_SQUARES_LOW", float("inf")),  # always the scaled path
    "Adam": lambda: swapped(adam.Adam, "_update", adam_update_before),
}


@contextmanager
def before(names=CHANGES):
    with ExitStack() as stack:
        for name in names:
            stack.enter_context(CHANGES[name]())
        yield


def under(context, step):
    def run():
        with context():
            step()
    return run


# ---------------------------------------------------------------- each change alone

def alone(case):
    """name -> (step of one change's work on this case's arrays) for what the case uses."""
    model, batch = case.tg_model, case.batches[0]
    model.zero_grad()
    case.tg_loss(batch).backward()
    params = list(model.parameters())
    grads = [p.grad for p in params]
    work = {}
    embedding = getattr(model, "embedding", None) or getattr(model, "target_embedding", None)
    ids = tg.tensor(np.asarray(batch[0] if isinstance(batch, tuple) else batch["inputs"]))
    rows = embedding(ids)
    seed = tg.ones(*rows.shape)
    work["embedding backward"] = lambda: rows.backward(seed, retain_graph=True)
    logits = tg.randn(*ids.shape, model.head.weight.shape[0], requires_grad=True)
    targets = tg.tensor(np.asarray(ids.numpy()) % logits.shape[-1])
    work["cross-entropy"] = lambda: tg.nn.functional.cross_entropy(logits, targets).backward()

    def clipping():
        for p, g in zip(params, grads):
            p.grad = g
        clip.clip_grad_norm_(params, 1e-6)
    work["clipping"] = clipping
    optimizer = tg.optim.Adam(params, lr=1e-9)
    work["Adam"] = optimizer.step
    return work


def time_changes(name, case, args):
    rows = {}
    for change, step in alone(case).items():
        steps = {"after": step, "before": under(lambda c=change: before([c]), step)}
        rows[change] = timed(steps, args)
    return rows


def timed(steps, args):
    for step in steps.values():
        step()
    t = timing.interleaved(steps, args.repeat, args.batch_seconds, args.pause,
                           max_load=args.max_load, retries=args.retries, quiet_s=args.wait_quiet)
    loads = [v for timing_ in t.values() for v in timing_.loads]
    return {"ms": {k: v.median * 1e3 for k, v in t.items()},
            "min_ms": {k: v.min * 1e3 for k, v in t.items()},
            "max_ms": {k: v.max * 1e3 for k, v in t.items()},
            "per_batch": {k: v.number for k, v in t.items()},
            "batch_load": {"mean": float(np.mean(loads)), "max": float(np.max(loads))} if loads else None}


def whole_step(case, args):
    after = step_cases.tg_step(case)
    steps = {"tg after": after, "tg before": under(before, step_cases.tg_step(case)),
             "torch": step_cases.torch_step(case)}
    return timed(steps, args)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=["charlm", "seq2seq"], action="append")
    parser.add_argument("--repeat", type=int, default=7)
    timing.add_options(parser, threads=1, batch_seconds=0.5)
    args = parser.parse_args(argv)
    limiter = timing.set_threads(args.threads, torch)  # noqa: F841 (kept alive: the limits hold)
    for line in timing.machine_report(numpy=np.__version__, torch=torch.__version__):
        print(line)
    print(f"threads: {timing.thread_report(torch)}")
    meter, results = timing.LoadMeter(), {}
    for name in args.only or ["charlm", "seq2seq"]:
        if args.wait_quiet > 0:
            timing.wait_for_quiet(args.max_load, timeout_s=args.wait_quiet)
        case, _ = step_cases.make(name)
        results[name] = {"changes": time_changes(name, case, args), "step": whole_step(case, args)}
        print(f"\n{name}: ms, median of {args.repeat}")
        print("| work | before | after | after / before | other load (cores) |")
        print("|---|---:|---:|---:|---:|")
        for change, r in results[name]["changes"].items():
            print(f"| {change} | {r['ms']['before']:.3f} | {r['ms']['after']:.3f} | "
                  f"**{r['ms']['after'] / r['ms']['before']:.2f}** | {r['batch_load']['mean']:.2f} |")
        s = results[name]["step"]
        print(f"| whole step | {s['ms']['tg before']:.1f} | {s['ms']['tg after']:.1f} | "
              f"**{s['ms']['tg after'] / s['ms']['tg before']:.2f}** | {s['batch_load']['mean']:.2f} |")
        print(f"torch step {s['ms']['torch']:.1f} ms: tg / torch before "
              f"{s['ms']['tg before'] / s['ms']['torch']:.2f}, after "
              f"{s['ms']['tg after'] / s['ms']['torch']:.2f}", flush=True)
    load = meter.read()
    print(f"\nother processes' load over the run ({load['wall_s']:.0f} s): {timing.describe_load(load)}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump({"threads": args.threads, "repeat": args.repeat, "cases": results,
                       "load": load, "run": timing.run_record(torch, numpy=np.__version__)},
                      file, indent=1)


if __name__ == "__main__":
    main()
