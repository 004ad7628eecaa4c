"""Sequence layers: run cells over time, stacked, in both directions, over variable lengths.

Back-propagation through time is not written anywhere: each step is ordinary ops, so the
backward walk of the graph is BPTT. What the layer adds around the cell:

- one matrix product projects the inputs of all time steps (``cell.project``) and one op
  (``unbind``) splits the result along time; ``cell.step`` runs each step from its slice (the
  cell's own call, ``cell(x, hx)``, takes the raw input and is for single steps);
- ``lengths``: at steps past a sequence's end its state is carried unchanged and its output is
  zero, so the final state is the one at its last real step and the reverse direction starts
  there;
- dropout between stacked layers (train mode only), optionally one mask per sequence
  (variational dropout) reused at every step.

``RNN``, ``LSTM`` and ``GRU`` run all this as one fused node instead (``tg.nn.fused``: a
hand-written BPTT, property-tested equal to the declared cells) unless built with
``fused=False``; ``Recurrent`` and the variants without a kernel run the declared cells.
"""
import warnings

import numpy as np

from .. import backend, creation, ops
from ..tensor import Tensor
from . import functional as F, fused as fused_kernels
from ..checks import flag, in_range, integer
from .cells import (RNNCell, LSTMCell, GRUCell, RecurrentCell, check_lstm_options,
                    check_nonlinearity, checked_step)
from .module import Module, ModuleList


