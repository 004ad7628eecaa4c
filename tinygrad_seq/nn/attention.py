"""Attention over the steps of an encoded sequence: masked softmax, Bahdanau's additive score,
Luong's dot and general scores.

The fix for the encoder-decoder's bottleneck (Bahdanau et al. 2015; Géron 2017, ch. 14): instead
of one context vector c, each decoder step reads a weighted average of all encoder outputs, the
weights a softmax of scores between the decoder state (query) and each encoder output (key).
Padding steps of the encoder are masked out, so a padded batch attends exactly as its sequences
would one by one.

>>> import tinygrad_seq as tg
>>> attention = tg.nn.AdditiveAttention(query_size=8, key_size=6, attention_size=5)
>>> keys = tg.randn(2, 4, 6)                                   # (B, Tk, Hk) encoder outputs
>>> mask = tg.tensor([[True, True, True, False], [True, True, True, True]])
>>> context, weights = attention(tg.randn(2, 8), keys, mask=mask)
>>> context.shape, weights.shape, weights[0, 3].item()
((2, 6), (2, 4), 0.0)
"""
import math

from .. import creation
from ..tensor import Tensor
from . import init
from .functional import masked_softmax, _as_mask
from .layers import Linear
from .module import Module, Parameter


class _Attention(Module):
    """The shared call: ``context, weights = attention(query, keys, values=None, mask=None)``.

    query (B, Hq) for one decoder step or (B, Tq, Hq) for Tq steps at once; keys (B, Tk, Hk);
    values (B, Tk, Hv), the keys when None; mask (B, Tk) bool, True on real keys, False on
    padding. Returns context (B, [Tq,] Hv) = weights @ values and the weights (B, [Tq,] Tk),
    which sum to 1 over the real keys of each row (for plotting the alignment); a row without
    real keys gets zero weights and a zero context. Subclasses
    define ``score(query (B, Tq, Hq), keys (B, Tk, Hk)) -> (B, Tq, Tk)``.
    """

    query_size = key_size = None

    def forward(self, query, keys, values=None, mask=None):
        values = keys if values is None else values
        self._check(query, keys, values)
        one_step = query.ndim == 2
        scores = self.score(query.unsqueeze(1) if one_step else query, keys)
        if mask is not None:
            mask = _as_mask(mask, keys, type(self).__name__)
            if mask.shape != keys.shape[:2]:
                raise ValueError(f"{type(self).__name__}: mask of shape {mask.shape} must be "
                                 f"(B, Tk) = {keys.shape[:2]} for keys of shape {keys.shape}")
            mask = mask.unsqueeze(1)  # the same keys for every query step
        weights = masked_softmax(scores, mask, axis=-1)
        context = weights @ values
        if one_step:
            return context.squeeze(1), weights.squeeze(1)
        return context, weights

    def score(self, query, keys):
        raise NotImplementedError(f"{type(self).__name__} does not define score()")

    def _check(self, query, keys, values):
        name = type(self).__name__
        for what, t in (("query", query), ("keys", keys), ("values", values)):
            if not isinstance(t, Tensor):
                raise TypeError(f"{name}: {what} must be a Tensor, got {type(t).__name__}")
        if query.ndim not in (2, 3):
            raise ValueError(f"{name}: query must be (B, Hq) or (B, Tq, Hq), got shape {query.shape}")
        if keys.ndim != 3:
            raise ValueError(f"{name}: keys must be (B, Tk, Hk), got shape {keys.shape}")
        if query.shape[0] != keys.shape[0]:
            raise ValueError(f"{name}: query of shape {query.shape} and keys of shape {keys.shape} "
                             f"have different batch sizes")
        if values.ndim != 3 or values.shape[:2] != keys.shape[:2]:
            raise ValueError(f"{name}: values of shape {values.shape} must be (B, Tk, Hv) with the "
                             f"(B, Tk) of keys of shape {keys.shape}")
        if self.query_size is not None and query.shape[-1] != self.query_size:
            raise ValueError(f"{name}: query of shape {query.shape} has {query.shape[-1]} features, "
                             f"but the layer was built with query_size={self.query_size}")
        if self.key_size is not None and keys.shape[-1] != self.key_size:
            raise ValueError(f"{name}: keys of shape {keys.shape} have {keys.shape[-1]} features, "
                             f"but the layer was built with key_size={self.key_size}")


