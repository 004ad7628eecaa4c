"""Recurrent cells, each a few lines of tensor algebra next to its equations (Goodfellow et al.
2016, §10.2 and §10.10; Hochreiter & Schmidhuber 1997; Cho et al. 2014; docs/references.md).

A cell is called as PyTorch's cells are, on the raw input of one time step::

    h = tg.nn.GRUCell(3, 4)(x, hx)             # x (batch, 3) or (3,); hx=None means zeros
    h, c = tg.nn.LSTMCell(3, 4)(x, (h, c))

The contract every cell keeps, so that the sequence layers (``tg.nn.Recurrent``, ``RNN``,
``LSTM``, ``GRU``) can run it:

- ``project(x)``: the input's contribution to every gate, for all time steps at once (one matrix
  product over a (T, B, input_size) tensor; the efficient method of Géron 2017, ch. 14);
- ``step(x_proj, state) -> (output, state)``: one time step from the *projected* input, no
  checks (the layers check their input once per sequence);
- ``initial_state(batch_size, like)``: the zero state, a tensor or a tuple of tensors shaped
  (batch, ·) on ``like``'s device and dtype;
- ``input_size``, ``output_size``: the feature sizes of the input and of ``output``.

``RecurrentCell.forward(x, hx=None)``, the direct call, is ``step(project(x), hx)`` with the
checks of the input and the state, so a cell written by a user gets it for free. The two names
differ on purpose: ``cell(x_proj, state)`` on an already projected input is refused by the size
check instead of silently projecting twice.

Weights have PyTorch's names, shapes and gate order, so a converted PyTorch ``state_dict`` loads
as is. The hidden-side bias ``bias_hh`` is folded into ``project`` wherever it enters the gates
additively (RNN, LSTM): one addition per sequence instead of one per step.
"""
import math

from .. import creation
from ..checks import flag, in_range, integer
from ..tensor import Tensor
from . import functional as F, init
from .module import Module, Parameter


def check_nonlinearity(owner, value):
    if value not in ("tanh", "relu"):
        raise ValueError(f"{owner}: nonlinearity must be 'tanh' or 'relu', got {value!r}")
    return value


def check_lstm_options(owner, hidden_size, bias, peephole, forget_gate, forget_bias, proj_size):
    """The LSTM variant options, checked once for ``LSTMCell`` and ``LSTM`` (each names itself)."""
    peephole = flag(owner, "peephole", peephole)
    forget_gate = flag(owner, "forget_gate", forget_gate)
    forget_bias = in_range(owner, "forget_bias", forget_bias, -math.inf)
    proj_size = integer(owner, "proj_size", proj_size, 0)
    if proj_size >= hidden_size and proj_size:
        raise ValueError(f"{owner}: proj_size must be in [0, hidden_size={hidden_size}), "
                         f"got {proj_size}")
    if forget_bias and not forget_gate:
        raise ValueError(f"{owner}: forget_bias needs the forget gate (forget_gate=True)")
    if forget_bias and not bias:
        raise ValueError(f"{owner}: forget_bias needs bias=True")
    return peephole, forget_gate, forget_bias, proj_size


