"""Every op of tinygrad_seq, described once; tests/test_ops.py checks each entry generically."""
import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_seq as tg
from tinygrad_seq.testing import Case, OpSpec, arrays, binary, floats, gufunc, lattice, nary, shapes, unary

# ---------------------------------------------------------------- element strategies

positive = floats(0.1, 10.0)
nonzero = st.one_of(floats(-3.0, -0.5), floats(0.5, 3.0))
off_kink = lattice(0.125)          # never 0: abs, relu, clip bounds on the 0.0 lattice
tie_free = [lattice(0.0), lattice(0.125)]   # two inputs never equal: maximum, minimum
spread = lattice(step=1 / 64)     # with unique=True: no two elements closer than 1/64 (max, min)


# ---------------------------------------------------------------- option strategies

def axes_options(shapes_, allow_none=True, allow_tuple=True):
    """{'axis': None | int | tuple, 'keepdims': bool} valid for the first shape."""
    ndim = len(shapes_[0])
    choices = [st.just(None)] if allow_none or ndim == 0 else []
    if ndim:
        choices.append(st.integers(-ndim, ndim - 1))
        if allow_tuple:
            choices.append(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim,
                                    unique=True).map(tuple))
    return st.fixed_dictionaries({"axis": st.one_of(*choices), "keepdims": st.booleans()})


def one_axis(shapes_):
    ndim = len(shapes_[0])
    return st.fixed_dictionaries({"axis": st.integers(-ndim, ndim - 1) if ndim else st.just(-1)})


def _np_logsumexp(x, axis=None, keepdims=False):
    m = np.max(x, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis if axis is not None else tuple(range(x.ndim)))


def _np_softmax(x, axis):
    axis = axis if x.ndim else None
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _np_log_softmax(x, axis):
    axis = axis if x.ndim else None
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def _np_split(x, sizes, axis):
    return tuple(np.split(x, np.cumsum(sizes)[:-1], axis=axis))


