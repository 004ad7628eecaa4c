"""Hypothesis profiles, the ``device`` and ``torch`` fixtures shared by every test."""
import os

import pytest
from hypothesis import HealthCheck, settings

import strict_cupy
import tinygrad_seq as tg
from tinygrad_seq import backend

# The `device` fixture is a plain string, safe to share across examples.
_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture]
settings.register_profile("ci", max_examples=15, derandomize=True, deadline=None,
                          suppress_health_check=_QUIET)
settings.register_profile("dev", max_examples=40, deadline=None, suppress_health_check=_QUIET)
settings.register_profile("thorough", max_examples=500, deadline=None, suppress_health_check=_QUIET)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

CUDA = tg.cuda_available()  # a real GPU, through CuPy
GPUS = backend.cuda_module().cuda.runtime.getDeviceCount() if CUDA else 0
DEVICES = [
    pytest.param("cpu", id="cpu"),
    pytest.param("cuda", id="cuda"),
    pytest.param("cuda:1", id="cuda1", marks=pytest.mark.skipif(
        CUDA and GPUS < 2, reason="one GPU: cuda:1 runs on the strict stand-in where there is none")),
]


def _on(name):
    if name == "cpu" or CUDA:
        yield name
        return
    with strict_cupy.installed():
        yield name


@pytest.fixture(params=DEVICES)
def device(request):
    """Each device test runs on the CPU, on "cuda" (GPU 0) and on "cuda:1" while GPU 0 stays
    current, so that a CuPy call made outside its tensor's device raises. The GPUs are real
    where CuPy finds them, else the strict stand-in for CuPy (strict_cupy/), which is as
    strict as CuPy about host arrays and about devices."""
    yield from _on(request.param)


@pytest.fixture(params=DEVICES[1:])
def gpu(request):
    """As ``device``, the GPUs only: "cuda" and "cuda:1" (GPU 0 current)."""
    yield from _on(request.param)


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


# The op registry's gradient and backward tests run an op's backward inside the backward walk's
# device guard, alike on every GPU: on "cuda:1" they are thorough checks (-m slow), as the
# registry's forward test still runs every op there, with the checks made before an op.
SLOW_ON_THE_SECOND_GPU = {"test_gradient_matches_finite_differences", "test_backward_invariants"}


@pytest.hookimpl(tryfirst=True)  # before -m "not slow" deselects
def pytest_collection_modifyitems(config, items):
    """A test that asks for the ``torch`` fixture carries the ``torch`` marker: one way to say it.
    The second GPU's half of ``SLOW_ON_THE_SECOND_GPU`` carries the ``slow`` marker."""
    for item in items:
        if "torch" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.torch)
        callspec = getattr(item, "callspec", None)
        if (callspec is not None and callspec.params.get("device") == "cuda:1"
                and item.module.__name__ == "test_ops"
                and item.originalname in SLOW_ON_THE_SECOND_GPU):
            item.add_marker(pytest.mark.slow)


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
