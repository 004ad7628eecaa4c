"""One Elman RNN direction (tanh or relu) over a whole sequence, forward and BPTT::

    h' = f(W_ih x + b_ih + W_hh h + b_hh)

Backward needs only the hidden states: tanh' = 1 - h'^2, and relu' = (h' > 0), which is
(pre-activation > 0) as ``Relu``'s backward has it. Arrays are feature-major (``walk.py``).
On the CPU with Numba (``tinygrad_seq/cpu_loops.py``) a step's elementwise work is one compiled loop.
"""
from itertools import repeat

from ... import backend
from .walk import ByTime, affine_gradients


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
        dot, add, weight_hh, relu = xp.dot, xp.add, self.weight_hh, self.relu
        recurrent = xp.empty((self.hidden, batch), x.dtype)
        on = walk.forward
        loops = backend.cpu_loops(xp, x.dtype)
        step = None if loops is None else loops.rnn_forward
        for x_t, h_prev, h_new, mask in zip(on(pre), on(walk.prev(states)), on(walk.next(states)),
                                             walk.masks):
            dot(weight_hh, h_prev, out=recurrent)
            if step is not None:
                step(x_t, recurrent, h_new, relu)
            elif relu:
                add(x_t, recurrent, out=recurrent)
                xp.maximum(recurrent, 0, out=h_new)
            else:
                add(x_t, recurrent, out=recurrent)
                xp.tanh(recurrent, out=h_new)
            if mask is not None:
                xp.copyto(h_new, h_prev, where=mask[1])
        return states

    def final_state(self, walk):
        return (self.states[walk.last],)

    def backward(self, x, d_out, d_state, walk, dx_layout, need_weights):
        """BPTT; arguments and result as ``LSTMKernel.backward`` (the state is (h,))."""
        xp = self.xp
        steps, batch, states = self.steps, self.batch, self.states
        consume = affine_gradients(xp, x, states, walk, self.weight_ih, need_weights, dx_layout)
        d_pre = ByTime(xp, self.hidden, steps, batch, states.dtype, walk, consume, dx_layout)
        d_h, d_h_next = d_state[0].copy(), xp.empty(d_state[0].shape, d_state[0].dtype)
        d_total = xp.empty_like(d_h)
        slope = xp.empty(d_h.shape, bool if self.relu else d_h.dtype)
        dot, add, subtract, multiply = xp.dot, xp.add, xp.subtract, xp.multiply
        relu, weight_hh_t = self.relu, xp.ascontiguousarray(self.weight_hh.T)
        back = walk.backward
        one_ = xp.asarray(1, d_h.dtype)   # 0-d: no Python int converted at every call
        loops = backend.cpu_loops(xp, states.dtype)
        step = None if loops is None else loops.rnn_backward
        for h_new, d_o, mask in zip(back(walk.next(states)),
                                    repeat(None) if d_out is None else back(d_out),
                                    reversed(walk.masks)):
            d_step = d_pre.block()
            if step is not None:
                if mask is None:
                    step(h_new, d_h, d_o, relu, d_step)
                else:   # the mask's scale is 0 or 1: scaling the terms is scaling their sum
                    step(h_new, d_h * mask[0], None if d_o is None else d_o * mask[0], relu,
                         d_step)
            else:
                if d_o is not None:
                    add(d_h, d_o, out=d_total)
                else:
                    xp.copyto(d_total, d_h)
                if mask is not None:
                    multiply(d_total, mask[0], out=d_total)
                if relu:
                    xp.greater(h_new, 0, out=slope)
                else:
                    multiply(h_new, h_new, out=slope)
                    subtract(one_, slope, out=slope)
                multiply(d_total, slope, out=d_step)
            dot(weight_hh_t, d_step, out=d_h_next)
            if mask is not None:
                xp.copyto(d_h_next, d_h, where=mask[1])
            d_h, d_h_next = d_h_next, d_h
        grads, dx = d_pre.result()
        if "bias" in grads:
            grads["bias_ih"] = grads["bias_hh"] = grads.pop("bias")
        return dx, (d_h,), grads
