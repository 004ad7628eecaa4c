"""The PyTorch twins of the Models II: the row classifier, the sentiment classifier and the
forecaster, trained with torch.nn on the same data, split, batches and evaluation, logging the
harness's JSON lines, so that the two engines' curves plot side by side.

Same data and batches: each twin takes its data, its held-out part and the batches of every
step from the model file itself (``EpochBatches`` or the forecaster's random windows with the
harness's per-step generator), so both engines see the same samples in the same order. Same
evaluation: the model file's own ``evaluate_on``, handed the twin's predictions. Same model and
training: the layers of the model file with PyTorch's default initialisation (which tg's
layers copy), Adam at the same learning rate, no clipping. Timing as the harness's: ``--minutes``
bounds the wall clock, evaluations included; ``seconds`` in the log counts training steps only.

Start both from the same initial weights (``--save-init`` on one side, ``--init-from`` on the
other; benchmarks/torch_init.py) and give both the same step budget, one after the other on one
thread each:

    python -m models.classify_rows train --threads 1 --steps 1500 --minutes 0 \\
        --save-init runs/cmp/mnist-init.safetensors --out runs/cmp/mnist-tg
    python benchmarks/models_ii_torch.py classify --threads 1 --steps 1500 --minutes 0 \\
        --init-from runs/cmp/mnist-init.safetensors --out runs/cmp/mnist-torch
    python -m tinygrad_seq.train runs/cmp/mnist-tg/metrics.jsonl \\
        runs/cmp/mnist-torch/metrics.jsonl --labels tinygrad_seq torch -o docs/models-ii/mnist-vs-torch.png
"""
import argparse
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # models/ lives at the root
from models import classify_rows, forecast, sentiment  # noqa: E402
from tinygrad_seq.train import EpochBatches, metrics, step_random  # noqa: E402
import torch_init  # noqa: E402  (beside this file)


# ---------------------------------------------------------------- the models

class RowClassifier(torch.nn.Module):
    def __init__(self, side, hidden_size):
        super().__init__()
        self.rnn = torch.nn.LSTM(side, hidden_size)
        self.head = torch.nn.Linear(hidden_size, classify_rows.CLASSES)

    def forward(self, images):
        _, (h, _) = self.rnn(images.transpose(0, 1))
        return self.head(h[-1])


class SentimentClassifier(torch.nn.Module):
    def __init__(self, vocab_size, embedding_size, hidden_size, cell, bidirectional, pool, dropout):
        super().__init__()
        self.pool, self.bidirectional = pool, bidirectional
        self.embedding = torch.nn.Embedding(vocab_size, embedding_size, padding_idx=0)
        self.dropout = torch.nn.Dropout(dropout)
        self.rnn = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](
            embedding_size, hidden_size, bidirectional=bidirectional)
        self.head = torch.nn.Linear(hidden_size * (2 if bidirectional else 1), 2)

    def forward(self, ids, lengths):  # ids (T, B), unsorted lengths: packed, enforce_sorted=False
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            self.dropout(self.embedding(ids)), torch.as_tensor(lengths), enforce_sorted=False)
        out, state = self.rnn(packed)
        if self.pool == "mean":
            out, _ = torch.nn.utils.rnn.pad_packed_sequence(out)
            features = out.sum(0) / torch.as_tensor(lengths, dtype=out.dtype)[:, None]
        else:
            h = state[0] if isinstance(state, tuple) else state
            features = torch.cat([h[0], h[1]], -1) if self.bidirectional else h[0]
        return self.head(features)


class Forecaster(torch.nn.Module):
    def __init__(self, hidden_size, cell):
        super().__init__()
        self.rnn = {"lstm": lambda: torch.nn.LSTM(1, hidden_size),
                    "gru": lambda: torch.nn.GRU(1, hidden_size),
                    "rnn-relu": lambda: torch.nn.RNN(1, hidden_size, nonlinearity="relu"),
                    "rnn": lambda: torch.nn.RNN(1, hidden_size)}[cell]()
        self.head = torch.nn.Linear(hidden_size, 1)

    def forward(self, values):
        return self.head(self.rnn(values)[0])


# ---------------------------------------------------------------- each task: model, loss, evaluation

def classify_task(args):
    digits = classify_rows.Digits(args.data)
    model = RowClassifier(digits.side, 128)
    batches = EpochBatches(args.seed, classify_rows.epoch_of(digits.train[1], 64))

    def loss(step):
        index = batches(step)
        scores = model(torch.from_numpy(digits.train[0][index]))
        return torch.nn.functional.cross_entropy(scores, torch.from_numpy(digits.train[1][index])), len(index)

    def predict(model, images):
        return np.concatenate([model(torch.from_numpy(images[i:i + 500])).numpy()
                               for i in range(0, len(images), 500)])

    evaluate = lambda: classify_rows.evaluate_on(model, *digits.held, predict=predict)
    return model, loss, evaluate, 1e-3, {"data": args.data, "hidden_size": 128}


