"""From a recorded step to what runs: work hoisted out of the loop, and the loop's program.

``split(tape)`` sorts the tape's ops in two:

- *hoisted*: an op none of whose inputs depends on the carry (nor on a random op). Run once
  before the loop as ordinary graph ops: on the closures alone (computed once), or on the whole
  stacked inputs (T, ...) at once where the op allows extra leading axes (``Function.leading``:
  elementwise ops, ``linear``'s input) — the input projection of every cell is one GEMM.
- *looped*: the rest, replayed step by step by ``replay.Scan``.

``Loop`` is the looped part re-slotted (carry, then step inputs, then closures, then outputs)
and, for a pattern of which inputs need a gradient, ``program()``: each op's slots, shapes and
``needs_input_grad``, and which ops defer a loop-invariant weight's gradient to one product over
all steps (``Function.summed_input``: ``linear``, ``matmul``).
"""
import collections

from ..autograd import Function


class Planned:
    """What a tape becomes: ``hoisted`` ops, ``stacked`` slots, and the ``loop`` (its step inputs
    and closures named by the tape's slots), shared by every tape of the same signature."""

    def __init__(self, tape):
        self.hoisted, looped, self.stacked = split(tape)
        used = [s for op in looped for s in op.ins] + list(tape.carry_out) + list(tape.y_out)
        made_in_loop = {s for op in looped for s in op.outs} | set(range(tape.n_carry))
        x_sources, closure_sources = [], []
        for s in dict.fromkeys(used):  # in order of first use, once each
            if s not in made_in_loop:
                (x_sources if s in self.stacked else closure_sources).append(s)
        self.loop = Loop(tape, looped, x_sources, closure_sources)


_planned = collections.OrderedDict()
PLANS_KEPT = 128


def planned(tape):
    """The plan of ``tape``, from the cache where a tape of its signature was planned before."""
    key = tape.signature()
    if key is None:
        return Planned(tape)
    found = _planned.get(key)
    if found is None:
        found = _planned[key] = Planned(tape)
        if len(_planned) > PLANS_KEPT:
            _planned.popitem(last=False)
    else:
        _planned.move_to_end(key)
    return found


class Hoisted:
    """An op run before the loop: ``op`` a TapeOp; ``stacked`` when it runs over (T, ...)."""
    __slots__ = ("op", "stacked")

    def __init__(self, op, stacked):
        self.op, self.stacked = op, stacked


def split(tape):
    """(hoisted ops in order, looped ops in order, stacked: the slots whose values have a
    leading time axis when computed before the loop)."""
    looped_slots = set(range(tape.n_carry))
    stacked = set(range(tape.n_carry, tape.n_carry + tape.n_x))
    hoisted, looped = [], []
    for op in tape.ops:
        if op.random or any(s in looped_slots for s in op.ins) or not _can_hoist(op, tape, stacked):
            looped.append(op)
            looped_slots.update(op.outs)
        else:
            varying = any(s in stacked for s in op.ins)
            hoisted.append(Hoisted(op, varying))
            if varying:
                stacked.update(op.outs)
    return hoisted, looped, stacked


def _can_hoist(op, tape, stacked):
    """Whether ``op`` computes the same over a leading time axis of its varying inputs: each
    varying input sits where the op allows leading axes, and (elementwise) has the full rank of
    the result, so that broadcasting against loop-invariant inputs still lines up."""
    varying = [k for k, s in enumerate(op.ins) if s in stacked]
    if not varying:
        return True
    leading = op.cls.leading
    if leading == "all":
        rank = max(len(tape.shapes[s]) for s in op.outs)
        return all(len(tape.shapes[op.ins[k]]) == rank for k in varying)
    return all(k in leading for k in varying)