class RecurrentCell(Module):
    """Base class: holds ``weight_ih``/``weight_hh`` (and biases) of ``gates`` blocks each, drawn
    from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)) as PyTorch does, projects the input and
    gives the direct call ``cell(x, hx=None)``. A subclass writes ``step`` (and
    ``initial_state`` when its state is not one (batch, hidden_size) tensor)."""

    state_names = None  # names of the parts of a tuple state, for error messages: ("h", "c")

    def __init__(self, input_size, hidden_size, gates, bias=True, recurrent_size=None):
        super().__init__()
        name = type(self).__name__
        self.input_size = integer(name, "input_size", input_size, 1)
        self.hidden_size = integer(name, "hidden_size", hidden_size, 1)
        gates, bias = integer(name, "gates", gates, 1), flag(name, "bias", bias)
        self.output_size = self.hidden_size
        recurrent_size = self.hidden_size if recurrent_size is None else recurrent_size
        self.weight_ih = self._weight(gates * self.hidden_size, self.input_size)
        self.weight_hh = self._weight(gates * self.hidden_size, recurrent_size)
        self.bias_ih = self._weight(gates * self.hidden_size) if bias else None
        self.bias_hh = self._weight(gates * self.hidden_size) if bias else None

    def _weight(self, *shape):
        bound = 1.0 / math.sqrt(self.hidden_size)
        return init.uniform_(Parameter(creation.zeros(*shape)), -bound, bound)

    def project(self, x):
        """x @ weight_ih.T + bias_ih + bias_hh over any leading axes."""
        bias = self.bias_ih + self.bias_hh if self.bias_ih is not None else None
        return F.linear(x, self.weight_ih, bias)

    def step(self, x_proj, state):
        """One time step from the projected input: ``(output, new_state)``."""
        raise NotImplementedError(f"{type(self).__name__}: a cell implements step(x_proj, state) "
                                  f"-> (output, new_state), one time step from the projected "
                                  f"input (see tg.nn.cells)")

    def initial_state(self, batch_size, like):
        return creation.zeros(batch_size, self.hidden_size, dtype=like.dtype, device=like.device)

    def forward(self, x, hx=None):
        """``cell(x, hx=None)``: one time step on the raw input, as ``torch.nn.*Cell`` is called.

        x: (batch, input_size), or (input_size,) for one unbatched sample. hx: the state as the
        cell returns it (a tensor, or a tuple such as LSTM's (h, c)), each tensor (batch, ·), or
        (·,) when x is unbatched; None means zeros. Returns the new state, as PyTorch's cells
        do: h' for RNN and GRU cells, (h', c') for LSTM cells.
        """
        self._check_input(x)
        unbatched = x.ndim == 1
        state = self._checked_state(hx, x) if hx is not None else None
        if unbatched:
            x = x.unsqueeze(0)
            state = _map_state(lambda part: part.unsqueeze(0), state)
        if state is None:
            state = self.initial_state(x.shape[0], x)
        _, state = checked_step(self, self.step(self.project(x), state), state)
        return _map_state(lambda part: part.squeeze(0), state) if unbatched else state

    def _check_input(self, x):
        name, size = type(self).__name__, self.input_size
        expected = f"(batch, {size}) or ({size},)"
        if not isinstance(x, Tensor):
            raise TypeError(f"{name}: the input must be a Tensor of shape {expected}, got "
                            f"{type(x).__name__}")
        if x.ndim not in (1, 2) or x.shape[-1] != size:
            projected = getattr(self, "weight_ih", None)
            hint = (" (a projected input goes to step(), not to the call)"
                    if projected is not None and x.shape[-1:] == projected.shape[:1] else "")
            raise ValueError(f"{name}: the input must have shape {expected} "
                             f"(input_size={size}), got shape {x.shape}{hint}")
        weight = next(self.parameters(), None)
        if weight is not None and x.device != weight.device:
            raise ValueError(f"{name}: the input is on {x.device} but the cell's parameters are "
                             f"on {weight.device}: move one (x.to(...) or cell.to(...))")
        if weight is not None and x.dtype != weight.dtype:
            raise ValueError(f"{name}: the input is {x.dtype} but the cell's parameters are "
                             f"{weight.dtype}: convert one (x.astype(...) or cell.to(dtype=...))")

    def _checked_state(self, hx, x):
        """``hx`` (a tuple where the cell's state is one), after checking its structure, its
        shapes against the input's batch and its dtype and device against the input's."""
        name = type(self).__name__
        template = self.initial_state(0, x)  # zero-sized: only its structure and shapes count
        batch = x.shape[:-1]  # () for an unbatched input
        if not isinstance(template, tuple):
            return self._check_state_part(hx, batch + template.shape[1:], x, "hx")
        names = self.state_names or ()
        label = f" ({', '.join(names)})" if len(names) == len(template) else ""
        if not isinstance(hx, (tuple, list)) or len(hx) != len(template):
            got = (f"{type(hx).__name__} of {len(hx)}" if isinstance(hx, (tuple, list))
                   else type(hx).__name__)
            raise TypeError(f"{name}: hx must be a tuple of {len(template)} tensors{label}, "
                            f"got {got}")
        return tuple(self._check_state_part(part, batch + t.shape[1:], x,
                                            f"hx[{k}]" + (f" ({names[k]})" if label else ""))
                     for k, (part, t) in enumerate(zip(hx, template)))

    def _check_state_part(self, part, expected, x, what):
        name = type(self).__name__
        if not isinstance(part, Tensor):
            raise TypeError(f"{name}: {what} must be a Tensor of shape {expected}, got "
                            f"{type(part).__name__}")
        if part.shape != expected:
            raise ValueError(f"{name}: {what} must have shape {expected} for an input of shape "
                             f"{x.shape}, got {part.shape}")
        if part.device != x.device:
            raise ValueError(f"{name}: {what} is on {part.device}, the input on {x.device}")
        if part.dtype != x.dtype:
            raise ValueError(f"{name}: {what} is {part.dtype}, the input {x.dtype}")
        return part

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias_ih is not None}"


