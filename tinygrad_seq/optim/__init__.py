"""Optimizers, gradient clipping and learning-rate schedules, as ``torch.optim`` (with the
clipping of ``torch.nn.utils``).

A training step: forget the old gradients, back-propagate, clip, update; a schedule sets the
lr once an epoch (here once a step).

>>> import tinygrad_seq as tg
>>> tg.manual_seed(0)
>>> model = tg.nn.Linear(3, 1)
>>> x = tg.randn(64, 3)
>>> y = x @ tg.tensor([[2.0], [-1.0], [0.5]]) + 0.3
>>> opt = tg.optim.Adam(model.parameters(), lr=0.1)
>>> schedule = tg.optim.StepLR(opt, step_size=100, gamma=0.5)
>>> for step in range(300):
...     loss = ((model(x) - y) ** 2).mean()
...     opt.zero_grad()
...     loss.backward()
...     norm = tg.optim.clip_grad_norm_(model.parameters(), max_norm=10.0)
...     opt.step()
...     schedule.step()
>>> loss.item() < 1e-4
True

Every optimizer keeps PyTorch's update formulas, argument names and defaults, so trajectories
match ``torch.optim`` to float32 rounding; ``state_dict()`` is PyTorch's layout with string keys
(``tg.save`` writes it).
"""
from .optimizer import Optimizer
from .sgd import SGD
from .adam import Adam, AdamW
from .rmsprop import RMSprop
from .adagrad import Adagrad
from .clip import clip_grad_norm_, clip_grad_value_
from . import lr_scheduler
from .lr_scheduler import LRScheduler, StepLR, ExponentialLR, CosineAnnealingLR

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "clip_grad_norm_",
           "clip_grad_value_", "lr_scheduler", "LRScheduler", "StepLR", "ExponentialLR",
           "CosineAnnealingLR"]
