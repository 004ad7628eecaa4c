"""Sequence data on the way into a model: padding, batching, bucketing by length, vocabularies.

What PyTorch users reach for in ``torch.nn.utils.rnn`` and ``torch.utils.data``, kept small and
in NumPy (index arrays and padded arrays; ``tg.tensor`` takes them from there).

>>> import tinygrad_seq as tg
>>> vocab = Vocab.from_counts({"the": 3, "cat": 2, "sat": 2})
>>> sentences = [vocab.encode("the cat sat".split()), vocab.encode(["the", "dog"])]
>>> padded, lengths = pad_sequences(sentences, padding_value=vocab.pad_id, batch_first=True)
>>> padded.tolist(), lengths.tolist()
([[4, 5, 6], [4, 1, 0]], [3, 2])
>>> vocab.decode(padded[1][:lengths[1]])
['the', '<unk>']
>>> [batch.tolist() for batch in batches(5, batch_size=2, shuffle=False)]
[[0, 1], [2, 3], [4]]
"""
import collections.abc
import json
import numbers
import os

import numpy as np

from .backend import generator
from .checkpoint_file import parse_json, write_atomically


# ---------------------------------------------------------------- padding

def pad_sequences(sequences, padding_value=0, batch_first=False, dtype=None):
    """Stack sequences of different lengths into one array; return it and the lengths.

    Each sequence is array-like of shape ``(length, *features)``, the features alike. The result
    is ``(T, B, *features)``, or ``(B, T, *features)`` with ``batch_first``, ``T`` the longest
    length, the tail of each shorter sequence filled with ``padding_value``; ``lengths`` is
    int64 ``(B,)``. As ``torch.nn.utils.rnn.pad_sequence``, but NumPy in and out, and the lengths
    come back too (every sequence layer here takes them). ``dtype`` defaults to what NumPy
    makes of the sequences together.

    >>> padded, lengths = pad_sequences([[1, 2, 3], [4]])
    >>> padded.tolist(), lengths.tolist()
    ([[1, 4], [2, 0], [3, 0]], [3, 1])
    """
    arrays = _as_sequences(sequences)
    if dtype is None:
        # an empty list says nothing of the dtype (NumPy would call it float64)
        dtype = np.result_type(*([a for a in arrays if a.size] or arrays))
    dtype = np.dtype(dtype)
    _check_representable(padding_value, dtype)
    features = arrays[0].shape[1:]
    lengths = np.array([len(a) for a in arrays], dtype=np.int64)
    longest = int(lengths.max())
    padded = np.full((len(arrays), longest, *features), padding_value, dtype=dtype)
    for row, array in enumerate(arrays):
        padded[row, :len(array)] = array
    return (padded if batch_first else np.swapaxes(padded, 0, 1).copy()), lengths


def unpad_sequences(padded, lengths, batch_first=False):
    """The inverse of ``pad_sequences``: the list of each sequence's first ``length`` steps.

    Each is a copy, so changing it leaves ``padded`` alone.

    >>> padded, lengths = pad_sequences([[1, 2, 3], [4]])
    >>> [s.tolist() for s in unpad_sequences(padded, lengths)]
    [[1, 2, 3], [4]]
    """
    padded = np.asarray(padded)
    if padded.ndim < 2:
        raise ValueError(f"unpad_sequences needs a padded array of at least 2 dims (T, B, ...), "
                         f"got shape {padded.shape}")
    if not batch_first:
        padded = np.swapaxes(padded, 0, 1)
    lengths = _as_lengths(lengths, "unpad_sequences")
    if len(lengths) != padded.shape[0]:
        raise ValueError(f"unpad_sequences: {len(lengths)} lengths for a batch of "
                         f"{padded.shape[0]} (padded shape {padded.shape}, batch_first={batch_first})")
    if len(lengths) and lengths.max() > padded.shape[1]:
        raise ValueError(f"unpad_sequences: length {int(lengths.max())} exceeds the padded "
                         f"time dimension {padded.shape[1]}")
    return [padded[row, :length].copy() for row, length in enumerate(lengths.tolist())]


