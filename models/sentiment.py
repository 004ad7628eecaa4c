"""N->1 sentiment of review snippets: is a Rotten Tomatoes critic's snippet "fresh" or "rotten"?

Words (lower-cased, punctuation split off) -> a vocabulary of the 10,000 commonest training
tokens -> Embedding 100 -> dropout 0.5 -> a bidirectional LSTM of 128 units that reads each
snippet to its own end (``lengths=``: batches are padded, not sorted) -> the last hidden state
of each direction -> Linear -> 2 classes. Batches are bucketed by length (snippets whose lengths
differ by less than ``--bucket-width`` tokens go together), so little is padding. ``--cell gru``
and ``--pool mean`` (the mean of the outputs over the real steps instead of the last state)
change it; ``--unidirectional`` reads forwards only. The held-out 10% are the loader's test
films (no film is both trained and tested on); the accuracy is reported beside the
majority-class baseline (always the commonest training label).

    python -m models.sentiment train                         # 2 minutes
    python -m models.sentiment eval                          # held-out accuracy vs majority
    python -m models.sentiment predict "A triumph." "Dull and far too long."
    python -m models.sentiment train --smoke
    python -m models.sentiment train --embeddings runs/word2vec-wikipedia/vectors.txt [--freeze]

``--embeddings FILE`` starts the embedding from word vectors in the text format
(``python -m models.word2vec export`` writes one; models/vectors.py reads it): each vocabulary
word found in the file takes its vector, all of them scaled by one factor so that their numbers
have the standard deviation (1) of the random rows the others keep; ``--freeze`` keeps the
embedding fixed. ``--train-fraction`` trains on a random share of the training snippets.
"""
import argparse
import collections
import hashlib
import os
import re

import numpy as np
import tinygrad_seq as tg
from tinygrad_seq.data import Vocab, pad_sequences

from tinygrad_seq import train as trainer
from models.data import load_reviews
from models.vectors import VectorFileError, read_vectors

LABELS = ("rotten", "fresh")
TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\w\s]")


def tokenise(text):
    """Lower-cased words (with their apostrophes) and punctuation marks, one token each.

    >>> tokenise("Isn't it DULL -- and long?")
    ["isn't", 'it', 'dull', '-', '-', 'and', 'long', '?']
    """
    return TOKEN.findall(text.lower())

# ---------------------------------------------------------------- the module


class SentimentClassifier(tg.nn.Module):
    """Token ids (T, B) and lengths (B,) -> class scores (B, 2).

    >>> model = SentimentClassifier(vocab_size=10, embedding_size=4, hidden_size=6)
    >>> model(tg.tensor([[4, 5], [6, 0]]), np.array([2, 1])).shape
    (2, 2)
    """

    def __init__(self, vocab_size, embedding_size=100, hidden_size=128, cell="lstm",
                 bidirectional=True, pool="last", dropout=0.5, classes=2, freeze_embedding=False):
        super().__init__()
        self.config = dict(vocab_size=vocab_size, embedding_size=embedding_size,
                           hidden_size=hidden_size, cell=cell, bidirectional=bidirectional,
                           pool=pool, dropout=dropout, classes=classes,
                           freeze_embedding=freeze_embedding)
        self.embedding = tg.nn.Embedding(vocab_size, embedding_size, padding_idx=Vocab.pad_id)
        self.embedding.weight.requires_grad_(not freeze_embedding)  # no gradient: Adam skips it
        self.dropout = tg.nn.Dropout(dropout)
        self.rnn = {"lstm": tg.nn.LSTM, "gru": tg.nn.GRU}[cell](
            embedding_size, hidden_size, bidirectional=bidirectional)
        self.head = tg.nn.Linear(hidden_size * (2 if bidirectional else 1), classes)

    def forward(self, ids, lengths):
        lengths = check_lengths(lengths, ids.shape)
        out, state = self.rnn(self.dropout(self.embedding(ids)), lengths=lengths)
        if self.config["pool"] == "mean":  # out is zero past each end
            features = out.sum(axis=0) / tg.tensor(lengths[:, None].astype(np.float32), device=out.device)
        else:
            h = state[0] if isinstance(state, tuple) else state  # (directions, B, H)
            features = tg.concatenate([h[0], h[1]], axis=-1) if self.config["bidirectional"] else h[0]
        return self.head(features)


