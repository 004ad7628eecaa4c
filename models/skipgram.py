"""Skip-gram (Mikolov et al. 2013): from text to (centre, context) pairs, and the model that
learns a vector per word by predicting each word's neighbours.

Preprocessing as Géron's (2017, ch. 14): lower case; URLs become ``<url>``, numbers ``<num>``;
words seen fewer than ``min_count`` times become ``<unk>``. Subsampling (Mikolov et al. 2013,
eq. 5): each occurrence of a word of corpus frequency f is kept with probability
``min(1, sqrt(t / f))``, drawn anew every epoch, before the windows are cut, so frequent words
("the", "of") lose most of their occurrences and the windows reach further. Each kept word
takes a window of b words on each side, b drawn uniformly from 1..window (word2vec's dynamic
window, which weighs near neighbours more), never across an article's end.

The output layer is a sampled softmax (Jean et al. 2015; Géron's choice,
``tg.nn.functional.sampled_softmax_loss``) over log-uniform candidates (the vocabulary is sorted
by frequency), or negative sampling (Mikolov et al. 2013: k noise words per pair from the
unigram distribution to the 3/4, a logistic loss each).

>>> tokenise("See https://x.org: 3,500 Cats’ toys in 1999!")
['see', '<url>', '<num>', "cats'", 'toys', 'in', '<num>']
"""
import collections
import re

import numpy as np
import tinygrad_seq as tg
from tinygrad_seq.data import Vocab
from tinygrad_seq.nn.losses import candidate_probabilities

TOKEN = re.compile(r"(?:https?|ftp)://\S+|www\.\S+|\d+(?:[.,]\d+)*|[^\W\d_]+(?:'[^\W\d_]*)?")
URL, NUM = "<url>", "<num>"
LOSSES = ("sampled-softmax", "negative-sampling")


def tokenise(text):
    """Lower-cased words (apostrophes kept inside and at the end), ``<url>`` and ``<num>``."""
    tokens = TOKEN.findall(text.lower().replace("’", "'"))
    return [URL if t[0] in "hfw" and ("://" in t or t.startswith("www.")) else
            NUM if t[0].isdigit() else t for t in tokens]


def build_vocab(documents, min_count, max_size=None):
    """The words of tokenised ``documents`` seen at least ``min_count`` times, commonest first
    (ids 0-3 are Vocab's specials; the rest encode to ``<unk>``), and the count of every id
    (``<unk>`` counts the words it stands for)."""
    counts = collections.Counter(token for document in documents for token in document)
    vocab = Vocab.from_counts(counts, min_freq=min_count, max_size=max_size)
    id_counts = np.zeros(len(vocab), np.int64)
    for token, count in counts.items():
        id_counts[vocab[token]] += count
    return vocab, id_counts


def keep_probabilities(counts, threshold):
    """Mikolov's subsampling: the chance that one occurrence of each id is kept,
    ``min(1, sqrt(threshold / f))`` with f the id's share of all tokens (1 for unseen ids)."""
    frequency = counts / max(counts.sum(), 1)
    with np.errstate(divide="ignore"):
        return np.where(counts > 0, np.minimum(1.0, np.sqrt(threshold / frequency)), 1.0)


def epoch_pairs(ids, documents, keep, window, rng):
    """One epoch's (centre, context) id pairs, (P, 2) int64 in a random order: each occurrence
    kept with probability ``keep[id]``, then each kept word paired with the kept words within
    its own window of b in 1..``window`` on each side, in its document (``documents``: the
    document number of every position)."""
    kept = rng.random(len(ids)) < keep[ids]
    ids, documents = ids[kept], documents[kept]
    reach = rng.integers(1, window + 1, size=len(ids))
    centres, contexts = [], []
    for distance in range(1, window + 1):
        left = np.flatnonzero(reach[distance:] >= distance) + distance   # centre i, context i - d
        right = np.flatnonzero(reach[:-distance] >= distance)            # centre i, context i + d
        for centre, context in ((left, left - distance), (right, right + distance)):
            same = documents[centre] == documents[context]
            centres.append(ids[centre[same]])
            contexts.append(ids[context[same]])
    pairs = np.stack([np.concatenate(centres), np.concatenate(contexts)], axis=1)
    return pairs[rng.permutation(len(pairs))]


def expected_pairs(ids, keep, window):
    """About how many pairs an epoch has: kept words times (window + 1) contexts on average
    (the edges of documents make it a little fewer)."""
    return float(keep[ids].sum()) * (window + 1)


