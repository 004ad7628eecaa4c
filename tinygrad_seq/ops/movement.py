"""Ops that move data without arithmetic: reshape, permute, broadcast, join, split, flip, pad,
clone."""
from ..autograd import Function
from .. import backend
from .axes import accepts_dim, axis_index as _axis, shape_arg as _shape_arg


class Reshape(Function):
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        return a.reshape(shape)

    def backward(ctx, g):
        return g.reshape(ctx.shape)


class Permute(Function):
    def forward(ctx, a, axes):
        ctx.axes = axes
        return a.transpose(axes)

    def backward(ctx, g):
        inverse = [0] * len(ctx.axes)
        for i, a in enumerate(ctx.axes):
            inverse[a] = i
        return g.transpose(inverse)


class BroadcastTo(Function):
    name = "broadcast_to"

    def forward(ctx, a, shape):
        return ctx.xp.broadcast_to(a, shape)

    def backward(ctx, g):
        return g  # the engine sums it back to the input's shape


class Concatenate(Function):
    def forward(ctx, *arrays, axis):
        ctx.axis = axis
        ctx.sizes = [a.shape[axis] for a in arrays]
        return ctx.xp.concatenate(arrays, axis=axis)

    def backward(ctx, g):
        return tuple(_split_array(ctx.xp, g, ctx.sizes, ctx.axis))


class Stack(Function):
    def forward(ctx, *arrays, axis):
        ctx.axis = axis
        return ctx.xp.stack(arrays, axis=axis)

    def backward(ctx, g):
        index = (slice(None),) * ctx.axis
        return tuple(g[index + (i,)] for i in range(g.shape[ctx.axis]))


def _split_array(xp, a, sizes, axis):
    # plain slicing: xp.split costs ~10 µs a call on NumPy, and an LSTM splits its gates every step
    index, start, pieces = (slice(None),) * axis, 0, []
    for n in sizes:
        pieces.append(a[index + (slice(start, start + n),)])
        start += n
    return pieces


class Split(Function):
    """Pieces of the given sizes along ``axis``, as one node: backward joins their gradients once."""

    def forward(ctx, a, sizes, axis):
        ctx.sizes, ctx.axis, ctx.shape, ctx.dtype = sizes, axis, a.shape, a.dtype
        return tuple(_split_array(ctx.xp, a, sizes, axis))

    def backward(ctx, *grads):
        xp = ctx.xp
        pieces = []
        for g, n in zip(grads, ctx.sizes):
            if g is None:
                shape = list(ctx.shape)
                shape[ctx.axis] = n
                g = xp.zeros(shape, dtype=ctx.dtype)
            pieces.append(g)
        return xp.concatenate(pieces, axis=ctx.axis)


class Unbind(Function):
    """Every slice along ``axis`` (the axis removed), as one node, e.g. the steps of a sequence."""

    def forward(ctx, a, axis):
        ctx.axis, ctx.shape, ctx.dtype = axis, a.shape, a.dtype
        index = (slice(None),) * axis
        return tuple(a[index + (i,)] for i in range(a.shape[axis]))

    def backward(ctx, *grads):
        xp = ctx.xp
        if any(g is None for g in grads):
            zero = xp.zeros(ctx.shape[:ctx.axis] + ctx.shape[ctx.axis + 1:], dtype=ctx.dtype)
            grads = [zero if g is None else g for g in grads]
        return xp.stack(grads, axis=ctx.axis)


class Flip(Function):
    def forward(ctx, a, axes):
        ctx.axes = axes
        return ctx.xp.flip(a, axis=axes)

    def backward(ctx, g):
        return ctx.xp.flip(g, axis=ctx.axes)


class Pad(Function):
    def forward(ctx, a, pad_width, value):
        ctx.inside = tuple(slice(before, before + n) for (before, _), n in zip(pad_width, a.shape))
        return ctx.xp.pad(a, pad_width, mode="constant", constant_values=value)

    def backward(ctx, g):
        return g[ctx.inside]


class Clone(Function):
    def forward(ctx, a):
        return a.copy()

    def backward(ctx, g):
        return g


