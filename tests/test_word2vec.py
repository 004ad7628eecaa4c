"""Word2vec and pretrained vectors in the sentiment model: the seed's preprocessing, Mikolov's
subsampling and dynamic windows (their statistics), the text vector format (round trip and every
refused file), the benchmarks' scores, and the command lines end to end on small synthetic text
put in place of the loaders (nothing is fetched): train, neighbours, eval, export, and
``sentiment --embeddings [--freeze]``."""
import json
import math
import os

import numpy as np
import pytest

import tinygrad_seq as tg
from models import embedding_eval, sentiment, skipgram, word2vec
from models.data import Splits
from models.vectors import VectorFileError, read_vectors, write_vectors
from tinygrad_seq import train as trainer

from cli_cases import refused

pytest.importorskip("tqdm", reason="the train extra (tqdm, matplotlib) is not installed")
pytest.importorskip("matplotlib", reason="the train extra (tqdm, matplotlib) is not installed")


# ---------------------------------------------------------------- preprocessing

@pytest.mark.parametrize("module", ["models.skipgram", "models.vectors", "models.embedding_eval",
                                    "models.data.words"])
def test_docstring_examples(module):
    import doctest
    import importlib
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted and not result.failed, module


def test_tokenise_lowers_and_marks_urls_and_numbers():
    text = "The URL http://a.org/x?y=1 and www.b.com, 1,234.5 Cats’ 3rd IS"
    assert skipgram.tokenise(text) == ["the", "url", "<url>", "and", "<url>", "<num>", "cats'",
                                       "<num>", "rd", "is"]


def test_rare_words_read_as_unk_and_unk_counts_them():
    vocab, counts = skipgram.build_vocab([["a", "a", "a", "b", "b", "c"], ["a", "d"]], min_count=2)
    assert vocab.itos[4:] == ["a", "b"]
    assert vocab.encode(["c", "d", "zebra"]).tolist() == [vocab.unk_id] * 3
    assert counts[vocab["a"]] == 4 and counts[vocab["b"]] == 2 and counts[vocab.unk_id] == 2
    assert counts.sum() == 8


def test_keep_probability_is_mikolovs_formula():
    counts = np.array([0, 900, 90, 9, 1])
    keep = skipgram.keep_probabilities(counts, threshold=0.01)
    f = counts[1:] / 1000
    np.testing.assert_array_equal(keep[1:], np.minimum(1, np.sqrt(0.01 / f)))
    assert keep[0] == 1.0 and keep[4] == 1.0 and keep[1] < keep[2] < keep[3] == 1.0


# ---------------------------------------------------------------- subsampling and windows: statistics

def binomial_ok(successes, trials, p, sigmas=5):
    return abs(successes - trials * p) <= sigmas * math.sqrt(trials * p * (1 - p)) + 1


def test_subsampling_keeps_each_word_at_its_rate():
    rng = np.random.default_rng(1)
    ids = rng.choice(6, size=60_000, p=[0.5, 0.3, 0.1, 0.06, 0.03, 0.01])
    counts = np.bincount(ids, minlength=6)
    keep = skipgram.keep_probabilities(counts, threshold=0.02)
    documents = np.zeros(len(ids), np.int64)
    # window 1, every reach 1: each kept word is the centre of one pair per kept neighbour, so
    # the kept words are the pairs' centres counted once per side
    pairs = skipgram.epoch_pairs(ids, documents, keep, 1, np.random.default_rng(2))
    kept = np.bincount(pairs[:, 0], minlength=6)  # two sides, less the ends
    for word in range(6):
        assert binomial_ok(kept[word] / 2, counts[word], keep[word]), (word, kept[word] / 2,
                                                                      counts[word] * keep[word])
    assert keep[0] == pytest.approx(math.sqrt(0.02 / (counts[0] / counts.sum()))) and keep[5] == 1.0


