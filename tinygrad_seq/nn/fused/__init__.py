"""Fused sequence kernels: RNN, LSTM and GRU run over a whole sequence as one graph node, with
a hand-written BPTT whose weight gradients are one matrix product each over all steps.

The declared cells (``tg.nn.cells``) stay the reference: a property test holds the two equal
(tests/test_fused.py). ``RNN``/``LSTM``/``GRU`` use these kernels unless built with
``fused=False``; variants without a kernel (peephole LSTMs, forget_gate=False, user cells)
run the declared cells.
"""
from .driver import FusedRecurrent, kernel_maker, run

__all__ = ["FusedRecurrent", "kernel_maker", "run"]
