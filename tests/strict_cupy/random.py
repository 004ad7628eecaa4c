"""``cupy.random`` of the stand-in: CuPy's legacy ``RandomState``."""
import numpy as _np

from .arrays import _mismatch, _new
from .cuda import _thread


class RandomState:
    """CuPy's legacy ``RandomState``: its stream belongs to the device current when it was
    made, and draws land there."""

    def __init__(self, seed=None):
        self._device = _thread.device
        self._stream = _np.random.RandomState(_np.random.MT19937(seed))

    def _draw(self, values, dtype):
        if _thread.device != self._device:
            _mismatch(self._device, _thread.device)
        return _new(_np.asarray(values).astype(dtype, copy=False), self._device)

    def seed(self, seed=None):
        self._stream = _np.random.RandomState(_np.random.MT19937(seed))

    def random_sample(self, size=None, dtype=float):
        return self._draw(self._stream.random_sample(size), dtype)

    def standard_normal(self, size=None, dtype=float):
        return self._draw(self._stream.standard_normal(size), dtype)

    def normal(self, loc=0.0, scale=1.0, size=None, dtype=float):
        return self._draw(self._stream.normal(loc, scale, size), dtype)

    def uniform(self, low=0.0, high=1.0, size=None, dtype=float):
        return self._draw(self._stream.uniform(low, high, size), dtype)

    def randint(self, low, high=None, size=None, dtype=int):
        return self._draw(self._stream.randint(low, high, size, dtype=_np.int64), dtype)