def _as_sequences(sequences):
    if isinstance(sequences, np.ndarray) or not isinstance(sequences, collections.abc.Iterable):
        # an ndarray would be read row by row; that is almost always a forgotten list
        kind = f"an array of shape {sequences.shape}" if isinstance(sequences, np.ndarray) else \
            type(sequences).__name__
        raise TypeError(f"pad_sequences takes a list of sequences, got {kind}")
    arrays = [np.asarray(s) for s in sequences]
    if not arrays:
        raise ValueError("pad_sequences needs at least one sequence, got none")
    for index, array in enumerate(arrays):
        if array.ndim == 0:
            raise ValueError(f"pad_sequences: sequence {index} is a scalar ({array!r}); each "
                             f"sequence needs a time dimension")
        if array.shape[1:] != arrays[0].shape[1:]:
            raise ValueError(f"pad_sequences: sequence {index} has shape {array.shape} but "
                             f"sequence 0 has {arrays[0].shape}; all must agree after the "
                             f"time dimension")
        if array.dtype == object:
            raise TypeError(f"pad_sequences: sequence {index} is ragged or not numeric")
    return arrays


def _check_representable(padding_value, dtype):
    try:
        with np.errstate(invalid="ignore", over="ignore"):   # the comparison below says it all
            stored = np.array(padding_value).astype(dtype)
            same = stored == padding_value
    except (TypeError, ValueError, OverflowError):
        same = False
    if not np.all(same) and not (np.issubdtype(dtype, np.floating) and np.isnan(padding_value)):
        raise ValueError(f"padding_value {padding_value!r} cannot be stored as {dtype} "
                         f"(pass dtype= or a padding_value of the sequences' kind)")


def _as_lengths(lengths, caller):
    lengths = np.asarray(lengths)
    if lengths.ndim != 1 or not (lengths.size == 0 or np.issubdtype(lengths.dtype, np.integer)):
        raise ValueError(f"{caller}: lengths must be a 1-D array of integers, got "
                         f"{lengths.dtype} of shape {lengths.shape}")
    if lengths.size and lengths.min() < 0:
        raise ValueError(f"{caller}: lengths must be >= 0, got {int(lengths.min())}")
    return lengths.astype(np.int64)


# ---------------------------------------------------------------- batching

def _rng(seed):
    # No seed: draw one from tg's CPU generator, so tg.manual_seed makes the epoch order repeat.
    if seed is None:
        seed = int(generator("cpu").integers(0, 2**62, ()))
    return np.random.default_rng(seed)


def _check_batch_size(batch_size, caller):
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ValueError(f"{caller}: batch_size must be a positive integer, got {batch_size!r}")


