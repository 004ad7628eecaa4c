"""tg.data: padding round trips, every index once per epoch, the bucket promise, vocabularies."""
import collections
import json
import os

import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinygrad_seq as tg
from tinygrad_seq.data import Vocab, batches, bucket_batches, pad_sequences, unpad_sequences

FEATURES = st.sampled_from([(), (3,), (2, 2)])


@st.composite
def sequence_lists(draw):
    features = draw(FEATURES)
    lengths = draw(st.lists(st.integers(0, 6), min_size=1, max_size=5))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return [rng.integers(-9, 9, size=(length, *features)) for length in lengths]


# ---------------------------------------------------------------- padding

@given(sequence_lists(), st.booleans(), st.integers(-3, 3))
def test_unpad_inverts_pad(sequences, batch_first, padding_value):
    padded, lengths = pad_sequences(sequences, padding_value, batch_first=batch_first)
    assert lengths.tolist() == [len(s) for s in sequences]
    restored = unpad_sequences(padded, lengths, batch_first=batch_first)
    assert len(restored) == len(sequences)
    for got, want in zip(restored, sequences):
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


@given(sequence_lists(), st.booleans(), st.integers(-3, 3))
def test_padding_fills_exactly_the_tail(sequences, batch_first, padding_value):
    padded, lengths = pad_sequences(sequences, padding_value, batch_first=batch_first)
    by_batch = padded if batch_first else np.swapaxes(padded, 0, 1)
    assert by_batch.shape[:2] == (len(sequences), max(len(s) for s in sequences))
    for row, length in enumerate(lengths):
        assert np.all(by_batch[row, length:] == padding_value)


def test_pad_matches_torch_pad_sequence(torch):
    sequences = [np.arange(6.0).reshape(3, 2), np.ones((1, 2)), np.zeros((2, 2))]
    for batch_first in (False, True):
        ours, _ = pad_sequences(sequences, padding_value=-1.0, batch_first=batch_first)
        theirs = torch.nn.utils.rnn.pad_sequence([torch.tensor(s) for s in sequences],
                                                 batch_first=batch_first, padding_value=-1.0)
        np.testing.assert_array_equal(ours, theirs.numpy())


def test_pad_dtype_and_empty_sequences():
    padded, lengths = pad_sequences([[1, 2], []])
    assert padded.dtype == np.int64 and lengths.tolist() == [2, 0]    # [] is not float64 here
    assert pad_sequences([[1, 2]], dtype=np.float32)[0].dtype == np.float32
    assert pad_sequences([[1.5]], padding_value=np.nan)[0].dtype == np.float64
    padded, lengths = pad_sequences([[], []])
    assert padded.shape == (0, 2) and lengths.tolist() == [0, 0]


@pytest.mark.parametrize("call, error, words", [
    (lambda: pad_sequences([]), ValueError, "at least one sequence"),
    (lambda: pad_sequences(np.zeros((2, 3))), TypeError, "list of sequences"),
    (lambda: pad_sequences(5), TypeError, "list of sequences"),
    (lambda: pad_sequences([np.zeros((2, 3)), np.zeros((2, 4))]), ValueError, "(2, 4)"),
    (lambda: pad_sequences([[1], 2]), ValueError, "scalar"),
    (lambda: pad_sequences([[1, 2]], padding_value=0.5), ValueError, "0.5 cannot be stored as int64"),
    (lambda: pad_sequences([[1, 2]], padding_value=np.nan), ValueError, "cannot be stored"),
    (lambda: unpad_sequences(np.zeros((3, 2)), [1, 2, 3]), ValueError, "3 lengths for a batch of 2"),
    (lambda: unpad_sequences(np.zeros((3, 2)), [4, 1]), ValueError, "exceeds"),
    (lambda: unpad_sequences(np.zeros((3, 2)), [-1, 1]), ValueError, ">= 0"),
    (lambda: unpad_sequences(np.zeros((3, 2)), [1.5, 1]), ValueError, "integers"),
    (lambda: unpad_sequences(np.zeros(3), [1]), ValueError, "at least 2 dims"),
])
def test_padding_errors_say_what_was_wrong(call, error, words):
    with pytest.raises(error, match=words.replace("(", r"\(").replace(")", r"\)")):
        call()


def test_unpad_returns_copies():
    padded, lengths = pad_sequences([[1, 2], [3]])
    unpad_sequences(padded, lengths)[0][0] = 99
    assert padded[0, 0] == 1


# ---------------------------------------------------------------- batches

@given(st.integers(0, 40), st.integers(1, 12), st.booleans(), st.booleans(), st.integers(0, 99))
def test_every_index_once_per_epoch(n, batch_size, shuffle, drop_last, seed):
    epoch = list(batches(n, batch_size, shuffle=shuffle, drop_last=drop_last, seed=seed))
    seen = np.concatenate(epoch) if epoch else np.array([], np.int64)
    assert len(seen) == len(set(seen.tolist()))                       # none twice
    assert set(seen.tolist()) <= set(range(n))
    kept = n - n % batch_size if drop_last else n
    assert len(seen) == kept                                          # none lost but the tail
    assert all(len(b) == batch_size for b in epoch[:-1])
    if drop_last and epoch:
        assert len(epoch[-1]) == batch_size
    if not shuffle:
        assert seen.tolist() == list(range(kept))
    assert all(b.dtype == np.int64 for b in epoch)


