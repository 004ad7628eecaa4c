"""Checking shape and axis arguments, once for every op."""
import operator


def shape_arg(shape, op="shape"):
    """``f(2, 3)`` and ``f((2, 3))`` both mean the shape (2, 3); entries must be integers."""
    if len(shape) == 1 and not isinstance(shape[0], int):
        shape = tuple(shape[0])
    try:
        return tuple(operator.index(n) for n in shape)
    except TypeError:
        raise TypeError(f"{op}: a shape holds integers, got {shape!r}") from None


def axis_index(axis, ndim, op):
    """One axis as a non-negative index, or a ValueError naming the op and the rank."""
    try:
        axis = operator.index(axis)
    except TypeError:
        raise TypeError(f"{op}: axis must be an integer, got {axis!r}") from None
    if not -ndim <= axis < ndim:
        raise ValueError(f"{op}: axis {axis} is out of range for a tensor with {ndim} dimensions")
    return axis % ndim


def normalize_axes(axis, ndim, op):
    """``axis`` (None, an integer or a sequence) as a sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    out = [axis_index(a, ndim, op) for a in axes]
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: repeated axis in {axis}")
    return tuple(sorted(out))