def test_dynamic_window_weighs_near_words_more_and_stays_in_its_document():
    window, n = 4, 40_000
    ids = np.arange(n) % 1000 + 4          # position recoverable from (id, order): use positions
    documents = np.arange(n) // 100        # documents of 100 words
    keep = np.ones(1004)
    rng = np.random.default_rng(3)
    # with keep 1 every word stays: the distance of a pair is |centre - context| mod 1000
    pairs = skipgram.epoch_pairs(ids, documents, keep, window, rng)
    distance = np.abs(pairs[:, 0] - pairs[:, 1])
    distance = np.minimum(distance, 1000 - distance)
    assert distance.min() >= 1 and distance.max() <= window
    share = np.bincount(distance, minlength=window + 1)[1:] / len(distance)
    expected = (window - np.arange(window) + 0.0) / (window * (window + 1) / 2)  # P(b >= d)
    for d in range(window):  # documents' edges shave a little off the far distances
        assert abs(share[d] - expected[d]) < 0.01 + 0.03 * d / window, (share, expected)
    assert len(pairs) < n * (window + 1)
    # no pair crosses a document: word i and i + d share a document when i // 100 == (i+d) // 100
    mod = (pairs[:, 0] - 4) % 100, (pairs[:, 1] - 4) % 100
    assert np.all(np.abs(mod[0] - mod[1]) == distance)


def test_epochs_have_a_fixed_count_of_batches_and_differ():
    ids = np.arange(500) % 40 + 4
    epochs = skipgram.PairEpochs(ids, np.zeros(500, np.int64), np.full(44, 0.5), 3, 32)
    batches = trainer.EpochBatches(0, epochs)
    first, second = [batches(1 + k) for k in (0, epochs.count)]
    assert all(len(batches(step)) == 32 for step in range(1, 2 * epochs.count + 1))
    assert not np.array_equal(first, second)
    again = trainer.EpochBatches(0, epochs)
    np.testing.assert_array_equal(again(epochs.count + 1), second)   # a function of (seed, epoch)


# ---------------------------------------------------------------- the losses

def test_negative_sampling_loss_is_the_logistic_losses_by_hand():
    tg.manual_seed(0)
    model = skipgram.SkipGram(12, 3, "negative-sampling", 2)
    tg.nn.init.normal_(model.output.weight)
    centres, contexts, noise = np.array([4, 5]), np.array([6, 7]), np.array([[8, 9], [10, 4]])
    loss = skipgram.loss_of(model, centres, contexts, noise).item()
    v, u = model.embedding.weight.numpy().astype(np.float64), model.output.weight.numpy().astype(np.float64)
    log_sigmoid = lambda x: -np.logaddexp(0, -x)  # noqa: E731
    by_hand = -np.mean([log_sigmoid(u[o] @ v[c]) + sum(log_sigmoid(-u[k] @ v[c]) for k in ks)
                        for c, o, ks in zip(centres, contexts, noise)])
    assert loss == pytest.approx(by_hand, rel=1e-5)


def test_sampled_softmax_with_every_class_once_is_the_full_softmax():
    tg.manual_seed(1)
    model = skipgram.SkipGram(10, 4)
    tg.nn.init.normal_(model.output.weight)
    tg.nn.init.normal_(model.embedding.weight)
    centres, contexts = np.array([4, 5, 6]), np.array([7, 8, 9])
    # sampled classes 0..9 each once with expected count 1, but the target removed as an
    # accidental hit and put in column 0: exactly the softmax over all 10 classes
    model.config["num_sampled"] = 10
    sampled = skipgram.loss_of(model, centres, contexts, (np.arange(10), np.ones(10))).item()
    assert sampled == pytest.approx(skipgram.full_softmax_loss(*skipgram.arrays_of(model), centres, contexts), rel=1e-5)


# ---------------------------------------------------------------- the vector file

def test_vectors_round_trip_exactly(tmp_path):
    rng = np.random.default_rng(0)
    words = ["the", "<unk>", "café", "naïve", "l'homme"]
    vectors = (rng.standard_normal((5, 7)) * 10.0 ** rng.integers(-8, 8, (5, 7))).astype(np.float32)
    path = tmp_path / "v.txt"
    write_vectors(path, words, vectors)
    read_words, read = read_vectors(path)
    assert read_words == words and read.dtype == np.float32
    np.testing.assert_array_equal(read, vectors)


