"""tg.set_num_threads / get_num_threads: the BLAS thread pool, set at run time via threadpoolctl."""
import numpy as np
import pytest
from threadpoolctl import threadpool_info

import tinygrad_seq as tg


def blas_threads():
    """What threadpoolctl itself reports for every loaded BLAS library."""
    return [library["num_threads"] for library in threadpool_info() if library["user_api"] == "blas"]


@pytest.fixture
def original_threads():
    """The limit before the test, put back after it whatever happens (other tests time BLAS)."""
    before = tg.get_num_threads()
    yield before
    tg.set_num_threads(before)


def test_get_num_threads_reads_what_threadpoolctl_reports():
    assert tg.get_num_threads() == max(blas_threads())


def test_set_num_threads_sets_the_blas_pool_and_is_restorable(original_threads):
    other = 1 if original_threads > 1 else 2
    tg.set_num_threads(other)
    assert blas_threads() and all(n == other for n in blas_threads())
    assert tg.get_num_threads() == other
    a = np.arange(64.0).reshape(8, 8)
    np.testing.assert_allclose((tg.tensor(a) @ tg.tensor(a)).numpy(), a @ a, rtol=1e-6)
    tg.set_num_threads(original_threads)
    assert tg.get_num_threads() == original_threads
    assert all(n == original_threads for n in blas_threads())


def test_numpy_integers_are_accepted(original_threads):
    tg.set_num_threads(np.int64(1))
    assert blas_threads() == [1] * len(blas_threads())


@pytest.mark.parametrize("n, error, message", [
    (0, ValueError, "at least 1, got 0"),
    (-2, ValueError, "at least 1, got -2"),
    (1.5, TypeError, r"positive integer, got 1\.5"),
    (2.0, TypeError, r"positive integer, got 2\.0"),
    (True, TypeError, "positive integer, got True"),
    ("2", TypeError, "positive integer, got '2'"),
    (None, TypeError, "positive integer, got None"),
])
def test_set_num_threads_rejects_what_is_no_thread_count(original_threads, n, error, message):
    with pytest.raises(error, match="set_num_threads: .*" + message):
        tg.set_num_threads(n)
    assert tg.get_num_threads() == original_threads   # nothing changed