class Loop:
    """The looped ops of a tape, re-slotted: ``0 .. n_carry-1`` the carry, then the step inputs
    (``x_sources``: the tape slot each comes from), then the closures (``closure_sources``), then
    the ops' outputs. Built once per tape; ``program(needs)`` once per pattern of needs."""

    def __init__(self, tape, looped, x_sources, closure_sources):
        self.n_carry = tape.n_carry
        self.x_sources, self.closure_sources = tuple(x_sources), tuple(closure_sources)
        where = {s: i for i, s in enumerate(range(tape.n_carry))}
        first_x = tape.n_carry
        for j, s in enumerate(x_sources):
            where[s] = first_x + j
        first_closure = first_x + len(x_sources)
        for k, s in enumerate(closure_sources):
            where[s] = first_closure + k
        shapes = [tape.shapes[s] for s in range(tape.n_carry)] + [
            tape.shapes[s] for s in x_sources] + [tape.shapes[s] for s in closure_sources]
        dtypes = [tape.dtypes[s] for s in range(tape.n_carry)] + [
            tape.dtypes[s] for s in x_sources] + [tape.dtypes[s] for s in closure_sources]
        self.ops = []
        for op in looped:
            for s in op.outs:
                where[s] = len(shapes)
                shapes.append(tape.shapes[s])
                dtypes.append(tape.dtypes[s])
            self.ops.append((op.cls, op.options, tuple(where[s] for s in op.ins),
                             tuple(where[s] for s in op.outs), op.tuple_out))
        self.shapes, self.dtypes = shapes, dtypes
        self.n_slots = len(shapes)
        self.first_x, self.first_closure = first_x, first_closure
        self.carry_out = tuple(where[s] for s in tape.carry_out)
        self.y_out = tuple(where[s] for s in tape.y_out)
        self.random = any(op.random for op in looped)  # a scan of it draws (Scan.draws)
        self._programs = {}

    def kind(self, slot):
        if slot < self.first_x:
            return "carry"
        if slot < self.first_closure:
            return "x"
        if slot < self.first_closure + len(self.closure_sources):
            return "closure"
        return "op"

    def program(self, needs):
        """The ops ready to replay when the loop's inputs (carry, xs, closures, in order) need a
        gradient as ``needs`` says (a tuple of bools): a ``Program``, made once per pattern."""
        found = self._programs.get(needs)
        if found is None:
            found = self._programs[needs] = self._program(needs)
        return found

    def _program(self, needs):
        carry_needs = list(needs[:self.n_carry])
        while True:  # the carry needs a gradient if its initial value or any step's result does
            slot_needs = self._slot_needs(carry_needs, needs)
            more = [a or slot_needs[s] for a, s in zip(carry_needs, self.carry_out)]
            if more == carry_needs:
                break
            carry_needs = more
        steps = []
        for cls, options, ins, outs, tuple_out in self.ops:
            op_needs = [slot_needs[s] and self.dtypes[s].kind == "f" for s in ins]
            summed = None
            k = cls.summed_input
            if (k is not None and op_needs[k] and self.kind(ins[k]) == "closure"
                    and getattr(cls, "summable", _always)([self.shapes[s] for s in ins])
                    and all(self.kind(s) != "closure" for j, s in enumerate(ins) if j != k)):
                summed, op_needs[k] = k, False  # its gradient: one product after the loop
            steps.append(Step(cls, options, ins, outs, op_needs, [self.shapes[s] for s in ins],
                              [self.dtypes[s] for s in ins], summed, tuple_out))
        return Program(steps, slot_needs)

    def _slot_needs(self, carry_needs, needs):
        slot_needs = list(carry_needs) + list(needs[self.n_carry:]) + [False] * (
            self.n_slots - len(needs))
        for cls, options, ins, outs, _ in self.ops:
            if any(slot_needs[s] for s in ins) and not (cls.backward is Function.backward):
                for s in outs:
                    slot_needs[s] = self.dtypes[s].kind == "f"
        return slot_needs


def _always(shapes):
    return True


class Program:
    """The loop's ops for one pattern of needed gradients: ``ops`` (``Step``), ``slot_needs``
    (whether a gradient flows into each slot); ``compiled`` holds the Python functions made of
    it (``codegen.compiled``)."""

    def __init__(self, ops, slot_needs):
        self.ops, self.slot_needs = ops, slot_needs
        self.compiled = {}


class Step:
    """One op of the loop's program."""
    __slots__ = ("cls", "options", "ins", "outs", "needs", "shapes", "dtypes", "summed",
                 "tuple_out")

    def __init__(self, cls, options, ins, outs, needs, shapes, dtypes, summed, tuple_out):
        self.cls, self.options, self.ins, self.outs = cls, options, ins, outs
        self.needs, self.shapes, self.dtypes, self.summed = needs, shapes, dtypes, summed
        self.tuple_out = tuple_out
