"""Public testing kit: gradcheck, hypothesis strategies and the OpSpec harness.

Users test the ops they add exactly as the project tests its own (docs/testing.md). Needs the
``test`` extra (hypothesis).
"""
from .tolerance import assert_close, tolerances
from .gradcheck import GradcheckError, gradcheck, gradcheck_module
from .strategies import (Sequences, arrays, broadcastable_shapes, floats, lattice, sequences,
                         shapes, tensors)
from .opspec import Case, OpSpec, binary, gufunc, nary, unary

__all__ = ["assert_close", "tolerances", "GradcheckError", "gradcheck", "gradcheck_module", "Sequences", "arrays", "broadcastable_shapes", "floats",
           "lattice", "sequences", "shapes", "tensors", "Case", "OpSpec", "binary", "gufunc",
           "nary", "unary"]
