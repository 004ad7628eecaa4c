"""The host allocator tuning: applied on glibc, skipped when the user chose for themselves."""
import sys

import pytest

from tinygrad_seq import allocator


@pytest.mark.parametrize("variable, value", [("TINYGRAD_SEQ_MALLOC", "system"),
                                             ("MALLOC_TRIM_THRESHOLD_", "1000000"),
                                             ("MALLOC_MMAP_THRESHOLD_", "1000000")])
def test_the_users_choice_is_kept(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    assert allocator.tune() is False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt is Linux only")
def test_tuning_applies_on_glibc(monkeypatch):
    for variable in ("TINYGRAD_SEQ_MALLOC", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_"):
        monkeypatch.delenv(variable, raising=False)
    import platform
    if platform.libc_ver()[0] != "glibc":
        pytest.skip("not glibc")
    assert allocator.tune() is True
