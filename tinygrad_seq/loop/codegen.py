"""A loop's program as Python source: one function runs the forward over every step, one the
backward, each op a direct call with its slots as local variables.

An interpreter over the program's tables (look up each op's slots in a list, build its context,
its arguments, its outputs) costs more than the NumPy work of a small cell: the small LSTM
(batch 8, 32 units) spends most of a step in it. The source made here has nothing to look up:
``s7 = F2(k2, s0, s5)`` for an op, the context ``k2`` an instance of a subclass of the op's
class made for this program, whose class attributes already hold the device, the array module
and which inputs need a gradient (``tg.loop.explain`` shows the same program as a table).
"""
from .. import autograd
from ..autograd import _unbroadcast

# A weight's summed gradient is made whenever the steps' output gradients collected for it reach
# this many elements (and at the end): one GEMM over many steps, without holding every step's
# output gradient (and a stacked copy of them all) until the last one.
SUMMED_SIZE = 1 << 20


def compiled(program, loop, xp, device, keep, anomaly):
    """``(forward, backward)`` for ``program`` on ``device``: made once per program, device and
    pattern of (``keep``: the forward keeps the steps' contexts; ``anomaly``: anomaly mode on)."""
    key = (device, keep, anomaly)
    found = program.compiled.get(key)
    if found is None:
        found = program.compiled[key] = _build(program, loop, xp, device, keep, anomaly)
    return found


def _build(program, loop, xp, device, keep, anomaly):
    scope = {"new": object.__new__, "xp": xp, "autograd": autograd, "unbroadcast": _unbroadcast,
             "SUMMED_SIZE": SUMMED_SIZE, "sum_into": sum_into}
    for i, op in enumerate(program.ops):
        # the op's context class for this program: device, xp and needs as class attributes
        scope[f"K{i}"] = type(op.cls.__name__, (op.cls,), {
            "name": op.cls.name, "xp": xp, "device": device, "saved": (),
            "needs_input_grad": list(op.needs), "__module__": op.cls.__module__})
        scope[f"F{i}"], scope[f"B{i}"], scope[f"O{i}"] = op.cls.forward, op.cls.backward, op.options
        scope[f"C{i}"] = op.cls
        scope[f"P{i}"] = op
        for k, (shape, dtype) in enumerate(zip(op.shapes, op.dtypes)):
            scope[f"S{i}_{k}"], scope[f"T{i}_{k}"] = shape, dtype
    for s, (shape, dtype) in enumerate(zip(loop.shapes, loop.dtypes)):
        scope[f"SH{s}"], scope[f"DT{s}"] = shape, dtype
    text = "\n".join(_forward_lines(program, loop, keep, anomaly) + [""]
                     + _backward_lines(program, loop, anomaly))
    exec(compile(text, f"<tg.scan program {id(program):x}>", "exec"), scope)
    return scope["forward"], scope["backward"]


def _names(prefix, slots):
    return ", ".join(f"{prefix}{s}" for s in slots)


def _tuple(names):
    return f"({names},)" if names and "," not in names else f"({names})"


def _forward_lines(program, loop, keep, anomaly):
    """``forward(carry, xs, closures, ys, order, kept, epoch) -> final carry`` (a list)."""
    n_carry, n_x = loop.n_carry, len(loop.x_sources)
    first_x, first_closure = loop.first_x, loop.first_closure
    end_closures = first_closure + len(loop.closure_sources)
    lines = ["def forward(carry, xs, closures, ys, order, kept, epoch):"]
    if n_carry:
        lines.append(f"    {_names('s', range(n_carry))}, = carry")
    if n_x:
        lines.append(f"    {_names('X', range(n_x))}, = xs")
    if loop.closure_sources:
        lines.append(f"    {_names('s', range(first_closure, end_closures))}, = closures")
    if loop.y_out:
        lines.append(f"    {_names('Y', range(len(loop.y_out)))}, = ys")
    lines.append("    for t in order:")
    body = []
    for j in range(n_x):
        body.append(f"s{first_x + j} = X{j}[t]")
    for i, op in enumerate(program.ops):
        args = ", ".join([f"k{i}"] + [f"s{s}" for s in op.ins]) + (f", **O{i}" if op.options else "")
        outs = _names("s", op.outs) + ("," if op.tuple_out else "")
        body.append(f"k{i} = new(K{i}); k{i}.epoch = epoch")
        body.append(f"{outs} = F{i}({args})")
        if not op.tuple_out and loop.shapes[op.outs[0]] == ():
            # NumPy makes a 0-d result a scalar: the slot holds an array
            body.append(f"s{op.outs[0]} = xp.asarray(s{op.outs[0]})")
        if anomaly:
            result = _names("s", op.outs) if not op.tuple_out else _tuple(_names("s", op.outs))
            body.append(f"autograd._anomaly.forward(k{i}, C{i}, [{_names('s', op.ins)}], {result})")
    for j, s in enumerate(loop.y_out):
        body.append(f"Y{j}[t] = s{s}")
        if s < first_x or s >= end_closures:  # made by this step (or the carry)
            body.append(f"s{s} = Y{j}[t]")  # later steps save the stored copy: the step's array goes
    if n_carry:
        body.append(f"{_names('s', range(n_carry))}, = {_names('s', loop.carry_out)},")
    if keep:
        body.append(f"kept[t] = {_tuple(_names('k', range(len(program.ops))))}")
    lines += ["        " + line for line in body] or ["        pass"]
    lines.append(f"    return [{_names('s', range(n_carry))}]")
    return lines


