"""Milliseconds per training step of the two models whose loops over time run through ``tg.scan``:
the compiled engine against the graph engine, and the seq2seq decoder against a PyTorch twin.

A training step is what the trainer runs: zero the gradients, forward, the loss, backward,
clip the gradient norm at 5, one Adam step.

  seq2seq           models/seq2seq.py at its dates config (character-level dates to ISO dates:
                    embedding 32, BiLSTM 64 a direction, LSTM decoder 128 with additive attention
                    and input feeding, batch 64, Adam 3e-3), on the first ``--batches`` batches of
                    its bucketed training epoch, one batch per step, in turn. Engines: tg with
                    ``engine="compiled"`` and ``"graph"``, and ``torch loop``: the same model as a
                    PyTorch user writes it (torch.nn.LSTM over the packed sources,
                    torch.nn.LSTMCell and the attention in a Python loop over the target steps;
                    like tg's model, the key projection before the loop, the output layers
                    after it), started from tg's weights; its loss and gradients are checked
                    against tg's before anything is timed.
  output-recurrent  models/output_recurrent.py trained free running (``--feedback free``: its own
                    softmax fed back, BPTT through the outputs) at its default config (embedding
                    64, hidden 256, windows of 100, batch 32, the stdlib characters), on
                    ``--batches`` random windows in turn. Engines: ``engine="compiled"`` and
                    ``"graph"``.

Timing follows benchmarks/timing.py: ``--threads`` threads for NumPy and PyTorch alike, a settle
pause before every timed batch, each engine's batch sized from its own speed, engines
interleaved, the median of ``--repeat``; the other processes' load is measured over every timed
batch and printed, with the load average.

    python benchmarks/model_loops.py --threads 1
    python benchmarks/model_loops.py --only seq2seq --repeat 9 --json out.json
"""
import argparse
import json
import os
import sys

import numpy as np

import timing

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # models/
import tinygrad_seq as tg  # noqa: E402
from models import charlm, output_recurrent, seq2seq  # noqa: E402
from models.seq2seq_model import Seq2Seq, loss_of  # noqa: E402
from tinygrad_seq.nn import functional as F  # noqa: E402

try:
    import torch
except ImportError as e:
    torch = None
    TORCH_MISSING = str(e)

CLIP, GRAD_RTOL = 5.0, 2e-3   # the trainer's clip; the largest gradient gap tg vs torch allowed


# ---------------------------------------------------------------- seq2seq: tg

def dates_batches(count):
    """The first ``count`` batches of the dates config's bucketed epoch, and the corpus."""
    corpus = seq2seq.Corpus("dates")
    preset = {**seq2seq.DEFAULTS, **seq2seq.PRESETS["dates"]}
    lengths = [len(source) for source, _ in corpus.train]
    order = tg.data.bucket_batches(lengths, preset["batch_size"], preset["bucket_width"], seed=0)
    batches = [seq2seq.make_batch([corpus.train[i] for i in next(order)]) for _ in range(count)]
    return batches, corpus, preset


def dates_model(corpus, preset, engine):
    tg.manual_seed(0)
    return Seq2Seq(len(corpus.source_vocab), len(corpus.target_vocab), preset["embedding_size"],
                   preset["hidden_size"], attention=preset["attention"], engine=engine)


def tg_training_step(model, loss_of_batch, batches, lr):
    """One training step per call, on the next of ``batches``; and the gradients of batch 0."""
    optimizer = tg.optim.Adam(model.parameters(), lr=lr)
    turn = [0]

    def step():
        optimizer.zero_grad()
        loss_of_batch(model, batches[turn[0] % len(batches)]).backward()
        tg.optim.clip_grad_norm_(model.parameters(), CLIP)
        optimizer.step()
        turn[0] += 1

    def gradients():
        model.zero_grad()
        loss = loss_of_batch(model, batches[0])
        loss.backward()
        return loss.item(), {name: p.grad.numpy() for name, p in model.named_parameters()}
    return step, gradients


