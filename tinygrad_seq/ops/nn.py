"""Ops of neural networks: softmax, log_softmax, softmax_cross_entropy, dropout."""
from ..autograd import Function
from .. import backend
from .axes import accepts_dim, axis_index


class Softmax(Function):
    def forward(ctx, a, axis):
        xp = ctx.xp
        shifted = a - a.max(axis=axis, keepdims=True)
        e = xp.exp(shifted)
        y = e / e.sum(axis=axis, keepdims=True)
        ctx.save(y)
        ctx.axis = axis
        return y

    def backward(ctx, g):
        (y,) = ctx.saved
        return y * (g - (g * y).sum(axis=ctx.axis, keepdims=True))


class LogSoftmax(Function):
    name = "log_softmax"

    def forward(ctx, a, axis):
        xp = ctx.xp
        shifted = a - a.max(axis=axis, keepdims=True)
        y = shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))
        ctx.save(y)
        ctx.axis = axis
        return y

    def backward(ctx, g):
        (y,) = ctx.saved
        return g - ctx.xp.exp(y) * g.sum(axis=ctx.axis, keepdims=True)


class SoftmaxCrossEntropy(Function):
    """Per-token ``logsumexp(logits) - logits[target]`` over the last axis, one node: the
    forward keeps the exponentials and their sums, so the backward is ``softmax - 1 at the
    target`` in two passes (no second softmax, no one-hot, no scatter of a picked gradient)."""

    name = "softmax_cross_entropy"

    def forward(ctx, logits, target):
        xp = ctx.xp
        ctx.shape = logits.shape
        if logits.size == 0:  # no tokens, or no classes (then no target can be valid)
            ctx.save(None, None, target)
            return xp.zeros(logits.shape[:-1], dtype=logits.dtype)
        shifted = logits - logits.max(axis=-1, keepdims=True)
        picked = xp.take_along_axis(shifted, target[..., None], axis=-1)[..., 0]
        exp = xp.exp(shifted, out=shifted)
        sums = exp.sum(axis=-1)
        ctx.save(exp, sums, target)
        return xp.log(sums) - picked

    def backward(ctx, g):
        exp, sums, target = ctx.saved
        if exp is None:
            return ctx.xp.zeros(ctx.shape, dtype=g.dtype), None
        grad = exp * (g / sums)[..., None]
        rows = grad.reshape(-1, grad.shape[-1])
        rows[ctx.xp.arange(rows.shape[0]), target.reshape(-1)] -= g.reshape(-1)
        return grad, None


class Dropout(Function):
    """Zero each element with probability ``p`` and scale the rest by 1 / (1 - p); the mask comes
    from the device's random stream (``tg.manual_seed``)."""
    random = True

    def forward(ctx, a, p):
        # float16 has no random generator of its own: draw in float32 for it
        draw_dtype = a.dtype if a.dtype.itemsize >= 4 else backend.float32
        keep = backend.generator(ctx.device).uniform(a.shape, draw_dtype) >= p
        mask = keep * a.dtype.type(1.0 / (1.0 - p))
        ctx.save(mask)
        return a * mask

    def backward(ctx, g):
        return g * ctx.saved[0]


def _one_axis(a, axis, op):
    """The one axis a softmax runs along (a 0-d tensor has none: its softmax is 1)."""
    if axis is None:
        raise ValueError(f"{op}: needs one axis, got None (e.g. axis=-1)")
    return axis_index(axis, a.ndim, op) if a.ndim else None


@accepts_dim
def softmax(a, axis=-1):
    """exp(a) / sum(exp(a)) along ``axis``, shifted by the maximum so nothing overflows."""
    return Softmax.apply(a, axis=_one_axis(a, axis, "softmax"))


@accepts_dim
def log_softmax(a, axis=-1):
    """a - logsumexp(a) along ``axis``, computed without overflow."""
    return LogSoftmax.apply(a, axis=_one_axis(a, axis, "log_softmax"))


def softmax_cross_entropy(logits, target):
    """The cross-entropy of each token: ``logsumexp(logits, -1) - logits[..., target]``, for
    logits ``(..., C)`` and integer targets ``(...)`` in [0, C) (checked by the losses that use
    it: ``tg.nn.functional.cross_entropy``). One node, finite for any finite logits.

    >>> import tinygrad_seq as tg
    >>> losses = tg.softmax_cross_entropy(tg.zeros(2, 4), tg.tensor([0, 3]))
    >>> [round(v, 4) for v in losses.tolist()]   # log(4)
    [1.3863, 1.3863]
    """
    return SoftmaxCrossEntropy.apply(logits, target)


def dropout(a, p=0.5, training=True):
    """Inverted dropout; the identity when ``training`` is False or ``p`` is 0."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return a
    if p == 1.0:
        return a * 0.0
    return Dropout.apply(a, p=float(p))