def sentiment_task(args):
    reviews = sentiment.Reviews(10_000)
    model = SentimentClassifier(len(reviews.vocab), 100, 128, args.cell, not args.unidirectional,
                                args.pool, 0.5)
    batches = EpochBatches(args.seed, sentiment.epoch_of(reviews.train[0], 64, 4))

    def batch(sequences):
        padded, lengths = sentiment.pad_sequences(sequences, padding_value=0)
        return torch.from_numpy(padded), lengths

    def loss(step):
        index = batches(step)
        scores = model(*batch([reviews.train[0][i] for i in index]))
        return torch.nn.functional.cross_entropy(scores, torch.from_numpy(reviews.train[1][index])), len(index)

    def predict(model, sequences):
        order = np.argsort([len(s) for s in sequences], kind="stable")
        scores = np.zeros((len(sequences), 2), np.float32)
        for i in range(0, len(order), 256):
            chunk = order[i:i + 256]
            scores[chunk] = model(*batch([sequences[j] for j in chunk])).numpy()
        return scores

    evaluate = lambda: sentiment.evaluate_on(model, reviews, predict=predict)
    return model, loss, evaluate, 1e-3, {"cell": args.cell, "pool": args.pool,
                                         "bidirectional": not args.unidirectional}


def forecast_task(args):
    series = forecast.Series(args.data, 20, target=args.target)
    model = Forecaster(100, args.cell)

    def loss(step):
        inputs, targets = series.random_windows(32, step_random(args.seed, step))
        return torch.nn.functional.mse_loss(model(torch.from_numpy(inputs)), torch.from_numpy(targets)), 32

    def predict(model, series, i, points):
        outputs = model(torch.from_numpy(series.inputs_before(i, points))).numpy()[-1, :, 0]
        return series.unscaled(i, outputs)

    evaluate = lambda: forecast.evaluate_on(model, series, predict=predict)
    return model, loss, evaluate, 1e-3, {"data": args.data, "cell": args.cell, "hidden_size": 100,
                                         "target": args.target}


TASKS = {"classify": (classify_task, "classify_rows"), "sentiment": (sentiment_task, "sentiment"),
         "forecast": (forecast_task, "forecast")}


# ---------------------------------------------------------------- the loop (the harness's, in torch)

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("task", choices=sorted(TASKS))
    parser.add_argument("--data", default=None, help="classify: mnist|digits; forecast: sunspots|stocks|file")
    parser.add_argument("--cell", default=None, help="sentiment: lstm|gru; forecast: rnn-relu|lstm|gru")
    parser.add_argument("--target", default=forecast.DEFAULTS["target"], choices=forecast.TARGETS,
                        help="forecast: what the model predicts (as the model file's --target)")
    parser.add_argument("--pool", default="last", choices=["last", "mean"])
    parser.add_argument("--unidirectional", action="store_true")
    parser.add_argument("--minutes", type=float, default=2.0, help="0: no time budget")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--eval-seconds", type=float, default=None)
    parser.add_argument("--eval-every", type=int, default=None, metavar="STEPS",
                        help="also evaluate every this many steps (as the harness's option)")
    parser.add_argument("--out", default=None)
    torch_init.add_options(parser)
    args = parser.parse_args(argv)
    make, name = TASKS[args.task]
    args.data = args.data or {"classify": "mnist", "forecast": "sunspots"}.get(args.task)
    args.cell = args.cell or {"sentiment": "lstm", "forecast": "rnn-relu"}.get(args.task)
    eval_seconds = args.eval_seconds or {"classify": 20.0, "sentiment": 30.0, "forecast": 15.0}[args.task]
    if args.threads:
        torch.set_num_threads(args.threads)
    out = args.out or os.path.join("runs", f"{name}-torch")
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(args.seed)
    model, loss_of, evaluate, lr, config = make(args)
    try:
        torch_init.apply_options(model, args)
    except ValueError as e:
        parser.error(str(e))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    log = metrics.MetricsLog(os.path.join(out, "metrics.jsonl"))
    log.write({"kind": "run", "engine": "torch", "model": name, "step": 0, "config": config,
               "seed": args.seed, "init_from": args.init_from, "lr": lr, "clip": 0.0, "threads": torch.get_num_threads(),
               "torch": torch.__version__})
    print(f"torch {torch.__version__} on {torch.get_num_threads()} threads: {name} {config}")

    last = {}

    def evaluation(step, seconds):
        model.eval()
        with torch.no_grad():
            result = evaluate()
        model.train()
        log.write({"kind": "eval", "step": step, "seconds": round(seconds, 3), **result,
                   "load": metrics.load_average()})
        shown = "  ".join(f"{key} {value:.4f}" for key, value in result.items())
        print(f"step {step:>6}  {shown}  ({seconds:.0f} s of training, load {metrics.load_average()})",
              flush=True)
        last.update(result, step=step)

    start, step, seconds = time.perf_counter(), 0, 0.0
    evaluation(0, 0.0)
    last_eval, eval_cost = time.perf_counter(), time.perf_counter() - start
    model.train()
    while args.steps is None or step < args.steps:
        now = time.perf_counter()
        if args.minutes and now + eval_cost - start >= args.minutes * 60:
            break
        loss, count = loss_of(step + 1)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        took = time.perf_counter() - now
        step, seconds = step + 1, seconds + took
        log.write({"kind": "train", "step": step, "seconds": round(seconds, 3),
                   "loss": loss.item(), "rate": round(count / took, 1)})
        if (time.perf_counter() - last_eval >= eval_seconds
                or (args.eval_every and step % args.eval_every == 0)):
            began = time.perf_counter()
            evaluation(step, seconds)
            last_eval, eval_cost = time.perf_counter(), time.perf_counter() - began
    if last["step"] != step:
        evaluation(step, seconds)
    log.close()
    metrics.plot([log.path], os.path.join(out, "curves.png"), ["torch"])
    print(f"{step} steps in {seconds:.1f} s of training\n  metrics {log.path}")
    return last


if __name__ == "__main__":
    main()
