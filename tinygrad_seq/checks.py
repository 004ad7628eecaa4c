"""Checks of arguments (layer sizes, flags, hyperparameters) and of plain data, shared by the
layers, cells, optimizers and schedules.

Each check returns the value normalised (a Python float, bool, int or tuple) or raises an error
that names the owner, the argument, what was expected and what was given, so
``Adam(params, lr=-1)`` says ``Adam: lr must be in [0, inf), got -1`` and
``LSTM(3, 4, bidirectional="no")`` does not quietly build a bidirectional layer because "no"
is truthy.

>>> from tinygrad_seq.checks import in_range
>>> in_range("SGD", "momentum", 0.9)
0.9
"""
import math
import numbers

import numpy as np


def real(owner, name, value):
    """``value`` as a float; a bool, a string or a tensor is a TypeError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}: {name} must be a real number, got {type(value).__name__} "
                        f"{value!r}")
    return float(value)


def in_range(owner, name, value, low=0.0, high=math.inf, include_high=False):
    """``value`` as a float in [low, high) (or [low, high] with ``include_high``); NaN and,
    with the default ``high``, infinity are refused."""
    x = real(owner, name, value)
    if not (low <= x and (x <= high if include_high else x < high)):  # NaN fails both
        interval = f"[{low:g}, {high:g}{']' if include_high else ')'}"
        raise ValueError(f"{owner}: {name} must be in {interval}, got {value!r}")
    return x


def flag(owner, name, value):
    """``value`` as a bool; only True or False (or NumPy's bool), not 0, 1, "no" or None."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{owner}: {name} must be True or False, got {type(value).__name__} "
                        f"{value!r}")
    return bool(value)


def integer(owner, name, value, minimum=1):
    """``value`` as an int >= minimum; an int or a NumPy integer, never a bool or a float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{owner}: {name} must be an integer, got {type(value).__name__} "
                        f"{value!r}")
    if value < minimum:
        raise ValueError(f"{owner}: {name} must be at least {minimum}, got {value!r}")
    return int(value)


def count(owner, name, value):
    """``value`` as an int >= 0: an integer, an integral float (some formats store counts as
    floats, as PyTorch does its step) or a one-element tensor or array of one, of any library
    (PyTorch's Adam keeps ``step`` as a 0-d tensor, whose ``size`` is a method)."""
    shape = getattr(value, "shape", None)
    if hasattr(value, "item") and (getattr(value, "size", None) == 1 or (
            isinstance(shape, tuple) and all(n == 1 for n in shape))):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (
            math.isfinite(value) and value == int(value) and value >= 0):
        raise ValueError(f"{owner}: {name} must be a non-negative integer, got "
                         f"{type(value).__name__} {value!r}")
    return int(value)


def betas(owner, value):
    """A pair (beta1, beta2), each in [0, 1), as a tuple (a list, as a JSON reader gives it,
    is accepted)."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"{owner}: betas must be a pair (beta1, beta2), got {value!r}")
    return (in_range(owner, "betas[0]", value[0], 0.0, 1.0),
            in_range(owner, "betas[1]", value[1], 0.0, 1.0))


def plain(value):
    """True when ``value`` is plain data that a checkpoint stores as is: a number, bool, None
    or str, or a list/tuple of plain data."""
    if value is None or isinstance(value, (bool, str, numbers.Real)):
        return True
    if isinstance(value, (list, tuple)):
        return all(plain(item) for item in value)
    return False


def check_representable(data, dtype, op):
    """Raise where converting ``data`` (an array) to ``dtype`` would not keep its values, as
    PyTorch does: numbers out of an integer dtype's range (a float too, before it truncates),
    NaN or infinity into an integer dtype. Floats in range truncate toward zero (as PyTorch and
    C); large numbers into a float dtype become infinity (as PyTorch); anything into bool is
    ``!= 0``. Unlike PyTorch, negative numbers into uint8 raise too (PyTorch wraps them)."""
    if dtype.kind not in "iu" or data.dtype.kind not in "iuf" or data.size == 0:
        return
    if data.dtype.kind == "f":
        finite = abs(data) != float("inf")
        finite &= data == data
        if not bool(finite.all()):
            bad = data[~finite].reshape(-1)[0].item()
            raise ValueError(f"{op}: cannot convert {bad} to {dtype}: NaN and infinity have no "
                             f"integer value")
    info = np.iinfo(dtype)
    for value in (data.min().item(), data.max().item()):
        if not info.min <= value <= info.max:  # Python compares ints and floats exactly
            raise OverflowError(f"{op}: value {value} is out of range for {dtype}, whose values "
                                f"lie in [{info.min}, {info.max}]")


def sequence_lengths(owner, host, steps, batch, batch_is="", bounds=None):
    """``host`` (an array of sequence lengths: NumPy's, or a GPU's within its device guard)
    checked: ``batch`` integers, one per sequence (``batch_is`` says where that count comes
    from), each in [0, ``steps``]. ``bounds``: their (minimum, maximum), where the caller has
    read them already."""
    if host.shape != (batch,) or (host.size and host.dtype.kind not in "iu"):
        raise ValueError(f"{owner}: lengths must be {batch} integers, one integer per sequence "
                         f"({batch}{batch_is}), got shape {host.shape} of {host.dtype}")
    if host.size:
        low, high = bounds if bounds is not None else (host.min(), host.max())
        if low < 0 or high > steps:
            bad = host[(host < 0) | (host > steps)][0]
            raise ValueError(f"{owner}: lengths must lie in [0, {steps}] (the number of steps), "
                             f"got {bad}")
    return host
