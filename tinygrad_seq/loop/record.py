"""Recording one step of a scan: the ops it applies, as a tape of slots.

``record(step, carry, x)`` runs ``step`` once on real tensors of the first step while a
``Recorder`` listens to every ``Function.apply`` (``autograd._recorder``). Each value gets a slot:
the carry's tensors, then the step input's, then, in the order they are met, the tensors the
step closes over (parameters, constants, an encoder's outputs: loop-invariant inputs, the
*closures*) and the ops' outputs. The tape lists each op as (class, options, input slots, output
slots); replaying it over the sequence needs nothing of Python but that list.

What a tape cannot hold raises ``Untraceable`` naming it and the user's line: a value computed in
the step and read back into Python (``item()``, ``if h.sum() > 0``, ``numpy()``, ``detach()``,
an index tensor), an in-place write, random numbers drawn outside an op (``tg.randn`` in a
step), an op whose gradient is needed but that has no backward.
"""
import os
import threading
import traceback

from .. import autograd, backend
from ..autograd import Function

_INVARIANT = ("closure", "closure-op")  # kinds of slots that are the same at every step
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Untraceable(Exception):
    """The step does something a recorded tape cannot replay (the message says what, where)."""


class TapeOp:
    """One recorded op: ``tuple_out`` when its forward returns a tuple (even of one array);
    ``random`` when it draws from the device's stream (``Function.draws``)."""
    __slots__ = ("cls", "options", "ins", "outs", "tuple_out", "random")

    def __init__(self, cls, options, ins, outs, tuple_out, random):
        self.cls, self.options, self.ins, self.outs = cls, options, ins, outs
        self.tuple_out, self.random = tuple_out, random

    def __repr__(self):
        return f"{self.cls.name}{list(self.ins)}->{list(self.outs)}"


class Tape:
    """One recorded step. Slots: ``0 .. n_carry-1`` the carry, then ``n_x`` step inputs, then
    closures and op outputs as met. ``kinds[s]`` is "carry", "x", "closure", "op" or
    "closure-op" (an op on closures alone: the same at every step);
    ``shapes``/``dtypes`` are each slot's in the recorded step; ``closures`` maps a closure's
    slot to its tensor (this call's); ``carry_out``/``y_out`` are the slots the step returned."""

    def __init__(self):
        self.kinds, self.shapes, self.dtypes = [], [], []
        self.ops, self.closures = [], {}
        self.carry_out = self.y_out = ()
        self.n_carry = self.n_x = 0

    def __repr__(self):
        return f"<Tape of {len(self.ops)} ops: {' '.join(map(repr, self.ops))}>"

    def signature(self):
        """A hashable key equal for two tapes of the same ops, options, wiring, shapes and dtypes
        (their plan can be shared), or None where an option cannot be compared."""
        try:
            ops = tuple((op.cls, _frozen(op.options), op.ins, op.outs) for op in self.ops)
            key = (ops, tuple(self.kinds), tuple(self.shapes), tuple(self.dtypes), self.n_carry,
                   self.n_x, self.carry_out, self.y_out)
            hash(key)
            return key
        except TypeError:
            return None


def _frozen(value):
    """``value`` as something hashable that compares equal exactly when the values do."""
    if isinstance(value, dict):
        return tuple(sorted((k, _frozen(v)) for k, v in value.items()))
    if isinstance(value, (tuple, list)):
        return (type(value).__name__,) + tuple(_frozen(v) for v in value)
    if isinstance(value, slice):
        return ("slice", value.start, value.stop, value.step)
    if hasattr(value, "shape") and hasattr(value, "dtype") and hasattr(value, "tobytes"):
        if value.size > 64:
            raise TypeError("a large array option")  # not worth comparing: plan anew
        return ("array", str(value.dtype), value.shape, value.tobytes())
    return value


class _CountingGenerator:
    """Stands in for the device's random stream while a step is recorded: the recorded draws are
    thrown away (the replay draws again, in the graph's order) and counted, so that draws outside
    an op can be told apart."""

    def __init__(self, real):
        self.real, self.draws, self.lines = real, 0, []

    def __getattr__(self, name):
        method = getattr(self.real, name)

        def draw(*args, **kwargs):
            self.draws += 1
            self.lines.append(_user_line())  # where, should the draw turn out to be outside an op
            return method(*args, **kwargs)
        return draw