def test_batches_seed_repeats_and_tg_manual_seed_repeats():
    first = [b.tolist() for b in batches(50, 7, seed=3)]
    assert first == [b.tolist() for b in batches(50, 7, seed=3)]
    assert first != [b.tolist() for b in batches(50, 7, seed=4)]
    tg.manual_seed(11)
    unseeded = [b.tolist() for b in batches(50, 7)]
    tg.manual_seed(11)
    assert unseeded == [b.tolist() for b in batches(50, 7)]
    assert [b.tolist() for b in batches(50, 7)] != unseeded          # next epoch, new order


@pytest.mark.parametrize("call, words", [
    (lambda: list(batches(-1, 2)), "non-negative integer"),
    (lambda: list(batches(2.5, 2)), "non-negative integer"),
    (lambda: list(batches(5, 0)), "batch_size must be a positive integer, got 0"),
    (lambda: list(batches(5, True)), "batch_size"),
    (lambda: list(bucket_batches([1, 2], 0)), "batch_size"),
    (lambda: list(bucket_batches([1, 2], 2, bucket_width=0)), "bucket_width"),
    (lambda: list(bucket_batches([1, -2], 2)), ">= 0"),
    (lambda: list(bucket_batches([[1, 2]], 2)), "1-D"),
    (lambda: list(bucket_batches([1.5], 2)), "integers"),
])
def test_batching_errors_say_what_was_wrong(call, words):
    with pytest.raises(ValueError, match=words):
        call()


@given(st.lists(st.integers(0, 30), max_size=60), st.integers(1, 8), st.integers(1, 10),
       st.booleans(), st.booleans(), st.integers(0, 99))
