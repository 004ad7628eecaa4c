"""Host memory: keep freed megabyte-sized blocks in the process instead of handing them back.

A training step allocates and frees the same buffers over and over (a (4H, H) weight gradient
per time step, activations freed as backward walks the graph). glibc's malloc maps big blocks
afresh and trims the heap once its free top passes a threshold that adapts upward only slowly,
so those buffers keep coming back as new pages, each faulted in and zeroed by the kernel: an LSTM
step at T=50, B=32, H=256 spent a third of its time there (docs/performance.md). We raise the
two thresholds once, at import: blocks up to 32 MB come from the heap, and up to 256 MB of free
heap is kept. Nothing else changes: the memory is still freed, just reused before it is returned.

It applies on Linux with glibc only, and never when the user chose for themselves: set
``TINYGRAD_SEQ_MALLOC=system`` (or glibc's own ``MALLOC_MMAP_THRESHOLD_`` /
``MALLOC_TRIM_THRESHOLD_``) to keep the system's behaviour.
"""
import ctypes
import os
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 256 << 20


def tune():
    """Apply the thresholds; returns True when they were set."""
    if not sys.platform.startswith("linux") or os.environ.get("TINYGRAD_SEQ_MALLOC") == "system":
        return False
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or "MALLOC_TRIM_THRESHOLD_" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (musl, ...): leave it alone
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    # set both: setting either one stops glibc from adapting the other
    mmap_set = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    trim_set = mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    return mmap_set and trim_set


TUNED = tune()
