"""Corpus BLEU (Papineni et al. 2002): modified n-gram precisions 1-4, geometric mean, brevity penalty.

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
    matches, totals, c_len, r_len = statistics(candidates, references, max_n)
    if c_len == 0 or min(matches) == 0:
        return 0.0
    log_precision = sum(math.log(m / t) for m, t in zip(matches, totals)) / max_n
    brevity = 1.0 if c_len > r_len else math.exp(1 - r_len / c_len)
    return brevity * math.exp(log_precision)