class _SequenceLayer(Module):
    """The run over time shared by ``Recurrent`` and ``RNN``/``LSTM``/``GRU``; subclasses set
    ``self._directions``: for each layer, the tuple of its cells (forward, [reverse])."""

    _variants = ()  # (option, default) pairs that repr shows when changed

    def _setup(self, num_layers, bidirectional, batch_first, dropout, variational_dropout):
        name = type(self).__name__
        batch_first = flag(name, "batch_first", batch_first)
        dropout = in_range(name, "dropout", dropout, 0.0, 1.0, include_high=True)
        variational_dropout = flag(name, "variational_dropout", variational_dropout)
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"{type(self).__name__}: dropout={dropout} acts between stacked layers "
                          f"and never after the last one, so it does nothing with num_layers=1",
                          stacklevel=3)
        self.num_layers, self.bidirectional = num_layers, bidirectional
        self.batch_first, self.dropout = batch_first, dropout
        self.variational_dropout = variational_dropout

    def forward(self, x, state=None, lengths=None):
        """``out, state = layer(x, state=None, lengths=None)``.

        x: (T, B, input_size), or (B, T, input_size) with ``batch_first``. state: as returned,
        zeros when None; for RNN/LSTM/GRU PyTorch's layout, each tensor (num_layers *
        num_directions, B, ·); for ``Recurrent`` a list of the cells' own states, one per layer
        and direction (layer-major, forward before reverse), since its cells may differ.
        lengths: B integers in [0, T] (a list, array or tensor on any device, in any order);
        the input at and past a sequence's length is never read (NaN padding is harmless).
        out: (T, B, num_directions * output_size) (batch first with ``batch_first``), zero past
        each sequence's end. One unbatched sequence (T, input_size) is taken as PyTorch takes
        it (whatever ``batch_first``): out (T, ·) and the state without their batch axis, in
        and out; ``lengths`` are refused then.
        """
        name = type(self).__name__
        if isinstance(x, Tensor) and x.ndim == 2:
            return self._unbatched(x, state, lengths)
        if not isinstance(x, Tensor) or x.ndim != 3:
            raise ValueError(f"{name}: expected a 3-axis input "
                             f"({'B, T' if self.batch_first else 'T, B'}, input_size) or one "
                             f"unbatched sequence (T, input_size), got "
                             f"{'shape ' + str(x.shape) if isinstance(x, Tensor) else type(x).__name__}")
        steps, batch = x.shape[1::-1] if self.batch_first else x.shape[:2]
        first = self._directions[0][0]
        if x.shape[2] != first.input_size:
            raise ValueError(f"{name}: input has {x.shape[2]} features, the layer expects "
                             f"input_size={first.input_size}")
        if steps == 0:
            raise ValueError(f"{name}: the input has 0 time steps")
        weight = next(first.parameters(), None)
        if weight is not None and x.dtype != weight.dtype:
            raise ValueError(f"{name}: the input is {x.dtype} but the layer's parameters are "
                             f"{weight.dtype}: convert one (x.astype(...) or layer.to(dtype=...))")
        masks, running = _step_masks(lengths, steps, batch, x, name)
        cells = [cell for layer in self._directions for cell in layer]
        kernel = self._fused_kernel()
        if kernel is not None:
            stacked = None if state is None else self._stacked_state(state, cells, batch, x)
            return fused_kernels.run(self, x, stacked, masks, kernel)
        if self.batch_first:
            x = x.swapaxes(0, 1)
        if running is not None:
            # the padding is selected away, never read: masking the steps' results by a
            # product would let a NaN there through (0 * NaN is NaN), forward and backward
            x = ops.where(running, x, 0.0)
        states = ([cell.initial_state(batch, x) for cell in cells] if state is None
                  else self._initial_states(state, cells, batch, x))
        finals = []
        for k, layer in enumerate(self._directions):
            if k > 0:
                x = self._drop_between_layers(x)
            outs = []
            for d, cell in enumerate(layer):
                out, final = _run(cell, x, states[k * len(layer) + d], masks, reverse=d == 1)
                outs.append(out)
                finals.append(final)
            x = outs[0] if len(outs) == 1 else ops.concatenate(outs, axis=-1)
        if self.batch_first:
            x = x.swapaxes(0, 1)
        return x, self._final_state(finals)

    _state_batch_axis = 0  # the batch axis of each state tensor: (B, ·) for a cell's own state

    def _unbatched(self, x, state, lengths):
        """One sequence (T, input_size) without a batch axis, as PyTorch takes it: run as a
        batch of one, the state without the batch axis in and out."""
        name, axis = type(self).__name__, self._state_batch_axis
        if lengths is not None:
            raise ValueError(f"{name}: lengths are for a batch of sequences; an unbatched input "
                             f"(T, input_size) is one sequence of T steps (slice it to its "
                             f"length, or add a batch axis)")

        def add_batch_axis(part):
            if isinstance(part, Tensor) and part.ndim != axis + 1:
                raise ValueError(f"{name}: for an unbatched input (T, input_size) each state "
                                 f"tensor has no batch axis ({axis + 1}-D), got shape "
                                 f"{part.shape}")
            return part.unsqueeze(axis) if isinstance(part, Tensor) else part

        if state is not None:
            state = _map_tensors(add_batch_axis, state)
        out, final = self.forward(x.unsqueeze(0 if self.batch_first else 1), state)
        return (out.squeeze(0 if self.batch_first else 1),
                _map_tensors(lambda part: part.squeeze(axis), final))

    def _fused_kernel(self):
        """The factory of the fused kernel that runs this layer, or None for the declared cells."""
        return None

    def _final_state(self, finals):
        """The per-(layer, direction) final states, joined as the layer returns them."""
        return finals

    def _initial_states(self, state, cells, batch, x):
        """The per-(layer, direction) states from ``state`` (as ``_final_state`` gives it)."""
        if not isinstance(state, (list, tuple)) or len(state) != len(cells):
            raise ValueError(f"{type(self).__name__}: state must be a list of {len(cells)} cell "
                             f"states (one per layer and direction, as the layer returns it), "
                             f"got {type(state).__name__}")
        for k, (cell, given) in enumerate(zip(cells, state)):
            expected = _shapes(cell.initial_state(batch, x))
            if _shapes(given) != expected:
                raise ValueError(f"{type(self).__name__}: state[{k}] has shapes {_shapes(given)}, "
                                 f"its cell ({type(cell).__name__}) expects {expected}")
            for part in (given if isinstance(given, (tuple, list)) else (given,)):
                self._check_like_input(part, x, f"state[{k}]")
        return list(state)

    def _check_like_input(self, part, x, what):
        """A state tensor must live where the input does, in its dtype."""
        if part.device != x.device:
            raise ValueError(f"{type(self).__name__}: {what} is on {part.device}, the input on {x.device}")
        if part.dtype != x.dtype:
            raise ValueError(f"{type(self).__name__}: {what} is {part.dtype}, the input {x.dtype}")

    def _drop_between_layers(self, x):
        if not self.dropout or not self.training:
            return x
        if not self.variational_dropout:
            return F.dropout(x, self.dropout, training=True)
        # one mask per sequence and feature, the same at every step (Gal & Ghahramani)
        mask = F.dropout(creation.ones(*x.shape[1:], dtype=x.dtype, device=x.device), self.dropout)
        return x * mask

    def extra_repr(self):
        first = self._directions[0][0]
        text = f"{first.input_size}, {first.hidden_size}"
        for key, default in (("num_layers", 1), ("batch_first", False), ("dropout", 0.0),
                             ("variational_dropout", False), ("bidirectional", False)) + self._variants:
            if getattr(self, key) != default:
                text += f", {key}={getattr(self, key)}"
        return text


