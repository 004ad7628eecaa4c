"""One LSTM direction (``proj_size`` included) over a whole sequence, forward and BPTT.

Arrays are feature-major (see ``walk.py``): a step's gates are one contiguous block and each
gate a contiguous (H, B) part of it. Inside, the gates are reordered o, i, f, g, so that the
three sigmoid gates form one block, and their rows of the weights are halved:
σ(x) = 0.5 * tanh(x / 2) + 0.5, so one tanh pass over the block gives every gate. Halving is
exact in binary floating point, so the gates are those of ``LSTMCell`` up to the summation
order of the products. The step's block also holds tanh(c) after g.

BPTT needs per step only what depends on the next step's gradient. Everything else is made
for all steps at once before the loop, in the gates' own buffer: the factors that turn the
output gradient dh into the o gate's gradient (tanh(c) σ'(o)) and into the cell's
(o (1 - tanh(c)^2)), and those that turn the cell's gradient dc into the i, f, g gates'
(g σ'(i), c_prev σ'(f), i (1 - g^2): one block after o's, so one broadcast product gives all
three). A step is then seven array operations, not sixteen. Gradients are computed in the
internal order and put back in PyTorch's i, f, g, o.

On the CPU with Numba (``tinygrad_seq/cpu_loops.py``) a step's elementwise work is one compiled loop
each way, beside the step's matrix product, and BPTT makes those factors per element inside
its loop instead (with ``proj_size`` the backward runs the array operations above).
"""
from itertools import repeat

from ... import autograd, backend
from .walk import ByTime, affine_gradients, by_time

# The BPTT factors are made for as many steps at once as make about this many elements a gate.
FACTOR_BLOCK = 1 << 16


