"""Adam and AdamW: adaptive moment estimation, with L2 or decoupled weight decay."""
from ..checks import betas, flag, in_range
from .optimizer import Optimizer, buffer


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015), as ``torch.optim.Adam``; for each parameter ``p`` at step t::

        g = grad + weight_decay * p                  (AdamW instead: p = p * (1 - lr * wd))
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        v_max = max(v_max, v)                        (amsgrad; then v_max replaces v below)
        p = p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    State: ``step`` (t), ``exp_avg`` (m), ``exp_avg_sq`` (v), ``max_exp_avg_sq`` (amsgrad).

    >>> import tinygrad_seq as tg
    >>> w = tg.nn.Parameter(tg.tensor([1.0, -1.0]))
    >>> opt = tg.optim.Adam([w], lr=0.1)
    >>> (w * w).sum().backward(); opt.step()
    >>> [round(v, 4) for v in w.tolist()]   # the first step moves each weight by about lr
    [0.9, -0.9]
    """

    STATE_NAMES = ("step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    _decoupled_weight_decay = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad))

    def _checked(self, hyper, owner):
        return dict(lr=in_range(owner, "lr", hyper["lr"]),
                    betas=betas(owner, hyper["betas"]),
                    eps=in_range(owner, "eps", hyper["eps"]),
                    weight_decay=in_range(owner, "weight_decay", hyper["weight_decay"]),
                    amsgrad=flag(owner, "amsgrad", hyper["amsgrad"]))

    def _state_names(self, group):
        return self.STATE_NAMES if group["amsgrad"] else self.STATE_NAMES[:3]

    def _update(self, param, grad, state, group, xp):
        lr, (beta1, beta2), weight_decay = group["lr"], group["betas"], group["weight_decay"]
        step = state["step"] = state.get("step", 0) + 1
        exp_avg = buffer(state, "exp_avg", param, xp)
        exp_avg_sq = buffer(state, "exp_avg_sq", param, xp)
        if weight_decay != 0:
            if self._decoupled_weight_decay:
                param *= 1 - lr * weight_decay
            else:
                grad = grad + weight_decay * param
        # The order of PyTorch's in-place ops, so float32 trajectories agree to rounding; every
        # intermediate in one of two scratch arrays (``out=``), not a new array per operation
        scratch, denom = xp.empty_like(param), xp.empty_like(param)
        exp_avg += xp.multiply(xp.subtract(grad, exp_avg, out=scratch), 1 - beta1, out=scratch)
        exp_avg_sq *= beta2
        exp_avg_sq += xp.multiply(xp.multiply(grad, 1 - beta2, out=scratch), grad, out=scratch)
        second_moment = exp_avg_sq
        if group["amsgrad"]:
            second_moment = buffer(state, "max_exp_avg_sq", param, xp)
            xp.maximum(second_moment, exp_avg_sq, out=second_moment)
        bias_correction1 = 1 - beta1 ** step
        bias_correction2_sqrt = (1 - beta2 ** step) ** 0.5
        xp.divide(xp.sqrt(second_moment, out=denom), bias_correction2_sqrt, out=denom)
        denom += group["eps"]
        param += xp.divide(xp.multiply(exp_avg, -lr / bias_correction1, out=scratch), denom,
                           out=scratch)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019), as ``torch.optim.AdamW``:
    the weights shrink by ``lr * weight_decay`` of themselves each step, outside the adaptive
    scaling, instead of the decay being added to the gradient. The update is otherwise Adam's.

    >>> import tinygrad_seq as tg
    >>> w = tg.nn.Parameter(tg.tensor([1.0]))
    >>> opt = tg.optim.AdamW([w], lr=0.1, weight_decay=0.5)
    >>> w.grad = tg.zeros(1); opt.step()
    >>> round(w.item(), 4)   # a zero gradient: only the decay, 1 * (1 - 0.1 * 0.5)
    0.95
    """

    _decoupled_weight_decay = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad)
