"""Gradients averaged across ranks in buckets: one Allreduce per bucket of about ``bucket_mb``
megabytes, never one per parameter.
"""
import time

import numpy as np

from .. import backend
from . import world
from .collectives import _group_by_kind, _unique, all_reduce


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
        if not world._active():
            return
        from ..tensor import Tensor
        began = time.perf_counter()
        for bucket in self.buckets:
            device = bucket[0].device
            xp = backend.xp_of(device)
            with backend.on(device):  # the buffer on the gradients' GPU, not on GPU 0
                flat = xp.concatenate([xp.ravel(p.grad.data) if p.grad is not None
                                       else xp.zeros(p.size, dtype=p.dtype) for p in bucket])
                all_reduce(flat, "sum")
                flat *= flat.dtype.type(1.0 / world._world.size)
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
