"""Function (one node of the graph), grad mode, and the iterative backward walk.

An op is a subclass of ``Function`` with a ``forward`` and a ``backward`` on raw arrays of the
device's array module (``ctx.xp``). ``Op.apply(*tensors, **options)`` runs the forward and, when
some input requires grad and grad mode is on, records the node on the outputs. ``backward``
walks the recorded nodes in reverse topological order with an explicit stack (no recursion, so
a 10,000-step BPTT graph is fine), sums each gradient back to its input's shape (broadcasting is
undone here, once) and accumulates into ``.grad`` of the leaves.
"""
import functools
import threading

import numpy as np

from . import backend, versions

_Tensor = None  # set by tensor.py: Function.apply wraps its results in Tensors
_anomaly = None  # anomaly.py's hooks while some thread is in detect_anomaly(), else None
_recorder = None  # tg.scan's recorder while it records a step (loop/record.py), else None
retaining = False  # the retain_graph of the backward walk under way: a node keeps what it saved


def _register_tensor_type(cls):
    global _Tensor
    _Tensor = cls


def tensor_type():
    """The Tensor class (ops use it without importing tensor.py, which imports them)."""
    return _Tensor


# ---------------------------------------------------------------- grad mode

class _GradMode(threading.local):
    """Grad mode per thread, as PyTorch's: one thread's ``no_grad()`` never stops another
    thread's graph. Each thread starts with grad mode on and keeps its own stack of the modes
    that its ``no_grad``/``enable_grad`` blocks replaced, so exits in other threads, in any
    order, cannot change it."""
    enabled = True

    def __init__(self):
        self.previous = []


_grad_mode = _GradMode()


def is_grad_enabled():
    """True when ops run in this thread are recorded for backward."""
    return _grad_mode.enabled


class _SetGradMode:
    """Context manager and decorator that sets this thread's grad mode and restores the
    previous one on exit. One object may be entered by several threads at once."""

    def __init__(self, enabled):
        self.enabled = enabled

    def __enter__(self):
        mode = _grad_mode
        mode.previous.append(mode.enabled)
        mode.enabled = self.enabled
        return self

    def __exit__(self, *exc):
        mode = _grad_mode
        mode.enabled = mode.previous.pop()
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with _SetGradMode(self.enabled):
                return fn(*args, **kwargs)
        return wrapper


def no_grad():
    """Nothing computed inside is recorded for backward.

    >>> import tinygrad_seq as tg
    >>> w = tg.ones(3, requires_grad=True)
    >>> with tg.no_grad():
    ...     y = w * 2
    >>> y.requires_grad
    False
    """
    return _SetGradMode(False)


def enable_grad():
    """Record ops again, e.g. inside a ``no_grad`` block."""
    return _SetGradMode(True)


def reading(t, what):
    """Called where a tensor's values leave the ops (``numpy()``, ``item()``, ``detach()``, an
    index, an in-place write): while tg.scan records a step, a value computed inside the step
    cannot be read so, as it differs at every step (the recorder raises, naming ``what``)."""
    if _recorder is not None:
        _recorder.read(t, what)


# ---------------------------------------------------------------- Function

