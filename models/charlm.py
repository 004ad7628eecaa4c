"""An N->N character language model: read text one character at a time, predict the next.

Embedding -> stacked LSTM (or GRU, or a tanh/ReLU RNN) -> one Linear over every step: the
char-RNN of Karpathy (2015), which learns to write prose, plays or code. Trained by truncated
back-propagation through time on windows of ``--bptt`` characters, either random windows or
contiguous ones that carry the recurrent state from one window to the next (detached between
them). The loss is the cross-entropy of the next character, in nats; bits per character are
nats / ln 2. Validation runs over non-overlapping windows of the held-out tail of the text,
the state reset for each window.

    python -m models.charlm train --data hello            # the four-letter toy: learns "hello"
    python -m models.charlm train                         # Python's stdlib sources, 3 minutes
    python -m models.charlm sample --prime "def " --temperature 0.7
    python -m models.charlm eval

``--data`` takes stdlib, shakespeare, hello or the path of a UTF-8 text file.
"""
import argparse
import hashlib
import math
import os

import numpy as np
import tinygrad_seq as tg

from tinygrad_seq import train as trainer
from models.data import load_text, split_text
from models.data.text import SOURCES

# ---------------------------------------------------------------- the module

CELLS = {"lstm": tg.nn.LSTM, "gru": tg.nn.GRU,
         "rnn": lambda *a, **k: tg.nn.RNN(*a, nonlinearity="tanh", **k),
         "rnn-relu": lambda *a, **k: tg.nn.RNN(*a, nonlinearity="relu", **k)}


class CharLM(tg.nn.Module):
    """Characters (T, B) -> logits of the next character (T, B, vocab_size), and the state.

    >>> model = CharLM(vocab_size=4, embedding_size=3, hidden_size=8, num_layers=1, cell="gru")
    >>> logits, state = model(tg.tensor([[0], [1], [2]]))
    >>> logits.shape, state.shape
    ((3, 1, 4), (1, 1, 8))
    """

    def __init__(self, vocab_size, embedding_size=64, hidden_size=256, num_layers=2,
                 cell="lstm", dropout=0.0):
        super().__init__()
        self.config = dict(vocab_size=vocab_size, embedding_size=embedding_size,
                           hidden_size=hidden_size, num_layers=num_layers, cell=cell,
                           dropout=dropout)
        self.embedding = tg.nn.Embedding(vocab_size, embedding_size)
        self.rnn = CELLS[cell](embedding_size, hidden_size, num_layers, dropout=dropout)
        self.head = tg.nn.Linear(hidden_size, vocab_size)  # one matrix product for all steps

    def forward(self, chars, state=None):
        out, state = self.rnn(self.embedding(chars), state)
        return self.head(out), state


# ---------------------------------------------------------------- the loss

def loss_of(model, inputs, targets, state=None, reduction="mean"):
    """Cross-entropy of the next character in nats (per character with "mean"), and the state."""
    logits, state = model(inputs, state)
    return tg.nn.functional.cross_entropy(logits, targets, reduction=reduction), state


BITS_PER_NAT = 1 / math.log(2)

# ---------------------------------------------------------------- text as numbers


class Corpus:
    """A text's vocabulary (its characters, sorted), its training and held-out parts as ids."""

    def __init__(self, source, holdout):
        try:
            text = load_text(source)
        except (ValueError, TypeError, OSError, RuntimeError) as e:
            raise trainer.UsageError(f"--data {source}: {e}") from None
        self.name = source if source in SOURCES else os.path.basename(source)
        self.vocab = "".join(sorted(set(text)))
        if holdout:
            try:
                train, valid = split_text(text, holdout)
            except ValueError as e:
                raise trainer.UsageError(f"--data {source} --holdout {holdout:g}: {e}") from None
        else:  # the toy: nothing to hold out, so it is judged on what it learnt
            train = valid = text
        self.train, self.valid = self.encode(train), self.encode(valid)
        self.identity = {"data": source if source in SOURCES else os.path.abspath(source),
                         "chars": len(text), "vocab": self.vocab,
                         "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
                         "holdout": holdout}

    def encode(self, text, what="the text"):
        return encode(self.vocab, text, what)


def encode(vocab, text, what):
    codes = np.frombuffer(text.encode("utf-32-le"), dtype="<u4").astype(np.int64)
    table = np.array([ord(ch) for ch in vocab], dtype=np.int64)
    ids = np.minimum(np.searchsorted(table, codes), len(table) - 1)
    unknown = sorted(set(text[i] for i in np.flatnonzero(table[ids] != codes)[:1000]))
    if unknown:
        raise trainer.UsageError(f"{what} has characters outside the model's vocabulary of "
                                 f"{len(vocab)}: {''.join(unknown)[:40]!r}")
    return ids