def _map_tensors(fn, state):
    """``fn`` applied to every tensor of a (nested) state, tuples and lists kept as they are."""
    if isinstance(state, (tuple, list)):
        return type(state)(_map_tensors(fn, part) for part in state)
    return fn(state)


def _shapes(state):
    """The shape of a state tensor, or the tuple of shapes of a tuple state."""
    if isinstance(state, Tensor):
        return state.shape
    if isinstance(state, (tuple, list)):
        return tuple(_shapes(s) for s in state)
    return type(state).__name__


def _step_masks(lengths, steps, batch, x, name):
    """``(masks, running)``. masks: for each step, None when every sequence is still running,
    else the pair (keep, scale): keep (B, 1) bool for the state, scale (B, 1) in x's dtype
    zeroing finished outputs. running: (T, B, 1) bool, False at and past each sequence's
    length, or None where no sequence ends before T. Both None without ``lengths``."""
    if lengths is None:
        return None, None
    if isinstance(lengths, Tensor):
        host = lengths.numpy()
    else:
        host = np.asarray(lengths)
    if host.shape != (batch,) or (host.size and host.dtype.kind not in "iu"):
        raise ValueError(f"{name}: lengths must be {batch} integers (one per sequence), got "
                         f"shape {host.shape} of {host.dtype}")
    if host.size and (host.min() < 0 or host.max() > steps):
        bad = host[(host < 0) | (host > steps)][0]
        raise ValueError(f"{name}: lengths must lie in [0, {steps}] (the number of steps), "
                         f"got {bad}")
    xp = backend.xp_of(x.device)
    with backend.get_device(x.device).activate():
        running = xp.asarray(np.arange(steps)[:, None] < host[None, :])[..., None]  # (T, B, 1)
        scale = running.astype(x.dtype)
    shortest = int(host.min()) if host.size else steps
    masks = [None if t < shortest else (Tensor._make(running[t], x.device, None, 0),
                                        Tensor._make(scale[t], x.device, None, 0))
             for t in range(steps)]
    return masks, (Tensor._make(running, x.device, None, 0) if shortest < steps else None)


def _check_contract(cell, where):
    """A cell given to ``Recurrent`` keeps the cell contract (``tg.nn.cells``), so that a cell
    written for the old contract (``forward(x_proj, state)``, no ``step``) fails here, when
    built, and not inside the first forward."""
    missing = [member for member in ("input_size", "output_size", "project", "step",
                                     "initial_state") if not hasattr(cell, member)]
    if isinstance(cell, RecurrentCell) and type(cell).step is RecurrentCell.step:
        missing.append("step")
    if missing or not isinstance(cell, Module):
        raise TypeError(f"Recurrent: {where} ({type(cell).__name__}) does not keep the cell "
                        f"contract: it needs to be a Module with project(x), step(x_proj, state), "
                        f"initial_state(batch_size, like), input_size and output_size; lacks "
                        f"{', '.join(missing) or 'Module'}")


def _run(cell, x, state, masks, reverse):
    """One cell over the whole sequence x (T, B, ·): (outputs (T, B, ·), final state)."""
    steps = cell.project(x).unbind(0)
    outputs = [None] * len(steps)
    for k, t in enumerate(reversed(range(len(steps))) if reverse else range(len(steps))):
        result = cell.step(steps[t], state)
        out, new_state = result if k else checked_step(cell, result, state)  # once a sequence
        mask = masks[t] if masks is not None else None
        if mask is not None:
            keep, scale = mask
            if isinstance(new_state, tuple):
                new_state = tuple(ops.where(keep, n, s) for n, s in zip(new_state, state))
            else:
                new_state = ops.where(keep, new_state, state)
            out = out * scale
        state = new_state
        outputs[t] = out
    return ops.stack(outputs, axis=0), state