def checked_step(cell, result, state):
    """``result``, what ``cell.step(x_proj, state)`` returned, if it is ``(output, new_state)``
    with ``new_state`` shaped as ``state``; else a TypeError naming the cell and what it gave
    (a step that returns only ``h`` would otherwise be unpacked along the batch axis)."""
    if (type(result) is tuple and len(result) == 2 and isinstance(result[0], Tensor)
            and _structure(result[1]) == _structure(state)):
        return result
    raise TypeError(f"{type(cell).__name__}.step returned {_structure(result)}, but a cell's "
                    f"step(x_proj, state) returns (output, new_state), the new state shaped as "
                    f"the state it was given, {_structure(state)} (a cell whose state is its "
                    f"output h returns (h, h))")


def _structure(value):
    """Tensors as their shapes, tuples and lists as tuples of those, anything else by type."""
    if isinstance(value, Tensor):
        return f"Tensor{value.shape}"
    if isinstance(value, (tuple, list)):
        return f"({', '.join(_structure(v) for v in value)}{',' if len(value) == 1 else ''})"
    return type(value).__name__


def _map_state(fn, state):
    """``fn`` applied to each tensor of a state (a tensor, a tuple of them, or None)."""
    if state is None:
        return None
    return tuple(fn(part) for part in state) if isinstance(state, tuple) else fn(state)


class RNNCell(RecurrentCell):
    """Elman's cell (Elman 1990; Goodfellow et al. 2016, §10.2):
    ``h_t = f(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``, f = tanh or relu (the nonsaturating
    activation Géron 2017, ch. 14, offers against vanishing gradients).

    >>> import tinygrad_seq as tg
    >>> cell = tg.nn.RNNCell(3, 5)
    >>> h = cell(tg.randn(2, 3))                    # hx=None: from the zero state
    >>> h = cell(tg.randn(2, 3), h)
    >>> h.shape, cell(tg.randn(3), tg.zeros(5)).shape   # batched, and one unbatched sample
    ((2, 5), (5,))
    """

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh"):
        nonlinearity = check_nonlinearity("RNNCell", nonlinearity)
        super().__init__(input_size, hidden_size, 1, bias)
        self.nonlinearity = nonlinearity

    def step(self, x_proj, h):
        pre = x_proj + F.linear(h, self.weight_hh)
        h = pre.tanh() if self.nonlinearity == "tanh" else pre.relu()
        return h, h


