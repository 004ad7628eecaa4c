"""One Elman RNN direction (tanh or relu) over a whole sequence, forward and BPTT::

    h' = f(W_ih x + b_ih + W_hh h + b_hh)

Backward needs only the hidden states: tanh' = 1 - h'^2, and relu' = (h' > 0), which is
(pre-activation > 0) as ``Relu``'s backward has it.
"""


class RNNKernel:
    """Weights of one layer and direction, prepared for a call; after ``forward`` it holds the
    hidden states (T + 1, B, H), all that ``backward`` needs."""

    def __init__(self, xp, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity="tanh"):
        self.xp, self.nonlinearity = xp, nonlinearity
        self.hidden = self.state_size = weight_hh.shape[0]
        self.weight_ih, self.weight_hh = weight_ih, weight_hh
        self.bias = None if bias_ih is None else bias_ih + bias_hh
        self.weight_hh_t = xp.ascontiguousarray(weight_hh.T)

    def forward(self, x, state, walk):
        """Run over x (T, B, input) from ``state`` = (h0,); returns the hidden-state buffer
        (T + 1, B, H) laid out as ``walk`` says."""
        xp, h = self.xp, self.hidden
        steps, batch = self.steps, self.batch = x.shape[:2]
        pre = xp.matmul(x.reshape(steps * batch, -1), self.weight_ih.T)
        if self.bias is not None:
            pre += self.bias
        pre = pre.reshape(steps, batch, h)
        states = self.states = xp.empty((steps + 1, batch, h), x.dtype)
        states[walk.first] = state[0]
        recurrent = xp.empty((batch, h), x.dtype)
        matmul, add, weight_hh_t = xp.matmul, xp.add, self.weight_hh_t
        relu = self.nonlinearity == "relu"
        for t, prev, new, mask in walk.steps:
            matmul(states[prev], weight_hh_t, out=recurrent)
            add(pre[t], recurrent, out=recurrent)
            if relu:
                xp.maximum(recurrent, 0, out=states[new])
            else:
                xp.tanh(recurrent, out=states[new])
            if mask is not None:
                xp.copyto(states[new], states[prev], where=mask[1])
        return states

    def final_state(self, walk):
        return (self.states[walk.last],)

    def backward(self, x, d_out, d_state, walk, need_x, need_weights):
        """BPTT; arguments and result as ``LSTMKernel.backward`` (the state is (h,))."""
        xp, h = self.xp, self.hidden
        steps, batch, dtype = self.steps, self.batch, self.states.dtype
        states = self.states
        d_pre = xp.empty((steps, batch, h), dtype)
        d_h, d_h_next = d_state[0].copy(), xp.empty_like(d_state[0])
        d_total = xp.empty_like(d_h)
        slope = xp.empty((batch, h), dtype if self.nonlinearity == "tanh" else bool)
        matmul, add, subtract, multiply = xp.matmul, xp.add, xp.subtract, xp.multiply
        relu, weight_hh = self.nonlinearity == "relu", self.weight_hh
        for t, prev, new, mask in reversed(walk.steps):
            if d_out is not None:
                add(d_h, d_out[t], out=d_total)
            else:
                d_total[...] = d_h
            if mask is not None:
                multiply(d_total, mask[0], out=d_total)
            if relu:
                xp.greater(states[new], 0, out=slope)
            else:
                multiply(states[new], states[new], out=slope)
                subtract(1, slope, out=slope)
            multiply(d_total, slope, out=d_pre[t])
            matmul(d_pre[t], weight_hh, out=d_h_next)
            if mask is not None:
                xp.copyto(d_h_next, d_h, where=mask[1])
            d_h, d_h_next = d_h_next, d_h
        flat = d_pre.reshape(steps * batch, h)
        grads = {}
        if need_weights.get("weight_ih"):
            grads["weight_ih"] = flat.T @ x.reshape(steps * batch, -1)
        if need_weights.get("weight_hh"):
            grads["weight_hh"] = flat.T @ walk.prev(states).reshape(steps * batch, h)
        if need_weights.get("bias_ih") or need_weights.get("bias_hh"):
            grads["bias_ih"] = grads["bias_hh"] = flat.sum(axis=0)
        dx = (flat @ self.weight_ih).reshape(steps, batch, -1) if need_x else None
        return dx, (d_h,), grads