class Recurrent(_SequenceLayer):
    """Any cells that keep the cell contract (``tg.nn.cells``), run over sequences.

    ``cells``: one cell per stacked layer; ``reverse_cells``: as many again for the reverse
    direction (bidirectional). The input size of layer k + 1 must be the output size of layer k
    (times two when bidirectional). Layers may differ in kind and size, so the state is a list
    of the cells' own states, one per layer and direction.

    >>> import tinygrad_seq as tg
    >>> layer = tg.nn.Recurrent([tg.nn.LSTMCell(4, 8), tg.nn.GRUCell(8, 6)], dropout=0.1)
    >>> out, (lstm_state, gru_state) = layer(tg.randn(6, 3, 4), lengths=[6, 2, 0])
    >>> out.shape, lstm_state[1].shape, gru_state.shape
    ((6, 3, 6), (3, 8), (3, 6))
    """

    def __init__(self, cells, reverse_cells=None, batch_first=False, dropout=0.0,
                 variational_dropout=False):
        super().__init__()
        cells = list(cells)
        if not cells:
            raise ValueError("Recurrent: needs at least one cell")
        for group, given in (("cells", cells), ("reverse_cells", reverse_cells or ())):
            for k, cell in enumerate(given):
                _check_contract(cell, f"{group}[{k}]")
        self.cells = ModuleList(cells)
        if reverse_cells is not None:
            reverse_cells = list(reverse_cells)
            if len(reverse_cells) != len(cells):
                raise ValueError(f"Recurrent: {len(cells)} cells but {len(reverse_cells)} reverse cells")
            self.reverse_cells = ModuleList(reverse_cells)
        directions = [cells] if reverse_cells is None else [cells, reverse_cells]
        for k in range(len(cells)):
            expected = cells[0].input_size if k == 0 else sum(d[k - 1].output_size for d in directions)
            for name, d in zip(("cells", "reverse_cells"), directions):
                if d[k].input_size != expected:
                    source = (f"cells[0] takes {expected}" if k == 0
                              else f"layer {k - 1} gives {expected} features")
                    raise ValueError(f"Recurrent: {name}[{k}] takes input_size={d[k].input_size} "
                                     f"but {source}")
        self._directions = [tuple(d[k] for d in directions) for k in range(len(cells))]
        self._setup(len(cells), reverse_cells is not None, batch_first, dropout, variational_dropout)


class _TorchLayout(_SequenceLayer):
    """RNN/LSTM/GRU: cells built from PyTorch's constructor, parameters registered under PyTorch's
    names (weight_ih_l0, bias_hh_l1_reverse, weight_hr_l0, ...)."""

    _state_batch_axis = 1  # (num_layers * num_directions, B, ·)

    def __init__(self, make_cell, input_size, hidden_size, num_layers, bias, batch_first, dropout,
                 bidirectional, variational_dropout, fused):
        super().__init__()
        name = type(self).__name__
        input_size = integer(name, "input_size", input_size, 1)
        hidden_size = integer(name, "hidden_size", hidden_size, 1)
        num_layers = integer(name, "num_layers", num_layers, 1)
        bias = flag(name, "bias", bias)
        bidirectional = flag(name, "bidirectional", bidirectional)
        self.input_size, self.hidden_size = input_size, hidden_size
        directions = 2 if bidirectional else 1
        self._directions = []
        layer_input = input_size
        for k in range(num_layers):
            layer = []
            for d in range(directions):
                cell = make_cell(layer_input)
                for pname, p in cell._parameters.items():
                    if p is not None:
                        stem, _, kind = pname.partition("_")
                        setattr(self, f"{stem}_{kind}_l{k}{'_reverse' if d else ''}", p)
                layer.append(cell)
            layer_input = layer[0].output_size * directions
            self._directions.append(tuple(layer))
        self._setup(num_layers, bidirectional, batch_first, dropout, variational_dropout)
        self.fused = flag(type(self).__name__, "fused", fused)

    def _fused_kernel(self):
        return fused_kernels.kernel_maker(self._directions[0][0]) if self.fused else None

    def _final_state(self, finals):
        if isinstance(finals[0], tuple):
            return tuple(ops.stack(part, axis=0) for part in zip(*finals))
        return ops.stack(finals, axis=0)

    def _initial_states(self, state, cells, batch, x):
        """The per-(layer, direction) states from PyTorch's stacked ``state``."""
        parts = self._stacked_state(state, cells, batch, x)
        if len(parts) > 1:
            return list(zip(*[p.unbind(0) for p in parts]))
        return list(parts[0].unbind(0))

    def _stacked_state(self, state, cells, batch, x):
        """PyTorch's stacked ``state`` checked, as a tuple of its tensors ((h,) or (h, c))."""
        template = cells[0].initial_state(batch, x)
        name = type(self).__name__
        if isinstance(template, tuple):
            if not isinstance(state, (tuple, list)) or len(state) != len(template):
                raise ValueError(f"{name}: state must be a tuple of {len(template)} tensors "
                                 f"(as the layer returns it), got {type(state).__name__}")
            return tuple(self._check_state(s, t, len(cells), x, f"state[{i}]")
                         for i, (s, t) in enumerate(zip(state, template)))
        return (self._check_state(state, template, len(cells), x, "state"),)

    def _check_state(self, s, template, count, x, what):
        expected = (count,) + template.shape
        if not isinstance(s, Tensor) or s.shape != expected:
            got = s.shape if isinstance(s, Tensor) else type(s).__name__
            raise ValueError(f"{type(self).__name__}: {what} must have shape {expected} "
                             f"(num_layers * num_directions, batch, size), got {got}")
        self._check_like_input(s, x, what)
        return s


