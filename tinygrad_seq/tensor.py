"""Tensor: an array on a device, its gradient, and the node of the graph that made it."""
import numpy as np

from . import autograd, backend, inplace, versions
from . import ops
from .checks import check_representable  # creation.py takes it from here too
from .ops.axes import accepts_dim_in_methods
from .size import Size

_new_tensor = object.__new__
_READ_ONLY_HELP = ("tensors are immutable through indexing: build a new one (e.g. with tg.where, "
                   "tg.masked_fill or tg.concatenate), or overwrite a whole tensor in place "
                   "with copy_() or fill_()")


def _to_array(data, dtype, device):
    """``data`` (Tensor, NumPy/CuPy array, list, number) as an array of ``device``, in ``dtype``."""
    dev = backend.get_device(device)
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        dtype = backend.canonical_dtype(dtype)
    source_device = backend.device_of_array(data)
    if source_device != "cpu":
        if dev.name == "cpu":
            data = data.get()
    else:
        try:
            data = np.asarray(data)
        except (ValueError, TypeError) as e:
            raise TypeError(f"tensor: cannot make a tensor from {type(data).__name__} data ({e})") from None
        if data.dtype == object:  # NumPy's answer to Python integers beyond 64 bits
            data = _big_integers(data, dtype, "tensor")
    if dtype is None:
        kind = data.dtype.kind
        if kind == "f":
            dtype = backend.DEFAULT_FLOAT
        elif kind in "iu":
            dtype = backend.DEFAULT_INT
        elif kind == "b":
            dtype = backend.bool_
        else:
            raise TypeError(f"tensor: data of dtype {data.dtype} is not numeric: expected numbers "
                            f"or booleans, got {type(data).__name__}")
    elif data.dtype.kind not in "fiub":
        raise TypeError(f"tensor: data of dtype {data.dtype} is not numeric: expected numbers or booleans")
    with backend.on(backend.device_of_array(data)):  # the check reads the data where it is
        check_representable(data, dtype, "tensor")
    with dev.activate(), np.errstate(over="ignore"):  # 1e300 into float32 is inf, as in PyTorch
        return dev.xp.array(data, dtype=dtype, copy=True)


def _big_integers(data, dtype, op):
    """An object array, which NumPy makes of Python integers too large for 64 bits: floats for
    a float dtype (or no dtype and some floats among them), bools for bool, else an
    OverflowError naming the value and the range."""
    values = data.reshape(-1).tolist()
    if not all(isinstance(v, (int, float)) for v in values):
        return data  # not numbers: the caller's dtype check names it
    if dtype is not None and dtype.kind == "b":
        return data != 0
    if (dtype is None and any(isinstance(v, float) for v in values)) or (
            dtype is not None and dtype.kind == "f"):
        return data.astype(np.float64)  # beyond float64 too: Python's OverflowError says so
    target = dtype if dtype is not None else backend.DEFAULT_INT
    info = np.iinfo(target)
    bad = next(v for v in values if isinstance(v, int) and not info.min <= v <= info.max)
    raise OverflowError(f"{op}: value {bad} is out of range for {target}, whose values lie in "
                        f"[{info.min}, {info.max}]")


