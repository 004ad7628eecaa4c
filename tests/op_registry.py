"""Every op of tinygrad_seq, described once; tests/test_ops.py checks each entry generically.

A spec's name is its op's name (a public function of ``tinygrad_seq.ops``), optionally followed by
``.`` and a variant: ``pow.scalar``, ``add.constant``, ``sum.empty``. The coverage test in
tests/test_ops.py reads the op name as the part before the first ``.``.
"""
import operator
from dataclasses import replace

import numpy as np
from hypothesis import strategies as st

import tinygrad_seq as tg
from tinygrad_seq.testing import OpSpec, binary, floats, gufunc, lattice, unary

from op_cases import (np_mean, with_zero, with_empty_axis, empty_shape, empty_gufunc, axes_options,
                      nonempty_axes_options, one_axis, nonempty_axis, constant, either_side,
                      where_with_numbers, np_logsumexp, np_softmax, np_log_softmax, np_split,
                      split_sizes, chunk_sizes, seeded_dropout, mixed_cases, where_mixed_cases,
                      concat_cases, stack_cases, where_cases, take_cases, gather_cases,
                      cross_entropy_cases, np_softmax_cross_entropy,
                      basic_index_cases, array_index_cases, mask_index_cases, one_hot_cases,
                      reshape_options, broadcast_options, split_options, chunk_options,
                      pad_options, positive, nonzero, nonzero_ints, off_kink, tie_free, spread,
                      ties, np_cumsum, np_sort, np_argsort, np_topk, sort_options, topk_options,
                      masked_fill_cases, np_masked_fill, one_class_cases, np_one_class,
                      all_classes_cases, sorted_draws, np_every_class, first)

# ---------------------------------------------------------------- the registry

UNARY = [
    OpSpec("neg", tg.neg, np.negative),
    OpSpec("exp", tg.exp, np.exp),
    OpSpec("log", tg.log, np.log, elements=positive),
    OpSpec("sqrt", tg.sqrt, np.sqrt, elements=positive),
    OpSpec("abs", tg.abs, np.abs, elements=off_kink),
    OpSpec("sin", tg.sin, np.sin),
    OpSpec("cos", tg.cos, np.cos),
    OpSpec("tanh", tg.tanh, np.tanh),
    OpSpec("sigmoid", tg.sigmoid, lambda x: 1 / (1 + np.exp(-x)), elements=floats(-20, 20)),
    OpSpec("relu", tg.relu, lambda x: np.maximum(x, 0), elements=off_kink),
    OpSpec("pow.scalar", lambda x, exponent: x ** exponent, lambda x, exponent: x ** exponent,
           elements=floats(0.2, 3.0),
           kwargs=lambda s: st.fixed_dictionaries({"exponent": st.sampled_from([2, 3, 0.5, -1.5, 0])})),
    OpSpec("clip", tg.clip, lambda x, min, max: np.clip(x, -np.inf if min is None else min,
                                                         np.inf if max is None else max),
           elements=off_kink,
           kwargs=lambda s: st.fixed_dictionaries({"min": st.sampled_from([None, -1.0, 0.0]),
                                                   "max": st.sampled_from([None, 1.0, 2.0])})),
    OpSpec("astype", lambda x: x.astype("float64"), lambda x: x.astype(np.float64), keeps_dtype=False),
    OpSpec("astype.float32", lambda x: x.astype("float32"), lambda x: x.astype(np.float32),
           differentiable=False, keeps_dtype=False),
    OpSpec("astype.int", lambda x: x.astype("int64"), lambda x: x.astype(np.int64),
           differentiable=False),
]

