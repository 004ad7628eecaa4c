"""Reductions over axes: sum, mean, max, min, logsumexp (var is composed from them); cumsum."""
from ..autograd import Function, tensor_type
from .. import backend
from .axes import accepts_dim, axis_index, normalize_axes


def _keepdims_shape(shape, axes):
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


class Sum(Function):
    def forward(ctx, a, axes, keepdims):
        ctx.shape, ctx.kept = a.shape, _keepdims_shape(a.shape, axes)
        return a.sum(axis=axes, keepdims=keepdims)

    def backward(ctx, g):
        return ctx.xp.broadcast_to(g.reshape(ctx.kept), ctx.shape)


class Mean(Function):
    def forward(ctx, a, axes, keepdims):
        if a.dtype.kind != "f":  # the mean of integers is a float32, as PyTorch's of a float
            a = a.astype(backend.DEFAULT_FLOAT)
        ctx.shape, ctx.kept = a.shape, _keepdims_shape(a.shape, axes)
        count = 1
        for ax in axes:
            count *= a.shape[ax]
        ctx.scale = 1.0 / count if count else float("nan")
        return a.mean(axis=axes, keepdims=keepdims) if count else a.sum(axis=axes, keepdims=keepdims) * ctx.scale

    def backward(ctx, g):
        return ctx.xp.broadcast_to(g.reshape(ctx.kept) * g.dtype.type(ctx.scale), ctx.shape)


class Max(Function):
    """Maximum over axes; tied maxima share the gradient equally (as PyTorch's amax)."""

    extreme = "max"

    def forward(ctx, a, axes, keepdims):
        if 0 in [a.shape[ax] for ax in axes]:
            raise ValueError(f"{ctx.name} over an empty axis has no value")
        out = getattr(a, ctx.extreme)(axis=axes, keepdims=True)
        ctx.save(a, out)
        ctx.axes = axes
        return out if keepdims else out.reshape([n for i, n in enumerate(out.shape) if i not in axes])

    def backward(ctx, g):
        a, out = ctx.saved
        hits = (a == out).astype(g.dtype)
        return g.reshape(out.shape) * hits / hits.sum(axis=ctx.axes, keepdims=True)


class Min(Max):
    extreme = "min"


class LogSumExp(Function):
    def forward(ctx, a, axes, keepdims):
        xp = ctx.xp
        if a.size == 0:
            out = xp.full(_keepdims_shape(a.shape, axes), -xp.inf, dtype=a.dtype)
            ctx.save(a, out)
        else:
            m = a.max(axis=axes, keepdims=True)
            m = xp.where(xp.isfinite(m), m, 0)  # all -inf (or inf) rows: no inf - inf = nan
            shifted = a - m
            log_sum = xp.log(xp.exp(shifted).sum(axis=axes, keepdims=True))
            out = log_sum + m
            # The gradient is softmax(a) = exp(a - out), but a - out loses the low bits of
            # log_sum when |m| is large (float32 at 1000: 2e-5 off); shifted - log_sum keeps them.
            ctx.save(shifted, log_sum)
        return out if keepdims else out.reshape([n for i, n in enumerate(out.shape) if i not in axes])

    def backward(ctx, g):
        shifted, log_sum = ctx.saved
        return g.reshape(log_sum.shape) * ctx.xp.exp(shifted - log_sum)


class CumSum(Function):
    name = "cumsum"

    def forward(ctx, a, axis):
        ctx.axis = axis
        integer = a.dtype.kind in "biu"  # int64 sums for every integer dtype and bool, as PyTorch
        return ctx.xp.cumsum(a, axis=axis, dtype=backend.int64 if integer else None)

    def backward(ctx, g):
        # each input adds to every running sum at or after it: a cumsum from the far end
        xp = ctx.xp
        return xp.flip(xp.cumsum(xp.flip(g, axis=ctx.axis), axis=ctx.axis), axis=ctx.axis)


def _reduce(fn, a, axis, keepdims, name):
    axes = normalize_axes(axis, a.ndim, name)
    return fn.apply(a, axes=axes, keepdims=keepdims)


@accepts_dim
def sum(a, axis=None, keepdims=False):
    return _reduce(Sum, a, axis, keepdims, "sum")


@accepts_dim
def mean(a, axis=None, keepdims=False):
    return _reduce(Mean, a, axis, keepdims, "mean")


@accepts_dim
def max(a, axis=None, keepdims=False):
    return _reduce(Max, a, axis, keepdims, "max")


@accepts_dim
def min(a, axis=None, keepdims=False):
    return _reduce(Min, a, axis, keepdims, "min")


@accepts_dim
def logsumexp(a, axis=None, keepdims=False):
    """log(sum(exp(a))) over ``axis``, computed without overflow."""
    return _reduce(LogSumExp, a, axis, keepdims, "logsumexp")


@accepts_dim
def cumsum(a, axis):
    """Running sums along ``axis`` (PyTorch's ``cumsum``: the axis is required). Integers and
    bools sum in int64, as in PyTorch.

    >>> import tinygrad_seq as tg
    >>> tg.tensor([[1, 2, 3], [4, 5, 6]]).cumsum(axis=1).tolist()
    [[1, 3, 6], [4, 9, 15]]
    """
    if a.ndim == 0:
        axis_index(axis, 1, "cumsum")
        return cumsum(a.reshape(1), 0).reshape(())
    return CumSum.apply(a, axis=axis_index(axis, a.ndim, "cumsum"))


@accepts_dim
def var(a, axis=None, keepdims=False, correction=0):
    """Variance over ``axis``, dividing by N - ``correction`` (0: population, 1: unbiased).

    The default follows NumPy and the array API (``correction=0``); PyTorch's default is 1.
    """
    axes = normalize_axes(axis, a.ndim, "var")
    count = 1
    for ax in axes:
        count *= a.shape[ax]
    centered = a - mean(a, axes, keepdims=True)
    return sum(centered * centered, axes, keepdims) / (count - correction)


# ---------------------------------------------------------------- no gradient

class NoGradReduction(Function):
    """``method`` of the array over ``axis``: an integer or bool result, no gradient (an op like
    the others, so a recorded step of ``tg.scan`` sees it)."""
    method = None

    def forward(ctx, a, axis, keepdims):
        return ctx.xp.asarray(getattr(a, ctx.method)(axis=axis, keepdims=keepdims))

    def backward(ctx, g):
        return None


def _no_grad_reduction(name):
    op = type(name.title(), (NoGradReduction,), {"name": name, "method": name})

    def reduce(a, axis=None, keepdims=False):
        if axis is not None:
            normalize_axes(axis, a.ndim, name)
        return op.apply(a, axis=axis, keepdims=keepdims)
    reduce.__name__ = name
    reduce.__doc__ = f"``{name}`` over ``axis`` (an integer or bool result, no gradient)."
    return accepts_dim(reduce)


argmax = _no_grad_reduction("argmax")
argmin = _no_grad_reduction("argmin")
all = _no_grad_reduction("all")
any = _no_grad_reduction("any")
