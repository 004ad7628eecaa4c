"""RMSprop: the gradient divided by a running root mean square of recent gradients."""
from ..checks import flag, in_range
from .optimizer import Optimizer, buffer


class RMSprop(Optimizer):
    """RMSprop (Hinton's lecture 6e; centered as Graves, 2013), as ``torch.optim.RMSprop``; for
    each parameter ``p``::

        g = grad + weight_decay * p
        v = alpha * v + (1 - alpha) * g * g
        a = alpha * a + (1 - alpha) * g                    (centered)
        d = sqrt(v - a * a) + eps if centered else sqrt(v) + eps
        b = momentum * b + g / d; p = p - lr * b           (momentum > 0)
        p = p - lr * g / d                                 (otherwise)

    State: ``step``, ``square_avg`` (v), ``grad_avg`` (a, centered), ``momentum_buffer`` (b).

    >>> import tinygrad_seq as tg
    >>> w = tg.nn.Parameter(tg.tensor([1.0]))
    >>> opt = tg.optim.RMSprop([w], lr=0.01)
    >>> w.grad = tg.tensor([2.0]); opt.step()
    >>> round(w.item(), 4)   # 1 - 0.01 * 2 / sqrt(0.01 * 4)
    0.9
    """

    STATE_NAMES = ("step", "square_avg", "momentum_buffer", "grad_avg")

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered))

    def _checked(self, hyper, owner):
        # alpha > 1 would weigh the new squares negatively (PyTorch only asks alpha >= 0)
        return dict(lr=in_range(owner, "lr", hyper["lr"]),
                    alpha=in_range(owner, "alpha", hyper["alpha"], 0.0, 1.0, include_high=True),
                    eps=in_range(owner, "eps", hyper["eps"]),
                    weight_decay=in_range(owner, "weight_decay", hyper["weight_decay"]),
                    momentum=in_range(owner, "momentum", hyper["momentum"]),
                    centered=flag(owner, "centered", hyper["centered"]))

    def _state_names(self, group):
        return (("step", "square_avg") + (("momentum_buffer",) if group["momentum"] > 0 else ())
                + (("grad_avg",) if group["centered"] else ()))

    def _update(self, param, grad, state, group, xp):
        lr, alpha, weight_decay = group["lr"], group["alpha"], group["weight_decay"]
        state["step"] = state.get("step", 0) + 1  # kept as PyTorch does, though the rule needs none
        square_avg = buffer(state, "square_avg", param, xp)
        if weight_decay != 0:
            grad = grad + weight_decay * param
        square_avg *= alpha
        square_avg += (1 - alpha) * grad * grad
        if group["centered"]:
            grad_avg = buffer(state, "grad_avg", param, xp)
            grad_avg += (1 - alpha) * (grad - grad_avg)
            denom = xp.sqrt(square_avg - grad_avg * grad_avg)
        else:
            denom = xp.sqrt(square_avg)
        denom += group["eps"]
        if group["momentum"] > 0:
            velocity = buffer(state, "momentum_buffer", param, xp)
            velocity *= group["momentum"]
            velocity += grad / denom
            param -= lr * velocity
        else:
            param += (-lr) * grad / denom
