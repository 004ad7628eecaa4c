"""The losses as modules (PyTorch's ``nn.CrossEntropyLoss`` and kin): each holds its options and
calls its function in ``tg.nn.functional``, the one implementation.

>>> import tinygrad_seq as tg
>>> loss_fn = tg.nn.CrossEntropyLoss()
>>> round(loss_fn(tg.zeros(4, 3), tg.tensor([0, 1, 2, 0])).item(), 4)    # log(3)
1.0986
"""
from .. import ops
from ..tensor import Tensor
from . import functional as F
from .module import Module


class CrossEntropyLoss(Module):
    """``F.cross_entropy`` as a module, with PyTorch's per-class ``weight`` (C weights, kept as
    a buffer: ``.to()`` moves it and ``state_dict()`` holds it).

    The class axis is the last one, as for ``F.cross_entropy`` (PyTorch's (N, C) is the same;
    its (N, C, d) is ``logits.swapaxes(1, 2)`` here); ``ignore_index=None`` ignores nothing
    (PyTorch's default -100 would silently drop such a target). ``forward(logits, target)``.

    >>> import tinygrad_seq as tg
    >>> loss_fn = tg.nn.CrossEntropyLoss(weight=tg.tensor([1.0, 3.0]))
    >>> round(loss_fn(tg.zeros(2, 2), tg.tensor([0, 1])).item(), 4)   # log(2), however weighted
    0.6931
    """

    def __init__(self, weight=None, ignore_index=None, reduction="mean"):
        super().__init__()
        if weight is not None:
            if not isinstance(weight, Tensor):
                weight = Tensor(weight)
            if weight.ndim != 1 or weight.dtype.kind != "f":
                raise ValueError(f"CrossEntropyLoss: weight must be a 1-D float tensor of one "
                                 f"weight per class, got shape {weight.shape} of {weight.dtype}")
        self.register_buffer("weight", weight)
        self.ignore_index, self.reduction = ignore_index, reduction

    def forward(self, logits, target):
        token_weight = None
        if self.weight is not None:
            classes = logits.shape[-1] if isinstance(logits, Tensor) and logits.ndim else 0
            if self.weight.shape != (classes,):
                raise ValueError(f"CrossEntropyLoss: {self.weight.shape[0]} class weights for "
                                 f"logits of {classes} classes (shape "
                                 f"{getattr(logits, 'shape', None)})")
            if not isinstance(target, Tensor):
                target = Tensor(target, device=logits.device)
            if target.dtype.kind in "iu":  # else cross_entropy names the wrong dtype
                # PyTorch's class weight is the weight of each token of that class; a target
                # out of range is clipped here and refused by cross_entropy, which names it
                token_weight = ops.take(self.weight.astype(logits.dtype),
                                        target.clip(0, classes - 1), axis=0)
        return F.cross_entropy(logits, target, weight=token_weight,
                               ignore_index=self.ignore_index, reduction=self.reduction)

    def extra_repr(self):
        return f"ignore_index={self.ignore_index}, reduction={self.reduction!r}"


class MSELoss(Module):
    """``F.mse_loss`` as a module: ``forward(input, target)``.

    >>> import tinygrad_seq as tg
    >>> tg.nn.MSELoss(reduction="sum")(tg.tensor([1.0, 2.0]), tg.tensor([1.0, 4.0])).item()
    4.0
    """

    def __init__(self, reduction="mean"):
        super().__init__()
        self.reduction = reduction

    def forward(self, input, target):
        return F.mse_loss(input, target, reduction=self.reduction)

    def extra_repr(self):
        return f"reduction={self.reduction!r}"


class BCEWithLogitsLoss(Module):
    """``F.binary_cross_entropy_with_logits`` as a module; ``weight`` and ``pos_weight`` are
    buffers (moved by ``.to()``, in ``state_dict()``). ``forward(input, target)``.

    >>> import tinygrad_seq as tg
    >>> round(tg.nn.BCEWithLogitsLoss()(tg.zeros(3), tg.ones(3)).item(), 4)
    0.6931
    """

    def __init__(self, weight=None, reduction="mean", pos_weight=None):
        super().__init__()
        self.register_buffer("weight", _float_tensor(weight, "weight"))
        self.register_buffer("pos_weight", _float_tensor(pos_weight, "pos_weight"))
        self.reduction = reduction

    def forward(self, input, target):
        return F.binary_cross_entropy_with_logits(input, target, weight=self.weight,
                                                  reduction=self.reduction,
                                                  pos_weight=self.pos_weight)

    def extra_repr(self):
        return f"reduction={self.reduction!r}"


def _float_tensor(value, name):
    if value is None:
        return None
    value = value if isinstance(value, Tensor) else Tensor(value)
    if value.dtype.kind != "f":
        raise TypeError(f"BCEWithLogitsLoss: {name} must be floating point, got {value.dtype}")
    return value
