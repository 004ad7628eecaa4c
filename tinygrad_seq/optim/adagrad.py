"""Adagrad: per-coordinate learning rates from the sum of all past squared gradients."""
from ..checks import in_range
from .optimizer import Optimizer, buffer


class Adagrad(Optimizer):
    """Adagrad (Duchi et al., 2011), as ``torch.optim.Adagrad``; for each parameter ``p`` at
    step t::

        g = grad + weight_decay * p
        s = s + g * g                       (s starts at initial_accumulator_value)
        p = p - lr / (1 + (t - 1) * lr_decay) * g / (sqrt(s) + eps)

    State: ``step`` (t) and ``sum`` (s), made on a parameter's first step (PyTorch makes them
    in the constructor; the trajectory is the same).

    >>> import tinygrad_seq as tg
    >>> w = tg.nn.Parameter(tg.tensor([1.0]))
    >>> opt = tg.optim.Adagrad([w], lr=0.5)
    >>> w.grad = tg.tensor([3.0]); opt.step()
    >>> round(w.item(), 4)   # 1 - 0.5 * 3 / sqrt(9)
    0.5
    """

    STATE_NAMES = ("step", "sum")

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10):
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      eps=eps))

    def _checked(self, hyper, owner):
        return dict(lr=in_range(owner, "lr", hyper["lr"]),
                    lr_decay=in_range(owner, "lr_decay", hyper["lr_decay"]),
                    weight_decay=in_range(owner, "weight_decay", hyper["weight_decay"]),
                    initial_accumulator_value=in_range(owner, "initial_accumulator_value",
                                                       hyper["initial_accumulator_value"]),
                    eps=in_range(owner, "eps", hyper["eps"]))

    def _state_names(self, group):
        return self.STATE_NAMES

    def _update(self, param, grad, state, group, xp):
        lr, weight_decay = group["lr"], group["weight_decay"]
        step = state["step"] = state.get("step", 0) + 1
        total = buffer(state, "sum", param, xp, group["initial_accumulator_value"])
        if weight_decay != 0:
            grad = grad + weight_decay * param
        decayed_lr = lr / (1 + (step - 1) * group["lr_decay"])
        total += grad * grad
        denom = xp.sqrt(total)
        denom += group["eps"]
        param += (-decayed_lr) * grad / denom
