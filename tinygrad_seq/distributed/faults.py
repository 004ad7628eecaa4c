"""Faults end the whole job, never leave ranks waiting: a watchdog over every blocking
collective, an uncaught exception or an early exit on any rank aborts every process (MPI_Abort).
"""
import atexit
import os
import sys
import threading
import time
import traceback

from . import world
from .world import TIMEOUT_ENV


class Watchdog(threading.Thread):
    """Aborts the job when one collective waits longer than the timeout. Arming and disarming
    are two attribute writes; the thread looks every second or so."""

    def __init__(self):
        super().__init__(name="tg.distributed watchdog", daemon=True)
        self.what, self.since = None, 0.0

    def run(self):
        while True:
            time.sleep(min(1.0, max(0.05, world._world.timeout / 20)))
            what, since = self.what, self.since
            if what is not None and time.monotonic() - since > world._world.timeout:
                _fail(f"{what} waited more than {world._world.timeout:g} s for the other ranks: one "
                      f"of them died, hung or is far behind; aborting the whole job (raise the "
                      f"limit with init(timeout=...) or ${TIMEOUT_ENV})")


class guard:
    """``with guard("allreduce"):`` arms the watchdog around a blocking collective."""

    __slots__ = ("what",)

    def __init__(self, what):
        self.what = what

    def __enter__(self):
        dog = world._world.watchdog
        if dog is not None:
            dog.since, dog.what = time.monotonic(), self.what

    def __exit__(self, *exc):
        if world._world.watchdog is not None:
            world._world.watchdog.what = None


def _fail(message, code=1, before=""):
    try:
        sys.stdout.flush()
    except Exception:
        pass
    # one write, then a moment for mpiexec to forward it: MPI_Abort tears the job down at once,
    # and a line written just before it was lost on a loaded machine
    sys.stderr.write(f"{before}tg.distributed: rank {world._world.rank} of {world._world.size}: {message}\n")
    sys.stderr.flush()
    time.sleep(0.2)
    world._world.comm.Abort(code)
    os._exit(code)  # not reached: MPI_Abort ends the process


def abort(code=1, message=None):
    """End every process of the job now (MPI_Abort), after printing ``message`` on this rank.
    In a world of one: ``sys.exit(code)``."""
    if not world._active():
        if message:
            sys.stderr.write(message + "\n")
        sys.exit(code)
    _fail(message or f"aborting the job with exit status {code}", code)


def install_handlers():
    previous = sys.excepthook

    def excepthook(kind, value, trace):
        if not (world._active() and not world._world.finished):
            previous(kind, value, trace)
            return
        # the traceback first, as Python prints it, in the same write as the abort's reason
        # (a hook the user installed prints it their way)
        before = "".join(traceback.format_exception(kind, value, trace))
        if previous is not sys.__excepthook__:
            previous(kind, value, trace)
            before = ""
        _fail(f"uncaught {kind.__name__} (above): aborting the job so that the other ranks "
              f"do not wait for this one forever", before=before)

    sys.excepthook = excepthook
    # atexit runs in reverse order of registration: this runs before mpi4py's MPI_Finalize,
    # which would wait forever for a rank that is still inside a collective
    atexit.register(_exit_barrier)


def _exit_barrier():
    if not world._active() or world._world.finished:
        return
    world._world.finished = True
    wait(world._world.comm.Ibarrier(), "the exit barrier (a rank left while others still train?)")


def wait(request, what):
    """Wait for a non-blocking request without spinning a core: Test, then sleep a little
    longer each time (at most 2 ms), abort after the timeout."""
    start = time.monotonic()
    pause = 0.0
    while not request.Test():
        if time.monotonic() - start > world._world.timeout:
            _fail(f"{what} waited more than {world._world.timeout:g} s for the other ranks: one of "
                  f"them died, hung or is far behind; aborting the whole job")
        time.sleep(pause)
        pause = min(0.002, pause + 0.0001)
