"""Tolerances that fit the dtype and the computation, for comparing one result computed two ways.

Two correct float32 computations of the same value differ by rounding, and how much depends on
the computation: a dot product of n terms, summed by one BLAS kernel in one order and by another
in another, can differ by about n·eps·Σ|aᵢbᵢ| (Higham, *Accuracy and Stability of Numerical
Algorithms*, §3.1), and an element that is small because large terms cancelled keeps the absolute
error of those terms. ``allclose``'s defaults (rtol 1e-5, atol 1e-8) fit neither: a float32 LSTM
step gave 8.1908703e-04 on one kernel and 8.1914663e-04 on another, both right.
"""
import numpy as np

__all__ = ["tolerances", "assert_close"]


def tolerances(dtype, terms=1, scale=1.0, safety=4.0):
    """``dict(rtol=..., atol=...)`` for ``np.testing.assert_allclose`` on results of ``dtype``.

    ``terms``: how many rounded operations feed one element (the length of the longest reduction
    or chain of steps: input size plus hidden size for a recurrent step, times the steps for a
    sequence). ``scale``: the size of the values those operations add up (the largest \\|term\\|;
    1 for activations such as tanh and sigmoid), which sets the absolute error an element
    keeps when its terms cancel. Both bounds are ``safety · terms · eps(dtype)``, relative and
    times ``scale``.

    >>> import numpy as np
    >>> tolerances(np.float32, terms=10)["rtol"] < 1e-5 < tolerances(np.float32, terms=100)["rtol"]
    True
    >>> tolerances(np.float64)["rtol"] < 1e-14
    True
    """
    if terms < 1 or scale < 0 or safety <= 0:
        raise ValueError(f"tolerances: terms >= 1, scale >= 0 and safety > 0 are needed "
                         f"(got terms={terms}, scale={scale}, safety={safety})")
    bound = safety * terms * float(np.finfo(np.dtype(dtype)).eps)
    return dict(rtol=bound, atol=bound * scale)


def assert_close(actual, expected, *, terms=1, scale=None, dtype=None, safety=4.0, err_msg=""):
    """Assert ``actual`` equals ``expected`` up to the rounding of ``dtype`` (the less precise of
    the two arrays' dtypes by default) over ``terms`` operations of values of size ``scale``
    (by default the largest \\|expected\\|, at least 1). A float64 ``expected`` computed from the
    same inputs is the better reference where one is at hand.

    >>> import numpy as np
    >>> a = np.float32(1) + np.float32(1e-7) * np.arange(4, dtype=np.float32)
    >>> assert_close(a, np.ones(4, np.float32), terms=2)
    """
    actual, expected = np.asarray(actual), np.asarray(expected)
    if dtype is None:
        kinds = [a.dtype for a in (actual, expected) if a.dtype.kind == "f"]
        dtype = max(kinds, key=lambda d: np.finfo(d).eps) if kinds else np.float64
    if scale is None:
        scale = max(1.0, float(np.max(np.abs(expected)))) if expected.size else 1.0
    np.testing.assert_allclose(actual, expected, err_msg=err_msg,
                               **tolerances(dtype, terms=terms, scale=scale, safety=safety))
