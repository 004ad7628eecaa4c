"""Data-parallel training over MPI (mpi4py), and over NCCL (CuPy) for CUDA gradients.

Every process holds the whole model and a disjoint part of each batch; after ``backward()``
the gradients are averaged across processes, so every process takes the same optimizer step
and the replicas stay identical. One script runs unchanged on one process or on many::

    mpiexec -n 2 python train.py        # mpiexec comes with `pip install -e ".[distributed]"`

    import tinygrad_seq as tg
    dist = tg.distributed
    dist.init()                                   # world size 1 without mpiexec: all no-ops
    dist.broadcast_parameters(model)              # rank 0's weights everywhere
    dist.broadcast_state(optimizer)               # and its optimizer state (after --resume)
    average = dist.GradientAverager(model.parameters(), bucket_mb=25)
    sampler = dist.DistributedSampler(len(data), batch_size=64, seed=0)   # 64 in all
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        for rows in sampler:                      # this rank's 64 / world_size rows
            loss = ...; opt.zero_grad(); loss.backward()
            average()                             # one Allreduce per bucket of gradients
            opt.step()

``init()`` joins the job that an MPI launcher (mpiexec, srun) started, read from its
environment; a process started without a launcher is a world of one and never imports mpi4py,
and a launcher without mpi4py installed is an error (K independent copies writing one
checkpoint would be worse). Gradients are flattened into buckets of about ``bucket_mb``
megabytes, each reduced with ONE Allreduce (NCCL's allReduce for CuPy arrays), never one call
per parameter.

Faults: every blocking collective runs under a watchdog; when it waits more than ``timeout``
seconds (a rank died, hung or is far behind) it prints which collective on which rank and
calls MPI_Abort, which ends every process of the job. An uncaught exception on any rank
aborts the job too (mpi4py alone would leave the other ranks waiting forever), and so does a
rank that exits while the others wait (the exit barrier times out). mpiexec itself ends the
job when a process is killed. The data side, each rank its share of every batch
(``DistributedSampler``, ``ShardedGenerator``), is tinygrad_seq/sharding.py, re-exported here.
See docs/distributed.md.
"""
import atexit
import os
import pickle
import sys
import threading
import time
import traceback

import numpy as np

from . import backend

__all__ = ["init", "is_initialized", "rank", "world_size", "local_rank", "barrier", "abort",
           "all_reduce", "broadcast", "broadcast_object", "broadcast_parameters",
           "broadcast_state", "average_gradients", "GradientAverager", "reduce_metrics",
           "DistributedSampler", "ShardedGenerator", "launcher_world_size", "DistributedError",
           "TIMEOUT_ENV", "DEFAULT_TIMEOUT"]

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
    _world.timeout = float(timeout)
    if _world.initialized:
        return _world.size
    launched = launcher_world_size()
    if launched is None:
        _world.initialized = True
        return 1
    try:
        from mpi4py import MPI
    except ImportError:
        if launched > 1:
            raise DistributedError(
                f"this process was started by an MPI launcher as one of {launched}, but mpi4py "
                f"is not installed, so it cannot reach the others; install it with "
                f"{INSTALL_HINT}") from None
        _world.initialized = True
        return 1
    comm = MPI.COMM_WORLD
    _world.MPI, _world.comm = MPI, comm
    _world.rank, _world.size = comm.Get_rank(), comm.Get_size()
    local = comm.Split_type(MPI.COMM_TYPE_SHARED)
    _world.local_rank = local.Get_rank()
    local.Free()
    _world.initialized = True
    if _world.size > 1:
        _world.watchdog = _Watchdog()
        _world.watchdog.start()
        _install_fault_handlers()
    return _world.size


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


# ---------------------------------------------------------------- faults

class _Watchdog(threading.Thread):
    """Aborts the job when one collective waits longer than the timeout. Arming and disarming
    are two attribute writes; the thread looks every second or so."""

    def __init__(self):
        super().__init__(name="tg.distributed watchdog", daemon=True)
        self.what, self.since = None, 0.0

    def run(self):
        while True:
            time.sleep(min(1.0, max(0.05, _world.timeout / 20)))
            what, since = self.what, self.since
            if what is not None and time.monotonic() - since > _world.timeout:
                _fail(f"{what} waited more than {_world.timeout:g} s for the other ranks: one "
                      f"of them died, hung or is far behind; aborting the whole job (raise the "
                      f"limit with init(timeout=...) or ${TIMEOUT_ENV})")


class _guard:
    """``with _guard("allreduce"):`` arms the watchdog around a blocking collective."""

    __slots__ = ("what",)

    def __init__(self, what):
        self.what = what

    def __enter__(self):
        dog = _world.watchdog
        if dog is not None:
            dog.since, dog.what = time.monotonic(), self.what

    def __exit__(self, *exc):
        if _world.watchdog is not None:
            _world.watchdog.what = None


def _fail(message, code=1, before=""):
    try:
        sys.stdout.flush()
    except Exception:
        pass
    # one write, then a moment for mpiexec to forward it: MPI_Abort tears the job down at once,
    # and a line written just before it was lost on a loaded machine
    sys.stderr.write(f"{before}tg.distributed: rank {_world.rank} of {_world.size}: {message}\n")
    sys.stderr.flush()
    time.sleep(0.2)
    _world.comm.Abort(code)
    os._exit(code)  # not reached: MPI_Abort ends the process


