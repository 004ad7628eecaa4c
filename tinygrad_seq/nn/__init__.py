"""Neural-network layer: modules, layers, recurrent cells and sequence layers, attention, losses.

>>> import tinygrad_seq as tg
>>> net = tg.nn.Sequential(tg.nn.Linear(3, 4), tg.nn.ReLU(), tg.nn.Linear(4, 1))
>>> net(tg.randn(2, 3)).shape
(2, 1)
"""
from . import functional, init
from .module import Module, Parameter, Sequential, ModuleList
from .layers import (Linear, Embedding, Dropout, LayerNorm, Tanh, ReLU, Sigmoid, Softmax,
                     LogSoftmax)
from .loss_modules import CrossEntropyLoss, MSELoss, BCEWithLogitsLoss
from . import utils
from .cells import RecurrentCell, RNNCell, LSTMCell, GRUCell
from .recurrent import Recurrent, RNN, LSTM, GRU
from .attention import AdditiveAttention, DotAttention, GeneralAttention
