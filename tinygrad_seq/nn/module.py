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
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "training", True)

    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}: call super().__init__() before assigning "
                               f"attributes")
        if name in self._buffers and not isinstance(value, (Parameter, Module)):
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"{type(self).__name__}: buffer {name!r} can only be set to a "
                                f"Tensor or None, got {type(value).__name__}")
            self._buffers[name] = value
            object.__setattr__(self, name, value)
            return
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        self._forget_buffer(name)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        self._forget_buffer(name)
        object.__delattr__(self, name)

    def _forget_buffer(self, name):
        self._buffers.pop(name, None)
        self._non_persistent.discard(name)

    def register_buffer(self, name, tensor, persistent=True):
        """Keep ``tensor`` as state that is not a parameter (a running mean, a fixed mask): an
        attribute that ``.to()`` moves and casts with the parameters, and that ``state_dict()``
        holds when ``persistent`` (as PyTorch's). ``None`` reserves the name.

        >>> import tinygrad_seq as tg
        >>> m = tg.nn.Linear(2, 2)
        >>> m.register_buffer("steps", tg.zeros(1))
        >>> list(m.state_dict()), [n for n, _ in m.named_parameters()]
        (['weight', 'bias', 'steps'], ['weight', 'bias'])
        """
        owner = type(self).__name__
        if "_buffers" not in self.__dict__:
            raise RuntimeError(f"{owner}: call super().__init__() before register_buffer")
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"{owner}.register_buffer: the name must be a non-empty string "
                           f"without '.', got {name!r}")
        if isinstance(tensor, Parameter):
            raise TypeError(f"{owner}.register_buffer: {name!r} is a Parameter; assign it as an "
                            f"attribute to register a parameter")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"{owner}.register_buffer: {name!r} must be a Tensor or None, got "
                            f"{type(tensor).__name__}")
        if name not in self._buffers and (hasattr(self, name) or name in self._parameters
                                          or name in self._modules):
            raise KeyError(f"{owner}.register_buffer: attribute {name!r} already exists")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent.discard(name)
        else:
            self._non_persistent.add(name)
        object.__setattr__(self, name, tensor)

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

    def named_buffers(self, prefix="", remove_duplicate=True):
        """Every buffer (``register_buffer``) of this module and those below it, with its
        dotted name; None entries are skipped."""
        seen = set()
        for module_name, module in self.named_modules(prefix, remove_duplicate):
            for name, b in module._buffers.items():
                if b is not None and (not remove_duplicate or id(b) not in seen):
                    seen.add(id(b))
                    yield (f"{module_name}.{name}" if module_name else name), b

    def buffers(self):
        return (b for _, b in self.named_buffers())

    def apply(self, fn):
        """Call ``fn(module)`` on every module below this one, children before their parent,
        then on this one; returns self (PyTorch's ``apply``, e.g. for a custom initialisation).

        >>> import tinygrad_seq as tg
        >>> net = tg.nn.Sequential(tg.nn.Linear(2, 3), tg.nn.Tanh())
        >>> seen = []
        >>> net.apply(lambda m: seen.append(type(m).__name__)) is net, seen
        (True, ['Linear', 'Tanh', 'Sequential'])
        """
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

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
    @property
    def device(self):
        """The device of this module's parameters and buffers (``"cpu"`` for a module with
        none), what PyTorch users read as ``next(model.parameters()).device``: code that makes
        a model's inputs asks the model where they go. Read-only: ``.to(device)`` moves a
        module. A module whose tensors lie on two devices raises an error naming both.

        >>> import tinygrad_seq as tg
        >>> tg.nn.Linear(2, 3).device, tg.nn.Tanh().device
        ('cpu', 'cpu')
        """
        first = {}  # device -> the first tensor found on it
        for name, tensor in (*self.named_parameters(), *self.named_buffers()):
            first.setdefault(tensor.device, name)
            if len(first) > 1:
                (one, a), (other, b) = first.items()
                raise RuntimeError(f"{type(self).__name__} has tensors on two devices: {a!r} on "
                                   f"{one} and {b!r} on {other}; move the whole module with "
                                   f".to(device)")
        return next(iter(first), "cpu")

    @device.setter
    def device(self, value):
        raise AttributeError(f"{type(self).__name__}.device is read-only (the device of its "
                             f"parameters): move the module with .to({value!r})")

    def to(self, device=None, dtype=None):
        """Move and/or cast every parameter and buffer in place (floating-point ones only for
        ``dtype``); returns self. Gradients follow their parameters."""
        if dtype is not None and backend.canonical_dtype(dtype).kind != "f":
            raise TypeError(f"Module.to: dtype must be a floating-point dtype, got {dtype}")
        params = list(self.parameters()) + list(self.buffers())
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
        """Name -> tensor for every parameter and persistent buffer, module by module (its
        parameters, then its buffers), a tied one under each of its names (as PyTorch). The
        tensors share the parameters' arrays (as in PyTorch): save or copy them before training
        on if you need a snapshot."""
        return OrderedDict((name, t.detach()) for name, t in self._state())

    def _state(self):
        """(name, tensor) of every parameter and persistent buffer, in state_dict's order."""
        for prefix, module in self.named_modules(remove_duplicate=False):
            dot = f"{prefix}." if prefix else ""
            for name, p in module._parameters.items():
                yield dot + name, p
            for name, b in module._buffers.items():
                if b is not None and name not in module._non_persistent:
                    yield dot + name, b

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
        own = OrderedDict(self._state())
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
