"""Corpus BLEU (models/bleu.py) on cases computed by hand."""
import math

import pytest

from models.bleu import bleu, statistics


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