BINARY = [
    OpSpec("add", tg.add, np.add, shapes=binary()),
    OpSpec("sub", tg.sub, np.subtract, shapes=binary()),
    OpSpec("mul", tg.mul, np.multiply, shapes=binary()),
    OpSpec("div", tg.div, np.divide, shapes=binary(), elements=[floats(), nonzero]),
    OpSpec("pow", tg.pow, np.power, shapes=binary(),
           elements=[floats(0.2, 3.0), with_zero(floats(-2.0, 2.0))]),
    OpSpec("maximum", tg.maximum, np.maximum, shapes=binary(), elements=tie_free),
    OpSpec("minimum", tg.minimum, np.minimum, shapes=binary(), elements=tie_free),
    OpSpec("where", tg.where, np.where, inputs=where_cases()),
] + [
    OpSpec(name, getattr(tg, name), getattr(np, name), shapes=binary(), elements=lattice(),
           differentiable=False)
    for name in ["less", "less_equal", "greater", "greater_equal", "equal", "not_equal"]
]

# One operand a constant (an option, so never differentiated), on either side; x ** 0 at x = 0.
CONSTANT_OPERAND = [
    OpSpec("add.constant", either_side(operator.add), either_side(np.add),
           kwargs=constant(either_side=True)),
    OpSpec("sub.constant", either_side(operator.sub), either_side(np.subtract),
           kwargs=constant(either_side=True)),
    OpSpec("mul.constant", either_side(operator.mul), either_side(np.multiply),
           kwargs=constant(either_side=True)),
    OpSpec("div.constant", either_side(operator.truediv), either_side(np.divide), elements=nonzero,
           kwargs=constant(nonzero, nonzero_ints, either_side=True)),
    OpSpec("pow.constant", lambda x, c: x ** c, lambda x, c: np.power(x, c), elements=floats(0.2, 3.0),
           kwargs=constant(floats(-2.0, 2.0), st.integers(-2, 3))),
    OpSpec("pow.rconstant", lambda x, c: c ** x, lambda x, c: np.power(c, x), elements=floats(-2.0, 2.0),
           kwargs=constant(floats(0.2, 3.0), st.integers(1, 3))),
    OpSpec("pow.zero_exponent", lambda x, c: x ** c, lambda x, c: np.power(x, c),
           elements=with_zero(floats()), kwargs=constant(st.just(0.0), st.just(0))),
    OpSpec("maximum.constant", either_side(tg.maximum), either_side(np.maximum), elements=off_kink,
           kwargs=constant(lattice(), either_side=True)),
    OpSpec("minimum.constant", either_side(tg.minimum), either_side(np.minimum), elements=off_kink,
           kwargs=constant(lattice(), either_side=True)),
]

# int64 and bool tensors (never requiring grad) next to float tensors, and numbers in where.
INT_AND_BOOL_OPERANDS = [
    OpSpec("add.int_bool", tg.add, np.add, inputs=mixed_cases()),
    OpSpec("mul.int_bool", tg.mul, np.multiply, inputs=mixed_cases()),
    OpSpec("div.int", tg.div, np.divide, inputs=mixed_cases(nonzero, nonzero_ints, bools=False)),
    OpSpec("where.mixed", where_with_numbers(tg.where), where_with_numbers(np.where),
           inputs=where_mixed_cases()),
    OpSpec("where.int", where_with_numbers(tg.where), where_with_numbers(np.where),
           inputs=where_mixed_cases(with_float=False), differentiable=False),
]

