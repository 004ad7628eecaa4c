"""Goodfellow's design pattern 2 (Goodfellow et al. 2016, §10.2.1): the only recurrence runs
from the previous step's OUTPUT to the next hidden state, trained with teacher forcing; beside it
the hidden-recurrent network (pattern 1) of the same size on the same character-level task.

    pattern 2 (--model output):  h_t = tanh(U x_t + W y_{t-1} + b),   o_t = V h_t + c
    pattern 1 (--model hidden):  h_t = tanh(U x_t + W h_{t-1} + b),   o_t = V h_t + c

Under teacher forcing y_{t-1} is the TRUE previous output (here the one-hot of the previous
target character, so ``W y_{t-1}`` is a column of W: an embedding lookup). Nothing then links
step t to step t-1 inside the graph: every step of every window is computed at once, in one
batched matrix product over (T * B) rows, and training needs no back-propagation through time.
At inference the network runs free: y_{t-1} is its own softmax output of the step before
(``evaluate`` reports both the teacher-forced and the free-running loss). ``--feedback free``
trains it so too, on its own soft outputs: the loop over time is then a ``tg.scan`` and the
gradient flows back through every fed-back distribution (BPTT through the outputs).

The price: the output is all that is carried from one step to the next, so the network knows
of the past only what the previous output says. In next-character prediction the previous
target IS the current input, so pattern 2 sees one character of context (a bigram model),
however long the window; pattern 1 carries a hidden state.

    python -m models.output_recurrent train --model output
    python -m models.output_recurrent train --model output --feedback free
    python -m models.output_recurrent train --model hidden
    python -m models.output_recurrent train --smoke
"""
import argparse
import os

import tinygrad_seq as tg
from tinygrad_seq.nn import functional as F

from tinygrad_seq import train as trainer
from models.charlm import BITS_PER_NAT, Corpus, eval_windows, random_windows


class OutputRecurrent(tg.nn.Module):
    """Pattern 2: chars (T, B) and the previous outputs -> logits (T, B, V).

    ``engine`` runs the free-running loop (``run_free``): "auto", "graph" or "compiled", as
    ``tg.scan``; it is not part of ``config``, as it changes how, not what, the model computes.

    >>> model = OutputRecurrent(vocab_size=5, embedding_size=3, hidden_size=4)
    >>> model(tg.tensor([[0, 1], [2, 3]]), tg.tensor([[4, 0], [1, 2]])).shape
    (2, 2, 5)
    >>> model.run_free(tg.tensor([[0, 1], [2, 3]]), tg.tensor([4, 0])).shape
    (2, 2, 5)
    """

    def __init__(self, vocab_size, embedding_size=64, hidden_size=256, engine="auto"):
        super().__init__()
        if engine not in tg.loop.ENGINES:
            raise ValueError(f"OutputRecurrent: engine must be one of "
                             f"{', '.join(map(repr, tg.loop.ENGINES))}, got {engine!r}")
        self.engine = engine
        self.config = dict(model="output", vocab_size=vocab_size, embedding_size=embedding_size,
                           hidden_size=hidden_size)
        self.embedding = tg.nn.Embedding(vocab_size, embedding_size)
        self.input = tg.nn.Linear(embedding_size, hidden_size)          # U, b
        self.feedback = tg.nn.Embedding(vocab_size, hidden_size)        # W (its rows: W y for one-hot y)
        self.head = tg.nn.Linear(hidden_size, vocab_size)               # V, c

    def forward(self, chars, previous):
        """Teacher forcing: ``previous`` (T, B) are the true previous outputs. No loop over
        time: each op below runs over all T * B steps at once."""
        hidden = (self.input(self.embedding(chars)) + self.feedback(previous)).tanh()
        return self.head(hidden)

    def run_free(self, chars, first):
        """Free running: feed back the softmax of the previous step's output (``first``: the true
        output before the window, (B,)). One ``tg.scan`` over the steps (``self.engine``), the
        fed-back ``W y`` its carry; differentiable, so it also trains (``--feedback free``)."""
        inputs = self.input(self.embedding(chars))             # U x_t + b, every step at once

        def step(fed, x_t):
            out = self.head((x_t + fed).tanh())
            return out.softmax(-1) @ self.feedback.weight, out   # W times the output distribution

        _, logits = tg.scan(step, self.feedback(first), inputs, engine=self.engine)
        return logits


class HiddenRecurrent(tg.nn.Module):
    """Pattern 1 of the same size: a tanh RNN with the same embedding, hidden size and head."""

    def __init__(self, vocab_size, embedding_size=64, hidden_size=256, engine="fused"):
        super().__init__()
        self.config = dict(model="hidden" if engine == "fused" else "hidden-cells",
                           vocab_size=vocab_size, embedding_size=embedding_size,
                           hidden_size=hidden_size)
        self.embedding = tg.nn.Embedding(vocab_size, embedding_size)
        self.rnn = tg.nn.RNN(embedding_size, hidden_size, engine=engine)
        self.head = tg.nn.Linear(hidden_size, vocab_size)

    def forward(self, chars, previous=None):
        return self.head(self.rnn(self.embedding(chars))[0])

    def run_free(self, chars, first):
        return self(chars)          # its recurrence does not depend on the outputs