# ---------------------------------------------------------------- seq2seq: the PyTorch twin

TWIN_NAMES = {"attention.layer.v": "v", "attention.layer.query_proj.weight": "query_proj.weight",
              "attention.layer.key_proj.weight": "key_proj.weight"}


def torch_twin():
    """The class, made only when torch is there."""
    nn = torch.nn

    class TorchSeq2Seq(nn.Module):
        """models/seq2seq_model.py's LSTM + additive attention + input feeding, step by step."""

        def __init__(self, source_size, target_size, embedding_size, hidden_size):
            super().__init__()
            size = 2 * hidden_size
            self.source_embedding = nn.Embedding(source_size, embedding_size)
            self.encoder = nn.LSTM(embedding_size, hidden_size, bidirectional=True)
            self.target_embedding = nn.Embedding(target_size, embedding_size)
            self.bridge = nn.Linear(size, size)
            self.decoder = nn.LSTMCell(embedding_size + size, size)
            self.query_proj = nn.Linear(size, size, bias=False)
            self.key_proj = nn.Linear(size, size, bias=False)
            self.v = nn.Parameter(torch.zeros(size))
            self.combine = nn.Linear(2 * size, size)
            self.head = nn.Linear(size, target_size)

        def forward(self, source, lengths, inputs):
            packed = nn.utils.rnn.pack_padded_sequence(self.source_embedding(source), lengths,
                                                       enforce_sorted=False)
            out, (h_n, _) = self.encoder(packed)
            keys = nn.utils.rnn.pad_packed_sequence(out, total_length=source.shape[0])[0]
            keys = keys.transpose(0, 1)                                   # (B, Ts, 2H)
            context = torch.cat([h_n[-2], h_n[-1]], dim=-1)
            pad = torch.arange(source.shape[0])[None, :] >= lengths[:, None]
            projected = self.key_proj(keys)
            h = torch.tanh(self.bridge(context))
            c = torch.zeros_like(h)
            hs, contexts = [], []
            for embedded in self.target_embedding(inputs):
                h, c = self.decoder(torch.cat([embedded, context], dim=-1), (h, c))
                energy = torch.tanh(self.query_proj(h).unsqueeze(1) + projected)
                weights = torch.softmax((energy @ self.v).masked_fill(pad, -torch.inf), dim=-1)
                context = (weights.unsqueeze(1) @ keys).squeeze(1)
                hs.append(h)
                contexts.append(context)
            # as tg's model: what is not fed back, for every step at once after the loop
            both = torch.cat([torch.stack(hs), torch.stack(contexts)], dim=-1)
            return self.head(torch.tanh(self.combine(both)))

    return TorchSeq2Seq


def torch_loss(model, batch):
    source, inputs, targets, weights = (torch.from_numpy(np.ascontiguousarray(batch[key]))
                                        for key in ("source", "inputs", "targets", "weights"))
    logits = model(source, torch.from_numpy(np.asarray(batch["lengths"], np.int64)), inputs)
    losses = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                               targets.reshape(-1), reduction="none")
    return (losses * weights.reshape(-1)).sum() / weights.sum()


def torch_training_step(tg_model, corpus, preset, batches, lr):
    model = torch_twin()(len(corpus.source_vocab), len(corpus.target_vocab),
                         preset["embedding_size"], preset["hidden_size"])
    model.load_state_dict({TWIN_NAMES.get(name, name): torch.from_numpy(value.numpy().copy())
                           for name, value in tg_model.state_dict().items()})
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    turn = [0]

    def step():
        optimizer.zero_grad(set_to_none=True)
        torch_loss(model, batches[turn[0] % len(batches)]).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        optimizer.step()
        turn[0] += 1

    def gradients():
        model.zero_grad(set_to_none=True)
        loss = torch_loss(model, batches[0])
        loss.backward()
        back = {value: key for key, value in TWIN_NAMES.items()}
        return loss.item(), {back.get(name, name): p.grad.numpy()
                             for name, p in model.named_parameters()}
    return step, gradients


