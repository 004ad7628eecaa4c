"""A context in which every warning is an error, and so is every NumPy floating-point problem
but underflow: the stability tests' way of saying "no overflow, no NaN, not even quietly"."""
import contextlib
import warnings

import numpy as np


@contextlib.contextmanager
def strict():
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        yield
