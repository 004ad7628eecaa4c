"""What the experiments share: the adding problem, the models on it, a timed training loop with
a JSON-lines log, options, and the plot helpers. The PyTorch twin
(benchmarks/experiments_torch.py) draws the same batches from the same seeds."""
import functools
import json
import math
import os
import tempfile
import time

import numpy as np

import tinygrad_seq as tg

from tinygrad_seq import train as trainer

KINDS = ("tanh", "relu", "lstm", "lstm_fb1", "gru", "gru_before", "lstm1997", "peephole")
DOCS_PLOTS = os.path.join("docs", "experiments")            # the plots the docs embed
DOCS_LOGS = os.path.join("docs", "results", "experiments")  # the logs behind their numbers


# ---------------------------------------------------------------- the adding problem

def adding_batch(rng, batch, steps):
    """Hochreiter & Schmidhuber's adding problem, as in Le et al. 2015: x (T, B, 2), feature 0
    uniform in [0, 1), feature 1 marks one step in the first half and one in the second; the
    target (B, 1) is the sum of the two marked values. Predicting the mean 1 gives MSE 1/6."""
    values = rng.random((steps, batch)).astype(np.float32)
    marks = np.zeros((steps, batch), np.float32)
    half = max(steps // 2, 1)
    first = rng.integers(0, half, batch)
    second = rng.integers(half, steps, batch) if steps > 1 else first
    marks[first, np.arange(batch)] = 1.0
    marks[second, np.arange(batch)] = 1.0
    x = np.stack([values, marks], axis=-1)
    y = (values * marks).sum(axis=0)[:, None]
    return x, y.astype(np.float32)


def make_layer(kind, input_size, hidden, num_layers=1, dropout=0.0, engine="auto"):
    """The sequence layer of a kind: tanh/relu RNN, LSTM (forget bias 0 or +1, the 1997 form
    without a forget gate, peephole), GRU (reset after or before the product)."""
    if kind in ("tanh", "relu"):
        return tg.nn.RNN(input_size, hidden, num_layers, nonlinearity=kind, dropout=dropout,
                         engine=engine)
    if kind in ("lstm", "lstm_fb1", "lstm1997", "peephole"):
        return tg.nn.LSTM(input_size, hidden, num_layers, dropout=dropout, engine=engine,
                          forget_bias=1.0 if kind == "lstm_fb1" else 0.0,
                          forget_gate=kind != "lstm1997", peephole=kind == "peephole")
    if kind in ("gru", "gru_before"):
        return tg.nn.GRU(input_size, hidden, num_layers, dropout=dropout, engine=engine,
                         reset_after=kind == "gru")
    raise ValueError(f"unknown kind {kind!r}; one of {', '.join(KINDS)}")


class LastOutput(tg.nn.Module):
    """A sequence layer and a linear read-out of its last output (N→1)."""

    def __init__(self, kind, input_size, hidden, outputs=1, num_layers=1, dropout=0.0):
        super().__init__()
        self.rnn = make_layer(kind, input_size, hidden, num_layers, dropout)
        self.head = tg.nn.Linear(hidden, outputs)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out[-1])


# ---------------------------------------------------------------- training