def seq2seq_case(args):
    batches, corpus, preset = dates_batches(args.batches)
    steps, gradients = {}, {}
    for engine in ("compiled", "graph"):
        model = dates_model(corpus, preset, engine)
        steps[f"tg {engine}"], gradients[f"tg {engine}"] = tg_training_step(
            model, loss_of, batches, preset["lr"])
    if torch is not None:
        steps["torch loop"], gradients["torch loop"] = torch_training_step(
            dates_model(corpus, preset, "graph"), corpus, preset, batches, preset["lr"])
    shape = {"batch": preset["batch_size"], "source_steps": [b["source"].shape[0] for b in batches],
             "target_steps": [b["inputs"].shape[0] for b in batches],
             "embedding": preset["embedding_size"], "hidden": preset["hidden_size"]}
    return steps, gradients, shape, [("tg compiled", "torch loop"), ("tg compiled", "tg graph")]


# ---------------------------------------------------------------- output-recurrent, free running

def free_running_loss(model, window):
    x, targets = window
    return F.cross_entropy(model.run_free(x, x[0]), targets)


def output_recurrent_case(args):
    config = output_recurrent.DEFAULTS
    corpus = charlm.Corpus("stdlib", config["holdout"])
    rng = np.random.default_rng(0)
    windows = []
    for _ in range(args.batches):
        inputs, targets = charlm.random_windows(corpus.train, config["bptt"], config["batch_size"], rng)
        windows.append((tg.tensor(inputs), tg.tensor(targets)))
    steps, gradients = {}, {}
    for engine in ("compiled", "graph"):
        tg.manual_seed(0)
        model = output_recurrent.OutputRecurrent(len(corpus.vocab), config["embedding_size"],
                                                 config["hidden_size"], engine=engine)
        steps[f"tg {engine}"], gradients[f"tg {engine}"] = tg_training_step(
            model, free_running_loss, windows, config["lr"])
    shape = {"batch": config["batch_size"], "steps": config["bptt"], "vocabulary": len(corpus.vocab),
             "embedding": config["embedding_size"], "hidden": config["hidden_size"]}
    return steps, gradients, shape, [("tg compiled", "tg graph")]


CASES = {"seq2seq": seq2seq_case, "output-recurrent": output_recurrent_case}


# ---------------------------------------------------------------- checks and timing

def check_gradients(name, gradients):
    """Every engine must compute the same loss and gradients as the first, or the timings
    compare different work."""
    engines = list(gradients)
    ref_loss, reference = gradients[engines[0]]()
    for engine in engines[1:]:
        loss, got = gradients[engine]()
        if sorted(got) != sorted(reference):
            raise SystemExit(f"{name}: {engine} has other parameters than {engines[0]}: "
                             f"{sorted(set(got) ^ set(reference))}")
        gaps = {param: float(np.max(np.abs(got[param] - ref)) / max(float(np.max(np.abs(ref))), 1e-12))
                for param, ref in reference.items()}
        worst = max(gaps, key=gaps.get)
        if not (abs(loss - ref_loss) <= GRAD_RTOL * abs(ref_loss) and gaps[worst] <= GRAD_RTOL):
            raise SystemExit(f"{name}: {engine} and {engines[0]} disagree: loss {loss:.6g} vs "
                             f"{ref_loss:.6g}, gradient of {worst} off by {gaps[worst]:.1e} of its "
                             f"largest value")
        print(f"{name}: {engine} computes {engines[0]}'s loss and gradients (largest gap "
              f"{gaps[worst]:.1e} of a gradient's largest value, {worst})")


def load_average():
    return "load average " + ", ".join(f"{v:.2f}" for v in os.getloadavg())


