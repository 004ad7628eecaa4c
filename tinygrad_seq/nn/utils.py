"""Helpers around recurrent states."""
from ..tensor import Tensor


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
