"""A whole RNN/LSTM/GRU (every layer and direction, lengths, dropout between layers) as one
node of the graph: ``FusedRecurrent``, and ``run``, which the sequence layers call with plain
data (the cells, the running mask, the dropout masks), never the layer.

The forward runs each layer and direction with its kernel (``lstm.py``, ``gru.py``,
``rnn.py``) on raw arrays and keeps what BPTT needs: each kernel's activations and states, and
each layer's input (for dW_ih; the first layer's only when a weight of that layer needs its
gradient). The backward runs the kernels' BPTT from the top layer down.
"""
import functools

from ... import backend
from ...autograd import Function, is_grad_enabled
from ..cells import GRUCell, LSTMCell, RNNCell
from .gru import GRUKernel
from .lstm import LSTMKernel
from .rnn import RNNKernel
from .walk import Walk, step_masks

PARAMETERS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")


class Plan:
    """The layer's shape of things: its kernel, parameter names, layers, directions, state."""

    __slots__ = ("make_kernel", "names", "num_layers", "directions", "given_state",
                 "state_parts", "batch_first")

    def __init__(self, **fields):
        for key, value in fields.items():
            setattr(self, key, value)


class FusedRecurrent(Function):
    """Inputs: x, then the given initial states (h0[, c0], each (layers * directions, B, ·)),
    then each cell's parameters (``Plan.names``), layer-major, forward before reverse. Options:
    ``masks`` and ``scale`` from ``walk.step_masks`` (lengths); ``drops``, per layer None or
    the dropout mask of its input, (T or 1, B, features). Outputs: the top layer's output,
    then h_n[, c_n]. Inside, sequences are feature-major (T, features, B) (``walk.py``)."""

    name = "fused_recurrent"

    def forward(ctx, x, *arrays, plan, masks, scale, drops):
        xp = ctx.xp
        given = arrays[:plan.state_parts] if plan.given_state else None
        params = arrays[plan.state_parts if plan.given_state else 0:]
        per_cell = len(plan.names)
        if scale is not None:
            # the padding is selected away, never read: the steps' masks multiply, and a NaN
            # there would reach the weight gradients through dW_ih = dG x^T (0 * NaN is NaN)
            running = scale.transpose(2, 0, 1) if plan.batch_first else scale.transpose(0, 2, 1)
            x = xp.where(running != 0, x, xp.zeros((), x.dtype))
        layer_input = x.transpose(1, 2, 0) if plan.batch_first else x.transpose(0, 2, 1)
        steps, _, batch = layer_input.shape
        walks = [Walk(steps, masks, reverse=d == 1) for d in range(plan.directions)]
        finals = [[] for _ in range(plan.state_parts)]
        kernels, inputs = [], []
        for k in range(plan.num_layers):
            if drops[k] is not None:
                layer_input = xp.multiply(layer_input, drops[k].transpose(0, 2, 1),
                                          out=xp.empty_like(layer_input))
            outputs, layer_kernels = [], []
            for d, walk in enumerate(walks):
                j = k * plan.directions + d
                kernel = plan.make_kernel(xp, *params[j * per_cell:(j + 1) * per_cell])
                if given is None:
                    sizes = (kernel.state_size, kernel.hidden)[:plan.state_parts]
                    state = tuple(xp.zeros((size, batch), x.dtype) for size in sizes)
                else:
                    state = tuple(part[j].T for part in given)
                outputs.append(walk.next(kernel.forward(layer_input, state, walk)))
                for part, final in zip(finals, kernel.final_state(walk)):
                    part.append(final.T)
                layer_kernels.append(kernel)
            kernels.append(layer_kernels)
            inputs.append(layer_input)
            layer_input = _join(xp, outputs, scale)
        if is_grad_enabled() and True in ctx.needs_input_grad:
            first = plan.state_parts if plan.given_state else 0
            if not any(ctx.needs_input_grad[1 + first + d * per_cell]
                       for d in range(plan.directions)):
                inputs[0] = None   # no dW_ih of the first layer: x is not kept
            ctx.save(kernels, inputs, walks, drops)
            ctx.plan = plan
        out = layer_input.transpose(2, 0, 1) if plan.batch_first else layer_input.transpose(0, 2, 1)
        return (xp.ascontiguousarray(out),) + tuple(xp.stack(part) for part in finals)

    def backward(ctx, d_out, *d_finals):
        xp, plan = ctx.xp, ctx.plan
        kernels, inputs, walks, drops = ctx.saved
        need = ctx.needs_input_grad
        first = 1 + (plan.state_parts if plan.given_state else 0)
        per_cell = len(plan.names)
        param_grads = [None] * (len(need) - first)
        d_given = [[None] * len(kernels) * plan.directions for _ in range(plan.state_parts)]
        if d_out is not None:
            d_out = xp.ascontiguousarray(d_out.transpose(1, 2, 0) if plan.batch_first
                                         else d_out.transpose(0, 2, 1))
        for k in range(plan.num_layers - 1, -1, -1):
            dx_layout = "features" if k > 0 else ("rows" if need[0] else None)
            d_x = None
            for d, (kernel, walk) in enumerate(zip(kernels[k], walks)):
                j = k * plan.directions + d
                size = kernel.state_size
                d_slice = None if d_out is None else (
                    d_out if plan.directions == 1 else d_out[:, d * size:(d + 1) * size])
                d_state = tuple(xp.zeros_like(final) if g is None else g[j].T
                                for g, final in zip(d_finals, kernel.final_state(walk)))
                wanted = {name: need[first + j * per_cell + i] for i, name in enumerate(plan.names)}
                dx, d_initial, grads = kernel.backward(inputs[k], d_slice, d_state, walk,
                                                       dx_layout, wanted)
                if dx_layout is not None:
                    if d_x is None:
                        d_x = dx
                    else:
                        d_x += dx
                for i, name in enumerate(plan.names):
                    param_grads[j * per_cell + i] = grads.get(name)
                for part, g in zip(d_given, d_initial):
                    part[j] = g.T
            if k > 0:   # d_x is (features, T, B): back to (T, features, B), through the mask
                d_out = xp.empty((d_x.shape[1], d_x.shape[0], d_x.shape[2]), d_x.dtype)
                if drops[k] is None:
                    d_out[...] = d_x.transpose(1, 0, 2)
                else:
                    xp.multiply(d_x.transpose(1, 0, 2), drops[k].transpose(0, 2, 1), out=d_out)
        if d_x is not None:   # (T * B, input): x's gradient, time-major
            d_x = d_x.reshape(-1, kernels[0][0].batch, d_x.shape[1])
            if plan.batch_first:
                d_x = d_x.swapaxes(0, 1)
        d_states = tuple(xp.stack(part) for part in d_given) if plan.given_state else ()
        return (d_x,) + d_states + tuple(param_grads)