def bench(name, args):
    steps, gradients, shape, ratios = CASES[name](args)
    check_gradients(name, gradients)
    for step in steps.values():  # the first call of each engine is set-up, not timed
        step()
    meter = timing.LoadMeter()
    timings = timing.interleaved(steps, args.repeat, args.batch_seconds, args.pause,
                                 max_load=args.max_load, retries=args.retries,
                                 quiet_s=args.wait_quiet)
    loads = [load for t in timings.values() for load in t.loads]
    ms = {e: t.median * 1e3 for e, t in timings.items()}
    return {"shape": shape, "ms": ms,
            "ratios": {f"{a} / {b}": ms[a] / ms[b] for a, b in ratios if a in ms and b in ms},
            "min_ms": {e: t.min * 1e3 for e, t in timings.items()},
            "max_ms": {e: t.max * 1e3 for e, t in timings.items()},
            "per_batch": {e: t.number for e, t in timings.items()},
            "redone": {e: t.redone for e, t in timings.items()},
            "batch_load": {"mean": sum(loads) / len(loads), "max": max(loads)} if loads else None,
            "load": meter.read(), "load_average": list(os.getloadavg())}


def table(results):
    lines = ["| model, training step | engine | ms (median) | range | ratio |",
             "|---|---|---:|---|---|"]
    for name, r in results.items():
        for engine, value in r["ms"].items():
            ratio = "; ".join(f"{k} **{v:.2f}**" for k, v in r["ratios"].items()
                              if k.startswith(engine + " /"))
            lines.append(f"| {name} | {engine} | {value:.1f} | {r['min_ms'][engine]:.1f}–"
                         f"{r['max_ms'][engine]:.1f} | {ratio} |")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=sorted(CASES), action="append",
                        help="time only this model (repeatable)")
    parser.add_argument("--repeat", type=int, default=7, help="timed batches per engine (>= 7)")
    parser.add_argument("--batches", type=int, default=4,
                        help="data batches each engine steps through in turn (4)")
    timing.add_options(parser, threads=1, batch_seconds=0.5)
    args = parser.parse_args(argv)
    limiter = timing.set_threads(args.threads, torch)  # noqa: F841 (kept alive: the limits hold)
    if args.repeat < 7:
        print(f"note: --repeat {args.repeat}; the benchmark rules ask for a median of >= 7")
    for line in timing.machine_report(
            numpy=np.__version__, torch=torch.__version__ if torch is not None
            else f"missing ({TORCH_MISSING}): no PyTorch twin"):
        print(line)
    print(f"threads: --threads {args.threads}: {timing.thread_report(torch)}")
    print(f"timing: median of {args.repeat} interleaved batches of ~{args.batch_seconds} s per "
          f"engine, {args.pause} s settle pause before each; ms per training step")
    print(f"at the start: {load_average()}", flush=True)
    run_meter = timing.LoadMeter()
    results = {}
    for name in args.only or list(CASES):
        if args.wait_quiet > 0:
            waited = timing.wait_for_quiet(args.max_load, timeout_s=args.wait_quiet)
            if waited > 2.5:
                print(f"({name}: waited {waited:.0f} s for other processes to quieten)")
        r = results[name] = bench(name, args)
        spread = ", ".join(f"{e} {r['ms'][e]:.1f} ms ({r['min_ms'][e]:.1f}–{r['max_ms'][e]:.1f}, "
                           f"{r['per_batch'][e]}/batch)" for e in r["ms"])
        b = r["batch_load"]
        print(f"{name}: {spread}; other load {b['mean']:.2f} cores (max {b['max']:.2f}) in the "
              f"kept batches; {load_average()}" if b else f"{name}: {spread}", flush=True)
        if b and b["mean"] > args.max_load:
            print(f"WARNING: {name} ran beside {b['mean']:.2f} cores of other processes' load; "
                  f"its times are suspect, rerun it")
    load = run_meter.read()
    print()
    print("\n".join(table(results)))
    print()
    print(f"other processes' load over the whole run ({load['wall_s']:.0f} s): "
          f"{timing.describe_load(load)}; at the end: {load_average()}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump({"threads": args.threads, "repeat": args.repeat, "batches": args.batches,
                       "cases": results, "load": load,
                       "run": timing.run_record(torch, numpy=np.__version__)}, file, indent=1)


if __name__ == "__main__":
    main()