class Function:
    """One op of the graph: ``forward`` and ``backward`` on raw arrays, side by side.

    Subclass it for a custom op; ``self`` is the context shared by the two methods::

        class Softplus(tg.Function):
            def forward(ctx, x):
                ctx.save(x)
                return ctx.xp.logaddexp(0, x)

            def backward(ctx, g):
                x, = ctx.saved
                return g / (1 + ctx.xp.exp(-x))

        y = Softplus.apply(x)

    Positional arguments of ``apply`` are the differentiable inputs (Tensors; numbers and arrays
    are made constant tensors on the first tensor's device); keyword arguments are options handed
    to ``forward`` unchanged. ``forward`` returns one array, or a tuple of arrays for an op with
    several outputs. ``backward`` receives one gradient per output (``None`` for an output that
    received none) and returns one gradient per input (``None`` where no gradient is needed,
    see ``ctx.needs_input_grad``). A gradient may have the broadcast shape of the output: the
    engine sums it back to the input's shape. ``backward`` must not modify arrays in place.
    """

    name = "function"
    # For tg.scan's compiled engine (scan/plan.py): ``random`` ops draw from the device's stream
    # (never hoisted out of a loop, whose order of draws they would change); ``leading`` names
    # the inputs that may carry extra leading axes, all computed alike ("all" for elementwise
    # ops), so the op can run once over every step of a sequence.
    random = False
    leading = ()
    # ``summed_input``: an input whose gradient over many steps (the same weight at each) is one
    # ``summed_grad(xp, saved_of_each_step, output_grad_of_each_step)`` after the loop
    summed_input = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            cls.name = cls.__name__.lower()

    def save(self, *arrays):
        """Keep arrays for backward (released with the graph after backward)."""
        self.saved = arrays

    @classmethod
    def draws(cls, options):
        """Whether this op, applied with ``options``, draws from the device's random stream
        (``random``; an op that runs others, as tg.scan's, asks them)."""
        return cls.random

    def release(self):
        """Drop what the node keeps for backward besides ``saved`` (called once its backward
        ran without ``retain_graph``); nothing for most ops."""

    def forward(self, *arrays, **options):
        raise NotImplementedError(f"{type(self).__name__} does not define forward")

    def backward(self, *grads):
        raise NotImplementedError(f"{type(self).__name__} does not define backward")

    def __repr__(self):
        return f"<{type(self).__name__}>"

    @classmethod
    def apply(cls, *inputs, **options):
        Tensor = _Tensor
        for x in inputs:
            if not isinstance(x, Tensor):
                inputs = _with_constants(cls, inputs)
                break
        device = inputs[0].device
        arrays, needs = [], []
        for t in inputs:
            if t.device != device:
                raise RuntimeError(f"{cls.name}: inputs are on different devices, {device!r} and "
                                   f"{t.device!r}; move them to one device with .to(device)")
            arrays.append(t.data)
            needs.append(t.requires_grad)
        ctx = object.__new__(cls)
        dev = backend._devices[device]
        ctx.xp = dev.xp
        ctx.device = device
        ctx.saved = ()
        ctx.needs_input_grad = needs
        try:
            if dev.index is None:
                out = ctx.forward(*arrays, **options)
            else:
                with dev.activate():
                    out = ctx.forward(*arrays, **options)
        except (ValueError, IndexError) as e:
            shapes = ", ".join(str(tuple(a.shape)) for a in arrays)
            raise type(e)(f"{cls.name}: {e} (input shapes {shapes})") from None
        if _anomaly is not None:
            with dev.activate():  # its checks run kernels on the outputs
                _anomaly.forward(ctx, cls, arrays, out)
        track = _grad_mode.enabled and True in needs
        make = Tensor._make
        if type(out) is tuple:
            out = tuple([o if type(o) is dev.array_type else _as_array(o, dev) for o in out])
            if track:
                ctx.parents, ctx.n_outputs, ctx.freed = _links(inputs, needs), len(out), False
                ctx.epoch = versions.epoch
            result = tuple([make(o, device, ctx if track and o.dtype.kind == "f" else None, i)
                            for i, o in enumerate(out)])
        else:
            if type(out) is not dev.array_type:  # NumPy returns scalars for 0-d results
                out = _as_array(out, dev)
            if track and out.dtype.kind == "f":
                ctx.parents, ctx.n_outputs, ctx.freed = _links(inputs, needs), 1, False
                ctx.epoch = versions.epoch  # saved arrays written in place after this are stale
                result = make(out, device, ctx, 0)
            else:
                result = make(out, device, None, 0)
        if _recorder is not None:
            _recorder.op(cls, inputs, options, result)
        return result


def _links(inputs, needs):
    """What the walk needs of each input, and nothing more: a leaf that requires grad is kept
    (its ``.grad`` receives the sum); of an intermediate result only (node, output index, shape,
    dtype), so its data is freed as soon as no one else holds it (the graph of a 1,000-step
    sequence would otherwise keep every step's every intermediate array until backward); None
    for an input that needs no gradient."""
    links = []
    for t, need in zip(inputs, needs):
        if not need:
            links.append(None)
        elif t._ctx is None:
            links.append(t)
        else:
            data = t.data
            links.append((t._ctx, t._idx, data.shape, data.dtype))
    return links


def _with_constants(cls, inputs):
    """The inputs with numbers and arrays made constant tensors on the first tensor's device."""
    Tensor = _Tensor
    tensors = [x for x in inputs if isinstance(x, Tensor)]
    if not tensors:
        raise TypeError(f"{cls.name}: needs at least one Tensor input, got "
                        f"{', '.join(type(x).__name__ for x in inputs) or 'none'}")
    float_dtype = next((t.dtype for t in tensors if t.dtype.kind == "f"), None)
    return tuple(x if isinstance(x, Tensor) else _constant(x, float_dtype, tensors[0].device)
                 for x in inputs)


def _as_array(value, dev):
    """A scalar result (NumPy gives scalars for 0-d results) as an array of ``dev``. An array of
    another device is left alone: ToDevice's result lives on its target, not on its input's."""
    if not isinstance(value, np.generic):
        return value
    if dev.index is None:
        return np.asarray(value)
    with dev.activate():  # allocated on the op's GPU, not on the current one
        return dev.xp.asarray(value)


