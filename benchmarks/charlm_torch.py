"""The PyTorch twin of models/charlm.py: the same model, data, batches and validation, trained with
torch.nn, logging the same JSON lines, so that the two engines' curves plot side by side.

Same model: Embedding(V, 64) -> 2-layer LSTM(256) -> Linear(256, V), PyTorch's default
initialisation (which tg's layers copy). Same training: random windows of 100 characters, batch
32, Adam lr 2e-3, gradient norm clipped at 5. Same data: the text, vocabulary, 5% held-out tail
and even the batches of each step come from models/charlm.py's own functions with the harness's
per-step NumPy generator, so both engines see the same characters in the same order. Same
validation: ``--eval-windows`` non-overlapping 100-character windows spread evenly over the
held-out text (0: all of them), the state reset for each window. Timing: ``seconds`` in the log
counts training steps only, as the harness does; ``--threads`` sets torch's threads (give the
tg run the same ``--threads``); the machine's load is logged at each evaluation. Same initial
weights: ``--save-init FILE`` writes this twin's draw and ``--init-from FILE`` starts from
another's (the tg run's ``--save-init``; benchmarks/torch_init.py), so that a gap between the
curves is the engine's and not the draw's:

    python benchmarks/charlm_torch.py --data stdlib --steps 0 --save-init runs/init.safetensors
    python -m models.charlm train --data stdlib --steps 300 --minutes 0 --threads 1 \\
        --init-from runs/init.safetensors --out runs/charlm-tg
    python benchmarks/charlm_torch.py --data stdlib --steps 300 --minutes 0 --threads 1 \\
        --init-from runs/init.safetensors --out runs/charlm-torch-stdlib
    python -m tinygrad_seq.train runs/charlm-tg/metrics.jsonl \\
        runs/charlm-torch-stdlib/metrics.jsonl --labels tinygrad_seq torch -o compare.png
"""
import argparse
import math
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # models/ lives at the root
from models import charlm  # noqa: E402
from tinygrad_seq.train import metrics, step_random  # noqa: E402
import torch_init  # noqa: E402  (beside this file)


class TorchCharLM(torch.nn.Module):
    def __init__(self, vocab_size, embedding_size, hidden_size, num_layers):
        super().__init__()
        self.embedding = torch.nn.Embedding(vocab_size, embedding_size)
        self.rnn = torch.nn.LSTM(embedding_size, hidden_size, num_layers)
        self.head = torch.nn.Linear(hidden_size, vocab_size)

    def forward(self, chars, state=None):
        out, state = self.rnn(self.embedding(chars), state)
        return self.head(out), state


def cross_entropy(logits, targets, reduction="mean"):  # class axis last, as tg's
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                             targets.reshape(-1), reduction=reduction)


def evaluate(model, batches):
    total, count = 0.0, 0
    model.eval()
    with torch.no_grad():
        for inputs, targets in batches:
            logits, _ = model(torch.from_numpy(inputs))
            total += cross_entropy(logits, torch.from_numpy(targets), "sum").item()
            count += targets.size
    model.train()
    return {"val_loss": total / count, "val_bpc": total / count / math.log(2)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="stdlib")
    parser.add_argument("--minutes", type=float, default=1.0, help="0: no time budget")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--eval-windows", type=int, default=256, help="0: every held-out window")
    parser.add_argument("--eval-seconds", type=float, default=30.0)
    parser.add_argument("--eval-every", type=int, default=500)
    parser.add_argument("--out", default=None)
    parser.add_argument("--embedding-size", type=int, default=64)
    parser.add_argument("--hidden-size", type=int, default=256)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--bptt", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=32)
    torch_init.add_options(parser)
    args = parser.parse_args(argv)
    bptt, batch_size, lr, clip = args.bptt, args.batch_size, 2e-3, 5.0
    if args.threads:
        torch.set_num_threads(args.threads)
    out = args.out or os.path.join("runs", f"charlm-torch-{os.path.basename(args.data)}")
    os.makedirs(out, exist_ok=True)

    corpus = charlm.Corpus(args.data, 0.05)
    x, y = charlm.eval_windows(corpus.valid, bptt, args.eval_windows)
    eval_batches = [(x[:, i:i + 64], y[:, i:i + 64]) for i in range(0, x.shape[1], 64)]
    torch.manual_seed(args.seed)
    model = TorchCharLM(len(corpus.vocab), args.embedding_size, args.hidden_size, args.layers)
    try:
        torch_init.apply_options(model, args)
    except ValueError as e:
        parser.error(str(e))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    log = metrics.MetricsLog(os.path.join(out, "metrics.jsonl"))
    log.write({"kind": "run", "engine": "torch", "model": "charlm", "step": 0,
               "config": {"vocab_size": len(corpus.vocab), "embedding_size": args.embedding_size,
                          "hidden_size": args.hidden_size, "num_layers": args.layers,
                          "cell": "lstm"},
               "identity": {"data": corpus.identity["data"], "sha256": corpus.identity["sha256"]},
               "seed": args.seed, "init_from": args.init_from, "lr": lr, "clip": clip, "threads": torch.get_num_threads(),
               "torch": torch.__version__})
    print(f"torch {torch.__version__} on {torch.get_num_threads()} threads: {corpus.name}, "
          f"{len(corpus.train):,} training characters, vocabulary of {len(corpus.vocab)}")

    evaluated = []

    def evaluation(step, seconds):
        evaluated.append(step)
        result = evaluate(model, eval_batches)
        log.write({"kind": "eval", "step": step, "seconds": round(seconds, 3), **result,
                   "load": metrics.load_average()})
        print(f"step {step:>6}  val_loss {result['val_loss']:.4f}  val_bpc {result['val_bpc']:.4f}"
              f"  ({seconds:.0f} s of training, load {metrics.load_average()})", flush=True)

    start, step, seconds = time.perf_counter(), 0, 0.0
    evaluation(0, 0.0)
    last_eval, eval_cost = time.perf_counter(), time.perf_counter() - start
    while args.steps is None or step < args.steps:
        now = time.perf_counter()
        if args.minutes and now + eval_cost - start >= args.minutes * 60:
            break
        rng = step_random(args.seed, step + 1)  # the harness's batch stream (it also seeds tg)
        inputs, targets = charlm.random_windows(corpus.train, bptt, batch_size, rng)
        logits, _ = model(torch.from_numpy(inputs))
        loss = cross_entropy(logits, torch.from_numpy(targets))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        took = time.perf_counter() - now
        step, seconds = step + 1, seconds + took
        log.write({"kind": "train", "step": step, "seconds": round(seconds, 3),
                   "loss": loss.item(), "rate": round(inputs.size / took, 1)})
        if step % args.eval_every == 0 or time.perf_counter() - last_eval >= args.eval_seconds:
            began = time.perf_counter()
            evaluation(step, seconds)
            last_eval, eval_cost = time.perf_counter(), time.perf_counter() - began
    if evaluated[-1] != step:
        evaluation(step, seconds)
    log.close()
    metrics.plot([log.path], os.path.join(out, "curves.png"), ["torch"])
    print(f"{step} steps in {seconds:.1f} s of training ({step / max(seconds, 1e-9):.2f} steps/s)"
          f"\n  metrics {log.path}\n  plot    {os.path.join(out, 'curves.png')}")


if __name__ == "__main__":
    main()
