"""Module and Parameter: the containers that hold a model's weights and its sub-models."""
from collections import OrderedDict
from collections.abc import Mapping

from .. import backend
from ..tensor import Tensor


class Parameter(Tensor):
    """A leaf tensor that a Module registers as a weight (``requires_grad`` by default).

    Parameters are the one kind of tensor whose data is replaced in place: by optimizers,
    ``Module.to`` and ``load_state_dict``, so every holder of the object sees the new values.

    >>> import tinygrad_seq as tg
    >>> w = tg.nn.Parameter(tg.zeros(2, 3))
    >>> w.shape, w.requires_grad
    ((2, 3), True)
    """

    __slots__ = ()

    def __init__(self, data, requires_grad=True):
        if isinstance(data, Tensor):
            super().__init__(data.data, dtype=data.dtype, device=data.device)
        else:
            super().__init__(data)
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


class Module:
    """Base class of layers and models: assign Parameters and Modules as attributes.

    >>> import tinygrad_seq as tg
    >>> class Affine(tg.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.scale = tg.nn.Parameter(tg.ones(3))
    ...     def forward(self, x):
    ...         return x * self.scale
    >>> [name for name, _ in Affine().named_parameters()]
    ['scale']
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}: call super().__init__() before assigning "
                               f"attributes")
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        object.__delattr__(self, name)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ------------------------------------------------------------ traversal
    def named_children(self):
        return iter(self._modules.items())

    def children(self):
        return iter(self._modules.values())

    def named_modules(self, prefix="", remove_duplicate=True):
        """This module and every module below it with its dotted name: each once, or, with
        ``remove_duplicate=False``, a shared one under every name it has."""
        seen = set()
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if remove_duplicate:
                if id(module) in seen:
                    continue
                seen.add(id(module))
            yield name, module
            children = [(f"{name}.{k}" if name else k, m) for k, m in module._modules.items()]
            stack.extend(reversed(children))

    def modules(self):
        return (m for _, m in self.named_modules())

    def named_parameters(self, prefix="", remove_duplicate=True):
        """Every parameter in registration order: once (a shared one under its first name), or,
        with ``remove_duplicate=False``, under every name (tied weights, as a state dict has them)."""
        seen = set()
        for module_name, module in self.named_modules(prefix, remove_duplicate):
            for name, p in module._parameters.items():
                if not remove_duplicate or id(p) not in seen:
                    seen.add(id(p))
                    yield (f"{module_name}.{name}" if module_name else name), p

    def parameters(self):
        return (p for _, p in self.named_parameters())

    def zero_grad(self):
        """Forget the gradients of every parameter (the next backward starts from nothing)."""
        for p in self.parameters():
            p.grad = None

    # ------------------------------------------------------------ mode
    def train(self, mode=True):
        """Set train mode (dropout drops) on this module and every module below it; returns
        self. Each module has its own ``training`` flag, as in PyTorch: ``teacher.eval()`` leaves
        a student beside it in train mode, and an encoder can stay in eval mode while the
        decoder trains. (A dropout that cannot be switched off at prediction time, the flaw of
        TensorFlow's old DropoutWrapper, is what ``eval()`` answers.)"""
        if not isinstance(mode, bool):
            raise TypeError(f"{type(self).__name__}.train: mode must be True or False, "
                            f"got {mode!r}")
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self):
        """Evaluation mode for this module and every module below it (dropout is the
        identity); returns self."""
        return self.train(False)

    # ------------------------------------------------------------ devices and dtypes
    def to(self, device=None, dtype=None):
        """Move and/or cast every parameter in place (floating-point ones only for ``dtype``);
        returns self. Gradients follow their parameters."""
        if dtype is not None and backend.canonical_dtype(dtype).kind != "f":
            raise TypeError(f"Module.to: dtype must be a floating-point dtype, got {dtype}")
        params = list(self.parameters())
        # convert everything first, so a failure (no GPU, say) leaves the model as it was
        converted = [(_converted(p, device, dtype),
                      None if p.grad is None else _converted(p.grad, device, dtype)) for p in params]
        for p, ((data, dev), grad) in zip(params, converted):
            p.data, p.device = data, dev
            p.grad = None if grad is None else Tensor._make(*grad, None, 0)
        return self

    def cpu(self):
        return self.to("cpu")

    def cuda(self, index=0):
        return self.to(f"cuda:{index}")

    def double(self):
        return self.to(dtype=backend.float64)

    def float(self):
        return self.to(dtype=backend.float32)

    # ------------------------------------------------------------ state
    def state_dict(self):
        """Name -> tensor for every parameter, a tied one under each of its names (as PyTorch).
        The tensors share the parameters' arrays (as in PyTorch): save or copy them before
        training on if you need a snapshot."""
        return OrderedDict((name, p.detach())
                           for name, p in self.named_parameters(remove_duplicate=False))

    def load_state_dict(self, state_dict, strict=True):
        """Copy values (tensors or arrays, e.g. a converted PyTorch ``state_dict``) into the
        parameters. Every problem (missing, unexpected, wrong-shaped entries) is reported by name
        in one error and nothing is loaded when there is any. With ``strict=False`` missing and
        unexpected names are allowed (returned), wrong shapes never are.

        Returns ``(missing, unexpected)`` name lists."""
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"load_state_dict into {type(self).__name__}: state_dict must be a "
                            f"mapping from parameter names to tensors or arrays (as "
                            f"state_dict() or tg.load gives), got {type(state_dict).__name__}")
        own = OrderedDict(self.named_parameters(remove_duplicate=False))
        missing = [name for name in own if name not in state_dict]
        unexpected = [name for name in state_dict if name not in own]
        problems = []
        if strict and missing:
            problems.append(f"missing: {', '.join(missing)}")
        if strict and unexpected:
            problems.append(f"unexpected: {', '.join(map(str, unexpected))}")
        arrays = {}
        for name, p in own.items():
            if name not in state_dict:
                continue
            value = state_dict[name]
            try:
                array = Tensor(value, dtype=p.dtype, device=p.device).data
            except (TypeError, ValueError) as e:
                problems.append(f"{name}: cannot read the value ({e})")
                continue
            if tuple(array.shape) != p.shape:
                problems.append(f"{name}: shape {tuple(array.shape)} in the state dict, "
                                f"{p.shape} in the model")
            arrays[name] = array
        if problems:
            raise ValueError(f"load_state_dict into {type(self).__name__}: nothing was loaded; "
                             + "; ".join(problems))
        for name, array in arrays.items():
            own[name].data = array
        return missing, unexpected

    # ------------------------------------------------------------ printing
    def extra_repr(self):
        """The constructor arguments shown in ``repr`` (override in layers)."""
        return ""

    def __repr__(self):
        lines = [f"({name}): " + repr(m).replace("\n", "\n  ") for name, m in self._modules.items()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"


def _converted(t, device, dtype):
    """(array, device) of ``t`` moved to ``device`` and, if floating, cast to ``dtype``."""
    out = t.detach()
    if dtype is not None and out.dtype.kind == "f":
        out = out.to(dtype=dtype)
    if device is not None:
        out = out.to(device=device)
    return out.data, out.device


class ModuleList(Module):
    """A list of modules, registered so their parameters are found (``layers.0.weight``).

    >>> import tinygrad_seq as tg
    >>> layers = tg.nn.ModuleList([tg.nn.Linear(2, 2) for _ in range(3)])
    >>> len(layers), [name for name, _ in layers.named_parameters()][:2]
    (3, ['0.weight', '0.bias'])
    """

    def __init__(self, modules=()):
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, module):
        if not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__}: item {len(self._modules)} is a "
                            f"{type(module).__name__}, not a Module")
        setattr(self, str(len(self._modules)), module)
        return self

    def __len__(self):
        return len(self._modules)

    def __getitem__(self, k):
        return list(self._modules.values())[k]

    def __iter__(self):
        return iter(self._modules.values())


class Sequential(ModuleList):
    """Modules applied one after the other.

    >>> import tinygrad_seq as tg
    >>> net = tg.nn.Sequential(tg.nn.Linear(4, 8), tg.nn.Tanh(), tg.nn.Linear(8, 2))
    >>> net(tg.randn(3, 4)).shape
    (3, 2)
    """

    def __init__(self, *modules):
        super().__init__(modules)

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x
