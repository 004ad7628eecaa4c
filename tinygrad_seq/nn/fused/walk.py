"""The order in which one direction visits the time steps, where its states live, and the
layout of the arrays of the fused kernels.

The kernels work feature-major: a step's states are (features, B) and its gates one
contiguous (G * H, B) block, so each gate is a contiguous (H, B) part of it. NumPy's ufuncs
run 2-3 times slower on a strided slice than on a contiguous block, and OpenBLAS multiplies
W (4H, H) @ h (H, B) faster than h (B, H) @ W^T for a small batch. Sequences are (T, F, B).

A direction keeps its hidden states in one (T + 1, F, B) buffer: the initial state at one end
and the state after step t at t + 1 (forward) or t (reverse). So the states that step t reads
(``prev``, for the weight gradient dW_hh = dG @ H_prev^T) and the states it writes (``next``,
the layer's output before masking) are both contiguous slices of that buffer.

With ``lengths``, a step where some sequence has ended carries that sequence's state unchanged
(``stop`` columns copy the previous state) and zeroes its output (``scale``), as ``tg.scan``'s
``lengths`` do for the declared cells; such steps are the only ones with a mask, so full
batches pay nothing for it. The input's padding is set to zero by selection before
the first layer (``driver.py``), so a NaN there never meets those products (0 * NaN is NaN).
The masks come from the layer as one (T, B) bool array (``step_masks``).
"""
import os

import numpy as np


def compiled_steps(xp):
    """The module of compiled step loops (``compiled_steps.py``) for arrays of ``xp``, or None
    where the kernels run their steps as NumPy or CuPy operations: ``xp`` is not NumPy,
    Numba is not installed, or ``TINYGRAD_SEQ_COMPILED_STEPS=0``."""
    if xp is not np or os.environ.get("TINYGRAD_SEQ_COMPILED_STEPS", "1") == "0":
        return None
    try:
        from . import compiled_steps as module
    except ImportError:
        return None
    return module


class Walk:
    """One direction over T steps. An array indexed by time, (T, ...), is seen in the order of
    the visit through ``forward(a)`` and in the order of its BPTT through ``backward(a)``, so
    a kernel's loop zips the per-step views it needs instead of indexing and slicing at every
    step (at small sizes Python's work per step is what costs). ``masks``: per step, in the
    order of the visit, None or (scale (1, B), stop (1, B) bool)."""

    __slots__ = ("reverse", "first", "last", "masks")

    def __init__(self, length, masks, reverse):
        self.reverse = reverse
        self.first, self.last = (length, 0) if reverse else (0, length)
        self.masks = masks[::-1] if reverse else list(masks)

    def forward(self, a):
        """``a`` (T, ...) in the order the steps are visited."""
        return a[::-1] if self.reverse else a

    def backward(self, a):
        """``a`` (T, ...) in the order BPTT visits the steps (the reverse of ``forward``)."""
        return a if self.reverse else a[::-1]

    def prev(self, states):
        """The states each step t reads, as a (T, F, B) slice of the buffer."""
        return states[1:] if self.reverse else states[:-1]

    def next(self, states):
        """The states each step t writes, as a (T, F, B) slice of the buffer."""
        return states[:-1] if self.reverse else states[1:]


def step_masks(xp, running, steps, dtype):
    """``running`` (T, B) bool (False at and past each sequence's length; NumPy's or the
    device's, or None) as ``Walk``'s masks on the device: per step (in time order) None where
    every sequence runs, else (scale, stop), each (1, B); and the (T, 1, B) scale of all steps
    in ``dtype`` (None without a mask). Only the steps some sequence has ended get a mask.
    Called within the device's guard; the host reads T booleans, which steps are full."""
    if running is None:
        return [None] * steps, None
    running = xp.asarray(running)
    full = running.all(axis=1).tolist()
    if all(full):
        return [None] * steps, None
    scale = running.astype(dtype)[:, None, :]
    stop = ~running[:, None, :]
    return [None if full[t] else (scale[t], stop[t]) for t in range(steps)], scale


def by_time(xp, a):
    """(T, F, B) -> (F, T * B), columns in the order of the rows of a (T, B, F) reshaped to
    (T * B, F): the operand of one GEMM over all steps."""
    steps, features, batch = a.shape
    out = xp.empty((features, steps, batch), a.dtype)
    out[...] = a.transpose(1, 0, 2)
    return out.reshape(features, steps * batch)


def flat_input(x):
    """An input (T, F, B) as (T * B, F) (a view when it is a transposed (T, B, F) array)."""
    steps, features, batch = x.shape
    return x.transpose(0, 2, 1).reshape(steps * batch, features)


def input_grad(weights, grads, layout, steps):
    """dx = sum_k W_k^T @ G_k for gate gradients G_k (G, T * B) of the weights W_k (G, input):
    None when ``layout`` is None; (T * B, input) for "rows" (the first layer's, as the user's
    (T, B, input) wants it); (input, T, B) for "features" (a lower layer's output gradient)."""
    if layout is None:
        return None
    dx = None
    for weight, grad in zip(weights, grads):
        term = grad.T @ weight if layout == "rows" else weight.T @ grad
        if dx is None:
            dx = term
        else:
            dx += term
    return dx if layout == "rows" else dx.reshape(dx.shape[0], steps, -1)


class ByTime:
    """The per-step (rows, B) gradient blocks of a BPTT gathered into the (rows, T * B) layout
    of the weight GEMMs (``by_time``). Each step computes into ``block()``, a slot of a small
    contiguous stage; every few steps the stage is copied over in one go. Writing each step
    straight into the by-time layout touches one memory page per row (the rows lie T * B
    apart) and cost a fifth of an LSTM's backward; a whole sequence staged contiguously would
    cost its memory twice."""

    def __init__(self, xp, rows, steps, batch, dtype, walk, chunk=16):
        self.flat = xp.empty((rows, steps, batch), dtype)
        self.visits = walk.backward(self.flat.transpose(1, 0, 2))   # (T, rows, B), BPTT order
        self.stage = xp.empty((min(chunk, steps), rows, batch), dtype)
        self.filled = self.done = 0

    def block(self):
        """The (rows, B) block of the next step (the previous one is complete)."""
        if self.filled == len(self.stage):
            self._flush()
        self.filled += 1
        return self.stage[self.filled - 1]

    def _flush(self):
        self.visits[self.done:self.done + self.filled] = self.stage[:self.filled]
        self.done += self.filled
        self.filled = 0

    def result(self):
        """All steps' blocks as (rows, T * B), columns in time order."""
        self._flush()
        rows, steps, batch = self.flat.shape
        return self.flat.reshape(rows, steps * batch)
