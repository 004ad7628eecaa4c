"""``Tensor.size``: NumPy's element count that is also PyTorch's ``size(dim=None)``."""
import numpy as np


class Size(int):
    """``t.size``: the number of elements (NumPy's ``size``, an int), which is also PyTorch's
    ``t.size(dim=None)`` when called: the shape, or the length of axis ``dim``.

    >>> import tinygrad_seq as tg
    >>> x = tg.zeros(2, 3)
    >>> x.size, x.size(), x.size(-1), x.size(dim=0)
    (6, (2, 3), 3, 2)
    """

    def __new__(cls, count, shape):
        size = int.__new__(cls, count)
        size.shape = shape
        return size

    def __call__(self, dim=None):
        shape = self.shape
        if dim is None:
            return shape
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
            raise TypeError(f"size: dim must be an integer or None, got {dim!r}")
        if not -len(shape) <= dim < len(shape):
            raise IndexError(f"size: dim {dim} is out of range for a tensor of shape {shape} "
                             f"(expected a dim in [{-len(shape)}, {len(shape) - 1}])")
        return shape[dim]

    __repr__ = int.__repr__
    __str__ = int.__repr__

    def __reduce__(self):  # pickled (e.g. sent over MPI) as the plain count
        return int, (int(self),)