MODELS = {"output": OutputRecurrent, "hidden": HiddenRecurrent,
          "hidden-cells": lambda *a: HiddenRecurrent(*a, engine="graph")}  # BPTT through the graph




class Task(trainer.Task):
    name, unit = "output_recurrent", "char"

    def __init__(self, model, corpus, args, device):
        self.model, self.corpus, self.args, self.device = model, corpus, args, device
        self.config = model.config
        self.identity = dict(corpus.identity, bptt=args.bptt, batch_size=args.batch_size)
        x, y = eval_windows(corpus.valid, args.bptt, args.eval_windows)
        self.eval_batches = [(x[:, i:i + 64], y[:, i:i + 64]) for i in range(0, x.shape[1], 64)]

    def loss(self, step, rng):
        inputs, targets = random_windows(self.corpus.train, self.args.bptt, self.args.batch_size, rng)
        x = tg.tensor(inputs, device=self.device)
        # the previous target of step t is the character read at step t: y_{t-1} = x_t
        logits = self.model.run_free(x, x[0]) if self.args.feedback == "free" else self.model(x, x)
        return F.cross_entropy(logits, tg.tensor(targets, device=self.device)), inputs.size

    def evaluate(self):
        forced = free = correct = count = 0.0
        for inputs, targets in self.eval_batches:
            x, y = tg.tensor(inputs, device=self.device), tg.tensor(targets, device=self.device)
            logits = self.model(x, x)
            forced += F.cross_entropy(logits, y, reduction="sum").item()
            correct += float((logits.numpy().argmax(-1) == targets).sum())
            free += F.cross_entropy(self.model.run_free(x, x[0]), y, reduction="sum").item()
            count += targets.size
        return {"val_loss": forced / count, "val_bpc": forced / count * BITS_PER_NAT,
                "val_free_bpc": free / count * BITS_PER_NAT, "accuracy": correct / count}


DEFAULTS = dict(embedding_size=64, hidden_size=256, bptt=100, batch_size=32, holdout=0.05,
                eval_windows=256, lr=2e-3, clip=5.0, eval_every=200, eval_seconds=20.0, minutes=3.0)
SMOKE = dict(embedding_size=8, hidden_size=16, bptt=16, batch_size=4, steps=3, eval_windows=4,
             minutes=0.0)


def train(args):
    if args.feedback == "free" and args.model != "output":
        raise trainer.UsageError(f"--feedback free: --model {args.model} feeds back no output "
                                 f"(its recurrence is hidden to hidden); use --model output")
    defaults = dict(DEFAULTS)
    if args.smoke:
        defaults.update(SMOKE)
    trainer.resolve(args, defaults)
    device = trainer.use_device(args)
    corpus = Corpus(args.data, args.holdout)
    tg.manual_seed(args.seed)
    model = MODELS[args.model](len(corpus.vocab), args.embedding_size, args.hidden_size).to(device)
    parameters = sum(p.size for p in model.parameters())
    print(f"output_recurrent ({args.model}-to-hidden recurrence) on {corpus.name}: "
          f"{len(corpus.train):,} training characters, vocabulary {len(corpus.vocab)}; hidden "
          f"{args.hidden_size}, {parameters:,} parameters; windows of {args.bptt}, batch "
          f"{args.batch_size}, {args.feedback} feedback, on {device}")
    run = f"output_recurrent-{args.model}" + ("-free" if args.feedback == "free" else "")
    out = args.out or os.path.join("runs", run)
    return trainer.fit(Task(model, corpus, args, device), args, out)


def build_parser():
    parser = trainer.ArgumentParser(prog="python -m models.output_recurrent",
                                     description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    fit = commands.add_parser("train", help="train one of the two networks", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    fit.add_argument("--model", choices=sorted(MODELS), default="output",
                     help="output: pattern 2, output-to-hidden recurrence (default); hidden: "
                          "pattern 1, hidden-to-hidden (tg's fused RNN kernel); hidden-cells: the "
                          "same with the declared cells, BPTT through the graph step by step")
    fit.add_argument("--feedback", choices=["forced", "free"], default="forced",
                     help="what the output recurrence is fed in training: forced, the true "
                          "previous output (teacher forcing, no BPTT; default); free, the "
                          "network's own previous softmax (BPTT through the outputs, a tg.scan; "
                          "--model output only: the others feed back no output)")
    fit.add_argument("--data", default="stdlib", help="as models.charlm: stdlib, shakespeare, "
                                                      "hello or a UTF-8 text file")
    fit.add_argument("--embedding-size", type=trainer.positive_int, default=None)
    fit.add_argument("--hidden-size", type=trainer.positive_int, default=None)
    fit.add_argument("--bptt", type=trainer.positive_int, default=None, help="window length (100)")
    fit.add_argument("--batch-size", type=trainer.positive_int, default=None)
    fit.add_argument("--holdout", type=trainer.probability, default=None)
    fit.add_argument("--eval-windows", type=trainer.non_negative_int, default=None)
    fit.add_argument("--smoke", action="store_true", help="a tiny model for a few steps: seconds")
    trainer.add_train_options(fit)
    fit.set_defaults(func=train)
    return parser


def main(argv=None):
    return trainer.run_command(build_parser(), argv)


if __name__ == "__main__":
    main()
