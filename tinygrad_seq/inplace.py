"""In-place ops: ``add_``, ``mul_``, ``fill_``, ``zero_``, ``copy_`` write into a tensor's memory,
as PyTorch's do, so that every tensor sharing that memory (its ``detach()``, its views, the
NumPy array of ``tg.from_numpy``) sees the new values.

What PyTorch refuses is refused here too: a leaf that requires grad, outside ``no_grad``; a
result that does not fit the tensor (a broadcast to a larger shape, a float into an integer
tensor); memory whose elements overlap (a broadcast result). Each write bumps the version of the
memory (``tinygrad_seq.versions``), so a backward that needs the old values raises instead of
computing a wrong gradient.

While the graph is recorded (grad mode on and some operand requires grad), the result is
computed out of place from a copy of the old values and then written in: the tensor becomes the
output of that op, so gradients flow through it as through ``x = x + y``. A tensor that views
another's memory (a slice, reshape or split of it) cannot be changed so, as the other's graph
would not know: ``clone()`` it first. The other way round is not seen: a view taken *before* an
in-place change sees the new values but its graph not the change, so while recording, take views
after changing a tensor in place (a node that saved the view's values still raises at backward).

>>> import tinygrad_seq as tg
>>> x = tg.zeros(3)
>>> x.add_(tg.tensor([1.0, 2.0, 3.0]), alpha=2).mul_(0.5).tolist()
[1.0, 2.0, 3.0]
"""
import numpy as np

from . import autograd, backend, ops, versions
from .checks import check_representable
from .ops.indexing import GetItem
from .ops.movement import BroadcastTo, Flip, Permute, Reshape, Split, Unbind


def add_(t, other, alpha=1):
    def compute(source):
        operand = source if other is t else other  # x.add_(x) reads the old values
        if alpha != 1:
            operand = ops.mul(operand, alpha) if _is_tensor(operand) else np.asarray(operand) * alpha
        return ops.add(source, operand)
    return _write(t, "add_", compute, (other,))


def mul_(t, other):
    return _write(t, "mul_", lambda source: ops.mul(source, source if other is t else other),
                  (other,))


class Overwrite(autograd.Function):
    """The old values replaced by ``new`` (broadcast, cast to the old dtype): the gradient goes
    to ``new`` only, and none to the old values' history (as PyTorch's, which does not even
    visit it: a node there whose saved arrays were overwritten is no error)."""

    def forward(ctx, old, new):
        return ctx.xp.broadcast_to(new, old.shape).astype(old.dtype)

    def backward(ctx, g):
        return None, g


class Fill(Overwrite):
    name = "fill_"


class Copy(Overwrite):
    name = "copy_"


def fill_(t, value, op="fill_"):
    Tensor = autograd.tensor_type()
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise ValueError(f"{op}: value must be a number or a 0-d tensor, got a tensor of "
                             f"shape {value.shape}")
        value = value.to(t.device)
        _check_values(value, t.dtype, op)
    else:
        array = np.asarray(value)
        if array.ndim != 0 or array.dtype.kind not in "biuf":
            raise TypeError(f"{op}: value must be a number or a 0-d tensor, got {value!r}")
        _check_values(array, t.dtype, op)
    return _write(t, op, lambda source: Fill.apply(source, value), (value,), cast=True)


def copy_(t, src):
    Tensor = autograd.tensor_type()
    if not isinstance(src, Tensor):
        raise TypeError(f"copy_: src must be a Tensor, got {type(src).__name__}")
    if _broadcast_shape(src.shape, t.shape) != t.shape:
        raise RuntimeError(f"copy_: src of shape {src.shape} does not broadcast to the tensor's "
                           f"shape {t.shape}")
    src = src.to(t.device)
    if src.dtype != t.dtype:
        _check_values(src, t.dtype, "copy_")
    return _write(t, "copy_", lambda source: Copy.apply(source, src), (src,), cast=True)


# ---------------------------------------------------------------- the write

def _is_tensor(value):
    return isinstance(value, autograd.tensor_type())


def _broadcast_shape(a, b):
    """The shape ``a`` and ``b`` broadcast to, or None where they do not."""
    try:
        return tuple(np.broadcast_shapes(a, b))
    except ValueError:
        return None


def _check_values(values, dtype, op):
    """Values (a tensor or a NumPy array) that ``dtype`` cannot hold (NaN into an integer, 1e10
    into int32) raise."""
    if _is_tensor(values):
        values = values.data if values.device == "cpu" else values.numpy()
    check_representable(values, dtype, op)


def _write(t, op, compute, operands, cast=False):
    """Compute ``compute(source)`` (out of place) and write it into ``t``'s memory."""
    autograd.reading(t, f"the in-place {op}")
    tracking = autograd.is_grad_enabled() and (
        t.requires_grad or any(_is_tensor(x) and x.requires_grad for x in operands))
    _check_target(t, op, tracking)
    if tracking:
        device = backend.get_device(t.device)
        with device.activate():  # the node keeps the old values, not the memory written below
            source = t._make(t.data.copy(), t.device, t._ctx, t._idx)
        result = compute(source)
    else:
        result = compute(t)
    if result.shape != t.shape:
        raise RuntimeError(f"{op}: the result has shape {result.shape}, which does not fit the "
                           f"tensor of shape {t.shape} written in place (no broadcasting of the "
                           f"tensor itself)")
    if result.dtype != t.dtype:
        if not cast and not _can_cast(result.dtype, t.dtype):
            raise RuntimeError(f"{op}: the result is {result.dtype}, which cannot be written "
                               f"into a tensor of {t.dtype} in place (as in PyTorch); use the "
                               f"out-of-place op, or convert the tensor first")
        result = result.astype(t.dtype)
    with backend.get_device(t.device).activate():
        t.data[...] = result.data
    versions.bump(t.data, op)
    if tracking:
        t._ctx, t._idx, t.requires_grad = result._ctx, result._idx, result._ctx is not None
    return t


def _can_cast(source, target):
    """PyTorch's rule for in-place results: never float into an integer, nor a number into bool."""
    if target.kind == "b":
        return source.kind == "b"
    return not (target.kind in "iu" and source.kind == "f")


def _check_target(t, op, tracking):
    if t.requires_grad and t._ctx is None and autograd.is_grad_enabled():
        raise RuntimeError(f"{op}: a leaf tensor that requires grad (shape {t.shape}) is used in "
                           f"an in-place operation; change a weight inside tg.no_grad(), or "
                           f"change a copy (.clone())")
    data = t.data
    flags = data.flags
    if not getattr(flags, "writeable", True) or any(
            stride == 0 and n > 1 for stride, n in zip(data.strides, data.shape)):
        raise RuntimeError(f"{op}: the tensor's memory is read-only or several of its elements "
                           f"share one memory location (a broadcast result, a read-only NumPy "
                           f"array); change a copy (.clone()) instead")
    if tracking and (_is_view(t._ctx) or (t._ctx is None and data.base is not None)):
        raise RuntimeError(f"{op}: the tensor (shape {t.shape}) views the memory of another "
                           f"tensor (a slice, reshape or split of it), and the graph is being "
                           f"recorded: the other tensor's graph would not see the change. "
                           f"Change a copy (.clone()), or change it inside tg.no_grad()")


def _is_view(node):
    """Whether ``node`` is an op whose output shares its input's memory (NumPy's views)."""
    if node is None:
        return False
    if type(node) is GetItem:
        return not node.advanced  # an integer-array index gathers a copy
    return type(node) in _VIEW_OPS


_VIEW_OPS = (Reshape, Permute, BroadcastTo, Split, Unbind, Flip)
