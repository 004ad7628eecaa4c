"""``tg.scan``: a step function over a sequence, with back-propagation through time.

Two engines run the same declaration. ``graph`` calls the step once per time step on tensors,
so every op is a node of the graph (simple, and what the inspectors walk). ``compiled`` records
one step's ops as a tape (record.py), hoists what does not depend on the carry out of the
loop (loop/plan.py) and replays the rest over the sequence as ONE node of the graph on raw
arrays (loop/replay.py): no Python tensors per step, the weights' gradients summed by one
product over all steps. ``auto`` compiles, and falls back to ``graph`` with one warning naming
what could not be recorded.
"""
import warnings

import numpy as np

from .. import backend, lengths as sequence_lengths, ops
from ..tensor import Tensor
from . import plan, record as recording
from .record import Untraceable
from .replay import Scan

ENGINES = ("auto", "graph", "compiled")


class ScanFallbackWarning(UserWarning):
    """``engine="auto"`` ran a step op by op because it could not be recorded (the message says
    why and where)."""


def scan(step, init, xs=None, *, length=None, lengths=None, reverse=False, engine="auto"):
    """Run ``step(carry, x_t) -> (carry, y_t)`` over the leading (time) axis of ``xs``.

    ``init`` and the carry are a tensor or a (nested) tuple/list of tensors, of the same shapes
    and dtypes at every step; ``xs`` likewise with a leading time axis (or None, with
    ``length``); ``y_t`` a tensor, a tuple/list of tensors or None. Returns ``(final_carry,
    ys)``, ys stacked along a new leading time axis: JAX's ``lax.scan``. ``reverse=True`` runs
    from the last step to the first (``ys[t]`` still belongs to ``xs[t]``). ``lengths`` (one
    integer per row of the carry's first axis): past a sequence's end its carry is held and its
    ``y`` is zero, so a reversed scan starts at each sequence's own last step. Tensors the step
    closes over (weights, an encoder's outputs) get their gradients.

    ``engine``: "graph" (op by op), "compiled" (recorded once per call, replayed as one node;
    raises ``Untraceable`` if the step cannot be recorded) or "auto" (compiled, else graph with
    a ``ScanFallbackWarning``). Compiled, the ys hold the steps' outputs that backward needs: a
    write into them in place before backward is refused then (as ``torch.nn.LSTM`` refuses it
    for its output); ``clone()`` them first.

    >>> import tinygrad_seq as tg
    >>> W = tg.full((3, 3), 0.5, requires_grad=True)
    >>> def step(h, x):
    ...     h = tg.tanh(tg.ops.linear(h, W) + x)
    ...     return h, h.sum(axis=-1)
    >>> h, ys = tg.scan(step, tg.zeros(2, 3), tg.ones(4, 2, 3))
    >>> ys.shape
    (4, 2)
    >>> ys.sum().backward()
    >>> W.grad.shape
    (3, 3)
    """
    if engine not in ENGINES:
        raise ValueError(f"scan: engine must be one of {', '.join(map(repr, ENGINES))}, got "
                         f"{engine!r}")
    if not callable(step):
        raise TypeError(f"scan: step must be a function step(carry, x) -> (carry, y), got "
                        f"{type(step).__name__}")
    carry, carry_tree, x_parts, steps, device, body = _prepare(step, init, xs, length, lengths)
    if engine != "graph":
        try:
            new_carry, ys = _compiled(body, carry, x_parts, steps, reverse, device)
        except Untraceable as e:
            if engine == "compiled":
                raise
            warnings.warn(f"scan: the step cannot be compiled: {e}; running it op by op "
                          f"(engine='graph')", ScanFallbackWarning, stacklevel=2)
        else:
            return _unflatten(carry_tree, new_carry), _unflatten(body.y_tree, ys)
    new_carry, ys = _graph(body, carry, x_parts, steps, reverse, device)
    return _unflatten(carry_tree, new_carry), _unflatten(body.y_tree, ys)


