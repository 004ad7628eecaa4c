"""Compiled loops for the CPU (Numba): tanh and sigmoid, and the elementwise work of a
recurrent step (LSTM, GRU, RNN) as one loop.

NumPy's float32 tanh costs several nanoseconds an element here, and the fused kernels
(``nn/fused/``) spent a step's elementwise work in up to ten array operations forward and
seven backward, each a call and a pass: at small sizes the calls cost, at large ones tanh did.
Each step loop runs over the H * B cells once, reading the gates and writing every result:
the NumPy kernels' arithmetic (the LSTM's BPTT factors made per element, not stored). tanh
for float32 is a rational approximation that LLVM vectorises, within 5 units in the last place
(tests/test_cpu_loops.py); float64 uses the C library's tanh, so the float64 gradient checks
test the loops' arithmetic to float64 precision. Matrix products stay NumPy's (OpenBLAS).

``backend.cpu_loops(xp, dtype)`` gives this module where it runs (NumPy arrays of float32 or
float64, Numba installed, ``TINYGRAD_SEQ_CPU_LOOPS`` not ``0``: the tests run both ways); the
first call of each signature compiles it (cached on disk beside this file).
"""
import numba
import numpy as np
from numba.core import types
from numba.extending import overload


def _jit(function):
    """Compiled on first call and cached on disk (beside this file, or in the user's cache);
    where no cache directory is writable Numba refuses to cache: then compiled in each process."""
    options = dict(error_model="numpy", fastmath={"contract"}, nogil=True)
    try:
        return numba.njit(cache=True, **options)(function)
    except RuntimeError:
        return numba.njit(**options)(function)


# tanh on [-7.9053, 7.9053] as p(x) / q(x) (the minimax fit of Eigen's float tanh), held
# at its value there up to 9.02, beyond which float32's tanh rounds to +-1; below 4e-4
# tanh(x) rounds to x. Within 5 units in the last place (tests/test_cpu_loops.py).
_CLAMP = np.float32(7.90531110763549805)
_ONE_BEYOND = np.float32(9.02)
_P = tuple(np.float32(c) for c in (
    -2.76076847742355e-16, 2.00018790482477e-13, -8.60467152213735e-11,
    5.12229709037114e-08, 1.48572235717979e-05, 6.37261928875436e-04, 4.89352455891786e-03))
_Q = tuple(np.float32(c) for c in (
    1.19825839466702e-06, 1.18534705686654e-04, 2.26843463243900e-03, 4.89352518554385e-03))
_TINY = np.float32(0.0004)


def tanh(x):   # pragma: no cover - replaced inside compiled code by the overload below
    return np.tanh(x)


@numba.njit(error_model="numpy", fastmath={"contract"})
def _tanh32(x):
    v = _CLAMP if x > _CLAMP else x            # NaN passes through both comparisons
    v = -_CLAMP if v < -_CLAMP else v
    v2 = v * v
    p = _P[0]
    p = p * v2 + _P[1]
    p = p * v2 + _P[2]
    p = p * v2 + _P[3]
    p = p * v2 + _P[4]
    p = p * v2 + _P[5]
    p = p * v2 + _P[6]
    q = _Q[0]
    q = q * v2 + _Q[1]
    q = q * v2 + _Q[2]
    q = q * v2 + _Q[3]
    r = p * v / q
    r = np.float32(1) if x > _ONE_BEYOND else r
    r = np.float32(-1) if x < -_ONE_BEYOND else r
    return x if abs(x) < _TINY else r


@overload(tanh)
def _tanh_overload(x):
    if isinstance(x, types.Float) and x.bitwidth == 32:
        return lambda x: _tanh32(x)
    return lambda x: np.tanh(x)


@_jit
def tanh_into(x, out):
    """out = tanh(x) (contiguous arrays of one shape)."""
    n = x.size
    x, out = x.reshape(n), out.reshape(n)
    for k in range(n):
        out[k] = tanh(x[k])


@_jit
def sigmoid_into(x, out):
    """out = σ(x) = tanh(x / 2) / 2 + 1 / 2 (contiguous arrays of one shape), as the Sigmoid
    op computes it."""
    n = x.size
    x, out = x.reshape(n), out.reshape(n)
    half = x.dtype.type(0.5)
    for k in range(n):
        out[k] = tanh(x[k] * half) * half + half


@_jit
def lstm_forward(block, recurrent, c_prev, c, h):
    """block (5, H, B): the gates' inputs o, i, f, g (the sigmoid ones halved) on entry;
    on return the gates o, i, f, g and tanh(c). recurrent (4H, B): W_hh h_prev (halved
    rows likewise). Writes c = f c_prev + i g and h = o tanh(c). All contiguous: one loop
    over the H * B cells (a loop over B alone would not fill a vector at small batches)."""
    n = c.size
    gates, rec = block.reshape(5, n), recurrent.reshape(4, n)
    c_prev, c, h = c_prev.reshape(n), c.reshape(n), h.reshape(n)
    half = block.dtype.type(0.5)
    for k in range(n):
        o = tanh(gates[0, k] + rec[0, k]) * half + half
        i = tanh(gates[1, k] + rec[1, k]) * half + half
        f = tanh(gates[2, k] + rec[2, k]) * half + half
        g = tanh(gates[3, k] + rec[3, k])
        cell = f * c_prev[k] + i * g
        tc = tanh(cell)
        gates[0, k] = o
        gates[1, k] = i
        gates[2, k] = f
        gates[3, k] = g
        gates[4, k] = tc
        c[k] = cell
        h[k] = o * tc


