"""The functions of the stand-in's module: NumPy's, on arrays of the current device, the
factories allocating there, and the few that copy host data onto the device."""
import functools
import types

import numpy as _np

from .arrays import _call, _kernel_arg, _mismatch, _new, _unsupported, _unwrap, _wrap, ndarray
from .cuda import _thread
from .ufuncs import _ufunc


def _function(numpy_function, view=False):
    @functools.wraps(numpy_function)
    def function(*args, **kwargs):
        return _call(numpy_function, args, kwargs, view)
    function._numpy = numpy_function
    return function


def _allocating(numpy_function):
    """A factory: the new array on the current device; a ``*_like`` never reads its model's
    values, so the model may live anywhere."""
    @functools.wraps(numpy_function)
    def function(*args, **kwargs):
        device = _thread.device
        return _wrap(numpy_function(*_unwrap(args, device, []), **_unwrap(kwargs, device, [])),
                     device)
    function._numpy = numpy_function
    return function


def _host_side(numpy_function):
    """Answers from shapes and dtypes only (no kernel, no device)."""
    @functools.wraps(numpy_function)
    def function(*args, **kwargs):
        unwrap = (lambda v: v._a if type(v) is ndarray else v)
        return numpy_function(*[unwrap(a) for a in args],
                              **{k: unwrap(v) for k, v in kwargs.items()})
    function._numpy = numpy_function
    return function


def _to_device(value, dtype=None, copy=True, order="K", ndmin=0):
    """Host data (a NumPy array, a list, a number) copied onto the current device; an array
    of another device copied onto the current one (a peer copy)."""
    device = _thread.device
    if type(value) is ndarray:
        if value._dev == device and not copy and (dtype is None or _np.dtype(dtype) == value.dtype):
            return value
        return _new(_np.array(value._a, dtype=dtype, copy=True, order=order, ndmin=ndmin), device)
    if isinstance(value, (list, tuple)) and any(type(v) is ndarray for v in value):
        return _call(_np.stack, (value,), {}) if dtype is None else \
            _call(_np.stack, (value,), {}).astype(dtype)
    return _new(_np.array(value, dtype=dtype, copy=True, order=order, ndmin=ndmin), device)


def asarray(a, dtype=None, order=None, *, blocking=False):
    return _to_device(a, dtype, copy=False, order=order or "K")


def array(obj, dtype=None, copy=True, order="K", subok=False, ndmin=0, *, blocking=False):
    return _to_device(obj, dtype, copy=copy, order=order, ndmin=ndmin)


def ascontiguousarray(a, dtype=None):
    if type(a) is ndarray and a._a.flags.c_contiguous and (dtype is None or a.dtype == dtype):
        return a
    if type(a) is ndarray:
        return _call(_np.ascontiguousarray, (a,), {"dtype": dtype})
    return _new(_np.ascontiguousarray(_np.array(a, dtype=dtype)), _thread.device)


asanyarray = asarray


def asnumpy(a, stream=None, order="C", out=None):
    return a.get() if type(a) is ndarray else _np.asarray(a, order=order)


def copyto(dst, src, casting="same_kind", where=None):
    device = _thread.device
    if type(dst) is not ndarray:
        _unsupported(dst)
    if dst._dev != device:
        _mismatch(dst._dev, device)
    _np.copyto(dst._a, _kernel_arg(src, device), casting=casting,
               where=True if where is None else _kernel_arg(where, device))


def full(shape, fill_value, dtype=None, order="C"):
    """As CuPy's: an empty array filled (``fill`` takes a 0-d NumPy array's value)."""
    if dtype is None:
        dtype = _np.asarray(fill_value.get() if type(fill_value) is ndarray else fill_value).dtype
    out = _new(_np.empty(shape, dtype, order), _thread.device)
    out.fill(fill_value)
    return out


def full_like(a, fill_value, dtype=None, order="K", shape=None):
    return full(a.shape if shape is None else shape, fill_value, a.dtype if dtype is None else dtype)


asarray._numpy, array._numpy, ascontiguousarray._numpy = _np.asarray, _np.array, _np.ascontiguousarray
copyto._numpy, full._numpy, full_like._numpy = _np.copyto, _np.full, _np.full_like

_VIEWS = {"reshape", "ravel", "transpose", "swapaxes", "moveaxis", "rollaxis", "squeeze",
          "expand_dims", "broadcast_to", "broadcast_arrays", "atleast_1d", "atleast_2d",
          "atleast_3d", "split", "array_split", "hsplit", "vsplit", "dsplit", "diagonal", "flip",
          "fliplr", "flipud", "real"}
_ALLOCATING = {"empty", "zeros", "ones", "full", "arange", "eye", "identity", "linspace",
               "empty_like", "zeros_like", "ones_like", "tri"}
_HOST_SIDE = {"shape", "ndim", "size", "result_type", "can_cast", "promote_types", "isscalar",
              "shares_memory", "may_share_memory", "broadcast_shapes", "iinfo", "finfo"}


def _module_attribute(name, default=AttributeError):
    value = getattr(_np, name, None)
    if value is None or name.startswith("_") or isinstance(value, types.ModuleType):
        if default is AttributeError:
            raise AttributeError(f"module 'cupy' (strict stand-in) has no attribute {name!r}")
        return default
    if isinstance(value, _np.ufunc):
        wrapped = _ufunc(value)
    elif isinstance(value, type) or not callable(value):
        return value  # dtypes and their types, constants
    elif name in _HOST_SIDE:
        wrapped = _host_side(value)
    elif name in _ALLOCATING:
        wrapped = _allocating(value)
    else:
        wrapped = _function(value, view=name in _VIEWS)
    globals()[name] = wrapped
    return wrapped


def __getattr__(name):
    return _module_attribute(name)



linalg = types.SimpleNamespace(**{name: _function(getattr(_np.linalg, name))
                                  for name in ("qr", "norm", "solve", "inv", "svd", "cholesky",
                                               "eigh", "det")})


def _array_function(self, func, types, args, kwargs):
    """NumPy's function called on an array runs as the stand-in's, where it has one, as
    CuPy's ``__array_function__`` does."""
    target = globals().get(func.__name__) or _module_attribute(func.__name__, None)
    if target is None or getattr(target, "_numpy", None) is not func:
        return NotImplemented
    return target(*args, **kwargs)


ndarray.__array_function__ = _array_function