def random_windows(ids, bptt, batch_size, rng):
    """``batch_size`` windows at random places: inputs and next-character targets, (T, B)."""
    starts = rng.integers(0, len(ids) - bptt, size=batch_size)
    rows = starts[:, None] + np.arange(bptt)
    return ids[rows].T, ids[rows + 1].T


def contiguous_window(ids, bptt, batch_size, index):
    """Window ``index`` of ``batch_size`` parallel streams that each read on from the last."""
    stream = (len(ids) - 1) // batch_size
    rows = np.arange(batch_size)[:, None] * stream + index * bptt + np.arange(bptt)
    return ids[rows].T, ids[rows + 1].T


def eval_windows(ids, bptt, count):
    """Non-overlapping windows of ``ids``; ``count`` of them spread evenly (0: all)."""
    total = (len(ids) - 1) // bptt
    chosen = np.arange(total)
    if count and count < total:
        chosen = np.unique(np.linspace(0, total - 1, count).round().astype(np.int64))
    rows = chosen[:, None] * bptt + np.arange(bptt)
    return ids[rows].T, ids[rows + 1].T


# ---------------------------------------------------------------- sampling

def sample(model, vocab, prime, length, temperature=1.0, top_k=None):
    """``length`` characters that follow ``prime``, drawn from the model's softmax at
    ``temperature``, among the ``top_k`` likeliest when given (tg's random stream)."""
    device = model.device
    with tg.no_grad():
        ids = encode(vocab, prime, "--prime")
        logits, state = model(tg.tensor(ids.reshape(-1, 1), device=device))
        drawn = []
        for _ in range(length):
            scores = logits[-1, 0] / temperature
            if top_k and top_k < len(vocab):
                scores, candidates = scores.topk(top_k)
                choice = candidates.tolist()[tg.multinomial(scores.softmax(), 1).item()]
            else:
                choice = tg.multinomial(scores.softmax(), 1).item()
            drawn.append(vocab[choice])
            logits, state = model(tg.tensor([[choice]], device=device), state)
    return "".join(drawn)


# ---------------------------------------------------------------- training, for the harness

class Task:
    """What the harness needs of the char-LM: its loss on a step's batch, its evaluation."""

    name, unit = "charlm", "char"

    def __init__(self, model, corpus, args):
        self.model, self.corpus, self.args = model, corpus, args
        self.config = model.config
        self.identity = dict(corpus.identity, bptt=args.bptt, batch_size=args.batch_size,
                             windows=args.windows)
        self.state = None  # carried between contiguous windows
        self.passes = (len(corpus.train) - 1) // args.batch_size // args.bptt
        x, y = eval_windows(corpus.valid, args.bptt, args.eval_windows)
        self.eval_batches = [(x[:, i:i + 64], y[:, i:i + 64]) for i in range(0, x.shape[1], 64)]

    def check(self):
        check_lengths(self.corpus, self.args)
        check_prime(self.corpus.vocab, self.args.prime)

    def loss(self, step, rng):
        args = self.args
        if args.windows == "random":
            inputs, targets = random_windows(self.corpus.train, args.bptt, args.batch_size, rng)
        else:
            index = (step - 1) % self.passes
            if index == 0:
                self.state = None  # back at the start of the streams
            inputs, targets = contiguous_window(self.corpus.train, args.bptt, args.batch_size, index)
        device = self.model.device
        loss, state = loss_of(self.model, tg.tensor(inputs, device=device),
                              tg.tensor(targets, device=device),
                              self.state if args.windows == "contiguous" else None)
        if args.windows == "contiguous":
            self.state = tg.nn.utils.detach_state(state)
        return loss, inputs.size

    def evaluate(self):
        total, count, device = 0.0, 0, self.model.device
        for inputs, targets in self.eval_batches:
            loss, _ = loss_of(self.model, tg.tensor(inputs, device=device),
                              tg.tensor(targets, device=device), reduction="sum")
            total, count = total + loss.item(), count + targets.size
        return {"val_loss": total / count, "val_bpc": total / count * BITS_PER_NAT}

    def report(self, step):
        args = self.args
        text = sample(self.model, self.corpus.vocab, args.prime, args.sample_length,
                      args.temperature, args.top_k)
        lines = (args.prime + text).splitlines() or [""]
        return f"  sample (temperature {args.temperature:g}):\n" + "\n".join("  | " + line for line in lines)

    def state_dict(self):
        return self.state

    def load_state_dict(self, state):
        self.state = state


# ---------------------------------------------------------------- the command line