def abort(code=1, message=None):
    """End every process of the job now (MPI_Abort), after printing ``message`` on this rank.
    In a world of one: ``sys.exit(code)``."""
    if not _active():
        if message:
            sys.stderr.write(message + "\n")
        sys.exit(code)
    _fail(message or f"aborting the job with exit status {code}", code)


def _install_fault_handlers():
    previous = sys.excepthook

    def excepthook(kind, value, trace):
        if not (_active() and not _world.finished):
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
    if not _active() or _world.finished:
        return
    _world.finished = True
    _wait(_world.comm.Ibarrier(), "the exit barrier (a rank left while others still train?)")


def _wait(request, what):
    """Wait for a non-blocking request without spinning a core: Test, then sleep a little
    longer each time (at most 2 ms), abort after the timeout."""
    start = time.monotonic()
    pause = 0.0
    while not request.Test():
        if time.monotonic() - start > _world.timeout:
            _fail(f"{what} waited more than {_world.timeout:g} s for the other ranks: one of "
                  f"them died, hung or is far behind; aborting the whole job")
        time.sleep(pause)
        pause = min(0.002, pause + 0.0001)


# ---------------------------------------------------------------- collectives

def barrier():
    """Wait until every rank gets here; waiting ranks sleep instead of spinning a core."""
    if _active():
        _wait(_world.comm.Ibarrier(), "barrier")


def _op(op):
    MPI = _world.MPI
    ops = {"sum": MPI.SUM, "mean": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN}
    if op not in ops:
        raise ValueError(f"tg.distributed: op must be one of {sorted(ops)}, got {op!r}")
    return ops[op]


def all_reduce(array, op="sum"):
    """Reduce ``array`` (NumPy or CuPy, contiguous) across ranks IN PLACE with one collective
    ("sum", "mean", "max", "min") and return it.

    >>> import numpy as np, tinygrad_seq as tg
    >>> tg.distributed.all_reduce(np.array([1.0, 2.0]), op="mean")   # a world of one
    array([1., 2.])
    """
    if not _active():
        return array
    mpi_op = _op(op)
    if backend.device_of_array(array).startswith("cuda"):
        _cuda_all_reduce(array, op)
    else:
        if not array.flags.c_contiguous:
            raise ValueError("tg.distributed.all_reduce: the array must be C-contiguous")
        with _guard("allreduce"):
            _world.comm.Allreduce(_world.MPI.IN_PLACE, array, op=mpi_op)
    if op == "mean":
        array /= _world.size
    return array


def broadcast(array, root=0):
    """Overwrite ``array`` (NumPy or CuPy, contiguous) with ``root``'s, in place; return it."""
    if not _active():
        return array
    if backend.device_of_array(array).startswith("cuda"):
        host = np.ascontiguousarray(array.get())
        with _guard("broadcast"):
            _world.comm.Bcast(host, root=root)
        array[...] = backend.xp_of(backend.device_of_array(array)).asarray(host)
        return array
    with _guard("broadcast"):
        _world.comm.Bcast(array, root=root)
    return array


def broadcast_object(obj, root=0):
    """``root``'s ``obj`` (anything picklable) on every rank."""
    if not _active():
        return obj
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL) if _world.rank == root else b""
    size = broadcast(np.array([len(data)], dtype=np.int64), root)[0]
    buffer = np.frombuffer(data, dtype=np.uint8).copy() if _world.rank == root else np.empty(size, np.uint8)
    broadcast(buffer, root)
    return obj if _world.rank == root else pickle.loads(buffer.tobytes())


def _unique(parameters):
    seen, out = set(), []
    for p in parameters:
        if id(p) not in seen:
            seen.add(id(p))
            out.append(p)
    return out


def broadcast_parameters(module, root=0):
    """Give every rank ``root``'s parameter values (a Module or an iterable of Parameters):
    one broadcast per dtype and device, the parameters flattened into one buffer."""
    if not _active():
        return
    params = _unique(module.parameters() if hasattr(module, "parameters") else module)
    for group in _group_by_kind(params):
        xp = backend.xp_of(group[0].device)
        flat = xp.concatenate([xp.ravel(p.data) for p in group])
        broadcast(flat, root)
        offset = 0
        for p in group:
            p.data = flat[offset:offset + p.size].reshape(p.shape).copy()
            offset += p.size


def broadcast_state(optimizer, root=0):
    """Give every rank ``root``'s optimizer state (moments, steps, hyperparameters)."""
    if not _active():
        return
    state = optimizer.state_dict() if _world.rank == root else None
    state = broadcast_object(_to_host(state), root)
    if _world.rank != root:
        optimizer.load_state_dict(state)


