"""One GRU direction over a whole sequence, forward and BPTT, in both of ``GRUCell``'s forms::

    r, z = σ(x_r + h_r), σ(x_z + h_z)             (x_· = W_i· x + b_i·, h_· = W_h· h + b_h·)
    n = tanh(x_n + r * h_n)                        reset_after=True (PyTorch, cuDNN)
    n = tanh(x_n + W_hn (r * h) + b_hn)            reset_after=False (Cho et al. 2014)
    h' = n + z * (h - n)

The r and z rows of the weights are halved so that one tanh pass gives both sigmoids
(σ(x) = 0.5 * tanh(x / 2) + 0.5; halving is exact in binary floating point).
"""


class GRUKernel:
    """Weights of one layer and direction, prepared for a call; after ``forward`` it holds
    what ``backward`` needs: the gate activations r, z, n (T, B, 3H), the hidden states, and
    h_n = W_hn h + b_hn (reset_after) or r * h (reset_after=False) per step."""

    def __init__(self, xp, weight_ih, weight_hh, bias_ih=None, bias_hh=None, reset_after=True):
        self.xp, self.reset_after = xp, reset_after
        h = self.hidden = self.state_size = weight_hh.shape[0] // 3
        self.weight_ih, self.weight_hh = weight_ih, weight_hh
        self.bias_ih, self.bias_hh = bias_ih, bias_hh
        half = weight_hh.copy()
        half[:2 * h] *= 0.5
        if reset_after:
            self.weight_hh_t = xp.ascontiguousarray(half.T)                 # (H, 3H)
        else:
            self.weight_hh_t = xp.ascontiguousarray(half[:2 * h].T)         # (H, 2H)
            self.weight_n_t = xp.ascontiguousarray(weight_hh[2 * h:].T)     # (H, H)
        self.bias_hh_half = None
        if bias_hh is not None:
            self.bias_hh_half = bias_hh.copy()
            self.bias_hh_half[:2 * h] *= 0.5

    def _input_gates(self, x):
        """x @ W_ih.T + b_ih for every step in one product, r and z halved: (T, B, 3H)."""
        xp, h = self.xp, self.hidden
        steps, batch = x.shape[:2]
        weight = self.weight_ih.copy()
        weight[:2 * h] *= 0.5
        gates = xp.matmul(x.reshape(steps * batch, -1), weight.T)
        if self.bias_ih is not None:
            bias = self.bias_ih.copy()
            bias[:2 * h] *= 0.5
            gates += bias
        return gates.reshape(steps, batch, 3 * h)

    def forward(self, x, state, walk):
        """Run over x (T, B, input) from ``state`` = (h0,); returns the hidden-state buffer
        (T + 1, B, H) laid out as ``walk`` says."""
        xp, h = self.xp, self.hidden
        steps, batch = self.steps, self.batch = x.shape[:2]
        gates = self.gates = self._input_gates(x)
        states = self.states = xp.empty((steps + 1, batch, h), x.dtype)
        kept = self.kept = xp.empty((steps, batch, h), x.dtype)   # h_n or r * h
        states[walk.first] = state[0]
        recurrent = xp.empty((batch, (3 if self.reset_after else 2) * h), x.dtype)
        scratch = xp.empty((batch, h), x.dtype)
        matmul, add, subtract, multiply, tanh = xp.matmul, xp.add, xp.subtract, xp.multiply, xp.tanh
        weight_hh_t, bias_half, bias_hh = self.weight_hh_t, self.bias_hh_half, self.bias_hh
        for t, prev, new, mask in walk.steps:
            g = gates[t]
            rz, r, z, n = g[:, :2 * h], g[:, :h], g[:, h:2 * h], g[:, 2 * h:]
            h_prev = states[prev]
            matmul(h_prev, weight_hh_t, out=recurrent)
            if bias_half is not None:
                add(recurrent, bias_half if self.reset_after else bias_half[:2 * h], out=recurrent)
            add(rz, recurrent[:, :2 * h], out=rz)
            tanh(rz, out=rz)
            multiply(rz, 0.5, out=rz)
            add(rz, 0.5, out=rz)
            if self.reset_after:
                xp.copyto(kept[t], recurrent[:, 2 * h:])
                multiply(r, kept[t], out=scratch)
            else:
                multiply(r, h_prev, out=kept[t])
                matmul(kept[t], self.weight_n_t, out=scratch)
                if bias_hh is not None:
                    add(scratch, bias_hh[2 * h:], out=scratch)
            add(n, scratch, out=n)
            tanh(n, out=n)
            subtract(h_prev, n, out=scratch)
            multiply(z, scratch, out=scratch)
            add(n, scratch, out=states[new])
            if mask is not None:
                xp.copyto(states[new], h_prev, where=mask[1])
        return states

    def final_state(self, walk):
        return (self.states[walk.last],)

    def backward(self, x, d_out, d_state, walk, need_x, need_weights):
        """BPTT; arguments and result as ``LSTMKernel.backward`` (the state is (h,))."""
        xp, h = self.xp, self.hidden
        steps, batch, dtype = self.steps, self.batch, self.states.dtype
        gates, states, kept = self.gates, self.states, self.kept
        d_x_gates = xp.empty_like(gates)                          # d(x_r, x_z, x_n)
        d_h_gates = xp.empty_like(gates) if self.reset_after else None   # d(h_r, h_z, h_n)
        d_h, d_h_next = d_state[0].copy(), xp.empty_like(d_state[0])
        d_total = xp.empty_like(d_h)
        one, two = xp.empty((batch, h), dtype), xp.empty((batch, h), dtype)
        sig = xp.empty((batch, 2 * h), dtype)
        matmul, add, subtract, multiply = xp.matmul, xp.add, xp.subtract, xp.multiply
        weight_hh = self.weight_hh
        weight_rz, weight_n = weight_hh[:2 * h], weight_hh[2 * h:]
        for t, prev, new, mask in reversed(walk.steps):
            g = gates[t]
            rz, r, z, n = g[:, :2 * h], g[:, :h], g[:, h:2 * h], g[:, 2 * h:]
            h_prev = states[prev]
            dx = d_x_gates[t]
            if d_out is not None:
                add(d_h, d_out[t], out=d_total)
            else:
                d_total[...] = d_h
            if mask is not None:
                multiply(d_total, mask[0], out=d_total)
            multiply(d_total, z, out=one)                         # the path h' <- z * h
            subtract(d_total, one, out=two)                       # dn = dh - dh * z
            multiply(n, n, out=dx[:, 2 * h:])
            subtract(1, dx[:, 2 * h:], out=dx[:, 2 * h:])
            multiply(dx[:, 2 * h:], two, out=dx[:, 2 * h:])       # d(n's pre-activation)
            subtract(h_prev, n, out=dx[:, h:2 * h])
            multiply(dx[:, h:2 * h], d_total, out=dx[:, h:2 * h])  # d z
            if self.reset_after:
                dh_ = d_h_gates[t]
                multiply(dx[:, 2 * h:], kept[t], out=dx[:, :h])       # d r
                multiply(dx[:, 2 * h:], r, out=dh_[:, 2 * h:])        # d h_n
            else:
                matmul(dx[:, 2 * h:], weight_n, out=two)              # d(r * h)
                multiply(two, h_prev, out=dx[:, :h])                  # d r
                multiply(two, r, out=two)
                add(one, two, out=one)                                # + the path through r * h
            subtract(1, rz, out=sig)
            multiply(sig, rz, out=sig)
            multiply(dx[:, :2 * h], sig, out=dx[:, :2 * h])
            if self.reset_after:
                xp.copyto(dh_[:, :2 * h], dx[:, :2 * h])
                matmul(dh_, weight_hh, out=d_h_next)
            else:
                matmul(dx[:, :2 * h], weight_rz, out=d_h_next)
            add(d_h_next, one, out=d_h_next)
            if mask is not None:
                xp.copyto(d_h_next, d_h, where=mask[1])
            d_h, d_h_next = d_h_next, d_h
        flat_x = d_x_gates.reshape(steps * batch, 3 * h)
        prev_states = walk.prev(states).reshape(steps * batch, h)
        grads = {}
        if need_weights.get("weight_ih"):
            grads["weight_ih"] = flat_x.T @ x.reshape(steps * batch, -1)
        if need_weights.get("bias_ih"):
            grads["bias_ih"] = flat_x.sum(axis=0)
        if self.reset_after:
            flat_h = d_h_gates.reshape(steps * batch, 3 * h)
            if need_weights.get("weight_hh"):
                grads["weight_hh"] = flat_h.T @ prev_states
            if need_weights.get("bias_hh"):
                grads["bias_hh"] = flat_h.sum(axis=0)
        else:
            if need_weights.get("weight_hh"):
                grads["weight_hh"] = xp.concatenate([
                    flat_x[:, :2 * h].T @ prev_states,
                    flat_x[:, 2 * h:].T @ kept.reshape(steps * batch, h)])
            if need_weights.get("bias_hh"):   # b_hh enters every gate as b_ih does
                grads["bias_hh"] = grads["bias_ih"] if "bias_ih" in grads else flat_x.sum(axis=0)
        dx = (flat_x @ self.weight_ih).reshape(steps, batch, -1) if need_x else None
        return dx, (d_h,), grads
