"""The compiled loop as one graph node: a recorded step replayed on raw arrays over the sequence.

``Scan.apply(*carry, *xs, *closures, loop=..., steps=T, reverse=...)``: the forward runs the
loop's program for t = 0 .. T-1 (or back), each op's own ``forward`` on the device's arrays,
keeping per step only the op contexts whose backward will be needed; the backward walks the
steps in reverse, each op's own ``backward``, the carry's gradient handed from step to step, and
sums a loop-invariant weight's gradient as one product over all steps (``plan.Loop``). Being an
op like the others, a Scan may sit inside another scan's step.
"""
from .. import autograd, backend, versions
from ..autograd import Function, _unbroadcast

_new = object.__new__
# A weight's summed gradient is made whenever the steps' output gradients collected for it reach
# this many elements (and at the end): one GEMM over many steps, without holding every step's
# output gradient (and a stacked copy of them all) until the last one.
SUMMED_SIZE = 1 << 20


class Scan(Function):
    name = "scan"

    @classmethod
    def draws(cls, options):
        return options["loop"].random

    def forward(ctx, *arrays, loop, steps, reverse):
        xp, device = ctx.xp, ctx.device
        array_type = backend._devices[device].array_type
        n_carry, n_x = loop.n_carry, len(loop.x_sources)
        carry = list(arrays[:n_carry])
        xs = arrays[n_carry:n_carry + n_x]
        closures = arrays[n_carry + n_x:]
        end_closures = loop.first_closure + len(closures)
        needs = tuple(ctx.needs_input_grad)
        program = loop.program(needs)
        keep = autograd.is_grad_enabled() and True in needs
        ctx.loop, ctx.steps, ctx.reverse, ctx.program = loop, steps, reverse, program
        ys = [xp.empty((steps,) + loop.shapes[s], dtype=loop.dtypes[s]) for s in loop.y_out]
        vals = [None] * loop.n_slots
        vals[loop.first_closure:loop.first_closure + len(closures)] = closures
        first_x = loop.first_x
        anomaly = autograd._anomaly
        kept = [None] * steps if keep else None
        epoch = versions.epoch
        carry_out = loop.carry_out
        y_pairs = list(zip(ys, loop.y_out))
        x_pairs = [(first_x + j, x) for j, x in enumerate(xs)]
        order = range(steps - 1, -1, -1) if reverse else range(steps)
        for t in order:
            vals[:n_carry] = carry
            for s, x in x_pairs:
                vals[s] = x[t]
            contexts = []
            for cls, fwd, ins, outs, single, options, op_needs in program.forward:
                c = _new(cls)
                c.xp, c.device, c.saved, c.needs_input_grad, c.epoch = (xp, device, (), op_needs,
                                                                        epoch)
                if options:
                    out = fwd(c, *[vals[s] for s in ins], **options)
                elif len(ins) == 2:  # most ops: a call without building an argument list
                    out = fwd(c, vals[ins[0]], vals[ins[1]])
                else:
                    out = fwd(c, *[vals[s] for s in ins])
                if anomaly is not None:
                    anomaly.forward(c, cls, [vals[s] for s in ins], out)
                if single:
                    vals[outs[0]] = out if type(out) is array_type else xp.asarray(out)
                else:
                    for s, o in zip(outs, out):
                        vals[s] = o
                contexts.append(c)
            for y, s in y_pairs:
                y[t] = vals[s]
                if s < first_x or s >= end_closures:  # made by this step (or the carry)
                    vals[s] = y[t]  # later steps save the stored copy: the step's array can go
            carry = [vals[s] for s in carry_out]
            if keep:
                kept[t] = contexts
        ctx.kept = kept
        # a final carry that is an input's own array (a carry passed through, a closure) or a
        # view of the ys is copied: the result is a tensor of its own
        final = [c.copy() if any(c is a or c.base is a for a in (*arrays, *ys)) else c
                 for c in carry]
        return tuple(final + ys)

    def backward(ctx, *grads):
        loop, program = ctx.loop, ctx.program
        ops, slot_needs = program.ops, program.slot_needs
        xp = ctx.xp
        n_carry, n_x = loop.n_carry, len(loop.x_sources)
        n_closures = len(loop.closure_sources)
        if ctx.kept is None:
            raise RuntimeError("scan: backward through a scan whose forward kept nothing for it "
                               "(it ran inside no_grad)")
        if ctx.epoch != versions.epoch:  # an in-place write since: did it hit a saved array?
            for contexts in ctx.kept:
                for c in contexts or ():
                    versions.check_saved(c)
        g_carry = list(grads[:n_carry])
        g_ys = grads[n_carry:]
        g_xs = [None] * n_x
        g_closures = [None] * n_closures
        # per op whose weight's gradient is summed after the loop: [saved, output grads, elements]
        summed = {i: [[], [], 0] for i, op in enumerate(ops) if op.summed is not None}
        first_x, first_closure = loop.first_x, loop.first_closure
        anomaly = autograd._anomaly
        retain = autograd.retaining
        order = range(ctx.steps) if ctx.reverse else range(ctx.steps - 1, -1, -1)
        backward_ops = [entry + (summed.get(entry[0]),) for entry in program.backward]
        carry_out, y_out = loop.carry_out, loop.y_out
        for t in order:
            contexts = ctx.kept[t]
            if not retain:
                ctx.kept[t] = None  # this step's saved arrays go as soon as its gradient is made
            g = [None] * loop.n_slots
            for s, gc in zip(carry_out, g_carry):
                if gc is not None and slot_needs[s]:
                    g[s] = gc if g[s] is None else g[s] + gc
            for s, gy in zip(y_out, g_ys):
                if gy is not None and slot_needs[s]:
                    g[s] = gy[t] if g[s] is None else g[s] + gy[t]
            for i, bwd, outs, single, into, deferred in backward_ops:
                if single:
                    out_grads = (g[outs[0]],)
                    if out_grads[0] is None:
                        continue
                else:
                    out_grads = tuple([g[s] for s in outs])
                    if all(x is None for x in out_grads):
                        continue
                c = contexts[i]
                in_grads = bwd(c, *out_grads)
                if type(in_grads) is not tuple:
                    in_grads = (in_grads,)
                if anomaly is not None:
                    anomaly.backward(c, out_grads, in_grads)
                if deferred is not None:
                    deferred[0].append(c.saved)
                    deferred[1].append(out_grads[0])
                    deferred[2] += out_grads[0].size
                    if deferred[2] >= SUMMED_SIZE:
                        _sum_into(g_closures, ops[i], deferred, first_closure, xp)
                for k, s, shape, dtype in into:
                    gi = in_grads[k]
                    if gi is None:
                        continue
                    if gi.shape != shape:
                        gi = _unbroadcast(xp.asarray(gi), shape, c)
                    if gi.dtype != dtype:
                        gi = gi.astype(dtype)
                    old = g[s]
                    g[s] = gi if old is None else old + gi
            g_carry = g[:n_carry]
            for j in range(n_x):
                gx = g[first_x + j]
                if gx is not None:
                    if g_xs[j] is None:
                        g_xs[j] = xp.zeros((ctx.steps,) + loop.shapes[first_x + j],
                                           dtype=loop.dtypes[first_x + j])
                    g_xs[j][t] = gx
            for k in range(n_closures):
                gk = g[first_closure + k]
                if gk is not None:
                    g_closures[k] = gk if g_closures[k] is None else g_closures[k] + gk
        for i, deferred in summed.items():
            if deferred[0]:
                _sum_into(g_closures, ops[i], deferred, first_closure, xp)
        return tuple(g_carry) + tuple(g_xs) + tuple(g_closures)

    def release(ctx):
        ctx.kept = None  # every step's saved arrays (backward ran without retain_graph)


def _sum_into(g_closures, op, deferred, first_closure, xp):
    """Add the gradient of ``op``'s loop-invariant weight over the steps collected in
    ``deferred`` (one product) to its closure's gradient, and empty ``deferred``."""
    k = op.summed
    gw = op.cls.summed_grad(xp, deferred[0], deferred[1])
    if gw.dtype != op.dtypes[k]:
        gw = gw.astype(op.dtypes[k])
    j = op.ins[k] - first_closure
    g_closures[j] = gw if g_closures[j] is None else g_closures[j] + gw
    deferred[0], deferred[1], deferred[2] = [], [], 0
