"""Strategies, options and NumPy references for the op registry (tests/op_registry.py)."""
import warnings

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_seq as tg
from tinygrad_seq.testing import Case, arrays, binary, floats, lattice, nary, shapes

# ---------------------------------------------------------------- element strategies

positive = floats(0.1, 10.0)
nonzero = st.one_of(floats(-3.0, -0.5), floats(0.5, 3.0))
nonzero_ints = st.sampled_from([1, -1, 2, -3])
off_kink = lattice(0.125)          # never 0: abs, relu, clip bounds on the 0.0 lattice
tie_free = [lattice(0.0), lattice(0.125)]   # two inputs never equal: maximum, minimum
spread = lattice(step=1 / 64)     # with unique=True: no two elements closer than 1/64 (max, min)


def with_zero(elements):
    """``elements`` with 0.0 itself drawn often (pow at exponent 0, x ** 0 at x = 0)."""
    return st.one_of(st.just(0.0), elements)


def axis_in(low, high):
    """An axis as a Python int or a NumPy integer: both are accepted wherever an axis is."""
    return st.integers(low, high).flatmap(lambda axis: st.sampled_from([axis, np.int64(axis)]))


# ---------------------------------------------------------------- shape strategies

@st.composite
def with_empty_axis(draw, n=1, min_dims=1, max_dims=3):
    """Shapes of ``n`` inputs that broadcast to a result with a size-0 axis; an input may hold
    size 1 there (or lack the axis) and broadcast to 0. With n=1 exactly one axis is empty."""
    shapes_ = [list(s) for s in draw(nary(n, min_dims, max_dims))]
    axis = draw(st.integers(1, max(map(len, shapes_))))      # counted from the right
    holders = [s for s in shapes_ if len(s) >= axis]
    for s in holders:
        if s[-axis] != 1 or draw(st.booleans()):
            s[-axis] = 0
    if all(s[-axis] for s in holders):
        holders[0][-axis] = 0
    return tuple(map(tuple, shapes_))


def empty_shape(min_dims=1):
    """One shape with exactly one size-0 axis."""
    return with_empty_axis(1, min_dims).map(lambda s: s[0])


def empty_gufunc(signature):
    """gufunc() inputs with a size-0 core or batch axis somewhere."""
    return hnp.mutually_broadcastable_shapes(signature=signature, max_dims=2, min_side=0, max_side=3).map(
        lambda bs: bs.input_shapes).filter(lambda ss: any(0 in s for s in ss))


# ---------------------------------------------------------------- option strategies

def axes_options(shapes_, allow_none=True, allow_tuple=True):
    """{'axis': None | int | tuple, 'keepdims': bool} valid for the first shape."""
    ndim = len(shapes_[0])
    choices = [st.just(None)] if allow_none or ndim == 0 else []
    if ndim:
        choices.append(axis_in(-ndim, ndim - 1))
        if allow_tuple:
            choices.append(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim,
                                    unique=True).map(tuple))
    return st.fixed_dictionaries({"axis": st.one_of(*choices), "keepdims": st.booleans()})


def nonempty_axes_options(shapes_):
    """{'axis': int | tuple, 'keepdims': bool} over the non-empty axes only: the max of an empty
    slice is undefined, the max along the other axes of a tensor with an empty axis is not."""
    axes = [axis for axis, n in enumerate(shapes_[0]) if n]
    return st.fixed_dictionaries({"axis": st.one_of(st.sampled_from(axes), st.lists(
        st.sampled_from(axes), min_size=1, unique=True).map(tuple)), "keepdims": st.booleans()})


def one_axis(shapes_):
    ndim = len(shapes_[0])
    return st.fixed_dictionaries({"axis": axis_in(-ndim, ndim - 1) if ndim else st.just(-1)})


def nonempty_axis(shapes_):
    return st.sampled_from([axis for axis, n in enumerate(shapes_[0]) if n]).map(lambda a: {"axis": a})


def constant(values=floats(), integers=st.integers(-3, 3), either_side=False):
    """Options {'c': a constant operand} in each form a user writes one: a Python int or float, a
    NumPy scalar, a 0-d NumPy array or a 1-d NumPy array that broadcasts against the tensor. An
    option is never differentiated, and the result must keep the tensor's float dtype (float32
    stays float32 next to float64 or int64 constants). With ``either_side``, {'left': bool}
    too: whether the constant is the left operand."""
    def options(shapes_):
        shape = shapes_[0]
        length = st.sampled_from([1, shape[-1]]) if shape else st.integers(1, 3)

        def vector(dtype, elements):
            return length.flatmap(lambda n: hnp.arrays(dtype, (n,), elements=elements))
        c = st.one_of(integers, values, values.map(np.float64), values.map(np.float32),
                      integers.map(np.int64), values.map(np.array), integers.map(np.array),
                      vector(np.float64, values), vector(np.int64, integers))
        return st.fixed_dictionaries({"c": c, **({"left": st.booleans()} if either_side else {})})
    return options


