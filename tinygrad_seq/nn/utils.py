"""Helpers around recurrent states, and gradient clipping under PyTorch's names
(``torch.nn.utils.clip_grad_norm_``, ``clip_grad_value_``; the clipping lives in
``tg.optim``)."""
from .. import backend
from ..optim import clip as _clip
from ..tensor import Tensor

clip_grad_value_ = _clip.clip_grad_value_  # the same function: PyTorch's place for it too


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False,
                    foreach=None):
    """``tg.optim.clip_grad_norm_`` with PyTorch's signature and return value: the total norm
    before clipping as a 0-d tensor (on the gradients' device, in their dtype; float32 when
    there are none) rather than a Python float. ``foreach`` is accepted and ignored (one
    implementation serves both). As ``tg.optim.clip_grad_norm_``, and unlike PyTorch, a
    non-finite norm leaves the gradients unchanged: skip that step.

    >>> import tinygrad_seq as tg
    >>> w = tg.nn.Parameter(tg.zeros(2)); w.grad = tg.tensor([3.0, 4.0])
    >>> tg.nn.utils.clip_grad_norm_([w], max_norm=1.0)
    tensor(5., device='cpu', dtype=float32)
    """
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    try:
        parameters = list(parameters)  # a generator is read once, for clipping and for the dtype
    except TypeError:
        pass  # not iterable: the clipping names the problem
    total = _clip.clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite)
    grads = [p.grad for p in parameters if isinstance(p, Tensor) and p.grad is not None]
    device = grads[0].device if grads else "cpu"
    dtype = grads[0].dtype if grads else backend.float32
    return Tensor(total, dtype=dtype, device=device)


def detach_state(state):
    """The state (a tensor or nested tuples/lists of tensors) cut from the graph: truncated BPTT
    carries it into the next chunk without back-propagating into the previous one.

    >>> import tinygrad_seq as tg
    >>> lstm = tg.nn.LSTM(2, 3)
    >>> out, state = lstm(tg.randn(4, 1, 2))
    >>> state = tg.nn.utils.detach_state(state)
    >>> state[0].requires_grad
    False
    """
    if isinstance(state, Tensor):
        return state.detach()
    if isinstance(state, (tuple, list)):
        return type(state)(detach_state(s) for s in state)
    if state is None:
        return None
    raise TypeError(f"detach_state: expected a tensor or a tuple of tensors, got {type(state).__name__}")
