"""Anomaly mode: find the first op that made a NaN or an inf, and where the user created it.

>>> import numpy as np
>>> import tinygrad_seq as tg
>>> x = tg.tensor([1.0, -1.0], requires_grad=True)
>>> with tg.detect_anomaly(), np.errstate(invalid="ignore"):
...     y = x.log()                                         # doctest: +ELLIPSIS
Traceback (most recent call last):
...
tinygrad_seq.anomaly.AnomalyError: forward of op 'log' produced nan ...

Inside ``with tg.detect_anomaly():`` every op's forward output is checked for NaN and inf, and
every node's backward gradients too; the first one found raises ``AnomalyError`` naming the op,
the shapes of its inputs and outputs, whether its own inputs were already non-finite, and the
place in the user's code where the op was created (the stack is captured when each op is
created, only while the mode is on). A backward anomaly names the node whose backward returned
the non-finite gradient, with the stack of its creation when it was created inside the mode
(so run the forward *and* the backward inside the block).

**Per thread**, as grad mode is: the mode is on in the threads that entered the block and only
there. A thread that turns it on to debug its own computation must not make another thread's
training (a data-loading thread, a second model being served) pay for stack captures and
checks, nor raise errors in code that never asked for them; and a block's exit in one thread
must not switch it off under another. The cost when off: one module-level check per op and per
backward node (``autograd._anomaly is not None``), which is None while no thread has the mode
on; ``benchmarks/anomaly_overhead.py`` measures it.
"""
import functools
import os
import threading
import traceback

import numpy as np

from . import autograd

__all__ = ["detect_anomaly", "is_anomaly_enabled", "AnomalyError"]

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


class AnomalyError(RuntimeError):
    """The first NaN or inf found in anomaly mode. Attributes: ``op`` (the op's name),
    ``phase`` ("forward" or "backward"), ``input_shapes``, ``output_shapes``, ``trace`` (the
    user's frames at the op's creation, innermost last; empty when created outside the mode)."""

    def __init__(self, message, op, phase, input_shapes, output_shapes, trace):
        super().__init__(message)
        self.op, self.phase = op, phase
        self.input_shapes, self.output_shapes, self.trace = input_shapes, output_shapes, trace


class _Mode(threading.local):
    depth = 0


_mode = _Mode()
_lock = threading.Lock()
_threads_on = 0


def is_anomaly_enabled():
    """True inside a ``detect_anomaly()`` block of this thread."""
    return _mode.depth > 0


class detect_anomaly:
    """Context manager (and decorator): anomaly mode on in this thread inside the block; see the
    module's text. Blocks nest."""

    def __enter__(self):
        global _threads_on
        if _mode.depth == 0:
            with _lock:
                _threads_on += 1
                autograd._anomaly = _hooks
        _mode.depth += 1
        return self

    def __exit__(self, *exc):
        global _threads_on
        _mode.depth -= 1
        if _mode.depth == 0:
            with _lock:
                _threads_on -= 1
                if _threads_on == 0:
                    autograd._anomaly = None
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with detect_anomaly():
                return fn(*args, **kwargs)
        return wrapper


def _user_frames(stack):
    """The frames outside this package (the user's code), outermost first."""
    return [f for f in stack if not f.filename.startswith("<frozen")
            and not os.path.abspath(f.filename).startswith(_PACKAGE)]


def _bad(array, xp):
    """'nan', 'inf' or None for a float array (other kinds cannot hold either). ``xp``: the
    array module of the op's device (``ctx.xp``), never guessed from the array's type."""
    if array is None or not hasattr(array, "dtype") or array.dtype.kind not in "fc":
        return None
    if isinstance(array, np.generic):  # a scalar a forward returned, as autograd then converts it
        array = xp.asarray(array)
    if bool(xp.isfinite(array).all()):
        return None
    return "nan" if bool(xp.isnan(array).any()) else "inf"


def _shape(a):
    return None if a is None else tuple(getattr(a, "shape", ()))


def _inside(stack):
    """The package's frames below the user's innermost one, as "cells.py:233 step <- ...":
    which layer, cell and function of the library the op came from."""
    last_user = max((i for i, f in enumerate(stack) if not f.filename.startswith("<")
                     and not os.path.abspath(f.filename).startswith(_PACKAGE)), default=-1)
    inner = [f for f in stack[last_user + 1:]
             if os.path.basename(f.filename) not in ("autograd.py", "anomaly.py")]
    return " -> ".join(f"{os.path.basename(f.filename)}:{f.lineno} {f.name}" for f in inner)


def _where(trace, inside=""):
    if inside:
        inside = f"\nInside tinygrad_seq: {inside}"
    if not trace:
        return ("\n  (created outside detect_anomaly(): run the forward inside the block to see "
                "where)")
    lines = "".join(traceback.format_list(trace[-6:])).rstrip()
    return "\nThe op was created at (innermost last):\n" + lines + inside


class _Hooks:
    """What autograd calls while some thread has the mode on; each first checks this thread."""

    @staticmethod
    def forward(ctx, cls, arrays, out):
        if _mode.depth == 0:
            return
        stack = traceback.extract_stack()[:-2]
        trace = _user_frames(stack)
        ctx._anomaly_trace, ctx._anomaly_inside = trace, stack
        outs = out if type(out) is tuple else (out,)
        for i, o in enumerate(outs):
            kind = _bad(o, ctx.xp)
            if kind is None:
                continue
            inputs_bad = [j for j, a in enumerate(arrays) if _bad(a, ctx.xp) is not None]
            shapes = [_shape(a) for a in arrays]
            out_shapes = [_shape(a) for a in outs]
            origin = (f"its inputs {inputs_bad} already held NaN/inf (they came from outside the "
                      f"mode or from data)" if inputs_bad else "from finite inputs")
            message = (f"forward of op '{cls.name}' produced {kind} in output {i} (shape "
                       f"{out_shapes[i]}) {origin}; input shapes {shapes}"
                       f"{_where(trace, _inside(stack))}")
            raise AnomalyError(message, cls.name, "forward", shapes, out_shapes, trace)

    @staticmethod
    def backward(node, out_grads, in_grads):
        if _mode.depth == 0:
            return
        for i, g in enumerate(in_grads):
            kind = _bad(g, node.xp)
            if kind is None:
                continue
            upstream_bad = [j for j, a in enumerate(out_grads) if _bad(a, node.xp) is not None]
            trace = getattr(node, "_anomaly_trace", [])
            shapes = [_shape(a) for a in in_grads]
            out_shapes = [_shape(a) for a in out_grads]
            origin = (f"the gradients of its outputs {upstream_bad} already held NaN/inf"
                      if upstream_bad else f"from finite output gradients (shapes {out_shapes})")
            message = (f"backward of op '{node.name}' returned {kind} in the gradient of input "
                       f"{i} (shape {shapes[i]}) {origin}"
                       f"{_where(trace, _inside(getattr(node, '_anomaly_inside', [])))}")
            raise AnomalyError(message, node.name, "backward", shapes, out_shapes, trace)


_hooks = _Hooks()
