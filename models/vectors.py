"""Word vectors in the common text format (word2vec's and GloVe's ``.txt``, gensim's
``save_word2vec_format``): a header line ``N D``, then N lines ``word v1 ... vD``.

``write_vectors`` writes one atomically; ``read_vectors`` reads a stranger's, checked: the
header must be two positive integers that the file's size can hold (checked before the (N, D)
array is allocated, so a 60-byte file cannot ask for 10^12 numbers), every row a word and D
finite numbers, no word twice, exactly N rows, UTF-8. A problem raises ``VectorFileError``
naming the file and the line.

>>> import os, tempfile, numpy as np
>>> path = os.path.join(tempfile.mkdtemp(), "vectors.txt")
>>> write_vectors(path, ["cat", "dog"], np.array([[0.5, -1.0], [0.25, 2.0]], np.float32))
>>> open(path).read()
'2 2\\ncat 0.5 -1\\ndog 0.25 2\\n'
>>> words, vectors = read_vectors(path)
>>> words, vectors.tolist()
(['cat', 'dog'], [[0.5, -1.0], [0.25, 2.0]])
"""
import math
import os
import stat
import tempfile

import numpy as np

# the fewest bytes a row of D numbers can take: a one-character word and D times " 0", newline
MIN_ROW_BYTES = lambda dim: 1 + 2 * dim + 1  # noqa: E731
FLOAT32_MAX = float(np.finfo(np.float32).max)


class VectorFileError(ValueError):
    """A vector file that is not in the text format; the message names the file and line."""


def read_vectors(path):
    """``(words, vectors)``: the file's words (list of str) and their vectors (float32 (N, D))."""
    size = _regular_file_size(path)
    with open(path, "rb") as file:
        header = file.readline()
        count, dim = _header(path, header, size)
        words, index = [], {}
        vectors = np.empty((count, dim), dtype=np.float32)
        for number, raw in enumerate(file, start=2):
            line = _decoded(path, number, raw)
            if not line.strip():
                if number - 2 == count:
                    continue  # blank lines after the last row
                raise VectorFileError(f"{path} line {number}: a blank line where row "
                                      f"{number - 1} of {count} should be")
            if number - 2 >= count:
                raise VectorFileError(f"{path} line {number}: more rows than the header's {count}")
            word, *fields = line.split()
            if len(fields) != dim:
                raise VectorFileError(f"{path} line {number}: the word {word!r} has "
                                      f"{len(fields)} numbers, the header says {dim}")
            if word in index:
                raise VectorFileError(f"{path} line {number}: the word {word!r} appears twice "
                                      f"(first on line {index[word]})")
            vectors[number - 2] = _numbers(path, number, word, fields)
            index[word] = number
            words.append(word)
    if len(words) != count:
        raise VectorFileError(f"{path}: the header says {count} rows but the file has "
                              f"{len(words)} (cut short?)")
    return words, vectors


def write_vectors(path, words, vectors):
    """Write ``words`` and their ``vectors`` (N, D) to ``path`` in the text format, atomically
    (a reader sees the old file or the whole new one). Numbers are written with 9 significant
    digits, so float32 values read back exactly."""
    vectors = np.asarray(vectors)
    words = list(words)
    if vectors.ndim != 2 or vectors.shape[0] != len(words) or vectors.shape[1] == 0:
        raise ValueError(f"write_vectors: {len(words)} words need vectors of shape "
                         f"({len(words)}, D), D >= 1; got {vectors.shape}")
    seen = set()
    for word in words:
        if not isinstance(word, str) or not word or any(c.isspace() for c in word):
            raise ValueError(f"write_vectors: {word!r} cannot be a word of the text format "
                             f"(a non-empty str without white space)")
        if word in seen:
            raise ValueError(f"write_vectors: the word {word!r} appears twice")
        seen.add(word)
    if not np.isfinite(vectors).all():
        raise ValueError("write_vectors: the vectors hold NaN or infinite values")
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".vectors-", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as out:
            out.write(f"{len(words)} {vectors.shape[1]}\n")
            for word, row in zip(words, vectors.astype(np.float32)):
                out.write(word + " " + " ".join(f"{value:.9g}" for value in row.tolist()) + "\n")
        os.chmod(temporary, 0o644)  # mkstemp's file is private; vectors are not secret
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def _regular_file_size(path):
    try:
        status = os.stat(path)
    except OSError as e:
        raise VectorFileError(f"{path}: cannot read it ({e.strerror or e})") from None
    if not stat.S_ISREG(status.st_mode):  # a FIFO would block the read forever
        raise VectorFileError(f"{path} is not a regular file")
    return status.st_size


def _header(path, line, size):
    text = _decoded(path, 1, line)
    fields = text.split()
    if len(fields) != 2 or not all(f.isdigit() for f in fields):
        raise VectorFileError(f"{path} line 1: the header must be two integers 'N D' (rows and "
                              f"numbers per row), got {text.strip()[:60]!r}")
    count, dim = int(fields[0]), int(fields[1])
    if count < 1 or dim < 1:
        raise VectorFileError(f"{path} line 1: the header says {count} rows of {dim} numbers; "
                              f"both must be at least 1")
    if count * MIN_ROW_BYTES(dim) > size - len(line):
        raise VectorFileError(f"{path} line 1: the header says {count} rows of {dim} numbers, "
                              f"which cannot fit in the file's {size} bytes")
    return count, dim


def _decoded(path, number, raw):
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise VectorFileError(f"{path} line {number}: not UTF-8 (byte {e.start}: {e.reason})") from None


def _numbers(path, number, word, fields):
    values = []
    for column, field in enumerate(fields, start=1):
        try:
            value = float(field)
        except ValueError:
            raise VectorFileError(f"{path} line {number}: number {column} of {word!r}, "
                                  f"{field[:30]!r}, is not a number") from None
        if not math.isfinite(value) or abs(value) > FLOAT32_MAX:
            raise VectorFileError(f"{path} line {number}: number {column} of {word!r} is "
                                  f"{field!r}, not a finite float32 number")
        values.append(value)
    return values
