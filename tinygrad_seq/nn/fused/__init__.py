"""Fused sequence kernels: RNN, LSTM and GRU run over a whole sequence, every layer and
direction, as one graph node with a hand-written BPTT whose weight gradients are one matrix
product each over all steps.

The declared cells (``tg.nn.cells``) stay the reference: a property test holds the two equal
(tests/test_fused.py). ``RNN``/``LSTM``/``GRU`` use these kernels under ``engine="fused"`` and
``"auto"`` (the default); variants without a kernel (peephole LSTMs, forget_gate=False, user
cells) run their declared cells through ``tg.scan``. ``run`` takes plain data: the cells, the
running mask, the dropout masks.

>>> import tinygrad_seq as tg
>>> lstm = tg.nn.LSTM(3, 4, num_layers=2, bidirectional=True)
>>> out, (h_n, c_n) = lstm(tg.randn(5, 2, 3, requires_grad=True), lengths=[5, 3])
>>> type(out._ctx).__name__, out.shape, h_n.shape
('FusedRecurrent', (5, 2, 8), (4, 2, 4))
"""
from .driver import FusedRecurrent, kernel_maker, run

__all__ = ["FusedRecurrent", "kernel_maker", "run"]
