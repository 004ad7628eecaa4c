"""Sequence layers: run cells over time, stacked, in both directions, over variable lengths.

Back-propagation through time is not written here: each direction is one ``tg.scan`` of its
cell's ``step``, whose backward is BPTT. What the layer adds around the cell:

- one matrix product projects the inputs of all time steps (``cell.project``) before the
  scan; ``cell.step`` runs each step from its slice (the cell's own call, ``cell(x, hx)``,
  takes the raw input and is for single steps);
- ``lengths``: at steps past a sequence's end its state is carried unchanged and its output is
  zero (``tg.scan``'s ``lengths``), so the final state is the one at its last real step and the
  reverse direction starts there;
- dropout between stacked layers (train mode only), optionally one mask per sequence
  (variational dropout) reused at every step.

``engine`` says what runs the loop: ``"graph"`` (every op of every step a node: the reference,
what the inspectors walk), ``"compiled"`` (the step recorded once and replayed as one node,
``tg.scan``), ``"fused"`` (RNN/LSTM/GRU's hand-written BPTT, ``tg.nn.fused``, property-tested
equal to the declared cells) or ``"auto"`` (``"fused"`` where a kernel exists, else
``"compiled"``, which falls back to ``"graph"`` with a warning for a step it cannot record).
The engines receive plain data (cells, masks, dropout masks), never the layer.
"""
import warnings

from .. import creation, lengths as sequence_lengths, ops
from ..loop import scan
from ..tensor import Tensor
from . import functional as F, fused as fused_kernels
from ..checks import flag, in_range, integer
from .cells import (RNNCell, LSTMCell, GRUCell, RecurrentCell, check_lstm_options,
                    check_nonlinearity, checked_step)
from .module import Module, ModuleList

ENGINES = ("auto", "graph", "compiled", "fused")


class SequenceLayer(Module):
    """The run over time shared by ``Recurrent`` and ``RNN``/``LSTM``/``GRU``; subclasses set
    ``self._directions``: for each layer, the tuple of its cells (forward, [reverse]), and
    ``self.engine``."""

    _variants = ()  # (option, default) pairs that repr shows when changed

    def _setup(self, num_layers, bidirectional, batch_first, dropout, variational_dropout, engine):
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
        self.engine = engine

    @property
    def engine(self):
        """What runs the loop over time: "auto", "graph", "compiled" or "fused" (see the
        module's text). Settable; "fused" is refused, naming the cell, where no hand-written
        kernel exists."""
        return self._engine

    @engine.setter
    def engine(self, value):
        name = type(self).__name__
        if not isinstance(value, str) or value not in ENGINES:
            raise ValueError(f"{name}: engine must be one of {', '.join(map(repr, ENGINES))}, "
                             f"got {value!r}")
        if value == "fused" and self._kernel() is None:
            raise ValueError(f"{name}: engine='fused' runs a hand-written kernel, and "
                             f"{self._without_kernel()} has none; use engine='compiled' (the "
                             f"recorded step), 'graph' or 'auto'")
        self._engine = value

    @property
    def cells_by_layer(self):
        """For each stacked layer, the tuple of its cells: (forward,) or (forward, reverse)."""
        return tuple(self._directions)

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
        lengths = _checked_lengths(lengths, steps, batch, name)
        engine = self.engine
        if engine == "auto":  # the kernel where there is one, else scan's own choice
            engine = "fused" if self._kernel() is not None else "auto"
        if engine == "fused":
            return self._run_fused(x, state, lengths, steps, batch)
        return self._run_scans(x, state, lengths, steps, batch, engine)

    def _run_scans(self, x, state, lengths, steps, batch, engine):
        """Each layer and direction as one ``tg.scan`` of its cell on ``engine``."""
        if self.batch_first:
            x = x.swapaxes(0, 1)
        if lengths is not None:
            # the padding is selected away, never read: masking the steps' results by a
            # product would let a NaN there through (0 * NaN is NaN), forward and backward
            running = sequence_lengths.running(lengths, steps, x.device)[..., None]
            x = ops.where(Tensor._make(running, x.device, None, 0), x, 0.0)
        cells = [cell for layer in self._directions for cell in layer]
        states = ([cell.initial_state(batch, x) for cell in cells] if state is None
                  else self._initial_states(state, cells, batch, x))
        finals = []
        for k, layer in enumerate(self._directions):
            if k > 0:  # drawn here, layer by layer: a cell's own random ops draw in between
                mask = self._dropout_mask(x.shape, x)
                x = x if mask is None else x * mask
            outs = []
            for d, cell in enumerate(layer):
                out, final = _over_time(cell, x, states[k * len(layer) + d], lengths,
                                        reverse=d == 1, engine=engine)
                outs.append(out)
                finals.append(final)
            x = outs[0] if len(outs) == 1 else ops.concatenate(outs, axis=-1)
        if self.batch_first:
            x = x.swapaxes(0, 1)
        return x, self._final_state(finals)

    def _dropout_mask(self, shape, like):
        """None (eval mode, no dropout), or the mask that multiplies a stacked layer's input of
        ``shape`` (T, B, features): one draw per element, or with ``variational_dropout`` one
        per sequence and feature (B, features), the same at every step (Gal & Ghahramani)."""
        if not self.dropout or not self.training:
            return None
        shape = shape[1:] if self.variational_dropout else shape
        return F.dropout(creation.ones(*shape, dtype=like.dtype, device=like.device),
                         self.dropout)

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

    def _kernel(self):
        """The factory of the hand-written kernel that runs this layer, or None."""
        return None

    def _without_kernel(self):
        """What has no kernel, for the error of engine='fused'."""
        names = ", ".join(dict.fromkeys(type(c).__name__ for layer in self._directions
                                        for c in layer))
        return f"a {type(self).__name__} stack of cells ({names})"

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
        # a state given as a list [h, c] is carried as the tuple the cell's step returns
        return [tuple(given) if isinstance(given, list) else given for given in state]

    def _check_like_input(self, part, x, what):
        """A state tensor must live where the input does, in its dtype."""
        if part.device != x.device:
            raise ValueError(f"{type(self).__name__}: {what} is on {part.device}, the input on {x.device}")
        if part.dtype != x.dtype:
            raise ValueError(f"{type(self).__name__}: {what} is {part.dtype}, the input {x.dtype}")

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


