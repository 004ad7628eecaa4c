"""Feed-forward layers: Linear, Embedding, Dropout, LayerNorm and the activations (Tanh, ReLU,
Sigmoid, Softmax, LogSoftmax)."""
import math

from .. import backend, creation, ops
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
        if not isinstance(x, Tensor):
            raise TypeError(f"Linear: the input must be a Tensor, got {type(x).__name__}")
        if x.dtype != self.weight.dtype:  # PyTorch refuses too; promoting would hide a slip
            raise ValueError(f"Linear: the input is {x.dtype} but the layer's parameters are "
                             f"{self.weight.dtype}: convert one (x.astype(...) or "
                             f"layer.to(dtype=...))")
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"{self.in_features}, {self.out_features}, bias={self.bias is not None}"


class Embedding(Module):
    """A lookup table of ``num_embeddings`` vectors (word embeddings, Géron 2017, ch. 14),
    N(0, 1) at first.

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
        if indices.dtype.kind not in "iu":
            raise TypeError(f"Embedding: indices must be integers, got {indices.dtype}")
        data = indices.data
        if data.size:  # one min and one max per call; a negative index is no row, as in PyTorch
            with backend.on(indices.device):
                low, high = int(data.min()), int(data.max())
            if low < 0 or high >= self.num_embeddings:
                raise IndexError(f"Embedding: index {low if low < 0 else high} is out of range "
                                 f"for a table of size {self.num_embeddings} (num_embeddings; "
                                 f"indices lie in [0, {self.num_embeddings}))")
        out = ops.take(self.weight, indices, axis=0)
        if self.padding_idx is not None:
            with backend.on(indices.device):
                real = (data != self.padding_idx)[..., None].astype(out.dtype)  # no gradient
            out = out * Tensor._make(real, out.device, None, 0)
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
    """``tanh`` as a module (for ``Sequential``)."""

    def forward(self, x):
        return x.tanh()


class ReLU(Module):
    """``relu`` as a module (for ``Sequential``)."""

    def forward(self, x):
        return x.relu()


class Sigmoid(Module):
    """``sigmoid`` as a module (for ``Sequential``)."""

    def forward(self, x):
        return x.sigmoid()


class Softmax(Module):
    """``softmax`` along ``dim`` as a module. Unlike PyTorch, ``dim`` is required (PyTorch's
    default picks an axis from the input's rank, with a warning).

    >>> import tinygrad_seq as tg
    >>> tg.nn.Softmax(dim=-1)(tg.zeros(2, 4)).tolist()[0]
    [0.25, 0.25, 0.25, 0.25]
    """

    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.softmax(x, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """``log_softmax`` along ``dim`` as a module (``dim`` required, as for ``Softmax``).

    >>> import tinygrad_seq as tg
    >>> round(tg.nn.LogSoftmax(dim=1)(tg.zeros(1, 2)).tolist()[0][0], 4)
    -0.6931
    """

    def forward(self, x):
        return F.log_softmax(x, self.dim)
