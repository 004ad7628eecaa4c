"""SGD: stochastic gradient descent with optional (Nesterov) momentum and weight decay."""
from ..checks import flag, in_range
from .optimizer import Optimizer


class SGD(Optimizer):
    """Stochastic gradient descent, as ``torch.optim.SGD``; for each parameter ``p``::

        g = grad + weight_decay * p
        b = g on the first step, then momentum * b + (1 - dampening) * g   (momentum != 0)
        g = g + momentum * b if nesterov else b                            (momentum != 0)
        p = p - lr * g

    State: ``momentum_buffer`` (b), only when ``momentum != 0``.

    >>> import tinygrad_seq as tg
    >>> w = tg.nn.Parameter(tg.tensor([1.0]))
    >>> opt = tg.optim.SGD([w], lr=0.1, momentum=0.9)
    >>> for _ in range(2):
    ...     opt.zero_grad(); (w * w).sum().backward(); opt.step()
    >>> round(w.item(), 4)   # 1 - 0.1*2 = 0.8, then 0.8 - 0.1*(0.9*2 + 1.6) = 0.46
    0.46
    """

    STATE_NAMES = ("momentum_buffer",)

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    def _checked(self, hyper, owner):
        checked = dict(lr=in_range(owner, "lr", hyper["lr"]),
                       momentum=in_range(owner, "momentum", hyper["momentum"]),
                       dampening=in_range(owner, "dampening", hyper["dampening"], 0.0, 1.0,
                                          include_high=True),
                       weight_decay=in_range(owner, "weight_decay", hyper["weight_decay"]),
                       nesterov=flag(owner, "nesterov", hyper["nesterov"]))
        if checked["nesterov"] and (checked["momentum"] == 0 or checked["dampening"] != 0):
            raise ValueError(f"{owner}: nesterov momentum needs momentum > 0 and dampening 0, "
                             f"got momentum={hyper['momentum']!r}, "
                             f"dampening={hyper['dampening']!r}")
        return checked

    def _state_names(self, group):
        return ("momentum_buffer",) if group["momentum"] != 0 else ()

    def _update(self, param, grad, state, group, xp):
        lr, momentum, weight_decay = group["lr"], group["momentum"], group["weight_decay"]
        if weight_decay != 0:
            grad = grad + weight_decay * param
        if momentum != 0:
            velocity = state.get("momentum_buffer")
            if velocity is None:  # PyTorch starts the buffer at the first gradient, not at zero
                velocity = state["momentum_buffer"] = xp.array(grad, copy=True)
            else:
                velocity *= momentum
                velocity += (1 - group["dampening"]) * grad
            grad = grad + momentum * velocity if group["nesterov"] else velocity
        param -= lr * grad
