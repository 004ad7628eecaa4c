"""Initial weights of a PyTorch twin from and to a file: ``--init-from FILE`` and ``--save-init
FILE``, the same options and file as the tg side's (tinygrad_seq/train/initial.py), so that either
engine can start from the other's draw.

The file is safetensors, one tensor per parameter under its ``state_dict`` name. It is checked
as a stranger's before anything is copied: the names exactly the model's, each shape and dtype
exactly its tensor's, every value finite. A problem raises ValueError naming the file and every
problem found, and leaves the model untouched.

    python benchmarks/charlm_torch.py --steps 0 --save-init torch-init.safetensors
    python -m models.charlm train --init-from torch-init.safetensors ...
"""
import os

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file


def add_options(parser):
    parser.add_argument("--init-from", default=None, metavar="FILE",
                        help="start from these initial weights (safetensors, e.g. the tg run's "
                             "--save-init) instead of --seed's draw")
    parser.add_argument("--save-init", default=None, metavar="FILE",
                        help="write the initial weights (safetensors) before the first step")


def apply_options(model, args):
    """``--init-from`` then ``--save-init`` on a freshly built model."""
    if args.init_from:
        load_initial(model, args.init_from)
    if args.save_init:
        save_initial(model, args.save_init)


def save_initial(model, path):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    save_file({name: tensor.detach().contiguous() for name, tensor in model.state_dict().items()},
              path)


def load_initial(model, path):
    if not os.path.isfile(path):
        raise ValueError(f"--init-from {path}: no such file")
    try:
        weights = load_file(path)
    except (SafetensorError, OSError, ValueError) as e:
        raise ValueError(f"--init-from {path}: not a readable safetensors file ({e})") from None
    own = model.state_dict()
    problems = []
    missing = [name for name in own if name not in weights]
    extra = [name for name in weights if name not in own]
    if missing:
        problems.append("missing " + ", ".join(missing))
    if extra:
        problems.append("not in the model " + ", ".join(extra))
    for name, tensor in own.items():
        value = weights.get(name)
        if value is None:
            continue
        if tuple(value.shape) != tuple(tensor.shape):
            problems.append(f"{name} has shape {tuple(value.shape)}, the model {tuple(tensor.shape)}")
        elif value.dtype != tensor.dtype:
            problems.append(f"{name} is {value.dtype}, the model {tensor.dtype}")
        elif value.is_floating_point() and not torch.isfinite(value).all():
            problems.append(f"{name} holds NaN or infinite values")
    if problems:
        raise ValueError(f"--init-from {path}: these are not initial weights of this model "
                         f"({type(model).__name__}); nothing was loaded: " + "; ".join(problems))
    model.load_state_dict(weights, strict=True)