def _constant(value, float_dtype, device):
    """A number or array as a constant tensor. Numbers and arrays take the dtype of the float
    tensors beside them (``x32 * 2.5`` stays float32, ``x64 + np.array([0.1])`` float64); beside
    integer tensors only, integers are int64 and floats float32; booleans stay bool."""
    # an array of a GPU says its dtype itself: NumPy cannot read it (CuPy refuses the copy)
    kind = (value if hasattr(value, "dtype") else np.asarray(value)).dtype.kind
    if kind not in "biuf":
        raise TypeError(f"cannot use {type(value).__name__} {value!r} as an operand of an op: "
                        f"expected a Tensor, a number or a numeric array")
    if kind == "b":
        dtype = backend.bool_
    elif kind in "iu":
        dtype = float_dtype if float_dtype is not None else backend.DEFAULT_INT
    else:
        dtype = float_dtype if float_dtype is not None else backend.DEFAULT_FLOAT
    return _Tensor(value, dtype=dtype, device=device)


# ---------------------------------------------------------------- the backward walk

def _topological_order(roots):
    """Nodes reachable from ``roots``, every node after all nodes it depends on."""
    order, visited = [], set()
    stack = [(node, False) for node in roots]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if node in visited:
            continue
        if node.freed:
            raise RuntimeError(
                "backward through a graph that was already freed: the graph is released after "
                "backward(); pass retain_graph=True to the first backward to walk it twice")
        visited.add(node)
        stack.append((node, True))
        for link in node.parents:
            if type(link) is tuple and link[0] not in visited:
                stack.append((link[0], False))
    return order


def _unbroadcast(grad, shape, node):
    """Sum a gradient of a broadcast result back to the shape of the input it belongs to."""
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    if extra >= 0:
        axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
        if axes:
            grad = grad.sum(axis=axes, keepdims=True)
    if grad.shape != shape:
        raise RuntimeError(f"{node.name}: backward returned a gradient of shape {tuple(grad.shape)} "
                           f"for an input of shape {shape}")
    return grad


def run_backward(roots, root_grads, retain_graph=False, inputs=None):
    """Propagate ``root_grads`` (arrays) from ``roots`` back through the graph.

    Without ``inputs`` the gradients of leaves that require grad are added to their ``.grad``.
    With ``inputs`` (a list of tensors) nothing is written to ``.grad``; the list of their
    gradient arrays (``None`` where unreached) is returned instead.
    """
    global retaining
    retaining = retain_graph
    grads = {}
    for root, g in zip(roots, root_grads):
        if root._ctx is not None:
            slots = grads.setdefault(root._ctx, [None] * root._ctx.n_outputs)
            slots[root._idx] = g if slots[root._idx] is None else slots[root._idx] + g
    order = _topological_order(list(grads))
    leaf_grads = {}  # leaf tensor -> [summed gradient, whether that array is ours to keep]
    for root, g in zip(roots, root_grads):
        if root._ctx is None:
            _add_leaf(leaf_grads, root, g)
    wanted = {}
    if inputs is not None:
        wanted = {t._ctx: None for t in inputs if t._ctx is not None}
    for node in reversed(order):
        out_grads = grads.pop(node, None)
        if out_grads is None:
            continue
        if node in wanted:
            wanted[node] = out_grads
        dev = backend._devices[node.device]
        if dev.index is None:
            _backward_step(node, out_grads, grads, leaf_grads, dev)
        else:
            with dev.activate():  # allocations of the backward land on the node's GPU
                _backward_step(node, out_grads, grads, leaf_grads, dev)
        if not retain_graph:
            node.parents = node.saved = None
            node.freed = True
            node.release()
    if inputs is not None:
        result = []
        for t in inputs:
            if t._ctx is None:
                entry = leaf_grads.get(t)
                result.append(None if entry is None else (entry[0] if entry[1] else entry[0].copy()))
                if entry is not None:
                    entry[1] = False  # handed out: a leaf listed twice gets a second array
            else:
                slots = wanted.get(t._ctx)
                result.append(None if slots is None or slots[t._idx] is None else slots[t._idx].copy())
        return result
    for leaf, (g, owned) in leaf_grads.items():
        if not leaf.requires_grad:
            continue
        with backend._devices[leaf.device].activate():
            if leaf.grad is None:
                # Our gradient arrays may be shared between inputs (add returns g twice) or be
                # views of an upstream gradient: a leaf gets an array of its own.
                leaf.grad = _Tensor._make(g if owned else g.copy(), leaf.device, None, 0)
            else:
                leaf.grad = _Tensor._make(leaf.grad.data + g, leaf.device, None, 0)
    return None


