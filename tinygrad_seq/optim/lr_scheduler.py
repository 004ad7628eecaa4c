"""Learning-rate schedules: each writes ``group["lr"]`` of an optimizer from a closed form of
the epoch, as ``torch.optim.lr_scheduler``'s closed forms.

>>> import tinygrad_seq as tg
>>> opt = tg.optim.SGD([tg.nn.Parameter(tg.zeros(1))], lr=1.0)
>>> schedule = tg.optim.StepLR(opt, step_size=2, gamma=0.5)
>>> lrs = []
>>> for epoch in range(5):
...     lrs.append(opt.param_groups[0]["lr"])   # ... train an epoch with this lr ...
...     schedule.step()
>>> lrs
[1.0, 1.0, 0.5, 0.5, 0.25]
"""
import math

from ..checks import count, in_range, integer
from .optimizer import Optimizer


class LRScheduler:
    """Base of the schedules. The base lr of each group is its ``lr`` when the schedule is
    made; ``step()`` advances ``last_epoch`` by one and sets every group's lr to
    ``_lr_at(base_lr, last_epoch)``. Construction is epoch 0 (the base lrs).

    Unlike PyTorch's chained updates, the closed form overwrites the lr each step, so two
    schedules on one optimizer do not compose (the last to step wins) and the lr never drifts
    by rounding. A subclass names its hyperparameters in ``HYPERPARAMETERS``, checks them in
    ``_checked(hyper)`` and implements ``_lr_at``.
    """

    HYPERPARAMETERS = ()

    def __init__(self, optimizer, **hyper):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__}: expected a tg.optim optimizer, got "
                            f"{type(optimizer).__name__}")
        self.optimizer = optimizer
        self.__dict__.update(self._checked(hyper, type(self).__name__))
        self.base_lrs = [group["lr"] for group in optimizer.param_groups]
        self.last_epoch = 0
        self._apply()

    def _checked(self, hyper, owner):
        raise NotImplementedError(f"{type(self).__name__} does not check its hyperparameters")

    def _lr_at(self, base_lr, epoch):
        raise NotImplementedError(f"{type(self).__name__} has no closed form")

    def step(self):
        """Advance one epoch and write the new lr into every param group."""
        self.last_epoch += 1
        self._apply()

    def get_last_lr(self):
        """The lr of each param group as this schedule last set it."""
        return list(self._last_lr)

    def _apply(self):
        groups = self.optimizer.param_groups
        if len(groups) != len(self.base_lrs):
            raise RuntimeError(f"{type(self).__name__}: the optimizer has {len(groups)} param "
                               f"groups but the schedule was made for {len(self.base_lrs)}; make "
                               f"the schedule after the last add_param_group")
        self._last_lr = [self._lr_at(base, self.last_epoch) for base in self.base_lrs]
        for group, lr in zip(groups, self._last_lr):
            group["lr"] = lr

    def state_dict(self):
        """``{"last_epoch": int, "base_lrs": [...], "last_lr": [...], <hyperparameters>}``,
        plain numbers (the optimizer is not in it)."""
        return {"last_epoch": self.last_epoch, "base_lrs": list(self.base_lrs),
                "last_lr": list(self._last_lr),
                **{name: getattr(self, name) for name in self.HYPERPARAMETERS}}

    def load_state_dict(self, state_dict):
        """Restore a ``state_dict()``, all checked before anything changes. As in PyTorch the
        optimizer's lrs are not touched: load the optimizer's state dict too (it holds them)."""
        owner = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, dict):
            raise TypeError(f"{owner}: expected a dict, got {type(state_dict).__name__}")
        expected = {"last_epoch", "base_lrs", "last_lr", *self.HYPERPARAMETERS}
        missing = sorted(expected - set(state_dict))
        unexpected = sorted(map(str, set(state_dict) - expected))
        if missing or unexpected:
            raise ValueError(f"{owner}: missing {missing}, unexpected {unexpected}; nothing was "
                             f"loaded")
        hyper = self._checked({name: state_dict[name] for name in self.HYPERPARAMETERS}, owner)
        last_epoch = count(owner, "last_epoch", state_dict["last_epoch"])
        lists = {}
        for name in ("base_lrs", "last_lr"):
            values = state_dict[name]
            if not isinstance(values, (list, tuple)) or len(values) != len(self.base_lrs):
                raise ValueError(f"{owner}: {name} must be a list of {len(self.base_lrs)} lrs (one "
                                 f"a param group), got {values!r}; nothing was loaded")
            lists[name] = [in_range(owner, f"{name}[{k}]", v) for k, v in enumerate(values)]
        self.__dict__.update(hyper)
        self.last_epoch, self.base_lrs, self._last_lr = last_epoch, lists["base_lrs"], lists["last_lr"]


