"""Hypothesis profiles, the ``device`` and ``torch`` fixtures shared by every test."""
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


# CI installs the compare extra and runs `-m torch` with this set: there a comparison with PyTorch
# that skips (torch missing, an import broken) fails the run instead of passing silently.
REQUIRE_TORCH = os.environ.get("TINYGRAD_SEQ_REQUIRE_TORCH") == "1"


@pytest.fixture
def torch():
    """PyTorch, for the tests that compare with it: skips cleanly where it is not installed."""
    try:
        import torch as module
    except ImportError:
        pytest.skip("PyTorch not installed (pip install -e '.[test,compare]')")
    return module


def pytest_collection_modifyitems(config, items):
    """A test that asks for the ``torch`` fixture carries the ``torch`` marker: one way to say it."""
    for item in items:
        if "torch" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.torch)


_torch_skips = []


def _skip_reason(report):
    return report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)


def pytest_runtest_logreport(report):
    if REQUIRE_TORCH and report.skipped and "torch" in report.keywords:
        if "CUDA" not in _skip_reason(report):
            _torch_skips.append(f"{report.nodeid}: {_skip_reason(report)}")


def pytest_collectreport(report):
    """A whole module of comparisons skipped at import (``pytest.importorskip`` at the top)."""
    if REQUIRE_TORCH and report.skipped and "torch" in _skip_reason(report).lower():
        _torch_skips.append(f"{report.nodeid}: {_skip_reason(report)}")


def pytest_sessionfinish(session, exitstatus):
    if _torch_skips:
        print(f"\n{len(_torch_skips)} comparisons with PyTorch skipped where "
              f"TINYGRAD_SEQ_REQUIRE_TORCH=1 requires them:", *_torch_skips[:20], sep="\n  ")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
