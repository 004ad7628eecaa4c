"""Word vectors by skip-gram: each word learns to predict the words around it (Mikolov et al.
2013), over English Wikipedia articles, Shakespeare or a text file of your own.

Text -> lower-cased words, ``<url>``, ``<num>``, ``<unk>`` for words seen fewer than
``--min-count`` times -> frequent words subsampled anew each epoch -> (centre, context) pairs
within dynamic windows of up to ``--window`` words -> Embedding(V, D) of the centre -> a sampled
softmax over the vocabulary (``--loss negative-sampling``: word2vec's logistic loss against k
noise words). The last ``--holdout`` of the text is held out: evaluation reports the full
softmax's cross-entropy of its pairs, the Spearman correlation with the human ratings of
WordSim-353 and SimLex-999, and the analogy accuracy on Mikolov's questions (models/data/words.py).

    python -m models.word2vec train                     # Wikipedia articles, 5 minutes
    python -m models.word2vec neighbours king music     # cosine nearest neighbours
    python -m models.word2vec eval --plot docs/word2vec-pca.png
    python -m models.word2vec export                    # vectors.txt and vectors.safetensors
    python -m models.word2vec train --smoke
"""
import argparse
import hashlib
import os
import re

import numpy as np
import tinygrad_seq as tg
from tinygrad_seq.data import Vocab

from tinygrad_seq import train as trainer
from models import embedding_eval, skipgram
from models.data import load_text
from models.data.words import load_analogies, load_similarity, load_wikipedia, SIMILARITY
from models.vectors import write_vectors

SOURCES = {"wikipedia": load_wikipedia, "shakespeare": lambda: load_text("shakespeare")}
# words never seen in training (their vectors are their initial draw): left out of exports
UNTRAINED = ("<pad>", "<eos>", "<bos>")
PROBES = ("king", "war", "music", "water", "france", "god", "three", "science")


def split_documents(text):
    """Paragraphs (split at blank lines) when the text has any, else lines: windows stay in one."""
    parts = re.split(r"\n\s*\n", text) if re.search(r"\n\s*\n", text) else text.splitlines()
    return [part for part in parts if part.strip()]


class Corpus:
    """A text as word ids: the training part and the held-out last ``holdout`` of its words,
    the document number of every word, the vocabulary of the training part and its counts."""

    def __init__(self, source, min_count, max_vocab, holdout):
        try:
            text = SOURCES[source]() if source in SOURCES else load_text(source)
        except (ValueError, TypeError, OSError, RuntimeError) as e:
            raise trainer.UsageError(f"--data {source}: {e}") from None
        documents = [skipgram.tokenise(part) for part in split_documents(text)]
        tokens = [token for document in documents for token in document]
        numbers = np.repeat(np.arange(len(documents)), [len(d) for d in documents])
        cut = int(round(len(tokens) * (1 - holdout)))
        if cut < 2 or len(tokens) - cut < 2:
            raise trainer.UsageError(f"--data {source}: {len(tokens)} words leave too few to "
                                     f"train on and hold out {holdout:g} of them")
        self.vocab, self.counts = skipgram.build_vocab([tokens[:cut]], min_count, max_vocab)
        ids = self.vocab.encode(tokens)
        self.train, self.held = (ids[:cut], numbers[:cut]), (ids[cut:], numbers[cut:])
        self.name = source if source in SOURCES else os.path.basename(source)
        self.identity = {"data": source if source in SOURCES else os.path.abspath(source),
                         "words": len(tokens), "sha256": hashlib.sha256(text.encode()).hexdigest(),
                         "min_count": min_count, "holdout": holdout,
                         "vocab": "\n".join(self.vocab.itos)}


class Benchmarks:
    """The word-similarity ratings and analogy questions every evaluation scores."""

    def __init__(self):
        try:
            self.similarity = {name: load_similarity(name) for name in SIMILARITY}
            self.analogies = load_analogies()[1]
        except (ValueError, OSError, RuntimeError) as e:
            raise trainer.UsageError(f"the word benchmarks: {e}") from None

    def scores(self, words, vectors):
        result = {}
        for name, (pairs, ratings) in self.similarity.items():
            result[name], result[name + "_coverage"] = embedding_eval.similarity_score(
                words, vectors, pairs, ratings)
        result["analogy"], result["analogy_coverage"] = embedding_eval.analogy_accuracy(
            words, vectors, self.analogies)
        return result


def word_vectors(embedding, vocab):
    """The words with trained vectors and those rows of ``embedding`` (NumPy (V, D))."""
    keep = [i for i, word in enumerate(vocab.itos) if word not in UNTRAINED]
    return [vocab.itos[i] for i in keep], embedding[keep]

# ---------------------------------------------------------------- training, for the harness


