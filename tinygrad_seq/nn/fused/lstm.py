"""One LSTM direction (``proj_size`` included) over a whole sequence, forward and BPTT.

Inside, the gates are reordered i, f, o, g, so that the three sigmoid gates form one block,
and their rows of the weights are halved: σ(x) = 0.5 * tanh(x / 2) + 0.5, so one tanh pass
over the step's whole (B, 4H) block gives every gate. Halving is exact in binary floating
point, so the gates are those of ``LSTMCell`` (up to the summation order of the products).
Gradients are computed in that internal order and put back in PyTorch's i, f, g, o.
"""


class LSTMKernel:
    """Weights of one layer and direction, prepared for a call; after ``forward`` it holds
    what ``backward`` needs: the gate activations (T, B, 4H), the cell states and their tanh,
    the hidden states (and the unprojected ones with ``proj_size``)."""

    def __init__(self, xp, weight_ih, weight_hh, bias_ih=None, bias_hh=None, weight_hr=None):
        self.xp = xp
        hidden = self.hidden = weight_hh.shape[0] // 4
        self.state_size = weight_hh.shape[1]
        self.weight_ih = self._internal(weight_ih)        # for dx = dG @ W_ih
        self.weight_hh = self._internal(weight_hh)        # for dh = dG @ W_hh
        self.bias = None if bias_ih is None else self._internal(bias_ih + bias_hh)
        self.weight_hr = weight_hr
        half = self.weight_hh.copy()
        half[:3 * hidden] *= 0.5
        self.weight_hh_t = xp.ascontiguousarray(half.T)   # (state, 4H): the step's product
        self.weight_hr_t = None if weight_hr is None else xp.ascontiguousarray(weight_hr.T)

    def _internal(self, a):
        """PyTorch's gate order i, f, g, o -> i, f, o, g, and back (the swap is its own inverse)."""
        h = self.hidden
        return self.xp.concatenate([a[:2 * h], a[3 * h:], a[2 * h:3 * h]])

    def _input_gates(self, x):
        """x @ W_ih.T + b for every step in one product, sigmoid rows halved: (T, B, 4H)."""
        xp, h = self.xp, self.hidden
        steps, batch = x.shape[:2]
        weight = self.weight_ih.copy()
        weight[:3 * h] *= 0.5
        gates = xp.matmul(x.reshape(steps * batch, -1), weight.T)
        if self.bias is not None:
            bias = self.bias.copy()
            bias[:3 * h] *= 0.5
            gates += bias
        return gates.reshape(steps, batch, 4 * h)

    def forward(self, x, state, walk):
        """Run over x (T, B, input) from ``state`` = (h0, c0); returns the hidden-state buffer
        (T + 1, B, state_size) laid out as ``walk`` says."""
        xp = self.xp
        h = self.hidden
        steps, batch = self.steps, self.batch = x.shape[:2]
        gates = self.gates = self._input_gates(x)
        states = self.states = xp.empty((steps + 1, batch, self.state_size), x.dtype)
        cells = self.cells = xp.empty((steps + 1, batch, h), x.dtype)
        tanh_cells = self.tanh_cells = xp.empty((steps, batch, h), x.dtype)
        hidden = self.hidden_states = (None if self.weight_hr is None
                                       else xp.empty((steps, batch, h), x.dtype))
        states[walk.first], cells[walk.first] = state
        recurrent = xp.empty((batch, 4 * h), x.dtype)
        scratch = xp.empty((batch, h), x.dtype)
        matmul, add, multiply, tanh = xp.matmul, xp.add, xp.multiply, xp.tanh
        weight_hh_t, weight_hr_t = self.weight_hh_t, self.weight_hr_t
        for t, prev, new, mask in walk.steps:
            g = gates[t]
            matmul(states[prev], weight_hh_t, out=recurrent)
            add(g, recurrent, out=g)
            tanh(g, out=g)
            sig = g[:, :3 * h]
            multiply(sig, 0.5, out=sig)
            add(sig, 0.5, out=sig)
            c = cells[new]
            multiply(g[:, h:2 * h], cells[prev], out=c)
            multiply(g[:, :h], g[:, 3 * h:], out=scratch)
            add(c, scratch, out=c)
            tc = tanh(c, out=tanh_cells[t])
            if hidden is None:
                multiply(g[:, 2 * h:3 * h], tc, out=states[new])
            else:
                multiply(g[:, 2 * h:3 * h], tc, out=hidden[t])
                matmul(hidden[t], weight_hr_t, out=states[new])
            if mask is not None:
                xp.copyto(states[new], states[prev], where=mask[1])
                xp.copyto(c, cells[prev], where=mask[1])
        return states

    def final_state(self, walk):
        return self.states[walk.last], self.cells[walk.last]

    def backward(self, x, d_out, d_state, walk, need_x, need_weights):
        """BPTT. x: this direction's input (T, B, input), None when W_ih needs no gradient;
        d_out: gradient of its (unmasked) output slice (T, B, state_size) or None; d_state: gradients (dh, dc) of the final
        state. Returns (dx or None, (dh0, dc0), {name: gradient}) with one GEMM per weight
        gradient over all steps."""
        xp = self.xp
        h = self.hidden
        steps, batch, dtype = self.steps, self.batch, self.states.dtype
        gates, cells, tanh_cells, states = self.gates, self.cells, self.tanh_cells, self.states
        hidden = self.hidden_states
        d_gates = xp.empty_like(gates)
        d_h, d_h_next = d_state[0].copy(), xp.empty_like(d_state[0])
        d_c, d_c_next = d_state[1].copy(), xp.empty_like(d_state[1])
        d_total = xp.empty_like(d_h)
        d_c_total = xp.empty_like(d_c)
        d_proj = None if hidden is None else xp.empty((steps, batch, self.state_size), dtype)
        d_hidden = d_total if hidden is None else xp.empty((batch, h), dtype)
        one, three = xp.empty((batch, h), dtype), xp.empty((batch, 3 * h), dtype)
        matmul, add, subtract, multiply = xp.matmul, xp.add, xp.subtract, xp.multiply
        weight_hh, weight_hr = self.weight_hh, self.weight_hr
        for t, prev, new, mask in reversed(walk.steps):
            g = gates[t]
            tc = tanh_cells[t]
            if d_out is not None:
                add(d_h, d_out[t], out=d_total)
            else:
                d_total[...] = d_h
            if mask is not None:
                multiply(d_total, mask[0], out=d_total)
            if hidden is not None:
                d_proj[t] = d_total
                matmul(d_total, weight_hr, out=d_hidden)
            # dc = dc_carried + dh * o * (1 - tanh(c)^2)
            multiply(tc, tc, out=one)
            subtract(1, one, out=one)
            multiply(one, g[:, 2 * h:3 * h], out=one)
            multiply(one, d_hidden, out=one)
            if mask is not None:
                multiply(d_c, mask[0], out=d_c_total)
                add(d_c_total, one, out=d_c_total)
            else:
                add(d_c, one, out=d_c_total)
            dg = d_gates[t]
            multiply(d_c_total, g[:, 3 * h:], out=dg[:, :h])            # d sigma(i)
            multiply(d_c_total, cells[prev], out=dg[:, h:2 * h])        # d sigma(f)
            multiply(d_hidden, tc, out=dg[:, 2 * h:3 * h])              # d sigma(o)
            sig = g[:, :3 * h]
            subtract(1, sig, out=three)
            multiply(three, sig, out=three)
            multiply(dg[:, :3 * h], three, out=dg[:, :3 * h])
            multiply(g[:, 3 * h:], g[:, 3 * h:], out=one)               # d tanh(g)
            subtract(1, one, out=one)
            multiply(one, g[:, :h], out=one)
            multiply(one, d_c_total, out=dg[:, 3 * h:])
            multiply(d_c_total, g[:, h:2 * h], out=d_c_next)
            matmul(dg, weight_hh, out=d_h_next)
            if mask is not None:
                xp.copyto(d_c_next, d_c, where=mask[1])
                xp.copyto(d_h_next, d_h, where=mask[1])
            d_h, d_h_next = d_h_next, d_h
            d_c, d_c_next = d_c_next, d_c
        flat = d_gates.reshape(steps * batch, 4 * h)
        grads = {}
        if need_weights.get("weight_ih"):
            grads["weight_ih"] = self._internal(flat.T @ x.reshape(steps * batch, -1))
        if need_weights.get("weight_hh"):
            grads["weight_hh"] = self._internal(
                flat.T @ walk.prev(states).reshape(steps * batch, -1))
        if need_weights.get("bias_ih") or need_weights.get("bias_hh"):
            grads["bias_ih"] = grads["bias_hh"] = self._internal(flat.sum(axis=0))
        if hidden is not None and need_weights.get("weight_hr"):
            grads["weight_hr"] = (d_proj.reshape(steps * batch, -1).T
                                  @ hidden.reshape(steps * batch, h))
        dx = (flat @ self.weight_ih).reshape(steps, batch, -1) if need_x else None
        return dx, (d_h, d_c), grads