def _join(xp, outputs, scale):
    """The layer's output (T, directions * size, B): the directions' states stacked, zero
    past each sequence's end."""
    if len(outputs) == 1:
        return outputs[0] if scale is None else outputs[0] * scale
    steps, size, batch = outputs[0].shape
    joined = xp.empty((steps, size * len(outputs), batch), outputs[0].dtype)
    for d, states in enumerate(outputs):
        if scale is None:
            joined[:, d * size:(d + 1) * size] = states
        else:
            xp.multiply(states, scale, out=joined[:, d * size:(d + 1) * size])
    return joined


# ---------------------------------------------------------------- the entry of the layers

def kernel_maker(cell):
    """The kernel factory for a layer made of cells like ``cell``, or None when its variant
    has no fused kernel (peephole or forget_gate=False LSTMs, subclasses, user cells)."""
    kind = type(cell)
    if kind is LSTMCell:
        if cell.peephole or not cell.forget_gate:
            return None
        return LSTMKernel
    if kind is GRUCell:
        return functools.partial(GRUKernel, reset_after=cell.reset_after)
    if kind is RNNCell:
        return functools.partial(RNNKernel, nonlinearity=cell.nonlinearity)
    return None


def run(x, state, cells, *, directions, batch_first, running, drops):
    """A stack of cells of one kind over ``x`` through one ``FusedRecurrent`` node:
    ``(out, h_n)``, or ``(out, (h_n, c_n))`` for LSTM cells.

    x: (T, B, input), or (B, T, input) with ``batch_first``. state: None (zeros) or the tuple
    of stacked initial states ((h0,) or (h0, c0), each (layers * directions, B, ·)). cells:
    every layer's cells, layer-major, forward before reverse, all alike (``kernel_maker``).
    directions: 1 or 2. running: None, or a (T, B) bool array (NumPy's or one of x's device),
    False at and past each sequence's length. drops: per layer None or the dropout mask (T or 1, B, features) of its
    input, an array on x's device (the first layer's is None).

    >>> import numpy as np, tinygrad_seq as tg
    >>> cells = [tg.nn.GRUCell(3, 4), tg.nn.GRUCell(4, 4)]
    >>> running = np.arange(5)[:, None] < np.array([5, 2])
    >>> out, h_n = tg.nn.fused.run(tg.randn(5, 2, 3), None, cells, directions=1,
    ...                            batch_first=False, running=running, drops=[None, None])
    >>> out.shape, h_n.shape, float(abs(out[2:, 1]).sum())
    ((5, 2, 4), (2, 2, 4), 0.0)
    """
    make_kernel = kernel_maker(cells[0])
    if make_kernel is None or any(kernel_maker(cell) is None or type(cell) is not type(cells[0])
                                  for cell in cells):
        raise ValueError(f"fused.run: no hand-written kernel runs {cells[0]!r}")
    if len(cells) % directions or len(drops) != len(cells) // directions:
        raise ValueError(f"fused.run: {len(cells)} cells in {directions} direction(s) and "
                         f"{len(drops)} dropout masks (one per layer) do not make layers")
    names = tuple(name for name in PARAMETERS if getattr(cells[0], name, None) is not None)
    params = [getattr(cell, name) for cell in cells for name in names]
    lstm = type(cells[0]) is LSTMCell
    steps = x.shape[1 if batch_first else 0]
    xp = backend.xp_of(x.device)
    with backend.get_device(x.device).activate():
        per_step, scale = step_masks(xp, running, steps, x.dtype)
    plan = Plan(make_kernel=_by_name(make_kernel, names), names=names,
                num_layers=len(cells) // directions, directions=directions,
                given_state=state is not None, state_parts=2 if lstm else 1,
                batch_first=batch_first)
    results = FusedRecurrent.apply(x, *(state or ()), *params, plan=plan, masks=per_step,
                                   scale=scale, drops=drops)
    return results[0], (results[1:] if lstm else results[1])


def _by_name(make_kernel, names):
    """The factory called with each cell's parameters by name (bias and projection optional)."""
    def make(xp, *arrays):
        return make_kernel(xp, **dict(zip(names, arrays)))
    return make
