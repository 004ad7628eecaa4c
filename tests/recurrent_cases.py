"""Shared pieces of the recurrent tests: layer configurations drawn by hypothesis, builders, a
user-defined cell, and helpers that turn a layer's (out, state) into plain tensors and arrays."""
from typing import NamedTuple

import numpy as np
from hypothesis import settings, strategies as st

import tinygrad_seq as tg
from tinygrad_seq.testing import floats, lattice, sequences


def examples(n):
    """At most ``n`` examples under the ``ci`` profile (gradchecks are costly); the dev and
    thorough profiles keep their own, larger counts."""
    default = settings.default.max_examples
    return settings(max_examples=min(n, default) if default <= 15 else default)


def elements_for(kind):
    """Input values for a configuration: a ReLU network gets values off zero, so that with
    bias=False and a zero state no pre-activation sits exactly on ReLU's kink."""
    return lattice(offset=0.125, min_value=-2.0, max_value=2.0) if kind == "rnn_relu" else floats()


def rounding_terms(input_size, hidden_size, steps, num_layers=1, bidirectional=False, batch=1):
    """How many rounded float32 operations feed one element of a sequence layer's results and
    gradients, the ``terms`` of tinygrad_seq.testing.assert_close: each step of each layer sums
    its input's and its state's products, the backward walk takes the same way back, and a
    weight's gradient sums over every step of every sequence. Two float32 computations of
    these (another BLAS kernel, another batch shape, PyTorch) differ by rounding within that."""
    directions = 2 if bidirectional else 1
    one_way = sum(steps * ((input_size if layer == 0 else directions * hidden_size) + hidden_size)
                  for layer in range(num_layers))
    return 2 * one_way + steps * batch


# ---------------------------------------------------------------- a cell written by a user

class MinimalGatedUnit(tg.nn.RecurrentCell):
    """Zhou et al.'s minimal gated unit, written against the cell contract only::

        f = σ(W_f x + U_f h + b_f)
        h' = (1 - f) * h + f * tanh(W_h x + U_h (f * h) + b_h)
    """

    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__(input_size, hidden_size, 2, bias)

    def step(self, x_proj, h):
        x_f, x_h = x_proj.chunk(2, axis=-1)
        weight_f, weight_h = self.weight_hh.split([self.hidden_size, self.hidden_size], axis=0)
        f = (x_f + h @ weight_f.T).sigmoid()
        candidate = (x_h + (f * h) @ weight_h.T).tanh()
        h = h + f * (candidate - h)
        return h, h


class IdentityCell(tg.nn.Module):
    """Keeps the cell contract and passes its input through: a probe for what the sequence
    layer does between layers (dropout)."""

    def __init__(self, size):
        super().__init__()
        self.input_size = self.hidden_size = self.output_size = size

    def project(self, x):
        return x

    def initial_state(self, batch_size, like):
        return tg.zeros(batch_size, self.hidden_size, dtype=like.dtype, device=like.device)

    def step(self, x_proj, state):
        return x_proj, state



# every cell variant, built as cell(input_size, hidden_size)
CELLS = {
    "rnn_tanh": lambda i, h: tg.nn.RNNCell(i, h),
    "rnn_relu": lambda i, h: tg.nn.RNNCell(i, h, nonlinearity="relu"),
    "rnn_tanh_no_bias": lambda i, h: tg.nn.RNNCell(i, h, bias=False),
    "rnn_relu_no_bias": lambda i, h: tg.nn.RNNCell(i, h, bias=False, nonlinearity="relu"),
    "lstm": lambda i, h: tg.nn.LSTMCell(i, h),
    "lstm_no_bias": lambda i, h: tg.nn.LSTMCell(i, h, bias=False),
    "lstm_peephole": lambda i, h: tg.nn.LSTMCell(i, h, peephole=True),
    "lstm_no_forget_gate": lambda i, h: tg.nn.LSTMCell(i, h, forget_gate=False),
    "lstm_peephole_no_forget_gate": lambda i, h: tg.nn.LSTMCell(i, h, peephole=True,
                                                                 forget_gate=False),
    "lstm_proj": lambda i, h: tg.nn.LSTMCell(i, h, proj_size=h - 1),
    "lstm_peephole_proj_no_bias": lambda i, h: tg.nn.LSTMCell(i, h, bias=False, peephole=True,
                                                               proj_size=1),
    "lstm_forget_bias": lambda i, h: tg.nn.LSTMCell(i, h, forget_bias=1.0),
    "gru": lambda i, h: tg.nn.GRUCell(i, h),
    "gru_reset_before": lambda i, h: tg.nn.GRUCell(i, h, reset_after=False),
    "gru_no_bias": lambda i, h: tg.nn.GRUCell(i, h, bias=False),
    "gru_reset_before_no_bias": lambda i, h: tg.nn.GRUCell(i, h, bias=False, reset_after=False),
    "mgu": lambda i, h: MinimalGatedUnit(i, h),
}