class ToDevice(Function):
    name = "to"

    def forward(ctx, a, target):
        if target == "cpu":
            return a.get()
        dev = backend.get_device(target)
        with dev.activate():
            return dev.xp.asarray(a)

    def backward(ctx, g):
        if ctx.device == "cpu":
            return g.get()
        with backend.get_device(ctx.device).activate():
            return ctx.xp.asarray(g)

    @classmethod
    def apply(cls, a, target):
        out = super().apply(a, target=target)
        out.device = target  # the one op whose result lives on another device than its input
        return out


# ---------------------------------------------------------------- public functions

def reshape(a, *shape):
    """A view with a new shape; one dimension may be -1."""
    shape = _shape_arg(shape, "reshape")
    known, size = 1, a.data.size
    for n in shape:
        if n != -1:
            known *= n
    if shape.count(-1) > 1 or (-1 not in shape and known != size) or (
            -1 in shape and (known == 0 or size % known)):
        raise ValueError(f"reshape: cannot reshape a tensor of shape {a.shape} ({size} elements) "
                         f"into shape {shape}")
    return Reshape.apply(a, shape=shape)


@accepts_dim
def flatten(a, start_axis=0, end_axis=-1):
    if a.ndim == 0:
        return reshape(a, 1)
    start, end = _axis(start_axis, a.ndim, "flatten"), _axis(end_axis, a.ndim, "flatten")
    return reshape(a, a.shape[:start] + (-1,) + a.shape[end + 1:])


def permute(a, *axes):
    """Reorder the axes: ``permute(x, 1, 0, 2)`` (PyTorch's name)."""
    axes = tuple(_axis(x, a.ndim, "permute") for x in _shape_arg(axes, "permute"))
    if sorted(axes) != list(range(a.ndim)):
        raise ValueError(f"permute: {axes} is not a permutation of the {a.ndim} axes of shape {a.shape}")
    return Permute.apply(a, axes=axes)


def transpose(a, *axes):
    """NumPy's transpose: reverse the axes, or permute them as given."""
    if not axes or axes == (None,):
        return Permute.apply(a, axes=tuple(reversed(range(a.ndim))))
    return permute(a, *axes)


def swapaxes(a, axis1, axis2):
    axes = list(range(a.ndim))
    i, j = _axis(axis1, a.ndim, "swapaxes"), _axis(axis2, a.ndim, "swapaxes")
    axes[i], axes[j] = axes[j], axes[i]
    return Permute.apply(a, axes=tuple(axes))


def broadcast_to(a, *shape):
    """Repeat size-1 (and new leading) axes up to ``shape`` (PyTorch: expand)."""
    shape = _shape_arg(shape, "broadcast_to")
    ok = len(shape) >= a.ndim and all(
        n == m or n == 1 for n, m in zip(a.shape[::-1], shape[::-1]))
    if not ok:
        raise ValueError(f"broadcast_to: cannot broadcast shape {a.shape} to {shape}")
    return BroadcastTo.apply(a, shape=shape)


@accepts_dim
def squeeze(a, axis=None):
    """Remove size-1 axes (all of them, or those named)."""
    if axis is None:
        axes = [i for i, n in enumerate(a.shape) if n == 1]
    else:
        axes = [_axis(x, a.ndim, "squeeze") for x in ((axis,) if isinstance(axis, int) else axis)]
        for x in axes:
            if a.shape[x] != 1:
                raise ValueError(f"squeeze: axis {x} of shape {a.shape} has size {a.shape[x]}, not 1")
    return Reshape.apply(a, shape=tuple(n for i, n in enumerate(a.shape) if i not in axes))


@accepts_dim
def unsqueeze(a, axis):
    """Insert a size-1 axis at ``axis`` (negative counts from the end of the new shape)."""
    position = _axis(axis, a.ndim + 1, "unsqueeze")
    return Reshape.apply(a, shape=a.shape[:position] + (1,) + a.shape[position:])


