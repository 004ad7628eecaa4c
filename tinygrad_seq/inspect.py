"""The gradient-flow inspector: how much gradient reaches each time step of a recurrent net.

``gradient_flow(layer, x, loss_fn)`` runs a sequence layer (``RNN``/``LSTM``/``GRU`` or any
``Recurrent`` stack) on its declared per-step cells, op by op (``engine="graph"`` for the call,
whatever engine the layer was built with: the engines compute the same, and only this one has
every step's state in the graph), records every step's state tensors as they pass through the
graph (the cells are not changed: each cell's ``step`` is wrapped for the duration of the
call), and asks the graph for

- ``‖∂L/∂h_t‖`` for every step t, per cell and direction (``tg.grad`` of the loss with respect
  to the recorded state tensors: the total derivative, every path from h_t to L summed), and
- ``‖∂h_T/∂h_t‖``, the norm of the Jacobian product from step t to the layer's last step T,
  estimated with random Gaussian probes v: E‖vᵀ ∂h_T/∂h_t‖² = ‖∂h_T/∂h_t‖²_F, so the root of the
  mean over probes estimates the Frobenius norm (per sequence of the batch).

>>> import tinygrad_seq as tg
>>> tg.manual_seed(0)
>>> rnn = tg.nn.RNN(3, 8)
>>> flow = tg.inspect.gradient_flow(rnn, tg.randn(20, 4, 3), lambda out, h: (out[-1] ** 2).sum(),
...                                 probes=2)
>>> flow.keys()                 # (the layer's name in the model, direction)
[('l0', 0)]
>>> flow.grad_norm[("l0", 0)].shape, flow.jacobian_norm[("l0", 0)].shape
((20,), (20,))
>>> bool(flow.grad_norm[("l0", 0)][0] < flow.grad_norm[("l0", 0)][-1])   # vanishes going back
True

``flow.plot(path)`` draws both against the distance T − t on a log axis.
"""
import contextlib

import numpy as np

from .autograd import grad as _grad, reading
from .nn.recurrent import SequenceLayer
from .tensor import Tensor

__all__ = ["gradient_flow", "GradientFlow", "record_steps", "StepRecord"]


class StepRecord:
    """One call of a cell's ``step``: which cell (its dotted name in the model, its layer and
    direction when known), the index of the call (0, 1, ... in processing order), the projected
    input and the state it received, and the output and new state it returned."""

    __slots__ = ("cell", "name", "layer", "direction", "call", "x_proj", "state_in", "output",
                 "state")

    def __init__(self, cell, name, layer, direction, call, x_proj, state_in, output, state):
        self.cell, self.name, self.layer, self.direction = cell, name, layer, direction
        self.call, self.x_proj, self.state_in = call, x_proj, state_in
        self.output, self.state = output, state

    def __repr__(self):
        return f"StepRecord({self.name!r}, call={self.call})"


def _cells(model):
    """(name, cell, layer, direction) of every cell that ``model`` runs: the cells of its
    sequence layers (named after the layer, "lstm.l1_reverse"), then any other module that keeps
    the cell contract (named by its dotted name)."""
    found, seen = [], set()
    for name, module in model.named_modules():
        layers = module.cells_by_layer if isinstance(module, SequenceLayer) else ()
        for k, layer in enumerate(layers):
            for d, cell in enumerate(layer):
                if id(cell) not in seen:
                    seen.add(id(cell))
                    label = f"{name + '.' if name else ''}l{k}{'_reverse' if d else ''}"
                    found.append((label, cell, k, d))
    for name, module in model.named_modules():
        if id(module) not in seen and callable(getattr(module, "step", None)) \
                and hasattr(module, "initial_state") and hasattr(module, "project"):
            seen.add(id(module))
            found.append((name or type(module).__name__, module, None, None))
    return found