@_jit
def lstm_backward(block, c_prev, d_h, d_o, d_c, d_gates, d_c_next):
    """One BPTT step from the forward's block (o, i, f, g, tanh(c)) and c_prev. d_h: the
    gradient from the next step; d_o: the output's at this step, or None; d_c: the cell's
    from the next step (a masked step passes them scaled). Writes d_gates (4H, B) (o, i,
    f, g, with respect to the gates' inputs) and d_c_next, the gradient of c_prev."""
    if d_o is None:
        _lstm_backward(block, c_prev, d_h, d_h, False, d_c, d_gates, d_c_next)
    else:
        _lstm_backward(block, c_prev, d_h, d_o, True, d_c, d_gates, d_c_next)


@_jit
def _lstm_backward(block, c_prev, d_h, d_o, with_output, d_c, d_gates, d_c_next):
    n = d_c.size
    gates, dg = block.reshape(5, n), d_gates.reshape(4, n)
    c_prev, d_h, d_o = c_prev.reshape(n), d_h.reshape(n), d_o.reshape(n)
    d_c, d_c_next = d_c.reshape(n), d_c_next.reshape(n)
    one = d_c.dtype.type(1)
    for k in range(n):
        dh = d_h[k] + d_o[k] if with_output else d_h[k]
        o = gates[0, k]
        i = gates[1, k]
        f = gates[2, k]
        g = gates[3, k]
        tc = gates[4, k]
        dc = o * (one - tc * tc) * dh + d_c[k]
        dg[0, k] = tc * o * (one - o) * dh
        dg[1, k] = g * i * (one - i) * dc
        dg[2, k] = c_prev[k] * f * (one - f) * dc
        dg[3, k] = i * (one - g * g) * dc
        d_c_next[k] = dc * f


@_jit
def rnn_forward(pre, recurrent, h, relu):
    """h = f(pre + recurrent), f tanh or relu; (H, B) each, contiguous."""
    n = h.size
    pre, recurrent, h = pre.reshape(n), recurrent.reshape(n), h.reshape(n)
    zero = h.dtype.type(0)
    for k in range(n):
        v = pre[k] + recurrent[k]
        if relu:
            h[k] = zero if v < zero else v          # NaN stays NaN, as np.maximum has it
        else:
            h[k] = tanh(v)


@_jit
def rnn_backward(h, d_h, d_o, relu, d_pre):
    """d_pre = (d_h + d_o) f'(pre) from the step's output h (d_o None: d_h alone)."""
    if d_o is None:
        _rnn_backward(h, d_h, d_h, False, relu, d_pre)
    else:
        _rnn_backward(h, d_h, d_o, True, relu, d_pre)


@_jit
def _rnn_backward(h, d_h, d_o, with_output, relu, d_pre):
    n = h.size
    h, d_h, d_o, d_pre = h.reshape(n), d_h.reshape(n), d_o.reshape(n), d_pre.reshape(n)
    zero, one = h.dtype.type(0), h.dtype.type(1)
    for k in range(n):
        dh = d_h[k] + d_o[k] if with_output else d_h[k]
        if relu:
            d_pre[k] = dh * (one if h[k] > zero else zero)   # inf * 0 is NaN, as in NumPy
        else:
            d_pre[k] = dh * (one - h[k] * h[k])


@_jit
def gru_forward(block, recurrent, kept, h_prev, h):
    """reset_after: block (3, H, B) the input projections r, z (halved), n on entry, the
    gates r, z, n on return; recurrent (2H, B): W_hr h, W_hz h (halved); kept (H, B):
    h_n = W_hn h + b_hn. Writes h = n + z (h_prev - n), n = tanh(x_n + r h_n)."""
    n = h.size
    gates, rec = block.reshape(3, n), recurrent.reshape(2, n)
    kept, h_prev, h = kept.reshape(n), h_prev.reshape(n), h.reshape(n)
    half = h.dtype.type(0.5)
    for k in range(n):
        r = tanh(gates[0, k] + rec[0, k]) * half + half
        z = tanh(gates[1, k] + rec[1, k]) * half + half
        new = tanh(gates[2, k] + r * kept[k])
        gates[0, k] = r
        gates[1, k] = z
        gates[2, k] = new
        h[k] = new + z * (h_prev[k] - new)


@_jit
def gru_backward(block, kept, h_prev, d_h, d_o, d_gates, d_through_z):
    """reset_after: from the step's gates r, z, n and h_n, the gradients (d r, d z, d h_n,
    d n) of the gates' inputs into d_gates (4H, B), and d_through_z = dh z, the part of
    the gradient of h_prev that skips the products (d_o None: d_h alone)."""
    if d_o is None:
        _gru_backward(block, kept, h_prev, d_h, d_h, False, d_gates, d_through_z)
    else:
        _gru_backward(block, kept, h_prev, d_h, d_o, True, d_gates, d_through_z)


@_jit
def _gru_backward(block, kept, h_prev, d_h, d_o, with_output, d_gates, d_through_z):
    n = kept.size
    gates, dg = block.reshape(3, n), d_gates.reshape(4, n)
    kept, h_prev, d_h, d_o = kept.reshape(n), h_prev.reshape(n), d_h.reshape(n), d_o.reshape(n)
    d_through_z = d_through_z.reshape(n)
    one = kept.dtype.type(1)
    for k in range(n):
        dh = d_h[k] + d_o[k] if with_output else d_h[k]
        r = gates[0, k]
        z = gates[1, k]
        new = gates[2, k]
        through_z = dh * z
        d_new = (dh - through_z) * (one - new * new)
        dg[0, k] = d_new * kept[k] * ((one - r) * r)
        dg[1, k] = (h_prev[k] - new) * dh * ((one - z) * z)
        dg[2, k] = d_new * r
        dg[3, k] = d_new
        d_through_z[k] = through_z
