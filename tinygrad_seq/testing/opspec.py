"""OpSpec: an op described once (function, NumPy reference, inputs), checked by generic tests.

>>> import numpy as np
>>> import tinygrad_seq as tg
>>> from tinygrad_seq.testing import OpSpec, unary
>>> TANH = OpSpec("tanh", tg.tanh, np.tanh, shapes=unary())
>>> case = TANH.example()
>>> TANH.check(case)
"""
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from .. import backend
from ..tensor import Tensor
from .gradcheck import as_outputs as _as_tuple, gradcheck
from .strategies import arrays, broadcastable_shapes, floats, shapes


# ---------------------------------------------------------------- shape strategies

def unary(min_dims=0, max_dims=3, max_side=4):
    """One input of any shape (0-d and size-1 axes included)."""
    return shapes(min_dims, max_dims, 1, max_side).map(lambda s: (s,))


def binary(min_dims=0, max_dims=3, max_side=4):
    """Two inputs whose shapes broadcast together."""
    return broadcastable_shapes(2, min_dims, max_dims, 1, max_side)


def nary(n, min_dims=0, max_dims=3, max_side=4):
    return broadcastable_shapes(n, min_dims, max_dims, 1, max_side)


def gufunc(signature, max_dims=2, max_side=4):
    """Inputs of a generalized ufunc, e.g. ``"(n?,k),(k,m?)->(n?,m?)"`` for matmul: core
    dimensions as the signature says, batch dimensions that broadcast."""
    return hnp.mutually_broadcastable_shapes(signature=signature, max_dims=max_dims, min_side=1,
                                             max_side=max_side).map(lambda bs: bs.input_shapes)


# ---------------------------------------------------------------- the spec

@dataclass
class Case:
    """One drawn example: the input arrays (float64 for floats) and the op's options."""
    arrays: tuple
    kwargs: dict = field(default_factory=dict)

    def __repr__(self):
        shapes_ = ", ".join(f"{a.dtype}{list(a.shape)}" for a in self.arrays)
        return f"Case({shapes_}, kwargs={self.kwargs})"


