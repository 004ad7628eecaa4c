"""Gradient clipping: rescale all gradients to a maximum total norm, or clip each value.

They live here rather than in ``nn.utils`` (PyTorch's place) because they belong to the step:
``loss.backward(); clip_grad_norm_(...); opt.step()``.
"""
import math

from .. import backend
from ..tensor import Tensor
from ..checks import in_range, real

# Added to the norm before dividing, as PyTorch does, so a norm of exactly max_norm is not scaled
_NORM_EPS = 1e-6


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale the gradients of ``parameters`` together so that their total norm (the norm of all
    of them concatenated) is at most ``max_norm``; returns the total norm before clipping.

    The grads are multiplied by ``max_norm / (total + 1e-6)`` only when that is below 1. Each
    clipped ``p.grad`` is a new Tensor: arrays a gradient may share are never written.
    ``norm_type`` is any p > 0 or ``float('inf')`` (the largest magnitude). The norm is
    computed in float64 (the 2-norm as float64 dot products, any other or one that would
    overflow or underflow after dividing by the largest magnitude), so float32 gradients of
    1e30 give a finite, exact norm. Parameters whose ``grad`` is None are ignored.

    When the total norm is inf or NaN (a gradient holds one), clipping cannot give a useful
    gradient: with ``error_if_nonfinite`` a RuntimeError is raised, otherwise the gradients are
    left as they are and the norm is returned, and **the caller should skip that step**
    (``if math.isfinite(norm): opt.step()``). PyTorch would instead scale them into NaNs.
    Unlike PyTorch the norm is a Python float, not a tensor.

    >>> import tinygrad_seq as tg
    >>> w = tg.nn.Parameter(tg.zeros(2)); w.grad = tg.tensor([3.0, 4.0])
    >>> tg.optim.clip_grad_norm_([w], max_norm=1.0)
    5.0
    >>> [round(g, 4) for g in w.grad.tolist()]
    [0.6, 0.8]
    """
    owner = "clip_grad_norm_"
    max_norm = in_range(owner, "max_norm", max_norm, 0.0, math.inf, include_high=True)
    norm_type = real(owner, "norm_type", norm_type)
    if not norm_type > 0:
        raise ValueError(f"{owner}: norm_type must be > 0 or float('inf'), got {norm_type!r}")
    params = _with_grads(parameters, owner)
    total = _total_norm([p.grad for p in params], norm_type)
    if not math.isfinite(total):
        if error_if_nonfinite:
            raise RuntimeError(f"{owner}: the total norm of order {norm_type:g} of the gradients "
                               f"of {len(params)} parameters is {total}; the gradients were left "
                               f"as they are. Pass error_if_nonfinite=False to get the norm back "
                               f"and skip the step instead")
        return total
    scale = max_norm / (total + _NORM_EPS)
    if scale < 1:
        for p in params:
            p.grad = _new_grad(p.grad, lambda xp, g: g * scale)
    return total


def clip_grad_value_(parameters, clip_value):
    """Clip every gradient element of ``parameters`` into ``[-clip_value, clip_value]``; each
    ``p.grad`` becomes a new Tensor. NaNs stay NaN.

    >>> import tinygrad_seq as tg
    >>> w = tg.nn.Parameter(tg.zeros(3)); w.grad = tg.tensor([-5.0, 0.5, 2.0])
    >>> tg.optim.clip_grad_value_([w], 1.0)
    >>> w.grad.tolist()
    [-1.0, 0.5, 1.0]
    """
    owner = "clip_grad_value_"
    clip_value = in_range(owner, "clip_value", clip_value, 0.0, math.inf, include_high=True)
    for p in _with_grads(parameters, owner):
        p.grad = _new_grad(p.grad, lambda xp, g: xp.clip(g, -clip_value, clip_value))


def _with_grads(parameters, owner):
    """The tensors of ``parameters`` (one tensor or an iterable) that have a gradient, all
    checked before anything is clipped."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    try:
        parameters = list(parameters)
    except TypeError:
        raise TypeError(f"{owner}: parameters must be a tensor or an iterable of tensors, got "
                        f"{type(parameters).__name__}") from None
    for k, p in enumerate(parameters):
        if not isinstance(p, Tensor):
            raise TypeError(f"{owner}: item {k} of parameters is a {type(p).__name__}, not a "
                            f"Tensor")
        if p.grad is not None and not isinstance(p.grad, Tensor):
            raise TypeError(f"{owner}: item {k} has a .grad of type {type(p.grad).__name__}, "
                            f"not a Tensor")
    return [p for p in parameters if p.grad is not None]