def check_lengths(lengths, shape):
    """Lengths as int64 (B,), or a ValueError for an empty batch or a sequence of no tokens."""
    lengths = np.asarray(lengths, dtype=np.int64)
    if len(shape) != 2 or shape[1] == 0 or lengths.shape != (shape[1],):
        raise ValueError(f"an empty batch or mismatched lengths: token ids of shape {shape}, "
                         f"lengths of shape {lengths.shape}; need (T, B) ids with B >= 1 and B lengths")
    if (lengths <= 0).any() or (lengths > shape[0]).any():
        empty = np.flatnonzero(lengths <= 0)
        what = (f"all padding: sequence {empty.tolist()[:5]} of the batch has no tokens"
                if len(empty) else f"lengths beyond the {shape[0]} padded steps")
        raise ValueError(f"a batch with {what} (lengths {lengths.tolist()[:8]})")
    return lengths


def loss_of(model, ids, lengths, labels, reduction="mean"):
    return tg.nn.functional.cross_entropy(model(ids, lengths), labels, reduction=reduction)

# ---------------------------------------------------------------- data


class Reviews:
    """Tokenised snippets: training (the loader's training and validation films) and held-out
    (its test films), and the vocabulary of the ``vocab_size`` commonest training tokens."""

    def __init__(self, vocab_size=10_000, fraction=1.0):
        try:
            (train_x, train_y), (more_x, more_y), (held_x, held_y) = load_reviews()
        except (ValueError, OSError, RuntimeError) as e:
            raise trainer.UsageError(f"the reviews: {e}") from None
        train_x, train_y = np.concatenate([train_x, more_x]), np.concatenate([train_y, more_y])
        if fraction < 1:  # one fixed share (generator 0), whatever --seed
            chosen = np.sort(np.random.default_rng(0).permutation(len(train_y))[
                :max(1, int(round(fraction * len(train_y))))])
            train_x, train_y = train_x[chosen], train_y[chosen]
        tokens = [tokenise(text) for text in train_x]
        self.vocab = Vocab.from_counts(collections.Counter(t for ts in tokens for t in ts),
                                       max_size=vocab_size)
        self.train = self.encode(train_x, train_y, tokens)
        self.held = self.encode(held_x, held_y)
        self.texts = held_x
        self.majority = int(np.bincount(train_y).argmax())
        self.identity = {"data": "rotten_tomatoes", "snippets": len(train_y) + len(held_y),
                         "sha256": hashlib.sha256("\n".join(train_x).encode()).hexdigest(),
                         "vocab_size": len(self.vocab), "vocab": "\n".join(self.vocab.itos)}
        if fraction < 1:
            self.identity["train_fraction"] = fraction

    def encode(self, texts, labels, tokens=None):
        ids = [self.vocab.encode(ts) for ts in (tokens or map(tokenise, texts))]
        keep = [i for i, seq in enumerate(ids) if len(seq)]  # a snippet of no words: none here
        return [ids[i] for i in keep], labels[keep]


def encode_texts(vocab, texts):
    """Token ids of each text; a UsageError for no texts or a text of no words."""
    if len(texts) == 0:
        raise trainer.UsageError("an empty batch: no review to classify")
    ids = []
    for text in texts:
        tokens = tokenise(text)
        if not tokens:
            raise trainer.UsageError(f"the review {text!r} tokenises to nothing (no words or "
                                     f"punctuation): there is nothing to classify")
        ids.append(vocab.encode(tokens))
    return ids