class RNN(_TorchLayout):
    """Elman RNN layer with PyTorch's constructor, parameter names and shapes.

    ``fused=True`` (the default) runs the whole layer, every layer and direction, as one node
    of the graph with a hand-written BPTT (``tg.nn.fused``); ``fused=False`` runs the declared
    cells step by step, the reference the fused kernel is tested against. The attribute can be
    switched after construction.

    >>> import tinygrad_seq as tg
    >>> rnn = tg.nn.RNN(10, 20, num_layers=2)
    >>> out, h_n = rnn(tg.randn(5, 3, 10))
    >>> out.shape, h_n.shape
    ((5, 3, 20), (2, 3, 20))
    """

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, variational_dropout=False,
                 fused=True):
        nonlinearity = check_nonlinearity("RNN", nonlinearity)
        super().__init__(lambda size: RNNCell(size, hidden_size, bias, nonlinearity), input_size,
                         hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         variational_dropout, fused)
        self.nonlinearity, self.bias = nonlinearity, bias

    _variants = (("nonlinearity", "tanh"), ("bias", True), ("fused", True))


class LSTM(_TorchLayout):
    """LSTM layer with PyTorch's constructor, parameter names and shapes, plus the cell variants
    of ``LSTMCell`` (peephole, forget_gate=False, forget_bias). State: ``(h_n, c_n)``.

    ``fused=True`` (the default) runs the whole layer, every layer and direction, as one node
    of the graph with a hand-written BPTT (``tg.nn.fused``); ``fused=False`` runs the declared
    cells step by step, the reference the fused kernel is tested against. The attribute can be
    switched after construction. ``proj_size`` and ``forget_bias`` are fused too; the
    peephole and forget_gate=False variants have no fused kernel and always run the declared
    cells, whatever ``fused`` says.

    >>> import tinygrad_seq as tg
    >>> lstm = tg.nn.LSTM(10, 20, bidirectional=True, proj_size=8)
    >>> out, (h_n, c_n) = lstm(tg.randn(5, 3, 10), lengths=[5, 1, 3])
    >>> out.shape, h_n.shape, c_n.shape
    ((5, 3, 16), (2, 3, 8), (2, 3, 20))
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, peephole=False, forget_gate=True,
                 forget_bias=0.0, variational_dropout=False, fused=True):
        # checked here too, so that the error names LSTM rather than the cell it builds
        hidden_size = integer("LSTM", "hidden_size", hidden_size, 1)
        bias = flag("LSTM", "bias", bias)
        peephole, forget_gate, forget_bias, proj_size = check_lstm_options(
            "LSTM", hidden_size, bias, peephole, forget_gate, forget_bias, proj_size)
        super().__init__(lambda size: LSTMCell(size, hidden_size, bias, peephole, forget_gate,
                                               forget_bias, proj_size),
                         input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, variational_dropout, fused)
        self.proj_size, self.peephole, self.forget_gate = proj_size, peephole, forget_gate
        self.forget_bias, self.bias = forget_bias, bias

    _variants = (("bias", True), ("proj_size", 0), ("peephole", False), ("forget_gate", True),
                 ("forget_bias", 0.0), ("fused", True))


class GRU(_TorchLayout):
    """GRU layer with PyTorch's constructor, parameter names and shapes; ``reset_after=False``
    gives the form of Cho et al. 2014 (see ``GRUCell``).

    ``fused=True`` (the default) runs the whole layer, every layer and direction, as one node
    of the graph with a hand-written BPTT (``tg.nn.fused``); ``fused=False`` runs the declared
    cells step by step, the reference the fused kernel is tested against. The attribute can be
    switched after construction. Both forms are fused.

    >>> import tinygrad_seq as tg
    >>> gru = tg.nn.GRU(10, 20, batch_first=True, reset_after=False)
    >>> out, h_n = gru(tg.randn(3, 5, 10), lengths=[5, 0, 2])
    >>> out.shape, h_n.shape
    ((3, 5, 20), (1, 3, 20))
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, reset_after=True, variational_dropout=False,
                 fused=True):
        reset_after = flag("GRU", "reset_after", reset_after)
        super().__init__(lambda size: GRUCell(size, hidden_size, bias, reset_after), input_size,
                         hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         variational_dropout, fused)
        self.reset_after, self.bias = reset_after, bias

    _variants = (("bias", True), ("reset_after", True), ("fused", True))