DEFAULTS = dict(cell="lstm", embedding_size=64, hidden_size=256, num_layers=2, dropout=0.0,
                bptt=100, batch_size=32, windows="random", holdout=0.05, eval_windows=256,
                prime="\n", sample_length=300, temperature=0.8, lr=2e-3, clip=5.0,
                eval_every=500, eval_seconds=30.0, minutes=3.0)
PRESETS = {  # per --data, over DEFAULTS; explicit options win over both
    "stdlib": dict(prime="def "),
    "hello": dict(cell="rnn", embedding_size=4, hidden_size=16, num_layers=1, bptt=4,
                  batch_size=1, holdout=0.0, prime="h", sample_length=4, lr=0.01, steps=100,
                  eval_every=10, windows="random"),
}
SMOKE = dict(embedding_size=8, hidden_size=32, num_layers=1, bptt=16, batch_size=4, steps=3,
             eval_windows=4, sample_length=40, minutes=0.0)


def run_dir(data):
    return os.path.join("runs", "charlm-" + (data if data in SOURCES else
                                              os.path.splitext(os.path.basename(data))[0]))


def train(args):
    defaults = {**DEFAULTS, **PRESETS.get(args.data, {})}
    if args.smoke:  # smaller, never larger, than the data's own settings
        defaults.update({key: min(defaults.get(key, value), value) for key, value in SMOKE.items()})
    trainer.resolve(args, defaults)
    device = trainer.use_device(args)
    corpus = Corpus(args.data, args.holdout)
    tg.manual_seed(args.seed)
    model = CharLM(len(corpus.vocab), args.embedding_size, args.hidden_size, args.num_layers,
                   args.cell, args.dropout).to(device)
    parameters = sum(p.size for p in model.parameters())
    print(f"charlm on {corpus.name}: {len(corpus.train):,} training and {len(corpus.valid):,} "
          f"held-out characters, vocabulary of {len(corpus.vocab)}; {args.num_layers} x "
          f"{args.cell.upper()} {args.hidden_size}, {parameters:,} parameters; windows of "
          f"{args.bptt} ({args.windows}), batch {args.batch_size}, on {device}")
    return trainer.fit(Task(model, corpus, args), args, args.out or run_dir(args.data))


def check_lengths(corpus, args):
    need = args.bptt + 1 if args.windows == "random" else args.batch_size * args.bptt + 1
    layout = ("one window" if args.windows == "random" else
              f"{args.batch_size} contiguous streams of one window (--batch-size)")
    for part, ids, needed in (("training", corpus.train, need), ("held-out", corpus.valid, args.bptt + 1)):
        if len(ids) < needed:
            raise trainer.UsageError(
                f"--data {args.data}: the {part} text has {len(ids)} characters, fewer than "
                f"{layout if part == 'training' else 'one window'} of --bptt {args.bptt} needs "
                f"({needed}); use a longer text or a smaller --bptt")


def check_prime(vocab, prime):
    if not prime:
        raise trainer.UsageError("--prime must have at least one character")
    encode(vocab, prime, "--prime")


def check_vocab(saved, path):
    """The checkpoint's vocabulary: one distinct character per row of the model's."""
    vocab = trainer.checkpoint.identity_entry(saved, path, "vocab")
    if len(vocab) != saved["config"]["vocab_size"] or len(set(vocab)) != len(vocab):
        raise trainer.UsageError(f"checkpoint {path}: its vocabulary has {len(vocab)} characters "
                                 f"({len(set(vocab))} distinct), its model "
                                 f"{saved['config']['vocab_size']}")


def evaluate(args):
    model, saved, path = trainer.load_run(args, Task.name, CharLM, run_dir(args.data or "stdlib"),
                                          check_vocab)
    data = trainer.checkpoint.data_to_read(args.data, saved, path, SOURCES)
    holdout = trainer.checkpoint.identity_entry(saved, path, "holdout", (int, float))
    if not 0 <= holdout < 1:
        raise trainer.UsageError(f"checkpoint {path}: its identity's holdout {holdout!r} is not in [0, 1)")
    corpus = Corpus(data, holdout)
    trainer.checkpoint.check_identity(saved, path, corpus.identity, ["vocab"], f"--data {args.data}")
    bptt = trainer.checkpoint.identity_entry(saved, path, "bptt", int)
    if not 1 <= bptt <= len(corpus.valid):
        raise trainer.UsageError(f"checkpoint {path}: its identity's bptt {bptt} does not fit the "
                                 f"{len(corpus.valid)} held-out characters")
    task_args = argparse.Namespace(bptt=bptt, batch_size=1,
                                   windows="random", eval_windows=args.eval_windows)
    with tg.no_grad():
        result = Task(model, corpus, task_args).evaluate()
    print(f"{path} (step {saved['step']}) on the held-out text of {corpus.name}: "
          f"{result['val_loss']:.4f} nats = {result['val_bpc']:.4f} bits per character")
    return result