REDUCE = [
    OpSpec("sum", tg.sum, np.sum, kwargs=axes_options),
    OpSpec("mean", tg.mean, np_mean, kwargs=axes_options),
    OpSpec("max", tg.max, np.max, kwargs=axes_options, elements=spread, unique=True),
    OpSpec("min", tg.min, np.min, kwargs=axes_options, elements=spread, unique=True),
    OpSpec("var", tg.var, np.var, kwargs=axes_options),
    OpSpec("logsumexp", tg.logsumexp, np_logsumexp, kwargs=axes_options),
    OpSpec("cumsum", tg.cumsum, np_cumsum, kwargs=one_axis),
    OpSpec("softmax", tg.softmax, np_softmax, kwargs=one_axis),
    OpSpec("log_softmax", tg.log_softmax, np_log_softmax, kwargs=one_axis),
    OpSpec("softmax_cross_entropy", tg.softmax_cross_entropy, np_softmax_cross_entropy,
           inputs=cross_entropy_cases()),
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
           lambda x, size, axis: np_split(x, split_sizes(x.shape[axis], size), axis),
           shapes=unary(min_dims=1), kwargs=split_options),
    OpSpec("chunk", tg.chunk, lambda x, chunks, axis: np_split(x, chunk_sizes(x.shape[axis], chunks), axis),
           shapes=unary(min_dims=1), kwargs=chunk_options),
    OpSpec("unbind", tg.unbind, lambda x, axis: tuple(np.moveaxis(x, axis, 0)),
           shapes=unary(min_dims=1), kwargs=one_axis),
    OpSpec("flip", tg.flip, np.flip, kwargs=lambda s: st.fixed_dictionaries(
        {"axis": st.one_of(st.none(), st.integers(-len(s[0]), len(s[0]) - 1)) if s[0] else st.none()})),
    OpSpec("clone", tg.clone, np.copy),
    OpSpec("pad", tg.pad, lambda x, pad_width, value: np.pad(x, pad_width, constant_values=value),
           shapes=unary(min_dims=1), kwargs=pad_options),
]

INDEXING = [
    OpSpec("getitem.basic", lambda x, index: x[index], lambda x, index: x[index],
           inputs=basic_index_cases()),
    OpSpec("getitem.array", lambda x, index: x[index], lambda x, index: x[index],
           inputs=array_index_cases()),
    OpSpec("getitem.mask", lambda x, index: x[index], lambda x, index: x[index],
           inputs=mask_index_cases()),
    OpSpec("take", tg.take, np.take, inputs=take_cases()),
    OpSpec("gather", lambda x, i, axis: tg.gather(x, axis, i), lambda x, i, axis: np.take_along_axis(x, i, axis),
           inputs=gather_cases()),
    OpSpec("one_hot", tg.one_hot, lambda i, num_classes: np.eye(num_classes)[i],
           inputs=one_hot_cases(), differentiable=False, keeps_dtype=False),
]

# Values and indices drawn from five values, so that ties are common and their order (stable:
# by index) is checked; the gradient of the values on distinct values (a tie is a kink of
# sort), without the indices (gradcheck takes float outputs only).
SORTING = [
    OpSpec("sort", tg.sort, np_sort, kwargs=sort_options, elements=ties, differentiable=False),
    OpSpec("sort.values", first(tg.sort), first(np_sort), kwargs=sort_options, elements=spread,
           unique=True),
    OpSpec("argsort", tg.argsort, np_argsort, kwargs=sort_options, elements=ties,
           differentiable=False),
    OpSpec("topk", tg.topk, np_topk, kwargs=topk_options, elements=ties, differentiable=False),
    OpSpec("topk.values", first(tg.topk), first(np_topk), kwargs=topk_options, elements=spread,
           unique=True),
]

# masked_fill: a number (in the options) or a 0-d tensor (an input, differentiated) as value.
MASKING = [
    OpSpec("masked_fill", tg.masked_fill, np_masked_fill, inputs=masked_fill_cases()),
    OpSpec("masked_fill.tensor_value", tg.masked_fill, np_masked_fill,
           inputs=masked_fill_cases(value_tensor=True)),
    OpSpec("masked_fill.int", tg.masked_fill, np_masked_fill,
           inputs=masked_fill_cases(dtype=np.int64), differentiable=False),
]

# Random: what a draw must be whatever the stream (the distributions are tested in test_ops.py).
SAMPLING = [
    OpSpec("multinomial.one_class", tg.multinomial, np_one_class, inputs=one_class_cases(),
           differentiable=False),
    OpSpec("multinomial.all_classes", sorted_draws, np_every_class, inputs=all_classes_cases(),
           differentiable=False),
]