def batches(n, batch_size, shuffle=True, drop_last=False, seed=None):
    """Yield int64 index arrays that split ``range(n)`` into batches: one epoch.

    Every index appears exactly once, except that ``drop_last`` drops the last, short batch
    (the ``n % batch_size`` indices that would be in it), so every batch is full. ``shuffle``
    permutes the indices first, with ``seed`` or, if None, a seed drawn from ``tg``'s CPU
    generator (``tg.manual_seed`` repeats it). As ``torch.utils.data.BatchSampler`` over a
    ``RandomSampler``/``SequentialSampler``.

    >>> [b.tolist() for b in batches(5, 2, seed=0)]
    [[2, 4], [3, 0], [1]]
    >>> [b.tolist() for b in batches(5, 2, shuffle=False, drop_last=True)]
    [[0, 1], [2, 3]]
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
        raise ValueError(f"batches: n is the number of samples, a non-negative integer; got {n!r}")
    _check_batch_size(batch_size, "batches")
    order = _rng(seed).permutation(n) if shuffle else np.arange(n, dtype=np.int64)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        yield order[start:start + batch_size]


def bucket_batches(lengths, batch_size, bucket_width=1, shuffle=True, drop_last=False, seed=None):
    """Yield index batches whose sequences have similar lengths, so padding them wastes little.

    The promise: sequence ``i`` goes to bucket ``lengths[i] // bucket_width``, and every batch
    holds indices of one bucket only, so within a batch the lengths differ by less than
    ``bucket_width`` (with the default 1, all are equal: no padding at all). Each bucket is cut
    into batches of ``batch_size``; its last batch may be short, and ``drop_last`` drops it, so
    each index appears exactly once per epoch except those. ``shuffle`` shuffles within buckets
    and then the order of all batches (``seed`` as in ``batches``); without it, buckets come in
    increasing length and indices in increasing order.

    >>> lengths = [5, 1, 4, 2, 5, 1]
    >>> [b.tolist() for b in bucket_batches(lengths, 2, shuffle=False)]
    [[1, 5], [3], [2], [0, 4]]
    >>> [b.tolist() for b in bucket_batches(lengths, 2, bucket_width=2, shuffle=False)]
    [[1, 5], [3], [0, 2], [4]]
    """
    lengths = _as_lengths(lengths, "bucket_batches")
    _check_batch_size(batch_size, "bucket_batches")
    if isinstance(bucket_width, bool) or not isinstance(bucket_width, numbers.Integral) \
            or bucket_width < 1:
        raise ValueError(f"bucket_batches: bucket_width must be a positive integer, "
                         f"got {bucket_width!r}")
    rng = _rng(seed) if shuffle else None
    buckets = lengths // bucket_width
    order = np.argsort(buckets, kind="stable")      # by bucket, then index
    cuts = np.flatnonzero(np.diff(buckets[order])) + 1
    result = []
    for members in np.split(order, cuts) if len(order) else []:
        if rng is not None:
            members = rng.permutation(members)
        stop = len(members) - len(members) % batch_size if drop_last else len(members)
        result.extend(members[start:start + batch_size] for start in range(0, stop, batch_size))
    if rng is not None:
        result = [result[i] for i in rng.permutation(len(result))]
    yield from result


# ---------------------------------------------------------------- vocabulary

class Vocab:
    """Tokens <-> ids. Ids 0-3 are the specials ``<pad>``, ``<unk>``, ``<eos>``, ``<bos>``.

    ``Vocab(tokens)`` gives ``tokens`` the ids 4, 5, ... in order; ``Vocab.from_counts`` builds
    one from token counts. A token not in the vocabulary encodes to ``unk_id``.

    >>> vocab = Vocab(["a", "b"])
    >>> len(vocab), vocab["b"], vocab["zebra"], vocab.encode("ab", add_eos=True).tolist()
    (6, 5, 1, [4, 5, 2])
    >>> "".join(vocab.decode([3, 4, 5, 2], skip_specials=True))
    'ab'
    """
    SPECIALS = ("<pad>", "<unk>", "<eos>", "<bos>")
    pad_id, unk_id, eos_id, bos_id = range(4)
    FORMAT = "tinygrad_seq.Vocab"

    def __init__(self, tokens=()):
        tokens = list(tokens)           # a str is its characters, as in encode
        for token in tokens:
            if not isinstance(token, str):
                raise TypeError(f"Vocab tokens must be str, got {type(token).__name__} {token!r}")
        self.itos = [*self.SPECIALS, *tokens]
        self.stoi = {}
        for index, token in enumerate(self.itos):
            if token in self.stoi:
                raise ValueError(f"Vocab: token {token!r} appears twice (ids {self.stoi[token]} "
                                 f"and {index}); ids 0-3 are the specials {self.SPECIALS}")
            self.stoi[token] = index

    @classmethod
    def from_counts(cls, counts, min_freq=1, max_size=None):
        """The tokens counted at least ``min_freq`` times, most frequent first (ties in string
        order, so the same counts always give the same ids), at most ``max_size`` ids in all,
        specials included (so ``max_size`` is the embedding's ``num_embeddings``). Specials in
        ``counts`` (a text that already has ``<unk>`` in it) keep their fixed ids.

        >>> from collections import Counter
        >>> Vocab.from_counts(Counter("abracadabra"), max_size=6).itos
        ['<pad>', '<unk>', '<eos>', '<bos>', 'a', 'b']
        """
        if not isinstance(counts, collections.abc.Mapping):
            raise TypeError(f"Vocab.from_counts takes a mapping of token -> count (such as a "
                            f"collections.Counter), got {type(counts).__name__}")
        if isinstance(min_freq, bool) or not isinstance(min_freq, numbers.Integral) or min_freq < 1:
            raise ValueError(f"Vocab.from_counts: min_freq must be an integer >= 1, got {min_freq!r}")
        if max_size is not None and (isinstance(max_size, bool) or not isinstance(
                max_size, numbers.Integral) or max_size < len(cls.SPECIALS)):
            raise ValueError(f"Vocab.from_counts: max_size counts the {len(cls.SPECIALS)} "
                             f"specials too, so it must be an integer >= {len(cls.SPECIALS)}; "
                             f"got {max_size!r}")
        for token, count in counts.items():
            if isinstance(count, bool) or not isinstance(count, numbers.Integral) or count < 0:
                raise ValueError(f"Vocab.from_counts: the count of {token!r} is {count!r}, "
                                 f"expected a non-negative integer")
        kept = [(token, count) for token, count in counts.items()
                if count >= min_freq and token not in cls.SPECIALS]
        kept.sort(key=lambda item: (-item[1], item[0]))
        if max_size is not None:
            kept = kept[:max_size - len(cls.SPECIALS)]
        return cls(token for token, _ in kept)

    def __len__(self):
        return len(self.itos)

    def __contains__(self, token):
        return token in self.stoi

    def __getitem__(self, token):
        return self.stoi.get(token, self.unk_id)

    def __eq__(self, other):
        return isinstance(other, Vocab) and self.itos == other.itos

    def __repr__(self):
        return f"Vocab({len(self)} ids: {self.itos[4:9]}{'...' if len(self) > 9 else ''})"

    def encode(self, tokens, add_bos=False, add_eos=False):
        """int64 ids of ``tokens`` (a str is its characters), optionally between ``<bos>``/``<eos>``."""
        ids = [self[token] for token in tokens]
        return np.array([self.bos_id] * add_bos + ids + [self.eos_id] * add_eos, dtype=np.int64)

    def decode(self, ids, skip_specials=False):
        """The tokens of ``ids``; ``skip_specials`` leaves out ``<pad>``, ``<unk>``, ``<eos>``, ``<bos>``."""
        ids = np.asarray(ids)
        if ids.ndim != 1 or not (ids.size == 0 or np.issubdtype(ids.dtype, np.integer)):
            raise ValueError(f"Vocab.decode takes a 1-D sequence of integer ids, got "
                             f"{ids.dtype} of shape {ids.shape}")
        if ids.size and (ids.min() < 0 or ids.max() >= len(self)):
            bad = ids[(ids < 0) | (ids >= len(self))][0]
            raise ValueError(f"Vocab.decode: id {int(bad)} is not in this vocabulary "
                             f"of {len(self)} ids (0 to {len(self) - 1})")
        first = len(self.SPECIALS) if skip_specials else 0
        return [self.itos[i] for i in ids.tolist() if i >= first]

    def save(self, path):
        """Write the vocabulary as JSON, atomically: the old file or the new one, never half."""
        text = json.dumps({"format": self.FORMAT, "version": 1, "specials": list(self.SPECIALS),
                           "tokens": self.itos[len(self.SPECIALS):]}, ensure_ascii=False)
        write_atomically(os.fspath(path), lambda file: file.write(text.encode("utf-8")),
                         who="Vocab.save")

    @classmethod
    def load(cls, path):
        """Read a vocabulary that ``save`` wrote; any other file is refused with a ValueError.

        >>> import os, tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = os.path.join(folder, "vocab.json")
        ...     Vocab(["héllo", "wörld"]).save(path)
        ...     print(Vocab.load(path) == Vocab(["héllo", "wörld"]))
        True
        """
        try:
            with open(path, "rb") as file:
                data = parse_json(file.read().decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as error:
            raise ValueError(f"Vocab.load: {os.fspath(path)!r} is not a JSON vocabulary "
                             f"({error})") from None
        if not isinstance(data, dict) or data.get("format") != cls.FORMAT:
            raise ValueError(f"Vocab.load: {os.fspath(path)!r} is not a vocabulary saved by "
                             f"Vocab.save (no \"format\": {cls.FORMAT!r})")
        if data.get("version") != 1:
            raise ValueError(f"Vocab.load: {os.fspath(path)!r} has version "
                             f"{data.get('version')!r}; this code reads version 1")
        if data.get("specials") != list(cls.SPECIALS):
            raise ValueError(f"Vocab.load: {os.fspath(path)!r} has specials "
                             f"{data.get('specials')!r}, expected {list(cls.SPECIALS)}")
        tokens = data.get("tokens")
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise ValueError(f"Vocab.load: {os.fspath(path)!r}: \"tokens\" must be a list of strings")
        try:
            return cls(tokens)
        except ValueError as error:
            raise ValueError(f"Vocab.load: {os.fspath(path)!r}: {error}") from None


