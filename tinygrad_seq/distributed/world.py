"""The world of processes: who this one is, how many train together, and the job's state.

``init`` (launcher.py) fills it in; every other part of tg.distributed reads it. A process
started without an MPI launcher is a world of one.
"""
import os

TIMEOUT_ENV = "TINYGRAD_SEQ_DIST_TIMEOUT"
DEFAULT_TIMEOUT = 300.0
INSTALL_HINT = 'pip install -e ".[distributed]" (mpi4py and the mpich wheel, which brings mpiexec)'

# what MPI launchers export to each process: Hydra/MPICH and Intel MPI (PMI_*), Open MPI,
# PMIx (Slurm's srun --mpi=pmix, Open MPI 5), MVAPICH
_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MV2_COMM_WORLD_SIZE")
_LAUNCHER_VARIABLES = _SIZE_VARIABLES + ("PMI_RANK", "PMIX_RANK", "OMPI_COMM_WORLD_RANK")


class DistributedError(RuntimeError):
    """The job cannot be joined as asked (mpi4py missing under a launcher, a bad batch split)."""


class _World:
    def __init__(self):
        self.initialized = False
        self.rank, self.size, self.local_rank = 0, 1, 0
        self.comm = self.MPI = None
        self.timeout = DEFAULT_TIMEOUT
        self.watchdog = None
        self.nccl = {}  # CUDA device id -> NcclCommunicator
        self.finished = False


_world = _World()


def launcher_world_size():
    """The number of processes an MPI launcher says it started, or None without a launcher."""
    for name in _SIZE_VARIABLES:
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    if any(name in os.environ for name in _LAUNCHER_VARIABLES):
        return 0  # a launcher that does not say how many (singleton PMI): ask MPI
    return None


def is_initialized():
    return _world.initialized


def rank():
    """This process's number, 0 .. world_size() - 1 (0 in a world of one)."""
    return _world.rank


def world_size():
    """How many processes train together (1 before ``init()`` and without MPI)."""
    return _world.size


def local_rank():
    """This process's number among those on its host: the CUDA device it should use."""
    return _world.local_rank


def _active():
    return _world.size > 1