# ---------------------------------------------------------------- configurations

class LayerConfig(NamedTuple):
    kind: str            # rnn_tanh, rnn_relu, lstm, gru; mgu, mixed: tg.nn.Recurrent of user cells
    hidden_size: int
    options: dict        # num_layers, bidirectional, batch_first, bias and the kind's own options

    def build(self, input_size, dtype="float64", **overrides):
        """The layer, in ``dtype``; ``overrides`` replace options."""
        options = {**self.options, **overrides}
        hidden = self.hidden_size
        if self.kind.startswith("rnn"):
            layer = tg.nn.RNN(input_size, hidden, **options)
        elif self.kind == "lstm":
            layer = tg.nn.LSTM(input_size, hidden, **options)
        elif self.kind == "gru":
            layer = tg.nn.GRU(input_size, hidden, **options)
        elif self.kind == "mgu":
            layer = build_mgu(input_size, hidden, **options)
        else:
            layer = build_mixed(input_size, hidden, **options)
        return layer.to(dtype=dtype)

    @property
    def bidirectional(self):
        return self.options["bidirectional"]

    @property
    def batch_first(self):
        return self.options["batch_first"]


def build_mgu(input_size, hidden_size, num_layers=1, bidirectional=False, batch_first=False,
              bias=True, dropout=0.0):
    directions = 2 if bidirectional else 1
    sizes = [input_size] + [hidden_size * directions] * (num_layers - 1)
    cells = [MinimalGatedUnit(size, hidden_size, bias) for size in sizes]
    reverse = [MinimalGatedUnit(size, hidden_size, bias) for size in sizes] if bidirectional else None
    return tg.nn.Recurrent(cells, reverse, batch_first=batch_first, dropout=dropout)


def build_mixed(input_size, hidden_size, num_layers=1, bidirectional=False, batch_first=False,
                bias=True, dropout=0.0):
    """A stack whose layers differ in kind and size: a minimal gated unit (hidden_size), a
    projected LSTM (hidden_size + 2 projected to hidden_size + 1), a GRU of Cho et al.'s form
    (hidden_size + 2), and round again."""
    makers = [lambda i, h: MinimalGatedUnit(i, h, bias),
              lambda i, h: tg.nn.LSTMCell(i, h + 1, bias, proj_size=h),
              lambda i, h: tg.nn.GRUCell(i, h, bias, reset_after=False)]
    cells, reverse, size = [], [], input_size
    for k in range(num_layers):
        make, hidden = makers[k % 3], hidden_size + k
        cells.append(make(size, hidden))
        if bidirectional:
            reverse.append(make(size, hidden))
        size = cells[-1].output_size * (2 if bidirectional else 1)
    return tg.nn.Recurrent(cells, reverse or None, batch_first=batch_first, dropout=dropout)


KINDS = ("rnn_tanh", "rnn_relu", "lstm", "gru", "mgu", "mixed")
TORCH_KINDS = ("rnn_tanh", "rnn_relu", "lstm", "gru")


def _config(kind, hidden_size=3, num_layers=2, bidirectional=True, batch_first=False, bias=True,
            **options):
    if kind.startswith("rnn"):
        options["nonlinearity"] = kind[4:]
    return LayerConfig(kind, hidden_size, dict(num_layers=num_layers, bidirectional=bidirectional,
                                               batch_first=batch_first, bias=bias, **options))


# Configurations every default run covers, whatever hypothesis draws besides.
REQUIRED_CONFIGS = {
    "rnn_tanh_batch_first": _config("rnn_tanh", batch_first=True),
    "rnn_relu_no_bias": _config("rnn_relu", bias=False),
    "lstm_proj_batch_first": _config("lstm", batch_first=True, proj_size=2),
    "lstm_peephole_no_forget_gate": _config("lstm", peephole=True, forget_gate=False),
    "lstm_peephole_forget_bias_proj": _config("lstm", num_layers=1, peephole=True, forget_bias=1.0,
                                              proj_size=1),
    "lstm_no_bias_no_forget_gate": _config("lstm", bias=False, forget_gate=False),
    "gru": _config("gru", batch_first=True),
    "gru_reset_before": _config("gru", reset_after=False),
    "gru_reset_before_no_bias": _config("gru", bias=False, reset_after=False),
    "mgu": _config("mgu", batch_first=True),
    "mixed_stack": _config("mixed", hidden_size=2, num_layers=3),
}


