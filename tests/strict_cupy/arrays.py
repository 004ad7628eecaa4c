"""The stand-in's ``ndarray``: a NumPy array and the device it lives on, with CuPy's rules for
kernels, views, copies and the host."""
import contextlib
import threading

import numpy as _np

from .cuda import Device, _thread


def _mismatch(resides, current):
    raise ValueError(f"The device where the array resides ({resides}) is different from the "
                     f"current device ({current}). Peer access is unavailable between these "
                     f"devices.")


def _unsupported(value):
    raise TypeError(f"Unsupported type {type(value)}")


class MemoryPointer:
    """``array.data``: where the array's memory starts (``ptr``) and on which device."""

    def __init__(self, array, device_id):
        self.ptr = array.__array_interface__["data"][0]
        self.device_id = device_id


class Flags:
    """``array.flags``: read-only, as CuPy's (NumPy's ``writeable`` is not there)."""

    def __init__(self, array):
        flags = array.flags
        self.c_contiguous, self.f_contiguous = flags.c_contiguous, flags.f_contiguous
        self.owndata = flags.owndata

    def __getitem__(self, name):
        return getattr(self, {"C_CONTIGUOUS": "c_contiguous", "F_CONTIGUOUS": "f_contiguous",
                              "OWNDATA": "owndata"}[name])



def _new(array, device, base=None):
    out = object.__new__(ndarray)
    out._a, out._dev, out._base = array, device, base
    return out


def _view(array, of):
    """``array`` (NumPy's view of ``of._a``) as a view of ``of``: on its device, and with
    CuPy's ``base``, the array that owns the memory."""
    return _new(array, of._dev, of if of._base is None else of._base)


def _wrap(result, device, of=None):
    """NumPy's result as arrays of ``device`` (views of ``of``, if given); a NumPy scalar
    becomes a 0-d array, as CuPy returns for a reduction or an element."""
    kind = type(result)
    if kind is _np.ndarray:
        return _new(result, device) if of is None else _view(result, of)
    if isinstance(result, _np.generic):
        return _new(_np.asarray(result), device)
    if kind is tuple or kind is list:
        return kind(_wrap(r, device, of) for r in result)
    if isinstance(result, tuple) and hasattr(result, "_fields"):  # linalg's named results
        return kind(*[_wrap(r, device, of) for r in result])
    return result


def _kernel_arg(value, device):
    """An operand of a kernel: an array of the current device, or a scalar."""
    if type(value) is ndarray:
        if value._dev != device:
            _mismatch(value._dev, device)
        return value._a
    if value is None or isinstance(value, (int, float, complex, _np.generic)):
        return value
    _unsupported(value)


def _unwrap(value, device, found=None):
    """Arguments of a function: arrays (checked on ``device`` unless they are ``found``
    instead, for a view's check after the call) unwrapped inside lists and tuples; NumPy
    arrays refused."""
    kind = type(value)
    if kind is ndarray:
        if found is not None:
            found.append(value)
        elif value._dev != device:
            _mismatch(value._dev, device)
        return value._a
    if kind is _np.ndarray:
        _unsupported(value)
    if kind is list or kind is tuple:
        return kind(_unwrap(v, device, found) for v in value)
    if kind is dict:
        return {k: _unwrap(v, device, found) for k, v in value.items()}
    return value


def _shares(result, base):
    if type(result) in (list, tuple):
        return all(_shares(r, base) for r in result)
    return type(result) is _np.ndarray and _np.may_share_memory(result, base)


def _call(fn, args, kwargs, view=False):
    """``fn`` on unwrapped arguments, its result on the current device; a ``view`` function
    whose result shares the memory of its first array argument launched no kernel: the
    result stays on that array's device, whatever device is current."""
    device = _thread.device
    if not view:
        result = fn(*_unwrap(args, device), **_unwrap(kwargs, device))
        out = kwargs.get("out")
        return out if type(out) is ndarray else _wrap(result, device)
    found = []
    result = fn(*_unwrap(args, device, found), **_unwrap(kwargs, device, found))
    if found and _shares(result, found[0]._a):
        return _wrap(result, found[0]._dev, of=found[0])
    for array in found:
        if array._dev != device:
            _mismatch(array._dev, device)
    return _wrap(result, device)


def _index(index, array):
    """A NumPy index for ``array``, and whether it is advanced (a kernel on the current
    device). Lists and NumPy arrays are copied onto the current device, as CuPy does."""
    device = _thread.device
    items = index if type(index) is tuple else (index,)
    out, advanced, ellipsis = [], False, False
    for item in items:
        kind = type(item)
        if item is None or kind is slice:
            out.append(item)
        elif item is Ellipsis:
            out.append(item)
            ellipsis = True
        elif kind is ndarray:
            if item._dev != device:
                _mismatch(item._dev, device)
            out.append(item._a)
            advanced = True
        elif isinstance(item, (bool, _np.bool_)):
            out.append(item)
            advanced = True
        elif isinstance(item, (int, _np.integer)):
            out.append(item)
        elif kind in (list, tuple, _np.ndarray):
            out.append(_np.asarray(item))
            advanced = True
        else:
            raise IndexError("only integers, slices (`:`), ellipsis (`...`), numpy.newaxis "
                             f"(`None`) and integer or boolean arrays are valid indices, got "
                             f"{kind.__name__}")
    if advanced and array._dev != device:
        _mismatch(array._dev, device)
    if not ellipsis:
        out.append(Ellipsis)  # NumPy then gives a 0-d array for one element, as CuPy does
    return tuple(out), advanced