class PairEpochs:
    """A ``make_epoch`` for ``trainer.EpochBatches``: every epoch the same number of batches
    (90% of the expected pairs, so every epoch has them), each ``batch_size`` pairs of that
    epoch's subsampled windows; the rest of an epoch's pairs go unused."""

    def __init__(self, ids, documents, keep, window, batch_size):
        self.ids, self.documents, self.keep, self.window = ids, documents, keep, window
        self.batch_size = batch_size
        self.count = max(1, int(0.9 * expected_pairs(ids, keep, window)) // batch_size)

    def __call__(self, rng):
        pairs = epoch_pairs(self.ids, self.documents, self.keep, self.window, rng)
        if len(pairs) < self.count * self.batch_size:  # a tiny corpus: go round again
            pairs = np.resize(pairs, (self.count * self.batch_size, 2))
        return [pairs[i * self.batch_size:(i + 1) * self.batch_size] for i in range(self.count)]

# ---------------------------------------------------------------- the model


class SkipGram(tg.nn.Module):
    """Word ids (B,) -> their vectors (B, D): ``embedding`` holds the word vectors (the model's
    product), ``output`` the output layer that scores context words (sampled softmax: weights
    and biases; negative sampling: weights only). Initialised as word2vec's: vectors uniform in
    +-0.5 / D, the output layer zero.

    >>> model = SkipGram(vocab_size=10, embedding_size=4)
    >>> model(tg.tensor([4, 5])).shape, model.output.weight.shape
    ((2, 4), (10, 4))
    """

    def __init__(self, vocab_size, embedding_size=100, loss="sampled-softmax", num_sampled=64):
        super().__init__()
        if loss not in LOSSES:
            raise ValueError(f"SkipGram: loss must be one of {LOSSES}, got {loss!r}")
        self.config = dict(vocab_size=vocab_size, embedding_size=embedding_size, loss=loss,
                           num_sampled=num_sampled)
        self.embedding = tg.nn.Embedding(vocab_size, embedding_size)
        tg.nn.init.uniform_(self.embedding.weight, -0.5 / embedding_size, 0.5 / embedding_size)
        self.output = tg.nn.Linear(embedding_size, vocab_size, bias=loss == "sampled-softmax")
        for parameter in self.output.parameters():
            tg.nn.init.zeros_(parameter)

    def forward(self, centres):
        return self.embedding(centres)


def draw_samples(model, rng, size, noise=None):
    """A step's random draws, from the NumPy generator ``rng`` (so a twin can draw the same):
    sampled softmax: ``num_sampled`` log-uniform candidates for the batch and their expected
    counts; negative sampling: ``num_sampled`` noise words per pair from ``noise`` (the
    cumulative unigram^(3/4) distribution)."""
    k, classes = model.config["num_sampled"], model.config["vocab_size"]
    if model.config["loss"] == "sampled-softmax":
        # inverse CDF of the log-uniform (Zipf) proposal, as tg's draw_candidates
        drawn = np.floor(np.exp(rng.random(k) * np.log(classes + 1))).astype(np.int64) - 1
        drawn = np.minimum(drawn, classes - 1)
        return drawn, k * candidate_probabilities("log_uniform", drawn, classes)
    return np.minimum(np.searchsorted(noise, rng.random((size, k)), side="right"), classes - 1)


def noise_distribution(counts, power=0.75):
    """The cumulative noise distribution of negative sampling: counts^(3/4), normalised."""
    weights = counts.astype(np.float64) ** power
    return np.cumsum(weights / weights.sum())


def loss_of(model, centres, contexts, samples):
    """The skip-gram loss of a batch of pairs (``centres``, ``contexts``: int arrays (B,)), in
    nats per pair; ``samples`` are ``draw_samples``'s."""
    device = model.device
    hidden = model(tg.tensor(centres, device=device))
    if model.config["loss"] == "sampled-softmax":
        return tg.nn.functional.sampled_softmax_loss(
            model.output.weight, model.output.bias, hidden, tg.tensor(contexts, device=device),
            model.config["num_sampled"], sampled_values=samples)
    words = np.concatenate([np.asarray(contexts)[:, None], samples], axis=1)  # true, then noise
    scores = (model.output.weight.take(tg.tensor(words, device=device), axis=0)
              * hidden.unsqueeze(1)).sum(-1)
    targets = np.zeros(scores.shape, np.float32)
    targets[:, 0] = 1.0
    return tg.nn.functional.binary_cross_entropy_with_logits(
        scores, tg.tensor(targets, device=device), reduction="sum") / scores.shape[0]


def full_softmax_loss(vectors, weight, bias, centres, contexts, batch=1024):
    """The exact cross-entropy of predicting each context from its centre over the whole
    vocabulary, in nats per pair, in float64 from NumPy arrays (the word vectors (V, D), the
    output layer's weight (V, D) and bias (V,) or None): what evaluation reports, whichever the
    output layer was trained as and whichever engine trained it."""
    vectors, weight = np.asarray(vectors, np.float64), np.asarray(weight, np.float64)
    bias = 0.0 if bias is None else np.asarray(bias, np.float64)
    total = 0.0
    for i in range(0, len(centres), batch):
        scores = vectors[centres[i:i + batch]] @ weight.T + bias
        target = scores[np.arange(len(scores)), contexts[i:i + batch]]
        total += float((np.logaddexp.reduce(scores, axis=1) - target).sum())
    return total / len(centres)


def arrays_of(model):
    """The model's word vectors, output weight and output bias (or None), as NumPy."""
    bias = model.output.bias
    return (model.embedding.weight.numpy(), model.output.weight.numpy(),
            None if bias is None else bias.numpy())