def _backward_lines(program, loop, anomaly):
    """``backward(g_carry, g_ys, kept, order, retain, steps, g_xs, g_closures, summed)`` -> the
    carry's gradient (a list); fills ``g_xs`` and ``g_closures`` (lists, None where none came)."""
    n_carry, n_x = loop.n_carry, len(loop.x_sources)
    first_x, first_closure = loop.first_x, loop.first_closure
    needs = program.slot_needs
    lines = ["def backward(g_carry, g_ys, kept, order, retain, steps, g_xs, g_closures, summed):"]
    if n_carry:
        lines.append(f"    {_names('h', range(n_carry))}, = g_carry")
    if loop.y_out:
        lines.append(f"    {_names('GY', range(len(loop.y_out)))}, = g_ys")
    for i, op in enumerate(program.ops):
        if op.summed is not None:
            lines.append(f"    D{i} = summed[{i}]")
    lines.append("    for t in order:")
    body = [f"{_names('k', range(len(program.ops)))}, = kept[t]" if program.ops else "pass",
            "if not retain:",
            "    kept[t] = None  # this step's saved arrays go as soon as its gradient is made"]
    grads = [s for s in range(loop.n_slots) if needs[s]]
    if grads:
        body.append(f"{_names('g', grads)} = {', '.join(['None'] * len(grads))}")
    for s, k in zip(loop.carry_out, range(n_carry)):
        if needs[s]:
            body += [f"if h{k} is not None:", f"    g{s} = h{k} if g{s} is None else g{s} + h{k}"]
    for j, s in enumerate(loop.y_out):
        if needs[s]:
            body += [f"if GY{j} is not None:", f"    g{s} = GY{j}[t] if g{s} is None else g{s} + GY{j}[t]"]
    for i in range(len(program.ops) - 1, -1, -1):
        op = program.ops[i]
        into = [(k, s) for k, (s, need) in enumerate(zip(op.ins, op.needs)) if need]
        if not into and op.summed is None:
            continue
        outs = [f"g{s}" if needs[s] else "None" for s in op.outs]
        if not op.tuple_out:
            if outs[0] == "None":
                continue
            body.append(f"if {outs[0]} is not None:")
            body.append(f"    r = B{i}(k{i}, {outs[0]})")
            out_grads = f"({outs[0]},)"
        else:
            live = [o for o in outs if o != "None"]
            if not live:
                continue
            body.append(f"if {' or '.join(f'{o} is not None' for o in live)}:")
            out_grads = f"({', '.join(outs)},)"
            body.append(f"    r = B{i}(k{i}, *{out_grads})")
        body.append("    if type(r) is not tuple:")
        body.append("        r = (r,)")
        if anomaly:
            body.append(f"    autograd._anomaly.backward(k{i}, {out_grads}, r)")
        if op.summed is not None:
            g = out_grads[1:out_grads.index(",")]
            body += [f"    D{i}[0].append(k{i}.saved)", f"    D{i}[1].append({g})",
                     f"    D{i}[2] += {g}.size",
                     f"    if D{i}[2] >= SUMMED_SIZE:",
                     f"        sum_into(g_closures, P{i}, D{i}, {first_closure}, xp)"]
        for k, s in into:
            body += [f"    gi = r[{k}]",
                     "    if gi is not None:",
                     f"        if gi.shape != S{i}_{k}:",
                     f"            gi = unbroadcast(xp.asarray(gi), S{i}_{k}, k{i})",
                     f"        if gi.dtype != T{i}_{k}:",
                     f"            gi = gi.astype(T{i}_{k})",
                     f"        g{s} = gi if g{s} is None else g{s} + gi"]
    if n_carry:
        body.append(f"{_names('h', range(n_carry))}, = "
                    f"{', '.join(f'g{s}' if needs[s] else 'None' for s in range(n_carry))},")
    for j in range(n_x):
        s = first_x + j
        if needs[s]:
            body += [f"if g{s} is not None:",
                     f"    if g_xs[{j}] is None:",
                     f"        g_xs[{j}] = xp.zeros((steps,) + SH{s}, dtype=DT{s})",
                     f"    g_xs[{j}][t] = g{s}"]
    for k in range(len(loop.closure_sources)):
        s = first_closure + k
        if needs[s]:
            body += [f"if g{s} is not None:",
                     f"    g_closures[{k}] = g{s} if g_closures[{k}] is None else g_closures[{k}] + g{s}"]
    lines += ["        " + line for line in body]
    lines.append(f"    return [{_names('h', range(n_carry))}]")
    return lines


def sum_into(g_closures, op, deferred, first_closure, xp):
    """Add the gradient of ``op``'s loop-invariant weight over the steps collected in
    ``deferred`` (one product) to its closure's gradient, and empty ``deferred``."""
    k = op.summed
    gw = op.cls.summed_grad(xp, deferred[0], deferred[1])
    if gw.dtype != op.dtypes[k]:
        gw = gw.astype(op.dtypes[k])
    j = op.ins[k] - first_closure
    g_closures[j] = gw if g_closures[j] is None else g_closures[j] + gw
    deferred[0], deferred[1], deferred[2] = [], [], 0