@accepts_dim
def concatenate(tensors, axis=0):
    """Join tensors along an existing axis."""
    tensors = tuple(tensors)
    if not tensors:
        raise ValueError("concatenate: needs at least one tensor")
    ndim = tensors[0].ndim
    axis = _axis(axis, ndim, "concatenate")
    for t in tensors:
        if t.ndim != ndim or t.shape[:axis] + t.shape[axis + 1:] != tensors[0].shape[:axis] + tensors[0].shape[axis + 1:]:
            raise ValueError(f"concatenate: shapes {[x.shape for x in tensors]} differ outside "
                             f"axis {axis}")
    return Concatenate.apply(*tensors, axis=axis)


@accepts_dim
def stack(tensors, axis=0):
    """Join equal-shaped tensors along a new axis."""
    tensors = tuple(tensors)
    if not tensors:
        raise ValueError("stack: needs at least one tensor")
    if any(t.shape != tensors[0].shape for t in tensors):
        raise ValueError(f"stack: all shapes must be equal, got {[t.shape for t in tensors]}")
    return Stack.apply(*tensors, axis=_axis(axis, tensors[0].ndim + 1, "stack"))


@accepts_dim
def split(a, split_size_or_sections, axis=0):
    """Pieces along ``axis``: of size ``split_size`` each (the last may be smaller), or of the
    listed sizes (PyTorch's ``split``; NumPy's takes a count, see ``chunk``)."""
    axis = _axis(axis, a.ndim, "split")
    n = a.shape[axis]
    if isinstance(split_size_or_sections, int):
        size = split_size_or_sections
        if size <= 0:
            raise ValueError(f"split: split size must be positive, got {size}")
        sizes = [size] * (n // size) + ([n % size] if n % size else [])
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != n or any(s < 0 for s in sizes):
            raise ValueError(f"split: sizes {sizes} do not add up to {n}, the length of axis {axis}")
    if not sizes:
        return ()
    return Split.apply(a, sizes=sizes, axis=axis)


@accepts_dim
def chunk(a, chunks, axis=0):
    """``chunks`` pieces of equal size along ``axis`` (the last may be smaller), as PyTorch."""
    if chunks <= 0:
        raise ValueError(f"chunk: number of chunks must be positive, got {chunks}")
    n = a.shape[_axis(axis, a.ndim, "chunk")]
    return split(a, max(-(-n // chunks), 1), axis)


@accepts_dim
def unbind(a, axis=0):
    """The slices along ``axis`` with that axis removed, as a tuple."""
    return Unbind.apply(a, axis=_axis(axis, a.ndim, "unbind"))


@accepts_dim
def flip(a, axis=None):
    """Reverse the order of elements along ``axis`` (all axes when None)."""
    if axis is None:
        axes = tuple(range(a.ndim))
    else:
        axes = tuple(_axis(x, a.ndim, "flip") for x in ((axis,) if isinstance(axis, int) else axis))
    return Flip.apply(a, axes=axes)


def pad(a, pad_width, value=0.0):
    """Constant padding, NumPy's ``pad_width``: an int, one (before, after) pair, or one per axis."""
    if isinstance(pad_width, int):
        pad_width = (pad_width, pad_width)
    pad_width = tuple(pad_width)
    if len(pad_width) == 2 and all(isinstance(p, int) for p in pad_width):
        pad_width = (pad_width,) * a.ndim      # one (before, after) pair for every axis
    pad_width = tuple(tuple(int(x) for x in p) for p in pad_width)
    if len(pad_width) != a.ndim or any(len(p) != 2 or min(p) < 0 for p in pad_width):
        raise ValueError(f"pad: pad_width {pad_width} must hold one non-negative (before, after) pair "
                         f"per axis of shape {a.shape}")
    return Pad.apply(a, pad_width=pad_width, value=value)


def clone(a):
    """A copy of ``a`` in memory of its own that keeps the graph (the gradient flows back to
    ``a``), as PyTorch's ``clone``: what to change in place when ``a`` must stay as it is.

    >>> import tinygrad_seq as tg
    >>> a = tg.ones(2, requires_grad=True)
    >>> b = a.clone()
    >>> (b * 3).sum().backward()
    >>> a.grad.tolist()
    [3.0, 3.0]
    """
    return Clone.apply(a)


def to_device(a, device):
    """A copy on another device; the gradient is moved back."""
    return ToDevice.apply(a, target=backend.canonical_device(device))

