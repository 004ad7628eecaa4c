"""tinygrad_seq: a small deep-learning framework for sequence models, on NumPy and CuPy.

>>> import tinygrad_seq as tg
>>> w = tg.tensor([1.0, -2.0], requires_grad=True)
>>> loss = (w * w).sum()
>>> loss.backward()
>>> w.grad.tolist()
[2.0, -4.0]
"""
from . import allocator
from .backend import (float16, float32, float64, int32, int64, bool_, manual_seed, cuda_available,
                      set_num_threads, get_num_threads)
from .autograd import Function, no_grad, enable_grad, is_grad_enabled, grad
from .tensor import Tensor, tensor
from .creation import (zeros, ones, full, arange, eye, rand, randn, randint, zeros_like,
                       ones_like, full_like, rand_like, randn_like, from_numpy)
from .ops import (neg, add, sub, mul, div, pow, exp, log, sqrt, abs, sin, cos, tanh, sigmoid,
                  relu, maximum, minimum, clip, where, astype, less, less_equal, greater,
                  greater_equal, equal, not_equal, sum, mean, max, min, var, logsumexp, cumsum,
                  argmax, argmin, all, any, reshape, flatten, permute, transpose, swapaxes,
                  broadcast_to, squeeze, unsqueeze, concatenate, stack, split, chunk, unbind, flip,
                  pad, clone, getitem, take, gather, masked_fill, one_hot, sort, argsort, topk,
                  multinomial, matmul, softmax, log_softmax, softmax_cross_entropy, dropout)
from .ops import concatenate as cat  # PyTorch's name: the same function

__version__ = "0.1.0"
from .loop import scan, ScanFallbackWarning, Untraceable
from . import loop
from . import nn
from .serialization import save, load
from . import inspect
from .anomaly import detect_anomaly, is_anomaly_enabled, AnomalyError
from . import viz
from . import optim
from . import data
from . import distributed