def batch_of(sequences, device="cpu"):
    padded, lengths = pad_sequences(sequences, padding_value=Vocab.pad_id)  # (T, B)
    return tg.tensor(padded, device=device), lengths


def epoch_of(sequences, batch_size, bucket_width):
    """One epoch's batches of snippets of similar lengths (the PyTorch twin draws them too)."""
    return trainer.bucketed_epoch([len(s) for s in sequences], batch_size, bucket_width)


def predict(model, sequences, batch_size=256):
    """Class scores (N, 2) as NumPy, batches in order of length (then put back in order)."""
    order = np.argsort([len(s) for s in sequences], kind="stable")
    scores = np.zeros((len(sequences), model.config["classes"]), np.float32)
    with tg.no_grad():
        for i in range(0, len(order), batch_size):
            chunk = order[i:i + batch_size]
            ids, lengths = batch_of([sequences[j] for j in chunk], model.device)
            scores[chunk] = model(ids, lengths).numpy()
    return scores

# ---------------------------------------------------------------- training, for the harness


class Task(trainer.Task):
    name, unit = "sentiment", "sample"

    def __init__(self, model, reviews, args):
        self.model, self.reviews, self.args = model, reviews, args
        self.config = model.config
        self.identity = dict(reviews.identity, batch_size=args.batch_size,
                             bucket_width=args.bucket_width)
        self.identity["embeddings"] = getattr(args, "embeddings_sha256", None)  # resume: the same
        self.batches = trainer.EpochBatches(
            args.seed, epoch_of(reviews.train[0], args.batch_size, args.bucket_width))

    def loss(self, step, rng):
        index = self.batches(step)
        ids, lengths = batch_of([self.reviews.train[0][i] for i in index], self.model.device)
        labels = tg.tensor(self.reviews.train[1][index], device=self.model.device)
        return loss_of(self.model, ids, lengths, labels), len(index)

    def evaluate(self):
        return evaluate_on(self.model, self.reviews)


def evaluate_on(model, reviews, predict=predict):
    """Held-out cross-entropy and accuracy, and the majority class's accuracy; ``predict`` gives
    the class scores (the PyTorch twin passes its own)."""
    sequences, labels = reviews.held
    scores = predict(model, sequences)
    log_probabilities = scores - np.logaddexp.reduce(scores, axis=1, keepdims=True)
    return {"val_loss": float(-log_probabilities[np.arange(len(labels)), labels].mean()),
            "val_acc": trainer.metrics.accuracy(labels, scores.argmax(1)),
            "majority_acc": trainer.metrics.accuracy(labels, np.full(len(labels), reviews.majority))}

# ---------------------------------------------------------------- the command line


DEFAULTS = dict(vocab_size=10_000, embedding_size=100, hidden_size=128, cell="lstm", pool="last",
                dropout=0.5, batch_size=64, bucket_width=4, lr=1e-3, clip=0.0, eval_every=1000,
                eval_seconds=30.0, minutes=2.0, train_fraction=1.0)
SMOKE = dict(vocab_size=2000, embedding_size=16, hidden_size=16, steps=30, minutes=0.0, lr=1e-2,
             batch_size=32)