def _checked_lengths(lengths, steps, batch, name):
    """``lengths`` checked, as an array of B integers in [0, T] where they live (a GPU's stay
    there; host data as a NumPy array), or None where there are none or no sequence ends
    before T (then nothing needs masking)."""
    if lengths is None:
        return None
    lengths, shortest = sequence_lengths.checked(name, lengths, steps, batch)
    return lengths if shortest < steps else None


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


def _over_time(cell, x, state, lengths, reverse, engine):
    """One cell over the whole sequence x (T, B, ·), one ``tg.scan`` of its step on the
    projected input: (outputs (T, B, ·), final state)."""
    checked = []

    def step(state, x_proj):
        result = cell.step(x_proj, state)
        if not checked:  # once a sequence: the first step shows the cell's contract
            checked.append(True)
            result = checked_step(cell, result, state)
        output, state = result
        return state, output

    final, outputs = scan(step, state, cell.project(x), lengths=lengths, reverse=reverse,
                          engine=engine)
    return outputs, final


class Recurrent(SequenceLayer):
    """Any cells that keep the cell contract (``tg.nn.cells``), run over sequences.

    ``cells``: one cell per stacked layer; ``reverse_cells``: as many again for the reverse
    direction (bidirectional). The input size of layer k + 1 must be the output size of layer k
    (times two when bidirectional). Layers may differ in kind and size, so the state is a list
    of the cells' own states, one per layer and direction.

    ``engine``: "compiled" (what "auto" picks: each step recorded once and replayed as one node,
    falling back to "graph" with a warning where a step cannot be recorded) or "graph" (op by
    op); "fused" is refused, it is RNN/LSTM/GRU's.

    >>> import tinygrad_seq as tg
    >>> layer = tg.nn.Recurrent([tg.nn.LSTMCell(4, 8), tg.nn.GRUCell(8, 6)], dropout=0.1)
    >>> out, (lstm_state, gru_state) = layer(tg.randn(6, 3, 4), lengths=[6, 2, 0])
    >>> out.shape, lstm_state[1].shape, gru_state.shape
    ((6, 3, 6), (3, 8), (3, 6))
    """

    def __init__(self, cells, reverse_cells=None, batch_first=False, dropout=0.0,
                 variational_dropout=False, engine="auto"):
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
        self._setup(len(cells), reverse_cells is not None, batch_first, dropout,
                    variational_dropout, engine)

    _variants = (("engine", "auto"),)


