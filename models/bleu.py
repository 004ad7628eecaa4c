"""Corpus BLEU (Papineni et al. 2002): modified n-gram precisions 1-4, geometric mean, brevity penalty;
and the paired bootstrap (Koehn 2004): how often one system beats another on resampled test sets.

Counts are summed over the corpus before dividing (corpus BLEU, not a mean of sentence BLEUs).
A candidate's n-gram counts are clipped by their count in the reference (one reference per
sentence here). BP = 1 if c > r else exp(1 - r / c), with c and r the total candidate and
reference lengths. No smoothing: a corpus without a single matching 4-gram scores 0.

>>> bleu([["the", "cat", "sat", "on", "the", "mat"]], [["the", "cat", "sat", "on", "the", "mat"]])
1.0
>>> round(bleu([["the", "the", "the", "the"]], [["the", "cat", "is", "on", "the", "mat"]], max_n=1), 4)
0.3033
"""
import math
from collections import Counter

import numpy as np


def ngrams(tokens, n):
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def statistics(candidates, references, max_n=4):
    """(matches per n, candidate n-grams per n, candidate length, reference length), summed."""
    if len(candidates) != len(references):
        raise ValueError(f"bleu: {len(candidates)} candidates but {len(references)} references")
    matches, totals = [0] * max_n, [0] * max_n
    c_len = r_len = 0
    for candidate, reference in zip(candidates, references):
        c_len, r_len = c_len + len(candidate), r_len + len(reference)
        for n in range(1, max_n + 1):
            counts, ref = ngrams(candidate, n), ngrams(reference, n)
            matches[n - 1] += sum(min(count, ref[gram]) for gram, count in counts.items())
            totals[n - 1] += max(len(candidate) - n + 1, 0)
    return matches, totals, c_len, r_len


def bleu(candidates, references, max_n=4):
    """Corpus BLEU in [0, 1] of token lists ``candidates`` against one reference each."""
    return _score(*statistics(candidates, references, max_n), max_n)


def _score(matches, totals, c_len, r_len, max_n):
    if c_len == 0 or min(matches) == 0:
        return 0.0
    log_precision = sum(math.log(m / t) for m, t in zip(matches, totals)) / max_n
    brevity = 1.0 if c_len > r_len else math.exp(1 - r_len / c_len)
    return brevity * math.exp(log_precision)


def paired_bootstrap(candidates_a, candidates_b, references, samples=1000, seed=0,
                     confidence=0.95, max_n=4):
    """Paired bootstrap resampling (Koehn 2004) of two systems' outputs on one test set.

    Each resample draws ``len(references)`` sentence indices with replacement, the same ones
    for both systems (resample ``i`` is the ``i``-th call of
    ``numpy.random.default_rng(seed).integers(0, n, size=n)``), and scores both with corpus BLEU.
    Returns a dict: ``bleu_a``, ``bleu_b`` and ``difference`` (A − B) on the whole test set;
    ``a_wins`` and ``ties``, the fractions of resamples where A's BLEU is above B's and equal to
    it; ``interval_a``, ``interval_b``, ``interval_difference``: the (low, high) of the middle
    ``confidence`` of the resampled values (the values of rank ⌊s(1−c)/2⌋ and ⌈s(1+c)/2⌉ − 1
    of the ``s`` sorted ones); ``samples``.

    >>> a = [["a", "b"], ["c", "d"], ["e"]]
    >>> b = [["a", "x"], ["c", "d"], ["y"]]
    >>> r = paired_bootstrap(a, b, a, samples=50, max_n=1)
    >>> r["bleu_a"], round(r["bleu_b"], 4), r["a_wins"] + r["ties"]
    (1.0, 0.6, 1.0)
    """
    if not len(candidates_a) == len(candidates_b) == len(references):
        raise ValueError(f"paired_bootstrap: {len(candidates_a)} candidates of A, "
                         f"{len(candidates_b)} of B and {len(references)} references; each "
                         f"reference needs one candidate of each system")
    if not references:
        raise ValueError("paired_bootstrap: no sentences to resample")
    if samples < 1:
        raise ValueError(f"paired_bootstrap: samples must be at least 1, got {samples}")
    if not 0 < confidence < 1:
        raise ValueError(f"paired_bootstrap: confidence must be in (0, 1), got {confidence}")
    n = len(references)
    # one row of sufficient statistics per sentence: a resample's BLEU is a sum of rows
    per_a = np.array([_row(c, r, max_n) for c, r in zip(candidates_a, references)], float)
    per_b = np.array([_row(c, r, max_n) for c, r in zip(candidates_b, references)], float)
    rng = np.random.default_rng(seed)
    scores = np.empty((samples, 2))
    for i in range(samples):
        rows = rng.integers(0, n, size=n)
        scores[i] = _bleu_of(per_a[rows].sum(0), max_n), _bleu_of(per_b[rows].sum(0), max_n)
    difference = scores[:, 0] - scores[:, 1]
    low = math.floor(samples * (1 - confidence) / 2)
    high = max(math.ceil(samples * (1 + confidence) / 2) - 1, low)

    def interval(values):
        ranked = np.sort(values)
        return float(ranked[low]), float(ranked[high])

    bleu_a, bleu_b = bleu(candidates_a, references, max_n), bleu(candidates_b, references, max_n)
    return {"bleu_a": bleu_a, "bleu_b": bleu_b, "difference": bleu_a - bleu_b,
            "a_wins": float(np.mean(difference > 0)), "ties": float(np.mean(difference == 0)),
            "interval_a": interval(scores[:, 0]), "interval_b": interval(scores[:, 1]),
            "interval_difference": interval(difference), "samples": samples}


def _row(candidate, reference, max_n):
    matches, totals, c_len, r_len = statistics([candidate], [reference], max_n)
    return matches + totals + [c_len, r_len]


def _bleu_of(row, max_n):
    """Corpus BLEU from summed statistics in ``_row``'s layout."""
    return _score(row[:max_n], row[max_n:2 * max_n], row[-2], row[-1], max_n)
