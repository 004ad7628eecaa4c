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


def input_grad(weights, grads, layout):
    """dx = sum_k W_k^T @ G_k for gate gradients G_k (G, n * B) of the weights W_k (G, input)
    over n steps: None when ``layout`` is None; (n * B, input) for "rows" (the first layer's, as
    the user's (T, B, input) wants it); (input, n * B) for "features" (a lower layer's output
    gradient)."""
    if layout is None:
        return None
    dx = None
    for weight, grad in zip(weights, grads):
        term = grad.T @ weight if layout == "rows" else weight.T @ grad
        if dx is None:
            dx = term
        else:
            dx += term
    return dx


def affine_gradients(xp, x, states, walk, weight_ih, need_weights, layout):
    """``ByTime``'s ``consume`` for gates that are one affine map of the step's input and
    previous state (W_ih x + W_hh h + b: the RNN's and the LSTM's): per window, the gradients
    of W_ih, W_hh and of the bias (one sum, "bias") as needed, and the input's."""
    ones = xp.ones(states.shape[0] * states.shape[2], states.dtype)   # sums over steps (GEMVs)

    def consume(flat, start, stop):                                   # flat: (G, n * B)
        grads = {}
        if need_weights.get("weight_ih"):
            grads["weight_ih"] = flat @ flat_input(x[start:stop])
        if need_weights.get("weight_hh"):
            grads["weight_hh"] = flat @ by_time(xp, walk.prev(states)[start:stop]).T
        if need_weights.get("bias_ih") or need_weights.get("bias_hh"):
            grads["bias"] = flat @ ones[:flat.shape[1]]
        return grads, input_grad([weight_ih], [flat], layout)
    return consume


# The weight gradients are products over windows of about this many columns (steps x batch):
# a long sequence never holds all its gate gradients at once, a short one is one window.
WINDOW_COLUMNS = 1 << 12


class ByTime:
    """The per-step (rows, B) gradient blocks of a BPTT gathered, a window of steps at a time,
    into the (rows, n * B) layout of the weight GEMMs (``by_time``), each full window handed to
    ``consume(flat, start, stop)`` (its steps start..stop, columns in time order), which returns
    the window's weight gradients {name: array} and its part of dx (``input_grad``); ``result()``
    gives them summed over the windows, and dx whole, (T * B, input) or (input, T, B) as
    ``layout`` says.

    Each step computes into ``block()``, a slot of a small contiguous stage; every few steps
    the stage is copied over in one go. Writing each step straight into the by-time layout
    touches one memory page per row (the rows lie n * B apart) and cost a fifth of an LSTM's
    backward."""

    def __init__(self, xp, rows, steps, batch, dtype, walk, consume, layout, chunk=16):
        self.xp, self.walk, self.consume, self.layout = xp, walk, consume, layout
        self.rows, self.steps, self.batch = rows, steps, batch
        self.window = min(steps, max(chunk, WINDOW_COLUMNS // batch))
        self.buffer = xp.empty(rows * self.window * batch, dtype)
        self.stage = xp.empty((min(chunk, steps), rows, batch), dtype)
        self.filled = self.copied = self.handed = 0
        self.grads, self.dx = {}, None
        self._open()

    def _open(self):
        """The next window: its steps, as a contiguous (rows, n, B) part of the buffer."""
        self.size = n = min(self.window, self.steps - self.handed)
        self.flat = self.buffer[:self.rows * n * self.batch].reshape(self.rows, n, self.batch)
        self.visits = self.walk.backward(self.flat.transpose(1, 0, 2))   # BPTT order

    def block(self):
        """The (rows, B) block of the next step (the previous one is complete)."""
        if self.filled == len(self.stage) or self.copied + self.filled == self.size:
            self._flush()
        self.filled += 1
        return self.stage[self.filled - 1]

    def _flush(self):
        self.visits[self.copied:self.copied + self.filled] = self.stage[:self.filled]
        self.copied += self.filled
        self.filled = 0
        if self.copied == self.size:
            self._hand_over()

    def _hand_over(self):
        n, steps, batch = self.size, self.steps, self.batch
        start = self.handed if self.walk.reverse else steps - self.handed - n
        grads, dx = self.consume(self.flat.reshape(self.rows, n * batch), start, start + n)
        for name, grad in grads.items():
            if name in self.grads:
                self.grads[name] += grad
            else:
                self.grads[name] = grad
        if dx is not None:
            if n == steps:
                self.dx = dx if self.layout == "rows" else dx.reshape(-1, steps, batch)
            elif self.layout == "rows":
                if self.dx is None:
                    self.dx = self.xp.empty((steps * batch, dx.shape[1]), dx.dtype)
                self.dx[start * batch:(start + n) * batch] = dx
            else:
                if self.dx is None:
                    self.dx = self.xp.empty((dx.shape[0], steps, batch), dx.dtype)
                self.dx[:, start:start + n] = dx.reshape(-1, n, batch)
        self.handed += n
        self.copied = 0
        if self.handed < steps:
            self._open()

    def result(self):
        """The weight gradients summed over all windows, and dx (None without a layout)."""
        if self.filled:
            self._flush()
        elif self.steps == 0:   # no step: one empty window, zero gradients
            self._hand_over()
        return self.grads, self.dx
