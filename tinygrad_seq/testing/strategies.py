"""Hypothesis strategies for tensors, shapes and padded sequence batches."""
from typing import NamedTuple

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from .. import backend
from ..tensor import Tensor


def shapes(min_dims=0, max_dims=3, min_side=1, max_side=5):
    """Array shapes, 0-d and size-1 axes included."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,
                            max_side=max_side)


def broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=1, max_side=4):
    """Tuples of ``num_shapes`` shapes that broadcast together (size-1 and missing axes)."""
    return hnp.mutually_broadcastable_shapes(
        num_shapes=num_shapes, min_dims=min_dims, max_dims=max_dims, min_side=min_side,
        max_side=max_side).map(lambda bs: bs.input_shapes)


def floats(min_value=-3.0, max_value=3.0):
    """Finite float elements in [min_value, max_value] (bounds rounded inward to float32), exact in
    float32 so that a float32 and a float64 run see the same inputs."""
    low, high = np.float32(min_value), np.float32(max_value)
    low = low if low >= min_value else np.nextafter(low, np.float32(np.inf))
    high = high if high <= max_value else np.nextafter(high, np.float32(-np.inf))
    return st.floats(float(low), float(high), allow_nan=False, allow_infinity=False, width=32)


def lattice(offset=0.0, min_value=-4.0, max_value=4.0, step=0.25):
    """Values ``offset + k * step``: for ops with kinks (abs, relu, max) keep values off the kink
    and away from each other by drawing two inputs on lattices with different offsets."""
    low, high = int(np.ceil((min_value - offset) / step)), int(np.floor((max_value - offset) / step))
    return st.integers(low, high).map(lambda k: offset + k * step)


def arrays(shape, dtype=backend.float64, elements=None, unique=False):
    """NumPy arrays of ``shape`` (a tuple or a strategy) with the given elements."""
    return hnp.arrays(backend.canonical_dtype(dtype), shape,
                      elements=floats() if elements is None else elements, unique=unique)


def tensors(shape=shapes(), dtype="float32", elements=None, device="cpu", requires_grad=False):
    """Tensors of ``shape`` (a tuple or a strategy of shapes) on ``device``.

    >>> from hypothesis import given
    >>> from tinygrad_seq.testing import tensors
    >>> @given(tensors(shape=(2, 3)))
    ... def test_tanh_is_bounded(x):
    ...     assert bool((x.tanh().abs() <= 1).all())
    """
    dtype = backend.canonical_dtype(dtype)
    if elements is None:
        elements = floats() if dtype.kind == "f" else st.integers(-5, 5) if dtype.kind in "iu" \
            else st.booleans()
    return arrays(shape, dtype, elements).map(
        lambda a: Tensor(a, dtype=dtype, device=device, requires_grad=requires_grad))


class Sequences(NamedTuple):
    """A padded batch: ``x`` of shape (T, B, F) (or (B, T, F)) and ``lengths`` (B,) int64."""
    x: Tensor
    lengths: Tensor


@st.composite
def sequences(draw, max_steps=6, max_batch=4, feature_sizes=(1, 4), min_length=0,
              dtype="float32", device="cpu", batch_first=False, elements=None):
    """A batch of sequences of different lengths, padded to the longest one (T = max length).

    Lengths lie in [min_length, T] with at least one of them equal to T; steps past a
    sequence's length hold drawn values too, so a test can check that padding is ignored.
    """
    steps = draw(st.integers(max(min_length, 1), max_steps))
    batch = draw(st.integers(1, max_batch))
    features = feature_sizes if isinstance(feature_sizes, int) else draw(st.integers(*feature_sizes))
    lengths = draw(hnp.arrays(np.int64, (batch,), elements=st.integers(min_length, steps)))
    lengths[draw(st.integers(0, batch - 1))] = steps
    shape = (batch, steps, features) if batch_first else (steps, batch, features)
    x = draw(arrays(shape, dtype, elements))
    return Sequences(Tensor(x, dtype=dtype, device=device), Tensor(lengths, device=device))
