"""Composed ops of neural networks: compositions of the primitive ops, so their gradients come
from the graph. Layers call these; users may too.

>>> import tinygrad_seq as tg
>>> F = tg.nn.functional
>>> F.linear(tg.ones(5, 3, 4), tg.ones(2, 4)).shape
(5, 3, 2)
"""
from .. import ops
from ..ops import relu, tanh, sigmoid, softmax, log_softmax
from . import mode


def linear(x, weight, bias=None):
    """x @ weight.T + bias over any number of leading axes of ``x`` (one matrix product for all
    of them: seed 002's efficient output projection, no TimeDistributed wrapper)."""
    if x.shape[-1:] != weight.shape[1:]:
        raise ValueError(f"linear: input features {x.shape[-1:]} do not match the weight's "
                         f"{weight.shape} (out_features, in_features)")
    lead = x.shape[:-1]
    out = ops.matmul(x if x.ndim == 2 else x.reshape(-1, x.shape[-1]), weight.T)
    if bias is not None:
        out = out + bias
    return out if x.ndim == 2 else out.reshape(*lead, weight.shape[0])


def dropout(x, p=0.5, training=None):
    """Inverted dropout; ``training=None`` follows the global train mode (``model.eval()``)."""
    return ops.dropout(x, p, mode.is_training() if training is None else training)


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


__all__ = ["linear", "dropout", "layer_norm", "relu", "tanh", "sigmoid", "softmax", "log_softmax"]
