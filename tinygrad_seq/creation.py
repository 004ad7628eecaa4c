"""Factories: zeros, ones, full, arange, eye, rand, randn, randint and ``*_like`` forms."""
import operator

import numpy as np

from . import backend
from .ops.axes import shape_arg
from .tensor import Tensor, check_representable


def _shape(shape, op):
    """The shape a factory was given, or an error naming the factory and the bad size."""
    shape = shape_arg(shape, op)
    if any(n < 0 for n in shape):
        raise ValueError(f"{op}: shape {shape} has a negative dimension")
    return shape


def _integer(value, op, what):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{op}: {what} must be an integer, got {value!r}")
    return operator.index(value)


def _leaf(make, dtype, device, requires_grad):
    """Run ``make(xp, dtype)`` on the device and wrap the array as a leaf tensor."""
    dtype = backend.DEFAULT_FLOAT if dtype is None else backend.canonical_dtype(dtype)
    dev = backend.get_device(device)
    with dev.activate():
        data = make(dev.xp, dtype)
    out = Tensor._make(data, dev.name, None, 0)
    return out.requires_grad_(True) if requires_grad else out


def zeros(*shape, dtype=None, device="cpu", requires_grad=False):
    shape = _shape(shape, "zeros")
    return _leaf(lambda xp, dt: xp.zeros(shape, dtype=dt), dtype, device, requires_grad)


def ones(*shape, dtype=None, device="cpu", requires_grad=False):
    shape = _shape(shape, "ones")
    return _leaf(lambda xp, dt: xp.ones(shape, dtype=dt), dtype, device, requires_grad)


def full(shape, fill_value, dtype=None, device="cpu", requires_grad=False):
    shape = _shape((shape,), "full")
    fill = _host_value(fill_value)
    if fill.ndim or fill.dtype.kind not in "biuf":
        raise TypeError(f"full: fill_value must be a number, got {fill_value!r}")
    dt = backend.DEFAULT_FLOAT if dtype is None else backend.canonical_dtype(dtype)
    check_representable(fill, dt, "full")
    return _leaf(lambda xp, dt: xp.full(shape, fill, dtype=dt), dtype, device, requires_grad)


def _host_value(value):
    """A number, or an array or tensor of any device, as a NumPy array (a GPU's is copied: NumPy
    cannot read it in place, and CuPy refuses an implicit copy)."""
    if isinstance(value, Tensor):
        return value.numpy()
    if backend.device_of_array(value) != "cpu":
        return value.get()
    return np.asarray(value)


def arange(start, stop=None, step=1, dtype=None, device="cpu", requires_grad=False):
    """Evenly spaced values in [start, stop); int64 for integer arguments, else float32."""
    if stop is None:
        start, stop = 0, start
    if dtype is None and all(isinstance(v, int) for v in (start, stop, step)):
        dtype = backend.DEFAULT_INT
    if step == 0:
        raise ValueError("arange: step must not be zero")
    return _leaf(lambda xp, dt: xp.arange(start, stop, step, dtype=dt), dtype, device, requires_grad)


def eye(n, m=None, dtype=None, device="cpu", requires_grad=False):
    _shape((n,) if m is None else (n, m), "eye")
    return _leaf(lambda xp, dt: xp.eye(n, m, dtype=dt), dtype, device, requires_grad)


def rand(*shape, dtype=None, device="cpu", requires_grad=False):
    """Uniform samples in [0, 1) from the device's random stream (``tg.manual_seed``)."""
    shape = _shape(shape, "rand")
    return _leaf(lambda xp, dt: backend.generator(device).uniform(shape, _float(dt, "rand")),
                 dtype, device, requires_grad)


def randn(*shape, dtype=None, device="cpu", requires_grad=False):
    """Standard normal samples from the device's random stream (``tg.manual_seed``)."""
    shape = _shape(shape, "randn")
    return _leaf(lambda xp, dt: backend.generator(device).normal(shape, _float(dt, "randn")),
                 dtype, device, requires_grad)


