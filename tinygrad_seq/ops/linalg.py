"""Matrix products: ``matmul`` (batched, NumPy's rules for 1-D operands) and ``linear``
(``x @ weight.T``, the product of every layer and of every recurrent step)."""
from ..autograd import Function
from .elementwise import promote


class Matmul(Function):
    summed_input = 1  # a matrix (or vector) b the same at every step of a scan: see summed_grad

    @staticmethod
    def summable(shapes):
        return len(shapes[1]) <= 2

    @staticmethod
    def summed_grad(xp, saved, grads):
        """b's gradient summed over steps (b 2-D or 1-D, the same at each): the stacked a's rows
        times the stacked gradients, one GEMM."""
        a = xp.concatenate([s[0].reshape(-1, s[0].shape[-1]) for s in saved])
        b = saved[0][1]
        if b.ndim == 1:
            return a.T @ xp.concatenate([g.reshape(-1) for g in grads])
        return a.T @ xp.concatenate([g.reshape(-1, g.shape[-1]) for g in grads])

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
            ga = _product(g, b2.swapaxes(-1, -2))  # the method: xp.swapaxes adds a wrapper call
            if a.ndim == 1:
                ga = ga[..., 0, :]
        if need_b:
            gb = _product(a2.swapaxes(-1, -2), g)
            if b.ndim == 1:
                gb = gb[..., 0]
        return ga, gb


def _product(x, y):
    """``x @ y``; an outer product (one contracted element, e.g. the gradient of ``scores @ v``
    for a vector v) as a broadcast multiply: OpenBLAS's GEMM with k=1 took 4x as long."""
    return x * y if x.shape[-1] == 1 else x @ y


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


class Linear(Function):
    """x @ weight.T without a transpose node: the weight's gradient is made in the weight's own
    layout by one product over all leading axes, so a weight used at every step of a sequence
    sums T contiguous (out, in) arrays, not T transposed views."""
    leading = (0,)  # x may have any leading axes; the weight may not
    summed_input = 1  # over the steps of a scan: one product of the stacked x and gradients

    @staticmethod
    def summed_grad(xp, saved, grads):
        """The weight's gradient summed over steps: ``saved`` each step's (x, weight), ``grads``
        each step's output gradient; one GEMM over all steps instead of one per step."""
        x = xp.concatenate([s[0].reshape(-1, s[0].shape[-1]) for s in saved])
        g = xp.concatenate([g.reshape(-1, g.shape[-1]) for g in grads])
        return g.T @ x

    def forward(ctx, x, weight):
        if x.dtype != weight.dtype:
            x, weight = promote(x, weight)
        ctx.save(x, weight)
        if x.ndim <= 2:
            return x @ weight.T
        # one GEMM over every leading axis (a 3-D @ 2-D matmul loops over the first axis)
        return (x.reshape(-1, x.shape[-1]) @ weight.T).reshape(x.shape[:-1] + weight.shape[:1])

    def backward(ctx, g):
        x, weight = ctx.saved
        need_x, need_weight = ctx.needs_input_grad
        grad_x = grad_weight = None
        if need_x:
            grad_x = g @ weight if g.ndim <= 2 else (
                (g.reshape(-1, g.shape[-1]) @ weight).reshape(x.shape))
        if need_weight:
            if x.ndim == 1:
                grad_weight = g[:, None] * x[None, :]
            else:
                grad_weight = g.reshape(-1, g.shape[-1]).T @ x.reshape(-1, x.shape[-1])
        return grad_x, grad_weight


def linear(x, weight):
    """``x @ weight.T`` for ``x`` of shape (..., in_features) and ``weight`` (out_features,
    in_features), PyTorch's layout (``tg.nn.functional.linear`` adds the bias).

    >>> import tinygrad_seq as tg
    >>> tg.ops.linear(tg.ones(5, 3, 2), tg.ones(4, 2)).shape
    (5, 3, 4)
    """
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (out_features, in_features), got shape "
                         f"{weight.shape}")
    if x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: input of shape {x.shape} does not fit weight of shape "
                         f"{weight.shape}: the input's last axis must be in_features="
                         f"{weight.shape[1]}")
    return Linear.apply(x, weight)
