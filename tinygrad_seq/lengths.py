"""Sequence lengths, where they live: checked there, and the running masks made on the device.

The sequence layers and ``tg.scan`` take ``lengths`` as a list, a NumPy array, or an array or
tensor of a GPU. Lengths on a GPU stay there: they are checked from their minimum and maximum
(one read of two numbers), never copied to the host at each forward; and the (T, B) mask of
the running steps is made on the device from the B lengths, not on the host and copied over.

>>> import numpy as np
>>> from tinygrad_seq import lengths
>>> checked, shortest = lengths.checked("LSTM", [3, 1], steps=3, batch=2)
>>> shortest, lengths.running(checked, 3, "cpu").astype(int).tolist()
(1, [[1, 1], [1, 0], [1, 0]])
"""
import numpy as np

from . import autograd, backend
from .checks import sequence_lengths
from .tensor import Tensor


def checked(owner, lengths, steps, batch, batch_is=""):
    """(``lengths`` checked by ``checks.sequence_lengths``, as an array where they live (host
    data as a NumPy array, a tensor's its array); their minimum, ``steps`` when there are
    none)."""
    if isinstance(lengths, Tensor):
        autograd.reading(lengths, "lengths")  # a value read: a recorded scan step cannot
        lengths = lengths.data
    device = backend.device_of_array(lengths)
    if device == "cpu":
        lengths = np.asarray(lengths)
        sequence_lengths(owner, lengths, steps, batch, batch_is)
        return lengths, int(lengths.min()) if lengths.size else steps
    bounds = None
    with backend.on(device):
        if lengths.shape == (batch,) and lengths.size and lengths.dtype.kind in "iu":
            xp = backend.xp_of(device)
            bounds = tuple(int(v) for v in xp.stack([lengths.min(), lengths.max()]).tolist())
        sequence_lengths(owner, lengths, steps, batch, batch_is, bounds)
    return lengths, steps if bounds is None else bounds[0]


def running(lengths, steps, device):
    """(T, B) bool array on ``device``: step t of sequence b runs (t < lengths[b]). Made there
    from the B ``lengths`` (checked), copied there first where they live elsewhere."""
    with backend.on(device):
        xp = backend.xp_of(device)
        if device == "cpu":
            if backend.device_of_array(lengths) != "cpu":
                lengths = lengths.get()
        else:
            lengths = xp.asarray(lengths)
        return xp.arange(steps)[:, None] < lengths[None, :]
