"""Matrix product, batched, with NumPy's rules for 1-D operands."""
from ..autograd import Function
from .elementwise import promote


class Matmul(Function):
    def forward(ctx, a, b):
        if a.dtype != b.dtype:
            a, b = promote(a, b)
        ctx.save(a, b)
        return a @ b

    def backward(ctx, g):
        a, b = ctx.saved
        need_a, need_b = ctx.needs_input_grad
        # A 1-D operand is a row (a) or a column (b) whose axis matmul removed from the result.
        if b.ndim == 1:
            g = g[..., None]
        if a.ndim == 1:
            g = g[..., None, :]
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        ga = gb = None
        if need_a:
            ga = g @ b2.swapaxes(-1, -2)  # the method: xp.swapaxes adds a wrapper call per step
            if a.ndim == 1:
                ga = ga[..., 0, :]
        if need_b:
            gb = a2.swapaxes(-1, -2) @ g
            if b.ndim == 1:
                gb = gb[..., 0]
        return ga, gb


def matmul(a, b):
    """``a @ b``: batched over leading axes (which broadcast), 1-D operands as in NumPy."""
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: operands must have at least one dimension, got shapes "
                         f"{a.shape} and {b.shape}")
    k_a = a.shape[-1]
    k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if k_a != k_b:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not fit: the last axis of the "
                         f"first ({k_a}) must equal the {'only' if b.ndim == 1 else 'second-to-last'} "
                         f"axis of the second ({k_b})")
    return Matmul.apply(a, b)
