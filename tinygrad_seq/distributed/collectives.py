"""The collectives: barrier, all_reduce, broadcast (arrays, objects, parameters, optimizer
state), reduce_metrics; each a no-op in a world of one, each blocking one under the watchdog.
"""
import pickle

import numpy as np

from .. import backend
from . import nccl, world
from .faults import guard, wait


def barrier():
    """Wait until every rank gets here; waiting ranks sleep instead of spinning a core."""
    if world._active():
        wait(world._world.comm.Ibarrier(), "barrier")


def _op(op):
    MPI = world._world.MPI
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
    if not world._active():
        return array
    mpi_op = _op(op)
    device = backend.device_of_array(array)
    with backend.on(device):  # NCCL's communicator and stream are those of the array's GPU
        if device.startswith("cuda"):
            nccl.all_reduce(array, op, mpi_op)
        else:
            if not array.flags.c_contiguous:
                raise ValueError("tg.distributed.all_reduce: the array must be C-contiguous")
            with guard("allreduce"):
                world._world.comm.Allreduce(world._world.MPI.IN_PLACE, array, op=mpi_op)
        if op == "mean":
            array /= world._world.size
    return array


def broadcast(array, root=0):
    """Overwrite ``array`` (NumPy or CuPy, contiguous) with ``root``'s, in place; return it."""
    if not world._active():
        return array
    device = backend.device_of_array(array)
    if device.startswith("cuda"):
        host = np.ascontiguousarray(array.get())
        with guard("broadcast"):
            world._world.comm.Bcast(host, root=root)
        with backend.on(device):
            array[...] = backend.xp_of(device).asarray(host)
        return array
    with guard("broadcast"):
        world._world.comm.Bcast(array, root=root)
    return array


def broadcast_object(obj, root=0):
    """``root``'s ``obj`` (anything picklable) on every rank."""
    if not world._active():
        return obj
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL) if world._world.rank == root else b""
    size = broadcast(np.array([len(data)], dtype=np.int64), root)[0]
    buffer = np.frombuffer(data, dtype=np.uint8).copy() if world._world.rank == root else np.empty(size, np.uint8)
    broadcast(buffer, root)
    return obj if world._world.rank == root else pickle.loads(buffer.tobytes())


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
    if not world._active():
        return
    params = _unique(module.parameters() if hasattr(module, "parameters") else module)
    for group in _group_by_kind(params):
        device = group[0].device
        xp = backend.xp_of(device)
        with backend.on(device):  # the buffer on the parameters' GPU, not on GPU 0
            flat = xp.concatenate([xp.ravel(p.data) for p in group])
            broadcast(flat, root)
            offset = 0
            for p in group:
                p.data = flat[offset:offset + p.size].reshape(p.shape).copy()
                offset += p.size


def broadcast_state(optimizer, root=0):
    """Give every rank ``root``'s optimizer state (moments, steps, hyperparameters)."""
    if not world._active():
        return
    state = optimizer.state_dict() if world._world.rank == root else None
    state = broadcast_object(_to_host(state), root)
    if world._world.rank != root:
        optimizer.load_state_dict(state)


def _to_host(obj):
    from ..tensor import Tensor
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
    if not world._active():
        return dict(metrics)
    values = all_reduce(np.array([float(v) for v in metrics.values()], dtype=np.float64), op)
    return {key: (type(old)(value) if isinstance(old, int) and op != "mean" else float(value))
            for (key, old), value in zip(metrics.items(), values.tolist())}


def _group_by_kind(params):
    groups = {}
    for p in params:
        groups.setdefault((p.device, np.dtype(p.dtype).str), []).append(p)
    return list(groups.values())
