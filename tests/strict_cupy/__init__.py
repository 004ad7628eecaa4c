"""A strict stand-in for CuPy, so that the CUDA half of the suite runs where there is no GPU.

NumPy computes; the rules where CuPy is stricter than NumPy are kept, with CuPy's errors:

- an array never becomes a NumPy array implicitly: ``np.asarray``, ``np.array`` and
  ``__array__`` raise TypeError. Host values come through ``.get()``, and through ``item()``,
  ``tolist()``, ``float()``, ``int()``, ``bool()``, which copy to the host as CuPy's do;
- an array never mixes with a NumPy array, nor with a list, in a ufunc, an operator or a
  function of this module (TypeError "Unsupported type"). Only ``asarray``, ``array`` and
  ``ascontiguousarray`` copy host data onto the device, and an index given as a list or a NumPy
  array is copied onto the current device, as CuPy does;
- every array lives on one of ``DEVICE_COUNT`` devices. A kernel (arithmetic, a reduction, a
  cast, a fill, a write, an advanced index) on an array whose device is not the current one
  raises CuPy's ValueError "The device where the array resides (1) is different from the
  current device (0). Peer access is unavailable between these devices." A view (basic
  slicing, a reshape or transpose without a copy) launches no kernel and keeps its base's
  device; ``copy()``, ``asarray`` and ``array`` copy from another device onto the current one,
  as CuPy's peer copies do. New arrays are allocated on the current device;
- the current device is per thread; ``cuda.Device`` keeps its enter/exit stack on the
  instance, as CuPy's does, so one instance entered by two threads can restore the wrong one;
- ``random.RandomState`` (CuPy's legacy API) draws from its own stream (a Mersenne Twister),
  never the stream of NumPy's ``default_rng``: one seed gives other draws here than on the CPU,
  as on a GPU, and a stream is used only with the device it was made on current.

It cannot check the numerics of CuPy's kernels (NumPy computes), asynchrony and streams, memory
limits, nor whether a name exists in CuPy (the CuPy-names test checks the names).

>>> import strict_cupy as cp  # tests/ on sys.path, as under pytest
>>> with cp.cuda.Device(1):
...     a = cp.arange(3.0)
>>> a.device.id, a.get().tolist()
(1, [0.0, 1.0, 2.0])
>>> a + 1
Traceback (most recent call last):
ValueError: The device where the array resides (1) is different from the current device (0). Peer access is unavailable between these devices.
"""
import contextlib
import sys

from . import cuda, functions, random
from .arrays import ndarray, transfers
from .cuda import DEVICE_COUNT, _thread
from .functions import (array, asanyarray, asarray, ascontiguousarray, asnumpy, copyto, full,
                        full_like, linalg)

__all__ = ["DEVICE_COUNT", "array", "asanyarray", "asarray", "ascontiguousarray", "asnumpy",
           "copyto", "cuda", "full", "full_like", "installed", "linalg", "ndarray", "random",
           "transfers"]  # and NumPy's other names, made strict on first use (__getattr__)


def __getattr__(name):
    """NumPy's other names, made strict on first use."""
    value = globals()[name] = functions._module_attribute(name)
    return value


@contextlib.contextmanager
def installed():
    """Within: tinygrad_seq's CUDA devices run on this stand-in (device 0 current)."""
    from tinygrad_seq import backend
    previous = _thread.device
    _thread.device = 0
    backend._use_cuda_module(sys.modules[__name__])
    try:
        yield
    finally:
        backend._use_cuda_module(None)
        _thread.device = previous