BAD_FILES = {  # content -> what the error must name
    "": ["line 1", "header"],
    "3\ncat 1 2 3\n": ["line 1", "two integers"],
    "two 3\ncat 1 2 3\n": ["line 1", "two integers"],
    "0 3\n": ["line 1", "at least 1"],
    "1 -3\ncat 1 2 3\n": ["line 1", "two integers"],
    "100000000 300\ncat 1\n": ["line 1", "cannot fit"],
    "2 3\ncat 1 2 3\ndog 1 2\n": ["line 3", "'dog' has 2 numbers", "says 3"],
    "2 3\ncat 1 2 3\ndog 1 2 3 4\n": ["line 3", "4 numbers"],
    "2 3\ncat 1 2 3\ndog 1 x 3\n": ["line 3", "number 2 of 'dog'", "'x'", "not a number"],
    "2 3\ncat 1 2 nan\ndog 1 2 3\n": ["line 2", "number 3 of 'cat'", "finite"],
    "2 3\ncat 1 2 1e39\ndog 1 2 3\n": ["line 2", "finite float32"],
    "2 3\ncat 1 2 3\ncat 4 5 6\n": ["line 3", "'cat' appears twice", "line 2"],
    "3 3\ncat 1.5 2.5 3.5\ndog 4.5 5.5 6.5\n": ["header says 3 rows", "has 2"],
    "1 3\ncat 1 2 3\ndog 4 5 6\n": ["line 3", "more rows than the header's 1"],
    "2 3\ncat 1 2 3\n\ndog 4 5 6\n": ["line 3", "blank line"],
}


@pytest.mark.parametrize("content", list(BAD_FILES), ids=range(len(BAD_FILES)))
def test_each_bad_vector_file_is_refused_naming_its_line(tmp_path, content):
    path = tmp_path / "bad.txt"
    path.write_text(content)
    with pytest.raises(VectorFileError) as error:
        read_vectors(path)
    for fragment in [str(path)] + BAD_FILES[content]:
        assert fragment in str(error.value), str(error.value)


