"""The order in which one direction visits the time steps, and where its states live.

A direction keeps its hidden states in one (T + 1, B, ·) buffer: the initial state at one end
and the state after step t at t + 1 (forward) or t (reverse). So the states that step t reads
(``prev``, for the weight gradient dW_hh = dG^T @ H_prev) and the states it writes (``next``,
the layer's output before masking) are both contiguous slices of that buffer.

With ``lengths``, a step where some sequence has ended carries that sequence's state unchanged
(``stop`` rows copy the previous state) and zeroes its output (``scale``), exactly as the
declared ``_run`` does with ``where`` and a multiplication; such steps are the only ones with a
mask, so full batches pay nothing for it.
"""


class Walk:
    """One direction over T steps. ``steps``: (t, prev, new, mask) in visiting order, where
    prev/new index the state buffer and mask is None or (scale (B, 1), stop (B, 1) bool)."""

    __slots__ = ("steps", "reverse", "first", "last")

    def __init__(self, length, masks, reverse):
        self.reverse = reverse
        if reverse:
            self.steps = [(t, t + 1, t, masks[t]) for t in range(length - 1, -1, -1)]
            self.first, self.last = length, 0
        else:
            self.steps = [(t, t, t + 1, masks[t]) for t in range(length)]
            self.first, self.last = 0, length

    def prev(self, states):
        """The states each step t reads, as a (T, B, ·) slice of the buffer."""
        return states[1:] if self.reverse else states[:-1]

    def next(self, states):
        """The states each step t writes, as a (T, B, ·) slice of the buffer."""
        return states[:-1] if self.reverse else states[1:]


def step_masks(xp, masks, steps):
    """The declared path's per-step (keep, scale) tensors (``recurrent._step_masks``) as raw
    arrays for ``Walk``: per step None or (scale, stop), and the (T, B, 1) scale of all steps
    (None without lengths)."""
    if masks is None or all(mask is None for mask in masks):
        return [None] * steps, None
    per_step, scales, ones = [], [], None
    for mask in masks:
        if mask is None:
            per_step.append(None)
            if ones is None:
                ones = xp.ones_like(next(m for m in masks if m is not None)[1].data)
            scales.append(ones)
        else:
            keep, scale = mask[0].data, mask[1].data
            per_step.append((scale, ~keep))
            scales.append(scale)
    return per_step, xp.stack(scales)