def _prepare(step, init, xs, length, lengths):
    """(carry tensors, their tree, step inputs (the running mask last, with lengths), steps,
    device, the flat step)."""
    carry, carry_tree = _flatten(init, "init")
    if not carry:
        raise ValueError("scan: init must hold at least one tensor (the carry)")
    x_parts, x_tree = _flatten(xs, "xs")
    steps = _steps(x_parts, length)
    device = carry[0].device
    ranks = sorted({c.ndim for c in carry})
    if lengths is not None:
        running = _running(lengths, steps, carry, device)
        x_parts = x_parts + [ops.reshape(running, running.shape + (1,) * (r - 1)) for r in ranks]
    body = _Body(step, carry_tree, x_tree, carry, ranks if lengths is not None else [])
    return carry, carry_tree, x_parts, steps, device, body


def compiled_plan(step, init, xs=None, *, length=None, lengths=None, reverse=False):
    """(the tape of one recorded step, its plan), as ``scan(..., engine="compiled")`` makes
    them (see ``explain``)."""
    carry, _, x_parts, steps, device, body = _prepare(step, init, xs, length, lengths)
    tape = _record(body, carry, x_parts, steps, reverse, device)
    return tape, plan.planned(tape)


# ---------------------------------------------------------------- the two engines

def _graph(body, carry, x_parts, steps, reverse, device):
    """Op by op: the step on tensors at each time step, ys stacked."""
    if steps == 0:
        return _no_steps(body, carry, x_parts, device)
    per_step = [ops.unbind(x, 0) for x in x_parts]
    outputs = [None] * steps
    for t in (range(steps - 1, -1, -1) if reverse else range(steps)):
        carry, outputs[t] = body(carry, [x[t] for x in per_step])
    ys = [ops.stack([out[j] for out in outputs], axis=0) for j in range(len(outputs[0]))]
    return carry, ys


def _compiled(body, carry, x_parts, steps, reverse, device):
    """Record one step, run the hoisted ops over every step at once, replay the rest."""
    tape = _record(body, carry, x_parts, steps, reverse, device)
    if steps == 0:
        return _empty(tape, carry, device)
    planned = plan.planned(tape)
    value = {tape.n_carry + j: x for j, x in enumerate(x_parts)}
    value.update(tape.closures)
    for h in planned.hoisted:  # graph ops, over the stacked inputs or the closures alone
        out = h.op.cls.apply(*[value[s] for s in h.op.ins], **h.op.options)
        for s, o in zip(h.op.outs, out if type(out) is tuple else (out,)):
            value[s] = o
    loop = planned.loop
    inputs = list(carry) + [value[s] for s in loop.x_sources] + [
        value[s] for s in loop.closure_sources]
    out = Scan.apply(*inputs, loop=loop, steps=steps, reverse=reverse)
    out = out if type(out) is tuple else (out,)
    return list(out[:tape.n_carry]), list(out[tape.n_carry:])


def _record(body, carry, x_parts, steps, reverse, device):
    """The tape of the first step the scan runs (of zeros where there is none)."""
    first = steps - 1 if reverse else 0
    tracers = [Tensor._make(c.data, device, None, 0) for c in carry]
    with backend.get_device(device).activate():
        x_first = [Tensor._make(x.data[first] if steps else backend.xp_of(device).zeros(
            x.shape[1:], dtype=x.dtype), device, None, 0) for x in x_parts]
    tape, _, _ = recording.record(body, tracers, x_first, device)
    return tape


def _no_steps(body, carry, x_parts, device):
    """Zero steps: the carry as it was, and empty ys shaped by one recorded step."""
    return _empty(_record(body, carry, x_parts, 0, False, device), carry, device)


def _empty(tape, carry, device):
    xp = backend.xp_of(device)
    with backend.get_device(device).activate():
        ys = [Tensor._make(xp.zeros((0,) + tape.shapes[s], dtype=tape.dtypes[s]), device, None, 0)
              for s in tape.y_out]
    # the carry as it was, as tensors of their own (an in-place write to one leaves init alone);
    # clone keeps the graph, so the gradient still reaches init
    return [ops.clone(c) for c in carry], ys


# ---------------------------------------------------------------- the step, flat