class Task(trainer.Task):
    name, unit = "word2vec", "pair"

    def __init__(self, model, corpus, benchmarks, args):
        self.model, self.corpus, self.benchmarks, self.args = model, corpus, benchmarks, args
        self.config = model.config
        self.identity = dict(corpus.identity, window=args.window, subsample=args.subsample,
                             batch_size=args.batch_size)
        keep = skipgram.keep_probabilities(corpus.counts, args.subsample)
        self.epochs = skipgram.PairEpochs(*corpus.train, keep, args.window, args.batch_size)
        self.identity["epoch_pairs"] = self.epochs.count * args.batch_size
        self.batches = trainer.EpochBatches(args.seed, self.epochs)
        self.noise = skipgram.noise_distribution(corpus.counts)
        # a fixed draw of held-out pairs, the same whatever --seed
        held = skipgram.epoch_pairs(*corpus.held, keep, args.window, np.random.default_rng(0))
        self.held_pairs = held[:args.eval_pairs]
        if not len(self.held_pairs):
            raise trainer.UsageError(f"--data {args.data}: the held-out text gives no pairs "
                                     f"(too short; raise --holdout)")

    def loss(self, step, rng):
        pairs = self.batches(step)
        samples = skipgram.draw_samples(self.model, rng, len(pairs), self.noise)
        return skipgram.loss_of(self.model, pairs[:, 0], pairs[:, 1], samples), len(pairs)

    def evaluate(self):
        words, vectors = word_vectors(self.model.embedding.weight.numpy(), self.corpus.vocab)
        return {"val_loss": skipgram.full_softmax_loss(*skipgram.arrays_of(self.model),
                                                       *self.held_pairs.T),
                **self.benchmarks.scores(words, vectors)}

    def report(self, step):
        words, vectors = word_vectors(self.model.embedding.weight.numpy(), self.corpus.vocab)
        return "\n".join(_neighbour_lines(words, vectors, self.args.probes or PROBES, 6, quiet=True))


def _neighbour_lines(words, vectors, probes, count, quiet=False):
    unit = embedding_eval.unit_rows(vectors)
    lines = []
    for word in probes:
        try:
            found = embedding_eval.neighbours(words, vectors, word, count, unit)
        except KeyError:
            if quiet:
                continue
            raise trainer.UsageError(f"{word!r} is not in the vocabulary of {len(words):,} "
                                     f"words (rare words read as <unk>)") from None
        lines.append(f"  {word:>12}: " + ", ".join(f"{w} {s:.2f}" for w, s in found))
    return lines

# ---------------------------------------------------------------- the command line


DEFAULTS = dict(data="wikipedia", min_count=5, max_vocab=None, holdout=0.02, window=5,
                subsample=1e-3, embedding_size=100, loss="sampled-softmax", num_sampled=None,
                batch_size=1024, eval_pairs=4096, lr=3e-3, clip=0.0, eval_every=1000,
                eval_seconds=60.0, minutes=5.0)
NUM_SAMPLED = {"sampled-softmax": 64, "negative-sampling": 5}
SMOKE = dict(embedding_size=16, batch_size=256, steps=30, minutes=0.0, eval_pairs=512, lr=1e-2)


def run_dir(data):
    return os.path.join("runs", "word2vec-" + (data if data in SOURCES else
                                               os.path.splitext(os.path.basename(data))[0]))