@accepts_dim_in_methods  # every method taking axis= takes PyTorch's dim= too
class Tensor:
    """An n-dimensional array with reverse-mode autodiff.

    >>> import tinygrad_seq as tg
    >>> x = tg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad.tolist()
    [[2.0, 4.0], [6.0, 8.0]]
    """

    __slots__ = ("data", "device", "requires_grad", "grad", "_ctx", "_idx", "__weakref__")
    __array_priority__ = 1000  # numpy scalars and arrays defer to our reflected operators

    def __init__(self, data, dtype=None, device="cpu", requires_grad=False):
        device = backend.canonical_device(device)
        self.data = _to_array(data, dtype, device)
        self.device = device
        self.grad = None
        self._ctx = None
        self._idx = 0
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @staticmethod
    def _make(data, device, ctx, idx):
        """A tensor around an array of ``device``, without checks (for the engine and ops)."""
        t = _new_tensor(Tensor)
        t.data, t.device, t.grad, t._ctx, t._idx = data, device, None, ctx, idx
        t.requires_grad = ctx is not None
        return t

    # ------------------------------------------------------------ properties
    @property
    def shape(self):
        return tuple(self.data.shape)

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def size(self):
        """The number of elements (NumPy's ``size``), which called is PyTorch's ``size(dim=None)``:
        ``x.size()`` the shape, ``x.size(0)`` the length of axis 0 (see ``Size``)."""
        data = self.data
        return Size(data.size, tuple(data.shape))

    def numel(self):
        """The number of elements, as PyTorch's ``numel()``."""
        return int(self.data.size)

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def is_leaf(self):
        return self._ctx is None

    @property
    def grad_fn(self):
        return self._ctx

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    # ------------------------------------------------------------ autograd
    def backward(self, grad=None, retain_graph=False):
        """Accumulate d(self)/d(leaf) into ``.grad`` of every leaf that requires grad."""
        seed = autograd._seed_gradient(self, grad, "backward")
        autograd.run_backward([self], [seed], retain_graph=retain_graph)

    def detach(self):
        """The same data (memory shared, as PyTorch's), cut from the graph: no gradient flows
        through the result."""
        autograd.reading(self, "detach()")
        return Tensor._make(self.data, self.device, None, 0)

    def clone(self):
        """A copy in memory of its own that keeps the graph (see ``tg.clone``)."""
        return ops.clone(self)

    @property
    def _version(self):
        """How many in-place ops have written this tensor's memory (shared with its views and
        ``detach()``), as PyTorch's ``_version``."""
        return versions.version(self.data)

    # ------------------------------------------------------------ in place (see inplace.py)
    def add_(self, other, alpha=1):
        """``self += alpha * other`` in place; returns self."""
        return inplace.add_(self, other, alpha)

    def mul_(self, other):
        """``self *= other`` in place; returns self."""
        return inplace.mul_(self, other)

    def fill_(self, value):
        """Every element set to ``value`` (a number or a 0-d tensor) in place; returns self."""
        return inplace.fill_(self, value)

    def zero_(self):
        """Every element set to 0 in place; returns self."""
        return inplace.fill_(self, 0, "zero_")

    def copy_(self, src):
        """The values of ``src`` (broadcast to self's shape, cast to its dtype, moved to its
        device) written into self; returns self. The gradient flows to ``src``."""
        return inplace.copy_(self, src)

    def requires_grad_(self, requires_grad=True):
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(f"only floating-point tensors can require grad, this one is "
                            f"{self.data.dtype}; convert it first with .astype('float32')")
        if not requires_grad and self._ctx is not None:
            raise RuntimeError("requires_grad_(False) on a tensor made by an op: use .detach()")
        self.requires_grad = bool(requires_grad)
        return self

    # ------------------------------------------------------------ host and devices
    def numpy(self):
        """A NumPy copy of the data (copied to the host for a CUDA tensor)."""
        autograd.reading(self, "numpy(), item() or tolist()")
        if self.device == "cpu":
            return self.data.copy()
        return self.data.get()

    def tolist(self):
        return self.numpy().tolist()

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item() needs a single-element tensor, got shape {self.shape}")
        return self.numpy().reshape(()).item()

    def __array__(self, dtype=None, copy=None):
        autograd.reading(self, "a NumPy conversion")
        if self.device != "cpu":
            raise TypeError(f"cannot convert a {self.device} tensor to a NumPy array implicitly: "
                            f"call .numpy() or .cpu() first")
        # NumPy's protocol: copy=True must give an array of its own (np.array(t) would otherwise
        # let the caller write into the tensor); copy=False must not copy. The view below is
        # read-only: a write through it would escape the versions that backward checks (the
        # in-place ops count theirs).
        dtype = self.data.dtype if dtype is None else np.dtype(dtype)
        if copy is False and dtype != self.data.dtype:
            raise ValueError(f"cannot convert a {self.dtype} tensor to {dtype} without a copy")
        if copy or dtype != self.data.dtype:
            return self.data.astype(dtype, copy=True)
        view = self.data.view()  # shares memory but cannot write into the tensor
        view.flags.writeable = False
        return view

    def to(self, device=None, dtype=None):
        """A new tensor on ``device`` and/or in ``dtype``; keeps the graph (gradients flow back)."""
        out = self
        if dtype is not None and backend.canonical_dtype(dtype) != self.dtype:
            out = ops.astype(out, dtype)
        if device is not None and backend.canonical_device(device) != out.device:
            out = ops.to_device(out, backend.canonical_device(device))
        return out

    def cpu(self):
        return self.to("cpu")

    def cuda(self, index=0):
        return self.to(f"cuda:{index}")

    def __repr__(self):
        body = np.array2string(self.numpy(), separator=", ", prefix="tensor(")
        extra = f", grad_fn={self._ctx!r}" if self._ctx is not None else (
            ", requires_grad=True" if self.requires_grad else "")
        return f"tensor({body}, device='{self.device}', dtype={self.dtype.name}{extra})"

    def __bool__(self):
        if self.data.size != 1:
            raise ValueError(f"the truth value of a tensor of shape {self.shape} is ambiguous: "
                             f"use .any() or .all()")
        return bool(self.item())

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return iter(ops.unbind(self, 0))

    def __setitem__(self, index, value):
        raise TypeError(f"item assignment: {_READ_ONLY_HELP}")

    __hash__ = object.__hash__

    # ------------------------------------------------------------ operators
    def __neg__(self): return ops.neg(self)
    def __add__(self, other): return ops.add(self, other)
    def __radd__(self, other): return ops.add(other, self)
    def __sub__(self, other): return ops.sub(self, other)
    def __rsub__(self, other): return ops.sub(other, self)
    def __mul__(self, other): return ops.mul(self, other)
    def __rmul__(self, other): return ops.mul(other, self)
    def __truediv__(self, other): return ops.div(self, other)
    def __rtruediv__(self, other): return ops.div(other, self)
    def __pow__(self, other): return ops.pow(self, other)
    def __rpow__(self, other): return ops.pow(other, self)
    def __matmul__(self, other): return ops.matmul(self, other)
    def __rmatmul__(self, other): return ops.matmul(other, self)
    def __getitem__(self, index): return ops.getitem(self, index)
    def __lt__(self, other): return ops.less(self, other)
    def __le__(self, other): return ops.less_equal(self, other)
    def __gt__(self, other): return ops.greater(self, other)
    def __ge__(self, other): return ops.greater_equal(self, other)
    def __eq__(self, other): return ops.equal(self, other)
    def __ne__(self, other): return ops.not_equal(self, other)
    def __abs__(self): return ops.abs(self)

    # ------------------------------------------------------------ methods (see tinygrad_seq.ops)
    def exp(self): return ops.exp(self)
    def log(self): return ops.log(self)
    def sqrt(self): return ops.sqrt(self)
    def abs(self): return ops.abs(self)
    def sin(self): return ops.sin(self)
    def cos(self): return ops.cos(self)
    def tanh(self): return ops.tanh(self)
    def sigmoid(self): return ops.sigmoid(self)
    def relu(self): return ops.relu(self)
    def pow(self, exponent): return ops.pow(self, exponent)
    def maximum(self, other): return ops.maximum(self, other)
    def minimum(self, other): return ops.minimum(self, other)
    def clip(self, min=None, max=None): return ops.clip(self, min, max)
    def astype(self, dtype): return ops.astype(self, dtype)
    def float(self): return ops.astype(self, backend.float32)
    def double(self): return ops.astype(self, backend.float64)
    def long(self): return ops.astype(self, backend.int64)
    def sum(self, axis=None, keepdims=False): return ops.sum(self, axis, keepdims)
    def mean(self, axis=None, keepdims=False): return ops.mean(self, axis, keepdims)
    def max(self, axis=None, keepdims=False): return ops.max(self, axis, keepdims)
    def min(self, axis=None, keepdims=False): return ops.min(self, axis, keepdims)
    def var(self, axis=None, keepdims=False, correction=0):
        return ops.var(self, axis, keepdims, correction)
    def logsumexp(self, axis=None, keepdims=False): return ops.logsumexp(self, axis, keepdims)
    def cumsum(self, axis): return ops.cumsum(self, axis)
    def softmax(self, axis=-1): return ops.softmax(self, axis)
    def log_softmax(self, axis=-1): return ops.log_softmax(self, axis)
    def argmax(self, axis=None, keepdims=False): return ops.argmax(self, axis, keepdims)
    def argmin(self, axis=None, keepdims=False): return ops.argmin(self, axis, keepdims)
    def all(self, axis=None, keepdims=False): return ops.all(self, axis, keepdims)
    def any(self, axis=None, keepdims=False): return ops.any(self, axis, keepdims)
    def sort(self, axis=-1, descending=False): return ops.sort(self, axis, descending)
    def argsort(self, axis=-1, descending=False): return ops.argsort(self, axis, descending)
    def topk(self, k, axis=-1, largest=True, sorted=True):
        return ops.topk(self, k, axis, largest, sorted)
    def multinomial(self, num_samples, replacement=False):
        return ops.multinomial(self, num_samples, replacement)
    def matmul(self, other): return ops.matmul(self, other)
    def reshape(self, *shape): return ops.reshape(self, *shape)
    view = reshape  # PyTorch's name; a view when the memory allows, else a copy (as reshape)
    def flatten(self, start_axis=0, end_axis=-1): return ops.flatten(self, start_axis, end_axis)
    def permute(self, *axes): return ops.permute(self, *axes)
    def transpose(self, *axes): return ops.transpose(self, *axes)
    def swapaxes(self, axis1, axis2): return ops.swapaxes(self, axis1, axis2)
    @property
    def T(self): return ops.transpose(self)
    @property
    def mT(self): return ops.swapaxes(self, -1, -2)
    def expand(self, *shape): return ops.broadcast_to(self, *shape)
    def broadcast_to(self, *shape): return ops.broadcast_to(self, *shape)
    def squeeze(self, axis=None): return ops.squeeze(self, axis)
    def unsqueeze(self, axis): return ops.unsqueeze(self, axis)
    def flip(self, axis=None): return ops.flip(self, axis)
    def pad(self, pad_width, value=0.0): return ops.pad(self, pad_width, value)
    def split(self, split_size_or_sections, axis=0):
        return ops.split(self, split_size_or_sections, axis)
    def chunk(self, chunks, axis=0): return ops.chunk(self, chunks, axis)
    def unbind(self, axis=0): return ops.unbind(self, axis)
    def take(self, indices, axis=None): return ops.take(self, indices, axis)
    def gather(self, axis, indices): return ops.gather(self, axis, indices)
    def masked_fill(self, mask, value): return ops.masked_fill(self, mask, value)


autograd._register_tensor_type(Tensor)


def tensor(data, dtype=None, device="cpu", requires_grad=False):
    """A new leaf tensor holding a copy of ``data`` (list, number, NumPy/CuPy array or Tensor).

    Floating data becomes float32 and integers int64 unless ``dtype`` says otherwise
    (``dtype="float64"`` keeps double precision).

    >>> import tinygrad_seq as tg
    >>> tg.tensor([1, 2, 3]).dtype
    dtype('int64')
    >>> tg.tensor([1.5], dtype="float64").dtype
    dtype('float64')
    """
    return Tensor(data, dtype=dtype, device=device, requires_grad=requires_grad)