def either_side(op):
    """``op(x, c)``, or ``op(c, x)`` when the constant is on the left (reflected operators)."""
    return lambda x, c, left: op(c, x) if left else op(x, c)


def where_with_numbers(where):
    """where(condition, a, b) with ``a`` or ``b`` taken from the options when it is a number."""
    def call(condition, *operands, **numbers):
        rest = iter(operands)
        return where(condition, *[numbers[k] if k in numbers else next(rest) for k in "ab"])
    return call


def np_mean(x, axis=None, keepdims=False):
    """np.mean, quiet about empty slices: their NaN is the expected value, not news."""
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.mean(x, axis=axis, keepdims=keepdims)


def np_logsumexp(x, axis=None, keepdims=False):
    m = np.max(x, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis if axis is not None else tuple(range(x.ndim)))


def np_softmax(x, axis):
    axis = axis if x.ndim else None
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def np_log_softmax(x, axis):
    axis = axis if x.ndim else None
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def np_split(x, sizes, axis):
    return tuple(np.split(x, np.cumsum(sizes)[:-1], axis=axis))


def split_sizes(n, size):
    """PyTorch's split: pieces of ``size``, the last one smaller."""
    return [size] * (n // size) + ([n % size] if n % size else [])


def chunk_sizes(n, chunks):
    return split_sizes(n, max(-(-n // chunks), 1))


def seeded_dropout(x, p):
    tg.manual_seed(1234)   # the same mask at every call, so finite differences see one function
    return tg.dropout(x, p)


# ---------------------------------------------------------------- input strategies

@st.composite
def mixed_cases(draw, float_elements=floats(), integers=st.integers(-3, 3), bools=True):
    """A float array next to an int64 (or bool) array, on either side, shapes broadcasting: the
    result keeps the float array's dtype; the int/bool tensor never requires grad."""
    s_float, s_other = draw(binary())
    x = draw(arrays(s_float, elements=float_elements))
    if bools and draw(st.booleans()):
        other = draw(hnp.arrays(np.bool_, s_other))
    else:
        other = draw(hnp.arrays(np.int64, s_other, elements=integers))
    return Case((x, other) if draw(st.booleans()) else (other, x))


@st.composite
def where_mixed_cases(draw, with_float=True):
    """where(bool condition, a, b), each of a and b a float array, an int64 array or a number
    (in the options as 'a' / 'b'). ``with_float``: at least one float array; else none, and the
    int result must hold the numbers' values. A Python float with no float array is left out:
    NumPy makes it float64 where this project makes float32 (as PyTorch)."""
    s_cond, s_a, s_b = draw(nary(3))
    kinds = st.sampled_from(["float", "int", "number"] if with_float else ["int", "number"])
    pair = draw(st.tuples(kinds, kinds).filter(lambda k: "float" in k or not with_float))
    ints = st.integers(-3, 3)
    numbers = st.one_of(ints, ints.map(np.int64),
                        *([floats(), floats().map(np.float64)] if with_float else []))
    operands, options = [draw(hnp.arrays(np.bool_, s_cond))], {}
    for name, kind, shape in zip("ab", pair, (s_a, s_b)):
        if kind == "number":
            options[name] = draw(numbers)
        else:
            operands.append(draw(arrays(shape) if kind == "float"
                                 else hnp.arrays(np.int64, shape, elements=ints)))
    return Case(tuple(operands), options)


@st.composite
def concat_cases(draw, base=shapes(1, 3, 1, 4)):
    base = draw(base)
    axis = draw(st.integers(-len(base), len(base) - 1))
    sizes = draw(st.lists(st.integers(0, 3), min_size=1, max_size=3))
    shapes_ = [base[:axis % len(base)] + (n,) + base[axis % len(base) + 1:] for n in sizes]
    return Case(tuple(draw(arrays(s)) for s in shapes_), {"axis": axis})


@st.composite
def stack_cases(draw, shape=shapes(0, 3, 1, 4)):
    shape = draw(shape)
    n = draw(st.integers(1, 3))
    return Case(tuple(draw(arrays(shape)) for _ in range(n)),
                {"axis": draw(st.integers(-len(shape) - 1, len(shape)))})


@st.composite
def where_cases(draw, shapes_=nary(3)):
    s_cond, s_a, s_b = draw(shapes_)
    return Case((draw(hnp.arrays(np.bool_, s_cond)), draw(arrays(s_a)), draw(arrays(s_b))))


@st.composite
def take_cases(draw, shape=shapes(1, 3, 1, 4), min_index_side=1):
    x = draw(arrays(shape))
    axis = draw(st.integers(-x.ndim, x.ndim - 1))
    n = x.shape[axis]
    index_shape = draw(shapes(0, 2, min_index_side, 4)) + (() if n else (0,))  # none from an empty axis
    indices = draw(hnp.arrays(np.int64, index_shape, elements=st.integers(-n, n - 1) if n else st.just(0)))
    return Case((x, indices), {"axis": axis})


@st.composite
def gather_cases(draw):
    x = draw(arrays(shapes(1, 3, 1, 4)))
    axis = draw(st.integers(-x.ndim, x.ndim - 1))
    shape = list(x.shape)
    shape[axis] = draw(st.integers(1, 4))
    indices = draw(hnp.arrays(np.int64, tuple(shape), elements=st.integers(0, x.shape[axis] - 1)))
    return Case((x, indices), {"axis": axis})


@st.composite
def cross_entropy_cases(draw, shape=shapes(1, 3, 1, 5)):
    """Logits (..., C) with C >= 1 and one target class per token (repeats likely)."""
    logits = draw(arrays(shape))
    targets = draw(hnp.arrays(np.int64, logits.shape[:-1],
                              elements=st.integers(0, logits.shape[-1] - 1)))
    return Case((logits, targets), {})


def np_softmax_cross_entropy(logits, target):
    picked = np.take_along_axis(logits, target[..., None], axis=-1)[..., 0]
    return np_logsumexp(logits, axis=-1) - picked


@st.composite
def basic_index_cases(draw):
    x = draw(arrays(shapes(1, 3, 1, 4)))
    return Case((x,), {"index": draw(hnp.basic_indices(x.shape, allow_newaxis=True))})


@st.composite
def array_index_cases(draw):
    x = draw(arrays(shapes(1, 3, 1, 4)))
    return Case((x,), {"index": draw(hnp.integer_array_indices(
        x.shape, result_shape=shapes(1, 2, 1, 4)))})


@st.composite
def mask_index_cases(draw):
    x = draw(arrays(shapes(1, 3, 1, 4)))
    return Case((x,), {"index": draw(hnp.arrays(np.bool_, x.shape))})


@st.composite
def one_hot_cases(draw):
    classes = draw(st.integers(1, 5))
    indices = draw(hnp.arrays(np.int64, shapes(0, 2, 1, 4), elements=st.integers(0, classes - 1)))
    return Case((indices,), {"num_classes": classes})


def reshape_options(shapes_):
    shape = shapes_[0]
    size = int(np.prod(shape))
    return st.sampled_from([(-1,), (size,), (1, size), (size, 1), tuple(reversed(shape)),
                            (1,) + tuple(shape) + (1,)]).map(lambda s: {"shape": s})


def broadcast_options(shapes_):
    return hnp.broadcastable_shapes(shapes_[0], min_dims=len(shapes_[0]), max_dims=4, max_side=3).map(
        lambda other: {"shape": np.broadcast_shapes(shapes_[0], other)})


def split_options(shapes_):
    ndim = len(shapes_[0])
    return st.integers(-ndim, ndim - 1).flatmap(lambda axis: st.fixed_dictionaries({
        "axis": st.just(axis), "size": st.integers(1, shapes_[0][axis] + 1)}))


def chunk_options(shapes_):
    ndim = len(shapes_[0])
    return st.fixed_dictionaries({"axis": st.integers(-ndim, ndim - 1), "chunks": st.integers(1, 4)})


def pad_options(shapes_):
    """NumPy's three forms of pad_width: an int, one (before, after) pair for every axis, or one
    pair per axis."""
    pair = st.tuples(st.integers(0, 2), st.integers(0, 2))
    return st.fixed_dictionaries({
        "pad_width": st.one_of(st.integers(0, 2), pair, st.tuples(*[pair for _ in shapes_[0]])),
        "value": st.sampled_from([0.0, -1.5])})


# ---------------------------------------------------------------- cumsum, sorting, masked_fill

ties = lattice(min_value=-1.0, max_value=1.0, step=0.5)   # five values: ties in every row


def np_cumsum(x, axis):
    return np.cumsum(x, axis=axis) if x.ndim else x.copy()


def np_stable_order(x, axis, descending):
    """Indices of a stable sort (ties in index order, both directions): a descending stable sort
    is an ascending stable sort of -x (the drawn values hold no NaN)."""
    return np.argsort(-x if descending else x, axis=axis, kind="stable")


def np_sort(x, axis=-1, descending=False):
    if x.ndim == 0:
        return x.copy(), np.array(0)
    order = np_stable_order(x, axis, descending)
    return np.take_along_axis(x, order, axis), order


def first(fn):
    """Only the first output of ``fn`` (the values of sort and topk, without the indices)."""
    return lambda *args, **kwargs: fn(*args, **kwargs)[0]


def np_argsort(x, axis=-1, descending=False):
    return np_sort(x, axis, descending)[1]


def np_topk(x, k, axis=-1, largest=True):
    if x.ndim == 0:  # PyTorch's topk of a 0-d tensor is the tensor, for k = 0 and k = 1
        return x.copy(), np.array(0)
    values, order = np_sort(x, axis, descending=largest)
    first = (slice(None),) * (axis % x.ndim) + (slice(0, k),)
    return values[first], order[first]


def sort_options(shapes_):
    """{'axis', 'descending'} for the first shape (a 0-d tensor sorts along axis 0 or -1)."""
    ndim = max(len(shapes_[0]), 1)
    return st.fixed_dictionaries({"axis": axis_in(-ndim, ndim - 1), "descending": st.booleans()})


def topk_options(shapes_):
    """{'k', 'axis', 'largest'}: k from 0 to the length of the axis."""
    shape = shapes_[0] or (1,)
    return st.integers(-len(shape), len(shape) - 1).flatmap(lambda axis: st.fixed_dictionaries({
        "k": st.integers(0, shape[axis]), "axis": st.just(axis), "largest": st.booleans()}))


@st.composite
def masked_fill_cases(draw, value_tensor=False, dtype=np.float64):
    """x and a bool mask whose shapes broadcast together; the value a number in the options, or
    (``value_tensor``) a third, 0-d input that the gradient reaches."""
    s_x, s_mask = draw(binary())
    if dtype == np.float64:
        x = draw(arrays(s_x))
    else:
        x = draw(hnp.arrays(dtype, s_x, elements=st.integers(-3, 3)))
    mask = draw(hnp.arrays(np.bool_, s_mask))
    if value_tensor:
        return Case((x, mask, np.array(draw(floats()))))
    return Case((x, mask), {"value": draw(st.one_of(floats(), st.integers(-3, 3)))})


def np_masked_fill(x, mask, value):
    """The value cast to x's dtype first: a float into an integer tensor truncates."""
    return np.where(mask, np.asarray(value).astype(x.dtype), x)


@st.composite
def one_class_cases(draw):
    """Rows of probabilities with one non-zero class each: every draw must be that class."""
    rows, classes = draw(st.integers(1, 4)), draw(st.integers(1, 5))
    chosen = draw(hnp.arrays(np.int64, (rows,), elements=st.integers(0, classes - 1)))
    probs = np.zeros((rows, classes))
    probs[np.arange(rows), chosen] = draw(floats(0.1, 3.0))
    replacement = draw(st.booleans())
    num_samples = draw(st.integers(1, 4)) if replacement else 1
    if draw(st.booleans()):
        probs = probs[0]
    return Case((probs,), {"num_samples": num_samples, "replacement": replacement})


def np_one_class(probs, num_samples, replacement):
    return np.repeat(np.argmax(probs, axis=-1)[..., None], num_samples, axis=-1)


@st.composite
def all_classes_cases(draw):
    """Positive rows, drawn without replacement as often as there are classes: a permutation."""
    probs = draw(arrays(shapes(1, 2, 1, 5), elements=floats(0.01, 3.0)))
    return Case((probs,), {"num_samples": probs.shape[-1], "replacement": False})


def sorted_draws(probs, num_samples, replacement):
    return tg.sort(tg.multinomial(probs, num_samples, replacement))[0]


def np_every_class(probs, num_samples, replacement):
    return np.broadcast_to(np.arange(probs.shape[-1]), probs.shape)
