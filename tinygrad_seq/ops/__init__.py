"""The primitive ops, one family a file, and the public functions that apply them."""
from .elementwise import (neg, add, sub, mul, div, pow, exp, log, sqrt, abs, sin, cos, tanh,
                          sigmoid, relu, maximum, minimum, clip, where, astype, less, less_equal,
                          greater, greater_equal, equal, not_equal)
from .reduce import sum, mean, max, min, var, logsumexp, cumsum, argmax, argmin, all, any
from .movement import (reshape, flatten, permute, transpose, swapaxes, broadcast_to, squeeze,
                       unsqueeze, concatenate, stack, split, chunk, unbind, flip, pad, clone,
                       to_device)
from .indexing import getitem, take, gather, masked_fill, one_hot
from .sorting import sort, argsort, topk
from .sampling import multinomial
from .linalg import matmul, linear
from .nn import softmax, log_softmax, softmax_cross_entropy, dropout