def _split_sizes(n, size):
    """PyTorch's split: pieces of ``size``, the last one smaller."""
    return [size] * (n // size) + ([n % size] if n % size else [])


def _chunk_sizes(n, chunks):
    return _split_sizes(n, max(-(-n // chunks), 1))


def _seeded_dropout(x, p):
    tg.manual_seed(1234)   # the same mask at every call, so finite differences see one function
    return tg.dropout(x, p)


# ---------------------------------------------------------------- input strategies

@st.composite
def concat_cases(draw):
    base = draw(shapes(1, 3, 1, 4))
    axis = draw(st.integers(-len(base), len(base) - 1))
    sizes = draw(st.lists(st.integers(0, 3), min_size=1, max_size=3))
    shapes_ = [base[:axis % len(base)] + (n,) + base[axis % len(base) + 1:] for n in sizes]
    return Case(tuple(draw(arrays(s)) for s in shapes_), {"axis": axis})


@st.composite
def stack_cases(draw):
    shape = draw(shapes(0, 3, 1, 4))
    n = draw(st.integers(1, 3))
    return Case(tuple(draw(arrays(shape)) for _ in range(n)),
                {"axis": draw(st.integers(-len(shape) - 1, len(shape)))})


@st.composite
def where_cases(draw):
    s_cond, s_a, s_b = draw(nary(3))
    return Case((draw(hnp.arrays(np.bool_, s_cond)), draw(arrays(s_a)), draw(arrays(s_b))))


@st.composite
def take_cases(draw):
    x = draw(arrays(shapes(1, 3, 1, 4)))
    axis = draw(st.integers(-x.ndim, x.ndim - 1))
    n = x.shape[axis]
    indices = draw(hnp.arrays(np.int64, shapes(0, 2, 1, 4), elements=st.integers(-n, n - 1)))
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
    return st.fixed_dictionaries({
        "pad_width": st.tuples(*[st.tuples(st.integers(0, 2), st.integers(0, 2)) for _ in shapes_[0]]),
        "value": st.sampled_from([0.0, -1.5])})


# ---------------------------------------------------------------- the registry

UNARY = [
    OpSpec("neg", tg.neg, np.negative),
    OpSpec("exp", tg.exp, np.exp),
    OpSpec("log", tg.log, np.log, elements=positive),
    OpSpec("sqrt", tg.sqrt, np.sqrt, elements=positive),
    OpSpec("abs", tg.abs, np.abs, elements=off_kink),
    OpSpec("tanh", tg.tanh, np.tanh),
    OpSpec("sigmoid", tg.sigmoid, lambda x: 1 / (1 + np.exp(-x)), elements=floats(-20, 20)),
    OpSpec("relu", tg.relu, lambda x: np.maximum(x, 0), elements=off_kink),
    OpSpec("pow_scalar", lambda x, exponent: x ** exponent, lambda x, exponent: x ** exponent,
           elements=floats(0.2, 3.0),
           kwargs=lambda s: st.fixed_dictionaries({"exponent": st.sampled_from([2, 3, 0.5, -1.5, 0])})),
    OpSpec("clip", tg.clip, lambda x, min, max: np.clip(x, -np.inf if min is None else min,
                                                         np.inf if max is None else max),
           elements=off_kink,
           kwargs=lambda s: st.fixed_dictionaries({"min": st.sampled_from([None, -1.0, 0.0]),
                                                   "max": st.sampled_from([None, 1.0, 2.0])})),
    OpSpec("astype", lambda x: x.astype("float64"), lambda x: x.astype(np.float64), keeps_dtype=False),
    OpSpec("astype_float32", lambda x: x.astype("float32"), lambda x: x.astype(np.float32),
           differentiable=False, keeps_dtype=False),
    OpSpec("astype_int", lambda x: x.astype("int64"), lambda x: x.astype(np.int64),
           differentiable=False),
]

BINARY = [
    OpSpec("add", tg.add, np.add, shapes=binary()),
    OpSpec("sub", tg.sub, np.subtract, shapes=binary()),
    OpSpec("mul", tg.mul, np.multiply, shapes=binary()),
    OpSpec("div", tg.div, np.divide, shapes=binary(), elements=[floats(), nonzero]),
    OpSpec("pow", tg.pow, np.power, shapes=binary(), elements=[floats(0.2, 3.0), floats(-2.0, 2.0)]),
    OpSpec("maximum", tg.maximum, np.maximum, shapes=binary(), elements=tie_free),
    OpSpec("minimum", tg.minimum, np.minimum, shapes=binary(), elements=tie_free),
    OpSpec("where", tg.where, np.where, inputs=where_cases()),
] + [
    OpSpec(name, getattr(tg, name), getattr(np, name), shapes=binary(), elements=lattice(),
           differentiable=False)
    for name in ["less", "less_equal", "greater", "greater_equal", "equal", "not_equal"]
]

REDUCE = [
    OpSpec("sum", tg.sum, np.sum, kwargs=axes_options),
    OpSpec("mean", tg.mean, np.mean, kwargs=axes_options),
    OpSpec("max", tg.max, np.max, kwargs=axes_options, elements=spread, unique=True),
    OpSpec("min", tg.min, np.min, kwargs=axes_options, elements=spread, unique=True),
    OpSpec("var", tg.var, np.var, kwargs=axes_options),
    OpSpec("logsumexp", tg.logsumexp, _np_logsumexp, kwargs=axes_options),
    OpSpec("softmax", tg.softmax, _np_softmax, kwargs=one_axis),
    OpSpec("log_softmax", tg.log_softmax, _np_log_softmax, kwargs=one_axis),
    OpSpec("argmax", tg.argmax, np.argmax, shapes=unary(min_dims=1), elements=spread, unique=True,
           kwargs=lambda s: st.fixed_dictionaries({"axis": st.integers(-len(s[0]), len(s[0]) - 1)}),
           differentiable=False),
    OpSpec("argmin", tg.argmin, np.argmin, shapes=unary(min_dims=1), elements=spread, unique=True,
           kwargs=lambda s: st.fixed_dictionaries({"axis": st.integers(-len(s[0]), len(s[0]) - 1)}),
           differentiable=False),
    OpSpec("all", lambda x, **k: tg.all(x > 0, **k), lambda x, **k: np.all(x > 0, **k),
           kwargs=axes_options, differentiable=False),
    OpSpec("any", lambda x, **k: tg.any(x > 0, **k), lambda x, **k: np.any(x > 0, **k),
           kwargs=axes_options, differentiable=False),
]

MOVEMENT = [
    OpSpec("reshape", lambda x, shape: x.reshape(shape), np.reshape, kwargs=reshape_options),
    OpSpec("flatten", tg.flatten, lambda x: x.reshape(-1)),
    OpSpec("permute", lambda x, axes: tg.permute(x, *axes), np.transpose,
           kwargs=lambda s: st.permutations(range(len(s[0]))).map(lambda p: {"axes": tuple(p)})),
    OpSpec("transpose", tg.transpose, np.transpose),
    OpSpec("swapaxes", tg.swapaxes, np.swapaxes, shapes=unary(min_dims=1),
           kwargs=lambda s: st.fixed_dictionaries({"axis1": st.integers(-len(s[0]), len(s[0]) - 1),
                                                   "axis2": st.integers(-len(s[0]), len(s[0]) - 1)})),
    OpSpec("broadcast_to", lambda x, shape: x.broadcast_to(shape), np.broadcast_to,
           kwargs=broadcast_options),
    OpSpec("squeeze", tg.squeeze, np.squeeze),
    OpSpec("unsqueeze", tg.unsqueeze, np.expand_dims,
           kwargs=lambda s: st.fixed_dictionaries({"axis": st.integers(-len(s[0]) - 1, len(s[0]))})),
    OpSpec("concatenate", lambda *xs, axis: tg.concatenate(xs, axis),
           lambda *xs, axis: np.concatenate(xs, axis), inputs=concat_cases()),
    OpSpec("stack", lambda *xs, axis: tg.stack(xs, axis), lambda *xs, axis: np.stack(xs, axis),
           inputs=stack_cases()),
    OpSpec("split", lambda x, size, axis: tg.split(x, size, axis),
           lambda x, size, axis: _np_split(x, _split_sizes(x.shape[axis], size), axis),
           shapes=unary(min_dims=1), kwargs=split_options),
    OpSpec("chunk", tg.chunk, lambda x, chunks, axis: _np_split(x, _chunk_sizes(x.shape[axis], chunks), axis),
           shapes=unary(min_dims=1), kwargs=chunk_options),
    OpSpec("unbind", tg.unbind, lambda x, axis: tuple(np.moveaxis(x, axis, 0)),
           shapes=unary(min_dims=1), kwargs=one_axis),
    OpSpec("flip", tg.flip, np.flip, kwargs=lambda s: st.fixed_dictionaries(
        {"axis": st.one_of(st.none(), st.integers(-len(s[0]), len(s[0]) - 1)) if s[0] else st.none()})),
    OpSpec("pad", tg.pad, lambda x, pad_width, value: np.pad(x, pad_width, constant_values=value),
           shapes=unary(min_dims=1), kwargs=pad_options),
]

INDEXING = [
    OpSpec("getitem_basic", lambda x, index: x[index], lambda x, index: x[index],
           inputs=basic_index_cases()),
    OpSpec("getitem_array", lambda x, index: x[index], lambda x, index: x[index],
           inputs=array_index_cases()),
    OpSpec("getitem_mask", lambda x, index: x[index], lambda x, index: x[index],
           inputs=mask_index_cases()),
    OpSpec("take", tg.take, np.take, inputs=take_cases()),
    OpSpec("gather", lambda x, i, axis: tg.gather(x, axis, i), lambda x, i, axis: np.take_along_axis(x, i, axis),
           inputs=gather_cases()),
    OpSpec("one_hot", tg.one_hot, lambda i, num_classes: np.eye(num_classes)[i],
           inputs=one_hot_cases(), differentiable=False, keeps_dtype=False),
]

LINALG_NN = [
    OpSpec("matmul", tg.matmul, np.matmul, shapes=gufunc("(n?,k),(k,m?)->(n?,m?)")),
    OpSpec("dropout", _seeded_dropout, None,
           kwargs=lambda s: st.fixed_dictionaries({"p": st.sampled_from([0.0, 0.3, 0.5])})),
]

OPS = UNARY + BINARY + REDUCE + MOVEMENT + INDEXING + LINALG_NN