class Recorder:
    def __init__(self, device):
        self.tape = Tape()
        self.slot = {}  # id(tensor) -> slot
        self.keep = []  # the tensors behind those ids stay alive while recording
        self.thread = threading.get_ident()
        self.device = device
        self.generator = None
        self.counted = 0

    def add(self, t, kind):
        tape = self.tape
        s = len(tape.kinds)
        tape.kinds.append(kind)
        tape.shapes.append(tuple(t.data.shape))
        tape.dtypes.append(t.data.dtype)
        self.slot[id(t)] = s
        self.keep.append(t)
        if kind == "closure":
            tape.closures[s] = t
        return s

    def slot_of(self, t):
        s = self.slot.get(id(t))
        return self.add(t, "closure") if s is None else s

    def op(self, cls, inputs, options, result):
        if threading.get_ident() != self.thread:
            return
        random = cls.draws(options)
        self._check_draws(random)
        ins = tuple(self.slot_of(t) for t in inputs)
        outs = result if type(result) is tuple else (result,)
        traced = any(self.tape.kinds[s] not in _INVARIANT for s in ins)
        if (cls.backward is Function.backward and traced
                and any(o.data.dtype.kind == "f" for o in outs)):
            raise Untraceable(f"the op {cls.name} has no backward to replay"
                              f"{_user_line()}")
        kind = "op" if traced or random else "closure-op"
        out_slots = tuple(self.add(o, kind) for o in outs)
        self.tape.ops.append(TapeOp(cls, options, ins, out_slots, type(result) is tuple, random))

    def read(self, t, what):
        if threading.get_ident() != self.thread:
            return
        s = self.slot.get(id(t))
        if what.startswith("the in-place") or (s is not None and
                                                self.tape.kinds[s] not in _INVARIANT):
            raise Untraceable(f"{what} of a value computed inside the step: its value differs at "
                              f"every step, and a recorded step cannot read it{_user_line()}")

    def _check_draws(self, random_op):
        drawn = self.generator.draws - self.counted if self.generator else 0
        if drawn and not random_op:
            raise Untraceable("random numbers drawn outside an op (tg.rand, tg.randn, ...) inside "
                              "the step: a recorded step would reuse them; draw them with an op "
                              f"such as dropout, or before the scan{self.generator.lines[self.counted]}")
        if self.generator:
            self.counted = self.generator.draws

    # the recorder is a context: it listens while the step runs, and lets go whatever happens
    def __enter__(self):
        self.outer = autograd._recorder
        autograd._recorder = self
        dev = backend.get_device(self.device)
        self.real_generator = backend._generators.get(dev.name)
        # the recorded draws come from a stream of their own: the device's stays where it was,
        # so the replay (or the graph engine, after a fallback) draws what the graph would
        self.generator = _CountingGenerator(backend._Generator(dev, 0))
        backend._generators[dev.name] = self.generator
        return self

    def __exit__(self, *exc):
        autograd._recorder = self.outer
        dev = backend.get_device(self.device)
        if self.real_generator is None:
            backend._generators.pop(dev.name, None)
        else:
            backend._generators[dev.name] = self.real_generator
        return False


def _user_line():
    """", at file:line (code)" for the innermost frame of the stack outside this package."""
    for frame in reversed(traceback.extract_stack()[:-2]):
        if not os.path.abspath(frame.filename).startswith(_PACKAGE):
            return f", at {frame.filename}:{frame.lineno} ({(frame.line or '').strip()})"
    return ""


def record(step, carry, x, device):
    """The tape of ``step(carry, x) -> (new_carry, y)`` on flat lists of tensors ``carry`` and
    ``x`` (``step`` takes and returns flat lists too: scan/__init__ wraps the user's step).
    Returns (tape, new_carry tensors, y tensors) of the recorded step."""
    recorder = Recorder(device)
    tape = recorder.tape
    with autograd.no_grad(), recorder:
        for t in carry:
            recorder.add(t, "carry")
        for t in x:
            recorder.add(t, "x")
        tape.n_carry, tape.n_x = len(carry), len(x)
        new_carry, y = step(carry, x)
        recorder._check_draws(False)
        tape.carry_out = tuple(recorder.slot_of(t) for t in new_carry)
        tape.y_out = tuple(recorder.slot_of(t) for t in y)
    return tape, new_carry, y
