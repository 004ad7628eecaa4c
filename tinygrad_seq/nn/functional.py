"""Composed ops of neural networks: compositions of the primitive ops, so their gradients come
from the graph. Layers call these; users may too.

>>> import tinygrad_seq as tg
>>> F = tg.nn.functional
>>> F.linear(tg.ones(5, 3, 4), tg.ones(2, 4)).shape
(5, 3, 2)
"""
import math

from .. import ops
from ..ops.axes import accepts_dim, axis_index
from ..tensor import Tensor
from ..ops import relu, tanh, sigmoid, softmax, log_softmax
from .losses import (cross_entropy, nll_loss, mse_loss, binary_cross_entropy_with_logits,
                     sampled_softmax_loss)


def linear(x, weight, bias=None):
    """x @ weight.T + bias over any number of leading axes of ``x`` (one matrix product for all
    of them: the efficient output projection of Géron 2017, ch. 14, no TimeDistributed wrapper)."""
    if x.shape[-1:] != weight.shape[1:]:
        raise ValueError(f"linear: input features {x.shape[-1:]} do not match the weight's "
                         f"{weight.shape} (out_features, in_features)")
    out = ops.linear(x, weight)
    return out if bias is None else out + bias


def dropout(x, p=0.5, training=True):
    """Inverted dropout: zero each element with probability ``p`` and scale the rest by
    1 / (1 - p); the identity when ``training`` is False. As in PyTorch, the function knows no
    mode: a module passes its own flag (``F.dropout(x, p, training=self.training)``)."""
    return ops.dropout(x, p, training)


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the last ``len(normalized_shape)`` axes, then scale and shift."""
    normalized_shape = tuple(normalized_shape)
    if x.shape[x.ndim - len(normalized_shape):] != normalized_shape:
        raise ValueError(f"layer_norm: input shape {x.shape} does not end with {normalized_shape}")
    axes = tuple(range(x.ndim - len(normalized_shape), x.ndim))
    centred = x - x.mean(axes, keepdims=True)
    out = centred / ((centred * centred).mean(axes, keepdims=True) + eps).sqrt()
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


@accepts_dim
def masked_softmax(scores, mask, axis=-1):
    """Softmax of ``scores`` along ``axis`` over the entries where ``mask`` is True only.

    ``mask`` is a bool tensor (or array) that broadcasts to ``scores`` (True = keep), or None
    for a plain softmax. Masked entries get exactly 0 weight and no gradient, whatever their
    score (NaN and inf included); a fully masked row gives all zeros, not NaN, and a zero
    gradient (softmax(-inf, ..., -inf) would be 0 / 0).

    >>> import tinygrad_seq as tg
    >>> scores = tg.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    >>> mask = tg.tensor([[True, True, False], [False, False, False]])
    >>> [[round(w, 4) for w in row] for row in masked_softmax(scores, mask).tolist()]
    [[0.2689, 0.7311, 0.0], [0.0, 0.0, 0.0]]
    """
    if mask is None:
        return ops.softmax(scores, axis)
    if scores.ndim == 0:
        raise ValueError("masked_softmax: scores need at least one axis, got a 0-d tensor")
    axis = axis_index(axis, scores.ndim, "masked_softmax")
    mask = _as_mask(mask, scores, "masked_softmax")
    if mask.ndim > scores.ndim or any(
            m not in (1, n) for m, n in zip(mask.shape[::-1], scores.shape[::-1])):
        raise ValueError(f"masked_softmax: mask of shape {mask.shape} does not broadcast to the "
                         f"scores' shape {scores.shape}")
    if scores.shape[axis] == 0:  # no entries to weigh (no keys): an empty result
        return ops.where(mask, scores, 0.0)
    # Masked entries become -inf before the softmax (one op, shifted by the row's maximum, so
    # nothing overflows), which gives them exactly 0 weight and 0 gradient whatever they held.
    # A row with no kept entry is filled with zeros instead (-inf - -inf would be NaN) and its
    # uniform softmax zeroed. Nothing is detached or read back, so a compiled tg.scan step can
    # record this.
    if mask.shape != scores.shape:
        mask = ops.broadcast_to(mask, scores.shape)
    filled = ops.where(mask.any(axis, keepdims=True), ops.where(mask, scores, -math.inf), 0.0)
    return ops.where(mask, ops.softmax(filled, axis), 0.0)


def _as_mask(mask, like, op):
    """``mask`` as a bool tensor on ``like``'s device."""
    if not isinstance(mask, Tensor):
        mask = Tensor(mask, device=like.device)
    elif mask.device != like.device:
        raise RuntimeError(f"{op}: mask is on {mask.device!r} but the scores are on "
                           f"{like.device!r}")
    if mask.dtype.kind != "b":
        raise TypeError(f"{op}: mask must be bool (True = keep), got {mask.dtype}")
    return mask


__all__ = ["linear", "dropout", "layer_norm", "masked_softmax", "relu", "tanh", "sigmoid",
           "softmax", "log_softmax", "cross_entropy", "nll_loss", "mse_loss",
           "binary_cross_entropy_with_logits", "sampled_softmax_loss"]