class LSTMCell(RecurrentCell):
    """Long short-term memory (Hochreiter & Schmidhuber 1997; the forget gate of Gers et al.
    2000), gates in PyTorch's order i, f, g, o::

        i, f, g, o = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh
        c_t = σ(f) * c_{t-1} + σ(i) * tanh(g)
        h_t = σ(o) * tanh(c_t)

    Variants:

    - ``peephole=True`` (Gers & Schmidhuber 2000; TensorFlow's ``use_peepholes``): the cell
      state feeds the gates through diagonal weights ``weight_ci``, ``weight_cf`` (seeing
      c_{t-1}) and ``weight_co`` (seeing c_t);
    - ``forget_gate=False``: the original LSTM (Hochreiter & Schmidhuber 1997), input and
      output gates around a constant error carousel ``c_t = c_{t-1} + σ(i) * tanh(g)``; gates
      i, g, o (3 blocks);
    - ``proj_size > 0``: h_t is projected by ``weight_hr`` (proj_size, hidden_size), as PyTorch's
      ``LSTM`` does (``torch.nn.LSTMCell`` has no ``proj_size``);
    - ``forget_bias``: added to the forget gate's ``bias_ih`` at initialisation (TensorFlow uses 1.0).

    The state is the tuple (h, c) (TensorFlow's ``state_is_tuple``, Géron 2017, ch. 14), and the
    call returns it:

    >>> import tinygrad_seq as tg
    >>> cell = tg.nn.LSTMCell(3, 5, proj_size=2)
    >>> h, c = cell(tg.randn(4, 3))
    >>> h, c = cell(tg.randn(4, 3), (h, c))
    >>> h.shape, c.shape
    ((4, 2), (4, 5))
    """

    state_names = ("h", "c")

    def __init__(self, input_size, hidden_size, bias=True, peephole=False, forget_gate=True,
                 forget_bias=0.0, proj_size=0):
        hidden_size = integer("LSTMCell", "hidden_size", hidden_size, 1)
        bias = flag("LSTMCell", "bias", bias)
        peephole, forget_gate, forget_bias, proj_size = check_lstm_options(
            "LSTMCell", hidden_size, bias, peephole, forget_gate, forget_bias, proj_size)
        gates = 4 if forget_gate else 3
        super().__init__(input_size, hidden_size, gates, bias, recurrent_size=proj_size or hidden_size)
        self.peephole, self.forget_gate, self.proj_size = peephole, forget_gate, proj_size
        if forget_bias:
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

    def step(self, x_proj, state):
        h, c = state
        gates = x_proj + F.linear(h, self.weight_hh)
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
            h = F.linear(h, self.weight_hr)
        return h, (h, c)

    def extra_repr(self):
        extra = "".join(f", {k}={v}" for k, v in (("peephole", self.peephole),
                        ("forget_gate", self.forget_gate), ("proj_size", self.proj_size))
                        if v != {"peephole": False, "forget_gate": True, "proj_size": 0}[k])
        return super().extra_repr() + extra


class GRUCell(RecurrentCell):
    """Gated recurrent unit (Cho et al. 2014), gates in PyTorch's order r, z, n::

        r = σ(W_ir x + b_ir + W_hr h + b_hr)          z = σ(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn))      (reset_after=True: PyTorch, cuDNN)
        n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)      (reset_after=False: Cho et al. 2014)
        h' = (1 - z) * n + z * h

    >>> import tinygrad_seq as tg
    >>> cell = tg.nn.GRUCell(3, 4)
    >>> cell(tg.randn(2, 3), tg.zeros(2, 4)).shape
    (2, 4)
    """

    def __init__(self, input_size, hidden_size, bias=True, reset_after=True):
        reset_after = flag("GRUCell", "reset_after", reset_after)
        super().__init__(input_size, hidden_size, 3, bias)
        self.reset_after = reset_after

    def project(self, x):
        # bias_hh cannot be folded in: its n block sits inside the reset gate
        return F.linear(x, self.weight_ih, self.bias_ih)

    def step(self, x_proj, h):
        H = self.hidden_size
        x_r, x_z, x_n = x_proj.chunk(3, axis=-1)
        if self.reset_after:
            hidden = F.linear(h, self.weight_hh)
            if self.bias_hh is not None:
                hidden = hidden + self.bias_hh
            h_r, h_z, h_n = hidden.chunk(3, axis=-1)
            r, z = (x_r + h_r).sigmoid(), (x_z + h_z).sigmoid()
            n = (x_n + r * h_n).tanh()
        else:
            weight_rz, weight_n = self.weight_hh.split([2 * H, H], axis=0)
            hidden = F.linear(h, weight_rz)
            if self.bias_hh is not None:
                bias_rz, bias_n = self.bias_hh.split([2 * H, H], axis=0)
                hidden = hidden + bias_rz
            h_r, h_z = hidden.chunk(2, axis=-1)
            r, z = (x_r + h_r).sigmoid(), (x_z + h_z).sigmoid()
            reset = F.linear(r * h, weight_n)
            n = (x_n + (reset + bias_n if self.bias_hh is not None else reset)).tanh()
        h = n + z * (h - n)
        return h, h

    def extra_repr(self):
        return super().extra_repr() + ("" if self.reset_after else ", reset_after=False")
