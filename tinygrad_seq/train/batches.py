"""What a task draws its batch of step ``k`` from: random streams and epochs that are functions
of the seed and the step alone, so that a resumed run draws exactly what the uninterrupted run
would have (see loop.py), and a twin in another engine can draw the same.
"""
import numpy as np
import tinygrad_seq as tg


def step_random(seed, step, stream=0):
    """Reseed tg's random streams and return a NumPy Generator, both functions of
    (seed, step, stream) only."""
    tg_seed, numpy_seed = np.random.SeedSequence([seed, step, stream]).generate_state(2)
    tg.manual_seed(int(tg_seed))
    return np.random.default_rng(int(numpy_seed))


class EpochBatches:
    """Step ``k``'s batch when training runs epoch after epoch over a data set: ``make_epoch(rng)``
    returns one epoch's batches (index arrays), drawn with a NumPy Generator that is a function
    of (seed, epoch) alone, so a resumed run and a twin in another engine see the same batches.
    Every epoch must have the same number of batches (a shuffle, not a new cut).

    >>> batches = EpochBatches(0, lambda rng: list(rng.permutation(4).reshape(2, 2)))
    >>> len(batches(1)), batches(3).tolist() == batches(3).tolist()
    (2, True)
    """

    def __init__(self, seed, make_epoch):
        self.seed, self.make_epoch, self.epoch, self.batches = seed, make_epoch, None, None

    def __call__(self, step):
        if self.batches is None:
            self._draw(0)
        epoch, index = divmod(step - 1, len(self.batches))
        if epoch != self.epoch:
            self._draw(epoch)
        return self.batches[index]

    def _draw(self, epoch):
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, epoch, 2]))
        self.epoch, self.batches = epoch, list(self.make_epoch(rng))
        if not self.batches:
            raise ValueError("an epoch has no batches (no training data)")


def bucketed_epoch(lengths, batch_size, bucket_width=1):
    """A ``make_epoch`` for ``EpochBatches`` over sequences of these ``lengths``: each epoch's
    batches hold sequences of similar lengths (``tg.data.bucket_batches``: within a batch they
    differ by less than ``bucket_width``), so padding them wastes little; the buckets' members
    and the order of the batches are shuffled anew each epoch.

    >>> lengths = [3, 1, 3, 1, 2, 2]
    >>> batches = EpochBatches(0, bucketed_epoch(lengths, 2))
    >>> sorted(sorted(lengths[i] for i in batches(step)) for step in (1, 2, 3))
    [[1, 1], [2, 2], [3, 3]]
    """
    lengths = np.asarray(lengths)
    return lambda rng: list(tg.data.bucket_batches(lengths, batch_size, bucket_width,
                                                   seed=int(rng.integers(2 ** 31))))
