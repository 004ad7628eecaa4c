"""One GRU direction over a whole sequence, forward and BPTT, in both of ``GRUCell``'s forms::

    r, z = σ(x_r + h_r), σ(x_z + h_z)             (x_· = W_i· x + b_i·, h_· = W_h· h + b_h·)
    n = tanh(x_n + r * h_n)                        reset_after=True (PyTorch, cuDNN)
    n = tanh(x_n + W_hn (r * h) + b_hn)            reset_after=False (Cho et al. 2014)
    h' = n + z * (h - n)

Arrays are feature-major (``walk.py``). The r and z rows of the weights are halved so that one
tanh pass gives both sigmoids (σ(x) = 0.5 * tanh(x / 2) + 0.5; halving is exact in binary
floating point). Every bias that enters a pre-activation by addition is added once, to the
input projection of all steps; only b_hn, inside r * h_n, is added per step. On the CPU with
Numba (``tinygrad_seq/cpu_loops.py``) the elementwise work of a reset_after step is one compiled loop
each way, beside the step's matrix product.
"""
import functools
from itertools import repeat

from ... import backend
from .walk import ByTime, by_time, flat_input, input_grad


class GRUKernel:
    """Weights of one layer and direction, prepared for a call; after ``forward`` it holds
    what ``backward`` needs: the gate activations r, z, n (T, 3H, B), the hidden states, and
    per step h_n = W_hn h + b_hn (reset_after) or r * h (reset_after=False)."""

    def __init__(self, xp, weight_ih, weight_hh, bias_ih=None, bias_hh=None, reset_after=True):
        self.xp, self.reset_after = xp, reset_after
        self.hidden = self.state_size = weight_hh.shape[0] // 3
        self.weight_ih, self.weight_hh = weight_ih, weight_hh
        self.bias_ih, self.bias_hh = bias_ih, bias_hh

    def _halved(self, a):
        a = a.copy()
        a[:2 * self.hidden] *= 0.5
        return a

    def forward(self, x, state, walk):
        """Run over x (T, input, B) from ``state`` = (h0 (H, B),); returns the hidden-state
        buffer (T + 1, H, B) laid out as ``walk`` says."""
        xp, h, reset_after = self.xp, self.hidden, self.reset_after
        steps, _, batch = self.steps, _, self.batch = x.shape
        dtype = x.dtype
        gates = self.gates = xp.matmul(self._halved(self.weight_ih), x)   # (T, 3H, B)
        bias_n = None
        if self.bias_ih is not None:
            bias = self.bias_ih + self.bias_hh
            if reset_after:
                bias[2 * h:] = self.bias_ih[2 * h:]
                bias_n = self.bias_hh[2 * h:, None]
            gates += self._halved(bias)[:, None]
        states = self.states = xp.empty((steps + 1, h, batch), dtype)
        kept = self.kept = xp.empty((steps, h, batch), dtype)        # h_n or r * h
        states[walk.first] = state[0]
        weight = self._halved(self.weight_hh)
        if reset_after:
            recurrent = xp.empty((3 * h, batch), dtype)
        else:
            weight, weight_n = weight[:2 * h], weight[2 * h:]
            recurrent = xp.empty((2 * h, batch), dtype)
        scratch = xp.empty((h, batch), dtype)
        recurrent_rz, recurrent_n = recurrent[:2 * h], recurrent[2 * h:]
        dot, add, subtract, multiply, tanh = xp.dot, xp.add, xp.subtract, xp.multiply, xp.tanh
        on = walk.forward
        loops = backend.cpu_loops(xp, dtype)
        step = loops.gru_forward if reset_after and loops is not None else None
        half = xp.asarray(0.5, dtype)   # 0-d: no Python float converted at every call
        for rz, block, kept_t, h_prev, h_new, mask in zip(
                on(gates[:, :2 * h]), on(gates.reshape(steps, 3, h, batch)), on(kept),
                on(walk.prev(states)), on(walk.next(states)), walk.masks):
            dot(weight, h_prev, out=recurrent)
            if reset_after:
                if bias_n is None:
                    xp.copyto(kept_t, recurrent_n)
                else:
                    add(recurrent_n, bias_n, out=kept_t)
            if step is not None:
                step(block, recurrent_rz, kept_t, h_prev, h_new)
            else:
                r, z, n = block
                add(rz, recurrent_rz, out=rz)
                tanh(rz, out=rz)
                multiply(rz, half, out=rz)
                add(rz, half, out=rz)
                if reset_after:
                    multiply(r, kept_t, out=scratch)
                else:
                    multiply(r, h_prev, out=kept_t)
                    dot(weight_n, kept_t, out=scratch)
                add(n, scratch, out=n)
                tanh(n, out=n)
                subtract(h_prev, n, out=scratch)
                multiply(z, scratch, out=scratch)
                add(n, scratch, out=h_new)
            if mask is not None:
                xp.copyto(h_new, h_prev, where=mask[1])
        return states

    def final_state(self, walk):
        return (self.states[walk.last],)

    def backward(self, x, d_out, d_state, walk, dx_layout, need_weights):
        """BPTT; arguments and result as ``LSTMKernel.backward`` (the state is (h,)).

        One buffer holds the step's gate gradients: with reset_after (d r, d z, d h_n, d n),
        so that its first three blocks are the gradient of W_hh h + b_hh (one product back to
        h) and blocks 0, 1, 3 that of the input projection; without, (d r, d z, d n), both."""
        xp, h, reset_after = self.xp, self.hidden, self.reset_after
        steps, batch, dtype = self.steps, self.batch, self.states.dtype
        gates, states, kept = self.gates, self.states, self.kept
        rows = (4 if reset_after else 3) * h
        d_gates = ByTime(xp, rows, steps, batch, dtype, walk,
                         functools.partial(self._gradients, x, walk, dx_layout, need_weights),
                         dx_layout)
        d_h, d_h_next = d_state[0].copy(), xp.empty(d_state[0].shape, d_state[0].dtype)
        d_total = xp.empty_like(d_h)
        one, two = xp.empty((h, batch), dtype), xp.empty((h, batch), dtype)
        sig = xp.empty((2 * h, batch), dtype)
        contiguous = xp.ascontiguousarray
        if reset_after:
            weight_t = contiguous(self.weight_hh.T)
        else:
            weight_t, weight_n_t = (contiguous(self.weight_hh[:2 * h].T),
                                    contiguous(self.weight_hh[2 * h:].T))
        n_row = 3 * h if reset_after else 2 * h
        dot, add, subtract, multiply = xp.dot, xp.add, xp.subtract, xp.multiply
        back = walk.backward
        one_ = xp.asarray(1, dtype)
        loops = backend.cpu_loops(xp, dtype)
        step = loops.gru_backward if reset_after and loops is not None else None
        for rz, block, kept_t, h_prev, d_o, mask in zip(
                back(gates[:, :2 * h]), back(gates.reshape(steps, 3, h, batch)), back(kept),
                back(walk.prev(states)), repeat(None) if d_out is None else back(d_out),
                reversed(walk.masks)):
            dg = d_gates.block()
            if step is not None:
                if mask is None:
                    step(block, kept_t, h_prev, d_h, d_o, dg, one)
                else:   # the mask's scale is 0 or 1: scaling the terms is scaling their sum
                    step(block, kept_t, h_prev, d_h * mask[0],
                         None if d_o is None else d_o * mask[0], dg, one)
            else:
                r, z, n = block
                d_r, d_z, d_hn = dg[:h], dg[h:2 * h], dg[2 * h:3 * h]
                d_rz, d_n = dg[:2 * h], dg[n_row:]
                if d_o is not None:
                    add(d_h, d_o, out=d_total)
                else:
                    xp.copyto(d_total, d_h)
                if mask is not None:
                    multiply(d_total, mask[0], out=d_total)
                multiply(d_total, z, out=one)                       # the path h' <- z * h
                subtract(d_total, one, out=two)                     # d n = dh - dh * z
                multiply(n, n, out=d_n)
                subtract(one_, d_n, out=d_n)
                multiply(d_n, two, out=d_n)                         # d of n's pre-activation
                subtract(h_prev, n, out=d_z)
                multiply(d_z, d_total, out=d_z)                     # d z
                if reset_after:
                    multiply(d_n, kept_t, out=d_r)                  # d r
                    multiply(d_n, r, out=d_hn)                      # d h_n
                else:
                    dot(weight_n_t, d_n, out=two)                   # d (r * h)
                    multiply(two, h_prev, out=d_r)                  # d r
                    multiply(two, r, out=two)
                    add(one, two, out=one)                          # + the path through r * h
                subtract(one_, rz, out=sig)
                multiply(sig, rz, out=sig)
                multiply(d_rz, sig, out=d_rz)
            dot(weight_t, dg[:n_row], out=d_h_next)
            add(d_h_next, one, out=d_h_next)
            if mask is not None:
                xp.copyto(d_h_next, d_h, where=mask[1])
            d_h, d_h_next = d_h_next, d_h
        grads, dx = d_gates.result()
        if not reset_after and need_weights.get("bias_hh"):   # b_hh enters as b_ih does
            grads["bias_hh"] = grads["bias_ih"] if need_weights.get("bias_ih") else grads.pop("bias")
        return dx, (d_h,), grads

    def _gradients(self, x, walk, dx_layout, need_weights, flat, start, stop):
        """The weights' and the input's gradients from the gate gradients ``flat`` (rows, n * B)
        of the steps start..stop (``ByTime``'s windows)."""
        xp, h, reset_after = self.xp, self.hidden, self.reset_after
        n_row = 3 * h if reset_after else 2 * h
        prev_states = by_time(xp, walk.prev(self.states)[start:stop])   # (H, n * B)
        ones = xp.ones(flat.shape[1], flat.dtype)                   # sums over steps as GEMVs
        rz_rows, n_rows = flat[:2 * h], flat[n_row:]
        grads = {}
        if need_weights.get("weight_ih"):
            grads["weight_ih"] = _rows(xp, [rz_rows, n_rows], flat_input(x[start:stop]))
        if need_weights.get("bias_ih"):
            grads["bias_ih"] = _rows(xp, [rz_rows, n_rows], ones)
        if reset_after:
            if need_weights.get("weight_hh"):
                grads["weight_hh"] = flat[:3 * h] @ prev_states.T
            if need_weights.get("bias_hh"):
                grads["bias_hh"] = flat[:3 * h] @ ones
        else:
            if need_weights.get("weight_hh"):
                grads["weight_hh"] = _rows(xp, [rz_rows @ prev_states.T,
                                                n_rows @ by_time(xp, self.kept[start:stop]).T])
            if need_weights.get("bias_hh") and not need_weights.get("bias_ih"):
                grads["bias"] = flat @ ones
        dx = input_grad([self.weight_ih[:2 * h], self.weight_ih[2 * h:]], [rz_rows, n_rows],
                        dx_layout)
        return grads, dx


def _rows(xp, parts, right=None):
    """The blocks ``parts`` stacked by rows, each multiplied by ``right`` first when given,
    into one array (no concatenation of products)."""
    if right is None:
        return xp.concatenate(parts)
    rows = sum(p.shape[0] for p in parts)
    out = xp.empty((rows,) + right.shape[1:], right.dtype)
    start = 0
    for p in parts:
        xp.matmul(p, right, out=out[start:start + p.shape[0]])
        start += p.shape[0]
    return out