def _backward_step(node, out_grads, grads, leaf_grads, dev):
    """Run one node's backward and hand each input its gradient (summed to the input's shape)."""
    if node.epoch != versions.epoch:  # some in-place write since the node was made
        versions.check_saved(node)
    in_grads = node.backward(*out_grads)
    if type(in_grads) is not tuple:
        in_grads = (in_grads,)
    if _anomaly is not None:
        _anomaly.backward(node, out_grads, in_grads)
    if len(in_grads) != len(node.parents):
        raise RuntimeError(f"{node.name}: backward returned {len(in_grads)} gradients for "
                           f"{len(node.parents)} inputs")
    for link, g in zip(node.parents, in_grads):
        if g is None or link is None:
            continue
        if type(g) is not dev.array_type:  # a NumPy scalar from 0-d arithmetic
            g = _as_array(g, dev)
        if type(link) is tuple:
            parent_node, i, shape, dtype = link
        else:
            parent_node, shape, dtype = None, link.data.shape, link.data.dtype
        if g.shape != shape:
            g = _unbroadcast(g, shape, node)
        if g.dtype != dtype:
            g = g.astype(dtype)
        if parent_node is None:
            _add_leaf(leaf_grads, link, g)
        else:
            slots = grads.get(parent_node)
            if slots is None:
                slots = grads[parent_node] = [None] * parent_node.n_outputs
            slots[i] = g if slots[i] is None else slots[i] + g


def _add_leaf(leaf_grads, leaf, g):
    entry = leaf_grads.get(leaf)
    if entry is None:
        leaf_grads[leaf] = [g, False]
    elif entry[1]:
        entry[0] += g  # our own sum already: a weight shared by T steps is summed in one buffer
    else:
        entry[0] = entry[0] + g
        entry[1] = True


def grad(outputs, inputs, grad_outputs=None, retain_graph=False, allow_unused=False):
    """Gradients of ``outputs`` with respect to ``inputs``, without touching any ``.grad``.

    >>> import tinygrad_seq as tg
    >>> x = tg.tensor([1.0, 2.0], requires_grad=True)
    >>> (gx,) = tg.grad((x * x).sum(), [x])
    >>> gx.tolist()
    [2.0, 4.0]
    >>> x.grad is None
    True
    """
    Tensor = _Tensor
    single_output = isinstance(outputs, Tensor)
    outputs = [outputs] if single_output else list(outputs)
    single_input = isinstance(inputs, Tensor)
    inputs = [inputs] if single_input else list(inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"grad: {len(outputs)} outputs but {len(grad_outputs)} grad_outputs")
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise ValueError(f"grad: inputs[{i}] does not require grad, so it has no gradient")
    seeds = [_seed_gradient(out, g, "grad") for out, g in zip(outputs, grad_outputs)]
    if not allow_unused:  # checked before the walk, which would free the graph
        order = _topological_order([o._ctx for o in outputs if o._ctx is not None])
        reached = {_reach_key(o) for o in outputs}
        reached.update(_reach_key(link) for node in order for link in node.parents)
        for i, t in enumerate(inputs):
            if _reach_key(t) not in reached:
                raise ValueError(f"grad: inputs[{i}] (shape {t.shape}) was not used to compute the "
                                 f"outputs; pass allow_unused=True to get None for it")
    arrays = run_backward(outputs, seeds, retain_graph=retain_graph, inputs=inputs)
    return tuple(None if g is None else Tensor._make(g, t.device, None, 0)
                 for t, g in zip(inputs, arrays))


def _reach_key(item):
    """One key for a tensor and for the link that a node keeps to it: a leaf by identity, an
    intermediate result by (its node, its output index)."""
    if type(item) is tuple:
        return id(item[0]), item[1]
    if item is None or item._ctx is None:
        return id(item)
    return id(item._ctx), item._idx


def _seed_gradient(output, grad, where):
    """The array that starts backward from ``output``: ones for a scalar, else ``grad`` checked."""
    Tensor = _Tensor
    if not output.requires_grad:
        raise RuntimeError(f"{where}: the tensor (shape {output.shape}) does not require grad and "
                           f"has no graph: no input that requires grad was used to compute it")
    xp = backend._devices[output.device].xp
    if grad is None:
        if output.data.size != 1:
            raise RuntimeError(f"{where}: backward() without a gradient needs a single-element "
                               f"tensor, got shape {output.shape}; pass a gradient of that shape, "
                               f"e.g. backward(tg.ones_like(out))")
        with backend._devices[output.device].activate():
            return xp.ones(output.data.shape, dtype=output.data.dtype)
    if isinstance(grad, Tensor):
        if grad.device != output.device:
            raise RuntimeError(f"{where}: gradient is on {grad.device!r} but the tensor is on "
                               f"{output.device!r}")
        grad = grad.data
    else:
        with backend._devices[output.device].activate():
            grad = xp.asarray(grad)
    if tuple(grad.shape) != output.shape:
        raise ValueError(f"{where}: gradient of shape {tuple(grad.shape)} given for a tensor of "
                         f"shape {output.shape}; they must be equal")
    return grad.astype(output.data.dtype, copy=False)