def train(args):
    vectors = pretrained_vectors(args)  # a bad file is refused before the data is read
    trainer.resolve(args, dict(DEFAULTS, **(SMOKE if args.smoke else {})))
    device = trainer.use_device(args)
    reviews = Reviews(args.vocab_size, args.train_fraction)
    tg.manual_seed(args.seed)
    model = SentimentClassifier(len(reviews.vocab), args.embedding_size, args.hidden_size, args.cell,
                                not args.unidirectional, args.pool, args.dropout,
                                freeze_embedding=args.freeze).to(device)
    if vectors is not None:
        found = load_pretrained(model, reviews.vocab, *vectors)
        print(f"--embeddings {args.embeddings}: {found:,} of the {len(reviews.vocab):,} words "
              f"start from its vectors, the rest from the random draw"
              f"{'; the embedding is frozen' if args.freeze else ''}")
    print(f"sentiment: {len(reviews.train[1]):,} training and {len(reviews.held[1]):,} held-out "
          f"snippets, vocabulary of {len(reviews.vocab):,}; {'' if args.unidirectional else 'bi'}"
          f"{args.cell.upper()} {args.hidden_size} ({args.pool} state), "
          f"{sum(p.size for p in model.parameters()):,} parameters; batch {args.batch_size}, "
          f"buckets {args.bucket_width} tokens wide, on {device}")
    result = trainer.fit(Task(model, reviews, args), args, args.out or "runs/sentiment")
    print(f"held-out accuracy {result['val_acc']:.4f}; the majority class "
          f"({LABELS[reviews.majority]}) scores {result['majority_acc']:.4f}")
    return result


def share(text):
    """A command line's fraction in (0, 1]."""
    value = trainer.positive_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"must be a fraction in (0, 1], got {text!r}")
    return value


def pretrained_vectors(args):
    """``--embeddings``' (words, vectors), read and checked, or None; ``--embedding-size``
    defaults to the file's width and must equal it when given."""
    if args.freeze and not args.embeddings:
        raise trainer.UsageError("--freeze keeps pretrained vectors fixed: it needs --embeddings FILE")
    if not args.embeddings:
        return None
    try:
        words, vectors = read_vectors(args.embeddings)
    except VectorFileError as e:
        raise trainer.UsageError(f"--embeddings: {e}") from None
    if args.embedding_size is None:
        args.embedding_size = vectors.shape[1]
    elif args.embedding_size != vectors.shape[1]:
        raise trainer.UsageError(f"--embeddings {args.embeddings} holds vectors of "
                                 f"{vectors.shape[1]} numbers, but --embedding-size is "
                                 f"{args.embedding_size}")
    with open(args.embeddings, "rb") as file:
        args.embeddings_sha256 = hashlib.sha256(file.read()).hexdigest()
    return words, vectors


def load_pretrained(model, vocab, words, vectors):
    """Copy the vector of every vocabulary word found in ``words`` (all but ``<pad>``, which
    stays zero) into the model's embedding, scaled by one factor so that the copied numbers
    have standard deviation 1, the random rows' (so neither kind swamps the other in the
    LSTM); returns how many rows were copied."""
    index = {word: i for i, word in enumerate(words)}
    rows = [(i, index[word]) for i, word in enumerate(vocab.itos)
            if word in index and i != Vocab.pad_id]
    if not rows:
        return 0
    mine, theirs = map(np.array, zip(*rows))
    copied = vectors[theirs].astype(np.float64)
    spread = copied.std()
    weight = model.embedding.weight.numpy().copy()
    weight[mine] = copied / (spread if spread > 0 else 1.0)
    model.embedding.weight.data[...] = tg.tensor(weight.astype(np.float32),
                                                 device=model.device).data
    return len(rows)


def vocab_of(saved, path):
    """The checkpoint's vocabulary, one word per row of the model's embedding."""
    words = trainer.checkpoint.identity_entry(saved, path, "vocab").split("\n")
    try:
        vocab = Vocab(words[len(Vocab.SPECIALS):])
    except ValueError as e:
        raise trainer.UsageError(f"checkpoint {path}: its vocabulary is not one ({e})") from None
    if len(vocab) != saved["config"].get("vocab_size"):
        raise trainer.UsageError(f"checkpoint {path}: its vocabulary has {len(vocab)} words but "
                                 f"its embedding {saved['config'].get('vocab_size')!r}")
    return vocab


