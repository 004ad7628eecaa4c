"""NumPy's ufuncs on the stand-in's arrays of the current device (and scalars) only, and the
operators of ``ndarray`` through them."""
import functools

import numpy as _np

from .arrays import _index, _kernel_arg, _mismatch, _unsupported, _wrap, ndarray
from .cuda import _thread


class _Ufunc:
    """A NumPy ufunc on arrays of the current device (and scalars) only."""

    def __init__(self, numpy_ufunc):
        self._numpy = self._u = numpy_ufunc
        self.__name__ = numpy_ufunc.__name__
        self.nin, self.nout, self.identity = numpy_ufunc.nin, numpy_ufunc.nout, numpy_ufunc.identity

    def __repr__(self):
        return f"<ufunc '{self.__name__}'>"

    @staticmethod
    def _out(out, device):
        if out is None:
            return None, None
        outs = out if type(out) is tuple else (out,)
        for o in outs:
            if type(o) is not ndarray:
                raise TypeError(f"Output arrays must be cupy arrays, got {type(o)}")
            if o._dev != device:
                _mismatch(o._dev, device)
        raw = tuple(o._a for o in outs)
        return (raw if type(out) is tuple else raw[0]), out

    def _finish(self, result, given, device):
        return given if given is not None else _wrap(result, device)

    def __call__(self, *args, out=None, **kwargs):
        device = _thread.device
        if "where" in kwargs:
            kwargs["where"] = _kernel_arg(kwargs["where"], device)
        raw_out, given = self._out(out, device)
        result = self._u(*[_kernel_arg(a, device) for a in args], out=raw_out, **kwargs)
        return self._finish(result, given, device)

    def reduce(self, array, *args, out=None, **kwargs):
        device = _thread.device
        raw_out, given = self._out(out, device)
        return self._finish(self._u.reduce(_kernel_arg(array, device), *args, out=raw_out, **kwargs),
                            given, device)

    def accumulate(self, array, *args, out=None, **kwargs):
        device = _thread.device
        raw_out, given = self._out(out, device)
        result = self._u.accumulate(_kernel_arg(array, device), *args, out=raw_out, **kwargs)
        return self._finish(result, given, device)

    def outer(self, a, b, **kwargs):
        device = _thread.device
        return _wrap(self._u.outer(_kernel_arg(a, device), _kernel_arg(b, device), **kwargs),
                     device)

    def at(self, array, indices, values=None):
        device = _thread.device
        if type(array) is not ndarray:
            _unsupported(array)
        raw, _ = _index(indices, array)
        if array._dev != device:
            _mismatch(array._dev, device)
        if values is None:
            self._u.at(array._a, raw[:-1] if raw[-1] is Ellipsis else raw)
        else:
            self._u.at(array._a, raw[:-1] if raw[-1] is Ellipsis else raw,
                       _kernel_arg(values, device))


@functools.lru_cache(maxsize=None)
def _ufunc(numpy_ufunc):
    return _Ufunc(numpy_ufunc)


def _binary(name, reflected=False, inplace=False):
    ufunc = _ufunc(getattr(_np, name))

    def operator(self, other):
        if not isinstance(other, (ndarray, _np.ndarray, list, tuple, int, float, complex,
                                  _np.generic)):
            return NotImplemented  # e.g. a Tensor, whose reflected operator takes over
        if inplace:
            return ufunc(self, other, out=self)
        return ufunc(other, self) if reflected else ufunc(self, other)
    return operator


for _dunder, _name in (("add", "add"), ("sub", "subtract"), ("mul", "multiply"),
                       ("truediv", "true_divide"), ("floordiv", "floor_divide"),
                       ("mod", "remainder"), ("pow", "power"), ("matmul", "matmul"),
                       ("and", "bitwise_and"), ("or", "bitwise_or"), ("xor", "bitwise_xor"),
                       ("lshift", "left_shift"), ("rshift", "right_shift")):
    setattr(ndarray, f"__{_dunder}__", _binary(_name))
    setattr(ndarray, f"__r{_dunder}__", _binary(_name, reflected=True))
    setattr(ndarray, f"__i{_dunder}__", _binary(_name, inplace=True))
for _dunder, _name in (("lt", "less"), ("le", "less_equal"), ("gt", "greater"),
                       ("ge", "greater_equal"), ("eq", "equal"), ("ne", "not_equal")):
    setattr(ndarray, f"__{_dunder}__", _binary(_name))
for _dunder, _name in (("neg", "negative"), ("pos", "positive"), ("abs", "absolute"),
                       ("invert", "invert")):
    setattr(ndarray, f"__{_dunder}__", (lambda u: lambda self: u(self))(_ufunc(getattr(_np, _name))))


def _array_ufunc(self, ufunc, method, *inputs, **kwargs):
    """NumPy's ufunc called on an array runs as the stand-in's, as CuPy's does."""
    return getattr(_ufunc(ufunc), method)(*inputs, **kwargs)


ndarray.__array_ufunc__ = _array_ufunc