def train_adding(kind, steps_T, *, hidden=128, batch=64, lr=1e-3, clip=1.0, seconds=60.0,
                 max_steps=None, seed=0, eval_every=25, eval_size=512, log=None, label=None,
                 model=None, optimizer="adam"):
    """Train on the adding problem for ``seconds`` (training time, evaluations excluded) or
    ``max_steps``; returns the list of evaluation records {step, seconds, loss, val}. ``log``:
    a JSON-lines path written as it goes."""
    tg.manual_seed(seed)
    model = model if model is not None else LastOutput(kind, 2, hidden)
    params = list(model.parameters())
    opt = (tg.optim.Adam(params, lr=lr) if optimizer == "adam" else tg.optim.SGD(params, lr=lr))
    rng = np.random.default_rng(seed)
    vx, vy = adding_batch(np.random.default_rng(10_000 + seed), eval_size, steps_T)
    vx, vy = tg.tensor(vx), tg.tensor(vy)
    records, trained, step = [], 0.0, 0
    out = open(log, "w", encoding="utf-8") if log else None
    label = label or kind
    try:
        while True:
            if step % eval_every == 0 or (max_steps is not None and step >= max_steps) \
                    or trained >= seconds:
                model.eval()
                with tg.no_grad():
                    val = float(tg.nn.functional.mse_loss(model(vx), vy).item())
                model.train()
                record = {"kind": "eval", "model": label, "T": steps_T, "step": step,
                          "seconds": round(trained, 2), "val": val,
                          "load": round(os.getloadavg()[0], 2)}
                records.append(record)
                if out:
                    out.write(json.dumps(record) + "\n")
                    out.flush()
                if (max_steps is not None and step >= max_steps) or trained >= seconds \
                        or not math.isfinite(val):
                    break
            x, y = adding_batch(rng, batch, steps_T)
            start = time.perf_counter()
            loss = tg.nn.functional.mse_loss(model(tg.tensor(x)), tg.tensor(y))
            opt.zero_grad()
            loss.backward()
            if clip:
                norm = tg.optim.clip_grad_norm_(params, clip)
            opt.step()
            trained += time.perf_counter() - start
            step += 1
    finally:
        if out:
            out.close()
    return records


def solved_at(records, threshold=0.01):
    """Training seconds at the first evaluation below ``threshold``, or None."""
    for r in records:
        if r["val"] < threshold:
            return r["seconds"]
    return None


# ---------------------------------------------------------------- command line and plots

def prog(name):
    return f"python -m models.experiments.{name}"


def parser(description, name):
    """The options every experiment shares, in the models' parser: a bad value is one line
    naming it, exit status 2 (tinygrad_seq/train/arguments.py)."""
    p = trainer.ArgumentParser(prog=prog(name), description=description)
    p.add_argument("--smoke", action="store_true", help="a seconds-long run that checks the code path")
    p.add_argument("--out", type=trainer.output_folder, default=None,
                   help="where to write the plot and logs (default: plots to docs/experiments, "
                        "logs to docs/results/experiments; with --smoke both to a new temporary "
                        "folder, printed)")
    p.add_argument("--threads", type=trainer.positive_int, default=1, help="BLAS threads (default 1)")
    p.add_argument("--seed", type=trainer.non_negative_int, default=0)
    return p


def command(name):
    """Wraps an experiment's ``main(argv)``: bad input found after the command line is read (a
    UsageError) is one line and exit status 2, Ctrl-C one line and status 130; any other
    exception keeps its traceback."""
    def wrap(main):
        @functools.wraps(main)
        def guarded(argv=None):
            with trainer.exit_cleanly(prog(name)):
                return main(argv)
        return guarded
    return wrap


def setup(args, name):
    """Threads, the output folders; returns ``(logs, plots)``: both ``--out`` when given, both a
    new temporary folder for a --smoke run (a smoke run's numbers are no results to keep), else
    docs/results/experiments for the logs and docs/experiments for the plots the docs embed."""
    tg.set_num_threads(args.threads)
    out = args.out
    if out is None and args.smoke:
        out = tempfile.mkdtemp(prefix=f"{name}-smoke-")
        print(f"--smoke: writing to {out}", flush=True)
    logs, plots = (out, out) if out is not None else (DOCS_LOGS, DOCS_PLOTS)
    for folder in (logs, plots):
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as e:
            raise trainer.UsageError(f"cannot create the folder {folder}: {e.strerror or e}") from None
    return logs, plots


def pyplot():
    return trainer.extras.pyplot()  # a missing matplotlib is named with the extra that brings it


def load_json(path):
    with open(path, encoding="utf-8") as file:
        return json.load(file)


def save_json(path, value):
    with open(path, "w", encoding="utf-8") as file:
        json.dump(value, file, indent=1, default=float)
