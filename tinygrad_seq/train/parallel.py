"""``--distributed``: the harness's side of data-parallel training (tg.distributed, over MPI).

    mpiexec -n 2 python -m models.charlm train --distributed --threads 1

Every process builds the same model; rank 0's weights and optimizer state are broadcast at the
start and after ``--resume``. Each step, the NumPy Generator handed to ``task.loss`` is a
``tg.distributed.ShardedGenerator``: the same on every rank, and a draw of ``size=n`` (the
global batch of ``--batch-size`` n) gives each rank its own contiguous n / world_size of the
same n draws. So K processes together train on exactly the batches of one process, and the
averaged gradient is that of the global batch: ``--batch-size`` keeps its meaning whatever the
number of processes, and a checkpoint resumes on any number of them. A task that draws its
batch without the generator (the char-LM's ``--windows contiguous``) still trains correctly
but every rank computes the same batch, with no speed-up: the harness warns about it.

After backward the gradients are averaged (buckets of ``--bucket-mb``, one Allreduce each),
then clipped and applied, identically everywhere. Every decision that depends on a clock
(the time budget, evaluation every ``--eval-seconds``) or on Ctrl-C is agreed across ranks, so
the ranks never part ways. The training loss and rate are reduced across ranks; only rank 0
prints, shows the bar, and writes the metrics log, the checkpoint and the plot.

Without MPI (no launcher or no mpi4py) ``--distributed`` is a world of one and changes nothing.
"""
import os
import sys
import time

import numpy as np
import tinygrad_seq as tg

from .errors import UsageError

dist = tg.distributed


def start(args):
    """Join the MPI job when ``--distributed`` asks to (from ``use_device``); on ranks > 0
    standard output goes to /dev/null, so the model's own prints appear once."""
    if not getattr(args, "distributed", False):
        return
    try:
        dist.init(timeout=getattr(args, "collective_timeout", None))
    except dist.DistributedError as e:
        raise UsageError(f"--distributed: {e}") from None
    if dist.rank() > 0:
        sys.stdout = open(os.devnull, "w", encoding="utf-8")


class Parallel:
    """Everything ``fit`` does differently on several processes; on one, each method returns
    what it was given (or nothing) without communicating."""

    def __init__(self, args, task):
        self.flag = bool(getattr(args, "distributed", False))
        self.on = self.flag and dist.world_size() > 1
        self.rank, self.size = (dist.rank(), dist.world_size()) if self.on else (0, 1)
        self.lead = self.rank == 0
        self.average = (dist.GradientAverager(task.model.parameters(), args.bucket_mb)
                        if self.on else None)
        self.warned = False

    def describe(self):
        if not self.on:
            return ""
        return (f"; data-parallel over {self.size} processes (MPI), "
                f"{len(self.average.buckets)} gradient bucket(s) of at most {self.average.bucket_bytes / 2**20:g} MB")

    def synchronize(self, task, optimizer):
        """Check that every rank built the same model on the same data (hosts can differ:
        another Python's stdlib, another file), then give every rank rank 0's weights and
        optimizer state."""
        if not self.on:
            return
        mine = {"config": task.config, "identity": task.identity}
        lead = dist.broadcast_object(mine)
        (differ,) = self.any(mine != lead)
        if differ:
            raise UsageError("--distributed: the processes built different models or read "
                             "different data (their config or identity differs from rank "
                             "0's); every host needs the same data and options")
        dist.broadcast_parameters(task.model)
        dist.broadcast_state(optimizer)

    def generator(self, rng, seed, step):
        """The batch Generator of this step for this rank; ranks > 0 also get their own
        stream of tg's random numbers (dropout), a function of (seed, step, rank)."""
        if not self.on:
            return rng
        if self.rank:
            tg_seed = np.random.SeedSequence([seed, step, 0, self.rank]).generate_state(1)[0]
            tg.manual_seed(int(tg_seed))
        self.last = dist.ShardedGenerator(rng, self.rank, self.size)
        return self.last

    def check_sharded(self, say):
        if self.on and not self.warned and self.last.sharded_draws == 0:
            self.warned = True
            say(f"warning: this task did not draw its batch from the harness's generator, so "
                f"each of the {self.size} processes trains on the same batch (correct, but no "
                f"faster than one; e.g. the char-LM's --windows contiguous)")

    def average_gradients(self):
        if self.on:
            self.average()

    def any(self, *flags):
        """Each flag true on any rank, as a tuple (one Allreduce)."""
        if not self.on:
            return flags
        summed = dist.all_reduce(np.array(flags, dtype=np.float64), "sum")
        return tuple(bool(value > 0) for value in summed)

    def step_metrics(self, loss, count, *flags):
        """(mean loss, total units, each flag true on any rank) across ranks, in one Allreduce."""
        if not self.on:
            return (loss, count, *flags)
        total = dist.all_reduce(np.array([loss, count, *map(float, flags)], dtype=np.float64), "sum")
        return (float(total[0] / self.size), int(total[1]), *(bool(v > 0) for v in total[2:]))

    def eval_metrics(self, result):
        return dist.reduce_metrics(result) if self.on else result

    def barrier(self):
        if self.on:
            dist.barrier()

    def marks(self):
        return (self.average.seconds if self.on else 0.0), time.process_time()

    def step_record(self, marks):
        """Under --distributed (even alone) each train record also has ``comm``, the step's
        seconds in gradient averaging (waiting for slower ranks included), and ``cpu``, this
        process's CPU seconds in the step (below the step's seconds when the machine is busy)."""
        if not self.flag:
            return {}
        comm, cpu = self.marks()
        return {"comm": round(comm - marks[0], 5), "cpu": round(cpu - marks[1], 4)}


class NullLog:
    def write(self, record):
        pass

    def commit(self):
        pass

    def close(self):
        pass


def check_batch(args):
    """A batch size that does not split evenly over the ranks is refused before training."""
    batch = getattr(args, "batch_size", None)
    if getattr(args, "distributed", False) and batch and batch % dist.world_size():
        raise UsageError(f"--distributed: --batch-size {batch} does not split evenly over "
                         f"{dist.world_size()} processes; use a multiple of {dist.world_size()}")