class _Transfers(threading.local):
    log = None  # a list while ``transfers()`` records, else None


_transfers = _Transfers()


def _to_host(array, how):
    if _transfers.log is not None:
        _transfers.log.append((how, array._a.size))
    return array._a


@contextlib.contextmanager
def transfers():
    """Within: a list of the copies to the host made in this thread, (how, number of
    elements) each: ``get``, ``item``, ``tolist``, ``bool``, ``float``, ``int``..."""
    previous, _transfers.log = _transfers.log, []
    try:
        yield _transfers.log
    finally:
        _transfers.log = previous


_IMPLICIT = ("Implicit conversion to a NumPy array is not allowed. Please use `.get()` to "
             "construct a NumPy array explicitly.")


class ndarray:
    """An array of one device (``device.id``), held in a NumPy array."""

    __slots__ = ("_a", "_dev", "_base", "__weakref__")
    __hash__ = None

    def __init__(self, shape, dtype=float):
        self._a, self._dev, self._base = _np.empty(shape, dtype), _thread.device, None

    # ---------------------------------------------------------- no way to the host but get()
    def __array__(self, *args, **kwargs):
        raise TypeError(_IMPLICIT)

    def get(self, stream=None, order="C", out=None):
        return _np.array(_to_host(self, "get"), order=order)

    def item(self):
        return _to_host(self, "item").item()

    def tolist(self):
        return _to_host(self, "tolist").tolist()

    def tobytes(self, order="C"):
        return _to_host(self, "tobytes").tobytes(order)

    def __float__(self):
        return float(_to_host(self, "float"))

    def __int__(self):
        return int(_to_host(self, "int"))

    def __complex__(self):
        return complex(_to_host(self, "complex"))

    def __bool__(self):
        return bool(_to_host(self, "bool"))

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        if self._a.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(len(self._a)))

    def __repr__(self):
        return repr(self._a)

    def __str__(self):
        return str(self._a)

    def __format__(self, spec):
        return format(self._a, spec) if self._a.ndim == 0 else str(self)

    def __reduce__(self):
        return _restore, (self._a.copy(), self._dev)

    def __copy__(self):
        with Device(self._dev):
            return self.copy()

    def __deepcopy__(self, memo):
        return self.__copy__()

    # ---------------------------------------------------------- attributes
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: Flags(self._a))
    device = property(lambda self: Device(self._dev))
    data = property(lambda self: MemoryPointer(self._a, self._dev))
    T = property(lambda self: _view(self._a.T, self))
    mT = property(lambda self: _view(_np.swapaxes(self._a, -1, -2), self))
    base = property(lambda self: self._base)

    # NumPy's protocols, as CuPy's: __array_ufunc__ (ufuncs.py), __array_function__ (functions.py)

    # ---------------------------------------------------------- indexing
    def __getitem__(self, index):
        raw, advanced = _index(index, self)
        return _new(self._a[raw], _thread.device) if advanced else _view(self._a[raw], self)

    def __setitem__(self, index, value):
        device = _thread.device
        if self._dev != device:
            _mismatch(self._dev, device)
        raw, _ = _index(index, self)
        if type(value) is _np.ndarray and value.ndim:
            raise ValueError("non-scalar numpy.ndarray cannot be used for fill")
        self._a[raw] = _kernel_arg(value, device)

    # ---------------------------------------------------------- copies, casts, fills
    def copy(self, order="C"):
        """A copy on the CURRENT device, from any device (CuPy's peer copy)."""
        return _new(self._a.copy(order), _thread.device)

    def astype(self, dtype, order="K", casting=None, subok=None, copy=True):
        if not copy and _np.dtype(dtype) == self._a.dtype:
            return self
        device = _thread.device
        if self._dev != device:
            _mismatch(self._dev, device)
        return _new(self._a.astype(dtype, order=order, copy=True), device)

    def fill(self, value):
        device = _thread.device
        if self._dev != device:
            _mismatch(self._dev, device)
        if type(value) is _np.ndarray:
            if value.ndim:
                raise ValueError("non-scalar numpy.ndarray cannot be used for fill")
            value = value.item()
        if type(value) is ndarray:
            if value.ndim:
                raise ValueError("non-scalar cupy.ndarray cannot be used for fill")
            _np.copyto(self._a, _kernel_arg(value, device), casting="unsafe")
        else:
            self._a.fill(value)


def _restore(array, device):
    return _new(array, device)


def _method(name, view=False):
    numpy_method = getattr(_np.ndarray, name)

    def method(self, *args, **kwargs):
        return _call(numpy_method, (self,) + args, kwargs, view)
    method.__name__ = name
    return method


for _name in ("reshape", "ravel", "transpose", "swapaxes", "squeeze", "diagonal", "view"):
    setattr(ndarray, _name, _method(_name, view=True))
for _name in ("sum", "mean", "max", "min", "prod", "var", "std", "argmax", "argmin", "all", "any",
              "cumsum", "cumprod", "clip", "dot", "nonzero", "sort", "argsort", "take", "repeat",
              "round", "conj", "flatten", "trace", "put", "searchsorted", "partition",
              "argpartition", "choose", "compress"):
    setattr(ndarray, _name, _method(_name))

