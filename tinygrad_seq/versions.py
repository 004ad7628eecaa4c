"""Versions of memory: which arrays an in-place op changed, and when, so that backward refuses a
node whose saved arrays were changed after it saved them.

PyTorch keeps a version counter on each storage and compares the saved tensors' versions at
backward. Here the storage is the array module's own buffer (a NumPy or CuPy array, which can
carry no counter), so the counters live in one table keyed by the buffer at the root of an
array's chain of views: a tensor, its ``detach()``, its views (reshape, slices, ``from_numpy``
sharing) all share one counter, as in PyTorch.

The normal path costs one integer read per recorded node: a node notes the ``epoch`` (how many
in-place writes there have been so far) when it is made, and backward looks at its saved arrays
only when the epoch has moved since. A buffer written after the node was made is stale; one
written before cannot be (its ids can be reused only by buffers that were not alive together,
so a reused id never makes a false alarm).

>>> import tinygrad_seq as tg
>>> x = tg.ones(3)
>>> x._version, x.add_(1)._version, x.reshape(3, 1)._version
(0, 1, 1)
"""
import weakref

epoch = 0   # in-place writes so far, in every thread
_written = {}  # id(root buffer) -> [weak reference or None, epoch of the last write, count, op]


def root(array):
    """The buffer that ``array`` views (itself when it owns its memory)."""
    while True:
        base = getattr(array, "base", None)
        if base is None:
            return array
        array = base


def bump(array, op):
    """Record an in-place write by ``op`` into ``array``'s memory."""
    global epoch
    epoch += 1
    buffer = root(array)
    key = id(buffer)
    entry = _written.get(key)
    if entry is not None and (entry[0] is None or entry[0]() is buffer):
        entry[1], entry[2], entry[3] = epoch, entry[2] + 1, op
        return
    try:
        ref = weakref.ref(buffer, lambda dead, key=key: _forget(key, dead))
    except TypeError:  # a buffer that takes no weak reference (bytes): its entry stays, harmless
        ref = None
    _written[key] = [ref, epoch, 1, op]


def _forget(key, dead):
    entry = _written.get(key)
    if entry is not None and entry[0] is dead:
        del _written[key]


def version(array):
    """How many in-place writes ``array``'s memory has had (PyTorch's ``_version``)."""
    buffer = root(array)
    entry = _written.get(id(buffer))
    if entry is None or (entry[0] is not None and entry[0]() is not buffer):
        return 0
    return entry[2]


def check_saved(node):
    """Raise if an array that ``node`` saved for its backward was written in place after the
    node was made (call only when the epoch has moved since: ``node.epoch != versions.epoch``)."""
    for k, array in enumerate(node.saved or ()):
        buffer = root(array)
        entry = _written.get(id(buffer))
        if entry is None or entry[1] <= node.epoch:
            continue
        shape = tuple(getattr(array, "shape", ()))
        dtype = getattr(array, "dtype", type(array).__name__)
        raise RuntimeError(
            f"backward: one of the arrays that {node.name} saved for its gradient (saved array "
            f"{k}, shape {shape}, {dtype}) has been modified by an in-place operation ({entry[3]}) "
            f"after it was saved: its memory is at version {entry[2]}, the gradient of "
            f"{node.name} needs the values it had before. Change the tensor after backward, or "
            f"change a copy (.clone()) instead")