class _TorchLayout(SequenceLayer):
    """RNN/LSTM/GRU: cells built from PyTorch's constructor, parameters registered under PyTorch's
    names (weight_ih_l0, bias_hh_l1_reverse, weight_hr_l0, ...)."""

    _state_batch_axis = 1  # (num_layers * num_directions, B, ·)

    def __init__(self, make_cell, input_size, hidden_size, num_layers, bias, batch_first, dropout,
                 bidirectional, variational_dropout, engine):
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
                for pname, p in cell.named_parameters():
                    stem, _, kind = pname.partition("_")
                    setattr(self, f"{stem}_{kind}_l{k}{'_reverse' if d else ''}", p)
                layer.append(cell)
            layer_input = layer[0].output_size * directions
            self._directions.append(tuple(layer))
        self._setup(num_layers, bidirectional, batch_first, dropout, variational_dropout, engine)

    def _kernel(self):
        return fused_kernels.kernel_maker(self._directions[0][0])

    def _without_kernel(self):
        return repr(self._directions[0][0])

    def _run_fused(self, x, state, lengths, steps, batch):
        """The whole layer as one node of the hand-written kernels, handed plain data: the
        cells, the running mask, the dropout masks between layers (drawn here, in the order
        the scans would draw them)."""
        cells = [cell for layer in self._directions for cell in layer]
        given = None if state is None else self._stacked_state(state, cells, batch, x)
        drops = [None]
        for layer in self._directions[:-1]:
            width = sum(cell.output_size for cell in layer)
            mask = self._dropout_mask((steps, batch, width), x)
            drops.append(None if mask is None else mask.data.reshape(-1, batch, width))
        running = None if lengths is None else sequence_lengths.running(lengths, steps, x.device)
        return fused_kernels.run(x, given, cells, directions=len(self._directions[0]),
                                 batch_first=self.batch_first, running=running, drops=drops)

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

    ``engine="auto"`` (the default) runs the whole layer, every layer and direction, as one
    node of the graph with a hand-written BPTT (``"fused"``, ``tg.nn.fused``); ``"compiled"``
    replays the declared cell's recorded step (``tg.scan``), ``"graph"`` runs it op by op, the
    reference the others are tested against. The attribute can be switched after construction.

    >>> import tinygrad_seq as tg
    >>> rnn = tg.nn.RNN(10, 20, num_layers=2)
    >>> out, h_n = rnn(tg.randn(5, 3, 10))
    >>> out.shape, h_n.shape
    ((5, 3, 20), (2, 3, 20))
    """

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, variational_dropout=False,
                 engine="auto"):
        nonlinearity = check_nonlinearity("RNN", nonlinearity)
        super().__init__(lambda size: RNNCell(size, hidden_size, bias, nonlinearity), input_size,
                         hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         variational_dropout, engine)
        self.nonlinearity, self.bias = nonlinearity, bias

    _variants = (("nonlinearity", "tanh"), ("bias", True), ("engine", "auto"))


class LSTM(_TorchLayout):
    """LSTM layer with PyTorch's constructor, parameter names and shapes, plus the cell variants
    of ``LSTMCell`` (peephole, forget_gate=False, forget_bias). State: ``(h_n, c_n)``.

    ``engine="auto"`` (the default) runs the whole layer, every layer and direction, as one
    node of the graph with a hand-written BPTT (``"fused"``, ``tg.nn.fused``); ``"compiled"``
    replays the declared cell's recorded step (``tg.scan``), ``"graph"`` runs it op by op, the
    reference the others are tested against. The attribute can be switched after construction.
    ``proj_size`` and ``forget_bias`` are fused too; the peephole and forget_gate=False variants
    have no kernel: "auto" runs them "compiled", and "fused" is refused.

    >>> import tinygrad_seq as tg
    >>> lstm = tg.nn.LSTM(10, 20, bidirectional=True, proj_size=8)
    >>> out, (h_n, c_n) = lstm(tg.randn(5, 3, 10), lengths=[5, 1, 3])
    >>> out.shape, h_n.shape, c_n.shape
    ((5, 3, 16), (2, 3, 8), (2, 3, 20))
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, peephole=False, forget_gate=True,
                 forget_bias=0.0, variational_dropout=False, engine="auto"):
        # checked here too, so that the error names LSTM rather than the cell it builds
        hidden_size = integer("LSTM", "hidden_size", hidden_size, 1)
        bias = flag("LSTM", "bias", bias)
        peephole, forget_gate, forget_bias, proj_size = check_lstm_options(
            "LSTM", hidden_size, bias, peephole, forget_gate, forget_bias, proj_size)
        super().__init__(lambda size: LSTMCell(size, hidden_size, bias, peephole, forget_gate,
                                               forget_bias, proj_size),
                         input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, variational_dropout, engine)
        self.proj_size, self.peephole, self.forget_gate = proj_size, peephole, forget_gate
        self.forget_bias, self.bias = forget_bias, bias

    _variants = (("bias", True), ("proj_size", 0), ("peephole", False), ("forget_gate", True),
                 ("forget_bias", 0.0), ("engine", "auto"))


class GRU(_TorchLayout):
    """GRU layer with PyTorch's constructor, parameter names and shapes; ``reset_after=False``
    gives the form of Cho et al. 2014 (see ``GRUCell``).

    ``engine="auto"`` (the default) runs the whole layer, every layer and direction, as one
    node of the graph with a hand-written BPTT (``"fused"``, ``tg.nn.fused``); ``"compiled"``
    replays the declared cell's recorded step (``tg.scan``), ``"graph"`` runs it op by op, the
    reference the others are tested against. The attribute can be switched after construction.
    Both forms are fused.

    >>> import tinygrad_seq as tg
    >>> gru = tg.nn.GRU(10, 20, batch_first=True, reset_after=False)
    >>> out, h_n = gru(tg.randn(3, 5, 10), lengths=[5, 0, 2])
    >>> out.shape, h_n.shape
    ((3, 5, 20), (1, 3, 20))
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, reset_after=True, variational_dropout=False,
                 engine="auto"):
        reset_after = flag("GRU", "reset_after", reset_after)
        super().__init__(lambda size: GRUCell(size, hidden_size, bias, reset_after), input_size,
                         hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         variational_dropout, engine)
        self.reset_after, self.bias = reset_after, bias

    _variants = (("bias", True), ("reset_after", True), ("engine", "auto"))