class AdditiveAttention(_Attention):
    """Bahdanau's (concat) attention: score(q, k) = v . tanh(W_q q + W_k k).

    ``query_proj.weight`` is W_q (attention_size, query_size), ``key_proj.weight`` W_k
    (attention_size, key_size), both without bias as in the paper; ``v`` is (attention_size,).
    Call as described in the module: ``context, weights = attention(query, keys, values, mask)``.

    >>> import tinygrad_seq as tg
    >>> attention = tg.nn.AdditiveAttention(4, 6, 5)
    >>> context, weights = attention(tg.randn(2, 3, 4), tg.randn(2, 7, 6))   # 3 query steps
    >>> context.shape, weights.shape
    ((2, 3, 6), (2, 3, 7))
    """

    def __init__(self, query_size, key_size, attention_size):
        super().__init__()
        self.query_size, self.key_size, self.attention_size = query_size, key_size, attention_size
        self.query_proj = Linear(query_size, attention_size, bias=False)
        self.key_proj = Linear(key_size, attention_size, bias=False)
        bound = 1.0 / math.sqrt(attention_size) if attention_size else 0.0
        self.v = init.uniform_(Parameter(creation.zeros(attention_size)), -bound, bound)

    def score(self, query, keys):
        # Each projection once, then every (query step, key) pair by broadcasting:
        # (B, Tq, 1, A) + (B, 1, Tk, A) -> (B, Tq, Tk, A), and v contracts A away.
        energy = (self.query_proj(query).unsqueeze(2) + self.key_proj(keys).unsqueeze(1)).tanh()
        return energy @ self.v

    def extra_repr(self):
        return f"query_size={self.query_size}, key_size={self.key_size}, " \
               f"attention_size={self.attention_size}"


class DotAttention(_Attention):
    """Luong's dot attention: score(q, k) = scale * q . k (no parameters; Hq must equal Hk).

    ``scale=None`` is Luong's plain dot product; ``scale=1 / math.sqrt(H)`` gives the scaled
    dot product of the Transformer, which keeps large H from saturating the softmax.

    >>> import tinygrad_seq as tg
    >>> context, weights = tg.nn.DotAttention()(tg.randn(2, 6), tg.randn(2, 7, 6))
    >>> context.shape, weights.shape
    ((2, 6), (2, 7))
    """

    def __init__(self, scale=None):
        super().__init__()
        self.scale = scale

    def score(self, query, keys):
        if query.shape[-1] != keys.shape[-1]:
            raise ValueError(f"DotAttention: query of shape {query.shape} and keys of shape "
                             f"{keys.shape} must have the same feature size (use "
                             f"GeneralAttention to score different sizes)")
        scores = query @ keys.mT
        return scores if self.scale is None else scores * self.scale

    def extra_repr(self):
        return "" if self.scale is None else f"scale={self.scale}"


class GeneralAttention(_Attention):
    """Luong's general attention: score(q, k) = q . W k with W (query_size, key_size), which is
    ``key_proj.weight`` (a Linear from key_size to query_size without bias).

    >>> import tinygrad_seq as tg
    >>> context, weights = tg.nn.GeneralAttention(4, 6)(tg.randn(2, 4), tg.randn(2, 7, 6))
    >>> context.shape, weights.shape
    ((2, 6), (2, 7))
    """

    def __init__(self, query_size, key_size):
        super().__init__()
        self.query_size, self.key_size = query_size, key_size
        self.key_proj = Linear(key_size, query_size, bias=False)

    def score(self, query, keys):
        return query @ self.key_proj(keys).mT

    def extra_repr(self):
        return f"query_size={self.query_size}, key_size={self.key_size}"