def evaluate(args):
    model, saved, path = trainer.load_run(args, Task.name, SentimentClassifier,
                                          os.path.join("runs", "sentiment"), vocab_of)
    fraction = saved["identity"].get("train_fraction", 1.0)
    if isinstance(fraction, bool) or not isinstance(fraction, float) or not 0 < fraction <= 1:
        raise trainer.UsageError(f"checkpoint {path}: its identity's train_fraction {fraction!r} "
                                 f"is not in (0, 1]")
    reviews = Reviews(saved["identity"]["vocab_size"], fraction)
    trainer.checkpoint.check_identity(saved, path, reviews.identity, ["sha256", "vocab"],
                                      "the reviews' vocabulary")
    result = evaluate_on(model, reviews)
    print(f"{path} (step {saved['step']}) on {len(reviews.held[1])} held-out snippets: accuracy "
          f"{result['val_acc']:.4f}, majority class ({LABELS[reviews.majority]}) "
          f"{result['majority_acc']:.4f}, loss {result['val_loss']:.4f}")
    return result


def classify(args):
    model, saved, path = trainer.load_run(args, Task.name, SentimentClassifier,
                                          os.path.join("runs", "sentiment"), vocab_of)
    vocab = vocab_of(saved, path)
    scores = predict(model, encode_texts(vocab, args.texts))
    probabilities = np.exp(scores - np.logaddexp.reduce(scores, axis=1, keepdims=True))
    for text, p in zip(args.texts, probabilities):
        print(f"{LABELS[int(p.argmax())]:>6} {p.max():.2f}  {text}")
    return [LABELS[int(p.argmax())] for p in probabilities]


def build_parser():
    parser = trainer.ArgumentParser(prog="python -m models.sentiment",
                                     description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    fit = commands.add_parser("train", help="train (or --resume) the classifier", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    model = fit.add_argument_group("model (defaults: 10k words, embedding 100, dropout 0.5, biLSTM 128)")
    model.add_argument("--vocab-size", type=trainer.positive_int, default=None,
                       help="ids in all, the 4 specials included (10000)")
    model.add_argument("--embedding-size", type=trainer.positive_int, default=None)
    model.add_argument("--hidden-size", type=trainer.positive_int, default=None)
    model.add_argument("--cell", choices=["lstm", "gru"], default=None)
    model.add_argument("--unidirectional", action="store_true", help="forwards only")
    model.add_argument("--pool", choices=["last", "mean"], default=None,
                       help="the last state of each direction, or the mean output (last)")
    model.add_argument("--dropout", type=trainer.probability, default=None, help="on the embeddings (0.5)")
    model.add_argument("--batch-size", type=trainer.positive_int, default=None, help="(64)")
    model.add_argument("--bucket-width", type=trainer.positive_int, default=None,
                       help="lengths in a batch differ by less than this many tokens (4)")
    model.add_argument("--embeddings", type=trainer.existing_file, default=None, metavar="FILE",
                       help="start the embedding from these word vectors (text format 'N D', "
                            "then 'word v1 ... vD' a line)")
    model.add_argument("--freeze", action="store_true",
                       help="keep the --embeddings vectors fixed")
    model.add_argument("--train-fraction", type=share, default=None,
                       help="train on this random share of the training snippets (1: all)")
    fit.add_argument("--smoke", action="store_true", help="a tiny model for a few steps: seconds")
    trainer.add_train_options(fit)
    fit.set_defaults(func=train)

    for name, func, text in (("eval", evaluate, "held-out accuracy beside the majority class"),
                             ("predict", classify, "fresh or rotten, for each text given")):
        command = commands.add_parser(name, help=text)
        if name == "predict":
            command.add_argument("texts", nargs="*", help="review snippets")
        command.add_argument("--checkpoint", default=None,
                             help="default: runs/sentiment/checkpoint.safetensors")
        trainer.add_device_option(command)
        command.set_defaults(func=func)
    return parser


def main(argv=None):
    return trainer.run_command(build_parser(), argv)


if __name__ == "__main__":
    main()