def test_a_vector_file_not_utf8_or_not_a_file_is_refused(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("2 1\ncat 1\ncaf\xe9 2\n".encode("latin-1"))
    with pytest.raises(VectorFileError, match="line 3: not UTF-8"):
        read_vectors(path)
    with pytest.raises(VectorFileError, match="not a regular file"):
        read_vectors(tmp_path)
    with pytest.raises(VectorFileError, match="cannot read it"):
        read_vectors(tmp_path / "missing.txt")


def test_a_huge_header_is_refused_before_allocating(tmp_path, monkeypatch):
    path = tmp_path / "huge.txt"
    path.write_text("1000000000000 1000000\ncat 1\n")
    monkeypatch.setattr(np, "empty", lambda *a, **k: pytest.fail("allocated before checking"))
    with pytest.raises(VectorFileError, match="cannot fit"):
        read_vectors(path)


@pytest.mark.parametrize("words, vectors, message", [
    (["a b"], np.zeros((1, 2)), "white space"),
    (["a", "a"], np.zeros((2, 2)), "twice"),
    (["a"], np.zeros((2, 2)), "shape"),
    (["a"], np.full((1, 2), np.nan), "NaN"),
])
def test_writing_refuses_what_cannot_be_read_back(tmp_path, words, vectors, message):
    with pytest.raises(ValueError, match=message):
        write_vectors(tmp_path / "v.txt", words, vectors)
    assert not os.listdir(tmp_path)


# ---------------------------------------------------------------- neighbours and benchmarks

def test_neighbours_are_by_cosine_and_leave_the_word_out():
    words = ["a", "b", "c", "d"]
    vectors = np.array([[1, 0], [10, 1], [0, 1], [-1, 0]], np.float32)  # length does not count
    found = embedding_eval.neighbours(words, vectors, "a", 3)
    assert [w for w, _ in found] == ["b", "c", "d"]
    assert found[0][1] == pytest.approx(10 / math.sqrt(101)) and found[2][1] == pytest.approx(-1)
    with pytest.raises(KeyError):
        embedding_eval.neighbours(words, vectors, "zebra")


def test_spearman_and_the_benchmark_scores_by_hand():
    assert embedding_eval.spearman([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(
        np.corrcoef([1, 2.5, 2.5, 4], [1, 3, 2, 4])[0, 1])
    words = ["a", "b", "c", "d"]
    vectors = np.array([[1, 0], [1, 0.1], [0, 1], [1, 1]], np.float32)
    pairs = [["a", "b"], ["a", "c"], ["a", "d"], ["a", "zebra"]]
    rho, coverage = embedding_eval.similarity_score(words, vectors, pairs, [9, 1, 5, 3])
    assert rho == pytest.approx(1.0) and coverage == 0.75
    accuracy, coverage = embedding_eval.analogy_accuracy(
        words, vectors, [["a", "b", "c", "d"], ["a", "c", "b", "d"], ["a", "b", "c", "zebra"]])
    assert coverage == pytest.approx(2 / 3) and accuracy in (0.5, 1.0)


def test_pca_finds_the_axis_of_largest_spread():
    rng = np.random.default_rng(0)
    points = rng.standard_normal((200, 3)) * [10, 1, 0.1]
    projected = embedding_eval.pca_2d(points)
    assert projected.shape == (200, 2)
    assert abs(np.corrcoef(projected[:, 0], points[:, 0])[0, 1]) > 0.99


# ---------------------------------------------------------------- the command lines, on synthetic text

TOPICS = [["cat", "dog", "pet", "fur", "paw"], ["car", "road", "wheel", "engine", "fuel"]]


def synthetic_text(documents=120, seed=0):
    rng = np.random.default_rng(seed)
    filler = ["the", "a", "of", "and", "is"]
    lines = []
    for i in range(documents):
        topic = TOPICS[i % 2]
        words = [rng.choice(topic) if rng.random() < 0.6 else rng.choice(filler) for _ in range(40)]
        lines.append(" ".join(words) + " see http://x.org 42")
    return "\n".join(lines)


@pytest.fixture(autouse=True)
def synthetic_data(monkeypatch, tmp_path):
    monkeypatch.delenv(trainer.MINUTES_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(word2vec.SOURCES, "wikipedia", synthetic_text)
    pairs = np.array([["cat", "dog"], ["car", "road"], ["cat", "car"], ["pet", "fuel"]])
    monkeypatch.setattr(word2vec, "load_similarity", lambda name: (pairs, np.array([9., 8, 1, 2])))
    monkeypatch.setattr(word2vec, "load_analogies", lambda: (
        np.array(["topic"] * 2), np.array([["cat", "dog", "car", "road"], ["dog", "cat", "road", "car"]])))
    monkeypatch.setattr(sentiment, "load_reviews", fake_reviews)


def fake_reviews():
    rng = np.random.default_rng(0)
    texts, labels = [], []
    for i in range(300):
        label = i % 2
        words = list(rng.choice(["the", "film", "cat", "car", "plot"], rng.integers(2, 9)))
        words += list(rng.choice(["superb", "moving"] if label else ["dull", "tired"], 2))
        texts.append(" ".join(words))
        labels.append(label)
    texts, labels = np.array(texts), np.array(labels, dtype=np.int64)
    return Splits((texts[:240], labels[:240]), (texts[240:270], labels[240:270]),
                  (texts[270:], labels[270:]))


def records(out, kind):
    with open(os.path.join(out, "metrics.jsonl")) as file:
        return [r for r in map(json.loads, file) if r["kind"] == kind]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One smoke run of word2vec on the synthetic text, exported (shared by the tests below)."""
    with pytest.MonkeyPatch.context() as patch:
        folder = tmp_path_factory.mktemp("w2v")
        patch.chdir(folder)
        patch.setitem(word2vec.SOURCES, "wikipedia", synthetic_text)
        patch.setattr(word2vec, "load_similarity", lambda name: (
            np.array([["cat", "dog"], ["car", "road"], ["cat", "car"]]), np.array([9.0, 8, 1])))
        patch.setattr(word2vec, "load_analogies", lambda: (np.array([]), np.zeros((0, 4), str)))
        out = str(folder / "run")
        result = word2vec.main(["train", "--smoke", "--steps", "60", "--min-count", "1",
                                "--batch-size", "128", "--out", out, "--probes", "cat"])
        text, tensors = word2vec.main(["export", "--checkpoint", os.path.join(out, "checkpoint.safetensors")])
        return out, result, text, tensors


@pytest.mark.parametrize("loss", skipgram.LOSSES)
def test_smoke_train_learns(tmp_path, loss, capsys):
    out = str(tmp_path / loss)
    word2vec.main(["train", "--smoke", "--loss", loss, "--min-count", "1", "--out", out,
                   "--probes", "cat", "zebra"])
    losses = [r["loss"] for r in records(out, "train")]
    assert len(losses) == 30 and np.mean(losses[-5:]) < 0.95 * np.mean(losses[:5])
    evaluations = records(out, "eval")
    if loss == "sampled-softmax":  # negative sampling fits no normalised softmax: its full one may rise
        assert evaluations[-1]["val_loss"] < evaluations[0]["val_loss"]
    assert set(evaluations[-1]) >= {"wordsim353", "simlex999", "analogy", "analogy_coverage"}
    assert "cat:" in capsys.readouterr().out  # the probes' neighbours after each evaluation


def test_trained_topics_are_neighbours_and_export_is_the_embedding(trained, capsys):
    out, result, text, tensors = trained
    checkpoint = os.path.join(out, "checkpoint.safetensors")
    words, vectors = read_vectors(text)
    saved = tg.load(checkpoint)
    vocab = saved["identity"]["vocab"].split("\n")
    assert "<pad>" not in words and "<unk>" in words and "<url>" in words and "<num>" in words
    embedding = saved["model"]["embedding.weight"].numpy()
    np.testing.assert_array_equal(vectors, embedding[[vocab.index(w) for w in words]])
    exported = tg.load(tensors)
    assert exported["words"] == words and np.array_equal(exported["vectors"].numpy(), vectors)
    lines = word2vec.main(["neighbours", "cat", "car", "--count", "3", "--checkpoint", checkpoint])
    cat_line = lines[0].split(":", 1)[1]
    assert sum(w in cat_line for w in TOPICS[0]) >= 2, lines   # its topic, not the other's
    word2vec.main(["eval", "--checkpoint", checkpoint, "--plot", "pca.png", "--plot-words", "12"])
    assert os.path.getsize("pca.png") > 0
    refused(capsys, word2vec.main, ["neighbours", "zebra", "--checkpoint", checkpoint],
          "'zebra' is not in the vocabulary")


def test_word2vec_resume_continues_exactly(tmp_path):
    whole, part = str(tmp_path / "whole"), str(tmp_path / "part")
    word2vec.main(["train", "--smoke", "--steps", "6", "--min-count", "1", "--out", whole])
    word2vec.main(["train", "--smoke", "--steps", "3", "--min-count", "1", "--out", part])
    word2vec.main(["train", "--smoke", "--steps", "6", "--min-count", "1", "--out", part, "--resume"])
    assert [r["loss"] for r in records(whole, "train")] == [r["loss"] for r in records(part, "train")]


@pytest.mark.parametrize("loss", skipgram.LOSSES)
def test_the_torch_twin_takes_the_same_steps_from_the_same_weights(tmp_path, loss):
    torch = pytest.importorskip("torch")
    benchmarks = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.syspath_prepend(benchmarks)
    import word2vec_torch
    init, ours, theirs = (str(tmp_path / name) for name in ("init.safetensors", "tg", "torch"))
    word2vec.main(["train", "--steps", "4", "--minutes", "0", "--loss", loss, "--threads", "1",
                   "--save-init", init, "--out", ours, "--progress", "off"])
    threads = torch.get_num_threads()
    try:
        word2vec_torch.main(["--steps", "4", "--loss", loss, "--threads", "1", "--init-from", init,
                             "--out", theirs, "--eval-every", "4"])
    finally:
        torch.set_num_threads(threads)
        monkeypatch.undo()
    for kind in ("train", "eval"):
        a, b = records(ours, kind), records(theirs, kind)
        assert [r["step"] for r in a] == [r["step"] for r in b] and len(a) >= 2
        key = "loss" if kind == "train" else "val_loss"
        for x, y in zip(a, b):  # float32 sums of 1,024 pairs, a few Adam steps apart at most
            assert x[key] == pytest.approx(y[key], rel=1e-5), (kind, x["step"], x[key], y[key])


# ---------------------------------------------------------------- sentiment --embeddings [--freeze]

def sentiment_run(out, *flags):
    return sentiment.main(["train", "--smoke", "--steps", "4", "--out", out, *flags])


def embedding_of(out):
    saved = tg.load(os.path.join(out, "checkpoint.safetensors"))
    return saved["identity"]["vocab"].split("\n"), saved["model"]["embedding.weight"].numpy()


def test_sentiment_starts_from_the_vectors_mapped_by_word(trained, tmp_path, capsys):
    _, _, text, _ = trained
    words, vectors = read_vectors(text)
    plain, pretrained = str(tmp_path / "plain"), str(tmp_path / "pretrained")
    sentiment.main(["train", "--smoke", "--steps", "1", "--lr", "1e-12", "--embedding-size",
                    str(vectors.shape[1]), "--out", plain])
    sentiment.main(["train", "--smoke", "--steps", "1", "--lr", "1e-12", "--embeddings", text,
                    "--out", pretrained])
    assert "start from its vectors" in capsys.readouterr().out
    vocab, drawn = embedding_of(plain)
    _, started = embedding_of(pretrained)
    shared = [w for w in vocab[1:] if w in words]           # <pad> (row 0) stays zero
    assert {"cat", "car", "superb"} - set(words) == {"superb"} and {"cat", "car"} <= set(shared)
    rows = [vocab.index(w) for w in shared]
    copied = vectors[[words.index(w) for w in shared]].astype(np.float64)
    expected = copied / copied.std()                       # one factor: std 1, as the draw's
    np.testing.assert_allclose(started[rows], expected, rtol=1e-5, atol=1e-6)
    missing = [i for i, w in enumerate(vocab) if w not in words]
    np.testing.assert_allclose(started[missing], drawn[missing], rtol=1e-5, atol=1e-6)
    assert not np.abs(started[0]).any()


def test_freeze_keeps_the_vectors_and_resume_keeps_them_frozen(trained, tmp_path):
    _, _, text, _ = trained
    frozen, free, initial = str(tmp_path / "frozen"), str(tmp_path / "free"), str(tmp_path / "init")
    sentiment.main(["train", "--smoke", "--steps", "1", "--embeddings", text, "--freeze",
                    "--out", initial])
    sentiment_run(frozen, "--embeddings", text, "--freeze")
    sentiment_run(free, "--embeddings", text)
    start, after_frozen, after_free = (embedding_of(out)[1] for out in (initial, frozen, free))
    np.testing.assert_array_equal(after_frozen, start)     # not a bit moved
    assert np.abs(after_free - start).max() > 1e-3
    sentiment.main(["train", "--smoke", "--steps", "6", "--out", frozen, "--embeddings", text,
                    "--freeze", "--resume"])
    np.testing.assert_array_equal(embedding_of(frozen)[1], start)
    assert records(frozen, "train")[-1]["step"] == 6
    checkpoint = os.path.join(frozen, "checkpoint.safetensors")
    assert sentiment.main(["eval", "--checkpoint", checkpoint])["val_acc"] >= 0


def test_sentiment_embeddings_bad_input(trained, tmp_path, capsys):
    _, _, text, _ = trained
    refused(capsys, sentiment.main, ["train", "--smoke", "--freeze"], "--freeze", "needs --embeddings")
    refused(capsys, sentiment.main, ["train", "--smoke", "--embeddings", text, "--embedding-size", "7"],
          "holds vectors of 16 numbers", "--embedding-size is 7")
    bad = tmp_path / "bad.txt"
    bad.write_text("2 2\ncat 1 2\ndog 1 oops\n")
    refused(capsys, sentiment.main, ["train", "--smoke", "--embeddings", str(bad)],
          "--embeddings", "line 3", "'oops'")
    out = str(tmp_path / "run")
    sentiment_run(out, "--embeddings", text)
    refused(capsys, sentiment.main, ["train", "--smoke", "--out", out, "--resume"], "embeddings")
