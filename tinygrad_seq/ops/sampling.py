"""Random draws of class indices: multinomial, from the device's random stream."""
import operator

from ..autograd import Function, tensor_type
from .. import backend
from .sorting import _stable_argsort


class Multinomial(Function):
    """Class indices drawn from each row of (unnormalised) probabilities; no gradient.

    With replacement each draw inverts the row's cumulative distribution at a uniform number;
    a class of probability 0 owns an empty interval of it, so it is never drawn. Without
    replacement every class races an exponential clock of rate p (Efraimidis and Spirakis):
    the first ``num_samples`` to ring are, in order, a draw one after the other in proportion to
    the remaining probabilities, as PyTorch's; a class of probability 0 never rings.
    """
    random = True

    def forward(ctx, probs, num_samples, replacement):
        xp = ctx.xp
        rows = probs.astype(backend.float64)
        stream = backend.generator(ctx.device)
        if replacement:
            cdf = xp.cumsum(rows, axis=1)
            cdf /= cdf[:, -1:]  # the last entry is exactly 1, so u < 1 never runs past it
            u = stream.uniform((rows.shape[0], num_samples), backend.float64)
            drawn = [xp.searchsorted(cdf[r], u[r], side="right") for r in range(rows.shape[0])]
            return xp.stack(drawn).astype(backend.int64, copy=False)
        u = stream.uniform(rows.shape, backend.float64)
        positive = rows > 0
        clocks = xp.where(positive, -xp.log1p(-u) / xp.where(positive, rows, 1.0), xp.inf)
        order = _stable_argsort(xp, clocks, 1)[:, :num_samples]
        return order.astype(backend.int64, copy=False)


def multinomial(probs, num_samples, replacement=False):
    """``num_samples`` class indices (int64) drawn from each row of ``probs`` (1-D: one
    distribution, 2-D: one per row), with or without replacement, as ``torch.multinomial``.

    Rows need not sum to 1, but must be finite, non-negative and not all zero; without
    replacement a row needs at least ``num_samples`` classes of non-zero probability. The
    draws come from the device's random stream (``tg.manual_seed``).

    >>> import tinygrad_seq as tg
    >>> tg.multinomial(tg.tensor([0.0, 1.0, 0.0]), 3, replacement=True).tolist()
    [1, 1, 1]
    """
    Tensor = tensor_type()
    if not isinstance(probs, Tensor):
        raise TypeError(f"multinomial: probs must be a Tensor, got {type(probs).__name__}")
    if probs.dtype.kind != "f":
        raise TypeError(f"multinomial: probs must be floating point, got {probs.dtype}")
    if probs.ndim not in (1, 2):
        raise ValueError(f"multinomial: probs must have 1 or 2 dimensions (one distribution or "
                         f"one per row), got shape {probs.shape}")
    if isinstance(num_samples, bool):
        raise TypeError("multinomial: num_samples must be an integer, got a bool")
    try:
        num_samples = operator.index(num_samples)
    except TypeError:
        raise TypeError(f"multinomial: num_samples must be an integer, got {num_samples!r}") from None
    if num_samples <= 0:
        raise ValueError(f"multinomial: num_samples must be positive, got {num_samples}")
    if probs.shape[-1] == 0:
        raise ValueError(f"multinomial: probs of shape {probs.shape} have no classes")
    rows = probs.detach().reshape(-1, probs.shape[-1])
    with backend.on(probs.device):  # the checks read the rows where they live
        if rows.shape[0] == 0:
            return Tensor._make(rows.data[:, :0].astype(backend.int64).reshape(0, num_samples),
                                probs.device, None, 0)
        _check_rows(backend._devices[probs.device].xp, rows.data, num_samples, bool(replacement))
    out = Multinomial.apply(rows, num_samples=num_samples, replacement=bool(replacement))
    return out.reshape(num_samples) if probs.ndim == 1 else out


def _check_rows(xp, rows, num_samples, replacement):
    """A clear error for rows that are no distribution (checked on the host: a GPU syncs)."""
    if not bool(xp.isfinite(rows).all()):
        raise ValueError("multinomial: probabilities must be finite, got NaN or infinity")
    if bool((rows < 0).any()):
        raise ValueError(f"multinomial: probabilities must be non-negative, got "
                         f"{float(rows.min())}")
    nonzero = (rows > 0).sum(axis=1)
    if bool((nonzero == 0).any()):
        row = int((nonzero == 0).argmax())
        raise ValueError(f"multinomial: row {row} of probs sums to zero: no class can be drawn")
    if not replacement and num_samples > int(nonzero.min()):
        raise ValueError(f"multinomial: cannot draw {num_samples} samples without replacement "
                         f"from a row with {int(nonzero.min())} classes of non-zero probability")
