"""Optimizer: the parameter groups, the checked step and the state dict that every optimizer
shares; a subclass writes only its hyperparameter checks and its update of one parameter.

A step checks every gradient (and every state buffer) against its parameter before it updates
anything, so a wrong-shaped gradient on the last parameter leaves the first one as it was.
Updates write the parameters' arrays in place (``p.data``), outside the graph, so every holder
of a Parameter sees the new values.

>>> import tinygrad_seq as tg
>>> w = tg.nn.Parameter(tg.tensor([1.0, -2.0]))
>>> opt = tg.optim.SGD([w], lr=0.1)
>>> (w * w).sum().backward()
>>> opt.step()
>>> [round(v, 4) for v in w.tolist()]
[0.8, -1.6]
"""
import copy
import numbers

from .. import autograd, backend
from ..nn.module import Parameter
from ..tensor import Tensor
from ..checks import count, plain


class Optimizer:
    """Base of the optimizers, as ``torch.optim.Optimizer``: ``param_groups``, ``state``,
    ``zero_grad()``, ``step()``, ``add_param_group()``, ``state_dict()`` and
    ``load_state_dict()``.

    ``params`` is an iterable of Parameters, or of param-group dicts (``{"params": [...],
    "lr": 0.01}``) whose missing hyperparameters come from the constructor's. A schedule (or
    you) may write ``group["lr"]`` between steps; the next step uses it.

    A subclass passes its ``defaults`` and implements ``_checked(hyper, owner)`` (validate and
    normalise the hyperparameters), ``_state_names(group)`` (the entries a parameter's state
    must hold once it has stepped; ``STATE_NAMES`` lists every entry it may hold) and
    ``_update(param, grad, state, group, xp)``, which updates the raw array ``param`` in place.

    >>> import tinygrad_seq as tg
    >>> encoder, head = tg.nn.Linear(4, 4), tg.nn.Linear(4, 2)
    >>> opt = tg.optim.SGD([{"params": encoder.parameters()},
    ...                     {"params": head.parameters(), "lr": 0.1}], lr=0.01, momentum=0.9)
    >>> [group["lr"] for group in opt.param_groups]
    [0.01, 0.1]
    """

    STATE_NAMES = ()

    def __init__(self, params, defaults):
        name = type(self).__name__
        self.defaults = self._checked(dict(defaults), name)
        self.param_groups = []
        self.state = {}  # Parameter -> {"step": int, buffer name: raw array}
        if isinstance(params, (Tensor, dict)):
            raise TypeError(f"{name}: params must be an iterable of Parameters or of param-group "
                            f"dicts (e.g. model.parameters()), got a single "
                            f"{type(params).__name__}")
        groups = _ordered(params, f"{name}: params")
        if not groups:
            raise ValueError(f"{name}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            self._add_group({"params": groups}, name)
            return
        for group in groups:
            self.add_param_group(group)

    def __repr__(self):
        lines = [f"param group {g}: {len(group['params'])} parameters, "
                 + ", ".join(f"{k}={group[k]!r}" for k in self.defaults)
                 for g, group in enumerate(self.param_groups)]
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"

    # ------------------------------------------------------------ parameter groups
    def add_param_group(self, param_group):
        """Add a group of parameters with its own hyperparameters (a new head trained with a
        larger lr, say); those it leaves out come from the constructor's. Keys other than the
        hyperparameters are kept (as in PyTorch) when they are plain data."""
        self._add_group(param_group, f"{type(self).__name__} (param group {len(self.param_groups)})")

    def _add_group(self, param_group, owner):
        if not isinstance(param_group, dict):
            raise TypeError(f"{owner}: a param group must be a dict with a 'params' entry, got "
                            f"{type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError(f"{owner}: the param group has no 'params' entry")
        params = param_group["params"]
        params = [params] if isinstance(params, Tensor) else _ordered(params, f"{owner}: params")
        taken = {id(p): (g, k) for g, group in enumerate(self.param_groups)
                 for k, p in enumerate(group["params"])}
        for k, p in enumerate(params):
            if not isinstance(p, Parameter):
                raise TypeError(f"{owner}: parameter {k} is a {type(p).__name__}, not a "
                                f"tg.nn.Parameter: optimizers update Parameters in place (a "
                                f"module's weights are Parameters: pass model.parameters())")
            if p.dtype.kind != "f":
                raise TypeError(f"{owner}: parameter {k} has dtype {p.dtype}; only "
                                f"floating-point parameters can be optimized")
            if id(p) in taken:
                g, j = taken[id(p)]
                raise ValueError(f"{owner}: parameter {k} (shape {p.shape}) is listed twice "
                                 f"(also as parameter {j} of param group {g}); list each "
                                 f"parameter once")
            taken[id(p)] = (len(self.param_groups), k)
        extra = {key: value for key, value in param_group.items()
                 if key != "params" and key not in self.defaults}
        _check_extra(extra, owner)
        hyper = self._checked({key: param_group.get(key, default)
                               for key, default in self.defaults.items()}, owner)
        self.param_groups.append({"params": params, **hyper, **copy.deepcopy(extra)})

    def _indexed(self):
        """(index, group number, group, parameter) of every parameter; the index is its key in
        ``state_dict()``."""
        index = 0
        for g, group in enumerate(self.param_groups):
            for p in group["params"]:
                yield index, g, group, p
                index += 1

    # ------------------------------------------------------------ stepping
    def zero_grad(self):
        """Forget every parameter's gradient (sets it to None, as PyTorch does by default)."""
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    def step(self, closure=None):
        """Update every parameter that has a gradient (a ``grad`` of None is skipped).

        Every gradient and state buffer is checked against its parameter first: a wrong shape,
        dtype or device raises an error that names the parameter's index (its key in
        ``state_dict()``) and no parameter is changed. ``closure``, if given, re-evaluates the
        model and returns the loss (it runs with grad enabled); ``step`` returns that loss.
        """
        loss = None
        if closure is not None:
            with autograd.enable_grad():
                loss = closure()
        work = [(group, p, self._checked_grad(index, g, p))
                for index, g, group, p in self._indexed() if p.grad is not None]
        for group, p, grad in work:
            device = backend.get_device(p.device)
            with device.activate():  # new buffers go to the parameter's GPU
                self._update(p.data, grad, self.state.setdefault(p, {}), group, device.xp)
        return loss

    def _checked_grad(self, index, g, p):
        """The raw gradient array of ``p`` once it and ``p``'s state fit ``p``."""
        where = f"{type(self).__name__}.step: parameter {index}" + (
            f" (param group {g})" if len(self.param_groups) > 1 else "")
        after = "; nothing was updated"
        grad = p.grad
        if not isinstance(grad, Tensor):
            raise TypeError(f"{where}: .grad is a {type(grad).__name__}, not a Tensor{after}")
        if grad.device != p.device:
            raise RuntimeError(f"{where}: the gradient is on {grad.device!r} but the parameter "
                               f"on {p.device!r}{after}")
        if grad.shape != p.shape:
            raise ValueError(f"{where}: the gradient has shape {grad.shape} but the parameter "
                             f"{p.shape}{after}")
        if grad.dtype != p.dtype:
            raise TypeError(f"{where}: the gradient is {grad.dtype} but the parameter "
                            f"{p.dtype}{after}")
        for name, buffer in self.state.get(p, {}).items():
            if name == "step":
                continue
            device = backend.device_of_array(buffer)
            if tuple(buffer.shape) != p.shape or buffer.dtype != p.dtype or device != p.device:
                raise RuntimeError(
                    f"{where}: state {name!r} is {buffer.dtype} {tuple(buffer.shape)} on "
                    f"{device!r} but the parameter is {p.dtype} {p.shape} on {p.device!r}: was "
                    f"the model moved or cast after the optimizer stepped? Move it first, or "
                    f"load this optimizer's state_dict() into a new one{after}")
        return grad.data

    def _checked(self, hyper, owner):
        raise NotImplementedError(f"{type(self).__name__} does not check its hyperparameters")

    def _state_names(self, group):
        raise NotImplementedError(f"{type(self).__name__} does not name its state")

    def _update(self, param, grad, state, group, xp):
        raise NotImplementedError(f"{type(self).__name__} has no update rule")

    # ------------------------------------------------------------ state dict
    def state_dict(self):
        """A snapshot: ``{"state": {"0": {"step": 3, "exp_avg": Tensor, ...}, ...},
        "param_groups": [{"lr": 0.001, ..., "params": [0, 1, ...]}, ...]}``.

        Parameters are numbered across the groups in order, as PyTorch does; unlike PyTorch,
        the keys of ``"state"`` are those numbers as strings (checkpoints have string keys) and
        the buffers are copies, not the live ones, so training on does not change a saved dict.
        Parameters that have not stepped have no entry. Everything is plain data and Tensors,
        so ``tg.save`` writes it as is.

        >>> import tinygrad_seq as tg
        >>> w = tg.nn.Parameter(tg.ones(2))
        >>> opt = tg.optim.Adam([w])
        >>> w.grad = tg.ones(2); opt.step()
        >>> sd = opt.state_dict()
        >>> sorted(sd["state"]["0"]), sd["param_groups"][0]["params"]
        (['exp_avg', 'exp_avg_sq', 'step'], [0])
        """
        index_of = {}
        groups = []
        for group in self.param_groups:
            saved = {key: copy.deepcopy(value) for key, value in group.items() if key != "params"}
            saved["params"] = [index_of.setdefault(id(p), len(index_of)) for p in group["params"]]
            groups.append(saved)
        state = {}
        for index, _, _, p in self._indexed():
            entry = self.state.get(p)
            if entry:
                state[str(index)] = {name: value if name == "step" else _snapshot(value, p.device)
                                     for name, value in entry.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore a ``state_dict()`` of an optimizer of the same kind, over parameters of the
        same shapes in the same groups and order. Hyperparameters (``lr`` included) come from
        the dict, as in PyTorch.

        Everything is checked first (the number of groups and of parameters in each, the
        hyperparameters, the names and shapes of the state) and the error names what was
        wrong; nothing is changed when anything is. Buffers are copied onto each parameter's
        device and dtype; ``"state"`` keys may be strings or ints and ``step`` a number or a
        one-element tensor of any library, so ``torch.optim``'s own state dict loads as it is.
        """
        groups, state = self._read_state_dict(state_dict)
        for group, loaded in zip(self.param_groups, groups):
            params = group["params"]
            group.clear()  # the same dicts, so whoever holds a group sees the loaded values
            group.update({"params": params, **loaded})
        self.state = state

    def _read_state_dict(self, state_dict):
        """The loaded groups (without params) and state, or a ValueError naming every problem."""
        owner = f"{type(self).__name__}.load_state_dict"
        fail = "; nothing was loaded"
        if not isinstance(state_dict, dict):
            raise TypeError(f"{owner}: expected a dict with 'state' and 'param_groups', got "
                            f"{type(state_dict).__name__}")
        keys = sorted(map(str, state_dict))
        if keys != ["param_groups", "state"]:
            raise ValueError(f"{owner}: expected the keys 'state' and 'param_groups', got "
                             f"{keys}{fail}")
        saved_groups = state_dict["param_groups"]
        if not isinstance(saved_groups, (list, tuple)):
            raise ValueError(f"{owner}: 'param_groups' must be a list, got "
                             f"{type(saved_groups).__name__}{fail}")
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{owner}: the state dict has {len(saved_groups)} param groups, the "
                             f"optimizer {len(self.param_groups)}{fail}")
        problems, groups, params_of = [], [], {}
        for g, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            loaded = self._read_group(g, saved, group, params_of, problems)
            groups.append(loaded)
        if problems:
            raise ValueError(f"{owner}: " + "; ".join(problems) + fail)
        saved_state = state_dict["state"]
        if not isinstance(saved_state, dict):
            raise ValueError(f"{owner}: 'state' must be a dict, got "
                             f"{type(saved_state).__name__}{fail}")
        state = {}
        for key, entry in saved_state.items():
            index = _as_index(key)
            if index not in params_of:
                problems.append(f"state key {key!r} is not the index of a parameter (0 to "
                                f"{len(params_of) - 1})")
                continue
            p, g = params_of[index]
            if p in state:
                problems.append(f"parameter {index} has two state entries")
                continue
            loaded = self._read_entry(index, entry, p, groups[g], problems)
            if loaded:
                state[p] = loaded
        if problems:
            raise ValueError(f"{owner}: " + "; ".join(problems) + fail)
        return groups, state

    def _read_group(self, g, saved, group, params_of, problems):
        where = f"param group {g}"
        if not isinstance(saved, dict):
            problems.append(f"{where} is a {type(saved).__name__}, not a dict")
            return None
        indices = saved.get("params")
        if not isinstance(indices, (list, tuple)) or not all(
                isinstance(i, numbers.Integral) and not isinstance(i, bool) for i in indices):
            problems.append(f"{where}: 'params' must be a list of parameter indices, got "
                            f"{indices!r}")
            return None
        if len(indices) != len(group["params"]):
            problems.append(f"{where} has {len(indices)} parameters in the state dict, "
                            f"{len(group['params'])} in the optimizer")
            return None
        for i, p in zip(map(int, indices), group["params"]):
            if i in params_of:
                problems.append(f"{where}: parameter index {i} appears twice")
            params_of[i] = (p, g)
        missing = [key for key in self.defaults if key not in saved]
        if missing:
            problems.append(f"{where}: missing hyperparameters {missing}")
            return None
        extra = {key: value for key, value in saved.items()
                 if key != "params" and key not in self.defaults}
        if extra.get("maximize"):  # kept as an extra entry, it would silently change nothing
            problems.append(f"{where}: maximize=True (a PyTorch option) is not implemented here; "
                            f"training on would minimise what it maximised")
            return None
        try:
            _check_extra(extra, where)
            hyper = self._checked({key: saved[key] for key in self.defaults}, where)
        except (TypeError, ValueError) as e:
            problems.append(str(e))
            return None
        return {**hyper, **copy.deepcopy(extra)}

    def _read_entry(self, index, entry, p, group, problems):
        """The state of parameter ``index`` as the optimizer keeps it (copies on p's device)."""
        where = f"state of parameter {index}"
        if not isinstance(entry, dict):
            problems.append(f"{where} is a {type(entry).__name__}, not a dict")
            return None
        if not entry:
            return None
        missing = [name for name in self._state_names(group) if name not in entry]
        unknown = [name for name in entry if name not in self.STATE_NAMES]
        if missing or unknown:
            problems.append(f"{where}: " + ", ".join(
                ([f"missing {missing}"] if missing else [])
                + ([f"unknown {unknown} (expected names from {list(self.STATE_NAMES)})"]
                   if unknown else [])))
            return None
        loaded = {}
        for name, value in entry.items():
            try:
                if name == "step":
                    loaded[name] = count(where, name, value)
                    continue
                if not hasattr(value, "shape"):
                    raise TypeError(f"{where}: {name!r} must be a tensor or an array, got "
                                    f"{type(value).__name__}")
                array = Tensor(value, dtype=p.dtype, device=p.device).data  # a copy of our own
            except (TypeError, ValueError, RuntimeError) as e:
                problems.append(str(e) if str(e).startswith(where) else f"{where}: {name!r}: {e}")
                continue
            if tuple(array.shape) != p.shape:
                problems.append(f"{where}: {name!r} has shape {tuple(array.shape)}, the "
                                f"parameter {p.shape}")
                continue
            loaded[name] = array
        return loaded


def _ordered(values, where):
    """``values`` as a list; a set (whose order changes between runs) is refused."""
    if isinstance(values, (set, frozenset)):
        raise TypeError(f"{where}: a set has no stable order, so a state dict could not name "
                        f"its parameters; pass a list")
    try:
        return list(values)
    except TypeError:
        raise TypeError(f"{where}: expected an iterable, got {type(values).__name__}") from None


def _check_extra(extra, where):
    """Keys a group carries beyond the hyperparameters must be plain data, so that a state dict
    stays savable."""
    for key, value in extra.items():
        if not isinstance(key, str) or not plain(value):
            raise TypeError(f"{where}: the param group's entry {key!r} is a "
                            f"{type(value).__name__}; extra entries must have str keys and hold "
                            f"numbers, bools, None, str or lists of them")


def _snapshot(array, device):
    with backend.get_device(device).activate():  # CuPy copies onto the current device
        return Tensor._make(array.copy(), device, None, 0)


def _as_index(key):
    """A state key (``3`` or ``"3"``) as an int, or None."""
    if isinstance(key, int) and not isinstance(key, bool):
        return key
    if isinstance(key, str) and key.isdigit():
        return int(key)
    return None


def buffer(state, name, param, xp, fill=0.0):
    """The state buffer ``name``, made (filled with ``fill``, shaped as ``param``) on first use,
    so an option switched on between steps (``amsgrad``, ``momentum``) starts from scratch."""
    array = state.get(name)
    if array is None:
        array = state[name] = xp.full_like(param, fill)
    return array
