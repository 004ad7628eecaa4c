"""Initial weights from a file (``--init-from``) and to a file (``--save-init``), so that a run
and its PyTorch twin can start from the same draw.

The file is a safetensors file of one tensor per parameter under the parameter's PyTorch name
(``rnn.weight_ih_l0``, ``head.bias``...), in PyTorch's layout, which tg's layers share:
``safetensors.torch.save_file(torch_model.state_dict(), path)`` writes one, and so does
``--save-init`` (``tg.save(model.state_dict(), path)``, which torch's ``load_file`` reads).

The file is data from a stranger: before anything is copied into the model, its names must be
exactly the model's (none missing, none extra), each tensor's shape and dtype exactly its
parameter's (no silent casts: a float64 file for a float32 model is refused, not rounded), every
value finite, and the names of one tied parameter must hold equal values. Any problem is a
UsageError naming the file and every problem found, and the model is left untouched.

>>> import os, tempfile
>>> import tinygrad_seq as tg
>>> tg.manual_seed(0); a = tg.nn.Linear(3, 2)
>>> tg.manual_seed(1); b = tg.nn.Linear(3, 2)
>>> with tempfile.TemporaryDirectory() as folder:
...     path = os.path.join(folder, "init.safetensors")
...     save_initial(a, path)
...     load_initial(b, path)
>>> bool((a.weight.numpy() == b.weight.numpy()).all())
True
"""
import os
from collections import OrderedDict

import numpy as np
import tinygrad_seq as tg

from .errors import UsageError


def save_initial(model, path):
    """Write ``model``'s weights to ``path`` (safetensors, PyTorch's names), atomically."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tg.save(OrderedDict((name, tensor) for name, tensor in model.state_dict().items()), path)


def load_initial(model, path):
    """Copy the weights in ``path`` into ``model`` after checking them against it (see the
    module's docstring); on any problem raise a UsageError and leave the model as it was."""
    weights = read_initial(path)
    own = OrderedDict(model.named_parameters(remove_duplicate=False))
    problems = _problems(weights, own)
    if problems:
        raise UsageError(f"--init-from {path}: these are not initial weights of this model "
                         f"({type(model).__name__}); nothing was loaded: " + "; ".join(problems))
    model.load_state_dict({name: weights[name] for name in own})


def read_initial(path):
    """The tensors in ``path`` by name, as NumPy arrays; a UsageError when the file is missing,
    damaged, or not a flat set of named tensors."""
    if not os.path.isfile(path):
        raise UsageError(f"--init-from {path}: no such file")
    try:
        loaded = tg.load(path)
    except tg.serialization.CheckpointError as e:
        raise UsageError(f"--init-from {path}: not a readable safetensors file ({e})") from None
    if not isinstance(loaded, dict):
        raise UsageError(f"--init-from {path}: holds a {type(loaded).__name__}, not a set of "
                         f"tensors named by parameter")
    flat = [name for name, value in loaded.items() if not isinstance(value, (tg.Tensor, np.ndarray))]
    if flat:
        raise UsageError(f"--init-from {path}: entries {', '.join(map(repr, flat[:5]))} are not "
                         f"tensors (a training checkpoint is not a file of initial weights; "
                         f"write one with --save-init)")
    return OrderedDict((name, value.numpy() if isinstance(value, tg.Tensor) else value)
                       for name, value in loaded.items())


def _problems(weights, own):
    missing = [name for name in own if name not in weights]
    extra = [name for name in weights if name not in own]
    problems = []
    if missing:
        problems.append("missing " + ", ".join(missing))
    if extra:
        problems.append("not in the model " + ", ".join(map(str, extra)))
    for name, parameter in own.items():
        if name not in weights:
            continue
        value = weights[name]
        if tuple(value.shape) != tuple(parameter.shape):
            problems.append(f"{name} has shape {tuple(value.shape)}, the model "
                            f"{tuple(parameter.shape)}")
        elif np.dtype(value.dtype) != np.dtype(parameter.dtype):
            problems.append(f"{name} is {np.dtype(value.dtype)}, the model {np.dtype(parameter.dtype)}")
        elif not np.isfinite(value).all():
            problems.append(f"{name} holds NaN or infinite values")
    problems += _tied_disagreements(weights, own)
    return problems


def _tied_disagreements(weights, own):
    """A parameter shared under two names gets one value: the file must give it the same one."""
    names_of = OrderedDict()
    for name, parameter in own.items():
        names_of.setdefault(id(parameter), []).append(name)
    problems = []
    for names in names_of.values():
        present = [name for name in names if name in weights]
        first = present[0] if present else None
        for other in present[1:]:
            same_shape = weights[first].shape == weights[other].shape
            if not same_shape or not np.array_equal(weights[first], weights[other]):
                problems.append(f"{first} and {other} are one tied parameter but differ in the file")
    return problems
