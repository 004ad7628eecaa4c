"""An N->M encoder-decoder (seq2seq) with optional attention: dates to ISO, English to French.

The module, its loss and the decoders are in models/seq2seq_model.py; this file holds the data
(pairs of token sequences and their vocabularies), the task the shared harness trains, and the
command line. Batches are bucketed by source length; the loss is the cross-entropy of the
target tokens under teacher forcing (``--sample-ratio``: scheduled sampling), padding weighted 0,
full softmax or ``--sampled-softmax K`` in training, always the full softmax in evaluation.
Evaluation decodes the held-out pairs (greedy; ``eval --beam K`` for beam search) and reports
exact match and corpus BLEU.

    python -m models.seq2seq train --data dates                      # attention, 10 minutes
    python -m models.seq2seq train --data dates --attention none --out runs/seq2seq-dates-none
    python -m models.seq2seq eval --data dates --beam 5
    python -m models.seq2seq eval --data fr --compare runs/seq2seq-fr-none/checkpoint.safetensors
    echo "3rd of May 1999" | python -m models.seq2seq translate --data dates --heatmap may.png
    python -m models.seq2seq train --data fr                         # Django's French messages

``--data`` is ``dates`` (generated, models/dates.py), ``fr`` (English -> French gettext messages,
models/data/catalogs.py) or a tab-separated file of ``source<TAB>target`` lines (10% held out).
"""
import argparse
import hashlib
import json
import os
import re
import sys

import numpy as np
import tinygrad_seq as tg

from tinygrad_seq import train as trainer
from tinygrad_seq.train import plotter
from models.bleu import bleu, paired_bootstrap
from models.seq2seq_model import (ATTENTIONS, BOS, CELLS, EOS, PAD, UNK, Seq2Seq, beam_search,
                                  greedy, loss_of)

# ---------------------------------------------------------------- data

WORD = re.compile(r"\w+|[^\w\s]")


def tokenize(text, kind):
    return list(text) if kind == "char" else WORD.findall(text.lower())


def detokenize(tokens, kind):
    return "".join(tokens) if kind == "char" else " ".join(tokens)