def generate(args):
    model, saved, path = trainer.load_run(args, Task.name, CharLM, run_dir(args.data or "stdlib"),
                                          check_vocab)
    vocab = saved["identity"]["vocab"]
    if args.data is not None:
        corpus = Corpus(args.data, trainer.checkpoint.identity_entry(saved, path, "holdout",
                                                                     (int, float)))
        trainer.checkpoint.check_identity(saved, path, corpus.identity, ["vocab"], f"--data {args.data}")
    prime = args.prime if args.prime is not None else PRESETS.get(str(saved["identity"].get("data")), {}).get("prime", "\n")
    check_prime(vocab, prime)
    tg.manual_seed(args.seed)
    text = sample(model, vocab, prime, args.length, args.temperature, args.top_k)
    print(prime + text)
    return prime + text


def build_parser():
    parser = trainer.ArgumentParser(prog="python -m models.charlm", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    data_help = "stdlib (the default), shakespeare, hello or the path of a UTF-8 text file"

    fit = commands.add_parser("train", help="train (or --resume) a model", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    fit.add_argument("--data", default="stdlib", help=data_help)
    model = fit.add_argument_group("model (defaults: 64, LSTM, 2 x 256; hello: 4, RNN, 1 x 16)")
    model.add_argument("--cell", choices=sorted(CELLS), default=None)
    model.add_argument("--embedding-size", type=trainer.positive_int, default=None)
    model.add_argument("--hidden-size", type=trainer.positive_int, default=None)
    model.add_argument("--layers", dest="num_layers", type=trainer.positive_int, default=None)
    model.add_argument("--dropout", type=trainer.probability, default=None, help="between layers")
    batches = fit.add_argument_group("batches and evaluation")
    batches.add_argument("--bptt", type=trainer.positive_int, default=None,
                         help="window length: characters per truncated BPTT step (100)")
    batches.add_argument("--batch-size", type=trainer.positive_int, default=None, help="(32)")
    batches.add_argument("--windows", choices=["random", "contiguous"], default=None,
                         help="random windows, or contiguous ones carrying the state (random)")
    batches.add_argument("--holdout", type=trainer.probability, default=None,
                         help="held-out fraction of the text (0.05; hello: 0, judged on itself)")
    batches.add_argument("--eval-windows", type=trainer.non_negative_int, default=None,
                         help="held-out windows per evaluation, spread evenly; 0: all (256)")
    add_sampling_options(fit, length_flag="--sample-length")
    fit.add_argument("--smoke", action="store_true", help="a tiny model for a few steps: seconds")
    trainer.add_train_options(fit)
    fit.set_defaults(func=train)

    judge = commands.add_parser("eval", help="validation loss of a checkpoint")
    judge.add_argument("--data", default=None, help=data_help + " (default: the checkpoint's)")
    judge.add_argument("--checkpoint", default=None,
                       help="default: runs/charlm-DATA/checkpoint.safetensors (DATA: --data or stdlib)")
    judge.add_argument("--eval-windows", type=trainer.non_negative_int, default=0, help="0: every window (default)")
    trainer.add_device_option(judge)
    judge.set_defaults(func=evaluate)

    write = commands.add_parser("sample", help="write text with a trained model")
    write.add_argument("--checkpoint", default=None,
                       help="default: runs/charlm-DATA/checkpoint.safetensors (DATA: --data or stdlib)")
    write.add_argument("--data", default=None, help="check that the checkpoint's vocabulary is this text's")
    add_sampling_options(write, length_flag="--length")
    write.add_argument("--seed", type=trainer.non_negative_int, default=0)
    trainer.add_device_option(write)
    write.set_defaults(func=generate)
    return parser


def add_sampling_options(parser, length_flag):
    group = parser.add_argument_group("sampling")
    group.add_argument("--prime", default=None, help="text to start from")
    group.add_argument(length_flag, dest="sample_length" if length_flag != "--length" else "length",
                       type=trainer.non_negative_int, default=None if length_flag != "--length" else 300,
                       help="characters to write (300)")
    group.add_argument("--temperature", type=trainer.positive_float,
                       default=None if length_flag != "--length" else 0.8,
                       help="> 0; lower is more conservative (0.8)")
    group.add_argument("--top-k", type=trainer.positive_int, default=None,
                       help="draw among the k likeliest characters only")


def main(argv=None):
    return trainer.run_command(build_parser(), argv)


if __name__ == "__main__":
    main()
