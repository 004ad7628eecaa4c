"""One GRU direction over a whole sequence, forward and BPTT, in both of ``GRUCell``'s forms::

    r, z = σ(x_r + h_r), σ(x_z + h_z)             (x_· = W_i· x + b_i·, h_· = W_h· h + b_h·)
    n = tanh(x_n + r * h_n)                        reset_after=True (PyTorch, cuDNN)
    n = tanh(x_n + W_hn (r * h) + b_hn)            reset_after=False (Cho et al. 2014)
    h' = n + z * (h - n)

Arrays are feature-major (``walk.py``). The r and z rows of the weights are halved so that one
tanh pass gives both sigmoids (σ(x) = 0.5 * tanh(x / 2) + 0.5; halving is exact in binary
floating point).
"""
from .walk import by_time, flat_input


class GRUKernel:
    """Weights of one layer and direction, prepared for a call; after ``forward`` it holds
    what ``backward`` needs: the gate activations r, z, n (T, 3H, B), the hidden states, and
    per step W_hn h + b_hn (reset_after) or r * h (reset_after=False)."""

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
        if self.bias_ih is not None:
            gates += self._halved(self.bias_ih)[:, None]
        states = self.states = xp.empty((steps + 1, h, batch), dtype)
        kept = self.kept = xp.empty((steps, h, batch), dtype)        # h_n or r * h
        states[walk.first] = state[0]
        weight = self._halved(self.weight_hh)
        bias = None if self.bias_hh is None else self._halved(self.bias_hh)[:, None]
        if reset_after:
            recurrent = xp.empty((3 * h, batch), dtype)
        else:
            weight, weight_n = weight[:2 * h], weight[2 * h:]
            bias, bias_n = (None, None) if bias is None else (bias[:2 * h], bias[2 * h:])
            recurrent = xp.empty((2 * h, batch), dtype)
        scratch = xp.empty((h, batch), dtype)
        matmul, add, subtract, multiply, tanh = xp.matmul, xp.add, xp.subtract, xp.multiply, xp.tanh
        for t, prev, new, mask in walk.steps:
            g = gates[t]
            rz, r, z, n = g[:2 * h], g[:h], g[h:2 * h], g[2 * h:]
            h_prev = states[prev]
            matmul(weight, h_prev, out=recurrent)
            if bias is not None:
                add(recurrent, bias, out=recurrent)
            add(rz, recurrent[:2 * h], out=rz)
            tanh(rz, out=rz)
            multiply(rz, 0.5, out=rz)
            add(rz, 0.5, out=rz)
            if reset_after:
                xp.copyto(kept[t], recurrent[2 * h:])
                multiply(r, kept[t], out=scratch)
            else:
                multiply(r, h_prev, out=kept[t])
                matmul(weight_n, kept[t], out=scratch)
                if bias is not None:
                    add(scratch, bias_n, out=scratch)
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
        xp, h, reset_after = self.xp, self.hidden, self.reset_after
        steps, batch, dtype = self.steps, self.batch, self.states.dtype
        gates, states, kept = self.gates, self.states, self.kept
        d_x_gates = xp.empty_like(gates)                            # d(x_r, x_z, x_n)
        d_h_gates = xp.empty_like(gates) if reset_after else None   # d(h_r, h_z, h_n)
        d_h, d_h_next = d_state[0].copy(), xp.empty_like(d_state[0])
        d_total = xp.empty_like(d_h)
        one, two = xp.empty((h, batch), dtype), xp.empty((h, batch), dtype)
        sig = xp.empty((2 * h, batch), dtype)
        weight_t = self.weight_hh.T
        weight_rz_t, weight_n_t = self.weight_hh[:2 * h].T, self.weight_hh[2 * h:].T
        matmul, add, subtract, multiply = xp.matmul, xp.add, xp.subtract, xp.multiply
        for t, prev, new, mask in reversed(walk.steps):
            g = gates[t]
            rz, r, z, n = g[:2 * h], g[:h], g[h:2 * h], g[2 * h:]
            h_prev = states[prev]
            dx = d_x_gates[t]
            d_r, d_z, d_n = dx[:h], dx[h:2 * h], dx[2 * h:]
            if d_out is not None:
                add(d_h, d_out[t], out=d_total)
            else:
                xp.copyto(d_total, d_h)
            if mask is not None:
                multiply(d_total, mask[0], out=d_total)
            multiply(d_total, z, out=one)                           # the path h' <- z * h
            subtract(d_total, one, out=two)                         # d n = dh - dh * z
            multiply(n, n, out=d_n)
            subtract(1, d_n, out=d_n)
            multiply(d_n, two, out=d_n)                             # d of n's pre-activation
            subtract(h_prev, n, out=d_z)
            multiply(d_z, d_total, out=d_z)                         # d z
            if reset_after:
                dh_ = d_h_gates[t]
                multiply(d_n, kept[t], out=d_r)                     # d r
                multiply(d_n, r, out=dh_[2 * h:])                   # d h_n
            else:
                matmul(weight_n_t, d_n, out=two)                    # d (r * h)
                multiply(two, h_prev, out=d_r)                      # d r
                multiply(two, r, out=two)
                add(one, two, out=one)                              # + the path through r * h
            subtract(1, rz, out=sig)
            multiply(sig, rz, out=sig)
            multiply(dx[:2 * h], sig, out=dx[:2 * h])
            if reset_after:
                xp.copyto(dh_[:2 * h], dx[:2 * h])
                matmul(weight_t, dh_, out=d_h_next)
            else:
                matmul(weight_rz_t, dx[:2 * h], out=d_h_next)
            add(d_h_next, one, out=d_h_next)
            if mask is not None:
                xp.copyto(d_h_next, d_h, where=mask[1])
            d_h, d_h_next = d_h_next, d_h
        flat_x = by_time(xp, d_x_gates)                             # (3H, T * B)
        prev_states = by_time(xp, walk.prev(states))                # (H, T * B)
        grads = {}
        if need_weights.get("weight_ih"):
            grads["weight_ih"] = flat_x @ flat_input(x)
        if need_weights.get("bias_ih"):
            grads["bias_ih"] = flat_x.sum(axis=1)
        if reset_after:
            flat_h = by_time(xp, d_h_gates)
            if need_weights.get("weight_hh"):
                grads["weight_hh"] = flat_h @ prev_states.T
            if need_weights.get("bias_hh"):
                grads["bias_hh"] = flat_h.sum(axis=1)
        else:
            if need_weights.get("weight_hh"):
                grads["weight_hh"] = xp.concatenate([flat_x[:2 * h] @ prev_states.T,
                                                     flat_x[2 * h:] @ by_time(xp, kept).T])
            if need_weights.get("bias_hh"):   # b_hh enters every gate as b_ih does
                grads["bias_hh"] = grads["bias_ih"] if "bias_ih" in grads else flat_x.sum(axis=1)
        dx = (self.weight_ih.T @ flat_x).reshape(-1, steps, batch) if need_x else None
        return dx, (d_h,), grads