class LSTMKernel:
    """Weights of one layer and direction, prepared for a call; after ``forward`` it holds
    what ``backward`` needs: the gate activations and tanh(c) (T, 5H, B), the cell states, the
    hidden states (and with ``proj_size`` the unprojected ones)."""

    def __init__(self, xp, weight_ih, weight_hh, bias_ih=None, bias_hh=None, weight_hr=None):
        self.xp = xp
        self.hidden = weight_hh.shape[0] // 4
        self.state_size = weight_hh.shape[1]
        self.weight_ih = self._internal(weight_ih)        # for dx = W_ih^T dG
        self.weight_hh = self._internal(weight_hh)        # for dh = W_hh^T dG
        self.bias = None if bias_ih is None else self._internal(bias_ih + bias_hh)
        self.weight_hr = weight_hr

    def _internal(self, a):
        """PyTorch's gate order i, f, g, o -> o, i, f, g."""
        h = self.hidden
        return self.xp.concatenate([a[3 * h:], a[:3 * h]])

    def _pytorch(self, a):
        """The internal gate order o, i, f, g -> PyTorch's i, f, g, o."""
        h = self.hidden
        return self.xp.concatenate([a[h:], a[:h]])

    def _halved(self, a):
        a = a.copy()
        a[:3 * self.hidden] *= 0.5
        return a

    def forward(self, x, state, walk):
        """Run over x (T, input, B) from ``state`` = (h0 (state_size, B), c0 (H, B)); returns
        the hidden-state buffer (T + 1, state_size, B) laid out as ``walk`` says."""
        xp, h = self.xp, self.hidden
        steps, _, batch = self.steps, _, self.batch = x.shape
        dtype = x.dtype
        gates = self.gates = xp.empty((steps, 5 * h, batch), dtype)   # o, i, f, g, tanh(c)
        xp.matmul(self._halved(self.weight_ih), x, out=gates[:, :4 * h])
        if self.bias is not None:
            gates[:, :4 * h] += self._halved(self.bias)[:, None]
        states = self.states = xp.empty((steps + 1, self.state_size, batch), dtype)
        cells = self.cells = xp.empty((steps + 1, h, batch), dtype)
        hidden = self.hidden_states = (None if self.weight_hr is None
                                       else xp.empty((steps, h, batch), dtype))
        states[walk.first], cells[walk.first] = state
        weight_hh, weight_hr = self._halved(self.weight_hh), self.weight_hr
        recurrent = xp.empty((4 * h, batch), dtype)
        scratch = xp.empty((h, batch), dtype)
        dot, add, multiply, tanh, copyto = xp.dot, xp.add, xp.multiply, xp.tanh, xp.copyto
        on = walk.forward
        loops = backend.cpu_loops(xp, dtype)
        step = None if loops is None else loops.lstm_forward
        half = xp.asarray(0.5, dtype)   # 0-d: no Python float converted at every call
        for pre, sig, block, h_prev, h_new, c_prev, c, unprojected, mask in zip(
                on(gates[:, :4 * h]), on(gates[:, :3 * h]), on(gates.reshape(steps, 5, h, batch)),
                on(walk.prev(states)), on(walk.next(states)), on(walk.prev(cells)),
                on(walk.next(cells)), repeat(None) if hidden is None else on(hidden), walk.masks):
            dot(weight_hh, h_prev, out=recurrent)
            out = h_new if unprojected is None else unprojected
            if step is not None:
                step(block, recurrent, c_prev, c, out)
            else:
                o, i, f, g, tc = block
                add(pre, recurrent, out=pre)
                tanh(pre, out=pre)
                multiply(sig, half, out=sig)
                add(sig, half, out=sig)
                multiply(f, c_prev, out=c)
                multiply(i, g, out=scratch)
                add(c, scratch, out=c)
                tanh(c, out=tc)
                multiply(o, tc, out=out)
            if unprojected is not None:
                dot(weight_hr, unprojected, out=h_new)
            if mask is not None:
                copyto(h_new, h_prev, where=mask[1])
                copyto(c, c_prev, where=mask[1])
        return states

    def final_state(self, walk):
        return self.states[walk.last], self.cells[walk.last]

    def _factors(self, walk):
        """Per step in the order of BPTT: tanh(c) σ'(o) (times dh: the o gate's gradient);
        (g σ'(i), c_prev σ'(f), i (1 - g^2)) as one (3, H, B) block (times dc: the i, f, g
        gates'); o (1 - tanh(c)^2) (times dh: dc); the forget gate. Made some steps at a time
        (a block that stays in cache), in the gates' and cells' own buffers (no second copy of
        a long sequence) unless the graph is retained, when backward may run again and needs
        them as the forward left them."""
        xp = self.xp
        steps, h, batch = self.steps, self.hidden, self.batch
        gates, cells = self.gates, self.cells
        if autograd.retaining:
            gates, cells = gates.copy(), cells.copy()
        by_step, c_prevs = gates.reshape(steps, 5, h, batch), walk.prev(cells)
        one = xp.asarray(1, gates.dtype)
        chunk = max(1, FACTOR_BLOCK // (h * batch))
        spare = xp.empty((min(chunk, steps), h, batch), gates.dtype)
        starts = range(0, steps, chunk)
        for start in (starts if walk.reverse else reversed(starts)):
            stop = min(start + chunk, steps)
            block, c_prev, u = by_step[start:stop], c_prevs[start:stop], spare[:stop - start]
            o, i, f, g, tc = (block[:, k] for k in range(5))
            xp.multiply(tc, tc, out=u)
            xp.subtract(one, u, out=u)
            u *= o                                  # o (1 - tanh(c)^2)
            tc *= o
            xp.subtract(one, o, out=o)
            o *= tc                                 # tanh(c) σ'(o)
            tc[...] = u
            xp.multiply(g, g, out=u)
            xp.subtract(one, u, out=u)
            u *= i                                  # i (1 - g^2)
            g *= i
            xp.subtract(one, i, out=i)
            i *= g                                  # g σ'(i)
            g[...] = u
            xp.subtract(one, f, out=u)
            u *= f
            u *= c_prev                             # c_prev σ'(f)
            c_prev[...] = f                         # the forget gates, where c_prev was
            f[...] = u
            yield from zip(walk.backward(block[:, 0]), walk.backward(block[:, 1:4]),
                           walk.backward(block[:, 4]), walk.backward(c_prev))

    def backward(self, x, d_out, d_state, walk, dx_layout, need_weights):
        """BPTT. x: this direction's input (T, input, B), None when W_ih needs no gradient;
        d_out: gradient of its output before masking (T, state_size, B) or None; d_state:
        gradients (dh, dc) of the final state; dx_layout: None (no input gradient), "rows"
        for dx as (T * B, input) or "features" for (input, T, B). Returns (dx, (dh0, dc0),
        {name: gradient}), each weight gradient one GEMM over all steps."""
        xp, h = self.xp, self.hidden
        steps, batch, dtype = self.steps, self.batch, self.states.dtype
        states, hidden, weight_hr = self.states, self.hidden_states, self.weight_hr
        consume = affine_gradients(xp, x, states, walk, self.weight_ih, need_weights, dx_layout)
        d_gates = ByTime(xp, 4 * h, steps, batch, dtype, walk, consume, dx_layout)
        d_h, d_h_next = d_state[0].copy(), xp.empty(d_state[0].shape, d_state[0].dtype)
        d_c, d_c_next = d_state[1].copy(), xp.empty(d_state[1].shape, d_state[1].dtype)
        d_total, d_c_total, one = xp.empty_like(d_h), xp.empty_like(d_c), xp.empty_like(d_c)
        d_proj = None if hidden is None else xp.empty_like(states[1:])
        d_hidden = d_total if hidden is None else xp.empty((h, batch), dtype)
        weight_hh_t = xp.ascontiguousarray(self.weight_hh.T)
        weight_hr_t = None if hidden is None else xp.ascontiguousarray(weight_hr.T)
        dot, add, multiply, copyto = xp.dot, xp.add, xp.multiply, xp.copyto
        back = walk.backward
        loops = backend.cpu_loops(xp, dtype)
        step = None if hidden is not None or loops is None else loops.lstm_backward
        per_step = (zip(back(self.gates.reshape(steps, 5, h, batch)), back(walk.prev(self.cells)))
                    if step is not None else self._factors(walk))
        for arrays, d_o, d_projected, mask in zip(
                per_step, repeat(None) if d_out is None else back(d_out),
                repeat(None) if hidden is None else back(d_proj), reversed(walk.masks)):
            dg = d_gates.block()
            if step is not None:                   # arrays: the step's block and c_prev
                if mask is None:
                    step(*arrays, d_h, d_o, d_c, dg, d_c_next)
                else:   # the mask's scale is 0 or 1: scaling the terms is scaling their sum
                    step(*arrays, d_h * mask[0], None if d_o is None else d_o * mask[0],
                         d_c * mask[0], dg, d_c_next)
            else:                                  # arrays: the BPTT factors (``_factors``)
                o_factor, ifg_factors, c_factor, f = arrays
                if d_o is not None:
                    add(d_h, d_o, out=d_total)
                else:
                    copyto(d_total, d_h)
                if mask is not None:
                    multiply(d_total, mask[0], out=d_total)
                if d_projected is not None:
                    copyto(d_projected, d_total)
                    dot(weight_hr_t, d_total, out=d_hidden)
                multiply(c_factor, d_hidden, out=d_c_total)            # dc from h = o tanh(c)
                if mask is not None:
                    multiply(d_c, mask[0], out=one)
                    add(d_c_total, one, out=d_c_total)
                else:
                    add(d_c_total, d_c, out=d_c_total)
                multiply(o_factor, d_hidden, out=dg[:h])
                multiply(ifg_factors, d_c_total, out=dg[h:].reshape(3, h, batch))
                multiply(d_c_total, f, out=d_c_next)
            dot(weight_hh_t, dg, out=d_h_next)
            if mask is not None:
                copyto(d_c_next, d_c, where=mask[1])
                copyto(d_h_next, d_h, where=mask[1])
            d_h, d_h_next = d_h_next, d_h
            d_c, d_c_next = d_c_next, d_c
        summed, dx = d_gates.result()
        grads = {name: self._pytorch(summed[name]) for name in ("weight_ih", "weight_hh")
                 if name in summed}
        if "bias" in summed:
            grads["bias_ih"] = grads["bias_hh"] = self._pytorch(summed["bias"])
        if hidden is not None and need_weights.get("weight_hr"):
            grads["weight_hr"] = by_time(xp, d_proj) @ by_time(xp, hidden).T
        return dx, (d_h, d_c), grads