def train(args):
    trainer.resolve(args, dict(DEFAULTS, **(SMOKE if args.smoke else {})))
    device = trainer.use_device(args)
    corpus = Corpus(args.data, args.min_count, args.max_vocab, args.holdout)
    args.num_sampled = args.num_sampled or min(NUM_SAMPLED[args.loss], len(corpus.vocab) // 2)
    if args.loss == "sampled-softmax" and args.num_sampled >= len(corpus.vocab):
        raise trainer.UsageError(f"--num-sampled {args.num_sampled} must be smaller than the "
                                 f"vocabulary of {len(corpus.vocab)}")
    benchmarks = Benchmarks()
    tg.manual_seed(args.seed)
    model = skipgram.SkipGram(len(corpus.vocab), args.embedding_size, args.loss,
                              args.num_sampled).to(device)
    task = Task(model, corpus, benchmarks, args)
    print(f"word2vec on {corpus.name}: {len(corpus.train[0]):,} training and "
          f"{len(corpus.held[0]):,} held-out words, vocabulary of {len(corpus.vocab):,} (min "
          f"count {args.min_count}); {task.epochs.count:,} batches of {args.batch_size} pairs an "
          f"epoch; vectors of {args.embedding_size}, {args.loss} ({args.num_sampled}), on {device}")
    return trainer.fit(task, args, args.out or run_dir(args.data))


def vocab_of(saved, path):
    """The checkpoint's vocabulary, one word per row of the model's embedding."""
    words = trainer.checkpoint.identity_entry(saved, path, "vocab").split("\n")
    try:
        vocab = Vocab(words[len(Vocab.SPECIALS):])
    except ValueError as e:
        raise trainer.UsageError(f"checkpoint {path}: its vocabulary is not one ({e})") from None
    if words[:len(Vocab.SPECIALS)] != list(Vocab.SPECIALS) or len(vocab) != saved["config"].get("vocab_size"):
        raise trainer.UsageError(f"checkpoint {path}: its vocabulary has {len(words)} words but "
                                 f"its embedding {saved['config'].get('vocab_size')!r} rows")
    return vocab


def load_vectors(args):
    model, saved, path = trainer.load_run(args, Task.name, skipgram.SkipGram,
                                          run_dir("wikipedia"), vocab_of)
    return (*word_vectors(model.embedding.weight.numpy(), vocab_of(saved, path)), saved, path)


def nearest(args):
    words, vectors, _, _ = load_vectors(args)
    lines = _neighbour_lines(words, vectors, args.words, args.count)
    print("\n".join(lines))
    return lines


def evaluate(args):
    words, vectors, saved, path = load_vectors(args)
    result = Benchmarks().scores(words, vectors)
    print(f"{path} (step {saved['step']}), {len(words):,} words:")
    for name in SIMILARITY:
        print(f"  {name}: Spearman {result[name]:.3f} on {result[name + '_coverage']:.0%} of the pairs")
    print(f"  analogies: {result['analogy']:.2%} right on the {result['analogy_coverage']:.0%} "
          f"of the questions whose words are all known")
    print("\n".join(_neighbour_lines(words, vectors, PROBES, 8, quiet=True)))
    if args.plot:
        shown = [w for w in words if not w.startswith("<")][:args.plot_words]
        embedding_eval.plot_pca(shown, vectors[[words.index(w) for w in shown]], args.plot,
                                f"the {len(shown)} commonest words, first two principal components")
        print(f"wrote {args.plot}")
    return result


def export(args):
    words, vectors, saved, path = load_vectors(args)
    folder = os.path.dirname(path)
    text = args.text or os.path.join(folder, "vectors.txt")
    tensors = args.safetensors or os.path.join(folder, "vectors.safetensors")
    write_vectors(text, words, vectors)
    tg.save({"words": words, "vectors": tg.tensor(vectors)}, tensors)
    print(f"{len(words):,} vectors of {vectors.shape[1]} from {path}:\n  {text}\n  {tensors}")
    return text, tensors


def build_parser():
    parser = trainer.ArgumentParser(prog="python -m models.word2vec",
                                     description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    fit = commands.add_parser("train", help="train (or --resume) word vectors", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    fit.add_argument("--data", default=None, help="wikipedia (default), shakespeare or a UTF-8 text file")
    text = fit.add_argument_group("text (defaults: min count 5, window 5, subsample 1e-3)")
    text.add_argument("--min-count", type=trainer.positive_int, default=None,
                      help="rarer words read as <unk> (5)")
    text.add_argument("--max-vocab", type=trainer.positive_int, default=None,
                      help="at most this many ids, the 4 specials included (no limit)")
    text.add_argument("--holdout", type=trainer.probability, default=None,
                      help="held-out share of the words, at the end (0.02)")
    text.add_argument("--window", type=trainer.positive_int, default=None,
                      help="context words on each side, at most (5)")
    text.add_argument("--subsample", type=trainer.positive_float, default=None,
                      help="Mikolov's threshold t: a word of frequency f is kept with "
                           "probability sqrt(t / f) (1e-3)")
    model = fit.add_argument_group("model (defaults: vectors of 100, sampled softmax of 64)")
    model.add_argument("--embedding-size", type=trainer.positive_int, default=None)
    model.add_argument("--loss", choices=skipgram.LOSSES, default=None)
    model.add_argument("--num-sampled", type=trainer.positive_int, default=None,
                       help="sampled classes a batch (64), or noise words a pair (5); at most "
                            "half the vocabulary by default")
    model.add_argument("--batch-size", type=trainer.positive_int, default=None, help="pairs (1024)")
    model.add_argument("--eval-pairs", type=trainer.positive_int, default=None,
                       help="held-out pairs each evaluation scores (4096)")
    model.add_argument("--probes", nargs="+", default=None, help="words whose neighbours each "
                       "evaluation prints (" + " ".join(PROBES) + ")")
    fit.add_argument("--smoke", action="store_true", help="a tiny model for a few steps: seconds")
    trainer.add_train_options(fit)
    fit.set_defaults(func=train)

    for name, func, text in (("neighbours", nearest, "the nearest words by cosine similarity"),
                             ("eval", evaluate, "the benchmarks, probe neighbours, a PCA plot"),
                             ("export", export, "the vectors as text and as safetensors")):
        command = commands.add_parser(name, help=text)
        if name == "neighbours":
            command.add_argument("words", nargs="+")
            command.add_argument("--count", type=trainer.positive_int, default=10)
        if name == "eval":
            command.add_argument("--plot", type=trainer.output_file, default=None,
                                 help="write a 2-D PCA plot of the commonest words here")
            command.add_argument("--plot-words", type=trainer.positive_int, default=150)
        if name == "export":
            command.add_argument("--text", type=trainer.output_file, default=None,
                                 help="default: vectors.txt beside the checkpoint")
            command.add_argument("--safetensors", type=trainer.output_file, default=None,
                                 help="default: vectors.safetensors beside the checkpoint")
        command.add_argument("--checkpoint", default=None,
                             help="default: runs/word2vec-wikipedia/checkpoint.safetensors")
        trainer.add_device_option(command)
        command.set_defaults(func=func)
    return parser


def main(argv=None):
    return trainer.run_command(build_parser(), argv)


if __name__ == "__main__":
    main()