@contextlib.contextmanager
def record_steps(model, declared=True):
    """Within the block, every call of a cell's ``step`` in ``model`` is appended, as a
    ``StepRecord``, to the list that the block yields. With ``declared`` (the default) the
    sequence layers run their declared cells op by op (``engine="graph"``) so that the steps
    exist in the graph; the cells' ``step`` and the layers' ``engine`` are restored on exit.
    A loop of the model's own, ``tg.scan(..., engine="auto")`` over a recorded cell, falls back
    to "graph" with its warning: a recorded step cannot keep every step's state (with
    ``engine="compiled"`` it raises ``tg.Untraceable`` instead).

    >>> import tinygrad_seq as tg
    >>> lstm = tg.nn.LSTM(2, 3)
    >>> with tg.inspect.record_steps(lstm) as steps:
    ...     out, (h, c) = lstm(tg.randn(5, 1, 2))
    >>> len(steps), steps[-1].name, steps[-1].state[0].shape
    (5, 'l0', (1, 3))
    """
    records = []
    wrapped, switched = [], {}
    try:
        for name, cell, layer, direction in _cells(model):
            if "step" in cell.__dict__:
                raise RuntimeError(f"record_steps: {name} is already being recorded")
            original = cell.step
            counter = [0]

            def step(x_proj, state, _original=original, _cell=cell, _name=name, _layer=layer,
                     _direction=direction, _counter=counter):
                output, new_state = _original(x_proj, state)
                for part in _parts(new_state):  # refused while tg.scan records a step
                    reading(part, "tg.inspect.record_steps keeping the state")
                records.append(StepRecord(_cell, _name, _layer, _direction, _counter[0], x_proj,
                                          state, output, new_state))
                _counter[0] += 1
                return output, new_state

            object.__setattr__(cell, "step", step)
            wrapped.append(cell)
        if declared:
            for _, module in model.named_modules():
                if isinstance(module, SequenceLayer) and module.engine != "graph":
                    switched[module] = module.engine
                    module.engine = "graph"
        yield records
    finally:
        for cell in wrapped:
            object.__delattr__(cell, "step")
        for module, engine in switched.items():
            module.engine = engine


def _parts(state):
    return tuple(state) if isinstance(state, (tuple, list)) else (state,)


class _ByCell(dict):
    """A dict keyed by (name, direction) that also answers the older (layer index, direction)
    key, ``(0, 0)``, when exactly one of its keys has that layer index and direction."""

    def __init__(self, values, layers):
        super().__init__(values)
        self._layers = layers              # key -> the layer index within its sequence layer

    def __missing__(self, key):
        if isinstance(key, tuple) and len(key) == 2 and all(isinstance(k, (int, np.integer)) for k in key):
            matches = [k for k in self if self._layers.get(k) == key[0] and k[1] == key[1]]
            if len(matches) == 1:
                return self[matches[0]]
            if matches:
                raise KeyError(f"{key}: ambiguous, several sequence layers have a layer "
                               f"{key[0]}: name one of {matches}")
        raise KeyError(f"{key}: not measured; the keys are {list(self)}")


class GradientFlow:
    """What ``gradient_flow`` measured. Keys are (name, direction) pairs, one per cell: the name
    is the sequence layer's name in the model and its layer index (``"l0"`` for a layer given
    directly, ``"encoder.l1"`` inside a model; a cell outside any sequence layer: its dotted
    name), the direction 0 (forward) or 1 (reverse). So two sequence layers in one model are
    measured apart. ``(layer index, direction)``, e.g. ``(0, 0)``, is still accepted where only
    one sequence layer has that layer.

    - ``grad_norm[key]``: (T,) array, ‖∂L/∂h_t‖ (Frobenius over the batch) at step t;
    - ``grad_norm_per_sequence[key]``: (T, B), the same per sequence;
    - ``jacobian_norm[key]``: (T,) array, the probe estimate of ‖∂h_T/∂h_t‖_F per sequence
      (root mean square over the batch); None when ``probes=0``;
    - ``distance[key]``: (T,) array, T − t counted in the direction's processing order (0 at
      the direction's last step; a reverse direction's last step is t = 0);
    - ``part``: which state tensor is h (0: h; for an LSTM 1 is c).
    """

    def __init__(self, grad_norm, per_sequence, jacobian_norm, distance, part):
        self.grad_norm, self.grad_norm_per_sequence = grad_norm, per_sequence
        self.jacobian_norm, self.distance, self.part = jacobian_norm, distance, part

    def keys(self):
        return list(self.grad_norm)

    def ratio(self, key=None):
        """‖∂L/∂h_{T−k}‖ / ‖∂L/∂h_T‖ indexed by the distance k (0, 1, ..., T − 1); ``key`` may
        be left out when only one cell was measured."""
        if key is None:
            if len(self.grad_norm) != 1:
                raise ValueError(f"GradientFlow.ratio: several cells were measured; name one of "
                                 f"{self.keys()}")
            key = self.keys()[0]
        norms, distance = self.grad_norm[key], self.distance[key]
        by_k = norms[np.argsort(distance)]
        return by_k / by_k[0]

    def plot(self, path=None, title=None, axes=None):
        """Both measurements against the distance T − t, log y axis; saved to ``path`` (PNG,
        SVG, ...) when given; returns the matplotlib figure. Needs matplotlib."""
        try:
            import matplotlib
            if path is not None and axes is None:
                matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError as e:
            raise ImportError("GradientFlow.plot needs matplotlib (pip install matplotlib); the "
                              "numbers are in .grad_norm and .jacobian_norm") from e
        if axes is None:
            figure, axes = plt.subplots(1, 2, figsize=(10, 4))
        else:
            figure = axes[0].figure
        for key in self.keys():
            order = np.argsort(self.distance[key])
            label = f"{key[0]}" + (" reverse" if key[1] else "")
            axes[0].semilogy(self.distance[key][order], self.grad_norm[key][order], label=label)
            if self.jacobian_norm is not None:
                axes[1].semilogy(self.distance[key][order], self.jacobian_norm[key][order],
                                 label=label)
        axes[0].set_ylabel("‖∂L/∂h_t‖")
        axes[1].set_ylabel("‖∂h_T/∂h_t‖ (probe estimate)")
        for axis in axes:
            axis.set_xlabel("distance T − t (steps)")
            axis.grid(alpha=0.3, which="both")
            axis.legend(fontsize=8)
        if title:
            figure.suptitle(title)
        figure.tight_layout()
        if path is not None:
            figure.savefig(path, dpi=100)
            plt.close(figure)
        return figure


