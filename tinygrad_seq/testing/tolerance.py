"""Tolerances that fit the dtype and the computation, for comparing one result computed two ways.

Two correct float32 computations of the same value differ by rounding, and how much depends on
the computation: a dot product of n terms, summed by one BLAS kernel in one order and by another
in another, can differ by about n·eps·Σ|aᵢbᵢ| (Higham, *Accuracy and Stability of Numerical
Algorithms*, §3.1), and an element that is small because large terms cancelled keeps the absolute
error of those terms. ``allclose``'s defaults (rtol 1e-5, atol 1e-8) fit neither: a float32 LSTM
step gave 8.1908703e-04 on one kernel and 8.1914663e-04 on another, both right. docs/testing.md
("Comparing float32 results") shows how to choose ``terms`` and ``scale``.
"""
import math
import numbers

import numpy as np

__all__ = ["tolerances", "assert_close"]


def _finite_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


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
    try:
        eps = float(np.finfo(np.dtype(dtype)).eps)
    except (TypeError, ValueError):
        raise ValueError(f"tolerances: dtype must be a floating-point dtype such as np.float32, "
                        f"got {dtype!r}") from None
    if not (_finite_real(terms) and terms >= 1 and _finite_real(scale) and scale >= 0
            and _finite_real(safety) and safety > 0):
        raise ValueError(f"tolerances: terms >= 1, scale >= 0 and safety > 0 are needed, all "
                         f"finite numbers (got terms={terms!r}, scale={scale!r}, safety={safety!r})")
    bound = float(safety) * float(terms) * eps
    return dict(rtol=bound, atol=bound * float(scale))


def assert_close(actual, expected, *, terms=1, scale=None, dtype=None, safety=4.0, err_msg=""):
    """Assert ``actual`` equals ``expected`` up to the rounding of ``dtype`` (the less precise of
    the two arrays' dtypes by default) over ``terms`` operations of values of size ``scale``
    (by default the largest finite \\|expected\\|, at least 1). A float64 ``expected`` computed
    from the same inputs is the better reference where one is at hand. NaN equals nothing, not
    even NaN: two computations that both broke do not agree.

    >>> import numpy as np
    >>> a = np.float32(1) + np.float32(1e-7) * np.arange(4, dtype=np.float32)
    >>> assert_close(a, np.ones(4, np.float32), terms=2)
    >>> assert_close(a + np.float32(1e-3), np.ones(4, np.float32), terms=2)
    Traceback (most recent call last):
    ...
    AssertionError: ...
    """
    actual, expected = np.asarray(actual), np.asarray(expected)
    if dtype is None:
        kinds = [a.dtype for a in (actual, expected) if a.dtype.kind == "f"]
        dtype = max(kinds, key=lambda d: np.finfo(d).eps) if kinds else np.float64
    if scale is None:
        sizes = np.abs(expected[np.isfinite(expected)] if expected.dtype.kind in "fc" else expected)
        scale = max(1.0, float(sizes.max(initial=0.0)))
    limits = tolerances(dtype, terms=terms, scale=scale, safety=safety)
    where = (f"{np.dtype(dtype).name} rounding over terms={terms} of size scale={scale:.3g}"
             f"{': ' + err_msg if err_msg else ''}")
    np.testing.assert_allclose(actual, expected, err_msg=where, equal_nan=False, **limits)
