"""Corpus BLEU and the paired bootstrap (models/bleu.py) on cases computed by hand."""
import math

import numpy as np
import pytest

from models.bleu import bleu, paired_bootstrap, statistics


def words(text):
    return text.split()


def test_identical_corpus_scores_one():
    assert bleu([words("the cat sat on the mat")], [words("the cat sat on the mat")]) == 1.0


def test_clipped_unigram_precision_and_brevity_penalty():
    # "the" 4 times, clipped to its 2 in the reference: p1 = 2/4; c = 4 < r = 6: BP = exp(1 - 6/4)
    score = bleu([words("the the the the")], [words("the cat is on the mat")], max_n=1)
    assert score == pytest.approx(0.5 * math.exp(-0.5))


def test_four_gram_case_by_hand():
    # p1 = 5/6 ("the" clipped to 1), p2 = 3/5, p3 = 2/4, p4 = 1/3; c = r: BP = 1
    score = bleu([words("the cat sat on the mat")], [words("the cat sat on a mat")])
    assert score == pytest.approx((5 / 6 * 3 / 5 * 2 / 4 * 1 / 3) ** 0.25)


def test_counts_are_summed_over_the_corpus_not_averaged():
    candidates = [words("a b c d"), words("x y")]
    references = [words("a b c d"), words("x z")]
    matches, totals, c, r = statistics(candidates, references)
    assert matches == [5, 3, 2, 1] and totals == [6, 4, 2, 1] and (c, r) == (6, 6)
    expected = (5 / 6 * 3 / 4 * 2 / 2 * 1 / 1) ** 0.25
    assert bleu(candidates, references) == pytest.approx(expected)
    sentence_mean = (bleu(candidates[:1], references[:1]) + bleu(candidates[1:], references[1:])) / 2
    assert sentence_mean != pytest.approx(expected)


def test_no_matching_four_gram_scores_zero_and_longer_candidates_are_not_penalised():
    assert bleu([words("a b c")], [words("a b c")]) == 0.0          # no 4-gram at all
    score = bleu([words("a b c d e")], [words("a b c d")])          # c > r: BP = 1
    assert score == pytest.approx((4 / 5 * 3 / 4 * 2 / 3 * 1 / 2) ** 0.25)


def test_empty_candidates_and_mismatched_lists():
    assert bleu([[]], [words("a b c d")]) == 0.0
    with pytest.raises(ValueError, match="2 candidates but 1 references"):
        bleu([["a"], ["b"]], [["a"]])


# ---------------------------------------------------------------- the paired bootstrap

# three sentences; A is right on 0 and 2, B on 1 and short on 2 (unigram BLEU, by hand below)
REFS = [words("a b c d"), words("e f"), words("g h i")]
SYSTEM_A = [words("a b c d"), words("e x"), words("g h i")]
SYSTEM_B = [words("a b x d"), words("e f"), words("g")]


def test_paired_bootstrap_by_hand():
    # the draws of default_rng(2).integers(0, 3, size=3), four times: the resampled test sets
    rng = np.random.default_rng(2)
    assert [rng.integers(0, 3, size=3).tolist() for _ in range(4)] == [
        [2, 0, 0], [0, 1, 2], [1, 0, 1], [1, 2, 2]]
    # per sentence (matches, candidate length, reference length), unigrams:
    # A: (4, 4, 4) (1, 2, 2) (3, 3, 3); B: (3, 4, 4) (2, 2, 2) (1, 1, 3)
    a = [11 / 11,        # [2, 0, 0]: 11 of 11, c = r = 11
         8 / 9,          # [0, 1, 2]: 8 of 9, c = r = 9
         6 / 8,          # [1, 0, 1]
         7 / 8]          # [1, 2, 2]
    b = [7 / 9 * math.exp(1 - 11 / 9),   # 7 of 9, c = 9 < r = 11: brevity penalty
         6 / 7 * math.exp(1 - 9 / 7),
         7 / 8,                          # B ahead on this one
         4 / 4 * math.exp(1 - 8 / 4)]
    d = sorted(x - y for x, y in zip(a, b))
    result = paired_bootstrap(SYSTEM_A, SYSTEM_B, REFS, samples=4, seed=2, confidence=0.5,
                              max_n=1)
    assert result["a_wins"] == 0.75 and result["ties"] == 0.0 and result["samples"] == 4
    assert result["bleu_a"] == pytest.approx(8 / 9, rel=1e-12)
    assert result["bleu_b"] == pytest.approx(6 / 7 * math.exp(1 - 9 / 7), rel=1e-12)
    assert result["difference"] == pytest.approx(8 / 9 - 6 / 7 * math.exp(1 - 9 / 7), rel=1e-12)
    # the middle half of 4 sorted values: ranks floor(4 * 0.25) = 1 and ceil(4 * 0.75) - 1 = 2
    assert result["interval_difference"] == pytest.approx((d[1], d[2]), rel=1e-12)
    assert result["interval_a"] == pytest.approx((sorted(a)[1], sorted(a)[2]), rel=1e-12)
    assert result["interval_b"] == pytest.approx((sorted(b)[1], sorted(b)[2]), rel=1e-12)
    wide = paired_bootstrap(SYSTEM_A, SYSTEM_B, REFS, samples=4, seed=2, confidence=0.95, max_n=1)
    assert wide["interval_difference"] == pytest.approx((d[0], d[3]), rel=1e-12)


def test_paired_bootstrap_equals_bleu_of_each_resampled_corpus():
    rng = np.random.default_rng(7)
    vocabulary = list("abcdefgh")
    refs = [list(rng.choice(vocabulary, rng.integers(4, 9))) for _ in range(12)]
    noisy = [[w if rng.random() < 0.8 else "z" for w in r] for r in refs]
    short = [r[:max(1, len(r) - rng.integers(0, 3))] for r in refs]
    result = paired_bootstrap(noisy, short, refs, samples=25, seed=3)
    draws = np.random.default_rng(3)
    diffs = []
    for _ in range(25):
        rows = draws.integers(0, 12, size=12)
        diffs.append(bleu([noisy[i] for i in rows], [refs[i] for i in rows])
                     - bleu([short[i] for i in rows], [refs[i] for i in rows]))
    assert result["a_wins"] == np.mean(np.array(diffs) > 0)
    ranked = sorted(diffs)   # 95% of 25: ranks floor(0.625) = 0 and ceil(24.375) - 1 = 24
    assert result["interval_difference"] == pytest.approx((ranked[0], ranked[24]), rel=1e-12)


def test_paired_bootstrap_of_a_system_against_itself_is_all_ties():
    result = paired_bootstrap(SYSTEM_A, SYSTEM_A, REFS, samples=20, max_n=1)
    assert result["ties"] == 1.0 and result["a_wins"] == 0.0 and result["difference"] == 0.0


def test_paired_bootstrap_rejects_bad_input():
    with pytest.raises(ValueError, match="3 candidates of A, 2 of B and 3 references"):
        paired_bootstrap(SYSTEM_A, SYSTEM_B[:2], REFS)
    with pytest.raises(ValueError, match="no sentences"):
        paired_bootstrap([], [], [])
    with pytest.raises(ValueError, match="samples must be at least 1, got 0"):
        paired_bootstrap(SYSTEM_A, SYSTEM_B, REFS, samples=0)
    with pytest.raises(ValueError, match=r"confidence must be in \(0, 1\), got 95"):
        paired_bootstrap(SYSTEM_A, SYSTEM_B, REFS, confidence=95)