def gradient_flow(layer, x, loss_fn, state=None, probes=0, part=0, seed=0, **layer_kwargs):
    """Run ``layer(x, state, **layer_kwargs)`` on its declared cells, apply
    ``loss = loss_fn(out, final_state)`` (a scalar tensor) and measure the gradient that reaches
    every step's state; see ``GradientFlow``. ``probes``: the number of random probes of the
    Jacobian-product estimate (0: skip it; each probe is one more backward walk). ``part``: the
    state tensor to look at (0: h; 1: an LSTM's c). ``layer`` may be any Module whose sequence
    layers are the ones to look at: every recorded cell step of every cell (each layer and
    direction of each sequence layer, keyed by its name) is measured, so with several sequence
    layers inside, give ``loss_fn`` the whole forward."""
    rng = np.random.default_rng(seed)
    with record_steps(layer) as records:
        out, final = layer(x, state, **layer_kwargs)
        loss = loss_fn(out, final)
    if not isinstance(loss, Tensor) or loss.data.size != 1:
        raise ValueError("gradient_flow: loss_fn must return a single-element Tensor")
    if not records:
        raise ValueError(f"gradient_flow: no cell steps were recorded in {type(layer).__name__}: "
                         f"it needs cells that keep the cell contract (tg.nn.cells)")
    groups, layers = {}, {}
    for r in records:       # one key per cell: its name (the reverse one's without "_reverse")
        if r.layer is None:  # a cell outside any sequence layer
            key = (r.name, 0)
        else:
            key = (r.name[:-len("_reverse")] if r.direction else r.name, r.direction)
            layers[key] = r.layer
        groups.setdefault(key, []).append(r)
    keys = list(groups)
    tensors = [_parts(r.state)[part] for k in keys for r in groups[k]]
    grads = _grad(loss, tensors, retain_graph=probes > 0, allow_unused=True)
    norms, per_seq, distance = {}, {}, {}
    i = 0
    for k in keys:
        steps = len(groups[k])
        g = [grads[i + j] for j in range(steps)]
        i += steps
        reverse = k[1] == 1
        # records are in processing order; store them by time t
        by_t = list(reversed(g)) if reverse else g
        per_seq[k] = np.stack([_per_sequence(t_grad, tensors[0]) for t_grad in by_t])
        norms[k] = np.sqrt((per_seq[k] ** 2).sum(axis=1))
        distance[k] = np.arange(steps)[::-1].copy() if not reverse else np.arange(steps)
    jac = None
    if probes:
        jac = {}
        for k in keys:
            chain = [_parts(r.state)[part] for r in groups[k]]
            last, reverse = chain[-1], k[1] == 1
            total = np.zeros(len(chain))
            for p in range(probes):
                v = rng.standard_normal(last.shape).astype(last.data.dtype)
                gs = _grad(last, chain, grad_outputs=Tensor(v, device=last.device),
                           retain_graph=True, allow_unused=True)
                total += np.array([0.0 if g is None else float((g.numpy().astype(np.float64) ** 2).sum())
                                   for g in gs])
            batch = last.shape[0] if last.ndim > 1 else 1
            estimate = np.sqrt(total / probes / batch)
            jac[k] = estimate[::-1].copy() if reverse else estimate
    norms, per_seq, distance = (_ByCell(d, layers) for d in (norms, per_seq, distance))
    return GradientFlow(norms, per_seq, None if jac is None else _ByCell(jac, layers), distance, part)


def _per_sequence(g, like):
    """The norm of each sequence's gradient (B,), zeros where no gradient arrived."""
    if g is None:
        return np.zeros(like.shape[0] if like.ndim > 1 else 1)
    a = np.asarray(g.numpy(), dtype=np.float64)
    if a.ndim == 1:
        a = a[None]
    return np.sqrt((a.reshape(a.shape[0], -1) ** 2).sum(axis=1))
