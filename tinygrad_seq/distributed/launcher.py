"""Joining the job an MPI launcher (mpiexec, srun) started: ``init``."""
import os

from . import faults, world
from .world import DEFAULT_TIMEOUT, INSTALL_HINT, TIMEOUT_ENV, DistributedError


def init(timeout=None):
    """Join the MPI job this process belongs to and return the world size (idempotent).

    Without an MPI launcher in the environment this is a world of one: mpi4py is not imported
    and every call of this module is a no-op. ``timeout`` (seconds; default
    $TINYGRAD_SEQ_DIST_TIMEOUT or 300) bounds every wait for the other ranks.

    >>> import tinygrad_seq as tg
    >>> tg.distributed.init(), tg.distributed.rank()     # no mpiexec here
    (1, 0)
    """
    if timeout is None:
        timeout = float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT))
    if not timeout > 0:
        raise ValueError(f"tg.distributed.init: timeout must be > 0 seconds, got {timeout}")
    world._world.timeout = float(timeout)
    if world._world.initialized:
        return world._world.size
    launched = world.launcher_world_size()
    if launched is None:
        world._world.initialized = True
        return 1
    try:
        from mpi4py import MPI
    except ImportError:
        if launched > 1:
            raise DistributedError(
                f"this process was started by an MPI launcher as one of {launched}, but mpi4py "
                f"is not installed, so it cannot reach the others; install it with "
                f"{INSTALL_HINT}") from None
        world._world.initialized = True
        return 1
    comm = MPI.COMM_WORLD
    world._world.MPI, world._world.comm = MPI, comm
    world._world.rank, world._world.size = comm.Get_rank(), comm.Get_size()
    local = comm.Split_type(MPI.COMM_TYPE_SHARED)
    world._world.local_rank = local.Get_rank()
    local.Free()
    world._world.initialized = True
    if world._world.size > 1:
        world._world.watchdog = faults.Watchdog()
        world._world.watchdog.start()
        faults.install_handlers()
    return world._world.size
