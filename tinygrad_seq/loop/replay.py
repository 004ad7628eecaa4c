"""The compiled loop as one graph node: a recorded step replayed on raw arrays over the sequence.

``Scan.apply(*carry, *xs, *closures, loop=..., steps=T, reverse=...)``: the forward runs the
loop's program for t = 0 .. T-1 (or back), each op's own ``forward`` on the device's arrays,
keeping per step only the op contexts whose backward will be needed; the backward walks the
steps in reverse, each op's own ``backward``, the carry's gradient handed from step to step, and
sums a loop-invariant weight's gradient as one product over all steps (``plan.Loop``). Being an
op like the others, a Scan may sit inside another scan's step.
"""
from .. import autograd, versions
from ..autograd import Function
from . import codegen


class Scan(Function):
    name = "scan"

    @classmethod
    def draws(cls, options):
        return options["loop"].random

    def forward(ctx, *arrays, loop, steps, reverse):
        xp = ctx.xp
        n_carry, n_x = loop.n_carry, len(loop.x_sources)
        needs = tuple(ctx.needs_input_grad)
        program = loop.program(needs)
        keep = autograd.is_grad_enabled() and True in needs
        ctx.loop, ctx.steps, ctx.reverse, ctx.program = loop, steps, reverse, program
        run, _ = codegen.compiled(program, loop, xp, ctx.device, keep, autograd._anomaly is not None)
        ys = [xp.empty((steps,) + loop.shapes[s], dtype=loop.dtypes[s]) for s in loop.y_out]
        kept = [None] * steps if keep else None
        order = range(steps - 1, -1, -1) if reverse else range(steps)
        carry = run(arrays[:n_carry], arrays[n_carry:n_carry + n_x], arrays[n_carry + n_x:], ys,
                    order, kept, versions.epoch)
        ctx.kept = kept
        # a final carry that is an input's own array (a carry passed through, a closure) or a
        # view of the ys is copied: the result is a tensor of its own
        final = [c.copy() if any(c is a or c.base is a for a in (*arrays, *ys)) else c
                 for c in carry]
        return tuple(final + ys)

    def backward(ctx, *grads):
        loop, program = ctx.loop, ctx.program
        xp = ctx.xp
        n_carry = loop.n_carry
        if ctx.kept is None:
            raise RuntimeError("scan: backward through a scan whose forward kept nothing for it "
                               "(it ran inside no_grad)")
        if ctx.epoch != versions.epoch:  # an in-place write since: did it hit a saved array?
            for contexts in ctx.kept:
                for c in contexts or ():
                    versions.check_saved(c)
        _, run = codegen.compiled(program, loop, xp, ctx.device, True, autograd._anomaly is not None)
        g_xs = [None] * len(loop.x_sources)
        g_closures = [None] * len(loop.closure_sources)
        # per op whose weight's gradient is summed after the loop: [saved, output grads, elements]
        summed = {i: [[], [], 0] for i, op in enumerate(program.ops) if op.summed is not None}
        order = range(ctx.steps) if ctx.reverse else range(ctx.steps - 1, -1, -1)
        g_carry = run(grads[:n_carry], grads[n_carry:], ctx.kept, order, autograd.retaining,
                      ctx.steps, g_xs, g_closures, summed)
        for i, deferred in summed.items():
            if deferred[0]:
                codegen.sum_into(g_closures, program.ops[i], deferred, loop.first_closure, xp)
        return tuple(g_carry) + tuple(g_xs) + tuple(g_closures)

    def release(ctx):
        ctx.kept = None  # every step's saved arrays (backward ran without retain_graph)

