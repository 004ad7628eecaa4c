"""Every array-module name the package uses exists in the installed CuPy, with its keywords.

A NumPy name that CuPy lacks, or a keyword that CuPy's function does not take (CuPy's ufuncs take
``out``, ``dtype`` and ``casting`` only, not NumPy's ``where=``), fails only on a GPU. The names
and keywords are read from the package's sources (array_names.py) and looked up in the CuPy that
is installed. The CuPy wheel imports without a GPU (only allocation needs one), so this runs on
any machine with ``pip install -e ".[cupy-names]"``; without CuPy the CuPy checks skip, unless
``TINYGRAD_SEQ_REQUIRE_CUPY=1`` (as CI sets) turns the skip into a failure.
"""
import importlib
import os
import pathlib
import re
import shutil
import textwrap

import numpy as np
import pytest

from array_names import (ARRAY_MODULE, PACKAGE, Dynamic, all_uses, array_module_uses, lookup,
                         missing_names, refused_keywords)

ROOT = pathlib.Path(__file__).resolve().parent.parent
REQUIRE_CUPY = os.environ.get("TINYGRAD_SEQ_REQUIRE_CUPY") == "1"


@pytest.fixture(scope="module")
def cupy():
    """The installed CuPy, imported without a GPU; a skip, or a failure where CI requires it."""
    try:
        module = importlib.import_module("cupy")
    except ImportError as e:
        message = f"CuPy not installed ({e}): pip install -e '.[cupy-names]'"
        if REQUIRE_CUPY:
            pytest.fail(f"TINYGRAD_SEQ_REQUIRE_CUPY=1 requires CuPy: {message}")
        pytest.skip(message)
    if not hasattr(module, "_core") or not hasattr(module, "ufunc"):
        pytest.fail(f"the module imported as cupy ({getattr(module, '__file__', None)}) is not "
                    f"CuPy, so its names prove nothing")
    return module


def _modules(cupy):
    return {ARRAY_MODULE: cupy, "cupy": cupy, "cupyx": importlib.import_module("cupyx")}


# ---------------------------------------------------------------- the collector is right

SNIPPET = '''
import numpy as np
import cupy as cp
from cupy.cuda import nccl
import cupyx.scipy.special

def forward(ctx, a, b):
    xp = ctx.xp
    y = xp.zeros(a.shape, dtype=a.dtype).astype(b.dtype)
    ctx.xp.add.at(y, b, a)
    xp.tanh(y, out=y)
    rng = self.device.xp.random.RandomState(0)
    comm = nccl.NcclCommunicator(2, uid, 0)
    with cp.cuda.Device(1):
        getattr(xp, "maximum")(a, b)
        getattr(ctx.xp, ctx.pick)(a, b)
        getattr(xp, "optional_name", None)
    np.zeros(3); a.sum(axis=0); x.xp
    return cupyx.scipy.special.erf(y) + xp.inf


def array_module(device):
    return get_device(device).xp


def _import_cupy():
    global _cupy
    _cupy = cupy
    return _cupy


def cuda_module():
    return _import_cupy()


def host():
    return np


def setup(device):
    array_module(device).full(3, 1.0, dtype="float32")
    host().zeros(2)
    return cuda_module().cuda.runtime.getDeviceCount()
'''


def test_the_collector_finds_each_form_of_use_and_nothing_else():
    uses, dynamic = array_module_uses(SNIPPET, "snippet.py")
    assert sorted((u.root, u.path, u.keywords) for u in uses) == sorted([
        ("cupy", "cuda.nccl", ()),
        ("cupyx", "scipy.special", ()),
        ("xp", "zeros", ("dtype",)),
        ("xp", "add.at", ()),
        ("xp", "tanh", ("out",)),
        ("xp", "random.RandomState", ()),
        ("cupy", "cuda.nccl.NcclCommunicator", ()),
        ("cupy", "cuda.Device", ()),
        ("xp", "maximum", ()),
        ("cupyx", "scipy.special.erf", ()),
        ("xp", "inf", ()),
        ("xp", "full", ("dtype",)),
        ("cupy", "cuda.runtime.getDeviceCount", ()),
    ])
    assert dynamic == [Dynamic("xp", "ctx.pick", "snippet.py:16")]
    assert {u.where for u in uses if u.path == "add.at"} == {"snippet.py:10"}