class StepLR(LRScheduler):
    """lr = base_lr * gamma ** (epoch // step_size): decay by ``gamma`` every ``step_size``
    epochs, as ``torch.optim.lr_scheduler.StepLR``.

    >>> import tinygrad_seq as tg
    >>> opt = tg.optim.SGD([tg.nn.Parameter(tg.zeros(1))], lr=0.1)
    >>> schedule = tg.optim.StepLR(opt, step_size=3)
    >>> for _ in range(3): schedule.step()
    >>> [round(lr, 6) for lr in schedule.get_last_lr()]
    [0.01]
    """

    HYPERPARAMETERS = ("step_size", "gamma")

    def __init__(self, optimizer, step_size, gamma=0.1):
        super().__init__(optimizer, step_size=step_size, gamma=gamma)

    def _checked(self, hyper, owner):
        return dict(step_size=integer(owner, "step_size", hyper["step_size"]),
                    gamma=in_range(owner, "gamma", hyper["gamma"]))

    def _lr_at(self, base_lr, epoch):
        return base_lr * self.gamma ** (epoch // self.step_size)


class ExponentialLR(LRScheduler):
    """lr = base_lr * gamma ** epoch, as ``torch.optim.lr_scheduler.ExponentialLR``.

    >>> import tinygrad_seq as tg
    >>> opt = tg.optim.SGD([tg.nn.Parameter(tg.zeros(1))], lr=1.0)
    >>> schedule = tg.optim.ExponentialLR(opt, gamma=0.5)
    >>> schedule.step(); schedule.step()
    >>> opt.param_groups[0]["lr"]
    0.25
    """

    HYPERPARAMETERS = ("gamma",)

    def __init__(self, optimizer, gamma):
        super().__init__(optimizer, gamma=gamma)

    def _checked(self, hyper, owner):
        return dict(gamma=in_range(owner, "gamma", hyper["gamma"]))

    def _lr_at(self, base_lr, epoch):
        return base_lr * self.gamma ** epoch


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2 (Loshchilov &
    Hutter's SGDR without restarts), PyTorch's closed form: from base_lr at epoch 0 down to
    ``eta_min`` at ``T_max``; past ``T_max`` it rises again along the cosine, as PyTorch's does.

    >>> import tinygrad_seq as tg
    >>> opt = tg.optim.SGD([tg.nn.Parameter(tg.zeros(1))], lr=1.0)
    >>> schedule = tg.optim.CosineAnnealingLR(opt, T_max=4)
    >>> for _ in range(2): schedule.step()
    >>> round(opt.param_groups[0]["lr"], 6)   # halfway
    0.5
    """

    HYPERPARAMETERS = ("T_max", "eta_min")

    def __init__(self, optimizer, T_max, eta_min=0.0):
        super().__init__(optimizer, T_max=T_max, eta_min=eta_min)

    def _checked(self, hyper, owner):
        return dict(T_max=integer(owner, "T_max", hyper["T_max"]),
                    eta_min=in_range(owner, "eta_min", hyper["eta_min"]))

    def _lr_at(self, base_lr, epoch):
        return self.eta_min + (base_lr - self.eta_min) * (
            1 + math.cos(math.pi * epoch / self.T_max)) / 2
