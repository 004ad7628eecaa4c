"""tolerances() and assert_close(): float32 results computed two correct ways pass, a real error
fails, and the bounds follow the dtype, the number of terms and their size."""
import numpy as np
import pytest

from tinygrad_seq.testing import assert_close, tolerances

EPS32 = float(np.finfo(np.float32).eps)
ALLCLOSE_DEFAULTS = dict(rtol=1e-5, atol=1e-8)   # spelled out: what a bare np.allclose uses


def sum_in_order(terms):
    """Left to right in float32, one rounding per addition, as a kernel walking that order would."""
    total = np.float32(0)
    for term in terms:
        total = np.float32(total + term)
    return total


def test_bounds_are_safety_times_terms_times_eps_relative_and_times_scale():
    got = tolerances(np.float32, terms=10, scale=3.0)
    assert got == pytest.approx(dict(rtol=40 * EPS32, atol=120 * EPS32), rel=1e-12)
    twice = tolerances(np.float32, terms=20)["rtol"]
    assert twice == pytest.approx(2 * tolerances(np.float32, terms=10)["rtol"])
    assert tolerances("float64", terms=10)["rtol"] == pytest.approx(40 * np.finfo(np.float64).eps)
    assert tolerances(np.float32, safety=1.0) == dict(rtol=EPS32, atol=EPS32)


def test_a_float32_result_summed_in_two_orders_by_blas_passes_and_allclose_defaults_fail():
    """One element of RNNCell(3, 5)'s step on an AMD EPYC under OpenBLAS's Haswell kernels, from
    the unbatched call and from a batch of two (docs/recurrent.md). Both are right: 3 + 5
    products of size about 1, summed in two orders, cancelled to 8e-4."""
    unbatched, batched = np.float32(8.1908703e-04), np.float32(8.1914663e-04)
    assert not np.allclose(unbatched, batched, **ALLCLOSE_DEFAULTS)
    assert_close(unbatched, batched, terms=3 + 5)


def test_a_sum_in_another_order_passes_and_allclose_defaults_fail():
    """1,000 float32 terms that nearly cancel, summed forwards and backwards: the two orders
    differ by far more than allclose's atol, and by less than the bound for 1,000 terms."""
    terms = np.random.default_rng(0).standard_normal(1000)
    terms = (terms - terms.mean()).astype(np.float32)
    forwards, backwards = sum_in_order(terms), sum_in_order(terms[::-1])
    assert forwards != backwards
    assert not np.allclose(forwards, backwards, **ALLCLOSE_DEFAULTS)
    assert_close(forwards, backwards, terms=len(terms), scale=float(np.abs(terms).max()))
    exact = float(np.sum(terms.astype(np.float64)))
    assert_close(forwards, exact, terms=len(terms), scale=float(np.abs(terms).max()))


@pytest.mark.parametrize("terms", [1, 8, 100, 1000])
def test_a_real_error_of_1e_3_fails(terms):
    rng = np.random.default_rng(terms)
    expected = np.tanh(rng.standard_normal(50)).astype(np.float32)
    actual = expected.copy()
    actual[17] += np.float32(1e-3)
    with pytest.raises(AssertionError, match=f"terms={terms}"):
        assert_close(actual, expected, terms=terms)


def test_the_less_precise_dtype_sets_the_bound():
    one = np.ones(3)
    off_by_an_ulp = one + EPS32
    assert_close(off_by_an_ulp.astype(np.float32), one)              # float32 against float64
    with pytest.raises(AssertionError, match="float64 rounding"):
        assert_close(off_by_an_ulp, one)                              # both float64
    assert_close(off_by_an_ulp, one, dtype=np.float32)                # or as asked


def test_the_absolute_bound_follows_the_largest_expected_value():
    """An element that cancels to about 0 keeps the error of the large terms beside it."""
    expected = np.array([100.0, 0.0], np.float32)
    actual = np.array([100.0, 3e-5], np.float32)
    assert_close(actual, expected, terms=1)                          # scale 100: atol 4.8e-5
    with pytest.raises(AssertionError):
        assert_close(actual, expected, terms=1, scale=1.0)
    assert_close(np.array([0.5, np.inf]), np.array([0.5, np.inf]))   # infinities do not set it


def test_nan_equals_nothing():
    with pytest.raises(AssertionError, match="nan"):
        assert_close(np.array([1.0, np.nan], np.float32), np.array([1.0, np.nan], np.float32))


@pytest.mark.parametrize("call, message", [
    (lambda: tolerances(np.int64), r"dtype must be a floating-point dtype .*int64"),
    (lambda: tolerances("float32", terms=0), r"terms >= 1.*got terms=0,"),
    (lambda: tolerances("float32", terms=float("nan")), r"got terms=nan,"),
    (lambda: tolerances("float32", scale=-1.0), r"scale >= 0.*scale=-1.0,"),
    (lambda: tolerances("float32", safety=0), r"safety > 0.*safety=0\)"),
    (lambda: assert_close([1.0], [1.0], terms=None), r"got terms=None,"),
], ids=["int_dtype", "no_terms", "nan_terms", "negative_scale", "zero_safety", "terms_none"])
def test_bad_arguments_name_what_was_wrong(call, message):
    with pytest.raises(ValueError, match=message):
        call()
