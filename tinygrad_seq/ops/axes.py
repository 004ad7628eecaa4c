"""Checking shape and axis arguments, once for every op; PyTorch's ``dim=`` for ``axis=``."""
import functools
import inspect
import operator

# Each axis parameter of the public API and its PyTorch name, which it also accepts; keepdims
# (NumPy's) goes with axis, so PyTorch's keepdim comes with dim.
DIM_ALIASES = {"axis": "dim", "start_axis": "start_dim", "end_axis": "end_dim",
               "keepdims": "keepdim"}


def accepts_dim(fn):
    """Let ``fn`` take PyTorch's ``dim=`` (``start_dim=``, ``end_dim=``, ``keepdim=``) for its
    ``axis=`` (``start_axis=``, ``end_axis=``, ``keepdims=``); both at once is a TypeError naming
    both.

    >>> @accepts_dim
    ... def first(xs, axis=0, keepdims=False): return axis, keepdims
    >>> first([], dim=1, keepdim=True)
    (1, True)
    """
    parameters = inspect.signature(fn).parameters
    positional = [name for name, p in parameters.items()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    # dim name -> (axis name, how many positional arguments it takes to reach it)
    aliases = {DIM_ALIASES[name]: (name, positional.index(name) if name in positional else
                                   len(parameters)) for name in parameters if name in DIM_ALIASES}
    if not aliases:
        raise TypeError(f"accepts_dim: {fn.__qualname__} has no axis parameter")

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if kwargs:  # the common call passes the axis positionally or as axis=: nothing to do
            for dim, (axis, position) in aliases.items():
                if dim in kwargs:
                    if axis in kwargs or len(args) > position:
                        raise TypeError(f"{fn.__name__}: got both {axis}= and {dim}= ({dim} is "
                                        f"PyTorch's name for {axis}); pass one of them")
                    kwargs[axis] = kwargs.pop(dim)
        return fn(*args, **kwargs)
    return wrapper


def accepts_dim_in_methods(cls):
    """Class decorator: every method of ``cls`` with an axis parameter also accepts ``dim=``."""
    for name, attr in list(vars(cls).items()):
        if inspect.isfunction(attr) and set(inspect.signature(attr).parameters) & set(DIM_ALIASES):
            setattr(cls, name, accepts_dim(attr))
    return cls


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
