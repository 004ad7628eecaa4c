"""CUDA gradients reduced over NCCL (cupy.cuda.nccl), or through the host without it."""
import numpy as np

from .. import backend
from . import world
from .faults import guard


def all_reduce(array, op, mpi_op):
    """NCCL allReduce on the array's GPU and its current stream, with the communicator of that
    GPU, made on first use from a unique id that rank 0 broadcasts over MPI; without NCCL,
    through the host. Called within the array's device guard (``backend.on``)."""
    cupy = backend.cuda_module()
    try:
        from cupy.cuda import nccl
    except ImportError:
        nccl = None
    nccl = getattr(cupy.cuda, "nccl", nccl)  # the array module's own (a test's fake NCCL)
    if nccl is None or not getattr(nccl, "available", True):
        host = np.ascontiguousarray(array.get())
        with guard("allreduce (CUDA through the host)"):
            world._world.comm.Allreduce(world._world.MPI.IN_PLACE, host, op=mpi_op)
        array[...] = cupy.asarray(host)
        return
    device = array.device.id
    comm = world._world.nccl.get(device)
    if comm is None:
        with guard("NCCL id broadcast"):  # rank 0's id, pickled by mpi4py
            uid = world._world.comm.bcast(nccl.get_unique_id() if world._world.rank == 0 else None)
        with cupy.cuda.Device(device), guard("NCCL communicator set-up"):
            comm = nccl.NcclCommunicator(world._world.size, uid, world._world.rank)
        world._world.nccl[device] = comm
    types = {"float32": nccl.NCCL_FLOAT32, "float64": nccl.NCCL_FLOAT64,
             "float16": nccl.NCCL_FLOAT16}
    ops = {"sum": nccl.NCCL_SUM, "mean": nccl.NCCL_SUM, "max": nccl.NCCL_MAX, "min": nccl.NCCL_MIN}
    stream = cupy.cuda.get_current_stream()
    with guard("NCCL allreduce"):
        comm.allReduce(array.data.ptr, array.data.ptr, array.size, types[array.dtype.name],
                       ops[op], stream.ptr)
        stream.synchronize()