def linear_shapes():
    """x of shape (..., k) with 0 to 3 leading axes, weight (m, k)."""
    lead = st.lists(st.integers(1, 3), min_size=0, max_size=3).map(tuple)
    return st.tuples(lead, st.integers(1, 4), st.integers(1, 4)).map(
        lambda t: (t[0] + (t[1],), (t[2], t[1])))


LINALG_NN = [
    OpSpec("matmul", tg.matmul, np.matmul, shapes=gufunc("(n?,k),(k,m?)->(n?,m?)")),
    OpSpec("linear", tg.ops.linear, lambda x, w: x @ w.T, shapes=linear_shapes()),
    OpSpec("dropout", seeded_dropout, None,
           kwargs=lambda s: st.fixed_dictionaries({"p": st.sampled_from([0.0, 0.3, 0.5])})),
]


def empty(spec, **changes):
    """``spec`` drawing shapes with a size-0 axis (``changes``: its new shapes, inputs, kwargs)."""
    return replace(spec, name=f"{spec.name}.empty", **changes)


_SPEC = {spec.name: spec for spec in UNARY + BINARY + REDUCE + MOVEMENT + INDEXING + SORTING
         + LINALG_NN}

# Size-0 axes: every element-wise op, reductions (max/min along the non-empty axes), movement.
EMPTY = [empty(spec, shapes=with_empty_axis(1)) for spec in UNARY] + [
    empty(spec, shapes=with_empty_axis(2)) for spec in BINARY if spec.inputs is None] + [
    empty(_SPEC["where"], inputs=where_cases(with_empty_axis(3))),
    empty(_SPEC["sum"], shapes=with_empty_axis(1)),
    empty(_SPEC["mean"], shapes=with_empty_axis(1)),
    empty(_SPEC["cumsum"], shapes=with_empty_axis(1)),
    empty(_SPEC["sort.values"], shapes=with_empty_axis(1)),
    empty(_SPEC["topk.values"], shapes=with_empty_axis(1)),
    empty(_SPEC["topk"], shapes=with_empty_axis(1)),
    empty(_SPEC["max"], shapes=with_empty_axis(1, min_dims=2), kwargs=nonempty_axes_options),
    empty(_SPEC["min"], shapes=with_empty_axis(1, min_dims=2), kwargs=nonempty_axes_options),
    empty(_SPEC["reshape"], shapes=with_empty_axis(1)),
    empty(_SPEC["flatten"], shapes=with_empty_axis(1)),
    empty(_SPEC["permute"], shapes=with_empty_axis(1)),
    empty(_SPEC["transpose"], shapes=with_empty_axis(1)),
    empty(_SPEC["pad"], shapes=with_empty_axis(1)),
    empty(_SPEC["clone"], shapes=with_empty_axis(1)),
    empty(_SPEC["concatenate"], inputs=concat_cases(empty_shape(min_dims=2))),
    empty(_SPEC["stack"], inputs=stack_cases(empty_shape())),
    empty(_SPEC["unbind"], shapes=with_empty_axis(1, min_dims=2), kwargs=nonempty_axis),
    empty(_SPEC["take"], inputs=take_cases(empty_shape(), min_index_side=0)),
    empty(_SPEC["softmax_cross_entropy"],
          inputs=cross_entropy_cases(empty_shape(min_dims=2).filter(lambda s: s[-1] > 0))),
    empty(_SPEC["matmul"], shapes=empty_gufunc("(n?,k),(k,m?)->(n?,m?)")),
]

OPS = (UNARY + BINARY + CONSTANT_OPERAND + INT_AND_BOOL_OPERANDS + REDUCE + MOVEMENT + INDEXING
       + SORTING + MASKING + SAMPLING + LINALG_NN + EMPTY)
