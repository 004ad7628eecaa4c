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
(``DistributedSampler``, ``ShardedGenerator``), is sharding.py. See docs/distributed.md.

One concern a file: world.py (who this process is, how many train together), launcher.py
(``init``), faults.py (the watchdog and the aborts), collectives.py, buckets.py (the gradient
averager), nccl.py (CUDA gradients), sharding.py (each rank its share of the data).
"""
from .world import (DEFAULT_TIMEOUT, TIMEOUT_ENV, DistributedError, is_initialized,
                    launcher_world_size, local_rank, rank, world_size)
from .launcher import init
from .faults import abort
from .collectives import (all_reduce, barrier, broadcast, broadcast_object, broadcast_parameters,
                          broadcast_state, reduce_metrics)
from .buckets import GradientAverager, average_gradients
from .sharding import DistributedSampler, ShardedGenerator

__all__ = ["init", "is_initialized", "rank", "world_size", "local_rank", "barrier", "abort",
           "all_reduce", "broadcast", "broadcast_object", "broadcast_parameters",
           "broadcast_state", "average_gradients", "GradientAverager", "reduce_metrics",
           "DistributedSampler", "ShardedGenerator", "launcher_world_size", "DistributedError",
           "TIMEOUT_ENV", "DEFAULT_TIMEOUT"]
