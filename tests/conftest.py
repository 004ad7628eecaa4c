"""Hypothesis profiles and the ``device`` fixture shared by every test."""
import os

import pytest
from hypothesis import HealthCheck, settings

import tinygrad_seq as tg

# The `device` fixture is a plain string, safe to share across examples.
_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture]
settings.register_profile("ci", max_examples=15, derandomize=True, deadline=None,
                          suppress_health_check=_QUIET)
settings.register_profile("dev", max_examples=40, deadline=None, suppress_health_check=_QUIET)
settings.register_profile("thorough", max_examples=500, deadline=None, suppress_health_check=_QUIET)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

CUDA = tg.cuda_available()
DEVICES = [
    pytest.param("cpu", id="cpu"),
    pytest.param("cuda", id="cuda", marks=pytest.mark.skipif(not CUDA, reason="no CUDA GPU (CuPy)")),
]


@pytest.fixture(params=DEVICES)
def device(request):
    """Each device test runs once per device; CUDA skips cleanly without a GPU."""
    return request.param