def test_bucket_promise(lengths, batch_size, bucket_width, shuffle, drop_last, seed):
    """Within a batch all lengths share one bucket [k*w, (k+1)*w), so they differ by < w; each
    index appears once, and only each bucket's short last batch is dropped by drop_last."""
    lengths = np.array(lengths, dtype=np.int64)
    epoch = list(bucket_batches(lengths, batch_size, bucket_width, shuffle=shuffle,
                                drop_last=drop_last, seed=seed))
    for batch in epoch:
        assert 1 <= len(batch) <= batch_size
        assert len(set((lengths[batch] // bucket_width).tolist())) == 1
        assert lengths[batch].max() - lengths[batch].min() < bucket_width
    seen = np.concatenate(epoch).tolist() if epoch else []
    assert len(seen) == len(set(seen))
    sizes = collections.Counter((lengths // bucket_width).tolist())
    expected = sum(size - size % batch_size for size in sizes.values()) if drop_last else len(lengths)
    assert len(seen) == expected
    short = [b for b in epoch if len(b) < batch_size]
    assert not (drop_last and short)
    assert len(short) <= len(sizes)                 # at most one short batch per bucket
    if not shuffle:
        keys = [(int(lengths[b[0]] // bucket_width), b.tolist()) for b in epoch]
        assert keys == sorted(keys)                 # buckets ascending, indices ascending


def test_bucket_batches_pad_less_than_shuffled_batches():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 200, size=1000)
    def padding(epoch):
        return sum(int(lengths[b].max() * len(b) - lengths[b].sum()) for b in epoch)
    bucketed = padding(bucket_batches(lengths, 32, bucket_width=10, seed=0))
    plain = padding(batches(len(lengths), 32, seed=0))
    assert bucketed < plain / 10


# ---------------------------------------------------------------- vocabulary

TOKENS = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=4)


@given(st.dictionaries(TOKENS, st.integers(0, 5), max_size=20), st.integers(1, 3),
       st.one_of(st.none(), st.integers(4, 12)))
def test_from_counts_keeps_frequent_tokens_in_a_fixed_order(counts, min_freq, max_size):
    vocab = Vocab.from_counts(counts, min_freq=min_freq, max_size=max_size)
    assert vocab.itos[:4] == ["<pad>", "<unk>", "<eos>", "<bos>"]
    tokens = vocab.itos[4:]
    assert all(counts[t] >= min_freq and t not in Vocab.SPECIALS for t in tokens)
    keys = [(-counts[t], t) for t in tokens]
    assert keys == sorted(keys)                                       # most frequent first, ties by string
    eligible = [t for t, c in counts.items() if c >= min_freq and t not in Vocab.SPECIALS]
    assert len(tokens) == (len(eligible) if max_size is None else min(len(eligible), max_size - 4))
    if tokens:                                                        # nothing better was left out
        assert all((-counts[t], t) > keys[-1] for t in set(eligible) - set(tokens))
    reordered = dict(reversed(list(counts.items())))
    assert Vocab.from_counts(reordered, min_freq=min_freq, max_size=max_size) == vocab


@given(st.lists(TOKENS, unique=True, max_size=12).filter(lambda ts: not set(ts) & set(Vocab.SPECIALS)),
       st.data())
def test_vocab_round_trips(tokens, data):
    vocab = Vocab(tokens)
    sentence = data.draw(st.lists(st.sampled_from(tokens), max_size=8)) if tokens else []
    ids = vocab.encode(sentence, add_bos=True, add_eos=True)
    assert ids.dtype == np.int64 and ids[0] == vocab.bos_id and ids[-1] == vocab.eos_id
    assert vocab.decode(ids) == ["<bos>", *sentence, "<eos>"]
    assert vocab.decode(ids, skip_specials=True) == sentence


@given(st.lists(TOKENS, unique=True, max_size=12).filter(lambda ts: not set(ts) & set(Vocab.SPECIALS)))
def test_vocab_save_load_round_trips(tmp_path_factory, tokens):
    path = tmp_path_factory.mktemp("vocab") / "vocab.json"
    Vocab(tokens).save(path)
    assert Vocab.load(path) == Vocab(tokens)
    assert Vocab.load(path).itos[4:] == tokens


def test_unknown_tokens_and_specials_in_counts():
    vocab = Vocab.from_counts({"<unk>": 9, "a": 2, "b": 2, "c": 1}, min_freq=2)
    assert vocab.itos == ["<pad>", "<unk>", "<eos>", "<bos>", "a", "b"]
    assert vocab.encode(["a", "c", "<unk>"]).tolist() == [4, 1, 1]
    assert "c" not in vocab and "a" in vocab and len(vocab) == 6


def test_char_vocab_from_text():
    text = "hello"
    vocab = Vocab.from_counts(collections.Counter(text))
    assert vocab.itos[4:] == ["l", "e", "h", "o"]
    assert "".join(vocab.decode(vocab.encode(text))) == text


@pytest.mark.parametrize("call, error, words", [
    (lambda: Vocab(["a", "a"]), ValueError, "'a' appears twice"),
    (lambda: Vocab(["<pad>"]), ValueError, "'<pad>' appears twice"),
    (lambda: Vocab([1]), TypeError, "must be str"),
    (lambda: Vocab.from_counts(["a", "b"]), TypeError, "Counter"),
    (lambda: Vocab.from_counts({"a": 1}, min_freq=0), ValueError, "min_freq"),
    (lambda: Vocab.from_counts({"a": 1}, max_size=3), ValueError, "max_size counts the 4 specials"),
    (lambda: Vocab.from_counts({"a": -1}), ValueError, "count of 'a'"),
    (lambda: Vocab.from_counts({"a": 1.5}), ValueError, "count of 'a'"),
    (lambda: Vocab(["a"]).decode([5]), ValueError, "id 5 is not in this vocabulary of 5"),
    (lambda: Vocab(["a"]).decode([-1]), ValueError, "id -1"),
    (lambda: Vocab(["a"]).decode([[1]]), ValueError, "1-D"),
    (lambda: Vocab(["a"]).decode([1.0]), ValueError, "integer ids"),
])
def test_vocab_errors_say_what_was_wrong(call, error, words):
    with pytest.raises(error, match=words):
        call()


@pytest.mark.parametrize("content, words", [
    (b"\xff\xfe not utf-8", "not a JSON vocabulary"),
    (b"{\"format\": ", "not a JSON vocabulary"),
    (b"[1, 2]", "not a vocabulary saved by Vocab.save"),
    (b'{"tokens": ["a"]}', "not a vocabulary saved by Vocab.save"),
    (b'{"format": "tinygrad_seq.Vocab", "version": 2}', "version 2"),
    (b'{"format": "tinygrad_seq.Vocab", "version": 1, "specials": ["<unk>"], "tokens": []}',
     "specials"),
    (b'{"format": "tinygrad_seq.Vocab", "version": 1, '
     b'"specials": ["<pad>", "<unk>", "<eos>", "<bos>"], "tokens": [1]}', "list of strings"),
    (b'{"format": "tinygrad_seq.Vocab", "version": 1, '
     b'"specials": ["<pad>", "<unk>", "<eos>", "<bos>"], "tokens": ["a", "a"]}', "appears twice"),
    (b'{"format": "tinygrad_seq.Vocab", "format": "tinygrad_seq.Vocab"}', "appears twice"),
])
def test_load_refuses_bad_files_naming_them(tmp_path, content, words):
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=words) as info:
        Vocab.load(path)
    assert "bad.json" in str(info.value)


def test_load_of_a_missing_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.json"):
        Vocab.load(tmp_path / "missing.json")


def test_save_into_a_missing_directory_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.*does not exist"):
        Vocab(["a"]).save(tmp_path / "nowhere" / "vocab.json")


def test_save_is_atomic_a_failed_save_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "vocab.json"
    Vocab(["old"]).save(path)
    before = path.read_bytes()

    def fail(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError):
        Vocab(["new"]).save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vocab.json"]   # no temp file left
    assert json.loads(before)["tokens"] == ["old"]
