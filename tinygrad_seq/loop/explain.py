"""``explain``: the picture of a recorded step, as the compiled engine will run it."""
from .run import compiled_plan


def explain(step, init, xs=None, *, length=None, lengths=None, reverse=False):
    """How ``tg.scan(step, init, xs, ...)`` compiles, as text: the ops run once before the loop
    (on the closures, or over every step at once), the ops replayed each step, and the
    loop-invariant weights whose gradient is one product after the loop. Values are named by
    kind: ``carry0``, ``x0``, ``w0`` (a closure: a weight or any tensor the step closes over),
    ``v7`` (an op's result); shapes are those of one step.

    >>> import tinygrad_seq as tg
    >>> cell = tg.nn.RNNCell(3, 4)
    >>> def step(h, x):
    ...     out, h = cell.step(cell.project(x), h)
    ...     return h, out
    >>> print(tg.loop.explain(step, tg.zeros(2, 4), tg.zeros(5, 2, 3)))
    recorded step: 6 ops (3 before the loop, 3 in it)
    before the loop, once:
      v4 = add(w2, w3)  (4,)
    before the loop, over all 5 steps at once:
      v6 = linear(x0, w5)  (2, 4)
      v7 = add(v6, v4)  (2, 4)
    each step:
      v9 = linear(carry0, w8)  (2, 4)  [w8's gradient: one product after the loop]
      v10 = add(v7, v9)  (2, 4)
      v11 = tanh(v10)  (2, 4)
    returns: carry v11; y v11
    """
    tape, planned = compiled_plan(step, init, xs, length=length, lengths=lengths,
                                  reverse=reverse)
    names = {}

    def name(s):
        if s not in names:
            kind = tape.kinds[s]
            if kind == "carry":
                names[s] = f"carry{s}"
            elif kind == "x":
                names[s] = f"x{s - tape.n_carry}"
            elif kind == "closure":
                names[s] = f"w{s}"
            else:
                names[s] = f"v{s}"
        return names[s]

    def line(op, note=""):
        outs = ", ".join(name(s) for s in op.outs)
        shapes = " ".join(str(tape.shapes[s]) for s in op.outs)
        return f"  {outs} = {op.cls.name}({', '.join(name(s) for s in op.ins)})  {shapes}{note}"

    steps_in_loop = [op for op in tape.ops if not any(op is h.op for h in planned.hoisted)]
    lines = [f"recorded step: {len(tape.ops)} ops ({len(planned.hoisted)} before the loop, "
             f"{len(steps_in_loop)} in it)"]
    once = [h.op for h in planned.hoisted if not h.stacked]
    stacked = [h.op for h in planned.hoisted if h.stacked]
    if once:
        lines.append("before the loop, once:")
        lines += [line(op) for op in once]
    if stacked:
        steps = _steps_of(xs, length)
        lines.append(f"before the loop, over all {steps} steps at once:")
        lines += [line(op) for op in stacked]
    lines.append("each step:")
    for op in steps_in_loop:
        k = op.cls.summed_input
        note = ""
        invariant = [tape.kinds[s] in ("closure", "closure-op") for s in op.ins]
        if k is not None and invariant[k] and not any(v for j, v in enumerate(invariant) if j != k):
            note = f"  [{name(op.ins[k])}'s gradient: one product after the loop]"
        lines.append(line(op, note))
    lines.append("returns: carry " + ", ".join(name(s) for s in tape.carry_out)
                 + "; y " + (", ".join(name(s) for s in tape.y_out) or "none"))
    return "\n".join(lines)


def _steps_of(xs, length):
    from .run import _flatten, _steps
    return _steps(_flatten(xs, "xs")[0], length)