def randint(low, high=None, size=None, dtype=None, device="cpu"):
    """Integers drawn uniformly from [low, high), of shape ``size``, from the device's random
    stream (``tg.manual_seed``). As PyTorch: ``randint(high, size)`` or
    ``randint(low, high, size)``; int64 unless ``dtype`` says otherwise (a float dtype holds
    the integers as floats).

    >>> import tinygrad_seq as tg
    >>> x = tg.randint(3, 7, (2, 5))
    >>> x.shape, x.dtype, 3 <= x.min().item() and x.max().item() < 7
    ((2, 5), dtype('int64'), True)
    """
    if size is None and high is not None and not isinstance(high, (int, np.integer)):
        low, high, size = 0, low, high                    # randint(high, size)
    if size is None:
        raise TypeError("randint: size is required, e.g. tg.randint(0, 10, (3,))")
    if high is None:
        low, high = 0, low                                # randint(high, size=...)
    low, high = _integer(low, "randint", "low"), _integer(high, "randint", "high")
    shape = _shape((size,), "randint")
    dtype = backend.DEFAULT_INT if dtype is None else backend.canonical_dtype(dtype)
    if dtype.kind == "b":
        raise TypeError("randint: dtype must be an integer or float dtype, got bool")
    if low >= high:
        raise ValueError(f"randint: low ({low}) must be less than high ({high})")
    ranges = [np.iinfo(backend.int64)] + ([np.iinfo(dtype)] if dtype.kind in "iu" else [])
    lowest, highest = max(r.min for r in ranges), min(r.max for r in ranges)  # draws are int64
    if low < lowest or high - 1 > highest:
        raise OverflowError(f"randint: [{low}, {high}) is out of range for {dtype}, whose values "
                            f"lie in [{lowest}, {highest}]")
    return _leaf(lambda xp, dt: backend.generator(device).integers(low, high, shape).astype(dt),
                 dtype, device, False)


def _float(dtype, op):
    if dtype.kind != "f" or dtype == backend.float16:
        raise TypeError(f"{op}: dtype must be float32 or float64, got {dtype}")
    return dtype


def _like(factory):
    def like(t, dtype=None, device=None, requires_grad=False, **kwargs):
        return factory(t.shape, dtype=dtype or t.dtype, device=device or t.device,
                       requires_grad=requires_grad, **kwargs)
    like.__name__ = factory.__name__ + "_like"
    like.__doc__ = f"``{factory.__name__}`` with the shape (and by default dtype, device) of ``t``."
    return like


zeros_like = _like(zeros)
ones_like = _like(ones)
rand_like = _like(rand)
randn_like = _like(randn)


def full_like(t, fill_value, dtype=None, device=None, requires_grad=False):
    return full(t.shape, fill_value, dtype=dtype or t.dtype, device=device or t.device,
                requires_grad=requires_grad)


def from_numpy(array):
    """A CPU tensor that shares ``array``'s memory, in its dtype, as ``torch.from_numpy``: a
    change made through either (an in-place op, a NumPy assignment) is seen by both. As in
    PyTorch, a write through the array is not counted in the tensor's ``_version``.

    >>> import numpy as np
    >>> import tinygrad_seq as tg
    >>> a = np.zeros(3, dtype=np.float64)
    >>> t = tg.from_numpy(a)
    >>> a[0] = 5.0
    >>> t.tolist(), t.dtype
    ([5.0, 0.0, 0.0], dtype('float64'))
    >>> _ = t.add_(1.0)
    >>> a.tolist()
    [6.0, 1.0, 1.0]
    """
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__} (use "
                        f"tg.tensor(data) to copy other data into a tensor)")
    if array.dtype.kind not in "fiub":
        raise TypeError(f"from_numpy: the array's dtype {array.dtype} is not numeric: expected a "
                        f"float, integer or bool array")
    if not array.dtype.isnative:
        raise ValueError(f"from_numpy: the array is in non-native byte order ({array.dtype.str}); "
                         f"convert it first: array.astype(array.dtype.newbyteorder('='))")
    return Tensor._make(array, "cpu", None, 0)
