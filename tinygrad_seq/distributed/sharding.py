"""Each rank its share of the data: ``DistributedSampler`` (batches of indices, epoch after
epoch) and ``ShardedGenerator`` (a NumPy Generator whose sized draws are shared out), both
cutting every global batch into contiguous, disjoint parts, one a rank. Re-exported from
``tg.distributed``, which they ask for this process's rank and the world size.
"""
import numpy as np

from . import world
from .world import DistributedError


class DistributedSampler:
    """Batches of indices into a dataset of ``length`` items, each rank its own share.

    Every epoch is one permutation drawn from (``seed``, epoch), the same on every rank; it is
    cut into global batches of ``batch_size`` and each rank takes its contiguous
    ``batch_size / world_size`` slice of each. So the ranks see disjoint parts of every epoch,
    and together exactly the batches one process would see with ``batch_size``. With
    ``drop_last`` (the default) the tail shorter than a batch is left out, on every rank
    alike; without it the last batch is filled up from the start of the epoch. Every rank has
    ``len(sampler)`` batches: the ranks stay in step. ``set_epoch(e)`` before each epoch.

    >>> import tinygrad_seq as tg
    >>> sampler = tg.distributed.DistributedSampler(10, batch_size=4, shuffle=False)
    >>> len(sampler), [rows.tolist() for rows in sampler]     # a world of one
    (2, [[0, 1, 2, 3], [4, 5, 6, 7]])
    """

    def __init__(self, length, batch_size, shuffle=True, seed=0, drop_last=True,
                 rank=None, world_size=None):
        self.rank = world.rank() if rank is None else rank
        self.world = world.world_size() if world_size is None else world_size
        if batch_size % self.world:
            raise DistributedError(f"DistributedSampler: a batch of {batch_size} does not split "
                                   f"evenly over {self.world} ranks; use a multiple of {self.world}")
        if length < batch_size and drop_last:
            raise DistributedError(f"DistributedSampler: {length} items make no whole batch of "
                                   f"{batch_size} (drop_last)")
        self.length, self.batch_size, self.shuffle = length, batch_size, shuffle
        self.seed, self.drop_last, self.epoch = seed, drop_last, 0
        self.local = batch_size // self.world

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __len__(self):
        return self.length // self.batch_size if self.drop_last else -(-self.length // self.batch_size)

    def __iter__(self):
        order = (np.random.default_rng([self.seed, self.epoch]).permutation(self.length)
                 if self.shuffle else np.arange(self.length))
        if not self.drop_last and len(self) * self.batch_size > self.length:
            order = np.resize(order, len(self) * self.batch_size)  # wraps around
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            first = start + self.rank * self.local
            yield order[first:first + self.local]


class ShardedGenerator:
    """A NumPy Generator that every rank seeds alike, whose sized draws are split across ranks:
    ``integers(..., size=n)`` (or ``random``, ``choice``, ``normal``, ``uniform``,
    ``standard_normal``, ``permutation``) draws the same ``n`` values on every rank and returns
    this rank's contiguous ``n / world_size`` of them (along the first axis). A batch drawn
    from it is thus one global batch of ``n``, shared out. Scalar draws are the same on every
    rank. ``sharded_draws`` counts the split draws (0: the caller did not draw its batch here).

    >>> import numpy as np, tinygrad_seq as tg
    >>> rng = tg.distributed.ShardedGenerator(np.random.default_rng(0), rank=1, world_size=2)
    >>> rng.integers(0, 100, size=4).tolist() == np.random.default_rng(0).integers(0, 100, size=4)[2:].tolist()
    True
    """

    _SIZED = {"integers": 2, "random": 0, "choice": 1, "normal": 2, "uniform": 2,
              "standard_normal": 0}  # the positional index of size

    def __init__(self, generator, rank=None, world_size=None):
        self._generator = generator
        self._rank = world.rank() if rank is None else rank
        self._world = world.world_size() if world_size is None else world_size
        self.sharded_draws = 0

    def __getattr__(self, name):
        if name == "permutation":
            return lambda x: self._share(self._generator.permutation(x))
        if name not in self._SIZED:
            raise AttributeError(f"ShardedGenerator: {name} is not shared out across ranks (it "
                                 f"supports {', '.join(sorted(self._SIZED))} and permutation)")
        method, position = getattr(self._generator, name), self._SIZED[name]

        def draw(*args, **kwargs):
            size = kwargs.get("size", args[position] if len(args) > position else None)
            if size is None:
                return method(*args, **kwargs)
            return self._share(method(*args, **kwargs))
        return draw

    def _share(self, values):
        values = np.asarray(values)
        if values.ndim == 0:
            return values
        n = values.shape[0]
        if n % self._world:
            raise DistributedError(f"a batch of {n} does not split evenly over {self._world} "
                                   f"ranks; use a multiple of {self._world}")
        self.sharded_draws += 1
        part = n // self._world
        return values[self._rank * part:(self._rank + 1) * part]