def load_pairs(source, seed=0):
    """(train, test) lists of (source text, target text), and the tokenisation kind."""
    if source == "dates":
        from models.dates import make_pairs
        train, test = make_pairs(seed=0)
        return train, test, "char"
    if source == "fr":
        from models.data.catalogs import load_messages
        train, test = load_messages()
        return train, test, "word"
    try:
        with open(source, encoding="utf-8") as file:
            lines = [line.rstrip("\n") for line in file if line.strip()]
    except (OSError, UnicodeDecodeError) as e:
        raise trainer.UsageError(f"--data {source}: not dates, fr, or a readable UTF-8 "
                                 f"tab-separated file ({e})") from None
    pairs = []
    for number, line in enumerate(lines, 1):
        parts = line.split("\t")
        if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
            raise trainer.UsageError(f"--data {source}: line {number} is not source<TAB>target")
        pairs.append((parts[0], parts[1]))
    if len(pairs) < 2:  # one pair is held out (10%, at least one), the rest is trained on
        raise trainer.UsageError(f"--data {source}: {len(pairs)} source<TAB>target "
                                 f"line{'' if len(pairs) == 1 else 's'}; at least 2 are needed "
                                 f"(one held out for evaluation, the others to train on)")
    order = np.random.default_rng(seed).permutation(len(pairs))
    cut = max(1, len(pairs) // 10)
    return [pairs[i] for i in order[cut:]], [pairs[i] for i in order[:cut]], "word"


class Corpus:
    """Pairs as ids: vocabularies from the training pairs, held-out pairs encoded with them."""

    def __init__(self, source, reverse_source=False, vocabularies=None):
        try:
            train, test, self.kind = load_pairs(source)
        except (ValueError, OSError, RuntimeError) as e:
            raise trainer.UsageError(f"--data {source}: {e}") from None
        self.name = source if source in ("dates", "fr") else os.path.basename(source)
        self.reverse_source = reverse_source
        tokenized = [[(tokenize(s, self.kind), tokenize(t, self.kind)) for s, t in part]
                     for part in (train, test)]
        if vocabularies is None:
            from collections import Counter
            vocabularies = [tg.data.Vocab.from_counts(Counter(tok for pair in tokenized[0]
                                                              for tok in pair[side]))
                            for side in (0, 1)]
        self.source_vocab, self.target_vocab = vocabularies
        self.train = [self.encode_pair(s, t) for s, t in tokenized[0]]
        self.test = [self.encode_pair(s, t) for s, t in tokenized[1]]
        self.test_references = [t for _, t in tokenized[1]]
        self.test_sources = [s for s, _ in tokenized[1]]
        self.max_source = max(len(s) for s, _ in self.train)
        self.max_target = max(len(t) for _, t in self.train)
        digest = hashlib.sha256(json.dumps([train, test]).encode()).hexdigest()
        self.identity = {"data": source if source in ("dates", "fr") else os.path.abspath(source),
                         "pairs": len(train) + len(test), "sha256": digest, "tokens": self.kind,
                         "source_vocab": json.dumps(self.source_vocab.itos),
                         "target_vocab": json.dumps(self.target_vocab.itos),
                         "reverse_source": reverse_source, "max_source": self.max_source,
                         "max_target": self.max_target}

    def encode_source(self, tokens):
        ids = self.source_vocab.encode(tokens)
        return ids[::-1].copy() if self.reverse_source else ids

    def encode_pair(self, source, target):
        return self.encode_source(source), self.target_vocab.encode(target)


def vocabularies_of(identity):
    return [tg.data.Vocab(json.loads(identity[key])[4:]) for key in ("source_vocab", "target_vocab")]


def make_batch(pairs):
    source, lengths = tg.data.pad_sequences([s for s, _ in pairs], PAD)
    inputs, _ = tg.data.pad_sequences([np.r_[BOS, t] for _, t in pairs], PAD)
    targets, _ = tg.data.pad_sequences([np.r_[t, EOS] for _, t in pairs], PAD)
    return {"source": source, "lengths": lengths, "inputs": inputs, "targets": targets,
            "weights": (targets != PAD).astype(np.float32)}


# ---------------------------------------------------------------- evaluation

def decode(model, sources, max_length, beam=1, alpha=1.0, batch_size=256):
    """Output ids for each source id array (any order, batched by length), and the attention."""
    order = np.argsort([len(s) for s in sources], kind="stable")
    results, attention = [None] * len(sources), [None] * len(sources)
    for start in range(0, len(order), batch_size):
        chosen = order[start:start + batch_size]
        padded, lengths = tg.data.pad_sequences([sources[i] for i in chosen], PAD)
        if beam == 1:
            outs, weights = greedy(model, padded, lengths, max_length)
        else:
            outs, weights = beam_search(model, padded, lengths, max_length, beam, alpha)
        for row, i in enumerate(chosen):
            results[i] = outs[row]
            attention[i] = None if weights is None else weights[row, :len(outs[row]) + 1, :lengths[row]]
    return results, attention


def evaluate_corpus(model, corpus, limit=0, beam=1, alpha=1.0, keep_words=False):
    """Held-out loss (teacher-forced, full softmax), exact match and corpus BLEU; with
    ``keep_words`` also the translations (``words``) and their ``references``."""
    pairs = corpus.test[:limit] if limit else corpus.test
    total = count = 0.0
    for start in range(0, len(pairs), 256):
        batch = make_batch(pairs[start:start + 256])
        total += loss_of(model, batch, reduction="sum").item()
        count += float(batch["weights"].sum())
    outputs, _ = decode(model, [s for s, _ in pairs], corpus.max_target + 5, beam, alpha)
    words = [corpus.target_vocab.decode(o) for o in outputs]
    references = corpus.test_references[:len(pairs)]
    exact = float(np.mean([w == r for w, r in zip(words, references)]))
    result = {"val_loss": total / count, "exact": exact, "bleu": bleu(words, references)}
    if keep_words:
        result.update(words=words, references=references)
    return result


# ---------------------------------------------------------------- training, for the harness

class Task(trainer.Task):
    name, unit = "seq2seq", "token"

    def __init__(self, model, corpus, args):
        self.model, self.corpus, self.args = model, corpus, args
        self.config = model.config
        self.identity = dict(corpus.identity, batch_size=args.batch_size)
        self.batches = trainer.EpochBatches(args.seed, trainer.bucketed_epoch(
            [len(s) for s, _ in corpus.train], args.batch_size, args.bucket_width))

    def check(self):
        check_sampled(self.args.sampled_softmax, len(self.corpus.target_vocab))

    def batch_of(self, step):
        """Step ``step``'s batch: pairs of similar source lengths, epoch after epoch, a function
        of (seed, step) alone (exact resume)."""
        return make_batch([self.corpus.train[i] for i in self.batches(step)])

    def loss(self, step, rng):
        batch = self.batch_of(step)
        loss = loss_of(self.model, batch, self.args.sampled_softmax, self.args.sample_ratio, rng)
        return loss, int(batch["weights"].sum())

    def evaluate(self):
        return evaluate_corpus(self.model, self.corpus, self.args.eval_size)

    def report(self, step):
        source = self.corpus.test[0][0]
        (out,), _ = decode(self.model, [source], self.corpus.max_target + 5)
        shown = self.corpus.test_sources[0]
        return (f"  {detokenize(shown, self.corpus.kind)!r} -> "
                f"{detokenize(self.corpus.target_vocab.decode(out), self.corpus.kind)!r}")


def check_sampled(k, vocabulary):
    if k and k >= vocabulary:
        raise trainer.UsageError(f"--sampled-softmax {k}: K must be smaller than the target "
                                 f"vocabulary ({vocabulary} ids), or the full softmax is cheaper; "
                                 f"drop the option")


# ---------------------------------------------------------------- the command line

DEFAULTS = dict(cell="lstm", embedding_size=64, hidden_size=128, num_layers=1, attention="additive",
                attention_size=None, dropout=0.0, batch_size=32, bucket_width=2, sampled_softmax=0,
                sample_ratio=0.0, reverse_source=False, eval_size=0, lr=2e-3, clip=5.0,
                eval_every=500, eval_seconds=60.0, minutes=5.0)
PRESETS = {
    "dates": dict(embedding_size=32, hidden_size=64, batch_size=64, eval_seconds=30.0,
                  minutes=10.0, lr=3e-3),
    "fr": dict(embedding_size=64, hidden_size=64, batch_size=32, bucket_width=1, dropout=0.3,
               minutes=8.0),
}
SMOKE = dict(embedding_size=8, hidden_size=8, steps=3, eval_size=16, minutes=0.0, batch_size=8)


def run_dir(data, attention="additive"):
    name = data if data in PRESETS else os.path.splitext(os.path.basename(data))[0]
    return os.path.join("runs", f"seq2seq-{name}" + ("" if attention == "additive" else f"-{attention}"))


def train(args):
    defaults = {**DEFAULTS, **PRESETS.get(args.data, {})}
    if args.smoke:
        defaults.update({key: min(defaults.get(key, value), value) for key, value in SMOKE.items()})
        defaults["eval_size"] = SMOKE["eval_size"]
    trainer.resolve(args, defaults)
    device = trainer.use_device(args)
    corpus = Corpus(args.data, args.reverse_source)
    check_sampled(args.sampled_softmax, len(corpus.target_vocab))
    tg.manual_seed(args.seed)
    model = Seq2Seq(len(corpus.source_vocab), len(corpus.target_vocab), args.embedding_size,
                    args.hidden_size, args.num_layers, args.cell, True, args.attention,
                    args.attention_size, args.dropout).to(device)
    parameters = sum(p.size for p in model.parameters())
    print(f"seq2seq on {corpus.name}: {len(corpus.train):,} training and {len(corpus.test):,} "
          f"held-out pairs; vocabularies {len(corpus.source_vocab)} -> {len(corpus.target_vocab)} "
          f"({corpus.kind}s); Bi{args.cell.upper()} {args.hidden_size}, attention "
          f"{args.attention}, {parameters:,} parameters; batch {args.batch_size}, on {device}")
    return trainer.fit(Task(model, corpus, args), args,
                       args.out or run_dir(args.data, args.attention))


def check_vocabularies(saved, path):
    """The checkpoint's token kind and vocabularies, which its model's sizes must match."""
    identity, config = saved["identity"], saved["config"]
    entry = lambda key, types: trainer.checkpoint.identity_entry(saved, path, key, types)
    entry("reverse_source", bool), entry("max_source", int), entry("max_target", int)
    if entry("tokens", str) not in ("char", "word"):
        raise trainer.UsageError(f"checkpoint {path}: its identity's tokens {identity['tokens']!r} "
                                 f"is neither 'char' nor 'word'")
    try:
        sizes = [len(vocab) for vocab in vocabularies_of(identity)]
    except (TypeError, ValueError, KeyError) as e:
        raise trainer.UsageError(f"checkpoint {path}: its vocabularies are not readable "
                                 f"({type(e).__name__}: {e})") from None
    if sizes != [config.get("source_size"), config.get("target_size")]:
        raise trainer.UsageError(f"checkpoint {path}: its vocabularies have {sizes[0]} and "
                                 f"{sizes[1]} tokens, its model {config.get('source_size')} "
                                 f"and {config.get('target_size')}")


def corpus_of(args, saved, path):
    identity = saved["identity"]
    data = trainer.checkpoint.data_to_read(args.data, saved, path, PRESETS)
    corpus = Corpus(data, identity["reverse_source"], vocabularies_of(identity))
    ours = Corpus(data, identity["reverse_source"])  # the vocabulary this data would build
    trainer.checkpoint.check_identity(saved, path, ours.identity, ["source_vocab", "target_vocab"],
                                      f"--data {data}")
    return corpus


def evaluate(args):
    model, saved, path = trainer.load_run(args, Task.name, Seq2Seq, run_dir(args.data or "dates"),
                                          check_vocabularies)
    corpus = corpus_of(args, saved, path)
    compare = getattr(args, "compare", None)
    with tg.no_grad():
        result = evaluate_corpus(model, corpus, args.eval_size, args.beam, args.alpha,
                                 keep_words=bool(compare))
    how = "greedy" if args.beam == 1 else f"beam {args.beam}, alpha {args.alpha:g}"
    print(f"{path} (step {saved['step']}) on {len(corpus.test)} held-out pairs of {corpus.name}, "
          f"{how}: exact match {result['exact']:.4f}, BLEU {100 * result['bleu']:.2f}, "
          f"loss {result['val_loss']:.4f}")
    if compare:
        result["compare"] = compare_with(args, compare, corpus, result, model.device)
    return result


def compare_with(args, other_path, corpus, result, device):
    """The paired bootstrap of this checkpoint's translations (A) against another checkpoint's
    (B) on the same held-out pairs (each model decodes through its own vocabularies), the other
    model loaded on ``device`` (this one's)."""
    other, saved = trainer.load_model(other_path, Task.name, Seq2Seq, device, check_vocabularies)
    path = other_path
    # the other model reads the same data through its own vocabularies
    theirs_corpus = corpus_of(argparse.Namespace(data=corpus.identity["data"]), saved, path)
    with tg.no_grad():
        theirs = evaluate_corpus(other, theirs_corpus, args.eval_size, args.beam, args.alpha,
                                 keep_words=True)
    if theirs["references"] != result["references"]:
        raise trainer.UsageError(f"--compare {other_path}: its held-out references differ from "
                                 f"{args.checkpoint or 'this checkpoint'}'s; compare models of one data set")
    boot = paired_bootstrap(result["words"], theirs["words"], result["references"],
                            samples=args.bootstrap_samples, seed=args.seed)
    low, high = (100 * v for v in boot["interval_difference"])
    print(f"against {path} (step {saved['step']}): BLEU {100 * boot['bleu_a']:.2f} vs "
          f"{100 * boot['bleu_b']:.2f}, difference {100 * boot['difference']:+.2f} "
          f"(95%: {low:+.2f} to {high:+.2f}), ahead in {100 * boot['a_wins']:.1f}% of "
          f"{boot['samples']} paired bootstrap resamples (ties {100 * boot['ties']:.1f}%)")
    return boot


def translate(args, stdin=None):
    model, saved, path = trainer.load_run(args, Task.name, Seq2Seq, run_dir(args.data or "dates"),
                                          check_vocabularies)
    identity = saved["identity"]
    if args.data is not None:
        corpus_of(args, saved, path)
    kind = identity["tokens"]
    source_vocab, target_vocab = vocabularies_of(identity)
    lines = [line.rstrip("\n") for line in (stdin or sys.stdin)]
    for number, line in enumerate(lines, 1):
        if not tokenize(line, kind):
            raise trainer.UsageError(f"line {number} of the input is empty: nothing to translate "
                                     f"(one sentence a line)")
    sources, outputs = [], []
    for number, line in enumerate(lines, 1):
        tokens = tokenize(line, kind)
        ids = source_vocab.encode(tokens)
        unknown = [t for t, i in zip(tokens, ids) if i == UNK]
        if unknown:
            print(f"note: line {number}: {len(unknown)} of {len(tokens)} tokens are not in the "
                  f"training vocabulary and read as <unk>: {unknown[:8]}", file=sys.stderr)
        if len(tokens) > identity["max_source"]:
            print(f"warning: line {number} has {len(tokens)} tokens, longer than any source seen "
                  f"in training ({identity['max_source']}): the output may be poor", file=sys.stderr)
        sources.append(ids[::-1].copy() if identity["reverse_source"] else ids)
    longest = max([identity["max_target"]] + [2 * len(s) for s in sources]) + 5
    with tg.no_grad():
        outs, attention = decode(model, sources, longest, args.beam, args.alpha)
    results = []
    for out in outs:
        results.append(detokenize(target_vocab.decode(out), kind))
        print(results[-1])
    if args.heatmap and lines:
        if attention[0] is None:
            raise trainer.UsageError("--heatmap: this model has no attention (--attention none)")
        source_tokens = tokenize(lines[0], kind)
        if identity["reverse_source"]:
            source_tokens = source_tokens[::-1]
        heatmap(attention[0], source_tokens, target_vocab.decode(outs[0]) + ["<eos>"], args.heatmap)
        print(f"wrote {args.heatmap}", file=sys.stderr)
    return results


def heatmap(weights, source, output, path):
    """The attention weights (output steps x source tokens) of one sentence, as a PNG."""
    plt = trainer.extras.pyplot()
    weights = weights[:len(output), :len(source)]
    figure, axis = plt.subplots(figsize=(1 + 0.35 * len(source), 1 + 0.35 * len(output)))
    axis.imshow(weights, cmap="Greys", vmin=0, vmax=1, aspect="auto")
    axis.set_xticks(range(len(source)), [repr(t)[1:-1] for t in source], rotation=90)
    axis.set_yticks(range(len(output)), output)
    axis.set_xlabel("source")
    axis.set_ylabel("output")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def build_parser():
    parser = trainer.ArgumentParser(prog="python -m models.seq2seq",
                                     description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    data_help = "dates, fr, or a file of source<TAB>target lines"

    fit = commands.add_parser("train", help="train (or --resume) a model", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    fit.add_argument("--data", default="dates", help=data_help + " (dates)")
    model = fit.add_argument_group("model (dates: 32, BiLSTM 64; fr: 64, BiLSTM 64)")
    model.add_argument("--cell", choices=sorted(CELLS), default=None)
    model.add_argument("--embedding-size", type=trainer.positive_int, default=None)
    model.add_argument("--hidden-size", type=trainer.positive_int, default=None,
                       help="per encoder direction; the decoder has twice as many")
    model.add_argument("--layers", dest="num_layers", type=trainer.positive_int, default=None)
    model.add_argument("--attention", choices=ATTENTIONS, default=None,
                       help="none: the decoder sees the context vector alone (additive)")
    model.add_argument("--attention-size", type=trainer.positive_int, default=None)
    model.add_argument("--dropout", type=trainer.probability, default=None,
                       help="on the embeddings and the decoder's outputs (0; fr: 0.3)")
    batches = fit.add_argument_group("batches and loss")
    batches.add_argument("--batch-size", type=trainer.positive_int, default=None)
    batches.add_argument("--bucket-width", type=trainer.positive_int, default=None,
                         help="source lengths in a batch differ by less than this (2)")
    batches.add_argument("--reverse-source", action="store_true", default=None,
                         help="feed each source reversed (Sutskever et al. 2014)")
    batches.add_argument("--sampled-softmax", type=trainer.non_negative_int, default=None,
                         metavar="K", help="train with a softmax over K sampled classes (0: full)")
    batches.add_argument("--sample-ratio", type=trainer.probability, default=None,
                         help="scheduled sampling: feed the model's own previous token with this "
                              "probability instead of the true one (0)")
    batches.add_argument("--eval-size", type=trainer.non_negative_int, default=None,
                         help="held-out pairs per evaluation (0: all)")
    fit.add_argument("--smoke", action="store_true", help="a tiny model for a few steps: seconds")
    trainer.add_train_options(fit)
    fit.set_defaults(func=train)

    for name, func, text in (("eval", evaluate, "exact match and BLEU of a checkpoint"),
                             ("translate", translate, "translate sentences read from stdin")):
        sub = commands.add_parser(name, help=text, description=text)
        sub.add_argument("--data", default=None, help=data_help + " (default: the checkpoint's); "
                         "refuses a checkpoint of another vocabulary")
        sub.add_argument("--checkpoint", default=None,
                         help="default: runs/seq2seq-DATA/checkpoint.safetensors")
        sub.add_argument("--beam", type=trainer.positive_int, default=1,
                         help="beam width (1: greedy)")
        sub.add_argument("--alpha", type=trainer.finite_float, default=1.0,
                         help="length normalisation: log-probability / length**alpha (1)")
        if name == "eval":
            sub.add_argument("--eval-size", type=trainer.non_negative_int, default=0,
                             help="held-out pairs (0: all)")
            sub.add_argument("--compare", default=None, metavar="CHECKPOINT",
                             help="also decode with this checkpoint and give the paired bootstrap "
                             "of the BLEU difference (this one minus that one)")
            sub.add_argument("--bootstrap-samples", type=trainer.positive_int, default=1000,
                             help="resamples of the paired bootstrap (1000)")
            sub.add_argument("--seed", type=trainer.non_negative_int, default=0, help="the bootstrap's seed (0)")
        else:
            sub.add_argument("--heatmap", type=trainer.output_file, default=None, metavar="PNG",
                             help="plot the attention of the first sentence")
        trainer.add_device_option(sub)
        sub.set_defaults(func=func)

    draw = commands.add_parser("plot", help="a held-out metric of several runs on one plot "
                               "(the trainer's plotter, python -m tinygrad_seq.train)")
    plotter.add_arguments(draw, out="seq2seq.png", metric="exact")
    draw.set_defaults(func=plotter.run)
    return parser


def main(argv=None):
    return trainer.run_command(build_parser(), argv)


if __name__ == "__main__":
    main()
