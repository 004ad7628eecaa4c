"""Initialisers: each fills a parameter in place and returns it, as ``torch.nn.init`` does.

The values are drawn on the host, from the CPU's random stream (``tg.manual_seed``), whatever
the parameter's device, then copied to it: one seed gives the same initial weights on the CPU
and on a GPU (whose own stream, CuPy's, draws other numbers).

>>> import tinygrad_seq as tg
>>> w = tg.nn.Parameter(tg.zeros(8, 4))
>>> _ = tg.nn.init.xavier_uniform_(w)
>>> bool((w.abs() <= (6 / 12) ** 0.5).all())
True
"""
import math

import numpy as np

from .. import backend

_GAINS = {"linear": 1.0, "sigmoid": 1.0, "tanh": 5.0 / 3.0, "relu": math.sqrt(2.0)}


def calculate_gain(nonlinearity, param=None):
    """The recommended scale of weights before ``nonlinearity`` (PyTorch's values);
    ``param`` is leaky_relu's negative slope (0.01 when None)."""
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1.0 + slope ** 2))
    if nonlinearity not in _GAINS:
        raise ValueError(f"calculate_gain: unknown nonlinearity {nonlinearity!r}, expected one of "
                         f"{sorted(_GAINS) + ['leaky_relu']}")
    return _GAINS[nonlinearity]


def _fans(p):
    if p.ndim < 2:
        raise ValueError(f"fan in/out needs a weight of at least 2 axes, got shape {p.shape}")
    receptive = math.prod(p.shape[2:])
    return p.shape[1] * receptive, p.shape[0] * receptive


def _fill(p, host):
    """``p`` holds the host array ``host`` in its dtype, on its device."""
    data = host.astype(p.dtype, copy=False)
    if p.device != "cpu":
        with backend.on(p.device):
            data = backend.xp_of(p.device).asarray(data)
    p.data = data
    return p


def _draw(p, kind):
    gen = backend.generator("cpu")  # the host's stream for every device: see the module's doc
    dtype = p.dtype if p.dtype.itemsize >= 4 else backend.float32
    return gen.uniform(p.shape, dtype) if kind == "uniform" else gen.normal(p.shape, dtype)


def uniform_(p, a=0.0, b=1.0):
    """Samples of U(a, b)."""
    return _fill(p, _draw(p, "uniform") * (b - a) + a)


def normal_(p, mean=0.0, std=1.0):
    """Samples of N(mean, std²)."""
    return _fill(p, _draw(p, "normal") * std + mean)


def constant_(p, value):
    return _fill(p, np.full(p.shape, value, dtype=p.dtype))


def zeros_(p):
    return constant_(p, 0.0)


def ones_(p):
    return constant_(p, 1.0)


def xavier_uniform_(p, gain=1.0):
    """Glorot: U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(p)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(p, -bound, bound)


def xavier_normal_(p, gain=1.0):
    fan_in, fan_out = _fans(p)
    return normal_(p, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def kaiming_uniform_(p, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """He: U(-b, b) with b = gain * sqrt(3 / fan), fan chosen by ``mode``; PyTorch's arguments
    (``a``: the negative slope of leaky_relu, 0 giving relu's gain sqrt(2))."""
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / _fan(p, mode))
    return uniform_(p, -bound, bound)


def kaiming_normal_(p, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """He: N(0, (gain / sqrt(fan))²), arguments as ``kaiming_uniform_``."""
    return normal_(p, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(_fan(p, mode)))


def _fan(p, mode):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    return _fans(p)[0 if mode == "fan_in" else 1]


def orthogonal_(p, gain=1.0, blocks=1):
    """A (semi-)orthogonal matrix times ``gain``; with ``blocks=k`` the rows are cut into k equal
    gate blocks and each is made orthogonal on its own (``blocks=4`` for an LSTM's
    ``weight_hh``: one orthogonal matrix per gate, as recurrent weights want)."""
    if p.ndim != 2:
        raise ValueError(f"orthogonal_: needs a 2-axis weight, got shape {p.shape}")
    rows, cols = p.shape
    if blocks < 1 or rows % blocks:
        raise ValueError(f"orthogonal_: {rows} rows do not split into {blocks} equal blocks")
    size = rows // blocks
    parts = []
    for _ in range(blocks):
        a = backend.generator("cpu").normal((max(size, cols), min(size, cols)), backend.float64)
        q, r = np.linalg.qr(a)
        q = q * np.sign(np.diagonal(r))  # makes the result uniformly distributed (Mezzadri)
        parts.append(q if size >= cols else q.T)
    return _fill(p, np.concatenate(parts, axis=0) * gain)