def test_the_package_uses_are_found_and_each_exists_in_numpy():
    """On the CPU the array module is NumPy: every ``xp`` name the collector finds must exist
    there too (a collector that misreads chains would report names NumPy lacks), but for those
    under ``xp.cuda``, which only a CUDA device reaches; and the names the package is known to
    need are among them."""
    uses = all_uses()
    found = {(u.root, u.path) for u in uses}
    assert {("xp", "add.at"), ("xp", "random.RandomState"),
            ("xp", "maximum"), ("xp", "less_equal"), ("cupy", "cuda.runtime.getDeviceCount"),
            ("cupy", "cuda.nccl.NcclCommunicator")} <= found
    on_the_host = [u for u in uses if u.root == ARRAY_MODULE and u.path.split(".")[0] != "cuda"]
    assert missing_names(on_the_host, {ARRAY_MODULE: np}) == []


# ---------------------------------------------------------------- against CuPy

def test_every_name_the_package_uses_exists_in_cupy(cupy):
    missing = missing_names(all_uses(), _modules(cupy))
    hint = ""
    nccl = lookup(cupy, "cuda.nccl")
    if any(".nccl." in m for m in missing) and not getattr(nccl, "available", True):
        hint = " (cupy.cuda.nccl found no NCCL library: pip install nvidia-nccl-cu12)"
    assert not missing, f"names CuPy {cupy.__version__} lacks{hint}:\n" + "\n".join(missing)


def _pinned(distribution):
    """The version of ``distribution`` that pyproject.toml's cupy-names extra pins."""
    extra = re.search(r"^cupy-names = \[(.*)\]$", (ROOT / "pyproject.toml").read_text(), re.M)
    return re.search(rf'"{distribution}==([^"]+)"', extra.group(1)).group(1)


def test_the_docs_name_the_versions_ci_checks():
    page = (ROOT / "docs" / "cuda.md").read_text()
    for distribution in ("cupy-cuda12x", "nvidia-nccl-cu12"):
        assert f"{distribution} {_pinned(distribution)}" in page, distribution


def test_ci_checks_the_pinned_cupy(cupy):
    """Where CI requires CuPy, it is the version the docs say was checked."""
    if not REQUIRE_CUPY:
        pytest.skip("another CuPy may be installed outside CI")
    assert cupy.__version__ == _pinned("cupy-cuda12x")


def test_every_keyword_the_package_passes_is_taken_by_cupy(cupy):
    refused = refused_keywords(all_uses(), cupy)
    assert not refused, f"keywords CuPy {cupy.__version__} refuses:\n" + "\n".join(refused)


def test_a_planted_name_or_keyword_fails_the_checks(cupy, tmp_path):
    """A copy of the package with one name CuPy lacks and one NumPy-only keyword: both reported,
    at their line."""
    copy = tmp_path / "tinygrad_seq"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    target = copy / "ops" / "elementwise.py"
    lines = len(target.read_text().splitlines())
    target.write_text(target.read_text() + textwrap.dedent('''
        def _planted(xp, a, mask):
            return xp.not_a_function(a), xp.tanh(a, where=mask)
        '''))
    uses = all_uses(copy)
    assert missing_names(uses, _modules(cupy)) == [
        f"ops/elementwise.py:{lines + 3}: cupy.not_a_function"]
    assert refused_keywords(uses, cupy) == [f"ops/elementwise.py:{lines + 3}: xp.tanh(where=)"]
    assert missing_names(all_uses(), _modules(cupy)) == []      # the package itself is clean
