"""Sorting along an axis: sort, argsort, topk.

Every sort here is stable: among equal values the one at the lower index comes first, in
ascending and in descending order alike (PyTorch's ``stable=True``; its ``topk`` promises no
order for ties). NaN counts as larger than every number: last in ascending order, first in
descending order, as in PyTorch. The values carry the gradient back to where they came from;
the indices are int64 and carry none.
"""
import operator

from ..autograd import Function
from .. import backend
from .axes import accepts_dim, axis_index


def _stable_argsort(xp, a, axis):
    # NumPy sorts stably only when asked; CuPy's one sort is stable and may refuse ``kind``.
    try:
        return xp.argsort(a, axis=axis, kind="stable")
    except (TypeError, ValueError, NotImplementedError):
        return xp.argsort(a, axis=axis)


def _stable_order(xp, a, axis, descending):
    """Indices that sort ``a`` along ``axis``, ties in index order. Descending: sort the
    reversed axis ascending and reverse the result, which puts ties back in index order (and
    NaN, last in ascending order, first)."""
    if not descending:
        return _stable_argsort(xp, a, axis)
    reversed_order = _stable_argsort(xp, xp.flip(a, axis=axis), axis)
    return (a.shape[axis] - 1) - xp.flip(reversed_order, axis=axis)


class Sort(Function):
    """(values, indices) along ``axis``, the first ``k`` of them (all when ``k`` is None)."""

    def forward(ctx, a, axis, descending, k):
        xp = ctx.xp
        order = _stable_order(xp, a, axis, descending)
        if k is not None:
            order = order[(slice(None),) * axis + (slice(0, k),)]
        order = order.astype(backend.int64, copy=False)
        ctx.save(order)
        ctx.shape, ctx.axis = a.shape, axis
        return xp.take_along_axis(a, order, axis=axis), order

    def backward(ctx, g, _):
        xp = ctx.xp
        (order,) = ctx.saved
        index = [xp.arange(n).reshape((1,) * d + (n,) + (1,) * (order.ndim - d - 1))
                 for d, n in enumerate(order.shape)]
        index[ctx.axis] = order
        grad = xp.zeros(ctx.shape, dtype=g.dtype)
        grad[tuple(index)] = g  # the indices of a row are distinct: no sums needed
        return grad


class TopK(Sort):
    name = "topk"


def _sorted(fn, a, axis, descending, k, op):
    if a.ndim == 0:  # PyTorch: one value along axis 0 or -1, and so is its topk (k = 0 or 1)
        axis_index(axis, 1, op)
        values, indices = _sorted(fn, a.reshape(1), 0, descending, None, op)
        return values.reshape(()), indices.reshape(())
    return fn.apply(a, axis=axis_index(axis, a.ndim, op), descending=bool(descending), k=k)


@accepts_dim
def sort(a, axis=-1, descending=False):
    """``(values, indices)``: ``a`` sorted along ``axis`` and where each value came from
    (stable, see the module's docstring).

    >>> import tinygrad_seq as tg
    >>> values, indices = tg.sort(tg.tensor([3.0, 1.0, 3.0, 2.0]), descending=True)
    >>> values.tolist(), indices.tolist()
    ([3.0, 3.0, 2.0, 1.0], [0, 2, 3, 1])
    """
    return _sorted(Sort, a, axis, descending, None, "sort")


@accepts_dim
def argsort(a, axis=-1, descending=False):
    """The int64 indices that sort ``a`` along ``axis`` (stable; no gradient)."""
    return sort(a.detach(), axis, descending)[1]


@accepts_dim
def topk(a, k, axis=-1, largest=True, sorted=True):
    """``(values, indices)`` of the ``k`` largest (``largest=False``: smallest) values along
    ``axis``. Always in sorted order, ties by index (which ``sorted=False`` also allows).

    >>> import tinygrad_seq as tg
    >>> values, indices = tg.tensor([1.0, 4.0, 2.0, 4.0]).topk(2)
    >>> values.tolist(), indices.tolist()
    ([4.0, 4.0], [1, 3])
    """
    n = a.shape[axis_index(axis, a.ndim, "topk")] if a.ndim else 1
    try:
        k = operator.index(k)
    except TypeError:
        raise TypeError(f"topk: k must be an integer, got {k!r}") from None
    if not 0 <= k <= n:
        raise ValueError(f"topk: k={k} is out of range for an axis of size {n} (0 <= k <= {n})")
    return _sorted(TopK, a, axis, largest, k, "topk")
