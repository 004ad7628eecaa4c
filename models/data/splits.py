"""Train/validation/test splits: shuffled for exchangeable samples, in time order for series.

>>> train, validation, test = split_indices(10, seed=0)
>>> len(train), len(validation), len(test)
(8, 1, 1)
>>> sorted(train.tolist() + validation.tolist() + test.tolist()) == list(range(10))
True
>>> [part.tolist() for part in split_series(list(range(10)))]
[[0, 1, 2, 3, 4, 5, 6, 7], [8], [9]]
"""
from typing import NamedTuple

import numpy as np


class Splits(NamedTuple):
    """The three parts of a data set; each is whatever its loader documents (often ``(x, y)``)."""
    train: object
    validation: object
    test: object


def _sizes(n, validation, test):
    for name, fraction in (("validation", validation), ("test", test)):
        if not 0 <= fraction < 1:
            raise ValueError(f"{name} is a fraction in [0, 1), got {fraction}")
    if validation + test >= 1:
        raise ValueError(f"validation + test = {validation + test} leaves nothing to train on")
    n_validation, n_test = round(n * validation), round(n * test)
    if n - n_validation - n_test < 1:
        raise ValueError(f"{n} samples are too few for these fractions")
    return n - n_validation - n_test, n_validation, n_test


def split_indices(n, validation=0.1, test=0.1, seed=0):
    """Three disjoint index arrays covering ``range(n)``, shuffled by ``seed`` (the same every run)."""
    n_train, n_validation, _ = _sizes(n, validation, test)
    order = np.random.default_rng(seed).permutation(n)
    return Splits(order[:n_train], order[n_train:n_train + n_validation],
                  order[n_train + n_validation:])


def split_series(values, validation=0.1, test=0.1):
    """The first, middle and last parts of a series along axis 0: the future is never trained on."""
    values = np.asarray(values)
    n_train, n_validation, _ = _sizes(len(values), validation, test)
    return Splits(values[:n_train], values[n_train:n_train + n_validation],
                  values[n_train + n_validation:])