@dataclass
class OpSpec:
    """How to draw inputs for an op and what it must equal.

    ``fn(*tensors, **kwargs)`` is the op; ``reference(*arrays, **kwargs)`` computes the same with
    NumPy (``None`` when the forward is checked elsewhere, e.g. a random op). Inputs come from
    ``shapes`` (a strategy of shape tuples) filled with ``elements`` (one strategy, or one per
    input), options from ``kwargs`` (a function of the drawn shapes returning a strategy of
    dicts), or all at once from ``inputs`` (a strategy of ``Case``); ``unique`` draws distinct
    values (for max/min, where ties are kinks). Only float inputs are differentiated;
    ``differentiable=False`` checks the forward only; ``keeps_dtype=False`` for ops whose float
    output dtype differs from their inputs' (astype).
    """
    name: str
    fn: Callable
    reference: Optional[Callable]
    shapes: Any = None
    elements: Any = None
    kwargs: Optional[Callable] = None
    inputs: Any = None
    differentiable: bool = True
    unique: bool = False
    keeps_dtype: bool = True
    atol: float = 1e-5
    rtol: float = 1e-3
    forward_rtol32: float = 2e-5

    def cases(self):
        """A strategy of ``Case``."""
        if self.inputs is not None:
            return self.inputs
        shape_strategy = self.shapes if self.shapes is not None else unary()

        @st.composite
        def draw_case(draw):
            shapes_ = draw(shape_strategy)
            elements = self.elements
            per_input = elements if isinstance(elements, (list, tuple)) else [elements] * len(shapes_)
            arrs = tuple(draw(arrays(s, backend.float64, e if e is not None else floats(), self.unique))
                         for s, e in zip(shapes_, per_input))
            kwargs = draw(self.kwargs(shapes_)) if self.kwargs is not None else {}
            return Case(arrs, kwargs)
        return draw_case()

    def example(self):
        """One case, for interactive use (tests should use ``@given(spec.cases())``)."""
        return self.cases().example()

    # ------------------------------------------------------------ the checks
    def tensors(self, case, device="cpu", dtype=backend.float64, requires_grad=False):
        return [Tensor(a, dtype=dtype if a.dtype.kind == "f" else None, device=device,
                       requires_grad=requires_grad and a.dtype.kind == "f")
                for a in case.arrays]

    def check_forward(self, case, device="cpu"):
        """The op equals its reference, in float64 (tight) and float32 (to float32 precision)."""
        if self.reference is None:
            return
        expected = _as_tuple(self.reference(*case.arrays, **case.kwargs))
        for dtype, rtol in ((backend.float64, 1e-9), (backend.float32, self.forward_rtol32)):
            got = _as_tuple(self.fn(*self.tensors(case, device, dtype), **case.kwargs))
            if len(got) != len(expected):
                raise AssertionError(f"{self.name}: {len(got)} outputs, reference has {len(expected)}")
            for i, (g, e) in enumerate(zip(got, expected)):
                e = np.asarray(e)
                assert g.shape == e.shape, f"{self.name}: output {i} has shape {g.shape}, reference {e.shape}"
                if e.dtype.kind == "f":
                    assert g.dtype == dtype or not self.keeps_dtype, f"{self.name}: output {i} is {g.dtype} from {dtype} inputs"
                    scale = np.abs(e).max(initial=1.0) if dtype == backend.float32 else 1.0
                    np.testing.assert_allclose(g.numpy(), e, rtol=rtol, atol=rtol * scale,
                                               err_msg=f"{self.name} forward ({dtype}) {case}")
                else:
                    np.testing.assert_array_equal(g.numpy(), e, err_msg=f"{self.name} forward {case}")

    def check_gradient(self, case, device="cpu"):
        """Analytic gradients equal central differences (float64)."""
        if not self.differentiable:
            return
        gradcheck(lambda *ts: self.fn(*ts, **case.kwargs), *self.tensors(case, device),
                  atol=self.atol, rtol=self.rtol)

    def check_invariants(self, case, device="cpu"):
        """After backward: inputs unchanged; each gradient has its input's shape and dtype and
        shares memory with no input and no other gradient."""
        if not self.differentiable:
            return
        for dtype in (backend.float32, backend.float64):
            inputs = self.tensors(case, device, dtype, requires_grad=True)
            before = [t.numpy() for t in inputs]
            outs = _as_tuple(self.fn(*inputs, **case.kwargs))
            loss = None
            for k, o in enumerate(outs):
                if o.requires_grad:
                    term = (o * (k + 1.5)).sum()
                    loss = term if loss is None else loss + term
            if loss is None:
                continue
            loss.backward()
            for t, b in zip(inputs, before):
                np.testing.assert_array_equal(t.numpy(), b, err_msg=f"{self.name} mutated an input")
            grads = [t.grad for t in inputs if t.grad is not None]
            for t in inputs:
                if t.grad is not None:
                    assert t.grad.shape == t.shape, f"{self.name}: grad shape {t.grad.shape} != {t.shape}"
                    assert t.grad.dtype == t.dtype, f"{self.name}: grad dtype {t.grad.dtype} != {t.dtype}"
                    assert t.grad.device == t.device
            xp = backend.xp_of(device)
            arrays_ = [g.data for g in grads] + [t.data for t in inputs]
            for i, g in enumerate(grads):
                for j, other in enumerate(arrays_):
                    if j != i and g.data.size and other.size:
                        assert not xp.shares_memory(g.data, other), \
                            f"{self.name}: a gradient shares memory with another array"

    def check(self, case, device="cpu"):
        """All of the above for one case."""
        self.check_forward(case, device)
        self.check_gradient(case, device)
        self.check_invariants(case, device)

    def __repr__(self):
        return f"OpSpec({self.name!r})"

