"""Checking shape and axis arguments, once for every op."""
import operator


def shape_arg(shape, op="shape"):
    """``f(2, 3)`` and ``f((2, 3))`` both mean the shape (2, 3); entries must be integers
    (not floats, not bools) or the error names ``op`` and the bad size."""
    if len(shape) == 1 and not _is_integer(shape[0]):
        try:
            shape = tuple(shape[0])
        except TypeError:
            raise TypeError(f"{op}: a size must be an integer or a sequence of integers, got "
                            f"{shape[0]!r}") from None
    for n in shape:
        if type(n) is not int and not _is_integer(n):
            raise TypeError(f"{op}: a shape holds integers, got {n!r} in {tuple(shape)!r}")
    return tuple(operator.index(n) for n in shape)


def _is_integer(n):
    if isinstance(n, bool) or getattr(n, "dtype", None) is not None and n.dtype.kind == "b":
        return False
    try:
        operator.index(n)
    except TypeError:
        return False
    return True


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