@st.composite
def layer_configs(draw, kinds=KINDS, max_hidden=4, max_layers=2, bidirectional=None,
                  torch_compatible=False):
    """A sequence-layer configuration; ``torch_compatible`` leaves out what torch.nn lacks
    (peephole, forget_gate=False, forget_bias, reset_after=False, user cells)."""
    kind = draw(st.sampled_from(kinds))
    options = dict(num_layers=draw(st.integers(1, max_layers)),
                   bidirectional=draw(st.booleans()) if bidirectional is None else bidirectional,
                   batch_first=draw(st.booleans()), bias=draw(st.booleans()))
    hidden = draw(st.integers(2 if kind == "lstm" else 1, max_hidden))
    if kind.startswith("rnn"):
        options["nonlinearity"] = kind[4:]
    elif kind == "lstm":
        options["proj_size"] = draw(st.integers(0, hidden - 1))
        if not torch_compatible:
            options["peephole"] = draw(st.booleans())
            options["forget_gate"] = draw(st.booleans())
            if options["forget_gate"] and options["bias"]:
                options["forget_bias"] = draw(st.sampled_from([0.0, 1.0]))
    elif kind == "gru" and not torch_compatible:
        options["reset_after"] = draw(st.booleans())
    return LayerConfig(kind, hidden, options)


# ---------------------------------------------------------------- states and results

def state_parts(state):
    """A layer's or cell's state as a tuple of tensors."""
    return tuple(state) if isinstance(state, (tuple, list)) else (state,)


def as_state(parts):
    """The inverse of ``state_parts`` for a layer whose state has ``len(parts)`` tensors."""
    return tuple(parts) if len(parts) > 1 else parts[0]


def flatten_state(state):
    """Every tensor of a (nested) state, in order: a tensor, a tuple (h, c), or a list of
    either (``Recurrent``'s state: one cell state per layer and direction)."""
    if isinstance(state, (tuple, list)):
        return tuple(t for part in state for t in flatten_state(part))
    return (state,)


def unflatten_state(template, tensors):
    """The inverse of ``flatten_state``: ``tensors`` in the nesting of ``template``."""
    tensors = list(tensors)

    def build(node):
        if isinstance(node, (tuple, list)):
            return type(node)(build(part) for part in node)
        return tensors.pop(0)

    return build(template)


def flat(result):
    """(out, state) as one flat tuple of tensors (gradcheck wants a tuple of tensors)."""
    out, state = result
    return (out,) + flatten_state(state)


def layer_cells(layer):
    """The cells of a sequence layer in state order: layer by layer, forward then reverse."""
    if isinstance(layer, tg.nn.Recurrent):
        reverse = list(layer.reverse_cells) if layer.bidirectional else None
        return [cell for k, forward in enumerate(layer.cells)
                for cell in ((forward, reverse[k]) if reverse else (forward,))]
    return [cell for cells in layer.cells_by_layer for cell in cells]


def cell_states(layer, state):
    """A layer's state as one tuple of (B, ·) tensors per layer and direction, whichever way
    the layer packs it (PyTorch's stacked tensors for RNN/LSTM/GRU, a list for Recurrent)."""
    if isinstance(layer, tg.nn.Recurrent):
        return [state_parts(s) for s in state]
    parts = state_parts(state)
    return [tuple(p[k] for p in parts) for k in range(parts[0].shape[0])]


def layer_state(layer, per_cell):
    """The inverse of ``cell_states``: per-(layer, direction) states packed as ``layer`` takes them."""
    if isinstance(layer, tg.nn.Recurrent):
        return [as_state(parts) for parts in per_cell]
    return as_state(tuple(tg.stack([parts[i] for parts in per_cell], axis=0)
                          for i in range(len(per_cell[0]))))


