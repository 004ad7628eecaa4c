"""Recurrent cells, each a few lines of tensor algebra next to its equations (seeds 001, 002, 004).

The contract every cell keeps, so that the sequence layers (``tg.nn.Recurrent``, ``RNN``,
``LSTM``, ``GRU``) can run it:

- ``project(x)``: the input's contribution to every gate, for all time steps at once (one matrix
  product over a (T, B, input_size) tensor; seed 002's efficient method);
- ``forward(x_proj, state) -> (output, state)``: one time step from the projected input;
- ``initial_state(batch_size, like)``: the zero state, a tensor or a tuple of tensors shaped
  (batch, ·) on ``like``'s device and dtype;
- ``output_size``: the feature size of ``output``.

Weights have PyTorch's names, shapes and gate order, so a converted PyTorch ``state_dict`` loads
as is. The hidden-side bias ``bias_hh`` is folded into ``project`` wherever it enters the gates
additively (RNN, LSTM): one addition per sequence instead of one per step.
"""
import math

from .. import creation
from . import functional as F, init
from .module import Module, Parameter


class RecurrentCell(Module):
    """Base class: holds ``weight_ih``/``weight_hh`` (and biases) of ``gates`` blocks each, drawn
    from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)) as PyTorch does."""

    def __init__(self, input_size, hidden_size, gates, bias=True, recurrent_size=None):
        super().__init__()
        if input_size < 1 or hidden_size < 1:
            raise ValueError(f"{type(self).__name__}: input_size and hidden_size must be positive, "
                             f"got {input_size} and {hidden_size}")
        self.input_size, self.hidden_size = input_size, hidden_size
        self.output_size = hidden_size
        recurrent_size = hidden_size if recurrent_size is None else recurrent_size
        self.weight_ih = self._weight(gates * hidden_size, input_size)
        self.weight_hh = self._weight(gates * hidden_size, recurrent_size)
        self.bias_ih = self._weight(gates * hidden_size) if bias else None
        self.bias_hh = self._weight(gates * hidden_size) if bias else None

    def _weight(self, *shape):
        bound = 1.0 / math.sqrt(self.hidden_size)
        return init.uniform_(Parameter(creation.zeros(*shape)), -bound, bound)

    def project(self, x):
        """x @ weight_ih.T + bias_ih + bias_hh over any leading axes."""
        bias = self.bias_ih + self.bias_hh if self.bias_ih is not None else None
        return F.linear(x, self.weight_ih, bias)

    def initial_state(self, batch_size, like):
        return creation.zeros(batch_size, self.hidden_size, dtype=like.dtype, device=like.device)

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias_ih is not None}"


class RNNCell(RecurrentCell):
    """Elman's cell (seeds 000, 001, 003): ``h_t = f(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``,
    f = tanh or relu (seed 003's cure for vanishing gradients).

    >>> import tinygrad_seq as tg
    >>> cell = tg.nn.RNNCell(3, 5)
    >>> out, h = cell(cell.project(tg.randn(2, 3)), cell.initial_state(2, tg.zeros(1)))
    >>> out.shape
    (2, 5)
    """

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh"):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, 1, bias)
        self.nonlinearity = nonlinearity

    def forward(self, x_proj, h):
        pre = x_proj + h @ self.weight_hh.T
        h = pre.tanh() if self.nonlinearity == "tanh" else pre.relu()
        return h, h