def _new_grad(grad, fn):
    device = backend.get_device(grad.device)
    with device.activate():
        data = fn(device.xp, grad.data).astype(grad.dtype, copy=False)
    return Tensor._make(data, grad.device, None, 0)


# Float64 elements a sum of squares converts at a time: the copy stays in cache
_SQUARES_CHUNK = 1 << 16
# Below this a float64 sum of squares may have lost underflowed squares: take the scaled path
_SQUARES_LOW = 1e-280


def _sum_of_squares(xp, g):
    """Sum of the squares of ``g`` in float64, as a 0-d array: float32 (and float16) values
    square exactly in float64, so only the float64 additions round. One BLAS dot product per
    chunk, about 4x faster than the scaled path below, which stays for overflow and underflow."""
    flat = g.reshape(-1)
    if flat.dtype == xp.float64:
        return xp.dot(flat, flat)
    scratch = xp.empty(min(flat.size, _SQUARES_CHUNK), dtype=xp.float64)
    total = xp.zeros((), dtype=xp.float64)
    for start in range(0, flat.size, _SQUARES_CHUNK):
        part = flat[start:start + _SQUARES_CHUNK]
        chunk = scratch[:part.size]
        chunk[...] = part
        total += xp.dot(chunk, chunk)
    return total


def _total_norm(grads, norm_type):
    """The ``norm_type``-norm of all of ``grads`` together, as a Python float."""
    if norm_type == 2:
        squares = math.fsum(_per_device(grads, _sum_of_squares, "sum"))
        if _SQUARES_LOW < squares < math.inf:  # else: zero, tiny, huge, inf or NaN elements
            return math.sqrt(squares)
    # Dividing by the largest magnitude keeps every power <= 1: no overflow for huge gradients
    # (nor underflow for tiny ones), whatever the dtype.
    largest = _nan_max(_per_device(grads, lambda xp, g: xp.max(xp.abs(g)), "max"))
    if norm_type == math.inf or largest == 0 or not math.isfinite(largest):
        return largest  # an inf element makes every p-norm inf; a NaN makes it NaN

    def powers(xp, g):
        scaled = xp.abs(g).astype(xp.float64) / largest
        return xp.sum(scaled * scaled if norm_type == 2 else scaled ** norm_type)

    return largest * math.fsum(_per_device(grads, powers, "sum")) ** (1.0 / norm_type)


def _per_device(grads, reduce, combine):
    """``reduce(xp, array)`` of each non-empty gradient, combined (max or sum) on its device:
    one transfer per device rather than one per gradient."""
    by_device = {}
    for g in grads:
        if g.size:
            by_device.setdefault(g.device, []).append(g.data)
    results = []
    for name, arrays in by_device.items():
        device = backend.get_device(name)
        xp = device.xp
        with device.activate():
            parts = xp.stack([xp.asarray(reduce(xp, a), dtype=xp.float64) for a in arrays])
            results.append(float(parts.max() if combine == "max" else parts.sum()))
    return results


def _nan_max(values):
    """The largest of ``values`` (0.0 for none), NaN if any is NaN (``max`` would depend on the
    order)."""
    if any(math.isnan(v) for v in values):
        return math.nan
    return max(values, default=0.0)