def random_state(layer, batch, rng, dtype="float64", device="cpu"):
    """A random initial state for ``layer``, packed as the layer takes it."""
    like = tg.zeros(1, dtype=dtype, device=device)
    per_cell = [tuple(tg.tensor(rng.uniform(-1, 1, t.shape), dtype=dtype, device=device)
                      for t in state_parts(cell.initial_state(batch, like)))
                for cell in layer_cells(layer)]
    return layer_state(layer, per_cell)


def select_batch(layer, state, b):
    """The state of sequence ``b`` alone (batch of one), packed as the layer takes it."""
    return layer_state(layer, [tuple(t[b:b + 1] for t in parts) for parts in cell_states(layer, state)])


def numpy_all(tensors):
    return [t.numpy() for t in tensors]


def numpy_cells(layer, state):
    """``cell_states`` as NumPy arrays: [layer and direction][part] -> (B, ·) array."""
    return [numpy_all(parts) for parts in cell_states(layer, state)]


def upstream_like(tensors, rng):
    """Random fixed upstream gradients, one per tensor (as tensors of the same dtype/device)."""
    return [tg.tensor(rng.standard_normal(t.shape), dtype=t.dtype, device=t.device) for t in tensors]


def weighted_sum(tensors, upstream):
    """sum_k <tensors_k, upstream_k>: a scalar loss that sees every element."""
    total = None
    for t, u in zip(tensors, upstream):
        term = (t * u).sum()
        total = term if total is None else total + term
    return total


def reverse_as_forward(config, layer, input_size):
    """A one-direction, one-layer layer holding the reverse weights of the one-layer
    bidirectional ``layer``."""
    forward = config.build(input_size, dtype=layer_dtype(layer), bidirectional=False, num_layers=1)
    weights = {name.replace("reverse_cells.", "cells.").replace("_reverse", ""): p.numpy()
               for name, p in layer.state_dict().items() if "reverse" in name}
    forward.load_state_dict(weights)
    return forward


def layer_dtype(layer):
    return next(iter(layer.parameters())).dtype


def lengths_forms(lengths):
    """A strategy over the forms ``lengths`` may take: tensor, list, NumPy array."""
    host = lengths.numpy()
    return st.sampled_from([lengths, host.tolist(), host])


def np_lengths(lengths, batch, steps):
    return np.full(batch, steps) if lengths is None else np.asarray(
        lengths.numpy() if isinstance(lengths, tg.Tensor) else lengths)


# ---------------------------------------------------------------- cases: a layer and its inputs

def layout(x, batch_first):
    """A time-major tensor in the layer's layout (and back: the swap is its own inverse)."""
    return x.swapaxes(0, 1) if batch_first else x


class Case(NamedTuple):
    config: LayerConfig
    layer: tg.nn.Module
    x: tg.Tensor          # time-major, float64
    lengths: object       # None, or B integers as a tensor, list or array
    state: object         # None, or a random initial state
    seed: int


def make_case(config, x, lengths, with_state, seed):
    tg.manual_seed(seed)
    layer = config.build(x.shape[2])
    state = random_state(layer, x.shape[1], np.random.default_rng(seed)) if with_state else None
    return Case(config, layer, x, lengths, state, seed)


@st.composite
def layer_cases(draw, kinds=KINDS, max_steps=4, max_batch=3, max_hidden=4, max_layers=2,
                bidirectional=None, min_length=0):
    """A drawn ``Case``: lengths (0 and unsorted included) in any of their forms or None, a
    random initial state or None."""
    config = draw(layer_configs(kinds=kinds, max_hidden=max_hidden, max_layers=max_layers,
                                bidirectional=bidirectional))
    batch = draw(sequences(max_steps=max_steps, max_batch=max_batch, feature_sizes=(1, 3),
                           min_length=min_length, dtype="float64",
                           elements=elements_for(config.kind)))
    lengths = draw(st.none() | lengths_forms(batch.lengths))
    return make_case(config, batch.x, lengths, draw(st.booleans()), draw(st.integers(0, 2**16)))


def required_case(name, lengths=(4, 0, 2), with_state=True, **overrides):
    """A fixed ``Case`` of a required configuration: 4 steps of 3 sequences of 2 features, off
    ReLU's kink; lengths [4, 0, 2] (unsorted, with 0) by default."""
    config = REQUIRED_CONFIGS[name]
    config = config._replace(options={**config.options, **overrides})
    rng = np.random.default_rng(7)
    x = tg.tensor(rng.integers(-8, 8, (4, 3, 2)) * 0.25 + 0.125, dtype="float64")
    return make_case(config, x, None if lengths is None else list(lengths), with_state, seed=11)