def _to_host(obj):
    from .tensor import Tensor
    if isinstance(obj, Tensor):
        return obj.numpy()
    if isinstance(obj, dict):
        return {key: _to_host(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_host(value) for value in obj)
    return obj


def reduce_metrics(metrics, op="mean"):
    """A dict of numbers reduced across ranks with ONE Allreduce (mean by default).

    >>> import tinygrad_seq as tg
    >>> tg.distributed.reduce_metrics({"loss": 2.5, "chars": 3200})
    {'loss': 2.5, 'chars': 3200}
    """
    if not _active():
        return dict(metrics)
    values = all_reduce(np.array([float(v) for v in metrics.values()], dtype=np.float64), op)
    return {key: (type(old)(value) if isinstance(old, int) and op != "mean" else float(value))
            for (key, old), value in zip(metrics.items(), values.tolist())}


# ---------------------------------------------------------------- gradients

def _group_by_kind(params):
    groups = {}
    for p in params:
        groups.setdefault((p.device, np.dtype(p.dtype).str), []).append(p)
    return list(groups.values())


class GradientAverager:
    """Average the gradients of ``parameters`` across ranks after ``backward()``.

    The parameters are cut, in reverse order (the order backward finishes them), into buckets
    of about ``bucket_mb`` megabytes of one device and dtype; each call flattens every bucket's
    gradients into one buffer, reduces it with ONE Allreduce (NCCL for CUDA) and divides by the
    world size. A gradient of None counts as zeros (another rank may have one). ``seconds``
    accumulates the time spent, including waiting for slower ranks; ``calls`` the collectives.

    >>> import tinygrad_seq as tg
    >>> layer = tg.nn.Linear(3, 2)
    >>> average = tg.distributed.GradientAverager(layer.parameters(), bucket_mb=1)
    >>> len(average.buckets)
    1
    """

    def __init__(self, parameters, bucket_mb=25.0):
        if not bucket_mb > 0:
            raise ValueError(f"GradientAverager: bucket_mb must be > 0, got {bucket_mb}")
        self.bucket_bytes = int(bucket_mb * 2 ** 20)
        self.buckets = []
        for group in _group_by_kind(reversed(_unique(parameters))):
            bucket, size = [], 0
            for p in group:
                nbytes = p.size * np.dtype(p.dtype).itemsize
                if bucket and size + nbytes > self.bucket_bytes:
                    self.buckets.append(bucket)
                    bucket, size = [], 0
                bucket.append(p)
                size += nbytes
            if bucket:
                self.buckets.append(bucket)
        self.seconds, self.calls = 0.0, 0

    def __call__(self):
        if not _active():
            return
        from .tensor import Tensor
        began = time.perf_counter()
        for bucket in self.buckets:
            xp = backend.xp_of(bucket[0].device)
            flat = xp.concatenate([xp.ravel(p.grad.data) if p.grad is not None
                                   else xp.zeros(p.size, dtype=p.dtype) for p in bucket])
            all_reduce(flat, "sum")
            flat *= flat.dtype.type(1.0 / _world.size)
            offset = 0
            for p in bucket:  # views of this step's own buffer: no other array is written
                p.grad = Tensor._make(flat[offset:offset + p.size].reshape(p.shape), p.device, None, 0)
                offset += p.size
            self.calls += 1
        self.seconds += time.perf_counter() - began


def average_gradients(parameters, bucket_mb=25.0):
    """One-off ``GradientAverager(parameters, bucket_mb)()``; keep a GradientAverager to
    reuse its buckets in a training loop."""
    GradientAverager(parameters, bucket_mb)()


def _cuda_all_reduce(array, op):
    """NCCL allReduce on the current stream (cupy.cuda.nccl), its communicator made on first
    use from a unique id that rank 0 broadcasts over MPI; without NCCL, through the host."""
    import cupy
    try:
        from cupy.cuda import nccl
    except ImportError:
        nccl = None
    if nccl is None or not getattr(nccl, "available", True):
        host = np.ascontiguousarray(array.get())
        with _guard("allreduce (CUDA through the host)"):
            _world.comm.Allreduce(_world.MPI.IN_PLACE, host, op=_op(op))
        array[...] = cupy.asarray(host)
        return
    device = array.device.id
    comm = _world.nccl.get(device)
    if comm is None:
        uid = broadcast_object(nccl.get_unique_id() if _world.rank == 0 else None)
        with cupy.cuda.Device(device), _guard("NCCL communicator set-up"):
            comm = nccl.NcclCommunicator(_world.size, uid, _world.rank)
        _world.nccl[device] = comm
    types = {"float32": nccl.NCCL_FLOAT32, "float64": nccl.NCCL_FLOAT64,
             "float16": nccl.NCCL_FLOAT16}
    ops = {"sum": nccl.NCCL_SUM, "mean": nccl.NCCL_SUM, "max": nccl.NCCL_MAX, "min": nccl.NCCL_MIN}
    stream = cupy.cuda.get_current_stream()
    with _guard("NCCL allreduce"):
        comm.allReduce(array.data.ptr, array.data.ptr, array.size, types[array.dtype.name],
                       ops[op], stream.ptr)
        stream.synchronize()



# ---------------------------------------------------------------- data (tinygrad_seq/sharding.py)

from .sharding import DistributedSampler, ShardedGenerator  # noqa: E402  (it imports this module)
