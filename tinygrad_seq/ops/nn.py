"""Ops of neural networks: softmax, log_softmax, dropout."""
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


def dropout(a, p=0.5, training=True):
    """Inverted dropout; the identity when ``training`` is False or ``p`` is 0."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return a
    if p == 1.0:
        return a * 0.0
    return Dropout.apply(a, p=float(p))

