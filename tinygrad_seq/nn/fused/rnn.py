"""One Elman RNN direction (tanh or relu) over a whole sequence, forward and BPTT::

    h' = f(W_ih x + b_ih + W_hh h + b_hh)

Backward needs only the hidden states: tanh' = 1 - h'^2, and relu' = (h' > 0), which is
(pre-activation > 0) as ``Relu``'s backward has it. Arrays are feature-major (``walk.py``).
"""
from .walk import by_time, flat_input


class RNNKernel:
    """Weights of one layer and direction, prepared for a call; after ``forward`` it holds the
    hidden states (T + 1, H, B), all that ``backward`` needs."""

    def __init__(self, xp, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity="tanh"):
        self.xp, self.relu = xp, nonlinearity == "relu"
        self.hidden = self.state_size = weight_hh.shape[0]
        self.weight_ih, self.weight_hh = weight_ih, weight_hh
        self.bias = None if bias_ih is None else bias_ih + bias_hh

    def forward(self, x, state, walk):
        """Run over x (T, input, B) from ``state`` = (h0 (H, B),); returns the hidden-state
        buffer (T + 1, H, B) laid out as ``walk`` says."""
        xp = self.xp
        steps, _, batch = self.steps, _, self.batch = x.shape
        pre = xp.matmul(self.weight_ih, x)                          # (T, H, B)
        if self.bias is not None:
            pre += self.bias[:, None]
        states = self.states = xp.empty((steps + 1, self.hidden, batch), x.dtype)
        states[walk.first] = state[0]
        matmul, add, weight_hh = xp.matmul, xp.add, self.weight_hh
        activation = xp.maximum if self.relu else xp.tanh
        recurrent = xp.empty((self.hidden, batch), x.dtype)
        for t, prev, new, mask in walk.steps:
            matmul(weight_hh, states[prev], out=recurrent)
            add(pre[t], recurrent, out=recurrent)
            if self.relu:
                activation(recurrent, 0, out=states[new])
            else:
                activation(recurrent, out=states[new])
            if mask is not None:
                xp.copyto(states[new], states[prev], where=mask[1])
        return states

    def final_state(self, walk):
        return (self.states[walk.last],)

    def backward(self, x, d_out, d_state, walk, need_x, need_weights):
        """BPTT; arguments and result as ``LSTMKernel.backward`` (the state is (h,))."""
        xp = self.xp
        steps, batch, states = self.steps, self.batch, self.states
        d_pre = xp.empty((self.hidden, steps, batch), states.dtype)   # by time
        d_step = xp.empty_like(d_state[0])
        d_h, d_h_next = d_state[0].copy(), xp.empty_like(d_state[0])
        d_total = xp.empty_like(d_h)
        slope = xp.empty(d_h.shape, bool if self.relu else d_h.dtype)
        matmul, add, subtract, multiply = xp.matmul, xp.add, xp.subtract, xp.multiply
        weight_hh_t = xp.ascontiguousarray(self.weight_hh.T)
        for t, prev, new, mask in reversed(walk.steps):
            if d_out is not None:
                add(d_h, d_out[t], out=d_total)
            else:
                xp.copyto(d_total, d_h)
            if mask is not None:
                multiply(d_total, mask[0], out=d_total)
            if self.relu:
                xp.greater(states[new], 0, out=slope)
            else:
                multiply(states[new], states[new], out=slope)
                subtract(1, slope, out=slope)
            multiply(d_total, slope, out=d_step)
            matmul(weight_hh_t, d_step, out=d_h_next)
            xp.copyto(d_pre[:, t], d_step)
            if mask is not None:
                xp.copyto(d_h_next, d_h, where=mask[1])
            d_h, d_h_next = d_h_next, d_h
        flat = d_pre.reshape(self.hidden, steps * batch)
        grads = {}
        if need_weights.get("weight_ih"):
            grads["weight_ih"] = flat @ flat_input(x)
        if need_weights.get("weight_hh"):
            grads["weight_hh"] = flat @ by_time(xp, walk.prev(states)).T
        if need_weights.get("bias_ih") or need_weights.get("bias_hh"):
            grads["bias_ih"] = grads["bias_hh"] = flat @ xp.ones(steps * batch, flat.dtype)
        dx = (self.weight_ih.T @ flat).reshape(-1, steps, batch) if need_x else None
        return dx, (d_h,), grads