class LSTMCell(RecurrentCell):
    """Long short-term memory (seed 004), gates in PyTorch's order i, f, g, o::

        i, f, g, o = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh
        c_t = σ(f) * c_{t-1} + σ(i) * tanh(g)
        h_t = σ(o) * tanh(c_t)

    Variants:

    - ``peephole=True`` (seed 002's ``use_peepholes``): the cell state feeds the gates through
      diagonal weights ``weight_ci``, ``weight_cf`` (seeing c_{t-1}) and ``weight_co`` (seeing c_t);
    - ``forget_gate=False``: the original LSTM of 1997 (seed 004), input and output gates around a
      constant error carousel ``c_t = c_{t-1} + σ(i) * tanh(g)``; gates i, g, o (3 blocks);
    - ``proj_size > 0``: h_t is projected by ``weight_hr`` (proj_size, hidden_size), as PyTorch's;
    - ``forget_bias``: added to the forget gate's ``bias_ih`` at initialisation (TensorFlow uses 1.0).

    The state is the tuple (h, c) (seed 002's ``state_is_tuple``).
    """

    def __init__(self, input_size, hidden_size, bias=True, peephole=False, forget_gate=True,
                 forget_bias=0.0, proj_size=0):
        if proj_size < 0 or proj_size >= hidden_size and proj_size:
            raise ValueError(f"LSTMCell: proj_size must be in [0, hidden_size={hidden_size}), "
                             f"got {proj_size}")
        gates = 4 if forget_gate else 3
        super().__init__(input_size, hidden_size, gates, bias, recurrent_size=proj_size or hidden_size)
        self.peephole, self.forget_gate, self.proj_size = peephole, forget_gate, proj_size
        if forget_bias:
            if not forget_gate:
                raise ValueError("LSTMCell: forget_bias needs the forget gate (forget_gate=True)")
            if not bias:
                raise ValueError("LSTMCell: forget_bias needs bias=True")
            self.bias_ih.data[hidden_size:2 * hidden_size] += forget_bias
        if peephole:
            self.weight_ci = self._weight(hidden_size)
            if forget_gate:
                self.weight_cf = self._weight(hidden_size)
            self.weight_co = self._weight(hidden_size)
        if proj_size:
            self.output_size = proj_size
            self.weight_hr = self._weight(proj_size, hidden_size)

    def initial_state(self, batch_size, like):
        zeros = creation.zeros
        return (zeros(batch_size, self.output_size, dtype=like.dtype, device=like.device),
                zeros(batch_size, self.hidden_size, dtype=like.dtype, device=like.device))

    def forward(self, x_proj, state):
        h, c = state
        gates = x_proj + h @ self.weight_hh.T
        if self.forget_gate:
            i, f, g, o = gates.chunk(4, axis=-1)
        else:
            i, g, o = gates.chunk(3, axis=-1)
        if self.peephole:
            i = i + self.weight_ci * c
            if self.forget_gate:
                f = f + self.weight_cf * c
        carried = f.sigmoid() * c if self.forget_gate else c
        c = carried + i.sigmoid() * g.tanh()
        if self.peephole:
            o = o + self.weight_co * c
        h = o.sigmoid() * c.tanh()
        if self.proj_size:
            h = h @ self.weight_hr.T
        return h, (h, c)

    def extra_repr(self):
        extra = "".join(f", {k}={v}" for k, v in (("peephole", self.peephole),
                        ("forget_gate", self.forget_gate), ("proj_size", self.proj_size))
                        if v != {"peephole": False, "forget_gate": True, "proj_size": 0}[k])
        return super().extra_repr() + extra


class GRUCell(RecurrentCell):
    """Gated recurrent unit (seed 002; Cho et al. 2014), gates in PyTorch's order r, z, n::

        r = σ(W_ir x + b_ir + W_hr h + b_hr)          z = σ(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn))      (reset_after=True: PyTorch, cuDNN)
        n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)      (reset_after=False: Cho et al. 2014)
        h' = (1 - z) * n + z * h
    """

    def __init__(self, input_size, hidden_size, bias=True, reset_after=True):
        super().__init__(input_size, hidden_size, 3, bias)
        self.reset_after = reset_after

    def project(self, x):
        # bias_hh cannot be folded in: its n block sits inside the reset gate
        return F.linear(x, self.weight_ih, self.bias_ih)

    def forward(self, x_proj, h):
        H = self.hidden_size
        x_r, x_z, x_n = x_proj.chunk(3, axis=-1)
        if self.reset_after:
            hidden = h @ self.weight_hh.T
            if self.bias_hh is not None:
                hidden = hidden + self.bias_hh
            h_r, h_z, h_n = hidden.chunk(3, axis=-1)
            r, z = (x_r + h_r).sigmoid(), (x_z + h_z).sigmoid()
            n = (x_n + r * h_n).tanh()
        else:
            weight_rz, weight_n = self.weight_hh.split([2 * H, H], axis=0)
            hidden = h @ weight_rz.T
            if self.bias_hh is not None:
                bias_rz, bias_n = self.bias_hh.split([2 * H, H], axis=0)
                hidden = hidden + bias_rz
            h_r, h_z = hidden.chunk(2, axis=-1)
            r, z = (x_r + h_r).sigmoid(), (x_z + h_z).sigmoid()
            reset = (r * h) @ weight_n.T
            n = (x_n + (reset + bias_n if self.bias_hh is not None else reset)).tanh()
        h = n + z * (h - n)
        return h, h

    def extra_repr(self):
        return super().extra_repr() + ("" if self.reset_after else ", reset_after=False")