class _Body:
    """The user's step on flat lists of tensors, checked, with the ``lengths`` masks applied:
    ``body(carry list, x list) -> (carry list, y list)``."""

    def __init__(self, step, carry_tree, x_tree, carry, ranks):
        # ranks: with lengths, the carry's ranks, whose running masks (B, 1, ...) end the inputs
        self.step, self.carry_tree, self.x_tree, self.ranks = step, carry_tree, x_tree, ranks
        self.signature = [(c.shape, c.dtype) for c in carry]
        self.y_tree = None

    def __call__(self, carry, x):
        n = len(self.ranks)
        running = dict(zip(self.ranks, x[len(x) - n:])) if n else None
        user_x = x[:len(x) - n]
        result = self.step(_unflatten(self.carry_tree, carry), _unflatten(self.x_tree, user_x))
        if not (isinstance(result, tuple) and len(result) == 2):
            raise TypeError(f"scan: step must return a pair (new_carry, y), got "
                            f"{_describe(result)}")
        new, y = result
        new, tree = _flatten(new, "the carry the step returned")
        if tree != self.carry_tree or [(c.shape, c.dtype) for c in new] != self.signature:
            raise ValueError(f"scan: the step must return a carry of the structure, shapes and "
                             f"dtypes of init: expected {self._show(self.carry_tree, self.signature)}"
                             f", got {self._show(tree, [(c.shape, c.dtype) for c in new])}")
        y, self.y_tree = _flatten(y, "the y the step returned")
        if running is not None:
            new = [ops.where(_rows(running, n), n, c) for n, c in zip(new, carry)]
            y = [ops.where(_rows(running, v), v, 0.0) for v in y]
        return new, y

    @staticmethod
    def _show(tree, signature):
        parts = iter(f"{tuple(shape)} {np.dtype(dtype).name}" for shape, dtype in signature)
        return str(_unflatten(tree, list(parts))).replace("'", "")


def _rows(running, like):
    """The running mask (B, 1, ...) that broadcasts over ``like`` (B, ...)."""
    some = next(iter(running.values()))
    if like.ndim == 0 or like.shape[0] != some.shape[0]:
        raise ValueError(f"scan: with lengths, every carry and y needs the batch ({some.shape[0]} "
                         f"sequences) as its first axis, got shape {like.shape}")
    mask = running.get(like.ndim)
    if mask is None:  # a y of a rank no carry has
        mask = ops.reshape(some, (some.shape[0],) + (1,) * (like.ndim - 1))
    return mask


def _running(lengths, steps, carry, device):
    """(T, B) bool: step t of sequence b runs (t < lengths[b]) (the carry's first axis is B),
    made on ``device`` from lengths of any device (see tinygrad_seq/lengths.py)."""
    batch = carry[0].shape[0] if carry[0].ndim else None
    lengths, _ = sequence_lengths.checked("scan", lengths, steps, batch, ", the carry's first axis")
    return Tensor._make(sequence_lengths.running(lengths, steps, device), device, None, 0)


def _steps(x_parts, length):
    found = {x.shape[0] for x in x_parts if x.ndim}
    if any(x.ndim == 0 for x in x_parts):
        raise ValueError("scan: every tensor of xs needs a leading time axis, got a 0-d tensor")
    if len(found) > 1:
        raise ValueError(f"scan: the tensors of xs disagree on the number of steps (their first "
                         f"axes): {sorted(found)}")
    if found:
        steps = found.pop()
        if length is not None and length != steps:
            raise ValueError(f"scan: length={length} but xs has {steps} steps")
        return steps
    if length is None:
        raise ValueError("scan: without xs, give the number of steps as length=")
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 0:
        raise ValueError(f"scan: length must be a non-negative integer, got {length!r}")
    return int(length)


# ---------------------------------------------------------------- nested tuples and lists

def _flatten(value, what):
    """(list of tensors, tree): the tree is the value with each tensor replaced by None."""
    parts = []

    def walk(v):
        if isinstance(v, Tensor):
            parts.append(v)
            return None
        if isinstance(v, (tuple, list)):
            return type(v)(walk(item) for item in v)
        if v is None:
            return "none"
        raise TypeError(f"scan: {what} must be tensors in (nested) tuples or lists, found "
                        f"{type(v).__name__}")
    return parts, walk(value)


def _unflatten(tree, parts):
    parts = iter(parts)

    def build(node):
        if node is None:
            return next(parts)
        if node == "none":
            return None
        return type(node)(build(item) for item in node)
    return build(tree)


def _describe(value):
    if isinstance(value, Tensor):
        return f"one tensor of shape {value.shape} (return (carry, y), e.g. (h, h))"
    if isinstance(value, tuple):
        return f"a tuple of {len(value)}"
    return type(value).__name__
