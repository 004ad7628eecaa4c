"""Feed-forward layers: Linear, Embedding, Dropout, LayerNorm and the activations."""
import math

from .. import creation, ops
from ..tensor import Tensor
from . import functional as F, init
from .module import Module, Parameter


class Linear(Module):
    """y = x @ weight.T + bias over any number of leading axes; weight is (out, in) as PyTorch's
    and starts at U(-1/sqrt(in), 1/sqrt(in)).

    >>> import tinygrad_seq as tg
    >>> tg.nn.Linear(64, 10)(tg.randn(20, 32, 64)).shape   # (T, B, H) -> (T, B, classes)
    (20, 32, 10)
    """

    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        bound = 1.0 / math.sqrt(in_features) if in_features else 0.0
        self.weight = init.uniform_(Parameter(creation.zeros(out_features, in_features)), -bound, bound)
        self.bias = (init.uniform_(Parameter(creation.zeros(out_features)), -bound, bound)
                     if bias else None)

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"{self.in_features}, {self.out_features}, bias={self.bias is not None}"


class Embedding(Module):
    """A lookup table of ``num_embeddings`` vectors (seed 002's word embeddings), N(0, 1) at first.

    ``padding_idx``: that row starts at zero, embeds to zeros and never receives a gradient (the
    looked-up vectors are masked, so unlike PyTorch a non-zero padding row still embeds to zero).

    >>> import tinygrad_seq as tg
    >>> emb = tg.nn.Embedding(10, 3, padding_idx=0)
    >>> emb(tg.tensor([[0, 4], [2, 0]])).shape
    (2, 2, 3)
    """

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, _weight=None):
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx {padding_idx} is outside the table of "
                                 f"{num_embeddings} rows")
            padding_idx %= num_embeddings
        self.padding_idx = padding_idx
        if _weight is None:
            _weight = init.normal_(Parameter(creation.zeros(num_embeddings, embedding_dim)))
            if padding_idx is not None:
                _weight.data[padding_idx] = 0.0
        self.weight = _weight

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, padding_idx=None):
        """An Embedding around a (num_embeddings, embedding_dim) matrix of pretrained vectors;
        ``freeze=True`` keeps them fixed (no gradient)."""
        if embeddings.ndim != 2:
            raise ValueError(f"Embedding.from_pretrained: expected a 2-axis matrix, got shape "
                             f"{tuple(embeddings.shape)}")
        weight = Parameter(embeddings if isinstance(embeddings, Tensor) else Tensor(embeddings),
                           requires_grad=not freeze)
        return cls(*weight.shape, padding_idx=padding_idx, _weight=weight)

    def forward(self, indices):
        if not isinstance(indices, Tensor):
            indices = Tensor(indices, device=self.weight.device)
        out = ops.take(self.weight, indices, axis=0)
        if self.padding_idx is not None:
            # a mask of constants (no gradient); the modulo catches negative indices of that row
            real = (indices.data % self.num_embeddings != self.padding_idx)[..., None]
            out = out * Tensor._make(real.astype(out.dtype), out.device, None, 0)
        return out

    def extra_repr(self):
        pad = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"


class Dropout(Module):
    """Inverted dropout in train mode, the identity after ``.eval()`` (its own flag, or its
    parent's ``model.eval()``).

    >>> import tinygrad_seq as tg
    >>> drop = tg.nn.Dropout(0.5)
    >>> bool((drop.eval()(tg.ones(4)) == 1).all())
    True
    >>> sorted(set(drop.train()(tg.ones(1000)).tolist()))    # dropped, or scaled by 1 / (1 - p)
    [0.0, 2.0]
    """

    def __init__(self, p=0.5):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: probability p must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x):
        return F.dropout(x, self.p, training=self.training)

    def extra_repr(self):
        return f"p={self.p}"


class LayerNorm(Module):
    """Normalise the last axes to zero mean and unit variance, then scale (ones) and shift (zeros).

    >>> import tinygrad_seq as tg
    >>> y = tg.nn.LayerNorm(4)(tg.tensor([[1.0, 2.0, 3.0, 4.0]]))
    >>> round(y.mean().item(), 6), round(y.var().item(), 3)
    (0.0, 1.0)
    """

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True):
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape, self.eps = tuple(normalized_shape), eps
        self.weight = Parameter(creation.ones(*self.normalized_shape)) if elementwise_affine else None
        self.bias = Parameter(creation.zeros(*self.normalized_shape)) if elementwise_affine else None

    def forward(self, x):
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}"


class Tanh(Module):
    def forward(self, x):
        return x.tanh()


class ReLU(Module):
    def forward(self, x):
        return x.relu()


class Sigmoid(Module):
    def forward(self, x):
        return x.sigmoid()
